"""Comparisons, where / masked_fill, gather (and take_along_dim), scatter_add and scatter,
cat / stack and the backward of slicing (chunk, narrow, basic indices) inside compiled
training steps: recorded as plan steps (forward and backward), each compiled == eager bit
for bit over several steps, float32 and float64."""
import functools
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn, optim
from fastgrad.compile import CompileError
from fastgrad.nn import functional as F

# fastgrad.compile with refusals raised (the default runs such a signature eagerly,
# with a warning): the tests below check what each refusal names
strict_compile = functools.partial(fg.compile, fallback="error")


rng0 = np.random.default_rng(1)
XS = [rng0.standard_normal((6, 5)) for _ in range(4)]
YS = [rng0.integers(0, 3, 6).astype(np.int64) for _ in range(4)]


def mk(dtype, seed=0):
    fg.manual_seed(seed)
    m = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    return m.to(fg.float64) if dtype == np.float64 else m


def check_pair(loss_fn, dtype=np.float32, steps=6, opt=lambda ps: optim.SGD(ps, lr=0.1)):
    """Train two copies of one model, eagerly and compiled, with loss_fn(model, x, y);
    every returned tensor and every parameter bit-equal after each step."""
    a, b = mk(dtype), mk(dtype)

    def make_step(m):
        o = opt(m.parameters())

        def step(x, y):
            o.zero_grad()
            loss = loss_fn(m, x, y)
            loss.backward()
            o.step()
            return loss
        return step
    e, c = make_step(a), fg.compile(make_step(b))
    for i in range(steps):
        x = fg.from_numpy(XS[i % 4].astype(dtype))
        y = fg.from_numpy(YS[i % 4])
        ra, rb = e(x, y), c(x, y)
        assert ra._data.dtype == rb._data.dtype and ra._data.tobytes() == rb._data.tobytes(), i
        for p, q in zip(a.parameters(), b.parameters()):
            assert p._data.tobytes() == q._data.tobytes(), i
    assert c.stats["traces"] == 1 and c.stats["replays"] == steps - 1, c.stats
    return c


def _nll_gather(m, x, y):
    lp = F.log_softmax(m(x), 1)
    return -fg.gather(lp, 1, y.unsqueeze(1)).mean()


def _take_along(m, x, y):
    lp = F.log_softmax(m(x), 1)
    return -fg.take_along_dim(lp, y.unsqueeze(1), 1).sum()


def _scatter_add(m, x, y):
    h = m(x)                                       # (6, 3)
    idx = y.unsqueeze(1).expand(6, 3).contiguous()  # rows scattered into classes
    pooled = fg.scatter_add(fg.zeros(3, 3, dtype=h.dtype), 0, idx, h)
    return (pooled * pooled).sum()


def _scatter(m, x, y):
    h = m(x)
    z = fg.scatter(h, 1, y.unsqueeze(1), 0.0)      # the target logit zeroed
    w = fg.scatter(h, 1, y.unsqueeze(1), (h * 2.0).sum(1, keepdim=True))   # a tensor source
    return (z * z).sum() + (w * w).sum()


def _masked(m, x, y):
    h = m(x)
    mask = h > 0.1                                  # a traced comparison
    return F.softplus(h.masked_fill(mask, 0.5)).sum()


def _where(m, x, y):
    h = m(x)
    r = fg.where(x[:, :3] < 0.0, h, h * h)          # condition from the input
    return fg.maximum(r, r * 0.5).sum() + fg.minimum(h, 0.0).sum()


def _robust(m, x, y):
    h = m(x)
    t = x[:, 1:4]
    return F.smooth_l1_loss(h, t) + F.huber_loss(h, t, delta=0.5) + h.clamp(-0.2, 0.3).sum()


def _cat_stack(m, x, y):
    h = m(x)
    c = fg.cat([h, h * 2.0, x], 1)                  # (6, 11)
    s = fg.stack([h, h.tanh()], 2)                  # (6, 3, 2)
    return (c * c).sum() + (s[:, :, 1] * s[:, :, 0]).sum()


def _slices(m, x, y):
    h = m[0](x)                                     # (6, 8)
    a, b = h.chunk(2, 1)
    g = a.sigmoid() * b.tanh()                      # gate-style split
    n = h.narrow(1, 2, 3)
    return (m[2](fg.cat([g, g], 1).tanh()) ** 2).sum() + n[::2, ::-1].sum() + h[1, 3]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [_nll_gather, _take_along, _scatter_add, _scatter, _masked,
                                _where, _robust, _cat_stack, _slices],
                         ids=lambda f: f.__name__.strip("_"))
def test_recorded_bitwise(fn, dtype):
    check_pair(fn, dtype)


def test_gather_loss_with_adam_float64():
    check_pair(_nll_gather, np.float64, steps=8, opt=lambda ps: optim.Adam(ps, lr=0.01))


def test_gather_index_out_of_range_at_replay_is_an_index_error():
    m = mk(np.float32)

    def step(x, idx):
        return fg.gather(m(x), 1, idx).sum()
    c = fg.compile(step)
    x = fg.from_numpy(XS[0].astype(np.float32))
    ok = fg.tensor(np.zeros((6, 1), np.int64))
    c(x, ok)
    c(x, ok)
    with pytest.raises(IndexError, match="index 7 is out of range"):
        c(x, fg.tensor(np.full((6, 1), 7, np.int64)))


def test_indices_made_by_numpy_inside_are_refused_by_name():
    m = mk(np.float32)

    def step(x):
        idx = np.argsort(x.detach().numpy(), 1)[:, :1]
        return fg.gather(m(x), 1, fg.tensor(idx)).sum()
    with pytest.raises(CompileError):
        strict_compile(step)(fg.from_numpy(XS[0].astype(np.float32)))
