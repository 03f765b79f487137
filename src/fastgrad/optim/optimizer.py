"""The Optimizer base class: parameter groups, state, state_dict, and the fused step.

Each concrete optimizer names a C kernel (``_alg``) and its state slots; ``step()`` runs
one multi-tensor C call per parameter group and dtype (``fastgrad._C._kernels.OptimPlan``),
so a step over a whole model is a handful of Python lines and one pass over memory.
The plan (pointer arrays) is cached per group and rebuilt only when the parameters, the
state or the state layout change.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Optional, TypeVar, overload
from collections import defaultdict

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad._C import _kernels as _ck
from fastgrad.autograd.grad_mode import enable_grad
from fastgrad._hooks import hooks
from fastgrad._state import grad_mode

_T = TypeVar("_T")

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    def __getstate__(self):
        # the cached plans hold raw pointers: rebuilt after unpickling / deepcopy
        d = self.__dict__.copy()
        d["_plans"] = [None] * len(self.param_groups)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _number(x):
    """float(x) for Python numbers, 0-d/1-element tensors and arrays"""
    if isinstance(x, Tensor):
        return float(x._data.reshape(-1)[0]) if x._data.size == 1 else x
    return x


def check_range(what, value, lo=0.0, hi=None, lo_open=False, hi_open=True):
    """Raise ValueError("Invalid <what>: <value>") unless lo <= value (< hi), finite."""
    try:
        v = float(_number(value))
    except (TypeError, ValueError):
        raise ValueError(f"Invalid {what}: {value!r}") from None
    ok = math.isfinite(v) and (v > lo if lo_open else v >= lo)
    if ok and hi is not None:
        ok = v < hi if hi_open else v <= hi
    if not ok:
        raise ValueError(f"Invalid {what}: {value}")
    return v


class Optimizer:
    """Base class of fastgrad's optimizers (PyTorch's torch.optim.Optimizer interface).

    params: an iterable of Tensors, or of dicts defining parameter groups (each with a
    'params' entry and optional per-group hyperparameters overriding ``defaults``)."""

    _alg = None          # C kernel: "sgd", "adam", "rmsprop", "adagrad"
    _step_key = "step"   # state entry holding the step count ('' if none)

    def __init__(self, params, defaults) -> None:
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._plans = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + type(params).__name__)
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for g in param_groups:
            self.add_param_group(g)

    # ---- groups ----------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group: a dict with "params" and any hyperparameters, the others
        taken from the optimizer's defaults (e.g. to train new layers with their own
        learning rate)."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}.add_param_group: the group has no 'params' entry")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but "
                            "the ordering of tensors in sets will change between runs. Please use a "
                            "list instead.")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + type(p).__name__)
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if p._data.dtype.kind != "f":
                raise TypeError(f"{name}: can only optimize float32/float64 tensors, but one of "
                                f"the params is {p._data.dtype}")
        group = dict(param_group)
        group["params"] = params
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError("parameter group didn't specify a value of required optimization "
                                 "parameter " + key)
            group.setdefault(key, default)
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error; ", stacklevel=3)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self._validate_group(group)
        self.param_groups.append(group)
        self._plans.append(None)

    def _validate_group(self, group):
        pass

    # ---- gradients -------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the parameters' ``.grad``: None (default), or zeros in place."""
        if hooks.zero_grad is not None:
            hooks.zero_grad([p for g in self.param_groups for p in g["params"]], set_to_none)
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g._data[...] = 0
                    g._version[0] += 1

    # ---- state_dict ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{'state': {index: {name: value}}, 'param_groups': [{..., 'params': [index]}]},
        indices numbering the parameters in group order.  Values are references to the
        live state (copy them if you keep them across steps)."""
        mappings = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                if id(p) not in mappings:
                    mappings[id(p)] = i
            packed["params"] = [mappings[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {mappings[id(p)]: v for p, v in self.state.items()
                 if isinstance(p, Tensor) and id(p) in mappings and v}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the hyperparameters and per-parameter state (momentum buffers, ...) from
        ``state_dict()``; the parameter groups must match in number and sizes."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             "'param_groups' entries")
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)} saved, {len(groups)} in the optimizer)")
        for i, (g, sg) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match "
                                 f"the size of optimizer's group (group {i}: {len(sg['params'])} "
                                 f"saved parameters, {len(g['params'])} in the optimizer)")
        id_map = {}
        for g, sg in zip(groups, saved_groups):
            for idx, p in zip(sg["params"], g["params"]):
                id_map[idx] = p
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k not in id_map:
                raise ValueError(f"{name}.load_state_dict: state for parameter index {k!r}, "
                                 "which no parameter group lists")
            p = id_map[k]
            state[p] = {key: self._load_value(p, key, val) for key, val in v.items()}
        new_groups = []
        for g, sg in zip(groups, saved_groups):
            ng = {k: v for k, v in sg.items() if k != "params"}
            ng["params"] = g["params"]
            new_groups.append(ng)
        self.state = state
        self.param_groups[:] = new_groups
        self._plans = [None] * len(new_groups)

    def _load_value(self, p, key, val):
        if isinstance(val, (Tensor, np.ndarray)) or hasattr(val, "__array__"):
            arr = val._data if isinstance(val, Tensor) else np.asarray(val)
            if key == self._step_key and self._step_key:
                if arr.size != 1:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: state {key!r} must "
                                     f"hold one number, got shape {arr.shape}")
                return Tensor._make(np.array(arr.reshape(()), dtype=np.float64))
            if arr.dtype.kind == "f":
                if arr.shape != p._data.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: state {key!r} has "
                                     f"shape {tuple(arr.shape)} but its parameter has shape "
                                     f"{tuple(p._data.shape)}")
                return Tensor._make(np.array(arr, dtype=p._data.dtype, order="C"))
            return Tensor._make(np.array(arr))
        if isinstance(val, (int, float)) and key == self._step_key and self._step_key:
            return Tensor._make(np.array(float(val), dtype=np.float64))
        return val

    # ---- the step --------------------------------------------------------------------
    def _layout(self, group):
        """state slot names in the kernel's order ('' for a slot this group does not use)"""
        raise NotImplementedError

    def _init_state(self, p, group, st, layout):
        """fill missing entries of st (the state dict of p) for this layout"""
        for key in layout:
            if key and st.get(key) is None:
                st[key] = Tensor._make(np.zeros(p._data.shape, dtype=p._data.dtype))
        if self._step_key and st.get(self._step_key) is None:
            st[self._step_key] = Tensor._make(np.zeros((), dtype=np.float64))

    def _args(self, group):
        raise NotImplementedError

    def _build_plans(self, gi, group, layout):
        name = type(self).__name__
        per_dtype = {}
        for p in group["params"]:
            st = self.state.get(p)
            fresh = False
            complete = st is not None and all(not k or st.get(k) is not None for k in layout) and (
                not self._step_key or st.get(self._step_key) is not None)
            if not complete and p.grad is not None:
                if st is None:
                    st = self.state[p]
                fresh = not any(k and st.get(k) is not None for k in layout)
                self._init_state(p, group, st, layout)
                complete = True
            entry = per_dtype.setdefault(p._data.dtype, ([], [], []))
            entry[0].append(p)
            entry[1].append(st if complete else None)
            entry[2].append(fresh)
        plans = [_ck.OptimPlan(name, _ck.OPT_ALGS[self._alg], ps, sts, list(layout),
                               self._step_key, fr)
                 for ps, sts, fr in per_dtype.values()]
        self._plans[gi] = (layout, group["params"], len(group["params"]), plans)
        return plans

    @overload
    def step(self, closure: None = None) -> None: ...
    @overload
    def step(self, closure: Callable[[], _T]) -> _T: ...

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """One update of every parameter with a gradient; returns closure()'s loss."""
        after = None if hooks.optim_step is None else hooks.optim_step(self, closure)
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        prev = grad_mode.enabled
        grad_mode.enabled = False
        try:
            self._update_all()
        finally:
            grad_mode.enabled = prev
        if after is not None:
            after()
        return loss

    def _update_all(self):
        """Update every parameter of every group (gradient mode is off): one fused C call
        per group and dtype, through plans cached until the group's layout changes."""
        for gi, group in enumerate(self.param_groups):
            layout = self._layout(group)
            entry = self._plans[gi]
            if (entry is None or entry[0] != layout or entry[1] is not group["params"]
                    or entry[2] != len(group["params"])
                    or not all(pl.valid() for pl in entry[3])):
                plans = self._build_plans(gi, group, layout)
            else:
                plans = entry[3]
            args = self._args(group)
            for pl in plans:
                pl.step(*args)

    def __getstate__(self):
        # the cached plans hold raw pointers: rebuilt after unpickling / deepcopy
        d = self.__dict__.copy()
        d["_plans"] = [None] * len(self.param_groups)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)
