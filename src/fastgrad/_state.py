"""Process and thread state: grad mode (per thread, as users expect from no_grad) and the
active kernel backend (per process)."""
import threading

from fastgrad._C import _kernels as _ckernels


class _GradMode(threading.local):
    enabled = True          # class attribute: every new thread starts with grad enabled


grad_mode = _GradMode()


class _Backend:
    """The kernel module every op calls: fastgrad._C._kernels or fastgrad.reference."""
    __slots__ = ("k", "name")

    def __init__(self):
        self.k = _ckernels
        self.name = "c"


backend = _Backend()


class _Trace:
    """The fastgrad.compile tracer running in this process, or None (see compile.py).
    Tensor-to-Python conversions report to it, so a traced function cannot silently
    freeze a value read from tensor data."""
    __slots__ = ("active",)

    def __init__(self):
        self.active = None


trace = _Trace()
