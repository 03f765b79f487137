"""Edge semantics that ported PyTorch programs rely on, each compared with PyTorch:
where advanced indices put their dims, clamp with min > max, the gradient of x**y at
0**0, axis= as an alias of dim=, out-of-range dims, format() and the Python
conversions."""
import numpy as np
import pytest

import fastgrad as fg

torch = pytest.importorskip("torch")

SHAPE = (2, 3, 4, 5)


# ---- advanced indexing: PyTorch's placement of the indexed dims -----------------------------
def _random_index(rng):
    """An index mixing ints, slices, None, Ellipsis and int lists (advanced indices)."""
    parts, dims = [], 0
    ell = rng.random() < 0.2
    budget = len(SHAPE) - int(rng.integers(0, 2)) if not ell else int(rng.integers(1, 4))
    while dims < budget:
        n = SHAPE[dims] if not ell else 2
        kind = rng.choice(["int", "slice", "step", "list", "list2", "none", "tensor0"])
        if kind == "int":
            parts.append(int(rng.integers(-n, n)))
        elif kind == "slice":
            parts.append(slice(None))
        elif kind == "step":
            parts.append(slice(1, None, 2))
        elif kind == "list":
            parts.append([int(i) for i in rng.integers(0, n, size=2)])
        elif kind == "list2":
            parts.append([[int(i) for i in rng.integers(0, n, size=2)]])
        elif kind == "tensor0":
            parts.append(("t0", int(rng.integers(0, n))))
        else:
            parts.append(None)
            continue
        dims += 1
    if ell:
        parts.insert(int(rng.integers(0, len(parts) + 1)), Ellipsis)
    return tuple(parts)


def _build(index, lib):
    out = []
    for p in index:
        if isinstance(p, tuple) and p and p[0] == "t0":
            out.append(lib.tensor(p[1]))
        else:
            out.append(p)
    return tuple(out)


@pytest.mark.parametrize("seed", range(60))
def test_getitem_and_setitem_match_torch(seed):
    rng = np.random.default_rng(seed)
    index = _random_index(rng)
    x = rng.standard_normal(SHAPE)
    tx = torch.tensor(x, requires_grad=True)
    fx = fg.tensor(x, requires_grad=True)
    try:
        t = tx[_build(index, torch)]
    except (IndexError, RuntimeError, TypeError, ValueError):
        with pytest.raises((IndexError, RuntimeError, TypeError, ValueError)):
            fx[_build(index, fg)]
        return
    f = fx[_build(index, fg)]
    assert f.shape == tuple(t.shape), f"{index}: shape {f.shape} != {tuple(t.shape)}"
    np.testing.assert_array_equal(f.detach().numpy(), t.detach().numpy())
    w = rng.standard_normal(tuple(t.shape))
    (t * torch.tensor(w)).sum().backward()
    (f * fg.tensor(w)).sum().backward()
    np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), err_msg=str(index))
    # setitem: a value of the indexed shape lands where PyTorch puts it (repeats: last wins
    # in both only for distinct positions, so compare with distinct values written once)
    a, b = torch.zeros(SHAPE, dtype=torch.float64), fg.zeros(SHAPE, dtype=fg.float64)
    a[_build(index, torch)] = torch.tensor(w)
    b[_build(index, fg)] = fg.tensor(w)
    np.testing.assert_array_equal(b.numpy() != 0, a.numpy() != 0, err_msg=str(index))
    # with autograd recording: value's gradient is gathered from the written positions
    v_t = torch.tensor(w, requires_grad=True)
    v_f = fg.tensor(w, requires_grad=True)
    base_t, base_f = torch.zeros(SHAPE, dtype=torch.float64) * 1.0, fg.zeros(SHAPE, dtype=fg.float64) * 1.0
    base_t[_build(index, torch)] = v_t
    base_f[_build(index, fg)] = v_f
    g = rng.standard_normal(SHAPE)
    (base_t * torch.tensor(g)).sum().backward()
    (base_f * fg.tensor(g)).sum().backward()
    assert v_f.grad.shape == tuple(v_t.grad.shape)


@pytest.mark.parametrize("index", [
    (0, slice(None), [1, 2]), ([0, 1], slice(None), [1, 2]), (slice(None), 0, slice(None), [1, 2]),
    (0, slice(None), slice(None), [1, 2]), (None, 0, slice(None), [1, 2]), (1, Ellipsis, [0, 0, 1]),
    (0, slice(None), [[1, 2], [0, 0]]), (True, slice(None), [0, 1])])
def test_int_and_array_index_placement(index):
    x = np.arange(120.0).reshape(SHAPE)
    t = torch.tensor(x)[index]
    f = fg.tensor(x)[index]
    assert f.shape == tuple(t.shape)
    np.testing.assert_array_equal(f.numpy(), t.numpy())
    a, b = torch.zeros(SHAPE), fg.zeros(SHAPE)
    v = np.arange(float(t.numel())).reshape(tuple(t.shape)) + 1
    a[index] = torch.tensor(v, dtype=torch.float32)
    b[index] = fg.tensor(v, dtype=fg.float32)
    np.testing.assert_array_equal(b.numpy(), a.numpy())


# ---- clamp with min > max --------------------------------------------------------------------
def test_clamp_min_greater_than_max():
    x = np.array([0.0, 1.0, 1.5, 3.0, np.inf, -np.inf, np.nan])
    tx, fx = torch.tensor(x, requires_grad=True), fg.tensor(x, requires_grad=True)
    t, f = torch.clamp(tx, 2.0, 1.0), fg.clamp(fx, 2.0, 1.0)
    np.testing.assert_array_equal(f.detach().numpy(), t.detach().numpy())
    t.sum().backward()
    f.sum().backward()
    np.testing.assert_array_equal(fx.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(fg.tensor(x).clamp(min=2, max=1).numpy(), torch.tensor(x).clamp(min=2, max=1).numpy())
    lo, hi = np.full(7, 2.0), np.full(7, 1.0)
    np.testing.assert_array_equal(fg.clamp(fg.tensor(x), fg.tensor(lo), fg.tensor(hi)).numpy(),
                                  torch.clamp(torch.tensor(x), torch.tensor(lo), torch.tensor(hi)).numpy())


# ---- the gradient of x ** a for a Python-number exponent ---------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a", [0.0, 1.0, 2.0, 3.0, 4.0, 0.5, -0.5, -1.0, -2.0, 1.5, -3.0, 2.5])
def test_pow_scalar_exponent_gradient_matches_torch(a, dtype):
    """Every exponent with its own backward loop, and the general one, over positive and
    negative bases, zeros, infinities and NaN (torch as the oracle: values and the
    positions of inf/NaN).  The gradient at -inf for a non-integer exponent is left out:
    fastgrad's is a * pow(x, a - 1) there, torch's is NaN for 0.5 and -0.5."""
    rng = np.random.default_rng(int(a * 10) + 100)
    special = [0.0, -0.0, np.inf, np.nan, 1e-20, 1e20] + ([-np.inf] if a == int(a) else [])
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, 1e-20, 1e20], dtype=dtype)
    fv, tv = (fg.tensor(edges) ** a).numpy(), (torch.tensor(edges) ** a).numpy()
    np.testing.assert_allclose(fv, tv, rtol=2e-7 if dtype == "float32" else 4e-16, atol=0,
                               err_msg=f"values of x ** {a} at the edges")
    sign = (fv == 0) | np.isinf(fv)
    np.testing.assert_array_equal(np.signbit(fv[sign]), np.signbit(tv[sign]),
                                  err_msg=f"signs of the zeros and infinities of x ** {a}")
    x = np.concatenate([rng.uniform(0.1, 3.0, 40), -rng.uniform(0.1, 3.0, 20),
                        special]).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    fx = fg.tensor(x, requires_grad=True)
    (tx ** a).backward(torch.tensor(g))
    (fx ** a).backward(fg.tensor(g))
    rtol = 2e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=0)


# ---- the gradient of x ** y at 0 ---------------------------------------------------------------
@pytest.mark.parametrize("a,b", [(0.0, 0.0), (0.0, 1.0), (0.0, 2.0), (0.0, 0.5), (2.0, 0.0), (0.0, -1.0),
                                 (3.0, 2.0), (-2.0, 2.0)])
def test_pow_gradient_at_zero(a, b):
    ta, tb = torch.tensor(a, dtype=torch.float64, requires_grad=True), torch.tensor(b, dtype=torch.float64,
                                                                                      requires_grad=True)
    fa, fb = fg.tensor(a, dtype=fg.float64, requires_grad=True), fg.tensor(b, dtype=fg.float64, requires_grad=True)
    (ta ** tb).backward()
    (fa ** fb).backward()
    np.testing.assert_allclose(fa.grad.numpy(), ta.grad.numpy(), rtol=1e-14, err_msg="base")
    np.testing.assert_allclose(fb.grad.numpy(), tb.grad.numpy(), rtol=1e-14, err_msg="exponent")
    ta.grad, fa.grad = None, None
    (ta ** b).backward()
    (fa ** b).backward()
    np.testing.assert_allclose(fa.grad.numpy(), ta.grad.numpy(), rtol=1e-14, err_msg="scalar exponent")


# ---- axis= -----------------------------------------------------------------------------------
AXIS = [
    ("sum", {}), ("mean", {}), ("std", {}), ("var", {}), ("prod", {}), ("amax", {}), ("amin", {}),
    ("logsumexp", {}), ("cumsum", {}), ("cumprod", {}), ("softmax", {}), ("log_softmax", {}),
    ("argmax", {}), ("argmin", {}), ("unsqueeze", {}), ("logcumsumexp", {}),
]


@pytest.mark.parametrize("name,kw", AXIS)
@pytest.mark.parametrize("axis", [0, -1])
def test_axis_alias(name, kw, axis):
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = getattr(torch, name)(torch.tensor(x), axis=axis, **kw)
    for f in (getattr(fg, name)(fg.tensor(x), axis=axis, **kw), getattr(fg.tensor(x), name)(axis=axis, **kw)):
        np.testing.assert_allclose(f.numpy(), t.numpy(), rtol=1e-12, err_msg=name)


def test_axis_alias_tuples_and_joins():
    x = np.random.default_rng(1).standard_normal((3, 4))
    tx, fx = torch.tensor(x), fg.tensor(x)
    for name in ("max", "min", "cummax", "cummin", "sort"):
        t, f = getattr(torch, name)(tx, axis=1), getattr(fg, name)(fx, axis=1)
        np.testing.assert_array_equal(f[0].numpy(), t[0].numpy())
        np.testing.assert_array_equal(f[1].numpy(), t[1].numpy())
    for name in ("std_mean", "var_mean"):
        for a, b in zip(getattr(fg, name)(fx, axis=0), getattr(torch, name)(tx, axis=0)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(fg.cat([fx, fx], axis=1).numpy(), torch.cat([tx, tx], axis=1).numpy())
    np.testing.assert_array_equal(fg.stack([fx, fx], axis=1).numpy(), torch.stack([tx, tx], axis=1).numpy())
    np.testing.assert_array_equal(fg.argsort(fx, axis=0).numpy(), torch.argsort(tx, axis=0).numpy())
    assert fg.squeeze(fg.zeros(1, 3), axis=0).shape == tuple(torch.squeeze(torch.zeros(1, 3), axis=0).shape)
    assert len(fg.unbind(fx, axis=1)) == len(torch.unbind(tx, axis=1))
    assert fg.all(fx > -10, axis=1).numpy().all() and fg.any(fx > 10, axis=0).numpy().sum() == 0
    with pytest.raises(TypeError, match="cumsum: missing the argument 'dim'"):
        fg.cumsum(fx)


# ---- out-of-range dims -------------------------------------------------------------------------
DIM_OPS = [
    "sum", "mean", "std", "var", "prod", "amax", "amin", "logsumexp", "cumsum", "cumprod", "softmax",
    "log_softmax", "argmax", "argmin", "max", "min", "squeeze", "unsqueeze", "all", "any", "sort", "argsort",
    "cummax", "cummin", "logcumsumexp", "unbind", "flatten", "std_mean", "var_mean",
]


@pytest.mark.parametrize("name", DIM_OPS)
@pytest.mark.parametrize("dim", [3, -4])
def test_out_of_range_dim_raises_index_error(name, dim):
    x = np.zeros((2, 3, 4))
    if name == "unsqueeze":
        dim = dim + (1 if dim > 0 else -1)
    with pytest.raises(IndexError):
        getattr(torch, name)(torch.tensor(x), dim)
    with pytest.raises(IndexError, match=f"{name}: dimension"):
        getattr(fg, name)(fg.tensor(x), dim)


def test_out_of_range_dim_of_joins_and_0d():
    with pytest.raises(IndexError):
        fg.cat([fg.zeros(2), fg.zeros(2)], 1)
    with pytest.raises(IndexError):
        fg.stack([fg.zeros(2), fg.zeros(2)], 3)
    with pytest.raises(IndexError):
        fg.tensor(1.0).sum(1)
    assert fg.tensor(1.0).sum(0).shape == tuple(torch.tensor(1.0).sum(0).shape)
    assert fg.tensor(1.0).squeeze(-1).shape == tuple(torch.tensor(1.0).squeeze(-1).shape)


# ---- format and the Python conversions ---------------------------------------------------------
@pytest.mark.parametrize("value,spec", [(1.23456, ".2f"), (1.5, ">8.3f"), (3, "d"), (3, "04d"), (True, ""),
                                        (2.5, ""), (-0.5, "+.1e"), (1234.5, ",.1f")])
def test_format_0d_matches_torch(value, spec):
    assert format(fg.tensor(value), spec) == format(torch.tensor(value), spec)
    assert f"{fg.tensor(value)}" == f"{torch.tensor(value)}"


def test_format_non_0d():
    with pytest.raises(TypeError, match="unsupported format string"):
        format(fg.ones(2), ".2f")
    with pytest.raises(TypeError, match="unsupported format string"):
        format(fg.ones(1), ".2f")
    assert f"{fg.ones(2)}" == repr(fg.ones(2))
    loss = fg.tensor(0.123456, requires_grad=True) * 2
    assert f"loss {loss:.3f}" == "loss 0.247"


@pytest.mark.parametrize("value", [[3.7], [[-2.2]], 5.0, [1], [[0]], True, [False]])
def test_python_conversions(value):
    t, f = torch.tensor(value), fg.tensor(value)
    assert int(f) == int(t) and type(int(f)) is int
    assert float(f) == float(t) and type(float(f)) is float
    assert bool(f) == bool(t)
    assert f.item() == t.item() and type(f.item()) is type(t.item())
    assert f.tolist() == t.tolist()


def test_conversions_of_several_elements_raise():
    for conv in (int, float):
        with pytest.raises(ValueError, match="one-element"):
            conv(fg.ones(2))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(fg.ones(2))
    assert fg.tensor([[1.0, 2.0]]).tolist() == [[1.0, 2.0]]


# ---- unary functions at the edges of their domains -------------------------------------------
EDGE_VALUES = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1e-30, -1e-30,
               1e30, -1e30, 88.0, -88.0, 100.0, -100.0, 1e-45, 3.0, 0.9999, -0.9999, 1.0001, 20.0,
               -20.0, 1e-8]
EDGE_UNARY = ["abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "ceil", "cos", "cosh",
              "erf", "exp", "exp2", "expm1", "fix", "floor", "isfinite", "isinf", "isnan", "log",
              "log10", "log1p", "log2", "logit", "neg", "reciprocal", "relu", "round", "rsqrt",
              "sgn", "sigmoid", "sign", "sin", "sinh", "sqrt", "square", "tan", "tanh", "trunc",
              "nn.functional.gelu", "nn.functional.silu", "nn.functional.mish",
              "nn.functional.softplus", "nn.functional.elu", "nn.functional.selu",
              "nn.functional.celu", "nn.functional.leaky_relu", "nn.functional.hardtanh",
              "nn.functional.hardsigmoid", "nn.functional.hardswish", "nn.functional.relu6",
              "nn.functional.logsigmoid", "nn.functional.softsign",
              "erfc", "erfinv", "lgamma", "digamma", "i0", "sinc", "frac", "deg2rad", "rad2deg",
              "nan_to_num", "signbit", "isposinf", "isneginf", "absolute", "negative",
              "special.erfcx", "special.ndtr", "special.log_ndtr", "special.entr",
              "special.expit", "special.gammaln", "special.psi",
              "nn.functional.hardshrink", "nn.functional.softshrink",
              "nn.functional.rrelu"]
# fastgrad returns the limit where PyTorch's formula gives NaN: silu(-inf) and mish(-inf) are
# -0.0 (x * sigmoid(x) -> 0), gelu(+-inf) in float32 is inf and -0.0 (PyTorch: NaN in float32).
EDGE_LIMITS = {("nn.functional.silu", -np.inf), ("nn.functional.mish", -np.inf),
               ("nn.functional.gelu", np.inf), ("nn.functional.gelu", -np.inf)}


def _resolve(mod, name):
    for part in name.split("."):
        mod = getattr(mod, part)
    return mod


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", EDGE_UNARY)
def test_unary_edge_values_match_torch(name, dtype):
    """Zeros of both signs, infinities, NaN, tiny, huge and domain-boundary inputs: the same
    values (within rounding), the same NaN/inf positions and the same dtype as PyTorch."""
    x = np.array(EDGE_VALUES, dtype=dtype)
    tv = _resolve(torch, name)(torch.tensor(x)).numpy()
    fv = _resolve(fg, name)(fg.tensor(x)).numpy()
    assert fv.dtype == tv.dtype, f"{name}: dtype {fv.dtype} vs PyTorch's {tv.dtype}"
    keep = np.array([(name, v) not in EDGE_LIMITS for v in EDGE_VALUES])
    if fv.dtype == bool:
        np.testing.assert_array_equal(fv, tv, err_msg=name)
        return
    tol = 2e-5 if dtype == "float32" else 1e-12
    both_tiny = (np.abs(tv) < 1e-37) & (np.abs(fv) < 1e-37)     # flush-to-zero vs a subnormal
    ok = np.isclose(fv, tv, rtol=tol, atol=0, equal_nan=True) | both_tiny | ~keep
    bad = np.flatnonzero(~ok)
    assert bad.size == 0, f"{name} {dtype}: " + ", ".join(
        f"x={x[i]!r}: fastgrad {fv[i]!r}, PyTorch {tv[i]!r}" for i in bad[:6])


@pytest.mark.parametrize("first,then", [(0.0, -0.0), (-0.0, 0.0)])
def test_python_zero_scalars_keep_their_sign(first, then):
    """x * 0.0 and x * -0.0 differ in the sign of their zeros, whichever ran first (the
    0-d tensors made for Python scalars are cached, and 0.0 == -0.0 as a key)."""
    x = np.array([1.0, -2.0, 3.0], np.float32)
    fg.tensor(x) * first
    got = (fg.tensor(x) * then).numpy()
    want = (torch.tensor(x) * then).numpy()
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    got = (fg.tensor(x) + then).numpy()
    np.testing.assert_array_equal(got, x)
