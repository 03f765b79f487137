"""fastgrad.autograd.functional against closed forms and float64 finite differences."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad.autograd import functional as F


def t64(a, requires_grad=False):
    return fg.tensor(np.asarray(a, dtype=np.float64), dtype=fg.float64,
                     requires_grad=requires_grad)


def num_jacobian(f, xs, eps=1e-6):
    """Central differences of f (NumPy arrays in, tuple of arrays out): J[o][i] with
    shape out.shape + in.shape."""
    xs = [np.array(x, dtype=np.float64) for x in xs]
    outs = f(*xs)
    jac = [[np.zeros(o.shape + x.shape) for x in xs] for o in outs]
    for i, x in enumerate(xs):
        for idx in np.ndindex(*x.shape):
            orig = x[idx]
            x[idx] = orig + eps
            fp = f(*xs)
            x[idx] = orig - eps
            fm = f(*xs)
            x[idx] = orig
            for k in range(len(outs)):
                jac[k][i][(Ellipsis,) + idx] = (fp[k] - fm[k]) / (2 * eps)
    return jac


def num_hessian(f, xs, h=1e-4):
    """Second-order central differences of a scalar f (arrays in, float out)."""
    xs = [np.array(x, dtype=np.float64) for x in xs]
    flat = [(i, idx) for i, x in enumerate(xs) for idx in np.ndindex(*x.shape)]
    H = {}
    for a in flat:
        for b in flat:
            vals = []
            for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                ys = [x.copy() for x in xs]
                ys[a[0]][a[1]] += sa * h
                ys[b[0]][b[1]] += sb * h
                vals.append(f(*ys))
            H[a, b] = (vals[0] - vals[1] - vals[2] + vals[3]) / (4 * h * h)
    blocks = [[np.zeros(xs[i].shape + xs[j].shape) for j in range(len(xs))]
              for i in range(len(xs))]
    for (a, b), v in H.items():
        blocks[a[0]][b[0]][a[1] + b[1]] = v
    return blocks


RNG = np.random.default_rng(1234)
W = RNG.standard_normal((3, 4))
B = RNG.standard_normal(3)


# a composition of several ops, written once for fastgrad and once for NumPy
def comp_fg(x, y):
    h = fg.tanh(fg.matmul(t64(W), x) + y)
    return (h * fg.sigmoid(y) + fg.sin(h) * h, fg.exp(x * 0.5).sum() * (y ** 2).sum())


def comp_np(x, y):
    h = np.tanh(W @ x + y)
    return (h * (1 / (1 + np.exp(-y))) + np.sin(h) * h, np.exp(x * 0.5).sum() * (y ** 2).sum())


def scalar_fg(x, y):
    a, b = comp_fg(x, y)
    return (a * a).sum() + b


def scalar_np(x, y):
    a, b = comp_np(x, y)
    return float((a * a).sum() + b)


X0 = RNG.standard_normal(4) * 0.5
Y0 = RNG.standard_normal(3) * 0.5


# ---- closed forms -------------------------------------------------------------------------
def test_hessian_of_quadratic_form_is_a_plus_a_transpose():
    A = RNG.standard_normal((5, 5))
    H = F.hessian(lambda x: (x * fg.matmul(t64(A), x)).sum(), t64(RNG.standard_normal(5)))
    assert H.shape == (5, 5) and H.dtype == fg.float64
    np.testing.assert_allclose(H.numpy(), A + A.T, rtol=1e-12, atol=1e-12)


def test_jacobian_of_linear_map_is_its_matrix():
    M = RNG.standard_normal((3, 2, 4))        # maps (4,) -> (3, 2)
    J = F.jacobian(lambda x: fg.matmul(t64(M), x) + 1.0, t64(RNG.standard_normal(4)))
    assert J.shape == (3, 2, 4)
    np.testing.assert_allclose(J.numpy(), M, rtol=1e-12, atol=1e-12)
    # a matrix input: out.shape + in.shape
    A = RNG.standard_normal((2, 3))
    J = F.jacobian(lambda X: fg.matmul(t64(A), X), t64(RNG.standard_normal((3, 4))))
    assert J.shape == (2, 4, 3, 4)
    np.testing.assert_allclose(J.numpy(), np.einsum("ik,jl->ijkl", A, np.eye(4)), atol=1e-12)


def test_hessian_of_softmax_cross_entropy_closed_form():
    z = RNG.standard_normal(6)
    target = 2
    onehot = np.eye(6)[target]
    H = F.hessian(lambda z: -(t64(onehot) * fg.log_softmax(z, dim=0)).sum(), t64(z))
    p = np.exp(z - z.max())
    p /= p.sum()
    np.testing.assert_allclose(H.numpy(), np.diag(p) - np.outer(p, p), rtol=1e-10, atol=1e-12)
    # and its gradient: p - onehot
    _, g = F.vjp(lambda z: -(t64(onehot) * fg.log_softmax(z, dim=0)).sum(), t64(z))
    np.testing.assert_allclose(g.numpy(), p - onehot, atol=1e-12)


# ---- finite differences ---------------------------------------------------------------------
def test_jacobian_tuple_in_out_vs_finite_differences():
    J = F.jacobian(comp_fg, (t64(X0), t64(Y0)))
    num = num_jacobian(lambda x, y: tuple(np.asarray(o) for o in comp_np(x, y)), (X0, Y0))
    assert isinstance(J, tuple) and len(J) == 2
    for k in range(2):
        assert isinstance(J[k], tuple) and len(J[k]) == 2
        for i in range(2):
            assert J[k][i].shape == num[k][i].shape
            np.testing.assert_allclose(J[k][i].numpy(), num[k][i], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("vectorize", [False, True])
def test_hessian_tuple_inputs_vs_finite_differences(vectorize):
    H = F.hessian(scalar_fg, (t64(X0), t64(Y0)), vectorize=vectorize)
    num = num_hessian(scalar_np, (X0, Y0))
    for i in range(2):
        for j in range(2):
            assert H[i][j].shape == num[i][j].shape
            np.testing.assert_allclose(H[i][j].numpy(), num[i][j], rtol=1e-4, atol=1e-5)


def test_hessian_single_input_vs_finite_differences():
    f_fg = lambda x: scalar_fg(x, t64(Y0))          # noqa: E731
    f_np = lambda x: scalar_np(x, Y0)               # noqa: E731
    H = F.hessian(f_fg, t64(X0))
    np.testing.assert_allclose(H.numpy(), num_hessian(f_np, (X0,))[0][0], rtol=1e-4, atol=1e-5)


# ---- products against the full matrices ------------------------------------------------------
def test_hvp_and_vhp_match_hessian_times_v():
    H = F.hessian(scalar_fg, (t64(X0), t64(Y0)))
    Hfull = np.block([[H[0][0].numpy(), H[0][1].numpy()], [H[1][0].numpy(), H[1][1].numpy()]])
    v = (RNG.standard_normal(4), RNG.standard_normal(3))
    vf = np.concatenate(v)
    out, hv = F.hvp(scalar_fg, (t64(X0), t64(Y0)), (t64(v[0]), t64(v[1])))
    np.testing.assert_allclose(out.numpy(), scalar_np(X0, Y0), rtol=1e-12)
    np.testing.assert_allclose(np.concatenate([h.numpy() for h in hv]), Hfull @ vf, rtol=1e-10,
                               atol=1e-10)
    _, vh = F.vhp(scalar_fg, (t64(X0), t64(Y0)), (t64(v[0]), t64(v[1])))
    np.testing.assert_allclose(np.concatenate([h.numpy() for h in vh]), vf @ Hfull, rtol=1e-10,
                               atol=1e-10)
    # single tensor in, single tensor out
    f = lambda x: scalar_fg(x, t64(Y0))     # noqa: E731
    _, hv1 = F.hvp(f, t64(X0), t64(v[0]))
    assert isinstance(hv1, fg.Tensor)
    np.testing.assert_allclose(hv1.numpy(), H[0][0].numpy() @ v[0], rtol=1e-10, atol=1e-10)


def test_jvp_and_vjp_match_jacobian():
    J = F.jacobian(comp_fg, (t64(X0), t64(Y0)))
    u = (RNG.standard_normal(4), RNG.standard_normal(3))
    out, jv = F.jvp(comp_fg, (t64(X0), t64(Y0)), (t64(u[0]), t64(u[1])))
    assert isinstance(out, tuple) and isinstance(jv, tuple) and len(jv) == 2
    for k in range(2):
        exp = (np.tensordot(J[k][0].numpy(), u[0], axes=1) + np.tensordot(J[k][1].numpy(), u[1], axes=1))
        np.testing.assert_allclose(jv[k].numpy(), exp, rtol=1e-10, atol=1e-12)
    w = (RNG.standard_normal(3), RNG.standard_normal(()))
    _, vj = F.vjp(comp_fg, (t64(X0), t64(Y0)), (t64(w[0]), t64(w[1])))
    for i in range(2):
        exp = (np.tensordot(w[0], J[0][i].numpy(), axes=1) + w[1] * J[1][i].numpy())
        np.testing.assert_allclose(vj[i].numpy(), exp, rtol=1e-10, atol=1e-12)
    # <J u, w> == <u, J^T w>: forward and reverse products agree
    lhs = sum(float((a.numpy() * b).sum()) for a, b in zip(jv, w))
    rhs = sum(float((a.numpy() * b).sum()) for a, b in zip(vj, u))
    assert abs(lhs - rhs) < 1e-10 * max(1.0, abs(lhs))


def test_scalar_defaults_for_v():
    out, g = F.vjp(lambda x: (x ** 3).sum(), t64([2.0]))
    np.testing.assert_allclose(g.numpy(), [12.0])
    out, d = F.jvp(lambda x: x ** 3, t64([2.0]))
    np.testing.assert_allclose(d.numpy(), [12.0])
    out, h = F.hvp(lambda x: (x ** 3).sum(), t64(2.0))
    np.testing.assert_allclose(h.numpy(), 12.0)


def test_vectorize_equals_loop_and_float32():
    x = fg.tensor(RNG.standard_normal(5).astype(np.float32))
    f = lambda x: fg.tanh(x) * x.sum()      # noqa: E731
    a = F.jacobian(f, x)
    b = F.jacobian(f, x, vectorize=True)
    assert a.dtype == fg.float32 and a.shape == (5, 5)
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-7)
    Hl = F.hessian(lambda x: (fg.tanh(x) ** 2).sum(), x)
    Hv = F.hessian(lambda x: (fg.tanh(x) ** 2).sum(), x, vectorize=True)
    np.testing.assert_allclose(Hv.numpy(), Hl.numpy(), rtol=1e-6, atol=1e-7)


def test_results_are_detached_and_inputs_untouched():
    x = t64(X0, requires_grad=True)
    J = F.jacobian(lambda x: x * x, x)
    assert not J.requires_grad and J.grad_fn is None
    assert x.grad is None
    _, g = F.vjp(lambda x: (x * x).sum(), x)
    assert not g.requires_grad and x.grad is None


@pytest.mark.parametrize("vectorize", [False, True])
def test_create_graph_results_are_differentiable(vectorize):
    x = t64(X0, requires_grad=True)
    J = F.jacobian(lambda x: x ** 3, x, create_graph=True, vectorize=vectorize)  # diag(3 x^2)
    assert J.requires_grad
    J.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * X0, rtol=1e-12)
    # gradient of an hvp result with respect to the point (third derivative)
    x2 = t64(X0, requires_grad=True)
    v = RNG.standard_normal(4)
    _, hv = F.hvp(lambda x: (x ** 4).sum(), x2, t64(v), create_graph=True)
    np.testing.assert_allclose(hv.detach().numpy(), 12 * X0 ** 2 * v, rtol=1e-12)
    hv.sum().backward()
    np.testing.assert_allclose(x2.grad.numpy(), 24 * X0 * v, rtol=1e-12)
    # vjp of a non-leaf input stays connected to the caller's graph
    x3 = t64(X0, requires_grad=True)
    y = x3 * 2.0
    _, g = F.vjp(lambda y: (y ** 2).sum(), y, create_graph=True)   # 2 y = 4 x
    g.sum().backward()
    np.testing.assert_allclose(x3.grad.numpy(), np.full(4, 4.0))
    assert fg.autograd.gradcheck(
        lambda x: F.vjp(lambda z: fg.tanh(z) * z, x, t64(np.ones(4)), create_graph=True)[1],
        t64(X0, requires_grad=True))


def test_independent_inputs_give_zeros_or_strict_errors():
    f = lambda x, y: x * 2.0                 # noqa: E731 - y unused
    x, y = t64(X0), t64(Y0)
    J = F.jacobian(f, (x, y))
    np.testing.assert_array_equal(J[1].numpy(), np.zeros((4, 3)))
    np.testing.assert_allclose(J[0].numpy(), 2 * np.eye(4))
    with pytest.raises(RuntimeError, match="jacobian.*independent of input 1.*strict"):
        F.jacobian(f, (x, y), strict=True)
    _, g = F.vjp(lambda x, y: (x * 2.0).sum(), (x, y))
    np.testing.assert_array_equal(g[1].numpy(), np.zeros(3))
    with pytest.raises(RuntimeError, match="vjp.*independent of input 1.*strict"):
        F.vjp(lambda x, y: (x * 2.0).sum(), (x, y), strict=True)
    # output that does not depend on the inputs at all
    const = lambda x: t64(np.ones(2))        # noqa: E731
    np.testing.assert_array_equal(F.jacobian(const, x).numpy(), np.zeros((2, 4)))
    with pytest.raises(RuntimeError, match="jacobian: output 0 .*does not require gradients"):
        F.jacobian(const, x, strict=True)
    # linear function: the Hessian is zero, strict refuses
    lin = lambda x: (x * 3.0).sum()          # noqa: E731
    np.testing.assert_array_equal(F.hessian(lin, x).numpy(), np.zeros((4, 4)))
    with pytest.raises(RuntimeError, match="hessian.*strict"):
        F.hessian(lin, x, strict=True)
    with pytest.raises(RuntimeError, match="vhp.*strict"):
        F.vhp(lin, x, t64(np.ones(4)), strict=True)
    _, jv = F.jvp(lambda x, y: x * 2.0, (x, y), (t64(np.ones(4)), t64(np.ones(3))))
    np.testing.assert_allclose(jv.numpy(), np.full(4, 2.0))


def test_bad_arguments_raise_clear_errors():
    x = t64(X0)
    with pytest.raises(TypeError, match="jacobian: the inputs must be either a Tensor"):
        F.jacobian(lambda x: x, X0)
    with pytest.raises(TypeError, match="vjp: the outputs of the user-provided function"):
        F.vjp(lambda x: 3.0, x)
    with pytest.raises(RuntimeError, match=r"vjp: v has shape \(3,\) but the output .*\(4,\)"):
        F.vjp(lambda x: x * x, x, t64(np.ones(3)))
    with pytest.raises(RuntimeError, match="vjp: v can only be None"):
        F.vjp(lambda x: x * x, x)
    with pytest.raises(RuntimeError, match="jvp: v can only be None"):
        F.jvp(lambda x: x * x, x)
    with pytest.raises(RuntimeError, match="jvp: v is a tuple of length 1 but the input"):
        F.jvp(lambda x, y: x * y, (x, x), (t64(np.ones(4)),))
    with pytest.raises(RuntimeError, match=r"hessian: .*single element.*\(4,\)"):
        F.hessian(lambda x: x * x, x)
    with pytest.raises(RuntimeError, match="hvp: .*single Tensor, not a tuple"):
        F.hvp(lambda x: ((x * x).sum(), x.sum()), x, t64(np.ones(4)))
    with pytest.raises(ValueError, match="hessian: outer_jacobian_strategy must be"):
        F.hessian(lambda x: x.sum(), x, outer_jacobian_strategy="forward")
    with pytest.raises(ValueError, match="jacobian: strategy must be"):
        F.jacobian(lambda x: x, x, strategy="sideways")
    with pytest.raises(RuntimeError, match="jacobian: strict=True and vectorize=True"):
        F.jacobian(lambda x: x, x, strict=True, vectorize=True)
    with pytest.raises(TypeError, match="jacobian: input 0 has dtype int64"):
        F.jacobian(lambda x: x, fg.tensor([1, 2, 3]))


def test_torch_agrees_on_a_tuple_case():
    torch = pytest.importorskip("torch")
    tJ = torch.autograd.functional.jacobian(
        lambda x, y: (torch.tanh(torch.as_tensor(W) @ x + y), (x ** 2).sum() * y),
        (torch.as_tensor(X0), torch.as_tensor(Y0)))
    J = F.jacobian(lambda x, y: (fg.tanh(fg.matmul(t64(W), x) + y), (x ** 2).sum() * y),
                   (t64(X0), t64(Y0)))
    for k in range(2):
        for i in range(2):
            np.testing.assert_allclose(J[k][i].numpy(), tJ[k][i].numpy(), rtol=1e-10, atol=1e-12)


# ---- vectorize=True: one batched walk of the graph ----------------------------------------
def _jac_pair(f, xs):
    loop = F.jacobian(f, xs)
    vec = F.jacobian(f, xs, vectorize=True)
    return loop, vec


def _assert_same_structure(a, b, rtol=1e-12, atol=1e-13):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same_structure(x, y, rtol, atol)
        return
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=rtol, atol=atol)


def test_vectorize_batching_rules_match_loop_and_finite_differences():
    A = t64(RNG.standard_normal((2, 3, 4)))

    def f(x, y):               # x (4, 5), y (3, 1): matmul with batch broadcast, views,
        h = fg.matmul(A, x)                                  # expand, reductions, clone
        h = fg.tanh(h - y) * fg.sigmoid(y) / (1.5 + y * y)
        p = h.permute(2, 0, 1).reshape(5, 6)
        e = y.reshape(1, 3).expand(2, 3).clone()
        return (p.sum(dim=1) + p.mean(dim=0, keepdim=True).sum() - fg.exp(e).mean(),
                fg.log_softmax(p, dim=1)[1:3])              # no batching rule: per-row backward
    xs = (t64(RNG.standard_normal((4, 5))), t64(RNG.standard_normal((3, 1))))
    loop, vec = _jac_pair(f, xs)
    _assert_same_structure(loop, vec)

    def f_np(x, y):
        h = np.tanh(A.numpy() @ x - y) * (1 / (1 + np.exp(-y))) / (1.5 + y * y)
        p = h.transpose(2, 0, 1).reshape(5, 6)
        e = np.broadcast_to(y.reshape(1, 3), (2, 3))
        lsm = p - np.log(np.exp(p).sum(axis=1, keepdims=True))
        return (p.sum(axis=1) + p.mean(axis=0).sum() - np.exp(e).mean(), lsm[1:3])
    num = num_jacobian(f_np, [x.numpy() for x in xs])
    for k in range(2):
        for i in range(2):
            np.testing.assert_allclose(vec[k][i].numpy(), num[k][i], rtol=1e-6, atol=1e-7)


def test_vectorize_unused_input_hooks_and_scalar_output():
    x, y = t64(X0), t64(Y0)
    J = F.jacobian(lambda x, y: x * 2.0, (x, y), vectorize=True)
    np.testing.assert_array_equal(J[1].numpy(), np.zeros((4, 3)))
    np.testing.assert_allclose(J[0].numpy(), 2 * np.eye(4))
    calls = []

    def hooked(x):
        h = fg.sin(x)
        h.register_hook(lambda g: calls.append(1) or g * 3.0)    # the hook changes the grad
        return h * x
    loop, vec = _jac_pair(hooked, x)
    _assert_same_structure(loop, vec)
    np.testing.assert_allclose(vec.numpy(), np.diag(3 * np.cos(X0) * X0 + np.sin(X0)))
    assert len(calls) == 8          # hooks ran once per row, in both
    loop, vec = _jac_pair(lambda x: (x ** 2).sum(), x)
    assert vec.shape == (4,)
    _assert_same_structure(loop, vec)
    loop, vec = _jac_pair(lambda x: x, x)                  # the output is the input itself
    _assert_same_structure(loop, vec)
    xf = fg.tensor(RNG.standard_normal(6).astype(np.float32))
    loop, vec = _jac_pair(lambda x: fg.matmul(x.reshape(2, 3), x.reshape(3, 2)), xf)
    _assert_same_structure(loop, vec, rtol=1e-6, atol=1e-7)


def test_vectorize_matches_loop_for_every_registry_op():
    from conftest import materialize
    from fastgrad.testing import REGISTRY
    checked = 0
    for name in sorted(REGISTRY):
        info = REGISTRY[name]
        if not info.grad:
            continue
        for s in [s for s in info.samples(np.random.default_rng(1)) if s.grad][:2]:
            args = materialize(s, np.float64, True)
            pos = [i for i, a in enumerate(args) if isinstance(a, fg.Tensor) and a.requires_grad]
            if not pos or any(args[i].numel() == 0 for i in pos):
                continue

            def f(*xs, args=args, pos=pos, s=s, info=info):
                full = list(args)
                for i, x in zip(pos, xs):
                    full[i] = x
                out = info.op(*full, **s.kwargs)
                return out[0] if isinstance(out, tuple) else out
            out = f(*[args[i] for i in pos])
            if not isinstance(out, fg.Tensor) or out.dtype != fg.float64 or out.numel() > 64:
                continue
            loop, vec = _jac_pair(f, tuple(args[i] for i in pos))
            for a, b in zip(loop, vec):
                assert a.shape == b.shape, f"{name} {s}"
                np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12, atol=1e-13,
                                           err_msg=f"{name} {s}")
            checked += 1
    assert checked > 100, checked


@pytest.mark.parametrize("act", [None, "relu", "tanh", "sigmoid", "gelu"])
def test_vectorize_linear_matches_loop(act):
    w, b = RNG.standard_normal((4, 3)), RNG.standard_normal(4)
    for xshape in [(3,), (5, 3), (2, 5, 3)]:
        x = RNG.standard_normal(xshape)
        f = lambda x, w, b: fg.linear(x, w, b, activation=act)    # noqa: E731
        loop, vec = _jac_pair(f, (t64(x), t64(w), t64(b)))
        _assert_same_structure(loop, vec)
        loop, vec = _jac_pair(lambda x, w: fg.linear(x, w, activation=act), (t64(x), t64(w)))
        _assert_same_structure(loop, vec)
    # against finite differences once
    x = RNG.standard_normal((2, 3))
    J = F.jacobian(lambda x, w, b: fg.linear(x, w, b, activation=act), (t64(x), t64(w), t64(b)),
                   vectorize=True)
    acts = {None: lambda z: z, "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh,
            "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
            "gelu": lambda z: 0.5 * z * (1 + np.vectorize(__import__("math").erf)(z / np.sqrt(2)))}
    num = num_jacobian(lambda x, w, b: (acts[act](x @ w.T + b),), (x, w, b))
    for i in range(3):
        np.testing.assert_allclose(J[i].numpy(), num[0][i], rtol=1e-6, atol=1e-7)
