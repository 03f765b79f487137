"""Registry entries of the activations of nn/functional_extra.py: prelu, glu, hardshrink,
softshrink, tanhshrink, threshold, rrelu (eval mode; its training mode is random and is
tested in tests/test_nn_more_act.py) and the in-place forms (run on a clone, as in
inplace.py).  References are written out in NumPy here."""
import numpy as np

from fastgrad.nn import functional as F
from fastgrad.testing.opinfo import ErrorInput, OpInfo, OpTable, Sample, _u, unary_errors

OPS = OpTable()
register = OPS.register


def _away(x, kinks, gap=0.05):
    """x with every element moved at least ``gap`` away from each kink (gradcheck's
    central differences must not straddle one)."""
    for k in kinks:
        near = np.abs(x - k) < gap
        x = np.where(near, np.where(x >= k, k + gap, k - gap), x)
    return x


def _kinked_samples(kinks, **kw):
    def samples(rng):
        shapes = [((), "0-d"), ((7,), "1-d"), ((3, 4), "2-d"), ((0, 3), "zero-size")]
        out = [Sample([_away(_u(rng, s, -3, 3), kinks)], kw, d) for s, d in shapes]
        out.append(Sample([_away(_u(rng, (4, 3), -3, 3), kinks).T], kw, "transposed view"))
        out.append(Sample([_away(_u(rng, (300, 250), -3, 3), kinks)], kw, "large", grad=False))
        return out
    return samples


def _act(name, op, ref, kinks, **kw):
    register(OpInfo(name, op, ref, _kinked_samples(kinks, **kw), unary_errors(name, kw),
                    extreme=False))


def _np_prelu(x, w):
    w = w.reshape(()) if w.size == 1 else w.reshape((w.size,) + (1,) * (x.ndim - 2))
    return np.where(x > 0, x, w * x)


def _np_glu(x, dim=-1):
    a, b = np.split(x, 2, axis=dim)
    return a / (1 + np.exp(-b))


def _np_softshrink(x, lambd=0.5):
    return np.where(x > lambd, x - lambd, np.where(x < -lambd, x + lambd, 0.0))


def _np_leaky(x, s):
    return np.where(x > 0, x, s * x)


def _np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(x))


_SELU_A, _SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

register(OpInfo("prelu", F.prelu, _np_prelu,
                lambda rng: [Sample([_away(_u(rng, (2, 3, 4), -2, 2), [0]), _u(rng, (3,), -1, 1)],
                                    desc="per channel"),
                             Sample([_away(_u(rng, (3, 4), -2, 2), [0]), _u(rng, (1,), -1, 1)],
                                    desc="shared"),
                             Sample([_away(_u(rng, (5,), -2, 2), [0]), _u(rng, (1,), -1, 1)],
                                    desc="1-d"),
                             Sample([_away(_u(rng, (2, 3, 2, 2), -2, 2), [0]).transpose(0, 1, 3, 2),
                                     _u(rng, (3,), -1, 1)], desc="4-d view")],
                lambda: [ErrorInput([np.zeros((2, 3)), np.zeros((4,))], {}, ValueError,
                                    r"prelu: weight of shape \(4,\) does not match")],
                extreme=False))
register(OpInfo("glu", F.glu, _np_glu,
                lambda rng: [Sample([_u(rng, (3, 4), -3, 3)]),
                             Sample([_u(rng, (4, 3), -3, 3)], {"dim": 0}),
                             Sample([_u(rng, (2, 6, 3), -3, 3)], {"dim": 1}),
                             Sample([_u(rng, (6, 4), -3, 3).T], {}, "view"),
                             Sample([np.zeros((0, 4))], {}, "zero-size")],
                lambda: [ErrorInput([np.zeros((2, 3))], {}, ValueError,
                                    "glu: halving dimension must be even")],
                extreme=False))
_act("hardshrink", F.hardshrink, lambda x, lambd=0.5: np.where(np.abs(x) > lambd, x, 0.0),
     [-0.7, 0.7], lambd=0.7)
_act("softshrink", F.softshrink, _np_softshrink, [-0.5, 0.5])
_act("tanhshrink", F.tanhshrink, lambda x: x - np.tanh(x), [])
_act("threshold", F.threshold, lambda x, threshold, value: np.where(x > threshold, x, value),
     [0.3], threshold=0.3, value=-2.0)
_act("rrelu", F.rrelu, lambda x, lower=0.125, upper=1 / 3: _np_leaky(x, (lower + upper) / 2),
     [0.0], lower=0.2, upper=0.4)


def _on_clone(fn):
    def op(x, *args, **kw):
        return fn(x.clone(), *args, **kw)
    return op


for _n, _ref, _kw in [
        ("elu_", _np_elu, {"alpha": 0.8}),
        ("leaky_relu_", lambda x, negative_slope=0.01: _np_leaky(x, negative_slope),
         {"negative_slope": 0.2}),
        ("hardtanh_", lambda x, min_val=-1.0, max_val=1.0: np.clip(x, min_val, max_val),
         {"min_val": -0.5, "max_val": 0.8}),
        ("selu_", lambda x: _SELU_S * _np_elu(x, _SELU_A), {}),
        ("celu_", lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(x / alpha)),
         {"alpha": 1.3}),
        ("threshold_", lambda x, threshold, value: np.where(x > threshold, x, value),
         {"threshold": 0.3, "value": -2.0}),
        ("rrelu_", lambda x, lower=0.125, upper=1 / 3: _np_leaky(x, (lower + upper) / 2), {})]:
    _kinks = [0.3] if _n == "threshold_" else [-0.5, 0.0, 0.8]
    register(OpInfo(f"inplace_{_n}", _on_clone(getattr(F, _n)), _ref,
                    lambda rng, _k=_kinks, _kw=_kw: [
                        Sample([_away(_u(rng, (3, 4), -2, 2), _k)], _kw),
                        Sample([_away(_u(rng, (7,), -2, 2), _k)], _kw, "1-d")],
                    extreme=False, covers=(_n,)))
