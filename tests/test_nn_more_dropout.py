"""The dropout variants of nn/extra_dropout.py: alpha_dropout, feature_alpha_dropout,
dropout3d and gumbel_softmax; their exact structure (which values a dropped or kept
element takes, the gradient), the statistics they preserve, eval-mode identity, seeding
and errors; torch for the eval-mode and deterministic parts."""
import math

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn as nn
import fastgrad.nn.functional as F

torch = pytest.importorskip("torch")

ALPHA = 1.7580993408473766


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_alpha_dropout_structure_gradient_and_statistics(p):
    fg.manual_seed(0)
    x = fg.tensor(np.random.default_rng(1).standard_normal((400, 250)), requires_grad=True)
    y = F.alpha_dropout(x, p, training=True)
    y.sum().backward()
    a = 1 / math.sqrt((ALPHA ** 2 * p + 1) * (1 - p))
    xv, yv, g = x.detach().numpy(), y.detach().numpy(), x.grad.numpy()
    kept = np.isclose(yv, xv * a + ALPHA * a * p, rtol=0, atol=1e-12)
    dropped = np.isclose(yv, -ALPHA * a * (1 - p), rtol=0, atol=1e-12) & ~kept
    assert np.all(kept | dropped)
    assert abs(dropped.mean() - p) < 0.01
    np.testing.assert_allclose(g[kept], a, rtol=1e-12)
    np.testing.assert_array_equal(g[dropped], 0.0)
    assert abs(yv.mean()) < 0.02 and abs(yv.std() - 1) < 0.02        # SELU's fixed point kept
    t = torch.nn.functional.alpha_dropout(torch.tensor(xv), p, training=True).numpy()
    assert abs(t.mean() - yv.mean()) < 0.03 and abs(t.std() - yv.std()) < 0.03


def test_feature_alpha_dropout_drops_whole_channels():
    fg.manual_seed(3)
    x = fg.tensor(np.random.default_rng(2).standard_normal((8, 16, 5, 5)))
    y = F.feature_alpha_dropout(x, 0.5, training=True).numpy()
    p, a = 0.5, 1 / math.sqrt((ALPHA ** 2 * 0.5 + 1) * 0.5)
    dropped = np.all(np.isclose(y, -ALPHA * a * (1 - p)), axis=(2, 3))
    kept = np.all(np.isclose(y, x.numpy() * a + ALPHA * a * p), axis=(2, 3))
    assert np.all(dropped ^ kept) and 0 < dropped.sum() < dropped.size


def test_eval_mode_and_zero_p_are_identity_and_p1_is_zero():
    x = fg.tensor(np.random.default_rng(4).standard_normal((2, 3, 2, 2, 2)))
    for m in (nn.AlphaDropout(0.3), nn.FeatureAlphaDropout(0.3), nn.Dropout3d(0.3)):
        m.eval()
        np.testing.assert_array_equal(m(x).numpy(), x.numpy())
        assert repr(m) == repr(getattr(torch.nn, type(m).__name__)(0.3))
    np.testing.assert_array_equal(F.alpha_dropout(x, 0.0, True).numpy(), x.numpy())
    np.testing.assert_array_equal(F.alpha_dropout(x, 1.0, True).numpy(), 0.0)
    np.testing.assert_array_equal(F.alpha_dropout(x, 0.5).numpy(), x.numpy())    # training=False


def test_dropout3d_zeroes_whole_volumes_and_scales():
    fg.manual_seed(5)
    x = fg.ones(4, 8, 2, 3, 2, requires_grad=True)
    m = nn.Dropout3d(0.25)
    y = m(x)
    y.sum().backward()
    v = y.detach().numpy()
    per = v.reshape(4, 8, -1)
    assert np.all((per == 0).all(-1) | np.isclose(per, 1 / 0.75).all(-1))
    np.testing.assert_array_equal(x.grad.numpy(), v)
    assert F.dropout3d(fg.ones(8, 2, 2, 2), 0.5).shape == (8, 2, 2, 2)      # unbatched


def test_gumbel_softmax_soft_and_hard():
    fg.manual_seed(6)
    logits = fg.tensor(np.random.default_rng(7).standard_normal((50, 6)), requires_grad=True)
    y = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(y.detach().numpy().sum(-1), 1.0, rtol=1e-12)
    fg.manual_seed(6)
    h = F.gumbel_softmax(logits, tau=0.5, hard=True)
    hv = h.detach().numpy()
    assert set(np.unique(hv)) == {0.0, 1.0} and np.all(hv.sum(-1) == 1)
    np.testing.assert_array_equal(hv.argmax(-1), y.detach().numpy().argmax(-1))
    w = fg.tensor(np.random.default_rng(8).standard_normal((50, 6)))
    (h * w).sum().backward()
    g_hard = logits.grad.numpy().copy()
    logits.grad = None
    (y * w).sum().backward()
    np.testing.assert_allclose(g_hard, logits.grad.numpy(), rtol=1e-12)     # straight-through
    # the Gumbel draws favour the larger logit as often as its softmax probability says
    fg.manual_seed(9)
    two = fg.tensor(np.tile([[math.log(3.0), 0.0]], (20000, 1)))
    share = F.gumbel_softmax(two, hard=True, dim=1).numpy()[:, 0].mean()
    assert abs(share - 0.75) < 0.015


def test_seeding_reproduces_the_masks():
    x = fg.tensor(np.random.default_rng(10).standard_normal((30, 30)))
    fg.manual_seed(11)
    a = F.alpha_dropout(x, 0.4, True).numpy()
    fg.manual_seed(11)
    b = F.alpha_dropout(x, 0.4, True).numpy()
    np.testing.assert_array_equal(a, b)


def test_errors():
    with pytest.raises(ValueError, match="alpha_dropout: dropout probability has to be between 0 and 1"):
        F.alpha_dropout(fg.zeros(3), 1.5, True)
    with pytest.raises(ValueError, match="Dropout3d: dropout probability"):
        nn.Dropout3d(-0.1)
    with pytest.raises(ValueError, match=r"dropout3d: expected 4-d \(unbatched\) or 5-d"):
        F.dropout3d(fg.zeros(2, 3), 0.5)
    with pytest.raises(IndexError, match="gumbel_softmax: dimension 2 is out of range"):
        F.gumbel_softmax(fg.zeros(2, 3), dim=2)
    with pytest.raises(ValueError, match="feature_alpha_dropout: expected an input of at least 2 dims"):
        F.feature_alpha_dropout(fg.zeros(3), 0.5, True)
