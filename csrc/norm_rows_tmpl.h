/* Layer-norm rows (one affine weight per element: row norm with s == 1) for one SIMD path.
 * Included by norm_tmpl.h once per path between FG_ISA_BEGIN and FG_ISA_END, with T, SUF
 * and RN_ISA (_base, _avx2, _avx512) defined; RI(name) adds the type and path suffixes.
 *
 * Row statistics are sums in the element type over two vectors of 64 bytes of partial
 * sums (GCC/clang vector extensions: one AVX-512 register, two AVX2 or four SSE ones),
 * whose lanes are folded pairwise at the end: each lane adds D / (2 RN_VL) terms, so the
 * rounding error grows with D / 32 + 5 (float32) rather than D.  A second pass
 * over the row (in cache) sums d = x - mean and d^2, which do not cancel; they correct
 * the mean by mean(d) and give the variance mean(d^2) - mean(d)^2.  The
 * backward's two reductions, sum w g and sum w g xhat, share one pass over the row; the
 * weight/bias-gradient partial sums (double, one block per thread range) and gx are
 * elementwise passes. */
#define RN_VL ((int)(64 / sizeof(T)))     /* lanes of one partial-sum vector */
#if defined(__GNUC__) || defined(__clang__)
typedef T RI(rn_vec) __attribute__((vector_size(64)));
#define RN_LOAD(v, p) memcpy(&(v), (p), 64)
#else
typedef struct { T e[64 / sizeof(T)]; } RI(rn_vec);    /* no vector extensions: lanes */
#endif

/* the lanes of v summed pairwise */
static inline T RI(rn_fold)(const RI(rn_vec) *v)
{
    T a[64 / sizeof(T)];
    memcpy(a, v, sizeof a);
    for (int h = RN_VL / 2; h > 0; h /= 2)
        for (int u = 0; u < h; u++) a[u] += a[u + h];
    return a[0];
}

#if defined(__GNUC__) || defined(__clang__)
/* A row reduction: two partial-sum vectors over the row, then the rest one by one into a
 * scalar sum.  BODY_V(acc, j) adds the terms of elements j .. j + RN_VL - 1 to the vector
 * acc, BODY_S(acc, j) the term of element j to the scalar acc. */
#define RN_REDUCE(n, BODY_V, BODY_S, out)                                               \
    do {                                                                               \
        RI(rn_vec) acc0 = {0}, acc1 = {0};                                             \
        T rest = 0;                                                                    \
        int64_t j = 0;                                                                 \
        for (; j + 2 * RN_VL <= (n); j += 2 * RN_VL) {                                 \
            BODY_V(acc0, j);                                                           \
            BODY_V(acc1, j + RN_VL);                                                   \
        }                                                                              \
        if (j + RN_VL <= (n)) { BODY_V(acc0, j); j += RN_VL; }                         \
        for (; j < (n); j++) BODY_S(rest, j);                                          \
        acc0 += acc1;                                                                  \
        (out) = RI(rn_fold)(&acc0) + rest;                                             \
    } while (0)
#else
#define RN_REDUCE(n, BODY_V, BODY_S, out)                                               \
    do {                                                                               \
        T rest = 0;                                                                    \
        for (int64_t j = 0; j < (n); j++) BODY_S(rest, j);                             \
        (out) = rest;                                                                  \
    } while (0)
#endif

#define RN_SUM_V(acc, j) do { RI(rn_vec) v_; RN_LOAD(v_, x + (j)); acc += v_; } while (0)
#define RN_SUM_S(acc, j) acc += x[j]

/* sum x */
static inline T RI(rn_sum)(const T *x, int64_t n)
{
    T s;
    RN_REDUCE(n, RN_SUM_V, RN_SUM_S, s);
    return s;
}

/* d1 = sum (x - m) and d2 = sum (x - m)^2 in one pass */
static inline void RI(rn_dev)(const T *x, int64_t n, T m, T *d1, T *d2)
{
#if defined(__GNUC__) || defined(__clang__)
    RI(rn_vec) a1 = {0}, a2 = {0};
    T r1 = 0, r2 = 0;
    int64_t j = 0;
    for (; j + RN_VL <= n; j += RN_VL) {
        RI(rn_vec) v;
        RN_LOAD(v, x + j);
        v -= m;
        a1 += v;
        a2 += v * v;
    }
    for (; j < n; j++) {
        const T e = x[j] - m;
        r1 += e;
        r2 += e * e;
    }
    *d1 = RI(rn_fold)(&a1) + r1;
    *d2 = RI(rn_fold)(&a2) + r2;
#else
    T r1 = 0, r2 = 0;
    for (int64_t j = 0; j < n; j++) {
        const T e = x[j] - m;
        r1 += e;
        r2 += e * e;
    }
    *d1 = r1;
    *d2 = r2;
#endif
}

/* rows [r0, r1) of x (rows, D): mean, rstd and y = (x - mean) rstd w + b, w and b indexed
 * from (r % groups) * D */
static void RI(rn_rows_fwd)(const T *x, T *y, int64_t r0, int64_t r1, int64_t D, int64_t groups,
                            const T *w, const T *b, double eps, T *omean, T *orstd)
{
    for (int64_t r = r0; r < r1; r++) {
        const T *xr = x + r * D;
        T *yr = y + r * D;
        /* corrected two-pass statistics: with d = x - m0 about the first mean m0, the mean
         * is m0 + mean(d) and the variance mean(d^2) - mean(d)^2 (a constant row gets that
         * constant as its mean, variance 0 and a normalised row of 0) */
        T m = D > 0 ? RI(rn_sum)(xr, D) / (T)D : (T)0;
        double v = 0.0;
        if (D > 0) {
            T d1, d2;
            RI(rn_dev)(xr, D, m, &d1, &d2);
            const double md = (double)d1 / (double)D;
            v = (double)d2 / (double)D - md * md;
            if (v < 0) v = 0;
            m += d1 / (T)D;
        }
        const double rs = 1.0 / sqrt(v + eps);
        omean[r] = m;
        orstd[r] = (T)rs;
        const int64_t a0 = (r % groups) * D;
        const T trs = (T)rs;
        const T *wr = w ? w + a0 : NULL, *br = b ? b + a0 : NULL;
        if (wr && br) for (int64_t j = 0; j < D; j++) yr[j] = (xr[j] - m) * (trs * wr[j]) + br[j];
        else if (wr) for (int64_t j = 0; j < D; j++) yr[j] = (xr[j] - m) * (trs * wr[j]);
        else if (br) for (int64_t j = 0; j < D; j++) yr[j] = (xr[j] - m) * trs + br[j];
        else for (int64_t j = 0; j < D; j++) yr[j] = (xr[j] - m) * trs;
    }
}

/* sum w g and sum w g xhat over one row, xhat = (x - m) rs; with W 0 the weights are 1 */
#define RN_BWD_V(W)                                                                     \
    do {                                                                                \
        RI(rn_vec) a1 = {0}, a2 = {0};                                                  \
        T r1 = 0, r2 = 0;                                                               \
        int64_t j = 0;                                                                  \
        for (; j + RN_VL <= D; j += RN_VL) {                                            \
            RI(rn_vec) xv, gv;                                                          \
            RN_LOAD(xv, xr + j);                                                        \
            RN_LOAD(gv, gr + j);                                                        \
            if (W) { RI(rn_vec) wv; RN_LOAD(wv, wr + j); gv *= wv; }                    \
            a1 += gv;                                                                   \
            a2 += gv * ((xv - m) * rs);                                                 \
        }                                                                               \
        for (; j < D; j++) {                                                            \
            const T wg = W ? wr[j] * gr[j] : gr[j];                                     \
            r1 += wg;                                                                   \
            r2 += wg * ((xr[j] - m) * rs);                                              \
        }                                                                               \
        s1 = RI(rn_fold)(&a1) + r1;                                                     \
        s2 = RI(rn_fold)(&a2) + r2;                                                     \
    } while (0)
#define RN_BWD_S(W)                                                                     \
    do {                                                                                \
        s1 = 0; s2 = 0;                                                                 \
        for (int64_t j = 0; j < D; j++) {                                               \
            const T wg = W ? wr[j] * gr[j] : gr[j];                                     \
            s1 += wg;                                                                   \
            s2 += wg * ((xr[j] - m) * rs);                                              \
        }                                                                               \
    } while (0)
#if defined(__GNUC__) || defined(__clang__)
#define RN_BWD_PASS RN_BWD_V
#else
#define RN_BWD_PASS RN_BWD_S
#endif

/* rows [r0, r1): gx = rstd (w g - mean(w g) - xhat mean(w g xhat)) when gx is given, and
 * the partial sums pw[a] += g xhat, pb[a] += g (a = (r % groups) * D + j) when pw is */
static void RI(rn_rows_bwd)(const T *x, const T *g, const T *mean, const T *rstd, const T *w,
                            T *gx, int64_t r0, int64_t r1, int64_t D, int64_t groups,
                            double *pw0, double *pb0)
{
    for (int64_t r = r0; r < r1; r++) {
        const T *xr = x + r * D, *gr = g + r * D;
        const T m = mean[r], rs = rstd[r];
        const int64_t a0 = (r % groups) * D;
        const T *wr = w ? w + a0 : NULL;
        double *pw = pw0 ? pw0 + a0 : NULL, *pb = pb0 ? pb0 + a0 : NULL;
        T s1, s2;
        if (wr) RN_BWD_PASS(1);
        else RN_BWD_PASS(0);
        if (pw)                 /* weight/bias-gradient partial sums of this range */
            for (int64_t j = 0; j < D; j++) {
                pw[j] += (double)(gr[j] * ((xr[j] - m) * rs));
                pb[j] += (double)gr[j];
            }
        if (!gx || D == 0) continue;
        T *o = gx + r * D;
        /* o = rs (w g - m1 - xhat m2) = (rs w) g + e (x - m) + f */
        const double drs = (double)rs;
        const T e = (T)(-drs * drs * ((double)s2 / (double)D));
        const T f = (T)(-drs * ((double)s1 / (double)D));
        if (wr) for (int64_t j = 0; j < D; j++) o[j] = (rs * wr[j]) * gr[j] + (e * (xr[j] - m) + f);
        else for (int64_t j = 0; j < D; j++) o[j] = rs * gr[j] + (e * (xr[j] - m) + f);
    }
}
#undef RN_BWD_PASS
#undef RN_BWD_V
#undef RN_BWD_S
#undef RN_REDUCE
#undef RN_SUM_V
#undef RN_SUM_S
#undef RN_LOAD
#undef RN_VL
