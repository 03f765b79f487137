"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict."""
from __future__ import annotations

import operator
from collections import OrderedDict

from fastgrad._tensor import Tensor
from fastgrad.nn.module import HOOK_GEN, Module
from fastgrad.nn.parameter import Parameter


def _index(idx, n, who):
    i = operator.index(idx)
    if not -n <= i < n:
        raise IndexError(f"{who}: index {i} is out of range for {n} modules")
    return i + n if i < 0 else i


class _IndexedModules:
    """List-style editing shared by Sequential and ModuleList; children are kept under
    the keys "0", "1", ... and renumbered after a deletion or insertion, as PyTorch does."""

    def _reset(self, mods):
        for k in list(self._modules.keys()):
            delattr(self, k)
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def __delitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            del mods[idx]
        else:
            del mods[_index(idx, len(mods), type(self).__name__)]
        self._reset(mods)

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        """Add each of ``modules`` at the end; returns self."""
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        """Insert ``module`` before position ``index``."""
        mods = list(self._modules.values())
        n = len(mods)
        i = index + n if index < 0 else index
        if not 0 <= i <= n:
            raise IndexError(f"{type(self).__name__}.insert: index {index} is out of range for {n} modules")
        mods.insert(i, module)
        self._reset(mods)
        return self


class Sequential(_IndexedModules, Module):
    """Modules applied in order.  ``Sequential(a, b, c)`` or
    ``Sequential(OrderedDict([("fc", a), ...]))``.

    When a ``Linear`` is directly followed by ``ReLU``, ``Tanh`` or ``Sigmoid`` (and
    neither has hooks), the pair runs as one fused GEMM-with-epilogue call: same result,
    one kernel and one graph node fewer.  The plan is rebuilt whenever the container or
    a hook changes."""

    def __init__(self, *args) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for k, m in args[0].items():
                self.add_module(k, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def __setattr__(self, name, value):
        self.__dict__.pop("_plan", None)
        super().__setattr__(name, value)

    def add_module(self, name, module):
        self.__dict__.pop("_plan", None)
        super().add_module(name, module)

    def __delattr__(self, name):
        self.__dict__.pop("_plan", None)
        super().__delattr__(name)

    def _build_plan(self):
        from fastgrad.nn.layers import _FUSABLE_ACT, Linear
        mods = [m for m in self._modules.values() if m is not None]
        plan = []
        i = 0
        while i < len(mods):
            m = mods[i]
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if (type(m) is Linear and nxt is not None and type(nxt) in _FUSABLE_ACT
                    and "forward" not in m.__dict__ and "forward" not in nxt.__dict__
                    and not (m._forward_hooks or m._forward_pre_hooks or nxt._forward_hooks
                             or nxt._forward_pre_hooks)):
                plan.append((m, _FUSABLE_ACT[type(nxt)]))
                i += 2
            else:
                plan.append((m, None))
                i += 1
        # a hook added later on a child must disable its fusion: remember the hook generation
        self.__dict__["_plan"] = (plan, HOOK_GEN[0])
        return self.__dict__["_plan"]

    def forward(self, x):
        p = self.__dict__.get("_plan")
        if p is None or p[1] != HOOK_GEN[0]:
            p = self._build_plan()
        for m, act in p[0]:
            x = m(x) if act is None else m._fused(x, act)
        return x

    def __len__(self):
        return sum(1 for m in self._modules.values())

    def __iter__(self):
        return iter(list(self._modules.values()))

    def __getitem__(self, idx):
        keys = list(self._modules.keys())
        if isinstance(idx, slice):
            return Sequential(OrderedDict((k, self._modules[k]) for k in keys[idx]))
        return self._modules[keys[_index(idx, len(keys), "Sequential")]]

    def __setitem__(self, idx, module):
        keys = list(self._modules.keys())
        self.add_module(keys[_index(idx, len(keys), "Sequential")], module)


class ModuleList(_IndexedModules, Module):
    """A list of modules, registered so their parameters are seen by the parent."""

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[_index(idx, len(mods), "ModuleList")]

    def __setitem__(self, idx, module):
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(); iterate over it in your module's forward")


class ModuleDict(Module):
    """An ordered dict of modules, registered under their keys."""

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no key {key!r}")
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no key {key!r}")
        delattr(self, key)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.keys()))

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        """The keys, in insertion order."""
        return self._modules.keys()

    def values(self):
        """The modules, in insertion order."""
        return self._modules.values()

    def items(self):
        """(key, module) pairs, in insertion order."""
        return self._modules.items()

    def pop(self, key):
        """Remove the module at ``key`` and return it."""
        m = self[key]
        del self[key]
        return m

    def clear(self):
        """Remove every module."""
        for k in list(self._modules.keys()):
            delattr(self, k)

    def update(self, modules):
        """Add or replace modules from a mapping or an iterable of (key, module) pairs."""
        items = modules.items() if hasattr(modules, "items") else modules
        for k, m in items:
            self[k] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(); index it in your module's forward")


def _as_param(value):
    """A Tensor that is not a Parameter becomes one (sharing its memory), as PyTorch's
    parameter containers do; other values are kept as they are."""
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


class ParameterList(Module):
    """A list of parameters registered under the keys "0", "1", ... (state_dict keys
    "<name>.0", ...); Tensors become Parameters, other values are held unregistered."""

    def __init__(self, values=None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _key(self, idx):
        i = _index(idx, self._size, "ParameterList")
        return str(i)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            out = ParameterList()
            for i in range(self._size)[idx]:
                out.append(self[i])
            return out
        return getattr(self, self._key(idx))

    def __setitem__(self, idx, param):
        setattr(self, self._key(idx), _as_param(param))

    def __len__(self):
        return self._size

    def __iter__(self):
        return iter(self[i] for i in range(self._size))

    def __iadd__(self, parameters):
        return self.extend(parameters)

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]

    def append(self, value):
        """Add ``value`` (a Parameter, or a tensor made one) at the end; returns self."""
        new_idx = self._size
        self._size += 1
        setattr(self, str(new_idx), _as_param(value))
        return self

    def extend(self, values):
        """Add each of ``values`` at the end; returns self."""
        if isinstance(values, Tensor) or not hasattr(values, "__iter__"):
            raise TypeError("ParameterList.extend should be called with an iterable, but got "
                            + type(values).__name__)
        for v in values:
            self.append(v)
        return self

    def extra_repr(self):
        lines = []
        for i in range(self._size):
            p = self[i]
            if isinstance(p, Tensor):
                lines.append(f"  ({i}): Parameter containing: [{p.dtype} of size "
                             f"{'x'.join(str(n) for n in p.shape)}]")
            else:
                lines.append(f"  ({i}): Object of type: {type(p).__name__}")
        return "\n".join(lines)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """An ordered dict of parameters registered under their (string) keys; Tensors
    become Parameters, other values are held unregistered."""

    def __init__(self, parameters=None) -> None:
        super().__init__()
        self._keys = {}
        if parameters is not None:
            self.update(parameters)

    def _check_key(self, key):
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict keys must be strings, got {type(key).__name__}")

    def __getitem__(self, key):
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key, value):
        self._check_key(key)
        self._keys[key] = None
        setattr(self, key, _as_param(value))

    def __delitem__(self, key):
        if key not in self._keys:
            raise KeyError(key)
        del self._keys[key]
        delattr(self, key)

    def __len__(self):
        return len(self._keys)

    def __iter__(self):
        return iter(list(self._keys))

    def __reversed__(self):
        return reversed(list(self._keys))

    def __contains__(self, key):
        return key in self._keys

    def copy(self):
        """A new ParameterDict with the same parameters."""
        return ParameterDict({k: self[k] for k in self._keys})

    def setdefault(self, key, default=None):
        """The parameter at ``key``; if absent, set it to ``default`` first."""
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self):
        """Remove every parameter."""
        for k in list(self._keys):
            del self[k]

    def pop(self, key):
        """Remove the parameter at ``key`` and return it."""
        v = self[key]
        del self[key]
        return v

    def popitem(self):
        """Remove and return the last inserted (key, parameter) pair."""
        if not self._keys:
            raise KeyError("popitem(): dictionary is empty")
        k = list(self._keys)[-1]
        v = self[k]
        del self[k]
        return k, v

    def get(self, key, default=None):
        """The parameter at ``key``, or ``default``."""
        return self[key] if key in self else default

    def fromkeys(self, keys, default=None):
        """A new ParameterDict with each of ``keys`` set to ``default``."""
        return ParameterDict((k, default) for k in keys)

    def keys(self):
        """The keys, in insertion order."""
        return self._keys.keys()

    def items(self):
        """(key, parameter) pairs, in insertion order."""
        return [(k, self[k]) for k in self._keys]

    def values(self):
        """The parameters, in insertion order."""
        return [self[k] for k in self._keys]

    def update(self, parameters):
        """Add or replace parameters from a mapping or an iterable of (key, value) pairs."""
        if isinstance(parameters, (dict, ParameterDict)) or hasattr(parameters, "keys"):
            for k in parameters.keys():
                self[k] = parameters[k]
            return
        if isinstance(parameters, Tensor) or not hasattr(parameters, "__iter__"):
            raise TypeError("ParameterDict.update should be called with an iterable of key/value "
                            "pairs, but got " + type(parameters).__name__)
        for j, pair in enumerate(parameters):
            if not hasattr(pair, "__len__") or len(pair) != 2:
                raise ValueError(f"ParameterDict update sequence element #{j} should be a "
                                 "key/value pair")
            self[pair[0]] = pair[1]

    def __or__(self, other):
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other):
        out = ParameterDict(other)
        out.update(self)
        return out

    def __ior__(self, other):
        self.update(other)
        return self

    def extra_repr(self):
        lines = []
        for k in self._keys:
            p = self[k]
            if isinstance(p, Tensor):
                lines.append(f"  ({k}): Parameter containing: [{p.dtype} of size "
                             f"{'x'.join(str(n) for n in p.shape)}]")
            else:
                lines.append(f"  ({k}): Object of type: {type(p).__name__}")
        return "\n".join(lines)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterDict should not be called.")
