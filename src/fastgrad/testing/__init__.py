"""The op registry: one entry per public op, with its NumPy reference, the inputs the
generic tests feed it and the bad inputs that must raise.

The test suite iterates over ``REGISTRY`` (name -> ``OpInfo``): forward against ``ref``
(every dtype, thread count and SIMD path), float64 central-difference gradcheck,
second-order gradgradcheck, fused-vs-composite backward agreement, and ``errors``.  An op
added to fastgrad without an entry here is an op the tests do not see:
tests/test_registry.py fails until it has one.

One module per kind of op, as in ``fastgrad.ops`` and ``fastgrad.reference``; each fills
its ``OPS`` table with the forms of ``fastgrad.testing.opinfo``.  References are written
in NumPy on float64, never with fastgrad code (convolution and pooling use the direct
formulas of ``fastgrad.reference``).  Entries call ops through the public modules only
(``fastgrad``, ``fastgrad.nn.functional``).
"""
from fastgrad.testing import (composite, conv, elementwise, indexing, inplace, linalg, loss,
                              norm, pool, reduce, shape, sort)
from fastgrad.testing import attention, extra, extra_math, extra_shape, extra_sort
from fastgrad.testing import nn_extra
from fastgrad.testing.opinfo import ErrorInput, OpInfo, Sample  # noqa: F401

KINDS = (elementwise, reduce, loss, linalg, shape, indexing, inplace, sort, conv, pool, norm,
         composite, attention, extra, extra_math, extra_shape, extra_sort, nn_extra)


def _build():
    registry = {}
    for kind in KINDS:
        for info in kind.OPS:
            if info.name in registry:
                raise ValueError(f"op {info.name!r} registered twice")
            registry[info.name] = info
    return registry


REGISTRY = _build()
