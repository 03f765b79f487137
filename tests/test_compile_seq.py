"""fastgrad.compile on sequence-model training steps: the charlm models (LSTM, GRU, the
GPT-style transformer) trained with AdamW, compiled and eagerly from the same weights,
give the same parameters bit for bit after every step, and the compiled step replays its
plan (no eager fallback)."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import charlm, optim

VOCAB = 11


def _setup(kind, **kw):
    fg.manual_seed(0)
    model = charlm.build_model(kind, VOCAB, **kw)
    opt = optim.AdamW(model.parameters(), lr=1e-2)

    def step(x, y):
        logits, _ = model(x)
        loss = charlm.lm_loss(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return model, step


def _batches(n, batch, seq, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, VOCAB, (batch, seq)), rng.integers(0, VOCAB, (batch, seq)))
            for _ in range(n)]


def _params(model):
    return [(n, p._data.copy()) for n, p in model.named_parameters()]


def _check(kind, steps=5, batch=3, seq=8, **kw):
    """Trains the model eagerly, then (re-seeded, so dropout draws the same masks) through
    fastgrad.compile from the same weights, comparing loss and parameters bit for bit after
    every step."""
    batches = _batches(steps, batch, seq)
    m_e, step_e = _setup(kind, **kw)
    eager = []
    for x, y in batches:
        loss = step_e(fg.from_numpy(x), fg.from_numpy(y))
        eager.append((loss._data.tobytes(), _params(m_e)))
    m_c, step_c = _setup(kind, **kw)
    compiled = fg.compile(step_c)
    for i, ((x, y), (le, pe)) in enumerate(zip(batches, eager)):
        lc = compiled(fg.from_numpy(x), fg.from_numpy(y))
        assert lc._data.tobytes() == le, f"{kind}: loss differs at step {i}"
        for (name, a), (_, b) in zip(pe, _params(m_c)):
            assert a.tobytes() == b.tobytes(), f"{kind}: {name} differs after step {i}"
    st = compiled.stats
    assert st["plans"] == 1 and st["eager_calls"] == 0, st
    assert st["traces"] == 1 and st["replays"] == steps - 1, st
    assert all(v["mode"] == "compiled" for v in compiled.plan_info())


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_recurrent_lm_compiled_equals_eager(kind, layers):
    _check(kind, hidden=16, layers=layers)


def test_recurrent_lm_compiled_batch_of_one():
    # one sequence, one time step: the unbind/stack pieces are whole arrays
    _check("gru", steps=3, batch=1, seq=1, hidden=8, layers=1)


@pytest.mark.parametrize("layers", [1, 2])
def test_transformer_lm_compiled_equals_eager(layers):
    # batched matmuls of 4-D heads, linear on (B, T, C), the causal where, softmax on the
    # last dim of (B, H, T, T), layer_norm on 3-D, embeddings of (B, T) ids
    _check("transformer", hidden=16, layers=layers, heads=2, block_size=8)


def test_transformer_lm_compiled_shorter_context():
    # T < block_size: the position ids are a slice of the buffer
    _check("transformer", steps=4, batch=2, seq=5, hidden=8, layers=1, heads=2, block_size=8)


def _pieces_check(make, steps=3, seed=1):
    """make() -> (params, fn(x) -> loss); trains with SGD, compiled vs eager, and
    compares losses, parameters and gradients bit for bit after every step."""
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((2, 3, 4, 5)).astype(np.float32) for _ in range(steps)]
    runs = []
    for compiled in (False, True):
        fg.manual_seed(0)
        params, fn = make()
        opt = optim.SGD(params, lr=0.1)

        def step(x):
            loss = fn(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        f = fg.compile(step) if compiled else step
        hist = []
        for x in xs:
            loss = f(fg.from_numpy(x))
            hist.append([loss._data.copy()] + [p._data.copy() for p in params]
                        + [p.grad._data.copy() for p in params])
        runs.append(hist)
        if compiled:
            st = f.stats
            assert st["plans"] == 1 and st["eager_calls"] == 0 and st["replays"] == steps - 1, st
    for i, (he, hc) in enumerate(zip(*runs)):
        for a, b in zip(he, hc):
            assert a.tobytes() == b.tobytes(), f"step {i} differs"


def test_broadcast_batched_matmul_backward():
    # w (3, 5, 6) broadcast over the leading batch dim of x (2, 3, 4, 5): its gradient
    # sums the product over that dim; v (6, 2) is a 2-D operand of a 4-D product
    def make():
        w = fg.randn(3, 5, 6, requires_grad=True)
        v = fg.randn(6, 2, requires_grad=True)

        def fn(x):
            xw = fg.matmul(x, w)
            return (fg.matmul(xw, v) ** 2).mean()
        return [w, v], fn
    _pieces_check(make)


def test_transposed_batched_operands_and_log_softmax():
    def make():
        w = fg.randn(5, 5, requires_grad=True)

        def fn(x):
            h = fg.matmul(x, w)                                   # (2, 3, 4, 5)
            s = fg.matmul(h, h.transpose(-2, -1))                 # (2, 3, 4, 4)
            ls = fg.nn.functional.log_softmax(s, dim=-1)
            return -(ls.sum(-1).mean()) + fg.nn.functional.softmax(h, -1).mean()
        return [w], fn
    _pieces_check(make)


def test_where_with_constant_mask_and_causal_attention():
    mask = fg.from_numpy(np.tril(np.ones((4, 4), dtype=bool)))
    upper = fg.from_numpy(~mask.numpy())

    def make():
        w = fg.randn(5, 5, requires_grad=True)

        def fn(x):
            h = fg.matmul(x, w)                                   # (2, 3, 4, 5)
            s = fg.matmul(h, h.transpose(-2, -1)).masked_fill(upper, -1e9)
            a = fg.nn.functional.scaled_dot_product_attention(h, h, h, is_causal=True)
            return fg.where(mask, s, 0.0).mean() + (a ** 2).mean()
        return [w], fn
    _pieces_check(make)


def test_attention_mask_is_read_at_every_call():
    # a bool attn_mask passed as an argument is an input of the plan, not a constant
    rng = np.random.default_rng(0)
    q = fg.from_numpy(rng.standard_normal((1, 2, 4, 3)).astype(np.float32))
    f = fg.compile(lambda m: fg.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=m))
    for seed in range(3):
        m = np.random.default_rng(seed).random((4, 4)) < 0.6
        m[:, 0] = True
        got = f(fg.from_numpy(m))
        want = fg.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=fg.from_numpy(m))
        assert got._data.tobytes() == want._data.tobytes()
    assert f.stats["replays"] == 2 and f.stats["eager_calls"] == 0, f.stats


@pytest.mark.parametrize("model,width", [("gru", "--hidden"), ("transformer", "--d-model")])
def test_train_charlm_compile_does_not_fall_back(model, width):
    import os
    import subprocess
    import sys
    argv = [sys.executable, "-m", "fastgrad", "train", "--task", "charlm", "--model", model,
            "--compile", "--steps", "3", width, "16", "--seq-len", "8", "--batch-size", "2",
            "--eval-batches", "1", "--sample-chars", "0", "--no-progress"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert r.returncode == 0, r.stderr
    assert "validation loss" in r.stdout, r.stdout
    assert "run eagerly" not in r.stderr, r.stderr


def test_bidirectional_lstm_with_dropout_and_initial_state():
    # cat of the two directions along the feature dim (a copy per dense block), dropout
    # between layers (drawn in C from the global generator), given initial states
    def run(compiled):
        fg.manual_seed(0)
        rnn = fg.nn.LSTM(5, 6, num_layers=2, bidirectional=True, dropout=0.3)
        head = fg.nn.Linear(12, 3)
        h0, c0 = fg.zeros(4, 2, 6), fg.ones(4, 2, 6)
        opt = optim.AdamW(list(rnn.parameters()) + list(head.parameters()), lr=1e-2)

        def step(x):
            y, (h, c) = rnn(x, (h0, c0))
            loss = (head(y) ** 2).mean() + h.sum() * 0.1 + c.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        f = fg.compile(step) if compiled else step
        rng = np.random.default_rng(0)
        hist = []
        for _ in range(4):
            loss = f(fg.from_numpy(rng.standard_normal((7, 2, 5)).astype(np.float32)))
            hist.append(loss._data.tobytes() + b"".join(p._data.tobytes() for p in rnn.parameters()))
        if compiled:
            assert f.stats["replays"] == 3 and f.stats["eager_calls"] == 0, f.stats
        return hist
    eager, compiled = run(False), run(True)
    for i, (a, b) in enumerate(zip(eager, compiled)):
        assert a == b, f"step {i} differs"


def test_transformer_lm_with_dropout_compiled_equals_eager():
    # attention dropout takes the composed path: batched matmuls, the causal mask (a plan
    # constant) through where, softmax, the dropout mask drawn in C
    _check("transformer", steps=4, hidden=16, layers=1, heads=2, block_size=8, dropout=0.2)
