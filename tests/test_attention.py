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


# ---- the fused kernel ----------------------------------------------------------------
from fastgrad import reference as R  # noqa: E402
from fastgrad._C import _kernels as K  # noqa: E402


def _fused_node(out):
    """The fused op's node under out's reshape (None when the composed path ran)."""
    n = out.grad_fn
    while n is not None and n.name != "scaled_dot_product_attention":
        e = n.edges[0] if n.edges else None
        n = e if e is not None and not isinstance(e, fg.Tensor) else None
    return n


MASKS = [
    # (query shape, key shape, value shape, mask shape, mask kind)
    ((2, 3, 70, 8), (2, 3, 150, 8), (2, 3, 150, 5), (70, 150), "bool"),
    ((2, 3, 70, 8), (2, 3, 150, 8), (2, 3, 150, 5), (2, 1, 70, 150), "float"),
    ((2, 3, 9, 8), (2, 3, 11, 8), (2, 3, 11, 5), (1, 3, 9, 11), "bool"),
    ((2, 3, 9, 8), (2, 3, 11, 8), (2, 3, 11, 5), (9, 1), "float"),
    ((2, 3, 9, 8), (2, 3, 11, 8), (2, 3, 11, 5), (1, 11), "bool"),
    ((2, 3, 9, 8), (2, 3, 11, 8), (2, 3, 11, 5), (9, 11), "float_dead_row"),
    ((2, 2, 3, 9, 8), (2, 2, 3, 11, 8), (2, 2, 3, 11, 5), (2, 1, 3, 9, 11), "bool"),
    ((2, 4, 9, 8), (2, 2, 11, 8), (2, 2, 11, 5), (2, 4, 9, 11), "float"),      # GQA
]


def _make_mask(kind, shape, rng, dtype):
    if kind == "bool":
        m = rng.random(shape) > 0.4
        m[..., 0] = True
        return m
    m = rng.standard_normal(shape).astype(dtype)
    if kind == "float_dead_row":
        m[3] = -np.inf
        m[5, ::2] = -np.inf
    return m


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", MASKS, ids=lambda c: f"{c[0]}-{c[3]}-{c[4]}")
def test_fused_masks_match_torch(case, dtype):
    qs, ks, vs, ms, kind = case
    rng = np.random.default_rng(len(str(case)))
    arrays = [rng.standard_normal(s).astype(dtype) for s in (qs, ks, vs)]
    mask = _make_mask(kind, ms, rng, dtype)
    gqa = qs[-3] != ks[-3]
    tq = [torch.tensor(a, requires_grad=True) for a in arrays]
    fq = [fg.tensor(a, requires_grad=True) for a in arrays]
    to = TF.scaled_dot_product_attention(*tq, attn_mask=torch.tensor(mask), enable_gqa=gqa)
    fo = F.scaled_dot_product_attention(*fq, attn_mask=fg.tensor(mask), enable_gqa=gqa)
    assert _fused_node(fo) is not None
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(fo.detach().numpy(), to.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(tuple(to.shape)).astype(dtype)
    to.backward(torch.tensor(g))
    fo.backward(fg.tensor(g))
    for a, b in zip(fq, tq):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize("causal", [False, True])
def test_fused_long_sequence_float32_matches_torch(causal):
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((1, 2, 1024, 32)).astype(np.float32) for _ in range(3)]
    tq = [torch.tensor(a, requires_grad=True) for a in arrays]
    fq = [fg.tensor(a, requires_grad=True) for a in arrays]
    to = TF.scaled_dot_product_attention(*tq, is_causal=causal)
    fo = F.scaled_dot_product_attention(*fq, is_causal=causal)
    assert _fused_node(fo) is not None
    np.testing.assert_allclose(fo.detach().numpy(), to.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = rng.standard_normal(tuple(to.shape)).astype(np.float32)
    to.backward(torch.tensor(g))
    fo.backward(fg.tensor(g))
    for a, b in zip(fq, tq):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-3, atol=2e-4)


KERNEL_SHAPES = [
    # (B, H, Hk, L, S, E, Ev, mask kind, causal): tiles of 64 queries x 128 keys, partial ones
    (2, 4, 2, 70, 200, 8, 5, None, False),
    (1, 2, 2, 130, 129, 16, 16, None, True),
    (2, 2, 1, 200, 70, 8, 3, "bool", False),
    (2, 3, 3, 65, 300, 4, 6, "float", True),
    # head sizes around the inline tile products' vector widths and the GEMM above them
    (1, 2, 1, 67, 150, 20, 37, None, True),
    (1, 1, 1, 66, 131, 64, 33, "bool", False),
    (1, 2, 2, 70, 90, 80, 65, "float", True),
    (1, 1, 1, 1, 1, 1, 1, None, False),
    (1, 2, 1, 5, 0, 3, 2, None, False),
    (1, 1, 1, 0, 5, 3, 2, None, True),
    (0, 1, 1, 4, 5, 3, 2, None, False),
]


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", KERNEL_SHAPES, ids=str)
def test_kernel_matches_reference(case, dtype, threads, isa):
    """The C kernel (forward, logsumexp and backward) against the NumPy reference, on
    every SIMD path and thread count."""
    B, H, Hk, L, S, E, Ev, kind, causal = case
    order = ["scalar", "avx2", "avx512"]
    if order.index(isa) > order.index(K.cpu_best_isa()):
        pytest.skip(f"this CPU has no {isa}")
    rng = np.random.default_rng(sum(case[:7]))
    q = rng.standard_normal((B, H, L, E)).astype(dtype)
    k = rng.standard_normal((B, Hk, S, E)).astype(dtype)
    v = rng.standard_normal((B, Hk, S, Ev)).astype(dtype)
    m = None
    if kind == "bool":
        m = rng.random((1, H, L, S)) > 0.5
        m[..., 1, :] = False                           # a dead row
    elif kind == "float":
        m = rng.standard_normal((B, 1, L, 1)).astype(dtype)
    old, old_isa = K.get_num_threads(), K.get_isa()
    K.set_num_threads(threads)
    K.set_isa(isa)
    try:
        out, lse = K.sdpa(q, k, v, m, 0.3, causal)
        g = rng.standard_normal(out.shape).astype(dtype)
        grads = K.sdpa_bwd(g, q, k, v, m, out, lse, 0.3, causal)
    finally:
        K.set_num_threads(old)
        K.set_isa(old_isa)
    rout, rlse = R.sdpa(q, k, v, m, 0.3, causal)
    rgrads = R.sdpa_bwd(g, q, k, v, m, rout, rlse, 0.3, causal)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, rout, rtol=tol, atol=tol)
    np.testing.assert_array_equal(np.isinf(lse), np.isinf(rlse))
    np.testing.assert_allclose(np.where(np.isinf(lse), 0, lse), np.where(np.isinf(rlse), 0, rlse),
                               rtol=tol, atol=tol)
    for a, b in zip(grads, rgrads):
        np.testing.assert_allclose(a, b, rtol=tol * 10, atol=tol * 10)


def test_kernel_results_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(11)
    q, k, v = (rng.standard_normal((2, 4, 300, 32)).astype(np.float32) for _ in range(3))
    old = K.get_num_threads()
    res = []
    try:
        for n in (1, 2):
            K.set_num_threads(n)
            out, lse = K.sdpa(q, k, v, None, 0.2, True)
            res.append((out, lse) + K.sdpa_bwd(out, q, k, v, None, out, lse, 0.2, True))
    finally:
        K.set_num_threads(old)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [False, True])
def test_kernel_reads_and_writes_head_split_layouts_in_place(dtype, causal):
    """Head-split views of (B, rows, heads * E) data are read in place; sdpa_heads and
    sdpa_bwd_heads return the output and the gradients as such views (of one new dense array each), and
    every value equals the dense operands' results bit for bit."""
    rng = np.random.default_rng(5)
    B, H, Hk, L, S, E = 2, 4, 2, 70, 150, 8
    qa = rng.standard_normal((B, L, H * E)).astype(dtype)
    ka = rng.standard_normal((B, S, Hk * E)).astype(dtype)
    va = rng.standard_normal((B, S, Hk * 6)).astype(dtype)
    ga = rng.standard_normal((B, L, H * 6)).astype(dtype)
    q = qa.reshape(B, L, H, E).transpose(0, 2, 1, 3)
    k = ka.reshape(B, S, Hk, E).transpose(0, 2, 1, 3)
    v = va.reshape(B, S, Hk, 6).transpose(0, 2, 1, 3)
    g = ga.reshape(B, L, H, 6).transpose(0, 2, 1, 3)
    out, lse = K.sdpa_heads(q, k, v, None, 0.4, causal)
    assert out.shape == (B, H, L, 6) and out.transpose(0, 2, 1, 3).flags.c_contiguous
    grads = K.sdpa_bwd_heads(g, q, k, v, None, out, lse, 0.4, causal)
    for x, d in zip((q, k, v), grads):
        assert d.shape == x.shape and d.transpose(0, 2, 1, 3).flags.c_contiguous
    dense = [np.ascontiguousarray(x) for x in (q, k, v, g)]
    rout, rlse = K.sdpa(*dense[:3], None, 0.4, causal)
    assert rout.flags.c_contiguous
    rgrads = K.sdpa_bwd(dense[3], *dense[:3], None, rout, rlse, 0.4, causal)
    assert out.tobytes() == rout.tobytes() and lse.tobytes() == rlse.tobytes()
    for a, b in zip(grads, rgrads):
        assert b.flags.c_contiguous
        np.testing.assert_array_equal(a, b)
    # sdpa's results are dense, from the same strided operands
    d_out, _ = K.sdpa(q, k, v, None, 0.4, causal)
    assert d_out.flags.c_contiguous and d_out.tobytes() == rout.tobytes()


def test_multi_head_attention_merges_heads_without_copies():
    """The attention output of nn.MultiheadAttention's head-split operands is a view whose
    head merge is a view again."""
    q = fg.tensor(np.random.default_rng(0).standard_normal((2, 6, 8)).astype(np.float32))
    qh = q.reshape(2, 6, 2, 4).transpose(1, 2)
    o = F.scaled_dot_product_attention(qh, qh, qh, is_causal=True)
    merged = o.transpose(1, 2).reshape(2, 6, 8)
    assert np.shares_memory(merged._data, o._data)


@pytest.mark.parametrize("mask", [None, "bool", "float"])
def test_fused_gradcheck_gradgradcheck_and_forward_mode(mask):
    rng = np.random.default_rng(5)
    q = fg.tensor(rng.standard_normal((1, 4, 3, 3)), requires_grad=True)
    k = fg.tensor(rng.standard_normal((1, 2, 4, 3)), requires_grad=True)
    v = fg.tensor(rng.standard_normal((1, 2, 4, 2)), requires_grad=True)
    m = None
    if mask == "bool":
        mk = rng.random((3, 4)) > 0.4
        mk[:, 0] = True
        mk[1] = False
        m = fg.tensor(mk)
    elif mask == "float":
        m = fg.tensor(rng.standard_normal((1, 4, 3, 4)))
    f = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=m, enable_gqa=True)  # noqa: E731
    assert _fused_node(f(q, k, v)) is not None
    assert fg.autograd.gradcheck(f, (q, k, v), check_forward_ad=True)
    assert fg.autograd.gradgradcheck(f, (q, k, v))


def test_fused_float16_computes_in_float32():
    rng = np.random.default_rng(2)
    a = [rng.standard_normal((2, 3, 6, 4)).astype(np.float16) for _ in range(3)]
    out = F.scaled_dot_product_attention(*[fg.tensor(x, requires_grad=True) for x in a])
    assert out.dtype == fg.float16
    ref = TF.scaled_dot_product_attention(*[torch.tensor(x.astype(np.float32)) for x in a])
    np.testing.assert_allclose(out.detach().numpy().astype(np.float32), ref.numpy(), rtol=2e-3, atol=2e-3)


def test_fused_memory_is_linear_in_the_sequence_length():
    """Forward + backward at L = S = 2048, E = 64: what the graph keeps (saved tensors,
    output, logsumexp) and what the cache holds after each step is O(L) (a few L x E
    arrays), never anything of the L x S weights' size."""
    L, E = 2048, 64
    rng = np.random.default_rng(0)
    q, k, v = (fg.tensor(rng.standard_normal((1, 1, L, E)).astype(np.float32), requires_grad=True)
               for _ in range(3))
    base = fg.memory.memory_allocated()
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    node = _fused_node(out)
    assert node is not None
    kept = [t._data for t in node.saved] + [node.out] + [a for a in node.ctx if isinstance(a, np.ndarray)]
    assert max(a.size for a in kept) <= L * E
    after_fwd = fg.memory.memory_allocated() - base
    out.sum().backward()
    after_bwd = fg.memory.memory_allocated() - base
    le_bytes = L * E * 4                 # one (L, E) float32 array; L x S is 32 of them
    assert after_fwd <= 2 * le_bytes and after_bwd <= 6 * le_bytes, (after_fwd, after_bwd)
    assert all(np.isfinite(t.grad.numpy()).all() for t in (q, k, v))


def test_kernel_bad_input_errors():
    q = np.zeros((1, 2, 4, 3), np.float32)
    with pytest.raises(ValueError, match="scaled_dot_product_attention"):
        K.sdpa(q, np.zeros((1, 2, 5, 4), np.float32), np.zeros((1, 2, 5, 2), np.float32), None, 1.0, False)
    with pytest.raises(ValueError, match="scaled_dot_product_attention"):
        K.sdpa(q, np.zeros((1, 3, 5, 3), np.float32), np.zeros((1, 3, 5, 2), np.float32), None, 1.0, False)
    with pytest.raises(TypeError, match="scaled_dot_product_attention"):
        K.sdpa(q, q.astype(np.float64), q, None, 1.0, False)
    with pytest.raises(TypeError, match="mask"):
        K.sdpa(q, q, q, np.zeros((4, 4), np.int32).reshape(1, 1, 4, 4), 1.0, False)
    with pytest.raises(ValueError, match="mask"):
        K.sdpa(q, q, q, np.zeros((1, 1, 3, 4), bool), 1.0, False)
    out, lse = K.sdpa(q, q, q, None, 1.0, False)
    with pytest.raises(ValueError, match="lse"):
        K.sdpa_bwd(out, q, q, q, None, out, lse[..., :2], 1.0, False)
    with pytest.raises(TypeError):
        K.sdpa(q.astype(np.int32), q, q, None, 1.0, False)


# ---- compiled steps ----------------------------------------------------------------
def _attn_model(dtype, seed=0):
    fg.manual_seed(seed)
    m = fg.nn.ModuleDict({n: fg.nn.Linear(8, 8) for n in ("q", "k", "v", "out")})
    return m.to(fg.float64) if dtype == np.float64 else m


def _attn_forward(m, x, mask=None, causal=True):
    B, L, _ = x.shape
    q, k, v = (m[n](x).reshape(B, L, 2, 4).transpose(1, 2) for n in "qkv")  # (B, H, L, E) views
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    return m["out"](o.transpose(1, 2).reshape(B, L, 8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_training_step_is_bitwise_eager(dtype):
    """A causal self-attention step (forward, backward, SGD) compiled: the plan replays the
    fused forward and backward kernels, and every step equals eager bit for bit."""
    rng = np.random.default_rng(0)

    def make_step(m):
        opt = fg.optim.SGD(m.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = (_attn_forward(m, x) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        return step

    a, b = _attn_model(dtype), _attn_model(dtype)
    eager, comp = make_step(a), fg.compile(make_step(b))
    for i in range(4):
        x = fg.tensor(rng.standard_normal((2, 70, 8)).astype(dtype))
        assert eager(x)._data.tobytes() == comp(x)._data.tobytes(), i
        for p, q in zip(a.parameters(), b.parameters()):
            assert p._data.tobytes() == q._data.tobytes(), i
    assert comp.stats["plans"] == 1


def test_compiled_masked_forward_is_bitwise_eager():
    rng = np.random.default_rng(1)
    m = _attn_model(np.float32)

    def fwd(x, mask):
        with fg.no_grad():
            return _attn_forward(m, x, mask, causal=False)

    comp = fg.compile(fwd)
    for i in range(3):
        x = fg.tensor(rng.standard_normal((2, 9, 8)).astype(np.float32))
        mask = fg.tensor(rng.random((2, 1, 9, 9)) > 0.3)
        assert fwd(x, mask)._data.tobytes() == comp(x, mask)._data.tobytes(), i
    assert comp.stats["plans"] == 1


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_compiled_masked_training_step_is_bitwise_eager(kind):
    """A padding-style mask given as an input: the compiled backward reads it too."""
    rng = np.random.default_rng(3)

    def make_step(m):
        opt = fg.optim.SGD(m.parameters(), lr=0.1)

        def step(x, mask):
            opt.zero_grad()
            loss = (_attn_forward(m, x, mask, causal=False) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        return step

    a, b = _attn_model(np.float64), _attn_model(np.float64)
    eager, comp = make_step(a), fg.compile(make_step(b))
    for i in range(3):
        x = fg.tensor(rng.standard_normal((2, 9, 8)))
        keep = rng.random((2, 1, 1, 9)) > 0.3
        keep[..., 0] = True
        mask = fg.tensor(keep if kind == "bool" else np.where(keep, 0.0, -np.inf))
        assert eager(x, mask)._data.tobytes() == comp(x, mask)._data.tobytes(), i
        for p, q in zip(a.parameters(), b.parameters()):
            assert p._data.tobytes() == q._data.tobytes(), i
    assert comp.stats["plans"] == 1


def test_attention_output_is_a_plain_array_a_compiled_function_accepts():
    q = fg.randn(2, 2, 5, 4)
    y = F.scaled_dot_product_attention(q, q, q)
    assert y._data.base is None or y._data.base.size == y._data.size
    f = fg.compile(lambda t: t * 2.0)
    assert f(y)._data.tobytes() == (y * 2.0)._data.tobytes()
