"""Tensor creation: constants, ranges and seeded random numbers.

Every factory takes PyTorch's ``device=`` (the CPU only; another device raises a
RuntimeError naming it) and ``pin_memory=`` (accepted; CPU memory needs no pinning)."""
from __future__ import annotations

import numpy as np

from fastgrad.errors import ArgumentError, ShapeError
from fastgrad import _device, _hooks
from fastgrad._tensor import Tensor, _default, bool_, canonical_dtype, int64
from fastgrad._dtype import FLOAT_STORAGE as _FLOAT_STORAGE

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Any, Optional
    from fastgrad._typing import DType

_make = Tensor._make


class _Generator:
    """The global random generator (PCG64).  manual_seed makes every random call after it
    reproducible."""

    def __init__(self, seed=None):
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.seed = seed

    def manual_seed(self, seed):
        self.rng = np.random.Generator(np.random.PCG64(int(seed)))
        self.seed = int(seed)
        return self


default_generator = _Generator()


def manual_seed(seed) -> Any:
    """Seed fastgrad's global random generator."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: expected an int seed, got {type(seed).__name__}")
    return default_generator.manual_seed(seed)


def initial_seed() -> Any:
    """The seed last given to ``manual_seed`` (None if the generator was never seeded)."""
    return default_generator.seed


def _size(size, who):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"{who}: size must be ints, got {size!r}")
        if s < 0:
            raise ShapeError(f"{who}: negative dimension {s} in size {tuple(size)}")
        out.append(int(s))
    n = 1
    for s in out:
        n *= s
    if n * 8 > 2 ** 62:
        raise ShapeError(f"{who}: size {tuple(out)} ({n} elements) is larger than any array that "
                         "can be allocated")
    return tuple(out)


def _dev(device, who):
    if device is not None:
        _device.check(device, who)


def _dt(dtype, default=None):
    return canonical_dtype(dtype) if dtype is not None else (default or _default[0])


def _alloc(fn, who, size, *args):
    """fn(size, *args) (size already checked by _size), with an out-of-memory error that
    names the op, the shape and the bytes requested."""
    try:
        return fn(size, *args)
    except MemoryError:
        n = 1
        for s in size:
            n *= s
        dt = next((np.dtype(a) for a in args if isinstance(a, (np.dtype, type))), np.dtype(_default[0]))
        raise MemoryError(f"{who}: cannot allocate a tensor of shape {tuple(size)} ({n} elements, "
                          f"{n * dt.itemsize} bytes): out of memory") from None


def _filled(arr, value, name):
    """arr (just made, every element `value`), reported to the `filled` hook."""
    h = _hooks.hooks.filled
    if h is not None:
        h(arr, value, name)
    return arr


def _finish(arr, requires_grad):
    t = _make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
          pin_memory: bool = False) -> Tensor:
    """A tensor of zeros. ``size``: ints as separate arguments or one sequence. ``dtype``:
    default ``get_default_dtype()``; ``requires_grad`` makes the result a leaf that records
    gradients; ``device`` must be the CPU."""
    _dev(device, "zeros")
    return _finish(_filled(_alloc(np.zeros, "zeros", _size(size, "zeros"), _dt(dtype)), 0, "zeros"),
                   requires_grad)


def ones(*size, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
         pin_memory: bool = False) -> Tensor:
    """A tensor of ones. ``size``: ints as separate arguments or one sequence. ``dtype``:
    default ``get_default_dtype()``; ``requires_grad`` makes the result a leaf that records
    gradients; ``device`` must be the CPU."""
    _dev(device, "ones")
    return _finish(_filled(_alloc(np.ones, "ones", _size(size, "ones"), _dt(dtype)), 1, "ones"),
                   requires_grad)


def empty(*size, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
          pin_memory: bool = False) -> Tensor:
    """A tensor of uninitialised memory: its contents are unspecified. ``size``: ints as
    separate arguments or one sequence. ``dtype``: default ``get_default_dtype()``;
    ``requires_grad`` makes the result a leaf that records gradients; ``device`` must be the
    CPU."""
    _dev(device, "empty")
    return _finish(_alloc(np.empty, "empty", _size(size, "empty"), _dt(dtype)), requires_grad)


def full(size, fill_value, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
         pin_memory: bool = False) -> Tensor:
    """A tensor of shape ``size`` with every element ``fill_value``; the dtype is inferred from
    ``fill_value`` unless given (bool, int64 or the default float dtype)."""
    _dev(device, "full")
    if dtype is None:
        dtype = bool_ if isinstance(fill_value, bool) else (int64 if isinstance(fill_value, int) else _default[0])
    dt = _dt(dtype)
    return _finish(_alloc(lambda s, d: np.full(s, fill_value, d), "full",
                          _size((size,) if not isinstance(size, (tuple, list)) else (tuple(size),), "full"),
                          dt), requires_grad)


def _like(x, dtype):
    return x._data.shape, (canonical_dtype(dtype) if dtype is not None else x._data.dtype)


def zeros_like(x: Tensor, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
               pin_memory: bool = False) -> Tensor:
    """Zeros shaped like ``x``. The result has the shape of ``x`` and, unless ``dtype`` is
    given, its dtype."""
    _dev(device, "zeros_like")
    s, d = _like(x, dtype)
    return _finish(_filled(_alloc(np.zeros, "zeros_like", s, d), 0, "zeros_like"), requires_grad)


def ones_like(x: Tensor, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
              pin_memory: bool = False) -> Tensor:
    """Ones shaped like ``x``. The result has the shape of ``x`` and, unless ``dtype`` is
    given, its dtype."""
    _dev(device, "ones_like")
    s, d = _like(x, dtype)
    return _finish(_alloc(np.ones, "ones_like", s, d), requires_grad)


def empty_like(x: Tensor, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
               pin_memory: bool = False) -> Tensor:
    """A tensor shaped like ``x`` with unspecified contents. The result has the shape of ``x``
    and, unless ``dtype`` is given, its dtype."""
    _dev(device, "empty_like")
    s, d = _like(x, dtype)
    return _finish(_alloc(np.empty, "empty_like", s, d), requires_grad)


def full_like(x: Tensor, fill_value, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
              pin_memory: bool = False) -> Tensor:
    """A tensor shaped like ``x`` filled with ``fill_value``. The result has the shape of ``x``
    and, unless ``dtype`` is given, its dtype."""
    _dev(device, "full_like")
    s, d = _like(x, dtype)
    return _finish(_alloc(lambda s_, d_: np.full(s_, fill_value, d_), "full_like", s, d), requires_grad)


def arange(start, end=None, step=1, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
           pin_memory: bool = False) -> Tensor:
    """Values from start (inclusive) to end (exclusive) by step; int64 when every
    argument is an int, else the default float dtype."""
    _dev(device, "arange")
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ArgumentError("arange: step must be non-zero")
    all_int = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (start, end, step))
    d = _dt(dtype, int64 if all_int else None)
    if all_int:
        n = len(range(int(start), int(end), int(step)))
        _size((n,), "arange")
        arr = _alloc(lambda s, dt: np.arange(start, end, step, dtype=np.int64).astype(dt), "arange", (n,), d)
    else:
        n = max(0, int(np.ceil((end - start) / step)))
        _size((n,), "arange")
        arr = _alloc(lambda s, dt: (start + step * np.arange(n, dtype=np.float64)).astype(dt), "arange", (n,), d)
    return _finish(arr, requires_grad)


def linspace(start, end, steps, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
             pin_memory: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive, 1-D."""
    _dev(device, "linspace")
    if steps < 0:
        raise ArgumentError(f"linspace: number of steps must be non-negative, got {steps}")
    size = _size((int(steps),), "linspace")
    if dtype is not None and _dt(dtype) == bool_:
        raise NotImplementedError("linspace: dtype bool is not supported")
    return _finish(_alloc(lambda s, d: np.linspace(start, end, s[0], dtype=np.float64).astype(d), "linspace",
                          size, _dt(dtype)), requires_grad)


def eye(n, m=None, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
        pin_memory: bool = False) -> Tensor:
    """The n x m identity matrix (m defaults to n)."""
    _dev(device, "eye")
    if n < 0 or (m is not None and m < 0):
        raise ShapeError(f"eye: sizes must be non-negative, got n={n}, m={m}")
    size = _size((n, n if m is None else m), "eye")
    return _finish(_alloc(lambda s, d: np.eye(s[0], s[1], dtype=d), "eye", size, _dt(dtype)), requires_grad)


def _rng_float(dt):
    """The dtype NumPy's generator draws in: float16 and bfloat16 are drawn in float32."""
    return dt if dt == np.float64 else np.float32


def rand(*size, dtype: Optional[DType] = None, requires_grad: bool = False, generator=None, device=None,
         pin_memory: bool = False) -> Tensor:
    """Uniform random numbers in [0, 1) from the global generator (or ``generator``). ``size``:
    ints as separate arguments or one sequence. ``dtype``: default ``get_default_dtype()``;
    ``requires_grad`` makes the result a leaf that records gradients; ``device`` must be the
    CPU."""
    _dev(device, "rand")
    g = (generator or default_generator).rng
    d = _dt(dtype)
    if d not in _FLOAT_STORAGE:
        raise TypeError(f"rand: dtype must be floating point, got {d}")
    return _finish(_alloc(lambda s, dt: g.random(s, dtype=_rng_float(dt)).astype(dt, copy=False), "rand",
                          _size(size, "rand"), d), requires_grad)


def randn(*size, dtype: Optional[DType] = None, requires_grad: bool = False, generator=None, device=None,
          pin_memory: bool = False) -> Tensor:
    """Standard normal random numbers (mean 0, variance 1) from the global generator (or
    ``generator``). ``size``: ints as separate arguments or one sequence. ``dtype``: default
    ``get_default_dtype()``; ``requires_grad`` makes the result a leaf that records
    gradients; ``device`` must be the CPU."""
    _dev(device, "randn")
    g = (generator or default_generator).rng
    d = _dt(dtype)
    if d not in _FLOAT_STORAGE:
        raise TypeError(f"randn: dtype must be floating point, got {d}")
    return _finish(_alloc(lambda s, dt: g.standard_normal(s, dtype=_rng_float(dt)).astype(dt, copy=False),
                          "randn", _size(size, "randn"), d),
                   requires_grad)


def randint(low=None, high=None, size=None, dtype: Optional[DType] = None, generator=None, device=None,
            pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """Integers in [low, high) (randint(high, size) also works, as in PyTorch)."""
    _dev(device, "randint")
    if low is None:                      # randint(high=h, size=s)
        if high is None:
            raise TypeError("randint: high is required, e.g. randint(0, 10, (3,))")
        low = 0
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint: size is required, e.g. randint(0, 10, (3,))")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if high <= low:
        raise ArgumentError(f"randint: empty range [{low}, {high})")
    g = (generator or default_generator).rng
    return _finish(_alloc(lambda s, dt: g.integers(low, high, s, dtype=np.int64).astype(dt), "randint",
                          _size((tuple(size),), "randint"), _dt(dtype, int64)), requires_grad)


def rand_like(x: Tensor, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
              pin_memory: bool = False) -> Tensor:
    """Uniform random numbers in [0, 1) shaped like ``x``. The result has the shape of ``x``
    and, unless ``dtype`` is given, its dtype."""
    _dev(device, "rand_like")
    return rand(x._data.shape, dtype=dtype or x._data.dtype, requires_grad=requires_grad)


def randn_like(x: Tensor, dtype: Optional[DType] = None, requires_grad: bool = False, device=None,
               pin_memory: bool = False) -> Tensor:
    """Standard normal random numbers shaped like ``x``. The result has the shape of ``x`` and,
    unless ``dtype`` is given, its dtype."""
    _dev(device, "randn_like")
    return randn(x._data.shape, dtype=dtype or x._data.dtype, requires_grad=requires_grad)


def randperm(n, dtype: Optional[DType] = None, generator=None, device=None, pin_memory: bool = False,
             requires_grad: bool = False) -> Tensor:
    """A random permutation of 0 .. n-1 (int64 unless ``dtype`` is given)."""
    _dev(device, "randperm")
    g = (generator or default_generator).rng
    return _finish(g.permutation(int(n)).astype(_dt(dtype, int64)), requires_grad)
