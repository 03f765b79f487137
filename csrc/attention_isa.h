/* One SIMD path's attention kernels: attention_{scalar,avx2,avx512}.c define ISA_SFX
 * (base, avx2, avx512) and include this file, which compiles attention_tmpl.h for that
 * path (isa.h) for float and double. */
#include "isa.h"
FG_ISA_BEGIN(ISA_SFX)
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "fastgrad.h"
#include "dispatch.h"
#include "threadpool.h"
#include "fg_math.h"
#include "attention.h"

#define FN_(name, ts, isa) fga_##name##_##ts##_##isa
#define FN__(name, ts, isa) FN_(name, ts, isa)
#define FN(name) FN__(name, TS, ISA_SFX)

#define T float
#define TS f32
#include "attention_tmpl.h"
#undef T
#undef TS

#define T double
#define TS f64
#include "attention_tmpl.h"
#undef T
#undef TS
FG_ISA_END
