/*
 * Shared helpers and loops of the dtype template (see fl_kernels_impl.h).  Included once per
 * floating type with
 *   FL_T (float|double), FL_SUF (f32|f64) and the libm names FL_EXP, FL_LOG, FL_LOG1P,
 *   FL_FABS, FL_FMAX defined.  Do not include directly.
 *
 * Conventions of every per-element function `FL_FN(<loss>_elem)(t, p, a, &g)`:
 *   returns the loss of one element, stores d loss / d p in *g;
 *   written branch-free (selects), so the loops around them vectorise;
 *   a NaN input gives a NaN loss and a NaN gradient;
 *   a term whose coefficient is exactly 0 contributes 0 even where its log is infinite.
 */
#ifndef FL_CAT
#define FL_CAT_(a, b) a##_##b
#define FL_CAT(a, b) FL_CAT_(a, b)
#endif
#undef FL_FN
#define FL_FN(name) FL_CAT(fl_##name, FL_SUF)

typedef FL_T (*FL_FN(elem_fn))(FL_T t, FL_T p, const fl_args *a, FL_T *g);

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
 * One contiguous run of n elements.  Returns sum(loss * w) in double.  The has_* flags are
 * compile-time constants at every call site, so each combination is its own clean loop.
 *
 * Each chunk is two loops.  The first evaluates the per-element maths, writes the gradient
 * and parks the losses in an L1-resident buffer; it carries no pragma, so gcc vectorises it
 * after inlining the maths (an `omp simd` loop would privatise the maths' address-taken
 * locals into per-lane arrays, which defeats the vectoriser).  The second adds the buffer in
 * double under `omp simd reduction`, the one licence to reorder a sum that strict IEEE
 * otherwise forbids.  Chunks are cut at fixed offsets, so results never depend on threads.
 */
#ifndef FL_CHUNK
#define FL_CHUNK 256
#endif

FL_INLINE double FL_FN(elem_loop)(FL_FN(elem_fn) f, const fl_args *a,
                                  const FL_T *restrict t, const FL_T *restrict p,
                                  FL_T *restrict g, FL_T *restrict per,
                                  const double *restrict w, ptrdiff_t n, FL_T gscale,
                                  const int has_g, const int has_per, const int has_w)
{
    double acc = 0.0;
    const fl_args la = *a;   /* a private copy: stores through g cannot alias the parameters */
    FL_T lbuf[FL_CHUNK];
    for (ptrdiff_t c0 = 0; c0 < n; c0 += FL_CHUNK) {
        const ptrdiff_t m = n - c0 < FL_CHUNK ? n - c0 : FL_CHUNK;
        const FL_T *restrict tc = t + c0;
        const FL_T *restrict pc = p + c0;
        for (ptrdiff_t i = 0; i < m; ++i) {
            FL_T gi;
            const FL_T li = f(tc[i], pc[i], &la, &gi);
            lbuf[i] = li;
            if (has_w) {
                const FL_T wi = (FL_T)w[c0 + i];
                if (has_g) g[c0 + i] = gi * (gscale * wi);
                if (has_per) per[c0 + i] = li * wi;
            } else {
                if (has_g) g[c0 + i] = gi * gscale;
                if (has_per) per[c0 + i] = li;
            }
        }
        double s = 0.0;
        if (has_w) {
#pragma omp simd reduction(+:s)
            for (ptrdiff_t i = 0; i < m; ++i) s += (double)lbuf[i] * w[c0 + i];
        } else {
#pragma omp simd reduction(+:s)
            for (ptrdiff_t i = 0; i < m; ++i) s += (double)lbuf[i];
        }
        acc += s;
    }
    return acc;
}

FL_INLINE double FL_FN(elem_run)(FL_FN(elem_fn) f, const fl_args *a,
                                 const FL_T *t, const FL_T *p, FL_T *g, FL_T *per,
                                 const double *w, ptrdiff_t n, FL_T gscale)
{
    if (g) {
        if (per) return w ? FL_FN(elem_loop)(f, a, t, p, g, per, w, n, gscale, 1, 1, 1)
                          : FL_FN(elem_loop)(f, a, t, p, g, per, w, n, gscale, 1, 1, 0);
        return w ? FL_FN(elem_loop)(f, a, t, p, g, per, w, n, gscale, 1, 0, 1)
                 : FL_FN(elem_loop)(f, a, t, p, g, per, w, n, gscale, 1, 0, 0);
    }
    if (per) return w ? FL_FN(elem_loop)(f, a, t, p, g, per, w, n, gscale, 0, 1, 1)
                      : FL_FN(elem_loop)(f, a, t, p, g, per, w, n, gscale, 0, 1, 0);
    return w ? FL_FN(elem_loop)(f, a, t, p, g, per, w, n, gscale, 0, 0, 1)
             : FL_FN(elem_loop)(f, a, t, p, g, per, w, n, gscale, 0, 0, 0);
}

/*
 * Rows [r0, r1) of an elementwise loss.  The per-sample loss is the mean over the last axis
 * (mean_last_axis = 1: MSE, BCE, ...) or its sum (0: categorical cross-entropy).  Without
 * per-row weights or outputs the block is one flat run; otherwise one run per row.
 */
FL_INLINE double FL_FN(elem_block)(FL_FN(elem_fn) f, const fl_args *a,
                                   ptrdiff_t r0, ptrdiff_t r1, const int mean_last_axis)
{
    const ptrdiff_t K = a->k;
    const FL_T *t = (const FL_T *)a->y_true;
    const FL_T *p = (const FL_T *)a->y_pred;
    FL_T *g = (FL_T *)a->grad;
    FL_T *per = (FL_T *)a->per_sample;
    const double *w = a->sample_weight;
    const double kscale = mean_last_axis ? 1.0 / (double)K : 1.0;

    if (K == 1 || (!per && !w)) {
        const double s = FL_FN(elem_run)(f, a, t + r0 * K, p + r0 * K, g ? g + r0 * K : NULL,
                                         per ? per + r0 : NULL, w ? w + r0 : NULL,
                                         (r1 - r0) * K, (FL_T)(a->scale * kscale));
        return s * kscale;
    }
    double acc = 0.0;
    for (ptrdiff_t i = r0; i < r1; ++i) {
        const double wi = w ? w[i] : 1.0;
        const double s = kscale * FL_FN(elem_run)(f, a, t + i * K, p + i * K,
                                                  g ? g + i * K : NULL, NULL, NULL, K,
                                                  (FL_T)(a->scale * kscale * wi));
        if (per) per[i] = (FL_T)(s * wi);
        acc += s * wi;
    }
    return acc;
}

#define FL_ELEMENTWISE_KERNEL(NAME, MEAN_LAST_AXIS)                                          \
    static double FL_FN(NAME)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)                  \
    {                                                                                         \
        return FL_FN(elem_block)(FL_FN(NAME##_elem), a, r0, r1, MEAN_LAST_AXIS);              \
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

/* x^y for x >= 0 as exp(y log x), with x^0 = 1 (also at x = 0) and 0^y = 0 for y > 0. */
FL_INLINE FL_T FL_FN(powr)(FL_T x, FL_T y)
{
    return y != 0 ? FL_EXP(y * FL_LOG(x)) : (x == x ? (FL_T)1 : x);
}
