# ---- result arrays from the block cache (csrc/alloc.c) --------------------------------
# A result of at least FG_CACHE_MIN_BYTES (the size above which the C library would
# mmap() it afresh) is a NumPy array over a block of the cache, whose base is a
# _CacheBlock; the block goes back to the cache when the last array or view using it
# dies.  Smaller results, object dtypes and every result while the cache is off come
# from NumPy's own allocator.  fastgrad.memory is the public face of this.
# tracemalloc sees these arrays as it sees NumPy's own: their data is traced in NumPy's
# domain while an array uses it.
cimport cython
from libc.stdint cimport uintptr_t

cdef extern from "Python.h":
    int PyTraceMalloc_Track(unsigned int domain, uintptr_t ptr, size_t size)
    int PyTraceMalloc_Untrack(unsigned int domain, uintptr_t ptr)

cdef unsigned int NUMPY_TRACE_DOMAIN = 389047   # the domain NumPy traces array data in

cdef bint CACHE_ON = True
CACHE_STAT_NAMES = ("cached_bytes", "allocated_bytes", "limit", "hits", "misses",
                    "evictions", "cached_blocks")


@cython.final
@cython.freelist(64)
cdef class _CacheBlock:
    """The memory under a cached result array (its .base); gives the block back to the
    cache when the last array using it is gone."""
    cdef void *p
    cdef size_t cap

    def __dealloc__(self):
        if self.p != NULL:
            PyTraceMalloc_Untrack(NUMPY_TRACE_DOMAIN, <uintptr_t>self.p)
            fg_cache_free(self.p, self.cap)
            self.p = NULL

    def __reduce__(self):
        raise TypeError("a fastgrad cache block cannot be pickled (pickle the array instead)")

    @property
    def nbytes(self):
        return self.cap


cdef object _cache_empty(int nd, cnp.npy_intp *dims, int typenum, size_t nbytes):
    """A dense array over a cache block, or None when the cache is off, the array is
    small, typenum is not a plain number type or no block can be had."""
    if not CACHE_ON or nbytes < FG_CACHE_MIN_BYTES or typenum > cnp.NPY_CLONGDOUBLE:
        return None
    cdef size_t cap
    cdef void *p = fg_cache_alloc(nbytes, &cap)
    if p == NULL:
        return None
    cdef _CacheBlock blk = _CacheBlock.__new__(_CacheBlock)
    blk.p = p
    blk.cap = cap
    PyTraceMalloc_Track(NUMPY_TRACE_DOMAIN, <uintptr_t>p, nbytes)
    cdef cnp.ndarray a = cnp.PyArray_SimpleNewFromData(nd, dims, typenum, p)
    cnp.set_array_base(a, blk)
    return a


cdef cnp.ndarray _new_dense(int nd, cnp.npy_intp *dims, int typenum, size_t itemsize):
    """An uninitialised C-ordered native-endian array (from the cache when large)."""
    cdef size_t nbytes = itemsize
    cdef int i
    for i in range(nd):
        nbytes *= <size_t>dims[i]
    a = _cache_empty(nd, dims, typenum, nbytes)
    if a is not None:
        return a
    return cnp.PyArray_EMPTY(nd, dims, typenum, 0)


def cache_set_enabled(bint on):
    global CACHE_ON
    CACHE_ON = on

def cache_enabled():
    return CACHE_ON

def cache_release():
    fg_cache_release()

def cache_set_limit(int64_t nbytes):
    if nbytes < 0:
        raise ValueError(f"set_cache_limit: expected a byte count >= 0, got {nbytes}")
    fg_cache_set_limit(<size_t>nbytes)

def cache_stats():
    cdef int64_t st[FG_CACHE_NSTATS]
    fg_cache_stats(st)
    return {k: int(st[i]) for i, k in enumerate(CACHE_STAT_NAMES)}

def cache_reset_stats():
    fg_cache_reset_stats()

def cache_empty(shape, dtype):
    """An uninitialised array of shape and dtype made as kernel results are."""
    return _empty_checked("empty", tuple(shape), dtype)
