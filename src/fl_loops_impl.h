/*
 * Shared helpers and loops of the dtype template (see fl_kernels_impl.h).  Included once per
 * floating type with
 *   FL_T (float|double), FL_SUF (f32|f64) and the libm names FL_EXP, FL_LOG, FL_LOG1P,
 *   FL_FABS, FL_FMAX, FL_SQRT defined.  Do not include directly.
 *
 * Conventions of every per-element function: see fl_kernels_impl.h.
 */
#ifndef FL_CAT
#define FL_CAT_(a, b) a##_##b
#define FL_CAT(a, b) FL_CAT_(a, b)
#endif
#undef FL_FN
#define FL_FN(name) FL_CAT(fl_##name, FL_SUF)

/* What a per-element maths function returns: loss, first and second derivative in p. */
typedef struct { FL_T v, g, h; } FL_FN(vgh);

typedef FL_FN(vgh) (*FL_FN(elem_fn))(FL_T t, FL_T p, const fl_args *a);

/* {v, g, h}: the loss of one element and its first and second derivatives. */
FL_INLINE FL_FN(vgh) FL_FN(vgh_of)(FL_T v, FL_T g, FL_T h)
{
    FL_FN(vgh) r;
    r.v = v;
    r.g = g;
    r.h = h;
    return r;
}

/* h, or x itself when x is NaN: a second derivative that is a constant (or 0) on the domain
 * still says NaN for a NaN input, like the loss and the gradient. */
FL_INLINE FL_T FL_FN(keepnan)(FL_T h, FL_T x)
{
    return x == x ? h : x;
}

/* Whether x is a probability-mode input outside [0, 1], as 0/1 (NaN is not: it passes
 * through as a NaN loss).  Branch-free, for OR-reductions inside the fused loops. */
FL_INLINE int FL_FN(out_of_unit)(FL_T x)
{
    return (x < (FL_T)0) | (x > (FL_T)1);
}

/* sign(d) with sign(0) = 0 and sign(NaN) = NaN (copysign would drop the NaN). */
FL_INLINE FL_T FL_FN(sign)(FL_T d)
{
    return d > 0 ? (FL_T)1 : (d < 0 ? (FL_T)-1 : d);
}

/* clip p to [lo, hi]; a NaN stays NaN (fmin/fmax would drop it). */
FL_INLINE FL_T FL_FN(clip)(FL_T p, FL_T lo, FL_T hi)
{
    return p < lo ? lo : (p > hi ? hi : p);
}

/* ------------------------------------------------------------------------------------------
 * Loops
 * ------------------------------------------------------------------------------------------ */

/*
 * One contiguous run of n elements.  Returns sum(loss * w) in double, and with prob set the
 * flag FL_ERR_PROB_RANGE if a prediction is outside [0, 1] (an integer OR-reduction in the
 * same loop, no second pass).  The has_* and prob flags are compile-time constants at every
 * call site, so each combination is its own clean loop.
 *
 * Each chunk is one loop under `omp simd reduction`, the one licence to reorder a sum that
 * strict IEEE otherwise forbids: it evaluates the per-element maths, writes the gradient
 * (and Hessian) and adds the loss in double, with the partial sums in vector registers.
 * The maths return their {v, g, h} struct by value and take no address, so nothing is
 * privatised into per-lane arrays and gcc vectorises the whole body (it once needed a
 * second loop over an L1 buffer of losses, when the maths wrote through pointers).
 * Chunks are cut at fixed offsets and summed in order, so results never depend on threads.
 */
#ifndef FL_CHUNK
#define FL_CHUNK 256
#endif

FL_INLINE fl_result FL_FN(elem_loop)(FL_FN(elem_fn) f, const fl_args *a,
                                     const FL_T *restrict t, const FL_T *restrict p,
                                     FL_T *restrict g, FL_T *restrict hs, FL_T *restrict per,
                                     const double *restrict w, ptrdiff_t n, double gscale,
                                     const int has_g, const int has_h, const int has_per,
                                     const int has_w, const int prob)
{
    double acc = 0.0;
    int bad = 0;
    const FL_T gs = (FL_T)gscale;   /* unweighted: the reduction's scale, in the dtype */
    const fl_args la = *a;   /* a private copy: stores through g cannot alias the parameters */
    for (ptrdiff_t c0 = 0; c0 < n; c0 += FL_CHUNK) {
        const ptrdiff_t m = n - c0 < FL_CHUNK ? n - c0 : FL_CHUNK;
        const FL_T *restrict tc = t + c0;
        const FL_T *restrict pc = p + c0;
        double s = 0.0;
        if (has_w) {
#pragma omp simd reduction(+:s) reduction(|:bad)
            for (ptrdiff_t i = 0; i < m; ++i) {
                const FL_FN(vgh) r = f(tc[i], pc[i], &la);
                if (prob) bad |= FL_FN(out_of_unit)(pc[i]);
                /* weights are float64 and scale in double: a float32 cast of a weight of
                 * 1e-50 is 0 and of 1e39 inf, and 1 / sum(w) can overflow float32 too */
                const double wi = w[c0 + i];
                if (has_g) g[c0 + i] = (FL_T)((double)r.g * (gscale * wi));
                if (has_h) hs[c0 + i] = (FL_T)((double)r.h * (gscale * wi));
                if (has_per) per[c0 + i] = (FL_T)((double)r.v * wi);
                s += (double)r.v * wi;
            }
        } else {
#pragma omp simd reduction(+:s) reduction(|:bad)
            for (ptrdiff_t i = 0; i < m; ++i) {
                const FL_FN(vgh) r = f(tc[i], pc[i], &la);
                if (prob) bad |= FL_FN(out_of_unit)(pc[i]);
                if (has_g) g[c0 + i] = r.g * gs;
                if (has_h) hs[c0 + i] = r.h * gs;
                if (has_per) per[c0 + i] = r.v;
                s += (double)r.v;
            }
        }
        acc += s;
    }
    return fl_result_of(acc, bad ? FL_ERR_PROB_RANGE : 0);
}

/* The loop for this call's outputs: a second derivative is only asked with a gradient, so
 * (g, h) is (0, 0), (1, 0) or (1, 1); each combination is its own loop. */
#define FL_ELEM_LOOP(HG, HH, HP, HW) \
    FL_FN(elem_loop)(f, a, t, p, g, hs, per, w, n, gscale, HG, HH, HP, HW, prob)
FL_INLINE fl_result FL_FN(elem_run)(FL_FN(elem_fn) f, const fl_args *a,
                                    const FL_T *t, const FL_T *p, FL_T *g, FL_T *hs,
                                    FL_T *per, const double *w, ptrdiff_t n, double gscale,
                                    const int prob)
{
    if (g && hs) {
        if (per) return w ? FL_ELEM_LOOP(1, 1, 1, 1) : FL_ELEM_LOOP(1, 1, 1, 0);
        return w ? FL_ELEM_LOOP(1, 1, 0, 1) : FL_ELEM_LOOP(1, 1, 0, 0);
    }
    if (g) {
        if (per) return w ? FL_ELEM_LOOP(1, 0, 1, 1) : FL_ELEM_LOOP(1, 0, 1, 0);
        return w ? FL_ELEM_LOOP(1, 0, 0, 1) : FL_ELEM_LOOP(1, 0, 0, 0);
    }
    if (per) return w ? FL_ELEM_LOOP(0, 0, 1, 1) : FL_ELEM_LOOP(0, 0, 1, 0);
    return w ? FL_ELEM_LOOP(0, 0, 0, 1) : FL_ELEM_LOOP(0, 0, 0, 0);
}
#undef FL_ELEM_LOOP

/*
 * Rows [r0, r1) of an elementwise loss.  The per-sample loss is the mean over the last axis
 * (mean_last_axis = 1: MSE, BCE, ...) or its sum (0: categorical cross-entropy).  Without
 * per-row weights or outputs the block is one flat run; otherwise one run per row.
 * pred = FL_PRED_PROB reports y_pred values outside [0, 1] (FL_ERR_PROB_RANGE).
 */
FL_INLINE fl_result FL_FN(elem_block)(FL_FN(elem_fn) f, const fl_args *a,
                                      ptrdiff_t r0, ptrdiff_t r1, const int mean_last_axis,
                                      const int pred)
{
    const ptrdiff_t K = a->k;
    const FL_T *t = (const FL_T *)a->y_true;
    const FL_T *p = (const FL_T *)a->y_pred;
    FL_T *g = (FL_T *)a->grad;
    FL_T *hs = g ? (FL_T *)a->hess : NULL;
    FL_T *per = (FL_T *)a->per_sample;
    const double *w = a->sample_weight;
    const double kscale = mean_last_axis ? 1.0 / (double)K : 1.0;
    const int prob = pred == FL_PRED_PROB;

    if (K == 1 || (!per && !w)) {
        const fl_result s = FL_FN(elem_run)(f, a, t + r0 * K, p + r0 * K,
                                            g ? g + r0 * K : NULL, hs ? hs + r0 * K : NULL,
                                            per ? per + r0 : NULL,
                                            w ? w + r0 : NULL, (r1 - r0) * K,
                                            a->scale * kscale, prob);
        return fl_result_of(s.sum * kscale, s.flags);
    }
    double acc = 0.0;
    int flags = 0;
    for (ptrdiff_t i = r0; i < r1; ++i) {
        const double wi = w ? w[i] : 1.0;
        const fl_result s = FL_FN(elem_run)(f, a, t + i * K, p + i * K,
                                            g ? g + i * K : NULL, hs ? hs + i * K : NULL,
                                            NULL, NULL, K,
                                            a->scale * kscale * wi, prob);
        const double row = kscale * s.sum;
        if (per) per[i] = (FL_T)(row * wi);
        acc += row * wi;
        flags |= s.flags;
    }
    return fl_result_of(acc, flags);
}

/* The block function of an elementwise loss; PRED is FL_PRED_REAL or FL_PRED_PROB. */
#define FL_ELEMENTWISE_KERNEL(NAME, MEAN_LAST_AXIS, PRED)                                    \
    static fl_result FL_FN(NAME)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)               \
    {                                                                                         \
        return FL_FN(elem_block)(FL_FN(NAME##_elem), a, r0, r1, MEAN_LAST_AXIS, PRED);        \
    }


/* ------------------------------------------------------------------------------------------
 * Small NaN-keeping helpers shared by the families (branch-free selects, like sign and clip).
 * ------------------------------------------------------------------------------------------ */

/* c * x with the zero-coefficient rule: 0 when c == 0 even if x is infinite, but NaN if x is
 * NaN (so a NaN input still gives a NaN loss). */
FL_INLINE FL_T FL_FN(zmul)(FL_T c, FL_T x)
{
    return c != 0 ? c * x : (x == x ? (FL_T)0 : x);
}

/* x log x with 0 log 0 = 0 (scipy's xlogy(x, x)); NaN stays NaN. */
FL_INLINE FL_T FL_FN(xlogx)(FL_T x)
{
    return x != 0 ? x * FL_LOG(x) : (FL_T)0;
}

/* max(x, 0) that keeps a NaN (fmax would drop it). */
FL_INLINE FL_T FL_FN(relu)(FL_T x)
{
    return x > 0 ? x : (x == x ? (FL_T)0 : x);
}

/* x^y for x >= 0 as exp(y log x), with x^0 = 1 (also at x = 0) and 0^y = 0 for y > 0;
 * y = 2 (the focal losses' default gamma) is x * x, exact and without the two
 * transcendentals (y is loop-invariant: gcc unswitches the loop on it). */
FL_INLINE FL_T FL_FN(powr)(FL_T x, FL_T y)
{
    if (y == (FL_T)2) return x * x;
    return y != 0 ? FL_EXP(y * FL_LOG(x)) : (x == x ? (FL_T)1 : x);
}
