"""Bad calls raise exceptions that PyTorch code catches: for every call below PyTorch
raises, and ``pytest.raises(type(torch_exception))`` also catches fastgrad's exception
(fastgrad's classes derive from RuntimeError where PyTorch raises RuntimeError, and keep
their ValueError/TypeError/IndexError base, see fastgrad.errors)."""
import numpy as np
import pytest

import fastgrad as fg

torch = pytest.importorskip("torch")


def _t(L, shape, rg=False):
    a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) / 7.0 + 1.0
    return L.tensor(a, requires_grad=rg)


def _F(L):
    return fg.nn.functional if L is fg else torch.nn.functional


BAD_SHAPES = [((2, 3), (4,)), ((2, 3), (3, 2)), ((4, 1, 3), (2, 2)), ((5,), (2, 5, 3))]
BINARY = {
    "add": lambda L, a, b: a + b, "sub": lambda L, a, b: L.sub(a, b), "mul": lambda L, a, b: a * b,
    "div": lambda L, a, b: a / b, "pow": lambda L, a, b: a ** b, "maximum": lambda L, a, b: L.maximum(a, b),
    "minimum": lambda L, a, b: L.minimum(a, b), "eq": lambda L, a, b: a == b, "lt": lambda L, a, b: a < b,
    "ge": lambda L, a, b: L.ge(a, b), "atan2": lambda L, a, b: L.atan2(a, b),
    "where": lambda L, a, b: L.where(a > 1, a, b), "add_": lambda L, a, b: a.clone().add_(b),
    "mul_": lambda L, a, b: a.clone().mul_(b), "copy_": lambda L, a, b: a.clone().copy_(b),
    "mse_loss": lambda L, a, b: _F(L).mse_loss(a, b),
}
CASES = {}
for _name, _f in BINARY.items():
    for _sa, _sb in BAD_SHAPES:
        CASES[f"{_name} {_sa} {_sb}"] = (lambda f, sa, sb: lambda L: f(L, _t(L, sa), _t(L, sb)))(_f, _sa, _sb)

MATMUL_SHAPES = [((2, 3), (4, 2)), ((3,), (4,)), ((2, 3), (2,)), ((4,), (3, 2)), ((2, 2, 3), (3, 4, 2)),
                 ((5, 2, 3), (4, 3, 2))]
for _sa, _sb in MATMUL_SHAPES:
    CASES[f"matmul {_sa} {_sb}"] = (lambda sa, sb: lambda L: _t(L, sa) @ _t(L, sb))(_sa, _sb)
CASES.update({
    "mm": lambda L: L.mm(_t(L, (2, 3)), _t(L, (4, 2))),
    "bmm": lambda L: L.bmm(_t(L, (2, 2, 3)), _t(L, (3, 3, 2))),
    "linear": lambda L: _F(L).linear(_t(L, (2, 3)), _t(L, (4, 2))),
    "linear bias": lambda L: _F(L).linear(_t(L, (2, 3)), _t(L, (4, 3)), _t(L, (5,))),
    "nn.Linear input": lambda L: L.nn.Linear(3, 2)(_t(L, (4, 5))),
    "addmm": lambda L: L.addmm(_t(L, (2, 2)), _t(L, (2, 3)), _t(L, (4, 2))),
    "cat": lambda L: L.cat([_t(L, (2, 3)), _t(L, (2, 4))]),
    "stack": lambda L: L.stack([_t(L, (2, 3)), _t(L, (2, 4))]),
    "reshape": lambda L: _t(L, (2, 3)).reshape(4, 2),
    "view": lambda L: _t(L, (2, 3)).view(5),
    "expand": lambda L: _t(L, (2, 3)).expand(4, 3),
    "permute repeated": lambda L: _t(L, (2, 3)).permute(0, 0),
    "split 0": lambda L: _t(L, (2, 3)).split(0, 1),
    "chunk 0": lambda L: _t(L, (2, 3)).chunk(0),
    "flatten dims": lambda L: _t(L, (2, 3, 4)).flatten(2, 1),
    "setitem shape": lambda L: _t(L, (2, 3)).__setitem__(0, _t(L, (4,))),
    "conv2d channels": lambda L: _F(L).conv2d(_t(L, (1, 2, 5, 5)), _t(L, (4, 3, 3, 3))),
    "layer_norm shape": lambda L: _F(L).layer_norm(_t(L, (2, 3)), (4,)),
    "item of many": lambda L: _t(L, (2, 3)).item(),
    "bool of many": lambda L: bool(_t(L, (2, 3))),
    "max of empty": lambda L: L.zeros(0).max(),
    "zeros negative": lambda L: L.zeros(-1),
    "masked_fill int mask": lambda L: _t(L, (2,)).masked_fill(L.tensor([1, 0]), 0.0),
    "gather out of range": lambda L: _t(L, (2, 3)).gather(1, L.tensor([[0, 9]])),
    "scatter_add out of range": lambda L: L.zeros(2, 3).scatter_add(1, L.tensor([[5]]), _t(L, (1, 1))),
    "index out of range": lambda L: _t(L, (2, 3))[5],
    "index tensor out of range": lambda L: _t(L, (2, 3))[L.tensor([0, 7])],
    "index_select out of range": lambda L: _t(L, (2, 3)).index_select(0, L.tensor([4])),
    "embedding out of range": lambda L: _F(L).embedding(L.tensor([5]), _t(L, (3, 2))),
    "cross_entropy batch": lambda L: _F(L).cross_entropy(_t(L, (2, 3)), L.tensor([0, 1, 2])),
    "requires_grad int": lambda L: L.tensor([1, 2]).requires_grad_(),
    "numpy of grad tensor": lambda L: _t(L, (2,), rg=True).numpy(),
    "len of 0-d": lambda L: len(L.tensor(1.0)),
    "backward twice": lambda L: (lambda y: (y.backward(), y.backward()))(_t(L, (3,), rg=True).exp().sum()),
    "backward non-scalar": lambda L: (_t(L, (3,), rg=True) * 2).backward(),
    "backward without grad": lambda L: _t(L, (3,)).sum().backward(),
    "grad of unused input": lambda L: L.autograd.grad(_t(L, (2,), rg=True).sum(), [_t(L, (2,), rg=True)]),
    "in-place on saved tensor": lambda L: (lambda x: (lambda y: (x.mul_(2), y.sum().backward()))(x * x))(
        _t(L, (3,), rg=True) * 1),
    "in-place on leaf": lambda L: _t(L, (3,), rg=True).add_(1),
})
for _op in ("sum", "mean", "amax", "softmax", "log_softmax", "cumsum", "argmax", "squeeze", "unsqueeze",
            "std", "var", "logsumexp", "prod"):
    CASES[f"{_op} dim out of range"] = (lambda op: lambda L: getattr(_t(L, (2, 3)), op)(
        5 if op != "unsqueeze" else 4))(_op)
for _call in ("transpose(0, 4)", "flatten(0, 3)", "narrow(3, 0, 1)", "movedim(0, 3)"):
    CASES[f"{_call} out of range"] = (lambda c: lambda L: eval(f"x.{c}", {"x": _t(L, (2, 3))}))(_call)


def _T(L, *shape, rg=False):
    return _t(L, shape, rg)


CASES.update({
    "max_pool2d 1d": lambda L: _F(L).max_pool2d(_T(L, 3), 2),
    "avg_pool2d big kernel": lambda L: _F(L).avg_pool2d(_T(L, 1, 1, 2, 2), 5),
    "conv1d weight dims": lambda L: _F(L).conv1d(_T(L, 1, 2, 5), _T(L, 3, 2)),
    "conv2d groups": lambda L: _F(L).conv2d(_T(L, 1, 4, 5, 5), _T(L, 4, 2, 3, 3), groups=3),
    "batch_norm shape": lambda L: _F(L).batch_norm(_T(L, 4, 3), _T(L, 5), _T(L, 5)),
    "nll target": lambda L: _F(L).nll_loss(_T(L, 2, 3), L.tensor([0, 3])),
    "bce range": lambda L: _F(L).binary_cross_entropy(_T(L, 3), _T(L, 3)),
    "embedding float idx": lambda L: _F(L).embedding(_T(L, 2), _T(L, 3, 2)),
    "softmax no dim 3d ok?": lambda L: _F(L).softmax(_T(L, 2, 3), dim=2),
    "sum dims dup": lambda L: _T(L, 2, 3).sum((0, 0)),
    "view noncontig": lambda L: _T(L, 2, 3).t().view(6),
    "repeat few": lambda L: _T(L, 2, 3).repeat(2),
    "expand fewer": lambda L: _T(L, 2, 3).expand(3),
    "unflatten": lambda L: _T(L, 2, 6).reshape(2, -1, -1),
    "narrow oob": lambda L: _T(L, 2, 3).narrow(1, 2, 4),
    "topk k big": lambda L: _T(L, 2, 3).topk(5),
    "kthvalue": lambda L: _T(L, 3).sort(dim=3),
    "cumsum dim": lambda L: _T(L, 3).cumsum(1),
    "scatter shape": lambda L: L.zeros(2, 3).scatter(1, L.tensor([[0, 1, 2, 0]]), _T(L, 1, 2)),
    "einsum bad": lambda L: L.einsum("ij,jk->ik", _T(L, 2, 3), _T(L, 4, 2)),
    "outer 2d": lambda L: L.outer(_T(L, 2, 2), _T(L, 2)),
    "dot mismatch": lambda L: L.dot(_T(L, 2), _T(L, 3)),
    "clamp none": lambda L: _T(L, 2).clamp(),
    "split sizes": lambda L: _T(L, 5).split([2, 2]),
    "stack empty": lambda L: L.stack([]),
    "cat empty": lambda L: L.cat([]),
    "pad odd": lambda L: _F(L).pad(_T(L, 2, 3), (1,)),
    "pad reflect big": lambda L: _F(L).pad(_T(L, 1, 2, 3), (5, 5), mode="reflect"),
    "layer_norm weight": lambda L: _F(L).layer_norm(_T(L, 2, 3), (3,), _T(L, 4)),
    "dropout p": lambda L: _F(L).dropout(_T(L, 3), p=1.5),
    "one_hot neg": lambda L: _F(L).one_hot(L.tensor([-1, 0])),
    "one_hot float": lambda L: _F(L).one_hot(_T(L, 2)),
    "mse grad twice": lambda L: (lambda loss: (loss.backward(), loss.backward()))(
        _F(L).mse_loss(_T(L, 3, rg=True) * 2, _T(L, 3))),
    "randint empty": lambda L: L.randint(3, 3, (2,)),
    "arange step 0": lambda L: L.arange(0, 5, 0),
    "full bad size": lambda L: L.full((-1,), 1.0),
    "eye neg": lambda L: L.eye(-1),
    "tensor ragged": lambda L: L.tensor([[1, 2], [3]]),
    "item empty": lambda L: L.zeros(0).item(),
    "matmul 0d": lambda L: L.tensor(1.0) @ _T(L, 2),
    "bmm 2d": lambda L: L.bmm(_T(L, 2, 2), _T(L, 2, 2)),
    "mm 1d": lambda L: L.mm(_T(L, 2), _T(L, 2, 2)),
    "addmm broadcast": lambda L: L.addmm(_T(L, 3, 3), _T(L, 2, 2), _T(L, 2, 2)),
    "where cond float": lambda L: L.where(_T(L, 2), _T(L, 2), _T(L, 2)),
    "masked_fill shape": lambda L: _T(L, 2, 3).masked_fill(L.tensor([True, False]), 0.),
    "index bool mask shape": lambda L: _T(L, 2, 3)[L.tensor([True, False, True])],
    "setitem oob": lambda L: _T(L, 3).__setitem__(5, 1.0),
    "unsqueeze big": lambda L: _T(L, 3).unsqueeze(-3),
    "squeeze big": lambda L: _T(L, 3).squeeze(1),
    "permute count": lambda L: _T(L, 2, 3).permute(0),
    "transpose 1d": lambda L: _T(L, 3).transpose(0, 1),
    "chunk dim": lambda L: _T(L, 3).chunk(2, dim=1),
    "flip dim": lambda L: _T(L, 3).flip(1),
    "roll mismatch": lambda L: _T(L, 3).roll((1, 2), (0,)),
    "gather dims": lambda L: _T(L, 2, 3).gather(1, L.tensor([0, 1])),
    "log_softmax dim": lambda L: _F(L).log_softmax(_T(L, 3), dim=1),
    "grad non-scalar": lambda L: L.autograd.grad((_T(L, 2, rg=True) * 2), [_T(L, 2, rg=True)]),
    "grad no-grad output": lambda L: L.autograd.grad(_T(L, 2).sum(), [_T(L, 2, rg=True)]),
    "retain_grad nograd": lambda L: _T(L, 2).retain_grad(),
    "hook nograd": lambda L: _T(L, 2).register_hook(lambda g: g),
    "requires_grad nonleaf False": lambda L: (_T(L, 2, rg=True) * 2).requires_grad_(False),
    "backward grad shape": lambda L: (_T(L, 2, rg=True) * 2).backward(_T(L, 3)),
})


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(CASES))
def test_fastgrad_raises_what_torch_code_catches(name):
    call = CASES[name]
    with pytest.raises(Exception) as te:
        call(torch)
    with pytest.raises(type(te.value)):
        call(fg)


def test_error_classes_keep_their_builtin_bases():
    assert issubclass(fg.ShapeError, ValueError) and issubclass(fg.ShapeError, RuntimeError)
    assert issubclass(fg.ArgumentError, ValueError) and issubclass(fg.ArgumentError, RuntimeError)
    assert issubclass(fg.DtypeError, TypeError) and issubclass(fg.DtypeError, RuntimeError)
    assert issubclass(fg.IndexOutOfRangeError, IndexError) and issubclass(fg.IndexOutOfRangeError, RuntimeError)
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        fg.ones(2, 3) + fg.ones(4)
    with pytest.raises(fg.ShapeError, match="matmul: cannot multiply shapes"):
        fg.ones(2, 3) @ fg.ones(4, 2)
