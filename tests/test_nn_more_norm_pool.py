"""InstanceNorm, LocalResponseNorm, BatchNorm3d, adaptive max/avg pooling, LPPool and
max_pool*_with_indices against PyTorch: values, gradients, running statistics, state
dicts and errors."""
import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn as nn
import fastgrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(2424)


def _pair(shape, lo=-2.0, hi=2.0):
    x = RNG.uniform(lo, hi, size=shape)
    return fg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def _check(fy, ty, fxs, txs, rtol=1e-10, atol=1e-12):
    assert fy.shape == tuple(ty.shape)
    np.testing.assert_allclose(fy.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    g = RNG.standard_normal(ty.shape)
    fy.backward(fg.tensor(g))
    ty.backward(torch.tensor(g))
    for fx, tx in zip(fxs, txs):
        np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)


def _copy_module(m, tm):
    m.load_state_dict({k: fg.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})


@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (3, 4, 6)), ("InstanceNorm1d", (4, 6)),
                                       ("InstanceNorm2d", (2, 4, 3, 5)), ("InstanceNorm2d", (4, 3, 5)),
                                       ("InstanceNorm3d", (2, 4, 2, 3, 2))])
@pytest.mark.parametrize("affine,track", [(False, False), (True, False), (True, True), (False, True)])
def test_instance_norm_matches_torch_train_and_eval(cls, shape, affine, track):
    tm = getattr(torch.nn, cls)(4, affine=affine, track_running_stats=track, momentum=0.3,
                                dtype=torch.float64)
    if affine:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            tm.bias.uniform_(-0.5, 0.5)
    m = getattr(nn, cls)(4, affine=affine, track_running_stats=track, momentum=0.3, dtype=fg.float64)
    assert list(m.state_dict()) == list(tm.state_dict())
    assert repr(m) == repr(tm)
    _copy_module(m, tm)
    fx, tx = _pair(shape)
    params = [m.weight, m.bias] if affine else []
    tparams = [tm.weight, tm.bias] if affine else []
    _check(m(fx), tm(tx), [fx, *params], [tx, *tparams])
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(m.state_dict()[k].numpy(), v.numpy(), rtol=1e-12, err_msg=k)
    m.eval(), tm.eval()
    fx, tx = _pair(shape)
    _check(m(fx), tm(tx), [fx], [tx])


def test_instance_norm_without_bias():
    tm = torch.nn.InstanceNorm2d(3, affine=True, bias=False, dtype=torch.float64)
    m = nn.InstanceNorm2d(3, affine=True, bias=False, dtype=fg.float64)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["weight"]
    assert repr(m) == repr(tm) and m.bias is None
    fx, tx = _pair((2, 3, 3, 4))
    _check(m(fx), tm(tx), [fx, m.weight], [tx, tm.weight])


def test_instance_norm_functional_and_errors():
    fx, tx = _pair((2, 3, 5))
    fw, tw = _pair((3,))
    fb, tb = _pair((3,))
    _check(F.instance_norm(fx, weight=fw, bias=fb, eps=1e-3),
           TF.instance_norm(tx, weight=tw, bias=tb, eps=1e-3), [fx, fw, fb], [tx, tw, tb])
    with pytest.raises(ValueError, match="instance_norm: expected more than 1 spatial element"):
        F.instance_norm(fg.zeros(2, 3, 1))
    with pytest.raises(RuntimeError):
        F.instance_norm(fg.zeros(2, 3, 1))
    with pytest.raises(ValueError, match=r"InstanceNorm2d: expected a 3-d \(unbatched\) or 4-d"):
        nn.InstanceNorm2d(3)(fg.zeros(2, 3))
    with pytest.raises(ValueError, match="InstanceNorm1d: expected input's size at dim=1 to match"):
        nn.InstanceNorm1d(4, affine=True)(fg.zeros(2, 3, 5))


def test_batchnorm3d_matches_torch():
    tm = torch.nn.BatchNorm3d(3, dtype=torch.float64)
    m = nn.BatchNorm3d(3, dtype=fg.float64)
    assert list(m.state_dict()) == list(tm.state_dict())
    fx, tx = _pair((2, 3, 2, 3, 2))
    _check(m(fx), tm(tx), [fx, m.weight], [tx, tm.weight])
    np.testing.assert_allclose(m.running_var.numpy(), tm.running_var.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="BatchNorm3d: expected 5-D input"):
        m(fg.zeros(2, 3, 4))


@pytest.mark.parametrize("shape,size", [((2, 5, 4), 3), ((2, 6, 3, 4), 2), ((1, 7, 2, 3, 2), 4),
                                        ((2, 3, 4, 4), 5)])
def test_local_response_norm_matches_torch(shape, size):
    fx, tx = _pair(shape)
    m, tm = nn.LocalResponseNorm(size, alpha=0.5, beta=0.6, k=1.5), \
        torch.nn.LocalResponseNorm(size, alpha=0.5, beta=0.6, k=1.5)
    assert repr(m) == repr(tm)
    _check(m(fx), tm(tx), [fx], [tx])
    with pytest.raises(ValueError, match="local_response_norm: expected a 3-d or higher input"):
        F.local_response_norm(fg.zeros(2, 3), 2)


ADAPTIVE = [(1, (2, 3, 7), 3), (1, (3, 8), 4), (2, (2, 3, 5, 7), (3, 2)), (2, (3, 6, 6), 3),
            (2, (1, 2, 5, 4), (None, 3)), (3, (1, 2, 5, 4, 3), (2, 3, 2)), (3, (2, 4, 4, 4), 2)]


@pytest.mark.parametrize("n,shape,out", ADAPTIVE, ids=[str(a) for a in ADAPTIVE])
def test_adaptive_max_pool_matches_torch_with_indices(n, shape, out):
    fx, tx = _pair(shape)
    fy, fi = getattr(F, f"adaptive_max_pool{n}d")(fx, out, return_indices=True)
    ty, ti = getattr(TF, f"adaptive_max_pool{n}d")(tx, out, return_indices=True)
    np.testing.assert_array_equal(fi.numpy(), ti.numpy())
    assert fi.dtype == fg.int64
    _check(fy, ty, [fx], [tx])
    m, tm = getattr(nn, f"AdaptiveMaxPool{n}d")(out), getattr(torch.nn, f"AdaptiveMaxPool{n}d")(out)
    assert repr(m) == repr(tm)
    fx, tx = _pair(shape)
    _check(m(fx), tm(tx), [fx], [tx])
    fi = getattr(F, f"adaptive_max_pool{n}d_with_indices")(fx, out)[1]
    ti = getattr(TF, f"adaptive_max_pool{n}d_with_indices")(tx, out)[1]
    np.testing.assert_array_equal(fi.numpy(), ti.numpy())


@pytest.mark.parametrize("shape,out", [((1, 2, 5, 4, 3), (2, 3, 2)), ((2, 4, 4, 4), 2),
                                       ((1, 2, 3, 6, 5), (None, 4, 1))])
def test_adaptive_avg_pool3d_matches_torch(shape, out):
    fx, tx = _pair(shape)
    _check(nn.AdaptiveAvgPool3d(out)(fx), torch.nn.AdaptiveAvgPool3d(out)(tx), [fx], [tx])
    assert repr(nn.AdaptiveAvgPool3d(out)) == repr(torch.nn.AdaptiveAvgPool3d(out))


def test_adaptive_pool_errors():
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: expected a 3-d \(unbatched\) or 4-d"):
        F.adaptive_max_pool2d(fg.zeros(3, 4), 2)
    with pytest.raises(ValueError, match="adaptive_max_pool1d: output_size"):
        F.adaptive_max_pool1d(fg.zeros(1, 3, 4), (2, 2))


@pytest.mark.parametrize("n,shape,kw", [(1, (2, 3, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
                                        (2, (2, 3, 6, 7), {"kernel_size": 2}),
                                        (3, (1, 2, 4, 5, 4), {"kernel_size": 2, "ceil_mode": True})])
def test_max_pool_with_indices_matches_torch(n, shape, kw):
    fx, tx = _pair(shape)
    fy, fi = getattr(F, f"max_pool{n}d_with_indices")(fx, **kw)
    ty, ti = getattr(TF, f"max_pool{n}d_with_indices")(tx, **kw)
    np.testing.assert_array_equal(fi.numpy(), ti.numpy())
    _check(fy, ty, [fx], [tx])


LP = [(1, (2, 3, 9), 2.0, 3, None, False), (1, (2, 3, 9), 3.0, 2, 1, True),
      (2, (2, 3, 6, 7), 2.0, 2, None, False), (2, (1, 2, 6, 7), 1.5, (2, 3), (1, 2), False),
      (3, (1, 2, 4, 4, 4), 2.0, 2, None, False)]


@pytest.mark.parametrize("n,shape,p,k,s,ceil", LP, ids=[str(x) for x in LP])
def test_lp_pool_matches_torch(n, shape, p, k, s, ceil):
    fx, tx = _pair(shape, 0.1, 2.0)
    m = getattr(nn, f"LPPool{n}d")(p, k, s, ceil)
    tm = getattr(torch.nn, f"LPPool{n}d")(p, k, s, ceil)
    assert repr(m) == repr(tm)
    _check(m(fx), tm(tx), [fx], [tx], rtol=1e-9)
