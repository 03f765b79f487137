"""fastgrad's whole op surface against PyTorch (skipped when torch is not installed).

Every registry entry whose name PyTorch also has (``torch.X``, ``torch.nn.functional.X``
or ``torch.Tensor.X``) runs its generated samples through both libraries, in float32 and
float64: values, dtypes, shapes and, where both record gradients, the vector-Jacobian
product for a random cotangent must agree.  Entries whose fastgrad call differs from
PyTorch's on purpose are listed in ``DIFFERS`` with the reason; any other disagreement
fails.  A second test keeps the list of PyTorch names fastgrad lacks
(docs/pytorch_coverage.md) in step with the code.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.testing import REGISTRY
from conftest import materialize

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# registry entries that share a PyTorch name but not its calling convention or meaning
DIFFERS = {
    "linear": "takes a fused activation= argument PyTorch does not have (compared in test_vs_torch)",
    "hypot": "also takes a Python number (compared in test_vs_torch)",
    "maximum": "also takes a Python number (compared in test_vs_torch)",
    "minimum": "also takes a Python number (compared in test_vs_torch)",
    "argsort": "PyTorch leaves the order of equal elements unspecified (stable=False); sort's values are compared",
}

# single samples where fastgrad's result is the better one, on purpose
SAMPLE_DIFFERS = {
    ("norm", "no overflow in the squares"): "fastgrad scales float32 sums of squares; PyTorch overflows to inf",
}


def _torch_fn(name):
    for ns in (TF, torch, torch.special):
        f = getattr(ns, name, None)
        if callable(f) and not isinstance(f, type):
            return f
    f = getattr(torch.Tensor, name, None)
    if callable(f):
        return f
    return None


def _names():
    out = []
    for name, info in sorted(REGISTRY.items()):
        if name in DIFFERS or name.startswith("_"):
            continue
        if _torch_fn(name) is not None and getattr(info.op, "__name__", name).lstrip("_") == name:
            out.append(name)
    return out


def _to_torch(a):
    if isinstance(a, fg.Tensor):
        arr = np.array(a.detach().numpy())
        t = torch.from_numpy(arr)
        return t.requires_grad_(a.requires_grad and arr.dtype.kind == "f")
    if isinstance(a, (list, tuple)) and a and all(isinstance(v, fg.Tensor) for v in a):
        return type(a)(_to_torch(v) for v in a)
    return a


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [o for v in out for o in _flat(v)]
    if hasattr(out, "_fields") or type(out).__name__.startswith("torch.return_types"):
        return [o for v in tuple(out) for o in _flat(v)]
    return [out]


def _np(t):
    if isinstance(t, fg.Tensor):
        return t.detach().numpy()
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", _names())
def test_op_agrees_with_pytorch(name, dtype):
    info = REGISTRY[name]
    tfn = _torch_fn(name)
    ran = 0
    for s in info.samples(np.random.default_rng(11)):
        if (name, s.desc) in SAMPLE_DIFFERS:
            continue
        args = materialize(s, dtype, info.grad and s.grad)
        targs = [_to_torch(a) for a in args]
        try:
            tout = tfn(*targs, **s.kwargs)
        except TypeError:
            # PyTorch takes fewer argument types here (e.g. a Python number where it wants a
            # tensor); fastgrad's wider signature is checked against the NumPy reference
            continue
        except RuntimeError as e:
            if "differentiable" not in str(e):
                # a call PyTorch refuses for its values or shapes: fastgrad must refuse it too
                with pytest.raises((TypeError, RuntimeError, ValueError, IndexError, NotImplementedError)):
                    info.op(*args, **s.kwargs)
                continue
            # PyTorch does not differentiate this argument (fastgrad does): compare values
            targs = [t.detach() if isinstance(t, torch.Tensor) else t for t in targs]
            tout = tfn(*targs, **s.kwargs)
        out = info.op(*args, **s.kwargs)
        outs, touts = _flat(out), _flat(tout)
        assert len(outs) == len(touts), f"{name} {s}: {len(outs)} outputs, PyTorch gives {len(touts)}"
        tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=info.rtol32 * 10,
                                                                            atol=info.atol32 * 10)
        for o, t in zip(outs, touts):
            a, b = _np(o), _np(t)
            assert a.shape == b.shape, f"{name} {s}: shape {a.shape}, PyTorch {b.shape}"
            assert a.dtype == b.dtype, f"{name} {s}: dtype {a.dtype}, PyTorch {b.dtype}"
            if a.dtype.kind == "f":
                np.testing.assert_allclose(a, b, err_msg=f"{name} {s}", equal_nan=True, **tol)
            else:
                np.testing.assert_array_equal(a, b, err_msg=f"{name} {s}")
        ran += 1
        xs = [a for a in args if isinstance(a, fg.Tensor) and a.requires_grad]
        txs = [t for t in targs if isinstance(t, torch.Tensor) and t.requires_grad]
        o, t = outs[0], touts[0]
        if (not xs or not isinstance(o, fg.Tensor) or not o.requires_grad or not t.requires_grad
                or o.numel() == 0 or dtype != np.float64):
            continue
        v = np.random.default_rng(12).standard_normal(o.shape)
        try:
            tgs = torch.autograd.grad(t, txs, torch.from_numpy(v), allow_unused=True)
        except RuntimeError as e:               # a derivative PyTorch does not implement
            assert "not implemented" in str(e), e
            continue
        gs = fg.autograd.grad(o, xs, fg.tensor(v), allow_unused=True)
        for g, tg in zip(gs, tgs):
            if tg is None:
                assert g is None or np.all(g.numpy() == 0), f"grad {name} {s}"
                continue
            # rtol 1e-7: some PyTorch float64 backward formulas use float32 constants (hardsigmoid's 1/6)
            np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-7, atol=1e-10, err_msg=f"grad {name} {s}")
    assert ran, f"{name}: PyTorch refused every sample"


def test_coverage_list_is_current():
    """docs/pytorch_coverage.md is what tools/torch_coverage.py prints for this fastgrad
    and PyTorch (regenerate it with ``python tools/torch_coverage.py > docs/pytorch_coverage.md``)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "docs", "pytorch_coverage.md")
    tool = os.path.join(root, "tools", "torch_coverage.py")
    if not os.path.exists(tool):
        pytest.skip("tools/torch_coverage.py is not part of this installation")
    got = subprocess.run([sys.executable, tool], capture_output=True, text=True, check=True).stdout
    with open(path) as f:
        assert f.read() == got, "docs/pytorch_coverage.md is out of date: regenerate it"
