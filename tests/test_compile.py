"""fastgrad.compile: compiled training steps against eager execution (the oracle: the
same step run eagerly on an identical model), guards and retracing, errors, fallback,
steady-state memory, threads."""
import functools
import threading
import tracemalloc

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn, optim
from fastgrad.compile import CompileError, CompiledFunction
from fastgrad.nn import functional as F

# fastgrad.compile with refusals raised (the default runs such a signature eagerly,
# with a warning): the tests below check what each refusal names
strict_compile = functools.partial(fg.compile, fallback="error")


IN, HID, OUT, BS = 12, 16, 5, 8


class Explicit(nn.Module):
    """An MLP whose activations run as separate ops (not fused into the GEMM)."""

    def __init__(self, act):
        super().__init__()
        self.l1 = nn.Linear(IN, HID)
        self.l2 = nn.Linear(HID, OUT)
        self.act = act

    def forward(self, x):
        return self.l2(self.act(self.l1(x)))


def make_model(kind, seed=0, dtype=fg.float32):
    fg.manual_seed(seed)
    if kind == "explicit_tanh":
        m = Explicit(fg.tanh)
    elif kind == "explicit_sigmoid":
        m = Explicit(F.sigmoid)
    else:
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[kind]
        m = nn.Sequential(nn.Linear(IN, HID), act(), nn.Linear(HID, HID), act(),
                          nn.Linear(HID, OUT))
    return m.to(dtype) if dtype != fg.float32 else m


def make_opt(name, params):
    return {"sgd": lambda: optim.SGD(params, lr=0.1),
            "momentum": lambda: optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True),
            "adam": lambda: optim.Adam(params, lr=1e-2),
            "adamw": lambda: optim.AdamW(params, lr=1e-2, weight_decay=0.1),
            "rmsprop": lambda: optim.RMSprop(params, lr=1e-3, momentum=0.5, centered=True),
            "adagrad": lambda: optim.Adagrad(params, lr=0.05)}[name]()


def make_step(model, opt, loss):
    def step(x, y):
        opt.zero_grad()
        out = model(x)
        if loss == "xent":
            lv = F.cross_entropy(out, y)
        elif loss == "xent_sum":
            lv = F.cross_entropy(out, y, reduction="sum")
        elif loss == "xent_none":
            lv = F.cross_entropy(out, y, reduction="none").mean()
        else:
            lv = F.mse_loss(out, y)
        lv.backward()
        opt.step()
        return lv
    return step


def batches(n, loss, seed=1, dtype=np.float32, bs=BS):
    r = np.random.default_rng(seed)
    for _ in range(n):
        x = fg.tensor(r.standard_normal((bs, IN)).astype(dtype))
        if loss == "mse":
            y = fg.tensor(r.standard_normal((bs, OUT)).astype(dtype))
        else:
            y = fg.tensor(r.integers(0, OUT, bs))
        yield x, y


def pair(kind, opt, loss, dtype=fg.float32):
    """(eager step, compiled step, eager model, compiled model) on identical models."""
    m1, m2 = make_model(kind, dtype=dtype), make_model(kind, dtype=dtype)
    o1, o2 = make_opt(opt, m1.parameters()), make_opt(opt, m2.parameters())
    return make_step(m1, o1, loss), fg.compile(make_step(m2, o2, loss)), m1, m2


def assert_same_params(m1, m2, grads=True):
    for (n, a), b in zip(m1.named_parameters(), m2.parameters()):
        assert np.array_equal(a._data, b._data), f"parameter {n} differs"
        if grads:
            assert np.array_equal(a.grad._data, b.grad._data), f"gradient of {n} differs"


@pytest.mark.parametrize("kind,opt,loss", [
    ("relu", "sgd", "xent"), ("relu", "momentum", "xent"), ("relu", "adam", "xent"),
    ("tanh", "adam", "mse"), ("sigmoid", "adamw", "xent_sum"),
    ("explicit_tanh", "sgd", "mse"), ("explicit_sigmoid", "momentum", "xent_none"),
    ("relu", "sgd", "mse"), ("tanh", "rmsprop", "xent"), ("relu", "adagrad", "mse"),
])
def test_compiled_matches_eager_100_steps(kind, opt, loss):
    eager, comp, m1, m2 = pair(kind, opt, loss)
    for x, y in batches(100, loss):
        l1, l2 = eager(x, y), comp(x, y)
        assert l1._data.tobytes() == l2._data.tobytes()
    assert_same_params(m1, m2)
    assert comp.stats["traces"] == 1 and comp.stats["replays"] == 99


def test_float64_and_two_threads():
    fg.set_num_threads(2)
    eager, comp, m1, m2 = pair("relu", "adam", "xent", dtype=fg.float64)
    for x, y in batches(30, "xent", dtype=np.float64):
        eager(x, y)
        comp(x, y)
    assert_same_params(m1, m2)


def test_returned_tensors_are_fresh_and_detached():
    eager, comp, m1, m2 = pair("relu", "sgd", "xent")
    it = batches(3, "xent")
    x, y = next(it)
    comp(x, y)
    x, y = next(it)
    a = comp(x, y)
    x, y = next(it)
    b = comp(x, y)
    assert isinstance(a, fg.Tensor) and not a.requires_grad and a.grad_fn is None
    assert a._data is not b._data and not np.shares_memory(a._data, b._data)
    assert a.item() != b.item()


def test_tuple_outputs_and_python_constants():
    model = make_model("relu")
    opt = make_opt("sgd", model.parameters())

    @fg.compile
    def step(x, y):
        opt.zero_grad()
        out = model(x)
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        return {"loss": loss, "logits": out, "tag": "ok"}

    ref_m = make_model("relu")
    ref_o = make_opt("sgd", ref_m.parameters())
    for x, y in batches(5, "xent"):
        r = step(x, y)
        ref_o.zero_grad()
        out = ref_m(x)
        loss = F.cross_entropy(out, y)
        loss.backward()
        ref_o.step()
        assert r["tag"] == "ok"
        assert np.array_equal(r["logits"]._data, out._data)
        assert np.array_equal(r["loss"]._data, loss._data)


def test_lr_scheduler_is_honoured_without_retrace():
    eager, comp, m1, m2 = pair("relu", "momentum", "xent")
    s1 = optim.lr_scheduler.StepLR(_opt_of(eager), step_size=3, gamma=0.5)
    s2 = optim.lr_scheduler.StepLR(_opt_of(comp.fn), step_size=3, gamma=0.5)
    for x, y in batches(12, "xent"):
        eager(x, y)
        comp(x, y)
        s1.step()
        s2.step()
    assert_same_params(m1, m2)
    assert comp.stats["traces"] == 1


def _opt_of(step):
    return next(c.cell_contents for c in step.__closure__
                if isinstance(c.cell_contents, optim.Optimizer))


def test_retrace_on_new_shape_and_training_mode():
    eager, comp, m1, m2 = pair("relu", "adam", "xent")
    for bs in (8, 4, 8, 4):
        for x, y in batches(2, "xent", bs=bs):
            eager(x, y)
            comp(x, y)
    assert comp.stats["traces"] == 2
    m1.eval()
    m2.eval()
    for x, y in batches(2, "xent"):
        eager(x, y)
        comp(x, y)
    assert comp.stats["traces"] == 3
    assert_same_params(m1, m2)
    assert len(comp.plan_info()) == 3


def test_replaced_parameter_retraces():
    eager, comp, m1, m2 = pair("relu", "sgd", "xent")
    it = batches(6, "xent")
    for _ in range(3):
        x, y = next(it)
        eager(x, y)
        comp(x, y)
    p1, p2 = next(iter(m1.parameters())), next(iter(m2.parameters()))
    p1._data = p1._data.copy()
    p2._data = p2._data.copy()
    for x, y in it:
        eager(x, y)
        comp(x, y)
    assert comp.stats["traces"] == 2
    assert_same_params(m1, m2)


def test_retrace_warning_and_bounded_cache():
    model = nn.Linear(3, 2)

    def f(x):
        return model(x).sum()
    c = CompiledFunction(f, max_plans=3, warn_after=4)
    with pytest.warns(RuntimeWarning, match="retrac"):
        for n in range(1, 7):
            c(fg.ones((n, 3)))
    assert len(c.plan_info()) == 3


def test_accumulating_grads_without_zero_grad():
    """No zero_grad: eager accumulates into .grad; the compiled step must too."""
    m1, m2 = make_model("relu"), make_model("relu")

    def mk(m):
        def f(x, y):
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            return loss
        return f
    f1, f2 = mk(m1), fg.compile(mk(m2))
    for x, y in batches(5, "xent"):
        f1(x, y)
        f2(x, y)
        assert_same_params(m1, m2)


def test_zero_grad_keep_buffers():
    m1, m2 = make_model("tanh"), make_model("tanh")
    o1, o2 = make_opt("sgd", m1.parameters()), make_opt("sgd", m2.parameters())

    def mk(m, o):
        def f(x, y):
            o.zero_grad(set_to_none=False)
            loss = F.mse_loss(m(x), y)
            loss.backward()
            o.step()
            return loss
        return f
    f1, f2 = mk(m1, o1), fg.compile(mk(m2, o2))
    for x, y in batches(6, "mse"):
        f1(x, y)
        f2(x, y)
    assert_same_params(m1, m2)


@pytest.mark.parametrize("conv,name", [
    (lambda t: t.item(), "item"), (lambda t: float(t), "float"),
    (lambda t: t.tolist(), "tolist"), (lambda t: bool(t), "bool"),
    (lambda t: t.detach().numpy(), "numpy"),
])
def test_conversion_inside_raises_naming_the_call(conv, name):
    model = nn.Linear(3, 1)

    @strict_compile
    def f(x):
        loss = model(x).sum()
        conv(loss)
        return loss
    with pytest.raises(CompileError, match=name):
        f(fg.ones((2, 3)))


def test_fallback_eager_runs_conversions_eagerly():
    eager_m, comp_m = make_model("relu"), make_model("relu")
    o1, o2 = make_opt("adam", eager_m.parameters()), make_opt("adam", comp_m.parameters())

    def mk(m, o):
        def f(x, y):
            o.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            o.step()
            return loss.item()
        return f
    f1, f2 = mk(eager_m, o1), fg.compile(mk(comp_m, o2), fallback="eager")
    for x, y in batches(4, "xent"):
        assert f1(x, y) == f2(x, y)
    assert f2.stats["eager_calls"] == 3 and f2.stats["plans"] == 0
    assert_same_params(eager_m, comp_m)


def test_dropout_compiles_and_draws_the_eager_masks():
    def mk():
        fg.manual_seed(0)
        return nn.Sequential(nn.Linear(IN, HID), nn.ReLU(), nn.Dropout(0.3), nn.Linear(HID, OUT))
    # the same seeded generator as eager: the same masks and parameters
    m1, m2 = mk(), mk()
    f1 = make_step(m1, make_opt("sgd", m1.parameters()), "xent")
    f2 = fg.compile(make_step(m2, make_opt("sgd", m2.parameters()), "xent"))
    for x, y in batches(6, "xent"):
        fg.manual_seed(5)
        f1(x, y)
        fg.manual_seed(5)
        f2(x, y)
        assert_same_params(m1, m2)
    assert f2.stats["replays"] == 5 and f2.stats["eager_calls"] == 0
    # eval mode: dropout is the identity; a second plan
    m1.eval()
    m2.eval()
    x, y = next(batches(1, "xent"))
    f1(x, y)
    f2(x, y)
    assert_same_params(m1, m2)
    assert f2.stats["plans"] == 2


def test_unsupported_kernel_and_untracked_arrays_raise():
    model = nn.Linear(4, 3)

    @strict_compile
    def uses_masked_select(x):
        y = model(x)
        return fg.masked_select(y, y > 0).sum()
    with pytest.raises(CompileError, match="masked_select"):
        uses_masked_select(fg.ones((2, 4)))

    @strict_compile
    def makes_noise(x):
        return (model(x) + fg.randn(2, 3)).sum()
    with pytest.raises(CompileError, match="no traced kernel produced"):
        makes_noise(fg.ones((2, 4)))


def test_bad_target_at_replay_raises_clearly():
    eager, comp, m1, m2 = pair("relu", "sgd", "xent")
    x, y = next(batches(1, "xent"))
    comp(x, y)
    comp(x, y)
    bad = fg.tensor(np.full(BS, OUT + 3))
    with pytest.raises(IndexError, match="cross_entropy.*out of bounds"):
        comp(x, bad)


def test_ignore_index_count_is_recomputed_per_call():
    """The mean over non-ignored targets depends on the targets: not frozen at trace."""
    m1, m2 = make_model("relu"), make_model("relu")
    o1, o2 = make_opt("sgd", m1.parameters()), make_opt("sgd", m2.parameters())

    def mk(m, o):
        def f(x, y):
            o.zero_grad()
            loss = F.cross_entropy(m(x), y, ignore_index=0)
            loss.backward()
            o.step()
            return loss
        return f
    f1, f2 = mk(m1, o1), fg.compile(mk(m2, o2))
    for x, y in batches(8, "xent", seed=3):
        assert f1(x, y)._data.tobytes() == f2(x, y)._data.tobytes()
    assert_same_params(m1, m2)


def test_arena_reuses_memory_and_steady_state_allocates_nothing():
    fg.manual_seed(0)
    model = nn.Sequential(*[m for _ in range(4) for m in (nn.Linear(64, 64), nn.Tanh())],
                          nn.Linear(64, 10))
    opt = optim.SGD(model.parameters(), lr=0.01)
    step = fg.compile(make_step(model, opt, "xent"))
    x, y = fg.randn(32, 64), fg.randint(0, 10, (32,))
    step(x, y)
    info = step.plan_info()[0]
    assert 0 < info["arena_bytes"] < info["intermediate_bytes_without_reuse"]
    tracemalloc.start()
    try:
        # warm up past Python's free lists (freed small objects stay 'traced' there)
        for _ in range(3000):
            step(x, y)
        a = tracemalloc.get_traced_memory()[0]
        for _ in range(1000):
            step(x, y)
        b = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert b - a < 4096, f"memory grew by {b - a} bytes over 1000 replays"


def test_threads_each_with_its_own_compiled_step():
    results = {}
    seed_lock = threading.Lock()       # manual_seed + init use the one global generator

    def worker(i):
        with seed_lock:
            eager, comp, m1, m2 = pair("relu", "adam", "xent")
        for x, y in batches(20, "xent", seed=i):
            eager(x, y)
            comp(x, y)
        results[i] = all(np.array_equal(a._data, b._data)
                         for a, b in zip(m1.parameters(), m2.parameters()))
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results == {0: True, 1: True, 2: True}


def test_reference_backend_runs_eagerly():
    eager, comp, m1, m2 = pair("relu", "sgd", "xent")
    with fg.use_backend("numpy"):
        for x, y in batches(2, "xent"):
            eager(x, y)
            comp(x, y)
    assert comp.stats["eager_calls"] == 2
    assert_same_params(m1, m2)


def test_decorator_forms_and_bad_fallback():
    @fg.compile(fallback="eager")
    def f(x):
        return x * 2.0
    assert np.array_equal(f(fg.ones(3))._data, np.full(3, 2.0, np.float32))
    with pytest.raises(ValueError, match="fallback"):
        fg.compile(lambda x: x, fallback="sometimes")


def test_cli_train_compile_matches_eager():
    import io

    from fastgrad import cli
    res = []
    for extra in ([], ["--compile"]):
        args = cli.build_parser().parse_args(
            ["train", "--quiet", "--dataset", "blobs", "--samples", "300", "--epochs", "3",
             "--hidden", "16,8", "--optimizer", "sgd"] + extra)
        r = cli.train(args, out=io.StringIO())
        res.append((r["test_accuracy"], r["test_loss"],
                    [p._data.copy() for p in r["model"].parameters()]))
    assert res[0][:2] == res[1][:2]
    assert all(np.array_equal(a, b) for a, b in zip(res[0][2], res[1][2]))


def _manual_sgd_step(model):
    def step(x):
        loss = model(x).sum()
        loss.backward()
        for p in model.parameters():
            p._data -= 0.1 * p.grad._data      # NumPy on ._data: invisible to the tracer
            p.grad = None
        return loss
    return step


def test_untraced_numpy_work_is_caught_at_the_second_call():
    fg.manual_seed(0)
    model = nn.Linear(4, 2)
    step = strict_compile(_manual_sgd_step(model))
    xs = [fg.randn(3, 4) for _ in range(4)]
    step(xs[0])
    with pytest.raises(CompileError, match="disagree on parameters"):
        step(xs[1])
    # fallback: the same sequence of parameters as eager execution
    fg.manual_seed(0)
    m1, m2 = nn.Linear(4, 2), nn.Linear(4, 2)
    m2.load_state_dict(m1.state_dict())
    e, c = _manual_sgd_step(m1), strict_compile(_manual_sgd_step(m2), fallback="eager")
    for x in xs:
        assert e(x)._data.tobytes() == c(x)._data.tobytes()
    assert all(np.array_equal(a._data, b._data) for a, b in zip(m1.parameters(), m2.parameters()))
    assert c.stats["plans"] == 0 and c.plan_info()[0]["mode"] == "eager"


def test_python_value_read_from_data_is_caught():
    model = nn.Linear(4, 2)

    @strict_compile
    def f(x):
        scale = float(x._data.mean())         # not a Tensor conversion: frozen by the trace
        return (model(x) * scale).sum()
    f(fg.ones((3, 4)))
    with pytest.raises(CompileError, match="disagree on the returned tensors"):
        f(fg.full((3, 4), 2.0))


class Counting(nn.Module):
    """Updates a buffer with NumPy in place: work the tracer does not see."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 2)
        self.register_buffer("calls", fg.zeros(1))

    def forward(self, x):
        self.calls._data += 1
        return self.lin(x)


def test_untraced_buffer_update_is_caught_and_batch_norm_compiles():
    m = Counting()

    @strict_compile
    def f(x):
        return m(x).sum()
    f(fg.ones((3, 4)))
    with pytest.raises(CompileError, match="buffers"):
        f(fg.ones((3, 4)))
    assert m.calls.item() == 2.0          # the failing call itself ran eagerly

    def mk():
        fg.manual_seed(0)
        return nn.Sequential(nn.Linear(IN, HID), nn.BatchNorm1d(HID), nn.ReLU(),
                             nn.Linear(HID, OUT))
    # batch_norm's running-statistics update is replayed in C with NumPy's rounding
    m1, m2 = mk(), mk()
    f1 = make_step(m1, make_opt("adam", m1.parameters()), "xent")
    f2 = strict_compile(make_step(m2, make_opt("adam", m2.parameters()), "xent"))
    for x, y in batches(4, "xent"):
        f1(x, y)
        f2(x, y)
    assert_same_params(m1, m2)
    for a, b in zip(m1[1].buffers(), m2[1].buffers()):
        assert a._data.tobytes() == b._data.tobytes()
    m1.eval()
    m2.eval()                              # eval: running statistics are only read
    for x, y in batches(4, "xent"):
        f1(x, y)
        f2(x, y)
    assert_same_params(m1, m2)
    assert f2.stats["plans"] == 2 and f2.stats["eager_calls"] == 0


def test_functional_weights_replaced_in_closure_tensor_retrace():
    fg.manual_seed(0)
    w = fg.randn(3, 4, requires_grad=True)

    @fg.compile
    def f(x):
        return F.linear(x, w).sum()
    x = fg.ones((2, 4))
    a = f(x)
    f(x)
    w._data = w._data * 2                # a new array: the plan must not read the old one
    b = f(x)
    assert np.allclose(b._data, 2 * a._data)
    assert f.stats["traces"] == 2


def test_plan_builder_rejects_malformed_steps():
    from fastgrad._C import _kernels as K
    arena = np.zeros(64, np.uint8)
    good = {"kind": "unary", "op": K.U["tanh"], "ins": [(0, 0)], "outs": [(0, 32)], "n": [4]}
    K.Plan([arena], [], [good], ["tanh"]).run(())
    for bad in ({**good, "op": 999}, {**good, "ins": [(3, 0)]},
                {"kind": "reduce", "op": K.R["max"], "ins": [(0, 0)], "outs": [(0, 32)],
                 "n": [1, 4, 1]},
                {"kind": "xent_red_bwd", "ins": [(0, 0)], "outs": [(0, 32)], "n": [1, 1, 0, 5]},
                # max pooling without its indices, an unknown pooling op, a bn_prep
                # without its invstd output, a counter without its operand
                {"kind": "pool", "op": K.POOL["max"], "ins": [(0, 0)], "outs": [(0, 32)]},
                {"kind": "pool_bwd", "op": 7, "ins": [(0, 0)], "outs": [(0, 32)]},
                {"kind": "bn_prep", "ins": [None, (0, 0)], "outs": [None], "n": [2]},
                {"kind": "counter", "n": [1]}):
        with pytest.raises(ValueError, match="malformed"):
            K.Plan([arena], [], [bad], ["bad"])
    with pytest.raises(ValueError, match="input 0 must be"):
        K.Plan([arena, None], [(1, np.float32, (4,))], [{**good, "ins": [(1, 0)]}],
               ["tanh"]).run((np.zeros(5, np.float32),))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plan_loss_sum_is_numpy_pairwise_sum(dtype):
    from fastgrad._C import _kernels as K
    r = np.random.default_rng(0)
    for n in list(range(0, 140)) + [255, 256, 257, 1000, 4099]:
        x = (r.standard_normal(n) * 10).astype(dtype)
        assert K.pairwise_sum(x).tobytes() == np.asarray(x.sum(), dtype).tobytes(), n


def test_method_decorator():
    class Trainer:
        def __init__(self):
            self.model = make_model("relu")
            self.opt = make_opt("adam", self.model.parameters())

        @fg.compile
        def step(self, x, y):
            return make_step(self.model, self.opt, "xent")(x, y)
    a, b = Trainer(), Trainer()
    ref_m = make_model("relu")
    ref = make_step(ref_m, make_opt("adam", ref_m.parameters()), "xent")
    for x, y in batches(5, "xent"):
        a.step(x, y)
        ref(x, y)
    assert_same_params(ref_m, a.model)
    assert all(np.array_equal(p._data, q._data) for p, q in
               zip(b.model.parameters(), make_model("relu").parameters()))


def test_graph_made_while_tracing_is_not_recorded_later():
    """A loss returned without backward: every call returns a detached tensor; a graph the
    trace built and kept elsewhere can still be used after the trace, eagerly."""
    model = nn.Linear(4, 3)
    kept = []

    @fg.compile
    def f(x, y):
        loss = F.cross_entropy(model(x), y)
        kept.append(loss)
        return loss
    x, y = fg.ones((2, 4)), fg.tensor([0, 2])
    r = f(x, y)
    assert not r.requires_grad
    kept[0].backward()                    # outside the trace: plain eager backward
    assert model.weight.grad is not None


# ---- convolutional networks ------------------------------------------------------------------
CIN, SIDE, NCLS = 2, 10, 4


def make_cnn(kind, seed=0, dtype=fg.float32):
    """Small CNNs over (N, CIN, SIDE, SIDE) (or (N, CIN, 2 * SIDE) for conv1d)."""
    fg.manual_seed(seed)
    if kind == "cnn_avg":
        m = nn.Sequential(nn.Conv2d(CIN, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 8, 3, stride=1), nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True),
                          nn.Flatten(), nn.Linear(8 * 2 * 2, NCLS))
    elif kind == "cnn_adaptive":
        m = nn.Sequential(nn.Conv2d(CIN, 6, 3, padding=1, bias=False), nn.ReLU(),
                          nn.MaxPool2d(3, stride=2, padding=1),
                          nn.Conv2d(6, 8, 3, padding=1, groups=2), nn.ReLU(),
                          nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten(), nn.Linear(8 * 6, NCLS))
    elif kind == "cnn_norm":
        m = nn.Sequential(nn.Conv2d(CIN, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, padding=1), nn.GroupNorm(2, 8),
                          nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.LayerNorm(8 * 2 * 2),
                          nn.Linear(8 * 2 * 2, NCLS))
    else:  # cnn1d
        m = nn.Sequential(nn.Conv1d(CIN, 6, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
                          nn.Conv1d(6, 8, 3, dilation=2), nn.BatchNorm1d(8), nn.ReLU(),
                          nn.AvgPool1d(2), nn.Flatten(), nn.Linear(8 * 3, NCLS))
    return m.to(dtype) if dtype != fg.float32 else m


def cnn_batches(n, kind, seed=3, dtype=np.float32, bs=6):
    r = np.random.default_rng(seed)
    xs = (bs, CIN, 2 * SIDE) if kind == "cnn1d" else (bs, CIN, SIDE, SIDE)
    for _ in range(n):
        yield fg.tensor(r.standard_normal(xs).astype(dtype)), fg.tensor(r.integers(0, NCLS, bs))


def assert_same_state(m1, m2):
    assert_same_params(m1, m2)
    for (n, a), b in zip(m1.named_buffers(), m2.buffers()):
        assert a._data.tobytes() == b._data.tobytes(), f"buffer {n} differs"


@pytest.mark.parametrize("kind,opt", [("cnn_avg", "momentum"), ("cnn_avg", "adam"),
                                      ("cnn_adaptive", "adam"), ("cnn_norm", "momentum"),
                                      ("cnn_norm", "adam"), ("cnn1d", "adam")])
def test_cnn_compiled_matches_eager_100_steps(kind, opt):
    fg.set_num_threads(1)      # see test_benchmark_cnn_step_compiles_and_matches_eager
    m1, m2 = make_cnn(kind), make_cnn(kind)
    eager = make_step(m1, make_opt(opt, m1.parameters()), "xent")
    comp = fg.compile(make_step(m2, make_opt(opt, m2.parameters()), "xent"))
    for x, y in cnn_batches(100, kind):
        assert eager(x, y)._data.tobytes() == comp(x, y)._data.tobytes()
    assert_same_state(m1, m2)
    assert comp.stats["traces"] == 1 and comp.stats["replays"] == 99


@pytest.mark.parametrize("kind", ["cnn_norm", "cnn1d"])
def test_cnn_float64_two_threads_and_eval_mode(kind):
    fg.set_num_threads(2)
    m1, m2 = make_cnn(kind, dtype=fg.float64), make_cnn(kind, dtype=fg.float64)
    eager = make_step(m1, make_opt("adam", m1.parameters()), "xent")
    comp = fg.compile(make_step(m2, make_opt("adam", m2.parameters()), "xent"))
    for x, y in cnn_batches(10, kind, dtype=np.float64, bs=4):
        assert eager(x, y)._data.tobytes() == comp(x, y)._data.tobytes()
    m1.eval()
    m2.eval()                  # batch norm reads its running statistics: a second plan
    for x, y in cnn_batches(10, kind, dtype=np.float64, bs=4):
        assert eager(x, y)._data.tobytes() == comp(x, y)._data.tobytes()
    assert_same_state(m1, m2)
    assert comp.stats["plans"] == 2 and comp.stats["traces"] == 2


def test_batch_norm_variants_compile():
    """track_running_stats=False (batch statistics, no buffers), no affine, momentum=None
    (refused: the momentum is computed in Python from the step count)."""
    fg.set_num_threads(1)
    def mk(**kw):
        fg.manual_seed(0)
        return nn.Sequential(nn.Conv2d(CIN, 4, 3), nn.BatchNorm2d(4, **kw), nn.ReLU(),
                             nn.Flatten(), nn.Linear(4 * 8 * 8, NCLS))
    for kw in ({"track_running_stats": False}, {"affine": False, "momentum": 0.3}):
        m1, m2 = mk(**kw), mk(**kw)
        eager = make_step(m1, make_opt("sgd", m1.parameters()), "xent")
        comp = strict_compile(make_step(m2, make_opt("sgd", m2.parameters()), "xent"))
        for x, y in cnn_batches(5, "cnn_avg"):
            assert eager(x, y)._data.tobytes() == comp(x, y)._data.tobytes()
        assert_same_state(m1, m2)
        assert comp.stats["plans"] == 1
    m = mk(momentum=None)
    comp = strict_compile(make_step(m, make_opt("sgd", m.parameters()), "xent"))
    with pytest.raises(CompileError, match="momentum=None"):
        comp(*next(cnn_batches(1, "cnn_avg")))


def test_conv_backward_want_combinations_and_transposed_conv():
    """Input gradient only (frozen weights), weight and bias gradients only (an input
    without grad), all three, and conv_transpose2d (the input-gradient kernel forward)."""
    fg.set_num_threads(1)
    fg.manual_seed(0)
    w = fg.randn(4, 3, 3, 3, requires_grad=True)
    wt = fg.randn(4, 2, 3, 3, requires_grad=True)
    b = fg.randn(4, requires_grad=True)
    sc = fg.randn(1, requires_grad=True)

    def g(x, frozen, scaled):
        x = x * sc if scaled else x            # the conv's input then needs a gradient
        y = F.conv2d(x, w.detach() if frozen else w, None if frozen else b, padding=1)
        z = F.conv_transpose2d(F.relu(y), wt, stride=2)
        loss = (z * z).mean()
        loss.backward()
        return loss

    cg = fg.compile(g)
    r = np.random.default_rng(0)
    for frozen, scaled in ((False, False), (True, True), (False, True)):
        for i in range(3):
            x = fg.tensor(r.standard_normal((2, 3, 5, 5)).astype(np.float32))
            outs = []
            for fn in (g, cg):
                for t in (w, wt, b, sc):
                    t.grad = None
                outs.append((fn(x, frozen, scaled)._data.tobytes(),
                             [None if t.grad is None else t.grad._data.tobytes()
                              for t in (w, wt, b, sc)]))
            assert outs[0] == outs[1], (frozen, scaled, i)
            assert (outs[0][1][0] is None) == frozen and (outs[0][1][3] is None) != scaled
    assert cg.stats["plans"] == 3 and cg.stats["traces"] == 3


@pytest.mark.parametrize("threads", [1, 2])
def test_benchmark_cnn_step_compiles_and_matches_eager(threads):
    """The small CNN of the benchmarks (fastgrad.bench.workloads, batch 64 of 1x28x28),
    large enough that its convolution kernels run threaded with two threads: their weight
    and bias gradients are summed per fixed range of images, in range order, so eager and
    compiled steps agree bit for bit at any given thread count."""
    from fastgrad.bench import workloads as W
    fg.set_num_threads(threads)
    for opt in ("sgd", "adam"):
        eager, comp = W.fastgrad_cnn_step(opt), fg.compile(W.fastgrad_cnn_step(opt))
        for _ in range(4):
            assert eager()._data.tobytes() == comp()._data.tobytes()
        assert comp.stats["replays"] == 3


def test_kernel_backends_implement_the_interface():
    """The C kernels, the NumPy reference and compile's recorder each implement every
    function of fastgrad._backend.KernelBackend, with the interface's signature."""
    import inspect
    from fastgrad import reference
    from fastgrad._backend import KERNEL_FUNCTIONS, KernelBackend
    from fastgrad._C import _kernels
    from fastgrad.compile import recording
    rec = recording.Recorder(None)
    assert len(KERNEL_FUNCTIONS) >= 30
    for impl in (_kernels, reference, rec):
        assert isinstance(impl, KernelBackend), impl
        for name in KERNEL_FUNCTIONS:
            want = list(inspect.signature(getattr(KernelBackend, name)).parameters.values())[1:]
            got = list(inspect.signature(getattr(impl, name)).parameters.values())
            assert [(p.name, p.default) for p in got] == [(p.name, p.default) for p in want], \
                (impl, name)
    # the recorder defines each one itself (not through its fallback for other names)
    for name in KERNEL_FUNCTIONS:
        assert name in vars(recording.Recorder), name
    # every kernel function an op calls as backend.k.<name> is in the interface
    import pathlib
    import re
    root = pathlib.Path(fg.__file__).parent
    called = {m for f in root.rglob("*.py")
              for m in re.findall(r"backend\.k\.(\w+)", f.read_text())}
    assert called and called <= set(KERNEL_FUNCTIONS), called - set(KERNEL_FUNCTIONS)


def test_tracing_activates_the_recorder_as_backend_and_restores_it():
    from fastgrad._state import backend
    before = (backend.k, backend.name)
    seen = []

    def step(x):
        seen.append((type(backend.k).__name__, backend.name))
        return (x * 2.0).sum()

    f = fg.compile(step)
    f(fg.ones(3))
    assert seen == [("Recorder", "c")]
    assert (backend.k, backend.name) == before


def _clip_step(model, opt, clip, limit, log=None):
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        if log is not None:             # the gradients before clipping (eager step only)
            gs = [p.grad._data.astype(np.float64) for p in model.parameters()]
            log.append(np.sqrt(sum((g * g).sum() for g in gs)) if clip is nn.utils.clip_grad_norm_
                       else max(np.abs(g).max() for g in gs))
        clip(model.parameters(), limit)
        opt.step()
        return loss
    return step


@pytest.mark.parametrize("clip,limit", [(nn.utils.clip_grad_norm_, 5.0),
                                        (nn.utils.clip_grad_value_, 0.5)])
def test_gradient_clipping_inactive_then_active_matches_eager(clip, limit):
    """Clipping decides from the gradients' values whether to change them: the plan
    records it as one step that computes the norm and the scale at every replay, so a
    plan traced while clipping was inactive clips once the gradients grow."""
    m1, m2 = make_model("tanh"), make_model("tanh")
    log = []
    f1 = _clip_step(m1, make_opt("momentum", m1.parameters()), clip, limit, log)
    f2 = fg.compile(_clip_step(m2, make_opt("momentum", m2.parameters()), clip, limit))
    for i, (x, y) in enumerate(batches(8, "mse")):
        if i >= 3:                          # large targets: large gradients, clipped
            y = fg.tensor(y._data * 1000)
        a, b = f1(x, y), f2(x, y)
        assert a._data.tobytes() == b._data.tobytes()
        assert_same_params(m1, m2)
    active = [v > limit for v in log]
    assert active == [False] * 3 + [True] * 5, log
    assert f2.stats["plans"] == 1 and f2.stats["traces"] == 1 and f2.stats["replays"] == 7


def test_hooks_and_backend_restored_after_a_failing_trace():
    from fastgrad._hooks import HOOK_NAMES, hooks
    from fastgrad._state import backend
    from fastgrad.optim.optimizer import Optimizer
    before = (backend.k, backend.name)
    funcs = (F.dropout, F.batch_norm, Optimizer.step, Optimizer.zero_grad, nn.Module.__call__,
             nn.Module.zero_grad, nn.utils.clip_grad_norm_)
    seen = []

    def step(x):
        seen.append(sorted(n for n in HOOK_NAMES if getattr(hooks, n) is not None))
        assert (F.dropout, F.batch_norm, Optimizer.step, Optimizer.zero_grad,
                nn.Module.__call__, nn.Module.zero_grad, nn.utils.clip_grad_norm_) == funcs
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fg.compile(step)(fg.ones(3))
    assert seen == [sorted(HOOK_NAMES)]
    assert all(getattr(hooks, n) is None for n in HOOK_NAMES)
    assert (backend.k, backend.name) == before


def test_default_runs_an_uncompilable_step_eagerly_with_one_warning():
    """By default a step the recorder cannot follow runs eagerly (the program is followed,
    as torch.compile falls back to eager code), with one RuntimeWarning naming the reason;
    its results are eager execution's at every call."""
    eager_m, comp_m = make_model("relu"), make_model("relu")
    o1, o2 = make_opt("adam", eager_m.parameters()), make_opt("adam", comp_m.parameters())

    def mk(m, o):
        def step(x, y):
            o.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            o.step()
            return loss.item()           # a Python value read inside: no plan can follow it
        return step
    f1, f2 = mk(eager_m, o1), fg.compile(mk(comp_m, o2))
    x, y = fg.randn(BS, IN), fg.tensor(np.arange(BS) % OUT)
    with pytest.warns(RuntimeWarning, match="runs eagerly for this signature: .*item"):
        assert f2(x, y) == f1(x, y)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the warning is given once
        for _ in range(3):
            assert f2(x, y) == f1(x, y)
    for p1, p2 in zip(eager_m.parameters(), comp_m.parameters()):
        np.testing.assert_array_equal(p1.detach().numpy(), p2.detach().numpy())
    assert f2.stats["plans"] == 0 and f2.plan_info()[0]["mode"] == "eager"
