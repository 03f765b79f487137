/* Compiling code for one SIMD path: FG_ISA_BEGIN(isa) ... FG_ISA_END around the code (the
 * includes of the headers it needs too: vecmath.h and <immintrin.h> pick their code by the
 * target macros, __AVX2__, __FMA__, ..., in force where they are included).  isa is one of
 *
 *   base     the baseline target, default optimisation
 *   scalar   the baseline target, no auto-vectorisation (the plain reference that the
 *            kernels' scalar path keeps; under clang, whose pragmas cannot switch the
 *            vectoriser off per region, the same as base)
 *   avx2     AVX2 + FMA
 *   avx512   AVX-512 F/DQ/BW/VL + AVX2 + FMA
 *
 * and may be a macro that expands to one of these.  The pair is used by every per-ISA
 * translation unit (kern_*.c, gemm/gemm_*.c) and by the per-ISA sections of conv.c and
 * optim.c; fg_get_isa (cpu.c) picks the path at run time.  On other architectures than
 * x86 the SIMD sections compile for the baseline, and `scalar` is `base`: the one path
 * there is the compiler's vectorisation for the baseline (NEON on arm64).  MSVC has no
 * per-region target: its sections compile with the file's flags (its intrinsics need
 * none), the last branch below. */
#ifndef FG_ISA_H
#define FG_ISA_H

#define FG_ISA_BEGIN(isa) FG_ISA_BEGIN_(isa)
#define FG_ISA_BEGIN_(isa) FG_ISA_BEGIN_##isa

#if defined(__GNUC__) && !defined(__clang__)
#define FG_ISA_BEGIN_base _Pragma("GCC push_options")
#if defined(__x86_64__) || defined(__i386__)
#define FG_ISA_BEGIN_scalar _Pragma("GCC push_options") _Pragma("GCC optimize(\"no-tree-vectorize\")")
#define FG_ISA_BEGIN_avx2 _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")")
#define FG_ISA_BEGIN_avx512 _Pragma("GCC push_options") \
    _Pragma("GCC target(\"avx512f,avx512dq,avx512bw,avx512vl,avx2,fma\")")
#else
#define FG_ISA_BEGIN_scalar FG_ISA_BEGIN_base
#define FG_ISA_BEGIN_avx2 FG_ISA_BEGIN_base
#define FG_ISA_BEGIN_avx512 FG_ISA_BEGIN_base
#endif
#define FG_ISA_END _Pragma("GCC pop_options")

#elif defined(__clang__)
/* the baseline needs no target attribute; annotate (no effect on code) keeps the
 * push/pop pairing of FG_ISA_END.  target("default") would mark every function of the
 * section, system headers' included, for multiversioning, which clang rejects. */
#define FG_ISA_BEGIN_base \
    _Pragma("clang attribute push(__attribute__((annotate(\"fastgrad-base\"))), apply_to = function)")
#define FG_ISA_BEGIN_scalar FG_ISA_BEGIN_base
#if defined(__x86_64__) || defined(__i386__)
#define FG_ISA_BEGIN_avx2 \
    _Pragma("clang attribute push(__attribute__((target(\"avx2,fma\"))), apply_to = function)")
#define FG_ISA_BEGIN_avx512 \
    _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512dq,avx512bw,avx512vl,avx2,fma\"))), apply_to = function)")
#else
#define FG_ISA_BEGIN_avx2 FG_ISA_BEGIN_base
#define FG_ISA_BEGIN_avx512 FG_ISA_BEGIN_base
#endif
#define FG_ISA_END _Pragma("clang attribute pop")

#else
#define FG_ISA_BEGIN_base
#define FG_ISA_BEGIN_scalar
#define FG_ISA_BEGIN_avx2
#define FG_ISA_BEGIN_avx512
#define FG_ISA_END
#endif
#endif
