"""Loss modules: thin wrappers holding the options of the functional losses."""
from __future__ import annotations

from fastgrad.nn import functional as F
from fastgrad.nn.module import Module
from fastgrad.ops import loss as _loss

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Optional
    from fastgrad._tensor import Tensor
if TYPE_CHECKING:
    from fastgrad._tensor import Tensor


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        _loss._check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax + negative log-likelihood of logits (N, C, ...) at class indices (N, ...),
    one fused kernel when there are no class weights; or the cross-entropy with class
    probabilities (a floating target of the input's shape)."""

    def __init__(self, weight: Optional[Tensor] = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        _buffer(self, "weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of class-index targets given log-probabilities (input (N, C) or
    (N, C, d1, ...), target (N,) or (N, d1, ...)): -input[n, target[n]], weighted by
    ``weight[target]``; targets equal to ``ignore_index`` are skipped. ``reduction``: "mean"
    (default), "sum" or "none" (the per-element losses)."""
    def __init__(self, weight: Optional[Tensor] = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        _buffer(self, "weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """The squared error (input - target)**2. ``reduction``: "mean" (default), "sum" or "none"
    (the per-element losses)."""
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """The absolute error |input - target|. ``reduction``: "mean" (default), "sum" or "none"
    (the per-element losses)."""
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, self.reduction)


class HuberLoss(_Loss):
    """0.5 * d**2 where |d| < delta, else delta * (|d| - 0.5 * delta), d = input - target.
    ``reduction``: "mean" (default), "sum" or "none" (the per-element losses)."""
    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, self.reduction, self.delta)


class SmoothL1Loss(_Loss):
    """0.5 * d**2 / beta where |d| < beta, else |d| - 0.5 * beta, d = input - target.
    ``reduction``: "mean" (default), "sum" or "none" (the per-element losses)."""
    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


def _buffer(module, name, value):
    """Class weights are buffers, as in PyTorch: in state_dict, cast by .to()."""
    if value is None:
        setattr(module, name, None)
    else:
        from fastgrad._tensor import Tensor
        module.register_buffer(name, value if isinstance(value, Tensor) else Tensor(value))


class BCELoss(_Loss):
    """Binary cross entropy of probabilities: -(target * log(input) + (1 - target) * log(1 -
    input)), the logs clamped at -100 as in PyTorch, optionally weighted. ``reduction``:
    "mean" (default), "sum" or "none" (the per-element losses)."""
    def __init__(self, weight: Optional[Tensor] = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        _buffer(self, "weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross entropy of logits, computed stably from the logits (sigmoid inside);
    ``pos_weight`` weights the positive term per class. ``reduction``: "mean" (default),
    "sum" or "none" (the per-element losses)."""
    def __init__(self, weight: Optional[Tensor] = None, reduction: str = "mean",
                 pos_weight: Optional[Tensor] = None) -> None:
        super().__init__(reduction)
        _buffer(self, "weight", weight)
        _buffer(self, "pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)


class KLDivLoss(Module):
    """Kullback-Leibler divergence target * (log(target) - input), with ``input``
    log-probabilities (``log_target``: target given as log-probabilities too).
    ``reduction``: "mean" (default), "batchmean" (the mathematically correct KL divergence),
    "sum" or "none"."""
    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none", "batchmean"):
            raise ValueError(f"KLDivLoss: reduction must be 'mean', 'sum', 'none' or 'batchmean', "
                             f"got {reduction!r}")
        self.reduction = reduction
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.kl_div(input, target, self.reduction, self.log_target)
