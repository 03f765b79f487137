"""Tensor methods and Python operators: the ones the op declarations name
(``fastgrad.ops._record.METHODS``), and the conversions and properties that are not ops."""
from fastgrad import _factory, ops
from fastgrad._tensor import Tensor, bool_, float32, float64, int64
from fastgrad.ops._record import METHODS


def _bind():
    T = Tensor
    for name, fn in METHODS.items():
        setattr(T, name, fn)
    permute, transpose, to = ops.shape.permute, ops.shape.transpose, ops._record.to
    T.__pos__ = lambda self: self
    T.T = property(lambda self: permute(self, tuple(reversed(range(self._data.ndim)))))
    T.mT = property(lambda self: transpose(self, -1, -2))
    T.float = lambda self: to(self, float32)
    T.double = lambda self: to(self, float64)
    T.long = lambda self: to(self, int64)
    T.bool = lambda self: to(self, bool_)
    T.new_zeros = lambda self, *size: _factory.zeros(*size, dtype=self._data.dtype)
    T.new_ones = lambda self, *size: _factory.ones(*size, dtype=self._data.dtype)
    T.__format__ = _format


def _format(self, spec):
    """format(t, spec): a 0-d tensor formats as its Python number (f"{loss:.4f}"); any
    other tensor only with an empty spec (its repr), as in PyTorch."""
    if self._data.ndim == 0:
        return format(self.item(), spec)
    return object.__format__(self, spec)


_bind()
