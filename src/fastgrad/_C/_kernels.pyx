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

from fastgrad.errors import IndexOutOfRangeError, ShapeError
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

cdef inline cnp.ndarray _empty_like(cnp.ndarray x, str op):
    """A dense native-endian array of x's shape and dtype; a failed allocation is a
    MemoryError naming the op, the shape and the bytes."""
    try:
        return _new_dense(cnp.PyArray_NDIM(x), cnp.PyArray_DIMS(x), cnp.PyArray_TYPE(x),
                          <size_t>cnp.PyArray_ITEMSIZE(x))
    except MemoryError:
        raise _too_big(op, _sh(x), cnp.PyArray_ITEMSIZE(x), MemoryError) from None

# ---- the operand path ----------------------------------------------------------------
# Every array a kernel reads or writes passes through _arr (or _dense, its dense form).
# It accepts any layout NumPy can produce -- any strides (0, negative, huge, not a
# multiple of the item size), unaligned data, structured-array fields, byte-swapped
# dtypes, read-only and F-order arrays -- and copies only when the kernel cannot read the
# array as it is.  The layout test reads the strides itself (NumPy's contiguity flags
# ignore the stride of a size-1 dimension and call a one-element packed field
# contiguous), and the copy is a fresh C-ordered native-endian allocation, which always
# passes the test: there is no second attempt and no recursion.
cdef inline int _align_of(cnp.npy_intp isz) noexcept:
    return <int>isz if isz == 1 or isz == 2 or isz == 4 or isz == 8 else (8 if isz == 16 else 1)

cdef int _layout_ok(cnp.ndarray x, bint dense) noexcept:
    """1 if a kernel can read x in place: native byte order, aligned data, every stride
    of a dimension longer than 1 a multiple of the alignment and, for dense, C order."""
    cdef int d, nd = cnp.PyArray_NDIM(x)
    cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(x), expect = cnp.PyArray_ITEMSIZE(x)
    cdef cnp.npy_intp al = _align_of(isz)
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(x)
    cdef cnp.npy_intp *bs = cnp.PyArray_STRIDES(x)
    if not cnp.PyArray_ISNOTSWAPPED(x):
        return 0
    # the common case, from NumPy's flags alone: aligned (data and the strides of every
    # dimension longer than 1: the kernels' element types are aligned to their size) and,
    # for dense, C order (the strides of size-1 dimensions, which both flags ignore, are
    # never read: _elem_strides gives them 0)
    if cnp.PyArray_CHKFLAGS(x, cnp.NPY_ARRAY_ALIGNED) and (
            not dense or cnp.PyArray_CHKFLAGS(x, cnp.NPY_ARRAY_C_CONTIGUOUS)):
        return 1
    if cnp.PyArray_SIZE(x) == 0:
        return 1
    if (<size_t>cnp.PyArray_DATA(x)) % <size_t>al:
        return 0
    for d in range(nd - 1, -1, -1):
        if dims[d] == 1:
            continue
        if bs[d] % al:
            return 0
        if dense:
            if bs[d] != expect:
                return 0
            expect *= dims[d]
    return 1

cdef cnp.ndarray _arr(object x, str op, bint dense):
    """x as an array a kernel can read in place (dense: C-contiguous), copying only when
    its layout requires it.  Allocation failures are MemoryErrors naming the op."""
    cdef cnp.ndarray a = x if isinstance(x, cnp.ndarray) else np.asarray(x)
    if _layout_ok(a, dense):
        return a
    dt = (<object>a).dtype
    try:
        a = np.array(a, dtype=dt.newbyteorder("=") if dt.byteorder not in "=|" else dt,
                     order="C", copy=True)
    except MemoryError:
        raise _too_big(op, _sh(a), dt.itemsize, MemoryError) from None
    if not _layout_ok(a, True):
        raise SystemError(f"{op}: a fresh copy of an operand of shape {_sh(a)} {dt} is not "
                          f"dense and aligned")
    return a

cdef inline cnp.ndarray _dense(object x, str op):
    return _arr(x, op, True)

cdef inline int _elem_strides(cnp.ndarray x, int64_t *st) except -1:
    """element strides of x (an array that passed _layout_ok); 0 for a dimension of
    length 1 (its stride is never used, and may be any value)"""
    cdef int d, nd = cnp.PyArray_NDIM(x)
    cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(x)
    cdef cnp.npy_intp *bs = cnp.PyArray_STRIDES(x)
    cdef bint empty = cnp.PyArray_SIZE(x) == 0
    for d in range(nd):
        if empty or cnp.PyArray_DIMS(x)[d] == 1:
            st[d] = 0
        elif bs[d] % isz != 0:
            raise SystemError("operand strides are not a multiple of the item size")
        else:
            st[d] = bs[d] // isz
    return 1

def copy(x):
    """Dense (C-contiguous) copy of a float array view, by the strided C kernel."""
    cdef cnp.ndarray xa = _arr(x, "copy", False)
    cdef int is64 = _is64(xa, "copy")
    cdef int nd = cnp.PyArray_NDIM(xa)
    cdef int64_t shape[FG_MAX_DIMS]
    cdef int64_t st[FG_MAX_DIMS]
    cdef int d, s
    if nd > FG_MAX_DIMS:
        return _arr(np.array(xa, order="C", copy=True), "copy", True)
    if xa is not x:                  # _arr copied it already
        return xa
    _elem_strides(xa, st)
    for d in range(nd):
        shape[d] = cnp.PyArray_DIMS(xa)[d]
    cdef cnp.ndarray out = _alloc("copy", nd, shape, cnp.PyArray_TYPE(xa))
    cdef void *xp = cnp.PyArray_DATA(xa)
    cdef void *op = cnp.PyArray_DATA(out)
    cdef int64_t n = cnp.PyArray_SIZE(xa)
    with nogil:
        if is64:
            s = fg_copy_f64(nd, shape, <double*>xp, st, <double*>op, NT if n >= NOGIL_MIN else 1)
        else:
            s = fg_copy_f32(nd, shape, <float*>xp, st, <float*>op, NT if n >= NOGIL_MIN else 1)
    _chk(s, "copy")
    return out

def contiguous(x):
    """x itself if a kernel can read it densely, else a dense native-endian copy."""
    cdef cnp.ndarray a = x if isinstance(x, cnp.ndarray) else np.asarray(x)
    if _layout_ok(a, True):
        return a
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32 or cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT64:
        return copy(a)
    return _arr(a, "contiguous", True)


# ---- elementwise -----------------------------------------------------------------------
def unary(int op, cnp.ndarray x, double alpha=0.0, double beta=0.0):
    """y = f_op(x) for a float array; returns a new dense array of the same shape."""
    cdef str name = U_NAMES.get(op, "unary")
    cdef int is64 = _is64(x, name)
    x = _dense(x, name)
    cdef cnp.ndarray y = _empty_like(x, name)
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
        _chk(s, name)
    return y

def unary_bwd(int op, cnp.ndarray g, x, y, double alpha=0.0, double beta=0.0):
    """gx = g * f_op'(.), reading the saved input x or output y (whichever the op uses)."""
    cdef str name = U_NAMES.get(op, "unary") + "_backward"
    cdef int is64 = _is64(g, name)
    g = _dense(g, name)
    cdef cnp.ndarray xa, ya
    cdef void *xp = NULL
    cdef void *yp = NULL
    cdef int64_t n = cnp.PyArray_SIZE(g)
    if x is not None:
        xa = _dense(x, name)
        if cnp.PyArray_TYPE(xa) != cnp.PyArray_TYPE(g) or cnp.PyArray_SIZE(xa) != n:
            raise ValueError(f"{name}: saved input {_sh(xa)} {xa.dtype} does not match grad {_sh(g)} {g.dtype}")
        xp = cnp.PyArray_DATA(xa)
    if y is not None:
        ya = _dense(y, name)
        if cnp.PyArray_TYPE(ya) != cnp.PyArray_TYPE(g) or cnp.PyArray_SIZE(ya) != n:
            raise ValueError(f"{name}: saved output {_sh(ya)} {ya.dtype} does not match grad {_sh(g)} {g.dtype}")
        yp = cnp.PyArray_DATA(ya)
    cdef cnp.ndarray gx = _empty_like(g, name)
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
    _elem_strides(a, ta)
    _elem_strides(b, tb)
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
            raise ShapeError(f"{op}: shapes {_sh(a)} and {_sh(b)} cannot be broadcast "
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

cdef cnp.ndarray _empty_checked(str op, shape, dtype):
    """np.empty(shape, dtype), dense and native-endian, with the size checked first: an
    impossible size is a ValueError and an allocation failure a MemoryError, both naming
    the op, the shape and the bytes.  Every result array of the wrappers comes from here,
    _alloc or _empty_like (large ones from the block cache, _memory.pxi)."""
    cdef double total = 8.0
    cdef cnp.npy_intp dims[FG_MAX_DIMS]
    cdef int nd = len(shape), i
    for d in shape:
        total *= <double>d
    if total > 4.6e18:                  # 2**62 bytes: beyond any address space
        raise _too_big(op, shape, 8)
    cdef cnp.dtype dt = (cnp.PyArray_DescrFromType(dtype) if isinstance(dtype, int)
                         else np.dtype(dtype))
    try:
        if CACHE_ON and nd <= FG_MAX_DIMS and total >= <double>FG_CACHE_MIN_BYTES / 8.0 \
                and cnp.PyDataType_ISNOTSWAPPED(dt):
            for i in range(nd):
                dims[i] = shape[i]
            a = _cache_empty(nd, dims, dt.type_num, <size_t>(total / 8.0) * <size_t>dt.itemsize)
            if a is not None:
                return a
        return np.empty(shape, dtype=dt)
    except MemoryError:
        raise _too_big(op, shape, dt.itemsize, MemoryError) from None

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
        return _new_dense(nd, dims, typenum, <size_t>cnp.PyArray_DescrFromType(typenum).itemsize)
    except MemoryError:
        raise _too_big(op, [shape[i] for i in range(nd)], 1 if typenum == cnp.NPY_BOOL else
                       (8 if typenum == cnp.NPY_FLOAT64 else 4), MemoryError) from None

cdef cnp.ndarray _binary_like(int op, cnp.ndarray a, cnp.ndarray b, bint cmp):
    """Shared body of binary() and compare(): broadcast, allocate, call the kernel."""
    cdef str name = (CMP_NAMES if cmp else B_NAMES).get(op, "binary")
    cdef int is64 = _is64(a, name)
    a = _arr(a, name, False)
    b = _arr(b, name, False)
    if cnp.PyArray_TYPE(b) != cnp.PyArray_TYPE(a):
        raise TypeError(f"{name}: dtypes differ ({a.dtype} and {b.dtype})")
    cdef int nd
    cdef int64_t shape[FG_MAX_DIMS]
    cdef int64_t sa[FG_MAX_DIMS]
    cdef int64_t sb[FG_MAX_DIMS]
    _broadcast(name, a, b, &nd, shape, sa, sb)
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
    c = _arr(c, "where", False)
    a = _arr(a, "where", False)
    b = _arr(b, "where", False)
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
        raise ShapeError(f"where: shapes {_sh(c)}, {_sh(a)} and {_sh(b)} "
                         f"cannot be broadcast") from None
    nd = len(oshape)
    if nd > FG_MAX_DIMS:
        raise ValueError(f"where: at most {FG_MAX_DIMS} dimensions are supported")
    _elem_strides(c, tc)
    _elem_strides(a, ta)
    _elem_strides(b, tb)
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
cdef tuple _reduce_layout(cnp.ndarray x, tuple dims, str name):
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
        x = _dense(x, name)
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
    x = copy(_arr(x, name, False).transpose(perm))
    for d in range(nd):
        if d in dims:
            n *= shape[d]
        else:
            outer *= shape[d]
    return x, outer, n, 1, kept

cdef tuple _reduce_call(int op, cnp.ndarray x, tuple dims, bint want_idx, str name):
    """Shared body of reduce() and argreduce(): layout, allocate, call the kernel."""
    cdef int is64 = _is64(x, name)
    xd, outer_, n_, inner_, kept = _reduce_layout(x, dims, name)
    cdef cnp.ndarray xc = xd
    cdef int64_t outer = outer_, n = n_, inner = inner_
    if n == 0 and (op == R_MAX or op == R_MIN) and (want_idx or outer * inner > 0):
        raise ValueError(f"{name}: cannot reduce over a zero-size dimension {dims} (input shape {_sh(x)})")
    cdef cnp.ndarray out = _empty_checked(name, kept, cnp.PyArray_TYPE(xc))
    cdef cnp.ndarray idx = _empty_checked(name, kept, cnp.NPY_INT64) if want_idx else None
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
            s = fg_softmax_f64(log, outer, n, inner, <double*>xp, <double*>yp, nt)
        else:
            s = fg_softmax_f32(log, outer, n, inner, <float*>xp, <float*>yp, nt)
    _chk(s, name)
    return y

def softmax_bwd(cnp.ndarray g, cnp.ndarray y, int dim, bint log):
    cdef str name = "log_softmax_backward" if log else "softmax_backward"
    cdef int is64 = _is64(g, name)
    g = _dense(g, name)
    y = _dense(y, name)
    if cnp.PyArray_TYPE(y) != cnp.PyArray_TYPE(g) or _sh(g) != _sh(y):
        raise ValueError(f"{name}: grad {_sh(g)} {g.dtype} does not match output {_sh(y)} {y.dtype}")
    cdef int64_t outer, n, inner
    _split(g, dim, &outer, &n, &inner)
    cdef cnp.ndarray gx = _empty_like(g, name)
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
    cdef cnp.ndarray t = _arr(np.asarray(target, dtype=np.int64), name, True)
    if t.ndim != 1 or t.shape[0] != rows:
        raise ValueError(f"{name}: expected {rows} targets, got shape {tuple(np.shape(target))}")
    return t

def xent(cnp.ndarray x, target, int64_t ignore_index, double label_smoothing):
    """Per-row softmax cross-entropy of logits x (rows, C) with class-index targets.
    Returns (loss (rows,), log_softmax (rows, C))."""
    cdef int is64 = _is64(x, "cross_entropy")
    x = _dense(x, "cross_entropy")
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"cross_entropy: expected logits of shape (rows, classes >= 1), got {_sh(x)}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    cdef int64_t rows = x.shape[0], c = x.shape[1], bad = -1
    cdef cnp.ndarray t = _targets(target, rows, "cross_entropy")
    cdef cnp.ndarray loss = _empty_checked("cross_entropy", (rows,), cnp.PyArray_TYPE(x))
    cdef cnp.ndarray lsm = _empty_like(x, "cross_entropy")
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
    lsm = _dense(lsm, "cross_entropy_backward")
    g = _dense(np.asarray(g, dtype=(<object>lsm).dtype), "cross_entropy_backward")
    if lsm.ndim != 2 or lsm.shape[1] < 1:
        raise ValueError(f"cross_entropy_backward: expected (rows, classes) log-probabilities, got {_sh(lsm)}")
    cdef int64_t rows = lsm.shape[0], c = lsm.shape[1]
    if g.ndim != 1 or g.shape[0] != rows:
        raise ValueError(f"cross_entropy_backward: grad shape {_sh(g)} does not match {rows} rows")
    cdef cnp.ndarray t = _targets(target, rows, "cross_entropy_backward")
    cdef cnp.ndarray gx = _empty_like(lsm, "cross_entropy_backward")
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
    """Layout of the last two dims of x (an array that passed _layout_ok) for the GEMM:
    1 if usable as is (row-major or transposed, any leading dimension; the stride of a
    dimension of length 1 is never read), 0 if it must be copied first."""
    cdef int nd = cnp.PyArray_NDIM(x)
    cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(x)
    cdef int64_t r = cnp.PyArray_DIMS(x)[nd - 2], c = cnp.PyArray_DIMS(x)[nd - 1]
    cdef int64_t sr = cnp.PyArray_STRIDES(x)[nd - 2], sc = cnp.PyArray_STRIDES(x)[nd - 1]
    cdef int64_t r1 = r if r > 1 else 1, c1 = c if c > 1 else 1
    if cnp.PyArray_SIZE(x) == 0:     # nothing is read: any leading dimension >= 1 will do
        trans[0] = 0
        ld[0] = c1
        return 1
    if (r > 1 and sr % isz) or (c > 1 and sc % isz):
        return 0
    sr //= isz
    sc //= isz
    if (c <= 1 or sc == 1) and (r <= 1 or sr >= c1):
        trans[0] = 0
        ld[0] = sr if r > 1 else c1
        return 1
    if (r <= 1 or sr == 1) and (c <= 1 or sc >= r1):
        trans[0] = 1
        ld[0] = sc if c > 1 else r1
        return 1
    return 0

cdef cnp.ndarray _gemm_operand(object x, str op, int *trans, int64_t *ld):
    """x normalised for the GEMM, its transpose flag and leading dimension set: used in
    place when _operand accepts it, else one dense copy (which it always accepts)."""
    cdef cnp.ndarray a = _arr(x, op, False)
    if _operand(a, trans, ld):
        return a
    a = _arr(np.array(a, order="C", copy=True), op, True)
    if not _operand(a, trans, ld):
        raise SystemError(f"{op}: a dense copy of an operand of shape {_sh(a)} was refused by the GEMM")
    return a

cdef int _gemm_call(int is64, fg_gemm_desc *d, int64_t work, str op="matmul") except -1:
    cdef int s
    cdef int nt = NT if work >= 32768 else 1
    if work < NOGIL_MIN:            # a few microseconds at most: not worth releasing the GIL
        s = fg_gemm_f64(d, 1) if is64 else fg_gemm_f32(d, 1)
    else:
        with nogil:
            if is64:
                s = fg_gemm_f64(d, nt)
            else:
                s = fg_gemm_f32(d, nt)
    _chk(s, op)
    return 0

def mm2d(object x, object y):
    """x @ y for two 2-D float32 or float64 arrays of one dtype with matching inner
    dimensions, read in place when the GEMM can (row-major or transposed, any leading
    dimension, aligned, native byte order); None when any of that does not hold, so the
    caller takes the general path (which also reports the errors).  Every check reads the
    arrays' C fields: no shape tuples or dtype objects are made."""
    if type(x) is not np.ndarray or type(y) is not np.ndarray:
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x, b = <cnp.ndarray>y
    if cnp.PyArray_NDIM(a) != 2 or cnp.PyArray_NDIM(b) != 2:
        return None
    cdef int t = cnp.PyArray_TYPE(a)
    if (t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64) or cnp.PyArray_TYPE(b) != t:
        return None
    cdef cnp.npy_intp *da = cnp.PyArray_DIMS(a)
    cdef cnp.npy_intp *db = cnp.PyArray_DIMS(b)
    if da[1] != db[0] or not _layout_ok(a, False) or not _layout_ok(b, False):
        return None
    cdef fg_gemm_desc d
    if not _operand(a, &d.transa, &d.lda) or not _operand(b, &d.transb, &d.ldb):
        return None
    cdef cnp.npy_intp dims[2]
    dims[0] = da[0]
    dims[1] = db[1]
    cdef cnp.ndarray o = _new_dense(2, dims, t, 8 if t == cnp.NPY_FLOAT64 else 4)
    if dims[0] == 0 or dims[1] == 0:
        return o
    d.m = da[0]; d.n = db[1]; d.k = da[1]
    d.alpha = 1.0; d.beta = 0.0
    d.bias = NULL; d.act = FG_ACT_NONE
    d.ldc = d.n
    d.a = cnp.PyArray_DATA(a); d.b = cnp.PyArray_DATA(b); d.c = cnp.PyArray_DATA(o)
    d.batch = 1; d.stride_a = 0; d.stride_b = 0; d.stride_c = 0
    _gemm_call(t == cnp.NPY_FLOAT64, &d, d.m * d.n * d.k)
    return o

def matmul(cnp.ndarray a, cnp.ndarray b, out=None, double beta=0.0):
    """a @ b for arrays with ndim >= 2, batch dims broadcast (torch.matmul semantics for
    that case; 1-D operands are handled by the caller).  With `out` (a C-contiguous
    array of the result's shape and dtype) the product is written there as
    out = a @ b + beta * out, so accumulation (beta=1) allocates nothing.  An `out` that
    shares memory with an operand gets the same answer: the product is computed into a
    temporary first."""
    cdef int is64 = _is64(a, "matmul")
    if cnp.PyArray_TYPE(b) != cnp.PyArray_TYPE(a):
        raise TypeError(f"matmul: dtypes differ ({a.dtype} and {b.dtype})")
    cdef int na = cnp.PyArray_NDIM(a), nb = cnp.PyArray_NDIM(b)
    if na < 2 or nb < 2:
        raise ValueError("matmul: the C wrapper needs operands with at least 2 dimensions")
    cdef int64_t m = a.shape[na - 2], k = a.shape[na - 1], k2 = b.shape[nb - 2], n = b.shape[nb - 1]
    if k != k2:
        raise ShapeError(f"matmul: cannot multiply shapes {_sh(a)} and {_sh(b)}: {k} != {k2}")
    try:
        bshape = () if na == 2 and nb == 2 else np.broadcast_shapes(_sh(a)[:-2], _sh(b)[:-2])
    except ValueError:
        raise ShapeError(f"matmul: batch dimensions of {_sh(a)} and {_sh(b)} cannot be broadcast") from None
    cdef fg_gemm_desc d
    cdef bint fresh = out is None
    if fresh:                       # the result first: its size is checked before any copy
        out = _empty_checked("matmul", bshape + (m, n), cnp.PyArray_TYPE(a))
        beta = 0.0
    elif (not isinstance(out, np.ndarray) or out.shape != bshape + (m, n)
          or cnp.PyArray_TYPE(out) != cnp.PyArray_TYPE(a) or not _layout_ok(out, True)
          or not out.flags.writeable):
        raise ValueError(f"matmul: out must be a writable C-contiguous native-endian "
                         f"{(<object>a).dtype.newbyteorder('=')} array of shape {bshape + (m, n)}")
    elif np.may_share_memory(out, a) or np.may_share_memory(out, b):
        prod = matmul(a, b)
        if beta == 0.0:
            out[...] = prod
        else:
            out *= beta
            out += prod
        return out
    a = _gemm_operand(a, "matmul", &d.transa, &d.lda)
    b = _gemm_operand(b, "matmul", &d.transb, &d.ldb)
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
    # batch strides (elements; 0 where broadcast or of length 1), one gemm call per
    # leading index when the batch dims do not collapse to one
    cdef int64_t ea[FG_MAX_DIMS]
    cdef int64_t eb[FG_MAX_DIMS]
    if na > FG_MAX_DIMS or nb > FG_MAX_DIMS:
        raise ValueError(f"matmul: at most {FG_MAX_DIMS} dimensions are supported, got "
                         f"{_sh(a)} and {_sh(b)}")
    _elem_strides(a, ea)
    _elem_strides(b, eb)
    bsa = [0] * nbd
    bsb = [0] * nbd
    for i in range(nbd):
        ia = i - (nbd - (na - 2))
        ib = i - (nbd - (nb - 2))
        if ia >= 0:
            bsa[i] = ea[ia]
        if ib >= 0:
            bsb[i] = eb[ib]
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
        raise ShapeError(f"linear: input {_sh(x)} and weight {_sh(w)} do not match "
                         f"(expected input (N, {_sh(w)[1] if w.ndim == 2 else '?'}))")
    cdef fg_gemm_desc d
    cdef cnp.ndarray bb
    d.bias = NULL
    if bias is not None:
        bb = _dense(bias, "linear")
        if cnp.PyArray_TYPE(bb) != cnp.PyArray_TYPE(x) or bb.ndim != 1 or bb.shape[0] != w.shape[0]:
            raise ValueError(f"linear: bias {_sh(bb)} {bb.dtype} does not match weight {_sh(w)}")
        d.bias = cnp.PyArray_DATA(bb)
    if act not in ACT:
        raise ValueError(f"linear: unknown activation {act!r}")
    d.act = ACT[act]
    cdef int64_t m = x.shape[0], k = x.shape[1], n = w.shape[0]
    cdef cnp.ndarray o = _empty_checked("linear", (m, n), cnp.PyArray_TYPE(x))
    x = _gemm_operand(x, "linear", &d.transa, &d.lda)
    cdef int tw
    w = _gemm_operand(w, "linear", &tw, &d.ldb)
    d.transb = 1 - tw                 # we need op(B) = w^T
    if m == 0 or n == 0:
        return o
    d.m = m; d.n = n; d.k = k
    d.alpha = 1.0; d.beta = 0.0
    d.a = cnp.PyArray_DATA(x); d.b = cnp.PyArray_DATA(w)
    d.c = cnp.PyArray_DATA(o); d.ldc = n
    d.batch = 1; d.stride_a = 0; d.stride_b = 0; d.stride_c = 0
    _gemm_call(is64, &d, m * n * k, "linear")
    return o

include "_optim.pxi"
include "_index.pxi"
include "_scan_sort.pxi"
include "_plan.pxi"
include "_conv.pxi"
include "_memory.pxi"
include "_rnn.pxi"
include "_attention.pxi"
