# Index kernels (csrc/index.h): index_select, index_add, gather, scatter(_add), masks.
# Included from _kernels.pyx.  Every function names the public op in its errors (`op`)
# and the dimension it indexes; out-of-range indices come back from C as a status code
# with the offending value and are raised as IndexOutOfRangeError (an IndexError and a RuntimeError).

cdef extern from "index.h" nogil:
    int fg_index_select(int esize, int64_t outer, int64_t n, int64_t inner, const void *x,
                        int64_t m, const int64_t *idx, void *out, int wrap, int64_t *bad,
                        int nthreads)
    int fg_index_add_f32(int64_t outer, int64_t n, int64_t inner, float *out, int64_t m,
                         const int64_t *idx, const float *src, int wrap, int64_t *bad, int nthreads)
    int fg_index_add_f64(int64_t outer, int64_t n, int64_t inner, double *out, int64_t m,
                         const int64_t *idx, const double *src, int wrap, int64_t *bad, int nthreads)
    int fg_gather(int esize, int64_t outer, int64_t n, int64_t inner, const void *x, int64_t m,
                  const int64_t *idx, void *out, int wrap, int64_t *bad, int nthreads)
    int fg_scatter_add_f32(int64_t outer, int64_t n, int64_t inner, float *out, int64_t m,
                           const int64_t *idx, const float *src, int wrap, int64_t *bad, int nthreads)
    int fg_scatter_add_f64(int64_t outer, int64_t n, int64_t inner, double *out, int64_t m,
                           const int64_t *idx, const double *src, int wrap, int64_t *bad, int nthreads)
    int fg_scatter(int esize, int64_t outer, int64_t n, int64_t inner, void *out, int64_t m,
                   const int64_t *idx, const void *src, int wrap, int64_t *bad, int nthreads)
    int fg_masked_select(int esize, int64_t n, const void *x, const uint8_t *mask, void *out,
                         int64_t *count)
    int fg_masked_expand(int esize, int64_t n, const void *src, const uint8_t *mask, void *out)


cdef inline int _idx_chk(int st, str op, int64_t bad, int dim, int64_t n) except -1:
    if st == FG_OK:
        return 0
    if st == FG_EINVAL:
        raise IndexOutOfRangeError(f"{op}: index {bad} is out of bounds for dimension {dim} with size {n}")
    return _chk(st, op)

cdef inline int _split3(cnp.ndarray x, int dim, int64_t *outer, int64_t *n, int64_t *inner,
                        str op) except -1:
    """(outer, n, inner) of x around dim; a dim outside x's dimensions (0 for a 0-d x)
    is an IndexError naming the op."""
    cdef int d, nd = cnp.PyArray_NDIM(x)
    if dim < 0 or dim >= (nd if nd else 1):
        raise IndexError(f"{op}: dimension {dim} is out of range for an array of shape {_sh(x)}")
    outer[0] = 1
    inner[0] = 1
    for d in range(dim):
        outer[0] *= cnp.PyArray_DIMS(x)[d]
    for d in range(dim + 1, nd):
        inner[0] *= cnp.PyArray_DIMS(x)[d]
    n[0] = cnp.PyArray_DIMS(x)[dim] if nd else 1
    return 0

cdef inline cnp.ndarray _idx_arr(idx, str op):
    return _dense(np.asarray(idx, dtype=np.int64), op)

cdef inline int _inplace_ok(cnp.ndarray out, str op) except -1:
    """the array an index kernel writes in place must be dense, aligned and writable"""
    if not _layout_ok(out, True) or not cnp.PyArray_ISWRITEABLE(out):
        raise ValueError(f"{op}: the output must be a writable, aligned, native-endian "
                         f"C-contiguous array, got shape {_sh(out)} strides "
                         f"{(<object>out).strides} {out.dtype}")
    return 0

cdef inline int _esize(cnp.ndarray x, str op) except -1:
    cdef int e = cnp.PyArray_ITEMSIZE(x)
    if e != 1 and e != 4 and e != 8:
        raise TypeError(f"{op}: unsupported dtype {x.dtype}")
    return e

cdef inline int _nt(int64_t work):
    return NT if work >= NOGIL_MIN else 1


def index_select(cnp.ndarray x, int dim, idx, bint wrap=False, str op="index_select"):
    """x[(:,)*dim, idx] for a 1-d int64 idx: shape x.shape with dim replaced by len(idx)."""
    x = _dense(x, op)
    cdef cnp.ndarray ix = _idx_arr(idx, op).reshape(-1)
    cdef int64_t outer, n, inner, bad = 0
    _split3(x, dim, &outer, &n, &inner, op)
    cdef int64_t m = cnp.PyArray_SIZE(ix)
    shape = list(_sh(x))
    if shape:
        shape[dim] = m
    elif m != 1:
        raise IndexError(f"{op}: a 0-d input takes exactly one index, got {m}")
    cdef cnp.ndarray out = _empty_checked(op, shape, x.dtype)
    cdef int es = _esize(x, op), s, nt = _nt(outer * m * inner)
    cdef const void *xp = cnp.PyArray_DATA(x)
    cdef const int64_t *ip = <const int64_t*>cnp.PyArray_DATA(ix)
    cdef void *op_ = cnp.PyArray_DATA(out)
    with nogil:
        s = fg_index_select(es, outer, n, inner, xp, m, ip, op_, wrap, &bad, nt)
    _idx_chk(s, op, bad, dim, n)
    return out


def index_add(cnp.ndarray out, int dim, idx, cnp.ndarray src, bint wrap=False, str op="index_add"):
    """out[(:,)*dim, idx[j]] += src[(:,)*dim, j] in place (out dense, float); repeats add."""
    cdef int is64 = _is64(out, op)
    _inplace_ok(out, op)
    src = _dense(np.asarray(src, dtype=out.dtype), op)
    cdef cnp.ndarray ix = _idx_arr(idx, op).reshape(-1)
    cdef int64_t outer, n, inner, bad = 0
    _split3(out, dim, &outer, &n, &inner, op)
    cdef int64_t m = cnp.PyArray_SIZE(ix)
    if cnp.PyArray_SIZE(src) != outer * m * inner:
        raise ValueError(f"{op}: source shape {_sh(src)} does not match {m} indices into "
                         f"dimension {dim} of shape {_sh(out)}")
    cdef void *op_ = cnp.PyArray_DATA(out)
    cdef const void *sp = cnp.PyArray_DATA(src)
    cdef const int64_t *ip = <const int64_t*>cnp.PyArray_DATA(ix)
    cdef int s, nt = _nt(outer * m * inner)
    with nogil:
        if is64:
            s = fg_index_add_f64(outer, n, inner, <double*>op_, m, ip, <const double*>sp, wrap, &bad, nt)
        else:
            s = fg_index_add_f32(outer, n, inner, <float*>op_, m, ip, <const float*>sp, wrap, &bad, nt)
    _idx_chk(s, op, bad, dim, n)
    return out


cdef inline cnp.ndarray _gather_src(cnp.ndarray x, int dim, tuple ishape, str op):
    """x restricted to idx's extent in every dim but `dim`, dense."""
    cdef int d
    xs = _sh(x)
    if any(xs[d] != ishape[d] for d in range(len(xs)) if d != dim):
        x = x[tuple(slice(None) if d == dim else slice(0, ishape[d]) for d in range(len(xs)))]
    return _dense(x, op)


def gather(cnp.ndarray x, int dim, idx, str op="gather"):
    """out[..., j, ...] = x[..., idx[..., j, ...], ...] along dim; out has idx's shape
    (idx.shape[d] <= x.shape[d] for d != dim, checked by the caller)."""
    cdef cnp.ndarray ix = _idx_arr(idx, op)
    if ix.ndim != x.ndim or any(_sh(ix)[d] > _sh(x)[d] for d in range(x.ndim) if d != dim):
        raise ValueError(f"{op}: index shape {_sh(ix)} must have the input's {x.ndim} dimensions "
                         f"and at most its extent {_sh(x)} in every dimension but {dim}")
    x = _gather_src(x, dim, _sh(ix), op)
    cdef int64_t outer, n, inner, mo, m, mi, bad = 0
    _split3(x, dim, &outer, &n, &inner, op)
    _split3(ix, dim, &mo, &m, &mi, op)
    cdef cnp.ndarray out = _empty_checked(op, _sh(ix), x.dtype)
    cdef int es = _esize(x, op), s, nt = _nt(cnp.PyArray_SIZE(ix))
    cdef const void *xp = cnp.PyArray_DATA(x)
    cdef const int64_t *ip = <const int64_t*>cnp.PyArray_DATA(ix)
    cdef void *op_ = cnp.PyArray_DATA(out)
    with nogil:
        s = fg_gather(es, outer, n, inner, xp, m, ip, op_, 0, &bad, nt)
    _idx_chk(s, op, bad, dim, n)
    return out


def scatter_add(cnp.ndarray out, int dim, idx, cnp.ndarray src, bint accumulate=True,
                str op="scatter_add"):
    """In place on dense `out`: out[..., idx[..., j, ...], ...] (+)= src[..., j, ...];
    src and idx have one shape whose extents (but along dim) match out's.  accumulate
    False overwrites (scatter)."""
    _inplace_ok(out, op)
    cdef cnp.ndarray ix = _idx_arr(idx, op)
    src = _dense(np.asarray(src, dtype=out.dtype), op)
    if _sh(src) != _sh(ix):
        raise ValueError(f"{op}: source shape {_sh(src)} does not match index shape {_sh(ix)}")
    cdef int64_t outer, n, inner, mo, m, mi, bad = 0
    _split3(out, dim, &outer, &n, &inner, op)
    _split3(ix, dim, &mo, &m, &mi, op)
    if mo != outer or mi != inner:
        raise ValueError(f"{op}: index shape {_sh(ix)} must match the output shape {_sh(out)} "
                         f"in every dimension but {dim}")
    if accumulate and cnp.PyArray_TYPE(out) != cnp.NPY_FLOAT32 and cnp.PyArray_TYPE(out) != cnp.NPY_FLOAT64:
        # integer scatter_add: no C kernel; NumPy's unbuffered add after the same checks
        if cnp.PyArray_SIZE(ix) and (ix.min() < 0 or ix.max() >= n):
            b = ix[(ix < 0) | (ix >= n)].flat[0]
            raise IndexOutOfRangeError(f"{op}: index {b} is out of bounds for dimension {dim} with size {n}")
        full = list(np.indices(_sh(ix), sparse=True))
        full[dim] = ix
        np.add.at(out, tuple(full), src)
        return out
    cdef void *op_ = cnp.PyArray_DATA(out)
    cdef const void *sp = cnp.PyArray_DATA(src)
    cdef const int64_t *ip = <const int64_t*>cnp.PyArray_DATA(ix)
    cdef int s, es = _esize(out, op), nt = _nt(cnp.PyArray_SIZE(ix))
    cdef int is64 = 0
    if accumulate:
        is64 = _is64(out, op)
    with nogil:
        if not accumulate:
            s = fg_scatter(es, outer, n, inner, op_, m, ip, sp, 0, &bad, nt)
        elif is64:
            s = fg_scatter_add_f64(outer, n, inner, <double*>op_, m, ip, <const double*>sp, 0, &bad, nt)
        else:
            s = fg_scatter_add_f32(outer, n, inner, <float*>op_, m, ip, <const float*>sp, 0, &bad, nt)
    _idx_chk(s, op, bad, dim, n)
    return out


def masked_select(cnp.ndarray x, cnp.ndarray mask, str op="masked_select"):
    """1-d array of x's elements where mask (bool, same shape) is True, in C order."""
    x = _dense(x, op)
    mask = _dense(mask, op)
    if cnp.PyArray_TYPE(mask) != cnp.NPY_BOOL or _sh(mask) != _sh(x):
        raise ValueError(f"{op}: mask must be a bool array of shape {_sh(x)}, got {_sh(mask)} {mask.dtype}")
    cdef int64_t n = cnp.PyArray_SIZE(x), cnt = 0
    cdef cnp.ndarray out = _empty_checked(op, (n,), x.dtype)
    cdef int es = _esize(x, op), s
    cdef const void *xp = cnp.PyArray_DATA(x)
    cdef const uint8_t *mp = <const uint8_t*>cnp.PyArray_DATA(mask)
    cdef void *op_ = cnp.PyArray_DATA(out)
    with nogil:
        s = fg_masked_select(es, n, xp, mp, op_, &cnt)
    _chk(s, op)
    return out[:cnt] if cnt != n else out


def masked_expand(cnp.ndarray src, cnp.ndarray mask, str op="masked_expand"):
    """Array of mask's shape: src's values (in order) where mask is True, zeros elsewhere."""
    src = _dense(src, op).reshape(-1)
    mask = _dense(mask, op)
    if cnp.PyArray_TYPE(mask) != cnp.NPY_BOOL:
        raise TypeError(f"{op}: mask must be bool, got {mask.dtype}")
    cdef int64_t n = cnp.PyArray_SIZE(mask)
    cdef cnp.ndarray out = _empty_checked(op, _sh(mask), src.dtype)
    cdef int es = _esize(src, op), s
    if cnp.PyArray_SIZE(src) != np.count_nonzero(mask):
        raise ValueError(f"{op}: {cnp.PyArray_SIZE(src)} values for a mask with "
                         f"{np.count_nonzero(mask)} True entries")
    cdef const void *sp = cnp.PyArray_DATA(src)
    cdef const uint8_t *mp = <const uint8_t*>cnp.PyArray_DATA(mask)
    cdef void *op_ = cnp.PyArray_DATA(out)
    with nogil:
        s = fg_masked_expand(es, n, sp, mp, op_)
    _chk(s, op)
    return out
