/*
 * Overlap (segmentation) losses (dtype template, see fl_kernels_impl.h): Tversky, and through
 * it Dice and soft IoU (Jaccard), on probabilities or on logits (q = sigmoid(z)).
 *
 * One sample is one row of k = a->k elements (an image, a volume ...), laid out as
 * (outer, C, inner) with C = a->n_classes and inner = a->inner: C = 1 when there is no class
 * axis, inner = 1 for channels-last, outer = 1 for channels-first.  Per class c of a sample
 * the kernel needs three sums over the row,
 *   TP_c = sum t q,   T_c = sum t,   Q_c = sum q,
 * and the Tversky index with smooth s, alpha on false positives (Q - TP) and beta on false
 * negatives (T - TP):
 *   num = TP + s,   den = TP + alpha (Q - TP) + beta (T - TP) + s = b TP + alpha Q + beta T + s,
 *   loss_c = 1 - num / den   (b = 1 - alpha - beta),   per-sample loss = mean_c loss_c.
 *   Dice(s) = Tversky(1/2, 1/2, s/2) exactly (both sides halve), IoU(s) = Tversky(1, 1, s).
 * Its gradient is affine in the target, one pair of coefficients per class:
 *   d loss_c / d q = A_c t + B_c,   A_c = (b num - den) / den^2,   B_c = alpha num / den^2,
 * times q (1 - q) for logits.
 *
 * So a sample is read twice: pass 1 accumulates the 3 C sums in double (an `omp simd
 * reduction` per contiguous run, or elementwise per class when inner = 1), pass 2 writes
 * every element's gradient.  With logits, pass 1 parks q in the gradient row so pass 2 does
 * not recompute the exponential.  The 3 C accumulators are the block function's own: on its
 * stack up to FL_SEG_STACK_CLASSES classes, else malloc'd once per block call (a block is
 * ~8192 elements, so the call is negligible; a failure is reported as FL_ERR_NOMEM).  They
 * never depend on OpenMP thread numbers, so any caller, in any team, is safe.
 * On probabilities, pass 1 also ORs a flag of values outside [0, 1] (FL_ERR_PROB_RANGE).
 */

#ifndef FL_SEG_STACK_CLASSES
#define FL_SEG_STACK_CLASSES 128   /* 3 x 128 doubles = 3 KiB of stack */
#endif

/* sigmoid, stable for any z: exp of a non-positive number only; NaN stays NaN */
FL_INLINE FL_T FL_FN(seg_sigmoid)(FL_T z)
{
    const FL_T e = FL_EXP(-FL_FABS(z));
    const FL_T r = (FL_T)1 / ((FL_T)1 + e);
    return z >= 0 ? r : e * r;                   /* NaN: e * r is NaN */
}

/* Pass 1 over one contiguous run of n elements of one class: add to the class's sums.
 * Returns 1 if a probability (not logits) is outside [0, 1]. */
FL_INLINE int FL_FN(seg_sums_run)(const FL_T *restrict t, const FL_T *restrict x,
                                  FL_T *restrict park, ptrdiff_t n, double *tp, double *st,
                                  double *sq, const int logits, const int has_park)
{
    double s_tq = 0.0, s_t = 0.0, s_q = 0.0, s_bad = 0.0;
#pragma omp simd reduction(+:s_tq, s_t, s_q, s_bad)
    for (ptrdiff_t j = 0; j < n; ++j) {
        const FL_T q = logits ? FL_FN(seg_sigmoid)(x[j]) : x[j];
        if (logits && has_park) park[j] = q;
        s_tq += (double)t[j] * (double)q;
        s_t += (double)t[j];
        s_q += (double)q;
        /* a count in double: the loop's other sums are double, and an int OR-reduction
         * beside them keeps gcc 12 from vectorising it */
        if (!logits) s_bad += FL_FN(out_of_unit)(q) ? 1.0 : 0.0;
    }
    *tp += s_tq;
    *st += s_t;
    *sq += s_q;
    return s_bad != 0.0;
}

/* Pass 1 over one pixel of a channels-last row: one element per class.  Returns 1 if a
 * probability (not logits) is outside [0, 1]. */
FL_INLINE int FL_FN(seg_sums_pixel)(const FL_T *restrict t, const FL_T *restrict x,
                                    FL_T *restrict park, ptrdiff_t C, double *restrict tp,
                                    double *restrict st, double *restrict sq, const int logits,
                                    const int has_park)
{
    int bad = 0;
#pragma omp simd reduction(|:bad)
    for (ptrdiff_t c = 0; c < C; ++c) {
        const FL_T q = logits ? FL_FN(seg_sigmoid)(x[c]) : x[c];
        if (!logits) bad |= FL_FN(out_of_unit)(q);
        if (logits && has_park) park[c] = q;
        tp[c] += (double)t[c] * (double)q;
        st[c] += (double)t[c];
        sq[c] += (double)q;
    }
    return bad;
}

/* Pass 2 over n elements sharing the coefficients (ga, gb): g = (ga t + gb) [q (1 - q)]. */
FL_INLINE void FL_FN(seg_grad_run)(const FL_T *restrict t, FL_T *restrict g, ptrdiff_t n,
                                   FL_T ga, FL_T gb, const int logits)
{
    if (logits) {                 /* g holds q, parked by pass 1 */
#pragma omp simd
        for (ptrdiff_t j = 0; j < n; ++j) {
            const FL_T q = g[j];
            g[j] = (ga * t[j] + gb) * (q * ((FL_T)1 - q));
        }
    } else {
#pragma omp simd
        for (ptrdiff_t j = 0; j < n; ++j) g[j] = ga * t[j] + gb;
    }
}

/* The loss 1 - num / den of one class from its sums, and the gradient's coefficients
 * (A, B) of d loss / d q = A t + B (see the top of this file) times gs, by value. */
typedef struct { double v, ga, gb; } FL_FN(tversky_terms);

FL_INLINE FL_FN(tversky_terms) FL_FN(tversky_class)(double tp, double st, double sq,
                                                    double smooth, double alpha, double beta,
                                                    double gs)
{
    const double b = 1.0 - alpha - beta;
    const double num = tp + smooth;
    const double den = b * tp + alpha * sq + beta * st + smooth;
    const double inv2 = 1.0 / (den * den);
    FL_FN(tversky_terms) r;
    r.v = 1.0 - num / den;
    r.ga = gs * (b * num - den) * inv2;
    r.gb = gs * alpha * num * inv2;
    return r;
}

FL_INLINE fl_result FL_FN(seg_block)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1,
                                     const int logits, const int has_g)
{
    const ptrdiff_t K = a->k;
    const ptrdiff_t C = a->n_classes;
    const ptrdiff_t inner = a->inner;
    const ptrdiff_t outer = K / (C * inner);
    const FL_T *t0 = (const FL_T *)a->y_true;
    const FL_T *x0 = (const FL_T *)a->y_pred;
    FL_T *g0 = (FL_T *)a->grad;
    FL_T *per = (FL_T *)a->per_sample;
    const double smooth = a->param[0];
    const double alpha = a->param[1];
    const double beta = a->param[2];
    double stack_sums[3 * FL_SEG_STACK_CLASSES];
    double *tp = C <= FL_SEG_STACK_CLASSES ? stack_sums
                                           : (double *)malloc(3 * (size_t)C * sizeof(double));
    if (tp == NULL) return fl_result_of(0.0, FL_ERR_NOMEM);
    double *st = tp + C;
    double *sq = st + C;
    double acc = 0.0;
    int bad = 0;

    for (ptrdiff_t i = r0; i < r1; ++i) {
        const FL_T *t = t0 + i * K;
        const FL_T *x = x0 + i * K;
        FL_T *g = has_g ? g0 + i * K : NULL;
        const double wi = a->sample_weight ? a->sample_weight[i] : 1.0;

        /* pass 1: the sums of every class */
        for (ptrdiff_t c = 0; c < C; ++c) tp[c] = st[c] = sq[c] = 0.0;
        for (ptrdiff_t o = 0; o < outer; ++o) {
            const ptrdiff_t base = o * C * inner;
            if (inner == 1) {
                bad |= FL_FN(seg_sums_pixel)(t + base, x + base, has_g ? g + base : NULL, C,
                                             tp, st, sq, logits, has_g);
            } else {
                for (ptrdiff_t c = 0; c < C; ++c) {
                    const ptrdiff_t off = base + c * inner;
                    bad |= FL_FN(seg_sums_run)(t + off, x + off, has_g ? g + off : NULL,
                                               inner, tp + c, st + c, sq + c, logits, has_g);
                }
            }
        }

        /* the loss, and the gradient coefficients (scaled) in place of the sums */
        const double gs = a->scale * wi / (double)C;
        double row = 0.0;
        for (ptrdiff_t c = 0; c < C; ++c) {
            const FL_FN(tversky_terms) r = FL_FN(tversky_class)(tp[c], st[c], sq[c], smooth,
                                                                alpha, beta, gs);
            row += r.v;
            tp[c] = r.ga;
            st[c] = r.gb;
        }
        row /= (double)C;

        /* pass 2: every element's gradient */
        if (has_g) {
            for (ptrdiff_t o = 0; o < outer; ++o) {
                const ptrdiff_t base = o * C * inner;
                if (inner == 1) {
                    const FL_T *restrict tt = t + base;
                    FL_T *restrict gg = g + base;
                    if (logits) {
#pragma omp simd
                        for (ptrdiff_t c = 0; c < C; ++c) {
                            const FL_T q = gg[c];
                            gg[c] = ((FL_T)tp[c] * tt[c] + (FL_T)st[c]) * (q * ((FL_T)1 - q));
                        }
                    } else {
#pragma omp simd
                        for (ptrdiff_t c = 0; c < C; ++c)
                            gg[c] = (FL_T)tp[c] * tt[c] + (FL_T)st[c];
                    }
                } else {
                    for (ptrdiff_t c = 0; c < C; ++c) {
                        const ptrdiff_t off = base + c * inner;
                        FL_FN(seg_grad_run)(t + off, g + off, inner, (FL_T)tp[c], (FL_T)st[c],
                                            logits);
                    }
                }
            }
        }
        if (per) per[i] = (FL_T)(row * wi);
        acc += row * wi;
    }
    if (tp != stack_sums) free(tp);
    return fl_result_of(acc, bad ? FL_ERR_PROB_RANGE : 0);
}

static fl_result FL_FN(tversky_prob)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    return a->grad ? FL_FN(seg_block)(a, r0, r1, 0, 1) : FL_FN(seg_block)(a, r0, r1, 0, 0);
}

static fl_result FL_FN(tversky_logit)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    return a->grad ? FL_FN(seg_block)(a, r0, r1, 1, 1) : FL_FN(seg_block)(a, r0, r1, 1, 0);
}
