/* Internal: helpers shared by the kernel compilation units. */
#ifndef FG_DISPATCH_H
#define FG_DISPATCH_H
#include "fastgrad.h"

#include "threadpool.h"

#define FG_CHECK(cond) do { if (!(cond)) return FG_EINVAL; } while (0)

/* ---- cost model for splitting a kernel across fastgrad's pool ----------------------
 * A kernel estimates its single-thread time from the bytes it moves and the arithmetic
 * it does,
 *     t1 = bytes / FG_COST_BYTES_PER_NS + flops / FG_COST_FLOPS_PER_NS     (ns),
 * and uses as many threads (at most nthreads) as give each at least FG_COST_MIN_PART_NS
 * of work; below 2 * FG_COST_MIN_PART_NS it runs on the calling thread and never touches
 * the pool.  Sleeping workers are only woken for jobs of FG_POOL_WAKE_NS or more
 * (threadpool.h); smaller split jobs use workers still spinning after a previous job.
 * A worker that does not get a core in time costs only the submit: the caller runs
 * every part nobody has claimed.
 *
 * Measured on the 2-vCPU AMD EPYC VM this project runs on (shared with other jobs, load
 * average ~12 while measuring; medians of tests/c/test_pool.c "bench" and of fastgrad
 * calls timed from Python, float32):
 *   fork/join of an empty 2-part job, worker spinning:  0.05 us (the caller finishes
 *     both parts before the worker reacts when it is busy elsewhere)
 *   wake-up of a sleeping worker: ~3 us to the caller on a quiet machine, up to ~40 us
 *     when the woken thread preempts it; the worker starts claiming 15-60 us later
 *   a + b, one core, 256 KB - 3 MB:                    ~87 bytes/ns (L2/L3 streaming)
 *   fastgrad's vectorised exp:                         ~0.2 ns per element beyond the
 *                                                      bytes (65536 floats: 23 us)
 * Hence 80 bytes/ns, 32 "flops"/ns with an exp counted as 7, and parts of at least
 * 6 us: a float32 add splits from ~160k elements, an exp from ~40k, a column sum of a
 * (256, 512) bias gradient (~10 us) stays on one thread and a (1024, 512) one splits.
 * The GEMM (gemm_config.h) and the optimisers (optim.h) have their own crossovers. */
#define FG_COST_BYTES_PER_NS 80.0
#define FG_COST_FLOPS_PER_NS 32.0
#define FG_COST_MIN_PART_NS 6000.0
#define FG_COST_EXP 7.0              /* flops counted for one vectorised exp/log */

/* estimated single-thread time (ns) of a kernel moving `bytes` and doing `flops` */
static inline double fg_cost_ns(double bytes, double flops)
{
    return bytes / FG_COST_BYTES_PER_NS + flops / FG_COST_FLOPS_PER_NS;
}

/* threads for a kernel of estimated single-thread time t1 (ns) */
static inline int fg_threads_ns(double t1, int nthreads)
{
    if (nthreads <= 1) return 1;
    const double maxt = t1 / FG_COST_MIN_PART_NS;
    if (maxt < 2.0) return 1;
    return maxt < (double)nthreads ? (int)maxt : nthreads;
}

static inline int fg_cost_threads(double bytes, double flops, int nthreads)
{
    return fg_threads_ns(fg_cost_ns(bytes, flops), nthreads);
}

/* Threads for a loop over `n` elements of `esz` bytes, each read once and written once,
 * with about `flops_per` operations per element. */
static inline int fg_threads_elems(int64_t n, int esz, double flops_per, int nthreads)
{
    return fg_cost_threads((double)n * 2.0 * (double)esz, (double)n * flops_per, nthreads);
}

/* Element-count rule kept for the sort and scan kernels (scan_sort.c): 1 below
 * `threshold`, and never so many threads that one gets less than threshold/2 units. */
static inline int fg_threads_for(int64_t work, int64_t threshold, int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    if (work < threshold) return 1;
    int64_t per = threshold / 2 > 0 ? threshold / 2 : 1;
    int64_t maxt = work / per;
    if (maxt < nthreads) nthreads = (int)(maxt > 0 ? maxt : 1);
    return nthreads;
}

/* Run BODY (which sees int64_t lo, hi) once over the whole range [0, N): the loop body of
 * a kernel whose caller does the splitting. */
#define FG_RANGE_ALL(N, ...)                                                              \
    do {                                                                                  \
        const int64_t lo = 0, hi = (N);                                                   \
        (void)lo; (void)hi;                                                               \
        __VA_ARGS__                                                                       \
    } while (0)

/* ---- broadcasting iterator over up to 3 strided inputs and a dense output -------- */
typedef struct {
    int nd;                          /* dims after dropping size-1 and merging */
    int64_t shape[FG_MAX_DIMS];
    int64_t st[3][FG_MAX_DIMS];      /* element strides of the inputs */
    int64_t total;                   /* number of output elements */
} fg_bcast;

/* Returns FG_EINVAL on bad ndim/shape. */
static inline int fg_bcast_init(fg_bcast *it, int narr, int ndim, const int64_t *shape,
                                const int64_t *s0, const int64_t *s1, const int64_t *s2)
{
    const int64_t *ss[3] = {s0, s1, s2};
    if (ndim < 0 || ndim > FG_MAX_DIMS || narr < 1 || narr > 3) return FG_EINVAL;
    it->total = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return FG_EINVAL;
        it->total *= shape[d];
    }
    int nd = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        if (nd > 0) {
            /* merge into the previous kept dim when every input is contiguous across */
            int ok = 1;
            for (int a = 0; a < narr; a++)
                if (it->st[a][nd - 1] != ss[a][d] * shape[d]) { ok = 0; break; }
            if (ok) {
                it->shape[nd - 1] *= shape[d];
                for (int a = 0; a < narr; a++) it->st[a][nd - 1] = ss[a][d];
                continue;
            }
        }
        it->shape[nd] = shape[d];
        for (int a = 0; a < narr; a++) it->st[a][nd] = ss[a][d];
        nd++;
    }
    if (nd == 0) {   /* scalar */
        it->shape[0] = 1;
        for (int a = 0; a < 3; a++) it->st[a][0] = 0;
        nd = 1;
    }
    for (int a = narr; a < 3; a++)
        for (int d = 0; d < nd; d++) it->st[a][d] = 0;
    it->nd = nd;
    return FG_OK;
}

/* Iterate the output elements [lo, hi) of `it` row by row.  For each row segment,
 * ROW is executed with: int64_t len; int64_t o (flat output offset); int64_t p0, p1, p2
 * (element offsets into the inputs); int64_t i0, i1, i2 (inner strides).           */
#define FG_BCAST_ROWS(it, lo, hi, ...)                                                    \
    do {                                                                                  \
        const int fg_nd_ = (it)->nd;                                                      \
        const int64_t fg_in_ = (it)->shape[fg_nd_ - 1];                                   \
        const int64_t i0 = (it)->st[0][fg_nd_ - 1], i1 = (it)->st[1][fg_nd_ - 1],         \
                      i2 = (it)->st[2][fg_nd_ - 1];                                       \
        int64_t fg_idx_[FG_MAX_DIMS];                                                     \
        int64_t fg_row_ = (lo) / fg_in_, fg_col_ = (lo) % fg_in_;                         \
        int64_t fg_r_ = fg_row_;                                                          \
        int64_t p0b = 0, p1b = 0, p2b = 0;                                                \
        for (int d = fg_nd_ - 2; d >= 0; d--) {                                           \
            fg_idx_[d] = fg_r_ % (it)->shape[d];                                          \
            fg_r_ /= (it)->shape[d];                                                      \
            p0b += fg_idx_[d] * (it)->st[0][d];                                           \
            p1b += fg_idx_[d] * (it)->st[1][d];                                           \
            p2b += fg_idx_[d] * (it)->st[2][d];                                           \
        }                                                                                 \
        int64_t o = (lo);                                                                 \
        while (o < (hi)) {                                                                \
            int64_t len = fg_in_ - fg_col_;                                               \
            if (len > (hi) - o) len = (hi) - o;                                           \
            int64_t p0 = p0b + fg_col_ * i0, p1 = p1b + fg_col_ * i1,                     \
                    p2 = p2b + fg_col_ * i2;                                              \
            (void)p0; (void)p1; (void)p2; (void)i0; (void)i1; (void)i2;                   \
            { __VA_ARGS__ }                                                               \
            o += len;                                                                     \
            fg_col_ = 0;                                                                  \
            for (int d = fg_nd_ - 2; d >= 0; d--) {                                       \
                p0b += (it)->st[0][d]; p1b += (it)->st[1][d]; p2b += (it)->st[2][d];      \
                if (++fg_idx_[d] < (it)->shape[d]) break;                                 \
                p0b -= (it)->st[0][d] * (it)->shape[d];                                   \
                p1b -= (it)->st[1][d] * (it)->shape[d];                                   \
                p2b -= (it)->st[2][d] * (it)->shape[d];                                   \
                fg_idx_[d] = 0;                                                           \
            }                                                                             \
        }                                                                                 \
    } while (0)

#define FG_CAT_(a, b) a##_##b
#define FG_CAT(a, b) FG_CAT_(a, b)
#endif
