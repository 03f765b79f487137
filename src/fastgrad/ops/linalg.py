"""Linear algebra: matmul, linear (with its fused bias and activation), dot, outer,
bmm, addmm and einsum.
"""
from __future__ import annotations

import collections
import math

import numpy as np

from fastgrad.errors import ArgumentError, DtypeError, ShapeError
from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor, _default
from fastgrad import _dtype
from fastgrad.autograd import engine as _engine
from fastgrad.autograd.engine import ACCUMULATED, FRESH, Node, declare, jvp_rule
from fastgrad._C import _kernels as _C_KERNELS
from fastgrad._C._kernels import R, U
from fastgrad._hooks import hooks as _hooks
from fastgrad.ops._record import (_make, _needs, _pair, _record, _shape, _to_tensor, exports, public,
                                  to)

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Optional
    from fastgrad._typing import TensorOrNumber

_LOWP_FLOATS = _dtype.FLOAT_STORAGE - frozenset(_dtype.KERNEL_FLOATS)



# ---- matmul and linear ----------------------------------------------------------------------
_SWAP_LAST = {}


def _mT(x):
    """x with its last two dims swapped: a view (the backward formulas of matmul and
    linear use it, so it skips permute's argument checks)."""
    nd = x._data.ndim
    if nd < 2:
        return transpose(x, -1, -2)
    p = _SWAP_LAST.get(nd)
    if p is None:
        p = _SWAP_LAST[nd] = tuple(range(nd - 2)) + (nd - 1, nd - 2)
    out = x._data.transpose(p)
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
                and _matmul_into(ea, g._data, b._data.swapaxes(-1, -2), a._data.shape)):
            ga = ACCUMULATED
        else:
            ga = matmul(g, _mT(b))
    if eb is not None:
        if (type(eb) is not Node and eb.grad is not None and not grad_mode.enabled
                and _matmul_into(eb, a._data.swapaxes(-1, -2), g._data, b._data.shape)):
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
    backend.k.matmul(p, q, out=t._data, beta=1.0)
    return True


def _matmul_jvp(node, xs, ts, out):
    a, b = xs
    return _tplus(None if ts[0] is None else matmul(ts[0], b), None if ts[1] is None else matmul(a, ts[1]))


def _matmul_batched(node, G):
    a, b = node.saved
    ga = np.matmul(G, np.swapaxes(b._data, -1, -2)) if node.edges[0] is not None else None
    gb = np.matmul(np.swapaxes(a._data, -1, -2), G) if node.edges[1] is not None else None
    return (ga, gb)


declare(_matmul_bwd, jvp=_matmul_jvp, batched=_matmul_batched)
_mm2d = _C_KERNELS.mm2d


@public(method=True, dunder=("__matmul__",), reflected="__rmatmul__")
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with torch.matmul semantics (1-D, 2-D, batched, broadcast)."""
    if type(a) is Tensor and type(b) is Tensor and backend.k is _C_KERNELS:
        # the common case first: two float matrices of one dtype (None when not)
        out = _mm2d(a._data, b._data)
        if out is not None:
            if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
                return _record(out, "matmul", _matmul_bwd, (a, b), (a, b), None, None, None)
            return _make(out)
    if ((type(a) is not Tensor and not isinstance(a, Tensor))
            or (type(b) is not Tensor and not isinstance(b, Tensor)) or a._data.dtype is not b._data.dtype):
        a, b = _pair(_to_tensor(a, "matmul"), _to_tensor(b, "matmul"), "matmul")
    na, nb = a._data.ndim, b._data.ndim
    if na == 0 or nb == 0:
        raise ShapeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                         f"{tuple(a._data.shape)} and {tuple(b._data.shape)}")
    if na == 1 or nb == 1:
        ka = a._data.shape[-1]
        kb = b._data.shape[0] if nb == 1 else b._data.shape[-2]
        if ka != kb:
            raise ShapeError(f"matmul: cannot multiply shapes {tuple(a._data.shape)} and "
                             f"{tuple(b._data.shape)}: {ka} != {kb}")
        a2 = unsqueeze(a, 0) if na == 1 else a
        b2 = unsqueeze(b, -1) if nb == 1 else b
        r = matmul(a2, b2)
        if nb == 1:
            r = squeeze(r, -1)
        if na == 1:
            r = squeeze(r, -2 if nb > 1 else 0) if nb > 1 else squeeze(r, -1)
        return r
    if a._data.shape[-1] != b._data.shape[-2]:
        raise ShapeError(f"matmul: cannot multiply shapes {tuple(a._data.shape)} and "
                         f"{tuple(b._data.shape)}: {a._data.shape[-1]} != {b._data.shape[-2]}")
    if a._data.dtype in _LOWP_FLOATS:              # float16, bfloat16: in float32
        return to(matmul(to(a, np.float32), to(b, np.float32)), a._data.dtype)
    if a._data.dtype.kind != "f":
        return _make(np.matmul(a._data, b._data))
    out = backend.k.matmul(a._data, b._data)
    if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
        bs = out.shape[:-2]
        shapes = None
        if a._data.shape[:-2] != bs or b._data.shape[:-2] != bs:
            shapes = (a._data.shape, b._data.shape)
        return _record(out, "matmul", _matmul_bwd, (a, b), (a, b), None, None, shapes)
    return _make(out)


@public(method=True)
def mm(a: Tensor, b: Tensor) -> Tensor:
    """The matrix product of two 2-D tensors: (n, k) @ (k, m) -> (n, m). See ``matmul`` for the
    batched and broadcasting forms."""
    if _to_tensor(a, "mm").ndim != 2 or _to_tensor(b, "mm").ndim != 2:
        raise ShapeError(f"mm: expected 2-D tensors, got shapes {tuple(np.shape(a._data))} and "
                         f"{tuple(np.shape(b._data))}")
    return matmul(a, b)


def _fresh(arr):
    """A Tensor over a new array that no one else references: the engine may adopt it as
    a leaf's .grad without copying (see autograd.engine._store_grad)."""
    t = _make(arr)
    t._name = FRESH
    return t


def _rows2d(a, rows, name):
    """a (..., n) as (rows, n); a copy NumPy had to make is reported to the numpy_copy
    hook (a compiled step records it as a strided copy)."""
    out = a.reshape(rows, a.shape[-1])
    if _hooks.numpy_copy is not None and not np.may_share_memory(out, a):
        _hooks.numpy_copy(a, out, name)
    return out


def _linear_bwd(node, g):
    x, w, b = node.saved
    act = node.ctx
    if not grad_mode.enabled and g._data.dtype == w._data.dtype:
        # the usual case, straight to the kernels: no graph, no intermediate Tensors
        k = backend.k
        gd = g._data
        if act is not None:
            y = node.out
            gd = (k.unary_bwd(U["relu"], gd, y, None) if act == "relu"
                  else k.unary_bwd(U[act], gd, None, y))
        xd = x._data
        if xd.ndim != 2:            # (..., in) input: rows of one 2-D product
            rows = math.prod(xd.shape[:-1])
            xd = _rows2d(xd, rows, "linear_backward")
            gd = _rows2d(gd, rows, "linear_backward")
            gx = (_fresh(k.matmul(gd, w._data).reshape(x._data.shape))
                  if node.edges[0] is not None else None)
        else:
            gx = _fresh(k.matmul(gd, w._data)) if node.edges[0] is not None else None
        ew = node.edges[1]
        if ew is None:
            gw = None
        elif (type(ew) is not Node and ew.grad is not None and (t := _engine.accum_target(
                ew, gd.dtype, w._data.shape, (gd, xd))) is not None):
            k.matmul(gd.T, xd, out=t._data, beta=1.0)    # .grad += g^T x, no new array
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
            g = _make(backend.k.unary_bwd(U["relu"], g._data, y._data, None))
        else:
            g = _make(backend.k.unary_bwd(U[act], g._data, None, y._data))
    rows = math.prod(x._data.shape[:-1])
    x2 = reshape(x, (rows, x._data.shape[-1])) if x._data.ndim != 2 else x
    g2 = reshape(g, (rows, g._data.shape[-1])) if g._data.ndim != 2 else g
    gx = gw = gb = None
    if node.edges[0] is not None:
        gx = matmul(g, w)
    if node.edges[1] is not None:
        gw = matmul(_mT(g2), x2)
    if len(node.edges) > 2 and node.edges[2] is not None:
        gb = sum(g2, 0)
    return (gx, gw, gb)


def _linear_jvp(node, xs, ts, out):
    x, w = xs[0], xs[1]
    z = _tplus(None if ts[0] is None else matmul(ts[0], _mT(w)),
               None if ts[1] is None else matmul(x, _mT(ts[1])))
    z = _tplus(z, ts[2] if len(ts) > 2 else None)
    if z is None or node.ctx is None:
        return z
    return mul(z, _LINEAR_ACT_DERIV[node.ctx](out))    # the activation's slope from its output


def _linear_batched(node, G):
    x, w, bias = node.saved
    act = node.ctx
    if act is not None:             # the activation's derivative from the saved output
        ones = np.ones(node.out.shape, node.out.dtype)
        d = (backend.k.unary_bwd(U["relu"], ones, node.out, None) if act == "relu"
             else backend.k.unary_bwd(U[act], ones, None, node.out))
        G = G * d
    rows, n_in = G.shape[0], x._data.shape[-1]
    G2 = G.reshape(rows, -1, G.shape[-1])           # (rows, N, out)
    gx = np.matmul(G, w._data) if node.edges[0] is not None else None
    gw = (np.matmul(np.swapaxes(G2, 1, 2), x._data.reshape(-1, n_in))
          if node.edges[1] is not None else None)
    gb = None
    if len(node.edges) > 2 and node.edges[2] is not None:
        gb = G2.sum(axis=1)
    return (gx, gw, gb)


declare(_linear_bwd, jvp=_linear_jvp, batched=_linear_batched)


_LINEAR_ACT_DERIV = {
    "relu": lambda y: _mask(gt(y, 0.0), y),
    "tanh": lambda y: sub(1.0, square(y)),
    "sigmoid": lambda y: mul(y, sub(1.0, y)),
}


@public
def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, activation=None) -> Tensor:
    """y = act(x @ weight.T + bias): one GEMM whose epilogue adds the bias and applies
    the activation (None, "relu", "tanh", "sigmoid"; "gelu" runs as a separate pass
    because its backward needs the pre-activation).  x (..., in), weight (out, in),
    bias (out,).  Backward reuses the saved output for the activation's derivative."""
    x = _to_tensor(x, "linear")
    if activation == "gelu":
        return gelu(linear(x, weight, bias))
    if activation is not None and activation not in _LINEAR_ACT_DERIV:
        raise ArgumentError(f"linear: activation must be None, 'relu', 'gelu', 'tanh' or 'sigmoid', "
                         f"got {activation!r}")
    if weight._data.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                         f"{tuple(weight._data.shape)}")
    if x._data.ndim == 0 or x._data.shape[-1] != weight._data.shape[1]:
        raise ShapeError(f"linear: input shape {tuple(x._data.shape)} does not match weight shape "
                         f"{tuple(weight._data.shape)}: last dimension must be {weight._data.shape[1]}")
    if bias is not None and (bias._data.ndim != 1 or bias._data.shape[0] != weight._data.shape[0]):
        raise ShapeError(f"linear: bias shape {tuple(bias._data.shape)} does not match weight shape "
                         f"{tuple(weight._data.shape)}: expected ({weight._data.shape[0]},)")
    dt = x._data.dtype
    if dt in _LOWP_FLOATS and weight._data.dtype == dt and (bias is None or bias._data.dtype == dt):
        f32 = np.float32                 # float16, bfloat16: in float32, rounded back
        return to(linear(to(x, f32), to(weight, f32), None if bias is None else to(bias, f32),
                         activation), dt)
    if weight._data.dtype != dt or (bias is not None and bias._data.dtype != dt) or dt.kind != "f":
        raise DtypeError(f"linear: input, weight and bias must share one float dtype, got "
                        f"{dt}, {weight._data.dtype}, {None if bias is None else bias._data.dtype}")
    lead = x._data.shape[:-1]
    # explicit row count: -1 is ambiguous when in_features is 0
    x2 = _rows2d(x._data, math.prod(lead), "linear") if x._data.ndim != 2 else x._data
    out = backend.k.linear(x2, weight._data, None if bias is None else bias._data, activation)
    if x._data.ndim != 2:
        out = out.reshape(lead + (weight._data.shape[0],))
    inputs = (x, weight) if bias is None else (x, weight, bias)
    if grad_mode.enabled and (x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)):
        return _record(out, "linear", _linear_bwd, inputs, (x, weight, bias),
                       out if activation else None, activation)
    return _make(out)


# ---- products -----------------------------------------------------------------------------
@public(method=True)
def dot(input: Tensor, other: TensorOrNumber) -> Tensor:
    """Inner product of two 1-D tensors of the same size and dtype."""
    a, b = _to_tensor(input, "dot"), _to_tensor(other, "dot")
    if a._data.ndim != 1 or b._data.ndim != 1:
        raise ArgumentError(f"dot: 1D tensors expected, but got {a._data.ndim}D and {b._data.ndim}D tensors")
    if a._data.shape[0] != b._data.shape[0]:
        raise ShapeError(f"dot: inconsistent tensor size, expected tensors of shapes {_shape(a)} and "
                         f"{_shape(b)} to have the same number of elements")
    if a._data.dtype != b._data.dtype:
        raise TypeError(f"dot: expected both vectors to have same dtype, but found {a._data.dtype} "
                        f"and {b._data.dtype}")
    return matmul(a, b)


@public(method=True, aliases=("ger",))
def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-D tensors: out[i, j] = input[i] * vec2[j]."""
    a, b = _to_tensor(input, "outer"), _to_tensor(vec2, "outer")
    if a._data.ndim != 1 or b._data.ndim != 1:
        raise ShapeError(f"outer: 1D tensors expected, but got shapes {_shape(a)} and {_shape(b)}")
    return mul(unsqueeze(a, 1), unsqueeze(b, 0))



@public(method=True)
def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of (b, n, m) and (b, m, p) tensors (no broadcasting)."""
    a, b = _to_tensor(input, "bmm"), _to_tensor(mat2, "bmm")
    if a._data.ndim != 3 or b._data.ndim != 3:
        raise ShapeError(f"bmm: expected 3-D tensors, got shapes {_shape(a)} and {_shape(b)}")
    if a._data.shape[0] != b._data.shape[0] or a._data.shape[2] != b._data.shape[1]:
        raise ShapeError(f"bmm: cannot multiply batches of shapes {_shape(a)} and {_shape(b)} "
                         "(expected (b, n, m) and (b, m, p))")
    return matmul(a, b)


@public(method=True)
def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, beta: float = 1, alpha: float = 1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2), input broadcast to the product's shape.
    With beta == 0 input is ignored (nan/inf in it do not propagate), as in PyTorch."""
    m1, m2 = _to_tensor(mat1, "addmm"), _to_tensor(mat2, "addmm")
    if m1._data.ndim != 2 or m2._data.ndim != 2:
        raise ShapeError(f"addmm: mat1 and mat2 must be 2-D, got shapes {_shape(m1)} and {_shape(m2)}")
    if m1._data.shape[1] != m2._data.shape[0]:
        raise ShapeError(f"addmm: cannot multiply shapes {_shape(m1)} and {_shape(m2)}: "
                         f"{m1._data.shape[1]} != {m2._data.shape[0]}")
    inp = _to_tensor(input, "addmm")
    oshape = (m1._data.shape[0], m2._data.shape[1])
    try:
        ok = np.broadcast_shapes(inp._data.shape, oshape) == oshape
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"addmm: input of shape {_shape(inp)} cannot be broadcast to the product's "
                         f"shape {oshape}")
    p = matmul(m1, m2)
    if alpha != 1:
        p = mul(p, alpha)
    if beta == 0:
        return p if p._data.shape == oshape else expand(p, oshape)
    return add(mul(inp, beta) if beta != 1 else inp, p)


# ---- einsum -------------------------------------------------------------------------------
def _diag_bwd(node, g):
    a1, a2, shape = node.ctx
    return (_embed_diag(g, a1, a2, shape),)


declare(_diag_bwd, linear=lambda node, t, out: _take_diag(t, node.ctx[0], node.ctx[1]))


def _take_diag(x, a1, a2):
    """The diagonal over axes a1 < a2, as a new last axis (like np.diagonal)."""
    out = np.ascontiguousarray(np.diagonal(x._data, axis1=a1, axis2=a2))
    if _needs(x):
        return _record(out, "diagonal", _diag_bwd, (x,), (), None, (a1, a2, x._data.shape))
    return _make(out)


def _embed_bwd(node, g):
    a1, a2 = node.ctx
    return (_take_diag(g, a1, a2),)


@jvp_rule(_embed_bwd)
def _embed_jvp(node, xs, ts, out):
    a1, a2 = node.ctx
    return _embed_diag(ts[0], a1, a2, out._data.shape)


def _embed_diag(g, a1, a2, shape):
    out = np.zeros(shape, dtype=g._data.dtype)
    n = _builtin_min(shape[a1], shape[a2])
    r = np.arange(n)
    np.moveaxis(out, (a1, a2), (-2, -1))[..., r, r] = g._data
    if _needs(g):
        return _record(out, "diag_embed", _embed_bwd, (g,), (), None, (a1, a2))
    return _make(out)


_builtin_min = min


def _parse_einsum(equation, ndims):
    eq_ = equation.replace(" ", "")
    if eq_.count("->") > 1:
        raise ArgumentError(f"einsum: equation {equation!r} has more than one '->'")
    lhs, arrow, rhs = eq_.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise ArgumentError(f"einsum: equation {equation!r} names {len(terms)} operands, "
                         f"but {len(ndims)} were given")
    ell = 0
    parsed = []
    for k, (t, nd) in enumerate(zip(terms, ndims)):
        if t.count("...") > 1 or t.replace("...", "").count(".") or \
                not t.replace("...", "").isalpha() and t.replace("...", "") != "":
            raise ArgumentError(f"einsum: invalid subscripts {t!r} for operand {k} in {equation!r} "
                             "(letters and at most one '...')")
        left, dots, right = t.partition("...")
        ne = nd - len(left) - len(right) if dots else 0
        if ne < 0 or (not dots and len(t) != nd):
            raise ShapeError(f"einsum: operand {k} has {nd} dimensions but the subscripts {t!r} "
                             f"in {equation!r} give {len(left) + len(right)}")
        ell = max(ell, ne)
        parsed.append((left, ne, right))
    labels = []
    for left, ne, right in parsed:
        labels.append(list(left) + [("...", ell - ne + i) for i in range(ne)] + list(right))
    ell_labels = [("...", i) for i in range(ell)]
    if arrow:
        if rhs.count("...") > 1 or not (rhs.replace("...", "").isalpha() or rhs.replace("...", "") == ""):
            raise ArgumentError(f"einsum: invalid output subscripts {rhs!r} in {equation!r}")
        left, dots, right = rhs.partition("...")
        out = list(left) + (ell_labels if dots else []) + list(right)
        letters = [c for c in out if isinstance(c, str)]
        if len(set(letters)) != len(letters):
            raise ArgumentError(f"einsum: output subscript repeated in {equation!r}")
        seen = {c for lab in labels for c in lab}
        for c in letters:
            if c not in seen:
                raise ArgumentError(f"einsum: output subscript {c!r} does not appear in the inputs of "
                                 f"{equation!r}")
    else:
        counts = collections.Counter(c for lab in labels for c in lab if isinstance(c, str))
        out = ell_labels + sorted(c for c, n in counts.items() if n == 1)
    return labels, out


def _einsum_sizes(labels, ops, equation):
    sizes = {}
    for k, (lab, t) in enumerate(zip(labels, ops)):
        for c, s in zip(lab, t._data.shape):
            prev = sizes.get(c)
            if prev is None or prev == 1:
                sizes[c] = s
            elif s != 1 and s != prev:
                name = "..." if isinstance(c, tuple) else c
                raise ShapeError(f"einsum: subscript {name!r} has size {s} for operand {k} but size "
                                 f"{prev} elsewhere in {equation!r}")
    return sizes


def _reduce_unneeded(t, lab, keep):
    """Take diagonals for repeated labels, then sum labels not in `keep`."""
    while True:
        rep = next((c for c in lab if lab.count(c) > 1), None)
        if rep is None:
            break
        i1 = lab.index(rep)
        i2 = lab.index(rep, i1 + 1)
        t = _take_diag(t, i1, i2)
        lab = [c for j, c in enumerate(lab) if j not in (i1, i2)] + [rep]
    drop = [j for j, c in enumerate(lab) if c not in keep]
    if drop:
        t = sum(t, tuple(drop))
        lab = [c for j, c in enumerate(lab) if j not in drop]
    return t, lab


def _contract(a, la, b, lb, keep, sizes):
    batch = [c for c in la if c in lb and c in keep]
    contr = [c for c in la if c in lb and c not in keep]
    fa = [c for c in la if c not in lb]
    fb = [c for c in lb if c not in la]
    a = permute(a, tuple(la.index(c) for c in batch + fa + contr))
    b = permute(b, tuple(lb.index(c) for c in batch + contr + fb))
    # a size-1 contracted dim on one side broadcasts against the other
    ash, bsh = list(a._data.shape), list(b._data.shape)
    nb_ = len(batch)
    for j, c in enumerate(contr):
        ash[nb_ + len(fa) + j] = sizes[c]
        bsh[nb_ + j] = sizes[c]
    if tuple(ash) != a._data.shape:
        a = expand(a, tuple(ash))
    if tuple(bsh) != b._data.shape:
        b = expand(b, tuple(bsh))
    ba, bb = a._data.shape[:nb_], b._data.shape[:nb_]
    sfa = a._data.shape[nb_:nb_ + len(fa)]
    sfb = b._data.shape[nb_ + len(contr):]
    na, nbf = int(np.prod(sfa)), int(np.prod(sfb))
    nc = int(np.prod([sizes[c] for c in contr]))
    a3 = reshape(a, ba + (na, nc))
    b3 = reshape(b, bb + (nc, nbf))
    if nc == 1:                        # outer product: elementwise broadcast multiply
        r = mul(a3, reshape(b3, bb + (1, nbf)))
    elif na == 1 and nbf == 1:         # a dot product per batch entry: multiply and sum
        r = sum(mul(a3, reshape(b3, bb + (1, nc))), -1, keepdim=True)
    else:
        r = matmul(a3, b3)             # the GEMM
    rb = r._data.shape[:nb_]
    r = reshape(r, rb + sfa + sfb)
    return r, batch + fa + fb


@public
def einsum(equation, *operands) -> Tensor:
    """Einstein summation, as ``torch.einsum`` (letters, '...' for broadcast dims, implicit
    output in alphabetical order when '->' is absent).  Repeated subscripts take
    diagonals, subscripts used once are summed, and every pairwise contraction (left to
    right) is one batched GEMM via permute/reshape, or a broadcast multiply when nothing
    is contracted.  Size-1 dims broadcast against any size."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string, got {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ArgumentError("einsum: at least one operand is required")
    ops = [_to_tensor(t, "einsum") for t in operands]
    if len(ops) > 1:
        dt = np.result_type(*[t._data.dtype for t in ops])
        if dt.kind != "f" and any(t._data.dtype.kind == "f" for t in ops):
            dt = _default[0]
        ops = [t if t._data.dtype == dt else to(t, dt) for t in ops]
    labels, out = _parse_einsum(equation, [t._data.ndim for t in ops])
    sizes = _einsum_sizes(labels, ops, equation)
    outset = set(out)
    cur, lab = None, None
    for k, (t, lb) in enumerate(zip(ops, labels)):
        keep = outset | {c for l2 in labels[k + 1:] for c in l2}    # needed later
        if cur is None:
            cur, lab = _reduce_unneeded(t, list(lb), keep)
            continue
        t, lb = _reduce_unneeded(t, list(lb), keep | set(lab))
        cur, lab = _reduce_unneeded(cur, lab, keep | set(lb))
        cur, lab = _contract(cur, lab, t, lb, keep, sizes)
    cur, lab = _reduce_unneeded(cur, lab, outset)
    perm = tuple(lab.index(c) for c in out)
    res = permute(cur, perm) if perm != tuple(range(len(perm))) else cur
    want = tuple(sizes[c] for c in out)
    if res._data.shape != want:
        res = expand(res, want)
    return res


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.elementwise import _mask, _tplus, add, gelu, gt, mul, square, sub
from fastgrad.ops.reduce import sum
from fastgrad.ops.shape import (_permute_bwd, expand, permute, reshape, squeeze, transpose,
    unsqueeze)
