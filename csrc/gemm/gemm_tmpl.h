/* Token helpers shared by the per-ISA template instantiations. */
#ifndef FG_GEMM_TMPL_H
#define FG_GEMM_TMPL_H
#include "../port.h"
#define FGD_CAT2(a, b) a##_##b
#define FGD_CAT(a, b) FGD_CAT2(a, b)
#define FGD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FGD_INLINE FG_ALWAYS_INLINE
#endif
/* FGD_N(x) -> x_<FGD_SFX>; redefined for every instantiation. */
#undef FGD_N
#define FGD_N(x) FGD_CAT(x, FGD_SFX)
