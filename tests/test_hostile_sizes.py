"""Hostile sizes and hand-built plans: bounded work, overflow-checked sizes, clear errors.

Cases that could hang or exhaust memory run in a child process with a timeout (or an
address-space limit), so a regression fails one test instead of the run.
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn.functional as F
from fastgrad._C import _kernels as K

BIG = 2 ** 40


def _child(code, timeout=120):
    code = "import numpy as np\nimport fastgrad as fg\nimport fastgrad.nn.functional as F\n" \
        "from fastgrad._C import _kernels as K\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)


# ---- pooling with a kernel far larger than the input ---------------------------------
def test_max_pool_huge_kernel_is_bounded_by_the_input():
    r = _child(f"""
        x = np.arange(12.0).reshape(1, 1, 3, 4)
        y = F.max_pool2d(fg.from_numpy(x), kernel_size={BIG}, stride={BIG}, padding={BIG // 2})
        assert y.shape == (1, 1, 1, 1) and float(y.numpy().ravel()[0]) == 11.0, y
        y, _ = K.pool2d(K.POOL["max"], x, 1, 1, ({BIG}, {BIG}), ({BIG}, {BIG}), ({BIG // 2}, {BIG // 2}))
        assert float(y.ravel()[0]) == 11.0
    """, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool_huge_kernel_divisor(cip):
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    y = F.avg_pool2d(fg.from_numpy(x), kernel_size=BIG, stride=BIG, padding=BIG // 2,
                     count_include_pad=cip).numpy().ravel()[0]
    # the single window covers the padded input: (3 + 2p) x (4 + 2p) cells, capped by k
    div = float(BIG) * float(BIG) if cip else 12.0
    assert y == pytest.approx(x.sum() / div, rel=1e-12)
    assert y > 0
    prev = fg.get_backend() if hasattr(fg, "get_backend") else None
    if prev is not None and hasattr(fg, "set_backend"):
        fg.set_backend("numpy")
        try:
            yr = F.avg_pool2d(fg.from_numpy(x), kernel_size=BIG, stride=BIG, padding=BIG // 2,
                              count_include_pad=cip).numpy().ravel()[0]
        finally:
            fg.set_backend(prev)
        assert yr == pytest.approx(y, rel=1e-12)


def test_avg_pool_backward_huge_kernel():
    x = fg.from_numpy(np.arange(12.0).reshape(1, 1, 3, 4)).requires_grad_(True)
    y = F.avg_pool2d(x, kernel_size=BIG, stride=BIG, padding=BIG // 2)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((1, 1, 3, 4), 1.0 / (float(BIG) ** 2)))


@pytest.mark.parametrize("kw", [
    dict(kernel=(0, 1)), dict(stride=(1, -1)), dict(dilation=(0, 1)), dict(padding=(-1, 0)),
    dict(kernel=(2 ** 63 - 1, 1)), dict(stride=(2 ** 62, 1)),
])
def test_pool_geometry_is_checked(kw):
    x = np.ones((1, 1, 3, 3))
    args = dict(kernel=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1))
    args.update(kw)
    with pytest.raises((ValueError, OverflowError), match="max_pool2d|int"):
        K.pool2d(K.POOL["max"], x, 1, 1, args["kernel"], args["stride"], args["padding"],
                 args["dilation"])


def test_pool_backward_shape_overflow():
    g = np.ones((2, 2, 1, 1))
    with pytest.raises(ValueError, match="avg_pool2d_backward"):
        K.pool2d_bwd(K.POOL["avg"], g, None, (2, 2, 2 ** 31, 2 ** 31), (1, 1))


def test_conv_backward_shape_overflow():
    g = np.ones((1, 1, 1, 1))
    with pytest.raises(ValueError, match="conv2d_backward"):
        K.conv2d_bwd(g, None, np.ones((1, 1, 1, 1)), (1, 2 ** 62, 1, 1), (1, 1, 1, 1), (1, 1),
                     (0, 0), (1, 1), 1, True, False, False)


@pytest.mark.parametrize("oh, ow, stride, dilation", [
    (2 ** 40, 2 ** 40, (1, 1), (1, 1)),          # output of 2**80 elements
    (1, 1, (2 ** 62, 1), (1, 1)),                # window positions beyond int64
    (1, 1, (1, 1), (2 ** 61, 2 ** 61)),
])
def test_conv_geometry_overflow(oh, ow, stride, dilation):
    x = np.ones((1, 1, 3, 3))
    with pytest.raises(ValueError, match="conv2d: sizes overflow"):
        K.conv2d(x, np.ones((1, 1, 2, 2)), None, stride, (0, 0), dilation, 1, oh, ow)


def test_matmul_result_size_overflow():
    a = np.lib.stride_tricks.as_strided(np.ones(1), (2 ** 20, 2 ** 20, 1, 1), (0, 0, 8, 8))
    b = np.lib.stride_tricks.as_strided(np.ones(1), (1, 2 ** 30), (8, 0))
    with pytest.raises(ValueError, match=r"matmul: the result of shape"):
        K.matmul(a, b)


# ---- allocation failures name the fastgrad op, the shapes and the bytes -------------
ALLOC_CASES = {
    "exp": "fg.exp(t)",
    "sort": "fg.sort(t, dim=-1)",
    "cumsum": "fg.cumsum(t, dim=-1)",
    "softmax": "F.softmax(t, dim=-1)",
    "linear": "F.linear(t, w)",
}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux-specific")
@pytest.mark.parametrize("op", sorted(ALLOC_CASES))
def test_allocation_failure_names_the_op(op):
    r = _child(f"""
        import resource
        t = fg.from_numpy(np.ones((4096, 4096)))          # 128 MiB input
        w = fg.from_numpy(np.ones((4096, 4096)))
        fg.exp(fg.from_numpy(np.ones((4, 4))))            # warm up the pool and caches
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + 64 * 2 ** 20, resource.RLIM_INFINITY))
        try:
            {ALLOC_CASES[op]}
        except MemoryError as e:
            print("MSG", e)
        else:
            print("NOERROR")
    """)
    out = r.stdout
    assert r.returncode == 0, r.stderr[-2000:]
    if "NOERROR" in out:
        pytest.fail(f"{op}: the allocation did not fail under the limit: {out}")
    msg = out.split("MSG", 1)[1]
    assert "Unable to allocate" not in msg, msg
    assert op in msg and "bytes" in msg and "(" in msg, msg


# ---- hand-built plans ------------------------------------------------------------------
def _arena(nbytes):
    raw = np.zeros(nbytes + 64, np.uint8)
    s = (-raw.ctypes.data) % 64
    return raw[s:s + nbytes]


def _unary_plan(**over):
    arena = _arena(32)
    src = np.arange(4.0)
    step = {"kind": "unary", "op": K.U["exp"], "is64": 1, "n": [4], "ins": [(1, 0)],
            "outs": [(0, 0)]}
    step.update(over)
    return arena, src, K.Plan([arena, src], [], [step], ["exp"])


def test_plan_valid_runs():
    arena, src, p = _unary_plan()
    p.run(())
    np.testing.assert_allclose(arena.view(np.float64), np.exp(src))


@pytest.mark.parametrize("over, match", [
    (dict(n=[5]), r"in\[0\] bytes \[0, 40\) lie outside base 1 \[0, 32\)"),
    (dict(n=[100]), r"outside base"),
    (dict(n=[-1]), r"negative"),
    (dict(outs=[(0, 8)]), r"out\[0\] bytes \[8, 40\) lie outside base 0"),
    (dict(outs=[(0, 4)]), r"not aligned"),
    (dict(ins=[(1, -8)]), r"in\[0\].*outside base 1"),
    (dict(ins=[(7, 0)]), r"base 7, which does not exist"),
    (dict(ins=[]), r"in\[0\] is required but absent"),
    (dict(is64=0, n=[9]), r"outside base"),
    (dict(is64=2), r"is64 must be 0 or 1"),
    (dict(n=[1, 2, 3, 4, 5]), r"field 'n' has 5 entries"),
    (dict(kind="nonsense"), r"'kind' is one of"),
])
def test_plan_rejects_bad_steps(over, match):
    with pytest.raises(ValueError, match=match) as e:
        _unary_plan(**over)
    assert "step 0" in str(e.value) or "Plan" in str(e.value)


def test_plan_rejects_write_to_readonly_base():
    arena = _arena(32)
    src = np.arange(4.0)
    src.flags.writeable = False
    step = {"kind": "unary", "op": K.U["exp"], "is64": 1, "n": [4], "ins": [(0, 0)],
            "outs": [(1, 0)]}
    with pytest.raises(ValueError, match="read-only"):
        K.Plan([arena, src], [], [step], ["exp"])


def _clip_plan(arena, g, **over):
    step = {"kind": "clip", "op": 0, "is64": 1, "grads": [(1, 0)], "numel": [4],
            "outs": [(0, 0), (0, 8)], "s": [1.0, 2.0]}
    step.update(over)
    return K.Plan([arena, g], [], [step], ["clip_grad_norm_"])


def test_plan_clip_step_runs_and_its_operands_are_checked():
    arena, g = _arena(16), np.full(4, 3.0)
    _clip_plan(arena, g).run(())
    np.testing.assert_allclose(np.linalg.norm(g), 1.0, rtol=1e-5)   # norm 6 scaled to 1
    with pytest.raises(ValueError, match=r"gradient 0 \(5 elements at offset 0\) lies outside base 1"):
        _clip_plan(_arena(16), np.zeros(4), numel=[5])
    with pytest.raises(ValueError, match=r"out\[1\] bytes \[8, 24\) lie outside base 0"):
        _clip_plan(_arena(16), np.zeros(4), grads=[(1, 0), (1, 0)], numel=[4, 4])
    ro = np.zeros(4)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _clip_plan(_arena(16), ro)


def test_plan_rejects_small_gemm_buffers_and_leading_dims():
    arena = _arena(4 * 8)
    a = np.ones((2, 3))
    b = np.ones((3, 2))
    g = dict(transa=0, transb=0, m=2, n=2, k=3, alpha=1.0, beta=0.0, lda=3, ldb=2, ldc=2,
             act=K.ACT[None])
    step = {"kind": "gemm", "is64": 1, "gemm": g, "ins": [(1, 0), (2, 0)], "outs": [(0, 0)]}
    p = K.Plan([arena, a, b], [], [step], ["matmul"])
    p.run(())
    np.testing.assert_array_equal(arena.view(np.float64).reshape(2, 2), a @ b)
    with pytest.raises(ValueError, match=r"leading dimensions"):
        K.Plan([arena, a, b], [], [{**step, "gemm": {**g, "lda": 2}}], ["matmul"])
    with pytest.raises(ValueError, match=r"in\[0\].*outside base 1"):
        K.Plan([arena, a, b], [], [{**step, "gemm": {**g, "m": 3}}], ["matmul"])
    with pytest.raises(ValueError, match=r"out\[0\].*outside base 0"):
        K.Plan([arena, a, b], [], [{**step, "gemm": {**g, "ldc": 3}}], ["matmul"])


def test_plan_input_slots_are_sized_by_their_declaration():
    arena = _arena(32)
    step = {"kind": "unary", "op": K.U["exp"], "is64": 1, "n": [4], "ins": [(1, 0)],
            "outs": [(0, 0)]}
    p = K.Plan([arena, None], [(1, np.float64, (4,))], [step], ["exp"])
    p.run((np.zeros(4),))
    np.testing.assert_array_equal(arena.view(np.float64), np.ones(4))
    with pytest.raises(ValueError, match="outside base 1"):
        K.Plan([arena, None], [(1, np.float64, (3,))], [step], ["exp"])
    with pytest.raises(ValueError, match="must be a C-contiguous"):
        p.run((np.zeros(3),))
    with pytest.raises(ValueError, match="aligned, native-endian"):
        p.run((np.zeros(4, ">f8"),))
    rec = np.zeros(4, dtype=[("a", "u1"), ("v", "<f8")])
    with pytest.raises(ValueError, match="aligned, native-endian"):
        p.run((rec["v"],))


def test_plan_strided_binary_extent():
    arena = _arena(4 * 8)
    a = np.arange(4.0)
    step = {"kind": "binary", "op": K.B["add"], "is64": 1, "ndim": 1, "shape": [4],
            "sa": [1], "sb": [0], "ins": [(1, 0), (1, 0)], "outs": [(0, 0)]}
    K.Plan([arena, a], [], [step], ["add"]).run(())
    np.testing.assert_array_equal(arena.view(np.float64), a + a[0])
    with pytest.raises(ValueError, match=r"in\[0\].*outside base 1"):
        K.Plan([arena, a], [], [{**step, "sa": [2]}], ["add"])
    with pytest.raises(ValueError, match=r"in\[1\].*outside base 1"):
        K.Plan([arena, a], [], [{**step, "sb": [-1]}], ["add"])


class _P:
    def __init__(self, arr):
        self._data = arr
        self.grad = None
        self._version = [0]


@pytest.mark.parametrize("alg, keys", [("adam", ["exp_avg"]), ("adam", ["a", "b", "c", "d"]),
                                       ("sgd", []), ("rmsprop", ["square_avg", ""])])
def test_optim_plan_slot_count_is_checked(alg, keys):
    p = _P(np.zeros(3))
    with pytest.raises(ValueError, match=r"reads \d state slots, got keys"):
        K.OptimPlan("Adam", K.OPT_ALGS[alg], [p], [None], keys, "step")


def test_optim_plan_unknown_algorithm():
    with pytest.raises(ValueError, match="unknown optimizer algorithm"):
        K.OptimPlan("X", 99, [_P(np.zeros(3))], [None], [""], "")


def test_optim_plan_states_length():
    with pytest.raises(ValueError, match="1 parameters but 0 states"):
        K.OptimPlan("Adagrad", K.OPT_ALGS["adagrad"], [_P(np.zeros(3))], [], ["sum"], "step")


# ---- index kernels check what their callers usually check ---------------------------
@pytest.mark.parametrize("call", [
    lambda x: K.index_select(x, 5, np.zeros(1, np.int64)),
    lambda x: K.index_select(x, -1, np.zeros(1, np.int64)),
    lambda x: K.gather(x, 9, np.zeros((1, 1), np.int64)),
    lambda x: K.index_add(np.zeros((2, 3)), 7, np.zeros(1, np.int64), np.ones((1, 3))),
    lambda x: K.scatter_add(np.zeros((2, 3)), 2, np.zeros((1, 1), np.int64), np.ones((1, 1))),
    lambda x: K.index_select(np.ones(()), 0, np.zeros(3, np.int64)),
])
def test_index_kernels_reject_bad_dims(call):
    with pytest.raises(IndexError, match="index_select|gather|index_add|scatter_add"):
        call(np.ones((2, 3)))


def test_gather_index_larger_than_input_is_refused():
    with pytest.raises(ValueError, match="gather: index shape"):
        K.gather(np.ones((2, 3)), 0, np.zeros((2, 5), np.int64))
    with pytest.raises(ValueError, match="gather: index shape"):
        K.gather(np.ones((2, 3)), 0, np.zeros((2,), np.int64))
