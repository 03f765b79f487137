/* Convolution, pooling and normalization kernels: see conv.h for the contracts.  The
 * float32 and float64 bodies come from conv_tmpl.h (convolution), pooling_tmpl.h and
 * norm_tmpl.h, each included once per type. */
#include <math.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include "fastgrad.h"
#include "isa.h"
#include "threadpool.h"

/* im2col / col2im are compiled once per SIMD path (conv_cols_tmpl.h, instantiated from
 * conv_tmpl.h between FG_ISA_BEGIN and FG_ISA_END, isa.h); fg_get_isa picks one at run
 * time.  GCC would turn
 * their short copy loops back into memcpy calls, which cost more than the copy for rows
 * of a few dozen elements: the rewrite is off in this file. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif
#define CV_NOINLINE FG_NOINLINE

#define FG_CONV_PAR_MIN 200000.0     /* multiply-adds below which a conv runs on one thread */
#define FG_NORM_PAR_MIN 32768        /* elements below which pooling / norms use one thread */

static int conv_check(const fg_conv2d_shape *s)
{
    if (!s || s->n < 0 || s->c_in < 1 || s->h < 0 || s->w < 0 || s->c_out < 1 || s->kh < 1 ||
        s->kw < 1 || s->oh < 0 || s->ow < 0 || s->sh < 1 || s->sw < 1 || s->ph < 0 ||
        s->pw < 0 || s->dh < 1 || s->dw < 1 || s->groups < 1 || s->c_in % s->groups ||
        s->c_out % s->groups)
        return FG_EINVAL;
    return FG_OK;
}

static int pool_check(int op, const fg_pool2d_shape *s)
{
    if (!s || op < 0 || op >= FG_POOLING_COUNT || s->planes < 0 || s->h < 0 || s->w < 0 ||
        s->oh < 0 || s->ow < 0)
        return FG_EINVAL;
    if (op == FG_POOLING_ADAPTIVE_AVG) {
        if ((s->oh > 0 || s->ow > 0) && (s->h < 1 || s->w < 1)) return FG_EINVAL;
        return FG_OK;
    }
    if (s->kh < 1 || s->kw < 1 || s->sh < 1 || s->sw < 1 || s->ph < 0 || s->pw < 0 ||
        s->dh < 1 || s->dw < 1)
        return FG_EINVAL;
    return FG_OK;
}

/* first ow in [0, ow) with ow * sw + off >= lo_bound (0) and first with >= hi_bound (w) */
static inline void col_range(int64_t off, int64_t sw, int64_t w, int64_t ow, int64_t *lo,
                             int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + sw - 1) / sw;
    int64_t b = (w - off) > 0 ? (w - off + sw - 1) / sw : 0;
    if (a > ow) a = ow;
    if (b > ow) b = ow;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

static int bn_threads(int64_t total, int nthreads, int64_t ntasks)
{
    int nt = nthreads < 1 ? 1 : nthreads;
    if (total < FG_NORM_PAR_MIN || ntasks < 2) nt = 1;
    return nt;
}

#define CV_CAT2(a, b) a##b
#define CV_CAT(a, b) CV_CAT2(a, b)
#define F(name) CV_CAT(name, SUF)

#define T float
#define CV_F64 0
#define SUF _f32
#define GEMM fg_gemm_f32
#include "conv_tmpl.h"
#include "pooling_tmpl.h"
#include "norm_tmpl.h"
#undef T
#undef CV_F64
#undef SUF
#undef GEMM

#define T double
#define CV_F64 1
#define SUF _f64
#define GEMM fg_gemm_f64
#include "conv_tmpl.h"
#include "pooling_tmpl.h"
#include "norm_tmpl.h"
#undef T
#undef CV_F64
#undef SUF
#undef GEMM
