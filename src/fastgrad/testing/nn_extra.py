"""Registry entries of nn/functional_extra.py: the activations prelu, glu, hardshrink,
softshrink, tanhshrink, threshold, rrelu (eval mode; its training mode is random and is
tested in tests/test_nn_more_act.py) and the in-place forms (run on a clone, as in
inplace.py); channel_shuffle, unfold, fold,
upsample_nearest and upsample_bilinear; instance_norm, local_response_norm, the adaptive
max and average pools, lp_pool and the values of max_pool*_with_indices (the indices are
compared with PyTorch's in tests/test_nn_more_norm_pool.py).  References are written out
in NumPy here."""
import itertools

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


# ---- reshaping: pixel and channel shuffles, im2col ------------------------------------------------
def _np_channel_shuffle(x, groups):
    n, c, *rest = x.shape
    return x.reshape(n, groups, c // groups, *rest).swapaxes(1, 2).reshape(x.shape)


def _blocks(hw, k, d, p, s):
    """(row, col) of each kernel tap (kh * kw) for each block (L), in the padded image."""
    k, d, p, s = (_tup2(v) for v in (k, d, p, s))
    hp, wp = hw[0] + 2 * p[0], hw[1] + 2 * p[1]
    nh = (hp - d[0] * (k[0] - 1) - 1) // s[0] + 1
    nw = (wp - d[1] * (k[1] - 1) - 1) // s[1] + 1
    taps = [(i * d[0], j * d[1]) for i in range(k[0]) for j in range(k[1])]
    starts = [(a * s[0], b * s[1]) for a in range(nh) for b in range(nw)]
    return taps, starts, p


def _tup2(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _np_unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    taps, starts, p = _blocks(x.shape[-2:], kernel_size, dilation, padding, stride)
    xp = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p[0], p[0]), (p[1], p[1])])
    cols = np.stack([np.stack([xp[..., a + i, b + j] for (a, b) in starts], -1)
                     for (i, j) in taps], -2)                    # (*, C, K, L)
    return cols.reshape(*x.shape[:-3], x.shape[-3] * len(taps), len(starts))


def _np_fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    taps, starts, p = _blocks(output_size, kernel_size, dilation, padding, stride)
    k = len(taps)
    lead = (*x.shape[:-2], x.shape[-2] // k)
    cols = x.reshape(*lead, k, x.shape[-1])
    out = np.zeros((*lead, output_size[0] + 2 * p[0], output_size[1] + 2 * p[1]))
    for t, (i, j) in enumerate(taps):
        for blk, (a, b) in enumerate(starts):
            out[..., a + i, b + j] += cols[..., t, blk]
    return out[..., p[0]:p[0] + output_size[0], p[1]:p[1] + output_size[1]]


def _x(rng, *shape):
    return _u(rng, shape, -2, 2)


register(OpInfo("channel_shuffle", F.channel_shuffle, _np_channel_shuffle,
                lambda rng: [Sample([_x(rng, 2, 6, 3), 2]), Sample([_x(rng, 2, 6, 2, 2), 3]),
                             Sample([_x(rng, 2, 8, 2, 1, 2), 4])],
                lambda: [ErrorInput([np.zeros((1, 5, 2)), 2], {}, ValueError,
                                    "channel_shuffle: the channel count 5")],
                extreme=False))
register(OpInfo("unfold", F.unfold, _np_unfold,
                lambda rng: [Sample([_x(rng, 2, 3, 4, 5)], {"kernel_size": 2}),
                             Sample([_x(rng, 1, 2, 5, 6)], {"kernel_size": (2, 3), "stride": 2,
                                                            "padding": 1, "dilation": (1, 2)}),
                             Sample([_x(rng, 3, 4, 4)], {"kernel_size": 3, "padding": (1, 0)},
                                    "unbatched")],
                lambda: [ErrorInput([np.zeros((2, 3))], {"kernel_size": 2}, ValueError,
                                    r"unfold: expected a 3-d \(unbatched\) or 4-d")],
                extreme=False))
register(OpInfo("fold", F.fold, _np_fold,
                lambda rng: [Sample([_x(rng, 2, 12, 12)], {"output_size": (4, 5), "kernel_size": 2}),
                             Sample([_x(rng, 1, 12, 9)], {"output_size": (5, 6), "kernel_size": (2, 3),
                                                          "stride": 2, "padding": 1}),
                             Sample([_x(rng, 9, 4)], {"output_size": (4, 4), "kernel_size": 3,
                                                      "dilation": (1, 1), "padding": (1, 0),
                                                      "stride": (2, 1)}, "unbatched")],
                lambda: [ErrorInput([np.zeros((1, 4, 5))], {"output_size": (3, 3), "kernel_size": 2},
                                    ValueError, "fold: the input of shape")],
                extreme=False))


# ---- resizing ---------------------------------------------------------------------------------------
def _np_up_nearest(x, size=None, scale_factor=None):
    if x.ndim != 4:
        raise ValueError("the reference resizes 4-d inputs only")
    h, w = x.shape[-2:]
    oh, ow = size if size is not None else (int(h * scale_factor), int(w * scale_factor))
    rows = np.minimum((np.arange(oh) * (h / oh)).astype(int), h - 1)
    cols = np.minimum((np.arange(ow) * (w / ow)).astype(int), w - 1)
    return x[..., rows[:, None], cols[None, :]]


def _np_up_bilinear(x, size=None, scale_factor=None):
    if x.ndim != 4:
        raise ValueError("bilinear resizing takes 4-d inputs only")
    h, w = x.shape[-2:]
    oh, ow = size if size is not None else (int(h * scale_factor), int(w * scale_factor))

    def grid(n, o):
        pos = np.arange(o) * ((n - 1) / (o - 1)) if o > 1 else np.zeros(o)
        lo = np.minimum(np.floor(pos).astype(int), n - 1)
        return lo, np.minimum(lo + 1, n - 1), pos - lo
    r0, r1, fr = grid(h, oh)
    c0, c1, fc = grid(w, ow)
    top = x[..., r0, :] * (1 - fr)[:, None] + x[..., r1, :] * fr[:, None]
    return top[..., c0] * (1 - fc) + top[..., c1] * fc


register(OpInfo("upsample_nearest", F.upsample_nearest, _np_up_nearest,
                lambda rng: [Sample([_x(rng, 2, 3, 3, 4)], {"scale_factor": 2}),
                             Sample([_x(rng, 1, 2, 3, 4)], {"size": (5, 7)})],
                extreme=False))
register(OpInfo("upsample_bilinear", F.upsample_bilinear, _np_up_bilinear,
                lambda rng: [Sample([_x(rng, 2, 3, 3, 4)], {"scale_factor": 2}),
                             Sample([_x(rng, 1, 2, 3, 4)], {"size": (5, 7)})],
                extreme=False))


# ---- normalisation and pooling (nn/functional_norm.py) -------------------------------------------
def _np_instance_norm(x, running_mean=None, running_var=None, weight=None, bias=None,
                      use_input_stats=True, momentum=0.1, eps=1e-5):
    ax = tuple(range(2, x.ndim))
    y = (x - x.mean(ax, keepdims=True)) / np.sqrt(x.var(ax, keepdims=True) + eps)
    b = (-1,) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(b)
    if bias is not None:
        y = y + bias.reshape(b)
    return y


def _np_lrn(x, size, alpha=1e-4, beta=0.75, k=1.0):
    c = x.shape[1]
    sq = x * x
    acc = np.zeros_like(x)
    for ch in range(c):
        lo, hi = max(ch - size // 2, 0), min(ch + (size - 1) // 2, c - 1)
        acc[:, ch] = sq[:, lo:hi + 1].sum(1)
    return x / (k + alpha / size * acc) ** beta


def _np_adaptive(x, output_size, n, fn):
    spatial = x.shape[-n:]
    out = (output_size,) * n if isinstance(output_size, int) else tuple(
        s if o is None else o for o, s in zip(output_size, spatial))
    y = np.zeros(x.shape[:-n] + out)
    for cell in itertools.product(*[range(o) for o in out]):
        sl = tuple(slice(i * s // o, -(-(i + 1) * s // o)) for i, s, o in zip(cell, spatial, out))
        region = x[(Ellipsis,) + sl]
        y[(Ellipsis,) + cell] = fn(region.reshape(region.shape[:-n] + (-1,)), axis=-1)
    return y


def _np_lp(x, norm_type, kernel_size, stride=None, ceil_mode=False, n=1):
    k = (kernel_size,) * n if isinstance(kernel_size, int) else tuple(kernel_size)
    s = k if stride is None else ((stride,) * n if isinstance(stride, int) else tuple(stride))
    spatial = x.shape[-n:]
    out = tuple((L - kk) // ss + 1 for L, kk, ss in zip(spatial, k, s))
    y = np.zeros(x.shape[:-n] + out)
    for cell in itertools.product(*[range(o) for o in out]):
        sl = tuple(slice(i * ss, i * ss + kk) for i, ss, kk in zip(cell, s, k))
        region = x[(Ellipsis,) + sl] ** norm_type
        y[(Ellipsis,) + cell] = region.reshape(region.shape[:-n] + (-1,)).sum(-1)
    return y ** (1.0 / norm_type)


register(OpInfo("instance_norm", F.instance_norm, _np_instance_norm,
                lambda rng: [Sample([_x(rng, 2, 3, 5)]),
                             Sample([_x(rng, 2, 3, 2, 4), None, None, _x(rng, 3), _x(rng, 3)],
                                    {"eps": 1e-3}, "affine"),
                             Sample([_x(rng, 1, 2, 2, 3, 2)], {}, "3-d")],
                lambda: [ErrorInput([np.zeros((2, 3, 1))], {}, ValueError,
                                    "instance_norm: expected more than 1 spatial element")],
                extreme=False, rtol32=1e-4, atol32=1e-5))
register(OpInfo("local_response_norm", F.local_response_norm, _np_lrn,
                lambda rng: [Sample([_x(rng, 2, 5, 4), 3], {"alpha": 0.5, "k": 1.5}),
                             Sample([_x(rng, 1, 6, 3, 2), 2], {"alpha": 0.3, "beta": 0.6}),
                             Sample([_x(rng, 1, 4, 2, 2, 2), 4], {"alpha": 0.4})],
                lambda: [ErrorInput([np.zeros((2, 3)), 2], {}, ValueError,
                                    "local_response_norm: expected a 3-d or higher input")],
                extreme=False, rtol32=1e-4, atol32=1e-5))


def _away_ties(x):
    """Distinct values (max's gradient is ambiguous at ties): a shuffled ramp."""
    return x.argsort(axis=None).argsort().reshape(x.shape) * 0.01 + 0.001 * x


for _nd, _shapes in [(1, [((2, 3, 7), 3), ((3, 8), 4)]),
                    (2, [((2, 3, 5, 7), (3, 2)), ((1, 2, 5, 4), (None, 3))]),
                    (3, [((1, 2, 5, 4, 3), (2, 3, 2)), ((2, 4, 4, 4), 2)])]:
    register(OpInfo(f"adaptive_max_pool{_nd}d", getattr(F, f"adaptive_max_pool{_nd}d"),
                    lambda x, output_size, _nd=_nd: _np_adaptive(x, output_size, _nd, np.max),
                    lambda rng, _s=_shapes: [Sample([_away_ties(_x(rng, *sh)), o]) for sh, o in _s],
                    lambda _nd=_nd: [ErrorInput([np.zeros((2,) * _nd), 2], {}, ValueError,
                                              f"adaptive_max_pool{_nd}d: expected")],
                    extreme=False))
    register(OpInfo(f"adaptive_max_pool{_nd}d_with_indices_values",
                    lambda x, o, _nd=_nd: getattr(F, f"adaptive_max_pool{_nd}d_with_indices")(x, o)[0],
                    lambda x, output_size, _nd=_nd: _np_adaptive(x, output_size, _nd, np.max),
                    lambda rng, _s=_shapes: [Sample([_away_ties(_x(rng, *sh)), o]) for sh, o in _s],
                    extreme=False, covers=(f"adaptive_max_pool{_nd}d_with_indices",)))
register(OpInfo("adaptive_avg_pool3d", F.adaptive_avg_pool3d,
                lambda x, output_size: _np_adaptive(x, output_size, 3, np.mean),
                lambda rng: [Sample([_x(rng, 1, 2, 5, 4, 3), (2, 3, 2)]),
                             Sample([_x(rng, 2, 4, 4, 4), 2], desc="unbatched"),
                             Sample([_x(rng, 1, 2, 3, 6, 5), (None, 4, 1)])],
                lambda: [ErrorInput([np.zeros((2, 3)), 2], {}, ValueError,
                                    "adaptive_avg_pool3d: expected")],
                extreme=False))
for _nd, _sh in [(1, (2, 3, 8)), (2, (2, 3, 6, 4)), (3, (1, 2, 4, 4, 2))]:
    register(OpInfo(f"max_pool{_nd}d_with_indices_values",
                    lambda x, k, _nd=_nd: getattr(F, f"max_pool{_nd}d_with_indices")(x, k)[0],
                    # windows of k, stride k: the adaptive cells of the input cut to a
                    # multiple of k in each pooled dimension (the rest is in no window)
                    lambda x, k, _nd=_nd: _np_adaptive(
                        x[(...,) + tuple(slice(0, s // k * k) for s in x.shape[-_nd:])],
                        tuple(s // k for s in x.shape[-_nd:]), _nd, np.max),
                    lambda rng, _sh=_sh: [Sample([_away_ties(_x(rng, *_sh)), 2])],
                    extreme=False, covers=(f"max_pool{_nd}d_with_indices",)))
    register(OpInfo(f"lp_pool{_nd}d", getattr(F, f"lp_pool{_nd}d"),
                    lambda x, norm_type, kernel_size, stride=None, _nd=_nd:
                    _np_lp(x, norm_type, kernel_size, stride, n=_nd),
                    lambda rng, _sh=_sh: [Sample([_u(rng, _sh, 0.2, 2), 2.0, 2]),
                                          Sample([_u(rng, _sh, 0.2, 2), 3.0, 2], {"stride": 1})],
                    extreme=False, rtol32=1e-4, atol32=1e-5))


# ---- losses (nn/extra_losses.py) -----------------------------------------------------------------
def _red(loss, reduction="mean"):
    return loss.mean() if reduction == "mean" else (loss.sum() if reduction == "sum" else loss)


def _np_softplus(z):
    return np.logaddexp(0.0, z)


def _np_margin_ranking(x1, x2, y, margin=0.0, reduction="mean"):
    return _red(np.maximum(-y * (x1 - x2) + margin, 0), reduction)


def _np_hinge(x, y, margin=1.0, reduction="mean"):
    return _red(np.where(y != -1, x, 0) + np.where(y != 1, np.maximum(margin - x, 0), 0), reduction)


def _np_soft_margin(x, y, reduction="mean"):
    return _red(_np_softplus(-y * x), reduction)


def _np_multilabel(x, y, weight=None, reduction="mean"):
    loss = y * _np_softplus(-x) + (1 - y) * _np_softplus(x)
    if weight is not None:
        loss = loss * weight
    return _red(loss.mean(-1), reduction)


def _np_cos_emb(x1, x2, y, margin=0.0, reduction="mean"):
    cos = (x1 * x2).sum(-1) / np.sqrt(((x1 * x1).sum(-1) + 1e-12) * ((x2 * x2).sum(-1) + 1e-12))
    return _red(np.where(y == 1, 1 - cos, 0) + np.where(y == -1, np.maximum(cos - margin, 0), 0),
                reduction)


def _np_triplet(a, p, n, margin=1.0, reduction="mean"):
    def d(u, v):
        return np.sqrt(((u - v + 1e-6) ** 2).sum(-1))
    return _red(np.maximum(margin + d(a, p) - d(a, n), 0), reduction)


def _np_poisson(x, y, log_input=True, reduction="mean"):
    loss = np.exp(x) - y * x if log_input else x - y * np.log(x + 1e-8)
    return _red(loss, reduction)


def _np_gauss(x, y, var, reduction="mean"):
    var = np.maximum(var, 1e-6)
    return _red(0.5 * (np.log(var) + (x - y) ** 2 / var), reduction)


def _np_multi_margin(x, t, reduction="mean"):
    xy = np.take_along_axis(x, t[:, None], 1)
    z = np.maximum(1.0 - xy + x, 0)
    z[np.arange(x.shape[0]), t] = 0
    return _red(z.sum(1) / x.shape[1], reduction)


def _s(rng, *shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def _loss_entry(name, ref, samples):
    register(OpInfo(name, getattr(F, name), ref, samples,
                    lambda: [ErrorInput([np.zeros((2, 3)), np.zeros((2, 3))], {"reduction": "avg"},
                                        ValueError, f"{name}: reduction must be one of")]
                    if name not in ("margin_ranking_loss", "cosine_embedding_loss",
                                    "triplet_margin_loss", "gaussian_nll_loss") else [],
                    extreme=False))


def _margin_samples(rng):
    return [Sample([_x(rng, 6), _x(rng, 6), _s(rng, 6)], {"margin": 0.3}, grad=True),
            Sample([_x(rng, 2, 3), _x(rng, 2, 3), _s(rng, 2, 3)], {"reduction": "none"})]


_loss_entry("margin_ranking_loss", _np_margin_ranking, _margin_samples)
_loss_entry("hinge_embedding_loss", _np_hinge,
            lambda rng: [Sample([_away(_x(rng, 3, 4), [0.7]), _s(rng, 3, 4)], {"margin": 0.7}),
                         Sample([_away(_x(rng, 3, 4), [1.0]), _s(rng, 3, 4)], {"reduction": "sum"})])
_loss_entry("soft_margin_loss", _np_soft_margin,
            lambda rng: [Sample([_x(rng, 3, 4), _s(rng, 3, 4)]),
                         Sample([_x(rng, 5), _s(rng, 5)], {"reduction": "none"})])
_loss_entry("multilabel_soft_margin_loss", _np_multilabel,
            lambda rng: [Sample([_x(rng, 3, 5), (rng.random((3, 5)) < 0.5) * 1.0]),
                         Sample([_x(rng, 3, 5), (rng.random((3, 5)) < 0.5) * 1.0,
                                 _u(rng, (5,), 0.5, 2)], {"reduction": "none"}, "weight")])
_loss_entry("cosine_embedding_loss", _np_cos_emb,
            lambda rng: [Sample([_x(rng, 4, 5), _x(rng, 4, 5), _s(rng, 4)], {"margin": -2.0}),
                         Sample([_x(rng, 4, 5), _x(rng, 4, 5), np.ones(4)], {"reduction": "sum"})])
_loss_entry("triplet_margin_loss", _np_triplet,
            lambda rng: [Sample([_x(rng, 4, 5), _x(rng, 4, 5), _x(rng, 4, 5)], {"margin": 10.0}),
                         Sample([_x(rng, 3, 5), _x(rng, 3, 5), _x(rng, 3, 5)],
                                {"margin": 10.0, "reduction": "none"})])
_loss_entry("poisson_nll_loss", _np_poisson,
            lambda rng: [Sample([_x(rng, 3, 4), _u(rng, (3, 4), 0, 4)]),
                         Sample([_u(rng, (3, 4), 0.1, 3), _u(rng, (3, 4), 0, 4)],
                                {"log_input": False, "reduction": "sum"})])
_loss_entry("gaussian_nll_loss", _np_gauss,
            lambda rng: [Sample([_x(rng, 3, 4), _x(rng, 3, 4), _u(rng, (3, 4), 0.1, 2)]),
                         Sample([_x(rng, 3, 4), _x(rng, 3, 4), _u(rng, (3, 1), 0.1, 2)],
                                {"reduction": "none"}, "one var per sample")])
_loss_entry("multi_margin_loss", _np_multi_margin,
            lambda rng: [Sample([_x(rng, 4, 5), rng.integers(0, 5, 4)]),
                         Sample([_x(rng, 3, 6), rng.integers(0, 6, 3)], {"reduction": "none"})])
