"""``fastgrad.distributions``: the probability distributions policy-gradient and VAE scripts
use, with PyTorch's names, arguments and formulas: :class:`Categorical` and
:class:`Normal`.  ``log_prob``, ``entropy`` and ``rsample`` are built from fastgrad ops,
so they are differentiable in the distribution's parameters; ``sample`` draws without a
graph from fastgrad's generator (``fastgrad.manual_seed``).  Arguments are validated as
PyTorch validates them by default (``validate_args=None``): a parameter outside its
constraint, or a ``log_prob`` value outside the support, raises ``ValueError``.  Other
PyTorch distributions are not provided.
"""
from __future__ import annotations

import math

import numpy as np

import fastgrad as _fg
from fastgrad._tensor import Tensor

__all__ = ["Distribution", "Categorical", "Normal"]


def _shape_of(sample_shape):
    if isinstance(sample_shape, (int, np.integer)):
        return (int(sample_shape),)
    return tuple(int(s) for s in sample_shape)


def _as_tensor(v, like=None):
    """``v`` as a Tensor; a non-Tensor takes ``like``'s dtype when ``like`` is given."""
    if isinstance(v, Tensor):
        return v
    return _fg.tensor(v, dtype=like.dtype) if like is not None else _fg.tensor(v)


class Distribution:
    """Base class: ``batch_shape``, ``event_shape``, ``sample``, ``log_prob``, ``entropy``."""

    has_rsample = False

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape = tuple(batch_shape)
        self._event_shape = tuple(event_shape)
        self._validate_args = True if validate_args is None else bool(validate_args)

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    def _extended_shape(self, sample_shape=()):
        return _shape_of(sample_shape) + self._batch_shape + self._event_shape

    def sample(self, sample_shape=()):
        raise NotImplementedError(f"{type(self).__name__}.sample is not implemented")

    def rsample(self, sample_shape=()):
        raise NotImplementedError(f"{type(self).__name__} has no reparameterized sampler (rsample)")

    def sample_n(self, n):
        return self.sample((n,))

    @property
    def stddev(self):
        return self.variance.sqrt()

    def perplexity(self):
        return _fg.exp(self.entropy())

    def _invalid(self, what, value, constraint, found):
        return ValueError(f"Expected {what} (Tensor of shape {tuple(value.shape)}) of distribution {self!r} to "
                          f"satisfy the constraint {constraint}, but found invalid values:\n{found}")

    def __repr__(self):
        args = ", ".join(f"{k}: {tuple(getattr(self, k).shape)}" if getattr(self, k).numel() != 1
                         else f"{k}: {getattr(self, k)!r}" for k in self._param_names if k in self.__dict__)
        return f"{type(self).__name__}({args})"


class Categorical(Distribution):
    """A categorical distribution over ``{0, ..., K-1}`` given by ``probs`` (non-negative,
    normalised along the last dimension) or ``logits`` (unnormalised log-probabilities):
    exactly one of them.  ``batch_shape`` is the parameter's shape without its last
    dimension; samples are int64."""

    _param_names = ("probs", "logits")

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            probs = _as_tensor(probs)
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
            eps = _fg.finfo(self.probs.dtype).eps
            self.logits = _fg.log(_fg.clamp(self.probs, eps, 1 - eps))
        else:
            logits = _as_tensor(logits)
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
            self.probs = _fg.softmax(self.logits, -1)
        self._num_events = self.probs.shape[-1]
        super().__init__(tuple(self.probs.shape[:-1]), (), validate_args)
        if self._validate_args:
            p = self.probs.detach().numpy()
            if probs is not None and not (np.all(p >= 0) and np.all(np.abs(p.sum(-1) - 1) <= 1e-6)):
                raise self._invalid("parameter probs", self.probs, "Simplex()", self.probs)
            if logits is not None and np.isnan(logits.detach().numpy()).any():
                raise self._invalid("parameter logits", logits, "IndependentConstraint(Real(), 1)", logits)

    @property
    def param_shape(self):
        return tuple(self.probs.shape)

    @property
    def mean(self):
        return _fg.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    @property
    def mode(self):
        return self.probs.argmax(-1)

    @property
    def variance(self):
        return _fg.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    def sample(self, sample_shape=()):
        """Draws of shape ``sample_shape + batch_shape`` (int64), without a graph."""
        shape = _shape_of(sample_shape)
        n = int(np.prod(shape)) if shape else 1
        with _fg.no_grad():
            p2 = self.probs.detach().reshape(-1, self._num_events)
            s = _fg.multinomial(p2, n, True).T
        return s.reshape(self._extended_shape(shape))

    def log_prob(self, value):
        """log P(value): ``value`` (integers in [0, K)) broadcast against ``batch_shape``."""
        value = _as_tensor(value)
        if self._validate_args:
            v = value.detach().numpy()
            if not np.all((v >= 0) & (v < self._num_events) & (v == np.floor(v))):
                raise ValueError(f"Expected value argument ({type(value).__name__} of shape "
                                 f"{tuple(value.shape)}) to be within the support (IntegerInterval("
                                 f"lower_bound=0, upper_bound={self._num_events - 1})) of the distribution "
                                 f"{self!r}, but found invalid values:\n{value}")
        value = value.long().unsqueeze(-1)
        shape = np.broadcast_shapes(tuple(value.shape), tuple(self.logits.shape))
        value = value.expand(*shape[:-1], 1)
        log_pmf = self.logits.expand(*shape)
        return log_pmf.gather(-1, value).squeeze(-1)

    def entropy(self):
        """-sum(p * log p) over the categories (0 * log 0 counts as 0)."""
        min_real = _fg.finfo(self.logits.dtype).min
        logits = _fg.clamp(self.logits, min=min_real)
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        values = _fg.arange(self._num_events).reshape((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand(self._num_events, *self._batch_shape)
        return values


class Normal(Distribution):
    """A normal distribution with mean ``loc`` and standard deviation ``scale`` (> 0),
    broadcast against each other.  ``rsample`` is reparameterized (loc + eps * scale)."""

    has_rsample = True
    _param_names = ("loc", "scale")

    def __init__(self, loc, scale, validate_args=None):
        if not isinstance(loc, Tensor) and not isinstance(scale, Tensor):
            loc, scale = _fg.tensor(float(loc)), _fg.tensor(float(scale))     # the default dtype
        loc, scale = _as_tensor(loc, scale), _as_tensor(scale, loc)
        shape = np.broadcast_shapes(tuple(loc.shape), tuple(scale.shape))
        self.loc, self.scale = loc.expand(*shape), scale.expand(*shape)
        super().__init__(shape, (), validate_args)
        if self._validate_args:
            if np.isnan(self.loc.detach().numpy()).any():
                raise self._invalid("parameter loc", self.loc, "Real()", self.loc)
            if not np.all(self.scale.detach().numpy() > 0):
                raise self._invalid("parameter scale", self.scale, "GreaterThan(lower_bound=0.0)", self.scale)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.scale.pow(2)

    def sample(self, sample_shape=()):
        """Draws of shape ``sample_shape + batch_shape``, without a graph."""
        with _fg.no_grad():
            return self.rsample(sample_shape).detach()

    def rsample(self, sample_shape=()):
        """loc + eps * scale with eps ~ N(0, 1): differentiable in loc and scale."""
        shape = self._extended_shape(sample_shape)
        eps = _fg.randn(*shape, dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        value = _as_tensor(value, self.loc)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - math.log(math.sqrt(2 * math.pi))

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + _fg.log(self.scale)

    def cdf(self, value):
        value = _as_tensor(value, self.loc)
        return 0.5 * (1 + _fg.erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))
