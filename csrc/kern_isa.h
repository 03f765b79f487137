/* One SIMD path's elementwise and reduction kernels: kern_scalar.c / kern_avx2.c /
 * kern_avx512.c define ISA_SFX (scalar, avx2, avx512) and include this file, which
 * compiles everything (the headers included) for that path (isa.h) and instantiates
 * eltwise_tmpl.h and reduce_tmpl.h for float and double (math per type: fg_math.h). */
#include "isa.h"
#include "port.h"
FG_ISA_BEGIN(ISA_SFX)
#include <math.h>
#include <stdint.h>
#include "fastgrad.h"
#include "dispatch.h"
#include "threadpool.h"
#include "fg_math.h"

#define FN_(name, ts, isa) fgk_##name##_##ts##_##isa
#define FN__(name, ts, isa) FN_(name, ts, isa)
#define FN(name) FN__(name, TS, ISA_SFX)

#define T float
#define TS f32
#include "eltwise_tmpl.h"
#include "reduce_tmpl.h"
#undef T
#undef TS

#define T double
#define TS f64
#include "eltwise_tmpl.h"
#include "reduce_tmpl.h"
#undef T
#undef TS
FG_ISA_END
