/* Public entry points (fastgrad.h): each forwards to the kernel of the active SIMD path
 * (cpu.c), compiled from the same templates in kern_scalar.c / kern_avx2.c / kern_avx512.c. */
#include "fastgrad.h"
#include "dispatch.h"
#include "threadpool.h"

#define CAT4(a, b, c, d) a##_##b##_##c##_##d
#define KNAME(name, ts, isa) CAT4(fgk, name, ts, isa)
#define PNAME_(pfx, name, ts) pfx##_##name##_##ts
#define PNAME(pfx, name, ts) PNAME_(pfx, name, ts)

/* One row of dispatch_list.h: PFX_name_TS forwards to the kernel of the active path.
 * PFX is fg (the public entry point itself) or fgi (an internal one, which the public
 * entry point below calls once per chunk of a split problem). */
#define DISPATCH(PFX, name, PARAMS, ARGS)                                        \
    int KNAME(name, TS, scalar) PARAMS;                                          \
    int KNAME(name, TS, avx2) PARAMS;                                            \
    int KNAME(name, TS, avx512) PARAMS;                                          \
    int PNAME(PFX, name, TS) PARAMS                                              \
    {                                                                            \
        switch (fg_get_isa()) {                                                  \
        case FG_ISA_AVX512: return KNAME(name, TS, avx512) ARGS;                 \
        case FG_ISA_AVX2: return KNAME(name, TS, avx2) ARGS;                     \
        default: return KNAME(name, TS, scalar) ARGS;                            \
        }                                                                        \
    }

/* The elementwise and row-wise families (rows with PFX fgi) are split across threads
 * here, on fastgrad's task pool (threadpool.c), and each chunk runs the single-threaded
 * kernel: unlike an OpenMP region, a pool job never waits for a worker that is not
 * scheduled (see threadpool.c), so these kernels keep their speed when NumPy's BLAS
 * threads spin on the other cores.  The public entry points for them follow.  What
 * cannot be split by rows (a reduction over the leading axis, one long vector) is split
 * inside the kernel (reduce_tmpl.h), on the same pool.  How many threads: dispatch.h's
 * cost model, from the bytes each kernel moves and its arithmetic. */
#define T float
#define TS f32
#include "dispatch_list.h"
#undef T
#undef TS
#define T double
#define TS f64
#include "dispatch_list.h"
#undef T
#undef TS
#undef DISPATCH

/* ---- contiguous unary forward/backward: chunks of the flat range ------------------- */
typedef struct {
    int op, is64;
    int64_t n, chunk;
    const char *x, *y, *g;
    char *out;
    double alpha, beta;
    int bwd;
    int rc;
} un_job;

static void un_task(void *ctx, int64_t t, int tid)
{
    un_job *j = ctx;
    (void)tid;
    const int64_t lo = t * j->chunk, len = (lo + j->chunk < j->n ? j->chunk : j->n - lo);
    const int64_t off = lo * (j->is64 ? 8 : 4);
#define OFF(p) ((p) ? (p) + off : NULL)
    int rc;
    if (j->bwd)
        rc = j->is64 ? fgi_unary_bwd_f64(j->op, len, (const double *)OFF(j->g), (const double *)OFF(j->x),
                                         (const double *)OFF(j->y), (double *)(j->out + off), j->alpha, j->beta, 1)
                     : fgi_unary_bwd_f32(j->op, len, (const float *)OFF(j->g), (const float *)OFF(j->x),
                                         (const float *)OFF(j->y), (float *)(j->out + off), j->alpha, j->beta, 1);
    else
        rc = j->is64 ? fgi_unary_f64(j->op, len, (const double *)OFF(j->x), (double *)(j->out + off), j->alpha, j->beta, 1)
                     : fgi_unary_f32(j->op, len, (const float *)OFF(j->x), (float *)(j->out + off), j->alpha, j->beta, 1);
#undef OFF
    if (rc != FG_OK) FG_ATOMIC_STORE_RELAXED(&j->rc, rc);
}

/* unary ops are costed as half an exp per element on top of the bytes (most are
 * cheaper, the transcendental ones dearer) */
static double un_cost(int64_t n, int is64, int bwd)
{
    return fg_cost_ns((double)n * (bwd ? 3.0 : 2.0) * (is64 ? 8.0 : 4.0),
                      (double)n * (FG_COST_EXP / 2.0 + 1.0));
}

/* returns 0 (run in one call) when one thread is best */
static int un_split(un_job *j, int nthreads)
{
    const double t1 = un_cost(j->n, j->is64, j->bwd);
    nthreads = fg_threads_ns(t1, nthreads);
    if (nthreads <= 1) return 0;
    const int64_t tasks = 2 * (int64_t)nthreads;
    j->chunk = ((j->n + tasks - 1) / tasks + 63) / 64 * 64;
    j->rc = FG_OK;
    fg_parallel_work(nthreads, (j->n + j->chunk - 1) / j->chunk, un_task, j, t1);
    return 1;
}

#define UNARY_PUBLIC(TS, T, IS64)                                                          \
    int fg_unary_##TS(int op, int64_t n, const T *x, T *y, double alpha, double beta,      \
                      int nthreads)                                                        \
    {                                                                                      \
        un_job j = {op, IS64, n, 0, (const char *)x, NULL, NULL, (char *)y, alpha, beta, 0, 0}; \
        if (nthreads <= 1 || !x || !y || !un_split(&j, nthreads))                           \
            return fgi_unary_##TS(op, n, x, y, alpha, beta, 1);                            \
        return j.rc;                                                                       \
    }                                                                                      \
    int fg_unary_bwd_##TS(int op, int64_t n, const T *g, const T *x, const T *y, T *gx,    \
                          double alpha, double beta, int nthreads)                          \
    {                                                                                      \
        un_job j = {op, IS64, n, 0, (const char *)x, (const char *)y, (const char *)g,     \
                    (char *)gx, alpha, beta, 1, 0};                                        \
        if (nthreads <= 1 || !g || !gx || (!x && !y) || !un_split(&j, nthreads))           \
            return fgi_unary_bwd_##TS(op, n, g, x, y, gx, alpha, beta, 1);                 \
        return j.rc;                                                                       \
    }
UNARY_PUBLIC(f32, float, 0)
UNARY_PUBLIC(f64, double, 1)

/* ---- broadcasting binary/compare: chunks of the first dimension larger than 1 ------- */
typedef struct {
    int op, is64, cmp, ndim, d;
    int64_t shape[FG_MAX_DIMS];
    const int64_t *sa, *sb;
    const char *a, *b;
    char *out;
    int64_t inner, chunk;        /* output elements per index of dim d; indices per task */
    double work_ns;              /* estimated single-thread time (dispatch.h) */
    int rc;
} bin_job;

static void bin_task(void *ctx, int64_t t, int tid)
{
    bin_job *j = ctx;
    (void)tid;
    int64_t shape[FG_MAX_DIMS];
    for (int i = 0; i < j->ndim; i++) shape[i] = j->shape[i];
    const int64_t lo = t * j->chunk;
    shape[j->d] = lo + j->chunk < j->shape[j->d] ? j->chunk : j->shape[j->d] - lo;
    const int64_t esz = j->is64 ? 8 : 4;
    const char *a = j->a + lo * j->sa[j->d] * esz, *b = j->b + lo * j->sb[j->d] * esz;
    char *o = j->out + lo * j->inner * (j->cmp ? 1 : esz);
    int rc;
    if (j->cmp)
        rc = j->is64 ? fgi_compare_f64(j->op, j->ndim, shape, (const double *)a, j->sa, (const double *)b, j->sb, (uint8_t *)o, 1)
                     : fgi_compare_f32(j->op, j->ndim, shape, (const float *)a, j->sa, (const float *)b, j->sb, (uint8_t *)o, 1);
    else
        rc = j->is64 ? fgi_binary_f64(j->op, j->ndim, shape, (const double *)a, j->sa, (const double *)b, j->sb, (double *)o, 1)
                     : fgi_binary_f32(j->op, j->ndim, shape, (const float *)a, j->sa, (const float *)b, j->sb, (float *)o, 1);
    if (rc != FG_OK) FG_ATOMIC_STORE_RELAXED(&j->rc, rc);
}

/* returns the thread count and fills j when the problem is worth splitting, else 0 */
static int bin_plan(bin_job *j, int ndim, const int64_t *shape, int is64, int cmp, int nthreads)
{
    if (nthreads <= 1 || ndim < 1 || ndim > FG_MAX_DIMS) return 0;
    int64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return 0;
        total *= shape[i];
    }
    /* two operands read, one written; a few operations per element */
    const double esz = is64 ? 8.0 : 4.0;
    j->work_ns = fg_cost_ns((double)total * (2.0 * esz + (cmp ? 1.0 : esz)), (double)total * 2.0);
    nthreads = fg_threads_ns(j->work_ns, nthreads);
    if (nthreads <= 1) return 0;
    int d = 0;
    while (d < ndim && shape[d] == 1) d++;
    if (d == ndim || shape[d] < 2) return 0;
    j->ndim = ndim;
    j->d = d;
    for (int i = 0; i < ndim; i++) j->shape[i] = shape[i];
    j->inner = total / shape[d];
    const int64_t tasks = shape[d] < 2 * (int64_t)nthreads ? shape[d] : 2 * (int64_t)nthreads;
    j->chunk = (shape[d] + tasks - 1) / tasks;
    j->rc = FG_OK;
    return nthreads;
}

/* Splits and runs on the pool, returning 1 and the status in *rc; returns 0 when the
 * problem is too small or not splittable, and the caller runs it in one call. */
static int bin_split(int op, int is64, int cmp, int ndim, const int64_t *shape, const void *a,
                     const int64_t *sa, const void *b, const int64_t *sb, void *out,
                     int nthreads, int *rc)
{
    bin_job j;
    if (!a || !b || !out || !sa || !sb || !shape) return 0;
    const int nt = bin_plan(&j, ndim, shape, is64, cmp, nthreads);
    if (!nt) return 0;
    j.op = op; j.is64 = is64; j.cmp = cmp; j.sa = sa; j.sb = sb;
    j.a = (const char *)a; j.b = (const char *)b; j.out = (char *)out;
    fg_parallel_work(nt, (j.shape[j.d] + j.chunk - 1) / j.chunk, bin_task, &j, j.work_ns);
    *rc = j.rc;
    return 1;
}

#define BINARY_PUBLIC(TS, T, IS64)                                                         \
    int fg_binary_##TS(int op, int ndim, const int64_t *shape, const T *a, const int64_t *sa, \
                       const T *b, const int64_t *sb, T *out, int nthreads)                \
    {                                                                                      \
        int rc;                                                                            \
        if (bin_split(op, IS64, 0, ndim, shape, a, sa, b, sb, out, nthreads, &rc)) return rc; \
        return fgi_binary_##TS(op, ndim, shape, a, sa, b, sb, out, 1);                     \
    }                                                                                      \
    int fg_compare_##TS(int op, int ndim, const int64_t *shape, const T *a, const int64_t *sa, \
                        const T *b, const int64_t *sb, uint8_t *out, int nthreads)         \
    {                                                                                      \
        int rc;                                                                            \
        if (bin_split(op, IS64, 1, ndim, shape, a, sa, b, sb, out, nthreads, &rc)) return rc; \
        return fgi_compare_##TS(op, ndim, shape, a, sa, b, sb, out, 1);                    \
    }
BINARY_PUBLIC(f32, float, 0)
BINARY_PUBLIC(f64, double, 1)

/* ---- row-wise families (reduce, softmax, cross-entropy): chunks of the outer rows --- */
typedef struct {
    int kind, op, is64;
    int64_t outer, n, inner, chunk;
    const char *x, *g;
    char *y;
    int64_t *idx;
    const int64_t *target;
    int64_t ignore;
    double ls;
    char *loss;
    int rc;
} row_job;

enum { ROW_REDUCE, ROW_SOFTMAX, ROW_SOFTMAX_BWD, ROW_XENT, ROW_XENT_BWD };

static void row_task(void *ctx, int64_t t, int tid)
{
    row_job *j = ctx;
    (void)tid;
    const int64_t lo = t * j->chunk;
    const int64_t rows = lo + j->chunk < j->outer ? j->chunk : j->outer - lo;
    const int64_t esz = j->is64 ? 8 : 4, blk = j->n * j->inner;   /* elements per row */
    int rc = FG_OK;
    int64_t bad = -1;
    switch (j->kind) {
    case ROW_REDUCE:
        rc = j->is64 ? fgi_reduce_f64(j->op, rows, j->n, j->inner, (const double *)(j->x + lo * blk * esz),
                                      (double *)(j->y + lo * j->inner * esz), j->idx ? j->idx + lo * j->inner : NULL, 1)
                     : fgi_reduce_f32(j->op, rows, j->n, j->inner, (const float *)(j->x + lo * blk * esz),
                                      (float *)(j->y + lo * j->inner * esz), j->idx ? j->idx + lo * j->inner : NULL, 1);
        break;
    case ROW_SOFTMAX:
        rc = j->is64 ? fgi_softmax_f64(j->op, rows, j->n, j->inner, (const double *)(j->x + lo * blk * esz),
                                       (double *)(j->y + lo * blk * esz), 1)
                     : fgi_softmax_f32(j->op, rows, j->n, j->inner, (const float *)(j->x + lo * blk * esz),
                                       (float *)(j->y + lo * blk * esz), 1);
        break;
    case ROW_SOFTMAX_BWD:
        rc = j->is64 ? fgi_softmax_bwd_f64(j->op, rows, j->n, j->inner, (const double *)(j->g + lo * blk * esz),
                                           (const double *)(j->x + lo * blk * esz), (double *)(j->y + lo * blk * esz), 1)
                     : fgi_softmax_bwd_f32(j->op, rows, j->n, j->inner, (const float *)(j->g + lo * blk * esz),
                                           (const float *)(j->x + lo * blk * esz), (float *)(j->y + lo * blk * esz), 1);
        break;
    case ROW_XENT:      /* x: logits, y: lsm, loss: per-row loss */
        rc = j->is64 ? fgi_xent_f64(rows, j->n, (const double *)(j->x + lo * j->n * esz), j->target + lo, j->ignore,
                                    j->ls, (double *)(j->loss + lo * esz), (double *)(j->y + lo * j->n * esz), &bad, 1)
                     : fgi_xent_f32(rows, j->n, (const float *)(j->x + lo * j->n * esz), j->target + lo, j->ignore,
                                    j->ls, (float *)(j->loss + lo * esz), (float *)(j->y + lo * j->n * esz), &bad, 1);
        break;
    default:            /* ROW_XENT_BWD: g: per-row grad, x: lsm, y: gx */
        rc = j->is64 ? fgi_xent_bwd_f64(rows, j->n, (const double *)(j->g + lo * esz), (const double *)(j->x + lo * j->n * esz),
                                        j->target + lo, j->ignore, j->ls, (double *)(j->y + lo * j->n * esz), 1)
                     : fgi_xent_bwd_f32(rows, j->n, (const float *)(j->g + lo * esz), (const float *)(j->x + lo * j->n * esz),
                                        j->target + lo, j->ignore, j->ls, (float *)(j->y + lo * j->n * esz), 1);
    }
    if (rc != FG_OK) FG_ATOMIC_STORE_RELAXED(&j->rc, rc);
}

/* split when there are enough rows and enough work; else 0 (run in one call) */
static int row_split(row_job *j, int nthreads)
{
    if (nthreads <= 1 || j->outer < 2 || j->n < 0 || j->inner < 0) return 0;
    /* bytes: the input read and (but for a reduction) an output of the same size written;
     * flops: an exp per element for everything but plain reductions */
    const double elems = (double)j->outer * (double)j->n * (double)(j->inner > 0 ? j->inner : 1);
    const double esz = j->is64 ? 8.0 : 4.0;
    const int red = j->kind == ROW_REDUCE;
    const int expo = !red || j->op == FG_R_LOGSUMEXP;
    const double t1 = fg_cost_ns(elems * esz * (red ? 1.0 : 2.0), elems * (expo ? FG_COST_EXP + 2.0 : 1.0));
    nthreads = fg_threads_ns(t1, nthreads);
    if (nthreads <= 1) return 0;
    const int64_t tasks = j->outer < 2 * (int64_t)nthreads ? j->outer : 2 * (int64_t)nthreads;
    j->chunk = (j->outer + tasks - 1) / tasks;
    j->rc = FG_OK;
    fg_parallel_work(nthreads, (j->outer + j->chunk - 1) / j->chunk, row_task, j, t1);
    return 1;
}

/* first row whose target is neither a class in [0, c) nor ignore_index, or -1 */
static int64_t first_bad_target(int64_t rows, int64_t c, const int64_t *t, int64_t ignore)
{
    for (int64_t r = 0; r < rows; r++)
        if (t[r] != ignore && (t[r] < 0 || t[r] >= c)) return r;
    return -1;
}

#define ROW_PUBLIC(TS, T, IS64)                                                            \
    int fg_reduce_##TS(int op, int64_t outer, int64_t n, int64_t inner, const T *x, T *out, \
                       int64_t *idx, int nthreads)                                          \
    {                                                                                       \
        row_job j = {ROW_REDUCE, op, IS64, outer, n, inner, 0, (const char *)x, NULL,       \
                     (char *)out, idx, NULL, 0, 0.0, NULL, FG_OK};                          \
        if (!x || !out || n == 0 || op < 0 || op >= FG_R_COUNT || !row_split(&j, nthreads)) \
            return fgi_reduce_##TS(op, outer, n, inner, x, out, idx, nthreads);             \
        return j.rc;                                                                        \
    }                                                                                       \
    int fg_softmax_##TS(int log, int64_t outer, int64_t n, int64_t inner, const T *x, T *y, \
                        int nthreads)                                                       \
    {                                                                                       \
        row_job j = {ROW_SOFTMAX, log, IS64, outer, n, inner, 0, (const char *)x, NULL,     \
                     (char *)y, NULL, NULL, 0, 0.0, NULL, FG_OK};                           \
        if (!x || !y || !row_split(&j, nthreads))                                           \
            return fgi_softmax_##TS(log, outer, n, inner, x, y, nthreads);                  \
        return j.rc;                                                                        \
    }                                                                                       \
    int fg_softmax_bwd_##TS(int log, int64_t outer, int64_t n, int64_t inner, const T *g,   \
                            const T *y, T *gx, int nthreads)                                \
    {                                                                                       \
        row_job j = {ROW_SOFTMAX_BWD, log, IS64, outer, n, inner, 0, (const char *)y,       \
                     (const char *)g, (char *)gx, NULL, NULL, 0, 0.0, NULL, FG_OK};         \
        if (!g || !y || !gx || !row_split(&j, nthreads))                                    \
            return fgi_softmax_bwd_##TS(log, outer, n, inner, g, y, gx, nthreads);          \
        return j.rc;                                                                        \
    }                                                                                       \
    int fg_xent_##TS(int64_t rows, int64_t c, const T *x, const int64_t *target,            \
                     int64_t ignore_index, double label_smoothing, T *loss, T *lsm,         \
                     int64_t *bad_row, int nthreads)                                        \
    {                                                                                       \
        if (!x || !target || !loss || !lsm || rows < 2 || c < 1 || label_smoothing < 0.0 || \
            label_smoothing > 1.0)                                                          \
            return fgi_xent_##TS(rows, c, x, target, ignore_index, label_smoothing, loss,   \
                                 lsm, bad_row, nthreads);                                   \
        const int64_t bad = first_bad_target(rows, c, target, ignore_index);                \
        if (bad >= 0) {                                                                     \
            if (bad_row) *bad_row = bad;                                                    \
            return FG_EINVAL;                                                               \
        }                                                                                   \
        row_job j = {ROW_XENT, 0, IS64, rows, c, 1, 0, (const char *)x, NULL, (char *)lsm,  \
                     NULL, target, ignore_index, label_smoothing, (char *)loss, FG_OK};     \
        if (!row_split(&j, nthreads))                                                       \
            return fgi_xent_##TS(rows, c, x, target, ignore_index, label_smoothing, loss,   \
                                 lsm, bad_row, nthreads);                                   \
        return j.rc;                                                                        \
    }                                                                                       \
    int fg_xent_bwd_##TS(int64_t rows, int64_t c, const T *g, const T *lsm,                 \
                         const int64_t *target, int64_t ignore_index, double label_smoothing, \
                         T *gx, int nthreads)                                               \
    {                                                                                       \
        if (!g || !lsm || !target || !gx || rows < 2 || c < 1 ||                            \
            first_bad_target(rows, c, target, ignore_index) >= 0)                           \
            return fgi_xent_bwd_##TS(rows, c, g, lsm, target, ignore_index, label_smoothing, \
                                     gx, nthreads);                                         \
        row_job j = {ROW_XENT_BWD, 0, IS64, rows, c, 1, 0, (const char *)lsm, (const char *)g, \
                     (char *)gx, NULL, target, ignore_index, label_smoothing, NULL, FG_OK}; \
        if (!row_split(&j, nthreads))                                                       \
            return fgi_xent_bwd_##TS(rows, c, g, lsm, target, ignore_index, label_smoothing, \
                                     gx, nthreads);                                         \
        return j.rc;                                                                        \
    }
ROW_PUBLIC(f32, float, 0)
ROW_PUBLIC(f64, double, 1)
