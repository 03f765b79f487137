"""Neural-network building blocks.  ``fastgrad.nn.functional`` holds the stateless ops
(activations, softmax, losses, linear)."""
from fastgrad.nn import functional

__all__ = ["functional"]
