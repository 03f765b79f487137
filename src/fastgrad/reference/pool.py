"""2-d pooling (max, average, adaptive average), forward and backward, over explicit
windows.  Same signatures as fastgrad._C._kernels (see _conv.pxi)."""
import numpy as np

from fastgrad._C._kernels import POOL


def _pool_windows(op, n, o, k, s, p, d):
    """Per output index: (input indices inside the input, divisor for count_include_pad)."""
    out = []
    for i in range(o):
        if op == POOL["adaptive_avg"]:
            a, b = (i * n) // o, -((-(i + 1) * n) // o)
            out.append((list(range(a, b)), b - a))
        elif op == POOL["max"]:
            a = i * s - p           # only the taps inside [0, n): bounded by n, whatever k is
            t0 = 0 if a >= 0 else (-a + d - 1) // d
            t1 = min(k, (n - 1 - a) // d + 1) if n - 1 - a >= 0 else 0
            out.append(([a + t * d for t in range(t0, t1)], 0))
        else:
            a = i * s - p
            e = min(a + k, n + p)
            out.append((list(range(max(a, 0), min(e, n))), e - a))
    return out


def pool2d(op, x, oh, ow, kernel=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1),
           count_include_pad=True):
    h, w = x.shape[-2:]
    rows = _pool_windows(op, h, oh, kernel[0], stride[0], padding[0], dilation[0])
    cols = _pool_windows(op, w, ow, kernel[1], stride[1], padding[1], dilation[1])
    lead = x.shape[:-2]
    x2 = x.reshape((-1, h, w)).astype(np.float64)
    y = np.zeros((x2.shape[0], oh, ow))
    idx = np.zeros((x2.shape[0], oh, ow), dtype=np.int64) if op == POOL["max"] else None
    for a, (ri, rf) in enumerate(rows):
        for b, (ci, cf) in enumerate(cols):
            win = x2[:, ri][:, :, ci].reshape(x2.shape[0], -1)
            if op == POOL["max"]:
                k = np.argmax(win, axis=1)
                y[:, a, b] = win[np.arange(win.shape[0]), k]
                idx[:, a, b] = np.array(ri)[k // len(ci)] * w + np.array(ci)[k % len(ci)]
            else:
                div = rf * cf if (op == POOL["avg"] and count_include_pad) else len(ri) * len(ci)
                y[:, a, b] = win.sum(1) / div
    # integer input is pooled as float (the op converts it first), not truncated back
    y = y.reshape(lead + (oh, ow)).astype(x.dtype if x.dtype.kind == "f" else np.float64)
    return y, (idx.reshape(lead + (oh, ow)) if idx is not None else None)


def pool2d_bwd(op, g, idx, xshape, kernel=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1),
               count_include_pad=True):
    h, w = xshape[-2:]
    oh, ow = g.shape[-2:]
    g2 = g.reshape((-1, oh, ow)).astype(np.float64)
    gx = np.zeros((g2.shape[0], h * w))
    if op == POOL["max"]:
        i2 = np.asarray(idx).reshape(g2.shape[0], -1)
        if i2.size and (i2.min() < 0 or i2.max() >= h * w):
            raise IndexError(f"max_pool2d_backward: an index lies outside the {h}x{w} input plane")
        for pl in range(g2.shape[0]):
            np.add.at(gx[pl], i2[pl], g2[pl].reshape(-1))
        return gx.reshape(xshape).astype(g.dtype)
    gx = gx.reshape(-1, h, w)
    rows = _pool_windows(op, h, oh, kernel[0], stride[0], padding[0], dilation[0])
    cols = _pool_windows(op, w, ow, kernel[1], stride[1], padding[1], dilation[1])
    for a, (ri, rf) in enumerate(rows):
        for b, (ci, cf) in enumerate(cols):
            div = rf * cf if (op == POOL["avg"] and count_include_pad) else len(ri) * len(ci)
            if div:
                gx[:, ri[0]:ri[-1] + 1, ci[0]:ci[-1] + 1] += (g2[:, a, b] / div)[:, None, None]
    return gx.reshape(xshape).astype(g.dtype)
