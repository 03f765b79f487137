/* Scaled dot-product attention for one element type T on one SIMD path, instantiated by
 * attention_isa.h (T, TS, FN and the math of fg_math.h).  The contracts are in
 * attention.h.
 *
 * Forward: one task per (batch, query head, block of BR query rows).  For each block of
 * BC keys (SDPA_BC, or SDPA_BC_CAUSAL with the causal mask): S = scale * Q K^T (GEMM into scratch), the mask, then the online softmax per
 * row (running max m and sum l: p = exp(s - m_new), the accumulated output and l are
 * rescaled by exp(m_old - m_new)), and O += P V (GEMM).  At the end out = O / l and
 * lse = m + log l.  Causal blocks entirely above the diagonal are skipped.
 *
 * Backward: one task per (batch, key/value head), which owns that head's dk and dv and
 * the dq rows of the query heads sharing it.  Per (query block, key block) tile it
 * recomputes P = exp(S - lse), then dV += P^T dO, dP = dO V^T,
 * dS = P * (dP - D) with D_i = dO_i . out_i, dQ += scale dS K, dK += scale dS^T Q. */

#ifndef SDPA_BR
#define SDPA_BR 64           /* query rows per tile */
#endif
#ifndef SDPA_BC
#define SDPA_BC 128          /* keys per tile */
#endif
#ifndef SDPA_BC_CAUSAL
#define SDPA_BC_CAUSAL 64    /* keys per tile with the causal mask: less of each diagonal
                                tile is above the diagonal */
#endif

typedef struct {
    const fg_sdpa_shape *sh;
    const fg_sdpa_layout *lay;
    const T *q, *k, *v, *o, *lse_in, *g;
    const void *mask;
    T *out, *lse, *dq, *dk, *dv;
    int64_t nqb;
    int err;
} FN(sdpa_ctx);

static int FN(gemm)(int ta, int tb, int64_t m, int64_t n, int64_t kk, double alpha,
                    const T *a, int64_t lda, const T *b, int64_t ldb, double beta, T *c,
                    int64_t ldc)
{
    fg_gemm_desc d = {.transa = ta, .transb = tb, .m = m, .n = n, .k = kk, .alpha = alpha,
                      .beta = beta, .a = a, .lda = lda, .b = b, .ldb = ldb, .c = c,
                      .ldc = ldc, .bias = NULL, .act = FG_ACT_NONE, .batch = 1};
    return FG_CAT(fg_gemm, TS)(&d, 1);
}

/* Mask rows [i0, i0 + rows) x keys [j0, j0 + cols) of the score tile sc (ld bc) */
static void FN(sdpa_mask)(const fg_sdpa_shape *sh, const void *mbase, T *sc, int64_t bc,
                          int64_t i0, int64_t rows, int64_t j0, int64_t cols)
{
    const T ninf = -(T)INFINITY;
    for (int64_t i = 0; i < rows; i++) {
        T *s = sc + i * bc;
        const int64_t gi = i0 + i;
        if (sh->mask == FG_SDPA_MASK_ADD) {
            const T *mr = (const T *)mbase + gi * sh->ms[2] + j0 * sh->ms[3];
            const int64_t st = sh->ms[3];
            if (st == 1) {
#pragma omp simd
                for (int64_t j = 0; j < cols; j++) s[j] += mr[j];
            } else {
                for (int64_t j = 0; j < cols; j++) s[j] += mr[j * st];
            }
        } else if (sh->mask == FG_SDPA_MASK_BOOL) {
            const uint8_t *mr = (const uint8_t *)mbase + gi * sh->ms[2] + j0 * sh->ms[3];
            const int64_t st = sh->ms[3];
            if (st == 1) {
#pragma omp simd
                for (int64_t j = 0; j < cols; j++) s[j] = mr[j] ? s[j] : ninf;
            } else {
                for (int64_t j = 0; j < cols; j++) s[j] = mr[j * st] ? s[j] : ninf;
            }
        }
        if (sh->causal) {
            int64_t first = gi - j0 + 1;          /* keys j0 + first.. are masked */
            if (first < 0) first = 0;
            for (int64_t j = first; j < cols; j++) s[j] = ninf;
        }
    }
}

static inline int64_t FN(imin)(int64_t a, int64_t b) { return a < b ? a : b; }

static const void *FN(mask_head)(const fg_sdpa_shape *sh, const void *mask, int64_t b,
                                 int64_t h)
{
    if (sh->mask == FG_SDPA_MASK_NONE) return NULL;
    const int64_t off = b * sh->ms[0] + h * sh->ms[1];
    return sh->mask == FG_SDPA_MASK_BOOL ? (const void *)((const uint8_t *)mask + off)
                                         : (const void *)((const T *)mask + off);
}

static void FN(sdpa_fwd_task)(void *vctx, int64_t task, int tid)
{
    (void)tid;
    FN(sdpa_ctx) *c = vctx;
    const fg_sdpa_shape *sh = c->sh;
    const int64_t L = sh->l, S = sh->s, E = sh->e, EV = sh->ev;
    const int64_t bh = task / c->nqb, qb = task % c->nqb;
    const int64_t b = bh / sh->hq, h = bh % sh->hq, kh = h / (sh->hq / sh->hk);
    const int64_t i0 = qb * SDPA_BR, rows = FN(imin)(SDPA_BR, L - i0);
    const int64_t bc = sh->causal ? SDPA_BC_CAUSAL : SDPA_BC;
    T *ws = fg_workspace(0, sizeof(T) * (size_t)(SDPA_BR * SDPA_BC + SDPA_BR * EV + 2 * SDPA_BR));
    if (!ws) { FG_ATOMIC_STORE_RELAXED(&c->err, FG_ENOMEM); return; }
    T *sc = ws, *acc = ws + SDPA_BR * SDPA_BC, *m = acc + SDPA_BR * EV, *l = m + SDPA_BR;
    const fg_sdpa_layout *ly = c->lay;
    const int64_t lq = ly->q[2], lk = ly->k[2], lv = ly->v[2], lo = ly->o[2];
    const T *q = c->q + b * ly->q[0] + h * ly->q[1] + i0 * lq;
    const T *k = c->k + b * ly->k[0] + kh * ly->k[1];
    const T *v = c->v + b * ly->v[0] + kh * ly->v[1];
    const void *mb = FN(mask_head)(sh, c->mask, b, h);
    const T ninf = -(T)INFINITY;
    for (int64_t i = 0; i < rows; i++) { m[i] = ninf; l[i] = 0; }
    int first = 1;
    for (int64_t j0 = 0; j0 < S; j0 += bc) {
        if (sh->causal && j0 > i0 + rows - 1) break;
        const int64_t cols = FN(imin)(bc, S - j0);
        if (FN(gemm)(0, 1, rows, cols, E, sh->scale, q, lq, k + j0 * lk, lk, 0.0, sc, bc)) {
            FG_ATOMIC_STORE_RELAXED(&c->err, FG_EINVAL);
            return;
        }
        FN(sdpa_mask)(sh, mb, sc, bc, i0, rows, j0, cols);
        for (int64_t i = 0; i < rows; i++) {
            T *s = sc + i * bc;
            T mx = ninf;
#pragma omp simd reduction(max:mx)
            for (int64_t j = 0; j < cols; j++) mx = s[j] > mx ? s[j] : mx;
            const T mnew = mx > m[i] ? mx : m[i];
            if (mnew == ninf) {               /* nothing attended so far: p = 0 */
#pragma omp simd
                for (int64_t j = 0; j < cols; j++) s[j] = 0;
                if (first) for (int64_t e = 0; e < EV; e++) acc[i * EV + e] = 0;
                continue;
            }
            T sum = 0;
#pragma omp simd reduction(+:sum)
            for (int64_t j = 0; j < cols; j++) {
                const T p = M_EXP(s[j] - mnew);
                s[j] = p;
                sum += p;
            }
            if (!first) {
                const T corr = M_EXP(m[i] - mnew);
                l[i] = l[i] * corr + sum;
                if (corr != (T)1) {
                    T *a = acc + i * EV;
#pragma omp simd
                    for (int64_t e = 0; e < EV; e++) a[e] *= corr;
                }
            } else {
                l[i] = sum;
            }
            m[i] = mnew;
        }
        if (FN(gemm)(0, 0, rows, EV, cols, 1.0, sc, bc, v + j0 * lv, lv, first ? 0.0 : 1.0,
                     acc, EV)) {
            FG_ATOMIC_STORE_RELAXED(&c->err, FG_EINVAL);
            return;
        }
        first = 0;
    }
    T *out = c->out + b * ly->o[0] + h * ly->o[1] + i0 * lo;
    T *lse = c->lse + bh * L + i0;
    for (int64_t i = 0; i < rows; i++) {
        if (first || !(l[i] > 0)) {
            for (int64_t e = 0; e < EV; e++) out[i * lo + e] = 0;
            lse[i] = (T)INFINITY;
            continue;
        }
        const T r = (T)1 / l[i];
        const T *a = acc + i * EV;
#pragma omp simd
        for (int64_t e = 0; e < EV; e++) out[i * lo + e] = a[e] * r;
        lse[i] = m[i] + M_LOG(l[i]);
    }
}

static void FN(sdpa_bwd_task)(void *vctx, int64_t task, int tid)
{
    (void)tid;
    FN(sdpa_ctx) *c = vctx;
    const fg_sdpa_shape *sh = c->sh;
    const int64_t L = sh->l, S = sh->s, E = sh->e, EV = sh->ev;
    const int64_t grp = sh->hq / sh->hk;
    const int64_t b = task / sh->hk, kh = task % sh->hk;
    const int64_t bc = sh->causal ? SDPA_BC_CAUSAL : SDPA_BC;
    T *ws = fg_workspace(0, sizeof(T) * (size_t)(2 * SDPA_BR * SDPA_BC + SDPA_BR));
    if (!ws) { FG_ATOMIC_STORE_RELAXED(&c->err, FG_ENOMEM); return; }
    T *p = ws, *dp = ws + SDPA_BR * SDPA_BC, *dd = dp + SDPA_BR * SDPA_BC;
    const fg_sdpa_layout *ly = c->lay;
    const int64_t lq = ly->q[2], lk = ly->k[2], lv = ly->v[2], lo = ly->o[2], lg = ly->g[2];
    const int64_t ldq = ly->dq[2], ldk = ly->dk[2], ldv = ly->dv[2];
    const T *k = c->k + b * ly->k[0] + kh * ly->k[1], *v = c->v + b * ly->v[0] + kh * ly->v[1];
    T *dk = c->dk + b * ly->dk[0] + kh * ly->dk[1], *dv = c->dv + b * ly->dv[0] + kh * ly->dv[1];
    for (int64_t j = 0; j < S; j++) {
        for (int64_t x = 0; x < E; x++) dk[j * ldk + x] = 0;
        for (int64_t x = 0; x < EV; x++) dv[j * ldv + x] = 0;
    }
    for (int64_t hh = 0; hh < grp; hh++) {
        const int64_t h = kh * grp + hh, bh = b * sh->hq + h;
        const void *mb = FN(mask_head)(sh, c->mask, b, h);
        for (int64_t i0 = 0; i0 < L; i0 += SDPA_BR) {
            const int64_t rows = FN(imin)(SDPA_BR, L - i0);
            const T *q = c->q + b * ly->q[0] + h * ly->q[1] + i0 * lq;
            const T *o = c->o + b * ly->o[0] + h * ly->o[1] + i0 * lo;
            const T *g = c->g + b * ly->g[0] + h * ly->g[1] + i0 * lg;
            const T *lse = c->lse_in + bh * L + i0;
            T *dq = c->dq + b * ly->dq[0] + h * ly->dq[1] + i0 * ldq;
            for (int64_t i = 0; i < rows; i++) {
                T s = 0;
#pragma omp simd reduction(+:s)
                for (int64_t e = 0; e < EV; e++) s += g[i * lg + e] * o[i * lo + e];
                dd[i] = s;
            }
            int first = 1;
            for (int64_t j0 = 0; j0 < S; j0 += bc) {
                if (sh->causal && j0 > i0 + rows - 1) break;
                const int64_t cols = FN(imin)(bc, S - j0);
                int st = FN(gemm)(0, 1, rows, cols, E, sh->scale, q, lq, k + j0 * lk, lk, 0.0,
                                  p, bc);
                FN(sdpa_mask)(sh, mb, p, bc, i0, rows, j0, cols);
                for (int64_t i = 0; i < rows; i++) {
                    T *s = p + i * bc;
                    const T li = lse[i];
#pragma omp simd
                    for (int64_t j = 0; j < cols; j++) s[j] = M_EXP(s[j] - li);
                }
                st |= FN(gemm)(1, 0, cols, EV, rows, 1.0, p, bc, g, lg, 1.0,
                               dv + j0 * ldv, ldv);
                st |= FN(gemm)(0, 1, rows, cols, EV, 1.0, g, lg, v + j0 * lv, lv, 0.0, dp,
                               bc);
                for (int64_t i = 0; i < rows; i++) {
                    T *x = dp + i * bc;
                    const T *pi = p + i * bc;
                    const T di = dd[i];
#pragma omp simd
                    for (int64_t j = 0; j < cols; j++) x[j] = pi[j] * (x[j] - di);
                }
                st |= FN(gemm)(0, 0, rows, E, cols, sh->scale, dp, bc, k + j0 * lk, lk,
                               first ? 0.0 : 1.0, dq, ldq);
                st |= FN(gemm)(1, 0, cols, E, rows, sh->scale, dp, bc, q, lq, 1.0,
                               dk + j0 * ldk, ldk);
                if (st) { FG_ATOMIC_STORE_RELAXED(&c->err, FG_EINVAL); return; }
                first = 0;
            }
            if (first)
                for (int64_t i = 0; i < rows; i++)
                    for (int64_t x = 0; x < E; x++) dq[i * ldq + x] = 0;
        }
    }
}

/* single-thread estimate of the work (ns): the GEMMs at ~64 flops/ns, the exps */
static double FN(sdpa_cost)(const fg_sdpa_shape *sh, double gemms)
{
    double pairs = (double)sh->batch * (double)sh->hq * (double)sh->l * (double)sh->s;
    if (sh->causal) pairs *= 0.5;
    return pairs * (gemms * (double)(sh->e + sh->ev) / 64.0 + FG_COST_EXP / FG_COST_FLOPS_PER_NS);
}

int FN(fwd)(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay, const T *q, const T *k,
            const T *v, const void *mask, T *out, T *lse, int nthreads)
{
    FN(sdpa_ctx) c = {.sh = sh, .lay = lay, .q = q, .k = k, .v = v, .mask = mask, .out = out, .lse = lse,
                      .err = FG_OK};
    c.nqb = (sh->l + SDPA_BR - 1) / SDPA_BR;
    const int64_t ntasks = sh->batch * sh->hq * c.nqb;
    if (ntasks == 0) return FG_OK;
    const double t1 = FN(sdpa_cost)(sh, 2.0);
    const int nt = fg_threads_ns(t1, nthreads);
    if (nt <= 1) {
        for (int64_t t = 0; t < ntasks && c.err == FG_OK; t++) FN(sdpa_fwd_task)(&c, t, 0);
    } else {
        int st = fg_parallel_work(nt, ntasks, FN(sdpa_fwd_task), &c, t1);
        if (st != FG_OK) return st;
    }
    return c.err;
}

int FN(bwd)(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay, const T *q, const T *k,
            const T *v, const void *mask, const T *out, const T *lse, const T *g, T *dq, T *dk,
            T *dv, int nthreads)
{
    FN(sdpa_ctx) c = {.sh = sh, .lay = lay, .q = q, .k = k, .v = v, .mask = mask, .o = out, .lse_in = lse,
                      .g = g, .dq = dq, .dk = dk, .dv = dv, .err = FG_OK};
    const int64_t ntasks = sh->batch * sh->hk;
    if (ntasks == 0) return FG_OK;
    const double t1 = FN(sdpa_cost)(sh, 5.0);
    const int nt = fg_threads_ns(t1, nthreads);
    if (nt <= 1) {
        for (int64_t t = 0; t < ntasks && c.err == FG_OK; t++) FN(sdpa_bwd_task)(&c, t, 0);
    } else {
        int st = fg_parallel_work(nt, ntasks, FN(sdpa_bwd_task), &c, t1);
        if (st != FG_OK) return st;
    }
    return c.err;
}

