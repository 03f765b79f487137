"""Guards of fastgrad.compile: what a plan assumed when it was traced, checked before
every replay by one generated function.

A plan reads parameters, buffers, gradients and optimizer state in place and replays the
kernels the traced call ran, so it is right for a later call only while the program
still reaches the same objects in the same shapes.  At the end of a trace ``build``
turns that situation into one Python function with a single boolean expression of
identity and value tests on constants bound as its default arguments (torch.compile
generates its guards the same way), so a check costs a few dozen attribute loads and
``is`` tests and no per-call allocation:

* the objects that the function's globals and closure cells name (tensors, modules,
  optimizers, containers leading to them, functions and classes: by identity; Python
  scalars and strings: by value, since a traced call froze the values it read; dicts,
  namespaces and dataclass instances: by identity, and the scalars they hold by value,
  so a mutated ``cfg['scale']`` retraces; lists of at most 64 scalars: by identity and
  contents), and
  every link of the path by which the trace reached a tensor, module or optimizer
  (``cfg['model']``, ``trainer.__dict__['opt']``);
* the process's leaf-hook generation (a hook registered on or removed from any leaf
  tensor retraces);
* every module tree the trace ran: each module's training flag, its scalar attributes
  (a dropout's ``p``, a flag its forward branches on: by value), its submodules,
  parameters and buffers (names, count, identity), and the process's forward-hook
  generation (a hook registered or removed anywhere retraces);
* every tensor whose array the plan reads in place: the array (``t._data is arr``) and
  ``requires_grad``;
* every optimizer group the trace stepped: the groups list (count, order), the group's
  parameter list (identity, length, each parameter), the optimizer's multi-tensor plans
  and the state layout its hyperparameters select (momentum on/off, amsgrad, centered).
  Numeric hyperparameters (``lr`` from a scheduler, betas, weight decay) and flags
  passed to the update kernel (nesterov, maximize) are read at every replay instead;
* the ``.grad`` entries the trace read or replaced: what they held when traced, or the
  plan's own gradient tensors left by the previous replay.

Array contents are not guarded: the plan reads every captured array in place at each
replay, so an in-place change between calls (what a version counter would record)
needs no retrace; only a different array does.
"""
import argparse
import builtins
import dataclasses
import types

from fastgrad import _state
from fastgrad._C import _kernels as _K
from fastgrad._tensor import Tensor

_K.guard_slots(Tensor)       # the tensor checks read Tensor's slots by offset (in C)

_SCALARS = (int, float, str, bytes, bool, type(None))
_NAMESPACES = (types.SimpleNamespace, argparse.Namespace)


def _is_dataclass_instance(o):
    return dataclasses.is_dataclass(o) and not isinstance(o, type)


class _Builder:
    """Collects guard expressions over named constants and compiles them into one
    function."""

    def __init__(self):
        self.names = {}            # id(object) -> constant name
        self.values = {}           # constant name -> object
        self.exprs = []
        self.seen = set()
        self.tensors = {}          # id(tensor) -> (tensor, array, requires_grad)
        self.entries = []          # (state dict, key, array) of optimizer plans

    def c(self, o):
        n = self.names.get(id(o))
        if n is None:
            n = f"c{len(self.names)}"
            self.names[id(o)] = n
            self.values[n] = o
        return n

    def key(self, k):
        return repr(k) if type(k) in (str, int) else self.c(k)

    def add(self, e):
        if e not in self.seen:
            self.seen.add(e)
            self.exprs.append(e)

    def tensor(self, t, arr):
        """t._data is arr and t.requires_grad as now: one C check over all such tensors
        (fastgrad._C's tensors_valid), evaluated where the first one was added."""
        if not self.tensors:
            self.add("TENSORS")
        self.tensors.setdefault(id(t), (t, arr, bool(t.requires_grad)))

    def state_entries(self, pl):
        """The state entries an optimizer plan points at, still its parameters' state:
        one C check over all such entries (fastgrad._C's entries_valid); a parameter
        without state must not have a gradient."""
        dicts, keys, arrays, stateless = pl.guard_entries()
        if dicts and not self.entries:
            self.add("ENTRIES")
        self.entries.extend(zip(dicts, keys, arrays))
        for p in stateless:
            self.add(f"{self.c(p)}.grad is None")

    def build(self, name="guard"):
        self.expand = {}
        if self.entries:
            es = self.entries
            call = (f"{self.c(_K.entries_valid)}({self.c(tuple(e[0] for e in es))}, "
                    f"{self.c(tuple(e[1] for e in es))}, {self.c(tuple(e[2] for e in es))})")
            self.exprs[self.exprs.index("ENTRIES")] = call
            self.expand[call] = [f"{self.c(d)}[{k!r}]._data is {self.c(a)}" for d, k, a in es]
        if self.tensors:
            ts = list(self.tensors.values())
            call = (f"{self.c(_K.tensors_valid)}({self.c(tuple(v[0] for v in ts))}, "
                    f"{self.c(tuple(v[1] for v in ts))}, {self.c(tuple(v[2] for v in ts))})")
            self.exprs[self.exprs.index("TENSORS")] = call
            self.expand[call] = [e for t, arr, rg in ts
                                 for e in (f"{self.c(t)}._data is {self.c(arr)}",
                                           f"{self.c(t)}.requires_grad is {rg}")]
        body = " and\n            ".join(self.exprs) or "True"
        params = ", ".join(f"{n}={n}" for n in self.values)
        src = (f"def {name}({params}):\n    try:\n        return ({body})\n"
               "    except Exception:\n        return False\n")
        ns = dict(self.values)
        exec(builtins.compile(src, f"<fastgrad.compile {name}>", "exec"), ns)  # noqa: S102
        fn = ns[name]
        fn.source = src
        fn.nchecks = len(self.exprs)
        fn.checks = (list(self.exprs), dict(self.values), self.expand)
        return fn


def failing(guard):
    """The first check of a guard function that fails now (its source text), or None:
    what a retrace warning names."""
    exprs, values, expand = guard.checks
    for e in exprs:
        if not _holds(e, values):
            for sub in expand.get(e, ()):     # the tensor that failed a combined check
                if not _holds(sub, values):
                    return sub
            return e
    return None


def _holds(e, values):
    try:
        return bool(eval(e, dict(values)))   # noqa: S307 - our own generated text
    except Exception:                         # noqa: BLE001 - a check that raises fails
        return False


def _generation_checked(tree, seen):
    """The module-tree check behind the structure generation: runs `tree` only when some
    module changed since the last passing check, and remembers the generation it
    passed at."""
    def check():
        g = _state.module_gen[0]
        if tree():
            seen[0] = g
            return True
        return False
    return check


def _path(b, o, reach):
    """Guard each link of the path by which the walk found o (up to a global, a cell or
    a constant root)."""
    while True:
        ent = reach.get(id(o))
        if ent is None or ent[0] is not o:
            return
        how = ent[1]
        kind = how[0]
        if kind == "global":
            b.add(f"{b.c(how[1])}[{how[2]!r}] is {b.c(o)}")
            return
        if kind == "cell":
            b.add(f"{b.c(how[1])}.cell_contents is {b.c(o)}")
            return
        if kind == "item":
            b.add(f"{b.c(how[1])}[{b.key(how[2])}] is {b.c(o)}")
        elif kind == "attr":
            b.add(f"{b.c(how[1])}.__dict__[{how[2]!r}] is {b.c(o)}")
        else:
            return
        o = how[1]


def _tensor(b, t, arr=None):
    b.tensor(t, t._data if arr is None else arr)


def _entries(b, d):
    cd = b.c(d)
    b.add(f"len({cd}) == {len(d)}" if d else f"not {cd}")
    return cd


def _scalar_value(v):
    """v is a Python scalar or a tuple of them (a value a traced call may have read and
    frozen into the plan: a dropout probability, a flag, a kernel size)."""
    if type(v) is tuple:
        return len(v) <= 16 and all(type(e) in _SCALARS for e in v)
    return type(v) in _SCALARS


def _value_check(b, where, v):
    """where's current value equals v (by identity for None, bools and NaN)."""
    if v is None or type(v) is bool or (type(v) is float and v != v):
        b.add(f"{where} is {b.c(v)}")
    else:
        b.add(f"{where} == {b.c(v)}")


def _scalar_attrs(b, o, co, limit=64):
    """The scalar attributes (or items, for a dict) of o: each by value."""
    d = o if type(o) is dict else vars(o)
    if len(d) > limit:
        return
    view = co if type(o) is dict else f"{co}.__dict__"
    for k, v in d.items():
        if type(k) is str and k != "training" and _scalar_value(v):
            _value_check(b, f"{view}[{k!r}]", v)


def _tree(b, m, done):
    """The module tree under m: training flags, scalar attributes (a dropout's p, a
    LeakyReLU's slope, a flag the forward branches on), submodules, parameters,
    buffers."""
    if id(m) in done:
        return
    done.add(id(m))
    cm = b.c(m)
    b.add(f"{cm}.training is {bool(m.training)}")
    _scalar_attrs(b, m, cm)
    cd = _entries(b, m._modules)
    for k, sub in m._modules.items():
        b.add(f"{cd}[{b.key(k)}] is {b.c(sub)}")
        if sub is not None:
            _tree(b, sub, done)
    for d in (m._parameters, m._buffers):
        cd = _entries(b, d)
        for k, t in d.items():
            b.add(f"{cd}[{b.key(k)}] is {b.c(t)}")


def build(tr, plan):
    """The guard function of a plan traced by `tr` (see the module docstring)."""
    from fastgrad.nn import module as _module
    from fastgrad.nn.module import Module
    from fastgrad.compile.tracing import _bindings
    b = _Builder()                  # checked at every call
    t = _Builder()                  # module trees: checked when the generation moved
    reach = tr.reach or {}
    # names the function's code binds: scalars by value, callables by identity
    for o, how in _bindings(tr.fn):
        if how[0] == "global":
            where = f"{b.c(how[1])}[{how[2]!r}]"
        elif how[0] == "cell":
            where = f"{b.c(how[1])}.cell_contents"
        else:
            continue
        if isinstance(o, _SCALARS):
            _value_check(b, where, o)
        elif isinstance(o, (types.FunctionType, types.BuiltinFunctionType, type,
                            types.MethodType)):
            b.add(f"{where} is {b.c(o)}")
        elif type(o) is list and len(o) <= 64 and all(_scalar_value(e) for e in o):
            b.add(f"{where} is {b.c(o)}")          # a list of scalars: its contents
            b.add(f"{b.c(o)} == {b.c(list(o))}")
        elif type(o) is dict or type(o) in _NAMESPACES or _is_dataclass_instance(o):
            # a configuration object: which object, and the scalars it holds
            b.add(f"{where} is {b.c(o)}")
            _scalar_attrs(b, o, b.c(o))
    # hooks on leaf tensors (parameters): registered or removed anywhere, it retraces
    b.add(f"{b.c(_state.leaf_hook_gen)}[0] == {_state.leaf_hook_gen[0]}")
    # module trees: every walked module whose tree ran in the trace
    ran = set(tr.modules)
    done = set()
    if ran:
        b.add(f"{b.c(_module.HOOK_GEN)}[0] == {_module.HOOK_GEN[0]}")
        seen = [_state.module_gen[0]]
        for o, how in list(reach.values()):
            if isinstance(o, Module) and any(id(s) in ran for s in o.modules()):
                _path(b, o, reach)
                _tree(t, o, done)
                for p in o.parameters():
                    _tensor(b, p)
        for m in tr.modules.values():       # run but not reachable from the function
            t.add(f"{t.c(m)}.training is {bool(m.training)}")
        check = _generation_checked(t.build("module_trees"), seen)
        b.add(f"({b.c(_state.module_gen)}[0] == {b.c(seen)}[0] or {b.c(check)}())")
    # optimizer groups the trace stepped (their state layout: checked at the replay,
    # when the hyperparameters it depends on change)
    for opt, gi, entry, layout, *_ in plan.optims:
        _path(b, opt, reach)
        co = b.c(opt)
        groups = opt.param_groups
        cg = b.c(groups)
        b.add(f"{co}.param_groups is {cg}")
        b.add(f"len({cg}) == {len(groups)}")
        group = groups[gi]
        cgr = b.c(group)
        b.add(f"{cg}[{gi}] is {cgr}")
        params = group["params"]
        cp = b.c(params)
        b.add(f"{cgr}['params'] is {cp}")
        b.add(f"len({cp}) == {len(params)}")
        for j, p in enumerate(params):
            b.add(f"{cp}[{j}] is {b.c(p)}")
            b.add(f"{b.c(p)}.requires_grad is {bool(p.requires_grad)}")
        b.add(f"{co}._plans[{gi}] is {b.c(entry)}")
        for pl in entry[3]:         # state arrays (the parameters' arrays: plan.ext below)
            b.state_entries(pl)
    # schedulers the replay steps
    for sched in plan.pre_scheds + plan.post_scheds:
        _path(b, sched, reach)
    # tensors read in place
    for tn, arr in plan.ext:
        _path(b, tn, reach)
        _tensor(b, tn, arr)
    # .grad entries
    for tn, entry, final in plan.grad_guards:
        ct = b.c(tn)
        if final is None:
            b.add(f"{ct}.grad is {b.c(entry)}")
        else:
            b.add(f"({ct}.grad is {b.c(entry)} or {ct}.grad is {b.c(final)})")
    return b.build()
