"""Tensor methods and Python operators: the ones the op declarations name
(``fastgrad.ops._record.METHODS``), and the conversions and properties that are not ops."""
from fastgrad import _dtype, _factory, ops
from fastgrad._tensor import Tensor
from fastgrad.ops._record import METHODS


def _bind():
    T = Tensor
    for name, fn in METHODS.items():
        setattr(T, name, fn)
    transpose, to = ops.shape.transpose, ops._record.to
    T.__pos__ = lambda self: self
    _permuted = ops.shape._permuted
    T.T = property(lambda self: _permuted(self, tuple(range(self._data.ndim - 1, -1, -1))),
                   doc="The tensor with its dimensions reversed (a view; the transpose of a matrix).")
    T.mT = property(lambda self: transpose(self, -1, -2),
                    doc="The transpose of the last two dimensions (a batch of matrices transposed; a view).")
    # the casts named after PyTorch's dtypes: x.float(), x.long(), x.char() (int8), x.byte() (uint8), ...
    for name, d in (("float", _dtype.float32), ("double", _dtype.float64), ("half", _dtype.float16),
                    ("bfloat16", _dtype.bfloat16), ("long", _dtype.int64), ("int", _dtype.int32),
                    ("short", _dtype.int16), ("char", _dtype.int8), ("byte", _dtype.uint8),
                    ("bool", _dtype.bool)):
        setattr(T, name, _cast(to, d, name))
    T.element_size = lambda self: self._data.dtype.itemsize
    T.element_size.__doc__ = "The size of one element in bytes."
    T.new_zeros = lambda self, *size: _factory.zeros(*size, dtype=self._data.dtype)
    T.new_zeros.__doc__ = "Zeros of shape ``size`` with this tensor's dtype."
    T.new_ones = lambda self, *size: _factory.ones(*size, dtype=self._data.dtype)
    T.new_ones.__doc__ = "Ones of shape ``size`` with this tensor's dtype."
    T.__format__ = _format


def _format(self, spec):
    """format(t, spec): a 0-d tensor formats as its Python number (f"{loss:.4f}"); any
    other tensor only with an empty spec (its repr), as in PyTorch."""
    if self._data.ndim == 0:
        return format(self.item(), spec)
    return object.__format__(self, spec)


def _cast(to, d, name):
    def cast(self, memory_format=None):
        return to(self, d)
    cast.__name__ = cast.__qualname__ = name
    cast.__doc__ = f"self.to(fastgrad.{d._name})"
    return cast


_bind()
