"""fastgrad's memory cache for kernel results.

Every result array of at least 128 KiB that a fastgrad kernel makes (an op's output, a
gradient, saved statistics) comes from a cache of memory blocks that fastgrad owns: when
the array (and every view of it) is gone, its block is kept for the next result of its
size class instead of going back to the operating system.  A training step frees and
allocates arrays of the same sizes step after step, so the next step writes memory
whose pages are already mapped instead of faulting fresh ones in page by page (on a small
CNN's training step about 3,500 page faults per step, half the step's time).

The cache changes nothing outside fastgrad: its blocks come from ``mmap`` directly, the
C library's allocator and its settings are untouched, and smaller arrays are plain
``numpy.empty`` ones.  The arrays are ordinary NumPy arrays (their ``base`` is the block,
so they do not own their data: ``ndarray.resize`` refuses them, as it refuses any view).

It holds at most :func:`get_cache_limit` bytes of free blocks (default: 256 MiB or a
quarter of the machine's memory, whichever is smaller), evicting the blocks freed longest
ago first.  ``FASTGRAD_MEMORY_CACHE=0`` in the environment turns it off (every result from
``numpy.empty``) and ``=1`` keeps it on with the default limit;
``FASTGRAD_MEMORY_CACHE=<bytes>`` (an integer of 2 or more, or one ending in K, M or G)
sets the limit.  Threads and ``fork`` are safe: a forked child has its own copy
of the cache.
"""
import os

from fastgrad._C import _kernels as _ck

__all__ = ["empty_cache", "set_cache_limit", "get_cache_limit", "memory_allocated",
           "memory_reserved", "memory_stats", "reset_accumulated_memory_stats",
           "set_cache_enabled", "is_cache_enabled", "tune_malloc"]

DEFAULT_CACHE_LIMIT = 256 << 20


def empty_cache():
    """Give every cached free block back to the operating system (arrays in use keep
    theirs; they come back to the cache when they die)."""
    _ck.cache_release()


def set_cache_limit(nbytes):
    """Keep at most ``nbytes`` bytes of free blocks cached (0: cache none); the blocks
    freed longest ago are released at once down to the limit."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
        raise ValueError(f"set_cache_limit: expected a byte count (an int >= 0), got {nbytes!r}")
    _ck.cache_set_limit(nbytes)


def get_cache_limit():
    """The most bytes of free blocks the cache keeps."""
    return _ck.cache_stats()["limit"]


def memory_allocated():
    """Bytes of cache blocks under live arrays (block sizes, which round a request up by
    at most 25%)."""
    return _ck.cache_stats()["allocated_bytes"]


def memory_reserved():
    """Bytes the cache holds from the operating system: blocks under live arrays plus
    cached free blocks."""
    st = _ck.cache_stats()
    return st["allocated_bytes"] + st["cached_bytes"]


def memory_stats():
    """A dict of the cache's counters: ``allocated_bytes``, ``cached_bytes``,
    ``cached_blocks``, ``limit``, ``hits`` and ``misses`` (requests served from the cache
    or by a fresh mapping), ``evictions`` (free blocks released to stay under the limit
    or by :func:`empty_cache`), and ``enabled``."""
    st = _ck.cache_stats()
    st["enabled"] = _ck.cache_enabled()
    return st


def reset_accumulated_memory_stats():
    """Set the ``hits``, ``misses`` and ``evictions`` counters back to 0."""
    _ck.cache_reset_stats()


def set_cache_enabled(enabled):
    """Take large kernel results from the cache (True, the default) or from
    ``numpy.empty`` (False; arrays already made from cache blocks keep them)."""
    _ck.cache_set_enabled(bool(enabled))


def is_cache_enabled():
    return _ck.cache_enabled()


def tune_malloc(mmap_threshold=32 << 20, trim_threshold=64 << 20):
    """Opt-in, process-wide: change the C library's malloc settings (glibc only) so that
    allocations below ``mmap_threshold`` bytes come from the heap and up to
    ``trim_threshold`` freed bytes stay in it for reuse.  This gives arrays that fastgrad's
    kernels do not make (NumPy calls in user code, the NumPy backend) the reuse the
    cache gives kernel results, at the price of changing every library's allocations in
    the process.  fastgrad never calls it on its own.  Returns "applied", "unsupported"
    (not glibc) or "refused" (a value out of range; glibc caps ``mmap_threshold`` at
    32 MiB)."""
    for name, v in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"tune_malloc: {name} must be an int, got {v!r}")
    return _ck.malloc_tune(mmap_threshold, trim_threshold)


def _parse_env(value):
    """FASTGRAD_MEMORY_CACHE: None to turn the cache off, else the limit in bytes (the
    default limit for 1/on/true/yes)."""
    v = value.strip().upper()
    if v in ("0", "OFF", "FALSE", "NO"):
        return None
    if v in ("1", "ON", "TRUE", "YES"):
        return _default_limit()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(v[-1:], 1)
    digits = v[:-1] if mult > 1 else v
    if not digits.isdigit():
        raise ImportError(f"FASTGRAD_MEMORY_CACHE={value!r}: expected 0 (off) or a byte count "
                          f"such as 268435456, 256M or 1G")
    return int(digits) * mult


def _default_limit():
    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
        return DEFAULT_CACHE_LIMIT
    return min(DEFAULT_CACHE_LIMIT, ram // 4) if ram > 0 else DEFAULT_CACHE_LIMIT


def _init():
    env = os.environ.get("FASTGRAD_MEMORY_CACHE", "").strip()
    limit = _parse_env(env) if env else _default_limit()
    if limit is None:
        _ck.cache_set_enabled(False)
        return
    _ck.cache_set_limit(limit)


def _describe():
    """One line for show_config."""
    st = memory_stats()
    if not st["enabled"]:
        return "cache off (FASTGRAD_MEMORY_CACHE=0 or set_cache_enabled(False))"
    mib = 1 << 20
    return (f"cache on, limit {st['limit'] / mib:.0f} MiB; {st['allocated_bytes'] / mib:.1f} MiB "
            f"in use, {st['cached_bytes'] / mib:.1f} MiB cached")
