/* The fused gate kernels of the recurrent layers (rnn.h) for one SIMD path:
 * rnn_scalar.c / rnn_avx2.c / rnn_avx512.c define ISA_SFX and include this file, which
 * compiles the kernels (and the math they call, fg_math.h) for that path (isa.h), for
 * float and double.  Included without ISA_SFX (rnn.c) it declares the step arguments and
 * the kernels of every path.
 *
 * A kernel handles the batch rows [lo, hi) of one time step; rows are independent, so
 * any split of them gives the same bits. */
#ifndef FG_RNN_ISA_ARGS
#define FG_RNN_ISA_ARGS
#include <stdint.h>

typedef struct {
    int64_t H, G;                    /* hidden size, gates * H */
    /* forward */
    const void *gi, *gh;             /* (B, G) this step's input and recurrent projections */
    const void *hprev, *cprev;       /* (B, H) */
    void *gates, *hnl, *tc, *cnew;   /* ws rows of this step; cnew: the next c_prev or cn */
    void *hout;                      /* (B, H) y[t] */
    /* backward */
    const void *gy;                  /* (B, H) gradient of y[t], or NULL */
    const void *sg, *stc, *scp, *shp, *shn, *sha;   /* saved rows of this step */
    void *dh, *dc;                   /* (B, H) carried state gradients, updated in place */
    void *dgi, *dgh;                 /* (B, G) pre-activation gradients (dgh: GRU only) */
} fg_rnn_step;

typedef void (*fg_rnn_kern)(const fg_rnn_step *s, int64_t lo, int64_t hi);

/* [mode * 2 + backward], mode FG_RNN_*; defined per path and type */
#define FG_RNN_KDECL(ts, isa) extern const fg_rnn_kern fg_rnn_kernels_##ts##_##isa[8];
FG_RNN_KDECL(f32, scalar)
FG_RNN_KDECL(f64, scalar)
FG_RNN_KDECL(f32, avx2)
FG_RNN_KDECL(f64, avx2)
FG_RNN_KDECL(f32, avx512)
FG_RNN_KDECL(f64, avx512)
#endif

#ifdef ISA_SFX
#include "isa.h"
FG_ISA_BEGIN(ISA_SFX)
#include <math.h>
#include <stdint.h>
#include "fastgrad.h"
#include "fg_math.h"

#define RK_(name, ts, isa) rnnk_##name##_##ts##_##isa
#define RK__(name, ts, isa) RK_(name, ts, isa)
#define RK(name) RK__(name, TS, ISA_SFX)
#define RTAB_(ts, isa) fg_rnn_kernels_##ts##_##isa
#define RTAB__(ts, isa) RTAB_(ts, isa)

#define T float
#define TS f32
#include "rnn_isa_tmpl.h"
#undef T
#undef TS
#define T double
#define TS f64
#include "rnn_isa_tmpl.h"
#undef T
#undef TS
FG_ISA_END
#endif
