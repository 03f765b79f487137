"""Small training programs written the way PyTorch programs are written (``import fastgrad as
torch``), covering the idioms public training scripts use: DataLoader with worker processes,
an infinite sampler, ``.item()`` in formatted logs, evaluation under ``no_grad``, a
``get_batch`` from a uint16 memmap, GradScaler and autocast as a CPU script leaves them,
checkpoints, float64 models and closures.  Each program must train (its loss falls) and,
where workers are used, give the same losses as with ``num_workers=0``."""
import contextlib
import io
import itertools
import math

import numpy as np
import pytest

import fastgrad as torch
import fastgrad.nn as nn
import fastgrad.nn.functional as F
import fastgrad.optim as optim
from fastgrad.optim.lr_scheduler import StepLR
from fastgrad.utils.data import DataLoader, Dataset

WAIT = 60


# ---- an image classifier fed by worker processes ----------------------------------------------
class SignImages(Dataset):
    """1x12x12 images; the label says which quadrant is brightest (learnable)."""

    def __init__(self, n, seed):
        r = np.random.default_rng(seed)
        self.x = r.standard_normal((n, 1, 12, 12)).astype(np.float32)
        self.y = r.integers(0, 4, n)
        for i, c in enumerate(self.y):
            a, b = divmod(int(c), 2)
            self.x[i, 0, a * 6:(a + 1) * 6, b * 6:(b + 1) * 6] += 1.5

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


class SmallCNN(nn.Module):
    def __init__(self):
        super(SmallCNN, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.dropout = nn.Dropout(0.1)
        self.fc1 = nn.Linear(8 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


def _train_cnn(num_workers):
    torch.manual_seed(1)
    kwargs = {"batch_size": 16}
    if num_workers:
        kwargs.update({"num_workers": num_workers, "persistent_workers": True, "pin_memory": True,
                       "timeout": WAIT})
    train_loader = DataLoader(SignImages(192, 0), shuffle=True, **kwargs)
    test_loader = DataLoader(SignImages(64, 1), **kwargs)
    device = "cpu"
    model = SmallCNN().to(device)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    log, losses = io.StringIO(), []
    for epoch in range(1, 4):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if batch_idx % 4 == 0:
                print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                    epoch, batch_idx * len(data), len(train_loader.dataset),
                    100. * batch_idx / len(train_loader), loss.item()), file=log)
        scheduler.step()
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for data, target in test_loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view(pred.shape)).sum().item()
    test_loss /= len(test_loader.dataset)
    print('Test set: Average loss: {:.4f}, Accuracy: {}/{}'.format(test_loss, correct,
                                                                    len(test_loader.dataset)), file=log)
    return losses, correct, log.getvalue()


def test_cnn_with_worker_processes_trains_and_matches_single_process():
    losses, correct, log = _train_cnn(num_workers=2)
    assert np.mean(losses[-6:]) < 0.6 * np.mean(losses[:6])
    assert correct >= 40                                   # of 64; chance is 16
    assert "Train Epoch: 3" in log and "Accuracy:" in log
    losses0, correct0, _ = _train_cnn(num_workers=0)
    np.testing.assert_allclose(losses, losses0, rtol=1e-5)
    assert correct == correct0


# ---- a character model fed by an "infinite" loader ---------------------------------------------
class CharDataset(Dataset):
    def __init__(self, words):
        self.chars = sorted(set("".join(words)))
        self.stoi = {ch: i + 1 for i, ch in enumerate(self.chars)}
        self.words = words
        self.max_len = max(len(w) for w in words)

    def get_vocab_size(self):
        return len(self.chars) + 1

    def __len__(self):
        return len(self.words)

    def __getitem__(self, idx):
        word = self.words[idx]
        ix = torch.tensor([self.stoi[w] for w in word], dtype=torch.long)
        x = torch.zeros(self.max_len + 1, dtype=torch.long)
        y = torch.zeros(self.max_len + 1, dtype=torch.long)
        x[1:1 + len(ix)] = ix
        y[:len(ix)] = ix
        y[len(ix) + 1:] = -1
        return x, y


class InfiniteLoader:
    def __init__(self, dataset, **kwargs):
        sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=int(1e10))
        self.loader = DataLoader(dataset, sampler=sampler, **kwargs)
        self.it = iter(self.loader)

    def next(self):
        try:
            return next(self.it)
        except StopIteration:
            self.it = iter(self.loader)
            return next(self.it)


class CharMLP(nn.Module):
    def __init__(self, vocab, block, emb=16, hidden=64):
        super().__init__()
        self.block, self.vocab = block, vocab
        self.wte = nn.Embedding(vocab + 1, emb)
        self.mlp = nn.Sequential(nn.Linear(block * emb, hidden), nn.Tanh(), nn.Linear(hidden, vocab))

    def forward(self, idx, targets=None):
        embs = []
        for _ in range(self.block):
            embs.append(self.wte(idx))
            idx = torch.roll(idx, 1, 1)
            idx[:, 0] = self.vocab
        logits = self.mlp(torch.cat(embs, -1))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss


@torch.no_grad()
def _evaluate(model, dataset, batch_size=50, max_batches=None):
    model.eval()
    loader = DataLoader(dataset, shuffle=True, batch_size=batch_size, num_workers=0)
    losses = []
    for i, (X, Y) in enumerate(loader):
        losses.append(model(X, Y)[1].item())
        if max_batches is not None and i >= max_batches:
            break
    model.train()
    return torch.tensor(losses).mean().item()


def _train_chars(num_workers, steps=60):
    rnd = np.random.default_rng(0)
    syl = ["an", "el", "ia", "mo", "ra", "li"]
    words = sorted({"".join(rnd.choice(syl, size=rnd.integers(1, 4))) for _ in range(400)})
    torch.manual_seed(3407)
    ds = CharDataset(words)
    model = CharMLP(ds.get_vocab_size(), 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01, betas=(0.9, 0.99),
                                  eps=1e-8)
    kw = {"num_workers": num_workers, "timeout": WAIT} if num_workers else {}
    batches = InfiniteLoader(ds, batch_size=32, pin_memory=True, **kw)
    before = _evaluate(model, ds)
    log = []
    for step in range(steps):
        X, Y = [t.to("cpu") for t in batches.next()]
        logits, loss = model(X, Y)
        model.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        log.append(f"step {step} | loss {loss.item():.4f}")
    return before, _evaluate(model, ds), log, model


def test_character_model_with_infinite_sampler_and_workers():
    before, after, log, model = _train_chars(num_workers=2)
    assert after < 0.8 * before
    assert log[-1].startswith("step 59 | loss ")
    _, _, log0, _ = _train_chars(num_workers=0)
    assert log == log0                     # same batches, same order, same losses
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    clone = CharMLP(model.vocab, model.block)
    clone.load_state_dict(torch.load(buf))
    X = torch.zeros(4, 5, dtype=torch.long)
    np.testing.assert_array_equal(clone(X)[0].detach().numpy(), model(X)[0].detach().numpy())


# ---- a GPT-style loop: memmap batches, GradScaler, autocast left off, checkpoints ----------------
def test_memmap_batches_grad_scaler_and_checkpoint(tmp_path):
    pattern = np.tile(np.arange(8, dtype=np.uint16), 500)           # a predictable stream
    pattern.tofile(tmp_path / "train.bin")
    block_size, batch_size, vocab = 8, 8, 8
    dtype = "float16"                                  # what a CPU-only machine picks in such scripts
    device_type = "cpu"
    ctx = contextlib.nullcontext() if device_type == "cpu" else torch.amp.autocast(device_type=device_type)

    def get_batch():
        data = np.memmap(tmp_path / "train.bin", dtype=np.uint16, mode="r")
        ix = torch.randint(len(data) - block_size, (batch_size,))
        x = torch.stack([torch.from_numpy((data[i:i + block_size]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i + 1:i + 1 + block_size]).astype(np.int64)) for i in ix])
        return x.to(device_type), y.to(device_type)

    torch.manual_seed(1337)
    model = nn.Sequential(nn.Embedding(vocab, 16), nn.Linear(16, vocab))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-2, betas=(0.9, 0.95))
    scaler = torch.amp.GradScaler(enabled=False)          # as torch.cuda.amp.GradScaler on a CPU run
    assert dtype == "float16" and not scaler.is_enabled()

    @torch.no_grad()
    def estimate_loss(eval_iters=4):
        model.eval()
        losses = torch.zeros(eval_iters)
        for k in range(eval_iters):
            X, Y = get_batch()
            with ctx:
                logits = model(X)
                loss = F.cross_entropy(logits.view(-1, vocab), Y.view(-1))
            losses[k] = loss.item()
        model.train()
        return losses.mean()

    start = estimate_loss().item()
    X, Y = get_batch()
    for it in range(40):
        lr = 3e-2 * 0.5 * (1 + math.cos(math.pi * it / 40))
        for group in optimizer.param_groups:
            group["lr"] = lr
        for micro in range(2):
            with ctx:
                loss = F.cross_entropy(model(X).view(-1, vocab), Y.view(-1)) / 2
            X, Y = get_batch()
            scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
    end = estimate_loss().item()
    assert end < 0.3 * start, (start, end)
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "iter_num": 40,
                  "best_val_loss": end, "scaler": scaler.state_dict()}
    torch.save(checkpoint, tmp_path / "ckpt.pt")
    ck = torch.load(tmp_path / "ckpt.pt")
    model2 = nn.Sequential(nn.Embedding(vocab, 16), nn.Linear(16, vocab))
    model2.load_state_dict(ck["model"])
    opt2 = torch.optim.AdamW(model2.parameters(), lr=3e-2)
    opt2.load_state_dict(ck["optimizer"])
    assert ck["iter_num"] == 40 and ck["scaler"] == {}
    np.testing.assert_array_equal(model2(X).detach().numpy(), model(X).detach().numpy())


# ---- a float64 recurrent model trained through a closure ----------------------------------------
class Cell(nn.Module):
    def __init__(self, i, h):
        super().__init__()
        self.ih, self.hh = nn.Linear(i, 4 * h), nn.Linear(h, 4 * h)

    def forward(self, x, hc):
        h, c = hc
        i, f, g, o = (self.ih(x) + self.hh(h)).chunk(4, 1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c


class Sequence(nn.Module):
    def __init__(self):
        super(Sequence, self).__init__()
        self.cell = Cell(1, 16)
        self.linear = nn.Linear(16, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), 16, dtype=torch.double)
        c_t = torch.zeros(input.size(0), 16, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.cell(input_t, (h_t, c_t))
            output = self.linear(h_t)
            outputs += [output]
        for _ in range(future):
            h_t, c_t = self.cell(output, (h_t, c_t))
            output = self.linear(h_t)
            outputs += [output]
        return torch.cat(outputs, dim=1)


def test_double_recurrent_model_with_closure():
    np.random.seed(2)
    x = np.arange(40) + np.random.randint(-20, 20, 6).reshape(6, 1)
    data = np.sin(x / 4.0).astype("float64")
    torch.manual_seed(0)
    inputs, target = torch.from_numpy(data[1:, :-1]), torch.from_numpy(data[1:, 1:])
    seq = Sequence()
    seq.double()
    criterion = nn.MSELoss()
    optimizer = optim.Adam(seq.parameters(), lr=0.02)
    losses = []
    for _ in range(25):
        def closure():
            optimizer.zero_grad()
            loss = criterion(seq(inputs), target)
            losses.append(loss.item())
            loss.backward()
            return loss
        optimizer.step(closure)
    assert losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        pred = seq(torch.from_numpy(data[:1, :-1]), future=5)
        y = pred.detach().numpy()
    assert y.shape == (1, 44) and y.dtype == np.float64


# ---- the idioms of a tutorial's evaluation loop -------------------------------------------------
def test_tutorial_evaluation_idioms():
    torch.manual_seed(0)
    classes = ('plane', 'car', 'bird', 'cat')
    ds = SignImages(32, 3)
    loader = DataLoader(ds, batch_size=4, shuffle=False, num_workers=2, timeout=WAIT)
    net = SmallCNN()
    dataiter = iter(loader)
    images, labels = next(dataiter)
    names = ' '.join('%5s' % classes[labels[j]] for j in range(4))
    assert len(names.split()) == 4
    outputs = net(images)
    _, predicted = torch.max(outputs, 1)
    correct, total = 0, 0
    class_correct = list(0. for i in range(4))
    class_total = list(0. for i in range(4))
    with torch.no_grad():
        for data in loader:
            images, labels = data
            outputs = net(images)
            _, predicted = torch.max(outputs, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            c = (predicted == labels).squeeze()
            for i in range(4):
                label = labels[i]
                class_correct[label] += c[i].item()
                class_total[label] += 1
    assert total == 32 and sum(class_total) == 32 and sum(class_correct) == correct
    print('Accuracy: %d %%' % (100 * correct / total), file=io.StringIO())
    del dataiter


# ---- an endless regression loop with a stop criterion -------------------------------------------
def test_regression_until_converged():
    torch.manual_seed(0)
    W_target = torch.randn(3, 1) * 2
    b_target = torch.randn(1) * 2

    def get_batch(batch_size=32):
        x = torch.randn(batch_size).unsqueeze(1)
        x = torch.cat([x ** i for i in range(1, 4)], 1)
        return x, x.mm(W_target) + b_target.item()

    fc = nn.Linear(W_target.size(0), 1)
    opt = optim.SGD(fc.parameters(), lr=0.05)
    for batch_idx in itertools.count(1):
        batch_x, batch_y = get_batch()
        fc.zero_grad()
        output = F.smooth_l1_loss(fc(batch_x), batch_y)
        loss = output.item()
        output.backward()
        opt.step()
        if loss < 1e-3 or batch_idx > 5000:
            break
    assert loss < 1e-3
    assert 'Loss: {:.6f} after {} batches'.format(loss, batch_idx).startswith("Loss: 0.000")


@pytest.mark.parametrize("name", ["DataLoader", "Dataset", "RandomSampler", "random_split"])
def test_torch_style_attribute_paths(name):
    assert getattr(torch.utils.data, name) is getattr(torch.data, name)


# ---- device-agnostic script habits, one program ---------------------------------------------
def _device_agnostic_program(lib, steps=60):
    """A character model written the way device-agnostic PyTorch scripts are: device
    queries, factories and modules on a device, manual SGD on Parameters under no_grad
    and through .data, Parameter indexing, an LSTMCell, sampling with multinomial, f-string
    logs of 0-d tensors, inference_mode, LBFGS and Adadelta.  ``lib`` is fastgrad or torch:
    the same source runs on both."""
    nn_, F_ = lib.nn, lib.nn.functional
    device = lib.device("cuda" if lib.cuda.is_available() else "cpu")
    if lib.accelerator.is_available():
        device = lib.accelerator.current_accelerator()
    lib.manual_seed(0)
    vocab, hidden = 7, 16
    text = lib.tensor([i % vocab for i in range(200)], dtype=lib.long, device=device)

    class Model(nn_.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn_.Parameter(lib.randn(vocab, hidden, device=device) * 0.1)
            self.cell = nn_.LSTMCell(hidden, hidden)
            self.head = nn_.Linear(hidden, vocab)

        def forward(self, idx):
            h = c = lib.zeros(idx.shape[0], hidden, device=device)
            logits = []
            for t in range(idx.shape[1]):
                h, c = self.cell(self.embed[idx[:, t]], (h, c))
                logits.append(self.head(h))
            return lib.stack(logits, 1)

    model = Model().to(device)
    logs = []
    for step in range(steps):
        starts = lib.randint(0, 200 - 9, (8,), device=device)
        batch = lib.stack([text[int(s):int(s) + 9] for s in starts])
        x, y = batch[:, :-1], batch[:, 1:]
        loss = F_.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
        model.zero_grad()
        loss.backward()
        with lib.no_grad():
            for i, p in enumerate(model.parameters()):
                if i % 2:
                    p -= 2.0 * p.grad
                else:
                    p.data.add_(p.grad, alpha=-2.0)
        logs.append(f"step {step}: loss {loss:.4f}")
    with lib.inference_mode():
        probs = F_.softmax(model(text[:8].view(1, -1))[0, -1], dim=-1)
        nxt = lib.multinomial(probs, num_samples=4, replacement=True)
    assert nxt.shape == (4,) and int(nxt.max()) < vocab
    # the two optimizers the port checks met, on the head alone
    for opt in (lib.optim.Adadelta(model.head.parameters()), lib.optim.LBFGS(model.head.parameters(), max_iter=3)):
        def closure():
            opt.zero_grad()
            out = F_.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
            out.backward()
            return out
        opt.step(closure)
    return [float(s.split()[-1]) for s in logs]


@pytest.mark.parametrize("lib_name", ["fastgrad", "torch"])
def test_device_agnostic_program(lib_name):
    lib = torch if lib_name == "fastgrad" else pytest.importorskip("torch")
    losses = _device_agnostic_program(lib)
    assert losses[-1] < losses[0] * 0.8, losses     # it trains, on both libraries
