/* Elementwise kernels, instantiated once per (ISA, dtype) by kern_isa.h.  The ops and
 * their bodies are the rows of ops/unary.def, ops/binary.def and ops/compare.def.
 * Threads: unary, binary and compare run single-threaded over what they are given; the
 * public entry points (kern_dispatch.c) split large problems on fastgrad's pool and call
 * them once per chunk.  where and copy split themselves (fg_parallel_split).
 * Expects: T (float/double), TS (f32/f64), FN(name) (adds the dtype and ISA suffix),
 * and the math macros M_EXP, M_LOG, ... for T. */

/* ---- unary forward ----------------------------------------------------------------- */
#define UNARY_LOOP(EXPR)                                                               \
    FG_RANGE_ALL(n, {                                                          \
        for (int64_t i = lo; i < hi; i++) { const T v = x[i]; y[i] = (EXPR); }          \
    })

/* Statement bodies named by ops/unary.def rows.
 * sin/cos/tan: vectorised on the common range, then a scalar fix-up for huge arguments. */
#define U_TRIG_FWD(F, FBIG)                                                            \
    FG_RANGE_ALL(n, {                                                          \
        for (int64_t i = lo; i < hi; i++) y[i] = F(x[i]);                               \
        if (sizeof(T) == 4)                                                             \
            for (int64_t i = lo; i < hi; i++)                                           \
                if (!(M_ABS(x[i]) <= (T)FG_SINCOS_BIG) && x[i] == x[i]) y[i] = FBIG(x[i]); \
    })
/* alpha = beta of the op (scale), beta = threshold: x when scale*x > threshold */
#define U_SOFTPLUS_FWD                                                                 \
    if (a == (T)1) {                                                                   \
        UNARY_LOOP(v > b ? v : M_SOFTPLUS(v));                                         \
    } else {                                                                           \
        const T ia = (T)1 / a;                                                         \
        UNARY_LOOP(v * a > b ? v : M_SOFTPLUS(v * a) * ia);                            \
    }
#define U_POW_SCALAR_FWD                                                               \
    if (alpha == 2.0) UNARY_LOOP(v * v);                                               \
    else if (alpha == 1.0) UNARY_LOOP(v);                                              \
    else if (alpha == 0.5) UNARY_LOOP(M_SQRT(v));                                      \
    else if (alpha == -1.0) UNARY_LOOP((T)1 / v);                                      \
    else if (alpha == -0.5) UNARY_LOOP((T)1 / M_SQRT(v));                              \
    else if (alpha == -2.0) UNARY_LOOP((T)1 / (v * v));                                \
    else if (alpha == 3.0) UNARY_LOOP(v * v * v);                                      \
    else UNARY_LOOP(M_POW(v, a));
#define U_LOGIT_FWD                                                                    \
    if (beta != 0.0) {                                                                 \
        const T elo = a, ehi = (T)1 - a;                                               \
        UNARY_LOOP(M_LOGIT(v < elo ? elo : (v > ehi ? ehi : v)));                      \
    } else {                                                                           \
        UNARY_LOOP(M_LOGIT(v));                                                        \
    }

/* a row's FWD field: E(expression) or S(statement) */
#define U_FWD_E(...) UNARY_LOOP(__VA_ARGS__)
#define U_FWD_S(...) __VA_ARGS__

int FN(unary)(int op, int64_t n, const T *x, T *y, double alpha, double beta, int nthreads)
{
    FG_CHECK(n >= 0 && (n == 0 || (x && y)));
    (void)nthreads;
    const T a = (T)alpha, b = (T)beta;
    switch (op) {
#define FG_UNARY(ID, NAME, SRC, FWD, BWD) case FG_U_##ID: { U_FWD_##FWD; } break;
#include "ops/unary.def"
    default: return FG_EINVAL;
    }
    return FG_OK;
}
#undef UNARY_LOOP
#undef U_TRIG_FWD
#undef U_SOFTPLUS_FWD
#undef U_POW_SCALAR_FWD
#undef U_LOGIT_FWD
#undef U_FWD_E
#undef U_FWD_S

/* ---- unary backward ---------------------------------------------------------------- */
#define BWD_LOOP_X(EXPR)                                                               \
    FG_RANGE_ALL(n, {                                                          \
        for (int64_t i = lo; i < hi; i++) { const T gv = g[i], v = x[i]; (void)v; (void)gv; gx[i] = (EXPR); } \
    })
#define BWD_LOOP_Y(EXPR)                                                               \
    FG_RANGE_ALL(n, {                                                          \
        for (int64_t i = lo; i < hi; i++) { const T gv = g[i], u = y[i]; gx[i] = (EXPR); } \
    })

/* Statement bodies named by ops/unary.def rows. */
/* float: fg_gelu_tanh_gradf (vecmath.h); double: the tanh formula */
#define U_GELU_TANH_BWD                                                                \
    const T k = (T)0.79788456080286535588, c = (T)0.044715;                            \
    if (sizeof(T) == 4) {                                                              \
        BWD_LOOP_X(gv * (T)fg_gelu_tanh_gradf((float)v));                              \
    } else {                                                                           \
        BWD_LOOP_X(({                                                                  \
            const T t = M_TANH(k * (v + c * v * v * v));                               \
            gv * ((T)0.5 * ((T)1 + t) + (T)0.5 * v * ((T)1 - t * t) * k * ((T)1 + (T)3 * c * v * v)); \
        }));                                                                           \
    }
/* a x^(a-1): products for small integer exponents and 1/sqrt for a = 0.5 (vectorised;
 * M_POW is a scalar libm call, ~20 ns an element) */
#define U_POW_SCALAR_BWD                                                               \
    if (alpha == 0.0) BWD_LOOP_X((T)0 * gv);                                           \
    else if (alpha == 1.0) BWD_LOOP_X(gv);                                             \
    else if (alpha == 2.0) BWD_LOOP_X((T)2 * gv * v);                                  \
    else if (alpha == 3.0) BWD_LOOP_X((T)3 * gv * (v * v));                            \
    else if (alpha == 4.0) BWD_LOOP_X((T)4 * gv * (v * v * v));                        \
    else if (alpha == 0.5) BWD_LOOP_X((T)0.5 * gv / M_SQRT(v));                        \
    else if (alpha == -1.0) BWD_LOOP_X(-gv / (v * v));                                 \
    else if (alpha == -2.0) BWD_LOOP_X((T)-2 * gv / (v * v * v));                      \
    else BWD_LOOP_X(gv * a * M_POW(v, a - (T)1));
/* 1 + tan^2; huge |x| (float) recomputed through the scalar fix-up */
#define U_TAN_BWD                                                                      \
    FG_RANGE_ALL(n, {                                                          \
        for (int64_t i = lo; i < hi; i++) { const T t = M_TAN(x[i]); gx[i] = g[i] * ((T)1 + t * t); } \
        if (sizeof(T) == 4)                                                             \
            for (int64_t i = lo; i < hi; i++)                                           \
                if (!(M_ABS(x[i]) <= (T)FG_SINCOS_BIG) && x[i] == x[i]) {               \
                    const T t = M_TAN_BIG(x[i]);                                        \
                    gx[i] = g[i] * ((T)1 + t * t);                                      \
                }                                                                       \
    });
/* tanh(sp) + x sech^2(sp) sigmoid(x), sp = softplus(x); with e = e^x and n = e (e + 2),
 * tanh(sp) = n / (n + 2).  x is clamped to [-80, 20], where the derivative has reached
 * its limits 0 and 1 to working precision. */
#define U_MISH_BWD                                                                     \
    BWD_LOOP_X(({                                                                      \
        T c = v > (T)20 ? (T)20 : (v < (T)-80 ? (T)-80 : v);                           \
        T e = M_EXP(c), nn = e * (e + (T)2), t = nn / (nn + (T)2);                     \
        gv * (t + c * ((T)1 - t * t) * (e / ((T)1 + e)));                              \
    }));
#define U_LOGIT_BWD                                                                    \
    if (beta != 0.0) {                                                                 \
        const T elo = a, ehi = (T)1 - a;                                               \
        BWD_LOOP_X(v < elo || v > ehi ? (T)0 : gv / (v * ((T)1 - v)));                \
    } else {                                                                           \
        BWD_LOOP_X(v < (T)0 || v > (T)1 ? (T)NAN : gv / (v * ((T)1 - v)));            \
    }

/* a row's SRC and BWD fields: the pointer the backward reads, E(expression) over it or
 * S(statement) */
#define U_SRC_X x
#define U_SRC_Y y
#define U_BWD_X_E(...) BWD_LOOP_X(__VA_ARGS__)
#define U_BWD_Y_E(...) BWD_LOOP_Y(__VA_ARGS__)
#define U_BWD_X_S(...) __VA_ARGS__
#define U_BWD_Y_S(...) __VA_ARGS__

int FN(unary_bwd)(int op, int64_t n, const T *g, const T *x, const T *y, T *gx, double alpha,
                  double beta, int nthreads)
{
    FG_CHECK(n >= 0 && (n == 0 || (g && gx)));
    (void)nthreads;
    const T a = (T)alpha, b = (T)beta;
    switch (op) {
#define FG_UNARY(ID, NAME, SRC, FWD, BWD)                                              \
    case FG_U_##ID: {                                                                  \
        FG_CHECK(n == 0 || U_SRC_##SRC != NULL);                                       \
        U_BWD_##SRC##_##BWD;                                                           \
    } break;
#include "ops/unary.def"
    default: return FG_EINVAL;
    }
    return FG_OK;
}
#undef BWD_LOOP_X
#undef BWD_LOOP_Y
#undef U_GELU_TANH_BWD
#undef U_POW_SCALAR_BWD
#undef U_TAN_BWD
#undef U_MISH_BWD
#undef U_LOGIT_BWD
#undef U_SRC_X
#undef U_SRC_Y
#undef U_BWD_X_E
#undef U_BWD_Y_E
#undef U_BWD_X_S
#undef U_BWD_Y_S

/* ---- binary and compare with broadcasting ---------------------------------------------- */
/* One kernel per row: EXPR over the row's elements a and b (contiguous, one side
 * broadcast, or strided), then FIXUP (a statement over the same row, may be empty). */
#define BIN_KERNEL(NAME, OUT_T, EXPR, FIXUP)                                               \
    static void FN(NAME)(const fg_bcast *it, const T *A, const T *B, OUT_T *out)          \
    {                                                                                      \
        FG_RANGE_ALL(it->total, {                                                          \
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
                FIXUP                                                                      \
            });                                                                            \
        });                                                                                \
    }

/* a binary row's BODY field: E(expression) or FMOD_FIX(fast, exact) (ops/binary.def) */
#define BIN_EXPR_E(...) __VA_ARGS__
#define BIN_FIXUP_E(...)
#define BIN_EXPR_FMOD_FIX(FAST, EXACT) FAST
#define BIN_FIXUP_FMOD_FIX(FAST, EXACT)                                                    \
    for (int64_t j = 0; j < len; j++) {                                                    \
        const T a = ap[j * i0], b = bp[j * i1];                                            \
        if (!M_FMOD_OK(a, b)) op[j] = (EXACT);                                             \
    }
#define FG_PYREM(R) ({ T r_ = (R); (r_ != (T)0 && ((r_ < (T)0) != (b < (T)0))) ? r_ + b : r_; })
#define FG_BINARY(ID, NAME, BODY) BIN_KERNEL(b_##NAME, T, BIN_EXPR_##BODY, BIN_FIXUP_##BODY)
#include "ops/binary.def"
#define FG_COMPARE(ID, NAME, EXPR) BIN_KERNEL(c_##NAME, uint8_t, EXPR, )
#include "ops/compare.def"
#undef BIN_KERNEL
#undef BIN_EXPR_E
#undef BIN_FIXUP_E
#undef BIN_EXPR_FMOD_FIX
#undef BIN_FIXUP_FMOD_FIX
#undef FG_PYREM

int FN(binary)(int op, int ndim, const int64_t *shape, const T *a, const int64_t *sa,
               const T *b, const int64_t *sb, T *out, int nthreads)
{
    fg_bcast it;
    if (fg_bcast_init(&it, 2, ndim, shape, sa, sb, NULL) != FG_OK) return FG_EINVAL;
    if (it.total == 0) return FG_OK;
    FG_CHECK(a && b && out);
    (void)nthreads;
    switch (op) {
#define FG_BINARY(ID, NAME, BODY) case FG_B_##ID: FN(b_##NAME)(&it, a, b, out); break;
#include "ops/binary.def"
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
    (void)nthreads;
    switch (op) {
#define FG_COMPARE(ID, NAME, EXPR) case FG_C_##ID: FN(c_##NAME)(&it, a, b, out); break;
#include "ops/compare.def"
    default: return FG_EINVAL;
    }
    return FG_OK;
}

/* where and copy: one part [lo, hi) of the flat output per call (fg_parallel_split) */
typedef struct {
    const fg_bcast *it;
    const uint8_t *c;
    const T *a, *b;
    T *out;
} FN(where_ctx);

static void FN(where_part)(void *vctx, int64_t lo, int64_t hi, int part)
{
    const FN(where_ctx) *w = vctx;
    const uint8_t *c = w->c;
    const T *a = w->a, *b = w->b;
    T *out = w->out;
    (void)part;
    FG_BCAST_ROWS(w->it, lo, hi, {
        const uint8_t *cp = c + p0;
        const T *ap = a + p1, *bp = b + p2;
        T *op = out + o;
        for (int64_t j = 0; j < len; j++)
            op[j] = cp[j * i0] ? ap[j * i1] : bp[j * i2];
    });
}

int FN(where)(int ndim, const int64_t *shape, const uint8_t *c, const int64_t *sc, const T *a,
              const int64_t *sa, const T *b, const int64_t *sb, T *out, int nthreads)
{
    fg_bcast it;
    if (fg_bcast_init(&it, 3, ndim, shape, sc, sa, sb) != FG_OK) return FG_EINVAL;
    if (it.total == 0) return FG_OK;
    FG_CHECK(c && a && b && out);
    /* reads a condition byte and two values, writes one value per element */
    const double t1 = fg_cost_ns((double)it.total * (3.0 * sizeof(T) + 1.0), 0.0);
    FN(where_ctx) w = {&it, c, a, b, out};
    return fg_parallel_split(fg_threads_ns(t1, nthreads), it.total, 64, FN(where_part), &w, t1);
}

typedef struct {
    const fg_bcast *it;
    const T *x;
    T *out;
} FN(copy_ctx);

static void FN(copy_part)(void *vctx, int64_t lo, int64_t hi, int part)
{
    const FN(copy_ctx) *w = vctx;
    const T *x = w->x;
    T *out = w->out;
    (void)part;
    FG_BCAST_ROWS(w->it, lo, hi, {
        const T *xp = x + p0;
        T *op = out + o;
        if (i0 == 1) for (int64_t j = 0; j < len; j++) op[j] = xp[j];
        else for (int64_t j = 0; j < len; j++) op[j] = xp[j * i0];
    });
}

int FN(copy)(int ndim, const int64_t *shape, const T *x, const int64_t *sx, T *out, int nthreads)
{
    fg_bcast it;
    if (fg_bcast_init(&it, 1, ndim, shape, sx, NULL, NULL) != FG_OK) return FG_EINVAL;
    if (it.total == 0) return FG_OK;
    FG_CHECK(x && out);
    const double t1 = fg_cost_ns((double)it.total * 2.0 * sizeof(T), 0.0);
    FN(copy_ctx) w = {&it, x, out};
    return fg_parallel_split(fg_threads_ns(t1, nthreads), it.total, 64, FN(copy_part), &w, t1);
}
