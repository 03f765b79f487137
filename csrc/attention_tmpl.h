/* Scaled dot-product attention for one element type T on one SIMD path, instantiated by
 * attention_isa.h (T, TS, FN and the math of fg_math.h).  The contracts are in
 * attention.h.
 *
 * Forward: one task per (batch, query head, block of BR query rows).  For each block of
 * BC keys (SDPA_BC, or SDPA_BC_CAUSAL with the causal mask): S^T = scale * K Q^T (GEMM
 * into scratch, keys x rows), the mask, then the online softmax, elementwise across the
 * rows of each key (running max m and sum l per row: p = exp(s - m_new), the accumulated
 * output and l are rescaled by exp(m_old - m_new)), and O += P V (GEMM).  At the end
 * out = O / l and lse = m + log l.  Causal blocks entirely above the diagonal are skipped,
 * and within a block each key's rows start at its first unmasked query row.
 *
 * Backward: one task per (batch, key/value head), which owns that head's dk and dv and
 * the dq rows of the query heads sharing it.  Per (query block, key block) tile, again on
 * transposed tiles (keys x rows), it recomputes P^T = exp(S^T - lse), then dV += P^T dO,
 * dP^T = V dO^T, dS^T = P^T * (dP^T - D) with D_i = dO_i . out_i, dQ += scale dS K,
 * dK += scale dS^T Q. */

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

static inline int64_t FN(imin)(int64_t a, int64_t b) { return a < b ? a : b; }

/* elements of one 64-byte vector: the row loops start on whole vectors */
#define SDPA_VL ((int64_t)(64 / sizeof(T)))

static const void *FN(mask_head)(const fg_sdpa_shape *sh, const void *mask, int64_t b,
                                 int64_t h)
{
    if (sh->mask == FG_SDPA_MASK_NONE) return NULL;
    const int64_t off = b * sh->ms[0] + h * sh->ms[1];
    return sh->mask == FG_SDPA_MASK_BOOL ? (const void *)((const uint8_t *)mask + off)
                                         : (const void *)((const T *)mask + off);
}

/* Apply the attention mask to the transposed score tile st (keys [j0, j0 + cols) x query
 * rows [i0, i0 + rows), ld SDPA_BR): element (j, i) gets mask (i0 + i, j0 + j). */
static void FN(sdpa_mask_t)(const fg_sdpa_shape *sh, const void *mbase, T *st, int64_t i0,
                            int64_t rows, int64_t j0, int64_t cols)
{
    const T ninf = -(T)INFINITY;
    const int64_t si = sh->ms[2], sj = sh->ms[3];
    for (int64_t j = 0; j < cols; j++) {
        T *s = st + j * SDPA_BR;
        if (sh->mask == FG_SDPA_MASK_ADD) {
            const T *mc = (const T *)mbase + i0 * si + (j0 + j) * sj;
            for (int64_t i = 0; i < rows; i++) s[i] += mc[i * si];
        } else if (sh->mask == FG_SDPA_MASK_BOOL) {
            const uint8_t *mc = (const uint8_t *)mbase + i0 * si + (j0 + j) * sj;
            for (int64_t i = 0; i < rows; i++) s[i] = mc[i * si] ? s[i] : ninf;
        }
    }
}

/* Under the causal mask key gj is masked for the query rows i0 + i < gj.  A column of
 * the transposed tile is worked on from that row rounded down to whole vectors
 * (SDPA_VL rows): col_r0 is that row (0 without the mask, rows when the whole column is
 * masked); causal_pad sets the masked rows from there on to -inf. */
static inline int64_t FN(col_r0)(const fg_sdpa_shape *sh, int64_t i0, int64_t rows, int64_t gj)
{
    if (!sh->causal || gj <= i0) return 0;
    return FN(imin)(rows, (gj - i0) / SDPA_VL * SDPA_VL);
}

static void FN(causal_pad)(const fg_sdpa_shape *sh, T *st, int64_t i0, int64_t rows, int64_t j0,
                           int64_t cols)
{
    if (!sh->causal) return;
    for (int64_t j = 0; j < cols; j++) {
        T *sj = st + j * SDPA_BR;
        const int64_t end = FN(imin)(rows, j0 + j - i0);
        for (int64_t i = FN(col_r0)(sh, i0, rows, j0 + j); i < end; i++) sj[i] = -(T)INFINITY;
    }
}

/* The forward works on the transposed score tile S^T (keys x query rows): the row
 * statistics (running max, sum of exps) become elementwise operations across the query
 * rows of each key, so no horizontal reductions are needed, and under the causal mask key
 * j's column starts at its first unmasked query row. */
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
    T *ws = fg_workspace(0, sizeof(T) * (size_t)(SDPA_BR * SDPA_BC + SDPA_BR * EV + 5 * SDPA_BR));
    if (!ws) { FG_ATOMIC_STORE_RELAXED(&c->err, FG_ENOMEM); return; }
    T *st = ws, *acc = ws + SDPA_BR * SDPA_BC, *m = acc + SDPA_BR * EV, *l = m + SDPA_BR;
    T *mx = l + SDPA_BR, *ms = mx + SDPA_BR, *lb = ms + SDPA_BR;
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
        if (FN(gemm)(0, 1, cols, rows, E, sh->scale, k + j0 * lk, lk, q, lq, 0.0, st, SDPA_BR)) {
            FG_ATOMIC_STORE_RELAXED(&c->err, FG_EINVAL);
            return;
        }
        if (sh->mask != FG_SDPA_MASK_NONE) FN(sdpa_mask_t)(sh, mb, st, i0, rows, j0, cols);
        FN(causal_pad)(sh, st, i0, rows, j0, cols);
        for (int64_t i = 0; i < rows; i++) { mx[i] = m[i]; lb[i] = 0; }
        for (int64_t j = 0; j < cols; j++) {
            const T *sj = st + j * SDPA_BR;
#pragma omp simd
            for (int64_t i = FN(col_r0)(sh, i0, rows, j0 + j); i < rows; i++)
                mx[i] = sj[i] > mx[i] ? sj[i] : mx[i];
        }
        /* a row with nothing attended so far keeps m = -inf; its exps are taken from 0 */
#pragma omp simd
        for (int64_t i = 0; i < rows; i++) ms[i] = mx[i] == ninf ? (T)0 : mx[i];
        for (int64_t j = 0; j < cols; j++) {
            T *sj = st + j * SDPA_BR;
            const int64_t r0 = FN(col_r0)(sh, i0, rows, j0 + j);
            if (r0) memset(sj, 0, (size_t)r0 * sizeof(T));
#pragma omp simd
            for (int64_t i = r0; i < rows; i++) {
                const T p = M_EXP(sj[i] - ms[i]);
                sj[i] = p;
                lb[i] += p;
            }
        }
        if (first) {
            for (int64_t i = 0; i < rows; i++) l[i] = lb[i];
        } else {
            for (int64_t i = 0; i < rows; i++) {
                if (mx[i] == m[i]) { l[i] += lb[i]; continue; }
                const T corr = M_EXP(m[i] - ms[i]);
                l[i] = l[i] * corr + lb[i];
                T *a = acc + i * EV;
#pragma omp simd
                for (int64_t e = 0; e < EV; e++) a[e] *= corr;
            }
        }
        for (int64_t i = 0; i < rows; i++) m[i] = mx[i];
        if (FN(gemm)(1, 0, rows, EV, cols, 1.0, st, SDPA_BR, v + j0 * lv, lv, first ? 0.0 : 1.0,
                     acc, EV)) {
            FG_ATOMIC_STORE_RELAXED(&c->err, FG_EINVAL);
            return;
        }
        first = 0;
    }
    T *out = c->out + b * ly->o[0] + h * ly->o[1] + i0 * lo;
    T *lse = c->lse + bh * L + i0;
    /* the logsumexp of every row in one vector loop (a row with nothing attended: +inf,
     * its output 0); lb is free again and holds 1 / l, -1 for such a row */
#pragma omp simd
    for (int64_t i = 0; i < rows; i++) {
        const int live = !first && l[i] > 0;
        const T li = live ? l[i] : (T)1;
        lse[i] = live ? m[i] + M_LOG(li) : (T)INFINITY;
        lb[i] = live ? (T)1 / li : (T)-1;
    }
    for (int64_t i = 0; i < rows; i++) {
        if (lb[i] < 0) {
            for (int64_t e = 0; e < EV; e++) out[i * lo + e] = 0;
            continue;
        }
        const T r = lb[i];
        const T *a = acc + i * EV;
#pragma omp simd
        for (int64_t e = 0; e < EV; e++) out[i * lo + e] = a[e] * r;
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
                /* P^T = exp(scale K Q^T - lse) (keys x rows) */
                int st = FN(gemm)(0, 1, cols, rows, E, sh->scale, k + j0 * lk, lk, q, lq, 0.0,
                                  p, SDPA_BR);
                if (sh->mask != FG_SDPA_MASK_NONE) FN(sdpa_mask_t)(sh, mb, p, i0, rows, j0, cols);
                FN(causal_pad)(sh, p, i0, rows, j0, cols);
                for (int64_t j = 0; j < cols; j++) {
                    T *pj = p + j * SDPA_BR;
                    const int64_t r0 = FN(col_r0)(sh, i0, rows, j0 + j);
                    if (r0) memset(pj, 0, (size_t)r0 * sizeof(T));
#pragma omp simd
                    for (int64_t i = r0; i < rows; i++) pj[i] = M_EXP(pj[i] - lse[i]);
                }
                /* dV += P^T dO; dP^T = V dO^T; dS^T = P^T (dP^T - D) */
                st |= FN(gemm)(0, 0, cols, EV, rows, 1.0, p, SDPA_BR, g, lg, 1.0,
                               dv + j0 * ldv, ldv);
                st |= FN(gemm)(0, 1, cols, rows, EV, 1.0, v + j0 * lv, lv, g, lg, 0.0, dp,
                               SDPA_BR);
                for (int64_t j = 0; j < cols; j++) {
                    T *x = dp + j * SDPA_BR;
                    const T *pj = p + j * SDPA_BR;
#pragma omp simd
                    for (int64_t i = 0; i < rows; i++) x[i] = pj[i] * (x[i] - dd[i]);
                }
                /* dQ += scale dS K; dK += scale dS^T Q */
                st |= FN(gemm)(1, 0, rows, E, cols, sh->scale, dp, SDPA_BR, k + j0 * lk, lk,
                               first ? 0.0 : 1.0, dq, ldq);
                st |= FN(gemm)(0, 0, cols, E, rows, sh->scale, dp, SDPA_BR, q, lq, 1.0,
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

