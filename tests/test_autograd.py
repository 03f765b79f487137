"""Engine semantics: accumulation, graph reuse, retain/create_graph, hooks, grad modes."""
import numpy as np
import pytest

import fastgrad as fg


def test_first_example_matches_hand_derivative():
    # f(x) = x^3 + 2 sin(x)  =>  f'(x) = 3 x^2 + 2 cos(x)
    x = fg.tensor([0.3, -1.2, 2.0], dtype=fg.float64, requires_grad=True)
    (x ** 3 + 2 * fg.sin(x)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * x._data ** 2 + 2 * np.cos(x._data), rtol=1e-12)


def test_reused_non_leaf():
    a = fg.tensor([1.5, -2.0], dtype=fg.float64, requires_grad=True)
    b = a + a
    c = b * b                      # c = 4 a^2, dc/da = 8 a
    c.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 8 * a._data)


def test_grad_accumulates_across_backward_calls():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0])


def test_deep_chain_no_recursion_error():
    x = fg.tensor([0.5], dtype=fg.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_broadcast_gradient_reduced_to_input_shape():
    x = fg.randn(4, 3, requires_grad=True)
    b = fg.randn(3, requires_grad=True)
    c = fg.randn(4, 1, requires_grad=True)
    ((x + b) * c).sum().backward()
    assert b.grad.shape == (3,) and c.grad.shape == (4, 1)
    np.testing.assert_allclose(b.grad.numpy(), c._data.sum() * np.ones(3), rtol=1e-5)
    np.testing.assert_allclose(c.grad.numpy(), (x._data + b._data).sum(1, keepdims=True), rtol=1e-5)


def test_second_backward_through_freed_graph_raises():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x._data)


def test_backward_non_scalar_needs_gradient():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(fg.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        fg.tensor([1.0]).sum().backward()


def test_no_grad_records_nothing_and_works_as_decorator():
    x = fg.tensor([1.0], requires_grad=True)
    with fg.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None

    @fg.no_grad()
    def f(t):
        return t * 3
    assert f(x).grad_fn is None
    with fg.no_grad():
        with fg.enable_grad():
            assert (x * 2).requires_grad
    assert fg.is_grad_enabled()
    fg.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    fg.set_grad_enabled(True)
    with fg.set_grad_enabled(False):
        assert not fg.is_grad_enabled()
    assert fg.is_grad_enabled()


def test_autograd_grad_does_not_touch_dot_grad_and_allow_unused():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    z = fg.tensor([3.0], requires_grad=True)
    y = (x * x).sum()
    (gx,) = fg.autograd.grad(y, x, retain_graph=True)
    assert x.grad is None
    np.testing.assert_allclose(gx.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="not used in the graph"):
        fg.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = fg.autograd.grad(y, [x, z], allow_unused=True)
    assert gz is None


def test_grad_wrt_non_leaf():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    y = (h * h).sum()
    (gh,) = fg.autograd.grad(y, h)
    np.testing.assert_allclose(gh.numpy(), 2 * h._data)


def test_create_graph_gives_hessian_vector_product():
    # f(x) = sum(x^2 * y), grad = 2 x y, d/dx (grad . v) = 2 y v
    x = fg.tensor([1.0, -2.0, 0.5], dtype=fg.float64, requires_grad=True)
    y = fg.tensor([0.3, 1.1, -0.7], dtype=fg.float64)
    (g,) = fg.autograd.grad((x * x * y).sum(), x, create_graph=True)
    assert g.requires_grad
    v = fg.tensor([1.0, 2.0, 3.0], dtype=fg.float64)
    (hv,) = fg.autograd.grad((g * v).sum(), x)
    np.testing.assert_allclose(hv.numpy(), 2 * y._data * v._data)


def test_without_create_graph_backward_builds_no_graph():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = fg.autograd.grad(fg.tanh(x).sum(), x)
    assert not g.requires_grad and g.grad_fn is None


def test_retain_grad_and_hooks():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10)
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h._data)
    np.testing.assert_allclose(seen[0], 2 * h._data)
    np.testing.assert_allclose(x.grad.numpy(), 10 * 8 * x._data)
    handle.remove()
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_detach_and_requires_grad_rules():
    x = fg.tensor([1.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    with pytest.raises(RuntimeError, match="only floating point"):
        fg.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad_(False)


def test_inplace_on_leaf_requiring_grad_raises():
    w = fg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.add_(1.0)
    with fg.no_grad():
        w.sub_(0.5)                          # a manual SGD update is fine
    np.testing.assert_allclose(w.numpy(force=True), [0.5, 1.5])


def test_inplace_change_of_saved_tensor_is_detected():
    w = fg.tensor([1.0, 2.0], requires_grad=True)
    x = fg.tensor([3.0, 4.0])
    y = (w * x).sum()
    x.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_numpy_refuses_tensor_requiring_grad():
    x = fg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy()[0] == 1.0


def test_gradcheck_reports_a_wrong_derivative():
    """The checker itself must be able to fail: a deliberately wrong backward."""
    from fastgrad.ops._record import _record

    def bad_square(x):
        out = x._data * x._data
        return _record(out, "bad_square", lambda node, g: (g * 3.0,), (x,))
    x = fg.tensor([0.5, 1.5], dtype=fg.float64, requires_grad=True)
    with pytest.raises(fg.autograd.GradcheckError, match="Jacobian mismatch"):
        fg.autograd.gradcheck(bad_square, (x,))


def test_mixed_dtype_promotion_and_gradient_dtypes():
    a = fg.tensor([1.0, 2.0], dtype=fg.float32, requires_grad=True)
    b = fg.tensor([3.0, 4.0], dtype=fg.float64, requires_grad=True)
    c = a * b
    assert c.dtype == fg.float64
    c.sum().backward()
    assert a.grad.dtype == fg.float32 and b.grad.dtype == fg.float64
    assert (a * 2.0).dtype == fg.float32
    assert (a * fg.tensor(2.0, dtype=fg.float64)).dtype == fg.float32       # 0-d doesn't widen
    assert (fg.tensor([1, 2]) * 1.5).dtype == fg.float32                    # int * float scalar
    assert (fg.tensor([1, 2]) + fg.tensor([True, False])).dtype == fg.int64
    assert (fg.tensor([1, 2]) / fg.tensor([2, 2])).dtype == fg.float32      # true division


def test_inplace_change_through_a_view_or_detach_is_detected():
    a = fg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = fg.tensor([4.0, 5.0, 6.0])
    c = a * b
    with fg.no_grad():
        b.reshape(3).mul_(100.0)                 # same memory as the saved b
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.sum().backward()
    y = fg.exp(a)
    y.detach().mul_(0.0)                          # the saved output of exp
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_leaf_grads_are_private_writable_copies():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    y = fg.tensor([3.0, 4.0], requires_grad=True)
    fg.add(x, y).sum().backward()                 # add hands the same gradient to both
    x.grad.mul_(10.0)
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])
    x.grad.zero_()                                # not a read-only broadcast view
    go = fg.tensor([1.0, 1.0])
    x.grad = None
    (x * 1.0).backward(go)
    x.grad.mul_(5.0)
    np.testing.assert_array_equal(go.numpy(), [1.0, 1.0])


def test_retained_grad_accumulates():
    x = fg.tensor([1.0, 1.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.sum().backward(retain_graph=True)
    y.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])


def test_max_over_dim_of_0d_tensor_backward():
    x = fg.tensor(3.0, requires_grad=True)
    fg.max(x, 0).values.backward()
    assert x.grad.item() == 1.0


def test_second_backward_without_saved_values_is_allowed():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    y = fg.add(x, 1.0).sum()
    y.backward()
    y.backward()                                  # nothing was saved, nothing was freed
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_autograd_grad_stops_at_the_requested_inputs():
    w = fg.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    w.register_hook(lambda g: calls.append(1))
    z = fg.exp(w)
    (gz,) = fg.autograd.grad((z * 3).sum(), z)
    np.testing.assert_array_equal(gz.numpy(), [3.0, 3.0])
    assert calls == []                         # w was not asked for: its hook did not run
    z.sum().backward()                         # exp's saved output was not freed
    np.testing.assert_allclose(w.grad.numpy(), np.exp([1.0, 2.0]), rtol=1e-6)
    assert calls == [1]


def test_adopted_gradients_never_alias_what_user_code_holds():
    # linear's backward hands the engine new arrays that it adopts as .grad without a copy;
    # a hook or autograd.grad that sees such an array must not end up sharing it with .grad
    import fastgrad.nn.functional as F
    w = fg.randn(3, 4, requires_grad=True)
    x = fg.randn(5, 4)
    seen = []
    w.register_hook(lambda g: seen.append(g))
    F.linear(x, w).sum().backward()
    first = seen[0].numpy().copy()
    F.linear(x, w).sum().backward()              # accumulates into w.grad in place
    np.testing.assert_array_equal(seen[0].numpy(), first)
    np.testing.assert_allclose(w.grad.numpy(), 2 * first, rtol=1e-6)
    (gw,) = fg.autograd.grad(F.linear(x, w).sum(), w)
    keep = gw.numpy().copy()
    w.grad = None
    w.backward(gw)                               # a leaf root: its gradient is gw itself
    F.linear(x, w).sum().backward()
    np.testing.assert_array_equal(gw.numpy(), keep)


def test_accumulation_in_place_matches_sum_of_backwards():
    import fastgrad.nn.functional as F
    w = fg.randn(6, 3, dtype=fg.float64, requires_grad=True)
    b = fg.randn(6, dtype=fg.float64, requires_grad=True)
    xs = [fg.randn(4, 3, dtype=fg.float64) for _ in range(3)]
    total_w, total_b = np.zeros((6, 3)), np.zeros(6)
    for x in xs:
        F.linear(x, w, b, activation="tanh").sum().backward()
        y = np.tanh(x._data @ w._data.T + b._data)
        gz = 1 - y ** 2
        total_w += gz.T @ x._data
        total_b += gz.sum(0)
    np.testing.assert_allclose(w.grad.numpy(), total_w, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), total_b, rtol=1e-12)
