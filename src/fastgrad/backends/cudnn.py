"""``fastgrad.backends.cudnn``: cuDNN is not available; its flags are accepted and change
nothing (``benchmark``, ``deterministic``, ``allow_tf32``, ``enabled``)."""
benchmark = False
deterministic = False
allow_tf32 = True
enabled = True


def is_available():
    return False


def version():
    return None
