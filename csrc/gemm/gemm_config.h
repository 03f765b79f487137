/* GEMM blocking parameters and crossover thresholds (all in elements).
 *
 *   MR x NR : register micro-tile (rows of C x columns of C; columns are the SIMD axis)
 *   MC      : rows of the packed A block   (MC x KC lives in L2)
 *   KC      : depth of one packed block    (KC x NR micro-panel of B lives in L1)
 *   NC      : columns of the packed B block (KC x NC lives in L2/L3)
 * MC must be a multiple of MR and NC a multiple of NR.
 */
#ifndef FG_GEMM_CONFIG_H
#define FG_GEMM_CONFIG_H

/* ---- AVX-512, float32: 8 x 32 tile = 16 zmm accumulators ------------------------ */
#ifndef FG_GEMM_S512_MR
#define FG_GEMM_S512_MR 8
#endif
#define FG_GEMM_S512_NR 32
#ifndef FG_GEMM_S512_MC
#define FG_GEMM_S512_MC 96
#endif
#ifndef FG_GEMM_S512_KC
#define FG_GEMM_S512_KC 512
#endif
#ifndef FG_GEMM_S512_NC
#define FG_GEMM_S512_NC 2048
#endif

/* ---- AVX-512, float64: 8 x 16 tile ----------------------------------------------- */
#define FG_GEMM_D512_MR 8
#define FG_GEMM_D512_NR 16
#define FG_GEMM_D512_MC 128
#define FG_GEMM_D512_KC 256
#define FG_GEMM_D512_NC 1024

/* ---- AVX2+FMA, float32: 6 x 16 tile = 12 ymm accumulators ------------------------ */
#define FG_GEMM_S256_MR 6
#define FG_GEMM_S256_NR 16
#define FG_GEMM_S256_MC 144
#define FG_GEMM_S256_KC 256
#define FG_GEMM_S256_NC 2048

/* ---- AVX2+FMA, float64: 6 x 8 tile ------------------------------------------------ */
#define FG_GEMM_D256_MR 6
#define FG_GEMM_D256_NR 8
#define FG_GEMM_D256_MC 96
#define FG_GEMM_D256_KC 256
#define FG_GEMM_D256_NC 1024

/* ---- NEON (arm64), float32: 8 x 8 tile = 16 q-register accumulators -------------- */
#define FG_GEMM_SNEON_MR 8
#define FG_GEMM_SNEON_NR 8
#define FG_GEMM_SNEON_MC 128
#define FG_GEMM_SNEON_KC 256
#define FG_GEMM_SNEON_NC 2048

/* ---- NEON (arm64), float64: 8 x 4 tile -------------------------------------------- */
#define FG_GEMM_DNEON_MR 8
#define FG_GEMM_DNEON_NR 4
#define FG_GEMM_DNEON_MC 128
#define FG_GEMM_DNEON_KC 256
#define FG_GEMM_DNEON_NC 1024

/* ---- portable C: 4 x 8 tile ------------------------------------------------------- */
#define FG_GEMM_SSC_MR 4
#define FG_GEMM_SSC_NR 8
#define FG_GEMM_SSC_MC 64
#define FG_GEMM_SSC_KC 256
#define FG_GEMM_SSC_NC 1024
#define FG_GEMM_DSC_MR 4
#define FG_GEMM_DSC_NR 4
#define FG_GEMM_DSC_MC 64
#define FG_GEMM_DSC_KC 256
#define FG_GEMM_DSC_NC 1024

/* ---- scratch ---------------------------------------------------------------------
 * fg_workspace slots used for the packed A block and B panel (per thread; every thread
 * packs its own blocks, nothing is shared).  The highest slots, so that a caller that
 * keeps e.g. an im2col buffer in slot 0 or 1 can call fg_gemm on it.  Callers must not
 * hold pointers from these two slots across an fg_gemm call. */
#define FG_GEMM_WS_SLOT_A 3
#define FG_GEMM_WS_SLOT_B 2

/* ---- micro-kernel C prefetch: the C tile is prefetched twice, at the start of the
 * k loop with locality FG_GEMM_PF_C_LOC0 (2: towards L2, hides DRAM/L3 latency for
 * big C) and again into L1 FG_GEMM_PF_C k steps before the end (an L1 prefetch at the
 * start is evicted again by the k loop, and competes with the B micro-panel for L1
 * ways: rows of C a multiple of 4 KB apart all fall into the same L1 sets).
 * Measured on Zen 5, 8x32 f32: 2048^3 +4%, 1024^3 +1-2%. */
#ifndef FG_GEMM_PF_C
#define FG_GEMM_PF_C 32
#endif
#ifndef FG_GEMM_PF_C_LOC0
#define FG_GEMM_PF_C_LOC0 2
#endif

/* ---- crossovers -------------------------------------------------------------------
 * Direct (unpacked) path: the micro-kernel reads A and op(B) in place (a transposed B
 * is still packed) when the k x n span of B fits this many bytes, i.e. stays in L2
 * while it is re-read for every MR rows of C (measured on Zen 5: 640 KB wins, 768 KB
 * is a toss-up, 900 KB loses by ~10%)...                                           */
#define FG_GEMM_SMALL_B_BYTES   (640 * 1024)
/* ... and, for a transposed A, the k x lda span of A fits this many bytes (each k step
 * touches a new row of A; large spans thrash the TLB).                          */
#define FG_GEMM_SMALL_TA_BYTES  (512 * 1024)

/* Direct path loop order: keep the k x NR micro-panel of B in L1 (jr outer) when it
 * is at most this big, else keep MR rows of A in L1 (ir outer) and stream B.     */
#define FG_GEMM_L1_PANEL_BYTES  (32 * 1024)

/* Single thread below this many multiply-adds (m*n*k, times batch when batches run in
 * parallel).  Measured on the 2-vCPU Zen 5 VM: a fork/join on fastgrad's pool costs
 * ~0.05 us with the worker spinning and ~3 us (quiet machine) to wake it (csrc/dispatch.h,
 * tests/c/test_pool.c bench); 64x128x128 (1M, ~20 us) gains ~15% from 2 threads,
 * 32x64x128 (256K, ~5 us) loses. */
#define FG_GEMM_PAR_MIN_MNK     (1024 * 1024)
/* Single-thread speed assumed when deciding whether a GEMM is worth waking sleeping
 * workers (FG_POOL_WAKE_NS): ~50 multiply-adds/ns (112 GFLOP/s measured peak, float32). */
#define FG_GEMM_MNK_PER_NS      50
/* Minimum multiply-adds handed to each thread. */
#define FG_GEMM_PAR_MNK_PER_THREAD (512 * 1024)
/* Contention (gemm.c, "sharing the cores"): a threaded GEMM of at least
 * FG_GEMM_SHARE_MIN_NS estimated single-thread time whose wall time exceeds
 * FG_GEMM_CONTENDED_SHARE of the caller-alone estimate marks the cores as contended for
 * FG_GEMM_CONTENDED_NS (renewed by each such GEMM; one below FG_GEMM_FREE_SHARE ends it).
 * While contended, a GEMM is cut into up to FG_GEMM_CONTENDED_SPLIT blocks per thread of
 * at least FG_GEMM_TASK_NS each (one block per thread when it is too small for two). */
#define FG_GEMM_SHARE_MIN_NS    2.0e6
#define FG_GEMM_CONTENDED_SHARE 0.65
#define FG_GEMM_FREE_SHARE      0.58
#define FG_GEMM_CONTENDED_NS    100000000LL
#define FG_GEMM_CONTENDED_SPLIT 4
#define FG_GEMM_TASK_NS         6.0e5

#endif
