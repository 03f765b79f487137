"""The type aliases of fastgrad's annotations.

The public modules import them under ``typing.TYPE_CHECKING`` (with ``from __future__
import annotations``), so they cost nothing at run time."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from fastgrad._dtype import dtype
from fastgrad._tensor import Tensor

#: a Python number (a 0-d operand of an op)
Number = Union[int, float, bool]
#: an op operand: a Tensor or a Python number
TensorOrNumber = Union[Tensor, int, float, bool]
#: what ``dtype=`` accepts: a fastgrad dtype, a NumPy dtype, a Python type or a name
DType = Union[dtype, "np.dtype[Any]", type, str]
#: one dimension or several
Dims = Union[int, Sequence[int]]
#: a shape: ints, as separate arguments or one sequence
Size = Union[int, Sequence[int]]

__all__ = ["Number", "TensorOrNumber", "DType", "Dims", "Size", "Tensor"]
