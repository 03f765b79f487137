"""Generic tests driven by the op registry (fastgrad.testing.REGISTRY)."""
import inspect
import re

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.autograd import gradcheck, gradgradcheck
from fastgrad.testing import REGISTRY

from conftest import assert_close, materialize, ref_args

OPS = sorted(REGISTRY)
GRAD_OPS = [n for n in OPS if REGISTRY[n].grad]
SIMD = fg.available_simd()


def _tol(info, dtype):
    return (info.rtol32, info.atol32) if dtype == np.float32 else (1e-10, 1e-11)


def _check_forward(info, dtype, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    for s in info.samples(rng):
        out = info.op(*materialize(s, dtype, False), **s.kwargs)
        expected = info.ref(*ref_args(s), **s.kwargs)
        if info.returns_index:
            np.testing.assert_array_equal(out.numpy(), expected, err_msg=f"{info.name} {s}")
            assert out.dtype == np.int64
            continue
        if info.keeps_dtype:
            assert out.dtype == dtype, f"{info.name} {s}: dtype {out.dtype} != {dtype}"
        rtol, atol = _tol(info, dtype)
        assert_close(out.numpy(), expected, rtol, atol, f"{info.name} {s}")


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", OPS)
def test_forward_matches_reference(name, dtype, threads, simd):
    fg.set_num_threads(threads)
    fg.set_simd(simd)
    _check_forward(REGISTRY[name], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", OPS)
def test_numpy_backend_matches_reference(name, dtype):
    with fg.use_backend("numpy"):
        _check_forward(REGISTRY[name], dtype)


def _grad_samples(info):
    return [s for s in info.samples(np.random.default_rng(1)) if s.grad]


def _has_grad_input(args):
    return any(isinstance(a, fg.Tensor) and a.requires_grad for a in args)


@pytest.mark.parametrize("name", GRAD_OPS)
def test_gradcheck(name):
    info = REGISTRY[name]
    for s in _grad_samples(info):
        args = materialize(s, np.float64, True)
        if not _has_grad_input(args) or all(a.numel() == 0 for a in args if isinstance(a, fg.Tensor)):
            continue
        gradcheck(lambda *a: info.op(*a, **s.kwargs), args)


@pytest.mark.parametrize("name", [n for n in GRAD_OPS if REGISTRY[n].gradgrad])
def test_gradgradcheck(name):
    info = REGISTRY[name]
    for s in _grad_samples(info)[:4]:
        args = materialize(s, np.float64, True)
        if not _has_grad_input(args) or all(a.numel() == 0 for a in args if isinstance(a, fg.Tensor)):
            continue
        gradgradcheck(lambda *a: info.op(*a, **s.kwargs), args, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", GRAD_OPS)
def test_fused_backward_matches_composite(name, dtype):
    """The fast backward (create_graph=False, fused kernels) and the differentiable one
    (create_graph=True, composite formulas) give the same first derivatives."""
    info = REGISTRY[name]
    rng = np.random.default_rng(2)
    for s in info.samples(rng):
        args = materialize(s, dtype, True)
        xs = [a for a in args if isinstance(a, fg.Tensor) and a.requires_grad]
        if not xs:
            continue
        out = info.op(*args, **s.kwargs)
        v = fg.tensor(rng.standard_normal(out.shape), dtype=dtype)
        fast = fg.autograd.grad(out, xs, v, retain_graph=True, allow_unused=True)
        slow = fg.autograd.grad(out, xs, v, create_graph=True, allow_unused=True)
        rtol, atol = (1e-4, 1e-5) if dtype == np.float32 else (1e-10, 1e-11)
        for f, c in zip(fast, slow):
            assert (f is None) == (c is None)
            if f is not None:
                assert_close(f.detach().numpy(), c.detach().numpy(), rtol, atol, f"{name} {s}")


@pytest.mark.filterwarnings("ignore::UserWarning")     # mse_loss warns before it raises
@pytest.mark.parametrize("name", OPS)
def test_error_inputs(name):
    info = REGISTRY[name]
    for e in info.errors():
        args = [fg.tensor(a) if isinstance(a, np.ndarray) else a for a in e.args]
        with pytest.raises(e.exc, match=e.match):
            info.op(*args, **e.kwargs)


# ---- completeness: every public op has a registry entry ------------------------------------
# Public callables of fastgrad that are not ops (they make tensors, set or report
# configuration, save, load or compile); every other public function of fastgrad is an op.
NOT_OPS = {
    # tensor factories and random state
    "tensor", "as_tensor", "from_numpy", "from_dlpack", "arange", "linspace", "eye", "empty", "empty_like", "zeros",
    "zeros_like", "ones", "ones_like", "full", "full_like", "rand", "rand_like", "randn", "randn_like",
    "randint", "randperm", "manual_seed", "initial_seed", "tril_indices", "triu_indices",
    "broadcast_shapes",
    # configuration and introspection
    "set_backend", "get_backend", "use_backend", "set_num_threads", "get_num_threads", "set_simd",
    "get_simd", "available_simd", "show_config", "set_default_dtype", "get_default_dtype",
    "result_dtype", "result_type", "promote_types", "can_cast", "is_grad_enabled", "is_inference_mode_enabled",
    "is_tensor", "is_floating_point", "numel",
    # serialization and compilation
    "save", "load", "compile",
}
# Public functions of fastgrad.nn.functional that are not ops of their own.
F_NOT_OPS = set()
# Ops without an entry of their own, and what covers them instead.
TESTED_ELSEWHERE = {
    # random: no NumPy reference can match their masks
    "dropout": "tests/test_nn.py::test_dropout_scaling_seed_and_eval",
    "dropout1d": "tests/test_conv.py::test_dropout2d_zeroes_whole_channels",
    "dropout2d": "tests/test_conv.py::test_dropout2d_zeroes_whole_channels",
    "multinomial": "tests/test_missing_ops.py::test_multinomial_*",
    "bernoulli": "tests/test_missing_ops.py::test_bernoulli_*",
    **{n: "tests/test_nn_more_dropout.py" for n in ("alpha_dropout", "feature_alpha_dropout",
                                                     "dropout3d", "gumbel_softmax")},
    # the engine's broadcast reduction: it trusts its caller's shapes (no checks on the
    # backward path), so the fuzzer's bad shapes are no test for it; every broadcasting
    # entry's gradient goes through it
    "sum_to": "tests/test_grad_accumulate.py (against NumPy) and every broadcast gradcheck",
    # the in-place integer ops (&=, |=, ^=, <<=, >>=, //=, %=), against PyTorch
    **{n: "tests/test_integer_ops.py::test_inplace_bitwise_and_floor_division_forms"
       for n in ("bitwise_and_", "bitwise_or_", "bitwise_xor_", "bitwise_left_shift_", "bitwise_right_shift_",
                 "bitwise_not_", "floor_divide_", "remainder_")},
}
# The op each loss and layer class of fastgrad.nn computes (its code names it).
LAYER_OPS = {
    "Linear": "linear", "Bilinear": "bilinear", "Embedding": "embedding",
    "Flatten": "flatten", "Unflatten": "reshape",
    "Conv1d": "conv1d", "Conv2d": "conv2d", "ConvTranspose1d": "conv_transpose1d",
    "ConvTranspose2d": "conv_transpose2d",
    "ConvTranspose3d": "conv_transpose3d",
    "MaxPool1d": "max_pool1d", "MaxPool2d": "max_pool2d", "AvgPool1d": "avg_pool1d", "AvgPool2d": "avg_pool2d",
    "AdaptiveAvgPool1d": "adaptive_avg_pool1d", "AdaptiveAvgPool2d": "adaptive_avg_pool2d",
    "GlobalAvgPool2d": "adaptive_avg_pool2d", "Upsample": "interpolate",
    "BatchNorm1d": "batch_norm", "BatchNorm2d": "batch_norm", "LayerNorm": "layer_norm",
    "GroupNorm": "group_norm", "Dropout": "dropout", "Dropout1d": "dropout1d", "Dropout2d": "dropout2d",
    "ReLU": "relu", "ReLU6": "relu6", "LeakyReLU": "leaky_relu", "ELU": "elu", "SELU": "selu", "GELU": "gelu",
    "SiLU": "silu", "Mish": "mish", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus",
    "Hardtanh": "hardtanh", "Hardswish": "hardswish", "Hardsigmoid": "hardsigmoid",
    "Softmax": "softmax", "LogSoftmax": "log_softmax",
    "CrossEntropyLoss": "cross_entropy", "NLLLoss": "nll_loss", "MSELoss": "mse_loss", "L1Loss": "l1_loss",
    "HuberLoss": "huber_loss", "SmoothL1Loss": "smooth_l1_loss", "BCELoss": "binary_cross_entropy",
    "BCEWithLogitsLoss": "binary_cross_entropy_with_logits", "KLDivLoss": "kl_div",
    "LogSigmoid": "logsigmoid", "Softsign": "softsign", "CELU": "celu", "Softmin": "softmin",
    "RMSNorm": "rms_norm", "CosineSimilarity": "cosine_similarity",
    "PairwiseDistance": "pairwise_distance", "Conv3d": "conv3d", "MaxPool3d": "max_pool3d",
    "AvgPool3d": "avg_pool3d", "MaxUnpool1d": "max_unpool1d", "MaxUnpool2d": "max_unpool2d",
    "MaxUnpool3d": "max_unpool3d", "PixelShuffle": "pixel_shuffle", "PixelUnshuffle": "pixel_unshuffle",
    # recurrent layers: composed per step from linear and the registered elementwise ops
    "RNN": "linear", "LSTM": "linear", "GRU": "linear", "RNNCell": "linear", "LSTMCell": "linear",
    "GRUCell": "linear",
    # attention layers: the attention itself is scaled_dot_product_attention (need_weights=False)
    "MultiheadAttention": "scaled_dot_product_attention",
    "TransformerEncoderLayer": "scaled_dot_product_attention",
    "TransformerDecoderLayer": "scaled_dot_product_attention",
    # nn/extra_layers.py
    "PReLU": "prelu", "GLU": "glu", "Hardshrink": "hardshrink", "Softshrink": "softshrink",
    "Tanhshrink": "tanhshrink", "Threshold": "threshold", "RReLU": "rrelu", "Softmax2d": "softmax",
    "ConstantPad1d": "pad", "ConstantPad2d": "pad", "ConstantPad3d": "pad", "ZeroPad1d": "pad",
    "ZeroPad2d": "pad", "ZeroPad3d": "pad", "ReflectionPad1d": "pad", "ReflectionPad2d": "pad",
    "ReflectionPad3d": "pad", "ReplicationPad1d": "pad", "ReplicationPad2d": "pad",
    "ReplicationPad3d": "pad", "CircularPad1d": "pad", "CircularPad2d": "pad", "CircularPad3d":
    "pad", "ChannelShuffle":
    "channel_shuffle", "Unfold": "unfold", "Fold": "fold", "UpsamplingNearest2d": "interpolate",
    "UpsamplingBilinear2d": "interpolate",
    "BatchNorm3d": "batch_norm", "InstanceNorm1d": "instance_norm", "InstanceNorm2d": "instance_norm",
    "InstanceNorm3d": "instance_norm", "LocalResponseNorm": "local_response_norm",
    "AdaptiveMaxPool1d": "adaptive_max_pool1d", "AdaptiveMaxPool2d": "adaptive_max_pool2d",
    "AdaptiveMaxPool3d": "adaptive_max_pool3d", "AdaptiveAvgPool3d": "adaptive_avg_pool3d",
    "LPPool1d": "lp_pool1d", "LPPool2d": "lp_pool2d", "LPPool3d": "lp_pool3d",
    "MarginRankingLoss": "margin_ranking_loss",
    "HingeEmbeddingLoss": "hinge_embedding_loss",
    "SoftMarginLoss": "soft_margin_loss",
    "MultiLabelSoftMarginLoss": "multilabel_soft_margin_loss",
    "CosineEmbeddingLoss": "cosine_embedding_loss",
    "TripletMarginLoss": "triplet_margin_loss",
    "PoissonNLLLoss": "poisson_nll_loss",
    "GaussianNLLLoss": "gaussian_nll_loss",
    "MultiMarginLoss": "multi_margin_loss",
    "AlphaDropout": "alpha_dropout", "FeatureAlphaDropout": "feature_alpha_dropout",
    "Dropout3d": "dropout3d",
}
# Classes of fastgrad.nn that compute nothing themselves: base classes, containers, identity.
NOT_LAYERS = {"Module", "Sequential", "ModuleList", "ModuleDict", "Identity", "ParameterList",
              "ParameterDict", "RNNBase", "RNNCellBase",
              "TransformerEncoder", "TransformerDecoder", "Transformer"}


def _covered():
    """Names the registry covers: entry names, the ops entries name in ``covers``, and the
    aliases of those (another public name for the same function object)."""
    from fastgrad.nn import functional as F
    names = set(REGISTRY) | {c for info in REGISTRY.values() for c in info.covers}
    objs = {id(getattr(m, n)) for n in names for m in (fg, F) if hasattr(m, n)}
    for m in (fg, F):
        for n, o in inspect.getmembers(m):
            if not n.startswith("_") and id(o) in objs:
                names.add(n)
    return names


def _public_functions(module):
    return {n for n, o in inspect.getmembers(module) if not n.startswith("_") and callable(o)
            and not inspect.isclass(o) and not inspect.ismodule(o)}


def test_every_public_op_is_registered():
    """Every public op of fastgrad and fastgrad.nn.functional has a registry entry (an op
    without one is an op the generic tests never see), or is a random op with tests of its
    own."""
    from fastgrad.nn import functional as F
    covered = _covered()
    ops = (_public_functions(fg) - NOT_OPS) | (_public_functions(F) - F_NOT_OPS)
    missing = sorted(ops - covered - set(TESTED_ELSEWHERE))
    assert not missing, f"ops without a registry entry: {missing}"
    stale = sorted(n for n in NOT_OPS | F_NOT_OPS | set(TESTED_ELSEWHERE)
                   if not hasattr(fg, n) and not hasattr(F, n))
    assert not stale, f"exclusions that name no public function: {stale}"


def test_every_loss_and_layer_computes_a_registered_op():
    """Every loss and layer class of fastgrad.nn computes an op that the registry covers."""
    from fastgrad import nn
    classes = {n for n, o in inspect.getmembers(nn, inspect.isclass)
               if issubclass(o, nn.Module) and n not in NOT_LAYERS}
    unknown = sorted(classes - set(LAYER_OPS))
    assert not unknown, f"loss and layer classes missing from LAYER_OPS: {unknown}"
    stale = sorted(n for n in set(LAYER_OPS) | NOT_LAYERS if not hasattr(nn, n))
    assert not stale, f"LAYER_OPS or NOT_LAYERS name classes that fastgrad.nn lacks: {stale}"
    covered = _covered() | set(TESTED_ELSEWHERE)
    for name in sorted(classes):
        op = LAYER_OPS[name]
        assert op in covered, f"nn.{name} computes {op}, which has no registry entry"
        src = "".join(inspect.getsource(c) for c in getattr(nn, name).__mro__
                      if c.__module__.startswith("fastgrad.nn") and c is not nn.Module)
        assert re.search(rf"\b{op}\b", src), f"nn.{name} does not call {op}: LAYER_OPS is out of date"


def _float_outputs(res):
    res = res if isinstance(res, (tuple, list)) else (res,)
    return [r for r in res if isinstance(r, fg.Tensor) and r.dtype.kind == "f"]


@pytest.mark.parametrize("name", GRAD_OPS)
def test_forward_mode_matches_reverse_mode(name):
    """Every differentiable op has a JVP rule, and forward mode agrees with reverse mode:
    for random directions v (inputs) and u (outputs), <J v, u> == <v, J^T u> in float64.
    An op without a rule raises NotImplementedError here."""
    from fastgrad.autograd import forward_ad as fwad
    info = REGISTRY[name]
    rng = np.random.default_rng(3)
    checked = 0
    for s in _grad_samples(info):
        args = materialize(s, np.float64, True)
        xs = [a for a in args if isinstance(a, fg.Tensor) and a.requires_grad]
        if not xs:
            continue
        vs = [fg.tensor(rng.standard_normal(x.shape)) for x in xs]
        fwds = []
        # primals that require grad: the rules record graphs (composite formulas);
        # detached primals: forward mode only (fused kernels)
        for detach in (False, True):
            with fwad.dual_level():
                it = iter(zip(xs, vs))
                duals = [fwad.make_dual(*(lambda x, v: (x.detach() if detach else x, v))(*next(it)))
                         if isinstance(a, fg.Tensor) and a.requires_grad else a for a in args]
                outs = _float_outputs(info.op(*duals, **s.kwargs))
                tans = [fwad.unpack_dual(o).tangent for o in outs]
            for o, t in zip(outs, tans):
                if t is not None:
                    assert t.shape == o.shape and t.dtype == o.dtype, f"{name} {s}: tangent {t.shape}"
            fwds.append(tans)
        outs = _float_outputs(info.op(*args, **s.kwargs))
        us = [fg.tensor(rng.standard_normal(o.shape)) for o in outs]
        fwd, fwd2 = (sum(float(np.sum(t.detach().numpy() * u.numpy()))
                         for t, u in zip(tans, us) if t is not None) for tans in fwds)
        assert abs(fwd - fwd2) <= 1e-10 * (1 + abs(fwd)), f"{name} {s}: {fwd} vs {fwd2}"
        live = [(o, u) for o, u in zip(outs, us) if o.requires_grad]
        rev = 0.0
        if live:
            gs = fg.autograd.grad([o for o, _ in live], xs, [u for _, u in live],
                                  allow_unused=True)
            rev = sum(float(np.sum(g.numpy() * v.numpy())) for g, v in zip(gs, vs) if g is not None)
        assert abs(fwd - rev) <= 1e-8 * (1 + abs(rev)), f"{name} {s}: <Jv,u>={fwd} <v,J^T u>={rev}"
        checked += 1
    assert checked, f"{name}: no sample exercised forward mode"
