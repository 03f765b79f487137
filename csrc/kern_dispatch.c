/* Public entry points (fastgrad.h): each forwards to the kernel of the active SIMD path
 * (cpu.c), compiled from the same templates in kern_scalar.c / kern_avx2.c / kern_avx512.c. */
#include "fastgrad.h"

#define CAT4(a, b, c, d) a##_##b##_##c##_##d
#define KNAME(name, ts, isa) CAT4(fgk, name, ts, isa)
#define PNAME_(name, ts) fg_##name##_##ts
#define PNAME(name, ts) PNAME_(name, ts)

#define DISPATCH(name, PARAMS, ARGS)                                             \
    int KNAME(name, TS, scalar) PARAMS;                                          \
    int KNAME(name, TS, avx2) PARAMS;                                            \
    int KNAME(name, TS, avx512) PARAMS;                                          \
    int PNAME(name, TS) PARAMS                                                   \
    {                                                                            \
        switch (fg_get_isa()) {                                                  \
        case FG_ISA_AVX512: return KNAME(name, TS, avx512) ARGS;                 \
        case FG_ISA_AVX2: return KNAME(name, TS, avx2) ARGS;                     \
        default: return KNAME(name, TS, scalar) ARGS;                            \
        }                                                                        \
    }

#define T float
#define TS f32
#include "dispatch_list.h"
#undef T
#undef TS
#define T double
#define TS f64
#include "dispatch_list.h"
