"""fastgrad._C's GuardProgram, the C form of a compiled step's guards: each kind of check
holds and fails as its Python text says, a check that raises fails the guard, and the
guards fastgrad.compile builds for the S training steps run in C."""
import types

import numpy as np
import pytest

import fastgrad as fg
from fastgrad._C import _kernels as _K
from fastgrad.compile import guards as G


class Obj:
    pass


def prog(*checks):
    return _K.GuardProgram(list(checks))


def test_identity_through_accessors():
    o = Obj()
    o.x = [1, {"k": o}]
    cell = types.CellType(o)
    assert prog(("is", o, (("attr", "x"), ("item", 1), ("item", "k")), o, None))()
    assert prog(("is", cell, (("cell", None),), o, None))()
    assert prog(("is", o, (("dict", "x"),), o.x, None))()
    assert not prog(("is", o, (("attr", "x"), ("item", 0)), 2, None))()
    other = Obj()
    assert not prog(("is", cell, (("cell", None),), other, None))()
    assert not prog(("is", types.CellType(), (("cell", None),), o, None))()  # empty cell


def test_eq_len_either():
    d = {"a": 1.5, "b": [1, 2, 3]}
    assert prog(("eq", d, (("item", "a"),), 1.5, None))()
    assert not prog(("eq", d, (("item", "a"),), 2.0, None))()
    assert prog(("len", d, (("item", "b"),), 3, None))()
    assert not prog(("len", d, (("item", "b"),), 2, None))()
    x, y = object(), object()
    e = {"g": y}
    assert prog(("either", e, (("item", "g"),), x, y))()
    e["g"] = None
    assert not prog(("either", e, (("item", "g"),), x, y))()


def test_missing_and_raising_checks_fail():
    o = Obj()
    d = {}
    assert not prog(("is", o, (("attr", "missing"),), None, None))()
    assert not prog(("is", d, (("item", "k"),), None, None))()
    assert not prog(("is", [1], (("item", 5),), 1, None))()

    class Bad:
        def __eq__(self, other):
            raise RuntimeError("no")
    assert not prog(("eq", {"v": Bad()}, (("item", "v"),), 1, None))()
    assert not prog(("len", {"v": 3}, (("item", "v"),), 1, None))()   # len(int) raises


def test_gen_calls_only_when_generations_differ():
    calls = []

    def tree():
        calls.append(1)
        return len(calls) < 3
    gen, seen = [4], [4]
    p = prog(("gen", gen, (), seen, tree))
    assert p() and not calls
    gen[0] = 5
    assert p() and p() and len(calls) == 2
    assert not p()


def test_tensor_slots_and_entries():
    t = fg.ones(3, requires_grad=True)
    arr = t._data
    assert prog(("tensors", (t,), (), (arr,), (True,)))()
    assert not prog(("tensors", (t,), (), (arr,), (False,)))()
    assert prog(("is", t, (("attr", "grad"),), None, None))()
    assert prog(("is", t, (("attr", "requires_grad"),), True, None))()
    t.grad = fg.zeros(3)
    assert not prog(("is", t, (("attr", "grad"),), None, None))()
    t._data = np.ones(3, np.float32)
    assert not prog(("tensors", (t,), (), (arr,), (True,)))()
    st = {"m": fg.zeros(2)}
    assert prog(("entries", (st,), (), ("m",), (st["m"]._data,)))()
    assert not prog(("entries", (st,), (), ("v",), (st["m"]._data,)))()
    assert not prog(("entries", ([],), (), ("m",), (st["m"]._data,)))()

    class State(dict):
        pass
    sub = State(m=st["m"])              # a dict subclass holding the same entry
    assert prog(("entries", (sub,), (), ("m",), (st["m"]._data,)))()


def test_malformed_programs_raise():
    with pytest.raises(ValueError, match="accessors"):
        prog(("is", 1, (("attr", "a"),) * 5, 1, None))
    with pytest.raises(ValueError, match="tuples"):
        prog(("tensors", (1,), (), (), ()))
    with pytest.raises(KeyError):
        prog(("nope", 1, (), 1, None))


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_s_step_guards_run_in_c(opt):
    from fastgrad.bench import workloads as W
    s = W.fastgrad_compiled_train_step("S", opt)
    for _ in range(3):
        s()
    (plan,) = [p for ps in s._plans.values() for p in ps]
    assert type(plan.guard) is _K.GuardProgram
    assert plan.guard() is True
    assert G.failing(plan.guard) is None
    before = s.stats["replays"]
    s()
    assert s.stats["replays"] == before + 1 and s.stats["traces"] == 1
