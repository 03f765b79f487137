/* Fused recurrent layers: the sequence drivers of rnn.h.  The per-step gate kernels are
 * compiled per SIMD path (rnn_isa.h); the GEMMs are fastgrad's (gemm/). */
#include <string.h>
#include "fastgrad.h"
#include "dispatch.h"
#include "threadpool.h"
#include "rnn_isa.h"
#include "gemm/gemm_config.h"

static const int rnn_ngates[FG_RNN_COUNT] = {1, 1, 4, 3};
/* ws blocks of (T, B, H) per mode: hp + ha; hp + cp + tc + 4 gates; hp + 3 gates + hn */
static const int rnn_nblocks[FG_RNN_COUNT] = {2, 2, 7, 5};
#define RNN_LIMIT ((int64_t)1 << 58)

int fg_rnn_gates(int mode)
{
    return mode >= 0 && mode < FG_RNN_COUNT ? rnn_ngates[mode] : -1;
}

int64_t fg_rnn_ws_elems(int mode, int64_t steps, int64_t batch, int64_t hidden)
{
    if (mode < 0 || mode >= FG_RNN_COUNT || steps < 0 || batch < 0 || hidden < 1 ||
        steps >= RNN_LIMIT || batch >= RNN_LIMIT || hidden >= RNN_LIMIT)
        return -1;
    /* every buffer the layer touches, (T, B, 8H) at most, stays far from int64 overflow */
    const double tot = (double)steps * (double)batch * (double)hidden * 8.0;
    if (tot >= (double)RNN_LIMIT) return -1;
    return steps * batch * hidden * rnn_nblocks[mode];
}

static const fg_rnn_kern *rnn_table(int is64)
{
#if defined(__x86_64__) || defined(__i386__)
    switch (fg_get_isa()) {
    case FG_ISA_AVX512: return is64 ? fg_rnn_kernels_f64_avx512 : fg_rnn_kernels_f32_avx512;
    case FG_ISA_AVX2: return is64 ? fg_rnn_kernels_f64_avx2 : fg_rnn_kernels_f32_avx2;
    default: break;
    }
#endif
    return is64 ? fg_rnn_kernels_f64_scalar : fg_rnn_kernels_f32_scalar;
}

typedef struct {
    fg_rnn_kern fn;
    const fg_rnn_step *s;
} rnn_job;

static void rnn_part(void *ctx, int64_t lo, int64_t hi, int part)
{
    const rnn_job *j = ctx;
    (void)part;
    j->fn(j->s, lo, hi);
}

/* one gate kernel over the batch rows: on the pool when the cost model says it pays */
static void rnn_gates_run(fg_rnn_kern fn, const fg_rnn_step *s, int64_t batch, int es,
                          int mode, int nthreads)
{
    const double n = (double)batch * (double)s->H;
    const double bytes = n * (double)es * (mode == FG_RNN_LSTM ? 16.0 : mode == FG_RNN_GRU ? 12.0 : 4.0);
    const double flops = n * (mode == FG_RNN_LSTM ? 5.0 * FG_COST_EXP + 20.0
                              : mode == FG_RNN_GRU ? 3.0 * FG_COST_EXP + 15.0 : FG_COST_EXP + 2.0);
    const double t1 = fg_cost_ns(bytes, flops);
    const int nt = fg_threads_ns(t1, nthreads);
    if (nt <= 1) {
        fn(s, 0, batch);
        return;
    }
    rnn_job j = {fn, s};
    fg_parallel_split(nt, batch, 1, rnn_part, &j, t1);
}

static int rnn_gemm(int is64, int transa, int transb, int64_t m, int64_t n, int64_t k,
                    const void *a, int64_t lda, const void *b, int64_t ldb, double beta,
                    void *c, int64_t ldc, const void *bias, int nthreads)
{
    fg_gemm_desc d;
    memset(&d, 0, sizeof d);
    d.transa = transa;
    d.transb = transb;
    d.m = m;
    d.n = n;
    d.k = k;
    d.alpha = 1.0;
    d.beta = beta;
    d.a = a;
    d.lda = lda;
    d.b = b;
    d.ldb = ldb;
    d.c = c;
    d.ldc = ldc;
    d.bias = bias;
    d.act = FG_ACT_NONE;
    d.batch = 1;
    /* the eager wrappers' rule (_kernels.pyx _gemm_call): one thread below 32768 m*n*k */
    const int nt = (double)m * (double)n * (double)k >= 32768.0 ? nthreads : 1;
    return is64 ? fg_gemm_f64(&d, nt) : fg_gemm_f32(&d, nt);
}

/* The per-step GEMMs read B (W_hh^T in the forward, W_hh in the backward) in column
 * blocks small enough that the GEMM reads each block in place (gemm.c's direct path)
 * instead of packing all of B again at every time step.  rnn_pack_b lays the blocks out
 * once per call, each dense (k x width, row-major) and the blocks one after the other,
 * so the block of columns [j, j + width) starts at element j * k; the k sum of every
 * element is the same as in one GEMM. */
static int64_t rnn_block_cols(int64_t n, int64_t k, int64_t es)
{
    int64_t nc = (int64_t)FG_GEMM_SMALL_B_BYTES / (k * es) / 32 * 32;
    if (nc < 32) nc = 32;
    if (nc >= n) return n;
    const int64_t parts = (n + nc - 1) / nc;
    return ((n + parts - 1) / parts + 31) / 32 * 32;        /* equal blocks */
}

/* B (k x n) = W^T (trans: W is n x k) or W (k x n), both row-major with leading dim k / n */
static void rnn_pack_b(int is64, const void *w, int trans, int64_t k, int64_t n, void *dst)
{
    const int64_t nc = rnn_block_cols(n, k, is64 ? 8 : 4);
    for (int64_t j0 = 0; j0 < n; j0 += nc) {
        const int64_t wd = n - j0 < nc ? n - j0 : nc;
        if (is64) {
            const double *src = w;
            double *d = (double *)dst + j0 * k;
            for (int64_t p = 0; p < k; p++)
                for (int64_t j = 0; j < wd; j++)
                    d[p * wd + j] = trans ? src[(j0 + j) * k + p] : src[p * n + j0 + j];
        } else {
            const float *src = w;
            float *d = (float *)dst + j0 * k;
            for (int64_t p = 0; p < k; p++)
                for (int64_t j = 0; j < wd; j++)
                    d[p * wd + j] = trans ? src[(j0 + j) * k + p] : src[p * n + j0 + j];
        }
    }
}

/* C (m x n, ldc) = A (m x k, lda) @ B + bias (+ beta C), B laid out by rnn_pack_b */
static int rnn_gemm_cols(int is64, int64_t m, int64_t n, int64_t k, const void *a, int64_t lda,
                         const void *bp, double beta, void *c, int64_t ldc, const void *bias,
                         int nthreads)
{
    const int64_t es = is64 ? 8 : 4, nc = rnn_block_cols(n, k, es);
    for (int64_t j = 0; j < n; j += nc) {
        const int64_t w = n - j < nc ? n - j : nc;
        int rc = rnn_gemm(is64, 0, 0, m, w, k, a, lda, (const char *)bp + j * k * es, w, beta,
                          (char *)c + j * es, ldc, bias ? (const char *)bias + j * es : NULL,
                          nthreads);
        if (rc != FG_OK) return rc;
    }
    return FG_OK;
}

#define PTR(p, off) ((char *)(p) + (size_t)(off) * (size_t)es)
#define CPTR(p, off) ((const char *)(p) + (size_t)(off) * (size_t)es)

static int rnn_bs_check(const int64_t *bs, int64_t T, int64_t B)
{
    if (bs)
        for (int64_t t = 0; t < T; t++)
            if (bs[t] < 0 || bs[t] > B) return FG_EINVAL;
    return FG_OK;
}

/* Batch rows never mix in a recurrence, so with several threads the rows are split
 * into contiguous parts (multiples of the GEMM's 8-row micro-tile) and each part runs
 * the whole sequence on its own: one pool job per call, no synchronisation between
 * steps, each step's GEMM and gate kernel on the part's rows (one thread each).  Every
 * row goes through the same arithmetic as with one part, so the results are the same
 * bits at any thread count.  With fewer than 16 rows (or a tiny sequence) one part runs
 * on the caller and each step's GEMM and gate kernel take the threads instead. */
#define RNN_PART_ROWS 8

static int rnn_row_parts(int64_t T, int64_t B, int64_t H, int64_t G, int nthreads)
{
    if (nthreads <= 1 || B < 2 * RNN_PART_ROWS) return 1;
    if ((double)T * (double)B * (double)G * (double)H < (double)FG_GEMM_PAR_MIN_MNK) return 1;
    const int64_t p = B / RNN_PART_ROWS;
    return p < nthreads ? (int)p : nthreads;
}

/* rows of a part that take step t: the leading bs[t] rows of the batch take it */
static int64_t rnn_rows_in(const int64_t *bs, int64_t t, int64_t r0, int64_t r1)
{
    if (!bs) return r1 - r0;
    const int64_t n = bs[t] - r0;
    return n < 0 ? 0 : n > r1 - r0 ? r1 - r0 : n;
}

typedef struct {
    int is64, mode, reverse, gthreads;
    int64_t T, B, H, G;
    const int64_t *bs;
    const void *gi, *wt, *b_hh, *h0, *c0;
    void *y, *hn, *cn, *ws, *gh;
    fg_rnn_kern fn;
    int err;
} rnn_fwd_ctx;

/* the forward recurrence of batch rows [r0, r1) over every step */
static int rnn_fwd_rows(const rnn_fwd_ctx *c, int64_t r0, int64_t r1)
{
    const int is64 = c->is64, mode = c->mode, lstm = mode == FG_RNN_LSTM, es = is64 ? 8 : 4;
    const int64_t T = c->T, B = c->B, H = c->H, G = c->G, BH = B * H, TBH = T * BH;
    const int64_t R = r1 - r0, o = r0 * H, og = r0 * G;
    char *ws = c->ws, *gh = PTR(c->gh, og);
    char *hp = ws;
    char *cp = PTR(ws, TBH), *tcb = PTR(ws, 2 * TBH);
    char *gates = lstm ? PTR(ws, 3 * TBH) : PTR(ws, TBH);
    char *hnl = PTR(ws, 4 * TBH), *ha = PTR(ws, TBH);
    fg_rnn_step s;
    memset(&s, 0, sizeof s);
    s.H = H;
    s.G = G;
    s.gh = gh;
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = c->reverse ? T - 1 - k : k;
        const int64_t tn = c->reverse ? t - 1 : t + 1;      /* next step, if k < T - 1 */
        if (k == 0) {
            if (c->h0) memcpy(PTR(hp, t * BH + o), CPTR(c->h0, o), (size_t)(R * H) * es);
            else memset(PTR(hp, t * BH + o), 0, (size_t)(R * H) * es);
            if (lstm && c->c0) memcpy(PTR(cp, t * BH + o), CPTR(c->c0, o), (size_t)(R * H) * es);
            else if (lstm) memset(PTR(cp, t * BH + o), 0, (size_t)(R * H) * es);
        }
        const int64_t nb = rnn_rows_in(c->bs, t, r0, r1), nh = nb * H;   /* rows taking it */
        if (nb > 0) {
            int rc = rnn_gemm_cols(is64, nb, G, H, PTR(hp, t * BH + o), H, c->wt, 0.0, gh, G,
                                   c->b_hh, c->gthreads);
            if (rc != FG_OK) return rc;
        }
        s.gi = CPTR(c->gi, t * B * G + og);
        s.hprev = (const char *)PTR(hp, t * BH + o);
        s.hout = PTR(c->y, t * BH + o);
        if (lstm) {
            s.cprev = PTR(cp, t * BH + o);
            s.gates = PTR(gates, t * B * G + og);
            s.tc = PTR(tcb, t * BH + o);
            s.cnew = k < T - 1 ? PTR(cp, tn * BH + o) : PTR(c->cn, o);
        } else if (mode == FG_RNN_GRU) {
            s.gates = PTR(gates, t * B * G + og);
            s.hnl = PTR(hnl, t * BH + o);
        }
        if (nb > 0) rnn_gates_run(c->fn, &s, nb, es, mode, c->gthreads);
        char *hnext = k < T - 1 ? PTR(hp, tn * BH + o) : PTR(c->hn, o);
        memcpy(hnext, s.hout, (size_t)nh * es);
        if (nb < R) {           /* the rows that wait keep their state and output 0 */
            memcpy(PTR(hnext, nh), PTR(s.hprev, nh), (size_t)((R - nb) * H) * es);
            if (lstm) memcpy(PTR(s.cnew, nh), PTR(s.cprev, nh), (size_t)((R - nb) * H) * es);
            memset(PTR(s.hout, nh), 0, (size_t)((R - nb) * H) * es);
        }
        if (mode == FG_RNN_TANH || mode == FG_RNN_RELU)
            memcpy(PTR(ha, t * BH + o), s.hout, (size_t)nh * es);
    }
    return FG_OK;
}

static void rnn_fwd_part(void *ctx, int64_t lo, int64_t hi, int part)
{
    rnn_fwd_ctx *c = ctx;
    (void)part;
    const int rc = rnn_fwd_rows(c, lo, hi);
    if (rc != FG_OK) FG_ATOMIC_STORE_RELAXED(&c->err, rc);
}

/* single-thread time (ns) of a recurrence: its multiply-adds at the GEMM's speed */
static double rnn_seq_ns(int64_t T, int64_t B, int64_t H, int64_t G)
{
    return (double)T * (double)B * (double)G * (double)H / (double)FG_GEMM_MNK_PER_NS;
}

static int rnn_fwd(int is64, int mode, int64_t T, int64_t B, int64_t H, int reverse,
                   const int64_t *bs, const void *gi, const void *w_hh, const void *b_hh, const void *h0,
                   const void *c0, void *y, void *hn, void *cn, void *ws, int nthreads)
{
    const int lstm = mode == FG_RNN_LSTM;
    if (fg_rnn_ws_elems(mode, T, B, H) < 0) return FG_EINVAL;
    if (!w_hh || !hn || (lstm && !cn) || (T > 0 && B > 0 && (!gi || !y || !ws)))
        return FG_EINVAL;
    const int es = is64 ? 8 : 4;
    const int64_t G = rnn_ngates[mode] * H, BH = B * H;
    if (rnn_bs_check(bs, T, B) != FG_OK) return FG_EINVAL;
    if (B == 0) return FG_OK;
    if (T == 0) {
        if (h0) memmove(hn, h0, (size_t)BH * es);
        else memset(hn, 0, (size_t)BH * es);
        if (lstm && c0) memmove(cn, c0, (size_t)BH * es);
        else if (lstm) memset(cn, 0, (size_t)BH * es);
        return FG_OK;
    }
    /* scratch: gh (B, G) and W_hh^T (H, G) in column blocks (rnn_pack_b) */
    char *gh = fg_workspace(0, (size_t)(B * G + H * G) * es);
    if (!gh) return FG_ENOMEM;
    char *wt = PTR(gh, B * G);
    rnn_pack_b(is64, w_hh, 1, H, G, wt);
    const int parts = rnn_row_parts(T, B, H, G, nthreads);
    rnn_fwd_ctx c = {is64, mode, reverse, parts > 1 ? 1 : nthreads, T, B, H, G, bs, gi, wt,
                     b_hh, h0, c0, y, hn, cn, ws, gh, rnn_table(is64)[mode * 2], FG_OK};
    if (parts <= 1) return rnn_fwd_rows(&c, 0, B);
    fg_parallel_split(parts, B, RNN_PART_ROWS, rnn_fwd_part, &c, rnn_seq_ns(T, B, H, G));
    return c.err;
}

typedef struct {
    int is64, mode, reverse, gthreads, want_dh0;
    int64_t T, B, H, G;
    const int64_t *bs;
    const void *gy, *ghn, *gcn, *wb, *ws;
    void *dgi, *dgh, *dh, *dc;
    fg_rnn_kern fn;
    int err;
} rnn_bwd_ctx;

/* backward through time of batch rows [r0, r1): dgi (dgh) and the carried dh, dc */
static int rnn_bwd_rows(const rnn_bwd_ctx *c, int64_t r0, int64_t r1)
{
    const int is64 = c->is64, mode = c->mode, lstm = mode == FG_RNN_LSTM, es = is64 ? 8 : 4;
    const int gru = mode == FG_RNN_GRU;
    const int64_t T = c->T, B = c->B, H = c->H, G = c->G, BH = B * H, TBH = T * BH;
    const int64_t R = r1 - r0, o = r0 * H, og = r0 * G;
    char *dh = PTR(c->dh, o), *dc = PTR(c->dc, o);
    if (c->ghn) memcpy(dh, CPTR(c->ghn, o), (size_t)(R * H) * es);
    else memset(dh, 0, (size_t)(R * H) * es);
    if (lstm) {
        if (c->gcn) memcpy(dc, CPTR(c->gcn, o), (size_t)(R * H) * es);
        else memset(dc, 0, (size_t)(R * H) * es);
    }
    const char *ws = c->ws;
    const char *hp = ws;
    const char *cp = CPTR(ws, TBH), *tcb = CPTR(ws, 2 * TBH);
    const char *gates = lstm ? CPTR(ws, 3 * TBH) : CPTR(ws, TBH);
    const char *hnl = CPTR(ws, 4 * TBH), *ha = CPTR(ws, TBH);
    fg_rnn_step s;
    memset(&s, 0, sizeof s);
    s.H = H;
    s.G = G;
    s.dh = dh;
    s.dc = dc;
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = c->reverse ? k : T - 1 - k;
        s.gy = c->gy ? CPTR(c->gy, t * BH + o) : NULL;
        s.dgi = PTR(c->dgi, t * B * G + og);
        s.dgh = PTR(c->dgh, t * B * G + og);
        s.sg = CPTR(gates, t * B * G + og);
        s.stc = CPTR(tcb, t * BH + o);
        s.scp = CPTR(cp, t * BH + o);
        s.shp = CPTR(hp, t * BH + o);
        s.shn = CPTR(hnl, t * BH + o);
        s.sha = CPTR(ha, t * BH + o);
        const int64_t nb = rnn_rows_in(c->bs, t, r0, r1);     /* rows that took this step */
        if (nb < R) {           /* the others: no gate gradient, dh and dc pass through */
            memset(PTR(s.dgi, nb * G), 0, (size_t)((R - nb) * G) * es);
            if (gru) memset(PTR(s.dgh, nb * G), 0, (size_t)((R - nb) * G) * es);
        }
        if (nb == 0) continue;
        rnn_gates_run(c->fn, &s, nb, es, mode, c->gthreads);
        if (k < T - 1 || c->want_dh0) {
            int rc = rnn_gemm_cols(is64, nb, H, G, s.dgh, G, c->wb, gru ? 1.0 : 0.0, dh, H, NULL,
                                   c->gthreads);
            if (rc != FG_OK) return rc;
        }
    }
    return FG_OK;
}

static void rnn_bwd_part(void *ctx, int64_t lo, int64_t hi, int part)
{
    rnn_bwd_ctx *c = ctx;
    (void)part;
    const int rc = rnn_bwd_rows(c, lo, hi);
    if (rc != FG_OK) FG_ATOMIC_STORE_RELAXED(&c->err, rc);
}

static int rnn_bwd(int is64, int mode, int64_t T, int64_t B, int64_t H, int reverse,
                   const int64_t *bs, const void *gy, const void *ghn, const void *gcn, const void *w_hh,
                   const void *ws, void *dgi, void *dh0, void *dc0, void *dw_hh, void *db_hh,
                   int nthreads)
{
    const int lstm = mode == FG_RNN_LSTM, gru = mode == FG_RNN_GRU;
    if (fg_rnn_ws_elems(mode, T, B, H) < 0) return FG_EINVAL;
    if (!w_hh || (T > 0 && B > 0 && (!ws || !dgi))) return FG_EINVAL;
    const int es = is64 ? 8 : 4;
    const int64_t G = rnn_ngates[mode] * H, BH = B * H, TB = T * B;
    if (rnn_bs_check(bs, T, B) != FG_OK) return FG_EINVAL;
    if (dw_hh && TB == 0) memset(dw_hh, 0, (size_t)(G * H) * es);
    if (db_hh && TB == 0) memset(db_hh, 0, (size_t)G * es);
    if (B == 0) return FG_OK;
    /* scratch: dh, dc (B, H) each, W_hh in column blocks (rnn_pack_b) and GRU's
     * recurrent-path gradients dgh (T, B, G) */
    char *scr = fg_workspace(0, (size_t)(2 * BH + G * H + (gru ? TB * G : 0)) * es);
    if (!scr) return FG_ENOMEM;
    char *dh = scr, *dc = PTR(scr, BH), *wb = PTR(scr, 2 * BH);
    char *dgh = gru ? PTR(scr, 2 * BH + G * H) : dgi;
    rnn_pack_b(is64, w_hh, 0, G, H, wb);
    const int parts = T > 0 ? rnn_row_parts(T, B, H, G, nthreads) : 1;
    rnn_bwd_ctx c = {is64, mode, reverse, parts > 1 ? 1 : nthreads, dh0 != NULL, T, B, H, G, bs,
                     gy, ghn, gcn, wb, ws, dgi, dgh, dh, dc, rnn_table(is64)[mode * 2 + 1],
                     FG_OK};
    int rc;
    if (parts <= 1) rc = rnn_bwd_rows(&c, 0, B);
    else {
        fg_parallel_split(parts, B, RNN_PART_ROWS, rnn_bwd_part, &c, rnn_seq_ns(T, B, H, G));
        rc = c.err;
    }
    if (rc != FG_OK) return rc;
    if (dh0) memcpy(dh0, dh, (size_t)BH * es);
    if (dc0 && lstm) memcpy(dc0, dc, (size_t)BH * es);
    if (TB == 0) return FG_OK;
    if (dw_hh) {
        rc = rnn_gemm(is64, 1, 0, G, H, TB, dgh, G, ws, H, 0.0, dw_hh, H, NULL, nthreads);
        if (rc != FG_OK) return rc;
    }
    if (db_hh) {
        if (is64) {
            double *o = db_hh;
            const double *r = (const double *)dgh;
            for (int64_t j = 0; j < G; j++) o[j] = r[j];
            for (int64_t i = 1; i < TB; i++)
                for (int64_t j = 0; j < G; j++) o[j] += r[i * G + j];
        } else {
            float *o = db_hh;
            const float *r = (const float *)dgh;
            for (int64_t j = 0; j < G; j++) o[j] = r[j];
            for (int64_t i = 1; i < TB; i++)
                for (int64_t j = 0; j < G; j++) o[j] += r[i * G + j];
        }
    }
    return FG_OK;
}

int fg_rnn_fwd_f32(int mode, int64_t steps, int64_t batch, int64_t hidden, int reverse,
                   const int64_t *batch_sizes, const float *gi, const float *w_hh, const float *b_hh, const float *h0,
                   const float *c0, float *y, float *hn, float *cn, float *ws, int nthreads)
{
    return rnn_fwd(0, mode, steps, batch, hidden, reverse, batch_sizes, gi, w_hh, b_hh, h0, c0, y, hn, cn,
                   ws, nthreads);
}

int fg_rnn_fwd_f64(int mode, int64_t steps, int64_t batch, int64_t hidden, int reverse,
                   const int64_t *batch_sizes, const double *gi, const double *w_hh, const double *b_hh, const double *h0,
                   const double *c0, double *y, double *hn, double *cn, double *ws,
                   int nthreads)
{
    return rnn_fwd(1, mode, steps, batch, hidden, reverse, batch_sizes, gi, w_hh, b_hh, h0, c0, y, hn, cn,
                   ws, nthreads);
}

int fg_rnn_bwd_f32(int mode, int64_t steps, int64_t batch, int64_t hidden, int reverse,
                   const int64_t *batch_sizes, const float *gy, const float *ghn, const float *gcn, const float *w_hh,
                   const float *ws, float *dgi, float *dh0, float *dc0, float *dw_hh,
                   float *db_hh, int nthreads)
{
    return rnn_bwd(0, mode, steps, batch, hidden, reverse, batch_sizes, gy, ghn, gcn, w_hh, ws, dgi, dh0,
                   dc0, dw_hh, db_hh, nthreads);
}

int fg_rnn_bwd_f64(int mode, int64_t steps, int64_t batch, int64_t hidden, int reverse,
                   const int64_t *batch_sizes, const double *gy, const double *ghn, const double *gcn, const double *w_hh,
                   const double *ws, double *dgi, double *dh0, double *dc0, double *dw_hh,
                   double *db_hh, int nthreads)
{
    return rnn_bwd(1, mode, steps, batch, hidden, reverse, batch_sizes, gy, ghn, gcn, w_hh, ws, dgi, dh0,
                   dc0, dw_hh, db_hh, nthreads);
}
