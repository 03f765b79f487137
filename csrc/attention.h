/* Fused scaled dot-product attention (attention.c, attention_tmpl.h): forward and
 * backward, tiled over queries and keys with an online softmax, so the L x S score
 * matrix is never formed; only Br x Bc tiles of it live in per-thread scratch.
 *
 * Layouts (dense, row-major; the _strided entry points take any fg_sdpa_layout):
 *   q (batch, hq, l, e), k (batch, hk, s, e), v (batch, hk, s, ev),
 *   out (batch, hq, l, ev), lse (batch, hq, l)
 * hq is a multiple of hk: query head h reads key/value head h / (hq / hk).
 *
 * Scores: s_ij = scale * q_i . k_j, then the mask:
 *   mask == FG_SDPA_MASK_BOOL: a uint8 array, 0 = masked out (score -inf);
 *   mask == FG_SDPA_MASK_ADD:  an array of the kernel's type added to the scores;
 *   element (b, h, i, j) of the mask is mask[b*ms[0] + h*ms[1] + i*ms[2] + j*ms[3]]
 *   (strides in elements, 0 broadcasts).
 *   causal: key j is masked for query i when j > i (aligned at the top left).
 * out_i = sum_j softmax(s_i)_j v_j; a row whose scores are all -inf (a "dead" row) gives
 * out_i = 0 and lse_i = +inf.  lse_i = log sum_j exp(s_ij) otherwise.
 *
 * Backward: from q, k, v, the mask, out, lse and the output gradient g, writes dq, dk,
 * dv (all three; dk and dv are sums over the query heads that share them).  Dead rows
 * get zero gradient.  Results do not depend on the thread count, nor on the layout.
 * Returns FG_OK, FG_EINVAL (bad shape, stride or pointer) or FG_ENOMEM (scratch). */
#ifndef FG_ATTENTION_H
#define FG_ATTENTION_H
#include <stdint.h>

enum { FG_SDPA_MASK_NONE = 0, FG_SDPA_MASK_BOOL = 1, FG_SDPA_MASK_ADD = 2 };

typedef struct {
    int64_t batch, hq, hk, l, s, e, ev;
    double scale;
    int causal;
    int mask;                 /* FG_SDPA_MASK_* */
    int64_t ms[4];            /* mask strides over (batch, hq, l, s), elements */
} fg_sdpa_shape;

/* Strided layouts (the fg_sdpa_*_strided entry points): element strides over (batch,
 * head, row) of each array; features are contiguous (stride 1).  A row stride is at least
 * the row's length; strides are non-negative, and the arrays written (out, dq, dk, dv)
 * have no two elements at one address.  lse is always dense (batch, hq, l). */
typedef struct {
    int64_t q[3], k[3], v[3], o[3], g[3], dq[3], dk[3], dv[3];
} fg_sdpa_layout;

int fg_sdpa_f32(const fg_sdpa_shape *sh, const float *q, const float *k, const float *v,
                const void *mask, float *out, float *lse, int nthreads);
int fg_sdpa_f64(const fg_sdpa_shape *sh, const double *q, const double *k, const double *v,
                const void *mask, double *out, double *lse, int nthreads);
int fg_sdpa_bwd_f32(const fg_sdpa_shape *sh, const float *q, const float *k, const float *v,
                    const void *mask, const float *out, const float *lse, const float *g,
                    float *dq, float *dk, float *dv, int nthreads);
int fg_sdpa_bwd_f64(const fg_sdpa_shape *sh, const double *q, const double *k,
                    const double *v, const void *mask, const double *out,
                    const double *lse, const double *g, double *dq, double *dk, double *dv,
                    int nthreads);

int fg_sdpa_strided_f32(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay, const float *q,
                        const float *k, const float *v, const void *mask, float *out,
                        float *lse, int nthreads);
int fg_sdpa_strided_f64(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay, const double *q,
                        const double *k, const double *v, const void *mask, double *out,
                        double *lse, int nthreads);
int fg_sdpa_bwd_strided_f32(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay,
                            const float *q, const float *k, const float *v, const void *mask,
                            const float *out, const float *lse, const float *g, float *dq,
                            float *dk, float *dv, int nthreads);
int fg_sdpa_bwd_strided_f64(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay,
                            const double *q, const double *k, const double *v,
                            const void *mask, const double *out, const double *lse,
                            const double *g, double *dq, double *dk, double *dv,
                            int nthreads);

/* Internal: the per-ISA bodies (attention_tmpl.h), picked by fg_get_isa. */
#define FG_SDPA_DECL(TS, T, ISA)                                                          \
    int fga_fwd_##TS##_##ISA(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay,         \
                             const T *q, const T *k, const T *v, const void *mask,        \
                             T *out, T *lse, int nthreads);                               \
    int fga_bwd_##TS##_##ISA(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay,         \
                             const T *q, const T *k, const T *v, const void *mask,        \
                             const T *out, const T *lse, const T *g, T *dq, T *dk, T *dv, \
                             int nthreads);
FG_SDPA_DECL(f32, float, base)
FG_SDPA_DECL(f64, double, base)
FG_SDPA_DECL(f32, float, avx2)
FG_SDPA_DECL(f64, double, avx2)
FG_SDPA_DECL(f32, float, avx512)
FG_SDPA_DECL(f64, double, avx512)
#undef FG_SDPA_DECL
#endif
