"""DLPack exchange: ``Tensor.__dlpack__`` / ``__dlpack_device__`` and ``fastgrad.from_dlpack``.

Both directions share memory: a tensor handed to ``numpy.from_dlpack`` or
``torch.from_dlpack`` is a view of the tensor's storage, and ``fastgrad.from_dlpack`` of
a NumPy array or CPU PyTorch tensor is a view of theirs, so a write through one is seen
by the other.  fastgrad lives on the CPU: producers on other devices are refused.  As in
PyTorch, a tensor that requires grad is not exported (the consumer would bypass
autograd); export ``t.detach()``.  Memory a producer marks read-only (JAX arrays, for
example) stays read-only: in-place ops on the imported tensor raise instead of writing.
"""
import numpy as np

from fastgrad._tensor import SUPPORTED, Tensor, from_numpy

__all__ = ["from_dlpack"]

_KDLCPU = 1
_DEVICE_NAMES = {1: "cpu", 2: "cuda", 3: "cuda_host", 4: "opencl", 7: "vulkan", 8: "metal", 9: "vpi",
                 10: "rocm", 11: "rocm_host", 13: "cuda_managed", 14: "oneapi"}


def _array(t):
    return t.numpy(force=True)


def _dlpack(self, *, stream=None, max_version=None, dl_device=None, copy=None):
    if self.requires_grad:
        raise RuntimeError("__dlpack__: can't export a tensor that requires grad; use tensor.detach()")
    if stream is not None and stream != -1:
        raise ValueError(f"__dlpack__: stream must be None for CPU tensors, got {stream!r}")
    if dl_device is not None and tuple(dl_device)[0] != _KDLCPU:
        raise BufferError(f"__dlpack__: fastgrad tensors live on the CPU; cannot export to device {dl_device!r}")
    kwargs = {}
    if max_version is not None:
        kwargs["max_version"] = max_version
    if copy is not None:
        kwargs["copy"] = copy
    arr = _array(self)
    return arr.__dlpack__(**kwargs) if kwargs else arr.__dlpack__()


def _dlpack_device(self):
    return (_KDLCPU, 0)


class _Capsule:
    """Wraps a bare DLPack capsule (the legacy ``to_dlpack`` protocol) for numpy.from_dlpack."""
    __slots__ = ("capsule",)

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, **kwargs):
        capsule, self.capsule = self.capsule, None
        if capsule is None:
            raise BufferError("from_dlpack: a DLPack capsule can be consumed only once")
        return capsule

    def __dlpack_device__(self):
        return (_KDLCPU, 0)


def from_dlpack(ext_tensor):
    """A tensor sharing memory with ``ext_tensor``: any object implementing the DLPack
    protocol (``__dlpack__`` and ``__dlpack_device__``: NumPy arrays, PyTorch CPU tensors,
    JAX CPU arrays, ...) or a bare DLPack capsule."""
    if isinstance(ext_tensor, Tensor):
        return ext_tensor
    if type(ext_tensor).__name__ == "PyCapsule":
        src = _Capsule(ext_tensor)
    elif hasattr(ext_tensor, "__dlpack__"):
        src = ext_tensor
        if hasattr(ext_tensor, "__dlpack_device__"):
            dev = ext_tensor.__dlpack_device__()
            if int(dev[0]) != _KDLCPU:
                raise BufferError(f"from_dlpack: fastgrad runs on the CPU; the tensor lives on device "
                                  f"{_DEVICE_NAMES.get(int(dev[0]), int(dev[0]))}:{int(dev[1])} "
                                  "(move it to the CPU first)")
    else:
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ or a DLPack capsule, "
                        f"got {type(ext_tensor).__name__}")
    arr = np.from_dlpack(src)
    if arr.dtype not in SUPPORTED:
        raise TypeError(f"from_dlpack: dtype {arr.dtype} is not a fastgrad tensor dtype "
                        f"(supported: {', '.join(sorted(str(np.dtype(d)) for d in SUPPORTED))})")
    return from_numpy(arr)      # a read-only producer gives a tensor whose in-place ops refuse


def _bind():
    Tensor.__dlpack__ = _dlpack
    Tensor.__dlpack_device__ = _dlpack_device


_bind()
