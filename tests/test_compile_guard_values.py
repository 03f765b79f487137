"""fastgrad.compile follows values a traced call read from Python objects: optimizer
flags that change the update (weight decay switched on, nesterov, amsgrad, betas), a
module's scalar attributes (a dropout's p, a LeakyReLU's slope, a BatchNorm momentum, a
flag its forward branches on), configuration dicts, lists and objects the step reads,
counters that drive control flow, and changes made between calls (a dtype change, loaded
state dicts, a parameter's array assigned, in-place edits, a smaller last batch): after
every step the compiled program's losses and state equal eager execution's, bit for bit."""

import argparse
import types

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn, optim
from fastgrad.nn import functional as F
from test_compile_guards import X, Y, mlp, run_both, same, standard


def plain_step(m, opt):
    """A training step closing over the model m and the optimizer opt (closure cells, as
    a script's step function reaches them)."""

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def test_weight_decay_switched_on_adam():
    def ch(w, i):
        w["opt"].param_groups[0]["weight_decay"] = 0.1

    run_both(standard(lambda: mlp(0), lambda m: optim.Adam(m.parameters(), lr=0.01)), ch)


def test_weight_decay_switched_on_sgd():
    def ch(w, i):
        w["opt"].param_groups[0]["weight_decay"] = 0.1

    run_both(standard(lambda: mlp(0), lambda m: optim.SGD(m.parameters(), lr=0.1)), ch)


def test_nesterov_switched_on():
    def ch(w, i):
        w["opt"].param_groups[0]["nesterov"] = True

    run_both(
        standard(lambda: mlp(0), lambda m: optim.SGD(m.parameters(), lr=0.1, momentum=0.9)), ch
    )


def test_amsgrad_switched_on():
    def ch(w, i):
        w["opt"].param_groups[0]["amsgrad"] = True

    run_both(standard(lambda: mlp(0), lambda m: optim.Adam(m.parameters(), lr=0.01)), ch)


def test_betas_changed():
    def ch(w, i):
        w["opt"].param_groups[0]["betas"] = (0.5, 0.9)

    run_both(standard(lambda: mlp(0), lambda m: optim.Adam(m.parameters(), lr=0.01)), ch)


class Temp(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(5, 3)
        self.temperature = 1.0
        self.skip = False

    def forward(self, x):
        y = self.l(x) / self.temperature
        if self.skip:
            y = y + self.l(x)
        return y


def build_temp():
    fg.manual_seed(0)
    m = Temp()
    opt = optim.SGD(m.parameters(), lr=0.1)

    step = plain_step(m, opt)

    return m, opt, step


def test_module_float_attribute_changed():
    def ch(w, i):
        w["model"].temperature = 2.0

    run_both(build_temp, ch)


def test_module_bool_attribute_changed():
    def ch(w, i):
        w["model"].skip = True

    run_both(build_temp, ch)


def test_config_dict_mutated():
    def build():
        fg.manual_seed(0)
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)
        cfg = {"scale": 1.0}

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y) * cfg["scale"]
            loss.backward()
            opt.step()
            return loss

        m.cfg_ = cfg
        return m, opt, step

    def ch(w, i):
        w["model"].cfg_["scale"] = 3.0

    run_both(build, ch)


def test_config_list_mutated():
    def build():
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)
        cfg = [1.0]

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y) * cfg[0]
            loss.backward()
            opt.step()
            return loss

        m.cfg_ = cfg
        return m, opt, step

    def ch(w, i):
        w["model"].cfg_[0] = 3.0

    run_both(build, ch)


def test_grad_accumulation_counter():
    def build():
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)
        st = {"i": 0}

        def step(x, y):
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            st["i"] += 1
            if st["i"] % 2 == 0:
                opt.step()
                opt.zero_grad()
            return loss

        return m, opt, step

    run_both(build, lambda w, i: None, steps=8)


def test_model_double():
    def ch(w, i):
        w["model"].double()

    def build():
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            p = next(m.parameters())
            loss = F.cross_entropy(m(x.to(p.dtype)), y)
            loss.backward()
            opt.step()
            return loss

        return m, opt, step

    run_both(build, ch)


def test_load_state_dict_between_calls():
    other = mlp(7).state_dict()

    def ch(w, i):
        w["model"].load_state_dict(other)

    run_both(standard(lambda: mlp(0), lambda m: optim.Adam(m.parameters(), lr=0.01)), ch)


def test_opt_load_state_dict():
    def ch(w, i):
        sd = w["opt"].state_dict()
        w["opt"].load_state_dict(sd)

    run_both(standard(lambda: mlp(0), lambda m: optim.Adam(m.parameters(), lr=0.01)), ch)


def test_param_data_assigned():
    def ch(w, i):
        p = w["model"][0].weight
        p.data = fg.zeros_like(p) + 0.01

    run_both(standard(lambda: mlp(0), lambda m: optim.Adam(m.parameters(), lr=0.01)), ch)


def test_param_inplace_outside():
    def ch(w, i):
        with fg.no_grad():
            w["model"][0].weight.mul_(0.5)

    run_both(standard(lambda: mlp(0), lambda m: optim.Adam(m.parameters(), lr=0.01)), ch)


def test_scheduler_inside_step():
    def build():
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)
        sch = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            sch.step()
            return loss

        return m, opt, step

    run_both(build, lambda w, i: None, steps=8)


def test_clip_max_norm_attribute_changed():
    def build():
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(m.parameters(), m.maxn)
            opt.step()
            return loss

        m.maxn = 1e9
        return m, opt, step

    def ch(w, i):
        w["model"].maxn = 0.01

    run_both(build, ch)


def test_dropout_with_seed_each_step():
    def build():
        fg.manual_seed(0)
        m = nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 3))
        opt = optim.SGD(m.parameters(), lr=0.1)
        st = {"i": 0}

        def step(x, y):
            st["i"] += 1
            fg.manual_seed(st["i"])
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss

        return m, opt, step

    run_both(build, lambda w, i: None)


def test_dropout_p_changed():
    def build():
        fg.manual_seed(0)
        m = nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.0), nn.ReLU(), nn.Linear(8, 3))
        opt = optim.SGD(m.parameters(), lr=0.1)

        def step(x, y):
            fg.manual_seed(1)
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss

        return m, opt, step

    def ch(w, i):
        w["model"][1].p = 0.5

    run_both(build, ch)


def test_smaller_last_batch():
    xs = X[0][:4]
    ys = Y[0][:4]
    worlds = []
    for c in (False, True):
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)

        def step(x, y, m=m, opt=opt):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss

        worlds.append((m, opt, fg.compile(step) if c else step))
    for i in range(8):
        for m, opt, s in worlds:
            s(xs, ys) if i == 5 else s(X[i % 4], Y[i % 4])
    for a, b in zip(worlds[0][0].parameters(), worlds[1][0].parameters()):
        assert same(a._data, b._data)


def test_leaky_relu_slope_attr():
    def build():
        fg.manual_seed(0)
        m = nn.Sequential(nn.Linear(5, 8), nn.LeakyReLU(0.01), nn.Linear(8, 3))
        opt = optim.SGD(m.parameters(), lr=0.1)

        step = plain_step(m, opt)

        return m, opt, step

    def ch(w, i):
        w["model"][1].negative_slope = 0.5

    run_both(build, ch)


def test_label_smoothing_loss_module_attr():
    def build():
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)
        crit = nn.CrossEntropyLoss()
        object.__setattr__(m, "crit_", crit)

        def step(x, y):
            opt.zero_grad()
            loss = crit(m(x), y)
            loss.backward()
            opt.step()
            return loss

        return m, opt, step

    def ch(w, i):
        w["model"].crit_.label_smoothing = 0.2

    run_both(build, ch)


def test_bn_momentum_changed():
    def ch(w, i):
        w["model"][1].momentum = 0.5

    run_both(standard(lambda: mlp(0, bn=True), lambda m: optim.SGD(m.parameters(), lr=0.1)), ch)


@pytest.mark.parametrize("kind", ["namespace", "argparse"])
def test_config_namespace_mutated(kind):
    def build():
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)
        args = (
            types.SimpleNamespace(scale=1.0)
            if kind == "namespace"
            else argparse.Namespace(scale=1.0)
        )
        object.__setattr__(m, "args_", args)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y) * args.scale
            loss.backward()
            opt.step()
            return loss

        return m, opt, step

    def ch(w, i):
        w["model"].args_.scale = 3.0

    run_both(build, ch)


# ---- programs that pass models and optimizers around, hooks, threads, layouts ----


def both(fn_build, calls):
    res = []
    for c in (False, True):
        objs, step = fn_build()
        s = fg.compile(step) if c else step
        outs = [s(*call(objs)) for call in calls]
        res.append((objs, outs))
    (oe, le), (oc, lc) = res
    for a, b in zip(le, lc):
        assert same(a._data, b._data)
    for me, mc in zip(oe["models"], oc["models"]):
        for a, b in zip(me.parameters(), mc.parameters()):
            assert same(a._data, b._data)


def sgd_world(make_model=lambda: mlp(0)):
    """A model, its SGD optimizer and the plain step over them, as ``both`` takes them."""
    m = make_model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    return {"models": [m], "opt": opt}, plain_step(m, opt)


def calls_with_change(change, at=3, steps=8, every=False):
    """Argument makers for ``both``: batch i of X, Y, after change(world) at step `at`
    (or change(world, i) before every step)."""

    def mk(i):
        def call(o):
            if every:
                change(o, i)
            elif i == at:
                change(o)
            return (X[i % 4], Y[i % 4])

        return call

    return [mk(i) for i in range(steps)]


def test_model_as_argument():
    def build():
        ma, mb = mlp(0), mlp(1)
        oa, ob = optim.SGD(ma.parameters(), lr=0.1), optim.Adam(mb.parameters(), lr=0.01)

        def step(m, opt, x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss

        return {"models": [ma, mb], "opts": [oa, ob]}, step

    calls = [
        lambda o, i=i: (o["models"][i % 2], o["opts"][i % 2], X[i % 4], Y[i % 4]) for i in range(8)
    ]
    both(build, calls)


def test_method_two_instances():
    class Trainer:
        def __init__(self, seed):
            self.m = mlp(seed)
            self.opt = optim.SGD(self.m.parameters(), lr=0.1)

        def step(self, x, y):
            self.opt.zero_grad()
            loss = F.cross_entropy(self.m(x), y)
            loss.backward()
            self.opt.step()
            return loss

    res = []
    for c in (False, True):
        if c:

            class T2(Trainer):
                step = fg.compile(Trainer.step)

            cls = T2
        else:
            cls = Trainer
        ta, tb = cls(0), cls(1)
        outs = []
        for i in range(8):
            t = ta if i % 2 else tb
            outs.append(t.step(X[i % 4], Y[i % 4]))
        res.append((ta, tb, outs))
    for a, b in zip(res[0][2], res[1][2]):
        assert same(a._data, b._data)
    for ma, mb in ((res[0][0].m, res[1][0].m), (res[0][1].m, res[1][1].m)):
        for a, b in zip(ma.parameters(), mb.parameters()):
            assert same(a._data, b._data)


def test_noncontiguous_input_later():
    def build():
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)

        step = plain_step(m, opt)

        return {"models": [m]}, step

    xt = fg.from_numpy(np.ascontiguousarray(X[0].numpy().T)).t()
    calls = [
        lambda o, i=i: ((xt if i == 4 else X[i % 4]), Y[0] if i == 4 else Y[i % 4])
        for i in range(8)
    ]
    both(build, calls)


def test_scalar_arg_changes():
    def build():
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)

        def step(x, y, scale):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y) * scale
            loss.backward()
            opt.step()
            return loss

        return {"models": [m]}, step

    calls = [lambda o, i=i: (X[i % 4], Y[i % 4], 1.0 if i < 4 else 0.5) for i in range(8)]
    both(build, calls)


def test_tensor_hook_registered_later():
    both(
        sgd_world,
        calls_with_change(lambda o: o["models"][0][0].weight.register_hook(lambda g: g * 2)),
    )


def test_module_forward_pre_hook_later():
    both(
        sgd_world,
        calls_with_change(
            lambda o: o["models"][0][0].register_forward_pre_hook(lambda mod, inp: (inp[0] * 2,))
        ),
    )


def test_weight_tying_later():
    def square_mlp():
        fg.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 5))

    def tie(o):
        o["models"][0][2].weight = o["models"][0][0].weight

    both(lambda: sgd_world(square_mlp), calls_with_change(tie))


def test_threads_changed():
    both(
        sgd_world, calls_with_change(lambda o, i: fg.set_num_threads(1 if i % 2 else 2), every=True)
    )


def test_no_grad_accuracy_inside():
    def build():
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            out = m(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            with fg.no_grad():
                acc = (out.argmax(1) == y).float().mean()
            return loss, acc

        return {"models": [m]}, step

    res = []
    for c in (False, True):
        o, s = build()
        s = fg.compile(s) if c else s
        res.append([s(X[i % 4], Y[i % 4]) for i in range(6)])
    for (la, aa), (lb, ab) in zip(*res):
        assert same(la._data, lb._data) and same(aa._data, ab._data)


def test_accumulate_across_calls():
    def build():
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)

        def step(x, y):
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            return loss

        return {"models": [m], "opt": opt}, step

    def mk(i):
        def call(o):
            if i % 2 == 0 and i:
                o["opt"].step()
                o["opt"].zero_grad()
            return (X[i % 4], Y[i % 4])

        return call

    both(build, [mk(i) for i in range(8)])


def test_hook_before_compile_and_post_hook_later():
    def build():
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1)
        m[0].bias.register_hook(lambda g: g * 3)

        step = plain_step(m, opt)

        return {"models": [m]}, step

    def mk(i):
        def call(o):
            if i == 3:
                w = o["models"][0][2].weight

                def post(t):
                    with fg.no_grad():
                        t.grad.mul_(0.5)

                w.register_post_accumulate_grad_hook(post)
            return (X[i % 4], Y[i % 4])

        return call

    both(build, [mk(i) for i in range(8)])


def test_batches_sliced_from_a_dataset_tensor_replay():
    """The usual loop over an in-memory dataset passes row slices of one big tensor (views
    at a new offset each call): the plan binds each slice by its own pointer, replays
    instead of running eagerly, and equals eager execution bit for bit."""
    rng = np.random.default_rng(5)
    data_x = fg.from_numpy(rng.standard_normal((40, 5)).astype(np.float32))
    data_y = fg.from_numpy(rng.integers(0, 3, 40).astype(np.int64))

    def make(compiled):
        m = mlp(0)
        opt = optim.Adam(m.parameters(), lr=0.01)

        step = plain_step(m, opt)

        return m, fg.compile(step, fallback="error") if compiled else step

    worlds = [make(False), make(True)]
    for epoch in range(2):
        for i in range(0, 40, 8):
            le, lc = (s(data_x[i : i + 8], data_y[i : i + 8]) for _, s in worlds)
            assert same(le._data, lc._data), f"loss differs at rows {i}"
    for a, b in zip(worlds[0][0].parameters(), worlds[1][0].parameters()):
        assert same(a._data, b._data)
    st = worlds[1][1].stats
    assert st["traces"] == 1 and st["replays"] == 9, st


def test_model_and_optimizer_bound_as_default_arguments():
    """``def step(x, y, model=model, opt=opt)`` reaches the parameters through the
    function's defaults: the step replays, bit for bit equal to eager execution."""

    def make(compiled):
        m = mlp(0)
        opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)

        def step(x, y, model=m, opt=opt):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return m, fg.compile(step, fallback="error") if compiled else step

    worlds = [make(False), make(True)]
    for i in range(6):
        le, lc = (s(X[i % 4], Y[i % 4]) for _, s in worlds)
        assert same(le._data, lc._data), f"loss differs at step {i}"
    for a, b in zip(worlds[0][0].parameters(), worlds[1][0].parameters()):
        assert same(a._data, b._data)
    assert worlds[1][1].stats["replays"] == 5


# ---- attributes that are tensors or functions -------------------------------------------


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(5, 3)
        self.mask = fg.ones(3)

    def forward(self, x):
        return self.l(x) * self.mask


def build_masked():
    fg.manual_seed(0)
    m = Masked()
    opt = optim.SGD(m.parameters(), lr=0.1)
    return m, opt, plain_step(m, opt)


def test_plain_tensor_attribute_replaced():
    def ch(w, i):
        w["model"].mask = fg.tensor([1.0, 0.0, 2.0])

    run_both(build_masked, ch)


def test_forward_monkeypatched():
    def ch(w, i):
        m = w["model"]
        orig = type(m).forward
        m.forward = lambda x: orig(m, x) * 2

    run_both(build_masked, ch)


def test_activation_function_attr_swapped():
    class Act(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(5, 3)
            self.act = F.relu

        def forward(self, x):
            return self.act(self.l(x))

    def build():
        fg.manual_seed(0)
        m = Act()
        opt = optim.SGD(m.parameters(), lr=0.1)
        return m, opt, plain_step(m, opt)

    def ch(w, i):
        w["model"].act = fg.tanh

    run_both(build, ch)
