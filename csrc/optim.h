/* fastgrad optimizer kernels (optim.c): fused, multi-tensor parameter updates and the
 * gradient-norm helpers used for clipping.  Included at the end of fastgrad.h.
 *
 * Multi-tensor convention: one call updates a list of `ntensors` dense tensors.
 *   numel[i]                 IN      elements of tensor i (>= 0)
 *   param[i]                 IN/OUT  parameter data of tensor i
 *   grad[i]                  IN      its gradient (same layout), or NULL: tensor i is skipped
 *                                    (no update, no state change, step not incremented)
 *   state[k * ntensors + i]  IN/OUT  state slot k of tensor i (numel[i] elements), see below
 *   step[i]                  IN/OUT  step count of tensor i (a double), incremented by one
 *                                    for every updated tensor
 * Every argument is checked before anything is written: on FG_EINVAL nothing changed.
 * Hyperparameters are not checked for range or finiteness (the Python layer does that).
 * Work is split over fastgrad's task pool only when the updated tensors hold at least
 * FG_OPTIM_PAR_THRESHOLD elements in all and nthreads > 1; otherwise one thread runs it.
 *
 * Algorithms and their state slots (update rules are PyTorch's torch.optim ones):
 *   FG_OPT_SGD      slot 0: momentum buffer (used only when momentum != 0).  step may be
 *                   NULL; a tensor whose *step[i] == 0 gets its buffer initialised to the
 *                   gradient (PyTorch's first step), otherwise the buffer is updated.
 *   FG_OPT_ADAM     slot 0: exp_avg, slot 1: exp_avg_sq, slot 2: max_exp_avg_sq (amsgrad).
 *                   decoupled != 0 gives AdamW.  Bias corrections use the new step count.
 *   FG_OPT_RMSPROP  slot 0: square_avg, slot 1: momentum buffer (momentum > 0),
 *                   slot 2: grad_avg (centered).
 *   FG_OPT_ADAGRAD  slot 0: sum.  lr / (1 + (step - 1) * lr_decay) with the new step.
 *   FG_OPT_ADADELTA slot 0: square_avg, slot 1: acc_delta; rho is the decay constant.
 *   FG_OPT_RADAM    slot 0: exp_avg, slot 1: exp_avg_sq; decoupled != 0: decoupled weight
 *                   decay.  The rectification term is computed per tensor from the new step.
 *   FG_OPT_NADAM    slot 0: exp_avg, slot 1: exp_avg_sq, slot 2: mu_product -- ONE float32
 *                   per tensor (whatever T is), multiplied by this step's momentum
 *                   coefficient (rounded to float32) once per updated tensor;
 *                   momentum_decay as in PyTorch; decoupled as RAdam.
 */
#ifndef FASTGRAD_OPTIM_H
#define FASTGRAD_OPTIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { FG_OPT_SGD = 0, FG_OPT_ADAM, FG_OPT_RMSPROP, FG_OPT_ADAGRAD, FG_OPT_ADADELTA,
       FG_OPT_RADAM, FG_OPT_NADAM, FG_OPT_COUNT };

#define FG_OPTIM_PAR_THRESHOLD 262144   /* elements; a 100k-parameter model stays on one thread */

typedef struct {
    double lr, weight_decay;
    double momentum, dampening;      /* SGD; RMSprop uses momentum */
    double beta1, beta2, eps;        /* Adam; eps also RMSprop, Adagrad */
    double alpha;                    /* RMSprop smoothing constant */
    double lr_decay;                 /* Adagrad */
    int nesterov, maximize, amsgrad, decoupled, centered;
    double rho;                      /* Adadelta */
    double momentum_decay;           /* NAdam */
} fg_optim_hyper;

int fg_optim_step_f32(int alg, const fg_optim_hyper *h, int64_t ntensors, const int64_t *numel,
                      float *const *param, const float *const *grad, float *const *state,
                      double *const *step, int nthreads);
int fg_optim_step_f64(int alg, const fg_optim_hyper *h, int64_t ntensors, const int64_t *numel,
                      double *const *param, const double *const *grad, double *const *state,
                      double *const *step, int nthreads);

/* out[i] = ||x_i||_p for each tensor (p > 0 finite, or p = +inf for max |x|), computed in
 * double; NaN in x gives NaN.  x[i] may be NULL only when numel[i] == 0. */
int fg_multi_norm_f32(int64_t ntensors, const int64_t *numel, const float *const *x, double p,
                      double *out, int nthreads);
int fg_multi_norm_f64(int64_t ntensors, const int64_t *numel, const double *const *x, double p,
                      double *out, int nthreads);
/* x_i *= s for every tensor, in place. */
int fg_multi_scale_f32(int64_t ntensors, const int64_t *numel, float *const *x, double s,
                       int nthreads);
int fg_multi_scale_f64(int64_t ntensors, const int64_t *numel, double *const *x, double s,
                       int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* FASTGRAD_OPTIM_H */
