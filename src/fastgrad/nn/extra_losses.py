"""More of torch.nn's losses and their functional forms, composed of existing fastgrad ops
(their gradients come from those ops): margin_ranking_loss, hinge_embedding_loss,
soft_margin_loss, multilabel_soft_margin_loss, cosine_embedding_loss,
triplet_margin_loss, poisson_nll_loss, gaussian_nll_loss, multi_margin_loss and the
matching ``*Loss`` modules.  Each takes ``reduction`` 'none' | 'mean' | 'sum' (and the
legacy ``size_average`` / ``reduce`` flags where PyTorch has them)."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad.errors import ArgumentError, ShapeError
from fastgrad.nn.module import Module
from fastgrad.ops import elementwise as _E, indexing as _X, reduce as _R, shape as _S
from fastgrad.ops._record import _float_in, _make, _to_tensor
from fastgrad.ops.loss import _check_reduction, _reduce

__all__ = ["margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss",
           "multilabel_soft_margin_loss", "cosine_embedding_loss", "triplet_margin_loss",
           "poisson_nll_loss", "gaussian_nll_loss", "multi_margin_loss", "MarginRankingLoss",
           "HingeEmbeddingLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss",
           "CosineEmbeddingLoss", "TripletMarginLoss", "PoissonNLLLoss", "GaussianNLLLoss",
           "MultiMarginLoss"]


def _legacy(size_average, reduce, reduction, who):
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
    _check_reduction(reduction, who)
    return reduction


def _same_shape(a, b, who, what="target"):
    if tuple(a.shape) != tuple(b.shape):
        raise ShapeError(f"{who}: {what} of shape {tuple(b.shape)} does not match the input of "
                         f"shape {tuple(a.shape)}")


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -target * (input1 - input2) + margin); target holds 1 or -1."""
    who = "margin_ranking_loss"
    reduction = _legacy(size_average, reduce, reduction, who)
    x1, x2, y = _float_in(input1, who), _float_in(input2, who), _float_in(target, who)
    if not (x1.ndim == x2.ndim == y.ndim):
        raise ShapeError(f"{who}: all inputs should have the same number of dims, got shapes "
                         f"{tuple(x1.shape)}, {tuple(x2.shape)} and {tuple(y.shape)}")
    loss = _E.clamp(_E.add(_E.mul(_E.neg(y), _E.sub(x1, x2)), float(margin)), 0.0)
    return _reduce(loss, reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """x where target == 1, max(0, margin - x) where target == -1 (both terms where the
    target is neither, as PyTorch)."""
    who = "hinge_embedding_loss"
    reduction = _legacy(size_average, reduce, reduction, who)
    x = _float_in(input, who)
    y = _to_tensor(target, who) if not isinstance(target, Tensor) else target
    margin_part = _E.where(_E.ne(y, 1), _E.clamp(_E.sub(float(margin), x), 0.0), 0.0)
    self_part = _E.where(_E.ne(y, -1), x, 0.0)
    return _reduce(_E.add(self_part, margin_part), reduction)


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-target * input)) elementwise; target holds 1 or -1."""
    who = "soft_margin_loss"
    reduction = _legacy(size_average, reduce, reduction, who)
    x, y = _float_in(input, who), _float_in(target, who)
    _same_shape(x, y, who)
    return _reduce(_E.softplus(_E.neg(_E.mul(y, x))), reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                                size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """-(y log sigmoid(x) + (1 - y) log sigmoid(-x)), optionally times ``weight`` (C,),
    averaged over the C classes (the last dim): one loss per sample."""
    who = "multilabel_soft_margin_loss"
    reduction = _legacy(size_average, reduce, reduction, who)
    x, y = _float_in(input, who), _float_in(target, who)
    _same_shape(x, y, who)
    if x.ndim == 0:
        raise ShapeError(f"{who}: expected an input of at least 1 dim (the classes last), got "
                         "a 0-d input")
    from fastgrad.nn.functional import logsigmoid
    loss = _E.neg(_E.add(_E.mul(y, logsigmoid(x)),
                         _E.mul(_E.sub(1.0, y),
                                logsigmoid(_E.neg(x)))))
    if weight is not None:
        loss = _E.mul(loss, weight)
    loss = _E.div(_R.sum(loss, -1), float(x.shape[-1]))
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target == 1, max(0, cos(x1, x2) - margin) where target == -1;
    cos over the last dim of (N, D) or (D,) inputs."""
    who = "cosine_embedding_loss"
    reduction = _legacy(size_average, reduce, reduction, who)
    x1, x2 = _float_in(input1, who), _float_in(input2, who)
    y = _to_tensor(target, who) if not isinstance(target, Tensor) else target
    if x1.ndim not in (1, 2) or tuple(x1.shape) != tuple(x2.shape) or y.ndim != x1.ndim - 1:
        raise ShapeError(f"{who}: expected inputs of one shape (N, D) or (D,) and a target "
                         f"(N,) or (), got {tuple(x1.shape)}, {tuple(x2.shape)} and "
                         f"{tuple(y.shape)}")
    eps = 1e-12
    prod = _R.sum(_E.mul(x1, x2), -1)
    m1 = _E.add(_R.sum(_E.mul(x1, x1), -1), eps)
    m2 = _E.add(_R.sum(_E.mul(x2, x2), -1), eps)
    cos = _E.div(prod, _E.sqrt(_E.mul(m1, m2)))
    pos = _E.where(_E.eq(y, 1), _E.sub(1.0, cos), 0.0)
    neg = _E.where(_E.eq(y, -1), _E.clamp(_E.sub(cos, float(margin)), 0.0), 0.0)
    return _reduce(_E.add(pos, neg), reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, margin + d(anchor, positive) - d(anchor, negative)), d the p-norm pairwise
    distance over the last dim; ``swap``: d(anchor, negative) replaced by
    min(d(anchor, negative), d(positive, negative))."""
    who = "triplet_margin_loss"
    reduction = _legacy(size_average, reduce, reduction, who)
    a, pp, n = (_float_in(t, who) for t in (anchor, positive, negative))
    if not (a.ndim == pp.ndim == n.ndim) or a.ndim not in (1, 2):
        raise ShapeError(f"{who}: expected anchor, positive and negative of the same 1-d or 2-d "
                         f"shape kind, got {tuple(a.shape)}, {tuple(pp.shape)} and "
                         f"{tuple(n.shape)}")
    if margin <= 0:
        raise ArgumentError(f"{who}: margin must be greater than 0, got {margin}")
    from fastgrad.nn.functional import pairwise_distance
    d_pos = pairwise_distance(a, pp, p, eps)
    d_neg = pairwise_distance(a, n, p, eps)
    if swap:
        d_neg = _E.minimum(d_neg, pairwise_distance(pp, n, p, eps))
    loss = _E.clamp(_E.add(_E.sub(d_pos, d_neg), float(margin)), 0.0)
    return _reduce(loss, reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Poisson negative log-likelihood: exp(input) - target * input (``log_input``), or
    input - target * log(input + eps); ``full`` adds Stirling's approximation
    target * log(target) - target + 0.5 * log(2 pi target) where target > 1."""
    who = "poisson_nll_loss"
    reduction = _legacy(size_average, reduce, reduction, who)
    x, y = _float_in(input, who), _float_in(target, who)
    if log_input:
        loss = _E.sub(_E.exp(x), _E.mul(y, x))
    else:
        loss = _E.sub(x, _E.mul(y, _E.log(_E.add(x, float(eps)))))
    if full:
        yd = y._data
        with np.errstate(divide="ignore", invalid="ignore"):
            st = yd * np.log(yd) - yd + 0.5 * np.log(2 * np.pi * yd)
        st = np.asarray(np.where(yd > 1, st, 0.0), dtype=yd.dtype)
        loss = _E.add(loss, _make(st))
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """Gaussian negative log-likelihood 0.5 * (log(var) + (input - target)^2 / var), var
    clamped below at ``eps`` (the clamp passes the gradient through unchanged, as PyTorch);
    ``full`` adds 0.5 * log(2 pi).  ``var``: the input's shape, that shape without its last
    dim or with a last dim of 1 (one variance per sample), or a float."""
    who = "gaussian_nll_loss"
    _check_reduction(reduction, who)
    x, y = _float_in(input, who), _float_in(target, who)
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        v = _make(np.full(x.shape, float(var), dtype=x._data.dtype))
    else:
        v = _float_in(var, who)
    xs, vs = tuple(x.shape), tuple(v.shape)
    if vs != xs:
        if xs[:-1] == vs:
            v = _S.unsqueeze(v, -1)
        elif not (xs[:-1] == vs[:-1] and vs and vs[-1] == 1):
            raise ShapeError(f"{who}: var is of incorrect size: shape {vs} for the input of shape "
                             f"{xs}")
    if np.any(v._data < 0):
        raise ArgumentError(f"{who}: var has negative entry/entries")
    vd = v._data
    lift = _make(np.asarray(np.maximum(vd, eps) - vd, dtype=vd.dtype))
    v = _E.add(v, lift)
    loss = _E.mul(_E.add(_E.log(v), _E.div(_E.square(_E.sub(x, y)), v)), 0.5)
    if full:
        loss = _E.add(loss, 0.5 * math.log(2 * math.pi))
    return _reduce(loss, reduction)


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Optional[Tensor] = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss of (N, C) or (C,) scores at class indices (N,) or ():
    sum over i != y of max(0, margin - x[y] + x[i])^p, times weight[y], divided by C."""
    who = "multi_margin_loss"
    reduction = _legacy(size_average, reduce, reduction, who)
    if p not in (1, 2):
        raise ArgumentError(f"{who}: only p == 1 and p == 2 are supported, got {p!r}")
    x = _float_in(input, who)
    t = _to_tensor(target, who) if not isinstance(target, Tensor) else target
    if x.ndim not in (1, 2) or t.ndim != x.ndim - 1 or (x.ndim == 2 and t.shape[0] != x.shape[0]):
        raise ShapeError(f"{who}: expected input (N, C) or (C,) and target (N,) or (), got "
                         f"shapes {tuple(x.shape)} and {tuple(t.shape)}")
    c = x.shape[-1]
    td = np.asarray(t._data).astype(np.int64)
    if td.size and (td.min() < 0 or td.max() >= c):
        raise IndexError(f"{who}: target {int(td.min() if td.min() < 0 else td.max())} is out "
                         f"of bounds for {c} classes")
    x2 = x if x.ndim == 2 else _S.unsqueeze(x, 0)
    td2 = td.reshape(-1, 1)
    xy = _X.gather(x2, 1, _make(td2))
    z = _E.clamp(_E.add(_E.sub(x2, xy), float(margin)), 0.0)
    if p == 2:
        z = _E.mul(z, z)
    if weight is not None:
        wy = _X.index_select(_float_in(weight, who), 0, _make(td2.reshape(-1)))
        z = _E.mul(z, _S.reshape(wy, (-1, 1)))
    keep = np.ones(x2.shape, dtype=bool)
    keep[np.arange(x2.shape[0]), td2[:, 0]] = False
    z = _E.where(_make(keep), z, 0.0)
    loss = _E.div(_R.sum(z, 1), float(c))
    if x.ndim == 1:
        loss = _S.reshape(loss, ())
    return _reduce(loss, reduction)


# ---- modules ---------------------------------------------------------------------------------------
class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _legacy(size_average, reduce, reduction, type(self).__name__)


class MarginRankingLoss(_Loss):
    """margin_ranking_loss: max(0, -y * (x1 - x2) + margin)."""
    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return margin_ranking_loss(input1, input2, target, self.margin, reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """hinge_embedding_loss: x where y == 1, max(0, margin - x) where y == -1."""
    def __init__(self, margin: float = 1.0, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return hinge_embedding_loss(input, target, self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """soft_margin_loss: log(1 + exp(-y * x))."""
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_Loss):
    """multilabel_soft_margin_loss: per-class logistic losses averaged over the classes."""
    weight: Optional[Tensor]

    def __init__(self, weight: Optional[Tensor] = None, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return multilabel_soft_margin_loss(input, target, self.weight, reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """cosine_embedding_loss: 1 - cos where y == 1, max(0, cos - margin) where y == -1."""
    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return cosine_embedding_loss(input1, input2, target, self.margin,
                                     reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """triplet_margin_loss: max(0, margin + d(a, p) - d(a, n))."""
    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ArgumentError(f"TripletMarginLoss: margin must be greater than 0, got {margin}")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps,
                                   self.swap, reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """poisson_nll_loss: exp(x) - y * x (log_input) or x - y * log(x + eps)."""
    def __init__(self, log_input: bool = True, full: bool = False, size_average=None,
                 eps: float = 1e-8, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input: Tensor, target: Tensor) -> Tensor:
        return poisson_nll_loss(log_input, target, self.log_input, self.full, eps=self.eps,
                                reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """gaussian_nll_loss: 0.5 * (log(var) + (x - y)^2 / var)."""
    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.full, self.eps = full, eps

    def forward(self, input: Tensor, target: Tensor, var) -> Tensor:
        return gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class MultiMarginLoss(_Loss):
    """multi_margin_loss: the multi-class hinge loss."""
    weight: Optional[Tensor]

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Optional[Tensor] = None,
                 size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if p not in (1, 2):
            raise ArgumentError(f"MultiMarginLoss: only p == 1 and p == 2 are supported, got {p!r}")
        self.p, self.margin = p, margin
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return multi_margin_loss(input, target, self.p, self.margin, self.weight,
                                 reduction=self.reduction)
