"""Module: the base class of layers and models.

Assigning a Parameter, a Module or a Buffer to an attribute registers it.  Registered
objects are kept in ``_parameters`` / ``_buffers`` / ``_modules`` (ordered, for
``state_dict`` and iteration) *and* in the instance ``__dict__``, so reading
``self.weight`` in ``forward`` is a plain attribute lookup: no ``__getattr__`` detour on
the per-step path.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, TypeVar
from collections import OrderedDict

import numpy as np

from fastgrad import _device, _dtype
from fastgrad._hooks import hooks
from fastgrad._state import module_gen as _MODULE_GEN
from fastgrad._tensor import Tensor, canonical_dtype
from fastgrad.autograd.grad_mode import no_grad
from fastgrad.nn.parameter import Buffer, Parameter
from fastgrad.ops._record import _is_dtype_name

if TYPE_CHECKING:
    from collections.abc import Iterator

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

_M = TypeVar("_M", bound="Module")
_Fwd = TypeVar("_Fwd", bound=Callable[..., Any], covariant=True)


class _HasForward(Protocol[_Fwd]):
    @property
    def forward(self) -> _Fwd: ...


class _CallsForward:
    """For type checkers: ``module(...)`` has the type of the module's ``forward``."""
    def __get__(self, instance: _HasForward[_Fwd], owner: Any) -> _Fwd: ...

_setattr = object.__setattr__
# bumped whenever any forward hook is added or removed: containers that cache a fused
# execution plan compare it instead of rescanning their children on every call
HOOK_GEN = [0]


def _addindent(s, n):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + ln for ln in lines[1:])


class Module:
    """Base class for all network building blocks.  Subclasses call ``super().__init__()``
    first, then assign their parameters, buffers and submodules, and define
    ``forward``."""
    training: bool
    _parameters: OrderedDict[str, Optional[Parameter]]
    _buffers: OrderedDict[str, Optional[Tensor]]
    _non_persistent: set[str]
    _modules: OrderedDict[str, Optional[Module]]
    _forward_pre_hooks: OrderedDict[int, Callable[..., Any]]
    _forward_hooks: OrderedDict[int, Callable[..., Any]]
    _hook_id: int

    def __init__(self) -> None:
        _setattr(self, "training", True)
        _setattr(self, "_parameters", OrderedDict())
        _setattr(self, "_buffers", OrderedDict())
        _setattr(self, "_non_persistent", set())
        _setattr(self, "_modules", OrderedDict())
        _setattr(self, "_forward_pre_hooks", OrderedDict())
        _setattr(self, "_forward_hooks", OrderedDict())
        _setattr(self, "_hook_id", 0)

    # ---- registration --------------------------------------------------------------------
    def _check_init(self, what):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call "
                                 f"(call super().__init__() first in {type(self).__name__})")

    def __setattr__(self, name, value):
        _MODULE_GEN[0] += 1         # structure generation (fastgrad._state.module_gen)
        d = self.__dict__
        if isinstance(value, Parameter):
            self._check_init("parameters")
            self._discard(name, "_parameters")
            d["_parameters"][name] = value
        elif isinstance(value, Module):
            self._check_init("submodules")
            self._discard(name, "_modules")
            d["_modules"][name] = value
        elif isinstance(value, Buffer):
            self._check_init("buffers")
            self._discard(name, "_buffers")
            d["_buffers"][name] = value.tensor
            if not value.persistent:
                d["_non_persistent"].add(name)
            value = value.tensor
        elif "_parameters" in d and name in d["_parameters"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} of "
                                f"{type(self).__name__} (fastgrad.nn.Parameter or None expected)")
            d["_parameters"][name] = None
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                                f"of {type(self).__name__} (Module or None expected)")
            d["_modules"][name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} of "
                                f"{type(self).__name__} (Tensor or None expected)")
            d["_buffers"][name] = value
        _setattr(self, name, value)

    def _discard(self, name, keep=None):
        """Unregister name from every registry but `keep` (which the caller assigns in
        place, so a replaced entry keeps its position, as in torch)."""
        _MODULE_GEN[0] += 1
        d = self.__dict__
        for reg in ("_parameters", "_modules", "_buffers"):
            if reg != keep:
                d[reg].pop(name, None)
        d["_non_persistent"].discard(name)

    def __delattr__(self, name):
        _MODULE_GEN[0] += 1
        if "_parameters" in self.__dict__ and name in self.__dict__:
            self._discard(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        """Register ``param`` (or None, a placeholder) as the parameter ``name``."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_parameter: invalid parameter name {name!r}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got "
                            f"{type(param).__name__}")
        self._check_init("parameters")
        self._discard(name, "_parameters")
        self._parameters[name] = param
        _setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Optional[Tensor], persistent: bool = True) -> None:
        """Register ``tensor`` as the buffer ``name``: state that is not a parameter (running
        statistics); ``persistent=False`` leaves it out of ``state_dict``."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: invalid buffer name {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got "
                            f"{type(tensor).__name__}")
        self._check_init("buffers")
        self._discard(name, "_buffers")
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)
        _setattr(self, name, tensor)

    def add_module(self, name: str, module: Optional[Module]) -> None:
        """Register ``module`` as the submodule ``name`` (as assigning the attribute does)."""
        if not isinstance(name, str) or "." in name or name == "":
            raise KeyError(f"add_module: invalid module name {name!r}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None, got {type(module).__name__}")
        self._check_init("submodules")
        self._discard(name, "_modules")
        self._modules[name] = module
        _setattr(self, name, module)

    def register_module(self, name: str, module: Optional[Module]) -> None:
        """The same as ``add_module``."""
        return self.add_module(name, module)       # dispatches to subclasses' add_module

    def get_submodule(self, target: str) -> Module:
        """The submodule at the dotted path ``target`` ("" is this module)."""
        m = self
        if target == "":
            return m
        for part in target.split("."):
            if part not in m._modules or m._modules[part] is None:
                raise AttributeError(f"{type(m).__name__} has no submodule {part!r} (in {target!r})")
            m = m._modules[part]
        return m

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at the dotted path ``target`` ("layer.weight")."""
        mod, _, name = target.rpartition(".")
        m = self.get_submodule(mod)
        if name not in m._parameters:
            raise AttributeError(f"{type(m).__name__} has no parameter {name!r}")
        return m._parameters[name]

    # ---- calling -------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation of the module; subclasses define it.  Call the module itself
        (``module(x)``) rather than ``forward``, so that the forward hooks run."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    if TYPE_CHECKING:
        __call__ = _CallsForward()

    def __call__(self, *args, **kwargs):  # type: ignore[no-redef]
        if hooks.module_call is not None:
            hooks.module_call(self)
        if self._forward_pre_hooks or self._forward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args, kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            r = hook(self, args, out)
            if r is not None:
                out = r
        return out

    def _add_hook(self, table, hook):
        hid = self._hook_id
        _setattr(self, "_hook_id", hid + 1)
        table[hid] = hook
        HOOK_GEN[0] += 1
        return _RemovableHandle(table, hid)

    def register_forward_pre_hook(self, hook: Callable[..., Any]) -> Any:
        """hook(module, args) -> None or new args; runs before forward."""
        return self._add_hook(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook: Callable[..., Any]) -> Any:
        """hook(module, args, output) -> None or a new output; runs after forward."""
        return self._add_hook(self._forward_hooks, hook)

    # ---- traversal -----------------------------------------------------------------------
    def named_modules(self, memo: Optional[set[Any]] = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every submodule, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every submodule, depth first."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) of the direct submodules."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        """The direct submodules."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, table, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for mp, m in mods:
            for name, v in getattr(m, table).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield mp + ("." if mp else "") + name, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) of this module's parameters and, with ``recurse``, its
        submodules'; a parameter shared by several modules comes once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters (what an optimizer takes), each once."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) of this module's buffers and its submodules'."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers (running statistics and other non-parameter state)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ---- modes and bulk changes ----------------------------------------------------------
    def train(self: _M, mode: bool = True) -> _M:
        """Set training mode (dropout active, batch norm updating its statistics) on this
        module and its submodules; ``mode=False`` is ``eval()``.  Returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be a bool, got {mode!r}")
        _MODULE_GEN[0] += 1
        for m in self.modules():
            _setattr(m, "training", mode)
        return self

    def eval(self: _M) -> _M:
        """Set evaluation mode (``train(False)``).  Returns self."""
        return self.train(False)

    def requires_grad_(self: _M, requires_grad: bool = True) -> _M:
        """Set ``requires_grad`` on every parameter (False freezes them).  Returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the parameters' ``.grad``: None (default), or zeros in place."""
        if hooks.zero_grad is not None:
            hooks.zero_grad(list(self.parameters()), set_to_none)
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                if p.grad.grad_fn is not None:
                    p.grad = p.grad.detach()
                p.grad._data[...] = 0

    def apply(self: _M, fn: Callable[[Module], Any]) -> _M:
        """Call ``fn(m)`` on every submodule (children first) and on this module; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self: _M, *args: Any, **kwargs: Any) -> _M:
        """to(device), to(dtype), to(device, dtype), to(tensor) or to(device=..., dtype=...),
        as PyTorch's.  Casts floating-point parameters and buffers to a float dtype in
        place of the module's tensors (the Parameter objects are kept, so optimizers built
        before the call keep working with them).  The device must be the CPU; any other
        raises a RuntimeError naming it."""
        unknown = set(kwargs) - {"device", "dtype", "non_blocking", "memory_format"}
        if unknown:
            raise TypeError(f"Module.to: unexpected keyword arguments {sorted(unknown)}")
        dev, dtype = kwargs.get("device"), kwargs.get("dtype")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a._data.dtype if dtype is None else dtype
            elif isinstance(a, _device.device) or (isinstance(a, int) and not isinstance(a, bool)):
                dev = a
            elif isinstance(a, str) and not _is_dtype_name(a):
                dev = a
            elif dtype is None and a is not None and not isinstance(a, bool):
                dtype = a
            else:
                raise TypeError(f"Module.to: unexpected argument {a!r}")
        if dev is not None:
            _device.check(dev, "Module.to")
        if dtype is None:
            return self
        dt = canonical_dtype(dtype, "Module.to")
        if dt not in _dtype.FLOAT_STORAGE:
            raise TypeError(f"Module.to: nn.Module.to only accepts floating point dtypes, got {dt}")
        return self._apply_dtype(dt)

    def _apply_dtype(self, dt):
        for m in self.modules():
            for t in list(m._parameters.values()) + list(m._buffers.values()):
                if t is None or t._data.dtype not in _dtype.FLOAT_STORAGE or t._data.dtype == dt:
                    continue
                t._data = t._data.astype(dt)
                t._version[0] += 1
                if t.grad is not None:
                    t.grad = Tensor._make(t.grad._data.astype(dt))
        return self

    def float(self: _M) -> _M:
        """Cast the floating parameters and buffers to float32; returns self."""
        return self._apply_dtype(np.dtype(np.float32))

    def double(self: _M) -> _M:
        """Cast the floating parameters and buffers to float64; returns self."""
        return self._apply_dtype(np.dtype(np.float64))

    def half(self: _M) -> _M:
        """Floating-point parameters and buffers to float16 (the layers compute in float32
        and round back)."""
        return self._apply_dtype(np.dtype(np.float16))

    def bfloat16(self: _M) -> _M:
        """Floating-point parameters and buffers to bfloat16 (needs the ml_dtypes package)."""
        return self._apply_dtype(canonical_dtype("bfloat16", "Module.bfloat16"))

    def cpu(self: _M) -> _M:
        """This module (it is on the CPU already)."""
        return self

    def cuda(self: _M, device: Any = None) -> _M:
        """Raises: fastgrad has no CUDA device."""
        _device.check("cuda" if device is None else device if isinstance(device, (str, _device.device))
                      else f"cuda:{device}", "Module.cuda")

    def share_memory(self: _M) -> _M:
        """Not supported: fastgrad tensors cannot live in memory shared between processes
        (Hogwild-style training with ``torch.multiprocessing``); raises NotImplementedError."""
        raise NotImplementedError(
            "Module.share_memory: fastgrad cannot share tensors between processes; train in one "
            "process (fastgrad's kernels use its own thread pool) or use DataLoader(num_workers=N) "
            "for parallel data loading")

    # ---- state dict ----------------------------------------------------------------------
    def state_dict(self, destination: Any = None, prefix: str = "", keep_vars: bool = False) -> dict[str, Tensor]:
        """Ordered mapping name -> Tensor of every parameter and persistent buffer.  The
        tensors share memory with the module (detached unless keep_vars)."""
        if destination is None:
            destination = OrderedDict()
        for mp, m in self.named_modules(prefix=prefix.rstrip(".")):
            base = mp + "." if mp else ""
            for name, p in m._parameters.items():
                if p is not None:
                    destination[base + name] = p if keep_vars else p.detach()
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    destination[base + name] = b if keep_vars else b.detach()
        return destination

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Copy tensors from `state_dict` into this module's parameters and buffers.
        With strict=True, missing or unexpected keys raise; a shape mismatch always
        raises.  Values are cast to each parameter's dtype.  Returns (missing_keys,
        unexpected_keys)."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a mapping, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected))
            if missing:
                errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
        converted = {}
        for k, t in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            arr = v._data if isinstance(v, Tensor) else v
            if not isinstance(arr, np.ndarray):
                try:
                    arr = np.asarray(arr)
                except Exception:  # noqa: BLE001 - whatever NumPy cannot convert is reported
                    errors.append(f'value for "{k}" is a {type(v).__name__}, not a tensor')
                    continue
                if arr.dtype == object:
                    errors.append(f'value for "{k}" is a {type(v).__name__}, not a tensor')
                    continue
            if arr.shape != t._data.shape:
                errors.append(f'size mismatch for {k}: copying a param with shape {tuple(arr.shape)} '
                              f'from checkpoint, the shape in current model is {tuple(t._data.shape)}')
                continue
            if t._data.dtype.kind == "f" and arr.dtype.kind not in "fiub":
                errors.append(f'dtype mismatch for {k}: cannot load {arr.dtype} into {t._data.dtype}')
                continue
            converted[k] = arr
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with no_grad():
            for k, arr in converted.items():
                t = own[k]
                if assign:
                    t._data = np.array(arr, dtype=t._data.dtype, copy=True)
                else:
                    np.copyto(t._data, arr, casting="unsafe")
                t._version[0] += 1
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing ------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The module's settings, shown inside the parentheses of its ``repr``."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            lines.append(f"({name}): " + _addindent(repr(m), 2))
        head = self._get_name() + "("
        if not lines:
            return head + ")"
        if len(lines) == 1 and not self._modules:
            return head + lines[0] + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(object.__dir__(self)))

    def __getstate__(self):
        # a compiled plan holds raw pointers into this process: it is rebuilt on first use
        d = self.__dict__.copy()
        d.pop("_plan", None)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)

    def __deepcopy__(self, memo):
        """An independent copy (parameters, buffers and submodules copied; shared ones
        stay shared within the copy), as copy.deepcopy(model) gives in PyTorch."""
        import copy
        new = object.__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            if k == "_plan":
                continue
            _setattr(new, k, copy.deepcopy(v, memo))
        return new


class _RemovableHandle:
    __slots__ = ("table", "key")

    def __init__(self, table, key) -> None:
        self.table, self.key = table, key

    def remove(self):
        self.table.pop(self.key, None)
        HOOK_GEN[0] += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _IncompatibleKeys(tuple):
    def __new__(cls, missing, unexpected):
        return super().__new__(cls, (missing, unexpected))

    @property
    def missing_keys(self):
        return self[0]

    @property
    def unexpected_keys(self):
        return self[1]

    def __repr__(self):
        if not self[0] and not self[1]:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self[0]}, unexpected_keys={self[1]})"
