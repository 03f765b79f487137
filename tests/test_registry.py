"""Generic tests driven by the op registry (fastgrad._registry.REGISTRY)."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad._registry import REGISTRY
from fastgrad.autograd import gradcheck, gradgradcheck

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


def test_every_public_op_is_registered():
    """Ops added to fastgrad must come with a registry entry (an op without one is an op
    the generic tests never see)."""
    exempt = {"getitem", "allclose", "equal", "isnan", "isinf", "isfinite", "logical_and",
              "logical_or", "logical_not", "eq", "ne", "lt", "le", "gt", "ge", "to", "mm", "t",
              "sum_to", "broadcast_to", "clip", "concat", "concatenate", "true_divide", "divide",
              "multiply", "subtract", "add_", "sub_", "mul_", "div_", "clamp_", "copy_", "fill_",
              "zero_"}
    from fastgrad import ops
    math_aliases = {"arccos", "arcsin", "arctan", "arctan2", "fix", "ger"}  # test_math_ops
    names = {n for kind in ops.GENERAL for n in kind.__all__} - exempt - math_aliases
    missing = [n for n in names if n not in REGISTRY]
    assert not missing, f"ops without a registry entry: {missing}"


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
