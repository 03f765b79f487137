"""In-place ops: PyTorch semantics, history rebasing, version-counter errors."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad.autograd import gradcheck

from conftest import assert_close

MSG = "one of the variables needed for gradient computation has been modified by an inplace operation"


def _leaf(shape=(3, 4), seed=0, lo=-2.0, hi=2.0):
    rng = np.random.default_rng(seed)
    return fg.tensor(rng.uniform(lo, hi, shape), requires_grad=True)


def _iadd(t):
    t += 1.5
    return t


def _isub(t):
    t -= 0.5
    return t


def _imul(t):
    t *= 2.0
    return t


def _idiv(t):
    t /= 3.0
    return t


def _setitem(t):
    t[0] = 7.0
    return t


# name -> (apply the op in place to t, the out-of-place equivalent)
INPLACE = {
    "add_": (lambda t: t.add_(fg.ones(4, dtype=t.dtype), alpha=2), lambda t: t + 2 * fg.ones(4, dtype=t.dtype)),
    "sub_": (lambda t: t.sub_(0.25), lambda t: t - 0.25),
    "mul_": (lambda t: t.mul_(3.0), lambda t: t * 3.0),
    "div_": (lambda t: t.div_(4.0), lambda t: t / 4.0),
    "clamp_": (lambda t: t.clamp_(-0.5, 0.5), lambda t: t.clamp(-0.5, 0.5)),
    "zero_": (lambda t: t.zero_(), lambda t: t * 0.0),
    "fill_": (lambda t: t.fill_(2.5), lambda t: t * 0.0 + 2.5),
    "copy_": (lambda t: t.copy_(fg.ones(3, 4, dtype=t.dtype)), lambda t: t * 0.0 + 1.0),
    "relu_": (lambda t: t.relu_(), lambda t: t.relu()),
    "masked_fill_": (lambda t: t.masked_fill_(fg.tensor([True, False, True, False]), -1.0),
                     lambda t: t.masked_fill(fg.tensor([True, False, True, False]), -1.0)),
    "setitem": (_setitem, lambda t: fg.cat([fg.full((1, 4), 7.0, dtype=t.dtype), t[1:]])),
    "__iadd__": (_iadd, lambda t: t + 1.5),
    "__isub__": (_isub, lambda t: t - 0.5),
    "__imul__": (_imul, lambda t: t * 2.0),
    "__itruediv__": (_idiv, lambda t: t / 3.0),
}
OPNAME = {"__iadd__": "add_", "__isub__": "sub_", "__imul__": "mul_", "__itruediv__": "div_"}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_saved_input_modified(name):
    x = _leaf()
    b = x * 1.0                  # non-leaf
    z = fg.sin(b)                # saves its input b
    INPLACE[name][0](b)
    with pytest.raises(RuntimeError, match=MSG) as e:
        z.sum().backward()
    assert "sin" in str(e.value) and OPNAME.get(name, name) in str(e.value)


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_saved_output_modified(name):
    x = _leaf()
    e = fg.exp(x)                # saves its output e
    INPLACE[name][0](e)
    with pytest.raises(RuntimeError, match=MSG) as err:
        e.sum().backward()
    assert "exp" in str(err.value) and OPNAME.get(name, name) in str(err.value)


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_view_of_saved_tensor_modified(name):
    x = _leaf()
    b = x * 1.0
    z = b * b                    # saves b
    v = b.detach()[:, :]         # a view sharing b's memory and version counter
    assert v._version is b._version
    INPLACE[name][0](v)
    with pytest.raises(RuntimeError, match=MSG):
        z.sum().backward()


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_leaf_requiring_grad_refused(name):
    x = _leaf()
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        INPLACE[name][0](x)
    with fg.no_grad():           # allowed for manual updates
        INPLACE[name][0](x)
    assert x.is_leaf and x.requires_grad and x._version[0] == 1


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_rebased_gradient_matches_out_of_place(name):
    rng = np.random.default_rng(3)
    x0 = rng.uniform(-2, 2, (3, 4))
    w = rng.uniform(-1, 1, (3, 4))

    def inplace(x):
        b = fg.tanh(x)                       # non-leaf, its node saves the output
        b2 = b * 1.0
        r = INPLACE[name][0](b2)
        assert r is b2 and b2.grad_fn is not None
        return b2 * fg.tensor(w) + fg.sin(x)

    def outplace(x):
        return INPLACE[name][1](fg.tanh(x)) * fg.tensor(w) + fg.sin(x)

    gradcheck(inplace, [fg.tensor(x0, requires_grad=True)])
    xa, xb = fg.tensor(x0, requires_grad=True), fg.tensor(x0, requires_grad=True)
    ya, yb = inplace(xa), outplace(xb)
    assert_close(ya.detach().numpy(), yb.detach().numpy(), 1e-12, 1e-12, name)
    ya.sum().backward()
    yb.sum().backward()
    assert_close(xa.grad.numpy(), xb.grad.numpy(), 1e-12, 1e-12, name)


def test_inplace_keeps_identity_and_bumps_version():
    x = _leaf()
    b = x * 2.0
    v0 = b._version[0]
    same = b.add_(1.0)
    assert same is b and b._version[0] == v0 + 1
    b += 1.0
    assert b._version[0] == v0 + 2
    c = fg.zeros(3)
    c[1] = 2.0
    c.fill_(1.0)
    assert c._version[0] == 2 and c.tolist() == [1.0, 1.0, 1.0]


def test_mul_inplace_saves_old_values():
    """mul_ by a tensor that requires grad needs the *old* values of self for the
    other operand's gradient: they must be kept although self was overwritten."""
    x, w = _leaf(seed=1), _leaf(seed=2)
    b = x * 1.0
    b.mul_(w)
    b.sum().backward()
    assert_close(w.grad.numpy(), x.detach().numpy(), 1e-6, 1e-7, "w.grad")
    assert_close(x.grad.numpy(), w.detach().numpy(), 1e-6, 1e-7, "x.grad")


def test_self_mul_inplace():
    x = _leaf()
    b = x * 1.0
    b.mul_(b)
    b.sum().backward()
    assert_close(x.grad.numpy(), 2 * x.detach().numpy(), 1e-6, 1e-7, "d x^2")


def test_inplace_with_grad_argument_on_plain_tensor():
    """A tensor outside the graph joins it when an argument requires grad."""
    w = _leaf()
    buf = fg.zeros(3, 4, dtype=w.dtype)
    buf.add_(w * 2.0)
    assert buf.requires_grad and buf.grad_fn is not None
    (buf * buf).sum().backward()
    assert_close(w.grad.numpy(), 8 * w.detach().numpy(), 1e-6, 1e-7, "w.grad")


def test_copy_fill_gradient_to_source():
    src = fg.tensor(np.array([1.0, 2.0, 3.0, 4.0]), requires_grad=True)
    v = fg.tensor(np.array(3.0), requires_grad=True)
    x = _leaf()
    b = x * 1.0
    b.copy_(src)
    (b * 2.0).sum().backward()
    assert src.grad.tolist() == [6.0] * 4 and x.grad.abs().sum().item() == 0
    c = x * 1.0
    c.fill_(v)
    c.sum().backward()
    assert v.grad.item() == 12.0


def test_inplace_on_other_views_while_recording_is_refused():
    x = _leaf()
    b = x * 1.0
    with pytest.raises(RuntimeError, match="in-place operation on a view"):
        b.reshape(12).add_(1.0)
    with pytest.raises(RuntimeError, match="in-place operation on a view"):
        b[1][0:2].add_(1.0)                   # a view of a view
    with pytest.raises(RuntimeError, match="in-place operation on a view"):
        x[0].mul_(2.0)                        # a view of a leaf that requires grad


def test_inplace_on_indexed_view_rebases_the_base():
    rng = np.random.default_rng(7)

    def f(x, v):
        b = x * 2.0
        b[1:, 0] += v                          # getitem, add_ on the view, setitem
        b[0].mul_(3.0)
        b[2, ::-2].relu_()
        return b * b

    x0, v0 = rng.standard_normal((3, 4)), rng.standard_normal(2)
    gradcheck(f, [fg.tensor(x0, requires_grad=True), fg.tensor(v0, requires_grad=True)])
    b = x0 * 2.0
    b[1:, 0] += v0
    b[0] *= 3.0
    b[2, ::-2] = np.maximum(b[2, ::-2], 0)
    out = f(fg.tensor(x0, requires_grad=True), fg.tensor(v0, requires_grad=True))
    assert_close(out.detach().numpy(), b * b, 1e-12, 1e-12, "values")
    w = _leaf(seed=8)
    buf = fg.zeros(3, 4, dtype=w.dtype)        # a plain base joins the graph
    buf[1].add_(w[0])
    buf.sum().backward()
    assert w.grad.numpy()[0].tolist() == [1.0] * 4 and w.grad.numpy()[1:].sum() == 0


def test_inplace_errors():
    t = fg.zeros(3, dtype=fg.int64)
    with pytest.raises(TypeError, match="add_: result dtype float32 cannot be stored in a int64"):
        t.add_(1.5)
    with pytest.raises(ValueError, match=r"add_: result shape \(2, 3\) cannot be written"):
        t.add_(fg.zeros(2, 3, dtype=fg.int64))
    with pytest.raises(RuntimeError, match="read-only"):
        fg.zeros(3, 1).expand(3, 4).add_(1.0)
    x = _leaf()
    b = x * 1.0
    with pytest.raises(ValueError, match=r"add_: result shape \(2, 3, 4\) cannot be written"):
        b.add_(fg.zeros(2, 3, 4, dtype=b.dtype))
    with pytest.raises(ValueError, match="fill_: only a 0-d value tensor"):
        fg.zeros(3).fill_(fg.zeros(3))


def test_setitem_gradients():
    rng = np.random.default_rng(4)
    x0, v0 = rng.uniform(-1, 1, (4, 5)), rng.uniform(-1, 1, (2, 5))

    def f(x, v):
        y = x * 2.0
        y[np.array([3, 1])] = v
        return y * y

    gradcheck(f, [fg.tensor(x0, requires_grad=True), fg.tensor(v0, requires_grad=True)])
    x, v = fg.tensor(x0, requires_grad=True), fg.tensor(v0, requires_grad=True)
    f(x, v).sum().backward()
    expected = 8 * x0
    expected[[3, 1]] = 0
    assert_close(x.grad.numpy(), expected, 1e-12, 1e-12, "x.grad")
    assert_close(v.grad.numpy(), 2 * v0, 1e-12, 1e-12, "v.grad")


def test_setitem_without_grad_all_forms():
    a = np.arange(24.0).reshape(2, 3, 4)
    forms = [1, (0, slice(None, None, -1)), (Ellipsis, 2), (None, 1), np.array([1, 0, 1]),
             (slice(None), np.array([2, 0])), a % 5 == 0, (np.array([0, 1]), np.array([2, 2]))]
    for idx in forms:
        t = fg.tensor(a)
        expected = a.copy()
        expected[idx] = -1.0
        t[idx] = -1.0
        np.testing.assert_array_equal(t.numpy(), expected, err_msg=str(idx))
    t = fg.tensor(a)
    t[fg.tensor([0])] = fg.tensor(np.ones((3, 4)))
    assert t.numpy()[0].sum() == 12
    with pytest.raises(IndexError, match="setitem: index 5 is out of bounds"):
        t[5] = 1.0


def test_setitem_value_gets_grad_on_plain_tensor():
    v = fg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    t = fg.zeros(3, 2, dtype=fg.float64)
    t[1] = v
    assert t.grad_fn is not None
    (t * 3.0).sum().backward()
    assert v.grad.tolist() == [3.0, 3.0]


def test_create_graph_through_inplace():
    x = fg.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    b = x * 1.0
    b.mul_(x)                     # b = x^2
    (g,) = fg.autograd.grad(b.sum(), x, create_graph=True)
    (h,) = fg.autograd.grad(g.sum(), x)
    assert_close(g.detach().numpy(), 2 * x.detach().numpy(), 1e-12, 1e-12, "g")
    assert_close(h.numpy(), [2.0, 2.0, 2.0], 1e-12, 1e-12, "h")
