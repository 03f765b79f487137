"""Small datasets for examples and tests.

Every function returns fastgrad Tensors: features ``X`` in the default float dtype
(float32 unless changed with ``fastgrad.set_default_dtype``) and labels ``y`` as int64
class indices (classification) or floats (regression).

Randomness: ``seed`` is an int (the same int gives the same data in every run), a
``fastgrad.data.Generator``, a ``numpy.random.Generator``, or None to draw from
fastgrad's global generator (``fastgrad.manual_seed``).

    X, y = make_moons(200, noise=0.1, seed=0)
    X, y = load_digits()                                       # needs scikit-learn
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, seed=0, stratify=True)
    text = tiny_shakespeare("train")                           # a character-level corpus
    vocab = CharVocab(tiny_shakespeare()); ids = vocab.encode(text)
"""
import math

import numpy as np

from fastgrad import _factory
from fastgrad._tensor import Tensor, get_default_dtype, int64

_make = Tensor._make

__all__ = ["load_digits", "train_test_split", "make_moons", "make_spirals", "make_blobs",
           "make_regression", "make_sine", "tiny_shakespeare", "CharVocab"]


def _rng(seed, who):
    if seed is None:
        return _factory.default_generator.rng
    if isinstance(seed, np.random.Generator):
        return seed
    if hasattr(seed, "rng") and isinstance(seed.rng, np.random.Generator):
        return seed.rng
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"{who}: seed must be non-negative, got {seed}")
        return np.random.Generator(np.random.PCG64(int(seed)))
    raise TypeError(f"{who}: seed must be an int, a fastgrad.data.Generator, a numpy.random.Generator "
                    f"or None, got {type(seed).__name__}")


def _count(n, who, what, minimum=1):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{who}: {what} must be an int, got {type(n).__name__}")
    if n < minimum:
        raise ValueError(f"{who}: {what} must be at least {minimum}, got {n}")
    return int(n)


def _nonneg(x, who, what):
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: {what} must be a number, got {type(x).__name__}") from None
    if not (x >= 0 and math.isfinite(x)):
        raise ValueError(f"{who}: {what} must be a finite non-negative number, got {x}")
    return x


def _split_counts(n, k):
    """n items into k groups as evenly as possible (the first n % k get one more)."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _finish(X, y, rng, shuffle, y_dtype=int64):
    if shuffle:
        p = rng.permutation(len(X))
        X, y = X[p], y[p]
    return _make(np.ascontiguousarray(X, dtype=get_default_dtype())), \
        _make(np.ascontiguousarray(y, dtype=y_dtype if y_dtype is not None else get_default_dtype()))


# ---- generated -------------------------------------------------------------------------------
def make_moons(n_samples=100, noise=0.0, seed=None, shuffle=True):
    """Two interleaving half circles in 2-D: X (n_samples, 2), y (n_samples,) in {0, 1}.

    Class 0 gets ``n_samples - n_samples // 2`` points, class 1 the rest; ``noise`` is the
    standard deviation of Gaussian noise added to every coordinate.
    """
    n = _count(n_samples, "make_moons", "n_samples")
    noise = _nonneg(noise, "make_moons", "noise")
    rng = _rng(seed, "make_moons")
    n1 = n // 2
    n0 = n - n1
    t0 = np.linspace(0.0, math.pi, n0)
    t1 = np.linspace(0.0, math.pi, n1)
    X = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], 1),
                        np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], 1)])
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    if noise:
        X = X + rng.normal(0.0, noise, X.shape)
    return _finish(X, y, rng, shuffle)


def make_spirals(n_samples=300, n_classes=3, noise=0.2, seed=None, shuffle=True):
    """``n_classes`` interleaved spiral arms in 2-D (a classic non-linear toy problem).

    Arm k has radius growing from 0 to 1 while its angle turns through 4 radians, offset
    by ``k * 2*pi / n_classes``; ``noise`` is the standard deviation of Gaussian noise on
    the angle (radians).  Returns X (n_samples, 2) in [-1, 1], y (n_samples,) int64 with
    the classes as balanced as ``n_samples`` allows.
    """
    n = _count(n_samples, "make_spirals", "n_samples")
    k = _count(n_classes, "make_spirals", "n_classes")
    noise = _nonneg(noise, "make_spirals", "noise")
    rng = _rng(seed, "make_spirals")
    Xs, ys = [], []
    for c, m in enumerate(_split_counts(n, k)):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(0.0, 4.0, m) + c * 2.0 * math.pi / k
        if noise:
            t = t + rng.normal(0.0, noise, m)
        Xs.append(np.stack([r * np.sin(t), r * np.cos(t)], 1))
        ys.append(np.full(m, c, np.int64))
    return _finish(np.concatenate(Xs), np.concatenate(ys), rng, shuffle)


def make_blobs(n_samples=100, centers=3, n_features=2, cluster_std=1.0, center_box=(-10.0, 10.0),
               seed=None, shuffle=True, return_centers=False):
    """Isotropic Gaussian clusters: X (n_samples, n_features), y (n_samples,) the cluster.

    ``centers`` is a number of clusters (placed uniformly at random in ``center_box``) or an
    array (n_centers, n_features) of centers.  ``cluster_std`` is one float or one per
    cluster.  Points are split among the clusters as evenly as possible.  With
    ``return_centers=True`` the centers are returned as a third Tensor.
    """
    n = _count(n_samples, "make_blobs", "n_samples")
    rng = _rng(seed, "make_blobs")
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        k = _count(centers, "make_blobs", "centers")
        d = _count(n_features, "make_blobs", "n_features")
        lo, hi = (float(v) for v in center_box)
        if not lo <= hi:
            raise ValueError(f"make_blobs: center_box must be (low, high) with low <= high, got {center_box}")
        C = rng.uniform(lo, hi, size=(k, d))
    else:
        C = np.asarray(centers._data if isinstance(centers, Tensor) else centers, dtype=np.float64)
        if C.ndim != 2 or C.shape[0] == 0:
            raise ValueError(f"make_blobs: centers must be an int or an array of shape (n_centers, "
                             f"n_features), got shape {C.shape}")
        k = C.shape[0]
    try:
        std = np.asarray(cluster_std, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"make_blobs: cluster_std must be a number or a sequence of numbers, got "
                        f"{type(cluster_std).__name__}") from None
    if std.shape not in ((), (k,)):
        raise ValueError(f"make_blobs: cluster_std must be a number or one per center ({k}), "
                         f"got shape {std.shape}")
    std = np.broadcast_to(std, (k,))
    if not np.all(std >= 0):
        raise ValueError(f"make_blobs: cluster_std must be non-negative, got {cluster_std}")
    Xs, ys = [], []
    for c, m in enumerate(_split_counts(n, k)):
        Xs.append(C[c] + rng.normal(0.0, 1.0, (m, C.shape[1])) * std[c])
        ys.append(np.full(m, c, np.int64))
    X, y = _finish(np.concatenate(Xs), np.concatenate(ys), rng, shuffle)
    if return_centers:
        return X, y, _make(C.astype(get_default_dtype()))
    return X, y


def make_regression(n_samples=100, n_features=1, n_targets=1, noise=0.0, bias=0.0, seed=None):
    """A random linear regression problem: ``y = X @ w + bias + noise * N(0, 1)``.

    X (n_samples, n_features) is standard normal, the true weights ``w`` (n_features,
    n_targets) are uniform in [-2, 2].  Returns X, y (n_samples, n_targets), shaped like
    the output of ``nn.Linear(n_features, n_targets)``, and ``w`` as a third Tensor.
    """
    n = _count(n_samples, "make_regression", "n_samples")
    d = _count(n_features, "make_regression", "n_features")
    t = _count(n_targets, "make_regression", "n_targets")
    noise = _nonneg(noise, "make_regression", "noise")
    rng = _rng(seed, "make_regression")
    X = rng.standard_normal((n, d))
    w = rng.uniform(-2.0, 2.0, (d, t))
    y = X @ w + float(bias)
    if noise:
        y = y + rng.normal(0.0, noise, y.shape)
    dt = get_default_dtype()
    return _make(X.astype(dt)), _make(y.astype(dt)), _make(w.astype(dt))


def make_sine(n_samples=200, noise=0.1, low=-math.pi, high=math.pi, seed=None):
    """A 1-D non-linear regression curve: x uniform in [low, high], ``y = sin(x) + noise``.

    Returns X (n_samples, 1) sorted by x (handy for plotting) and y (n_samples, 1).
    """
    n = _count(n_samples, "make_sine", "n_samples")
    noise = _nonneg(noise, "make_sine", "noise")
    if not float(low) < float(high):
        raise ValueError(f"make_sine: need low < high, got low={low}, high={high}")
    rng = _rng(seed, "make_sine")
    x = np.sort(rng.uniform(float(low), float(high), n))
    y = np.sin(x)
    if noise:
        y = y + rng.normal(0.0, noise, n)
    dt = get_default_dtype()
    return _make(x.reshape(n, 1).astype(dt)), _make(y.reshape(n, 1).astype(dt))


# ---- splitting -------------------------------------------------------------------------------
def _arr(a):
    return a._data if isinstance(a, Tensor) else np.asarray(a)


def train_test_split(*arrays, test_size=0.2, seed=0, stratify=None, shuffle=True):
    """Split arrays/Tensors with the same first dimension into train and test parts.

    Returns ``[a0_train, a0_test, a1_train, a1_test, ...]`` (the order of scikit-learn's
    function of the same name), each of the input's type (Tensor in, Tensor out).

    Args:
        test_size: a fraction in (0, 1) (the test count is rounded up) or a number of
            test samples.
        seed: int, Generator, numpy Generator or None (see the module docstring).
        stratify: None; True to stratify on the last array (the labels); or an array of
            labels.  Each class then keeps its proportion in both parts (to within one).
        shuffle: False takes the last ``test_size`` samples as the test set, in order.
    """
    if not arrays:
        raise ValueError("train_test_split: expected at least one array")
    arrs = [_arr(a) for a in arrays]
    for i, a in enumerate(arrs):
        if a.ndim == 0:
            raise ValueError(f"train_test_split: argument {i} is 0-d; arrays need a first dimension")
    n = arrs[0].shape[0]
    if any(a.shape[0] != n for a in arrs):
        raise ValueError("train_test_split: all arrays must have the same first dimension, got shapes "
                         + ", ".join(str(tuple(a.shape)) for a in arrs))
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.integer, np.floating)):
        raise TypeError(f"train_test_split: test_size must be a float or an int, got {type(test_size).__name__}")
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"train_test_split: a fractional test_size must be in (0, 1), got {test_size}")
        n_test = int(math.ceil(test_size * n))
    else:
        n_test = int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size={test_size} leaves {n_test} test and {n - n_test} train "
                         f"samples out of {n}; both must be non-empty")
    if not shuffle:
        if stratify is not None and stratify is not False:
            raise ValueError("train_test_split: stratify requires shuffle=True")
        train, test = np.arange(n - n_test), np.arange(n - n_test, n)
    else:
        rng = _rng(seed, "train_test_split")
        if stratify is None or stratify is False:
            p = rng.permutation(n)
            test, train = p[:n_test], p[n_test:]
        else:
            labels = arrs[-1] if stratify is True else _arr(stratify)
            if labels.shape[:1] != (n,) or labels.ndim != 1:
                raise ValueError(f"train_test_split: stratify labels must have shape ({n},), got "
                                 f"{tuple(labels.shape)}")
            train, test = _stratified(labels, n_test, rng)
    out = []
    for a, orig in zip(arrs, arrays):
        for idx in (train, test):
            part = a[idx]
            out.append(_make(part) if isinstance(orig, Tensor) else part)
    return out


def _stratified(labels, n_test, rng):
    classes, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    n = len(labels)
    # test share per class: floors of the exact shares, remainder to the largest fractions
    exact = counts * (n_test / n)
    k = np.floor(exact).astype(np.int64)
    rest = n_test - int(k.sum())
    if rest:
        order = np.lexsort((rng.random(len(classes)), -(exact - k)))
        k[order[:rest]] += 1
    train, test = [], []
    for c in range(len(classes)):
        members = np.flatnonzero(inv == c)
        members = members[rng.permutation(len(members))]
        test.append(members[:k[c]])
        train.append(members[k[c]:])
    train, test = np.concatenate(train), np.concatenate(test)
    return train[rng.permutation(len(train))], test[rng.permutation(len(test))]


# ---- real data -------------------------------------------------------------------------------
def load_digits(split=None, test_size=0.2, seed=0):
    """The 8x8 handwritten digits bundled with scikit-learn (1797 images, 10 classes).

    Returns ``(X, y)``: X (1797, 64) in the default float dtype, pixels scaled to [0, 1];
    y (1797,) int64 in 0..9.  With ``split="train"`` or ``"test"`` returns only that part
    of a stratified ``train_test_split(X, y, test_size=test_size, seed=seed)`` (the two
    calls with the same arguments give complementary parts).

    Needs scikit-learn (``pip install scikit-learn``, or ``pip install "fastgrad[datasets]"``).
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"load_digits: split must be None, 'train' or 'test', got {split!r}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as e:
        raise ImportError("fastgrad.datasets.load_digits needs scikit-learn, which ships the digits data: "
                          "pip install scikit-learn (or pip install \"fastgrad[datasets]\")") from e
    d = _sk_load_digits()
    X = _make((np.asarray(d.data, dtype=np.float64) / 16.0).astype(get_default_dtype()))
    y = _make(np.asarray(d.target, dtype=np.int64))
    if split is None:
        return X, y
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, seed=seed, stratify=True)
    return (X_tr, y_tr) if split == "train" else (X_te, y_te)


# ---- text ------------------------------------------------------------------------------------
# tinyshakespeare.txt: 40,000 lines of Shakespeare's plays (1,115,394 characters, 65 distinct),
# public domain; the file of karpathy/char-rnn's data/tinyshakespeare, shipped gzip-compressed
# in fastgrad/_data.
_SHAKESPEARE = "tinyshakespeare.txt.gz"


def tiny_shakespeare(split=None, val_fraction=0.1):
    """The tiny-Shakespeare corpus as one string (1,115,394 characters, 65 distinct).

    Public-domain text of Shakespeare's plays, from Andrej Karpathy's char-rnn data
    (``data/tinyshakespeare/input.txt``), shipped with fastgrad (gzip, about 430 KB).
    ``split="train"`` gives the first ``1 - val_fraction`` of the text and ``"val"`` the
    rest (a split by position, as is usual for character language models, so the two
    parts share no passage); None gives the whole text.
    """
    if split not in (None, "train", "val"):
        raise ValueError(f"tiny_shakespeare: split must be None, 'train' or 'val', got {split!r}")
    frac = float(val_fraction)
    if not 0.0 < frac < 1.0:
        raise ValueError(f"tiny_shakespeare: val_fraction must be in (0, 1), got {val_fraction!r}")
    import gzip
    from importlib import resources
    data = resources.files("fastgrad").joinpath("_data").joinpath(_SHAKESPEARE).read_bytes()
    text = gzip.decompress(data).decode("utf-8")
    if split is None:
        return text
    cut = int(len(text) * (1.0 - frac))
    return text[:cut] if split == "train" else text[cut:]


class CharVocab:
    """A character-level vocabulary: the distinct characters of a text, sorted, with ids
    0..len-1.

        vocab = CharVocab(text)
        ids = vocab.encode("To be")        # int64 Tensor of shape (5,)
        vocab.decode(ids) == "To be"
    """

    def __init__(self, text):
        if not isinstance(text, str):
            raise TypeError(f"CharVocab: expected the text as a str, got {type(text).__name__}")
        if not text:
            raise ValueError("CharVocab: the text is empty; a vocabulary needs at least one character")
        self.chars = "".join(sorted(set(text)))
        self._index = {c: i for i, c in enumerate(self.chars)}
        # code point -> id, for encoding long texts with one NumPy lookup
        self._table = np.full(max(map(ord, self.chars)) + 1, -1, np.int64)
        for i, c in enumerate(self.chars):
            self._table[ord(c)] = i

    def __len__(self):
        return len(self.chars)

    def __repr__(self):
        return f"CharVocab({len(self)} characters)"

    def encode(self, text):
        """The ids of the characters of ``text``: an int64 Tensor of shape (len(text),)."""
        if not isinstance(text, str):
            raise TypeError(f"CharVocab.encode: expected a str, got {type(text).__name__}")
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        ids = np.full(codes.shape, -1, np.int64)
        inside = codes < len(self._table)
        ids[inside] = self._table[codes[inside]]
        if ids.size and ids.min() < 0:
            bad = sorted({text[i] for i in np.flatnonzero(ids < 0)[:20]})
            raise ValueError(f"CharVocab.encode: characters not in the vocabulary: {bad!r}")
        return _make(ids)

    def decode(self, ids):
        """The text of a sequence of ids (a 1-d Tensor, array or list of ints)."""
        a = np.asarray(ids._data if isinstance(ids, Tensor) else ids)
        if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
            raise ValueError(f"CharVocab.decode: expected a 1-d sequence of integer ids, got shape "
                             f"{tuple(a.shape)} and dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= len(self)):
            raise ValueError(f"CharVocab.decode: ids must be in [0, {len(self)}), got values in "
                             f"[{a.min()}, {a.max()}]")
        return "".join(self.chars[i] for i in a.tolist())
