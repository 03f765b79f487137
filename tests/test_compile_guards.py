"""fastgrad.compile's guards: a training program that changes after the first calls
(freezing, unfreezing with add_param_group, rebinding globals, replacing a submodule or
a parameter, train/eval switches, hyperparameters that change the optimizer's state
layout, hooks registered later) gives bit for bit the parameters of eager execution,
step by step; and random training programs with such changes at random steps agree
with eager execution over dozens of steps."""
import random
import warnings

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn, optim
from fastgrad.nn import functional as F

rng0 = np.random.default_rng(0)
X = [fg.from_numpy(rng0.standard_normal((6, 5)).astype(np.float32)) for _ in range(4)]
Y = [fg.from_numpy(rng0.integers(0, 3, 6).astype(np.int64)) for _ in range(4)]


def mlp(seed, bn=False):
    fg.manual_seed(seed)
    layers = [nn.Linear(5, 8)] + ([nn.BatchNorm1d(8)] if bn else []) + [nn.ReLU(),
                                                                        nn.Linear(8, 3)]
    return nn.Sequential(*layers)


def same(a, b):
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def state_of(model, opt):
    arrs = [p._data for p in model.parameters()] + [b._data for b in model.buffers()
                                                   if b is not None]
    for st in opt.state.values():
        arrs += [v._data for _, v in sorted(st.items()) if isinstance(v, fg.Tensor)]
    return [a.copy() for a in arrs]


def run_both(build, change, steps=8, at=(3,), **compile_kw):
    """build() -> (model, opt, step_fn); change(world, k) mutates a world (a dict with
    'model', 'opt') at the steps in `at`.  Runs eagerly and compiled, comparing losses
    and the full state after every step.  Returns the compiled function, with
    ``traces_before`` set to its trace count just before the first change."""
    worlds = []
    for compiled in (False, True):
        model, opt, step = build()
        w = {"model": model, "opt": opt}
        w["step"] = fg.compile(step, **compile_kw) if compiled else step
        worlds.append(w)
    for i in range(steps):
        losses = []
        for w in worlds:
            if i in at:
                if i == at[0] and w["step"] is not worlds[0]["step"]:
                    w["step"].traces_before = w["step"].stats["traces"]
                change(w, i)
            losses.append(w["step"](X[i % 4], Y[i % 4]))
        e, c = worlds
        assert same(losses[0]._data, losses[1]._data), f"loss differs at step {i}"
        se, sc = state_of(e["model"], e["opt"]), state_of(c["model"], c["opt"])
        assert len(se) == len(sc)
        for k, (a, b) in enumerate(zip(se, sc)):
            assert same(a, b), f"state array {k} differs after step {i}"
    return worlds[1]["step"]


def standard(model_fn, opt_fn, set_to_none=True):
    def build():
        w = {}
        w["model"] = model_fn()
        w["opt"] = opt_fn(w["model"])

        def step(x, y):
            w["opt"].zero_grad(set_to_none=set_to_none)
            loss = F.cross_entropy(w["model"](x), y)
            loss.backward()
            w["opt"].step()
            return loss
        return w["model"], w["opt"], step
    return build


OPTS = {"sgd": lambda m: optim.SGD(m.parameters(), lr=0.1),
        "momentum": lambda m: optim.SGD(m.parameters(), lr=0.1, momentum=0.9),
        "adam": lambda m: optim.Adam(m.parameters(), lr=0.01)}


@pytest.mark.parametrize("set_to_none", [True, False])
@pytest.mark.parametrize("opt", sorted(OPTS))
def test_freeze_after_first_calls(opt, set_to_none):
    def freeze(w, i):
        w["model"][0].requires_grad_(False)
    step = run_both(standard(lambda: mlp(0), OPTS[opt], set_to_none), freeze)
    assert step.stats["traces"] == step.traces_before + 1


def test_unfreeze_and_add_param_group():
    models = []

    def build():
        model = mlp(0)
        models.append((model, model[0].weight._data.copy()))
        model[0].requires_grad_(False)
        opt = optim.SGD(model[2].parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return model, opt, step

    def unfreeze(w, i):
        backbone = w["model"][0]
        backbone.requires_grad_(True)
        w["opt"].add_param_group({"params": list(backbone.parameters()), "lr": 0.01})
    step = run_both(build, unfreeze)
    assert step.stats["traces"] == step.traces_before + 1
    for model, w0 in models:          # the backbone trained, eagerly and compiled
        assert not np.array_equal(model[0].weight._data, w0)


def test_rebinding_globals_to_fresh_objects():
    """A script-style sweep: `model` and `opt` are module globals rebound per run."""
    src = (
        "def step(x, y):\n"
        "    opt.zero_grad()\n"
        "    loss = F.cross_entropy(model(x), y)\n"
        "    loss.backward()\n"
        "    opt.step()\n"
        "    return loss\n")
    worlds = []
    for compiled in (False, True):
        g = {"F": F}
        exec(src, g)                 # noqa: S102 - the function's globals are g
        g["model"] = mlp(0)
        g["opt"] = optim.SGD(g["model"].parameters(), lr=0.1)
        worlds.append((g, fg.compile(g["step"]) if compiled else g["step"]))
    for run, lr in enumerate([0.1, 0.05, 0.2]):
        if run:
            for g, _ in worlds:
                g["model"] = mlp(run)
                g["opt"] = optim.SGD(g["model"].parameters(), lr=lr)
        for i in range(4):
            losses = [s(X[i], Y[i]) for g, s in worlds]
            assert same(losses[0]._data, losses[1]._data), (run, i)
            for a, b in zip(worlds[0][0]["model"].parameters(),
                            worlds[1][0]["model"].parameters()):
                assert same(a._data, b._data), (run, i)
    assert worlds[1][1].stats["traces"] == 3


def test_rebinding_a_closure_variable():
    def build():
        fg.manual_seed(0)
        model = mlp(0)
        opt = optim.SGD(model.parameters(), lr=0.1)
        holder = [model, opt]

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        def rebind():
            nonlocal model, opt
            model = mlp(5)
            opt = optim.SGD(model.parameters(), lr=0.1)
            holder[:] = [model, opt]
        step.rebind, step.holder = rebind, holder
        return model, opt, step

    def change(w, i):
        st = w["step"] if not hasattr(w["step"], "__wrapped__") else w["step"].__wrapped__
        st.rebind()
        w["model"], w["opt"] = st.holder
    run_both(build, change)


def test_replaced_submodule():
    def swap(w, i):
        fg.manual_seed(7)
        w["model"][2] = nn.Linear(8, 3)
        w["opt"].param_groups[0]["params"] = list(w["model"].parameters())
    step = run_both(standard(lambda: mlp(0), OPTS["momentum"]), swap)
    assert step.stats["traces"] == 2


def test_replaced_parameter():
    def swap(w, i):
        fg.manual_seed(3)
        lin = w["model"][2]
        lin.weight = nn.Parameter(fg.randn(3, 8))
        w["opt"].param_groups[0]["params"] = list(w["model"].parameters())
    run_both(standard(lambda: mlp(0), OPTS["sgd"]), swap)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_train_eval_switch(opt):
    def toggle(w, i):
        w["model"].train(not w["model"].training)
    step = run_both(standard(lambda: mlp(0, bn=True), OPTS[opt]), toggle, steps=10,
                    at=(2, 3, 5, 6, 7))
    assert step.stats["traces"] == 2          # one plan per mode, reused


def test_rebound_global_scalar_retraces_and_the_warning_names_it():
    src = ("def step(x, y):\n"
           "    opt.zero_grad()\n"
           "    loss = F.cross_entropy(model(x), y) * scale\n"
           "    loss.backward()\n"
           "    opt.step()\n"
           "    return loss\n")
    worlds = []
    for compiled in (False, True):
        g = {"F": F, "scale": 1.0}
        exec(src, g)                 # noqa: S102 - the function's globals are g
        g["model"] = mlp(0)
        g["opt"] = optim.SGD(g["model"].parameters(), lr=0.1)
        worlds.append((g, fg.compile(g["step"]) if compiled else g["step"]))
    with pytest.warns(RuntimeWarning, match=r"retraced.*\['scale'\] == "):
        for i in range(7):
            for g, _ in worlds:
                g["scale"] = 1.0 + i
            losses = [s(X[i % 4], Y[i % 4]) for g, s in worlds]
            assert same(losses[0]._data, losses[1]._data), i
            for a, b in zip(worlds[0][0]["model"].parameters(),
                            worlds[1][0]["model"].parameters()):
                assert same(a._data, b._data), i
    assert worlds[1][1].stats["traces"] == 7


def test_momentum_switched_on():
    def on(w, i):
        w["opt"].param_groups[0]["momentum"] = 0.9
    run_both(standard(lambda: mlp(0), OPTS["sgd"]), on)


def test_lr_schedule_does_not_retrace():
    def lower(w, i):
        for g in w["opt"].param_groups:
            g["lr"] *= 0.5
    step = run_both(standard(lambda: mlp(0), OPTS["adam"]), lower, at=(2, 4, 6))
    assert step.stats["traces"] == 1


def test_forward_hook_registered_later():
    def hook(w, i):
        w["model"][1].register_forward_hook(lambda m, inp, out: out * 0.5)
    run_both(standard(lambda: mlp(0), OPTS["sgd"]), hook)


def test_module_created_each_step_keeps_the_plan():
    """Unrelated module changes move the structure generation: the tree is rescanned,
    found unchanged, and the plan replays."""
    def build():
        model, opt, step = standard(lambda: mlp(0), OPTS["sgd"])()

        def step2(x, y):
            return step(x, y)
        return model, opt, step2

    def noise(w, i):
        nn.Linear(2, 2)
    step = run_both(build, noise, at=tuple(range(8)))
    assert step.stats["traces"] == 1 and step.stats["replays"] == 7


def test_guard_cost_is_a_few_dozen_checks():
    from fastgrad.bench import workloads as W
    s = W.fastgrad_compiled_train_step("S")
    for _ in range(3):
        s()
    (plan,) = [p for ps in s._plans.values() for p in ps]
    assert plan.guard() is True
    assert plan.guard.nchecks <= 40


# ---- random training programs --------------------------------------------------------------
def _program(seed):
    """A random small training program: (build, actions) where actions maps a step to a
    list of changes, each applied identically to both worlds."""
    r = random.Random(seed)
    widths = [5] + [r.choice([4, 7, 8]) for _ in range(r.randint(1, 3))] + [3]
    acts = [r.choice(["relu", "tanh", "sigmoid", "bn"]) for _ in widths[1:-1]]
    opt_kind = r.choice(["sgd", "momentum", "adam"])
    clip = r.choice([None, ("norm", 2.0), ("norm", float("inf")), ("norm", 1.0), ("value",)])
    clip_limit = r.choice([0.05, 0.5, 5.0])
    sched_kind = r.choice([None, None, "step", "cosine"])
    set_to_none = r.random() < 0.7
    drop = [r.choice([0.0, 0.0, 0.2, 0.5]) for _ in widths[1:-1]]
    embed = r.choice([None, None, "plain", "padding"])   # token inputs through an embedding
    steps = r.randint(24, 36)
    actions = {}
    for _ in range(r.randint(3, 7)):
        k = r.randrange(1, steps)
        actions.setdefault(k, []).append(
            (r.choice(["freeze", "unfreeze", "swap", "mode", "lr", "momentum", "scale"]),
             r.randrange(len(widths) - 1), r.randrange(1000)))

    def build():
        fg.manual_seed(seed)
        layers = [] if embed is None else [_TokenSum(0 if embed == "padding" else None)]
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(acts):
                layers.append({"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
                               "bn": lambda: nn.BatchNorm1d(b)}[acts[i]]())
                if drop[i]:
                    layers.append(nn.Dropout(drop[i]))
        model = nn.Sequential(*layers)
        opt = OPTS[opt_kind](model)
        w = {"model": model, "opt": opt}
        if sched_kind == "step":
            w["sched"] = optim.lr_scheduler.StepLR(opt, 3, 0.7)
        elif sched_kind == "cosine":
            w["sched"] = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)

        def step(x, y):
            w["opt"].zero_grad(set_to_none=set_to_none)
            loss = F.cross_entropy(w["model"](x), y)
            loss.backward()
            if clip is not None and clip[0] == "norm":
                nn.utils.clip_grad_norm_(w["model"].parameters(), clip_limit, clip[1])
            elif clip is not None:
                nn.utils.clip_grad_value_(w["model"].parameters(), clip_limit / 10)
            w["opt"].step()
            if "sched" in w:
                w["sched"].step()
            return loss
        return model, opt, step, w
    return build, actions, steps, embed is not None


class _TokenSum(nn.Module):
    """(6, 4) int64 tokens -> (6, 5): an embedding summed over the tokens."""

    def __init__(self, padding_idx):
        super().__init__()
        self.emb = nn.Embedding(10, 5, padding_idx=padding_idx)

    def forward(self, t):
        return self.emb(t).sum(1)


def _apply(w, action):
    what, li, s = action
    model, opt = w["model"], w["opt"]
    linears = [k for k, m in enumerate(model) if isinstance(m, nn.Linear)]
    k = linears[li % len(linears)]
    if what == "freeze":            # never the last layer: the loss keeps a graph
        if len(linears) > 1:
            model[linears[li % (len(linears) - 1)]].requires_grad_(False)
    elif what == "unfreeze":
        model[k].requires_grad_(True)
    elif what == "swap":
        old = model[k]
        fg.manual_seed(s)
        model[k] = nn.Linear(old.in_features, old.out_features)
        opt.param_groups[0]["params"] = [p for p in model.parameters()
                                         if not any(p is q for g in opt.param_groups[1:]
                                                    for q in g["params"])]
    elif what == "mode":
        model.train(not model.training)
    elif what == "scale":           # larger inputs: larger gradients (clipping turns on)
        w["x_scale"] = w.get("x_scale", 1.0) * 4.0
    elif what == "lr":
        for g in opt.param_groups:
            g["lr"] *= 0.7
    elif what == "momentum" and "momentum" in opt.param_groups[0]:
        opt.param_groups[0]["momentum"] = 0.5 if opt.param_groups[0]["momentum"] == 0 else 0.0


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_compiled_equals_eager(seed):
    from fastgrad._factory import default_generator as gen
    build, actions, steps, tokens = _program(seed)
    rngx = np.random.default_rng(seed)
    data = [(fg.from_numpy(rngx.standard_normal((6, 5)).astype(np.float32)) if not tokens
             else fg.from_numpy(rngx.integers(0, 10, (6, 4)).astype(np.int64)),
             fg.from_numpy(rngx.integers(0, 3, 6).astype(np.int64))) for _ in range(5)]
    worlds = []
    for compiled in (False, True):
        model, opt, step, w = build()
        worlds.append((w, fg.compile(step, max_plans=64) if compiled else step))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # retracing warnings
        fg.manual_seed(seed + 1000)
        for i in range(steps):
            losses = []
            drawn = []                      # dropout: both worlds draw from one state
            for w, step in worlds:
                for a in actions.get(i, ()):
                    _apply(w, a)
                x, y = data[i % len(data)]
                if w.get("x_scale", 1.0) != 1.0 and not tokens:
                    x = fg.from_numpy(x._data * np.float32(w["x_scale"]))
                if drawn:
                    gen.rng.bit_generator.state = drawn[0]
                drawn.append(gen.rng.bit_generator.state)
                losses.append(step(x, y))
                drawn.append(gen.rng.bit_generator.state)
            assert drawn[1] == drawn[3], f"seed {seed}: generator state after step {i}"
            assert same(losses[0]._data, losses[1]._data), f"seed {seed}: loss at step {i}"
            se = state_of(worlds[0][0]["model"], worlds[0][0]["opt"])
            sc = state_of(worlds[1][0]["model"], worlds[1][0]["opt"])
            assert len(se) == len(sc)
            for k, (a, b) in enumerate(zip(se, sc)):
                assert same(a, b), f"seed {seed}: state array {k} after step {i} {actions}"
    assert worlds[1][1].stats["replays"] > 0
