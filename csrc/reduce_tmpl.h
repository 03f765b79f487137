/* Reductions, softmax and fused softmax cross-entropy, instantiated per (ISA, dtype)
 * by kern_isa.h (see eltwise_tmpl.h for the macros it expects).
 * All inputs are dense with logical shape (outer, n, inner); the reduced axis is n. */

#define RED_LANES 64            /* 4 AVX-512 (8 AVX2) float32 accumulators: independent add chains */
#define RED_BLOCK 1024          /* elements summed in T before folding into double */

/* The sum of acc[0..RED_LANES) in double, as a tree (vectorises; no serial chain of
 * adds; each lane then holds at most RED_BLOCK / RED_LANES terms summed in T). */
static inline double FN(red_fold)(const T *acc, int used)
{
    double d[RED_LANES];
    for (int l = 0; l < used; l++) d[l] = (double)acc[l];
    for (int w = used / 2; w > 0; w >>= 1)
        for (int l = 0; l < w; l++) d[l] += d[l + w];
    return d[0];
}

/* Sum of a contiguous vector: 64 lanes in T inside blocks (several independent vector
 * accumulators, so the adds overlap instead of waiting on one another), folded as a
 * tree, blocks folded into double.  Keeps float32 sums of 1e7 elements accurate to a
 * few ulp. */
static double FN(sum_contig)(const T *x, int64_t n)
{
    double total = 0.0;
    for (int64_t s = 0; s < n; s += RED_BLOCK) {
        const int64_t e = s + RED_BLOCK < n ? s + RED_BLOCK : n;
        T acc[RED_LANES] = {0};
        int64_t j = s;
        const int wide = e - s >= 4 * RED_LANES;        /* short rows: 16 lanes only */
        if (wide)
            for (; j + RED_LANES <= e; j += RED_LANES)
                for (int l = 0; l < RED_LANES; l++) acc[l] += x[j + l];
        for (; j + 16 <= e; j += 16)
            for (int l = 0; l < 16; l++) acc[l] += x[j + l];
        T r = 0;
        for (; j < e; j++) r += x[j];
        total += FN(red_fold)(acc, wide ? RED_LANES : 16) + (double)r;
    }
    return total;
}

static double FN(dot_contig)(const T *a, const T *b, int64_t n)
{
    double total = 0.0;
    for (int64_t s = 0; s < n; s += RED_BLOCK) {
        const int64_t e = s + RED_BLOCK < n ? s + RED_BLOCK : n;
        T acc[RED_LANES] = {0};
        int64_t j = s;
        const int wide = e - s >= 4 * RED_LANES;        /* short rows: 16 lanes only */
        if (wide)
            for (; j + RED_LANES <= e; j += RED_LANES)
                for (int l = 0; l < RED_LANES; l++) acc[l] += a[j + l] * b[j + l];
        for (; j + 16 <= e; j += 16)
            for (int l = 0; l < 16; l++) acc[l] += a[j + l] * b[j + l];
        T r = 0;
        for (; j < e; j++) r += a[j] * b[j];
        total += FN(red_fold)(acc, wide ? RED_LANES : 16) + (double)r;
    }
    return total;
}

/* max (sign=+1) or min (sign=-1) of a contiguous vector with the first index;
 * a NaN wins and reports its first position (NumPy's argmax convention). */
static void FN(maxmin_contig)(const T *x, int64_t n, int is_max, T *val, int64_t *idx)
{
    T best = x[0];
    int64_t bi = 0;
    if (best != best) { *val = best; *idx = 0; return; }
    for (int64_t j = 1; j < n; j++) {
        const T v = x[j];
        if (v != v) { *val = v; *idx = j; return; }
        if (is_max ? v > best : v < best) { best = v; bi = j; }
    }
    *val = best;
    *idx = bi;
}

/* Allowing GCC to treat the select as a max (finite-math, no signed zeros) lets it use
 * vmaxps; the result feeds exp(x - max), where a NaN or inf propagates whatever this
 * returns for it. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("finite-math-only", "no-signed-zeros")))
#endif
static T FN(max_contig_fast)(const T *x, int64_t n)
{
    /* plain max for softmax/logsumexp shifts; NaNs propagate through the later exp */
    enum { ML = 16 };                 /* softmax rows are short: one vector of lanes */
    T acc[ML];
    int64_t j = 0;
    T m = x[0];
    if (n >= ML) {
        for (int l = 0; l < ML; l++) acc[l] = x[l];
        for (j = ML; j + ML <= n; j += ML)
            for (int l = 0; l < ML; l++) acc[l] = x[j + l] > acc[l] ? x[j + l] : acc[l];
        for (int l = 0; l < ML; l++) m = acc[l] > m ? acc[l] : m;
    }
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* sum of exp(x[j] - m) in double; the exponentials go through a small buffer (or into
 * `y` when given) so that the exp loop and the lane-wise sum both vectorise (a running
 * scalar sum would not: float addition is not reassociated without -ffast-math). */
static double FN(sum_exp_shifted)(const T *x, int64_t n, T m, T *y)
{
    T buf[256];
    double s = 0.0;
    for (int64_t st = 0; st < n; st += 256) {
        const int64_t e = st + 256 < n ? st + 256 : n;
        T *d = y ? y + st : buf;
        for (int64_t j = st; j < e; j++) d[j - st] = M_EXP(x[j] - m);
        s += FN(sum_contig)(d, e - st);
    }
    return s;
}

static T FN(lse_contig)(const T *x, int64_t n)
{
    if (n == 0) return -(T)INFINITY;
    const T m = FN(max_contig_fast)(x, n);
    if (m == -(T)INFINITY) return m;          /* all -inf */
    if (m == (T)INFINITY) {                    /* +inf dominates unless a NaN is present */
        for (int64_t j = 0; j < n; j++) if (x[j] != x[j]) return x[j];
        return m;
    }
    return (T)((double)m + log(FN(sum_exp_shifted)(x, n, m, NULL)));
}

/* one long vector summed in chunks on fastgrad's task pool (threads that yield instead
 * of spinning, so a sum interleaved with NumPy's or PyTorch's calls does not stall) */
typedef struct { const T *x; int64_t n, chunk; double *part; } FN(sum_job);

static void FN(sum_task)(void *ctx, int64_t t, int tid)
{
    const FN(sum_job) *j = ctx;
    (void)tid;
    const int64_t lo = t * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
    j->part[t] = FN(sum_contig)(j->x + lo, hi - lo);
}

/* The row-wise kernels below run their loops as parts [lo, hi) of their outer range
 * (fg_parallel_split); every output element is computed whole by one part, so results
 * do not depend on the thread count.  RED_PART(name, BODY) defines the part function
 * with the kernel's arguments, from the context, under their usual names. */
typedef struct {
    int op, lg, is_max;
    int64_t outer, n, inner, nch, c;
    const T *x, *g;
    T *y, *out, *gx, *lsm, *loss;
    int64_t *idx;
    const int64_t *target;
    int64_t ignore_index;
    T on, off, ls;
    int status;
} FN(red_ctx);

#define RED_PART(NAME, ...)                                                               \
    static void FN(NAME)(void *vctx_, int64_t lo, int64_t hi, int part_)                  \
    {                                                                                     \
        FN(red_ctx) *c_ = vctx_;                                                          \
        const int op = c_->op, lg = c_->lg, is_max = c_->is_max;                          \
        const int64_t outer = c_->outer, n = c_->n, inner = c_->inner, nch = c_->nch;     \
        const int64_t c = c_->c;                                                          \
        const T *x = c_->x, *g = c_->g;                                                   \
        T *y = c_->y, *out = c_->out, *gx = c_->gx, *lsm = c_->lsm, *loss = c_->loss;     \
        int64_t *idx = c_->idx;                                                           \
        const int64_t *target = c_->target;                                               \
        const int64_t ignore_index = c_->ignore_index;                                    \
        const T on = c_->on, off = c_->off, ls = c_->ls;                                  \
        int status = FG_OK;                                                               \
        (void)part_; (void)op; (void)lg; (void)is_max; (void)outer; (void)n; (void)inner; \
        (void)nch; (void)c; (void)x; (void)g; (void)y; (void)out; (void)gx; (void)lsm;   \
        (void)loss; (void)idx; (void)target;                                              \
        (void)ignore_index; (void)on; (void)off; (void)ls;                                \
        { __VA_ARGS__ }                                                                   \
        if (status != FG_OK) FG_ATOMIC_STORE_RELAXED(&c_->status, status);    \
    }

/* runs part function fnp over [0, N), a job of estimated single-thread time t1 (ns,
 * dispatch.h's cost model), and returns the context's status */
static int FN(red_run)(FN(red_ctx) *c, double t1, int nthreads, int64_t N, fg_split_fn fnp)
{
    c->status = FG_OK;
    const int rc = fg_parallel_split(fg_threads_ns(t1, nthreads), N, 1, fnp, c, t1);
    return rc != FG_OK ? rc : c->status;
}

#define ICH 256                                        /* inner chunk per task */
RED_PART(reduce_rows_part,
    for (int64_t o = lo; o < hi; o++) {
        const T *row = x + o * n;
        switch (op) {
        case FG_R_SUM: out[o] = (T)FN(sum_contig)(row, n); break;
        case FG_R_MEAN: out[o] = (T)(FN(sum_contig)(row, n) / (double)n); break;
        case FG_R_LOGSUMEXP: out[o] = FN(lse_contig)(row, n); break;
        default: {
            int64_t bi;
            FN(maxmin_contig)(row, n, is_max, &out[o], &bi);
            if (idx) idx[o] = bi;
        }
        }
    }
)

/* inner > 1: reduce across rows of length `inner`, vectorised along inner; one task per
 * (outer index, ICH-column chunk) */
RED_PART(reduce_cols_part,
    double *acc = (double *)fg_workspace(1, sizeof(double) * ICH);
    T *mx = (T *)fg_workspace(2, sizeof(T) * ICH);
    if (!acc || !mx) { status = FG_ENOMEM; }
    else for (int64_t task = lo; task < hi; task++) {
        const int64_t o = task / nch, i0 = (task % nch) * ICH;
        const int64_t w = inner - i0 < ICH ? inner - i0 : ICH;
        const T *base = x + o * n * inner + i0;
        T *dst = out + o * inner + i0;
        if (op == FG_R_SUM || op == FG_R_MEAN) {
            /* accumulate columns in double: exact enough for any n, and the
             * float->double widening vectorises */
            for (int64_t i = 0; i < w; i++) acc[i] = 0.0;
            for (int64_t k = 0; k < n; k++) {
                const T *r = base + k * inner;
                for (int64_t i = 0; i < w; i++) acc[i] += (double)r[i];
            }
            const double sc = op == FG_R_MEAN ? 1.0 / (double)n : 1.0;
            for (int64_t i = 0; i < w; i++) dst[i] = (T)(acc[i] * sc);
        } else if (op == FG_R_LOGSUMEXP) {
            for (int64_t i = 0; i < w; i++) mx[i] = base[i];
            for (int64_t k = 1; k < n; k++) {
                const T *r = base + k * inner;
                for (int64_t i = 0; i < w; i++) mx[i] = r[i] > mx[i] ? r[i] : mx[i];
            }
            for (int64_t i = 0; i < w; i++) acc[i] = 0.0;
            for (int64_t k = 0; k < n; k++) {
                const T *r = base + k * inner;
                for (int64_t i = 0; i < w; i++) {
                    const T m = mx[i];
                    /* shift by 0 when the max is infinite so inf/nan come out right */
                    const T sh = (m == m && m != (T)INFINITY && m != -(T)INFINITY) ? m : (T)0;
                    acc[i] += (double)M_EXP(r[i] - sh);
                }
            }
            for (int64_t i = 0; i < w; i++) {
                const T m = mx[i];
                const T sh = (m == m && m != (T)INFINITY && m != -(T)INFINITY) ? m : (T)0;
                dst[i] = (T)((double)sh + log(acc[i]));
            }
        } else {
            int64_t *ix = idx ? idx + o * inner + i0 : NULL;
            for (int64_t i = 0; i < w; i++) { dst[i] = base[i]; if (ix) ix[i] = 0; }
            for (int64_t k = 1; k < n; k++) {
                const T *r = base + k * inner;
                for (int64_t i = 0; i < w; i++) {
                    const T v = r[i], b = dst[i];
                    const int take = (b == b) && ((v != v) || (is_max ? v > b : v < b));
                    if (take) { dst[i] = v; if (ix) ix[i] = k; }
                }
            }
        }
    }
)

int FN(reduce)(int op, int64_t outer, int64_t n, int64_t inner, const T *x, T *out, int64_t *idx,
               int nthreads)
{
    FG_CHECK(outer >= 0 && n >= 0 && inner >= 0 && op >= 0 && op < FG_R_COUNT);
    const int64_t nout = outer * inner;
    if (nout == 0) return FG_OK;
    FG_CHECK(out != NULL && (n == 0 || x != NULL));
    if (n == 0) {
        if (op == FG_R_MAX || op == FG_R_MIN) return FG_EINVAL;   /* caller reports */
        const T fill = op == FG_R_SUM ? (T)0 : (op == FG_R_MEAN ? (T)NAN : -(T)INFINITY);
        for (int64_t i = 0; i < nout; i++) out[i] = fill;
        return FG_OK;
    }
    const int is_max = op == FG_R_MAX;
    if (inner == 1 && outer == 1 && (op == FG_R_SUM || op == FG_R_MEAN)) {
        /* one long vector: chunks of whole RED_BLOCKs on the pool, partial sums (double)
         * folded in order, so the result depends only on the thread count */
        const double t1 = fg_cost_ns((double)n * sizeof(T), (double)n);
        int nt = fg_threads_ns(t1, nthreads);
        double part[64] = {0};
        if (nt > 64) nt = 64;
        const int64_t chunk = ((n + nt - 1) / nt + RED_BLOCK - 1) / RED_BLOCK * RED_BLOCK;
        const int64_t tasks = (n + chunk - 1) / chunk;
        FN(sum_job) job = {x, n, chunk, part};
        fg_parallel_work(nt, tasks, FN(sum_task), &job, t1);
        double s = 0;
        for (int64_t t = 0; t < tasks; t++) s += part[t];
        out[0] = (T)(op == FG_R_MEAN ? s / (double)n : s);
        return FG_OK;
    }
    /* bytes read; a logsumexp adds an exp per element (~FG_COST_EXP flops) */
    const double elems = (double)outer * (double)n * (double)inner;
    const double flops = elems * (op == FG_R_LOGSUMEXP ? FG_COST_EXP + 2.0 : 1.0);
    FN(red_ctx) k = {.op = op, .is_max = is_max, .outer = outer, .n = n, .inner = inner,
                     .x = x, .out = out, .idx = idx};
    const double t1 = fg_cost_ns(elems * sizeof(T), flops);
    if (inner == 1) return FN(red_run)(&k, t1, nthreads, outer, FN(reduce_rows_part));
    k.nch = (inner + ICH - 1) / ICH;
    return FN(red_run)(&k, t1, nthreads, outer * k.nch, FN(reduce_cols_part));
}

/* ---- softmax / log_softmax --------------------------------------------------------- */
static void FN(softmax_row)(int lg, const T *x, T *y, int64_t n)
{
    /* x - max: a +inf entry gives inf - inf = nan, as the NumPy reference does */
    const T sh = FN(max_contig_fast)(x, n);
    if (lg) {
        const T l = (T)log(FN(sum_exp_shifted)(x, n, sh, NULL));
        for (int64_t j = 0; j < n; j++) y[j] = x[j] - sh - l;
    } else {
        const T r = (T)(1.0 / FN(sum_exp_shifted)(x, n, sh, y));
        for (int64_t j = 0; j < n; j++) y[j] *= r;
    }
}

/* ---- part functions of softmax, its backward and the fused cross-entropy ---- */
RED_PART(softmax_rows_part,
            for (int64_t o = lo; o < hi; o++) FN(softmax_row)(lg, x + o * n, y + o * n, n);
)

RED_PART(softmax_inner_part,
        T *mx = (T *)fg_workspace(2, sizeof(T) * inner);
        double *acc = (double *)fg_workspace(1, sizeof(double) * inner);
        if (!mx || !acc) { status = FG_ENOMEM; }
        else for (int64_t o = lo; o < hi; o++) {
            const T *b = x + o * n * inner;
            T *yb = y + o * n * inner;
            for (int64_t i = 0; i < inner; i++) { mx[i] = b[i]; acc[i] = 0.0; }
            for (int64_t k = 1; k < n; k++)
                for (int64_t i = 0; i < inner; i++) mx[i] = b[k * inner + i] > mx[i] ? b[k * inner + i] : mx[i];
            for (int64_t k = 0; k < n; k++)
                for (int64_t i = 0; i < inner; i++) {
                    const T v = M_EXP(b[k * inner + i] - mx[i]);
                    acc[i] += (double)v;
                    if (!lg) yb[k * inner + i] = v;
                }
            if (lg) {
                for (int64_t i = 0; i < inner; i++) acc[i] = log(acc[i]);
                for (int64_t k = 0; k < n; k++)
                    for (int64_t i = 0; i < inner; i++)
                        yb[k * inner + i] = b[k * inner + i] - mx[i] - (T)acc[i];
            } else {
                for (int64_t i = 0; i < inner; i++) acc[i] = 1.0 / acc[i];
                for (int64_t k = 0; k < n; k++)
                    for (int64_t i = 0; i < inner; i++) yb[k * inner + i] *= (T)acc[i];
            }
        }
)

RED_PART(softmax_bwd_part,
        double *acc = (double *)fg_workspace(1, sizeof(double) * inner);
        if (!acc) { status = FG_ENOMEM; }
        else for (int64_t o = lo; o < hi; o++) {
            const int64_t base = o * n * inner;
            const T *gb = g + base, *yb = y + base;
            T *ob = gx + base;
            for (int64_t i = 0; i < inner; i++) acc[i] = 0.0;
            if (inner == 1) {
                const T s = lg ? (T)FN(sum_contig)(gb, n) : (T)FN(dot_contig)(gb, yb, n);
                if (lg) for (int64_t k = 0; k < n; k++) ob[k] = gb[k] - M_EXP(yb[k]) * s;
                else for (int64_t k = 0; k < n; k++) ob[k] = yb[k] * (gb[k] - s);
                continue;
            }
            for (int64_t k = 0; k < n; k++)
                for (int64_t i = 0; i < inner; i++)
                    acc[i] += lg ? (double)gb[k * inner + i] : (double)(gb[k * inner + i] * yb[k * inner + i]);
            for (int64_t k = 0; k < n; k++)
                for (int64_t i = 0; i < inner; i++) {
                    const int64_t q = k * inner + i;
                    ob[q] = lg ? gb[q] - M_EXP(yb[q]) * (T)acc[i] : yb[q] * (gb[q] - (T)acc[i]);
                }
        }
)

RED_PART(xent_part,
        for (int64_t r = lo; r < hi; r++) {
            const T *xr = x + r * c;
            T *lr = lsm + r * c;
            FN(softmax_row)(1, xr, lr, c);
            const int64_t t = target[r];
            if (t == ignore_index) { loss[r] = 0; continue; }
            T l = -on * lr[t];
            if (ls != (T)0) l -= off * (T)FN(sum_contig)(lr, c);
            loss[r] = l;
        }
)

RED_PART(xent_bwd_part,
        for (int64_t r = lo; r < hi; r++) {
            const T *lr = lsm + r * c;
            T *gr = gx + r * c;
            const int64_t t = target[r];
            if (t == ignore_index) { for (int64_t j = 0; j < c; j++) gr[j] = 0; continue; }
            const T gv = g[r];
            for (int64_t j = 0; j < c; j++) gr[j] = gv * (M_EXP(lr[j]) - off);
            gr[t] -= gv * on;
        }
)

int FN(softmax)(int lg, int64_t outer, int64_t n, int64_t inner, const T *x, T *y, int nthreads)
{
    FG_CHECK(outer >= 0 && n >= 0 && inner >= 0);
    if (outer * n * inner == 0) return FG_OK;
    FG_CHECK(x && y);
    const double elems = (double)outer * (double)n * (double)inner;
    const double t1 = fg_cost_ns(elems * 2.0 * sizeof(T), elems * (FG_COST_EXP + 4.0));
    FN(red_ctx) k = {.lg = lg, .outer = outer, .n = n, .inner = inner, .x = x, .y = y};
    return FN(red_run)(&k, t1, nthreads, outer, inner == 1 ? FN(softmax_rows_part) : FN(softmax_inner_part));
}

int FN(softmax_bwd)(int lg, int64_t outer, int64_t n, int64_t inner, const T *g, const T *y, T *gx,
                    int nthreads)
{
    FG_CHECK(outer >= 0 && n >= 0 && inner >= 0);
    if (outer * n * inner == 0) return FG_OK;
    FG_CHECK(g && y && gx);
    const double elems = (double)outer * (double)n * (double)inner;
    const double t1 = fg_cost_ns(elems * 3.0 * sizeof(T), elems * ((lg ? FG_COST_EXP : 0.0) + 4.0));
    FN(red_ctx) k = {.lg = lg, .outer = outer, .n = n, .inner = inner, .g = g, .y = (T *)y, .gx = gx};
    return FN(red_run)(&k, t1, nthreads, outer, FN(softmax_bwd_part));
}

/* ---- fused softmax cross-entropy ----------------------------------------------------- */
int FN(xent)(int64_t rows, int64_t c, const T *x, const int64_t *target, int64_t ignore_index,
             double label_smoothing, T *loss, T *lsm, int64_t *bad_row, int nthreads)
{
    FG_CHECK(rows >= 0 && c >= 1 && label_smoothing >= 0.0 && label_smoothing <= 1.0);
    if (rows == 0) return FG_OK;
    FG_CHECK(x && target && loss && lsm);
    /* validate every target first: no partial output on error */
    for (int64_t r = 0; r < rows; r++) {
        const int64_t t = target[r];
        if (t != ignore_index && (t < 0 || t >= c)) { if (bad_row) *bad_row = r; return FG_EINVAL; }
    }
    const T ls = (T)label_smoothing, on = (T)1 - ls, off = ls / (T)c;
    const double elems = (double)rows * (double)c;
    const double t1 = fg_cost_ns(elems * 2.0 * sizeof(T), elems * (FG_COST_EXP + 4.0));
    FN(red_ctx) k = {.n = c, .c = c, .x = x, .lsm = lsm, .loss = loss, .target = target,
                     .ignore_index = ignore_index, .on = on, .off = off, .ls = ls};
    return FN(red_run)(&k, t1, nthreads, rows, FN(xent_part));
}

int FN(xent_bwd)(int64_t rows, int64_t c, const T *g, const T *lsm, const int64_t *target,
                 int64_t ignore_index, double label_smoothing, T *gx, int nthreads)
{
    FG_CHECK(rows >= 0 && c >= 1);
    if (rows == 0) return FG_OK;
    FG_CHECK(g && lsm && target && gx);
    for (int64_t r = 0; r < rows; r++) {
        const int64_t t = target[r];
        if (t != ignore_index && (t < 0 || t >= c)) return FG_EINVAL;
    }
    const T ls = (T)label_smoothing, on = (T)1 - ls, off = ls / (T)c;
    const double elems = (double)rows * (double)c;
    const double t1 = fg_cost_ns(elems * 2.0 * sizeof(T), elems * (FG_COST_EXP + 2.0));
    FN(red_ctx) k = {.n = c, .c = c, .g = g, .lsm = (T *)lsm, .gx = gx, .target = target,
                     .ignore_index = ignore_index, .on = on, .off = off, .ls = ls};
    return FN(red_run)(&k, t1, nthreads, rows, FN(xent_bwd_part));
}
#undef RED_PART
#undef RED_LANES
#undef RED_BLOCK
#undef ICH
