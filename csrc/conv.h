/* Convolution, pooling and normalization kernels (conv.c; conv_tmpl.h, pooling_tmpl.h,
 * norm_tmpl.h).  Included at the end of fastgrad.h.
 *
 * Layouts are PyTorch's and dense (C-contiguous): images NCHW, convolution weights
 * (C_out, C_in / groups, KH, KW).  1-D ops are the 2-D ones with H = 1.
 *
 * Convolution is im2col + the fastgrad GEMM, one image (or, for small planes, a chunk
 * of images side by side in one column matrix) per task on fastgrad's pool (each thread
 * packs its columns into its own fg_workspace slot 0 and calls a single-threaded GEMM);
 * with fewer tasks than threads they run one after the other and the GEMM itself is
 * threaded.  A 1x1 kernel with stride 1 and no padding skips im2col (the image is the
 * column matrix); depthwise convolutions run as direct loops.  float32 3x3 convolutions
 * with unit stride and dilation, one group and enough channels and tiles run as
 * Winograd F(2x2, 3x3) on AVX-512 (forward, input gradient and weight/bias gradients;
 * the transformed weights live in the caller's slot 1 during a call).  Weight and bias
 * gradients are summed per fixed range of images (fg_parallel_ranges, slot
 * FG_WS_SLOT_PARTS) and the ranges combined in order: the same bits on every run at a
 * given thread count.  Padding is given for the top/left edges only: the output size
 * (oh, ow) fixes how far the windows run past the bottom/right edge, so asymmetric
 * padding ("same" with an even kernel) needs nothing special.  The GEMM uses slots 2
 * and 3. */
#ifndef FG_CONV_H
#define FG_CONV_H
#include <stdint.h>

typedef struct {
    int64_t n, c_in, h, w;          /* input (n, c_in, h, w) */
    int64_t c_out, kh, kw;          /* weight (c_out, c_in / groups, kh, kw) */
    int64_t oh, ow;                 /* output (n, c_out, oh, ow) */
    int64_t sh, sw;                 /* stride (>= 1) */
    int64_t ph, pw;                 /* top / left zero padding (>= 0) */
    int64_t dh, dw;                 /* dilation (>= 1) */
    int64_t groups;                 /* divides c_in and c_out */
} fg_conv2d_shape;

/* y = conv(x, w) + bias (bias: NULL or c_out values). */
int fg_conv2d_f32(const fg_conv2d_shape *s, const float *x, const float *w, const float *bias,
                  float *y, int nthreads);
int fg_conv2d_f64(const fg_conv2d_shape *s, const double *x, const double *w,
                  const double *bias, double *y, int nthreads);
/* Gradients of y = conv(x, w) + b for the output gradient g (n, c_out, oh, ow), each
 * written (not accumulated) when its pointer is not NULL:
 *   gx (n, c_in, h, w)   needs w   (this is also the transposed convolution of g)
 *   gw (c_out, c_in / groups, kh, kw)   needs x
 *   gb (c_out)                                                                          */
int fg_conv2d_bwd_f32(const fg_conv2d_shape *s, const float *x, const float *w, const float *g,
                      float *gx, float *gw, float *gb, int nthreads);
int fg_conv2d_bwd_f64(const fg_conv2d_shape *s, const double *x, const double *w,
                      const double *g, double *gx, double *gw, double *gb, int nthreads);

/* ---- pooling over the last two dims of (planes, h, w) -------------------------------- */
enum {
#define FG_POOLING(ID, NAME) FG_POOLING_##ID,
#include "ops/pooling.def"
    FG_POOLING_COUNT
};
typedef struct {
    int64_t planes, h, w, oh, ow;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;   /* unused by FG_POOLING_ADAPTIVE_AVG */
    int count_include_pad;                    /* FG_POOLING_AVG */
} fg_pool2d_shape;
/* MAX: window (kh, kw) with dilation; y = max (NaN wins), idx (int64, required) = the
 * position h * w_in + w of the maximum in its plane (first one on ties).
 * AVG: window clipped to the padded input [-ph, h + ph) x [-pw, w + pw); divided by
 * that clipped size when count_include_pad, else by the part inside the input.
 * ADAPTIVE_AVG: output cell i averages rows floor(i h / oh) .. ceil((i + 1) h / oh). */
int fg_pool2d_f32(int op, const fg_pool2d_shape *s, const float *x, float *y, int64_t *idx,
                  int nthreads);
int fg_pool2d_f64(int op, const fg_pool2d_shape *s, const double *x, double *y, int64_t *idx,
                  int nthreads);
/* gx (planes, h, w) = adjoint of the pooling applied to g (planes, oh, ow); MAX reads idx
 * (FG_EINVAL if an index lies outside the plane). */
int fg_pool2d_bwd_f32(int op, const fg_pool2d_shape *s, const float *g, const int64_t *idx,
                      float *gx, int nthreads);
int fg_pool2d_bwd_f64(int op, const fg_pool2d_shape *s, const double *g, const int64_t *idx,
                      double *gx, int nthreads);

/* ---- batch normalization over (n, c, s), per channel c ------------------------------- */
/* mean[c], var[c] (biased) of x over n and s, accumulated in double. */
int fg_bn_stats_f32(int64_t n, int64_t c, int64_t s, const float *x, float *mean, float *var,
                    int nthreads);
int fg_bn_stats_f64(int64_t n, int64_t c, int64_t s, const double *x, double *mean,
                    double *var, int nthreads);
/* y = (x - mean[c]) * invstd[c] * w[c] + b[c]  (w, b may be NULL: 1 and 0) */
int fg_bn_apply_f32(int64_t n, int64_t c, int64_t s, const float *x, const float *mean,
                    const float *invstd, const float *w, const float *b, float *y, int nthreads);
int fg_bn_apply_f64(int64_t n, int64_t c, int64_t s, const double *x, const double *mean,
                    const double *invstd, const double *w, const double *b, double *y,
                    int nthreads);
/* Backward of bn_apply with xhat = (x - mean) * invstd.  gw = sum g xhat, gb = sum g
 * (either may be NULL).  gx (may be NULL): training (the statistics are the batch's):
 *   gx = w invstd (g - mean(g) - xhat mean(g xhat)),   else gx = w invstd g.           */
int fg_bn_bwd_f32(int64_t n, int64_t c, int64_t s, const float *x, const float *g,
                  const float *mean, const float *invstd, const float *w, int training,
                  float *gx, float *gw, float *gb, int nthreads);
int fg_bn_bwd_f64(int64_t n, int64_t c, int64_t s, const double *x, const double *g,
                  const double *mean, const double *invstd, const double *w, int training,
                  double *gx, double *gw, double *gb, int nthreads);

/* ---- row normalization (layer norm, group norm) --------------------------------------- */
/* x (rows, d) normalized per row: xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps)
 * (biased var).  Affine index of element (r, j): a = ((r % groups) * d + j) / s, so
 * layer norm is groups = 1, s = 1 (w, b of d values) and group norm over (N, C, S) is
 * rows = N * G, d = (C / G) * S, groups = G, s = S (w, b of C values).
 * y = xhat * w[a] + b[a]; mean, rstd (rows) are written for the backward. */
int fg_rownorm_f32(int64_t rows, int64_t d, int64_t groups, int64_t s, const float *x,
                   const float *w, const float *b, double eps, float *y, float *mean,
                   float *rstd, int nthreads);
int fg_rownorm_f64(int64_t rows, int64_t d, int64_t groups, int64_t s, const double *x,
                   const double *w, const double *b, double eps, double *y, double *mean,
                   double *rstd, int nthreads);
/* gx = rstd (gh - mean_j(gh) - xhat mean_j(gh xhat)), gh = g w[a];  gw[a] = sum g xhat,
 * gb[a] = sum g (gx, gw, gb may be NULL; gw/gb have groups * d / s values). */
int fg_rownorm_bwd_f32(int64_t rows, int64_t d, int64_t groups, int64_t s, const float *x,
                       const float *g, const float *mean, const float *rstd, const float *w,
                       float *gx, float *gw, float *gb, int nthreads);
int fg_rownorm_bwd_f64(int64_t rows, int64_t d, int64_t groups, int64_t s, const double *x,
                       const double *g, const double *mean, const double *rstd,
                       const double *w, double *gx, double *gw, double *gb, int nthreads);
#endif
