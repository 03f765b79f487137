"""Registry entries of the losses."""

import numpy as np

from fastgrad.nn import functional as F
from fastgrad.testing.opinfo import ErrorInput, OpInfo, OpTable, Sample, _u

OPS = OpTable()
register = OPS.register


def _np_xent(x, t, reduction="mean", ignore_index=-100, label_smoothing=0.0):
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
            Sample([_u(rng, (6, 5), -1, 1) * 1e4, t], {}, "magnitude 1e4", grad=False),
            Sample([_u(rng, (500, 100), -3, 3), rng.integers(0, 100, 500)], {}, "large", grad=False)]


def _xent_errors():
    return [ErrorInput([np.zeros((3, 4)), np.array([0, 4, 1])], {}, IndexError,
                       r"cross_entropy: target 4 at position 1 is out of bounds for 4 classes"),
            ErrorInput([np.zeros((3, 4)), np.array([0, 1])], {}, ValueError,
                       r"cross_entropy: input shape \(3, 4\) expects target shape \(3,\)"),
            ErrorInput([np.zeros((3, 4)), np.array([0, 1, 2])], {"reduction": "avg"}, ValueError,
                       r"cross_entropy: reduction must be one of")]


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
                lambda x, y, reduction="mean": {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]((x - y) ** 2),
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
