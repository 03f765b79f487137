"""Randomized parity of the sequence layers with PyTorch.

Each family draws its cases from a seeded NumPy generator (the same cases on every run):
recurrent layers and cells, packed sequences, scaled dot-product attention,
MultiheadAttention and the Transformer modules.  Weights go from the torch module into the
fastgrad one through state_dict (same keys, same shapes); outputs, final states, the input
gradients and every parameter gradient are compared, tightly in float64 and more loosely
in float32.  Bad inputs raise the class PyTorch raises, with a message naming the op and
the shapes."""
import re
import warnings

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn.functional as F
from fastgrad import nn
from fastgrad.nn.utils import rnn as U

from conftest import backward_weighted

torch = pytest.importorskip("torch")
TR = torch.nn.utils.rnn
TSDPA = torch.nn.functional.scaled_dot_product_attention

# dtype name -> (torch dtype, fastgrad dtype, numpy dtype, rtol, atol relative to the
# largest magnitude of the reference)
DT = {"float64": (torch.float64, fg.float64, np.float64, 1e-9, 1e-11),
      "float32": (torch.float32, fg.float32, np.float32, 2e-4, 2e-5)}

pytestmark = pytest.mark.filterwarnings(
    "ignore:Support for mismatched", "ignore:enable_nested_tensor", "ignore:The PyTorch API of nested",
    "ignore:LSTM with projections is not supported with oneDNN")


# ---- shared helpers -------------------------------------------------------------------------

def _perturb(tm, seed):
    """Random offsets on every parameter, so zero biases and unit LayerNorm weights take
    part in the comparison too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tm.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))


def _load(tm, fm):
    """Copy tm's weights into fm through state_dict, checking keys and shapes agree."""
    tsd, fsd = tm.state_dict(), fm.state_dict()
    assert list(tsd) == list(fsd), "state_dict keys differ from PyTorch's"
    for k, v in tsd.items():
        assert tuple(v.shape) == tuple(fsd[k].shape), k
    fm.load_state_dict({k: fg.tensor(v.detach().numpy().copy()) for k, v in tsd.items()})


def _pair(cls_name, dt, seed, *args, **kw):
    """torch.nn.<cls_name> and fastgrad's, fastgrad holding torch's perturbed weights, both
    in eval mode."""
    tdt, fdt = DT[dt][:2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = getattr(torch.nn, cls_name)(*args, dtype=tdt, **kw)
    fm = getattr(nn, cls_name)(*args, dtype=fdt, **kw)
    _perturb(tm, seed)
    _load(tm, fm)
    return tm.eval(), fm.eval()


def _leaves(rng, dt, *shapes):
    npdt = DT[dt][2]
    arrs = [rng.standard_normal(s).astype(npdt) for s in shapes]
    return ([torch.tensor(a, requires_grad=True) for a in arrs],
            [fg.tensor(a.copy(), requires_grad=True) for a in arrs])


def _flat(res):
    if isinstance(res, (tuple, list)):
        return [t for r in res for t in _flat(r)]
    return [] if res is None else [res]


def _close(got, want, dt, what, loose=1.0):
    rtol, atol = loose * DT[dt][3], loose * DT[dt][4]
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * (1.0 + scale), err_msg=what)


def _compare(t_res, f_res, t_in, f_in, dt, rng, tm=None, fm=None, loose=1.0):
    """Every output's shape, dtype and values; then, under a random weighting of the
    outputs, the gradient of every input and every parameter of tm / fm.  loose widens
    the tolerances by that factor."""
    t_outs, f_outs = _flat(t_res), _flat(f_res)
    assert len(t_outs) == len(f_outs)
    for i, (a, b) in enumerate(zip(t_outs, f_outs)):
        assert tuple(b.shape) == tuple(a.shape), (i, tuple(b.shape), tuple(a.shape))
        assert b.dtype == DT[dt][1], (i, b.dtype)
        _close(b.detach().numpy(), a.detach().numpy(), dt, f"output {i}", loose)
    backward_weighted(t_outs, f_outs, rng, DT[dt][2])
    for i, (a, b) in enumerate(zip(t_in, f_in)):
        if a.grad is None:
            assert b.grad is None or not b.grad.numpy().any(), f"input {i}"
            continue
        assert b.grad is not None, f"input {i} has no gradient"
        _close(b.grad.numpy(), a.grad.numpy(), dt, f"gradient of input {i}", loose)
    if tm is not None:
        fparams = dict(fm.named_parameters())
        tparams = dict(tm.named_parameters())
        assert list(fparams) == list(tparams)
        for name, p in tparams.items():
            g = fparams[name].grad
            if p.grad is None:
                assert g is None or not g.numpy().any(), name
                continue
            assert g is not None, f"{name} has no gradient"
            _close(g.numpy(), p.grad.numpy(), dt, f"gradient of {name}", loose)


def _tt(a):
    return None if a is None else torch.tensor(a)


def _ft(a):
    return None if a is None else fg.tensor(a)


def _cases(seed, n, draw):
    rng = np.random.default_rng(seed)
    return [draw(rng) for _ in range(n)]


def _ids(cases):
    return [f"{i}-" + "-".join(f"{k}={v}" for k, v in c.items() if k != "seed") for i, c in enumerate(cases)]


def _b(rng, p=0.5):
    return bool(rng.random() < p)


# ---- RNN / LSTM / GRU -------------------------------------------------------------------------

def _draw_rnn(rng):
    kind = str(rng.choice(["RNN_TANH", "RNN_RELU", "LSTM", "GRU"], p=[0.2, 0.2, 0.35, 0.25]))
    hidden = int(rng.integers(2, 7))
    proj = int(rng.integers(1, hidden)) if kind == "LSTM" and _b(rng, 0.5) else 0
    return dict(kind=kind, input=int(rng.integers(1, 6)), hidden=hidden, proj=proj,
                layers=int(rng.integers(1, 4)), bias=_b(rng, 0.75), batch_first=_b(rng),
                bidir=_b(rng), state=_b(rng), unbatched=_b(rng, 0.25),
                L=int(rng.integers(1, 7)), N=int(rng.integers(1, 5)), strided=_b(rng, 0.3),
                dt="float32" if _b(rng, 0.25) else "float64", seed=int(rng.integers(1 << 30)))


RNN_CASES = _cases(101, 40, _draw_rnn)


def _rnn_pair(c):
    cls_name = "RNN" if c["kind"].startswith("RNN") else c["kind"]
    kw = dict(bias=c["bias"], batch_first=c["batch_first"], bidirectional=c["bidir"])
    if c["kind"] == "RNN_RELU":
        kw["nonlinearity"] = "relu"
    if c["proj"]:
        kw["proj_size"] = c["proj"]
    return _pair(cls_name, c["dt"], c["seed"], c["input"], c["hidden"], c["layers"], **kw)


def _state_shapes(c, batch):
    """Shapes of (h0,) or (h0, c0); batch None for unbatched input."""
    lead = (c["layers"] * (2 if c["bidir"] else 1),) + (() if batch is None else (batch,))
    if c["kind"] == "LSTM":
        return [lead + (c["proj"] or c["hidden"],), lead + (c["hidden"],)]
    return [lead + (c["hidden"],)]


def _call(m, kind, x, states):
    if not states:
        return m(x)
    return m(x, tuple(states)) if kind == "LSTM" else m(x, states[0])


@pytest.mark.parametrize("c", RNN_CASES, ids=_ids(RNN_CASES))
def test_rnn_layers_random(c):
    rng = np.random.default_rng(c["seed"])
    tm, fm = _rnn_pair(c)
    if c["unbatched"]:
        x_shape, batch = (c["L"], c["input"]), None
    else:
        batch = c["N"]
        x_shape = (c["N"], c["L"], c["input"]) if c["batch_first"] else (c["L"], c["N"], c["input"])
    if c["strided"]:        # the input as a transposed (non-contiguous) view of a leaf
        x_shape = x_shape[::-1]
    shapes = [x_shape] + (_state_shapes(c, batch) if c["state"] else [])
    t_in, f_in = _leaves(rng, c["dt"], *shapes)
    tx, fx = t_in[0], f_in[0]
    if c["strided"]:
        dims = tuple(range(len(x_shape)))[::-1]
        tx, fx = tx.permute(*dims), fx.permute(*dims)
    t_res = _call(tm, c["kind"], tx, t_in[1:])
    f_res = _call(fm, c["kind"], fx, f_in[1:])
    _compare(t_res, f_res, t_in, f_in, c["dt"], rng, tm, fm)


# ---- packed sequences -------------------------------------------------------------------------

def _draw_packed(rng):
    c = _draw_rnn(rng)
    c.update(unbatched=False, N=int(rng.integers(1, 6)), L=int(rng.integers(1, 7)),
             enforce_sorted=_b(rng), bidir=_b(rng, 0.6), layers=int(rng.integers(1, 4)))
    lengths = rng.integers(1, c["L"] + 1, c["N"])
    lengths[rng.integers(c["N"])] = c["L"]        # the longest sequence fills the padded length
    if c["enforce_sorted"]:
        lengths = np.sort(lengths)[::-1]
    c["lengths"] = tuple(int(v) for v in lengths)
    c["lengths_as_tensor"] = _b(rng)
    return c


PACKED_CASES = _cases(202, 24, _draw_packed)


@pytest.mark.parametrize("c", PACKED_CASES, ids=_ids(PACKED_CASES))
def test_packed_rnn_layers_random(c):
    rng = np.random.default_rng(c["seed"])
    tm, fm = _rnn_pair(c)
    bf, N, L = c["batch_first"], c["N"], c["L"]
    x_shape = (N, L, c["input"]) if bf else (L, N, c["input"])
    shapes = [x_shape] + (_state_shapes(c, N) if c["state"] else [])
    t_in, f_in = _leaves(rng, c["dt"], *shapes)
    lengths = list(c["lengths"])
    tp = TR.pack_padded_sequence(t_in[0], torch.tensor(lengths) if c["lengths_as_tensor"] else lengths,
                                 batch_first=bf, enforce_sorted=c["enforce_sorted"])
    fp = U.pack_padded_sequence(f_in[0], fg.tensor(lengths) if c["lengths_as_tensor"] else lengths,
                                batch_first=bf, enforce_sorted=c["enforce_sorted"])
    np.testing.assert_array_equal(fp.batch_sizes.numpy(), tp.batch_sizes.numpy())
    for a, b in ((fp.sorted_indices, tp.sorted_indices), (fp.unsorted_indices, tp.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    _close(fp.data.detach().numpy(), tp.data.detach().numpy(), c["dt"], "packed data")
    t_res = _call(tm, c["kind"], tp, t_in[1:])
    f_res = _call(fm, c["kind"], fp, f_in[1:])
    assert isinstance(f_res[0], U.PackedSequence)
    np.testing.assert_array_equal(f_res[0].batch_sizes.numpy(), t_res[0].batch_sizes.numpy())
    total = L + int(rng.integers(0, 2))
    pad = float(rng.standard_normal())
    ty, tl = TR.pad_packed_sequence(t_res[0], batch_first=bf, padding_value=pad, total_length=total)
    fy, fl = U.pad_packed_sequence(f_res[0], batch_first=bf, padding_value=pad, total_length=total)
    np.testing.assert_array_equal(fl.numpy(), tl.numpy())
    _compare((ty, t_res[1]), (fy, f_res[1]), t_in, f_in, c["dt"], rng, tm, fm)


# ---- cells ------------------------------------------------------------------------------------

def _draw_cell(rng):
    return dict(kind=["RNN_TANH", "RNN_RELU", "LSTM", "GRU"][rng.integers(4)],
                input=int(rng.integers(1, 7)), hidden=int(rng.integers(1, 7)), bias=_b(rng, 0.7),
                batched=_b(rng, 0.65), state=_b(rng), N=int(rng.integers(1, 5)),
                steps=int(rng.integers(1, 4)), dt="float32" if _b(rng, 0.25) else "float64",
                seed=int(rng.integers(1 << 30)))


CELL_CASES = _cases(303, 28, _draw_cell)


@pytest.mark.parametrize("c", CELL_CASES, ids=_ids(CELL_CASES))
def test_cells_random(c):
    """A few steps of a cell, each step's state fed to the next."""
    rng = np.random.default_rng(c["seed"])
    cls_name = {"RNN_TANH": "RNNCell", "RNN_RELU": "RNNCell", "LSTM": "LSTMCell", "GRU": "GRUCell"}[c["kind"]]
    kw = {"bias": c["bias"]}
    if c["kind"] == "RNN_RELU":
        kw["nonlinearity"] = "relu"
    tm, fm = _pair(cls_name, c["dt"], c["seed"], c["input"], c["hidden"], **kw)
    lead = (c["N"],) if c["batched"] else ()
    n_state = (2 if c["kind"] == "LSTM" else 1) if c["state"] else 0
    shapes = [lead + (c["input"],)] * c["steps"] + [lead + (c["hidden"],)] * n_state
    t_in, f_in = _leaves(rng, c["dt"], *shapes)
    t_outs, f_outs = [], []
    for m, ins, outs in ((tm, t_in, t_outs), (fm, f_in, f_outs)):
        xs, st = ins[:c["steps"]], ins[c["steps"]:]
        hx = None if not st else (tuple(st) if c["kind"] == "LSTM" else st[0])
        for x in xs:
            hx = m(x) if hx is None else m(x, hx)
            outs.append(hx)
    _compare(t_outs, f_outs, t_in, f_in, c["dt"], rng, tm, fm)


# ---- scaled_dot_product_attention -------------------------------------------------------------

def _draw_sdpa(rng):
    nlead = int(rng.integers(0, 3))
    lead = tuple(int(v) for v in rng.integers(1, 4, nlead))
    H = int(rng.integers(1, 5))
    gqa = nlead >= 1 and H > 1 and _b(rng, 0.3)
    if gqa:
        divs = [d for d in range(1, H) if H % d == 0]
        Hk = divs[rng.integers(len(divs))]
    else:
        Hk = H
    L, S = int(rng.integers(1, 8)), int(rng.integers(1, 8))
    mask = ["none", "causal", "bool", "float"][rng.integers(4)]
    mshape = None
    if mask in ("bool", "float"):
        full = (lead[:-1] + (H,) if nlead else ()) + (L, S)
        ndim = int(rng.integers(2, len(full) + 1))
        mshape = tuple(1 if _b(rng, 0.4 if i < len(full) - 2 else 0.2) else d
                       for i, d in enumerate(full))[len(full) - ndim:]
    bcast = nlead >= 2 and not gqa and _b(rng, 0.4)
    return dict(lead=lead, H=H, Hk=Hk, gqa=gqa, bcast=bcast, L=L, S=S, E=int(rng.integers(1, 9)),
                Ev=int(rng.integers(1, 9)), mask=mask, mshape=mshape, neg_inf=_b(rng, 0.4),
                scale=None if _b(rng, 0.6) else float(rng.uniform(0.1, 2.0)),
                dt="float32" if _b(rng, 0.35) else "float64", seed=int(rng.integers(1 << 30)))


SDPA_CASES = _cases(404, 40, _draw_sdpa)


@pytest.mark.parametrize("c", SDPA_CASES, ids=_ids(SDPA_CASES))
def test_sdpa_random(c):
    """Shapes (*lead, L, E) for the query, where the last lead dim (if any) is the heads;
    masks broadcast from random shapes with size-1 dims.  Every bool row keeps at least
    one key (a fully masked row is covered in test_attention)."""
    rng = np.random.default_rng(c["seed"])
    lead = c["lead"]
    if lead:
        ql, kl = lead[:-1] + (c["H"],), lead[:-1] + (c["Hk"],)
        if c["bcast"]:          # key and value with size-1 batch dims
            kl = (1,) * (len(lead) - 1) + kl[-1:]
    else:
        ql = kl = ()
    t_in, f_in = _leaves(rng, c["dt"], ql + (c["L"], c["E"]), kl + (c["S"], c["E"]), kl + (c["S"], c["Ev"]))
    tmask = fmask = None
    if c["mask"] == "bool":
        m = rng.random(c["mshape"]) > 0.45
        m[..., 0] = True
        tmask, fmask = torch.tensor(m), fg.tensor(m)
    elif c["mask"] == "float":
        m = rng.standard_normal(c["mshape"]).astype(DT[c["dt"]][2])
        if c["neg_inf"]:
            m[rng.random(m.shape) > 0.6] = -np.inf
            m[..., 0] = 0.0
        tmask, fmask = torch.tensor(m), fg.tensor(m)
    kw = dict(is_causal=c["mask"] == "causal", scale=c["scale"])
    if c["gqa"]:
        kw["enable_gqa"] = True
    to = TSDPA(*t_in, attn_mask=tmask, **kw)
    fo = F.scaled_dot_product_attention(*f_in, attn_mask=fmask, **kw)
    _compare([to], [fo], t_in, f_in, c["dt"], rng)


# ---- MultiheadAttention -----------------------------------------------------------------------

def _draw_mha(rng):
    H = int(rng.integers(1, 4))
    E = H * int(rng.integers(1, 4))
    unbatched = _b(rng, 0.2)
    causal = _b(rng, 0.2)
    L = int(rng.integers(1, 6))
    S = L if causal else int(rng.integers(1, 6))
    kdim = int(rng.integers(1, 6)) if _b(rng, 0.35) else None
    vdim = int(rng.integers(1, 6)) if _b(rng, 0.35) else None
    self_attn = (kdim or E) == E and (vdim or E) == E and _b(rng, 0.4)
    return dict(E=E, H=H, N=int(rng.integers(1, 4)), L=L, S=L if self_attn else S, unbatched=unbatched,
                batch_first=_b(rng), bias=_b(rng, 0.75), add_bias_kv=_b(rng, 0.3),
                add_zero_attn=_b(rng, 0.3), kdim=kdim, vdim=vdim, self_attn=self_attn,
                kpm=["none", "bool", "float"][rng.integers(3)],
                am="causal" if causal else ["none", "bool2d", "float2d", "bool3d", "float3d"][rng.integers(5)],
                need_weights=_b(rng, 0.6), average=_b(rng),
                dt="float32" if _b(rng, 0.3) else "float64", seed=int(rng.integers(1 << 30)))


MHA_CASES = _cases(505, 36, _draw_mha)


def _mha_masks(c, rng):
    """(attn_mask, key_padding_mask) ndarrays; key 0 is never masked, so no row is
    fully masked."""
    N, L, S, H = c["N"], c["L"], c["S"], c["H"]
    npdt = DT[c["dt"]][2]
    am = kpm = None
    if c["am"] == "causal":
        am = np.triu(np.ones((L, S), bool), 1)
    elif c["am"] != "none":
        shape = (L, S) if c["am"].endswith("2d") else (H if c["unbatched"] else N * H, L, S)
        if c["am"].startswith("bool"):
            am = rng.random(shape) > 0.6
            am[..., 0] = False
        else:
            am = rng.standard_normal(shape).astype(npdt)
    if c["kpm"] != "none":
        kpm = rng.random((S,) if c["unbatched"] else (N, S)) > 0.6
        kpm[..., 0] = False
        if c["kpm"] == "float":
            kpm = np.where(kpm, -np.inf, rng.standard_normal(kpm.shape)).astype(npdt)
    return am, kpm


@pytest.mark.parametrize("c", MHA_CASES, ids=_ids(MHA_CASES))
def test_mha_random(c):
    rng = np.random.default_rng(c["seed"])
    E, N, L, S = c["E"], c["N"], c["L"], c["S"]
    kw = dict(bias=c["bias"], add_bias_kv=c["add_bias_kv"], add_zero_attn=c["add_zero_attn"],
              kdim=c["kdim"], vdim=c["vdim"], batch_first=c["batch_first"])
    tm, fm = _pair("MultiheadAttention", c["dt"], c["seed"], E, c["H"], **kw)
    kd, vd = c["kdim"] or E, c["vdim"] or E

    def lay(n, s, e):
        if c["unbatched"]:
            return (s, e)
        return (n, s, e) if c["batch_first"] else (s, n, e)
    if c["self_attn"]:
        t_in, f_in = _leaves(rng, c["dt"], lay(N, L, E))
        targs, fargs = t_in * 3, f_in * 3
    else:
        t_in, f_in = _leaves(rng, c["dt"], lay(N, L, E), lay(N, S, kd), lay(N, S, vd))
        targs, fargs = t_in, f_in
    am, kpm = _mha_masks(c, rng)
    opts = dict(need_weights=c["need_weights"], average_attn_weights=c["average"],
                is_causal=c["am"] == "causal")
    t_res = tm(*targs, key_padding_mask=_tt(kpm), attn_mask=_tt(am), **opts)
    f_res = fm(*fargs, key_padding_mask=_ft(kpm), attn_mask=_ft(am), **opts)
    assert (f_res[1] is None) == (t_res[1] is None)
    _compare(list(t_res), list(f_res), t_in, f_in, c["dt"], rng, tm, fm)


# ---- Transformer modules ----------------------------------------------------------------------

def _draw_tf(rng):
    H = int(rng.integers(1, 4))
    dt = "float32" if _b(rng, 0.3) else "float64"
    # LayerNorm over one or two features is ill-conditioned (its gradient is cancellation
    # noise in float32): float32 cases have at least 4 features
    head = int(rng.integers(1, 4))
    if dt == "float32":
        head = max(head, -(-4 // H))
    return dict(module=["TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
                        "TransformerDecoder", "Transformer"][rng.integers(5)],
                E=H * head, H=H, ff=int(rng.integers(1, 13)),
                eps=float(10.0 ** rng.uniform(-6, -2)), hint=_b(rng, 0.4),
                layers=int(rng.integers(1, 3)), N=int(rng.integers(1, 4)), S=int(rng.integers(1, 6)),
                T=int(rng.integers(1, 6)), norm_first=_b(rng), activation=["relu", "gelu"][rng.integers(2)],
                batch_first=_b(rng), bias=_b(rng, 0.8), final_norm=_b(rng), unbatched=_b(rng, 0.15),
                src_mask=["none", "causal", "bool", "float"][rng.integers(4)],
                tgt_mask=["none", "causal", "causal_float"][rng.integers(3)],
                kpm=_b(rng), mem_kpm=_b(rng), mem_mask=_b(rng, 0.3), dt=dt, seed=int(rng.integers(1 << 30)))


TF_CASES = _cases(606, 30, _draw_tf)


def _tf_pair(c):
    E, H, ff, dt = c["E"], c["H"], c["ff"], c["dt"]
    tdt, fdt = DT[dt][:2]
    lkw = dict(dim_feedforward=ff, dropout=0.0, activation=c["activation"], batch_first=c["batch_first"],
               norm_first=c["norm_first"], bias=c["bias"], layer_norm_eps=c["eps"])
    name = c["module"]
    if name in ("TransformerEncoderLayer", "TransformerDecoderLayer"):
        return _pair(name, dt, c["seed"], E, H, **lkw)
    if name == "Transformer":
        return _pair(name, dt, c["seed"], E, H, c["layers"], c["layers"], **lkw)
    layer = name + "Layer"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = getattr(torch.nn, name)(getattr(torch.nn, layer)(E, H, dtype=tdt, **lkw), c["layers"],
                                     norm=torch.nn.LayerNorm(E, dtype=tdt) if c["final_norm"] else None)
    fm = getattr(nn, name)(getattr(nn, layer)(E, H, dtype=fdt, **lkw), c["layers"],
                           norm=nn.LayerNorm(E, dtype=fdt) if c["final_norm"] else None)
    _perturb(tm, c["seed"])
    _load(tm, fm)
    return tm.eval(), fm.eval()


def _sq_mask(kind, n, rng, dt, lib):
    if kind == "none":
        return None
    if kind == "causal_float":
        mod = torch.nn.Transformer if lib is torch else nn.Transformer
        return mod.generate_square_subsequent_mask(n, dtype=DT[dt][0] if lib is torch else DT[dt][1])
    if kind == "causal":
        m = np.triu(np.ones((n, n), bool), 1)
    elif kind == "bool":
        m = rng.random((n, n)) > 0.6
        m[:, 0] = False
    else:
        m = rng.standard_normal((n, n)).astype(DT[dt][2])
    return torch.tensor(m) if lib is torch else fg.tensor(m)


@pytest.mark.parametrize("c", TF_CASES, ids=_ids(TF_CASES))
def test_transformer_modules_random(c):
    rng = np.random.default_rng(c["seed"])
    tm, fm = _tf_pair(c)
    E, N, S, T, dt = c["E"], c["N"], c["S"], c["T"], c["dt"]
    unb = c["unbatched"]

    def lay(s):
        if unb:
            return (s, E)
        return (N, s, E) if c["batch_first"] else (s, N, E)
    kpm_rng = np.random.default_rng(c["seed"] + 1)

    def kpm(n):
        m = kpm_rng.random((n,) if unb else (N, n)) > 0.6
        m[..., 0] = False
        return m
    skpm = kpm(S) if c["kpm"] else None
    tkpm = kpm(T) if c["kpm"] else None
    mkpm = kpm(S) if c["mem_kpm"] else None
    mem_mask = kpm_rng.standard_normal((T, S)).astype(DT[dt][2]) if c["mem_mask"] else None
    mrng = [np.random.default_rng(c["seed"] + 2) for _ in range(2)]
    name = c["module"]
    # the is_causal hints, given (True) only where the mask is the causal one
    src_hint = {"is_causal": True} if c["hint"] and c["src_mask"] == "causal" else {}
    tgt_hint = {"tgt_is_causal": True} if c["hint"] and c["tgt_mask"] != "none" else {}
    results = []
    for lib, mod, i in ((torch, tm, 0), (nn, fm, 1)):
        conv = _tt if lib is torch else _ft
        if name.startswith("TransformerEncoder"):
            if i == 0:
                t_in, f_in = _leaves(rng, dt, lay(S))
            ins = t_in if i == 0 else f_in
            sm = _sq_mask(c["src_mask"], S, mrng[i], dt, lib)
            key = "src_mask" if name.endswith("Layer") else "mask"
            results.append(mod(ins[0], src_key_padding_mask=conv(skpm), **{key: sm}, **src_hint))
        elif name.startswith("TransformerDecoder"):
            if i == 0:
                t_in, f_in = _leaves(rng, dt, lay(T), lay(S))
            ins = t_in if i == 0 else f_in
            tmask = _sq_mask(c["tgt_mask"], T, mrng[i], dt, lib)
            results.append(mod(ins[0], ins[1], tgt_mask=tmask, memory_mask=conv(mem_mask),
                               tgt_key_padding_mask=conv(tkpm), memory_key_padding_mask=conv(mkpm),
                               **tgt_hint))
        else:
            if i == 0:
                t_in, f_in = _leaves(rng, dt, lay(S), lay(T))
            ins = t_in if i == 0 else f_in
            sm = _sq_mask(c["src_mask"], S, mrng[i], dt, lib)
            tmask = _sq_mask(c["tgt_mask"], T, mrng[i], dt, lib)
            results.append(mod(ins[0], ins[1], src_mask=sm, tgt_mask=tmask, memory_mask=conv(mem_mask),
                               src_key_padding_mask=conv(skpm), tgt_key_padding_mask=conv(tkpm),
                               memory_key_padding_mask=conv(mkpm), **tgt_hint,
                               **{"src_" + k: v for k, v in src_hint.items()}))
    # LayerNorm amplifies float32 rounding (and GEMM blockings that differ run to run) in
    # the gradients; float64 carries the tight check
    _compare([results[0]], [results[1]], t_in, f_in, dt, rng, tm, fm, loose=5.0 if dt == "float32" else 1.0)


# ---- errors -----------------------------------------------------------------------------------

def _shape_text(shape):
    return re.escape(str(tuple(shape)))


ERROR_CASES = [
    # (id, torch call, fastgrad call, words the fastgrad message must hold)
    ("rnn-input-size",
     lambda: torch.nn.RNN(3, 4)(torch.zeros(5, 2, 2)),
     lambda: nn.RNN(3, 4)(fg.zeros((5, 2, 2))), ["RNN", _shape_text((5, 2, 2))]),
    ("lstm-input-size-batch-first",
     lambda: torch.nn.LSTM(3, 4, batch_first=True)(torch.zeros(2, 5, 4)),
     lambda: nn.LSTM(3, 4, batch_first=True)(fg.zeros((2, 5, 4))), ["LSTM", _shape_text((2, 5, 4))]),
    ("gru-4d-input",
     lambda: torch.nn.GRU(3, 4)(torch.zeros(1, 5, 2, 3)),
     lambda: nn.GRU(3, 4)(fg.zeros((1, 5, 2, 3))), ["GRU", _shape_text((1, 5, 2, 3))]),
    ("gru-h0-batch",
     lambda: torch.nn.GRU(3, 4, 2)(torch.zeros(5, 2, 3), torch.zeros(2, 3, 4)),
     lambda: nn.GRU(3, 4, 2)(fg.zeros((5, 2, 3)), fg.zeros((2, 3, 4))), ["GRU", _shape_text((2, 3, 4))]),
    ("rnn-h0-layers-bidirectional",
     lambda: torch.nn.RNN(3, 4, 2, bidirectional=True)(torch.zeros(5, 2, 3), torch.zeros(2, 2, 4)),
     lambda: nn.RNN(3, 4, 2, bidirectional=True)(fg.zeros((5, 2, 3)), fg.zeros((2, 2, 4))),
     ["RNN", _shape_text((2, 2, 4))]),
    ("lstm-c0-hidden",
     lambda: torch.nn.LSTM(3, 4)(torch.zeros(5, 2, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 5))),
     lambda: nn.LSTM(3, 4)(fg.zeros((5, 2, 3)), (fg.zeros((1, 2, 4)), fg.zeros((1, 2, 5)))),
     ["LSTM", _shape_text((1, 2, 5))]),
    ("lstm-proj-h0-size",
     lambda: torch.nn.LSTM(3, 4, proj_size=2)(torch.zeros(5, 2, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))),
     lambda: nn.LSTM(3, 4, proj_size=2)(fg.zeros((5, 2, 3)), (fg.zeros((1, 2, 4)), fg.zeros((1, 2, 4)))),
     ["LSTM", _shape_text((1, 2, 4))]),
    ("gru-unbatched-3d-h0",
     lambda: torch.nn.GRU(3, 4)(torch.zeros(5, 3), torch.zeros(1, 1, 4)),
     lambda: nn.GRU(3, 4)(fg.zeros((5, 3)), fg.zeros((1, 1, 4))), ["GRU", _shape_text((1, 1, 4))]),
    ("rnncell-input-size",
     lambda: torch.nn.RNNCell(3, 4)(torch.zeros(2, 5)),
     lambda: nn.RNNCell(3, 4)(fg.zeros((2, 5))), ["RNNCell", _shape_text((2, 5))]),
    ("grucell-hx-batch",
     lambda: torch.nn.GRUCell(3, 4)(torch.zeros(2, 3), torch.zeros(3, 4)),
     lambda: nn.GRUCell(3, 4)(fg.zeros((2, 3)), fg.zeros((3, 4))), ["GRUCell", _shape_text((3, 4))]),
    ("lstmcell-3d-input",
     lambda: torch.nn.LSTMCell(3, 4)(torch.zeros(1, 2, 3)),
     lambda: nn.LSTMCell(3, 4)(fg.zeros((1, 2, 3))), ["LSTMCell", _shape_text((1, 2, 3))]),
    ("sdpa-key-width",
     lambda: TSDPA(torch.zeros(2, 5, 4), torch.zeros(2, 6, 3), torch.zeros(2, 6, 4)),
     lambda: F.scaled_dot_product_attention(fg.zeros((2, 5, 4)), fg.zeros((2, 6, 3)), fg.zeros((2, 6, 4))),
     ["scaled_dot_product_attention", _shape_text((2, 6, 3))]),
    ("lstm-input-dtype",
     lambda: torch.nn.LSTM(3, 4)(torch.zeros(5, 2, 3, dtype=torch.float64)),
     lambda: nn.LSTM(3, 4)(fg.zeros((5, 2, 3), dtype=fg.float64)), ["LSTM", "dtype", _shape_text((5, 2, 3))]),
    ("gru-packed-input-dtype",
     lambda: torch.nn.GRU(3, 4)(TR.pack_padded_sequence(torch.zeros(5, 2, 3, dtype=torch.float64), [5, 3])),
     lambda: nn.GRU(3, 4)(U.pack_padded_sequence(fg.zeros((5, 2, 3), dtype=fg.float64), [5, 3])),
     ["GRU", "dtype"]),
    ("rnn-h0-dtype",
     lambda: torch.nn.RNN(3, 4)(torch.zeros(5, 2, 3), torch.zeros(1, 2, 4, dtype=torch.float64)),
     lambda: nn.RNN(3, 4)(fg.zeros((5, 2, 3)), fg.zeros((1, 2, 4), dtype=fg.float64)),
     ["RNN", "dtype", _shape_text((1, 2, 4))]),
    ("lstm-c0-dtype",
     lambda: torch.nn.LSTM(3, 4)(torch.zeros(5, 2, 3),
                                 (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4, dtype=torch.float64))),
     lambda: nn.LSTM(3, 4)(fg.zeros((5, 2, 3)), (fg.zeros((1, 2, 4)), fg.zeros((1, 2, 4), dtype=fg.float64))),
     ["LSTM", "c_0", _shape_text((1, 2, 4))]),
    ("rnncell-input-dtype",
     lambda: torch.nn.RNNCell(3, 4)(torch.zeros(2, 3, dtype=torch.float64)),
     lambda: nn.RNNCell(3, 4)(fg.zeros((2, 3), dtype=fg.float64)), ["RNNCell", "dtype", _shape_text((2, 3))]),
    ("grucell-hx-dtype",
     lambda: torch.nn.GRUCell(3, 4)(torch.zeros(2, 3), torch.zeros(2, 4, dtype=torch.float64)),
     lambda: nn.GRUCell(3, 4)(fg.zeros((2, 3)), fg.zeros((2, 4), dtype=fg.float64)),
     ["GRUCell", "dtype", _shape_text((2, 4))]),
    ("sdpa-qkv-dtypes",
     lambda: TSDPA(torch.zeros(2, 5, 4), torch.zeros(2, 6, 4, dtype=torch.float64), torch.zeros(2, 6, 4)),
     lambda: F.scaled_dot_product_attention(fg.zeros((2, 5, 4)), fg.zeros((2, 6, 4), dtype=fg.float64),
                                            fg.zeros((2, 6, 4))),
     ["scaled_dot_product_attention", "dtype", _shape_text((2, 6, 4))]),
    ("sdpa-float64-mask-float32-query",
     lambda: TSDPA(torch.zeros(2, 5, 4), torch.zeros(2, 6, 4), torch.zeros(2, 6, 4),
                   attn_mask=torch.zeros(5, 6, dtype=torch.float64)),
     lambda: F.scaled_dot_product_attention(fg.zeros((2, 5, 4)), fg.zeros((2, 6, 4)), fg.zeros((2, 6, 4)),
                                            attn_mask=fg.zeros((5, 6), dtype=fg.float64)),
     ["scaled_dot_product_attention", "attn_mask", _shape_text((5, 6))]),
    ("sdpa-integer-query",
     lambda: TSDPA(torch.zeros(2, 5, 4, dtype=torch.int64), torch.zeros(2, 6, 4, dtype=torch.int64),
                   torch.zeros(2, 6, 4, dtype=torch.int64)),
     lambda: F.scaled_dot_product_attention(fg.zeros((2, 5, 4), dtype=fg.int64), fg.zeros((2, 6, 4), dtype=fg.int64),
                                            fg.zeros((2, 6, 4), dtype=fg.int64)),
     ["scaled_dot_product_attention", "int64", _shape_text((2, 5, 4))]),
    ("mha-key-width-with-kdim",
     lambda: torch.nn.MultiheadAttention(4, 2, kdim=3, vdim=5)(torch.zeros(5, 3, 4), torch.zeros(6, 3, 4),
                                                               torch.zeros(6, 3, 5)),
     lambda: nn.MultiheadAttention(4, 2, kdim=3, vdim=5)(fg.zeros((5, 3, 4)), fg.zeros((6, 3, 4)),
                                                         fg.zeros((6, 3, 5))),
     ["multi_head_attention_forward", "key weights", re.escape("(4, 3)"), _shape_text((6, 3, 4))]),
]


@pytest.mark.parametrize("tcall,fcall,words", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_bad_inputs_raise_like_torch(tcall, fcall, words):
    with pytest.raises(Exception) as te:
        tcall()
    with pytest.raises(Exception) as fe:
        fcall()
    assert isinstance(fe.value, type(te.value)), (type(fe.value), type(te.value))
    for w in words:
        assert re.search(w, str(fe.value)), (w, str(fe.value))
