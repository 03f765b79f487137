/* AVX2+FMA GEMM: micro-kernels (f32 6x16, f64 6x8, 12 ymm accumulators),
 * vectorised epilogue activations for f32. */
#include "gemm_internal.h"
#include "../isa.h"
#if FG_GEMM_X86
FG_ISA_BEGIN(avx2)
#include <immintrin.h>

/* ---------------- f32 vector math (|rel err| ~ 1e-7) ------------------------------ */
static inline __m256 fg256_exp(__m256 x)
{
    x = _mm256_min_ps(_mm256_set1_ps(88.3f), x);    /* x second: NaN propagates */
    x = _mm256_max_ps(_mm256_set1_ps(-87.3f), x);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline __m256 fg256_sigmoid(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, fg256_exp(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

static inline __m256 fg256_tanh(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f), sgn = _mm256_set1_ps(-0.0f);
    __m256 ax = _mm256_andnot_ps(sgn, x);
    __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    __m256 e = fg256_exp(_mm256_add_ps(ax, ax));
    __m256 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    big = _mm256_or_ps(big, _mm256_and_ps(x, sgn));
    __m256 sm = _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ);
    return _mm256_blendv_ps(big, small, sm);
}

/* gelu via erfc(z) = t exp(-z^2 + P(t)), t = 1/(1+z/2) (rel err < 1.2e-7) */
static inline __m256 fg256_gelu(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x),
                             _mm256_set1_ps(0.70710678118654752f));
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), one));
    __m256 p = _mm256_set1_ps(0.17087277f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
    p = _mm256_fnmadd_ps(z, z, p);
    p = _mm256_max_ps(_mm256_set1_ps(-87.0f), p);     /* exp underflow -> ~0 */
    __m256 ec = _mm256_mul_ps(t, fg256_exp(p));
    __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
    __m256 q = _mm256_blendv_ps(ec, _mm256_sub_ps(_mm256_set1_ps(2.0f), ec), pos);
    return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), q);
}

static inline __m256 fg256_act_ps(__m256 x, int act)
{
    switch (act) {
    case FG_ACT_RELU: return _mm256_max_ps(_mm256_setzero_ps(), x);
    case FG_ACT_GELU: return fg256_gelu(x);
    case FG_ACT_TANH: return fg256_tanh(x);
    case FG_ACT_SIGMOID: return fg256_sigmoid(x);
    default: return x;
    }
}

static inline __m256d fg256_act_pd(__m256d x, int act)
{
    return act == FG_ACT_RELU ? _mm256_max_pd(_mm256_setzero_pd(), x) : x;
}

/* ---------------- f32 instantiation ----------------------------------------------- */
#define T float
#define V __m256
#define L 8
#define MR FG_GEMM_S256_MR
#define NR FG_GEMM_S256_NR
#define MC FG_GEMM_S256_MC
#define KC FG_GEMM_S256_KC
#define NC FG_GEMM_S256_NC
#define MASK_T __m256i
#define MASKN(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define VZERO() _mm256_setzero_ps()
#define VLOAD(p) _mm256_loadu_ps(p)
#define VLOADM(p, m) _mm256_maskload_ps(p, m)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VSTOREM(p, m, v) _mm256_maskstore_ps(p, m, v)
#define VSET1(x) _mm256_set1_ps(x)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VACT_OK(act) 1
#define ACT_ROWS(c, ldc, mr, nr, act) fg_gemm_act_rows_f32(c, ldc, mr, nr, act)
#define FGD_SFX s256
#define FGD_FNAME fg_gemm_seq_f32_avx2
#define vact_s256 fg256_act_ps
#include "gemm_ukr_simd.h"
#include "gemm_driver.h"
#include "gemm_ukr_simd_end.h"

/* ---------------- f64 instantiation ----------------------------------------------- */
#define T double
#define V __m256d
#define L 4
#define MR FG_GEMM_D256_MR
#define NR FG_GEMM_D256_NR
#define MC FG_GEMM_D256_MC
#define KC FG_GEMM_D256_KC
#define NC FG_GEMM_D256_NC
#define MASK_T __m256i
#define MASKN(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))
#define VZERO() _mm256_setzero_pd()
#define VLOAD(p) _mm256_loadu_pd(p)
#define VLOADM(p, m) _mm256_maskload_pd(p, m)
#define VSTORE(p, v) _mm256_storeu_pd(p, v)
#define VSTOREM(p, m, v) _mm256_maskstore_pd(p, m, v)
#define VSET1(x) _mm256_set1_pd(x)
#define VFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define VMUL(a, b) _mm256_mul_pd(a, b)
#define VADD(a, b) _mm256_add_pd(a, b)
#define VACT_OK(act) ((act) <= FG_ACT_RELU)
#define ACT_ROWS(c, ldc, mr, nr, act) fg_gemm_act_rows_f64(c, ldc, mr, nr, act)
#define FGD_SFX d256
#define FGD_FNAME fg_gemm_seq_f64_avx2
#define vact_d256 fg256_act_pd
#include "gemm_ukr_simd.h"
#include "gemm_driver.h"
FG_ISA_END
#endif /* FG_GEMM_X86 */
