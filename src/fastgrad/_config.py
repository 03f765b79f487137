"""Threads, SIMD path, kernel backend and build facts."""
import contextlib
import os
import sys

import numpy as np

from fastgrad._C import _kernels as _ck
from fastgrad._state import backend

_BACKENDS = {"c": None, "numpy": None}


def _available_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _default_threads():
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env:
        try:
            n = int(env)
            if n >= 1:
                return n
        except ValueError:
            pass
    return _available_cpus()


def set_num_threads(n):
    """Threads used by every fastgrad kernel (fastgrad's own pool; no OpenMP).  Each kernel
    uses at most this many, fewer when its work is small: below the break-even size
    (estimated from the bytes it moves and its arithmetic, about 8 us of one core's work)
    it runs on the calling thread alone."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    _ck.set_num_threads(n)


def get_num_threads():
    """The number of threads fastgrad's kernels run on (its own thread pool)."""
    return _ck.get_num_threads()


def set_simd(path):
    """Force a SIMD path: 'scalar', 'avx2' or 'avx512' (must be supported by the CPU)."""
    _ck.set_isa(path)


def get_simd():
    """The SIMD path the kernels use now: "scalar", "avx2" or "avx512"."""
    return _ck.get_isa()


def available_simd():
    """The SIMD paths this CPU supports, slowest first ("scalar" always)."""
    best = _ck.cpu_best_isa()
    order = ["scalar", "avx2", "avx512"]
    return order[: order.index(best) + 1]


def set_backend(name):
    """Route every op through the C kernels ('c', the default) or the pure-NumPy
    reference ('numpy')."""
    if name == "c":
        backend.activate(_ck, name)
    elif name == "numpy":
        from fastgrad import reference
        backend.activate(reference, name)
    else:
        raise ValueError(f"set_backend: unknown backend {name!r}; expected 'c' or 'numpy'")


def get_backend():
    """The name of the active kernel backend: "c" (the compiled kernels) or "reference"
    (NumPy)."""
    return backend.name


@contextlib.contextmanager
def use_backend(name):
    """Context manager: run the enclosed code on backend `name`, then restore."""
    prev = backend.name
    set_backend(name)
    try:
        yield
    finally:
        set_backend(prev)


def config():
    from fastgrad import __version__
    cc, ompflag = _ck.compiler_info()
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "compiler": cc,
        "openmp": _ck.have_openmp(),
        "openmp_flag": ompflag,
        "simd": _ck.get_isa(),
        "simd_available": available_simd(),
        "threads": _ck.get_num_threads(),
        "cpus_available": _available_cpus(),
        "backend": backend.name,
        "memory": _memory_line(),
    }


def _memory_line():
    from fastgrad import memory
    return memory._describe()


def show_config():
    """Print how this fastgrad was built and how it runs here."""
    c = config()
    lines = [f"fastgrad {c['version']}",
             f"  python        {c['python']}, numpy {c['numpy']}",
             f"  compiler      {c['compiler']}",
             f"  openmp        no runtime (threads: fastgrad's pool; simd pragmas: {c['openmp_flag'] or 'off'})",
             f"  simd          {c['simd']} (available: {', '.join(c['simd_available'])})",
             f"  threads       {c['threads']} (cpus available: {c['cpus_available']})",
             f"  backend       {c['backend']}",
             f"  memory        {c['memory']}"]
    print("\n".join(lines))


def _init():
    from fastgrad import memory
    memory._init()
    _ck.set_num_threads(_default_threads())
    forced = os.environ.get("FASTGRAD_SIMD")
    if forced:
        try:
            _ck.set_isa(forced.strip().lower())
        except ValueError as e:
            raise ImportError(f"FASTGRAD_SIMD={forced!r}: {e}") from None
