# cython: language_level=3, boundscheck=False, cdivision=True
"""Thin typed wrappers over the C kernels (csrc/fastgrad.h).

Each wrapper validates what the C layer cannot see (dtypes, contiguity, broadcast
shapes), takes raw pointers from NumPy arrays, releases the GIL for work large enough
to be worth it, and turns C status codes into Python exceptions that name the op.

Contiguity: unary, reduction, softmax and cross-entropy kernels read dense input; the
wrappers copy a non-contiguous view first (one strided C copy).  Binary, where and copy
kernels read arbitrary strides (including broadcast 0-strides) directly.  GEMM reads
row-major or transposed operands with any leading dimension directly; other layouts
are copied.
"""
cimport numpy as cnp
import numpy as np
from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memset
from fastgrad._C.cfastgrad cimport *

cnp.import_array()

cdef int NT = 1                  # threads for every kernel call
cdef int64_t NOGIL_MIN = 16384   # release the GIL only for work this large


cdef dict _op_table(int family):
    """{Python name: op id} of one op table of csrc/ops/, in id order."""
    return {fg_op_name(family, i).decode(): i for i in range(fg_op_count(family))}

U = _op_table(FG_OPS_UNARY)
B = _op_table(FG_OPS_BINARY)
CMP = _op_table(FG_OPS_COMPARE)
R = _op_table(FG_OPS_REDUCE)
# unary ops whose backward reads the output y instead of the input x
UNARY_USES_Y = frozenset(i for i in U.values() if fg_unary_uses_y(i))
cdef int R_MAX = R["max"], R_MIN = R["min"], R_COUNT = len(R)
ACT = {None: FG_ACT_NONE, **_op_table(FG_OPS_GEMM_ACT)}
ISA = {"scalar": FG_ISA_SCALAR, "avx2": FG_ISA_AVX2, "avx512": FG_ISA_AVX512}
U_NAMES = {v: k for k, v in U.items()}
B_NAMES = {v: k for k, v in B.items()}
CMP_NAMES = {v: k for k, v in CMP.items()}


class TargetIndexError(IndexError, ValueError):
    """A class index outside [0, C): an IndexError (as users expect) and a ValueError."""


# ---- configuration ---------------------------------------------------------------------
def set_num_threads(int n):
    global NT
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive thread count, got {n}")
    NT = n

def get_num_threads():
    return NT

def have_openmp():
    return bool(fg_have_openmp())

def omp_max_threads():
    return fg_omp_max_threads()

def malloc_tune(int64_t mmap_threshold, int64_t trim_threshold):
    """See fg_malloc_tune (csrc/alloc.c): "applied", "unsupported" (not glibc) or
    "refused" (the C library rejected a value)."""
    cdef int s = fg_malloc_tune(mmap_threshold, trim_threshold)
    return "applied" if s == FG_OK else "unsupported" if s == FG_EUNSUPPORTED else "refused"

def cpu_best_isa():
    return fg_isa_name(fg_cpu_best_isa()).decode()

def get_isa():
    return fg_isa_name(fg_get_isa()).decode()

def set_isa(str name):
    if name not in ISA:
        raise ValueError(f"set_isa: unknown SIMD path {name!r}; expected one of {sorted(ISA)}")
    if fg_set_isa(ISA[name]) != FG_OK:
        raise ValueError(f"set_isa: this CPU does not support the {name!r} path "
                         f"(best available: {cpu_best_isa()!r})")

cdef extern from *:
    const char *FG_COMPILER
    const char *FG_OPENMP_FLAG

def compiler_info():
    return FG_COMPILER.decode(), FG_OPENMP_FLAG.decode()

def release_workspace():
    fg_workspace_release()


# ---- helpers ---------------------------------------------------------------------------
cdef inline int _is64(cnp.ndarray x, str op) except -1:
    cdef int t = cnp.PyArray_TYPE(x)
    if t == cnp.NPY_FLOAT32:
        return 0
    if t == cnp.NPY_FLOAT64:
        return 1
    raise TypeError(f"{op}: expected a float32 or float64 array, got {x.dtype}")

cdef inline tuple _sh(x):
    return (<object>x).shape

cdef inline int _chk(int st, str op) except -1:
    if st == FG_OK:
        return 0
    if st == FG_ENOMEM:
        raise MemoryError(f"{op}: out of memory in the C kernel")
    raise ValueError(f"{op}: the C kernel rejected its arguments (status {st})")

cdef inline cnp.ndarray _empty_like(cnp.ndarray x):
    return cnp.PyArray_EMPTY(cnp.PyArray_NDIM(x), cnp.PyArray_DIMS(x), cnp.PyArray_TYPE(x), 0)

cdef inline int _elem_strides(cnp.ndarray x, int64_t *st) except -1:
    """element strides of x; returns 0 if some stride is not a multiple of the item size"""
    cdef int d, nd = cnp.PyArray_NDIM(x)
    cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(x)
    cdef cnp.npy_intp *bs = cnp.PyArray_STRIDES(x)
    for d in range(nd):
        if bs[d] % isz != 0:
            return 0
        st[d] = bs[d] // isz
    return 1

def copy(cnp.ndarray x):
    """Dense (C-contiguous) copy of a float array view, by the strided C kernel."""
    cdef int is64 = _is64(x, "copy")
    cdef int nd = cnp.PyArray_NDIM(x)
    cdef int64_t shape[FG_MAX_DIMS]
    cdef int64_t st[FG_MAX_DIMS]
    cdef int d, s
    if nd > FG_MAX_DIMS or not _elem_strides(x, st):
        return np.ascontiguousarray(x)
    for d in range(nd):
        shape[d] = cnp.PyArray_DIMS(x)[d]
    cdef cnp.ndarray out = _empty_like(x)
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *op = cnp.PyArray_DATA(out)
    cdef int64_t n = cnp.PyArray_SIZE(x)
    with nogil:
        if is64:
            s = fg_copy_f64(nd, shape, <double*>xp, st, <double*>op, NT if n >= NOGIL_MIN else 1)
        else:
            s = fg_copy_f32(nd, shape, <float*>xp, st, <float*>op, NT if n >= NOGIL_MIN else 1)
    _chk(s, "copy")
    return out

cdef inline cnp.ndarray _dense(cnp.ndarray x):
    if cnp.PyArray_IS_C_CONTIGUOUS(x):
        return x
    return copy(x)

def contiguous(cnp.ndarray x):
    if cnp.PyArray_IS_C_CONTIGUOUS(x):
        return x
    if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32 or cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT64:
        return copy(x)
    return np.ascontiguousarray(x)


# ---- elementwise -----------------------------------------------------------------------
def unary(int op, cnp.ndarray x, double alpha=0.0, double beta=0.0):
    """y = f_op(x) for a float array; returns a new dense array of the same shape."""
    cdef int is64 = _is64(x, U_NAMES.get(op, "unary"))
    x = _dense(x)
    cdef cnp.ndarray y = _empty_like(x)
    cdef int64_t n = cnp.PyArray_SIZE(x)
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *yp = cnp.PyArray_DATA(y)
    cdef int s
    if n < NOGIL_MIN:
        if is64:
            s = fg_unary_f64(op, n, <double*>xp, <double*>yp, alpha, beta, 1)
        else:
            s = fg_unary_f32(op, n, <float*>xp, <float*>yp, alpha, beta, 1)
    else:
        with nogil:
            if is64:
                s = fg_unary_f64(op, n, <double*>xp, <double*>yp, alpha, beta, NT)
            else:
                s = fg_unary_f32(op, n, <float*>xp, <float*>yp, alpha, beta, NT)
    if s != FG_OK:
        _chk(s, U_NAMES.get(op, f"unary op {op}"))
    return y

def unary_bwd(int op, cnp.ndarray g, x, y, double alpha=0.0, double beta=0.0):
    """gx = g * f_op'(.), reading the saved input x or output y (whichever the op uses)."""
    cdef str name = U_NAMES.get(op, "unary") + "_backward"
    cdef int is64 = _is64(g, name)
    g = _dense(g)
    cdef cnp.ndarray xa, ya
    cdef void *xp = NULL
    cdef void *yp = NULL
    cdef int64_t n = cnp.PyArray_SIZE(g)
    if x is not None:
        xa = _dense(x)
        if cnp.PyArray_TYPE(xa) != cnp.PyArray_TYPE(g) or cnp.PyArray_SIZE(xa) != n:
            raise ValueError(f"{name}: saved input {_sh(xa)} {xa.dtype} does not match grad {_sh(g)} {g.dtype}")
        xp = cnp.PyArray_DATA(xa)
    if y is not None:
        ya = _dense(y)
        if cnp.PyArray_TYPE(ya) != cnp.PyArray_TYPE(g) or cnp.PyArray_SIZE(ya) != n:
            raise ValueError(f"{name}: saved output {_sh(ya)} {ya.dtype} does not match grad {_sh(g)} {g.dtype}")
        yp = cnp.PyArray_DATA(ya)
    cdef cnp.ndarray gx = _empty_like(g)
    cdef void *gp = cnp.PyArray_DATA(g)
    cdef void *op_ = cnp.PyArray_DATA(gx)
    cdef int s
    cdef int nt = NT if n >= NOGIL_MIN else 1
    if n < NOGIL_MIN:
        if is64:
            s = fg_unary_bwd_f64(op, n, <double*>gp, <double*>xp, <double*>yp, <double*>op_, alpha, beta, 1)
        else:
            s = fg_unary_bwd_f32(op, n, <float*>gp, <float*>xp, <float*>yp, <float*>op_, alpha, beta, 1)
    else:
        with nogil:
            if is64:
                s = fg_unary_bwd_f64(op, n, <double*>gp, <double*>xp, <double*>yp, <double*>op_, alpha, beta, nt)
            else:
                s = fg_unary_bwd_f32(op, n, <float*>gp, <float*>xp, <float*>yp, <float*>op_, alpha, beta, nt)
    _chk(s, name)
    return gx

cdef int _broadcast(str op, cnp.ndarray a, cnp.ndarray b, int *ndim, int64_t *shape,
                    int64_t *sa, int64_t *sb) except -1:
    cdef int na = cnp.PyArray_NDIM(a), nb = cnp.PyArray_NDIM(b)
    cdef int nd = na if na > nb else nb
    cdef int i, ia, ib
    cdef int64_t da, db
    cdef int64_t ta[FG_MAX_DIMS]
    cdef int64_t tb[FG_MAX_DIMS]
    if nd > FG_MAX_DIMS:
        raise ValueError(f"{op}: at most {FG_MAX_DIMS} dimensions are supported, got {nd}")
    if not _elem_strides(a, ta) or not _elem_strides(b, tb):
        return 0
    for i in range(nd):
        ia = i - (nd - na)
        ib = i - (nd - nb)
        da = cnp.PyArray_DIMS(a)[ia] if ia >= 0 else 1
        db = cnp.PyArray_DIMS(b)[ib] if ib >= 0 else 1
        sa[i] = ta[ia] if ia >= 0 and da != 1 else 0
        sb[i] = tb[ib] if ib >= 0 and db != 1 else 0
        if da == db or db == 1:
            shape[i] = da
        elif da == 1:
            shape[i] = db
        else:
            raise ValueError(f"{op}: shapes {_sh(a)} and {_sh(b)} cannot be broadcast "
                             f"(dimension {i - nd}: {da} vs {db})")
    ndim[0] = nd
    return 1

def _too_big(str op, shape, itemsize, exc=ValueError):
    """The error for a result that cannot exist (size overflows) or cannot be allocated."""
    n = 1
    for s in shape:
        n *= int(s)
    why = ("is larger than any array that can be allocated" if exc is ValueError
           else "cannot be allocated (out of memory)")
    return exc(f"{op}: the result of shape {tuple(int(s) for s in shape)} ({n} elements, "
               f"{n * itemsize} bytes) {why}")

cdef cnp.ndarray _alloc(str op, int nd, int64_t *shape, int typenum):
    """A dense result array; its size is checked before anything is allocated."""
    cdef cnp.npy_intp dims[FG_MAX_DIMS]
    cdef int i
    cdef double total = 1.0
    for i in range(nd):
        dims[i] = shape[i]
        total *= <double>shape[i]
    if total * 8.0 > 4.6e18:            # 2**62 bytes: beyond any address space
        raise _too_big(op, [shape[i] for i in range(nd)], 8)
    try:
        return cnp.PyArray_EMPTY(nd, dims, typenum, 0)
    except MemoryError:
        raise _too_big(op, [shape[i] for i in range(nd)], 1 if typenum == cnp.NPY_BOOL else
                       (8 if typenum == cnp.NPY_FLOAT64 else 4), MemoryError) from None

cdef cnp.ndarray _binary_like(int op, cnp.ndarray a, cnp.ndarray b, bint cmp):
    """Shared body of binary() and compare(): broadcast, allocate, call the kernel."""
    cdef str name = (CMP_NAMES if cmp else B_NAMES).get(op, "binary")
    cdef int is64 = _is64(a, name)
    if cnp.PyArray_TYPE(b) != cnp.PyArray_TYPE(a):
        raise TypeError(f"{name}: dtypes differ ({a.dtype} and {b.dtype})")
    cdef int nd
    cdef int64_t shape[FG_MAX_DIMS]
    cdef int64_t sa[FG_MAX_DIMS]
    cdef int64_t sb[FG_MAX_DIMS]
    if not _broadcast(name, a, b, &nd, shape, sa, sb):
        return _binary_like(op, np.ascontiguousarray(a), np.ascontiguousarray(b), cmp)
    cdef cnp.ndarray out = _alloc(name, nd, shape, cnp.NPY_BOOL if cmp else cnp.PyArray_TYPE(a))
    cdef int64_t n = cnp.PyArray_SIZE(out)
    cdef void *ap = cnp.PyArray_DATA(a)
    cdef void *bp = cnp.PyArray_DATA(b)
    cdef void *op_ = cnp.PyArray_DATA(out)
    cdef int s
    cdef int nt = NT if n >= NOGIL_MIN else 1
    if n < NOGIL_MIN:      # tiny: releasing the GIL costs more than the kernel
        s = _binary_call(op, cmp, is64, nd, shape, ap, sa, bp, sb, op_, 1)
    else:
        with nogil:
            s = _binary_call(op, cmp, is64, nd, shape, ap, sa, bp, sb, op_, nt)
    if s != FG_OK:
        _chk(s, name)
    return out

cdef inline int _binary_call(int op, bint cmp, int is64, int nd, int64_t *shape, void *ap,
                             int64_t *sa, void *bp, int64_t *sb, void *op_, int nt) noexcept nogil:
    if cmp:
        if is64:
            return fg_compare_f64(op, nd, shape, <double*>ap, sa, <double*>bp, sb, <uint8_t*>op_, nt)
        return fg_compare_f32(op, nd, shape, <float*>ap, sa, <float*>bp, sb, <uint8_t*>op_, nt)
    if is64:
        return fg_binary_f64(op, nd, shape, <double*>ap, sa, <double*>bp, sb, <double*>op_, nt)
    return fg_binary_f32(op, nd, shape, <float*>ap, sa, <float*>bp, sb, <float*>op_, nt)

def binary(int op, cnp.ndarray a, cnp.ndarray b):
    """a op b with NumPy broadcasting; a and b must have the same float dtype."""
    return _binary_like(op, a, b, False)

def compare(int op, cnp.ndarray a, cnp.ndarray b):
    """Elementwise comparison with broadcasting; returns a bool array."""
    return _binary_like(op, a, b, True)

cdef void _align_strides(cnp.ndarray arr, int64_t *src, int64_t *dst, int nd):
    """right-align arr's element strides to nd dims, 0 where broadcast"""
    cdef int i, j, na = cnp.PyArray_NDIM(arr)
    for i in range(nd):
        j = i - (nd - na)
        dst[i] = src[j] if j >= 0 and cnp.PyArray_DIMS(arr)[j] != 1 else 0

def where(cnp.ndarray c, cnp.ndarray a, cnp.ndarray b):
    """c ? a : b with three-way broadcasting; c bool, a and b the same float dtype."""
    cdef int is64 = _is64(a, "where")
    if cnp.PyArray_TYPE(b) != cnp.PyArray_TYPE(a):
        raise TypeError(f"where: dtypes differ ({a.dtype} and {b.dtype})")
    if cnp.PyArray_TYPE(c) != cnp.NPY_BOOL:
        raise TypeError(f"where: condition must be bool, got {c.dtype}")
    cdef int nd
    cdef int64_t sh[FG_MAX_DIMS]
    cdef int64_t sc[FG_MAX_DIMS]
    cdef int64_t sa[FG_MAX_DIMS]
    cdef int64_t sb[FG_MAX_DIMS]
    cdef int64_t tc[FG_MAX_DIMS]
    cdef int64_t ta[FG_MAX_DIMS]
    cdef int64_t tb[FG_MAX_DIMS]
    # shape of the result: broadcast all three (NumPy computes it; cheap and exact)
    try:
        oshape = np.broadcast_shapes(_sh(c), _sh(a), _sh(b))
    except ValueError:
        raise ValueError(f"where: shapes {_sh(c)}, {_sh(a)} and {_sh(b)} "
                         f"cannot be broadcast") from None
    nd = len(oshape)
    if nd > FG_MAX_DIMS:
        raise ValueError(f"where: at most {FG_MAX_DIMS} dimensions are supported")
    if not (_elem_strides(c, tc) and _elem_strides(a, ta) and _elem_strides(b, tb)):
        return where(np.ascontiguousarray(c), np.ascontiguousarray(a), np.ascontiguousarray(b))
    cdef int i
    for i in range(nd):
        sh[i] = oshape[i]
    _align_strides(c, tc, sc, nd)
    _align_strides(a, ta, sa, nd)
    _align_strides(b, tb, sb, nd)
    cdef cnp.ndarray out = _alloc("where", nd, sh, cnp.PyArray_TYPE(a))
    cdef int64_t n = cnp.PyArray_SIZE(out)
    cdef int nt = NT if n >= NOGIL_MIN else 1
    cdef uint8_t *cp = <uint8_t*>cnp.PyArray_DATA(c)
    cdef void *ap = cnp.PyArray_DATA(a)
    cdef void *bp = cnp.PyArray_DATA(b)
    cdef void *op_ = cnp.PyArray_DATA(out)
    cdef int s
    with nogil:
        if is64:
            s = fg_where_f64(nd, sh, cp, sc, <double*>ap, sa, <double*>bp, sb, <double*>op_, nt)
        else:
            s = fg_where_f32(nd, sh, cp, sc, <float*>ap, sa, <float*>bp, sb, <float*>op_, nt)
    _chk(s, "where")
    return out


# ---- reductions ------------------------------------------------------------------------
cdef tuple _reduce_layout(cnp.ndarray x, tuple dims):
    """Map a reduction over `dims` (sorted, unique, non-negative) of x to a dense
    (outer, n, inner) problem.  Returns (dense array, outer, n, inner, kept shape)."""
    cdef int nd = cnp.PyArray_NDIM(x)
    shape = _sh(x)
    if any(not 0 <= d < nd for d in dims) or len(set(dims)) != len(dims) or list(dims) != sorted(dims):
        raise IndexError(f"reduce: dims {dims} must be sorted, unique and in [0, {nd})")
    kept = tuple(shape[d] for d in range(nd) if d not in dims)
    cdef int64_t outer = 1, n = 1, inner = 1
    cdef int d
    adjacent = len(dims) == 0 or dims[-1] - dims[0] == len(dims) - 1
    if adjacent:
        x = _dense(x)
        if len(dims):
            for d in range(dims[0]):
                outer *= shape[d]
            for d in dims:
                n *= shape[d]
            for d in range(dims[-1] + 1, nd):
                inner *= shape[d]
        else:
            for d in range(nd):
                outer *= shape[d]
        return x, outer, n, inner, kept
    perm = [d for d in range(nd) if d not in dims] + list(dims)
    x = copy(x.transpose(perm))
    for d in range(nd):
        if d in dims:
            n *= shape[d]
        else:
            outer *= shape[d]
    return x, outer, n, 1, kept

cdef tuple _reduce_call(int op, cnp.ndarray x, tuple dims, bint want_idx, str name):
    """Shared body of reduce() and argreduce(): layout, allocate, call the kernel."""
    cdef int is64 = _is64(x, name)
    xd, outer_, n_, inner_, kept = _reduce_layout(x, dims)
    cdef cnp.ndarray xc = xd
    cdef int64_t outer = outer_, n = n_, inner = inner_
    if n == 0 and (op == R_MAX or op == R_MIN) and (want_idx or outer * inner > 0):
        raise ValueError(f"{name}: cannot reduce over a zero-size dimension {dims} (input shape {_sh(x)})")
    cdef cnp.ndarray out = np.empty(kept, dtype=(<object>x).dtype)
    cdef cnp.ndarray idx = np.empty(kept, dtype=np.int64) if want_idx else None
    cdef void *xp = cnp.PyArray_DATA(xc)
    cdef void *op_ = cnp.PyArray_DATA(out)
    cdef int64_t *ip = <int64_t*>cnp.PyArray_DATA(idx) if want_idx else NULL
    cdef int s
    cdef int nt = NT if outer * n * inner >= NOGIL_MIN else 1
    with nogil:
        if is64:
            s = fg_reduce_f64(op, outer, n, inner, <double*>xp, <double*>op_, ip, nt)
        else:
            s = fg_reduce_f32(op, outer, n, inner, <float*>xp, <float*>op_, ip, nt)
    _chk(s, name)
    return out, idx

def reduce(int op, cnp.ndarray x, tuple dims):
    """Reduce x over `dims` (sorted, unique, non-negative ints); the reduced dims are
    removed from the result's shape."""
    cdef str name = [k for k, v in R.items() if v == op][0] if 0 <= op < R_COUNT else "reduce"
    return _reduce_call(op, x, dims, False, name)[0]

def argreduce(int op, cnp.ndarray x, int dim):
    """(values, int64 indices) of max/min over one dim (non-negative), dim removed."""
    return _reduce_call(op, x, (dim,), True, "max" if op == R_MAX else "min")


# ---- softmax and cross-entropy ------------------------------------------------------------
cdef inline int _split(cnp.ndarray x, int dim, int64_t *outer, int64_t *n, int64_t *inner) except -1:
    cdef int d, nd = cnp.PyArray_NDIM(x)
    if nd == 0 or dim < 0 or dim >= nd:
        raise IndexError(f"dimension {dim} is out of range for an array with {nd} dimensions")
    outer[0] = 1
    inner[0] = 1
    n[0] = cnp.PyArray_DIMS(x)[dim] if nd else 1
    for d in range(dim):
        outer[0] *= cnp.PyArray_DIMS(x)[d]
    for d in range(dim + 1, nd):
        inner[0] *= cnp.PyArray_DIMS(x)[d]
    return 0

def softmax(cnp.ndarray x, int dim, bint log):
    """softmax (log=False) or log_softmax over dim (non-negative)."""
    cdef str name = "log_softmax" if log else "softmax"
    cdef int is64 = _is64(x, name)
    x = _dense(x)
    cdef int64_t outer, n, inner
    _split(x, dim, &outer, &n, &inner)
    cdef cnp.ndarray y = _empty_like(x)
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *yp = cnp.PyArray_DATA(y)
    cdef int nt = NT if outer * n * inner >= NOGIL_MIN else 1
    cdef int s
    with nogil:
        if is64:
            s = fg_softmax_f64(log, outer, n, inner, <double*>xp, <double*>yp, nt)
        else:
            s = fg_softmax_f32(log, outer, n, inner, <float*>xp, <float*>yp, nt)
    _chk(s, name)
    return y

def softmax_bwd(cnp.ndarray g, cnp.ndarray y, int dim, bint log):
    cdef str name = "log_softmax_backward" if log else "softmax_backward"
    cdef int is64 = _is64(g, name)
    g = _dense(g)
    y = _dense(y)
    if cnp.PyArray_TYPE(y) != cnp.PyArray_TYPE(g) or _sh(g) != _sh(y):
        raise ValueError(f"{name}: grad {_sh(g)} {g.dtype} does not match output {_sh(y)} {y.dtype}")
    cdef int64_t outer, n, inner
    _split(g, dim, &outer, &n, &inner)
    cdef cnp.ndarray gx = _empty_like(g)
    cdef void *gp = cnp.PyArray_DATA(g)
    cdef void *yp = cnp.PyArray_DATA(y)
    cdef void *op_ = cnp.PyArray_DATA(gx)
    cdef int nt = NT if outer * n * inner >= NOGIL_MIN else 1
    cdef int s
    with nogil:
        if is64:
            s = fg_softmax_bwd_f64(log, outer, n, inner, <double*>gp, <double*>yp, <double*>op_, nt)
        else:
            s = fg_softmax_bwd_f32(log, outer, n, inner, <float*>gp, <float*>yp, <float*>op_, nt)
    _chk(s, name)
    return gx

cdef cnp.ndarray _targets(object target, int64_t rows, str name):
    cdef cnp.ndarray t = np.ascontiguousarray(target, dtype=np.int64)
    if t.ndim != 1 or t.shape[0] != rows:
        raise ValueError(f"{name}: expected {rows} targets, got shape {tuple(np.shape(target))}")
    return t

def xent(cnp.ndarray x, target, int64_t ignore_index, double label_smoothing):
    """Per-row softmax cross-entropy of logits x (rows, C) with class-index targets.
    Returns (loss (rows,), log_softmax (rows, C))."""
    cdef int is64 = _is64(x, "cross_entropy")
    x = _dense(x)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"cross_entropy: expected logits of shape (rows, classes >= 1), got {_sh(x)}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    cdef int64_t rows = x.shape[0], c = x.shape[1], bad = -1
    cdef cnp.ndarray t = _targets(target, rows, "cross_entropy")
    cdef cnp.ndarray loss = np.empty(rows, dtype=x.dtype)
    cdef cnp.ndarray lsm = _empty_like(x)
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef int64_t *tp = <int64_t*>cnp.PyArray_DATA(t)
    cdef void *lp = cnp.PyArray_DATA(loss)
    cdef void *sp = cnp.PyArray_DATA(lsm)
    cdef int nt = NT if rows * c >= NOGIL_MIN else 1
    cdef int s
    with nogil:
        if is64:
            s = fg_xent_f64(rows, c, <double*>xp, tp, ignore_index, label_smoothing, <double*>lp, <double*>sp, &bad, nt)
        else:
            s = fg_xent_f32(rows, c, <float*>xp, tp, ignore_index, label_smoothing, <float*>lp, <float*>sp, &bad, nt)
    if s == FG_EINVAL and bad >= 0:
        raise TargetIndexError(f"cross_entropy: target {t[bad]} at position {bad} is out of bounds "
                               f"for {c} classes (valid: 0..{c - 1} or ignore_index={ignore_index})")
    _chk(s, "cross_entropy")
    return loss, lsm

def xent_bwd(cnp.ndarray g, cnp.ndarray lsm, target, int64_t ignore_index, double label_smoothing):
    cdef int is64 = _is64(lsm, "cross_entropy_backward")
    lsm = _dense(lsm)
    g = np.ascontiguousarray(g, dtype=(<object>lsm).dtype)
    if lsm.ndim != 2 or lsm.shape[1] < 1:
        raise ValueError(f"cross_entropy_backward: expected (rows, classes) log-probabilities, got {_sh(lsm)}")
    cdef int64_t rows = lsm.shape[0], c = lsm.shape[1]
    if g.ndim != 1 or g.shape[0] != rows:
        raise ValueError(f"cross_entropy_backward: grad shape {_sh(g)} does not match {rows} rows")
    cdef cnp.ndarray t = _targets(target, rows, "cross_entropy_backward")
    cdef cnp.ndarray gx = _empty_like(lsm)
    cdef void *gp = cnp.PyArray_DATA(g)
    cdef void *sp = cnp.PyArray_DATA(lsm)
    cdef int64_t *tp = <int64_t*>cnp.PyArray_DATA(t)
    cdef void *op_ = cnp.PyArray_DATA(gx)
    cdef int nt = NT if rows * c >= NOGIL_MIN else 1
    cdef int s
    with nogil:
        if is64:
            s = fg_xent_bwd_f64(rows, c, <double*>gp, <double*>sp, tp, ignore_index, label_smoothing, <double*>op_, nt)
        else:
            s = fg_xent_bwd_f32(rows, c, <float*>gp, <float*>sp, tp, ignore_index, label_smoothing, <float*>op_, nt)
    _chk(s, "cross_entropy_backward")
    return gx


# ---- GEMM ---------------------------------------------------------------------------------
cdef int _operand(cnp.ndarray x, int *trans, int64_t *ld) except -1:
    """Layout of the last two dims of x for the GEMM: 1 if usable as is (row-major or
    transposed, any leading dimension), 0 if it must be copied first."""
    cdef int nd = cnp.PyArray_NDIM(x)
    cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(x)
    cdef int64_t r = cnp.PyArray_DIMS(x)[nd - 2], c = cnp.PyArray_DIMS(x)[nd - 1]
    cdef int64_t sr = cnp.PyArray_STRIDES(x)[nd - 2], sc = cnp.PyArray_STRIDES(x)[nd - 1]
    if sr % isz or sc % isz:
        return 0
    sr //= isz
    sc //= isz
    if (sc == 1 or c <= 1) and (sr >= c or r <= 1) and sr >= 0:
        trans[0] = 0
        ld[0] = sr if r > 1 else (c if c > 1 else 1)
        if ld[0] < c: ld[0] = c
        if ld[0] < 1: ld[0] = 1
        return 1
    if (sr == 1 or r <= 1) and (sc >= r or c <= 1) and sc >= 0:
        trans[0] = 1
        ld[0] = sc if c > 1 else (r if r > 1 else 1)
        if ld[0] < r: ld[0] = r
        if ld[0] < 1: ld[0] = 1
        return 1
    return 0

cdef int _gemm_call(int is64, fg_gemm_desc *d, int64_t work) except -1:
    cdef int s
    cdef int nt = NT if work >= 32768 else 1
    with nogil:
        if is64:
            s = fg_gemm_f64(d, nt)
        else:
            s = fg_gemm_f32(d, nt)
    _chk(s, "matmul")
    return 0

def matmul(cnp.ndarray a, cnp.ndarray b, out=None, double beta=0.0):
    """a @ b for arrays with ndim >= 2, batch dims broadcast (torch.matmul semantics for
    that case; 1-D operands are handled by the caller).  With `out` (a C-contiguous
    array of the result's shape and dtype) the product is written there as
    out = a @ b + beta * out, so accumulation (beta=1) allocates nothing."""
    cdef int is64 = _is64(a, "matmul")
    if cnp.PyArray_TYPE(b) != cnp.PyArray_TYPE(a):
        raise TypeError(f"matmul: dtypes differ ({a.dtype} and {b.dtype})")
    cdef int na = cnp.PyArray_NDIM(a), nb = cnp.PyArray_NDIM(b)
    if na < 2 or nb < 2:
        raise ValueError("matmul: the C wrapper needs operands with at least 2 dimensions")
    cdef int64_t m = a.shape[na - 2], k = a.shape[na - 1], k2 = b.shape[nb - 2], n = b.shape[nb - 1]
    if k != k2:
        raise ValueError(f"matmul: cannot multiply shapes {_sh(a)} and {_sh(b)}: {k} != {k2}")
    try:
        bshape = () if na == 2 and nb == 2 else np.broadcast_shapes(_sh(a)[:-2], _sh(b)[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {_sh(a)} and {_sh(b)} cannot be broadcast") from None
    cdef fg_gemm_desc d
    cdef bint fresh = out is None
    cdef double total
    if fresh:                       # the result first: its size is checked before any copy
        total = <double>m * <double>n
        for s in bshape:
            total *= <double>s
        if total * 8.0 > 4.6e18:
            raise _too_big("matmul", bshape + (m, n), 8)
        try:
            out = np.empty(bshape + (m, n), dtype=(<object>a).dtype)
        except MemoryError:
            raise _too_big("matmul", bshape + (m, n), (<object>a).dtype.itemsize, MemoryError) from None
        beta = 0.0
    if not _operand(a, &d.transa, &d.lda):
        a = np.ascontiguousarray(a)
        _operand(a, &d.transa, &d.lda)
    if not _operand(b, &d.transb, &d.ldb):
        b = np.ascontiguousarray(b)
        _operand(b, &d.transb, &d.ldb)
    if fresh:
        pass
    elif (not isinstance(out, np.ndarray) or out.shape != bshape + (m, n) or out.dtype != (<object>a).dtype
          or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError(f"matmul: out must be a writable C-contiguous {(<object>a).dtype} array of shape "
                         f"{bshape + (m, n)}")
    cdef cnp.ndarray o = out
    cdef int64_t batch = 1
    for s in bshape:
        batch *= s
    if batch == 0 or m == 0 or n == 0:
        return out
    d.m = m; d.n = n; d.k = k
    d.alpha = 1.0; d.beta = beta
    d.bias = NULL; d.act = FG_ACT_NONE
    d.ldc = n if n > 0 else 1
    d.c = cnp.PyArray_DATA(o)
    cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(a)
    cdef int nbd = len(bshape)
    if nbd == 0:
        d.a = cnp.PyArray_DATA(a); d.b = cnp.PyArray_DATA(b)
        d.batch = 1; d.stride_a = 0; d.stride_b = 0; d.stride_c = 0
        _gemm_call(is64, &d, m * n * k)
        return out
    # batch strides (elements; 0 where broadcast), one gemm call per leading index when
    # the batch dims do not collapse to one
    bsa = [0] * nbd
    bsb = [0] * nbd
    for i in range(nbd):
        ia = i - (nbd - (na - 2))
        ib = i - (nbd - (nb - 2))
        if ia >= 0 and a.shape[ia] != 1:
            if cnp.PyArray_STRIDES(a)[ia] % isz:
                a = np.ascontiguousarray(a)
                return matmul(a, b, out, beta)
            bsa[i] = cnp.PyArray_STRIDES(a)[ia] // isz
        if ib >= 0 and b.shape[ib] != 1:
            if cnp.PyArray_STRIDES(b)[ib] % isz:
                b = np.ascontiguousarray(b)
                return matmul(a, b, out, beta)
            bsb[i] = cnp.PyArray_STRIDES(b)[ib] // isz
    bsc = [0] * nbd
    acc = m * n
    for i in range(nbd - 1, -1, -1):
        bsc[i] = acc
        acc *= bshape[i]
    # collapse trailing batch dims that are contiguous for a, b and c alike
    j = nbd - 1
    inner_batch = bshape[j]
    while j > 0 and all(bs[j - 1] == bs[j] * bshape[j] for bs in (bsa, bsb, bsc)):
        j -= 1
        inner_batch *= bshape[j]
    d.batch = inner_batch
    d.stride_a = bsa[nbd - 1]; d.stride_b = bsb[nbd - 1]; d.stride_c = bsc[nbd - 1]
    cdef char *a0 = <char*>cnp.PyArray_DATA(a)
    cdef char *b0 = <char*>cnp.PyArray_DATA(b)
    cdef char *c0 = <char*>cnp.PyArray_DATA(o)
    for idx in np.ndindex(*bshape[:j]):
        offa = sum(ii * s for ii, s in zip(idx, bsa))
        offb = sum(ii * s for ii, s in zip(idx, bsb))
        offc = sum(ii * s for ii, s in zip(idx, bsc))
        d.a = a0 + <int64_t>offa * isz
        d.b = b0 + <int64_t>offb * isz
        d.c = c0 + <int64_t>offc * isz
        _gemm_call(is64, &d, inner_batch * m * n * k)
    return out

def linear(cnp.ndarray x, cnp.ndarray w, bias, str act=None):
    """act(x @ w.T + bias) for x (rows, in), w (out, in), bias (out,) or None, in one
    GEMM with the bias and activation fused into its epilogue."""
    cdef int is64 = _is64(x, "linear")
    if cnp.PyArray_TYPE(w) != cnp.PyArray_TYPE(x):
        raise TypeError(f"linear: dtypes differ (input {x.dtype}, weight {w.dtype})")
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"linear: input {_sh(x)} and weight {_sh(w)} do not match "
                         f"(expected input (N, {_sh(w)[1] if w.ndim == 2 else '?'}))")
    cdef fg_gemm_desc d
    cdef cnp.ndarray bb
    d.bias = NULL
    if bias is not None:
        bb = np.ascontiguousarray(bias)
        if cnp.PyArray_TYPE(bb) != cnp.PyArray_TYPE(x) or bb.ndim != 1 or bb.shape[0] != w.shape[0]:
            raise ValueError(f"linear: bias {_sh(bb)} {bb.dtype} does not match weight {_sh(w)}")
        d.bias = cnp.PyArray_DATA(bb)
    if act not in ACT:
        raise ValueError(f"linear: unknown activation {act!r}")
    d.act = ACT[act]
    if not _operand(x, &d.transa, &d.lda):
        x = np.ascontiguousarray(x)
        _operand(x, &d.transa, &d.lda)
    cdef int tw
    if not _operand(w, &tw, &d.ldb):
        w = np.ascontiguousarray(w)
        _operand(w, &tw, &d.ldb)
    d.transb = 1 - tw                 # we need op(B) = w^T
    cdef int64_t m = x.shape[0], k = x.shape[1], n = w.shape[0]
    out = np.empty((m, n), dtype=x.dtype)
    if m == 0 or n == 0:
        return out
    cdef cnp.ndarray o = out
    d.m = m; d.n = n; d.k = k
    d.alpha = 1.0; d.beta = 0.0
    d.a = cnp.PyArray_DATA(x); d.b = cnp.PyArray_DATA(w)
    d.c = cnp.PyArray_DATA(o); d.ldc = n
    d.batch = 1; d.stride_a = 0; d.stride_b = 0; d.stride_c = 0
    _gemm_call(is64, &d, m * n * k)
    return out

include "_optim.pxi"
include "_index.pxi"
include "_scan_sort.pxi"
include "_plan.pxi"
include "_conv.pxi"
