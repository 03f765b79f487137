"""Op declarations derive exports, Tensor methods, forward rules and traits."""
import numpy as np

import fastgrad as fg
from fastgrad import ops
from fastgrad.autograd import engine
from fastgrad.ops._record import METHODS, exports


def test_declared_methods_are_bound():
    for name, fn in METHODS.items():
        assert fg.Tensor.__dict__[name] is fn, name


def test_all_is_what_the_declarations_export():
    kinds = [m for m in vars(ops).values()
             if getattr(m, "__name__", "").startswith("fastgrad.ops.")]
    assert len(kinds) == 20
    for kind in kinds:
        assert kind.__all__ == exports(kind.__name__)
        for name in kind.__all__:
            assert callable(getattr(kind, name)), (kind.__name__, name)
    for kind in ops.GENERAL:
        for name in kind.__all__:
            assert getattr(fg, name) is getattr(kind, name), name


def test_a_binary_declaration_gives_the_whole_op():
    """atan2 is one binary() declaration: export, alias, method, operator-free form,
    backward, forward rule and elementwise traits all come from it."""
    assert "atan2" in ops.elementwise.__all__ and "arctan2" in ops.elementwise.__all__
    assert fg.arctan2 is fg.atan2 and fg.Tensor.atan2 is fg.atan2
    y = fg.tensor([1.0, -2.0], dtype=fg.float64, requires_grad=True)
    x = fg.tensor([3.0, 0.5], dtype=fg.float64, requires_grad=True)
    out = y.atan2(x)
    bwd = out.grad_fn.fn
    assert bwd in engine.JVP and engine.TRAITS[bwd].elementwise
    out.sum().backward()
    den = x._data ** 2 + y._data ** 2
    np.testing.assert_allclose(y.grad._data, x._data / den)
    np.testing.assert_allclose(x.grad._data, -y._data / den)


def test_a_unary_declaration_gives_the_whole_op():
    t = fg.tensor([0.3, -0.7], dtype=fg.float64, requires_grad=True)
    out = t.tanh()
    bwd = out.grad_fn.fn
    assert bwd in engine.JVP and engine.TRAITS[bwd].elementwise
    assert fg.Tensor.tanh is fg.tanh and "tanh" in ops.elementwise.__all__
