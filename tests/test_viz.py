"""fastgrad.viz: DOT text parsed back into nodes and edges, text trees, rendering."""
import io
import re
import shutil
import stat

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import viz

NODE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$')
EDGE = re.compile(r"^\s*(\w+) -> (\w+);$")


def split_label(text):
    """A DOT label's lines, with escapes kept as written (\\n is the only line break)."""
    lines, cur = [], ""
    for tok in re.findall(r"\\.|[^\\]", text):
        if tok == "\\n":
            lines.append(cur)
            cur = ""
        else:
            cur += tok
    return lines + [cur]


def parse(dot):
    """{id: [label lines]}, [(src, dst)] from draw_graph's DOT text."""
    lines = dot.strip().splitlines()
    assert lines[0] == "digraph fastgrad {" and lines[-1] == "}"
    nodes, edges = {}, []
    for ln in lines[1:-1]:
        m = NODE.match(ln)
        if m:
            assert m.group(1) not in nodes, f"node {m.group(1)} declared twice"
            nodes[m.group(1)] = split_label(m.group(2))
            continue
        m = EDGE.match(ln)
        if m:
            edges.append((m.group(1), m.group(2)))
            continue
        assert ln.strip().startswith(("graph [", "node [")), f"unexpected DOT line {ln!r}"
    for s, d in edges:
        assert s in nodes and d in nodes, f"edge {s} -> {d} names an undeclared node"
    return nodes, edges


def by_title(nodes, title):
    return [k for k, lab in nodes.items() if lab[0] == title]


def make_graph():
    a = fg.tensor([1.0, -2.0, 3.0], dtype=fg.float64, requires_grad=True)
    b = fg.tensor([0.5, 0.25, 2.0], dtype=fg.float64, requires_grad=True)
    y = fg.tanh(a * b)                 # shared: used twice below
    z = (y * y + y).sum()
    return a, b, z


def test_dot_has_expected_nodes_and_edges():
    a, b, z = make_graph()
    nodes, edges = parse(viz.draw_graph(z, names={"a": a, "b": b}))
    (la,), (lb,) = by_title(nodes, "leaf a"), by_title(nodes, "leaf b")
    (out,) = by_title(nodes, "output")
    (s,), (add,), (th,) = by_title(nodes, "sum"), by_title(nodes, "add"), by_title(nodes, "tanh")
    muls = by_title(nodes, "mul")
    assert len(muls) == 2 and len(nodes) == 8        # each node exactly once
    assert all(len(lab) > 1 and lab[1].endswith(" float64") for lab in nodes.values())
    mul_ab = [m for m in muls if (la, m) in edges][0]
    mul_yy = [m for m in muls if m != mul_ab][0]
    expected = {(la, mul_ab), (lb, mul_ab), (mul_ab, th), (th, mul_yy), (th, add),
                (mul_yy, add), (add, s), (s, out)}
    assert set(edges) == expected and len(edges) == len(expected)
    assert nodes[la][1] == "(3,) float64" and nodes[la][2] == "value [ 1., -2., 3.]"
    assert nodes[out][1] == "() float64"
    assert float(nodes[out][2].split()[1]) == pytest.approx(z.item(), rel=1e-4)
    # the tanh output is saved for backward, so its shape and values are known
    assert nodes[th][1] == "(3,) float64"
    np.testing.assert_allclose([float(v) for v in nodes[th][2][7:-1].split(",")],
                               np.tanh([0.5, -0.5, 6.0]), atol=1e-4)


def test_dot_after_backward_shows_grads_and_reads_no_freed_data():
    a, b, z = make_graph()
    z.backward()                        # saved tensors are freed now
    nodes, edges = parse(viz.draw_graph(z, names={"a": a, "b": b}))
    (la,) = by_title(nodes, "leaf a")
    grad_line = [ln for ln in nodes[la] if ln.startswith("grad ")][0]
    got = [float(v) for v in grad_line[6:-1].split(",")]
    np.testing.assert_allclose(got, a.grad.numpy(), rtol=1e-3, atol=1e-4)
    (th,) = by_title(nodes, "tanh")
    # freed: no values are read, shapes are inferred from what backward keeps
    assert nodes[th] == ["tanh", "(3,) float64"]
    for op in by_title(nodes, "mul") + by_title(nodes, "add"):
        assert nodes[op] == [nodes[op][0], "(3,) float64"]
    assert len(edges) == 8
    nodes2, _ = parse(viz.draw_graph(z, show_grads=False))
    assert not any(ln.startswith("grad ") for lab in nodes2.values() for ln in lab)


def test_values_only_for_small_tensors_and_special_roots():
    x = fg.randn(20, dtype=fg.float64, requires_grad=True)
    nodes, _ = parse(viz.draw_graph(fg.tanh(x), max_values=8))
    assert not any(ln.startswith("value") for lab in nodes.values() for ln in lab)
    nodes, edges = parse(viz.draw_graph(x))
    assert list(nodes.values())[0][0] == "leaf output" and edges == []
    nodes, edges = parse(viz.draw_graph(fg.ones(2)))
    assert list(nodes.values())[0][:2] == ["constant output", "(2,) float32"] and edges == []
    with pytest.raises(TypeError, match="draw_graph: expected a Tensor"):
        viz.draw_graph(np.ones(2))


def test_labels_are_escaped():
    x = fg.tensor([1.0], requires_grad=True)
    nodes, _ = parse(viz.draw_graph(x * 2, names={'we"ird\\name': x}))
    assert by_title(nodes, 'leaf we\\"ird\\\\name')


def test_shapes_inferred_through_views_and_reductions():
    x = fg.randn(2, 3, dtype=fg.float64, requires_grad=True)
    y = (fg.exp(x.permute(1, 0)).reshape(6) * 2.0).sum()
    y.backward()
    nodes, _ = parse(viz.draw_graph(y))
    shapes = {lab[0]: lab[1] for lab in nodes.values()}
    assert shapes == {"output": "() float64", "sum": "() float64", "mul": "(6,) float64",
                      "reshape": "(6,) float64", "exp": "(3, 2) float64",
                      "permute": "(3, 2) float64", "leaf": "(2, 3) float64"}


def test_deep_chain_and_second_order_graph():
    x = fg.tensor([0.5], dtype=fg.float64, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    nodes, edges = parse(viz.draw_graph(y))
    assert len(nodes) == 5002 and len(edges) == 5001
    lines = viz.print_graph(y, file=io.StringIO()).splitlines()
    assert sum("mul #" in ln for ln in lines) == 5000 and "leaf" in lines[-1]
    assert max(len(ln) for ln in lines) < 250            # indentation does not grow forever
    # the graph of a gradient built with create_graph=True
    x = fg.tensor([0.3, 0.7], dtype=fg.float64, requires_grad=True)
    (g,) = fg.autograd.grad((fg.sin(x) * x).sum(), x, create_graph=True)
    nodes, edges = parse(viz.draw_graph(g))
    assert len(by_title(nodes, "leaf")) == 1 and edges


def test_print_graph_tree(capsys):
    a, b, z = make_graph()
    text = viz.print_graph(z, names={"a": a, "b": b})
    assert capsys.readouterr().out.strip() == text.strip()
    lines = text.splitlines()
    assert lines[0].startswith("sum #1 () float64")
    assert lines[1] == "└── add #2 (3,) float64"
    assert sum("tanh #" in ln and "see above" not in ln for ln in lines) == 1   # expanded once
    assert sum("tanh #4 (see above)" in ln for ln in lines) == 2      # y*y and +y
    assert sum("leaf a" in ln for ln in lines) == 1 and "leaf b" in text
    z.backward()
    assert "grad [" in viz.print_graph(z, names={"a": a}, file=io.StringIO())
    with pytest.raises(TypeError, match="print_graph: expected a Tensor"):
        viz.print_graph([1.0])


def test_render_missing_dot_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    _, _, z = make_graph()
    with pytest.raises(RuntimeError, match="Graphviz program 'dot' was not found"):
        viz.render(z, tmp_path / "g.svg")
    with pytest.raises(TypeError, match="render: expected DOT text or a Tensor"):
        viz.render(3, tmp_path / "g.svg")


def _fake_dot(tmp_path, body):
    exe = tmp_path / "dot"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


def test_render_invokes_dot_program(monkeypatch, tmp_path):
    # a stand-in 'dot' that records its arguments and copies the DOT text to the -o file
    exe = _fake_dot(tmp_path, 'echo "$@" > "$3.args"; cat > "$3"\n')
    monkeypatch.setattr(shutil, "which", lambda name: exe if name == "dot" else None)
    _, _, z = make_graph()
    out = tmp_path / "g.png"
    assert viz.render(z, out, format="png") == out
    assert out.read_text() == viz.draw_graph(z)
    assert (tmp_path / "g.png.args").read_text().split() == ["-Tpng", "-o", str(out)]
    bad = _fake_dot(tmp_path, 'echo "syntax error in line 1" >&2; exit 1\n')
    monkeypatch.setattr(shutil, "which", lambda name: bad)
    with pytest.raises(RuntimeError, match=r"'dot -Tsvg' failed \(exit code 1\): syntax error"):
        viz.render("digraph {", tmp_path / "x.svg")
    with pytest.raises(ValueError, match="render: format must be"):
        viz.render("digraph {}", tmp_path / "x.svg", format="svg; rm")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_render_with_real_graphviz(tmp_path):
    _, _, z = make_graph()
    out = viz.render(z, tmp_path / "g.svg")
    assert "<svg" in out.read_text()
