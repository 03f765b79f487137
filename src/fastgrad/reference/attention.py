"""Scaled dot-product attention: the whole score matrix in float64, then the softmax,
written directly from the definition (the oracle of csrc/attention.c)."""
import numpy as np


def _scores(q, k, mask, scale, causal):
    """(scores (B, H, L, S) in float64, masked with -inf, k expanded to q's heads)."""
    B, H, L, _ = q.shape
    Hk, S = k.shape[1], k.shape[2]
    kx = np.repeat(k.astype(np.float64), H // Hk, axis=1)
    s = np.einsum("bhle,bhse->bhls", q.astype(np.float64), kx) * scale
    if mask is not None:
        m = np.broadcast_to(mask, (B, H, L, S))
        if m.dtype == np.bool_:
            s = np.where(m, s, -np.inf)
        else:
            s = s + m.astype(np.float64)
    if causal:
        s = np.where(np.tril(np.ones((L, S), dtype=bool)), s, -np.inf)
    return s


def _weights(s):
    """softmax over the last axis; a row with every score -inf gives zeros, and its
    log-sum-exp is +inf."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mx = s.max(-1, keepdims=True, initial=-np.inf)
        dead = ~np.isfinite(mx) & (mx < 0)
        e = np.exp(s - np.where(dead, 0.0, mx))
        tot = e.sum(-1, keepdims=True)
        w = np.where(dead, 0.0, e / np.where(dead, 1.0, tot))
        lse = np.where(dead, np.inf, mx + np.log(np.where(dead, 1.0, tot)))[..., 0]
    return w, lse


def sdpa(q, k, v, mask, scale, causal):
    s = _scores(q, k, mask, scale, causal)
    w, lse = _weights(s)
    vx = np.repeat(v.astype(np.float64), q.shape[1] // v.shape[1], axis=1)
    return (w @ vx).astype(q.dtype), lse.astype(q.dtype)


def sdpa_bwd(g, q, k, v, mask, out, lse, scale, causal):
    B, H, _, _ = q.shape
    Hk = k.shape[1]
    r = H // Hk
    w, _ = _weights(_scores(q, k, mask, scale, causal))
    g64 = g.astype(np.float64)
    vx = np.repeat(v.astype(np.float64), r, axis=1)
    kx = np.repeat(k.astype(np.float64), r, axis=1)
    dv = np.swapaxes(w, -1, -2) @ g64
    dw = g64 @ np.swapaxes(vx, -1, -2)
    ds = w * (dw - (dw * w).sum(-1, keepdims=True)) * scale
    dq = ds @ kx
    dk = np.swapaxes(ds, -1, -2) @ q.astype(np.float64)

    def fold(x):
        return x.reshape(B, Hk, r, *x.shape[2:]).sum(2).astype(q.dtype)
    return dq.astype(q.dtype), fold(dk), fold(dv)
