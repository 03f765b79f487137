/* Index kernels (index.c): index_select / gather / scatter / masked select along the
 * middle axis of a dense (outer, n, inner) layout.
 *
 * Kernels that only move data take the element size `esize` (1, 4 or 8 bytes), so one
 * entry point serves float32, float64, int64 and bool.  Kernels that add take a float
 * type suffix.  Every index is checked against the dimension size n: an index outside
 * [-n, n) (wrap != 0: negative indices count from the end) or outside [0, n) (wrap == 0)
 * makes the kernel return FG_EINVAL with the offending index in *bad; the output's
 * contents are then unspecified (callers write into fresh arrays and drop them).
 * gather takes wrap == 0 only.  All arrays are dense; idx arrays are int64.            */
#ifndef FG_INDEX_H
#define FG_INDEX_H
#include <stdint.h>

/* out (outer, m, inner) = x (outer, n, inner)[:, idx[j], :]                            */
int fg_index_select(int esize, int64_t outer, int64_t n, int64_t inner, const void *x,
                    int64_t m, const int64_t *idx, void *out, int wrap, int64_t *bad,
                    int nthreads);
/* out (outer, n, inner)[:, idx[j], :] += src (outer, m, inner)[:, j, :]  (repeats add) */
int fg_index_add_f32(int64_t outer, int64_t n, int64_t inner, float *out, int64_t m,
                     const int64_t *idx, const float *src, int wrap, int64_t *bad,
                     int nthreads);
int fg_index_add_f64(int64_t outer, int64_t n, int64_t inner, double *out, int64_t m,
                     const int64_t *idx, const double *src, int wrap, int64_t *bad,
                     int nthreads);
/* idx is (outer, m, inner): out[o, j, i] = x[o, idx[o, j, i], i]                       */
int fg_gather(int esize, int64_t outer, int64_t n, int64_t inner, const void *x, int64_t m,
              const int64_t *idx, void *out, int wrap, int64_t *bad, int nthreads);
/* out[o, idx[o, j, i], i] += src[o, j, i]  (repeats add)                                */
int fg_scatter_add_f32(int64_t outer, int64_t n, int64_t inner, float *out, int64_t m,
                       const int64_t *idx, const float *src, int wrap, int64_t *bad,
                       int nthreads);
int fg_scatter_add_f64(int64_t outer, int64_t n, int64_t inner, double *out, int64_t m,
                       const int64_t *idx, const double *src, int wrap, int64_t *bad,
                       int nthreads);
/* out[o, idx[o, j, i], i] = src[o, j, i]  (repeats: the last one in memory order wins) */
int fg_scatter(int esize, int64_t outer, int64_t n, int64_t inner, void *out, int64_t m,
               const int64_t *idx, const void *src, int wrap, int64_t *bad, int nthreads);
/* Compaction: out[k++] = x[i] for each i < n with mask[i] != 0; *count = k.           */
int fg_masked_select(int esize, int64_t n, const void *x, const uint8_t *mask, void *out,
                     int64_t *count);
/* Expansion: out[i] = mask[i] ? src[k++] : 0, for i < n (src holds sum(mask) values). */
int fg_masked_expand(int esize, int64_t n, const void *src, const uint8_t *mask, void *out);
#endif
