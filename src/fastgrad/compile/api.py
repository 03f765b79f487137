"""The public side of fastgrad.compile: ``compile()``, the ``CompiledFunction`` it
returns (signatures, the plan cache, tracing, the second-call check, replays, eager
fallback) and ``CompileError``.  See the package docstring for the semantics."""
from __future__ import annotations

import collections
import threading
import types
import warnings
import weakref

from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor
from fastgrad.compile._common import (_RETRACE, CompileError, _call_eager, _ptr, _root,
                                      _Unsupported)
from fastgrad.compile.guards import failing as _failing
from fastgrad.compile.plan import _EagerVariant, _flatten, _Plan, _rebuild
from fastgrad.compile import tracing as _tracing_mod
from fastgrad.compile.tracing import _existing_arrays, _Tracer, _tracing

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["compile", "CompileError", "CompiledFunction"]


def _key_of(v):
    if isinstance(v, Tensor):
        d = v._data
        return ("T", d.shape, d.dtype.str, v.requires_grad, d.flags.c_contiguous)
    if v is None or isinstance(v, (bool, int, float, str)):
        return ("V", type(v), v)
    if isinstance(v, (tuple, list)):
        return ("L", type(v), tuple(_key_of(x) for x in v))
    return ("O", id(v))


_INSTANCES = weakref.WeakSet()


def _new_locks():
    """After fork, in the child: every compiled function gets a fresh lock (a lock another
    thread held at fork time would never be released there)."""
    for f in list(_INSTANCES):
        f._lock = threading.Lock()


_tracing_mod._FORK_HOOKS.append(_new_locks)


class CompiledFunction:
    """The callable fastgrad.compile returns (see the module docstring)."""

    def __init__(self, fn, fallback=None, max_plans=8, warn_after=4):
        if fallback not in (None, "eager", "error"):
            raise ValueError(f"compile: fallback must be None/'error' or 'eager', got {fallback!r}")
        self.fn = fn
        self.fallback = fallback
        self.max_plans = int(max_plans)
        self.warn_after = warn_after
        self.traces = 0
        self.replays = 0
        self.eager_calls = 0
        self._plans = collections.OrderedDict()
        self._warned = False
        self._eager_warned = False
        self._missed = None                # the plan whose guard failed at this call
        self._lock = threading.Lock()      # a plan's arena serves one call at a time
        _INSTANCES.add(self)
        self.__name__ = getattr(fn, "__name__", "compiled")
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    def __get__(self, obj, objtype=None):
        """Used as a method decorator: bind like a function (the instance becomes the
        first argument, part of the signature)."""
        return self if obj is None else types.MethodType(self, obj)

    def __call__(self, *args, **kwargs):
        if backend.name != "c":
            self.eager_calls += 1
            return _call_eager(self.fn, args, kwargs)
        key = (tuple(_key_of(a) for a in args),
               tuple(sorted((k, _key_of(v)) for k, v in kwargs.items())), grad_mode.enabled)
        entry = self._plans.get(key)
        self._missed = None
        if entry is not None:
            eager = False
            with self._lock:
                for plan in entry:          # variants of one signature (training modes, ...)
                    if type(plan) is _EagerVariant:
                        if plan.matches():
                            eager = True
                            break
                        continue
                    if not plan.verified:
                        ok, r, bad = plan.verify(self.fn, args, kwargs)
                        if not ok:
                            self._reject(key, plan, bad)
                            return r
                    else:
                        r = plan.replay(args)
                    if r is not _RETRACE:
                        self.replays += 1
                        return r
                    self._missed = plan
            if eager:
                self.eager_calls += 1
                return _call_eager(self.fn, args, kwargs)
        return self._trace(key, args, kwargs)

    def _trace(self, key, args, kwargs):
        name = self.__name__
        self.traces += 1
        if self.traces > self.warn_after and not self._warned:
            self._warned = True
            why = ""
            if self._missed is not None:
                why = f"; the last retrace was caused by the failed guard check `{_failing(self._missed.guard)}`"
            warnings.warn(f"compile({name}): traced {self.traces} times; the function is "
                          "being retraced (new shapes, dtypes, argument values, training "
                          "modes, replaced modules, parameters or optimizers, rebound "
                          f"globals at each call?){why}", RuntimeWarning, stacklevel=3)
        strict = self.fallback == "error"
        with _tracing_mod._LOCK:
            _tracing_mod._repair()
            tr = _Tracer(strict, name)
            arg_inputs = [(i, a) for i, a in enumerate(args) if isinstance(a, Tensor)]
            for i, a in arg_inputs:
                r = _root(a._data)
                if id(r) in tr.inputs:
                    tr.failure = "two tensor arguments share memory"
                tr.inputs[id(r)] = i
                if a._data is not r and a._data.flags.c_contiguous:
                    tr.input_arrays[id(r)] = a._data
            if any(isinstance(v, Tensor) for v in kwargs.values()):
                tr.failure = "tensors passed as keyword arguments (pass them positionally)"
            if tr.failure is not None and strict:
                raise CompileError(f"compile({name}): {tr.failure}")
            # arrays that existed before the call (parameters, optimizer state, tensors
            # captured from the enclosing scope), kept alive so their ids stay unique
            tr.fn = self.fn
            tr.pre, tr.owners, tr.reach = _existing_arrays(self.fn, args, kwargs)
            tr.entry_grads = {id(t): (t, t.grad) for ts in tr.owners.values() for t, _ in ts}
            with _tracing(tr):
                result = self.fn(*args, **kwargs)
            plan = None
            if tr.failure is None:
                try:
                    plan = self._build(tr, result, arg_inputs)
                except _Unsupported as e:
                    tr.failure = str(e)
            tr.pre = tr.owners = tr.reach = tr.entry_grads = None
        if plan is None:
            if tr.eager_reason is not None:
                if not self._eager_warned:
                    self._eager_warned = True
                    warnings.warn(f"compile({name}): runs eagerly: {tr.eager_reason}",
                                  RuntimeWarning, stacklevel=3)
                self._store(key, _EagerVariant(tr.modules.values(), tr.eager_reason))
                return result
            if strict:
                raise CompileError(f"compile({name}): {tr.failure} (the traced call itself "
                                   "ran eagerly to the end)")
            self._warn_eager(name, tr.failure)
            self._store(key, _EagerVariant(tr.modules.values(), tr.failure))
            return result
        self._store(key, plan)
        # as every replay: results detached from the graph (the trace made one)
        leaves = []
        struct = _flatten(result, leaves)
        return _rebuild(struct, [t.detach() if t.grad_fn is not None else t for t in leaves])

    @staticmethod
    def _build(tr, result, arg_inputs):
        leaves = []
        struct = _flatten(result, leaves)
        out_refs = []
        for t in leaves:
            r = _root(t._data)
            b = tr.bufs.get(id(r))
            if b is None or b.kind in ("input", "ext"):
                if b is None and id(r) not in tr.pre and id(r) not in tr.inputs:
                    raise _Unsupported("the function returns a tensor made outside the "
                                       "traced kernels")
                out_refs.append((None, None, t))      # returned as is
                continue
            b.persist = True
            out_refs.append(((b, _ptr(t._data) - _ptr(r)), t._data, None))
        for t, entry, how in tr.touched.values():
            if t.grad is not None:
                b = tr.bufs.get(id(_root(t.grad._data)))
                if b is not None:
                    b.persist = True
        return _Plan(tr, struct, out_refs, arg_inputs)

    def _reject(self, key, plan, bad):
        """The plan disagreed with eager execution: this signature runs eagerly."""
        variants = self._plans.get(key, [])
        if plan in variants:
            variants.remove(plan)
        msg = (f"the compiled plan and eager execution disagree on {bad} at the second call; "
               "the function does work the traced kernels do not see (NumPy operations on "
               "tensor ._data, or Python values read from tensor data that the trace froze)")
        self._store(key, _EagerVariant([m for m, tr in plan.modules], msg))
        if self.fallback == "error":
            raise CompileError(f"compile({self.__name__}): {msg}; this call ran eagerly, and "
                               "this signature now runs eagerly (fallback)")
        self._warn_eager(self.__name__, msg)

    def _warn_eager(self, name, why):
        """With the default fallback (None), one RuntimeWarning per compiled function the
        first time a signature runs eagerly instead of compiled."""
        if self.fallback is None and not self._eager_warned:
            self._eager_warned = True
            warnings.warn(f"compile({name}): runs eagerly for this signature: {why}",
                          RuntimeWarning, stacklevel=4)

    def _store(self, key, val):
        """Cache a plan (or an eager marker) for key as one more variant of that signature
        (variants differ in their guards).  At most max_plans in all, oldest dropped."""
        self._plans.setdefault(key, []).append(val)
        self._plans.move_to_end(key)
        while sum(len(v) for v in self._plans.values()) > self.max_plans:
            k0 = next(iter(self._plans))
            self._plans[k0].pop(0)
            if not self._plans[k0]:
                del self._plans[k0]

    def plan_info(self):
        """One dict per cached variant: signature, mode ('compiled' or 'eager'), and for
        plans the number of C steps, the arena size in bytes (intermediates, with memory
        reuse) and the bytes the intermediates would take without reuse."""
        res = []
        for k, ps in self._plans.items():
            for p in ps:
                if type(p) is _EagerVariant:
                    res.append({"signature": k, "mode": "eager", "reason": p.reason})
                    continue
                res.append({"signature": k, "mode": "compiled", "steps": p.nsteps,
                            "arena_bytes": p.arena_bytes,
                            "intermediate_bytes_without_reuse": p.naive_bytes})
        return res

    @property
    def stats(self):
        return {"traces": self.traces, "replays": self.replays, "eager_calls": self.eager_calls,
                "plans": sum(type(p) is _Plan for ps in self._plans.values() for p in ps)}


def compile(fn: Any = None, *, fallback: Optional[str] = None, max_plans: int = 8) -> Any:  # noqa: A001 - torch.compile's name
    """Compile a training step (see the module docstring).  Usable as a decorator, with or
    without arguments: ``@compile``, ``@compile(fallback="eager")``.  A signature that
    cannot be compiled (an op the recorder does not follow, a Python value read from a
    tensor, a plan that disagrees with eager execution) runs eagerly, with one
    ``RuntimeWarning`` saying why (``fallback=None``, the default, as torch.compile falls
    back to eager code); ``fallback="eager"`` does the same without the warning and
    ``fallback="error"`` raises ``CompileError`` instead.  Given an
    ``nn.Module``, returns a ``CompiledModule`` (fastgrad.compile.module): the module with
    its forward compiled, where a forward that cannot be compiled runs eagerly with a
    one-time notice unless ``fallback="error"``."""
    if fn is None:
        return lambda f: compile(f, fallback=fallback, max_plans=max_plans)
    from fastgrad.nn.module import Module
    if isinstance(fn, Module):
        if fallback not in (None, "eager", "error"):
            raise ValueError(f"compile: fallback must be None/'error' or 'eager', got {fallback!r}")
        from fastgrad.compile.module import compile_module
        return compile_module(fn, fallback, max_plans)
    return CompiledFunction(fn, fallback, max_plans)
