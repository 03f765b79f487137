"""Every differentiable op: forward on the active kernel backend, backward written with
fastgrad ops, and its registry entry (``fastgrad._registry``) in the same place.

Pattern of an op:
  1. coerce inputs (Python scalars, dtype promotion by differentiable casts);
  2. call one kernel of the active backend (``backend.k``: C or NumPy reference);
  3. if grad mode is on and an input requires grad, leave a ``Node`` whose backward
     function maps the output gradient to input gradients.

Backward functions check ``grad_mode.enabled``: the engine turns it on only for
``create_graph=True``.  Off, they call fused backward kernels on raw arrays (fast path);
on, they use a composite formula of fastgrad ops, so second and higher derivatives work
for every op.  Tests check both paths agree.
"""
import builtins
import collections
import math

import numpy as np

from fastgrad._hooks import hooks
from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor, _default, as_tensor, bool_, canonical_dtype, result_dtype
from fastgrad.autograd import anomaly as _anomaly
from fastgrad.autograd import engine as _engine
from fastgrad.autograd.engine import _FREED, ACCUMULATED, FRESH, Node, jvp_rule
from fastgrad._C._kernels import B, CMP, R, U

_make = Tensor._make
_anomaly_mode = _anomaly._mode
_max = builtins.max      # the module defines its own max/min/sum/abs ops


# ---- graph recording ------------------------------------------------------------------
def _edge(t):
    if t.grad_fn is not None:
        return t.grad_fn
    return t if t.requires_grad else None


def _record(out, name, fn, inputs, saved=(), out_saved=None, ctx=None, shapes=None):
    """Wrap ndarray `out` in a Tensor whose grad_fn is a new Node."""
    if len(inputs) == 1:
        t0 = inputs[0]
        e0 = t0.grad_fn
        edges = (e0 if e0 is not None else (t0 if t0.requires_grad else None),)
    else:
        edges = tuple([_edge(t) for t in inputs])
    node = Node(fn, name, edges, shapes, saved, out_saved, ctx)
    if _anomaly_mode[0]:                  # anomaly mode: remember the forward call's stack
        _anomaly._remember(node)
    if saved:
        v = 0
        for s in saved:
            if s is not None:
                v += s._version[0]
        node.ver = v
    t = _make(out)
    if out_saved is not None:
        node.outver = t._version          # an in-place change of the output is caught too
    t.requires_grad = True
    t.grad_fn = node
    if _fw.level:
        _engine.propagate_tangent(t, node, inputs)
    return t


_fw = _engine.fw


def _needs(*ts):
    if not grad_mode.enabled:
        return False
    for t in ts:
        if t.requires_grad:
            return True
    return False

# ---- forward mode: helpers for the JVP rules that sit beside each backward --------------
# A rule is rule(node, inputs, tangents, out) -> the output's tangent or None (zero); see
# fastgrad.autograd.engine.JVP.
def _tplus(a, b):
    return b if a is None else a if b is None else add(a, b)


def _zeros_of(x):
    return _make(np.zeros(x.data.shape, x.data.dtype))


def _ones_of(x):
    return _make(np.ones(x.data.shape, x.data.dtype))


def _elementwise_jvp(node, xs, ts, out):
    """For ops whose output element k depends only on element k of each (broadcast)
    input: the backward of ones gives every partial derivative elementwise, and the
    tangent is their tangent-weighted sum."""
    gs = node.fn(node, _ones_of(out))
    tan = None
    for gi, ti in zip(gs, ts):
        if gi is not None and ti is not None:
            tan = _tplus(tan, mul(gi, ti))
    return tan


def _slice_reduce_jvp(node, xs, ts, out):
    """For reductions (ctx = (shape, dims, keepdim)) whose output element depends only on
    its own slice of the input: the backward of ones holds each output's partials with
    respect to its slice; the tangent sums them times the input tangent over the slice."""
    shape, dims, keepdim = node.ctx
    (gx,) = node.fn(node, _ones_of(out))
    p = mul(gx, ts[0])
    return sum(p, dims, keepdim) if dims else p


# ---- input coercion -------------------------------------------------------------------
_scalar_cache = {}


def _scalar(v, dtype):
    """A 0-d tensor for a Python scalar (cached: scalars repeat in training loops)."""
    key = (v, dtype, type(v))
    t = _scalar_cache.get(key)
    if t is None:
        if len(_scalar_cache) > 512:
            _scalar_cache.clear()
        arr = np.array(v, dtype=dtype)
        arr.flags.writeable = False
        t = _make(arr)
        _scalar_cache[key] = t
    return t


def _to_tensor(x, who):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (int, float, bool, np.number, np.bool_, list, tuple, np.ndarray)):
        return as_tensor(x)
    raise TypeError(f"{who}: expected a Tensor or a number, got {type(x).__name__}")


def _float_in(x, who):
    """x as a floating tensor (ints and bools become the default float dtype)."""
    if type(x) is not Tensor:
        x = _to_tensor(x, who)
    if x.data.dtype.kind != "f":
        return _make(x.data.astype(_default[0]))
    return x


def _pair(a, b, who):
    """Bring a and b (Tensors or Python scalars) to one dtype, by PyTorch's promotion."""
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)     # Parameter is a Tensor too
    if ta and tb and a.data.dtype is b.data.dtype:
        return a, b
    if ta and not tb and isinstance(b, (int, float)) and not isinstance(b, bool) and a.data.dtype.kind == "f":
        return a, _scalar(b, a.data.dtype)
    if tb and not ta and isinstance(a, (int, float)) and not isinstance(a, bool) and b.data.dtype.kind == "f":
        return _scalar(a, b.data.dtype), b
    if not ta:
        if not isinstance(a, (int, float, bool, np.number, np.bool_)):
            a = _to_tensor(a, who)
    if not tb:
        if not isinstance(b, (int, float, bool, np.number, np.bool_)):
            b = _to_tensor(b, who)
    dt = result_dtype(a, b)
    a = _cast_to(a, dt)
    b = _cast_to(b, dt)
    return a, b


def _cast_to(x, dt):
    if isinstance(x, Tensor):
        return x if x.data.dtype == dt else to(x, dt)
    return _scalar(x.item() if isinstance(x, (np.number, np.bool_)) else x, dt)


def _norm_dim(d, nd, who):
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
        raise TypeError(f"{who}: dim must be an int, got {type(d).__name__}")
    n = _max(nd, 1)
    if d < -n or d >= n:
        raise IndexError(f"{who}: dimension {d} is out of range for a tensor with {nd} dimensions "
                         f"(expected {-n}..{n - 1})")
    return d % n


def _norm_dims(dim, nd, who):
    if dim is None:
        return tuple(range(nd))
    if isinstance(dim, (list, tuple)):
        ds = tuple(sorted(_norm_dim(d, nd, who) for d in dim))
        if len(set(ds)) != len(ds):
            raise ValueError(f"{who}: dim {tuple(dim)} names a dimension twice")
        return ds if nd else ()
    return (_norm_dim(dim, nd, who),) if nd else ()


# ---- casts ------------------------------------------------------------------------------
def _to_bwd(node, g):
    return (to(g, node.ctx),)


@jvp_rule(_to_bwd)
def _to_jvp(node, xs, ts, out):
    return to(ts[0], out.data.dtype)


def to(x, *args, dtype=None, copy=False, **kwargs):
    """Cast to a dtype: to(dtype), to(other_tensor) (its dtype), to("cpu"[, dtype]) or
    to(dtype=...).  Differentiable between float dtypes; casts to int64/bool carry no
    gradient.  Returns x itself when nothing changes (unless copy=True)."""
    unknown = set(kwargs) - {"non_blocking", "device"}
    if unknown:
        raise TypeError(f"to: unexpected keyword arguments {sorted(unknown)}")
    dev = kwargs.get("device")
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.data.dtype if dtype is None else dtype
        elif isinstance(a, str) and not _is_dtype_name(a):
            dev = a
        elif dtype is None and a is not None:
            dtype = a
        else:
            raise TypeError(f"to: unexpected argument {a!r}")
    if dev is not None and str(dev).split(":")[0] != "cpu":
        raise ValueError(f"to: fastgrad only supports the 'cpu' device, got {dev!r}")
    if dtype is None:
        return clone(x) if copy else x
    dt = canonical_dtype(dtype, "to")
    if x.data.dtype == dt:
        return clone(x) if copy else x
    out = x.data.astype(dt)
    if dt.kind == "f" and _needs(x):
        return _record(out, "to", _to_bwd, (x,), ctx=x.data.dtype)
    return _make(out)


def _is_dtype_name(s):
    try:
        np.dtype(s)
        return True
    except TypeError:
        return False


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
               "bool": "BoolTensor"}


def type_(x, dtype=None):
    """Tensor.type(): the type name ("fastgrad.FloatTensor", ...) without an argument, else
    a cast to dtype (a dtype or one of those names)."""
    if dtype is None:
        return "fastgrad." + _TYPE_NAMES[x.data.dtype.name]
    if isinstance(dtype, str):
        name = dtype.split(".")[-1]
        for k, v in _TYPE_NAMES.items():
            if v == name:
                dtype = k
                break
    return to(x, dtype)


# ---- elementwise unary ------------------------------------------------------------------
def _unary(name, uses_y, deriv, ref, domain=(-3.0, 3.0), params=None, reg_kwargs=None):
    """Build a unary op from its kernel id.  deriv(x, y, ctx) is f' written with fastgrad
    ops (used for create_graph); uses_y says whether the fused backward kernel reads the
    output (True) or the input (False)."""
    opid = U[name]

    def bwd(node, g):
        a, b = node.ctx
        if grad_mode.enabled:
            x = node.saved[0] if node.saved else None
            y = node.output() if uses_y else None
            return (mul(g, deriv(x, y, a, b)),)
        x = node.saved[0].data if node.saved else None
        return (_make(backend.k.unary_bwd(opid, g.data, x, node.out, a, b)),)

    @jvp_rule(bwd)
    def jvp(node, xs, ts, out):
        a, b = node.ctx
        return mul(ts[0], deriv(xs[0], out, a, b))

    def op(x, a=0.0, b=0.0):
        if type(x) is not Tensor or x.data.dtype.kind != "f":
            x = _float_in(x, name)
        out = backend.k.unary(opid, x.data, a, b)
        if x.requires_grad and grad_mode.enabled:
            if uses_y:
                return _record(out, name, bwd, (x,), (), out, (a, b))
            return _record(out, name, bwd, (x,), (x,), None, (a, b))
        return _make(out)

    op.__name__ = name
    return op


def _mask(cond, like):
    return _make(cond.data.astype(like.data.dtype))


def _erf_deriv(x, y, a, b):
    return mul(exp(mul(square(x), -1.0)), 2.0 / math.sqrt(math.pi))


def _gelu_deriv(x, y, a, b):
    cdf = mul(add(erf(mul(x, 0.7071067811865476)), 1.0), 0.5)
    pdf = mul(exp(mul(square(x), -0.5)), 1.0 / math.sqrt(2 * math.pi))
    return add(cdf, mul(x, pdf))


def _gelu_tanh_deriv(x, y, a, b):
    k, c = 0.7978845608028654, 0.044715
    t = tanh(mul(add(x, mul(pow(x, 3.0), c)), k))
    left = mul(add(t, 1.0), 0.5)
    right = mul(mul(mul(x, 0.5), sub(1.0, square(t))), mul(add(mul(square(x), 3 * c), 1.0), k))
    return add(left, right)


def _silu_deriv(x, y, a, b):
    s = sigmoid(x)
    return mul(s, add(mul(x, sub(1.0, s)), 1.0))


def _softplus_deriv(x, y, a, b):
    return where(gt(mul(x, a), b), _scalar(1.0, x.data.dtype), sigmoid(mul(x, a)))


_neg = _unary("neg", False, lambda x, y, a, b: _scalar(-1.0, x.data.dtype), lambda x: -x)
_abs_op = _unary("abs", False, lambda x, y, a, b: sign(x), np.abs)
exp = _unary("exp", True, lambda x, y, a, b: y, np.exp, (-10, 10))
log = _unary("log", False, lambda x, y, a, b: reciprocal(x), np.log, (0.1, 5))
log1p = _unary("log1p", False, lambda x, y, a, b: reciprocal(add(x, 1.0)), np.log1p, (-0.9, 5))
sqrt = _unary("sqrt", True, lambda x, y, a, b: div(0.5, y), np.sqrt, (0.1, 5))
rsqrt = _unary("rsqrt", True, lambda x, y, a, b: mul(pow(y, 3.0), -0.5), lambda x: 1 / np.sqrt(x), (0.1, 5))
sin = _unary("sin", False, lambda x, y, a, b: cos(x), np.sin, (-6, 6))
cos = _unary("cos", False, lambda x, y, a, b: neg(sin(x)), np.cos, (-6, 6))
tanh = _unary("tanh", True, lambda x, y, a, b: sub(1.0, square(y)), np.tanh)
_sigmoid = _unary("sigmoid", True, lambda x, y, a, b: mul(y, sub(1.0, y)), None)
_relu = _unary("relu", False, lambda x, y, a, b: _mask(gt(x, 0.0), x), None)
_leaky_relu = _unary("leaky_relu", False,
                     lambda x, y, a, b: where(gt(x, 0.0), _scalar(1.0, x.data.dtype), _scalar(a, x.data.dtype)), None)
_gelu = _unary("gelu", False, _gelu_deriv, None)
_gelu_tanh = _unary("gelu_tanh", False, _gelu_tanh_deriv, None)
_silu = _unary("silu", False, _silu_deriv, None)
_softplus = _unary("softplus", False, _softplus_deriv, None)
_clamp = _unary("clamp", False, lambda x, y, a, b: _mask(logical_and(ge(x, a), le(x, b)), x), None)
_pow_scalar = _unary("pow_scalar", False,
                     lambda x, y, a, b: mul(pow(x, a - 1.0), a) if a != 0 else mul(x, 0.0), None)
sign = _unary("sign", False, lambda x, y, a, b: mul(x, 0.0), np.sign)
square = _unary("square", False, lambda x, y, a, b: mul(x, 2.0), np.square)
reciprocal = _unary("reciprocal", False, lambda x, y, a, b: neg(square(reciprocal(x))),
                    np.reciprocal, (0.2, 3))
erf = _unary("erf", False, _erf_deriv, None)


def neg(x):
    return _neg(x)


def abs(x):  # noqa: A001 - torch.abs
    return _abs_op(x)


def sigmoid(x):
    return _sigmoid(x)


def relu(x):
    return _relu(x)


def leaky_relu(x, negative_slope=0.01):
    return _leaky_relu(x, float(negative_slope))


def gelu(x, approximate="none"):
    if approximate == "none":
        return _gelu(x)
    if approximate == "tanh":
        return _gelu_tanh(x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x):
    return _silu(x)


def softplus(x, beta=1.0, threshold=20.0):
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero")
    return _softplus(x, float(beta), float(threshold))


def clamp(x, min=None, max=None):  # noqa: A002 - torch's argument names
    """Clamp into [min, max]; either bound may be None or a tensor."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    lo = -math.inf if min is None else float(min)
    hi = math.inf if max is None else float(max)
    return _clamp(x, lo, hi)


clip = clamp


def pow(x, exponent):  # noqa: A001 - torch.pow
    """x ** exponent for tensor/scalar combinations."""
    if type(x) is Tensor and isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        if x.data.dtype.kind == "f":
            return _pow_scalar(x, float(exponent))
        return _make(np.power(x.data, exponent)) if isinstance(exponent, int) and exponent >= 0 \
            else _pow_scalar(_float_in(x, "pow"), float(exponent))
    return _binary_op("pow", x, exponent)


# ---- elementwise binary -----------------------------------------------------------------
def _bin_shapes(a, b, out):
    sa, sb, so = a.data.shape, b.data.shape, out.shape
    return None if (sa == so and sb == so) else (sa, sb)


def _add_bwd(node, g):
    return (g, g)


@jvp_rule(_add_bwd)
def _add_jvp(node, xs, ts, out):
    return _tplus(ts[0], ts[1])


def _sub_bwd(node, g):
    return (g, neg(g) if node.edges[1] is not None else None)


@jvp_rule(_sub_bwd)
def _sub_jvp(node, xs, ts, out):
    return _tplus(ts[0], None if ts[1] is None else neg(ts[1]))


def _mul_bwd(node, g):
    a, b = node.saved
    return (mul(g, b) if node.edges[0] is not None else None,
            mul(g, a) if node.edges[1] is not None else None)


@jvp_rule(_mul_bwd)
def _mul_jvp(node, xs, ts, out):
    a, b = xs
    return _tplus(None if ts[0] is None else mul(ts[0], b), None if ts[1] is None else mul(a, ts[1]))


def _div_bwd(node, g):
    a, b = node.saved
    ga = div(g, b) if node.edges[0] is not None else None
    gb = neg(div(mul(g, a), square(b))) if node.edges[1] is not None else None
    return (ga, gb)


@jvp_rule(_div_bwd)
def _div_jvp(node, xs, ts, out):
    # d(a/b) = (da - (a/b) db) / b
    num = _tplus(ts[0], None if ts[1] is None else neg(mul(ts[1], out)))
    return div(num, xs[1])


def _pow_bwd(node, g):
    a, b = node.saved
    ga = gb = None
    if node.edges[0] is not None:
        ga = mul(g, mul(b, pow(a, sub(b, 1.0))))
    if node.edges[1] is not None:
        out = node.output()
        # d/db a^b = a^b log a; define it as 0 where a == 0 and b >= 0 (as PyTorch does)
        safe = where(logical_and(eq(a, 0.0), ge(b, 0.0)), _scalar(1.0, a.data.dtype), a)
        gb = mul(g, mul(out, log(safe)))
    return (ga, gb)


def _maxmin_bwd(node, g):
    a, b = node.saved
    is_max = node.ctx
    sel = gt(a, b) if is_max else lt(a, b)
    tie = eq(a, b)
    zero = _scalar(0.0, g.data.dtype)
    half = mul(g, 0.5)
    ga = where(sel, g, where(tie, half, zero)) if node.edges[0] is not None else None
    gb = where(sel, zero, where(tie, half, g)) if node.edges[1] is not None else None
    return (ga, gb)


jvp_rule(_pow_bwd, _maxmin_bwd)(_elementwise_jvp)


_BIN = {"add": (_add_bwd, False, np.add), "sub": (_sub_bwd, False, np.subtract),
        "mul": (_mul_bwd, True, np.multiply), "div": (_div_bwd, True, np.true_divide),
        "pow": (_pow_bwd, True, np.power), "maximum": (_maxmin_bwd, True, np.maximum),
        "minimum": (_maxmin_bwd, True, np.minimum)}


def _binary_op(name, a, b):
    if type(a) is not Tensor or type(b) is not Tensor or a.data.dtype is not b.data.dtype:
        a, b = _pair(a, b, name)
    if a.data.dtype.kind != "f":
        if name in ("div", "pow") and not (name == "pow" and a.data.dtype.kind in "iu"):
            a, b = to(a, _default[0]), to(b, _default[0])
        else:
            fn = _BIN[name][2]
            try:
                return _make(np.asarray(fn(a.data, b.data)))
            except ValueError:
                raise ValueError(f"{name}: shapes {tuple(a.data.shape)} and {tuple(b.data.shape)} "
                                 "cannot be broadcast") from None
    out = backend.k.binary(B[name], a.data, b.data)
    if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
        bwd, save, _ = _BIN[name]
        return _record(out, name, bwd, (a, b), (a, b) if save else (),
                       out if name == "pow" else None,
                       name == "maximum" if name in ("maximum", "minimum") else None,
                       _bin_shapes(a, b, out))
    return _make(out)


def add(a, b, alpha=1):
    if alpha != 1:
        b = mul(b, alpha)
    if type(a) is Tensor and type(b) is Tensor and a.data.dtype is b.data.dtype and a.data.dtype.kind == "f":
        out = backend.k.binary(0, a.data, b.data)          # B["add"] == 0
        if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
            return _record(out, "add", _add_bwd, (a, b), (), None, None, _bin_shapes(a, b, out))
        return _make(out)
    return _binary_op("add", a, b)


def sub(a, b, alpha=1):
    if alpha != 1:
        b = mul(b, alpha)
    return _binary_op("sub", a, b)


def mul(a, b):
    if type(a) is Tensor and type(b) is Tensor and a.data.dtype is b.data.dtype and a.data.dtype.kind == "f":
        out = backend.k.binary(2, a.data, b.data)          # B["mul"] == 2
        if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
            return _record(out, "mul", _mul_bwd, (a, b), (a, b), None, None, _bin_shapes(a, b, out))
        return _make(out)
    return _binary_op("mul", a, b)


def div(a, b, rounding_mode=None):
    if rounding_mode is not None:
        raise ValueError(f"div: rounding_mode={rounding_mode!r} is not supported; use floor division "
                         "on integer tensors or torch-style true division")
    return _binary_op("div", a, b)


def maximum(a, b):
    return _binary_op("maximum", a, b)


def minimum(a, b):
    return _binary_op("minimum", a, b)


true_divide = divide = div
multiply = mul
subtract = sub


# ---- comparisons and logic (no gradient) -------------------------------------------------
def _compare(name, a, b):
    if type(a) is not Tensor or type(b) is not Tensor or a.data.dtype is not b.data.dtype:
        a, b = _pair(a, b, name)
    if a.data.dtype.kind == "f":
        return _make(backend.k.compare(CMP[name], a.data, b.data))
    fn = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
          "gt": np.greater, "ge": np.greater_equal}[name]
    try:
        return _make(np.asarray(fn(a.data, b.data)))
    except ValueError:
        raise ValueError(f"{name}: shapes {tuple(a.data.shape)} and {tuple(b.data.shape)} cannot be "
                         "broadcast") from None


def eq(a, b):
    return _compare("eq", a, b)


def ne(a, b):
    return _compare("ne", a, b)


def lt(a, b):
    return _compare("lt", a, b)


def le(a, b):
    return _compare("le", a, b)


def gt(a, b):
    return _compare("gt", a, b)


def ge(a, b):
    return _compare("ge", a, b)


def _logic(fn, name, a, b=None):
    arrs = [(_to_tensor(x, name)).data for x in ((a,) if b is None else (a, b))]
    try:
        return _make(np.asarray(fn(*arrs)))
    except ValueError:
        raise ValueError(f"{name}: shapes {[tuple(x.shape) for x in arrs]} cannot be broadcast") from None


def logical_and(a, b):
    return _logic(np.logical_and, "logical_and", a, b)


def logical_or(a, b):
    return _logic(np.logical_or, "logical_or", a, b)


def logical_not(a):
    return _logic(np.logical_not, "logical_not", a)


def isnan(x):
    return _make(np.isnan(_to_tensor(x, "isnan").data))


def isinf(x):
    return _make(np.isinf(_to_tensor(x, "isinf").data))


def isfinite(x):
    return _make(np.isfinite(_to_tensor(x, "isfinite").data))


def allclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False):
    a, b = _to_tensor(a, "allclose").data, _to_tensor(b, "allclose").data
    try:
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
    except ValueError:
        raise ValueError(f"allclose: shapes {a.shape} and {b.shape} cannot be broadcast") from None


def equal(a, b):
    a, b = _to_tensor(a, "equal"), _to_tensor(b, "equal")
    return a.data.shape == b.data.shape and bool(np.array_equal(a.data, b.data))


# ---- where ------------------------------------------------------------------------------
def _where_bwd(node, g):
    (c,) = node.saved
    zero = _scalar(0.0, g.data.dtype)
    return (None,
            where(c, g, zero) if node.edges[1] is not None else None,
            where(c, zero, g) if node.edges[2] is not None else None)


@jvp_rule(_where_bwd)
def _where_jvp(node, xs, ts, out):
    z = _scalar(0.0, out.data.dtype)
    return where(xs[0], z if ts[1] is None else ts[1], z if ts[2] is None else ts[2])


def where(condition, input, other):  # noqa: A002
    """condition ? input : other, broadcasting all three."""
    c = _to_tensor(condition, "where")
    if c.data.dtype != bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {c.data.dtype}")
    a, b = _pair(input, other, "where")
    if not isinstance(a, Tensor):
        a = _scalar(a, b.data.dtype)
    if a.data.dtype.kind != "f":
        return _make(np.where(c.data, a.data, b.data))
    out = backend.k.where(c.data, a.data, b.data)
    if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
        shapes = (c.data.shape, a.data.shape, b.data.shape)
        shapes = None if all(s == out.shape for s in shapes) else shapes
        return _record(out, "where", _where_bwd, (c, a, b), (c,), None, None, shapes)
    return _make(out)


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


@jvp_rule(_sum_bwd)
def _sum_jvp(node, xs, ts, out):
    shape, dims, keepdim = node.ctx
    return sum(ts[0], dims, keepdim) if dims else ts[0]


def _mean_bwd(node, g):
    shape, dims, keepdim = node.ctx
    n = 1
    for d in dims:
        n *= shape[d]
    return (_expand_back(div(g, float(n)), shape, dims, keepdim),)


@jvp_rule(_mean_bwd)
def _mean_jvp(node, xs, ts, out):
    shape, dims, keepdim = node.ctx
    return mean(ts[0], dims, keepdim) if dims else ts[0]


def _reduce(name, x, dim, keepdim, bwd):
    x = _float_in(x, name) if type(x) is not Tensor or x.data.dtype.kind != "f" else x
    dims = _norm_dims(dim, x.data.ndim, name)
    out = backend.k.reduce(R[name], x.data, dims)
    if keepdim:
        out = out.reshape(_keep_shape(x.data.shape, dims))
    if x.requires_grad and grad_mode.enabled:
        return _record(out, name, bwd, (x,), (), None, (x.data.shape, dims, keepdim))
    return _make(out)


def sum(x, dim=None, keepdim=False, dtype=None):  # noqa: A001 - torch.sum
    if dtype is not None:
        x = to(x, dtype)
    if isinstance(x, Tensor) and x.data.dtype.kind != "f":
        dims = _norm_dims(dim, x.data.ndim, "sum")
        return _make(np.asarray(np.sum(x.data, axis=dims, keepdims=keepdim, dtype=np.int64)))
    return _reduce("sum", x, dim, keepdim, _sum_bwd)


def mean(x, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        x = to(x, dtype)
    if isinstance(x, Tensor) and x.data.dtype.kind != "f":
        raise TypeError(f"mean: input dtype should be floating point, got {x.data.dtype}; cast it with .float()")
    return _reduce("mean", x, dim, keepdim, _mean_bwd)


def var(x, dim=None, correction=1, keepdim=False, unbiased=None, _who="var"):
    if unbiased is not None:
        correction = 1 if unbiased else 0
    x = _float_in(x, _who)
    dims = _norm_dims(dim, x.data.ndim, _who)
    n = 1
    for d in dims:
        n *= x.data.shape[d]
    d = sub(x, mean(x, dims if dims else None, keepdim=True))
    return div(sum(mul(d, d), dims if dims else None, keepdim=keepdim), float(_max(n - correction, 0)))


def std(x, dim=None, correction=1, keepdim=False, unbiased=None):
    return sqrt(var(x, dim, correction, keepdim, unbiased, _who="std"))


def _lse_bwd(node, g):
    (x,) = node.saved
    shape, dims, keepdim = node.ctx
    out = node.output()
    if not keepdim and dims:
        out = reshape(out, _keep_shape(shape, dims))
        g = reshape(g, _keep_shape(shape, dims))
    return (mul(g, exp(sub(x, out))),)


jvp_rule(_lse_bwd)(_slice_reduce_jvp)


def logsumexp(x, dim, keepdim=False):
    x = _float_in(x, "logsumexp")
    dims = _norm_dims(dim, x.data.ndim, "logsumexp")
    out = backend.k.reduce(R["logsumexp"], x.data, dims)
    if keepdim:
        out = out.reshape(_keep_shape(x.data.shape, dims))
    if _needs(x):
        return _record(out, "logsumexp", _lse_bwd, (x,), (x,), out, (x.data.shape, dims, keepdim))
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
    return reshape(_take_along(ts[0], idx, dim), out.data.shape)


def _maxmin(name, x, dim, keepdim):
    if type(x) is not Tensor:
        x = _to_tensor(x, name)
    if x.data.dtype.kind != "f":
        if dim is None:
            if x.data.size == 0:
                raise ValueError(f"{name}: cannot reduce an empty tensor")
            return _make(np.asarray(np.max(x.data) if name == "max" else np.min(x.data)))
        d = _norm_dim(dim, x.data.ndim, name)
        f = np.argmax if name == "max" else np.argmin
        if x.data.ndim and x.data.shape[d] == 0:
            raise ValueError(f"{name}: cannot reduce over a zero-size dimension {d}")
        idx = f(x.data, axis=d, keepdims=keepdim) if x.data.ndim else np.asarray(0)
        v = np.take_along_axis(x.data, idx if keepdim else np.expand_dims(idx, d), d) if x.data.ndim else x.data
        v = v if keepdim or not x.data.ndim else np.squeeze(v, d)
        return (MaxResult if name == "max" else MinResult)(_make(v), _make(np.asarray(idx, np.int64)))
    if dim is None:
        if x.data.size == 0:
            raise ValueError(f"{name}: cannot reduce an empty tensor (shape {tuple(x.data.shape)}); "
                             "give a dim")
        out = backend.k.reduce(R[name], x.data, tuple(range(x.data.ndim)))
        if _needs(x):
            return _record(out, name, _full_maxmin_bwd, (x,), (x,), out)
        return _make(out)
    nd = x.data.ndim
    d = _norm_dim(dim, nd, name)
    if nd == 0:                    # the max of one element is that element
        return (MaxResult if name == "max" else MinResult)(clone(x), _make(np.zeros((), np.int64)))
    else:
        vals, idx = backend.k.argreduce(R[name], x.data, d)
    if keepdim and nd:
        vals, idx = np.expand_dims(vals, d), np.expand_dims(idx, d)
    v = _make(vals)
    if _needs(x):
        kidx = idx if (keepdim or not nd) else np.expand_dims(idx, d)
        v = _record(vals, name, _dim_maxmin_bwd, (x,), (), None, (x.data.shape, d, keepdim or not nd, kidx))
    return (MaxResult if name == "max" else MinResult)(v, _make(idx))


def max(x, dim=None, keepdim=False):  # noqa: A001 - torch.max
    """max(x) -> tensor; max(x, dim) -> (values, indices); max(a, b) -> maximum(a, b)."""
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    return _maxmin("max", x, dim, keepdim)


def min(x, dim=None, keepdim=False):  # noqa: A001 - torch.min
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    return _maxmin("min", x, dim, keepdim)


def _argmaxmin(name, x, dim, keepdim):
    x = _to_tensor(x, name)
    if x.data.size == 0:
        raise ValueError(f"{name}: cannot take the {name} of an empty tensor")
    if x.data.dtype.kind != "f":
        f = np.argmax if name == "argmax" else np.argmin
        if dim is None:
            r = np.asarray(f(x.data), np.int64)
            return _make(r.reshape((1,) * x.data.ndim) if keepdim else r)
        d = _norm_dim(dim, x.data.ndim, name)
        return _make(np.asarray(f(x.data, axis=d, keepdims=keepdim), np.int64))
    op = R["max"] if name == "argmax" else R["min"]
    if dim is None:
        _, idx = backend.k.argreduce(op, np.ascontiguousarray(x.data).reshape(-1), 0)
        return _make(idx.reshape((1,) * x.data.ndim) if keepdim else idx)
    d = _norm_dim(dim, x.data.ndim, name)
    if x.data.ndim == 0:
        return _make(np.zeros((), np.int64))
    _, idx = backend.k.argreduce(op, x.data, d)
    return _make(np.expand_dims(idx, d) if keepdim else idx)


def argmax(x, dim=None, keepdim=False):
    return _argmaxmin("argmax", x, dim, keepdim)


def argmin(x, dim=None, keepdim=False):
    return _argmaxmin("argmin", x, dim, keepdim)


# ---- gather/scatter along a dim (internal: the backward of max/min over a dim) ----------
def _put_along_bwd(node, g):
    idx, dim, shape = node.ctx
    return (_take_along(g, idx, dim),)


@jvp_rule(_put_along_bwd)
def _put_along_jvp(node, xs, ts, out):
    idx, dim, shape = node.ctx
    return _put_along(ts[0], idx, dim, shape)


def _put_along(g, idx, dim, shape):
    """Zeros of `shape` with g scattered (added) at idx along dim."""
    out = np.zeros(shape, dtype=g.data.dtype)
    np.put_along_axis(out, idx, g.data, dim)
    if _needs(g):
        return _record(out, "put_along", _put_along_bwd, (g,), (), None, (idx, dim, shape))
    return _make(out)


def _take_along_bwd(node, g):
    idx, dim, shape = node.ctx
    return (_put_along(g, idx, dim, shape),)


@jvp_rule(_take_along_bwd)
def _take_along_jvp(node, xs, ts, out):
    idx, dim, shape = node.ctx
    return _take_along(ts[0], idx, dim)


def _take_along(x, idx, dim):
    out = np.take_along_axis(x.data, idx, dim)
    if _needs(x):
        return _record(out, "take_along", _take_along_bwd, (x,), (), None, (idx, dim, x.data.shape))
    return _make(out)


# ---- softmax family -----------------------------------------------------------------------
def _softmax_bwd(node, g):
    dim, lg = node.ctx
    if grad_mode.enabled:
        y = node.output()
        if lg:
            return (sub(g, mul(exp(y), sum(g, dim, keepdim=True))),)
        return (mul(y, sub(g, sum(mul(g, y), dim, keepdim=True))),)
    return (_make(backend.k.softmax_bwd(g.data, node.out, dim, lg)),)


@jvp_rule(_softmax_bwd)
def _softmax_jvp(node, xs, ts, out):
    dim, lg = node.ctx
    t = ts[0]
    if lg:      # d log_softmax = t - sum(softmax * t)
        return sub(t, sum(mul(exp(out), t), dim, keepdim=True))
    return mul(out, sub(t, sum(mul(t, out), dim, keepdim=True)))


def _softmax0_bwd(node, g):
    return (mul(g, 0.0),)


@jvp_rule(_softmax0_bwd)
def _softmax0_jvp(node, xs, ts, out):
    return mul(ts[0], 0.0)


def _softmax(name, x, dim, lg, dtype):
    x = _float_in(x, name)
    if dtype is not None:
        x = to(x, dtype)
    if dim is None:
        raise TypeError(f"{name}: dim is required (implicit dim selection is ambiguous)")
    if x.data.ndim == 0:
        out = np.zeros((), x.data.dtype) if lg else np.ones((), x.data.dtype)
        d = 0
        if _needs(x):
            return _record(out, name, _softmax0_bwd, (x,))
        return _make(out)
    d = _norm_dim(dim, x.data.ndim, name)
    out = backend.k.softmax(x.data, d, lg)
    if _needs(x):
        return _record(out, name, _softmax_bwd, (x,), (), out, (d, lg))
    return _make(out)


def softmax(x, dim=None, dtype=None):
    return _softmax("softmax", x, dim, False, dtype)


def log_softmax(x, dim=None, dtype=None):
    return _softmax("log_softmax", x, dim, True, dtype)


# ---- matmul and linear ----------------------------------------------------------------------
_SWAP_LAST = {}


def _mT(x):
    """x with its last two dims swapped: a view (the backward formulas of matmul and
    linear use it, so it skips permute's argument checks)."""
    nd = x.data.ndim
    if nd < 2:
        return transpose(x, -1, -2)
    p = _SWAP_LAST.get(nd)
    if p is None:
        p = _SWAP_LAST[nd] = tuple(range(nd - 2)) + (nd - 1, nd - 2)
    out = x.data.transpose(p)
    t = _record(out, "permute", _permute_bwd, (x,), (), None, p) if (
        x.requires_grad and grad_mode.enabled) else _make(out)
    t._version = x._version
    t._base = x if x._base is None else x._base
    return t


def _matmul_bwd(node, g):
    a, b = node.saved
    ea, eb = node.edges
    ga = gb = None
    if ea is not None:
        if (type(ea) is not Node and ea.grad is not None and not grad_mode.enabled
                and _matmul_into(ea, g.data, b.data.swapaxes(-1, -2), a.data.shape)):
            ga = ACCUMULATED
        else:
            ga = matmul(g, _mT(b))
    if eb is not None:
        if (type(eb) is not Node and eb.grad is not None and not grad_mode.enabled
                and _matmul_into(eb, a.data.swapaxes(-1, -2), g.data, b.data.shape)):
            gb = ACCUMULATED
        else:
            gb = matmul(_mT(a), g)
    return (ga, gb)


def _matmul_into(e, p, q, shape):
    """For matmul's backward: add the gradient p @ q into the existing .grad of leaf `e`
    (of `shape`) with one accumulating GEMM, if the engine allows it (accum_target) and
    it is exact: p @ q has e's shape (no batch dim of e was broadcast), or e is 2-D and
    p, q (..., r, K), (..., K, c) share their batch dims, whose sum over the batch (what
    undoing e's broadcast calls for) is one (r, n*K) @ (n*K, c) GEMM.  Anything else
    (e broadcast along a size-1 batch dim, empty operands) returns False: the caller
    takes the ordinary path.  Returns True when done."""
    if p.dtype != q.dtype or p.ndim < 2 or q.ndim < 2 or p.size == 0 or q.size == 0:
        return False
    pb, qb = p.shape[:-2], q.shape[:-2]
    if (pb if len(pb) >= len(qb) else qb) == shape[:-2] and (not pb or not qb or pb == qb):
        pass                    # the product has e's shape
    elif len(shape) == 2 and pb and pb == qb:
        # sum_i p_i @ q_i = [p_1 .. p_n] @ [q_1; ..; q_n]: columns of p, rows of q
        p = p.swapaxes(-1, -2).reshape(-1, p.shape[-2]).T
        q = q.reshape(-1, q.shape[-1])
    else:
        return False
    t = _engine.accum_target(e, p.dtype, shape, (p, q))
    if t is None:
        return False
    backend.k.matmul(p, q, out=t.data, beta=1.0)
    return True


@jvp_rule(_matmul_bwd)
def _matmul_jvp(node, xs, ts, out):
    a, b = xs
    return _tplus(None if ts[0] is None else matmul(ts[0], b), None if ts[1] is None else matmul(a, ts[1]))


def matmul(a, b):
    """Matrix product with torch.matmul semantics (1-D, 2-D, batched, broadcast)."""
    if type(a) is not Tensor or type(b) is not Tensor or a.data.dtype is not b.data.dtype:
        a, b = _pair(_to_tensor(a, "matmul"), _to_tensor(b, "matmul"), "matmul")
    na, nb = a.data.ndim, b.data.ndim
    if na == 0 or nb == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes "
                         f"{tuple(a.data.shape)} and {tuple(b.data.shape)}")
    if na == 1 or nb == 1:
        ka = a.data.shape[-1]
        kb = b.data.shape[0] if nb == 1 else b.data.shape[-2]
        if ka != kb:
            raise ValueError(f"matmul: cannot multiply shapes {tuple(a.data.shape)} and "
                             f"{tuple(b.data.shape)}: {ka} != {kb}")
        a2 = unsqueeze(a, 0) if na == 1 else a
        b2 = unsqueeze(b, -1) if nb == 1 else b
        r = matmul(a2, b2)
        if nb == 1:
            r = squeeze(r, -1)
        if na == 1:
            r = squeeze(r, -2 if nb > 1 else 0) if nb > 1 else squeeze(r, -1)
        return r
    if a.data.shape[-1] != b.data.shape[-2]:
        raise ValueError(f"matmul: cannot multiply shapes {tuple(a.data.shape)} and "
                         f"{tuple(b.data.shape)}: {a.data.shape[-1]} != {b.data.shape[-2]}")
    if a.data.dtype.kind != "f":
        return _make(np.matmul(a.data, b.data))
    out = backend.k.matmul(a.data, b.data)
    if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
        bs = out.shape[:-2]
        shapes = None
        if a.data.shape[:-2] != bs or b.data.shape[:-2] != bs:
            shapes = (a.data.shape, b.data.shape)
        return _record(out, "matmul", _matmul_bwd, (a, b), (a, b), None, None, shapes)
    return _make(out)


def mm(a, b):
    if _to_tensor(a, "mm").ndim != 2 or _to_tensor(b, "mm").ndim != 2:
        raise ValueError(f"mm: expected 2-D tensors, got shapes {tuple(np.shape(a.data))} and {tuple(np.shape(b.data))}")
    return matmul(a, b)


def _fresh(arr):
    """A Tensor over a new array that no one else references: the engine may adopt it as
    a leaf's .grad without copying (see autograd.engine._store_grad)."""
    t = _make(arr)
    t._name = FRESH
    return t


def _linear_bwd(node, g):
    x, w, b = node.saved
    act = node.ctx
    if not grad_mode.enabled and g.data.dtype == w.data.dtype:
        # the usual case, straight to the kernels: no graph, no intermediate Tensors
        k = backend.k
        gd = g.data
        if act is not None:
            y = node.out
            gd = (k.unary_bwd(U["relu"], gd, y, None) if act == "relu"
                  else k.unary_bwd(U[act], gd, None, y))
        xd = x.data
        if xd.ndim != 2:            # (..., in) input: rows of one 2-D product
            rows = math.prod(xd.shape[:-1])
            xd = xd.reshape(rows, xd.shape[-1])
            gd = gd.reshape(rows, gd.shape[-1])
            gx = (_fresh(k.matmul(gd, w.data).reshape(x.data.shape))
                  if node.edges[0] is not None else None)
        else:
            gx = _fresh(k.matmul(gd, w.data)) if node.edges[0] is not None else None
        ew = node.edges[1]
        if ew is None:
            gw = None
        elif (type(ew) is not Node and ew.grad is not None and (t := _engine.accum_target(
                ew, gd.dtype, w.data.shape, (gd, xd))) is not None):
            k.matmul(gd.T, xd, out=t.data, beta=1.0)    # .grad += g^T x, no new array
            gw = ACCUMULATED
        else:
            gw = _fresh(k.matmul(gd.T, xd))
        gb = None
        if len(node.edges) > 2 and node.edges[2] is not None:
            gb = _fresh(k.reduce(R["sum"], gd, (0,)))
        return (gx, gw, gb)
    if act is not None:
        # the activation's derivative from the saved output y = act(z): relu' = [y > 0],
        # tanh' = 1 - y^2, sigmoid' = y (1 - y)
        y = node.output()
        if grad_mode.enabled:
            g = mul(g, _LINEAR_ACT_DERIV[act](y))
        elif act == "relu":
            g = _make(backend.k.unary_bwd(U["relu"], g.data, y.data, None))
        else:
            g = _make(backend.k.unary_bwd(U[act], g.data, None, y.data))
    rows = math.prod(x.data.shape[:-1])
    x2 = reshape(x, (rows, x.data.shape[-1])) if x.data.ndim != 2 else x
    g2 = reshape(g, (rows, g.data.shape[-1])) if g.data.ndim != 2 else g
    gx = gw = gb = None
    if node.edges[0] is not None:
        gx = matmul(g, w)
    if node.edges[1] is not None:
        gw = matmul(_mT(g2), x2)
    if len(node.edges) > 2 and node.edges[2] is not None:
        gb = sum(g2, 0)
    return (gx, gw, gb)


@jvp_rule(_linear_bwd)
def _linear_jvp(node, xs, ts, out):
    x, w = xs[0], xs[1]
    z = _tplus(None if ts[0] is None else matmul(ts[0], _mT(w)),
               None if ts[1] is None else matmul(x, _mT(ts[1])))
    z = _tplus(z, ts[2] if len(ts) > 2 else None)
    if z is None or node.ctx is None:
        return z
    return mul(z, _LINEAR_ACT_DERIV[node.ctx](out))    # the activation's slope from its output


_LINEAR_ACT_DERIV = {
    "relu": lambda y: _mask(gt(y, 0.0), y),
    "tanh": lambda y: sub(1.0, square(y)),
    "sigmoid": lambda y: mul(y, sub(1.0, y)),
}


def linear(x, weight, bias=None, activation=None):
    """y = act(x @ weight.T + bias): one GEMM whose epilogue adds the bias and applies
    the activation (None, "relu", "tanh", "sigmoid"; "gelu" runs as a separate pass
    because its backward needs the pre-activation).  x (..., in), weight (out, in),
    bias (out,).  Backward reuses the saved output for the activation's derivative."""
    x = _to_tensor(x, "linear")
    if activation == "gelu":
        return gelu(linear(x, weight, bias))
    if activation is not None and activation not in _LINEAR_ACT_DERIV:
        raise ValueError(f"linear: activation must be None, 'relu', 'gelu', 'tanh' or 'sigmoid', "
                         f"got {activation!r}")
    if weight.data.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                         f"{tuple(weight.data.shape)}")
    if x.data.ndim == 0 or x.data.shape[-1] != weight.data.shape[1]:
        raise ValueError(f"linear: input shape {tuple(x.data.shape)} does not match weight shape "
                         f"{tuple(weight.data.shape)}: last dimension must be {weight.data.shape[1]}")
    if bias is not None and (bias.data.ndim != 1 or bias.data.shape[0] != weight.data.shape[0]):
        raise ValueError(f"linear: bias shape {tuple(bias.data.shape)} does not match weight shape "
                         f"{tuple(weight.data.shape)}: expected ({weight.data.shape[0]},)")
    dt = x.data.dtype
    if weight.data.dtype != dt or (bias is not None and bias.data.dtype != dt) or dt.kind != "f":
        raise TypeError(f"linear: input, weight and bias must share one float dtype, got "
                        f"{dt}, {weight.data.dtype}, {None if bias is None else bias.data.dtype}")
    lead = x.data.shape[:-1]
    # explicit row count: -1 is ambiguous when in_features is 0
    x2 = x.data.reshape(math.prod(lead), x.data.shape[-1]) if x.data.ndim != 2 else x.data
    out = backend.k.linear(x2, weight.data, None if bias is None else bias.data, activation)
    if x.data.ndim != 2:
        out = out.reshape(lead + (weight.data.shape[0],))
    inputs = (x, weight) if bias is None else (x, weight, bias)
    if grad_mode.enabled and (x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)):
        return _record(out, "linear", _linear_bwd, inputs, (x, weight, bias),
                       out if activation else None, activation)
    return _make(out)


# ---- shape and view ops ---------------------------------------------------------------------
def _view(t, x):
    """t shares memory with x: share x's version counter, so an in-place change through
    either is seen by the saved-tensor checks of both."""
    if np.may_share_memory(t.data, x.data):
        t._version = x._version
        t._base = x if x._base is None else x._base
    return t

def _reshape_bwd(node, g):
    return (reshape(g, node.ctx),)


@jvp_rule(_reshape_bwd)
def _reshape_jvp(node, xs, ts, out):
    return reshape(ts[0], out.data.shape)


def _shape_arg(shape, who):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"{who}: shape entries must be ints, got {shape!r}")
    return tuple(int(s) for s in shape)


def reshape(x, *shape):
    shape = _shape_arg(shape, "reshape")
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: shape {shape} is invalid for input of shape "
                         f"{tuple(x.data.shape)} ({x.data.size} elements)") from None
    if x.requires_grad and grad_mode.enabled:
        return _view(_record(out, "reshape", _reshape_bwd, (x,), (), None, x.data.shape), x)
    return _view(_make(out), x)


def view(x, *shape):
    """Like reshape, but never copies: raises if the memory layout does not allow it."""
    shape = _shape_arg(shape, "view")
    try:
        out = x.data.view()
        out.shape = shape
    except (AttributeError, ValueError):
        raise RuntimeError(f"view: shape {shape} is not compatible with input shape "
                           f"{tuple(x.data.shape)} and its strides; use reshape() instead") from None
    if x.requires_grad and grad_mode.enabled:
        return _view(_record(out, "view", _reshape_bwd, (x,), (), None, x.data.shape), x)
    return _view(_make(out), x)


def flatten(x, start_dim=0, end_dim=-1):
    nd = x.data.ndim
    if nd == 0:
        return reshape(x, 1)
    s, e = _norm_dim(start_dim, nd, "flatten"), _norm_dim(end_dim, nd, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    sh = x.data.shape
    n = 1
    for d in range(s, e + 1):
        n *= sh[d]
    return reshape(x, sh[:s] + (n,) + sh[e + 1:])


def squeeze(x, dim=None):
    sh = x.data.shape
    if dim is None:
        new = tuple(s for s in sh if s != 1)
    else:
        dims = _norm_dims(dim, x.data.ndim, "squeeze")
        new = tuple(s for i, s in enumerate(sh) if not (i in dims and s == 1))
    return x if new == sh else reshape(x, new)


def unsqueeze(x, dim):
    nd = x.data.ndim
    if not -nd - 1 <= dim <= nd:
        raise IndexError(f"unsqueeze: dimension {dim} is out of range for a tensor with {nd} "
                         f"dimensions (expected {-nd - 1}..{nd})")
    d = dim % (nd + 1)
    sh = x.data.shape
    return reshape(x, sh[:d] + (1,) + sh[d:])


def _permute_bwd(node, g):
    p = node.ctx
    inv = [0] * len(p)
    for i, d in enumerate(p):
        inv[d] = i
    return (permute(g, tuple(inv)),)


@jvp_rule(_permute_bwd)
def _permute_jvp(node, xs, ts, out):
    return permute(ts[0], node.ctx)


def permute(x, *dims):
    dims = _shape_arg(dims, "permute")
    nd = x.data.ndim
    if len(dims) != nd:
        raise ValueError(f"permute: got {len(dims)} dims {dims} for a tensor with {nd} dimensions")
    norm = tuple(_norm_dim(d, nd, "permute") for d in dims)
    if sorted(norm) != list(range(nd)):
        raise ValueError(f"permute: dims {dims} are not a permutation of 0..{nd - 1}")
    out = x.data.transpose(norm)
    if x.requires_grad and grad_mode.enabled:
        return _view(_record(out, "permute", _permute_bwd, (x,), (), None, norm), x)
    return _view(_make(out), x)


def transpose(x, dim0, dim1):
    nd = x.data.ndim
    if nd == 0:
        return x
    d0, d1 = _norm_dim(dim0, nd, "transpose"), _norm_dim(dim1, nd, "transpose")
    p = list(range(nd))
    p[d0], p[d1] = p[d1], p[d0]
    return permute(x, tuple(p))


def t(x):
    if x.data.ndim > 2:
        raise ValueError(f"t: expects a tensor with <= 2 dimensions, got {x.data.ndim}")
    return transpose(x, 0, 1) if x.data.ndim == 2 else x


def _expand_bwd(node, g):
    return (sum_to(g, node.ctx),)


@jvp_rule(_expand_bwd)
def _expand_jvp(node, xs, ts, out):
    return expand(ts[0], out.data.shape)


def expand(x, *sizes):
    sizes = _shape_arg(sizes, "expand")
    sh = x.data.shape
    if len(sizes) < len(sh):
        raise ValueError(f"expand: the number of sizes {sizes} must be at least the number of "
                         f"dimensions of shape {tuple(sh)}")
    lead = len(sizes) - len(sh)
    target = tuple(sh[i - lead] if (s == -1 and i >= lead) else s for i, s in enumerate(sizes))
    if target == sh:
        return x
    try:
        out = np.broadcast_to(x.data, target)
    except ValueError:
        raise ValueError(f"expand: cannot expand shape {tuple(sh)} to {sizes}") from None
    if x.requires_grad and grad_mode.enabled:
        return _view(_record(out, "expand", _expand_bwd, (x,), (), None, sh), x)
    return _view(_make(out), x)


def broadcast_to(x, shape):
    return expand(x, tuple(shape))


def sum_to(g, shape):
    """Sum g over the broadcast dimensions so it has `shape` (the inverse of expand)."""
    gs = g.data.shape
    if gs == shape:
        return g
    lead = len(gs) - len(shape)
    dims = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and gs[i + lead] != 1)
    r = sum(g, dims, keepdim=True) if dims else g
    return reshape(r, shape)


def _contig_bwd(node, g):
    return (g,)


@jvp_rule(_contig_bwd)
def _contig_jvp(node, xs, ts, out):
    return ts[0]


def contiguous(x):
    if x.data.flags.c_contiguous:
        return x
    out = backend.k.contiguous(x.data)
    if _needs(x):
        return _record(out, "contiguous", _contig_bwd, (x,))
    return _make(out)


def clone(x):
    out = backend.k.copy(x.data) if x.data.dtype.kind == "f" else x.data.copy()
    if _needs(x):
        return _record(out, "clone", _contig_bwd, (x,))
    return _make(out)


def _cat_bwd(node, g):
    dim, sizes = node.ctx
    res, start = [], 0
    for i, s in enumerate(sizes):
        res.append(narrow(g, dim, start, s) if node.edges[i] is not None else None)
        start += s
    return tuple(res)


@jvp_rule(_cat_bwd)
def _cat_jvp(node, xs, ts, out):
    return cat([_zeros_of(x) if t is None else t for x, t in zip(xs, ts)], node.ctx[0])


def cat(tensors, dim=0):
    """Concatenate along an existing dim."""
    ts = [_to_tensor(t, "cat") for t in tensors]
    if not ts:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    dt = result_dtype(*ts)
    ts = [_cast_to(t, dt) for t in ts]
    nd = ts[0].data.ndim
    if nd == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated")
    d = _norm_dim(dim, nd, "cat")
    for i, t in enumerate(ts):
        if t.data.ndim != nd or t.data.shape[:d] + t.data.shape[d + 1:] != ts[0].data.shape[:d] + ts[0].data.shape[d + 1:]:
            raise ValueError(f"cat: tensor {i} has shape {tuple(t.data.shape)}, which does not match "
                             f"{tuple(ts[0].data.shape)} except in dimension {d}")
    out = np.concatenate([t.data for t in ts], axis=d)
    if _needs(*ts):
        return _record(out, "cat", _cat_bwd, ts, (), None, (d, tuple(t.data.shape[d] for t in ts)))
    return _make(out)


concat = concatenate = cat


def stack(tensors, dim=0):
    ts = [_to_tensor(t, "stack") for t in tensors]
    if not ts:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    for i, t in enumerate(ts):
        if t.data.shape != ts[0].data.shape:
            raise ValueError(f"stack: tensor {i} has shape {tuple(t.data.shape)}, expected "
                             f"{tuple(ts[0].data.shape)} (all inputs must have the same shape)")
    nd = ts[0].data.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(f"stack: dimension {dim} is out of range (expected {-nd}..{nd - 1})")
    return cat([unsqueeze(t, dim % nd) for t in ts], dim % nd)


def _narrow_bwd(node, g):
    dim, start, full = node.ctx
    return (_unnarrow(g, dim, start, full),)


@jvp_rule(_narrow_bwd)
def _narrow_jvp(node, xs, ts, out):
    dim, start, full = node.ctx
    return narrow(ts[0], dim, start, out.data.shape[dim])


def narrow(x, dim, start, length):
    if x.data.ndim == 0:
        raise ValueError("narrow: cannot be applied to a 0-d tensor")
    d = _norm_dim(dim, x.data.ndim, "narrow")
    n = x.data.shape[d]
    if start < 0:
        start += n
    if start < 0 or length < 0 or start + length > n:
        raise IndexError(f"narrow: start {start} and length {length} are out of range for "
                         f"dimension {d} of size {n}")
    idx = (slice(None),) * d + (slice(start, start + length),)
    out = x.data[idx]
    if _needs(x):
        return _view(_record(out, "narrow", _narrow_bwd, (x,), (), None, (d, start, x.data.shape)), x)
    return _view(_make(out), x)


def _unnarrow_bwd(node, g):
    dim, start, length = node.ctx
    return (narrow(g, dim, start, length),)


@jvp_rule(_unnarrow_bwd)
def _unnarrow_jvp(node, xs, ts, out):
    dim, start, length = node.ctx
    return _unnarrow(ts[0], dim, start, out.data.shape)


def _unnarrow(g, dim, start, full):
    out = np.zeros(full, dtype=g.data.dtype)
    length = g.data.shape[dim]
    out[(slice(None),) * dim + (slice(start, start + length),)] = g.data
    if _needs(g):
        return _record(out, "unnarrow", _unnarrow_bwd, (g,), (), None, (dim, start, length))
    return _make(out)


# ---- indexing -------------------------------------------------------------------------------
# x[idx] for every NumPy/PyTorch index form.  Basic indices (ints, slices with any step,
# None, Ellipsis) give a view whose backward writes g into zeros.  Advanced indices (int
# and bool tensors/lists/arrays) run the C index kernels: a lone int array next to full
# slices is index_select along its dim, a lone bool mask is a masked select, and any
# other mix is turned into flat element numbers (NumPy applies the index to an arange)
# and gathered.  Every advanced backward is a scatter-add, so repeated indices accumulate.
def _unwrap_index(v):
    if isinstance(v, Tensor):
        return v.data
    if isinstance(v, (list, tuple)):
        return [_unwrap_index(i) for i in v]
    return v


def _idx_array(v, who):
    a = v.data if isinstance(v, Tensor) else np.asarray(_unwrap_index(v))
    if a.dtype == np.bool_ or a.dtype == np.int64:
        return a
    if a.dtype.kind in "iu" or a.size == 0:
        return a.astype(np.int64)
    raise IndexError(f"{who}: tensors used as indices must be int64 or bool, got {a.dtype}")


def _index_arg(idx, who="index"):
    if isinstance(idx, tuple):
        return tuple(_index_arg(i, who) for i in idx)
    if isinstance(idx, (Tensor, list, np.ndarray)):
        return _idx_array(idx, who)
    if isinstance(idx, (bool, np.bool_)):
        return np.asarray(idx)
    if idx is None or idx is Ellipsis or isinstance(idx, (int, np.integer, slice)):
        return idx
    raise IndexError(f"{who}: unsupported index of type {type(idx).__name__} (expected ints, "
                     "slices, None, Ellipsis, int64/bool tensors or lists)")


def _is_basic(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    for p in parts:
        if not (p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice))) or isinstance(p, bool):
            return False
    return True


def _getitem_bwd(node, g):
    idx, shape = node.ctx
    return (_index_backward(g, idx, shape),)


@jvp_rule(_getitem_bwd)
def _getitem_jvp(node, xs, ts, out):
    return getitem(ts[0], node.ctx[0])


def getitem(x, idx):
    """x[idx]: basic indices give a view (sharing memory and version counter); advanced
    ones a copy.  Negative indices (and negative slice steps) count from the end."""
    if type(x) is not Tensor:
        raise TypeError(f"index: expected a Tensor, got {type(x).__name__}")
    idx = _index_arg(idx, "index")
    if not _is_basic(idx):
        return _advanced_index(x, idx)
    try:
        out = x.data[idx]
        if not isinstance(out, np.ndarray):       # all ints: keep a 0-d view, not a copy
            out = x.data[(idx if isinstance(idx, tuple) else (idx,)) + (Ellipsis,)]
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor shape {tuple(x.data.shape)})") from None
    if x.requires_grad and grad_mode.enabled:
        t = _view(_record(out, "index", _getitem_bwd, (x,), (), None, (idx, x.data.shape)), x)
    else:
        t = _view(_make(out), x)
    if t._base is x:                     # lets an in-place op on t rebase x (see below)
        t._vidx = (x, idx)
    return t


def _index_backward_bwd(node, g):
    idx, shape = node.ctx
    return (getitem(g, idx),)


@jvp_rule(_index_backward_bwd)
def _index_backward_jvp(node, xs, ts, out):
    return _index_backward(ts[0], node.ctx[0], out.data.shape)


def _index_backward(g, idx, shape):
    """Zeros of `shape` with g written at the basic index idx."""
    out = np.zeros(shape, dtype=g.data.dtype)
    out[idx] = g.data
    if _needs(g):
        return _record(out, "index_backward", _index_backward_bwd, (g,), (), None, (idx, g.data.shape))
    return _make(out)


def _advanced_index(x, idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    sh = x.data.shape
    arrays = [k for k, p in enumerate(parts) if isinstance(p, np.ndarray)]
    if len(parts) == 1 and parts[0].dtype == np.bool_ and parts[0].ndim >= 1:
        m = parts[0]
        if m.shape != sh[:m.ndim]:
            raise IndexError(f"index: the shape of the mask {tuple(m.shape)} does not match the "
                             f"shape of the indexed tensor {tuple(sh)} in its first {m.ndim} dimensions")
        if m.ndim == x.data.ndim:
            return _masked_select(x, m)
        rows = np.flatnonzero(m)
        return _index_select(reshape(x, (-1,) + sh[m.ndim:]), 0, rows, False, "index")
    if len(arrays) == 1 and parts[arrays[0]].dtype != np.bool_:
        k = arrays[0]
        others = [p for p in parts if not isinstance(p, np.ndarray)]
        ell = [i for i, p in enumerate(parts) if p is Ellipsis]
        if len(ell) <= 1 and all(p is Ellipsis or (isinstance(p, slice) and p == slice(None)) for p in others):
            d = k if (not ell or k < ell[0]) else x.data.ndim - (len(parts) - k)
            if 0 <= d < x.data.ndim and len(parts) - len(ell) <= x.data.ndim:
                a = parts[k]
                out = _index_select(x, d, a.reshape(-1), True, "index")
                return reshape(out, sh[:d] + a.shape + sh[d + 1:])
    lin = np.arange(x.data.size, dtype=np.int64).reshape(sh)
    try:
        lin = np.asarray(lin[idx])
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor shape {tuple(sh)})") from None
    return reshape(_index_select(reshape(x, -1), 0, lin.reshape(-1), False, "index"), lin.shape)


def _isel_bwd(node, g):
    d, idx, n, wrap = node.ctx
    return (_index_add_zeros(g, d, idx, n, wrap),)


@jvp_rule(_isel_bwd)
def _isel_jvp(node, xs, ts, out):
    d, idx, n, wrap = node.ctx
    return _index_select(ts[0], d, idx, wrap, "index_select")


def _index_select(x, d, idx, wrap, who):
    out = backend.k.index_select(x.data, d, idx, wrap, who)
    if _needs(x):
        return _record(out, "index_select" if who == "index_select" else "index", _isel_bwd, (x,),
                       ctx=(d, idx, x.data.shape[d], wrap))
    return _make(out)


def _iadd_bwd(node, g):
    d, idx, wrap = node.ctx
    return (_index_select(g, d, idx, wrap, "index_select"),)


@jvp_rule(_iadd_bwd)
def _iadd_jvp(node, xs, ts, out):
    d, idx, wrap = node.ctx
    return _index_add_zeros(ts[0], d, idx, out.data.shape[d], wrap)


def _index_add_zeros(g, d, idx, n, wrap):
    """Zeros with g's shape except n along d, g's slices added at idx (repeats add)."""
    shape = list(g.data.shape)
    shape[d] = n
    out = np.zeros(shape, dtype=g.data.dtype)
    backend.k.index_add(out, d, idx, g.data, wrap, "index_backward")
    if _needs(g):
        return _record(out, "index_add", _iadd_bwd, (g,), ctx=(d, idx, wrap))
    return _make(out)


def _msel_bwd(node, g):
    return (_masked_expand(g, node.ctx),)


@jvp_rule(_msel_bwd)
def _msel_jvp(node, xs, ts, out):
    return _masked_select(ts[0], node.ctx)


def _masked_select(x, m):
    out = backend.k.masked_select(x.data, m, "index")
    if _needs(x):
        return _record(out, "masked_select", _msel_bwd, (x,), ctx=m)
    return _make(out)


def _mexp_bwd(node, g):
    return (_masked_select(g, node.ctx),)


@jvp_rule(_mexp_bwd)
def _mexp_jvp(node, xs, ts, out):
    return _masked_expand(ts[0], node.ctx)


def _masked_expand(g, m):
    out = backend.k.masked_expand(g.data, m, "index_backward")
    if _needs(g):
        return _record(out, "masked_expand", _mexp_bwd, (g,), ctx=m)
    return _make(out)


# ---- setitem ----------------------------------------------------------------------------------
def _izero_bwd(node, g):
    return (_index_zero(g, node.ctx),)


@jvp_rule(_izero_bwd)
def _izero_jvp(node, xs, ts, out):
    return _index_zero(ts[0], node.ctx)


def _index_zero(g, idx):
    """g with zeros written at idx (the gradient of what an assignment overwrote)."""
    out = g.data.copy()
    out[idx] = 0
    if _needs(g):
        return _record(out, "index_zero", _izero_bwd, (g,), ctx=idx)
    return _make(out)


def _iput_bwd(node, g):
    idx = node.ctx
    return (_index_zero(g, idx) if node.edges[0] is not None else None,
            getitem(g, idx) if node.edges[1] is not None else None)


@jvp_rule(_iput_bwd)
def _iput_jvp(node, xs, ts, out):
    tx, tv = ts
    if tv is None:
        return _index_zero(tx, node.ctx)
    return _index_put(_zeros_of(out) if tx is None else tx, node.ctx, tv)


def _index_put(x, idx, value):
    v = value if type(value) is Tensor else as_tensor(value)
    if v.data.dtype != x.data.dtype:
        v = to(v, x.data.dtype)
    out = x.data.copy()
    try:
        out[idx] = v.data
    except IndexError as e:
        raise IndexError(f"setitem: {e} (tensor shape {tuple(x.data.shape)})") from None
    except ValueError as e:
        raise ValueError(f"setitem: cannot assign a value of shape {tuple(v.data.shape)} to "
                         f"the indexed part of a tensor of shape {tuple(x.data.shape)}: {e}") from None
    if _needs(x, v):
        return _record(out, "setitem", _iput_bwd, (x, v), ctx=idx,
                       shapes=(x.data.shape, v.data.shape))
    return _make(out)


def setitem(x, idx, value):
    """x[idx] = value, in place (Tensor.__setitem__).  With autograd recording (x is part
    of a graph or value requires grad) x's history is rebased like any in-place op: the
    overwritten part gets zero gradient and value gets the gradient of the positions it
    was written to (summed over broadcasting)."""
    idx = _index_arg(idx, "setitem")
    if grad_mode.enabled and (x.requires_grad or (type(value) is Tensor and value.requires_grad)):
        _inplace_apply(x, "setitem", _index_put, (idx, value))
        return
    _writable(x, "setitem")
    try:
        x.data[idx] = value.data if type(value) is Tensor else value
    except IndexError as e:
        raise IndexError(f"setitem: {e} (tensor shape {tuple(x.data.shape)})") from None
    except (ValueError, TypeError) as e:
        raise type(e)(f"setitem: {e}") from None
    _bump(x, "setitem")


# ---- in-place ops -----------------------------------------------------------------------------
# PyTorch semantics.  Without autograd recording the op computes its result and writes
# it into x's memory.  With recording (x is a non-leaf graph tensor, or an argument
# requires grad) the result is computed out of place on an alias of x that carries x's
# history, written into x's memory, and x's grad_fn becomes the op's node: x's history
# is rebased, and gradients flow to the old history and the arguments.  An alias that
# the new node saved for backward is given a copy of the old values first.  Every
# in-place op bumps x's version counter (shared by views), so backward through any
# node that saved x (or a view of it) before the change raises.
#
# Views: an in-place op on a view made by basic indexing (x[0], x[:, 1:3], ...) of a
# non-leaf tensor writes through the base, rebasing the base's history, so `x[i] += v`
# works with gradients.  Other views of graph tensors (reshape, permute, diagonal, views
# of views, ...) are refused while recording, with a RuntimeError saying so; another
# view of the same base taken before the change keeps its old history.
def _bump(x, name):
    v = x._version
    v[0] += 1
    if len(v) > 1:
        v[1] = name
    else:
        v.append(name)


def _writable(x, name):
    if type(x) is not Tensor:
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    if not x.data.flags.writeable:
        raise RuntimeError(f"{name}: the tensor's memory is read-only (an expanded view, a "
                           "diagonal, or a read-only NumPy array); clone() it first")


def _fit(y, x, name):
    """y cast and broadcast to x's dtype and shape (differentiably) or a clear error."""
    if y.data.dtype != x.data.dtype:
        if not np.can_cast(y.data.dtype, x.data.dtype, "same_kind"):
            raise TypeError(f"{name}: result dtype {y.data.dtype} cannot be stored in a "
                            f"{x.data.dtype} tensor")
        y = to(y, x.data.dtype)
    if y.data.shape != x.data.shape:
        try:
            ok = np.broadcast_shapes(y.data.shape, x.data.shape) == x.data.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{name}: result shape {tuple(y.data.shape)} cannot be written into "
                             f"a tensor of shape {tuple(x.data.shape)}")
        y = expand(y, x.data.shape)
    return y


def _saves(node, alias, stop):
    """Whether a node created by the in-place op's forward (those above `stop`) saved
    `alias` for backward."""
    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if n in seen or n in stop:
            continue
        seen.add(n)
        if n.saved and n.saved is not _FREED:
            for s in n.saved:
                if s is alias:
                    return True
        for e in n.edges:
            if type(e) is Node:
                stack.append(e)
    return False


def _inplace_apply(x, name, fn, args=(), kwargs=None):
    if hooks.inplace is not None:
        hooks.inplace(x, name)
    _writable(x, name)
    kwargs = kwargs or {}
    track = grad_mode.enabled and (x.requires_grad or any(
        type(a) is Tensor and a.requires_grad for a in (*args, *kwargs.values())))
    if not track:
        with _engine_nograd():
            r = fn(x, *args, **kwargs)
        r = r if isinstance(r, Tensor) else as_tensor(r)
        try:
            np.copyto(x.data, np.broadcast_to(r.data, x.data.shape), casting="same_kind")
        except ValueError:
            raise ValueError(f"{name}: result shape {tuple(r.data.shape)} cannot be written into a "
                             f"tensor of shape {tuple(x.data.shape)}") from None
        except TypeError:
            raise TypeError(f"{name}: result dtype {r.data.dtype} cannot be stored in a "
                            f"{x.data.dtype} tensor") from None
        _bump(x, name)
        return x
    if x.requires_grad and x.grad_fn is None:
        raise RuntimeError(f"{name}: a leaf tensor that requires grad is being used in an in-place "
                           "operation; wrap it in `with fastgrad.no_grad():` (e.g. for a manual "
                           "parameter update) or operate on a clone")
    base = x._base
    if base is not None and (x._vidx is None or x._vidx[0] is not base or base._base is not None
                             or (base.requires_grad and base.grad_fn is None)):
        raise RuntimeError(f"{name}: in-place operation on a view of another tensor while autograd "
                           "is recording is supported only for a view made by basic indexing "
                           "(ints, slices, None, ...) of a non-leaf tensor that is not itself a "
                           "view; clone() the view, apply the op to the base tensor, or use the "
                           "out-of-place op")
    alias = _make(x.data)
    alias.grad_fn, alias.requires_grad = x.grad_fn, x.requires_grad
    tx = _engine.tangent_of(x) if _fw.level else None
    if tx is not None:
        _engine.set_tangent(alias, tx)
    args = tuple(alias if a is x else a for a in args)
    kwargs = {k: (alias if a is x else a) for k, a in kwargs.items()}
    y = _fit(fn(alias, *args, **kwargs), x, name)
    node = y.grad_fn
    if node is not None and y is not alias:
        stop = {a.grad_fn for a in (alias, *args, *kwargs.values())
                if type(a) is Tensor and a.grad_fn is not None}
        if _saves(node, alias, stop):
            alias.data = x.data.copy()          # the node keeps the values it was given
    if base is not None:
        # a view base[idx]: write the result through the base (rebasing its history),
        # then make the view the base's new values at idx
        idx = x._vidx[1]
        _inplace_apply(base, name, _index_put, (idx, y))
        nv = getitem(base, idx)
        x.grad_fn, x.requires_grad = nv.grad_fn, nv.requires_grad
        if _fw.level:
            _engine.set_tangent(x, _engine.tangent_of(nv))
        return x
    if y is not alias:
        np.copyto(x.data, y.data)
    _bump(x, name)
    x.grad_fn = node
    x.requires_grad = y.requires_grad
    if _fw.level:
        _engine.set_tangent(x, _engine.tangent_of(y))
    if node is not None and node.outver is not None:
        node.outver = x._version
        node.outv = x._version[0]
    return x


class _engine_nograd:
    def __enter__(self):
        self.prev = grad_mode.enabled
        grad_mode.enabled = False

    def __exit__(self, *exc):
        grad_mode.enabled = self.prev


def _overwrite_bwd(node, g):
    # zeros (not None) for the overwritten tensor, as PyTorch: its history still runs,
    # so a saved value modified earlier is still reported
    gx = _make(np.zeros(g.data.shape, g.data.dtype)) if node.edges[0] is not None else None
    return (gx, g if len(node.edges) > 1 else None)


@jvp_rule(_overwrite_bwd)
def _overwrite_jvp(node, xs, ts, out):
    return None if ts[1] is None else expand(ts[1], out.data.shape)


def _overwrite(x, value, who):
    """The result of overwriting x with value (broadcast): no gradient to x's history,
    the gradient to value summed over broadcasting."""
    v = value if type(value) is Tensor else _scalar(value, x.data.dtype) if isinstance(
        value, (int, float, bool)) else as_tensor(value)
    if v.data.dtype != x.data.dtype:
        v = to(v, x.data.dtype)
    if not _needs(x, v):
        return v
    try:
        out = np.array(np.broadcast_to(v.data, x.data.shape))
    except ValueError:
        raise ValueError(f"{who}: a value of shape {tuple(v.data.shape)} cannot be written into "
                         f"a tensor of shape {tuple(x.data.shape)}") from None
    return _record(out, who, _overwrite_bwd, (x, v), ctx=None, shapes=(x.data.shape, v.data.shape))


def add_(x, other, alpha=1):
    return _inplace_apply(x, "add_", add, (other,), {"alpha": alpha} if alpha != 1 else None)


def sub_(x, other, alpha=1):
    return _inplace_apply(x, "sub_", sub, (other,), {"alpha": alpha} if alpha != 1 else None)


def mul_(x, other):
    return _inplace_apply(x, "mul_", mul, (other,))


def div_(x, other, rounding_mode=None):
    return _inplace_apply(x, "div_", div, (other,),
                          {"rounding_mode": rounding_mode} if rounding_mode is not None else None)


def clamp_(x, min=None, max=None):  # noqa: A002
    return _inplace_apply(x, "clamp_", clamp, (min, max))


clip_ = clamp_


def relu_(x):
    return _inplace_apply(x, "relu_", relu)


def masked_fill_(x, mask, value):
    return _inplace_apply(x, "masked_fill_", masked_fill, (mask, value))


def copy_(x, src):
    """Copy src (broadcast, cast to x's dtype) into x; gradients flow to src."""
    return _inplace_apply(x, "copy_", _overwrite, (_to_tensor(src, "copy_"), "copy_"))


def fill_(x, value):
    if type(value) is Tensor and value.data.ndim:
        raise ValueError(f"fill_: only a 0-d value tensor is accepted, got shape {tuple(value.data.shape)}")
    return _inplace_apply(x, "fill_", _overwrite, (value, "fill_"))


def zero_(x):
    return _inplace_apply(x, "zero_", _overwrite, (0, "zero_"))


# ---- gather / scatter / index_select ---------------------------------------------------------
def _index_tensor(index, who):
    if type(index) is Tensor:
        a = index.data
    elif isinstance(index, (list, tuple, np.ndarray, int, np.integer)):
        a = np.asarray(_unwrap_index(index))
    else:
        raise TypeError(f"{who}: index must be an int64 tensor, got {type(index).__name__}")
    if a.dtype != np.int64:
        if a.dtype.kind in "iu" and a.dtype != np.uint64:
            return a.astype(np.int64)
        if a.size == 0 and a.dtype.kind == "f" and type(index) is not Tensor:
            return a.astype(np.int64)
        raise TypeError(f"{who}: index must be an int64 tensor, got {a.dtype}")
    return a


def index_select(input, dim, index):  # noqa: A002 - torch's names
    """Slices of input along dim picked by a 1-d int64 index (repeats allowed; they
    accumulate in backward).  Negative indices are an error, as in PyTorch."""
    x = input if type(input) is Tensor else _to_tensor(input, "index_select")
    idx = _index_tensor(index, "index_select")
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 1-d or 0-d, got shape {tuple(idx.shape)}")
    if x.data.ndim == 0:
        _norm_dim(dim, 0, "index_select")
        out = _index_select(reshape(x, 1), 0, idx.reshape(-1), False, "index_select")
        return reshape(out, idx.shape)
    d = _norm_dim(dim, x.data.ndim, "index_select")
    return _index_select(x, d, idx.reshape(-1), False, "index_select")


def _gather_bwd(node, g):
    d, idx, shape = node.ctx
    return (_scatter_add_zeros(g, d, idx, shape),)


@jvp_rule(_gather_bwd)
def _gather_jvp(node, xs, ts, out):
    d, idx, shape = node.ctx
    return _gather(ts[0], d, idx)


def _gather(x, d, idx, who="gather"):
    out = backend.k.gather(x.data, d, idx, who)
    if _needs(x):
        return _record(out, "gather", _gather_bwd, (x,), ctx=(d, idx, x.data.shape))
    return _make(out)


def _block(shape, idx, d):
    """Slices of an array of `shape` covering idx's extent in every dim but d (None if
    idx already spans it)."""
    if all(shape[k] == idx.shape[k] for k in range(len(shape)) if k != d):
        return None
    return tuple(slice(None) if k == d else slice(0, idx.shape[k]) for k in range(len(shape)))


def _scatter_into(out, d, idx, src, accumulate, who):
    """out (dense, modified) += / = src at idx along d; idx may cover a leading block."""
    blk = _block(out.shape, idx, d)
    if blk is None:
        backend.k.scatter_add(out, d, idx, src, accumulate, who)
    else:
        sub = np.ascontiguousarray(out[blk])
        backend.k.scatter_add(sub, d, idx, src, accumulate, who)
        out[blk] = sub


def _sadd0_bwd(node, g):
    d, idx = node.ctx
    return (_gather(g, d, idx),)


@jvp_rule(_sadd0_bwd)
def _sadd0_jvp(node, xs, ts, out):
    d, idx = node.ctx
    return _scatter_add_zeros(ts[0], d, idx, out.data.shape)


def _scatter_add_zeros(g, d, idx, shape):
    out = np.zeros(shape, dtype=g.data.dtype)
    _scatter_into(out, d, idx, g.data, True, "gather_backward")
    if _needs(g):
        return _record(out, "scatter_add", _sadd0_bwd, (g,), ctx=(d, idx))
    return _make(out)


def _scatter_check(x, dim, idx, src, who):
    nd = x.data.ndim
    d = _norm_dim(dim, nd, who)
    if idx.ndim != nd:
        raise ValueError(f"{who}: index has {idx.ndim} dimensions but input has {nd}; they must "
                         "have the same number of dimensions")
    if src is not None and src.data.ndim != nd:
        raise ValueError(f"{who}: src has {src.data.ndim} dimensions but input has {nd}")
    for k in range(nd):
        if k != d and idx.shape[k] > x.data.shape[k]:
            raise ValueError(f"{who}: index shape {tuple(idx.shape)} is larger than input shape "
                             f"{tuple(x.data.shape)} in dimension {k}")
        if src is not None and idx.shape[k] > src.data.shape[k]:
            raise ValueError(f"{who}: index shape {tuple(idx.shape)} is larger than src shape "
                             f"{tuple(src.data.shape)} in dimension {k}")
    if src is not None and src.data.ndim != nd:
        raise ValueError(f"{who}: src has {src.data.ndim} dimensions but input has {nd}")
    return d


def gather(input, dim, index):  # noqa: A002
    """out[i][j][k] = input[i][index[i][j][k]][k] (dim=1); out has index's shape."""
    x = input if type(input) is Tensor else _to_tensor(input, "gather")
    idx = _index_tensor(index, "gather")
    if x.data.ndim == 0:
        if idx.ndim != 0:
            raise ValueError(f"gather: index has {idx.ndim} dimensions but input has 0")
        _norm_dim(dim, 0, "gather")
        return reshape(_gather(reshape(x, 1), 0, idx.reshape(1)), ())
    d = _scatter_check(x, dim, idx, None, "gather")
    return _gather(x, d, idx)


def _scatter_bwd(node, g):
    d, idx, acc = node.ctx
    gx = None
    if node.edges[0] is not None:
        gx = g if acc else _scatter_value(g, d, idx, None, 0.0, False)
    gs = _gather(g, d, idx) if len(node.edges) > 1 and node.edges[1] is not None else None
    return (gx, gs)


@jvp_rule(_scatter_bwd)
def _scatter_jvp(node, xs, ts, out):
    d, idx, acc = node.ctx
    tx = _zeros_of(xs[0]) if ts[0] is None else ts[0]
    if len(xs) == 1:            # a scalar value was written: zero tangent there
        return _scatter_value(tx, d, idx, None, 0.0, False)
    return _scatter_value(tx, d, idx, _zeros_of(xs[1]) if ts[1] is None else ts[1], None, acc)


def _scatter_value(x, d, idx, src, value, acc):
    who = "scatter_add" if acc else "scatter"
    out = np.array(x.data, order="C")
    if src is not None:
        if src.data.shape != idx.shape:
            src = getitem(src, tuple(slice(0, s) for s in idx.shape))
        _scatter_into(out, d, idx, src.data, acc, who)
        inputs = (x, src)
    else:
        _scatter_into(out, d, idx, np.full(idx.shape, value, dtype=out.dtype), acc, who)
        inputs = (x,)
    if _needs(*inputs):
        return _record(out, who, _scatter_bwd, inputs, ctx=(d, idx, acc))
    return _make(out)


def _scatter_src(x, src, who):
    if type(src) is not Tensor:
        raise TypeError(f"{who}: src must be a Tensor, got {type(src).__name__}")
    if src.data.dtype != x.data.dtype:
        raise TypeError(f"{who}: src dtype {src.data.dtype} does not match input dtype {x.data.dtype}")
    return src


def scatter_add(input, dim, index, src):  # noqa: A002
    """A copy of input with src[i][j][k] added at input[i][index[i][j][k]][k] (dim=1);
    repeated indices accumulate."""
    x = input if type(input) is Tensor else _to_tensor(input, "scatter_add")
    idx = _index_tensor(index, "scatter_add")
    src = _scatter_src(x, src, "scatter_add")
    if x.data.ndim == 0:
        raise ValueError("scatter_add: input must have at least one dimension")
    d = _scatter_check(x, dim, idx, src, "scatter_add")
    return _scatter_value(x, d, idx, src, None, True)


def scatter(input, dim, index, src=None, value=None, reduce=None):  # noqa: A002
    """A copy of input with src (a tensor, or the scalar `value`) written at index along
    dim.  With repeated indices the last write (in memory order) wins, and src's gradient
    is gathered at every position (PyTorch leaves both undefined)."""
    if reduce is not None:
        raise ValueError(f"scatter: reduce={reduce!r} is not supported; use scatter_add")
    x = input if type(input) is Tensor else _to_tensor(input, "scatter")
    idx = _index_tensor(index, "scatter")
    if src is not None and type(src) is not Tensor:
        src, value = None, src
    if src is None and value is None:
        raise ValueError("scatter: give src (a tensor) or value (a number)")
    if x.data.ndim == 0:
        raise ValueError("scatter: input must have at least one dimension")
    if src is not None:
        src = _scatter_src(x, src, "scatter")
    d = _scatter_check(x, dim, idx, src, "scatter")
    return _scatter_value(x, d, idx, src, value, False)


def take_along_dim(input, indices, dim=None):  # noqa: A002
    """Values of input at indices along dim; input and indices broadcast in the other
    dims.  dim=None: indices into the flattened input."""
    x = input if type(input) is Tensor else _to_tensor(input, "take_along_dim")
    idx = _index_tensor(indices, "take_along_dim")
    if dim is None:
        return _gather(reshape(x, -1), 0, idx.reshape(-1), "take_along_dim")
    nd = x.data.ndim
    d = _norm_dim(dim, nd, "take_along_dim")
    if idx.ndim != nd:
        raise ValueError(f"take_along_dim: input and indices must have the same number of "
                         f"dimensions, got {nd} and {idx.ndim}")
    xs, ish = list(x.data.shape), list(idx.shape)
    for k in range(nd):
        if k == d:
            continue
        if xs[k] != ish[k] and xs[k] != 1 and ish[k] != 1:
            raise ValueError(f"take_along_dim: input shape {tuple(x.data.shape)} and indices shape "
                             f"{tuple(idx.shape)} cannot be broadcast in dimension {k}")
        xs[k] = ish[k] = _max(xs[k], ish[k])
    if tuple(xs) != x.data.shape:
        x = expand(x, tuple(xs))
    if tuple(ish) != idx.shape:
        idx = np.broadcast_to(idx, tuple(ish))
    return _gather(x, d, idx, "take_along_dim")


def masked_fill(input, mask, value):  # noqa: A002
    """input with value written where the bool mask (broadcast) is True."""
    x = input if type(input) is Tensor else _to_tensor(input, "masked_fill")
    if type(mask) is not Tensor or mask.data.dtype != bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got "
                        f"{mask.data.dtype if type(mask) is Tensor else type(mask).__name__}")
    if type(value) is Tensor:
        if value.data.ndim:
            raise ValueError(f"masked_fill: only a 0-d value tensor is accepted, got shape "
                             f"{tuple(value.data.shape)}")
        v = value if value.data.dtype == x.data.dtype else to(value, x.data.dtype)
    else:
        v = _scalar(np.asarray(value).astype(x.data.dtype).item(), x.data.dtype)
    try:
        np.broadcast_shapes(mask.data.shape, x.data.shape)
    except ValueError:
        raise ValueError(f"masked_fill: mask shape {tuple(mask.data.shape)} cannot be broadcast "
                         f"to input shape {tuple(x.data.shape)}") from None
    if x.data.dtype.kind != "f":
        return _make(np.where(mask.data, v.data, x.data))
    return where(mask, v, x)


def one_hot(tensor, num_classes=-1):
    """int64 one-hot encoding: shape tensor.shape + (num_classes,)."""
    if type(tensor) is not Tensor or tensor.data.dtype != np.int64:
        raise TypeError("one_hot: expected an int64 tensor, got "
                        f"{tensor.data.dtype if type(tensor) is Tensor else type(tensor).__name__}")
    a = tensor.data
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be -1 (infer) or a non-negative int, got {num_classes!r}")
    if num_classes == -1:
        if a.size == 0:
            raise ValueError("one_hot: cannot infer the number of classes from an empty tensor; "
                             "pass num_classes")
        num_classes = int(a.max()) + 1
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0:
            raise ValueError(f"one_hot: class values must be non-negative, got {lo}")
        if hi >= num_classes:
            raise ValueError(f"one_hot: class value {hi} is out of range for num_classes={num_classes}")
    if _max(a.size, 1) * num_classes * 8 > 2 ** 62:     # an empty result too (its shape)
        raise ValueError(f"one_hot: the result of shape {tuple(a.shape) + (num_classes,)} "
                         f"({a.size * num_classes} elements) is larger than any array that can be allocated")
    try:
        out = np.zeros(a.size * num_classes, dtype=np.int64)
    except MemoryError:
        raise MemoryError(f"one_hot: cannot allocate the result of shape {tuple(a.shape) + (num_classes,)} "
                          f"({a.size * num_classes * 8} bytes): out of memory") from None
    out[np.arange(a.size) * num_classes + a.reshape(-1)] = 1
    return _make(out.reshape(a.shape + (num_classes,)))


# ---- movement ops ----------------------------------------------------------------------------
def split(tensor, split_size_or_sections, dim=0):
    """Views of consecutive pieces along dim: pieces of one size (the last may be
    smaller) or the given list of sizes."""
    x = tensor
    if x.data.ndim == 0:
        raise ValueError("split: expects at least a 1-dimensional tensor, got a 0-d tensor")
    d = _norm_dim(dim, x.data.ndim, "split")
    n = x.data.shape[d]
    s = split_size_or_sections
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        if s <= 0 and not (s == 0 and n == 0):
            raise ValueError(f"split: split_size must be positive, got {s}")
        sizes = [s] * (n // s) + ([n % s] if n % s else []) if s else [0]
    else:
        sizes = [int(v) for v in s]
        if builtins.sum(sizes) != n or any(v < 0 for v in sizes):
            raise ValueError(f"split: sections {tuple(sizes)} do not sum to the size {n} of "
                             f"dimension {d}")
    out, start = [], 0
    for v in sizes:
        out.append(narrow(x, d, start, v))
        start += v
    return tuple(out)


def chunk(input, chunks, dim=0):  # noqa: A002
    if not isinstance(chunks, (int, np.integer)) or chunks < 1:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    if input.data.ndim == 0:
        raise ValueError("chunk: expects at least a 1-dimensional tensor, got a 0-d tensor")
    d = _norm_dim(dim, input.data.ndim, "chunk")
    n = input.data.shape[d]
    if n == 0:
        return tuple(narrow(input, d, 0, 0) for _ in range(chunks))
    return split(input, -(-n // chunks), d)


def unbind(input, dim=0):  # noqa: A002
    if input.data.ndim == 0:
        raise IndexError("unbind: dimension specified as 0 but the tensor has no dimensions")
    d = _norm_dim(dim, input.data.ndim, "unbind")
    pre = (slice(None),) * d
    return tuple(getitem(input, pre + (i,)) for i in range(input.data.shape[d]))


def _flip_bwd(node, g):
    return (flip(g, node.ctx),)


@jvp_rule(_flip_bwd)
def _flip_jvp(node, xs, ts, out):
    return flip(ts[0], node.ctx)


def flip(input, dims):  # noqa: A002
    """A copy with the order of elements reversed along dims."""
    x = input
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    ds = _norm_dims(dims, x.data.ndim, "flip")
    sl = tuple(slice(None, None, -1) if k in ds else slice(None) for k in range(x.data.ndim))
    out = backend.k.contiguous(x.data[sl]) if x.data.ndim else x.data.copy()
    if out is x.data or np.may_share_memory(out, x.data):
        out = out.copy()
    if _needs(x):
        return _record(out, "flip", _flip_bwd, (x,), ctx=ds)
    return _make(out)


def _roll_bwd(node, g):
    shifts, dims = node.ctx
    return (roll(g, tuple(-s for s in shifts), dims),)


@jvp_rule(_roll_bwd)
def _roll_jvp(node, xs, ts, out):
    shifts, dims = node.ctx
    return roll(ts[0], shifts, dims)


def roll(input, shifts, dims=None):  # noqa: A002
    """Elements shifted cyclically by shifts along dims (None: over the flattened tensor)."""
    x = input
    sh = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(int(s) for s in shifts)
    if dims is None:
        if len(sh) != 1:
            raise ValueError(f"roll: with dims=None shifts must be one int, got {shifts!r}")
        return reshape(roll(reshape(x, -1), sh, 0), x.data.shape)
    ds = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(ds) != len(sh):
        raise ValueError(f"roll: shifts {sh} and dims {ds} must have the same length")
    ds = tuple(_norm_dim(d, x.data.ndim, "roll") for d in ds)
    out = np.roll(x.data, sh, ds) if x.data.ndim else x.data.copy()
    if _needs(x):
        return _record(out, "roll", _roll_bwd, (x,), ctx=(sh, ds))
    return _make(out)


def _repeat_bwd(node, g):
    shape, reps, xshape = node.ctx
    inter = []
    for r, s in zip(reps, shape):
        inter += [r, s]
    gi = reshape(g, tuple(inter))
    gs = sum(gi, tuple(range(0, len(inter), 2)))
    return (reshape(gs, xshape),)


@jvp_rule(_repeat_bwd)
def _repeat_jvp(node, xs, ts, out):
    shape, reps, xshape = node.ctx
    return repeat(reshape(ts[0], shape), reps)


def repeat(input, *sizes):  # noqa: A002
    """Tensor.repeat: the tensor tiled sizes[k] times along dim k (sizes may have more
    entries than the tensor has dims: leading dims are added)."""
    x = input
    reps = _shape_arg(sizes, "repeat")
    nd = x.data.ndim
    if len(reps) < nd:
        raise ValueError(f"repeat: the number of repeats {reps} must be at least the number of "
                         f"dimensions of the tensor ({nd})")
    if any(r < 0 for r in reps):
        raise ValueError(f"repeat: repeats must be non-negative, got {reps}")
    shape = (1,) * (len(reps) - nd) + x.data.shape
    out = np.tile(x.data.reshape(shape), reps)
    if _needs(x):
        return _record(out, "repeat", _repeat_bwd, (x,), ctx=(shape, reps, x.data.shape))
    return _make(out)


def tile(input, dims):  # noqa: A002
    """torch.tile: like repeat, with missing leading repeats taken as 1."""
    reps = _shape_arg((dims,) if isinstance(dims, (int, np.integer)) else (tuple(dims),), "tile")
    nd = input.data.ndim
    if len(reps) < nd:
        reps = (1,) * (nd - len(reps)) + reps
    return repeat(input, reps)


def _padc_bwd(node, g):
    return (getitem(g, node.ctx),)


@jvp_rule(_padc_bwd)
def _padc_jvp(node, xs, ts, out):
    return _index_backward(ts[0], node.ctx, out.data.shape)    # the padding is constant


def pad(input, pad, mode="constant", value=None):  # noqa: A002
    """Pad with PyTorch's pad tuple order: (left, right) of the last dim first, then of
    the dim before it, ...  Modes: "constant" (value, default 0; negative pads crop),
    "reflect" (mirror without repeating the edge; pads < dim size), "replicate" (repeat
    the edge), "circular" (wrap around; pads <= dim size).  Unlike PyTorch, the
    non-constant modes pad any number of dims of any tensor."""
    x = input if type(input) is Tensor else _to_tensor(input, "pad")
    p = [int(v) for v in pad]
    nd = x.data.ndim
    if len(p) % 2 or len(p) // 2 > nd:
        raise ValueError(f"pad: the pad tuple {tuple(p)} must have an even length of at most "
                         f"2 * {nd} (the tensor's dims)")
    pairs = [(nd - 1 - i, p[2 * i], p[2 * i + 1]) for i in range(len(p) // 2)]
    if mode == "constant":
        crop = [slice(None)] * nd
        for d, lo, hi in pairs:
            n = x.data.shape[d]
            if -lo - hi > n or (lo < 0 and -lo > n) or (hi < 0 and -hi > n):
                raise ValueError(f"pad: negative padding {(lo, hi)} removes more than the size "
                                 f"{n} of dimension {d}")
            crop[d] = slice(_max(-lo, 0), n - _max(-hi, 0))
        if any(lo < 0 or hi < 0 for _, lo, hi in pairs):
            x = getitem(x, tuple(crop))
        widths = [(0, 0)] * nd
        for d, lo, hi in pairs:
            widths[d] = (_max(lo, 0), _max(hi, 0))
        v = 0 if value is None else value
        out = np.pad(x.data, widths, mode="constant", constant_values=v)
        inner = tuple(slice(lo, lo + x.data.shape[k]) for k, (lo, _) in enumerate(widths))
        if _needs(x):
            return _record(out, "pad", _padc_bwd, (x,), ctx=inner)
        return _make(out)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', "
                         f"got {mode!r}")
    if value is not None and value != 0:
        raise ValueError(f"pad: value is only used by mode='constant' (got mode={mode!r})")
    out = x
    for d, lo, hi in pairs:
        n = x.data.shape[d]
        if lo < 0 or hi < 0:
            raise ValueError(f"pad: negative padding {(lo, hi)} is only supported by mode='constant'")
        if lo == 0 and hi == 0:
            continue
        if mode == "reflect":
            if lo >= n or hi >= n:
                raise ValueError(f"pad: reflect padding {(lo, hi)} must be smaller than the size "
                                 f"{n} of dimension {d}")
            idx = np.concatenate([np.arange(lo, 0, -1), np.arange(n), np.arange(n - 2, n - 2 - hi, -1)])
        elif mode == "circular":
            if lo > n or hi > n:
                raise ValueError(f"pad: circular padding {(lo, hi)} wraps around more than once "
                                 f"(at most the size {n} of dimension {d})")
            idx = np.arange(-lo, n + hi) % n
        else:
            if n == 0:
                raise ValueError(f"pad: replicate padding of dimension {d} of size 0")
            idx = np.concatenate([np.zeros(lo, np.int64), np.arange(n), np.full(hi, n - 1)])
        out = _index_select(out, d, idx.astype(np.int64), False, "pad")
    return out if out is not x else clone(x)


def _tri_bwd(node, g):
    upper, k = node.ctx
    return (_tri(g, k, upper),)


@jvp_rule(_tri_bwd)
def _tri_jvp(node, xs, ts, out):
    upper, k = node.ctx
    return _tri(ts[0], k, upper)


def _tri(x, diagonal, upper):
    who = "triu" if upper else "tril"
    if x.data.ndim < 2:
        raise ValueError(f"{who}: input must have at least 2 dimensions, got {x.data.ndim}")
    # clamped to the matrix (same result): NumPy cannot take offsets beyond a C long
    k = _max(-x.data.shape[-2], builtins.min(int(diagonal), x.data.shape[-1]))
    out = np.triu(x.data, k) if upper else np.tril(x.data, k)
    if _needs(x):
        return _record(out, who, _tri_bwd, (x,), ctx=(upper, k))
    return _make(out)


def tril(input, diagonal=0):  # noqa: A002
    return _tri(input, diagonal, False)


def triu(input, diagonal=0):  # noqa: A002
    return _tri(input, diagonal, True)


def _diag_bwd(node, g):
    offset, d1, d2, shape = node.ctx
    return (_diag_embed(g, offset, d1, d2, shape),)


@jvp_rule(_diag_bwd)
def _diag_jvp(node, xs, ts, out):
    offset, d1, d2, shape = node.ctx
    return diagonal(ts[0], offset, d1, d2)


def diagonal(input, offset=0, dim1=0, dim2=1):  # noqa: A002
    """A (read-only) view of the diagonal of the dim1 x dim2 planes, as the last dim."""
    x = input
    nd = x.data.ndim
    if nd < 2:
        raise ValueError(f"diagonal: input must have at least 2 dimensions, got {nd}")
    d1, d2 = _norm_dim(dim1, nd, "diagonal"), _norm_dim(dim2, nd, "diagonal")
    if d1 == d2:
        raise ValueError(f"diagonal: dim1 and dim2 must differ, both are {d1}")
    # an offset beyond the plane gives an empty diagonal: clamp it first, because NumPy
    # overflows (and reads out of bounds) for offsets near the C int limits
    offset = _max(-x.data.shape[d1], builtins.min(int(offset), x.data.shape[d2]))
    out = np.diagonal(x.data, offset, d1, d2)
    if _needs(x):
        return _view(_record(out, "diagonal", _diag_bwd, (x,), ctx=(offset, d1, d2, x.data.shape)), x)
    return _view(_make(out), x)


def _dembed_bwd(node, g):
    offset, d1, d2 = node.ctx
    return (diagonal(g, offset, d1, d2),)


@jvp_rule(_dembed_bwd)
def _dembed_jvp(node, xs, ts, out):
    offset, d1, d2 = node.ctx
    return _diag_embed(ts[0], offset, d1, d2, out.data.shape)


def _diag_embed(g, offset, d1, d2, shape):
    out = np.zeros(shape, dtype=g.data.dtype)
    L = g.data.shape[-1]
    if L:
        plane = np.moveaxis(out, (d1, d2), (-2, -1))
        r = np.arange(L) + _max(-offset, 0)
        c = np.arange(L) + _max(offset, 0)
        plane[..., r, c] = g.data
    if _needs(g):
        return _record(out, "diagonal_backward", _dembed_bwd, (g,), ctx=(offset, d1, d2))
    return _make(out)


def movedim(input, source, destination):  # noqa: A002
    x = input
    nd = x.data.ndim
    src = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    dst = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {src} and destination {dst} must have the same length")
    src = tuple(_norm_dim(d, nd, "movedim") for d in src)
    dst = tuple(_norm_dim(d, nd, "movedim") for d in dst)
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: repeated dim in source {src} or destination {dst}")
    order = [d for d in range(nd) if d not in src]
    for s, t in sorted(zip(dst, src)):
        order.insert(s, t)
    return permute(x, tuple(order)) if nd else x


moveaxis = movedim


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids (expanded views) from 1-d tensors.  indexing="ij": output k
    varies along dim k; "xy": the first two dims are swapped (Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [_to_tensor(t, "meshgrid") for t in tensors]
    if not ts:
        raise ValueError("meshgrid: expected at least one tensor")
    for i, t in enumerate(ts):
        if t.data.ndim > 1:
            raise ValueError(f"meshgrid: expected 0-d or 1-d tensors, tensor {i} has shape "
                             f"{tuple(t.data.shape)}")
    k = len(ts)
    sizes = [t.data.size for t in ts]
    pos = list(range(k))
    if indexing == "xy" and k >= 2:
        pos[0], pos[1] = 1, 0
    shape = [0] * k
    for i in range(k):
        shape[pos[i]] = sizes[i]
    out = []
    for i, t in enumerate(ts):
        s = [1] * k
        s[pos[i]] = sizes[i]
        out.append(expand(reshape(t, tuple(s)), tuple(shape)))
    return tuple(out)


__all__ = [
    "abs",
    "add",
    "add_",
    "allclose",
    "argmax",
    "argmin",
    "broadcast_to",
    "cat",
    "chunk",
    "clamp",
    "clamp_",
    "clip",
    "clone",
    "concat",
    "concatenate",
    "contiguous",
    "copy_",
    "cos",
    "diagonal",
    "div",
    "div_",
    "divide",
    "eq",
    "equal",
    "erf",
    "exp",
    "expand",
    "fill_",
    "flatten",
    "flip",
    "gather",
    "ge",
    "gelu",
    "getitem",
    "gt",
    "index_select",
    "isfinite",
    "isinf",
    "isnan",
    "le",
    "leaky_relu",
    "linear",
    "log",
    "log1p",
    "log_softmax",
    "logical_and",
    "logical_not",
    "logical_or",
    "logsumexp",
    "lt",
    "masked_fill",
    "masked_fill_",
    "matmul",
    "max",
    "maximum",
    "mean",
    "meshgrid",
    "min",
    "minimum",
    "mm",
    "movedim",
    "mul",
    "mul_",
    "multiply",
    "narrow",
    "ne",
    "neg",
    "one_hot",
    "pad",
    "permute",
    "pow",
    "reciprocal",
    "relu",
    "relu_",
    "repeat",
    "reshape",
    "roll",
    "rsqrt",
    "scatter",
    "scatter_add",
    "sigmoid",
    "sign",
    "silu",
    "sin",
    "softmax",
    "softplus",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "sub",
    "sub_",
    "subtract",
    "sum",
    "sum_to",
    "t",
    "take_along_dim",
    "tanh",
    "tile",
    "to",
    "transpose",
    "tril",
    "triu",
    "true_divide",
    "unbind",
    "unsqueeze",
    "var",
    "view",
    "where",
    "zero_",
]
