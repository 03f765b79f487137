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
    m_e, step_e = _setup(kind, **kw)
    m_c, step_c = _setup(kind, **kw)
    for (_, a), (_, b) in zip(_params(m_e), _params(m_c)):
        np.testing.assert_array_equal(a, b)
    compiled = fg.compile(step_c)
    for i, (x, y) in enumerate(_batches(steps, batch, seq)):
        le = step_e(fg.from_numpy(x), fg.from_numpy(y))
        lc = compiled(fg.from_numpy(x), fg.from_numpy(y))
        assert lc._data.tobytes() == le._data.tobytes(), f"{kind}: loss differs at step {i}"
        for (name, a), (_, b) in zip(_params(m_e), _params(m_c)):
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
