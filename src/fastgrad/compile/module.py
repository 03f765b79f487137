"""``fastgrad.compile(module)``: a wrapper that behaves like the module and runs its
forward as a compiled plan (as ``torch.compile(model)`` is used).

A compiled plan returns results outside the autograd graph, so a forward whose result
would require grad (grad mode on and a parameter or an input that requires grad) runs
eagerly: compile the whole training step (forward, backward, optimizer step) to compile
training.  A forward that cannot be compiled runs eagerly too; either case is said once,
with a RuntimeWarning naming the reason."""
import warnings

from fastgrad._state import grad_mode, trace as _trace_state
from fastgrad._tensor import Tensor
from fastgrad.compile._common import _IN_FN
from fastgrad.nn.module import Module

_OWN = ("_orig_mod", "_compiled", "_told", "_traced")


class CompiledModule(Module):
    """What ``fastgrad.compile(module)`` returns: calling it runs the module's forward
    (compiled where it can be); everything else (``parameters()``, ``state_dict()``,
    attributes, submodules, ``train()``/``eval()``) is the module's: a Module whose own
    state is the wrapped module's (its attribute reads and writes go to the module, so
    the Module methods see the module's parameters, buffers, submodules and training
    flag; state_dict keys are the module's own).  The module itself is ``_orig_mod``; the
    compiled function ``_compiled`` (its ``stats``, ``plan_info()``)."""

    def __init__(self, module, compiled):
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_compiled", compiled)
        object.__setattr__(self, "_told", set())
        object.__setattr__(self, "_traced", 0)

    def _notice(self, why):
        if why not in self._told:
            self._told.add(why)
            warnings.warn(f"fastgrad.compile({type(self._orig_mod).__name__}): the forward runs "
                          f"eagerly (not compiled): {why}", RuntimeWarning, stacklevel=3)

    def __call__(self, *args, **kwargs):
        m = self._orig_mod
        if grad_mode.enabled and (any(p.requires_grad for p in m.parameters()) or any(
                isinstance(a, Tensor) and a.requires_grad for a in args)):
            if _trace_state.active is None and not _IN_FN[0]:   # not in a compiled step
                self._notice("its result requires grad, and a compiled plan returns results "
                             "outside the autograd graph; compile the whole training step "
                             "(forward, backward and optimizer step), or call the forward "
                             "under fastgrad.no_grad()")
            return m(*args, **kwargs)
        c = self._compiled
        r = c(*args, **kwargs)
        if c.traces != self._traced:
            object.__setattr__(self, "_traced", c.traces)
            for v in c.plan_info():
                if v["mode"] == "eager":
                    self._notice(v["reason"])
        return r

    def forward(self, *args, **kwargs):
        return self(*args, **kwargs)

    def train(self, mode=True):
        self._orig_mod.train(mode)
        return self

    def eval(self):
        self._orig_mod.eval()
        return self

    def to(self, *args, **kwargs):
        self._orig_mod.to(*args, **kwargs)
        return self

    def __getattr__(self, name):
        if name in _OWN:
            raise AttributeError(name)
        return getattr(self._orig_mod, name)

    def __setattr__(self, name, value):
        setattr(self._orig_mod, name, value)

    def __delattr__(self, name):
        delattr(self._orig_mod, name)

    def __getitem__(self, i):
        return self._orig_mod[i]

    def __setitem__(self, i, v):
        self._orig_mod[i] = v

    def __len__(self):
        return len(self._orig_mod)

    def __iter__(self):
        return iter(self._orig_mod)

    def __dir__(self):
        return sorted(set(dir(self._orig_mod)) | {"_orig_mod", "_compiled"})

    def __repr__(self):
        return f"CompiledModule({self._orig_mod!r})"


def compile_module(module, fallback, max_plans):
    from fastgrad.compile.api import CompiledFunction

    def forward(*args, **kwargs):
        return module(*args, **kwargs)
    forward.__name__ = forward.__qualname__ = type(module).__name__ + ".forward"
    c = CompiledFunction(forward, "eager" if fallback is None else fallback, max_plans)
    return CompiledModule(module, c)
