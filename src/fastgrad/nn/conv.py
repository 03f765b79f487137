"""Convolution, pooling and resampling modules with torch.nn's names, arguments and
initialisation (weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in =
C_in / groups * prod(kernel))."""
from __future__ import annotations

import math

from fastgrad.ops import _record as _rec, shape as _sh
from fastgrad.ops.conv import _ntuple
from fastgrad.nn import functional as F
from fastgrad.nn import init
from fastgrad.nn.layers import _cpu_device, _param, _positive_int
from fastgrad.nn.module import Module

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Optional
    from fastgrad._tensor import Tensor
    from fastgrad._typing import DType
if TYPE_CHECKING:
    from fastgrad._tensor import Tensor


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _NSP = 2
    _TRANSPOSED = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", output_padding=0,
                 dtype: Optional[DType] = None) -> None:
        super().__init__()
        who = type(self).__name__
        n = self._NSP
        self.in_channels = _positive_int(in_channels, "in_channels", who)
        self.out_channels = _positive_int(out_channels, "out_channels", who)
        self.groups = _positive_int(groups, "groups", who)
        if self.groups == 0 or self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{who}: in_channels {in_channels} and out_channels {out_channels} must "
                             f"be divisible by groups {groups}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{who}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        if self._TRANSPOSED and padding_mode != "zeros":
            raise ValueError(f"{who}: only padding_mode='zeros' is supported for transposed "
                             f"convolutions, got {padding_mode!r}")
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", who, 1)
        self.stride = _ntuple(stride, n, "stride", who, 1)
        self.dilation = _ntuple(dilation, n, "dilation", who, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid") or self._TRANSPOSED:
                raise ValueError(f"{who}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{who}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, n, "padding", who, 0)
        self.output_padding = _ntuple(output_padding, n, "output_padding", who, 0)
        self.padding_mode = padding_mode
        # non-zero padding modes pad the input explicitly (pad's order: last dim first),
        # then convolve without padding; "same" may pad one more on the high side
        pads = []
        for d in reversed(range(n)):
            if self.padding == "same":
                total = self.dilation[d] * (self.kernel_size[d] - 1)
                pads += [total // 2, total - total // 2]
            elif self.padding == "valid":
                pads += [0, 0]
            else:
                pads += [self.padding[d], self.padding[d]]
        self._mode_pad = tuple(pads)
        if self._TRANSPOSED:
            wshape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        else:
            wshape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = _param(wshape, dtype)
        if bias:
            self.bias = _param((self.out_channels,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Re-initialise as PyTorch does: Kaiming-uniform weight, bias ~ U(-1/sqrt(fan_in),
        1/sqrt(fan_in))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def _check(self, x):
        x = _rec._float_in(x, type(self).__name__)
        n = self._NSP
        if x._data.ndim not in (n + 1, n + 2):
            raise ValueError(f"{self._name()}: expected {n + 1}-D (unbatched) or {n + 2}-D (batched) "
                             f"input, got shape {tuple(x._data.shape)}")
        c = x._data.shape[x._data.ndim - n - 1]
        if c != self.in_channels:
            raise ValueError(f"{self._name()}: expected input with {self.in_channels} channels, got "
                             f"{c} channels (input shape {tuple(x._data.shape)})")
        return x

    def _padded(self, x):
        """(input, padding) for the functional convolution: with a non-zero padding mode
        the input padded by that mode and no further padding."""
        if self.padding_mode == "zeros":
            return x, self.padding
        return _sh.pad(x, self._mode_pad, mode=self.padding_mode), 0

    def _name(self):
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size})"

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._NSP:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._NSP:
            s += f", dilation={self.dilation}"
        if self._TRANSPOSED and self.output_padding != (0,) * self._NSP:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L); weight (C_out, C_in / groups, K)."""
    _NSP = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None,
                 dtype: Optional[DType] = None) -> None:
        _cpu_device(device, type(self).__name__)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, 0, dtype)

    def forward(self, x: Tensor) -> Tensor:
        x, padding = self._padded(self._check(x))
        return F.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W); weight (C_out, C_in / groups, KH, KW)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None,
                 dtype: Optional[DType] = None) -> None:
        _cpu_device(device, type(self).__name__)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, 0, dtype)

    def forward(self, x: Tensor) -> Tensor:
        x, padding = self._padded(self._check(x))
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class ConvTranspose1d(_ConvNd):
    """Transposed 1-D convolution; weight (C_in, C_out / groups, K)."""
    _NSP = 1
    _TRANSPOSED = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype: Optional[DType] = None) -> None:
        _cpu_device(device, type(self).__name__)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, output_padding, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose1d(self._check(x), self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution; weight (C_in, C_out / groups, KH, KW)."""
    _TRANSPOSED = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype: Optional[DType] = None) -> None:
        _cpu_device(device, type(self).__name__)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, output_padding, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(self._check(x), self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)


# ---- pooling --------------------------------------------------------------------------------
class _MaxPoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling. Input (N, C, *spatial) or (C, *spatial); ``kernel_size``, ``stride``
    (default: ``kernel_size``) and ``padding`` are ints or tuples. ``return_indices`` also
    returns the argmax positions (for ``MaxUnpool1d``)."""
    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling. Input (N, C, *spatial) or (C, *spatial); ``kernel_size``, ``stride``
    (default: ``kernel_size``) and ``padding`` are ints or tuples. ``return_indices`` also
    returns the argmax positions (for ``MaxUnpool2d``)."""
    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class AvgPool1d(Module):
    """1-D average pooling. Input (N, C, *spatial) or (C, *spatial); ``kernel_size``,
    ``stride`` (default: ``kernel_size``) and ``padding`` are ints or tuples.
    ``count_include_pad`` counts the zero padding in the average."""
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(AvgPool1d):
    """2-D average pooling. Input (N, C, *spatial) or (C, *spatial); ``kernel_size``,
    ``stride`` (default: ``kernel_size``) and ``padding`` are ints or tuples.
    ``count_include_pad`` counts the zero padding in the average; ``divisor_override``
    replaces the window size as the divisor."""
    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AdaptiveAvgPool1d(Module):
    """1-D average pooling to a fixed ``output_size``: each output element averages its share
    of the input (PyTorch's window boundaries)."""
    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool1d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(AdaptiveAvgPool1d):
    """2-D average pooling to a fixed ``output_size`` (an int or a pair; None keeps that input
    size)."""
    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)


class GlobalAvgPool2d(Module):
    """Mean over H and W of (N, C, H, W): (N, C) (keepdim=True: (N, C, 1, 1))."""

    def __init__(self, keepdim: bool = False) -> None:
        super().__init__()
        self.keepdim = keepdim

    def forward(self, x: Tensor) -> Tensor:
        y = F.adaptive_avg_pool2d(x, 1)
        return y if self.keepdim else _sh.flatten(y, -3)

    def extra_repr(self):
        return f"keepdim={self.keepdim}"


class Upsample(Module):
    """Resize with F.interpolate: mode 'nearest', 'nearest-exact', 'linear', 'bilinear',
    'trilinear' or 'area'."""

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None) -> None:
        super().__init__()
        self.size, self.scale_factor, self.mode, self.align_corners = size, scale_factor, mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self):
        return f"size={self.size}, scale_factor={self.scale_factor}, mode={self.mode!r}"


class Conv3d(_ConvNd):
    """3-D convolution over (N, C_in, D, H, W); weight (C_out, C_in / groups, KD, KH, KW)."""
    _NSP = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None,
                 dtype: Optional[DType] = None) -> None:
        _cpu_device(device, "Conv3d")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, 0, dtype)

    def forward(self, x: Tensor) -> Tensor:
        x, padding = self._padded(self._check(x))
        return F.conv3d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class ConvTranspose3d(_ConvNd):
    """Transposed 3-D convolution over (N, C_in, D, H, W); weight (C_in, C_out / groups,
    KD, KH, KW)."""
    _NSP = 3
    _TRANSPOSED = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        _cpu_device(device, "ConvTranspose3d")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, output_padding, dtype)

    def forward(self, x):
        return F.conv_transpose3d(self._check(x), self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling. Input (N, C, *spatial) or (C, *spatial); ``kernel_size``, ``stride``
    (default: ``kernel_size``) and ``padding`` are ints or tuples. ``return_indices`` also
    returns the argmax positions (for ``MaxUnpool3d``)."""
    def forward(self, x):
        return F.max_pool3d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class AvgPool3d(Module):
    """3-D average pooling. Input (N, C, *spatial) or (C, *spatial); ``kernel_size``,
    ``stride`` (default: ``kernel_size``) and ``padding`` are ints or tuples.
    ``count_include_pad`` counts the zero padding in the average; ``divisor_override``
    replaces the window size as the divisor."""
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _MaxUnpoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool1d``: places each value at its index from
    ``return_indices``, zeros elsewhere."""
    def forward(self, input: Tensor, indices: Tensor, output_size=None) -> Tensor:
        return F.max_unpool1d(input, indices, self.kernel_size, self.stride, self.padding,
                              output_size)


class MaxUnpool2d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool2d``: places each value at its index from
    ``return_indices``, zeros elsewhere."""
    def forward(self, input: Tensor, indices: Tensor, output_size=None) -> Tensor:
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding,
                              output_size)


class MaxUnpool3d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool3d``: places each value at its index from
    ``return_indices``, zeros elsewhere."""
    def forward(self, input: Tensor, indices: Tensor, output_size=None) -> Tensor:
        return F.max_unpool3d(input, indices, self.kernel_size, self.stride, self.padding,
                              output_size)
