/* fastgrad kernels compiled for the scalar path. */
/* portable baseline, kept scalar so the SIMD paths have a plain reference */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-vectorize")
#endif
#define ISA_SFX scalar
#include "kern_isa.h"
#ifdef FG_CLANG_POP
#pragma clang attribute pop
#endif
