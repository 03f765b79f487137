"""fastgrad.optim.lr_scheduler against closed-form formulas written here (and torch's
schedulers when torch is importable)."""
import copy
import math

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import optim
from fastgrad.optim import lr_scheduler as S

EPOCHS = 30


def make_opt(cls=optim.SGD, lrs=(0.1, 0.02), **kw):
    groups = [{"params": [fg.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return cls(groups, lr=lrs[0], **kw)


def lr_trace(sched, opt, n=EPOCHS):
    """lrs of every group at epochs 0..n-1 (the scheduler is built at epoch 0)"""
    out = [[g["lr"] for g in opt.param_groups]]
    for _ in range(n - 1):
        opt.step()
        sched.step()
        out.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == out[-1]
    return np.array(out)


def closed(fn, bases=(0.1, 0.02), n=EPOCHS):
    return np.array([[fn(b, e) for b in bases] for e in range(n)])


def onecycle_ref(e, base_max, total, pct, strategy, three_phase, div=25.0, final_div=1e4,
                 lo_m=0.85, hi_m=0.95):
    """1cycle written as piecewise phases over step e: (lr, momentum)"""
    init = base_max / div
    lo = init / final_div

    def ann(a, b, f):
        if strategy == "cos":
            return b + (a - b) * (1 + math.cos(math.pi * f)) / 2
        return a + (b - a) * f
    up = pct * total - 1
    if three_phase:
        down = 2 * pct * total - 2
        if e <= up:
            f = e / up
            return ann(init, base_max, f), ann(hi_m, lo_m, f)
        if e <= down:
            f = (e - up) / (down - up)
            return ann(base_max, init, f), ann(lo_m, hi_m, f)
        f = (e - down) / (total - 1 - down)
        return ann(init, lo, f), hi_m
    if e <= up:
        f = e / up
        return ann(init, base_max, f), ann(hi_m, lo_m, f)
    f = (e - up) / (total - 1 - up)
    return ann(base_max, lo, f), ann(lo_m, hi_m, f)


SCHEDULES = {
    "step": (lambda o: S.StepLR(o, step_size=7, gamma=0.5),
             lambda b, e: b * 0.5 ** (e // 7)),
    "multistep": (lambda o: S.MultiStepLR(o, milestones=[3, 10, 10, 25], gamma=0.3),
                  lambda b, e: b * 0.3 ** sum(m <= e for m in (3, 10, 10, 25))),
    "exponential": (lambda o: S.ExponentialLR(o, gamma=0.9),
                    lambda b, e: b * 0.9 ** e),
    "cosine": (lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
               lambda b, e: 0.001 + (b - 0.001) * (1 + math.cos(math.pi * e / 10)) / 2),
    "lambda": (lambda o: S.LambdaLR(o, lambda e: 1.0 / (1 + e)),
               lambda b, e: b / (1 + e)),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_closed_form(name):
    make, formula = SCHEDULES[name]
    opt = make_opt()
    sched = make(opt)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.02]
    assert sched.base_lrs == [0.1, 0.02] and sched.last_epoch == 0
    np.testing.assert_allclose(lr_trace(sched, opt), closed(formula), rtol=1e-12, atol=1e-15)
    assert sched.last_epoch == EPOCHS - 1


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_step_with_epoch_uses_closed_form(name):
    make, formula = SCHEDULES[name]
    opt = make_opt()
    sched = make(opt)
    for e in (5, 17, 3):
        with pytest.warns(UserWarning, match="epoch parameter"):
            sched.step(e)
        np.testing.assert_allclose(sched.get_last_lr(), [formula(0.1, e), formula(0.02, e)], rtol=1e-12)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_state_dict_round_trip(name):
    make, formula = SCHEDULES[name]
    opt = make_opt()
    sched = make(opt)
    lr_trace(sched, opt, 9)
    osd, ssd = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    assert "optimizer" not in ssd and ssd["last_epoch"] == 8
    rest = lr_trace(sched, opt, 12)
    opt2 = make_opt()
    opt2.load_state_dict(osd)
    sched2 = make(opt2)
    sched2.load_state_dict(ssd)
    # row 0 is the lr right after construction (LambdaLR resets it there, as in PyTorch)
    np.testing.assert_array_equal(lr_trace(sched2, opt2, 12)[1:], rest[1:])


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_torch(name):
    torch = pytest.importorskip("torch")
    make, _ = SCHEDULES[name]
    opt = make_opt()
    ours = lr_trace(make(opt), opt)
    tgroups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in (0.1, 0.02)]
    topt = torch.optim.SGD(tgroups, lr=0.1)
    tsched = {
        "step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
        "multistep": lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[3, 10, 10, 25], gamma=0.3),
        "exponential": lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
        "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
        "lambda": lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0 / (1 + e)),
    }[name](topt)
    theirs = [[g["lr"] for g in topt.param_groups]]
    for _ in range(EPOCHS - 1):
        topt.step()
        tsched.step()
        theirs.append([g["lr"] for g in topt.param_groups])
    np.testing.assert_allclose(ours, np.array(theirs), rtol=1e-13, atol=1e-16)


def test_resume_needs_initial_lr():
    opt = make_opt()
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(opt, 3, last_epoch=4)
    S.StepLR(opt, 3)
    sched = S.StepLR(opt, 3, last_epoch=4)               # initial_lr now present: resumes
    assert sched.last_epoch == 5


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_onecycle_matches_phase_formula(strategy, three_phase):
    total = 30
    opt = make_opt(momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=[1.0, 0.5], total_steps=total, pct_start=0.25,
                         anneal_strategy=strategy, three_phase=three_phase)
    for e in range(total):
        if e:
            opt.step()
            sched.step()
        for g, mx in zip(opt.param_groups, (1.0, 0.5)):
            lr, mom = onecycle_ref(e, mx, total, 0.25, strategy, three_phase)
            assert g["lr"] == pytest.approx(lr, rel=1e-12, abs=1e-15)
            assert g["momentum"] == pytest.approx(mom, rel=1e-12)
    sched.step()                                         # step 30 == total_steps is allowed
    with pytest.raises(ValueError, match="Tried to step 31 times"):
        sched.step()


def test_onecycle_cycles_adam_beta1_and_matches_torch():
    opt = make_opt(optim.Adam, betas=(0.9, 0.99))
    sched = S.OneCycleLR(opt, max_lr=0.3, epochs=4, steps_per_epoch=5)
    assert sched.total_steps == 20
    got = []
    for e in range(20):
        if e:
            opt.step()
            sched.step()
        got.append((opt.param_groups[0]["lr"], opt.param_groups[0]["betas"][0], opt.param_groups[1]["betas"][1]))
        lr, mom = onecycle_ref(e, 0.3, 20, 0.3, "cos", False)
        assert got[-1][0] == pytest.approx(lr, rel=1e-12) and got[-1][1] == pytest.approx(mom, rel=1e-12)
        assert got[-1][2] == 0.99
    torch = pytest.importorskip("torch")
    tgroups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in (0.1, 0.02)]
    topt = torch.optim.Adam(tgroups, lr=0.1, betas=(0.9, 0.99))
    ts = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.3, epochs=4, steps_per_epoch=5)
    for e in range(20):
        if e:
            topt.step()
            ts.step()
        assert topt.param_groups[0]["lr"] == pytest.approx(got[e][0], rel=1e-13)
        assert topt.param_groups[0]["betas"][0] == pytest.approx(got[e][1], rel=1e-13)


def test_onecycle_errors():
    opt = make_opt()
    with pytest.raises(ValueError, match="either total_steps OR"):
        S.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="positive integer total_steps"):
        S.OneCycleLR(opt, max_lr=1.0, total_steps=0)
    with pytest.raises(ValueError, match="pct_start"):
        S.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        S.OneCycleLR(opt, max_lr=[1.0], total_steps=10)
    with pytest.raises(ValueError, match="momentum or beta1"):
        S.OneCycleLR(make_opt(optim.Adagrad), max_lr=1.0, total_steps=10)


@pytest.mark.parametrize("kw, metrics, want", [
    # min / rel: an improvement must beat best * (1 - threshold)
    (dict(mode="min", factor=0.5, patience=2, threshold=0.1),
     [10, 9.5, 9.2, 9.1, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0],
     [1, 1, 1, .5, .5, .5, .5, .25, .25, .25]),
    # max / abs, cooldown after each reduction, and min_lr as the floor
    (dict(mode="max", threshold_mode="abs", threshold=1.0, patience=0, cooldown=2, factor=0.1,
          min_lr=0.005),
     [1, 1.5, 3, 3, 3, 3, 3, 3, 3],
     [1, .1, .1, .1, .01, .01, .01, .005, .005]),
    # min / abs
    (dict(mode="min", threshold_mode="abs", threshold=0.5, patience=1),
     [5, 4.6, 4.4, 4.0, 3.95],
     [1, 1, 1, 1, .1]),
])
def test_reduce_on_plateau(kw, metrics, want):
    opt = make_opt(lrs=(1.0, 1.0))
    sched = S.ReduceLROnPlateau(opt, **kw)
    got = []
    for m in metrics:
        sched.step(fg.tensor(m) if m == 3 else m)        # a 0-d tensor works as the metric
        got.append(opt.param_groups[1]["lr"])
        assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert sched.last_epoch == len(metrics)
    torch = pytest.importorskip("torch")
    topt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=1.0)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    theirs = []
    for m in metrics:
        ts.step(m)
        theirs.append(topt.param_groups[0]["lr"])
    np.testing.assert_allclose(got, theirs, rtol=1e-12)


def test_reduce_on_plateau_eps_min_lrs_state_and_errors():
    opt = make_opt(lrs=(1e-8, 1.0))
    sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=0, min_lr=[0.0, 0.6])
    sched.step(1.0)
    sched.step(2.0)                 # reduce: group 0 change (5e-9) is below eps, group 1 floors at 0.6
    assert [g["lr"] for g in opt.param_groups] == [1e-8, 0.6]
    sd = copy.deepcopy(sched.state_dict())
    assert sd["best"] == 1.0 and "optimizer" not in sd
    s2 = S.ReduceLROnPlateau(make_opt(), mode="max")
    s2.load_state_dict(sd)
    assert s2.mode == "min" and s2.best == 1.0 and s2.is_better(0.5, 1.0)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        S.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode sideways is unknown"):
        S.ReduceLROnPlateau(opt, mode="sideways")
    with pytest.raises(ValueError, match="threshold mode pct is unknown"):
        S.ReduceLROnPlateau(opt, threshold_mode="pct")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 1"):
        S.ReduceLROnPlateau(opt, min_lr=[0.1])


def test_lambda_state_dict_keeps_callable_object_state():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, e):
            return min(1.0, (e + 1) / self.n)
    opt = make_opt()
    sched = S.LambdaLR(opt, [Warmup(4), lambda e: 0.5])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"n": 4}, None]
    other = S.LambdaLR(make_opt(), [Warmup(10), lambda e: 0.5])
    other.load_state_dict(copy.deepcopy(sd))
    assert other.lr_lambdas[0].n == 4
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        S.LambdaLR(opt, [lambda e: 1.0])


def test_scheduled_lr_reaches_the_kernel():
    p = fg.zeros(3, requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = fg.ones(3)
        opt.step()
        sched.step()
    np.testing.assert_allclose(p._data, -(1 + 0.5 + 0.25))
