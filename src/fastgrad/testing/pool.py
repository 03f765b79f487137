"""Registry entries of pooling and interpolation.

Pooling references go through the explicit-window kernels of fastgrad.reference;
interpolation is written out here."""
import math

import numpy as np

from fastgrad import reference as R
from fastgrad.nn import functional as F
from fastgrad.testing.opinfo import ErrorInput, OpInfo, OpTable, Sample, _tup, _u

OPS = OpTable()
register = OPS.register


def _x(rng, *shape):
    return _u(rng, shape, -1, 1)


# ---- pooling ----------------------------------------------------------------------------------
def _np_pool(op, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
             count_include_pad=True, nsp=2):
    k = _tup(kernel_size, nsp)
    s = k if stride is None else _tup(stride, nsp)
    p, d = _tup(padding, nsp), _tup(dilation, nsp)
    o = []
    for n, kk, ss, pp, dd in zip(x.shape[-nsp:], k, s, p, d):
        num = n + 2 * pp - dd * (kk - 1) - 1
        v = (num + (ss - 1 if ceil_mode else 0)) // ss + 1
        if ceil_mode and (v - 1) * ss >= n + pp:
            v -= 1
        o.append(v)
    if nsp == 1:
        x = x[..., None, :]
        k, s, p, d, o = (1,) + k, (1,) + s, (0,) + p, (1,) + d, [1] + o
    y = R.pool2d(R.POOL[op], x, o[0], o[1], k, s, p, d, count_include_pad)[0]
    return y[..., 0, :] if nsp == 1 else y


def _np_adaptive(x, output_size, nsp=2):
    o = _tup(output_size, nsp)
    o = tuple(n if v is None else v for v, n in zip(o, x.shape[-nsp:]))
    if nsp == 1:
        return R.pool2d(R.POOL["adaptive_avg"], x[..., None, :], 1, o[0])[0][..., 0, :]
    return R.pool2d(R.POOL["adaptive_avg"], x, o[0], o[1])[0]


def _pool2d_samples(extra=None):
    def samples(rng):
        out = [Sample([_x(rng, 2, 2, 5, 6)], {"kernel_size": 2}, "k2"),
               Sample([_x(rng, 1, 2, 7, 7)], {"kernel_size": 3, "stride": 2, "padding": 1}, "k3 s2 p1"),
               Sample([_x(rng, 1, 2, 6, 5)], {"kernel_size": (3, 2), "stride": (2, 1), "ceil_mode": True},
                      "ceil mode"),
               Sample([_x(rng, 2, 5, 5)], {"kernel_size": 2, "stride": 1}, "unbatched"),
               Sample([_x(rng, 8, 16, 14, 14)], {"kernel_size": 2}, "large", grad=False)]
        for kw, desc in (extra or []):
            out.append(Sample([_x(rng, 1, 2, 7, 6)], kw, desc))
        return out
    return samples


def _pool1d_samples(extra=None):
    def samples(rng):
        out = [Sample([_x(rng, 2, 2, 9)], {"kernel_size": 2}, "k2"),
               Sample([_x(rng, 2, 3, 8)], {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, "ceil"),
               Sample([_x(rng, 3, 7)], {"kernel_size": 3, "stride": 1}, "unbatched")]
        for kw, desc in (extra or []):
            out.append(Sample([_x(rng, 2, 2, 9)], kw, desc))
        return out
    return samples


def _pool_errors(who, nsp):
    return lambda: [
        ErrorInput([np.zeros((2, 2) + (5,) * nsp)], {"kernel_size": 2, "padding": 2}, ValueError,
                   rf"{who}: padding should be at most half of the kernel size"),
        ErrorInput([np.zeros((2, 2) + (2,) * nsp)], {"kernel_size": 3}, ValueError, rf"{who}: input spatial size"),
        ErrorInput([np.zeros((5,) * nsp)], {"kernel_size": 2}, ValueError, rf"{who}: expected"),
    ]


register(OpInfo("max_pool2d", F.max_pool2d, lambda x, **k: _np_pool("max", x, **k),
                _pool2d_samples([({"kernel_size": 2, "dilation": 2}, "dilation")]),
                _pool_errors("max_pool2d", 2), extreme=False))
register(OpInfo("max_pool1d", F.max_pool1d, lambda x, **k: _np_pool("max", x, nsp=1, **k),
                _pool1d_samples([({"kernel_size": 2, "dilation": 3}, "dilation")]),
                _pool_errors("max_pool1d", 1), extreme=False))
register(OpInfo("avg_pool2d", F.avg_pool2d, lambda x, **k: _np_pool("avg", x, **k),
                _pool2d_samples([({"kernel_size": 3, "padding": 1, "count_include_pad": False}, "exclude pad")]),
                _pool_errors("avg_pool2d", 2), extreme=False))
register(OpInfo("avg_pool1d", F.avg_pool1d, lambda x, **k: _np_pool("avg", x, nsp=1, **k),
                _pool1d_samples([({"kernel_size": 3, "padding": 1, "count_include_pad": False}, "exclude pad")]),
                _pool_errors("avg_pool1d", 1), extreme=False))
register(OpInfo("adaptive_avg_pool2d", F.adaptive_avg_pool2d, _np_adaptive,
                lambda rng: [Sample([_x(rng, 2, 2, 5, 7)], {"output_size": (2, 3)}, "uneven windows"),
                             Sample([_x(rng, 2, 3, 3)], {"output_size": (None, 2)}, "None entry, unbatched"),
                             Sample([_x(rng, 1, 2, 3, 2)], {"output_size": 4}, "upsampling"),
                             Sample([_x(rng, 2, 3, 4, 4)], {"output_size": 1}, "global"),
                             Sample([_x(rng, 16, 32, 7, 7)], {"output_size": 1}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((2, 2, 3, 3))], {"output_size": (2, 2, 2)}, ValueError,
                                    r"adaptive_avg_pool2d: output_size must have 2 entries")],
                extreme=False))
register(OpInfo("adaptive_avg_pool1d", F.adaptive_avg_pool1d, lambda x, output_size: _np_adaptive(x, output_size, 1),
                lambda rng: [Sample([_x(rng, 2, 2, 7)], {"output_size": 3}, "uneven"),
                             Sample([_x(rng, 2, 5)], {"output_size": 1}, "global unbatched")],
                lambda: [ErrorInput([np.zeros((2, 2, 3))], {"output_size": 0}, ValueError,
                                    r"adaptive_avg_pool1d: output_size must be >= 1")],
                extreme=False))


# ---- interpolation --------------------------------------------------------------------------
def _np_interp(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    nsp = x.ndim - 2
    sp = x.shape[2:]
    out = _tup(size, nsp) if size is not None else tuple(int(math.floor(n * scale_factor)) for n in sp)
    y = x
    for a in range(nsp):
        n, o = sp[a], out[a]
        ax = 2 + a
        res = []
        for i in range(o):
            if mode in ("nearest", "nearest-exact"):
                f = n / o if size is not None else 1.0 / scale_factor
                c = i + 0.5 if mode == "nearest-exact" else i
                res.append(np.take(y, min(int(math.floor(c * f)), n - 1), axis=ax))
                continue
            if align_corners:
                src = i * (n - 1) / (o - 1) if o > 1 else 0.0
            else:
                f = n / o if size is not None else 1.0 / scale_factor
                src = max((i + 0.5) * f - 0.5, 0.0)
            i0 = min(int(math.floor(src)), n - 1)
            i1 = min(i0 + 1, n - 1)
            lam = src - i0
            res.append((1 - lam) * np.take(y, i0, axis=ax) + lam * np.take(y, i1, axis=ax))
        y = np.stack(res, axis=ax)
    return y


def _interp_samples(rng):
    return [Sample([_x(rng, 1, 2, 3, 4)], {"scale_factor": 2}, "nearest x2"),
            Sample([_x(rng, 1, 2, 5, 4)], {"size": (3, 7)}, "nearest to size"),
            Sample([_x(rng, 1, 2, 3, 4)], {"size": (5, 6), "mode": "bilinear"}, "bilinear"),
            Sample([_x(rng, 1, 2, 3, 4)], {"size": (5, 7), "mode": "bilinear", "align_corners": True},
                   "bilinear align corners"),
            Sample([_x(rng, 2, 2, 5)], {"scale_factor": 2, "mode": "linear"}, "linear 1-d"),
            Sample([_x(rng, 1, 2, 5, 4)], {"size": (3, 7), "mode": "nearest-exact"}, "nearest-exact"),
            Sample([_x(rng, 1, 2, 3, 4, 3)], {"size": (4, 3, 5), "mode": "trilinear"}, "trilinear"),
            Sample([_x(rng, 1, 2, 3, 2, 3)], {"scale_factor": 1.5, "mode": "trilinear",
                                              "align_corners": True}, "trilinear align corners"),
            Sample([_x(rng, 1, 2, 3, 2, 3)], {"scale_factor": 2}, "nearest 3-d")]


def _interp_errors():
    return [ErrorInput([np.zeros((1, 2, 3, 3))], {"size": 4, "mode": "linear"}, ValueError,
                       r"interpolate: mode 'linear' expects 3-d input"),
            ErrorInput([np.zeros((1, 2, 3, 3))], {}, ValueError,
                       r"interpolate: give exactly one of size and scale_factor")]


register(OpInfo("interpolate", F.interpolate, _np_interp, _interp_samples, _interp_errors,
                rtol32=1e-5, atol32=1e-6, extreme=False))
register(OpInfo("upsample", F.upsample, _np_interp, _interp_samples, _interp_errors,
                rtol32=1e-5, atol32=1e-6, extreme=False))
