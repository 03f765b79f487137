"""Registry entries for convolution, pooling, normalization and resampling (issue 6).
Imported at the end of fastgrad._registry, which merges them into REGISTRY, so the
generic tests (forward vs reference on every dtype/thread/SIMD path, NumPy backend,
gradcheck, gradgradcheck, fused-vs-composite backward, error inputs) cover them.

References are NumPy on float64: convolutions and pooling through the direct-formula
kernels of fastgrad.reference (a sum over kernel offsets, explicit windows: nothing in
common with the C im2col + GEMM), normalizations and interpolation written out here.
Gradcheck samples are tiny (central differences cost two forwards per input element)."""
import math

import numpy as np

from fastgrad.nn import functional as C
from fastgrad import reference as R
from fastgrad._registry import ErrorInput, OpInfo, Sample, _u, register


def _x(rng, *shape):
    return _u(rng, shape, -1, 1)


def _tup(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v)


# ---- convolution ------------------------------------------------------------------------------
def _np_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, nsp=2):
    unb = x.ndim == nsp + 1
    if unb:
        x = x[None]
    if nsp == 1:
        x, w = x[:, :, None], w[:, :, None]
    ks = w.shape[2:]
    st = (1,) * (2 - nsp) + _tup(stride, nsp)
    dl = (1,) * (2 - nsp) + _tup(dilation, nsp)
    if padding == "same":
        tot = [d * (k - 1) for d, k in zip(dl, ks)]
        top = tuple(t // 2 for t in tot)
    elif padding == "valid":
        tot, top = [0, 0], (0, 0)
    else:
        top = (0,) * (2 - nsp) + _tup(padding, nsp)
        tot = [2 * p for p in top]
    o = [(n + t - d * (k - 1) - 1) // s + 1 for n, t, d, k, s in zip(x.shape[2:], tot, dl, ks, st)]
    y = R.conv2d(x, w, b, st, top, dl, groups, o[0], o[1])
    if nsp == 1:
        y = y[:, :, 0]
    return y[0] if unb else y


def _np_conv_t(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, nsp=2):
    unb = x.ndim == nsp + 1
    if unb:
        x = x[None]
    if nsp == 1:
        x, w = x[:, :, None], w[:, :, None]
    ks = w.shape[2:]
    st = (1,) * (2 - nsp) + _tup(stride, nsp)
    dl = (1,) * (2 - nsp) + _tup(dilation, nsp)
    pd = (0,) * (2 - nsp) + _tup(padding, nsp)
    op = (0,) * (2 - nsp) + _tup(output_padding, nsp)
    cout = w.shape[1] * groups
    o = [(n - 1) * s - 2 * p + d * (k - 1) + q + 1 for n, s, p, d, k, q in zip(x.shape[2:], st, pd, dl, ks, op)]
    y = R.conv2d_bwd(x, None, w, (x.shape[0], cout, o[0], o[1]), w.shape, st, pd, dl, groups,
                     True, False, False)[0]
    if b is not None:
        y = y + b[None, :, None, None]
    if nsp == 1:
        y = y[:, :, 0]
    return y[0] if unb else y


def _conv2d_samples(rng):
    return [
        Sample([_x(rng, 2, 2, 5, 5), _x(rng, 3, 2, 3, 3), _x(rng, 3)], {"padding": 1}, "pad 1, bias"),
        Sample([_x(rng, 1, 2, 7, 6), _x(rng, 2, 2, 3, 2)],
               {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2)}, "stride, dilation, no bias"),
        Sample([_x(rng, 2, 4, 4, 4), _x(rng, 4, 2, 2, 2), _x(rng, 4)], {"groups": 2, "padding": "same"},
               "groups 2, same with an even kernel"),
        Sample([_x(rng, 1, 3, 5, 5), _x(rng, 3, 1, 3, 3)], {"groups": 3, "padding": "valid"}, "depthwise"),
        Sample([_x(rng, 2, 3, 4, 3), _x(rng, 2, 3, 1, 1), _x(rng, 2)], {}, "1x1"),
        Sample([_x(rng, 2, 1, 5, 4), _x(rng, 6, 1, 2, 2), _x(rng, 6)], {"padding": 1},
               "more output channels than weights per channel"),
        Sample([_x(rng, 40, 1, 12, 12), _x(rng, 16, 1, 3, 3), _x(rng, 16)], {"padding": 1},
               "large, 1 input channel", grad=False),
        Sample([_x(rng, 2, 5, 4).transpose(0, 2, 1), _x(rng, 2, 2, 2, 2)], {"stride": 2}, "unbatched view"),
        Sample([_x(rng, 9, 8, 12, 12), _x(rng, 16, 8, 3, 3), _x(rng, 16)], {"padding": 1},
               "large (threaded)", grad=False),
        Sample([_x(rng, 3, 4, 10, 9), _x(rng, 6, 2, 3, 3)], {"groups": 2, "stride": 2, "padding": 2},
               "large strided groups", grad=False),
        Sample([_x(rng, 6, 6, 11, 9), _x(rng, 12, 1, 3, 3), _x(rng, 12)],
               {"groups": 6, "stride": (2, 1), "padding": 1, "dilation": (1, 2)}, "large depthwise x2", grad=False),
        Sample([_x(rng, 1, 2, 5, 5), _x(rng, 4, 1, 2, 3), _x(rng, 4)], {"groups": 2, "padding": 1},
               "depthwise multiplier 2"),
    ]


def _conv1d_samples(rng):
    return [
        Sample([_x(rng, 2, 2, 7), _x(rng, 3, 2, 3), _x(rng, 3)], {"padding": 1}, "pad 1, bias"),
        Sample([_x(rng, 2, 2, 9), _x(rng, 2, 1, 2)], {"stride": 2, "dilation": 2, "groups": 2}, "strided groups"),
        Sample([_x(rng, 2, 3, 6), _x(rng, 2, 3, 4)], {"padding": "same"}, "same, even kernel"),
        Sample([_x(rng, 2, 5), _x(rng, 3, 2, 3)], {}, "unbatched"),
        Sample([_x(rng, 100, 8, 40), _x(rng, 16, 8, 5), _x(rng, 16)], {"padding": 2}, "large", grad=False),
    ]


def _conv_errors(who, nsp):
    sp = (5,) * nsp
    k = (3,) * nsp
    return lambda: [
        ErrorInput([np.zeros((2, 3) + sp), np.zeros((4, 2) + k)], {}, ValueError,
                   rf"{who}: expected input with 2 channels \(weight shape \(4, 2{', 3' * nsp}\), groups 1\), "
                   rf"got 3 channels"),
        ErrorInput([np.zeros((2, 2) + (2,) * nsp), np.zeros((4, 2) + k)], {}, ValueError,
                   rf"{who}: input spatial size .* is smaller than the kernel size"),
        ErrorInput([np.zeros((2, 4) + sp), np.zeros((3, 2) + k)], {"groups": 2}, ValueError,
                   rf"{who}: out_channels 3 .* is not divisible by groups 2"),
        ErrorInput([np.zeros((2, 2) + sp), np.zeros((4, 2) + k)], {"stride": 2, "padding": "same"},
                   ValueError, rf"{who}: padding='same' is not supported for strided"),
        ErrorInput([np.zeros((2, 2) + sp), np.zeros((4, 2) + k), np.zeros(3)], {}, ValueError,
                   rf"{who}: bias shape \(3,\) does not match"),
        ErrorInput([np.zeros(sp), np.zeros((4, 2) + k)], {}, ValueError, rf"{who}: expected"),
    ]


register(OpInfo("conv2d", C.conv2d, _np_conv, _conv2d_samples, _conv_errors("conv2d", 2),
                rtol32=1e-4, atol32=1e-5, extreme=False))
register(OpInfo("conv1d", C.conv1d, lambda *a, **k: _np_conv(*a, nsp=1, **k), _conv1d_samples,
                _conv_errors("conv1d", 1), rtol32=1e-4, atol32=1e-5, extreme=False))


def _convt2d_samples(rng):
    return [
        Sample([_x(rng, 2, 3, 3, 3), _x(rng, 3, 2, 3, 3), _x(rng, 2)], {}, "basic"),
        Sample([_x(rng, 1, 2, 3, 4), _x(rng, 2, 2, 3, 2)],
               {"stride": 2, "padding": 1, "output_padding": 1}, "stride, padding, output_padding"),
        Sample([_x(rng, 2, 4, 3, 3), _x(rng, 4, 1, 2, 2)], {"groups": 2, "dilation": 2}, "groups, dilation"),
        Sample([_x(rng, 8, 8, 7, 7), _x(rng, 8, 4, 3, 3), _x(rng, 4)], {"stride": 2}, "large", grad=False),
    ]


def _convt1d_samples(rng):
    return [
        Sample([_x(rng, 2, 3, 4), _x(rng, 3, 2, 3), _x(rng, 2)], {"stride": 2, "output_padding": 1}, "basic"),
        Sample([_x(rng, 4, 5), _x(rng, 4, 1, 2)], {"groups": 2, "padding": 1}, "unbatched groups"),
    ]


def _convt_errors(who, nsp):
    k = (3,) * nsp
    return lambda: [
        ErrorInput([np.zeros((2, 3) + (4,) * nsp), np.zeros((2, 4) + k)], {}, ValueError,
                   rf"{who}: expected input with 2 channels .* got 3 channels"),
        ErrorInput([np.zeros((2, 2) + (4,) * nsp), np.zeros((2, 4) + k)], {"stride": 2, "output_padding": 2},
                   ValueError, rf"{who}: output_padding"),
    ]


register(OpInfo("conv_transpose2d", C.conv_transpose2d, _np_conv_t, _convt2d_samples,
                _convt_errors("conv_transpose2d", 2), rtol32=1e-4, atol32=1e-5, extreme=False))
register(OpInfo("conv_transpose1d", C.conv_transpose1d, lambda *a, **k: _np_conv_t(*a, nsp=1, **k),
                _convt1d_samples, _convt_errors("conv_transpose1d", 1), rtol32=1e-4, atol32=1e-5,
                extreme=False))


# ---- pooling ------------------------------------------------------------------------------------
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


register(OpInfo("max_pool2d", C.max_pool2d, lambda x, **k: _np_pool("max", x, **k),
                _pool2d_samples([({"kernel_size": 2, "dilation": 2}, "dilation")]),
                _pool_errors("max_pool2d", 2), extreme=False))
register(OpInfo("max_pool1d", C.max_pool1d, lambda x, **k: _np_pool("max", x, nsp=1, **k),
                _pool1d_samples([({"kernel_size": 2, "dilation": 3}, "dilation")]),
                _pool_errors("max_pool1d", 1), extreme=False))
register(OpInfo("avg_pool2d", C.avg_pool2d, lambda x, **k: _np_pool("avg", x, **k),
                _pool2d_samples([({"kernel_size": 3, "padding": 1, "count_include_pad": False}, "exclude pad")]),
                _pool_errors("avg_pool2d", 2), extreme=False))
register(OpInfo("avg_pool1d", C.avg_pool1d, lambda x, **k: _np_pool("avg", x, nsp=1, **k),
                _pool1d_samples([({"kernel_size": 3, "padding": 1, "count_include_pad": False}, "exclude pad")]),
                _pool_errors("avg_pool1d", 1), extreme=False))
register(OpInfo("adaptive_avg_pool2d", C.adaptive_avg_pool2d, _np_adaptive,
                lambda rng: [Sample([_x(rng, 2, 2, 5, 7)], {"output_size": (2, 3)}, "uneven windows"),
                             Sample([_x(rng, 2, 3, 3)], {"output_size": (None, 2)}, "None entry, unbatched"),
                             Sample([_x(rng, 1, 2, 3, 2)], {"output_size": 4}, "upsampling"),
                             Sample([_x(rng, 2, 3, 4, 4)], {"output_size": 1}, "global"),
                             Sample([_x(rng, 16, 32, 7, 7)], {"output_size": 1}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((2, 2, 3, 3))], {"output_size": (2, 2, 2)}, ValueError,
                                    r"adaptive_avg_pool2d: output_size must have 2 entries")],
                extreme=False))
register(OpInfo("adaptive_avg_pool1d", C.adaptive_avg_pool1d, lambda x, output_size: _np_adaptive(x, output_size, 1),
                lambda rng: [Sample([_x(rng, 2, 2, 7)], {"output_size": 3}, "uneven"),
                             Sample([_x(rng, 2, 5)], {"output_size": 1}, "global unbatched")],
                lambda: [ErrorInput([np.zeros((2, 2, 3))], {"output_size": 0}, ValueError,
                                    r"adaptive_avg_pool1d: output_size must be >= 1")],
                extreme=False))


# ---- normalization ------------------------------------------------------------------------------
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
    from fastgrad import tensor
    rmt = tensor(rm.astype(x.dtype))
    rvt = tensor(rv.astype(x.dtype))
    return C.batch_norm(x, rmt, rvt, weight, bias, training, momentum, eps)


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
                         ErrorInput([np.zeros((1, 3))], {"rm": np.zeros(3), "rv": np.ones(3), "training": True}, ValueError,
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


register(OpInfo("layer_norm", C.layer_norm, _np_ln,
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


register(OpInfo("group_norm", C.group_norm, _np_gn,
                lambda rng: [Sample([_x(rng, 2, 4, 3, 2), 2, _x(rng, 4), _x(rng, 4)], {}, "2 groups"),
                             Sample([_x(rng, 2, 6, 3), 3, _x(rng, 6)], {}, "(N, C, L) weight only"),
                             Sample([_x(rng, 3, 4), 1], {}, "(N, C) one group, no affine"),
                             Sample([_x(rng, 8, 16, 10, 10), 4, _x(rng, 16), _x(rng, 16)], {}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((2, 6, 3))], {"num_groups": 4}, ValueError,
                                    r"group_norm: num_groups 4 must be a positive divisor of the 6 channels")],
                rtol32=1e-4, atol32=1e-4, extreme=False))


# ---- interpolation --------------------------------------------------------------------------------
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
            if mode == "nearest":
                f = n / o if size is not None else 1.0 / scale_factor
                res.append(np.take(y, min(int(math.floor(i * f)), n - 1), axis=ax))
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


register(OpInfo("interpolate", C.interpolate, _np_interp,
                lambda rng: [Sample([_x(rng, 1, 2, 3, 4)], {"scale_factor": 2}, "nearest x2"),
                             Sample([_x(rng, 1, 2, 5, 4)], {"size": (3, 7)}, "nearest to size"),
                             Sample([_x(rng, 1, 2, 3, 4)], {"size": (5, 6), "mode": "bilinear"}, "bilinear"),
                             Sample([_x(rng, 1, 2, 3, 4)], {"size": (5, 7), "mode": "bilinear",
                                                            "align_corners": True}, "bilinear align corners"),
                             Sample([_x(rng, 2, 2, 5)], {"scale_factor": 2, "mode": "linear"}, "linear 1-d")],
                lambda: [ErrorInput([np.zeros((1, 2, 3, 3))], {"size": 4, "mode": "linear"}, ValueError,
                                    r"interpolate: mode 'linear' expects 3-d input"),
                         ErrorInput([np.zeros((1, 2, 3, 3))], {}, ValueError,
                                    r"interpolate: give exactly one of size and scale_factor")],
                rtol32=1e-5, atol32=1e-6, extreme=False))
