"""Parameter initialisation, in place, with PyTorch's names and formulas.

Random draws come from fastgrad's global generator (``fastgrad.manual_seed``) unless a
``generator`` (a ``numpy.random.Generator`` or the object ``manual_seed`` returns) is
given.  Each function fills ``tensor._data`` in place, bumps its version counter and
returns the tensor.
"""
import math

import numpy as np

from fastgrad import _factory
from fastgrad._tensor import Tensor

_GAINS = {"linear": 1.0, "identity": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0,
          "conv_transpose1d": 1.0, "conv_transpose2d": 1.0, "conv_transpose3d": 1.0,
          "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 3.0 / 4}


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for an activation (the factor that keeps activations' variance)."""
    if nonlinearity in _GAINS:
        return _GAINS[nonlinearity]
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _check(tensor, who):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{who}: expected a Tensor, got {type(tensor).__name__}")
    if tensor._data.dtype.kind != "f":
        raise TypeError(f"{who}: only floating point tensors can be initialised, got {tensor._data.dtype}")


def _rng(generator):
    if generator is None:
        return _factory.default_generator.rng
    if isinstance(generator, np.random.Generator):
        return generator
    return generator.rng


def _fill(tensor, values):
    tensor._data[...] = values
    tensor._version[0] += 1
    return tensor


def _calculate_fan_in_and_fan_out(tensor):
    shape = tensor._data.shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out cannot be computed for a tensor with fewer than 2 "
                         f"dimensions (shape {tuple(shape)})")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor, mode, who):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{who}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill ``tensor`` in place with samples of U(a, b); returns it."""
    _check(tensor, "uniform_")
    if not a <= b:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    return _fill(tensor, _rng(generator).uniform(a, b, tensor._data.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill ``tensor`` in place with samples of N(mean, std**2); returns it."""
    _check(tensor, "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    return _fill(tensor, _rng(generator).normal(mean, std, tensor._data.shape))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Normal(mean, std) restricted to [a, b] (rejection sampling, exact)."""
    _check(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    # rejection sampling; refuse intervals so far in the tail that it would not finish
    def cdf(v):
        return 0.5 * (1 + math.erf((v - mean) / (std * math.sqrt(2)))) if std > 0 else float(v >= mean)

    if cdf(b) - cdf(a) < 1e-4:
        raise ValueError(f"trunc_normal_: [{a}, {b}] holds less than 1e-4 of the mass of "
                         f"N({mean}, {std}^2); choose an interval nearer the mean")
    rng = _rng(generator)
    n = tensor._data.size
    out = np.empty(n)
    filled = 0
    while filled < n:
        draw = rng.normal(mean, std, max(16, 2 * (n - filled)))
        draw = draw[(draw >= a) & (draw <= b)][: n - filled]
        out[filled:filled + draw.size] = draw
        filled += draw.size
    return _fill(tensor, out.reshape(tensor._data.shape))


def constant_(tensor, val):
    """Fill ``tensor`` in place with ``val``; returns it."""
    _check(tensor, "constant_")
    return _fill(tensor, val)


def zeros_(tensor):
    """Fill ``tensor`` in place with zeros; returns it."""
    return constant_(tensor, 0.0)


def ones_(tensor):
    """Fill ``tensor`` in place with ones; returns it."""
    return constant_(tensor, 1.0)


def eye_(tensor):
    """Fill the 2-D ``tensor`` in place with the identity matrix (ones on the main diagonal);
    returns it."""
    _check(tensor, "eye_")
    if tensor._data.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tuple(tensor._data.shape)}")
    return _fill(tensor, np.eye(*tensor._data.shape))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    _check(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0
    return _fill(tensor, _rng(generator).uniform(-a, a, tensor._data.shape))


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0
    return _fill(tensor, _rng(generator).normal(0.0, std, tensor._data.shape))


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)."""
    _check(tensor, "kaiming_uniform_")
    fan = _fan(tensor, mode, "kaiming_uniform_")
    if fan == 0:
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return _fill(tensor, _rng(generator).uniform(-bound, bound, tensor._data.shape))


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std^2), std = gain / sqrt(fan)."""
    _check(tensor, "kaiming_normal_")
    fan = _fan(tensor, mode, "kaiming_normal_")
    if fan == 0:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _fill(tensor, _rng(generator).normal(0.0, std, tensor._data.shape))


def orthogonal_(tensor, gain=1.0, generator=None):
    """Fill ``tensor`` (2 or more dimensions, read as (rows, everything else)) with a
    (semi-)orthogonal matrix times ``gain``: the Q of the QR decomposition of a standard
    normal draw, with the signs of R's diagonal folded in, as PyTorch does."""
    _check(tensor, "orthogonal_")
    shape = tensor._data.shape
    if len(shape) < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, got shape "
                         f"{tuple(shape)}")
    if tensor._data.size == 0:
        return tensor
    rows = shape[0]
    cols = tensor._data.size // rows
    flat = _rng(generator).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (q * gain).reshape(shape))


__all__ = ["orthogonal_", "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "zeros_",
           "ones_", "eye_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_"]
