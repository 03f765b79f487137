"""fastgrad.datasets: toy generators, train_test_split and the digits loader."""
import builtins
import math

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.data import Generator
from fastgrad.datasets import (load_digits, make_blobs, make_moons, make_regression, make_sine, make_spirals,
                               train_test_split)

CLASSIFIERS = [
    (make_moons, dict(n_samples=101, noise=0.1), 2),
    (make_spirals, dict(n_samples=301, n_classes=3, noise=0.2), 3),
    (make_spirals, dict(n_samples=50, n_classes=5, noise=0.0), 5),
    (make_blobs, dict(n_samples=103, centers=4, n_features=3), 4),
]


@pytest.mark.parametrize("fn,kw,k", CLASSIFIERS, ids=lambda v: getattr(v, "__name__", None))
def test_classification_shapes_dtypes_balance(fn, kw, k):
    X, y = fn(seed=0, **kw)
    n = kw["n_samples"]
    d = kw.get("n_features", 2)
    assert isinstance(X, fg.Tensor) and isinstance(y, fg.Tensor)
    assert X.shape == (n, d) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    counts = np.bincount(y.numpy(), minlength=k)
    assert len(counts) == k and counts.max() - counts.min() <= 1 and counts.sum() == n
    assert np.isfinite(X.numpy()).all()


@pytest.mark.parametrize("fn,kw,k", CLASSIFIERS, ids=lambda v: getattr(v, "__name__", None))
def test_generators_are_deterministic_with_a_seed(fn, kw, k):
    X1, y1 = fn(seed=3, **kw)
    X2, y2 = fn(seed=3, **kw)
    X3, _ = fn(seed=4, **kw)
    np.testing.assert_array_equal(X1.numpy(), X2.numpy())
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    assert not np.array_equal(X1.numpy(), X3.numpy())
    X4, _ = fn(seed=Generator().manual_seed(3), **kw)     # a Generator with the same seed: same data
    np.testing.assert_array_equal(X1.numpy(), X4.numpy())
    fg.manual_seed(11)
    X5, _ = fn(**kw)
    fg.manual_seed(11)
    X6, _ = fn(**kw)
    np.testing.assert_array_equal(X5.numpy(), X6.numpy())


def test_moons_geometry():
    X, y = make_moons(200, noise=0.0, seed=0, shuffle=False)
    X, y = X.numpy().astype(np.float64), y.numpy()
    np.testing.assert_allclose(np.hypot(X[y == 0, 0], X[y == 0, 1]), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1.0, X[y == 1, 1] - 0.5), 1.0, atol=1e-6)
    assert (X[y == 0, 1] >= -1e-7).all() and (X[y == 1, 1] <= 0.5 + 1e-7).all()


def test_spirals_geometry():
    X, y = make_spirals(300, n_classes=3, noise=0.0, seed=0, shuffle=False)
    X = X.numpy().astype(np.float64)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.max() <= 1 + 1e-6
    for c in range(3):                     # radius grows linearly along each arm
        np.testing.assert_allclose(r[y.numpy() == c], np.linspace(0, 1, 100), atol=1e-6)


def test_blobs_centers_and_std():
    centers = [[0.0, 0.0], [10.0, -10.0]]
    X, y, C = make_blobs(4000, centers=centers, cluster_std=[0.5, 2.0], seed=0, return_centers=True)
    X, y = X.numpy().astype(np.float64), y.numpy()
    np.testing.assert_array_equal(C.numpy(), np.float32(centers))
    for c, s in ((0, 0.5), (1, 2.0)):
        np.testing.assert_allclose(X[y == c].mean(0), centers[c], atol=0.15)
        np.testing.assert_allclose(X[y == c].std(0), s, rtol=0.08)
    X, y, C = make_blobs(50, centers=3, n_features=4, center_box=(-1, 1), seed=0, return_centers=True)
    assert C.shape == (3, 4) and np.abs(C.numpy()).max() <= 1


def test_regression_and_sine():
    X, y, w = make_regression(500, n_features=3, n_targets=2, noise=0.0, bias=1.5, seed=0)
    assert X.shape == (500, 3) and y.shape == (500, 2) and w.shape == (3, 2)
    np.testing.assert_allclose(y.numpy(), X.numpy().astype(np.float64) @ w.numpy() + 1.5, rtol=1e-5, atol=1e-5)
    X, y, w = make_regression(2000, n_features=2, noise=0.5, seed=1)
    resid = y.numpy()[:, 0] - X.numpy() @ w.numpy()[:, 0]
    assert abs(resid.std() - 0.5) < 0.05
    X, y = make_sine(300, noise=0.0, seed=0)
    assert X.shape == (300, 1) and y.shape == (300, 1) and X.dtype == np.float32
    assert (np.diff(X.numpy()[:, 0]) >= 0).all() and np.abs(X.numpy()).max() <= math.pi + 1e-6
    np.testing.assert_allclose(y.numpy(), np.sin(X.numpy()), atol=1e-6)


def test_default_dtype_is_followed():
    fg.set_default_dtype(fg.float64)
    try:
        X, y = make_moons(10, seed=0)
        assert X.dtype == np.float64 and y.dtype == np.int64
    finally:
        fg.set_default_dtype(fg.float32)


def test_generator_argument_errors():
    with pytest.raises(ValueError, match="make_moons: n_samples"):
        make_moons(0)
    with pytest.raises(TypeError, match="make_moons: n_samples"):
        make_moons(10.0)
    with pytest.raises(ValueError, match="noise"):
        make_spirals(10, noise=-1)
    with pytest.raises(TypeError, match="seed"):
        make_moons(10, seed="x")
    with pytest.raises(ValueError, match="cluster_std"):
        make_blobs(10, centers=3, cluster_std=[1.0, 2.0])
    with pytest.raises(ValueError, match="centers"):
        make_blobs(10, centers=np.zeros(3))


# ---- train_test_split -----------------------------------------------------------------------
def test_train_test_split_partitions_and_keeps_pairs():
    X = fg.from_numpy(np.arange(100, dtype=np.float32).reshape(50, 2))
    y = fg.from_numpy(np.arange(50, dtype=np.int64))
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=0)
    assert Xtr.shape == (40, 2) and Xte.shape == (10, 2) and isinstance(Xtr, fg.Tensor)
    assert sorted(ytr.tolist() + yte.tolist()) == list(range(50))
    np.testing.assert_array_equal(Xtr.numpy()[:, 0] / 2, ytr.numpy())
    again = train_test_split(X, y, test_size=0.2, seed=0)
    np.testing.assert_array_equal(again[3].numpy(), yte.numpy())
    other = train_test_split(X, y, test_size=0.2, seed=1)
    assert other[3].tolist() != yte.tolist()
    a_tr, a_te = train_test_split(np.arange(10), test_size=3, shuffle=False)
    assert a_tr.tolist() == list(range(7)) and a_te.tolist() == [7, 8, 9]
    assert isinstance(a_tr, np.ndarray)


def test_train_test_split_stratified_keeps_class_proportions():
    labels = np.repeat(np.arange(3), [60, 30, 10])
    X = np.arange(100)
    Xtr, Xte, ytr, yte = train_test_split(X, labels, test_size=0.2, seed=0, stratify=True)
    assert np.bincount(yte, minlength=3).tolist() == [12, 6, 2]
    assert np.bincount(ytr, minlength=3).tolist() == [48, 24, 8]
    np.testing.assert_array_equal(labels[Xte], yte)
    _, _, _, yte2 = train_test_split(X, labels, test_size=0.25, seed=0, stratify=labels)
    assert abs(np.bincount(yte2, minlength=3) - np.array([15, 7.5, 2.5])).max() <= 1 and len(yte2) == 25


def test_train_test_split_errors():
    with pytest.raises(ValueError, match=r"same first dimension.*\(5,\).*\(4,\)"):
        train_test_split(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(np.zeros(5), test_size=1.5)
    with pytest.raises(ValueError, match="non-empty"):
        train_test_split(np.zeros(5), test_size=5)
    with pytest.raises(ValueError, match="stratify"):
        train_test_split(np.zeros(5), stratify=np.zeros(4))


# ---- digits -----------------------------------------------------------------------------------
def test_load_digits_needs_sklearn_with_a_clear_message(monkeypatch):
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match=r"pip install scikit-learn.*fastgrad\[datasets\]"):
        load_digits()


def test_load_digits():
    sk = pytest.importorskip("sklearn.datasets")
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.numpy().min() == 0.0 and X.numpy().max() == 1.0
    assert set(np.unique(y.numpy())) == set(range(10))
    ref = sk.load_digits()
    np.testing.assert_allclose(X.numpy(), ref.data / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), ref.target)
    Xtr, ytr = load_digits(split="train", test_size=0.2, seed=0)
    Xte, yte = load_digits(split="test", test_size=0.2, seed=0)
    assert len(Xtr) + len(Xte) == 1797 and len(Xte) == math.ceil(0.2 * 1797)
    # complementary: every image appears in exactly one part
    rows = {r.tobytes() for r in Xtr.numpy()} | {r.tobytes() for r in Xte.numpy()}
    assert len(rows) == len({r.tobytes() for r in X.numpy()})
    assert np.bincount(yte.numpy(), minlength=10).min() >= 34            # stratified: ~36 per class
    with pytest.raises(ValueError, match="split"):
        load_digits(split="val")
