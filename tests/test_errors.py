"""Bad input gives a clear Python exception naming the op, never a crash."""
import subprocess
import sys

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn.functional as F


def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: cannot multiply shapes \(3, 4\) and \(5, 2\): 4 != 5"):
        fg.randn(3, 4) @ fg.randn(5, 2)
    with pytest.raises(ValueError, match=r"matmul: batch dimensions of \(2, 3, 4\) and \(3, 4, 5\)"):
        fg.randn(2, 3, 4) @ fg.randn(3, 4, 5)


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        fg.ones(2, 3) + fg.ones(4)
    with pytest.raises(ValueError, match=r"eq: shapes \(2,\) and \(3,\)"):
        fg.tensor([1, 2]) == fg.tensor([1, 2, 3])


def test_wrong_types_and_dtypes():
    with pytest.raises(TypeError, match="tanh"):
        fg.tanh("x")
    with pytest.raises(TypeError, match="linear: input, weight and bias must share one float dtype"):
        F.linear(fg.ones(2, 3), fg.ones(4, 3, dtype=fg.float64))
    with pytest.raises(TypeError, match="cross_entropy: target must hold class indices"):
        F.cross_entropy(fg.ones(2, 3), fg.ones(2))
    with pytest.raises(TypeError, match="mean: input dtype should be floating point"):
        fg.tensor([1, 2]).mean()


def test_dim_errors():
    with pytest.raises(IndexError, match="softmax: dimension 3 is out of range"):
        fg.softmax(fg.ones(2, 3), dim=3)
    with pytest.raises(ValueError, match="sum: dim .* names a dimension twice"):
        fg.ones(2, 3).sum(dim=(0, -2))
    with pytest.raises(TypeError, match="softmax: dim is required"):
        fg.softmax(fg.ones(2, 3))


def test_cross_entropy_bad_target_leaves_no_partial_state():
    x = fg.randn(4, 3, requires_grad=True)
    with pytest.raises(IndexError, match="target -5 at position 2 is out of bounds for 3 classes"):
        F.cross_entropy(x, fg.tensor([0, 1, -5, 2]))
    assert x.grad is None


def test_empty_reductions():
    with pytest.raises(ValueError, match="max: cannot reduce an empty tensor"):
        fg.zeros(0).max()
    with pytest.raises(ValueError, match="argmax: cannot take the argmax of an empty tensor"):
        fg.zeros(0).argmax()
    assert fg.zeros(0, 3).sum().item() == 0.0
    assert np.isnan(fg.zeros(0).mean().item())


def test_kernel_wrappers_validate_raw_arrays():
    from fastgrad._C import _kernels as K
    with pytest.raises(TypeError, match="exp: expected a float32 or float64 array, got int64"):
        K.unary(K.U["exp"], np.arange(3))
    with pytest.raises(TypeError, match="add: dtypes differ"):
        K.binary(K.B["add"], np.ones(3, np.float32), np.ones(3))
    with pytest.raises(ValueError, match="the C kernel rejected its arguments"):
        K.unary(99, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="matmul: cannot multiply"):
        K.matmul(np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))


HOSTILE = r"""
import numpy as np, fastgrad as fg
from fastgrad._C import _kernels as K
cases = [
    lambda: fg.ones(2 ** 62, 4),
    lambda: fg.zeros(3).reshape(-1, -1),
    # a negative-stride view (inside its buffer: a view reaching outside it is invalid memory
    # that no library can check, and AddressSanitizer rightly reports reading it)
    lambda: K.unary(K.U["exp"], np.lib.stride_tricks.as_strided(np.ones(4, np.float32)[3:], (4,), (-4,))),
    lambda: fg.ones(*([1] * 40)) + 1,
    lambda: fg.tensor([[1.0, 2.0], [3.0]]),
    lambda: fg.tensor(object()),
    lambda: K.xent(np.ones((3, 2), np.float32), np.array([0, 1]), -100, 0.0),
    lambda: K.xent(np.ones((3, 2), np.float32), np.array([0, 1, 2]), -100, 2.0),
    lambda: K.softmax(np.ones((3, 2), np.float32), 5, False),
    lambda: fg.randn(3)[np.array([7])],
]
ok = 0
for c in cases:
    try:
        c()
    except (ValueError, TypeError, RuntimeError, IndexError, MemoryError, OverflowError):
        ok += 1
print("handled", ok, "of", len(cases))
"""


def test_hostile_inputs_raise_instead_of_crashing():
    """Run in a subprocess, so that a crash is reported as a failure, not a dead run."""
    r = subprocess.run([sys.executable, "-c", HOSTILE], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"interpreter died (rc={r.returncode}): {r.stderr[-2000:]}"
    assert "handled" in r.stdout, r.stdout


def test_mse_loss_broadcast_warns_like_pytorch():
    with pytest.warns(UserWarning, match="mse_loss: target shape \\(3, 1\\) differs"):
        loss = F.mse_loss(fg.zeros(3), fg.ones(3, 1))
    assert loss.item() == 1.0
