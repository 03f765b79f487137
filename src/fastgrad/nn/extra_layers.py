"""More of torch.nn's activation layers: PReLU, GLU, Hardshrink, Softshrink, Tanhshrink,
Threshold, RReLU and Softmax2d, each the module form of a function of
``fastgrad.nn.functional`` with PyTorch's constructor arguments and parameters."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fastgrad.errors import ArgumentError, ShapeError
from fastgrad.nn import functional_extra as FX
from fastgrad.nn.layers import _dtype
from fastgrad.nn.module import Module
from fastgrad.nn.parameter import Parameter
from fastgrad.ops import reduce as _red
from fastgrad.ops._record import _float_in, _shape

if TYPE_CHECKING:
    from fastgrad._tensor import Tensor

__all__ = ["PReLU", "GLU", "Hardshrink", "Softshrink", "Tanhshrink", "Threshold", "RReLU",
           "Softmax2d"]


class PReLU(Module):
    """x where x > 0, else weight * x, with a learnable ``weight`` of shape
    (num_parameters,) initialised to ``init`` (one slope shared by all channels, or one
    per channel, the input's dim 1)."""
    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None,
                 dtype=None) -> None:
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, (int, np.integer)) \
                or num_parameters < 1:
            raise ArgumentError(f"PReLU: num_parameters must be a positive int, got "
                                f"{num_parameters!r}")
        self.num_parameters = int(num_parameters)
        self.init = init
        self.weight = Parameter(np.full((self.num_parameters,), init, dtype=_dtype(dtype)))

    def reset_parameters(self) -> None:
        self.weight._data[...] = self.init

    def forward(self, x: Tensor) -> Tensor:
        return FX.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class GLU(Module):
    """a * sigmoid(b), a and b the halves of the input along ``dim``."""
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return FX.glu(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Hardshrink(Module):
    """x where |x| > lambd, else 0."""
    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, x: Tensor) -> Tensor:
        return FX.hardshrink(x, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Module):
    """x - lambd where x > lambd, x + lambd where x < -lambd, else 0."""
    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, x: Tensor) -> Tensor:
        return FX.softshrink(x, self.lambd)

    def extra_repr(self):
        return str(self.lambd)


class Tanhshrink(Module):
    """x - tanh(x)."""
    def forward(self, x: Tensor) -> Tensor:
        return FX.tanhshrink(x)


class Threshold(Module):
    """x where x > threshold, else value."""
    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return FX.threshold(x, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        inplace = ", inplace=True" if self.inplace else ""
        return f"threshold={self.threshold}, value={self.value}{inplace}"


class RReLU(Module):
    """Randomized leaky ReLU: in training, negative inputs are scaled by slopes drawn from
    U(lower, upper); in eval mode by their mean (lower + upper) / 2."""
    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
                 inplace: bool = False) -> None:
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return FX.rrelu(x, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        inplace = ", inplace=True" if self.inplace else ""
        return f"lower={self.lower}, upper={self.upper}{inplace}"


class Softmax2d(Module):
    """softmax over the channels of (N, C, H, W) or (C, H, W) input (dim -3)."""
    def forward(self, x: Tensor) -> Tensor:
        x = _float_in(x, "Softmax2d")
        if x._data.ndim not in (3, 4):
            raise ShapeError(f"Softmax2d: expected a 3-d or 4-d input, got shape {_shape(x)}")
        return _red.softmax(x, -3)
