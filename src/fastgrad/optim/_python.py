"""Adadelta, RAdam, NAdam and LBFGS: argument names, defaults, update rules and state
entries of PyTorch's torch.optim.  Adadelta, RAdam and NAdam update every parameter of a
group in one fused C call (csrc/optim_tmpl.h), as SGD and Adam do, so fastgrad.compile
records their steps.  LBFGS's step (a closure, a line search) is written in NumPy; a
compiled function that steps it runs eagerly (see fastgrad.compile)."""
from __future__ import annotations

import math

import numpy as np

from fastgrad._hooks import hooks
from fastgrad._state import grad_mode
from fastgrad._tensor import Tensor
from fastgrad.autograd.grad_mode import enable_grad
from fastgrad.optim.optimizer import Optimizer, check_range, _number
from fastgrad.optim._algorithms import _betas, _no_unsupported

__all__ = ["Adadelta", "RAdam", "NAdam", "LBFGS"]


def _scalar(v, dtype=np.float64):
    return Tensor._make(np.array(v, dtype=dtype))


class Adadelta(Optimizer):
    """Adadelta, as torch.optim.Adadelta:

        g = -grad if maximize else grad;  g += weight_decay * p
        v = rho * v + (1 - rho) * g * g
        delta = sqrt(u + eps) / sqrt(v + eps) * g;  u = rho * u + (1 - rho) * delta * delta
        p -= lr * delta
    """
    _alg = "adadelta"

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 foreach=None, *,
                 capturable: bool = False, maximize: bool = False, differentiable: bool = False) -> None:
        _no_unsupported("Adadelta", differentiable, capturable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _validate_group(self, g):
        check_range("learning rate", g["lr"])
        check_range("rho value", g["rho"], 0.0, 1.0, hi_open=False)
        check_range("epsilon value", g["eps"])
        check_range("weight_decay value", g["weight_decay"])

    def _layout(self, g):
        return ("square_avg", "acc_delta")

    def _args(self, g):
        return (float(_number(g["lr"])), float(g["weight_decay"]), 0.0, 0.0, 0.0, 0.0,
                float(g["eps"]), 0.0, 0.0, False, bool(g["maximize"]), False, False, False,
                float(g["rho"]), 0.0)


class RAdam(Optimizer):
    """RAdam (rectified Adam), as torch.optim.RAdam:

        g = -grad if maximize else grad
        p *= 1 - lr * wd (decoupled_weight_decay)  |  g += wd * p (otherwise)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        p -= lr * m / (1 - beta1^t) * r_t * sqrt(1 - beta2^t) / (sqrt(v) + eps)  (rho_t > 5)
        p -= lr * m / (1 - beta1^t)                                             (otherwise)
        with r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
    """
    _alg = "radam"

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 decoupled_weight_decay: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False,
                 differentiable: bool = False) -> None:
        _no_unsupported("RAdam", differentiable, capturable)
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _validate_group(self, g):
        check_range("learning rate", g["lr"])
        check_range("epsilon value", g["eps"])
        _betas(g["betas"])
        check_range("weight_decay value", g["weight_decay"])

    def _layout(self, g):
        return ("exp_avg", "exp_avg_sq")

    def _args(self, g):
        b1, b2 = g["betas"]
        return (float(_number(g["lr"])), float(g["weight_decay"]), 0.0, 0.0, float(_number(b1)),
                float(_number(b2)), float(g["eps"]), 0.0, 0.0, False, bool(g["maximize"]),
                False, bool(g["decoupled_weight_decay"]), False, 0.0, 0.0)


class NAdam(Optimizer):
    """NAdam (Adam with Nesterov momentum), as torch.optim.NAdam:

        g = -grad if maximize else grad
        p *= 1 - lr * wd (decoupled_weight_decay)  |  g += wd * p (otherwise)
        mu_t = beta1 (1 - 0.5 * 0.96^(t momentum_decay));  mu_product *= mu_t (float32)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        denom = sqrt(v / (1 - beta2^t)) + eps
        p -= lr (1 - mu_t) / (1 - mu_product) * g / denom
        p -= lr mu_{t+1} / (1 - mu_product mu_{t+1}) * m / denom
    """
    _alg = "nadam"

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *, foreach=None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False) -> None:
        _no_unsupported("NAdam", differentiable, capturable)
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _validate_group(self, g):
        check_range("learning rate", g["lr"])
        check_range("epsilon value", g["eps"])
        _betas(g["betas"])
        check_range("weight_decay value", g["weight_decay"])
        check_range("momentum_decay value", g["momentum_decay"])

    def _layout(self, g):
        return ("exp_avg", "exp_avg_sq", "mu_product")

    def _init_state(self, p, group, st, layout):
        if st.get("mu_product") is None:
            st["mu_product"] = _scalar(1.0, np.float32)
        super()._init_state(p, group, st, layout)

    def _args(self, g):
        b1, b2 = g["betas"]
        return (float(_number(g["lr"])), float(g["weight_decay"]), 0.0, 0.0, float(_number(b1)),
                float(_number(b2)), float(g["eps"]), 0.0, 0.0, False, bool(g["maximize"]),
                False, bool(g["decoupled_weight_decay"]), False, 0.0,
                float(g["momentum_decay"]))

    def _load_value(self, p, key, val):
        if key == "mu_product":
            arr = val._data if isinstance(val, Tensor) else np.asarray(val)
            return _scalar(np.asarray(arr).reshape(()), np.float32)
        return super()._load_value(p, key, val)


# ---- L-BFGS ------------------------------------------------------------------------------------
def _cubic_min(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1, slope g1) and (x2, f2, slope g2),
    clamped into bounds (default: between x1 and x2); their midpoint when the cubic has
    no real minimiser."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(disc)
    if x1 <= x2:
        pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(pos, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step t along d meeting the strong Wolfe conditions (sufficient decrease c1,
    curvature c2): bracketing by cubic extrapolation, then zooming by cubic
    interpolation (Nocedal & Wright, algorithms 3.5 and 3.6).  evaluate(t) gives
    (loss, flat gradient) at x + t d.  Returns (loss, gradient, t, evaluations)."""
    d_norm = float(np.abs(d).max())
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    it = 0
    br = br_f = br_g = br_gtd = None
    while it < max_ls:
        if f_new > f + c1 * t * gtd or (it > 1 and f_new >= f_prev):
            br, br_f, br_g, br_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            br, br_f, br_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            br, br_f, br_g, br_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        nxt = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                         bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = nxt
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(g_new @ d)
        it += 1
    if it == max_ls:
        br, br_f, br_g = [0.0, t], [f, f_new], [g, g_new]
    insufficient = False
    low, high = (0, 1) if br_f[0] <= br_f[-1] else (1, 0)
    while not done and it < max_ls:
        if abs(br[1] - br[0]) * d_norm < tolerance_change:
            break
        t = _cubic_min(br[0], br_f[0], br_gtd[0], br[1], br_f[1], br_gtd[1])
        top, bottom = max(br), min(br)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:
            # too close to an end of the bracket: move away from it, unless the last
            # step made progress from the inside
            if insufficient or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(g_new @ d)
        it += 1
        if f_new > f + c1 * t * gtd or f_new >= br_f[low]:
            br[high], br_f[high], br_g[high], br_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if br_f[0] <= br_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (br[high] - br[low]) >= 0:
                br[high], br_f[high], br_g[high], br_gtd[high] = br[low], br_f[low], br_g[low], br_gtd[low]
            br[low], br_f[low], br_g[low], br_gtd[low] = t, f_new, g_new, gtd_new
    return br_f[low], br_g[low], br[low], evals


class LBFGS(Optimizer):
    """L-BFGS, as torch.optim.LBFGS: step(closure) runs up to max_iter iterations (at most
    max_eval closure calls) of limited-memory BFGS over all parameters as one flat
    vector, with the last history_size curvature pairs, and a fixed step lr (the first
    iteration of the first step: min(1, 1 / |g|_1) * lr) or a strong-Wolfe line search
    (line_search_fn="strong_wolfe").  One parameter group only.  The state (curvature
    pairs, direction, step) lives under the first parameter, with PyTorch's keys."""
    _alg = None

    def __init__(self, params, lr: float = 1, max_iter=20, max_eval=None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size=100, line_search_fn=None) -> None:
        if isinstance(lr, Tensor) and lr._data.size != 1:
            raise ValueError("Tensor lr must be 1-element")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _validate_group(self, g):
        check_range("learning rate", g["lr"])
        if g["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                             f"{g['line_search_fn']!r}")

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    def _flat_grad(self):
        return np.concatenate([np.zeros(p._data.size, p._data.dtype) if p.grad is None
                               else p.grad._data.reshape(-1) for p in self._params])

    def _add(self, t, d):
        off = 0
        for p in self._params:
            n = p._data.size
            p._data += (d[off:off + n] * p._data.dtype.type(t)).reshape(p._data.shape)
            p._version[0] += 1
            off += n

    def _set(self, values):
        for p, v in zip(self._params, values):
            p._data[...] = v
            p._version[0] += 1

    def _load_value(self, p, key, val):
        if isinstance(val, (list, tuple)):
            return [self._load_value(p, key, v) for v in val]
        if isinstance(val, Tensor) or hasattr(val, "__array__"):
            arr = val._data if isinstance(val, Tensor) else np.asarray(val)
            return Tensor._make(np.array(arr))
        return val

    def step(self, closure):
        """Run the iterations; closure() re-evaluates the model and returns the loss
        (it is called with gradients enabled).  Returns the first loss."""
        if closure is None:
            raise ValueError("LBFGS.step requires a closure that re-evaluates the model and "
                             "returns the loss")
        if hooks.optim_step is not None:
            hooks.optim_step(self, closure)
        prev = grad_mode.enabled
        grad_mode.enabled = False
        try:
            return self._step(closure)
        finally:
            grad_mode.enabled = prev

    def _step(self, closure):
        def evaluate():
            with enable_grad():
                out = closure()
            return out, float(_number(out) if isinstance(out, Tensor) else out)

        group = self.param_groups[0]
        lr = float(_number(group["lr"]))
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history = group["history_size"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss, loss = evaluate()
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if np.abs(g).max() <= tol_grad:
            return orig_loss

        def arr(key):
            v = state.get(key)
            return v._data if isinstance(v, Tensor) else v

        d, t = arr("d"), state.get("t")
        dirs = [v._data for v in state.get("old_dirs", [])]
        stps = [v._data for v in state.get("old_stps", [])]
        ro = [float(_number(v)) for v in state.get("ro", [])]
        h_diag = float(_number(state.get("H_diag", 1)))
        g_prev = arr("prev_flat_grad")
        loss_prev = state.get("prev_loss")
        t = None if t is None else float(_number(t))
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -g
                dirs, stps, ro, h_diag = [], [], [], 1.0
            else:
                y = g - g_prev
                s = d * d.dtype.type(t)
                ys = float(y @ s)
                if ys > 1e-10:
                    if len(dirs) == history:
                        dirs.pop(0)
                        stps.pop(0)
                        ro.pop(0)
                    dirs.append(y)
                    stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / float(y @ y)
                # two-loop recursion: d = -H g with the stored curvature pairs
                al = [0.0] * len(dirs)
                q = -g
                for i in range(len(dirs) - 1, -1, -1):
                    al[i] = float(stps[i] @ q) * ro[i]
                    q = q - dirs[i] * q.dtype.type(al[i])
                r = q * q.dtype.type(h_diag)
                for i in range(len(dirs)):
                    be = float(dirs[i] @ r) * ro[i]
                    r = r + stps[i] * r.dtype.type(al[i] - be)
                d = r
                state["al"] = [_scalar(a) for a in al] + [None] * (history - len(al))
            g_prev = g.copy()
            loss_prev = loss
            t = min(1.0, 1.0 / float(np.abs(g).sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(g @ d)
            if gtd > -tol_change:
                break
            ls_evals = 0
            if group["line_search_fn"] is not None:
                x0 = [p._data.copy() for p in self._params]

                def along(step):
                    self._add(step, d)
                    _, f = evaluate()
                    gg = self._flat_grad()
                    self._set(x0)
                    return f, gg
                loss, g, t, ls_evals = _strong_wolfe(along, t, d, loss, g, gtd,
                                                     tolerance_change=1e-9,
                                                     max_ls=max_eval - evals)
                self._add(t, d)
                opt_cond = np.abs(g).max() <= tol_grad
            else:
                self._add(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    _, loss = evaluate()
                    g = self._flat_grad()
                    opt_cond = np.abs(g).max() <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals
            if n_iter == max_iter or evals >= max_eval or opt_cond:
                break
            if np.abs(d * d.dtype.type(t)).max() <= tol_change:
                break
            if abs(loss - loss_prev) < tol_change:
                break
        state["d"] = Tensor._make(d)
        state["t"] = t
        state["old_dirs"] = [Tensor._make(v) for v in dirs]
        state["old_stps"] = [Tensor._make(v) for v in stps]
        state["ro"] = [_scalar(v) for v in ro]
        state["H_diag"] = _scalar(h_diag)
        state["prev_flat_grad"] = Tensor._make(g_prev)
        state["prev_loss"] = loss_prev
        return orig_loss
