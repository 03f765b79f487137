"""Tensor methods and index ops of fastgrad.ops.extra_methods against PyTorch."""
import numpy as np
import pytest

import fastgrad as fg

torch = pytest.importorskip("torch")


def _rng():
    return np.random.default_rng(24)


def test_introspection_methods_match_torch():
    a = _rng().standard_normal((3, 4, 5))
    for arr in (a, a.transpose(2, 0, 1), a[:, ::2, 1:]):
        x, t = fg.tensor(np.ascontiguousarray(arr)), torch.tensor(np.ascontiguousarray(arr))
        assert x.stride() == t.stride()
        assert x.permute(2, 0, 1).stride() == t.permute(2, 0, 1).stride()
        assert x.stride(-1) == t.stride(-1)
        assert x.ndimension() == t.ndimension() and x.nelement() == t.nelement()
    assert fg.numel(fg.zeros(2, 3)) == 6 and fg.is_tensor(fg.zeros(1)) and not fg.is_tensor(1.0)
    for d, td in ((fg.float32, torch.float32), (fg.int64, torch.int64), (fg.uint8, torch.uint8),
                  (fg.bool, torch.bool), (fg.int8, torch.int8), (fg.float16, torch.float16)):
        x, t = fg.zeros(2, dtype=d), torch.zeros(2, dtype=td)
        assert x.is_signed() == t.is_signed()
        assert fg.is_floating_point(x) == torch.is_floating_point(t) == x.is_floating_point()
    with pytest.raises(IndexError):
        fg.zeros(2, 3).stride(2)


def test_new_factories_and_type_as():
    x = fg.zeros(2, dtype=fg.float64)
    assert x.new_tensor([1, 2]).dtype == fg.float64
    assert x.new_tensor([1, 2], dtype=fg.int32).dtype == fg.int32
    f = x.new_full((2, 3), 7)
    assert f.shape == (2, 3) and f.dtype == fg.float64 and (f.numpy() == 7).all()
    assert x.new_empty(3, 4).shape == (3, 4) and x.new_empty((5,)).dtype == fg.float64
    assert x.new_full((1,), 1.0, requires_grad=True).requires_grad
    i = fg.tensor([1, 2])
    assert i.type_as(x).dtype == fg.float64 and x.type_as(i).dtype == fg.int64
    a = fg.tensor([1.0, -2.0], requires_grad=True)
    a.type_as(x).sum().backward()
    assert a.grad.numpy().tolist() == [1.0, 1.0]


def test_where_method_and_clamp_min_max():
    a = _rng().standard_normal((3, 4))
    x, t = fg.tensor(a), torch.tensor(a)
    np.testing.assert_array_equal(x.where(x > 0, -1.0).numpy(), t.where(t > 0, -1.0).numpy())
    np.testing.assert_array_equal(x.clamp_min(0.1).numpy(), t.clamp_min(0.1).numpy())
    np.testing.assert_array_equal(fg.clamp_max(x, 0.1).numpy(), torch.clamp_max(t, 0.1).numpy())
    xi, ti = fg.tensor([-3, 0, 5]), torch.tensor([-3, 0, 5])
    assert fg.clamp_min(xi, 1).dtype == fg.int64
    np.testing.assert_array_equal(fg.clamp_min(xi, 1).numpy(), torch.clamp_min(ti, 1).numpy())


UNARY_INPLACE = ["exp_", "log_", "sqrt_", "sigmoid_", "tanh_", "neg_", "abs_", "floor_", "ceil_",
                 "trunc_", "round_", "sign_", "sgn_", "sin_", "cos_", "tan_", "sinh_", "cosh_",
                 "atan_", "asinh_", "reciprocal_", "rsqrt_", "log1p_", "expm1_", "log2_",
                 "log10_", "exp2_", "erf_", "square_", "fix_", "absolute_", "negative_"]


@pytest.mark.parametrize("name", UNARY_INPLACE)
def test_unary_inplace_matches_torch_and_rebases_gradient(name):
    a = _rng().uniform(0.1, 2.0, (3, 4))
    x, t = fg.tensor(a), torch.tensor(a)
    out = getattr(x, name)()
    assert out is x
    getattr(t, name)()
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-12, atol=0)
    # through a non-leaf: the gradient of the rebased history matches torch
    leaf, tleaf = fg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y = leaf * 1.0
    getattr(y, name)()
    ty = getattr(tleaf * 1.0, name[:-1])()      # torch lacks some in-place derivatives
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), tleaf.grad.numpy(force=True), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,arg", [("pow_", 2.5), ("fmod_", 0.7), ("atan2_", "t"),
                                      ("hypot_", "t"), ("copysign_", "t"), ("clamp_min_", 0.9),
                                      ("clamp_max_", 0.9), ("mul_", "t"), ("lerp_", "lerp")])
def test_binary_inplace_matches_torch(name, arg):
    rng = _rng()
    a, b = rng.uniform(0.1, 2.0, (3, 4)), rng.standard_normal((4,))
    x, t = fg.tensor(a), torch.tensor(a)
    if arg == "t":
        fa, ta = (fg.tensor(b),), (torch.tensor(b),)
    elif arg == "lerp":
        fa, ta = (fg.tensor(b), 0.3), (torch.tensor(b), 0.3)
    else:
        fa = ta = (arg,)
    assert getattr(x, name)(*fa) is x
    getattr(t, name)(*ta)
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-12, atol=1e-15)


def test_inplace_on_a_leaf_that_requires_grad_raises_like_torch():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        x.exp_()


def _idx(v):
    return fg.tensor(np.array(v, dtype=np.int64)), torch.tensor(v, dtype=torch.int64)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_add_copy_fill_match_torch(dim):
    rng = _rng()
    a = rng.standard_normal((4, 5))
    n = a.shape[dim]
    iv = list(rng.integers(0, n, 3))
    fi, ti = _idx(iv)
    sshape = list(a.shape)
    sshape[dim] = 3
    s = rng.standard_normal(sshape)
    x, t = fg.tensor(a), torch.tensor(a)
    np.testing.assert_allclose(fg.index_add(x, dim, fi, fg.tensor(s), alpha=2).numpy(),
                               torch.index_add(t, dim, ti, torch.tensor(s), alpha=2).numpy(), rtol=1e-12)
    uv = list(rng.permutation(n)[:3])
    fu, tu = _idx(uv)
    np.testing.assert_array_equal(x.index_copy(dim, fu, fg.tensor(s)).numpy(),
                                  t.index_copy(dim, tu, torch.tensor(s)).numpy())
    np.testing.assert_array_equal(x.index_fill(dim, fi, -7.0).numpy(), t.index_fill(dim, ti, -7.0).numpy())
    y, ty = x.clone(), t.clone()
    y.index_add_(dim, fi, fg.tensor(s))
    ty.index_add_(dim, ti, torch.tensor(s))
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)
    y.index_fill_(dim, fi, 3.0)
    ty.index_fill_(dim, ti, 3.0)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    y.index_copy_(dim, fu, fg.tensor(s))
    ty.index_copy_(dim, tu, torch.tensor(s))
    np.testing.assert_array_equal(y.numpy(), ty.numpy())


def test_index_ops_integer_dtypes_and_gradients():
    x, t = fg.tensor([[1, 2], [3, 4]]), torch.tensor([[1, 2], [3, 4]])
    fi, ti = _idx([1, 1])
    np.testing.assert_array_equal(x.index_add(0, fi, fg.ones(2, 2, dtype=fg.int64)).numpy(),
                                  t.index_add(0, ti, torch.ones(2, 2, dtype=torch.int64)).numpy())
    a = _rng().standard_normal((4, 3))
    s = _rng().standard_normal((2, 3))
    fa, fs = fg.tensor(a, requires_grad=True), fg.tensor(s, requires_grad=True)
    ta, ts = torch.tensor(a, requires_grad=True), torch.tensor(s, requires_grad=True)
    w = _rng().standard_normal((4, 3))
    fi, ti = _idx([3, 0])
    (fg.index_copy(fa, 0, fi, fs) * fg.tensor(w)).sum().backward()
    (torch.index_copy(ta, 0, ti, ts) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(fa.grad.numpy(), ta.grad.numpy())
    np.testing.assert_allclose(fs.grad.numpy(), ts.grad.numpy())


def test_index_ops_bad_input_raise():
    x = fg.zeros(3, 4)
    with pytest.raises(IndexError, match="index_add"):
        fg.index_add(x, 0, fg.tensor([5]), fg.ones(1, 4))
    with pytest.raises(RuntimeError, match="index_add"):
        fg.index_add(x, 0, fg.tensor([0]), fg.ones(1, 3))
    with pytest.raises(IndexError, match="index_fill"):
        x.index_fill(2, fg.tensor([0]), 1.0)
    with pytest.raises(RuntimeError, match="masked_scatter"):
        x.masked_scatter(fg.ones(3, 4, dtype=fg.bool), fg.ones(5))


def test_masked_scatter_matches_torch():
    rng = _rng()
    a, m, s = rng.standard_normal((3, 4)), rng.random((4,)) > 0.4, rng.standard_normal((20,))
    x, t = fg.tensor(a), torch.tensor(a)
    np.testing.assert_array_equal(x.masked_scatter(fg.tensor(m), fg.tensor(s)).numpy(),
                                  t.masked_scatter(torch.tensor(m), torch.tensor(s)).numpy())
    x.masked_scatter_(fg.tensor(m), fg.tensor(s))
    t.masked_scatter_(torch.tensor(m), torch.tensor(s))
    np.testing.assert_array_equal(x.numpy(), t.numpy())


def test_scatter_inplace_methods_match_torch():
    rng = _rng()
    a, s = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    iv = [[0, 1, 2, 0], [2, 0, 1, 1]]
    x, t = fg.tensor(a), torch.tensor(a)
    x.scatter_add_(0, fg.tensor(iv), fg.tensor(s))
    t.scatter_add_(0, torch.tensor(iv), torch.tensor(s))
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-12)
    x.scatter_(1, fg.tensor([[0], [3], [1]]), fg.tensor(rng.standard_normal((3, 1))[:, :1] * 0 + 5.0))
    t.scatter_(1, torch.tensor([[0], [3], [1]]), torch.full((3, 1), 5.0, dtype=torch.float64))
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-12)
