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

int FGD_FNAME(const fg_gemm_sub *s)
{
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
