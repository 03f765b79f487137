"""nn.MultiheadAttention and the Transformer layers against PyTorch with copied weights
(state_dict both ways): outputs, attention weights and the gradients of every parameter and
input, in float64 and float32, over batch_first, norm_first, activations, masks, kdim/vdim,
add_bias_kv/add_zero_attn and unbatched inputs; dropout in training mode; initialisation;
errors."""
import copy
import warnings

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn
from fastgrad.autograd.gradcheck import gradcheck

from conftest import backward_weighted

torch = pytest.importorskip("torch")

DTYPES = {"float64": (torch.float64, fg.float64, np.float64, 1e-10),
          "float32": (torch.float32, fg.float32, np.float32, 2e-4)}


def _perturb(tm, seed=0):
    """Random offsets on every parameter, so zero biases and unit LayerNorm weights take
    part in the comparison too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tm.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))


def _pair(cls_name, dt, *args, **kwargs):
    """A torch module and a fastgrad module of the same class, fastgrad holding torch's
    (perturbed) weights, both in eval mode."""
    tdt, fdt, _, _ = DTYPES[dt]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # torch's enable_nested_tensor notice
        tm = getattr(torch.nn, cls_name)(*args, dtype=tdt, **kwargs)
    _perturb(tm)
    fm = getattr(nn, cls_name)(*args, dtype=fdt, **kwargs)
    tsd, fsd = tm.state_dict(), fm.state_dict()
    assert list(tsd) == list(fsd), "state_dict keys differ from PyTorch's"
    for k, v in tsd.items():
        assert tuple(v.shape) == tuple(fsd[k].shape), k
    fm.load_state_dict({k: fg.tensor(v.numpy().copy()) for k, v in tsd.items()})
    return tm.eval(), fm.eval()


def _leaves(rng, dt, *shapes):
    _, _, npdt, _ = DTYPES[dt]
    arrs = [rng.standard_normal(s).astype(npdt) for s in shapes]
    return ([torch.tensor(a, requires_grad=True) for a in arrs],
            [fg.tensor(a.copy(), requires_grad=True) for a in arrs])


def _compare(tm, fm, t_outs, f_outs, t_in, f_in, dt, rng):
    """Values of every output, then the gradients of every parameter and input under a
    random weighting of the outputs."""
    tol = DTYPES[dt][3]
    t_outs = [t for t in t_outs if t is not None]
    f_outs = [t for t in f_outs if t is not None]
    assert len(t_outs) == len(f_outs)
    for a, b in zip(t_outs, f_outs):
        assert tuple(a.shape) == tuple(b.shape)
        assert b.dtype == DTYPES[dt][1]
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=tol, atol=tol)
    backward_weighted(t_outs, f_outs, rng, DTYPES[dt][2])
    fparams = dict(fm.named_parameters())
    tparams = dict(tm.named_parameters())
    assert list(fparams) == list(tparams)
    for name, p in tparams.items():
        if p.grad is None:
            assert fparams[name].grad is None or not fparams[name].grad.numpy().any(), name
            continue
        np.testing.assert_allclose(fparams[name].grad.numpy(), p.grad.numpy(), rtol=tol, atol=tol,
                                   err_msg=f"gradient of {name}")
    for i, (a, b) in enumerate(zip(t_in, f_in)):
        if a.grad is None:                      # an input the result does not depend on
            assert b.grad is None or not b.grad.numpy().any(), f"input {i}"
            continue
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=tol, atol=tol,
                                   err_msg=f"gradient of input {i}")


def _masks(kind, rng, N, L, S, H, batched=True, as_float=False, npdt=np.float64):
    """(attn_mask, key_padding_mask) as NumPy arrays (bool True = masked out) for a kind
    in none, causal, bool, float, kpm, both, mask3d.  No query row is fully masked."""
    am = kpm = None
    if kind in ("causal", "both"):
        am = np.triu(np.ones((L, S), bool), 1)
    elif kind == "bool":
        am = rng.random((L, S)) > 0.6
        am[:, 0] = False
    elif kind == "float":
        am = rng.standard_normal((L, S)).astype(npdt)
    elif kind == "mask3d":
        am = rng.random(((N * H) if batched else H, L, S)) > 0.6
        am[..., 0] = False
    if kind in ("kpm", "both"):
        kpm = np.zeros((N, S) if batched else (S,), bool)
        kpm[..., S - 2:] = True
        if batched:
            kpm[-1] = False
    if as_float:
        am = None if am is None or am.dtype != bool else np.where(am, -np.inf, 0.0).astype(npdt)
        kpm = None if kpm is None else np.where(kpm, -np.inf, 0.0).astype(npdt)
    return am, kpm


def _tt(a):
    return None if a is None else torch.tensor(a)


def _ft(a):
    return None if a is None else fg.tensor(a)


# ---- MultiheadAttention --------------------------------------------------------------------

MHA_CASES = [
    # (constructor kwargs, mask kind, self-attention, need_weights, average_attn_weights)
    ({}, "none", True, True, True),
    ({}, "none", True, False, True),
    ({}, "causal", True, True, False),
    ({}, "causal", True, False, True),
    ({}, "kpm", False, True, True),
    ({}, "kpm", False, False, True),
    ({}, "both", True, True, False),
    ({}, "both", True, False, True),
    ({}, "float", False, True, True),
    ({}, "float", False, False, True),
    ({}, "mask3d", True, True, False),
    ({}, "mask3d", True, False, True),
    ({"kdim": 3, "vdim": 5}, "both", False, True, True),
    ({"kdim": 3, "vdim": 5}, "kpm", False, False, True),
    ({"add_bias_kv": True}, "both", True, True, False),
    ({"add_bias_kv": True}, "bool", False, False, True),
    ({"add_zero_attn": True}, "both", True, True, True),
    ({"add_zero_attn": True, "add_bias_kv": True, "kdim": 3, "vdim": 5}, "both", False, False, True),
    ({"bias": False}, "kpm", True, True, True),
    ({"bias": False, "kdim": 3, "vdim": 5}, "none", False, False, True),
]


@pytest.mark.parametrize("dt", ["float64", "float32"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("case", MHA_CASES, ids=lambda c: f"{c[0]}-{c[1]}-self{c[2]}-w{c[3]}-avg{c[4]}")
def test_mha_matches_torch(case, batch_first, dt):
    kw, kind, self_attn, need_weights, avg = case
    rng = np.random.default_rng(len(str(case)) + batch_first)
    E, H, N, L = 8, 2, 3, 5
    S = L if self_attn or kind in ("causal", "both") else 6
    tm, fm = _pair("MultiheadAttention", dt, E, H, batch_first=batch_first, **kw)
    kd, vd = kw.get("kdim", E), kw.get("vdim", E)
    lay = (lambda n, s, e: (n, s, e)) if batch_first else (lambda n, s, e: (s, n, e))
    if self_attn and kd == E and vd == E:
        t_in, f_in = _leaves(rng, dt, lay(N, L, E))
        tq = tk = tv = t_in[0]
        fq = fk = fv = f_in[0]
    else:
        t_in, f_in = _leaves(rng, dt, lay(N, L, E), lay(N, S, kd), lay(N, S, vd))
        (tq, tk, tv), (fq, fk, fv) = t_in, f_in
    am, kpm = _masks(kind, rng, N, L, S, H, npdt=DTYPES[dt][2])
    causal = kind in ("causal", "both")
    t_res = tm(tq, tk, tv, key_padding_mask=_tt(kpm), need_weights=need_weights, attn_mask=_tt(am),
               average_attn_weights=avg, is_causal=causal)
    f_res = fm(fq, fk, fv, key_padding_mask=_ft(kpm), need_weights=need_weights, attn_mask=_ft(am),
               average_attn_weights=avg, is_causal=causal)
    assert (f_res[1] is None) == (not need_weights)
    _compare(tm, fm, list(t_res), list(f_res), t_in, f_in, dt, rng)


@pytest.mark.parametrize("kind", ["none", "kpm", "both", "mask3d"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_unbatched_matches_torch(kind, need_weights):
    rng = np.random.default_rng(7)
    E, H, L = 8, 4, 5
    tm, fm = _pair("MultiheadAttention", "float64", E, H, kdim=6, vdim=3, add_bias_kv=kind == "both")
    t_in, f_in = _leaves(rng, "float64", (L, E), (L, 6), (L, 3))
    am, kpm = _masks(kind, rng, 1, L, L, H, batched=False)
    t_res = tm(*t_in, key_padding_mask=_tt(kpm), attn_mask=_tt(am), need_weights=need_weights,
               average_attn_weights=False)
    f_res = fm(*f_in, key_padding_mask=_ft(kpm), attn_mask=_ft(am), need_weights=need_weights,
               average_attn_weights=False)
    assert f_res[0].shape == (L, E)
    if need_weights:
        assert f_res[1].shape == (H, L, L + (kind == "both"))
    _compare(tm, fm, list(t_res), list(f_res), t_in, f_in, "float64", rng)


def test_mha_float_and_bool_masks_agree():
    """A bool mask (True = masked out) and the additive float mask with -inf there give the
    same output and weights."""
    rng = np.random.default_rng(3)
    m = nn.MultiheadAttention(8, 2, dtype=fg.float64).eval()
    x = fg.tensor(rng.standard_normal((4, 2, 8)))
    am, kpm = _masks("both", rng, 2, 4, 4, 2)
    fam, fkpm = _masks("both", rng, 2, 4, 4, 2, as_float=True)
    a = m(x, x, x, key_padding_mask=fg.tensor(kpm), attn_mask=fg.tensor(am))
    b = m(x, x, x, key_padding_mask=fg.tensor(fkpm), attn_mask=fg.tensor(fam))
    for u, v in zip(a, b):
        np.testing.assert_allclose(u.detach().numpy(), v.detach().numpy(), rtol=0, atol=1e-14)
    w = a[1].detach().numpy()
    assert np.all(w[:, np.triu(np.ones((4, 4), bool), 1)] == 0)


def test_mismatched_mask_types_warn_as_torch_does():
    m = nn.MultiheadAttention(8, 2)
    x = fg.zeros((3, 2, 8))
    with pytest.warns(UserWarning, match="Support for mismatched key_padding_mask and attn_mask"):
        m(x, x, x, key_padding_mask=fg.zeros((2, 3), dtype=fg.bool), attn_mask=fg.zeros((3, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m(x, x, x, key_padding_mask=fg.zeros((2, 3), dtype=fg.bool), attn_mask=fg.zeros((3, 3), dtype=fg.bool))


def test_mha_gradcheck_float64():
    rng = np.random.default_rng(5)
    m = nn.MultiheadAttention(4, 2, kdim=3, vdim=2, add_bias_kv=True, dtype=fg.float64).eval()
    q, k, v = (fg.tensor(rng.standard_normal(s), requires_grad=True) for s in ((3, 2, 4), (4, 2, 3), (4, 2, 2)))
    am = fg.tensor(rng.standard_normal((3, 4)))

    def f(q, k, v):
        out, w = m(q, k, v, attn_mask=am, average_attn_weights=False)
        return out.sum() + (w * w).sum()
    assert gradcheck(f, (q, k, v))


@pytest.mark.parametrize("dt", ["float64", "float32"])
@pytest.mark.parametrize("case", ["packed", "separate", "static_kv", "bias_kv_zero_attn", "unbatched"])
@pytest.mark.filterwarnings("ignore:Support for mismatched")    # float attn_mask, bool padding
def test_functional_mha_matches_torch(case, dt):
    """F.multi_head_attention_forward against torch.nn.functional's, with every weight a
    differentiated input."""
    rng = np.random.default_rng(37)
    E, H, N, L, S = 6, 3, 2, 4, 5
    D = E // H
    sep = case == "separate"
    shapes = [(L, N, E), (S, N, E), (S, N, E), (E, E) if sep else (3 * E, E), (3 * E,), (E, E), (E,)]
    if sep:
        shapes += [(E, E), (E, E)]
    if case == "bias_kv_zero_attn":
        shapes += [(1, 1, E), (1, 1, E)]
    if case == "static_kv":
        shapes += [(N * H, S, D), (N * H, S, D)]
    if case == "unbatched":
        shapes[:3] = [(L, E), (S, E), (S, E)]
    t_in, f_in = _leaves(rng, dt, *shapes)
    kpm = np.zeros((N, S) if case != "unbatched" else (S,), bool)
    kpm[..., -1] = True
    am = rng.standard_normal((L, S)).astype(DTYPES[dt][2])

    def call(mod, ins, tens):
        q, k, v, w, b, ow, ob = ins[:7]
        kw = dict(key_padding_mask=tens(kpm), attn_mask=tens(am), average_attn_weights=False)
        bias_k = bias_v = None
        if sep:
            kw.update(use_separate_proj_weight=True, q_proj_weight=w, k_proj_weight=ins[7], v_proj_weight=ins[8])
        if case == "bias_kv_zero_attn":
            bias_k, bias_v = ins[7], ins[8]
        if case == "static_kv":
            kw.update(static_k=ins[7], static_v=ins[8])
        return mod.multi_head_attention_forward(q, k, v, E, H, None if sep else w, b, bias_k, bias_v,
                                                case == "bias_kv_zero_attn", 0.0, ow, ob, **kw)
    t_res = call(torch.nn.functional, t_in, _tt)
    f_res = call(nn.functional, f_in, _ft)
    _compare(torch.nn.Module(), nn.Module(), list(t_res), list(f_res), t_in, f_in, dt, rng)


def test_functional_mha_bad_num_heads():
    x = fg.zeros((3, 2, 4))
    w, b = fg.zeros((12, 4)), fg.zeros((12,))
    with pytest.raises(ValueError, match="multi_head_attention_forward: num_heads must be a positive int"):
        nn.functional.multi_head_attention_forward(x, x, x, 4, 0, w, b, None, None, False, 0.0, w[:4], b[:4])


# ---- Transformer layers --------------------------------------------------------------------

@pytest.mark.parametrize("dt", ["float64", "float32"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("kind", ["none", "causal", "kpm", "both"])
def test_encoder_layer_matches_torch(kind, activation, norm_first, batch_first, dt):
    rng = np.random.default_rng(11)
    E, H, N, S = 8, 2, 3, 5
    tm, fm = _pair("TransformerEncoderLayer", dt, E, H, 16, activation=activation, batch_first=batch_first,
                   norm_first=norm_first)
    t_in, f_in = _leaves(rng, dt, (N, S, E) if batch_first else (S, N, E))
    am, kpm = _masks(kind, rng, N, S, S, H)
    causal = kind in ("causal", "both")
    t_out = tm(t_in[0], src_mask=_tt(am), src_key_padding_mask=_tt(kpm), is_causal=causal)
    f_out = fm(f_in[0], src_mask=_ft(am), src_key_padding_mask=_ft(kpm), is_causal=causal)
    _compare(tm, fm, [t_out], [f_out], t_in, f_in, dt, rng)


def test_encoder_layer_callable_activation_and_unbatched():
    rng = np.random.default_rng(12)
    tm, fm = _pair("TransformerEncoderLayer", "float64", 8, 4, 12, activation=torch.nn.functional.silu,
                   bias=False)
    fm.activation = nn.functional.silu
    t_in, f_in = _leaves(rng, "float64", (5, 8))
    am = np.triu(np.ones((5, 5), bool), 1)
    t_out = tm(t_in[0], src_mask=_tt(am))
    f_out = fm(f_in[0], src_mask=_ft(am))
    assert f_out.shape == (5, 8)
    _compare(tm, fm, [t_out], [f_out], t_in, f_in, "float64", rng)


@pytest.mark.filterwarnings("ignore:Support for mismatched")    # float memory_mask, bool padding
@pytest.mark.parametrize("dt", ["float64", "float32"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_matches_torch(activation, norm_first, batch_first, dt):
    rng = np.random.default_rng(13)
    E, H, N, T, S = 8, 2, 3, 4, 6
    tm, fm = _pair("TransformerDecoderLayer", dt, E, H, 16, activation=activation, batch_first=batch_first,
                   norm_first=norm_first)
    lay = (lambda s: (N, s, E)) if batch_first else (lambda s: (s, N, E))
    t_in, f_in = _leaves(rng, dt, lay(T), lay(S))
    tgt_mask = np.triu(np.ones((T, T), bool), 1)
    mem_mask = rng.standard_normal((T, S)).astype(DTYPES[dt][2])
    tkpm, mkpm = np.zeros((N, T), bool), np.zeros((N, S), bool)
    tkpm[0, -1] = True
    mkpm[1, -2:] = True
    kw = dict(tgt_mask=tgt_mask, memory_mask=mem_mask, tgt_key_padding_mask=tkpm,
              memory_key_padding_mask=mkpm)
    t_out = tm(*t_in, tgt_is_causal=True, **{k: _tt(v) for k, v in kw.items()})
    f_out = fm(*f_in, tgt_is_causal=True, **{k: _ft(v) for k, v in kw.items()})
    _compare(tm, fm, [t_out], [f_out], t_in, f_in, dt, rng)


@pytest.mark.filterwarnings("ignore:Support for mismatched")    # float causal mask, bool padding
@pytest.mark.parametrize("dt", ["float64", "float32"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_stack_matches_torch(batch_first, dt):
    rng = np.random.default_rng(17)
    E, H, N, S = 8, 2, 2, 6
    tdt, fdt = DTYPES[dt][:2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(E, H, 16, dtype=tdt,
                                                                          batch_first=batch_first),
                                         3, norm=torch.nn.LayerNorm(E, dtype=tdt))
    fm = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, 16, dtype=fdt, batch_first=batch_first), 3,
                               norm=nn.LayerNorm(E, dtype=fdt))
    assert list(tm.state_dict()) == list(fm.state_dict())
    _perturb(tm)
    fm.load_state_dict({k: fg.tensor(v.numpy().copy()) for k, v in tm.state_dict().items()})
    tm.eval(), fm.eval()
    t_in, f_in = _leaves(rng, dt, (N, S, E) if batch_first else (S, N, E))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(S, dtype=tdt)
    kpm = np.zeros((N, S), bool)
    kpm[0, -1] = True
    t_out = tm(t_in[0], mask=mask, src_key_padding_mask=_tt(kpm))
    f_out = fm(f_in[0], mask=nn.Transformer.generate_square_subsequent_mask(S, dtype=fdt),
               src_key_padding_mask=_ft(kpm))
    _compare(tm, fm, [t_out], [f_out], t_in, f_in, dt, rng)


@pytest.mark.parametrize("dt", ["float64", "float32"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_matches_torch(norm_first, dt):
    rng = np.random.default_rng(19)
    E, H, N, S, T = 8, 2, 2, 6, 4
    tm, fm = _pair("Transformer", dt, E, H, 2, 2, 16, norm_first=norm_first, activation="gelu")
    t_in, f_in = _leaves(rng, dt, (S, N, E), (T, N, E))
    tdt, fdt = DTYPES[dt][:2]
    skpm = np.zeros((N, S), bool)
    skpm[1, -2:] = True
    t_out = tm(*t_in, tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=tdt),
               src_key_padding_mask=_tt(skpm), memory_key_padding_mask=_tt(skpm))
    f_out = fm(*f_in, tgt_mask=nn.Transformer.generate_square_subsequent_mask(T, dtype=fdt),
               src_key_padding_mask=_ft(skpm), memory_key_padding_mask=_ft(skpm))
    _compare(tm, fm, [t_out], [f_out], t_in, f_in, dt, rng)


def test_transformer_unbatched_and_batch_first():
    rng = np.random.default_rng(23)
    tm, fm = _pair("Transformer", "float64", 8, 2, 1, 1, 16, batch_first=True)
    t_in, f_in = _leaves(rng, "float64", (6, 8), (4, 8))
    _compare(tm, fm, [tm(*t_in)], [fm(*f_in)], t_in, f_in, "float64", rng)
    assert fm(fg.tensor(rng.standard_normal((3, 6, 8))), fg.tensor(rng.standard_normal((3, 4, 8)))).shape == (3, 4, 8)


# ---- state_dict, initialisation, copies ----------------------------------------------------

@pytest.mark.parametrize("cls_name,args,kw", [
    ("MultiheadAttention", (8, 2), {"kdim": 3, "vdim": 5, "add_bias_kv": True}),
    ("TransformerEncoderLayer", (8, 2, 16), {"norm_first": True}),
    ("TransformerDecoderLayer", (8, 2, 16), {"bias": False}),
    ("Transformer", (8, 2, 1, 2, 16), {}),
])
def test_fastgrad_state_dict_loads_into_torch(cls_name, args, kw):
    """fastgrad's own initialised weights, loaded into PyTorch, give PyTorch's output."""
    rng = np.random.default_rng(29)
    fm = getattr(nn, cls_name)(*args, dtype=fg.float64, **kw).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = getattr(torch.nn, cls_name)(*args, dtype=torch.float64, **kw).eval()
    tm.load_state_dict({k: torch.tensor(v.detach().numpy().copy()) for k, v in fm.state_dict().items()})
    E = args[0]
    if cls_name == "MultiheadAttention":
        arrs = [rng.standard_normal(s) for s in ((4, 2, E), (5, 2, 3), (5, 2, 5))]
        outs = tm(*map(torch.tensor, arrs))[0], fm(*map(fg.tensor, arrs))[0]
    elif cls_name == "TransformerEncoderLayer":
        a = rng.standard_normal((4, 2, E))
        outs = tm(torch.tensor(a)), fm(fg.tensor(a))
    else:
        arrs = [rng.standard_normal(s) for s in ((4, 2, E), (5, 2, E))]
        outs = tm(*map(torch.tensor, arrs)), fm(*map(fg.tensor, arrs))
    np.testing.assert_allclose(outs[1].detach().numpy(), outs[0].detach().numpy(), rtol=1e-12, atol=1e-12)


def test_initialisation_follows_torch():
    fg.manual_seed(0)
    m = nn.MultiheadAttention(64, 4, add_bias_kv=True)
    assert m.in_proj_weight.dtype == fg.float32
    bound = np.sqrt(6.0 / (64 + 3 * 64))                  # xavier_uniform_ on (3E, E)
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert not m.in_proj_bias.detach().numpy().any() and not m.out_proj.bias.detach().numpy().any()
    ow = m.out_proj.weight.detach().numpy()                  # Linear's kaiming bound 1/sqrt(E)
    assert np.abs(ow).max() <= 1 / 8 and np.abs(ow).max() > 0.9 / 8
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert isinstance(m.out_proj, nn.Linear)
    bk = m.bias_k.detach().numpy()                           # xavier_normal_ on (1, 1, E): std sqrt(2 / (E + E))
    assert bk.shape == (1, 1, 64) and 0.05 < bk.std() < 0.25
    sep = nn.MultiheadAttention(8, 2, kdim=3, vdim=5)
    assert sep.in_proj_weight is None and tuple(sep.k_proj_weight.shape) == (8, 3)
    t = nn.Transformer(16, 2, 1, 1, 32)
    for name, p in t.named_parameters():
        a = p.detach().numpy()
        if a.ndim > 1:
            fan_in, fan_out = a.shape[1], a.shape[0]
            assert np.abs(a).max() <= np.sqrt(6.0 / (fan_in + fan_out)) + 1e-7, name
        elif "norm" in name and name.endswith("weight"):
            assert np.all(a == 1), name


def test_generate_square_subsequent_mask():
    for sz in (1, 4):
        m = nn.Transformer.generate_square_subsequent_mask(sz)
        assert m.dtype == fg.float32
        np.testing.assert_array_equal(m.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(sz).numpy())
    assert nn.Transformer.generate_square_subsequent_mask(3, dtype=fg.float64).dtype == fg.float64


def test_encoder_layers_are_independent_deep_copies():
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    enc = nn.TransformerEncoder(layer, 2)
    w0, w1 = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert w0 is not w1 and w0 is not layer.linear1.weight
    np.testing.assert_array_equal(w0.detach().numpy(), w1.detach().numpy())
    with fg.no_grad():
        w0.mul_(2.0)
    assert not np.array_equal(w0.detach().numpy(), w1.detach().numpy())
    assert [n for n, _ in enc.named_modules()][:3] == ["", "layers", "layers.0"]
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), 3)
    assert len(dec.layers) == 3 and "layers.2.multihead_attn.in_proj_weight" in dec.state_dict()


# ---- dropout -------------------------------------------------------------------------------

def test_dropout_in_training_mode():
    rng = np.random.default_rng(31)
    fm = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3, dtype=fg.float64)
    x = fg.tensor(rng.standard_normal((5, 3, 8)), requires_grad=True)
    fg.manual_seed(1)
    a = fm(x)
    fg.manual_seed(1)
    b = fm(x)
    c = fm(x)
    fm.eval()
    e = fm(x)
    assert a.shape == e.shape == (5, 3, 8)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert not np.allclose(a.detach().numpy(), e.detach().numpy())
    assert not np.allclose(a.detach().numpy(), c.detach().numpy())
    a.sum().backward()
    assert x.grad.shape == (5, 3, 8)
    mha = nn.MultiheadAttention(8, 2, dropout=0.5, dtype=fg.float64)
    fg.manual_seed(2)
    out, w = mha(x, x, x, average_attn_weights=False)
    assert out.shape == (5, 3, 8) and w.shape == (3, 2, 5, 5)
    assert (w.detach().numpy() == 0).any()          # dropped attention weights
    mha.eval()
    out_e, w_e = mha(x, x, x, average_attn_weights=False)
    np.testing.assert_allclose(w_e.detach().numpy().sum(-1), 1.0, rtol=1e-12)
    assert not np.allclose(out.detach().numpy(), out_e.detach().numpy())


# ---- errors --------------------------------------------------------------------------------

def _raises_like_torch(t_call, f_call, match):
    with pytest.raises(Exception) as te:
        t_call()
    with pytest.raises(Exception, match=match) as fe:
        f_call()
    assert isinstance(fe.value, type(te.value)), (type(fe.value), type(te.value))


def test_errors_match_torch():
    _raises_like_torch(lambda: torch.nn.MultiheadAttention(10, 3), lambda: nn.MultiheadAttention(10, 3),
                       "divisible by num_heads")
    _raises_like_torch(lambda: torch.nn.MultiheadAttention(0, 2), lambda: nn.MultiheadAttention(0, 2),
                       "greater than 0")
    _raises_like_torch(lambda: torch.nn.TransformerEncoderLayer(8, 2, activation="tanh"),
                       lambda: nn.TransformerEncoderLayer(8, 2, activation="tanh"), "relu/gelu, not tanh")
    tm = torch.nn.MultiheadAttention(8, 2)
    fm = nn.MultiheadAttention(8, 2)
    tx, fx = torch.zeros(4, 2, 8), fg.zeros((4, 2, 8))
    _raises_like_torch(lambda: tm(tx, tx, tx, attn_mask=torch.zeros(3, 4)),
                       lambda: fm(fx, fx, fx, attn_mask=fg.zeros((3, 4))),
                       r"multi_head_attention_forward: The shape of the 2D attn_mask is \(3, 4\)")
    _raises_like_torch(lambda: tm(tx, tx, tx, attn_mask=torch.zeros(4, 4, dtype=torch.int64)),
                       lambda: fm(fx, fx, fx, attn_mask=fg.zeros((4, 4), dtype=fg.int64)),
                       "only bool and floating types of attn_mask")
    _raises_like_torch(lambda: tm(tx, tx, tx, is_causal=True), lambda: fm(fx, fx, fx, is_causal=True),
                       "Need attn_mask")
    _raises_like_torch(lambda: tm(tx, torch.zeros(4, 2, 8, 1), tx), lambda: fm(fx, fg.zeros((4, 2, 8, 1)), fx),
                       r"expected `key` and `value` to be 3-D but found 4-D")
    _raises_like_torch(lambda: tm(tx, tx, tx, key_padding_mask=torch.zeros(2, 5, dtype=torch.bool)),
                       lambda: fm(fx, fx, fx, key_padding_mask=fg.zeros((2, 5), dtype=fg.bool)),
                       r"key_padding_mask of shape \(2, 4\)")
    _raises_like_torch(lambda: tm(torch.zeros(4, 2, 6), torch.zeros(4, 2, 6), torch.zeros(4, 2, 6)),
                       lambda: fm(fg.zeros((4, 2, 6)), fg.zeros((4, 2, 6)), fg.zeros((4, 2, 6))),
                       "expecting embedding dimension of 8, but got 6")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tt = torch.nn.Transformer(8, 2, 1, 1, 16)
    ft = nn.Transformer(8, 2, 1, 1, 16)
    _raises_like_torch(lambda: tt(torch.zeros(5, 2, 8), torch.zeros(4, 3, 8)),
                       lambda: ft(fg.zeros((5, 2, 8)), fg.zeros((4, 3, 8))), "batch number of src and tgt")
    _raises_like_torch(lambda: tt(torch.zeros(5, 2, 8), torch.zeros(4, 2, 6)),
                       lambda: ft(fg.zeros((5, 2, 8)), fg.zeros((4, 2, 6))), "must be equal to d_model")


def test_modules_copy_and_repr():
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2)
    dup = copy.deepcopy(enc)
    assert dup.layers[0].self_attn.in_proj_weight is not enc.layers[0].self_attn.in_proj_weight
    r = repr(enc)
    for name in ("self_attn", "out_proj", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1",
                 "dropout2"):
        assert f"({name})" in r
