"""Stateless neural-network ops with PyTorch's names and arguments.

The differentiable ops live in ``fastgrad.ops`` by kind (conv, pool, norm, loss and the
activations of elementwise); this module gathers their public names and adds the
layers' functional forms built from them (relu_, dropout, dropout1d/2d, embedding,
bilinear).
"""
import numpy as np

from fastgrad.errors import ArgumentError, DtypeError, ShapeError
from fastgrad._hooks import hooks
from fastgrad._tensor import Tensor
from fastgrad.ops import attention as _A
from fastgrad.ops import elementwise as _E, indexing as _X, inplace as _I, linalg as _L
from fastgrad.ops import reduce as _R, shape as _S
from fastgrad.ops._record import _float_in, _make, to
from fastgrad.ops.elementwise import (elu, gelu, hardsigmoid, hardswish, hardtanh,
                                      leaky_relu, mish, relu, relu6, selu, sigmoid, silu,
                                      softplus, tanh)
from fastgrad.ops._record import _shape
from fastgrad.ops.conv import *
from fastgrad.ops.indexing import one_hot
from fastgrad.ops.linalg import linear
from fastgrad.ops.loss import *
from fastgrad.ops.norm import *
from fastgrad.ops.pool import *
from fastgrad.ops.reduce import log_softmax, softmax
from fastgrad.ops.shape import pad as _pad
from typing import TYPE_CHECKING
if TYPE_CHECKING:       # the op modules' __all__ is built at import time: their names, stated
    from fastgrad.nn._functional_types import *


def pad(input, pad, mode="constant", value=None):
    """Pad with PyTorch's pad tuple order: (left, right) of the last dim first, then of
    the dim before it, ...  Modes "constant", "reflect", "replicate", "circular"; a
    negative entry crops that side (in every mode, as PyTorch).  "reflect" and
    "replicate" read the reflected / clamped positions of the whole input (a pad may
    reach as far as the uncropped size allows); in "circular" mode the negative entries
    crop first, then the positive ones pad what is left (it wraps around the cropped
    tensor)."""
    p = [int(v) for v in pad]
    if mode != "circular" or all(v >= 0 for v in p):
        return _pad(input, p, mode, value)
    y = input if isinstance(input, Tensor) else _pad(input, [0] * len(p), mode)
    nd = y._data.ndim
    if len(p) % 2 or len(p) // 2 > nd:
        raise ArgumentError(f"pad: the pad tuple {tuple(p)} must have an even length of at most "
                         f"2 * {nd} (the tensor's dims)")
    for i in range(len(p) // 2):
        d, lo, hi = nd - 1 - i, p[2 * i], p[2 * i + 1]
        n = y._data.shape[d]
        start, stop = max(-lo, 0), n - max(-hi, 0)
        if stop <= start:
            raise ShapeError(f"pad: padding {(lo, hi)} of dimension {d} (size {n}) leaves an "
                             f"empty or negative size {stop - start}")
        if start or stop != n:
            y = _S.narrow(y, d, start, stop - start)
    return _pad(y, [max(v, 0) for v in p], mode, value)


def relu_(x):
    """max(x, 0) in place; returns ``x``."""
    return _I.clamp_(x, 0.0)


# ---- layers' functional forms ------------------------------------------------------------------
def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (inverted
    dropout), using fastgrad's global generator; identity when not training or p == 0."""
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"dropout: probability must be in [0, 1], got {p}")
    x = _float_in(input, "dropout")
    if not training or p == 0.0:
        return x
    after = hooks.dropout(x, p) if hooks.dropout is not None else None
    from fastgrad._factory import default_generator
    dt = x._data.dtype
    draws = np.float32 if dt == np.float32 else np.float64
    if p == 1.0:
        mask = np.zeros(x._data.shape, dtype=dt)
    else:
        keep = default_generator.rng.random(x._data.shape, dtype=draws) >= p
        mask = keep.astype(dt)
        mask *= dt.type(1.0 / (1.0 - p))
    if after is not None:
        after(mask, draws if p != 1.0 else None)
    if inplace:
        return _I.mul_(x, _make(mask))
    return _E.mul(x, _make(mask))


def embedding(input, weight, padding_idx=None):
    """Rows of `weight` (num_embeddings, dim) at the int64 indices `input` (any shape);
    repeated indices accumulate in the gradient, and row `padding_idx` gets none."""
    who = "embedding"
    idx = input._data if isinstance(input, Tensor) else _X._index_copy(input, who, "indices")
    if idx.dtype.kind not in "iu":
        raise DtypeError(f"{who}: indices must be integers (int64), got dtype {idx.dtype}")
    if not isinstance(weight, Tensor):
        raise TypeError(f"{who}: weight must be a Tensor, got {type(weight).__name__}")
    if weight._data.ndim != 2:
        raise ShapeError(f"{who}: weight must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{tuple(weight._data.shape)}")
    n = weight._data.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)].flat[0]
        raise IndexError(f"{who}: index {bad} is out of range for {n} embeddings")
    if padding_idx is not None:
        if not isinstance(padding_idx, (int, np.integer)) or isinstance(padding_idx, (bool, np.bool_)):
            raise TypeError(f"{who}: padding_idx must be an int, got {type(padding_idx).__name__}")
        if not -n <= padding_idx < n:
            raise ArgumentError(f"{who}: padding_idx {padding_idx} must be within [-{n}, {n})")
        padding_idx = padding_idx % n
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    if hooks.embedding is not None and padding_idx is not None:
        out = hooks.embedding(weight, idx, padding_idx, _X._index_tensors(input))
        if out is not None:
            return out
    # a row gather whose backward is a scatter-add (repeated indices accumulate)
    # (an index Tensor is saved so that backward version-checks it)
    out = _S.reshape(_X._index_select(weight, 0, idx.reshape(-1), False, who,
                                      _X._index_tensors(input)),
                     idx.shape + (weight._data.shape[1],))
    if padding_idx is not None and out.requires_grad:
        # the padding row's value is used but gets no gradient: take it from a detached copy
        is_pad = _make(np.broadcast_to((idx == padding_idx)[..., None], out._data.shape))
        out = _E.where(is_pad, out.detach(), out)
    return out


def bilinear(input1, input2, weight, bias=None):
    """y_k = x1^T W_k x2 + b_k for x1 (..., in1), x2 (..., in2), weight (out, in1, in2)."""
    who = "bilinear"
    x1 = _float_in(input1, who)
    x2 = _float_in(input2, who)
    if weight._data.ndim != 3:
        raise ShapeError(f"{who}: weight must be 3-D (out, in1, in2), got shape {tuple(weight._data.shape)}")
    out_f, in1, in2 = weight._data.shape
    if x1._data.shape[-1:] != (in1,) or x2._data.shape[-1:] != (in2,) or x1._data.shape[:-1] != x2._data.shape[:-1]:
        raise ShapeError(f"{who}: input shapes {tuple(x1._data.shape)} and {tuple(x2._data.shape)} do "
                         f"not match weight shape {tuple(weight._data.shape)}")
    if bias is not None and tuple(bias._data.shape) != (out_f,):
        raise ShapeError(f"{who}: bias shape {tuple(bias._data.shape)} does not match weight shape "
                         f"{tuple(weight._data.shape)}: expected ({out_f},)")
    lead = x1._data.shape[:-1]
    a = _S.reshape(x1, (-1, in1))
    b = _S.reshape(x2, (-1, in2))
    wmat = _S.reshape(_S.permute(weight, (1, 0, 2)), (in1, out_f * in2))
    t = _S.reshape(_L.matmul(a, wmat), (-1, out_f, in2))
    y = _R.sum(_E.mul(t, _S.unsqueeze(b, 1)), -1)
    if bias is not None:
        y = _E.add(y, bias)
    return _S.reshape(y, lead + (out_f,))


def _channel_dropout(input, p, training, nsp, who):
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"{who}: probability must be in [0, 1], got {p}")
    x = _float_in(input, who)
    if x._data.ndim not in (nsp + 1, nsp + 2):
        raise ShapeError(f"{who}: expected {nsp + 1}-d (unbatched) or {nsp + 2}-d (batched) input, "
                         f"got shape {_shape(x)}")
    if not training or p == 0.0:
        return x
    after = hooks.dropout(x, p) if hooks.dropout is not None else None
    from fastgrad._factory import default_generator
    dt = x._data.dtype
    lead = x._data.shape[:x._data.ndim - nsp]
    if p == 1.0:
        mask = np.zeros(lead, dtype=dt)
    else:
        mask = (default_generator.rng.random(lead) >= p).astype(dt) * dt.type(1.0 / (1.0 - p))
    if after is not None:
        after(mask, np.float64 if p != 1.0 else None)
    return _E.mul(x, _make(mask.reshape(lead + (1,) * nsp)))


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) with probability p, scale the rest by 1 / (1 - p)."""
    return _channel_dropout(input, p, training, 1, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels (feature maps) of (N, C, H, W) with probability p, scale the
    rest by 1 / (1 - p).  As in PyTorch, the mask covers the first two dimensions of any
    input of two or more: a 3-d input is read as (N, C, L) and a 2-d one as (N, C), each
    with a warning that such inputs are deprecated."""
    x = _float_in(input, "dropout2d")
    nd = x._data.ndim
    if nd < 2:
        raise ShapeError(f"dropout2d: feature dropout requires at least 2 dimensions in the input, "
                         f"got shape {_shape(x)}")
    if nd not in (3, 4):
        import warnings
        warnings.warn(f"dropout2d: Received a {nd}-D input to dropout2d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and silence "
                      "this warning, please use dropout instead.", stacklevel=2)
    if nd == 3:
        import warnings
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
                      "dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
                      "is the channel dim.", stacklevel=2)
    return _channel_dropout(x, p, training, nd - 2, "dropout2d")


# ---- activations composed of existing ops ------------------------------------------------------
def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), computed stably."""
    x = _float_in(input, "logsigmoid")
    return _E.neg(softplus(_E.neg(x)))


def softsign(input):
    """x / (1 + |x|)."""
    x = _float_in(input, "softsign")
    return _E.div(x, _E.add(_E.abs(x), 1.0))


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)), i.e. alpha * elu(x / alpha)."""
    x = _float_in(input, "celu")
    alpha = float(alpha)
    if alpha == 0.0:
        raise ArgumentError("celu: alpha must be non-zero (it divides the input), got 0")
    if alpha == 1.0:
        return elu(x)
    return _E.mul(elu(_E.div(x, alpha)), alpha)


def _implicit_dim(who, ndim):
    import warnings
    warnings.warn(f"Implicit dimension choice for {who} has been deprecated. Change the call to "
                  "include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along dim (with dim=None, PyTorch's implicit choice and its warning)."""
    x = _float_in(input, "softmin")
    if dim is None:
        dim = _implicit_dim("softmin", x._data.ndim)
    return softmax(_E.neg(x), dim, dtype)


# ---- distances and normalisation -------------------------------------------------------------
def _clamp_value_min(n, eps):
    """n with its value clamped below at eps, its gradient that of n (as PyTorch clamps a
    norm in place without recording)."""
    d = np.asarray(np.maximum(n._data, n._data.dtype.type(eps)) - n._data)   # 0-d stays an array
    if not d.any():
        return n
    return _E.add(n, _make(d))


def _pnorm(x, p, dim, keepdim):
    """norm(x, p, dim) whose gradient is 0 where a norm is 0 (PyTorch's subgradient),
    for every p."""
    n = _R.norm(x, p, dim, keepdim)
    if p in (1.0, 2.0) or not x.requires_grad or n._data.all():
        return n
    zero = np.asarray(n._data == 0)          # an array even for a 0-d norm
    if dim is None:
        mask = np.broadcast_to(zero, x._data.shape)
    else:
        mask = np.broadcast_to(zero if keepdim else np.expand_dims(zero, dim), x._data.shape)
    safe = _R.norm(_E.where(_make(np.array(mask, order="C")), 1.0, x), p, dim, keepdim)
    return _E.where(_make(zero), 0.0, safe)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p along dim, eps)."""
    if out is not None:
        raise ArgumentError("normalize: out= is not supported by fastgrad")
    x = _float_in(input, "normalize")
    n = _pnorm(x, float(p), dim, True)
    return _E.div(x, _E.clamp(n, min=float(eps)))


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) along dim (inputs broadcast)."""
    who = "cosine_similarity"
    a = _float_in(x1, who)
    b = _float_in(x2, who)
    try:
        shape = np.broadcast_shapes(a._data.shape, b._data.shape)
    except ValueError:
        raise ShapeError(f"{who}: shapes {_shape(a)} and {_shape(b)} cannot be broadcast") from None
    if a._data.dtype != b._data.dtype:
        dt = np.promote_types(a._data.dtype, b._data.dtype)
        a, b = to(a, dt), to(b, dt)
    if a._data.shape != shape:
        a = _S.expand(a, shape)
    if b._data.shape != shape:
        b = _S.expand(b, shape)
    if not -len(shape) <= dim < max(len(shape), 1):
        raise IndexError(f"{who}: dimension {dim} is out of range for inputs of shape {shape}")
    na = _clamp_value_min(_R.norm(a, 2.0, dim, True), eps)
    nb = _clamp_value_min(_R.norm(b, 2.0, dim, True), eps)
    return _R.sum(_E.mul(_E.div(a, na), _E.div(b, nb)), dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p along the last dimension (inputs broadcast)."""
    who = "pairwise_distance"
    a = _float_in(x1, who)
    b = _float_in(x2, who)
    d = _E.add(_E.sub(a, b), float(eps))
    nd = max(a._data.ndim, b._data.ndim)
    return _pnorm(d, float(p), None if nd == 0 else nd - 1, keepdim)


# ---- attention ---------------------------------------------------------------------------------
def _attn_keep(attn_mask, is_causal, L, S, who):
    """The bool "may attend" mask (broadcastable to (..., L, S)) and the additive float
    mask, from attn_mask and is_causal; either may be None."""
    keep, add = None, None
    if is_causal and attn_mask is not None:
        raise ArgumentError(f"{who}: an explicit attn_mask cannot be combined with is_causal=True")
    if is_causal:
        keep = np.tril(np.ones((L, S), dtype=bool))
    if attn_mask is not None:
        m = attn_mask if isinstance(attn_mask, Tensor) else _make(np.asarray(attn_mask))
        if m._data.ndim < 2 or m._data.shape[-2:] not in ((L, S), (1, S), (L, 1), (1, 1)):
            raise ShapeError(f"{who}: attn_mask of shape {_shape(m)} does not broadcast to the "
                             f"scores' last two dims ({L}, {S})")
        if m._data.dtype == np.bool_:
            keep = m._data if keep is None else keep & m._data
        elif m._data.dtype.kind == "f":
            add = m
        else:
            raise DtypeError(f"{who}: attn_mask must be bool or floating, got dtype {m._data.dtype}")
    return keep, add


def _sdpa_fused(q, k, v, attn_mask, is_causal, scale, enable_gqa, who):
    """scaled_dot_product_attention on the fused kernel (ops/attention.py), or None when
    the arguments need the composed path."""
    L, E = q._data.shape[-2:]
    S = k._data.shape[-2]
    m = None
    if attn_mask is not None:
        _attn_keep(attn_mask, is_causal, L, S, who)     # the argument checks
        mt = attn_mask if isinstance(attn_mask, Tensor) else _make(np.asarray(attn_mask))
        if mt._data.dtype != np.bool_ and mt.requires_grad:
            return None
        m = mt._data
    dt = q._data.dtype
    if k._data.dtype != dt or v._data.dtype != dt:
        return None
    lead = q._data.shape[:-2]
    kl, vl = k._data.shape[:-2], v._data.shape[:-2]
    if kl != vl or len(kl) != len(lead):
        return None
    if kl != lead and not (enable_gqa and lead and lead[:-1] == kl[:-1] and kl[-1] >= 1
                           and lead[-1] % kl[-1] == 0):
        return None
    if m is not None:
        ml = m.shape[:-2]
        if len(ml) > len(lead) or any(a not in (1, b) for a, b in zip(ml[::-1], lead[::-1])):
            return None
    sc = 1.0 / float(np.sqrt(E)) if scale is None else float(scale)
    if dt not in (np.float32, np.float64):
        f32 = np.dtype(np.float32)
        m32 = None if m is None else m if m.dtype == np.bool_ else m.astype(f32)
        out = _sdpa_fused(to(q, f32), to(k, f32), to(v, f32), m32, is_causal, sc, enable_gqa, who)
        return None if out is None else to(out, dt)
    B = int(np.prod(lead[:-1], dtype=np.int64)) if len(lead) > 1 else 1
    H = lead[-1] if lead else 1
    Hk = kl[-1] if kl else 1
    km = None if m is None else _A.kernel_mask(m, lead, L, S, dt)
    out = _A.sdpa(_as4(q, (B, H, L, E)), _as4(k, (B, Hk, S, E)),
                  _as4(v, (B, Hk, S, v._data.shape[-1])), km, sc, is_causal)
    return _as4(out, tuple(lead) + (L, v._data.shape[-1]))


def _as4(x, shape):
    return x if x._data.shape == shape else _S.reshape(x, shape)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value for query (..., L, E), key (..., S, E)
    and value (..., S, Ev); the result is (..., L, Ev).

    scale defaults to 1 / sqrt(E).  A bool attn_mask says which positions may be attended
    (True = attend); a float one is added to the scores.  is_causal masks the upper
    triangle (query i attends keys 0..i, aligned at the top left).  A query row with no
    key to attend gives zeros.  dropout_p drops attention weights (inverted dropout, with
    fastgrad's generator).  enable_gqa lets key/value have fewer heads (dim -3) than query,
    each shared by a group of query heads.  query, key and value share one dtype; a float
    attn_mask is float32 or the query's dtype (DtypeError otherwise, as PyTorch raises).

    Without dropout, and when query, key and value share their leading dims (their head
    dim aside, with enable_gqa) and a dtype, one fused C kernel computes it (tiled, with
    an online softmax: memory O(L) beyond the inputs, the L x S weights are never
    formed), and one its backward; float16 and bfloat16 inputs compute in float32.
    dropout_p > 0, a float mask that requires grad and other broadcasting take the
    composed path (matmul, softmax, dropout)."""
    who = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        if isinstance(t, Tensor) and not t.is_floating_point():
            raise DtypeError(f"{who}: {name} must be a floating tensor, got {t.dtype} "
                             f"(shape {_shape(t)})")
    q = _float_in(query, who)
    k = _float_in(key, who)
    v = _float_in(value, who)
    if min(q._data.ndim, k._data.ndim, v._data.ndim) < 2:
        raise ShapeError(f"{who}: query, key and value must be at least 2-D, got shapes "
                         f"{_shape(q)}, {_shape(k)}, {_shape(v)}")
    if not q._data.dtype == k._data.dtype == v._data.dtype:
        raise DtypeError(f"{who}: query, key and value must have the same dtype, got query "
                         f"{q.dtype}, key {k.dtype}, value {v.dtype} (shapes {_shape(q)}, "
                         f"{_shape(k)}, {_shape(v)})")
    if (isinstance(attn_mask, Tensor) and attn_mask._data.dtype.kind == "f"
            and attn_mask._data.dtype not in (q._data.dtype, np.float32)):
        raise DtypeError(f"{who}: a floating attn_mask must be float32 or the query's dtype "
                         f"({q.dtype}), got {attn_mask.dtype} (attn_mask shape {_shape(attn_mask)})")
    L, E = q._data.shape[-2:]
    S = k._data.shape[-2]
    if k._data.shape[-1] != E or v._data.shape[-2] != S:
        raise ShapeError(f"{who}: shapes query {_shape(q)}, key {_shape(k)}, value {_shape(v)} do "
                         f"not match: key needs (..., S, {E}) and value (..., S, Ev)")
    if enable_gqa and q._data.ndim >= 3 and k._data.ndim >= 3:
        hq, hk = q._data.shape[-3], k._data.shape[-3]
        if hk != v._data.shape[-3] or hq % hk:
            raise ShapeError(f"{who}: with enable_gqa the query heads ({hq}) must be a multiple "
                             f"of the key/value heads ({hk}, {v._data.shape[-3]})")
    if dropout_p == 0.0:
        out = _sdpa_fused(q, k, v, attn_mask, is_causal, scale, enable_gqa, who)
        if out is not None:
            return out
    if enable_gqa and q._data.ndim >= 3 and k._data.ndim >= 3:
        hq, hk = q._data.shape[-3], k._data.shape[-3]
        if hq != hk:
            from fastgrad.ops.shape import repeat_interleave
            k = repeat_interleave(k, hq // hk, -3)
            v = repeat_interleave(v, hq // hk, -3)
    sc = 1.0 / float(np.sqrt(E)) if scale is None else float(scale)
    s = _E.mul(_L.matmul(q, _S.transpose(k, -2, -1)), sc)
    keep, add = _attn_keep(attn_mask, is_causal, L, S, who)
    if add is not None:
        s = _E.add(s, add if add._data.dtype == s._data.dtype else to(add, s._data.dtype))
    dead = None
    if keep is not None:
        alive = keep.any(-1, keepdims=True)
        if not alive.all():
            dead = _make(np.broadcast_to(~alive, keep.shape[:-1] + (S,)).copy())
            keep = keep | ~alive           # a fully masked row is softmaxed whole, then zeroed
        keep = np.ascontiguousarray(keep)
        if attn_mask is None and hooks.shape_const is not None:
            hooks.shape_const(keep, who)       # the causal mask: fixed by L and S
        s = _E.where(_make(keep), s, float("-inf"))
    w = softmax(s, -1)
    if dead is not None:
        w = _E.where(dead, 0.0, w)
    if dropout_p > 0.0:
        w = dropout(w, dropout_p, True)
    return _L.matmul(w, v)


# ---- multi-head attention: nn.MultiheadAttention's functional form (nn/transformer.py) --------
from fastgrad.nn.transformer import multi_head_attention_forward  # noqa: E402


# ---- pixel shuffle ---------------------------------------------------------------------------
def _shuffle_factor(r, who, name):
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)):
        raise TypeError(f"{who}: {name} must be an int, got {type(r).__name__}")
    if r <= 0:
        raise ArgumentError(f"{who} expects a positive {name}, but got {r}")
    return int(r)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """Rearrange (*, C * r**2, H, W) into (*, C, H * r, W * r), r = upscale_factor: each
    group of r**2 channels becomes an r x r block of pixels (sub-pixel convolution)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"pixel_shuffle(): argument 'input' must be Tensor, not {type(input).__name__}")
    x = input
    r = _shuffle_factor(upscale_factor, "pixel_shuffle", "upscale_factor")
    shape = x._data.shape
    if len(shape) < 3:
        raise ShapeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                         f"{len(shape)} dimension(s)")
    *b, c, h, w = shape
    if c % (r * r):
        raise ShapeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
                         f"square of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    n = len(b)
    y = _S.reshape(x, (*b, c // (r * r), r, r, h, w))
    y = _S.permute(y, (*range(n), n, n + 3, n + 1, n + 4, n + 2))
    return _S.reshape(y, (*b, c // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """The inverse of :func:`pixel_shuffle`: (*, C, H * r, W * r) into (*, C * r**2, H, W),
    r = downscale_factor."""
    if not isinstance(input, Tensor):
        raise TypeError(f"pixel_unshuffle(): argument 'input' must be Tensor, not {type(input).__name__}")
    x = input
    r = _shuffle_factor(downscale_factor, "pixel_unshuffle", "downscale_factor")
    shape = x._data.shape
    if len(shape) < 3:
        raise ShapeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                         f"{len(shape)} dimension(s)")
    *b, c, h, w = shape
    for name, v, i in (("height", h, -2), ("width", w, -1)):
        if v % r:
            raise ShapeError(f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                             f"input.size({i})={v} is not divisible by {r}")
    n = len(b)
    y = _S.reshape(x, (*b, c, h // r, r, w // r, r))
    y = _S.permute(y, (*range(n), n, n + 2, n + 4, n + 1, n + 3))
    return _S.reshape(y, (*b, c * r * r, h // r, w // r))


# ---- more activations and their in-place forms (nn/functional_extra.py) --------------------
from fastgrad.nn.functional_extra import (celu_, elu_, glu, hardshrink, hardtanh_,  # noqa: E402
                                         leaky_relu_, prelu, rrelu, rrelu_, selu_, softshrink,
                                         tanhshrink, threshold, threshold_)
from fastgrad.nn.functional_extra import (channel_shuffle, fold, unfold,  # noqa: E402
                                         upsample_bilinear, upsample_nearest)
from fastgrad.nn.functional_norm import (adaptive_avg_pool3d, adaptive_max_pool1d,  # noqa: E402
                                        adaptive_max_pool1d_with_indices, adaptive_max_pool2d,
                                        adaptive_max_pool2d_with_indices, adaptive_max_pool3d,
                                        adaptive_max_pool3d_with_indices, instance_norm,
                                        local_response_norm, lp_pool1d, lp_pool2d, lp_pool3d,
                                        max_pool1d_with_indices, max_pool2d_with_indices,
                                        max_pool3d_with_indices)
from fastgrad.nn.extra_losses import (cosine_embedding_loss, gaussian_nll_loss,  # noqa: E402
                                      hinge_embedding_loss, margin_ranking_loss,
                                      multi_margin_loss, multilabel_soft_margin_loss,
                                      poisson_nll_loss, soft_margin_loss, triplet_margin_loss)
from fastgrad.nn.extra_dropout import (alpha_dropout, dropout3d,  # noqa: E402
                                       feature_alpha_dropout, gumbel_softmax)
