/*
 * fastloss kernels: the per-element maths and the fused block loops.
 *
 * Why this file is C and not Cython
 * ---------------------------------
 * Every kernel computes the loss *and* its gradient in one pass and accumulates the loss in
 * double precision.  Under strict IEEE semantics (we never build with -ffast-math) a compiler
 * may not reorder a floating-point sum, so a plain `acc += l` loop never vectorises.  OpenMP's
 * `#pragma omp simd reduction(+:acc)` grants exactly that licence for one loop and nothing
 * else; Cython cannot emit pragmas, so the innermost loops live here.  Cython (src/_kernels.pyx)
 * owns everything around them: argument checks, the GIL, the OpenMP loop over blocks (in
 * fl_threads.h) and
 * the deterministic combination of block sums.
 *
 * How it is laid out
 * ------------------
 * - `fl_kernels_impl.h` is a "template" included twice, once with FL_T = float and once with
 *   FL_T = double; it includes the shared loops (`fl_loops_impl.h`) and one file per loss
 *   family (`fl_regression_impl.h`, ...).  A family file holds, per loss, one tiny
 *   `always_inline` function that maps (target, prediction) to a small struct returned by
 *   value, `{v, g, h}` = (loss, d loss / d prediction, d2 loss / d prediction2) (as
 *   scikit-learn's `closs_grad_*` return a `double_pair`), and the loops that walk a block
 *   of rows.  Loops take the per-element function as an argument and are `always_inline`, so
 *   the compiler sees a direct call, inlines the maths into the vectorised loop and keeps the
 *   struct's fields in registers (a field no loop reads is never computed): the maths is
 *   written once, the loops are written once, and there is no function pointer and no store
 *   through a pointer in the hot loop.
 * - A block function (`fl_<kernel>_<f32|f64>`) handles rows [r0, r1) and returns an
 *   `fl_result`: the sum of the weighted per-sample losses of those rows and error flags
 *   (FL_ERR_*).  The Cython layer calls one per block, writes each block's result to its own
 *   slot, adds the sums in block order and ORs the flags.
 *
 * No traps
 * --------
 * The Cython layer checks every array before a pointer is taken, but some facts can only be
 * trusted as the kernel reads them: the kernels run without the GIL, so another thread may
 * write to the inputs meanwhile.  So a kernel never indexes memory with a value it read from
 * an input without checking that value where it is read (a class label is read once, into a
 * local, and range-checked with one unsigned compare), and a probability-mode kernel tests
 * its predictions for [0, 1] inside the fused pass (a branch-free OR-reduction).  What it
 * finds it reports in the flags; the row of a bad label contributes 0 (loss and gradient).
 * Kernels own any scratch memory they need (stack, or malloc per block call); they never
 * depend on OpenMP thread numbers.
 */
#ifndef FASTLOSS_KERNELS_H
#define FASTLOSS_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fl_vmath.h"

#ifdef _OPENMP
#include <omp.h>
#define FL_HAVE_OPENMP 1
#else
#define FL_HAVE_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
#endif

#ifndef FL_COMPILER
#define FL_COMPILER "unknown"
#endif
#ifndef FL_HAVE_AVX2
#define FL_HAVE_AVX2 0
#endif
#ifndef FL_HAVE_AVX512
#define FL_HAVE_AVX512 0
#endif

#if defined(__GNUC__)
#define FL_INLINE static inline __attribute__((always_inline))
#else
#define FL_INLINE static inline
#endif

/*
 * Every kernel: X(ID, NUMBER, NAME), the block functions being fl_NAME_f32 / fl_NAME_f64.
 * The numbers are the ids the Python registry uses (fastloss/_registry.py); they are stable,
 * so families take ranges: 0-19 regression and classification core, 20-39 more regression,
 * classification and distribution losses, 40-59 metric learning and segmentation.
 * Adding a kernel = one line here + its block function in the family's impl file.
 * NAME is also the kernel's public name (fl_kernel_name, and the Cython module's KERNELS).
 */
#define FL_KERNELS(X)                                           \
    X(FL_MSE, 0, mse)                                           \
    X(FL_MAE, 1, mae)                                           \
    X(FL_HUBER, 2, huber)                                       \
    X(FL_BCE_PROB, 3, bce_prob)                                 \
    X(FL_BCE_LOGIT, 4, bce_logit)                               \
    X(FL_CCE_PROB, 5, cce_prob)                                 \
    X(FL_CCE_LOGIT, 6, cce_logit)                               \
    X(FL_SCCE_PROB, 7, scce_prob)                               \
    X(FL_SCCE_LOGIT, 8, scce_logit)                             \
    X(FL_SMOOTH_L1, 20, smooth_l1)                              \
    X(FL_LOG_COSH, 21, log_cosh)                                \
    X(FL_QUANTILE, 22, quantile)                                \
    X(FL_POISSON_LOG, 23, poisson_log)                          \
    X(FL_POISSON_RATE, 24, poisson_rate)                        \
    X(FL_MSLE, 25, msle)                                        \
    X(FL_MAPE, 26, mape)                                        \
    X(FL_BINARY_FOCAL_PROB, 27, binary_focal_prob)              \
    X(FL_BINARY_FOCAL_LOGIT, 28, binary_focal_logit)            \
    X(FL_CATEGORICAL_FOCAL_PROB, 29, categorical_focal_prob)    \
    X(FL_CATEGORICAL_FOCAL_LOGIT, 30, categorical_focal_logit)  \
    X(FL_HINGE, 31, hinge)                                      \
    X(FL_SQUARED_HINGE, 32, squared_hinge)                      \
    X(FL_CATEGORICAL_HINGE, 33, categorical_hinge)              \
    X(FL_KL_PROB, 34, kl_prob)                                  \
    X(FL_KL_LOG, 35, kl_log)                                    \
    X(FL_PSEUDO_HUBER, 36, pseudo_huber)                        \
    X(FL_CONTRASTIVE, 40, contrastive)                          \
    X(FL_TRIPLET, 41, triplet)                                  \
    X(FL_COSINE_EMBEDDING, 42, cosine_embedding)                \
    X(FL_TVERSKY_PROB, 43, tversky_prob)                        \
    X(FL_TVERSKY_LOGIT, 44, tversky_logit)

/*
 * The kernels that also give the diagonal of the second derivative (fl_args.hess), in the same
 * fused pass.  The others (categorical hinge, and the kernels of several inputs) have no
 * diagonal Hessian here and never write through hess.
 */
#define FL_HESSIAN_KERNELS(X)                                   \
    X(FL_MSE) X(FL_MAE) X(FL_HUBER) X(FL_BCE_PROB) X(FL_BCE_LOGIT) X(FL_CCE_PROB)             \
    X(FL_CCE_LOGIT) X(FL_SCCE_PROB) X(FL_SCCE_LOGIT) X(FL_SMOOTH_L1) X(FL_LOG_COSH)           \
    X(FL_QUANTILE) X(FL_POISSON_LOG) X(FL_POISSON_RATE) X(FL_MSLE) X(FL_MAPE)                 \
    X(FL_BINARY_FOCAL_PROB) X(FL_BINARY_FOCAL_LOGIT) X(FL_CATEGORICAL_FOCAL_PROB)             \
    X(FL_CATEGORICAL_FOCAL_LOGIT) X(FL_HINGE) X(FL_SQUARED_HINGE) X(FL_KL_PROB) X(FL_KL_LOG)    \
    X(FL_PSEUDO_HUBER)

#define FL_ENUM_ENTRY(ID, NUMBER, NAME) ID = NUMBER,
enum { FL_KERNELS(FL_ENUM_ENTRY) FL_N_KERNELS = 64 };
#undef FL_ENUM_ENTRY

/*
 * Everything a block function needs.  Pointers may be NULL where the feature is off.
 * `param` holds the loss parameters; each loss documents which slot means what.
 */
typedef struct {
    const void *y_true;          /* targets: y_pred's dtype, or int64 labels for sparse kernels */
    const void *y_pred;          /* predictions, C-contiguous, shape (n_rows, k) */
    void *grad;                  /* d(reduced loss)/d y_pred, same layout; NULL: value only */
    void *hess;                  /* diagonal d2(reduced loss)/d y_pred2, same layout; NULL: not
                                  * asked (only read with grad, by the kernels that have one:
                                  * FL_HESSIAN_KERNELS) */
    void *per_sample;            /* weighted per-sample losses (reduction "none"); NULL: skip */
    const double *sample_weight; /* one per row, or NULL */
    const double *class_weight;  /* one per class (sparse kernels), or NULL */
    ptrdiff_t k;                 /* length of the last axis */
    double scale;                /* gradient scale 1/D of the reduction */
    double param[4];             /* loss parameters */
    int64_t ignore_index;        /* sparse kernels: label to skip */
    int has_ignore;
    /* Kernels of several inputs (ids 40-59); NULL / 0 for the others. */
    const void *x2, *x3;         /* second and third input, laid out like y_pred */
    void *grad2, *grad3;         /* their gradients (NULL when grad is NULL) */
    ptrdiff_t n_classes;         /* segmentation: a row is (k / (n_classes inner), n_classes, */
    ptrdiff_t inner;             /*   inner) - the class axis and what follows it */
} fl_args;

/* Error flags a block function reports (ORed over the blocks by the caller). */
enum {
    FL_ERR_LABEL = 1,       /* a class label outside [0, k) that is not the ignore index */
    FL_ERR_PROB_RANGE = 2,  /* a probability-mode y_pred value outside [0, 1] (NaN is not) */
    FL_ERR_NOMEM = 4        /* a kernel's scratch memory could not be allocated */
};

/* What a kernel's y_pred is: any real number, or a probability (checked for [0, 1]). */
enum { FL_PRED_REAL = 0, FL_PRED_PROB = 1 };

/* What a block function returns: its rows' weighted loss sum, and FL_ERR_* flags. */
typedef struct { double sum; int flags; } fl_result;

typedef fl_result (*fl_block_fn)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1);

/* Two doubles by value: the dtype-independent per-row maths returns these. */
typedef struct { double v, g; } fl_pair;

static inline fl_result fl_result_of(double sum, int flags)
{
    fl_result r;
    r.sum = sum;
    r.flags = flags;
    return r;
}

/* Read a class label exactly once: a concurrent writer cannot make a second read differ from
 * the value that was range-checked. */
static inline int64_t fl_read_label(const int64_t *labels, ptrdiff_t i)
{
    return *(const volatile int64_t *)(labels + i);
}

/* Whether label y is outside [0, C): one unsigned compare (a negative y wraps to a huge one). */
static inline int fl_bad_label(int64_t y, ptrdiff_t C)
{
    return (uint64_t)y >= (uint64_t)C;
}

/* Sum a[0..n) pairwise, in a fixed order: deterministic and accurate. */
static inline double fl_pairwise_sum(const double *a, ptrdiff_t n)
{
    if (n <= 8) {
        double s = 0.0;
        for (ptrdiff_t i = 0; i < n; ++i) s += a[i];
        return s;
    }
    ptrdiff_t h = n / 2;
    return fl_pairwise_sum(a, h) + fl_pairwise_sum(a + h, n - h);
}

/* ---- instantiate the dtype templates ---- */
#define FL_T float
#define FL_SUF f32
#define FL_EXP fl_exp_f32
#define FL_LOG fl_log_f32
#define FL_LOG1P fl_log1p_f32
#define FL_LOG1P_RCP fl_log1p_rcp_f32
#define FL_EXP_EXPM1 fl_exp_expm1_f32
#define FL_EXP_EXPM1_NONPOS fl_exp_expm1_nonpos_f32
#define FL_LOG1P_RCP_BOUNDED fl_log1p_rcp_bounded_f32
#define FL_EXP_EM1_T fl_exp_em1_f32
#define FL_COSHM1_SMALL fl_coshm1_small_f32
#define FL_LOG1P_SMALL fl_log1p_small_f32
#define FL_LOG1P_NODIV fl_log1p_nodiv_f32
#define FL_LOG1P_RCP_GTM1 fl_log1p_rcp_gtm1_f32
#define FL_LOG1P_RCP_GUESS fl_log1p_rcp_guess_f32
#define FL_FABS fabsf
#define FL_FMAX fmaxf
#define FL_SQRT sqrtf
#include "fl_kernels_impl.h"
#undef FL_T
#undef FL_SUF
#undef FL_EXP
#undef FL_LOG
#undef FL_LOG1P
#undef FL_LOG1P_RCP
#undef FL_EXP_EXPM1
#undef FL_EXP_EXPM1_NONPOS
#undef FL_LOG1P_RCP_BOUNDED
#undef FL_EXP_EM1_T
#undef FL_COSHM1_SMALL
#undef FL_LOG1P_SMALL
#undef FL_LOG1P_NODIV
#undef FL_LOG1P_RCP_GTM1
#undef FL_LOG1P_RCP_GUESS
#undef FL_FABS
#undef FL_FMAX
#undef FL_SQRT

#define FL_T double
#define FL_SUF f64
#define FL_EXP fl_exp_f64
#define FL_LOG fl_log_f64
#define FL_LOG1P fl_log1p_f64
#define FL_LOG1P_RCP fl_log1p_rcp_f64
#define FL_EXP_EXPM1 fl_exp_expm1_f64
#define FL_EXP_EXPM1_NONPOS fl_exp_expm1_nonpos_f64
#define FL_LOG1P_RCP_BOUNDED fl_log1p_rcp_bounded_f64
#define FL_EXP_EM1_T fl_exp_em1_f64
#define FL_COSHM1_SMALL fl_coshm1_small_f64
#define FL_LOG1P_SMALL fl_log1p_small_f64
#define FL_LOG1P_NODIV fl_log1p_nodiv_f64
#define FL_LOG1P_RCP_GTM1 fl_log1p_rcp_gtm1_f64
#define FL_LOG1P_RCP_GUESS fl_log1p_rcp_guess_f64
#define FL_FABS fabs
#define FL_FMAX fmax
#define FL_SQRT sqrt
#include "fl_kernels_impl.h"
#undef FL_T
#undef FL_SUF
#undef FL_EXP
#undef FL_LOG
#undef FL_LOG1P
#undef FL_LOG1P_RCP
#undef FL_EXP_EXPM1
#undef FL_EXP_EXPM1_NONPOS
#undef FL_LOG1P_RCP_BOUNDED
#undef FL_EXP_EM1_T
#undef FL_COSHM1_SMALL
#undef FL_LOG1P_SMALL
#undef FL_LOG1P_NODIV
#undef FL_LOG1P_RCP_GTM1
#undef FL_LOG1P_RCP_GUESS
#undef FL_FABS
#undef FL_FMAX
#undef FL_SQRT

/* Block function for (kernel, dtype); dtype 0 = float32, 1 = float64.  NULL if unknown. */
#define FL_TABLE_ENTRY(ID, NUMBER, NAME) [ID] = {fl_##NAME##_f32, fl_##NAME##_f64},
static inline fl_block_fn fl_get_block(int kernel, int is_double)
{
    static const fl_block_fn table[FL_N_KERNELS][2] = { FL_KERNELS(FL_TABLE_ENTRY) };
    if (kernel < 0 || kernel >= FL_N_KERNELS) return NULL;
    return table[kernel][is_double ? 1 : 0];
}
#undef FL_TABLE_ENTRY

/* Whether kernel `kernel` writes the second derivative (FL_HESSIAN_KERNELS). */
#define FL_HESS_ENTRY(ID) [ID] = 1,
static inline int fl_has_hessian(int kernel)
{
    static const unsigned char has[FL_N_KERNELS] = { FL_HESSIAN_KERNELS(FL_HESS_ENTRY) };
    if (kernel < 0 || kernel >= FL_N_KERNELS) return 0;
    return has[kernel];
}
#undef FL_HESS_ENTRY

/* The name of kernel `kernel` (the X-macro's NAME), or NULL if no kernel has that id. */
#define FL_NAME_ENTRY(ID, NUMBER, NAME) [ID] = #NAME,
static inline const char *fl_kernel_name(int kernel)
{
    static const char *const names[FL_N_KERNELS] = { FL_KERNELS(FL_NAME_ENTRY) };
    if (kernel < 0 || kernel >= FL_N_KERNELS) return NULL;
    return names[kernel];
}
#undef FL_NAME_ENTRY

/* Run block b of the plan (rows_per_block rows, the last one shorter) and store its result in
 * its own slots partial[b] and flags[b]: which thread runs it does not matter. */
static inline void fl_run_block(fl_block_fn fn, const fl_args *a, ptrdiff_t b,
                                ptrdiff_t rows_per_block, ptrdiff_t n_rows, double *partial,
                                int *flags)
{
    const ptrdiff_t r0 = b * rows_per_block;
    const ptrdiff_t r1 = r0 + rows_per_block < n_rows ? r0 + rows_per_block : n_rows;
    const fl_result r = fn(a, r0, r1);
    partial[b] = r.sum;
    flags[b] = r.flags;
}

/* OR of flags[0..n): the same whatever the order. */
static inline int fl_or_flags(const int *flags, ptrdiff_t n)
{
    int f = 0;
    for (ptrdiff_t i = 0; i < n; ++i) f |= flags[i];
    return f;
}

/* The kernels' exp/log/log1p/expm1 over an array (which: 0 exp, 1 log, 2 log1p, 3 expm1,
 * 4 log1p_rcp given 1 / (1 + x), 5 coshm1_small, 6 log1p_small, 7 log1p_nodiv, 8 expm1_nonpos,
 * 9 log1p_rcp_bounded given 1 / (1 + x), 10 log1p_rcp_gtm1 given fl_log1p_rcp_guess(x)), for
 * testing their accuracy at every instruction-set level. */
static inline void fl_vmath_apply(int which, int is_double, const void *in, void *out,
                                  ptrdiff_t n)
{
    if (is_double) {
        const double *x = (const double *)in;
        double *y = (double *)out;
        if (which == 0) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_exp_f64(x[i]);
        else if (which == 1) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_log_f64(x[i]);
        else if (which == 2) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_log1p_f64(x[i]);
        else if (which == 3) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_expm1_f64(x[i]);
        else if (which == 4) for (ptrdiff_t i = 0; i < n; ++i)
            y[i] = fl_log1p_rcp_f64(x[i], 1.0 / (1.0 + x[i]));
        else if (which == 5) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_coshm1_small_f64(x[i]);
        else if (which == 6) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_log1p_small_f64(x[i]);
        else if (which == 7) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_log1p_nodiv_f64(x[i]);
        else if (which == 8) for (ptrdiff_t i = 0; i < n; ++i)
            y[i] = fl_exp_expm1_nonpos_f64(x[i]).em1;
        else if (which == 9) for (ptrdiff_t i = 0; i < n; ++i)
            y[i] = fl_log1p_rcp_bounded_f64(x[i], 1.0 / (1.0 + x[i]));
        else for (ptrdiff_t i = 0; i < n; ++i)
            y[i] = fl_log1p_rcp_gtm1_f64(x[i], fl_log1p_rcp_guess_f64(x[i]));
    } else {
        const float *x = (const float *)in;
        float *y = (float *)out;
        if (which == 0) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_exp_f32(x[i]);
        else if (which == 1) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_log_f32(x[i]);
        else if (which == 2) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_log1p_f32(x[i]);
        else if (which == 3) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_expm1_f32(x[i]);
        else if (which == 4) for (ptrdiff_t i = 0; i < n; ++i)
            y[i] = fl_log1p_rcp_f32(x[i], 1.0f / (1.0f + x[i]));
        else if (which == 5) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_coshm1_small_f32(x[i]);
        else if (which == 6) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_log1p_small_f32(x[i]);
        else if (which == 7) for (ptrdiff_t i = 0; i < n; ++i) y[i] = fl_log1p_nodiv_f32(x[i]);
        else if (which == 8) for (ptrdiff_t i = 0; i < n; ++i)
            y[i] = fl_exp_expm1_nonpos_f32(x[i]).em1;
        else if (which == 9) for (ptrdiff_t i = 0; i < n; ++i)
            y[i] = fl_log1p_rcp_bounded_f32(x[i], 1.0f / (1.0f + x[i]));
        else for (ptrdiff_t i = 0; i < n; ++i)
            y[i] = fl_log1p_rcp_gtm1_f32(x[i], fl_log1p_rcp_guess_f32(x[i]));
    }
}

/* Variants compiled for wider instruction sets (fl_isa_*.c), when the build made them. */
#include "fl_isa.h"
#if FL_HAVE_AVX2
fl_block_fn fl_get_block_avx2(int kernel, int is_double);
void fl_vmath_apply_avx2(int which, int is_double, const void *in, void *out, ptrdiff_t n);
#else
static fl_block_fn fl_get_block_avx2(int kernel, int is_double)
{ (void)kernel; (void)is_double; return NULL; }
static void fl_vmath_apply_avx2(int w, int d, const void *i, void *o, ptrdiff_t n)
{ (void)w; (void)d; (void)i; (void)o; (void)n; }
#endif
#if FL_HAVE_AVX512
fl_block_fn fl_get_block_avx512(int kernel, int is_double);
void fl_vmath_apply_avx512(int which, int is_double, const void *in, void *out, ptrdiff_t n);
#else
static fl_block_fn fl_get_block_avx512(int kernel, int is_double)
{ (void)kernel; (void)is_double; return NULL; }
static void fl_vmath_apply_avx512(int w, int d, const void *i, void *o, ptrdiff_t n)
{ (void)w; (void)d; (void)i; (void)o; (void)n; }
#endif

#endif /* FASTLOSS_KERNELS_H */
