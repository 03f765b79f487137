/* Scaled dot-product attention: argument checks and the SIMD path dispatch.  The
 * kernels are attention_tmpl.h, compiled per path by attention_{scalar,avx2,avx512}.c;
 * the contracts are in attention.h. */
#include <stdint.h>
#include "fastgrad.h"
#include "attention.h"

static int sdpa_check(const fg_sdpa_shape *sh, const void *q, const void *k, const void *v,
                      const void *mask)
{
    if (!sh || sh->batch < 0 || sh->hq < 1 || sh->hk < 1 || sh->hq % sh->hk || sh->l < 0 ||
        sh->s < 0 || sh->e < 0 || sh->ev < 0 || sh->causal < 0 || sh->causal > 1 ||
        sh->mask < FG_SDPA_MASK_NONE || sh->mask > FG_SDPA_MASK_ADD || !(sh->scale == sh->scale))
        return FG_EINVAL;
    for (int d = 0; d < 4; d++)
        if (sh->ms[d] < 0) return FG_EINVAL;
    if (sh->mask != FG_SDPA_MASK_NONE && !mask) return FG_EINVAL;
    const int64_t n = sh->batch * sh->hq * sh->l, nk = sh->batch * sh->hk * sh->s;
    if ((n * sh->e != 0 && !q) || (nk * sh->e != 0 && !k) || (nk * sh->ev != 0 && !v))
        return FG_EINVAL;
    return FG_OK;
}

#define SDPA_API(TS, T)                                                                   \
    int fg_sdpa_##TS(const fg_sdpa_shape *sh, const T *q, const T *k, const T *v,         \
                     const void *mask, T *out, T *lse, int nthreads)                      \
    {                                                                                     \
        int st = sdpa_check(sh, q, k, v, mask);                                           \
        if (st) return st;                                                                \
        if (sh->batch * sh->hq * sh->l != 0 && (!lse || (sh->ev && !out))) return FG_EINVAL; \
        switch (fg_get_isa()) {                                                           \
        case FG_ISA_AVX512: return fga_fwd_##TS##_avx512(sh, q, k, v, mask, out, lse, nthreads); \
        case FG_ISA_AVX2: return fga_fwd_##TS##_avx2(sh, q, k, v, mask, out, lse, nthreads); \
        default: return fga_fwd_##TS##_base(sh, q, k, v, mask, out, lse, nthreads);       \
        }                                                                                 \
    }                                                                                     \
    int fg_sdpa_bwd_##TS(const fg_sdpa_shape *sh, const T *q, const T *k, const T *v,     \
                         const void *mask, const T *out, const T *lse, const T *g, T *dq, \
                         T *dk, T *dv, int nthreads)                                      \
    {                                                                                     \
        int st = sdpa_check(sh, q, k, v, mask);                                           \
        if (st) return st;                                                                \
        const int64_t n = sh->batch * sh->hq * sh->l, nk = sh->batch * sh->hk * sh->s;   \
        if ((n && !lse) || (n * sh->ev != 0 && (!out || !g)) || (n * sh->e != 0 && !dq) || \
            (nk * sh->e != 0 && !dk) || (nk * sh->ev != 0 && !dv))                        \
            return FG_EINVAL;                                                             \
        switch (fg_get_isa()) {                                                           \
        case FG_ISA_AVX512:                                                               \
            return fga_bwd_##TS##_avx512(sh, q, k, v, mask, out, lse, g, dq, dk, dv, nthreads); \
        case FG_ISA_AVX2:                                                                 \
            return fga_bwd_##TS##_avx2(sh, q, k, v, mask, out, lse, g, dq, dk, dv, nthreads); \
        default:                                                                          \
            return fga_bwd_##TS##_base(sh, q, k, v, mask, out, lse, g, dq, dk, dv, nthreads); \
        }                                                                                 \
    }

SDPA_API(f32, float)
SDPA_API(f64, double)
