"""Stateless neural-network ops with PyTorch's names and arguments.

The differentiable ops live in ``fastgrad.ops`` by kind (conv, pool, norm, loss and the
activations of elementwise); this module gathers their public names and adds the
layers' functional forms built from them (relu_, dropout, dropout1d/2d, embedding,
bilinear).
"""
import numpy as np

from fastgrad._hooks import hooks
from fastgrad._tensor import Tensor
from fastgrad.ops import elementwise as _E, indexing as _X, inplace as _I, linalg as _L
from fastgrad.ops import reduce as _R, shape as _S
from fastgrad.ops._record import _float_in, _make
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
from fastgrad.ops.shape import pad


def relu_(x):
    return _I.clamp_(x, 0.0)


# ---- layers' functional forms ------------------------------------------------------------------
def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (inverted
    dropout), using fastgrad's global generator; identity when not training or p == 0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    x = _float_in(input, "dropout")
    if not training or p == 0.0:
        return x
    after = hooks.dropout(x, p) if hooks.dropout is not None else None
    from fastgrad._factory import default_generator
    dt = x.data.dtype
    draws = np.float32 if dt == np.float32 else np.float64
    if p == 1.0:
        mask = np.zeros(x.data.shape, dtype=dt)
    else:
        keep = default_generator.rng.random(x.data.shape, dtype=draws) >= p
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
    idx = input.data if isinstance(input, Tensor) else _X._index_copy(input, who, "indices")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{who}: indices must be integers (int64), got dtype {idx.dtype}")
    if not isinstance(weight, Tensor):
        raise TypeError(f"{who}: weight must be a Tensor, got {type(weight).__name__}")
    if weight.data.ndim != 2:
        raise ValueError(f"{who}: weight must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{tuple(weight.data.shape)}")
    n = weight.data.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)].flat[0]
        raise IndexError(f"{who}: index {bad} is out of range for {n} embeddings")
    if padding_idx is not None:
        if not isinstance(padding_idx, (int, np.integer)) or isinstance(padding_idx, (bool, np.bool_)):
            raise TypeError(f"{who}: padding_idx must be an int, got {type(padding_idx).__name__}")
        if not -n <= padding_idx < n:
            raise ValueError(f"{who}: padding_idx {padding_idx} must be within [-{n}, {n})")
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
                     idx.shape + (weight.data.shape[1],))
    if padding_idx is not None and out.requires_grad:
        # the padding row's value is used but gets no gradient: take it from a detached copy
        is_pad = _make(np.broadcast_to((idx == padding_idx)[..., None], out.data.shape))
        out = _E.where(is_pad, out.detach(), out)
    return out


def bilinear(input1, input2, weight, bias=None):
    """y_k = x1^T W_k x2 + b_k for x1 (..., in1), x2 (..., in2), weight (out, in1, in2)."""
    who = "bilinear"
    x1 = _float_in(input1, who)
    x2 = _float_in(input2, who)
    if weight.data.ndim != 3:
        raise ValueError(f"{who}: weight must be 3-D (out, in1, in2), got shape {tuple(weight.data.shape)}")
    out_f, in1, in2 = weight.data.shape
    if x1.data.shape[-1:] != (in1,) or x2.data.shape[-1:] != (in2,) or x1.data.shape[:-1] != x2.data.shape[:-1]:
        raise ValueError(f"{who}: input shapes {tuple(x1.data.shape)} and {tuple(x2.data.shape)} do "
                         f"not match weight shape {tuple(weight.data.shape)}")
    if bias is not None and tuple(bias.data.shape) != (out_f,):
        raise ValueError(f"{who}: bias shape {tuple(bias.data.shape)} does not match weight shape "
                         f"{tuple(weight.data.shape)}: expected ({out_f},)")
    lead = x1.data.shape[:-1]
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
        raise ValueError(f"{who}: probability must be in [0, 1], got {p}")
    x = _float_in(input, who)
    if x.data.ndim not in (nsp + 1, nsp + 2):
        raise ValueError(f"{who}: expected {nsp + 1}-d (unbatched) or {nsp + 2}-d (batched) input, "
                         f"got shape {_shape(x)}")
    if not training or p == 0.0:
        return x
    after = hooks.dropout(x, p) if hooks.dropout is not None else None
    from fastgrad._factory import default_generator
    dt = x.data.dtype
    lead = x.data.shape[:x.data.ndim - nsp]
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
    rest by 1 / (1 - p)."""
    return _channel_dropout(input, p, training, 2, "dropout2d")
