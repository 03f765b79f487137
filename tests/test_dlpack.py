"""DLPack: zero-copy exchange with NumPy and PyTorch in both directions."""
import numpy as np
import pytest

import fastgrad as fg

DTYPES = [np.float32, np.float64, np.int64, np.bool_]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 4), (2, 3, 4)])
def test_numpy_shares_memory_both_ways(dt, shape):
    a = np.asarray(np.arange(int(np.prod(shape))).reshape(shape) % 3).astype(dt)
    t = fg.from_numpy(a.copy())
    n = np.from_dlpack(t)
    assert n.shape == shape and n.dtype == dt
    assert n.__array_interface__["data"][0] == t.numpy().__array_interface__["data"][0]
    b = a.copy()
    u = fg.from_dlpack(b)
    assert u.dtype == t.dtype and tuple(u.shape) == shape
    assert u.numpy().__array_interface__["data"][0] == b.__array_interface__["data"][0]
    if b.size:
        b.reshape(-1)[0] = 1
        assert u.numpy().reshape(-1)[0] == 1


def test_strided_views_keep_their_layout():
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    t = fg.from_numpy(base)[:, ::2]
    n = np.from_dlpack(t)
    np.testing.assert_array_equal(n, base[:, ::2])
    assert np.shares_memory(n, base)


def test_requires_grad_and_devices_are_refused():
    t = fg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        np.from_dlpack(t)
    assert np.from_dlpack(t.detach()).shape == (3,)
    assert t.__dlpack_device__() == (1, 0)

    class OnGpu:
        def __dlpack__(self, **kw):
            raise AssertionError("must not be called")

        def __dlpack_device__(self):
            return (2, 0)
    with pytest.raises(BufferError, match="cuda:0"):
        fg.from_dlpack(OnGpu())
    with pytest.raises(TypeError, match="__dlpack__"):
        fg.from_dlpack([1, 2, 3])
    with pytest.raises(TypeError, match="not a fastgrad tensor dtype"):
        fg.from_dlpack(np.ones(2, dtype=np.complex64))


def test_read_only_producers_stay_read_only():
    a = np.arange(4.0)
    a.flags.writeable = False
    t = fg.from_dlpack(a)
    assert np.shares_memory(t.numpy(), a)
    with pytest.raises(RuntimeError, match="read-only"):
        t.add_(1.0)


def test_pytorch_shares_memory_both_ways():
    torch = pytest.importorskip("torch")
    x = fg.arange(6.0).reshape(2, 3)
    tt = torch.from_dlpack(x)
    tt[0, 1] = 42.0
    assert x.numpy()[0, 1] == 42.0
    assert torch.as_tensor(x).data_ptr() == tt.data_ptr()
    src = torch.arange(12, dtype=torch.float32).reshape(3, 4)[:, 1:]
    y = fg.from_dlpack(src)
    src[2, 2] = -1.0
    assert y.numpy()[2, 2] == -1.0
    np.testing.assert_array_equal(y.numpy(), src.numpy())
    cap = torch.utils.dlpack.to_dlpack(torch.ones(2, dtype=torch.int64))
    z = fg.from_dlpack(cap)
    assert z.dtype == fg.int64 and z.numpy().tolist() == [1, 1]
    with pytest.raises(RuntimeError, match="requires grad"):
        torch.from_dlpack(fg.ones(2, requires_grad=True))
