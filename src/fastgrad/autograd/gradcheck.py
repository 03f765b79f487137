"""Numerical gradient checks: central differences in float64 against the engine."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from typing import Any, Callable


class GradcheckError(RuntimeError):
    """Analytic and numerical derivatives disagree."""


def _float_outputs(out):
    from fastgrad._tensor import Tensor
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o._data.dtype.kind == "f"]


def _numerical(fn, inputs, diff, eps):
    """J[o][i] with shape (out_o.size, in_i.size) by central differences."""
    base = _float_outputs(fn(*inputs))
    jac = [[np.zeros((o._data.size, inputs[i]._data.size)) for i in diff] for o in base]
    for col, i in enumerate(diff):
        x = inputs[i]._data
        for j, idx in enumerate(np.ndindex(*x.shape)):
            orig = x[idx]
            x[idx] = orig + eps
            fp = [o._data.astype(np.float64).ravel() for o in _float_outputs(fn(*inputs))]
            x[idx] = orig - eps
            fm = [o._data.astype(np.float64).ravel() for o in _float_outputs(fn(*inputs))]
            x[idx] = orig
            for k in range(len(base)):
                jac[k][col][:, j] = (fp[k] - fm[k]) / (2 * eps)
    return jac


def _analytic(fn, inputs, diff):
    from fastgrad import autograd
    from fastgrad._factory import zeros_like
    outs = _float_outputs(fn(*inputs))
    xs = [inputs[i] for i in diff]
    jac = [[np.zeros((o._data.size, x._data.size)) for x in xs] for o in outs]
    for k, o in enumerate(outs):
        if not o.requires_grad:
            continue
        for r in range(o._data.size):
            go = zeros_like(o)
            go._data.reshape(-1)[r] = 1.0
            gs = autograd.grad(o, xs, go, retain_graph=True, allow_unused=True)
            for col, g in enumerate(gs):
                if g is not None:
                    if g._data.shape != xs[col]._data.shape:
                        raise GradcheckError(f"gradient for input {diff[col]} has shape "
                                             f"{tuple(g._data.shape)}, expected {tuple(xs[col]._data.shape)}")
                    jac[k][col][r, :] = g._data.reshape(-1)
    return jac


def _forward(fn, inputs, diff):
    """J[o][i] by forward mode: one pass per input element with a one-hot tangent."""
    from fastgrad._tensor import Tensor
    from fastgrad.autograd import forward_ad as fwad
    jac = None
    for col, i in enumerate(diff):
        x = inputs[i]
        for j in range(x._data.size):
            e = np.zeros(x._data.shape, x._data.dtype)
            e.reshape(-1)[j] = 1.0
            with fwad.dual_level():
                args = list(inputs)
                args[i] = fwad.make_dual(x.detach(), Tensor._make(e))
                outs = _float_outputs(fn(*args))
                tans = [fwad.unpack_dual(o).tangent for o in outs]
            if jac is None:
                jac = [[np.zeros((o._data.size, inputs[d]._data.size)) for d in diff] for o in outs]
            for k, t in enumerate(tans):
                if t is not None:
                    jac[k][col][:, j] = t._data.reshape(-1)
    return jac


def _compare(kind, got, num, diff, atol, rtol, raise_exception):
    for k in range(len(num)):
        for col, i in enumerate(diff):
            a, n = got[k][col], num[k][col]
            bad = ~np.isclose(a, n, rtol=rtol, atol=atol, equal_nan=True)
            if bad.any():
                err = np.where(bad, np.abs(a - n), 0)
                r, c = np.unravel_index(np.argmax(err), err.shape)
                msg = (f"gradcheck: {kind} Jacobian mismatch for output {k} with respect to input "
                       f"{i}: entry (output element {r}, input element {c}) {kind} {a[r, c]:.8g} "
                       f"vs numerical {n[r, c]:.8g} ({int(bad.sum())} of {bad.size} entries differ; "
                       f"atol={atol}, rtol={rtol})")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradcheck(fn: Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, check_forward_ad: bool = False, check_backward_ad: bool = True) -> bool:
    """Compare the engine's Jacobian of fn at `inputs` with central differences.

    inputs: a tensor or tuple; those with requires_grad=True are checked (use float64).
    check_backward_ad: the reverse-mode Jacobian (one backward per output element);
    check_forward_ad: the forward-mode one (one dual pass per input element).
    Returns True, or raises GradcheckError naming the worst entry (or returns False with
    raise_exception=False)."""
    from fastgrad._tensor import Tensor
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    for i in diff:
        if inputs[i]._data.dtype != np.float64:
            raise GradcheckError(f"gradcheck: input {i} is {inputs[i]._data.dtype}; use float64 "
                                 "inputs, single precision is too coarse for finite differences")
    num = _numerical(fn, inputs, diff, eps)
    if check_backward_ad and not _compare("analytic", _analytic(fn, inputs, diff), num, diff,
                                          atol, rtol, raise_exception):
        return False
    if check_forward_ad and diff:
        fwd = _forward(fn, inputs, diff)
        if fwd is not None and not _compare("forward-mode", fwd, num, diff, atol, rtol,
                                            raise_exception):
            return False
    return True


def gradgradcheck(fn: Callable[..., Any], inputs: Any, grad_outputs: Any = None, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True, seed: int = 0) -> bool:
    """Check second derivatives: gradcheck of the function inputs -> VJP(fn, inputs, v)
    computed with create_graph=True, for a fixed random v (or `grad_outputs`)."""
    from fastgrad import autograd
    from fastgrad._tensor import Tensor
    from fastgrad._factory import zeros_like
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    outs = _float_outputs(fn(*inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [Tensor._make(rng.standard_normal(o._data.shape)) for o in outs]

    def vjp(*xs):
        os_ = _float_outputs(fn(*xs))
        pairs = [(o, v) for o, v in zip(os_, grad_outputs) if o.requires_grad]
        if not pairs:
            return tuple(zeros_like(xs[i]) for i in diff)
        gs = autograd.grad([p[0] for p in pairs], [xs[i] for i in diff], [p[1] for p in pairs],
                           create_graph=True, allow_unused=True)
        return tuple(g if g is not None else zeros_like(xs[i]) for g, i in zip(gs, diff))

    return gradcheck(vjp, inputs, eps, atol, rtol, raise_exception)
