"""The recorder of fastgrad.compile: the kernel backend while a trace runs.  Each kernel
function calls the C kernel and, for the tracing thread, records the call as a plan step
(its ``_r_*`` record function: operands as buffer references, the geometry and thread
flag the C wrapper used), so that the plan replays exactly the kernels eager execution
ran."""
import numpy as np

from fastgrad._C import _kernels as _K
from fastgrad.compile._common import _GEMM_PAR, _NOGIL_MIN, _is64, _root, _Unsupported


def _operand(x):
    """(trans, ld) for the GEMM's view of a 2-D array, as the C wrapper decides, or None."""
    isz = x.itemsize
    r, c = x.shape[-2:]
    sr, sc = x.strides[-2:]
    if sr % isz or sc % isz:
        return None
    sr //= isz
    sc //= isz
    if (sc == 1 or c <= 1) and (sr >= c or r <= 1) and sr >= 0:
        ld = sr if r > 1 else (c if c > 1 else 1)
        return 0, max(ld, c, 1)
    if (sr == 1 or r <= 1) and (sc >= r or c <= 1) and sc >= 0:
        ld = sc if c > 1 else (r if r > 1 else 1)
        return 1, max(ld, r, 1)
    return None


class Recorder:
    """The kernel backend while tracing (an implementation of
    ``fastgrad._backend.KernelBackend``): each function calls the C kernel, then, for the
    tracing thread, records the call.  Kernels outside the supported set make the trace
    unsupported.  Names outside the interface (the C module's op-code tables, its
    configuration functions) are the C module's."""

    _PASS = {"have_openmp", "omp_max_threads", "get_isa", "cpu_best_isa", "TargetIndexError"}

    def __init__(self, tr):
        self._tr = tr

    def __getattr__(self, name):
        real = getattr(_K, name)
        if name in self._PASS or not callable(real) or isinstance(real, type):
            return real

        def unsupported(*a, **k):
            return self._refuse(name, real(*a, **k))
        return unsupported

    def _refuse(self, name, res):
        tr = self._tr
        if tr.mine():
            try:
                tr.fail(f"kernel {name!r} is not supported in compiled functions yet")
            except _Unsupported:
                pass
        return res

    def _rec(self, fn, *a):
        tr = self._tr
        if tr.mine():
            try:
                fn(tr, *a)
            except _Unsupported:
                pass          # fallback mode: the eager run goes on, the signature runs eagerly

    # threads
    def get_num_threads(self):
        return _K.get_num_threads()

    def set_num_threads(self, n):
        return _K.set_num_threads(n)

    # kernels no plan step replays: run, and make the trace unsupported
    def compare(self, op, a, b):
        out = _K.compare(op, a, b)
        self._rec(_r_compare, out, op, a, b)
        return out

    def where(self, c, a, b):
        out = _K.where(c, a, b)
        self._rec(_r_where, out, c, a, b)
        return out

    def argreduce(self, op, x, dim):
        res = _K.argreduce(op, x, dim)
        self._rec(_r_argreduce, res, op, x, dim)
        return res

    def prod(self, x, dim):
        out = _K.prod(x, dim)
        self._rec(_r_prod, out, x, dim)
        return out

    def scan(self, op, x, dim, reverse=False):
        out = _K.scan(op, x, dim, reverse)
        self._rec(_r_scan, out, op, x, dim, reverse)
        return out

    def sort(self, x, dim, descending=False):
        res = _K.sort(x, dim, descending)
        self._rec(_r_sort, res, x, dim, 0, x.shape[dim], descending)
        return res

    def topk(self, x, k, dim, largest=True):
        res = _K.topk(x, k, dim, largest)
        self._rec(_r_sort, res, x, dim, 1, k, largest)
        return res

    def index_select(self, x, dim, idx, wrap=False, op="index_select"):
        out = _K.index_select(x, dim, idx, wrap, op)
        self._rec(_r_index_select, out, x, dim, idx, wrap, op)
        return out

    def index_add(self, out, dim, idx, src, wrap=False, op="index_add"):
        # an array no traced kernel made (the zeros a backward allocates) must hold zeros
        # now: the plan fills it before adding
        tr = self._tr
        fresh = (tr.mine() and id(_root(out)) not in tr.bufs and id(_root(out)) not in tr.pre
                 and id(_root(out)) not in tr.inputs)
        zero = fresh and out.dtype.kind == "f" and not out.any()
        res = _K.index_add(out, dim, idx, src, wrap, op)
        self._rec(_r_index_add, out, dim, idx, src, wrap, op, fresh, zero)
        return res

    def gather(self, x, dim, idx, op="gather"):
        out = _K.gather(x, dim, idx, op)
        self._rec(_r_gather, out, x, dim, idx, op)
        return out

    def scatter_add(self, out, dim, idx, src, accumulate=True, op="scatter_add"):
        fresh, zero = self._fresh_zero(out)
        res = _K.scatter_add(out, dim, idx, src, accumulate, op)
        self._rec(_r_scatter_add, out, dim, idx, src, accumulate, op, fresh, zero)
        return res

    def _fresh_zero(self, out):
        """(fresh, zero) for an array an index kernel adds or writes into in place: fresh
        when no traced kernel made it and the function cannot reach it (the zeros a
        backward allocates), zero when it holds zeros now (the plan fills it first)."""
        tr = self._tr
        r = id(_root(out))
        fresh = tr.mine() and r not in tr.bufs and r not in tr.pre and r not in tr.inputs
        return fresh, fresh and out.dtype.kind == "f" and not out.any()

    def masked_select(self, x, mask, op="masked_select"):
        return self._refuse("masked_select", _K.masked_select(x, mask, op))

    def masked_expand(self, src, mask, op="masked_expand"):
        return self._refuse("masked_expand", _K.masked_expand(src, mask, op))

    # elementwise
    def unary(self, op, x, alpha=0.0, beta=0.0):
        y = _K.unary(op, x, alpha, beta)
        self._rec(_r_unary, y, op, x, alpha, beta)
        return y

    def unary_bwd(self, op, g, x, y, alpha=0.0, beta=0.0):
        gx = _K.unary_bwd(op, g, x, y, alpha, beta)
        self._rec(_r_unary_bwd, gx, op, g, x, y, alpha, beta)
        return gx

    def binary(self, op, a, b):
        out = _K.binary(op, a, b)
        self._rec(_r_binary, out, op, a, b)
        return out

    def copy(self, x):
        out = _K.copy(x)
        self._rec(_r_copy, out, x)
        return out

    def contiguous(self, x):
        out = _K.contiguous(x)
        if out is not x:
            self._rec(lambda tr, out, x: tr._copy_step(x, out, "contiguous"), out, x)
        return out

    def reduce(self, op, x, dims):
        out = _K.reduce(op, x, dims)
        self._rec(_r_reduce, out, op, x, dims)
        return out

    def softmax(self, x, dim, log):
        y = _K.softmax(x, dim, log)
        self._rec(_r_softmax, y, x, dim, log)
        return y

    def softmax_bwd(self, g, y, dim, log):
        gx = _K.softmax_bwd(g, y, dim, log)
        self._rec(_r_softmax_bwd, gx, g, y, dim, log)
        return gx

    def xent(self, x, target, ignore_index, label_smoothing):
        loss, lsm = _K.xent(x, target, ignore_index, label_smoothing)
        self._rec(_r_xent, (loss, lsm), x, target, ignore_index, label_smoothing)
        return loss, lsm

    def xent_bwd(self, g, lsm, target, ignore_index, label_smoothing):
        gx = _K.xent_bwd(g, lsm, target, ignore_index, label_smoothing)
        self._rec(_r_xent_bwd, gx, g, lsm, target, ignore_index, label_smoothing)
        return gx

    def nll_prep(self, t, c, ignore_index, dtype, op="nll_loss"):
        res = _K.nll_prep(t, c, ignore_index, dtype, op)
        self._rec(_r_nll_prep, res, t, c, ignore_index, op)
        return res

    def matmul(self, a, b, out=None, beta=0.0):
        res = _K.matmul(a, b, out, beta)
        self._rec(_r_matmul, res, a, b, out, beta)
        return res

    def linear(self, x, w, bias, act=None):
        out = _K.linear(x, w, bias, act)
        self._rec(_r_linear, out, x, w, bias, act)
        return out


    # convolution, pooling, normalization (conv.h): each wrapper calls its C kernel with
    # the full thread count, so every step is recorded with par = 1
    def conv2d(self, x, w, bias, stride, padding, dilation, groups, oh, ow):
        y = _K.conv2d(x, w, bias, stride, padding, dilation, groups, oh, ow)
        self._rec(_r_conv, y, x, w, bias, stride, padding, dilation, groups)
        return y

    def conv2d_bwd(self, g, x, w, xshape, wshape, stride, padding, dilation, groups,
                   want_gx, want_gw, want_gb):
        res = _K.conv2d_bwd(g, x, w, xshape, wshape, stride, padding, dilation, groups,
                            want_gx, want_gw, want_gb)
        self._rec(_r_conv_bwd, res, g, x, w, xshape, wshape, stride, padding, dilation, groups)
        return res

    def pool2d(self, op, x, oh, ow, kernel=(1, 1), stride=(1, 1), padding=(0, 0),
               dilation=(1, 1), count_include_pad=True):
        res = _K.pool2d(op, x, oh, ow, kernel, stride, padding, dilation, count_include_pad)
        self._rec(_r_pool, res, op, x, kernel, stride, padding, dilation, count_include_pad)
        return res

    def pool2d_bwd(self, op, g, idx, xshape, kernel=(1, 1), stride=(1, 1), padding=(0, 0),
                   dilation=(1, 1), count_include_pad=True):
        gx = _K.pool2d_bwd(op, g, idx, xshape, kernel, stride, padding, dilation,
                           count_include_pad)
        self._rec(_r_pool_bwd, gx, op, g, idx, kernel, stride, padding, dilation,
                  count_include_pad)
        return gx

    def bn_stats(self, x):
        res = _K.bn_stats(x)
        self._rec(_r_bn_stats, res, x)
        return res

    def bn_apply(self, x, mean, invstd, w, b):
        y = _K.bn_apply(x, mean, invstd, w, b)
        self._rec(_r_bn_apply, y, x, mean, invstd, w, b)
        return y

    def bn_bwd(self, x, g, mean, invstd, w, training, want_gx, want_gw, want_gb):
        res = _K.bn_bwd(x, g, mean, invstd, w, training, want_gx, want_gw, want_gb)
        self._rec(_r_bn_bwd, res, x, g, mean, invstd, w, training)
        return res

    def rownorm(self, x, d, groups, s, w, b, eps):
        res = _K.rownorm(x, d, groups, s, w, b, eps)
        self._rec(_r_rownorm, res, x, d, groups, s, w, b, eps)
        return res

    def rownorm_bwd(self, x, g, mean, rstd, w, d, groups, s, want_gx, want_gw, want_gb):
        res = _K.rownorm_bwd(x, g, mean, rstd, w, d, groups, s, want_gx, want_gw, want_gb)
        self._rec(_r_rownorm_bwd, res, x, g, mean, rstd, w, d, groups, s)
        return res

    # recurrent layers (rnn.h): packed sequences (batch_sizes) are not compiled
    def rnn_fwd(self, mode, gi, w_hh, b_hh, h0, c0, reverse, batch_sizes=None):
        res = _K.rnn_fwd(mode, gi, w_hh, b_hh, h0, c0, reverse, batch_sizes)
        if batch_sizes is not None:
            return self._refuse("rnn_fwd with batch_sizes (a packed sequence)", res)
        self._rec(_r_rnn, res, mode, gi, w_hh, b_hh, h0, c0, reverse)
        return res

    def rnn_bwd(self, mode, steps, gy, ghn, gcn, w_hh, ws, reverse, want_h0, want_w, want_b,
                batch_sizes=None):
        res = _K.rnn_bwd(mode, steps, gy, ghn, gcn, w_hh, ws, reverse, want_h0, want_w, want_b,
                         batch_sizes)
        if batch_sizes is not None:
            return self._refuse("rnn_bwd with batch_sizes (a packed sequence)", res)
        self._rec(_r_rnn_bwd, res, mode, gy, ghn, gcn, w_hh, ws, reverse)
        return res

    def sdpa(self, q, k, v, mask, scale, causal):
        res = _K.sdpa(q, k, v, mask, scale, causal)
        self._rec(_r_sdpa, res, q, k, v, mask, scale, causal)
        return res

    def sdpa_bwd(self, g, q, k, v, mask, out, lse, scale, causal):
        res = _K.sdpa_bwd(g, q, k, v, mask, out, lse, scale, causal)
        self._rec(_r_sdpa_bwd, res, g, q, k, v, mask, out, lse, scale, causal)
        return res


def _r_unary(tr, y, op, x, alpha, beta):
    name = _K.U_NAMES.get(op, "unary")
    xd = tr.dense(x, name)
    tr.add("unary", name, op=op, ins=[tr.ref(xd, name)], outs=[tr.new(y)], n=[y.size],
           s=[alpha, beta], is64=_is64(y), par=int(y.size >= _NOGIL_MIN))


def _r_unary_bwd(tr, gx, op, g, x, y, alpha, beta):
    name = _K.U_NAMES.get(op, "unary") + "_backward"
    ins = [tr.ref(tr.dense(g, name), name),
           None if x is None else tr.ref(tr.dense(x, name), name),
           None if y is None else tr.ref(tr.dense(y, name), name)]
    tr.add("unary_bwd", name, op=op, ins=ins, outs=[tr.new(gx)], n=[gx.size],
           s=[alpha, beta], is64=_is64(gx), par=int(gx.size >= _NOGIL_MIN))


def _bstrides(x, nd):
    isz = x.itemsize
    st = []
    for i in range(nd):
        j = i - (nd - x.ndim)
        st.append(x.strides[j] // isz if j >= 0 and x.shape[j] != 1 else 0)
    return st


def _r_binary(tr, out, op, a, b):
    name = _K.B_NAMES.get(op, "binary")
    nd = out.ndim
    if any(s % a.itemsize for s in a.strides + b.strides) or nd > 16:
        tr.fail(f"{name}: operand layout not supported")
    tr.add("binary", name, op=op, ins=[tr.ref(a, name), tr.ref(b, name)], outs=[tr.new(out)],
           ndim=nd, shape=list(out.shape), sa=_bstrides(a, nd), sb=_bstrides(b, nd),
           is64=_is64(out), par=int(out.size >= _NOGIL_MIN))


def _r_reduce(tr, out, op, x, dims):
    name = [k for k, v in _K.R.items() if v == op][0]
    if len(dims) and dims[-1] - dims[0] != len(dims) - 1:
        tr.fail(f"{name}: reduction over non-adjacent dims {dims}")
    if x.size == 0:
        tr.fail(f"{name}: reduction of an empty tensor")
    xd = tr.dense(x, name)
    shape = x.shape
    outer = n = inner = 1
    if len(dims):
        for d in range(dims[0]):
            outer *= shape[d]
        for d in dims:
            n *= shape[d]
        for d in range(dims[-1] + 1, x.ndim):
            inner *= shape[d]
    else:
        for s in shape:
            outer *= s
    tr.add("reduce", name, op=op, ins=[tr.ref(xd, name)], outs=[tr.new(out)],
           n=[outer, n, inner], is64=_is64(out), par=int(outer * n * inner >= _NOGIL_MIN))


def _split(x, dim):
    outer = inner = 1
    for d in range(dim):
        outer *= x.shape[d]
    for d in range(dim + 1, x.ndim):
        inner *= x.shape[d]
    return [outer, x.shape[dim], inner]


def _r_softmax(tr, y, x, dim, log):
    name = "log_softmax" if log else "softmax"
    xd = tr.dense(x, name)
    n = _split(x, dim)
    tr.add("softmax", name, op=int(bool(log)), ins=[tr.ref(xd, name)], outs=[tr.new(y)],
           n=n, is64=_is64(y), par=int(n[0] * n[1] * n[2] >= _NOGIL_MIN))


def _r_softmax_bwd(tr, gx, g, y, dim, log):
    name = "log_softmax_backward" if log else "softmax_backward"
    n = _split(g, dim)
    tr.add("softmax_bwd", name, op=int(bool(log)),
           ins=[tr.ref(tr.dense(g, name), name), tr.ref(tr.dense(y, name), name)],
           outs=[tr.new(gx)], n=n, is64=_is64(gx), par=int(n[0] * n[1] * n[2] >= _NOGIL_MIN))


def _dim_step(tr, kind, name, x, dim, outs, op=0, **d):
    """A step over x (dense) seen as (outer, n, inner) around `dim`; n[3] and s from d."""
    xd = tr.dense(x, name)
    outer, n, inner = _split3(x.shape, dim)
    tr.add(kind, name, op=op, ins=[tr.ref(xd, name)], outs=[tr.new(o) for o in outs],
           n=[outer, n, inner] + d.pop("n3", []), is64=_is64(x),
           par=int(outer * n * inner >= _NOGIL_MIN), **d)


def _r_argreduce(tr, res, op, x, dim):
    _dim_step(tr, "argreduce", "max" if op == _K.R["max"] else "min", x, dim, res, op=op)


def _r_prod(tr, out, x, dim):
    _dim_step(tr, "prod", "prod", x, dim, [out])


def _r_scan(tr, out, op, x, dim, reverse):
    _dim_step(tr, "scan", "cumsum" if op == _K.SCAN["cumsum"] else "cumprod", x, dim, [out],
              op=op, n3=[int(bool(reverse))])


def _r_sort(tr, res, x, dim, op, k, flag):
    _dim_step(tr, "sort", "topk" if op else "sort", x, dim, res, op=op, n3=[int(k)],
              s=[float(bool(flag))])


def _r_nll_prep(tr, res, t, c, ignore_index, op):
    ix, ref = _index_ref(tr, t, op)
    tr.add("nll_prep", op, ins=[ref], outs=[tr.new(a) for a in res],
           n=[t.size, c, ignore_index], is64=_is64(res[1]))


def _split3(shape, dim):
    outer = inner = 1
    for v in shape[:dim]:
        outer *= v
    for v in shape[dim + 1:]:
        inner *= v
    return outer, (shape[dim] if shape else 1), inner


def _index_ref(tr, idx, name):
    """The int64 index array a kernel reads, as a buffer reference (the indices of an
    input or captured tensor, or of a traced kernel's result)."""
    ix = np.ascontiguousarray(idx, dtype=np.int64).reshape(-1) if isinstance(idx, np.ndarray) else None
    if ix is None or _root(ix) is not _root(idx):
        tr.fail(f"{name}: indices that are not an int64 tensor's array (a Python list, a "
                "NumPy conversion) would be frozen into the plan; pass them as an int64 tensor")
    return ix, tr.ref(ix, name)


def _r_index_select(tr, out, x, dim, idx, wrap, name):
    if x.dtype.kind != "f" or out.dtype != x.dtype:
        tr.fail(f"{name}: indexing a {x.dtype} tensor")
    xd = tr.dense(x, name)
    ix, iref = _index_ref(tr, idx, name)
    outer, n, inner = _split3(xd.shape, dim)
    m = ix.size
    tr.add("index_select", name, op=int(bool(wrap)), ins=[tr.ref(xd, name), iref],
           outs=[tr.new(out)], n=[outer, n, inner, m], is64=_is64(out),
           par=int(outer * m * inner >= _NOGIL_MIN))


def _known(tr, a):
    r = id(_root(a))
    return r in tr.bufs or r in tr.pre or r in tr.inputs or r in tr.consts


def _r_copy(tr, out, x):
    """A copy; of an array no traced kernel made that holds one value everywhere (a
    tensor made by fg.zeros / fg.full inside the function, which scatter copies), a
    fill step with that value."""
    if _known(tr, x) or x.size == 0 or x.dtype.kind != "f":
        tr._copy_step(x, out, "copy")
        return
    _fill_uniform(tr, x, out, "copy")


def _fill_uniform(tr, a, out, name):
    v = a.reshape(-1)[0] if a.flags.c_contiguous else a.flat[0]
    if not (a == v).all():
        tr.fail(f"{name}: reads an array that no traced kernel produced and that is not an "
                "input or a tensor the function reaches (NumPy work outside the kernels, or a "
                "tensor created inside the function with varying values)")
    ref = tr.new(out)
    tr.add("fill", name, outs=[ref], n=[out.size], s=[float(v)], is64=_is64(out))
    return ref


def _r_compare(tr, out, op, a, b):
    name = _K.CMP_NAMES.get(op, "compare")
    nd = out.ndim
    if a.dtype.kind != "f" or b.dtype != a.dtype:
        tr.fail(f"{name}: comparing {a.dtype} with {b.dtype}")
    if any(s % a.itemsize for s in a.strides + b.strides) or nd > 16:
        tr.fail(f"{name}: operand layout not supported")
    tr.add("compare", name, op=op, ins=[tr.ref(a, name), tr.ref(b, name)], outs=[tr.new(out)],
           ndim=nd, shape=list(out.shape), sa=_bstrides(a, nd), sb=_bstrides(b, nd),
           is64=_is64(a), par=int(out.size >= _NOGIL_MIN))


def _r_where(tr, out, c, a, b):
    name = "where"
    nd = out.ndim
    if c.dtype != np.bool_ or a.dtype.kind != "f" or b.dtype != a.dtype:
        tr.fail(f"{name}: a {c.dtype} condition selecting {a.dtype} and {b.dtype}")
    if any(s % a.itemsize for s in a.strides + b.strides) or nd > 16:
        tr.fail(f"{name}: operand layout not supported")
    tr.add("where", name, ins=[tr.ref(c, name), tr.ref(a, name), tr.ref(b, name)],
           outs=[tr.new(out)], ndim=nd, shape=list(out.shape), sc=_bstrides(c, nd),
           sa=_bstrides(a, nd), sb=_bstrides(b, nd), is64=_is64(out),
           par=int(out.size >= _NOGIL_MIN))


def _r_gather(tr, out, x, dim, idx, name):
    """gather; the wrapper reads x restricted to idx's extent in every dim but dim (a
    view: a strided copy step where it is not dense)."""
    if x.dtype.kind != "f" or out.dtype != x.dtype:
        tr.fail(f"{name}: gathering from a {x.dtype} tensor")
    ix, iref = _index_ref(tr, idx, name)
    ishape = out.shape
    if x.ndim != len(ishape):
        tr.fail(f"{name}: index of shape {ishape} for input of shape {x.shape}")
    if any(x.shape[d] != ishape[d] for d in range(x.ndim) if d != dim):
        x = x[tuple(slice(None) if d == dim else slice(0, ishape[d]) for d in range(x.ndim))]
    xd = tr.dense(x, name)
    outer, n, inner = _split3(xd.shape, dim)
    tr.add("gather", name, ins=[tr.ref(xd, name), iref], outs=[tr.new(out)],
           n=[outer, n, inner, ishape[dim] if ishape else 1], is64=_is64(out),
           par=int(ix.size >= _NOGIL_MIN))


def _uniform_ref(tr, a, name):
    """A source operand: traced or reachable as it is, or an array no traced kernel made
    that holds one value everywhere (scatter's value broadcast by np.full): a fill step."""
    if _known(tr, a):
        return tr.ref(tr.dense(a, name), name)
    if a.size == 0 or not a.flags.c_contiguous:
        tr.fail(f"{name}: a source array that no traced kernel produced")
    return _fill_uniform(tr, a, a, name)


def _r_scatter_add(tr, out, dim, idx, src, accumulate, name, fresh, zero):
    if (out.dtype.kind != "f" or not isinstance(src, np.ndarray) or src.dtype != out.dtype
            or src.shape != idx.shape):
        tr.fail(f"{name}: scattering a {getattr(src, 'dtype', type(src).__name__)} source into a "
                f"{out.dtype} array")
    sref = _uniform_ref(tr, src, name)
    ix, iref = _index_ref(tr, idx, name)
    outer, n, inner = _split3(out.shape, dim)
    if fresh:
        if not zero:
            tr.fail(f"{name}: writes into an array that no traced kernel produced")
        oref = tr.new(out)
        tr.add("fill", name, outs=[oref], n=[out.size], s=[0.0], is64=_is64(out))
    else:
        oref = tr.ref(out, name)
    tr.add("scatter_add", name, op=0 if accumulate else 1, ins=[sref, iref], outs=[oref],
           n=[outer, n, inner, idx.shape[dim]], is64=_is64(out),
           par=int(ix.size >= _NOGIL_MIN))


def _r_index_add(tr, out, dim, idx, src, wrap, name, fresh, zero):
    if out.dtype.kind != "f" or not isinstance(src, np.ndarray) or src.dtype != out.dtype:
        tr.fail(f"{name}: index_add of a {getattr(src, 'dtype', type(src).__name__)} source into "
                f"a {out.dtype} array")
    sd = tr.dense(src, name)
    ix, iref = _index_ref(tr, idx, name)
    outer, n, inner = _split3(out.shape, dim)
    m = ix.size
    if fresh:
        if not zero:
            tr.fail(f"{name}: adds into an array that no traced kernel produced")
        oref = tr.new(out)
        tr.add("fill", name, outs=[oref], n=[out.size], s=[0.0], is64=_is64(out))
    else:
        tr.ref(out, name)
        oref = tr.ref(out, name)
    tr.add("index_add", name, op=int(bool(wrap)), ins=[tr.ref(sd, name), iref], outs=[oref],
           n=[outer, n, inner, m], is64=_is64(out), par=int(outer * m * inner >= _NOGIL_MIN))


def _target_ref(tr, target, name):
    t = np.ascontiguousarray(target, dtype=np.int64)
    if not isinstance(target, np.ndarray) or _root(t) is not _root(target):
        tr.fail(f"{name}: the target must be an int64 tensor")
    return tr.ref(t, name)


def _r_xent(tr, res, x, target, ignore_index, label_smoothing):
    loss, lsm = res
    xd = tr.dense(x, "cross_entropy")
    rows, c = xd.shape
    tr.add("xent", "cross_entropy",
           ins=[tr.ref(xd, "cross_entropy"), _target_ref(tr, target, "cross_entropy")],
           outs=[tr.new(loss), tr.new(lsm)], n=[rows, c, ignore_index], s=[label_smoothing],
           is64=_is64(lsm), par=int(rows * c >= _NOGIL_MIN))


def _r_xent_bwd(tr, gx, g, lsm, target, ignore_index, label_smoothing):
    name = "cross_entropy_backward"
    if g.dtype != lsm.dtype:
        tr.fail(f"{name}: gradient dtype {g.dtype} differs from {lsm.dtype}")
    rows, c = lsm.shape
    tr.add("xent_bwd", name, ins=[tr.ref(tr.dense(g, name), name),
                                  tr.ref(tr.dense(lsm, name), name),
                                  _target_ref(tr, target, name)],
           outs=[tr.new(gx)], n=[rows, c, ignore_index], s=[label_smoothing],
           is64=_is64(gx), par=int(rows * c >= _NOGIL_MIN))


def _lay(tr, x, name):
    """(array the GEMM reads, trans, ld): x itself, or a recorded dense copy where the
    wrapper copies (np.ascontiguousarray) a layout the GEMM cannot read."""
    lay = _operand(x)
    if lay is None:
        if x.flags.c_contiguous:
            tr.fail(f"{name}: an operand with strides {x.strides} is not supported")
        x = tr.dense(x, name)
        lay = _operand(x)
    return x, lay[0], lay[1]


def _r_matmul(tr, res, a, b, out, beta):
    if a.ndim != 2 or b.ndim != 2:
        _r_matmul_batched(tr, res, a, b, out, beta)
        return
    a, ta, lda = _lay(tr, a, "matmul")
    b, tb, ldb = _lay(tr, b, "matmul")
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    ins = [tr.ref(a, "matmul"), tr.ref(b, "matmul"), None]
    outs = [tr.ref(res, "matmul") if out is not None else tr.new(res)]
    tr.add("gemm", "matmul", ins=ins, outs=outs, is64=_is64(res),
           par=int(m * n * k >= _GEMM_PAR),
           gemm=dict(transa=ta, transb=tb, m=m, n=n, k=k, alpha=1.0,
                     beta=float(beta) if out is not None else 0.0, lda=lda, ldb=ldb,
                     ldc=max(n, 1), act=0))


def _batch_strides(x, nbd, isz):
    """x's element strides over the nbd batch dims of a product, right-aligned, 0 where
    broadcast or of length 1 (as the C wrapper computes them)."""
    res = [0] * nbd
    lead = x.ndim - 2
    for i in range(nbd):
        j = i - (nbd - lead)
        if j >= 0 and x.shape[j] != 1:
            res[i] = x.strides[j] // isz
    return res


def _r_matmul_batched(tr, res, a, b, out, beta):
    """A product with batch dims, recorded as the C wrapper runs it: one batched GEMM
    step per index of the batch dims that do not collapse into one strided batch."""
    name = "matmul"
    if out is not None and (np.may_share_memory(out, a) or np.may_share_memory(out, b)):
        tr.fail(f"{name}: an out array that overlaps an operand")
    a, ta, lda = _lay(tr, a, name)
    b, tb, ldb = _lay(tr, b, name)
    m, k = a.shape[-2:]
    n = b.shape[-1]
    bshape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    batch = int(np.prod(bshape, dtype=np.int64))
    if batch == 0 or m == 0 or n == 0:
        return
    isz = a.itemsize
    if any(s % isz for s in a.strides + b.strides):
        tr.fail(f"{name}: operand layout not supported")
    nbd = len(bshape)
    bsa, bsb = _batch_strides(a, nbd, isz), _batch_strides(b, nbd, isz)
    if min(bsa + bsb) < 0:
        tr.fail(f"{name}: operands with negative batch strides")
    bsc = [0] * nbd
    acc = m * n
    for i in range(nbd - 1, -1, -1):
        bsc[i] = acc
        acc *= bshape[i]
    j = nbd - 1
    inner = bshape[j]
    while j > 0 and all(bs[j - 1] == bs[j] * bshape[j] for bs in (bsa, bsb, bsc)):
        j -= 1
        inner *= bshape[j]
    gemm = dict(transa=ta, transb=tb, m=m, n=n, k=k, alpha=1.0,
                beta=float(beta) if out is not None else 0.0, lda=lda, ldb=ldb,
                ldc=max(n, 1), act=0, batch=inner, stride_a=bsa[-1], stride_b=bsb[-1],
                stride_c=bsc[-1])
    par = int(inner * m * n * k >= _GEMM_PAR)
    for idx in np.ndindex(*bshape[:j]):
        ra, oa = tr.ref(a, name)           # each step refreshes the buffers' last use
        rb, ob = tr.ref(b, name)
        rc, oc = tr.ref(res, name) if out is not None else tr.new(res)
        da = sum(i * s for i, s in zip(idx, bsa)) * isz
        db = sum(i * s for i, s in zip(idx, bsb)) * isz
        dc = sum(i * s for i, s in zip(idx, bsc)) * isz
        tr.add("gemm", name, ins=[(ra, oa + da), (rb, ob + db), None], outs=[(rc, oc + dc)],
               is64=_is64(res), par=par, gemm=dict(gemm))


def _r_linear(tr, out, x, w, bias, act):
    if x.ndim != 2 or w.ndim != 2:
        tr.fail("linear: only 2-D inputs are supported in compiled functions")
    x, ta, lda = _lay(tr, x, "linear")
    w, tw, ldb = _lay(tr, w, "linear")
    m, k = x.shape
    n = w.shape[0]
    if m == 0 or n == 0:
        return
    bref = None
    if bias is not None:
        bref = tr.ref(tr.dense(bias, "linear"), "linear")
    tr.add("gemm", "linear", ins=[tr.ref(x, "linear"), tr.ref(w, "linear"), bref],
           outs=[tr.new(out)], is64=_is64(out), par=int(m * n * k >= _GEMM_PAR),
           gemm=dict(transa=ta, transb=1 - tw, m=m, n=n, k=k, alpha=1.0, beta=0.0,
                     lda=lda, ldb=ldb, ldc=n, act=_K.ACT[act]))


# ---- convolution, pooling, normalization ---------------------------------------------------
def _opt_ref(tr, a, name):
    """A dense operand that may be absent (None)."""
    return None if a is None else tr.ref(tr.dense(a, name), name)


def _opt_new(tr, a):
    return None if a is None else tr.new(a)


def _conv_geo(xshape, wshape, oh, ow, stride, padding, dilation, groups):
    n, c_in, h, w = xshape
    c_out, _, kh, kw = wshape
    return [n, c_in, h, w, c_out, kh, kw, oh, ow, stride[0], stride[1], padding[0], padding[1],
            dilation[0], dilation[1], groups]


def _r_conv(tr, y, x, w, bias, stride, padding, dilation, groups):
    name = "conv2d"
    xd, wd = tr.dense(x, name), tr.dense(w, name)
    tr.add("conv", name, ins=[tr.ref(xd, name), tr.ref(wd, name), _opt_ref(tr, bias, name)],
           outs=[tr.new(y)], is64=_is64(y), par=1,
           shape=_conv_geo(xd.shape, wd.shape, y.shape[2], y.shape[3], stride, padding,
                           dilation, groups))


def _r_conv_bwd(tr, res, g, x, w, xshape, wshape, stride, padding, dilation, groups):
    name = "conv2d_backward"
    gx, gw, gb = res
    gd = tr.dense(g, name)
    tr.add("conv_bwd", name,
           ins=[_opt_ref(tr, x if gw is not None else None, name),
                _opt_ref(tr, w if gx is not None else None, name), tr.ref(gd, name)],
           outs=[_opt_new(tr, gx), _opt_new(tr, gw), _opt_new(tr, gb)], is64=_is64(gd), par=1,
           shape=_conv_geo(tuple(xshape), tuple(wshape), gd.shape[2], gd.shape[3], stride,
                           padding, dilation, groups))


def _pool_geo(xshape, oh, ow, kernel, stride, padding, dilation, cip):
    planes = 1
    for v in xshape[:-2]:
        planes *= v
    return [planes, xshape[-2], xshape[-1], oh, ow, kernel[0], kernel[1], stride[0], stride[1],
            padding[0], padding[1], dilation[0], dilation[1], int(bool(cip))]


def _pool_name(op):
    return "max_pool2d" if op == _K.POOL["max"] else "avg_pool2d"


def _r_pool(tr, res, op, x, kernel, stride, padding, dilation, cip):
    name = _pool_name(op)
    y, idx = res
    xd = tr.dense(x, name)
    tr.add("pool", name, op=op, ins=[tr.ref(xd, name)], outs=[tr.new(y), _opt_new(tr, idx)],
           is64=_is64(y), par=1,
           shape=_pool_geo(xd.shape, y.shape[-2], y.shape[-1], kernel, stride, padding,
                           dilation, cip))


def _r_pool_bwd(tr, gx, op, g, idx, kernel, stride, padding, dilation, cip):
    name = _pool_name(op) + "_backward"
    gd = tr.dense(g, name)
    iref = None
    if op == _K.POOL["max"]:
        if not isinstance(idx, np.ndarray) or idx.dtype != np.int64 or not idx.flags.c_contiguous:
            tr.fail(f"{name}: the indices must be a contiguous int64 array")
        iref = tr.ref(idx, name)
    tr.add("pool_bwd", name, op=op, ins=[tr.ref(gd, name), iref], outs=[tr.new(gx)],
           is64=_is64(gx), par=1,
           shape=_pool_geo(gx.shape, gd.shape[-2], gd.shape[-1], kernel, stride, padding,
                           dilation, cip))


def _ncs(x):
    s = 1
    for v in x.shape[2:]:
        s *= v
    return [x.shape[0], x.shape[1], s]


def _bn_ctx(tr, name):
    ctx = tr.bn
    if ctx is None:
        tr.fail(f"{name}: batch normalization kernels called outside batch_norm")
    return ctx


def _r_bn_stats(tr, res, x):
    """The batch statistics; in training mode with running statistics, also their update
    (NumPy work in F.batch_norm, replayed by a C step with the same rounding)."""
    name = "batch_norm"
    ctx = _bn_ctx(tr, name)
    mean, var = res
    xd = tr.dense(x, name)
    ncs = _ncs(xd)
    tr.add("bn_stats", name, ins=[tr.ref(xd, name)], outs=[tr.new(mean), tr.new(var)], n=ncs,
           is64=_is64(mean), par=1)
    ctx["var"] = var
    rm, rv = ctx["rm"], ctx["rv"]
    if rm is None and rv is None:
        return
    for t in (rm, rv):
        if t is not None and (t._data.dtype != mean.dtype or not t._data.flags.c_contiguous):
            tr.fail(f"{name}: running statistics of dtype {t._data.dtype} for {mean.dtype} input "
                    "(or non-contiguous ones) are not supported in compiled functions")
    m = float(ctx["momentum"])
    n = ncs[0] * ncs[2]
    tr.add("bn_running", name + " (running statistics)",
           ins=[tr.ref(mean, name), tr.ref(var, name)],
           outs=[None if rm is None else tr.ref(rm._data, name),
                 None if rv is None else tr.ref(rv._data, name)],
           n=[ncs[1]], s=[1 - m, m, n / (n - 1)], is64=_is64(mean))


def _r_bn_apply(tr, y, x, mean, invstd, w, b):
    """bn_apply, preceded by the NumPy work that made its mean and invstd: invstd from the
    variance (the batch's or the running one), and in eval mode the copy of the running
    mean."""
    name = "batch_norm"
    ctx = _bn_ctx(tr, name)
    tr.bn = None                  # the call's last kernel
    if ctx["training"]:
        var = ctx.get("var")
        if var is None:
            tr.fail(f"{name}: batch statistics not traced")
        pin, pout = [None, tr.ref(var, name)], [None, tr.new(invstd)]
    else:
        rm, rv = ctx["rm"], ctx["rv"]
        for t in (rm, rv):
            if t._data.dtype != y.dtype or not t._data.flags.c_contiguous:
                tr.fail(f"{name}: running statistics of dtype {t._data.dtype} for {y.dtype} "
                        "input (or non-contiguous ones) are not supported in compiled "
                        "functions")
        pin, pout = [tr.ref(rm._data, name), tr.ref(rv._data, name)], [tr.new(mean), tr.new(invstd)]
    tr.add("bn_prep", name + " (inverse std)", ins=pin, outs=pout, n=[mean.shape[0]],
           s=[float(ctx["eps"])], is64=_is64(y))
    xd = tr.dense(x, name)
    tr.add("bn_apply", name, ins=[tr.ref(xd, name), tr.ref(mean, name), tr.ref(invstd, name),
                                  _opt_ref(tr, w, name), _opt_ref(tr, b, name)],
           outs=[tr.new(y)], n=_ncs(xd), is64=_is64(y), par=1)


def _r_bn_bwd(tr, res, x, g, mean, invstd, w, training):
    name = "batch_norm_backward"
    xd = tr.dense(x, name)
    tr.add("bn_bwd", name, op=int(bool(training)),
           ins=[tr.ref(xd, name), tr.ref(tr.dense(g, name), name), tr.ref(mean, name),
                tr.ref(invstd, name), _opt_ref(tr, w, name)],
           outs=[_opt_new(tr, r) for r in res], n=_ncs(xd), is64=_is64(xd), par=1)


def _r_rownorm(tr, res, x, d, groups, s, w, b, eps):
    name = "layer_norm"
    y, mean, rstd = res
    xd = tr.dense(x, name)
    tr.add("rownorm", name, ins=[tr.ref(xd, name), _opt_ref(tr, w, name), _opt_ref(tr, b, name)],
           outs=[tr.new(y), tr.new(mean), tr.new(rstd)], n=[xd.size // d, d, groups, s],
           s=[float(eps)], is64=_is64(y), par=1)


def _r_rownorm_bwd(tr, res, x, g, mean, rstd, w, d, groups, s):
    name = "layer_norm_backward"
    xd = tr.dense(x, name)
    tr.add("rownorm_bwd", name,
           ins=[tr.ref(xd, name), tr.ref(tr.dense(g, name), name), tr.ref(mean, name),
                tr.ref(rstd, name), _opt_ref(tr, w, name)],
           outs=[_opt_new(tr, r) for r in res], n=[xd.size // d, d, groups, s],
           is64=_is64(xd), par=1)


def _r_rnn(tr, res, mode, gi, w_hh, b_hh, h0, c0, reverse):
    name = "rnn"
    out, hn, ws = res
    gd = tr.dense(gi, name)
    T, B, _ = gd.shape
    tr.add("rnn", name, op=int(mode),
           ins=[tr.ref(gd, name), tr.ref(tr.dense(w_hh, name), name), _opt_ref(tr, b_hh, name),
                _opt_ref(tr, h0, name), _opt_ref(tr, c0 if mode == _K.RNN_MODES["LSTM"] else None,
                                                 name)],
           outs=[tr.new(out), tr.new(hn), tr.new(ws)], n=[T, B, hn.shape[1], int(bool(reverse))],
           is64=_is64(out), par=1)


def _r_rnn_bwd(tr, res, mode, gy, ghn, gcn, w_hh, ws, reverse):
    name = "rnn_backward"
    dgi, dh0, dc0, dw, db = res
    T, B, H = dgi.shape[0], dgi.shape[1], w_hh.shape[1]
    tr.add("rnn_bwd", name, op=int(mode),
           ins=[_opt_ref(tr, gy, name), _opt_ref(tr, ghn, name),
                _opt_ref(tr, gcn if mode == _K.RNN_MODES["LSTM"] else None, name),
                tr.ref(tr.dense(w_hh, name), name), tr.ref(ws, name)],
           outs=[tr.new(dgi), _opt_new(tr, dh0), _opt_new(tr, dc0), _opt_new(tr, dw),
                 _opt_new(tr, db)],
           n=[T, B, H, int(bool(reverse))], is64=_is64(dgi), par=1)


def _sdpa_geo(tr, q, k, v, mask, causal, name):
    """The attention step's geometry (csrc/plan.h, FG_P_SDPA): shape[0..12]."""
    B, H, L, E = q.shape
    Hk, S, Ev = k.shape[1], k.shape[2], v.shape[3]
    mk, ms = 0, [0, 0, 0, 0]
    if mask is not None:
        if not mask.flags.c_contiguous or mask.ndim != 4:
            tr.fail(f"{name}: a mask that is not a dense 4-d array")
        mk = 1 if mask.dtype == np.bool_ else 2
        ms = [0 if n == 1 else st // mask.itemsize for n, st in zip(mask.shape, mask.strides)]
    return [B, H, Hk, L, S, E, Ev, int(bool(causal)), mk] + ms


def _r_sdpa(tr, res, q, k, v, mask, scale, causal):
    name = "scaled_dot_product_attention"
    out, lse = res
    qd, kd, vd = (tr.dense(a, name) for a in (q, k, v))
    geo = _sdpa_geo(tr, qd, kd, vd, mask, causal, name)
    tr.add("sdpa", name, ins=[tr.ref(qd, name), tr.ref(kd, name), tr.ref(vd, name),
                              None if mask is None else tr.ref(mask, name)],
           outs=[tr.new(out), tr.new(lse)], shape=geo, s=[float(scale)], is64=_is64(out), par=1)


def _r_sdpa_bwd(tr, res, g, q, k, v, mask, out, lse, scale, causal):
    name = "scaled_dot_product_attention_backward"
    qd, kd, vd = (tr.dense(a, name) for a in (q, k, v))
    gd = tr.dense(g, name)
    geo = _sdpa_geo(tr, qd, kd, vd, mask, causal, name)
    ins = [tr.ref(qd, name), tr.ref(kd, name), tr.ref(vd, name),
           None if mask is None else tr.ref(mask, name), tr.ref(gd, name)]
    saved = [tr.ref(a, name) for a in (out, lse)]  # read through output slots 3 and 4
    if any(r[0].kind != "inter" for r in saved) or not out.flags.c_contiguous:
        tr.fail(f"{name}: the attention output was not computed in the compiled function")
    tr.add("sdpa_bwd", name, ins=ins, outs=[tr.new(r) for r in res] + saved, shape=geo,
           s=[float(scale)], is64=_is64(out), par=1)
