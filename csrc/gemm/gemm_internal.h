/* Internal GEMM interfaces shared by gemm.c and the per-ISA translation units. */
#ifndef FG_GEMM_INTERNAL_H
#define FG_GEMM_INTERNAL_H
#include <stdint.h>
#include "fastgrad.h"
#include "gemm_config.h"
#include "../port.h"

/* the per-ISA kernels compiled into this build: AVX2 and AVX-512 on x86 (GCC, clang and
 * MSVC, which accepts their intrinsics without target flags), NEON on arm64 */
#define FG_GEMM_X86 FG_ARCH_X86
#if FG_ARCH_ARM64 && (defined(__ARM_NEON) || FG_MSVC)
#define FG_GEMM_NEON 1
#else
#define FG_GEMM_NEON 0
#endif

/* One sequential sub-problem: C (m x n) = act(alpha op(A) op(B) + beta C + bias).
 * Pointers are already offset to the sub-block origin (bias to its first column).
 * k >= 1, m >= 1, n >= 1 and alpha != 0 are guaranteed by the caller. */
typedef struct {
    int64_t m, n, k;
    const void *a; int64_t lda; int transa;
    const void *b; int64_t ldb; int transb;
    void *c; int64_t ldc;
    double alpha, beta;
    const void *bias;
    int act;
    int path;       /* FG_GEMM_PATH_*: which algorithm (decided by gemm.c) */
} fg_gemm_sub;

enum { FG_GEMM_PATH_AUTO = 0, FG_GEMM_PATH_PACKED = 1, FG_GEMM_PATH_DIRECT = 2,
       FG_GEMM_PATH_SMALL_M = 3 };

typedef int (*fg_gemm_seq_fn)(const fg_gemm_sub *s);

int fg_gemm_seq_f32_scalar(const fg_gemm_sub *s);
int fg_gemm_seq_f64_scalar(const fg_gemm_sub *s);
#if FG_GEMM_X86
int fg_gemm_seq_f32_avx2(const fg_gemm_sub *s);
int fg_gemm_seq_f64_avx2(const fg_gemm_sub *s);
int fg_gemm_seq_f32_avx512(const fg_gemm_sub *s);
int fg_gemm_seq_f64_avx512(const fg_gemm_sub *s);
#endif
#if FG_GEMM_NEON
int fg_gemm_seq_f32_neon(const fg_gemm_sub *s);
int fg_gemm_seq_f64_neon(const fg_gemm_sub *s);
#endif

/* Scalar activation helpers (gemm_scalar.c); used for tiles whose activation is
 * not vectorised in the ISA file. */
void fg_gemm_act_rows_f32(float *c, int64_t ldc, int64_t mr, int64_t nr, int act);
void fg_gemm_act_rows_f64(double *c, int64_t ldc, int64_t mr, int64_t nr, int act);

/* Tuning / test knob: force a path (FG_GEMM_PATH_*) for every call; 0 = automatic. */
extern int fg_gemm_force_path;
/* Tuning / test knob: if > 0, overrides the single-thread threshold (m*n*k). */
extern int64_t fg_gemm_par_min_override;
/* Test knob: if > 0, every threaded GEMM is cut into this many blocks per thread, as
 * under contention, whatever its size or the cores' state. */
extern int fg_gemm_split_override;

#endif
