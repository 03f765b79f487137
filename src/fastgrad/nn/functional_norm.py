"""More of torch.nn.functional's normalisation and pooling, composed of existing fastgrad
ops (their gradients come from those ops): instance_norm, local_response_norm,
adaptive_max_pool1d/2d/3d (and their _with_indices forms), adaptive_avg_pool3d,
max_pool1d/2d/3d_with_indices and lp_pool1d/2d/3d.  ``fastgrad.nn.functional``
re-exports them."""
from __future__ import annotations

import itertools
import math
from typing import Optional

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad.errors import ArgumentError, ShapeError
from fastgrad.ops import elementwise as _E, reduce as _R, shape as _S
from fastgrad.ops._record import _float_in, _make

__all__ = ["instance_norm", "local_response_norm", "adaptive_max_pool1d", "adaptive_max_pool2d",
           "adaptive_max_pool3d", "adaptive_max_pool1d_with_indices",
           "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices",
           "adaptive_avg_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
           "max_pool3d_with_indices", "lp_pool1d", "lp_pool2d", "lp_pool3d"]


def _F():
    from fastgrad.nn import functional
    return functional


# ---- normalisation ---------------------------------------------------------------------------------
def instance_norm(input: Tensor, running_mean: Optional[Tensor] = None,
                  running_var: Optional[Tensor] = None, weight: Optional[Tensor] = None,
                  bias: Optional[Tensor] = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each (sample, channel) of (N, C, ...) input over its spatial dims, then
    scale by ``weight`` and shift by ``bias`` (shape (C,)).  With ``use_input_stats`` the
    instance statistics normalise and the running statistics (if given) move towards
    their mean over the batch by ``momentum`` (the variance unbiased); otherwise the
    running statistics normalise."""
    who = "instance_norm"
    x = _float_in(input, who)
    shp = x._data.shape
    if len(shp) < 3:
        raise ShapeError(f"{who}: expected an input of at least 3 dims (N, C, ...), got shape "
                         f"{shp}")
    n, c = shp[0], shp[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ShapeError(f"{who}: {name} must have shape ({c},) for input shape {shp}, got "
                             f"{tuple(t.shape)}")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ArgumentError(f"{who}: expected running_mean and running_var when "
                                "use_input_stats is False")
        return _F().batch_norm(x, running_mean, running_var, weight, bias, False, 0.0, eps)
    sp = int(np.prod(shp[2:]))
    if sp <= 1:
        raise ShapeError(f"{who}: expected more than 1 spatial element when training, got "
                         f"input shape {shp}")
    if running_mean is not None or running_var is not None:
        d = x._data.reshape(n, c, sp).astype(np.float64)
        m = float(momentum)
        for t, stat in ((running_mean, d.mean(-1)), (running_var, d.var(-1, ddof=1))):
            if t is not None:
                t._data[...] = ((1 - m) * t._data + m * stat.mean(0)).astype(t._data.dtype)
                t._version[0] += 1
    y = _F().batch_norm(_S.reshape(x, (1, n * c, sp)), None, None, None, None, True, 0.0, eps)
    y = _S.reshape(y, shp)
    bshape = (c,) + (1,) * (len(shp) - 2)
    if weight is not None:
        y = _E.mul(y, _S.reshape(weight, bshape))
    if bias is not None:
        y = _E.add(y, _S.reshape(bias, bshape))
    return y


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """x / (k + alpha / size * sum of x^2 over the ``size`` neighbouring channels)^beta,
    the window of channel c spanning c - size // 2 .. c + (size - 1) // 2 (zeros outside)."""
    who = "local_response_norm"
    x = _float_in(input, who)
    shp = x._data.shape
    if len(shp) < 3:
        raise ShapeError(f"{who}: expected a 3-d or higher input (N, C, ...), got shape {shp}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ArgumentError(f"{who}: size must be a positive int, got {size!r}")
    c = shp[1]
    sq = _E.mul(x, x)
    pads = [0, 0] * (len(shp) - 2) + [size // 2, (size - 1) // 2]
    sq = _F().pad(sq, pads)
    acc = _S.narrow(sq, 1, 0, c)
    for i in range(1, size):
        acc = _E.add(acc, _S.narrow(sq, 1, i, c))
    div = _E.pow(_E.add(_E.mul(acc, float(alpha) / size), float(k)), float(beta))
    return _E.div(x, div)


# ---- adaptive pooling ------------------------------------------------------------------------------
def _out_size(output_size, n, spatial, who):
    t = (output_size,) * n if output_size is None or isinstance(output_size, (int, np.integer)) \
        else tuple(output_size)
    if len(t) != n:
        raise ArgumentError(f"{who}: output_size must be an int or a tuple of {n}, got "
                            f"{output_size!r}")
    out = tuple(s if o is None else int(o) for o, s in zip(t, spatial))
    if any(o < 0 or (o == 0 and s) for o, s in zip(out, spatial)):
        raise ArgumentError(f"{who}: output_size {output_size!r} must be positive")
    return out


def _adaptive_in(input, n, output_size, who):
    x = _float_in(input, who)
    shp = x._data.shape
    if len(shp) not in (n + 1, n + 2):
        raise ShapeError(f"{who}: expected a {n + 1}-d (unbatched) or {n + 2}-d (batched) input, "
                         f"got shape {shp}")
    if any(s == 0 for s in shp[-n:]):
        raise ShapeError(f"{who}: the spatial dims of the input of shape {shp} must be non-empty")
    return x, _out_size(output_size, n, shp[-n:], who)


def _regions(size, out):
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def _adaptive(x, n, out, reduce_max):
    """Loop over the output cells: the max (and its flat spatial index) or mean of each
    region; regions of size start = floor(i * L / out), end = ceil((i + 1) * L / out)."""
    shp = x._data.shape
    spatial = shp[-n:]
    lead = shp[:-n]
    regions = [_regions(s, o) for s, o in zip(spatial, out)]
    vals, idxs = [], []
    for cell in itertools.product(*regions):
        r = x
        for d, (a, b) in enumerate(cell):
            r = _S.narrow(r, len(lead) + d, a, b - a)
        r = _S.reshape(r, (*lead, -1))
        if not reduce_max:
            vals.append(_R.mean(r, -1))
            continue
        v, i = _R.max(r, -1)
        vals.append(v)
        sizes = [b - a for a, b in cell]
        local = np.unravel_index(i._data, sizes)
        flat = np.zeros(i._data.shape, dtype=np.int64)
        for d, (a, _) in enumerate(cell):
            flat = flat * spatial[d] + (local[d] + a)
        idxs.append(flat)
    y = _S.reshape(_S.stack(vals, -1), (*lead, *out))
    if not reduce_max:
        return y
    return y, _make(np.stack(idxs, -1).reshape(*lead, *out))


def _adaptive_max(input, output_size, return_indices, n):
    who = f"adaptive_max_pool{n}d"
    x, out = _adaptive_in(input, n, output_size, who)
    y, i = _adaptive(x, n, out, True)
    return (y, i) if return_indices else y


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max over L_out adaptive windows of (N, C, L) or (C, L) input (window i spans
    floor(i L / L_out) .. ceil((i + 1) L / L_out)); ``return_indices``: also the position
    of each max in L."""
    return _adaptive_max(input, output_size, return_indices, 1)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max over adaptive windows of (N, C, H, W) or (C, H, W) input to (H_out, W_out)
    (``None`` keeps that size); ``return_indices``: also each max's flat index in H * W."""
    return _adaptive_max(input, output_size, return_indices, 2)


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """Max over adaptive windows of (N, C, D, H, W) or (C, D, H, W) input;
    ``return_indices``: also each max's flat index in D * H * W."""
    return _adaptive_max(input, output_size, return_indices, 3)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """adaptive_max_pool1d's (output, indices)."""
    return _adaptive_max(input, output_size, True, 1)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """adaptive_max_pool2d's (output, indices)."""
    return _adaptive_max(input, output_size, True, 2)


def adaptive_max_pool3d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """adaptive_max_pool3d's (output, indices)."""
    return _adaptive_max(input, output_size, True, 3)


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """Mean over adaptive windows of (N, C, D, H, W) or (C, D, H, W) input to
    (D_out, H_out, W_out) (``None`` keeps that size)."""
    x, out = _adaptive_in(input, 3, output_size, "adaptive_avg_pool3d")
    return _adaptive(x, 3, out, False)


# ---- max pooling with indices, power-average pooling ------------------------------------------------
def max_pool1d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = False):
    """max_pool1d's (output, indices)."""
    return _F().max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = False):
    """max_pool2d's (output, indices)."""
    return _F().max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = False):
    """max_pool3d's (output, indices)."""
    return _F().max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, n):
    who = f"lp_pool{n}d"
    x = _float_in(input, who)
    p = float(norm_type)
    if p == 0:
        raise ArgumentError(f"{who}: norm_type must be non-zero, got {norm_type!r}")
    ks = (kernel_size,) * n if isinstance(kernel_size, (int, np.integer)) else tuple(kernel_size)
    avg = getattr(_F(), f"avg_pool{n}d")
    out = avg(_E.pow(x, p), ks, stride, 0, ceil_mode)
    out = _E.mul(_E.mul(_E.sign(out), _E.relu(_E.abs(out))), float(math.prod(ks)))
    return _E.pow(out, 1.0 / p)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling of (N, C, L): (sum over each window of x^p)^(1/p),
    p = norm_type."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling of (N, C, H, W): (sum over each window of x^p)^(1/p)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling of (N, C, D, H, W): (sum over each window of x^p)^(1/p)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 3)
