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
    case FG_U_EXP2: UNARY_LOOP(M_EXP2(v)); break;
    case FG_U_LOG2: UNARY_LOOP(M_LOG2(v)); break;
    case FG_U_LOG10: UNARY_LOOP(M_LOG10(v)); break;
    case FG_U_EXPM1: UNARY_LOOP(M_EXPM1(v)); break;
    case FG_U_TAN: SINCOS_LOOP(M_TAN, M_TAN_BIG); break;
    case FG_U_ASIN: UNARY_LOOP(M_ASIN(v)); break;
    case FG_U_ACOS: UNARY_LOOP(M_ACOS(v)); break;
    case FG_U_ATAN: UNARY_LOOP(M_ATAN(v)); break;
    case FG_U_SINH: UNARY_LOOP(M_SINH(v)); break;
    case FG_U_COSH: UNARY_LOOP(M_COSH(v)); break;
    case FG_U_FLOOR: UNARY_LOOP(M_FLOOR(v)); break;
    case FG_U_CEIL: UNARY_LOOP(M_CEIL(v)); break;
    case FG_U_ROUND: UNARY_LOOP(M_RINT(v)); break;       /* half to even */
    case FG_U_TRUNC: UNARY_LOOP(M_TRUNC(v)); break;
    case FG_U_HARDTANH: UNARY_LOOP(v < a ? a : (v > b ? b : v)); break;
    case FG_U_ELU: UNARY_LOOP(v > (T)0 ? b * v : b * a * M_EXPM1(v)); break;
    case FG_U_MISH: UNARY_LOOP(M_MISH(v)); break;
    case FG_U_HARDSWISH:
        UNARY_LOOP(({ T c = v + (T)3; c = c < (T)0 ? (T)0 : (c > (T)6 ? (T)6 : c); v * c / (T)6; }));
        break;
    case FG_U_HARDSIGMOID:
        UNARY_LOOP(({ T c = v + (T)3; c = c < (T)0 ? (T)0 : (c > (T)6 ? (T)6 : c); c / (T)6; }));
        break;
    case FG_U_LOGIT:
        if (beta != 0.0) {
            const T elo = a, ehi = (T)1 - a;
            UNARY_LOOP(M_LOGIT(v < elo ? elo : (v > ehi ? ehi : v)));
        } else {
            UNARY_LOOP(M_LOGIT(v));
        }
        break;
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
    case FG_U_EXP2: BWD_LOOP_X(gv * (T)0.69314718055994530942 * M_EXP2(v)); break;
    case FG_U_LOG2: BWD_LOOP_X(gv / (v * (T)0.69314718055994530942)); break;
    case FG_U_LOG10: BWD_LOOP_X(gv / (v * (T)2.30258509299404568402)); break;
    case FG_U_EXPM1: BWD_LOOP_X(gv * M_EXP(v)); break;
    case FG_U_TAN:
        /* 1 + tan^2; huge |x| (float) recomputed through the scalar fix-up */
        FG_PAR_RANGE(n, nt, 64, {
            for (int64_t i = lo; i < hi; i++) { const T t = M_TAN(x[i]); gx[i] = g[i] * ((T)1 + t * t); }
            if (sizeof(T) == 4)
                for (int64_t i = lo; i < hi; i++)
                    if (!(M_ABS(x[i]) <= (T)FG_SINCOS_BIG) && x[i] == x[i]) {
                        const T t = M_TAN_BIG(x[i]);
                        gx[i] = g[i] * ((T)1 + t * t);
                    }
        });
        break;
    case FG_U_ASIN: BWD_LOOP_X(gv / M_SQRT((T)1 - v * v)); break;
    case FG_U_ACOS: BWD_LOOP_X(-gv / M_SQRT((T)1 - v * v)); break;
    case FG_U_ATAN: BWD_LOOP_X(gv / ((T)1 + v * v)); break;
    case FG_U_SINH: BWD_LOOP_X(gv * M_COSH(v)); break;
    case FG_U_COSH: BWD_LOOP_X(gv * M_SINH(v)); break;
    case FG_U_FLOOR: case FG_U_CEIL: case FG_U_ROUND: case FG_U_TRUNC: BWD_LOOP_X((T)0); break;
    case FG_U_HARDTANH: BWD_LOOP_X(v > a && v < b ? gv : (T)0); break;
    case FG_U_ELU: BWD_LOOP_X(v > (T)0 ? gv * b : gv * b * a * M_EXP(v)); break;
    case FG_U_MISH:
        /* tanh(sp) + x sech^2(sp) sigmoid(x), sp = softplus(x); with e = e^x and
         * n = e (e + 2), tanh(sp) = n / (n + 2).  x is clamped to [-80, 20], where the
         * derivative has reached its limits 0 and 1 to working precision. */
        BWD_LOOP_X(({
            T c = v > (T)20 ? (T)20 : (v < (T)-80 ? (T)-80 : v);
            T e = M_EXP(c), nn = e * (e + (T)2), t = nn / (nn + (T)2);
            gv * (t + c * ((T)1 - t * t) * (e / ((T)1 + e)));
        }));
        break;
    case FG_U_HARDSWISH:
        BWD_LOOP_X(v < (T)-3 ? (T)0 : (v <= (T)3 ? gv * (v / (T)3 + (T)0.5) : gv));
        break;
    case FG_U_HARDSIGMOID: BWD_LOOP_X(v > (T)-3 && v < (T)3 ? gv / (T)6 : (T)0); break;
    case FG_U_LOGIT:
        if (beta != 0.0) {
            const T elo = a, ehi = (T)1 - a;
            BWD_LOOP_X(v < elo || v > ehi ? (T)0 : gv / (v * ((T)1 - v)));
        } else {
            BWD_LOOP_X(v < (T)0 || v > (T)1 ? (T)NAN : gv / (v * ((T)1 - v)));
        }
        break;
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
BIN_KERNEL(b_atan2, T, M_ATAN2(a, b))
/* fmod/remainder: a vectorised exact formula where M_FMOD_OK holds (float32, see
 * vecmath.h), then a scalar pass over the row for the remaining lanes (huge quotients,
 * b = 0, inf, nan) through libm. */
#define FG_PYREM(R) ({ T r_ = (R); (r_ != (T)0 && ((r_ < (T)0) != (b < (T)0))) ? r_ + b : r_; })
#define BIN_KERNEL_FIX(NAME, EXPR, SLOW)                                                  \
    static void FN(NAME)(const fg_bcast *it, const T *A, const T *B, T *out, int nt)      \
    {                                                                                      \
        FG_PAR_RANGE(it->total, nt, 64, {                                                  \
            FG_BCAST_ROWS(it, lo, hi, {                                                    \
                const T *ap = A + p0, *bp = B + p1;                                        \
                T *op = out + o;                                                           \
                if (i0 == 1 && i1 == 1) {                                                  \
                    for (int64_t j = 0; j < len; j++) { const T a = ap[j], b = bp[j]; op[j] = (EXPR); } \
                } else if (i0 == 1 && i1 == 0) {                                           \
                    const T b = bp[0];                                                     \
                    for (int64_t j = 0; j < len; j++) { const T a = ap[j]; op[j] = (EXPR); } \
                } else {                                                                   \
                    for (int64_t j = 0; j < len; j++) {                                    \
                        const T a = ap[j * i0], b = bp[j * i1]; op[j] = (EXPR);            \
                    }                                                                      \
                }                                                                          \
                for (int64_t j = 0; j < len; j++) {                                        \
                    const T a = ap[j * i0], b = bp[j * i1];                                \
                    if (!M_FMOD_OK(a, b)) op[j] = (SLOW);                                  \
                }                                                                          \
            });                                                                            \
        });                                                                                \
    }
BIN_KERNEL_FIX(b_fmod, M_FMOD_FAST(a, b), M_FMOD(a, b))
/* Python/PyTorch remainder: fmod, then shifted by b when the signs differ */
BIN_KERNEL_FIX(b_remainder, FG_PYREM(M_FMOD_FAST(a, b)), FG_PYREM(M_FMOD(a, b)))
#undef BIN_KERNEL_FIX
#undef FG_PYREM
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
    case FG_B_ATAN2: FN(b_atan2)(&it, a, b, out, nt); break;
    case FG_B_FMOD: FN(b_fmod)(&it, a, b, out, nt); break;
    case FG_B_REMAINDER: FN(b_remainder)(&it, a, b, out, nt); break;
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
