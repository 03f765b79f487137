/* Branch-free float64 versions of the transcendental functions, for the float64
 * kernels (vecmath.h holds the float32 ones and the helpers used here).  Like those,
 * each function is arithmetic, integer bit operations and value selects only, so the
 * kernels' loops vectorize for every ISA the kernels are compiled for.
 *
 * Accuracy, measured against libm over dense grids of the whole double range by
 * tests/test_numerics.py: within 2-3 ulp (libm itself is within 1 ulp).  IEEE special
 * values (0, -0, inf, nan, subnormals, overflow and underflow) follow libm. */
#ifndef FG_VECMATH_D_H
#define FG_VECMATH_D_H
#include "vecmath.h"

#define FG__D_INF (__builtin_inf())
#define FG__D_NAN (__builtin_nan(""))
#define FG__D_LN2 0x1.62e42fefa39efp-1

FG_INLINE double fg__absd(double x) { return fg__u2d(fg__d2u(x) & 0x7fffffffffffffffULL); }
/* 2^k for k in [-1022, 1023], k given as an int64 */
FG_INLINE double fg__pow2d(int64_t k) { return fg__u2d((uint64_t)(k + 1023) << 52); }

/* a = k ln2 + r with |r| <= ln2/2: returns r, *k gets k (|a| < 2^20) */
FG_INLINE double fg__reduce_ln2_d(double a, int64_t *k, double *kd)
{
    double t = FG_FMAD(a, FG__D_INVLN2, FG__D_SHIFT);
    *kd = t - FG__D_SHIFT;
    *k = (int64_t)(fg__d2u(t) - fg__d2u(FG__D_SHIFT));
    double r = a - *kd * FG__D_LN2HI;                  /* exact */
    return r - *kd * FG__D_LN2LO;
}

FG_INLINE double fg_expd(double x)
{
    double a = x > 710.0 ? 710.0 : x;
    a = a < -746.0 ? -746.0 : a;                        /* NaN passes */
    int64_t k;
    double kd;
    double r = fg__reduce_ln2_d(a, &k, &kd);
    double p = 1.0 + fg__expm1_poly_d(r);
    /* 2^k in two factors, so overflow gives inf and subnormal results are scaled with
     * one rounding at the end */
    int64_t k1 = k >> 1;
    return (p * fg__pow2d(k1)) * fg__pow2d(k - k1);
}

/* e^a - 1 for a in [-40, 709] (NaN passes) */
FG_INLINE double fg__expm1_core_d(double a)
{
    int64_t k;
    double kd;
    double r = fg__reduce_ln2_d(a, &k, &kd);
    double em = fg__expm1_poly_d(r);
    double s = fg__pow2d(k);                            /* k in [-58, 1023] */
    return FG_FMAD(s, em, s - 1.0);                     /* s - 1 is exact for |k| <= 53 */
}

FG_INLINE double fg_expm1d(double x)
{
    double a = x > 710.0 ? 710.0 : x;
    a = a < -40.0 ? -40.0 : a;                          /* expm1(-40) rounds to -1 */
    int64_t k;
    double kd;
    double r = fg__reduce_ln2_d(a, &k, &kd);
    double em = fg__expm1_poly_d(r);
    /* k > 53: e^a - 1 is e^a to the last bit, scaled in two steps as in fg_expd */
    int64_t k1 = k >> 1;
    double big = ((1.0 + em) * fg__pow2d(k1)) * fg__pow2d(k - k1) - 1.0;
    double s = fg__pow2d(k > 53 ? 0 : k);
    double y = fg__seld(k > 53, big, FG_FMAD(s, em, s - 1.0));
    return fg__seld(x == 0.0, x, y);                    /* keeps the sign of zero */
}

/* the IEEE special cases of a logarithm at its pole p: -inf at p, nan below p or at
 * nan, +inf at +inf */
FG_INLINE double fg__log_special_d(double x, double pole, double y)
{
    double special = x == pole ? -FG__D_INF : (x < pole ? FG__D_NAN : x);
    return fg__seld((x > pole) & (x < FG__D_INF), y, special);
}

FG_INLINE double fg_logd(double x)
{
    int sub = x < 0x1p-1022;                            /* subnormals: scale up first */
    double e, l = fg__log_parts_d(fg__seld(sub, x * 0x1p64, x), &e);
    e = e - fg__seld(sub, 64.0, 0.0);
    double y = FG_FMAD(e, FG__D_LN2HI, FG_FMAD(e, FG__D_LN2LO, l));
    return fg__log_special_d(x, 0.0, y);
}

FG_INLINE double fg_log1pd(double x)
{
    double u = 1.0 + x;                                 /* >= 2^-53 for x > -1 */
    double c = (x - (u - 1.0)) / u;                     /* the rounding of 1 + x */
    double e, l = fg__log_parts_d(u, &e);
    double y = FG_FMAD(e, FG__D_LN2HI, FG_FMAD(e, FG__D_LN2LO, l + c));
    y = fg__seld(x == 0.0, x, y);                       /* keeps the sign of zero */
    return fg__log_special_d(x, -1.0, y);
}

FG_INLINE double fg_tanhd(double x)
{
    double ax = fg__absd(x);
    ax = ax > 20.0 ? 20.0 : ax;                         /* tanh(20) rounds to 1 */
    double e = fg__expm1_core_d(2.0 * ax);
    return fg__copysignd(e / (e + 2.0), x);
}

FG_INLINE double fg_sigmoidd(double x)
{
    double e = fg_expd(-fg__absd(x));
    double s = 1.0 / (1.0 + e);
    return fg__seld(x >= 0.0, s, e * s);
}

FG_INLINE double fg_softplusd(double x)
{
    double m = x > 0.0 ? x : 0.0;
    return m + fg_log1pd(fg_expd(-fg__absd(x)));
}

/* x * f(x) where f -> 0 as x -> -inf: the limit -0, not inf * 0 */
FG_INLINE double fg__neg_inf_limit_d(double x, double y)
{
    return fg__seld(x == -FG__D_INF, -0.0, y);
}

FG_INLINE double fg_silud(double x) { return fg__neg_inf_limit_d(x, x * fg_sigmoidd(x)); }

FG_INLINE double fg_gelu_tanhd(double x)
{
    double t = fg_tanhd(0.79788456080286535588 * FG_FMAD(0.044715 * x * x, x, x));
    return fg__neg_inf_limit_d(x, 0.5 * x * (1.0 + t));
}

FG_INLINE double fg_mishd(double x) { return fg__neg_inf_limit_d(x, x * fg_tanhd(fg_softplusd(x))); }

FG_INLINE double fg_logitd(double x) { return fg_logd(x / (1.0 - x)); }

#endif /* FG_VECMATH_D_H */
