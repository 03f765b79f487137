"""Every public way of giving a captured tensor a new array, or an optimizer new state
entries, between calls of a compiled step: the step follows the change (a guard fails and
it retraces), compiled == eager bit for bit.  The guards read tensors' arrays and flags
from Tensor's slots in C (fastgrad._C's tensors_valid / entries_valid); these tests fail
if a path escapes them."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn, optim

from test_compile_guards import OPTS, X, mlp, run_both, standard


def _new_data(w, k):
    p = w["model"][0].weight
    p.data = fg.from_numpy(np.full(p.shape, 0.01 * k, np.float32))


def _load_assign(w, k):
    sd = {n: fg.from_numpy(np.full(t.shape, 0.02, np.float32))
          for n, t in w["model"].state_dict().items()}
    w["model"].load_state_dict(sd, assign=True)


def _load_copy(w, k):                  # copies into the same arrays: no retrace needed
    sd = {n: fg.from_numpy(np.full(t.shape, 0.03, np.float32))
          for n, t in w["model"].state_dict().items()}
    w["model"].load_state_dict(sd)


def _opt_load(w, k):
    o = w["opt"]
    o.load_state_dict(o.state_dict())


def _state_entry(w, k):
    o = w["opt"]
    for st in o.state.values():
        for key in list(st):
            if key != "step":
                st[key] = fg.from_numpy(np.zeros(st[key].shape, np.float32))


def _requires_grad(w, k):
    w["model"][2].bias.requires_grad_(False)


def _in_place(w, k):                   # the same array, new values: no retrace needed
    with fg.no_grad():
        w["model"][0].weight.mul_(0.5)


CHANGES = {"data": (_new_data, True), "load_assign": (_load_assign, True),
           "load_copy": (_load_copy, False), "opt_load": (_opt_load, True),
           "state_entry": (_state_entry, True), "requires_grad": (_requires_grad, True),
           "in_place": (_in_place, False)}


@pytest.mark.parametrize("opt", ["momentum", "adam"])
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_replacement_paths_are_followed(change, opt):
    fn, retraces = CHANGES[change]
    c = run_both(standard(lambda: mlp(0), OPTS[opt]), fn, steps=7, at=(3,))
    assert c.stats["traces"] == c.traces_before + (1 if retraces else 0), c.stats


@pytest.mark.parametrize("name", ["Adadelta", "RAdam", "NAdam"])
def test_kernel_optimizers_state_replaced(name):
    make = standard(lambda: mlp(0), lambda m: getattr(optim, name)(m.parameters(), lr=0.01))
    c = run_both(make, _state_entry, steps=7, at=(3,))
    assert c.stats["traces"] == c.traces_before + 1


def test_a_failed_tensor_check_is_named():
    from fastgrad.compile.guards import failing
    m = nn.Linear(5, 3)
    opt = optim.SGD(m.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        m(x).sum().backward()
        opt.step()
    c = fg.compile(step)
    for _ in range(3):
        c(X[0])
    plan = [p for ps in c._plans.values() for p in ps][0]
    assert plan.guard()
    m.bias.data = fg.zeros(3)
    assert not plan.guard()
    assert "._data is" in failing(plan.guard)


def _set_lr(w, k):
    w["opt"].param_groups[0]["lr"] = 0.05 * k


def _set_betas(w, k):
    w["opt"].param_groups[0]["betas"] = (0.5, 0.9)


def _tensor_lr(w, k):
    g = w["opt"].param_groups[0]
    if not isinstance(g["lr"], fg.Tensor):
        g["lr"] = fg.tensor(0.01)
    else:
        g["lr"].mul_(0.5)                  # changed in place: the same object


@pytest.mark.parametrize("change", [_set_lr, _set_betas, _tensor_lr],
                         ids=lambda f: f.__name__.strip("_"))
def test_hyperparameters_changed_between_calls_are_read(change):
    """Hyperparameters are read at every replay without retracing: changed values (new
    floats or tuples, a tensor learning rate changed in place) reach the kernel."""
    c = run_both(standard(lambda: mlp(0), OPTS["adam"]), change, steps=8, at=(2, 4, 6))
    assert c.stats["traces"] == c.traces_before
