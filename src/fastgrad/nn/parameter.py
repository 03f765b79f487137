"""Parameter: a Tensor that a Module registers as one of its learnable weights."""
import numpy as np

from fastgrad._tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default and is registered automatically when
    assigned as a Module attribute.  ``Parameter(t)`` shares ``t``'s memory (no copy)."""
    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        if isinstance(data, Tensor):
            data = data._data
        super().__init__(data, requires_grad=False)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, proto):
        raise TypeError("Parameter: pickling is not supported; use fastgrad.save(module.state_dict(), path)")

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(self._data.copy(), requires_grad=self.requires_grad)
        if self.grad is not None:
            p.grad = Tensor._make(self.grad._data.copy())
        memo[id(self)] = p
        return p


class Buffer:
    """Marks a Tensor to be registered as a buffer when assigned to a Module attribute:
    ``self.running_mean = Buffer(zeros(n))``.  Same as ``register_buffer``."""
    __slots__ = ("tensor", "persistent")

    def __init__(self, tensor, persistent=True):
        self.tensor = tensor if isinstance(tensor, Tensor) else Tensor(tensor)
        self.persistent = persistent
