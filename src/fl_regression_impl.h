/*
 * Regression losses: per-element maths (dtype template, see fl_kernels_impl.h).
 * Each `FL_FN(<name>_elem)(t, p, a, &g)` returns the loss of one element and stores
 * d loss / d p in *g; FL_ELEMENTWISE_KERNEL(<name>, 1) makes its block function (per-sample
 * loss = mean over the last axis).
 */

/* mse: (p - t)^2 */
FL_INLINE FL_T FL_FN(mse_elem)(FL_T t, FL_T p, const fl_args *a, FL_T *g)
{
    (void)a;
    const FL_T d = p - t;
    *g = (FL_T)2 * d;
    return d * d;
}

/* mae: |p - t|, subgradient 0 at 0 */
FL_INLINE FL_T FL_FN(mae_elem)(FL_T t, FL_T p, const fl_args *a, FL_T *g)
{
    (void)a;
    const FL_T d = p - t;
    *g = FL_FN(sign)(d);
    return FL_FABS(d);
}

/* huber, param[0] = delta:  0.5 d^2 if |d| <= delta, else delta (|d| - 0.5 delta) */
FL_INLINE FL_T FL_FN(huber_elem)(FL_T t, FL_T p, const fl_args *a, FL_T *g)
{
    const FL_T delta = (FL_T)a->param[0];
    const FL_T d = p - t;
    const FL_T ad = FL_FABS(d);
    const int quad = ad <= delta;
    *g = quad ? d : delta * FL_FN(sign)(d);
    return quad ? (FL_T)0.5 * d * d : delta * (ad - (FL_T)0.5 * delta);
}

FL_ELEMENTWISE_KERNEL(mse, 1)
FL_ELEMENTWISE_KERNEL(mae, 1)
FL_ELEMENTWISE_KERNEL(huber, 1)
