/* One SIMD path's kernels.  Included by kern_scalar.c / kern_avx2.c / kern_avx512.c after
 * they set the target ISA (pragma) and define ISA_SFX.  Instantiates the elementwise and
 * reduction templates for float and double. */
#include <math.h>
#include <stdint.h>
#include "fastgrad.h"
#include "dispatch.h"
#ifdef FG_LIBM_MATH
#include "libm_math.h"
#else
#include "vecmath.h"
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

/* float64: libm (correctly rounded or nearly), scalar */
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
#define M_ERFC erfc
#define M_ERF erf
#define M_POW pow
#include "eltwise_tmpl.h"
#include "reduce_tmpl.h"
