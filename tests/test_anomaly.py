"""Anomaly mode: fastgrad.autograd.detect_anomaly / set_detect_anomaly."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import autograd
from fastgrad.autograd import anomaly


@pytest.fixture(autouse=True)
def _anomaly_off():
    autograd.set_detect_anomaly(False)
    yield
    autograd.set_detect_anomaly(False)


def _sqrt_at_zero():
    # d sqrt(x)/dx at 0 is inf; times 0 * ... the product rule then makes nan
    x = fg.tensor([0.0, 1.0], requires_grad=True)
    y = fg.sqrt(x)                                      # forward call to be named
    return x, (y * 0.0).sum()


def test_off_by_default_and_backward_silently_gives_nan():
    assert not autograd.is_anomaly_enabled()
    x, loss = _sqrt_at_zero()
    loss.backward()
    assert np.isnan(x.grad.numpy()[0])


def test_detect_anomaly_names_backward_and_shows_forward_traceback():
    with autograd.detect_anomaly():
        assert autograd.is_anomaly_enabled()
        x, loss = _sqrt_at_zero()
        with pytest.raises(RuntimeError) as ei:
            loss.backward()
    msg = str(ei.value)
    assert "Function 'SqrtBackward' returned nan values in its 0th output" in msg
    assert "Traceback of forward call that caused the error" in msg
    assert "_sqrt_at_zero" in msg and "y = fg.sqrt(x)" in msg     # the forward line itself
    assert not autograd.is_anomaly_enabled()


def test_inf_is_reported_too_and_other_outputs_by_index():
    with autograd.detect_anomaly():
        a = fg.tensor([1.0, 2.0], requires_grad=True)
        b = fg.tensor([0.0, 1.0], requires_grad=True)
        out = fg.div(a, b)                         # d/da = 1/b = inf at b = 0
        with pytest.raises(RuntimeError, match=r"Function 'DivBackward' returned (inf|nan) values in its 0th output"):
            out.sum().backward()


def test_nan_flowing_from_forward_is_caught_at_the_first_backward_that_returns_it():
    with autograd.detect_anomaly():
        x = fg.tensor([-1.0, 2.0], requires_grad=True)
        y = fg.log(x)                              # nan in the forward value
        with pytest.raises(RuntimeError, match=r"Function 'MulBackward' returned nan values in its 0th output"):
            (y * y).sum().backward()


def test_backward_names_are_camel_case():
    x = fg.tensor([1.0], requires_grad=True)
    assert anomaly.backward_name(fg.nn.functional.leaky_relu(x).grad_fn) == "LeakyReluBackward"
    assert anomaly.backward_name(fg.mul(x, x).grad_fn) == "MulBackward"


def test_clean_backward_passes_and_gives_same_grads():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3))

    def run():
        x = fg.tensor(w, requires_grad=True)
        (fg.tanh(x @ x.T) * 2).sum().backward()
        return x.grad.numpy()
    plain = run()
    with autograd.detect_anomaly():
        checked = run()
    np.testing.assert_array_equal(plain, checked)


def test_set_detect_anomaly_call_context_and_decorator():
    autograd.set_detect_anomaly(True)
    assert autograd.is_anomaly_enabled()
    autograd.set_detect_anomaly(False)
    assert not autograd.is_anomaly_enabled()
    with autograd.set_detect_anomaly(True):
        assert autograd.is_anomaly_enabled()
    assert not autograd.is_anomaly_enabled()

    @autograd.detect_anomaly()
    def f():
        return autograd.is_anomaly_enabled()

    @autograd.set_detect_anomaly(True)
    def g():
        return autograd.is_anomaly_enabled()
    assert not autograd.is_anomaly_enabled()
    assert f() and g()
    assert not autograd.is_anomaly_enabled()


def test_check_nan_false_records_but_does_not_raise():
    with autograd.detect_anomaly(check_nan=False):
        x, loss = _sqrt_at_zero()
        loss.backward()
    assert np.isnan(x.grad.numpy()[0])


def test_node_created_with_mode_off_says_so():
    x, loss = _sqrt_at_zero()                  # graph recorded with anomaly mode off
    with autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match="No forward traceback was recorded"):
            loss.backward()


def test_traces_are_only_recorded_while_on_and_are_released_with_the_graph():
    x = fg.tensor([1.0], requires_grad=True)
    y = fg.exp(x)
    assert y.grad_fn not in anomaly._traces
    with autograd.detect_anomaly():
        z = fg.exp(x)
    assert z.grad_fn in anomaly._traces
    n = len(anomaly._traces)
    del z
    assert len(anomaly._traces) == n - 1      # weakly held: no leak of graphs


def test_create_graph_backward_is_checked():
    with autograd.detect_anomaly():
        x = fg.tensor([0.0], requires_grad=True)
        y = fg.sqrt(x) * 0.0
        with pytest.raises(RuntimeError, match="SqrtBackward"):
            autograd.grad(y.sum(), x, create_graph=True)
