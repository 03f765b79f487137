"""Recurrent layers and cells against PyTorch with copied weights: outputs, final states and
the gradients of every parameter, the input and the initial states, in float64."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn

from conftest import backward_weighted

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
    backward_weighted(t_outs, f_outs, rng)
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


# ---- the fused kernels (csrc/rnn.c) ---------------------------------------------------------
from fastgrad._C import _kernels as K  # noqa: E402
from fastgrad import reference as REF  # noqa: E402
from fastgrad.nn import rnn as nn_rnn  # noqa: E402
from fastgrad.nn.utils import rnn as U  # noqa: E402

MODES = {"RNN_TANH": ("RNN", {}), "RNN_RELU": ("RNN", {"nonlinearity": "relu"}),
         "LSTM": ("LSTM", {}), "GRU": ("GRU", {})}


def _pair_dt(cls_name, dt, *args, **kwargs):
    tdt, fdt = (torch.float32, fg.float32) if dt == "float32" else (torch.float64, fg.float64)
    tm = getattr(torch.nn, cls_name)(*args, dtype=tdt, **kwargs)
    fm = getattr(nn, cls_name)(*args, dtype=fdt, **kwargs)
    fm.load_state_dict({k: fg.tensor(v.numpy().copy()) for k, v in tm.state_dict().items()})
    return tm, fm


def _states(res):
    return list(res[1]) if isinstance(res[1], tuple) else [res[1]]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_layers_run_one_fused_node_per_layer_and_direction(mode):
    cls_name, kw = MODES[mode]
    m = getattr(nn, cls_name)(3, 4, 2, bidirectional=True, dtype=fg.float64, **kw)
    out, _ = m(fg.tensor(np.ones((5, 2, 3))))
    names = set()
    todo = [out.grad_fn]
    while todo:
        n = todo.pop()
        if n is None or not hasattr(n, "edges"):
            continue
        names.add(n.name)
        todo.extend(n.edges)
    assert mode.lower() in names
    assert "sigmoid" not in names and "tanh" not in names and "stack" not in names


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_float32_matches_torch(mode, threads):
    """float32, bidirectional, two layers, sizes that thread the GEMMs: outputs, final
    states and every gradient against PyTorch."""
    cls_name, kw = MODES[mode]
    rng = np.random.default_rng(11)
    old = fg.get_num_threads()
    fg.set_num_threads(threads)
    try:
        tm, fm = _pair_dt(cls_name, "float32", 24, 48, 2, bidirectional=True, **kw)
        x = rng.standard_normal((9, 40, 24)).astype(np.float32)
        tx, fx = torch.tensor(x, requires_grad=True), fg.tensor(x, requires_grad=True)
        tr, fr = tm(tx), fm(fx)
        touts, fouts = [tr[0]] + _states(tr), [fr[0]] + _states(fr)
        backward_weighted(touts, fouts, rng, np.float32)
    finally:
        fg.set_num_threads(old)
    for a, b in zip(touts, fouts):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    fp = dict(fm.named_parameters())
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(fp[name].grad.numpy(), p.grad.numpy(), rtol=1e-4, atol=2e-4,
                                   err_msg=name)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_fused_and_composed_paths_agree(mode, monkeypatch):
    cls_name, kw = MODES[mode]
    rng = np.random.default_rng(12)
    fg.manual_seed(0)
    m = getattr(nn, cls_name)(3, 5, 2, bidirectional=True, batch_first=True, dtype=fg.float64,
                              **kw)
    x = rng.standard_normal((4, 6, 3))
    res = []
    for fused in (True, False):
        monkeypatch.setattr(nn_rnn, "_FUSED", [fused])
        m.zero_grad()
        fx = fg.tensor(x, requires_grad=True)
        out, st = m(fx)
        sts = list(st) if isinstance(st, tuple) else [st]
        (out.sum() + sum((s * s).sum() for s in sts)).backward()
        res.append([out.detach().numpy(), *[s.detach().numpy() for s in sts], fx.grad.numpy(),
                    *[p.grad.numpy() for p in m.parameters()]])
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_fused_gradcheck_and_gradgradcheck(mode):
    """float64 gradients of the fused node (and its c_n node) against finite differences,
    and second derivatives through the composed recomputation."""
    cls_name, kw = MODES[mode]
    rng = np.random.default_rng(13)
    m = getattr(nn, cls_name)(2, 3, 1, bidirectional=True, dtype=fg.float64, **kw)
    params = list(m.parameters())
    x = fg.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = fg.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    c0 = fg.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    lstm = mode == "LSTM"

    def f(x, h0, c0, *ps):
        out, st = m(x, (h0, c0) if lstm else h0)
        return (out, *st) if lstm else (out, st)
    assert fg.autograd.gradcheck(f, (x, h0, c0, *params))
    assert fg.autograd.gradgradcheck(lambda x, h0: f(x, h0, c0)[0], (x, h0))


def test_lstm_c_n_alone_matches_torch():
    rng = np.random.default_rng(14)
    tm, fm = _pair_dt("LSTM", "float64", 3, 4, 2)
    x = rng.standard_normal((5, 2, 3))
    tx, fx = torch.tensor(x, requires_grad=True), fg.tensor(x, requires_grad=True)
    (tm(tx)[1][1] ** 2).sum().backward()
    (fm(fx)[1][1] ** 2).sum().backward()
    np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=0, atol=TOL)
    fp = dict(fm.named_parameters())
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(fp[name].grad.numpy(), p.grad.numpy(), rtol=0, atol=TOL)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("packed", [False, True])
def test_kernels_match_reference_on_every_simd_path(dt, packed):
    rng = np.random.default_rng(15)
    T, B, H = 6, 5, 7
    bs = np.array([5, 4, 4, 2, 1, 1]) if packed else None
    tol = 2e-5 if dt == np.float32 else 1e-12
    old = fg.get_simd()
    try:
        for simd in fg.available_simd():
            fg.set_simd(simd)
            for mode, gates in ((0, 1), (1, 1), (2, 4), (3, 3)):
                for rev in (False, True):
                    G = gates * H
                    gi = rng.standard_normal((T, B, G)).astype(dt)
                    w = (rng.standard_normal((G, H)) * 0.4).astype(dt)
                    b = rng.standard_normal(G).astype(dt)
                    h0 = rng.standard_normal((B, H)).astype(dt)
                    c0 = rng.standard_normal((B, H)).astype(dt) if mode == 2 else None
                    a = K.rnn_fwd(mode, gi, w, b, h0, c0, rev, bs)
                    r = REF.rnn_fwd(mode, gi, w, b, h0, c0, rev, bs)
                    for u, v in zip(a[:2], r[:2]):
                        np.testing.assert_allclose(u, v, rtol=tol, atol=tol)
                    gy = rng.standard_normal((T, B, H)).astype(dt)
                    ghn = rng.standard_normal((B, H)).astype(dt)
                    gcn = rng.standard_normal((B, H)).astype(dt) if mode == 2 else None
                    ga = K.rnn_bwd(mode, T, gy, ghn, gcn, w, a[2], rev, True, True, True, bs)
                    gr = REF.rnn_bwd(mode, T, gy, ghn, gcn, w, r[2], rev, True, True, True, bs)
                    for u, v in zip(ga, gr):
                        if u is not None:
                            np.testing.assert_allclose(u, v, rtol=tol * 10, atol=tol * 10,
                                                       err_msg=f"{simd} mode {mode} rev {rev}")
    finally:
        fg.set_simd(old)


@pytest.mark.parametrize("packed", [False, True])
def test_kernels_give_the_same_bits_at_every_thread_count(packed):
    """With several threads the kernels split the batch rows into parts that each run the
    whole sequence (csrc/rnn.c): every output is the same bits as with one thread, and
    matches the NumPy reference, also when the parts cut through a packed batch and the
    batch is not a multiple of the 8-row parts."""
    rng = np.random.default_rng(21)
    T, B, H = 30, 37, 48
    bs = np.sort(rng.integers(0, B + 1, T))[::-1].copy() if packed else None
    if packed:
        bs[0] = B
    old = fg.get_num_threads()
    try:
        for mode, gates in ((0, 1), (1, 1), (2, 4), (3, 3)):
            G = gates * H
            gi = rng.standard_normal((T, B, G)).astype(np.float32)
            w = (rng.standard_normal((G, H)) * 0.2).astype(np.float32)
            b = rng.standard_normal(G).astype(np.float32)
            h0 = rng.standard_normal((B, H)).astype(np.float32)
            c0 = rng.standard_normal((B, H)).astype(np.float32) if mode == 2 else None
            gy = rng.standard_normal((T, B, H)).astype(np.float32)
            ghn = rng.standard_normal((B, H)).astype(np.float32)
            gcn = rng.standard_normal((B, H)).astype(np.float32) if mode == 2 else None
            runs = []
            for threads in (1, 2, 3):
                fg.set_num_threads(threads)
                for rev in (False, True):
                    f = K.rnn_fwd(mode, gi, w, b, h0, c0, rev, bs)
                    g = K.rnn_bwd(mode, T, gy, ghn, gcn, w, f[2], rev, True, True, True, bs)
                    runs.append((threads, rev, [a for a in (*f, *g) if a is not None]))
            for threads, rev, outs in runs[2:]:
                ref = runs[1 if rev else 0][2]
                for i, (u, v) in enumerate(zip(outs, ref)):
                    if packed and i == 2:
                        continue    # saved state: unspecified in the rows that wait a step
                    assert np.array_equal(u, v), f"mode {mode} threads {threads} rev {rev} out {i}"
            r = REF.rnn_fwd(mode, gi, w, b, h0, c0, False, bs)
            np.testing.assert_allclose(runs[0][2][0], r[0], rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(runs[0][2][1], r[1], rtol=1e-4, atol=1e-4)
    finally:
        fg.set_num_threads(old)


def test_numpy_backend_runs_the_same_layer():
    rng = np.random.default_rng(16)
    fg.manual_seed(0)
    m = nn.LSTM(3, 4, 2, bidirectional=True, dtype=fg.float64)
    x = rng.standard_normal((5, 2, 3))
    res = []
    prev = fg.get_backend()
    for name in ("c", "numpy"):
        fg.set_backend(name)
        try:
            m.zero_grad()
            fx = fg.tensor(x, requires_grad=True)
            out, (h, c) = m(fx)
            (out.sum() + (h * c).sum()).backward()
        finally:
            fg.set_backend(prev)
        res.append([out.detach().numpy(), fx.grad.numpy(), *[p.grad.numpy() for p in m.parameters()]])
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_kernel_wrappers_reject_bad_arguments():
    f = np.zeros
    with pytest.raises(ValueError, match="rnn: weight_hh has shape"):
        K.rnn_fwd(2, f((3, 2, 8)), f((8, 3)), None, None, None, False)
    with pytest.raises(ValueError, match="rnn: input projection has shape"):
        K.rnn_fwd(3, f((3, 2, 8)), f((6, 2)), None, None, None, False)
    with pytest.raises(ValueError, match="rnn: unknown mode 7"):
        K.rnn_fwd(7, f((3, 2, 2)), f((2, 2)), None, None, None, False)
    with pytest.raises(ValueError, match=r"rnn: h0 has shape \(3, 2\), expected \(2, 2\)"):
        K.rnn_fwd(0, f((3, 2, 2)), f((2, 2)), None, f((3, 2)), None, False)
    with pytest.raises(ValueError, match=r"batch_sizes must lie in \[0, 2\]"):
        K.rnn_fwd(0, f((3, 2, 2)), f((2, 2)), None, None, None, False, [2, 3, 1])
    with pytest.raises(TypeError, match="float32 or float64"):
        K.rnn_fwd(0, f((3, 2, 2), np.int64), f((2, 2)), None, None, None, False)
    _, _, ws = K.rnn_fwd(0, f((3, 2, 2)), f((2, 2)), None, None, None, False)
    with pytest.raises(ValueError, match="rnn_backward: saved state"):
        K.rnn_bwd(0, 4, None, None, None, f((2, 2)), ws, False, True, True, True)
    with pytest.raises(ValueError, match="rnn_backward: output gradient has shape"):
        K.rnn_bwd(0, 3, f((3, 1, 2)), None, None, f((2, 2)), ws, False, True, True, True)


def test_empty_sequence_takes_the_composed_path():
    m = nn.GRU(3, 4)
    out, h = m(fg.zeros((0, 2, 3)))
    assert out.shape == (0, 2, 4) and h.shape == (1, 2, 4)


# ---- packed sequences -----------------------------------------------------------------------
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("with_state", [False, True])
def test_packed_input_matches_torch(mode, fused, with_state, monkeypatch):
    """Unsorted lengths, two bidirectional layers: the packed output, final states and every
    gradient against PyTorch."""
    monkeypatch.setattr(nn_rnn, "_FUSED", [fused])
    tpack, tpad = torch.nn.utils.rnn.pack_padded_sequence, torch.nn.utils.rnn.pad_packed_sequence
    cls_name, kw = MODES[mode]
    rng = np.random.default_rng(17)
    tm, fm = _pair_dt(cls_name, "float64", 3, 4, 2, bidirectional=True, **kw)
    lengths = [3, 5, 1, 4]
    x = rng.standard_normal((5, 4, 3))
    t_in, f_in = _leaves(rng, (5, 4, 3), *[(4, 4, 4)] * ((2 if mode == "LSTM" else 1)
                                                         if with_state else 0))
    t_in[0], f_in[0] = torch.tensor(x, requires_grad=True), fg.tensor(x, requires_grad=True)
    tp = tpack(t_in[0], lengths, enforce_sorted=False)
    fp = U.pack_padded_sequence(f_in[0], lengths, enforce_sorted=False)
    args_t, args_f = [tp], [fp]
    if with_state:
        args_t.append((t_in[1], t_in[2]) if mode == "LSTM" else t_in[1])
        args_f.append((f_in[1], f_in[2]) if mode == "LSTM" else f_in[1])
    tr, fr = tm(*args_t), fm(*args_f)
    assert isinstance(fr[0], U.PackedSequence)
    np.testing.assert_array_equal(fr[0].batch_sizes.numpy(), tr[0].batch_sizes.numpy())
    ty, tl = tpad(tr[0])
    fy, fl = U.pad_packed_sequence(fr[0])
    np.testing.assert_array_equal(fl.numpy(), tl.numpy())
    _compare(tm, fm, (ty, tr[1]), (fy, fr[1]), t_in, f_in, rng)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted,lengths", [(True, [4, 3, 3, 1]), (False, [2, 4, 1, 3])])
def test_pack_and_pad_match_torch(batch_first, enforce_sorted, lengths):
    R = torch.nn.utils.rnn
    rng = np.random.default_rng(18)
    shape = (4, 4, 2) if not batch_first else (4, 4, 2)
    x = rng.standard_normal(shape)
    tx, fx = torch.tensor(x, requires_grad=True), fg.tensor(x, requires_grad=True)
    tp = R.pack_padded_sequence(tx, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    fp = U.pack_padded_sequence(fx, fg.tensor(lengths), batch_first=batch_first,
                                enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(fp.data.detach().numpy(), tp.data.detach().numpy())
    np.testing.assert_array_equal(fp.batch_sizes.numpy(), tp.batch_sizes.numpy())
    for a, b in ((fp.sorted_indices, tp.sorted_indices), (fp.unsorted_indices, tp.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    ty, tl = R.pad_packed_sequence(tp, batch_first=batch_first, padding_value=-2.0, total_length=6)
    fy, fl = U.pad_packed_sequence(fp, batch_first=batch_first, padding_value=-2.0, total_length=6)
    np.testing.assert_array_equal(fy.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(fl.numpy(), tl.numpy())
    w = rng.standard_normal(tuple(ty.shape))
    (ty * torch.tensor(w)).sum().backward()
    (fy * fg.tensor(w)).sum().backward()
    np.testing.assert_array_equal(fx.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_and_pack_sequence_match_torch(batch_first, side):
    R = torch.nn.utils.rnn
    rng = np.random.default_rng(19)
    seqs = [rng.standard_normal((n, 3)) for n in (2, 5, 3)]
    t = R.pad_sequence([torch.tensor(s) for s in seqs], batch_first, 0.5, side)
    f = U.pad_sequence([fg.tensor(s) for s in seqs], batch_first, 0.5, side)
    np.testing.assert_array_equal(f.numpy(), t.numpy())
    tp = R.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    fp = U.pack_sequence([fg.tensor(s) for s in seqs], enforce_sorted=False)
    np.testing.assert_array_equal(fp.data.numpy(), tp.data.numpy())
    np.testing.assert_array_equal(fp.sorted_indices.numpy(), tp.sorted_indices.numpy())
    for a, b in zip(U.unpack_sequence(fp), seqs):
        np.testing.assert_array_equal(a.numpy(), b)


def test_packing_errors():
    x = fg.zeros((3, 2, 1))
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        U.pack_padded_sequence(x, [2, 3])
    with pytest.raises(RuntimeError, match="has to be greater than 0"):
        U.pack_padded_sequence(x, [3, 0], enforce_sorted=False)
    with pytest.raises(RuntimeError, match=r"Expected `len\(lengths\)` to be equal to batch_size"):
        U.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(RuntimeError, match="a length of 4 exceeds the 3 time steps"):
        U.pack_padded_sequence(x, [4, 2])
    with pytest.raises(RuntimeError, match="1D"):
        U.pack_padded_sequence(x, fg.tensor([[3, 2]]))
    p = U.pack_padded_sequence(x, [3, 2])
    with pytest.raises(ValueError, match="Expected total_length to be at least"):
        U.pad_packed_sequence(p, total_length=2)
    with pytest.raises(ValueError, match="padding_side"):
        U.pad_sequence([fg.zeros(2)], padding_side="middle")


# ---- compiled steps -------------------------------------------------------------------------
@pytest.mark.parametrize("cls_name", ["LSTM", "GRU", "RNN"])
def test_compiled_char_lm_step_is_bitwise_eager(cls_name):
    F = nn.functional

    def make():
        fg.manual_seed(0)
        mods = nn.ModuleList([nn.Embedding(11, 6), getattr(nn, cls_name)(6, 5, 2, batch_first=True),
                              nn.Linear(5, 11)])
        opt = fg.optim.Adam(mods.parameters(), lr=1e-2)

        def step(x, y):
            opt.zero_grad()
            out, _ = mods[1](mods[0](x))
            loss = F.cross_entropy(mods[2](out).reshape(-1, 11), y)
            loss.backward()
            opt.step()
            return loss
        return mods, step
    (m1, eager), (m2, step) = make(), make()
    comp = fg.compile(step)
    r = np.random.default_rng(20)
    for _ in range(6):
        tok = r.integers(0, 11, (4, 8))
        x, y = fg.tensor(tok[:, :-1]), fg.tensor(tok[:, 1:].reshape(-1))
        assert eager(x, y)._data.tobytes() == comp(x, y)._data.tobytes()
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert p._data.tobytes() == q._data.tobytes()
    assert comp.stats["traces"] == 1 and comp.stats["replays"] == 5


def test_forward_mode_ad_takes_the_composed_path():
    """Under forward-mode AD the layers compose the steps (the fused node has no rule and
    says so when called directly)."""
    import fastgrad.autograd.forward_ad as fwad
    from fastgrad.ops import rnn as rnn_ops
    rng = np.random.default_rng(21)
    m = nn.GRU(2, 3, dtype=fg.float64)
    x, t = rng.standard_normal((4, 1, 2)), rng.standard_normal((4, 1, 2))
    with fwad.dual_level():
        out, _ = m(fwad.make_dual(fg.tensor(x), fg.tensor(t)))
        tangent = fwad.unpack_dual(out).tangent.numpy()
        with pytest.raises(RuntimeError, match="no forward-mode rule"):
            rnn_ops.rnn_sequence("GRU", fg.tensor(x), None, None, m.weight_ih_l0, m.weight_hh_l0)
    eps = 1e-6
    num = (m(fg.tensor(x + eps * t))[0].detach().numpy()
           - m(fg.tensor(x - eps * t))[0].detach().numpy()) / (2 * eps)
    np.testing.assert_allclose(tangent, num, rtol=1e-6, atol=1e-8)
