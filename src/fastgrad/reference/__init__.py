"""Pure-NumPy reference kernels: the correctness oracle and the ``"numpy"`` backend.

Every kernel here has the same signature and meaning as its C counterpart in
``fastgrad._C._kernels``; ``fastgrad.set_backend("numpy")`` routes the whole Tensor API
through this package, so tests and benchmarks compare the two on identical code paths.
Formulas are written for clarity, in the input dtype, with ``np.errstate`` silencing the
warnings that NumPy would raise for the same inf/nan results the C kernels produce.

One module per kind of op, as in ``fastgrad.ops`` and ``fastgrad.testing``:
``elementwise`` (unary, binary, compare, where), ``reduce`` (reductions, scans, softmax),
``loss``, ``linalg``, ``shape`` (copies), ``indexing``, ``sort``, ``conv``, ``pool``, ``norm``, ``rnn``.
The package itself is the backend object: it exposes every kernel by name.  The kernels
``reduce`` and ``sort`` share their name with their module, and the package attribute is
the kernel; reach those modules with ``from fastgrad.reference.reduce import ...``.
"""
from fastgrad._C._kernels import ACT, B, CMP, POOL, R, SCAN, U, TargetIndexError  # noqa: F401
from fastgrad.reference.attention import sdpa, sdpa_bwd  # noqa: F401
from fastgrad.reference.conv import conv2d, conv2d_bwd  # noqa: F401
from fastgrad.reference.elementwise import (  # noqa: F401
    BINARY, COMPARE, UNARY, UNARY_DERIV, binary, compare, gelu, gelu_tanh, sigmoid, silu,
    softplus, unary, unary_bwd, where)
from fastgrad.reference.indexing import (  # noqa: F401
    gather, index_add, index_select, masked_expand, masked_select, scatter_add)
from fastgrad.reference.linalg import linear, matmul  # noqa: F401
from fastgrad.reference.loss import nll_prep, xent, xent_bwd  # noqa: F401
from fastgrad.reference.norm import bn_apply, bn_bwd, bn_stats, rownorm, rownorm_bwd  # noqa: F401
from fastgrad.reference.pool import pool2d, pool2d_bwd  # noqa: F401
from fastgrad.reference.reduce import argreduce, prod, reduce, scan, softmax, softmax_bwd  # noqa: F401
from fastgrad.reference.rnn import rnn_bwd, rnn_fwd, rnn_ws_elems  # noqa: F401
from fastgrad.reference.shape import contiguous, copy  # noqa: F401
from fastgrad.reference.sort import sort, topk  # noqa: F401


# configuration calls the Tensor layer makes on whichever backend is active
def set_num_threads(n):
    pass


def get_num_threads():
    return 1
