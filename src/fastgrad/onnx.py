"""``fastgrad.onnx``: ONNX export is not supported.  The module exists so that scripts which
``import torch.onnx`` for an optional export path import cleanly; calling :func:`export`
raises."""

__all__ = ["export", "is_in_onnx_export"]


def export(model, args=(), f=None, *a, **kw):
    """Not supported: fastgrad cannot export ONNX graphs; raises ``NotImplementedError``.
    Save weights with ``fastgrad.save(model.state_dict(), path)`` (or a ``.safetensors``
    path, which PyTorch reads) and export from PyTorch."""
    raise NotImplementedError(
        "onnx.export: fastgrad cannot export ONNX graphs; save the weights with "
        "fastgrad.save(model.state_dict(), 'model.safetensors') and export from PyTorch")


def is_in_onnx_export() -> bool:
    """False: fastgrad never traces for ONNX export."""
    return False
