/* BLIS-style GEMM driver template: five loops around the micro-kernel.
 * Included by every ISA file once per dtype after its micro-kernel, with
 * T, MR, NR, MC, KC, NC, FGD_SFX and FGD_FNAME defined.  Uses FGD_N(ukr) and
 * FGD_N(ep).  Optional hooks: FGD_PACKB_T_PANEL(kc, src, ldb, dst) packs one full
 * NR-wide panel of a transposed B; FGD_PACKA_N_PANEL(kc, src, lda, dst) one full
 * MR-high panel of a non-transposed A.
 *
 *   jc (NC cols of C) > pc (KC of k) > [pack B block] > ic (MC rows) > [pack A block]
 *     > jr (NR) > ir (MR) > micro-kernel
 * bias and activation go in with the last pc block; beta with the first.
 */
#include "gemm_tmpl.h"
#include <string.h>

/* op(A) block rows [0, mc) x k [0, kc) (A already offset) -> MR-row panels,
 * panel r holds kc steps of MR values; rows past mc are zero. */
static void FGD_N(pack_a)(int64_t mc, int64_t kc, const T *A, int ta, int64_t lda, T *dst)
{
    for (int64_t r = 0; r < mc; r += MR) {
        const int64_t mr = FGD_MIN(MR, mc - r);
        T *d = dst + r * kc;
        if (ta) {                                  /* op(A)(i, p) = A[p*lda + i] */
            const T *s = A + r;
            if (mr == MR) {
                /* full panels: row p of A is read once, sequentially, for all panels */
                const int64_t nfull = (mc - r) / MR;
                /* chunks of 16 k steps: a panel's destination lines are filled
                 * completely before moving on (panels are a multiple of 4 KB apart
                 * for power-of-two kc, so writes to all panels at once would thrash
                 * one L1 set); the 16 source row segments stay in L1 meanwhile */
                for (int64_t p0 = 0; p0 < kc; p0 += 16) {
                    const int64_t p1 = FGD_MIN(kc, p0 + 16);
                    for (int64_t q = 0; q < nfull; q++)
                        for (int64_t p = p0; p < p1; p++)
                            memcpy(d + q * MR * kc + p * MR, s + p * lda + q * MR, MR * sizeof(T));
                }
                r += (nfull - 1) * MR;
            } else {
                for (int64_t p = 0; p < kc; p++) {
                    int i = 0;
                    for (; i < mr; i++) d[p * MR + i] = s[p * lda + i];
                    for (; i < MR; i++) d[p * MR + i] = (T)0;
                }
            }
        } else {                                   /* op(A)(i, p) = A[i*lda + p] */
            const T *s = A + r * lda;
#ifdef FGD_PACKA_N_PANEL
            if (mr == MR) { FGD_PACKA_N_PANEL(kc, s, lda, d); continue; }
#endif
            for (int64_t i = 0; i < mr; i++)
                for (int64_t p = 0; p < kc; p++) d[p * MR + i] = s[i * lda + p];
            for (int64_t i = mr; i < MR; i++)
                for (int64_t p = 0; p < kc; p++) d[p * MR + i] = (T)0;
        }
    }
}

/* op(B) block k [0, kc) x cols [0, nc) (B already offset) -> NR-col panels. */
static void FGD_N(pack_b)(int64_t kc, int64_t nc, const T *B, int tb, int64_t ldb, T *dst)
{
    int64_t q0 = 0;
    if (!tb) {
        /* full panels, 16 rows of B at a time across all panels: the source is read
         * as a few sequential streams (one NR-wide column strip of all kc rows would
         * be kc streams, one cache line each, too many for the hardware prefetcher) */
        const int64_t nfull = nc / NR * NR;
        for (int64_t p0 = 0; p0 < kc; p0 += 16) {
            const int64_t p1 = FGD_MIN(kc, p0 + 16);
            for (int64_t q = 0; q < nfull; q += NR)
                for (int64_t p = p0; p < p1; p++)
                    memcpy(dst + q * kc + p * NR, B + p * ldb + q, NR * sizeof(T));
        }
        q0 = nfull;
    }
    for (int64_t q = q0; q < nc; q += NR) {
        const int64_t nr = FGD_MIN(NR, nc - q);
        T *d = dst + q * kc;
        if (!tb) {                                 /* op(B)(p, j) = B[p*ldb + j] */
            const T *s = B + q;
            if (nr == NR) {
                for (int64_t p = 0; p < kc; p++)
                    memcpy(d + p * NR, s + p * ldb, NR * sizeof(T));
            } else {
                for (int64_t p = 0; p < kc; p++) {
                    int64_t j = 0;
                    for (; j < nr; j++) d[p * NR + j] = s[p * ldb + j];
                    for (; j < NR; j++) d[p * NR + j] = (T)0;
                }
            }
        } else {                                   /* op(B)(p, j) = B[j*ldb + p] */
            const T *s = B + q * ldb;
#ifdef FGD_PACKB_T_PANEL
            if (nr == NR) { FGD_PACKB_T_PANEL(kc, s, ldb, d); continue; }
#endif
            for (int64_t j = 0; j < nr; j++)
                for (int64_t p = 0; p < kc; p++) d[p * NR + j] = s[j * ldb + p];
            for (int64_t j = nr; j < NR; j++)
                for (int64_t p = 0; p < kc; p++) d[p * NR + j] = (T)0;
        }
    }
}

/* Few rows (FG_GEMM_PATH_SMALL_M: m * 2 <= MR, no activation): the micro-kernel would
 * compute MR rows of every tile whatever m is, and the packed path would copy all of
 * op(B) for a product that reads it once.  Here op(B) is read in place, once, each
 * element multiplied into the (up to FGD_SM_MAX) rows:
 *   B not transposed: C rows accumulate a[r][p] * B row p over p in order (one FMA chain
 *   per element, as in the micro-kernel), in registers while B fits in L2 (blocks of
 *   FGD_SM_JB columns, two at a time for one or two rows), else in an L1 buffer of
 *   FGD_SM_CB columns per row while B's rows stream;
 *   B transposed (B^T stored n x k): C(r, j) is the dot product of op(A) row r and B^T
 *   row j, four or eight rows of B^T at a time, summed in vector lanes.
 * The epilogue is the micro-kernel's: alpha acc (+ C or beta C) + bias (+ 0 without). */
#define FGD_SM_MAX 4
#define FGD_SM_JB ((int64_t)(256 / sizeof(T)))
#define FGD_SM_CB ((int64_t)(4096 / sizeof(T)))
#define FGD_SM_VL ((int64_t)(64 / sizeof(T)))      /* lanes of one 64-byte vector */
#if defined(__GNUC__) || defined(__clang__)
#define FGD_SM_VEC 1
typedef T FGD_N(smv) __attribute__((vector_size(64)));
/* the same vector read from any element address */
typedef T FGD_N(smvu) __attribute__((vector_size(64), aligned(sizeof(T)), may_alias));
typedef T FGD_N(smv2) __attribute__((vector_size(32)));
typedef T FGD_N(smv4) __attribute__((vector_size(16)));

/* the lanes of v summed by halves down to one lane: lane i + (lane i + half), 64 -> 32
 * -> 16 -> ... bytes (the order sm_tree gives sixteen sums at once) */
FGD_INLINE T FGD_N(sm_fold)(FGD_N(smv) v)
{
    FGD_N(smv2) x2, y2;
    memcpy(&x2, &v, sizeof x2);
    memcpy(&y2, (const char *)&v + sizeof x2, sizeof y2);
    x2 += y2;
    FGD_N(smv4) x4, y4;
    memcpy(&x4, &x2, sizeof x4);
    memcpy(&y4, (const char *)&x2 + sizeof x4, sizeof y4);
    x4 += y4;
    T x[16 / sizeof(T)];
    memcpy(x, &x4, sizeof x);
    for (int w = (int)(8 / sizeof(T)); w >= 1; w /= 2)
        for (int i = 0; i < w; i++) x[i] += x[i + w];
    return x[0];
}

/* float32 under AVX-512: the sixteen vectors v[0..15] folded at once, lane i of the result
 * sm_fold(v[i]) (the same additions in the same order): pairs of vectors halve their
 * sources' lanes together, 16 -> 8 -> 4 -> 2 -> 1 lanes each, 15 vector additions in all */
#define FGD_SMT_s512 1
#if (defined(__clang__) || __GNUC__ >= 12) && FGD_CAT(FGD_SMT, FGD_SFX)
#define FGD_SM_TREE 1
#define FGD_SM_SH __builtin_shufflevector
FGD_INLINE FGD_N(smv) FGD_N(sm_tree)(const FGD_N(smv) *v)
{
    FGD_N(smv) a[8], b[4], c[2];
    for (int i = 0; i < 8; i++)
        a[i] = FGD_SM_SH(v[2 * i], v[2 * i + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
             + FGD_SM_SH(v[2 * i], v[2 * i + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (int i = 0; i < 4; i++)
        b[i] = FGD_SM_SH(a[2 * i], a[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)
             + FGD_SM_SH(a[2 * i], a[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    for (int i = 0; i < 2; i++)
        c[i] = FGD_SM_SH(b[2 * i], b[2 * i + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29)
             + FGD_SM_SH(b[2 * i], b[2 * i + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
    return FGD_SM_SH(c[0], c[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
         + FGD_SM_SH(c[0], c[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
#undef FGD_SM_SH

/* sm_out for the sums from sm_tree, lane r * nj + q going to C(r, q) (C and bias at the
 * block's first column): one masked load or store per row of C */
FGD_INLINE void FGD_N(sm_tree_out)(const fg_gemm_sub *s, int mv, int nj, FGD_N(smv) f, T *C,
                                   const T *bias)
{
    __m512 x = _mm512_mul_ps((__m512)f, _mm512_set1_ps((T)s->alpha));
    __m512 cv = _mm512_setzero_ps(), bv = _mm512_setzero_ps();
    const unsigned m0 = (1u << nj) - 1;
    /* row r's lanes start r * nj elements in: its addresses are offset back by as much */
    for (int r = 0; r < mv; r++) {
        const __mmask16 mr = (__mmask16)(m0 << (r * nj));
        if (s->beta != 0.0) cv = _mm512_mask_loadu_ps(cv, mr, C + r * s->ldc - r * nj);
        if (bias) bv = _mm512_mask_loadu_ps(bv, mr, bias - r * nj);
    }
    if (s->beta == 1.0) x = _mm512_add_ps(x, cv);
    else if (s->beta != 0.0) x = _mm512_fmadd_ps(cv, _mm512_set1_ps((T)s->beta), x);
    x = _mm512_add_ps(x, bv);
    for (int r = 0; r < mv; r++)
        _mm512_mask_storeu_ps(C + r * s->ldc - r * nj, (__mmask16)(m0 << (r * nj)), x);
}
#endif
#undef FGD_SMT_s512
/* v held in a register: each vector of B or B^T loaded once for all rows of A (the compiler
 * would otherwise read it from memory again as an operand of every row's FMA) */
#if defined(__AVX512F__) && (defined(__GNUC__) || defined(__clang__))
#define FGD_SM_INREG(v) __asm__("" : "+v"(v))
#else
#define FGD_SM_INREG(v) ((void)0)
#endif
#endif

FGD_INLINE T FGD_N(sm_out)(T acc, const fg_gemm_sub *s, const T *c, const T *bias, int64_t j)
{
    T x = acc * (T)s->alpha;
    if (s->beta == 1.0) x = x + *c;
    else if (s->beta != 0.0) x = *c * (T)s->beta + x;
    return x + (bias ? bias[j] : (T)0);
}

/* rows [0, mv) of C, B not transposed; op(A)(i, p) = A[i*rsa + p*csa]; buf: FGD_SM_MAX *
 * FGD_SM_CB elements.  While op(B) fits in L2 (FGD_SM_REG_B_BYTES), whole blocks of
 * FGD_SM_JB columns (2 FGD_SM_JB for one or two rows) accumulate in registers over all
 * of k; the other columns, and all of them for a bigger B, accumulate in buf while B's
 * rows stream through, four rows per pass (still one FMA chain per element, in p order). */
#define FGD_SM_REG_B_BYTES (512 * 1024)
#ifdef FGD_SM_VEC
/* columns [j0, j0 + nvb vectors) of rows [0, mv) of C, accumulated in registers over all
 * of k (B not transposed) */
FGD_INLINE void FGD_N(sm_nn_reg)(const fg_gemm_sub *s, int mv, int nvb, const T *A,
                                 int64_t rsa, int64_t csa, T *C, int64_t j0)
{
    enum { NVX = (int)(2 * FGD_SM_JB / FGD_SM_VL) };
    const int64_t k = s->k, ldb = s->ldb, ldc = s->ldc;
    const T *B = (const T *)s->b, *bias = (const T *)s->bias;
    FGD_N(smv) acc[FGD_SM_MAX * NVX];
#pragma GCC unroll 32
    for (int i = 0; i < mv * nvb; i++) acc[i] = (FGD_N(smv)){0};
    for (int64_t p = 0; p < k; p++) {
        const FGD_N(smvu) *bp = (const FGD_N(smvu) *)(B + p * ldb + j0);
        FGD_N(smv) bv[NVX];
#pragma GCC unroll 16
        for (int q = 0; q < nvb; q++) {
            bv[q] = bp[q];
            if (mv > 1) FGD_SM_INREG(bv[q]);
        }
#pragma GCC unroll 4
        for (int r = 0; r < mv; r++) {
            const T ar = A[r * rsa + p * csa];
#pragma GCC unroll 16
            for (int q = 0; q < nvb; q++) acc[r * nvb + q] += ar * bv[q];
        }
    }
    for (int r = 0; r < mv; r++) {
        T a[2 * FGD_SM_JB];
        memcpy(a, acc + r * nvb, (size_t)nvb * sizeof acc[0]);
        T *cr = C + r * ldc + j0;
        for (int64_t jj = 0; jj < nvb * FGD_SM_VL; jj++)
            cr[jj] = FGD_N(sm_out)(a[jj], s, cr + jj, bias, j0 + jj);
    }
}
#endif

FGD_INLINE void FGD_N(sm_nn)(const fg_gemm_sub *s, int mv, const T *A, int64_t rsa,
                             int64_t csa, T *C, T *buf)
{
    const int64_t n = s->n, k = s->k, ldb = s->ldb, ldc = s->ldc;
    const T *B = (const T *)s->b, *bias = (const T *)s->bias;
    int64_t j0 = 0;
#ifdef FGD_SM_VEC
    enum { NVB = (int)(FGD_SM_JB / FGD_SM_VL) };
    if ((double)k * (double)n * (double)sizeof(T) <= (double)FGD_SM_REG_B_BYTES) {
        /* one or two rows: blocks of two register blocks' columns, one pass over B */
        if (mv <= 2)
            for (; j0 + 2 * FGD_SM_JB <= n; j0 += 2 * FGD_SM_JB)
                FGD_N(sm_nn_reg)(s, mv, 2 * NVB, A, rsa, csa, C, j0);
        for (; j0 + FGD_SM_JB <= n; j0 += FGD_SM_JB)
            FGD_N(sm_nn_reg)(s, mv, NVB, A, rsa, csa, C, j0);
    }
#endif
    for (; j0 < n; j0 += FGD_SM_CB) {
        const int64_t w = FGD_MIN(FGD_SM_CB, n - j0);
        for (int r = 0; r < mv; r++) memset(buf + r * FGD_SM_CB, 0, (size_t)w * sizeof(T));
        int64_t p = 0;
        for (; p + 4 <= k; p += 4) {
            const T *b0 = B + p * ldb + j0, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
            for (int r = 0; r < mv; r++) {
                const T *ar = A + r * rsa + p * csa;
                const T a0 = ar[0], a1 = ar[csa], a2 = ar[2 * csa], a3 = ar[3 * csa];
                T *acc = buf + r * FGD_SM_CB;
#pragma omp simd
                for (int64_t jj = 0; jj < w; jj++) {
                    T t = acc[jj];
                    t += a0 * b0[jj];
                    t += a1 * b1[jj];
                    t += a2 * b2[jj];
                    t += a3 * b3[jj];
                    acc[jj] = t;
                }
            }
        }
        for (; p < k; p++) {
            const T *bp = B + p * ldb + j0;
            for (int r = 0; r < mv; r++) {
                const T ar = A[r * rsa + p * csa];
                T *acc = buf + r * FGD_SM_CB;
#pragma omp simd
                for (int64_t jj = 0; jj < w; jj++) acc[jj] += ar * bp[jj];
            }
        }
        for (int r = 0; r < mv; r++) {
            const T *acc = buf + r * FGD_SM_CB;
            T *cr = C + r * ldc + j0;
            for (int64_t jj = 0; jj < w; jj++)
                cr[jj] = FGD_N(sm_out)(acc[jj], s, cr + jj, bias, j0 + jj);
        }
    }
}

/* rows [0, mv) of C, B transposed: C(i, j) = op(A) row i . B^T row j (ldb apart); arow:
 * FGD_SM_MAX * k elements for the rows of op(A), contiguous along k.  NJ rows of B^T at a
 * time (eight for one or two rows of A: more independent loads in flight while B^T
 * streams; four for three or four), each B vector multiplied into every row of A; the
 * mv x NJ vector sums fold with sm_tree where there is one, else one by one */
FGD_INLINE void FGD_N(sm_nt)(const fg_gemm_sub *s, int mv, const T *A, int64_t rsa,
                             int64_t csa, T *C, T *arow)
{
    const int64_t n = s->n, k = s->k, ldb = s->ldb, ldc = s->ldc;
    const T *B = (const T *)s->b, *bias = (const T *)s->bias;
    int64_t lar = rsa;                             /* rows of op(A) in place when dense */
    if (csa != 1) {
        for (int r = 0; r < mv; r++)
            for (int64_t p = 0; p < k; p++) arow[r * k + p] = A[r * rsa + p * csa];
        A = arow;
        lar = k;
    }
    int64_t j = 0;
    const int64_t kv = k / FGD_SM_VL * FGD_SM_VL;
    const T alpha = (T)s->alpha, beta = (T)s->beta;
#ifdef FGD_SM_VEC
    enum { NJX = 8 };
    const int nj = mv <= 2 ? 8 : 4;
    for (; j + nj <= n; j += nj) {
        FGD_N(smv) acc[FGD_SM_MAX * NJX];
#pragma GCC unroll 32
        for (int i = 0; i < mv * nj; i++) acc[i] = (FGD_N(smv)){0};
        const T *b0 = B + j * ldb;
        for (int64_t p = 0; p < kv; p += FGD_SM_VL) {
            FGD_N(smv) bv[NJX];
#pragma GCC unroll 8
            for (int q = 0; q < nj; q++) {
                bv[q] = *(const FGD_N(smvu) *)(b0 + q * ldb + p);
                if (mv > 1) FGD_SM_INREG(bv[q]);
            }
#pragma GCC unroll 4
            for (int r = 0; r < mv; r++) {
                const FGD_N(smv) av = *(const FGD_N(smvu) *)(A + r * lar + p);
#pragma GCC unroll 8
                for (int q = 0; q < nj; q++) acc[r * nj + q] += av * bv[q];
            }
        }
        T t[FGD_SM_MAX * NJX];
#ifdef FGD_SM_TREE
        if (mv * nj <= FGD_SM_VL) {
#pragma GCC unroll 16
            for (int i = mv * nj; i < FGD_SM_VL; i++) acc[i] = (FGD_N(smv)){0};
            const FGD_N(smv) f = FGD_N(sm_tree)(acc);
            if (kv == k) {
                FGD_N(sm_tree_out)(s, mv, nj, f, C + j, bias ? bias + j : NULL);
                continue;
            }
            memcpy(t, &f, sizeof f);
        } else
#endif
        {
#pragma GCC unroll 32
            for (int i = 0; i < mv * nj; i++) t[i] = FGD_N(sm_fold)(acc[i]);
        }
        if (kv < k)
            for (int r = 0; r < mv; r++)
                for (int q = 0; q < nj; q++) {
                    const T *ar = A + r * lar, *bj = b0 + q * ldb;
                    for (int64_t p = kv; p < k; p++) t[r * nj + q] += ar[p] * bj[p];
                }
        /* sm_out's arithmetic, its tests hoisted out of the element loops */
        for (int r = 0; r < mv; r++) {
            T *c = C + r * ldc + j, *x = t + r * nj;
            for (int q = 0; q < nj; q++) x[q] *= alpha;
            if (s->beta == 1.0)
                for (int q = 0; q < nj; q++) x[q] = x[q] + c[q];
            else if (s->beta != 0.0)
                for (int q = 0; q < nj; q++) x[q] = c[q] * beta + x[q];
            if (bias)
                for (int q = 0; q < nj; q++) c[q] = x[q] + bias[j + q];
            else
                for (int q = 0; q < nj; q++) c[q] = x[q] + (T)0;
        }
    }
#endif
    for (; j < n; j++) {              /* the same operations per element as above */
        const T *bj = B + j * ldb;
        for (int r = 0; r < mv; r++) {
            const T *ar = A + r * lar;
            int64_t p = 0;
            T t;
#ifdef FGD_SM_VEC
            FGD_N(smv) v = {0};
            for (; p < kv; p += FGD_SM_VL)
                v += *(const FGD_N(smvu) *)(ar + p) * *(const FGD_N(smvu) *)(bj + p);
            t = FGD_N(sm_fold)(v);
#else
            t = 0;
#endif
            for (; p < k; p++) t += ar[p] * bj[p];
            T *c = C + r * ldc + j;
            *c = FGD_N(sm_out)(t, s, c, bias, j);
        }
    }
}

static int FGD_N(small_m)(const fg_gemm_sub *s)
{
    const T *A = (const T *)s->a;
    T *C = (T *)s->c;
    const int64_t rsa = s->transa ? 1 : s->lda, csa = s->transa ? s->lda : 1;
    T *buf = (T *)fg_workspace(FG_GEMM_WS_SLOT_A,
                               (size_t)(FGD_SM_MAX * (s->transb ? s->k : FGD_SM_CB)) * sizeof(T));
    if (!buf) return FG_ENOMEM;
    for (int64_t i = 0; i < s->m; i += FGD_SM_MAX) {
        const int mv = (int)FGD_MIN(FGD_SM_MAX, s->m - i);
        const T *a = A + i * rsa;
        T *c = C + i * s->ldc;
        /* the row count a constant in each call: accumulators in registers */
        switch (mv * 2 + (s->transb != 0)) {
        case 2: FGD_N(sm_nn)(s, 1, a, rsa, csa, c, buf); break;
        case 3: FGD_N(sm_nt)(s, 1, a, rsa, csa, c, buf); break;
        case 4: FGD_N(sm_nn)(s, 2, a, rsa, csa, c, buf); break;
        case 5: FGD_N(sm_nt)(s, 2, a, rsa, csa, c, buf); break;
        case 6: FGD_N(sm_nn)(s, 3, a, rsa, csa, c, buf); break;
        case 7: FGD_N(sm_nt)(s, 3, a, rsa, csa, c, buf); break;
        case 8: FGD_N(sm_nn)(s, 4, a, rsa, csa, c, buf); break;
        default: FGD_N(sm_nt)(s, 4, a, rsa, csa, c, buf); break;
        }
    }
    return FG_OK;
}

int FGD_FNAME(const fg_gemm_sub *s)
{
    if (s->path == FG_GEMM_PATH_SMALL_M) return FGD_N(small_m)(s);
    const int64_t m = s->m, n = s->n, k = s->k;
    const T *A = (const T *)s->a, *B = (const T *)s->b;
    T *C = (T *)s->c;
    const int ta = s->transa, tb = s->transb;
    const int64_t lda = s->lda, ldb = s->ldb, ldc = s->ldc;
    const T *bias = (const T *)s->bias;

    /* DIRECT: A (and B when not transposed) are read in place; no k blocking when
     * nothing is packed, so C is written exactly once. */
    const int direct = s->path == FG_GEMM_PATH_DIRECT;
    const int pack_a = !direct;
    const int pack_b = !direct || tb;
    /* k blocks of (nearly) equal depth <= KC, a multiple of 16: no short last block */
    const int64_t kcb = !pack_b ? k : k <= KC ? KC
                        : FGD_MIN(KC, ((k + (k + KC - 1) / KC - 1) / ((k + KC - 1) / KC) + 15) / 16 * 16);
    const int64_t mcb = pack_a ? MC : m;
    const int64_t ncb = pack_b ? NC : n;

    T *Ap = NULL, *Bp = NULL;
    if (pack_a) {
        const int64_t mcr = (FGD_MIN(mcb, m) + MR - 1) / MR * MR;
        Ap = (T *)fg_workspace(FG_GEMM_WS_SLOT_A, (size_t)(mcr * FGD_MIN(kcb, k)) * sizeof(T));
        if (!Ap) return FG_ENOMEM;
    }
    if (pack_b) {
        const int64_t ncr = (FGD_MIN(ncb, n) + NR - 1) / NR * NR;
        Bp = (T *)fg_workspace(FG_GEMM_WS_SLOT_B, (size_t)(ncr * FGD_MIN(kcb, k)) * sizeof(T));
        if (!Bp) return FG_ENOMEM;
    }

    FGD_N(ep) ep;
    ep.alpha = (T)s->alpha;
    for (int64_t jc = 0; jc < n; jc += ncb) {
        const int64_t nc = FGD_MIN(ncb, n - jc);
        for (int64_t pc = 0; pc < k; pc += kcb) {
            const int64_t kc = FGD_MIN(kcb, k - pc);
            const int last = pc + kc == k;
            ep.beta = pc == 0 ? (T)s->beta : (T)1;
            ep.act = last ? s->act : FG_ACT_NONE;
            if (pack_b)
                FGD_N(pack_b)(kc, nc, tb ? B + jc * ldb + pc : B + pc * ldb + jc, tb, ldb, Bp);
            for (int64_t ic = 0; ic < m; ic += mcb) {
                const int64_t mc = FGD_MIN(mcb, m - ic);
                if (pack_a)
                    FGD_N(pack_a)(mc, kc, ta ? A + pc * lda + ic : A + ic * lda + pc, ta, lda, Ap);
#define FGD_TILE(jr, ir)                                                              \
    do {                                                                              \
        const int nr = (int)FGD_MIN(NR, nc - (jr));                                   \
        const int mr = (int)FGD_MIN(MR, mc - (ir));                                   \
        const T *bt; int64_t bld;                                                     \
        if (pack_b) { bt = Bp + (jr) * kc; bld = NR; }                                \
        else { bt = B + pc * ldb + jc + (jr); bld = ldb; }                            \
        T *ct = C + (ic + (ir)) * ldc + jc + (jr);                                    \
        ep.bias = (last && bias) ? bias + jc + (jr) : NULL;                           \
        if (pack_a)                                                                   \
            FGD_N(ukr)(0, kc, Ap + (ir) * kc, 1, MR, bt, bld, ct, ldc, mr, nr, &ep); \
        else if (!ta)                                                                 \
            FGD_N(ukr)(1, kc, A + (ic + (ir)) * lda + pc, lda, 1, bt, bld, ct, ldc,   \
                       mr, nr, &ep);                                                  \
        else                                                                          \
            FGD_N(ukr)(mr == MR ? 2 : 3, kc, A + pc * lda + ic + (ir), 1, lda, bt,    \
                       bld, ct, ldc, mr, nr, &ep);                                    \
    } while (0)
                if (pack_a || pack_b || kc * NR * (int64_t)sizeof(T) <= FG_GEMM_L1_PANEL_BYTES) {
                    /* B micro-panel stays in L1 while A panels stream from L2 */
                    for (int64_t jr = 0; jr < nc; jr += NR)
                        for (int64_t ir = 0; ir < mc; ir += MR)
                            FGD_TILE(jr, ir);
                } else {
                    /* B micro-panel too big for L1: A rows stay in L1, B streams from L2 */
                    for (int64_t ir = 0; ir < mc; ir += MR)
                        for (int64_t jr = 0; jr < nc; jr += NR)
                            FGD_TILE(jr, ir);
                }
#undef FGD_TILE
            }
        }
    }
    return FG_OK;
}
#undef FGD_SM_MAX
#undef FGD_SM_JB
#undef FGD_SM_CB
#undef FGD_SM_VL
#undef FGD_SM_VEC
#undef FGD_SM_TREE
#undef FGD_SM_INREG
#undef FGD_SM_REG_B_BYTES
