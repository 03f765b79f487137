"""Mixed precision as PyTorch programs spell it: ``autocast`` and ``GradScaler``
(``torch.amp``).

``autocast`` is accepted and changes nothing: fastgrad has no reduced-precision compute
kernels, so code inside it runs in the dtypes it would run in outside it (float32 stays
float32).  ``GradScaler`` is complete: disabled it is the identity (``scale(loss)`` returns
``loss``, ``step`` calls ``optimizer.step()``); enabled it scales the loss, unscales the
gradients, skips steps whose gradients hold inf or nan, and grows or backs off the scale,
with ``torch.amp.GradScaler``'s rules and numbers.
"""
import functools
import math
import warnings

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad.autograd import no_grad

__all__ = ["autocast", "GradScaler", "is_autocast_available"]

_DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
                 "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")


def is_autocast_available(device_type):
    """Whether ``autocast`` can be entered for ``device_type`` (only ``"cpu"`` here)."""
    if not isinstance(device_type, str):
        raise TypeError(f"is_autocast_available: device_type must be a str, got "
                        f"{type(device_type).__name__}")
    return device_type == "cpu"


def _check_device_type(device_type, who):
    if not isinstance(device_type, str):
        raise ValueError(f"{who}: expected `device_type` of type `str`, got: `{type(device_type)}`")
    base = device_type.split(":")[0]
    if base not in _DEVICE_TYPES:
        raise RuntimeError(f"{who}: expected one of {', '.join(_DEVICE_TYPES)} device type at start "
                           f"of device string: {device_type}")
    return base


class autocast:  # noqa: N801 - torch's name
    """``torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``, as a
    context manager or a decorator.

    A documented no-op: fastgrad has no bfloat16 or float16 compute kernels, so inside
    ``autocast`` every op runs in the dtype it runs in outside it (float32 stays float32;
    results equal those without autocast).  The arguments are checked as PyTorch checks
    them; a device other than ``"cpu"`` gives a warning and a disabled autocast, as
    PyTorch does for a device that is not available, and so does a ``dtype`` other than
    bfloat16 or float16 (the dtypes PyTorch's CPU autocast accepts).
    """

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        base = _check_device_type(device_type, "autocast")
        if not isinstance(enabled, bool):
            raise TypeError(f"autocast: enabled must be a bool, got {type(enabled).__name__}")
        self.device = base
        self.fast_dtype = dtype
        self._enabled = enabled
        self._cache_enabled = cache_enabled
        if enabled and base != "cpu":
            warnings.warn(f"User provided device_type of '{device_type}', but fastgrad runs on the CPU "
                          "only. Disabling autocast.", stacklevel=2)
            self._enabled = False
        if self._enabled and dtype is not None and _dtype_name(dtype) not in ("bfloat16", "float16"):
            warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                          "CPU Autocast only supports dtypes of bfloat16, float16 currently.",
                          stacklevel=2)
            self._enabled = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device, dtype=self.fast_dtype, enabled=self._enabled,
                          cache_enabled=self._cache_enabled):
                return fn(*args, **kwargs)
        return wrapper


def _dtype_name(dtype):
    name = getattr(dtype, "name", None)
    return name if isinstance(name, str) else str(dtype).rsplit(".", 1)[-1]


_READY, _UNSCALED, _STEPPED = 0, 1, 2


class GradScaler:
    """``torch.amp.GradScaler(device="cuda", init_scale=2.0**16, growth_factor=2.0,
    backoff_factor=0.5, growth_interval=2000, enabled=True)``.

    Pass ``device="cpu"`` for a working scaler: as in PyTorch, the default device is
    ``"cuda"``, and a scaler for a device that is not available warns and disables itself.

    Usage as in PyTorch::

        scaler = GradScaler()
        scaler.scale(loss).backward()
        scaler.unscale_(opt)              # optional: to clip the true gradients
        scaler.step(opt)                  # skipped when a gradient is inf or nan
        scaler.update()

    ``update`` multiplies the scale by ``backoff_factor`` after a step with inf/nan
    gradients, and by ``growth_factor`` after ``growth_interval`` steps in a row without.
    The scale is held in float32, as PyTorch holds it.  Disabled (``enabled=False``, or a
    device other than ``"cpu"``) every method is the identity or a plain
    ``optimizer.step()``.
    """

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        base = _check_device_type(str(device), "GradScaler")
        self._device = base
        self._enabled = bool(enabled)
        if self._enabled and base != "cpu":
            warnings.warn(f"GradScaler is enabled, but device '{device}' is not available (fastgrad "
                          "runs on the CPU only; use GradScaler('cpu')).  Disabling.", stacklevel=2)
            self._enabled = False
        if self._enabled:
            if not growth_factor > 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if not backoff_factor < 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
        self._init_scale = float(init_scale)
        self._scale = None                     # float32, made at the first scale()
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._init_growth_tracker = 0
        self._growth_tracker = None
        self._per_optimizer = {}               # id(optimizer) -> {"stage", "found_inf"}

    # -- scaling
    def _lazy_init(self):
        if self._scale is None:
            self._scale = np.float32(self._init_scale)
            self._growth_tracker = self._init_growth_tracker

    def scale(self, outputs):
        """``outputs`` (a Tensor, or lists/tuples of them) times the scale factor."""
        if not self._enabled:
            return outputs
        self._lazy_init()
        if isinstance(outputs, Tensor):
            return outputs * float(self._scale)
        if isinstance(outputs, (list, tuple)):
            out = [self.scale(o) for o in outputs]
            return type(outputs)(out) if isinstance(outputs, tuple) else out
        raise ValueError("GradScaler.scale: outputs must be a Tensor or an iterable of Tensors, got "
                         f"{type(outputs).__name__}")

    def _check_scale(self, funcname):
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  This may indicate your "
                                 "script did not use scaler.scale(loss or outputs) earlier in the "
                                 "iteration.")

    def _state(self, optimizer):
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": False})

    def unscale_(self, optimizer):
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place, and
        record whether any of them holds inf or nan."""
        if not self._enabled:
            return
        self._check_scale("unscale_")
        st = self._state(optimizer)
        if st["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last "
                               "update().")
        if st["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv = float(np.float32(1.0 / np.float64(self._scale)))
        found = None                   # None: no parameter had a gradient to check
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    if not found:
                        found = not bool(np.isfinite(g.numpy()).all())
                    g.mul_(inv)
        st["found_inf"] = found
        st["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """Unscale (unless ``unscale_`` already did) and call ``optimizer.step(*args,
        **kwargs)`` unless a gradient holds inf or nan; returns what ``step`` returned,
        or None when skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale("step")
        st = self._state(optimizer)
        if st["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if st["stage"] == _READY:
            self.unscale_(optimizer)
        if st["found_inf"] is None:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        ret = None if st["found_inf"] else optimizer.step(*args, **kwargs)
        st["stage"] = _STEPPED
        return ret

    def update(self, new_scale=None):
        """Set the next scale: ``new_scale`` if given, else backed off after a skipped step
        and grown after ``growth_interval`` good steps; then start a new iteration."""
        if not self._enabled:
            return
        self._check_scale("update")
        if new_scale is not None:
            v = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
            self._scale = np.float32(v)
        else:
            checked = [s for s in self._per_optimizer.values()
                       if s["stage"] != _READY and s["found_inf"] is not None]
            if not checked:
                raise AssertionError("No inf checks were recorded prior to update.")
            if any(s["found_inf"] for s in checked):
                self._scale = np.float32(self._scale * np.float32(self._backoff_factor))
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    with np.errstate(over="ignore"):
                        grown = np.float32(self._scale * np.float32(self._growth_factor))
                    if math.isfinite(grown):
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_optimizer = {}

    # -- queries and settings
    def is_enabled(self):
        return self._enabled

    def get_scale(self):
        """The current scale as a Python float (1.0 when disabled)."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(self._scale)

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = int(new_interval)

    def _get_growth_tracker(self):
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else self._growth_tracker

    def state_dict(self):
        """The scale and its settings (an empty dict when disabled), as PyTorch's keys."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from "
                               "a disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale = np.float32(self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker = self._init_growth_tracker

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_per_optimizer"] = {}
        return state
