/* vecmath.h -- branch-free float32 transcendental functions for fastgrad kernels.
 *
 * Every fg_*f function here is `static inline`, uses only arithmetic, value selects
 * (ternaries), integer bit manipulation via memcpy bit casts, and no table lookups,
 * so that GCC (12+) at -O3 auto-vectorizes a plain loop such as
 *
 *     for (long i = 0; i < n; i++) y[i] = fg_tanhf(x[i]);
 *
 * when the including file is compiled for AVX2+FMA or AVX-512 (e.g. with
 * `#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")` placed BEFORE
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
 * FMA: with __FMA__ (target has hardware FMA) FG_FMA is fmaf, which GCC inlines and
 * vectorizes; otherwise it is a*b+c (fmaf would be a slow libm call).  Both variants
 * are accurate; only the last bit of some results differs between them.
 */
#ifndef FG_VECMATH_H
#define FG_VECMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __FMA__
#define FG_FMA(a, b, c) fmaf((a), (b), (c))
#define FG_FMAD(a, b, c) fma((a), (b), (c))
#else
#define FG_FMA(a, b, c) ((a) * (b) + (c))
#define FG_FMAD(a, b, c) ((a) * (b) + (c))
#endif

/* ---------------------------------------------------------------- bit helpers */
static inline uint32_t fg__f2u(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
static inline float fg__u2f(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
static inline uint64_t fg__d2u(double f) { uint64_t u; memcpy(&u, &f, sizeof u); return u; }
static inline float fg__absf(float x) { return fg__u2f(fg__f2u(x) & 0x7fffffffu); }
/* |y| with the sign of s */
static inline float fg__copysign(float y, float s)
{
    return fg__u2f((fg__f2u(y) & 0x7fffffffu) | (fg__f2u(s) & 0x80000000u));
}
/* Value select c ? a : b as a bit blend.  Plain ternaries let GCC sink the work of
 * one arm into a branch; under the default -ftrapping-math it then refuses to
 * if-convert (FP ops "could trap") and the loop does not vectorize. */
static inline float fg__sel(int c, float a, float b)
{
    uint32_t m = (uint32_t)0 - (uint32_t)(c != 0);
    return fg__u2f((fg__f2u(a) & m) | (fg__f2u(b) & ~m));
}
/* 2^k for k in [-126, 127] */
static inline float fg__pow2i(int32_t k) { return fg__u2f((uint32_t)(k + 127) << 23); }
/* p * 2^k for k in [-252, 254], rounding only once (at the second multiply), so
 * results that land in the subnormal range are still correctly scaled. */
static inline float fg__ldexp2(float p, int32_t k)
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
static inline fg__expk fg__exp_core(float a, float b)
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

static inline float fg_expf(float x)
{
    float a = x > 89.0f ? 89.0f : x;
    a = a < -104.0f ? -104.0f : a; /* NaN passes through both */
    fg__expk e = fg__exp_core(a, -0.0f);
    return fg__ldexp2(e.pm1 + 1.0f, e.k); /* overflow -> inf, deep underflow -> 0 */
}

static inline float fg_expm1f(float x)
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
static inline float fg__log1p_red(float f)
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

static inline float fg_logf(float x)
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

static inline float fg_log1pf(float x)
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
static inline float fg_tanhf(float x)
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
static inline float fg__sigm(float x, float a_hi, float a_lo, float m)
{
    int sat = a_hi < -112.0f;
    float a = fg__sel(sat, -112.0f, a_hi);
    float b = fg__sel(sat, 0.0f, a_lo);
    fg__expk ek = fg__exp_core(a, b);
    float E = fg__ldexp2(ek.pm1 + 1.0f, ek.k);
    float q = m / (1.0f + E);
    float yn = fg__ldexp2(FG_FMA(q, ek.pm1, q), ek.k);
    yn = fg__sel(sat, fg__copysign(0.0f, m), yn);
    return fg__sel(x >= 0.0f, q, yn);
}

static inline float fg_sigmoidf(float x)
{
    return fg__sigm(x, -fg__absf(x), -0.0f, 1.0f);
}

static inline float fg_siluf(float x)
{
    return fg__sigm(x, -fg__absf(x), -0.0f, x);
}

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = x * sigmoid(2z).  2z is formed in
 * double (the result depends on it through exp(2z), so it needs > 24 bits). */
static inline float fg_gelu_tanhf(float x)
{
    double xd = (double)x;
    double z2 = xd * FG_FMAD(0x1.2444f2a4d8b4bp-4 * xd, xd, 0x1.9884533d43651p+0);
    double az = -fabs(z2);
    float hi = (float)az;
    float lo = (float)(az - (double)hi);
    return fg__sigm(x, hi, lo, x);
}

static inline float fg_softplusf(float x)
{
    /* max(x,0) + log1p(exp(-|x|)) */
    return (x > 0.0f ? x : 0.0f) + fg_log1pf(fg_expf(-fg__absf(x)));
}

/* ---------------------------------------------------------------- erf/erfc */
/* erf(a) for 0 <= a < 0.5: a + a Q(a^2) (minimax, rel. err 2^-29) */
static inline float fg__erf_small(float a)
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
static inline double fg__erfcx(double u)
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
static inline void fg__sqr2(float a, float *hi, float *lo)
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
static inline float fg__scaled_gauss(float s_hi, float s_lo, float m)
{
    int sat = s_hi > 112.0f;
    float a = fg__sel(sat, -112.0f, -s_hi);
    float b = fg__sel(sat, 0.0f, -s_lo);
    fg__expk ek = fg__exp_core(a, b);
    return fg__ldexp2(FG_FMA(m, ek.pm1, m), ek.k);
}

/* erfc(a) for a >= 0.5 (a may be +inf or NaN) */
static inline float fg__erfc_big(float a)
{
    float sh, sl;
    fg__sqr2(a, &sh, &sl);
    return fg__scaled_gauss(sh, sl, (float)fg__erfcx((double)a));
}

static inline float fg_erff(float x)
{
    float a = fg__absf(x);
    float y = fg__sel(a < 0.5f, fg__erf_small(a), 1.0f - fg__erfc_big(a));
    return fg__copysign(y, x);
}

static inline float fg_erfcf(float x)
{
    float a = fg__absf(x);
    float es = fg__copysign(fg__erf_small(a), x);
    float c = fg__erfc_big(a);
    float yb = fg__sel(x >= 0.0f, c, 2.0f - c);
    return fg__sel(a < 0.5f, 1.0f - es, yb);
}

/* 0.5 x (1 + erf(x/sqrt2)) = 0.5 x erfc(-x/sqrt2) */
static inline float fg_geluf(float x)
{
    float a = fg__absf(x);
    float u = a * 0x1.6a09e6p-1f;   /* |x|/sqrt2, only used where an error is harmless */
    float hx = 0.5f * x;
    float ys = FG_FMA(hx, fg__copysign(fg__erf_small(u), x), hx);
    /* T = 0.5 |x| erfc(|x|/sqrt2) = 0.5 |x| erfcx(u) exp(-x^2/2), x^2/2 computed exactly */
    float sh, sl;
    fg__sqr2(a, &sh, &sl);
    double ad = (double)a;
    float m = (float)(0.5 * ad * fg__erfcx(ad * 0.70710678118654752440));
    float T = fg__scaled_gauss(0.5f * sh, 0.5f * sl, m);
    float yb = fg__sel(x < 0.0f, -T, x - T);
    yb = fg__sel(x > 15.0f, x, fg__sel(x < -15.0f, -0.0f, yb));
    return fg__sel(x == 0.0f, x, fg__sel(u < 0.5f, ys, yb)); /* keep -0 */
}

/* ----------------------------------------------------------------- sin/cos */
/* fg_sinf/fg_cosf are accurate for |x| <= FG_TRIG_MAX; larger |x| need the
 * fg_sinf_big/fg_cosf_big fix-up (see fg_sinf_array). */
#define FG_TRIG_MAX 0x1p17f

/* sin and cos of r, |r| <= pi/4 (minimax, rel. err 2^-32 / 2^-37) */
static inline float fg__sin_poly(float r)
{
    float z = r * r;
    float s = 0x1.7c2c4ep-19f;
    s = FG_FMA(s, z, -0x1.a05954p-13f);
    s = FG_FMA(s, z, 0x1.111174p-7f);
    s = FG_FMA(s, z, -0x1.555556p-3f);
    return FG_FMA(r * z, s, r);
}
static inline float fg__cos_poly(float r)
{
    float z = r * r;
    float c = -0x1.36147ap-22f;
    c = FG_FMA(c, z, 0x1.a071b6p-16f);
    c = FG_FMA(c, z, -0x1.6c175ep-10f);
    c = FG_FMA(c, z, 0x1.555556p-5f);
    return FG_FMA(z * z, c, FG_FMA(-0.5f, z, 1.0f));
}

/* x = k*pi/2 + r, |r| <= ~pi/4; returns r and the quadrant k mod 4 in *q */
static inline float fg__trig_reduce(float x, uint32_t *q)
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

static inline float fg_sinf(float x)
{
    uint32_t q;
    float r = fg__trig_reduce(x, &q);
    float s = fg__sin_poly(r), c = fg__cos_poly(r);
    float y = fg__sel(q & 1u, c, s);
    y = fg__u2f(fg__f2u(y) ^ ((q & 2u) << 30));
    return fg__sel(x == 0.0f, x, y); /* sin(-0) = -0 */
}

static inline float fg_cosf(float x)
{
    uint32_t q;
    float r = fg__trig_reduce(x, &q);
    float s = fg__sin_poly(r), c = fg__cos_poly(r);
    float y = fg__sel(q & 1u, s, c);
    return fg__u2f(fg__f2u(y) ^ (((q + 1u) & 2u) << 30));
}

/* Scalar fix-ups for |x| > FG_TRIG_MAX, inf and NaN (double-precision libm). */
static inline float fg_sinf_big(float x) { return (float)sin((double)x); }
static inline float fg_cosf_big(float x) { return (float)cos((double)x); }

/* The two-pass kernel pattern: a vectorizable main loop, then a scalar pass that
 * recomputes only the lanes outside the vector path's range.  The second loop costs
 * one compare per element when no |x| is large. */
static inline void fg_sinf_array(const float *x, float *y, long n)
{
    for (long i = 0; i < n; i++) y[i] = fg_sinf(x[i]);
    for (long i = 0; i < n; i++)
        if (!(fg__absf(x[i]) <= FG_TRIG_MAX)) y[i] = fg_sinf_big(x[i]);
}

static inline void fg_cosf_array(const float *x, float *y, long n)
{
    for (long i = 0; i < n; i++) y[i] = fg_cosf(x[i]);
    for (long i = 0; i < n; i++)
        if (!(fg__absf(x[i]) <= FG_TRIG_MAX)) y[i] = fg_cosf_big(x[i]);
}

#endif /* FG_VECMATH_H */
