"""Guards of fastgrad.compile: what a plan assumed when it was traced, checked before
every replay by one C call.

A plan reads parameters, buffers, gradients and optimizer state in place and replays the
kernels the traced call ran, so it is right for a later call only while the program
still reaches the same objects in the same shapes.  At the end of a trace ``build``
turns that situation into a list of checks, each an identity or value test of what a
constant object leads to through at most four accessors (attribute, item, cell
contents, instance ``__dict__`` entry), and hands them to fastgrad._C's
``GuardProgram``: one C loop over precomputed pointers, no Python frame and no
per-call allocation (tensor slots are read at their offsets).  Each check also has its
Python text (``failing`` names the check that failed; a check without a C form makes
``build`` generate an equivalent Python function instead).  The checks:

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
  (a dropout's ``p``, a flag its forward branches on: by value), the functions it holds
  as attributes (an activation, a patched ``forward``: by identity) and how many
  attributes it has (one added later), its submodules,
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
import functools
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
        self.specs = {}            # expression -> GuardProgram check (None: Python only)
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

    def add(self, e, spec=None):
        """Add the check `e` (Python source over the constants) once; `spec` is the same
        check for fastgrad._C's GuardProgram: (op, base, accessors, exp1, exp2)."""
        if e not in self.seen:
            self.seen.add(e)
            self.exprs.append(e)
            self.specs[e] = spec

    def is_(self, base, acc, o):
        """The check: `base` read through `acc` is o."""
        self.add(f"{_text(self, base, acc)} is {self.c(o)}", ("is", base, acc, o, None))

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
            self.is_(p, (("attr", "grad"),), None)

    def build(self, name="guard"):
        """The guard: a fastgrad._C GuardProgram when every check has its C form, else a
        generated Python function.  Either carries .source, .nchecks and .checks (the
        Python text of each check, for ``failing``)."""
        self.expand = {}
        if self.entries:
            es = self.entries
            args = tuple(tuple(e[i] for e in es) for i in range(3))
            call = (f"{self.c(_K.entries_valid)}({self.c(args[0])}, "
                    f"{self.c(args[1])}, {self.c(args[2])})")
            self.exprs[self.exprs.index("ENTRIES")] = call
            self.specs[call] = ("entries", args[0], (), args[1], args[2])
            self.expand[call] = [f"{self.c(d)}[{k!r}]._data is {self.c(a)}" for d, k, a in es]
        if self.tensors:
            ts = list(self.tensors.values())
            args = tuple(tuple(v[i] for v in ts) for i in range(3))
            call = (f"{self.c(_K.tensors_valid)}({self.c(args[0])}, "
                    f"{self.c(args[1])}, {self.c(args[2])})")
            self.exprs[self.exprs.index("TENSORS")] = call
            self.specs[call] = ("tensors", args[0], (), args[1], args[2])
            self.expand[call] = [e for t, arr, rg in ts
                                 for e in (f"{self.c(t)}._data is {self.c(arr)}",
                                           f"{self.c(t)}.requires_grad is {rg}")]
        body = " and\n            ".join(self.exprs) or "True"
        params = ", ".join(f"{n}={n}" for n in self.values)
        src = (f"def {name}({params}):\n    try:\n        return ({body})\n"
               "    except Exception:\n        return False\n")
        specs = [self.specs.get(e) for e in self.exprs]
        if all(sp is not None for sp in specs):
            fn = _K.GuardProgram(specs)
        else:
            ns = dict(self.values)
            exec(builtins.compile(src, f"<fastgrad.compile {name}>", "exec"), ns)  # noqa: S102
            fn = ns[name]
        fn.source = src
        fn.nchecks = len(self.exprs)
        fn.checks = (list(self.exprs), dict(self.values), self.expand)
        return fn


def _text(b, base, acc):
    """Python source of `base` read through the accessors `acc`."""
    s = b.c(base)
    for kind, key in acc:
        if kind == "attr":
            s += f".{key}"
        elif kind == "item":
            s += f"[{b.key(key)}]"
        elif kind == "cell":
            s += ".cell_contents"
        else:
            s += f".__dict__[{key!r}]"
    return s


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
            b.is_(how[1], (("item", how[2]),), o)
            return
        if kind == "cell":
            b.is_(how[1], (("cell", None),), o)
            return
        if kind == "item":
            b.is_(how[1], (("item", how[2]),), o)
        elif kind == "attr":
            b.is_(how[1], (("dict", how[2]),), o)
        else:
            return
        o = how[1]


def _tensor(b, t, arr=None):
    b.tensor(t, t._data if arr is None else arr)


def _entries(b, d):
    cd = b.c(d)
    b.add(f"len({cd}) == {len(d)}", ("len", d, (), len(d), None))
    return cd


def _scalar_value(v):
    """v is a Python scalar or a tuple of them (a value a traced call may have read and
    frozen into the plan: a dropout probability, a flag, a kernel size)."""
    if type(v) is tuple:
        return len(v) <= 16 and all(type(e) in _SCALARS for e in v)
    return type(v) in _SCALARS


def _value_check(b, base, acc, v):
    """`base` read through the accessors `acc` equals v (by identity for None, bools and
    NaN)."""
    if v is None or type(v) is bool or (type(v) is float and v != v):
        b.is_(base, acc, v)
    else:
        b.add(f"{_text(b, base, acc)} == {b.c(v)}", ("eq", base, acc, v, None))


_CALLABLES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
              functools.partial)


def _scalar_attrs(b, o, functions=False, limit=64):
    """The scalar attributes (or items, for a dict) of o, each by value; with
    `functions`, also the functions among them, by identity."""
    d = o if type(o) is dict else vars(o)
    if len(d) > limit:
        return
    kind = "item" if type(o) is dict else "dict"
    for k, v in d.items():
        if type(k) is not str or k == "training":
            continue
        if _scalar_value(v):
            _value_check(b, o, ((kind, k),), v)
        elif functions and isinstance(v, _CALLABLES):
            b.is_(o, ((kind, k),), v)


def _tree(b, m, done):
    """The module tree under m: training flags, scalar attributes (a dropout's p, a
    LeakyReLU's slope, a flag the forward branches on), functions held as attributes (an
    activation, a patched forward: by identity), the attribute count (an attribute
    added later), submodules, parameters, buffers."""
    if id(m) in done:
        return
    done.add(id(m))
    b.is_(m, (("attr", "training"),), bool(m.training))
    _entries(b, vars(m))
    _scalar_attrs(b, m, functions=True)
    _entries(b, m._modules)
    for k, sub in m._modules.items():
        b.is_(m._modules, (("item", k),), sub)
        if sub is not None:
            _tree(b, sub, done)
    for d in (m._parameters, m._buffers):
        _entries(b, d)
        for k, t in d.items():
            b.is_(d, (("item", k),), t)


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
            acc = (("item", how[2]),)
        elif how[0] == "cell":
            acc = (("cell", None),)
        else:
            continue
        if isinstance(o, _SCALARS):
            _value_check(b, how[1], acc, o)
        elif isinstance(o, (types.FunctionType, types.BuiltinFunctionType, type,
                            types.MethodType)):
            b.is_(how[1], acc, o)
        elif type(o) is list and len(o) <= 64 and all(_scalar_value(e) for e in o):
            b.is_(how[1], acc, o)                  # a list of scalars: its contents
            _value_check(b, o, (), list(o))
        elif type(o) is dict or type(o) in _NAMESPACES or _is_dataclass_instance(o):
            # a configuration object: which object, and the scalars it holds
            b.is_(how[1], acc, o)
            _scalar_attrs(b, o)
    # hooks on leaf tensors (parameters): registered or removed anywhere, it retraces
    _value_check(b, _state.leaf_hook_gen, (("item", 0),), _state.leaf_hook_gen[0])
    # module trees: every walked module whose tree ran in the trace
    ran = set(tr.modules)
    done = set()
    if ran:
        _value_check(b, _module.HOOK_GEN, (("item", 0),), _module.HOOK_GEN[0])
        seen = [_state.module_gen[0]]
        for o, how in list(reach.values()):
            if isinstance(o, Module) and any(id(s) in ran for s in o.modules()):
                _path(b, o, reach)
                _tree(t, o, done)
                for p in o.parameters():
                    _tensor(b, p)
        for m in tr.modules.values():       # run but not reachable from the function
            t.is_(m, (("attr", "training"),), bool(m.training))
        check = _generation_checked(t.build("module_trees"), seen)
        b.add(f"({b.c(_state.module_gen)}[0] == {b.c(seen)}[0] or {b.c(check)}())",
              ("gen", _state.module_gen, (), seen, check))
    # optimizer groups the trace stepped (their state layout: checked at the replay,
    # when the hyperparameters it depends on change)
    for opt, gi, entry, layout, *_ in plan.optims:
        _path(b, opt, reach)
        groups = opt.param_groups
        b.is_(opt, (("attr", "param_groups"),), groups)
        _entries(b, groups)
        group = groups[gi]
        b.is_(groups, (("item", gi),), group)
        params = group["params"]
        b.is_(group, (("item", "params"),), params)
        _entries(b, params)
        for j, p in enumerate(params):
            b.is_(params, (("item", j),), p)
            b.is_(p, (("attr", "requires_grad"),), bool(p.requires_grad))
        b.is_(opt, (("attr", "_plans"), ("item", gi)), entry)
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
            b.is_(tn, (("attr", "grad"),), entry)
        else:
            b.add(f"({ct}.grad is {b.c(entry)} or {ct}.grad is {b.c(final)})",
                  ("either", tn, (("attr", "grad"),), entry, final))
    return b.build()
