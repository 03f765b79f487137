# Optimizer and gradient-clipping wrappers (csrc/optim.h), included by _kernels.pyx.
#
# OptimPlan holds, for one parameter group and one dtype, the pointer arrays a multi-tensor
# C call needs (params, state slots, step counters).  It is built once and re-validated
# cheaply at every step: identity of each parameter's array and of each state array, and
# the gradients' dtype / shape / contiguity.  A change (parameter data replaced, state
# loaded or replaced, a parameter seen with a gradient for the first time, options that
# need other state) makes step() return False so the optimizer rebuilds the plan.
from libc.stdlib cimport malloc, free
from libc.math cimport isinf

cdef extern from "optim.h" nogil:
    enum:
        FG_OPT_SGD
        FG_OPT_ADAM
        FG_OPT_RMSPROP
        FG_OPT_ADAGRAD
        FG_OPT_ADADELTA
        FG_OPT_RADAM
        FG_OPT_NADAM
        FG_OPT_COUNT
        FG_OPTIM_PAR_THRESHOLD
    ctypedef struct fg_optim_hyper:
        double lr, weight_decay, momentum, dampening, beta1, beta2, eps, alpha, lr_decay
        int nesterov, maximize, amsgrad, decoupled, centered
        double rho, momentum_decay
    int fg_optim_step_f32(int alg, const fg_optim_hyper *h, int64_t ntensors, const int64_t *numel,
                          float **param, const float **grad, float **state, double **step,
                          int nthreads)
    int fg_optim_step_f64(int alg, const fg_optim_hyper *h, int64_t ntensors, const int64_t *numel,
                          double **param, const double **grad, double **state, double **step,
                          int nthreads)
    int fg_multi_norm_f32(int64_t ntensors, const int64_t *numel, const float **x, double p,
                          double *out, int nthreads)
    int fg_multi_norm_f64(int64_t ntensors, const int64_t *numel, const double **x, double p,
                          double *out, int nthreads)
    int fg_multi_scale_f32(int64_t ntensors, const int64_t *numel, float **x, double s, int nthreads)
    int fg_multi_scale_f64(int64_t ntensors, const int64_t *numel, double **x, double s, int nthreads)

OPT_ALGS = {"sgd": FG_OPT_SGD, "adam": FG_OPT_ADAM, "rmsprop": FG_OPT_RMSPROP,
            "adagrad": FG_OPT_ADAGRAD, "adadelta": FG_OPT_ADADELTA, "radam": FG_OPT_RADAM,
            "nadam": FG_OPT_NADAM}
# the number of state slots each algorithm's kernel reads (csrc/optim.h)
OPT_NSLOTS = {FG_OPT_SGD: 1, FG_OPT_ADAM: 3, FG_OPT_RMSPROP: 3, FG_OPT_ADAGRAD: 1,
              FG_OPT_ADADELTA: 2, FG_OPT_RADAM: 2, FG_OPT_NADAM: 3}
OPT_NAMES = {v: k for k, v in OPT_ALGS.items()}


cdef inline int _dense_float(cnp.ndarray a, int is64):
    return (cnp.PyArray_TYPE(a) == <int>(cnp.NPY_FLOAT64 if is64 else cnp.NPY_FLOAT32)
            and _layout_ok(a, True) and cnp.PyArray_ISWRITEABLE(a))


cdef class OptimPlan:
    """Pointer arrays for one multi-tensor optimizer call.

    OptimPlan(who, alg, params, states, keys, step_key, fresh)
      params:   list of fastgrad Tensors, all float32 or all float64
      states:   per parameter, its state dict or None (no state yet: a gradient for it
                invalidates the plan)
      keys:     names of the state slots, in the kernel's slot order ('' = slot unused)
      step_key: name of the step-count entry ('' = the plan counts steps privately,
                starting at 0 where fresh[i] is true and at 1 elsewhere: SGD's buffers)
    State arrays are made dense and of the parameter's dtype by the caller."""
    cdef readonly str who
    cdef int alg, n, nslots, is64
    cdef list params, views, states, keys, kernel_arrays, scratch, slot_arrays, step_arrays
    cdef object priv_steps
    cdef str step_key
    cdef int64_t *numel
    cdef void **pp
    cdef void **gp
    cdef void **sp
    cdef double **stp
    cdef char *have_state

    def __cinit__(self):
        self.numel = NULL; self.pp = NULL; self.gp = NULL; self.sp = NULL
        self.stp = NULL; self.have_state = NULL

    def __dealloc__(self):
        free(self.numel); free(self.pp); free(self.gp); free(self.sp); free(self.stp)
        free(self.have_state)

    def __init__(self, str who, int alg, list params, list states, list keys, str step_key,
                 fresh=None):
        cdef int i, k, n = len(params)
        cdef cnp.ndarray a, s
        if alg not in OPT_NSLOTS:
            raise ValueError(f"{who}: unknown optimizer algorithm {alg} (expected one of "
                             f"{sorted(OPT_NSLOTS)})")
        if len(keys) != OPT_NSLOTS[alg] or not all(isinstance(key, str) for key in keys):
            raise ValueError(f"{who}: the {OPT_NAMES[alg]} kernel reads {OPT_NSLOTS[alg]} state "
                             f"slots, got keys {keys!r}")
        if len(states) != n or (fresh is not None and len(fresh) != n):
            raise ValueError(f"{who}: {n} parameters but {len(states)} states"
                             + ("" if fresh is None else f" and {len(fresh)} fresh flags"))
        self.who = who
        self.alg = alg
        self.n = n
        self.keys = keys
        self.nslots = len(keys)
        self.step_key = step_key
        self.params = list(params)
        self.states = list(states)
        self.is64 = 0
        if n:
            self.is64 = _is64(params[0]._data, who)
        self.numel = <int64_t *>malloc(max(n, 1) * sizeof(int64_t))
        self.pp = <void **>malloc(max(n, 1) * sizeof(void *))
        self.gp = <void **>malloc(max(n, 1) * sizeof(void *))
        self.sp = <void **>malloc(max(n * self.nslots, 1) * sizeof(void *))
        self.stp = <double **>malloc(max(n, 1) * sizeof(double *))
        self.have_state = <char *>malloc(max(n, 1))
        if not (self.numel and self.pp and self.gp and self.sp and self.stp and self.have_state):
            raise MemoryError(f"{who}: out of memory building the parameter plan")
        self.views = []
        self.kernel_arrays = []
        self.scratch = []
        self.slot_arrays = []
        self.step_arrays = []
        if not step_key:
            self.priv_steps = np.array([0.0 if (fresh is not None and fresh[i]) else 1.0
                                        for i in range(n)], dtype=np.float64)
        cdef double[::1] ps = self.priv_steps if not step_key else None
        for i in range(n):
            a = params[i]._data
            if _is64(a, who) != self.is64:
                raise TypeError(f"{who}: parameters of one plan must share a dtype")
            if not cnp.PyArray_ISWRITEABLE(a):
                raise ValueError(f"{who}: parameter {i} of shape {_sh(a)} is read-only")
            self.views.append(a)
            if not _layout_ok(a, True):
                a = _dense(a, who)               # updated here, copied back after each step
                self.scratch.append((i, a))
            self.kernel_arrays.append(a)
            self.numel[i] = cnp.PyArray_SIZE(a)
            self.pp[i] = cnp.PyArray_DATA(a)
            st = states[i]
            self.have_state[i] = st is not None
            for k in range(self.nslots):
                self.sp[k * n + i] = NULL
                if st is not None and keys[k]:
                    s = st[keys[k]]._data
                    if alg == FG_OPT_NADAM and k == 2:       # mu_product: one float32
                        if not _dense_float(s, 0) or cnp.PyArray_SIZE(s) != 1:
                            raise ValueError(f"{who}: state {keys[k]!r} of parameter {i} must be "
                                             "a one-element float32 array")
                    elif not _dense_float(s, self.is64) or cnp.PyArray_SIZE(s) != self.numel[i]:
                        raise ValueError(f"{who}: state {keys[k]!r} of parameter {i} must be a "
                                         f"dense {a.dtype} array of shape {_sh(a)}")
                    self.slot_arrays.append(s)
                    self.sp[k * n + i] = cnp.PyArray_DATA(s)
            if step_key:
                self.stp[i] = NULL
                if st is not None:
                    s = st[step_key]._data
                    if cnp.PyArray_TYPE(s) != cnp.NPY_FLOAT64 or cnp.PyArray_SIZE(s) != 1 \
                            or not cnp.PyArray_ISWRITEABLE(s):
                        raise ValueError(f"{who}: state {step_key!r} of parameter {i} must be a "
                                         "one-element float64 array")
                    self.step_arrays.append(s)
                    self.stp[i] = <double *>cnp.PyArray_DATA(s)
            else:
                self.stp[i] = &ps[i]

    def valid(self):
        """True if params and state are the arrays this plan points at and no parameter
        without state has a gradient"""
        cdef int i, k, j = 0, m = 0
        cdef object st
        for i in range(self.n):
            p = self.params[i]
            if p._data is not self.views[i]:
                return False
            st = self.states[i]
            if st is None:
                if p.grad is not None:
                    return False
                continue
            for k in range(self.nslots):
                if self.keys[k]:
                    if st.get(self.keys[k]) is None or st[self.keys[k]]._data is not self.slot_arrays[j]:
                        return False
                    j += 1
            if self.step_key:
                if st.get(self.step_key) is None or st[self.step_key]._data is not self.step_arrays[m]:
                    return False
                m += 1
        return True

    def guard_entries(self):
        """What a compiled step's guard checks instead of valid() (the parameters' own
        arrays aside): (dicts, keys, arrays) -- each state entry the plan points at, as
        (its parameter's state dict, the entry's name, the array) -- and the parameters
        without state (a gradient for one of them needs a new plan)."""
        cdef int i, k, j = 0, m = 0
        dicts, keys, arrays, stateless = [], [], [], []
        for i in range(self.n):
            st = self.states[i]
            if st is None:
                stateless.append(self.params[i])
                continue
            for k in range(self.nslots):
                if self.keys[k]:
                    dicts.append(st)
                    keys.append(self.keys[k])
                    arrays.append(self.slot_arrays[j])
                    j += 1
            if self.step_key:
                dicts.append(st)
                keys.append(self.step_key)
                arrays.append(self.step_arrays[m])
                m += 1
        return dicts, keys, arrays, stateless

    def step(self, double lr, double weight_decay=0.0, double momentum=0.0,
             double dampening=0.0, double beta1=0.0, double beta2=0.0, double eps=0.0,
             double alpha=0.0, double lr_decay=0.0, bint nesterov=False, bint maximize=False,
             bint amsgrad=False, bint decoupled=False, bint centered=False, double rho=0.0,
             double momentum_decay=0.0):
        """One update of every parameter that has a gradient.  The caller checks valid()
        first (parameters and state unchanged since the plan was built)."""
        cdef int i, st, nt = NT
        cdef int64_t total = 0
        cdef fg_optim_hyper h
        cdef cnp.ndarray g, a
        cdef list keep = None
        for i in range(self.n):
            p = self.params[i]
            gt = p.grad
            if gt is None:
                self.gp[i] = NULL
                continue
            g = gt._data
            a = self.views[i]
            if cnp.PyArray_TYPE(g) != cnp.PyArray_TYPE(a):
                raise TypeError(f"{self.who}: gradient of parameter {i} has dtype {g.dtype} but "
                                f"the parameter is {a.dtype}")
            if _sh(g) != _sh(a):
                raise ValueError(f"{self.who}: gradient of parameter {i} has shape "
                                 f"{_sh(g)} but the parameter has shape {_sh(a)}")
            if not _layout_ok(g, True):
                g = _dense(g, self.who)
                if keep is None:
                    keep = []
                keep.append(g)
            self.gp[i] = cnp.PyArray_DATA(g)
            total += self.numel[i]
        for i, a in self.scratch:
            if self.gp[i] != NULL:
                np.copyto(a, self.views[i])
        h.lr = lr; h.weight_decay = weight_decay; h.momentum = momentum
        h.dampening = dampening; h.beta1 = beta1; h.beta2 = beta2; h.eps = eps
        h.alpha = alpha; h.lr_decay = lr_decay; h.nesterov = nesterov; h.maximize = maximize
        h.amsgrad = amsgrad; h.decoupled = decoupled; h.centered = centered
        h.rho = rho; h.momentum_decay = momentum_decay
        if total < NOGIL_MIN:
            nt = 1
        if total >= NOGIL_MIN:
            with nogil:
                st = self._call(&h, nt)
        else:
            st = self._call(&h, nt)
        if st == FG_EINVAL:
            raise ValueError(f"{self.who}: the {OPT_NAMES[self.alg]} kernel rejected the plan: a "
                             f"state slot these options need is missing (slots {self.keys!r})")
        _chk(st, self.who)
        for i, a in self.scratch:
            if self.gp[i] != NULL:
                np.copyto(self.views[i], a)
        for i in range(self.n):
            if self.gp[i] != NULL:
                self.params[i]._version[0] += 1

    cdef int _call(self, fg_optim_hyper *h, int nt) noexcept nogil:
        if self.is64:
            return fg_optim_step_f64(self.alg, h, self.n, self.numel, <double **>self.pp,
                                     <const double **>self.gp, <double **>self.sp, self.stp, nt)
        return fg_optim_step_f32(self.alg, h, self.n, self.numel, <float **>self.pp,
                                 <const float **>self.gp, <float **>self.sp, self.stp, nt)


def multi_norm(list arrays, double p):
    """Per-array p-norms (float64 ndarray) of same-dtype arrays; p > 0 or inf.
    Non-contiguous arrays are copied first."""
    cdef int64_t i, n = len(arrays)
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    if not (p > 0):
        raise ValueError(f"multi_norm: norm order must be positive, got {p}")
    cdef cnp.ndarray a
    cdef int is64 = _is64(arrays[0], "multi_norm"), st
    cdef list keep = []
    cdef int64_t *numel = <int64_t *>malloc(n * sizeof(int64_t))
    cdef void **xp = <void **>malloc(n * sizeof(void *))
    cdef double[::1] o = out
    try:
        if not numel or not xp:
            raise MemoryError("multi_norm: out of memory")
        for i in range(n):
            a = arrays[i]
            if _is64(a, "multi_norm") != is64:
                raise TypeError("multi_norm: arrays must share a dtype")
            a = _dense(a, "multi_norm")
            keep.append(a)
            numel[i] = cnp.PyArray_SIZE(a)
            xp[i] = cnp.PyArray_DATA(a)
        with nogil:
            if is64:
                st = fg_multi_norm_f64(n, numel, <const double **>xp, p, &o[0], 1)
            else:
                st = fg_multi_norm_f32(n, numel, <const float **>xp, p, &o[0], 1)
        _chk(st, "multi_norm")
    finally:
        free(numel)
        free(xp)
    return out


def multi_scale(list arrays, double s):
    """arrays[i] *= s in place (same dtype; non-contiguous ones through NumPy)."""
    cdef int64_t i, n = len(arrays), m = 0
    if n == 0:
        return
    cdef cnp.ndarray a
    cdef int is64 = _is64(arrays[0], "multi_scale"), st
    cdef int64_t *numel = <int64_t *>malloc(n * sizeof(int64_t))
    cdef void **xp = <void **>malloc(n * sizeof(void *))
    try:
        if not numel or not xp:
            raise MemoryError("multi_scale: out of memory")
        for i in range(n):
            a = arrays[i]
            if _is64(a, "multi_scale") != is64:
                raise TypeError("multi_scale: arrays must share a dtype")
            if not cnp.PyArray_ISWRITEABLE(a):
                raise ValueError(f"multi_scale: array {i} is read-only")
            if not _layout_ok(a, True):
                np.multiply(a, a.dtype.type(s), out=a)
                continue
            numel[m] = cnp.PyArray_SIZE(a)
            xp[m] = cnp.PyArray_DATA(a)
            m += 1
        with nogil:
            if is64:
                st = fg_multi_scale_f64(m, numel, <double **>xp, s, 1)
            else:
                st = fg_multi_scale_f32(m, numel, <float **>xp, s, 1)
        _chk(st, "multi_scale")
    finally:
        free(numel)
        free(xp)


def _optim_c_selftest():
    """(tests only) call the optimizer C entry points with invalid arguments; returns
    {case: status} and the buffers, which must be unchanged by every rejected call."""
    cdef fg_optim_hyper h
    memset(&h, 0, sizeof(h))
    h.lr = 0.5; h.momentum = 0.9; h.beta1 = 0.9; h.beta2 = 0.999; h.eps = 1e-8
    cdef int64_t numel[2]
    cdef float p[4]
    cdef float g[4]
    cdef float s[12]
    cdef float *pp[2]
    cdef const float *gp[2]
    cdef float *sp[6]
    cdef double st[2]
    cdef double *stp[2]
    cdef double out[2]
    cdef int i
    for i in range(4):
        p[i] = 1.0; g[i] = 1.0
    for i in range(12):
        s[i] = 0.0
    numel[0] = 4; numel[1] = 0
    pp[0] = p; pp[1] = NULL
    gp[0] = g; gp[1] = g
    for i in range(6):
        sp[i] = &s[(i % 3) * 4] if i % 2 == 0 else NULL
    sp[0] = s; sp[2] = s + 4; sp[4] = s + 8
    st[0] = 0.0; st[1] = 0.0
    stp[0] = &st[0]; stp[1] = &st[1]
    r = {}
    r["null hyperparameters"] = fg_optim_step_f32(FG_OPT_ADAM, NULL, 2, numel, pp, gp, sp, stp, 1)
    r["negative tensor count"] = fg_optim_step_f32(FG_OPT_ADAM, &h, -1, numel, pp, gp, sp, stp, 1)
    r["unknown algorithm"] = fg_optim_step_f32(FG_OPT_COUNT, &h, 2, numel, pp, gp, sp, stp, 1)
    r["null numel"] = fg_optim_step_f32(FG_OPT_ADAM, &h, 2, NULL, pp, gp, sp, stp, 1)
    r["null state (adam)"] = fg_optim_step_f32(FG_OPT_ADAM, &h, 2, numel, pp, gp, NULL, stp, 1)
    r["null steps (adam)"] = fg_optim_step_f32(FG_OPT_ADAM, &h, 2, numel, pp, gp, sp, NULL, 1)
    h.amsgrad = 1       # slot 2 of tensor 0 is set, of tensor 1 (empty) not needed
    sp[4] = NULL
    r["null amsgrad slot"] = fg_optim_step_f32(FG_OPT_ADAM, &h, 2, numel, pp, gp, sp, stp, 1)
    sp[4] = s + 8
    h.amsgrad = 0
    stp[1] = NULL
    r["null step pointer"] = fg_optim_step_f32(FG_OPT_ADAM, &h, 2, numel, pp, gp, sp, stp, 1)
    stp[1] = &st[1]
    numel[1] = -2
    r["negative numel"] = fg_optim_step_f32(FG_OPT_SGD, &h, 2, numel, pp, gp, sp, NULL, 1)
    numel[1] = 3        # tensor 1 now has elements but a NULL param pointer
    r["null param"] = fg_optim_step_f32(FG_OPT_SGD, &h, 2, numel, pp, gp, sp, NULL, 1)
    r["null momentum buffer"] = fg_optim_step_f32(FG_OPT_SGD, &h, 1, numel, pp, gp, NULL, NULL, 1)
    r["norm order 0"] = fg_multi_norm_f32(1, numel, gp, 0.0, out, 1)
    r["norm order nan"] = fg_multi_norm_f32(1, numel, gp, float("nan"), out, 1)
    r["norm null output"] = fg_multi_norm_f32(1, numel, gp, 2.0, NULL, 1)
    r["scale null data"] = fg_multi_scale_f32(2, numel, pp, 2.0, 1)
    before = ([p[i] for i in range(4)], [s[i] for i in range(12)], [st[0], st[1]])
    numel[1] = 0
    r["ok: sgd"] = fg_optim_step_f32(FG_OPT_SGD, &h, 2, numel, pp, gp, sp, NULL, 1)
    after = [p[i] for i in range(4)]
    return r, before, after
