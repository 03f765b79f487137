"""SGD, Adam, AdamW, RMSprop and Adagrad: argument names, defaults and update rules of
PyTorch's torch.optim, each step one fused multi-tensor C kernel call per group/dtype."""
from __future__ import annotations

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad.optim.optimizer import Optimizer, check_range, required, _number

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


def _no_unsupported(name, differentiable=False, capturable=False):
    if differentiable:
        raise ValueError(f"{name}: differentiable=True is not supported by fastgrad")
    if capturable:
        raise ValueError(f"{name}: capturable=True is not supported by fastgrad (CPU only)")


def _betas(betas):
    try:
        b0, b1 = betas
    except (TypeError, ValueError):
        raise ValueError(f"Invalid betas: expected a pair of floats, got {betas!r}") from None
    check_range("beta parameter at index 0", b0, 0.0, 1.0)
    check_range("beta parameter at index 1", b1, 0.0, 1.0)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (Nesterov), dampening,
    weight decay and maximize, as torch.optim.SGD:

        g = -grad if maximize else grad;  g += weight_decay * p
        buf = g (first step) | momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (nesterov) | buf;  p -= lr * g
    """
    _alg = "sgd"
    _step_key = ""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening=0, weight_decay: float = 0,
                 nesterov: bool = False, *, maximize: bool = False, foreach=None, differentiable: bool = False,
                 fused=None) -> None:
        _no_unsupported("SGD", differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _validate_group(self, g):
        if g["lr"] is not required:
            check_range("learning rate", g["lr"])
        check_range("momentum value", g["momentum"])
        check_range("dampening value", g["dampening"], float("-inf"))
        check_range("weight_decay value", g["weight_decay"])
        if g["nesterov"] and (_number(g["momentum"]) <= 0 or _number(g["dampening"]) != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _layout(self, g):
        return ("momentum_buffer",) if g["momentum"] != 0 else ("",)

    def _args(self, g):
        return (float(_number(g["lr"])), float(g["weight_decay"]), float(g["momentum"]),
                float(g["dampening"]), 0.0, 0.0, 0.0, 0.0, 0.0, bool(g["nesterov"]),
                bool(g["maximize"]))


class Adam(Optimizer):
    """Adam (and AdamW with decoupled_weight_decay=True), as torch.optim.Adam:

        g = -grad if maximize else grad
        p *= 1 - lr * wd (decoupled)  |  g += wd * p (otherwise)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        vmax = max(vmax, v) (amsgrad);  t = step count
        p -= lr / (1 - beta1^t) * m / (sqrt(v or vmax) / sqrt(1 - beta2^t) + eps)
    """
    _alg = "adam"

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 amsgrad: bool = False, *, foreach=None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused=None, decoupled_weight_decay: bool = False) -> None:
        _no_unsupported(type(self).__name__, differentiable, capturable)
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _validate_group(self, g):
        check_range("learning rate", g["lr"])
        check_range("epsilon value", g["eps"])
        _betas(g["betas"])
        check_range("weight_decay value", g["weight_decay"])

    def _layout(self, g):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq" if g["amsgrad"] else "")

    def _args(self, g):
        b1, b2 = g["betas"]
        return (float(_number(g["lr"])), float(g["weight_decay"]), 0.0, 0.0, float(_number(b1)),
                float(_number(b2)), float(g["eps"]), 0.0, 0.0, False, bool(g["maximize"]),
                bool(g["amsgrad"]), bool(g["decoupled_weight_decay"]))


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW; weight_decay defaults to 0.01)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False, foreach=None, capturable: bool = False,
                 differentiable: bool = False, fused=None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def _args(self, g):
        a = super()._args(g)
        return a[:12] + (True,)


class RMSprop(Optimizer):
    """RMSprop, as torch.optim.RMSprop:

        g = -grad if maximize else grad;  g += wd * p
        sq = alpha * sq + (1 - alpha) * g * g
        avg = sqrt(sq - ga * ga) with ga = lerp(ga, g, 1 - alpha) (centered) | sqrt(sq);  avg += eps
        buf = momentum * buf + g / avg;  p -= lr * buf  (momentum > 0)  |  p -= lr * g / avg
    """
    _alg = "rmsprop"

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0,
                 centered: bool = False, capturable: bool = False, foreach=None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _no_unsupported("RMSprop", differentiable, capturable)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _validate_group(self, g):
        check_range("learning rate", g["lr"])
        check_range("epsilon value", g["eps"])
        check_range("momentum value", g["momentum"])
        check_range("weight_decay value", g["weight_decay"])
        check_range("alpha value", g["alpha"])

    def _layout(self, g):
        return ("square_avg", "momentum_buffer" if g["momentum"] > 0 else "",
                "grad_avg" if g["centered"] else "")

    def _args(self, g):
        return (float(_number(g["lr"])), float(g["weight_decay"]), float(g["momentum"]), 0.0,
                0.0, 0.0, float(g["eps"]), float(g["alpha"]), 0.0, False, bool(g["maximize"]),
                False, False, bool(g["centered"]))


class Adagrad(Optimizer):
    """Adagrad, as torch.optim.Adagrad (state is created for every parameter at once):

        g = -grad if maximize else grad;  g += wd * p;  t = step count
        sum += g * g;  p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)
    """
    _alg = "adagrad"

    def __init__(self, params, lr: float = 1e-2, lr_decay=0, weight_decay: float = 0, initial_accumulator_value=0,
                 eps: float = 1e-10, foreach=None, *, maximize: bool = False, differentiable: bool = False,
                 fused=None) -> None:
        _no_unsupported("Adagrad", differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group, self.state[p], self._layout(group))

    def _validate_group(self, g):
        check_range("learning rate", g["lr"])
        check_range("lr_decay value", g["lr_decay"])
        check_range("weight_decay value", g["weight_decay"])
        check_range("initial_accumulator_value value", g["initial_accumulator_value"])
        check_range("epsilon value", g["eps"])

    def _layout(self, g):
        return ("sum",)

    def _init_state(self, p, group, st, layout):
        if st.get("sum") is None:
            st["sum"] = Tensor._make(np.full(p._data.shape, float(group["initial_accumulator_value"]),
                                             dtype=p._data.dtype))
        if st.get("step") is None:
            st["step"] = Tensor._make(np.zeros((), dtype=np.float64))

    def _args(self, g):
        return (float(_number(g["lr"])), float(g["weight_decay"]), 0.0, 0.0, 0.0, 0.0,
                float(g["eps"]), 0.0, float(g["lr_decay"]), False, bool(g["maximize"]))
