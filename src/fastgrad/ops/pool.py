"""Pooling (max, average, adaptive average) and resampling (interpolate/upsample).

Pooling pairs a linear op with its adjoint, as convolution does (``fastgrad.ops.conv``);
max pooling's adjoint is a scatter by the saved argmax indices (its derivative a gather).
"""
from __future__ import annotations

import math

import numpy as np

from fastgrad.errors import ArgumentError, DtypeError, ShapeError
from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor
from fastgrad.autograd.engine import declare, jvp_rule
from fastgrad._C._kernels import POOL
from fastgrad.ops._record import (_float_in, _make, _needs, _record, exports, public, lowp_via_float32)

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Any



# ---- pooling ------------------------------------------------------------------------------
# params: (op, xshape, oh, ow, kernel, stride, padding, dilation, count_include_pad)
def _pool_k(x, p):
    return backend.k.pool2d(p[0], x, p[2], p[3], p[4], p[5], p[6], p[7], p[8])


def _pool_adj_k(g, idx, p):
    return backend.k.pool2d_bwd(p[0], g, idx, p[1], p[4], p[5], p[6], p[7], p[8])


def _lin_pool_bwd(node, g):
    p = node.ctx
    if not grad_mode.enabled:
        return (_fresh(_pool_adj_k(g._data, None, p)),)
    return (_lin_pool_adj(g, p),)


declare(_lin_pool_bwd, linear=lambda node, t, out: _lin_pool(t, node.ctx, node.name))


def _lin_pool(x, p, name):
    """Average pooling (plain or adaptive): linear in x."""
    out = _pool_k(x._data, p)[0]
    if _needs(x):
        return _record(out, name, _lin_pool_bwd, (x,), (), None, p)
    return _make(out)


def _lin_pool_adj_bwd(node, v):
    p = node.ctx
    if not grad_mode.enabled:
        return (_fresh(_pool_k(v._data, p)[0]),)
    return (_lin_pool(v, p, "avg_pool2d"),)


declare(_lin_pool_adj_bwd, linear=lambda node, t, out: _lin_pool_adj(t, node.ctx))


def _lin_pool_adj(g, p):
    out = _pool_adj_k(g._data, None, p)
    if _needs(g):
        return _record(out, "avg_pool2d_backward", _lin_pool_adj_bwd, (g,), (), None, p)
    return _make(out)


def _max_pool_bwd(node, g):
    idx, p = node.ctx
    if not grad_mode.enabled:
        return (_fresh(_pool_adj_k(g._data, idx, p)),)
    return (_max_unpool(g, idx, p),)


@jvp_rule(_max_pool_bwd)
def _max_pool_jvp(node, xs, ts, out):
    idx, p = node.ctx
    return _take_at(ts[0], idx, p)       # the tangent at each window's maximum


def _take_at(v, idx, p):
    """The values of v (the pooled input's shape) at the window maxima idx."""
    xs = p[1]
    planes = int(np.prod(xs[:-2], dtype=np.int64))
    flat = reshape(v, (planes, xs[-2] * xs[-1]))
    return reshape(gather(flat, 1, idx.reshape(planes, -1)), idx.shape)


def _max_unpool_bwd(node, v):
    idx, p = node.ctx
    return (_take_at(v, idx, p),)


declare(_max_unpool_bwd, linear=lambda node, t, out: _max_unpool(t, *node.ctx))


def _max_unpool(g, idx, p):
    """The adjoint of max pooling: g scattered (added) to the argmax positions."""
    out = _pool_adj_k(g._data, idx, p)
    if _needs(g):
        return _record(out, "max_pool2d_backward", _max_unpool_bwd, (g,), (), None, (idx, p))
    return _make(out)


def _pool_out(n, k, s, p, d, ceil):
    num = n + 2 * p - d * (k - 1) - 1
    o = (num + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def _pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, nsp, who):
    x = _float_in(input, who)
    if x._data.ndim not in (nsp + 1, nsp + 2):
        raise ShapeError(f"{who}: expected {nsp + 1}-d (unbatched) or {nsp + 2}-d (batched) input, "
                         f"got shape {_shape(x)}")
    k = _ntuple(kernel_size, nsp, "kernel_size", who, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        _ntuple(stride, nsp, "stride", who, 1)
    p = _ntuple(padding, nsp, "padding", who, 0)
    d = _ntuple(dilation, nsp, "dilation", who, 1)
    for kk, pp in zip(k, p):
        if pp > kk // 2:
            raise ShapeError(f"{who}: padding should be at most half of the kernel size, got padding "
                             f"{p} for kernel size {k}")
    sp = _shape(x)[-nsp:]
    if 0 in sp:
        raise ShapeError(f"{who}: input spatial size {sp} is empty (input shape {_shape(x)})")
    o = tuple(_pool_out(n, kk, ss, pp, dd, ceil_mode) for n, kk, ss, pp, dd in zip(sp, k, s, p, d))
    if any(v < 1 for v in o):
        raise ShapeError(f"{who}: input spatial size {sp} is too small for kernel size {k} "
                         f"(padding {p}, dilation {d}): output size {o}")
    # a stride beyond the padded input gives one window either way; clamping it keeps the
    # kernel's index arithmetic far from overflow
    s = tuple(min(ss, n + 2 * pp + 1) for ss, n, pp in zip(s, sp, p))
    if nsp == 1:
        x = unsqueeze(x, -2)
        k, s, p, d, o = (1,) + k, (1,) + s, (0,) + p, (1,) + d, (1,) + o
    return x, k, s, p, d, o


def _max_pool_int(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nsp, who):
    """Max pooling of an integer tensor keeps its dtype (as PyTorch): the windows' maxima
    are found on a float64 copy and read back from the integer values by their indices."""
    y, idx = _max_pool(_make(input._data.astype(np.float64)), kernel_size, stride, padding, dilation,
                       ceil_mode, True, nsp, who)
    a = input._data
    flat = a.reshape(a.shape[:-nsp] + (-1,))
    out = np.take_along_axis(flat, idx._data.reshape(idx._data.shape[:-nsp] + (-1,)), axis=-1)
    y = _make(np.ascontiguousarray(out.reshape(idx._data.shape)))
    return (y, idx) if return_indices else y


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nsp, who):
    if isinstance(input, Tensor) and input._data.dtype.kind in "iu":
        return _max_pool_int(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                             nsp, who)
    x, k, s, p, d, o = _pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, nsp, who)
    params = (POOL["max"], _shape(x), o[0], o[1], k, s, p, d, True)
    out, idx = _pool_k(x._data, params)
    y = _record(out, who, _max_pool_bwd, (x,), (), None, (idx, params)) if _needs(x) else _make(out)
    if nsp == 1:
        y = squeeze(y, -2)
        idx = idx.reshape(idx.shape[:-2] + idx.shape[-1:])
    if return_indices:
        return y, _make(idx)
    return y


@public
@lowp_via_float32
def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Max over windows of the last dim of (N, C, L) or (C, L); indices are positions in L."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1,
                     "max_pool1d")


@public
@lowp_via_float32
def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Max over windows of (N, C, H, W) or (C, H, W); the gradient goes to the first
    maximum of each window.  Indices (return_indices) are flat positions h * W + w."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2,
                     "max_pool2d")


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
              nsp, who):
    if divisor_override is not None:
        raise NotImplementedError(f"{who}: divisor_override is not supported")
    x, k, s, p, d, o = _pool_nd(input, kernel_size, stride, padding, 1, ceil_mode, nsp, who)
    params = (POOL["avg"], _shape(x), o[0], o[1], k, s, p, d, bool(count_include_pad))
    y = _lin_pool(x, params, who)
    return squeeze(y, -2) if nsp == 1 else y


@public
@lowp_via_float32
def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling of (N, C, L) or (C, L) input over windows of ``kernel_size``
    (``stride`` defaults to it; ``padding`` zeros each side, counted in the average when
    ``count_include_pad``)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1,
                     "avg_pool1d")


@public
@lowp_via_float32
def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True,
               divisor_override=None) -> Tensor:
    """Mean over windows; count_include_pad counts the zero padding in the divisor."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2, "avg_pool2d")


def _pool3d_planes(x, o):
    """(N, C, D, H, W) as (N, C * D, H, W) for the 2-d pool over (H, W)."""
    n, c, dd, h, w = _shape(x)
    return reshape(x, (n, c * dd, h, w)), (n, c, dd, h, w)


def _pool3d_depth(y2, dims, o):
    """The 2-d pool's (N, C * D, OH, OW) as (N * C, OH * OW, D) for the 1-d pool over D."""
    n, c, dd = dims[:3]
    return permute(reshape(y2, (n * c, dd, o[1] * o[2])), (0, 2, 1))


def _pool3d_out(y1, dims, o, unbatched):
    n, c = dims[:2]
    y = permute(reshape(y1, (n, c, o[1], o[2], o[0])), (0, 1, 4, 2, 3))
    return squeeze(y, 0) if unbatched else y


@public
@lowp_via_float32
def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Max over windows of (N, C, D, H, W) or (C, D, H, W): a 2-d max pool over (H, W) of
    each depth slice, then a 1-d max pool over D (the maximum of a box is the maximum of
    its slices' maxima; the gradient goes to the first maximum in (d, h, w) order).
    Indices (return_indices) are flat positions d * H * W + h * W + w."""
    who = "max_pool3d"
    x, k, s, p, d, o = _pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, 3, who)
    unbatched = x._data.ndim == 4
    if unbatched:
        x = unsqueeze(x, 0)
    x2, dims = _pool3d_planes(x, o)
    y2, i2 = max_pool2d(x2, k[1:], s[1:], p[1:], d[1:], ceil_mode, True)
    y1, i1 = max_pool1d(_pool3d_depth(y2, dims, o), k[0], s[0], p[0], d[0], ceil_mode, True)
    y = _pool3d_out(y1, dims, o, unbatched)
    if not return_indices:
        return y
    n, c, dd, h, w = dims
    hw = np.take_along_axis(i2._data.reshape(n * c, dd, o[1] * o[2]).transpose(0, 2, 1),
                            i1._data, 2)
    flat = (i1._data * (h * w) + hw).reshape(n, c, o[1], o[2], o[0]).transpose(0, 1, 4, 2, 3)
    flat = np.ascontiguousarray(flat[0] if unbatched else flat)
    return y, _make(flat)


@public
@lowp_via_float32
def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True,
               divisor_override=None) -> Tensor:
    """Mean over windows of (N, C, D, H, W) or (C, D, H, W): a 2-d average pool over (H, W)
    of each depth slice, then a 1-d average pool over D (the window sizes, and so the
    divisors, are products of per-dimension sizes)."""
    who = "avg_pool3d"
    if divisor_override is not None:
        raise NotImplementedError(f"{who}: divisor_override is not supported")
    x, k, s, p, d, o = _pool_nd(input, kernel_size, stride, padding, 1, ceil_mode, 3, who)
    unbatched = x._data.ndim == 4
    if unbatched:
        x = unsqueeze(x, 0)
    x2, dims = _pool3d_planes(x, o)
    y2 = avg_pool2d(x2, k[1:], s[1:], p[1:], ceil_mode, count_include_pad)
    y1 = avg_pool1d(_pool3d_depth(y2, dims, o), k[0], s[0], p[0], ceil_mode, count_include_pad)
    return _pool3d_out(y1, dims, o, unbatched)


# ---- max unpooling ----------------------------------------------------------------------------
def _unpool_bwd(node, g):
    idx, m, xshape = node.ctx
    planes = idx.shape[0]
    return (reshape(gather(reshape(g, (planes, m)), 1, idx), xshape),)


declare(_unpool_bwd, linear=lambda node, t, out: _unpool(t, *node.ctx, _shape(out)))


def _unpool(v, idx, m, xshape, oshape):
    planes = idx.shape[0]
    out = np.zeros((planes, m), dtype=v._data.dtype)
    out[np.arange(planes)[:, None], idx] = v._data.reshape(planes, -1)
    out = out.reshape(oshape)
    if _needs(v):
        return _record(out, "max_unpool", _unpool_bwd, (v,), (), None, (idx, m, xshape))
    return _make(out)


def _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, nsp, who):
    x = _float_in(input, who)
    if x._data.ndim not in (nsp + 1, nsp + 2):
        raise ShapeError(f"{who}: expected {nsp + 1}-d (unbatched) or {nsp + 2}-d (batched) input, "
                         f"got shape {_shape(x)}")
    ind = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
    if ind.dtype.kind not in "iu":
        raise TypeError(f"{who}: indices must be integers (int64), got dtype {ind.dtype}")
    if ind.shape != x._data.shape:
        raise ShapeError(f"{who}: indices shape {tuple(ind.shape)} must match the input shape "
                         f"{_shape(x)}")
    k = _ntuple(kernel_size, nsp, "kernel_size", who, 1)
    s = k if stride is None else _ntuple(stride, nsp, "stride", who, 1)
    p = _ntuple(padding, nsp, "padding", who, 0)
    sp = _shape(x)[-nsp:]
    if output_size is None:
        osp = tuple((n - 1) * ss - 2 * pp + kk for n, ss, pp, kk in zip(sp, s, p, k))
    else:
        osp = tuple(int(v) for v in output_size)
        if len(osp) == nsp + 2 or (len(osp) == nsp + 1 and x._data.ndim == nsp + 1):
            osp = osp[-nsp:]
        if len(osp) != nsp:
            raise ShapeError(f"{who}: output_size should have {nsp} or {nsp + 2} elements, got "
                             f"{tuple(output_size)}")
    if any(v < 1 for v in osp):
        raise ShapeError(f"{who}: the output size {osp} for input {_shape(x)} is not positive")
    m = math.prod(osp)
    lead = _shape(x)[:-nsp]
    planes = math.prod(lead)
    idx = np.ascontiguousarray(ind.reshape(planes, -1), dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= m):
        bad = idx[(idx < 0) | (idx >= m)].flat[0]
        raise IndexError(f"{who}: index {bad} is out of range for an output of spatial size "
                         f"{osp} ({m} positions)")
    return _unpool(x, idx, m, _shape(x), lead + osp)


@public
def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of max_pool1d: input values placed at their indices (positions
    in L) of a zero output of length (L - 1) * stride - 2 * padding + kernel_size (or
    output_size)."""
    return _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, 1,
                          "max_unpool1d")


@public
def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of max_pool2d: input values placed at their flat indices
    h * W + w of a zero (N, C, H, W) output (H, W from the pooling geometry or
    output_size)."""
    return _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, 2,
                          "max_unpool2d")


@public
def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of max_pool3d (flat indices d * H * W + h * W + w)."""
    return _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, 3,
                          "max_unpool3d")


def _adaptive(input, output_size, nsp, who):
    x = _float_in(input, who)
    if x._data.ndim not in (nsp + 1, nsp + 2):
        raise ShapeError(f"{who}: expected {nsp + 1}-d (unbatched) or {nsp + 2}-d (batched) input, "
                         f"got shape {_shape(x)}")
    sp = _shape(x)[-nsp:]
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != nsp:
            raise ShapeError(f"{who}: output_size must have {nsp} entries, got {output_size!r}")
        o = tuple(n if v is None else v for v, n in zip(output_size, sp))
    else:
        o = (output_size,) * nsp
    o = _ntuple(o, nsp, "output_size", who, 1)
    if any(n < 1 for n in sp):
        raise ShapeError(f"{who}: input shape {_shape(x)} has an empty spatial dimension")
    if nsp == 1:
        x = unsqueeze(x, -2)
        o = (1,) + o
    params = (POOL["adaptive_avg"], _shape(x), o[0], o[1], (1, 1), (1, 1), (0, 0), (1, 1), True)
    y = _lin_pool(x, params, who)
    return squeeze(y, -2) if nsp == 1 else y


@public
@lowp_via_float32
def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """1-D average pooling of (N, C, L) or (C, L) input to length ``output_size``: output
    element i averages input[floor(i*L/out) : ceil((i+1)*L/out)]."""
    return _adaptive(input, output_size, 1, "adaptive_avg_pool1d")


@public
@lowp_via_float32
def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Output cell i averages input rows floor(i H / OH) .. ceil((i + 1) H / OH) (and
    likewise columns); an output_size entry None keeps that input size."""
    return _adaptive(input, output_size, 2, "adaptive_avg_pool2d")


def _src_index(o, n, scale, align_corners, nearest, exact=False):
    """Source coordinates of the o output positions along an axis of n inputs."""
    i = np.arange(o, dtype=np.float64)
    if nearest:
        f = (n / o) if scale is None else 1.0 / scale
        return np.minimum(np.floor((i + 0.5 if exact else i) * f).astype(np.int64), n - 1)
    if align_corners:
        return i * ((n - 1) / (o - 1)) if o > 1 else np.zeros(o)
    f = (n / o) if scale is None else 1.0 / scale
    return np.maximum((i + 0.5) * f - 0.5, 0.0)


_LINEAR_DIMS = {"linear": 3, "bilinear": 4, "trilinear": 5}


@public
def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resize the spatial dims of (N, C, L) / (N, C, H, W) / (N, C, D, H, W) input: mode
    'nearest' (PyTorch's legacy nearest: source index floor(i * in / out)),
    'nearest-exact' (floor((i + 0.5) * in / out)), 'linear' (3-d), 'bilinear' (4-d) or
    'trilinear' (5-d) with align_corners as PyTorch, or 'area' (adaptive average pooling,
    3-d and 4-d).  With scale_factor the source positions use 1 / scale_factor unless
    recompute_scale_factor=True.  Built from index_select and elementwise ops, so it is
    differentiable to any order."""
    who = "interpolate"
    if isinstance(input, Tensor) and input._data.dtype.kind in "iub":
        # PyTorch resamples uint8 (nearest modes exactly; the others with its own fixed-point
        # rounding, which fastgrad does not reproduce) and no other integer dtype
        if input._data.dtype != np.uint8 or mode not in ("nearest", "nearest-exact"):
            raise DtypeError(f"{who}: mode {mode!r} on a {input._data.dtype} tensor is not supported "
                             "(uint8 takes 'nearest' and 'nearest-exact'); convert it to a floating "
                             "dtype first")
        x = input
    else:
        x = _float_in(input, who)
    nd = x._data.ndim
    if nd not in (3, 4, 5):
        raise ShapeError(f"{who}: expected 3-d (N, C, L), 4-d (N, C, H, W) or 5-d (N, C, D, H, W) "
                         f"input, got shape {_shape(x)}")
    nsp = nd - 2
    modes = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area")
    if mode not in modes:
        raise ArgumentError(f"{who}: mode must be one of {modes}, got {mode!r}")
    if mode in _LINEAR_DIMS and _LINEAR_DIMS[mode] != nd:
        raise ShapeError(f"{who}: mode {mode!r} expects {_LINEAR_DIMS[mode]}-d input, got shape "
                         f"{_shape(x)}")
    if mode not in _LINEAR_DIMS and align_corners is not None:
        raise ArgumentError(f"{who}: align_corners only applies to the linear modes")
    if antialias:
        raise NotImplementedError(f"{who}: antialias=True is not supported by fastgrad")
    if (size is None) == (scale_factor is None):
        raise ShapeError(f"{who}: give exactly one of size and scale_factor")
    if mode == "area" and nsp == 3:
        raise NotImplementedError(f"{who}: mode 'area' on 5-d input is not supported by fastgrad")
    sp = _shape(x)[2:]
    if size is not None:
        out = _ntuple(size, nsp, "size", who, 1)
        scales = (None,) * nsp
    else:
        sf = (float(scale_factor),) * nsp if not isinstance(scale_factor, (tuple, list)) \
            else tuple(float(v) for v in scale_factor)
        if len(sf) != nsp or any(v <= 0 for v in sf):
            raise ArgumentError(f"{who}: scale_factor must be positive with {nsp} entries, got {scale_factor!r}")
        out = tuple(int(math.floor(n * f)) for n, f in zip(sp, sf))
        if any(o < 1 for o in out):
            raise ShapeError(f"{who}: output size {out} is empty")
        scales = (None,) * nsp if recompute_scale_factor else sf
    oshape = _shape(x)[:2] + tuple(out)
    nel = math.prod(oshape)
    if max(nel, math.prod(out)) * x._data.dtype.itemsize > 2 ** 62:
        raise ShapeError(f"{who}: the output of shape {oshape} ({nel} elements) is larger than any "
                         "array that can be allocated")
    if mode == "area":
        return (adaptive_avg_pool1d if nsp == 1 else adaptive_avg_pool2d)(x, out)
    try:
        return _resample(x, sp, out, scales, mode, align_corners, nd, nsp, who)
    except MemoryError:
        raise MemoryError(f"{who}: the output of shape {oshape} ({nel} elements, "
                          f"{nel * x._data.dtype.itemsize} bytes) cannot be allocated") from None


def _resample(x, sp, out, scales, mode, align_corners, nd, nsp, who):
    y = x
    for a in range(nsp):
        axis = 2 + a
        n, o = sp[a], out[a]
        if mode in ("nearest", "nearest-exact"):
            idx = _src_index(o, n, scales[a], False, True, mode == "nearest-exact")
            y = _index_select(y, axis, idx, False, who)
            continue
        src = _src_index(o, n, scales[a], bool(align_corners), False)
        i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
        i1 = np.minimum(i0 + 1, n - 1)
        lam = (src - i0).astype(x._data.dtype)
        shp = [1] * nd
        shp[axis] = o
        lam_t = _make(lam.reshape(shp))
        a0 = _index_select(y, axis, i0, False, who)
        a1 = _index_select(y, axis, i1, False, who)
        y = add(a0, mul(sub(a1, a0), lam_t))
    return y


@public
def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    """The deprecated name of ``interpolate`` (same arguments)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.conv import _ntuple, _shape
from fastgrad.ops.elementwise import add, mul, sub
from fastgrad.ops.indexing import _index_select, gather
from fastgrad.ops.linalg import _fresh
from fastgrad.ops.shape import permute, reshape, squeeze, unsqueeze
