# Wrappers for csrc/rnn.c (fused recurrent layers, rnn.h).  Included by _kernels.pyx, so
# its helpers (_is64, _dense, _chk, _sh, _same, _ptr, NT, ...) are in scope.  Inputs are
# read as dense copies where they are views; outputs are allocated here.  Shapes are
# checked by the Python layer (which names the layer and the shapes); the checks here
# keep the C layer safe whatever the caller passes.

cdef extern from "rnn.h" nogil:
    enum:
        FG_RNN_TANH, FG_RNN_RELU, FG_RNN_LSTM, FG_RNN_GRU, FG_RNN_COUNT
    int fg_rnn_gates(int mode)
    int64_t fg_rnn_ws_elems(int mode, int64_t steps, int64_t batch, int64_t hidden)
    int fg_rnn_fwd_f32(int mode, int64_t steps, int64_t batch, int64_t hidden, int reverse,
                       const int64_t *batch_sizes,
                       const float *gi, const float *w_hh, const float *b_hh, const float *h0,
                       const float *c0, float *y, float *hn, float *cn, float *ws, int nthreads)
    int fg_rnn_fwd_f64(int mode, int64_t steps, int64_t batch, int64_t hidden, int reverse,
                       const int64_t *batch_sizes,
                       const double *gi, const double *w_hh, const double *b_hh,
                       const double *h0, const double *c0, double *y, double *hn, double *cn,
                       double *ws, int nthreads)
    int fg_rnn_bwd_f32(int mode, int64_t steps, int64_t batch, int64_t hidden, int reverse,
                       const int64_t *batch_sizes,
                       const float *gy, const float *ghn, const float *gcn, const float *w_hh,
                       const float *ws, float *dgi, float *dh0, float *dc0, float *dw_hh,
                       float *db_hh, int nthreads)
    int fg_rnn_bwd_f64(int mode, int64_t steps, int64_t batch, int64_t hidden, int reverse,
                       const int64_t *batch_sizes,
                       const double *gy, const double *ghn, const double *gcn,
                       const double *w_hh, const double *ws, double *dgi, double *dh0,
                       double *dc0, double *dw_hh, double *db_hh, int nthreads)

RNN_MODES = {"RNN_TANH": FG_RNN_TANH, "RNN_RELU": FG_RNN_RELU, "LSTM": FG_RNN_LSTM,
             "GRU": FG_RNN_GRU}


def rnn_ws_elems(int mode, int64_t steps, int64_t batch, int64_t hidden):
    """Elements of the saved-state buffer of rnn_fwd (rnn.h); ValueError if invalid."""
    cdef int64_t n = fg_rnn_ws_elems(mode, steps, batch, hidden)
    if n < 0:
        raise ValueError(f"rnn: invalid mode {mode} or sizes steps={steps} batch={batch} "
                         f"hidden={hidden}")
    return n


cdef tuple _rnn_sizes(int mode, cnp.ndarray w_hh, str op):
    if mode < 0 or mode >= FG_RNN_COUNT:
        raise ValueError(f"{op}: unknown mode {mode}")
    if w_hh.ndim != 2 or w_hh.shape[1] < 1 or w_hh.shape[0] != fg_rnn_gates(mode) * w_hh.shape[1]:
        raise ValueError(f"{op}: weight_hh has shape {_sh(w_hh)}, expected "
                         f"({fg_rnn_gates(mode)} * hidden, hidden)")
    return w_hh.shape[1], w_hh.shape[0]


cdef cnp.ndarray _batch_sizes(object bs, int64_t T, int64_t B, str op):
    """batch_sizes as a dense int64 array of T values in [0, B] (None stays None)."""
    if bs is None:
        return None
    cdef cnp.ndarray a = np.ascontiguousarray(bs, dtype=np.int64)
    if a.ndim != 1 or a.shape[0] != T:
        raise ValueError(f"{op}: batch_sizes has shape {_sh(a)}, expected ({T},)")
    if T and (a.min() < 0 or a.max() > B):
        raise ValueError(f"{op}: batch_sizes must lie in [0, {B}], got {a.tolist()}")
    return a


def rnn_fwd(int mode, cnp.ndarray gi, cnp.ndarray w_hh, b_hh, h0, c0, bint reverse,
            batch_sizes=None):
    """(out, hn (B, H), ws) of one recurrent layer and direction over gi (T, B, G) = the
    input projection of every step (rnn.h).  out is y (T, B, H), or for an LSTM
    (T + 1, B, H) with out[:T] = y and out[T] = c_n.  h0, c0: None for zeros.  batch_sizes: None, or T counts of
    the leading rows that take each step (packed sequences, rnn.h)."""
    op = "rnn"
    cdef int is64 = _is64(gi, op)
    gi = _dense(gi, op)
    H, G = _rnn_sizes(mode, w_hh, op)
    if gi.ndim != 3 or gi.shape[2] != G:
        raise ValueError(f"{op}: input projection has shape {_sh(gi)}, expected (T, B, {G})")
    cdef int64_t T = gi.shape[0], B = gi.shape[1], Hc = H
    w_hh = _same(w_hh, gi, (G, H), op, "weight_hh")
    cdef cnp.ndarray bb = _same(b_hh, gi, (G,), op, "bias_hh")
    cdef cnp.ndarray h0a = _same(h0, gi, (B, H), op, "h0")
    cdef bint lstm = mode == FG_RNN_LSTM
    cdef cnp.ndarray c0a = _same(c0, gi, (B, H), op, "c0") if lstm else None
    dt = (<object>gi).dtype
    cdef cnp.ndarray bsa = _batch_sizes(batch_sizes, T, B, op)
    cdef int64_t *bsp = <int64_t *>_ptr(bsa)
    cdef int64_t nws = rnn_ws_elems(mode, T, B, Hc)
    cdef cnp.ndarray out = _empty_checked(op, (T + 1 if lstm else T, B, H), dt)
    cdef cnp.ndarray hn = _empty_checked(op, (B, H), dt)
    cdef cnp.ndarray ws = _empty_checked(op, (nws,), dt)
    cdef char *yp = <char *>cnp.PyArray_DATA(out)
    cdef void *cnp_ = <void *>(yp + T * B * Hc * (8 if is64 else 4)) if lstm else NULL
    cdef void *gp = cnp.PyArray_DATA(gi)
    cdef void *wp = cnp.PyArray_DATA(w_hh)
    cdef void *bp = _ptr(bb)
    cdef void *h0p = _ptr(h0a)
    cdef void *c0p = _ptr(c0a)
    cdef void *hnp = cnp.PyArray_DATA(hn)
    cdef void *wsp = cnp.PyArray_DATA(ws)
    cdef int st, m = mode, rv = reverse
    with nogil:
        if is64:
            st = fg_rnn_fwd_f64(m, T, B, Hc, rv, bsp, <double*>gp, <double*>wp, <double*>bp,
                                <double*>h0p, <double*>c0p, <double*>yp, <double*>hnp,
                                <double*>cnp_, <double*>wsp, NT)
        else:
            st = fg_rnn_fwd_f32(m, T, B, Hc, rv, bsp, <float*>gp, <float*>wp, <float*>bp,
                                <float*>h0p, <float*>c0p, <float*>yp, <float*>hnp,
                                <float*>cnp_, <float*>wsp, NT)
    _chk(st, op)
    return out, hn, ws


def rnn_bwd(int mode, int64_t steps, gy, ghn, gcn, cnp.ndarray w_hh, cnp.ndarray ws,
            bint reverse, bint want_h0, bint want_w, bint want_b, batch_sizes=None):
    """(dgi (T, B, G), dh0, dc0, dw_hh, db_hh) of rnn_fwd for the gradients gy (T, B, H)
    of y, ghn of h_n and gcn of c_n (LSTM), each None for zero; T = steps >= 1.  dh0 and
    dc0 (LSTM) are None unless want_h0, dw_hh unless want_w, db_hh unless want_b."""
    op = "rnn_backward"
    cdef int is64 = _is64(ws, op)
    H, G = _rnn_sizes(mode, w_hh, op)
    cdef bint lstm = mode == FG_RNN_LSTM
    cdef int64_t T = steps, Hc = H, per = rnn_ws_elems(mode, steps, 1, Hc) if steps > 0 else 0
    ws = _dense(ws, op)
    if per <= 0 or ws.ndim != 1 or ws.shape[0] % per:
        raise ValueError(f"{op}: saved state of shape {_sh(ws)} does not match {T} steps of "
                         f"hidden size {H}")
    cdef int64_t B = ws.shape[0] // per
    w_hh = _same(w_hh, ws, (G, H), op, "weight_hh")
    cdef cnp.ndarray gya = _same(gy, ws, (T, B, H), op, "output gradient")
    cdef cnp.ndarray ghna = _same(ghn, ws, (B, H), op, "h_n gradient")
    cdef cnp.ndarray gcna = _same(gcn, ws, (B, H), op, "c_n gradient") if lstm else None
    dt = (<object>ws).dtype
    cdef cnp.ndarray bsa = _batch_sizes(batch_sizes, T, B, op)
    cdef int64_t *bsp = <int64_t *>_ptr(bsa)
    cdef cnp.ndarray dgi = _empty_checked(op, (T, B, G), dt)
    cdef cnp.ndarray dh0 = _empty_checked(op, (B, H), dt) if want_h0 else None
    cdef cnp.ndarray dc0 = _empty_checked(op, (B, H), dt) if want_h0 and lstm else None
    cdef cnp.ndarray dw = _empty_checked(op, (G, H), dt) if want_w else None
    cdef cnp.ndarray db = _empty_checked(op, (G,), dt) if want_b else None
    cdef void *gyp = _ptr(gya)
    cdef void *gcp = _ptr(gcna)
    cdef void *ghp = _ptr(ghna)
    cdef void *wp = cnp.PyArray_DATA(w_hh)
    cdef void *wsp = cnp.PyArray_DATA(ws)
    cdef void *dgp = cnp.PyArray_DATA(dgi)
    cdef void *dhp = _ptr(dh0)
    cdef void *dcp = _ptr(dc0)
    cdef void *dwp = _ptr(dw)
    cdef void *dbp = _ptr(db)
    cdef int st, m = mode, rv = reverse
    with nogil:
        if is64:
            st = fg_rnn_bwd_f64(m, T, B, Hc, rv, bsp, <double*>gyp, <double*>ghp, <double*>gcp,
                                <double*>wp, <double*>wsp, <double*>dgp, <double*>dhp,
                                <double*>dcp, <double*>dwp, <double*>dbp, NT)
        else:
            st = fg_rnn_bwd_f32(m, T, B, Hc, rv, bsp, <float*>gyp, <float*>ghp, <float*>gcp,
                                <float*>wp, <float*>wsp, <float*>dgp, <float*>dhp,
                                <float*>dcp, <float*>dwp, <float*>dbp, NT)
    _chk(st, op)
    return dgi, dh0, dc0, dw, db
