/* The math the kernel templates call, per element type: M_EXP(x), M_LOG(x), ... expand
 * to the float32 or the float64 function according to TS (f32 / f64) where they are
 * used, so a template is instantiated per type by defining T and TS only.
 *
 * One row per function:  #define M_<NAME> FG_MT(<float32 function>, <float64 function>)
 * float32: fastgrad's vectorisable math (vecmath.h), or scalar libm with FG_LIBM_MATH
 * (libm_math.h).  float64: vecmath_d.h for exp, log, log1p, expm1, tanh and what is built
 * on them (FG_D(vectorised, libm): the second with FG_LIBM_MATH), libm for the rest.
 * Included by kern_isa.h inside a per-ISA section (isa.h), so the vectorised functions
 * are compiled for that section's instruction set. */
#ifndef FG_MATH_H
#define FG_MATH_H
#include <math.h>
#include "dispatch.h"
#ifdef FG_LIBM_MATH
#include "libm_math.h"
#define FG_D(VEC, LIBM) LIBM
#else
#include "vecmath.h"
#include "vecmath_d.h"
#define FG_SINCOS_BIG FG_TRIG_MAX   /* fg_sinf/fg_cosf are exact up to here */
#define FG_D(VEC, LIBM) VEC
#endif

#define FG_MT(F32, F64) FG_CAT(FG_MT, TS)(F32, F64)
#define FG_MT_f32(F32, F64) F32
#define FG_MT_f64(F32, F64) F64

/* float64 helpers on libm */
static inline double fgd_sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}
static inline double fgd_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static inline double fgd_gelu(double x) { return 0.5 * x * erfc(-x * 0.70710678118654752440); }
/* d/dx [x Phi(x)] = Phi(x) + x phi(x) */
static inline double fgd_gelu_grad(double x)
{
    return 0.5 * erfc(-x * 0.70710678118654752440) +
           x * 0.39894228040143267794 * FG_D(fg_expd, exp)(-0.5 * x * x);
}
static inline double fgd_gelu_tanh(double x)
{
    return 0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}
static inline double fgd_silu(double x) { return x * fgd_sigmoid(x); }
static inline double fgd_mish(double x)
{
    if (isinf(x) && x < 0) return -0.0;
    return x * tanh(fgd_softplus(x));
}
static inline double fgd_logit(double x) { return log(x / (1.0 - x)); }
#define fgd_fmod_ok(a, b) 1     /* fmod is exact for every float64 pair */

#define M_ABS FG_MT(fabsf, fabs)
#define M_EXP FG_MT(fg_expf, FG_D(fg_expd, exp))
#define M_LOG FG_MT(fg_logf, FG_D(fg_logd, log))
#define M_LOG1P FG_MT(fg_log1pf, FG_D(fg_log1pd, log1p))
#define M_SQRT FG_MT(sqrtf, sqrt)
#define M_SIN FG_MT(fg_sinf, sin)
#define M_COS FG_MT(fg_cosf, cos)
#define M_SIN_BIG FG_MT(fg_sinf_big, sin)        /* |x| > FG_SINCOS_BIG (float32 only) */
#define M_COS_BIG FG_MT(fg_cosf_big, cos)
#define M_TANH FG_MT(fg_tanhf, FG_D(fg_tanhd, tanh))
#define M_SIGMOID FG_MT(fg_sigmoidf, FG_D(fg_sigmoidd, fgd_sigmoid))
#define M_GELU FG_MT(fg_geluf, fgd_gelu)
#define M_GELU_GRAD FG_MT(fg_gelu_gradf, fgd_gelu_grad)
#define M_GELU_TANH FG_MT(fg_gelu_tanhf, FG_D(fg_gelu_tanhd, fgd_gelu_tanh))
#define M_SILU FG_MT(fg_siluf, FG_D(fg_silud, fgd_silu))
#define M_SOFTPLUS FG_MT(fg_softplusf, FG_D(fg_softplusd, fgd_softplus))
#define M_ERFC FG_MT(fg_erfcf, erfc)
#define M_ERF FG_MT(fg_erff, erf)
#define M_POW FG_MT(powf, pow)
#define M_EXP2 FG_MT(fg_exp2f, exp2)
#define M_LOG2 FG_MT(fg_log2f, log2)
#define M_LOG10 FG_MT(fg_log10f, log10)
#define M_EXPM1 FG_MT(fg_expm1f, FG_D(fg_expm1d, expm1))
#define M_TAN FG_MT(fg_tanf, tan)
#define M_TAN_BIG FG_MT(fg_tanf_big, tan)
#define M_ASIN FG_MT(fg_asinf, asin)
#define M_ACOS FG_MT(fg_acosf, acos)
#define M_ATAN FG_MT(fg_atanf, atan)
#define M_ATAN2 FG_MT(fg_atan2f, atan2)
#define M_SINH FG_MT(fg_sinhf, sinh)
#define M_COSH FG_MT(fg_coshf, cosh)
#define M_MISH FG_MT(fg_mishf, FG_D(fg_mishd, fgd_mish))
#define M_LOGIT FG_MT(fg_logitf, FG_D(fg_logitd, fgd_logit))
#define M_FLOOR FG_MT(floorf, floor)
#define M_CEIL FG_MT(ceilf, ceil)
#define M_RINT FG_MT(rintf, rint)
#define M_TRUNC FG_MT(truncf, trunc)
#define M_FMOD FG_MT(fmodf, fmod)
/* fmod: a vectorisable exact formula where M_FMOD_OK(a, b) holds (float32, vecmath.h) */
#define M_FMOD_FAST FG_MT(fg_fmodf, fmod)
#define M_FMOD_OK FG_MT(fg_fmodf_ok, fgd_fmod_ok)
#endif
