"""Shared pieces of fastgrad.compile: the error types, the array helpers and the record
of one buffer a plan reads or writes."""
import numpy as np

from fastgrad._tensor import Tensor

_make = Tensor._make
_ALIGN = 64
_NOGIL_MIN = 16384                 # the wrappers' thresholds for using nthreads (_kernels.pyx)
_GEMM_PAR = 32768
_RETRACE = object()


class CompileError(RuntimeError):
    """A compiled function did something the tracer cannot replay faithfully."""


class _Unsupported(Exception):
    pass


def _root(a):
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _ptr(a):
    return a.__array_interface__["data"][0]


class _Buf:
    __slots__ = ("arr", "kind", "first", "last", "persist", "offset", "base", "nbytes",
                 "size_", "last_")

    def __init__(self, arr, kind, first):
        self.arr = arr            # the root ndarray (kept alive while tracing)
        self.kind = kind          # "inter", "ext", "input", "const"
        self.first = first
        self.last = first
        self.persist = False      # read after the run (returned, or a .grad)
        self.offset = -1
        self.base = -1
        self.nbytes = arr.nbytes


def _is64(a):
    return int(a.dtype == np.float64)


def _soft(tr, fn, *a):
    """Record with fn unless that fails in fallback mode (then the signature runs eagerly)."""
    try:
        fn(*a)
    except _Unsupported:
        pass


# how many compiled functions are running their Python function now (eager fallback, the
# second-call check); a CompiledModule inside one says nothing about running eagerly
_IN_FN = [0]


def _call_eager(fn, args, kwargs):
    _IN_FN[0] += 1
    try:
        return fn(*args, **kwargs)
    finally:
        _IN_FN[0] -= 1
