# Compiled-step plans (csrc/plan.h), included by _kernels.pyx; built by fastgrad.compile.
#
# A Plan owns a C array of step descriptors and the table of operand bases (base 0 is
# the arena of intermediates; the others are parameters, gradients, optimizer state,
# constants, and input slots filled at each run).  run() checks the inputs (dtype,
# shape, C-contiguity), points their bases at the new arrays (no copy) and executes all
# steps in one C call with the GIL released.
from libc.stdlib cimport calloc

cdef extern from "plan.h" nogil:
    enum:
        FG_P_UNARY, FG_P_UNARY_BWD, FG_P_BINARY, FG_P_REDUCE, FG_P_COPY, FG_P_FILL,
        FG_P_SOFTMAX, FG_P_SOFTMAX_BWD, FG_P_XENT, FG_P_XENT_BWD, FG_P_XENT_RED,
        FG_P_XENT_RED_BWD, FG_P_GEMM, FG_P_OPTIM, FG_P_CONV, FG_P_CONV_BWD, FG_P_POOL,
        FG_P_POOL_BWD, FG_P_BN_STATS, FG_P_BN_APPLY, FG_P_BN_BWD, FG_P_BN_PREP,
        FG_P_BN_RUNNING, FG_P_ROWNORM, FG_P_ROWNORM_BWD, FG_P_COUNTER, FG_P_CLIP, FG_P_COUNT,
        FG_P_MAXOPS
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
              "counter": FG_P_COUNTER, "clip": FG_P_CLIP}


def pairwise_sum(cnp.ndarray x):
    """(tests) the plan's loss summation, which must equal np.sum bit for bit."""
    cdef int is64 = _is64(x, "pairwise_sum")
    x = _dense(x)
    if is64:
        return np.float64(fg_pairwise_sum_f64(<double*>cnp.PyArray_DATA(x), cnp.PyArray_SIZE(x)))
    return np.float32(fg_pairwise_sum_f32(<float*>cnp.PyArray_DATA(x), cnp.PyArray_SIZE(x)))


cdef void _hyper(fg_optim_hyper *h, tuple a):
    h.lr = a[0]; h.weight_decay = a[1]; h.momentum = a[2]; h.dampening = a[3]
    h.beta1 = a[4]; h.beta2 = a[5]; h.eps = a[6]; h.alpha = a[7]; h.lr_decay = a[8]
    h.nesterov = a[9]; h.maximize = a[10]
    h.amsgrad = a[11] if len(a) > 11 else 0
    h.decoupled = a[12] if len(a) > 12 else 0
    h.centered = a[13] if len(a) > 13 else 0


cdef class Plan:
    """Plan(bases, inputs, steps, names)

    bases:  list; entry i is the ndarray behind operand base i, or None for an input
            slot (entry 0 is the arena)
    inputs: list of (base index, dtype, shape): the arrays run() takes, in order
    steps:  list of dicts (kind, op, is64, par, ndim, n, s, ins, outs, shape, sa, sb,
            gemm, optim, grads, hyper) as written by fastgrad.compile
    names:  per step, the op name used in error messages"""
    cdef fg_plan_step *steps
    cdef readonly int64_t nsteps
    cdef char **bases
    cdef int nbases
    cdef list keep, names, in_slots, gps
    cdef void **gp_all
    cdef int64_t *numel_all
    cdef readonly int64_t arena_bytes

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
            g = d.get("gemm")
            if g is not None:
                st.gemm.transa = g["transa"]; st.gemm.transb = g["transb"]
                st.gemm.m = g["m"]; st.gemm.n = g["n"]; st.gemm.k = g["k"]
                st.gemm.alpha = g["alpha"]; st.gemm.beta = g["beta"]
                st.gemm.lda = g["lda"]; st.gemm.ldb = g["ldb"]; st.gemm.ldc = g["ldc"]
                st.gemm.act = g["act"]; st.gemm.batch = 1
                st.gemm.stride_a = 0; st.gemm.stride_b = 0; st.gemm.stride_c = 0
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
        if fg_plan_check(self.steps, self.nsteps, self.nbases, &failed) != FG_OK:
            raise ValueError(f"compile: internal error, the plan's step {failed} "
                             f"({self.names[failed]}) is malformed")

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
            ok = (cnp.PyArray_TYPE(a) == <int>slot[2] and cnp.PyArray_IS_C_CONTIGUOUS(a)
                  and cnp.PyArray_NDIM(a) == len(shape))
            d = 0
            while ok and d < len(shape):
                ok = cnp.PyArray_DIMS(a)[d] == <cnp.npy_intp>shape[d]
                d += 1
            if not ok:
                raise ValueError(f"compile: input {i} must be a C-contiguous {slot[1]} array of "
                                 f"shape {shape}, got {(<object>a).dtype} {(<object>a).shape}")
            self.bases[<int>slot[0]] = <char *>cnp.PyArray_DATA(a)
        with nogil:
            s = fg_plan_run(self.steps, self.nsteps, self.bases, self.nbases, nt, &failed, &info)
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
            _chk(s, f"{name} (compiled step {failed})")
