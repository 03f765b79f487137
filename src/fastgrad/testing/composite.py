"""Registry entries of the nn.functional ops composed of other ops: activations
(logsigmoid, softsign, celu, softmin), distances and normalisation (normalize,
cosine_similarity, pairwise_distance, rms_norm), 3-d convolution and pooling, and max
unpooling.  References are written out in NumPy here."""
import itertools
import math

import numpy as np

from fastgrad.nn import functional as F
from fastgrad.testing.opinfo import (ErrorInput, OpInfo, OpTable, Sample, _tup, _u,
                                     unary_errors, unary_samples)

OPS = OpTable()
register = OPS.register


def _act(name, op, ref, lo=-3.0, hi=3.0, **kw):
    register(OpInfo(name, op, ref, unary_samples(lo, hi, **kw), unary_errors(name, kw),
                    extreme=False))


def _np_softmax(x, dim):
    e = np.exp(x - np.max(x, axis=dim, keepdims=True))
    return e / np.sum(e, axis=dim, keepdims=True)


_act("logsigmoid", F.logsigmoid, lambda x: -np.logaddexp(0.0, -x), -6, 6)
_act("softsign", F.softsign, lambda x: x / (1 + np.abs(x)), away=0.05)
_act("celu", F.celu, lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(x / alpha)),
     away=0.05, alpha=0.7)
register(OpInfo("softmin", F.softmin, lambda x, dim: _np_softmax(-x, dim),
                lambda rng: [Sample([_u(rng, (4, 5), -3, 3)], {"dim": 1}),
                             Sample([_u(rng, (4, 5), -3, 3)], {"dim": 0}),
                             Sample([_u(rng, (2, 3, 4), -3, 3)], {"dim": -1}),
                             Sample([_u(rng, (5, 4), -3, 3).T], {"dim": 1}, "view")],
                lambda: [ErrorInput([np.zeros((2, 3))], {"dim": 2}, IndexError,
                                    r"softmax: dimension 2 is out of range")],
                extreme=False))


# ---- distances and normalisation ---------------------------------------------------------------
def _np_pnorm(x, p, axis, keepdims=False):
    if p == math.inf:
        return np.max(np.abs(x), axis=axis, keepdims=keepdims)
    return np.sum(np.abs(x) ** p, axis=axis, keepdims=keepdims) ** (1.0 / p)


def _np_normalize(x, p=2.0, dim=1, eps=1e-12):
    return x / np.maximum(_np_pnorm(x, p, dim, True), eps)


register(OpInfo("normalize", F.normalize, _np_normalize,
                lambda rng: [Sample([_u(rng, (4, 5), -2, 2, 0.1)]),
                             Sample([_u(rng, (4, 5), -2, 2, 0.1)], {"p": 1.0, "dim": 0}),
                             Sample([_u(rng, (2, 3, 4), -2, 2, 0.1)], {"dim": -1, "p": 3.0}),
                             Sample([_u(rng, (4, 3), -2, 2, 0.1).T], {}, "view")],
                lambda: [ErrorInput(["not a tensor"], {}, TypeError, "normalize")],
                extreme=False))


def _np_cos(x1, x2, dim=1, eps=1e-8):
    x1, x2 = np.broadcast_arrays(x1, x2)
    n1 = np.maximum(np.sqrt(np.sum(x1 * x1, axis=dim, keepdims=True)), eps)
    n2 = np.maximum(np.sqrt(np.sum(x2 * x2, axis=dim, keepdims=True)), eps)
    return np.sum(x1 / n1 * (x2 / n2), axis=dim)


register(OpInfo("cosine_similarity", F.cosine_similarity, _np_cos,
                lambda rng: [Sample([_u(rng, (4, 5), -2, 2), _u(rng, (4, 5), -2, 2)]),
                             Sample([_u(rng, (4, 5), -2, 2), _u(rng, (1, 5), -2, 2)], {"dim": 0},
                                    "broadcast"),
                             Sample([_u(rng, (2, 3, 4), -2, 2), _u(rng, (2, 3, 4), -2, 2)],
                                    {"dim": -1})],
                lambda: [ErrorInput([np.zeros((2, 3)), np.zeros((4,))], {}, ValueError,
                                    r"cosine_similarity: shapes \(2, 3\) and \(4,\) cannot be broadcast")],
                extreme=False))


def _np_pdist(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    return _np_pnorm(x1 - x2 + eps, p, -1, keepdim)


register(OpInfo("pairwise_distance", F.pairwise_distance, _np_pdist,
                lambda rng: [Sample([_u(rng, (4, 5), -2, 2), _u(rng, (4, 5), -2, 2)]),
                             Sample([_u(rng, (4, 5), -2, 2), _u(rng, (5,), -2, 2)],
                                    {"p": 1.0, "keepdim": True}, "broadcast"),
                             Sample([_u(rng, (6,), -2, 2), _u(rng, (6,), -2, 2)], {"p": 3.0}, "1-d")],
                lambda: [ErrorInput([np.zeros((2, 3)), np.zeros((4,))], {}, ValueError,
                                    r"sub: shapes \(2, 3\) and \(4,\) cannot be broadcast")],
                extreme=False))


def _np_rms(x, normalized_shape, weight=None, eps=None):
    k = len(_tup(normalized_shape, 1))
    eps = np.finfo(np.float64).eps if eps is None else eps
    y = x / np.sqrt(np.mean(x * x, axis=tuple(range(-k, 0)), keepdims=True) + eps)
    return y if weight is None else y * weight


register(OpInfo("rms_norm", F.rms_norm, _np_rms,
                lambda rng: [Sample([_u(rng, (3, 5), -2, 2)], {"normalized_shape": (5,)}),
                             Sample([_u(rng, (2, 3, 4), -2, 2), (3, 4), _u(rng, (3, 4), -2, 2)],
                                    {}, "weight"),
                             Sample([_u(rng, (4, 6), -2, 2)], {"normalized_shape": 6, "eps": 0.1},
                                    "eps")],
                lambda: [ErrorInput([np.zeros((2, 3))], {"normalized_shape": (4,)}, ValueError,
                                    r"rms_norm: normalized_shape \(4,\) does not match")],
                extreme=False, rtol32=1e-4, atol32=1e-5))


# ---- 3-d convolution and pooling ---------------------------------------------------------------
def _np_conv3d(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1):
    s, d = _tup(stride, 3), _tup(dilation, 3)
    ks = w.shape[2:]
    unb = x.ndim == 4
    if unb:
        x = x[None]
    if padding == "same":
        tot = [dd * (k - 1) for dd, k in zip(d, ks)]
        pads = [(t // 2, t - t // 2) for t in tot]
    else:
        pads = [(p, p) for p in _tup(padding, 3)]
    x = np.pad(x, [(0, 0), (0, 0)] + pads)
    n, c = x.shape[:2]
    o = [(x.shape[2 + i] - d[i] * (ks[i] - 1) - 1) // s[i] + 1 for i in range(3)]
    cout, cg = w.shape[:2]
    og = cout // groups
    y = np.zeros((n, cout, *o))
    for g in range(groups):
        xs = x[:, g * cg:(g + 1) * cg]
        ws = w[g * og:(g + 1) * og]
        for a, b, e in itertools.product(*(range(k) for k in ks)):
            win = xs[:, :, a * d[0]:a * d[0] + s[0] * (o[0] - 1) + 1:s[0],
                     b * d[1]:b * d[1] + s[1] * (o[1] - 1) + 1:s[1],
                     e * d[2]:e * d[2] + s[2] * (o[2] - 1) + 1:s[2]]
            y[:, g * og:(g + 1) * og] += np.einsum("ncdhw,oc->nodhw", win, ws[:, :, a, b, e])
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1, 1)
    return y[0] if unb else y


register(OpInfo("conv3d", F.conv3d, _np_conv3d,
                lambda rng: [Sample([_u(rng, (2, 2, 4, 5, 4), -1, 1), _u(rng, (3, 2, 2, 3, 2), -1, 1),
                                     _u(rng, (3,), -1, 1)]),
                             Sample([_u(rng, (1, 4, 5, 4, 5), -1, 1), _u(rng, (4, 2, 3, 2, 3), -1, 1)],
                                    {"stride": (2, 1, 2), "padding": 1, "dilation": (1, 2, 1),
                                     "groups": 2}, "strided grouped"),
                             Sample([_u(rng, (2, 3, 4, 4), -1, 1), _u(rng, (2, 2, 2, 3, 2), -1, 1)],
                                    {"padding": "same"}, "unbatched same"),
                             Sample([_u(rng, (2, 8, 8, 10, 10), -1, 1), _u(rng, (8, 8, 3, 3, 3), -1, 1)],
                                    {"padding": 1}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((1, 3, 4, 4, 4)), np.zeros((2, 2, 1, 1, 1))], {},
                                    ValueError, r"conv3d: expected input with 2 channels"),
                         ErrorInput([np.zeros((1, 2, 2, 2, 2)), np.zeros((2, 2, 3, 3, 3))], {},
                                    ValueError, r"conv3d: input spatial size \(2, 2, 2\)")],
                rtol32=1e-4, atol32=1e-5))


def _np_conv_t3d(x, w, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    s, d, p, op = _tup(stride, 3), _tup(dilation, 3), _tup(padding, 3), _tup(output_padding, 3)
    unb = x.ndim == 4
    if unb:
        x = x[None]
    n, cin = x.shape[:2]
    ks = w.shape[2:]
    og = w.shape[1]
    cg = cin // groups
    sp = x.shape[2:]
    full = [(sp[i] - 1) * s[i] + d[i] * (ks[i] - 1) + 1 + op[i] for i in range(3)]
    y = np.zeros((n, og * groups, *full))
    for g in range(groups):
        xs = x[:, g * cg:(g + 1) * cg]
        ws = w[g * cg:(g + 1) * cg]
        for a, b, e in itertools.product(*(range(k) for k in ks)):
            y[:, g * og:(g + 1) * og, a * d[0]:a * d[0] + s[0] * (sp[0] - 1) + 1:s[0],
              b * d[1]:b * d[1] + s[1] * (sp[1] - 1) + 1:s[1],
              e * d[2]:e * d[2] + s[2] * (sp[2] - 1) + 1:s[2]] += np.einsum("ncdhw,co->nodhw", xs,
                                                                             ws[:, :, a, b, e])
    y = y[:, :, p[0]:full[0] - p[0], p[1]:full[1] - p[1], p[2]:full[2] - p[2]]
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1, 1)
    return y[0] if unb else y


register(OpInfo("conv_transpose3d", F.conv_transpose3d, _np_conv_t3d,
                lambda rng: [Sample([_u(rng, (2, 3, 3, 4, 3), -1, 1), _u(rng, (3, 2, 2, 3, 2), -1, 1),
                                     _u(rng, (2,), -1, 1)]),
                             Sample([_u(rng, (1, 4, 3, 2, 3), -1, 1), _u(rng, (4, 1, 3, 2, 2), -1, 1)],
                                    {"stride": (2, 1, 3), "padding": (1, 0, 1), "output_padding": (1, 0, 2),
                                     "groups": 2, "dilation": (1, 2, 1)}, "strided grouped"),
                             Sample([_u(rng, (2, 3, 2, 2), -1, 1), _u(rng, (2, 2, 2, 2, 2), -1, 1)], {},
                                    "unbatched"),
                             Sample([_u(rng, (2, 8, 5, 6, 6), -1, 1), _u(rng, (8, 4, 3, 3, 3), -1, 1)],
                                    {"stride": 2, "padding": 1}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((1, 3, 4, 4, 4)), np.zeros((2, 2, 1, 1, 1))], {},
                                    ValueError, r"conv_transpose3d: expected input with 2 channels"),
                         ErrorInput([np.zeros((1, 2, 4, 4, 4)), np.zeros((2, 2, 3, 3, 3))],
                                    {"stride": 2, "output_padding": 2}, ValueError,
                                    r"conv_transpose3d: output_padding")],
                rtol32=1e-4, atol32=1e-5))


def _windows(n, k, s, p, d, ceil):
    num = n + 2 * p - d * (k - 1) - 1
    o = (num + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def _np_pool3d(op, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               count_include_pad=True):
    k = _tup(kernel_size, 3)
    s = k if stride is None else _tup(stride, 3)
    p, d = _tup(padding, 3), _tup(dilation, 3)
    sp = x.shape[-3:]
    o = [_windows(sp[i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(3)]
    y = np.zeros(x.shape[:-3] + tuple(o))
    for pos in itertools.product(*(range(v) for v in o)):
        sel, full, size = [], 1, 1
        for i in range(3):
            start = pos[i] * s[i] - p[i]
            taps = [start + j * d[i] for j in range(k[i])]
            if op == "avg":
                full *= min(start + k[i], sp[i] + p[i]) - start
            taps = [t for t in taps if 0 <= t < sp[i]]
            size *= len(taps)
            sel.append(taps)
        win = x[..., sel[0], :, :][..., sel[1], :][..., sel[2]]
        if op == "max":
            y[(...,) + pos] = win.max(axis=(-3, -2, -1))
        else:
            y[(...,) + pos] = win.sum(axis=(-3, -2, -1)) / (full if count_include_pad else size)
    return y


def _pool3d_samples(rng):
    return [Sample([_u(rng, (2, 2, 4, 5, 4), -1, 1)], {"kernel_size": 2}, "k2"),
            Sample([_u(rng, (1, 2, 5, 5, 6), -1, 1)], {"kernel_size": 3, "stride": 2, "padding": 1},
                   "k3 s2 p1"),
            Sample([_u(rng, (1, 2, 5, 6, 5), -1, 1)],
                   {"kernel_size": (3, 2, 3), "stride": (2, 1, 2), "ceil_mode": True}, "ceil mode"),
            Sample([_u(rng, (2, 4, 4, 5), -1, 1)], {"kernel_size": 2, "stride": 1}, "unbatched"),
            Sample([_u(rng, (2, 8, 8, 16, 16), -1, 1)], {"kernel_size": 2}, "large", grad=False)]


def _pool3d_errors(who):
    return lambda: [ErrorInput([np.zeros((2, 3, 4))], {"kernel_size": 2}, ValueError,
                               rf"{who}: expected 4-d \(unbatched\) or 5-d \(batched\) input"),
                    ErrorInput([np.zeros((1, 1, 2, 2, 2))], {"kernel_size": 3}, ValueError,
                               rf"{who}: input spatial size \(2, 2, 2\) is too small")]


register(OpInfo("max_pool3d", F.max_pool3d, lambda x, **k: _np_pool3d("max", x, **k),
                lambda rng: _pool3d_samples(rng) + [
                    Sample([_u(rng, (1, 2, 6, 5, 6), -1, 1)],
                           {"kernel_size": 2, "dilation": (2, 1, 2), "padding": 1}, "dilation")],
                _pool3d_errors("max_pool3d")))
register(OpInfo("avg_pool3d", F.avg_pool3d, lambda x, **k: _np_pool3d("avg", x, **k),
                lambda rng: _pool3d_samples(rng) + [
                    Sample([_u(rng, (1, 2, 5, 5, 6), -1, 1)],
                           {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                            "count_include_pad": False}, "exclude padding")],
                _pool3d_errors("avg_pool3d")))


# ---- max unpooling -----------------------------------------------------------------------------
def _np_unpool(x, idx, kernel_size, stride=None, padding=0, output_size=None, nsp=2):
    k = _tup(kernel_size, nsp)
    s = k if stride is None else _tup(stride, nsp)
    p = _tup(padding, nsp)
    osp = (tuple(output_size)[-nsp:] if output_size is not None else
           tuple((n - 1) * ss - 2 * pp + kk for n, ss, pp, kk in zip(x.shape[-nsp:], s, p, k)))
    lead = x.shape[:-nsp]
    out = np.zeros((math.prod(lead), math.prod(osp)))
    for r, (xv, iv) in enumerate(zip(x.reshape(len(out), -1), idx.reshape(len(out), -1))):
        out[r, iv] = xv
    return out.reshape(lead + osp)


def _unpool_samples(nsp):
    def samples(rng):
        out = []
        for shape, kw, desc in (((2, 3) + (6, 5, 4)[:nsp], {"kernel_size": 2}, "k2"),
                                ((3,) + (6, 7, 4)[:nsp], {"kernel_size": 3, "stride": 3,
                                                          "output_size": (7, 8, 5)[:nsp]},
                                 "unbatched output_size")):
            o = [n // kw["kernel_size"] for n in shape[-nsp:]]
            osp = kw.get("output_size") or tuple(v * kw["kernel_size"] for v in o)
            # distinct flat positions, one per (non-overlapping) window
            idx = np.zeros(shape[:-nsp] + tuple(o), dtype=np.int64)
            for pos in itertools.product(*(range(v) for v in o)):
                flat = 0
                for i in range(nsp):
                    c = pos[i] * kw["kernel_size"] + int(rng.integers(0, kw["kernel_size"]))
                    flat = flat * osp[i] + c
                idx[(...,) + pos] = flat
            out.append(Sample([_u(rng, idx.shape, -2, 2), idx], kw, desc))
        return out
    return samples


def _unpool_errors(who, nsp):
    return lambda: [ErrorInput([np.zeros((1, 1) + (2,) * nsp), np.full((1, 1) + (2,) * nsp, 99)],
                               {"kernel_size": 2}, IndexError, rf"{who}: index 99 is out of range"),
                    ErrorInput([np.zeros((1, 1) + (2,) * nsp), np.zeros((1, 1) + (3,) * nsp, np.int64)],
                               {"kernel_size": 2}, ValueError, rf"{who}: indices shape")]


for _n in (1, 2, 3):
    register(OpInfo(f"max_unpool{_n}d", getattr(F, f"max_unpool{_n}d"),
                    (lambda nsp: lambda x, idx, **k: _np_unpool(x, idx, nsp=nsp, **k))(_n),
                    _unpool_samples(_n), _unpool_errors(f"max_unpool{_n}d", _n), extreme=False))


# ---- nn.functional.pad: negative pads crop in every mode -----------------------------------------
def _np_fpad(x, pad, mode="constant", value=None):
    nd = x.ndim
    if mode in ("reflect", "replicate"):     # positions -lo .. n+hi-1 of the whole input
        for i in range(len(pad) // 2):
            d, lo, hi = nd - 1 - i, pad[2 * i], pad[2 * i + 1]
            n = x.shape[d]
            j = np.arange(-lo, n + hi)
            if mode == "reflect":
                j = np.abs(j)
                j = np.where(j > n - 1, 2 * (n - 1) - j, j)
            x = np.take(x, np.clip(j, 0, n - 1), axis=d)
        return x
    for i in range(len(pad) // 2):
        d, lo, hi = nd - 1 - i, pad[2 * i], pad[2 * i + 1]
        sl = [slice(None)] * nd
        sl[d] = slice(max(-lo, 0), x.shape[d] - max(-hi, 0))
        x = x[tuple(sl)]
    widths = [(0, 0)] * nd
    for i in range(len(pad) // 2):
        widths[nd - 1 - i] = (max(pad[2 * i], 0), max(pad[2 * i + 1], 0))
    np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}.get(mode, "constant")
    if np_mode == "constant":
        return np.pad(x, widths, constant_values=0 if value is None else value)
    return np.pad(x, widths, mode=np_mode)


register(OpInfo("functional_pad", F.pad, _np_fpad,
                lambda rng: [Sample([_u(rng, (2, 5, 6), -1, 1)], {"pad": (1, -2, -1, 2), "mode": m}, m)
                             for m in ("constant", "reflect", "replicate", "circular")]
                + [Sample([_u(rng, (2, 5, 6), -1, 1)], {"pad": (4, -5, -3, 4), "mode": m},
                          f"{m} reads the uncropped input") for m in ("reflect", "replicate")]
                + [Sample([_u(rng, (2, 3, 7), -1, 1)], {"pad": (-2, 3), "mode": "circular"},
                          "circular wraps the cropped tensor"),
                   Sample([_u(rng, (1, 2, 4, 5, 6), -1, 1)], {"pad": (-1, 1, 2, -1, -1, 0),
                                                               "mode": "replicate"}, "3 dims")],
                lambda: [ErrorInput([np.zeros((2, 3))], {"pad": (-2, -2), "mode": "reflect"},
                                    ValueError, r"pad: padding \(-2, -2\) of dimension 1 \(size 3\)")],
                extreme=False))


# ---- attention ---------------------------------------------------------------------------------
def _np_sdpa(q, k, v, attn_mask=None, is_causal=False, scale=None):
    L, S = q.shape[-2], k.shape[-2]
    s = q @ np.swapaxes(k, -1, -2) * (1.0 / math.sqrt(q.shape[-1]) if scale is None else scale)
    keep = np.tril(np.ones((L, S), dtype=bool)) if is_causal else np.ones((L, S), dtype=bool)
    if attn_mask is not None and attn_mask.dtype == bool:
        keep = keep & attn_mask
    elif attn_mask is not None:
        s = s + attn_mask
    s = np.where(keep, s, -np.inf)
    alive = np.any(keep, axis=-1, keepdims=True)
    w = _np_softmax(np.where(alive, s, 0.0), -1) * alive
    return w @ v


def _sdpa_samples(rng):
    mask = rng.random((4, 6)) > 0.5
    mask[:, 0] = True
    mask[2] = False
    return [Sample([_u(rng, (2, 4, 3), -1, 1), _u(rng, (2, 6, 3), -1, 1), _u(rng, (2, 6, 5), -1, 1)]),
            Sample([_u(rng, (2, 2, 5, 3), -1, 1), _u(rng, (2, 2, 5, 3), -1, 1),
                    _u(rng, (2, 2, 5, 2), -1, 1)], {"is_causal": True}, "causal"),
            Sample([_u(rng, (4, 3), -1, 1), _u(rng, (6, 3), -1, 1), _u(rng, (6, 2), -1, 1)],
                   {"attn_mask": mask, "scale": 0.7}, "bool mask with a dead row"),
            Sample([_u(rng, (2, 4, 3), -1, 1), _u(rng, (2, 6, 3), -1, 1), _u(rng, (2, 6, 2), -1, 1)],
                   {"attn_mask": _u(rng, (4, 6), -1, 1)}, "float mask")]


register(OpInfo("scaled_dot_product_attention", F.scaled_dot_product_attention, _np_sdpa,
                _sdpa_samples,
                lambda: [ErrorInput([np.zeros((2, 4, 3)), np.zeros((2, 4, 2)), np.zeros((2, 4, 3))], {},
                                    ValueError, r"scaled_dot_product_attention: shapes query \(2, 4, 3\)")],
                extreme=False))


# ---- pixel shuffle -----------------------------------------------------------------------------
def _np_pixel_shuffle(x, upscale_factor):
    r = upscale_factor
    *b, c, h, w = x.shape
    out = np.empty((*b, c // (r * r), h * r, w * r))
    for i, j in itertools.product(range(r), range(r)):
        out[..., i::r, j::r] = x[..., (i * r + j)::(r * r), :, :]
    return out


def _np_pixel_unshuffle(x, downscale_factor):
    r = downscale_factor
    *b, c, h, w = x.shape
    out = np.empty((*b, c * r * r, h // r, w // r))
    for i, j in itertools.product(range(r), range(r)):
        out[..., (i * r + j)::(r * r), :, :] = x[..., i::r, j::r]
    return out


register(OpInfo("pixel_shuffle", F.pixel_shuffle, _np_pixel_shuffle,
                lambda rng: [Sample([_u(rng, (2, 8, 3, 2), -1, 1)], {"upscale_factor": 2}),
                             Sample([_u(rng, (9, 2, 2), -1, 1)], {"upscale_factor": 3}, "unbatched"),
                             Sample([_u(rng, (2, 2, 4, 1, 3), -1, 1)], {"upscale_factor": 2}, "two batch dims"),
                             Sample([_u(rng, (2, 3, 2, 4), -1, 1).transpose(0, 3, 2, 1)],
                                    {"upscale_factor": 1}, "view")],
                lambda: [ErrorInput([np.zeros((3, 2, 2))], {"upscale_factor": 2}, ValueError,
                                    r"pixel_shuffle expects its input's 'channel' dimension to be divisible "
                                    r"by the square of upscale_factor, but input.size\(-3\)=3"),
                         ErrorInput([np.zeros((4, 2))], {"upscale_factor": 2}, RuntimeError,
                                    "pixel_shuffle expects input to have at least 3 dimensions"),
                         ErrorInput([np.zeros((4, 2, 2))], {"upscale_factor": 0}, RuntimeError,
                                    "pixel_shuffle expects a positive upscale_factor, but got 0")],
                extreme=False))
register(OpInfo("pixel_unshuffle", F.pixel_unshuffle, _np_pixel_unshuffle,
                lambda rng: [Sample([_u(rng, (2, 2, 4, 6), -1, 1)], {"downscale_factor": 2}),
                             Sample([_u(rng, (1, 6, 3), -1, 1)], {"downscale_factor": 3}, "unbatched"),
                             Sample([_u(rng, (2, 1, 3, 4, 2), -1, 1)], {"downscale_factor": 2}, "two batch dims"),
                             Sample([_u(rng, (4, 4, 2), -1, 1).transpose(2, 1, 0)],
                                    {"downscale_factor": 2}, "view")],
                lambda: [ErrorInput([np.zeros((1, 3, 4))], {"downscale_factor": 2}, ValueError,
                                    r"pixel_unshuffle expects height to be divisible by downscale_factor, "
                                    r"but input.size\(-2\)=3"),
                         ErrorInput([np.zeros((1, 4, 3))], {"downscale_factor": 2}, ValueError,
                                    r"pixel_unshuffle expects width to be divisible by downscale_factor, "
                                    r"but input.size\(-1\)=3")],
                extreme=False))
