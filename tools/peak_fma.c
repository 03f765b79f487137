/* Measures this core's fp32 FMA peak: 12 independent AVX-512 FMA chains (enough to
 * cover latency x throughput on two FMA pipes), no memory traffic.
 *   gcc -O2 -mavx512f -mfma tools/peak_fma.c -o /tmp/peak_fma && /tmp/peak_fma [cpu] [-q]
 * `cpu` times with this thread's CPU clock instead of the wall clock (time the thread
 * spends descheduled on a busy machine then does not count, as in gemm_report.py
 * --peak, which compares the two measured the same way); `-q` prints only the number.
 * (-mavx512f is fine here: this is a measuring tool, not part of the library build.) */
#include <immintrin.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static clockid_t clk = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec t;
    clock_gettime(clk, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv)
{
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "cpu")) clk = CLOCK_THREAD_CPUTIME_ID;
        else if (!strcmp(argv[i], "-q")) quiet = 1;
    }
    /* twelve named accumulators so they all stay in registers */
    __m512 c0 = _mm512_set1_ps(0), c1 = _mm512_set1_ps(1), c2 = _mm512_set1_ps(2),
           c3 = _mm512_set1_ps(3), c4 = _mm512_set1_ps(4), c5 = _mm512_set1_ps(5),
           c6 = _mm512_set1_ps(6), c7 = _mm512_set1_ps(7), c8 = _mm512_set1_ps(8),
           c9 = _mm512_set1_ps(9), c10 = _mm512_set1_ps(10), c11 = _mm512_set1_ps(11);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    const long iters = 100000000;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        for (long it = 0; it < iters / 5; it++) {
            c0 = _mm512_fmadd_ps(c0, a, b); c1 = _mm512_fmadd_ps(c1, a, b);
            c2 = _mm512_fmadd_ps(c2, a, b); c3 = _mm512_fmadd_ps(c3, a, b);
            c4 = _mm512_fmadd_ps(c4, a, b); c5 = _mm512_fmadd_ps(c5, a, b);
            c6 = _mm512_fmadd_ps(c6, a, b); c7 = _mm512_fmadd_ps(c7, a, b);
            c8 = _mm512_fmadd_ps(c8, a, b); c9 = _mm512_fmadd_ps(c9, a, b);
            c10 = _mm512_fmadd_ps(c10, a, b); c11 = _mm512_fmadd_ps(c11, a, b);
        }
        double dt = now() - t0;
        double gf = (double)(iters / 5) * 12 * 16 * 2 / dt / 1e9;
        if (gf > best) best = gf;
    }
    __m512 s0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                              _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s0 = _mm512_add_ps(s0, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
    float s = _mm512_reduce_add_ps(s0);
    if (quiet) printf("%.2f\n", best + 0.0f * s);
    else printf("fp32 FMA peak: %.1f GFLOP/s per core (%s clock; checksum %g)\n", best,
                clk == CLOCK_MONOTONIC ? "wall" : "thread CPU", s);
    return 0;
}
