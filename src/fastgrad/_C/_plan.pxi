# Compiled-step plans (csrc/plan.h), included by _kernels.pyx; built by fastgrad.compile.
#
# A Plan owns a C array of step descriptors and the table of operand bases (base 0 is
# the arena of intermediates; the others are parameters, gradients, optimizer state,
# constants, and input slots filled at each run).  run() checks the inputs (dtype,
# shape, C-contiguity), points their bases at the new arrays (no copy) and executes all
# steps in one C call with the GIL released.
from libc.stdlib cimport calloc
from cpython.pycapsule cimport PyCapsule_GetPointer
from cpython.dict cimport PyDict_GetItem, PyDict_Next, PyDict_Size
from cpython.ref cimport PyObject
from numpy.lib.array_utils import byte_bounds

cdef extern from "plan.h" nogil:
    enum:
        FG_P_UNARY, FG_P_UNARY_BWD, FG_P_BINARY, FG_P_REDUCE, FG_P_COPY, FG_P_FILL,
        FG_P_SOFTMAX, FG_P_SOFTMAX_BWD, FG_P_XENT, FG_P_XENT_BWD, FG_P_XENT_RED,
        FG_P_XENT_RED_BWD, FG_P_GEMM, FG_P_OPTIM, FG_P_CONV, FG_P_CONV_BWD, FG_P_POOL,
        FG_P_POOL_BWD, FG_P_BN_STATS, FG_P_BN_APPLY, FG_P_BN_BWD, FG_P_BN_PREP,
        FG_P_BN_RUNNING, FG_P_ROWNORM, FG_P_ROWNORM_BWD, FG_P_COUNTER, FG_P_CLIP, FG_P_DROPOUT,
        FG_P_INDEX_SELECT, FG_P_INDEX_ADD, FG_P_COUNT, FG_P_MAXOPS,
        FG_P_COMPARE, FG_P_WHERE, FG_P_GATHER, FG_P_SCATTER_ADD, FG_P_COPY_TO,
        FG_P_RNN, FG_P_RNN_BWD
    enum:
        FG_P_SDPA, FG_P_SDPA_BWD
    enum:
        FG_P_ARGREDUCE, FG_P_SCAN, FG_P_PROD, FG_P_SORT, FG_P_NLL_PREP
    int fg_nll_prep(int is64, int64_t n, int64_t c, int64_t ignore, const int64_t *t,
                    int64_t *safe, void *keepf, uint8_t *keepb, void *count, int64_t *bad)
    ctypedef struct fg_bitgen:
        pass
    ctypedef struct fg_plan_step:
        int kind, op, is64, par, ndim
        int64_t n[4]
        double s[4]
        int in_base[5]
        int out_base[5]
        int64_t in_off[5]
        int64_t out_off[5]
        int64_t shape[16]
        int64_t sa[16]
        int64_t sb[16]
        fg_gemm_desc gemm
        int alg
        fg_optim_hyper hyper
        int64_t ntensors
        const int64_t *numel
        void **param
        const void **grad
        void **state
        double **step
        fg_bitgen *rng
        int64_t sc[16]
    int fg_plan_run(fg_plan_step *steps, int64_t nsteps, char **bases, int nbases,
                    int nthreads, int64_t *failed, int64_t *info)
    int fg_plan_check(const fg_plan_step *steps, int64_t nsteps, int nbases, int64_t *failed)
    float fg_pairwise_sum_f32(const float *a, int64_t n)
    double fg_pairwise_sum_f64(const double *a, int64_t n)

PLAN_KINDS = {"unary": FG_P_UNARY, "unary_bwd": FG_P_UNARY_BWD, "binary": FG_P_BINARY,
              "reduce": FG_P_REDUCE, "copy": FG_P_COPY, "fill": FG_P_FILL,
              "softmax": FG_P_SOFTMAX, "softmax_bwd": FG_P_SOFTMAX_BWD, "xent": FG_P_XENT,
              "xent_bwd": FG_P_XENT_BWD, "xent_red": FG_P_XENT_RED,
              "xent_red_bwd": FG_P_XENT_RED_BWD, "gemm": FG_P_GEMM, "optim": FG_P_OPTIM,
              "conv": FG_P_CONV, "conv_bwd": FG_P_CONV_BWD, "pool": FG_P_POOL,
              "pool_bwd": FG_P_POOL_BWD, "bn_stats": FG_P_BN_STATS, "bn_apply": FG_P_BN_APPLY,
              "bn_bwd": FG_P_BN_BWD, "bn_prep": FG_P_BN_PREP, "bn_running": FG_P_BN_RUNNING,
              "rownorm": FG_P_ROWNORM, "rownorm_bwd": FG_P_ROWNORM_BWD,
              "counter": FG_P_COUNTER, "clip": FG_P_CLIP, "dropout": FG_P_DROPOUT,
              "index_select": FG_P_INDEX_SELECT, "index_add": FG_P_INDEX_ADD,
              "rnn": FG_P_RNN, "rnn_bwd": FG_P_RNN_BWD,
              "compare": FG_P_COMPARE, "where": FG_P_WHERE, "gather": FG_P_GATHER,
              "scatter_add": FG_P_SCATTER_ADD, "copy_to": FG_P_COPY_TO}
PLAN_KINDS.update({"sdpa": FG_P_SDPA, "sdpa_bwd": FG_P_SDPA_BWD})
PLAN_KINDS.update({"argreduce": FG_P_ARGREDUCE, "scan": FG_P_SCAN, "prod": FG_P_PROD,
                   "sort": FG_P_SORT, "nll_prep": FG_P_NLL_PREP})


def nll_prep(cnp.ndarray t, int64_t c, int64_t ignore_index, dtype, str op="nll_loss"):
    """nll_loss's target bookkeeping for the int64 targets t (n,) of c classes: (safe,
    keep, keep_bool, count) with keep = t != ignore_index, safe = where(keep, t, 0)
    (int64), keep as `dtype` (float32/float64) and as bool, and the number kept as a 0-d
    `dtype` array (NaN when none).  A kept target outside [0, c) raises
    TargetIndexError."""
    dt = np.dtype(dtype)
    if dt != np.float32 and dt != np.float64:
        raise TypeError(f"{op}: nll_prep computes float32 or float64 weights, not {dt}")
    if t.dtype != np.int64 or t.ndim != 1 or not t.flags.c_contiguous:
        raise ValueError(f"{op}: targets must be a contiguous 1-d int64 array, got {t.dtype} {_sh(t)}")
    cdef int64_t n = t.shape[0], bad = -1
    cdef cnp.ndarray safe = np.empty(n, np.int64)
    cdef cnp.ndarray keepf = np.empty(n, dt)
    cdef cnp.ndarray keepb = np.empty(n, np.bool_)
    cdef cnp.ndarray count = np.empty((), dt)
    cdef int s = fg_nll_prep(dt == np.float64, n, c, ignore_index,
                             <const int64_t *>cnp.PyArray_DATA(t),
                             <int64_t *>cnp.PyArray_DATA(safe), cnp.PyArray_DATA(keepf),
                             <uint8_t *>cnp.PyArray_DATA(keepb), cnp.PyArray_DATA(count), &bad)
    if s != FG_OK and bad >= 0:
        raise TargetIndexError(f"{op}: target {t[bad]} at position {bad} is out of bounds for "
                               f"{c} classes")
    _chk(s, op)
    return safe, keepf, keepb, count


# ---- guard fast paths ---------------------------------------------------------------
# fastgrad.compile's guards compare tensors' `_data` arrays and `requires_grad` flags at
# every call.  Both are __slots__ of fastgrad.Tensor: after guard_slots(Tensor) they are
# read at their fixed offsets in the object (for instances of Tensor and its subclasses,
# which share the slots), without an attribute lookup.
cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
cdef extern from "Python.h":
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
from cpython.object cimport PyTypeObject, PyObject_TypeCheck

cdef extern from "Python.h":
    PyObject *_gp_getattr "PyObject_GetAttr"(PyObject *o, PyObject *name)
    PyObject *_gp_getitem "PyObject_GetItem"(PyObject *o, PyObject *key)
    PyObject *_gp_dict_get "PyDict_GetItemWithError"(PyObject *d, PyObject *k)
    PyObject *_gp_cell_get "PyCell_GET"(PyObject *c)
    bint _gp_is_cell "PyCell_Check"(PyObject *c)
    bint _gp_is_dict "PyDict_CheckExact"(PyObject *o)
    bint _gp_is_any_dict "PyDict_Check"(PyObject *o)
    bint _gp_is_list "PyList_CheckExact"(PyObject *o)
    Py_ssize_t _gp_list_size "PyList_GET_SIZE"(PyObject *o)
    PyObject *_gp_list_item "PyList_GET_ITEM"(PyObject *o, Py_ssize_t i)
    Py_ssize_t _gp_size "PyObject_Size"(PyObject *o)
    int _gp_richcmp "PyObject_RichCompareBool"(PyObject *a, PyObject *b, int op)
    PyObject *_gp_call0 "PyObject_CallNoArgs"(PyObject *f)
    int _gp_true "PyObject_IsTrue"(PyObject *o)
    void _gp_incref "Py_INCREF"(PyObject *o)
    void _gp_decref "Py_DECREF"(PyObject *o)
    void _gp_xdecref "Py_XDECREF"(PyObject *o)
    PyObject *_gp_err "PyErr_Occurred"()
    void _gp_clear "PyErr_Clear"()
    int _GP_EQ "Py_EQ"
    PyObject *_gp_tuple_item "PyTuple_GET_ITEM"(object t, Py_ssize_t i)

cdef PyTypeObject *_TENSOR_TYPE = NULL
cdef Py_ssize_t _OFF_DATA = -1, _OFF_RG = -1, _OFF_GRAD = -1
cdef object _TENSOR_TYPE_REF = None


def guard_slots(cls):
    """Read the `_data` and `requires_grad` slots of `cls` (fastgrad.Tensor) by offset."""
    global _TENSOR_TYPE, _OFF_DATA, _OFF_RG, _OFF_GRAD, _TENSOR_TYPE_REF
    d, r = cls.__dict__["_data"], cls.__dict__["requires_grad"]
    if type(d).__name__ != "member_descriptor" or type(r).__name__ != "member_descriptor":
        raise TypeError("guard_slots: _data and requires_grad must be __slots__")
    _OFF_DATA = (<PyMemberDescrObject *><PyObject *>d).d_member.offset
    _OFF_RG = (<PyMemberDescrObject *><PyObject *>r).d_member.offset
    g = cls.__dict__.get("grad")
    if type(g).__name__ == "member_descriptor":
        _OFF_GRAD = (<PyMemberDescrObject *><PyObject *>g).d_member.offset
    _TENSOR_TYPE_REF = cls
    _TENSOR_TYPE = <PyTypeObject *>cls


cdef inline PyObject *_slot(object t, Py_ssize_t off):
    """The object in t's slot at `off`, or NULL if unset (t: a Tensor, checked)."""
    return (<PyObject **>(<char *><PyObject *>t + off))[0]


cdef inline object _data_of(object t):
    cdef PyObject *v
    if _TENSOR_TYPE != NULL and PyObject_TypeCheck(t, _TENSOR_TYPE):
        v = _slot(t, _OFF_DATA)
        return None if v == NULL else <object>v
    return t._data


def tensors_valid(tuple tensors, tuple arrays, tuple flags):
    """True if tensors[i]._data is arrays[i] and tensors[i].requires_grad is flags[i] for
    every i (a compiled step's guard over the tensors it reads in place)."""
    return _tensors_ok(tensors, arrays, flags) == 1


cdef int _tensors_ok(tuple tensors, tuple arrays, tuple flags) except -1:
    cdef Py_ssize_t i, n = len(tensors)
    cdef PyObject *t
    cdef object o
    if len(arrays) != n or len(flags) != n:
        return 0
    for i in range(n):
        t = _gp_tuple_item(tensors, i)
        if _TENSOR_TYPE != NULL and PyObject_TypeCheck(<object>t, _TENSOR_TYPE):
            if (_slot(<object>t, _OFF_DATA) != _gp_tuple_item(arrays, i)
                    or _slot(<object>t, _OFF_RG) != _gp_tuple_item(flags, i)):
                return 0
        else:
            o = <object>t
            if (o._data is not <object>_gp_tuple_item(arrays, i)
                    or o.requires_grad is not <object>_gp_tuple_item(flags, i)):
                return 0
    return 1


def entries_valid(tuple dicts, tuple keys, tuple arrays):
    """True if dicts[i][keys[i]] is a tensor whose array is arrays[i] for every i (a
    compiled step's guard over optimizer state entries)."""
    return _entries_ok(dicts, keys, arrays) == 1


cdef int _entries_ok(tuple dicts, tuple keys, tuple arrays) except -1:
    cdef Py_ssize_t i, n = len(dicts)
    cdef PyObject *d
    cdef PyObject *v
    cdef object t
    if len(keys) != n or len(arrays) != n:
        return 0
    for i in range(n):
        d = _gp_tuple_item(dicts, i)
        if not _gp_is_any_dict(d):
            return 0
        v = _gp_dict_get(d, _gp_tuple_item(keys, i))
        if v == NULL:
            if _gp_err() != NULL:
                _gp_clear()
            return 0
        if _TENSOR_TYPE != NULL and PyObject_TypeCheck(<object>v, _TENSOR_TYPE):
            if _slot(<object>v, _OFF_DATA) != _gp_tuple_item(arrays, i):
                return 0
        else:
            t = <object>v
            if t is None or t._data is not <object>_gp_tuple_item(arrays, i):
                return 0
    return 1


def values_are(dict d, tuple values):
    """True if d's values are the objects `values`, in order (identity, not equality: a
    compiled step's check that an optimizer group still holds the hyperparameters its
    kernel arguments were computed from)."""
    cdef Py_ssize_t pos = 0, i = 0
    cdef PyObject *k
    cdef PyObject *v
    if PyDict_Size(d) != len(values):
        return False
    while PyDict_Next(d, &pos, &k, &v):
        if v != <PyObject *>values[i]:
            return False
        i += 1
    return True


# ---- guard programs ------------------------------------------------------------------
# A compiled step's guards as one C loop over precomputed checks (fastgrad.compile.guards
# builds them): each check reads a value from a constant object through up to four
# accessors (attribute, item, cell contents, instance __dict__ entry) and compares it with
# constants.  Any exception while checking makes the guard fail.
# accessor kinds and check kinds (the names fastgrad.compile.guards uses)
GUARD_ACCESS = {"attr": 1, "item": 2, "cell": 3, "dict": 4}
GUARD_OPS = {"is": 1, "either": 2, "eq": 3, "len": 4, "gen": 5, "tensors": 6, "entries": 7}
cdef enum:
    _GP_MAXACC = 4

cdef struct _gp_check:
    int op
    int nacc
    PyObject *base
    PyObject *exp1
    PyObject *exp2
    Py_ssize_t n
    int kind[_GP_MAXACC]
    PyObject *key[_GP_MAXACC]
    Py_ssize_t idx[_GP_MAXACC]     # a non-negative int key (list fast path), else -1


cdef PyObject *_gp_access(PyObject *o, int kind, PyObject *key, Py_ssize_t idx) noexcept:
    """New reference to the value (NULL: missing, or an exception set)."""
    cdef PyObject *d
    cdef PyObject *v
    if kind == 5:           # a Tensor slot at offset idx (AttributeError if unset)
        if _TENSOR_TYPE != NULL and PyObject_TypeCheck(<object>o, _TENSOR_TYPE):
            v = _slot(<object>o, idx)
            if v != NULL:
                _gp_incref(v)
                return v
        return _gp_getattr(o, key)
    if kind == 1:
        return _gp_getattr(o, key)
    if kind == 2:
        if _gp_is_dict(o):
            v = _gp_dict_get(o, key)
            if v != NULL:
                _gp_incref(v)
            return v
        if idx >= 0 and _gp_is_list(o):
            if idx >= _gp_list_size(o):
                return NULL
            v = _gp_list_item(o, idx)
            _gp_incref(v)
            return v
        return _gp_getitem(o, key)
    if kind == 3:
        if not _gp_is_cell(o):
            return NULL
        v = _gp_cell_get(o)
        if v != NULL:
            _gp_incref(v)
        return v
    d = _gp_getattr(o, <PyObject *>"__dict__")
    if d == NULL:
        return NULL
    if _gp_is_dict(d):
        v = _gp_dict_get(d, key)
        if v != NULL:
            _gp_incref(v)
    else:
        v = _gp_getitem(d, key)
    _gp_decref(d)
    return v


cdef int _gp_one(_gp_check *c) except -1:
    """1 if the check holds, 0 if not (-1: an exception)."""
    cdef PyObject *o
    cdef PyObject *v
    cdef PyObject *r
    cdef int k, ok
    cdef Py_ssize_t n
    if c.op == 6:
        return _tensors_ok(<tuple>c.base, <tuple>c.exp1, <tuple>c.exp2)
    if c.op == 7:
        return _entries_ok(<tuple>c.base, <tuple>c.exp1, <tuple>c.exp2)
    if c.op == 5:           # base[0] == exp1[0] or exp2()
        if (_gp_is_list(c.base) and _gp_is_list(c.exp1) and _gp_list_size(c.base) > 0
                and _gp_list_size(c.exp1) > 0
                and _gp_list_item(c.base, 0) == _gp_list_item(c.exp1, 0)):
            return 1
        r = _gp_call0(c.exp2)
        if r == NULL:
            return -1
        ok = _gp_true(r)
        _gp_decref(r)
        return ok
    o = c.base
    _gp_incref(o)
    for k in range(c.nacc):
        v = _gp_access(o, c.kind[k], c.key[k], c.idx[k])
        _gp_decref(o)
        if v == NULL:
            return -1 if _gp_err() != NULL else 0
        o = v
    if c.op == 1:
        ok = o == c.exp1
    elif c.op == 2:
        ok = o == c.exp1 or o == c.exp2
    elif c.op == 3:
        ok = 1 if o == c.exp1 else _gp_richcmp(o, c.exp1, _GP_EQ)
    else:
        n = _gp_size(o)
        ok = -1 if n < 0 else n == c.n
    _gp_decref(o)
    return ok


cdef class GuardProgram:
    """GuardProgram(checks): a compiled step's guards, checked in one C loop.

    checks: list of (op, base, accessors, exp1, exp2) with op one of GUARD_OPS and
    accessors a tuple of (kind, key) with kind one of GUARD_ACCESS:
      "is"/"either": the value is exp1 (or exp2); "eq": the value == exp1; "len":
      len(value) == exp1; "gen": base[0] == exp1[0] or exp2() (lists; no accessors);
      "tensors"/"entries": tensors_valid/entries_valid(base, exp1, exp2).
    Calling it returns True when every check holds, False when one fails or raises."""
    cdef _gp_check *prog
    cdef readonly int n
    cdef list keep
    cdef public object source, checks
    cdef public int nchecks

    def __cinit__(self):
        self.prog = NULL

    def __dealloc__(self):
        free(self.prog)

    def __init__(self, list checks):
        cdef int i, k
        cdef _gp_check *c
        self.n = len(checks)
        self.keep = [checks]
        self.prog = <_gp_check *>calloc(max(self.n, 1), sizeof(_gp_check))
        if self.prog == NULL:
            raise MemoryError("compile: out of memory building the guards")
        for i in range(self.n):
            op, base, acc, e1, e2 = checks[i]
            c = &self.prog[i]
            c.op = GUARD_OPS[op]
            if len(acc) > _GP_MAXACC:
                raise ValueError(f"GuardProgram: check {i} has {len(acc)} accessors, at most {_GP_MAXACC}")
            if c.op in (5, 6, 7) and (acc or type(base) is not (list if c.op == 5 else tuple)):
                raise ValueError(f"GuardProgram: check {i} ({op}) is malformed")
            if c.op in (6, 7) and (type(e1) is not tuple or type(e2) is not tuple
                                   or len(e1) != len(base) or len(e2) != len(base)):
                raise ValueError(f"GuardProgram: check {i} ({op}) needs three tuples of one length")
            if c.op == 5 and type(e1) is not list:
                raise ValueError(f"GuardProgram: check {i} (gen) needs two lists")
            c.base = <PyObject *>base
            c.exp1 = <PyObject *>e1
            c.exp2 = <PyObject *>e2
            c.n = e1 if c.op == 4 else 0
            c.nacc = len(acc)
            for k in range(c.nacc):
                kind, key = acc[k]
                c.kind[k] = GUARD_ACCESS[kind]
                if c.kind[k] == 1 and type(key) is not str:
                    raise ValueError(f"GuardProgram: check {i}: attribute names are strings")
                if c.kind[k] == 3:
                    key = None
                self.keep.append(key)
                c.key[k] = <PyObject *>key
                c.idx[k] = key if type(key) is int and key >= 0 else -1
                if c.kind[k] == 1 and _TENSOR_TYPE != NULL:      # tensor slots by offset
                    off = {"_data": _OFF_DATA, "requires_grad": _OFF_RG,
                           "grad": _OFF_GRAD}.get(key, -1)
                    if off >= 0:
                        c.kind[k] = 5
                        c.idx[k] = off

    def __call__(self):
        cdef int i
        try:
            for i in range(self.n):
                if _gp_one(&self.prog[i]) == 0:
                    return False
        except Exception:
            return False
        return True


def optim_state_valid(OptimPlan op):
    """OptimPlan.valid() less the parameters' own arrays, for a compiled step's guard
    (which checks each parameter's array itself): every state entry the plan points at
    is still its parameter's state, and no parameter without state has a gradient."""
    cdef Py_ssize_t i, k, j = 0, m = 0
    cdef PyObject *v
    cdef object st, key
    for i in range(op.n):
        st = op.states[i]
        if st is None:
            if op.params[i].grad is not None:
                return False
            continue
        if not isinstance(st, dict):
            return op.valid()
        for k in range(op.nslots):
            key = op.keys[k]
            if key:
                v = PyDict_GetItem(st, key)
                if v == NULL or <object>v is None or _data_of(<object>v) is not op.slot_arrays[j]:
                    return False
                j += 1
        if op.step_key:
            v = PyDict_GetItem(st, op.step_key)
            if v == NULL or <object>v is None or _data_of(<object>v) is not op.step_arrays[m]:
                return False
            m += 1
    return True


def pairwise_sum(cnp.ndarray x):
    """(tests) the plan's loss summation, which must equal np.sum bit for bit."""
    cdef int is64 = _is64(x, "pairwise_sum")
    x = _dense(x, "pairwise_sum")
    if is64:
        return np.float64(fg_pairwise_sum_f64(<double*>cnp.PyArray_DATA(x), cnp.PyArray_SIZE(x)))
    return np.float32(fg_pairwise_sum_f32(<float*>cnp.PyArray_DATA(x), cnp.PyArray_SIZE(x)))


# ---- plan validation ----------------------------------------------------------------
# What each step kind reads and writes, in elements: per operand slot a pair (count, kind)
# with kind "T" (the step's float type), "I" (int64), "D" (float64 whatever the step's
# type), "B" (bool, one byte), or None where the slot is unused.
# A count is a Python int, so no product overflows.  Operands marked required must be
# present; the others may be absent (base -1).
def _prod(v):
    r = 1
    for x in v:
        r *= int(x)
    return r

def _strided_span(shape, strides):
    """(lowest, highest) element offset a strided operand touches, or None if empty."""
    lo = hi = 0
    for n, st in zip(shape, strides):
        if n == 0:
            return None
        lo += min(0, (n - 1) * st)
        hi += max(0, (n - 1) * st)
    return lo, hi

_STRIDED_KINDS = (FG_P_BINARY, FG_P_COPY, FG_P_COMPARE, FG_P_WHERE, FG_P_COPY_TO)


def _step_operands(int kind, d):
    """({slot: (lo, hi, type, required)}, geometry error or None) for one step; slots are
    ("in", j) / ("out", j); lo/hi the element offsets touched (hi exclusive)."""
    n = [int(v) for v in d.get("n", ())] + [0] * 4
    nd = int(d.get("ndim", 0))
    shape = [int(v) for v in d.get("shape", ())][:nd] if kind in _STRIDED_KINDS else \
        [int(v) for v in d.get("shape", ())]
    ops = {}
    counts = {FG_P_INDEX_SELECT: 4, FG_P_INDEX_ADD: 4, FG_P_GATHER: 4, FG_P_SCATTER_ADD: 4, FG_P_REDUCE: 3,
              FG_P_ARGREDUCE: 3, FG_P_SCAN: 3, FG_P_PROD: 3, FG_P_SORT: 4, FG_P_NLL_PREP: 2, FG_P_SOFTMAX: 3, FG_P_SOFTMAX_BWD: 3, FG_P_BN_STATS: 3,
              FG_P_BN_APPLY: 3, FG_P_BN_BWD: 3, FG_P_XENT: 2, FG_P_XENT_RED: 2,
              FG_P_XENT_BWD: 2, FG_P_XENT_RED_BWD: 2}.get(kind, 1 if kind != FG_P_COUNTER else 0)
    if any(v < 0 for v in n[:counts]):
        raise ValueError(f"field 'n' {n[:counts]} has a negative size")
    def lin(slot, cnt, t="T", req=True):
        if cnt < 0:
            raise ValueError(f"operand {slot[0]}{slot[1]} has a negative size {cnt}")
        ops[slot] = (0, cnt, t, req)
    def strided(slot, strides, t="T"):
        sp = _strided_span(shape, [int(v) for v in strides][:nd])
        ops[slot] = (0, 0, t, True) if sp is None else (sp[0], sp[1] + 1, t, True)
    if kind in _STRIDED_KINDS:
        if len(shape) != nd or any(v < 0 for v in shape):
            raise ValueError(f"shape {shape} does not have ndim={nd} non-negative entries")
    if kind == FG_P_UNARY:
        lin(("in", 0), n[0]); lin(("out", 0), n[0])
    elif kind == FG_P_UNARY_BWD:
        lin(("in", 0), n[0]); lin(("in", 1), n[0], req=False); lin(("in", 2), n[0], req=False)
        lin(("out", 0), n[0])
    elif kind == FG_P_BINARY:
        strided(("in", 0), d.get("sa", ())); strided(("in", 1), d.get("sb", ()))
        lin(("out", 0), _prod(shape))
    elif kind == FG_P_REDUCE:
        lin(("in", 0), n[0] * n[1] * n[2]); lin(("out", 0), n[0] * n[2])
    elif kind == FG_P_COPY:
        strided(("in", 0), d.get("sa", ())); lin(("out", 0), _prod(shape))
    elif kind == FG_P_FILL:
        lin(("out", 0), n[0])
    elif kind == FG_P_SOFTMAX:
        lin(("in", 0), n[0] * n[1] * n[2]); lin(("out", 0), n[0] * n[1] * n[2])
    elif kind == FG_P_SOFTMAX_BWD:
        for slot in (("in", 0), ("in", 1), ("out", 0)):
            lin(slot, n[0] * n[1] * n[2])
    elif kind in (FG_P_XENT, FG_P_XENT_RED):
        lin(("in", 0), n[0] * n[1]); lin(("in", 1), n[0], "I")
        lin(("out", 0), n[0]); lin(("out", 1), n[0] * n[1])
        if kind == FG_P_XENT_RED:
            lin(("out", 2), 1)
    elif kind == FG_P_XENT_BWD:
        lin(("in", 0), n[0]); lin(("in", 1), n[0] * n[1]); lin(("in", 2), n[0], "I")
        lin(("out", 0), n[0] * n[1])
    elif kind == FG_P_XENT_RED_BWD:
        lin(("in", 0), 1); lin(("in", 1), n[0] * n[1]); lin(("in", 2), n[0], "I")
        lin(("out", 0), n[0] * n[1]); lin(("out", 1), n[0])
    elif kind == FG_P_GEMM:
        g = d.get("gemm")
        if g is None:
            raise ValueError("a gemm step needs its 'gemm' descriptor")
        m, nn, k = int(g["m"]), int(g["n"]), int(g["k"])
        ta, tb = int(g["transa"]), int(g["transb"])
        lda, ldb, ldc = int(g["lda"]), int(g["ldb"]), int(g["ldc"])
        if min(m, nn, k) < 0 or ta not in (0, 1) or tb not in (0, 1):
            raise ValueError(f"gemm m={m} n={nn} k={k} transa={ta} transb={tb} is invalid")
        ar, ac = (k, m) if ta else (m, k)
        br, bc = (nn, k) if tb else (k, nn)
        if lda < max(ac, 1) or ldb < max(bc, 1) or ldc < max(nn, 1):
            raise ValueError(f"gemm leading dimensions lda={lda} ldb={ldb} ldc={ldc} are too small "
                             f"for m={m} n={nn} k={k}")
        if g["act"] not in ACT.values():
            raise ValueError(f"gemm activation {g['act']} is unknown")
        nb = int(g.get("batch", 1))
        bsa, bsb, bsc = (int(g.get(f, 0)) for f in ("stride_a", "stride_b", "stride_c"))
        if nb < 1 or min(bsa, bsb, bsc) < 0 or (nb > 1 and bsc < m * ldc):
            raise ValueError(f"gemm batch {nb} with strides {bsa}, {bsb}, {bsc} is invalid")
        ops[("in", 0)] = (0, (ar - 1) * lda + ac + (nb - 1) * bsa if ar and ac else 0, "T", True)
        ops[("in", 1)] = (0, (br - 1) * ldb + bc + (nb - 1) * bsb if br and bc else 0, "T", True)
        lin(("in", 2), nn, req=False)
        ops[("out", 0)] = (0, (m - 1) * ldc + nn + (nb - 1) * bsc if m and nn else 0, "T", True)
    elif kind in (FG_P_CONV, FG_P_CONV_BWD):
        if len(shape) < 16 or any(v < 0 for v in shape[:16]):
            raise ValueError(f"conv geometry {shape} needs 16 non-negative values")
        cn, ci, h, w, co, kh, kw, oh, ow = shape[:9]
        groups = shape[15]
        if groups < 1 or ci % groups or co % groups:
            raise ValueError(f"conv groups {groups} do not divide channels {ci} and {co}")
        _conv_geometry("plan", (cn, ci, h, w), (co, ci // groups, kh, kw), tuple(shape[9:11]),
                       tuple(shape[11:13]), tuple(shape[13:15]), oh, ow)
        xs, ws, ys = cn * ci * h * w, co * (ci // groups) * kh * kw, cn * co * oh * ow
        if kind == FG_P_CONV:
            lin(("in", 0), xs); lin(("in", 1), ws); lin(("in", 2), co, req=False); lin(("out", 0), ys)
        else:
            lin(("in", 0), xs, req=False); lin(("in", 1), ws, req=False); lin(("in", 2), ys)
            lin(("out", 0), xs, req=False); lin(("out", 1), ws, req=False); lin(("out", 2), co, req=False)
    elif kind in (FG_P_POOL, FG_P_POOL_BWD):
        if len(shape) < 14:
            raise ValueError(f"pool geometry {shape} needs 14 values")
        planes, h, w, oh, ow, kh, kw, sh_, sw_, ph, pw, dh, dw = shape[:13]
        if planes < 0 or h < 0 or w < 0:
            raise ValueError(f"pool input planes={planes} h={h} w={w} is invalid")
        _pool_geometry("plan", (planes, h, w), oh, ow, (kh, kw), (sh_, sw_), (ph, pw), (dh, dw))
        mx = int(d.get("op", 0)) == FG_POOLING_MAX
        if kind == FG_P_POOL:
            lin(("in", 0), planes * h * w); lin(("out", 0), planes * oh * ow)
            lin(("out", 1), planes * oh * ow, "I", req=mx)
        else:
            lin(("in", 0), planes * oh * ow); lin(("in", 1), planes * oh * ow, "I", req=mx)
            lin(("out", 0), planes * h * w)
    elif kind in (FG_P_BN_STATS, FG_P_BN_APPLY, FG_P_BN_BWD):
        ncs, c = n[0] * n[1] * n[2], n[1]
        if kind == FG_P_BN_STATS:
            lin(("in", 0), ncs); lin(("out", 0), c); lin(("out", 1), c)
        elif kind == FG_P_BN_APPLY:
            lin(("in", 0), ncs); lin(("in", 1), c); lin(("in", 2), c)
            lin(("in", 3), c, req=False); lin(("in", 4), c, req=False); lin(("out", 0), ncs)
        else:
            lin(("in", 0), ncs); lin(("in", 1), ncs); lin(("in", 2), c); lin(("in", 3), c)
            lin(("in", 4), c, req=False); lin(("out", 0), ncs, req=False)
            lin(("out", 1), c, req=False); lin(("out", 2), c, req=False)
    elif kind == FG_P_BN_PREP:
        lin(("in", 0), n[0], req=False); lin(("in", 1), n[0])
        lin(("out", 0), n[0], req=False); lin(("out", 1), n[0])
    elif kind == FG_P_BN_RUNNING:
        lin(("in", 0), n[0]); lin(("in", 1), n[0])
        lin(("out", 0), n[0], req=False); lin(("out", 1), n[0], req=False)
    elif kind in (FG_P_ROWNORM, FG_P_ROWNORM_BWD):
        rows, dd, groups, ss = n[0], n[1], n[2], n[3]
        if rows < 0 or dd < 1 or groups < 1 or ss < 1 or dd % ss or rows % groups:
            raise ValueError(f"rownorm rows={rows} d={dd} groups={groups} s={ss} is inconsistent")
        na = groups * dd // ss
        if kind == FG_P_ROWNORM:
            lin(("in", 0), rows * dd); lin(("in", 1), na, req=False); lin(("in", 2), na, req=False)
            lin(("out", 0), rows * dd); lin(("out", 1), rows); lin(("out", 2), rows)
        else:
            lin(("in", 0), rows * dd); lin(("in", 1), rows * dd); lin(("in", 2), rows)
            lin(("in", 3), rows); lin(("in", 4), na, req=False)
            lin(("out", 0), rows * dd, req=False); lin(("out", 1), na, req=False)
            lin(("out", 2), na, req=False)
    elif kind == FG_P_COUNTER:
        lin(("out", 0), 1, "I")
    elif kind == FG_P_DROPOUT:
        lin(("out", 0), n[0])
    elif kind in (FG_P_INDEX_SELECT, FG_P_INDEX_ADD):
        big, small = n[0] * n[1] * n[2], n[0] * n[3] * n[2]
        lin(("in", 0), big if kind == FG_P_INDEX_SELECT else small)
        lin(("in", 1), n[3], "I")
        lin(("out", 0), small if kind == FG_P_INDEX_SELECT else big)
    elif kind in (FG_P_RNN, FG_P_RNN_BWD):
        mode, (T, B, H) = int(d.get("op", -1)), n[:3]
        if fg_rnn_ws_elems(mode, T, B, H) < 0 or n[3] not in (0, 1):
            raise ValueError(f"rnn mode={mode} T={T} B={B} H={H} reverse={n[3]} is invalid")
        G, rows = fg_rnn_gates(mode) * H, T + 1 if mode == FG_RNN_LSTM else T
        nws = fg_rnn_ws_elems(mode, T, B, H)
        if kind == FG_P_RNN:
            lin(("in", 0), T * B * G); lin(("in", 1), G * H); lin(("in", 2), G, req=False)
            lin(("in", 3), B * H, req=False); lin(("in", 4), B * H, req=False)
            lin(("out", 0), rows * B * H); lin(("out", 1), B * H); lin(("out", 2), nws)
        else:
            lin(("in", 0), T * B * H, req=False); lin(("in", 1), B * H, req=False)
            lin(("in", 2), B * H, req=False); lin(("in", 3), G * H); lin(("in", 4), nws)
            lin(("out", 0), T * B * G); lin(("out", 1), B * H, req=False)
            lin(("out", 2), B * H, req=False); lin(("out", 3), G * H, req=False)
            lin(("out", 4), G, req=False)
    elif kind in (FG_P_SDPA, FG_P_SDPA_BWD):
        _sdpa_operands(kind, shape, lin)
    elif kind == FG_P_COPY_TO:
        strided(("in", 0), d.get("sa", ()))
        sp = _strided_span(shape, [int(v) for v in d.get("sb", ())][:nd])
        ops[("out", 0)] = (0, 0, "T", True) if sp is None else (sp[0], sp[1] + 1, "T", True)
    elif kind == FG_P_COMPARE:
        strided(("in", 0), d.get("sa", ())); strided(("in", 1), d.get("sb", ()))
        lin(("out", 0), _prod(shape), "B")
    elif kind == FG_P_WHERE:
        strided(("in", 0), d.get("sc", ()), "B")
        strided(("in", 1), d.get("sa", ())); strided(("in", 2), d.get("sb", ()))
        lin(("out", 0), _prod(shape))
    elif kind in (FG_P_GATHER, FG_P_SCATTER_ADD):
        big, small = n[0] * n[1] * n[2], n[0] * n[3] * n[2]
        lin(("in", 0), big if kind == FG_P_GATHER else small)
        lin(("in", 1), small, "I")
        lin(("out", 0), small if kind == FG_P_GATHER else big)
    elif kind in (FG_P_ARGREDUCE, FG_P_PROD):
        lin(("in", 0), n[0] * n[1] * n[2]); lin(("out", 0), n[0] * n[2])
        if kind == FG_P_ARGREDUCE:
            lin(("out", 1), n[0] * n[2], "I")
    elif kind == FG_P_NLL_PREP:
        lin(("in", 0), n[0], "I"); lin(("out", 0), n[0], "I"); lin(("out", 1), n[0])
        lin(("out", 2), n[0], "B"); lin(("out", 3), 1)
    elif kind == FG_P_SCAN:
        lin(("in", 0), n[0] * n[1] * n[2]); lin(("out", 0), n[0] * n[1] * n[2])
    elif kind == FG_P_SORT:
        lin(("in", 0), n[0] * n[1] * n[2]); lin(("out", 0), n[0] * n[3] * n[2])
        lin(("out", 1), n[0] * n[3] * n[2], "I")
    elif kind == FG_P_CLIP and int(d.get("op", 0)) == 0:
        lin(("out", 0), 1); lin(("out", 1), len(d.get("grads", ())), "D")
    return ops


cdef void _hyper(fg_optim_hyper *h, tuple a):
    h.lr = a[0]; h.weight_decay = a[1]; h.momentum = a[2]; h.dampening = a[3]
    h.beta1 = a[4]; h.beta2 = a[5]; h.eps = a[6]; h.alpha = a[7]; h.lr_decay = a[8]
    h.nesterov = a[9]; h.maximize = a[10]
    h.amsgrad = a[11] if len(a) > 11 else 0
    h.decoupled = a[12] if len(a) > 12 else 0
    h.centered = a[13] if len(a) > 13 else 0
    h.rho = a[14] if len(a) > 14 else 0.0
    h.momentum_decay = a[15] if len(a) > 15 else 0.0


cdef class Plan:
    """Plan(bases, inputs, steps, names)

    bases:  list; entry i is the ndarray behind operand base i, or None for an input
            slot (entry 0 is the arena)
    inputs: list of (base index, dtype, shape): the arrays run() takes, in order
    steps:  list of dicts (kind, op, is64, par, ndim, n, s, ins, outs, shape, sa, sb,
            gemm, optim, grads, hyper, rng) as written by fastgrad.compile; a dropout
            step's rng is the numpy.random.BitGenerator its mask is drawn from (run()
            holds that generator's lock)
    names:  per step, the op name used in error messages"""
    cdef fg_plan_step *steps
    cdef readonly int64_t nsteps
    cdef char **bases
    cdef int nbases
    cdef list keep, names, in_slots, gps
    cdef void **gp_all
    cdef int64_t *numel_all
    cdef readonly int64_t arena_bytes
    cdef object rng_lock, rng, rng_cap

    def __cinit__(self):
        self.steps = NULL
        self.bases = NULL
        self.gp_all = NULL
        self.numel_all = NULL

    def __dealloc__(self):
        free(self.steps)
        free(self.bases)
        free(self.gp_all)
        free(self.numel_all)

    def __init__(self, list bases, list inputs, list steps, list names):
        cdef int64_t i, j, ngrads = 0, gi = 0, failed = -1
        cdef fg_plan_step *st
        cdef cnp.ndarray a
        cdef OptimPlan op
        self.nbases = len(bases)
        self.nsteps = len(steps)
        self.keep = []
        self.names = list(names)
        self.in_slots = []
        self.steps = <fg_plan_step *>calloc(max(self.nsteps, 1), sizeof(fg_plan_step))
        self.bases = <char **>calloc(max(self.nbases, 1), sizeof(char *))
        for d in steps:
            if d["kind"] in ("optim", "clip"):
                ngrads += len(d["grads"])
        self.gp_all = <void **>calloc(max(ngrads, 1), sizeof(void *))
        self.numel_all = <int64_t *>calloc(max(ngrads, 1), sizeof(int64_t))
        if not self.steps or not self.bases or not self.gp_all or not self.numel_all:
            raise MemoryError("compile: out of memory building the plan")
        for i in range(self.nbases):
            if bases[i] is not None:
                a = bases[i]
                self.keep.append(a)
                self.bases[i] = <char *>cnp.PyArray_DATA(a)
        self.arena_bytes = bases[0].nbytes if bases and bases[0] is not None else 0
        for b, dt, shape in inputs:
            self.in_slots.append((b, np.dtype(dt), np.dtype(dt).num, tuple(shape)))
        for i in range(self.nsteps):
            d = steps[i]
            st = &self.steps[i]
            if not isinstance(d, dict) or d.get("kind") not in PLAN_KINDS:
                raise ValueError(f"Plan: step {i} is malformed: it must be a dict whose 'kind' is one of "
                                 f"{sorted(PLAN_KINDS)}")
            for key, most in (("n", 4), ("s", 4), ("shape", FG_MAX_DIMS), ("sa", FG_MAX_DIMS),
                              ("sb", FG_MAX_DIMS), ("sc", FG_MAX_DIMS), ("ins", FG_P_MAXOPS), ("outs", FG_P_MAXOPS)):
                if len(d.get(key, ())) > most:
                    raise ValueError(f"Plan: step {i} ({d['kind']}) is malformed: field {key!r} has "
                                     f"{len(d[key])} entries, at most {most} allowed")
            st.kind = PLAN_KINDS[d["kind"]]
            st.op = d.get("op", 0)
            st.is64 = d.get("is64", 0)
            st.par = d.get("par", 0)
            st.ndim = d.get("ndim", 0)
            for j, v in enumerate(d.get("n", ())):
                st.n[j] = v
            for j, v in enumerate(d.get("s", ())):
                st.s[j] = v
            if len(d.get("ins", ())) > FG_P_MAXOPS or len(d.get("outs", ())) > FG_P_MAXOPS:
                raise ValueError(f"compile: internal error, step {i} has too many operands")
            if len(d.get("shape", ())) > 16:
                raise ValueError(f"compile: internal error, step {i} has too many dimensions")
            for j in range(FG_P_MAXOPS):
                st.in_base[j] = -1
                st.out_base[j] = -1
            for j, ref in enumerate(d.get("ins", ())):
                if ref is not None:
                    st.in_base[j] = ref[0]
                    st.in_off[j] = ref[1]
            for j, ref in enumerate(d.get("outs", ())):
                if ref is not None:
                    st.out_base[j] = ref[0]
                    st.out_off[j] = ref[1]
            for j, v in enumerate(d.get("shape", ())):
                st.shape[j] = v
            for j, v in enumerate(d.get("sa", ())):
                st.sa[j] = v
            for j, v in enumerate(d.get("sb", ())):
                st.sb[j] = v
            for j, v in enumerate(d.get("sc", ())):
                st.sc[j] = v
            g = d.get("gemm")
            if g is not None:
                st.gemm.transa = g["transa"]; st.gemm.transb = g["transb"]
                st.gemm.m = g["m"]; st.gemm.n = g["n"]; st.gemm.k = g["k"]
                st.gemm.alpha = g["alpha"]; st.gemm.beta = g["beta"]
                st.gemm.lda = g["lda"]; st.gemm.ldb = g["ldb"]; st.gemm.ldc = g["ldc"]
                st.gemm.act = g["act"]; st.gemm.batch = g.get("batch", 1)
                st.gemm.stride_a = g.get("stride_a", 0); st.gemm.stride_b = g.get("stride_b", 0)
                st.gemm.stride_c = g.get("stride_c", 0)
            if d["kind"] == "optim":
                op = d["optim"]
                self.keep.append(op)
                if op.scratch:
                    raise ValueError(f"compile: {op.who} has non-contiguous parameters; "
                                     "compiled steps need C-contiguous parameters")
                if len(d["grads"]) != op.n:
                    raise ValueError("compile: optimizer gradient list does not match its plan")
                st.alg = op.alg
                st.is64 = op.is64
                st.ntensors = op.n
                st.numel = op.numel
                st.param = op.pp
                st.state = op.sp
                st.step = op.stp
                st.grad = <const void **>&self.gp_all[gi]
                for ref in d["grads"]:
                    self.gp_all[gi] = NULL if ref is None else <void *>(self.bases[ref[0]] + <int64_t>ref[1])
                    gi += 1
                _hyper(&st.hyper, d["hyper"])
            elif d["kind"] == "dropout":
                bg = d.get("rng")
                if not isinstance(bg, np.random.BitGenerator):
                    raise ValueError(f"Plan: step {i} (dropout) needs its 'rng', a "
                                     f"numpy.random.BitGenerator, got {type(bg).__name__}")
                if self.rng is not None and self.rng is not bg:
                    raise ValueError("Plan: dropout steps drawing from two generators")
                self.rng = bg
            elif d["kind"] == "clip":
                if len(d["grads"]) != len(d["numel"]) or any(r is None for r in d["grads"]):
                    raise ValueError("compile: clipping step with a malformed gradient list")
                st.ntensors = len(d["grads"])
                st.numel = &self.numel_all[gi]
                st.grad = <const void **>&self.gp_all[gi]
                for ref, k in zip(d["grads"], d["numel"]):
                    self.gp_all[gi] = <void *>(self.bases[ref[0]] + <int64_t>ref[1])
                    self.numel_all[gi] = k
                    gi += 1
        if self.rng is not None:
            bg, self.rng = self.rng, None
            self.set_rng(bg)
        self._validate(bases, inputs, steps)
        if fg_plan_check(self.steps, self.nsteps, self.nbases, &failed) != FG_OK:
            raise ValueError(f"compile: internal error, the plan's step {failed} "
                             f"({self.names[failed]}) is malformed")

    cdef int _validate(self, list bases, list inputs, list steps) except -1:
        """Every operand of every step lies inside its buffer, aligned for its type; every
        required operand is present; written buffers are writable; sizes and geometry are
        consistent.  Raises ValueError naming the step and the field."""
        cdef int64_t i, j, off
        cdef fg_plan_step *st
        cdef OptimPlan op
        span = {}                 # base -> (lowest, highest byte offset, writable)
        for i in range(self.nbases):
            a = bases[i]
            if a is None:
                continue
            if not isinstance(a, np.ndarray):
                raise ValueError(f"Plan: base {i} must be an ndarray or None, got {type(a).__name__}")
            lo, hi = byte_bounds(a)
            ptr = (<object>a).ctypes.data
            span[i] = (lo - ptr, hi - ptr, bool((<object>a).flags.writeable))
        for slot in self.in_slots:
            b, dt, _, shape = slot
            if not 0 <= b < self.nbases or bases[b] is not None or b in span:
                raise ValueError(f"Plan: input slot {b} must name a distinct base that is None")
            if any(int(v) < 0 for v in shape):
                raise ValueError(f"Plan: input slot {b} has a negative dimension in {shape}")
            span[b] = (0, _prod(shape) * dt.itemsize, True)
        for i in range(self.nsteps):
            d = steps[i]
            st = &self.steps[i]
            where = (f"Plan: step {i} ({self.names[i] if i < len(self.names) else '?'}, "
                     f"kind {d['kind']!r}) is malformed")
            if st.is64 not in (0, 1):
                raise ValueError(f"{where}: is64 must be 0 or 1, got {st.is64}")
            if st.ndim < 0 or st.ndim > FG_MAX_DIMS:
                raise ValueError(f"{where}: ndim {st.ndim} is outside [0, {FG_MAX_DIMS}]")
            for j in range(FG_P_MAXOPS):
                for io, bj in (("in", st.in_base[j]), ("out", st.out_base[j])):
                    if bj != -1 and bj not in span:
                        raise ValueError(f"{where}: operand {io}[{j}] names base {bj}, which does "
                                         f"not exist (bases 0..{self.nbases - 1})")
            try:
                ops = _step_operands(st.kind, d)
            except (ValueError, KeyError, TypeError, IndexError) as e:
                raise ValueError(f"{where}: {e}") from None
            fsz = 8 if st.is64 else 4
            for (io, j), (lo, hi, t, req) in ops.items():
                bj = st.in_base[j] if io == "in" else st.out_base[j]
                off = st.in_off[j] if io == "in" else st.out_off[j]
                isz = 8 if t in ("I", "D") else 1 if t == "B" else fsz
                if bj < 0:
                    if req and hi > lo:
                        raise ValueError(f"{where}: operand {io}[{j}] is required but absent")
                    continue
                if hi <= lo:
                    continue
                blo, bhi, wr = span[bj]
                if off % isz:
                    raise ValueError(f"{where}: operand {io}[{j}] offset {off} is not aligned to "
                                     f"{isz} bytes")
                if off + lo * isz < blo or off + hi * isz > bhi:
                    raise ValueError(f"{where}: operand {io}[{j}] bytes [{off + lo * isz}, "
                                     f"{off + hi * isz}) lie outside base {bj} [{blo}, {bhi})")
                if io == "out" and not wr:
                    raise ValueError(f"{where}: operand out[{j}] writes base {bj}, which is read-only")
            if st.kind == FG_P_OPTIM:
                op = d["optim"]
                for j, ref in enumerate(d["grads"]):
                    if ref is None:
                        continue
                    bj, off = int(ref[0]), int(ref[1])
                    if bj not in span or self.bases[bj] == NULL:
                        raise ValueError(f"{where}: gradient {j} names base {bj}, which is not a "
                                         f"fixed buffer")
                    blo, bhi, wr = span[bj]
                    if off % fsz or off < blo or off + op.numel[j] * fsz > bhi:
                        raise ValueError(f"{where}: gradient {j} ({op.numel[j]} elements at offset "
                                         f"{off}) lies outside base {bj} [{blo}, {bhi})")
            elif st.kind == FG_P_CLIP:
                for j, (ref, k) in enumerate(zip(d["grads"], d["numel"])):
                    bj, off, k = int(ref[0]), int(ref[1]), int(k)
                    if bj not in span or self.bases[bj] == NULL:
                        raise ValueError(f"{where}: gradient {j} names base {bj}, which is not a "
                                         f"fixed buffer")
                    blo, bhi, wr = span[bj]
                    if k < 0 or off % fsz or off < blo or off + k * fsz > bhi:
                        raise ValueError(f"{where}: gradient {j} ({k} elements at offset {off}) lies "
                                         f"outside base {bj} [{blo}, {bhi})")
                    if not wr:
                        raise ValueError(f"{where}: gradient {j} is in base {bj}, which is read-only")
        return 0

    def set_rng(self, bg):
        """Draw the dropout steps' masks from the numpy.random.BitGenerator bg."""
        cdef int64_t i
        cdef fg_bitgen *g
        if not isinstance(bg, np.random.BitGenerator):
            raise TypeError(f"set_rng: expected a numpy.random.BitGenerator, got {type(bg).__name__}")
        if bg is self.rng:
            return
        cap = bg.capsule
        g = <fg_bitgen *>PyCapsule_GetPointer(cap, "BitGenerator")
        for i in range(self.nsteps):
            if self.steps[i].kind == FG_P_DROPOUT:
                self.steps[i].rng = g
        self.rng, self.rng_cap, self.rng_lock = bg, cap, bg.lock

    def set_hyper(self, int64_t i, tuple args):
        """New optimizer hyperparameters (OptimPlan.step's argument order) for step i."""
        if not 0 <= i < self.nsteps or self.steps[i].kind != FG_P_OPTIM:
            raise IndexError(f"set_hyper: step {i} is not an optimizer step")
        _hyper(&self.steps[i].hyper, args)

    def run(self, tuple inputs):
        """Point the input slots at `inputs` (checked) and run every step."""
        cdef int64_t i, failed = -1, info = -1
        cdef int s, nt = NT
        cdef cnp.ndarray a
        if len(inputs) != len(self.in_slots):
            raise ValueError(f"compile: the plan takes {len(self.in_slots)} inputs, got {len(inputs)}")
        cdef int d, ok
        cdef tuple slot, shape
        for i in range(len(inputs)):
            slot = self.in_slots[i]
            a = inputs[i]
            shape = slot[3]
            ok = (cnp.PyArray_TYPE(a) == <int>slot[2] and _layout_ok(a, True)
                  and cnp.PyArray_NDIM(a) == len(shape))
            d = 0
            while ok and d < len(shape):
                ok = cnp.PyArray_DIMS(a)[d] == <cnp.npy_intp>shape[d]
                d += 1
            if not ok:
                raise ValueError(f"compile: input {i} must be a C-contiguous, aligned, native-endian "
                                 f"{slot[1]} array of shape {shape}, got {(<object>a).dtype} "
                                 f"{(<object>a).shape} strides {(<object>a).strides}")
            self.bases[<int>slot[0]] = <char *>cnp.PyArray_DATA(a)
        if self.rng_lock is None:
            with nogil:
                s = fg_plan_run(self.steps, self.nsteps, self.bases, self.nbases, nt, &failed, &info)
        else:
            with self.rng_lock:     # the generator's draws, as NumPy's own hold it
                with nogil:
                    s = fg_plan_run(self.steps, self.nsteps, self.bases, self.nbases, nt, &failed,
                                    &info)
        for slot in self.in_slots:
            self.bases[<int>slot[0]] = NULL
        if s != FG_OK:
            name = self.names[failed] if 0 <= failed < len(self.names) else "plan"
            k = self.steps[failed].kind if 0 <= failed < self.nsteps else -1
            if (k == FG_P_XENT or k == FG_P_XENT_RED) and s == FG_EINVAL and info >= 0:
                c = self.steps[failed].n[1]
                ign = self.steps[failed].n[2]
                raise TargetIndexError(
                    f"cross_entropy (compiled step {failed}): target at position {info} is out of "
                    f"bounds for {c} classes (valid: 0..{c - 1} or ignore_index={ign})")
            if k == FG_P_NLL_PREP and s == FG_EINVAL and info >= 0:
                raise TargetIndexError(
                    f"{name} (compiled step {failed}): target at position {info} is out of "
                    f"bounds for {self.steps[failed].n[1]} classes")
            if (k == FG_P_INDEX_SELECT or k == FG_P_INDEX_ADD or k == FG_P_GATHER
                    or k == FG_P_SCATTER_ADD) and s == FG_EINVAL:
                nn = self.steps[failed].n[1]
                raise IndexError(f"{name} (compiled step {failed}): index {info} is out of range "
                                 f"for a dimension of size {nn}")
            _chk(s, f"{name} (compiled step {failed})")
