/* ulp_check.c -- exhaustive accuracy sweep and throughput check for csrc/vecmath.h.
 *
 * This one file is compiled four times: three times as a "kernel" object (one per
 * instruction-set mode, each with its #pragma GCC target placed before vecmath.h is
 * included), and once as the driver that links them, so the double-precision
 * reference is computed once per input and shared by all three modes.
 *
 *   CF="-O3 -fno-math-errno -Icsrc"
 *   gcc $CF -DFG_KMODE=0 -fno-tree-vectorize -c tools/ulp_check.c -o /tmp/ulp_k0.o
 *   gcc $CF -DFG_KMODE=1 -fopt-info-vec-optimized -c tools/ulp_check.c -o /tmp/ulp_k1.o
 *   gcc $CF -DFG_KMODE=2 -fopt-info-vec-optimized -c tools/ulp_check.c -o /tmp/ulp_k2.o
 *   gcc $CF -fopenmp tools/ulp_check.c /tmp/ulp_k[012].o -lm -o /tmp/ulp_check
 *
 * The -fopt-info lines name the source line of each K(...) kernel below, e.g.
 * "ulp_check.c:NN:..: optimized: loop vectorized using 64 byte vectors".
 *
 *   /tmp/ulp_check                 all functions, all 2^32 inputs (NaN inputs skipped;
 *                                  NaN propagation and special values checked apart)
 *   /tmp/ulp_check -f tanh,exp     only these functions
 *   /tmp/ulp_check -s 101          every 101st bit pattern (quick run)
 *   /tmp/ulp_check -b              throughput only (ns/element, 1e6 elements, 1 thread)
 *
 * exp2 ... logit evaluate in double inside (see vecmath.h); tan is checked
 * through the same vector pass + scalar big-|x| fix-up as the kernels use.
 *   /tmp/ulp_check -n              accuracy only
 *
 * Error measure: |f(x) - ref(x)| / ulp(float nearest ref(x)), ref computed in double
 * with libm; the ulp of a subnormal (or zero) is 2^-149.  Modes: 0 = scalar (plain
 * x86-64, no FMA, not vectorized), 1 = AVX2+FMA, 2 = AVX-512.  sin/cos are checked
 * through fg_sinf_array/fg_cosf_array (vector pass + scalar big-|x| fix-up).
 */
#define FG_NFUNC 25
#define FG_FUNC_LIST(X)                                                                  \
    X(exp) X(expm1) X(log) X(log1p) X(tanh) X(sigmoid) X(softplus) X(erf) X(erfc)        \
    X(gelu) X(gelu_tanh) X(silu) X(sin) X(cos)                                           \
    X(exp2) X(log2) X(log10) X(tan) X(asin) X(acos) X(atan) X(sinh) X(cosh) X(mish)      \
    X(logit)

#ifdef FG_KMODE
/* ================================================================== kernels */
#if FG_KMODE == 1
#pragma GCC target("avx2,fma")
#elif FG_KMODE == 2
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")
#endif
#include "vecmath.h"

#define KCAT2(a, b, c) a##b##c
#define KCAT(a, b, c) KCAT2(a, b, c)
#define K(name)                                                                          \
    void KCAT(fgk, FG_KMODE, _##name)(const float *restrict x, float *restrict y, long n) \
    {                                                                                    \
        for (long i = 0; i < n; i++) y[i] = fg_##name##f(x[i]);                          \
    }
K(exp)
K(expm1)
K(log)
K(log1p)
K(tanh)
K(sigmoid)
K(softplus)
K(erf)
K(erfc)
K(gelu)
K(gelu_tanh)
K(silu)
K(exp2)
K(log2)
K(log10)
K(asin)
K(acos)
K(atan)
K(sinh)
K(cosh)
K(mish)
K(logit)
/* tan: vector pass, then the scalar fix-up for |x| > FG_TRIG_MAX (as the kernels do) */
void KCAT(fgk, FG_KMODE, _tan)(const float *restrict x, float *restrict y, long n)
{
    for (long i = 0; i < n; i++) y[i] = fg_tanf(x[i]);
    for (long i = 0; i < n; i++)
        if (!(fg__absf(x[i]) <= FG_TRIG_MAX) && x[i] == x[i]) y[i] = fg_tanf_big(x[i]);
}
void KCAT(fgk, FG_KMODE, _sin)(const float *restrict x, float *restrict y, long n)
{
    fg_sinf_array(x, y, n);
}
void KCAT(fgk, FG_KMODE, _cos)(const float *restrict x, float *restrict y, long n)
{
    fg_cosf_array(x, y, n);
}
#else
/* =================================================================== driver */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*kfn)(const float *restrict, float *restrict, long);
#define DECL(name)                                                                       \
    void fgk0_##name(const float *restrict, float *restrict, long);                      \
    void fgk1_##name(const float *restrict, float *restrict, long);                      \
    void fgk2_##name(const float *restrict, float *restrict, long);
FG_FUNC_LIST(DECL)
#define TAB(name) {#name, {fgk0_##name, fgk1_##name, fgk2_##name}},
static const struct { const char *name; kfn k[3]; } funcs[FG_NFUNC] = {FG_FUNC_LIST(TAB)};
static const char *mode_name[3] = {"scalar", "avx2", "avx512"};

/* ------------------------------------------------------ double references */
static double sigm_d(double a) /* 1/(1+e^-a) without overflow trouble */
{
    return a >= 0 ? 1.0 / (1.0 + exp(-a)) : exp(a) / (1.0 + exp(a));
}
static double ref(int fn, float xf)
{
    double x = xf;
    switch (fn) {
    case 0: return exp(x);
    case 1: return expm1(x);
    case 2: return log(x);
    case 3: return log1p(x);
    case 4: return tanh(x);
    case 5: return sigm_d(x);
    case 6: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    case 7: return erf(x);
    case 8: return erfc(x);
    case 9: return isinf(x) ? (x > 0 ? x : -0.0) : 0.5 * x * erfc(-x * 0.70710678118654752440);
    case 10: {
        if (isinf(x)) return x > 0 ? x : -0.0;
        double z = 0.79788456080286535588 * (x + 0.044715 * x * x * x);
        return x * sigm_d(2 * z);
    }
    case 11: return isinf(x) ? (x > 0 ? x : -0.0) : x * sigm_d(x);
    case 12: return sin(x);
    case 13: return cos(x);
    case 14: return exp2(x);
    case 15: return log2(x);
    case 16: return log10(x);
    case 17: return tan(x);
    case 18: return asin(x);
    case 19: return acos(x);
    case 20: return atan(x);
    case 21: return sinh(x);
    case 22: return cosh(x);
    case 23: {
        if (isinf(x)) return x > 0 ? x : -0.0;
        double sp = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
        return x * tanh(sp);
    }
    case 24: return log(x / (1.0 - x));
    }
    return NAN;
}

static double ulp_err(float f, double r)
{
    if (isnan(r)) return isnan(f) ? 0 : INFINITY;
    if (isnan(f)) return INFINITY;
    float rf = (float)r;
    if (isinf(f) || isinf(rf)) {
        if (f == rf) return 0;
        if (isinf(f)) return INFINITY;
        return fabs((double)f - r) / 0x1p104;
    }
    double u;
    if (fabsf(rf) < 0x1p-126f) u = 0x1p-149;
    else { int e; frexp(rf, &e); u = ldexp(1.0, e - 24); }
    return fabs((double)f - r) / u;
}

static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ------------------------------------------------------------------- sweep */
#define CH 16384
typedef struct { double err; uint32_t arg; long nbad1, nbad4; } stat_t;

static void sweep(int fn, uint64_t step, stat_t st[3])
{
    uint64_t total = (0x100000000ull + step - 1) / step;
    long nch = (long)((total + CH - 1) / CH);
    for (int m = 0; m < 3; m++) memset(&st[m], 0, sizeof st[m]);
#pragma omp parallel
    {
        float *xb = malloc(CH * sizeof(float)), *yb = malloc(3 * CH * sizeof(float));
        stat_t loc[3];
        memset(loc, 0, sizeof loc);
#pragma omp for schedule(dynamic, 4)
        for (long c = 0; c < nch; c++) {
            uint64_t j0 = (uint64_t)c * CH;
            long n = (long)((total - j0) < CH ? (total - j0) : CH);
            for (long i = 0; i < n; i++) {
                float v = u2f((uint32_t)((j0 + i) * step));
                xb[i] = isnan(v) ? 1.0f : v;
            }
            for (int m = 0; m < 3; m++) funcs[fn].k[m](xb, yb + m * CH, n);
            for (long i = 0; i < n; i++) {
                uint32_t bits = (uint32_t)((j0 + i) * step);
                if (isnan(u2f(bits))) continue;
                double r = ref(fn, xb[i]);
                for (int m = 0; m < 3; m++) {
                    double e = ulp_err(yb[m * CH + i], r);
                    if (e > 1.0) loc[m].nbad1++;
                    if (e > 4.0) loc[m].nbad4++;
                    if (e > loc[m].err || (e == loc[m].err && bits < loc[m].arg && e > 0))
                        loc[m].err = e, loc[m].arg = bits;
                }
            }
        }
#pragma omp critical
        for (int m = 0; m < 3; m++) {
            if (loc[m].err > st[m].err) st[m].err = loc[m].err, st[m].arg = loc[m].arg;
            st[m].nbad1 += loc[m].nbad1;
            st[m].nbad4 += loc[m].nbad4;
        }
        free(xb);
        free(yb);
    }
}

/* NaN propagation and a few special values (reported, sign of zero included) */
static int specials(int fn)
{
    static const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u,
                                    0x7fa00000u, 0x7fffffffu};
    static const float vals[] = {0.0f, -0.0f, INFINITY, -INFINITY, 1.0f, -1.0f,
                                 0x1p-149f, -0x1p-149f, 0x1.fffffep127f, -0x1.fffffep127f};
    enum { NN = sizeof nans / sizeof nans[0], NV = sizeof vals / sizeof vals[0] };
    float x[NN + NV], y[NN + NV];
    int bad = 0;
    for (int i = 0; i < NN; i++) x[i] = u2f(nans[i]);
    for (int i = 0; i < NV; i++) x[NN + i] = vals[i];
    for (int m = 0; m < 3; m++) {
        funcs[fn].k[m](x, y, NN + NV);
        for (int i = 0; i < NN; i++)
            if (!isnan(y[i])) {
                printf("  NaN FAIL %s/%s: f(0x%08x) = %a\n", funcs[fn].name, mode_name[m], nans[i], y[i]);
                bad++;
            }
        for (int i = NN; i < NN + NV; i++) {
            double r = ref(fn, x[i]);
            int zs = (r == 0 && y[i] == 0 && !signbit(r) != !signbit(y[i]));
            if (ulp_err(y[i], r) > 4 || zs) {
                printf("  special %s %s/%s: f(%a) = %a, ref %a\n", zs ? "(sign of zero)" : "FAIL",
                       funcs[fn].name, mode_name[m], x[i], y[i], r);
                bad += !zs;
            }
        }
    }
    return bad;
}

/* -------------------------------------------------------------- throughput */
static float randn(uint64_t *s)
{
    double u1, u2;
    *s = *s * 6364136223846793005ull + 1442695040888963407ull; u1 = ((*s >> 11) + 1) * 0x1p-53;
    *s = *s * 6364136223846793005ull + 1442695040888963407ull; u2 = (*s >> 11) * 0x1p-53;
    return (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}
#define LIBM_LOOP(nm, expr)                                                              \
    static void nm(const float *restrict xp, float *restrict yp, long n)                  \
    {                                                                                    \
        for (long i = 0; i < n; i++) { float x = xp[i]; yp[i] = (expr); }                \
    }
LIBM_LOOP(lm_exp, expf(x))
LIBM_LOOP(lm_expm1, expm1f(x))
LIBM_LOOP(lm_log, logf(x))
LIBM_LOOP(lm_log1p, log1pf(x))
LIBM_LOOP(lm_tanh, tanhf(x))
LIBM_LOOP(lm_sigmoid, 1.0f / (1.0f + expf(-x)))
LIBM_LOOP(lm_softplus, x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)))
LIBM_LOOP(lm_erf, erff(x))
LIBM_LOOP(lm_erfc, erfcf(x))
LIBM_LOOP(lm_gelu, 0.5f * x * erfcf(-x * 0.70710678f))
LIBM_LOOP(lm_gelu_tanh, 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x))))
LIBM_LOOP(lm_silu, x / (1.0f + expf(-x)))
LIBM_LOOP(lm_sin, sinf(x))
LIBM_LOOP(lm_cos, cosf(x))
LIBM_LOOP(lm_exp2, exp2f(x))
LIBM_LOOP(lm_log2, log2f(x))
LIBM_LOOP(lm_log10, log10f(x))
LIBM_LOOP(lm_tan, tanf(x))
LIBM_LOOP(lm_asin, asinf(x))
LIBM_LOOP(lm_acos, acosf(x))
LIBM_LOOP(lm_atan, atanf(x))
LIBM_LOOP(lm_sinh, sinhf(x))
LIBM_LOOP(lm_cosh, coshf(x))
LIBM_LOOP(lm_mish, x * tanhf(x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x))))
LIBM_LOOP(lm_logit, logf(x / (1.0f - x)))
static const kfn libm_k[FG_NFUNC] = {lm_exp, lm_expm1, lm_log, lm_log1p, lm_tanh,
                                     lm_sigmoid, lm_softplus, lm_erf, lm_erfc, lm_gelu,
                                     lm_gelu_tanh, lm_silu, lm_sin, lm_cos,
                                     lm_exp2, lm_log2, lm_log10, lm_tan, lm_asin, lm_acos,
                                     lm_atan, lm_sinh, lm_cosh, lm_mish, lm_logit};

static double bench1(kfn k, const float *x, float *y, long n)
{
    double best = 1e30;
    k(x, y, n);
    for (int rep = 0; rep < 15; rep++) {
        double t0 = now();
        k(x, y, n);
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best / n * 1e9;
}

static void bench(int fn)
{
    long n = 1000000;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    uint64_t s = 12345;
    for (long i = 0; i < n; i++) {
        float v = randn(&s);
        x[i] = (fn == 2 || fn == 3 || fn == 15 || fn == 16) ? fabsf(v) : v; /* logs: |randn| */
        if (fn == 18 || fn == 19) x[i] = v / (1.0f + fabsf(v));              /* asin/acos */
        if (fn == 24) x[i] = 1.0f / (1.0f + expf(-v));                     /* logit */
    }
    printf("%-10s ns/elem:", funcs[fn].name);
    for (int m = 0; m < 3; m++) printf("  %s %6.3f", mode_name[m], bench1(funcs[fn].k[m], x, y, n));
    printf("  | libm %6.3f\n", bench1(libm_k[fn], x, y, n));
    free(x);
    free(y);
}

int main(int argc, char **argv)
{
    uint64_t step = 1;
    int do_acc = 1, do_bench = 1;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-s") && i + 1 < argc) step = strtoull(argv[++i], 0, 0);
        else if (!strcmp(argv[i], "-f") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "-b")) do_acc = 0;
        else if (!strcmp(argv[i], "-n")) do_bench = 0;
        else { fprintf(stderr, "usage: %s [-s step] [-f f1,f2] [-b|-n]\n", argv[0]); return 2; }
    }
    if (step < 1) step = 1;
    int sel[FG_NFUNC], fail = 0;
    for (int f = 0; f < FG_NFUNC; f++) {
        sel[f] = !only;
        if (only) {
            const char *p = only;
            size_t L = strlen(funcs[f].name);
            while (p && *p) {
                if (!strncmp(p, funcs[f].name, L) && (p[L] == ',' || p[L] == 0)) sel[f] = 1;
                p = strchr(p, ',');
                if (p) p++;
            }
        }
    }
    if (do_acc) {
        printf("accuracy: %s sweep (step %llu), %d threads; max ulp error [input where]"
               " (#inputs > 1 ulp, #inputs > 4 ulp)\n",
               step == 1 ? "exhaustive" : "sampled", (unsigned long long)step,
               omp_get_max_threads());
        for (int f = 0; f < FG_NFUNC; f++) {
            if (!sel[f]) continue;
            double t0 = now();
            stat_t st[3];
            fail += specials(f);
            sweep(f, step, st);
            printf("%-10s", funcs[f].name);
            for (int m = 0; m < 3; m++) {
                printf("  %s %.3f [%a] (%ld, %ld)", mode_name[m], st[m].err, u2f(st[m].arg),
                       st[m].nbad1, st[m].nbad4);
                if (st[m].err > 4) fail++;
            }
            printf("  %.0fs\n", now() - t0);
            fflush(stdout);
        }
    }
    if (do_bench) {
        printf("throughput (1e6 randn inputs, |randn| for log/log1p, 1 thread, best of 15)\n");
        for (int f = 0; f < FG_NFUNC; f++)
            if (sel[f]) bench(f);
    }
    (void)f2u;
    if (do_acc) printf("%s\n", fail ? "FAIL" : "PASS");
    return fail ? 1 : 0;
}
#endif
