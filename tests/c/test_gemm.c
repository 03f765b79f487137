/* Standalone test + benchmark for fg_gemm_f32 / fg_gemm_f64 (csrc/gemm/).
 *
 *   tests/c/run.sh [full]          build (plain gcc) and run the correctness tests
 *   build/ctest/test_gemm          after run.sh, the binary: every correctness test
 *   build/ctest/test_gemm quick    the same on a sample of the size and transpose
 *                                  combinations (what run.sh runs without "full")
 *   build/ctest/test_gemm smoke    a smaller sample (run_aarch64.sh: under emulation)
 *   build/ctest/test_gemm bench [f64]  GFLOP/s table (1 and 2 threads)
 *   build/ctest/test_gemm shape M K N TA TB [threads] [path: 0 auto, 1 packed, 2 direct] [f64]
 * env: FG_GEMM_ISA=0|1|2 forces scalar/avx2/avx512 for bench and shape modes;
 *      FG_GEMM_PARMIN=<m*n*k> overrides the single-thread threshold in shape mode.
 * Exit status: 0 when every check passes, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fastgrad.h"
#include "gemm_internal.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_u64(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rng_uniform(void) { return (double)(rng_u64() >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0; }
static int rng_int(int n) { return (int)(rng_u64() % (uint64_t)n); }

static double ref_act(double x, int act)
{
    switch (act) {
    case FG_ACT_RELU: return x > 0 ? x : 0;
    case FG_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case FG_ACT_TANH: return tanh(x);
    case FG_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    default: return x;
    }
}

typedef struct {
    int64_t m, n, k;
    int ta, tb;
    int64_t pad_a, pad_b, pad_c;     /* extra leading-dimension elements */
    double alpha, beta;
    int bias, act;
    int64_t batch;
    int zero_sa, zero_sb, zero_sc;   /* 0 batch strides */
} tcase;

static int n_fail = 0, n_run = 0;
static int quick = 0;   /* 1 "quick": a sample of the size and transpose combinations;
                           2 "smoke": a smaller one */
static const double SENTINEL = 12345.0;

/* Runs one case for the given dtype against a double reference; ISA/threads/path set
 * by caller. Returns 0 if ok. */
static int run_case(const tcase *t, int is64, int nthreads, const char *tag)
{
    const int64_t m = t->m, n = t->n, k = t->k, B = t->batch;
    const int64_t ar = t->ta ? k : m, ac = t->ta ? m : k;
    const int64_t br = t->tb ? n : k, bc = t->tb ? k : n;
    const int64_t lda = ac + t->pad_a, ldb = bc + t->pad_b, ldc = n + t->pad_c;
    const int64_t sa = t->zero_sa ? 0 : ar * lda + 3, sb = t->zero_sb ? 0 : br * ldb + 5;
    const int64_t sc = t->zero_sc ? 0 : m * ldc + 7;
    const int64_t na = (B - 1) * sa + ar * lda + 1, nb = (B - 1) * sb + br * ldb + 1;
    const int64_t nc = (B - 1) * sc + m * ldc + 1;
    double *A = malloc(sizeof(double) * na), *Bm = malloc(sizeof(double) * nb);
    double *C0 = malloc(sizeof(double) * nc), *R = malloc(sizeof(double) * nc);
    double *M = malloc(sizeof(double) * nc), *bias = malloc(sizeof(double) * (n + 1));
    for (int64_t i = 0; i < na; i++) A[i] = rng_uniform();
    for (int64_t i = 0; i < nb; i++) Bm[i] = rng_uniform();
    for (int64_t i = 0; i < n + 1; i++) bias[i] = rng_uniform();
    for (int64_t i = 0; i < nc; i++) C0[i] = SENTINEL;
    /* padding of A/B is NaN: reading it would poison results */
    for (int64_t p = 0; p < B; p++) {
        for (int64_t i = 0; i < ar; i++)
            for (int64_t j = ac; j < lda; j++) A[p * sa + i * lda + j] = NAN;
        for (int64_t i = 0; i < br; i++)
            for (int64_t j = bc; j < ldb; j++) Bm[p * sb + i * ldb + j] = NAN;
    }
    for (int64_t p = 0; p < B; p++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                C0[p * sc + i * ldc + j] = t->beta == 0 ? NAN : rng_uniform();
    /* reference: sequential over batch (matters for stride_c == 0) */
    memcpy(R, C0, sizeof(double) * nc);
    for (int64_t i = 0; i < nc; i++) M[i] = 0;
    for (int64_t p = 0; p < B; p++) {
        const double *a = A + p * sa, *b = Bm + p * sb;
        double *r = R + p * sc, *mg = M + p * sc;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0, mag = 0;
                for (int64_t q = 0; q < k; q++) {
                    double av = t->ta ? a[q * lda + i] : a[i * lda + q];
                    double bv = t->tb ? b[j * ldb + q] : b[q * ldb + j];
                    acc += av * bv;
                    mag += fabs(av * bv);
                }
                double x = t->alpha * acc, mx = fabs(t->alpha) * mag;
                if (t->beta != 0) { x += t->beta * r[i * ldc + j]; mx += fabs(t->beta * r[i * ldc + j]); }
                if (t->bias) { x += bias[j]; mx += fabs(bias[j]); }
                r[i * ldc + j] = ref_act(x, t->act);
                mg[i * ldc + j] = mx + (t->zero_sc ? mg[i * ldc + j] : 0);
            }
    }
    /* run */
    fg_gemm_desc d;
    memset(&d, 0, sizeof d);
    d.transa = t->ta; d.transb = t->tb; d.m = m; d.n = n; d.k = k;
    d.alpha = t->alpha; d.beta = t->beta; d.lda = lda; d.ldb = ldb; d.ldc = ldc;
    d.act = t->act; d.batch = B; d.stride_a = sa; d.stride_b = sb; d.stride_c = sc;
    int rc;
    double maxerr = 0;
    int bad = 0;
    const double tol = is64 ? 1e-12 : 2e-6 * (1.0 + sqrt((double)k) / 4.0);
    if (is64) {
        double *a = A, *b = Bm, *c = malloc(sizeof(double) * nc);
        memcpy(c, C0, sizeof(double) * nc);
        d.a = a; d.b = b; d.c = c; d.bias = t->bias ? bias : NULL;
        rc = fg_gemm_f64(&d, nthreads);
        for (int64_t i = 0; i < nc && rc == FG_OK; i++) {
            double e = fabs(c[i] - R[i]);
            double lim = tol * (M[i] + 1e-3);
            if (R[i] == SENTINEL) { if (c[i] != SENTINEL) { bad = 1; maxerr = INFINITY; } continue; }
            if (!(e <= lim)) { bad = 1; if (!(e < maxerr)) maxerr = e; }
        }
        free(c);
    } else {
        float *a = malloc(sizeof(float) * na), *b = malloc(sizeof(float) * nb);
        float *c = malloc(sizeof(float) * nc), *bs = malloc(sizeof(float) * (n + 1));
        for (int64_t i = 0; i < na; i++) a[i] = (float)A[i];
        for (int64_t i = 0; i < nb; i++) b[i] = (float)Bm[i];
        for (int64_t i = 0; i < nc; i++) c[i] = (float)C0[i];
        for (int64_t i = 0; i < n + 1; i++) bs[i] = (float)bias[i];
        d.a = a; d.b = b; d.c = c; d.bias = t->bias ? bs : NULL;
        rc = fg_gemm_f32(&d, nthreads);
        for (int64_t i = 0; i < nc && rc == FG_OK; i++) {
            double e = fabs((double)c[i] - R[i]);
            double lim = tol * (M[i] + 1e-1);
            if (R[i] == SENTINEL) { if (c[i] != (float)SENTINEL) { bad = 1; maxerr = INFINITY; } continue; }
            if (!(e <= lim)) { bad = 1; if (!(e < maxerr)) maxerr = e; }
        }
        free(a); free(b); free(c); free(bs);
    }
    n_run++;
    if (rc != FG_OK || bad) {
        n_fail++;
        if (n_fail <= 30)
            printf("FAIL %s %s isa=%s nt=%d split=%d path=%d: m=%lld n=%lld k=%lld ta=%d tb=%d pads=%lld,%lld,%lld "
                   "alpha=%g beta=%g bias=%d act=%d batch=%lld zs=%d%d%d rc=%d maxerr=%g\n",
                   tag, is64 ? "f64" : "f32", fg_isa_name(fg_get_isa()), nthreads,
                   fg_gemm_split_override, fg_gemm_force_path,
                   (long long)m, (long long)n, (long long)k, t->ta, t->tb, (long long)t->pad_a,
                   (long long)t->pad_b, (long long)t->pad_c, t->alpha, t->beta, t->bias, t->act,
                   (long long)B, t->zero_sa, t->zero_sb, t->zero_sc, rc, maxerr);
    }
    free(A); free(Bm); free(C0); free(R); free(M); free(bias);
    return rc != FG_OK || bad;
}

/* run a case over dtypes, ISAs, thread counts and forced paths */
static void run_all(const tcase *t, const char *tag, int all_paths)
{
    const int best = fg_cpu_best_isa();
    for (int is64 = 0; is64 < 2; is64++)
        for (int isa = FG_ISA_SCALAR; isa <= best; isa++) {
            fg_set_isa(isa);
            /* 1 thread; 2 threads; 2 threads cut as under contention (3 blocks each) */
            for (int cfg = 0; cfg < 3; cfg++)
                for (int path = 0; path <= (all_paths ? 2 : 0); path++) {
                    const int nt = cfg == 0 ? 1 : 2;
                    fg_gemm_force_path = path;
                    fg_gemm_par_min_override = nt > 1 ? 1 : 0;   /* really use 2 threads */
                    fg_gemm_split_override = cfg == 2 ? 3 : 0;
                    run_case(t, is64, nt, tag);
                }
        }
    fg_gemm_force_path = 0;
    fg_gemm_par_min_override = 0;
    fg_gemm_split_override = 0;
    fg_set_isa(best);
}

static tcase base_case(int64_t m, int64_t n, int64_t k)
{
    tcase t;
    memset(&t, 0, sizeof t);
    t.m = m; t.n = n; t.k = k; t.alpha = 1; t.beta = 0; t.batch = 1;
    return t;
}

static void test_errors(void)
{
    float a[64], b[64], c[64];
    fg_gemm_desc d;
    int fails = 0;
#define EXPECT(cond) do { if (!(cond)) { printf("FAIL error-check line %d\n", __LINE__); fails++; } } while (0)
#define RESET() do { memset(&d, 0, sizeof d); d.m = 4; d.n = 4; d.k = 4; d.lda = 4; d.ldb = 4; \
        d.ldc = 4; d.a = a; d.b = b; d.c = c; d.alpha = 1; d.batch = 1; } while (0)
    for (int i = 0; i < 64; i++) { a[i] = 1; b[i] = 1; c[i] = 0; }
    EXPECT(fg_gemm_f32(NULL, 1) == FG_EINVAL);
    RESET(); EXPECT(fg_gemm_f32(&d, 1) == FG_OK); EXPECT(c[0] == 4.0f);
    RESET(); d.a = NULL; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    RESET(); d.b = NULL; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    RESET(); d.c = NULL; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    RESET(); d.m = -1; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    RESET(); d.n = -1; EXPECT(fg_gemm_f64(&d, 1) == FG_EINVAL);
    RESET(); d.k = -1; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    RESET(); d.batch = -1; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    RESET(); d.lda = 3; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    RESET(); d.ldb = 3; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    RESET(); d.ldc = 3; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    RESET(); d.transa = 1; d.m = 5; d.lda = 4; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    RESET(); d.transb = 1; d.k = 5; d.ldb = 4; d.lda = 5; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    RESET(); d.act = FG_ACT_COUNT; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    RESET(); d.act = -1; EXPECT(fg_gemm_f64(&d, 1) == FG_EINVAL);
    RESET(); d.transa = 2; EXPECT(fg_gemm_f32(&d, 1) == FG_EINVAL);
    /* empty problems are fine, even with NULL pointers */
    RESET(); d.m = 0; d.a = NULL; d.c = NULL; EXPECT(fg_gemm_f32(&d, 1) == FG_OK);
    RESET(); d.n = 0; d.b = NULL; d.c = NULL; EXPECT(fg_gemm_f32(&d, 2) == FG_OK);
    RESET(); d.batch = 0; d.a = d.b = NULL; d.c = NULL; EXPECT(fg_gemm_f32(&d, 1) == FG_OK);
    /* k == 0: C = act(beta*C + bias), A/B may be NULL */
    {
        float bias[4] = {1, -2, 3, -4};
        RESET(); d.k = 0; d.a = NULL; d.b = NULL; d.beta = 0; d.bias = bias; d.act = FG_ACT_RELU;
        for (int i = 0; i < 16; i++) c[i] = NAN;
        EXPECT(fg_gemm_f32(&d, 1) == FG_OK);
        EXPECT(c[0] == 1 && c[1] == 0 && c[2] == 3 && c[3] == 0 && c[15] == 0);
        RESET(); d.k = 0; d.beta = 2; d.bias = bias;
        for (int i = 0; i < 16; i++) c[i] = 1;
        EXPECT(fg_gemm_f32(&d, 1) == FG_OK);
        EXPECT(c[0] == 3 && c[1] == 0 && c[14] == 5 && c[15] == -2);
    }
    n_run++;
    if (fails) n_fail++;
#undef EXPECT
#undef RESET
}

/* The split of C among threads (one block per thread, or several under contention) must
 * not change a single bit of the result: a compiled step replayed while the cores are
 * contended has to equal the eager step that ran while they were not. */
static void test_grid_bits(void)
{
    static const int shapes[][3] = {{256, 96, 200}, {129, 65, 257}, {64, 300, 64},
                                    {517, 33, 70}, {40, 128, 1000}};
    int bad = 0, runs = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int tr = 0; tr < 4; tr++)
            for (int ep = 0; ep < 2; ep++) {
                const int m = shapes[si][0], k = shapes[si][1], n = shapes[si][2];
                const int ta = tr & 1, tb = tr >> 1;
                float *a = malloc(sizeof(float) * (size_t)m * k);
                float *b = malloc(sizeof(float) * (size_t)k * n);
                float *bias = malloc(sizeof(float) * (size_t)n);
                float *c0 = malloc(sizeof(float) * (size_t)m * n);
                float *c = malloc(sizeof(float) * (size_t)m * n);
                for (int64_t i = 0; i < (int64_t)m * k; i++) a[i] = (float)rng_uniform();
                for (int64_t i = 0; i < (int64_t)k * n; i++) b[i] = (float)rng_uniform();
                for (int i = 0; i < n; i++) bias[i] = (float)rng_uniform();
                for (int64_t i = 0; i < (int64_t)m * n; i++) c0[i] = (float)rng_uniform();
                fg_gemm_desc d;
                memset(&d, 0, sizeof d);
                d.transa = ta; d.transb = tb; d.m = m; d.n = n; d.k = k;
                d.alpha = ep ? 0.5 : 1.0; d.beta = ep ? 1.0 : 0.0;
                d.lda = ta ? m : k; d.ldb = tb ? k : n; d.ldc = n;
                d.a = a; d.b = b; d.bias = ep ? bias : NULL; d.act = ep ? FG_ACT_RELU : 0;
                d.batch = 1;
                float *ref = malloc(sizeof(float) * (size_t)m * n);
                memcpy(ref, c0, sizeof(float) * (size_t)m * n);
                d.c = ref;
                fg_gemm_par_min_override = 0;
                fg_gemm_split_override = 0;
                int rc = fg_gemm_f32(&d, 1);
                const int splits[] = {0, 2, 3, 4};
                for (int q = 0; q < 4 && rc == FG_OK; q++) {
                    memcpy(c, c0, sizeof(float) * (size_t)m * n);
                    d.c = c;
                    fg_gemm_par_min_override = 1;
                    fg_gemm_split_override = splits[q];
                    rc = fg_gemm_f32(&d, 2);
                    runs++;
                    if (rc != FG_OK || memcmp(c, ref, sizeof(float) * (size_t)m * n) != 0) {
                        if (++bad <= 10)
                            printf("FAIL grid bits: %dx%dx%d ta=%d tb=%d epilogue=%d split=%d "
                                   "rc=%d: 2 threads differ from 1 thread\n",
                                   m, k, n, ta, tb, ep, splits[q], rc);
                    }
                }
                fg_gemm_par_min_override = 0;
                fg_gemm_split_override = 0;
                free(a); free(b); free(bias); free(c0); free(c); free(ref);
            }
    n_run += runs;
    n_fail += bad;
    printf("grid bits: %d runs, %d failures\n", runs, bad);
}

static void run_tests(void)
{
    const int sizes[] = {1, 2, 3, 7, 13, 17, 31, 33, 63, 65, 127, 129};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]);
    const double alphas[] = {1.0, -0.5, 2.0, 0.75};
    const double betas[] = {0.0, 1.0, -1.5, 0.5};
    printf("CPU best ISA: %s, OpenMP: %d\n", fg_isa_name(fg_cpu_best_isa()), fg_have_openmp());
    test_errors();
    test_grid_bits();
    /* all size combos; transposes / scalars / padding / epilogue vary per combo */
    int idx = 0;
    for (int a = 0; a < ns; a++)
        for (int b = 0; b < ns; b++)
            for (int c = 0; c < ns; c++, idx++) {
                tcase t = base_case(sizes[a], sizes[b], sizes[c]);
                t.ta = idx & 1; t.tb = (idx >> 1) & 1;
                t.alpha = alphas[rng_int(4)];
                t.beta = betas[rng_int(4)];
                t.pad_a = rng_int(3) ? 0 : 1 + rng_int(9);
                t.pad_b = rng_int(3) ? 0 : 1 + rng_int(9);
                t.pad_c = rng_int(3) ? 0 : 1 + rng_int(9);
                t.bias = rng_int(2);
                t.act = rng_int(3) ? 0 : rng_int(FG_ACT_COUNT);
                if (quick && idx % (quick > 1 ? 24 : 8) != 0) continue;
                run_all(&t, "sizes", (idx % 3) == 0);
            }
    printf("size combos: %d runs, %d failures\n", n_run, n_fail);
    /* all 4 transposes explicitly, with padding, all paths */
    const int ts[] = {1, 7, 33, 65, 129};
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            for (int c = 0; c < 5; c++)
                for (int tr = 0; tr < 4; tr++) {
                    if (quick && (a + b + c + tr) % (quick > 1 ? 8 : 4) != 0) continue;
                    tcase t = base_case(ts[a], ts[b], ts[c]);
                    t.ta = tr & 1; t.tb = tr >> 1;
                    t.pad_a = 3; t.pad_b = 17; t.pad_c = 5;
                    t.alpha = 1.25; t.beta = (tr & 1) ? 0.0 : 0.5;
                    run_all(&t, "trans", 1);
                }
    printf("+transposes: %d runs, %d failures\n", n_run, n_fail);
    /* tall / skinny */
    for (int tr = 0; tr < 4; tr++) {
        tcase t = base_case(1, 1, 1000);
        t.ta = tr & 1; t.tb = tr >> 1; t.beta = 1;
        run_all(&t, "skinny-1x1000x1", 1);
        t = base_case(1000, 1000, 1);
        t.ta = tr & 1; t.tb = tr >> 1; t.bias = 1; t.act = FG_ACT_TANH;
        run_all(&t, "skinny-1000x1x1000", 1);
    }
    /* bias + every activation, incl. large pre-activations (saturation) */
    for (int act = 0; act < FG_ACT_COUNT; act++)
        for (int s = 0; s < 4; s++) {
            tcase t = base_case(37 + s * 20, 45 + s * 13, 29 + s * 31);
            t.bias = 1; t.act = act; t.ta = s & 1; t.tb = s >> 1;
            t.alpha = s == 3 ? 8.0 : 1.0; t.beta = s == 2 ? 0.0 : 0.5;
            run_all(&t, "act", 1);
        }
    /* batch with broadcast (0) strides */
    for (int z = 0; z < 8; z++) {
        tcase t = base_case(19, 35, 23);
        t.batch = 3; t.zero_sa = z & 1; t.zero_sb = (z >> 1) & 1; t.zero_sc = (z >> 2) & 1;
        t.beta = (z >> 2) & 1 ? 0.5 : 0.0; t.bias = 1; t.act = z & 1 ? FG_ACT_SIGMOID : FG_ACT_NONE;
        t.ta = z & 1; t.tb = (z >> 1) & 1;
        run_all(&t, "batch", 1);
        t = base_case(70, 140, 90);
        t.batch = 5; t.zero_sa = z & 1; t.zero_sb = (z >> 1) & 1; t.zero_sc = (z >> 2) & 1;
        t.beta = 1.0; t.act = FG_ACT_RELU;
        run_all(&t, "batch-big", 0);
    }
    /* k == 0 through the full harness */
    {
        tcase t = base_case(5, 9, 0);
        t.bias = 1; t.act = FG_ACT_GELU; t.beta = 0.5;
        run_all(&t, "k0", 0);
        t.beta = 0;
        run_all(&t, "k0", 0);
    }
    /* blocking: k > KC, m > MC, n > NC */
    {
        tcase t = base_case(211, 2100, 700);
        t.bias = 1; t.act = FG_ACT_GELU; t.beta = 0.5; t.pad_c = 3;
        for (int tr = 0; tr < 4; tr += quick ? 3 : 1) {
            t.ta = tr & 1; t.tb = tr >> 1;
            run_all(&t, "blocking", !quick);
        }
        t = base_case(600, 70, 530);
        t.beta = 0; t.act = FG_ACT_SIGMOID; t.ta = 1;
        run_all(&t, "blocking2", !quick);
    }
    printf("TOTAL: %d runs, %d failures -> %s\n", n_run, n_fail, n_fail ? "FAILED" : "PASSED");
}

/* ------------------------------------------------------------------ bench ------- */
static double now(void) { return (double)fg_now_ns() * 1e-9; }

static double bench_one(int64_t m, int64_t k, int64_t n, int ta, int tb, int nt, int is64)
{
    size_t es = is64 ? 8 : 4;
    void *a = malloc(es * m * k), *b = malloc(es * k * n), *c = malloc(es * m * n);
    for (int64_t i = 0; i < m * k; i++) { if (is64) ((double *)a)[i] = rng_uniform(); else ((float *)a)[i] = (float)rng_uniform(); }
    for (int64_t i = 0; i < k * n; i++) { if (is64) ((double *)b)[i] = rng_uniform(); else ((float *)b)[i] = (float)rng_uniform(); }
    memset(c, 0, es * m * n);
    fg_gemm_desc d;
    memset(&d, 0, sizeof d);
    d.transa = ta; d.transb = tb; d.m = m; d.n = n; d.k = k; d.alpha = 1; d.beta = 0;
    d.a = a; d.b = b; d.c = c; d.lda = ta ? m : k; d.ldb = tb ? k : n; d.ldc = n; d.batch = 1;
    const double flops = 2.0 * m * n * k;
    int reps = (int)(0.05e9 / flops * 20);
    if (reps < 3) reps = 3;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (int i = 0; i < reps; i++) is64 ? fg_gemm_f64(&d, nt) : fg_gemm_f32(&d, nt);
        double dt = (now() - t0) / reps;
        if (dt < best) best = dt;
    }
    free(a); free(b); free(c);
    return flops / best * 1e-9;
}

int main(int argc, char **argv)
{
    if (getenv("FG_GEMM_ISA") && fg_set_isa(atoi(getenv("FG_GEMM_ISA"))) != FG_OK)
        printf("cannot set ISA %s\n", getenv("FG_GEMM_ISA"));
    if (argc > 1 && !strcmp(argv[1], "bench")) {
        int is64 = argc > 2 && !strcmp(argv[2], "f64");
        static const struct { int m, k, n, ta, tb; } sh[] = {
            {32, 784, 128, 0, 0}, {64, 784, 128, 0, 0}, {128, 784, 128, 0, 0},
            {784, 64, 128, 1, 0}, {64, 128, 784, 0, 1}, {256, 784, 512, 0, 0},
            {128, 128, 128, 0, 0}, {256, 256, 256, 0, 0}, {512, 512, 512, 0, 0},
            {1024, 1024, 1024, 0, 0}};
        printf("%s %s  (shapes m x k x n; GFLOP/s)\n", is64 ? "f64" : "f32", fg_isa_name(fg_get_isa()));
        printf("%-22s %10s %10s\n", "shape", "1 thread", "2 threads");
        for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "%dx%dx%d %s%s", sh[i].m, sh[i].k, sh[i].n,
                     sh[i].ta ? "T" : "N", sh[i].tb ? "T" : "N");
            double g1 = bench_one(sh[i].m, sh[i].k, sh[i].n, sh[i].ta, sh[i].tb, 1, is64);
            double g2 = bench_one(sh[i].m, sh[i].k, sh[i].n, sh[i].ta, sh[i].tb, 2, is64);
            printf("%-22s %10.1f %10.1f\n", name, g1, g2);
        }
        return 0;
    }
    if (argc > 6 && !strcmp(argv[1], "shape")) {
        int m = atoi(argv[2]), k = atoi(argv[3]), n = atoi(argv[4]), ta = atoi(argv[5]), tb = atoi(argv[6]);
        int nt = argc > 7 ? atoi(argv[7]) : 1;
        fg_gemm_force_path = argc > 8 ? atoi(argv[8]) : 0;
        int is64 = argc > 9 && !strcmp(argv[9], "f64");
        if (getenv("FG_GEMM_PARMIN")) fg_gemm_par_min_override = atoll(getenv("FG_GEMM_PARMIN"));
        printf("%dx%dx%d ta=%d tb=%d nt=%d path=%d %s: %.1f GFLOP/s\n", m, k, n, ta, tb, nt,
               fg_gemm_force_path, is64 ? "f64" : "f32", bench_one(m, k, n, ta, tb, nt, is64));
        return 0;
    }
    quick = argc > 1 && !strcmp(argv[1], "quick") ? 1 : argc > 1 && !strcmp(argv[1], "smoke") ? 2 : 0;
    run_tests();
    return n_fail ? 1 : 0;
}
