/* fastgrad C kernel surface.
 *
 * Plain C11, no Python.  Every kernel:
 *   - takes raw pointers, element counts / shapes / strides (in elements, not bytes)
 *     and a thread count;
 *   - returns a status code (FG_OK on success);
 *   - never allocates hidden memory except through fg_workspace() (alloc.c);
 *   - is safe to call without the GIL.
 * Arguments are marked IN / OUT.  Outputs are always dense (C-contiguous) unless a
 * leading dimension says otherwise.
 *
 * The uniform convention (pointers + int64 sizes + int op id + nthreads) lets a later
 * replay loop call any kernel from a small descriptor.
 */
#ifndef FASTGRAD_H
#define FASTGRAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes --------------------------------------------------------------- */
enum {
    FG_OK = 0,
    FG_EINVAL = 1,      /* invalid argument (shape, stride, op id, ...) */
    FG_ENOMEM = 2,      /* allocation failed */
    FG_EUNSUPPORTED = 3 /* combination not implemented */
};

#define FG_MAX_DIMS 16

/* ---- CPU features, SIMD dispatch, threads (cpu.c) ------------------------------- */
enum { FG_ISA_SCALAR = 0, FG_ISA_AVX2 = 1, FG_ISA_AVX512 = 2 };

int fg_cpu_best_isa(void);          /* best ISA this CPU supports */
int fg_set_isa(int isa);            /* FG_EINVAL if unsupported by the CPU */
int fg_get_isa(void);
const char *fg_isa_name(int isa);
int fg_have_openmp(void);
int fg_omp_max_threads(void);       /* what the OpenMP runtime would use; 1 without OpenMP */

/* Elementwise kernels run on one thread below this many elements. */
#define FG_PAR_THRESHOLD_ELTWISE 32768

/* ---- scratch memory (alloc.c) --------------------------------------------------- */
/* 64-byte aligned, thread-local, grow-only buffer; slot in [0, FG_WS_SLOTS).
 * Valid until the next fg_workspace call with the same slot on the same thread. */
#define FG_WS_SLOTS 5
/* slot 4: partial sums a kernel's caller owns for a deterministic parallel reduction
 * (slots 2 and 3 are the GEMM's packing buffers, 0 and 1 kernels' own scratch) */
#define FG_WS_SLOT_PARTS 4
void *fg_workspace(int slot, size_t bytes);
void fg_workspace_release(void);    /* frees this thread's buffers */
/* The block cache (alloc.c): 64-byte aligned blocks of at least FG_CACHE_MIN_BYTES,
 * kept for reuse when given back, up to a limit of cached bytes.  Thread-safe and
 * fork-safe.  fg_cache_alloc returns NULL when bytes is beyond any size class or
 * memory is exhausted, and stores the block's size in *cap; fg_cache_free takes the
 * block and that size back (caching it, or unmapping it when it does not fit under the
 * limit). */
#define FG_CACHE_MIN_BYTES ((size_t)128 << 10)
enum { FG_CACHE_CACHED_BYTES, FG_CACHE_USED_BYTES, FG_CACHE_LIMIT, FG_CACHE_HITS,
       FG_CACHE_MISSES, FG_CACHE_EVICTIONS, FG_CACHE_CACHED_BLOCKS, FG_CACHE_NSTATS };
void *fg_cache_alloc(size_t bytes, size_t *cap);
void fg_cache_free(void *p, size_t cap);
void fg_cache_release(void);               /* unmaps every cached block */
void fg_cache_set_limit(size_t bytes);     /* evicts the oldest blocks down to bytes */
void fg_cache_stats(int64_t out[FG_CACHE_NSTATS]);
void fg_cache_reset_stats(void);           /* hits, misses, evictions back to 0 */
/* The C library's malloc: arrays below mmap_threshold bytes from the heap, up to
 * trim_threshold freed bytes kept for reuse (glibc; FG_EUNSUPPORTED elsewhere).
 * Process-wide; an explicit opt-in, never called by fastgrad on its own. */
int fg_malloc_tune(int64_t mmap_threshold, int64_t trim_threshold);

/* ---- op tables (csrc/ops/) ---------------------------------------------------------- */
/* Each op family is one table of rows in csrc/ops/; the enums below, the kernels'
 * switches (eltwise_tmpl.h) and the Python name tables (fastgrad._C._kernels.U, B, CMP,
 * R, SCAN, POOL, ACT) are generated from it.  ops.c exports the tables to Python: */
enum {
    FG_OPS_UNARY = 0, FG_OPS_BINARY, FG_OPS_COMPARE, FG_OPS_REDUCE, FG_OPS_SCAN, FG_OPS_POOLING,
    FG_OPS_GEMM_ACT, FG_OPS_COUNT
};
int fg_op_count(int family);                  /* number of ops; -1 for a bad family */
const char *fg_op_name(int family, int op);   /* Python name; NULL if out of range */
int fg_unary_uses_y(int op);                  /* 1: the backward reads y, not x */

/* ---- elementwise unary (eltwise_tmpl.h) ----------------------------------------- */
/* y[i] = f(x[i]) over n contiguous elements.  alpha/beta are op parameters (see
 * ops/unary.def). */
enum {
#define FG_UNARY(ID, NAME, SRC, FWD, BWD) FG_U_##ID,
#include "ops/unary.def"
    FG_U_COUNT
};
/* Backward: gx[i] = g[i] * f'(.) using x (input) or y (output), as the op's row in
 * ops/unary.def says (fg_unary_uses_y); the unused one may be NULL. */
int fg_unary_f32(int op, int64_t n, const float *x, float *y, double alpha, double beta,
                 int nthreads);
int fg_unary_f64(int op, int64_t n, const double *x, double *y, double alpha, double beta,
                 int nthreads);
int fg_unary_bwd_f32(int op, int64_t n, const float *g, const float *x, const float *y,
                     float *gx, double alpha, double beta, int nthreads);
int fg_unary_bwd_f64(int op, int64_t n, const double *g, const double *x, const double *y,
                     double *gx, double alpha, double beta, int nthreads);

/* ---- elementwise binary with broadcasting (eltwise_tmpl.h) ---------------------- */
/* out[idx] = a[idx . sa] op b[idx . sb] for every idx in shape[0..ndim); out is dense.
 * Strides are in elements and may be 0 (broadcast) or negative.  ndim <= FG_MAX_DIMS. */
enum {
#define FG_BINARY(ID, NAME, BODY) FG_B_##ID,
#include "ops/binary.def"
    FG_B_COUNT
};
/* comparisons write uint8 (0/1) */
enum {
#define FG_COMPARE(ID, NAME, EXPR) FG_C_##ID,
#include "ops/compare.def"
    FG_C_COUNT
};

int fg_binary_f32(int op, int ndim, const int64_t *shape, const float *a, const int64_t *sa,
                  const float *b, const int64_t *sb, float *out, int nthreads);
int fg_binary_f64(int op, int ndim, const int64_t *shape, const double *a, const int64_t *sa,
                  const double *b, const int64_t *sb, double *out, int nthreads);
int fg_compare_f32(int op, int ndim, const int64_t *shape, const float *a, const int64_t *sa,
                   const float *b, const int64_t *sb, uint8_t *out, int nthreads);
int fg_compare_f64(int op, int ndim, const int64_t *shape, const double *a, const int64_t *sa,
                   const double *b, const int64_t *sb, uint8_t *out, int nthreads);
/* out = cond ? a : b, all three broadcast like the binary kernels. */
int fg_where_f32(int ndim, const int64_t *shape, const uint8_t *c, const int64_t *sc,
                 const float *a, const int64_t *sa, const float *b, const int64_t *sb,
                 float *out, int nthreads);
int fg_where_f64(int ndim, const int64_t *shape, const uint8_t *c, const int64_t *sc,
                 const double *a, const int64_t *sa, const double *b, const int64_t *sb,
                 double *out, int nthreads);
/* Strided copy into a dense output (used to materialise views). */
int fg_copy_f32(int ndim, const int64_t *shape, const float *x, const int64_t *sx, float *out,
                int nthreads);
int fg_copy_f64(int ndim, const int64_t *shape, const double *x, const int64_t *sx,
                double *out, int nthreads);

/* ---- reductions (reduce_tmpl.h) -------------------------------------------------- */
/* x is dense with logical shape (outer, n, inner); reduce over the middle axis.
 * out has (outer, inner) elements; idx (int64, may be NULL) receives arg-max/min
 * positions for FG_R_MAX / FG_R_MIN (first occurrence; NaN wins, like NumPy).        */
enum {
#define FG_REDUCE(ID, NAME) FG_R_##ID,
#include "ops/reduce.def"
    FG_R_COUNT
};
int fg_reduce_f32(int op, int64_t outer, int64_t n, int64_t inner, const float *x, float *out,
                  int64_t *idx, int nthreads);
int fg_reduce_f64(int op, int64_t outer, int64_t n, int64_t inner, const double *x,
                  double *out, int64_t *idx, int nthreads);

/* ---- softmax family (reduce_tmpl.h) ---------------------------------------------- */
/* Over the middle axis of (outer, n, inner), dense. log != 0 gives log_softmax.      */
int fg_softmax_f32(int log, int64_t outer, int64_t n, int64_t inner, const float *x, float *y,
                   int nthreads);
int fg_softmax_f64(int log, int64_t outer, int64_t n, int64_t inner, const double *x,
                   double *y, int nthreads);
/* softmax:     gx = y * (g - sum(g*y))     log_softmax: gx = g - exp(y) * sum(g)      */
int fg_softmax_bwd_f32(int log, int64_t outer, int64_t n, int64_t inner, const float *g,
                       const float *y, float *gx, int nthreads);
int fg_softmax_bwd_f64(int log, int64_t outer, int64_t n, int64_t inner, const double *g,
                       const double *y, double *gx, int nthreads);
/* Cross-entropy on logits x (rows, c), dense, integer targets.
 *   loss[r] = -(1-ls) * lsm[r, t] - ls/c * sum_j lsm[r, j]; rows whose target equals
 *   ignore_index get loss 0 and weight 0.  lsm (rows, c) receives log_softmax(x).
 *   Returns FG_EINVAL (and sets *bad_row) when a target is outside [0, c).          */
int fg_xent_f32(int64_t rows, int64_t c, const float *x, const int64_t *target,
                int64_t ignore_index, double label_smoothing, float *loss, float *lsm,
                int64_t *bad_row, int nthreads);
int fg_xent_f64(int64_t rows, int64_t c, const double *x, const int64_t *target,
                int64_t ignore_index, double label_smoothing, double *loss, double *lsm,
                int64_t *bad_row, int nthreads);
/* gx[r, j] = g[r] * (exp(lsm[r, j]) - q[r, j]), q the smoothed one-hot target;
 * rows with ignore_index get 0.                                                      */
int fg_xent_bwd_f32(int64_t rows, int64_t c, const float *g, const float *lsm,
                    const int64_t *target, int64_t ignore_index, double label_smoothing,
                    float *gx, int nthreads);
int fg_xent_bwd_f64(int64_t rows, int64_t c, const double *g, const double *lsm,
                    const int64_t *target, int64_t ignore_index, double label_smoothing,
                    double *gx, int nthreads);

/* ---- GEMM (gemm/) --------------------------------------------------------------- */
/* Row-major.  For each batch index p in [0, batch):
 *   C_p = act(alpha * op(A_p) @ op(B_p) + beta * C_p + bias)
 * op(A_p) is m x k: A_p = a + p*stride_a, stored m x k with leading dimension lda when
 * transa == 0, stored k x m (so op = transpose) when transa == 1.  Likewise B (k x n /
 * n x k).  C_p = c + p*stride_c is m x n with leading dimension ldc.  Batch strides
 * may be 0 (broadcast A or B).  beta == 0 means C is write-only (NaNs in C ignored).
 * bias: NULL or n values added to every row.  act: FG_ACT_*.                         */
enum {
#define FG_GEMM_ACT(ID, NAME) FG_ACT_##ID,
#include "ops/gemm_act.def"
    FG_ACT_COUNT
};
typedef struct {
    int transa, transb;
    int64_t m, n, k;
    double alpha, beta;
    const void *a; int64_t lda;
    const void *b; int64_t ldb;
    void *c; int64_t ldc;
    const void *bias;
    int act;
    int64_t batch, stride_a, stride_b, stride_c;
} fg_gemm_desc;
int fg_gemm_f32(const fg_gemm_desc *d, int nthreads);
int fg_gemm_f64(const fg_gemm_desc *d, int nthreads);

#include "index.h"   /* index_select, gather, scatter, masks (index.c) */
#include "scan_sort.h"  /* cumsum/cumprod/prod, sort/topk (scan_sort.c) */

#ifdef __cplusplus
}
#endif
#endif /* FASTGRAD_H */
#include "optim.h"   /* optimizer kernels */
#include "plan.h"   /* compiled-step plans (plan.c) */
#include "conv.h"   /* convolution, pooling, normalization (conv.c) */
#include "rnn.h"   /* fused recurrent layers (rnn.c) */
