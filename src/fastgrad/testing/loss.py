"""Registry entries of the losses."""

import numpy as np

from fastgrad.nn import functional as F
from fastgrad.testing.opinfo import ErrorInput, OpInfo, OpTable, Sample, _u

OPS = OpTable()
register = OPS.register


def _np_xent(x, t, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    if np.asarray(t).dtype.kind == "f":
        return _np_soft_xent(x, t, reduction, label_smoothing)
    tshape = np.shape(t)
    if x.ndim == 1:
        x, t = x[None], np.asarray(t).reshape(1)
    elif x.ndim > 2:
        x = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
        t = t.reshape(-1)
    c = x.shape[1]
    m = np.max(x, axis=1, keepdims=True)
    lsm = x - m - np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))
    keep = t != ignore_index
    tt = np.where(keep, t, 0)
    loss = -(1 - label_smoothing) * lsm[np.arange(len(t)), tt] - label_smoothing / c * lsm.sum(1)
    loss = np.where(keep, loss, 0.0)
    if reduction == "none":
        return loss.reshape(tshape)
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / keep.sum()


def _np_soft_xent(x, t, reduction, ls):
    cd = 0 if x.ndim == 1 else 1
    c = x.shape[cd]
    t = t * (1 - ls) + ls / c
    m = np.max(x, axis=cd, keepdims=True)
    lsm = x - m - np.log(np.sum(np.exp(x - m), axis=cd, keepdims=True))
    rows = -np.sum(lsm * t, axis=cd)
    if reduction == "none":
        return rows
    return rows.sum() if reduction == "sum" else rows.sum() / (x.size // c)


def _soft_targets(rng, shape, cd=1):
    p = rng.uniform(0.1, 1.0, shape)
    return p / p.sum(axis=cd, keepdims=True)


def _xent_samples(rng):
    x = _u(rng, (6, 5), -3, 3)
    t = rng.integers(0, 5, 6)
    ti = t.copy()
    ti[[1, 4]] = -100
    return [Sample([x, t], {}, "mean"), Sample([x, t], {"reduction": "sum"}),
            Sample([x, t], {"reduction": "none"}), Sample([x, ti], {}, "ignore_index"),
            Sample([x, t], {"label_smoothing": 0.2}), Sample([x, ti], {"label_smoothing": 0.1, "reduction": "none"}),
            Sample([np.asfortranarray(x), t], {}, "view"),
            Sample([_u(rng, (2, 4, 3), -3, 3), rng.integers(0, 4, (2, 3))], {}, "(N, C, d)"),
            Sample([_u(rng, (5,), -3, 3), np.array(2)], {}, "unbatched"),
            Sample([x, _soft_targets(rng, (6, 5))], {}, "probabilities"),
            Sample([x, _soft_targets(rng, (6, 5))], {"label_smoothing": 0.2, "reduction": "sum"},
                   "probabilities smoothed"),
            Sample([_u(rng, (2, 4, 3), -3, 3), _soft_targets(rng, (2, 4, 3))], {"reduction": "none"},
                   "probabilities (N, C, d)"),
            Sample([_u(rng, (5,), -3, 3), _soft_targets(rng, (5,), 0)], {}, "probabilities unbatched"),
            Sample([_u(rng, (6, 5), -1, 1) * 1e4, t], {}, "magnitude 1e4", grad=False),
            Sample([_u(rng, (500, 100), -3, 3), rng.integers(0, 100, 500)], {}, "large", grad=False)]


def _xent_errors():
    return [ErrorInput([np.zeros((3, 4)), np.array([0, 4, 1])], {}, IndexError,
                       r"cross_entropy: target 4 at position 1 is out of bounds for 4 classes"),
            ErrorInput([np.zeros((3, 4)), np.array([0, 1])], {}, ValueError,
                       r"cross_entropy: input shape \(3, 4\) expects target shape \(3,\)"),
            ErrorInput([np.zeros((3, 4)), np.array([0, 1, 2])], {"reduction": "avg"}, ValueError,
                       r"cross_entropy: reduction must be one of"),
            ErrorInput([np.zeros((3, 4)), np.zeros((3, 5))], {}, TypeError,
                       r"cross_entropy: target must hold class indices \(int64\), got dtype "
                       r"float64; probability targets must be a floating tensor of the input's shape"),
            ErrorInput([np.zeros((3, 4)), np.zeros((3, 4))], {"ignore_index": 1}, ValueError,
                       r"cross_entropy: ignore_index is not supported for probability")]


register(OpInfo("cross_entropy", F.cross_entropy, _np_xent, _xent_samples, _xent_errors))


def _np_nll(x, t, reduction="mean", ignore_index=-100):
    keep = t != ignore_index
    loss = np.where(keep, -x[np.arange(len(t)), np.where(keep, t, 0)], 0.0)
    return loss if reduction == "none" else (loss.sum() if reduction == "sum" else loss.sum() / keep.sum())


register(OpInfo("nll_loss", F.nll_loss, _np_nll,
                lambda rng: [Sample([_u(rng, (6, 5), -3, 0), rng.integers(0, 5, 6)]),
                             Sample([_u(rng, (6, 5), -3, 0), np.array([0, -100, 2, 3, -100, 1])],
                                    {"reduction": "sum"}, "ignore"),
                             Sample([_u(rng, (6, 5), -3, 0), rng.integers(0, 5, 6)], {"reduction": "none"})],
                lambda: [ErrorInput([np.zeros((3, 4)), np.array([0, 7, 1])], {}, IndexError,
                                    r"nll_loss: target 7 at position 1 is out of bounds")]))
register(OpInfo("mse_loss", F.mse_loss,
                lambda x, y, reduction="mean": {"mean": np.mean, "sum": np.sum,
                                                "none": lambda v: v}[reduction]((x - y) ** 2),
                lambda rng: [Sample([_u(rng, (4, 3), -2, 2), _u(rng, (4, 3), -2, 2)]),
                             Sample([_u(rng, (4, 3), -2, 2), _u(rng, (4, 3), -2, 2)], {"reduction": "sum"}),
                             Sample([_u(rng, (5,), -2, 2), _u(rng, (5,), -2, 2)], {"reduction": "none"})],
                lambda: [ErrorInput([np.zeros((3, 4)), np.zeros((4, 3))], {}, ValueError,
                                    r"sub: shapes \(3, 4\) and \(4, 3\) cannot be broadcast")]))


def _np_bce(x, t, reduction="mean", pos_weight=None):
    pw = 1.0 if pos_weight is None else pos_weight
    sp = np.logaddexp(0, -x)
    loss = (1 - t) * x + (1 + (pw - 1) * t) * sp
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


register(OpInfo("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, _np_bce,
                lambda rng: [Sample([_u(rng, (4, 3), -4, 4), rng.random((4, 3))]),
                             Sample([_u(rng, (6,), -4, 4), (rng.random(6) > 0.5) * 1.0], {"reduction": "none"}),
                             Sample([_u(rng, (4, 3), -4, 4), rng.random((4, 3))], {"pos_weight": 3.0}),
                             Sample([np.array([-1e4, -50.0, 0.0, 50.0, 1e4]), np.array([1.0, 0.0, 0.5, 1.0, 0.0])],
                                    {"reduction": "none"}, "extreme", grad=False)]))


# ---- regression and divergence losses ------------------------------------------------------
_REDUCE = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}


def _pair_samples(lo, hi, tlo=None, thi=None, **kw):
    """(input, target) pairs of equal shape; ``kw``: keyword arguments of every sample."""
    tlo, thi = (lo, hi) if tlo is None else (tlo, thi)

    def samples(rng):
        return [Sample([_u(rng, (4, 3), lo, hi), _u(rng, (4, 3), tlo, thi)], dict(kw), "mean"),
                Sample([_u(rng, (4, 3), lo, hi), _u(rng, (4, 3), tlo, thi)], dict(kw, reduction="sum"), "sum"),
                Sample([_u(rng, (5,), lo, hi), _u(rng, (5,), tlo, thi)], dict(kw, reduction="none"), "none"),
                Sample([_u(rng, (3, 4), lo, hi).T, _u(rng, (4, 3), tlo, thi)], dict(kw), "view"),
                Sample([_u(rng, (), lo, hi), _u(rng, (), tlo, thi)], dict(kw), "0-d"),
                Sample([_u(rng, (300, 200), lo, hi), _u(rng, (300, 200), tlo, thi)], dict(kw), "large",
                       grad=False)]
    return samples


def _reduction_error(who, **kw):
    return ErrorInput([np.zeros((2, 3)), np.zeros((2, 3))], dict(kw, reduction="avg"), ValueError,
                      rf"{who}: reduction must be")


def _np_l1(x, y, reduction="mean"):
    return _REDUCE[reduction](np.abs(x - y))


def _np_huber(x, y, reduction="mean", delta=1.0):
    d = np.abs(x - y)
    return _REDUCE[reduction](np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)))


def _np_smooth_l1(x, y, reduction="mean", beta=1.0):
    d = np.abs(x - y)
    loss = d if beta == 0 else np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _REDUCE[reduction](loss)


register(OpInfo("l1_loss", F.l1_loss, _np_l1, _pair_samples(-2, 2),
                lambda: [_reduction_error("l1_loss")]))
register(OpInfo("huber_loss", F.huber_loss, _np_huber, _pair_samples(-2, 2, delta=0.7),
                lambda: [_reduction_error("huber_loss"),
                         ErrorInput([np.zeros(3), np.zeros(3)], {"delta": 0.0}, ValueError,
                                    "huber_loss: delta must be positive")]))
register(OpInfo("smooth_l1_loss", F.smooth_l1_loss, _np_smooth_l1,
                lambda rng: _pair_samples(-2, 2, beta=0.6)(rng) +
                [Sample([_u(rng, (4, 3), -2, 2), _u(rng, (4, 3), -2, 2)], {"beta": 0.0}, "beta=0 (L1)")],
                lambda: [_reduction_error("smooth_l1_loss"),
                         ErrorInput([np.zeros(3), np.zeros(3)], {"beta": -1.0}, ValueError,
                                    "smooth_l1_loss: beta must be non-negative")]))


def _np_bce_probs(p, t, weight=None, reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)), each log clamped at -100."""
    with np.errstate(divide="ignore"):
        lp = np.maximum(np.log(p), -100.0)
        lq = np.maximum(np.log(1 - p), -100.0)
    loss = -(t * lp + (1 - t) * lq)
    if weight is not None:
        loss = loss * weight
    return _REDUCE[reduction](loss)


def _bce_samples(rng):
    return [Sample([_u(rng, (4, 3), 0.05, 0.95), rng.random((4, 3))], {}, "mean"),
            Sample([_u(rng, (6,), 0.05, 0.95), (rng.random(6) > 0.5) * 1.0], {"reduction": "none"}, "0/1 targets"),
            Sample([_u(rng, (4, 3), 0.05, 0.95), rng.random((4, 3)), _u(rng, (3,), 0.5, 2)],
                   {"reduction": "sum"}, "weight"),
            Sample([_u(rng, (3, 4), 0.05, 0.95).T, rng.random((4, 3))], {}, "view"),
            Sample([_u(rng, (), 0.05, 0.95), rng.random(())], {}, "0-d"),
            Sample([np.array([0.0, 1.0, 1e-50, 0.5, 0.25]), np.array([1.0, 0.0, 1.0, 0.5, 0.0])],
                   {"reduction": "none"}, "probabilities 0 and 1: logs clamped", grad=False),
            Sample([_u(rng, (300, 200), 0.05, 0.95), rng.random((300, 200))], {}, "large", grad=False)]


# Second order off: the target's gradient (log(1 - p) - log p) is computed from p's values,
# not as a function of p, so its derivative with respect to p is not recorded.
register(OpInfo("binary_cross_entropy", F.binary_cross_entropy, _np_bce_probs, _bce_samples,
                lambda: [_reduction_error("binary_cross_entropy"),
                         ErrorInput([np.array([0.5, 1.5]), np.zeros(2)], {}, ValueError,
                                    "binary_cross_entropy: all elements of input should be between 0 and 1"),
                         ErrorInput([np.full((2, 3), 0.5), np.zeros(3)], {}, ValueError,
                                    r"binary_cross_entropy: target shape \(3,\) must match input shape \(2, 3\)")],
                gradgrad=False))


def _np_kl(x, t, reduction="mean", log_target=False):
    """Pointwise t (log t - x) (0 * x where t <= 0), or exp(t) (t - x) for log targets."""
    if log_target:
        loss = np.exp(t) * (t - x)
    else:
        pos = t > 0
        loss = np.where(pos, t * (np.log(np.where(pos, t, 1.0)) - x), 0.0 * x)
    if reduction == "batchmean":
        return np.sum(loss) / (x.shape[0] if x.ndim else 1)
    return _REDUCE[reduction](loss)


def _kl_samples(rng):
    z = rng.uniform(0.1, 1.0, (4, 3))
    z[1, 2] = z[3, 0] = 0.0
    return [Sample([_u(rng, (4, 3), -3, 0), rng.uniform(0.1, 1.0, (4, 3))], {}, "mean"),
            Sample([_u(rng, (4, 3), -3, 0), rng.uniform(0.1, 1.0, (4, 3))], {"reduction": "batchmean"}, "batchmean"),
            Sample([_u(rng, (5,), -3, 0), _u(rng, (5,), -3, 0)], {"log_target": True, "reduction": "sum"},
                   "log target"),
            Sample([_u(rng, (3, 4), -3, 0).T, rng.uniform(0.1, 1.0, (4, 3))], {"reduction": "none"}, "view"),
            # d/dt of t log t is unbounded at t = 0: forward only
            Sample([_u(rng, (4, 3), -3, 0), z], {"reduction": "none"}, "zero targets", grad=False),
            Sample([_u(rng, (300, 200), -3, 0), rng.uniform(0.1, 1.0, (300, 200))], {}, "large", grad=False)]


register(OpInfo("kl_div", F.kl_div, _np_kl, _kl_samples,
                lambda: [ErrorInput([np.zeros((2, 3)), np.zeros((2, 3))], {"reduction": "avg"}, ValueError,
                                    "kl_div: reduction must be")]))
