"""The Tensor: a NumPy array plus autograd metadata.

Storage is a NumPy ``ndarray`` (the ``_data`` slot, which fastgrad's own code reads
directly), so ``from_numpy`` and ``numpy()`` are zero-copy and NumPy owns the memory.
``Tensor.data`` is PyTorch's: a tensor sharing the memory, cut from the graph.  Ops live
in ``fastgrad.ops``; ``fastgrad._methods`` attaches them to the class as the methods and
operators their declarations name.

dtypes (``fastgrad._dtype``): bool, uint8, int8, int16, int32, int64, float16, bfloat16,
float32 (the default) and float64; the floating ones carry gradients.  The C kernels
compute in float32 and float64; elementwise ops compute float16 and bfloat16 in float32
and round the result back.  Type promotion follows PyTorch: the category order is
bool < int < float; tensors with dimensions decide the dtype within a category, 0-d
tensors and Python scalars only raise the category (a float scalar with an int tensor
gives the default float dtype, float32), never the width (``float32_tensor * 2.0`` stays
float32, and so does ``float32_tensor * float64_zero_dim_tensor``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from fastgrad.errors import ArgumentError, ShapeError
from fastgrad import _device
from fastgrad import _dtype
from fastgrad._state import leaf_hook_gen as _leaf_hook_gen
from fastgrad._state import trace as _trace

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from fastgrad._api_methods import TensorMethods as _TensorMethods
    from fastgrad.autograd.engine import Node
    _Data = Union["Tensor", np.ndarray, Sequence[Any], float, int, bool]
    _DType = Union["_dtype.dtype", np.dtype[Any], type, str]
else:
    _TensorMethods = object          # the ops are bound as methods by fastgrad._methods

# storage dtypes (NumPy's) that the ops compare against; fastgrad.float32 etc. are the
# fastgrad.dtype objects of fastgrad._dtype
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

FLOAT_DTYPES = (float32, float64)
SUPPORTED = tuple(_dtype.FROM_NUMPY)            # every storage dtype
_FLOATS = _dtype.FLOAT_STORAGE
_of_numpy = _dtype.FROM_NUMPY.__getitem__
_default = [float32]


def get_default_dtype() -> _dtype.dtype:
    """The floating dtype that factories and Python floats give (float32 unless set)."""
    return _of_numpy(_default[0])


def set_default_dtype(dtype: _DType) -> None:
    """Set the floating dtype that factories and Python floats give: float32 or float64."""
    d = _dtype.storage(dtype, "set_default_dtype")
    if d not in FLOAT_DTYPES:
        raise TypeError(f"set_default_dtype: only float32 and float64 are supported, got {_of_numpy(d)}")
    _default[0] = d


def canonical_dtype(dt, who="tensor"):
    """The NumPy storage dtype for a fastgrad dtype, NumPy dtype or Python type, or raise."""
    return _dtype.storage(dt, who)


def result_dtype(*operands):
    """PyTorch's promotion over Tensors and Python scalars, as a storage dtype."""
    d = _dtype.result_type_of(operands, _of_numpy(_default[0]))
    return d.dtype


def result_type(tensor1: Union[Tensor, float, int, bool], tensor2: Union[Tensor, float, int, bool]) -> _dtype.dtype:
    """The dtype PyTorch's promotion gives an op on two Tensors or Python scalars."""
    return _dtype.result_type_of((tensor1, tensor2), _of_numpy(_default[0]))


class Tensor(_TensorMethods):
    """An n-dimensional array that can record the operations applied to it."""
    __slots__ = ("_data", "grad_fn", "requires_grad", "grad", "_version", "_hooks", "_name",
                 "_base", "_vidx", "__weakref__")
    __array_priority__ = 1000      # numpy_array * tensor -> Tensor.__rmul__
    _data: np.ndarray
    grad_fn: Optional[Node]
    requires_grad: bool
    grad: Optional[Tensor]
    _version: list[int]
    _hooks: Optional[list[Any]]

    def __init__(self, data: _Data, dtype: Optional[_DType] = None, requires_grad: bool = False) -> None:
        arr = _as_array(data, dtype, "Tensor")
        self._data = arr
        self.grad_fn = None
        self.requires_grad = False
        self.grad = None
        self._version = [0]       # shared by views of the same memory; in-place ops bump
        self._hooks = None        # [0] and record their name in [1]
        self._name = None
        self._base = None         # the tensor this one is a view of (set by view ops)
        self._vidx = None         # (parent, basic index) for views made by indexing
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(arr: np.ndarray) -> Tensor:
        t = _new(Tensor)
        t._data = arr
        t.grad_fn = None
        t.requires_grad = False
        t.grad = None
        t._version = [0]
        t._hooks = None
        t._name = None
        t._base = None
        t._vidx = None
        return t

    # ---- metadata ---------------------------------------------------------------------
    __hash__ = object.__hash__

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension (a tuple of ints; PyTorch's ``torch.Size``)."""
        return self._data.shape

    def size(self, dim: Optional[int] = None) -> Any:
        """The shape, or with ``dim`` the size of that dimension (an int)."""
        return self._data.shape if dim is None else self._data.shape[dim]

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    def dim(self) -> int:
        """The number of dimensions (``ndim``)."""
        return self._data.ndim

    @property
    def dtype(self) -> _dtype.dtype:
        """The element type (a ``fastgrad.dtype``, such as ``fastgrad.float32``)."""
        return _of_numpy(self._data.dtype)

    def numel(self) -> int:
        """The number of elements (the product of the shape)."""
        return self._data.size

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    @property
    def is_leaf(self) -> bool:
        """True for a tensor no recorded op made (``grad_fn`` is None): backward fills its ``.grad``."""
        return self.grad_fn is None

    def is_floating_point(self) -> bool:
        """True for float16, bfloat16, float32 and float64 tensors."""
        return self._data.dtype in _FLOATS

    def is_contiguous(self) -> bool:
        """True when the elements are laid out in row-major (C) order without gaps."""
        return self._data.flags.c_contiguous

    @property
    def device(self) -> _device.device:
        """The device holding the data: always the CPU."""
        return _device.CPU

    is_cuda = False
    is_mps = False
    is_cpu = True
    is_xpu = False
    is_meta = False
    is_xla = False
    is_ipu = False
    is_hpu = False
    is_mtia = False
    is_maia = False
    is_vulkan = False
    is_sparse = False
    is_sparse_csr = False
    is_quantized = False
    is_nested = False
    is_mkldnn = False

    def share_memory_(self) -> Tensor:
        """Not supported: fastgrad tensors cannot live in memory shared between processes;
        raises NotImplementedError."""
        raise NotImplementedError("share_memory_: fastgrad cannot share tensors between processes")

    def is_shared(self) -> bool:
        """False: fastgrad tensors are never in memory shared between processes."""
        return False

    def cpu(self, memory_format: Any = None) -> Tensor:
        """This tensor (it is on the CPU already)."""
        return self

    def cuda(self, device: Any = None, non_blocking: bool = False, memory_format: Any = None) -> Tensor:
        """Raises: fastgrad has no CUDA device (the error names the requested device)."""
        dev = "cuda" if device is None else device if isinstance(device, (str, _device.device)) \
            else f"cuda:{device}"
        _device.check(dev, "cuda")

    def get_device(self) -> int:
        """-1: the tensor is on the CPU (PyTorch's convention)."""
        return -1

    @property
    def data(self) -> Tensor:
        """A tensor sharing this one's memory, with requires_grad=False, no grad_fn and
        a version counter of its own: changes made through it are not seen by autograd
        (as PyTorch's ``.data``).  Assigning a tensor replaces this one's storage (any
        shape and dtype; a tensor that requires grad keeps a floating dtype)."""
        return Tensor._make(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data: the assigned value must be a Tensor, got {type(value).__name__}")
        arr = value._data
        if self.requires_grad and arr.dtype.kind != "f":
            raise RuntimeError(f"data: a tensor that requires grad cannot take {arr.dtype} data; "
                               "only floating point tensors can require gradients")
        self._data = arr
        self._base = None
        self._vidx = None

    # ---- autograd ---------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (floating leaf tensors only); returns self."""
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("requires_grad_: you can only change requires_grad flags of leaf "
                               "tensors; use detach() to get a tensor that does not require grad")
        if requires_grad and self._data.dtype not in _FLOATS:
            raise RuntimeError(f"requires_grad_: only floating point tensors can require gradients "
                               f"(this tensor is {_of_numpy(self._data.dtype)})")
        self.requires_grad = bool(requires_grad)
        return self

    # ---- pickling and copying ----------------------------------------------------------
    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickles the data, the dtype and ``requires_grad``: never the graph (a non-leaf
        loads as a leaf) nor ``.grad``.  Views pickle only the elements they show."""
        state = getattr(self, "__dict__", None) or None      # attributes of subclasses
        return (_rebuild_tensor, (type(self), self._data, self.requires_grad, state))

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        """An independent copy of a leaf (data, ``requires_grad`` and ``.grad``).  A
        non-leaf that requires grad cannot be copied without its graph: detach it first."""
        if id(self) in memo:
            return memo[id(self)]
        if self.grad_fn is not None:
            raise RuntimeError("deepcopy: only leaf tensors (created by the user, not by an op that "
                               "records gradients) support deepcopy; use t.detach().clone()")
        import copy
        new = _rebuild_tensor(type(self), self._data.copy(), self.requires_grad,
                              copy.deepcopy(getattr(self, "__dict__", None) or None, memo))
        memo[id(self)] = new
        if self.grad is not None:
            new.grad = copy.deepcopy(self.grad, memo)
        return new

    def detach(self) -> Tensor:
        """A tensor sharing this one's data (and version counter), cut from the graph."""
        t = Tensor._make(self._data)
        t._version = self._version
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place (it becomes a leaf that does not require grad); returns self."""
        self.grad_fn = None
        self.requires_grad = False
        return self

    def backward(self, gradient: Optional[Tensor] = None, retain_graph: Optional[bool] = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Accumulate the gradient of this tensor into the ``.grad`` of the leaves it depends on.

        ``gradient``: d(loss)/d(self), needed unless self has one element.
        ``retain_graph``: keep the graph for another backward (default: ``create_graph``).
        ``create_graph``: record the backward itself, for higher derivatives.
        ``inputs``: accumulate only into these leaves.  See ``fastgrad.autograd.backward``."""
        from fastgrad.autograd.engine import backward
        backward(self, None if gradient is None else (gradient,), retain_graph, create_graph,
                 inputs)

    def retain_grad(self) -> None:
        """Keep .grad for a non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: can't retain_grad on a tensor that does not require grad")
        if self.grad_fn is not None:
            import weakref
            self.grad_fn.retain = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        """True for a non-leaf tensor whose ``retain_grad()`` was called."""
        return self.grad_fn is not None and self.grad_fn.retain is not None

    def register_hook(self, hook: Callable[[Tensor], Optional[Tensor]]) -> Any:
        """hook(grad) -> new grad or None, called when the gradient for this tensor is
        computed.  Returns a handle with .remove()."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not "
                               "require gradients")
        if self.grad_fn is not None:
            if self.grad_fn.hooks is None:
                self.grad_fn.hooks = []
            hooks = self.grad_fn.hooks
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
            _leaf_hook_gen[0] += 1
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> Any:
        """hook(tensor), called once this leaf's .grad holds its whole gradient of a
        backward() call.  See fastgrad.autograd.register_post_accumulate_grad_hook."""
        from fastgrad.autograd.engine import register_post_accumulate_grad_hook
        return register_post_accumulate_grad_hook(self, hook)

    # ---- conversion -------------------------------------------------------------------
    def numpy(self, force: bool = False) -> np.ndarray:
        """The data as a NumPy array sharing this tensor's memory.  A tensor that requires
        grad raises unless ``force`` (then it is the same memory, without the graph)."""
        if _trace.active is not None:
            _trace.active.conversion("numpy")
        if self.requires_grad and not force:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad; use "
                               "tensor.detach().numpy() instead")
        return self._data

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        if _trace.active is not None:
            _trace.active.conversion("__array__")
        if self.requires_grad:
            raise RuntimeError("__array__: can't convert a tensor that requires grad to a NumPy "
                               "array; use tensor.detach().numpy() instead")
        if dtype is not None and dtype != self._data.dtype:
            return self._data.astype(dtype)
        return self._data.copy() if copy else self._data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number (float, int or bool)."""
        if _trace.active is not None:
            _trace.active.conversion("item")
        if self._data.size != 1:
            raise ShapeError(f"item: only one-element tensors can be converted to Python scalars "
                             f"(this one has {self._data.size} elements)")
        return self._data.reshape(()).item()

    def tolist(self) -> Any:
        """The data as nested Python lists of numbers (a number for a 0-d tensor)."""
        if _trace.active is not None:
            _trace.active.conversion("tolist")
        return self._data.tolist()

    def __float__(self) -> float:
        if _trace.active is not None:
            _trace.active.conversion("float")
        return float(self._data.reshape(()).item()) if self._data.size == 1 else float(self.item())

    def __int__(self) -> int:
        if _trace.active is not None:
            _trace.active.conversion("int")
        return int(self._data.reshape(()).item()) if self._data.size == 1 else int(self.item())

    def __bool__(self) -> bool:
        if _trace.active is not None:
            _trace.active.conversion("bool")
        if self._data.size != 1:
            raise RuntimeError(f"bool: a tensor with {self._data.size} elements is ambiguous")
        return bool(self._data.reshape(()).item())

    def __index__(self) -> int:
        if _trace.active is not None:
            _trace.active.conversion("__index__")
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._data.reshape(()).item())

    def __repr__(self) -> str:
        if self._data.size:
            body = np.array2string(self._data, separator=", ", precision=4, prefix="tensor(",
                                   threshold=1000, edgeitems=3)
        else:
            body = f"[], size={tuple(self._data.shape)}"
        extra = []
        if self._data.dtype != _default[0] and self._data.dtype != int64 and self._data.dtype != bool_:
            extra.append(f"dtype={_of_numpy(self._data.dtype)}")
        elif self._data.dtype == bool_ and not self._data.size:
            extra.append("dtype=fastgrad.bool")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{self.grad_fn.name.capitalize()}Backward>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))


_new = object.__new__


def _rebuild_tensor(cls, arr, requires_grad, state=None):
    """Unpickling: a leaf tensor of class ``cls`` over ``arr``."""
    if not isinstance(arr, np.ndarray) or arr.dtype not in SUPPORTED:
        raise TypeError(f"unpickling a Tensor: expected an array of a tensor dtype, got "
                        f"{type(arr).__name__} {getattr(arr, 'dtype', '')}")
    t = Tensor._make(arr)
    if cls is not Tensor:
        t2 = _new(cls)
        for k in Tensor.__slots__:
            if k != "__weakref__":
                setattr(t2, k, getattr(t, k))
        t = t2
    if state:
        t.__dict__.update(state)
    if requires_grad:
        t.requires_grad_(True)
    return t


class _HookHandle:
    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)
            _leaf_hook_gen[0] += 1


def _as_array(data, dtype, who):
    """An ndarray of a supported dtype for `data` (a copy, as torch.tensor makes)."""
    if isinstance(data, Tensor):
        data = data._data
    try:
        if dtype is not None:
            return np.array(data, dtype=canonical_dtype(dtype, who))
        arr = np.array(data)
    except (ValueError, OverflowError) as e:
        raise ArgumentError(f"{who}: cannot make a tensor from this data: {e}") from None
    if arr.dtype == object:
        raise TypeError(f"{who}: could not infer a numeric dtype from {type(data).__name__}")
    if not isinstance(data, np.ndarray) and arr.dtype.kind == "f" and not isinstance(data, np.generic):
        return arr.astype(_default[0])           # Python floats -> the default dtype
    dt = canonical_dtype(arr.dtype, who)
    return arr if dt == arr.dtype else arr.astype(dt)


def tensor(data: _Data, dtype: Optional[_DType] = None, requires_grad: bool = False, device: Any = None,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, scalars, arrays, tensors)."""
    if device is not None:
        _device.check(device, "tensor")
    t = Tensor._make(_as_array(data, dtype, "tensor"))
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data: _Data, dtype: Optional[_DType] = None, device: Any = None) -> Tensor:
    """Like tensor(), but without a copy when `data` already is a suitable array/tensor."""
    if device is not None:
        _device.check(device, "as_tensor")
    if isinstance(data, Tensor) and (dtype is None or canonical_dtype(dtype, "as_tensor") == data.dtype):
        return data
    if isinstance(data, np.ndarray) and data.dtype in SUPPORTED and (
            dtype is None or canonical_dtype(dtype, "as_tensor") == data.dtype):
        return Tensor._make(data)
    return tensor(data, dtype)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing memory with the NumPy array `arr` (zero-copy)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(arr).__name__}")
    if arr.dtype not in SUPPORTED:
        raise TypeError(f"from_numpy: unsupported dtype {arr.dtype}; fastgrad shares memory only with "
                        "arrays of " + ", ".join(_of_numpy(d)._name for d in SUPPORTED)
                        + " (use fastgrad.tensor to convert)")
    return Tensor._make(arr)
