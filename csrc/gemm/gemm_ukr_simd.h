/* SIMD micro-kernel template (included by gemm_avx2.c, gemm_avx512.c and gemm_neon.c, once
 * per dtype, each instantiation closed by gemm_ukr_simd_end.h).
 *
 * Computes a MR x NR tile of C, NR = 2 vectors of L lanes along the columns of C:
 *     C[i, j] = act(alpha * sum_p A(i, p) B(p, j) + beta * C[i, j] + bias[j])
 * for i < mr, j < nr.  B is read as rows of NR contiguous elements, k-stride ldb
 * (a packed micro-panel: ldb = NR, zero padded; or op(B) in place: ldb = its leading
 * dimension, the last vector is masked when nr < NR so nothing beyond column nr is read).
 * A access modes (AM):
 *   0  packed micro-panel: MR values per k step, zero padded rows
 *   1  in place, row i at a + i*rsa, unit k-stride (op(A) = A, row-major);
 *      rows >= mr are clamped to row mr-1 (computed, never stored)
 *   2  in place, rows contiguous (rsa = 1), k-stride csa (op(A) = A^T), mr == MR only
 *   3  in place, generic strides with clamping (edges of mode 2)
 *
 * The includer defines: T, V, L, MR, NR, MASK_T, MASKN(n), VZERO(), VLOAD(p),
 * VLOADM(p,m), VSTORE(p,v), VSTOREM(p,m,v), VSET1(x), VFMA(a,b,c) (= a*b+c), VMUL,
 * VADD, FGD_SFX, VACT_OK(act) and FGD_N(vact)(V x, int act), ACT_ROWS(c,ldc,mr,nr,act).
 */
#include "gemm_tmpl.h"

typedef struct {
    T alpha, beta;
    const T *bias;     /* NULL or the tile's first column */
    int act;
} FGD_N(ep);

#define FGD_UKR_ARGS int64_t k, const T *a, int64_t rsa, int64_t csa, const T *b, \
    int64_t ldb, T *c, int64_t ldc, int mr, int nr, const FGD_N(ep) *ep
typedef void (*FGD_N(ukr_fn))(FGD_UKR_ARGS);

FGD_INLINE void FGD_N(ukr_body)(const int AM, const int NV, const int EDGE, FGD_UKR_ARGS)
{
    V acc[MR][2];
    const MASK_T ml = MASKN(nr - (NV - 1) * L);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        acc[i][0] = VZERO();
        acc[i][1] = VZERO();
    }
    /* the C tile is prefetched twice (see FG_GEMM_PF_C in gemm_config.h): towards L2
     * now, to hide DRAM/L3 latency, and into L1 FG_GEMM_PF_C k steps before the end
     * of the loop, late enough that the k loop does not evict it again (nor it the B
     * micro-panel) */
    const int64_t kpf = k > FG_GEMM_PF_C ? k - FG_GEMM_PF_C : 0;
#define FGD_PREFETCH_C(LOC)                                                           \
    do {                                                                              \
        _Pragma("GCC unroll 16")                                                      \
        for (int i = 0; i < MR; i++)                                                  \
            if (i < mr) {                                                             \
                for (int j = 0; j < nr; j += 64 / (int)sizeof(T))                     \
                    FG_PREFETCH(c + i * ldc + j, 1, LOC);                      \
                FG_PREFETCH(c + i * ldc + nr - 1, 1, LOC);                     \
            }                                                                         \
    } while (0)
    FGD_PREFETCH_C(FG_GEMM_PF_C_LOC0);

#define FGD_KSTEP(AEXPR)                                                              \
    do {                                                                              \
        V b0, b1 = VZERO();                                                           \
        if (NV == 1) b0 = EDGE ? VLOADM(b, ml) : VLOAD(b);                            \
        else { b0 = VLOAD(b); b1 = EDGE ? VLOADM(b + L, ml) : VLOAD(b + L); }         \
        _Pragma("GCC unroll 16")                                                      \
        for (int i = 0; i < MR; i++) {                                                \
            V av = VSET1(AEXPR);                                                      \
            acc[i][0] = VFMA(av, b0, acc[i][0]);                                      \
            if (NV == 2) acc[i][1] = VFMA(av, b1, acc[i][1]);                         \
        }                                                                             \
        b += ldb;                                                                     \
    } while (0)

    /* the k loop in two parts, [0, kpf) and [kpf, k), with the C prefetch between */
#define FGD_KLOOP(P0, P1)                                                             \
    do {                                                                              \
        if (AM == 0) {                                                                \
            _Pragma("GCC unroll 4")                                                   \
            for (int64_t p = (P0); p < (P1); p++) {                                   \
                FGD_KSTEP(a[i]);                                                      \
                a += MR;                                                              \
            }                                                                         \
        } else if (AM == 2) {                                                         \
            _Pragma("GCC unroll 4")                                                   \
            for (int64_t p = (P0); p < (P1); p++) {                                   \
                FGD_KSTEP(a[i]);                                                      \
                a += csa;                                                             \
            }                                                                         \
        } else if (AM == 1) {                                                         \
            _Pragma("GCC unroll 4")                                                   \
            for (int64_t p = (P0); p < (P1); p++)                                     \
                FGD_KSTEP(ar[i][p]);                                                  \
        } else {                                                                      \
            for (int64_t p = (P0); p < (P1); p++)                                     \
                FGD_KSTEP(ar[i][p * csa]);                                            \
        }                                                                             \
    } while (0)
    const T *ar[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
        ar[i] = a + (int64_t)(i < mr ? i : mr - 1) * rsa;
    FGD_KLOOP(0, kpf);
    FGD_PREFETCH_C(3);
    FGD_KLOOP(kpf, k);
#undef FGD_KLOOP
#undef FGD_KSTEP
#undef FGD_PREFETCH_C

    /* epilogue: one pass over the tile */
    const V va = VSET1(ep->alpha), vb = VSET1(ep->beta);
    const int beta0 = ep->beta == (T)0, beta1 = ep->beta == (T)1;
    const int vact = VACT_OK(ep->act);
    const int act = vact ? ep->act : FG_ACT_NONE;
    V bb0 = VZERO(), bb1 = VZERO();
    if (ep->bias) {
        if (NV == 1) bb0 = EDGE ? VLOADM(ep->bias, ml) : VLOAD(ep->bias);
        else { bb0 = VLOAD(ep->bias); bb1 = EDGE ? VLOADM(ep->bias + L, ml) : VLOAD(ep->bias + L); }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        if (i < mr) {
            T *cr = c + i * ldc;
            V x0 = VMUL(acc[i][0], va), x1 = VMUL(acc[i][1], va);
            if (!beta0) {
                V c0, c1 = VZERO();
                if (NV == 1) c0 = EDGE ? VLOADM(cr, ml) : VLOAD(cr);
                else { c0 = VLOAD(cr); c1 = EDGE ? VLOADM(cr + L, ml) : VLOAD(cr + L); }
                if (beta1) { x0 = VADD(x0, c0); x1 = VADD(x1, c1); }
                else { x0 = VFMA(c0, vb, x0); x1 = VFMA(c1, vb, x1); }
            }
            x0 = VADD(x0, bb0);
            x1 = VADD(x1, bb1);
            if (act) {
                x0 = FGD_N(vact)(x0, act);
                if (NV == 2) x1 = FGD_N(vact)(x1, act);
            }
            if (NV == 1) { if (EDGE) VSTOREM(cr, ml, x0); else VSTORE(cr, x0); }
            else { VSTORE(cr, x0); if (EDGE) VSTOREM(cr + L, ml, x1); else VSTORE(cr + L, x1); }
        }
    }
    if (!vact)
        ACT_ROWS(c, ldc, mr, nr, ep->act);
}

#define FGD_UKR_INST(AMc, NVc, Ec)                                                    \
    static FG_NOINLINE void FGD_N(ukr_##AMc##NVc##Ec)(FGD_UKR_ARGS)     \
    { FGD_N(ukr_body)(AMc, NVc, Ec, k, a, rsa, csa, b, ldb, c, ldc, mr, nr, ep); }
#define FGD_UKR_INST_AM(AMc) FGD_UKR_INST(AMc, 1, 0) FGD_UKR_INST(AMc, 1, 1) \
    FGD_UKR_INST(AMc, 2, 0) FGD_UKR_INST(AMc, 2, 1)
FGD_UKR_INST_AM(0)
FGD_UKR_INST_AM(1)
FGD_UKR_INST_AM(2)
FGD_UKR_INST_AM(3)

static const FGD_N(ukr_fn) FGD_N(ukr_tbl)[4][2][2] = {
    {{FGD_N(ukr_010), FGD_N(ukr_011)}, {FGD_N(ukr_020), FGD_N(ukr_021)}},
    {{FGD_N(ukr_110), FGD_N(ukr_111)}, {FGD_N(ukr_120), FGD_N(ukr_121)}},
    {{FGD_N(ukr_210), FGD_N(ukr_211)}, {FGD_N(ukr_220), FGD_N(ukr_221)}},
    {{FGD_N(ukr_310), FGD_N(ukr_311)}, {FGD_N(ukr_320), FGD_N(ukr_321)}},
};

/* the entry the driver calls */
FGD_INLINE void FGD_N(ukr)(int am, FGD_UKR_ARGS)
{
    const int nv = nr > L ? 2 : 1;
    const int edge = nr != nv * L;
    FGD_N(ukr_tbl)[am][nv - 1][edge](k, a, rsa, csa, b, ldb, c, ldc, mr, nr, ep);
}
#undef FGD_UKR_INST
#undef FGD_UKR_INST_AM
#undef FGD_UKR_ARGS
