"""GEMM kernel against a float64 NumPy oracle: edge sizes, all transpose combinations,
batches with broadcasting, fused bias/activation epilogues, every SIMD path, 1-2 threads."""
import itertools

import numpy as np
import pytest

import fastgrad as fg
from fastgrad._C import _kernels as K

SIZES = [1, 2, 3, 7, 13, 17, 31, 33, 63, 65, 127, 129]
SIMD = fg.available_simd()


def _operand(rng, rows, cols, trans, dtype):
    """A (rows x cols) operand stored row-major, or as the transpose of a (cols x rows)
    array (so the kernel must read it transposed), with a padded leading dimension."""
    if trans:
        buf = rng.standard_normal((cols, rows + 3)).astype(dtype)
        return buf[:, :rows].T
    buf = rng.standard_normal((rows, cols + 5)).astype(dtype)
    return buf[:, :cols]


def _check(a, b, dtype):
    got = K.matmul(a, b)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    tol = 2e-5 * np.sqrt(a.shape[-1]) if dtype == np.float32 else 1e-12 * a.shape[-1]
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("ta,tb", list(itertools.product([0, 1], [0, 1])))
def test_edge_sizes_all_transposes(ta, tb, dtype, simd):
    fg.set_simd(simd)
    rng = np.random.default_rng(ta * 2 + tb)
    sizes = SIZES if simd != "scalar" else SIZES[::2]
    for m, k, n in itertools.product(sizes, repeat=3):
        if (m * k * n) % 7 and m * k * n > 2000:      # a spread subset of the big cube
            continue
        _check(_operand(rng, m, k, ta, dtype), _operand(rng, k, n, tb, dtype), dtype)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("simd", SIMD)
def test_tall_skinny_and_threaded_shapes(simd, threads):
    fg.set_simd(simd)
    fg.set_num_threads(threads)
    rng = np.random.default_rng(5)
    for m, k, n in [(1, 1000, 1), (1000, 1, 1000), (64, 784, 128), (784, 64, 128), (300, 257, 190)]:
        for dtype in (np.float32, np.float64):
            _check(rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype), dtype)


@pytest.mark.parametrize("simd", SIMD)
def test_batched_and_broadcast(simd):
    fg.set_simd(simd)
    rng = np.random.default_rng(6)
    for sa, sb in [((4, 5, 6), (4, 6, 3)), ((4, 5, 6), (6, 3)), ((5, 6), (2, 6, 3)),
                   ((2, 1, 5, 6), (3, 6, 4)), ((3, 1, 4, 5), (1, 2, 5, 2))]:
        a = rng.standard_normal(sa).astype(np.float32)
        b = rng.standard_normal(sb).astype(np.float32)
        _check(a, b, np.float32)
        _check(np.swapaxes(rng.standard_normal(sa[:-2] + sa[-1:] + sa[-2:-1]), -1, -2).astype(np.float32), b,
               np.float32)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("act", [None, "relu", "gelu", "tanh", "sigmoid"])
def test_fused_epilogue_matches_unfused(act, simd, threads):
    fg.set_simd(simd)
    fg.set_num_threads(threads)
    rng = np.random.default_rng(7)
    for (m, k, n), dtype in itertools.product([(5, 3, 4), (64, 100, 50), (33, 129, 65), (256, 300, 200)],
                                              [np.float32, np.float64]):
        x = rng.standard_normal((m, k)).astype(dtype)
        w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(dtype)
        b = rng.standard_normal(n).astype(dtype)
        got = K.linear(x, w, b, act)
        z = x.astype(np.float64) @ w.T.astype(np.float64) + b
        want = fg.reference.unary(K.U[act], z) if act in ("relu", "gelu", "tanh", "sigmoid") else z
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol * 10, atol=tol * 10, err_msg=f"{act} {m}x{k}x{n}")


@pytest.mark.parametrize("simd", SIMD)
def test_beta_accumulate_into_out(simd):
    """C += A @ B into an existing buffer (gradient accumulation without allocation)."""
    fg.set_simd(simd)
    rng = np.random.default_rng(8)
    for dtype in (np.float32, np.float64):
        a = rng.standard_normal((33, 65)).astype(dtype)
        b = rng.standard_normal((65, 17)).astype(dtype)
        c = rng.standard_normal((33, 17)).astype(dtype)
        c0 = c.copy()
        r = K.matmul(a, b, out=c, beta=1.0)
        assert r is c
        tol = 1e-4 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(c, c0 + a.astype(np.float64) @ b, rtol=tol, atol=tol)
        K.matmul(a.T.copy().T, b, out=c, beta=0.0)
        np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="matmul: out must be"):
        K.matmul(a, b, out=np.zeros((3, 3), a.dtype))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("simd", SIMD)
def test_few_rows_bias_beta_and_layouts(simd, threads):
    """Products with one to four rows (which read op(B) once instead of in MR-row tiles):
    every transpose, bias, beta 0 / 1 / 0.5 into an existing C (beta 0 ignores NaNs in C),
    a padded leading dimension, widths below, at and above one column block."""
    fg.set_simd(simd)
    fg.set_num_threads(threads)
    rng = np.random.default_rng(9)
    for dtype in (np.float32, np.float64):
        tol = 3e-5 if dtype == np.float32 else 1e-12
        for m, k, n in [(1, 1, 1), (1, 784, 128), (2, 64, 65), (3, 17, 200), (4, 300, 64),
                        (1, 2048, 2048), (4, 5, 1), (3, 32, 21), (4, 256, 38), (2, 48, 137)]:
            for ta, tb in itertools.product([0, 1], [0, 1]):
                a = _operand(rng, m, k, ta, dtype)
                b = _operand(rng, k, n, tb, dtype)
                want = a.astype(np.float64) @ b.astype(np.float64)
                np.testing.assert_allclose(K.matmul(a, b), want, rtol=tol, atol=tol * np.sqrt(k))
                for beta in (0.0, 1.0, 0.5):
                    c = rng.standard_normal((m, n)).astype(dtype)
                    c0 = c.copy()
                    if beta == 0.0:
                        c[0, 0] = np.nan
                    K.matmul(a, b, out=c, beta=beta)
                    np.testing.assert_allclose(c, want + beta * c0, rtol=tol, atol=tol * np.sqrt(k),
                                               err_msg=f"{m}x{k}x{n} ta={ta} tb={tb} beta={beta}")
            w = rng.standard_normal((n, k)).astype(dtype)
            bias = rng.standard_normal(n).astype(dtype)
            x = rng.standard_normal((m, k)).astype(dtype)
            z = x.astype(np.float64) @ w.T.astype(np.float64) + bias
            np.testing.assert_allclose(K.linear(x, w, bias, None), z, rtol=tol, atol=tol * np.sqrt(k))
            np.testing.assert_allclose(K.linear(x, w, bias, "relu"), np.maximum(z, 0), rtol=tol,
                                       atol=tol * np.sqrt(k))


@pytest.mark.parametrize("simd", SIMD)
def test_few_rows_same_bits_at_every_thread_count(simd):
    """The few-row products split their columns across threads; every column goes through
    the same operations wherever a split puts it, so the bits do not depend on the count."""
    fg.set_simd(simd)
    rng = np.random.default_rng(10)
    saved = fg.get_num_threads()
    try:
        for m in (1, 3, 4):
            for k, n in ((300, 4099), (1000, 2053), (4096, 1031)):
                a = rng.standard_normal((m, k)).astype(np.float32)
                w = rng.standard_normal((n, k)).astype(np.float32)
                for b in (w.T, np.ascontiguousarray(w.T)):
                    outs = []
                    for t in (1, 2, 3, 7):
                        fg.set_num_threads(t)
                        outs.append(K.matmul(a, b))
                    for t, o in zip((2, 3, 7), outs[1:]):
                        np.testing.assert_array_equal(o, outs[0], err_msg=f"{m}x{k}x{n} {t} threads")
    finally:
        fg.set_num_threads(saved)


def _layouts(rng, m, k, dtype):
    """The same (m, k) matrix as a C array, a transposed view, a strided slice and a
    byte-swapped and a misaligned copy."""
    base = rng.standard_normal((m, k)).astype(dtype)
    yield "c", base
    yield "transposed", np.ascontiguousarray(base.T).T
    yield "sliced", np.concatenate([base, base], axis=1)[:, ::2]
    yield "swapped", base.astype(base.dtype.newbyteorder("S"))
    raw = np.zeros(base.nbytes + 1, np.uint8)[1:].view(np.uint8)
    mis = np.frombuffer(raw.data, dtype=np.uint8, count=base.nbytes).view(dtype).reshape(m, k)
    mis[...] = base
    yield "misaligned", mis


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_matrix_fast_path_matches_numpy_for_every_layout(dtype):
    """fastgrad.matmul of two 2-D tensors (the C fast path when the layout allows, the
    general path when not) equals NumPy's product for every layout of either operand."""
    from fastgrad._C import _kernels
    rng = np.random.default_rng(0)
    tol = 1e-12 if dtype == np.float64 else 1e-4
    for m, k, n in [(5, 7, 3), (64, 128, 10), (1, 9, 1), (0, 4, 3), (3, 0, 2)]:
        for na, a in _layouts(rng, m, k, dtype):
            for nb, b in _layouts(rng, k, n, dtype):
                out = fg.matmul(fg.tensor(a), fg.tensor(b)).numpy()
                ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
                assert out.shape == (m, n) and out.dtype == dtype, (na, nb)
                np.testing.assert_allclose(out, ref, rtol=tol, atol=tol, err_msg=f"{na} @ {nb}")
                fast = _kernels.mm2d(a, b)
                if fast is not None:
                    np.testing.assert_array_equal(fast, out)
                else:
                    assert {"swapped", "misaligned", "sliced"} & {na, nb}, (na, nb)


def test_two_matrix_fast_path_declines_what_it_cannot_take():
    from fastgrad._C import _kernels
    f32 = np.ones((2, 3), np.float32)
    assert _kernels.mm2d(f32, np.ones((3, 2), np.float64)) is None        # mixed dtypes
    assert _kernels.mm2d(f32, np.ones((4, 2), np.float32)) is None        # inner dims differ
    assert _kernels.mm2d(np.ones((2, 3), np.int64), np.ones((3, 2), np.int64)) is None
    assert _kernels.mm2d(np.ones((1, 2, 3), np.float32), np.ones((3, 2), np.float32)) is None
    assert _kernels.mm2d([[1.0]], [[1.0]]) is None
    with pytest.raises(ValueError, match=r"matmul: cannot multiply shapes \(2, 3\) and \(4, 2\)"):
        fg.matmul(fg.tensor(f32), fg.ones(4, 2))
