"""no_grad / enable_grad / set_grad_enabled: context managers and decorators."""
import functools

from fastgrad._state import grad_mode


def is_grad_enabled():
    return grad_mode.enabled


class _GradModeSwitch:
    _value = None

    def __enter__(self):
        self._prev = grad_mode.enabled
        grad_mode.enabled = self._value

    def __exit__(self, *exc):
        grad_mode.enabled = self._prev
        return False

    def __call__(self, fn):
        value = self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = grad_mode.enabled
            grad_mode.enabled = value
            try:
                return fn(*args, **kwargs)
            finally:
                grad_mode.enabled = prev
        return wrapper


class no_grad(_GradModeSwitch):
    """Disable graph recording: ops inside produce tensors with requires_grad=False."""
    _value = False


class enable_grad(_GradModeSwitch):
    """Re-enable graph recording inside a no_grad region."""
    _value = True


class set_grad_enabled(_GradModeSwitch):
    """set_grad_enabled(mode): as a call it sets the mode at once (like PyTorch); as a
    context manager or decorator it restores the previous mode afterwards."""

    def __init__(self, mode):
        self._prev = grad_mode.enabled
        self._value = bool(mode)
        grad_mode.enabled = self._value

    def __enter__(self):
        pass                      # the call already set the mode

    def __exit__(self, *exc):
        grad_mode.enabled = self._prev
        return False
