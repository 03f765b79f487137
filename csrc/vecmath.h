/* vecmath.h -- branch-free float32 transcendental functions for fastgrad kernels.
 *
 * Every fg_*f function here is `static inline`, uses only arithmetic, value selects
 * (ternaries), integer bit manipulation via memcpy bit casts, and no table lookups,
 * so that GCC (12+) at -O3 auto-vectorizes a plain loop such as
 *
 *     for (long i = 0; i < n; i++) y[i] = fg_tanhf(x[i]);
 *
 * when the including file is compiled for AVX2+FMA or AVX-512 (e.g. with
 * FG_ISA_BEGIN(avx512) of isa.h, or `#pragma GCC target("avx512f,...")`, placed BEFORE
 * the #include), and still computes the same results as plain scalar code.
 * Do not compile with -ffast-math: NaN/inf handling relies on IEEE semantics
 * (-fno-math-errno is fine and is what the kernels use).
 *
 * Accuracy: every function is within 4 ulp of the correctly rounded result for every
 * float32 input, subnormals included (see tools/ulp_check.c, which sweeps all 2^32
 * inputs in scalar, AVX2 and AVX-512 builds).  Infinities and NaN behave like
 * NumPy/IEEE: exp(-inf)=0, exp(inf)=inf, log(0)=-inf, log(-1)=nan, tanh(+-inf)=+-1,
 * sigmoid(-inf)=0, softplus(-inf)=0, erfc(-inf)=2, ...  Where the naive formula
 * gives inf*0 the limit is returned instead: silu(-inf) = gelu(-inf) =
 * gelu_tanh(-inf) = -0.
 *
 * sin/cos: fg_sinf/fg_cosf are only valid for |x| <= FG_TRIG_MAX (vectorized
 * Cody-Waite reduction).  For larger |x| (and inf) use fg_sinf_big/fg_cosf_big,
 * scalar helpers that go through double-precision libm.  A kernel does this as a
 * second, scalar fix-up pass over the (rare) lanes with |x| > FG_TRIG_MAX; see
 * fg_sinf_array()/fg_cosf_array() at the end of this file for the pattern.
 *
 * FMA: with __FMA__ or __ARM_FEATURE_FMA (target has hardware FMA) FG_FMA is fmaf,
 * which GCC inlines and vectorizes; otherwise it is a*b+c (fmaf would be a slow libm
 * call).  Both variants are accurate; only the last bit of some results differs between
 * them.
 */
#ifndef FG_VECMATH_H
#define FG_VECMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Forced inlining: the unary kernel is one large switch over every op, and GCC's
 * inlining budget for such a function runs out, leaving out-of-line calls that block
 * vectorization (exp ran 10x slower that way). */
#if defined(__GNUC__)
#define FG_INLINE static inline __attribute__((always_inline))
#else
#define FG_INLINE static inline
#endif

#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define FG_FMA(a, b, c) fmaf((a), (b), (c))
#define FG_FMAD(a, b, c) fma((a), (b), (c))
#else
#define FG_FMA(a, b, c) ((a) * (b) + (c))
#define FG_FMAD(a, b, c) ((a) * (b) + (c))
#endif

/* ---------------------------------------------------------------- bit helpers */
FG_INLINE uint32_t fg__f2u(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
FG_INLINE float fg__u2f(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
FG_INLINE uint64_t fg__d2u(double f) { uint64_t u; memcpy(&u, &f, sizeof u); return u; }
FG_INLINE float fg__absf(float x) { return fg__u2f(fg__f2u(x) & 0x7fffffffu); }
/* |y| with the sign of s */
FG_INLINE float fg__copysign(float y, float s)
{
    return fg__u2f((fg__f2u(y) & 0x7fffffffu) | (fg__f2u(s) & 0x80000000u));
}
/* Value select c ? a : b as a bit blend.  Plain ternaries let GCC sink the work of
 * one arm into a branch; under the default -ftrapping-math it then refuses to
 * if-convert (FP ops "could trap") and the loop does not vectorize. */
FG_INLINE float fg__sel(int c, float a, float b)
{
    uint32_t m = (uint32_t)0 - (uint32_t)(c != 0);
    return fg__u2f((fg__f2u(a) & m) | (fg__f2u(b) & ~m));
}
/* 2^k for k in [-126, 127] */
FG_INLINE float fg__pow2i(int32_t k) { return fg__u2f((uint32_t)(k + 127) << 23); }
/* p * 2^k for k in [-252, 254], rounding only once (at the second multiply), so
 * results that land in the subnormal range are still correctly scaled. */
FG_INLINE float fg__ldexp2(float p, int32_t k)
{
    int32_t k1 = k >> 1, k2 = k - k1;
    return (p * fg__pow2i(k1)) * fg__pow2i(k2);
}

#define FG__INF (__builtin_inff())
#define FG__NAN (__builtin_nanf(""))

/* ------------------------------------------------------------ exp machinery */
#define FG__SHIFT 0x1.8p23f          /* adding this rounds to an integer (|v| < 2^22) */
#define FG__LOG2E 0x1.715476p+0f
#define FG__LN2HI 0x1.62e4p-1f       /* 15 significant bits: k*LN2HI exact, |k| < 512 */
#define FG__LN2LO 0x1.7f7d1cp-20f

typedef struct { float pm1; int32_t k; } fg__expk;

/* exp(a + b) = (1 + pm1) * 2^k with pm1 in [-0.3, 0.42].  a must already be clamped to about
 * [-175, 89]; b is a small correction (|b| << 1, e.g. the low part of a double-float). */
FG_INLINE fg__expk fg__exp_core(float a, float b)
{
    float t = FG_FMA(a, FG__LOG2E, FG__SHIFT);
    float kf = t - FG__SHIFT;
    int32_t k = (int32_t)(fg__f2u(t) - fg__f2u(FG__SHIFT));
    float r = FG_FMA(-kf, FG__LN2HI, a); /* exact (Cody-Waite) */
    r = FG_FMA(-kf, FG__LN2LO, r);
    r = r + b;
    /* e^r = 1 + r + r^2 Q(r), |r| <= 0.3466 (minimax, rel. err 2^-28) */
    float q = 0x1.6a4164p-10f;
    q = FG_FMA(q, r, 0x1.1239cap-7f);
    q = FG_FMA(q, r, 0x1.5558bcp-5f);
    q = FG_FMA(q, r, 0x1.555492p-3f);
    q = FG_FMA(q, r, 0x1.fffffcp-2f);
    fg__expk res = { FG_FMA(r * r, q, r), k };
    return res;
}

FG_INLINE float fg_expf(float x)
{
    float a = x > 89.0f ? 89.0f : x;
    a = a < -104.0f ? -104.0f : a; /* NaN passes through both */
    fg__expk e = fg__exp_core(a, -0.0f);
    return fg__ldexp2(e.pm1 + 1.0f, e.k); /* overflow -> inf, deep underflow -> 0 */
}

FG_INLINE float fg_expm1f(float x)
{
    float a = x > 89.0f ? 89.0f : x;
    a = a < -18.0f ? -18.0f : a;
    float t = FG_FMA(a, FG__LOG2E, FG__SHIFT);
    float kf = t - FG__SHIFT;
    int32_t k = (int32_t)(fg__f2u(t) - fg__f2u(FG__SHIFT)); /* [-26, 128] */
    float r = FG_FMA(-kf, FG__LN2HI, a);
    r = FG_FMA(-kf, FG__LN2LO, r);
    /* expm1(r) = r + r^2/2 + r^3 Q(r) (minimax, rel. err 2^-31) */
    float q = 0x1.9e7ceap-13f;
    q = FG_FMA(q, r, 0x1.6d3a86p-10f);
    q = FG_FMA(q, r, 0x1.1112d4p-7f);
    q = FG_FMA(q, r, 0x1.5554f8p-5f);
    q = FG_FMA(q, r, 0x1.555554p-3f);
    q = FG_FMA(q, r, 0.5f);
    float p = FG_FMA(r * r, q, r);
    float s = fg__pow2i(k - 1);                /* 2^k / 2 */
    int32_t kc = k > 40 ? 40 : k;
    float yp = ((p + (1.0f - fg__pow2i(-kc))) * s) * 2.0f; /* k >= 0 */
    float s2 = s * 2.0f;
    float yn = FG_FMA(p, s2, s2 - 1.0f);      /* k < 0 */
    float y = fg__sel(k >= 0, yp, yn);
    return fg__sel(x == 0.0f, x, y);                  /* keep the sign of -0 */
}

/* ------------------------------------------------------------ log machinery */
/* log1p(f) for f in [sqrt(.5)-1, sqrt(2)-1]: f + f^2 Q(f) (minimax, rel. err 2^-28) */
FG_INLINE float fg__log1p_red(float f)
{
    float q = -0x1.38138ep-4f;
    q = FG_FMA(q, f, 0x1.0875p-3f);
    q = FG_FMA(q, f, -0x1.0f5208p-3f);
    q = FG_FMA(q, f, 0x1.226c84p-3f);
    q = FG_FMA(q, f, -0x1.5423e8p-3f);
    q = FG_FMA(q, f, 0x1.99a41cp-3f);
    q = FG_FMA(q, f, -0x1.000438p-2f);
    q = FG_FMA(q, f, 0x1.55555p-2f);
    q = FG_FMA(q, f, -0x1.fffff8p-2f);
    return FG_FMA(f * f, q, f);
}

#define FG__SQRTHALF_BITS 0x3f3504f3u

FG_INLINE float fg_logf(float x)
{
    int sub = x < 0x1p-126f; /* subnormal (or <= 0: result replaced below) */
    float xs = x * fg__sel(sub, 0x1p23f, 1.0f);
    uint32_t u = fg__f2u(xs) - FG__SQRTHALF_BITS;
    int32_t e = ((int32_t)u >> 23) - (sub ? 23 : 0);
    float m = fg__u2f((u & 0x007fffffu) + FG__SQRTHALF_BITS); /* [0.7071, 1.4142) */
    float f = m - 1.0f;
    float ef = (float)e;
    float y = FG_FMA(ef, FG__LN2HI, FG_FMA(ef, FG__LN2LO, fg__log1p_red(f)));
    float special = x == 0.0f ? -FG__INF : (x < 0.0f ? FG__NAN : x);
    return fg__sel((x > 0.0f) & (x < FG__INF), y, special);
}

FG_INLINE float fg_log1pf(float x)
{
    float u = 1.0f + x;
    uint32_t ub = fg__f2u(u) - FG__SQRTHALF_BITS;
    int32_t e = (int32_t)ub >> 23;
    float m = fg__u2f((ub & 0x007fffffu) + FG__SQRTHALF_BITS);
    /* e == 0: u in [0.707, 1.414) and x itself is the reduced argument (exact).
       e != 0: reduce u, and add back the rounding error of 1+x as (x-(u-1))/u. */
    float f = fg__sel(e == 0, x, m - 1.0f);
    float corr = (x - (u - 1.0f)) / u;
    corr = fg__sel((e != 0) & (u < FG__INF), corr, 0.0f);
    float ef = (float)e;
    float y = FG_FMA(ef, FG__LN2HI, FG_FMA(ef, FG__LN2LO, fg__log1p_red(f) + corr));
    float special = u == 0.0f ? -FG__INF : (u < 0.0f ? FG__NAN : u);
    y = fg__sel((u > 0.0f) & (u < FG__INF), y, special);
    return fg__sel(x == 0.0f, x, y); /* keep the sign of -0 */
}

/* ------------------------------------------------------------------- tanh */
/* Double-angle form, one division: with t = tanh(x/2) ~= G / (2H),
 *     tanh(x) = 2t / (1 + t^2) = G H / (H^2 + (G/2)^2),
 * G = x A(x^2) and 2H = B(x^2) a (2,3) rational minimax fit for tanh(x/2) on
 * |x| <= 9, weighted by sech(x): the factor by which a relative error in t shrinks in
 * 2t/(1+t^2), so few terms suffice and rounding errors in G, H hardly show near
 * |tanh| = 1.  For small |x| the rounding errors are kept down by never forming the
 * values near 1 (A, H) explicitly: G = x + x^3 A1, H = 1 + w, w = x^2 H1, and
 *     G H = G + G w,    H^2 + (G/2)^2 = 1 + (w (w + 2) + (G/2)^2).
 * For |x| > FG__TANH_MAX the result is set to +-1 (within 1.8 ulp there; the last
 * roundings could push the formula just above 1 for |x| > ~8.5); x itself is not
 * clamped: inf/overflow give NaN there, which the select replaces.
 * Without hardware FMA the same formula is evaluated in double.  Exhaustive max error:
 * 3.59 ulp with FMA (AVX2/AVX-512), 1.78 ulp without; |result| <= 1 for every input. */
#define FG__TANH_MAX 8.375f
#ifdef __FMA__
typedef float fg__tanh_t;
#else
typedef double fg__tanh_t;
#endif
FG_INLINE float fg_tanhf(float x)
{
    fg__tanh_t c = (fg__tanh_t)x;
    fg__tanh_t z = c * c;
    fg__tanh_t g = FG_FMA((fg__tanh_t)0x1.deeeeep-14f, z, (fg__tanh_t)0x1.e7c198p-6f);
    g = FG_FMA(c * z, g, c);                                  /* G */
    fg__tanh_t w = FG_FMA((fg__tanh_t)0x1.4996cap-20f, z, (fg__tanh_t)0x1.3c3232p-10f);
    w = FG_FMA(w, z, (fg__tanh_t)0x1.cf45aep-4f);
    w = w * z;                                                /* H - 1 */
    fg__tanh_t hg = 0.5f * g;
    fg__tanh_t num = FG_FMA(g, w, g);
    fg__tanh_t den = 1.0f + FG_FMA(w, w + 2.0f, hg * hg);
    float y = (float)(num / den);
    y = fg__sel(x > FG__TANH_MAX, 1.0f, y); /* NaN passes */
    return fg__sel(x < -FG__TANH_MAX, -1.0f, y);
}

/* ------------------------------------------------------- sigmoid family */
/* With E = exp(a_hi + a_lo) (a_hi <= 0):
 *   x >= 0:  m / (1 + E)
 *   x <  0:  m * E / (1 + E), with m/(1+E) folded in before the final 2^k scaling so
 *            tiny (subnormal) results are rounded only once.
 * For a_hi < -112 the x<0 result is the limit, a zero with the sign of m.  */
FG_INLINE float fg__sigm(float x, float a_hi, float a_lo, float m)
{
    int sat = a_hi < -112.0f;
    float a = fg__sel(sat, -112.0f, a_hi);
    float b = fg__sel(sat, 0.0f, a_lo);
    fg__expk ek = fg__exp_core(a, b);
    float p2 = fg__pow2i(ek.k + 64);       /* k >= -162: 2^k = p2 2^-64, the first product exact */
    float E = ((ek.pm1 + 1.0f) * p2) * 0x1p-64f;
    float q = m / (1.0f + E);
    float yn = (FG_FMA(q, ek.pm1, q) * p2) * 0x1p-64f;
    yn = fg__sel(sat, fg__copysign(0.0f, m), yn);
    return fg__sel(x >= 0.0f, q, yn);
}

FG_INLINE float fg_sigmoidf(float x)
{
    return fg__sigm(x, -fg__absf(x), -0.0f, 1.0f);
}

FG_INLINE float fg_siluf(float x)
{
    return fg__sigm(x, -fg__absf(x), -0.0f, x);
}

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = x * sigmoid(2z), 2z = x (C0 + C1 x^2).
 * The result depends on 2z through exp(2z), so 2z needs > 24 bits: it is formed as
 * hi + lo.  With FMA in float (exact products x^2, C1 x^2 and x v by fma, an exact two-sum
 * for C0 + C1 x^2, the float constants' low parts added in); without FMA in double.
 * Max error 2.64 ulp with FMA, 2.77 without (tools/ulp_check.c). */
#define FG__GELU_C0 0x1.988454p+0f     /* 2 sqrt(2/pi) = C0 + C0L */
#define FG__GELU_C0L -0x1.857936p-25f
#define FG__GELU_C1 0x1.2444f2p-4f     /* 0.044715 * 2 sqrt(2/pi) = C1 + C1L */
#define FG__GELU_C1L 0x1.49b16ap-29f
FG_INLINE float fg_gelu_tanhf(float x)
{
#ifdef __FMA__
    float x2 = x * x, x2l = fmaf(x, x, -x2);
    float ph = FG__GELU_C1 * x2, pl = fmaf(FG__GELU_C1, x2, -ph);
    float v = ph + FG__GELU_C0;                      /* v + ve = ph + C0 exactly */
    float bb = v - ph;
    float ve = (ph - (v - bb)) + (FG__GELU_C0 - bb);
    float vl = (ve + pl) + fmaf(FG__GELU_C1, x2l, fmaf(FG__GELU_C1L, x2, FG__GELU_C0L));
    float zh = x * v;
    float zl = fmaf(x, vl, fmaf(x, v, -zh));
    /* -|zh + zl| as hi + lo */
    float hi = fg__u2f(fg__f2u(zh) | 0x80000000u);
    float lo = fg__u2f(fg__f2u(zl) ^ ((fg__f2u(zh) & 0x80000000u) ^ 0x80000000u));
#else
    double xd = (double)x;
    double z2 = xd * FG_FMAD(0x1.2444f2a4d8b4bp-4 * xd, xd, 0x1.9884533d43651p+0);
    double az = -fabs(z2);
    float hi = (float)az;
    float lo = (float)(az - (double)hi);
#endif
    return fg__sigm(x, hi, lo, x);
}

/* d/dx gelu_tanh(x) = s + x s (1 - s) (C0 + 3 C1 x^2), s = sigmoid(2z), 2z = x (C0 + C1 x^2)
 * in float.  With E = e^(-|2z|) and r = 1/(1 + E): s (1 - s) = E r^2, s = r for 2z >= 0 and
 * E r below.  x is clamped to [-20, 20] and E set to 0 for |2z| > 87, where the derivative
 * is 1 or 0 to float precision (also at +-inf).  Absolute error 2.0e-7 against double
 * (2.3e-6 for the tanh formula in float, whose 1 - t^2 cancels). */
FG_INLINE float fg_gelu_tanh_gradf(float x)
{
    float c = fg__sel(x > 20.0f, 20.0f, fg__sel(x < -20.0f, -20.0f, x));    /* NaN passes */
    float c2 = c * c;
    float u = c * FG_FMA(FG__GELU_C1, c2, FG__GELU_C0);
    float au = fg__absf(u);
    int big = au > 87.0f;
    fg__expk ek = fg__exp_core(-fg__sel(big, 87.0f, au), -0.0f);
    float p2 = fg__pow2i(ek.k);
    float E = fg__sel(big, 0.0f, FG_FMA(ek.pm1, p2, p2));
    float r = 1.0f / (1.0f + E);
    float er = E * r;
    float s = fg__sel(u >= 0.0f, r, er);
    return FG_FMA(c * (er * r), FG_FMA(3.0f * FG__GELU_C1, c2, FG__GELU_C0), s);
}

FG_INLINE float fg_softplusf(float x)
{
    /* max(x,0) + log1p(exp(-|x|)) */
    return (x > 0.0f ? x : 0.0f) + fg_log1pf(fg_expf(-fg__absf(x)));
}

/* ---------------------------------------------------------------- erf/erfc */
/* erf(a) for 0 <= a < 0.5: a + a Q(a^2) (minimax, rel. err 2^-29) */
FG_INLINE float fg__erf_small(float a)
{
    float z = a * a;
    float q = 0x1.35465ep-8f;
    q = FG_FMA(q, z, -0x1.b66846p-6f);
    q = FG_FMA(q, z, 0x1.ce2544p-4f);
    q = FG_FMA(q, z, -0x1.812734p-2f);
    q = FG_FMA(q, z, 0x1.06eba8p-3f);
    return FG_FMA(a, q, a);
}

/* erfcx(u) = erfc(u) e^(u^2) ~= t Q(t), t = 1/(1 + u/2), for 0.5 <= u <= 10.7
 * (minimax polynomial in t, rel. err 2^-33.8).  Evaluated in double: G depends on t
 * with a condition number ~1.5 and the alternating coefficients cost ~2 ulp in float
 * Horner, while the double version is about as fast as float with error correction. */
FG_INLINE double fg__erfcx(double u)
{
    double t = 1.0 / (1.0 + 0.5 * u);
    double q = 0x1.009761bb1a648p-4;
    q = FG_FMAD(q, t, -0x1.504e05addd7d1p-2);
    q = FG_FMAD(q, t, 0x1.60f1387c36f79p-1);
    q = FG_FMAD(q, t, -0x1.5fce5711d0dafp-1);
    q = FG_FMAD(q, t, 0x1.37efea8cd86eep-2);
    q = FG_FMAD(q, t, -0x1.23f523541b48bp-3);
    q = FG_FMAD(q, t, 0x1.eaf6a1e925e5fp-4);
    q = FG_FMAD(q, t, 0x1.5c027714c0733p-3);
    q = FG_FMAD(q, t, 0x1.fb01b8ff2f2fap-3);
    q = FG_FMAD(q, t, 0x1.20d0bdeffb8e5p-2);
    q = FG_FMAD(q, t, 0x1.20ddd4b4c3787p-2);
    return t * q;
}

/* hi + lo = a*a exactly (a finite, no underflow) */
FG_INLINE void fg__sqr2(float a, float *hi, float *lo)
{
    float h = a * a;
#ifdef __FMA__
    *lo = fmaf(a, a, -h);
#else
    float ah = fg__u2f(fg__f2u(a) & 0xfffff000u), al = a - ah; /* 12+12 bit split */
    *lo = ((ah * ah - h) + 2.0f * ah * al) + al * al;
#endif
    *hi = h;
}

/* m * exp(-(s_hi + s_lo)) with s_hi >= 0; 0 when s_hi > 112 */
FG_INLINE float fg__scaled_gauss(float s_hi, float s_lo, float m)
{
    int sat = s_hi > 112.0f;
    float a = fg__sel(sat, -112.0f, -s_hi);
    float b = fg__sel(sat, 0.0f, -s_lo);
    fg__expk ek = fg__exp_core(a, b);
    return fg__ldexp2(FG_FMA(m, ek.pm1, m), ek.k);
}

/* erfc(a) for a >= 0.5 (a may be +inf or NaN) */
FG_INLINE float fg__erfc_big(float a)
{
    float sh, sl;
    fg__sqr2(a, &sh, &sl);
    return fg__scaled_gauss(sh, sl, (float)fg__erfcx((double)a));
}

FG_INLINE float fg_erff(float x)
{
    float a = fg__absf(x);
    float y = fg__sel(a < 0.5f, fg__erf_small(a), 1.0f - fg__erfc_big(a));
    return fg__copysign(y, x);
}

FG_INLINE float fg_erfcf(float x)
{
    float a = fg__absf(x);
    float es = fg__copysign(fg__erf_small(a), x);
    float c = fg__erfc_big(a);
    float yb = fg__sel(x >= 0.0f, c, 2.0f - c);
    return fg__sel(a < 0.5f, 1.0f - es, yb);
}

/* gelu(x) = x Phi(x) = x - T for x >= 0 and -T for x < 0, with a = |x| and
 *
 *     T = a Phi(-a) = m(a) e^(-a^2/2),   m(a) = a Phi(-a) e^(a^2/2) = (a/2) erfcx(a/sqrt2).
 *
 * m = a t Q(t), t = 1/(1 + a/4), Q of degree 10 (tools/fit_gelu.py --forward; relative
 * error 2^-29.5 over 0 <= a <= 15), evaluated in double and rounded once to float; a^2/2 is
 * split exactly into hi + lo for the exponential, and T = m (1 + pm1) 2^k is scaled in two
 * steps (the first exact) so that results in the subnormal range are rounded once.  One
 * formula for every x (no separate small-|x| branch): T(0) = 0, so gelu(+-0) = +-0, and
 * m = a/2 for tiny a.  Beyond |x| = 15, a is clamped and T underflows to 0: gelu(x) = x for
 * x > 15 (also +inf), -0 for x < -15 (also -inf).  Max error over all inputs 1.83 ulp
 * with FMA, 2.08 without (tools/ulp_check.c). */
#define FG__GELU_FMAX 15.0f
FG_INLINE double fg__gelu_m(double a)
{
    double t = 1.0 / FG_FMAD(a, 0.25, 1.0);
    double q = -0x1.79f8da34786d1p-7;
    q = FG_FMAD(q, t, 0x1.5f3274d71f660p-4);
    q = FG_FMAD(q, t, -0x1.f5e7dd3c6f3c9p-3);
    q = FG_FMAD(q, t, 0x1.513370601aae4p-2);
    q = FG_FMAD(q, t, -0x1.ef3aa9fcda912p-3);
    q = FG_FMAD(q, t, 0x1.8130c03574f0bp-3);
    q = FG_FMAD(q, t, 0x1.4572783b937bep-7);
    q = FG_FMAD(q, t, 0x1.825369af1127cp-4);
    q = FG_FMAD(q, t, 0x1.76542da41273ep-4);
    q = FG_FMAD(q, t, 0x1.99507e3f25dd0p-4);
    q = FG_FMAD(q, t, 0x1.987c0e89c6928p-4);
    return (a * t) * q;
}

FG_INLINE float fg_geluf(float x)
{
    float a = fg__absf(x);
    a = fg__sel(a > FG__GELU_FMAX, FG__GELU_FMAX, a);      /* NaN passes */
    float m = (float)fg__gelu_m((double)a);
    float ha = 0.5f * a;
    float sh, sl;
    sh = ha * a;
#ifdef __FMA__
    sl = fmaf(ha, a, -sh);
#else
    fg__sqr2(a, &sh, &sl);
    sh *= 0.5f;
    sl *= 0.5f;
#endif
    fg__expk ek = fg__exp_core(-sh, -sl);                  /* k >= -163 */
    float T = (FG_FMA(m, ek.pm1, m) * fg__pow2i(ek.k + 64)) * 0x1p-64f;
    return fg__sel(x < 0.0f, -0.0f, x) - T;
}

/* d/dx gelu(x) = Phi(x) + x phi(x), in single precision.  With a = |x|, E = e^(-x^2/2)
 * and R(a) = Phi(-a) e^(a^2/2) = erfcx(a/sqrt2) / 2:
 *
 *     gelu'(x) = H + E (x / sqrt(2 pi) - sign(x) R),   H = 1 for x >= 0 (sign bit clear), else 0
 *
 * R = t P(t), t = 1/(1 + a/(2 sqrt2)), P of degree 8 with float32 coefficients
 * (tools/fit_gelu.py; the leading one moved by 18 ulps so that R(0) = 1/2 and
 * gelu'(0) = 1/2 exactly): relative error 3.8e-7 in float32 arithmetic over
 * 0 <= a <= 15.  Since E R <= 1/2, the derivative is within 2.3e-7 of Phi(x) + x phi(x)
 * (tests/test_gelu_accuracy.py); 0.5 fg_erfcf(-x/sqrt2) + x phi(x) is within 1.3e-7 but
 * costs about 2.5 times as much.  The derivative crosses zero near x = -0.75, so its
 * error is an absolute one, as for any float32 evaluation of the formula.
 * Beyond |x| = 15, a is clamped and E underflows: the results are 1 and 0 (also at +-inf). */
#define FG__GELU_AMAX 15.0f
FG_INLINE float fg__gelu_rf(float a)
{
    float t = 1.0f / FG_FMA(a, 0x1.6a09e6p-2f, 1.0f);
    float p = -0x1.faeb24p-6f;     /* adjusted so that R(0) = 1/2 exactly */
    p = FG_FMA(p, t, 0x1.30b02ap-3f);
    p = FG_FMA(p, t, -0x1.065e9ep-2f);
    p = FG_FMA(p, t, 0x1.38573ap-3f);
    p = FG_FMA(p, t, -0x1.672a92p-6f);
    p = FG_FMA(p, t, 0x1.acdb1ap-4f);
    p = FG_FMA(p, t, 0x1.eeb07ap-4f);
    p = FG_FMA(p, t, 0x1.215a28p-3f);
    p = FG_FMA(p, t, 0x1.20d89ap-3f);
    return t * p;
}

FG_INLINE float fg_gelu_gradf(float x)
{
    float a = fg__absf(x);
    a = fg__sel(a > FG__GELU_AMAX, FG__GELU_AMAX, a);        /* NaN passes */
    /* E = e^(-a^2/2) >= e^-112.5: k >= -163, scaled in two steps (the first exact), the
     * same value as fg_expf without its clamps */
    fg__expk ek = fg__exp_core(-0.5f * (a * a), -0.0f);
    float E = ((ek.pm1 + 1.0f) * fg__pow2i(ek.k + 64)) * 0x1p-64f;
    float q = FG_FMA(a, 0x1.988454p-2f /* 1/sqrt(2 pi) */, -fg__gelu_rf(a));
    int neg = (int)(fg__f2u(x) >> 31);
    return FG_FMA(E, fg__sel(neg, -q, q), fg__sel(neg, 0.0f, 1.0f));
}

/* ----------------------------------------------------------------- sin/cos */
/* fg_sinf/fg_cosf are accurate for |x| <= FG_TRIG_MAX; larger |x| need the
 * fg_sinf_big/fg_cosf_big fix-up (see fg_sinf_array). */
#define FG_TRIG_MAX 0x1p17f

/* sin and cos of r, |r| <= pi/4 (minimax, rel. err 2^-32 / 2^-37) */
FG_INLINE float fg__sin_poly(float r)
{
    float z = r * r;
    float s = 0x1.7c2c4ep-19f;
    s = FG_FMA(s, z, -0x1.a05954p-13f);
    s = FG_FMA(s, z, 0x1.111174p-7f);
    s = FG_FMA(s, z, -0x1.555556p-3f);
    return FG_FMA(r * z, s, r);
}
FG_INLINE float fg__cos_poly(float r)
{
    float z = r * r;
    float c = -0x1.36147ap-22f;
    c = FG_FMA(c, z, 0x1.a071b6p-16f);
    c = FG_FMA(c, z, -0x1.6c175ep-10f);
    c = FG_FMA(c, z, 0x1.555556p-5f);
    return FG_FMA(z * z, c, FG_FMA(-0.5f, z, 1.0f));
}

/* x = k*pi/2 + r, |r| <= ~pi/4; returns r and the quadrant k mod 4 in *q */
FG_INLINE float fg__trig_reduce(float x, uint32_t *q)
{
#ifdef __FMA__
    float t = fmaf(x, 0x1.45f306p-1f, FG__SHIFT);
    float kf = t - FG__SHIFT;
    *q = fg__f2u(t);
    float r = fmaf(-kf, 0x1.921fb6p+0f, x);  /* exact for |x| < 2^25 */
    r = fmaf(-kf, -0x1.777a5cp-25f, r);
    r = fmaf(-kf, -0x1.ee59dap-50f, r);
    return r;
#else
    /* no FMA: reduce in double; k*P1 is exact (P1 has 33 bits, |k| < 2^20) */
    double xd = (double)x;
    double t = xd * 0x1.45f306dc9c883p-1 + 0x1.8p52;
    double kd = t - 0x1.8p52;
    *q = (uint32_t)fg__d2u(t);
    double r = (xd - kd * 0x1.921fb544p+0) - kd * 0x1.0b4611a626331p-34;
    return (float)r;
#endif
}

FG_INLINE float fg_sinf(float x)
{
    uint32_t q;
    float r = fg__trig_reduce(x, &q);
    float s = fg__sin_poly(r), c = fg__cos_poly(r);
    float y = fg__sel(q & 1u, c, s);
    y = fg__u2f(fg__f2u(y) ^ ((q & 2u) << 30));
    return fg__sel(x == 0.0f, x, y); /* sin(-0) = -0 */
}

FG_INLINE float fg_cosf(float x)
{
    uint32_t q;
    float r = fg__trig_reduce(x, &q);
    float s = fg__sin_poly(r), c = fg__cos_poly(r);
    float y = fg__sel(q & 1u, s, c);
    return fg__u2f(fg__f2u(y) ^ (((q + 1u) & 2u) << 30));
}

/* Scalar fix-ups for |x| > FG_TRIG_MAX, inf and NaN (double-precision libm). */
FG_INLINE float fg_sinf_big(float x) { return (float)sin((double)x); }
FG_INLINE float fg_cosf_big(float x) { return (float)cos((double)x); }

/* The two-pass kernel pattern: a vectorizable main loop, then a scalar pass that
 * recomputes only the lanes outside the vector path's range.  The second loop costs
 * one compare per element when no |x| is large. */
FG_INLINE void fg_sinf_array(const float *x, float *y, long n)
{
    for (long i = 0; i < n; i++) y[i] = fg_sinf(x[i]);
    for (long i = 0; i < n; i++)
        if (!(fg__absf(x[i]) <= FG_TRIG_MAX)) y[i] = fg_sinf_big(x[i]);
}

FG_INLINE void fg_cosf_array(const float *x, float *y, long n)
{
    for (long i = 0; i < n; i++) y[i] = fg_cosf(x[i]);
    for (long i = 0; i < n; i++)
        if (!(fg__absf(x[i]) <= FG_TRIG_MAX)) y[i] = fg_cosf_big(x[i]);
}

/* ======================================================================================
 * More float32 functions (exp2, log2, log10, tan, asin, acos, atan, atan2, sinh, cosh,
 * mish, logit).  These evaluate in double precision with branch-free code (value
 * selects, 64-bit integer bit tricks, no tables, no libm calls) and round once at the
 * end, so they stay vectorizable (with half as many lanes) and are accurate to about
 * 0.5 ulp (exhaustive sweep with tools/ulp_check.c: max 0.500 ulp for each, in the
 * scalar, AVX2 and AVX-512 builds).  Arguments and results are converted float <->
 * double exactly, so the final rounding is the only one that matters.
 * ====================================================================================== */
FG_INLINE double fg__u2d(uint64_t u) { double d; memcpy(&d, &u, sizeof d); return d; }
/* c ? a : b for doubles, as a bit blend (see fg__sel) */
FG_INLINE double fg__seld(int c, double a, double b)
{
    uint64_t m = (uint64_t)0 - (uint64_t)(c != 0);
    return fg__u2d((fg__d2u(a) & m) | (fg__d2u(b) & ~m));
}
FG_INLINE double fg__copysignd(double y, double s)
{
    return fg__u2d((fg__d2u(y) & 0x7fffffffffffffffULL) | (fg__d2u(s) & 0x8000000000000000ULL));
}

#define FG__D_SHIFT 0x1.8p52
#define FG__D_LN2HI 0x1.62e42fee00000p-1   /* 32 significant bits: k*LN2HI exact, |k| < 2^20 */
#define FG__D_LN2LO 0x1.a39ef35793c76p-33
#define FG__D_INVLN2 0x1.71547652b82fep+0

/* e^r - 1 for |r| <= 0.347: Taylor series to r^13 (truncation below 1e-17 relative) */
FG_INLINE double fg__expm1_poly_d(double r)
{
    double p = 1.0 / 6227020800.0;
    p = FG_FMAD(p, r, 1.0 / 479001600.0);
    p = FG_FMAD(p, r, 1.0 / 39916800.0);
    p = FG_FMAD(p, r, 1.0 / 3628800.0);
    p = FG_FMAD(p, r, 1.0 / 362880.0);
    p = FG_FMAD(p, r, 1.0 / 40320.0);
    p = FG_FMAD(p, r, 1.0 / 5040.0);
    p = FG_FMAD(p, r, 1.0 / 720.0);
    p = FG_FMAD(p, r, 1.0 / 120.0);
    p = FG_FMAD(p, r, 1.0 / 24.0);
    p = FG_FMAD(p, r, 1.0 / 6.0);
    p = FG_FMAD(p, r, 0.5);
    return FG_FMAD(p * r, r, r);
}

/* e^a for a in [-300, 300] (callers clamp; NaN passes), relative error ~1e-16. */
FG_INLINE double fg__exp_d(double a)
{
    double t = FG_FMAD(a, FG__D_INVLN2, FG__D_SHIFT);
    double kd = t - FG__D_SHIFT;
    uint64_t kb = fg__d2u(t) - fg__d2u(FG__D_SHIFT) + 1023u; /* k + 1023 (wraps as int) */
    double r = a - kd * FG__D_LN2HI;                           /* exact */
    r = r - kd * FG__D_LN2LO;                                  /* |r| <= 0.347 */
    return (1.0 + fg__expm1_poly_d(r)) * fg__u2d(kb << 52);
}

/* log(x) split as e*ln2 + log1p(f): *e gets e (as a double), returns log1p(f).
 * Valid for positive finite x whose double exponent is within +-1000 (every float). */
FG_INLINE double fg__log_parts_d(double x, double *e)
{
    const uint64_t sq = 0x3fe6a09e667f3bcdULL;                 /* sqrt(0.5) */
    uint64_t u = fg__d2u(x) - sq + (0x400ULL << 52);           /* biased: stays positive */
    uint64_t ue = u >> 52;                                     /* e + 1024 */
    *e = fg__u2d(0x4330000000000000ULL | ue) - (0x1p52 + 1024.0);
    double m = fg__u2d((u & 0x000fffffffffffffULL) + sq);      /* [0.7071, 1.4142) */
    double f = m - 1.0;                                        /* exact (Sterbenz) */
    double s = f / (2.0 + f), z = s * s;                       /* |s| <= 0.1716 */
    /* log1p(f) = 2 atanh(s) = 2 (s + s^3/3 + ... ); to s^23: truncation < 1e-18 */
    double q = 2.0 / 23;
    q = FG_FMAD(q, z, 2.0 / 21);
    q = FG_FMAD(q, z, 2.0 / 19);
    q = FG_FMAD(q, z, 2.0 / 17);
    q = FG_FMAD(q, z, 2.0 / 15);
    q = FG_FMAD(q, z, 2.0 / 13);
    q = FG_FMAD(q, z, 2.0 / 11);
    q = FG_FMAD(q, z, 2.0 / 9);
    q = FG_FMAD(q, z, 2.0 / 7);
    q = FG_FMAD(q, z, 2.0 / 5);
    q = FG_FMAD(q, z, 2.0 / 3);
    return FG_FMAD(s * z, q, 2.0 * s);
}

/* the IEEE special cases of a logarithm: -inf at 0, nan below 0 or at nan, +inf at +inf */
FG_INLINE float fg__log_special(float x, float y)
{
    float special = x == 0.0f ? -FG__INF : (x < 0.0f ? FG__NAN : x);
    return fg__sel((x > 0.0f) & (x < FG__INF), y, special);
}

FG_INLINE float fg_exp2f(float x)
{
    double a = (double)x * 0x1.62e42fefa39efp-1;   /* x ln2 */
    a = a > 300.0 ? 300.0 : a;
    a = a < -300.0 ? -300.0 : a;                   /* NaN passes */
    return (float)fg__exp_d(a);
}

FG_INLINE float fg_log2f(float x)
{
    double e, l = fg__log_parts_d((double)x, &e);
    /* exact for powers of two (l = 0) */
    return fg__log_special(x, (float)FG_FMAD(l, FG__D_INVLN2, e));
}

FG_INLINE float fg_log10f(float x)
{
    double e, l = fg__log_parts_d((double)x, &e);
    double y = FG_FMAD(l, 0x1.bcb7b1526e50ep-2 /* 1/ln10 */, e * 0x1.34413509f79ffp-2 /* log10(2) */);
    return fg__log_special(x, (float)y);
}

/* logit(x) = log(x / (1 - x)); 1 - x and the quotient are formed in double (exact /
 * correctly rounded), so the result is accurate all over (0, 1), also near 1/2. */
FG_INLINE float fg_logitf(float x)
{
    double xd = (double)x;
    double q = xd / (1.0 - xd);
    double e, l = fg__log_parts_d(q, &e);
    float y = (float)FG_FMAD(e, 0x1.62e42fefa39efp-1, l);
    float special = x == 0.0f ? -FG__INF : (x == 1.0f ? FG__INF : FG__NAN);
    return fg__sel((x > 0.0f) & (x < 1.0f), y, special);
}

/* sin(r), cos(r) for |r| <= pi/4 in double (Taylor series, truncation < 1e-16) */
FG_INLINE double fg__sin_d(double r)
{
    double z = r * r;
    double p = 1.0 / 6227020800;          /* 1/13! */
    p = FG_FMAD(p, z, -1.0 / 39916800);
    p = FG_FMAD(p, z, 1.0 / 362880);
    p = FG_FMAD(p, z, -1.0 / 5040);
    p = FG_FMAD(p, z, 1.0 / 120);
    p = FG_FMAD(p, z, -1.0 / 6);
    return FG_FMAD(r * z, p, r);
}
FG_INLINE double fg__cos_d(double r)
{
    double z = r * r;
    double p = -1.0 / 87178291200;        /* -1/14! */
    p = FG_FMAD(p, z, 1.0 / 479001600);
    p = FG_FMAD(p, z, -1.0 / 3628800);
    p = FG_FMAD(p, z, 1.0 / 40320);
    p = FG_FMAD(p, z, -1.0 / 720);
    p = FG_FMAD(p, z, 1.0 / 24);
    p = FG_FMAD(p, z, -0.5);
    return FG_FMAD(z, p, 1.0);
}

/* tan for |x| <= FG_TRIG_MAX (larger |x|, inf: fg_tanf_big).  x = k pi/2 + r in double
 * (P1 has 33 bits, so k*P1 is exact for |k| < 2^20), then tan = sin/cos or -cos/sin. */
FG_INLINE float fg_tanf(float x)
{
    double xd = (double)x;
    double t = FG_FMAD(xd, 0x1.45f306dc9c883p-1, FG__D_SHIFT);
    double kd = t - FG__D_SHIFT;
    uint64_t q = fg__d2u(t);
    double r = (xd - kd * 0x1.921fb544p+0) - kd * 0x1.0b4611a626331p-34;
    double s = fg__sin_d(r), c = fg__cos_d(r);
    int odd = (int)(q & 1u);
    double num = fg__seld(odd, -c, s), den = fg__seld(odd, s, c);
    float y = (float)(num / den);
    return fg__sel(x == 0.0f, x, y);   /* tan(-0) = -0 */
}
FG_INLINE float fg_tanf_big(float x) { return (float)tan((double)x); }

/* atan(t) for t in [0, 1] (or NaN): above tan(pi/8) use atan(t) = pi/4 + atan((t-1)/(t+1));
 * then u + u^3 P(u^2) on |u| <= tan(pi/8) (least-squares fit, rel. err 6e-11). */
FG_INLINE double fg__atan01_d(double t)
{
    int big = t > 0.41421356237309503;
    double u = fg__seld(big, (t - 1.0) / (t + 1.0), t);
    double z = u * u;
    double p = -0x1.4a194058e10e3p-5;
    p = FG_FMAD(p, z, 0x1.23f3894882917p-4);
    p = FG_FMAD(p, z, -0x1.71c2ba2ea4426p-4);
    p = FG_FMAD(p, z, 0x1.c6f4c8dc42a7dp-4);
    p = FG_FMAD(p, z, -0x1.2491b56f50f4cp-3);
    p = FG_FMAD(p, z, 0x1.999997e8cde20p-3);
    p = FG_FMAD(p, z, -0x1.55555554d20bcp-2);
    double a = FG_FMAD(u * z, p, u);
    return a + fg__seld(big, 0x1.921fb54442d18p-1, 0.0);
}

FG_INLINE float fg_atanf(float x)
{
    double a = fabs((double)x);
    int inv = a > 1.0;
    double t = fg__seld(inv, 1.0 / a, a);          /* inf -> 0 */
    double r = fg__atan01_d(t);
    r = fg__seld(inv, 0x1.921fb54442d18p+0 - r, r);
    return (float)fg__copysignd(r, (double)x);
}

/* atan2(y, x) with C99's special cases (signed zeros, infinities). */
FG_INLINE float fg_atan2f(float y, float x)
{
    double ax = fabs((double)x), ay = fabs((double)y);
    int both_inf = (ax == (double)FG__INF) & (ay == (double)FG__INF);
    ax = fg__seld(both_inf, 1.0, ax);
    ay = fg__seld(both_inf, 1.0, ay);
    int swap = ay > ax;
    double mx = fg__seld(swap, ay, ax), mn = fg__seld(swap, ax, ay);
    double t = fg__seld(mx == 0.0, 0.0, mn / mx);
    double r = fg__atan01_d(t);
    r = fg__seld(swap, 0x1.921fb54442d18p+0 - r, r);
    r = fg__seld(fg__f2u(x) >> 31, 0x1.921fb54442d18p+1 - r, r);   /* x < 0 or x = -0 */
    float res = (float)fg__copysignd(r, (double)y);
    return fg__sel((x != x) | (y != y), x + y, res);
}

/* asin(a) for a in [0, 1]: a + a^3 P(a^2) up to 1/2, else pi/2 - 2 asin(sqrt((1-a)/2)).
 * Returns the asin(s) core p and sets *big; the callers finish asin/acos. */
FG_INLINE double fg__asin_core_d(double a, int *big)
{
    int b = a > 0.5;
    double z = fg__seld(b, (1.0 - a) * 0.5, a * a);
    double s = fg__seld(b, sqrt(z), a);            /* NaN for a > 1 */
    double p = 0x1.e1dfda80ec679p-6;
    p = FG_FMAD(p, z, 0x1.5e38d45b271ffp-8);
    p = FG_FMAD(p, z, 0x1.3cec16d9937e1p-6);
    p = FG_FMAD(p, z, 0x1.6a80809452f3cp-6);
    p = FG_FMAD(p, z, 0x1.f20bf3ae42b3fp-6);
    p = FG_FMAD(p, z, 0x1.6db5bb51efe9cp-5);
    p = FG_FMAD(p, z, 0x1.3333350b6e0b6p-4);
    p = FG_FMAD(p, z, 0x1.55555554b92e0p-3);
    *big = b;
    return FG_FMAD(s * z, p, s);
}

FG_INLINE float fg_asinf(float x)
{
    int big;
    double a = fabs((double)x);
    double p = fg__asin_core_d(a, &big);
    double r = fg__seld(big, 0x1.921fb54442d18p+0 - 2.0 * p, p);
    return (float)fg__copysignd(r, (double)x);
}

FG_INLINE float fg_acosf(float x)
{
    int big;
    double xd = (double)x, a = fabs(xd);
    double p = fg__asin_core_d(a, &big);
    double small = 0x1.921fb54442d18p+0 - fg__copysignd(p, xd);
    double bigr = fg__seld(xd > 0.0, 2.0 * p, 0x1.921fb54442d18p+1 - 2.0 * p);
    return (float)fg__seld(big, bigr, small);
}

/* sinh/cosh: e^|x| in double (|x| clamped to 100, which already overflows float).
 * sinh uses its Taylor series below 1/2, where e^a - e^-a would cancel. */
FG_INLINE float fg_sinhf(float x)
{
    double a = fabs((double)x);
    a = fg__seld(a > 100.0, 100.0, a);      /* NaN passes */
    double E = fg__exp_d(a);
    double big = 0.5 * (E - 1.0 / E);
    double z = a * a;
    double p = 1.0 / 6227020800;
    p = FG_FMAD(p, z, 1.0 / 39916800);
    p = FG_FMAD(p, z, 1.0 / 362880);
    p = FG_FMAD(p, z, 1.0 / 5040);
    p = FG_FMAD(p, z, 1.0 / 120);
    p = FG_FMAD(p, z, 1.0 / 6);
    double small = FG_FMAD(a * z, p, a);
    return (float)fg__copysignd(fg__seld(a < 0.5, small, big), (double)x);
}

FG_INLINE float fg_coshf(float x)
{
    double a = fabs((double)x);
    a = fg__seld(a > 100.0, 100.0, a);      /* NaN passes */
    double E = fg__exp_d(a);
    return (float)(0.5 * (E + 1.0 / E));
}

/* mish(x) = x tanh(softplus(x)) = x n / (n + 2), n = e^x (e^x + 2).  Above x = 30 the
 * factor is 1 to double precision; mish(-inf) is the limit -0 (not -inf * 0). */
FG_INLINE float fg_mishf(float x)
{
    double xd = (double)x;
    double c = xd > 30.0 ? 30.0 : xd;
    c = c < -300.0 ? -300.0 : c;
    double E = fg__exp_d(c);
    double n = E * (E + 2.0);
    float y = (float)(xd * (n / (n + 2.0)));
    return fg__sel(x == -FG__INF, -0.0f, y);
}

/* fmod(a, b) for float32 when fg_fmodf_ok(a, b) (finite a, finite non-zero b,
 * |a| < 2^29 |b|): q = trunc(a / b) in double is the truncated quotient or one too far
 * (when the division rounds up onto an integer), q*b is exact (29 + 24 bits), and so is
 * a - q*b, the remainder itself, which is representable; one correction step adds |b|
 * back with a's sign when q overshot.  Exact, like C fmodf.  Other inputs: fmodf. */
FG_INLINE int fg_fmodf_ok(float a, float b)
{
    float ab = fg__absf(b);
    return (fg__absf(a) < 0x1p29f * ab) & (ab > 0.0f) & (ab < FG__INF);
}
FG_INLINE float fg_fmodf(float a, float b)
{
    double ad = (double)a, bd = (double)b;
    double q = trunc(ad / bd);
    double r = ad - q * bd;
    /* opposite signs (no underflow: |r a| >= 2^-298 in double when both are non-zero) */
    r = fg__seld(r * ad < 0.0, r + fg__copysignd(bd, ad), r);
    return (float)fg__copysignd(r, fg__seld(r == 0.0, ad, r));
}

#endif /* FG_VECMATH_H */
