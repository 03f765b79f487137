# Wrappers for csrc/scan_sort.c (cumsum/cumprod, prod, sort, topk).  Included by
# _kernels.pyx, so the helpers there (_is64, _dense, _split, _chk, NT, ...) are in scope.
# Every wrapper reads a dense copy of x (one strided C copy for views) and works along
# one non-negative dim of an array with at least one dimension.

cdef extern from "fastgrad.h" nogil:
    enum:
        FG_SCAN_SUM, FG_SCAN_COUNT
    int fg_scan_f32(int op, int reverse, int64_t outer, int64_t n, int64_t inner, const float *x, float *out, int nthreads)
    int fg_scan_f64(int op, int reverse, int64_t outer, int64_t n, int64_t inner, const double *x, double *out, int nthreads)
    int fg_prod_f32(int64_t outer, int64_t n, int64_t inner, const float *x, float *out, int nthreads)
    int fg_prod_f64(int64_t outer, int64_t n, int64_t inner, const double *x, double *out, int nthreads)
    int fg_sort_f32(int descending, int64_t outer, int64_t n, int64_t inner, const float *x, float *vals, int64_t *idx, int nthreads)
    int fg_sort_f64(int descending, int64_t outer, int64_t n, int64_t inner, const double *x, double *vals, int64_t *idx, int nthreads)
    int fg_topk_f32(int largest, int64_t k, int64_t outer, int64_t n, int64_t inner, const float *x, float *vals, int64_t *idx, int nthreads)
    int fg_topk_f64(int largest, int64_t k, int64_t outer, int64_t n, int64_t inner, const double *x, double *vals, int64_t *idx, int nthreads)

SCAN = _op_table(FG_OPS_SCAN)


def scan(int op, cnp.ndarray x, int dim, bint reverse=False):
    """Inclusive cumulative sum (op SCAN["cumsum"]) or product along dim; reverse runs
    from the end of the dim.  Same shape as x."""
    cdef str name = "cumsum" if op == FG_SCAN_SUM else "cumprod"
    cdef int is64 = _is64(x, name)
    if op < 0 or op >= FG_SCAN_COUNT:
        raise ValueError(f"scan: unknown op {op}")
    x = _dense(x, name)
    cdef int64_t outer, n, inner
    _split(x, dim, &outer, &n, &inner)
    cdef cnp.ndarray y = _empty_like(x, name)
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *yp = cnp.PyArray_DATA(y)
    cdef int nt = NT if outer * n * inner >= NOGIL_MIN else 1
    cdef int s
    with nogil:
        if is64:
            s = fg_scan_f64(op, reverse, outer, n, inner, <double*>xp, <double*>yp, nt)
        else:
            s = fg_scan_f32(op, reverse, outer, n, inner, <float*>xp, <float*>yp, nt)
    _chk(s, name)
    return y


def prod(cnp.ndarray x, int dim):
    """Product over dim (removed from the shape); 1 over an empty dim."""
    cdef int is64 = _is64(x, "prod")
    x = _dense(x, "prod")
    cdef int64_t outer, n, inner
    _split(x, dim, &outer, &n, &inner)
    shape = _sh(x)
    cdef cnp.ndarray y = _empty_checked("prod", shape[:dim] + shape[dim + 1:], (<object>x).dtype)
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *yp = cnp.PyArray_DATA(y)
    cdef int nt = NT if outer * n * inner >= NOGIL_MIN else 1
    cdef int s
    with nogil:
        if is64:
            s = fg_prod_f64(outer, n, inner, <double*>xp, <double*>yp, nt)
        else:
            s = fg_prod_f32(outer, n, inner, <float*>xp, <float*>yp, nt)
    _chk(s, "prod")
    return y


cdef tuple _sort_call(cnp.ndarray x, int dim, int64_t k, bint flag, bint full, str name):
    cdef int is64 = _is64(x, name)
    x = _dense(x, name)
    cdef int64_t outer, n, inner
    _split(x, dim, &outer, &n, &inner)
    if k < 0 or k > n:
        raise IndexError(f"{name}: k={k} is out of range for dimension {dim} of size {n} (shape {_sh(x)})")
    shape = _sh(x)
    oshape = shape[:dim] + (k,) + shape[dim + 1:]
    cdef cnp.ndarray vals = _empty_checked(name, oshape, (<object>x).dtype)
    cdef cnp.ndarray idx = _empty_checked(name, oshape, np.int64)
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *vp = cnp.PyArray_DATA(vals)
    cdef int64_t *ip = <int64_t*>cnp.PyArray_DATA(idx)
    cdef int nt = NT if outer * n * inner >= NOGIL_MIN else 1
    cdef int s
    with nogil:
        if full:
            if is64:
                s = fg_sort_f64(flag, outer, n, inner, <double*>xp, <double*>vp, ip, nt)
            else:
                s = fg_sort_f32(flag, outer, n, inner, <float*>xp, <float*>vp, ip, nt)
        else:
            if is64:
                s = fg_topk_f64(flag, k, outer, n, inner, <double*>xp, <double*>vp, ip, nt)
            else:
                s = fg_topk_f32(flag, k, outer, n, inner, <float*>xp, <float*>vp, ip, nt)
    _chk(s, name)
    return vals, idx


def sort(cnp.ndarray x, int dim, bint descending=False):
    """Stable sort along dim: (values, int64 indices).  NaN sorts as the largest value."""
    return _sort_call(x, dim, x.shape[dim] if 0 <= dim < x.ndim else 0, descending, True, "sort")


def topk(cnp.ndarray x, int64_t k, int dim, bint largest=True):
    """The k largest (or smallest) along dim, in sorted order: (values, int64 indices)."""
    return _sort_call(x, dim, k, largest, False, "topk")
