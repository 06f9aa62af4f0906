/*
 * The dtype template of fl_kernels.h: included once per floating type with
 *   FL_T (float|double), FL_SUF (f32|f64) and the maths names FL_EXP, FL_LOG, FL_LOG1P,
 *   FL_LOG1P_RCP, FL_EXP_EXPM1 (returning an FL_EXP_EM1_T {e, em1}), FL_COSHM1_SMALL,
 *   FL_LOG1P_SMALL, FL_LOG1P_NODIV, FL_EXP_EXPM1_NONPOS, FL_LOG1P_RCP_BOUNDED,
 *   FL_LOG1P_RCP_GTM1, FL_LOG1P_RCP_GUESS (fl_vmath.h),
 *   FL_FABS, FL_FMAX, FL_SQRT defined.  Do not include directly.
 *
 * Conventions of every per-element function `FL_FN(<loss>_elem)(t, p, a)`:
 *   returns, by value, FL_FN(vgh) {v, g, h}: the loss of one element, d loss / d p and
 *   d2 loss / d p2 (the loops read h only when a second derivative is asked, so a call
 *   without one never computes it);
 *   written branch-free (selects), so the loops around them vectorise;
 *   a NaN input gives a NaN loss and a NaN gradient;
 *   a term whose coefficient is exactly 0 contributes 0 even where its log is infinite.
 *
 * One file per family; a new family adds its #include here and its kernels to FL_KERNELS in
 * fl_kernels.h.
 */
#include "fl_loops_impl.h"
#include "fl_regression_impl.h"
#include "fl_classification_impl.h"
#include "fl_embedding_impl.h"
#include "fl_segmentation_impl.h"
#include "fl_distribution_impl.h"
