/* Index kernels: see index.h for the contracts.
 *
 * Every kernel first validates all indices (one sequential pass, cheap next to the
 * random accesses that follow) so the main loops need no checks and a bad index never
 * leaves a half-written output.
 *
 * Threads (fastgrad's pool): copies split the output into chunks.  Accumulating kernels
 * never let two threads write the same element: they split over `outer` and over blocks
 * of `inner` columns (a row's index only moves along the middle axis), and when there is
 * a single row of single elements (the 1-d case, e.g. the backward of x[idx]) each thread
 * owns a contiguous range of the output and scans all indices, adding only those that
 * land in its range.  Repeated indices are therefore summed in a fixed order: results
 * do not depend on the thread count. */
#include <string.h>
#include "fastgrad.h"
#include "pool.h"

#define FG_IDX_PAR_MIN 65536      /* elements moved below which one thread is used */

static int check_idx(int64_t cnt, const int64_t *idx, int64_t n, int wrap, int64_t *bad)
{
    const int64_t lo = wrap ? -n : 0;
    int64_t mn = 0, mx = 0;
    if (cnt <= 0) return FG_OK;
    mn = mx = idx[0];
    for (int64_t j = 1; j < cnt; j++) {
        const int64_t v = idx[j];
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    if (mn >= lo && mx < n) return FG_OK;
    for (int64_t j = 0; j < cnt; j++) {
        if (idx[j] < lo || idx[j] >= n) {
            if (bad) *bad = idx[j];
            return FG_EINVAL;
        }
    }
    return FG_OK;
}

static inline int64_t wrapi(int64_t v, int64_t n) { return v < 0 ? v + n : v; }

static int threads_for(int64_t work, int nthreads)
{
    if (nthreads < 1) return 1;
    if (work < FG_IDX_PAR_MIN) return 1;
    return nthreads;
}

/* ---- index_select ---------------------------------------------------------------- */
typedef struct {
    int esize;
    int64_t n, inner, m, rows, chunk;          /* rows = outer * m */
    const char *x;
    const int64_t *idx;
    char *out;
} sel_job;

#define SEL_LOOP(T)                                                                      \
    do {                                                                                 \
        const T *xs = (const T *)j->x;                                                   \
        T *os = (T *)j->out;                                                             \
        if (j->inner == 1) {                                                             \
            for (int64_t r = lo; r < hi; r++) {                                          \
                const int64_t o = r / j->m, jj = r - o * j->m;                           \
                os[r] = xs[o * j->n + wrapi(j->idx[jj], j->n)];                          \
            }                                                                            \
        } else {                                                                         \
            for (int64_t r = lo; r < hi; r++) {                                          \
                const int64_t o = r / j->m, jj = r - o * j->m;                           \
                memcpy(os + r * j->inner, xs + (o * j->n + wrapi(j->idx[jj], j->n)) * j->inner, \
                       (size_t)j->inner * sizeof(T));                                    \
            }                                                                            \
        }                                                                                \
    } while (0)

static void sel_task(void *ctx, int64_t t, int tid)
{
    sel_job *j = ctx;
    (void)tid;
    const int64_t lo = t * j->chunk, hi = lo + j->chunk < j->rows ? lo + j->chunk : j->rows;
    if (j->m == j->rows && j->inner == 1) {      /* outer == 1: the 1-d gather x[idx] */
        const int64_t n = j->n;
        const int64_t *ix = j->idx;
        switch (j->esize) {
        case 4: { const uint32_t *xs = (const uint32_t *)j->x; uint32_t *os = (uint32_t *)j->out;
                  for (int64_t r = lo; r < hi; r++) os[r] = xs[wrapi(ix[r], n)]; } return;
        case 8: { const uint64_t *xs = (const uint64_t *)j->x; uint64_t *os = (uint64_t *)j->out;
                  for (int64_t r = lo; r < hi; r++) os[r] = xs[wrapi(ix[r], n)]; } return;
        default: break;
        }
    }
    switch (j->esize) {
    case 1: SEL_LOOP(uint8_t); break;
    case 4: SEL_LOOP(uint32_t); break;
    default: SEL_LOOP(uint64_t); break;
    }
}

int fg_index_select(int esize, int64_t outer, int64_t n, int64_t inner, const void *x,
                    int64_t m, const int64_t *idx, void *out, int wrap, int64_t *bad,
                    int nthreads)
{
    if ((esize != 1 && esize != 4 && esize != 8) || outer < 0 || n < 0 || inner < 0 || m < 0)
        return FG_EINVAL;
    int rc = check_idx(m, idx, n, wrap, bad);
    if (rc != FG_OK) return rc;
    sel_job j = {esize, n, inner, m, outer * m, 0, x, idx, out};
    if (j.rows == 0 || inner == 0) return FG_OK;
    const int nt = threads_for(j.rows * inner, nthreads);
    j.chunk = (j.rows + 4 * nt - 1) / (4 * nt);
    if (j.chunk < 1) j.chunk = 1;
    fg_parallel_for(nt, (j.rows + j.chunk - 1) / j.chunk, sel_task, &j);
    return FG_OK;
}

/* ---- gather ------------------------------------------------------------------------ */
typedef struct {
    int esize;
    int64_t n, inner, m, total, chunk;         /* total = outer * m * inner */
    const char *x;
    const int64_t *idx;
    char *out;
} gat_job;

#define GAT_LOOP(T)                                                                      \
    do {                                                                                 \
        const T *xs = (const T *)j->x;                                                   \
        T *os = (T *)j->out;                                                             \
        const int64_t mi = j->m * j->inner;                                              \
        for (int64_t e = lo; e < hi; e++) {                                              \
            const int64_t o = e / mi, i = e % j->inner;                                  \
            os[e] = xs[(o * j->n + wrapi(j->idx[e], j->n)) * j->inner + i];              \
        }                                                                                \
    } while (0)

static void gat_task(void *ctx, int64_t t, int tid)
{
    gat_job *j = ctx;
    (void)tid;
    const int64_t lo = t * j->chunk, hi = lo + j->chunk < j->total ? lo + j->chunk : j->total;
    switch (j->esize) {
    case 1: GAT_LOOP(uint8_t); break;
    case 4: GAT_LOOP(uint32_t); break;
    default: GAT_LOOP(uint64_t); break;
    }
}

int fg_gather(int esize, int64_t outer, int64_t n, int64_t inner, const void *x, int64_t m,
              const int64_t *idx, void *out, int wrap, int64_t *bad, int nthreads)
{
    if ((esize != 1 && esize != 4 && esize != 8) || outer < 0 || n < 0 || inner < 0 || m < 0)
        return FG_EINVAL;
    gat_job j = {esize, n, inner, m, outer * m * inner, 0, x, idx, out};
    int rc = check_idx(j.total, idx, n, wrap, bad);
    if (rc != FG_OK || j.total == 0) return rc;
    const int nt = threads_for(j.total, nthreads);
    j.chunk = (j.total + 4 * nt - 1) / (4 * nt);
    fg_parallel_for(nt, (j.total + j.chunk - 1) / j.chunk, gat_task, &j);
    return FG_OK;
}

/* ---- accumulation: index_add (1-d idx) and scatter_add / scatter (full idx) ---------- */
typedef struct {
    int kind;                 /* 0: index_add, 1: scatter_add, 2: scatter (overwrite) */
    int esize;                /* 4 or 8 (float32 / float64 for the adds) */
    int64_t outer, n, inner, m;
    int64_t iblk, niblk;      /* inner split into niblk blocks of iblk columns */
    int64_t nrange;           /* > 0: the 1-d case, split over the output range */
    char *out;
    const int64_t *idx;
    const char *src;
} acc_job;

#define ACC_BODY(T, OP)                                                                  \
    do {                                                                                 \
        T *os = (T *)j->out;                                                             \
        const T *ss = (const T *)j->src;                                                 \
        const int64_t n = j->n, inner = j->inner, m = j->m;                              \
        if (j->nrange) {               /* outer == inner == 1: own [lo, hi) of out */    \
            const int64_t lo = t * j->nrange, hi = lo + j->nrange < n ? lo + j->nrange : n; \
            for (int64_t jj = 0; jj < m; jj++) {                                         \
                const int64_t d = wrapi(j->idx[jj], n);                                  \
                if (d >= lo && d < hi) os[d] OP ss[jj];                                  \
            }                                                                            \
            break;                                                                       \
        }                                                                                \
        const int64_t o = t / j->niblk, b = t % j->niblk;                                \
        const int64_t i0 = b * j->iblk, i1 = i0 + j->iblk < inner ? i0 + j->iblk : inner; \
        T *ob = os + o * n * inner;                                                      \
        const T *sb = ss + o * m * inner;                                                \
        if (j->kind == 0) {                                                              \
            for (int64_t jj = 0; jj < m; jj++) {                                         \
                T *orow = ob + wrapi(j->idx[jj], n) * inner;                             \
                const T *srow = sb + jj * inner;                                         \
                for (int64_t i = i0; i < i1; i++) orow[i] OP srow[i];                    \
            }                                                                            \
        } else {                                                                         \
            const int64_t *ib = j->idx + o * m * inner;                                  \
            for (int64_t jj = 0; jj < m; jj++)                                           \
                for (int64_t i = i0; i < i1; i++)                                        \
                    ob[wrapi(ib[jj * inner + i], n) * inner + i] OP sb[jj * inner + i];  \
        }                                                                                \
    } while (0)

static void acc_task(void *ctx, int64_t t, int tid)
{
    acc_job *j = ctx;
    (void)tid;
    if (j->kind == 2) {
        switch (j->esize) {
        case 1: ACC_BODY(uint8_t, =); break;
        case 4: ACC_BODY(uint32_t, =); break;
        default: ACC_BODY(uint64_t, =); break;
        }
    } else if (j->esize == 4) {
        ACC_BODY(float, +=);
    } else {
        ACC_BODY(double, +=);
    }
}

static int acc_run(int kind, int esize, int64_t outer, int64_t n, int64_t inner, void *out,
                   int64_t m, const int64_t *idx, const void *src, int wrap, int64_t *bad,
                   int nthreads)
{
    if (outer < 0 || n < 0 || inner < 0 || m < 0) return FG_EINVAL;
    const int64_t nidx = kind == 0 ? m : outer * m * inner;
    int rc = check_idx(nidx, idx, n, wrap, bad);
    if (rc != FG_OK) return rc;
    if (outer == 0 || inner == 0 || m == 0 || n == 0) return FG_OK;
    acc_job j = {kind, esize, outer, n, inner, m, inner, 1, 0, out, idx, src};
    const int nt = threads_for(outer * m * inner, nthreads);
    if (nt > 1 && outer == 1 && inner == 1) {
        /* the 1-d case: each thread owns a range of the output (scans every index) */
        j.nrange = (n + nt - 1) / nt;
        fg_parallel_for(nt, (n + j.nrange - 1) / j.nrange, acc_task, &j);
        return FG_OK;
    }
    if (nt > 1 && outer < 2 * nt && inner >= 32) {
        /* few rows: split the columns too, in cache-line multiples */
        int64_t per = (inner + 2 * nt - 1) / (2 * nt);
        j.iblk = (per + 15) / 16 * 16;
        j.niblk = (inner + j.iblk - 1) / j.iblk;
    }
    fg_parallel_for(nt, outer * j.niblk, acc_task, &j);
    return FG_OK;
}

int fg_index_add_f32(int64_t outer, int64_t n, int64_t inner, float *out, int64_t m,
                     const int64_t *idx, const float *src, int wrap, int64_t *bad, int nthreads)
{
    return acc_run(0, 4, outer, n, inner, out, m, idx, src, wrap, bad, nthreads);
}

int fg_index_add_f64(int64_t outer, int64_t n, int64_t inner, double *out, int64_t m,
                     const int64_t *idx, const double *src, int wrap, int64_t *bad, int nthreads)
{
    return acc_run(0, 8, outer, n, inner, out, m, idx, src, wrap, bad, nthreads);
}

int fg_scatter_add_f32(int64_t outer, int64_t n, int64_t inner, float *out, int64_t m,
                       const int64_t *idx, const float *src, int wrap, int64_t *bad, int nthreads)
{
    return acc_run(1, 4, outer, n, inner, out, m, idx, src, wrap, bad, nthreads);
}

int fg_scatter_add_f64(int64_t outer, int64_t n, int64_t inner, double *out, int64_t m,
                       const int64_t *idx, const double *src, int wrap, int64_t *bad, int nthreads)
{
    return acc_run(1, 8, outer, n, inner, out, m, idx, src, wrap, bad, nthreads);
}

int fg_scatter(int esize, int64_t outer, int64_t n, int64_t inner, void *out, int64_t m,
               const int64_t *idx, const void *src, int wrap, int64_t *bad, int nthreads)
{
    if (esize != 1 && esize != 4 && esize != 8) return FG_EINVAL;
    /* overwrite: a serial pass keeps "last in memory order wins" deterministic */
    (void)nthreads;
    return acc_run(2, esize, outer, n, inner, out, m, idx, src, wrap, bad, 1);
}

/* ---- boolean masks ------------------------------------------------------------------ */
#define MSEL(T)                                                                          \
    do {                                                                                 \
        const T *xs = x;                                                                 \
        T *os = out;                                                                     \
        for (int64_t i = 0; i < n; i++) {                                                \
            os[k] = xs[i];                     /* branch-free: write, advance if kept */ \
            k += mask[i] != 0;                                                           \
        }                                                                                \
    } while (0)

int fg_masked_select(int esize, int64_t n, const void *x, const uint8_t *mask, void *out,
                     int64_t *count)
{
    int64_t k = 0;
    if (n < 0) return FG_EINVAL;
    /* the branch-free loop writes one element past the last kept one: stop early */
    int64_t last = n - 1;
    while (last >= 0 && !mask[last]) last--;
    n = last + 1;
    switch (esize) {
    case 1: MSEL(uint8_t); break;
    case 4: MSEL(uint32_t); break;
    case 8: MSEL(uint64_t); break;
    default: return FG_EINVAL;
    }
    if (count) *count = k;
    return FG_OK;
}

#define MEXP(T)                                                                          \
    do {                                                                                 \
        const T *ss = src;                                                               \
        T *os = out;                                                                     \
        for (int64_t i = 0; i < n; i++) {                                                \
            const T v = ss[k];                                                           \
            const int keep = mask[i] != 0;                                               \
            os[i] = keep ? v : (T)0;                                                     \
            k += keep;                                                                   \
        }                                                                                \
    } while (0)

int fg_masked_expand(int esize, int64_t n, const void *src, const uint8_t *mask, void *out)
{
    int64_t k = 0;
    if (n < 0) return FG_EINVAL;
    /* src[k] is read even where the mask is 0: stop after the last kept element */
    int64_t last = n - 1;
    while (last >= 0 && !mask[last]) last--;
    if (last + 1 < n) memset((char *)out + (last + 1) * esize, 0, (size_t)(n - last - 1) * esize);
    n = last + 1;
    switch (esize) {
    case 1: MEXP(uint8_t); break;
    case 4: MEXP(uint32_t); break;
    case 8: MEXP(uint64_t); break;
    default: return FG_EINVAL;
    }
    return FG_OK;
}
