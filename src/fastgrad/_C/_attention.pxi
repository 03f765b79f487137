# Wrappers for csrc/attention.c (fused scaled dot-product attention).  Included by
# _kernels.pyx, so its helpers (_is64, _dense, _chk, _sh, _empty_checked, NT) are in
# scope.  q, k, v, out and the gradient are (batch, heads, rows, features) arrays read in
# place when their features are contiguous and their strides non-negative (rows at least
# a row apart), else copied dense; the mask is a
# dense 4-d array whose every dim is the scores' size or 1 (broadcast, stride 0).  The
# shapes are checked by ops/attention.py (which names the op and the shapes); the checks
# here keep the C layer safe whatever the caller passes.

cdef extern from "attention.h" nogil:
    enum:
        FG_SDPA_MASK_NONE, FG_SDPA_MASK_BOOL, FG_SDPA_MASK_ADD
    ctypedef struct fg_sdpa_shape:
        int64_t batch, hq, hk, l, s, e, ev
        double scale
        int causal
        int mask
        int64_t ms[4]
    ctypedef struct fg_sdpa_layout:
        int64_t q[3]
        int64_t k[3]
        int64_t v[3]
        int64_t o[3]
        int64_t g[3]
        int64_t dq[3]
        int64_t dk[3]
        int64_t dv[3]
    int fg_sdpa_strided_f32(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay, const float *q,
                            const float *k, const float *v, const void *mask, float *out,
                            float *lse, int nthreads)
    int fg_sdpa_strided_f64(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay,
                            const double *q, const double *k, const double *v,
                            const void *mask, double *out, double *lse, int nthreads)
    int fg_sdpa_bwd_strided_f32(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay,
                                const float *q, const float *k, const float *v,
                                const void *mask, const float *out, const float *lse,
                                const float *g, float *dq, float *dk, float *dv, int nthreads)
    int fg_sdpa_bwd_strided_f64(const fg_sdpa_shape *sh, const fg_sdpa_layout *lay,
                                const double *q, const double *k, const double *v,
                                const void *mask, const double *out, const double *lse,
                                const double *g, double *dq, double *dk, double *dv,
                                int nthreads)
    int fg_sdpa_f32(const fg_sdpa_shape *sh, const float *q, const float *k, const float *v,
                    const void *mask, float *out, float *lse, int nthreads)
    int fg_sdpa_f64(const fg_sdpa_shape *sh, const double *q, const double *k,
                    const double *v, const void *mask, double *out, double *lse, int nthreads)
    int fg_sdpa_bwd_f32(const fg_sdpa_shape *sh, const float *q, const float *k,
                        const float *v, const void *mask, const float *out, const float *lse,
                        const float *g, float *dq, float *dk, float *dv, int nthreads)
    int fg_sdpa_bwd_f64(const fg_sdpa_shape *sh, const double *q, const double *k,
                        const double *v, const void *mask, const double *out,
                        const double *lse, const double *g, double *dq, double *dk,
                        double *dv, int nthreads)


cdef cnp.ndarray _heads_arr(object x, str op, int64_t *st):
    """A 4-d x (batch, heads, rows, features) as the kernel reads it: in place when its
    features are contiguous, its strides non-negative and its rows at least a row apart,
    else a dense copy.  st receives the (batch, head, row) element strides (a row stride
    of at least 1, and at least the row's length)."""
    cdef cnp.ndarray a = _arr(x, op, False)
    cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(a)
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(a)
    cdef cnp.npy_intp *bs = cnp.PyArray_STRIDES(a)
    cdef int d
    cdef bint ok = cnp.PyArray_SIZE(a) == 0 or (
        (dims[3] <= 1 or bs[3] == isz) and (dims[2] <= 1 or bs[2] >= dims[3] * isz))
    for d in range(4):
        if dims[d] > 1 and (bs[d] < 0 or bs[d] % isz):
            ok = False
    if not ok:
        a = _dense(a, op)
        bs = cnp.PyArray_STRIDES(a)
    for d in range(3):
        st[d] = 0 if dims[d] <= 1 or cnp.PyArray_SIZE(a) == 0 else bs[d] // isz
    if st[2] < dims[3]:
        st[2] = dims[3]
    if st[2] < 1:
        st[2] = 1
    return a


cdef cnp.ndarray _heads_empty(str op, tuple shape, dt, bint heads_last, int64_t *st):
    """A new (batch, heads, rows, features) array: dense, or with heads_last a view of a
    dense (batch, rows, heads, features) one; st as _heads_arr gives it."""
    cdef cnp.ndarray a
    if heads_last:
        a = _empty_checked(op, (shape[0], shape[2], shape[1], shape[3]), dt).transpose(0, 2, 1, 3)
    else:
        a = _empty_checked(op, shape, dt)
    return _heads_arr(a, op, st)


cdef bint _is_heads_last(cnp.ndarray x) noexcept:
    """Whether x (4-d) steps over heads by less than over rows (a head-split view of
    (batch, rows, heads * features) data)."""
    return x.shape[1] > 1 and x.shape[2] > 1 and 0 <= x.strides[1] < x.strides[2]


cdef tuple _sdpa_setup(fg_sdpa_shape *sh, fg_sdpa_layout *lay, cnp.ndarray q, cnp.ndarray k,
                       cnp.ndarray v, mask, double scale, bint causal, str op):
    """Fills sh and the q, k, v strides of lay from q, k, v and the mask; returns
    (q, k, v, mask) as read."""
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"{op}: expected 4-d query, key and value, got {_sh(q)}, {_sh(k)}, {_sh(v)}")
    q = _heads_arr(q, op, lay.q)
    k = _heads_arr(k, op, lay.k)
    v = _heads_arr(v, op, lay.v)
    if cnp.PyArray_TYPE(k) != cnp.PyArray_TYPE(q) or cnp.PyArray_TYPE(v) != cnp.PyArray_TYPE(q):
        raise TypeError(f"{op}: query, key and value have dtypes {q.dtype}, {k.dtype}, {v.dtype}")
    B, H, L, E = _sh(q)
    Hk, S = k.shape[1], k.shape[2]
    if (_sh(k) != (B, Hk, S, E) or _sh(v)[:3] != (B, Hk, S) or Hk < 1 or H < 1 or H % Hk):
        raise ValueError(f"{op}: shapes query {_sh(q)}, key {_sh(k)}, value {_sh(v)} do not match")
    sh.batch, sh.hq, sh.hk, sh.l, sh.s, sh.e, sh.ev = B, H, Hk, L, S, E, v.shape[3]
    sh.scale = scale
    sh.causal = 1 if causal else 0
    sh.mask = FG_SDPA_MASK_NONE
    sh.ms[0] = sh.ms[1] = sh.ms[2] = sh.ms[3] = 0
    cdef cnp.ndarray m = None
    cdef int d
    if mask is not None:
        m = _arr(mask, op, True)
        full = (B, H, L, S)
        if m.ndim != 4 or [n for n, f in zip(_sh(m), full) if n not in (1, f)]:
            raise ValueError(f"{op}: mask of shape {_sh(m)} does not broadcast to {full}")
        if m.dtype == np.bool_:
            sh.mask = FG_SDPA_MASK_BOOL
        elif m.dtype == q.dtype:
            sh.mask = FG_SDPA_MASK_ADD
        else:
            raise TypeError(f"{op}: mask has dtype {m.dtype}, expected bool or {q.dtype}")
        for d in range(4):
            sh.ms[d] = 0 if m.shape[d] == 1 else (<object>m).strides[d] // m.itemsize
    return q, k, v, m


def sdpa(cnp.ndarray q, cnp.ndarray k, cnp.ndarray v, mask, double scale, bint causal):
    """(out (B, H, L, Ev), lse (B, H, L)) of softmax(scale q k^T + mask) v for q (B, H, L, E),
    k (B, Hk, S, E), v (B, Hk, S, Ev) (H a multiple of Hk); see csrc/attention.h.  out is
    dense."""
    return _sdpa(q, k, v, mask, scale, causal, False)


def sdpa_heads(cnp.ndarray q, cnp.ndarray k, cnp.ndarray v, mask, double scale, bint causal):
    """sdpa, whose out is a (B, H, L, Ev) view of a dense (B, L, H, Ev) array when q is a
    head-split view (_is_heads_last), so that merging the heads back is a view too."""
    return _sdpa(q, k, v, mask, scale, causal, True)


cdef tuple _sdpa(cnp.ndarray q, cnp.ndarray k, cnp.ndarray v, mask, double scale, bint causal,
                 bint heads_last):
    cdef fg_sdpa_shape sh
    cdef fg_sdpa_layout lay
    q, k, v, m = _sdpa_setup(&sh, &lay, q, k, v, mask, scale, causal,
                             "scaled_dot_product_attention")
    cdef int is64 = _is64(q, "scaled_dot_product_attention")
    dt = (<object>q).dtype
    cdef cnp.ndarray out = _heads_empty("scaled_dot_product_attention",
                                        (sh.batch, sh.hq, sh.l, sh.ev), dt,
                                        heads_last and _is_heads_last(q), lay.o)
    cdef cnp.ndarray lse = _empty_checked("scaled_dot_product_attention", (sh.batch, sh.hq, sh.l), dt)
    cdef void *qp = cnp.PyArray_DATA(q)
    cdef void *kp = cnp.PyArray_DATA(k)
    cdef void *vp = cnp.PyArray_DATA(v)
    cdef void *mp = _ptr(m)
    cdef void *op = cnp.PyArray_DATA(out)
    cdef void *lp = cnp.PyArray_DATA(lse)
    cdef int st
    with nogil:
        if is64:
            st = fg_sdpa_strided_f64(&sh, &lay, <double*>qp, <double*>kp, <double*>vp, mp,
                                     <double*>op, <double*>lp, NT)
        else:
            st = fg_sdpa_strided_f32(&sh, &lay, <float*>qp, <float*>kp, <float*>vp, mp,
                                     <float*>op, <float*>lp, NT)
    _chk(st, "scaled_dot_product_attention")
    return out, lse


def sdpa_bwd(cnp.ndarray g, cnp.ndarray q, cnp.ndarray k, cnp.ndarray v, mask, cnp.ndarray out,
             cnp.ndarray lse, double scale, bint causal):
    """(dq, dk, dv) of sdpa for the output gradient g, from the forward's out and lse; dense."""
    return _sdpa_bwd(g, q, k, v, mask, out, lse, scale, causal, False)


def sdpa_bwd_heads(cnp.ndarray g, cnp.ndarray q, cnp.ndarray k, cnp.ndarray v, mask,
                   cnp.ndarray out, cnp.ndarray lse, double scale, bint causal):
    """sdpa_bwd, whose gradient of each head-split operand (_is_heads_last) is a view of a
    dense (B, rows, heads, features) array, in the operand's layout."""
    return _sdpa_bwd(g, q, k, v, mask, out, lse, scale, causal, True)


cdef tuple _sdpa_bwd(cnp.ndarray g, cnp.ndarray q, cnp.ndarray k, cnp.ndarray v, mask,
                     cnp.ndarray out, cnp.ndarray lse, double scale, bint causal,
                     bint heads_last):
    cdef str name = "scaled_dot_product_attention_backward"
    cdef fg_sdpa_shape sh
    cdef fg_sdpa_layout lay
    cdef bint hq = heads_last and _is_heads_last(q)
    cdef bint hk = heads_last and _is_heads_last(k)
    cdef bint hv = heads_last and _is_heads_last(v)
    q, k, v, m = _sdpa_setup(&sh, &lay, q, k, v, mask, scale, causal, name)
    cdef int is64 = _is64(q, name)
    cdef tuple osh = (sh.batch, sh.hq, sh.l, sh.ev)
    if out.ndim != 4 or _sh(out) != osh or g.ndim != 4 or _sh(g) != osh:
        raise ValueError(f"{name}: out {_sh(out)} and gradient {_sh(g)} must have shape {osh}")
    out = _heads_arr(out, name, lay.o)
    g = _heads_arr(g, name, lay.g)
    if cnp.PyArray_TYPE(out) != cnp.PyArray_TYPE(q) or cnp.PyArray_TYPE(g) != cnp.PyArray_TYPE(q):
        raise TypeError(f"{name}: out and gradient have dtypes {out.dtype}, {g.dtype}, expected {q.dtype}")
    lse = _same(lse, q, (sh.batch, sh.hq, sh.l), name, "lse")
    dt = (<object>q).dtype
    cdef cnp.ndarray dq = _heads_empty(name, _sh(q), dt, hq, lay.dq)
    cdef cnp.ndarray dk = _heads_empty(name, _sh(k), dt, hk, lay.dk)
    cdef cnp.ndarray dv = _heads_empty(name, _sh(v), dt, hv, lay.dv)
    cdef void *qp = cnp.PyArray_DATA(q)
    cdef void *kp = cnp.PyArray_DATA(k)
    cdef void *vp = cnp.PyArray_DATA(v)
    cdef void *mp = _ptr(m)
    cdef void *op = cnp.PyArray_DATA(out)
    cdef void *lp = cnp.PyArray_DATA(lse)
    cdef void *gp = cnp.PyArray_DATA(g)
    cdef void *dqp = cnp.PyArray_DATA(dq)
    cdef void *dkp = cnp.PyArray_DATA(dk)
    cdef void *dvp = cnp.PyArray_DATA(dv)
    cdef int st
    with nogil:
        if is64:
            st = fg_sdpa_bwd_strided_f64(&sh, &lay, <double*>qp, <double*>kp, <double*>vp, mp,
                                         <double*>op, <double*>lp, <double*>gp, <double*>dqp,
                                         <double*>dkp, <double*>dvp, NT)
        else:
            st = fg_sdpa_bwd_strided_f32(&sh, &lay, <float*>qp, <float*>kp, <float*>vp, mp,
                                         <float*>op, <float*>lp, <float*>gp, <float*>dqp,
                                         <float*>dkp, <float*>dvp, NT)
    _chk(st, name)
    return dq, dk, dv


def _sdpa_operands(int kind, shape, lin):
    """The operands of a compiled attention step (csrc/plan.h, FG_P_SDPA / FG_P_SDPA_BWD)
    for _plan.pxi's validation: lin(slot, elements, type, required); type "B" is bytes."""
    if len(shape) < 13 or any(int(x) < 0 for x in shape[:13]):
        raise ValueError(f"attention geometry {shape} needs 13 non-negative values")
    B, H, Hk, L, S, E, Ev, causal, mk = (int(x) for x in shape[:9])
    if H < 1 or Hk < 1 or H % Hk or causal not in (0, 1) or mk not in (0, 1, 2):
        raise ValueError(f"attention geometry {shape} is inconsistent")
    nq, nk, no, nl = B * H * L * E, B * Hk * S * E, B * H * L * Ev, B * H * L
    lin(("in", 0), nq); lin(("in", 1), nk); lin(("in", 2), B * Hk * S * Ev)
    if mk:
        ms = [int(x) for x in shape[9:13]]
        hi = sum((n - 1) * st for n, st in zip((B, H, L, S), ms)) + 1 if nl * S else 0
        lin(("in", 3), hi, "B" if mk == 1 else "T")
    if kind == FG_P_SDPA:
        lin(("out", 0), no); lin(("out", 1), nl)
    else:
        lin(("in", 4), no)
        lin(("out", 0), nq); lin(("out", 1), nk); lin(("out", 2), B * Hk * S * Ev)
        lin(("out", 3), no); lin(("out", 4), nl)
