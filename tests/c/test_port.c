/* Tests of the platform layer (csrc/port.h, port.c): aligned and page allocation,
 * mutex / condition variable / once / detached threads / thread-local storage, the
 * clock, fg_clz64, the relaxed atomics, and CPU feature detection (on x86 with GCC or
 * clang checked against the compiler's own __builtin_cpu_supports; on arm64 NEON must
 * be reported).  tests/c/run.sh builds and runs it (and run_aarch64.sh under qemu).
 * Exit status: 0 when every check passes, 1 otherwise. */
#include <stdio.h>
#include <string.h>
#include "port.h"

static int fails = 0;
#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            printf("FAIL line %d: ", __LINE__);                                 \
            printf(__VA_ARGS__);                                                \
            printf("\n");                                                       \
            fails++;                                                            \
        }                                                                       \
    } while (0)

static void test_alloc(void)
{
    const size_t aligns[] = {16, 64, 4096};
    for (size_t a = 0; a < 3; a++)
        for (size_t bytes = 0; bytes < 100000; bytes = bytes * 3 + 1) {
            unsigned char *p = fg_aligned_alloc(aligns[a], bytes);
            CHECK(p != NULL, "fg_aligned_alloc(%zu, %zu) failed", aligns[a], bytes);
            if (!p) continue;
            CHECK(((uintptr_t)p & (aligns[a] - 1)) == 0, "%p not %zu-aligned", (void *)p, aligns[a]);
            memset(p, 0xab, bytes);
            fg_aligned_free(p);
        }
    fg_aligned_free(NULL);
    const size_t sizes[] = {1, 4096, 1 << 20, (3 << 20) + 5};
    for (int i = 0; i < 4; i++) {
        unsigned char *p = fg_pages_alloc(sizes[i]);
        CHECK(p != NULL, "fg_pages_alloc(%zu) failed", sizes[i]);
        if (!p) continue;
        CHECK(((uintptr_t)p & 4095) == 0, "pages at %p not page-aligned", (void *)p);
        int zero = 1;
        for (size_t j = 0; j < sizes[i]; j += 997) zero &= p[j] == 0;
        CHECK(zero, "fresh pages not zeroed");
        memset(p, 1, sizes[i]);
        fg_pages_free(p, sizes[i]);
    }
}

static void test_clz(void)
{
    CHECK(fg_clz64(1) == 63, "clz64(1) = %d", fg_clz64(1));
    CHECK(fg_clz64(~(uint64_t)0) == 0, "clz64(~0) = %d", fg_clz64(~(uint64_t)0));
    for (int b = 0; b < 64; b++)
        CHECK(fg_clz64((uint64_t)1 << b | 1) == 63 - b, "clz64(1<<%d|1) = %d", b, fg_clz64((uint64_t)1 << b | 1));
}

/* threads: NT detached workers each add ITER to a shared counter under the mutex and
 * count themselves done; the main thread waits on the condition variable */
#define NT 4
#define ITER 20000
static fg_mutex_t mu = FG_MUTEX_INIT;
static fg_cond_t cv = FG_COND_INIT;
static fg_once_t once = FG_ONCE_INIT;
static long counter, done, once_runs;
static FG_THREAD_LOCAL long tls_value;
static long tls_seen[NT];
static int err_code;

static void once_fn(void) { once_runs++; }

static void *worker(void *arg)
{
    const int id = (int)(intptr_t)arg;
    fg_once(&once, once_fn);
    tls_value = id * 1000;
    for (int i = 0; i < ITER; i++) {
        fg_mutex_lock(&mu);
        counter++;
        fg_mutex_unlock(&mu);
        if ((i & 1023) == 0) fg_yield();
        fg_cpu_relax();
    }
    if (id == 2) FG_ATOMIC_STORE_RELAXED(&err_code, 7);
    fg_mutex_lock(&mu);
    tls_seen[id] = tls_value;      /* no other thread wrote this thread's copy */
    done++;
    fg_cond_broadcast(&cv);
    fg_mutex_unlock(&mu);
    return NULL;
}

static void test_threads(void)
{
    tls_value = -1;
    const int64_t t0 = fg_now_ns();
    for (int i = 0; i < NT; i++)
        CHECK(fg_thread_start(worker, (void *)(intptr_t)i) == 0, "fg_thread_start %d failed", i);
    fg_mutex_lock(&mu);
    while (done < NT) fg_cond_wait(&cv, &mu);
    fg_mutex_unlock(&mu);
    const int64_t t1 = fg_now_ns();
    CHECK(counter == (long)NT * ITER, "counter %ld, expected %ld", counter, (long)NT * ITER);
    CHECK(once_runs == 1, "once ran %ld times", once_runs);
    for (int i = 0; i < NT; i++)
        CHECK(tls_seen[i] == i * 1000, "thread %d saw thread-local %ld", i, tls_seen[i]);
    CHECK(tls_value == -1, "main thread's thread-local changed to %ld", tls_value);
    CHECK(err_code == 7, "relaxed atomic store lost: %d", err_code);
    CHECK(t1 >= t0, "clock went backwards: %lld -> %lld", (long long)t0, (long long)t1);
    fg_mutex_lock(&mu);
    CHECK(!fg_mutex_trylock(&mu), "trylock took a held mutex");
    fg_mutex_unlock(&mu);
    CHECK(fg_mutex_trylock(&mu), "trylock failed on a free mutex");
    fg_mutex_unlock(&mu);
    CHECK(fg_cpu_count() >= 1, "cpu count %d", fg_cpu_count());
}

static void test_cpu(void)
{
    const unsigned f = fg_cpu_features();
    CHECK(f == fg_cpu_features(), "features not stable");
    printf("cpu features: 0x%x, %d cpus\n", f, fg_cpu_count());
#if FG_ARCH_X86 && defined(__GNUC__)
    __builtin_cpu_init();
    CHECK(!!(f & FG_CPUF_AVX2) == !!__builtin_cpu_supports("avx2"), "avx2 disagrees");
    CHECK(!!(f & FG_CPUF_FMA) == !!__builtin_cpu_supports("fma"), "fma disagrees");
    CHECK(!!(f & FG_CPUF_AVX512F) == !!__builtin_cpu_supports("avx512f"), "avx512f disagrees");
    CHECK(!!(f & FG_CPUF_AVX512DQ) == !!__builtin_cpu_supports("avx512dq"), "avx512dq disagrees");
    CHECK(!!(f & FG_CPUF_AVX512BW) == !!__builtin_cpu_supports("avx512bw"), "avx512bw disagrees");
    CHECK(!!(f & FG_CPUF_AVX512VL) == !!__builtin_cpu_supports("avx512vl"), "avx512vl disagrees");
    CHECK(!(f & FG_CPUF_NEON), "NEON reported on x86");
#elif FG_ARCH_ARM64
    CHECK(f & FG_CPUF_NEON, "no NEON reported on arm64");
#endif
}

int main(void)
{
    test_alloc();
    test_clz();
    test_threads();
    test_cpu();
    printf("test_port: %s\n", fails ? "FAILED" : "PASSED");
    return fails ? 1 : 0;
}
