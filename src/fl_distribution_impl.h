/*
 * Distribution losses (dtype template, see fl_kernels_impl.h): the Kullback-Leibler divergence
 * between target rows t and predicted rows q.  The per-sample loss sums over the class axis,
 * so these are elementwise kernels with FL_ELEMENTWISE_KERNEL(<name>, 0) semantics.
 *
 *   pointwise  t (log t - log q),   t log t = 0 at t = 0 (PyTorch's xlogy)
 *
 * y_pred holds probabilities (clipped to [eps, 1], param[0] = eps) or log-probabilities
 * (log_input: no clip); y_true holds probabilities or, with param[1] != 0 (log_target),
 * log-probabilities lt, t = exp(lt), where lt = -inf is a class with t = 0 that contributes
 * exactly 0 (PyTorch gives 0 * -inf = NaN there).
 */

/* probabilities: d/dp = -t / q, d2/dp2 = t / q^2 inside the clip [eps, 1], 0 outside it. */
FL_INLINE FL_FN(vgh) FL_FN(kl_prob_elem)(FL_T t, FL_T p, const fl_args *a)
{
    const FL_T eps = (FL_T)a->param[0];
    const FL_T q = FL_FN(clip)(p, eps, (FL_T)1);
    const int inside = p >= eps && p <= (FL_T)1;
    const FL_T g = inside ? -t / q : (p == p ? (FL_T)0 : p);
    const FL_T h = inside ? t / (q * q) : (p == p ? (FL_T)0 : p);
    return FL_FN(vgh_of)(FL_FN(xlogx)(t) - t * FL_LOG(q), g, h);
}

FL_INLINE FL_FN(vgh) FL_FN(kl_prob_log_target_elem)(FL_T lt, FL_T p, const fl_args *a)
{
    const FL_T eps = (FL_T)a->param[0];
    const FL_T t = FL_EXP(lt);
    const FL_T q = FL_FN(clip)(p, eps, (FL_T)1);
    const int inside = p >= eps && p <= (FL_T)1;
    const FL_T g = inside ? -t / q : (p == p ? (FL_T)0 : p);
    const FL_T h = inside ? t / (q * q) : (p == p ? (FL_T)0 : p);
    return FL_FN(vgh_of)(FL_FN(zmul)(t, lt) - t * FL_LOG(q), g, h);
}

/* log-probabilities z: t (log t - z),  d/dz = -t,  d2/dz2 = 0;  the t z term is 0 where t = 0. */
FL_INLINE FL_FN(vgh) FL_FN(kl_log_elem)(FL_T t, FL_T z, const fl_args *a)
{
    (void)a;
    const FL_T g = z == z ? -t : z;
    return FL_FN(vgh_of)(FL_FN(xlogx)(t) - FL_FN(zmul)(t, z), g, FL_FN(keepnan)((FL_T)0, z));
}

FL_INLINE FL_FN(vgh) FL_FN(kl_log_log_target_elem)(FL_T lt, FL_T z, const fl_args *a)
{
    (void)a;
    const FL_T t = FL_EXP(lt);
    const FL_T g = z == z ? -t : z;
    return FL_FN(vgh_of)(FL_FN(zmul)(t, lt) - FL_FN(zmul)(t, z), g, FL_FN(keepnan)((FL_T)0, z));
}

/* param[1] (log_target) picks the loop once per block.  kl_prob takes probabilities: a
 * y_pred value outside [0, 1] is reported (FL_ERR_PROB_RANGE). */
static fl_result FL_FN(kl_prob)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    return a->param[1] != 0.0
        ? FL_FN(elem_block)(FL_FN(kl_prob_log_target_elem), a, r0, r1, 0, FL_PRED_PROB)
        : FL_FN(elem_block)(FL_FN(kl_prob_elem), a, r0, r1, 0, FL_PRED_PROB);
}

static fl_result FL_FN(kl_log)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    return a->param[1] != 0.0
        ? FL_FN(elem_block)(FL_FN(kl_log_log_target_elem), a, r0, r1, 0, FL_PRED_REAL)
        : FL_FN(elem_block)(FL_FN(kl_log_elem), a, r0, r1, 0, FL_PRED_REAL);
}
