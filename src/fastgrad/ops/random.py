"""Random sampling: ``multinomial`` and ``bernoulli``, and the in-place fills
``Tensor.normal_``, ``uniform_``, ``exponential_``, ``log_normal_``, ``cauchy_``,
``geometric_``, ``random_`` and ``bernoulli_``.

Every draw comes from fastgrad's generator (``fastgrad.manual_seed`` makes it
reproducible) or the ``generator=`` given.  The streams are NumPy's (PCG64), not
PyTorch's: the same seed gives different numbers than in PyTorch, with the same
distributions.  The results carry no gradient; an in-place fill is a ``copy_`` of the
drawn values, so it bumps the version counter and, under autograd, gives the old values
a zero gradient, as in PyTorch.
"""
from __future__ import annotations

import math

import numpy as np

from fastgrad.errors import ArgumentError, ShapeError
from fastgrad._factory import default_generator
from fastgrad._tensor import Tensor
from fastgrad.ops._record import _make, _to_tensor, exports, public


def _rng(generator):
    return (generator or default_generator).rng


def _probs(a, who):
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{who}: expected a floating point tensor of probabilities, got {a.dtype}")
    if a.size and (not np.all(np.isfinite(a)) or np.any(a < 0)):
        raise ArgumentError(f"{who}: the probability tensor contains inf, nan or an element < 0")


@public(method=True)
def multinomial(input: Tensor, num_samples, replacement: bool = False, *, generator=None) -> Tensor:
    """Indices drawn from the categories weighted by ``input`` (1-d: one distribution,
    2-d: one per row; weights need not sum to 1), int64 of shape (num_samples,) or
    (rows, num_samples).  Without replacement each category is drawn at most once, so
    num_samples may not exceed the number of non-zero weights."""
    w = _to_tensor(input, "multinomial")._data
    if w.ndim not in (1, 2):
        raise ShapeError(f"multinomial: input must be 1-d or 2-d, got shape {tuple(w.shape)}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
        raise ArgumentError(f"multinomial: num_samples must be a positive int, got {num_samples!r}")
    n = w.shape[-1]
    if n == 0:
        raise ArgumentError("multinomial: input has no categories")
    _probs(w, "multinomial")
    rows = w.reshape(-1, n).astype(np.float64)
    sums = rows.sum(axis=1)
    if np.any(sums <= 0):
        raise ArgumentError("multinomial: the weights of a distribution sum to 0")
    if not replacement and num_samples > n:
        raise ArgumentError(f"multinomial: cannot draw {num_samples} samples without replacement from "
                         f"{n} categories")
    g = _rng(generator)
    out = np.empty((rows.shape[0], int(num_samples)), np.int64)
    for r, p in enumerate(rows):
        if replacement:
            c = np.cumsum(p)
            u = g.random(int(num_samples)) * c[-1]
            out[r] = np.minimum(np.searchsorted(c, u, side="right"), n - 1)
        else:
            nz = int(np.count_nonzero(p))
            if num_samples > nz:
                raise ArgumentError(f"multinomial: cannot draw {num_samples} samples without replacement "
                                 f"from a distribution with {nz} non-zero weights")
            out[r] = g.choice(n, int(num_samples), replace=False, p=p / p.sum())
    return _make(out.reshape(w.shape[:-1] + (int(num_samples),)))


@public(method=True)
def bernoulli(input: Tensor, p=None, *, generator=None) -> Tensor:
    """0 or 1 (in input's dtype) for each element, 1 with probability input[i] (or p, a
    number, for every element)."""
    x = _to_tensor(input, "bernoulli")
    dt = x._data.dtype if x._data.dtype.kind == "f" else np.dtype(np.float32)
    if p is None:
        probs = x._data
        _probs(probs, "bernoulli")
        if probs.size and np.any(probs > 1):
            raise ArgumentError("bernoulli: probabilities must be in [0, 1]")
    else:
        probs = _check_p(p, "bernoulli")
    u = _rng(generator).random(x._data.shape)
    return _make((u < probs).astype(dt))


def _check_p(p, who):
    if isinstance(p, Tensor):
        a = p._data
        _probs(a, who)
        if a.size and np.any(a > 1):
            raise ArgumentError(f"{who}: probabilities must be in [0, 1]")
        return a
    if not 0 <= p <= 1:
        raise ArgumentError(f"{who}: p must be in [0, 1], got {p}")
    return p


# ---- in-place fills ---------------------------------------------------------------------------
def _fill(x, values, who):
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: expected a Tensor, got {type(x).__name__}")
    return copy_(x, _make(np.asarray(values).astype(x._data.dtype, copy=False)))


def _float_only(x, who):
    if not isinstance(x, Tensor) or x._data.dtype.kind != "f":
        raise TypeError(f"{who}: expected a floating point tensor, got "
                        f"{x._data.dtype if isinstance(x, Tensor) else type(x).__name__}")


@public(method=True, export=False)
def bernoulli_(input, p=0.5, *, generator=None):
    """Fill with 0 or 1, 1 with probability p (a number or a tensor broadcast to input)."""
    probs = _check_p(p, "bernoulli_")
    u = _rng(generator).random(input._data.shape)
    return _fill(input, u < probs, "bernoulli_")


@public(method=True, export=False)
def normal_(input, mean=0.0, std=1.0, *, generator=None):
    """Fill ``input`` in place with samples of N(mean, std**2); returns it."""
    _float_only(input, "normal_")
    if std < 0:
        raise ArgumentError(f"normal_: std must be >= 0, got {std}")
    return _fill(input, _rng(generator).normal(mean, std, input._data.shape), "normal_")


@public(method=True, export=False)
def uniform_(input, a=0.0, b=1.0, *, generator=None):
    """Fill with numbers drawn uniformly from [a, b)."""
    _float_only(input, "uniform_")
    if a > b:
        raise ArgumentError(f"uniform_: expected a <= b, got a={a}, b={b}")
    return _fill(input, _rng(generator).uniform(a, b, input._data.shape), "uniform_")


@public(method=True, export=False)
def exponential_(input, lambd=1.0, *, generator=None):
    """Fill ``input`` in place with samples of the exponential distribution of rate ``lambd``;
    returns it."""
    _float_only(input, "exponential_")
    if not lambd > 0:
        raise ArgumentError(f"exponential_: lambd must be > 0, got {lambd}")
    return _fill(input, _rng(generator).exponential(1.0 / lambd, input._data.shape), "exponential_")


@public(method=True, export=False)
def log_normal_(input, mean=1.0, std=2.0, *, generator=None):
    """Fill ``input`` in place with exp(N(mean, std**2)) samples; returns it."""
    _float_only(input, "log_normal_")
    if not std > 0:
        raise ArgumentError(f"log_normal_: std must be > 0, got {std}")
    return _fill(input, _rng(generator).lognormal(mean, std, input._data.shape), "log_normal_")


@public(method=True, export=False)
def cauchy_(input, median=0.0, sigma=1.0, *, generator=None):
    """Fill ``input`` in place with samples of the Cauchy distribution (``median``, scale
    ``sigma``); returns it."""
    _float_only(input, "cauchy_")
    return _fill(input, median + sigma * _rng(generator).standard_cauchy(input._data.shape), "cauchy_")


@public(method=True, export=False)
def geometric_(input, p, *, generator=None):
    """Fill with the number of Bernoulli(p) trials up to the first success (>= 1)."""
    if not 0 < p < 1:
        raise ArgumentError(f"geometric_: p must be in (0, 1), got {p}")
    return _fill(input, _rng(generator).geometric(p, input._data.shape), "geometric_")


def _random_top(dt):
    if dt.kind == "f":
        return 2 ** (np.finfo(dt).nmant + 1) + 1   # [0, 2**mantissa]: every one exact
    if dt.kind == "b":
        return 2
    return int(np.iinfo(dt).max) + 1


@public(method=True, export=False)
def random_(input, from_=None, to=None, *, generator=None, **kwargs):
    """Fill with integers drawn uniformly from [from, to - 1]: random_() from
    [0, 2**mantissa] for floats (every integer exact) and [0, max] for integers;
    random_(to) from [0, to - 1].  ``from`` may be given by keyword."""
    if "from" in kwargs:
        from_ = kwargs.pop("from")
    if kwargs:
        raise TypeError(f"random_: unexpected keyword arguments {sorted(kwargs)}")
    dt = input._data.dtype
    if from_ is None and to is None:
        lo, hi = 0, _random_top(dt)
    elif to is None:
        lo, hi = 0, int(from_)
    else:
        lo, hi = int(from_), int(to)
    if hi <= lo:
        raise ArgumentError(f"random_: expected from < to, got from={lo}, to={hi}")
    if math.log2(max(abs(lo), abs(hi), 1)) > 64:
        raise ArgumentError(f"random_: range [{lo}, {hi}) is out of range for {dt}")
    vals = _rng(generator).integers(lo, hi, input._data.shape, dtype=np.int64 if hi <= 2 ** 63 else np.uint64)
    return _fill(input, vals, "random_")


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.inplace import copy_
