"""Every layout NumPy can produce reaches the C kernels safely and gives NumPy's answer.

Operands are built by `_layout`: any element strides (0, negative, F-order), packed
structured-array fields (strides that are not a multiple of the item size), unaligned
data, big-endian bytes, read-only views and size-1 dimensions with huge strides.  The
known interpreter killers run in a child process first, so a regression fails one test
instead of the whole run.
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastgrad as fg
import fastgrad.nn.functional as F
from fastgrad._C import _kernels as K

HUGE = np.iinfo(np.intp).max


def _layout(shape, estrides, dtype="<f8", pad=0, misalign=0, readonly=False, seed=0,
            huge_unit=False):
    """A view of `shape` with element strides `estrides` (in records of itemsize + pad
    bytes) into a buffer starting `misalign` bytes past an aligned address, holding values
    in [-2, 2].  pad > 0 makes it a field of a packed structured array."""
    dt = np.dtype(dtype)
    rec = np.dtype([("pad", f"V{pad}"), ("v", dt)]) if pad else np.dtype([("v", dt)])
    lo = sum(min(0, (n - 1) * s) for n, s in zip(shape, estrides)) if 0 not in shape else 0
    hi = sum(max(0, (n - 1) * s) for n, s in zip(shape, estrides)) if 0 not in shape else 0
    nrec = hi - lo + 1
    buf = np.zeros(nrec * rec.itemsize + misalign + 16, np.uint8)
    start = (-buf.ctypes.data) % 16 + misalign
    recs = np.frombuffer(buf.data, dtype=rec, count=nrec, offset=start)
    recs["v"] = np.random.default_rng(seed).uniform(-2, 2, nrec).astype(dt)
    field = recs["v"][-lo:]
    strides = [s * rec.itemsize for s in estrides]
    if huge_unit:
        strides = [HUGE if n == 1 else s for n, s in zip(shape, strides)]
    view = np.lib.stride_tricks.as_strided(field, shape, strides, writeable=not readonly)
    return view


def _native(a):
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))


dims = st.integers(0, 4)
layouts = st.builds(
    lambda shape, data: (shape, data),
    st.lists(dims, min_size=1, max_size=3).map(tuple),
    st.data())


def _draw_layout(draw, shape, allow_be=True):
    estrides = tuple(draw(st.integers(-3, 3)) for _ in shape)
    return dict(shape=shape, estrides=estrides,
                dtype=draw(st.sampled_from(["<f8", "<f4"] + ([">f8", ">f4"] if allow_be else []))),
                pad=draw(st.sampled_from([0, 0, 1, 3, 4])),
                misalign=draw(st.sampled_from([0, 0, 1, 4])),
                readonly=draw(st.booleans()), seed=draw(st.integers(0, 99)),
                huge_unit=draw(st.booleans()))


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _tol(a):
    return dict(rtol=2e-5, atol=2e-5) if a.dtype.itemsize == 4 else dict(rtol=1e-10, atol=1e-10)


def _close(got, want, like):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, np.float64),
                               **_tol(like))


# ---- the crashes this file guards against, each in a child process first ------------
CRASHERS = {
    "binary on a packed one-element field": """
        f = np.zeros(1, dtype=[("a", "<f4"), ("b", "<f8")])["b"]
        f[:] = 3.0
        r = K.binary(K.B["add"], f, f)
        assert r.tolist() == [6.0], r
    """,
    "matmul on a one-row packed field": """
        f = np.zeros((1, 3), dtype=[("a", "<f4"), ("b", "<f8")])["b"]
        f[:] = [1.0, 2.0, 3.0]
        r = K.matmul(f, np.ones((3, 2)))
        assert r.tolist() == [[6.0, 6.0]], r
        r = K.linear(f, np.ones((2, 3)), None)
        assert r.tolist() == [[6.0, 6.0]], r
    """,
    "size-1 dimension with stride INTP_MAX": """
        x = np.arange(3.0)
        y = np.lib.stride_tricks.as_strided(x, (1, 3), (np.iinfo(np.intp).max, 8))
        z = np.lib.stride_tricks.as_strided(x, (3, 1), (8, np.iinfo(np.intp).max))
        assert K.matmul(y, np.ones((3, 2))).tolist() == [[3.0, 3.0]]
        assert K.matmul(z, np.ones((1, 2))).tolist() == [[0, 0], [1, 1], [2, 2]]
        assert K.copy(y).tolist() == [[0, 1, 2]] and K.copy(z).tolist() == [[0], [1], [2]]
        assert K.binary(K.B["add"], y, z).shape == (3, 3)
        assert float(K.reduce(K.R["sum"], z, (0,))[0]) == 3.0
        assert np.allclose(K.unary(K.U["exp"], y), np.exp(y))
    """,
}


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_known_crashers_in_child(name):
    code = "import numpy as np\nfrom fastgrad._C import _kernels as K\n" + \
        textwrap.dedent(CRASHERS[name])
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{name}: exit {r.returncode}\n{r.stderr[-2000:]}"


# ---- elementwise families ----------------------------------------------------------
@SETTINGS
@given(layouts)
def test_unary_binary_compare_where(arg):
    shape, data = arg
    a = _layout(**_draw_layout(data.draw, shape))
    b = _layout(**_draw_layout(data.draw, shape))
    if b.dtype.newbyteorder("=") != a.dtype.newbyteorder("="):
        b = b.astype(a.dtype)
    na, nb = _native(a), _native(b)
    for name, ref in (("exp", np.exp), ("tanh", np.tanh), ("abs", np.abs)):
        _close(K.unary(K.U[name], a), ref(na), na)
    _close(K.binary(K.B["add"], a, b), na + nb, na)
    _close(K.binary(K.B["mul"], a, b), na * nb, na)
    assert (K.compare(K.CMP["lt"], a, b) == (na < nb)).all()
    c = na > 0
    _close(K.where(c, a, b), np.where(c, na, nb), na)
    _close(K.copy(a), na, na)
    _close(K.contiguous(a), na, na)
    # broadcast against a row
    row = _layout(**{**_draw_layout(data.draw, shape[-1:]), "dtype": na.dtype.str})
    _close(K.binary(K.B["sub"], a, row), na - _native(row), na)


@SETTINGS
@given(layouts)
def test_public_ops_on_shared_views(arg):
    """fastgrad.from_numpy shares the view's memory: the public ops see the raw layout."""
    shape, data = arg
    a = _layout(**_draw_layout(data.draw, shape, allow_be=False))
    na = _native(a)
    t = fg.from_numpy(a)
    _close(fg.exp(t).numpy(), np.exp(na), na)
    _close((t * t + t).numpy(), na * na + na, na)
    _close(fg.sum(t).numpy(), na.sum(), na)
    if na.size:
        _close(fg.amax(t, dim=-1).numpy(), na.max(-1), na)
        _close(F.softmax(t, dim=-1).numpy(),
               np.exp(na - na.max(-1, keepdims=True)) / np.exp(na - na.max(-1, keepdims=True)).sum(-1, keepdims=True),
               na)
        _close(fg.cumsum(t, dim=0).numpy(), np.cumsum(na, 0), na)
        _close(fg.sort(t, dim=-1)[0].numpy(), np.sort(na, -1), na)


# ---- reductions, softmax -------------------------------------------------------------
@SETTINGS
@given(layouts)
def test_reductions_softmax(arg):
    shape, data = arg
    a = _layout(**_draw_layout(data.draw, shape))
    na = _native(a)
    nd = na.ndim
    for dims_ in [(d,) for d in range(nd)] + ([tuple(range(nd))] if nd > 1 else []) + \
            ([(0, nd - 1)] if nd == 3 else []):
        _close(K.reduce(K.R["sum"], a, dims_), na.sum(dims_), na)
    if na.size:
        for d in range(nd):
            v, i = K.argreduce(K.R["max"], a, d)
            _close(v, na.max(d), na)
            assert (i == na.argmax(d)).all()
            y = K.softmax(a, d, False)
            e = np.exp(na - na.max(d, keepdims=True))
            _close(y, e / e.sum(d, keepdims=True), na)
            _close(K.scan(K.SCAN["cumsum"], a, d), np.cumsum(na, d), na)
            _close(K.sort(a, d)[0], np.sort(na, d, kind="stable"), na)


# ---- GEMM ----------------------------------------------------------------------------
@SETTINGS
@given(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4), st.integers(0, 2), st.data())
def test_matmul_linear(m, k, n, batch, data):
    bs = (batch,) if batch else ()
    a = _layout(**_draw_layout(data.draw, bs + (m, k)))
    b = _layout(**{**_draw_layout(data.draw, bs + (k, n)), "dtype": a.dtype.str})
    na, nb = _native(a), _native(b)
    _close(K.matmul(a, b), na @ nb, na)
    w = _layout(**{**_draw_layout(data.draw, (n, k)), "dtype": a.dtype.str})
    bias = _layout(**{**_draw_layout(data.draw, (n,)), "dtype": a.dtype.str})
    x = _layout(**{**_draw_layout(data.draw, (m, k)), "dtype": a.dtype.str})
    nx, nw, nbias = _native(x), _native(w), _native(bias)
    _close(K.linear(x, w, bias), nx @ nw.T + nbias, nx)
    _close(K.linear(x, w, None, "relu"), np.maximum(nx @ nw.T, 0), nx)


def test_matmul_out_aliasing_an_operand():
    a = np.arange(4.0).reshape(2, 2)
    want = a @ a
    r = K.matmul(a, a, out=a)
    assert r is a
    np.testing.assert_array_equal(a, want)
    a = np.arange(4.0).reshape(2, 2)
    b = np.eye(2) * 2
    want = a @ b + a
    K.matmul(a, b, out=a, beta=1.0)
    np.testing.assert_array_equal(a, want)
    c = np.arange(8.0).reshape(2, 2, 2)
    want = c @ c
    K.matmul(c, c, out=c)
    np.testing.assert_array_equal(c, want)


def test_matmul_out_must_be_dense_native():
    a = np.ones((2, 2))
    with pytest.raises(ValueError, match="matmul: out must be"):
        K.matmul(a, a, out=np.ones((2, 2), ">f8"))
    with pytest.raises(ValueError, match="matmul: out must be"):
        K.matmul(a, a, out=np.ones((2, 2)).T[:, :])


# ---- conv, pool, norms, indexing -----------------------------------------------------
@SETTINGS
@given(st.integers(1, 2), st.integers(1, 2), st.integers(2, 4), st.integers(2, 4), st.data())
def test_conv_pool_norm(n, c, h, w, data):
    x = _layout(**_draw_layout(data.draw, (n, c, h, w)))
    wt = _layout(**{**_draw_layout(data.draw, (2, c, 2, 2)), "dtype": x.dtype.str})
    nx, nw = _native(x), _native(wt)
    y = K.conv2d(x, wt, None, (1, 1), (0, 0), (1, 1), 1, h - 1, w - 1)
    want = np.zeros((n, 2, h - 1, w - 1))
    for i in range(h - 1):
        for j in range(w - 1):
            want[:, :, i, j] = np.einsum("ncij,ocij->no", nx[:, :, i:i + 2, j:j + 2], nw)
    _close(y, want, nx)
    ymax, _ = K.pool2d(K.POOL["max"], x, h - 1, w - 1, (2, 2))
    yavg, _ = K.pool2d(K.POOL["avg"], x, h - 1, w - 1, (2, 2))
    wins = np.stack([nx[..., i:i + h - 1, j:j + w - 1] for i in range(2) for j in range(2)])
    _close(ymax, wins.max(0), nx)
    _close(yavg, wins.mean(0), nx)
    mean, var = K.bn_stats(x)
    _close(mean, nx.mean((0, 2, 3)), nx)
    _close(var, nx.var((0, 2, 3)), nx)
    y, mu, rstd = K.rownorm(x, h * w, 1, 1, None, None, 1e-5)
    # the reference in float64: a float32 mean of a constant row is off by a rounding error,
    # which the division by sqrt(var + eps) = sqrt(1e-5) magnifies 300 times
    flat = nx.astype(np.float64).reshape(-1, h * w)
    _close(mu, flat.mean(1), nx)
    _close(y.reshape(-1, h * w), (flat - flat.mean(1, keepdims=True)) /
           np.sqrt(flat.var(1, keepdims=True) + 1e-5), nx)


@SETTINGS
@given(layouts)
def test_indexing(arg):
    shape, data = arg
    a = _layout(**_draw_layout(data.draw, shape))
    na = _native(a)
    for d in range(na.ndim):
        if na.shape[d] == 0:
            continue
        idx = _layout(shape=(3,), estrides=(data.draw(st.integers(-2, 2)),), dtype="<i8",
                      pad=data.draw(st.sampled_from([0, 4])), misalign=data.draw(st.sampled_from([0, 1])))
        idx = np.asarray(np.abs(idx.astype(np.float64)) * 0, dtype=np.int64) + \
            np.array([0, na.shape[d] - 1, na.shape[d] // 2])
        got = K.index_select(a, d, idx)
        np.testing.assert_array_equal(got, np.take(na, idx, axis=d))
        g = np.zeros(na.shape[:d] + (1,) + na.shape[d + 1:], np.int64)
        np.testing.assert_array_equal(K.gather(a, d, g), np.take_along_axis(na, g, d))
    mask = na > 0
    np.testing.assert_array_equal(K.masked_select(a, mask), na[mask])


def test_index_kernels_on_packed_int_fields():
    """index arrays that are themselves packed, unaligned or big-endian fields"""
    rec = np.zeros(4, dtype=[("a", "u1"), ("i", ">i8")])
    rec["i"] = [2, 0, 1, 2]
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(K.index_select(x, 0, rec["i"]), x[[2, 0, 1, 2]])
    out = np.zeros((3, 4))
    K.index_add(out, 0, rec["i"], np.ones((4, 4)))
    np.testing.assert_array_equal(out[:, 0], [1, 1, 2])


def test_inplace_outputs_refuse_odd_layouts():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="index_add: the output must be"):
        K.index_add(x.T, 0, np.array([0]), np.ones((1, 3)))
    ro = np.zeros((3, 4))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="scatter_add: the output must be"):
        K.scatter_add(ro, 0, np.zeros((1, 4), np.int64), np.ones((1, 4)))


def test_big_endian_and_readonly_values():
    be = np.arange(6.0).reshape(2, 3).astype(">f8")
    be.flags.writeable = False
    ne = be.astype("<f8")
    _close(K.matmul(be, be.T), ne @ ne.T, ne)
    _close(K.unary(K.U["exp"], be), np.exp(ne), ne)
    _close(K.softmax(be, 1, True), ne - ne.max(1, keepdims=True) -
           np.log(np.exp(ne - ne.max(1, keepdims=True)).sum(1, keepdims=True)), ne)
    loss, _ = K.xent(be, np.array([0, 2], ">i8"), -100, 0.0)
    lsm = ne - np.log(np.exp(ne).sum(1, keepdims=True))
    _close(loss, -lsm[[0, 1], [0, 2]], ne)
