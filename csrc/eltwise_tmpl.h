/* Elementwise kernels, instantiated once per (ISA, dtype) by kern_isa.h.
 * Expects: T (float/double), TS (f32/f64), FN(name) (adds the dtype and ISA suffix),
 * and the math macros M_EXP, M_LOG, ... for T. */

/* ---- unary forward ----------------------------------------------------------------- */
#define UNARY_LOOP(EXPR)                                                               \
    FG_PAR_RANGE(n, nt, 64, {                                                          \
        for (int64_t i = lo; i < hi; i++) { const T v = x[i]; y[i] = (EXPR); }          \
    })

/* sin/cos: vectorised on the common range, then a scalar fix-up for huge arguments. */
#define SINCOS_LOOP(F, FBIG)                                                           \
    FG_PAR_RANGE(n, nt, 64, {                                                          \
        for (int64_t i = lo; i < hi; i++) y[i] = F(x[i]);                               \
        if (sizeof(T) == 4)                                                             \
            for (int64_t i = lo; i < hi; i++)                                           \
                if (!(M_ABS(x[i]) <= (T)FG_SINCOS_BIG) && x[i] == x[i]) y[i] = FBIG(x[i]); \
    })

int FN(unary)(int op, int64_t n, const T *x, T *y, double alpha, double beta, int nthreads)
{
    FG_CHECK(n >= 0 && (n == 0 || (x && y)));
    const int nt = fg_threads_for(n, FG_PAR_THRESHOLD_ELTWISE, nthreads);
    const T a = (T)alpha, b = (T)beta;
    switch (op) {
    case FG_U_NEG: UNARY_LOOP(-v); break;
    case FG_U_ABS: UNARY_LOOP(M_ABS(v)); break;
    case FG_U_EXP: UNARY_LOOP(M_EXP(v)); break;
    case FG_U_LOG: UNARY_LOOP(M_LOG(v)); break;
    case FG_U_LOG1P: UNARY_LOOP(M_LOG1P(v)); break;
    case FG_U_SQRT: UNARY_LOOP(M_SQRT(v)); break;
    case FG_U_RSQRT: UNARY_LOOP((T)1 / M_SQRT(v)); break;
    case FG_U_SIN: SINCOS_LOOP(M_SIN, M_SIN_BIG); break;
    case FG_U_COS: SINCOS_LOOP(M_COS, M_COS_BIG); break;
    case FG_U_TANH: UNARY_LOOP(M_TANH(v)); break;
    case FG_U_SIGMOID: UNARY_LOOP(M_SIGMOID(v)); break;
    case FG_U_RELU: UNARY_LOOP(v < (T)0 ? (T)0 : v); break;
    case FG_U_LEAKY_RELU: UNARY_LOOP(v < (T)0 ? v * a : v); break;
    case FG_U_GELU: UNARY_LOOP(M_GELU(v)); break;
    case FG_U_GELU_TANH: UNARY_LOOP(M_GELU_TANH(v)); break;
    case FG_U_SILU: UNARY_LOOP(M_SILU(v)); break;
    case FG_U_SOFTPLUS: {
        /* alpha = beta of the op (scale), beta = threshold: x when scale*x > threshold */
        if (a == (T)1) {
            UNARY_LOOP(v > b ? v : M_SOFTPLUS(v));
        } else {
            const T ia = (T)1 / a;
            UNARY_LOOP(v * a > b ? v : M_SOFTPLUS(v * a) * ia);
        }
        break;
    }
    case FG_U_CLAMP: UNARY_LOOP(v < a ? a : (v > b ? b : v)); break;
    case FG_U_POW_SCALAR:
        if (alpha == 2.0) UNARY_LOOP(v * v);
        else if (alpha == 1.0) UNARY_LOOP(v);
        else if (alpha == 0.5) UNARY_LOOP(M_SQRT(v));
        else if (alpha == -1.0) UNARY_LOOP((T)1 / v);
        else if (alpha == 3.0) UNARY_LOOP(v * v * v);
        else UNARY_LOOP(M_POW(v, a));
        break;
    case FG_U_SIGN: UNARY_LOOP(v > (T)0 ? (T)1 : (v < (T)0 ? (T)-1 : v)); break;
    case FG_U_SQUARE: UNARY_LOOP(v * v); break;
    case FG_U_RECIPROCAL: UNARY_LOOP((T)1 / v); break;
    case FG_U_ERF: UNARY_LOOP(M_ERF(v)); break;
    default: return FG_EINVAL;
    }
    return FG_OK;
}
#undef UNARY_LOOP
#undef SINCOS_LOOP

/* ---- unary backward ---------------------------------------------------------------- */
#define BWD_LOOP_X(EXPR)                                                               \
    FG_PAR_RANGE(n, nt, 64, {                                                          \
        for (int64_t i = lo; i < hi; i++) { const T gv = g[i], v = x[i]; (void)v; (void)gv; gx[i] = (EXPR); } \
    })
#define BWD_LOOP_Y(EXPR)                                                               \
    FG_PAR_RANGE(n, nt, 64, {                                                          \
        for (int64_t i = lo; i < hi; i++) { const T gv = g[i], u = y[i]; gx[i] = (EXPR); } \
    })

int FN(unary_bwd)(int op, int64_t n, const T *g, const T *x, const T *y, T *gx, double alpha,
                  double beta, int nthreads)
{
    FG_CHECK(n >= 0 && (n == 0 || (g && gx)));
    const int uses_y = op == FG_U_EXP || op == FG_U_SQRT || op == FG_U_RSQRT ||
                       op == FG_U_TANH || op == FG_U_SIGMOID;
    if (n > 0) FG_CHECK(uses_y ? y != NULL : x != NULL);
    const int nt = fg_threads_for(n, FG_PAR_THRESHOLD_ELTWISE, nthreads);
    const T a = (T)alpha, b = (T)beta;
    switch (op) {
    case FG_U_NEG: BWD_LOOP_X(-gv); break;
    case FG_U_ABS: BWD_LOOP_X(v > (T)0 ? gv : (v < (T)0 ? -gv : (T)0 * gv)); break;
    case FG_U_EXP: BWD_LOOP_Y(gv * u); break;
    case FG_U_LOG: BWD_LOOP_X(gv / v); break;
    case FG_U_LOG1P: BWD_LOOP_X(gv / ((T)1 + v)); break;
    case FG_U_SQRT: BWD_LOOP_Y(gv / ((T)2 * u)); break;
    case FG_U_RSQRT: BWD_LOOP_Y((T)-0.5 * gv * u * u * u); break;
    case FG_U_SIN: BWD_LOOP_X(gv * M_COS(v)); break;
    case FG_U_COS: BWD_LOOP_X(-gv * M_SIN(v)); break;
    case FG_U_TANH: BWD_LOOP_Y(gv * ((T)1 - u * u)); break;
    case FG_U_SIGMOID: BWD_LOOP_Y(gv * u * ((T)1 - u)); break;
    case FG_U_RELU: BWD_LOOP_X(v > (T)0 ? gv : (T)0); break;
    case FG_U_LEAKY_RELU: BWD_LOOP_X(v > (T)0 ? gv : gv * a); break;
    case FG_U_GELU: {
        /* d/dx [x Phi(x)] = Phi(x) + x phi(x) */
        const T c = (T)0.70710678118654752440, k = (T)0.39894228040143267794;
        BWD_LOOP_X(gv * ((T)0.5 * M_ERFC(-v * c) + v * k * M_EXP((T)-0.5 * v * v)));
        break;
    }
    case FG_U_GELU_TANH: {
        const T k = (T)0.79788456080286535588, c = (T)0.044715;
        BWD_LOOP_X(({
            const T t = M_TANH(k * (v + c * v * v * v));
            gv * ((T)0.5 * ((T)1 + t) + (T)0.5 * v * ((T)1 - t * t) * k * ((T)1 + (T)3 * c * v * v));
        }));
        break;
    }
    case FG_U_SILU:
        BWD_LOOP_X(({ const T s = M_SIGMOID(v); gv * s * ((T)1 + v * ((T)1 - s)); }));
        break;
    case FG_U_SOFTPLUS: BWD_LOOP_X(v * a > b ? gv : gv * M_SIGMOID(v * a)); break;
    case FG_U_CLAMP: BWD_LOOP_X(v >= a && v <= b ? gv : (T)0); break;
    case FG_U_POW_SCALAR:
        if (alpha == 0.0) BWD_LOOP_X((T)0 * gv);
        else if (alpha == 1.0) BWD_LOOP_X(gv);
        else if (alpha == 2.0) BWD_LOOP_X((T)2 * gv * v);
        else BWD_LOOP_X(gv * a * M_POW(v, a - (T)1));
        break;
    case FG_U_SIGN: BWD_LOOP_X((T)0 * v); break;
    case FG_U_SQUARE: BWD_LOOP_X((T)2 * gv * v); break;
    case FG_U_RECIPROCAL: BWD_LOOP_X(-gv / (v * v)); break;
    case FG_U_ERF: BWD_LOOP_X(gv * (T)1.12837916709551257390 * M_EXP(-v * v)); break;
    default: return FG_EINVAL;
    }
    return FG_OK;
}
#undef BWD_LOOP_X
#undef BWD_LOOP_Y

/* ---- binary with broadcasting --------------------------------------------------------- */
#define BIN_KERNEL(NAME, OUT_T, EXPR)                                                      \
    static void FN(NAME)(const fg_bcast *it, const T *A, const T *B, OUT_T *out, int nt)  \
    {                                                                                      \
        FG_PAR_RANGE(it->total, nt, 64, {                                                  \
            FG_BCAST_ROWS(it, lo, hi, {                                                    \
                const T *ap = A + p0, *bp = B + p1;                                        \
                OUT_T *op = out + o;                                                       \
                if (i0 == 1 && i1 == 1) {                                                  \
                    for (int64_t j = 0; j < len; j++) { const T a = ap[j], b = bp[j]; op[j] = (EXPR); } \
                } else if (i0 == 1 && i1 == 0) {                                           \
                    const T b = bp[0];                                                     \
                    for (int64_t j = 0; j < len; j++) { const T a = ap[j]; op[j] = (EXPR); } \
                } else if (i0 == 0 && i1 == 1) {                                           \
                    const T a = ap[0];                                                     \
                    for (int64_t j = 0; j < len; j++) { const T b = bp[j]; op[j] = (EXPR); } \
                } else {                                                                   \
                    for (int64_t j = 0; j < len; j++) {                                    \
                        const T a = ap[j * i0], b = bp[j * i1]; op[j] = (EXPR);            \
                    }                                                                      \
                }                                                                          \
            });                                                                            \
        });                                                                                \
    }

BIN_KERNEL(b_add, T, a + b)
BIN_KERNEL(b_sub, T, a - b)
BIN_KERNEL(b_mul, T, a * b)
BIN_KERNEL(b_div, T, a / b)
BIN_KERNEL(b_pow, T, M_POW(a, b))
BIN_KERNEL(b_max, T, (a > b || a != a) ? a : b)
BIN_KERNEL(b_min, T, (a < b || a != a) ? a : b)
BIN_KERNEL(c_eq, uint8_t, a == b)
BIN_KERNEL(c_ne, uint8_t, a != b)
BIN_KERNEL(c_lt, uint8_t, a < b)
BIN_KERNEL(c_le, uint8_t, a <= b)
BIN_KERNEL(c_gt, uint8_t, a > b)
BIN_KERNEL(c_ge, uint8_t, a >= b)
#undef BIN_KERNEL

int FN(binary)(int op, int ndim, const int64_t *shape, const T *a, const int64_t *sa,
               const T *b, const int64_t *sb, T *out, int nthreads)
{
    fg_bcast it;
    if (fg_bcast_init(&it, 2, ndim, shape, sa, sb, NULL) != FG_OK) return FG_EINVAL;
    if (it.total == 0) return FG_OK;
    FG_CHECK(a && b && out);
    const int nt = fg_threads_for(it.total, FG_PAR_THRESHOLD_ELTWISE, nthreads);
    switch (op) {
    case FG_B_ADD: FN(b_add)(&it, a, b, out, nt); break;
    case FG_B_SUB: FN(b_sub)(&it, a, b, out, nt); break;
    case FG_B_MUL: FN(b_mul)(&it, a, b, out, nt); break;
    case FG_B_DIV: FN(b_div)(&it, a, b, out, nt); break;
    case FG_B_POW: FN(b_pow)(&it, a, b, out, nt); break;
    case FG_B_MAX: FN(b_max)(&it, a, b, out, nt); break;
    case FG_B_MIN: FN(b_min)(&it, a, b, out, nt); break;
    default: return FG_EINVAL;
    }
    return FG_OK;
}

int FN(compare)(int op, int ndim, const int64_t *shape, const T *a, const int64_t *sa,
                const T *b, const int64_t *sb, uint8_t *out, int nthreads)
{
    fg_bcast it;
    if (fg_bcast_init(&it, 2, ndim, shape, sa, sb, NULL) != FG_OK) return FG_EINVAL;
    if (it.total == 0) return FG_OK;
    FG_CHECK(a && b && out);
    const int nt = fg_threads_for(it.total, FG_PAR_THRESHOLD_ELTWISE, nthreads);
    switch (op) {
    case FG_C_EQ: FN(c_eq)(&it, a, b, out, nt); break;
    case FG_C_NE: FN(c_ne)(&it, a, b, out, nt); break;
    case FG_C_LT: FN(c_lt)(&it, a, b, out, nt); break;
    case FG_C_LE: FN(c_le)(&it, a, b, out, nt); break;
    case FG_C_GT: FN(c_gt)(&it, a, b, out, nt); break;
    case FG_C_GE: FN(c_ge)(&it, a, b, out, nt); break;
    default: return FG_EINVAL;
    }
    return FG_OK;
}

int FN(where)(int ndim, const int64_t *shape, const uint8_t *c, const int64_t *sc, const T *a,
              const int64_t *sa, const T *b, const int64_t *sb, T *out, int nthreads)
{
    fg_bcast it;
    if (fg_bcast_init(&it, 3, ndim, shape, sc, sa, sb) != FG_OK) return FG_EINVAL;
    if (it.total == 0) return FG_OK;
    FG_CHECK(c && a && b && out);
    const int nt = fg_threads_for(it.total, FG_PAR_THRESHOLD_ELTWISE, nthreads);
    FG_PAR_RANGE(it.total, nt, 64, {
        FG_BCAST_ROWS(&it, lo, hi, {
            const uint8_t *cp = c + p0;
            const T *ap = a + p1, *bp = b + p2;
            T *op = out + o;
            for (int64_t j = 0; j < len; j++)
                op[j] = cp[j * i0] ? ap[j * i1] : bp[j * i2];
        });
    });
    return FG_OK;
}

int FN(copy)(int ndim, const int64_t *shape, const T *x, const int64_t *sx, T *out, int nthreads)
{
    fg_bcast it;
    if (fg_bcast_init(&it, 1, ndim, shape, sx, NULL, NULL) != FG_OK) return FG_EINVAL;
    if (it.total == 0) return FG_OK;
    FG_CHECK(x && out);
    const int nt = fg_threads_for(it.total, FG_PAR_THRESHOLD_ELTWISE, nthreads);
    FG_PAR_RANGE(it.total, nt, 64, {
        FG_BCAST_ROWS(&it, lo, hi, {
            const T *xp = x + p0;
            T *op = out + o;
            if (i0 == 1) for (int64_t j = 0; j < len; j++) op[j] = xp[j];
            else for (int64_t j = 0; j < len; j++) op[j] = xp[j * i0];
        });
    });
    return FG_OK;
}
