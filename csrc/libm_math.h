/* Scalar libm-based versions of the vecmath.h functions.  Used when fastgrad is built
 * with FASTGRAD_LIBM_MATH=1 (CFLAGS -DFG_LIBM_MATH): slower, but a handy second opinion
 * when chasing an accuracy problem in the vectorised math. */
#ifndef FG_LIBM_MATH_H
#define FG_LIBM_MATH_H
#include <math.h>

static inline float fg_expf(float x) { return (float)exp((double)x); }
static inline float fg_expm1f(float x) { return (float)expm1((double)x); }
static inline float fg_logf(float x) { return (float)log((double)x); }
static inline float fg_log1pf(float x) { return (float)log1p((double)x); }
static inline float fg_tanhf(float x) { return (float)tanh((double)x); }
static inline float fg_sigmoidf(float x)
{
    double d = x;
    return (float)(d >= 0 ? 1.0 / (1.0 + exp(-d)) : exp(d) / (1.0 + exp(d)));
}
static inline float fg_softplusf(float x)
{
    double d = x;
    return (float)(d > 0 ? d + log1p(exp(-d)) : log1p(exp(d)));
}
static inline float fg_erff(float x) { return (float)erf((double)x); }
static inline float fg_erfcf(float x) { return (float)erfc((double)x); }
static inline float fg_geluf(float x)
{
    double d = x;
    if (isinf(d) && d < 0) return -0.0f;   /* the limit, not inf * 0 */
    return (float)(0.5 * d * erfc(-d * 0.70710678118654752440));
}
/* Phi(x) + x phi(x); the limit 0 at -inf */
static inline float fg_gelu_gradf(float x)
{
    double d = x;
    if (isinf(d) && d < 0) return 0.0f;
    return (float)(0.5 * erfc(-d * 0.70710678118654752440) +
                   d * 0.39894228040143267794 * exp(-0.5 * d * d));
}
static inline float fg_gelu_tanhf(float x)
{
    double d = x;
    if (isinf(d) && d < 0) return -0.0f;
    return (float)(0.5 * d * (1.0 + tanh(0.79788456080286535588 * (d + 0.044715 * d * d * d))));
}
static inline float fg_siluf(float x)
{
    double d = x;
    if (isinf(d) && d < 0) return -0.0f;
    return (float)(d * (d >= 0 ? 1.0 / (1.0 + exp(-d)) : exp(d) / (1.0 + exp(d))));
}
static inline float fg_sinf(float x) { return (float)sin((double)x); }
static inline float fg_cosf(float x) { return (float)cos((double)x); }
#define FG_SINCOS_BIG 3.4e38f
static inline float fg_sinf_big(float x) { return fg_sinf(x); }
static inline float fg_cosf_big(float x) { return fg_cosf(x); }
static inline float fg_exp2f(float x) { return (float)exp2((double)x); }
static inline float fg_log2f(float x) { return (float)log2((double)x); }
static inline float fg_log10f(float x) { return (float)log10((double)x); }
static inline float fg_logitf(float x)
{
    double d = x;
    return (float)log(d / (1.0 - d));
}
static inline float fg_tanf(float x) { return (float)tan((double)x); }
static inline float fg_tanf_big(float x) { return fg_tanf(x); }
static inline float fg_asinf(float x) { return (float)asin((double)x); }
static inline float fg_acosf(float x) { return (float)acos((double)x); }
static inline float fg_atanf(float x) { return (float)atan((double)x); }
static inline float fg_atan2f(float y, float x) { return (float)atan2((double)y, (double)x); }
static inline float fg_sinhf(float x) { return (float)sinh((double)x); }
static inline float fg_coshf(float x) { return (float)cosh((double)x); }
static inline float fg_mishf(float x)
{
    double d = x;
    if (isinf(d) && d < 0) return -0.0f;
    double sp = d > 0 ? d + log1p(exp(-d)) : log1p(exp(d));
    return (float)(d * tanh(sp));
}
static inline int fg_fmodf_ok(float a, float b) { (void)a; (void)b; return 1; }
static inline float fg_fmodf(float a, float b) { return fmodf(a, b); }
#endif
