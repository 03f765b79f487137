"""Dropout in training mode in compiled steps: the mask is a plan step that draws from
fastgrad's global generator in C as eager execution draws it, so compiled == eager bit
for bit for the same seed sequence and both leave the generator in the same state."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn, optim
from fastgrad._factory import default_generator
from fastgrad.nn import functional as F

rng0 = np.random.default_rng(0)
XS = [rng0.standard_normal((6, 5)) for _ in range(3)]
YS = [rng0.integers(0, 3, 6).astype(np.int64) for _ in range(3)]


def data(i, dtype=np.float32):
    return fg.from_numpy(XS[i % 3].astype(dtype)), fg.from_numpy(YS[i % 3])


def rng_state():
    return default_generator.rng.bit_generator.state


def run_pair(make_model, make_step, steps=24, dtype=np.float32, seed=5, between=None):
    """Runs eager and compiled steps on twin models from the same generator state at
    each step; checks outputs, parameters and the generator's state bit for bit."""
    fg.manual_seed(0)
    a = make_model()
    fg.manual_seed(0)
    b = make_model()
    if dtype == np.float64:
        a, b = a.to(fg.float64), b.to(fg.float64)
    e, c = make_step(a), fg.compile(make_step(b))
    fg.manual_seed(seed)
    for i in range(steps):
        if between is not None:
            between(i, a, b)
        x, y = data(i, dtype)
        s0 = rng_state()
        ra = e(x, y)
        s1 = rng_state()
        default_generator.rng.bit_generator.state = s0
        rb = c(x, y)
        assert rng_state() == s1, i
        ra = ra if isinstance(ra, tuple) else (ra,)
        rb = rb if isinstance(rb, tuple) else (rb,)
        for u, v in zip(ra, rb):
            assert u._data.dtype == v._data.dtype and u._data.tobytes() == v._data.tobytes(), i
        for p, q in zip(a.parameters(), b.parameters()):
            assert p._data.tobytes() == q._data.tobytes(), i
    return c


def mlp(p=0.3):
    return lambda: nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(p), nn.Linear(16, 3))


def sgd_step(m):
    opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        out = m(x)
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        return loss, out
    return step


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_module_compiled_equals_eager(dtype, p):
    c = run_pair(mlp(p), sgd_step, dtype=dtype)
    assert c.stats["eager_calls"] == 0 and c.stats["traces"] == 1
    assert c.stats["replays"] == 23


def test_dropout_p_one_and_functional_inplace_and_two_layers():
    def model():
        return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))

    def make_step(m):
        opt = optim.Adam(m.parameters(), lr=0.01)

        def step(x, y):
            opt.zero_grad()
            h = F.dropout(m[0](x), 0.25)
            h = F.dropout(m[1](h) * 1.0, 0.5, inplace=True)
            z = F.dropout(h, 1.0)                 # all zero, no draws
            loss = F.cross_entropy(m[2](h + z), y)
            loss.backward()
            opt.step()
            return loss
        return step
    c = run_pair(model, make_step)
    assert c.stats["eager_calls"] == 0


def test_channel_dropout():
    def model():
        return nn.Sequential(nn.Linear(5, 12), nn.Linear(12, 3))

    def make_step(m):
        opt = optim.SGD(m.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            h = F.dropout1d(fg.reshape(m[0](x), (6, 4, 3)), 0.4)
            loss = F.cross_entropy(m[1](fg.reshape(h, (6, 12))), y)
            loss.backward()
            opt.step()
            return loss
        return step
    c = run_pair(model, make_step)
    assert c.stats["eager_calls"] == 0


def test_manual_seed_between_calls_follows_the_new_generator():
    def between(i, a, b):
        if i % 5 == 0:
            fg.manual_seed(100 + i)
    c = run_pair(mlp(), sgd_step, between=between)
    assert c.stats["traces"] == 1 and c.stats["eager_calls"] == 0


def test_eval_mode_switch_retraces_without_dropout():
    def between(i, a, b):
        if i in (6, 12):
            a.eval()
            b.eval()
        if i in (9, 15):
            a.train()
            b.train()
    c = run_pair(mlp(), sgd_step, between=between)
    assert c.stats["eager_calls"] == 0 and c.stats["traces"] == 2


def test_dropout_plan_step_validates_its_generator():
    from fastgrad._C import _kernels as _K
    arena = np.zeros(64, np.uint8)
    step = {"kind": "dropout", "op": 0, "n": [4], "s": [0.5, 2.0], "outs": [(0, 0)]}
    with pytest.raises(ValueError, match="rng"):
        _K.Plan([arena], [], [step], ["dropout"])
    bg = np.random.PCG64(3)
    plan = _K.Plan([arena], [], [dict(step, rng=bg)], ["dropout"])
    plan.run(())
    u = np.random.Generator(np.random.PCG64(3)).random(4, dtype=np.float32)
    want = np.where(u >= 0.5, np.float32(2.0), np.float32(0.0))
    assert arena[:16].view(np.float32).tobytes() == want.tobytes()
    ref = np.random.PCG64(3)
    np.random.Generator(ref).random(4, dtype=np.float32)
    assert bg.state == ref.state
    with pytest.raises(ValueError, match="lie outside"):
        _K.Plan([arena], [], [dict(step, rng=bg, n=[17])], ["dropout"])


# ---- embedding lookups and integer-array indexing of parameters -------------------------
TOK = [rng0.integers(0, 10, (6, 4)).astype(np.int64) for _ in range(3)]


def tokens(i):
    t = TOK[i % 3].copy()
    t[0, :2] = 0                            # the padding index appears in every batch
    return fg.from_numpy(t)


def run_tokens(make_model, make_step, steps=24, between=None, dtype=np.float32):
    fg.manual_seed(0)
    a = make_model()
    fg.manual_seed(0)
    b = make_model()
    if dtype == np.float64:
        a, b = a.to(fg.float64), b.to(fg.float64)
    e, c = make_step(a), fg.compile(make_step(b))
    for i in range(steps):
        if between is not None:
            between(i, a, b)
        x, y = tokens(i), fg.from_numpy(YS[i % 3])
        s0 = rng_state()
        ra = e(x, y)
        s1 = rng_state()
        default_generator.rng.bit_generator.state = s0
        rb = c(x, y)
        assert rng_state() == s1, i
        assert ra._data.tobytes() == rb._data.tobytes(), i
        for p, q in zip(a.parameters(), b.parameters()):
            assert p._data.tobytes() == q._data.tobytes(), i
            assert (p.grad is None) == (q.grad is None), i
            if p.grad is not None:
                assert p.grad._data.tobytes() == q.grad._data.tobytes(), i
    return c


class EmbedNet(nn.Module):
    def __init__(self, padding_idx=None, dropout=0.0):
        super().__init__()
        self.emb = nn.Embedding(10, 5, padding_idx=padding_idx)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(20, 3)

    def forward(self, t):
        h = self.drop(self.emb(t))
        return self.head(fg.reshape(h, (h.shape[0], 20)))


def embed_step(m):
    opt = optim.Adam(m.parameters(), lr=0.05)

    def step(t, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(t), y)
        loss.backward()
        opt.step()
        return loss
    return step


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding_idx", [None, 0, -10])
def test_embedding_compiled_equals_eager(padding_idx, dtype):
    c = run_tokens(lambda: EmbedNet(padding_idx), embed_step, dtype=dtype)
    assert c.stats["eager_calls"] == 0 and c.stats["traces"] == 1


def test_embedding_with_dropout():
    fg.manual_seed(3)
    c = run_tokens(lambda: EmbedNet(0, 0.3), embed_step)
    assert c.stats["eager_calls"] == 0


def test_index_select_and_integer_array_indexing_of_a_parameter():
    idx = fg.from_numpy(np.array([3, 1, 3, 0, -1, 2], dtype=np.int64))
    idx2 = fg.from_numpy(np.array([3, 1, 3, 0, 9, 2], dtype=np.int64))

    def model():
        m = nn.Module()
        m.table = nn.Parameter(fg.randn(10, 4))
        m.lin = nn.Linear(4, 3)
        return m

    def make_step(m):
        opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.5)

        def step(t, y):
            opt.zero_grad()
            rows = (fg.index_select(m.table, 0, fg.reshape(t, (-1,))[:6])
                    + fg.index_select(m.table, 0, idx2) + (m.table * 2.0)[idx])
            loss = F.cross_entropy(m.lin(rows), y)
            loss.backward()
            opt.step()
            return loss
        return step
    c = run_tokens(model, make_step)
    assert c.stats["eager_calls"] == 0 and c.stats["traces"] == 1


def test_embedding_index_out_of_range_in_a_replay_raises_index_error():
    m = EmbedNet()
    step = fg.compile(embed_step(m))
    for i in range(3):
        step(tokens(i), fg.from_numpy(YS[0]))
    bad = TOK[0].copy()
    bad[1, 1] = 10
    with pytest.raises(IndexError, match="out of range"):
        step(fg.from_numpy(bad), fg.from_numpy(YS[0]))


# ---- p.grad = None inside the step --------------------------------------------------------
def test_manual_grad_none_does_not_retrace_every_call():
    def model():
        return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))

    def make_step(m):
        opt = optim.Adam(m.parameters(), lr=0.01)

        def step(x, y):
            for p in m.parameters():
                p.grad = None
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss
        return step
    c = run_pair(model, make_step, steps=30)
    assert c.stats["traces"] <= 2 and c.stats["replays"] >= 27


def test_manual_grad_none_between_calls_and_accumulation():
    """grads set to None outside the function at some steps (accumulating otherwise)."""
    def model():
        return nn.Sequential(nn.Linear(5, 3))

    def make_step(m):
        opt = optim.SGD(m.parameters(), lr=0.01)

        def step(x, y):
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    def between(i, a, b):
        if i % 3 == 0:
            for p in list(a.parameters()) + list(b.parameters()):
                p.grad = None
    c = run_pair(model, make_step, steps=18, between=between)
    assert c.stats["eager_calls"] == 0


# ---- fastgrad.compile(module) -----------------------------------------------------------
def test_compile_module_behaves_like_the_module():
    fg.manual_seed(0)
    m = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    cm = fg.compile(m)
    assert isinstance(cm, nn.Module)
    assert list(cm.parameters()) == list(m.parameters())
    assert cm.state_dict().keys() == m.state_dict().keys()
    cm.load_state_dict(m.state_dict())
    assert [n for n, _ in cm.named_parameters()] == [n for n, _ in m.named_parameters()]
    assert cm[0] is m[0] and len(cm) == 4
    assert cm.eval() is cm and not m.training
    x = fg.from_numpy(XS[0].astype(np.float32))
    with fg.no_grad():
        for _ in range(5):
            assert cm(x)._data.tobytes() == m(x)._data.tobytes()
    st = cm._compiled.stats
    assert st["traces"] == 1 and st["replays"] >= 3 and st["eager_calls"] == 0
    cm.train()
    assert m.training
    with fg.no_grad():                      # training mode: dropout, same draws as eager
        for _ in range(5):
            s0 = rng_state()
            ya = m(x)
            s1 = rng_state()
            default_generator.rng.bit_generator.state = s0
            assert cm(x)._data.tobytes() == ya._data.tobytes()
            assert rng_state() == s1
    cm.extra = 3                            # attributes are the module's
    assert m.extra == 3


def test_compile_module_with_autograd_runs_eagerly_with_one_notice():
    fg.manual_seed(0)
    m = nn.Linear(5, 3)
    cm = fg.compile(m)
    x = fg.from_numpy(XS[0].astype(np.float32))
    with pytest.warns(RuntimeWarning, match="requires grad"):
        y = cm(x)
    y.sum().backward()
    assert m.weight.grad is not None
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cm(x)                               # said once



# ---- optimizer state replaced between calls -----------------------------------------------
def sgd_like_step(m, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


@pytest.mark.parametrize("how", ["entry", "load_state_dict", "data"])
def test_replaced_optimizer_state_is_followed(how):
    worlds = []
    for compiled in (False, True):
        fg.manual_seed(0)
        m = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
        opt = optim.Adam(m.parameters(), lr=0.01)
        step = sgd_like_step(m, opt)
        worlds.append((m, opt, fg.compile(step) if compiled else step))
    saved = None
    for i in range(12):
        for m, opt, step in worlds:
            if i == 4 and how == "load_state_dict":
                if saved is None:
                    import copy
                    saved = copy.deepcopy(opt.state_dict())
                opt.load_state_dict(saved)
            elif i == 6:
                p = next(iter(m.parameters()))
                if how == "entry":
                    opt.state[p]["exp_avg"] = fg.zeros_like(opt.state[p]["exp_avg"]) + 0.5
                elif how == "data":
                    opt.state[p]["exp_avg_sq"]._data = opt.state[p]["exp_avg_sq"]._data * 2.0
            x, y = data(i)
            step(x, y)
        (ma, oa, _), (mb, ob, c) = worlds
        for p, q in zip(ma.parameters(), mb.parameters()):
            assert p._data.tobytes() == q._data.tobytes(), (how, i)
    assert c.stats["replays"] > 0 and c.stats["eager_calls"] == 0


def test_compiled_module_inside_a_compiled_training_step():
    import warnings
    made = []

    def model():
        made.append(nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3)))
        return made[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = run_pair(model, lambda m: sgd_step(fg.compile(m) if m is made[1] else m))
    assert c.stats["eager_calls"] == 0 and c.stats["traces"] == 1
