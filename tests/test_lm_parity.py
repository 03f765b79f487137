"""Loss curves of character language models trained in fastgrad and in PyTorch from the
same weights on the same batches: a char-LSTM, a char-GRU and the tiny GPT-style
transformer of fastgrad.charlm (the same model code built with each library), 200 AdamW
steps in float32, dropout 0.  The final loss must be within 0.2% of PyTorch's and every
one of the last 50 within 0.5%."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import charlm, datasets, optim

torch = pytest.importorskip("torch")

STEPS = 200


def _curves(kind, hidden, layers, batch, seq_len, lr, heads=4):
    text = datasets.tiny_shakespeare("train")
    vocab = datasets.CharVocab(datasets.tiny_shakespeare())
    data = vocab.encode(text)._data
    torch.manual_seed(0)
    tm = charlm.build_model(kind, len(vocab), hidden=hidden, layers=layers, heads=heads,
                            block_size=seq_len, lib=torch)
    fm = charlm.build_model(kind, len(vocab), hidden=hidden, layers=layers, heads=heads,
                            block_size=seq_len)
    state = {k: v.detach().numpy().copy() for k, v in tm.state_dict().items()}
    assert set(state) == set(fm.state_dict())
    fm.load_state_dict(state)
    topt = torch.optim.AdamW(tm.parameters(), lr=lr, weight_decay=0.01)
    fopt = optim.AdamW(fm.parameters(), lr=lr, weight_decay=0.01)
    rng = np.random.default_rng(0)
    tl, fl = [], []
    for _ in range(STEPS):
        x, y = charlm.get_batch(data, batch, seq_len, rng)
        logits, _ = tm(torch.from_numpy(x))
        loss = charlm.lm_loss(logits, torch.from_numpy(y), F=torch.nn.functional)
        topt.zero_grad()
        loss.backward()
        topt.step()
        tl.append(loss.item())
        logits, _ = fm(fg.from_numpy(x))
        loss = charlm.lm_loss(logits, fg.from_numpy(y))
        fopt.zero_grad()
        loss.backward()
        fopt.step()
        fl.append(loss.item())
    return np.array(tl), np.array(fl)


def _check(tl, fl):
    rel = np.abs(fl - tl) / tl
    assert rel[0] < 1e-5, (tl[0], fl[0])                  # the same weights give the same loss
    assert tl[-1] < tl[0] - 1.0                            # the run learned something
    assert rel[-1] <= 0.002, f"final loss {fl[-1]} vs PyTorch {tl[-1]} (rel {rel[-1]:.2e})"
    worst = int(np.argmax(rel[-50:])) + STEPS - 50
    assert rel[-50:].max() <= 0.005, (f"step {worst + 1}: loss {fl[worst]} vs PyTorch {tl[worst]} "
                                      f"(rel {rel[worst]:.2e})")


@pytest.fixture
def one_thread():
    before = fg.get_num_threads(), torch.get_num_threads()
    fg.set_num_threads(1)
    torch.set_num_threads(1)
    yield
    fg.set_num_threads(before[0])
    torch.set_num_threads(before[1])


def test_char_lstm_loss_curve_follows_pytorch(one_thread):
    _check(*_curves("lstm", hidden=64, layers=1, batch=16, seq_len=32, lr=1e-2))


def test_char_gru_loss_curve_follows_pytorch(one_thread):
    _check(*_curves("gru", hidden=48, layers=2, batch=16, seq_len=24, lr=1e-2))


def test_tiny_transformer_loss_curve_follows_pytorch(one_thread):
    _check(*_curves("transformer", hidden=32, layers=2, batch=16, seq_len=32, lr=3e-3))
