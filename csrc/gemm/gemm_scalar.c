/* Portable C GEMM micro-kernels (any CPU) and the scalar activation helpers. */
#include "../isa.h"
FG_ISA_BEGIN(base)
#include <math.h>
#include "gemm_internal.h"
#include "gemm_tmpl.h"

static inline double fg_act1(double x, int act)
{
    switch (act) {
    case FG_ACT_RELU: return x > 0 ? x : (x == x ? 0.0 : x);
    case FG_ACT_GELU: return 0.5 * x * (1.0 + erf(x * 0.70710678118654752440));
    case FG_ACT_TANH: return tanh(x);
    case FG_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    default: return x;
    }
}

void fg_gemm_act_rows_f32(float *c, int64_t ldc, int64_t mr, int64_t nr, int act)
{
    if (act == FG_ACT_NONE) return;
    for (int64_t i = 0; i < mr; i++)
        for (int64_t j = 0; j < nr; j++)
            c[i * ldc + j] = (float)fg_act1(c[i * ldc + j], act);
}

void fg_gemm_act_rows_f64(double *c, int64_t ldc, int64_t mr, int64_t nr, int act)
{
    if (act == FG_ACT_NONE) return;
    for (int64_t i = 0; i < mr; i++)
        for (int64_t j = 0; j < nr; j++)
            c[i * ldc + j] = fg_act1(c[i * ldc + j], act);
}

/* Micro-kernel with the same contract as gemm_ukr_simd.h (see there): A access mode
 * am (0 packed MR per k, otherwise a(i, p) = a[i*rsa + p*csa]); B rows of nr valid
 * elements with k-stride ldb. */
#define FGD_SCALAR_UKR(T, SFX, MRc, NRc, ACTROWS)                                      \
    typedef struct { T alpha, beta; const T *bias; int act; } ep_##SFX;               \
    static void ukr_full_##SFX(int64_t k, const T *restrict a, int64_t rsa,            \
                               int64_t csa, const T *restrict b, int64_t ldb,          \
                               T out[MRc][NRc])                                        \
    {                                                                                 \
        T acc[MRc][NRc]; /* local: no aliasing, stays in registers */                 \
        for (int i = 0; i < MRc; i++)                                                 \
            for (int j = 0; j < NRc; j++) acc[i][j] = 0;                              \
        for (int64_t p = 0; p < k; p++) {                                             \
            const T *bp = b + p * ldb;                                                \
            T bv[NRc];                                                                \
            for (int j = 0; j < NRc; j++) bv[j] = bp[j];                              \
            for (int i = 0; i < MRc; i++) {                                           \
                const T av = a[i * rsa + p * csa];                                    \
                for (int j = 0; j < NRc; j++) acc[i][j] += av * bv[j];                \
            }                                                                         \
        }                                                                             \
        for (int i = 0; i < MRc; i++)                                                 \
            for (int j = 0; j < NRc; j++) out[i][j] = acc[i][j];                      \
    }                                                                                 \
    static void ukr_##SFX(int am, int64_t k, const T *a, int64_t rsa, int64_t csa,     \
                          const T *b, int64_t ldb, T *c, int64_t ldc, int mr, int nr,  \
                          const ep_##SFX *ep)                                         \
    {                                                                                 \
        T acc[MRc][NRc];                                                              \
        if (am == 0) { rsa = 1; csa = MRc; }                                          \
        if (mr == MRc && nr == NRc) {                                                 \
            ukr_full_##SFX(k, a, rsa, csa, b, ldb, acc);                              \
        } else {                                                                      \
            for (int i = 0; i < MRc; i++)                                             \
                for (int j = 0; j < NRc; j++) acc[i][j] = 0;                          \
            for (int64_t p = 0; p < k; p++) {                                         \
                const T *bp = b + p * ldb;                                            \
                for (int i = 0; i < mr; i++) {                                        \
                    const T av = a[i * rsa + p * csa];                                \
                    for (int j = 0; j < nr; j++) acc[i][j] += av * bp[j];             \
                }                                                                     \
            }                                                                         \
        }                                                                             \
        for (int i = 0; i < mr; i++) {                                                \
            T *cr = c + i * ldc;                                                      \
            for (int j = 0; j < nr; j++) {                                            \
                T x = ep->alpha * acc[i][j];                                          \
                if (ep->beta != (T)0) x += ep->beta * cr[j];                          \
                if (ep->bias) x += ep->bias[j];                                       \
                cr[j] = x;                                                            \
            }                                                                         \
        }                                                                             \
        ACTROWS(c, ldc, mr, nr, ep->act);                                             \
    }

FGD_SCALAR_UKR(float, s0, FG_GEMM_SSC_MR, FG_GEMM_SSC_NR, fg_gemm_act_rows_f32)
FGD_SCALAR_UKR(double, d0, FG_GEMM_DSC_MR, FG_GEMM_DSC_NR, fg_gemm_act_rows_f64)

#define T float
#define MR FG_GEMM_SSC_MR
#define NR FG_GEMM_SSC_NR
#define MC FG_GEMM_SSC_MC
#define KC FG_GEMM_SSC_KC
#define NC FG_GEMM_SSC_NC
#define FGD_SFX s0
#define FGD_FNAME fg_gemm_seq_f32_scalar
#include "gemm_driver.h"
#undef T
#undef MR
#undef NR
#undef MC
#undef KC
#undef NC
#undef FGD_SFX
#undef FGD_FNAME

#define T double
#define MR FG_GEMM_DSC_MR
#define NR FG_GEMM_DSC_NR
#define MC FG_GEMM_DSC_MC
#define KC FG_GEMM_DSC_KC
#define NC FG_GEMM_DSC_NC
#define FGD_SFX d0
#define FGD_FNAME fg_gemm_seq_f64_scalar
#include "gemm_driver.h"
FG_ISA_END
