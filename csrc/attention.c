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

/* The dense layout of attention.h's first contract. */
static void sdpa_dense_layout(const fg_sdpa_shape *sh, fg_sdpa_layout *lay)
{
    const int64_t L = sh->l, S = sh->s, E = sh->e, EV = sh->ev;
    const int64_t E1 = E ? E : 1, EV1 = EV ? EV : 1;      /* row strides are at least 1 */
    const int64_t rq[3] = {sh->hq * L * E, L * E, E1}, rk[3] = {sh->hk * S * E, S * E, E1};
    const int64_t ro[3] = {sh->hq * L * EV, L * EV, EV1};
    const int64_t rv[3] = {sh->hk * S * EV, S * EV, EV1};
    for (int d = 0; d < 3; d++) {
        lay->q[d] = lay->dq[d] = rq[d];
        lay->k[d] = lay->dk[d] = rk[d];
        lay->v[d] = lay->dv[d] = rv[d];
        lay->o[d] = lay->g[d] = ro[d];
    }
}

/* A (batch, head, row) stride triple for rows of n elements: non-negative, row stride at
 * least n (the GEMMs read rows at that distance). */
static int sdpa_strides_ok(const int64_t st[3], int64_t n)
{
    return st[0] >= 0 && st[1] >= 0 && st[2] >= n && st[2] >= 1;
}

static int sdpa_layout_ok(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay, int bwd)
{
    if (!lay || !sdpa_strides_ok(lay->q, sh->e) || !sdpa_strides_ok(lay->k, sh->e) ||
        !sdpa_strides_ok(lay->v, sh->ev) || !sdpa_strides_ok(lay->o, sh->ev))
        return 0;
    if (bwd && (!sdpa_strides_ok(lay->g, sh->ev) || !sdpa_strides_ok(lay->dq, sh->e) ||
                !sdpa_strides_ok(lay->dk, sh->e) || !sdpa_strides_ok(lay->dv, sh->ev)))
        return 0;
    return 1;
}

#define SDPA_API(TS, T)                                                                   \
    int fg_sdpa_strided_##TS(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay,          \
                             const T *q, const T *k, const T *v, const void *mask, T *out, \
                             T *lse, int nthreads)                                        \
    {                                                                                     \
        int st = sdpa_check(sh, q, k, v, mask);                                           \
        if (st) return st;                                                                \
        if (!sdpa_layout_ok(sh, lay, 0)) return FG_EINVAL;                                \
        if (sh->batch * sh->hq * sh->l != 0 && (!lse || (sh->ev && !out))) return FG_EINVAL; \
        switch (fg_get_isa()) {                                                           \
        case FG_ISA_AVX512:                                                               \
            return fga_fwd_##TS##_avx512(sh, lay, q, k, v, mask, out, lse, nthreads);     \
        case FG_ISA_AVX2: return fga_fwd_##TS##_avx2(sh, lay, q, k, v, mask, out, lse, nthreads); \
        default: return fga_fwd_##TS##_base(sh, lay, q, k, v, mask, out, lse, nthreads);  \
        }                                                                                 \
    }                                                                                     \
    int fg_sdpa_##TS(const fg_sdpa_shape *sh, const T *q, const T *k, const T *v,         \
                     const void *mask, T *out, T *lse, int nthreads)                      \
    {                                                                                     \
        fg_sdpa_layout lay;                                                               \
        if (!sh) return FG_EINVAL;                                                        \
        sdpa_dense_layout(sh, &lay);                                                      \
        return fg_sdpa_strided_##TS(sh, &lay, q, k, v, mask, out, lse, nthreads);         \
    }                                                                                     \
    int fg_sdpa_bwd_strided_##TS(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay,      \
                                 const T *q, const T *k, const T *v, const void *mask,    \
                                 const T *out, const T *lse, const T *g, T *dq, T *dk,    \
                                 T *dv, int nthreads)                                     \
    {                                                                                     \
        int st = sdpa_check(sh, q, k, v, mask);                                           \
        if (st) return st;                                                                \
        if (!sdpa_layout_ok(sh, lay, 1)) return FG_EINVAL;                                \
        const int64_t n = sh->batch * sh->hq * sh->l, nk = sh->batch * sh->hk * sh->s;   \
        if ((n && !lse) || (n * sh->ev != 0 && (!out || !g)) || (n * sh->e != 0 && !dq) || \
            (nk * sh->e != 0 && !dk) || (nk * sh->ev != 0 && !dv))                        \
            return FG_EINVAL;                                                             \
        switch (fg_get_isa()) {                                                           \
        case FG_ISA_AVX512:                                                               \
            return fga_bwd_##TS##_avx512(sh, lay, q, k, v, mask, out, lse, g, dq, dk, dv, \
                                         nthreads);                                       \
        case FG_ISA_AVX2:                                                                 \
            return fga_bwd_##TS##_avx2(sh, lay, q, k, v, mask, out, lse, g, dq, dk, dv,   \
                                       nthreads);                                         \
        default:                                                                          \
            return fga_bwd_##TS##_base(sh, lay, q, k, v, mask, out, lse, g, dq, dk, dv,   \
                                       nthreads);                                         \
        }                                                                                 \
    }                                                                                     \
    int fg_sdpa_bwd_##TS(const fg_sdpa_shape *sh, const T *q, const T *k, const T *v,     \
                         const void *mask, const T *out, const T *lse, const T *g, T *dq, \
                         T *dk, T *dv, int nthreads)                                      \
    {                                                                                     \
        fg_sdpa_layout lay;                                                               \
        if (!sh) return FG_EINVAL;                                                        \
        sdpa_dense_layout(sh, &lay);                                                      \
        return fg_sdpa_bwd_strided_##TS(sh, &lay, q, k, v, mask, out, lse, g, dq, dk, dv, \
                                        nthreads);                                        \
    }

SDPA_API(f32, float)
SDPA_API(f64, double)
