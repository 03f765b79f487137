/* im2col / col2im for one element type T and one SIMD path: included by conv_tmpl.h once
 * per path (scalar baseline, AVX2+FMA, AVX-512) under that path's target pragma, so the
 * row copies, zero fills and the col2im accumulation vectorise for the active ISA
 * (fg_get_isa picks the path, as for the other kernel families).  FI(name) is
 * name_<type>_<isa>.  Short rows (1-D signals, small planes) are copied by inline loops
 * rather than libc calls: conv.c disables the loop-to-memcpy rewrite for this reason. */

/* d[0, n) = 0 and d[0, n) = s[0, n) */
static inline void FI(zero)(T *d, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] = 0;
}

static inline void FI(copy)(T *restrict d, const T *restrict s, int64_t n)
{
    if (n >= 256) { memcpy(d, s, (size_t)n * sizeof(T)); return; }
    for (int64_t i = 0; i < n; i++) d[i] = s[i];
}

/* For nimg images b: columns [b * P, (b + 1) * P) (P = oh * ow) of col (cg * kh * kw rows,
 * leading dimension ld) from the image x + b * xs (cg, h, w); zeros where a window leaves
 * the input.  The geometry of a kernel offset (i, j) is worked out once for all channels
 * and images: with short rows (1-D signals) it costs more than the copies. */
static CV_NOINLINE void FI(im2col)(const fg_conv2d_shape *s, int64_t cg, const T *x, int64_t xs,
                                   int64_t nimg, T *col, int64_t ld)
{
    const int64_t H = s->h, W = s->w, OH = s->oh, OW = s->ow, P = OH * OW, HW = H * W;
    const int64_t KK = s->kh * s->kw;
    const int shifted = F(im2col_shift)(s);
    for (int64_t i = 0; i < s->kh; i++) {
        for (int64_t j = 0; j < s->kw; j++) {
            const int64_t woff = j * s->dw - s->pw, ioff = i * s->dh - s->ph;
            int64_t lo, hi;
            col_range(woff, s->sw, W, OW, &lo, &hi);
            if (shifted) {
                const int64_t shift = ioff * W + woff;
                int64_t a, b, qs, qe;
                F(shift_range)(s, ioff, woff, &a, &b, &qs, &qe);
                const int edge = lo > 0 || hi < OW;
                for (int64_t n = 0; n < nimg; n++) {
                    for (int64_t c = 0; c < cg; c++) {
                        const T *src = x + n * xs + c * HW;
                        T *dst = col + (c * KK + i * s->kw + j) * ld + n * P;
                        if (qs > 0) FI(zero)(dst, qs);
                        if (qe > qs) FI(copy)(dst + qs, src + qs + shift, qe - qs);
                        if (P > qe) FI(zero)(dst + qe, P - qe);
                        if (edge) {
                            for (int64_t oy = a; oy < b; oy++) {
                                T *d = dst + oy * OW;
                                for (int64_t ox = 0; ox < lo; ox++) d[ox] = 0;
                                for (int64_t ox = hi; ox < OW; ox++) d[ox] = 0;
                            }
                        }
                    }
                }
                continue;
            }
            for (int64_t n = 0; n < nimg; n++) {
                for (int64_t c = 0; c < cg; c++) {
                    const T *src = x + n * xs + c * HW;
                    T *dst = col + (c * KK + i * s->kw + j) * ld + n * P;
                    for (int64_t oy = 0; oy < OH; oy++) {
                        const int64_t ih = oy * s->sh + ioff;
                        T *d = dst + oy * OW;
                        if (ih < 0 || ih >= H) {
                            FI(zero)(d, OW);
                            continue;
                        }
                        const T *r = src + ih * W + woff;
                        for (int64_t ox = 0; ox < lo; ox++) d[ox] = 0;
                        if (s->sw == 1) {
                            if (hi > lo) FI(copy)(d + lo, r + lo, hi - lo);
                        } else {
                            for (int64_t ox = lo; ox < hi; ox++) d[ox] = r[ox * s->sw];
                        }
                        for (int64_t ox = hi; ox < OW; ox++) d[ox] = 0;
                    }
                }
            }
        }
    }
}

/* For nimg images b: gx + b * gxs (cg, h, w) += columns [b * P, (b + 1) * P) of col
 * folded back onto the image (gx zeroed by the caller); col is scratch (the shifted
 * path zeroes its wrapped columns) */
static CV_NOINLINE void FI(col2im)(const fg_conv2d_shape *s, int64_t cg, T *col, int64_t ld,
                                   int64_t nimg, T *gx, int64_t gxs)
{
    const int64_t H = s->h, W = s->w, OH = s->oh, OW = s->ow, P = OH * OW, HW = H * W;
    const int64_t KK = s->kh * s->kw;
    const int shifted = F(im2col_shift)(s);
    for (int64_t i = 0; i < s->kh; i++) {
        for (int64_t j = 0; j < s->kw; j++) {
            const int64_t woff = j * s->dw - s->pw, ioff = i * s->dh - s->ph;
            int64_t lo, hi;
            col_range(woff, s->sw, W, OW, &lo, &hi);
            if (shifted) {
                const int64_t shift = ioff * W + woff;
                int64_t a, b, qs, qe;
                F(shift_range)(s, ioff, woff, &a, &b, &qs, &qe);
                const int edge = lo > 0 || hi < OW;
                for (int64_t n = 0; n < nimg; n++) {
                    for (int64_t c = 0; c < cg; c++) {
                        T *src = col + (c * KK + i * s->kw + j) * ld + n * P;
                        if (edge) {
                            for (int64_t oy = a; oy < b; oy++) {
                                T *d = src + oy * OW;
                                for (int64_t ox = 0; ox < lo; ox++) d[ox] = 0;
                                for (int64_t ox = hi; ox < OW; ox++) d[ox] = 0;
                            }
                        }
                        T *o = gx + n * gxs + c * HW + shift;
                        for (int64_t q = qs; q < qe; q++) o[q] += src[q];
                    }
                }
                continue;
            }
            for (int64_t n = 0; n < nimg; n++) {
                for (int64_t c = 0; c < cg; c++) {
                    const T *src = col + (c * KK + i * s->kw + j) * ld + n * P;
                    T *dstimg = gx + n * gxs + c * HW;
                    for (int64_t oy = 0; oy < OH; oy++) {
                        const int64_t ih = oy * s->sh + ioff;
                        if (ih < 0 || ih >= H) continue;
                        const T *d = src + oy * OW;
                        T *r = dstimg + ih * W + woff;
                        if (s->sw == 1) {
                            for (int64_t ox = lo; ox < hi; ox++) r[ox] += d[ox];
                        } else {
                            for (int64_t ox = lo; ox < hi; ox++) r[ox * s->sw] += d[ox];
                        }
                    }
                }
            }
        }
    }
}
