/*
 * Branch-free exp, expm1, log and log1p for float and double that compilers vectorise, and
 * variants cut to the domains some losses give them.
 *
 * Why: glibc's exp/log are scalar calls unless the whole program is built with -ffast-math,
 * which fastloss refuses (it breaks NaN/inf and changes the process's FPU mode).  These are
 * plain arithmetic on values and their bit patterns, so the loops calling them vectorise.
 *
 * Method (textbook, see e.g. J.-M. Muller, "Elementary Functions", ch. 11):
 *   exp(x)  = 2^n * exp(r),  n = round(x / ln 2),  r = x - n ln 2 (ln 2 split in a hi part
 *             exact in n*hi and a lo part), |r| <= ln2/2, exp(r) by its Taylor polynomial
 *             (degree 7 for float, 13 for double: truncation < 2^-26 resp. 2^-55 relative).
 *             2^n is assembled in the exponent field in two factors, so results that are
 *             subnormal (or up to the largest finite value) are exact scalings.
 *   log(x)  = e ln 2 + log(m),  x = m 2^e with m in [sqrt(1/2), sqrt(2)).  float:
 *             log(m) = f - f^2/2 + f^3 P(f), f = m - 1, P a degree-8 least-squares fit
 *             (tools/fit_log_poly.py), no division.  double: log(m) = 2 atanh(s),
 *             s = (m - 1)/(m + 1), |s| < 0.1716, odd series to s^21.
 *             Subnormal x is first scaled by 2^K.
 *   log1p(x) = log(u) + (x - (u - 1)) / u with u = 1 + x: the correction recovers the
 *             rounding of 1 + x (the compiler may not reassociate it: no -ffast-math).
 *             fl_log1p_rcp takes 1 / u from the caller, who often has it already (a vector
 *             division costs as much as a dozen FMAs): it only scales the correction, so a
 *             few ULP of error in it do not show.  fl_log1p_nodiv needs no division at
 *             all: the correction c is at most half an ULP of u, so a relative error
 *             delta in 1 / u moves the result by delta |c|, under 0.1 ULP of log1p(x) when
 *             delta <= 0.2 |log1p(x)|.  1 / u is 1 - x + x^2 for |x| < 1/4 (delta = |x|^3 /
 *             u <= 2.1%), else a bit-pattern guess and one Newton step (delta < 2%); 0
 *             where 1 + x is exact (x <= -1/2) or the correction is below 0.05 ULP of
 *             log u (u >= 2^24 resp. 2^53), which keeps the guess in its range.
 *   expm1(x) = 2^n expm1(r) + (2^n - 1), from exp's own reduction and polynomial
 *             (expm1(r) = exp(r) - 1 before the 1 is added); exact scalings and no
 *             cancellation for |n| <= 100, and exp(x) - 1 beyond, where that is exact.
 *             fl_exp_expm1 returns both exp(x) (bitwise fl_exp's) and expm1(x) for the
 *             price of one: 1 - exp(-|d|) without cancellation near 0 for log-cosh.
 * Special values are selected explicitly: NaN -> NaN, exp(+inf) = inf, exp(-inf) = 0,
 * overflow -> inf, underflow -> 0, log(0) = -inf, log(x < 0) = NaN, log(inf) = inf,
 * log1p(-1) = -inf, log1p(x < -1) = NaN, expm1(+inf) = inf, expm1(-inf) = -1, expm1(+-0) =
 * +-0.  Accuracy against libm is tested over the whole float range (tests/test_vmath.py):
 * a few ULP at most; the functions below of bounded domain are tested on their domain.
 * Two polynomials on a bounded domain, for log-cosh, where they take the place of an exp
 * or a log on the chain of dependent operations (once a loop vectorises, such a chain, or
 * then the sheer count of vector operations, is what limits it):
 *   coshm1_small(x) = cosh(x) - 1 = 2 sinh^2(x / 2) for |x| <= 2, sinh(h) = h S(h^2) with S
 *             the Taylor series of sinh(h) / h to h^10 (float) or h^18 (double), truncation
 *             < 2^-32 resp. 2^-65 relative on |h| <= 1; no exp, so no wait for one.
 *   log1p_small(y) = log1p(y) for 0 <= y <= 1/32, the alternating series to y^5 (float) or
 *             y^11 (double): truncation < 2^-27 resp. 2^-58 relative; no log.
 * And two of the functions above cut to the domain log-cosh gives them, where the special
 * cases cannot arise and their selects (a third of the work) go:
 *   exp_expm1_nonpos(x) for x <= 0 or NaN: fl_exp_expm1's values bitwise, but for the
 *             sign of expm1(-0) (below n = -100, 2^-100 pm1 + (2^-100 - 1) rounds to -1 as
 *             exp(x) - 1 does, so no select is needed);
 *   log1p_rcp_bounded(x, r) for 0 <= x <= 4: fl_log1p_rcp's algorithm without the
 *             subnormal, zero, negative, infinite and NaN cases.
 * And for msle, whose inputs the Python layer has checked to be > -1: log1p_rcp_gtm1(x, r)
 * for x > -1, +inf or NaN, fl_log1p_rcp's arithmetic with two selects instead of ten
 * (1 + x >= 2^-24 resp. 2^-53 is never subnormal); x <= -1 gives NaN, and -0 gives +0.
 * fl_log1p_rcp_guess(x) is the division-free 1 / (1 + x) of fl_log1p_nodiv.
 */
#ifndef FASTLOSS_VMATH_H
#define FASTLOSS_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define FL_VM_INLINE static inline __attribute__((always_inline))
#else
#define FL_VM_INLINE static inline
#endif

FL_VM_INLINE uint32_t fl_bits_f32(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
FL_VM_INLINE float fl_from_bits_f32(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }
FL_VM_INLINE uint64_t fl_bits_f64(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
FL_VM_INLINE double fl_from_bits_f64(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }

/* ---------------------------------- float ------------------------------------------- */

/* exp(x) and expm1(x) of one argument reduction (see the header). */
typedef struct { float e, em1; } fl_exp_em1_f32;

/* exp's argument reduction, polynomial and scaling for a clamped argument xc (in
 * [lo_lim, hi_lim], not NaN): expm1(r), the unselected exp(xc) and n.  Shared by every exp
 * variant; they differ only in their clamps and special-value selects. */
typedef struct { float pm1, y; int32_t n; } fl_exp_parts_f32;

FL_VM_INLINE fl_exp_parts_f32 fl_exp_core_f32(float xc)
{
    const float magic = 12582912.0f;             /* 1.5 * 2^23: adding it rounds to integer */
    const float log2e = 1.44269502162933349609f;
    const float ln2_hi = 0.693145751953125f;     /* 16 significant bits: n * hi is exact */
    const float ln2_lo = 1.428606765330187045e-06f;
    const float v = xc * log2e + magic;
    const float fn = v - magic;
    const int32_t n = (int32_t)(fl_bits_f32(v) - fl_bits_f32(magic));
    const float r = (xc - fn * ln2_hi) - fn * ln2_lo;
    float q = 1.0f / 5040.0f;
    q = q * r + 1.0f / 720.0f;
    q = q * r + 1.0f / 120.0f;
    q = q * r + 1.0f / 24.0f;
    q = q * r + 1.0f / 6.0f;
    q = q * r + 0.5f;
    fl_exp_parts_f32 out;
    out.pm1 = (q * r) * r + r;                   /* expm1(r) */
    const float er = out.pm1 + 1.0f;
    const int32_t n1 = n >> 1, n2 = n - n1;      /* 2^n = 2^n1 * 2^n2, both normal */
    const float s1 = fl_from_bits_f32((uint32_t)(n1 + 127) << 23);
    const float s2 = fl_from_bits_f32((uint32_t)(n2 + 127) << 23);
    out.y = (er * s1) * s2;
    out.n = n;
    return out;
}

FL_VM_INLINE fl_exp_em1_f32 fl_exp_expm1_f32(float x)
{
    const float hi_lim = 88.72283935546875f;     /* exp(x) overflows above (largest float) */
    const float lo_lim = -103.97208404541016f;   /* exp(x) rounds to 0 below */
    /* clamp into range (NaN becomes 0 here and is restored at the end) */
    float xc = x > hi_lim ? hi_lim : x;
    xc = xc < lo_lim ? lo_lim : xc;
    xc = x == x ? xc : 0.0f;
    const fl_exp_parts_f32 c = fl_exp_core_f32(xc);
    const int32_t n = c.n;
    float y = c.y;
    y = x > hi_lim ? INFINITY : y;
    y = x < lo_lim ? 0.0f : y;
    y = x == x ? y : x;
    /* expm1: 2^n pm1 + (2^n - 1) with one normal scale while |n| <= 100 */
    const int32_t nc = n > 100 ? 100 : (n < -100 ? -100 : n);
    const float sc = fl_from_bits_f32((uint32_t)(nc + 127) << 23);
    float m = sc * c.pm1 + (sc - 1.0f);
    m = n == nc ? m : y - 1.0f;
    m = fabsf(x) < 2.9802322e-08f ? x : m;       /* below 2^-25 expm1(x) = x; keeps -0 */
    fl_exp_em1_f32 res;
    res.e = y;
    res.em1 = x == x ? m : x;
    return res;
}

FL_VM_INLINE float fl_exp_f32(float x)
{
    return fl_exp_expm1_f32(x).e;
}

FL_VM_INLINE float fl_expm1_f32(float x)
{
    return fl_exp_expm1_f32(x).em1;
}

/* e ln 2 + log(m) for a positive normal u = m 2^e (e lowered by e_shift for a pre-scaled
 * argument): log's reduction and polynomial, shared by every log variant, which differ only
 * in their scaling and special-value selects. */
FL_VM_INLINE float fl_log_core_f32(float u, int32_t e_shift)
{
    const float ln2_hi = 0.693145751953125f;
    const float ln2_lo = 1.428606765330187045e-06f;
    const uint32_t b = fl_bits_f32(u);
    int32_t e = (int32_t)((b >> 23) & 0xff) - 127 - e_shift;
    float m = fl_from_bits_f32((b & 0x007fffffu) | 0x3f800000u);   /* [1, 2) */
    const int big = m > 1.41421356f;
    m = big ? 0.5f * m : m;
    e = big ? e + 1 : e;
    /* log(1 + f) = f - f^2/2 + f^3 P(f), P of degree 8 fitted on the reduced range by
     * tools/fit_log_poly.py (no division: a vector division costs more than 8 FMAs) */
    const float f = m - 1.0f;
    float q = 0.06800912320613861f;
    q = q * f - 0.11726605147123337f;
    q = q * f + 0.11890989542007446f;
    q = q * f - 0.12396445125341415f;
    q = q * f + 0.14217762649059296f;
    q = q * f - 0.16668511927127838f;
    q = q * f + 0.20002245903015137f;
    q = q * f - 0.25f;
    q = q * f + 0.3333331048488617f;
    const float f2 = f * f;
    const float logm = (f - 0.5f * f2) + f2 * f * q;
    const float fe = (float)e;
    return fe * ln2_hi + (logm + fe * ln2_lo);
}

FL_VM_INLINE float fl_log_f32(float x)
{
    const int sub = x < 1.17549435e-38f;          /* subnormal (or <= 0): scale by 2^24 */
    const float xs = sub ? x * 16777216.0f : x;
    float y = fl_log_core_f32(xs, sub ? 24 : 0);
    y = x == INFINITY ? INFINITY : y;
    y = x == 0.0f ? -INFINITY : y;
    y = x < 0.0f ? NAN : y;
    return x == x ? y : x;
}

/* log1p(x) given r = 1 / (1 + x) to a few ULP (see the header); special values as log1p. */
FL_VM_INLINE float fl_log1p_rcp_f32(float x, float r)
{
    const float u = 1.0f + x;
    const float c = (x - (u - 1.0f)) * r;
    float y = fl_log_f32(u) + c;
    y = u == 0.0f ? -INFINITY : y;
    y = x == INFINITY ? INFINITY : y;
    /* below ~2^-24, log1p(x) = x to within an ULP and u rounds to 1 */
    y = fabsf(x) < 5.9604645e-08f ? x : y;
    return y;
}

FL_VM_INLINE float fl_log1p_f32(float x)
{
    const float u = 1.0f + x;
    const float c = (x - (u - 1.0f)) / u;
    float y = fl_log_f32(u) + c;
    y = u == 0.0f ? -INFINITY : y;
    y = x == INFINITY ? INFINITY : y;
    /* below ~2^-24, log1p(x) = x to within an ULP and u rounds to 1 */
    y = fabsf(x) < 5.9604645e-08f ? x : y;
    return y;
}

/* 1 / (1 + x), as precise as log1p's rounding correction needs it (see the header). */
FL_VM_INLINE float fl_log1p_rcp_guess_f32(float x)
{
    const float u = 1.0f + x;
    const int in = u >= 0.5f && u < 16777216.0f;                     /* [1/2, 2^24) */
    const float r0 = fl_from_bits_f32(0x7ef311c3u - fl_bits_f32(in ? u : 1.0f));
    const float rn = in ? r0 * (2.0f - u * r0) : 0.0f;
    return fabsf(x) < 0.25f ? 1.0f - x + x * x : rn;
}

/* log1p(x) without a division (see the header). */
FL_VM_INLINE float fl_log1p_nodiv_f32(float x)
{
    return fl_log1p_rcp_f32(x, fl_log1p_rcp_guess_f32(x));
}

/* log1p(x) for x > -1, +inf or NaN, given r = 1 / (1 + x) to a few ULP (see the header). */
FL_VM_INLINE float fl_log1p_rcp_gtm1_f32(float x, float r)
{
    const float u = 1.0f + x;                                      /* normal, inf or NaN */
    const float c = (x - (u - 1.0f)) * r;
    float y = fl_log_core_f32(u, 0) + c;
    y = x == INFINITY ? INFINITY : y;
    return x > -1.0f ? y : NAN;                                    /* NaN also for NaN */
}

/* exp(x) and expm1(x) for x <= 0 or NaN (see the header). */
FL_VM_INLINE fl_exp_em1_f32 fl_exp_expm1_nonpos_f32(float x)
{
    const float lo_lim = -103.97208404541016f;
    const int under = x < lo_lim;                /* false for NaN, which flows through */
    const fl_exp_parts_f32 c = fl_exp_core_f32(under ? lo_lim : x);
    const int32_t nc = c.n < -100 ? -100 : c.n;
    const float sc = fl_from_bits_f32((uint32_t)(nc + 127) << 23);
    fl_exp_em1_f32 res;
    res.e = under ? 0.0f : c.y;
    res.em1 = sc * c.pm1 + (sc - 1.0f);
    return res;
}

/* log1p(x) for 0 <= x <= 4 given r = 1 / (1 + x) to a few ULP (see the header). */
FL_VM_INLINE float fl_log1p_rcp_bounded_f32(float x, float r)
{
    const float u = 1.0f + x;                                      /* [1, 5] */
    const float c = (x - (u - 1.0f)) * r;
    return fl_log_core_f32(u, 0) + c;
}

/* cosh(x) - 1 for |x| <= 2 (a few ULP; see the header). */
FL_VM_INLINE float fl_coshm1_small_f32(float x)
{
    const float h = 0.5f * x;
    const float z = h * h;
    float q = 1.0f / 39916800.0f;                /* 1/11! */
    q = q * z + 1.0f / 362880.0f;
    q = q * z + 1.0f / 5040.0f;
    q = q * z + 1.0f / 120.0f;
    q = q * z + 1.0f / 6.0f;
    const float sh = h + h * z * q;              /* sinh(x / 2) */
    return 2.0f * sh * sh;
}

/* log1p(y) for 0 <= y <= 1/32 (a few ULP; see the header). */
FL_VM_INLINE float fl_log1p_small_f32(float y)
{
    float q = 0.2f;
    q = q * y - 0.25f;
    q = q * y + 0.3333333333f;
    q = q * y - 0.5f;
    return y + y * y * q;
}

/* ---------------------------------- double ------------------------------------------ */

/* exp(x) and expm1(x) of one argument reduction (see the header). */
typedef struct { double e, em1; } fl_exp_em1_f64;

/* As fl_exp_core_f32; n as a double (fn). */
typedef struct { double pm1, y, fn; } fl_exp_parts_f64;

FL_VM_INLINE fl_exp_parts_f64 fl_exp_core_f64(double xc)
{
    const double magic = 6755399441055744.0;     /* 1.5 * 2^52 */
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 6.93147180369123816490e-01;   /* 32 significant bits */
    const double ln2_lo = 1.90821492927058770002e-10;
    const double v = xc * log2e + magic;
    const double fn = v - magic;
    const double r = (xc - fn * ln2_hi) - fn * ln2_lo;
    double q = 1.0 / 6227020800.0;                /* 1/13! */
    q = q * r + 1.0 / 479001600.0;
    q = q * r + 1.0 / 39916800.0;
    q = q * r + 1.0 / 3628800.0;
    q = q * r + 1.0 / 362880.0;
    q = q * r + 1.0 / 40320.0;
    q = q * r + 1.0 / 5040.0;
    q = q * r + 1.0 / 720.0;
    q = q * r + 1.0 / 120.0;
    q = q * r + 1.0 / 24.0;
    q = q * r + 1.0 / 6.0;
    q = q * r + 0.5;
    fl_exp_parts_f64 out;
    out.pm1 = (q * r) * r + r;                  /* expm1(r) */
    const double er = out.pm1 + 1.0;
    /* 2^n = 2^n1 * 2^n2 with n1 = round(n / 2), built in the double domain: adding 2^52
     * puts the integer n1 + 1023 (in [0, 2048)) in the low mantissa bits, and a logical
     * shift by 52 moves it into the exponent field (SSE2/AVX2 have no 64-bit arithmetic
     * shift nor int64 <-> double conversion, so integer n would not vectorise there). */
    const double two52 = 4503599627370496.0;
    const double fn1 = (fn * 0.5 + magic) - magic;
    const double fn2 = fn - fn1;
    const double s1 = fl_from_bits_f64(fl_bits_f64(fn1 + (1023.0 + two52)) << 52);
    const double s2 = fl_from_bits_f64(fl_bits_f64(fn2 + (1023.0 + two52)) << 52);
    out.y = (er * s1) * s2;
    out.fn = fn;
    return out;
}

/* 2^fn for an integral fn in [-100, 100] (expm1's scale) */
FL_VM_INLINE double fl_exp2_small_f64(double fn)
{
    return fl_from_bits_f64(fl_bits_f64(fn + (1023.0 + 4503599627370496.0)) << 52);
}

FL_VM_INLINE fl_exp_em1_f64 fl_exp_expm1_f64(double x)
{
    const double hi_lim = 709.782712893383973096;
    const double lo_lim = -745.1332191019412076235;
    double xc = x > hi_lim ? hi_lim : x;
    xc = xc < lo_lim ? lo_lim : xc;
    xc = x == x ? xc : 0.0;
    const fl_exp_parts_f64 c = fl_exp_core_f64(xc);
    const double fn = c.fn;
    double y = c.y;
    y = x > hi_lim ? INFINITY : y;
    y = x < lo_lim ? 0.0 : y;
    y = x == x ? y : x;
    /* expm1: 2^n pm1 + (2^n - 1) with one normal scale while |n| <= 100 */
    const double fnc = fn > 100.0 ? 100.0 : (fn < -100.0 ? -100.0 : fn);
    const double sc = fl_exp2_small_f64(fnc);
    double m = sc * c.pm1 + (sc - 1.0);
    m = fn == fnc ? m : y - 1.0;
    m = fabs(x) < 5.551115123125783e-17 ? x : m;   /* below 2^-54 expm1(x) = x; keeps -0 */
    fl_exp_em1_f64 res;
    res.e = y;
    res.em1 = x == x ? m : x;
    return res;
}

FL_VM_INLINE double fl_exp_f64(double x)
{
    return fl_exp_expm1_f64(x).e;
}

FL_VM_INLINE double fl_expm1_f64(double x)
{
    return fl_exp_expm1_f64(x).em1;
}


/* As fl_log_core_f32; bias is the exponent bias (1023, or 1077 for an argument pre-scaled
 * by 2^54). */
FL_VM_INLINE double fl_log_core_f64(double u, double bias)
{
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const uint64_t b = fl_bits_f64(u);
    /* the biased exponent as a double without an int64 -> double conversion: place the
     * 11 exponent bits in the mantissa of 2^52 and subtract 2^52 */
    const double two52 = 4503599627370496.0;
    double fe = fl_from_bits_f64(((b >> 52) & 0x7ff) | 0x4330000000000000ull) - two52;
    fe = fe - bias;
    double m = fl_from_bits_f64((b & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
    const int big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m;
    fe = big ? fe + 1.0 : fe;
    const double f = m - 1.0;
    const double s = f / (2.0 + f);
    const double s2 = s * s;
    double q = 1.0 / 21.0;
    q = q * s2 + 1.0 / 19.0;
    q = q * s2 + 1.0 / 17.0;
    q = q * s2 + 1.0 / 15.0;
    q = q * s2 + 1.0 / 13.0;
    q = q * s2 + 1.0 / 11.0;
    q = q * s2 + 1.0 / 9.0;
    q = q * s2 + 1.0 / 7.0;
    q = q * s2 + 1.0 / 5.0;
    q = q * s2 + 1.0 / 3.0;
    const double logm = 2.0 * s + 2.0 * s * s2 * q;
    return fe * ln2_hi + (logm + fe * ln2_lo);
}

FL_VM_INLINE double fl_log_f64(double x)
{
    const int sub = x < 2.2250738585072014e-308;
    const double xs = sub ? x * 18014398509481984.0 : x;     /* 2^54 */
    double y = fl_log_core_f64(xs, sub ? 1077.0 : 1023.0);
    y = x == INFINITY ? INFINITY : y;
    y = x == 0.0 ? -INFINITY : y;
    y = x < 0.0 ? NAN : y;
    return x == x ? y : x;
}

/* log1p(x) given r = 1 / (1 + x) to a few ULP (see the header); special values as log1p. */
FL_VM_INLINE double fl_log1p_rcp_f64(double x, double r)
{
    const double u = 1.0 + x;
    const double c = (x - (u - 1.0)) * r;
    double y = fl_log_f64(u) + c;
    y = u == 0.0 ? -INFINITY : y;
    y = x == INFINITY ? INFINITY : y;
    y = fabs(x) < 1.1102230246251565e-16 ? x : y;
    return y;
}

FL_VM_INLINE double fl_log1p_f64(double x)
{
    const double u = 1.0 + x;
    const double c = (x - (u - 1.0)) / u;
    double y = fl_log_f64(u) + c;
    y = u == 0.0 ? -INFINITY : y;
    y = x == INFINITY ? INFINITY : y;
    y = fabs(x) < 1.1102230246251565e-16 ? x : y;
    return y;
}

/* 1 / (1 + x), as precise as log1p's rounding correction needs it (see the header). */
FL_VM_INLINE double fl_log1p_rcp_guess_f64(double x)
{
    const double u = 1.0 + x;
    const int in = u >= 0.5 && u < 9007199254740992.0;               /* [1/2, 2^53) */
    const double r0 = fl_from_bits_f64(0x7fde623822fc16e6ull - fl_bits_f64(in ? u : 1.0));
    const double rn = in ? r0 * (2.0 - u * r0) : 0.0;
    return fabs(x) < 0.25 ? 1.0 - x + x * x : rn;
}

/* log1p(x) without a division (see the header). */
FL_VM_INLINE double fl_log1p_nodiv_f64(double x)
{
    return fl_log1p_rcp_f64(x, fl_log1p_rcp_guess_f64(x));
}

/* log1p(x) for x > -1, +inf or NaN, given r = 1 / (1 + x) to a few ULP (see the header). */
FL_VM_INLINE double fl_log1p_rcp_gtm1_f64(double x, double r)
{
    const double u = 1.0 + x;                                      /* normal, inf or NaN */
    const double c = (x - (u - 1.0)) * r;
    double y = fl_log_core_f64(u, 1023.0) + c;
    y = x == INFINITY ? INFINITY : y;
    return x > -1.0 ? y : NAN;                                     /* NaN also for NaN */
}

/* exp(x) and expm1(x) for x <= 0 or NaN (see the header). */
FL_VM_INLINE fl_exp_em1_f64 fl_exp_expm1_nonpos_f64(double x)
{
    const double lo_lim = -745.1332191019412076235;
    const int under = x < lo_lim;                /* false for NaN, which flows through */
    const fl_exp_parts_f64 c = fl_exp_core_f64(under ? lo_lim : x);
    const double sc = fl_exp2_small_f64(c.fn < -100.0 ? -100.0 : c.fn);
    fl_exp_em1_f64 res;
    res.e = under ? 0.0 : c.y;
    res.em1 = sc * c.pm1 + (sc - 1.0);
    return res;
}

/* log1p(x) for 0 <= x <= 4 given r = 1 / (1 + x) to a few ULP (see the header). */
FL_VM_INLINE double fl_log1p_rcp_bounded_f64(double x, double r)
{
    const double u = 1.0 + x;                                      /* [1, 5] */
    const double c = (x - (u - 1.0)) * r;
    return fl_log_core_f64(u, 1023.0) + c;
}

/* cosh(x) - 1 for |x| <= 2 (a few ULP; see the header). */
FL_VM_INLINE double fl_coshm1_small_f64(double x)
{
    const double h = 0.5 * x;
    const double z = h * h;
    double q = 1.0 / 121645100408832000.0;     /* 1/19! */
    q = q * z + 1.0 / 355687428096000.0;        /* 1/17! */
    q = q * z + 1.0 / 1307674368000.0;
    q = q * z + 1.0 / 6227020800.0;
    q = q * z + 1.0 / 39916800.0;
    q = q * z + 1.0 / 362880.0;
    q = q * z + 1.0 / 5040.0;
    q = q * z + 1.0 / 120.0;
    q = q * z + 1.0 / 6.0;
    const double sh = h + h * z * q;            /* sinh(x / 2) */
    return 2.0 * sh * sh;
}

/* log1p(y) for 0 <= y <= 1/32 (a few ULP; see the header). */
FL_VM_INLINE double fl_log1p_small_f64(double y)
{
    double q = -1.0 / 11.0;
    q = q * y + 1.0 / 10.0;
    q = q * y - 1.0 / 9.0;
    q = q * y + 1.0 / 8.0;
    q = q * y - 1.0 / 7.0;
    q = q * y + 1.0 / 6.0;
    q = q * y - 1.0 / 5.0;
    q = q * y + 1.0 / 4.0;
    q = q * y - 1.0 / 3.0;
    q = q * y + 1.0 / 2.0;
    return y - y * y * q;
}

#endif /* FASTLOSS_VMATH_H */
