"""Padding, shuffling, im2col and upsampling layers of nn/extra_layers.py and their
functional forms against PyTorch: values, gradients, reprs and errors."""
import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn as nn
import fastgrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(242)


def _pair(shape):
    x = RNG.uniform(-2, 2, size=shape)
    return fg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def _check(fy, ty, fx, tx):
    assert fy.shape == tuple(ty.shape)
    np.testing.assert_allclose(fy.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = RNG.standard_normal(ty.shape)
    fy.backward(fg.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


PADS = [
    ("ZeroPad1d", (2,), (2, 3, 5)), ("ZeroPad1d", ((1, 3),), (3, 5)),
    ("ZeroPad2d", (1,), (2, 3, 4, 5)), ("ZeroPad2d", ((1, 0, 2, 3),), (3, 4, 5)),
    ("ZeroPad2d", ((-1, 1, 0, 2),), (1, 2, 4, 5)), ("ZeroPad3d", (1,), (1, 2, 3, 4, 5)),
    ("ConstantPad1d", (2, 3.5), (2, 3, 5)), ("ConstantPad2d", ((1, 2, 0, 1), -1.0), (2, 3, 4, 5)),
    ("ConstantPad3d", ((1, 0, 0, 1, 2, 1), 0.5), (2, 3, 4, 5)),
    ("ReflectionPad1d", (2,), (2, 3, 5)), ("ReflectionPad1d", ((3, 1),), (3, 5)),
    ("ReflectionPad2d", (1,), (2, 3, 4, 5)), ("ReflectionPad2d", ((2, 1, 3, 0),), (3, 4, 5)),
    ("ReflectionPad3d", (1,), (1, 2, 3, 4, 5)),
    ("ReplicationPad1d", (2,), (2, 3, 5)), ("ReplicationPad2d", ((2, 1, 3, 0),), (2, 3, 4, 5)),
    ("ReplicationPad3d", ((1, 2, 0, 1, 2, 0),), (2, 3, 4, 5)),
    ("CircularPad1d", (2,), (2, 3, 5)), ("CircularPad2d", ((2, 1, 3, 0),), (2, 3, 4, 5)),
    ("CircularPad3d", (1,), (1, 2, 3, 4, 5)),
]


@pytest.mark.parametrize("cls,args,shape", PADS, ids=[f"{p[0]}{p[1]}{p[2]}" for p in PADS])
def test_padding_layers_match_torch(cls, args, shape):
    m, tm = getattr(nn, cls)(*args), getattr(torch.nn, cls)(*args)
    assert repr(m) == repr(tm)
    assert m.padding == tm.padding
    fx, tx = _pair(shape)
    _check(m(fx), tm(tx), fx, tx)


def test_padding_layer_state_and_errors():
    assert nn.ConstantPad2d(1, 2.0).value == 2.0 and nn.ZeroPad2d(1).state_dict() == {}
    with pytest.raises(ValueError, match=r"ReflectionPad2d: expected a 3-d \(unbatched\) or 4-d"):
        nn.ReflectionPad2d(1)(fg.zeros(5, 5))
    with pytest.raises(ValueError, match="ZeroPad2d: padding must be an int or a tuple of 4 ints"):
        nn.ZeroPad2d((1, 2))


@pytest.mark.parametrize("shape,r", [((1, 8, 3, 4), 2), ((2, 9, 2, 3), 3), ((4, 2, 2), 2),
                                     ((2, 3, 4, 2, 2), 1), ((2, 1, 8, 2, 3), 2)])
def test_pixel_shuffle_and_unshuffle_match_torch(shape, r):
    fx, tx = _pair(shape)
    _check(F.pixel_shuffle(fx, r), TF.pixel_shuffle(tx, r), fx, tx)
    m, tm = nn.PixelShuffle(r), torch.nn.PixelShuffle(r)
    assert repr(m) == repr(tm)
    up = TF.pixel_shuffle(tx, r).detach().numpy()
    fu, tu = fg.tensor(up, requires_grad=True), torch.tensor(up, requires_grad=True)
    _check(nn.PixelUnshuffle(r)(fu), torch.nn.PixelUnshuffle(r)(tu), fu, tu)
    assert repr(nn.PixelUnshuffle(r)) == repr(torch.nn.PixelUnshuffle(r))


def test_pixel_shuffle_keeps_integer_dtype():
    x = np.arange(2 * 8 * 2 * 2).reshape(2, 8, 2, 2)
    np.testing.assert_array_equal(F.pixel_shuffle(fg.tensor(x), 2).numpy(),
                                  TF.pixel_shuffle(torch.tensor(x), 2).numpy())


@pytest.mark.parametrize("shape,g", [((2, 6, 3), 2), ((2, 6, 3, 4), 3), ((1, 8, 2, 2, 2), 4)])
def test_channel_shuffle_matches_torch(shape, g):
    fx, tx = _pair(shape)
    _check(nn.ChannelShuffle(g)(fx), torch.nn.ChannelShuffle(g)(tx), fx, tx)
    assert repr(nn.ChannelShuffle(g)) == repr(torch.nn.ChannelShuffle(g))


UNFOLDS = [
    ((2, 3, 5, 6), {"kernel_size": 2}),
    ((2, 3, 5, 6), {"kernel_size": (2, 3), "stride": 2}),
    ((1, 2, 7, 6), {"kernel_size": 3, "dilation": (2, 1), "padding": 1, "stride": (1, 2)}),
    ((3, 5, 4), {"kernel_size": (1, 2), "padding": (0, 2)}),
]


@pytest.mark.parametrize("shape,kw", UNFOLDS, ids=[str(u) for u in UNFOLDS])
def test_unfold_and_fold_match_torch(shape, kw):
    fx, tx = _pair(shape)
    fy, ty = nn.Unfold(**kw)(fx), torch.nn.Unfold(**kw)(tx)
    assert repr(nn.Unfold(**kw)) == repr(torch.nn.Unfold(**kw))
    cols = ty.detach().numpy()
    _check(fy, ty, fx, tx)
    fc, tc = fg.tensor(cols, requires_grad=True), torch.tensor(cols, requires_grad=True)
    size = shape[-2:]
    _check(F.fold(fc, size, **kw), TF.fold(tc, size, **kw), fc, tc)
    assert repr(nn.Fold(size, **kw)) == repr(torch.nn.Fold(size, **kw))


def test_fold_and_unfold_errors():
    with pytest.raises(ValueError, match=r"unfold: expected a 3-d \(unbatched\) or 4-d"):
        F.unfold(fg.zeros(2, 3), 2)
    with pytest.raises(ValueError, match="unfold: the padded spatial size"):
        F.unfold(fg.zeros(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match=r"fold: the input of shape \(1, 4, 5\) has 5 blocks"):
        F.fold(fg.zeros(1, 4, 5), (3, 3), 2)
    with pytest.raises(ValueError, match="fold: expected size of input's dimension 1 to be divisible"):
        F.fold(fg.zeros(1, 5, 4), (3, 3), 2)
    with pytest.raises(RuntimeError):
        F.fold(fg.zeros(1, 5, 4), (3, 3), 2)


def test_shuffle_errors():
    with pytest.raises(ValueError, match=r"pixel_shuffle expects .* input.size\(-3\)=6 is not divisible by 4"):
        F.pixel_shuffle(fg.zeros(1, 6, 2, 2), 2)
    with pytest.raises(ValueError, match=r"pixel_unshuffle expects height .* input.size\(-2\)=3"):
        F.pixel_unshuffle(fg.zeros(1, 1, 3, 4), 2)
    with pytest.raises(ValueError, match="pixel_shuffle expects input to have at least 3 dimensions"):
        F.pixel_shuffle(fg.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="channel_shuffle: the channel count 5"):
        F.channel_shuffle(fg.zeros(1, 5, 2), 2)
    with pytest.raises(ValueError, match="pixel_shuffle expects a positive upscale_factor"):
        F.pixel_shuffle(fg.zeros(1, 4, 2, 2), 0)


@pytest.mark.parametrize("kw", [{"scale_factor": 2}, {"size": (5, 7)}])
def test_upsampling_layers_and_functions_match_torch(kw):
    for cls, fn in [("UpsamplingNearest2d", "upsample_nearest"),
                    ("UpsamplingBilinear2d", "upsample_bilinear")]:
        fx, tx = _pair((2, 3, 3, 4))
        _check(getattr(nn, cls)(**kw)(fx), getattr(torch.nn, cls)(**kw)(tx), fx, tx)
        fx, tx = _pair((2, 3, 3, 4))
        _check(getattr(F, fn)(fx, **kw), getattr(TF, fn)(tx, **kw), fx, tx)
