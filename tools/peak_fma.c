/* Measures this core's fp32 FMA peak: 12 independent AVX-512 FMA chains (enough to
 * cover latency x throughput on two FMA pipes), no memory traffic.
 *   gcc -O2 -mavx512f -mfma tools/peak_fma.c -o /tmp/peak_fma && /tmp/peak_fma
 * (-mavx512f is fine here: this is a measuring tool, not part of the library build.) */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(void)
{
    __m512 acc[12];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i);
    const long iters = 200000000;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        for (long it = 0; it < iters / 5; it++)
            for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        double dt = now() - t0;
        double gf = (double)(iters / 5) * 12 * 16 * 2 / dt / 1e9;
        if (gf > best) best = gf;
    }
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(acc[i]);
    printf("fp32 FMA peak: %.1f GFLOP/s per core (checksum %g)\n", best, s);
    return 0;
}
