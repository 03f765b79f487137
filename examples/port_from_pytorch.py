"""A PyTorch training loop ported to fastgrad by changing the imports.

The body below is ordinary PyTorch-style code; only the import block differs:

    import torch                              ->  import fastgrad as torch
    from torch import nn, optim               ->  from fastgrad import nn, optim
    import torch.nn.functional as F           ->  from fastgrad.nn import functional as F
    from torch.utils.data import DataLoader, TensorDataset
                                              ->  from fastgrad.data import DataLoader, TensorDataset

    python examples/port_from_pytorch.py
"""
import fastgrad as torch
from fastgrad import nn, optim
from fastgrad.nn import functional as F
from fastgrad.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self, d_in, d_hidden, n_classes):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.drop = nn.Dropout(0.1)
        self.fc2 = nn.Linear(d_hidden, n_classes)

    def forward(self, x):
        return self.fc2(self.drop(F.relu(self.fc1(x))))


torch.manual_seed(0)
n, d, k = 2048, 20, 4
centers = torch.randn(k, d) * 3
y = torch.randint(0, k, (n,))
x = centers[y] + torch.randn(n, d)

model = Net(d, 64, k)
optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True)

for epoch in range(10):
    model.train()
    total = 0.0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
        optimizer.step()
        total += loss.item() * xb.shape[0]
    scheduler.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(dim=1) == y).float().mean().item()
    print(f"epoch {epoch}: loss {total / n:.4f}  accuracy {acc:.3f}")

torch.save(model.state_dict(), "ported.fg")
model.load_state_dict(torch.load("ported.fg"))
