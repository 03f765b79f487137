/* fastgrad optimizer kernels: fused multi-tensor SGD / Adam(W) / RMSprop / Adagrad steps and
 * the norm/scale helpers of gradient clipping (optim.h).
 *
 * One call walks a list of tensors.  The per-element loops live in optim_tmpl.h and are
 * compiled here once per SIMD path (scalar, AVX2+FMA, AVX-512) and dtype; the active path
 * (fg_get_isa) picks the table at run time, like the other kernel families.  Per-tensor
 * scalars (bias corrections from the step count, Adagrad's decayed lr) are computed here
 * in double before a tensor's loop runs.
 *
 * Threads: below FG_OPTIM_PAR_THRESHOLD updated elements (or with nthreads <= 1) one
 * plain loop over the tensors runs on the caller's thread: no task, no atomics.  Above it
 * the concatenation of all tensors is cut into equal chunks that the task pool
 * (threadpool.c) hands out; a chunk may span several tensors.  Step counters are advanced
 * once, after every chunk is done, so all chunks of a tensor see the same coefficients. */
#include <math.h>
#include <stdint.h>
#include "fastgrad.h"
#include "isa.h"
#include "threadpool.h"

typedef struct {
    double lr, wd, mom, damp, b1, b2, eps, alpha;
    double step_size, bc2s, clr;       /* per tensor: Adam lr / bc1, sqrt(bc2); Adagrad lr */
    double rho;                        /* Adadelta */
    double bc1, bc2, rect;             /* RAdam: 1 - b1^t, 1 - b2^t, rectification (0: none) */
    double nc1, nc2;                   /* NAdam: the coefficients of g / denom and m / denom */
    int nesterov, maximize, amsgrad, decoupled, centered;
    int first;                         /* SGD: first step of this tensor */
    int lerp_hi;                       /* lerp weight >= 0.5 (PyTorch's second lerp form) */
} opt_coef;

typedef void (*opt_seg_f32)(int64_t, float *, const float *, float *, float *, float *,
                            const opt_coef *);
typedef void (*opt_seg_f64)(int64_t, double *, const double *, double *, double *, double *,
                            const opt_coef *);

/* ---- per-ISA instantiation -------------------------------------------------------- */
FG_ISA_BEGIN(scalar)
#define SFX scalar
#define T float
#define TS f32
#define OPT_SEG_T opt_seg_f32
#include "optim_tmpl.h"
#undef T
#undef TS
#undef OPT_SEG_T
#define T double
#define TS f64
#define OPT_SEG_T opt_seg_f64
#include "optim_tmpl.h"
#undef T
#undef TS
#undef OPT_SEG_T
#undef SFX
FG_ISA_END

#if defined(__x86_64__) || defined(__i386__)
FG_ISA_BEGIN(avx2)
#define SFX avx2
#define T float
#define TS f32
#define OPT_SEG_T opt_seg_f32
#include "optim_tmpl.h"
#undef T
#undef TS
#undef OPT_SEG_T
#define T double
#define TS f64
#define OPT_SEG_T opt_seg_f64
#include "optim_tmpl.h"
#undef T
#undef TS
#undef OPT_SEG_T
#undef SFX
FG_ISA_END

FG_ISA_BEGIN(avx512)
#define SFX avx512
#define T float
#define TS f32
#define OPT_SEG_T opt_seg_f32
#include "optim_tmpl.h"
#undef T
#undef TS
#undef OPT_SEG_T
#define T double
#define TS f64
#define OPT_SEG_T opt_seg_f64
#include "optim_tmpl.h"
#undef T
#undef TS
#undef OPT_SEG_T
#undef SFX
FG_ISA_END
#endif

/* ---- argument checks and per-tensor coefficients ----------------------------------- */
static int opt_nslots(int alg, const fg_optim_hyper *h, int *need)
{
    need[0] = need[1] = need[2] = 0;
    switch (alg) {
    case FG_OPT_SGD: need[0] = h->momentum != 0.0; return 1;
    case FG_OPT_ADAM: need[0] = need[1] = 1; need[2] = h->amsgrad != 0; return 3;
    case FG_OPT_RMSPROP: need[0] = 1; need[1] = h->momentum > 0.0; need[2] = h->centered != 0; return 3;
    case FG_OPT_ADAGRAD: need[0] = 1; return 1;
    case FG_OPT_ADADELTA: need[0] = need[1] = 1; return 2;
    case FG_OPT_RADAM: need[0] = need[1] = 1; return 2;
    case FG_OPT_NADAM: need[0] = need[1] = need[2] = 1; return 3;
    default: return -1;
    }
}

static int opt_check(int alg, const fg_optim_hyper *h, int64_t nt, const int64_t *numel,
                     void *const *param, const void *const *grad, void *const *state,
                     double *const *step)
{
    int need[3];
    if (!h || nt < 0 || alg < 0 || alg >= FG_OPT_COUNT) return FG_EINVAL;
    if (nt == 0) return FG_OK;
    if (!numel || !param || !grad) return FG_EINVAL;
    const int ns = opt_nslots(alg, h, need);
    const int needs_state = need[0] || need[1] || need[2];
    if (needs_state && !state) return FG_EINVAL;
    if (!step && alg != FG_OPT_SGD) return FG_EINVAL;
    for (int64_t i = 0; i < nt; i++) {
        if (numel[i] < 0) return FG_EINVAL;
        if (!grad[i]) continue;
        if (step && !step[i]) return FG_EINVAL;
        if (alg == FG_OPT_NADAM && !state[2 * nt + i]) return FG_EINVAL;
        if (numel[i] == 0) continue;
        if (!param[i]) return FG_EINVAL;
        for (int k = 0; k < ns; k++)
            if (need[k] && !state[k * nt + i]) return FG_EINVAL;
    }
    return FG_OK;
}

/* NAdam's momentum coefficient mu_t */
static double nadam_mu(const fg_optim_hyper *h, double t)
{
    return h->beta1 * (1.0 - 0.5 * pow(0.96, t * h->momentum_decay));
}

/* NAdam's running product after this step: (float32) mu_product * (float32) mu_t */
static float nadam_product(const fg_optim_hyper *h, double t, float mp)
{
    return mp * (float)nadam_mu(h, t);
}

/* mp: NAdam's mu_product before this step (unused by the other algorithms) */
static void opt_coefs(int alg, const fg_optim_hyper *h, double step_now, float mp, opt_coef *c)
{
    /* step_now: this tensor's step count after this update */
    c->lr = h->lr; c->wd = h->weight_decay; c->mom = h->momentum; c->damp = h->dampening;
    c->b1 = h->beta1; c->b2 = h->beta2; c->eps = h->eps; c->alpha = h->alpha;
    c->nesterov = h->nesterov; c->maximize = h->maximize; c->amsgrad = h->amsgrad;
    c->decoupled = h->decoupled; c->centered = h->centered;
    c->first = step_now <= 1.0;
    c->step_size = c->bc2s = c->clr = 0.0;
    c->lerp_hi = 0;
    switch (alg) {
    case FG_OPT_ADAM:
        c->step_size = h->lr / (1.0 - pow(h->beta1, step_now));
        c->bc2s = sqrt(1.0 - pow(h->beta2, step_now));
        c->lerp_hi = (1.0 - h->beta1) >= 0.5;
        break;
    case FG_OPT_RMSPROP: c->lerp_hi = (1.0 - h->alpha) >= 0.5; break;
    case FG_OPT_ADAGRAD: c->clr = h->lr / (1.0 + (step_now - 1.0) * h->lr_decay); break;
    case FG_OPT_ADADELTA: c->rho = h->rho; break;
    case FG_OPT_RADAM: {
        const double t = step_now, b2t = pow(h->beta2, t);
        const double rho_inf = 2.0 / (1.0 - h->beta2) - 1.0;
        c->bc1 = 1.0 - pow(h->beta1, t);
        c->bc2 = 1.0 - b2t;
        const double rho_t = rho_inf - 2.0 * t * b2t / c->bc2;
        c->rect = rho_t > 5.0 ? sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                                     ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                              : 0.0;
        break;
    }
    case FG_OPT_NADAM: {
        const double t = step_now;
        const double mu = nadam_mu(h, t), mu_next = nadam_mu(h, t + 1.0);
        const double prod = (double)nadam_product(h, t, mp);
        c->bc2 = 1.0 - pow(h->beta2, t);
        c->nc1 = -h->lr * (1.0 - mu) / (1.0 - prod);
        c->nc2 = (-h->lr * mu_next) / (1.0 - prod * mu_next);
        break;
    }
    default: break;
    }
}

static int opt_isa(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return fg_get_isa();
#else
    return FG_ISA_SCALAR;
#endif
}

/* ---- the generic multi-tensor driver ------------------------------------------------ */
typedef struct {
    int alg, is64;
    const fg_optim_hyper *h;
    int64_t nt, chunk;
    const int64_t *numel;
    void *const *param;
    const void *const *grad;
    void *const *state;
    double *const *step;
    const void *seg;          /* the ISA's segment table for this dtype */
} opt_job;

#define SLOT(j, k, i) ((j)->state ? (char *)(j)->state[(k) * (j)->nt + (i)] : (char *)0)

/* update elements [lo, lo + len) of tensor i */
static void opt_segment(const opt_job *j, int64_t i, int64_t lo, int64_t len)
{
    opt_coef c;
    const double s = j->step ? *j->step[i] : 1.0;
    const int nadam = j->alg == FG_OPT_NADAM;
    opt_coefs(j->alg, j->h, s + 1.0, nadam ? *(const float *)SLOT(j, 2, i) : 1.0f, &c);
    if (j->alg == FG_OPT_SGD && !j->step) c.first = 0;
    const int ns = j->alg == FG_OPT_SGD || j->alg == FG_OPT_ADAGRAD ? 1
                 : j->alg == FG_OPT_ADADELTA || j->alg == FG_OPT_RADAM ? 2 : 3;
    const size_t es = j->is64 ? sizeof(double) : sizeof(float);
    char *pp = (char *)j->param[i] + lo * es;
    const char *gp = (const char *)j->grad[i] + lo * es;
    char *s0 = SLOT(j, 0, i), *s1 = ns > 1 ? SLOT(j, 1, i) : 0, *s2 = ns > 2 ? SLOT(j, 2, i) : 0;
    if (s0) s0 += lo * es;
    if (s1) s1 += lo * es;
    if (s2 && !nadam) s2 += lo * es;      /* NAdam's slot 2: one float per tensor */
    if (j->is64)
        ((const opt_seg_f64 *)j->seg)[j->alg](len, (double *)pp, (const double *)gp, (double *)s0,
                                              (double *)s1, (double *)s2, &c);
    else
        ((const opt_seg_f32 *)j->seg)[j->alg](len, (float *)pp, (const float *)gp, (float *)s0,
                                              (float *)s1, (float *)s2, &c);
}

static void opt_task(void *ctx, int64_t t, int tid)
{
    const opt_job *j = ctx;
    (void)tid;
    const int64_t lo = t * j->chunk, hi = lo + j->chunk;
    int64_t off = 0;                       /* start of tensor i in the concatenation */
    for (int64_t i = 0; i < j->nt && off < hi; i++) {
        if (!j->grad[i] || j->numel[i] == 0) continue;
        const int64_t end = off + j->numel[i];
        if (end > lo) {
            const int64_t a = lo > off ? lo - off : 0;
            const int64_t b = (hi < end ? hi : end) - off;
            opt_segment(j, i, a, b - a);
        }
        off = end;
    }
}

static int opt_run(opt_job *j, int nthreads)
{
    int64_t total = 0;
    for (int64_t i = 0; i < j->nt; i++)
        if (j->grad[i]) total += j->numel[i];
    if (nthreads <= 1 || total < FG_OPTIM_PAR_THRESHOLD) {
        for (int64_t i = 0; i < j->nt; i++)
            if (j->grad[i] && j->numel[i] > 0) opt_segment(j, i, 0, j->numel[i]);
    } else {
        const int64_t tasks = 2 * (int64_t)nthreads;
        j->chunk = ((total + tasks - 1) / tasks + 63) / 64 * 64;
        fg_parallel_for(nthreads, (total + j->chunk - 1) / j->chunk, opt_task, j);
    }
    if (j->alg == FG_OPT_NADAM)      /* before the step counts: the product uses step + 1 */
        for (int64_t i = 0; i < j->nt; i++)
            if (j->grad[i]) {
                float *mp = (float *)SLOT(j, 2, i);
                *mp = nadam_product(j->h, *j->step[i] + 1.0, *mp);
            }
    if (j->step)
        for (int64_t i = 0; i < j->nt; i++)
            if (j->grad[i]) *j->step[i] += 1.0;
    return FG_OK;
}

static const void *opt_table(int is64)
{
    switch (opt_isa()) {
#if defined(__x86_64__) || defined(__i386__)
    case FG_ISA_AVX512: return is64 ? (const void *)opt_table_f64_avx512 : (const void *)opt_table_f32_avx512;
    case FG_ISA_AVX2: return is64 ? (const void *)opt_table_f64_avx2 : (const void *)opt_table_f32_avx2;
#endif
    default: return is64 ? (const void *)opt_table_f64_scalar : (const void *)opt_table_f32_scalar;
    }
}

#define OPT_PUBLIC(TS, T, IS64)                                                                  \
    int fg_optim_step_##TS(int alg, const fg_optim_hyper *h, int64_t ntensors,                   \
                           const int64_t *numel, T *const *param, const T *const *grad,          \
                           T *const *state, double *const *step, int nthreads)                   \
    {                                                                                            \
        int rc = opt_check(alg, h, ntensors, numel, (void *const *)param,                        \
                           (const void *const *)grad, (void *const *)state, step);               \
        if (rc != FG_OK || ntensors == 0) return rc;                                             \
        opt_job j = {alg, IS64, h, ntensors, 0, numel, (void *const *)param,                     \
                     (const void *const *)grad, (void *const *)state, step, opt_table(IS64)};    \
        return opt_run(&j, nthreads);                                                            \
    }
OPT_PUBLIC(f32, float, 0)
OPT_PUBLIC(f64, double, 1)

/* ---- clipping: per-tensor norms, in-place scaling ----------------------------------- */
#define NORM_PUBLIC(TS, T)                                                                       \
    int fg_multi_norm_##TS(int64_t ntensors, const int64_t *numel, const T *const *x, double p,  \
                           double *out, int nthreads)                                            \
    {                                                                                            \
        (void)nthreads;                                                                          \
        if (ntensors < 0 || !(p > 0.0) || (ntensors > 0 && (!numel || !x || !out)))               \
            return FG_EINVAL;                                                                    \
        for (int64_t i = 0; i < ntensors; i++)                                                   \
            if (numel[i] < 0 || (numel[i] > 0 && !x[i])) return FG_EINVAL;                       \
        const int isa = opt_isa();                                                               \
        for (int64_t i = 0; i < ntensors; i++) {                                                 \
            double acc;                                                                          \
            if (isa == FG_ISA_AVX512) acc = NORM_ISA(TS, avx512)(numel[i], x[i], p);             \
            else if (isa == FG_ISA_AVX2) acc = NORM_ISA(TS, avx2)(numel[i], x[i], p);            \
            else acc = NORM_ISA(TS, scalar)(numel[i], x[i], p);                                  \
            out[i] = isinf(p) || p == 1.0 ? acc : (p == 2.0 ? sqrt(acc) : pow(acc, 1.0 / p));    \
        }                                                                                        \
        return FG_OK;                                                                            \
    }                                                                                            \
    int fg_multi_scale_##TS(int64_t ntensors, const int64_t *numel, T *const *x, double s,       \
                            int nthreads)                                                        \
    {                                                                                            \
        (void)nthreads;                                                                          \
        if (ntensors < 0 || (ntensors > 0 && (!numel || !x))) return FG_EINVAL;                  \
        for (int64_t i = 0; i < ntensors; i++)                                                   \
            if (numel[i] < 0 || (numel[i] > 0 && !x[i])) return FG_EINVAL;                       \
        const int isa = opt_isa();                                                               \
        for (int64_t i = 0; i < ntensors; i++) {                                                 \
            if (isa == FG_ISA_AVX512) SCALE_ISA(TS, avx512)(numel[i], x[i], s);                  \
            else if (isa == FG_ISA_AVX2) SCALE_ISA(TS, avx2)(numel[i], x[i], s);                 \
            else SCALE_ISA(TS, scalar)(numel[i], x[i], s);                                       \
        }                                                                                        \
        return FG_OK;                                                                            \
    }
#if defined(__x86_64__) || defined(__i386__)
#define NORM_ISA(TS, ISA) opt_norm_acc_##TS##_##ISA
#define SCALE_ISA(TS, ISA) opt_scale_##TS##_##ISA
#else
#define NORM_ISA(TS, ISA) opt_norm_acc_##TS##_scalar
#define SCALE_ISA(TS, ISA) opt_scale_##TS##_scalar
#endif
NORM_PUBLIC(f32, float)
NORM_PUBLIC(f64, double)
