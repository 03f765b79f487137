/* Internal: helpers shared by the kernel compilation units. */
#ifndef FG_DISPATCH_H
#define FG_DISPATCH_H
#include "fastgrad.h"

#ifdef _OPENMP
#include <omp.h>
static inline int fg_thread_id(void) { return omp_get_thread_num(); }
static inline int fg_team_size(void) { return omp_get_num_threads(); }
#else
static inline int fg_thread_id(void) { return 0; }
static inline int fg_team_size(void) { return 1; }
#endif

#define FG_CHECK(cond) do { if (!(cond)) return FG_EINVAL; } while (0)

/* Number of threads for a loop over `work` units: 1 below `threshold`, and never so
 * many that a thread gets less than threshold/2 units. */
static inline int fg_threads_for(int64_t work, int64_t threshold, int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    if (work < threshold) return 1;
    int64_t per = threshold / 2 > 0 ? threshold / 2 : 1;
    int64_t maxt = work / per;
    if (maxt < nthreads) nthreads = (int)(maxt > 0 ? maxt : 1);
    return nthreads;
}

/* Run BODY (which sees int64_t lo, hi) over [0, N) split into NT contiguous chunks,
 * each a multiple of ALIGN units (keeps vector loops and cache lines whole).  With
 * NT <= 1 no OpenMP region is entered at all (that costs microseconds). */
#define FG_PAR_RANGE(N, NT, ALIGN, ...)                                                   \
    do {                                                                                  \
        int64_t fg_n_ = (N);                                                              \
        int fg_nt_ = (NT);                                                                \
        if (fg_nt_ <= 1) {                                                                \
            int64_t lo = 0, hi = fg_n_;                                                   \
            (void)lo; (void)hi;                                                           \
            __VA_ARGS__                                                                   \
        } else {                                                                          \
            _Pragma("omp parallel num_threads(fg_nt_)")                                   \
            {                                                                             \
                int64_t fg_k_ = fg_team_size(), fg_t_ = fg_thread_id();                   \
                int64_t fg_c_ = (fg_n_ + fg_k_ - 1) / fg_k_;                              \
                fg_c_ = (fg_c_ + (ALIGN) - 1) / (ALIGN) * (ALIGN);                        \
                int64_t lo = fg_t_ * fg_c_, hi = lo + fg_c_;                              \
                if (hi > fg_n_) hi = fg_n_;                                               \
                if (lo < hi) { __VA_ARGS__ }                                              \
            }                                                                             \
        }                                                                                 \
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
