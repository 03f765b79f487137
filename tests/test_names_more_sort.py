"""median, unique and unique_consecutive against PyTorch."""
import numpy as np
import pytest

import fastgrad as fg

torch = pytest.importorskip("torch")


def _same(f, t):
    if isinstance(t, tuple):
        assert len(f) == len(t)
        for a, b in zip(f, t):
            _same(a, b)
        return
    fa, ta = f.detach().numpy(), t.detach().numpy()
    assert fa.shape == ta.shape and str(fa.dtype) == str(ta.dtype), (fa.shape, ta.shape, fa.dtype, ta.dtype)
    np.testing.assert_array_equal(fa, ta)


@pytest.mark.parametrize("shape", [(7,), (4, 6), (3, 4, 5), (1,)])
def test_median_matches_torch(shape):
    rng = np.random.default_rng(3)
    a = rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64) * 0.5 - 3
    x, t = fg.tensor(a), torch.tensor(a)
    _same(fg.median(x), torch.median(t))
    for d in range(-len(shape), len(shape)):
        for kd in (False, True):
            f, tt = fg.median(x, d, kd), torch.median(t, d, kd)
            _same(f.values, tt.values)
            _same(f.indices, tt.indices)
    ai = (a * 2).astype(np.int64)
    _same(fg.median(fg.tensor(ai)), torch.median(torch.tensor(ai)))
    _same(fg.tensor(ai).median(0).values, torch.tensor(ai).median(0).values)


def test_median_nan_and_gradient_match_torch():
    a = np.array([[1.0, np.nan, 3.0, 0.5], [2.0, 4.0, -1.0, 0.0]])
    x, t = fg.tensor(a), torch.tensor(a)
    _same(fg.median(x), torch.median(t))
    f, tt = fg.median(x, 1), torch.median(t, 1)
    _same(f.values, tt.values)
    _same(f.indices, tt.indices)
    b = np.random.default_rng(5).standard_normal((3, 4))
    fx, tx = fg.tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)
    (fg.median(fx, 1).values * fg.tensor([1.0, 2.0, 3.0])).sum().backward()
    (torch.median(tx, 1).values * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum().backward()
    _same(fx.grad, tx.grad)
    fx.grad = None
    fg.median(fx).backward()
    tx.grad = None
    torch.median(tx).backward()
    _same(fx.grad, tx.grad)


@pytest.mark.parametrize("flags", [(False, False), (True, False), (False, True), (True, True)])
def test_unique_matches_torch(flags):
    rng = np.random.default_rng(11)
    a = rng.integers(0, 5, (4, 6))
    inv, cnt = flags
    for arr in (a, a.astype(np.float32)):
        x, t = fg.tensor(arr), torch.tensor(arr)
        _same(fg.unique(x, return_inverse=inv, return_counts=cnt),
              torch.unique(t, return_inverse=inv, return_counts=cnt))
        _same(x.unique(return_inverse=inv, return_counts=cnt),
              t.unique(return_inverse=inv, return_counts=cnt))
        _same(fg.unique_consecutive(x, return_inverse=inv, return_counts=cnt),
              torch.unique_consecutive(t, return_inverse=inv, return_counts=cnt))
    r = np.array([[1, 2], [1, 2], [0, 5], [1, 2]])
    for d in (0, 1):
        _same(fg.unique(fg.tensor(r), return_inverse=inv, return_counts=cnt, dim=d),
              torch.unique(torch.tensor(r), return_inverse=inv, return_counts=cnt, dim=d))
        _same(fg.unique_consecutive(fg.tensor(r), return_inverse=inv, return_counts=cnt, dim=d),
              torch.unique_consecutive(torch.tensor(r), return_inverse=inv, return_counts=cnt, dim=d))
