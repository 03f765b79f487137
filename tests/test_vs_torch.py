"""Differential test against PyTorch (optional: skipped when torch is not installed).
Values and gradients of every registry op that PyTorch has, on the registry's samples,
in float64."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad.testing import REGISTRY

from conftest import materialize

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TORCH = {
    "neg": torch.neg, "abs": torch.abs, "exp": torch.exp, "log": torch.log, "log1p": torch.log1p,
    "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "sin": torch.sin, "cos": torch.cos, "tanh": torch.tanh,
    "sigmoid": torch.sigmoid, "relu": torch.relu, "erf": torch.erf, "sign": torch.sign,
    "square": torch.square, "reciprocal": torch.reciprocal,
    "leaky_relu": TF.leaky_relu, "gelu": TF.gelu, "gelu_tanh": lambda x: TF.gelu(x, approximate="tanh"),
    "silu": TF.silu, "softplus": TF.softplus, "clamp": torch.clamp, "pow_scalar": torch.pow,
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
    "maximum": torch.maximum, "minimum": torch.minimum, "where": torch.where,
    # torch.hypot takes tensors only; fastgrad's also takes a Python number
    "hypot": lambda a, b: torch.hypot(*(v if isinstance(v, torch.Tensor) else torch.tensor(v, dtype=torch.float64)
                                        for v in (a, b))),
    "sum": torch.sum, "mean": torch.mean, "var": torch.var, "std": torch.std,
    "logsumexp": torch.logsumexp, "softmax": torch.softmax, "log_softmax": torch.log_softmax,
    "cross_entropy": TF.cross_entropy, "nll_loss": TF.nll_loss, "mse_loss": TF.mse_loss,
    "binary_cross_entropy_with_logits": TF.binary_cross_entropy_with_logits,
    "matmul": torch.matmul, "transpose": torch.transpose, "squeeze": torch.squeeze,
    "unsqueeze": torch.unsqueeze, "flatten": torch.flatten, "narrow": torch.narrow,
    "max": lambda x, dim=None, keepdim=False: torch.max(x) if dim is None else torch.max(x, dim, keepdim).values,
    "min": lambda x, dim=None, keepdim=False: torch.min(x) if dim is None else torch.min(x, dim, keepdim).values,
    "cat": lambda *ts, dim=0: torch.cat(ts, dim), "stack": lambda *ts, dim=0: torch.stack(ts, dim),
    "reshape": torch.reshape, "permute": torch.permute,
}


def _linear(x, w, b=None, activation=None):
    y = TF.linear(x, w, b)
    return {None: lambda v: v, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
            "gelu": TF.gelu}[activation](y)


TORCH["linear"] = _linear


def _to_torch(a):
    if isinstance(a, fg.Tensor):
        t = torch.from_numpy(np.array(a.detach().numpy()))
        return t.requires_grad_(a.requires_grad)
    return a


def _kw(name, kw):
    kw = dict(kw)
    if "pos_weight" in kw:          # torch takes only a tensor here
        kw["pos_weight"] = torch.tensor(kw["pos_weight"], dtype=torch.float64)
    return kw


def _torch_args(name, targs):
    if name in ("maximum", "minimum"):   # torch takes only tensors here
        return [torch.tensor(a, dtype=torch.float64) if isinstance(a, float) else a for a in targs]
    return targs


@pytest.mark.parametrize("name", sorted(n for n in REGISTRY if n in TORCH))
def test_values_and_gradients_match_pytorch(name):
    info = REGISTRY[name]
    for s in info.samples(np.random.default_rng(3)):
        if not s.grad:
            continue
        args = materialize(s, np.float64, info.grad)
        targs = [_to_torch(a) for a in args]
        kw = _kw(name, s.kwargs)
        out = info.op(*args, **s.kwargs)
        tout = TORCH[name](*_torch_args(name, targs), **kw)
        np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name} {s}")
        xs = [a for a in args if isinstance(a, fg.Tensor) and a.requires_grad]
        txs = [t for t in targs if isinstance(t, torch.Tensor) and t.requires_grad]
        if not xs or out.numel() == 0:
            continue
        v = np.random.default_rng(4).standard_normal(out.shape)
        gs = fg.autograd.grad(out, xs, fg.tensor(v), allow_unused=True)
        tgs = torch.autograd.grad(tout, txs, torch.from_numpy(v), allow_unused=True)
        for g, tg in zip(gs, tgs):
            if tg is None:
                assert g is None or np.all(g.numpy() == 0)
                continue
            np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-9, atol=1e-11, err_msg=f"grad {name} {s}")
