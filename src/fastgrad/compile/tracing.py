"""The tracer of fastgrad.compile: the state of one trace (the recorded steps and the
buffers they touch), the arrays a traced call may read in place, and the handlers of the
named hooks (fastgrad._hooks) through which the eager paths that work outside the
kernels report to the trace.  ``_tracing(tr)`` installs a trace: its handlers, its
recorder as the active kernel backend, and the trace as the process's tracer."""
import builtins
import contextlib
import os
import threading
import types

import numpy as np

from fastgrad import _hooks
from fastgrad.ops import (_record as _rec, elementwise as _ew, indexing as _ix, loss as _loss,
                          shape as _sh)
from fastgrad._C import _kernels as _K
from fastgrad._state import backend, grad_mode, trace as _trace_state
from fastgrad._tensor import Tensor
from fastgrad.autograd import engine as _engine
from fastgrad.compile._common import (_NOGIL_MIN, CompileError, _Buf, _is64, _make, _ptr,
                                      _root, _soft, _Unsupported)
from fastgrad.compile.recording import Recorder, _bstrides, _target_ref

_LOCK = threading.RLock()          # one trace at a time (hooks and backend are per process)
_CURRENT = object()
# the traces running in this process, outermost first: (tracer, the hooks, backend and
# tracer to restore); what a forked child undoes for traces of threads it does not have
_ACTIVE = []


class _Tracer:
    """The state of one trace: the steps recorded so far, the buffers they read and
    write, and what the replay guards need (modules run, .grad entries touched,
    optimizer plans)."""

    def __init__(self, strict, fname):
        self.strict = strict
        self.active = True
        self.fname = fname
        self.thread = threading.get_ident()
        self.steps = []            # step dicts for _K.Plan (operands as (_Buf, offset))
        self.bufs = {}             # id(root) -> _Buf
        self.failure = None
        self.inputs = {}           # id(root) -> input position
        self.input_arrays = {}     # id(root) -> the argument's own array, when a
                                   # C-contiguous view into the root (a batch sliced
                                   # from a dataset tensor): offsets count from it
        self.modules = {}          # id -> module run during the trace
        self.touched = {}          # id(tensor) -> [tensor, entry grad, first touch]
        self.optims = []           # (optimizer, group index, plans entry, layout, args, step index)
        self.consts = set()
        self.pre = {}
        self.owners = {}
        self.reach = {}            # id -> (object, where the trace found it), for the guards
        self.scheds = []           # (scheduler, optimizer steps recorded before its step)
        self.fn = None
        self.names = []            # per step, the op name for error messages
        self.keep = []             # arrays whose ids the trace relies on
        self.bn = None             # the arguments of the batch_norm call being traced
        self.rng = None            # the generator dropout steps draw from (its .rng)
        self.entry_grads = {}      # id(tensor) -> (tensor, its .grad when the call started)
        self.eager_reason = None   # why this call must run eagerly (not an error): no plan

    def mine(self):
        """True while this tracer records: during the trace, in the tracing thread, and
        no failure yet (a graph made while tracing may be used after it: not recorded)."""
        return self.active and self.failure is None and threading.get_ident() == self.thread

    def touch(self, t, how, entry=_CURRENT):
        """First touch of t's .grad in this trace: remember what it held (`entry`, by
        default its current .grad) and how."""
        if id(t) not in self.touched:
            self.touched[id(t)] = [t, t.grad if entry is _CURRENT else entry, how]

    # failures: raise now (strict) or remember and let the eager run finish (fallback)
    def fail(self, msg):
        if self.failure is None:
            self.failure = msg
        if self.strict:
            raise CompileError(f"compile({self.fname}): {msg}")
        raise _Unsupported(msg)

    def run_eagerly(self, why):
        """The rest of the call cannot be a plan but runs correctly eagerly (an optimizer
        step no fixed plan can follow): stop recording, and let the compiled function run
        this signature eagerly with a warning, whatever its fallback setting."""
        if self.failure is None:
            self.failure = why
        if self.eager_reason is None:
            self.eager_reason = why

    def conversion(self, what):
        if (not self.active or threading.get_ident() != self.thread
                or (self.failure is not None and not self.strict)):
            return
        call = {"float": "float(tensor)", "int": "int(tensor)", "bool": "bool(tensor)",
                "numpy": "tensor.numpy()", "tolist": "tensor.tolist()", "item": "tensor.item()",
                "__array__": "np.asarray(tensor)", "__index__": "using a tensor as an index"}[what]
        msg = (f"{call} inside a compiled function would freeze a value read from tensor data "
               "into the plan; move it outside the compiled function (return the tensor and "
               "convert it after the call) or use compile(fn, fallback='eager')")
        if self.failure is None:
            self.failure = msg
        if self.strict:
            raise CompileError(f"compile({self.fname}): {msg}")
        # fallback: the eager run goes on; this signature will run eagerly

    # operands
    def ref(self, a, what):
        r = _root(a)
        b = self.bufs.get(id(r))
        i = len(self.steps)
        if b is None:
            if id(r) in self.inputs:
                b = _Buf(self.input_arrays.get(id(r), r), "input", i)
            elif id(r) in self.consts or _is_scalar_const(r):
                b = _Buf(r, "const", i)
            elif id(r) in self.pre:      # existed before the call
                b = _Buf(r, "ext", i)
            else:
                self.fail(f"{what}: reads an array that no traced kernel produced and that is not "
                          "an input or a tensor the function reaches through its closure, "
                          "globals, modules or optimizers (NumPy work outside the kernels, a "
                          "random mask, or a tensor created inside the function); this op "
                          "cannot be replayed")
            self.bufs[id(r)] = b
        b.last = i
        return (b, self._offset(a, b, what))

    def new(self, a):
        r = _root(a)
        b = self.bufs.get(id(r))
        i = len(self.steps)
        if b is None:
            b = _Buf(r, "inter", i)
            self.bufs[id(r)] = b
        b.last = i
        return (b, self._offset(a, b, "a result"))

    def _offset(self, a, b, what):
        """a's byte offset in buffer b; an input that is a view into a larger array is
        bound by its own pointer at each replay, so an operand must lie inside it."""
        off = _ptr(a) - _ptr(b.arr)
        if b.kind == "input" and b.arr is not _root(b.arr):
            lo = off + builtins.sum(st * (n - 1) for st, n in zip(a.strides, a.shape) if st < 0)
            hi = off + builtins.sum(st * (n - 1) for st, n in zip(a.strides, a.shape) if st > 0)
            if a.size and (lo < 0 or hi + a.itemsize > b.arr.nbytes):
                self.fail(f"{what}: reads outside the input tensor, in the larger array it views")
        return off

    def add(self, kind, name, **d):
        d["kind"] = kind
        self.steps.append(d)
        self.names.append(name)
        return len(self.steps) - 1

    def dense(self, a, what):
        """a as a dense array: a itself, or a recorded strided copy (as the wrappers do)."""
        if a.flags.c_contiguous:
            return a
        if a.dtype.kind != "f":
            self.fail(f"{what}: a non-contiguous {a.dtype} operand")
        out = np.ascontiguousarray(a)
        self._copy_step(a, out, what)
        return out

    def _copy_step(self, src, out, what):
        """A strided copy of src into the dense out; float32/float64 elements, or integers
        of the same sizes (moved bit for bit by the float copy kernel)."""
        isz = src.itemsize
        if any(s % isz for s in src.strides) or src.ndim > 16:
            self.fail(f"{what}: operand layout not supported")
        if out.dtype != src.dtype or isz not in (4, 8) or src.dtype.kind not in "fiu":
            self.fail(f"{what}: a copy of a {src.dtype} array")
        ins = [self.ref(src, what)]
        self.add("copy", what + " (copy)", ins=ins, outs=[self.new(out)], ndim=src.ndim,
                 shape=list(src.shape), sa=[s // isz for s in src.strides],
                 is64=int(isz == 8), par=int(src.size >= _NOGIL_MIN))

    def _copy_to_step(self, src, dst, what):
        """dst (a strided view of an array the trace writes) = src (strided), as a plan step."""
        isz = src.itemsize
        if (any(s % isz for s in src.strides + dst.strides) or src.ndim > 16
                or src.shape != dst.shape or dst.dtype != src.dtype or isz not in (4, 8)):
            self.fail(f"{what}: operand layout not supported")
        self.add("copy_to", what + " (copy)", ins=[self.ref(src, what)], outs=[self.new(dst)],
                 ndim=src.ndim, shape=list(src.shape), sa=[s // isz for s in src.strides],
                 sb=[s // isz for s in dst.strides], is64=int(isz == 8),
                 par=0)


def _existing_arrays(fn, args, kwargs):
    """{id(root array): root array} for the tensors a traced call may read in place: those
    reachable, when the trace starts, from the function's closure, the globals its code
    names, its bound object, and its arguments -- through modules (parameters, buffers,
    gradients), optimizers (parameters and state), containers and plain objects' attributes
    (two levels deep).  A kernel reading any other array that no traced kernel produced
    makes the trace unsupported (a tensor made inside the function would be frozen).

    Also returns ``reach``: {id(object): (object, how)} for every object walked, ``how``
    saying where the walk found it -- ("global", globals dict, name), ("cell", cell),
    ("item", container, key), ("attr", owner, name) or ("const",) (an argument, a bound
    object) -- from which the guards (fastgrad.compile.guards) check at every call that
    the same objects are still bound where the trace found them."""
    from fastgrad.nn.module import Module
    from fastgrad.optim.optimizer import Optimizer
    res = {}
    owners = {}        # id(root) -> [(tensor, its data array)], for the replay's guards
    seen = set()
    reach = {}

    def add_tensor(t):
        for a in (t._data, t.grad._data if t.grad is not None else None):
            if isinstance(a, np.ndarray):
                r = _root(a)
                res[id(r)] = r
        if isinstance(t._data, np.ndarray):
            owners.setdefault(id(_root(t._data)), []).append((t, t._data))

    def walk(o, depth, how):
        if id(o) in seen or o is None or isinstance(o, (int, float, str, bytes, bool)):
            return
        seen.add(id(o))
        reach[id(o)] = (o, how)
        if isinstance(o, Tensor):
            add_tensor(o)
        elif isinstance(o, Module):
            for t in o.parameters():
                add_tensor(t)
            for t in o.buffers():
                if t is not None:
                    add_tensor(t)
            if depth > 0:
                for k, v in vars(o).items():
                    if not isinstance(v, (dict, Module)):
                        walk(v, depth - 1, ("attr", o, k))
        elif isinstance(o, Optimizer):
            for g in o.param_groups:
                for t in g["params"]:
                    add_tensor(t)
            for st in o.state.values():
                for v in st.values():
                    if isinstance(v, Tensor):
                        add_tensor(v)
        elif depth > 0:
            if isinstance(o, (list, tuple)):
                for i, v in enumerate(o):
                    walk(v, depth - 1, ("item", o, i))
            elif isinstance(o, (set, frozenset)):
                for v in o:
                    walk(v, depth - 1, ("const",))
            elif isinstance(o, dict):
                for k, v in o.items():
                    walk(v, depth - 1, ("item", o, k))
            elif (hasattr(o, "__dict__") and not isinstance(o, (type, types.ModuleType))
                  and not callable(o)):
                for k, v in vars(o).items():
                    walk(v, depth - 1, ("attr", o, k))

    roots = [(a, ("const",)) for a in list(args) + list(kwargs.values())]
    for o, how in _bindings(fn):
        if how[0] == "const" or not isinstance(o, (int, float, str, bytes, bool)):
            roots.append((o, how))
    for o, how in roots:
        walk(o, 2, how)
    return res, owners, reach


def _code_names(code, out):
    """The global names a code object and the code objects nested in it use."""
    out.update(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _code_names(c, out)
    return out


def _user_function(o):
    m = getattr(o, "__module__", None) or ""
    return (isinstance(o, types.FunctionType)
            and not m.startswith(("fastgrad.", "numpy", "torch", "builtins")))


def _bindings(fn):
    """(object, how) for what fn's code can reach by name: its closure cells (how =
    ("cell", cell)), the globals its code (and the code nested in it) names (("global",
    globals dict, name)), its bound object and its default argument values (("const",));
    through __wrapped__ and
    functools.partial's func, and the same for the user functions (not fastgrad's,
    NumPy's or torch's) found that way, two levels deep."""
    res = []
    seen = set()
    todo = [(fn, 0)]
    while todo:
        f, depth = todo.pop(0)
        while f is not None and id(f) not in seen:
            seen.add(id(f))
            found = []
            for c in getattr(f, "__closure__", None) or ():
                try:
                    found.append((c.cell_contents, ("cell", c)))
                except ValueError:
                    pass
            code, g = getattr(f, "__code__", None), getattr(f, "__globals__", None)
            if code is not None and g is not None:
                for n in sorted(_code_names(code, set())):
                    if n in g:
                        found.append((g[n], ("global", g, n)))
            if getattr(f, "__self__", None) is not None:
                found.append((f.__self__, ("const",)))
            # default argument values (``def step(x, y, model=model)``): bound once, at
            # definition time
            for v in getattr(f, "__defaults__", None) or ():
                found.append((v, ("const",)))
            for v in (getattr(f, "__kwdefaults__", None) or {}).values():
                found.append((v, ("const",)))
            res.extend(found)
            if depth < 2:
                todo.extend((o, depth + 1) for o, how in found if _user_function(o))
            f = getattr(f, "__wrapped__", None) or getattr(f, "func", None)
    return res


def _is_scalar_const(r):
    """A 0-d read-only array from fastgrad's Python-scalar cache: a program constant."""
    if r.ndim != 0 or r.flags.writeable:
        return False
    for t in _rec._scalar_cache.values():
        if t._data is r:
            return True
    return False


# ---- the hook handlers installed while tracing ----------------------------------------------
@contextlib.contextmanager
def _tracing(tr):
    """Within the block, `tr` traces: its hook handlers are installed, its recorder is
    the active kernel backend and it is the process's tracer (tensor conversions report
    to it).  Everything is restored when the block ends, also by an exception or
    KeyboardInterrupt."""
    saved = (tr, {n: getattr(_hooks.hooks, n) for n in _hooks.HOOK_NAMES},
             (backend.k, backend.name), _trace_state.active)
    try:
        _ACTIVE.append(saved)
        with _hooks.installed(_handlers(tr)):
            backend.activate(Recorder(tr))
            _trace_state.active = tr
            yield
    finally:
        _restore(saved)


def _restore(saved):
    """Undo one trace's process state (idempotent, so an interrupt arriving in the middle
    of an earlier restore is repaired by the next)."""
    tr, hooks, prev_backend, prev_trace = saved
    tr.active = False
    for n, fn in hooks.items():
        setattr(_hooks.hooks, n, fn)
    _trace_state.active = prev_trace
    backend.activate(*prev_backend)
    if saved in _ACTIVE:
        _ACTIVE.remove(saved)


def _repair():
    """Finish the restore of any trace that ended without completing it (an interrupt
    inside the restore itself); called before each new trace."""
    for saved in reversed(list(_ACTIVE)):
        if not saved[0].active:
            _restore(saved)


def _after_fork_in_child():
    """In a forked child only the forking thread exists: a trace another thread was
    running is gone (its hooks, recorder and tracer are undone), and the locks are new
    (one held by another thread at fork time would never be released)."""
    global _LOCK
    me = threading.get_ident()
    for saved in reversed(list(_ACTIVE)):
        if saved[0].thread != me:
            _restore(saved)
    _LOCK = threading.RLock()
    for hook in list(_FORK_HOOKS):
        hook()


_FORK_HOOKS = []                   # more after-fork resets (the compiled functions' locks)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _handlers(tr):
    """The hook handlers of one trace ({slot name: handler}, for fastgrad._hooks): each
    records the work of the eager path that reported to it, for the tracing thread only.
    The eager path itself runs unchanged (cross-entropy's mean/sum reduction excepted: its
    handler computes the same loss with a node whose backward it records)."""

    # the ones that seed backward(): a constant of the program
    def grad_seed(t):
        if tr.mine():
            tr.consts.add(id(_root(t._data)))
            tr.keep.append(t._data)

    # cross_entropy with 'mean'/'sum': the eager path computes the count of kept targets
    # and the gradient scale in Python; the plan recomputes them at each replay
    def xent_reduce(x, target, ignore_index, label_smoothing, scale, reduction):
        if not tr.mine():
            return None
        loss_rows, lsm = _K.xent(x._data, target, ignore_index, label_smoothing)
        loss = np.asarray(loss_rows.sum() * loss_rows.dtype.type(scale) if scale != 1.0
                          else loss_rows.sum(), dtype=loss_rows.dtype)
        sidx = [-1]

        def rec():
            if reduction not in ("mean", "sum"):
                tr.fail(f"cross_entropy: reduction {reduction!r} with a scale")
            xd = tr.dense(x._data, "cross_entropy")
            rows, c = xd.shape
            sidx[0] = tr.add("xent_red", "cross_entropy", op=0 if reduction == "mean" else 1,
                             ins=[tr.ref(xd, "cross_entropy"),
                                  _target_ref(tr, target, "cross_entropy")],
                             outs=[tr.new(loss_rows), tr.new(lsm), tr.new(loss)],
                             n=[rows, c, ignore_index], s=[label_smoothing, scale],
                             is64=_is64(lsm), par=int(rows * c >= _NOGIL_MIN))
        _soft(tr, rec)
        if x.requires_grad and grad_mode.enabled:
            return _rec._record(loss, "cross_entropy", xent_red_bwd, (x,), (x,), lsm,
                                (target, ignore_index, label_smoothing, scale, sidx[0]))
        return _make(loss)

    def xent_red_bwd(node, g):
        target, ignore_index, ls, scale, sidx = node.ctx
        if grad_mode.enabled:           # create_graph: the eager composite formula
            if tr.mine():
                _soft(tr, tr.fail, "backward(create_graph=True) is not supported in compiled "
                      "functions")
            rows = target.shape[0]
            g_rows = _ew.mul(_sh.expand(_sh.reshape(g, (1,)), rows), scale)
            return (_loss._xent_grad_composite(node.saved[0], g_rows, target, ignore_index, ls),)
        lsm = node.out
        rows, c = lsm.shape
        gd = g._data
        g_rows = np.full(rows, float(gd) * scale, dtype=lsm.dtype)
        gx = _K.xent_bwd(g_rows, lsm, target, ignore_index, ls)

        def rec():
            if sidx < 0 or gd.size != 1 or gd.dtype != lsm.dtype:
                tr.fail("cross_entropy backward: unexpected gradient")
            tr.add("xent_red_bwd", "cross_entropy_backward",
                   ins=[tr.ref(gd, "cross_entropy_backward"),
                        tr.ref(lsm, "cross_entropy_backward"),
                        _target_ref(tr, target, "cross_entropy_backward")],
                   outs=[tr.new(gx), tr.new(g_rows)], n=[rows, c, ignore_index, sidx], s=[ls],
                   is64=_is64(gx), par=int(rows * c >= _NOGIL_MIN))
        if tr.mine():
            _soft(tr, rec)
        return (_make(gx),)

    # dropout in training mode: its mask is one plan step (FG_P_DROPOUT) drawing from the
    # global generator in C as Generator.random does, so a replay draws the bits eager
    # execution would and leaves the generator in the same state
    def dropout(x, p):
        if not tr.mine():
            return None

        def after(mask, draws):
            if not tr.mine():
                return

            def rec():
                from fastgrad._factory import default_generator
                if mask.dtype.kind != "f" or not mask.flags.c_contiguous:
                    tr.fail("dropout: an unexpected mask")
                out = tr.new(mask)
                if draws is None:
                    tr.add("fill", "dropout", outs=[out], n=[mask.size], s=[0.0],
                           is64=_is64(mask))
                    return
                tr.rng = default_generator
                scale = float(mask.dtype.type(1.0 / (1.0 - p)))
                tr.add("dropout", "dropout", op=0 if draws == np.float32 else 1, outs=[out],
                       n=[mask.size], s=[float(p), scale], is64=_is64(mask),
                       rng=default_generator.rng.bit_generator)
            _soft(tr, rec)
        return after

    # embedding with a padding_idx: eager execution keeps the padding rows out of the
    # gradient with a mask computed in NumPy; traced, the gather's backward adds every
    # row and then zeroes the padding row (a fill step), which gives the same bits
    def embedding(weight, idx, padding_idx, keep):
        if not tr.mine() or not (weight.requires_grad and grad_mode.enabled):
            return None
        flat = idx.reshape(-1)
        rows = backend.k.index_select(weight._data, 0, flat, False, "embedding")
        out = _rec._record(rows, "embedding", embedding_bwd, (weight,), tuple(keep), None,
                           (flat, padding_idx, weight._data.shape[0]))
        return _sh.reshape(out, idx.shape + (weight._data.shape[1],))

    def embedding_bwd(node, g):
        flat, pad, n = node.ctx
        if grad_mode.enabled:           # create_graph: eager's masked formula
            if tr.mine():
                _soft(tr, tr.fail, "backward(create_graph=True) is not supported in compiled "
                      "functions")
            is_pad = _make(np.broadcast_to((flat == pad)[:, None], g._data.shape))
            gm = _ew.where(is_pad, _rec._scalar(0.0, g._data.dtype), g)
            return (_ix._index_add_zeros(gm, 0, flat, n, False, node.saved),)
        gw = np.zeros((n,) + g._data.shape[1:], dtype=g._data.dtype)
        backend.k.index_add(gw, 0, flat, g._data, False, "embedding_backward")
        gw[pad] = 0

        def rec():
            row = gw[pad]
            tr.add("fill", "embedding_backward (padding row)",
                   outs=[tr.ref(row, "embedding_backward")], n=[row.size], s=[0.0],
                   is64=_is64(gw))
        if tr.mine():
            _soft(tr, rec)
        return (_make(gw),)

    # a reshape NumPy had to copy: a strided copy step
    def numpy_copy(src, out, name):
        if not tr.mine():
            return

        def rec():
            if src.dtype.kind != "f" or out.dtype != src.dtype:
                tr.fail(f"{name}: a copy of a non-contiguous {src.dtype} array")
            tr._copy_step(src, out.reshape(src.shape), name)
        _soft(tr, rec)

    # an array NumPy assembled from regions (cat, stack, the backward of slicing): a fill
    # step for its initial value, then one strided copy step per region
    def numpy_assemble(out, pieces, fill, name):
        if not tr.mine():
            return

        def rec():
            if out.dtype.kind != "f" or not out.flags.c_contiguous:
                tr.fail(f"{name}: assembling a {out.dtype} array")
            if fill is not None:
                tr.add("fill", name, outs=[tr.new(out)], n=[out.size], s=[float(fill)],
                       is64=_is64(out))
            for idx, src in pieces:
                dst = out[idx]
                if not isinstance(dst, np.ndarray) or dst.base is None:
                    dst = out[(idx if isinstance(idx, tuple) else (idx,)) + (Ellipsis,)]
                if dst.size == 0:
                    continue
                if not isinstance(src, np.ndarray) or src.dtype != out.dtype:
                    tr.fail(f"{name}: a region of another dtype")
                tr._copy_to_step(np.broadcast_to(src, dst.shape), dst, name)
        _soft(tr, rec)

    # batch_norm: its NumPy work (the running-statistics update in training mode, the
    # inverse standard deviation, the copy of the running mean in eval mode) is recorded
    # by the bn_stats / bn_apply recorders, which read this call's arguments from tr.bn
    # (bn_apply, the call's last kernel, clears it)
    def batch_norm(running_mean, running_var, training, momentum, eps):
        if tr.mine():
            tr.bn = {"rm": running_mean, "rv": running_var, "training": bool(training),
                     "momentum": momentum, "eps": eps}

    # BatchNorm modules count their training steps in a NumPy buffer (a counter step);
    # momentum=None derives the momentum from that count in Python, which a plan would
    # freeze
    def batch_count(module):
        if not tr.mine():
            return
        who = type(module).__name__
        if module.momentum is None:
            _soft(tr, tr.fail, f"{who}(momentum=None) computes its momentum in Python from the "
                  "step count, which a plan would freeze; give a momentum or use "
                  "compile(fn, fallback='eager')")

        def rec():
            d = module.num_batches_tracked._data
            if d.dtype != np.int64 or d.size != 1:
                tr.fail(f"{who}: unexpected num_batches_tracked")
            tr.add("counter", who + ".num_batches_tracked",
                   outs=[tr.ref(d, "num_batches_tracked")], n=[1])
        _soft(tr, rec)

    # in-place ops compute their result with the kernels, then copy it into x with
    # NumPy: recorded as a strided copy (a dtype cast or a non-contiguous target is not)
    def inplace(x, name):
        if not tr.mine():
            return None

        def after(r):
            if not tr.mine():
                return

            def rec():
                xd = x._data
                src = np.broadcast_to(r._data, xd.shape)
                if src.dtype != xd.dtype or xd.dtype.kind != "f" or not xd.flags.c_contiguous:
                    tr.fail(f"{name}: an in-place op with a dtype cast or into a non-contiguous "
                            "or non-float tensor")
                tr.ref(xd, name)
                tr._copy_step(src, xd, name)
            _soft(tr, rec)
        return after

    # the gradient store: adopt, copy or accumulate, as the engine does
    def grad_store(t, g, old, tag, create_graph):
        if not tr.mine():
            return
        if old is None and id(t) not in tr.touched:
            ent = tr.entry_grads.get(id(t))
            if ent is not None and ent[0] is t and ent[1] is not None:
                # the function set .grad to None itself (p.grad = None): what .grad holds
                # when a call starts does not reach the plan
                tr.touch(t, "cleared", ent[1])
        tr.touch(t, "store", old)
        gd = g._data

        def rec():
            if create_graph:
                tr.fail("backward(create_graph=True) is not supported in compiled functions")
            if old is not None:
                od = old._data
                if (t.grad is not old or od.shape != gd.shape or od.dtype != gd.dtype
                        or not od.flags.c_contiguous):
                    tr.fail("accumulating into an existing .grad of another shape or kind")
                tr.add("binary", "accumulate_grad", op=0,
                       ins=[tr.ref(od, "accumulate_grad"), tr.ref(gd, "accumulate_grad")],
                       outs=[tr.ref(od, "accumulate_grad")], ndim=od.ndim,
                       shape=list(od.shape), sa=_bstrides(od, od.ndim),
                       sb=_bstrides(gd, od.ndim), is64=_is64(od),
                       par=int(od.size >= _NOGIL_MIN))
                return
            new = t.grad._data
            if tag is _engine.FRESH and new is gd:
                tr.ref(new, "store_grad")
            else:
                tr._copy_step(gd, new, "store_grad")
        _soft(tr, rec)

    # a backward adding a gradient straight into an existing .grad (engine.accum_target):
    # the GEMM that does it records itself (beta=1 into the .grad buffer); the .grad is
    # touched here as the store above touches it, so replays guard it the same way
    def accum_target(e):
        if tr.mine():
            tr.touch(e, "store")

    def zero_grad(params, set_to_none):
        if not tr.mine():
            return

        def rec():
            for p in params:
                tr.touch(p, "none" if set_to_none else "zero")
                if p.grad is not None and not set_to_none:
                    gd = p.grad._data
                    if not gd.flags.c_contiguous or gd.dtype.kind != "f":
                        tr.fail("zero_grad: a non-contiguous .grad")
                    tr.add("fill", "zero_grad", outs=[tr.ref(gd, "zero_grad")],
                           n=[gd.size], s=[0.0], is64=_is64(gd))
        _soft(tr, rec)

    # the optimizer: its own multi-tensor plans, with the plan's gradient buffers
    def optim_step(opt, closure):
        if not tr.mine():
            return None
        if getattr(opt, "_alg", None) is None:
            who = type(opt).__name__
            tr.run_eagerly(
                f"{who}.step evaluates its closure a number of times that depends on the "
                "values it computes (line search, convergence tests) and updates the "
                "parameters in NumPy, so no fixed plan can replay it"
                if closure is not None else
                f"{who}.step updates its parameters in NumPy (no fused kernel), which a plan "
                "cannot replay")
            return None
        if closure is not None:
            _soft(tr, tr.fail, "Optimizer.step(closure) is not supported in compiled functions")
            return None
        for p in (p for g in opt.param_groups for p in g["params"]):
            tr.touch(p, "read")
        who = type(opt).__name__

        def rec():
            for gi, group in enumerate(opt.param_groups):
                entry = opt._plans[gi]
                layout, params, n, plans = entry
                per_dtype = {}
                for p in params:
                    per_dtype.setdefault(p._data.dtype, []).append(p)
                args = opt._args(group)
                for pl, ps in zip(plans, per_dtype.values()):
                    grads = []
                    for p in ps:
                        tr.ref(p._data, who)
                        if p.grad is None:
                            grads.append(None)
                            continue
                        gd = p.grad._data
                        if not gd.flags.c_contiguous or gd.dtype != p._data.dtype:
                            tr.fail(f"{who}.step: a non-contiguous or mistyped .grad")
                        grads.append(tr.ref(gd, who))
                    total = sum(p._data.size for p in ps if p.grad is not None)
                    si = tr.add("optim", f"{who}.step", optim=pl, grads=grads, hyper=args,
                                par=int(total >= _NOGIL_MIN))
                    tr.optims.append((opt, gi, entry, layout, args, si))
        return lambda: _soft(tr, rec) if tr.mine() else None

    def module_call(module):
        if tr.mine():
            tr.modules[id(module)] = module

    # gradient clipping: one plan step (FG_P_CLIP) that computes the norm and the scale
    # and applies it at every replay with the floating-point operations of the eager
    # NumPy code, so the decision whether to clip is taken anew at each call
    def clip_grad(name, grads, limit, norm_type, error_if_nonfinite):
        if not tr.mine() or not grads:
            return None
        arrays = [g._data for g in grads]
        refs = []

        def check():
            if error_if_nonfinite:
                tr.fail(f"{name}(error_if_nonfinite=True) raises or not from the gradients' "
                        "values, which a plan cannot replay")
            if norm_type is not None and norm_type not in (1.0, 2.0, float("inf")):
                tr.fail(f"{name}: norm_type {norm_type} (compiled steps clip with norm_type "
                        "1, 2 or inf)")
            if len({a.dtype for a in arrays}) != 1 or arrays[0].dtype.kind != "f":
                tr.fail(f"{name}: gradients of several dtypes")
            if any(not a.flags.c_contiguous or a.size == 0 for a in arrays):
                tr.fail(f"{name}: a non-contiguous or empty gradient")
            refs.extend(tr.ref(a, name) for a in arrays)
        try:
            check()
        except _Unsupported:
            return None

        def after(total):
            if not tr.mine():
                return

            def rec():
                if norm_type is not None and (total is None or total.dtype != arrays[0].dtype):
                    tr.fail(f"{name}: unexpected total norm")
                scratch = np.empty(len(arrays), np.float64)
                tr.keep.append(scratch)
                outs = ([tr.new(total), tr.new(scratch)] if norm_type is not None
                        else [None, None])
                for a in arrays:
                    tr.ref(a, name)
                tr.add("clip", name, op=0 if norm_type is not None else 1, grads=refs,
                       numel=[a.size for a in arrays], outs=outs,
                       s=[float(limit), float(norm_type or 0.0)], is64=_is64(arrays[0]))
            _soft(tr, rec)
        return after

    # a scheduler's step is Python arithmetic on the optimizer's hyperparameters: a replay
    # calls it again, before the plan (before the optimizer steps read the learning rate)
    # or after it, where the traced call stepped it
    def sched_step(sched, args):
        if not tr.mine():
            return
        who = type(sched).__name__
        if args:
            _soft(tr, tr.fail, f"{who}.step() with arguments (a metric, an epoch): a plan would "
                  "freeze them; step the scheduler outside the compiled function")
        elif id(sched) not in tr.reach:
            _soft(tr, tr.fail, f"{who} made inside the compiled function (a replay would step "
                  "one scheduler; eager execution makes a new one per call)")
        else:
            tr.scheds.append((sched, len(tr.optims)))

    # a float tensor made by zeros / ones (a recurrent layer's initial state) inside the
    # function: a fill step, so a replay makes it anew
    def filled(arr, value, name):
        if not tr.mine():
            return

        def rec():
            if arr.dtype.kind != "f" or not arr.flags.c_contiguous:
                tr.fail(f"{name}: a {arr.dtype} tensor made inside the function")
            tr.add("fill", name, outs=[tr.new(arr)], n=[arr.size], s=[float(value)],
                   is64=_is64(arr))
        _soft(tr, rec)

    # an array an op made in NumPy from shapes and Python arguments only (the causal
    # mask): fixed for the plan's input signature, read as a constant by replays
    def shape_const(arr, name):
        if tr.mine():
            tr.consts.add(id(_root(arr)))
            tr.keep.append(arr)

    return {"filled": filled, "shape_const": shape_const,
            "grad_seed": grad_seed, "xent_reduce": xent_reduce, "dropout": dropout,
            "embedding": embedding, "numpy_copy": numpy_copy,
            "numpy_assemble": numpy_assemble, "batch_norm": batch_norm,
            "batch_count": batch_count, "inplace": inplace,
            "grad_store": grad_store, "accum_target": accum_target, "zero_grad": zero_grad,
            "optim_step": optim_step, "module_call": module_call, "clip_grad": clip_grad,
            "sched_step": sched_step}
