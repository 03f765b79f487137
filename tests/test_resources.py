"""Impossible sizes: clear MemoryError / ValueError naming the op and the requested size,
raised before anything is allocated, with no partial state left behind.

Two kinds of request:
  * sizes whose byte count overflows 64 bits (or exceeds 2**62 bytes): ValueError, found
    by arithmetic before any allocation;
  * sizes that fit in 64 bits but not in any address space (256 TiB here): MemoryError
    from the allocator, re-raised naming the op, the shape and the bytes.
(Under AddressSanitizer these need allocator_may_return_null=1, see tools/sanitize.sh.)
"""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad._C import _kernels as K

HUGE = 2 ** 46                      # elements: 256 TiB of float32, beyond the 47-bit user
                                    # address space, so refused even where memory is overcommitted
OVER = (2 ** 40, 2 ** 40)           # 2**80 elements: overflows any 64-bit size


def _raises(exc, op, fn, size_text=None):
    with pytest.raises(exc) as ei:
        fn()
    msg = str(ei.value)
    assert msg.startswith(f"{op}:") or f"{op}:" in msg, msg
    if size_text is not None:
        assert size_text in msg, msg
    return msg


FACTORIES = [
    ("zeros", lambda s: fg.zeros(*s)),
    ("ones", lambda s: fg.ones(*s)),
    ("empty", lambda s: fg.empty(*s)),
    ("full", lambda s: fg.full(s, 1.5)),
    ("randn", lambda s: fg.randn(*s)),
    ("rand", lambda s: fg.rand(*s)),
    ("randint", lambda s: fg.randint(0, 5, s)),
]


@pytest.mark.parametrize("name,make", FACTORIES, ids=[f[0] for f in FACTORIES])
def test_factories_with_overflowing_sizes_raise_value_error(name, make):
    _raises(ValueError, name, lambda: make(OVER), "1208925819614629174706176 elements")
    _raises(ValueError, name, lambda: make((2 ** 31, 2 ** 31, 4)), "18446744073709551616 elements")


@pytest.mark.parametrize("name,make", FACTORIES, ids=[f[0] for f in FACTORIES])
def test_factories_beyond_memory_raise_memory_error_naming_the_size(name, make):
    msg = _raises(MemoryError, name, lambda: make((HUGE,)), f"({HUGE},)")
    assert "bytes" in msg


@pytest.mark.parametrize("name,make", [
    ("zeros_like", fg.zeros_like), ("ones_like", fg.ones_like), ("empty_like", fg.empty_like),
    ("full_like", lambda x: fg.full_like(x, 2.0))])
def test_like_factories_of_a_huge_broadcast_view(name, make):
    view = fg.zeros(1).expand(HUGE)                    # a view: no memory behind it
    _raises(MemoryError, name, lambda: make(view), f"({HUGE},)")


def test_ranges_check_their_length_first():
    _raises(MemoryError, "arange", lambda: fg.arange(HUGE), str(HUGE))
    _raises(ValueError, "arange", lambda: fg.arange(0, 2 ** 62, 1), "elements")
    _raises(ValueError, "linspace", lambda: fg.linspace(0, 1, 2 ** 62), "elements")
    _raises(ValueError, "eye", lambda: fg.eye(2 ** 31, 2 ** 31), "elements")
    _raises(MemoryError, "eye", lambda: fg.eye(2 ** 23), "bytes")


def test_reshape_expand_broadcast_reject_impossible_shapes():
    x = fg.zeros(1)
    _raises(ValueError, "reshape", lambda: x.reshape(*OVER))
    _raises(ValueError, "expand", lambda: x.expand(*OVER))
    _raises(ValueError, "expand", lambda: fg.broadcast_to(x, (2 ** 62, 4)))
    _raises(ValueError, "expand", lambda: x.expand(-5))
    with pytest.raises(TypeError, match="size must be ints"):
        fg.zeros(2.5)
    with pytest.raises(ValueError, match="negative dimension"):
        fg.zeros(3, -1)


def test_elementwise_results_too_big():
    a = fg.zeros(1, 1).expand(2 ** 31, 1)
    b = fg.zeros(1, 1).expand(1, 2 ** 31)               # a + b: 2**62 elements, 2**64 bytes
    _raises(ValueError, "add", lambda: a + b, "(2147483648, 2147483648)")
    _raises(ValueError, "lt", lambda: a < b, "elements")
    c = fg.zeros(1, 1).expand(2 ** 23, 1)
    d = fg.zeros(1, 1).expand(1, 2 ** 23)               # 256 TiB: fits 64 bits, not memory
    _raises(MemoryError, "mul", lambda: c * d, "(8388608, 8388608)")
    _raises(ValueError, "where", lambda: fg.where(fg.ones(1, 1, dtype=fg.bool).expand(2 ** 31, 1), a, b),
            "elements")


def test_matmul_result_checked_before_any_copy(monkeypatch):
    a = fg.zeros(1, 1).expand(2 ** 33, 1)               # copying a would take 32 GiB
    b = fg.zeros(1, 1).expand(1, 2 ** 33)
    copies = []
    real = np.ascontiguousarray
    monkeypatch.setattr(np, "ascontiguousarray", lambda x, *k, **kw: copies.append(x.shape) or real(x, *k, **kw))
    _raises(ValueError, "matmul", lambda: a @ b, "(8589934592, 8589934592)")
    c = fg.zeros(1, 1).expand(2 ** 23, 1)
    d = fg.zeros(1, 1).expand(1, 2 ** 23)
    _raises(MemoryError, "matmul", lambda: c @ d, "bytes")
    assert copies == []                                 # failed before copying the operands
    _raises(ValueError, "matmul", lambda: K.matmul(np.zeros((1, 1), np.float32),
                                                   np.zeros((1, 1), np.float32), out=np.zeros(3)))


def test_one_hot_with_a_huge_class_index():
    _raises(ValueError, "one_hot", lambda: fg.nn.functional.one_hot(fg.tensor([0, 2 ** 62])), "elements")


def test_failed_ops_leave_no_partial_state():
    x = fg.ones(3, requires_grad=True)
    y = x * 2
    v = y._version[0]
    big = fg.zeros(1, 1).expand(2 ** 31, 1)
    with pytest.raises(ValueError):
        y + big.expand(2 ** 31, 2 ** 31)            # fails: y and the graph are unchanged
    # (in-place ops compute the out-of-place result first: this one is refused by the size
    # check of the (2**60, 3) broadcast result, before anything is written into y)
    with pytest.raises(ValueError, match="add"):
        y.add_(fg.zeros(1, 1).expand(2 ** 60, 1))
    assert y._version[0] == v
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(y.detach().numpy(), [2.0, 2.0, 2.0])
    # and the process still allocates normally afterwards
    assert fg.zeros(1000, 1000).sum().item() == 0.0
