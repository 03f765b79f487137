/* Pooling kernels of conv.c (fg_pool2d, fg_pool2d_bwd) for one element type T.  Included by
 * conv.c once per type, after conv_tmpl.h; conv.c defines T and F(name). */
/* ---- pooling ------------------------------------------------------------------------- */
typedef struct {
    int op;
    const fg_pool2d_shape *s;
    const T *x;
    T *y;
    int64_t *idx;
    const int64_t *cidx;
    int64_t chunk;
    int err;
} F(pool_ctx);

/* window rows [*a, *b) of output row o, and the divisor part of it (avg) */
static inline void F(pool_win)(int op, int64_t o, int64_t n_in, int64_t n_out, int64_t k,
                               int64_t st, int64_t pad, int64_t *a, int64_t *b, int64_t *full)
{
    if (op == FG_POOLING_ADAPTIVE_AVG) {
        *a = (o * n_in) / n_out;
        *b = ((o + 1) * n_in + n_out - 1) / n_out;
        *full = *b - *a;
        return;
    }
    const int64_t s0 = o * st - pad, room = n_in + pad - s0;   /* room >= 0 */
    const int64_t e0 = k < room ? s0 + k : n_in + pad;
    *full = e0 - s0;
    *a = imax(s0, 0);
    *b = imin(e0, n_in);
}

/* no padding and every window ends inside the plane (each product is compared by
   division first, so no huge kernel, stride or dilation overflows) */
static inline int F(pool_inside)(const fg_pool2d_shape *s)
{
    if (s->ph != 0 || s->pw != 0 || s->oh <= 0 || s->ow <= 0) return 0;
    if (s->kh - 1 > (s->h - 1) / s->dh || s->kw - 1 > (s->w - 1) / s->dw) return 0;
    if (s->oh - 1 > (s->h - 1) / s->sh || s->ow - 1 > (s->w - 1) / s->sw) return 0;
    return (s->oh - 1) * s->sh + (s->kh - 1) * s->dh < s->h &&
           (s->ow - 1) * s->sw + (s->kw - 1) * s->dw < s->w;
}

/* the taps t in [*t0, *t1) of a k-tap window starting at `start` with dilation d that
   land inside [0, n): the work per window is bounded by the input, whatever k is */
static inline void F(pool_taps)(int64_t start, int64_t k, int64_t d, int64_t n, int64_t *t0,
                                int64_t *t1)
{
    int64_t a = start >= 0 ? 0 : (-start + d - 1) / d;
    int64_t b = n - 1 - start < 0 ? 0 : (n - 1 - start) / d + 1;
    if (b > k) b = k;
    if (a > b) a = b;
    *t0 = a;
    *t1 = b;
}

/* the count_include_pad divisor hf * wf, in double: each factor is at most the padded
   input's extent, but their product can exceed int64 */
static inline double F(pool_div)(int op, const fg_pool2d_shape *s, int64_t hf, int64_t wf,
                                 int64_t ha, int64_t hb, int64_t wa, int64_t wb)
{
    if (op == FG_POOLING_AVG && s->count_include_pad) return (double)hf * (double)wf;
    return (double)(hb - ha) * (double)(wb - wa);
}

static void F(pool_fwd_task)(void *vctx, int64_t task, int tid)
{
    F(pool_ctx) *c = (F(pool_ctx) *)vctx;
    const fg_pool2d_shape *s = c->s;
    (void)tid;
    const int64_t p0 = task * c->chunk, p1 = imin(p0 + c->chunk, s->planes);
    const int64_t H = s->h, W = s->w, OH = s->oh, OW = s->ow;
    for (int64_t p = p0; p < p1; p++) {
        const T *xp = c->x + p * H * W;
        T *yp = c->y + p * OH * OW;
        if (c->op == FG_POOLING_MAX && F(pool_inside)(s)) {
            /* every window lies inside the plane: no bounds tests */
            int64_t *ip = c->idx + p * OH * OW;
            for (int64_t oy = 0; oy < OH; oy++) {
                for (int64_t ox = 0; ox < OW; ox++) {
                    const int64_t base = oy * s->sh * W + ox * s->sw;
                    const T *w0 = xp + base;
                    T best = w0[0];
                    int64_t bi = 0;
                    if (s->kh == 2 && s->kw == 2 && s->dh == 1 && s->dw == 1) {
                        const T v1 = w0[1], v2 = w0[W], v3 = w0[W + 1];
                        if (v1 > best || (v1 != v1 && best == best)) { best = v1; bi = 1; }
                        if (v2 > best || (v2 != v2 && best == best)) { best = v2; bi = W; }
                        if (v3 > best || (v3 != v3 && best == best)) { best = v3; bi = W + 1; }
                    } else {
                        for (int64_t i = 0; i < s->kh; i++) {
                            const T *row = w0 + i * s->dh * W;
                            for (int64_t j = 0; j < s->kw; j++) {
                                const T v = row[j * s->dw];
                                if (v > best || (v != v && best == best)) {
                                    best = v;
                                    bi = i * s->dh * W + j * s->dw;
                                }
                            }
                        }
                    }
                    yp[oy * OW + ox] = best;
                    ip[oy * OW + ox] = base + bi;
                }
            }
        } else if (c->op == FG_POOLING_MAX) {
            int64_t *ip = c->idx + p * OH * OW;
            for (int64_t oy = 0; oy < OH; oy++) {
                const int64_t hs = oy * s->sh - s->ph;
                for (int64_t ox = 0; ox < OW; ox++) {
                    const int64_t ws = ox * s->sw - s->pw;
                    T best = (T)-INFINITY;
                    int64_t bi = -1;
                    int64_t i0, i1, j0, j1;
                    F(pool_taps)(hs, s->kh, s->dh, H, &i0, &i1);
                    F(pool_taps)(ws, s->kw, s->dw, W, &j0, &j1);
                    for (int64_t i = i0; i < i1; i++) {
                        const int64_t ih = hs + i * s->dh;
                        for (int64_t j = j0; j < j1; j++) {
                            const int64_t iw = ws + j * s->dw;
                            const T v = xp[ih * W + iw];
                            if (bi < 0 || v > best || (v != v && best == best)) {
                                best = v;
                                bi = ih * W + iw;
                            }
                        }
                    }
                    yp[oy * OW + ox] = best;
                    ip[oy * OW + ox] = bi < 0 ? 0 : bi;
                }
            }
        } else {
            for (int64_t oy = 0; oy < OH; oy++) {
                int64_t ha, hb, hf;
                F(pool_win)(c->op, oy, H, OH, s->kh, s->sh, s->ph, &ha, &hb, &hf);
                for (int64_t ox = 0; ox < OW; ox++) {
                    int64_t wa, wb, wf;
                    F(pool_win)(c->op, ox, W, OW, s->kw, s->sw, s->pw, &wa, &wb, &wf);
                    double acc = 0.0;
                    for (int64_t ih = ha; ih < hb; ih++)
                        for (int64_t iw = wa; iw < wb; iw++) acc += xp[ih * W + iw];
                    const double div = F(pool_div)(c->op, s, hf, wf, ha, hb, wa, wb);
                    yp[oy * OW + ox] = div > 0 ? (T)(acc / div) : (T)0;
                }
            }
        }
    }
}

static void F(pool_bwd_task)(void *vctx, int64_t task, int tid)
{
    F(pool_ctx) *c = (F(pool_ctx) *)vctx;
    const fg_pool2d_shape *s = c->s;
    (void)tid;
    const int64_t p0 = task * c->chunk, p1 = imin(p0 + c->chunk, s->planes);
    const int64_t H = s->h, W = s->w, OH = s->oh, OW = s->ow;
    for (int64_t p = p0; p < p1; p++) {
        const T *gp = c->x + p * OH * OW;         /* x holds g here */
        T *gxp = c->y + p * H * W;                /* y holds gx here */
        memset(gxp, 0, (size_t)(H * W) * sizeof(T));
        if (c->op == FG_POOLING_MAX) {
            const int64_t *ip = c->cidx + p * OH * OW;
            for (int64_t q = 0; q < OH * OW; q++) {
                const int64_t k = ip[q];
                if (k < 0 || k >= H * W) { FG_ATOMIC_STORE_RELAXED(&c->err, FG_EINVAL); return; }
                gxp[k] += gp[q];
            }
        } else {
            for (int64_t oy = 0; oy < OH; oy++) {
                int64_t ha, hb, hf;
                F(pool_win)(c->op, oy, H, OH, s->kh, s->sh, s->ph, &ha, &hb, &hf);
                for (int64_t ox = 0; ox < OW; ox++) {
                    int64_t wa, wb, wf;
                    F(pool_win)(c->op, ox, W, OW, s->kw, s->sw, s->pw, &wa, &wb, &wf);
                    const double div = F(pool_div)(c->op, s, hf, wf, ha, hb, wa, wb);
                    if (div <= 0) continue;
                    const T v = (T)((double)gp[oy * OW + ox] / div);
                    for (int64_t ih = ha; ih < hb; ih++)
                        for (int64_t iw = wa; iw < wb; iw++) gxp[ih * W + iw] += v;
                }
            }
        }
    }
}

static int F(pool_run)(F(pool_ctx) *c, fg_task_fn fn, int nthreads)
{
    const fg_pool2d_shape *s = c->s;
    const int64_t per = imax(s->h * s->w, s->oh * s->ow) + 1;
    int nt = nthreads < 1 ? 1 : nthreads;
    if (s->planes * per < FG_NORM_PAR_MIN) nt = 1;
    int64_t ntask = nt == 1 ? 1 : imin(s->planes, 8 * (int64_t)nt);
    if (ntask < 1) ntask = 1;
    c->chunk = (s->planes + ntask - 1) / ntask;
    if (c->chunk < 1) c->chunk = 1;
    ntask = (s->planes + c->chunk - 1) / c->chunk;
    if (ntask <= 1) {
        if (s->planes > 0) fn(c, 0, 0);
    } else {
        fg_parallel_for(nt, ntask, fn, c);
    }
    return c->err;
}

int F(fg_pool2d)(int op, const fg_pool2d_shape *s, const T *x, T *y, int64_t *idx, int nthreads)
{
    int rc = pool_check(op, s);
    if (rc != FG_OK) return rc;
    if (!x || !y || (op == FG_POOLING_MAX && !idx)) return FG_EINVAL;
    F(pool_ctx) c;
    memset(&c, 0, sizeof(c));
    c.op = op; c.s = s; c.x = x; c.y = y; c.idx = idx;
    return F(pool_run)(&c, F(pool_fwd_task), nthreads);
}

int F(fg_pool2d_bwd)(int op, const fg_pool2d_shape *s, const T *g, const int64_t *idx, T *gx,
                     int nthreads)
{
    int rc = pool_check(op, s);
    if (rc != FG_OK) return rc;
    if (!g || !gx || (op == FG_POOLING_MAX && !idx)) return FG_EINVAL;
    F(pool_ctx) c;
    memset(&c, 0, sizeof(c));
    c.op = op; c.s = s; c.x = g; c.y = gx; c.cidx = idx;
    return F(pool_run)(&c, F(pool_bwd_task), nthreads);
}
