/*
 * Classification losses (dtype template, see fl_kernels_impl.h): binary and categorical
 * cross-entropies, on probabilities and on logits.
 */

/*
 * binary cross-entropy on probabilities, param[0] = eps, param[1] = label smoothing:
 *   t' = t (1 - s) + s / 2,  q = clip(p, eps, 1 - eps)
 *   loss = -(t' log q + (1 - t') log(1 - q)),  d/dp = (q - t') / (q (1 - q)) inside the clip,
 *   0 outside it (the clip is part of the function).
 */
FL_INLINE FL_T FL_FN(bce_prob_elem)(FL_T t, FL_T p, const fl_args *a, FL_T *g)
{
    const FL_T eps = (FL_T)a->param[0];
    const FL_T s = (FL_T)a->param[1];
    const FL_T ts = t + s * ((FL_T)0.5 - t);
    const FL_T q = FL_FN(clip)(p, eps, (FL_T)1 - eps);
    const int inside = p >= eps && p <= (FL_T)1 - eps;
    const FL_T dq = (q - ts) / (q * ((FL_T)1 - q));
    *g = inside ? dq : (p == p ? (FL_T)0 : p);
    return -(ts * FL_LOG(q) + ((FL_T)1 - ts) * FL_LOG1P(-q));
}

/*
 * binary cross-entropy on logits z, param[1] = label smoothing:
 *   loss = t' softplus(-z) + (1 - t') softplus(z),   d/dz = sigmoid(z) - t'
 * with softplus(x) = max(x, 0) + log1p(exp(-|x|)), one exp and one log1p per element, and
 * the zero-coefficient term dropped so that t' = 1, z = +inf gives 0, not 0 * inf.
 */
FL_INLINE FL_T FL_FN(bce_logit_elem)(FL_T t, FL_T z, const fl_args *a, FL_T *g)
{
    const FL_T s = (FL_T)a->param[1];
    const FL_T ts = t + s * ((FL_T)0.5 - t);
    const FL_T e = FL_EXP(-FL_FABS(z));          /* in (0, 1], NaN for NaN */
    /* log1p(e) = log(u) + (e - (u - 1)) / u with u = 1 + e, and sigmoid needs 1 / u too:
     * one division serves both */
    const FL_T u = (FL_T)1 + e;
    const FL_T r = (FL_T)1 / u;
    const FL_T l1 = FL_LOG(u) + (e - (u - (FL_T)1)) * r;
    const FL_T sp_pos = (z > 0 ? z : (FL_T)0) + l1;   /* softplus(z)  */
    const FL_T sp_neg = (z < 0 ? -z : (FL_T)0) + l1;  /* softplus(-z) */
    const FL_T sig = z >= 0 ? r : e * r;
    *g = (z == z ? sig : z) - ts;
    return (ts != 0 ? ts * sp_neg : (FL_T)0) + (ts != 1 ? ((FL_T)1 - ts) * sp_pos : (FL_T)0);
}

/*
 * categorical cross-entropy on probabilities, one class element; the per-sample loss is the
 * sum over the class axis.  param[0] = eps, param[1] = label smoothing, a->k = n_classes:
 *   t' = t (1 - s) + s / K,  loss = -t' log clip(p),  d/dp = -t' / p inside the clip, else 0.
 */
FL_INLINE FL_T FL_FN(cce_prob_elem)(FL_T t, FL_T p, const fl_args *a, FL_T *g)
{
    const FL_T eps = (FL_T)a->param[0];
    const FL_T s = (FL_T)a->param[1];
    const FL_T ts = t * ((FL_T)1 - s) + s / (FL_T)a->k;
    const FL_T q = FL_FN(clip)(p, eps, (FL_T)1 - eps);
    const int inside = p >= eps && p <= (FL_T)1 - eps;
    *g = inside ? -ts / q : (p == p ? (FL_T)0 : p);
    return -ts * FL_LOG(q);
}

FL_ELEMENTWISE_KERNEL(bce_prob, 1)
FL_ELEMENTWISE_KERNEL(bce_logit, 1)
FL_ELEMENTWISE_KERNEL(cce_prob, 0)

/* ------------------------------------------------------------------------------------------
 * Softmax cross-entropy rows (logits), targets as probability rows or as integer labels.
 * Passes over each row: max (and the target mass or the logit sum), exp (parked in the
 * gradient row), loss and gradient; no log-softmax array.
 *   t'_k = t_k (1 - s) + s / C        (sparse: t_k = [k == y])
 *   loss = sum_k t'_k (lse - z_k),    d/dz_k = T' softmax_k - t'_k,   T' = sum_k t'_k
 * ------------------------------------------------------------------------------------------ */

/* A row whose largest logit is +inf or whose logits are all -inf: the limit, scalar code. */
static double FL_FN(softmax_row_limit)(const FL_T *z, const FL_T *t, int64_t y, ptrdiff_t C,
                                       double smooth, FL_T *g, double gs, FL_T m)
{
    ptrdiff_t n_inf = 0;
    int has_nan = 0;
    for (ptrdiff_t k = 0; k < C; ++k) {
        n_inf += z[k] == (FL_T)INFINITY;
        has_nan |= z[k] != z[k];
    }
    if (m == (FL_T)-INFINITY || has_nan) {   /* all -inf: undefined */
        if (g) for (ptrdiff_t k = 0; k < C; ++k) g[k] = (FL_T)NAN;
        return NAN;
    }
    double tmass = 0.0;
    for (ptrdiff_t k = 0; k < C; ++k) {
        const double tk = t ? (double)t[k] : (double)(k == y);
        tmass += tk * (1.0 - smooth) + smooth / (double)C;
    }
    const double lse_minus_inf = log((double)n_inf);
    double loss = 0.0;
    for (ptrdiff_t k = 0; k < C; ++k) {
        const double tk = (t ? (double)t[k] : (double)(k == y)) * (1.0 - smooth) + smooth / (double)C;
        const int top = z[k] == (FL_T)INFINITY;
        if (tk != 0.0) loss += tk * (top ? lse_minus_inf : INFINITY);
        if (g) g[k] = (FL_T)(gs * (tmass * (top ? 1.0 / (double)n_inf : 0.0) - tk));
    }
    return loss;
}

/* exp in place over n contiguous elements: one flat run, so it vectorises whatever the row
 * length (a 10-class row is shorter than one AVX-512 vector) */
FL_INLINE void FL_FN(exp_inplace)(FL_T *restrict x, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; ++i) x[i] = FL_EXP(x[i]);
}

#ifndef FL_SOFTMAX_CHUNK
#define FL_SOFTMAX_CHUNK 2048   /* elements of a sub-block: stays in L1 */
#endif

/* sum_k exp(z_k - m) of one long row, without keeping the exponentials (value only) */
static double FL_FN(sum_exp_shifted)(const FL_T *restrict z, ptrdiff_t C, FL_T m)
{
    FL_T buf[FL_SOFTMAX_CHUNK];
    double s = 0.0;
    for (ptrdiff_t c0 = 0; c0 < C; c0 += FL_SOFTMAX_CHUNK) {
        const ptrdiff_t n = C - c0 < FL_SOFTMAX_CHUNK ? C - c0 : FL_SOFTMAX_CHUNK;
#pragma omp simd
        for (ptrdiff_t k = 0; k < n; ++k) buf[k] = z[c0 + k] - m;
        FL_FN(exp_inplace)(buf, n);
#pragma omp simd reduction(+:s)
        for (ptrdiff_t k = 0; k < n; ++k) s += (double)buf[k];
    }
    return s;
}

/*
 * Rows [r0, r1), taken in sub-blocks of about FL_SOFTMAX_CHUNK elements:
 *   1. per row: max logit, and the target mass (dense) or the logit sum (sparse with label
 *      smoothing); the shifted logits z - max go to the gradient rows (or to a scratch
 *      buffer for value-only calls);
 *   2. one flat exp over the whole sub-block (short rows would otherwise run their exps in
 *      the scalar remainder of every vector loop: 2x slower at 10 classes);
 *   3. per row: sum of exponentials, log-sum-exp, loss, gradient scaled in place.
 */
FL_INLINE double FL_FN(softmax_block)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1,
                                      const int sparse)
{
    const ptrdiff_t C = a->k;
    const FL_T *z0 = (const FL_T *)a->y_pred;
    const FL_T *t0 = sparse ? NULL : (const FL_T *)a->y_true;
    const int64_t *labels = sparse ? (const int64_t *)a->y_true : NULL;
    FL_T *g0 = (FL_T *)a->grad;
    FL_T *per = (FL_T *)a->per_sample;
    const double smooth = a->param[1];
    const FL_T keep = (FL_T)(1.0 - smooth);
    const FL_T off = (FL_T)(smooth / (double)C);
    const ptrdiff_t R = C >= FL_SOFTMAX_CHUNK ? 1 : FL_SOFTMAX_CHUNK / C;
    FL_T scratch[FL_SOFTMAX_CHUNK];
    FL_T row_max[FL_SOFTMAX_CHUNK];
    double row_side[FL_SOFTMAX_CHUNK];
    double acc = 0.0;

    for (ptrdiff_t i0 = r0; i0 < r1; i0 += R) {
        const ptrdiff_t i1 = i0 + R < r1 ? i0 + R : r1;
        FL_T *D = g0 ? g0 + i0 * C : (C <= FL_SOFTMAX_CHUNK ? scratch : NULL);

        /* 1. max, side sums, shifted logits */
        for (ptrdiff_t i = i0; i < i1; ++i) {
            const FL_T *restrict z = z0 + i * C;
            FL_T m = (FL_T)-INFINITY;
            double side = 0.0;
            if (sparse && smooth == 0.0) {
#pragma omp simd reduction(max:m)
                for (ptrdiff_t k = 0; k < C; ++k) m = z[k] > m ? z[k] : m;
            } else if (sparse) {
#pragma omp simd reduction(max:m) reduction(+:side)
                for (ptrdiff_t k = 0; k < C; ++k) {
                    m = z[k] > m ? z[k] : m;
                    side += (double)z[k];
                }
            } else {
                const FL_T *restrict t = t0 + i * C;
#pragma omp simd reduction(max:m) reduction(+:side)
                for (ptrdiff_t k = 0; k < C; ++k) {
                    m = z[k] > m ? z[k] : m;
                    side += (double)t[k];
                }
            }
            row_max[i - i0] = m;
            row_side[i - i0] = side;
            if (D) {
                FL_T *restrict d = D + (i - i0) * C;
                const FL_T mm = (m == (FL_T)INFINITY || m == (FL_T)-INFINITY) ? (FL_T)0 : m;
#pragma omp simd
                for (ptrdiff_t k = 0; k < C; ++k) d[k] = z[k] - mm;
            }
        }
        /* 2. exponentials */
        if (D) FL_FN(exp_inplace)(D, (i1 - i0) * C);

        /* 3. sums, losses, gradients */
        for (ptrdiff_t i = i0; i < i1; ++i) {
            const FL_T *restrict z = z0 + i * C;
            const FL_T *restrict t = t0 ? t0 + i * C : NULL;
            FL_T *restrict g = g0 ? g0 + i * C : NULL;
            const FL_T *restrict d = D ? D + (i - i0) * C : NULL;
            double wi = a->sample_weight ? a->sample_weight[i] : 1.0;
            int64_t y = -1;
            if (sparse) {
                y = labels[i];
                if (a->has_ignore && y == a->ignore_index) {
                    if (g) for (ptrdiff_t k = 0; k < C; ++k) g[k] = 0;
                    if (per) per[i] = 0;
                    continue;
                }
                if (a->class_weight) wi *= a->class_weight[y];
            }
            const double gs = a->scale * wi;
            const FL_T m = row_max[i - i0];
            const double side = row_side[i - i0];
            double row;
            if (m == (FL_T)INFINITY || m == (FL_T)-INFINITY) {
                row = FL_FN(softmax_row_limit)(z, t, y, C, smooth, g, gs, m);
            } else {
                double s = 0.0;
                if (d) {
#pragma omp simd reduction(+:s)
                    for (ptrdiff_t k = 0; k < C; ++k) s += (double)d[k];
                } else {
                    s = FL_FN(sum_exp_shifted)(z, C, m);
                }
                const double lse = (double)m + log(s);
                const double inv_s = 1.0 / s;
                if (sparse) {
                    row = smooth != 0.0
                        ? lse - (1.0 - smooth) * (double)z[y] - smooth / (double)C * side
                        : lse - (double)z[y];
                    if (g) {
                        const FL_T a1 = (FL_T)(gs * inv_s);
                        const FL_T b1 = (FL_T)gs * off;
#pragma omp simd
                        for (ptrdiff_t k = 0; k < C; ++k) g[k] = g[k] * a1 - b1;
                        g[y] -= (FL_T)gs * keep;
                    }
                } else {
                    const double tmass = side * (1.0 - smooth) + smooth;
                    const FL_T a1 = (FL_T)(gs * tmass * inv_s);
                    const FL_T gsT = (FL_T)gs;
                    double l = 0.0;
                    if (g) {
#pragma omp simd reduction(+:l)
                        for (ptrdiff_t k = 0; k < C; ++k) {
                            const FL_T tk = t[k] * keep + off;
                            l += tk != 0 ? (double)tk * (lse - (double)z[k]) : 0.0;
                            g[k] = g[k] * a1 - gsT * tk;
                        }
                    } else {
#pragma omp simd reduction(+:l)
                        for (ptrdiff_t k = 0; k < C; ++k) {
                            const FL_T tk = t[k] * keep + off;
                            l += tk != 0 ? (double)tk * (lse - (double)z[k]) : 0.0;
                        }
                    }
                    row = l;
                }
            }
            if (per) per[i] = (FL_T)(row * wi);
            acc += row * wi;
        }
    }
    return acc;
}

static double FL_FN(cce_logit)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    return FL_FN(softmax_block)(a, r0, r1, 0);
}

static double FL_FN(scce_logit)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    return FL_FN(softmax_block)(a, r0, r1, 1);
}

/* ------------------------------------------------------------------------------------------
 * Sparse categorical cross-entropy on probabilities:  loss = -sum_k t'_k log clip(p_k)
 * ------------------------------------------------------------------------------------------ */
static double FL_FN(scce_prob)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t C = a->k;
    const FL_T *p0 = (const FL_T *)a->y_pred;
    const int64_t *labels = (const int64_t *)a->y_true;
    FL_T *g0 = (FL_T *)a->grad;
    FL_T *per = (FL_T *)a->per_sample;
    const double smooth = a->param[1];
    const FL_T eps = (FL_T)a->param[0];
    const FL_T hi = (FL_T)1 - eps;
    const FL_T keep = (FL_T)(1.0 - smooth);
    const FL_T off = (FL_T)(smooth / (double)C);
    double acc = 0.0;

    for (ptrdiff_t i = r0; i < r1; ++i) {
        const FL_T *restrict p = p0 + i * C;
        FL_T *restrict g = g0 ? g0 + i * C : NULL;
        double wi = a->sample_weight ? a->sample_weight[i] : 1.0;
        const int64_t y = labels[i];
        if (a->has_ignore && y == a->ignore_index) {
            if (g) for (ptrdiff_t k = 0; k < C; ++k) g[k] = 0;
            if (per) per[i] = 0;
            continue;
        }
        if (a->class_weight) wi *= a->class_weight[y];
        const FL_T gs = (FL_T)(a->scale * wi);
        double row = 0.0;
#pragma omp simd reduction(+:row)
        for (ptrdiff_t k = 0; k < C; ++k) {
            const FL_T tk = (k == y ? keep : (FL_T)0) + off;
            const FL_T q = FL_FN(clip)(p[k], eps, hi);
            const int inside = p[k] >= eps && p[k] <= hi;
            row += tk != 0 ? -(double)tk * (double)FL_LOG(q) : (p[k] == p[k] ? 0.0 : (double)p[k]);
            if (g) g[k] = inside ? -gs * tk / q : (p[k] == p[k] ? (FL_T)0 : p[k]);
        }
        if (per) per[i] = (FL_T)(row * wi);
        acc += row * wi;
    }
    return acc;
}
