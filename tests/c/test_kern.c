/* The elementwise, reduction and softmax kernels a training step uses (unary math and
 * activations, broadcast add/mul, sum and logsumexp, softmax / log_softmax) against a
 * double-precision reference, float32 and float64, on every SIMD path the CPU has, one
 * and two threads, lengths around the vector widths and the threading threshold.  Its
 * main use is the arm64 build under qemu (run_aarch64.sh builds and runs it), where the
 * kernels are the compiler's NEON vectorisation of the baseline path; natively it builds
 * the same way (test_kern.c, kern_*.c, kern_dispatch.c, cpu.c, alloc.c, threadpool.c,
 * port.c) and checks every x86 SIMD path.
 * Exit status: 0 when every check passes, 1 otherwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fastgrad.h"

static int n_fail = 0, n_run = 0;

static double rng_state = 0.123456789;
static double urand(void)      /* deterministic, in [0, 1) */
{
    rng_state = fmod(rng_state * 9301.0 + 49297.0, 233280.0);
    return rng_state / 233280.0;
}

typedef struct { int op; const char *name; double lo, hi; } unop;
static const unop unops[] = {
    {FG_U_NEG, "neg", -5, 5},        {FG_U_ABS, "abs", -5, 5},
    {FG_U_EXP, "exp", -80, 80},      {FG_U_LOG, "log", 1e-3, 1e3},
    {FG_U_SQRT, "sqrt", 0, 100},     {FG_U_TANH, "tanh", -10, 10},
    {FG_U_SIGMOID, "sigmoid", -30, 30}, {FG_U_RELU, "relu", -5, 5},
    {FG_U_GELU, "gelu", -8, 8},      {FG_U_SILU, "silu", -20, 20},
    {FG_U_SIN, "sin", -10, 10},      {FG_U_COS, "cos", -10, 10},
    {FG_U_ERF, "erf", -4, 4},
};

static double ref_unary(int op, double v)
{
    switch (op) {
    case FG_U_NEG: return -v;
    case FG_U_ABS: return fabs(v);
    case FG_U_EXP: return exp(v);
    case FG_U_LOG: return log(v);
    case FG_U_SQRT: return sqrt(v);
    case FG_U_TANH: return tanh(v);
    case FG_U_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case FG_U_RELU: return v > 0 ? v : 0.0;
    case FG_U_GELU: return 0.5 * v * (1.0 + erf(v * 0.70710678118654752440));
    case FG_U_SILU: return v / (1.0 + exp(-v));
    case FG_U_SIN: return sin(v);
    case FG_U_COS: return cos(v);
    case FG_U_ERF: return erf(v);
    default: return NAN;
    }
}

static int close_to(double got, double want, double rtol, double atol)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

#define FAIL(...)                                                                  \
    do {                                                                           \
        if (n_fail < 20) { printf("FAIL isa=%s ", fg_isa_name(fg_get_isa()));     \
                           printf(__VA_ARGS__); printf("\n"); }                    \
        n_fail++;                                                                  \
    } while (0)

/* one dtype: TS = f32 / f64, T the element type */
#define TEST_TYPE(T, TS, RTOL, ATOL)                                                          \
    static void test_##TS(int64_t n, int nt)                                                  \
    {                                                                                         \
        T *x = malloc(sizeof(T) * (size_t)n), *y = malloc(sizeof(T) * (size_t)n);             \
        T *z = malloc(sizeof(T) * (size_t)n);                                                 \
        for (size_t u = 0; u < sizeof unops / sizeof unops[0]; u++) {                         \
            const unop *o = &unops[u];                                                        \
            for (int64_t i = 0; i < n; i++) x[i] = (T)(o->lo + (o->hi - o->lo) * urand());    \
            n_run++;                                                                          \
            if (fg_unary_##TS(o->op, n, x, y, 0, 0, nt) != FG_OK) { FAIL(#TS " %s rc", o->name); continue; } \
            for (int64_t i = 0; i < n; i++)                                                   \
                if (!close_to(y[i], ref_unary(o->op, x[i]), RTOL, ATOL)) {                    \
                    FAIL(#TS " %s n=%lld nt=%d: x[%lld]=%.9g -> %.9g, want %.9g", o->name,    \
                         (long long)n, nt, (long long)i, (double)x[i], (double)y[i],          \
                         ref_unary(o->op, x[i]));                                             \
                    break;                                                                    \
                }                                                                             \
        }                                                                                     \
        /* (rows, cols) + (cols,) and * (rows, 1): broadcasting along either axis */          \
        const int64_t cols = n < 37 ? n : 37, rows = n / cols;                                \
        const int64_t shape[2] = {rows, cols}, sx[2] = {cols, 1}, sr[2] = {0, 1}, sc[2] = {1, 0}; \
        for (int64_t i = 0; i < n; i++) { x[i] = (T)(urand() * 4 - 2); z[i] = (T)(urand() * 4 - 2); } \
        n_run++;                                                                              \
        if (fg_binary_##TS(FG_B_ADD, 2, shape, x, sx, z, sr, y, nt) != FG_OK) FAIL(#TS " add rc"); \
        for (int64_t r = 0; r < rows; r++)                                                    \
            for (int64_t c = 0; c < cols; c++)                                                \
                if (y[r * cols + c] != (T)(x[r * cols + c] + z[c])) {                         \
                    FAIL(#TS " add n=%lld nt=%d at (%lld, %lld)", (long long)n, nt, (long long)r, (long long)c); \
                    r = rows; break;                                                          \
                }                                                                             \
        n_run++;                                                                              \
        if (fg_binary_##TS(FG_B_MUL, 2, shape, x, sx, z, sc, y, nt) != FG_OK) FAIL(#TS " mul rc"); \
        for (int64_t r = 0; r < rows; r++)                                                    \
            for (int64_t c = 0; c < cols; c++)                                                \
                if (y[r * cols + c] != (T)(x[r * cols + c] * z[r])) {                         \
                    FAIL(#TS " mul n=%lld nt=%d at (%lld, %lld)", (long long)n, nt, (long long)r, (long long)c); \
                    r = rows; break;                                                          \
                }                                                                             \
        /* sum and logsumexp over the middle axis of (2, m, inner); softmax rows */           \
        const int64_t inner = n % 2 ? 1 : 2, m = n / (2 * inner);                             \
        if (m > 0) {                                                                          \
            T out[4];                                                                         \
            for (int red = 0; red < 2; red++) {                                               \
                const int op = red ? FG_R_LOGSUMEXP : FG_R_SUM;                               \
                n_run++;                                                                      \
                if (fg_reduce_##TS(op, 2, m, inner, x, out, NULL, nt) != FG_OK) FAIL(#TS " reduce rc"); \
                for (int64_t o = 0; o < 2; o++)                                               \
                    for (int64_t j = 0; j < inner; j++) {                                     \
                        double s = 0, mx = -INFINITY, sa = 0;                                 \
                        for (int64_t i = 0; i < m; i++) {                                     \
                            const double v = x[(o * m + i) * inner + j];                      \
                            s += v; sa += fabs(v); if (v > mx) mx = v;                        \
                        }                                                                     \
                        double want = s, tol = RTOL * 4 * sa + ATOL;                          \
                        if (red) {                                                            \
                            double e = 0;                                                     \
                            for (int64_t i = 0; i < m; i++) e += exp(x[(o * m + i) * inner + j] - mx); \
                            want = mx + log(e); tol = RTOL * 8 * fabs(want) + ATOL * 8;       \
                        }                                                                     \
                        if (fabs(out[o * inner + j] - want) > tol)                            \
                            FAIL(#TS " %s n=%lld nt=%d: %.9g, want %.9g", red ? "logsumexp" : "sum", \
                                 (long long)n, nt, (double)out[o * inner + j], want);         \
                    }                                                                         \
            }                                                                                 \
            for (int lg = 0; lg < 2; lg++) {                                                  \
                n_run++;                                                                      \
                if (fg_softmax_##TS(lg, 2, m, inner, x, y, nt) != FG_OK) FAIL(#TS " softmax rc"); \
                for (int64_t o = 0; o < 2; o++)                                               \
                    for (int64_t j = 0; j < inner; j++) {                                     \
                        double mx = -INFINITY, e = 0;                                         \
                        for (int64_t i = 0; i < m; i++) { const double v = x[(o * m + i) * inner + j]; if (v > mx) mx = v; } \
                        for (int64_t i = 0; i < m; i++) e += exp(x[(o * m + i) * inner + j] - mx); \
                        for (int64_t i = 0; i < m; i++) {                                     \
                            const int64_t k = (o * m + i) * inner + j;                        \
                            const double lw = x[k] - mx - log(e);                             \
                            const double want = lg ? lw : exp(lw);                            \
                            if (!close_to(y[k], want, RTOL * 8, ATOL * 8)) {                  \
                                FAIL(#TS " %s n=%lld nt=%d at %lld: %.9g, want %.9g",         \
                                     lg ? "log_softmax" : "softmax", (long long)n, nt,        \
                                     (long long)k, (double)y[k], want);                       \
                                break;                                                        \
                            }                                                                 \
                        }                                                                     \
                    }                                                                         \
            }                                                                                 \
        }                                                                                     \
        free(x); free(y); free(z);                                                            \
    }
TEST_TYPE(float, f32, 2e-6, 1e-6)
TEST_TYPE(double, f64, 1e-12, 1e-14)

int main(void)
{
    const int64_t lens[] = {1, 3, 4, 7, 8, 15, 16, 17, 33, 63, 64, 65, 1000, 70001};
    const int best = fg_cpu_best_isa();
    for (int isa = FG_ISA_SCALAR; isa <= best; isa++) {
        fg_set_isa(isa);
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
            for (int nt = 1; nt <= 2; nt++) {
                test_f32(lens[l], nt);
                test_f64(lens[l], nt);
            }
    }
    fg_set_isa(best);
    printf("test_kern: %d checks, %d failures -> %s\n", n_run, n_fail, n_fail ? "FAILED" : "PASSED");
    return n_fail ? 1 : 0;
}
