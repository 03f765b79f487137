"""Reductions (sum, mean, var, max/min, prod, amax/amin, norm, all/any), scans (cumsum,
cumprod) and the softmax family.
"""
from __future__ import annotations

import collections
import math

import numpy as np

from fastgrad.errors import ArgumentError, ShapeError
from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor
from fastgrad import _dtype
from fastgrad.autograd.engine import declare, jvp_rule
from fastgrad._C._kernels import R, SCAN, U
from fastgrad.ops._record import (_float_in, _make, _max, _needs, _norm_dim, _norm_dims, _ones_of,
                                  _record, _scalar, _to_tensor, _zeros_of, exports, public, to)

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Any, Optional
    from fastgrad._typing import DType, Dims

_LOWP_FLOATS = _dtype.FLOAT_STORAGE - frozenset(_dtype.KERNEL_FLOATS)



def _slice_reduce_jvp(node, xs, ts, out):
    """For reductions (ctx = (shape, dims, keepdim)) whose output element depends only on
    its own slice of the input: the backward of ones holds each output's partials with
    respect to its slice; the tangent sums them times the input tangent over the slice."""
    shape, dims, keepdim = node.ctx
    (gx,) = node.fn(node, _ones_of(out))
    p = mul(gx, ts[0])
    return sum(p, dims, keepdim) if dims else p


# ---- reductions -------------------------------------------------------------------------
def _keep_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _expand_back(g, shape, dims, keepdim):
    """Broadcast a reduced gradient back over the reduced dims."""
    if not keepdim and dims:
        g = reshape(g, _keep_shape(shape, dims))
    return expand(g, shape)


def _sum_bwd(node, g):
    shape, dims, keepdim = node.ctx
    return (_expand_back(g, shape, dims, keepdim),)


def _batched_reduce_grad(node, G, scale=False):
    shape, dims, keepdim = node.ctx
    if not keepdim:
        G = G.reshape((G.shape[0],) + _keep_shape(shape, dims))
    if scale:
        n = 1
        for d in dims:
            n *= shape[d]
        G = G / n
    return (np.broadcast_to(G, (G.shape[0],) + tuple(shape)),)


declare(_sum_bwd, linear=lambda node, t, out: sum(t, node.ctx[1], node.ctx[2]) if node.ctx[1] else t,
        input_shape=lambda node, i, out_shape: tuple(node.ctx[0]), batched=_batched_reduce_grad)


def _mean_bwd(node, g):
    shape, dims, keepdim = node.ctx
    n = 1
    for d in dims:
        n *= shape[d]
    return (_expand_back(div(g, float(n)), shape, dims, keepdim),)


declare(_mean_bwd, linear=lambda node, t, out: mean(t, node.ctx[1], node.ctx[2]) if node.ctx[1] else t,
        input_shape=lambda node, i, out_shape: tuple(node.ctx[0]),
        batched=lambda node, G: _batched_reduce_grad(node, G, scale=True))


def _reduce(name, x, dim, keepdim, bwd):
    if isinstance(x, Tensor) and x._data.dtype in _LOWP_FLOATS:      # float16, bfloat16: in float32
        return to(_reduce(name, to(x, _dtype.float32), dim, keepdim, bwd), x._data.dtype)
    x = (_float_in(x, name) if (type(x) is not Tensor and not isinstance(x, Tensor))
         or x._data.dtype not in _dtype.FLOAT_STORAGE else x)
    dims = _norm_dims(dim, x._data.ndim, name)
    out = backend.k.reduce(R[name], x._data, dims)
    if keepdim:
        out = out.reshape(_keep_shape(x._data.shape, dims))
    if x.requires_grad and grad_mode.enabled:
        return _record(out, name, bwd, (x,), (), None, (x._data.shape, dims, keepdim))
    return _make(out)


@public(method=True)
def sum(x: Tensor, dim: Optional[Dims] = None, keepdim: bool = False, dtype: Optional[DType] = None,
        axis: Optional[Dims] = None) -> Tensor:
    """The sum of the elements over ``dim``. ``dim``: an int or a sequence of ints (None: every
    dimension); ``keepdim`` keeps the reduced dimensions with size 1. ``dtype`` casts the
    input first; integer and bool inputs sum in int64, as in PyTorch."""
    if axis is not None:
        dim = axis
    if dtype is not None:
        x = to(x, dtype)
    if isinstance(x, Tensor) and x._data.dtype not in _dtype.FLOAT_STORAGE:
        dims = _norm_dims(dim, x._data.ndim, "sum")
        return _make(np.asarray(np.sum(x._data, axis=dims, keepdims=keepdim, dtype=np.int64)))
    return _reduce("sum", x, dim, keepdim, _sum_bwd)


@public(method=True)
def mean(x: Tensor, dim: Optional[Dims] = None, keepdim: bool = False, dtype: Optional[DType] = None,
         axis: Optional[Dims] = None) -> Tensor:
    """The mean of the elements over ``dim``. ``dim``: an int or a sequence of ints (None:
    every dimension); ``keepdim`` keeps the reduced dimensions with size 1. The input must
    be floating (or cast with ``dtype``)."""
    if axis is not None:
        dim = axis
    if dtype is not None:
        x = to(x, dtype)
    if isinstance(x, Tensor) and x._data.dtype not in _dtype.FLOAT_STORAGE:
        raise _dtype.DtypeNotSupported(f"mean: input dtype should be floating point, got {x._data.dtype}; "
                                       "cast it with .float()")
    return _reduce("mean", x, dim, keepdim, _mean_bwd)


@public(method=True)
def var(x: Tensor, dim: Optional[Dims] = None, correction=1, keepdim: bool = False, unbiased=None,
        axis: Optional[Dims] = None, _who="var") -> Tensor:
    """The variance over ``dim``: sum((x - mean)**2) / (N - correction). ``dim``: an int or a
    sequence of ints (None: every dimension); ``keepdim`` keeps the reduced dimensions with
    size 1. ``correction=1`` (Bessel's, the default) or ``unbiased=False`` for the
    population variance."""
    if axis is not None:
        dim = axis
    if unbiased is not None:
        correction = 1 if unbiased else 0
    x = _float_in(x, _who)
    dims = _norm_dims(dim, x._data.ndim, _who)
    n = 1
    for d in dims:
        n *= x._data.shape[d]
    d = sub(x, mean(x, dims if dims else None, keepdim=True))
    return div(sum(mul(d, d), dims if dims else None, keepdim=keepdim), float(_max(n - correction, 0)))


@public(method=True)
def std(x: Tensor, dim: Optional[Dims] = None, correction=1, keepdim: bool = False, unbiased=None,
        axis: Optional[Dims] = None) -> Tensor:
    """The standard deviation over ``dim``, sqrt(var(x, dim, correction)). ``dim``: an int or a
    sequence of ints (None: every dimension); ``keepdim`` keeps the reduced dimensions with
    size 1."""
    if axis is not None:
        dim = axis
    return _std_of_var(var(x, dim, correction, keepdim, unbiased, _who="std"))


def _std_of_var(v):
    """sqrt(v), whose gradient is 0 where v is 0 (PyTorch's std backward), not nan."""
    if not (_needs(v) and (v._data == 0).any()):
        return sqrt(v)
    zero = eq(v, 0.0)
    dt = v._data.dtype
    return where(zero, _scalar(0.0, dt), sqrt(where(zero, _scalar(1.0, dt), v)))


def _lse_bwd(node, g):
    (x,) = node.saved
    shape, dims, keepdim = node.ctx
    out = node.output()
    if not keepdim and dims:
        out = reshape(out, _keep_shape(shape, dims))
        g = reshape(g, _keep_shape(shape, dims))
    return (mul(g, exp(sub(x, out))),)


jvp_rule(_lse_bwd)(_slice_reduce_jvp)


@public(method=True)
def logsumexp(x: Tensor, dim: Optional[Dims] = None, keepdim: bool = False, axis: Optional[Dims] = None) -> Tensor:
    """log(sum(exp(x))) over ``dim``, computed without overflow. ``dim``: an int or a sequence
    of ints (None: every dimension); ``keepdim`` keeps the reduced dimensions with size 1."""
    if axis is not None:
        dim = axis
    elif dim is None:
        raise TypeError("logsumexp: missing the argument 'dim'")
    x = _float_in(x, "logsumexp")
    dims = _norm_dims(dim, x._data.ndim, "logsumexp")
    out = backend.k.reduce(R["logsumexp"], x._data, dims)
    if keepdim:
        out = out.reshape(_keep_shape(x._data.shape, dims))
    if _needs(x):
        return _record(out, "logsumexp", _lse_bwd, (x,), (x,), out, (x._data.shape, dims, keepdim))
    return _make(out)


MaxResult = collections.namedtuple("max", ["values", "indices"])
MinResult = collections.namedtuple("min", ["values", "indices"])


def _full_maxmin_bwd(node, g):
    (x,) = node.saved
    out = node.output()
    m = _mask(eq(x, out), x)
    return (mul(div(m, sum(m)), g),)


@jvp_rule(_full_maxmin_bwd)
def _full_maxmin_jvp(node, xs, ts, out):
    # ties share the tangent evenly, as the gradient is shared in backward
    (gx,) = node.fn(node, _ones_of(out))
    return sum(mul(gx, ts[0]))


def _dim_maxmin_bwd(node, g):
    shape, dim, keepdim, idx = node.ctx
    if not keepdim:
        g = unsqueeze(g, dim)
    return (_put_along(g, idx, dim, shape),)


@jvp_rule(_dim_maxmin_bwd)
def _dim_maxmin_jvp(node, xs, ts, out):
    shape, dim, keepdim, idx = node.ctx
    return reshape(_take_along(ts[0], idx, dim), out._data.shape)


def _maxmin(name, x, dim, keepdim):
    if (type(x) is not Tensor and not isinstance(x, Tensor)):
        x = _to_tensor(x, name)
    if x._data.dtype in _LOWP_FLOATS:                 # float16, bfloat16: in float32
        r = _maxmin(name, to(x, _dtype.float32), dim, keepdim)
        if isinstance(r, Tensor):
            return to(r, x._data.dtype)
        return (MaxResult if name == "max" else MinResult)(to(r[0], x._data.dtype), r[1])
    if x._data.dtype.kind != "f":
        if dim is None:
            if x._data.size == 0:
                raise ArgumentError(f"{name}: cannot reduce an empty tensor")
            return _make(np.asarray(np.max(x._data) if name == "max" else np.min(x._data)))
        d = _norm_dim(dim, x._data.ndim, name)
        f = np.argmax if name == "max" else np.argmin
        if x._data.ndim and x._data.shape[d] == 0:
            raise ShapeError(f"{name}: cannot reduce over a zero-size dimension {d}")
        idx = f(x._data, axis=d, keepdims=keepdim) if x._data.ndim else np.asarray(0)
        v = np.take_along_axis(x._data, idx if keepdim else np.expand_dims(idx, d), d) if x._data.ndim else x._data
        v = v if keepdim or not x._data.ndim else np.squeeze(v, d)
        return (MaxResult if name == "max" else MinResult)(_make(v), _make(np.asarray(idx, np.int64)))
    if dim is None:
        if x._data.size == 0:
            raise ShapeError(f"{name}: cannot reduce an empty tensor (shape {tuple(x._data.shape)}); "
                             "give a dim")
        out = backend.k.reduce(R[name], x._data, tuple(range(x._data.ndim)))
        if _needs(x):
            return _record(out, name, _full_maxmin_bwd, (x,), (x,), out)
        return _make(out)
    nd = x._data.ndim
    d = _norm_dim(dim, nd, name)
    if nd == 0:                    # the max of one element is that element
        return (MaxResult if name == "max" else MinResult)(clone(x), _make(np.zeros((), np.int64)))
    else:
        vals, idx = backend.k.argreduce(R[name], x._data, d)
    if keepdim and nd:
        vals, idx = np.expand_dims(vals, d), np.expand_dims(idx, d)
    v = _make(vals)
    if _needs(x):
        kidx = idx if (keepdim or not nd) else np.expand_dims(idx, d)
        v = _record(vals, name, _dim_maxmin_bwd, (x,), (), None, (x._data.shape, d, keepdim or not nd, kidx))
    return (MaxResult if name == "max" else MinResult)(v, _make(idx))


@public(method=True)
def max(x: Tensor, dim: Optional[Dims] = None, keepdim: bool = False, axis: Optional[Dims] = None) -> Any:
    """max(x) -> tensor; max(x, dim) -> (values, indices); max(a, b) -> maximum(a, b)."""
    if axis is not None:
        dim = axis
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    return _maxmin("max", x, dim, keepdim)


@public(method=True)
def min(x: Tensor, dim: Optional[Dims] = None, keepdim: bool = False, axis: Optional[Dims] = None) -> Any:
    """min(x): the smallest element, a 0-d tensor. min(x, dim, keepdim): a named tuple (values,
    indices) over ``dim``. min(x, other): the elementwise minimum of two tensors
    (``minimum``)."""
    if axis is not None:
        dim = axis
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    return _maxmin("min", x, dim, keepdim)


def _argmaxmin(name, x, dim, keepdim):
    x = _to_tensor(x, name)
    if x._data.dtype in _LOWP_FLOATS:
        x = _make(x._data.astype(np.float32))
    if x._data.size == 0:
        raise ArgumentError(f"{name}: cannot take the {name} of an empty tensor")
    if x._data.dtype.kind != "f":
        f = np.argmax if name == "argmax" else np.argmin
        if dim is None:
            r = np.asarray(f(x._data), np.int64)
            return _make(r.reshape((1,) * x._data.ndim) if keepdim else r)
        d = _norm_dim(dim, x._data.ndim, name)
        return _make(np.asarray(f(x._data, axis=d, keepdims=keepdim), np.int64))
    op = R["max"] if name == "argmax" else R["min"]
    if dim is None:
        _, idx = backend.k.argreduce(op, np.ascontiguousarray(x._data).reshape(-1), 0)
        return _make(idx.reshape((1,) * x._data.ndim) if keepdim else idx)
    d = _norm_dim(dim, x._data.ndim, name)
    if x._data.ndim == 0:
        return _make(np.zeros((), np.int64))
    _, idx = backend.k.argreduce(op, x._data, d)
    return _make(np.expand_dims(idx, d) if keepdim else idx)


@public(method=True)
def argmax(x: Tensor, dim: Optional[Dims] = None, keepdim: bool = False, axis: Optional[Dims] = None) -> Tensor:
    """The index of the largest element over ``dim`` (of the flattened tensor when ``dim`` is
    None), an int64 tensor; the first one on ties. ``keepdim`` keeps the reduced dimension
    with size 1."""
    if axis is not None:
        dim = axis
    return _argmaxmin("argmax", x, dim, keepdim)


@public(method=True)
def argmin(x: Tensor, dim: Optional[Dims] = None, keepdim: bool = False, axis: Optional[Dims] = None) -> Tensor:
    """The index of the smallest element over ``dim`` (of the flattened tensor when ``dim`` is
    None), an int64 tensor; the first one on ties. ``keepdim`` keeps the reduced dimension
    with size 1."""
    if axis is not None:
        dim = axis
    return _argmaxmin("argmin", x, dim, keepdim)


# ---- gather/scatter along a dim (internal: the backward of max/min over a dim) ----------
def _put_along_bwd(node, g):
    idx, dim, shape = node.ctx
    return (_take_along(g, idx, dim),)


@jvp_rule(_put_along_bwd)
def _put_along_jvp(node, xs, ts, out):
    idx, dim, shape = node.ctx
    return _put_along(ts[0], idx, dim, shape)


_KERNEL_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _put_along(g, idx, dim, shape):
    """Zeros of `shape` with g scattered (added) at idx along dim."""
    out = np.zeros(shape, dtype=g._data.dtype)
    if out.dtype in _KERNEL_FLOATS:      # the scatter kernel, so compiled steps record it
        backend.k.scatter_add(out, dim, idx, g._data, False, "put_along")
    else:
        np.put_along_axis(out, idx, g._data, dim)
    if _needs(g):
        return _record(out, "put_along", _put_along_bwd, (g,), (), None, (idx, dim, shape))
    return _make(out)


def _take_along_bwd(node, g):
    idx, dim, shape = node.ctx
    return (_put_along(g, idx, dim, shape),)


declare(_take_along_bwd, linear=lambda node, t, out: _take_along(t, node.ctx[0], node.ctx[1]))


def _take_along(x, idx, dim):
    if x._data.dtype in _KERNEL_FLOATS:  # the gather kernel, so compiled steps record it
        out = backend.k.gather(x._data, dim, idx, "take_along")
    else:
        out = np.take_along_axis(x._data, idx, dim)
    if _needs(x):
        return _record(out, "take_along", _take_along_bwd, (x,), (), None, (idx, dim, x._data.shape))
    return _make(out)


# ---- softmax family -----------------------------------------------------------------------
def _softmax_bwd(node, g):
    dim, lg = node.ctx
    if grad_mode.enabled:
        y = node.output()
        if lg:
            return (sub(g, mul(exp(y), sum(g, dim, keepdim=True))),)
        return (mul(y, sub(g, sum(mul(g, y), dim, keepdim=True))),)
    return (_make(backend.k.softmax_bwd(g._data, node.out, dim, lg)),)


@jvp_rule(_softmax_bwd)
def _softmax_jvp(node, xs, ts, out):
    dim, lg = node.ctx
    t = ts[0]
    if lg:      # d log_softmax = t - sum(softmax * t)
        return sub(t, sum(mul(exp(out), t), dim, keepdim=True))
    return mul(out, sub(t, sum(mul(t, out), dim, keepdim=True)))


def _softmax0_bwd(node, g):
    return (mul(g, 0.0),)


declare(_softmax0_bwd, linear=lambda node, t, out: mul(t, 0.0))


def _softmax(name, x, dim, lg, dtype):
    x = _float_in(x, name)
    if dtype is not None:
        x = to(x, dtype)
    if x._data.dtype in _LOWP_FLOATS:
        return to(_softmax(name, to(x, _dtype.float32), dim, lg, None), x._data.dtype)
    if dim is None:
        raise TypeError(f"{name}: dim is required (implicit dim selection is ambiguous)")
    if x._data.ndim == 0:
        out = np.zeros((), x._data.dtype) if lg else np.ones((), x._data.dtype)
        d = 0
        if _needs(x):
            return _record(out, name, _softmax0_bwd, (x,))
        return _make(out)
    d = _norm_dim(dim, x._data.ndim, name)
    out = backend.k.softmax(x._data, d, lg)
    if _needs(x):
        return _record(out, name, _softmax_bwd, (x,), (), out, (d, lg))
    return _make(out)


@public(method=True)
def softmax(x: Tensor, dim: Optional[Dims] = None, dtype: Optional[DType] = None,
            axis: Optional[Dims] = None) -> Tensor:
    """exp(x) / sum(exp(x)) over ``dim`` (each slice sums to 1), computed stably; the output
    has the shape of ``x``. ``dtype`` casts the input first."""
    if axis is not None:
        dim = axis
    return _softmax("softmax", x, dim, False, dtype)


@public(method=True)
def log_softmax(x: Tensor, dim: Optional[Dims] = None, dtype: Optional[DType] = None,
                axis: Optional[Dims] = None) -> Tensor:
    """log(softmax(x, dim)), computed stably as x - logsumexp(x, dim); the output has the shape
    of ``x``. ``dtype`` casts the input first."""
    if axis is not None:
        dim = axis
    return _softmax("log_softmax", x, dim, True, dtype)


# ---- scans -------------------------------------------------------------------------------
def _scan_arr(op, arr, d, reverse):
    if arr.ndim == 0:
        return backend.k.scan(op, arr.reshape(1), 0, reverse).reshape(())
    return backend.k.scan(op, arr, d, reverse)


def _cumsum_bwd(node, g):
    d, reverse = node.ctx
    return (_cumsum(g, d, not reverse),)


@jvp_rule(_cumsum_bwd)
def _cumsum_jvp(node, xs, ts, out):
    d, reverse = node.ctx
    return _cumsum(ts[0], d, reverse)


def _cumsum(x, d, reverse):
    out = _scan_arr(SCAN["cumsum"], x._data, d, reverse)
    if _needs(x):
        return _record(out, "cumsum", _cumsum_bwd, (x,), (), None, (d, reverse))
    return _make(out)


def _cumprod_bwd(node, g):
    """d/dx_k of y_j = prod_{i<=j} x_i (the order runs backwards when reversed).  Without
    zeros: revcumsum(g * y) / x.  With zeros, the exact product form
    prod_{i<k} x_i * sum_{j>=k} g_j prod_{k<i<=j} x_i, built as an (n, n) cumprod per
    line (O(n^2), only when x has a zero); it is a polynomial in x, so its own
    derivative (create_graph) is exact too."""
    (x,) = node.saved
    d, rev = node.ctx
    if x._data.ndim == 0:
        return (g,)
    if not (x._data == 0).any():
        return (div(_cumsum(mul(g, node.output()), d, not rev), x),)
    dt = x._data.dtype
    nd = x._data.ndim
    perm = tuple([i for i in range(nd) if i != d] + [d])
    inv = tuple(int(v) for v in np.argsort(perm))
    xl, gl = permute(x, perm), permute(g, perm)
    n = x._data.shape[d]
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    enters = _make((i < k) if rev else (i > k))      # x_i is a factor of row k's products
    used = _make((i <= k) if rev else (i >= k))      # output j contributes to row k
    rows = _cumprod(where(enters, unsqueeze(xl, -2), _scalar(1.0, dt)), nd, rev)
    s = sum(where(used, mul(rows, unsqueeze(gl, -2)), _scalar(0.0, dt)), -1)
    excl = _shift_ones(_cumprod(xl, nd - 1, rev), nd - 1, not rev)
    return (permute(mul(excl, s), inv),)


@jvp_rule(_cumprod_bwd)
def _cumprod_jvp(node, xs, ts, out):
    # y_i = y_{i-1} x_i, so dy_i = x_i dy_{i-1} + y_{i-1} dx_i: a running recurrence
    # (exact with zeros in x, unlike out * cumsum(t / x))
    d, reverse = node.ctx
    x, t, y = xs[0], ts[0], out
    if x._data.ndim == 0 or x._data.shape[d] == 0:
        return t
    if reverse:
        x, t, y = flip(x, d), flip(t, d), flip(y, d)
    parts = [narrow(t, d, 0, 1)]
    for i in range(1, x._data.shape[d]):
        parts.append(add(mul(narrow(x, d, i, 1), parts[-1]), mul(narrow(y, d, i - 1, 1), narrow(t, d, i, 1))))
    r = cat(parts, d)
    return flip(r, d) if reverse else r


def _cumprod(x, d, reverse):
    out = _scan_arr(SCAN["cumprod"], x._data, d, reverse)
    if _needs(x):
        return _record(out, "cumprod", _cumprod_bwd, (x,), (x,), out, (d, reverse))
    return _make(out)


def _scan_public(name, x, dim, dtype):
    x = _to_tensor(x, name)
    if dtype is not None:
        x = to(x, dtype)
    d = _norm_dim(dim, x._data.ndim, name)
    if x._data.dtype in _LOWP_FLOATS:
        return to(_scan_public(name, to(x, _dtype.float32), dim, None), x._data.dtype)
    if x._data.dtype.kind != "f":
        arr = x._data.astype(np.int64) if x._data.dtype.kind == "b" else x._data
        fn = np.cumsum if name == "cumsum" else np.cumprod
        return _make(np.asarray(fn(arr, axis=d) if arr.ndim else arr.copy(), dtype=np.int64))
    return (_cumsum if name == "cumsum" else _cumprod)(x, d, False)


@public(method=True)
def cumsum(x: Tensor, dim: Optional[Dims] = None, dtype: Optional[DType] = None, axis: Optional[Dims] = None) -> Tensor:
    """Inclusive cumulative sum along dim (float32 accumulates in double)."""
    if axis is not None:
        dim = axis
    elif dim is None:
        raise TypeError("cumsum: missing the argument 'dim'")
    return _scan_public("cumsum", x, dim, dtype)


@public(method=True)
def cumprod(x: Tensor, dim: Optional[Dims] = None, dtype: Optional[DType] = None,
            axis: Optional[Dims] = None) -> Tensor:
    """Inclusive cumulative product along dim; the gradient is exact with zeros in x."""
    if axis is not None:
        dim = axis
    elif dim is None:
        raise TypeError("cumprod: missing the argument 'dim'")
    return _scan_public("cumprod", x, dim, dtype)


# ---- prod --------------------------------------------------------------------------------
def _shift_ones(t, d, first):
    """t along d with its last element dropped and a 1 put in front (first=True), or its
    first element dropped and a 1 put at the end."""
    n = t._data.shape[d]
    shape = list(t._data.shape)
    shape[d] = 1
    ones = _make(np.ones(shape, dtype=t._data.dtype))
    if first:
        return cat([ones, narrow(t, d, 0, n - 1)], d)
    return cat([narrow(t, d, 1, n - 1), ones], d)


def _prod_bwd(node, g):
    (x,) = node.saved
    d, keepdim, flat = node.ctx
    xs = reshape(x, (-1,)) if flat else x
    if not keepdim:
        g = unsqueeze(g, d) if not flat else reshape(g, (1,))
    if xs._data.shape[d] == 0:
        return (mul(x, 0.0),)
    if not (xs._data == 0).any():
        out = node.output()
        out = reshape(out, g._data.shape)
        r = div(mul(g, out), xs)
    else:
        # prod of the others = (exclusive prefix product) * (exclusive suffix product)
        left = _shift_ones(_cumprod(xs, d, False), d, True)
        right = _shift_ones(_cumprod(xs, d, True), d, False)
        r = mul(g, mul(left, right))
    return (reshape(r, x._data.shape) if flat else r,)


@jvp_rule(_prod_bwd)
def _prod_jvp(node, xs, ts, out):
    d, keepdim, flat = node.ctx
    (gx,) = node.fn(node, _ones_of(out))       # the product of the other factors
    p = mul(gx, ts[0])
    return reshape(sum(p), out._data.shape) if flat else sum(p, d, keepdim)


@public(method=True)
def prod(x: Tensor, dim: Optional[Dims] = None, keepdim: bool = False, dtype: Optional[DType] = None,
         axis: Optional[Dims] = None) -> Tensor:
    """Product over one dim (or all elements when dim is None; keepdim applies to dim
    only, as in PyTorch).  The gradient is exact with zeros (no division by x)."""
    if axis is not None:
        dim = axis
    x = _to_tensor(x, "prod")
    if dtype is not None:
        x = to(x, dtype)
    if x._data.dtype in _LOWP_FLOATS:
        return to(prod(to(x, _dtype.float32), dim, keepdim), x._data.dtype)
    if x._data.dtype.kind != "f":
        arr = x._data.astype(np.int64)
        if dim is None:
            return _make(np.asarray(np.prod(arr), dtype=np.int64))
        d = _norm_dim(dim, arr.ndim, "prod")
        return _make(np.asarray(np.prod(arr, axis=d, keepdims=keepdim) if arr.ndim else arr, np.int64))
    if dim is None:
        flat, d = True, 0
        out = backend.k.prod(np.ascontiguousarray(x._data).reshape(-1), 0)
    else:
        flat = False
        d = _norm_dim(dim, x._data.ndim, "prod")
        if x._data.ndim == 0:
            out = x._data.copy()
        else:
            out = backend.k.prod(x._data, d)
            if keepdim:
                out = np.expand_dims(out, d)
    if x._data.ndim == 0:
        flat, keepdim = True, True
        out = out.reshape(())
    if _needs(x):
        return _record(out, "prod", _prod_bwd, (x,), (x,), out, (d, keepdim, flat))
    return _make(out)


# ---- amax / amin --------------------------------------------------------------------------
def _amaxmin_bwd(node, g):
    (x,) = node.saved
    shape, dims, keepdim = node.ctx
    out = node.output()
    keep = tuple(1 if i in dims else s for i, s in enumerate(shape))
    if not keepdim:
        out = reshape(out, keep)
        g = reshape(g, keep)
    m = _mask(eq(x, out), x)
    return (mul(div(m, sum(m, dims if dims else None, keepdim=True)), g),)


jvp_rule(_amaxmin_bwd)(_slice_reduce_jvp)


def _amaxmin(name, x, dim, keepdim):
    x = _to_tensor(x, name)
    nd = x._data.ndim
    dims = _norm_dims(None if dim is None or dim == () else dim, nd, name)
    for d in dims:
        if x._data.shape[d] == 0:
            raise ShapeError(f"{name}: cannot reduce over the zero-size dimension {d} of a tensor "
                             f"of shape {tuple(x._data.shape)}")
    if x._data.dtype in _LOWP_FLOATS:
        return to(_amaxmin(name, to(x, _dtype.float32), dim, keepdim), x._data.dtype)
    if x._data.dtype.kind != "f":
        fn = np.max if name == "amax" else np.min
        return _make(np.asarray(fn(x._data, axis=dims, keepdims=keepdim) if nd else x._data.copy()))
    if nd == 0:
        out = x._data.copy()
    else:
        out = backend.k.reduce(R["max" if name == "amax" else "min"], x._data, dims)
        if keepdim:
            out = out.reshape(tuple(1 if i in dims else s for i, s in enumerate(x._data.shape)))
    if _needs(x):
        return _record(out, name, _amaxmin_bwd, (x,), (x,), out, (x._data.shape, dims, keepdim))
    return _make(out)


@public(method=True)
def amax(x: Tensor, dim: Optional[Dims] = None, keepdim: bool = False, axis: Optional[Dims] = None) -> Tensor:
    """Maximum over dim (an int, a tuple, or None / () for all dims).  NaN propagates.
    The gradient is split evenly among tied maxima, as in PyTorch."""
    if axis is not None:
        dim = axis
    return _amaxmin("amax", x, dim, keepdim)


@public(method=True)
def amin(x: Tensor, dim: Optional[Dims] = None, keepdim: bool = False, axis: Optional[Dims] = None) -> Tensor:
    """Minimum over dim; see amax."""
    if axis is not None:
        dim = axis
    return _amaxmin("amin", x, dim, keepdim)


# ---- all / any ----------------------------------------------------------------------------
def _allany(name, x, dim, keepdim):
    x = _to_tensor(x, name)
    nd = x._data.ndim
    dims = _norm_dims(dim, nd, name) if dim is not None else None
    fn = np.all if name == "all" else np.any
    return _make(np.asarray(fn(x._data != 0, axis=dims, keepdims=keepdim), dtype=bool))


@public(method=True)
def all(x: Tensor, dim: Optional[Dims] = None, keepdim: bool = False, axis: Optional[Dims] = None) -> Tensor:
    """True where every element (over dim, an int or tuple; all when None) is non-zero."""
    if axis is not None:
        dim = axis
    return _allany("all", x, dim, keepdim)


@public(method=True)
def any(x: Tensor, dim: Optional[Dims] = None, keepdim: bool = False, axis: Optional[Dims] = None) -> Tensor:
    """True where any element over ``dim`` is nonzero (every element when ``dim`` is None), a
    bool tensor. ``keepdim`` keeps the reduced dimensions with size 1."""
    if axis is not None:
        dim = axis
    return _allany("any", x, dim, keepdim)


# ---- norm ---------------------------------------------------------------------------------
def _norm2_bwd(node, g):
    (x,) = node.saved
    shape, dims, keepdim = node.ctx
    n = node.output()
    if not keepdim:
        keep = tuple(1 if i in dims else s for i, s in enumerate(shape))
        g = reshape(g, keep)
        n = reshape(n, keep)
    safe = where(eq(n, 0.0), _scalar(1.0, x._data.dtype), n)
    return (mul(g, div(x, safe)),)


jvp_rule(_norm2_bwd)(_slice_reduce_jvp)


def _norm2(x, dims, keepdim):
    if x._data.ndim == 0:
        s = x._data * x._data
    else:
        s = backend.k.reduce(R["sum"], backend.k.unary(U["square"], x._data), dims)
        if x._data.dtype == np.float32:
            with np.errstate(invalid="ignore"):
                redo = not np.all(np.isfinite(s)) or np.any(s < 1e-30)
            if redo:   # squares overflowed or underflowed in float32: redo in float64
                xd = x._data.astype(np.float64)
                s = backend.k.reduce(R["sum"], backend.k.unary(U["square"], xd), dims)
    out = np.sqrt(s).astype(x._data.dtype)
    if keepdim:
        out = out.reshape(tuple(1 if i in dims else n for i, n in enumerate(x._data.shape)))
    out = np.asarray(out)
    if _needs(x):
        return _record(out, "norm", _norm2_bwd, (x,), (x,), out, (x._data.shape, dims, keepdim))
    return _make(out)


def _zero_grad(node, g):
    return (_make(np.zeros(node.ctx, dtype=g._data.dtype)),)


@jvp_rule(_zero_grad)
def _zero_jvp(node, xs, ts, out):
    return _zeros_of(out)


def _count_nonzero(x, dims, keepdim):
    """The p=0 "norm": number of non-zeros, as x's dtype; its gradient is zero."""
    out = np.asarray(np.sum(x._data != 0, axis=dims, keepdims=keepdim), dtype=x._data.dtype)
    if _needs(x):
        return _record(out, "norm", _zero_grad, (x,), (), None, x._data.shape)
    return _make(out)


@public(method=True)
def norm(x: Tensor, p="fro", dim: Optional[Dims] = None, keepdim: bool = False,
         dtype: Optional[DType] = None) -> Tensor:
    """Vector norm over dim (an int, a tuple, or None for all elements), as
    ``torch.linalg.vector_norm``: p = 2 or "fro" (the default, the same thing for
    vectors), 1, inf, -inf, 0 (number of non-zeros) or any other p, negative ones
    included (sum(|x|**p)**(1/p)).  Matrix norms ("nuc", spectral) are not supported.  The 2-norm's
    gradient at 0 is 0 (PyTorch's subgradient).  float32 inputs whose squares overflow
    or underflow float32 are recomputed in double, so huge and tiny vectors get a finite,
    accurate norm."""
    x = _float_in(x, "norm")
    if dtype is not None:
        x = to(x, dtype)
    nd = x._data.ndim
    dims = _norm_dims(dim, nd, "norm")
    red = dims if dims else None
    if isinstance(p, str):
        if p != "fro":
            raise ArgumentError(f"norm: p={p!r} is not supported (use 'fro' or a number)")
        p = 2.0
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"norm: p must be a number or 'fro', got {type(p).__name__}")
    if p == 2:
        return _norm2(x, dims, keepdim)
    if p == 1:
        return sum(abs(x), red, keepdim=keepdim)
    if p == math.inf:
        return amax(abs(x), red, keepdim=keepdim)
    if p == -math.inf:
        return amin(abs(x), red, keepdim=keepdim)
    if p == 0:
        return _count_nonzero(x, red, keepdim)
    if math.isnan(p):
        raise ArgumentError(f"norm: p={p} is not supported (expected a number, inf or -inf)")
    return pow(sum(pow(abs(x), float(p)), red, keepdim=keepdim), 1.0 / p)


# ---- std_mean / var_mean, cummax / cummin, logcumsumexp --------------------------------------
def _stat_mean(name, x, dim, unbiased, keepdim, correction, axis):
    if axis is not None:
        dim = axis
    if isinstance(dim, bool):            # std_mean(x, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise ArgumentError(f"{name}: give unbiased or correction, not both")
    c = 1 if correction is None and unbiased is None else correction if unbiased is None else int(unbiased)
    x = _float_in(x, name)
    v = var(x, dim, c, keepdim, _who=name)
    return (_std_of_var(v) if name == "std_mean" else v), mean(x, dim, keepdim)


@public
def std_mean(input: Tensor, dim: Optional[Dims] = None, unbiased=None, keepdim: bool = False, *, correction=None,
             axis: Optional[Dims] = None) -> tuple[Tensor, Tensor]:
    """(std, mean) over dim; ``correction`` (default 1) or ``unbiased`` as in std."""
    return _stat_mean("std_mean", input, dim, unbiased, keepdim, correction, axis)


@public
def var_mean(input: Tensor, dim: Optional[Dims] = None, unbiased=None, keepdim: bool = False, *, correction=None,
             axis: Optional[Dims] = None) -> tuple[Tensor, Tensor]:
    """(var, mean) over dim; ``correction`` (default 1) or ``unbiased`` as in var."""
    return _stat_mean("var_mean", input, dim, unbiased, keepdim, correction, axis)


CummaxResult = collections.namedtuple("cummax", ["values", "indices"])
CumminResult = collections.namedtuple("cummin", ["values", "indices"])


def _cum_extreme(name, x, dim, axis):
    if axis is not None:
        dim = axis
    x = _to_tensor(x, name)
    nd = x._data.ndim
    d = _norm_dim(dim, nd, name)
    a = x._data if nd else x._data.reshape(1)
    acc = np.maximum.accumulate if name == "cummax" else np.minimum.accumulate
    vals = acc(a, axis=d) if a.dtype.kind != "b" else acc(a.astype(np.uint8), axis=d).astype(bool)
    # the index of the last element equal to the running extreme (PyTorch's >= / <=);
    # a nan is the extreme from where it appears on
    mark = a == vals
    if a.dtype.kind == "f":
        mark |= np.isnan(a)
    ar = np.arange(a.shape[d], dtype=np.int64).reshape([-1 if k == d else 1 for k in range(a.ndim)])
    idx = np.maximum.accumulate(np.where(mark, ar, 0), axis=d) if a.size else np.zeros(a.shape, np.int64)
    idx = idx.reshape(x._data.shape)
    res = CummaxResult if name == "cummax" else CumminResult
    if x._data.dtype.kind != "f":
        return res(_make(vals.reshape(x._data.shape)), _make(idx))
    if nd == 0:
        return res(reshape(_gather(reshape(x, 1), 0, idx.reshape(1), name), ()), _make(idx))
    return res(_gather(x, d, idx, name), _make(idx))


@public(method=True)
def cummax(input: Tensor, dim: Optional[Dims] = None, *, axis: Optional[Dims] = None) -> Any:
    """(values, indices): the running maximum along dim and where it was taken (the last
    of equal values; nan propagates).  The gradient goes to those positions."""
    return _cum_extreme("cummax", input, dim, axis)


@public(method=True)
def cummin(input: Tensor, dim: Optional[Dims] = None, *, axis: Optional[Dims] = None) -> Any:
    """(values, indices): the running minimum along dim, as cummax."""
    return _cum_extreme("cummin", input, dim, axis)


def _lcse_bwd(node, g):
    # d out[j] / d x[i] = exp(x[i] - out[j]) for i <= j: the gradient is a reversed
    # log-cumulative sum, split by the sign of g so that it stays in log space
    (x,) = node.saved
    d = node.ctx
    out = node.output()
    zero = _scalar(0.0, g._data.dtype)
    gx = None
    for sgn, part in ((1.0, maximum(g, zero)), (-1.0, maximum(neg(g), zero))):
        r = flip(logcumsumexp(flip(sub(log(part), out), (d,)), d), (d,))
        term = exp(add(x, r))
        gx = term if gx is None else sub(gx, term)
    return (gx,)


@jvp_rule(_lcse_bwd)
def _lcse_jvp(node, xs, ts, out):
    # d out[j] = sum_{i <= j} exp(x[i] - out[j]) t[i], split by the sign of t as in backward
    d = node.ctx
    zero = _scalar(0.0, out._data.dtype)
    tan = None
    for part in (maximum(ts[0], zero), maximum(neg(ts[0]), zero)):
        term = exp(sub(logcumsumexp(add(xs[0], log(part)), d), out))
        tan = term if tan is None else sub(tan, term)
    return tan


@public(method=True)
def logcumsumexp(input: Tensor, dim: Optional[Dims] = None, *, axis: Optional[Dims] = None) -> Tensor:
    """log(cumsum(exp(input), dim)) without overflow (accumulated in double)."""
    if axis is not None:
        dim = axis
    elif dim is None:
        raise TypeError("logcumsumexp: missing the argument 'dim'")
    x = _float_in(input, "logcumsumexp")
    d = _norm_dim(dim, x._data.ndim, "logcumsumexp")
    if x._data.ndim == 0:
        return clone(x)
    with np.errstate(invalid="ignore"):
        out = np.logaddexp.accumulate(x._data.astype(np.float64), axis=d).astype(x._data.dtype)
    if _needs(x):
        return _record(out, "logcumsumexp", _lcse_bwd, (x,), (x,), out, d)
    return _make(out)


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.elementwise import (_mask, abs, add, div, eq, exp, log, maximum, minimum, mul,
    neg, pow, sqrt, sub, where)
from fastgrad.ops.indexing import _gather
from fastgrad.ops.shape import (cat, clone, expand, flip, narrow, permute, reshape, unsqueeze)
