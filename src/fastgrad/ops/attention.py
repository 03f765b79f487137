"""Attention: scaled dot-product attention on the fused C kernel (csrc/attention.c).

``sdpa`` takes query (B, H, L, E), key (B, Hk, S, E) and value (B, Hk, S, Ev) tensors
(H a multiple of Hk) and a mask already shaped for the kernel; ``fastgrad.nn.functional.
scaled_dot_product_attention`` validates the user's arguments and calls it.  The forward
keeps the output and the per-row log-sum-exp only (O(L) beyond the inputs); the fused
backward recomputes the scores tile by tile.  With ``create_graph=True`` the backward
is written with fastgrad ops (the weights recomputed whole), so higher derivatives
flow; the forward-mode rule is written the same way.
"""
import numpy as np

from fastgrad._C import _kernels as _K
from fastgrad._state import backend, grad_mode
from fastgrad.autograd.engine import declare
from fastgrad.ops._record import _make, _needs, _record, exports


def kernel_mask(attn_mask, lead, L, S, dtype):
    """The ndarray mask the kernel reads, (B|1, H|1, L|1, S|1), from a bool or float
    ndarray that broadcasts to lead + (L, S) (lead: the query's leading dims, at most
    2, or more when the mask has them too); float masks are cast to dtype."""
    m = attn_mask
    if m.dtype != np.bool_ and m.dtype != dtype:
        m = m.astype(dtype)
    if len(lead) <= 2 and m.ndim <= 4:
        return np.ascontiguousarray(m.reshape((1,) * (4 - m.ndim) + m.shape))
    B = int(np.prod(lead[:-1], dtype=np.int64))
    full = np.broadcast_to(m, tuple(lead) + m.shape[-2:])
    return np.ascontiguousarray(full).reshape((B, lead[-1]) + m.shape[-2:])


def _keep(mask, causal, L, S):
    """(bool "may attend" array broadcastable to (B, H, L, S) or None, additive float
    array or None) for the composed formulas."""
    keep, add = None, None
    if mask is not None:
        if mask.dtype == np.bool_:
            keep = mask
        else:
            add = mask
            fin = mask != -np.inf
            if not fin.all():
                keep = fin
    if causal:
        tri = np.tril(np.ones((L, S), dtype=bool))
        keep = tri if keep is None else keep & tri
    return keep, add


def _weights(q, k, mask, scale, causal):
    """softmax(scale q k^T + mask) as fastgrad ops (k at q's heads); masked weights and
    rows with nothing to attend are 0, as the kernel computes them."""
    L, S = q._data.shape[-2], k._data.shape[-2]
    s = mul(matmul(q, transpose(k, -2, -1)), scale)
    keep, add = _keep(mask, causal, L, S)
    if add is not None:
        s = add_(s, _make(add))
    if keep is None:
        return softmax(s, -1)
    shape = s._data.shape
    keep = np.broadcast_to(keep, shape)
    dead = ~keep.any(-1, keepdims=True)
    s = where(_make(np.ascontiguousarray(keep | dead)), s, float("-inf"))
    if not dead.any():
        return softmax(s, -1)
    dead = _make(np.ascontiguousarray(np.broadcast_to(dead, shape)))
    return where(dead, 0.0, softmax(where(dead, 0.0, s), -1))


def _heads(x, r):
    """x (B, Hk, ...) with each head repeated r times: (B, Hk * r, ...)."""
    return x if r == 1 else repeat_interleave(x, r, 1)


def _fold(x, r):
    """The sum over each group of r consecutive heads of x (B, Hk * r, ...)."""
    if r == 1:
        return x
    s = x._data.shape
    return sum_(reshape(x, (s[0], s[1] // r, r) + s[2:]), 2)


def _sdpa_bwd(node, g):
    q, k, v = node.saved
    mask, lse, scale, causal = node.ctx
    e = node.edges
    if not grad_mode.enabled:
        kern = backend.k
        if kern is _K:      # head-split operands get gradients in their layout (no copies)
            dq, dk, dv = _K.sdpa_bwd_heads(g._data, q._data, k._data, v._data, mask, node.out,
                                           lse, scale, causal)
        else:
            dq, dk, dv = kern.sdpa_bwd(g._data, q._data, k._data, v._data, mask, node.out,
                                       lse, scale, causal)
        return (_fresh(dq) if e[0] is not None else None,
                _fresh(dk) if e[1] is not None else None,
                _fresh(dv) if e[2] is not None else None)
    r = q._data.shape[1] // k._data.shape[1]
    kx, vx = _heads(k, r), _heads(v, r)
    w = _weights(q, kx, mask, scale, causal)
    dv = _fold(matmul(transpose(w, -2, -1), g), r)
    dw = matmul(g, transpose(vx, -2, -1))
    ds = mul(mul(w, sub(dw, sum_(mul(dw, w), -1, keepdim=True))), scale)
    dq = matmul(ds, kx)
    dk = _fold(matmul(transpose(ds, -2, -1), q), r)
    return dq, dk, dv


def _sdpa_jvp(node, xs, ts, out):
    q, k, v = xs
    tq, tk, tv = ts
    mask, lse, scale, causal = node.ctx
    r = q._data.shape[1] // k._data.shape[1]
    kx, vx = _heads(k, r), _heads(v, r)
    w = _weights(q, kx, mask, scale, causal)
    t = None
    ds = None
    if tq is not None:
        ds = matmul(tq, transpose(kx, -2, -1))
    if tk is not None:
        d = matmul(q, transpose(_heads(tk, r), -2, -1))
        ds = d if ds is None else add_(ds, d)
    if ds is not None:
        ds = mul(ds, scale)
        dw = mul(w, sub(ds, sum_(mul(ds, w), -1, keepdim=True)))
        t = matmul(dw, vx)
    if tv is not None:
        d = matmul(w, _heads(tv, r))
        t = d if t is None else add_(t, d)
    return t


declare(_sdpa_bwd, jvp=_sdpa_jvp)


def sdpa(q, k, v, mask, scale, causal):
    """Fused attention of q (B, H, L, E), k (B, Hk, S, E), v (B, Hk, S, Ev) float32 or
    float64 tensors of one dtype (H a multiple of Hk; head h reads key/value head
    h // (H // Hk)); mask: None or an ndarray from ``kernel_mask`` (bool: True attends;
    float: added to the scores).  causal: key j is masked for query i when j > i.  Rows
    with nothing to attend give 0.  Returns (B, H, L, Ev).  Operands that are head-split
    views of (B, L, H * E) data (as multi-head attention makes them) are read in place,
    and then the output is such a view too, so merging the heads back costs no copy;
    their gradients likewise."""
    kern = backend.k
    if kern is _K:
        out, lse = _K.sdpa_heads(q._data, k._data, v._data, mask, float(scale), bool(causal))
    else:
        out, lse = kern.sdpa(q._data, k._data, v._data, mask, float(scale), bool(causal))
    if _needs(q, k, v):
        return _record(out, "scaled_dot_product_attention", _sdpa_bwd, (q, k, v), (q, k, v),
                       out, (mask, lse, float(scale), bool(causal)))
    return _make(out)


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.elementwise import add as add_, mul, sub, where
from fastgrad.ops.linalg import _fresh, matmul
from fastgrad.ops.reduce import softmax, sum as sum_
from fastgrad.ops.shape import repeat_interleave, reshape, transpose
