"""Convolution modules with padding_mode 'reflect', 'replicate' and 'circular', and pad's
circular mode.  Oracle: NumPy's np.pad (modes reflect, edge, wrap) followed by the NumPy
reference convolution (fastgrad.reference), and float64 central differences."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn, reference
from fastgrad.autograd import gradcheck

NP_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _ref_conv(x, w, b, stride, dilation, groups):
    """NumPy reference convolution without padding, 1-D as a 2-D of height 1."""
    one_d = x.ndim == 3
    if one_d:
        x, w = x[:, :, None, :], w[:, :, None, :]
        stride, dilation = (1, stride[0]), (1, dilation[0])
    kh, kw = w.shape[2:]
    oh = (x.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (x.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = reference.conv2d(x, w, b, stride, (0, 0), dilation, groups, oh, ow)
    return y[:, :, 0, :] if one_d else y


def _np_padded(x, widths, mode):
    full = [(0, 0), (0, 0)] + list(widths)
    return np.pad(x, full, mode=NP_MODE[mode])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("case", [
    dict(k=3, padding=1),
    dict(k=(3, 5), padding=(1, 2), stride=2),
    dict(k=3, padding="same", dilation=2),
    dict(k=4, padding="same"),              # even kernel: one more on the high side
    dict(k=3, padding=(0, 2), groups=2),
    dict(k=2, padding="valid"),
])
def test_conv2d_padding_modes_match_numpy(mode, case):
    rng = np.random.default_rng(0)
    k = case["k"]
    m = nn.Conv2d(4, 6, k, stride=case.get("stride", 1), padding=case["padding"],
                  dilation=case.get("dilation", 1), groups=case.get("groups", 1),
                  padding_mode=mode, dtype=fg.float64)
    x = rng.standard_normal((2, 4, 7, 9))
    y = m(fg.tensor(x))._data
    kh, kw = m.kernel_size
    if case["padding"] == "same":
        widths = [(d * (kk - 1) // 2, d * (kk - 1) - d * (kk - 1) // 2)
                  for d, kk in zip(m.dilation, m.kernel_size)]
    elif case["padding"] == "valid":
        widths = [(0, 0), (0, 0)]
    else:
        widths = [(p, p) for p in m.padding]
    want = _ref_conv(_np_padded(x, widths, mode), m.weight._data, m.bias._data, m.stride,
                     m.dilation, m.groups)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    if case["padding"] == "same":
        assert y.shape[2:] == x.shape[2:]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv1d_padding_modes_match_numpy(mode):
    rng = np.random.default_rng(1)
    m = nn.Conv1d(3, 5, 5, padding=2, stride=2, padding_mode=mode, dtype=fg.float64)
    x = rng.standard_normal((4, 3, 11))
    want = _ref_conv(_np_padded(x, [(2, 2)], mode), m.weight._data, m.bias._data, m.stride,
                     m.dilation, m.groups)
    np.testing.assert_allclose(m(fg.tensor(x))._data, want, rtol=1e-12, atol=1e-12)
    xu = rng.standard_normal((3, 11))              # unbatched input
    want = _ref_conv(_np_padded(xu[None], [(2, 2)], mode), m.weight._data, m.bias._data,
                     m.stride, m.dilation, m.groups)[0]
    np.testing.assert_allclose(m(fg.tensor(xu))._data, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_mode_gradients(mode):
    rng = np.random.default_rng(2)
    m = nn.Conv2d(2, 3, 3, padding=(2, 1), padding_mode=mode, dtype=fg.float64)
    x = fg.tensor(rng.standard_normal((2, 2, 4, 5)), requires_grad=True)
    # gradcheck perturbs its inputs in place: the module's own parameters
    assert gradcheck(lambda x, w, b: m(x), (x, m.weight, m.bias))
    m1 = nn.Conv1d(2, 2, 3, padding=3, padding_mode=mode, dtype=fg.float64)
    if mode == "reflect":               # reflect needs padding < length
        with pytest.raises(ValueError, match="reflect padding"):
            m1(fg.tensor(rng.standard_normal((1, 2, 3))))
    else:
        x1 = fg.tensor(rng.standard_normal((1, 2, 3)), requires_grad=True)
        assert gradcheck(lambda x: m1(x), (x1,))


def test_padding_mode_errors_and_repr():
    with pytest.raises(ValueError, match=r"Conv2d: padding_mode must be one of .*'circular'.*got 'wrap'"):
        nn.Conv2d(1, 1, 3, padding_mode="wrap")
    with pytest.raises(ValueError, match="ConvTranspose2d: only padding_mode='zeros'"):
        nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")
    m = nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular")
    assert repr(m) == ("Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), "
                       "padding_mode=circular)")
    assert "padding_mode" not in repr(nn.Conv2d(1, 2, 3, padding=1))


def test_circular_pad_matches_numpy_wrap_and_gradient():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4))
    got = fg.nn.functional.pad(fg.tensor(x), (4, 2, 1, 3), mode="circular")._data
    np.testing.assert_array_equal(got, np.pad(x, [(0, 0), (1, 3), (4, 2)], mode="wrap"))
    xt = fg.tensor(x, requires_grad=True)
    assert gradcheck(lambda t: fg.nn.functional.pad(t, (3, 1), mode="circular"), (xt,))
    with pytest.raises(ValueError, match="circular padding .* wraps around more than once"):
        fg.nn.functional.pad(fg.tensor(x), (0, 5), mode="circular")


def test_padding_modes_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    for mode in ("reflect", "replicate", "circular"):
        for padding in (1, (2, 1), "same"):
            m = nn.Conv2d(3, 4, 3, padding=padding, padding_mode=mode)
            t = torch.nn.Conv2d(3, 4, 3, padding=padding, padding_mode=mode)
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(m.weight._data))
                t.bias.copy_(torch.from_numpy(m.bias._data))
            xf = fg.tensor(x, requires_grad=True)
            xt = torch.from_numpy(x).requires_grad_()
            y, yt = m(xf), t(xt)
            np.testing.assert_allclose(y._data, yt.detach().numpy(), rtol=1e-5, atol=1e-5)
            y.sum().backward()
            yt.sum().backward()
            np.testing.assert_allclose(xf.grad._data, xt.grad.numpy(), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(m.weight.grad._data, t.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
