"""Matrix products: ``matmul`` (with an optional accumulating output) and ``linear`` with
its fused activation."""
import numpy as np

from fastgrad._C._kernels import ACT, U
from fastgrad.reference.elementwise import sigmoid, unary


def matmul(a, b, out=None, beta=0.0):
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: cannot multiply shapes {a.shape} and {b.shape}: "
                         f"{a.shape[-1]} != {b.shape[-2]}")
    if out is None:
        return np.matmul(a, b)
    want = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    if (not isinstance(out, np.ndarray) or out.shape != want or out.dtype != a.dtype
            or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError(f"matmul: out must be a writable C-contiguous {a.dtype} array of shape "
                         f"{want}")
    p = np.matmul(a, b)
    if beta == 0:                   # out's old values are not read (a nan there is dropped)
        out[...] = p
    else:
        out[...] = p + beta * out
    return out


def _act(y, act):
    a = ACT[act]
    if a == ACT["relu"]:
        return unary(U["relu"], y)
    if a == ACT["gelu"]:
        return unary(U["gelu"], y)
    if a == ACT["tanh"]:
        return np.tanh(y)
    if a == ACT["sigmoid"]:
        return sigmoid(y)
    return y


def linear(x, w, bias, act=None):
    y = x @ w.T
    if bias is not None:
        y = y + bias
    return _act(y, act)
