"""fastgrad's exception classes.

Each derives from the built-in class fastgrad's checks have always raised (ValueError,
TypeError, IndexError) and from RuntimeError, the class PyTorch raises for the same bad
calls, so code written for either library catches them: ``except RuntimeError`` (as
PyTorch programs do) and ``except ValueError`` both see a shape mismatch.
"""
from pickle import UnpicklingError as _UnpicklingError

__all__ = ["ShapeError", "ArgumentError", "DtypeError", "IndexOutOfRangeError",
           "ArgumentTypeError", "UnsupportedModeError", "WeightsOnlyError"]


class ShapeError(ValueError, RuntimeError):
    """Operand shapes that do not fit: broadcasting, matrix products, concatenation,
    reshapes, in-place writes of a result into a tensor of another shape."""


class ArgumentError(ValueError, RuntimeError):
    """An argument value the op cannot use (a zero split size, an empty reduction, a
    multi-element tensor where one element is needed, ...)."""


class DtypeError(TypeError, RuntimeError):
    """An operand of a dtype the op cannot take (a non-bool mask, mismatched dtypes
    where no promotion applies)."""


class IndexOutOfRangeError(IndexError, RuntimeError):
    """An index value outside the indexed dimension, where PyTorch reports a
    RuntimeError (gather, scatter, ...)."""


class ArgumentTypeError(TypeError, RuntimeError):
    """An argument of the wrong form where PyTorch reports a RuntimeError (a stride or
    padding tuple with the wrong number of entries for the op's dims)."""


class UnsupportedModeError(ArgumentError, NotImplementedError):
    """A mode name the op does not know (PyTorch raises NotImplementedError)."""


class WeightsOnlyError(RuntimeError, _UnpicklingError):
    """``load(..., weights_only=True)`` met a class or function that is not allow-listed
    (PyTorch raises ``pickle.UnpicklingError``; fastgrad's loader never unpickles)."""
