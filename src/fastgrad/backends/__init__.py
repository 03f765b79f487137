"""``fastgrad.backends``: PyTorch's backend switches that CPU scripts query or set.
No GPU backend is available; the flags scripts set (``cudnn.benchmark``,
``cuda.matmul.allow_tf32``, ...) are accepted and change nothing."""
from fastgrad.backends import cuda, cudnn, mps

__all__ = ["cuda", "cudnn", "mps"]
