# Wrappers for csrc/conv.c (convolution, pooling, batch/layer/group normalization).
# Included by _kernels.pyx, so its helpers (_is64, _dense, _chk, _sh, NT, ...) are in
# scope.  Every wrapper reads dense copies of its inputs (one strided C copy for views)
# and allocates its outputs.  Shapes are checked by the Python ops (which name the layer
# and the shapes); the checks here keep the C layer safe whatever the caller passes.

POOL = _op_table(FG_OPS_POOLING)


cdef inline void* _ptr(cnp.ndarray a):
    return NULL if a is None else cnp.PyArray_DATA(a)


cdef cnp.ndarray _same(object a, cnp.ndarray like, tuple shape, str op, str what):
    """a as a dense array of like's dtype and the given shape (None stays None)."""
    if a is None:
        return None
    cdef cnp.ndarray b = _dense(a, op)
    if cnp.PyArray_TYPE(b) != cnp.PyArray_TYPE(like):
        raise TypeError(f"{op}: {what} has dtype {b.dtype}, expected {like.dtype}")
    if _sh(b) != shape:
        raise ValueError(f"{op}: {what} has shape {_sh(b)}, expected {shape}")
    return b


def _conv_geometry(str op, tuple xshape, tuple wshape, tuple stride, tuple padding,
                   tuple dilation, oh, ow):
    """Every size and index a convolution kernel forms (its tensors, its im2col
    workspace, its window positions) stays far from int64 overflow (Python ints here)."""
    lim = 2 ** 62
    vals = [int(v) for v in xshape + wshape + stride + padding + dilation] + [int(oh), int(ow)]
    if (max(vals) >= lim or min(vals) <= -lim
            or max(_prod(xshape), _prod(wshape), _prod(xshape[:2] + (oh, ow)),
                   _prod(wshape[:2] + (oh, ow)), _prod(xshape[1:2] + wshape[2:] + (oh, ow))) >= lim
            or abs(oh * stride[0]) + abs(wshape[2] * dilation[0]) + abs(padding[0]) >= lim
            or abs(ow * stride[1]) + abs(wshape[3] * dilation[1]) + abs(padding[1]) >= lim):
        raise ValueError(f"{op}: sizes overflow: input {xshape}, weight {wshape}, output "
                         f"{(oh, ow)}, stride {stride}, padding {padding}, dilation {dilation}")


cdef int _conv_shape(fg_conv2d_shape *s, tuple xshape, tuple wshape, tuple stride,
                     tuple padding, tuple dilation, int64_t groups, int64_t oh, int64_t ow,
                     str op) except -1:
    if len(xshape) != 4 or len(wshape) != 4:
        raise ValueError(f"{op}: expected 4-d input and weight, got {xshape} and {wshape}")
    if len(stride) != 2 or len(padding) != 2 or len(dilation) != 2:
        raise ValueError(f"{op}: stride {stride}, padding {padding} and dilation {dilation} "
                         f"must be pairs")
    _conv_geometry(op, xshape, wshape, stride, padding, dilation, oh, ow)
    s.n, s.c_in, s.h, s.w = xshape
    s.c_out, _, s.kh, s.kw = wshape
    s.oh = oh; s.ow = ow
    s.sh, s.sw = stride
    s.ph, s.pw = padding
    s.dh, s.dw = dilation
    s.groups = groups
    if (groups < 1 or s.c_in % groups or s.c_out % groups or wshape[1] * groups != s.c_in
            or s.sh < 1 or s.sw < 1 or s.dh < 1 or s.dw < 1 or s.ph < 0 or s.pw < 0
            or oh < 0 or ow < 0):
        raise ValueError(f"{op}: inconsistent arguments: input {xshape}, weight {wshape}, "
                         f"stride {stride}, padding {padding}, dilation {dilation}, groups {groups}")
    return 0



def conv2d(cnp.ndarray x, cnp.ndarray w, bias, tuple stride, tuple padding, tuple dilation,
           int64_t groups, int64_t oh, int64_t ow):
    """y (n, c_out, oh, ow) = conv(x (n, c_in, h, w), w (c_out, c_in/groups, kh, kw)) + bias;
    padding is the top/left one, (oh, ow) fix the bottom/right extent."""
    cdef int is64 = _is64(x, "conv2d")
    x = _dense(x, "conv2d")
    w = _same(w, x, _sh(w), "conv2d", "weight")
    cdef fg_conv2d_shape s
    _conv_shape(&s, _sh(x), _sh(w), stride, padding, dilation, groups, oh, ow, "conv2d")
    cdef cnp.ndarray b = _same(bias, x, (s.c_out,), "conv2d", "bias")
    cdef cnp.ndarray y = _empty_checked("conv2d", (s.n, s.c_out, oh, ow), (<object>x).dtype)
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *wp = cnp.PyArray_DATA(w)
    cdef void *bp = _ptr(b)
    cdef void *yp = cnp.PyArray_DATA(y)
    cdef int st
    with nogil:
        if is64:
            st = fg_conv2d_f64(&s, <double*>xp, <double*>wp, <double*>bp, <double*>yp, NT)
        else:
            st = fg_conv2d_f32(&s, <float*>xp, <float*>wp, <float*>bp, <float*>yp, NT)
    _chk(st, "conv2d")
    return y


def conv2d_bwd(cnp.ndarray g, x, w, tuple xshape, tuple wshape, tuple stride, tuple padding,
               tuple dilation, int64_t groups, bint want_gx, bint want_gw, bint want_gb):
    """(gx, gw, gb) of conv2d for the output gradient g; each None unless wanted.  gx needs
    w, gw needs x.  gx alone is the transposed convolution of g."""
    cdef int is64 = _is64(g, "conv2d_backward")
    g = _dense(g, "conv2d_backward")
    cdef fg_conv2d_shape s
    _conv_shape(&s, xshape, wshape, stride, padding, dilation, groups, g.shape[2] if g.ndim == 4 else -1,
                g.shape[3] if g.ndim == 4 else -1, "conv2d_backward")
    if _sh(g) != (s.n, s.c_out, s.oh, s.ow):
        raise ValueError(f"conv2d_backward: gradient shape {_sh(g)} does not match input {xshape} "
                         f"and weight {wshape}")
    cdef cnp.ndarray xa = _same(x, g, xshape, "conv2d_backward", "input") if want_gw else None
    cdef cnp.ndarray wa = _same(w, g, wshape, "conv2d_backward", "weight") if want_gx else None
    if want_gw and xa is None or want_gx and wa is None:
        raise ValueError("conv2d_backward: the input is needed for gw and the weight for gx")
    dt = (<object>g).dtype
    cdef cnp.ndarray gx = _empty_checked("conv2d_backward", xshape, dt) if want_gx else None
    cdef cnp.ndarray gw = _empty_checked("conv2d_backward", wshape, dt) if want_gw else None
    cdef cnp.ndarray gb = _empty_checked("conv2d_backward", (s.c_out,), dt) if want_gb else None
    cdef void *gp = cnp.PyArray_DATA(g)
    cdef void *xp = _ptr(xa)
    cdef void *wp = _ptr(wa)
    cdef void *gxp = _ptr(gx)
    cdef void *gwp = _ptr(gw)
    cdef void *gbp = _ptr(gb)
    cdef int st
    with nogil:
        if is64:
            st = fg_conv2d_bwd_f64(&s, <double*>xp, <double*>wp, <double*>gp, <double*>gxp,
                                   <double*>gwp, <double*>gbp, NT)
        else:
            st = fg_conv2d_bwd_f32(&s, <float*>xp, <float*>wp, <float*>gp, <float*>gxp,
                                   <float*>gwp, <float*>gbp, NT)
    _chk(st, "conv2d_backward")
    return gx, gw, gb


def _pool_geometry(str op, tuple xshape, oh, ow, tuple kernel, tuple stride, tuple padding,
                   tuple dilation):
    """Check a pooling geometry (Python ints: nothing overflows here) so that every index
    the kernel forms stays far from int64 overflow; returns the number of planes.  Values
    below their minimum (a kernel of 0, a negative padding) are the C kernel's to reject."""
    if len(kernel) != 2 or len(stride) != 2 or len(padding) != 2 or len(dilation) != 2:
        raise ValueError(f"{op}: kernel {kernel}, stride {stride}, padding {padding} and "
                         f"dilation {dilation} must be pairs")
    planes = _prod(xshape[:-2])
    h, w, oh, ow = int(xshape[-2]), int(xshape[-1]), int(oh), int(ow)
    lim = 2 ** 62
    if (min(xshape) < 0 or max(kernel + stride + dilation + padding) >= lim
            or min(kernel + stride + dilation + padding) <= -lim
            or h + 2 * padding[0] >= lim or w + 2 * padding[1] >= lim
            or (oh + 1) * stride[0] >= lim or (ow + 1) * stride[1] >= lim
            or planes * max(h * w, oh * ow, 1) >= lim):
        raise ValueError(f"{op}: invalid geometry: input {xshape}, output {(oh, ow)}, kernel "
                         f"{kernel}, stride {stride}, padding {padding}, dilation {dilation}")
    return planes


cdef int _pool_shape(fg_pool2d_shape *s, tuple xshape, int64_t oh, int64_t ow, tuple kernel,
                     tuple stride, tuple padding, tuple dilation, bint cip, str op) except -1:
    if len(xshape) < 2:
        raise ValueError(f"{op}: expected at least 2 dimensions, got shape {xshape}")
    planes = _pool_geometry(op, xshape, oh, ow, kernel, stride, padding, dilation)
    s.planes = planes
    s.h = xshape[len(xshape) - 2]
    s.w = xshape[len(xshape) - 1]
    s.oh = oh; s.ow = ow
    s.kh, s.kw = kernel
    s.sh, s.sw = stride
    s.ph, s.pw = padding
    s.dh, s.dw = dilation
    s.count_include_pad = cip
    return 0


def pool2d(int op, cnp.ndarray x, int64_t oh, int64_t ow, tuple kernel=(1, 1), tuple stride=(1, 1),
           tuple padding=(0, 0), tuple dilation=(1, 1), bint count_include_pad=True):
    """Pooling over the last two dims: returns (y (..., oh, ow), idx) with idx the int64
    argmax positions (h * w_in + w) for POOL["max"], else None."""
    name = "max_pool2d" if op == FG_POOLING_MAX else "avg_pool2d"
    cdef int is64 = _is64(x, name)
    x = _dense(x, name)
    cdef fg_pool2d_shape s
    _pool_shape(&s, _sh(x), oh, ow, kernel, stride, padding, dilation, count_include_pad, name)
    oshape = _sh(x)[:-2] + (oh, ow)
    cdef cnp.ndarray y = _empty_checked(name, oshape, (<object>x).dtype)
    cdef cnp.ndarray idx = _empty_checked(name, oshape, np.int64) if op == FG_POOLING_MAX else None
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *yp = cnp.PyArray_DATA(y)
    cdef int64_t *ip = <int64_t*>_ptr(idx)
    cdef int st
    with nogil:
        if is64:
            st = fg_pool2d_f64(op, &s, <double*>xp, <double*>yp, ip, NT)
        else:
            st = fg_pool2d_f32(op, &s, <float*>xp, <float*>yp, ip, NT)
    _chk(st, name)
    return y, idx


def pool2d_bwd(int op, cnp.ndarray g, idx, tuple xshape, tuple kernel=(1, 1), tuple stride=(1, 1),
               tuple padding=(0, 0), tuple dilation=(1, 1), bint count_include_pad=True):
    """gx (xshape) = the adjoint of pool2d applied to g (..., oh, ow)."""
    name = "max_pool2d_backward" if op == FG_POOLING_MAX else "avg_pool2d_backward"
    cdef int is64 = _is64(g, name)
    g = _dense(g, name)
    if g.ndim != len(xshape) or _sh(g)[:-2] != xshape[:-2]:
        raise ValueError(f"{name}: gradient shape {_sh(g)} does not match input shape {xshape}")
    cdef fg_pool2d_shape s
    _pool_shape(&s, xshape, g.shape[g.ndim - 2], g.shape[g.ndim - 1], kernel, stride, padding,
                dilation, count_include_pad, name)
    cdef cnp.ndarray ia = None
    if op == FG_POOLING_MAX:
        ia = _dense(np.asarray(idx, dtype=np.int64), name)
        if _sh(ia) != _sh(g):
            raise ValueError(f"{name}: indices shape {_sh(ia)} does not match gradient {_sh(g)}")
    cdef cnp.ndarray gx = _empty_checked(name, xshape, (<object>g).dtype)
    cdef void *gp = cnp.PyArray_DATA(g)
    cdef void *gxp = cnp.PyArray_DATA(gx)
    cdef int64_t *ip = <int64_t*>_ptr(ia)
    cdef int st
    with nogil:
        if is64:
            st = fg_pool2d_bwd_f64(op, &s, <double*>gp, ip, <double*>gxp, NT)
        else:
            st = fg_pool2d_bwd_f32(op, &s, <float*>gp, ip, <float*>gxp, NT)
    if st == FG_EINVAL and op == FG_POOLING_MAX:
        raise IndexError(f"{name}: an index lies outside the {xshape[-2]}x{xshape[-1]} input plane")
    _chk(st, name)
    return gx


cdef tuple _ncs(cnp.ndarray x, str op):
    if x.ndim < 2:
        raise ValueError(f"{op}: expected input of at least 2 dimensions (N, C, ...), got shape {_sh(x)}")
    cdef int64_t s = 1
    for v in _sh(x)[2:]:
        s *= v
    return x.shape[0], x.shape[1], s


def bn_stats(cnp.ndarray x):
    """Per-channel mean and biased variance of x (N, C, ...)."""
    cdef int is64 = _is64(x, "batch_norm")
    x = _dense(x, "batch_norm")
    cdef int64_t n, c, s
    n, c, s = _ncs(x, "batch_norm")
    dt = (<object>x).dtype
    cdef cnp.ndarray mean = _empty_checked("batch_norm", (c,), dt)
    cdef cnp.ndarray var = _empty_checked("batch_norm", (c,), dt)
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *mp = cnp.PyArray_DATA(mean)
    cdef void *vp = cnp.PyArray_DATA(var)
    cdef int st
    with nogil:
        if is64:
            st = fg_bn_stats_f64(n, c, s, <double*>xp, <double*>mp, <double*>vp, NT)
        else:
            st = fg_bn_stats_f32(n, c, s, <float*>xp, <float*>mp, <float*>vp, NT)
    _chk(st, "batch_norm")
    return mean, var


def bn_apply(cnp.ndarray x, cnp.ndarray mean, cnp.ndarray invstd, w, b):
    """y = (x - mean[c]) * invstd[c] * w[c] + b[c] for x (N, C, ...)."""
    cdef int is64 = _is64(x, "batch_norm")
    x = _dense(x, "batch_norm")
    cdef int64_t n, c, s
    n, c, s = _ncs(x, "batch_norm")
    mean = _same(mean, x, (c,), "batch_norm", "mean")
    invstd = _same(invstd, x, (c,), "batch_norm", "invstd")
    cdef cnp.ndarray wa = _same(w, x, (c,), "batch_norm", "weight")
    cdef cnp.ndarray ba = _same(b, x, (c,), "batch_norm", "bias")
    cdef cnp.ndarray y = _empty_like(x, "batch_norm")
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *mp = cnp.PyArray_DATA(mean)
    cdef void *ip = cnp.PyArray_DATA(invstd)
    cdef void *wp = _ptr(wa)
    cdef void *bp = _ptr(ba)
    cdef void *yp = cnp.PyArray_DATA(y)
    cdef int st
    with nogil:
        if is64:
            st = fg_bn_apply_f64(n, c, s, <double*>xp, <double*>mp, <double*>ip, <double*>wp,
                                 <double*>bp, <double*>yp, NT)
        else:
            st = fg_bn_apply_f32(n, c, s, <float*>xp, <float*>mp, <float*>ip, <float*>wp,
                                 <float*>bp, <float*>yp, NT)
    _chk(st, "batch_norm")
    return y


def bn_bwd(cnp.ndarray x, cnp.ndarray g, cnp.ndarray mean, cnp.ndarray invstd, w, bint training,
           bint want_gx, bint want_gw, bint want_gb):
    """(gx, gw, gb) of bn_apply; training: mean/invstd are the batch's (their gradient
    flows into gx).  Unwanted outputs are None."""
    cdef int is64 = _is64(x, "batch_norm_backward")
    x = _dense(x, "batch_norm_backward")
    cdef int64_t n, c, s
    n, c, s = _ncs(x, "batch_norm_backward")
    g = _same(g, x, _sh(x), "batch_norm_backward", "gradient")
    mean = _same(mean, x, (c,), "batch_norm_backward", "mean")
    invstd = _same(invstd, x, (c,), "batch_norm_backward", "invstd")
    cdef cnp.ndarray wa = _same(w, x, (c,), "batch_norm_backward", "weight")
    dt = (<object>x).dtype
    cdef cnp.ndarray gx = _empty_like(x, "batch_norm_backward") if want_gx else None
    cdef cnp.ndarray gw = _empty_checked("batch_norm_backward", (c,), dt) if want_gw else None
    cdef cnp.ndarray gb = _empty_checked("batch_norm_backward", (c,), dt) if want_gb else None
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *gp = cnp.PyArray_DATA(g)
    cdef void *mp = cnp.PyArray_DATA(mean)
    cdef void *ip = cnp.PyArray_DATA(invstd)
    cdef void *wp = _ptr(wa)
    cdef void *gxp = _ptr(gx)
    cdef void *gwp = _ptr(gw)
    cdef void *gbp = _ptr(gb)
    cdef int tr = training
    cdef int st
    with nogil:
        if is64:
            st = fg_bn_bwd_f64(n, c, s, <double*>xp, <double*>gp, <double*>mp, <double*>ip,
                               <double*>wp, tr, <double*>gxp, <double*>gwp, <double*>gbp, NT)
        else:
            st = fg_bn_bwd_f32(n, c, s, <float*>xp, <float*>gp, <float*>mp, <float*>ip,
                               <float*>wp, tr, <float*>gxp, <float*>gwp, <float*>gbp, NT)
    _chk(st, "batch_norm_backward")
    return gx, gw, gb


cdef int _rn_check(cnp.ndarray x, int64_t d, int64_t groups, int64_t s, str op) except -1:
    if d < 1 or s < 1 or groups < 1 or d % s or x.size % d:
        raise ValueError(f"{op}: cannot normalize input of shape {_sh(x)} in rows of {d} "
                         f"(groups {groups}, inner size {s})")
    if (x.size // d) % groups:
        raise ValueError(f"{op}: {x.size // d} rows are not a multiple of {groups} groups")
    return 0


def rownorm(cnp.ndarray x, int64_t d, int64_t groups, int64_t s, w, b, double eps):
    """(y, mean, rstd): x viewed as (rows, d) normalized per row, then the affine w/b
    indexed by ((row % groups) * d + j) // s (layer norm: groups = s = 1)."""
    cdef int is64 = _is64(x, "layer_norm")
    x = _dense(x, "layer_norm")
    _rn_check(x, d, groups, s, "layer_norm")
    cdef int64_t rows = x.size // d, na = groups * d // s
    cdef cnp.ndarray wa = None if w is None else _same(np.reshape(w, -1), x, (na,), "layer_norm", "weight")
    cdef cnp.ndarray ba = None if b is None else _same(np.reshape(b, -1), x, (na,), "layer_norm", "bias")
    dt = (<object>x).dtype
    cdef cnp.ndarray y = _empty_like(x, "layer_norm")
    cdef cnp.ndarray mean = _empty_checked("layer_norm", (rows,), dt)
    cdef cnp.ndarray rstd = _empty_checked("layer_norm", (rows,), dt)
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *wp = _ptr(wa)
    cdef void *bp = _ptr(ba)
    cdef void *yp = cnp.PyArray_DATA(y)
    cdef void *mp = cnp.PyArray_DATA(mean)
    cdef void *rp = cnp.PyArray_DATA(rstd)
    cdef int st
    with nogil:
        if is64:
            st = fg_rownorm_f64(rows, d, groups, s, <double*>xp, <double*>wp, <double*>bp, eps,
                                <double*>yp, <double*>mp, <double*>rp, NT)
        else:
            st = fg_rownorm_f32(rows, d, groups, s, <float*>xp, <float*>wp, <float*>bp, eps,
                                <float*>yp, <float*>mp, <float*>rp, NT)
    _chk(st, "layer_norm")
    return y, mean, rstd


def rownorm_bwd(cnp.ndarray x, cnp.ndarray g, cnp.ndarray mean, cnp.ndarray rstd, w, int64_t d,
                int64_t groups, int64_t s, bint want_gx, bint want_gw, bint want_gb):
    """(gx, gw, gb) of rownorm (gw, gb flat, groups * d // s values); unwanted are None."""
    cdef int is64 = _is64(x, "layer_norm_backward")
    x = _dense(x, "layer_norm_backward")
    _rn_check(x, d, groups, s, "layer_norm_backward")
    cdef int64_t rows = x.size // d, na = groups * d // s
    g = _same(g, x, _sh(x), "layer_norm_backward", "gradient")
    mean = _same(mean, x, (rows,), "layer_norm_backward", "mean")
    rstd = _same(rstd, x, (rows,), "layer_norm_backward", "rstd")
    cdef cnp.ndarray wa = None if w is None else _same(np.reshape(w, -1), x, (na,), "layer_norm_backward", "weight")
    dt = (<object>x).dtype
    cdef cnp.ndarray gx = _empty_like(x, "layer_norm_backward") if want_gx else None
    cdef cnp.ndarray gw = _empty_checked("layer_norm_backward", (na,), dt) if want_gw else None
    cdef cnp.ndarray gb = _empty_checked("layer_norm_backward", (na,), dt) if want_gb else None
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *gp = cnp.PyArray_DATA(g)
    cdef void *mp = cnp.PyArray_DATA(mean)
    cdef void *rp = cnp.PyArray_DATA(rstd)
    cdef void *wp = _ptr(wa)
    cdef void *gxp = _ptr(gx)
    cdef void *gwp = _ptr(gw)
    cdef void *gbp = _ptr(gb)
    cdef int st
    with nogil:
        if is64:
            st = fg_rownorm_bwd_f64(rows, d, groups, s, <double*>xp, <double*>gp, <double*>mp,
                                    <double*>rp, <double*>wp, <double*>gxp, <double*>gwp,
                                    <double*>gbp, NT)
        else:
            st = fg_rownorm_bwd_f32(rows, d, groups, s, <float*>xp, <float*>gp, <float*>mp,
                                    <float*>rp, <float*>wp, <float*>gxp, <float*>gwp,
                                    <float*>gbp, NT)
    _chk(st, "layer_norm_backward")
    return gx, gw, gb
