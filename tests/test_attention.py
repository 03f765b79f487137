"""F.scaled_dot_product_attention against PyTorch (values and every gradient) and against
central finite differences in float64."""
import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn.functional as F
from fastgrad.errors import ArgumentError, ShapeError

torch = pytest.importorskip("torch")
TF = torch.nn.functional

CASES = [
    # (query shape, key shape, value shape, mask kind, is_causal, scale, enable_gqa)
    ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6), None, False, None, False),
    ((2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 6), None, True, None, False),
    ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6), None, True, None, False),     # L < S, top-left
    ((2, 3, 7, 4), (2, 3, 5, 4), (2, 3, 5, 6), None, True, None, False),     # L > S
    ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6), "bool", False, None, False),
    ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6), "bool_dead_row", False, None, False),
    ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6), "float", False, 0.3, False),
    ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6), "bool_batched", False, None, False),
    ((2, 4, 5, 4), (2, 2, 7, 4), (2, 2, 7, 6), None, False, None, True),
    ((5, 4), (7, 4), (7, 6), None, False, None, False),
    ((3, 1, 4), (3, 9, 4), (3, 9, 2), None, False, None, False),
]


def _mask(kind, rng, L, S):
    if kind is None:
        return None
    if kind == "float":
        return rng.standard_normal((L, S))
    if kind == "bool_batched":
        return rng.random((2, 1, L, S)) > 0.4
    m = rng.random((L, S)) > 0.5
    m[:, 0] = True
    if kind == "bool_dead_row":
        m[1] = False
    return m


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[3]}-causal{c[4]}-gqa{c[6]}")
def test_sdpa_matches_torch(case, dtype):
    qs, ks, vs, kind, causal, scale, gqa = case
    rng = np.random.default_rng(len(str(case)))
    arrays = [rng.standard_normal(s).astype(dtype) for s in (qs, ks, vs)]
    mask = _mask(kind, rng, qs[-2], ks[-2])
    if mask is not None and mask.dtype.kind == "f":
        mask = mask.astype(dtype)
    tq = [torch.tensor(a, requires_grad=True) for a in arrays]
    fq = [fg.tensor(a, requires_grad=True) for a in arrays]
    kw = dict(is_causal=causal, scale=scale, enable_gqa=gqa)
    to = TF.scaled_dot_product_attention(*tq, attn_mask=None if mask is None else torch.tensor(mask), **kw)
    fo = F.scaled_dot_product_attention(*fq, attn_mask=None if mask is None else fg.tensor(mask), **kw)
    assert fo.shape == tuple(to.shape)
    assert fo.dtype == (fg.float64 if dtype == np.float64 else fg.float32)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(fo.detach().numpy(), to.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(tuple(to.shape)).astype(dtype)
    to.backward(torch.tensor(g))
    fo.backward(fg.tensor(g))
    for a, b in zip(fq, tq):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol * 10, atol=tol * 10)


def test_sdpa_dead_row_is_zero_with_zero_gradient():
    q = fg.randn(1, 3, 4, dtype=fg.float64, requires_grad=True)
    m = fg.tensor(np.array([[True, False, True], [False, False, False], [True, True, True]]))
    out = F.scaled_dot_product_attention(q, q, q, attn_mask=m)
    assert np.all(out.detach().numpy()[0, 1] == 0.0)
    out.sum().backward()
    assert np.all(np.isfinite(q.grad.numpy()))


@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_gradcheck(causal):
    rng = np.random.default_rng(3)
    q, k, v = (fg.tensor(rng.standard_normal(s), requires_grad=True)
               for s in ((2, 4, 3), (2, 4, 3), (2, 4, 5)))
    f = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # noqa: E731
    assert fg.autograd.gradcheck(f, (q, k, v))
    assert fg.autograd.gradgradcheck(f, (q, k, v))


def test_sdpa_dropout_changes_the_result():
    fg.manual_seed(0)
    q = fg.randn(2, 8, 16, 4)
    out = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    assert out.shape == (2, 8, 16, 4)
    ref = F.scaled_dot_product_attention(q, q, q)
    assert not np.allclose(out.numpy(), ref.numpy())


def test_sdpa_errors():
    q = fg.randn(2, 5, 4)
    with pytest.raises(ShapeError, match="scaled_dot_product_attention"):
        F.scaled_dot_product_attention(q, fg.randn(2, 5, 3), fg.randn(2, 5, 4))
    with pytest.raises(ShapeError, match="scaled_dot_product_attention"):
        F.scaled_dot_product_attention(q, q, fg.randn(2, 6, 4))
    with pytest.raises(ShapeError, match="attn_mask"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=fg.ones(4, 5, dtype=fg.bool))
    with pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=fg.ones(5, 5, dtype=fg.bool), is_causal=True)
    with pytest.raises(ArgumentError):
        F.scaled_dot_product_attention(q, q, q, attn_mask=fg.ones(5, 5, dtype=fg.bool), is_causal=True)
