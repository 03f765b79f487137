"""Registry entries of the convolutions.

References go through the direct-formula kernels of fastgrad.reference (a sum over
kernel offsets: nothing in common with the C im2col + GEMM).  Gradcheck samples are tiny
(central differences cost two forwards per input element)."""

import numpy as np

from fastgrad import reference as R
from fastgrad.nn import functional as F
from fastgrad.testing.opinfo import ErrorInput, OpInfo, OpTable, Sample, _tup, _u

OPS = OpTable()
register = OPS.register


def _x(rng, *shape):
    return _u(rng, shape, -1, 1)


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


register(OpInfo("conv2d", F.conv2d, _np_conv, _conv2d_samples, _conv_errors("conv2d", 2),
                rtol32=1e-4, atol32=1e-5, extreme=False))
register(OpInfo("conv1d", F.conv1d, lambda *a, **k: _np_conv(*a, nsp=1, **k), _conv1d_samples,
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


register(OpInfo("conv_transpose2d", F.conv_transpose2d, _np_conv_t, _convt2d_samples,
                _convt_errors("conv_transpose2d", 2), rtol32=1e-4, atol32=1e-5, extreme=False))
register(OpInfo("conv_transpose1d", F.conv_transpose1d, lambda *a, **k: _np_conv_t(*a, nsp=1, **k),
                _convt1d_samples, _convt_errors("conv_transpose1d", 1), rtol32=1e-4, atol32=1e-5,
                extreme=False))
