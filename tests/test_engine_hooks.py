"""The engine's post-accumulate-grad hooks and end-of-backward callbacks (used by
fastgrad.nn.parallel.DistributedDataParallel, general on their own)."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import autograd


def _leaf(a):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def test_post_hook_sees_whole_gradient_of_a_leaf_used_twice():
    xv = np.array([0.3, -1.2, 2.0])
    x = _leaf(xv)
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad._data.copy()))
    y = (x * x).sum() + x.sin().sum() + (x * 3.0).sum()
    y.backward()
    expect = 2 * xv + np.cos(xv) + 3.0          # d/dx by hand
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], expect, rtol=1e-12)
    np.testing.assert_allclose(x.grad._data, expect, rtol=1e-12)
    # a second backward accumulates; the hook sees the running total
    y2 = (x * x).sum()
    y2.backward()
    assert len(seen) == 2
    np.testing.assert_allclose(seen[1], expect + 2 * xv, rtol=1e-12)


def test_post_hook_fires_as_soon_as_the_leaf_is_final():
    """w2 is used only by the last op: its .grad is final before the graph walk reaches
    the first layer, and its hook must run then (this is what lets DDP overlap)."""
    rng = np.random.default_rng(0)
    x = fg.tensor(rng.standard_normal((4, 3)))
    w1, w2 = _leaf(rng.standard_normal((3, 5))), _leaf(rng.standard_normal((5, 2)))
    order = []
    w1.register_post_accumulate_grad_hook(lambda t: order.append("w1"))
    w2.register_post_accumulate_grad_hook(lambda t: order.append("w2"))
    h = x @ w1
    h.register_hook(lambda g: order.append("h"))
    (h.tanh() @ w2).sum().backward()
    assert order == ["w2", "h", "w1"]


def test_gradients_do_not_change_with_post_hooks():
    rng = np.random.default_rng(1)
    xv, wv = rng.standard_normal((6, 4)), rng.standard_normal((4, 4))

    def run(hook):
        w = _leaf(wv)
        if hook:
            w.register_post_accumulate_grad_hook(lambda t: None)
        x = fg.tensor(xv)
        h = x @ w
        out = ((h.relu() @ w) * h).sum() + (w * w).sum()
        out.backward()
        return w.grad._data

    np.testing.assert_array_equal(run(True), run(False))


def test_post_hook_not_called_by_autograd_grad_and_called_with_inputs():
    x = _leaf([1.0, 2.0])
    calls = []
    x.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad._data.copy()))
    (g,) = autograd.grad((x * x).sum(), x)
    np.testing.assert_allclose(g._data, [2.0, 4.0])
    assert calls == [] and x.grad is None
    (x * x).sum().backward(inputs=[x])
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], [2.0, 4.0])


def test_post_hook_handle_remove_and_errors():
    x = _leaf([1.0])
    calls = []
    h = x.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    h.remove()
    (x * 2.0).sum().backward()
    assert calls == []
    with pytest.raises(RuntimeError, match="register_post_accumulate_grad_hook: only leaf"):
        (x * 2.0).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="does not require grad"):
        fg.tensor([1.0]).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match="must be callable"):
        x.register_post_accumulate_grad_hook(3)


def test_queue_callback_runs_after_every_gradient_is_stored():
    rng = np.random.default_rng(2)
    x = fg.tensor(rng.standard_normal((2, 3)))
    w1, w2 = _leaf(rng.standard_normal((3, 3))), _leaf(rng.standard_normal((3, 1)))
    log = []

    def at_end():
        log.append(("end", w1.grad is not None, w2.grad is not None))

    def w2_ready(t):
        log.append("w2")
        autograd.queue_callback(at_end)
        autograd.queue_callback(lambda: log.append("second"))

    w2.register_post_accumulate_grad_hook(w2_ready)
    ((x @ w1).tanh() @ w2).sum().backward()
    assert log == ["w2", ("end", True, True), "second"]
    # queued callbacks belong to one backward: the next one starts empty
    log.clear()
    ((x @ w1) @ w2).sum().backward()
    assert log == ["w2", ("end", True, True), "second"]


def test_queue_callback_outside_backward_and_failing_callback():
    with pytest.raises(RuntimeError, match="queue_callback: no backward pass is running"):
        autograd.queue_callback(lambda: None)
    x = _leaf([1.0, 2.0])

    def bad():
        raise ValueError("boom in callback")

    h = x.register_post_accumulate_grad_hook(lambda t: autograd.queue_callback(bad))
    with pytest.raises(ValueError, match="boom in callback"):
        (x * x).sum().backward()
    h.remove()
    # the engine's callback stack was unwound
    with pytest.raises(RuntimeError, match="no backward pass is running"):
        autograd.queue_callback(lambda: None)
    with pytest.raises(TypeError, match="expected a callable"):
        x.register_hook(lambda g: autograd.queue_callback(5))
        (x * 1.0).sum().backward()
