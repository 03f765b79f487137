"""Shape, linear-algebra and reduction functions of fastgrad.ops.extra_shape against
PyTorch with generated inputs: values, dtypes, gradients."""
import numpy as np
import pytest

import fastgrad as fg

torch = pytest.importorskip("torch")


def _rng():
    return np.random.default_rng(7)


def _pair(a, grad=False):
    return fg.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def _same(f, t, rtol=1e-12):
    if isinstance(t, (tuple, list)):
        assert isinstance(f, (tuple, list)) and len(f) == len(t)
        for a, b in zip(f, t):
            _same(a, b, rtol)
        return
    fa, ta = f.detach().numpy(), t.detach().numpy()
    assert fa.shape == ta.shape and str(fa.dtype) == str(ta.dtype), (fa.shape, ta.shape, fa.dtype, ta.dtype)
    np.testing.assert_allclose(fa, ta, rtol=rtol, atol=1e-14, equal_nan=True)


def _grads_match(fn_f, fn_t, *arrays):
    fs = [fg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    of, ot = fn_f(*fs), fn_t(*ts)
    w = _rng().standard_normal(tuple(ot.shape))
    (of * fg.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    for f, t in zip(fs, ts):
        _same(f.grad, t.grad, 1e-10)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4)])
def test_atleast_ravel_swap_flip_match_torch(shape):
    a = _rng().standard_normal(shape)
    x, t = _pair(a)
    for n in ("atleast_1d", "atleast_2d", "atleast_3d", "ravel"):
        _same(getattr(fg, n)(x), getattr(torch, n)(t))
    _same(fg.atleast_2d(x, x), torch.atleast_2d(t, t))
    if len(shape) >= 2:
        for n in ("swapaxes", "swapdims"):
            _same(getattr(fg, n)(x, 0, -1), getattr(torch, n)(t, 0, -1))
            _same(getattr(x, n)(0, 1), getattr(t, n)(0, 1))
        _same(fg.moveaxis(x, 0, -1), torch.moveaxis(t, 0, -1))
        _same(fg.fliplr(x), torch.fliplr(t))
        for k in (-3, -1, 0, 1, 2, 3, 5):
            _same(fg.rot90(x, k), torch.rot90(t, k))
            _same(fg.rot90(x, k, (1, 0)), torch.rot90(t, k, (1, 0)))
        _grads_match(lambda v: fg.rot90(v, 1), lambda v: torch.rot90(v, 1), a)
    if len(shape) >= 1:
        _same(fg.flipud(x), torch.flipud(t))


def test_stacks_match_torch():
    r = _rng()
    for shapes in ([(3,), (3,)], [(2, 3), (2, 3)], [(), ()], [(2, 3, 4), (2, 3, 4)]):
        arrs = [r.standard_normal(s) for s in shapes]
        fs, ts = [fg.tensor(a) for a in arrs], [torch.tensor(a) for a in arrs]
        for n in ("hstack", "vstack", "row_stack", "dstack", "column_stack"):
            if n == "column_stack" and len(shapes[0]) > 2:
                continue
            _same(getattr(fg, n)(fs), getattr(torch, n)(ts))
    _grads_match(lambda a, b: fg.hstack([a, b]), lambda a, b: torch.hstack([a, b]),
                 r.standard_normal((2, 3)), r.standard_normal((2, 1)))
    with pytest.raises(RuntimeError):
        fg.hstack([])


@pytest.mark.parametrize("n,dim", [(1, -1), (2, 0), (3, 1), (0, 1)])
def test_diff_matches_torch(n, dim):
    r = _rng()
    a, p, q = r.standard_normal((4, 5)), r.standard_normal((4, 5)), r.standard_normal((4, 5))
    x, t = _pair(a)
    _same(fg.diff(x, n, dim), torch.diff(t, n, dim))
    _same(fg.diff(x, n, dim, prepend=fg.tensor(p), append=fg.tensor(q)),
          torch.diff(t, n, dim, prepend=torch.tensor(p), append=torch.tensor(q)))
    xi, ti = _pair(np.array([[1, 4, 9, 16], [2, 2, 3, 5]]))
    _same(fg.diff(xi, n, dim), torch.diff(ti, n, dim))
    xb, tb = _pair(np.array([True, False, False, True]))
    _same(fg.diff(xb), torch.diff(tb))
    if n:
        _grads_match(lambda v: fg.diff(v, n, dim), lambda v: torch.diff(v, n, dim), a)


def test_linear_algebra_matches_torch():
    r = _rng()
    a, b = r.standard_normal((3, 4)), r.standard_normal((4, 3))
    x, t = _pair(a)
    _same(fg.trace(x), torch.trace(t))
    _same(fg.trace(fg.tensor([[1, 2], [3, 4]])), torch.trace(torch.tensor([[1, 2], [3, 4]])))
    _grads_match(fg.trace, torch.trace, a)
    c, d = r.standard_normal((2, 3, 4)), r.standard_normal((3, 4, 5))
    for dims, e in ((2, d), (1, r.standard_normal((4, 2))), (0, r.standard_normal(2)),
                    (([0, 1], [1, 0]), r.standard_normal((3, 2, 5))), (([2], [1]), d)):
        _same(fg.tensordot(fg.tensor(c), fg.tensor(e), dims), torch.tensordot(torch.tensor(c), torch.tensor(e), dims))
    _grads_match(lambda p, q: fg.tensordot(p, q, 2), lambda p, q: torch.tensordot(p, q, 2), c, d)
    _same(fg.inner(x, fg.tensor(b.T)), torch.inner(t, torch.tensor(b.T)))
    _same(fg.inner(fg.tensor(2.0), x), torch.inner(torch.tensor(2.0), t))
    _grads_match(fg.inner, torch.inner, a, r.standard_normal((2, 4)))
    for sa, sb in (((2, 3), (3, 2)), ((2,), (2, 3)), ((2, 2, 1), (3,))):
        p, q = r.standard_normal(sa), r.standard_normal(sb)
        _same(fg.kron(fg.tensor(p), fg.tensor(q)), torch.kron(torch.tensor(p), torch.tensor(q)))
    _grads_match(fg.kron, torch.kron, r.standard_normal((2, 3)), r.standard_normal((3, 2)))
    _same(fg.kron(fg.tensor([1, 2]), fg.tensor([[3], [4]])), torch.kron(torch.tensor([1, 2]), torch.tensor([[3], [4]])))
    u, v = r.standard_normal((4, 3)), r.standard_normal((4, 3))
    _same(fg.cross(fg.tensor(u), fg.tensor(v), dim=1), torch.cross(torch.tensor(u), torch.tensor(v), dim=1))
    _same(fg.cross(fg.tensor(u.T), fg.tensor(v.T)), torch.cross(torch.tensor(u.T), torch.tensor(v.T), dim=0))
    _grads_match(lambda p, q: fg.cross(p, q, dim=-1), lambda p, q: torch.cross(p, q, dim=-1), u, v)
    with pytest.raises(RuntimeError):
        fg.cross(fg.zeros(2, 4), fg.zeros(2, 4), dim=1)


def test_broadcast_and_splits_match_torch():
    r = _rng()
    a, b = r.standard_normal((3, 1)), r.standard_normal((4,))
    _same(fg.broadcast_tensors(fg.tensor(a), fg.tensor(b)), torch.broadcast_tensors(torch.tensor(a), torch.tensor(b)))
    assert fg.broadcast_shapes((3, 1), (4,), 1) == tuple(torch.broadcast_shapes((3, 1), (4,), 1))
    with pytest.raises(RuntimeError):
        fg.broadcast_shapes((2,), (3,))
    a = r.standard_normal((7, 6, 4))
    x, t = _pair(a)
    for ios in (3, 1, 9, [2, 5], [0, 0, 3], [5, 2], [10]):
        for d in (0, 1, -1):
            _same(fg.tensor_split(x, ios, d), torch.tensor_split(t, ios, d))
    _same(fg.hsplit(x, 2), torch.hsplit(t, 2))
    _same(fg.vsplit(x, [2, 4]), torch.vsplit(t, [2, 4]))
    _same(fg.dsplit(x, 2), torch.dsplit(t, 2))
    _same(fg.hsplit(fg.tensor(a[0, 0]), 2), torch.hsplit(torch.tensor(a[0, 0]), 2))
    with pytest.raises(RuntimeError):
        fg.vsplit(x, 3)
    with pytest.raises(RuntimeError):
        fg.dsplit(fg.zeros(2, 2), 2)


def test_take_isin_bucketize_match_torch():
    r = _rng()
    a = r.standard_normal((3, 4))
    x, t = _pair(a)
    idx = np.array([[0, -1], [5, 11]])
    _same(fg.take(x, fg.tensor(idx)), torch.take(t, torch.tensor(idx)))
    _grads_match(lambda v: fg.take(v, fg.tensor(idx)), lambda v: torch.take(v, torch.tensor(idx)), a)
    with pytest.raises(IndexError):
        fg.take(x, fg.tensor([12]))
    e, s = np.array([[1, 2, 3], [4, 5, 6]]), np.array([2, 6, 7])
    for inv in (False, True):
        _same(fg.isin(fg.tensor(e), fg.tensor(s), invert=inv), torch.isin(torch.tensor(e), torch.tensor(s), invert=inv))
    _same(fg.isin(fg.tensor(e), 5), torch.isin(torch.tensor(e), 5))
    bnd = np.array([-1.0, 0.0, 0.0, 1.5])
    v = np.concatenate([r.standard_normal(20), bnd])
    for right in (False, True):
        _same(fg.bucketize(fg.tensor(v), fg.tensor(bnd), right=right),
              torch.bucketize(torch.tensor(v), torch.tensor(bnd), right=right))
    _same(fg.bucketize(fg.tensor(v), fg.tensor(bnd), out_int32=True),
          torch.bucketize(torch.tensor(v), torch.tensor(bnd), out_int32=True))


def test_nan_reductions_count_nonzero_aminmax_match_torch():
    r = _rng()
    a = r.standard_normal((3, 4))
    a[0, 1] = a[2, 3] = np.nan
    a[1, :] = np.nan
    x, t = _pair(a)
    for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}, {"dim": (0, 1)}):
        _same(fg.nansum(x, **kw), torch.nansum(t, **kw))
        _same(fg.nanmean(x, **kw), torch.nanmean(t, **kw))
    _same(fg.nansum(fg.tensor([1, 2])), torch.nansum(torch.tensor([1, 2])))
    a[1, 0] = 0.5                  # no all-NaN row: there PyTorch's gradient is NaN, fastgrad's 0
    fa, ta = fg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    fg.nanmean(fa, 1).nansum().backward()
    torch.nanmean(ta, 1).nansum().backward()
    _same(fa.grad, ta.grad)
    c = np.array([[0, 1, 2], [0, 0, 3]])
    for d in (None, 0, 1, (0, 1)):
        _same(fg.count_nonzero(fg.tensor(c), d), torch.count_nonzero(torch.tensor(c), d))
    b = r.standard_normal((3, 4))
    x, t = _pair(b)
    for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}):
        f, tt = fg.aminmax(x, **kw), torch.aminmax(t, **kw)
        _same(f.min, tt.min)
        _same(f.max, tt.max)
    _same(tuple(fg.aminmax(fg.tensor([3, 1, 2]))), tuple(torch.aminmax(torch.tensor([3, 1, 2]))))


def test_diagflat_tri_indices_cartesian_match_torch():
    r = _rng()
    a = r.standard_normal((2, 2))
    for off in (0, 1, -2):
        _same(fg.diagflat(fg.tensor(a), off), torch.diagflat(torch.tensor(a), off))
    _grads_match(lambda v: fg.diagflat(v, 1), lambda v: torch.diagflat(v, 1), a)
    for args in ((3, 3), (4, 3, 1), (3, 5, -1), (0, 0), (3, 4, 10)):
        _same(fg.tril_indices(*args), torch.tril_indices(*args))
        _same(fg.triu_indices(*args), torch.triu_indices(*args))
    p, q, s = r.standard_normal(3), r.standard_normal(2), np.array([1, 2])
    _same(fg.cartesian_prod(fg.tensor(p), fg.tensor(q)), torch.cartesian_prod(torch.tensor(p), torch.tensor(q)))
    _same(fg.cartesian_prod(fg.tensor(s), fg.tensor(s), fg.tensor(s)),
          torch.cartesian_prod(torch.tensor(s), torch.tensor(s), torch.tensor(s)))
    _same(fg.cartesian_prod(fg.tensor(p)), torch.cartesian_prod(torch.tensor(p)))
    _grads_match(fg.cartesian_prod, torch.cartesian_prod, p, q)
