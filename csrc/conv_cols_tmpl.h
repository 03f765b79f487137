/* im2col / col2im for one element type T and one SIMD path: included by conv_tmpl.h once
 * per path (scalar baseline, AVX2+FMA, AVX-512) under that path's target pragma, so the
 * row copies, zero fills and the col2im accumulation vectorise for the active ISA
 * (fg_get_isa picks the path, as for the other kernel families).  FI(name) is
 * name_<type>_<isa>.  Short rows (1-D signals, small planes) are copied by inline loops
 * rather than libc calls: conv.c disables the loop-to-memcpy rewrite for this reason. */

/* d[0, n) = 0,  d[0, n) = s[0, n)  and  d[0, n) += s[0, n).  On the AVX-512 path whole
 * vectors then one masked vector (copies and zero fills): a 1-D row of ~20 elements is
 * two vector moves instead of a vector and a scalar tail loop. */
#if CV_ISA_AVX512_BODY && (defined(__x86_64__) || defined(__i386__))
#if CV_F64
#define CV_VL 8
#define CV_V __m512d
#define CV_MASK __mmask8
#define CV_LD _mm512_loadu_pd
#define CV_ST _mm512_storeu_pd
#define CV_LDM _mm512_maskz_loadu_pd
#define CV_STM _mm512_mask_storeu_pd
#define CV_ZERO _mm512_setzero_pd
#define CV_ADD _mm512_add_pd
#define CV_PERMZ _mm512_maskz_permutexvar_pd
#define CV_IT int64_t
#else
#define CV_VL 16
#define CV_V __m512
#define CV_MASK __mmask16
#define CV_LD _mm512_loadu_ps
#define CV_ST _mm512_storeu_ps
#define CV_LDM _mm512_maskz_loadu_ps
#define CV_STM _mm512_mask_storeu_ps
#define CV_ZERO _mm512_setzero_ps
#define CV_ADD _mm512_add_ps
#define CV_PERMZ _mm512_maskz_permutexvar_ps
#define CV_IT int32_t
#endif
static inline void FI(zero)(T *d, int64_t n)
{
    const CV_V z = CV_ZERO();
    for (; n >= CV_VL; n -= CV_VL, d += CV_VL) CV_ST(d, z);
    if (n > 0) CV_STM(d, (CV_MASK)((1u << n) - 1u), z);
}

static inline void FI(copy)(T *restrict d, const T *restrict s, int64_t n)
{
    if (n >= 256) { memcpy(d, s, (size_t)n * sizeof(T)); return; }
    for (; n >= CV_VL; n -= CV_VL, d += CV_VL, s += CV_VL) CV_ST(d, CV_LD(s));
    if (n > 0) {
        const CV_MASK m = (CV_MASK)((1u << n) - 1u);
        CV_STM(d, m, CV_LDM(m, s));
    }
}

/* no masked tail here: col2im's next kernel offset re-reads the elements just stored,
 * and a masked store does not forward to that load (measured slower than a scalar tail) */
static inline void FI(acc)(T *restrict d, const T *restrict s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] += s[i];
}

/* ---- unit column stride and rows of at most one vector (small planes: 14x14, 7x7, short
 * 1-D signals): im2col / col2im in registers.  An input row is loaded once and each
 * kernel column offset j is a lane permute of it (lane l takes element l + woff) whose
 * mask zeroes the lanes that fall outside the image.  Copying each shifted row from
 * memory instead (one unaligned load per offset, a scalar fix-up of the edge columns)
 * ran at a third of this speed: im2col of the 16->32 14x14 3x3 layer (64 images) 189 ->
 * 63 us, col2im (gather form, below) 145 us + zeroing gx -> 73 us, one thread, Zen 5.
 * Rows of several vectors (28x28, 1-D signals of 20+) measured no faster with two-source
 * permutes and keep the copy loops. */
#define CV_MAXTAB 64

/* lanes [a, b) of a vector (a, b clipped to [0, CV_VL]) */
static inline CV_MASK FI(lanes)(int64_t a, int64_t b)
{
    if (a < 0) a = 0;
    if (b > CV_VL) b = CV_VL;
    if (b <= a) return (CV_MASK)0;
    return (CV_MASK)(((1u << (b - a)) - 1u) << a);
}

/* permute indices: lane l takes element (l + shift) mod CV_VL (the permute reads only
 * the low index bits; the lanes where l + shift leaves [0, CV_VL) are masked off by the
 * callers) */
static inline __m512i FI(shift_idx)(int64_t shift)
{
    CV_IT t[CV_VL];
    for (int l = 0; l < CV_VL; l++) t[l] = (CV_IT)((l + shift) & (CV_VL - 1));
    return _mm512_loadu_si512((const void *)t);
}

/* applies with unit column stride when an input and an output row each fit one vector */
static inline int FI(vec_ok)(const fg_conv2d_shape *s)
{
    return s->sw == 1 && s->w <= CV_VL && s->ow <= CV_VL && s->kw <= CV_MAXTAB;
}

static void FI(im2col_vec)(const fg_conv2d_shape *s, int64_t cg, const T *x, int64_t xs,
                           int64_t nimg, T *col, int64_t ld)
{
    const int64_t H = s->h, W = s->w, OH = s->oh, OW = s->ow, P = OH * OW, HW = H * W;
    const int64_t KK = s->kh * s->kw, kw = s->kw;
    __m512i idx[CV_MAXTAB];
    CV_MASK zm[CV_MAXTAB];
    for (int64_t j = 0; j < kw; j++) {
        const int64_t woff = j * s->dw - s->pw;
        int64_t lo, hi;
        col_range(woff, 1, W, OW, &lo, &hi);
        zm[j] = FI(lanes)(lo, hi);          /* output columns whose input lies in the row */
        idx[j] = FI(shift_idx)(woff);
    }
    const CV_MASK lm = FI(lanes)(0, W), sm = FI(lanes)(0, OW);
    for (int64_t n = 0; n < nimg; n++) {
        for (int64_t c = 0; c < cg; c++) {
            const T *xc = x + n * xs + c * HW;
            for (int64_t i = 0; i < s->kh; i++) {
                const int64_t ioff = i * s->dh - s->ph;
                T *dst = col + (c * KK + i * kw) * ld + n * P;
                for (int64_t oy = 0; oy < OH; oy++, dst += OW) {
                    const int64_t ih = oy * s->sh + ioff;
                    if (ih < 0 || ih >= H) {
                        for (int64_t j = 0; j < kw; j++) CV_STM(dst + j * ld, sm, CV_ZERO());
                        continue;
                    }
                    const CV_V row = CV_LDM(lm, xc + ih * W);
                    for (int64_t j = 0; j < kw; j++)
                        CV_STM(dst + j * ld, sm, CV_PERMZ(zm[j], idx[j], row));
                }
            }
        }
    }
}

/* col2im as a gather: input row ih of channel c sums, over the kernel offsets (i, j) in
 * order, the permuted output rows that map onto it, and is stored once (gx written, not
 * accumulated).  The same additions in the same order as the scatter form from zero:
 * the same bits. */
static void FI(col2im_vec)(const fg_conv2d_shape *s, int64_t cg, const T *col, int64_t ld,
                           int64_t nimg, T *gx, int64_t gxs)
{
    const int64_t H = s->h, W = s->w, OH = s->oh, OW = s->ow, P = OH * OW, HW = H * W;
    const int64_t KK = s->kh * s->kw, kw = s->kw, kh = s->kh;
    __m512i idx[CV_MAXTAB];
    CV_MASK zm[CV_MAXTAB];
    for (int64_t j = 0; j < kw; j++) {
        const int64_t woff = j * s->dw - s->pw;
        /* lane l is input column l, fed by output column l - woff when that is in [0, OW) */
        zm[j] = FI(lanes)(woff, OW + woff) & FI(lanes)(0, W);
        idx[j] = FI(shift_idx)(-woff);
    }
    const CV_MASK lm = FI(lanes)(0, OW), sm = FI(lanes)(0, W);
    for (int64_t n = 0; n < nimg; n++) {
        for (int64_t c = 0; c < cg; c++) {
            const T *cb = col + c * KK * ld + n * P;
            T *out = gx + n * gxs + c * HW;
            for (int64_t ih = 0; ih < H; ih++, out += W) {
                CV_V acc = CV_ZERO();
                for (int64_t i = 0; i < kh; i++) {
                    const int64_t t = ih - (i * s->dh - s->ph);
                    if (t < 0) continue;
                    int64_t oy = t;
                    if (s->sh > 1) {
                        if (t % s->sh) continue;
                        oy = t / s->sh;
                    }
                    if (oy >= OH) continue;
                    const T *r = cb + i * kw * ld + oy * OW;
                    for (int64_t j = 0; j < kw; j++, r += ld)
                        if (zm[j]) acc = CV_ADD(acc, CV_PERMZ(zm[j], idx[j], CV_LDM(lm, r)));
                }
                CV_STM(out, sm, acc);
            }
        }
    }
}
#undef CV_MAXTAB
#if !CV_F64
/* ---- Winograd F(2x2, 3x3), float32: 3x3 kernel, unit stride and dilation, one group,
 * input and output rows of at most 16 columns (so one tile row is one vector of up to
 * 8 tiles).  For a 2x2 output tile and its 4x4 input patch d (top-left at
 * (2 ty - ph, 2 tx - pw), zero outside the image):  y = A^T [U (.) (B^T d B)] A with
 * U = G w G^T, so the 16 products per tile replace 36 multiply-adds, and the sums over
 * input channels are 16 GEMMs (c_out x c_in) @ (c_in x tiles).
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * The transforms run on vectors of the tiles of one tile row (lane = tile column). */

/* U (16, c_out, c_in) = G w G^T of w (c_out, c_in, 3, 3); flip: w is read as the kernel
 * of the input gradient (wt[c][o][i][j] = w[o][c][2 - i][2 - j], c_in and c_out swapped
 * in the arguments' meaning: U is then (16, c_in of w, c_out of w)) */
static void FI(wino_weights)(int64_t cout, int64_t cin, const T *w, int flip, T *U)
{
    const int64_t no = flip ? cin : cout, ni = flip ? cout : cin;
    for (int64_t o = 0; o < no; o++)
        for (int64_t c = 0; c < ni; c++) {
            double g[3][3], t[4][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    g[i][j] = flip ? (double)w[((c * cin + o) * 3 + 2 - i) * 3 + 2 - j]
                                   : (double)w[((o * cin + c) * 3 + i) * 3 + j];
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[0][j];
                t[1][j] = 0.5 * (g[0][j] + g[1][j] + g[2][j]);
                t[2][j] = 0.5 * (g[0][j] - g[1][j] + g[2][j]);
                t[3][j] = g[2][j];
            }
            for (int r = 0; r < 4; r++) {
                const double u[4] = {t[r][0], 0.5 * (t[r][0] + t[r][1] + t[r][2]),
                                     0.5 * (t[r][0] - t[r][1] + t[r][2]), t[r][2]};
                for (int k = 0; k < 4; k++) U[((r * 4 + k) * no + o) * ni + c] = (T)u[k];
            }
        }
}

/* input and output rows of at most one vector */
static inline int FI(wino_ok)(int64_t W, int64_t OW)
{
    return W <= CV_VL && OW <= CV_VL;
}

/* floats of workspace wino_chunk needs for m images */
static inline int64_t FI(wino_ws)(int64_t m, int64_t cin, int64_t cout, int64_t OH, int64_t OW)
{
    const int64_t ld = (m * ((OH + 1) / 2) * ((OW + 1) / 2) + 15) / 16 * 16;
    return 16 * (cin + cout) * ld;
}

/* input transform of m images x + b * xs (cin, H, W): V[e][c][b * TT + ty * TX + tx] =
 * (B^T d B)[e] of the tile's 4x4 patch, e = 4 r + k (row stride of V: ld) */
static void FI(wino_in)(int64_t m, int64_t cin, int64_t H, int64_t W, const T *x, int64_t xs,
                        int64_t TY, int64_t TX, int64_t ph, int64_t pw, T *V, int64_t ld)
{
    const int64_t TT = TY * TX, HW = H * W, ev = cin * ld;
    const CV_MASK lw = FI(lanes)(0, W), one = FI(lanes)(0, TX), two = FI(lanes)(0, 2 * TX);
    __m512i ik[4];
    CV_MASK zk[4];
    for (int k = 0; k < 4; k++) {
        CV_IT t[CV_VL];
        unsigned zmask = 0;
        for (int l = 0; l < CV_VL; l++) {
            const int64_t tx = l < TX ? l : l - TX, iw = 2 * tx + k - pw;
            t[l] = (CV_IT)((iw & (CV_VL - 1)) + (l < TX ? 0 : CV_VL));
            if (l < 2 * TX && iw >= 0 && iw < W) zmask |= 1u << l;
        }
        ik[k] = _mm512_loadu_si512((const void *)t);
        zk[k] = (CV_MASK)zmask;
    }
    for (int64_t b = 0; b < m; b++)
        for (int64_t c = 0; c < cin; c++) {
            const T *xc = x + b * xs + c * HW;
            T *vc = V + c * ld + b * TT;
            for (int64_t ty = 0; ty < TY; ty += 2) {
                const int pair = ty + 1 < TY;
                CV_V R[6];
                for (int r = 0; r < 6; r++) {
                    const int64_t ih = 2 * ty + r - ph;
                    R[r] = (ih >= 0 && ih < H && (r < 4 || pair)) ? CV_LDM(lw, xc + ih * W) : CV_ZERO();
                }
                const CV_V Sa[4] = {_mm512_sub_ps(R[0], R[2]), _mm512_add_ps(R[1], R[2]),
                                    _mm512_sub_ps(R[2], R[1]), _mm512_sub_ps(R[1], R[3])};
                const CV_V Sb[4] = {_mm512_sub_ps(R[2], R[4]), _mm512_add_ps(R[3], R[4]),
                                    _mm512_sub_ps(R[4], R[3]), _mm512_sub_ps(R[3], R[5])};
                const CV_MASK sm = pair ? two : one;
                T *vt = vc + ty * TX;
                for (int r = 0; r < 4; r++) {
                    const CV_V p0 = _mm512_maskz_permutex2var_ps(zk[0], Sa[r], ik[0], Sb[r]);
                    const CV_V p1 = _mm512_maskz_permutex2var_ps(zk[1], Sa[r], ik[1], Sb[r]);
                    const CV_V p2 = _mm512_maskz_permutex2var_ps(zk[2], Sa[r], ik[2], Sb[r]);
                    const CV_V p3 = _mm512_maskz_permutex2var_ps(zk[3], Sa[r], ik[3], Sb[r]);
                    CV_STM(vt + (4 * r + 0) * ev, sm, _mm512_sub_ps(p0, p2));
                    CV_STM(vt + (4 * r + 1) * ev, sm, _mm512_add_ps(p1, p2));
                    CV_STM(vt + (4 * r + 2) * ev, sm, _mm512_sub_ps(p2, p1));
                    CV_STM(vt + (4 * r + 3) * ev, sm, _mm512_sub_ps(p1, p3));
                }
            }
        }
}

/* y + b * ys (cout, OH, OW) = conv of x + b * xs (cin, H, W) for m images (+ bias);
 * gnt: threads for the GEMMs (more than 1 when the images are fewer than the threads).
 * Two tile rows share a vector (lanes [0, TX): tile row ty, [TX, 2 TX): ty + 1; TX <= 8),
 * so the transforms use 14 of 16 lanes for 14-column planes, and the input transform runs
 * B^T across rows on whole image rows before the lane permutes pick each tile's columns
 * (both steps are linear; out-of-image columns are zero in every row, so masking after
 * the row step is exact). */
static int FI(wino_chunk)(int64_t m, int64_t cin, int64_t H, int64_t W, const T *x, int64_t xs,
                          int64_t cout, int64_t OH, int64_t OW, int64_t ph, int64_t pw,
                          const T *U, const T *bias, T *y, int64_t ys, T *ws, int gnt)
{
    const int64_t TY = (OH + 1) / 2, TX = (OW + 1) / 2, TT = TY * TX, P = OH * OW;
    const int64_t ld = (m * TT + 15) / 16 * 16, ev = cin * ld, em = cout * ld;
    T *V = ws, *M = ws + 16 * ev;
    const CV_MASK one = FI(lanes)(0, TX), two = FI(lanes)(0, 2 * TX), lo = FI(lanes)(0, OW);
    FI(wino_in)(m, cin, H, W, x, xs, TY, TX, ph, pw, V, ld);
    /* columns past m * TT never reach y; zero them so the GEMM reads numbers */
    if (ld > m * TT)
        for (int64_t r = 0; r < 16 * cin; r++)
            for (int64_t t = m * TT; t < ld; t++) V[r * ld + t] = 0;
    fg_gemm_desc d;
    d.transa = 0; d.transb = 0;
    d.m = cout; d.n = ld; d.k = cin;
    d.alpha = 1.0; d.beta = 0.0;
    d.a = U; d.lda = cin; d.b = V; d.ldb = ld; d.c = M; d.ldc = ld;
    d.bias = NULL; d.act = FG_ACT_NONE;
    d.batch = 16; d.stride_a = cout * cin; d.stride_b = ev; d.stride_c = em;
    const int rc = fg_gemm_f32(&d, gnt);
    if (rc != FG_OK) return rc;
    /* output transform; lane ox of an output row of tile row ty (+ 1): tile ox / 2 (+ TX),
     * column ox % 2 of the tile (the second source holds the odd columns) */
    CV_IT i0[CV_VL], i1[CV_VL];
    for (int l = 0; l < CV_VL; l++) {
        i0[l] = (CV_IT)(((l / 2) & (CV_VL - 1)) + (l % 2) * CV_VL);
        i1[l] = (CV_IT)(((l / 2 + TX) & (CV_VL - 1)) + (l % 2) * CV_VL);
    }
    const __m512i ii0 = _mm512_loadu_si512((const void *)i0), ii1 = _mm512_loadu_si512((const void *)i1);
    for (int64_t b = 0; b < m; b++)
        for (int64_t o = 0; o < cout; o++) {
            const T *mo = M + o * ld + b * TT;
            T *yo = y + b * ys + o * P;
            const CV_V bv = bias ? _mm512_set1_ps(bias[o]) : CV_ZERO();
            for (int64_t ty = 0; ty < TY; ty += 2) {
                const int pair = ty + 1 < TY;
                const CV_MASK lm = pair ? two : one;
                CV_V sr[4][2];
                for (int r = 0; r < 4; r++) {
                    const T *mr = mo + ty * TX + 4 * r * em;
                    const CV_V m0 = CV_LDM(lm, mr), m1 = CV_LDM(lm, mr + em);
                    const CV_V m2 = CV_LDM(lm, mr + 2 * em), m3 = CV_LDM(lm, mr + 3 * em);
                    sr[r][0] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
                    sr[r][1] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
                }
                const CV_V e00 = _mm512_add_ps(_mm512_add_ps(sr[0][0], sr[1][0]), sr[2][0]);
                const CV_V e01 = _mm512_add_ps(_mm512_add_ps(sr[0][1], sr[1][1]), sr[2][1]);
                const CV_V e10 = _mm512_sub_ps(_mm512_sub_ps(sr[1][0], sr[2][0]), sr[3][0]);
                const CV_V e11 = _mm512_sub_ps(_mm512_sub_ps(sr[1][1], sr[2][1]), sr[3][1]);
                const int64_t oy = 2 * ty;
                CV_STM(yo + oy * OW, lo, _mm512_add_ps(_mm512_permutex2var_ps(e00, ii0, e01), bv));
                if (oy + 1 < OH)
                    CV_STM(yo + (oy + 1) * OW, lo, _mm512_add_ps(_mm512_permutex2var_ps(e10, ii0, e11), bv));
                if (pair) {
                    CV_STM(yo + (oy + 2) * OW, lo, _mm512_add_ps(_mm512_permutex2var_ps(e00, ii1, e01), bv));
                    if (oy + 3 < OH)
                        CV_STM(yo + (oy + 3) * OW, lo, _mm512_add_ps(_mm512_permutex2var_ps(e10, ii1, e11), bv));
                }
            }
        }
    return FG_OK;
}

/* Weight gradient.  The forward's tile sum y = A^T [(G w G^T) (.) (B^T d B)] A gives
 *   dL/dw = G^T [ sum over tiles (A dy A^T) (.) (B^T d B) ] G
 * (dy the tile's 2x2 output gradient, zero past the output's edge): per transform
 * element e one GEMM S_e (cin x cout) += V_e (cin x tiles) @ Z_e^T, Z = A dy A^T, then
 * one 4x4 -> 3x3 transform per (o, c) at the end (wino_gw_out).
 *   A = [1 0; 1 1; 1 -1; 0 -1] */

/* part (16, cin, cout) += the tile sums of m images (x: cin channels, g: cout channels of
 * OH x OW); ws as for wino_chunk */
static int FI(wino_gw_chunk)(int64_t m, int64_t cin, int64_t H, int64_t W, const T *x, int64_t xs,
                             int64_t cout, int64_t OH, int64_t OW, int64_t ph, int64_t pw,
                             const T *g, int64_t gs, T *part, T *gbp, T *ws, int gnt)
{
    const int64_t TY = (OH + 1) / 2, TX = (OW + 1) / 2, TT = TY * TX, P = OH * OW;
    const int64_t ld = (m * TT + 15) / 16 * 16, ev = cin * ld, ez = cout * ld;
    T *V = ws, *Z = ws + 16 * ev;
    FI(wino_in)(m, cin, H, W, x, xs, TY, TX, ph, pw, V, ld);
    /* Z[e][o][b * TT + ty * TX + tx]: rows of dy first (A across rows on whole rows), then
     * the tile columns 2 tx, 2 tx + 1 by lane permutes (two tile rows per vector) */
    const CV_MASK lg = FI(lanes)(0, OW), one = FI(lanes)(0, TX), two = FI(lanes)(0, 2 * TX);
    __m512i ij[2];
    CV_MASK zj[2];
    for (int k = 0; k < 2; k++) {
        CV_IT t[CV_VL];
        unsigned zmask = 0;
        for (int l = 0; l < CV_VL; l++) {
            const int64_t tx = l < TX ? l : l - TX, ox = 2 * tx + k;
            t[l] = (CV_IT)((ox & (CV_VL - 1)) + (l < TX ? 0 : CV_VL));
            if (l < 2 * TX && ox < OW) zmask |= 1u << l;
        }
        ij[k] = _mm512_loadu_si512((const void *)t);
        zj[k] = (CV_MASK)zmask;
    }
    for (int64_t b = 0; b < m; b++)
        for (int64_t o = 0; o < cout; o++) {
            const T *go = g + b * gs + o * P;
            T *zo = Z + o * ld + b * TT;
            for (int64_t ty = 0; ty < TY; ty += 2) {
                const int pair = ty + 1 < TY;
                CV_V R[4];
                for (int r = 0; r < 4; r++) {
                    const int64_t oy = 2 * ty + r;
                    R[r] = (oy < OH && (r < 2 || pair)) ? CV_LDM(lg, go + oy * OW) : CV_ZERO();
                }
                const CV_V Ya[4] = {R[0], _mm512_add_ps(R[0], R[1]), _mm512_sub_ps(R[0], R[1]),
                                    _mm512_sub_ps(CV_ZERO(), R[1])};
                const CV_V Yb[4] = {R[2], _mm512_add_ps(R[2], R[3]), _mm512_sub_ps(R[2], R[3]),
                                    _mm512_sub_ps(CV_ZERO(), R[3])};
                const CV_MASK sm = pair ? two : one;
                T *zt = zo + ty * TX;
                for (int r = 0; r < 4; r++) {
                    const CV_V c0 = _mm512_maskz_permutex2var_ps(zj[0], Ya[r], ij[0], Yb[r]);
                    const CV_V c1 = _mm512_maskz_permutex2var_ps(zj[1], Ya[r], ij[1], Yb[r]);
                    CV_STM(zt + (4 * r + 0) * ez, sm, c0);
                    CV_STM(zt + (4 * r + 1) * ez, sm, _mm512_add_ps(c0, c1));
                    CV_STM(zt + (4 * r + 2) * ez, sm, _mm512_sub_ps(c0, c1));
                    CV_STM(zt + (4 * r + 3) * ez, sm, _mm512_sub_ps(CV_ZERO(), c1));
                }
            }
        }
    /* bias gradient: Z[5] = (A dy A^T)[1][1] is the sum of the tile's four values */
    if (gbp) {
        const int64_t nt = m * TT;
        for (int64_t o = 0; o < cout; o++) {
            const T *z = Z + 5 * ez + o * ld;
            CV_V a0 = CV_ZERO(), a1 = CV_ZERO();
            int64_t t = 0;
            for (; t + 2 * CV_VL <= nt; t += 2 * CV_VL) {
                a0 = _mm512_add_ps(a0, CV_LD(z + t));
                a1 = _mm512_add_ps(a1, CV_LD(z + t + CV_VL));
            }
            for (; t < nt; t += CV_VL) a0 = _mm512_add_ps(a0, CV_LDM(FI(lanes)(0, nt - t), z + t));
            gbp[o] += _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
        }
    }
    /* columns past m * TT: zero in both operands (0 * garbage could be NaN) */
    if (ld > m * TT) {
        for (int64_t r = 0; r < 16 * cin; r++)
            for (int64_t t = m * TT; t < ld; t++) V[r * ld + t] = 0;
        for (int64_t r = 0; r < 16 * cout; r++)
            for (int64_t t = m * TT; t < ld; t++) Z[r * ld + t] = 0;
    }
    fg_gemm_desc d;
    d.transa = 0; d.transb = 1;
    d.m = cin; d.n = cout; d.k = ld;
    d.alpha = 1.0; d.beta = 1.0;
    d.a = V; d.lda = ld; d.b = Z; d.ldb = ld; d.c = part; d.ldc = cout;
    d.bias = NULL; d.act = FG_ACT_NONE;
    d.batch = 16; d.stride_a = ev; d.stride_b = ez; d.stride_c = cin * cout;
    return fg_gemm_f32(&d, gnt);
}

/* gw (cout, cin, 3, 3) = G^T S G of S (16, cin, cout) */
static void FI(wino_gw_out)(int64_t cin, int64_t cout, const T *S, T *gw)
{
    for (int64_t o = 0; o < cout; o++)
        for (int64_t c = 0; c < cin; c++) {
            double q[4][4], t[3][4];
            for (int e = 0; e < 16; e++) q[e / 4][e % 4] = (double)S[(e * cin + c) * cout + o];
            for (int k = 0; k < 4; k++) {
                t[0][k] = q[0][k] + 0.5 * (q[1][k] + q[2][k]);
                t[1][k] = 0.5 * (q[1][k] - q[2][k]);
                t[2][k] = 0.5 * (q[1][k] + q[2][k]) + q[3][k];
            }
            T *dst = gw + (o * cin + c) * 9;
            for (int i = 0; i < 3; i++) {
                dst[i * 3 + 0] = (T)(t[i][0] + 0.5 * (t[i][1] + t[i][2]));
                dst[i * 3 + 1] = (T)(0.5 * (t[i][1] - t[i][2]));
                dst[i * 3 + 2] = (T)(0.5 * (t[i][1] + t[i][2]) + t[i][3]);
            }
        }
}
#endif
#undef CV_VL
#undef CV_V
#undef CV_MASK
#undef CV_LD
#undef CV_ST
#undef CV_LDM
#undef CV_STM
#undef CV_ZERO
#undef CV_ADD
#undef CV_PERMZ
#undef CV_IT
#else
static inline void FI(zero)(T *d, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] = 0;
}

static inline void FI(copy)(T *restrict d, const T *restrict s, int64_t n)
{
    if (n >= 256) { memcpy(d, s, (size_t)n * sizeof(T)); return; }
    for (int64_t i = 0; i < n; i++) d[i] = s[i];
}

static inline void FI(acc)(T *restrict d, const T *restrict s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] += s[i];
}
#endif

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
#if CV_ISA_AVX512_BODY && (defined(__x86_64__) || defined(__i386__))
    if (FI(vec_ok)(s)) {
        FI(im2col_vec)(s, cg, x, xs, nimg, col, ld);
        return;
    }
#endif
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
                        if (qe > qs) FI(acc)(o + qs, src + qs, qe - qs);
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
                            if (hi > lo) FI(acc)(r + lo, d + lo, hi - lo);
                        } else {
                            for (int64_t ox = lo; ox < hi; ox++) r[ox * s->sw] += d[ox];
                        }
                    }
                }
            }
        }
    }
}

/* Several-images-per-GEMM path (P = oh * ow positions per image, L = nimg * P columns):
 * y + b * ys + o * P  =  columns [b * P, (b + 1) * P) of row o of tmp (og, L) + bias[o]
 * (bias may be NULL) */
static CV_NOINLINE void FI(cols_out)(const T *tmp, int64_t L, int64_t nimg, int64_t og, int64_t P,
                                     const T *bias, T *y, int64_t ys)
{
    for (int64_t b = 0; b < nimg; b++) {
        for (int64_t o = 0; o < og; o++) {
            const T *src = tmp + o * L + b * P;
            T *dst = y + b * ys + o * P;
            if (!bias) {
                FI(copy)(dst, src, P);
            } else {
                const T bv = bias[o];
                for (int64_t p = 0; p < P; p++) dst[p] = src[p] + bv;
            }
        }
    }
}

/* the reverse gather: row o of gch (og, L) = g + b * gs + o * P for each image b, and
 * sums[o] += the sum of each such row (per image, accumulated in double; sums may be NULL) */
static CV_NOINLINE void FI(cols_in)(const T *g, int64_t gs, int64_t nimg, int64_t og, int64_t P,
                                    T *gch, int64_t L, T *sums)
{
    for (int64_t b = 0; b < nimg; b++) {
        for (int64_t o = 0; o < og; o++) {
            const T *src = g + b * gs + o * P;
            FI(copy)(gch + o * L + b * P, src, P);
            if (sums) sums[o] += (T)F(sum_d)(src, P);
        }
    }
}

/* ---- depthwise planes, stride 1 and dilation 1 ------------------------------------------
 * The plane is copied into a zero-padded buffer of Hp = oh + kh - 1 rows of Wp = ow + kw - 1
 * (top/left padding pt/pl; what lies outside is dropped); an output row is then a run of
 * the padded buffer, and so is every kernel tap's view of the whole output at row stride
 * Wp: each tap is one long contiguous multiply-add (vectorised on every SIMD path), not
 * kh * kw * oh short row loops.  The Wp - ow extra columns per row are computed and
 * thrown away. */
/* returns 0 when a copied value is infinite or nan (x * 0 is then nan), else 1 */
static inline int FI(dw_pad)(const T *in, int64_t ih, int64_t iw, int64_t pt, int64_t pl,
                             int64_t Hp, int64_t Wp, int64_t slack, T *restrict buf)
{
    FI(zero)(buf, Hp * Wp + slack);
    T chk = 0;
    for (int64_t r = 0; r < ih; r++) {
        const int64_t pr = r + pt;
        if (pr < 0 || pr >= Hp) continue;
        const int64_t c0 = pl < 0 ? -pl : 0, c1 = iw < Wp - pl ? iw : Wp - pl;
        T *restrict d = buf + pr * Wp + pl;
        const T *restrict src = in + r * iw;
        for (int64_t c = c0; c < c1; c++) {
            d[c] = src[c];
            chk += src[c] * (T)0;
        }
    }
    return chk == chk;
}

/* out (oh, ow) = bias + correlation of in (ih, iw), padded by pt/pl, with w (kh, kw)
 * (flipped when `flip`: the input gradient).  buf: dw_plane_ws elements. */
static inline int64_t FI(dw_plane_ws)(int64_t oh, int64_t ow, int64_t kh, int64_t kw)
{
    const int64_t Wp = ow + kw - 1;
    return (oh + kh - 1) * Wp + kw + oh * Wp;
}

static CV_NOINLINE void FI(dw_plane)(const T *in, int64_t ih, int64_t iw, int64_t pt,
                                     int64_t pl, int64_t oh, int64_t ow, int64_t kh,
                                     int64_t kw, const T *w, int flip, T bias, T *out, T *buf)
{
    const int64_t Hp = oh + kh - 1, Wp = ow + kw - 1, L = oh * Wp;
    T *restrict xp = buf;
    T *restrict acc = buf + Hp * Wp + kw;
    FI(dw_pad)(in, ih, iw, pt, pl, Hp, Wp, kw, xp);
    for (int64_t p = 0; p < L; p++) acc[p] = bias;
    for (int64_t i = 0; i < kh; i++)
        for (int64_t j = 0; j < kw; j++) {
            const T wv = flip ? w[(kh - 1 - i) * kw + (kw - 1 - j)] : w[i * kw + j];
            const T *restrict src = xp + i * Wp + j;
            for (int64_t p = 0; p < L; p++) acc[p] += wv * src[p];
        }
    for (int64_t r = 0; r < oh; r++) FI(copy)(out + r * ow, acc + r * Wp, ow);
}

/* gw (kh, kw) += sum over positions of g (oh, ow) times the in-plane (ih, iw, padded by
 * pt/pl) under each tap.  buf: dw_plane_ws elements.  The runs also pass the Wp - ow
 * columns between output rows, where g is zero: exact unless the plane holds an inf or
 * nan (0 * inf is nan), so then it returns 0 without touching gw (the caller takes the
 * row loops). */
static CV_NOINLINE int FI(dw_plane_gw)(const T *in, int64_t ih, int64_t iw, int64_t pt,
                                       int64_t pl, const T *g, int64_t oh, int64_t ow,
                                       int64_t kh, int64_t kw, T *gw, T *buf)
{
    const int64_t Hp = oh + kh - 1, Wp = ow + kw - 1, L = oh * Wp;
    T *restrict xp = buf;
    T *restrict gp = buf + Hp * Wp + kw;
    if (!FI(dw_pad)(in, ih, iw, pt, pl, Hp, Wp, kw, xp)) return 0;
    for (int64_t r = 0; r < oh; r++) {          /* g at row stride Wp, zeros between rows */
        FI(copy)(gp + r * Wp, g + r * ow, ow);
        FI(zero)(gp + r * Wp + ow, Wp - ow);
    }
    if (kh == 3 && kw == 3) {
        /* the nine taps in one pass: nine independent sums, not one chain per tap */
        const T *restrict x0 = xp, *restrict x1 = xp + Wp, *restrict x2 = xp + 2 * Wp;
        T a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3, a4, a5, a6, a7, a8)
        for (int64_t p = 0; p < L; p++) {
            const T gv = gp[p];
            a0 += gv * x0[p]; a1 += gv * x0[p + 1]; a2 += gv * x0[p + 2];
            a3 += gv * x1[p]; a4 += gv * x1[p + 1]; a5 += gv * x1[p + 2];
            a6 += gv * x2[p]; a7 += gv * x2[p + 1]; a8 += gv * x2[p + 2];
        }
        gw[0] += a0; gw[1] += a1; gw[2] += a2; gw[3] += a3; gw[4] += a4;
        gw[5] += a5; gw[6] += a6; gw[7] += a7; gw[8] += a8;
        return 1;
    }
    for (int64_t i = 0; i < kh; i++)
        for (int64_t j = 0; j < kw; j++) {
            const T *restrict src = xp + i * Wp + j;
            /* vector partial sums (the SIMD path's width), added in a fixed order: the
             * same bits on every run on a given SIMD path */
            T acc = 0;
#pragma omp simd reduction(+ : acc)
            for (int64_t p = 0; p < L; p++) acc += gp[p] * src[p];
            gw[i * kw + j] += acc;
        }
    return 1;
}
