"""Type-checked, never run: mypy (tests/test_typing.py) checks that the public API's
annotations give these types.  ``assert_type`` fails the check on any other type."""
from typing import Any

from typing_extensions import assert_type

import fastgrad as fg
import fastgrad.nn.functional as F
from fastgrad import nn, optim
from fastgrad.data import DataLoader, TensorDataset

x = fg.randn(3)
y = fg.randn(3, 3, requires_grad=True)
assert_type(x, fg.Tensor)
assert_type(fg.zeros(2, 3), fg.Tensor)
assert_type(fg.tensor([1.0, 2.0]), fg.Tensor)
assert_type(fg.arange(5), fg.Tensor)

# Tensor methods, operators and properties
assert_type(x.sum(), fg.Tensor)
assert_type(x.mean(0), fg.Tensor)
assert_type(x.exp(), fg.Tensor)
assert_type(x + 1, fg.Tensor)
assert_type(2 * x, fg.Tensor)
assert_type(x - y, fg.Tensor)
assert_type(x / 2.0, fg.Tensor)
assert_type(x ** 2, fg.Tensor)
assert_type(-x, fg.Tensor)
assert_type(x @ y, fg.Tensor)
assert_type(x > 0, fg.Tensor)
assert_type(y.T, fg.Tensor)
assert_type(y.reshape(9), fg.Tensor)
assert_type(y.float(), fg.Tensor)
assert_type(x.shape, tuple[int, ...])
assert_type(x.dtype, fg.dtype)
assert_type(x.grad, "fg.Tensor | None")
assert_type(x.requires_grad, bool)
assert_type(x.device, fg.device)
assert_type(x.item(), Any)
assert_type(x.numel(), int)

# ops at the top level
assert_type(fg.exp(x), fg.Tensor)
assert_type(fg.add(x, 1.0), fg.Tensor)
assert_type(fg.matmul(y, y), fg.Tensor)
assert_type(fg.cat([x, x]), fg.Tensor)
assert_type(fg.where(x > 0, x, y), fg.Tensor)
assert_type(fg.arcsin(x), fg.Tensor)
assert_type(fg.chunk(x, 3), tuple[fg.Tensor, ...])
assert_type(fg.equal(x, x), bool)

# nn, nn.functional
lin = nn.Linear(3, 2)
assert_type(lin(x), fg.Tensor)
assert_type(nn.Conv2d(1, 2, 3)(fg.randn(1, 1, 5, 5)), fg.Tensor)
assert_type(nn.Sequential(lin, nn.ReLU())(x), Any)
assert_type(F.relu(x), fg.Tensor)
assert_type(F.softmax(x, dim=0), fg.Tensor)
assert_type(F.conv2d(fg.randn(1, 1, 5, 5), fg.randn(2, 1, 3, 3)), fg.Tensor)
assert_type(F.cross_entropy(y, fg.tensor([0, 1, 2])), fg.Tensor)
assert_type(lin.train(), nn.Linear)
assert_type(list(lin.parameters()), list[nn.Parameter])

# optim
opt = optim.SGD(lin.parameters(), lr=0.1)
opt.zero_grad()
assert_type(opt.step(), None)
assert_type(opt.step(lambda: 1.5), float)

# autograd
loss = lin(x).sum()
loss.backward()
with fg.no_grad():
    assert_type(x * 2, fg.Tensor)


@fg.no_grad()
def predict(t: fg.Tensor) -> fg.Tensor:
    return lin(t)


assert_type(predict(x), fg.Tensor)
assert_type(fg.is_grad_enabled(), bool)

(gx,) = fg.autograd.grad(loss, [x])
assert_type(gx, "fg.Tensor | None")
assert_type(fg.autograd.gradcheck(fg.exp, (x,)), bool)

# data
ds = TensorDataset(y, y)
assert_type(ds[0], tuple[fg.Tensor, ...])
assert_type(len(ds), int)
loader = DataLoader(ds, batch_size=2)
assert_type(len(loader), int)
for batch in loader:
    assert_type(batch, Any)

# checkpoints, compile
fg.save(lin.state_dict(), "/dev/null")
assert_type(lin.state_dict(), dict[str, fg.Tensor])
step = fg.compile(predict)
sched = optim.lr_scheduler.StepLR(opt, step_size=1)
sched.step()
