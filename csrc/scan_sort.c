/* Scans (cumsum/cumprod), product reduction, stable sort and top-k along one axis.
 * Declarations and layout conventions: scan_sort.h.  Plain C; lines are spread over
 * fastgrad's task pool (threadpool.c).  Not SIMD-dispatched: scans are a dependency chain
 * along the line (vectorized across `inner` by the compiler where inner > 1), and the
 * sort is an LSD radix sort whose cost is memory traffic. */
#include <stdint.h>
#include <string.h>
#include "fastgrad.h"
#include "dispatch.h"
#include "threadpool.h"

#define FG_SCAN_ICHUNK 256     /* inner columns per task (double accumulators on the stack) */

/* ---- scans and products ------------------------------------------------------------- */
typedef struct {
    int op, reverse, last_only;
    int64_t outer, n, inner;
    int64_t rows_per_task;     /* inner == 1: lines per task */
    int64_t nic;               /* inner > 1: column chunks per outer index */
    const void *x;
    void *out;
} scan_job;

#define SCAN_IMPL(TS, T)                                                                   \
    static void scan_task_##TS(void *ctx, int64_t t, int tid)                               \
    {                                                                                       \
        const scan_job *j = ctx;                                                            \
        const T *x = j->x;                                                                  \
        T *out = j->out;                                                                    \
        const int64_t n = j->n, inner = j->inner;                                           \
        const int prod = j->op == FG_SCAN_PROD;                                             \
        (void)tid;                                                                          \
        if (inner == 1) {                                                                   \
            int64_t r0 = t * j->rows_per_task, r1 = r0 + j->rows_per_task;                  \
            if (r1 > j->outer) r1 = j->outer;                                               \
            for (int64_t r = r0; r < r1; r++) {                                             \
                const T *xl = x + r * n;                                                    \
                double acc = prod ? 1.0 : 0.0;                                              \
                if (j->last_only) {   /* 8 independent products: not latency-bound */     \
                    double a8[8] = {1, 1, 1, 1, 1, 1, 1, 1};                                \
                    int64_t k = 0;                                                          \
                    for (; k + 8 <= n; k += 8)                                              \
                        for (int q = 0; q < 8; q++) a8[q] *= (double)xl[k + q];             \
                    for (; k < n; k++) a8[0] *= (double)xl[k];                              \
                    out[r] = (T)(((a8[0] * a8[1]) * (a8[2] * a8[3])) *                      \
                                 ((a8[4] * a8[5]) * (a8[6] * a8[7])));                      \
                    continue;                                                               \
                }                                                                           \
                T *ol = out + r * n;                                                        \
                if (!j->reverse) {                                                          \
                    if (prod) for (int64_t k = 0; k < n; k++) { acc *= (double)xl[k]; ol[k] = (T)acc; } \
                    else for (int64_t k = 0; k < n; k++) { acc += (double)xl[k]; ol[k] = (T)acc; } \
                } else {                                                                    \
                    if (prod) for (int64_t k = n - 1; k >= 0; k--) { acc *= (double)xl[k]; ol[k] = (T)acc; } \
                    else for (int64_t k = n - 1; k >= 0; k--) { acc += (double)xl[k]; ol[k] = (T)acc; } \
                }                                                                           \
            }                                                                               \
            return;                                                                         \
        }                                                                                   \
        const int64_t o = t / j->nic, c = t % j->nic;                                       \
        const int64_t i0 = c * FG_SCAN_ICHUNK;                                              \
        const int64_t w = inner - i0 < FG_SCAN_ICHUNK ? inner - i0 : FG_SCAN_ICHUNK;        \
        double acc[FG_SCAN_ICHUNK];                                                         \
        for (int64_t i = 0; i < w; i++) acc[i] = prod ? 1.0 : 0.0;                          \
        const T *xb = x + o * n * inner + i0;                                               \
        for (int64_t s = 0; s < n; s++) {                                                   \
            const int64_t k = j->reverse ? n - 1 - s : s;                                   \
            const T *xr = xb + k * inner;                                                   \
            if (prod) for (int64_t i = 0; i < w; i++) acc[i] *= (double)xr[i];             \
            else for (int64_t i = 0; i < w; i++) acc[i] += (double)xr[i];                  \
            if (!j->last_only) {                                                            \
                T *orow = out + (o * n + k) * inner + i0;                                   \
                for (int64_t i = 0; i < w; i++) orow[i] = (T)acc[i];                        \
            }                                                                               \
        }                                                                                   \
        if (j->last_only) {                                                                 \
            T *orow = out + o * inner + i0;                                                 \
            for (int64_t i = 0; i < w; i++) orow[i] = (T)acc[i];                            \
        }                                                                                   \
    }                                                                                       \
    static int scan_run_##TS(int op, int reverse, int last_only, int64_t outer, int64_t n,  \
                             int64_t inner, const T *x, T *out, int nthreads)               \
    {                                                                                       \
        FG_CHECK(op >= 0 && op < FG_SCAN_COUNT && outer >= 0 && n >= 0 && inner >= 0);      \
        if (outer == 0 || inner == 0) return FG_OK;                                         \
        if (n == 0 && !last_only) return FG_OK;                                             \
        FG_CHECK(out && (n == 0 || x));                                                     \
        scan_job j = {op, reverse, last_only, outer, n, inner, 1, 1, x, out};               \
        int64_t ntasks;                                                                     \
        const int nt = fg_threads_for(outer * (n > 0 ? n : 1) * inner,                      \
                                      FG_PAR_THRESHOLD_ELTWISE, nthreads);                  \
        if (inner == 1) {                                                                   \
            int64_t want = 4 * (int64_t)nt;                                                 \
            j.rows_per_task = (outer + want - 1) / want;                                    \
            ntasks = (outer + j.rows_per_task - 1) / j.rows_per_task;                       \
        } else {                                                                            \
            j.nic = (inner + FG_SCAN_ICHUNK - 1) / FG_SCAN_ICHUNK;                          \
            ntasks = outer * j.nic;                                                         \
        }                                                                                   \
        if (nt <= 1 || ntasks == 1) {                                                       \
            for (int64_t t = 0; t < ntasks; t++) scan_task_##TS(&j, t, 0);                  \
            return FG_OK;                                                                   \
        }                                                                                   \
        return fg_parallel_for(nt, ntasks, scan_task_##TS, &j);                             \
    }                                                                                       \
    int fg_scan_##TS(int op, int reverse, int64_t outer, int64_t n, int64_t inner,          \
                     const T *x, T *out, int nthreads)                                      \
    {                                                                                       \
        return scan_run_##TS(op, reverse, 0, outer, n, inner, x, out, nthreads);            \
    }                                                                                       \
    int fg_prod_##TS(int64_t outer, int64_t n, int64_t inner, const T *x, T *out,           \
                     int nthreads)                                                          \
    {                                                                                       \
        return scan_run_##TS(FG_SCAN_PROD, 0, 1, outer, n, inner, x, out, nthreads);        \
    }

SCAN_IMPL(f32, float)
SCAN_IMPL(f64, double)

/* ---- sort -------------------------------------------------------------------------------- */
/* Order-preserving unsigned keys: NaN above everything, -0 == +0.  Descending order
 * sorts the complemented keys, so the (stable) radix sort keeps ties in input order. */
static inline uint32_t key_f32(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    if (v != v) return 0xffffffffu;
    if (v == 0.0f) u = 0;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
static inline uint64_t key_f64(double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    if (v != v) return 0xffffffffffffffffull;
    if (v == 0.0) u = 0;
    return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
}

typedef struct {
    int descending;
    int64_t k;                 /* values to write per line (n for sort) */
    int64_t outer, n, inner, lines_per_task;
    const void *x;
    void *vals;
    int64_t *idx;
    int rc;
} sort_job;

#define SORT_IMPL(TS, T, K, NB)                                                            \
    /* sorts keys/ids (length n) in place, stably; kb/ib: scratch of the same length */     \
    static void radix_##TS(K *keys, int64_t *ids, K *kb, int64_t *ib, int64_t n)            \
    {                                                                                       \
        if (n <= 32) {                                                                      \
            for (int64_t a = 1; a < n; a++) {                                               \
                K kv = keys[a];                                                             \
                int64_t iv = ids[a], b = a - 1;                                             \
                while (b >= 0 && keys[b] > kv) { keys[b + 1] = keys[b]; ids[b + 1] = ids[b]; b--; } \
                keys[b + 1] = kv;                                                           \
                ids[b + 1] = iv;                                                            \
            }                                                                               \
            return;                                                                         \
        }                                                                                   \
        int64_t cnt[NB][256];                                                               \
        memset(cnt, 0, sizeof cnt);                                                         \
        for (int64_t a = 0; a < n; a++) {                                                   \
            K kv = keys[a];                                                                 \
            for (int p = 0; p < NB; p++) cnt[p][(kv >> (8 * p)) & 255u]++;                  \
        }                                                                                   \
        K *ks = keys, *kd = kb;                                                             \
        int64_t *is = ids, *id = ib;                                                        \
        for (int p = 0; p < NB; p++) {                                                      \
            int64_t *c = cnt[p];                                                            \
            if (c[(ks[0] >> (8 * p)) & 255u] == n) continue;   /* one bucket: no-op pass */ \
            int64_t sum = 0;                                                                \
            for (int b = 0; b < 256; b++) { int64_t v = c[b]; c[b] = sum; sum += v; }        \
            for (int64_t a = 0; a < n; a++) {                                               \
                K kv = ks[a];                                                               \
                int64_t d = c[(kv >> (8 * p)) & 255u]++;                                    \
                kd[d] = kv;                                                                 \
                id[d] = is[a];                                                              \
            }                                                                               \
            K *tk = ks; ks = kd; kd = tk;                                                   \
            int64_t *ti = is; is = id; id = ti;                                             \
        }                                                                                   \
        if (ks != keys) {                                                                   \
            memcpy(keys, ks, (size_t)n * sizeof(K));                                        \
            memcpy(ids, is, (size_t)n * sizeof(int64_t));                                   \
        }                                                                                   \
    }                                                                                       \
    /* top-k without a full sort: a most-significant-digit radix select finds the key      \
     * prefix of the k-th smallest key (branch-free byte histograms over the candidates),   \
     * then one pass collects the keys below it and, of those equal to it, the first ones  \
     * in input order; sorting those k stably gives the same result as a full stable       \
     * sort.  Result in kb/ib[0, k). */                                                    \
    static void select_##TS(K *keys, int64_t *ids, K *kb, int64_t *ib, int64_t n, int64_t k) \
    {                                                                                       \
        K prefix = 0, mask = 0;                                                             \
        int64_t need = k;                                                                   \
        for (int p = NB - 1; p >= 0; p--) {                                                 \
            int64_t cnt[256];                                                               \
            memset(cnt, 0, sizeof cnt);                                                     \
            for (int64_t a = 0; a < n; a++) {                                               \
                const K kv = keys[a];                                                       \
                cnt[(kv >> (8 * p)) & 255u] += (kv & mask) == prefix;                      \
            }                                                                               \
            int b = 0;                                                                      \
            while (cnt[b] < need) need -= cnt[b++];                                         \
            prefix |= (K)b << (8 * p);                                                      \
            mask |= (K)255u << (8 * p);                                                     \
            if (cnt[b] == need) break;           /* the whole bucket is taken */            \
        }                                                                                   \
        int64_t m = 0;                                                                      \
        for (int64_t a = 0; a < n && m < k; a++) {                                          \
            const K kv = keys[a], top = kv & mask;                                          \
            if (top < prefix || (top == prefix && need-- > 0)) { kb[m] = kv; ib[m] = ids[a]; m++; } \
        }                                                                                   \
        radix_##TS(kb, ib, keys, ids, k);                                                   \
    }                                                                                       \
    static void sort_task_##TS(void *ctx, int64_t t, int tid)                               \
    {                                                                                       \
        sort_job *j = ctx;                                                                  \
        const T *x = j->x;                                                                  \
        T *vals = j->vals;                                                                  \
        const int64_t n = j->n, inner = j->inner, k = j->k;                                 \
        (void)tid;                                                                          \
        K *keys = fg_workspace(0, (size_t)(2 * n) * sizeof(K) + 64);                        \
        int64_t *ids = fg_workspace(1, (size_t)(2 * n) * sizeof(int64_t) + 64);             \
        if (!keys || !ids) { FG_ATOMIC_STORE_RELAXED(&j->rc, FG_ENOMEM); return; } \
        const int64_t nl = j->outer * inner;                                                \
        int64_t l0 = t * j->lines_per_task, l1 = l0 + j->lines_per_task;                    \
        if (l1 > nl) l1 = nl;                                                               \
        const K flip = j->descending ? (K)~(K)0 : (K)0;                                     \
        for (int64_t l = l0; l < l1; l++) {                                                 \
            const int64_t o = l / inner, i = l % inner;                                     \
            const T *xl = x + o * n * inner + i;                                            \
            for (int64_t a = 0; a < n; a++) { keys[a] = key_##TS(xl[a * inner]) ^ flip; ids[a] = a; } \
            const int64_t *res = ids;                                                       \
            if (k < n && n > 64 && k * 4 <= n) {                                          \
                select_##TS(keys, ids, keys + n, ids + n, n, k);                            \
                res = ids + n;                                                              \
            } else {                                                                        \
                radix_##TS(keys, ids, keys + n, ids + n, n);                                \
            }                                                                               \
            T *vl = vals + o * k * inner + i;                                               \
            int64_t *il = j->idx + o * k * inner + i;                                       \
            for (int64_t a = 0; a < k; a++) { vl[a * inner] = xl[res[a] * inner]; il[a * inner] = res[a]; } \
        }                                                                                   \
    }                                                                                       \
    static int sort_run_##TS(int descending, int64_t k, int64_t outer, int64_t n,           \
                             int64_t inner, const T *x, T *vals, int64_t *idx, int nthreads) \
    {                                                                                       \
        FG_CHECK(outer >= 0 && n >= 0 && inner >= 0 && k >= 0 && k <= n);                   \
        const int64_t nl = outer * inner;                                                   \
        if (nl == 0 || k == 0) return FG_OK;                                                \
        FG_CHECK(x && vals && idx);                                                         \
        sort_job j = {descending, k, outer, n, inner, 1, x, vals, idx, FG_OK};              \
        const int nt = fg_threads_for(nl * n, FG_PAR_THRESHOLD_ELTWISE, nthreads);          \
        const int64_t want = 4 * (int64_t)nt;                                               \
        j.lines_per_task = (nl + want - 1) / want;                                          \
        const int64_t ntasks = (nl + j.lines_per_task - 1) / j.lines_per_task;              \
        if (nt <= 1 || ntasks == 1) {                                                       \
            for (int64_t t = 0; t < ntasks; t++) sort_task_##TS(&j, t, 0);                  \
        } else {                                                                            \
            int rc = fg_parallel_for(nt, ntasks, sort_task_##TS, &j);                       \
            if (rc != FG_OK) return rc;                                                     \
        }                                                                                   \
        return j.rc;                                                                        \
    }                                                                                       \
    int fg_sort_##TS(int descending, int64_t outer, int64_t n, int64_t inner, const T *x,   \
                     T *vals, int64_t *idx, int nthreads)                                   \
    {                                                                                       \
        return sort_run_##TS(descending, n, outer, n, inner, x, vals, idx, nthreads);       \
    }                                                                                       \
    int fg_topk_##TS(int largest, int64_t k, int64_t outer, int64_t n, int64_t inner,       \
                     const T *x, T *vals, int64_t *idx, int nthreads)                       \
    {                                                                                       \
        return sort_run_##TS(largest, k, outer, n, inner, x, vals, idx, nthreads);          \
    }

SORT_IMPL(f32, float, uint32_t, 4)
SORT_IMPL(f64, double, uint64_t, 8)
