"""Dropout variants of torch.nn and torch.nn.functional: alpha_dropout and
feature_alpha_dropout (for SELU networks: they keep zero mean and unit variance),
dropout3d, gumbel_softmax, and the modules AlphaDropout, FeatureAlphaDropout and
Dropout3d.  Random draws use fastgrad's global generator."""
from __future__ import annotations

import math

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad.errors import ArgumentError, ShapeError
from fastgrad.nn.module import Module
from fastgrad.ops import elementwise as _E, reduce as _R
from fastgrad.ops._record import _float_in, _make, _shape

__all__ = ["alpha_dropout", "feature_alpha_dropout", "dropout3d", "gumbel_softmax",
           "AlphaDropout", "FeatureAlphaDropout", "Dropout3d"]

_SELU_ALPHA_SCALE = 1.7580993408473766        # selu's alpha * scale: -selu(-inf)


def _rng():
    from fastgrad._factory import default_generator
    return default_generator.rng


def _alpha(input, p, training, feature, who):
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"{who}: dropout probability has to be between 0 and 1, but got {p}")
    x = _float_in(input, who)
    if feature and x._data.ndim < 2:
        raise ShapeError(f"{who}: expected an input of at least 2 dims (N, C, ...), got shape "
                         f"{_shape(x)}")
    if p == 0.0 or not training:
        return x
    if p == 1.0:
        return _E.mul(x, 0.0)
    dt = x._data.dtype
    shape = x._data.shape[:2] + (1,) * (x._data.ndim - 2) if feature else x._data.shape
    keep = (_rng().random(shape) >= p).astype(dt)
    a = 1.0 / math.sqrt((_SELU_ALPHA_SCALE ** 2 * p + 1) * (1 - p))
    b = (keep - 1) * (_SELU_ALPHA_SCALE * a) + _SELU_ALPHA_SCALE * a * p
    return _E.add(_E.mul(x, _make((keep * a).astype(dt))), _make(b.astype(dt)))


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Alpha dropout: each element is set, with probability p, to SELU's negative
    saturation value, then all are scaled and shifted so that inputs of zero mean and
    unit variance keep them; identity when not training."""
    return _alpha(input, p, training, False, "alpha_dropout")


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """alpha_dropout of whole channels of (N, C, ...) input (one draw per channel)."""
    return _alpha(input, p, training, True, "feature_alpha_dropout")


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels (feature volumes) of (N, C, D, H, W) or (C, D, H, W) input with
    probability p, scale the rest by 1 / (1 - p)."""
    from fastgrad.nn.functional import _channel_dropout
    return _channel_dropout(input, p, training, 3, "dropout3d")


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """softmax((logits + g) / tau) along ``dim``, g drawn from Gumbel(0, 1).  ``hard``: the
    one-hot of its argmax in the forward pass, with the soft sample's gradient
    (straight-through)."""
    who = "gumbel_softmax"
    x = _float_in(logits, who)
    nd = max(x._data.ndim, 1)
    if not -nd <= dim < nd:
        raise IndexError(f"{who}: dimension {dim} is out of range for a {x._data.ndim}-d input")
    dt = x._data.dtype
    g = -np.log(_rng().exponential(1.0, size=x._data.shape)).astype(dt)
    y = _R.softmax(_E.div(_E.add(x, _make(g)), float(tau)), dim)
    if not hard:
        return y
    yd = y._data
    onehot = np.zeros_like(yd)
    if yd.ndim:
        np.put_along_axis(onehot, np.expand_dims(np.argmax(yd, axis=dim), dim), 1.0, axis=dim)
    else:
        onehot[...] = 1.0
    return _E.add(_E.sub(y, y.detach()), _make(onehot))


class AlphaDropout(Module):
    """alpha_dropout in training mode; identity in eval mode."""
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ArgumentError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, "
                                f"but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return alpha_dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class FeatureAlphaDropout(AlphaDropout):
    """feature_alpha_dropout in training mode; identity in eval mode."""
    def forward(self, x: Tensor) -> Tensor:
        return feature_alpha_dropout(x, self.p, self.training)


class Dropout3d(AlphaDropout):
    """dropout3d of (N, C, D, H, W) input in training mode; identity in eval mode."""
    def forward(self, x: Tensor) -> Tensor:
        return dropout3d(x, self.p, self.training)
