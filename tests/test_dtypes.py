"""fastgrad's dtypes against PyTorch's: the objects, promotion over every pair and scalar
kind, casts, finfo/iinfo, tensor type names and constructors, float16 gradients."""
import copy
import itertools
import pickle

import numpy as np
import pytest

import fastgrad as fg

torch = pytest.importorskip("torch")

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
STORED = [n for n in NAMES if n != "bfloat16" or fg.bfloat16._np is not None]


def _fg(name):
    return getattr(fg, name)


def _name(d):
    return str(d).split(".")[-1]


def test_dtype_objects_and_aliases_match_torch():
    for n in NAMES:
        d, td = _fg(n), getattr(torch, n)
        assert repr(d) == f"fastgrad.{n}"
        assert (d.is_floating_point, d.is_signed, d.is_complex, d.itemsize) == \
            (td.is_floating_point, td.is_signed, td.is_complex, td.itemsize), n
        assert pickle.loads(pickle.dumps(d)) is d and copy.deepcopy(d) is d
    for alias in ("half", "float", "double", "short", "int", "long", "bool"):
        assert _name(getattr(fg, alias)) == _name(getattr(torch, alias)), alias
    assert fg.float is fg.float32 and fg.long is fg.int64 and fg.int is fg.int32
    assert fg.float32 != fg.float64 and fg.tensor([1.0]).dtype is fg.float32
    assert fg.tensor([1.0]).dtype == np.float32       # NumPy's dtypes compare equal too
    assert np.dtype(fg.int16) == np.int16 and np.zeros(2, fg.uint8).dtype == np.uint8


def test_promote_types_matches_torch_for_every_pair():
    for a, b in itertools.product(NAMES, NAMES):
        assert _name(fg.promote_types(_fg(a), _fg(b))) == _name(torch.promote_types(getattr(torch, a),
                                                                                    getattr(torch, b))), (a, b)
        assert fg.can_cast(_fg(a), _fg(b)) == torch.can_cast(getattr(torch, a), getattr(torch, b)), (a, b)


def _values(n, shape):
    return np.ones(shape, dtype=np.bool_ if n == "bool" else n)


OPS = {"add": (fg.add, torch.add), "mul": (fg.mul, torch.mul), "div": (fg.div, torch.div),
       "sub": (fg.sub, torch.sub), "lt": (fg.lt, torch.lt), "eq": (fg.eq, torch.eq)}


@pytest.mark.parametrize("op", sorted(OPS))
def test_result_dtypes_match_torch_for_tensors_zero_dim_tensors_and_scalars(op):
    f, tf = OPS[op]
    kinds = ["dim", "zero"]
    for a, b in itertools.product(STORED, STORED):
        if "bfloat16" in (a, b):
            continue
        for ka, kb in itertools.product(kinds, kinds):
            xa, xb = _values(a, (2,) if ka == "dim" else ()), _values(b, (2,) if kb == "dim" else ())
            ta, tb = torch.from_numpy(np.array(xa)), torch.from_numpy(np.array(xb))
            try:
                expected = tf(ta, tb).dtype
            except RuntimeError:
                with pytest.raises(RuntimeError):
                    f(fg.tensor(xa), fg.tensor(xb))
                continue
            assert _name(torch.result_type(ta, tb)) == _name(fg.result_type(fg.tensor(xa), fg.tensor(xb)))
            assert _name(f(fg.tensor(xa), fg.tensor(xb)).dtype) == _name(expected), (op, a, ka, b, kb)
    for a in STORED:
        if a == "bfloat16":
            continue
        for s in (2, 2.5, True):
            x = _values(a, (3,))
            try:
                expected = tf(torch.from_numpy(x), s).dtype
            except RuntimeError:
                with pytest.raises(RuntimeError):
                    f(fg.tensor(x), s)
                continue
            assert _name(fg.result_type(fg.tensor(x), s)) == _name(torch.result_type(torch.from_numpy(x), s))
            assert _name(f(fg.tensor(x), s).dtype) == _name(expected), (op, a, s)


def test_int8_with_python_int_keeps_int8_and_python_float_gives_default_dtype():
    x = fg.tensor([1, -2], dtype=fg.int8)
    assert (x + 5).dtype is fg.int8 and (x * 2.5).dtype is fg.float32
    assert (x + 300).tolist() == (torch.tensor([1, -2], dtype=torch.int8) + 300).tolist()   # wraps
    fg.set_default_dtype(fg.float64)
    try:
        assert (x * 2.5).dtype is fg.float64
    finally:
        fg.set_default_dtype(fg.float32)


CASTS = ["int", "long", "short", "char", "byte", "bool", "half", "float", "double"]


def test_cast_methods_match_torch():
    data = np.array([-2.75, -1.0, 0.0, 0.5, 3.25, 100.0], np.float32)
    x, t = fg.tensor(data), torch.from_numpy(data.copy())
    for m in CASTS:
        a, e = getattr(x, m)(), getattr(t, m)()
        assert _name(a.dtype) == _name(e.dtype), m
        np.testing.assert_array_equal(a.numpy().astype(np.float64), e.numpy().astype(np.float64), err_msg=m)
        assert _name(x.to(getattr(fg, _name(e.dtype))).dtype) == _name(e.dtype)
        assert a.type() == "fastgrad." + e.type().split(".")[-1]
    assert x.type(fg.LongTensor).dtype is fg.int64 and x.type("torch.ShortTensor").dtype is fg.int16
    assert x.type(fg.int8).dtype is fg.int8
    assert [getattr(x, m)().element_size() for m in CASTS] == [getattr(t, m)().element_size() for m in CASTS]


def test_float16_factories_and_reductions_keep_float16():
    fg.manual_seed(0)
    for f in (lambda: fg.randn(2, 3, dtype=fg.half), lambda: fg.rand(4, dtype=fg.float16),
              lambda: fg.zeros(2, dtype=fg.float16), lambda: fg.randn(2, 3, dtype=fg.half).softmax(-1)):
        assert f().dtype is fg.float16
    h = fg.randn(2, 3).half().requires_grad_()
    y = fg.max(h) + fg.sum(fg.softmax(h, -1)) + fg.sum(fg.prod(h, 1)) + fg.sum(fg.cumsum(h, 1))
    y.backward()
    th = torch.from_numpy(h.detach().numpy().copy()).requires_grad_()
    (th.max() + th.softmax(-1).sum() + th.prod(1).sum() + th.cumsum(1).sum()).backward()
    assert y.dtype is fg.float16 and h.grad.dtype is fg.float16
    np.testing.assert_allclose(h.grad.numpy().astype(np.float64), th.grad.numpy().astype(np.float64),
                               rtol=2e-2, atol=2e-2)


def test_float16_gradients_are_float16_as_torch():
    h = fg.tensor([1.5, -2.0], dtype=fg.float16, requires_grad=True)
    y = fg.sum(fg.exp(h * h))
    y.backward()
    th = torch.tensor([1.5, -2.0], dtype=torch.float16, requires_grad=True)
    torch.exp(th * th).sum().backward()
    assert h.grad.dtype is fg.float16 and y.dtype is fg.float16
    np.testing.assert_allclose(h.grad.numpy().astype(np.float64), th.grad.numpy().astype(np.float64), rtol=1e-2)


def test_finfo_and_iinfo_match_torch():
    for n in ("float16", "bfloat16", "float32", "float64"):
        a, e = fg.finfo(_fg(n)), torch.finfo(getattr(torch, n))
        for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
            assert getattr(a, attr) == pytest.approx(getattr(e, attr)), (n, attr)
    assert fg.finfo().dtype == "float32"
    for n in ("uint8", "int8", "int16", "int32", "int64"):
        a, e = fg.iinfo(_fg(n)), torch.iinfo(getattr(torch, n))
        assert (a.bits, a.min, a.max) == (e.bits, e.min, e.max), n
    with pytest.raises(TypeError):
        fg.finfo(fg.int32)


def test_legacy_tensor_types_construct_and_check_like_torch():
    for name in ("FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "ByteTensor",
                 "HalfTensor", "ShortTensor", "CharTensor"):
        F, T = getattr(fg, name), getattr(torch, name)
        assert F(2, 3).shape == tuple(T(2, 3).shape) and _name(F(2, 3).dtype) == _name(T(2, 3).dtype)
        assert F([1, 0, 2]).tolist() == T([1, 0, 2]).tolist()
        assert F().shape == (0,)
        assert isinstance(F([1]), F) and F([1]).type() == "fastgrad." + name
    assert not isinstance(fg.ones(2), fg.LongTensor)
    with pytest.raises(TypeError):
        fg.LongTensor(2.5)


def test_bfloat16_is_stored_with_ml_dtypes_or_refused_with_a_clear_error():
    if fg.bfloat16._np is None:
        with pytest.raises(TypeError, match="ml_dtypes"):
            fg.tensor([1.0]).bfloat16()
        with pytest.raises(TypeError, match="ml_dtypes"):
            fg.zeros(2, dtype=fg.bfloat16)
        assert fg.promote_types(fg.bfloat16, fg.float16) is fg.float32
    else:
        x = fg.tensor([1.5, -2.0, 3.0]).bfloat16()
        assert x.dtype is fg.bfloat16 and x.type() == "fastgrad.BFloat16Tensor"
        y = fg.exp(x) + x
        t = torch.tensor([1.5, -2.0, 3.0]).bfloat16()
        assert y.dtype is fg.bfloat16
        np.testing.assert_allclose(y.float().numpy(), (torch.exp(t) + t).float().numpy(), rtol=1e-2)


def test_two_byte_and_narrow_dtypes_through_shape_index_sort_and_matmul_match_torch():
    rng = np.random.default_rng(7)
    for n in ("float16", "int16", "int8", "uint8", "int32"):
        a = (rng.integers(0, 6, (3, 4))).astype(n)
        x, t = fg.from_numpy(a), torch.from_numpy(a.copy())
        pairs = [(x.clone(), t.clone()), (x.T.contiguous(), t.T.contiguous()), (x[1], t[1]),
                 (x[fg.tensor([2, 0])], t[torch.tensor([2, 0])]), (x[x > 2], t[t > 2]),
                 (fg.gather(x, 1, fg.tensor([[0], [3], [1]])), torch.gather(t, 1, torch.tensor([[0], [3], [1]]))),
                 (fg.sort(x, 1)[0], torch.sort(t, 1)[0]), (fg.amax(x, 1), torch.amax(t, 1)),
                 (fg.cat([x, x]), torch.cat([t, t])), (x @ x.T, t @ t.T)]
        for i, (got, want) in enumerate(pairs):
            assert _name(got.dtype) == _name(want.dtype), (n, i)
            np.testing.assert_allclose(got.numpy().astype(np.float64), want.numpy().astype(np.float64),
                                       rtol=1e-3, err_msg=f"{n} case {i}")


@pytest.mark.parametrize("code", ["f4", "f8", "i4", "i8", "i2", "u1"])
def test_byte_swapped_arrays_keep_their_dtype(code):
    """A big-endian (non-native) array becomes a tensor of the same dtype, in native byte
    order, as torch.tensor does: never a wider type."""
    native = np.arange(6, dtype=code).reshape(2, 3)
    swapped = native.astype(native.dtype.newbyteorder("S"))
    t = fg.tensor(swapped)
    assert t.numpy().dtype == native.dtype and t.numpy().dtype.isnative
    np.testing.assert_array_equal(t.numpy(), native)
