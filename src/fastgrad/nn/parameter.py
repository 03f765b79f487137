"""Parameter: a Tensor that a Module registers as one of its learnable weights."""
from __future__ import annotations

import numpy as np

from fastgrad._tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default and is registered automatically when
    assigned as a Module attribute.  ``Parameter(t)`` shares ``t``'s memory (no copy)."""
    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        if isinstance(data, Tensor):
            self._init_from(data)
        else:
            super().__init__(data, requires_grad=False)
        if requires_grad:
            self.requires_grad_(True)

    def _init_from(self, t):
        """Share t's memory and version counter, as ``t.detach()`` does."""
        self._data = t._data
        self.grad_fn = None
        self.requires_grad = False
        self.grad = None
        self._version = t._version
        self._hooks = None
        self._name = None
        self._base = None
        self._vidx = None

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

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

    def __init__(self, tensor: Tensor, persistent: bool = True) -> None:
        self.tensor = tensor if isinstance(tensor, Tensor) else Tensor(tensor)
        self.persistent = persistent
