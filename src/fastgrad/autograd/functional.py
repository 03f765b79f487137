"""Higher-level differential operators built on the reverse-mode engine.

``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``hvp`` and ``vhp`` follow PyTorch's
``torch.autograd.functional`` signatures and return structures:

* ``inputs`` is a Tensor or a tuple of Tensors; the user function is called as
  ``func(*inputs)`` and returns a Tensor or a tuple of Tensors.
* A result keeps the structure of what it corresponds to: a single Tensor where the
  input/output was a single Tensor, a tuple where it was a tuple.  ``jacobian`` of tuple
  outputs and tuple inputs is a tuple (per output) of tuples (per input) of Tensors
  with shape ``out.shape + in.shape``.
* ``create_graph=True`` makes the results differentiable (they depend on the inputs
  through a graph); otherwise they are detached.
* ``strict=True`` raises when a result is identically zero because an output does not
  depend on an input (instead of silently returning zeros).

Everything is computed with reverse mode (``fastgrad.autograd.grad``):

* ``jvp`` uses the double-backward trick: for u a dummy output gradient,
  ``g(u) = J^T u`` is linear in u, so ``J v = d/du <g(u), v>``.
* ``jacobian`` runs one backward pass per output element, each seeded with a one-hot
  output gradient on the retained graph.  ``vectorize=True`` (without create_graph)
  instead pushes all the one-hot rows through ONE walk of the graph as a batch
  ``G`` of shape ``(rows,) + out.shape``: ops with a batching rule below (elementwise
  unary and add/sub/mul/div, matmul, linear, reshape/view, permute, expand, sum/mean,
  clone)
  handle the whole batch with one array operation; any other op falls back to calling
  its backward once per row (exact, since a backward is linear in its gradient).
* ``hessian`` is the reverse-mode Jacobian of the gradient (built with create_graph).
* ``vhp`` differentiates ``<grad f, v>`` once more; ``hvp`` returns the same numbers,
  using the symmetry of the Hessian of a scalar function (``H v = (v^T H)^T``), which
  saves the extra backward pass of the double-backward trick.

``jacobian(strategy="forward-mode")`` uses forward mode instead
(``fastgrad.autograd.forward_ad``): one forward pass per input element, each carrying a
one-hot tangent, gives one Jacobian column.  It pays off when inputs are fewer than
outputs.  ``hessian(outer_jacobian_strategy="forward-mode")`` is forward-over-reverse:
the gradient is computed in reverse mode while tangents ride along it.
"""
import numpy as np

from fastgrad.autograd.engine import grad as _grad
from fastgrad.autograd.grad_mode import enable_grad, set_grad_enabled, is_grad_enabled

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


def _tensor_cls():
    from fastgrad._tensor import Tensor
    return Tensor


# ---- argument handling ------------------------------------------------------------------
def _as_tuple(x, arg_name, fn_name):
    """(was_tuple, tuple of Tensors); a TypeError naming the function otherwise."""
    Tensor = _tensor_cls()
    if isinstance(x, Tensor):
        return False, (x,)
    if not isinstance(x, (tuple, list)):
        raise TypeError(f"{fn_name}: the {arg_name} must be either a Tensor or a tuple of Tensors, "
                        f"but got {type(x).__name__}")
    for i, el in enumerate(x):
        if not isinstance(el, Tensor):
            raise TypeError(f"{fn_name}: the {arg_name} must be either a Tensor or a tuple of "
                            f"Tensors, but element {i} of it is a {type(el).__name__}")
    return True, tuple(x)


def _tuple_post(res, was_tuple):
    """Undo _as_tuple: was_tuple is a bool, or a pair (outer, inner) for nested results."""
    if isinstance(was_tuple, tuple):
        outer, inner = was_tuple
        if not inner:
            res = tuple(r[0] for r in res)
        if not outer:
            res = res[0]
        return res
    return res if was_tuple else res[0]


def _check_float(inputs, fn_name):
    for i, t in enumerate(inputs):
        if t._data.dtype.kind != "f":
            raise TypeError(f"{fn_name}: input {i} has dtype {t._data.dtype}; only floating-point "
                            "inputs can be differentiated")


def _preprocess(inputs, create_graph, need_graph):
    """Fresh tensors for the user function, so gradients are taken with respect to
    exactly these objects.  With create_graph an input that requires grad is passed as a
    differentiable view, so results stay connected to the caller's graph."""
    from fastgrad.ops import shape as _sh
    res = []
    for t in inputs:
        if create_graph and t.requires_grad:
            with enable_grad():
                res.append(_sh.view(t, t._data.shape))
        else:
            d = t.detach()
            if need_graph:
                d.requires_grad_(True)
            res.append(d)
    return tuple(res)


def _postprocess(x, create_graph):
    Tensor = _tensor_cls()
    if isinstance(x, Tensor):
        return x if create_graph else x.detach()
    return tuple(_postprocess(el, create_graph) for el in x)


def _validate_v(v, other, other_is_tuple, what, fn_name):
    if len(v) != len(other):
        if other_is_tuple:
            raise RuntimeError(f"{fn_name}: v is a tuple of length {len(v)} but the {what} is a "
                               f"tuple of length {len(other)}; they must match")
        raise RuntimeError(f"{fn_name}: the {what} is a single Tensor, so v must be a single "
                           f"Tensor too (got a tuple of length {len(v)})")
    for i, (a, b) in enumerate(zip(v, other)):
        if tuple(a._data.shape) != tuple(b._data.shape):
            idx = f" element {i} of" if other_is_tuple else ""
            raise RuntimeError(f"{fn_name}: v has shape {tuple(a._data.shape)} but{idx} the {what} "
                               f"has shape {tuple(b._data.shape)}; they must match")


def _check_requires_grad(ts, kind, strict, fn_name):
    """In strict mode, every output (or intermediate result) must depend on the inputs."""
    if not strict:
        return
    for i, t in enumerate(ts):
        if t is None:
            raise RuntimeError(f"{fn_name}: the output of the user-provided function is "
                               f"independent of input {i}; this is not allowed in strict mode")
        if not t.requires_grad:
            if kind == "outputs":
                msg = (f"output {i} of the user-provided function does not require gradients "
                       "(it does not depend on the inputs)")
            elif kind == "grad_inputs":
                msg = (f"the gradient with respect to input {i} is independent of the inputs "
                       "(the function is affine in it)")
            elif kind == "jacobian":
                msg = (f"the Jacobian with respect to input {i} does not depend on the inputs, "
                       "so the Hessian is zero")
            else:
                msg = f"{kind} {i} does not require gradients"
            raise RuntimeError(f"{fn_name}: {msg}; this is not allowed in strict mode")


def _autograd_grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """grad() over the outputs that require grad; None for every input when none do."""
    outs, gos = [], []
    for i, o in enumerate(outputs):
        if o is not None and o.requires_grad:
            outs.append(o)
            gos.append(None if grad_outputs is None else grad_outputs[i])
    if not outs:
        return (None,) * len(inputs)
    return _grad(outs, inputs, None if grad_outputs is None else gos,
                 retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)


_STAGE_MSG = {
    "back": "the output of the user-provided function is independent of input {i}",
    "back_trick": ("the gradient with respect to the input is independent of entry {i} of the "
                   "output gradient (double-backward trick): output {i} does not depend on the "
                   "inputs"),
    "double_back": "the Jacobian of the user-provided function is independent of input {i}",
}


def _fill_in_zeros(grads, refs, strict, stage, fn_name):
    from fastgrad._factory import zeros_like
    res = []
    for i, (g, r) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise RuntimeError(f"{fn_name}: {_STAGE_MSG[stage].format(i=i)}; this is not "
                                   "allowed in strict mode")
            g = zeros_like(r)
        res.append(g)
    return tuple(res)


def _single_element_v(inputs, fn_name, what):
    if len(inputs) != 1 or inputs[0]._data.size != 1:
        shapes = [tuple(t._data.shape) for t in inputs]
        raise RuntimeError(f"{fn_name}: v can only be None if the {what} is a single Tensor "
                           f"with a single element (got shapes {shapes})")


# ---- vjp / jvp --------------------------------------------------------------------------
def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(*inputs), v^T J): the vector-Jacobian product of func at inputs.

    v has the structure and shapes of func's output; it may be None only when the
    output is a single one-element Tensor."""
    with enable_grad():
        in_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        _check_float(inputs, "vjp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        outputs = func(*inputs)
        out_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "vjp")
        _check_requires_grad(outputs, "outputs", strict, "vjp")
        if v is not None:
            _, v = _as_tuple(v, "v", "vjp")
            v = _preprocess(v, create_graph, need_graph=False)
            _validate_v(v, outputs, out_tuple, "output of the user-provided function", "vjp")
        else:
            _single_element_v(outputs, "vjp", "user-provided function returns")
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        g = _autograd_grad(outputs, inputs, v, create_graph=create_graph)
        res = _fill_in_zeros(g, inputs, strict, "back", "vjp")
    return (_tuple_post(_postprocess(outputs, create_graph), out_tuple),
            _tuple_post(_postprocess(res, create_graph), in_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(*inputs), J v): the Jacobian-vector product, computed in reverse mode with
    the double-backward trick.  v has the structure and shapes of inputs; it may be None
    only when the input is a single one-element Tensor."""
    from fastgrad._factory import zeros_like
    with enable_grad():
        in_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        _check_float(inputs, "jvp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        if v is not None:
            _, v = _as_tuple(v, "v", "jvp")
            v = _preprocess(v, create_graph, need_graph=False)
            _validate_v(v, inputs, in_tuple, "input", "jvp")
        else:
            _single_element_v(inputs, "jvp", "input to the user-provided function")
        outputs = func(*inputs)
        out_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "jvp")
        _check_requires_grad(outputs, "outputs", strict, "jvp")
        # J^T u is linear in u, so its value does not matter (zeros are finite).
        us = tuple(zeros_like(o, requires_grad=True) for o in outputs)
        g_in = _autograd_grad(outputs, inputs, us, create_graph=True)
        _check_requires_grad(g_in, "grad_inputs", strict, "jvp")
        with set_grad_enabled(True if create_graph else is_grad_enabled()):
            g = _autograd_grad(g_in, us, v, create_graph=create_graph)
            res = _fill_in_zeros(g, outputs, strict, "back_trick", "jvp")
    return (_tuple_post(_postprocess(outputs, create_graph), out_tuple),
            _tuple_post(_postprocess(res, create_graph), out_tuple))


# ---- jacobian / hessian -----------------------------------------------------------------
def _check_strategy(strategy, name, fn_name):
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"{fn_name}: {name} must be 'reverse-mode' or 'forward-mode', "
                         f"got {strategy!r}")


def _jacobian_rows(out, inputs, create_graph, strict, i, fn_name):
    """The Jacobian blocks of one output with respect to every input, one backward pass
    per output element seeded with a one-hot output gradient."""
    from fastgrad.ops import shape as _sh
    from fastgrad._factory import zeros_like
    Tensor = _tensor_cls()
    n_out = out._data.size
    if not out.requires_grad:
        if strict:
            raise RuntimeError(f"{fn_name}: output {i} of the user-provided function does not "
                               "require gradients; this is not allowed in strict mode")
        return tuple(Tensor._make(np.zeros(out._data.shape + inp._data.shape, inp._data.dtype))
                     for inp in inputs)
    rows = [[] for _ in inputs] if create_graph else None
    mats = None if create_graph else [np.zeros((n_out, inp._data.size), inp._data.dtype)
                                      for inp in inputs]
    seen = [False] * len(inputs)
    for r in range(n_out):
        e = np.zeros(out._data.shape, out._data.dtype)
        e.reshape(-1)[r] = 1
        gs = _grad(out, inputs, Tensor._make(e), retain_graph=True, create_graph=create_graph,
                   allow_unused=True)
        for k, g in enumerate(gs):
            if g is None:
                if strict:
                    raise RuntimeError(f"{fn_name}: output {i} of the user-provided function is "
                                       f"independent of input {k}; this is not allowed in strict "
                                       "mode")
                if create_graph:
                    rows[k].append(zeros_like(inputs[k]))
                continue
            seen[k] = True
            if create_graph:
                if strict and not g.requires_grad:
                    raise RuntimeError(f"{fn_name}: the Jacobian of output {i} with respect to "
                                       f"input {k} does not depend on the inputs; this is not "
                                       "allowed in strict mode when create_graph=True")
                rows[k].append(g)
            else:
                mats[k][r] = g._data.reshape(-1)
    res = []
    for k, inp in enumerate(inputs):
        shape = out._data.shape + inp._data.shape
        if create_graph:
            res.append(_sh.reshape(_sh.stack(rows[k], 0), shape) if n_out else
                       Tensor._make(np.zeros(shape, inp._data.dtype)))
        else:
            res.append(Tensor._make(mats[k].reshape(shape)))
    return tuple(res)


# ---- vectorized (batched) reverse pass ---------------------------------------------------
def _batched_rule(node, G):
    """Input gradients of `node` for a batch G of output gradients (ndarrays, or None),
    before the broadcast reduction; None when the op's declaration gives no batching rule
    (``fastgrad.autograd.engine.Traits``)."""
    from fastgrad.autograd.engine import TRAITS
    traits = TRAITS.get(node.fn)
    if traits is None:
        return None
    if traits.batched is not None:
        return traits.batched(node, G)
    if traits.elementwise:
        # out_k depends on the inputs' elements at k only (after broadcasting), so the
        # backward is a pointwise product: g -> g * d, with d = backward(ones)
        ones = _tensor_cls()._make(np.ones(G.shape[1:], G.dtype))
        ds = node.fn(node, ones)
        return tuple(None if d is None else G * d._data for d in ds)
    return None


def _batched_backward(out, inputs, G):
    """d out / d inputs for a batch G (rows,) + out.shape of output gradients in one walk
    of the graph: [ndarray (rows,) + in.shape or None per input]."""
    from fastgrad.autograd import engine
    from fastgrad._state import grad_mode
    from fastgrad.ops.shape import _batched_sum_to
    Tensor = _tensor_cls()
    rows = G.shape[0]
    want = {id(t): k for k, t in enumerate(inputs)}
    res = [None] * len(inputs)
    if out.grad_fn is None:
        if id(out) in want:
            res[want[id(out)]] = G
        return res
    root = out.grad_fn
    capture = dict.fromkeys(want)
    needed = engine._needed([root], capture)
    deps, _ = engine._consumers([root])
    buf = {root: G}
    ready = [root]
    prev_mode = grad_mode.enabled
    grad_mode.enabled = False
    try:
        while ready:
            node = ready.pop()
            g = buf.pop(node, None)
            edges = node.edges
            grads = None
            if g is not None and needed.get(node, False):
                if node.hooks or node.retain is not None:
                    raise _Unbatchable
                if node.saved:
                    if node.saved is engine._FREED:
                        engine._raise_freed(node)
                    engine._check_versions(node)
                grads = _batched_rule(node, g)
                if grads is None:           # no rule: the node's own backward, row by row
                    per_row = [[engine.dense_grad(q) for q in
                                node.fn(node, Tensor._make(np.array(g[r], copy=True)))]
                               for r in range(rows)]
                    grads = []
                    for k in range(len(edges)):
                        parts = [p[k] for p in per_row]
                        grads.append(None if parts[0] is None else np.stack(
                            [np.asarray(q._data) for q in parts]))
                if node.shapes is not None:
                    grads = [gi if gi is None else _batched_sum_to(gi, sh)
                             for gi, sh in zip(grads, node.shapes)]
            for k, e in enumerate(edges):
                if e is None:
                    continue
                gi = grads[k] if grads is not None else None
                if type(e) is engine.Node:
                    if gi is not None:
                        prev = buf.get(e)
                        buf[e] = gi if prev is None else prev + gi
                    deps[e] -= 1
                    if deps[e] == 0:
                        ready.append(e)
                elif gi is not None and id(e) in want:
                    j = want[id(e)]
                    res[j] = gi if res[j] is None else res[j] + gi
    finally:
        grad_mode.enabled = prev_mode
    return res


class _Unbatchable(Exception):
    """The graph has hooks or retained grads, which the batched walk does not run."""


def _jacobian_batched(out, inputs):
    Tensor = _tensor_cls()
    if not out.requires_grad:
        return _jacobian_rows(out, inputs, False, False, 0, "jacobian")
    n = out._data.size
    G = np.zeros((n,) + out._data.shape, out._data.dtype)
    G.reshape(n, n)[np.arange(n), np.arange(n)] = 1
    try:
        gs = _batched_backward(out, inputs, G)
    except _Unbatchable:
        return _jacobian_rows(out, inputs, False, False, 0, "jacobian")
    res = []
    for g, inp in zip(gs, inputs):
        shape = out._data.shape + inp._data.shape
        if g is None:
            res.append(Tensor._make(np.zeros(shape, inp._data.dtype)))
        else:
            res.append(Tensor._make(np.array(g, dtype=inp._data.dtype).reshape(shape)))
    return tuple(res)


def _jacobian_forward(func, inputs, create_graph, strict):
    """(out_tuple, Jacobian blocks) by forward mode: one pass per input element with a
    one-hot tangent on that input; its output tangents are one column of every block."""
    from fastgrad.ops import shape as _sh
    from fastgrad.autograd import forward_ad as fwad
    Tensor = _tensor_cls()
    cols = None
    out_tuple, outputs = False, ()
    for k, inp in enumerate(inputs):
        for j in range(inp._data.size):
            e = np.zeros(inp._data.shape, inp._data.dtype)
            e.reshape(-1)[j] = 1
            with fwad.dual_level():
                args = tuple(fwad.make_dual(x, Tensor._make(e)) if i == k else x
                             for i, x in enumerate(inputs))
                res = func(*args)
                out_tuple, outputs = _as_tuple(res, "outputs of the user-provided function",
                                               "jacobian")
                tans = [fwad.unpack_dual(o).tangent for o in outputs]
            if cols is None:
                cols = [[[] for _ in inputs] for _ in outputs]
            for i, (o, t) in enumerate(zip(outputs, tans)):
                if t is None:
                    if strict:
                        raise RuntimeError(f"jacobian: output {i} of the user-provided function "
                                           f"is independent of input {k}; this is not allowed in "
                                           "strict mode")
                    t = Tensor._make(np.zeros(o._data.shape, o._data.dtype))
                cols[i][k].append(t if create_graph else t._data)
    if cols is None:            # no input elements: run once for the output shapes
        out_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function",
                                       "jacobian")
        cols = [[[] for _ in inputs] for _ in outputs]
    jac = []
    for i, o in enumerate(outputs):
        row = []
        for k, inp in enumerate(inputs):
            shape = o._data.shape + inp._data.shape
            c = cols[i][k]
            if not c:
                row.append(Tensor._make(np.zeros(shape, inp._data.dtype)))
            elif create_graph:
                row.append(_sh.reshape(_sh.stack(c, -1), shape))
            else:
                row.append(Tensor._make(np.stack(c, -1).reshape(shape)))
        jac.append(tuple(row))
    return out_tuple, tuple(jac)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of func at inputs.

    Single input and output: a Tensor of shape out.shape + in.shape.  Tuple inputs
    and/or outputs: (nested) tuples, ``result[i][j]`` being d output_i / d input_j.
    ``vectorize=True`` computes all rows in one batched walk of the graph (see the module
    docstring; with create_graph=True it runs the per-row loop).  strategy="forward-mode"
    computes it column by column with forward mode, one pass per input element
    (vectorize does not change that)."""
    _check_strategy(strategy, "strategy", "jacobian")
    if vectorize and strict:
        raise RuntimeError("jacobian: strict=True and vectorize=True are not supported together; "
                           "use vectorize=False to get the strict checks")
    with enable_grad():
        in_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        _check_float(inputs, "jacobian")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        if strategy == "forward-mode":
            out_tuple, jac = _jacobian_forward(func, inputs, create_graph, strict)
            return _tuple_post(_postprocess(jac, create_graph), (out_tuple, in_tuple))
        outputs = func(*inputs)
        out_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                       "jacobian")
        _check_requires_grad(outputs, "outputs", strict, "jacobian")
        if vectorize and not create_graph:
            jac = tuple(_jacobian_batched(out, inputs) for out in outputs)
        else:
            jac = tuple(_jacobian_rows(out, inputs, create_graph, strict, i, "jacobian")
                        for i, out in enumerate(outputs))
    return _tuple_post(_postprocess(jac, create_graph), (out_tuple, in_tuple))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar function: a Tensor of shape in.shape + in.shape for one
    input, a tuple of tuples (``result[i][j]`` = d^2 f / d in_i d in_j) for several."""
    _check_strategy(outer_jacobian_strategy, "outer_jacobian_strategy", "hessian")
    in_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    Tensor = _tensor_cls()

    def scalar_func(*inp):
        out = func(*inp)
        out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(t_out, "outputs", strict, "hessian")
        if out_tuple or not isinstance(out, Tensor):
            raise RuntimeError("hessian: the function given to hessian must return a single "
                               "Tensor, not a tuple")
        if out._data.size != 1:
            raise RuntimeError("hessian: the Tensor returned by the function must have a single "
                               f"element, but it has shape {tuple(out._data.shape)}")
        return out.reshape(())

    def jac_func(*inp):
        jac = jacobian(scalar_func, inp, create_graph=True)
        jac = jac if isinstance(jac, tuple) else (jac,)
        _check_requires_grad(jac, "jacobian", strict, "hessian")
        return jac

    res = jacobian(jac_func, inputs, create_graph=create_graph, strict=strict,
                   vectorize=vectorize, strategy=outer_jacobian_strategy)
    return _tuple_post(res, (in_tuple, in_tuple))


# ---- Hessian-vector products ------------------------------------------------------------
def _second_order(func, inputs, v, create_graph, strict, fn_name):
    """(outputs, was_tuple, v^T H) for a scalar function."""
    with enable_grad():
        in_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
        _check_float(inputs, fn_name)
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        if v is not None:
            _, v = _as_tuple(v, "v", fn_name)
            v = _preprocess(v, create_graph, need_graph=False)
            _validate_v(v, inputs, in_tuple, "input", fn_name)
        else:
            _single_element_v(inputs, fn_name, "input to the user-provided function")
        outputs = func(*inputs)
        out_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                       fn_name)
        _check_requires_grad(outputs, "outputs", strict, fn_name)
        if out_tuple:
            raise RuntimeError(f"{fn_name}: the function given to {fn_name} must return a single "
                               "Tensor, not a tuple")
        if outputs[0]._data.size != 1:
            raise RuntimeError(f"{fn_name}: the Tensor returned by the function must have a "
                               f"single element, but it has shape {tuple(outputs[0]._data.shape)}")
        jac = _autograd_grad(outputs, inputs, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict, fn_name)
        with set_grad_enabled(True if create_graph else is_grad_enabled()):
            g = _autograd_grad(jac, inputs, v, create_graph=create_graph)
            res = _fill_in_zeros(g, inputs, strict, "double_back", fn_name)
    return (_tuple_post(_postprocess(outputs, create_graph), out_tuple),
            _tuple_post(_postprocess(res, create_graph), in_tuple))


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(*inputs), v^T H) for a scalar function func; v shaped like inputs."""
    return _second_order(func, inputs, v, create_graph, strict, "vhp")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(*inputs), H v) for a scalar function func; v shaped like inputs.

    The Hessian of a scalar function is symmetric, so H v equals (v^T H)^T and is
    computed as vhp is: two backward passes instead of the three of the
    double-backward trick."""
    return _second_order(func, inputs, v, create_graph, strict, "hvp")
