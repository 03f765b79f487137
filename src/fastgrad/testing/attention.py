"""Registry entry of F.multi_head_attention_forward (nn.MultiheadAttention's functional
form).  The reference is written out in NumPy here: packed in-projection, heads, scaled
scores plus the additive masks, softmax, weighted values, out-projection."""
import numpy as np

from fastgrad import tensor
from fastgrad.nn import functional as F
from fastgrad.testing.opinfo import ErrorInput, OpInfo, OpTable, Sample, _u

OPS = OpTable()
register = OPS.register


def _additive(mask):
    return np.where(mask, -np.inf, 0.0) if mask.dtype == bool else mask


def _np_mha(q, k, v, in_w, in_b, out_w, out_b, num_heads=2, attn_mask=None, key_padding_mask=None,
            need_weights=True, average_attn_weights=True, which="out"):
    """(L, N, E) query, (S, N, E) key and value (or unbatched (L, E), (S, E)); returns the
    output (L, N, E) or, with which="weights", the attention weights."""
    batched = q.ndim == 3
    if not batched:
        q, k, v = q[:, None], k[:, None], v[:, None]
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask[None]
    L, N, E = q.shape
    S, H = k.shape[0], num_heads
    D = E // H
    wq, wk, wv = np.split(in_w, 3)
    bq, bk, bv = np.split(in_b, 3)

    def heads(x, w, b):                      # (T, N, E) -> (N, H, T, D)
        y = x @ w.T + b
        return y.reshape(y.shape[0], N, H, D).transpose(1, 2, 0, 3)

    qh, kh, vh = heads(q, wq, bq), heads(k, wk, bk), heads(v, wv, bv)
    s = qh @ kh.swapaxes(-1, -2) / np.sqrt(D)
    if attn_mask is not None:
        m = _additive(attn_mask)
        s = s + (m.reshape(N, H, L, S) if m.ndim == 3 else m)
    if key_padding_mask is not None:
        s = s + _additive(key_padding_mask)[:, None, None, :]
    e = np.exp(s - s.max(-1, keepdims=True))
    w = e / e.sum(-1, keepdims=True)
    if which == "weights":
        w = w.mean(1) if average_attn_weights else w
        return w if batched else w[0]
    o = (w @ vh).transpose(2, 0, 1, 3).reshape(L, N, E) @ out_w.T + out_b
    return o if batched else o[:, 0]


def _mha(q, k, v, in_w, in_b, out_w, out_b, num_heads=2, attn_mask=None, key_padding_mask=None,
         need_weights=True, average_attn_weights=True, which="out"):
    """F.multi_head_attention_forward with embed_dim from in_w, no bias_k/bias_v, no
    dropout; one of its two results (the registry compares single tensors)."""
    def mask(m):          # a float mask in the query's dtype
        return None if m is None else tensor(m) if m.dtype == bool else tensor(m, dtype=q.dtype)
    out, w = F.multi_head_attention_forward(
        q, k, v, in_w.shape[-1] if in_w.dim() else 0, num_heads, in_w, in_b, None, None, False, 0.0,
        out_w, out_b, key_padding_mask=mask(key_padding_mask), need_weights=need_weights,
        attn_mask=mask(attn_mask), average_attn_weights=average_attn_weights)
    return w if which == "weights" else out


def _samples(rng):
    E, L, S, N = 4, 3, 5, 2

    def params():
        return [_u(rng, (3 * E, E), -0.8, 0.8), _u(rng, (3 * E,), -0.5, 0.5),
                _u(rng, (E, E), -0.8, 0.8), _u(rng, (E,), -0.5, 0.5)]

    bool_mask = rng.random((L, S)) > 0.6
    bool_mask[:, 0] = False                       # every query keeps a key
    kpm = np.zeros((N, S), bool)
    kpm[0, -2:] = True
    return [
        Sample([_u(rng, (L, N, E), -1, 1), _u(rng, (S, N, E), -1, 1), _u(rng, (S, N, E), -1, 1), *params()],
               {"need_weights": False}, "attention through scaled_dot_product_attention"),
        Sample([_u(rng, (L, N, E), -1, 1), _u(rng, (S, N, E), -1, 1), _u(rng, (S, N, E), -1, 1), *params()],
               {"attn_mask": bool_mask, "key_padding_mask": kpm}, "bool masks, explicit weights"),
        Sample([_u(rng, (L, N, E), -1, 1), _u(rng, (S, N, E), -1, 1), _u(rng, (S, N, E), -1, 1), *params()],
               {"attn_mask": bool_mask, "key_padding_mask": kpm, "which": "weights",
                "average_attn_weights": False}, "per-head weights"),
        Sample([_u(rng, (L, N, E), -1, 1), _u(rng, (S, N, E), -1, 1), _u(rng, (S, N, E), -1, 1), *params()],
               {"attn_mask": _u(rng, (N * 2, L, S), -1, 1), "which": "weights"}, "3-d float mask"),
        Sample([_u(rng, (L, E), -1, 1), _u(rng, (S, E), -1, 1), _u(rng, (S, E), -1, 1), *params()],
               {"attn_mask": _u(rng, (L, S), -1, 1), "need_weights": False, "num_heads": 1}, "unbatched"),
    ]


def _errors():
    E = 4
    params = [np.zeros((3 * E, E)), np.zeros(3 * E), np.zeros((E, E)), np.zeros(E)]
    return [ErrorInput([np.zeros((3, 2, E)), np.zeros((5, 2, E)), np.zeros((5, 2, E)), *params],
                       {"attn_mask": np.zeros((3, 4))}, ValueError,
                       r"multi_head_attention_forward: The shape of the 2D attn_mask is \(3, 4\)"),
            ErrorInput([np.zeros((3, 2, E)), np.zeros((5, 2, E)), np.zeros((4, 2, E)), *params], {},
                       AssertionError, r"multi_head_attention_forward: key shape \(5, 2, 4\) does not match"),
            ErrorInput([np.zeros((3, 2, E)), np.zeros((5, 2, E)), np.zeros((5, 2, E)), *params],
                       {"num_heads": 3}, AssertionError, "not divisible by num_heads 3"),
            ErrorInput([np.zeros((1, 3, 2, E)), np.zeros((5, 2, E)), np.zeros((5, 2, E)), *params], {},
                       ValueError, "query should be unbatched 2D or batched 3D")]


register(OpInfo("multi_head_attention_forward", _mha, _np_mha, _samples, _errors, extreme=False))
