"""Recurrent layers and cells against PyTorch with copied weights: outputs, final states and
the gradients of every parameter, the input and the initial states, in float64."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn

torch = pytest.importorskip("torch")

TOL = 1e-10


def _pair(cls_name, *args, **kwargs):
    """A torch module and a fastgrad module of the same class with torch's weights."""
    tm = getattr(torch.nn, cls_name)(*args, dtype=torch.float64, **kwargs)
    fm = getattr(nn, cls_name)(*args, dtype=fg.float64, **kwargs)
    tsd = tm.state_dict()
    assert list(tsd) == list(fm.state_dict()), "state_dict keys differ from PyTorch's"
    for k, v in tsd.items():
        assert tuple(v.shape) == tuple(fm.state_dict()[k].shape), k
    fm.load_state_dict({k: fg.tensor(v.numpy().copy()) for k, v in tsd.items()})
    return tm, fm


def _leaves(rng, *shapes):
    arrs = [rng.standard_normal(s) for s in shapes]
    return ([torch.tensor(a, requires_grad=True) for a in arrs],
            [fg.tensor(a.copy(), requires_grad=True) for a in arrs])


def _flat(res):
    if isinstance(res, (tuple, list)):
        return [t for r in res for t in _flat(r)]
    return [res]


def _compare(tm, fm, t_res, f_res, t_in, f_in, rng):
    t_outs, f_outs = _flat(t_res), _flat(f_res)
    assert len(t_outs) == len(f_outs)
    for a, b in zip(t_outs, f_outs):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=0, atol=TOL)
    ws = [rng.standard_normal(tuple(a.shape)) for a in t_outs]
    sum(( a * torch.tensor(w)).sum() for a, w in zip(t_outs, ws)).backward()
    f_loss = None
    for b, w in zip(f_outs, ws):
        term = (b * fg.tensor(w)).sum()
        f_loss = term if f_loss is None else f_loss + term
    f_loss.backward()
    fparams = dict(fm.named_parameters())
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(fparams[name].grad.numpy(), p.grad.numpy(), rtol=0, atol=TOL,
                                   err_msg=f"gradient of {name}")
    for a, b in zip(t_in, f_in):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=0, atol=TOL)


@pytest.mark.parametrize("cls_name,kw", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}),
                                          ("LSTMCell", {}), ("GRUCell", {}),
                                          ("RNNCell", {"bias": False}), ("LSTMCell", {"bias": False}),
                                          ("GRUCell", {"bias": False})])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cell_matches_torch(cls_name, kw, batched, with_state):
    rng = np.random.default_rng(0)
    tm, fm = _pair(cls_name, 5, 4, **kw)
    lead = (3,) if batched else ()
    n_state = (2 if cls_name == "LSTMCell" else 1) if with_state else 0
    t_in, f_in = _leaves(rng, lead + (5,), *[lead + (4,)] * n_state)
    if not with_state:
        t_res, f_res = tm(t_in[0]), fm(f_in[0])
    elif cls_name == "LSTMCell":
        t_res, f_res = tm(t_in[0], (t_in[1], t_in[2])), fm(f_in[0], (f_in[1], f_in[2]))
    else:
        t_res, f_res = tm(t_in[0], t_in[1]), fm(f_in[0], f_in[1])
    _compare(tm, fm, t_res, f_res, t_in, f_in, rng)


LAYER_CASES = [(c, nl, bi, bf) for c in ("RNN", "LSTM", "GRU") for nl in (1, 2)
               for bi in (False, True) for bf in (False, True)]


@pytest.mark.parametrize("cls_name,num_layers,bidirectional,batch_first", LAYER_CASES)
@pytest.mark.parametrize("with_state", [False, True])
def test_layer_matches_torch(cls_name, num_layers, bidirectional, batch_first, with_state):
    rng = np.random.default_rng(1)
    L, N, H_in, H = 4, 3, 5, 4
    tm, fm = _pair(cls_name, H_in, H, num_layers, batch_first=batch_first, bidirectional=bidirectional)
    D = 2 if bidirectional else 1
    x_shape = (N, L, H_in) if batch_first else (L, N, H_in)
    n_state = (2 if cls_name == "LSTM" else 1) if with_state else 0
    t_in, f_in = _leaves(rng, x_shape, *[(num_layers * D, N, H)] * n_state)
    _run_both(tm, fm, cls_name, t_in, f_in, rng)


def _run_both(tm, fm, cls_name, t_in, f_in, rng):
    if len(t_in) == 1:
        t_res, f_res = tm(t_in[0]), fm(f_in[0])
    elif cls_name == "LSTM":
        t_res, f_res = tm(t_in[0], (t_in[1], t_in[2])), fm(f_in[0], (f_in[1], f_in[2]))
    else:
        t_res, f_res = tm(t_in[0], t_in[1]), fm(f_in[0], f_in[1])
    _compare(tm, fm, t_res, f_res, t_in, f_in, rng)


@pytest.mark.parametrize("cls_name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_layer_unbatched_matches_torch(cls_name, with_state, batch_first):
    """Unbatched (L, H_in) input; batch_first does not apply to it."""
    rng = np.random.default_rng(2)
    tm, fm = _pair(cls_name, 3, 4, 2, bidirectional=True, batch_first=batch_first)
    n_state = (2 if cls_name == "LSTM" else 1) if with_state else 0
    t_in, f_in = _leaves(rng, (5, 3), *[(4, 4)] * n_state)
    _run_both(tm, fm, cls_name, t_in, f_in, rng)


@pytest.mark.parametrize("cls_name", ["RNN", "LSTM", "GRU"])
def test_layer_without_bias_matches_torch(cls_name):
    rng = np.random.default_rng(3)
    tm, fm = _pair(cls_name, 3, 4, 2, bias=False, bidirectional=True)
    assert not any("bias" in k for k in fm.state_dict())
    t_in, f_in = _leaves(rng, (5, 2, 3))
    _run_both(tm, fm, cls_name, t_in, f_in, rng)


def test_relu_rnn_matches_torch():
    rng = np.random.default_rng(4)
    tm, fm = _pair("RNN", 3, 4, 2, nonlinearity="relu", batch_first=True)
    t_in, f_in = _leaves(rng, (2, 5, 3), (2, 2, 4))
    _run_both(tm, fm, "RNN", t_in, f_in, rng)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_proj_size_matches_torch(bidirectional):
    rng = np.random.default_rng(5)
    tm, fm = _pair("LSTM", 3, 5, 2, bidirectional=bidirectional, proj_size=2)
    D = 2 if bidirectional else 1
    t_in, f_in = _leaves(rng, (4, 2, 3), (2 * D, 2, 2), (2 * D, 2, 5))
    _run_both(tm, fm, "LSTM", t_in, f_in, rng)


def test_dropout_between_layers_only_in_training():
    fg.manual_seed(0)
    m = nn.GRU(3, 4, 2, dropout=0.5, dtype=fg.float64)
    x = fg.tensor(np.random.default_rng(6).standard_normal((5, 2, 3)))
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    m.train()
    c, _ = m(x)
    assert not np.allclose(c.detach().numpy(), a.detach().numpy())
    # no dropout after the last layer: a one-layer model is deterministic in training
    with pytest.warns(UserWarning, match="dropout"):
        one = nn.GRU(3, 4, 1, dropout=0.5, dtype=fg.float64)
    np.testing.assert_array_equal(one(x)[0].detach().numpy(), one(x)[0].detach().numpy())


def test_initialisation_range_and_shapes():
    m = nn.LSTM(3, 16, 2, bidirectional=True)
    bound = 1 / 4
    for name, p in m.named_parameters():
        v = p.detach().numpy()
        assert np.all(np.abs(v) <= bound), name
        assert v.std() > bound / 4, name
    assert tuple(m.weight_ih_l1_reverse.shape) == (64, 32)
    cell = nn.GRUCell(3, 9)
    assert tuple(cell.weight_hh.shape) == (27, 9)
    assert np.all(np.abs(cell.weight_ih.detach().numpy()) <= 1 / 3)


@pytest.mark.parametrize("cls_name,args,kw", [
    ("LSTM", (3, 4, 2), {"bidirectional": True, "batch_first": True, "dropout": 0.1, "proj_size": 2,
                         "bias": False}),
    ("RNN", (3, 4), {"nonlinearity": "relu"}), ("GRU", (3, 4, 3), {}),
    ("GRUCell", (3, 4), {"bias": False}), ("RNNCell", (3, 4), {"nonlinearity": "relu"}),
    ("LSTMCell", (3, 4), {}),
])
def test_repr_and_weight_layout_match_torch(cls_name, args, kw):
    tm = getattr(torch.nn, cls_name)(*args, **kw)
    fm = getattr(nn, cls_name)(*args, **kw)
    assert repr(fm) == repr(tm)
    assert [(n, tuple(p.shape)) for n, p in fm.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    if hasattr(tm, "all_weights"):
        assert [[tuple(p.shape) for p in ws] for ws in fm.all_weights] == \
            [[tuple(p.shape) for p in ws] for ws in tm.all_weights]


def test_lstm_gradcheck():
    rng = np.random.default_rng(7)
    m = nn.LSTM(2, 3, 1, bidirectional=True, dtype=fg.float64)
    params = list(m.parameters())
    x = fg.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = fg.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    c0 = fg.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)

    def f(x, h0, c0, *ps):
        # ps are the module's own parameters: gradcheck perturbs them in place
        out, (h, c) = m(x, (h0, c0))
        return out.sum() + (h * c).sum()

    assert fg.autograd.gradcheck(f, (x, h0, c0, *params))


def test_gru_cell_gradcheck():
    rng = np.random.default_rng(8)
    m = nn.GRUCell(2, 3, dtype=fg.float64)
    x = fg.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    h = fg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert fg.autograd.gradcheck(lambda x, h: m(x, h), (x, h))


@pytest.mark.parametrize("make,args,match", [
    (lambda: nn.LSTM(3, 4), ((5, 2, 7),), r"LSTM.*input_size.*Expected 3, got 7"),
    (lambda: nn.GRU(3, 4), ((1, 5, 2, 3),), r"GRU: Expected input to be 2D or 3D, got 4D"),
    (lambda: nn.RNN(3, 4, 2), ((5, 2, 3), (1, 2, 4)), r"RNN: Expected hidden size \(2, 2, 4\), got \(1, 2, 4\)"),
    (lambda: nn.RNN(3, 4), ((5, 3), (1, 2, 4)), r"RNN: For unbatched 2-D input, hx should also be 2-D"),
    (lambda: nn.LSTMCell(3, 4), ((2, 5),), r"LSTMCell.*input_size: got 5.*expected 3"),
    (lambda: nn.GRUCell(3, 4), ((2, 3), (3, 4)), r"GRUCell: hx has shape \(3, 4\), expected \(2, 4\)"),
    (lambda: nn.RNNCell(3, 4), ((1, 2, 3),), r"RNNCell: Expected input to be 1D or 2D, got 3D"),
])
def test_bad_sizes_raise_runtime_error(make, args, match):
    m = make()
    tensors = [fg.zeros(s) for s in args]
    with pytest.raises(RuntimeError, match=match):
        if isinstance(m, nn.LSTM) and len(tensors) > 1:
            m(tensors[0], tuple(tensors[1:]))
        else:
            m(*tensors)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(3, 4, 2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size"):
        nn.LSTMCell(3, 0)
