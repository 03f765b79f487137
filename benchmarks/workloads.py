"""Benchmark workloads shared by the pytest-benchmark files and benchmarks/report.py."""
import numpy as np

import fastgrad as fg

SIZES = [100, 10_000, 1_000_000]

# op name -> (function of tensors, input maker(n, rng) -> list of arrays)
def _pos(n, rng):
    return [rng.uniform(0.1, 3.0, n).astype(np.float32)]


def _any(n, rng):
    return [rng.standard_normal(n).astype(np.float32)]


def _two(n, rng):
    return [rng.standard_normal(n).astype(np.float32), rng.uniform(0.5, 2, n).astype(np.float32)]


def _rows(n, rng):
    c = 100 if n >= 10_000 else 10
    return [rng.standard_normal((n // c, c)).astype(np.float32)]


OPS = {
    "add": (lambda a, b: a + b, _two),
    "mul": (lambda a, b: a * b, _two),
    "div": (lambda a, b: a / b, _two),
    "exp": (fg.exp, _any),
    "log": (fg.log, _pos),
    "tanh": (fg.tanh, _any),
    "sigmoid": (fg.sigmoid, _any),
    "gelu": (fg.gelu, _any),
    "relu": (fg.relu, _any),
    "sqrt": (fg.sqrt, _pos),
    "sin": (fg.sin, _any),
    "softplus": (fg.softplus, _any),
    "sum": (lambda x: x.sum(), _any),
    "mean_rows": (lambda x: x.mean(1), _rows),
    "max_rows": (lambda x: fg.max(x, 1).values, _rows),
    "logsumexp_rows": (lambda x: fg.logsumexp(x, 1), _rows),
    "softmax_rows": (lambda x: fg.softmax(x, 1), _rows),
    "log_softmax_rows": (lambda x: fg.log_softmax(x, 1), _rows),
}


def make_fwd_bwd(op, n, seed=0):
    """A callable running forward + backward of `op` on fresh leaves of size n."""
    fn, maker = OPS[op]
    rng = np.random.default_rng(seed)
    xs = [fg.from_numpy(a).requires_grad_() for a in maker(n, rng)]

    def step():
        for x in xs:
            x.grad = None
        out = fn(*xs)
        out.backward(fg.ones_like(out))
    return step


def make_fwd(op, n, seed=0):
    fn, maker = OPS[op]
    rng = np.random.default_rng(seed)
    xs = [fg.from_numpy(a) for a in maker(n, rng)]
    return lambda: fn(*xs)


def numpy_fwd(op, n, seed=0):
    """The same forward computation written directly in NumPy (the baseline)."""
    rng = np.random.default_rng(seed)
    xs = OPS[op][1](n, rng)
    import scipy.special as sp  # noqa: F401 - only for gelu's erf when present
    f = {
        "add": lambda a, b: a + b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
        "exp": np.exp, "log": np.log, "tanh": np.tanh,
        "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
        "gelu": lambda x: 0.5 * x * (1 + sp.erf(x * np.float32(0.70710678))),
        "relu": lambda x: np.maximum(x, 0), "sqrt": np.sqrt, "sin": np.sin,
        "softplus": lambda x: np.logaddexp(np.float32(0), x),
        "sum": np.sum, "mean_rows": lambda x: x.mean(1), "max_rows": lambda x: x.max(1),
        "logsumexp_rows": lambda x: sp.logsumexp(x, 1),
        "softmax_rows": lambda x: sp.softmax(x, 1),
        "log_softmax_rows": lambda x: sp.log_softmax(x, 1),
    }[op]
    return lambda: f(*xs)


def tanh_chain(n_ops=50, size=16, seed=0):
    """Eager overhead: a chain of n_ops tanh on `size`-element tensors, forward and
    backward; time / (n_ops + 1) is the per-op cost (the +1 is the final sum)."""
    x = fg.from_numpy(np.random.default_rng(seed).standard_normal(size).astype(np.float32))
    x.requires_grad_()

    def step():
        x.grad = None
        y = x
        for _ in range(n_ops):
            y = fg.tanh(y)
        y.sum().backward()
    return step
