/* fastgrad compiled-step plans: the replay loop (see plan.h). */
#include <math.h>
#include <string.h>

#include "fastgrad.h"
#include "attention.h"

#define PW_BLOCK 128

/* NumPy's pairwise summation (8 accumulators in blocks of PW_BLOCK), one body per dtype */
#define FG_PAIRWISE_SUM(NAME, T)                                                         \
    T NAME(const T *a, int64_t n)                                                        \
    {                                                                                    \
        if (n < 8) {                                                                     \
            T r = 0;                                                                     \
            for (int64_t i = 0; i < n; i++)                                              \
                r += a[i];                                                               \
            return r;                                                                    \
        }                                                                                \
        if (n <= PW_BLOCK) {                                                             \
            T r[8];                                                                      \
            int64_t i;                                                                   \
            for (int j = 0; j < 8; j++)                                                  \
                r[j] = a[j];                                                             \
            for (i = 8; i < n - (n % 8); i += 8)                                         \
                for (int j = 0; j < 8; j++)                                              \
                    r[j] += a[i + j];                                                    \
            T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));   \
            for (; i < n; i++)                                                           \
                res += a[i];                                                             \
            return res;                                                                  \
        }                                                                                \
        int64_t n2 = n / 2;                                                              \
        n2 -= n2 % 8;                                                                    \
        return NAME(a, n2) + NAME(a + n2, n - n2);                                       \
    }

FG_PAIRWISE_SUM(fg_pairwise_sum_f32, float)
FG_PAIRWISE_SUM(fg_pairwise_sum_f64, double)

static int64_t count_kept(const int64_t *t, int64_t rows, int64_t ignore)
{
    int64_t c = 0;
    for (int64_t r = 0; r < rows; r++)
        c += t[r] != ignore;
    return c;
}

/* batch_norm's per-channel NumPy work, replayed with the same float operations in the same
 * order and precision as the eager NumPy expressions (each product and sum rounded to T;
 * no contraction into fused multiply-adds, which would round once instead of twice). */
#if defined(__GNUC__) && !defined(__clang__)
#define FG_NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define FG_NO_CONTRACT
#endif

FG_NO_CONTRACT static void bn_prep_f32(int64_t c, const float *ms, const float *vs, float *mo,
                                       float *io, double eps)
{
    for (int64_t i = 0; i < c; i++) {
        if (mo)
            mo[i] = ms[i];
        io[i] = (float)(1.0 / sqrt((double)vs[i] + eps));
    }
}

FG_NO_CONTRACT static void bn_prep_f64(int64_t c, const double *ms, const double *vs,
                                       double *mo, double *io, double eps)
{
    for (int64_t i = 0; i < c; i++) {
        if (mo)
            mo[i] = ms[i];
        io[i] = 1.0 / sqrt(vs[i] + eps);
    }
}

/* rm = rm * (1 - m); rm = rm + m * mean;  rv = rv * (1 - m); rv = rv + (m * var) * unbias */
FG_NO_CONTRACT static void bn_running_f32(int64_t c, const float *mean, const float *var,
                                          float *rm, float *rv, double keep, double m,
                                          double unbias)
{
    float k = (float)keep, mf = (float)m, u = (float)unbias;
    for (int64_t i = 0; i < c; i++) {
        if (rm) {
            float a = rm[i] * k;
            float b = mf * mean[i];
            rm[i] = a + b;
        }
        if (rv) {
            float a = rv[i] * k;
            float b = mf * var[i];
            b = b * u;
            rv[i] = a + b;
        }
    }
}

FG_NO_CONTRACT static void bn_running_f64(int64_t c, const double *mean, const double *var,
                                          double *rm, double *rv, double keep, double m,
                                          double unbias)
{
    for (int64_t i = 0; i < c; i++) {
        if (rm) {
            double a = rm[i] * keep;
            double b = m * mean[i];
            rm[i] = a + b;
        }
        if (rv) {
            double a = rv[i] * keep;
            double b = m * var[i];
            b = b * unbias;
            rv[i] = a + b;
        }
    }
}

static void conv_shape(fg_conv2d_shape *c, const int64_t *v)
{
    c->n = v[0]; c->c_in = v[1]; c->h = v[2]; c->w = v[3];
    c->c_out = v[4]; c->kh = v[5]; c->kw = v[6]; c->oh = v[7]; c->ow = v[8];
    c->sh = v[9]; c->sw = v[10]; c->ph = v[11]; c->pw = v[12]; c->dh = v[13]; c->dw = v[14];
    c->groups = v[15];
}

static void pool_shape(fg_pool2d_shape *p, const int64_t *v)
{
    p->planes = v[0]; p->h = v[1]; p->w = v[2]; p->oh = v[3]; p->ow = v[4];
    p->kh = v[5]; p->kw = v[6]; p->sh = v[7]; p->sw = v[8]; p->ph = v[9]; p->pw = v[10];
    p->dh = v[11]; p->dw = v[12]; p->count_include_pad = (int)v[13];
}

#define IN(i) ((void *)(st->in_base[i] < 0 ? NULL : bases[st->in_base[i]] + st->in_off[i]))
#define OUT(i) ((void *)(st->out_base[i] < 0 ? NULL : bases[st->out_base[i]] + st->out_off[i]))

/* out (strides so) = x (strides sx), ndim dims of `shape`, elements of es bytes */
static int copy_to(int ndim, const int64_t *shape, const char *x, const int64_t *sx, char *out,
                   const int64_t *so, int es)
{
    int64_t idx[FG_MAX_DIMS] = {0};
    if (ndim < 0 || ndim > FG_MAX_DIMS)
        return FG_EINVAL;
    for (int d = 0; d < ndim; d++)
        if (shape[d] <= 0)
            return FG_OK;
    const int64_t n = ndim ? shape[ndim - 1] : 1;
    const int64_t xs = ndim ? sx[ndim - 1] * es : 0, os = ndim ? so[ndim - 1] * es : 0;
    for (;;) {
        const char *xp = x;
        char *op = out;
        for (int d = 0; d < ndim - 1; d++) {
            xp += idx[d] * sx[d] * es;
            op += idx[d] * so[d] * es;
        }
        for (int64_t i = 0; i < n; i++)
            memcpy(op + i * os, xp + i * xs, (size_t)es);
        int d = ndim - 2;
        while (d >= 0 && ++idx[d] == shape[d])
            idx[d--] = 0;
        if (d < 0)
            return FG_OK;
    }
}

static int run_clip(fg_plan_step *st, char *const *bases);
static int run_dropout(fg_plan_step *st, char *const *bases);

static void sdpa_shape(const fg_plan_step *st, fg_sdpa_shape *sh)
{
    sh->batch = st->shape[0]; sh->hq = st->shape[1]; sh->hk = st->shape[2];
    sh->l = st->shape[3]; sh->s = st->shape[4]; sh->e = st->shape[5]; sh->ev = st->shape[6];
    sh->causal = (int)st->shape[7];
    sh->mask = (int)st->shape[8];
    for (int d = 0; d < 4; d++) sh->ms[d] = st->shape[9 + d];
    sh->scale = st->s[0];
}

int fg_nll_prep(int is64, int64_t n, int64_t c, int64_t ignore, const int64_t *t,
                int64_t *safe, void *keepf, uint8_t *keepb, void *count, int64_t *bad)
{
    int64_t kept = 0;
    if (n < 0 || c < 0 || (n && (!t || !safe || !keepf || !keepb)) || !count)
        return FG_EINVAL;
    for (int64_t i = 0; i < n; i++)
        if (t[i] != ignore && (t[i] < 0 || t[i] >= c)) {
            if (bad)
                *bad = i;
            return FG_EINVAL;
        }
    for (int64_t i = 0; i < n; i++) {
        int k = t[i] != ignore;
        kept += k;
        safe[i] = k ? t[i] : 0;
        keepb[i] = (uint8_t)k;
        if (is64)
            ((double *)keepf)[i] = k;
        else
            ((float *)keepf)[i] = (float)k;
    }
    if (is64)
        *(double *)count = kept ? (double)kept : NAN;
    else
        *(float *)count = kept ? (float)kept : NAN;
    return FG_OK;
}

static int run_step(fg_plan_step *st, fg_plan_step *all, char *const *bases, int nthreads,
                    int64_t *info)
{
    int nt = st->par ? nthreads : 1;
    int is64 = st->is64;
    switch (st->kind) {
    case FG_P_UNARY:
        return is64 ? fg_unary_f64(st->op, st->n[0], IN(0), OUT(0), st->s[0], st->s[1], nt)
                    : fg_unary_f32(st->op, st->n[0], IN(0), OUT(0), st->s[0], st->s[1], nt);
    case FG_P_UNARY_BWD:
        return is64 ? fg_unary_bwd_f64(st->op, st->n[0], IN(0), IN(1), IN(2), OUT(0), st->s[0],
                                       st->s[1], nt)
                    : fg_unary_bwd_f32(st->op, st->n[0], IN(0), IN(1), IN(2), OUT(0), st->s[0],
                                       st->s[1], nt);
    case FG_P_BINARY:
        return is64 ? fg_binary_f64(st->op, st->ndim, st->shape, IN(0), st->sa, IN(1), st->sb,
                                    OUT(0), nt)
                    : fg_binary_f32(st->op, st->ndim, st->shape, IN(0), st->sa, IN(1), st->sb,
                                    OUT(0), nt);
    case FG_P_REDUCE:
        return is64 ? fg_reduce_f64(st->op, st->n[0], st->n[1], st->n[2], IN(0), OUT(0), NULL, nt)
                    : fg_reduce_f32(st->op, st->n[0], st->n[1], st->n[2], IN(0), OUT(0), NULL, nt);
    case FG_P_COPY:
        return is64 ? fg_copy_f64(st->ndim, st->shape, IN(0), st->sa, OUT(0), nt)
                    : fg_copy_f32(st->ndim, st->shape, IN(0), st->sa, OUT(0), nt);
    case FG_P_FILL: {
        if (is64) {
            double *o = OUT(0);
            for (int64_t i = 0; i < st->n[0]; i++)
                o[i] = st->s[0];
        } else {
            float *o = OUT(0);
            float v = (float)st->s[0];
            for (int64_t i = 0; i < st->n[0]; i++)
                o[i] = v;
        }
        return FG_OK;
    }
    case FG_P_SOFTMAX:
        return is64 ? fg_softmax_f64(st->op, st->n[0], st->n[1], st->n[2], IN(0), OUT(0), nt)
                    : fg_softmax_f32(st->op, st->n[0], st->n[1], st->n[2], IN(0), OUT(0), nt);
    case FG_P_SOFTMAX_BWD:
        return is64 ? fg_softmax_bwd_f64(st->op, st->n[0], st->n[1], st->n[2], IN(0), IN(1),
                                         OUT(0), nt)
                    : fg_softmax_bwd_f32(st->op, st->n[0], st->n[1], st->n[2], IN(0), IN(1),
                                         OUT(0), nt);
    case FG_P_XENT:
    case FG_P_XENT_RED: {
        int64_t rows = st->n[0], c = st->n[1], ign = st->n[2];
        const int64_t *t = IN(1);
        int s = is64 ? fg_xent_f64(rows, c, IN(0), t, ign, st->s[0], OUT(0), OUT(1), info, nt)
                     : fg_xent_f32(rows, c, IN(0), t, ign, st->s[0], OUT(0), OUT(1), info, nt);
        if (s != FG_OK || st->kind == FG_P_XENT)
            return s;
        double scale = 1.0;
        if (st->op == 0) {
            int64_t cnt = count_kept(t, rows, ign);
            scale = cnt ? 1.0 / (double)cnt : NAN;
        }
        st->s[1] = scale;
        if (is64) {
            double v = fg_pairwise_sum_f64(OUT(0), rows);
            *(double *)OUT(2) = scale != 1.0 ? v * scale : v;
        } else {
            float v = fg_pairwise_sum_f32(OUT(0), rows);
            *(float *)OUT(2) = scale != 1.0 ? v * (float)scale : v;
        }
        return FG_OK;
    }
    case FG_P_XENT_BWD:
        return is64 ? fg_xent_bwd_f64(st->n[0], st->n[1], IN(0), IN(1), IN(2), st->n[2], st->s[0],
                                      OUT(0), nt)
                    : fg_xent_bwd_f32(st->n[0], st->n[1], IN(0), IN(1), IN(2), st->n[2], st->s[0],
                                      OUT(0), nt);
    case FG_P_XENT_RED_BWD: {
        int64_t rows = st->n[0];
        double scale = all[st->n[3]].s[1];
        if (is64) {
            double v = *(const double *)IN(0) * scale, *g = OUT(1);
            for (int64_t r = 0; r < rows; r++)
                g[r] = v;
            return fg_xent_bwd_f64(rows, st->n[1], g, IN(1), IN(2), st->n[2], st->s[0], OUT(0), nt);
        }
        float v = (float)((double)*(const float *)IN(0) * scale), *g = OUT(1);
        for (int64_t r = 0; r < rows; r++)
            g[r] = v;
        return fg_xent_bwd_f32(rows, st->n[1], g, IN(1), IN(2), st->n[2], st->s[0], OUT(0), nt);
    }
    case FG_P_GEMM: {
        fg_gemm_desc d = st->gemm;
        d.a = IN(0);
        d.b = IN(1);
        d.bias = IN(2);
        d.c = OUT(0);
        return is64 ? fg_gemm_f64(&d, nt) : fg_gemm_f32(&d, nt);
    }
    case FG_P_OPTIM:
        return is64 ? fg_optim_step_f64(st->alg, &st->hyper, st->ntensors, st->numel,
                                        (double *const *)st->param,
                                        (const double *const *)st->grad,
                                        (double *const *)st->state, st->step, nt)
                    : fg_optim_step_f32(st->alg, &st->hyper, st->ntensors, st->numel,
                                        (float *const *)st->param, (const float *const *)st->grad,
                                        (float *const *)st->state, st->step, nt);
    case FG_P_CONV: {
        fg_conv2d_shape cs;
        conv_shape(&cs, st->shape);
        return is64 ? fg_conv2d_f64(&cs, IN(0), IN(1), IN(2), OUT(0), nt)
                    : fg_conv2d_f32(&cs, IN(0), IN(1), IN(2), OUT(0), nt);
    }
    case FG_P_CONV_BWD: {
        fg_conv2d_shape cs;
        conv_shape(&cs, st->shape);
        return is64 ? fg_conv2d_bwd_f64(&cs, IN(0), IN(1), IN(2), OUT(0), OUT(1), OUT(2), nt)
                    : fg_conv2d_bwd_f32(&cs, IN(0), IN(1), IN(2), OUT(0), OUT(1), OUT(2), nt);
    }
    case FG_P_POOL: {
        fg_pool2d_shape ps;
        pool_shape(&ps, st->shape);
        return is64 ? fg_pool2d_f64(st->op, &ps, IN(0), OUT(0), OUT(1), nt)
                    : fg_pool2d_f32(st->op, &ps, IN(0), OUT(0), OUT(1), nt);
    }
    case FG_P_POOL_BWD: {
        fg_pool2d_shape ps;
        pool_shape(&ps, st->shape);
        return is64 ? fg_pool2d_bwd_f64(st->op, &ps, IN(0), IN(1), OUT(0), nt)
                    : fg_pool2d_bwd_f32(st->op, &ps, IN(0), IN(1), OUT(0), nt);
    }
    case FG_P_BN_STATS:
        return is64 ? fg_bn_stats_f64(st->n[0], st->n[1], st->n[2], IN(0), OUT(0), OUT(1), nt)
                    : fg_bn_stats_f32(st->n[0], st->n[1], st->n[2], IN(0), OUT(0), OUT(1), nt);
    case FG_P_BN_APPLY:
        return is64 ? fg_bn_apply_f64(st->n[0], st->n[1], st->n[2], IN(0), IN(1), IN(2), IN(3),
                                      IN(4), OUT(0), nt)
                    : fg_bn_apply_f32(st->n[0], st->n[1], st->n[2], IN(0), IN(1), IN(2), IN(3),
                                      IN(4), OUT(0), nt);
    case FG_P_BN_BWD:
        return is64 ? fg_bn_bwd_f64(st->n[0], st->n[1], st->n[2], IN(0), IN(1), IN(2), IN(3),
                                    IN(4), st->op, OUT(0), OUT(1), OUT(2), nt)
                    : fg_bn_bwd_f32(st->n[0], st->n[1], st->n[2], IN(0), IN(1), IN(2), IN(3),
                                    IN(4), st->op, OUT(0), OUT(1), OUT(2), nt);
    case FG_P_BN_PREP:
        if (is64)
            bn_prep_f64(st->n[0], IN(0), IN(1), OUT(0), OUT(1), st->s[0]);
        else
            bn_prep_f32(st->n[0], IN(0), IN(1), OUT(0), OUT(1), st->s[0]);
        return FG_OK;
    case FG_P_BN_RUNNING:
        if (is64)
            bn_running_f64(st->n[0], IN(0), IN(1), OUT(0), OUT(1), st->s[0], st->s[1], st->s[2]);
        else
            bn_running_f32(st->n[0], IN(0), IN(1), OUT(0), OUT(1), st->s[0], st->s[1], st->s[2]);
        return FG_OK;
    case FG_P_ROWNORM:
        return is64 ? fg_rownorm_f64(st->n[0], st->n[1], st->n[2], st->n[3], IN(0), IN(1), IN(2),
                                     st->s[0], OUT(0), OUT(1), OUT(2), nt)
                    : fg_rownorm_f32(st->n[0], st->n[1], st->n[2], st->n[3], IN(0), IN(1), IN(2),
                                     st->s[0], OUT(0), OUT(1), OUT(2), nt);
    case FG_P_ROWNORM_BWD:
        return is64 ? fg_rownorm_bwd_f64(st->n[0], st->n[1], st->n[2], st->n[3], IN(0), IN(1),
                                         IN(2), IN(3), IN(4), OUT(0), OUT(1), OUT(2), nt)
                    : fg_rownorm_bwd_f32(st->n[0], st->n[1], st->n[2], st->n[3], IN(0), IN(1),
                                         IN(2), IN(3), IN(4), OUT(0), OUT(1), OUT(2), nt);
    case FG_P_COUNTER:
        *(int64_t *)OUT(0) += st->n[0];
        return FG_OK;
    case FG_P_CLIP:
        return run_clip(st, bases);
    case FG_P_DROPOUT:
        return run_dropout(st, bases);
    case FG_P_INDEX_SELECT:
    case FG_P_INDEX_ADD: {
        int64_t bad = 0;
        int s;
        if (st->kind == FG_P_INDEX_SELECT)
            s = fg_index_select(is64 ? 8 : 4, st->n[0], st->n[1], st->n[2], IN(0), st->n[3],
                                IN(1), OUT(0), st->op, &bad, nt);
        else if (is64)
            s = fg_index_add_f64(st->n[0], st->n[1], st->n[2], OUT(0), st->n[3], IN(1), IN(0),
                                 st->op, &bad, nt);
        else
            s = fg_index_add_f32(st->n[0], st->n[1], st->n[2], OUT(0), st->n[3], IN(1), IN(0),
                                 st->op, &bad, nt);
        if (s != FG_OK && info)
            *info = bad;
        return s;
    }
    case FG_P_RNN:
    case FG_P_RNN_BWD: {
        const int64_t T = st->n[0], B = st->n[1], H = st->n[2];
        const int rev = (int)st->n[3];
        if (st->kind == FG_P_RNN) {
            char *o = OUT(0);       /* an LSTM's c_n: the row after y */
            void *cn = st->op == FG_RNN_LSTM ? o + (size_t)(T * B * H) * (is64 ? 8 : 4) : NULL;
            return is64 ? fg_rnn_fwd_f64(st->op, T, B, H, rev, NULL, IN(0), IN(1), IN(2), IN(3),
                                         IN(4), (double *)o, OUT(1), cn, OUT(2), nt)
                        : fg_rnn_fwd_f32(st->op, T, B, H, rev, NULL, IN(0), IN(1), IN(2), IN(3),
                                         IN(4), (float *)o, OUT(1), cn, OUT(2), nt);
        }
        return is64 ? fg_rnn_bwd_f64(st->op, T, B, H, rev, NULL, IN(0), IN(1), IN(2), IN(3),
                                     IN(4), OUT(0), OUT(1), OUT(2), OUT(3), OUT(4), nt)
                    : fg_rnn_bwd_f32(st->op, T, B, H, rev, NULL, IN(0), IN(1), IN(2), IN(3),
                                     IN(4), OUT(0), OUT(1), OUT(2), OUT(3), OUT(4), nt);
    }
    case FG_P_SDPA:
    case FG_P_SDPA_BWD: {
        fg_sdpa_shape sh;
        sdpa_shape(st, &sh);
        if (st->kind == FG_P_SDPA)
            return is64 ? fg_sdpa_f64(&sh, IN(0), IN(1), IN(2), IN(3), OUT(0), OUT(1), nt)
                        : fg_sdpa_f32(&sh, IN(0), IN(1), IN(2), IN(3), OUT(0), OUT(1), nt);
        return is64 ? fg_sdpa_bwd_f64(&sh, IN(0), IN(1), IN(2), IN(3), OUT(3), OUT(4), IN(4),
                                      OUT(0), OUT(1), OUT(2), nt)
                    : fg_sdpa_bwd_f32(&sh, IN(0), IN(1), IN(2), IN(3), OUT(3), OUT(4), IN(4),
                                      OUT(0), OUT(1), OUT(2), nt);
    }
    case FG_P_COMPARE:
        return is64 ? fg_compare_f64(st->op, st->ndim, st->shape, IN(0), st->sa, IN(1), st->sb,
                                     OUT(0), nt)
                    : fg_compare_f32(st->op, st->ndim, st->shape, IN(0), st->sa, IN(1), st->sb,
                                     OUT(0), nt);
    case FG_P_WHERE:
        return is64 ? fg_where_f64(st->ndim, st->shape, IN(0), st->sc, IN(1), st->sa, IN(2),
                                   st->sb, OUT(0), nt)
                    : fg_where_f32(st->ndim, st->shape, IN(0), st->sc, IN(1), st->sa, IN(2),
                                   st->sb, OUT(0), nt);
    case FG_P_GATHER:
    case FG_P_SCATTER_ADD: {
        int64_t bad = 0;
        int s;
        if (st->kind == FG_P_GATHER)
            s = fg_gather(is64 ? 8 : 4, st->n[0], st->n[1], st->n[2], IN(0), st->n[3], IN(1),
                          OUT(0), 0, &bad, nt);
        else if (st->op == 1)
            s = fg_scatter(is64 ? 8 : 4, st->n[0], st->n[1], st->n[2], OUT(0), st->n[3], IN(1),
                           IN(0), 0, &bad, nt);
        else if (is64)
            s = fg_scatter_add_f64(st->n[0], st->n[1], st->n[2], OUT(0), st->n[3], IN(1), IN(0),
                                   0, &bad, nt);
        else
            s = fg_scatter_add_f32(st->n[0], st->n[1], st->n[2], OUT(0), st->n[3], IN(1), IN(0),
                                   0, &bad, nt);
        if (s != FG_OK && info)
            *info = bad;
        return s;
    }
    case FG_P_COPY_TO:
        return copy_to(st->ndim, st->shape, IN(0), st->sa, OUT(0), st->sb, is64 ? 8 : 4);
    case FG_P_ARGREDUCE:
        return is64 ? fg_reduce_f64(st->op, st->n[0], st->n[1], st->n[2], IN(0), OUT(0), OUT(1), nt)
                    : fg_reduce_f32(st->op, st->n[0], st->n[1], st->n[2], IN(0), OUT(0), OUT(1), nt);
    case FG_P_SCAN:
        return is64 ? fg_scan_f64(st->op, (int)st->n[3], st->n[0], st->n[1], st->n[2], IN(0),
                                  OUT(0), nt)
                    : fg_scan_f32(st->op, (int)st->n[3], st->n[0], st->n[1], st->n[2], IN(0),
                                  OUT(0), nt);
    case FG_P_PROD:
        return is64 ? fg_prod_f64(st->n[0], st->n[1], st->n[2], IN(0), OUT(0), nt)
                    : fg_prod_f32(st->n[0], st->n[1], st->n[2], IN(0), OUT(0), nt);
    case FG_P_NLL_PREP:
        return fg_nll_prep(is64, st->n[0], st->n[1], st->n[2], IN(0), OUT(0), OUT(1), OUT(2),
                           OUT(3), info);
    case FG_P_SORT: {
        int flag = st->s[0] != 0.0;
        if (st->op == 0)
            return is64 ? fg_sort_f64(flag, st->n[0], st->n[1], st->n[2], IN(0), OUT(0), OUT(1), nt)
                        : fg_sort_f32(flag, st->n[0], st->n[1], st->n[2], IN(0), OUT(0), OUT(1), nt);
        return is64 ? fg_topk_f64(flag, st->n[3], st->n[0], st->n[1], st->n[2], IN(0), OUT(0),
                                  OUT(1), nt)
                    : fg_topk_f32(flag, st->n[3], st->n[0], st->n[1], st->n[2], IN(0), OUT(0),
                                  OUT(1), nt);
    }
    default:
        return FG_EINVAL;
    }
}

/* nn.utils.clip_grad_norm_ / clip_grad_value_, with the floating-point operations of
 * their eager NumPy expressions (see FG_P_CLIP in plan.h) */
#define FG_CLIP_VALUE(NAME, T)                                                           \
    static void NAME(int64_t n, const int64_t *numel, void *const *x, double v)          \
    {                                                                                    \
        const T hi = (T)v, lo = (T)-v;                                                   \
        for (int64_t i = 0; i < n; i++) {                                                \
            T *a = x[i];                                                                 \
            for (int64_t j = 0; j < numel[i]; j++) {                                     \
                T e = a[j];                                                              \
                if (isnan(e))                                                            \
                    continue;                                                            \
                e = e < lo ? lo : e;                                                     \
                a[j] = e > hi ? hi : e;                                                  \
            }                                                                            \
        }                                                                                \
    }
FG_CLIP_VALUE(clip_value_f32, float)
FG_CLIP_VALUE(clip_value_f64, double)

static double clip_total(double *norms, int64_t n, double p)
{
    if (isinf(p)) {
        double m = norms[0];
        for (int64_t i = 1; i < n; i++) {
            if (isnan(m))
                break;
            if (isnan(norms[i]) || norms[i] > m)
                m = norms[i];
        }
        return m;
    }
    if (p == 2.0)
        for (int64_t i = 0; i < n; i++)
            norms[i] = norms[i] * norms[i];
    return pow(fg_pairwise_sum_f64(norms, n), 1.0 / p);
}

FG_NO_CONTRACT static int run_clip(fg_plan_step *st, char *const *bases)
{
    int64_t n = st->ntensors;
    void *const *x = (void *const *)st->grad;
    if (st->op == 1) {
        if (st->is64)
            clip_value_f64(n, st->numel, x, st->s[0]);
        else
            clip_value_f32(n, st->numel, x, st->s[0]);
        return FG_OK;
    }
    double *norms = OUT(1);
    int s = st->is64 ? fg_multi_norm_f64(n, st->numel, (const double *const *)x, st->s[1],
                                         norms, 1)
                     : fg_multi_norm_f32(n, st->numel, (const float *const *)x, st->s[1],
                                         norms, 1);
    if (s != FG_OK)
        return s;
    double total = clip_total(norms, n, st->s[1]);
    if (st->is64) {
        double t = total, coef = st->s[0] / (t + 1e-6);
        *(double *)OUT(0) = t;
        if (coef < 1.0 || isnan(coef))
            return fg_multi_scale_f64(n, st->numel, (double *const *)x, coef, 1);
    } else {
        float t = (float)total, coef = (float)st->s[0] / (t + (float)1e-6);
        *(float *)OUT(0) = t;
        if (coef < 1.0f || isnan(coef))
            return fg_multi_scale_f32(n, st->numel, (float *const *)x, (double)coef, 1);
    }
    return FG_OK;
}

/* dropout's mask (see FG_P_DROPOUT in plan.h): the draws of NumPy's
 * Generator.random(dtype=float32 / float64), compared with p as NumPy compares them */
#define FG_DROPOUT_MASK(NAME, T)                                                         \
    static void NAME(fg_bitgen *g, int op, int64_t n, double p, double scale, T *out)    \
    {                                                                                    \
        const T keep = (T)scale, drop = (T)0;                                            \
        if (op == 0) {                                                                   \
            const float pf = (float)p;                                                   \
            for (int64_t i = 0; i < n; i++) {                                            \
                float u = (g->next_uint32(g->state) >> 8) * (1.0f / 16777216.0f);        \
                out[i] = u >= pf ? keep : drop;                                          \
            }                                                                            \
        } else {                                                                         \
            for (int64_t i = 0; i < n; i++)                                              \
                out[i] = g->next_double(g->state) >= p ? keep : drop;                    \
        }                                                                                \
    }
FG_DROPOUT_MASK(dropout_mask_f32, float)
FG_DROPOUT_MASK(dropout_mask_f64, double)

static int run_dropout(fg_plan_step *st, char *const *bases)
{
    if (!st->rng || st->n[0] < 0)
        return FG_EINVAL;
    if (st->is64)
        dropout_mask_f64(st->rng, st->op, st->n[0], st->s[0], st->s[1], OUT(0));
    else
        dropout_mask_f32(st->rng, st->op, st->n[0], st->s[0], st->s[1], OUT(0));
    return FG_OK;
}

int fg_plan_run(fg_plan_step *steps, int64_t nsteps, char *const *bases, int nbases,
                int nthreads, int64_t *failed, int64_t *info)
{
    if (!steps || nsteps < 0 || !bases || nbases < 1 || nthreads < 1)
        return FG_EINVAL;
    for (int64_t i = 0; i < nsteps; i++) {
        int s = run_step(&steps[i], steps, bases, nthreads, info);
        if (s != FG_OK) {
            if (failed)
                *failed = i;
            return s;
        }
    }
    return FG_OK;
}

int fg_plan_check(const fg_plan_step *steps, int64_t nsteps, int nbases, int64_t *failed)
{
    if (!steps || nsteps < 0 || nbases < 1)
        return FG_EINVAL;
    for (int64_t i = 0; i < nsteps; i++) {
        const fg_plan_step *st = &steps[i];
        int ok = st->kind >= 0 && st->kind < FG_P_COUNT && st->ndim >= 0 &&
                 st->ndim <= FG_MAX_DIMS;
        for (int j = 0; j < FG_P_MAXOPS && ok; j++)
            ok = st->in_base[j] < nbases && st->out_base[j] < nbases && st->in_base[j] >= -1 &&
                 st->out_base[j] >= -1;
        if (ok && (st->kind == FG_P_UNARY || st->kind == FG_P_UNARY_BWD))
            ok = st->op >= 0 && st->op < FG_U_COUNT;
        if (ok && st->kind == FG_P_BINARY)
            ok = st->op >= 0 && st->op < FG_B_COUNT;
        if (ok && st->kind == FG_P_REDUCE)
            ok = st->op >= 0 && st->op < FG_R_COUNT && st->op != FG_R_MAX && st->op != FG_R_MIN;
        if (ok && st->kind == FG_P_XENT_RED_BWD)
            ok = st->n[3] >= 0 && st->n[3] < i && steps[st->n[3]].kind == FG_P_XENT_RED;
        if (ok && st->kind == FG_P_OPTIM)
            ok = st->alg >= 0 && st->alg < FG_OPT_COUNT && st->ntensors >= 0 && st->numel &&
                 st->param && st->grad;
        if (ok && (st->kind == FG_P_POOL || st->kind == FG_P_POOL_BWD))
            ok = st->op >= 0 && st->op < FG_POOLING_COUNT &&
                 (st->op != FG_POOLING_MAX ||
                  (st->kind == FG_P_POOL ? st->out_base[1] >= 0 : st->in_base[1] >= 0));
        if (ok && st->kind == FG_P_BN_PREP)
            ok = st->n[0] >= 0 && st->in_base[1] >= 0 && st->out_base[1] >= 0 &&
                 (st->in_base[0] >= 0) == (st->out_base[0] >= 0);
        if (ok && st->kind == FG_P_BN_RUNNING)
            ok = st->n[0] >= 0 && st->in_base[0] >= 0 && st->in_base[1] >= 0;
        if (ok && st->kind == FG_P_COUNTER)
            ok = st->out_base[0] >= 0;
        if (ok && st->kind == FG_P_CLIP)
            ok = st->ntensors > 0 && st->numel && st->grad && (st->op == 1 ||
                 (st->op == 0 && st->out_base[0] >= 0 && st->out_base[1] >= 0 &&
                  (isinf(st->s[1]) || st->s[1] == 1.0 || st->s[1] == 2.0)));
        if (ok && (st->kind == FG_P_INDEX_SELECT || st->kind == FG_P_INDEX_ADD))
            ok = st->n[0] >= 0 && st->n[1] >= 0 && st->n[2] >= 0 && st->n[3] >= 0 &&
                 (st->op == 0 || st->op == 1);
        if (ok && (st->kind == FG_P_RNN || st->kind == FG_P_RNN_BWD))
            ok = fg_rnn_ws_elems(st->op, st->n[0], st->n[1], st->n[2]) >= 0 &&
                 (st->n[3] == 0 || st->n[3] == 1) &&
                 (st->kind == FG_P_RNN ? st->in_base[0] >= 0 && st->in_base[1] >= 0 &&
                                             st->out_base[0] >= 0 && st->out_base[1] >= 0 &&
                                             st->out_base[2] >= 0
                                       : st->in_base[3] >= 0 && st->in_base[4] >= 0 &&
                                             st->out_base[0] >= 0);
        if (ok && st->kind >= FG_P_ARGREDUCE && st->kind <= FG_P_SORT)
            ok = st->n[0] >= 0 && st->n[1] >= 0 && st->n[2] >= 0 && st->in_base[0] >= 0 &&
                 st->out_base[0] >= 0;
        if (ok && st->kind == FG_P_ARGREDUCE)
            ok = (st->op == FG_R_MAX || st->op == FG_R_MIN) && st->out_base[1] >= 0;
        if (ok && st->kind == FG_P_SCAN)
            ok = st->op >= 0 && st->op < FG_SCAN_COUNT && (st->n[3] == 0 || st->n[3] == 1);
        if (ok && st->kind == FG_P_SORT)
            ok = (st->op == 0 ? st->n[3] == st->n[1] : st->op == 1 && st->n[3] >= 0 &&
                  st->n[3] <= st->n[1]) && st->out_base[1] >= 0;
        if (ok && st->kind == FG_P_NLL_PREP)
            ok = st->n[0] >= 0 && st->n[1] >= 0 && st->in_base[0] >= 0 && st->out_base[0] >= 0 &&
                 st->out_base[1] >= 0 && st->out_base[2] >= 0 && st->out_base[3] >= 0;
        if (ok && st->kind == FG_P_COMPARE)
            ok = st->op >= 0 && st->op < FG_C_COUNT;
        if (ok && (st->kind == FG_P_GATHER || st->kind == FG_P_SCATTER_ADD))
            ok = st->n[0] >= 0 && st->n[1] >= 0 && st->n[2] >= 0 && st->n[3] >= 0 &&
                 (st->kind == FG_P_GATHER ? st->op == 0 : (st->op == 0 || st->op == 1));
        if (ok && st->kind == FG_P_DROPOUT)
            ok = st->rng && st->n[0] >= 0 && (st->op == 0 || st->op == 1) &&
                 (st->n[0] == 0 || st->out_base[0] >= 0);
        if (ok && (st->kind == FG_P_SDPA || st->kind == FG_P_SDPA_BWD))
            ok = st->shape[7] >= 0 && st->shape[7] <= 1 && st->shape[8] >= FG_SDPA_MASK_NONE &&
                 st->shape[8] <= FG_SDPA_MASK_ADD && st->in_base[0] >= 0 && st->out_base[0] >= 0 &&
                 (st->shape[8] == FG_SDPA_MASK_NONE) == (st->in_base[3] < 0) &&
                 st->out_base[1] >= 0 &&
                 (st->kind == FG_P_SDPA || (st->out_base[3] >= 0 && st->out_base[4] >= 0));
        if (!ok) {
            if (failed)
                *failed = i;
            return FG_EINVAL;
        }
    }
    return FG_OK;
}
