"""fastgrad's dtypes and PyTorch's type promotion.

``fastgrad.float32``, ``fastgrad.int8``, ... are ``fastgrad.dtype`` objects, one per
storage type, compared by identity as PyTorch's are (``x.dtype is fastgrad.float32``);
each also compares equal to the NumPy dtype it is stored as (``x.dtype == np.float32``)
and converts to it (``np.dtype(fastgrad.int16)``), so NumPy accepts it wherever it takes
a dtype.  Tensors store a NumPy ``ndarray``; ``Tensor.dtype`` maps its dtype back.

bfloat16 has no NumPy dtype: it is stored as the ``ml_dtypes`` package's ``bfloat16``
NumPy dtype when that package is installed (``pip install ml_dtypes``); without it,
``fastgrad.bfloat16`` exists (for promotion, ``finfo``, comparisons) and making a tensor
of it raises a ``TypeError`` that says so.

Promotion follows PyTorch: ``promote_types`` is its table (bool < integers < floats; a
signed and an unsigned integer meet in the next signed width; float16 and bfloat16 meet
in float32; an integer with a float gives the float); ``result_type`` adds its three
priority groups: tensors with dimensions, 0-d tensors, then Python scalars (a Python
float stands for the default float dtype, an int for int64).  A lower group changes the
result only when it brings a higher category (float over int over bool), e.g.
``int8_tensor + 5`` stays int8, ``int8_tensor + 2.5`` is float32 and
``float16_tensor + float64_zero_dim`` stays float16.
"""
import builtins

import numpy as np

try:
    import ml_dtypes as _ml_dtypes
    _BF16 = np.dtype(_ml_dtypes.bfloat16)
except ImportError:          # bfloat16 tensors need the package; the dtype object exists anyway
    _BF16 = None


class DtypeNotSupported(NotImplementedError, TypeError):
    """An op that PyTorch does not implement for a dtype either (bitwise ops on floats, ...).
    A NotImplementedError, hence a RuntimeError, as PyTorch raises, and a TypeError."""


class dtype:
    """A tensor element type, as ``torch.dtype``: ``is_floating_point``, ``is_signed``,
    ``is_complex``, ``itemsize``; ``repr`` is ``fastgrad.<name>``."""
    __slots__ = ("_name", "_np", "itemsize", "is_floating_point", "is_signed", "is_complex",
                 "_category", "_tensor_type")

    def __init__(self, name, np_dtype, itemsize, category, signed, tensor_type):
        self._name = name
        self._np = np_dtype
        self.itemsize = itemsize
        self.is_floating_point = category == 2
        self.is_signed = signed
        self.is_complex = False
        self._category = category          # 0 bool, 1 integer, 2 floating point
        self._tensor_type = tensor_type    # "FloatTensor", ...

    @property
    def kind(self):
        """NumPy's kind character: "b" bool, "u" unsigned, "i" signed integer, "f" floating."""
        return "f" if self.is_floating_point else "b" if self._category == 0 else "i" if self.is_signed else "u"

    @property
    def name(self):
        """The dtype's name without the module ("float32")."""
        return self._name

    @property
    def dtype(self):
        """The NumPy dtype this dtype is stored as (what ``np.dtype(d)`` reads)."""
        if self._np is None:
            raise TypeError(_no_bf16(""))
        return self._np

    def __repr__(self):
        return "fastgrad." + self._name

    __str__ = __repr__

    def __eq__(self, other):
        if type(other) is dtype:
            return self is other
        if self._np is not None and isinstance(other, (np.dtype, type, str)):
            try:
                return self._np == np.dtype(other)
            except TypeError:
                return False
        return NotImplemented

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __hash__(self):
        return hash(self._np) if self._np is not None else hash(self._name)

    def __reduce__(self):
        return (_by_name, (self._name,))


def _no_bf16(who):
    return (f"{who + ': ' if who else ''}bfloat16 tensors need the ml_dtypes package (pip install "
            "ml_dtypes), which gives NumPy a bfloat16 type to store them in; the other dtypes "
            "are " + ", ".join(d._name for d in ALL if d is not bfloat16))


bool = dtype("bool", np.dtype(np.bool_), 1, 0, False, "BoolTensor")  # noqa: A001 - PyTorch's name
uint8 = dtype("uint8", np.dtype(np.uint8), 1, 1, False, "ByteTensor")
int8 = dtype("int8", np.dtype(np.int8), 1, 1, True, "CharTensor")
int16 = dtype("int16", np.dtype(np.int16), 2, 1, True, "ShortTensor")
int32 = dtype("int32", np.dtype(np.int32), 4, 1, True, "IntTensor")
int64 = dtype("int64", np.dtype(np.int64), 8, 1, True, "LongTensor")
float16 = dtype("float16", np.dtype(np.float16), 2, 2, True, "HalfTensor")
bfloat16 = dtype("bfloat16", _BF16, 2, 2, True, "BFloat16Tensor")
float32 = dtype("float32", np.dtype(np.float32), 4, 2, True, "FloatTensor")
float64 = dtype("float64", np.dtype(np.float64), 8, 2, True, "DoubleTensor")

ALL = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
# PyTorch's other names for them
ALIASES = {"half": float16, "float": float32, "double": float64, "short": int16, "int": int32,
           "long": int64}
_BY_NAME = {d._name: d for d in ALL}
FROM_NUMPY = {d._np: d for d in ALL if d._np is not None}      # storage dtype -> dtype
BY_TENSOR_TYPE = {d._tensor_type: d for d in ALL}
# the storage dtypes that the C kernels compute in; the others are computed in float32
KERNEL_FLOATS = (float32._np, float64._np)
# storage dtypes of floating point tensors (NumPy calls ml_dtypes' bfloat16 kind "V")
FLOAT_STORAGE = frozenset(d._np for d in ALL if d.is_floating_point and d._np is not None)


def _by_name(name):
    return _BY_NAME[name]


def of_numpy(np_dtype):
    """The fastgrad dtype of an ndarray's dtype."""
    return FROM_NUMPY[np_dtype]


def as_dtype(d, who="dtype"):
    """A fastgrad dtype for a fastgrad dtype, a NumPy dtype or scalar type, or Python's
    ``bool``/``int``/``float`` (PyTorch reads those as bool, int64 and float64)."""
    if type(d) is dtype:
        return d
    try:
        nd = np.dtype(d)
    except TypeError:
        raise TypeError(f"{who}: {d!r} is not a dtype") from None
    r = FROM_NUMPY.get(nd)
    if r is None:
        raise TypeError(f"{who}: unsupported dtype {nd}; fastgrad supports "
                        + ", ".join(x._name for x in ALL))
    return r


def storage(d, who="tensor"):
    """The NumPy dtype a tensor of dtype ``d`` is stored as.  NumPy dtypes fastgrad has
    no type for map to the nearest one of their kind (uint16/32/64 to int64, longdouble
    to float64); anything else raises TypeError."""
    if type(d) is dtype:
        if d._np is None:
            raise TypeError(_no_bf16(who))
        return d._np
    try:
        nd = np.dtype(d)
    except TypeError:
        raise TypeError(f"{who}: {d!r} is not a dtype") from None
    if nd.byteorder not in "=|":          # a byte-swapped dtype is stored in native order
        nd = nd.newbyteorder("=")
    if nd in FROM_NUMPY:
        return nd
    if nd.kind == "f":
        return float64._np
    if nd.kind in "iu":
        return int64._np
    raise TypeError(f"{who}: unsupported dtype {nd}; fastgrad supports "
                    + ", ".join(x._name for x in ALL))


# ---- promotion -----------------------------------------------------------------------------
def _promote(a, b):
    """PyTorch's promote_types on fastgrad dtypes."""
    if a is b:
        return a
    ca, cb = a._category, b._category
    if ca != cb:
        return a if ca > cb else b
    if ca == 2:
        if a.itemsize == b.itemsize:          # float16 with bfloat16
            return float32
        return a if a.itemsize > b.itemsize else b
    if a.is_signed == b.is_signed:
        return a if a.itemsize > b.itemsize else b
    s, u = (a, b) if a.is_signed else (b, a)
    if s.itemsize > u.itemsize:
        return s
    return {1: int16, 2: int32, 4: int64, 8: int64}[u.itemsize]


def promote_types(type1, type2):
    """The smallest dtype that both dtypes cast to without losing their kind (PyTorch's
    table: ``promote_types(uint8, int8)`` is int16, float16 with bfloat16 float32)."""
    return _promote(as_dtype(type1, "promote_types"), as_dtype(type2, "promote_types"))


def can_cast(from_, to):
    """Whether PyTorch's casting rules allow ``from_`` to ``to``: a cast never lowers the
    category (float to an integer or bool, an integer to bool)."""
    return as_dtype(from_, "can_cast")._category <= as_dtype(to, "can_cast")._category


def _combine(higher, lower):
    """Fold a lower-priority group's dtype into the result so far (PyTorch's rule)."""
    if higher is None:
        return lower
    if lower is None or higher._category == 2:
        return higher
    if higher is bool or lower._category == 2:
        return _promote(higher, lower)
    return higher


def result_type_of(operands, default_float):
    """The dtype of an op on ``operands``: Tensors (anything with a ``._data`` ndarray),
    NumPy scalars (as 0-d tensors) and Python scalars, by PyTorch's promotion."""
    dim = zero = scal = None
    for o in operands:
        arr = getattr(o, "_data", None)
        if isinstance(arr, np.ndarray):
            d = FROM_NUMPY[arr.dtype]
            if arr.ndim:
                dim = d if dim is None else _promote(dim, d)
            else:
                zero = d if zero is None else _promote(zero, d)
            continue
        if isinstance(o, (builtins.bool, np.bool_)):      # NumPy scalars count as Python's
            d = bool
        elif isinstance(o, (int, np.integer)):
            d = int64
        elif isinstance(o, (float, np.floating)):
            d = default_float
        else:
            raise TypeError(f"result_type: expected Tensors or numbers, got {type(o).__name__}")
        scal = d if scal is None else _promote(scal, d)
    return _combine(dim, _combine(zero, scal))


# ---- finfo / iinfo --------------------------------------------------------------------------
class finfo:
    """Machine limits of a floating dtype (default: the default dtype), as ``torch.finfo``:
    bits, eps, max, min, tiny (= smallest_normal), resolution, dtype (its name)."""

    def __init__(self, type=None):
        from fastgrad._tensor import get_default_dtype
        d = get_default_dtype() if type is None else as_dtype(type, "finfo")
        if not d.is_floating_point:
            raise TypeError(f"finfo: {d} is not a floating point dtype; use fastgrad.iinfo")
        if d is bfloat16:
            self.bits, self.eps, self.max, self.tiny, self.resolution = \
                16, 2.0 ** -7, float.fromhex("0x1.fep127"), 2.0 ** -126, 0.01
        else:
            f = np.finfo(d._np)
            self.bits, self.eps, self.max = f.bits, float(f.eps), float(f.max)
            self.tiny, self.resolution = float(f.smallest_normal), 10.0 ** -f.precision
        self.min = -self.max
        self.smallest_normal = self.tiny
        self.dtype = d._name

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.tiny:g}, tiny={self.tiny:g}, "
                f"dtype={self.dtype})")


class iinfo:
    """Limits of an integer (or bool) dtype, as ``torch.iinfo``: bits, min, max, dtype."""

    def __init__(self, type):
        d = as_dtype(type, "iinfo")
        if d.is_floating_point:
            raise TypeError(f"iinfo: {d} is not an integer dtype; use fastgrad.finfo")
        if d is bool:
            self.bits, self.min, self.max = 8, 0, 1
        else:
            i = np.iinfo(d._np)
            self.bits, self.min, self.max = i.bits, int(i.min), int(i.max)
        self.dtype = d._name

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


# ---- legacy tensor types: fastgrad.FloatTensor, ... -----------------------------------------
class _TensorTypeMeta(type):
    def __instancecheck__(cls, obj):
        from fastgrad._tensor import Tensor
        return isinstance(obj, Tensor) and obj._data.dtype == cls.dtype._np

    def __call__(cls, *args, device=None):
        """``FloatTensor(2, 3)``: a zero-filled tensor of that size; ``FloatTensor([1, 2])``
        or ``FloatTensor(array)``: a copy of the data in this dtype; ``FloatTensor()``:
        an empty one."""
        from fastgrad._tensor import Tensor, tensor
        who = cls.__name__
        if device is not None and str(device).split(":")[0] != "cpu":
            raise ValueError(f"{who}: fastgrad only supports the 'cpu' device, got {device!r}")
        st = storage(cls.dtype, who)
        if not args:
            return Tensor._make(np.zeros((0,), st))
        if builtins.all(isinstance(a, (int, np.integer)) and not isinstance(a, builtins.bool) for a in args):
            if builtins.any(a < 0 for a in args):
                raise ValueError(f"{who}: negative dimension in size {tuple(int(a) for a in args)}")
            return Tensor._make(np.zeros(tuple(int(a) for a in args), st))
        if len(args) == 1 and not isinstance(args[0], (float, complex, builtins.bool)):
            return tensor(args[0], dtype=cls.dtype)
        raise TypeError(f"{who}: expected sizes (ints) or one sequence of data, got "
                        f"{', '.join(type(a).__name__ for a in args)}")

    def __repr__(cls):
        return f"<class 'fastgrad.{cls.__name__}'>"


def _tensor_type(d):
    return _TensorTypeMeta(d._tensor_type, (), {"dtype": d, "__module__": "fastgrad", "__doc__": (
        f"PyTorch's legacy tensor type of fastgrad.{d._name}: ``{d._tensor_type}(2, 3)`` makes a zero-filled "
        f"tensor of that size, ``{d._tensor_type}(data)`` a copy of the data, and ``isinstance(t, "
        f"{d._tensor_type})`` tests the dtype.")})


TENSOR_TYPES = {d._tensor_type: _tensor_type(d) for d in ALL}


def tensor_type_dtype(t, who):
    """The dtype that ``Tensor.type(t)`` casts to: a dtype, a tensor type
    (``fastgrad.LongTensor``) or its name ("fastgrad.LongTensor", "torch.LongTensor")."""
    if isinstance(t, _TensorTypeMeta):
        return t.dtype
    if isinstance(t, str):
        name = t.split(".")[-1]
        d = BY_TENSOR_TYPE.get(name)
        if d is None or "." in t and t.split(".")[0] not in ("fastgrad", "torch"):
            raise TypeError(f"{who}: unknown tensor type {t!r}; expected one of "
                            + ", ".join("fastgrad." + n for n in BY_TENSOR_TYPE))
        return d
    return as_dtype(t, who)
