/*
 * Regression losses: per-element maths (dtype template, see fl_kernels_impl.h).
 * Each `FL_FN(<name>_elem)(t, p, a)` returns {loss, d loss / d p, d2 loss / d p2} of one element
 * by value (the exact second derivative: 0 where the loss is piecewise linear, 0 at a kink);
 * FL_ELEMENTWISE_KERNEL(<name>, 1, FL_PRED_REAL) makes its block function (per-sample loss =
 * mean over the last axis).
 */

/* mse: (p - t)^2, second derivative 2 */
FL_INLINE FL_FN(vgh) FL_FN(mse_elem)(FL_T t, FL_T p, const fl_args *a)
{
    (void)a;
    const FL_T d = p - t;
    const FL_T g = (FL_T)2 * d;
    return FL_FN(vgh_of)(d * d, g, FL_FN(keepnan)((FL_T)2, d));
}

/* mae: |p - t|, subgradient 0 at 0; second derivative 0 */
FL_INLINE FL_FN(vgh) FL_FN(mae_elem)(FL_T t, FL_T p, const fl_args *a)
{
    (void)a;
    const FL_T d = p - t;
    const FL_T g = FL_FN(sign)(d);
    return FL_FN(vgh_of)(FL_FABS(d), g, FL_FN(keepnan)((FL_T)0, d));   /* 0, also at the kink */
}

/* huber, param[0] = delta:  0.5 d^2 if |d| <= delta, else delta (|d| - 0.5 delta);
 * second derivative 1, or 0 */
FL_INLINE FL_FN(vgh) FL_FN(huber_elem)(FL_T t, FL_T p, const fl_args *a)
{
    const FL_T delta = (FL_T)a->param[0];
    const FL_T d = p - t;
    const FL_T ad = FL_FABS(d);
    const int quad = ad <= delta;
    const FL_T g = quad ? d : delta * FL_FN(sign)(d);
    const FL_T h = FL_FN(keepnan)(quad ? (FL_T)1 : (FL_T)0, d);
    return FL_FN(vgh_of)(quad ? (FL_T)0.5 * d * d : delta * (ad - (FL_T)0.5 * delta), g, h);
}

FL_ELEMENTWISE_KERNEL(mse, 1, FL_PRED_REAL)
FL_ELEMENTWISE_KERNEL(mae, 1, FL_PRED_REAL)
FL_ELEMENTWISE_KERNEL(huber, 1, FL_PRED_REAL)

/*
 * smooth_l1, param[0] = beta >= 0 (PyTorch's SmoothL1Loss), d = p - t:
 *   0.5 d^2 / beta if |d| < beta, else |d| - 0.5 beta;   gradient d / beta, or sign(d);
 *   second derivative 1 / beta, or 0.
 * beta = 0 is the absolute error: the quadratic branch is then never selected.
 */
FL_INLINE FL_FN(vgh) FL_FN(smooth_l1_elem)(FL_T t, FL_T p, const fl_args *a)
{
    const FL_T beta = (FL_T)a->param[0];
    const FL_T d = p - t;
    const FL_T ad = FL_FABS(d);
    const int quad = ad < beta;
    const FL_T g = quad ? d / beta : FL_FN(sign)(d);
    const FL_T h = FL_FN(keepnan)(quad ? (FL_T)1 / beta : (FL_T)0, d);
    return FL_FN(vgh_of)(quad ? (FL_T)0.5 * d * d / beta : ad - (FL_T)0.5 * beta, g, h);
}

/*
 * log_cosh: log(cosh(d)), gradient tanh(d), second derivative sech^2(d) = 4 e^2 / (1 + e^2)^2,
 * d = p - t; a few ulp everywhere, no overflow.  With e = exp(-|d|):
 *   log(cosh d) = log1p(cosh d - 1),  cosh d - 1 = 2 sinh^2(d / 2)          for |d| < 2,
 *   log(cosh d) = |d| - log 2 + log1p(e^2)                                  for |d| >= 2
 *   (the second never overflows; the first has no cancellation near 0, where the textbook
 *   |d| + log1p(exp(-2|d|)) - log 2 loses every digit), and
 *   tanh|d| = om (1 + e) / (1 + e^2),  om = 1 - e = -expm1(-|d|) (no cancellation near 0).
 * Written for a short chain of dependent operations, which is what limits this loop (it
 * vectorises; a chain of exp, division and log, one after the other, left the vector units
 * waiting): cosh d - 1 is a polynomial in d (FL_COSHM1_SMALL) and log1p(e^2 <= e^-4) a short
 * series (FL_LOG1P_SMALL), so the one log does not wait for the exp, and one division
 * q = 1 / (1 + e^2) serves tanh, sech d = 2 e q and the rounding correction of log1p, whose
 * 1 / (1 + x) is sech d.  (e and om come from one argument reduction.)  The exp and the log1p
 * are the variants cut to the domain they get here (-|d| <= 0 and 0 <= cosh d - 1 < 3):
 * without the selects for special values that cannot arise, a third of their work.
 */
FL_INLINE FL_FN(vgh) FL_FN(log_cosh_elem)(FL_T t, FL_T p, const fl_args *a)
{
    (void)a;
    const FL_T d = p - t;
    const FL_T ad = FL_FABS(d);
    const int small = ad < (FL_T)2;
    const FL_EXP_EM1_T ee = FL_EXP_EXPM1_NONPOS(-ad);
    const FL_T e = ee.e;
    const FL_T om = -ee.em1;
    const FL_T e2 = e * e;
    const FL_T q = (FL_T)1 / ((FL_T)1 + e2);
    const FL_T sech = (FL_T)2 * e * q;
    const FL_T g = FL_FN(sign)(d) * (om * ((FL_T)1 + e) * q);
    const FL_T v_small = FL_LOG1P_RCP_BOUNDED(FL_COSHM1_SMALL(small ? d : (FL_T)0), sech);
    const FL_T v_large = (ad - (FL_T)0.6931471805599453) + FL_LOG1P_SMALL(e2);
    const FL_T h = sech * sech;   /* sech^2 d = 1 - tanh^2 d, no cancellation */
    return FL_FN(vgh_of)(small ? v_small : v_large, g, h);
}

/*
 * quantile (pinball) loss, param[0] = q in (0, 1), d = t - p (scikit-learn's
 * mean_pinball_loss):
 *   q d if d >= 0, else (q - 1) d;   d/dp = -q if d > 0, 1 - q if d < 0, 0 at d = 0
 * (the subgradient 0 at the kink, as mae; q = 0.5 is half the absolute error exactly);
 * second derivative 0.
 */
FL_INLINE FL_FN(vgh) FL_FN(quantile_elem)(FL_T t, FL_T p, const fl_args *a)
{
    const FL_T q = (FL_T)a->param[0];
    const FL_T d = t - p;
    const FL_T g = d > 0 ? -q : (d < 0 ? (FL_T)1 - q : d);   /* d: 0 at the kink, NaN for NaN */
    return FL_FN(vgh_of)(d >= 0 ? q * d : (q - (FL_T)1) * d, g, FL_FN(keepnan)((FL_T)0, d));
}

/* Stirling's approximation of log(t!) - (t log t - t) for PyTorch's full=True: only t > 1. */
FL_INLINE FL_T FL_FN(poisson_stirling)(FL_T t)
{
    const FL_T lt = FL_LOG(t);
    const FL_T s = t * lt - t + (FL_T)0.5 * (lt + (FL_T)1.8378770664093453); /* log(2 pi) */
    return t > (FL_T)1 ? s : (FL_T)0;
}

/*
 * poisson negative log-likelihood on the log-rate z (PyTorch's log_input=True):
 *   exp(z) - t z,   d/dz = exp(z) - t,   d2/dz2 = exp(z).
 * The t z term is 0 when t = 0 (so z = -inf gives 0, not NaN) and z = +inf gives +inf (not
 * inf - inf).  param[1] != 0 (full) adds the Stirling term of t, which has no gradient.
 */
FL_INLINE FL_FN(vgh) FL_FN(poisson_log_elem)(FL_T t, FL_T z, const fl_args *a)
{
    (void)a;
    const FL_T ez = FL_EXP(z);
    const FL_T g = ez - t;
    const FL_T l = ez - FL_FN(zmul)(t, z);
    return FL_FN(vgh_of)(z < (FL_T)INFINITY ? l : z, g, ez);
}

FL_INLINE FL_FN(vgh) FL_FN(poisson_log_full_elem)(FL_T t, FL_T z, const fl_args *a)
{
    FL_FN(vgh) r = FL_FN(poisson_log_elem)(t, z, a);
    r.v += FL_FN(poisson_stirling)(t);
    return r;
}

/*
 * poisson negative log-likelihood on the rate p (PyTorch's log_input=False), param[0] = eps:
 *   p - t log(p + eps),   d/dp = 1 - t / (p + eps),   d2/dp2 = t / (p + eps)^2;
 * the log term is 0 when t = 0; p = +inf gives +inf.  param[1] != 0 (full): Stirling term.
 */
FL_INLINE FL_FN(vgh) FL_FN(poisson_rate_elem)(FL_T t, FL_T p, const fl_args *a)
{
    const FL_T q = p + (FL_T)a->param[0];
    const FL_T g = (p == p ? (FL_T)1 : p) - (t != 0 ? t / q : (FL_T)0);
    const FL_T l = p - (t != 0 ? t * FL_LOG(q) : (FL_T)0);
    const FL_T h = FL_FN(keepnan)(t != 0 ? t / q / q : (FL_T)0, p);   /* t / (p + eps)^2 */
    return FL_FN(vgh_of)(p < (FL_T)INFINITY ? l : p, g, h);
}

FL_INLINE FL_FN(vgh) FL_FN(poisson_rate_full_elem)(FL_T t, FL_T p, const fl_args *a)
{
    FL_FN(vgh) r = FL_FN(poisson_rate_elem)(t, p, a);
    r.v += FL_FN(poisson_stirling)(t);
    return r;
}

/*
 * msle: (log1p(p) - log1p(t))^2,   d/dp = 2 (log1p(p) - log1p(t)) / (1 + p),
 *   d2/dp2 = 2 (1 - (log1p(p) - log1p(t))) / (1 + p)^2;
 * one division 1 / (1 + p) serves log1p(p)'s rounding correction and both derivatives, and
 * log1p(t) needs none (FL_LOG1P_RCP_GUESS); both logs are the variant for arguments > -1,
 * which the Python layer has checked (FL_LOG1P_RCP_GTM1: fewer selects);
 * p = +inf gives loss +inf and gradient and second derivative 0 (the limits).  Values <= -1 are refused by the
 * Python layer (scikit-learn's rule); here they would give NaN or inf, never a bad read.
 */
FL_INLINE FL_FN(vgh) FL_FN(msle_elem)(FL_T t, FL_T p, const fl_args *a)
{
    (void)a;
    const FL_T rp = (FL_T)1 / ((FL_T)1 + p);
    const FL_T d = FL_LOG1P_RCP_GTM1(p, rp) - FL_LOG1P_RCP_GTM1(t, FL_LOG1P_RCP_GUESS(t));
    const FL_T gd = (FL_T)2 * d * rp;
    const FL_T g = p < (FL_T)INFINITY ? gd : (d == d ? (FL_T)0 : d);
    const FL_T hd = (FL_T)2 * ((FL_T)1 - d) * rp * rp;
    const FL_T h = p < (FL_T)INFINITY ? hd : (d == d ? (FL_T)0 : d);
    return FL_FN(vgh_of)(d * d, g, h);
}

/*
 * mape, param[0] = epsilon > 0, param[1] = scale (1: a fraction, as scikit-learn; 100: percent,
 * as Keras):
 *   scale |p - t| / max(|t|, epsilon),   d/dp = scale sign(p - t) / max(|t|, epsilon),
 *   second derivative 0.
 */
FL_INLINE FL_FN(vgh) FL_FN(mape_elem)(FL_T t, FL_T p, const fl_args *a)
{
    const FL_T eps = (FL_T)a->param[0];
    const FL_T at = FL_FABS(t);
    const FL_T s = (FL_T)a->param[1] / (at > eps ? at : eps);  /* NaN t: the difference is NaN */
    const FL_T d = p - t;
    const FL_T g = s * FL_FN(sign)(d);
    return FL_FN(vgh_of)(s * FL_FABS(d), g, FL_FN(keepnan)((FL_T)0, g));
}

/*
 * pseudo_huber, param[0] = delta > 0 (XGBoost's reg:pseudohubererror with huber_slope = delta),
 * d = p - t, x = |d| / delta, r = sqrt(1 + x^2):
 *   delta^2 (r - 1),   d/dp = d / r,   d2/dp2 = 1 / r^3.
 * Written with one sqrt of a value in [1, 2] so that nothing cancels near 0 and nothing
 * overflows for large |d|: with u = min(x, 1 / x) and s = sqrt(1 + u^2), r = s (x <= 1) or
 * x s (x > 1), and r - 1 = x^2 / (r + 1), x / (r + 1) = x / (s + 1) or 1 / (s + u).
 */
FL_INLINE FL_FN(vgh) FL_FN(pseudo_huber_elem)(FL_T t, FL_T p, const fl_args *a)
{
    const FL_T delta = (FL_T)a->param[0];
    const FL_T d = p - t;
    const FL_T x = FL_FABS(d) / delta;
    const int big = x > (FL_T)1;
    const FL_T u = big ? (FL_T)1 / x : x;              /* in [0, 1] */
    const FL_T s = FL_SQRT((FL_T)1 + u * u);           /* in [1, sqrt 2] */
    const FL_T x_over_r = big ? (FL_T)1 / s : x / s;
    const FL_T x_over_r1 = big ? (FL_T)1 / (s + u) : x / (s + (FL_T)1);
    const FL_T inv_r = big ? u / s : (FL_T)1 / s;
    const FL_T g = FL_FN(sign)(d) * delta * x_over_r;
    return FL_FN(vgh_of)(delta * delta * x * x_over_r1, g, inv_r * inv_r * inv_r);
}

FL_ELEMENTWISE_KERNEL(pseudo_huber, 1, FL_PRED_REAL)
FL_ELEMENTWISE_KERNEL(smooth_l1, 1, FL_PRED_REAL)
FL_ELEMENTWISE_KERNEL(log_cosh, 1, FL_PRED_REAL)
FL_ELEMENTWISE_KERNEL(quantile, 1, FL_PRED_REAL)
FL_ELEMENTWISE_KERNEL(msle, 1, FL_PRED_REAL)
FL_ELEMENTWISE_KERNEL(mape, 1, FL_PRED_REAL)

/* Poisson: param[1] (full) picks the loop once per block, not a select per element. */
static fl_result FL_FN(poisson_log)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    return a->param[1] != 0.0
        ? FL_FN(elem_block)(FL_FN(poisson_log_full_elem), a, r0, r1, 1, FL_PRED_REAL)
        : FL_FN(elem_block)(FL_FN(poisson_log_elem), a, r0, r1, 1, FL_PRED_REAL);
}

static fl_result FL_FN(poisson_rate)(const fl_args *a, ptrdiff_t r0, ptrdiff_t r1)
{
    return a->param[1] != 0.0
        ? FL_FN(elem_block)(FL_FN(poisson_rate_full_elem), a, r0, r1, 1, FL_PRED_REAL)
        : FL_FN(elem_block)(FL_FN(poisson_rate_elem), a, r0, r1, 1, FL_PRED_REAL);
}
