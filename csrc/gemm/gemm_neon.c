/* NEON GEMM for arm64 (Advanced SIMD, the baseline of ARMv8-A): the micro-kernel
 * template of gemm_ukr_simd.h on 128-bit vectors, f32 8x8 (16 accumulators of 4 lanes)
 * and f64 8x4 (16 of 2 lanes), leaving 16 of the 32 vector registers for the B row, the
 * broadcast A values and the epilogue.  Each k step is two B loads and 16 fused
 * multiply-adds with a broadcast A element (fmla by element).  Edge tiles, which NEON
 * cannot load with a lane mask, go through a small stack buffer.  Epilogue activations:
 * relu vectorised, the others by the scalar helpers of gemm_scalar.c. */
#include "gemm_internal.h"
#include "../isa.h"
#if FG_GEMM_NEON
FG_ISA_BEGIN(base)
#include <arm_neon.h>

/* the first m (1..lanes) elements of a vector from / to memory, the other lanes zero */
static inline float32x4_t fgn_loadm_s(const float *p, int m)
{
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < m && i < 4; i++) t[i] = p[i];
    return vld1q_f32(t);
}
static inline void fgn_storem_s(float *p, int m, float32x4_t v)
{
    float t[4];
    vst1q_f32(t, v);
    for (int i = 0; i < m && i < 4; i++) p[i] = t[i];
}
static inline float64x2_t fgn_loadm_d(const double *p, int m)
{
    double t[2] = {0.0, 0.0};
    for (int i = 0; i < m && i < 2; i++) t[i] = p[i];
    return vld1q_f64(t);
}
static inline void fgn_storem_d(double *p, int m, float64x2_t v)
{
    double t[2];
    vst1q_f64(t, v);
    for (int i = 0; i < m && i < 2; i++) p[i] = t[i];
}
/* relu with NaN kept (vmaxq propagates NaN, as the x86 paths' max(0, x) does) */
static inline float32x4_t fgn_act_s(float32x4_t x, int act)
{
    return act == FG_ACT_RELU ? vmaxq_f32(vdupq_n_f32(0.0f), x) : x;
}
static inline float64x2_t fgn_act_d(float64x2_t x, int act)
{
    return act == FG_ACT_RELU ? vmaxq_f64(vdupq_n_f64(0.0), x) : x;
}

/* ---------------- f32 instantiation ----------------------------------------------- */
#define T float
#define V float32x4_t
#define L 4
#define MR FG_GEMM_SNEON_MR
#define NR FG_GEMM_SNEON_NR
#define MC FG_GEMM_SNEON_MC
#define KC FG_GEMM_SNEON_KC
#define NC FG_GEMM_SNEON_NC
#define MASK_T int
#define MASKN(n) (n)
#define VZERO() vdupq_n_f32(0.0f)
#define VLOAD(p) vld1q_f32(p)
#define VLOADM(p, m) fgn_loadm_s(p, m)
#define VSTORE(p, v) vst1q_f32(p, v)
#define VSTOREM(p, m, v) fgn_storem_s(p, m, v)
#define VSET1(x) vdupq_n_f32(x)
#define VFMA(a, b, c) vfmaq_f32(c, a, b)
#define VMUL(a, b) vmulq_f32(a, b)
#define VADD(a, b) vaddq_f32(a, b)
#define VACT_OK(act) ((act) <= FG_ACT_RELU)
#define ACT_ROWS(c, ldc, mr, nr, act) fg_gemm_act_rows_f32(c, ldc, mr, nr, act)
#define FGD_SFX sneon
#define FGD_FNAME fg_gemm_seq_f32_neon
#define vact_sneon fgn_act_s
#include "gemm_ukr_simd.h"
#include "gemm_driver.h"
#include "gemm_ukr_simd_end.h"

/* ---------------- f64 instantiation ----------------------------------------------- */
#define T double
#define V float64x2_t
#define L 2
#define MR FG_GEMM_DNEON_MR
#define NR FG_GEMM_DNEON_NR
#define MC FG_GEMM_DNEON_MC
#define KC FG_GEMM_DNEON_KC
#define NC FG_GEMM_DNEON_NC
#define MASK_T int
#define MASKN(n) (n)
#define VZERO() vdupq_n_f64(0.0)
#define VLOAD(p) vld1q_f64(p)
#define VLOADM(p, m) fgn_loadm_d(p, m)
#define VSTORE(p, v) vst1q_f64(p, v)
#define VSTOREM(p, m, v) fgn_storem_d(p, m, v)
#define VSET1(x) vdupq_n_f64(x)
#define VFMA(a, b, c) vfmaq_f64(c, a, b)
#define VMUL(a, b) vmulq_f64(a, b)
#define VADD(a, b) vaddq_f64(a, b)
#define VACT_OK(act) ((act) <= FG_ACT_RELU)
#define ACT_ROWS(c, ldc, mr, nr, act) fg_gemm_act_rows_f64(c, ldc, mr, nr, act)
#define FGD_SFX dneon
#define FGD_FNAME fg_gemm_seq_f64_neon
#define vact_dneon fgn_act_d
#include "gemm_ukr_simd.h"
#include "gemm_driver.h"
FG_ISA_END
#else
/* no NEON in this build: an empty translation unit is not valid ISO C */
typedef int fg_gemm_neon_unused;
#endif /* FG_GEMM_NEON */
