"""``fastgrad.device``: PyTorch's device names, of which fastgrad runs on one, the CPU.

A ``device`` for any of PyTorch's device types can be made (``device("cuda")``, as
scripts do before checking ``cuda.is_available()``); creating or moving a tensor to a
device other than the CPU raises a RuntimeError naming the device.
"""

TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
          "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")


class device:
    """A device name: ``device("cpu")``, ``device("cpu", 0)``, ``device("cuda:1")``.  An
    int (an accelerator index) raises a RuntimeError, as PyTorch does without one."""
    __slots__ = ("_type", "_index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device: an index cannot be given with a device object")
            self._type, self._index = type._type, type._index
            return
        if isinstance(type, int) and not isinstance(type, bool):
            raise RuntimeError(f"device: an int ({type}) names an accelerator device; fastgrad runs "
                               "on the CPU only")
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string, an int or a device, got {_typename(type)}")
        name, sep, idx = type.partition(":")
        if name not in TYPES:
            raise RuntimeError(f"Expected one of {', '.join(TYPES)} device type at start of device "
                               f"string: {type}")
        if sep:
            if index is not None:
                raise RuntimeError(f"device: type {type!r} already names an index; do not pass "
                                   "index too")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int):
                raise TypeError(f"device: index must be an int, got {_typename(index)}")
            if index < 0:
                raise RuntimeError(f"Device index must not be negative, got {index}")
        self._type, self._index = name, index

    @property
    def type(self):
        """The device type: "cpu" (or the name given, such as "cuda")."""
        return self._type

    @property
    def index(self):
        """The device index, or None."""
        return self._index

    def __eq__(self, other):
        if not isinstance(other, device):
            return False
        return self._type == other._type and self._index == other._index

    def __hash__(self):
        return hash((self._type, self._index))

    def __str__(self):
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self):
        if self._index is None:
            return f"device(type='{self._type}')"
        return f"device(type='{self._type}', index={self._index})"

    def __reduce__(self):
        return (device, (self._type, self._index))

    def __enter__(self):
        check(self, "device")
        return self

    def __exit__(self, *exc):
        return False


def _typename(x):
    return type(x).__name__


CPU = device("cpu")


def check(dev, who):
    """Raise unless ``dev`` (None, a device, a string or an int) names the CPU."""
    if dev is None or (dev._type == "cpu" if type(dev) is device else dev == "cpu"):
        return
    if not isinstance(dev, device):
        if isinstance(dev, int) and not isinstance(dev, bool):
            raise RuntimeError(f"{who}: fastgrad runs on the CPU only; got device {dev} (an "
                               "accelerator index)")
        if not isinstance(dev, str):
            raise TypeError(f"{who}: device must be a fastgrad.device, a string or an int, got "
                            f"{_typename(dev)}")
        dev = device(dev)
    if dev._type != "cpu":
        raise RuntimeError(f"{who}: fastgrad runs on the CPU only; got device '{dev}'")
