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
 * Per row: pass 1 max (and the target mass or the logit sum), pass 2 exp and its sum (the
 * exponentials parked in the gradient row), pass 3 loss and gradient.  No log-softmax array.
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
    double acc = 0.0;

    for (ptrdiff_t i = r0; i < r1; ++i) {
        const FL_T *restrict z = z0 + i * C;
        const FL_T *restrict t = t0 ? t0 + i * C : NULL;
        FL_T *restrict g = g0 ? g0 + i * C : NULL;
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

        /* pass 1: max logit; target mass (dense) or logit sum (sparse with smoothing) */
        FL_T m = (FL_T)-INFINITY;
        double side = 0.0;
        if (sparse) {
#pragma omp simd reduction(max:m) reduction(+:side)
            for (ptrdiff_t k = 0; k < C; ++k) {
                m = z[k] > m ? z[k] : m;
                side += (double)z[k];
            }
        } else {
#pragma omp simd reduction(max:m) reduction(+:side)
            for (ptrdiff_t k = 0; k < C; ++k) {
                m = z[k] > m ? z[k] : m;
                side += (double)t[k];
            }
        }
        double row;
        if (m == (FL_T)INFINITY || m == (FL_T)-INFINITY) {
            row = FL_FN(softmax_row_limit)(z, t, y, C, smooth, g, gs, m);
        } else {
            /* pass 2: exponentials and their sum */
            double s = 0.0;
            if (g) {
#pragma omp simd reduction(+:s)
                for (ptrdiff_t k = 0; k < C; ++k) {
                    const FL_T e = FL_EXP(z[k] - m);
                    g[k] = e;
                    s += (double)e;
                }
            } else {
#pragma omp simd reduction(+:s)
                for (ptrdiff_t k = 0; k < C; ++k) s += (double)FL_EXP(z[k] - m);
            }
            const double lse = (double)m + log(s);
            const double inv_s = 1.0 / s;
            /* pass 3: loss and gradient */
            if (sparse) {
                row = lse - (double)z[y];
                if (smooth != 0.0) row = lse - (1.0 - smooth) * (double)z[y] - smooth / (double)C * side;
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
