"""The calculus tour (examples/calculus) runs and checks itself; Jacobians and Hessians
against closed forms and float64 finite differences of NumPy mirrors; vectorize=True
against the per-row loop; the DOT text of fastgrad.viz.draw_graph for known graphs."""
import os
import re
import runpy
import sys

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import viz
from fastgrad.autograd import functional as AF

TOUR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                    "calculus")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def t64(a, requires_grad=False):
    return fg.tensor(np.asarray(a, np.float64), dtype=fg.float64, requires_grad=requires_grad)


def run_tour(name, out_dir, monkeypatch, extra=()):
    """Run one tour script in this process (as `python script --quick --out DIR`);
    returns its exit status (0 unless a check failed)."""
    monkeypatch.setattr(sys, "argv", [name, "--quick", "--out", str(out_dir), *extra])
    monkeypatch.syspath_prepend(TOUR)
    try:
        runpy.run_path(os.path.join(TOUR, name), run_name="__main__")
    except SystemExit as e:
        return e.code
    return 0


# ---- the tour ----------------------------------------------------------------------------
TOUR_FIGURES = {
    "01_derivative.py": ["01_derivative.png"],
    "02_gradient_descent.py": ["02_gradient_descent.png"],
    "03_chain_rule.py": ["03_chain_rule.png"],
    "04_jacobian.py": ["04_jacobian.png"],
    "05_hessian.py": ["05_hessian.png"],
}


def test_tour_lists_every_script():
    scripts = sorted(f for f in os.listdir(TOUR) if re.match(r"\d\d_.*\.py$", f))
    assert scripts == sorted(TOUR_FIGURES)
    readme = open(os.path.join(TOUR, "README.md")).read()
    assert all(s in readme for s in scripts)


@pytest.mark.parametrize("script", sorted(TOUR_FIGURES))
def test_tour_script_runs_checks_and_writes_png(script, tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    status = run_tour(script, tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "all checks passed" in out and "FAILED" not in out
    assert out.count("check ") >= 4                  # it prints the numbers it checks
    for fig in TOUR_FIGURES[script]:
        data = (tmp_path / fig).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000, fig
        assert f"wrote {tmp_path / fig}" in out


def test_tour_without_matplotlib_still_checks(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # import matplotlib fails
    assert run_tour("04_jacobian.py", tmp_path, monkeypatch) == 0
    out, err = capsys.readouterr()
    assert "matplotlib is not installed" in err and "pip install matplotlib" in err
    assert "all checks passed" in out
    assert not list(tmp_path.glob("*.png"))


def test_tour_failed_check_exits_nonzero(monkeypatch, capsys):
    monkeypatch.syspath_prepend(TOUR)
    from _tour import Checks
    c = Checks()
    assert c.le("small", 1e-13, 1e-12) and c.true("holds", True)
    assert not c.le("too large", 1e-3, 1e-12) and not c.le("nan", float("nan"), 1.0)
    with pytest.raises(SystemExit) as e:
        c.finish()
    assert e.value.code == 1
    assert "2 check(s) FAILED: too large, nan" in capsys.readouterr().out


# ---- closed forms --------------------------------------------------------------------------
RNG = np.random.default_rng(2026)


@pytest.mark.parametrize("vectorize", [False, True])
def test_hessian_of_quadratic_and_bilinear_forms(vectorize):
    A = RNG.standard_normal((4, 4))
    H = AF.hessian(lambda x: fg.matmul(x, fg.matmul(t64(A), x)), t64(RNG.standard_normal(4)),
                   vectorize=vectorize)
    np.testing.assert_allclose(H.numpy(), A + A.T, atol=1e-13)
    # x^T B y: the Hessian blocks are [[0, B], [B^T, 0]]
    B = RNG.standard_normal((3, 2))
    H = AF.hessian(lambda x, y: (x * fg.matmul(t64(B), y)).sum(),
                   (t64(RNG.standard_normal(3)), t64(RNG.standard_normal(2))), vectorize=vectorize)
    np.testing.assert_allclose(H[0][0].numpy(), np.zeros((3, 3)), atol=0)
    np.testing.assert_allclose(H[0][1].numpy(), B, atol=1e-14)
    np.testing.assert_allclose(H[1][0].numpy(), B.T, atol=1e-14)
    np.testing.assert_allclose(H[1][1].numpy(), np.zeros((2, 2)), atol=0)


@pytest.mark.parametrize("vectorize", [False, True])
def test_jacobian_of_batched_linear_layer_is_block_diagonal(vectorize):
    W, b = RNG.standard_normal((3, 5)), RNG.standard_normal(3)
    X = RNG.standard_normal((2, 5))
    J = AF.jacobian(lambda X: fg.linear(X, t64(W), t64(b)), t64(X), vectorize=vectorize)
    assert J.shape == (2, 3, 2, 5)
    np.testing.assert_allclose(J.numpy(), np.einsum("bc,ij->bicj", np.eye(2), W), atol=1e-14)
    # and with respect to the weight: dY_bi / dW_kj = [i == k] X_bj
    JW = AF.jacobian(lambda W_: fg.linear(t64(X), W_, t64(b)), t64(W), vectorize=vectorize)
    np.testing.assert_allclose(JW.numpy(), np.einsum("ik,bj->bikj", np.eye(3), X), atol=1e-14)


def softmax_np(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("vectorize", [False, True])
def test_hessian_of_cross_entropy_wrt_logits(reduction, vectorize):
    """d^2/dz^2 of sum_b CE(z_b, t_b) is block diagonal with diag(p_b) - p_b p_b^T,
    divided by the batch size with the mean reduction (independent of the targets)."""
    Z = RNG.standard_normal((5, 4)) * 2
    target = fg.tensor(np.array([0, 3, 1, 1, 2]))
    H = AF.hessian(lambda z: fg.nn.functional.cross_entropy(z, target, reduction=reduction),
                   t64(Z), vectorize=vectorize)
    P = softmax_np(Z)
    blocks = np.einsum("bi,ij->bij", P, np.eye(4)) - np.einsum("bi,bj->bij", P, P)
    expected = np.einsum("bc,bij->bicj", np.eye(5), blocks) / (5 if reduction == "mean" else 1)
    assert H.shape == (5, 4, 5, 4)
    np.testing.assert_allclose(H.numpy(), expected, atol=1e-13)
    # one sample through log_softmax, as written by hand
    z = RNG.standard_normal(6)
    H1 = AF.hessian(lambda z: -fg.log_softmax(z, dim=0)[2], t64(z), vectorize=vectorize)
    p = softmax_np(z)
    np.testing.assert_allclose(H1.numpy(), np.diag(p) - np.outer(p, p), atol=1e-13)


@pytest.mark.parametrize("vectorize", [False, True])
def test_hessian_of_sums_of_squares(vectorize):
    x0 = RNG.standard_normal((2, 3))
    H = AF.hessian(lambda x: (x * x).sum(), t64(x0), vectorize=vectorize)
    np.testing.assert_allclose(H.numpy(), 2 * np.eye(6).reshape(2, 3, 2, 3), atol=0)
    # least squares: ||A x - y||^2 has Hessian 2 A^T A, gradient 2 A^T (A x - y)
    A, y = RNG.standard_normal((7, 4)), RNG.standard_normal(7)
    f = lambda x: ((fg.matmul(t64(A), x) - t64(y)) ** 2).sum()     # noqa: E731
    x1 = RNG.standard_normal(4)
    np.testing.assert_allclose(AF.hessian(f, t64(x1), vectorize=vectorize).numpy(),
                               2 * A.T @ A, rtol=1e-13, atol=1e-13)
    _, g = AF.vjp(f, t64(x1))
    np.testing.assert_allclose(g.numpy(), 2 * A.T @ (A @ x1 - y), rtol=1e-13, atol=1e-13)


# (fastgrad function, f', f'', domain)
ELEMENTWISE = {
    "tanh": (fg.tanh, lambda x: 1 - np.tanh(x) ** 2,
             lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2), (-2, 2)),
    "sin": (fg.sin, np.cos, lambda x: -np.sin(x), (-3, 3)),
    "cos": (fg.cos, lambda x: -np.sin(x), lambda x: -np.cos(x), (-3, 3)),
    "exp": (fg.exp, np.exp, np.exp, (-2, 2)),
    "log": (fg.log, lambda x: 1 / x, lambda x: -1 / x ** 2, (0.3, 3)),
    "sqrt": (fg.sqrt, lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x ** -1.5, (0.3, 3)),
    "sigmoid": (fg.sigmoid, lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2,
                lambda x: np.exp(-x) * (np.exp(-x) - 1) / (1 + np.exp(-x)) ** 3, (-3, 3)),
    "softplus": (fg.nn.functional.softplus, lambda x: 1 / (1 + np.exp(-x)),
                 lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2, (-3, 3)),
    "square": (lambda x: x * x, lambda x: 2 * x, lambda x: 2 + 0 * x, (-2, 2)),
    "cube": (lambda x: x ** 3, lambda x: 3 * x ** 2, lambda x: 6 * x, (-2, 2)),
    "reciprocal": (fg.reciprocal, lambda x: -1 / x ** 2, lambda x: 2 / x ** 3, (0.5, 2)),
    "relu": (fg.relu, lambda x: (x > 0) * 1.0, lambda x: 0 * x, (-2, 2)),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_jacobian_is_diagonal_and_hessian_of_sum_too(name):
    fn, d1, d2, (lo, hi) = ELEMENTWISE[name]
    x = np.linspace(lo, hi, 7)
    x = x[np.abs(x) > 1e-3]                      # keep relu away from its kink
    for vec in (False, True):
        J = AF.jacobian(fn, t64(x), vectorize=vec).numpy()
        np.testing.assert_allclose(J, np.diag(d1(x)), rtol=1e-13, atol=1e-14, err_msg=name)
    H = AF.hessian(lambda t: fn(t).sum(), t64(x)).numpy()
    np.testing.assert_allclose(H, np.diag(d2(x)), rtol=1e-12, atol=1e-13, err_msg=name)


# ---- random compositions against finite differences ----------------------------------------
N = 4
MAT = RNG.standard_normal((N, N)) / 2

# each op: (arity, fastgrad version, NumPy mirror)
OPS = {
    "tanh": (1, fg.tanh, np.tanh),
    "sin": (1, fg.sin, np.sin),
    "exp": (1, lambda a: fg.exp(a * 0.5), lambda a: np.exp(a * 0.5)),
    "sigmoid": (1, fg.sigmoid, lambda a: 1 / (1 + np.exp(-a))),
    "softmax": (1, lambda a: fg.softmax(a, dim=0), softmax_np),
    "matmul": (1, lambda a: fg.matmul(t64(MAT), a), lambda a: MAT @ a),
    "sum": (1, lambda a: a * a.sum() / N, lambda a: a * a.sum() / N),
    "mul": (2, lambda a, b: a * b, lambda a, b: a * b),
    "add": (2, lambda a, b: a + b, lambda a, b: a + b),
    "outer": (2, lambda a, b: fg.matmul(fg.outer(a, b), b) / N,
              lambda a, b: np.outer(a, b) @ b / N),
}


def random_composition(seed, n_ops=7):
    """A random expression of two (N,) inputs as a list of (op, argument indices): the
    first op mixes both inputs, each later op takes the latest value (so every op
    reaches the outputs) and, if binary, any earlier value."""
    rng = np.random.default_rng(seed)
    names = sorted(OPS)
    binary = [n for n in names if OPS[n][0] == 2]
    prog = [(binary[rng.integers(len(binary))], (0, 1))]
    for n_vals in range(3, n_ops + 2):
        name = names[rng.integers(len(names))]
        args = (n_vals - 1,) + ((int(rng.integers(0, n_vals)),) if OPS[name][0] == 2 else ())
        prog.append((name, args))
    return prog


SEEDS = range(6)


def test_random_compositions_use_every_op():
    used = {name for s in SEEDS for name, _ in random_composition(s)}
    assert used == set(OPS)


def evaluate(prog, x, y, numpy):
    vals = [x, y]
    for name, args in prog:
        vals.append(OPS[name][2 if numpy else 1](*(vals[i] for i in args)))
    return vals[-1], vals[-2]          # two outputs: the last two values


def num_jacobian(f, xs, eps=1e-6):
    xs = [np.array(x, np.float64) for x in xs]
    outs = f(*xs)
    jac = [[np.zeros(o.shape + x.shape) for x in xs] for o in outs]
    for i, x in enumerate(xs):
        for j in range(x.size):
            orig = x.flat[j]
            x.flat[j] = orig + eps
            fp = f(*xs)
            x.flat[j] = orig - eps
            fm = f(*xs)
            x.flat[j] = orig
            for k in range(len(outs)):
                jac[k][i][..., j] = (fp[k] - fm[k]) / (2 * eps)
    return jac


def num_hessian(f, x, h=1e-4):
    n = x.size
    H = np.zeros((n, n))
    for a in range(n):
        for b in range(a, n):
            vals = []
            for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                z = x.copy()
                z[a] += sa * h
                z[b] += sb * h
                vals.append(f(z))
            H[a, b] = H[b, a] = (vals[0] - vals[1] - vals[2] + vals[3]) / (4 * h * h)
    return H


@pytest.mark.parametrize("seed", SEEDS)
def test_random_composition_jacobian_and_hessian_vs_finite_differences(seed):
    prog = random_composition(seed)
    x0, y0 = RNG.standard_normal(N) * 0.7, RNG.standard_normal(N) * 0.7
    J = AF.jacobian(lambda x, y: evaluate(prog, x, y, False), (t64(x0), t64(y0)))
    num = num_jacobian(lambda x, y: evaluate(prog, x, y, True), (x0, y0))
    for k in range(2):
        for i in range(2):
            np.testing.assert_allclose(J[k][i].numpy(), num[k][i], rtol=1e-6, atol=1e-7,
                                       err_msg=f"{prog}: d out{k} / d in{i}")
    w = RNG.standard_normal(N)          # a scalar of both outputs, Hessian over both inputs

    def scalar_fg(x, y):
        a, b = evaluate(prog, x, y, False)
        return (a * t64(w)).sum() + (b * b).sum()

    def scalar_np(xy):
        a, b = evaluate(prog, xy[:N], xy[N:], True)
        return float((a * w).sum() + (b * b).sum())

    for vec in (False, True):
        H = AF.hessian(scalar_fg, (t64(x0), t64(y0)), vectorize=vec)
        full = np.block([[H[0][0].numpy(), H[0][1].numpy()], [H[1][0].numpy(), H[1][1].numpy()]])
        np.testing.assert_allclose(full, num_hessian(scalar_np, np.concatenate([x0, y0])),
                                   rtol=1e-5, atol=1e-6, err_msg=f"{prog}, vectorize={vec}")


# ---- vectorize=True against the loop --------------------------------------------------------
def tuple_func(x, W, unused):
    h = fg.tanh(fg.linear(x, W))                     # batched rules: linear, tanh
    s = fg.softmax(h, dim=-1)                        # no batching rule: per-row fallback
    return (s * h, fg.cat([h.sum(-1, keepdim=True), (x * x).mean(-1, keepdim=True)], -1),
            fg.log_softmax(x, dim=-1)[..., 1:])


def test_vectorize_equals_loop_jacobian_tuple_in_out():
    args = (t64(RNG.standard_normal((2, 3))), t64(RNG.standard_normal((4, 3))),
            t64(RNG.standard_normal(5)))
    a = AF.jacobian(tuple_func, args)
    b = AF.jacobian(tuple_func, args, vectorize=True)
    assert len(a) == len(b) == 3
    for k in range(3):
        assert len(a[k]) == len(b[k]) == 3
        for i in range(3):
            assert a[k][i].shape == b[k][i].shape
            np.testing.assert_allclose(b[k][i].numpy(), a[k][i].numpy(), rtol=1e-13, atol=1e-15)
        assert not np.any(a[k][2].numpy())           # the unused input: zero blocks
    assert a[2][1].shape == (2, 2, 4, 3) and not np.any(a[2][1].numpy())


def test_vectorize_equals_loop_hessian_tuple_inputs():
    def f(x, W, c):
        h = fg.tanh(fg.linear(x, W)) * c
        return (fg.softmax(h, dim=-1) * h).sum() + (fg.sin(c) * c).sum()

    args = (t64(RNG.standard_normal((2, 3))), t64(RNG.standard_normal((4, 3))),
            t64(RNG.standard_normal(4)))
    a = AF.hessian(f, args)
    b = AF.hessian(f, args, vectorize=True)
    for i in range(3):
        for j in range(3):
            assert a[i][j].shape == args[i].shape + args[j].shape
            np.testing.assert_allclose(b[i][j].numpy(), a[i][j].numpy(), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(a[i][j].numpy(),
                                       np.moveaxis(a[j][i].numpy(), range(args[j].ndim),
                                                   range(args[i].ndim, args[i].ndim + args[j].ndim)),
                                       rtol=1e-12, atol=1e-14)      # symmetric


# ---- DOT text of known graphs ----------------------------------------------------------------
NODE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)".*\];$')
EDGE = re.compile(r"^\s*(\w+) -> (\w+);$")


def parse_dot(dot):
    """{id: first label line}, {id: all label lines}, [(src, dst)]."""
    nodes, edges = {}, []
    for ln in dot.splitlines():
        m = NODE.match(ln)
        if m:
            nodes[m.group(1)] = m.group(2).split("\\n")
        m = EDGE.match(ln)
        if m:
            edges.append((m.group(1), m.group(2)))
    return nodes, edges


def edges_by_title(nodes, edges):
    """The edge list with node ids replaced by their titles (leaf names are unique)."""
    return sorted((nodes[s][0], nodes[d][0]) for s, d in edges)


def chain_expression():
    leaf = {k: t64(v, requires_grad=True) for k, v in
            dict(x=0.8, w1=1.5, b1=-0.3, w2=-2.0, b2=0.4).items()}
    y = fg.tanh(leaf["w2"] * fg.sigmoid(leaf["w1"] * leaf["x"] + leaf["b1"]) + leaf["b2"])
    return leaf, y


CHAIN_EDGES = sorted([("leaf w1", "mul"), ("leaf x", "mul"), ("mul", "add"), ("leaf b1", "add"),
                      ("add", "sigmoid"), ("sigmoid", "mul"), ("leaf w2", "mul"),
                      ("mul", "add"), ("leaf b2", "add"), ("add", "tanh"), ("tanh", "output")])


def test_dot_of_the_chain_rule_expression():
    leaf, y = chain_expression()
    nodes, edges = parse_dot(viz.draw_graph(y, names=leaf))
    titles = sorted(lab[0] for lab in nodes.values())
    assert titles == sorted(["output", "tanh", "add", "add", "mul", "mul", "sigmoid",
                             "leaf x", "leaf w1", "leaf b1", "leaf w2", "leaf b2"])
    assert edges_by_title(nodes, edges) == CHAIN_EDGES
    # the two mul nodes are told apart by their inputs: w1*x feeds the inner add
    ids = {lab[0]: k for k, lab in nodes.items() if lab[0].startswith("leaf")}
    (inner,) = [d for s, d in edges if s == ids["leaf x"]]
    (after,) = [d for s, d in edges if s == inner]
    assert {s for s, d in edges if d == after} == {inner, ids["leaf b1"]}
    sig = [k for k, lab in nodes.items() if lab[0] == "sigmoid"][0]
    assert nodes[sig][1] == "() float64"
    assert float(nodes[sig][2].split()[1]) == pytest.approx(1 / (1 + np.exp(-0.9)), abs=1e-4)


def test_dot_written_by_the_tour_matches_the_graph(tmp_path, monkeypatch, capsys):
    assert run_tour("03_chain_rule.py", tmp_path, monkeypatch, ["--no-plot"]) == 0
    capsys.readouterr()
    nodes, edges = parse_dot((tmp_path / "03_chain_rule.dot").read_text())
    assert edges_by_title(nodes, edges) == CHAIN_EDGES


def test_dot_leaves_constants_out_and_shares_a_leaf():
    x = t64([1.0, 2.0], requires_grad=True)
    c = t64([3.0, 4.0])                                  # no grad: not part of the graph
    y = (x * c + fg.sin(x)).sum()
    nodes, edges = parse_dot(viz.draw_graph(y, names={"x": x, "c": c}))
    assert not any("leaf c" in lab[0] for lab in nodes.values())
    assert edges_by_title(nodes, edges) == sorted([("leaf x", "mul"), ("leaf x", "sin"),
                                                   ("mul", "add"), ("sin", "add"),
                                                   ("add", "sum"), ("sum", "output")])
    assert sum(lab[0] == "leaf x" for lab in nodes.values()) == 1


def test_dot_of_a_model_with_named_parameters():
    fg.manual_seed(0)
    model = fg.nn.Sequential(fg.nn.Linear(3, 5), fg.nn.ReLU(), fg.nn.Linear(5, 2))
    loss = fg.nn.functional.cross_entropy(model(fg.randn(4, 3)), fg.tensor([0, 1, 1, 0]))
    nodes, edges = parse_dot(viz.draw_graph(loss, names=dict(model.named_parameters())))
    named = sorted(lab[0] for lab in nodes.values() if lab[0].startswith("leaf"))
    assert named == ["leaf 0.bias", "leaf 0.weight", "leaf 2.bias", "leaf 2.weight"]
    e = edges_by_title(nodes, edges)
    assert ("cross_entropy", "output") in e
    for p in ("0.weight", "0.bias", "2.weight", "2.bias"):
        assert sum(s == f"leaf {p}" for s, _ in e) == 1
    shapes = {lab[0]: lab[1] for lab in nodes.values()}
    assert shapes["leaf 0.weight"] == "(5, 3) float32" and shapes["output"] == "() float32"
