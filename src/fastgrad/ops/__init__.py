"""Every differentiable op, one module per kind.

``_record`` holds what all kinds share: graph recording, input coercion, dtype casts and
the declaration of public ops (``public``).  The kinds call each other (a reduction's
backward uses ``expand``, ``sum_to`` uses ``sum``, most backward formulas use the
elementwise ops), so each module defines its own names first and binds the other kinds'
names at its end; the result is plain module globals, looked up as fast as the module's
own names, and the modules import in any order.

The public names of a kind are its ``__all__``, derived from its declarations;
``fastgrad`` re-exports those of the general-purpose kinds (``GENERAL``),
``fastgrad.nn.functional`` those of the network kinds (conv, pool, norm, loss).  This
package also gives the graph engine the ops it applies to gradients (``use_ops``).
"""
from fastgrad.ops import _record, elementwise, reduce, shape, linalg, indexing
from fastgrad.ops import inplace, sort, conv, pool, norm, loss  # noqa: F401
from fastgrad.ops import attention, bitwise, random  # noqa: F401
from fastgrad.ops import extra_methods, extra_math, extra_shape, extra_sort

from fastgrad.autograd import engine as _engine

_engine.use_ops(add=elementwise.add, sum_to=shape.sum_to, clone=shape.clone, to=_record.to,
                expand=shape.expand)

# the kinds whose ops ``fastgrad`` exports at top level
GENERAL = (_record, elementwise, bitwise, reduce, linalg, shape, indexing, inplace, sort, random,
           extra_methods, extra_math, extra_shape, extra_sort)
