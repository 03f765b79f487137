"""Pictures of the graph that backprop walks.

``draw_graph(t)`` returns Graphviz DOT text of the graph that produced tensor ``t``:
one box per op (the ``Node`` its forward left behind), one ellipse per leaf tensor, and
the output tensor, with edges in the direction data flows (input -> op -> output).
``render`` turns DOT text into an image with the Graphviz ``dot`` program, and
``print_graph`` draws the same graph as an indented text tree for terminals.

Only metadata that is still alive is read: after a backward without retain_graph the
saved values of each node are freed, so op outputs then show no values (leaves, the
output tensor and gradients always can).  Every node appears once, however many
consumers it has; walks are iterative, so graphs of any depth work.
"""
import shutil
import subprocess
import sys

import numpy as np

from fastgrad.autograd.engine import _FREED, Node, topological

__all__ = ["draw_graph", "render", "print_graph"]


def _tensor_cls():
    from fastgrad._tensor import Tensor
    return Tensor


def _check_tensor(t, who):
    Tensor = _tensor_cls()
    if not isinstance(t, Tensor):
        raise TypeError(f"fastgrad.viz.{who}: expected a Tensor, got {type(t).__name__}")


def _input_shape(node, i, out_shape):
    """The shape of input i of `node` from its output shape and what backward keeps
    (no saved values needed), for the ops whose declaration tells it; else None."""
    from fastgrad.autograd.engine import TRAITS
    if node.shapes is not None:
        return tuple(node.shapes[i])
    traits = TRAITS.get(node.fn)
    if traits is None:
        return None
    if traits.input_shape is not None:
        return traits.input_shape(node, i, out_shape)
    if traits.elementwise:
        return tuple(out_shape)
    return None


def _node_meta(nodes, root):
    """(shape, dtype, value array or None) of each node's output where still known."""
    meta = {}
    if root.grad_fn is not None:
        meta[root.grad_fn] = (root._data.shape, root._data.dtype, root._data)
    Tensor = _tensor_cls()
    for node in nodes:
        if node.saved is not _FREED:
            if node.out is not None and node not in meta:
                meta[node] = (node.out.shape, node.out.dtype, node.out)
            for s in node.saved or ():
                if isinstance(s, Tensor) and type(s.grad_fn) is Node and s.grad_fn not in meta:
                    meta[s.grad_fn] = (s._data.shape, s._data.dtype, s._data)
        if node.retain is not None:
            t = node.retain()
            if t is not None and node not in meta:
                meta[node] = (t._data.shape, t._data.dtype, t._data)
    for node in nodes:          # consumers first: pass known shapes down to the inputs
        m = meta.get(node)
        for i, e in enumerate(node.edges):
            if type(e) is not Node or e in meta:
                continue
            if m is None and node.shapes is None:
                continue
            sh = _input_shape(node, i, m[0] if m is not None else None)
            if sh is not None:
                meta[e] = (sh, m[1] if m is not None else None, None)
    return meta


def _fmt_shape(shape):
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _fmt_values(arr, max_values):
    if arr is None or arr.size > max_values:
        return None
    a = np.asarray(arr)
    if a.dtype.kind == "f":
        s = np.array2string(a, precision=4, separator=", ", suppress_small=True,
                            max_line_width=10_000)
    else:
        s = np.array2string(a, separator=", ", max_line_width=10_000)
    return " ".join(s.split())


def _describe_tensor(t, max_values, show_grads, title):
    lines = [title, f"{_fmt_shape(t._data.shape)} {t._data.dtype}"]
    v = _fmt_values(t._data, max_values)
    if v is not None:
        lines.append(f"value {v}")
    if show_grads and t.grad is not None:
        gv = _fmt_values(t.grad._data, max_values)
        lines.append(f"grad {gv}" if gv is not None else
                     f"grad {_fmt_shape(t.grad._data.shape)}")
    return lines


def _describe_node(node, meta, max_values):
    lines = [f"{node.name}"]
    m = meta.get(node)
    if m is not None:
        shape, dtype, val = m
        lines.append(_fmt_shape(shape) + (f" {dtype}" if dtype is not None else ""))
        v = _fmt_values(val, max_values)
        if v is not None:
            lines.append(f"value {v}")
    return lines


def _dot_quote(lines):
    esc = [ln.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") for ln in lines]
    return '"' + "\\n".join(esc) + '"'


def _leaf_names(names):
    if names is None:
        return {}
    if not isinstance(names, dict):
        raise TypeError("fastgrad.viz: names must be a dict mapping a name to a Tensor, got "
                        f"{type(names).__name__}")
    return {id(t): str(k) for k, t in names.items()}


def draw_graph(tensor, show_grads=True, max_values=8, names=None):
    """Graphviz DOT text of the graph that produced `tensor`.

    show_grads: add the ``.grad`` of leaves (and of the output, if it retains it).
    max_values: tensors with at most this many elements show their values.
    names: optional dict {name: Tensor} to label leaves (e.g. ``dict(model.named_parameters())``)."""
    _check_tensor(tensor, "draw_graph")
    leaf_name = _leaf_names(names)
    lines = ["digraph fastgrad {",
             '  graph [rankdir=BT, fontname="monospace"];',
             '  node [fontname="monospace", fontsize=10];']
    ids = {}

    def nid(obj, prefix):
        k = id(obj)
        if k not in ids:
            ids[k] = f"{prefix}{len(ids)}"
        return ids[k]

    out_id = "out"
    title = "output" + (f" {leaf_name[id(tensor)]}" if id(tensor) in leaf_name else "")
    if tensor.grad_fn is None:
        title = ("leaf " if tensor.requires_grad else "constant ") + title
    lines.append(f"  {out_id} [label={_dot_quote(_describe_tensor(tensor, max_values, show_grads, title))}, "
                 "shape=box, style=\"rounded,filled\", fillcolor=\"#d9ead3\"];")
    if tensor.grad_fn is None:
        lines.append("}")
        return "\n".join(lines) + "\n"
    nodes = topological([tensor.grad_fn])
    meta = _node_meta(nodes, tensor)
    edges = [f"  {nid(tensor.grad_fn, 'op')} -> {out_id};"]
    leaves = {}
    for node in nodes:
        me = nid(node, "op")
        lines.append(f"  {me} [label={_dot_quote(_describe_node(node, meta, max_values))}, "
                     "shape=box, style=filled, fillcolor=\"#e8e8e8\"];")
        for e in node.edges:
            if e is None:
                continue
            if type(e) is Node:
                edges.append(f"  {nid(e, 'op')} -> {me};")
            else:
                src = nid(e, "leaf")
                leaves[src] = e
                edges.append(f"  {src} -> {me};")
    for src, t in leaves.items():
        title = "leaf" + (f" {leaf_name[id(t)]}" if id(t) in leaf_name else "")
        lines.append(f"  {src} [label={_dot_quote(_describe_tensor(t, max_values, show_grads, title))}, "
                     "shape=ellipse, style=filled, fillcolor=\"#cfe2f3\"];")
    seen = set()
    for e in edges:             # an op that uses the same input twice gets one arrow
        if e not in seen:
            seen.add(e)
            lines.append(e)
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_or_tensor, path, format="svg", **draw_kwargs):
    """Write an image of a graph (DOT text, or a Tensor whose graph is drawn) to `path`
    with the Graphviz ``dot`` program.  Returns `path`."""
    Tensor = _tensor_cls()
    if isinstance(dot_or_tensor, Tensor):
        dot = draw_graph(dot_or_tensor, **draw_kwargs)
    elif isinstance(dot_or_tensor, str):
        dot = dot_or_tensor
    else:
        raise TypeError("fastgrad.viz.render: expected DOT text or a Tensor, got "
                        f"{type(dot_or_tensor).__name__}")
    if not isinstance(format, str) or not format.isalnum():
        raise ValueError(f"fastgrad.viz.render: format must be a Graphviz output format such as "
                         f"'svg' or 'png', got {format!r}")
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError("fastgrad.viz.render: the Graphviz program 'dot' was not found on PATH; "
                           "install Graphviz (e.g. 'apt install graphviz' or 'conda install "
                           "graphviz') or use draw_graph() to get the DOT text")
    proc = subprocess.run([exe, f"-T{format}", "-o", str(path)], input=dot.encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError(f"fastgrad.viz.render: 'dot -T{format}' failed (exit code "
                           f"{proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    return path


_MAX_INDENT = 32     # tree levels drawn before the indentation restarts


def print_graph(tensor, show_grads=True, max_values=8, names=None, file=None):
    """Print the graph that produced `tensor` as a text tree and return the text.
    A node used more than once is expanded the first time and referred to afterwards."""
    _check_tensor(tensor, "print_graph")
    leaf_name = _leaf_names(names)
    meta = _node_meta(topological([tensor.grad_fn]), tensor) if tensor.grad_fn is not None else {}
    ids = {}

    def label(obj):
        if type(obj) is Node:
            first = obj not in ids
            if first:
                ids[obj] = len(ids) + 1
            desc = _describe_node(obj, meta, max_values)
            text = f"{desc[0]} #{ids[obj]}" + (" " + "  ".join(desc[1:]) if desc[1:] else "")
            return (text if first else f"{desc[0]} #{ids[obj]} (see above)"), first
        title = "leaf" + (f" {leaf_name[id(obj)]}" if id(obj) in leaf_name else "")
        return "  ".join(_describe_tensor(obj, max_values, show_grads, title)), False

    out = []
    root = tensor.grad_fn if tensor.grad_fn is not None else tensor
    stack = [(root, "", "", 0)]
    while stack:
        obj, connector, prefix, depth = stack.pop()
        text, expand = label(obj)            # labelled when printed: numbers follow the text
        out.append(connector + text)
        if expand:
            kids = [e for e in obj.edges if e is not None]
            if kids and len(prefix) >= 4 * _MAX_INDENT:   # deep graphs: keep lines short
                out.append(f"{prefix}:  (depth {depth + 1} continues at the left margin)")
                prefix = ""
            for j in range(len(kids) - 1, -1, -1):
                last = j == len(kids) - 1
                stack.append((kids[j], prefix + ("└── " if last else "├── "),
                              prefix + ("    " if last else "│   "), depth + 1))
    text = "\n".join(out)
    print(text, file=file if file is not None else sys.stdout)
    return text
