"""The graph core: graph nodes, the one walk of the graph, the reverse pass and
forward-mode tangent propagation.

A ``Node`` is the record one differentiable op leaves behind.  Its ``edges`` point at
whatever produced its inputs: another Node, a leaf Tensor that wants ``.grad``, or
None.  ``backward``/``grad`` discover the reachable graph with one explicit-stack walk
(``_consumers``: no recursion, so chains of any length work) that counts each node's
consumers, and run nodes in an order where every node runs after all of its consumers
have sent their gradients (Kahn's algorithm; ``topological`` gives the same order to
other readers of the graph, such as ``fastgrad.viz``).  Broadcasting is undone here,
once, for every op: a gradient whose shape differs from the input's is summed back to
it (``sum_to``).

With ``create_graph=False`` the backward formulas run in no-grad mode, so no graph is
built; with ``create_graph=True`` they run with grad enabled and, because every formula
is written with fastgrad ops, the result is differentiable again.

Layering: this module imports nothing above ``fastgrad._tensor`` and
``fastgrad._factory``.  The few ops the walk applies to gradients itself (accumulation,
broadcast reduction, a create_graph copy, a tangent's dtype and shape) are given to it
by ``fastgrad.ops`` at import through ``use_ops``, and what each op declares beyond its
backward function (its forward-mode rule ``JVP``, its ``Traits``) is registered here by
the op modules with ``declare`` / ``jvp_rule``.
"""
from __future__ import annotations

import threading
import weakref

import numpy as np

from fastgrad import _factory
from fastgrad._hooks import hooks
from fastgrad._state import grad_mode
from fastgrad._state import leaf_hook_gen as _leaf_hook_gen
from fastgrad._tensor import Tensor, tensor
from fastgrad._C._kernels import cache_empty as _cache_empty
from fastgrad.autograd import anomaly as _anomaly

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Any, Optional, Union
    from collections.abc import Sequence

_FREED = object()   # marks saved values released after a backward without retain_graph


class _GraphOps:
    """The ops the walk itself applies to gradients and tangents: ``add`` (accumulation),
    ``sum_to`` (broadcast reduction), ``clone`` (a create_graph .grad), ``to`` and
    ``expand`` (a tangent brought to its output's dtype and shape).  The engine imports
    no op module; ``fastgrad.ops`` fills these in with ``use_ops`` when it is imported."""
    __slots__ = ("add", "sum_to", "clone", "to", "expand")


_ops = _GraphOps()


def use_ops(add, sum_to, clone, to, expand):
    """Give the engine the ops it applies to gradients (see ``_GraphOps``)."""
    _ops.add, _ops.sum_to, _ops.clone, _ops.to, _ops.expand = add, sum_to, clone, to, expand


class Node:
    """One recorded op in the graph: a tensor's ``grad_fn``. It holds the backward function,
    the edges to its inputs' nodes (or leaf tensors) and what backward reads."""
    __slots__ = ("fn", "name", "edges", "shapes", "saved", "out", "ctx", "hooks", "retain",
                 "ver", "outver", "outv", "__weakref__")

    def __init__(self, fn, name, edges, shapes, saved, out, ctx):
        self.fn = fn            # fn(node, grad) -> tuple of input grads (Tensor or None)
        self.name = name        # op name, for error messages and graph pictures
        self.edges = edges      # per input: Node, leaf Tensor or None
        self.shapes = shapes    # per input shape when the op broadcasts, else None
        self.saved = saved      # what backward reads (Tensors / arrays), or _FREED
        self.out = out          # the output ndarray when backward reads it, else None
        self.ctx = ctx          # non-tensor arguments of the op
        self.hooks = None       # hooks registered on the output tensor
        self.retain = None      # weakref to the output tensor when it retains its grad
        self.ver = 0            # sum of the saved tensors' versions when they were saved
        self.outver = None      # version cell of the output when backward reads it
        self.outv = 0           # ... and its value when the output was made

    def output(self):
        """The op's output as a Tensor for backward formulas.  Under create_graph it is
        connected to this node so second derivatives flow through it."""
        if self.saved is _FREED:
            _raise_freed(self)
        t = Tensor._make(self.out)
        if grad_mode.enabled:
            t.requires_grad = True
            t.grad_fn = self
        if fw.level:            # the output's tangent, for formulas differentiated forward
            e = fw.tangents.get(id(self))
            if e is not None and e[0] is self:
                fw.tangents[id(t)] = (t, e[1])
        return t

    def saved_tensors(self):
        """The tensors (or arrays) the backward reads; raises once a backward without
        ``retain_graph`` freed them."""
        if self.saved is _FREED:
            _raise_freed(self)
        return self.saved

    def next_functions(self):
        """Per input: its Node, the leaf Tensor, or None (an input that needs no gradient)."""
        return self.edges

    def __repr__(self):
        return f"<{self.name}Backward>"


def _raise_freed(node):
    raise RuntimeError(
        f"{node.name}: trying to backward through the graph a second time (or to read saved "
        "values after they were freed). Pass retain_graph=True to the first backward() or "
        "autograd.grad() call if you need to backward through the graph again.")


def _check_versions(node):
    v = 0
    for s in node.saved or ():
        if s is not None:
            v += s._version[0]
    if v != node.ver:
        cells = [s._version for s in node.saved if s is not None]
        _raise_modified(node, "an input", cells)
    if node.outver is not None and node.outver[0] != node.outv:
        _raise_modified(node, "the output", [node.outver])


def _raise_modified(node, which, cells):
    """The version-check failure, naming the op that saved the tensor and the in-place
    op(s) that last modified the saved tensors (in-place ops record their name in a
    version cell's second slot)."""
    by = sorted({c[1] for c in cells if len(c) > 1})
    how = " / ".join(by) if by else "an in-place operation"
    raise RuntimeError(
        f"{node.name}: one of the variables needed for gradient computation has been modified "
        f"by an inplace operation: {which} of {node.name} saved for backward was modified by "
        f"{how}; use an out-of-place op or clone() the tensor before modifying it")


def _needed(root_nodes, capture):
    """For autograd.grad: which nodes must run their backward, i.e. have a requested
    input strictly below them.  Iterative post-order walk."""
    memo = {}
    stack = [(n, False) for n in root_nodes]
    while stack:
        node, expanded = stack.pop()
        if node in memo:
            continue
        if not expanded:
            stack.append((node, True))
            for e in node.edges:
                if type(e) is Node and e not in memo:
                    stack.append((e, False))
            continue
        need = False
        for e in node.edges:
            if e is not None and (id(e) in capture or (type(e) is Node and memo.get(e, False))):
                need = True
                break
        memo[node] = need
    return memo


def _consumers(root_nodes, counted=None):
    """The one walk of the graph below root_nodes (iterative DFS, so chains of any
    length work): for every Node reachable from them, how many edges point at it (its
    consumers, the in-degree of Kahn's algorithm).  With `counted` (a container of leaf
    ids) also how many edges reach each of those leaves.  Returns (nodes, leaves)."""
    deps = {}
    leaves = {} if counted is not None else None
    stack = list(root_nodes)
    seen = set(stack)
    while stack:
        node = stack.pop()
        for e in node.edges:
            if type(e) is Node:
                deps[e] = deps.get(e, 0) + 1
                if e not in seen:
                    seen.add(e)
                    stack.append(e)
            elif leaves is not None and e is not None and id(e) in counted:
                leaves[id(e)] = leaves.get(id(e), 0) + 1
    return deps, leaves


def topological(root_nodes):
    """Every Node reachable from root_nodes, each after all of its consumers: the order
    in which backward runs them."""
    deps, _ = _consumers(root_nodes)
    order, ready = [], [n for n in root_nodes if deps.get(n, 0) == 0]
    while ready:
        node = ready.pop()
        order.append(node)
        for e in node.edges:
            if type(e) is Node:
                d = deps[e] - 1
                deps[e] = d
                if d == 0:
                    ready.append(e)
    return order


def _node_hooks(node, g, create_graph):
    """Hooks registered on a non-leaf tensor, then its retained .grad."""
    g._name = None          # it escapes to user code or .grad while still in use: no adoption
    if node.hooks:
        for h in node.hooks:
            r = h(g)
            if r is not None:
                g = r
    if node.retain is not None:
        t = node.retain()
        if t is not None:
            _store_grad(t, g, create_graph)
    return g


# ---- forward mode ------------------------------------------------------------------------
# A forward-mode (JVP) rule sits beside each backward function in the op modules:
# JVP[bwd](node, inputs, tangents, out) -> the output's tangent (a Tensor, or None for
# zero), where tangents[i] is the tangent of inputs[i] or None.  Ops record their Node as
# usual; while a dual level is open (``fastgrad.autograd.forward_ad``), ``_record`` asks
# the rule for the new output's tangent.  The rules are written with fastgrad ops, so a
# tangent is itself differentiable (forward-over-reverse Hessian-vector products).
JVP = {}


class _Forward:
    __slots__ = ("level", "tangents", "busy", "grad")

    def __init__(self):
        self.level = 0          # open dual levels (0: forward mode is off, zero cost)
        self.tangents = None    # id(tensor) -> (tensor, tangent) for the open level
        self.busy = False       # a rule is running: its own ops carry no tangents
        self.grad = False       # some primal or tangent requires grad: rules record graphs


fw = _Forward()


def jvp_rule(*bwds):
    """Register the decorated function as the forward-mode rule of these backward functions."""
    def deco(rule):
        for b in bwds:
            JVP[b] = rule
        return rule
    return deco


# ---- what a declaration says about an op, for the graph's other readers -------------------
class Traits:
    """What an op's declaration says beyond its derivatives, kept in ``TRAITS`` under its
    backward function.  ``elementwise``: output element k depends only on element k of
    each (broadcast) input, so an input has the output's shape and a batch of output
    gradients maps to input gradients pointwise through backward(ones).
    ``input_shape(node, i, out_shape)``: the shape of input i (graph pictures).
    ``batched(node, G)``: the input gradients (ndarrays) for a batch G of output
    gradients stacked on a leading axis (vectorised Jacobians)."""
    __slots__ = ("elementwise", "input_shape", "batched")

    def __init__(self, elementwise=False, input_shape=None, batched=None):
        self.elementwise = elementwise
        self.input_shape = input_shape
        self.batched = batched


TRAITS = {}


def declare(*bwds, jvp=None, linear=None, elementwise=False, input_shape=None, batched=None):
    """Register what the op behind these backward functions declares: its forward-mode
    rule ``jvp`` (see ``JVP``) or, for an op linear in its one input, ``linear(node, t,
    out)``: the op applied to the tangent t, from which the rule follows; and its
    ``Traits``."""
    if linear is not None:
        def jvp(node, xs, ts, out):
            return linear(node, ts[0], out)
    traits = Traits(elementwise, input_shape, batched)
    for b in bwds:
        if jvp is not None:
            JVP[b] = jvp
        TRAITS[b] = traits


def tangent_of(t):
    e = fw.tangents.get(id(t)) if fw.tangents else None
    return e[1] if e is not None and e[0] is t else None


def set_tangent(t, tan):
    fw.tangents[id(t)] = (t, tan)


def propagate_tangent(out, node, inputs):
    """Called by _record while a dual level is open: give `out` its tangent."""
    if fw.busy:
        return
    tab = fw.tangents
    ts, any_t = [], False
    for x in inputs:
        e = tab.get(id(x))
        if e is not None and e[0] is x:
            ts.append(e[1])
            any_t = True
        else:
            ts.append(None)
    if not any_t:
        return
    rule = JVP.get(node.fn)
    if rule is None:
        raise NotImplementedError(f"forward-mode AD: the op '{node.name}' has no JVP rule")
    fw.busy = True
    prev = grad_mode.enabled
    if not fw.grad:             # forward mode only: tangents need no reverse graph
        grad_mode.enabled = False
    try:
        tan = rule(node, inputs, ts, out)
    finally:
        fw.busy = False
        grad_mode.enabled = prev
    if tan is None:
        return
    if tan._data.dtype != out._data.dtype:
        tan = _ops.to(tan, out._data.dtype)
    if tan._data.shape != out._data.shape:
        tan = _ops.expand(tan, out._data.shape)
    tab[id(out)] = (out, tan)
    tab[id(node)] = (node, tan)     # for node.output() in formulas (forward-over-reverse)


FRESH = "fresh"    # Tensor._name tag: see _store_grad


def _store_grad(t, g, create_graph):
    """t.grad += g.

    Without create_graph the first gradient is stored as a private, writable array: the
    engine may hand the same gradient to several inputs (add's backward), or a read-only
    broadcast view (sum's backward), or the caller's own `gradient` tensor, none of which
    .grad may alias, so it is copied -- unless the backward that produced it tagged it
    FRESH (a new array nothing else references, e.g. a weight gradient straight from the
    GEMM), in which case it is adopted as is.  Later gradients are added in place (as
    PyTorch does outside create_graph), so accumulation allocates nothing."""
    tag = g._name
    if tag is not None:
        g._name = None
    old = t.grad
    if old is not None:
        if (not create_graph and old.grad_fn is None and old._data.shape == g._data.shape
                and old._data.dtype == g._data.dtype and old._data.flags.writeable):
            np.add(old._data, g._data, out=old._data)
            old._version[0] += 1
        else:
            t.grad = _ops.add(old, g)
    elif create_graph:
        t.grad = _ops.clone(g)      # differentiable, and never shared with another leaf
    elif tag is FRESH:
        t.grad = g
    else:
        t.grad = Tensor._make(g._data.copy())
    if hooks.grad_store is not None:
        hooks.grad_store(t, g, old, tag, create_graph)


# ---- gradients of slabs -----------------------------------------------------------------
# A view of one slab of its input -- the elements whose index along one dimension lies in
# [lo, hi): narrow, split, chunk, unbind, basic indexing of one dimension -- has as
# gradient the slab's gradient padded with zeros.  Under an ordinary backward (no
# create_graph, no anomaly mode: _into.slab) such a view's backward returns a ``Slab``
# instead, and the walk writes the slabs reaching one input into one buffer of the
# input's shape: a tensor split into k pieces gets its gradient with one copy per piece,
# instead of k zero-padded arrays of its full size and k - 1 sums of them.  What no slab
# wrote is zeroed when the gradient is complete (the input's node is about to run, or
# the leaf's .grad is about to be stored); a slab that overlaps one already written, of
# another dimension or dtype, or a gradient arriving beside one that is not a slab,
# falls back to the dense sum.  While fastgrad.compile traces, the buffer is zeroed whole
# at its first slab and every copy is recorded (hooks.numpy_assemble), so a replay does
# the same writes.

class Slab:
    """The gradient ``g`` of the slab ``[lo, hi)`` along ``dim`` of an input of shape
    ``full`` (zero elsewhere); ``g`` lacks dimension ``dim`` when the view indexed it
    with an int (``squeezed``)."""
    __slots__ = ("g", "dim", "lo", "hi", "full", "squeezed")

    def __init__(self, g, dim, lo, hi, full, squeezed=False):
        self.g, self.dim, self.lo, self.hi, self.full, self.squeezed = g, dim, lo, hi, full, squeezed

    def index(self):
        return (slice(None),) * self.dim + (slice(self.lo, self.hi),)

    def values(self):
        a = self.g._data
        return np.expand_dims(a, self.dim) if self.squeezed else a

    def dense(self, who="slab_backward"):
        """The full gradient as a Tensor (zeros outside the slab); `who` names the op
        to fastgrad.compile's trace."""
        a = self.values()
        out = zeros(self.full, a.dtype)
        idx = self.index()
        out[idx] = a
        if hooks.numpy_assemble is not None:
            hooks.numpy_assemble(out, [(idx, a)], 0.0, who)
        return Tensor._make(out)


def zeros(shape, dtype):
    """A zero array from fastgrad's result cache (fastgrad.memory), so a gradient buffer
    reuses mapped pages step after step."""
    out = _cache_empty(shape, dtype)
    out.fill(0)
    return out


def _slab_new(slabs, key, s, fresh=False):
    """A buffer for the gradient of `key` holding slab s, as a Tensor; ``fresh`` (a
    leaf's gradient) tags it FRESH, so .grad adopts it without a copy."""
    a = s.values()
    n = s.full[s.dim]
    buf = _cache_empty(s.full, a.dtype)
    idx = s.index()
    tracing = hooks.numpy_assemble is not None
    if tracing:
        buf.fill(0)
    buf[idx] = a
    if tracing:
        hooks.numpy_assemble(buf, [(idx, a)], 0.0, "slab_backward")
    mask = bytearray(n)
    mask[s.lo:s.hi] = b"\x01" * (s.hi - s.lo)
    slabs[key] = [buf, s.dim, mask, tracing]
    t = Tensor._make(buf)
    if fresh:
        t._name = FRESH
    return t


def _slab_add(slabs, key, s):
    """Write slab s into key's buffer when it is one of slabs of the same dimension and
    dtype that s does not overlap; False (nothing written) otherwise."""
    st = slabs.get(key)
    if st is None:
        return False
    buf, dim, mask, tracing = st
    a = s.values()
    if dim != s.dim or a.dtype != buf.dtype or mask.find(1, s.lo, s.hi) != -1:
        return False
    idx = s.index()
    buf[idx] = a
    if tracing:
        hooks.numpy_assemble(buf, [(idx, a)], None, "slab_backward")
    mask[s.lo:s.hi] = b"\x01" * (s.hi - s.lo)
    return True


def _slab_finish(slabs, key):
    """Zero what no slab wrote into key's buffer (if key has one) and forget it."""
    st = slabs.pop(key, None)
    if st is None:
        return
    buf, dim, mask, tracing = st
    if tracing:                     # zeroed whole at its first slab
        return
    lo = mask.find(0)
    pre = (slice(None),) * dim
    while lo != -1:
        hi = mask.find(1, lo)
        if hi == -1:
            hi = len(mask)
        buf[pre + (slice(lo, hi),)] = 0
        lo = mask.find(0, hi)


def _slab_acc(slabs, key, prev, s, fresh):
    """key's gradient so far (prev, or None) with slab s added: written into key's buffer
    where it can be, else the dense sum."""
    if prev is None:
        return _slab_new(slabs, key, s, fresh)
    if _slab_add(slabs, key, s):
        return prev
    _slab_finish(slabs, key)
    return _ops.add(prev, s.dense())


def dense_grad(g):
    """g as a Tensor (a Slab made dense), for code that calls backward functions itself."""
    return g.dense() if type(g) is Slab else g


# ---- accumulating straight into .grad ------------------------------------------------------
# With gradient accumulation (several backward() calls per optimizer step, or
# zero_grad(set_to_none=False)) a leaf's .grad already exists when its gradient arrives.
# A backward whose gradient comes out of a GEMM (linear, matmul) can then add it into
# .grad in the GEMM's epilogue (beta=1) instead of making a weight-sized array that
# _store_grad adds afterwards: it asks accum_target() for the .grad to write into and
# returns ACCUMULATED in that input's place, and the engine skips the store for it.

class _Accumulated:
    __slots__ = ()

    def __repr__(self):
        return "ACCUMULATED"


ACCUMULATED = _Accumulated()   # "this input's gradient is already in its .grad"
_ACCUM_INTO = True             # private switch (benchmarks and tests turn the path off)


class _Into(threading.local):
    # None (class attribute, so every thread starts with it), or while this thread runs
    # an ordinary backward(): [its graph's nodes (the consumer counts: every node but the
    # roots), whether the path is off for the graph (None: not looked yet)]
    run = None
    slab = False        # view backwards may return Slab (see "gradients of slabs")


_into = _Into()


def accum_target(e, dtype, shape, operands):
    """The .grad Tensor of edge `e` that a backward may add an input's gradient into in
    place (then it returns ACCUMULATED for that input), or None: use the ordinary path.

    Only when the engine runs an ordinary ``backward()`` (not ``autograd.grad``, not
    create_graph, not in anomaly mode, whose nan check must see each gradient), `e` is a
    leaf without tensor hooks or post-accumulate-grad hooks, and its .grad is a plain
    Tensor (no grad_fn) over a writable C-contiguous ndarray of the gradient's `dtype`
    and `shape` that shares no memory with the leaf itself or with the GEMM's
    `operands` (arrays).  Callers test ``type(e) is not Node and e.grad is not None``
    first, so a backward with no .grad to accumulate into pays two comparisons.

    The gradient then lands in .grad while backward runs rather than at its end, one
    edge at a time.  Only user code running mid-backward could tell, so the path is off
    for a graph with a leaf that has post-accumulate-grad hooks or a tensor hook on a
    node below the root (such a hook that reads or replaces a leaf's .grad sees what it
    would have seen before)."""
    run = _into.run
    if run is None or not _ACCUM_INTO or _anomaly._mode[0]:
        return None
    if run[1] is None:          # once per backward, and only when a .grad exists
        run[1] = any(n.hooks for n in run[0])
    if run[1]:
        return None
    if e._hooks or e.grad_fn is not None or not e.requires_grad or id(e) in _post_hooks:
        return None
    gt = e.grad
    if type(gt) is not Tensor or gt.grad_fn is not None:
        return None
    a = gt._data
    if (type(a) is not np.ndarray or a.dtype != dtype or a.shape != shape
            or not a.flags.c_contiguous or not a.flags.writeable):
        return None
    msm = np.may_share_memory
    if msm(a, e._data):
        return None
    for o in operands:
        if msm(a, o):
            return None
    if hooks.accum_target is not None:
        hooks.accum_target(e)
    return gt


# ---- post-accumulate-grad hooks and end-of-backward callbacks --------------------------------
# Both exist for code that must act while backward() is still running, e.g. data-parallel
# training starting a gradient all-reduce as soon as a parameter's .grad is final.
_post_hooks = {}     # id(leaf Tensor) -> [hook(tensor)], see register_post_accumulate_grad_hook


class _Callbacks(threading.local):
    # this thread's stack: one list per running backward/grad call (innermost last), so
    # backward calls in other threads neither see nor run this thread's callbacks
    stack = None


_callbacks_local = _Callbacks()


def _callbacks():
    st = _callbacks_local.stack
    if st is None:
        st = _callbacks_local.stack = []
    return st


def register_post_accumulate_grad_hook(tensor, hook):
    """Call ``hook(tensor)`` after ``tensor.grad`` has received its whole gradient of a
    ``backward()`` call (leaf tensors only).  With such a hook the engine stores the leaf's
    gradient as soon as the last op that uses the leaf has run its backward, instead of at
    the very end, so the hook can overlap work with the rest of backward.  Not called by
    ``autograd.grad`` (which accumulates nothing).  Returns a handle with ``.remove()``."""
    if tensor.grad_fn is not None or not tensor.requires_grad:
        raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors that require "
                           "grad accumulate gradients; got a "
                           + ("non-leaf tensor" if tensor.grad_fn is not None
                              else "tensor that does not require grad"))
    if not callable(hook):
        raise TypeError(f"register_post_accumulate_grad_hook: hook must be callable, got "
                        f"{type(hook).__name__}")
    key = id(tensor)
    hooks = _post_hooks.get(key)
    if hooks is None:
        hooks = _post_hooks[key] = []
        weakref.finalize(tensor, _post_hooks.pop, key, None)
    hooks.append(hook)
    _leaf_hook_gen[0] += 1
    return _PostHookHandle(key, hooks, hook)


class _PostHookHandle:
    __slots__ = ("_key", "_hooks", "_hook")

    def __init__(self, key, hooks, hook):
        self._key, self._hooks, self._hook = key, hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)
            _leaf_hook_gen[0] += 1
        if not self._hooks and _post_hooks.get(self._key) is self._hooks:
            del _post_hooks[self._key]


def queue_callback(fn):
    """Run ``fn()`` once when the innermost ``backward()``/``autograd.grad()`` call running
    in this thread has finished its graph walk and stored every gradient (callable only
    from code that runs during backward: hooks and backward formulas).  Callbacks run in
    the order queued; one queued by a callback runs too.  Each thread has its own queues,
    so backward calls running at once in several threads keep their callbacks apart."""
    stack = _callbacks()
    if not stack:
        raise RuntimeError("queue_callback: no backward pass is running in this thread; "
                           "callbacks can only be queued from hooks or backward functions")
    if not callable(fn):
        raise TypeError(f"queue_callback: expected a callable, got {type(fn).__name__}")
    stack[-1].append(fn)


def _finish_leaf(t, g, create_graph):
    """Leaf tensor hooks, then t.grad += g, then its post-accumulate-grad hooks."""
    hooks = t._hooks
    if hooks:
        g._name = None      # escapes to user code: never adopt it as .grad later
        for h in hooks:
            r = h(g)
            if r is not None:
                g = r
    _store_grad(t, g, create_graph)
    post = _post_hooks.get(id(t))
    if post:
        for h in tuple(post):
            h(t)


def _accumulate(buf, key, g):
    prev = buf.get(key)
    buf[key] = g if prev is None else _ops.add(prev, g)


def _run(roots, root_grads, retain_graph, create_graph, capture=None):
    """Walk the graph from roots.  Without `capture`, leaf gradients are accumulated into
    ``.grad``.  With `capture` (a dict mapping id(Node or leaf Tensor) -> None), the
    gradients reaching those targets are stored there instead and ``.grad`` is untouched."""
    prev_mode = grad_mode.enabled
    grad_mode.enabled = create_graph
    into = _into
    prev_run = into.run
    prev_slab = into.slab
    into.run = None
    into.slab = not create_graph and not _anomaly._mode[0]
    slabs = {}                                     # key -> its buffer (_slab_new)
    queued = []
    callbacks = _callbacks()
    callbacks.append(queued)
    try:
        buf = {}
        leaf = {}                                  # id(leaf) -> [leaf, grad]
        for r, g in zip(roots, root_grads):
            if r.grad_fn is not None:
                _accumulate(buf, r.grad_fn, g)
            elif r.requires_grad:
                slot = leaf.setdefault(id(r), [r, None])
                slot[1] = g if slot[1] is None else _ops.add(slot[1], g)
        # leaves with post-accumulate-grad hooks get their .grad as soon as it is final:
        # the walk counts the edges that reach them
        deps, ldeps = _consumers(buf, _post_hooks if capture is None and _post_hooks else None)
        if capture is None and not create_graph:        # see accum_target
            into.run = [deps, True if ldeps else None]
        needed = _needed(list(buf), capture) if capture is not None else None
        ready = [n for n in buf if deps.get(n, 0) == 0]
        sum_to = _ops.sum_to
        add = _ops.add
        while ready:
            node = ready.pop()
            g = buf.pop(node, None)
            edges = node.edges
            if g is not None:
                if slabs:
                    _slab_finish(slabs, node)
                if node.hooks or node.retain is not None:
                    g = _node_hooks(node, g, create_graph)
                if capture is not None:
                    if id(node) in capture:
                        g._name = None
                        capture[id(node)] = g
                    if not needed[node]:          # nothing requested below: stop here
                        g = None
            if g is not None:
                saved = node.saved
                if saved:
                    if saved is _FREED:
                        _raise_freed(node)
                    _check_versions(node)
                elif node.outver is not None and node.outver[0] != node.outv:
                    _check_versions(node)
                grads = node.fn(node, g)
                if _anomaly._mode[0]:
                    _anomaly._check(node, grads)
                if not retain_graph and (saved or node.out is not None):
                    node.saved = _FREED
                    node.out = None
                shapes = node.shapes
                if shapes is not None:
                    grads = [gi if gi is None or gi is ACCUMULATED or gi._data.shape == sh
                             else sum_to(gi, sh)
                             for gi, sh in zip(grads, shapes)]
            else:
                grads = (None,) * len(edges)
            for e, gi in zip(edges, grads):
                if e is None:
                    continue
                if type(e) is Node:
                    if gi is not None:
                        prev = buf.get(e)
                        if type(gi) is Slab:
                            buf[e] = _slab_acc(slabs, e, prev, gi, False)
                        elif prev is None:
                            buf[e] = gi
                        else:
                            if slabs:
                                _slab_finish(slabs, e)
                            buf[e] = add(prev, gi)
                    d = deps[e] - 1
                    deps[e] = d
                    if d == 0:
                        ready.append(e)
                else:
                    if gi is not None:
                        if gi is ACCUMULATED:       # already added into e.grad
                            e.grad._version[0] += 1
                        else:
                            slot = leaf.get(id(e))
                            if type(gi) is Slab:
                                g0 = _slab_acc(slabs, id(e), slot[1] if slot else None, gi, True)
                                if slot is None:
                                    leaf[id(e)] = [e, g0]
                                else:
                                    slot[1] = g0
                            elif slot is None:
                                leaf[id(e)] = [e, gi]
                            else:
                                if slabs:
                                    _slab_finish(slabs, id(e))
                                slot[1] = add(slot[1], gi)
                    if ldeps and id(e) in ldeps:
                        d = ldeps[id(e)] - 1
                        ldeps[id(e)] = d
                        if d == 0:
                            slot = leaf.pop(id(e), None)
                            if slot is not None:
                                if slabs:
                                    _slab_finish(slabs, id(e))
                                _finish_leaf(e, slot[1], create_graph)
        for t, g in leaf.values():
            if slabs:
                _slab_finish(slabs, id(t))
            if capture is None:
                if t._hooks or _post_hooks:
                    _finish_leaf(t, g, create_graph)
                else:
                    _store_grad(t, g, create_graph)
                continue
            if id(t) not in capture:
                continue
            g._name = None          # escapes to user code: never adopt it as .grad later
            if t._hooks:
                for h in t._hooks:
                    r = h(g)
                    if r is not None:
                        g = r
            capture[id(t)] = g
        while queued:
            queued.pop(0)()
    finally:
        grad_mode.enabled = prev_mode
        into.run = prev_run
        into.slab = prev_slab
        callbacks.pop()


def _root_grads(outputs, grad_outputs, who):
    grads = []
    for i, out in enumerate(outputs):
        go = grad_outputs[i] if grad_outputs is not None else None
        if not out.requires_grad:
            raise RuntimeError(f"{who}: element {i} of tensors does not require grad and does not "
                               "have a grad_fn")
        if go is None:
            if out._data.size != 1:
                raise RuntimeError(f"{who}: grad can be implicitly created only for scalar outputs "
                                   f"(output {i} has shape {tuple(out._data.shape)}); pass gradient=")
            go = _factory.ones_like(out)
            if hooks.grad_seed is not None:
                hooks.grad_seed(go)
        else:
            go = go if isinstance(go, Tensor) else tensor(go, dtype=out.dtype)
            if go._data.shape != out._data.shape:
                raise RuntimeError(f"{who}: gradient shape {tuple(go._data.shape)} does not match "
                                   f"output shape {tuple(out._data.shape)}")
            if go.dtype != out.dtype:
                go = go.to(out.dtype)
        grads.append(go)
    return grads


def backward(tensors: Union[Tensor, Sequence[Tensor]], grad_tensors: Any = None, retain_graph: Optional[bool] = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """Accumulate d(tensors)/d(leaf) into every reachable leaf's ``.grad``."""
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    tensors = tuple(tensors)
    if grad_tensors is not None and not isinstance(grad_tensors, (list, tuple)):
        grad_tensors = (grad_tensors,)
    if retain_graph is None:
        retain_graph = create_graph
    grads = _root_grads(tensors, grad_tensors, "backward")
    if inputs is not None:
        inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        res = grad(tensors, inputs, grads, retain_graph=retain_graph,
                   create_graph=create_graph, allow_unused=True)
        queued = []
        callbacks = _callbacks()
        callbacks.append(queued)
        try:
            for t, g in zip(inputs, res):
                if g is not None:
                    _store_grad(t, g, create_graph)
                    for h in tuple(_post_hooks.get(id(t), ())):
                        h(t)
            while queued:
                queued.pop(0)()
        finally:
            callbacks.pop()
        return
    _run(tensors, grads, retain_graph, create_graph)


def grad(outputs: Union[Tensor, Sequence[Tensor]], inputs: Union[Tensor, Sequence[Tensor]], grad_outputs: Any = None,
         retain_graph: Optional[bool] = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple[Optional[Tensor], ...]:
    """Gradients of `outputs` with respect to `inputs`, returned (not accumulated)."""
    single = isinstance(inputs, Tensor)
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    inputs = (inputs,) if single else tuple(inputs)
    if grad_outputs is not None and not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = (grad_outputs,)
    if retain_graph is None:
        retain_graph = create_graph
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    grads = _root_grads(outputs, grad_outputs, "grad")
    capture = {}
    keys = []
    for t in inputs:
        k = id(t.grad_fn) if t.grad_fn is not None else id(t)
        capture[k] = None
        keys.append(k)
    _run(outputs, grads, retain_graph, create_graph, capture)
    res = []
    for i, k in enumerate(keys):
        g = capture[k]
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} was not used in the graph of the outputs; pass "
                               "allow_unused=True if this is expected")
        if g is not None and not create_graph:
            g = g.detach()
        res.append(g)
    return tuple(res)
