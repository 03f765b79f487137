/* Scans, product reduction, sort and top-k along one axis (scan_sort.c).
 * Included at the end of fastgrad.h.
 *
 * Layout: x is dense with logical shape (outer, n, inner); the op runs along the middle
 * axis for each of the outer*inner lines.  Outputs are dense with the same layout
 * (prod: (outer, inner); topk: (outer, k, inner)).
 * float32 scans and products accumulate in double, so long scans do not drift. */
#ifndef FG_SCAN_SORT_H
#define FG_SCAN_SORT_H
#include <stdint.h>

enum {
#define FG_SCAN(ID, NAME) FG_SCAN_##ID,
#include "ops/scan.def"
    FG_SCAN_COUNT
};

/* out[o, j, i] = x[o, 0, i] op ... op x[o, j, i]   (reverse: x[o, j, i] op ... op x[o, n-1, i]) */
int fg_scan_f32(int op, int reverse, int64_t outer, int64_t n, int64_t inner, const float *x,
                float *out, int nthreads);
int fg_scan_f64(int op, int reverse, int64_t outer, int64_t n, int64_t inner, const double *x,
                double *out, int nthreads);
/* out[o, i] = prod_j x[o, j, i]  (1 for n == 0) */
int fg_prod_f32(int64_t outer, int64_t n, int64_t inner, const float *x, float *out, int nthreads);
int fg_prod_f64(int64_t outer, int64_t n, int64_t inner, const double *x, double *out,
                int nthreads);
/* Stable sort of every line: vals gets the sorted values, idx their positions (int64).
 * NaN sorts above +inf (last ascending, first descending); -0 and +0 are equal (ties
 * keep their input order).  topk writes the first k of that order (0 <= k <= n) to
 * (outer, k, inner) outputs.  Uses fg_workspace (slots 0, 1). */
int fg_sort_f32(int descending, int64_t outer, int64_t n, int64_t inner, const float *x,
                float *vals, int64_t *idx, int nthreads);
int fg_sort_f64(int descending, int64_t outer, int64_t n, int64_t inner, const double *x,
                double *vals, int64_t *idx, int nthreads);
int fg_topk_f32(int largest, int64_t k, int64_t outer, int64_t n, int64_t inner, const float *x,
                float *vals, int64_t *idx, int nthreads);
int fg_topk_f64(int largest, int64_t k, int64_t outer, int64_t n, int64_t inner,
                const double *x, double *vals, int64_t *idx, int nthreads);
#endif
