/* AVX-512 GEMM: micro-kernels (f32 8x32, f64 8x16, 16 zmm accumulators, FMA),
 * vectorised epilogue activations for f32, fast transposing pack routines. */
#include "gemm_internal.h"
#include "../isa.h"
#if FG_GEMM_X86
FG_ISA_BEGIN(avx512)
#include <immintrin.h>

/* ---------------- f32 vector math (|rel err| ~ 1e-7) ------------------------------ */
static inline __m512 fg512_exp(__m512 x)
{
    /* min/max with x second: NaN propagates */
    x = _mm512_min_ps(_mm512_set1_ps(88.72f), x);
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

static inline __m512 fg512_sigmoid(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, fg512_exp(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

static inline __m512 fg512_tanh(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 ax = _mm512_abs_ps(x);
    /* small |x|: odd polynomial */
    __m512 z = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
    __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
    /* large |x|: 1 - 2 / (exp(2|x|) + 1), sign restored */
    __m512 e = fg512_exp(_mm512_add_ps(ax, ax));
    __m512 big = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
    big = _mm512_or_ps(big, _mm512_and_ps(x, _mm512_set1_ps(-0.0f)));
    __mmask16 sm = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
    return _mm512_mask_blend_ps(sm, big, small);
}

/* gelu(x) = 0.5 x (1 + erf(x/sqrt2)); erfc(z) = t exp(-z^2 + P(t)), t = 1/(1+z/2),
 * a Chebyshev fit with relative error < 1.2e-7 for all z >= 0. */
static inline __m512 fg512_gelu(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
    __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(z, _mm512_set1_ps(0.5f), one));
    __m512 p = _mm512_set1_ps(0.17087277f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
    p = _mm512_fnmadd_ps(z, z, p);
    __m512 ec = _mm512_mul_ps(t, fg512_exp(p));               /* erfc(|x|/sqrt2) */
    __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
    __m512 q = _mm512_mask_sub_ps(ec, pos, _mm512_set1_ps(2.0f), ec); /* 1 + erf */
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), q);
}

static inline __m512 fg512_act_ps(__m512 x, int act)
{
    switch (act) {
    case FG_ACT_RELU: return _mm512_max_ps(_mm512_setzero_ps(), x);
    case FG_ACT_GELU: return fg512_gelu(x);
    case FG_ACT_TANH: return fg512_tanh(x);
    case FG_ACT_SIGMOID: return fg512_sigmoid(x);
    default: return x;
    }
}

static inline __m512d fg512_act_pd(__m512d x, int act)
{
    return act == FG_ACT_RELU ? _mm512_max_pd(_mm512_setzero_pd(), x) : x;
}

/* ---------------- fast transposing packs (f32) ------------------------------------ */
/* 16x16 in-register transpose: r[i] row i -> r[j] column j */
static inline void fg512_tr16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    /* now r[4q+s] holds, for rows 4q..4q+3, element column (s + 4*lane128) */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x88);       /* lanes 0,2 of each */
        t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xDD);   /* lanes 1,3 */
        t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x88);
        t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
        r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
        r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xDD);
    }
}

/* one full 32-wide panel of op(B) = B^T: dst[p*32 + j] = src[j*ldb + p] */
static void fg512_packb_t_s(int64_t kc, const float *src, int64_t ldb, float *dst)
{
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
        for (int h = 0; h < 2; h++) {
            __m512 r[16];
            for (int j = 0; j < 16; j++) r[j] = _mm512_loadu_ps(src + (h * 16 + j) * ldb + p);
            fg512_tr16(r);
            for (int q = 0; q < 16; q++) _mm512_store_ps(dst + (p + q) * 32 + h * 16, r[q]);
        }
    }
    if (p < kc) {
        const __mmask16 mk = (__mmask16)((1u << (kc - p)) - 1);
        for (int h = 0; h < 2; h++) {
            __m512 r[16];
            for (int j = 0; j < 16; j++) r[j] = _mm512_maskz_loadu_ps(mk, src + (h * 16 + j) * ldb + p);
            fg512_tr16(r);
            for (int q = 0; q < kc - p; q++) _mm512_store_ps(dst + (p + q) * 32 + h * 16, r[q]);
        }
    }
}

/* one full 8-high panel of op(A) = A: dst[p*8 + i] = src[i*lda + p] */
static void fg512_packa_n_s(int64_t kc, const float *src, int64_t lda, float *dst)
{
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
        __m512 r[16];
        for (int i = 0; i < 8; i++) r[i] = _mm512_loadu_ps(src + i * lda + p);
        for (int i = 8; i < 16; i++) r[i] = _mm512_setzero_ps();
        fg512_tr16(r);
        /* r[q] lanes 0..7 = column p+q of the 8 rows; pack two columns per store */
        for (int q = 0; q < 16; q += 2) {
            __m512 v = _mm512_insertf32x8(r[q], _mm512_castps512_ps256(r[q + 1]), 1);
            _mm512_storeu_ps(dst + (p + q) * 8, v);
        }
    }
    for (; p < kc; p++)
        for (int i = 0; i < 8; i++) dst[p * 8 + i] = src[i * lda + p];
}

/* ---------------- f32 instantiation ----------------------------------------------- */
#define T float
#define V __m512
#define L 16
#define MR FG_GEMM_S512_MR
#define NR FG_GEMM_S512_NR
#define MC FG_GEMM_S512_MC
#define KC FG_GEMM_S512_KC
#define NC FG_GEMM_S512_NC
#define MASK_T __mmask16
#define MASKN(n) ((__mmask16)((n) >= 16 ? 0xFFFFu : ((1u << (n)) - 1u)))
#define VZERO() _mm512_setzero_ps()
#define VLOAD(p) _mm512_loadu_ps(p)
#define VLOADM(p, m) _mm512_maskz_loadu_ps(m, p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VSTOREM(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define VSET1(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VACT_OK(act) 1
#define ACT_ROWS(c, ldc, mr, nr, act) fg_gemm_act_rows_f32(c, ldc, mr, nr, act)
#define FGD_SFX s512
#define FGD_FNAME fg_gemm_seq_f32_avx512
#define vact_s512 fg512_act_ps
#if FG_GEMM_S512_MR == 8 && FG_GEMM_S512_NR == 32
#define FGD_PACKB_T_PANEL fg512_packb_t_s
#define FGD_PACKA_N_PANEL fg512_packa_n_s
#endif
#include "gemm_ukr_simd.h"
#include "gemm_driver.h"
#include "gemm_ukr_simd_end.h"

/* ---------------- f64 instantiation ----------------------------------------------- */
#define T double
#define V __m512d
#define L 8
#define MR FG_GEMM_D512_MR
#define NR FG_GEMM_D512_NR
#define MC FG_GEMM_D512_MC
#define KC FG_GEMM_D512_KC
#define NC FG_GEMM_D512_NC
#define MASK_T __mmask8
#define MASKN(n) ((__mmask8)((n) >= 8 ? 0xFFu : ((1u << (n)) - 1u)))
#define VZERO() _mm512_setzero_pd()
#define VLOAD(p) _mm512_loadu_pd(p)
#define VLOADM(p, m) _mm512_maskz_loadu_pd(m, p)
#define VSTORE(p, v) _mm512_storeu_pd(p, v)
#define VSTOREM(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define VSET1(x) _mm512_set1_pd(x)
#define VFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VMUL(a, b) _mm512_mul_pd(a, b)
#define VADD(a, b) _mm512_add_pd(a, b)
#define VACT_OK(act) ((act) <= FG_ACT_RELU)
#define ACT_ROWS(c, ldc, mr, nr, act) fg_gemm_act_rows_f64(c, ldc, mr, nr, act)
#define FGD_SFX d512
#define FGD_FNAME fg_gemm_seq_f64_avx512
#define vact_d512 fg512_act_pd
#include "gemm_ukr_simd.h"
#include "gemm_driver.h"
FG_ISA_END
#endif /* FG_GEMM_X86 */
