/* One SIMD path's kernels.  Included by kern_scalar.c / kern_avx2.c / kern_avx512.c after
 * they set the target ISA (pragma) and define ISA_SFX.  Instantiates the elementwise and
 * reduction templates for float and double. */
#include <math.h>
#include <stdint.h>
#include "fastgrad.h"
#include "dispatch.h"
#include "pool.h"
#ifdef FG_LIBM_MATH
#include "libm_math.h"
#else
#include "vecmath.h"
#include "vecmath_d.h"
#define FG_SINCOS_BIG FG_TRIG_MAX   /* fg_sinf/fg_cosf are exact up to here */
#endif

#define FN_(name, ts, isa) fgk_##name##_##ts##_##isa
#define FN__(name, ts, isa) FN_(name, ts, isa)

/* float32: vectorisable fastgrad math */
#define T float
#define TS f32
#define FN(name) FN__(name, TS, ISA_SFX)
#define M_ABS fabsf
#define M_EXP fg_expf
#define M_LOG fg_logf
#define M_LOG1P fg_log1pf
#define M_SQRT sqrtf
#define M_SIN fg_sinf
#define M_COS fg_cosf
#define M_SIN_BIG fg_sinf_big
#define M_COS_BIG fg_cosf_big
#define M_TANH fg_tanhf
#define M_SIGMOID fg_sigmoidf
#define M_GELU fg_geluf
#define M_GELU_TANH fg_gelu_tanhf
#define M_SILU fg_siluf
#define M_SOFTPLUS fg_softplusf
#define M_ERFC fg_erfcf
#define M_ERF fg_erff
#define M_POW powf
#define M_EXP2 fg_exp2f
#define M_LOG2 fg_log2f
#define M_LOG10 fg_log10f
#define M_EXPM1 fg_expm1f
#define M_TAN fg_tanf
#define M_TAN_BIG fg_tanf_big
#define M_ASIN fg_asinf
#define M_ACOS fg_acosf
#define M_ATAN fg_atanf
#define M_ATAN2 fg_atan2f
#define M_SINH fg_sinhf
#define M_COSH fg_coshf
#define M_MISH fg_mishf
#define M_LOGIT fg_logitf
#define M_FLOOR floorf
#define M_CEIL ceilf
#define M_RINT rintf
#define M_TRUNC truncf
#define M_FMOD fmodf
#define M_FMOD_FAST fg_fmodf
#define M_FMOD_OK fg_fmodf_ok
#define M_COPYSIGN copysignf
#include "eltwise_tmpl.h"
#include "reduce_tmpl.h"
#undef T
#undef TS
#undef M_ABS
#undef M_EXP
#undef M_LOG
#undef M_LOG1P
#undef M_SQRT
#undef M_SIN
#undef M_COS
#undef M_SIN_BIG
#undef M_COS_BIG
#undef M_TANH
#undef M_SIGMOID
#undef M_GELU
#undef M_GELU_TANH
#undef M_SILU
#undef M_SOFTPLUS
#undef M_ERFC
#undef M_ERF
#undef M_POW
#undef M_EXP2
#undef M_LOG2
#undef M_LOG10
#undef M_EXPM1
#undef M_TAN
#undef M_TAN_BIG
#undef M_ASIN
#undef M_ACOS
#undef M_ATAN
#undef M_ATAN2
#undef M_SINH
#undef M_COSH
#undef M_MISH
#undef M_LOGIT
#undef M_FLOOR
#undef M_CEIL
#undef M_RINT
#undef M_TRUNC
#undef M_FMOD
#undef M_FMOD_FAST
#undef M_FMOD_OK
#undef M_COPYSIGN

/* float64: the vectorisable functions of vecmath_d.h for exp, log, log1p, expm1, tanh
 * and what is built on them; libm (scalar) for the rest and with FG_LIBM_MATH */
static inline double fgd_sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}
static inline double fgd_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static inline double fgd_gelu(double x) { return 0.5 * x * erfc(-x * 0.70710678118654752440); }
static inline double fgd_gelu_tanh(double x)
{
    return 0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}
static inline double fgd_silu(double x) { return x * fgd_sigmoid(x); }
#define T double
#define TS f64
#define M_ABS fabs
#define M_EXP exp
#define M_LOG log
#define M_LOG1P log1p
#define M_SQRT sqrt
#define M_SIN sin
#define M_COS cos
#define M_SIN_BIG sin
#define M_COS_BIG cos
#define M_TANH tanh
#define M_SIGMOID fgd_sigmoid
#define M_GELU fgd_gelu
#define M_GELU_TANH fgd_gelu_tanh
#define M_SILU fgd_silu
#define M_SOFTPLUS fgd_softplus
#ifndef FG_LIBM_MATH
#undef M_EXP
#undef M_LOG
#undef M_LOG1P
#undef M_TANH
#undef M_SIGMOID
#undef M_GELU_TANH
#undef M_SILU
#undef M_SOFTPLUS
#define M_EXP fg_expd
#define M_LOG fg_logd
#define M_LOG1P fg_log1pd
#define M_TANH fg_tanhd
#define M_SIGMOID fg_sigmoidd
#define M_GELU_TANH fg_gelu_tanhd
#define M_SILU fg_silud
#define M_SOFTPLUS fg_softplusd
#endif
#define M_ERFC erfc
#define M_ERF erf
#define M_POW pow
static inline double fgd_mish(double x)
{
    if (isinf(x) && x < 0) return -0.0;
    return x * tanh(fgd_softplus(x));
}
static inline double fgd_logit(double x) { return log(x / (1.0 - x)); }
#define M_EXP2 exp2
#define M_LOG2 log2
#define M_LOG10 log10
#ifdef FG_LIBM_MATH
#define M_EXPM1 expm1
#define M_MISH fgd_mish
#define M_LOGIT fgd_logit
#else
#define M_EXPM1 fg_expm1d
#define M_MISH fg_mishd
#define M_LOGIT fg_logitd
#endif
#define M_TAN tan
#define M_TAN_BIG tan
#define M_ASIN asin
#define M_ACOS acos
#define M_ATAN atan
#define M_ATAN2 atan2
#define M_SINH sinh
#define M_COSH cosh
#define M_FLOOR floor
#define M_CEIL ceil
#define M_RINT rint
#define M_TRUNC trunc
#define M_FMOD fmod
#define M_FMOD_FAST fmod
#define M_FMOD_OK(a, b) 1
#define M_COPYSIGN copysign
#include "eltwise_tmpl.h"
#include "reduce_tmpl.h"
