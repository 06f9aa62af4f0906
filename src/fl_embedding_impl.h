/*
 * Metric-learning losses (dtype template, see fl_kernels_impl.h): contrastive, triplet margin
 * and cosine embedding.
 *
 * Inputs are rows of embeddings, one sample per row of k = a->k elements: a->y_pred is x1 (or
 * the anchor), a->x2 is x2 (the positive), a->x3 the negative; all (n_rows, k) C-contiguous
 * in FL_T.  Labels, where the loss has them, are one per row in a->y_true (FL_T).  Gradients
 * go to a->grad, a->grad2, a->grad3 (all set or all NULL).
 *
 * Why two passes per row: the loss of a row depends on whole-row sums (a distance, a dot
 * product), and its gradient is the row's inputs scaled by coefficients of those sums.  Pass
 * 1 is an `omp simd reduction` into double accumulators, pass 2 a plain `omp simd` loop that
 * writes the gradients.  Between them, a small per-row maths function maps the sums to the
 * loss and the gradient's coefficients, returned by value (fl_pair).  A row of any realistic
 * embedding size is still in L1 for pass 2, and the kernels need no scratch memory.  The
 * per-row scalars (sqrt, pow, divisions) are done in double.
 */

/* max(x, 0), keeping a NaN (a select on `x > 0` alone would turn NaN into 0). */
FL_INLINE double FL_FN(emb_relu)(double x)
{
    return x > 0 ? x : (x == x ? 0.0 : x);
}

/* 1 / d for a distance d, with 0 at d = 0 (the subgradient PyTorch's norm uses), NaN kept. */
FL_INLINE double FL_FN(emb_inv)(double d)
{
    return d > 0 ? 1.0 / d : (d == d ? 0.0 : d);
}

/* ------------------------------------------------------------------------------------------
 * contrastive, param[0] = margin, labels y in [0, 1] (1 = similar pair):
 *   d = ||x1 - x2||_2,   l = y d^2 + (1 - y) max(0, margin - d)^2
 *   dl/dx1 = c (x1 - x2) = -dl/dx2,   c = 2 y - 2 (1 - y) max(0, margin - d) / d
 * (no factor 1/2, see the registry; the hinge term's gradient is taken as 0 at d = 0, where
 * its direction is undefined).
 * ------------------------------------------------------------------------------------------ */
/* {loss, c} of one row from d^2 = ||x1 - x2||^2: dl/dx1 = c (x1 - x2). */
FL_INLINE fl_pair FL_FN(contrastive_row)(double d2, double yi, double margin)
{
    const double d = sqrt(d2);
    const double h = FL_FN(emb_relu)(margin - d);
    fl_pair r;
    /* a term whose coefficient is exactly 0 adds 0, even when d^2 overflowed to inf */
    r.v = (yi != 0.0 ? yi * d2 : 0.0) + (yi != 1.0 ? (1.0 - yi) * h * h : 0.0);
    r.g = 2.0 * yi - (d > 0 ? 2.0 * (1.0 - yi) * h / d : 0.0);
    return r;
}

static fl_result FL_FN(contrastive)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t K = a->k;
    const FL_T *y = (const FL_T *)a->y_true;
    const FL_T *x1_0 = (const FL_T *)a->y_pred;
    const FL_T *x2_0 = (const FL_T *)a->x2;
    FL_T *g1_0 = (FL_T *)a->grad;
    FL_T *g2_0 = (FL_T *)a->grad2;
    FL_T *per = (FL_T *)a->per_sample;
    const double margin = a->param[0];
    double acc = 0.0;

    for (ptrdiff_t i = r0; i < r1; ++i) {
        const FL_T *restrict x1 = x1_0 + i * K;
        const FL_T *restrict x2 = x2_0 + i * K;
        const double wi = a->sample_weight ? a->sample_weight[i] : 1.0;
        double d2 = 0.0;
#pragma omp simd reduction(+:d2)
        for (ptrdiff_t k = 0; k < K; ++k) {
            const FL_T u = x1[k] - x2[k];
            d2 += (double)u * (double)u;
        }
        const fl_pair lc = FL_FN(contrastive_row)(d2, (double)y[i], margin);
        const double row = lc.v;
        if (g1_0) {
            const FL_T c = (FL_T)(a->scale * wi * lc.g);
            FL_T *restrict g1 = g1_0 + i * K;
            FL_T *restrict g2 = g2_0 + i * K;
#pragma omp simd
            for (ptrdiff_t k = 0; k < K; ++k) {
                const FL_T gk = c * (x1[k] - x2[k]);
                g1[k] = gk;
                g2[k] = -gk;
            }
        }
        if (per) per[i] = (FL_T)(row * wi);
        acc += row * wi;
    }
    return fl_result_of(acc, 0);
}

/* ------------------------------------------------------------------------------------------
 * triplet margin, param[0] = margin, param[1] = p, param[2] = swap (0/1), param[3] = eps:
 *   d(x, y) = ||x - y + eps||_p          (PyTorch's pairwise_distance, eps inside the norm)
 *   l = max(0, margin + d(a, p) - d_neg),  d_neg = d(a, n), or min(d(a, n), d(p, n)) with swap
 * With u = x - y + eps:  dd/dx_k = sign(u_k) |u_k|^(p-1) / d^(p-1)  (0 where d = 0).
 * p = 2 and p = 1 have their own loops; any other p >= 1 uses |u|^p = exp(p log |u|).
 * The hinge's subgradient is 0 where l = 0.
 * ------------------------------------------------------------------------------------------ */
#ifndef FL_EMBEDDING_ONCE      /* dtype-independent: defined on the first inclusion only */
#define FL_EMBEDDING_ONCE
enum { FL_NORM_ANY = 0, FL_NORM_L1 = 1, FL_NORM_L2 = 2 };
#endif

/* |u|^p */
FL_INLINE FL_T FL_FN(emb_pow_abs)(FL_T u, FL_T p, const int norm)
{
    if (norm == FL_NORM_L2) return u * u;
    if (norm == FL_NORM_L1) return FL_FABS(u);
    return FL_EXP(p * FL_LOG(FL_FABS(u)));          /* 0 at u = 0: exp(-inf) */
}

/* d|u|^p / du / p = sign(u) |u|^(p-1) */
FL_INLINE FL_T FL_FN(emb_dpow)(FL_T u, FL_T pm1, const int norm)
{
    if (norm == FL_NORM_L2) return u;
    if (norm == FL_NORM_L1) return FL_FN(sign)(u);
    return FL_FN(sign)(u) * FL_EXP(pm1 * FL_LOG(FL_FABS(u)));
}

/* {d, 1 / d^(p-1)}: the distance from sum |u|^p, and the factor of its gradient */
FL_INLINE fl_pair FL_FN(emb_norm)(double s, double p, const int norm)
{
    fl_pair r;
    if (norm == FL_NORM_L2) {
        r.v = sqrt(s);
        r.g = FL_FN(emb_inv)(r.v);
    } else if (norm == FL_NORM_L1) {
        r.v = s;
        r.g = s == s ? 1.0 : s;
    } else {
        r.v = pow(s, 1.0 / p);
        r.g = FL_FN(emb_inv)(pow(r.v, p - 1.0));
    }
    return r;
}

FL_INLINE fl_result FL_FN(triplet_block)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1,
                                         const int norm)
{
    const ptrdiff_t K = a->k;
    const FL_T *a0 = (const FL_T *)a->y_pred;
    const FL_T *p0 = (const FL_T *)a->x2;
    const FL_T *n0 = (const FL_T *)a->x3;
    FL_T *ga0 = (FL_T *)a->grad;
    FL_T *gp0 = (FL_T *)a->grad2;
    FL_T *gn0 = (FL_T *)a->grad3;
    FL_T *per = (FL_T *)a->per_sample;
    const double margin = a->param[0];
    const double pn = a->param[1];
    const int swap = a->param[2] != 0.0;
    const FL_T eps = (FL_T)a->param[3];
    const FL_T pT = (FL_T)pn;
    const FL_T pm1 = (FL_T)(pn - 1.0);
    double acc = 0.0;

    for (ptrdiff_t i = r0; i < r1; ++i) {
        const FL_T *restrict xa = a0 + i * K;
        const FL_T *restrict xp = p0 + i * K;
        const FL_T *restrict xn = n0 + i * K;
        const double wi = a->sample_weight ? a->sample_weight[i] : 1.0;

        /* pass 1: the three sums of |u|^p (d(p, n) only with swap) */
        double s_ap = 0.0, s_an = 0.0, s_pn = 0.0;
        if (swap) {
#pragma omp simd reduction(+:s_ap, s_an, s_pn)
            for (ptrdiff_t k = 0; k < K; ++k) {
                s_ap += (double)FL_FN(emb_pow_abs)(xa[k] - xp[k] + eps, pT, norm);
                s_an += (double)FL_FN(emb_pow_abs)(xa[k] - xn[k] + eps, pT, norm);
                s_pn += (double)FL_FN(emb_pow_abs)(xp[k] - xn[k] + eps, pT, norm);
            }
        } else {
#pragma omp simd reduction(+:s_ap, s_an)
            for (ptrdiff_t k = 0; k < K; ++k) {
                s_ap += (double)FL_FN(emb_pow_abs)(xa[k] - xp[k] + eps, pT, norm);
                s_an += (double)FL_FN(emb_pow_abs)(xa[k] - xn[k] + eps, pT, norm);
            }
        }
        const fl_pair n_ap = FL_FN(emb_norm)(s_ap, pn, norm);
        const fl_pair n_an = FL_FN(emb_norm)(s_an, pn, norm);
        const fl_pair n_pn = swap ? FL_FN(emb_norm)(s_pn, pn, norm) : (fl_pair){0.0, 0.0};
        const double d_ap = n_ap.v, inv_ap = n_ap.g, d_an = n_an.v, inv_an = n_an.g;
        const double d_pn = n_pn.v, inv_pn = n_pn.g;
        const int use_pn = swap && d_pn < d_an;       /* a tie keeps d(a, n) */
        const double row = FL_FN(emb_relu)(margin + d_ap - (use_pn ? d_pn : d_an));

        if (ga0) {
            FL_T *restrict ga = ga0 + i * K;
            FL_T *restrict gp = gp0 + i * K;
            FL_T *restrict gn = gn0 + i * K;
            const double gs = row > 0 || row != row ? a->scale * wi : 0.0;
            const FL_T c_ap = (FL_T)(gs * inv_ap);
            if (gs == 0.0) {
#pragma omp simd
                for (ptrdiff_t k = 0; k < K; ++k) ga[k] = gp[k] = gn[k] = 0;
            } else if (use_pn) {                 /* l = margin + d(a, p) - d(p, n) */
                const FL_T c_pn = (FL_T)(gs * inv_pn);
#pragma omp simd
                for (ptrdiff_t k = 0; k < K; ++k) {
                    const FL_T dap = c_ap * FL_FN(emb_dpow)(xa[k] - xp[k] + eps, pm1, norm);
                    const FL_T dpn = c_pn * FL_FN(emb_dpow)(xp[k] - xn[k] + eps, pm1, norm);
                    ga[k] = dap;
                    gp[k] = -dap - dpn;
                    gn[k] = dpn;
                }
            } else {                             /* l = margin + d(a, p) - d(a, n) */
                const FL_T c_an = (FL_T)(gs * inv_an);
#pragma omp simd
                for (ptrdiff_t k = 0; k < K; ++k) {
                    const FL_T dap = c_ap * FL_FN(emb_dpow)(xa[k] - xp[k] + eps, pm1, norm);
                    const FL_T dan = c_an * FL_FN(emb_dpow)(xa[k] - xn[k] + eps, pm1, norm);
                    ga[k] = dap - dan;
                    gp[k] = -dap;
                    gn[k] = dan;
                }
            }
        }
        if (per) per[i] = (FL_T)(row * wi);
        acc += row * wi;
    }
    return fl_result_of(acc, 0);
}

static fl_result FL_FN(triplet)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    if (a->param[1] == 2.0) return FL_FN(triplet_block)(a, r0, r1, FL_NORM_L2);
    if (a->param[1] == 1.0) return FL_FN(triplet_block)(a, r0, r1, FL_NORM_L1);
    return FL_FN(triplet_block)(a, r0, r1, FL_NORM_ANY);
}

/* ------------------------------------------------------------------------------------------
 * cosine embedding, param[0] = margin, param[1] = eps (PyTorch's 1e-12), labels y in {1, -1}:
 *   cos = <x1, x2> / sqrt((|x1|^2 + eps) (|x2|^2 + eps))
 *   l = 1 - cos  if y = 1,    max(0, cos - margin)  if y = -1
 *   dcos/dx1 = x2 / sqrt(A B) - cos x1 / A,   A = |x1|^2 + eps, B = |x2|^2 + eps (and sym.)
 * ------------------------------------------------------------------------------------------ */
/* {loss, dl/dcos} of one row from its cosine c and label y (> 0: similar pair). */
FL_INLINE fl_pair FL_FN(cosine_row)(double c, double y, double margin)
{
    fl_pair r;
    const double h = c - margin;
    r.v = y > 0 ? 1.0 - c : FL_FN(emb_relu)(h);
    r.g = y > 0 ? -1.0 : (h > 0 ? 1.0 : (c == c ? 0.0 : c));
    return r;
}

static fl_result FL_FN(cosine_embedding)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    const ptrdiff_t K = a->k;
    const FL_T *y = (const FL_T *)a->y_true;
    const FL_T *x1_0 = (const FL_T *)a->y_pred;
    const FL_T *x2_0 = (const FL_T *)a->x2;
    FL_T *g1_0 = (FL_T *)a->grad;
    FL_T *g2_0 = (FL_T *)a->grad2;
    FL_T *per = (FL_T *)a->per_sample;
    const double margin = a->param[0];
    const double eps = a->param[1];
    double acc = 0.0;

    for (ptrdiff_t i = r0; i < r1; ++i) {
        const FL_T *restrict x1 = x1_0 + i * K;
        const FL_T *restrict x2 = x2_0 + i * K;
        const double wi = a->sample_weight ? a->sample_weight[i] : 1.0;
        double s12 = 0.0, s11 = 0.0, s22 = 0.0;
#pragma omp simd reduction(+:s12, s11, s22)
        for (ptrdiff_t k = 0; k < K; ++k) {
            const double u = (double)x1[k], v = (double)x2[k];
            s12 += u * v;
            s11 += u * u;
            s22 += v * v;
        }
        const double A = s11 + eps, B = s22 + eps;
        const double r = 1.0 / (sqrt(A) * sqrt(B));
        const double c = s12 * r;
        const fl_pair ld = FL_FN(cosine_row)(c, (double)y[i], margin);
        const double row = ld.v, dl = ld.g;   /* loss and dl/dcos */
        if (g1_0) {
            FL_T *restrict g1 = g1_0 + i * K;
            FL_T *restrict g2 = g2_0 + i * K;
            const double gs = a->scale * wi * dl;
            const FL_T cr = (FL_T)(gs * r);
            const FL_T c1 = (FL_T)(gs * c / A);
            const FL_T c2 = (FL_T)(gs * c / B);
#pragma omp simd
            for (ptrdiff_t k = 0; k < K; ++k) {
                g1[k] = cr * x2[k] - c1 * x1[k];
                g2[k] = cr * x1[k] - c2 * x2[k];
            }
        }
        if (per) per[i] = (FL_T)(row * wi);
        acc += row * wi;
    }
    return fl_result_of(acc, 0);
}
