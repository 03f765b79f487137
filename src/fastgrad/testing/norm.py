"""Registry entries of batch, layer and group normalization (references written out
here in NumPy)."""

import numpy as np

import fastgrad as fg
from fastgrad.nn import functional as F
from fastgrad.testing.opinfo import ErrorInput, OpInfo, OpTable, Sample, _tup, _u

OPS = OpTable()
register = OPS.register


def _x(rng, *shape):
    return _u(rng, shape, -1, 1)


def _np_bn(x, weight=None, bias=None, rm=None, rv=None, training=False, momentum=0.1, eps=1e-5):
    ax = (0,) + tuple(range(2, x.ndim))
    bs = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        mu, var = x.mean(ax), x.var(ax)
    else:
        mu, var = rm, rv
    y = (x - mu.reshape(bs)) / np.sqrt(var.reshape(bs) + eps)
    if weight is not None:
        y = y * weight.reshape(bs)
    if bias is not None:
        y = y + bias.reshape(bs)
    return y


def _bn_op(x, weight=None, bias=None, rm=None, rv=None, training=False, momentum=0.1, eps=1e-5):
    # running statistics as buffers, passed as arrays (copies: training updates them)
    rmt = fg.tensor(rm.astype(x.dtype))
    rvt = fg.tensor(rv.astype(x.dtype))
    return F.batch_norm(x, rmt, rvt, weight, bias, training, momentum, eps)


def _bn_samples(rng):
    def st(c):
        return _x(rng, c), rng.uniform(0.5, 2.0, c)
    rm, rv = st(3)
    r = {"rm": rm, "rv": rv}
    return [Sample([_x(rng, 4, 3, 2, 2), _x(rng, 3), _x(rng, 3)], {"training": True, **r}, "2d training"),
            Sample([_x(rng, 4, 3, 2, 2), _x(rng, 3), _x(rng, 3)], {"training": False, **r}, "2d eval"),
            Sample([_x(rng, 5, 3)], {"training": True, **r}, "(N, C) no affine"),
            Sample([_x(rng, 2, 3, 4), _x(rng, 3)], {"training": True, "eps": 0.1, **r}, "(N, C, L) weight only"),
            Sample([_x(rng, 16, 3, 20, 20), _x(rng, 3), _x(rng, 3)], {"training": True, **r}, "large",
                   grad=False)]


register(OpInfo("batch_norm", _bn_op, _np_bn, _bn_samples,
                lambda: [ErrorInput([np.zeros((2, 3, 4))], {"rm": np.zeros(4), "rv": np.ones(4)}, ValueError,
                                    r"batch_norm: running_mean must have shape \(3,\) for input shape \(2, 3, 4\)"),
                         ErrorInput([np.zeros((1, 3))], {"rm": np.zeros(3), "rv": np.ones(3), "training": True},
                                    ValueError,
                                    r"batch_norm: expected more than 1 value per channel")],
                rtol32=1e-4, atol32=1e-4, extreme=False))


def _np_ln(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    k = len(_tup(normalized_shape, 1))
    ax = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(ax, keepdims=True)) / np.sqrt(x.var(ax, keepdims=True) + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


register(OpInfo("layer_norm", F.layer_norm, _np_ln,
                lambda rng: [Sample([_x(rng, 3, 4), (4,), _x(rng, 4), _x(rng, 4)], {}, "last dim"),
                             Sample([_x(rng, 2, 2, 3), (2, 3), _x(rng, 2, 3)], {}, "two dims, weight only"),
                             Sample([_x(rng, 4, 3).T, 4], {"eps": 0.1}, "view, no affine"),
                             Sample([_x(rng, 64, 256), (256,), _x(rng, 256), _x(rng, 256)], {}, "large",
                                    grad=False)],
                lambda: [ErrorInput([np.zeros((2, 3))], {"normalized_shape": (4,)}, ValueError,
                                    r"layer_norm: normalized_shape \(4,\) does not match")],
                rtol32=1e-4, atol32=1e-4, extreme=False))


def _np_gn(x, num_groups, weight=None, bias=None, eps=1e-5):
    n, c = x.shape[:2]
    x3 = x.reshape(n, num_groups, -1)
    y = ((x3 - x3.mean(2, keepdims=True)) / np.sqrt(x3.var(2, keepdims=True) + eps)).reshape(x.shape)
    bs = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(bs)
    if bias is not None:
        y = y + bias.reshape(bs)
    return y


register(OpInfo("group_norm", F.group_norm, _np_gn,
                lambda rng: [Sample([_x(rng, 2, 4, 3, 2), 2, _x(rng, 4), _x(rng, 4)], {}, "2 groups"),
                             Sample([_x(rng, 2, 6, 3), 3, _x(rng, 6)], {}, "(N, C, L) weight only"),
                             Sample([_x(rng, 3, 4), 1], {}, "(N, C) one group, no affine"),
                             Sample([_x(rng, 8, 16, 10, 10), 4, _x(rng, 16), _x(rng, 16)], {}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((2, 6, 3))], {"num_groups": 4}, ValueError,
                                    r"group_norm: num_groups 4 must be a positive divisor of the 6 channels")],
                rtol32=1e-4, atol32=1e-4, extreme=False))
