/* fastgrad compiled-step plans (plan.c): a flat list of kernel invocations replayed by
 * one C loop, for fastgrad.compile.  Included at the end of fastgrad.h.
 *
 * A plan is built once (by fastgrad.compile's tracer, through the Cython wrapper) and
 * then run many times.  Every step names its operands as (base, byte offset) pairs:
 * bases[b] is a pointer the caller supplies at each run (base 0: the plan's arena of
 * intermediates; the others: parameters, gradients, optimizer state, inputs), so inputs
 * can change from call to call without copying.  Shapes, strides, op ids and scalar
 * arguments are fixed when the plan is built.  The runner allocates nothing.
 *
 * Each step's thread count is nthreads when the step's work is at least the size its
 * eager wrapper would parallelise (the `par` flag decided at build time), else 1, so a
 * replay calls every kernel exactly as eager execution does (same results, bit for bit).
 */
#ifndef FASTGRAD_PLAN_H
#define FASTGRAD_PLAN_H

#include <stdint.h>
#include "fastgrad.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    FG_P_UNARY = 0,     /* op, n[0]=count; in0=x, out0=y; s[0..1]=alpha,beta */
    FG_P_UNARY_BWD,     /* op, n[0]; in0=g, in1=x (or none), in2=y (or none), out0=gx */
    FG_P_BINARY,        /* op, ndim, shape, sa, sb; in0=a, in1=b, out0 */
    FG_P_REDUCE,        /* op, n[0..2]=outer,n,inner; in0=x (dense), out0 */
    FG_P_COPY,          /* ndim, shape, sa=strides of in0; out0 dense */
    FG_P_FILL,          /* n[0] elements of out0 set to s[0] */
    FG_P_SOFTMAX,       /* op=log flag, n[0..2]; in0=x, out0=y */
    FG_P_SOFTMAX_BWD,   /* op=log flag, n[0..2]; in0=g, in1=y, out0=gx */
    FG_P_XENT,          /* n[0]=rows n[1]=c n[2]=ignore; in0=x in1=target(int64); out0=loss rows, out1=lsm; s[0]=ls */
    FG_P_XENT_BWD,      /* n[0..2]; in0=g rows, in1=lsm, in2=target; out0=gx; s[0]=ls */
    FG_P_XENT_RED,      /* XENT, then out2 (one element) = pairwise_sum(loss) * scale, with
                           scale = 1 (op=1: 'sum') or 1/count(target != ignore) (op=0:
                           'mean', NaN when the count is 0); s[1] receives the scale   */
    FG_P_XENT_RED_BWD,  /* in0=g (one element), in1=lsm, in2=target, out0=gx, out1=scratch
                           rows: g rows = (T)(g * scale of step n[3]); then XENT_BWD     */
    FG_P_GEMM,          /* gemm desc (pointers filled at run): in0=a in1=b in2=bias (or none), out0=c */
    FG_P_OPTIM,         /* multi-tensor optimizer step over absolute pointer arrays */
    /* convolution, pooling, normalization (conv.h); the conv and pool geometry is kept in
       shape[]: conv: n c_in h w c_out kh kw oh ow sh sw ph pw dh dw groups (in that
       order); pool: planes h w oh ow kh kw sh sw ph pw dh dw count_include_pad */
    FG_P_CONV,          /* in0=x in1=w in2=bias (or none); out0=y */
    FG_P_CONV_BWD,      /* in0=x (or none) in1=w (or none) in2=g; out0=gx out1=gw out2=gb (each or none) */
    FG_P_POOL,          /* op=FG_POOLING_*; in0=x; out0=y, out1=idx (int64, max) */
    FG_P_POOL_BWD,      /* op; in0=g in1=idx (max); out0=gx */
    FG_P_BN_STATS,      /* n[0..2]=n,c,s; in0=x; out0=mean out1=var */
    FG_P_BN_APPLY,      /* n[0..2]; in0=x in1=mean in2=invstd in3=w in4=b (w, b or none); out0=y */
    FG_P_BN_BWD,        /* n[0..2], op=training; in0=x in1=g in2=mean in3=invstd in4=w; out0..2=gx gw gb */
    FG_P_BN_PREP,       /* batch_norm's per-channel NumPy work before bn_apply, n[0]=c, s[0]=eps:
                           out0[i] = in0[i] (a copy, both or neither given);
                           out1[i] = (T)(1.0 / sqrt((double)in1[i] + eps))              */
    FG_P_BN_RUNNING,    /* batch_norm's running-statistics update, n[0]=c, in0=mean in1=var:
                           out0 = out0 * (T)s[0] + (T)s[1] * in0                      (or none)
                           out1 = out1 * (T)s[0] + ((T)s[1] * in1) * (T)s[2]          (or none)
                           rounded after each operation in T, as NumPy does            */
    FG_P_ROWNORM,       /* n[0..3]=rows,d,groups,s, s[0]=eps; in0=x in1=w in2=b; out0=y out1=mean out2=rstd */
    FG_P_ROWNORM_BWD,   /* n[0..3]; in0=x in1=g in2=mean in3=rstd in4=w; out0..2=gx gw gb */
    FG_P_COUNTER,       /* *(int64 *)out0 += n[0] (a module's step counter) */
    FG_P_CLIP,          /* gradient clipping over the ntensors arrays grad[i] (numel[i] each,
                           written in place), as nn.utils computes it eagerly:
                           op=0 clip_grad_norm_: out1 (ntensors doubles, scratch) = per-array
                           norms (fg_multi_norm, one thread); total = max of them (s[1] =
                           inf), or pairwise_sum(norms^s[1]) ^ (1/s[1]) (s[1] = 1 or 2), in
                           double; out0 (one T) = (T)total; coef = (T)s[0] / (t + (T)1e-6)
                           in T; when coef < 1 the arrays are scaled by it;
                           op=1 clip_grad_value_: every element clamped to [-s[0], s[0]] */
    FG_P_DROPOUT,       /* dropout's mask, drawn from the NumPy bit generator `rng` as
                           Generator.random draws it (advancing it identically): n[0]
                           draws; op=0: float32 draws u = (next_uint32 >> 8) * 2^-24,
                           kept when u >= (float)s[0]; op=1: float64 draws u =
                           next_double, kept when u >= s[0]; out0[i] (T) = kept ? (T)s[1]
                           : 0 */
    FG_P_INDEX_SELECT,  /* n[0..3]=outer,n,inner,m, op=wrap; in0=x (outer, n, inner), in1=idx
                           (m int64); out0 (outer, m, inner) = x[:, idx, :]; a bad index:
                           FG_EINVAL with *info = the index                             */
    FG_P_INDEX_ADD,     /* n[0..3], op=wrap; in0=src (outer, m, inner), in1=idx; out0 (outer,
                           n, inner)[:, idx[j], :] += src[:, j, :] in place              */
    /* recurrent layers (rnn.h), one layer and direction: op = FG_RNN_*, n[0..3] = T, B, H,
       reverse; no batch_sizes (packed sequences are not compiled) */
    FG_P_RNN,           /* in0=gi in1=w_hh in2=b_hh in3=h0 in4=c0 (each of in2..4 or none);
                           out0=out ((T + 1, B, H) for an LSTM: its last row is c_n),
                           out1=hn, out2=ws                                             */
    FG_P_RNN_BWD,       /* in0=gy in1=ghn in2=gcn (each or none) in3=w_hh in4=ws;
                           out0=dgi out1=dh0 out2=dc0 out3=dw_hh out4=db_hh (out1..4 or
                           none)                                                        */
    /* scaled dot-product attention (attention.h): shape[0..6] = batch hq hk l s e ev,
       shape[7] = causal, shape[8] = mask kind, shape[9..12] = mask strides; s[0] = scale */
    FG_P_SDPA,          /* in0=q in1=k in2=v in3=mask (or none); out0=out out1=lse       */
    FG_P_SDPA_BWD,      /* in0=q in1=k in2=v in3=mask (or none) in4=g; out0=dq out1=dk
                           out2=dv; out3=out out4=lse of the forward step, read only (seven
                           inputs; the forward's results are always plan intermediates) */
    /* comparisons, selection, gather and scatter (float operands; indices int64, dense) */
    FG_P_COMPARE,       /* op=FG_C_*, ndim, shape, sa, sb; in0=a, in1=b; out0 bool (uint8) dense */
    FG_P_WHERE,         /* ndim, shape, sc, sa, sb; in0=cond (bool), in1=a, in2=b; out0 dense */
    FG_P_GATHER,        /* n[0..3]=outer,n,inner,m; in0=x (outer, n, inner), in1=idx (outer, m,
                           inner); out0 (outer, m, inner)[o, j, i] = x[o, idx[o, j, i], i] */
    FG_P_SCATTER_ADD,   /* n[0..3], op=0 add / 1 overwrite (scatter); in0=src (outer, m,
                           inner), in1=idx (outer, m, inner); out0 (outer, n, inner) in place:
                           out0[o, idx[o, j, i], i] (+)= src[o, j, i]                      */
    FG_P_COPY_TO,       /* ndim, shape, sa=strides of in0, sb=strides of out0 (elements);
                           out0 (strided) = in0 (strided), elements of 8 (is64) or 4 bytes
                           moved bit for bit: a region of an array assembled by NumPy   */
    /* max/min with indices, scans, products, sorting (n[0..2] = outer, n, inner: the
       dense input seen as (outer, n, inner), the reduced or scanned dim in the middle) */
    FG_P_ARGREDUCE,     /* op=FG_R_MAX/FG_R_MIN; in0=x; out0=values (outer, inner), out1=int64
                           indices (outer, inner)                                      */
    FG_P_SCAN,          /* op=FG_SCAN_*, n[3]=reverse; in0=x; out0 (outer, n, inner)     */
    FG_P_PROD,          /* in0=x; out0 (outer, inner)                                   */
    FG_P_SORT,          /* op=0 sort (n[3]=n, s[0]=descending) or 1 topk (n[3]=k,
                           s[0]=largest); in0=x; out0=values (outer, n[3], inner), out1=
                           int64 indices (outer, n[3], inner)                           */
    FG_P_NLL_PREP,      /* nll_loss's target bookkeeping (fg_nll_prep): n[0]=rows n[1]=classes
                           n[2]=ignore_index; in0=target (int64); out0=safe (int64),
                           out1=keep (T), out2=keep (bool), out3=count (one T)          */
    FG_P_COUNT
};

#define FG_P_MAXOPS 5   /* operands per step: in[0..4], out[0..4] */

/* NumPy's bitgen_t (numpy/random/bitgen.h): a bit generator's state and its draws, as
 * the "BitGenerator" capsule of numpy.random.BitGenerator hands it out */
typedef struct {
    void *state;
    uint64_t (*next_uint64)(void *st);
    uint32_t (*next_uint32)(void *st);
    double (*next_double)(void *st);
    uint64_t (*next_raw)(void *st);
} fg_bitgen;

typedef struct {
    int kind, op, is64, par, ndim;
    int64_t n[4];
    double s[4];
    int in_base[FG_P_MAXOPS], out_base[FG_P_MAXOPS];      /* -1: operand absent */
    int64_t in_off[FG_P_MAXOPS], out_off[FG_P_MAXOPS];    /* bytes from the base */
    int64_t shape[FG_MAX_DIMS], sa[FG_MAX_DIMS], sb[FG_MAX_DIMS];
    fg_gemm_desc gemm;
    /* FG_P_OPTIM */
    int alg;
    fg_optim_hyper hyper;
    int64_t ntensors;
    const int64_t *numel;
    void *const *param;
    const void *const *grad;
    void *const *state;
    double *const *step;
    /* FG_P_DROPOUT */
    fg_bitgen *rng;
    /* FG_P_WHERE: the condition's strides */
    int64_t sc[FG_MAX_DIMS];
} fg_plan_step;

/* Run steps[0..nsteps) with operand bases `bases` (nbases entries).  Returns FG_OK, or the
 * failing kernel's status with *failed set to the step index and *info to extra detail
 * (the offending row of a cross-entropy target).  Steps already run are not undone. */
int fg_plan_run(fg_plan_step *steps, int64_t nsteps, char *const *bases, int nbases,
                int nthreads, int64_t *failed, int64_t *info);

/* Checks a plan once, before it is first run: step kinds, op ids, dimension counts and
 * operand bases in [0, nbases).  Returns FG_OK or FG_EINVAL with *failed set to the first
 * bad step.  (Operand ranges are computed by the builder from live arrays.) */
int fg_plan_check(const fg_plan_step *steps, int64_t nsteps, int nbases, int64_t *failed);

/* nll_loss's target bookkeeping over n targets t for c classes: keep[i] = t[i] !=
 * ignore; safe[i] = keep ? t[i] : 0 (int64), keepf[i] = keep (float, or double when
 * is64), keepb[i] = keep (bool); *count (float/double) = the number kept, NaN when none.
 * A kept target outside [0, c): FG_EINVAL with *bad = its position (the first one),
 * nothing written. */
int fg_nll_prep(int is64, int64_t n, int64_t c, int64_t ignore, const int64_t *t,
                int64_t *safe, void *keepf, uint8_t *keepb, void *count, int64_t *bad);

/* NumPy's pairwise summation order (np.sum of a contiguous vector of n <= 8192), so a
 * replayed loss equals the eager one bit for bit. */
float fg_pairwise_sum_f32(const float *a, int64_t n);
double fg_pairwise_sum_f64(const double *a, int64_t n);

#ifdef __cplusplus
}
#endif
#endif /* FASTGRAD_PLAN_H */
