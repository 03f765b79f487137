"""Work that fastgrad.compile records through its hooks rather than refusing: in-place
ops (on non-leaf tensors while autograd records, and on captured tensors under
no_grad) and gradient clipping (clip_grad_norm_ with norm_type 1, 2 and inf, float32
and float64, returning the total norm; clip_grad_value_), each compiled == eager bit
for bit over several steps, clipping both inactive and active."""
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


rng0 = np.random.default_rng(0)
XS = [rng0.standard_normal((6, 5)) for _ in range(3)]
YS = [rng0.integers(0, 3, 6).astype(np.int64) for _ in range(3)]


def mk(dtype=np.float32, seed=0):
    fg.manual_seed(seed)
    m = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    return m.to(fg.float64) if dtype == np.float64 else m


def data(i, dtype=np.float32, scale=1.0):
    return fg.from_numpy((XS[i % 3] * scale).astype(dtype)), fg.from_numpy(YS[i % 3])


def check_pair(make_step, steps=8, dtype=np.float32, scales=None):
    a, b = mk(dtype), mk(dtype)
    e, c = make_step(a), fg.compile(make_step(b))
    for i in range(steps):
        x, y = data(i, dtype, 1.0 if scales is None else scales[i])
        ra, rb = e(x, y), c(x, y)
        ra = ra if isinstance(ra, tuple) else (ra,)
        rb = rb if isinstance(rb, tuple) else (rb,)
        for u, v in zip(ra, rb):
            assert u._data.dtype == v._data.dtype and u._data.tobytes() == v._data.tobytes(), i
        for p, q in zip(a.parameters(), b.parameters()):
            assert p._data.tobytes() == q._data.tobytes(), i
    return c


def test_inplace_ops_on_non_leaf_and_captured_tensors():
    def make_step(m):
        ema = fg.zeros(3)
        opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            h = m[0](x)
            h.mul_(0.5)                      # recorded by autograd
            h.add_(1.0)
            loss = F.cross_entropy(m[2](m[1](h)), y)
            loss.backward()
            opt.step()
            with fg.no_grad():
                ema.mul_(0.9)
                ema.add_(m[2].bias * 0.1)
            return loss, ema * 1.0
        return step
    c = check_pair(make_step)
    assert c.stats["traces"] == 1 and c.stats["replays"] == 7


def test_inplace_op_with_a_dtype_cast_is_refused_by_name():
    m = mk()
    buf = fg.zeros(3, dtype=fg.float64)

    def step(x):
        with fg.no_grad():
            buf.add_(m(x).sum(0))
        return buf * 1.0
    with pytest.raises(CompileError, match="add"):
        strict_compile(step)(data(0)[0])


def _clip_step(kind, limit, norm_type=2.0):
    def make_step(m):
        opt = optim.SGD(m.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            if kind == "norm":
                total = nn.utils.clip_grad_norm_(m.parameters(), limit, norm_type)
            else:
                nn.utils.clip_grad_value_(m.parameters(), limit)
                total = loss * 0.0
            opt.step()
            return loss, total
        return step
    return make_step


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, float("inf")])
def test_clip_grad_norm_inactive_then_active(norm_type, dtype):
    scales = [1, 1, 1, 50, 50, 1, 50, 1]     # gradients grow: clipping turns on and off
    limit = {1.0: 1.5, 2.0: 0.6, float("inf"): 0.3}[norm_type]
    c = check_pair(_clip_step("norm", limit, norm_type), dtype=dtype, scales=scales)
    assert c.stats["traces"] == 1 and c.stats["replays"] == 7


def test_clip_grad_value():
    c = check_pair(_clip_step("value", 0.05), scales=[1, 1, 30, 30, 1, 30, 1, 1])
    assert c.stats["traces"] == 1


def test_clip_grad_norm_error_if_nonfinite_is_refused_by_name():
    m = mk()
    opt = optim.SGD(m.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        nn.utils.clip_grad_norm_(m.parameters(), 1.0, error_if_nonfinite=True)
        opt.step()
    with pytest.raises(CompileError, match="error_if_nonfinite"):
        strict_compile(step)(*data(0))


SCHEDS = {
    "step": lambda o: optim.lr_scheduler.StepLR(o, 2, 0.5),
    "cosine": lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=5),
    "lambda": lambda o: optim.lr_scheduler.LambdaLR(o, lambda k: 1.0 / (1 + k)),
    "onecycle": lambda o: optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=20),
}


@pytest.mark.parametrize("where", ["after", "before"])
@pytest.mark.parametrize("kind", sorted(SCHEDS))
def test_scheduler_stepped_inside_the_compiled_function(kind, where):
    made = []

    def make_step(m):
        opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        sched = SCHEDS[kind](opt)
        made.append(opt)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            if where == "before":
                sched.step()
            opt.step()
            if where == "after":
                sched.step()
            return loss
        return step
    c = check_pair(make_step, steps=10)
    assert c.stats["traces"] == 1 and c.stats["replays"] == 9
    e_opt, c_opt = made
    assert e_opt.param_groups[0]["lr"] == c_opt.param_groups[0]["lr"]
    assert e_opt.param_groups[0]["momentum"] == c_opt.param_groups[0]["momentum"]


def test_reduce_on_plateau_inside_is_refused_by_name():
    m = mk()
    opt = optim.SGD(m.parameters(), lr=0.1)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        sched.step(1.0)
        return loss
    with pytest.raises(CompileError, match="ReduceLROnPlateau"):
        strict_compile(step)(*data(0))


def test_scheduler_made_inside_is_refused():
    m = mk()
    opt = optim.SGD(m.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        optim.lr_scheduler.StepLR(opt, 1).step()
        return loss
    with pytest.raises(CompileError, match="StepLR"):
        strict_compile(step)(*data(0))


def test_gradient_scaling_by_inplace_ops_on_grads():
    def make_step(m):
        opt = optim.Adam(m.parameters(), lr=0.01)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y) * 128.0
            loss.backward()
            for p in m.parameters():
                p.grad.div_(128.0)
            opt.step()
            return loss
        return step
    c = check_pair(make_step)
    assert c.stats["traces"] == 1 and c.stats["replays"] == 7
