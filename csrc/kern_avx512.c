/* fastgrad kernels compiled for the avx512 path. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"))), apply_to = function)
#define FG_CLANG_POP
#endif
#define ISA_SFX avx512
#include "kern_isa.h"
#ifdef FG_CLANG_POP
#pragma clang attribute pop
#endif
