/* Convolution kernels of conv.c (fg_conv2d, fg_conv2d_bwd) for one element type T (float
 * or double), and the vectorisable sums that the normalisation kernels use too.  Included
 * by conv.c once per type, before pooling_tmpl.h and norm_tmpl.h; conv.c defines T, F(name)
 * (adds the type suffix SUF) and GEMM (the matching fg_gemm entry point). */
/* ---- sums with 8 independent accumulators (no serial add chain; vectorisable) ------ */
static inline double F(sum_d)(const T *x, int64_t n)
{
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) a[u] += (double)x[i + u];
    double r = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++) r += (double)x[i];
    return r;
}

/* sum (x - m)^2 */
static inline double F(sumsq_d)(const T *x, int64_t n, double m)
{
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) { const double e = (double)x[i + u] - m; a[u] += e * e; }
    double r = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++) { const double e = (double)x[i] - m; r += e * e; }
    return r;
}

/* sum g * (x - m) */
static inline double F(dotc_d)(const T *g, const T *x, int64_t n, double m)
{
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) a[u] += (double)g[i + u] * ((double)x[i + u] - m);
    double r = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++) r += (double)g[i] * ((double)x[i] - m);
    return r;
}

/* ---- im2col / col2im for one image and one group --------------------------------------- */
/* Stride 1 with ow == w ("same" width): the (oh, ow) block of one kernel offset is the
 * input plane shifted by (ioff, woff) rows/columns, so it is one contiguous copy of the
 * valid rows, after which the columns that wrapped round a row edge are zeroed. */
static inline int F(im2col_shift)(const fg_conv2d_shape *s)
{
    return s->sh == 1 && s->sw == 1 && s->ow == s->w;
}

static inline void F(shift_range)(const fg_conv2d_shape *s, int64_t ioff, int64_t woff,
                                  int64_t *oy_lo, int64_t *oy_hi, int64_t *qs, int64_t *qe)
{
    const int64_t H = s->h, W = s->w;
    int64_t a = ioff < 0 ? -ioff : 0, b = imin(s->oh, H - ioff);
    if (a > s->oh) a = s->oh;
    if (b < a) b = a;
    const int64_t shift = ioff * W + woff;
    int64_t q0 = imax(a * W, -shift), q1 = imin(b * W, H * W - shift);
    if (q0 > b * W) q0 = b * W;
    if (q1 < q0) q1 = q0;
    *oy_lo = a; *oy_hi = b; *qs = q0; *qe = q1;
}

/* ---- im2col / col2im, one copy per SIMD path (conv_cols_tmpl.h) ---------------------- */
#define CV_CAT3(a, b, c) a##b##c
#define CV_ICAT(a, b, c) CV_CAT3(a, b, c)
#define FI(name) CV_ICAT(name, SUF, CV_ISA)
#define CV_ISA_AVX512_BODY 0
FG_ISA_BEGIN(base)
#define CV_ISA _base
#include "conv_cols_tmpl.h"
#undef CV_ISA
FG_ISA_END
FG_ISA_BEGIN(avx2)
#define CV_ISA _avx2
#include "conv_cols_tmpl.h"
#undef CV_ISA
FG_ISA_END
FG_ISA_BEGIN(avx512)
#undef CV_ISA_AVX512_BODY
#define CV_ISA_AVX512_BODY 1
#define CV_ISA _avx512
#include "conv_cols_tmpl.h"
#undef CV_ISA
#undef CV_ISA_AVX512_BODY
FG_ISA_END
#undef FI

static void F(cols_out)(const T *tmp, int64_t L, int64_t nimg, int64_t og, int64_t P,
                       const T *bias, T *y, int64_t ys)
{
    switch (fg_get_isa()) {
    case FG_ISA_AVX512: CV_ICAT(cols_out, SUF, _avx512)(tmp, L, nimg, og, P, bias, y, ys); break;
    case FG_ISA_AVX2: CV_ICAT(cols_out, SUF, _avx2)(tmp, L, nimg, og, P, bias, y, ys); break;
    default: CV_ICAT(cols_out, SUF, _base)(tmp, L, nimg, og, P, bias, y, ys);
    }
}

static void F(cols_in)(const T *g, int64_t gs, int64_t nimg, int64_t og, int64_t P, T *gch,
                       int64_t L, T *sums)
{
    switch (fg_get_isa()) {
    case FG_ISA_AVX512: CV_ICAT(cols_in, SUF, _avx512)(g, gs, nimg, og, P, gch, L, sums); break;
    case FG_ISA_AVX2: CV_ICAT(cols_in, SUF, _avx2)(g, gs, nimg, og, P, gch, L, sums); break;
    default: CV_ICAT(cols_in, SUF, _base)(g, gs, nimg, og, P, gch, L, sums);
    }
}

/* For nimg images b: columns [b * P, (b + 1) * P) of col (ld) from x + b * xs (cg, h, w) */
static void F(im2col)(const fg_conv2d_shape *s, int64_t cg, const T *x, int64_t xs, int64_t nimg,
                      T *col, int64_t ld)
{
    switch (fg_get_isa()) {
    case FG_ISA_AVX512: CV_ICAT(im2col, SUF, _avx512)(s, cg, x, xs, nimg, col, ld); break;
    case FG_ISA_AVX2: CV_ICAT(im2col, SUF, _avx2)(s, cg, x, xs, nimg, col, ld); break;
    default: CV_ICAT(im2col, SUF, _base)(s, cg, x, xs, nimg, col, ld);
    }
}

/* gx + b * gxs (cg, h, w) = columns [b * P, (b + 1) * P) of col folded back (written,
 * not accumulated; col is scratch).  With unit column stride and short rows the AVX-512
 * path gathers each output vector in registers (col2im_vec); the others zero gx and
 * scatter-add. */
static void F(col2im)(const fg_conv2d_shape *s, int64_t cg, T *col, int64_t ld, int64_t nimg,
                      T *gx, int64_t gxs)
{
    const int isa = fg_get_isa();
#if defined(__x86_64__) || defined(__i386__)
    if (isa == FG_ISA_AVX512 && CV_ICAT(vec_ok, SUF, _avx512)(s)) {
        CV_ICAT(col2im_vec, SUF, _avx512)(s, cg, col, ld, nimg, gx, gxs);
        return;
    }
#endif
    for (int64_t b = 0; b < nimg; b++)
        memset(gx + b * gxs, 0, (size_t)(cg * s->h * s->w) * sizeof(T));
    switch (isa) {
    case FG_ISA_AVX512: CV_ICAT(col2im, SUF, _avx512)(s, cg, col, ld, nimg, gx, gxs); break;
    case FG_ISA_AVX2: CV_ICAT(col2im, SUF, _avx2)(s, cg, col, ld, nimg, gx, gxs); break;
    default: CV_ICAT(col2im, SUF, _base)(s, cg, col, ld, nimg, gx, gxs);
    }
}

static inline int F(conv_direct)(const fg_conv2d_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->ph == 0 && s->pw == 0 &&
           s->oh == s->h && s->ow == s->w;
}

static int F(gemm1)(int ta, int tb, int64_t m, int64_t n, int64_t k, const T *a, int64_t lda,
                    const T *b, int64_t ldb, double beta, T *c, int64_t ldc, int nt)
{
    fg_gemm_desc d;
    d.transa = ta; d.transb = tb;
    d.m = m; d.n = n; d.k = k;
    d.alpha = 1.0; d.beta = beta;
    d.a = a; d.lda = lda; d.b = b; d.ldb = ldb; d.c = c; d.ldc = ldc;
    d.bias = NULL; d.act = FG_ACT_NONE;
    d.batch = 1; d.stride_a = 0; d.stride_b = 0; d.stride_c = 0;
    return GEMM(&d, nt);
}

/* ---- depthwise (one input channel per group): direct loops, no im2col --------------- */
static inline int F(conv_depthwise)(const fg_conv2d_shape *s)
{
    return s->groups > 1 && s->c_in == s->groups;
}

/* depthwise planes (conv_cols_tmpl.h), per SIMD path */
static int64_t F(dw_plane_ws)(int64_t oh, int64_t ow, int64_t kh, int64_t kw)
{
    return CV_ICAT(dw_plane_ws, SUF, _base)(oh, ow, kh, kw);
}

static void F(dw_plane)(const T *in, int64_t ih, int64_t iw, int64_t pt, int64_t pl, int64_t oh,
                        int64_t ow, int64_t kh, int64_t kw, const T *w, int flip, T bias, T *out,
                        T *buf)
{
    switch (fg_get_isa()) {
    case FG_ISA_AVX512:
        CV_ICAT(dw_plane, SUF, _avx512)(in, ih, iw, pt, pl, oh, ow, kh, kw, w, flip, bias, out, buf);
        break;
    case FG_ISA_AVX2:
        CV_ICAT(dw_plane, SUF, _avx2)(in, ih, iw, pt, pl, oh, ow, kh, kw, w, flip, bias, out, buf);
        break;
    default:
        CV_ICAT(dw_plane, SUF, _base)(in, ih, iw, pt, pl, oh, ow, kh, kw, w, flip, bias, out, buf);
    }
}

static int F(dw_plane_gw)(const T *in, int64_t ih, int64_t iw, int64_t pt, int64_t pl, const T *g,
                          int64_t oh, int64_t ow, int64_t kh, int64_t kw, T *gw, T *buf)
{
    switch (fg_get_isa()) {
    case FG_ISA_AVX512:
        return CV_ICAT(dw_plane_gw, SUF, _avx512)(in, ih, iw, pt, pl, g, oh, ow, kh, kw, gw, buf);
    case FG_ISA_AVX2:
        return CV_ICAT(dw_plane_gw, SUF, _avx2)(in, ih, iw, pt, pl, g, oh, ow, kh, kw, gw, buf);
    default:
        return CV_ICAT(dw_plane_gw, SUF, _base)(in, ih, iw, pt, pl, g, oh, ow, kh, kw, gw, buf);
    }
}

/* the plane path: unit stride and dilation, planes small enough for a scratch buffer */
static T *F(dw_plane_buf)(const fg_conv2d_shape *s, int for_gx)
{
    if (s->sh != 1 || s->sw != 1 || s->dh != 1 || s->dw != 1) return NULL;
    if (for_gx && (s->ph > s->kh - 1 || s->pw > s->kw - 1)) return NULL;
    const int64_t need = for_gx ? F(dw_plane_ws)(s->h, s->w, s->kh, s->kw)
                                : F(dw_plane_ws)(s->oh, s->ow, s->kh, s->kw);
    if (need > ((int64_t)1 << 22)) return NULL;          /* 16 MB of float: the row loops */
    return (T *)fg_workspace(0, (size_t)need * sizeof(T) + 64);   /* NULL: the row loops */
}

/* y_n (c_out, oh, ow) = depthwise conv of x_n (c_in, h, w) (+ bias) */
static void F(dw_fwd_img)(const fg_conv2d_shape *s, const T *xn, const T *w, const T *b, T *yn)
{
    const int64_t H = s->h, W = s->w, OH = s->oh, OW = s->ow, P = OH * OW;
    const int64_t og = s->c_out / s->groups;
    T *buf = F(dw_plane_buf)(s, 0);
    if (buf) {
        for (int64_t oc = 0; oc < s->c_out; oc++)
            F(dw_plane)(xn + (oc / og) * H * W, H, W, s->ph, s->pw, OH, OW, s->kh, s->kw,
                        w + oc * s->kh * s->kw, 0, b ? b[oc] : (T)0, yn + oc * P, buf);
        return;
    }
    for (int64_t oc = 0; oc < s->c_out; oc++) {
        const T *xg = xn + (oc / og) * H * W;
        T *yo = yn + oc * P;
        const T b0 = b ? b[oc] : (T)0;
        for (int64_t p = 0; p < P; p++) yo[p] = b0;
        for (int64_t i = 0; i < s->kh; i++) {
            for (int64_t j = 0; j < s->kw; j++) {
                const T wv = w[(oc * s->kh + i) * s->kw + j];
                const int64_t woff = j * s->dw - s->pw;
                int64_t lo, hi;
                col_range(woff, s->sw, W, OW, &lo, &hi);
                for (int64_t oy = 0; oy < OH; oy++) {
                    const int64_t ih = oy * s->sh - s->ph + i * s->dh;
                    if (ih < 0 || ih >= H) continue;
                    const T *r = xg + ih * W + woff;
                    T *d = yo + oy * OW;
                    if (s->sw == 1) {
                        for (int64_t ox = lo; ox < hi; ox++) d[ox] += wv * r[ox];
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++) d[ox] += wv * r[ox * s->sw];
                    }
                }
            }
        }
    }
}

/* gx_n (zeroed here; may be NULL) and gw_part += (may be NULL) for one image */
static void F(dw_bwd_img)(const fg_conv2d_shape *s, const T *xn, const T *w, const T *gn, T *gxn,
                          T *gwp, int gw_t)
{
    const int64_t H = s->h, W = s->w, OH = s->oh, OW = s->ow, P = OH * OW;
    const int64_t og = s->c_out / s->groups, KK = s->kh * s->kw;
    /* the plane path: the input gradient as the correlation of g, padded by kh - 1 - ph
     * and kw - 1 - pw, with the flipped kernel (one output channel per input channel:
     * with a channel multiplier the row loops below sum the og outputs); the weight
     * gradient per plane; each falls back to the row loops where it cannot be used */
    T *buf = F(dw_plane_buf)(s, 1);
    if (buf && og == 1 && gxn) {
        for (int64_t c = 0; c < s->c_in; c++)
            F(dw_plane)(gn + c * P, OH, OW, s->kh - 1 - s->ph, s->kw - 1 - s->pw, H, W, s->kh,
                        s->kw, w + c * KK, 1, (T)0, gxn + c * H * W, buf);
        gxn = NULL;                         /* done */
    }
    if (gwp && (!gw_t || og == 1) && (buf = F(dw_plane_buf)(s, 0)) != NULL) {
        for (int64_t oc = 0; oc < s->c_out; oc++) {
            const T *xc = xn + (oc / og) * H * W, *go = gn + oc * P;
            T *gwo = gwp + oc * KK;
            if (F(dw_plane_gw)(xc, H, W, s->ph, s->pw, go, OH, OW, s->kh, s->kw, gwo, buf))
                continue;
            /* an inf or nan in the plane: this channel by rows (unit stride here) */
            for (int64_t i = 0; i < s->kh; i++)
                for (int64_t j = 0; j < s->kw; j++) {
                    int64_t lo, hi;
                    col_range(j - s->pw, 1, W, OW, &lo, &hi);
                    T acc = 0;
                    for (int64_t oy = 0; oy < OH; oy++) {
                        const int64_t ihh = oy - s->ph + i;
                        if (ihh < 0 || ihh >= H) continue;
                        const T *r = xc + ihh * W + j - s->pw;
                        for (int64_t ox = lo; ox < hi; ox++) acc += go[oy * OW + ox] * r[ox];
                    }
                    gwo[i * s->kw + j] += acc;
                }
        }
        gwp = NULL;                         /* done */
    }
    if (!gxn && !gwp) return;
    if (gxn) memset(gxn, 0, (size_t)(s->c_in * H * W) * sizeof(T));
    for (int64_t oc = 0; oc < s->c_out; oc++) {
        const int64_t ic = oc / og;
        const T *go = gn + oc * P;
        for (int64_t i = 0; i < s->kh; i++) {
            for (int64_t j = 0; j < s->kw; j++) {
                const int64_t wi = (oc * s->kh + i) * s->kw + j;
                const T wv = w ? w[wi] : (T)0;
                const int64_t woff = j * s->dw - s->pw;
                int64_t lo, hi;
                col_range(woff, s->sw, W, OW, &lo, &hi);
                T acc = 0;
                for (int64_t oy = 0; oy < OH; oy++) {
                    const int64_t ih = oy * s->sh - s->ph + i * s->dh;
                    if (ih < 0 || ih >= H) continue;
                    const T *q = go + oy * OW;
                    const int64_t off = (ic * H + ih) * W + woff;
                    if (gxn) {
                        T *r = gxn + off;
                        for (int64_t ox = lo; ox < hi; ox++) r[ox * s->sw] += wv * q[ox];
                    }
                    if (gwp) {
                        const T *r = xn + off;
                        for (int64_t ox = lo; ox < hi; ox++) acc += q[ox] * r[ox * s->sw];
                    }
                }
                if (gwp) gwp[gw_t ? (ic * s->kh * s->kw + i * s->kw + j) * og + (oc - ic * og) : wi] += acc;
            }
        }
    }
}

/* ---- forward ------------------------------------------------------------------------- */
typedef struct {
    const fg_conv2d_shape *s;
    const T *x, *w, *b, *g;
    T *y, *gx;
    int want_gw, want_gb;
    T *parts;                   /* weight/bias-gradient partial sums, one block per range */
    int64_t pstride;
    int gemm_nt;
    int64_t nb;                 /* images per task (chunked path when > 1) */
    int gw_t;                   /* weight-gradient partial sums stored (groups, K, og) */
    const T *wino;              /* Winograd-transformed weights (16, c_out, c_in), or NULL */
    int err;
} F(conv_ctx);

/* ---- Winograd F(2x2, 3x3) (float32, AVX-512; conv_cols_tmpl.h) -------------------------
 * For 3x3 kernels with unit stride and dilation on small planes it replaces im2col + GEMM
 * in the forward and in the input gradient (the input gradient of such a convolution is
 * itself one: the output gradient correlated with the flipped, transposed kernel, top/left
 * padding 2 - p), and the weight gradient a sum over the same tiles.  The transforms'
 * coefficients are 0, +-1, +-1/2: against a float64 reference the 16->32 14x14 layer's
 * forward, input and weight gradients came out with max relative errors 1.6e-7, 2.3e-7,
 * 7.6e-7 (the column path: 3.5e-7, 1.7e-7, 5.1e-7). */
#if !CV_F64 && (defined(__x86_64__) || defined(__i386__))
#define WINO(name) CV_ICAT(name, SUF, _avx512)

static int F(wino_use)(const fg_conv2d_shape *s, int for_gx)
{
    if (fg_get_isa() != FG_ISA_AVX512) return 0;
    /* measured against the column path (one thread, 3x3 padding 1): faster for 16->32
     * 14x14 (-35%), 32->32 14x14 (-46%), 64->64 7x7 (-11%) and 16->8 7x7 (-10%) with 64
     * images; slower with 8 input channels (8->8, 8->16: +2..5%) and with few tiles for
     * the channels (8 images of 7x7, 64->64: +40%, the per-call weight transforms) */
    if (s->kh != 3 || s->kw != 3 || s->sh != 1 || s->sw != 1 || s->dh != 1 || s->dw != 1 ||
        s->groups != 1 || s->c_in < 16 || s->c_out < 8 ||
        s->n * ((s->oh + 1) / 2) * ((s->ow + 1) / 2) < 512)
        return 0;
    if (for_gx && (s->ph > 2 || s->pw > 2)) return 0;
    return WINO(wino_ok)(s->w, s->ow);
}

static void F(conv_wino_task)(void *vctx, int64_t t, int tid)
{
    F(conv_ctx) *c = (F(conv_ctx) *)vctx;
    const fg_conv2d_shape *s = c->s;
    (void)tid;
    const int64_t n0 = t * c->nb, m = imin(c->nb, s->n - n0);
    const int64_t HW = s->h * s->w, P = s->oh * s->ow;
    const int64_t need = c->gx ? WINO(wino_ws)(m, s->c_out, s->c_in, s->h, s->w)
                               : WINO(wino_ws)(m, s->c_in, s->c_out, s->oh, s->ow);
    T *ws = (T *)fg_workspace(0, (size_t)need * sizeof(T) + 64);
    if (!ws) { FG_ATOMIC_STORE_RELAXED(&c->err, FG_ENOMEM); return; }
    int rc;
    if (c->gx)                 /* input gradient: g (c_out, oh, ow) -> gx (c_in, h, w) */
        rc = WINO(wino_chunk)(m, s->c_out, s->oh, s->ow, c->g + n0 * s->c_out * P, s->c_out * P,
                              s->c_in, s->h, s->w, 2 - s->ph, 2 - s->pw, c->wino, NULL,
                              c->gx + n0 * s->c_in * HW, s->c_in * HW, ws, c->gemm_nt);
    else
        rc = WINO(wino_chunk)(m, s->c_in, s->h, s->w, c->x + n0 * s->c_in * HW, s->c_in * HW,
                              s->c_out, s->oh, s->ow, s->ph, s->pw, c->wino, c->b,
                              c->y + n0 * s->c_out * P, s->c_out * P, ws, c->gemm_nt);
    if (rc != FG_OK) FG_ATOMIC_STORE_RELAXED(&c->err, rc);
}

/* runs conv_wino_task over all images: the forward when c->gx is NULL, else the input
 * gradient.  The transformed weights go to this thread's workspace slot 1 (read by all
 * tasks; the tasks use slot 0, their GEMMs slots 2 and 3). */
static int F(conv_wino_run)(F(conv_ctx) *c, int nt)
{
    const fg_conv2d_shape *s = c->s;
    const int fwd = c->gx == NULL;
    T *U = (T *)fg_workspace(1, (size_t)(16 * s->c_in * s->c_out) * sizeof(T) + 64);
    if (!U) return FG_ENOMEM;
    WINO(wino_weights)(s->c_out, s->c_in, c->w, !fwd, U);
    c->wino = U;
    /* images per task: about 384 tiles per GEMM (measured: 4-16 images of 49 tiles
     * alike, 2 slower), a multiple of nt tasks */
    const int64_t tiles = fwd ? ((s->oh + 1) / 2) * ((s->ow + 1) / 2)
                              : ((s->h + 1) / 2) * ((s->w + 1) / 2);
    int64_t nb = imin((384 + tiles - 1) / imax(tiles, 1), s->n);
    int64_t ntask = (s->n + nb - 1) / nb;
    ntask = (ntask + nt - 1) / nt * nt;
    c->nb = imax((s->n + ntask - 1) / ntask, 1);
    ntask = (s->n + c->nb - 1) / c->nb;
    /* fewer images than threads: the images one after the other, the GEMMs threaded */
    c->gemm_nt = (nt > 1 && ntask >= nt) ? 1 : nt;
    if (nt > 1 && ntask >= nt) fg_parallel_for(nt, ntask, F(conv_wino_task), c);
    else for (int64_t t = 0; t < ntask && c->err == FG_OK; t++) F(conv_wino_task)(c, t, 0);
    c->wino = NULL;
    return c->err;
}

/* weight (and bias) gradient: per-range partial sums (16, c_in, c_out) + (c_out) */
static void F(conv_wino_gw_task)(void *vctx, int64_t t, int tid)
{
    F(conv_ctx) *c = (F(conv_ctx) *)vctx;
    const fg_conv2d_shape *s = c->s;
    const int64_t n0 = t * c->nb, m = imin(c->nb, s->n - n0);
    const int64_t HW = s->h * s->w, P = s->oh * s->ow, nw = 16 * s->c_in * s->c_out;
    /* tid is the range index (fg_parallel_ranges): this range's partial sums */
    T *part = c->parts + (int64_t)tid * c->pstride;
    const int64_t need = imax(WINO(wino_ws)(m, s->c_in, s->c_out, s->oh, s->ow),
                              c->gx ? WINO(wino_ws)(m, s->c_out, s->c_in, s->h, s->w) : 0);
    T *ws = (T *)fg_workspace(0, (size_t)need * sizeof(T) + 64);
    if (!ws) { FG_ATOMIC_STORE_RELAXED(&c->err, FG_ENOMEM); return; }
    int rc;
    if (c->gx) {
        /* the input gradient of the same images first: their g is then read again from
         * this core's cache by the weight-gradient transform below */
        rc = WINO(wino_chunk)(m, s->c_out, s->oh, s->ow, c->g + n0 * s->c_out * P, s->c_out * P,
                              s->c_in, s->h, s->w, 2 - s->ph, 2 - s->pw, c->wino, NULL,
                              c->gx + n0 * s->c_in * HW, s->c_in * HW, ws, c->gemm_nt);
        if (rc != FG_OK) { FG_ATOMIC_STORE_RELAXED(&c->err, rc); return; }
    }
    rc = WINO(wino_gw_chunk)(m, s->c_in, s->h, s->w, c->x + n0 * s->c_in * HW, s->c_in * HW,
                                       s->c_out, s->oh, s->ow, s->ph, s->pw,
                                       c->g + n0 * s->c_out * P, s->c_out * P, part,
                                       c->want_gb ? part + nw : NULL, ws, c->gemm_nt);
    if (rc != FG_OK) FG_ATOMIC_STORE_RELAXED(&c->err, rc);
}

/* weight and bias gradients, and the input gradient too when c->gx is set */
static int F(conv_wino_gw_run)(F(conv_ctx) *c, int nt, T *gw, T *gb)
{
    const fg_conv2d_shape *s = c->s;
    const int64_t nw = 16 * s->c_in * s->c_out;
    if (c->gx) {
        T *U = (T *)fg_workspace(1, (size_t)(16 * s->c_in * s->c_out) * sizeof(T) + 64);
        if (!U) return FG_ENOMEM;
        WINO(wino_weights)(s->c_out, s->c_in, c->w, 1, U);
        c->wino = U;
    }
    const int64_t tiles = ((s->oh + 1) / 2) * ((s->ow + 1) / 2);
    int64_t nb = imin((384 + tiles - 1) / imax(tiles, 1), s->n);
    int64_t ntask = (s->n + nb - 1) / nb;
    ntask = (ntask + nt - 1) / nt * nt;
    c->nb = imax((s->n + ntask - 1) / ntask, 1);
    ntask = (s->n + c->nb - 1) / c->nb;
    const int nr = (nt > 1 && ntask >= nt) ? nt : 1;
    /* one block of partial sums per range, combined in range order: the same bits on
     * every run at a given thread count */
    c->pstride = (nw + s->c_out + 15) / 16 * 16;
    c->parts = (T *)fg_workspace(FG_WS_SLOT_PARTS, (size_t)(nr * c->pstride) * sizeof(T) + 64);
    if (!c->parts) return FG_ENOMEM;
    memset(c->parts, 0, (size_t)(nr * c->pstride) * sizeof(T));
    c->want_gb = gb != NULL;
    c->gemm_nt = nr > 1 ? 1 : nt;
    if (nr > 1) fg_parallel_ranges(nt, ntask, F(conv_wino_gw_task), c);
    else for (int64_t t = 0; t < ntask && c->err == FG_OK; t++) F(conv_wino_gw_task)(c, t, 0);
    if (c->err != FG_OK) return c->err;
    T *S = c->parts;
    for (int r = 1; r < nr; r++) {
        const T *p = c->parts + (int64_t)r * c->pstride;
        for (int64_t i = 0; i < nw + s->c_out; i++) S[i] += p[i];
    }
    WINO(wino_gw_out)(s->c_in, s->c_out, S, gw);
    if (gb) for (int64_t o = 0; o < s->c_out; o++) gb[o] = S[nw + o];
    c->parts = NULL;
    return FG_OK;
}
#undef WINO
#else
static int F(conv_wino_gw_run)(F(conv_ctx) *c, int nt, T *gw, T *gb)
{
    (void)c; (void)nt; (void)gw; (void)gb;
    return FG_EINVAL;
}
static int F(wino_use)(const fg_conv2d_shape *s, int for_gx) { (void)s; (void)for_gx; return 0; }
static int F(conv_wino_run)(F(conv_ctx) *c, int nt) { (void)c; (void)nt; return FG_EINVAL; }
#endif

static void F(conv_fwd_task)(void *vctx, int64_t n, int tid)
{
    F(conv_ctx) *c = (F(conv_ctx) *)vctx;
    const fg_conv2d_shape *s = c->s;
    (void)tid;
    const int64_t G = s->groups, cg = s->c_in / G, og = s->c_out / G;
    const int64_t K = cg * s->kh * s->kw, P = s->oh * s->ow;
    if (F(conv_depthwise)(s)) {
        F(dw_fwd_img)(s, c->x + n * s->c_in * s->h * s->w, c->w, c->b, c->y + n * s->c_out * P);
        return;
    }
    const int direct = F(conv_direct)(s);
    T *col = NULL;
    if (!direct) {
        col = (T *)fg_workspace(0, (size_t)(K * P) * sizeof(T) + 64);
        if (!col) { FG_ATOMIC_STORE_RELAXED(&c->err, FG_ENOMEM); return; }
    }
    for (int64_t g = 0; g < G; g++) {
        const T *xg = c->x + (n * s->c_in + g * cg) * s->h * s->w;
        T *yg = c->y + (n * s->c_out + g * og) * P;
        double beta = 0.0;
        if (c->b) {
            for (int64_t o = 0; o < og; o++) {
                const T v = c->b[g * og + o];
                T *row = yg + o * P;
                for (int64_t p = 0; p < P; p++) row[p] = v;
            }
            beta = 1.0;
        }
        const T *B = xg;
        if (!direct) {
            F(im2col)(s, cg, xg, 0, 1, col, P);
            B = col;
        }
        int rc = F(gemm1)(0, 0, og, P, K, c->w + g * og * K, K, B, P, beta, yg, P, c->gemm_nt);
        if (rc != FG_OK) { FG_ATOMIC_STORE_RELAXED(&c->err, rc); return; }
    }
}

/* ---- several small images per GEMM ------------------------------------------------------
 * With few output positions per image (1-D signals, late 2-D layers) a GEMM per image is
 * too narrow to run fast; a task then packs nb images side by side (columns
 * [b * P, (b + 1) * P) of a (K, nb * P) matrix) and runs one GEMM for all of them. */
static void F(conv_fwd_chunk)(void *vctx, int64_t t, int tid)
{
    F(conv_ctx) *c = (F(conv_ctx) *)vctx;
    const fg_conv2d_shape *s = c->s;
    (void)tid;
    const int64_t G = s->groups, cg = s->c_in / G, og = s->c_out / G;
    const int64_t K = cg * s->kh * s->kw, P = s->oh * s->ow, HW = s->h * s->w;
    const int64_t n0 = t * c->nb, m = imin(c->nb, s->n - n0), L = m * P;
    T *col = (T *)fg_workspace(0, (size_t)((K + og) * L) * sizeof(T) + 64);
    if (!col) { FG_ATOMIC_STORE_RELAXED(&c->err, FG_ENOMEM); return; }
    T *tmp = col + K * L;
    for (int64_t g = 0; g < G; g++) {
        F(im2col)(s, cg, c->x + (n0 * s->c_in + g * cg) * HW, s->c_in * HW, m, col, L);
        int rc = F(gemm1)(0, 0, og, L, K, c->w + g * og * K, K, col, L, 0.0, tmp, L, c->gemm_nt);
        if (rc != FG_OK) { FG_ATOMIC_STORE_RELAXED(&c->err, rc); return; }
        F(cols_out)(tmp, L, m, og, P, c->b ? c->b + g * og : NULL,
                    c->y + (n0 * s->c_out + g * og) * P, s->c_out * P);
    }
}

static void F(conv_bwd_chunk)(void *vctx, int64_t t, int tid)
{
    F(conv_ctx) *c = (F(conv_ctx) *)vctx;
    const fg_conv2d_shape *s = c->s;
    const int64_t G = s->groups, cg = s->c_in / G, og = s->c_out / G;
    const int64_t K = cg * s->kh * s->kw, P = s->oh * s->ow, HW = s->h * s->w;
    const int64_t nw = s->c_out * K;
    const int64_t n0 = t * c->nb, m = imin(c->nb, s->n - n0), L = m * P;
    T *col = (T *)fg_workspace(0, (size_t)((K + og) * L) * sizeof(T) + 64);
    if (!col) { FG_ATOMIC_STORE_RELAXED(&c->err, FG_ENOMEM); return; }
    T *gch = col + K * L;
    /* tid is the range index (fg_parallel_ranges): this range's partial sums */
    T *part = c->parts ? c->parts + (int64_t)tid * c->pstride : NULL;
    (void)nw;
    int rc;
    for (int64_t g = 0; g < G; g++) {
        F(cols_in)(c->g + (n0 * s->c_out + g * og) * P, s->c_out * P, m, og, P, gch, L,
                   c->want_gb ? part + nw + g * og : NULL);
        if (c->want_gw) {
            F(im2col)(s, cg, c->x + (n0 * s->c_in + g * cg) * HW, s->c_in * HW, m, col, L);
            rc = c->gw_t ? F(gemm1)(0, 1, K, og, L, col, L, gch, L, 1.0, part + g * K * og, og, c->gemm_nt)
                         : F(gemm1)(0, 1, og, K, L, gch, L, col, L, 1.0, part + g * og * K, K, c->gemm_nt);
            if (rc != FG_OK) { FG_ATOMIC_STORE_RELAXED(&c->err, rc); return; }
        }
        if (c->gx) {
            rc = F(gemm1)(1, 0, K, L, og, c->w + g * og * K, K, gch, L, 0.0, col, L, c->gemm_nt);
            if (rc != FG_OK) { FG_ATOMIC_STORE_RELAXED(&c->err, rc); return; }
            F(col2im)(s, cg, col, L, m, c->gx + (n0 * s->c_in + g * cg) * HW, s->c_in * HW);
        }
    }
}

/* images per task: enough columns for an efficient GEMM, but work for every thread */
static int64_t F(conv_chunk)(const fg_conv2d_shape *s, int nt)
{
    const int64_t P = s->oh * s->ow;
    /* up to 255 positions: even two images per GEMM pay (the 14x14 planes of a small
     * CNN: 392 columns fill the 32-wide register tiles better than 196) */
    if (F(conv_depthwise)(s) || F(conv_direct)(s) || P >= 256 || s->n < 2) return 1;
    int64_t nb = (384 + P - 1) / P;
    /* a multiple of nt tasks, so that no thread idles while another runs the last one */
    int64_t ntask = (s->n + nb - 1) / nb;
    ntask = (ntask + nt - 1) / nt * nt;
    nb = (s->n + ntask - 1) / ntask;
    return nb < 1 ? 1 : nb;
}

int F(fg_conv2d)(const fg_conv2d_shape *s, const T *x, const T *w, const T *bias, T *y,
                 int nthreads)
{
    int rc = conv_check(s);
    if (rc != FG_OK) return rc;
    if (!x || !w || !y) return FG_EINVAL;
    if (s->n == 0 || s->oh == 0 || s->ow == 0) return FG_OK;
    F(conv_ctx) c;
    memset(&c, 0, sizeof(c));
    c.s = s; c.x = x; c.w = w; c.b = bias; c.y = y;
    const double work = (double)s->n * (double)s->c_out * (double)(s->oh * s->ow) *
                        (double)(s->c_in / s->groups * s->kh * s->kw);
    int nt = nthreads < 1 ? 1 : nthreads;
    if (work < FG_CONV_PAR_MIN) nt = 1;
    if (F(wino_use)(s, 0)) return F(conv_wino_run)(&c, nt);
    c.nb = F(conv_chunk)(s, nt);
    const int64_t ntask = (s->n + c.nb - 1) / c.nb;
    fg_task_fn fn = c.nb > 1 ? F(conv_fwd_chunk) : F(conv_fwd_task);
    if (nt > 1 && ntask >= nt) {
        c.gemm_nt = 1;
        fg_parallel_for(nt, ntask, fn, &c);
    } else {
        c.gemm_nt = nt;
        for (int64_t t = 0; t < ntask && c.err == FG_OK; t++) fn(&c, t, 0);
    }
    return c.err;
}

/* ---- backward ------------------------------------------------------------------------ */
static void F(conv_bwd_task)(void *vctx, int64_t n, int tid)
{
    F(conv_ctx) *c = (F(conv_ctx) *)vctx;
    const fg_conv2d_shape *s = c->s;
    const int64_t G = s->groups, cg = s->c_in / G, og = s->c_out / G;
    const int64_t K = cg * s->kh * s->kw, P = s->oh * s->ow, HW = s->h * s->w;
    const int64_t nw = s->c_out * K;
    const int dwise = F(conv_depthwise)(s);
    const int direct = F(conv_direct)(s);
    T *col = NULL;
    if (!direct && !dwise) {
        col = (T *)fg_workspace(0, (size_t)(K * P) * sizeof(T) + 64);
        if (!col) { FG_ATOMIC_STORE_RELAXED(&c->err, FG_ENOMEM); return; }
    }
    /* tid is the range index (fg_parallel_ranges): this range's partial sums */
    T *part = c->parts ? c->parts + (int64_t)tid * c->pstride : NULL;
    (void)nw;
    int rc;
    if (dwise && (c->gx || c->want_gw))
        F(dw_bwd_img)(s, c->x ? c->x + n * s->c_in * HW : NULL, c->w, c->g + n * s->c_out * P,
                      c->gx ? c->gx + n * s->c_in * HW : NULL, c->want_gw ? part : NULL, c->gw_t);
    for (int64_t g = 0; g < G; g++) {
        const T *gg = c->g + (n * s->c_out + g * og) * P;
        if (c->want_gw && !dwise) {
            const T *xg = c->x + (n * s->c_in + g * cg) * HW;
            const T *B = xg;
            if (!direct) {
                F(im2col)(s, cg, xg, 0, 1, col, P);
                B = col;
            }
            rc = c->gw_t ? F(gemm1)(0, 1, K, og, P, B, P, gg, P, 1.0, part + g * K * og, og, c->gemm_nt)
                         : F(gemm1)(0, 1, og, K, P, gg, P, B, P, 1.0, part + g * og * K, K, c->gemm_nt);
            if (rc != FG_OK) { FG_ATOMIC_STORE_RELAXED(&c->err, rc); return; }
        }
        if (c->want_gb) {
            T *pb = part + nw + g * og;
            for (int64_t o = 0; o < og; o++) {
                pb[o] += (T)F(sum_d)(gg + o * P, P);
            }
        }
        if (c->gx && !dwise) {
            T *gxg = c->gx + (n * s->c_in + g * cg) * HW;
            const T *wg = c->w + g * og * K;
            if (direct) {
                rc = F(gemm1)(1, 0, K, P, og, wg, K, gg, P, 0.0, gxg, P, c->gemm_nt);
            } else {
                rc = F(gemm1)(1, 0, K, P, og, wg, K, gg, P, 0.0, col, P, c->gemm_nt);
                if (rc == FG_OK) F(col2im)(s, cg, col, P, 1, gxg, 0);
            }
            if (rc != FG_OK) { FG_ATOMIC_STORE_RELAXED(&c->err, rc); return; }
        }
    }
}

int F(fg_conv2d_bwd)(const fg_conv2d_shape *s, const T *x, const T *w, const T *g, T *gx,
                     T *gw, T *gb, int nthreads)
{
    int rc = conv_check(s);
    if (rc != FG_OK) return rc;
    if (!g || (gx && !w) || (gw && !x)) return FG_EINVAL;
    const int64_t K = s->c_in / s->groups * s->kh * s->kw, nw = s->c_out * K;
    if (s->n == 0 || s->oh == 0 || s->ow == 0) {
        if (gx) memset(gx, 0, (size_t)(s->n * s->c_in * s->h * s->w) * sizeof(T));
        if (gw) memset(gw, 0, (size_t)nw * sizeof(T));
        if (gb) memset(gb, 0, (size_t)s->c_out * sizeof(T));
        return FG_OK;
    }
    F(conv_ctx) c;
    memset(&c, 0, sizeof(c));
    c.s = s; c.x = x; c.w = w; c.g = g; c.gx = gx;
    c.want_gw = gw != NULL;
    c.want_gb = gb != NULL;
    c.gw_t = K >= s->c_out / s->groups;
    const double work = (double)s->n * (double)s->c_out * (double)(s->oh * s->ow) * (double)K;
    int nt = nthreads < 1 ? 1 : nthreads;
    if (nt > FG_POOL_MAX) nt = FG_POOL_MAX;
    if (work < FG_CONV_PAR_MIN) nt = 1;
    const int wino_gx = gx && F(wino_use)(s, 1);
    if (gw && F(wino_use)(s, 0)) {
        /* weight and bias gradients by Winograd tile sums, in the same tasks the input
         * gradient when it takes Winograd too */
        F(conv_ctx) cw = c;
        cw.gx = wino_gx ? gx : NULL;
        rc = F(conv_wino_gw_run)(&cw, nt, gw, gb);
        if (rc != FG_OK) return rc;
        gw = NULL;
        gb = NULL;
        c.want_gw = c.want_gb = 0;
        if (wino_gx) c.gx = NULL;
        if (!c.gx) return FG_OK;
    } else if (wino_gx) {
        /* the input gradient on its own pass (Winograd); the columns below then serve
         * the weight gradient only */
        F(conv_ctx) cx = c;
        rc = F(conv_wino_run)(&cx, nt);
        if (rc != FG_OK) return rc;
        c.gx = NULL;
        if (!gw && !gb) return FG_OK;
    }
    c.nb = F(conv_chunk)(s, nt);
    const int64_t ntask = (s->n + c.nb - 1) / c.nb;
    fg_task_fn fn = c.nb > 1 ? F(conv_bwd_chunk) : F(conv_bwd_task);
    const int nr = (nt > 1 && ntask >= nt) ? nt : 1;
    if (gw || gb) {
        /* one block of partial sums per range, combined in range order below: the same
         * bits on every run at a given thread count */
        c.pstride = (nw + s->c_out + 15) / 16 * 16;
        c.parts = (T *)fg_workspace(FG_WS_SLOT_PARTS, (size_t)(nr * c.pstride) * sizeof(T) + 64);
        if (!c.parts) return FG_ENOMEM;
        memset(c.parts, 0, (size_t)(nr * c.pstride) * sizeof(T));
    }
    if (nr > 1) {
        c.gemm_nt = 1;
        fg_parallel_ranges(nt, ntask, fn, &c);
    } else {
        c.gemm_nt = nt;
        for (int64_t t = 0; t < ntask && c.err == FG_OK; t++) fn(&c, t, 0);
    }
    if (c.err != FG_OK) return c.err;
    if (gw || gb) {
        if (gw) memset(gw, 0, (size_t)nw * sizeof(T));
        if (gb) memset(gb, 0, (size_t)s->c_out * sizeof(T));
        for (int t = 0; t < nr; t++) {
            const T *p = c.parts + (int64_t)t * c.pstride;
            if (gw && !c.gw_t) {
                for (int64_t i = 0; i < nw; i++) gw[i] += p[i];
            } else if (gw) {
                /* partial sums are (groups, K, og): with K >= og the GEMM then runs with
                 * the big column matrix as its untransposed A (faster) */
                const int64_t G = s->groups, og = s->c_out / G;
                for (int64_t g = 0; g < G; g++)
                    for (int64_t o = 0; o < og; o++) {
                        T *dst = gw + (g * og + o) * K;
                        const T *src = p + g * K * og + o;
                        for (int64_t k = 0; k < K; k++) dst[k] += src[k * og];
                    }
            }
            if (gb) for (int64_t i = 0; i < s->c_out; i++) gb[i] += p[nw + i];
        }
    }
    return FG_OK;
}
