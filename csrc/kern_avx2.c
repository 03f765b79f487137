/* fastgrad kernels compiled for the avx2 path. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,fma")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define FG_CLANG_POP
#endif
#define ISA_SFX avx2
#include "kern_isa.h"
#ifdef FG_CLANG_POP
#pragma clang attribute pop
#endif
