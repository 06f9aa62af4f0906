/*
 * Classification losses (dtype template, see fl_kernels_impl.h): binary and categorical
 * cross-entropies, on probabilities and on logits.
 */

/*
 * binary cross-entropy on probabilities, param[0] = eps, param[1] = label smoothing:
 *   t' = t (1 - s) + s / 2,  q = clip(p, eps, 1 - eps)
 *   loss = -(t' log q + (1 - t') log(1 - q)),  d/dp = (q - t') / (q (1 - q)),
 *   d2/dp2 = t' / q^2 + (1 - t') / (1 - q)^2 inside the clip, 0 outside it (the clip is part
 *   of the function).
 */
FL_INLINE FL_FN(vgh) FL_FN(bce_prob_elem)(FL_T t, FL_T p, const fl_args *a)
{
    const FL_T eps = (FL_T)a->param[0];
    const FL_T s = (FL_T)a->param[1];
    const FL_T ts = t + s * ((FL_T)0.5 - t);
    const FL_T q = FL_FN(clip)(p, eps, (FL_T)1 - eps);
    const int inside = p >= eps && p <= (FL_T)1 - eps;
    const FL_T dq = (q - ts) / (q * ((FL_T)1 - q));
    const FL_T g = inside ? dq : (p == p ? (FL_T)0 : p);
    const FL_T oq = (FL_T)1 - q;
    const FL_T hq = ts / (q * q) + ((FL_T)1 - ts) / (oq * oq);
    const FL_T h = inside ? hq : (p == p ? (FL_T)0 : p);
    return FL_FN(vgh_of)(-(ts * FL_LOG(q) + ((FL_T)1 - ts) * FL_LOG1P(-q)), g, h);
}

/*
 * binary cross-entropy on logits z, param[1] = label smoothing:
 *   loss = t' softplus(-z) + (1 - t') softplus(z),   d/dz = sigmoid(z) - t',
 *   d2/dz2 = sigmoid(z) sigmoid(-z) = e / (1 + e)^2 (e = exp(-|z|): no cancellation)
 * with softplus(x) = max(x, 0) + log1p(exp(-|x|)), one exp and one log1p per element, and
 * the zero-coefficient term dropped so that t' = 1, z = +inf gives 0, not 0 * inf.
 */
FL_INLINE FL_FN(vgh) FL_FN(bce_logit_elem)(FL_T t, FL_T z, const fl_args *a)
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
    const FL_T g = (z == z ? sig : z) - ts;
    const FL_T v = (ts != 0 ? ts * sp_neg : (FL_T)0)
                   + (ts != 1 ? ((FL_T)1 - ts) * sp_pos : (FL_T)0);
    return FL_FN(vgh_of)(v, g, e * r * r);   /* sigmoid(z) sigmoid(-z), either sign of z */
}

/*
 * categorical cross-entropy on probabilities, one class element; the per-sample loss is the
 * sum over the class axis.  param[0] = eps, param[1] = label smoothing, a->k = n_classes:
 *   t' = t (1 - s) + s / K,  loss = -t' log clip(p),  d/dp = -t' / p,  d2/dp2 = t' / p^2
 *   inside the clip, else 0.
 */
FL_INLINE FL_FN(vgh) FL_FN(cce_prob_elem)(FL_T t, FL_T p, const fl_args *a)
{
    const FL_T eps = (FL_T)a->param[0];
    const FL_T s = (FL_T)a->param[1];
    const FL_T ts = t * ((FL_T)1 - s) + s / (FL_T)a->k;
    const FL_T q = FL_FN(clip)(p, eps, (FL_T)1 - eps);
    const int inside = p >= eps && p <= (FL_T)1 - eps;
    const FL_T g = inside ? -ts / q : (p == p ? (FL_T)0 : p);
    const FL_T h = inside ? ts / (q * q) : (p == p ? (FL_T)0 : p);
    return FL_FN(vgh_of)(-ts * FL_LOG(q), g, h);
}

FL_ELEMENTWISE_KERNEL(bce_prob, 1, FL_PRED_PROB)
FL_ELEMENTWISE_KERNEL(bce_logit, 1, FL_PRED_REAL)
FL_ELEMENTWISE_KERNEL(cce_prob, 0, FL_PRED_PROB)

/* ------------------------------------------------------------------------------------------
 * Softmax cross-entropy rows (logits), targets as probability rows or as integer labels.
 * Passes over each row: max (and the target mass or the logit sum), exp (parked in the
 * gradient row), loss and gradient; no log-softmax array.
 *   t'_k = t_k (1 - s) + s / C        (sparse: t_k = [k == y])
 *   loss = sum_k t'_k (lse - z_k),    d/dz_k = T' softmax_k - t'_k,   T' = sum_k t'_k
 *   d2/dz_k2 = T' softmax_k (1 - softmax_k): the diagonal of the Hessian T' (diag(p) - p p^T)
 * ------------------------------------------------------------------------------------------ */

/* A row whose largest logit is +inf or whose logits are all -inf: the limit, scalar code. */
static double FL_FN(softmax_row_limit)(const FL_T *z, const FL_T *t, int64_t y, ptrdiff_t C,
                                       double smooth, FL_T *g, FL_T *hs, double gs, FL_T m)
{
    ptrdiff_t n_inf = 0;
    int has_nan = 0;
    for (ptrdiff_t k = 0; k < C; ++k) {
        n_inf += z[k] == (FL_T)INFINITY;
        has_nan |= z[k] != z[k];
    }
    if (m == (FL_T)-INFINITY || has_nan) {   /* all -inf: undefined */
        if (g) for (ptrdiff_t k = 0; k < C; ++k) g[k] = (FL_T)NAN;
        if (hs) for (ptrdiff_t k = 0; k < C; ++k) hs[k] = (FL_T)NAN;
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
        const double pk = top ? 1.0 / (double)n_inf : 0.0;
        if (g) g[k] = (FL_T)(gs * (tmass * pk - tk));
        if (hs) hs[k] = (FL_T)(gs * tmass * (pk * (1.0 - pk)));
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
 *   3. per row: sum of exponentials; their logs in one vector loop; per row: log-sum-exp,
 *      loss, gradient scaled in place.
 * A sparse row's label is read once, in step 3, and range-checked before it indexes anything:
 * a label outside [0, C) that is not the ignore index makes the row contribute 0 (loss and
 * gradient) and sets FL_ERR_LABEL.
 */
FL_INLINE fl_result FL_FN(softmax_block)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1,
                                         const int sparse)
{
    const ptrdiff_t C = a->k;
    const FL_T *z0 = (const FL_T *)a->y_pred;
    const FL_T *t0 = sparse ? NULL : (const FL_T *)a->y_true;
    const int64_t *labels = sparse ? (const int64_t *)a->y_true : NULL;
    FL_T *g0 = (FL_T *)a->grad;
    FL_T *h0 = g0 ? (FL_T *)a->hess : NULL;
    FL_T *per = (FL_T *)a->per_sample;
    const double smooth = a->param[1];
    const FL_T keep = (FL_T)(1.0 - smooth);
    const FL_T off = (FL_T)(smooth / (double)C);
    const ptrdiff_t R = C >= FL_SOFTMAX_CHUNK ? 1 : FL_SOFTMAX_CHUNK / C;
    FL_T scratch[FL_SOFTMAX_CHUNK];
    FL_T row_max[FL_SOFTMAX_CHUNK];
    double row_side[FL_SOFTMAX_CHUNK], row_sum[FL_SOFTMAX_CHUNK], row_log[FL_SOFTMAX_CHUNK];
    double acc = 0.0;
    int flags = 0;

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

        /* 3a. row sums of the exponentials, then their logs in one vector loop (a libm log
         * per row cost ~10% at 128 classes) */
        for (ptrdiff_t i = i0; i < i1; ++i) {
            const FL_T m = row_max[i - i0];
            double s = 1.0;
            if (m != (FL_T)INFINITY && m != (FL_T)-INFINITY) {
                if (D) {
                    const FL_T *restrict d = D + (i - i0) * C;
                    s = 0.0;
#pragma omp simd reduction(+:s)
                    for (ptrdiff_t k = 0; k < C; ++k) s += (double)d[k];
                } else {
                    s = FL_FN(sum_exp_shifted)(z0 + i * C, C, m);
                }
            }
            row_sum[i - i0] = s;
        }
#pragma omp simd
        for (ptrdiff_t i = 0; i < i1 - i0; ++i) row_log[i] = fl_log_f64(row_sum[i]);

        /* 3b. losses, gradients */
        for (ptrdiff_t i = i0; i < i1; ++i) {
            const FL_T *restrict z = z0 + i * C;
            const FL_T *restrict t = t0 ? t0 + i * C : NULL;
            FL_T *restrict g = g0 ? g0 + i * C : NULL;
            FL_T *restrict hs = h0 ? h0 + i * C : NULL;
            double wi = a->sample_weight ? a->sample_weight[i] : 1.0;
            int64_t y = -1;
            if (sparse) {
                y = fl_read_label(labels, i);
                const int ignored = a->has_ignore && y == a->ignore_index;
                if (ignored || fl_bad_label(y, C)) {
                    flags |= ignored ? 0 : FL_ERR_LABEL;
                    if (g) for (ptrdiff_t k = 0; k < C; ++k) g[k] = 0;
                    if (hs) for (ptrdiff_t k = 0; k < C; ++k) hs[k] = 0;
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
                row = FL_FN(softmax_row_limit)(z, t, y, C, smooth, g, hs, gs, m);
            } else {
                const double s = row_sum[i - i0];
                const double lse = (double)m + row_log[i - i0];
                const double inv_s = 1.0 / s;
                if (hs) {
                    /* d2/dz_k2 = T' p_k (1 - p_k), from the exponentials still in the
                     * gradient row (T' = 1 for labels) */
                    const double tm = sparse ? 1.0 : side * (1.0 - smooth) + smooth;
                    const FL_T hp = (FL_T)(gs * tm);
                    const FL_T isT = (FL_T)inv_s;
#pragma omp simd
                    for (ptrdiff_t k = 0; k < C; ++k) {
                        const FL_T pk = g[k] * isT;
                        hs[k] = hp * (pk * ((FL_T)1 - pk));
                    }
                }
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
    return fl_result_of(acc, flags);
}

#ifndef FL_SHORT_ROW
#define FL_SHORT_ROW 16          /* rows this short (classes) take the across-rows path */
#endif
#define FL_SHORT_ROWS 512        /* rows of one sub-block of the across-rows path, at most */

/*
 * Softmax cross-entropy on short rows (C <= FL_SHORT_ROW = 16 classes), vectorised across rows
 * instead of along them: a 10-class row is shorter than one AVX-512 vector, so the row loops
 * of softmax_block run in their scalar remainders and the per-row reductions, the libm log
 * and the loop set-up cost more than the maths (about 80 ns a row at 10 classes).  Here a
 * sub-block of n rows is transposed into zt[k * n + i] (and the targets into tt), and every
 * step is a vector loop over the rows or one flat loop over the block:
 *   1. row max m_i (NaN skipped, as softmax_block) and the side sum (target mass, or the
 *      logit sum for sparse label smoothing);
 *   2. et = exp(zt - m) (m taken as 0 for an infinite max) over the whole block, and
 *      s_i = sum_k et (double);
 *   3. lse_i = m_i + log s_i (fl_vmath's double log), 1 / s_i; dense targets: the loss
 *      sum_k t'_k (lse_i - z_ik) over the classes with t'_k != 0;
 *   4. per row, scalar: (sparse) the label read and checked once, weights, loss, scales;
 *   5. Hessian and gradient from the transposed exponentials, stored back to the rows;
 *   6. per row, in order: (sparse) the label's -gs (1 - s) term, rows with an ignored or bad
 *      label zeroed, rows with an infinite max replaced by their limit, the sum of losses.
 * The per-row arithmetic is that of softmax_block (the same formulas, in the same dtypes);
 * only the order of the k-sums (sequential here) and the log (a few ulp) differ.  Every row
 * is computed alone, so the result does not depend on how rows are grouped.
 */
FL_INLINE fl_result FL_FN(softmax_short_block)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1,
                                               const int sparse)
{
    const ptrdiff_t C = a->k;
    const FL_T *z0 = (const FL_T *)a->y_pred;
    const FL_T *t0 = sparse ? NULL : (const FL_T *)a->y_true;
    const int64_t *labels = sparse ? (const int64_t *)a->y_true : NULL;
    FL_T *g0 = (FL_T *)a->grad;
    FL_T *h0 = g0 ? (FL_T *)a->hess : NULL;
    FL_T *per = (FL_T *)a->per_sample;
    const double smooth = a->param[1];
    const FL_T keep = (FL_T)(1.0 - smooth);
    const FL_T off = (FL_T)(smooth / (double)C);
    const ptrdiff_t R = FL_SOFTMAX_CHUNK / C < FL_SHORT_ROWS ? FL_SOFTMAX_CHUNK / C
                                                              : FL_SHORT_ROWS;
    FL_T zt[FL_SOFTMAX_CHUNK], et[FL_SOFTMAX_CHUNK], tt[FL_SOFTMAX_CHUNK];
    int32_t ix[FL_SHORT_ROWS];
    FL_T m[FL_SHORT_ROWS], mm[FL_SHORT_ROWS], a1[FL_SHORT_ROWS], b1[FL_SHORT_ROWS];
    FL_T hp[FL_SHORT_ROWS], is[FL_SHORT_ROWS];
    double sum[FL_SHORT_ROWS], side[FL_SHORT_ROWS], lse[FL_SHORT_ROWS], inv[FL_SHORT_ROWS];
    double rowv[FL_SHORT_ROWS], wv[FL_SHORT_ROWS];
    int64_t yv[FL_SHORT_ROWS];
    unsigned char kind[FL_SHORT_ROWS];      /* 0 normal, 1 ignored or bad label, 2 limit */
    double acc = 0.0;
    int flags = 0;

    for (ptrdiff_t i = 0; i < R; ++i) ix[i] = (int32_t)(i * C);
    for (ptrdiff_t i0 = r0; i0 < r1; i0 += R) {
        const ptrdiff_t n = i0 + R < r1 ? R : r1 - i0;
        const FL_T *restrict z = z0 + i0 * C;
        const FL_T *restrict t = sparse ? NULL : t0 + i0 * C;

        /* 1. transpose, row max, side sums */
        for (ptrdiff_t k = 0; k < C; ++k) {
            FL_T *restrict col = zt + k * n;
#pragma omp simd
            for (ptrdiff_t i = 0; i < n; ++i) col[i] = z[ix[i] + k];
            if (!sparse) {
                FL_T *restrict tcol = tt + k * n;
#pragma omp simd
                for (ptrdiff_t i = 0; i < n; ++i) tcol[i] = t[ix[i] + k];
            }
        }
#pragma omp simd
        for (ptrdiff_t i = 0; i < n; ++i) {
            m[i] = (FL_T)-INFINITY;
            side[i] = 0.0;
            sum[i] = 0.0;
            rowv[i] = 0.0;
        }
        for (ptrdiff_t k = 0; k < C; ++k) {
            const FL_T *restrict col = zt + k * n;
            const FL_T *restrict tcol = tt + k * n;
#pragma omp simd
            for (ptrdiff_t i = 0; i < n; ++i) m[i] = col[i] > m[i] ? col[i] : m[i];
            if (!sparse) {
#pragma omp simd
                for (ptrdiff_t i = 0; i < n; ++i) side[i] += (double)tcol[i];
            } else if (smooth != 0.0) {
#pragma omp simd
                for (ptrdiff_t i = 0; i < n; ++i) side[i] += (double)col[i];
            }
        }
        /* 2. exponentials and their sums */
#pragma omp simd
        for (ptrdiff_t i = 0; i < n; ++i)
            mm[i] = (m[i] == (FL_T)INFINITY || m[i] == (FL_T)-INFINITY) ? (FL_T)0 : m[i];
        for (ptrdiff_t k = 0; k < C; ++k) {
            const FL_T *restrict col = zt + k * n;
            FL_T *restrict ecol = et + k * n;
#pragma omp simd
            for (ptrdiff_t i = 0; i < n; ++i) ecol[i] = col[i] - mm[i];
        }
        FL_FN(exp_inplace)(et, n * C);
        for (ptrdiff_t k = 0; k < C; ++k) {
            const FL_T *restrict ecol = et + k * n;
#pragma omp simd
            for (ptrdiff_t i = 0; i < n; ++i) sum[i] += (double)ecol[i];
        }
        /* 3. log-sum-exp; dense targets: the loss */
#pragma omp simd
        for (ptrdiff_t i = 0; i < n; ++i) {
            lse[i] = (double)m[i] + fl_log_f64(sum[i]);
            inv[i] = 1.0 / sum[i];
        }
        if (!sparse) {
            for (ptrdiff_t k = 0; k < C; ++k) {
                const FL_T *restrict col = zt + k * n;
                const FL_T *restrict tcol = tt + k * n;
#pragma omp simd
                for (ptrdiff_t i = 0; i < n; ++i) {
                    const FL_T tk = tcol[i] * keep + off;
                    rowv[i] += tk != 0 ? (double)tk * (lse[i] - (double)col[i]) : 0.0;
                }
            }
        }
        /* 4. labels, weights, losses, scales (scalar, once per row) */
        for (ptrdiff_t i = 0; i < n; ++i) {
            double wi = a->sample_weight ? a->sample_weight[i0 + i] : 1.0;
            kind[i] = (m[i] == (FL_T)INFINITY || m[i] == (FL_T)-INFINITY) ? 2 : 0;
            if (sparse) {
                const int64_t y = fl_read_label(labels, i0 + i);
                const int ignored = a->has_ignore && y == a->ignore_index;
                yv[i] = y;
                if (ignored || fl_bad_label(y, C)) {
                    flags |= ignored ? 0 : FL_ERR_LABEL;
                    kind[i] = 1;
                    a1[i] = b1[i] = hp[i] = is[i] = 0;
                    continue;
                }
                if (a->class_weight) wi *= a->class_weight[y];
                const double zy = (double)z[i * C + y];
                rowv[i] = smooth != 0.0
                    ? lse[i] - (1.0 - smooth) * zy - smooth / (double)C * side[i]
                    : lse[i] - zy;
            }
            const double gs = a->scale * wi;
            const double tm = sparse ? 1.0 : side[i] * (1.0 - smooth) + smooth;
            wv[i] = wi;
            a1[i] = (FL_T)(gs * tm * inv[i]);
            b1[i] = sparse ? (FL_T)gs * off : (FL_T)gs;
            hp[i] = (FL_T)(gs * tm);
            is[i] = (FL_T)inv[i];
        }
        /* 5. Hessian and gradient, back to the rows */
        if (g0) {
            FL_T *restrict g = g0 + i0 * C;
            if (h0) {
                FL_T *restrict hs = h0 + i0 * C;
                for (ptrdiff_t k = 0; k < C; ++k) {
                    const FL_T *restrict ecol = et + k * n;
#pragma omp simd
                    for (ptrdiff_t i = 0; i < n; ++i) {
                        const FL_T pk = ecol[i] * is[i];
                        hs[ix[i] + k] = hp[i] * (pk * ((FL_T)1 - pk));
                    }
                }
            }
            for (ptrdiff_t k = 0; k < C; ++k) {
                const FL_T *restrict ecol = et + k * n;
                const FL_T *restrict tcol = tt + k * n;
                if (sparse) {
#pragma omp simd
                    for (ptrdiff_t i = 0; i < n; ++i) g[ix[i] + k] = ecol[i] * a1[i] - b1[i];
                } else {
#pragma omp simd
                    for (ptrdiff_t i = 0; i < n; ++i)
                        g[ix[i] + k] = ecol[i] * a1[i] - b1[i] * (tcol[i] * keep + off);
                }
            }
        }
        /* 6. per row, in order */
        for (ptrdiff_t i = 0; i < n; ++i) {
            FL_T *g = g0 ? g0 + (i0 + i) * C : NULL;
            FL_T *hs = h0 ? h0 + (i0 + i) * C : NULL;
            if (kind[i] == 1) {
                if (g) for (ptrdiff_t k = 0; k < C; ++k) g[k] = 0;
                if (hs) for (ptrdiff_t k = 0; k < C; ++k) hs[k] = 0;
                if (per) per[i0 + i] = 0;
                continue;
            }
            const double wi = wv[i];
            const double gs = a->scale * wi;
            double row = rowv[i];
            if (kind[i] == 2)
                row = FL_FN(softmax_row_limit)(z + i * C, sparse ? NULL : t + i * C,
                                               sparse ? yv[i] : -1, C, smooth, g, hs, gs,
                                               m[i]);
            else if (sparse && g)
                g[yv[i]] -= (FL_T)gs * keep;
            if (per) per[i0 + i] = (FL_T)(row * wi);
            acc += row * wi;
        }
    }
    return fl_result_of(acc, flags);
}

static fl_result FL_FN(cce_logit)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    if (a->k <= FL_SHORT_ROW) return FL_FN(softmax_short_block)(a, r0, r1, 0);
    return FL_FN(softmax_block)(a, r0, r1, 0);
}

static fl_result FL_FN(scce_logit)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    if (a->k <= FL_SHORT_ROW) return FL_FN(softmax_short_block)(a, r0, r1, 1);
    return FL_FN(softmax_block)(a, r0, r1, 1);
}

/* ------------------------------------------------------------------------------------------
 * Sparse categorical cross-entropy on probabilities:  loss = -sum_k t'_k log clip(p_k)
 * The label is read once and range-checked (a bad one: the row contributes 0, FL_ERR_LABEL);
 * the row loop ORs a flag of y_pred values outside [0, 1] (FL_ERR_PROB_RANGE).
 * ------------------------------------------------------------------------------------------ */
typedef struct { double v; int bad; } FL_FN(row_value);

/* One row with label y (in range): its loss, the gradient (has_g) and whether a p_k is outside
 * [0, 1].  has_g and smoothed are compile-time constants, so each case is its own clean loop.
 * Without label smoothing only the label's class has a loss term: the other classes add 0
 * (or their NaN) and get the gradient -gs 0 (the value -gs 0 / q had), so the loop takes no
 * log and no division, and the label's class is done once after it, with the same formulas as
 * the smoothed loop (the results are bitwise those of the general loop). */
FL_INLINE FL_FN(row_value) FL_FN(scce_prob_row)(const FL_T *restrict p, FL_T *restrict g,
                                                 FL_T *restrict hs, ptrdiff_t C, int64_t y,
                                                 FL_T keep, FL_T off, FL_T eps, FL_T hi,
                                                 FL_T gs, const int has_g, const int has_h,
                                                 const int smoothed)
{
    double row = 0.0;
    int bad = 0;
    if (smoothed) {
#pragma omp simd reduction(+:row) reduction(|:bad)
        for (ptrdiff_t k = 0; k < C; ++k) {
            const FL_T tk = (k == y ? keep : (FL_T)0) + off;
            const FL_T q = FL_FN(clip)(p[k], eps, hi);
            const int inside = p[k] >= eps && p[k] <= hi;
            row += tk != 0 ? -(double)tk * (double)FL_LOG(q)
                           : (p[k] == p[k] ? 0.0 : (double)p[k]);
            if (has_g) g[k] = inside ? -gs * tk / q : (p[k] == p[k] ? (FL_T)0 : p[k]);
            if (has_h) hs[k] = inside ? gs * tk / (q * q) : (p[k] == p[k] ? (FL_T)0 : p[k]);
            bad |= FL_FN(out_of_unit)(p[k]);
        }
    } else {
        const FL_T g0 = -gs * (FL_T)0;
        FL_T nans = (FL_T)0;      /* a sum of zeros and NaNs: exact in FL_T, in any order */
#pragma omp simd reduction(+:nans) reduction(|:bad)
        for (ptrdiff_t k = 0; k < C; ++k) {
            const FL_T pk = p[k];
            const int inside = pk >= eps && pk <= hi;
            const FL_T nan_k = pk == pk ? (FL_T)0 : pk;     /* 0, or the NaN */
            nans += k == y ? (FL_T)0 : nan_k;
            if (has_g) g[k] = inside ? g0 : nan_k;
            if (has_h) hs[k] = inside ? (FL_T)0 : nan_k;
            bad |= FL_FN(out_of_unit)(pk);
        }
        row = (double)nans;
        const FL_T py = p[y];
        const FL_T tk = keep + off;
        const FL_T q = FL_FN(clip)(py, eps, hi);
        const int inside = py >= eps && py <= hi;
        row += tk != 0 ? -(double)tk * (double)FL_LOG(q) : (py == py ? 0.0 : (double)py);
        if (has_g) g[y] = inside ? -gs * tk / q : (py == py ? (FL_T)0 : py);
        if (has_h) hs[y] = inside ? gs * tk / (q * q) : (py == py ? (FL_T)0 : py);
    }
    FL_FN(row_value) r;
    r.v = row;
    r.bad = bad;
    return r;
}

static fl_result FL_FN(scce_prob)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t C = a->k;
    const FL_T *p0 = (const FL_T *)a->y_pred;
    const int64_t *labels = (const int64_t *)a->y_true;
    FL_T *g0 = (FL_T *)a->grad;
    FL_T *h0 = g0 ? (FL_T *)a->hess : NULL;
    FL_T *per = (FL_T *)a->per_sample;
    const double smooth = a->param[1];
    const FL_T eps = (FL_T)a->param[0];
    const FL_T hi = (FL_T)1 - eps;
    const FL_T keep = (FL_T)(1.0 - smooth);
    const FL_T off = (FL_T)(smooth / (double)C);
    double acc = 0.0;
    int flags = 0, bad = 0;

    for (ptrdiff_t i = r0; i < r1; ++i) {
        const FL_T *restrict p = p0 + i * C;
        FL_T *restrict g = g0 ? g0 + i * C : NULL;
        FL_T *restrict hs = h0 ? h0 + i * C : NULL;
        double wi = a->sample_weight ? a->sample_weight[i] : 1.0;
        const int64_t y = fl_read_label(labels, i);
        const int ignored = a->has_ignore && y == a->ignore_index;
        if (ignored || fl_bad_label(y, C)) {
            flags |= ignored ? 0 : FL_ERR_LABEL;
            if (g) for (ptrdiff_t k = 0; k < C; ++k) g[k] = 0;
            if (hs) for (ptrdiff_t k = 0; k < C; ++k) hs[k] = 0;
            if (per) per[i] = 0;
            continue;
        }
        if (a->class_weight) wi *= a->class_weight[y];
        const FL_T gs = (FL_T)(a->scale * wi);
#define FL_SCCE_ROW(HG, HH, SM) \
    FL_FN(scce_prob_row)(p, g, hs, C, y, keep, off, eps, hi, gs, HG, HH, SM)
        const FL_FN(row_value) r =
            smooth != 0.0
                ? (hs ? FL_SCCE_ROW(1, 1, 1) : g ? FL_SCCE_ROW(1, 0, 1) : FL_SCCE_ROW(0, 0, 1))
                : (hs ? FL_SCCE_ROW(1, 1, 0) : g ? FL_SCCE_ROW(1, 0, 0) : FL_SCCE_ROW(0, 0, 0));
#undef FL_SCCE_ROW
        if (per) per[i] = (FL_T)(r.v * wi);
        acc += r.v * wi;
        bad |= r.bad;
    }
    return fl_result_of(acc, flags | (bad ? FL_ERR_PROB_RANGE : 0));
}

/* ------------------------------------------------------------------------------------------
 * Focal losses (Lin et al., 2017, https://arxiv.org/abs/1708.02002).
 * ------------------------------------------------------------------------------------------ */

/*
 * binary focal loss on logits z (optax's sigmoid_focal_loss), param[1] = gamma >= 0,
 * param[2], param[3] = alpha_1, alpha_0 (1, 1 without alpha):
 *   p = sigmoid(z), q = 1 - p, m = 1 - p_t = t q + (1 - t) p,   a_t = alpha_1 t + alpha_0 (1 - t)
 *   ce = t softplus(-z) + (1 - t) softplus(z)                   (log-domain, as bce_logit)
 *   loss = a_t m^gamma ce
 *   d/dz = a_t m^gamma ((p - t) + gamma (1 - 2t) u ce),   u = p q / m = 1 / (t / p + (1 - t) / q)
 * u is the weighted harmonic mean of p and q, in [0, 1]; written that way it needs no
 * m^(gamma - 1) (infinite at m = 0 for gamma < 1).  Where ce is infinite u is 0 and the
 * product's limit is 0 (u decays exponentially, ce grows linearly), so the term is dropped.
 * Second derivative, with s = 1 - 2t (m' = s p q, m'' = s p q (1 - 2p), ce'' = p q):
 *   d2/dz2 = a_t m^gamma (p q + gamma s u (((gamma - 1) s u + (1 - 2p)) ce + 2 (p - t)))
 * (the focal part dropped where u is 0, as in the gradient).  It is negative in places (where
 * the focal factor bends the loss down): the exact value is returned.
 */
FL_INLINE FL_FN(vgh) FL_FN(binary_focal_logit_elem)(FL_T t, FL_T z, const fl_args *a)
{
    const FL_T gamma = (FL_T)a->param[1];
    const FL_T at = (FL_T)a->param[2] * t + (FL_T)a->param[3] * ((FL_T)1 - t);
    const FL_T e = FL_EXP(-FL_FABS(z));               /* in (0, 1], NaN for NaN */
    const FL_T l1 = FL_LOG1P(e);
    const FL_T sp_pos = (z > 0 ? z : (FL_T)0) + l1;   /* softplus(z)  = -log q */
    const FL_T sp_neg = (z < 0 ? -z : (FL_T)0) + l1;  /* softplus(-z) = -log p */
    const FL_T r = (FL_T)1 / ((FL_T)1 + e);
    const FL_T p = z >= 0 ? r : e * r;
    const FL_T q = z >= 0 ? e * r : r;                /* 1 - p without cancellation */
    const FL_T ce = (t != 0 ? t * sp_neg : (FL_T)0) + (t != 1 ? ((FL_T)1 - t) * sp_pos : (FL_T)0);
    const FL_T m = t * q + ((FL_T)1 - t) * p;
    const FL_T mg = FL_FN(powr)(m, gamma);
    const FL_T inv_u = (t != 0 ? t / p : (FL_T)0) + (t != 1 ? ((FL_T)1 - t) / q : (FL_T)0);
    const FL_T u = (FL_T)1 / inv_u;
    const FL_T focal_term = u != 0 ? gamma * ((FL_T)1 - (FL_T)2 * t) * u * ce : (FL_T)0;
    const FL_T c = at * mg;          /* 0 iff a factor is 0: one select, which gcc if-converts */
    const FL_T g = c * ((p - t) + focal_term);
    const FL_T s2 = (FL_T)1 - (FL_T)2 * t;
    const FL_T focal2 = u != 0 ? gamma * s2 * u * (((gamma - (FL_T)1) * s2 * u + ((FL_T)1 - (FL_T)2 * p)) * ce
                                                   + (FL_T)2 * (p - t)) : (FL_T)0;
    const FL_T h = c * (p * q + focal2);
    return FL_FN(vgh_of)(FL_FN(zmul)(c, ce), g, h);
}

/*
 * binary focal loss on probabilities (Keras' BinaryFocalCrossentropy), param[0] = eps,
 * param[1] = gamma, param[2], param[3] = alpha_1, alpha_0:
 *   q = clip(p, eps, 1 - eps),  m = t (1 - q) + (1 - t) q,  ce = -(t log q + (1 - t) log(1 - q))
 *   loss = a_t m^gamma ce,   d/dp = a_t m^gamma (gamma (1 - 2t) ce / m + (q - t) / (q (1 - q)))
 *   d2/dp2 = a_t m^gamma (gamma s / m ((gamma - 1) s ce / m + 2 ce') + ce''),  s = 1 - 2t,
 *   ce' = (q - t) / (q (1 - q)),  ce'' = t / q^2 + (1 - t) / (1 - q)^2
 * inside the clip, 0 outside it.  m >= min(q, 1 - q) >= eps > 0 for t in [0, 1].
 */
FL_INLINE FL_FN(vgh) FL_FN(binary_focal_prob_elem)(FL_T t, FL_T p, const fl_args *a)
{
    const FL_T eps = (FL_T)a->param[0];
    const FL_T gamma = (FL_T)a->param[1];
    const FL_T at = (FL_T)a->param[2] * t + (FL_T)a->param[3] * ((FL_T)1 - t);
    const FL_T q = FL_FN(clip)(p, eps, (FL_T)1 - eps);
    const int inside = p >= eps && p <= (FL_T)1 - eps;
    const FL_T ce = -(t * FL_LOG(q) + ((FL_T)1 - t) * FL_LOG1P(-q));
    const FL_T m = t * ((FL_T)1 - q) + ((FL_T)1 - t) * q;
    const FL_T mg = FL_FN(powr)(m, gamma);
    const FL_T dq = at * mg * (gamma * ((FL_T)1 - (FL_T)2 * t) * ce / m
                               + (q - t) / (q * ((FL_T)1 - q)));
    const FL_T g = inside ? dq : (p == p ? (FL_T)0 : p);
    const FL_T s2 = (FL_T)1 - (FL_T)2 * t;
    const FL_T oq = (FL_T)1 - q;
    const FL_T ce1 = (q - t) / (q * oq);
    const FL_T ce2 = t / (q * q) + ((FL_T)1 - t) / (oq * oq);
    const FL_T hq = at * mg * (gamma * s2 / m * ((gamma - (FL_T)1) * s2 * ce / m + (FL_T)2 * ce1)
                               + ce2);
    const FL_T h = inside ? hq : (p == p ? (FL_T)0 : p);
    return FL_FN(vgh_of)(at * mg * ce, g, h);
}

/*
 * categorical focal loss on probabilities, one class element (the per-sample loss sums over
 * the class axis), param[0] = eps, param[1] = gamma, param[2] = alpha (1 without alpha):
 *   q = clip(p, eps, 1 - eps),  loss = -alpha t (1 - q)^gamma log q
 *   d/dp = alpha t (1 - q)^gamma (gamma log q / (1 - q) - 1 / q)
 *   d2/dp2 = alpha t (1 - q)^gamma (2 gamma / (q (1 - q)) + 1 / q^2
 *                                   - gamma (gamma - 1) log q / (1 - q)^2)
 * inside the clip, else 0.
 * Rows are used as given (not renormalised), as categorical_cross_entropy.
 */
FL_INLINE FL_FN(vgh) FL_FN(categorical_focal_prob_elem)(FL_T t, FL_T p, const fl_args *a)
{
    const FL_T eps = (FL_T)a->param[0];
    const FL_T gamma = (FL_T)a->param[1];
    const FL_T c = (FL_T)a->param[2] * t;
    const FL_T q = FL_FN(clip)(p, eps, (FL_T)1 - eps);
    const int inside = p >= eps && p <= (FL_T)1 - eps;
    const FL_T oq = (FL_T)1 - q;                      /* >= eps */
    const FL_T lq = FL_LOG(q);
    const FL_T mg = FL_FN(powr)(oq, gamma);
    const FL_T g = inside ? c * mg * (gamma * lq / oq - (FL_T)1 / q) : (p == p ? (FL_T)0 : p);
    const FL_T hq = c * mg * ((FL_T)2 * gamma / (q * oq) + (FL_T)1 / (q * q)
                              - gamma * (gamma - (FL_T)1) * lq / (oq * oq));
    const FL_T h = inside ? hq : (p == p ? (FL_T)0 : p);
    return FL_FN(vgh_of)(-c * mg * lq, g, h);
}

FL_ELEMENTWISE_KERNEL(binary_focal_logit, 1, FL_PRED_REAL)
FL_ELEMENTWISE_KERNEL(binary_focal_prob, 1, FL_PRED_PROB)
FL_ELEMENTWISE_KERNEL(categorical_focal_prob, 0, FL_PRED_PROB)

/*
 * categorical focal loss on logits (rows), param[1] = gamma, param[2] = alpha.  With
 * p = softmax(z), log p_k = z_k - mx - log S (mx the row max, S = sum_k exp(z_k - mx)),
 * q_k = 1 - p_k, r_k = log p_k / q_k and f(p) = -(1 - p)^gamma log p:
 *   loss = alpha sum_k t_k f(p_k)
 *   c_k = t_k p_k f'(p_k) = t_k q_k^gamma (gamma p_k r_k - 1),
 *   d/dz_j = alpha (c_j - p_j C),   C = sum_k c_k.
 * Second derivative (diagonal): with d_k = t_k p_k (p f')'(p_k) and D = sum_k d_k,
 *   d2/dz_j2 = alpha (d_j (1 - 2 p_j) - p_j q_j C + p_j^2 D)
 *            = alpha (e_j + p_j^2 (D - d_j) - p_j q_j C),   e_j = d_j q_j^2,
 *   e_k = gamma t_k p_k q_k^(gamma + 1) (q_k r_k + 2 - (gamma - 1) p_k r_k).
 * d_j itself is unbounded as p_j -> 1 for gamma < 1 (and d_j (1 - 2 p_j) + p_j^2 d_j cancels
 * to e_j), so only e_j is formed for a class that may hold more than half the mass: the
 * unique max logit.  Every other class has p <= 1/2, q >= 1/2, and d = e / q^2 is tame.  For
 * j not the unique max, D - d_j = (D_other - d_j) + D_top, and the unique max's share of it is
 * p_j^2 d_top = e_top (p_j / q_top)^2 (p_j <= q_top: no overflow, 0 when q_top is 0).
 * Accuracy where p -> 1: S = n_max + rest (n_max logits equal to the max, `rest` the sum over
 * the others), so at a max logit q = (n_max - 1 + rest) / S and log p = -log1p(n_max - 1 + rest)
 * with no cancellation, and log p / q -> -1 is used when q is exactly 0.  Elsewhere p <= 1/2,
 * so q = 1 - p is exact enough.  A row with a NaN, or all logits -inf, is NaN; a +inf logit
 * gives the limit (the max logits share the mass, the others get p = 0).
 * Passes per row: 1 max and NaN flag, 2 the sum `rest` (the exponentials parked in the
 * gradient row), 3 loss, c and e (c replacing them in the gradient row, e in the Hessian
 * row), 4 gradient and Hessian (the exponentials recomputed rather than stored).
 */
typedef struct { FL_T loss, c, e, p, q; } FL_FN(cfocal_terms_t);

FL_INLINE FL_FN(cfocal_terms_t) FL_FN(cfocal_terms)(FL_T z, FL_T e, FL_T tk, FL_T mx,
                                                    FL_T gamma, FL_T inv_s, FL_T log_s,
                                                    FL_T p_max, FL_T q_max, FL_T r_max)
{
    /* e = exp(z - mx), from pass 2 */
    const int top = z == mx;
    const FL_T p = top ? p_max : e * inv_s;
    const FL_T q = top ? q_max : (FL_T)1 - p;
    const FL_T lp = top ? -log_s : (z - mx) - log_s;
    const FL_T r = top ? r_max : lp / q;              /* log p / q */
    const FL_T mg = FL_FN(powr)(q, gamma);
    const FL_T pr = p != 0 ? p * r : (FL_T)0;         /* p log p -> 0 */
    FL_FN(cfocal_terms_t) out;
    out.loss = tk != 0 ? tk * mg * -lp : (FL_T)0;
    out.c = tk != 0 ? tk * mg * (gamma * pr - (FL_T)1) : (FL_T)0;
    out.e = tk != 0 && p != 0
        ? gamma * tk * p * mg * q * (q * r + (FL_T)2 - (gamma - (FL_T)1) * pr) : (FL_T)0;
    out.p = p;
    out.q = q;
    return out;
}

static fl_result FL_FN(categorical_focal_logit)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t C = a->k;
    const FL_T *z0 = (const FL_T *)a->y_pred;
    const FL_T *t0 = (const FL_T *)a->y_true;
    FL_T *g0 = (FL_T *)a->grad;
    FL_T *h0 = g0 ? (FL_T *)a->hess : NULL;
    FL_T *per = (FL_T *)a->per_sample;
    const FL_T gamma = (FL_T)a->param[1];
    const double alpha = a->param[2];
    double acc = 0.0;

    for (ptrdiff_t i = r0; i < r1; ++i) {
        const FL_T *restrict z = z0 + i * C;
        const FL_T *restrict t = t0 + i * C;
        FL_T *restrict g = g0 ? g0 + i * C : NULL;
        FL_T *restrict hs = h0 ? h0 + i * C : NULL;
        const double wi = a->sample_weight ? a->sample_weight[i] : 1.0;

        /* pass 1: max and NaN flag (the max comparison skips NaN) */
        FL_T mx = (FL_T)-INFINITY;
        int bad = 0;
#pragma omp simd reduction(max:mx) reduction(|:bad)
        for (ptrdiff_t k = 0; k < C; ++k) {
            mx = z[k] > mx ? z[k] : mx;
            bad |= z[k] != z[k];
        }
        double row;
        if (bad || mx == (FL_T)-INFINITY) {
            row = NAN;
            if (g) for (ptrdiff_t k = 0; k < C; ++k) g[k] = (FL_T)NAN;
            if (hs) for (ptrdiff_t k = 0; k < C; ++k) hs[k] = (FL_T)NAN;
        } else {
            /* pass 2: n_max and the sum of the other exponentials */
            double rest = 0.0, n_max = 0.0;
#pragma omp simd reduction(+:rest, n_max)
            for (ptrdiff_t k = 0; k < C; ++k) {
                const FL_T e = FL_EXP(z[k] - mx);
                if (g) g[k] = e;    /* parked in the gradient row for pass 3 */
                rest += z[k] < mx ? (double)e : 0.0;
                n_max += z[k] == mx ? 1.0 : 0.0;
            }
            const double x = (n_max - 1.0) + rest;           /* S - 1 */
            const double s = 1.0 + x;
            const double log_s = log1p(x);
            const double q_max = x / s;
            const double r_max = x != 0.0 ? -log_s / q_max : -1.0;
            const FL_T inv_sT = (FL_T)(1.0 / s), log_sT = (FL_T)log_s;
            const FL_T p_maxT = (FL_T)(1.0 / s), q_maxT = (FL_T)q_max, r_maxT = (FL_T)r_max;

            /* pass 3: loss; c_k parked in the gradient row, e_k in the Hessian row */
            double l = 0.0, csum = 0.0;
            if (hs) {
                const int unique = n_max == 1.0;
                double d_other = 0.0, d_top = 0.0;
#pragma omp simd reduction(+:l, csum, d_other, d_top)
                for (ptrdiff_t k = 0; k < C; ++k) {
                    const FL_FN(cfocal_terms_t) lc = FL_FN(cfocal_terms)(
                        z[k], g[k], t[k], mx, gamma, inv_sT, log_sT, p_maxT, q_maxT, r_maxT);
                    l += (double)lc.loss;
                    g[k] = lc.c;
                    hs[k] = lc.e;
                    csum += (double)lc.c;
                    const int top = z[k] == mx;
                    /* the unique max keeps e (its d may be unbounded); all others d = e/q^2 */
                    const FL_T dk = top && unique ? lc.e : lc.e / (lc.q * lc.q);
                    d_other += top ? 0.0 : (double)dk;
                    d_top += top ? (double)dk : 0.0;
                }
                /* pass 4: gradient and Hessian */
                const FL_T ga = (FL_T)(alpha * a->scale * wi);
                const FL_T gc = (FL_T)(alpha * a->scale * wi * csum);
                const FL_T cT = (FL_T)csum, dOT = (FL_T)d_other, dTT = (FL_T)d_top;
#pragma omp simd
                for (ptrdiff_t k = 0; k < C; ++k) {
                    const int top = z[k] == mx;
                    const FL_T p = top ? p_maxT : FL_EXP(z[k] - mx) * inv_sT;
                    const FL_T q = top ? q_maxT : (FL_T)1 - p;
                    const FL_T ek = hs[k];
                    const FL_T dk = top && unique ? (FL_T)0 : ek / (q * q);
                    /* D - d_k, the unique max's d entering as e_top (p_k / q_top)^2 */
                    const FL_T rho = top || !(q_maxT > 0) ? (FL_T)0 : p / q_maxT;
                    const FL_T dm = (top ? dOT : dOT - dk)
                        + (unique ? (FL_T)0 : dTT - (top ? dk : (FL_T)0));
                    const FL_T from_top = unique && !top ? dTT * rho * rho : (FL_T)0;
                    hs[k] = ga * (ek + p * p * dm + from_top - p * q * cT);
                    g[k] = ga * g[k] - gc * p;
                }
            } else if (g) {
#pragma omp simd reduction(+:l, csum)
                for (ptrdiff_t k = 0; k < C; ++k) {
                    const FL_FN(cfocal_terms_t) lc = FL_FN(cfocal_terms)(
                        z[k], g[k], t[k], mx, gamma, inv_sT, log_sT, p_maxT, q_maxT, r_maxT);
                    l += (double)lc.loss;
                    g[k] = lc.c;
                    csum += (double)lc.c;
                }
                /* pass 4: d/dz_j = alpha gs (c_j - p_j sum_k c_k) */
                const FL_T ga = (FL_T)(alpha * a->scale * wi);
                const FL_T gc = (FL_T)(alpha * a->scale * wi * csum);
#pragma omp simd
                for (ptrdiff_t k = 0; k < C; ++k) {
                    const FL_T p = z[k] == mx ? p_maxT : FL_EXP(z[k] - mx) * inv_sT;
                    g[k] = ga * g[k] - gc * p;
                }
            } else {
#pragma omp simd reduction(+:l)
                for (ptrdiff_t k = 0; k < C; ++k) {
                    l += (double)FL_FN(cfocal_terms)(z[k], FL_EXP(z[k] - mx), t[k], mx, gamma,
                                                     inv_sT, log_sT, p_maxT, q_maxT,
                                                     r_maxT).loss;
                }
            }
            row = alpha != 0.0 ? alpha * l : (l == l ? 0.0 : l);
        }
        if (per) per[i] = (FL_T)(row * wi);
        acc += row * wi;
    }
    return fl_result_of(acc, 0);
}

/* ------------------------------------------------------------------------------------------
 * Hinge losses (Keras' Hinge, SquaredHinge, CategoricalHinge).
 * ------------------------------------------------------------------------------------------ */

/*
 * hinge, targets in {-1, 1} or {0, 1} (a 0 target is read as -1), y the signed target:
 *   max(0, 1 - y p),   d/dp = -y where 1 - y p > 0, else 0 (0 at the kink); d2/dp2 = 0.
 */
FL_INLINE FL_FN(vgh) FL_FN(hinge_elem)(FL_T t, FL_T p, const fl_args *a)
{
    (void)a;
    const FL_T y = t == 0 ? (FL_T)-1 : t;
    const FL_T h = (FL_T)1 - y * p;
    const FL_T g = h > 0 ? -y : (h == h ? (FL_T)0 : h);
    return FL_FN(vgh_of)(FL_FN(relu)(h), g, FL_FN(keepnan)((FL_T)0, h));
}

/* squared_hinge: max(0, 1 - y p)^2,   d/dp = -2 y max(0, 1 - y p),
 * d2/dp2 = 2 y^2 where 1 - y p > 0, else 0 (0 at the kink). */
FL_INLINE FL_FN(vgh) FL_FN(squared_hinge_elem)(FL_T t, FL_T p, const fl_args *a)
{
    (void)a;
    const FL_T y = t == 0 ? (FL_T)-1 : t;
    const FL_T h = FL_FN(relu)((FL_T)1 - y * p);
    const FL_T g = (FL_T)-2 * y * h;
    const FL_T h2 = h > 0 ? (FL_T)2 * y * y : FL_FN(keepnan)((FL_T)0, h);
    return FL_FN(vgh_of)(h * h, g, h2);
}

FL_ELEMENTWISE_KERNEL(hinge, 1, FL_PRED_REAL)
FL_ELEMENTWISE_KERNEL(squared_hinge, 1, FL_PRED_REAL)

/*
 * categorical hinge (rows), param[0] = margin.  With M_k = max_{j != k} z_j:
 *   loss = sum_k t_k max(0, margin + M_k - z_k)
 * For a one-hot row this is max(0, margin + max_{j != y} z_j - z_y) (Crammer and Singer's
 * multi-class hinge); a soft row gives the expected hinge.  M_k is the row max except at the
 * first arg-max i1, where it is the runner-up (first arg-max i2 of the others).  Gradient: the
 * subgradient -t_k at k and +t_k at the arg-max of the others, for every k whose hinge is
 * active (> 0).  A row with a NaN is NaN.
 */
typedef struct { FL_T loss, act; } FL_FN(chinge_pair);

/* One class: the loss term t_k max(0, h) and act = d loss / d M_k = t_k [h > 0]. */
FL_INLINE FL_FN(chinge_pair) FL_FN(chinge_terms)(FL_T h, FL_T tk)
{
    const FL_T on = h > 0 ? (FL_T)1 : (h == h ? (FL_T)0 : h);   /* NaN: inf - inf */
    FL_FN(chinge_pair) out;
    out.loss = tk != 0 ? tk * FL_FN(relu)(h) : (FL_T)0;
    out.act = tk != 0 ? tk * on : (FL_T)0;
    return out;
}

static fl_result FL_FN(categorical_hinge)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t C = a->k;
    const FL_T *z0 = (const FL_T *)a->y_pred;
    const FL_T *t0 = (const FL_T *)a->y_true;
    FL_T *g0 = (FL_T *)a->grad;
    FL_T *per = (FL_T *)a->per_sample;
    const FL_T margin = (FL_T)a->param[0];
    double acc = 0.0;

    for (ptrdiff_t i = r0; i < r1; ++i) {
        const FL_T *restrict z = z0 + i * C;
        const FL_T *restrict t = t0 + i * C;
        FL_T *restrict g = g0 ? g0 + i * C : NULL;
        const double wi = a->sample_weight ? a->sample_weight[i] : 1.0;
        const FL_T gs = (FL_T)(a->scale * wi);

        /* pass 1: the row max m1, and whether the row has a NaN */
        FL_T m1 = (FL_T)-INFINITY;
        int bad = 0;
#pragma omp simd reduction(max:m1) reduction(|:bad)
        for (ptrdiff_t k = 0; k < C; ++k) {
            m1 = z[k] > m1 ? z[k] : m1;
            bad |= z[k] != z[k];
        }
        double row;
        if (bad) {
            row = NAN;
            if (g) for (ptrdiff_t k = 0; k < C; ++k) g[k] = (FL_T)NAN;
        } else {
            /* pass 2 (the arg-max scans as index reductions, so they vectorise like the rest):
             * i1 = the first arg-max, n1 = how often m1 occurs, and the largest value below
             * m1.  The runner-up M_{i1} = max_{k != i1} z_k is m1 again if it occurs twice. */
            ptrdiff_t i1 = C, n1 = 0;
            FL_T below = (FL_T)-INFINITY;
#pragma omp simd reduction(min:i1) reduction(+:n1) reduction(max:below)
            for (ptrdiff_t k = 0; k < C; ++k) {
                const int top = z[k] == m1;
                i1 = top && k < i1 ? k : i1;
                n1 += top;
                below = !top && z[k] > below ? z[k] : below;
            }
            const FL_T m2 = n1 > 1 ? m1 : below;
            double l = 0.0, to_i1 = 0.0;
            if (g) {
                /* pass 3: loss, gradient, the hinges that push on i1, and i2 = the first
                 * arg-max of the others (C: none, a single class) */
                ptrdiff_t i2 = C;
#pragma omp simd reduction(+:l, to_i1) reduction(min:i2)
                for (ptrdiff_t k = 0; k < C; ++k) {
                    const FL_FN(chinge_pair) la = FL_FN(chinge_terms)(
                        margin + (k == i1 ? m2 : m1) - z[k], t[k]);
                    l += (double)la.loss;
                    g[k] = -gs * la.act;
                    to_i1 += k != i1 ? (double)la.act : 0.0;
                    i2 = k != i1 && z[k] == m2 && k < i2 ? k : i2;
                }
                /* the one hinge that pushes on i2: class i1's own */
                const double to_i2 = (double)FL_FN(chinge_terms)(margin + m2 - z[i1], t[i1]).act;
                g[i1] += (FL_T)((double)gs * to_i1);
                if (i2 < C) g[i2] += (FL_T)((double)gs * to_i2);
            } else {
#pragma omp simd reduction(+:l)
                for (ptrdiff_t k = 0; k < C; ++k)
                    l += (double)FL_FN(chinge_terms)(margin + (k == i1 ? m2 : m1) - z[k],
                                                     t[k]).loss;
            }
            row = l;
        }
        if (per) per[i] = (FL_T)(row * wi);
        acc += row * wi;
    }
    return fl_result_of(acc, 0);
}
