"""Normalization: batch-norm statistics, apply and backward; row normalization
(layer norm and group norm) with its affine per-row index map."""
import numpy as np


def _bn_axes(x):
    return (0,) + tuple(range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)


def bn_stats(x):
    ax, _ = _bn_axes(x)
    x64 = x.astype(np.float64)
    return x64.mean(ax).astype(x.dtype), x64.var(ax).astype(x.dtype)


def bn_apply(x, mean, invstd, w, b):
    _, bs = _bn_axes(x)
    y = (x.astype(np.float64) - mean.reshape(bs)) * invstd.reshape(bs)
    if w is not None:
        y = y * w.reshape(bs)
    if b is not None:
        y = y + b.reshape(bs)
    return y.astype(x.dtype)


def bn_bwd(x, g, mean, invstd, w, training, want_gx, want_gw, want_gb):
    ax, bs = _bn_axes(x)
    g64 = g.astype(np.float64)
    inv = invstd.astype(np.float64).reshape(bs)
    xhat = (x.astype(np.float64) - mean.reshape(bs)) * inv
    gw = (g64 * xhat).sum(ax).astype(x.dtype) if want_gw else None
    gb = g64.sum(ax).astype(x.dtype) if want_gb else None
    gx = None
    if want_gx:
        k = inv * (w.reshape(bs) if w is not None else 1.0)
        if training:
            gx = k * (g64 - g64.mean(ax, keepdims=True) - xhat * (g64 * xhat).mean(ax, keepdims=True))
        else:
            gx = k * g64
        gx = gx.astype(x.dtype)
    return gx, gw, gb


def _rn_affine_index(rows, d, groups, s):
    r = np.arange(rows)[:, None]
    j = np.arange(d)[None, :]
    return ((r % groups) * d + j) // s


def rownorm(x, d, groups, s, w, b, eps):
    x2 = x.reshape(-1, d).astype(np.float64)
    mean = x2.mean(1)
    rstd = 1.0 / np.sqrt(x2.var(1) + eps)
    y = (x2 - mean[:, None]) * rstd[:, None]
    a = _rn_affine_index(x2.shape[0], d, groups, s)
    if w is not None:
        y = y * np.reshape(w, -1)[a]
    if b is not None:
        y = y + np.reshape(b, -1)[a]
    return y.reshape(x.shape).astype(x.dtype), mean.astype(x.dtype), rstd.astype(x.dtype)


def rownorm_bwd(x, g, mean, rstd, w, d, groups, s, want_gx, want_gw, want_gb):
    x2 = x.reshape(-1, d).astype(np.float64)
    g2 = g.reshape(-1, d).astype(np.float64)
    rs = rstd.astype(np.float64)[:, None]
    xhat = (x2 - mean.astype(np.float64)[:, None]) * rs
    a = _rn_affine_index(x2.shape[0], d, groups, s)
    na = groups * d // s
    gh = g2 * (np.reshape(w, -1)[a] if w is not None else 1.0)
    gx = None
    if want_gx:
        gx = rs * (gh - gh.mean(1, keepdims=True) - xhat * (gh * xhat).mean(1, keepdims=True))
        gx = gx.reshape(x.shape).astype(x.dtype)
    gw = np.bincount(a.ravel(), (g2 * xhat).ravel(), na).astype(x.dtype) if want_gw else None
    gb = np.bincount(a.ravel(), g2.ravel(), na).astype(x.dtype) if want_gb else None
    return gx, gw, gb
