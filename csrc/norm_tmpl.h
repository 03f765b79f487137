/* Normalisation kernels of conv.c (batch norm: fg_bn_stats, fg_bn_apply, fg_bn_bwd; row
 * norm: fg_rownorm, fg_rownorm_bwd) for one element type T.  Included by conv.c once per
 * type, after conv_tmpl.h, whose sums F(sum_d), F(sumsq_d), F(dotc_d) they use; conv.c
 * defines T and F(name).  Rows with one affine value per element (layer norm, s == 1) run
 * in norm_rows_tmpl.h, compiled once per SIMD path. */
/* ---- batch normalization ------------------------------------------------------------- */
typedef struct {
    int64_t n, c, s;
    const T *x, *g, *mean, *invstd, *w, *b;
    T *y, *out1, *out2, *gx;
    int training;
} F(bn_ctx);

static void F(bn_stats_task)(void *vctx, int64_t ch, int tid)
{
    F(bn_ctx) *c = (F(bn_ctx) *)vctx;
    (void)tid;
    const int64_t S = c->s;
    double acc = 0.0;
    for (int64_t i = 0; i < c->n; i++) acc += F(sum_d)(c->x + (i * c->c + ch) * S, S);
    const double cnt = (double)(c->n * S);
    const double m = cnt > 0 ? acc / cnt : 0.0;
    double v = 0.0;
    for (int64_t i = 0; i < c->n; i++) v += F(sumsq_d)(c->x + (i * c->c + ch) * S, S, m);
    c->out1[ch] = (T)m;
    c->out2[ch] = (T)(cnt > 0 ? v / cnt : 0.0);
}

int F(fg_bn_stats)(int64_t n, int64_t c, int64_t s, const T *x, T *mean, T *var, int nthreads)
{
    if (n < 0 || c < 0 || s < 0 || !x || !mean || !var) return FG_EINVAL;
    F(bn_ctx) b;
    memset(&b, 0, sizeof(b));
    b.n = n; b.c = c; b.s = s; b.x = x; b.out1 = mean; b.out2 = var;
    int nt = bn_threads(n * c * s, nthreads, c);
    if (nt == 1) { for (int64_t ch = 0; ch < c; ch++) F(bn_stats_task)(&b, ch, 0); }
    else fg_parallel_for(nt, c, F(bn_stats_task), &b);
    return FG_OK;
}

static void F(bn_apply_task)(void *vctx, int64_t row, int tid)
{
    F(bn_ctx) *c = (F(bn_ctx) *)vctx;
    (void)tid;
    const int64_t ch = row % c->c, S = c->s;
    const T sc = c->invstd[ch] * (c->w ? c->w[ch] : (T)1);
    const T sh = (c->b ? c->b[ch] : (T)0) - c->mean[ch] * sc;
    const T *r = c->x + row * S;
    T *o = c->y + row * S;
    for (int64_t j = 0; j < S; j++) o[j] = r[j] * sc + sh;
}

int F(fg_bn_apply)(int64_t n, int64_t c, int64_t s, const T *x, const T *mean, const T *invstd,
                   const T *w, const T *b, T *y, int nthreads)
{
    if (n < 0 || c < 0 || s < 0 || !x || !mean || !invstd || !y) return FG_EINVAL;
    F(bn_ctx) k;
    memset(&k, 0, sizeof(k));
    k.n = n; k.c = c; k.s = s; k.x = x; k.mean = mean; k.invstd = invstd; k.w = w; k.b = b;
    k.y = y;
    int nt = bn_threads(n * c * s, nthreads, n * c);
    if (nt == 1) { for (int64_t r = 0; r < n * c; r++) F(bn_apply_task)(&k, r, 0); }
    else fg_parallel_for(nt, n * c, F(bn_apply_task), &k);
    return FG_OK;
}

static void F(bn_bwd_task)(void *vctx, int64_t ch, int tid)
{
    F(bn_ctx) *c = (F(bn_ctx) *)vctx;
    (void)tid;
    const int64_t S = c->s;
    const double m = (double)c->mean[ch], is = (double)c->invstd[ch];
    double sg = 0.0, sgx = 0.0;
    for (int64_t i = 0; i < c->n; i++) {
        const T *r = c->x + (i * c->c + ch) * S;
        const T *q = c->g + (i * c->c + ch) * S;
        sg += F(sum_d)(q, S);
        sgx += F(dotc_d)(q, r, S, m);
    }
    sgx *= is;
    if (c->out1) c->out1[ch] = (T)sgx;
    if (c->out2) c->out2[ch] = (T)sg;
    if (!c->gx) return;
    const double w = c->w ? (double)c->w[ch] : 1.0;
    const double cnt = (double)(c->n * S);
    const double k = w * is;
    const double mg = c->training && cnt > 0 ? sg / cnt : 0.0;
    const double mgx = c->training && cnt > 0 ? sgx / cnt : 0.0;
    for (int64_t i = 0; i < c->n; i++) {
        const T *r = c->x + (i * c->c + ch) * S;
        const T *q = c->g + (i * c->c + ch) * S;
        T *o = c->gx + (i * c->c + ch) * S;
        if (c->training) {
            const T a = (T)k, b = (T)(-k * mg + k * mgx * m * is), e = (T)(-k * mgx * is);
            /* gx = k (g - mg - xhat mgx), xhat = (x - m) is */
            for (int64_t j = 0; j < S; j++) o[j] = a * q[j] + e * r[j] + b;
        } else {
            const T a = (T)k;
            for (int64_t j = 0; j < S; j++) o[j] = a * q[j];
        }
    }
}

int F(fg_bn_bwd)(int64_t n, int64_t c, int64_t s, const T *x, const T *g, const T *mean,
                 const T *invstd, const T *w, int training, T *gx, T *gw, T *gb, int nthreads)
{
    if (n < 0 || c < 0 || s < 0 || !x || !g || !mean || !invstd) return FG_EINVAL;
    F(bn_ctx) k;
    memset(&k, 0, sizeof(k));
    k.n = n; k.c = c; k.s = s; k.x = x; k.g = g; k.mean = mean; k.invstd = invstd; k.w = w;
    k.training = training; k.gx = gx; k.out1 = gw; k.out2 = gb;
    int nt = bn_threads(n * c * s, nthreads, c);
    if (nt == 1) { for (int64_t ch = 0; ch < c; ch++) F(bn_bwd_task)(&k, ch, 0); }
    else fg_parallel_for(nt, c, F(bn_bwd_task), &k);
    return FG_OK;
}

/* ---- row normalization --------------------------------------------------------------- */
/* layer-norm rows (s == 1), one copy per SIMD path (norm_rows_tmpl.h) */
#define RN_CAT3(a, b, c) a##b##c
#define RN_ICAT(a, b, c) RN_CAT3(a, b, c)
#define RI(name) RN_ICAT(name, SUF, RN_ISA)
FG_ISA_BEGIN(base)
#define RN_ISA _base
#include "norm_rows_tmpl.h"
#undef RN_ISA
FG_ISA_END
FG_ISA_BEGIN(avx2)
#define RN_ISA _avx2
#include "norm_rows_tmpl.h"
#undef RN_ISA
FG_ISA_END
FG_ISA_BEGIN(avx512)
#define RN_ISA _avx512
#include "norm_rows_tmpl.h"
#undef RN_ISA
FG_ISA_END
#undef RI

static void F(rn_rows_fwd)(const T *x, T *y, int64_t r0, int64_t r1, int64_t D, int64_t groups,
                           const T *w, const T *b, double eps, T *omean, T *orstd)
{
    switch (fg_get_isa()) {
    case FG_ISA_AVX512:
        RN_ICAT(rn_rows_fwd, SUF, _avx512)(x, y, r0, r1, D, groups, w, b, eps, omean, orstd);
        break;
    case FG_ISA_AVX2:
        RN_ICAT(rn_rows_fwd, SUF, _avx2)(x, y, r0, r1, D, groups, w, b, eps, omean, orstd);
        break;
    default: RN_ICAT(rn_rows_fwd, SUF, _base)(x, y, r0, r1, D, groups, w, b, eps, omean, orstd);
    }
}

static void F(rn_rows_bwd)(const T *x, const T *g, const T *mean, const T *rstd, const T *w,
                           T *gx, int64_t r0, int64_t r1, int64_t D, int64_t groups,
                           double *pw, double *pb)
{
    switch (fg_get_isa()) {
    case FG_ISA_AVX512:
        RN_ICAT(rn_rows_bwd, SUF, _avx512)(x, g, mean, rstd, w, gx, r0, r1, D, groups, pw, pb);
        break;
    case FG_ISA_AVX2:
        RN_ICAT(rn_rows_bwd, SUF, _avx2)(x, g, mean, rstd, w, gx, r0, r1, D, groups, pw, pb);
        break;
    default: RN_ICAT(rn_rows_bwd, SUF, _base)(x, g, mean, rstd, w, gx, r0, r1, D, groups, pw, pb);
    }
}

typedef struct {
    int64_t rows, d, groups, s, chunk;
    const T *x, *g, *w, *b, *mean, *rstd;
    T *y, *omean, *orstd, *gx;
    double eps;
    int want_w;
    double *parts;              /* weight/bias-gradient partial sums, one block per range */
    int64_t pstride, nranges;
    int err;
} F(rn_ctx);

static void F(rn_fwd_task)(void *vctx, int64_t task, int tid)
{
    F(rn_ctx) *c = (F(rn_ctx) *)vctx;
    (void)tid;
    const int64_t r0 = task * c->chunk, r1 = imin(r0 + c->chunk, c->rows), D = c->d, S = c->s;
    if (S == 1) {               /* layer norm: one weight per element */
        F(rn_rows_fwd)(c->x, c->y, r0, r1, D, c->groups, c->w, c->b, c->eps, c->omean, c->orstd);
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        const T *xr = c->x + r * D;
        T *yr = c->y + r * D;
        const double m = D > 0 ? F(sum_d)(xr, D) / (double)D : 0.0;
        const double v = F(sumsq_d)(xr, D, m);
        const double rs = 1.0 / sqrt((D > 0 ? v / (double)D : 0.0) + c->eps);
        c->omean[r] = (T)m;
        c->orstd[r] = (T)rs;
        const int64_t a0 = (r % c->groups) * D / S;
        const T tm = (T)m, trs = (T)rs;
        for (int64_t jc = 0; jc < D / S; jc++) {
            const T wv = c->w ? c->w[a0 + jc] : (T)1, bv = c->b ? c->b[a0 + jc] : (T)0;
            const T sc = trs * wv;
            const T *xs = xr + jc * S;
            T *ys = yr + jc * S;
            for (int64_t t = 0; t < S; t++) ys[t] = (xs[t] - tm) * sc + bv;
        }
    }
}

static void F(rn_bwd_task)(void *vctx, int64_t task, int tid)
{
    F(rn_ctx) *c = (F(rn_ctx) *)vctx;
    const int64_t r0 = task * c->chunk, r1 = imin(r0 + c->chunk, c->rows), D = c->d, S = c->s;
    const int64_t A = c->groups * D / S;   /* affine values: gw parts, then gb parts */
    /* tid is the range index (fg_parallel_ranges): this range's partial sums */
    double *part = c->parts ? c->parts + (int64_t)tid * c->pstride : NULL;
    if (S == 1) {               /* layer norm: one weight per element */
        F(rn_rows_bwd)(c->x, c->g, c->mean, c->rstd, c->w, c->gx, r0, r1, D, c->groups, part,
                       part ? part + A : NULL);
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        const T *xr = c->x + r * D, *gr = c->g + r * D;
        const double m = (double)c->mean[r], rs = (double)c->rstd[r];
        const int64_t a0 = (r % c->groups) * D / S;
        double s1 = 0.0, s2 = 0.0;
        for (int64_t jc = 0; jc < D / S; jc++) {
            const double wv = c->w ? (double)c->w[a0 + jc] : 1.0;
            const double pg = F(sum_d)(gr + jc * S, S);
            const double pgx = F(dotc_d)(gr + jc * S, xr + jc * S, S, m) * rs;
            s1 += wv * pg;
            s2 += wv * pgx;
            if (part) { part[a0 + jc] += pgx; part[A + a0 + jc] += pg; }
        }
        if (!c->gx) continue;
        T *o = c->gx + r * D;
        const double m1 = D > 0 ? s1 / (double)D : 0.0, m2 = D > 0 ? s2 / (double)D : 0.0;
        for (int64_t jc = 0; jc < D / S; jc++) {
            const double wv = c->w ? (double)c->w[a0 + jc] : 1.0;
            /* o = rs (g wv - m1 - xhat m2) = a g + e x + f */
            const T a = (T)(rs * wv), e = (T)(-rs * rs * m2), f = (T)(-rs * m1 + rs * rs * m2 * m);
            const T *xs = xr + jc * S, *gs = gr + jc * S;
            T *os = o + jc * S;
            for (int64_t t = 0; t < S; t++) os[t] = a * gs[t] + e * xs[t] + f;
        }
    }
}

static int F(rn_check)(int64_t rows, int64_t d, int64_t groups, int64_t s)
{
    if (rows < 0 || d < 0 || groups < 1 || s < 1 || d % s) return FG_EINVAL;
    return FG_OK;
}

static int F(rn_run)(F(rn_ctx) *c, fg_task_fn fn, int nthreads)
{
    int nt = nthreads < 1 ? 1 : nthreads;
    if (nt > FG_POOL_MAX) nt = FG_POOL_MAX;
    if (c->rows * c->d < FG_NORM_PAR_MIN || c->rows < 2) nt = 1;
    int64_t ntask = nt == 1 ? 1 : imin(c->rows, 8 * (int64_t)nt);
    if (ntask < 1) ntask = 1;
    c->chunk = (c->rows + ntask - 1) / ntask;
    if (c->chunk < 1) c->chunk = 1;
    ntask = (c->rows + c->chunk - 1) / c->chunk;
    const int nr = (ntask > 1 && nt > 1) ? nt : 1;
    if (c->want_w) {            /* backward: per-range partial sums, see fg_parallel_ranges */
        c->pstride = (2 * (c->groups * c->d / c->s) + 7) / 8 * 8;
        c->parts = (double *)fg_workspace(FG_WS_SLOT_PARTS,
                                          (size_t)(nr * c->pstride) * sizeof(double) + 64);
        if (!c->parts) return FG_ENOMEM;
        memset(c->parts, 0, (size_t)(nr * c->pstride) * sizeof(double));
        c->nranges = nr;
    }
    if (ntask <= 1) { if (c->rows > 0) fn(c, 0, 0); }
    else if (nr == 1) { for (int64_t t = 0; t < ntask; t++) fn(c, t, 0); }
    else fg_parallel_ranges(nt, ntask, fn, c);
    return c->err;
}

int F(fg_rownorm)(int64_t rows, int64_t d, int64_t groups, int64_t s, const T *x, const T *w,
                  const T *b, double eps, T *y, T *mean, T *rstd, int nthreads)
{
    int rc = F(rn_check)(rows, d, groups, s);
    if (rc != FG_OK) return rc;
    if (!x || !y || !mean || !rstd) return FG_EINVAL;
    F(rn_ctx) c;
    memset(&c, 0, sizeof(c));
    c.rows = rows; c.d = d; c.groups = groups; c.s = s; c.x = x; c.w = w; c.b = b;
    c.eps = eps; c.y = y; c.omean = mean; c.orstd = rstd;
    return F(rn_run)(&c, F(rn_fwd_task), nthreads);
}

int F(fg_rownorm_bwd)(int64_t rows, int64_t d, int64_t groups, int64_t s, const T *x,
                      const T *g, const T *mean, const T *rstd, const T *w, T *gx, T *gw,
                      T *gb, int nthreads)
{
    int rc = F(rn_check)(rows, d, groups, s);
    if (rc != FG_OK) return rc;
    if (!x || !g || !mean || !rstd) return FG_EINVAL;
    F(rn_ctx) c;
    memset(&c, 0, sizeof(c));
    c.rows = rows; c.d = d; c.groups = groups; c.s = s; c.x = x; c.g = g; c.mean = mean;
    c.rstd = rstd; c.w = w; c.gx = gx; c.want_w = gw != NULL || gb != NULL;
    rc = F(rn_run)(&c, F(rn_bwd_task), nthreads);
    if (rc != FG_OK) return rc;
    const int64_t A = groups * d / s;
    if (gw) for (int64_t a = 0; a < A; a++) gw[a] = 0;
    if (gb) for (int64_t a = 0; a < A; a++) gb[a] = 0;
    if (c.want_w) {
        double *acc = (double *)fg_workspace(0, (size_t)(2 * A) * sizeof(double) + 64);
        if (!acc) return FG_ENOMEM;
        memset(acc, 0, (size_t)(2 * A) * sizeof(double));
        for (int64_t t = 0; t < c.nranges; t++) {
            const double *p = c.parts + t * c.pstride;
            for (int64_t a = 0; a < 2 * A; a++) acc[a] += p[a];
        }
        if (gw) for (int64_t a = 0; a < A; a++) gw[a] = (T)acc[a];
        if (gb) for (int64_t a = 0; a < A; a++) gb[a] = (T)acc[A + a];
    }
    return FG_OK;
}
