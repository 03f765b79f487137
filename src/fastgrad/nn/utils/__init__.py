"""Gradient clipping: clip_grad_norm_ and clip_grad_value_ (torch.nn.utils names and
semantics).  Norms and scaling of contiguous gradients run in fastgrad's multi-tensor C
kernels (csrc/optim.c); gradients are modified in place.  Packed sequences for the
recurrent layers are in the submodule ``rnn`` (torch.nn.utils.rnn)."""
import math

import numpy as np

from fastgrad._hooks import hooks
from fastgrad._tensor import Tensor
from fastgrad._C import _kernels as _ck
from fastgrad.nn.utils import rnn  # noqa: F401

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters, who):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    out = []
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: expected Tensors, got {type(p).__name__}")
        if p.grad is not None:
            out.append(p.grad)
    return out


def _by_dtype(grads):
    groups = {}
    for g in grads:
        if g._data.dtype.kind != "f":
            raise TypeError(f"gradients must be floating point, got {g._data.dtype}")
        groups.setdefault(g._data.dtype, []).append(g._data)
    return groups


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients of `parameters` in place so that their joint norm (the
    norm_type-norm of the vector of per-gradient norms) is at most max_norm; returns that
    total norm (before clipping) as a 0-d Tensor."""
    grads = _grads(parameters, "clip_grad_norm_")
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if math.isnan(norm_type) or norm_type < 0 and norm_type != -math.inf:
        raise ValueError(f"clip_grad_norm_: norm_type must be >= 0, inf or -inf, got {norm_type}")
    after = None if hooks.clip_grad is None else hooks.clip_grad(
        "clip_grad_norm_", grads, max_norm, norm_type, error_if_nonfinite)
    if not grads:
        return Tensor._make(np.array(0.0, dtype=np.float32))
    groups = _by_dtype(grads)
    dt = np.result_type(*groups)
    norms = []
    for arrays in groups.values():
        if norm_type > 0:
            norms.append(_ck.multi_norm(arrays, norm_type))
        elif norm_type == 0:
            norms.append(np.array([np.count_nonzero(a) for a in arrays], dtype=np.float64))
        else:
            norms.append(np.array([np.min(np.abs(a)) if a.size else np.inf for a in arrays],
                                  dtype=np.float64))
    norms = np.concatenate(norms)
    if math.isinf(norm_type):
        total = norms.max() if norm_type > 0 else norms.min()
    elif norm_type == 0:
        total = norms.sum()
    else:
        total = np.sum(norms ** norm_type) ** (1.0 / norm_type)
    total = dt.type(total)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is "
                           "non-finite, so it cannot be clipped. To disable this error and scale the "
                           "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    coef = dt.type(max_norm) / (total + dt.type(1e-6))
    if not coef < 1.0 and not np.isnan(coef):
        coef = dt.type(1.0)
    if coef != 1.0:
        for arrays in groups.values():
            _ck.multi_scale(arrays, float(arrays[0].dtype.type(coef)))
        for g in grads:
            g._version[0] += 1
    out = Tensor._make(np.array(total, dtype=dt))
    if after is not None:
        after(out._data)
    return out


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of `parameters` into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    if math.isnan(clip_value):
        raise ValueError("clip_grad_value_: clip_value is NaN")
    grads = _grads(parameters, "clip_grad_value_")
    after = None if hooks.clip_grad is None else hooks.clip_grad(
        "clip_grad_value_", grads, clip_value, None, False)
    for g in grads:
        np.clip(g._data, -clip_value, clip_value, out=g._data)
        g._version[0] += 1
    if after is not None:
        after(None)
