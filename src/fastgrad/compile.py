"""fastgrad.compile: trace a training step once, replay it in C with no Python per op.

    step = fastgrad.compile(step_fn)          # or @fastgrad.compile, compile(fn, fallback="eager")
    loss = step(x, y)                         # first call: traced (runs eagerly, records)
    loss = step(x, y)                         # later calls: one C call replays the plan

How it works
------------
Tracing runs ``fn`` eagerly once with the kernel backend (``fastgrad._state.backend.k``)
swapped for a recorder.  Every kernel call the ops, the backward pass and the optimizer
make is recorded with its operands; the eager results are what the first call returns, so
a traced call is an ordinary eager call.  Because the plan replays exactly the kernels
eager execution called, with the same arguments and thread counts, a compiled step gives
the same parameters as eager execution, bit for bit.

Each array a kernel touches must be known to the recorder: the output of an earlier
recorded kernel, an input tensor passed to ``fn`` (positionally; replays read the new
arguments in place, no copy), a tensor ``fn`` reaches when the trace starts through its
closure, the globals its code names, its bound object or its arguments (parameters,
buffers and gradients of modules, optimizer parameters and state, tensors in containers:
read in place at each replay), or a constant fixed by the program (Python scalars, the
ones that seed ``backward()``).  An array made by NumPy code outside the kernels (a
dropout mask, a tensor factory called inside ``fn``, an op with untraced NumPy work)
makes the trace unsupported: a ``CompileError`` naming the op, or with
``fallback="eager"`` the function runs eagerly for that signature from then on.  So are
kernels outside the supported set (GEMM/linear with fused epilogues, unary and binary
elementwise ops and their backward kernels, sum/mean/logsumexp reductions, softmax and
log-softmax, cross-entropy, strided copies, the optimizers, 1-D/2-D convolution and its
backward (any subset of input/weight/bias gradients; also transposed convolution), max,
average and adaptive average pooling and their backward, batch/layer/group normalization
and their backward), in-place tensor ops, ``create_graph=True``,
``Optimizer.step(closure)``, dropout in training mode (NumPy work) and BatchNorm modules
with ``momentum=None`` in training mode (the momentum is computed in Python from the
step count).
Conversions of tensors to Python values (``.item()``, ``.tolist()``, ``.numpy()``,
``float()``, ``int()``, ``bool()``) raise inside a compiled function (or make it eager
with ``fallback="eager"``).  Python control flow is captured as traced (as
``torch.jit.trace`` does): a branch on a Python value is taken the way it was taken while
tracing, and Python side effects in ``fn`` (appending to a list, printing, counters) happen
only when ``fn`` actually runs (tracing, the second-call check, eager fallback), not on
replays.

What a kernel-level recorder cannot see -- NumPy arithmetic on ``tensor.data`` (a manual
``p.data -= lr * p.grad.data``, an in-place buffer update), a Python number computed from
``x.data`` -- is caught by a check: the second call of every plan runs the plan, restores
the state, runs ``fn`` eagerly and compares parameters, buffers, optimizer state,
gradients and returned tensors bit for bit.  A mismatch raises ``CompileError`` (that
call's results are the eager ones) and the signature runs eagerly from then on.  (A value
frozen this way that happens to be equal on the first two calls is not caught; keep
Python-level reads of tensor data out of compiled functions.)

Four places where eager code works on Python values are traced at the op level instead:
``batch_norm``'s NumPy work around its C kernels (the inverse standard deviation, the
copy of the running mean in eval mode, the running-statistics update in training mode,
and a BatchNorm module's ``num_batches_tracked`` count) is replayed by small C steps that
do the same floating-point operations in the same order and precision as the NumPy
expressions (so running statistics stay bitwise equal to eager ones);
the mean/sum reduction of ``cross_entropy`` (the count of non-ignored targets is
recomputed at each replay, the loss summed in NumPy's pairwise order), the gradient
store into ``.grad`` (adopt, copy or accumulate; a weight gradient that the linear or
matmul backward adds straight into an existing ``.grad`` is the GEMM's own beta=1 step), and ``Optimizer.step`` (one fused
multi-tensor update per group and dtype: the optimizer's own ``OptimPlan`` with the
plan's gradient buffers; hyperparameters such as ``lr`` are read at every call, so
learning-rate schedulers work without retracing).  ``zero_grad`` is traced as well.

Why record kernels rather than compile the graph: every fastgrad op, backward formula and
optimizer already ends in one call of a C kernel with a uniform argument convention, so
recording those calls reuses all of them unchanged (including the fused ones: Linear with
its bias and activation in the GEMM epilogue, softmax cross-entropy forward and backward
in one kernel each, one multi-tensor kernel for all parameters of an optimizer group), and
replaying the same calls with the same arguments makes compiled and eager results
identical, which keeps the tests exact.  The price is that work done outside the kernels
must be found (the reachability rule, the op-level hooks above, the second-call check).
No further fusion is done at plan level: fusing kernels eager mode runs separately would
change rounding and lose bitwise agreement, and on the small networks this targets the
time went to Python, which the replay removes.

Memory: intermediates live in one arena.  A liveness pass gives each buffer an offset,
reusing memory whose last reader has run (greedy, largest first), so a replay allocates
nothing but the returned tensors.  ``plan_info()`` reports the arena size.

Semantics after a replay
------------------------
* Parameters and optimizer state are updated in place, as in eager mode.
* ``p.grad`` is a tensor over the plan's gradient buffer: the same tensor object at every
  call, overwritten by the next call (eager mode with ``zero_grad(set_to_none=True)``
  makes a new tensor per step; copy ``.grad`` if you keep it across steps).
* Returned tensors are new tensors holding copies of the results, detached from any
  graph (``requires_grad`` False).
* Tensor version counters are not bumped by a replay.

Signature and guards: a plan is keyed by the tensor arguments' shapes, dtypes,
requires_grad flags and contiguity, the other arguments' values, and grad mode; before a
replay it checks that the modules it ran are in the same training mode, parameters still
hold the arrays it points at, optimizer plans and state layouts are unchanged, and
``.grad`` entries are as traced (a step without ``zero_grad`` accumulates, as in eager
mode).  A failed guard traces a new variant of the signature (so train and eval steps
each keep a plan); at most ``max_plans`` variants are cached (oldest dropped), and a
warning is issued when a function keeps retracing.  Tensor arguments must not be views
into a larger array (pass a contiguous tensor).  A compiled function serves one call at a
time (a lock; its arena is shared by its calls).

Randomness: dropout draws its mask from fastgrad's global generator with NumPy, which a
plan does not replay, so dropout in training mode is unsupported: ``CompileError``, or
with ``fallback="eager"`` the whole call runs eagerly (the same generator, the same masks
as eager execution).  In eval mode dropout is the identity and the step compiles.  Only
the C backend compiles; under the NumPy reference backend a compiled function runs
eagerly.
"""
import collections
import sys
import threading
import types
import warnings

import numpy as np

from fastgrad import _factory
from fastgrad.ops import _record as _rec, elementwise as _ew, inplace as _inp, loss as _ls
from fastgrad.ops import shape as _sh
from fastgrad._C import _kernels as _K
from fastgrad._state import backend, grad_mode, trace as _trace_state
from fastgrad._tensor import Tensor
from fastgrad.autograd import engine as _engine

__all__ = ["compile", "CompileError", "CompiledFunction"]

_make = Tensor._make
_ALIGN = 64
_NOGIL_MIN = 16384                 # the wrappers' thresholds for using nthreads (_kernels.pyx)
_GEMM_PAR = 32768
_LOCK = threading.RLock()          # one trace at a time (the backend swap is per process)
_RETRACE = object()


class CompileError(RuntimeError):
    """A compiled function did something the tracer cannot replay faithfully."""


class _Unsupported(Exception):
    pass


def _root(a):
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _ptr(a):
    return a.__array_interface__["data"][0]


class _Buf:
    __slots__ = ("arr", "kind", "first", "last", "persist", "offset", "base", "nbytes",
                 "size_", "last_")

    def __init__(self, arr, kind, first):
        self.arr = arr            # the root ndarray (kept alive while tracing)
        self.kind = kind          # "inter", "ext", "input", "const"
        self.first = first
        self.last = first
        self.persist = False      # read after the run (returned, or a .grad)
        self.offset = -1
        self.base = -1
        self.nbytes = arr.nbytes


# ---- the tracer -------------------------------------------------------------------------
class _Tracer:
    def __init__(self, strict, fname):
        self.strict = strict
        self.active = True
        self.fname = fname
        self.thread = threading.get_ident()
        self.steps = []            # step dicts for _K.Plan (operands as (_Buf, offset))
        self.bufs = {}             # id(root) -> _Buf
        self.failure = None
        self.inputs = {}           # id(root) -> input position
        self.modules = {}          # id -> module run during the trace
        self.touched = {}          # id(tensor) -> [tensor, entry grad, first touch]
        self.optims = []           # (optimizer, group index, plans entry, layout, args, step index)
        self.consts = set()
        self.pre = {}
        self.owners = {}
        self.names = []            # per step, the op name for error messages
        self.keep = []             # arrays whose ids the trace relies on
        self.bn = None             # the arguments of the batch_norm call being traced

    def mine(self):
        """True while this tracer records: during the trace, in the tracing thread, and
        no failure yet (a graph made while tracing may be used after it: not recorded)."""
        return self.active and self.failure is None and threading.get_ident() == self.thread

    def touch(self, t, how):
        """First touch of t's .grad in this trace: remember what it held and how."""
        if id(t) not in self.touched:
            self.touched[id(t)] = [t, t.grad, how]

    # failures: raise now (strict) or remember and let the eager run finish (fallback)
    def fail(self, msg):
        if self.failure is None:
            self.failure = msg
        if self.strict:
            raise CompileError(f"compile({self.fname}): {msg}")
        raise _Unsupported(msg)

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
                b = _Buf(r, "input", i)
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
        return (b, _ptr(a) - _ptr(r))

    def new(self, a):
        r = _root(a)
        b = self.bufs.get(id(r))
        i = len(self.steps)
        if b is None:
            b = _Buf(r, "inter", i)
            self.bufs[id(r)] = b
        b.last = i
        return (b, _ptr(a) - _ptr(r))

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
        isz = src.itemsize
        if any(s % isz for s in src.strides) or src.ndim > 16:
            self.fail(f"{what}: operand layout not supported")
        ins = [self.ref(src, what)]
        self.add("copy", what + " (copy)", ins=ins, outs=[self.new(out)], ndim=src.ndim,
                 shape=list(src.shape), sa=[s // isz for s in src.strides],
                 is64=int(src.dtype == np.float64), par=int(src.size >= _NOGIL_MIN))


def _existing_arrays(fn, args, kwargs):
    """{id(root array): root array} for the tensors a traced call may read in place: those
    reachable, when the trace starts, from the function's closure, the globals its code
    names, its bound object, and its arguments -- through modules (parameters, buffers,
    gradients), optimizers (parameters and state), containers and plain objects' attributes
    (two levels deep).  A kernel reading any other array that no traced kernel produced
    makes the trace unsupported (a tensor made inside the function would be frozen)."""
    from fastgrad.nn.module import Module
    from fastgrad.optim.optimizer import Optimizer
    res = {}
    owners = {}        # id(root) -> [(tensor, its data array)], for the replay's guards
    seen = set()

    def add_tensor(t):
        for a in (t.data, t.grad.data if t.grad is not None else None):
            if isinstance(a, np.ndarray):
                r = _root(a)
                res[id(r)] = r
        if isinstance(t.data, np.ndarray):
            owners.setdefault(id(_root(t.data)), []).append((t, t.data))

    def walk(o, depth):
        if id(o) in seen or o is None or isinstance(o, (int, float, str, bytes, bool)):
            return
        seen.add(id(o))
        if isinstance(o, Tensor):
            add_tensor(o)
        elif isinstance(o, Module):
            for t in o.parameters():
                add_tensor(t)
            for t in o.buffers():
                if t is not None:
                    add_tensor(t)
            if depth > 0:
                for v in vars(o).values():
                    if not isinstance(v, (dict, Module)):
                        walk(v, depth - 1)
        elif isinstance(o, Optimizer):
            for g in o.param_groups:
                for t in g["params"]:
                    add_tensor(t)
            for st in o.state.values():
                for v in st.values():
                    if isinstance(v, Tensor):
                        add_tensor(v)
        elif depth > 0:
            if isinstance(o, (list, tuple, set, frozenset)):
                for v in o:
                    walk(v, depth - 1)
            elif isinstance(o, dict):
                for v in o.values():
                    walk(v, depth - 1)
            elif (hasattr(o, "__dict__") and not isinstance(o, (type, types.ModuleType))
                  and not callable(o)):
                for v in vars(o).values():
                    walk(v, depth - 1)

    roots = list(args) + list(kwargs.values())
    f = fn
    while f is not None:
        for c in getattr(f, "__closure__", None) or ():
            try:
                roots.append(c.cell_contents)
            except ValueError:
                pass
        code, g = getattr(f, "__code__", None), getattr(f, "__globals__", None)
        if code is not None and g is not None:
            roots.extend(g[n] for n in code.co_names if n in g)
        if getattr(f, "__self__", None) is not None:
            roots.append(f.__self__)
        f = getattr(f, "__wrapped__", None) or getattr(f, "func", None)
    for o in roots:
        walk(o, 2)
    return res, owners


def _is_scalar_const(r):
    """A 0-d read-only array from fastgrad's Python-scalar cache: a program constant."""
    if r.ndim != 0 or r.flags.writeable:
        return False
    for t in _rec._scalar_cache.values():
        if t.data is r:
            return True
    return False


def _is64(a):
    return int(a.dtype == np.float64)


def _operand(x):
    """(trans, ld) for the GEMM's view of a 2-D array, as the C wrapper decides, or None."""
    isz = x.itemsize
    r, c = x.shape[-2:]
    sr, sc = x.strides[-2:]
    if sr % isz or sc % isz:
        return None
    sr //= isz
    sc //= isz
    if (sc == 1 or c <= 1) and (sr >= c or r <= 1) and sr >= 0:
        ld = sr if r > 1 else (c if c > 1 else 1)
        return 0, max(ld, c, 1)
    if (sr == 1 or r <= 1) and (sc >= r or c <= 1) and sc >= 0:
        ld = sc if c > 1 else (r if r > 1 else 1)
        return 1, max(ld, r, 1)
    return None


class _Recorder:
    """Stands in for the kernel module while tracing: calls the real kernel, then records
    the call (only for the tracing thread).  Kernels outside the supported set make the
    trace unsupported."""

    _PASS = {"get_num_threads", "have_openmp", "omp_max_threads", "get_isa", "cpu_best_isa",
             "TargetIndexError"}

    def __init__(self, tr):
        self._tr = tr

    def __getattr__(self, name):
        real = getattr(_K, name)
        if name in self._PASS or not callable(real) or isinstance(real, type):
            return real
        tr = self._tr

        def unsupported(*a, **k):
            res = real(*a, **k)
            if tr.mine():
                try:
                    tr.fail(f"kernel {name!r} is not supported in compiled functions yet")
                except _Unsupported:
                    pass
            return res
        return unsupported

    def _rec(self, fn, *a):
        tr = self._tr
        if tr.mine():
            try:
                fn(tr, *a)
            except _Unsupported:
                pass          # fallback mode: the eager run goes on, the signature runs eagerly

    # elementwise
    def unary(self, op, x, alpha=0.0, beta=0.0):
        y = _K.unary(op, x, alpha, beta)
        self._rec(_r_unary, y, op, x, alpha, beta)
        return y

    def unary_bwd(self, op, g, x, y, alpha=0.0, beta=0.0):
        gx = _K.unary_bwd(op, g, x, y, alpha, beta)
        self._rec(_r_unary_bwd, gx, op, g, x, y, alpha, beta)
        return gx

    def binary(self, op, a, b):
        out = _K.binary(op, a, b)
        self._rec(_r_binary, out, op, a, b)
        return out

    def copy(self, x):
        out = _K.copy(x)
        self._rec(lambda tr, out, x: tr._copy_step(x, out, "copy"), out, x)
        return out

    def contiguous(self, x):
        out = _K.contiguous(x)
        if out is not x:
            self._rec(lambda tr, out, x: tr._copy_step(x, out, "contiguous"), out, x)
        return out

    def reduce(self, op, x, dims):
        out = _K.reduce(op, x, dims)
        self._rec(_r_reduce, out, op, x, dims)
        return out

    def softmax(self, x, dim, log):
        y = _K.softmax(x, dim, log)
        self._rec(_r_softmax, y, x, dim, log)
        return y

    def softmax_bwd(self, g, y, dim, log):
        gx = _K.softmax_bwd(g, y, dim, log)
        self._rec(_r_softmax_bwd, gx, g, y, dim, log)
        return gx

    def xent(self, x, target, ignore_index, label_smoothing):
        loss, lsm = _K.xent(x, target, ignore_index, label_smoothing)
        self._rec(_r_xent, (loss, lsm), x, target, ignore_index, label_smoothing)
        return loss, lsm

    def xent_bwd(self, g, lsm, target, ignore_index, label_smoothing):
        gx = _K.xent_bwd(g, lsm, target, ignore_index, label_smoothing)
        self._rec(_r_xent_bwd, gx, g, lsm, target, ignore_index, label_smoothing)
        return gx

    def matmul(self, a, b, out=None, beta=0.0):
        res = _K.matmul(a, b, out, beta)
        self._rec(_r_matmul, res, a, b, out, beta)
        return res

    def linear(self, x, w, bias, act=None):
        out = _K.linear(x, w, bias, act)
        self._rec(_r_linear, out, x, w, bias, act)
        return out


    # convolution, pooling, normalization (conv.h): each wrapper calls its C kernel with
    # the full thread count, so every step is recorded with par = 1
    def conv2d(self, x, w, bias, stride, padding, dilation, groups, oh, ow):
        y = _K.conv2d(x, w, bias, stride, padding, dilation, groups, oh, ow)
        self._rec(_r_conv, y, x, w, bias, stride, padding, dilation, groups)
        return y

    def conv2d_bwd(self, g, x, w, xshape, wshape, stride, padding, dilation, groups,
                   want_gx, want_gw, want_gb):
        res = _K.conv2d_bwd(g, x, w, xshape, wshape, stride, padding, dilation, groups,
                            want_gx, want_gw, want_gb)
        self._rec(_r_conv_bwd, res, g, x, w, xshape, wshape, stride, padding, dilation, groups)
        return res

    def pool2d(self, op, x, oh, ow, kernel=(1, 1), stride=(1, 1), padding=(0, 0),
               dilation=(1, 1), count_include_pad=True):
        res = _K.pool2d(op, x, oh, ow, kernel, stride, padding, dilation, count_include_pad)
        self._rec(_r_pool, res, op, x, kernel, stride, padding, dilation, count_include_pad)
        return res

    def pool2d_bwd(self, op, g, idx, xshape, kernel=(1, 1), stride=(1, 1), padding=(0, 0),
                   dilation=(1, 1), count_include_pad=True):
        gx = _K.pool2d_bwd(op, g, idx, xshape, kernel, stride, padding, dilation,
                           count_include_pad)
        self._rec(_r_pool_bwd, gx, op, g, idx, kernel, stride, padding, dilation,
                  count_include_pad)
        return gx

    def bn_stats(self, x):
        res = _K.bn_stats(x)
        self._rec(_r_bn_stats, res, x)
        return res

    def bn_apply(self, x, mean, invstd, w, b):
        y = _K.bn_apply(x, mean, invstd, w, b)
        self._rec(_r_bn_apply, y, x, mean, invstd, w, b)
        return y

    def bn_bwd(self, x, g, mean, invstd, w, training, want_gx, want_gw, want_gb):
        res = _K.bn_bwd(x, g, mean, invstd, w, training, want_gx, want_gw, want_gb)
        self._rec(_r_bn_bwd, res, x, g, mean, invstd, w, training)
        return res

    def rownorm(self, x, d, groups, s, w, b, eps):
        res = _K.rownorm(x, d, groups, s, w, b, eps)
        self._rec(_r_rownorm, res, x, d, groups, s, w, b, eps)
        return res

    def rownorm_bwd(self, x, g, mean, rstd, w, d, groups, s, want_gx, want_gw, want_gb):
        res = _K.rownorm_bwd(x, g, mean, rstd, w, d, groups, s, want_gx, want_gw, want_gb)
        self._rec(_r_rownorm_bwd, res, x, g, mean, rstd, w, d, groups, s)
        return res


def _r_unary(tr, y, op, x, alpha, beta):
    name = _K.U_NAMES.get(op, "unary")
    xd = tr.dense(x, name)
    tr.add("unary", name, op=op, ins=[tr.ref(xd, name)], outs=[tr.new(y)], n=[y.size],
           s=[alpha, beta], is64=_is64(y), par=int(y.size >= _NOGIL_MIN))


def _r_unary_bwd(tr, gx, op, g, x, y, alpha, beta):
    name = _K.U_NAMES.get(op, "unary") + "_backward"
    ins = [tr.ref(tr.dense(g, name), name),
           None if x is None else tr.ref(tr.dense(x, name), name),
           None if y is None else tr.ref(tr.dense(y, name), name)]
    tr.add("unary_bwd", name, op=op, ins=ins, outs=[tr.new(gx)], n=[gx.size],
           s=[alpha, beta], is64=_is64(gx), par=int(gx.size >= _NOGIL_MIN))


def _bstrides(x, nd):
    isz = x.itemsize
    st = []
    for i in range(nd):
        j = i - (nd - x.ndim)
        st.append(x.strides[j] // isz if j >= 0 and x.shape[j] != 1 else 0)
    return st


def _r_binary(tr, out, op, a, b):
    name = _K.B_NAMES.get(op, "binary")
    nd = out.ndim
    if any(s % a.itemsize for s in a.strides + b.strides) or nd > 16:
        tr.fail(f"{name}: operand layout not supported")
    tr.add("binary", name, op=op, ins=[tr.ref(a, name), tr.ref(b, name)], outs=[tr.new(out)],
           ndim=nd, shape=list(out.shape), sa=_bstrides(a, nd), sb=_bstrides(b, nd),
           is64=_is64(out), par=int(out.size >= _NOGIL_MIN))


def _r_reduce(tr, out, op, x, dims):
    name = [k for k, v in _K.R.items() if v == op][0]
    if len(dims) and dims[-1] - dims[0] != len(dims) - 1:
        tr.fail(f"{name}: reduction over non-adjacent dims {dims}")
    if x.size == 0:
        tr.fail(f"{name}: reduction of an empty tensor")
    xd = tr.dense(x, name)
    shape = x.shape
    outer = n = inner = 1
    if len(dims):
        for d in range(dims[0]):
            outer *= shape[d]
        for d in dims:
            n *= shape[d]
        for d in range(dims[-1] + 1, x.ndim):
            inner *= shape[d]
    else:
        for s in shape:
            outer *= s
    tr.add("reduce", name, op=op, ins=[tr.ref(xd, name)], outs=[tr.new(out)],
           n=[outer, n, inner], is64=_is64(out), par=int(outer * n * inner >= _NOGIL_MIN))


def _split(x, dim):
    outer = inner = 1
    for d in range(dim):
        outer *= x.shape[d]
    for d in range(dim + 1, x.ndim):
        inner *= x.shape[d]
    return [outer, x.shape[dim], inner]


def _r_softmax(tr, y, x, dim, log):
    name = "log_softmax" if log else "softmax"
    xd = tr.dense(x, name)
    n = _split(x, dim)
    tr.add("softmax", name, op=int(bool(log)), ins=[tr.ref(xd, name)], outs=[tr.new(y)],
           n=n, is64=_is64(y), par=int(n[0] * n[1] * n[2] >= _NOGIL_MIN))


def _r_softmax_bwd(tr, gx, g, y, dim, log):
    name = "log_softmax_backward" if log else "softmax_backward"
    n = _split(g, dim)
    tr.add("softmax_bwd", name, op=int(bool(log)),
           ins=[tr.ref(tr.dense(g, name), name), tr.ref(tr.dense(y, name), name)],
           outs=[tr.new(gx)], n=n, is64=_is64(gx), par=int(n[0] * n[1] * n[2] >= _NOGIL_MIN))


def _target_ref(tr, target, name):
    t = np.ascontiguousarray(target, dtype=np.int64)
    if not isinstance(target, np.ndarray) or _root(t) is not _root(target):
        tr.fail(f"{name}: the target must be an int64 tensor")
    return tr.ref(t, name)


def _r_xent(tr, res, x, target, ignore_index, label_smoothing):
    loss, lsm = res
    xd = tr.dense(x, "cross_entropy")
    rows, c = xd.shape
    tr.add("xent", "cross_entropy",
           ins=[tr.ref(xd, "cross_entropy"), _target_ref(tr, target, "cross_entropy")],
           outs=[tr.new(loss), tr.new(lsm)], n=[rows, c, ignore_index], s=[label_smoothing],
           is64=_is64(lsm), par=int(rows * c >= _NOGIL_MIN))


def _r_xent_bwd(tr, gx, g, lsm, target, ignore_index, label_smoothing):
    name = "cross_entropy_backward"
    if g.dtype != lsm.dtype:
        tr.fail(f"{name}: gradient dtype {g.dtype} differs from {lsm.dtype}")
    rows, c = lsm.shape
    tr.add("xent_bwd", name, ins=[tr.ref(tr.dense(g, name), name),
                                  tr.ref(tr.dense(lsm, name), name),
                                  _target_ref(tr, target, name)],
           outs=[tr.new(gx)], n=[rows, c, ignore_index], s=[label_smoothing],
           is64=_is64(gx), par=int(rows * c >= _NOGIL_MIN))


def _lay(tr, x, name):
    """(array the GEMM reads, trans, ld): x itself, or a recorded dense copy where the
    wrapper copies (np.ascontiguousarray) a layout the GEMM cannot read."""
    lay = _operand(x)
    if lay is None:
        if x.flags.c_contiguous:
            tr.fail(f"{name}: an operand with strides {x.strides} is not supported")
        x = tr.dense(x, name)
        lay = _operand(x)
    return x, lay[0], lay[1]


def _r_matmul(tr, res, a, b, out, beta):
    if a.ndim != 2 or b.ndim != 2:
        tr.fail("matmul: batched products are not supported in compiled functions yet")
    a, ta, lda = _lay(tr, a, "matmul")
    b, tb, ldb = _lay(tr, b, "matmul")
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    ins = [tr.ref(a, "matmul"), tr.ref(b, "matmul"), None]
    outs = [tr.ref(res, "matmul") if out is not None else tr.new(res)]
    tr.add("gemm", "matmul", ins=ins, outs=outs, is64=_is64(res),
           par=int(m * n * k >= _GEMM_PAR),
           gemm=dict(transa=ta, transb=tb, m=m, n=n, k=k, alpha=1.0,
                     beta=float(beta) if out is not None else 0.0, lda=lda, ldb=ldb,
                     ldc=max(n, 1), act=0))


def _r_linear(tr, out, x, w, bias, act):
    if x.ndim != 2 or w.ndim != 2:
        tr.fail("linear: only 2-D inputs are supported in compiled functions")
    x, ta, lda = _lay(tr, x, "linear")
    w, tw, ldb = _lay(tr, w, "linear")
    m, k = x.shape
    n = w.shape[0]
    if m == 0 or n == 0:
        return
    bref = None
    if bias is not None:
        bref = tr.ref(tr.dense(bias, "linear"), "linear")
    tr.add("gemm", "linear", ins=[tr.ref(x, "linear"), tr.ref(w, "linear"), bref],
           outs=[tr.new(out)], is64=_is64(out), par=int(m * n * k >= _GEMM_PAR),
           gemm=dict(transa=ta, transb=1 - tw, m=m, n=n, k=k, alpha=1.0, beta=0.0,
                     lda=lda, ldb=ldb, ldc=n, act=_K.ACT[act]))


# ---- convolution, pooling, normalization ---------------------------------------------------
def _opt_ref(tr, a, name):
    """A dense operand that may be absent (None)."""
    return None if a is None else tr.ref(tr.dense(a, name), name)


def _opt_new(tr, a):
    return None if a is None else tr.new(a)


def _conv_geo(xshape, wshape, oh, ow, stride, padding, dilation, groups):
    n, c_in, h, w = xshape
    c_out, _, kh, kw = wshape
    return [n, c_in, h, w, c_out, kh, kw, oh, ow, stride[0], stride[1], padding[0], padding[1],
            dilation[0], dilation[1], groups]


def _r_conv(tr, y, x, w, bias, stride, padding, dilation, groups):
    name = "conv2d"
    xd, wd = tr.dense(x, name), tr.dense(w, name)
    tr.add("conv", name, ins=[tr.ref(xd, name), tr.ref(wd, name), _opt_ref(tr, bias, name)],
           outs=[tr.new(y)], is64=_is64(y), par=1,
           shape=_conv_geo(xd.shape, wd.shape, y.shape[2], y.shape[3], stride, padding,
                           dilation, groups))


def _r_conv_bwd(tr, res, g, x, w, xshape, wshape, stride, padding, dilation, groups):
    name = "conv2d_backward"
    gx, gw, gb = res
    gd = tr.dense(g, name)
    tr.add("conv_bwd", name,
           ins=[_opt_ref(tr, x if gw is not None else None, name),
                _opt_ref(tr, w if gx is not None else None, name), tr.ref(gd, name)],
           outs=[_opt_new(tr, gx), _opt_new(tr, gw), _opt_new(tr, gb)], is64=_is64(gd), par=1,
           shape=_conv_geo(tuple(xshape), tuple(wshape), gd.shape[2], gd.shape[3], stride,
                           padding, dilation, groups))


def _pool_geo(xshape, oh, ow, kernel, stride, padding, dilation, cip):
    planes = 1
    for v in xshape[:-2]:
        planes *= v
    return [planes, xshape[-2], xshape[-1], oh, ow, kernel[0], kernel[1], stride[0], stride[1],
            padding[0], padding[1], dilation[0], dilation[1], int(bool(cip))]


def _pool_name(op):
    return "max_pool2d" if op == _K.POOL["max"] else "avg_pool2d"


def _r_pool(tr, res, op, x, kernel, stride, padding, dilation, cip):
    name = _pool_name(op)
    y, idx = res
    xd = tr.dense(x, name)
    tr.add("pool", name, op=op, ins=[tr.ref(xd, name)], outs=[tr.new(y), _opt_new(tr, idx)],
           is64=_is64(y), par=1,
           shape=_pool_geo(xd.shape, y.shape[-2], y.shape[-1], kernel, stride, padding,
                           dilation, cip))


def _r_pool_bwd(tr, gx, op, g, idx, kernel, stride, padding, dilation, cip):
    name = _pool_name(op) + "_backward"
    gd = tr.dense(g, name)
    iref = None
    if op == _K.POOL["max"]:
        if not isinstance(idx, np.ndarray) or idx.dtype != np.int64 or not idx.flags.c_contiguous:
            tr.fail(f"{name}: the indices must be a contiguous int64 array")
        iref = tr.ref(idx, name)
    tr.add("pool_bwd", name, op=op, ins=[tr.ref(gd, name), iref], outs=[tr.new(gx)],
           is64=_is64(gx), par=1,
           shape=_pool_geo(gx.shape, gd.shape[-2], gd.shape[-1], kernel, stride, padding,
                           dilation, cip))


def _ncs(x):
    s = 1
    for v in x.shape[2:]:
        s *= v
    return [x.shape[0], x.shape[1], s]


def _bn_ctx(tr, name):
    ctx = tr.bn
    if ctx is None:
        tr.fail(f"{name}: batch normalization kernels called outside F.batch_norm")
    return ctx


def _r_bn_stats(tr, res, x):
    """The batch statistics; in training mode with running statistics, also their update
    (NumPy work in F.batch_norm, replayed by a C step with the same rounding)."""
    name = "batch_norm"
    ctx = _bn_ctx(tr, name)
    mean, var = res
    xd = tr.dense(x, name)
    ncs = _ncs(xd)
    tr.add("bn_stats", name, ins=[tr.ref(xd, name)], outs=[tr.new(mean), tr.new(var)], n=ncs,
           is64=_is64(mean), par=1)
    ctx["var"] = var
    rm, rv = ctx["rm"], ctx["rv"]
    if rm is None and rv is None:
        return
    for t in (rm, rv):
        if t is not None and (t.data.dtype != mean.dtype or not t.data.flags.c_contiguous):
            tr.fail(f"{name}: running statistics of dtype {t.data.dtype} for {mean.dtype} input "
                    "(or non-contiguous ones) are not supported in compiled functions")
    m = float(ctx["momentum"])
    n = ncs[0] * ncs[2]
    tr.add("bn_running", name + " (running statistics)",
           ins=[tr.ref(mean, name), tr.ref(var, name)],
           outs=[None if rm is None else tr.ref(rm.data, name),
                 None if rv is None else tr.ref(rv.data, name)],
           n=[ncs[1]], s=[1 - m, m, n / (n - 1)], is64=_is64(mean))


def _r_bn_apply(tr, y, x, mean, invstd, w, b):
    """bn_apply, preceded by the NumPy work that made its mean and invstd: invstd from the
    variance (the batch's or the running one), and in eval mode the copy of the running
    mean."""
    name = "batch_norm"
    ctx = _bn_ctx(tr, name)
    if ctx["training"]:
        var = ctx.get("var")
        if var is None:
            tr.fail(f"{name}: batch statistics not traced")
        pin, pout = [None, tr.ref(var, name)], [None, tr.new(invstd)]
    else:
        rm, rv = ctx["rm"], ctx["rv"]
        for t in (rm, rv):
            if t.data.dtype != y.dtype or not t.data.flags.c_contiguous:
                tr.fail(f"{name}: running statistics of dtype {t.data.dtype} for {y.dtype} "
                        "input (or non-contiguous ones) are not supported in compiled "
                        "functions")
        pin, pout = [tr.ref(rm.data, name), tr.ref(rv.data, name)], [tr.new(mean), tr.new(invstd)]
    tr.add("bn_prep", name + " (inverse std)", ins=pin, outs=pout, n=[mean.shape[0]],
           s=[float(ctx["eps"])], is64=_is64(y))
    xd = tr.dense(x, name)
    tr.add("bn_apply", name, ins=[tr.ref(xd, name), tr.ref(mean, name), tr.ref(invstd, name),
                                  _opt_ref(tr, w, name), _opt_ref(tr, b, name)],
           outs=[tr.new(y)], n=_ncs(xd), is64=_is64(y), par=1)


def _r_bn_bwd(tr, res, x, g, mean, invstd, w, training):
    name = "batch_norm_backward"
    xd = tr.dense(x, name)
    tr.add("bn_bwd", name, op=int(bool(training)),
           ins=[tr.ref(xd, name), tr.ref(tr.dense(g, name), name), tr.ref(mean, name),
                tr.ref(invstd, name), _opt_ref(tr, w, name)],
           outs=[_opt_new(tr, r) for r in res], n=_ncs(xd), is64=_is64(xd), par=1)


def _r_rownorm(tr, res, x, d, groups, s, w, b, eps):
    name = "layer_norm"
    y, mean, rstd = res
    xd = tr.dense(x, name)
    tr.add("rownorm", name, ins=[tr.ref(xd, name), _opt_ref(tr, w, name), _opt_ref(tr, b, name)],
           outs=[tr.new(y), tr.new(mean), tr.new(rstd)], n=[xd.size // d, d, groups, s],
           s=[float(eps)], is64=_is64(y), par=1)


def _r_rownorm_bwd(tr, res, x, g, mean, rstd, w, d, groups, s):
    name = "layer_norm_backward"
    xd = tr.dense(x, name)
    tr.add("rownorm_bwd", name,
           ins=[tr.ref(xd, name), tr.ref(tr.dense(g, name), name), tr.ref(mean, name),
                tr.ref(rstd, name), _opt_ref(tr, w, name)],
           outs=[_opt_new(tr, r) for r in res], n=[xd.size // d, d, groups, s],
           is64=_is64(xd), par=1)

# ---- op-level hooks installed while tracing ------------------------------------------------
def _soft(tr, fn, *a):
    """Record with fn unless that fails in fallback mode (then the signature runs eagerly)."""
    try:
        fn(*a)
    except _Unsupported:
        pass


def _install(tr):
    """Patch the few eager paths that work on Python values, and the backend; returns the
    undo list.  Every patched path computes exactly what the eager one does."""
    from fastgrad.nn import functional as F
    from fastgrad.nn import module as M
    from fastgrad.optim import optimizer as OPT

    undo = []

    def patch(obj, name, new):
        undo.append((obj, name, getattr(obj, name)))
        setattr(obj, name, new)

    # the ones that seed backward(): a constant of the program
    orig_ones = _factory.ones_like

    def ones_like(x, *a, **k):
        t = orig_ones(x, *a, **k)
        if tr.mine():
            tr.consts.add(id(_root(t.data)))
            tr.keep.append(t.data)
        return t
    patch(_factory, "ones_like", ones_like)

    # cross_entropy with 'mean'/'sum': the eager path computes the count of kept targets
    # and the gradient scale in Python; the plan recomputes them at each replay
    orig_xent_rows = _ls._xent_rows

    def xent_rows(x, target, ignore_index, label_smoothing, scale=None):
        if scale is None or not tr.mine():
            return orig_xent_rows(x, target, ignore_index, label_smoothing, scale)
        red = sys._getframe(1).f_locals.get("reduction")
        loss_rows, lsm = _K.xent(x.data, target, ignore_index, label_smoothing)
        loss = np.asarray(loss_rows.sum() * loss_rows.dtype.type(scale) if scale != 1.0
                          else loss_rows.sum(), dtype=loss_rows.dtype)
        sidx = [-1]

        def rec():
            if red not in ("mean", "sum"):
                tr.fail("cross_entropy: reduction could not be identified")
            xd = tr.dense(x.data, "cross_entropy")
            rows, c = xd.shape
            sidx[0] = tr.add("xent_red", "cross_entropy", op=0 if red == "mean" else 1,
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
            return (_ls._xent_grad_composite(node.saved[0], g_rows, target, ignore_index, ls),)
        lsm = node.out
        rows, c = lsm.shape
        gd = g.data
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
    patch(_ls, "_xent_rows", xent_rows)

    orig_dropout = F.dropout

    def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
        if tr.mine() and training and p > 0.0:
            _soft(tr, tr.fail, "dropout draws a random mask with NumPy's generator at every "
                  "call, which a plan cannot replay; use compile(fn, fallback='eager') or "
                  "eval mode")
        return orig_dropout(input, p, training, inplace)
    patch(F, "dropout", dropout)

    # batch_norm: its NumPy work (the running-statistics update in training mode, the
    # inverse standard deviation, the copy of the running mean in eval mode) is recorded
    # by the bn_stats / bn_apply recorders, which read this call's arguments from tr.bn
    orig_bn = F.batch_norm

    def batch_norm(input, running_mean, running_var, weight=None, bias=None,  # noqa: A002
                   training=False, momentum=0.1, eps=1e-5):
        if not tr.mine():
            return orig_bn(input, running_mean, running_var, weight, bias, training, momentum,
                           eps)
        prev = tr.bn
        tr.bn = {"rm": running_mean, "rv": running_var, "training": bool(training),
                 "momentum": momentum, "eps": eps}
        try:
            return orig_bn(input, running_mean, running_var, weight, bias, training, momentum,
                           eps)
        finally:
            tr.bn = prev
    patch(F, "batch_norm", batch_norm)

    # BatchNorm modules count their training steps in a NumPy buffer (a counter step);
    # momentum=None derives the momentum from that count in Python, which a plan would
    # freeze
    from fastgrad.nn import layers as L
    orig_bn_fwd = L._BatchNorm.forward

    def bn_forward(self, x):
        counting = tr.mine() and self.training and self.track_running_stats
        if counting and self.momentum is None:
            _soft(tr, tr.fail, f"{type(self).__name__}(momentum=None) computes its momentum in "
                  "Python from the step count, which a plan would freeze; give a momentum or "
                  "use compile(fn, fallback='eager')")
        nbt = self.num_batches_tracked
        out = orig_bn_fwd(self, x)
        if counting and tr.mine():
            def rec():
                d = nbt.data
                if d.dtype != np.int64 or d.size != 1:
                    tr.fail(f"{type(self).__name__}: unexpected num_batches_tracked")
                tr.add("counter", type(self).__name__ + ".num_batches_tracked",
                       outs=[tr.ref(d, "num_batches_tracked")], n=[1])
            _soft(tr, rec)
        return out
    patch(L._BatchNorm, "forward", bn_forward)

    orig_inplace = _inp._inplace_apply

    def inplace_apply(x, name, *a, **k):
        if tr.mine():
            _soft(tr, tr.fail, f"{name}: in-place tensor ops are not supported in compiled "
                  "functions")
        return orig_inplace(x, name, *a, **k)
    patch(_inp, "_inplace_apply", inplace_apply)

    # the gradient store: adopt, copy or accumulate, as the engine does
    orig_store = _engine._store_grad

    def store_grad(t, g, create_graph):
        if not tr.mine():
            return orig_store(t, g, create_graph)
        tr.touch(t, "store")
        old = t.grad
        tag = g._name
        gd = g.data
        orig_store(t, g, create_graph)

        def rec():
            if create_graph:
                tr.fail("backward(create_graph=True) is not supported in compiled functions")
            if old is not None:
                od = old.data
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
            new = t.grad.data
            if tag is _engine.FRESH and new is gd:
                tr.ref(new, "store_grad")
            else:
                tr._copy_step(gd, new, "store_grad")
        _soft(tr, rec)
    patch(_engine, "_store_grad", store_grad)

    # a backward adding a gradient straight into an existing .grad (engine.accum_target):
    # the GEMM that does it records itself (beta=1 into the .grad buffer); the .grad is
    # touched here as the store above would touch it, so replays guard it the same way
    orig_target = _engine.accum_target

    def accum_target(e, dtype, shape, operands):
        t = orig_target(e, dtype, shape, operands)
        if t is not None and tr.mine():
            tr.touch(e, "store")
        return t
    patch(_engine, "accum_target", accum_target)

    def zero_grad_hook(orig, is_opt):
        def zero_grad(self, set_to_none=True):
            if not tr.mine():
                return orig(self, set_to_none)
            ps = ([p for g in self.param_groups for p in g["params"]] if is_opt
                  else list(self.parameters()))

            def rec():
                for p in ps:
                    tr.touch(p, "none" if set_to_none else "zero")
                    if p.grad is not None and not set_to_none:
                        gd = p.grad.data
                        if not gd.flags.c_contiguous or gd.dtype.kind != "f":
                            tr.fail("zero_grad: a non-contiguous .grad")
                        tr.add("fill", "zero_grad", outs=[tr.ref(gd, "zero_grad")],
                               n=[gd.size], s=[0.0], is64=_is64(gd))
            _soft(tr, rec)
            return orig(self, set_to_none)
        return zero_grad
    patch(OPT.Optimizer, "zero_grad", zero_grad_hook(OPT.Optimizer.zero_grad, True))
    patch(M.Module, "zero_grad", zero_grad_hook(M.Module.zero_grad, False))

    # the optimizer: its own multi-tensor plans, with the plan's gradient buffers
    orig_step = OPT.Optimizer.step

    def step(self, closure=None):
        if not tr.mine():
            return orig_step(self, closure)
        if closure is not None:
            _soft(tr, tr.fail, "Optimizer.step(closure) is not supported in compiled functions")
            return orig_step(self, closure)
        for p in (p for g in self.param_groups for p in g["params"]):
            tr.touch(p, "read")
        res = orig_step(self)
        who = type(self).__name__

        def rec():
            for gi, group in enumerate(self.param_groups):
                entry = self._plans[gi]
                layout, params, n, plans = entry
                per_dtype = {}
                for p in params:
                    per_dtype.setdefault(p.data.dtype, []).append(p)
                args = self._args(group)
                for pl, ps in zip(plans, per_dtype.values()):
                    grads = []
                    for p in ps:
                        tr.ref(p.data, who)
                        if p.grad is None:
                            grads.append(None)
                            continue
                        gd = p.grad.data
                        if not gd.flags.c_contiguous or gd.dtype != p.data.dtype:
                            tr.fail(f"{who}.step: a non-contiguous or mistyped .grad")
                        grads.append(tr.ref(gd, who))
                    total = sum(p.data.size for p in ps if p.grad is not None)
                    si = tr.add("optim", f"{who}.step", optim=pl, grads=grads, hyper=args,
                                par=int(total >= _NOGIL_MIN))
                    tr.optims.append((self, gi, entry, layout, args, si))
        _soft(tr, rec)
        return res
    patch(OPT.Optimizer, "step", step)

    orig_call = M.Module.__call__

    def call(self, *a, **k):
        if tr.mine():
            tr.modules[id(self)] = self
        return orig_call(self, *a, **k)
    patch(M.Module, "__call__", call)

    patch(backend, "k", _Recorder(tr))
    return undo


# ---- plans ------------------------------------------------------------------------------------
def _layout_arena(bufs, nsteps):
    """Offsets for the intermediates: greedy by size, an offset is free for a buffer when no
    placed buffer overlapping it in memory is live at an overlapping time."""
    placed = []
    total = 0
    for b in sorted(bufs, key=lambda b: (-b.nbytes, b.first)):
        last = nsteps if b.persist else b.last
        size = (b.nbytes + _ALIGN - 1) // _ALIGN * _ALIGN or _ALIGN
        conflicts = sorted((o.offset, o.offset + o.size_) for o in placed
                           if not (o.last_ < b.first or last < o.first))
        off = 0
        for lo, hi in conflicts:
            if off + size <= lo:
                break
            off = max(off, hi)
        b.offset = off
        b.size_ = size
        b.last_ = last
        placed.append(b)
        total = max(total, off + size)
    return total


class _Plan:
    """One traced signature: the C plan plus what a replay must check and restore."""

    def __init__(self, tr, out_struct, out_refs, arg_inputs):
        self.name = tr.fname
        bufs = list(tr.bufs.values())
        nsteps = len(tr.steps)
        inter = [b for b in bufs if b.kind == "inter"]
        total = _layout_arena(inter, nsteps)
        raw = np.empty(total + _ALIGN, np.uint8)
        start = (-_ptr(raw)) % _ALIGN
        self.arena = raw[start:start + total] if total else raw[:0]
        bases = [self.arena]
        inputs = []
        for b in bufs:
            if b.kind == "inter":
                b.base = 0
            elif b.kind == "input":
                b.base = len(bases)
                bases.append(None)
            else:
                b.base = len(bases)
                bases.append(b.arr)
        # input slots in argument order
        slot_of = {id(b.arr): b for b in bufs if b.kind == "input"}
        self.input_pos = []
        for pos, t in arg_inputs:
            b = slot_of.get(id(_root(t.data)))
            if b is None:
                continue          # an input no kernel read
            if t.data is not b.arr:
                raise _Unsupported("an input tensor is a view into a larger array")
            inputs.append((b.base, t.data.dtype, t.data.shape))
            self.input_pos.append(pos)

        def conv(ref):
            if ref is None:
                return None
            b, off = ref
            return (b.base, (b.offset if b.kind == "inter" else 0) + off)
        steps = []
        for d in tr.steps:
            d = dict(d)
            for key in ("ins", "outs"):
                if key in d:
                    d[key] = [conv(r) for r in d[key]]
            if "grads" in d:
                d["grads"] = [conv(r) for r in d["grads"]]
            steps.append(d)
        self.plan = _K.Plan(bases, inputs, steps, list(tr.names))
        self.nsteps = nsteps
        self.arena_bytes = total
        self.naive_bytes = sum(b.nbytes for b in inter)

        def view(ref, like):
            b, off = ref
            if b.kind == "inter":
                return np.ndarray(like.shape, like.dtype, self.arena, b.offset + off, like.strides)
            return like
        # outputs
        self.out_struct = out_struct
        self.outs = [(view(ref, arr), t) for ref, arr, t in out_refs]
        # grads: final .grad of every touched tensor
        self.grads = []
        self.grad_guards = []
        for t, entry, how in tr.touched.values():
            g = t.grad
            if g is None:
                final = None
            else:
                gb = tr.bufs.get(id(_root(g.data)))
                if gb is None:
                    raise _Unsupported(".grad set outside the traced kernels")
                final = g
                if gb.kind == "inter":
                    final = _make(view((gb, _ptr(g.data) - _ptr(gb.arr)), g.data))
            self.grads.append((t, final))
            if how != "none":
                # zero_grad(set_to_none=False) first: a .grad left by the previous replay
                # gives the same values (0 + g); otherwise the entry must be as traced
                self.grad_guards.append((t, entry, final if how == "zero" else None))
        # guards
        self.modules = [(m, m.training) for m in tr.modules.values()]
        ext = {}
        for m in tr.modules.values():
            for p in list(m._parameters.values()) + list(m._buffers.values()):
                if p is not None:
                    ext[id(p)] = (p, p.data)
        for opt, gi, entry, layout, a, si in tr.optims:
            for p in entry[1]:
                ext[id(p)] = (p, p.data)
        for b in bufs:                  # tensors whose arrays the plan reads in place
            if b.kind == "ext":
                for t, arr in tr.owners.get(id(b.arr), ()):
                    ext[id(t)] = (t, arr)
        self.ext = list(ext.values())
        self.optims = [list(o) for o in tr.optims]
        # what a replay may write besides its arena: checked against eager on the 2nd call
        mutable = {id(b.arr): b.arr for b in bufs if b.kind == "ext" and b.arr.flags.writeable}
        for k, a in tr.pre.items():     # everything the call could reach when it started
            if a.flags.writeable:
                mutable[k] = a
        for opt, gi, entry, layout, a, si in tr.optims:
            for p in entry[1]:
                mutable[id(_root(p.data))] = _root(p.data)
                for v in opt.state.get(p, {}).values():
                    if isinstance(v, Tensor):
                        mutable[id(_root(v.data))] = _root(v.data)
        self.mutable = list(mutable.values())
        self.verified = False

    def verify(self, fn, args, kwargs):
        """First replay: run the plan, then restore the state and run fn eagerly; both must
        agree bit for bit (parameters, optimizer state, gradients, outputs).  A mismatch
        means the function does work the kernels do not see (NumPy on .data, values read
        into Python): returns (False, eager result, what differed).  Else (True, result)."""
        saved = [a.copy() for a in self.mutable]
        grads0 = [t.grad for t, final in self.grads]
        gvals0 = [None if g is None else g.data.copy() for g in grads0]
        r = self.replay(args)
        if r is _RETRACE:
            return True, r, None
        after = [a.copy() for a in self.mutable]
        gafter = [None if final is None else final.data.copy() for t, final in self.grads]
        leaves = []
        _flatten(r, leaves)
        for a, v in zip(self.mutable, saved):
            np.copyto(a, v)
        for (t, final), g, v in zip(self.grads, grads0, gvals0):
            t.grad = g
            if g is not None:
                np.copyto(g.data, v)
        re = fn(*args, **kwargs)
        eleaves = []
        try:
            _flatten(re, eleaves)
        except _Unsupported:
            return False, re, "the returned values"
        self.verified = True
        bad = None
        if len(eleaves) != len(leaves) or any(
                a.data.shape != b.data.shape or a.data.tobytes() != b.data.tobytes()
                for a, b in zip(leaves, eleaves)):
            bad = "the returned tensors"
        elif any(not np.array_equal(a, b, equal_nan=True) or a.tobytes() != b.tobytes()
                 for a, b in zip(self.mutable, after)):
            bad = "parameters, buffers or optimizer state"
        else:
            for (t, final), ga in zip(self.grads, gafter):
                g = t.grad
                if (g is None) != (ga is None) or (
                        ga is not None and g.data.tobytes() != ga.tobytes()):
                    bad = "gradients"
                    break
        if bad is not None:
            return False, re, bad
        for t, final in self.grads:       # the same values; keep the plan's tensors
            t.grad = final
        return True, r, None

    def replay(self, args):
        for m, training in self.modules:
            if m.training != training:
                return _RETRACE
        for t, arr in self.ext:
            if t.data is not arr:
                return _RETRACE
        for t, entry, final in self.grad_guards:
            g = t.grad
            if g is not entry and (final is None or g is not final):
                return _RETRACE
        plan = self.plan
        for o in self.optims:
            opt, gi, entry, layout, a, si = o
            if opt._plans[gi] is not entry:
                return _RETRACE
            group = opt.param_groups[gi]
            if opt._layout(group) != layout:
                return _RETRACE
            for pl in entry[3]:
                if not pl.valid():
                    return _RETRACE
            na = opt._args(group)
            if na != a:
                plan.set_hyper(si, na)
                o[4] = na
        plan.run(tuple([args[i].data for i in self.input_pos]))
        for t, final in self.grads:
            t.grad = final
        outs = [t if arr is None else _make(arr.copy()) for arr, t in self.outs]
        return _rebuild(self.out_struct, outs)



class _EagerVariant:
    """A signature that runs eagerly (its trace was unsupported), while the modules it
    ran are in the training modes they had then."""

    def __init__(self, modules, reason):
        self.modules = [(m, m.training) for m in modules]
        self.reason = reason

    def matches(self):
        for m, training in self.modules:
            if m.training != training:
                return False
        return True


def _flatten(obj, leaves):
    """Structure of fn's return value with tensors replaced by leaf indices."""
    if isinstance(obj, Tensor):
        leaves.append(obj)
        return ("T", len(leaves) - 1)
    if isinstance(obj, (tuple, list)):
        return (type(obj), [_flatten(o, leaves) for o in obj])
    if isinstance(obj, dict):
        return (dict, [(k, _flatten(v, leaves)) for k, v in obj.items()])
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return ("C", obj)
    raise _Unsupported(f"returning a {type(obj).__name__}")


def _rebuild(s, outs):
    tag, v = s
    if tag == "T":
        return outs[v]
    if tag == "C":
        return v
    if tag is dict:
        return {k: _rebuild(x, outs) for k, x in v}
    return tag(_rebuild(x, outs) for x in v)


# ---- the public wrapper -------------------------------------------------------------------------
def _key_of(v):
    if isinstance(v, Tensor):
        d = v.data
        return ("T", d.shape, d.dtype.str, v.requires_grad, d.flags.c_contiguous)
    if v is None or isinstance(v, (bool, int, float, str)):
        return ("V", type(v), v)
    if isinstance(v, (tuple, list)):
        return ("L", type(v), tuple(_key_of(x) for x in v))
    return ("O", id(v))


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
        self._lock = threading.Lock()      # a plan's arena serves one call at a time
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
            return self.fn(*args, **kwargs)
        key = (tuple(_key_of(a) for a in args),
               tuple(sorted((k, _key_of(v)) for k, v in kwargs.items())), grad_mode.enabled)
        entry = self._plans.get(key)
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
            if eager:
                self.eager_calls += 1
                return self.fn(*args, **kwargs)
        return self._trace(key, args, kwargs)

    def _trace(self, key, args, kwargs):
        name = self.__name__
        self.traces += 1
        if self.traces > self.warn_after and not self._warned:
            self._warned = True
            warnings.warn(f"compile({name}): traced {self.traces} times; the function is "
                          "being retraced (new shapes, dtypes, argument values, training "
                          "modes or replaced parameters at each call?)", RuntimeWarning,
                          stacklevel=3)
        strict = self.fallback != "eager"
        with _LOCK:
            tr = _Tracer(strict, name)
            arg_inputs = [(i, a) for i, a in enumerate(args) if isinstance(a, Tensor)]
            for i, a in arg_inputs:
                r = _root(a.data)
                if id(r) in tr.inputs:
                    tr.failure = "two tensor arguments share memory"
                tr.inputs[id(r)] = i
            if any(isinstance(v, Tensor) for v in kwargs.values()):
                tr.failure = "tensors passed as keyword arguments (pass them positionally)"
            if tr.failure is not None and strict:
                raise CompileError(f"compile({name}): {tr.failure}")
            # arrays that existed before the call (parameters, optimizer state, tensors
            # captured from the enclosing scope), kept alive so their ids stay unique
            tr.pre, tr.owners = _existing_arrays(self.fn, args, kwargs)
            undo = _install(tr)
            prev = _trace_state.active
            _trace_state.active = tr
            try:
                result = self.fn(*args, **kwargs)
            finally:
                tr.active = False
                _trace_state.active = prev
                for obj, attr, old in reversed(undo):
                    setattr(obj, attr, old)
            plan = None
            if tr.failure is None:
                try:
                    plan = self._build(tr, result, arg_inputs)
                except _Unsupported as e:
                    tr.failure = str(e)
            tr.pre = tr.owners = None
        if plan is None:
            if strict:
                raise CompileError(f"compile({name}): {tr.failure} (the traced call itself "
                                   "ran eagerly to the end)")
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
            r = _root(t.data)
            b = tr.bufs.get(id(r))
            if b is None or b.kind in ("input", "ext"):
                if b is None and id(r) not in tr.pre and id(r) not in tr.inputs:
                    raise _Unsupported("the function returns a tensor made outside the "
                                       "traced kernels")
                out_refs.append((None, None, t))      # returned as is
                continue
            b.persist = True
            out_refs.append(((b, _ptr(t.data) - _ptr(r)), t.data, None))
        for t, entry, how in tr.touched.values():
            if t.grad is not None:
                b = tr.bufs.get(id(_root(t.grad.data)))
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
               "tensor .data, or Python values read from tensor data that the trace froze)")
        self._store(key, _EagerVariant([m for m, tr in plan.modules], msg))
        if self.fallback != "eager":
            raise CompileError(f"compile({self.__name__}): {msg}; this call ran eagerly, and "
                               "this signature now runs eagerly (fallback)")

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


def compile(fn=None, *, fallback=None, max_plans=8):  # noqa: A001 - torch.compile's name
    """Compile a training step (see the module docstring).  Usable as a decorator, with or
    without arguments: ``@compile``, ``@compile(fallback="eager")``."""
    if fn is None:
        return lambda f: CompiledFunction(f, fallback, max_plans)
    return CompiledFunction(fn, fallback, max_plans)
