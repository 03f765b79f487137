"""Registry entries of the products: matmul, linear, dot, outer, bmm, addmm, einsum."""
import math

import numpy as np

import fastgrad as fg
from fastgrad.nn import functional as F
from fastgrad.reference.elementwise import _erf
from fastgrad.testing.opinfo import ErrorInput, OpInfo, OpTable, Sample, _u

OPS = OpTable()
register = OPS.register


# ---- matmul and linear ----------------------------------------------------------------------
MM_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
             ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((1, 4), (4, 1)), ((0, 4), (4, 3)),
             ((3, 0), (0, 2))]


def _mm_samples(rng):
    out = [Sample([_u(rng, a, -1, 1), _u(rng, b, -1, 1)], desc=f"{a}@{b}") for a, b in MM_SHAPES]
    out.append(Sample([_u(rng, (4, 3), -1, 1).T, _u(rng, (5, 4), -1, 1).T], desc="transposed"))
    out.append(Sample([_u(rng, (3, 8), -1, 1)[:, ::2], _u(rng, (4, 5), -1, 1)], desc="strided"))
    out.append(Sample([_u(rng, (65, 129), -1, 1), _u(rng, (129, 33), -1, 1)], desc="odd sizes", grad=False))
    out.append(Sample([_u(rng, (128, 300), -1, 1), _u(rng, (300, 96), -1, 1)], desc="large", grad=False))
    return out


def _mm_errors():
    return [ErrorInput([np.zeros((3, 4)), np.zeros((5, 2))], {}, ValueError,
                       r"matmul: cannot multiply shapes \(3, 4\) and \(5, 2\): 4 != 5"),
            ErrorInput([np.zeros(()), np.zeros((5, 2))], {}, ValueError,
                       r"matmul: both arguments need at least 1 dimension")]


register(OpInfo("matmul", fg.matmul, np.matmul, _mm_samples, _mm_errors, rtol32=1e-4, atol32=1e-5))
register(OpInfo("mm", fg.mm, np.matmul,
                lambda rng: [s for s in _mm_samples(rng) if len(s.args[0].shape) == len(s.args[1].shape) == 2],
                lambda: [ErrorInput([np.zeros(3), np.zeros((3, 2))], {}, ValueError, r"mm: expected 2-D tensors")],
                rtol32=1e-4, atol32=1e-5))


def _np_linear(x, w, b=None, activation=None):
    y = x @ w.T
    if b is not None:
        y = y + b
    if activation == "gelu":
        return 0.5 * y * (1 + _erf(y / math.sqrt(2)))
    return {None: lambda v: v, "relu": lambda v: np.maximum(v, 0), "tanh": np.tanh,
            "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[activation](y)


def _linear_samples(rng):
    def lin(n, i, o):
        return _u(rng, (n, i), -1, 1), _u(rng, (o, i), -1, 1), _u(rng, (o,), -1, 1)
    x, w, b = lin(5, 3, 4)
    out = [Sample([x, w, b]), Sample([x, w], {}, "no bias"),
           Sample([x, w, b], {"activation": "relu"}, "fused relu"),
           Sample([x, w, b], {"activation": "tanh"}, "fused tanh"),
           Sample([x, w, b], {"activation": "sigmoid"}, "fused sigmoid"),
           Sample([x, w, b], {"activation": "gelu"}, "gelu"),
           Sample([_u(rng, (2, 5, 3), -1, 1), w, b], {}, "3-d input"),
           Sample([x, _u(rng, (3, 4), -1, 1).T, b], {}, "transposed weight")]
    x, w, b = lin(64, 100, 50)
    out.append(Sample([x, w, b], {"activation": "relu"}, "large", grad=False))
    return out


register(OpInfo("linear", fg.linear, _np_linear, _linear_samples,
                lambda: [ErrorInput([np.zeros((3, 4)), np.zeros((2, 5))], {}, ValueError,
                                    r"linear: input shape \(3, 4\) does not match weight shape \(2, 5\)")],
                rtol32=1e-4, atol32=1e-5))


# ---- products -------------------------------------------------------------------------------
def _m(rng, *shape):
    return _u(rng, shape, -1, 1)


register(OpInfo("dot", fg.dot, np.dot,
                lambda rng: [Sample([_m(rng, 5), _m(rng, 5)]), Sample([_m(rng, 8)[::2], _m(rng, 4)], {}, "strided"),
                             Sample([np.zeros(0), np.zeros(0)], {}, "empty"),
                             Sample([_m(rng, 100000), _m(rng, 100000)], {}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((2, 3)), np.zeros(3)], {}, ValueError,
                                    r"dot: 1D tensors expected, but got 2D and 1D"),
                         ErrorInput([np.zeros(3), np.zeros(4)], {}, ValueError, r"dot: inconsistent tensor size")],
                rtol32=1e-4, atol32=1e-5))
register(OpInfo("outer", fg.outer, np.outer,
                lambda rng: [Sample([_m(rng, 4), _m(rng, 3)]), Sample([_m(rng, 6)[::-2], _m(rng, 2)], {}, "view"),
                             Sample([np.zeros(0), _m(rng, 3)], {}, "empty"),
                             Sample([_m(rng, 500), _m(rng, 400)], {}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((2, 3)), np.zeros(3)], {}, ValueError, r"outer: 1D tensors expected")]))
register(OpInfo("bmm", fg.bmm, np.matmul,
                lambda rng: [Sample([_m(rng, 2, 3, 4), _m(rng, 2, 4, 2)]),
                             Sample([_m(rng, 2, 4, 3).transpose(0, 2, 1), _m(rng, 2, 4, 2)], {}, "transposed"),
                             Sample([_m(rng, 0, 3, 4), _m(rng, 0, 4, 2)], {}, "empty batch"),
                             Sample([_m(rng, 8, 64, 96), _m(rng, 8, 96, 32)], {}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((2, 3, 4)), np.zeros((3, 4, 2))], {}, ValueError,
                                    r"bmm: cannot multiply batches of shapes \(2, 3, 4\) and \(3, 4, 2\)"),
                         ErrorInput([np.zeros((3, 4)), np.zeros((4, 2))], {}, ValueError,
                                    r"bmm: expected 3-D tensors")],
                rtol32=1e-4, atol32=1e-5))
register(OpInfo("addmm", fg.addmm,
                lambda inp, m1, m2, beta=1, alpha=1: (beta * inp if beta != 0 else 0) + alpha * (m1 @ m2),
                lambda rng: [Sample([_m(rng, 3, 2), _m(rng, 3, 4), _m(rng, 4, 2)]),
                             Sample([_m(rng, 2), _m(rng, 3, 4), _m(rng, 4, 2)], {"beta": 0.5, "alpha": -2.0},
                                    "broadcast bias"),
                             Sample([np.full((3, 2), np.nan), _m(rng, 3, 4), _m(rng, 4, 2)], {"beta": 0},
                                    "beta=0 ignores nan",
                                    grad=False),
                             Sample([_m(rng, 64), _m(rng, 128, 96), _m(rng, 96, 64)], {}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((3, 2)), np.zeros((3, 4)), np.zeros((5, 2))], {}, ValueError,
                                    r"addmm: cannot multiply shapes \(3, 4\) and \(5, 2\)"),
                         ErrorInput([np.zeros((4, 2)), np.zeros((3, 4)), np.zeros((4, 2))], {}, ValueError,
                                    r"addmm: input of shape \(4, 2\) cannot be broadcast")],
                rtol32=1e-4, atol32=1e-5))

EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 2)], "matmul"),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)], "batched"),
    ("ij,kj->ik", [(3, 4), (2, 4)], "transposed (a @ b.T)"),
    ("i,j->ij", [(3,), (4,)], "outer"),
    ("ii->", [(4, 4)], "trace"),
    ("ii->i", [(3, 3)], "diagonal"),
    ("ij->j", [(3, 4)], "sum over an index"),
    ("ij->ji", [(3, 4)], "transpose"),
    ("i,i->", [(5,), (5,)], "dot"),
    ("bi,bi->b", [(3, 4), (3, 4)], "batched dot"),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)], "ellipsis broadcast"),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)], "chain of three"),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)], "attention scores"),
    ("iij,jk", [(3, 3, 2), (2, 4)], "implicit output, diagonal then contraction"),
    ("ij,ij->ij", [(3, 4), (1, 4)], "elementwise, size-1 broadcast"),
]


def _einsum_samples(rng):
    out = [Sample([eq] + [_m(rng, *s) for s in shapes], {}, desc) for eq, shapes, desc in EINSUM_CASES]
    out.append(Sample(["ij,jk->ik", _m(rng, 4, 3).T, _m(rng, 4, 5)[:, ::2]], {}, "views"))
    out.append(Sample(["bij,bkj->bik", _m(rng, 4, 64, 48), _m(rng, 4, 32, 48)], {}, "large", grad=False))
    return out


register(OpInfo("einsum", fg.einsum, np.einsum, _einsum_samples,
                lambda: [ErrorInput(["ij,jk->ik", np.zeros((2, 3)), np.zeros((4, 2))], {}, ValueError,
                                    r"einsum: subscript 'j' has size 4 for operand 1 but size 3"),
                         ErrorInput(["ij->ik", np.zeros((2, 3))], {}, ValueError,
                                    r"einsum: output subscript 'k' does not appear"),
                         ErrorInput(["ijk->i", np.zeros((2, 3))], {}, ValueError,
                                    r"einsum: operand 0 has 2 dimensions"),
                         ErrorInput(["ij,jk", np.zeros((2, 3))], {}, ValueError,
                                    r"einsum: equation 'ij,jk' names 2 operands"),
                         ErrorInput(["i1->i", np.zeros(3)], {}, ValueError, r"einsum: invalid subscripts")],
                rtol32=1e-4, atol32=1e-5))


def _np_bilinear(x1, x2, w, b=None):
    y = np.einsum("...i,kij,...j->...k", x1, w, x2)
    return y if b is None else y + b


def _bilinear_samples(rng):
    return [Sample([_m(rng, 4, 3), _m(rng, 4, 2), _m(rng, 5, 3, 2), _m(rng, 5)], {}, "bias"),
            Sample([_m(rng, 4, 3), _m(rng, 4, 2), _m(rng, 5, 3, 2)], {}, "no bias"),
            Sample([_m(rng, 2, 3, 3), _m(rng, 2, 3, 2), _m(rng, 2, 3, 2), _m(rng, 2)], {}, "batch dims"),
            Sample([_m(rng, 3), _m(rng, 2), _m(rng, 4, 3, 2)], {}, "unbatched"),
            Sample([_m(rng, 3, 4).T, _m(rng, 2, 8)[:, ::2].T, _m(rng, 2, 2, 3).transpose(0, 2, 1)], {}, "views"),
            Sample([_m(rng, 64, 30), _m(rng, 64, 20), _m(rng, 16, 30, 20), _m(rng, 16)], {}, "large", grad=False)]


register(OpInfo("bilinear", F.bilinear, _np_bilinear, _bilinear_samples,
                lambda: [ErrorInput([np.zeros((4, 3)), np.zeros((4, 2)), np.zeros((3, 2))], {}, ValueError,
                                    r"bilinear: weight must be 3-D"),
                         ErrorInput([np.zeros((4, 3)), np.zeros((5, 2)), np.zeros((2, 3, 2))], {}, ValueError,
                                    r"bilinear: input shapes \(4, 3\) and \(5, 2\) do not match weight shape"),
                         ErrorInput([np.zeros((4, 3)), np.zeros((4, 2)), np.zeros((2, 3, 2)), np.zeros(3)], {},
                                    ValueError, r"bilinear: bias shape \(3,\) does not match")],
                rtol32=1e-4, atol32=1e-5))
