"""no_grad / enable_grad / set_grad_enabled: context managers and decorators."""
from __future__ import annotations

import functools
from typing import Any, Callable, Literal, Optional, TypeVar

from fastgrad._state import grad_mode

_F = TypeVar("_F", bound=Callable[..., Any])


def is_grad_enabled() -> bool:
    """True unless graph recording is off (inside ``no_grad``)."""
    return grad_mode.enabled


class _GradModeSwitch:
    _value: Optional[bool] = None

    def __enter__(self) -> None:
        self._prev = grad_mode.enabled
        grad_mode.enabled = self._value

    def __exit__(self, *exc: Any) -> Literal[False]:
        grad_mode.enabled = self._prev
        return False

    def __call__(self, fn: _F) -> _F:
        """Decorate ``fn``: it runs in this mode."""
        value = self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = grad_mode.enabled
            grad_mode.enabled = value
            try:
                return fn(*args, **kwargs)
            finally:
                grad_mode.enabled = prev
        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeSwitch):
    """Disable graph recording: ops inside produce tensors with requires_grad=False."""
    _value = False


class enable_grad(_GradModeSwitch):
    """Re-enable graph recording inside a no_grad region."""
    _value = True


class set_grad_enabled(_GradModeSwitch):
    """set_grad_enabled(mode): as a call it sets the mode at once (like PyTorch); as a
    context manager or decorator it restores the previous mode afterwards."""

    def __init__(self, mode: bool) -> None:
        self._prev = grad_mode.enabled
        self._value = bool(mode)
        grad_mode.enabled = self._value

    def __enter__(self) -> None:
        pass                      # the call already set the mode

    def __exit__(self, *exc: Any) -> Literal[False]:
        grad_mode.enabled = self._prev
        return False


_inference = [False]


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode``."""
    return _inference[0]


class inference_mode:
    """inference_mode(mode=True): no graph recording inside (as no_grad), and
    ``is_inference_mode_enabled()`` is True.  A context manager or a decorator, with or
    without the call (``@inference_mode`` and ``@inference_mode()``).  fastgrad's tensors
    made inside are ordinary tensors that do not require grad."""

    def __new__(cls, mode=True):
        if callable(mode):                     # @inference_mode without parentheses
            return cls(True)(mode)
        return super().__new__(cls)

    def __init__(self, mode: Any = True) -> None:
        self._mode = bool(mode)

    def __enter__(self) -> None:
        self._prev = (grad_mode.enabled, _inference[0])
        if self._mode:
            grad_mode.enabled = False
        _inference[0] = self._mode

    def __exit__(self, *exc: Any) -> Literal[False]:
        grad_mode.enabled, _inference[0] = self._prev
        return False

    def __call__(self, fn: _F) -> _F:
        """Decorate ``fn``: it runs in inference mode."""
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
