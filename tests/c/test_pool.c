/* Standalone test + benchmark for fastgrad's task pool (csrc/threadpool.c).
 *
 *   tests/c/run.sh                 builds it (plain gcc, no OpenMP) and runs the tests
 *   build/ctest/test_pool          every correctness test
 *   build/ctest/test_pool bench    fork/join cost of the pool and per-core throughput of
 *                                  a streaming loop (the numbers behind dispatch.h's cost
 *                                  model)
 * Exit status: 0 when every check passes, 1 otherwise.
 */
#define _GNU_SOURCE 1
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sched.h>
#include <unistd.h>
#endif
#include "fastgrad.h"
#include "threadpool.h"

static int failures;
#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            failures++;                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);            \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- every task runs exactly once, on a thread id below nthreads ------------------- */
typedef struct {
    atomic_int *count;
    int nthreads;
    atomic_int bad_tid;
} once_ctx;

static void once_task(void *vc, int64_t t, int tid)
{
    once_ctx *c = vc;
    atomic_fetch_add(&c->count[t], 1);
    if (tid < 0 || tid >= c->nthreads) atomic_store(&c->bad_tid, 1);
}

static void test_each_task_once(int nthreads, int64_t ntasks)
{
    once_ctx c = {calloc((size_t)ntasks, sizeof(atomic_int)), nthreads, 0};
    CHECK(fg_parallel_for(nthreads, ntasks, once_task, &c) == FG_OK, "parallel_for rc");
    for (int64_t t = 0; t < ntasks; t++)
        CHECK(atomic_load(&c.count[t]) == 1, "nt=%d ntasks=%lld: task %lld ran %d times",
              nthreads, (long long)ntasks, (long long)t, atomic_load(&c.count[t]));
    CHECK(!atomic_load(&c.bad_tid), "nt=%d: thread id out of range", nthreads);
    free(c.count);
}

/* ---- a float sum through fg_parallel_split: same bits at a given thread count ------ */
typedef struct {
    const float *x;
    double part[FG_POOL_MAX];
    atomic_int covered;
} sum_ctx;

static void sum_part(void *vc, int64_t lo, int64_t hi, int part)
{
    sum_ctx *c = vc;
    float s = 0.0f;                       /* float: the order of additions shows in the bits */
    for (int64_t i = lo; i < hi; i++) s += c->x[i];
    c->part[part] = s;
    atomic_fetch_add(&c->covered, (int)(hi - lo));
}

static double split_sum(const float *x, int64_t n, int nthreads)
{
    sum_ctx c;
    memset(&c, 0, sizeof c);
    c.x = x;
    CHECK(fg_parallel_split(nthreads, n, 16, sum_part, &c, 1e9) == FG_OK, "split rc");
    CHECK(atomic_load(&c.covered) == n, "split covered %d of %lld", atomic_load(&c.covered), (long long)n);
    double s = 0;
    for (int p = 0; p < FG_POOL_MAX; p++) s += c.part[p];
    return s;
}

static void test_split_deterministic(void)
{
    const int64_t n = 100003;
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)sin((double)i) * 1000.0f + 1e-3f * (float)i;
    const int counts[] = {1, 2, 3, 8, 16};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        const double ref = split_sum(x, n, counts[k]);
        for (int rep = 0; rep < 50; rep++) {
            const double s = split_sum(x, n, counts[k]);
            CHECK(memcmp(&s, &ref, sizeof s) == 0, "nt=%d rep %d: %.17g != %.17g", counts[k], rep, s, ref);
        }
    }
    free(x);
}

/* ---- a task that itself calls the pool runs its inner job on its own thread -------- */
static void inner_task(void *vc, int64_t t, int tid)
{
    (void)tid;
    atomic_fetch_add(&((atomic_int *)vc)[t], 1);
}

static void outer_task(void *vc, int64_t t, int tid)
{
    (void)tid;
    atomic_int *cells = (atomic_int *)vc + t * 8;
    fg_parallel_for(4, 8, inner_task, cells);
}

static void test_nested(void)
{
    atomic_int cells[16 * 8];
    for (int i = 0; i < 16 * 8; i++) atomic_init(&cells[i], 0);
    fg_parallel_for(8, 16, outer_task, cells);
    for (int i = 0; i < 16 * 8; i++) CHECK(atomic_load(&cells[i]) == 1, "nested cell %d: %d", i, atomic_load(&cells[i]));
}

/* ---- several application threads submitting at once ------------------------------- */
static void *submitter(void *arg)
{
    (void)arg;
    for (int r = 0; r < 200; r++) test_each_task_once(4, 37);
    return NULL;
}

static void test_concurrent_submitters(void)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, submitter, NULL);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
}

/* ---- workers are kept off the caller's CPU ---------------------------------------- */
#if defined(__linux__)
typedef struct {
    int caller_cpu;
    atomic_int worker_tasks, on_caller_cpu, mask_has_caller_cpu;
} place_ctx;

static void place_task(void *vc, int64_t t, int tid)
{
    place_ctx *c = vc;
    (void)t;
    volatile double x = 0;                  /* ~20 us of work, so every thread gets some */
    for (int i = 0; i < 20000; i++) x += 1e-9 * i;
    if (tid == 0) return;
    atomic_fetch_add(&c->worker_tasks, 1);
    if (sched_getcpu() == c->caller_cpu) atomic_fetch_add(&c->on_caller_cpu, 1);
    cpu_set_t m;
    if (sched_getaffinity(0, sizeof m, &m) == 0 && CPU_ISSET(c->caller_cpu, &m))
        atomic_fetch_add(&c->mask_has_caller_cpu, 1);
}

static void test_workers_keep_off_caller_cpu(void)
{
    cpu_set_t all, one;
    if (sched_getaffinity(0, sizeof all, &all) != 0 || CPU_COUNT(&all) < 2) {
        printf("test_pool: placement test needs 2 allowed CPUs, not run\n");
        return;
    }
    int cpu = 0;
    while (!CPU_ISSET(cpu, &all)) cpu++;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    CHECK(sched_setaffinity(0, sizeof one, &one) == 0, "pin the caller to cpu %d", cpu);
    place_ctx c = {cpu, 0, 0, 0};
    for (int round = 0; round < 4; round++) {
        usleep(5000);                        /* past FG_SPIN_NS: the workers go to sleep */
        CHECK(fg_parallel_for(2, 64, place_task, &c) == FG_OK, "placement job rc");
        for (int r = 0; r < 20; r++) fg_parallel_for(2, 64, place_task, &c);
    }
    printf("test_pool: caller on cpu %d, %d worker tasks, %d on the caller's cpu\n", cpu,
           atomic_load(&c.worker_tasks), atomic_load(&c.on_caller_cpu));
    CHECK(atomic_load(&c.worker_tasks) > 0, "no task ran on a worker");
    CHECK(atomic_load(&c.on_caller_cpu) == 0, "%d worker tasks ran on the caller's cpu %d",
          atomic_load(&c.on_caller_cpu), cpu);
    CHECK(atomic_load(&c.mask_has_caller_cpu) == 0,
          "%d worker tasks ran with the caller's cpu in their mask", atomic_load(&c.mask_has_caller_cpu));
    sched_setaffinity(0, sizeof all, &all);
}
#endif

/* ---- back-off: a worker that holds up a job sends the next jobs to the caller alone -- */
typedef struct {
    int slow_worker;                         /* a task run by a worker sleeps 5 ms */
    atomic_int worker_tasks;
} backoff_ctx;

static void backoff_task(void *vc, int64_t t, int tid)
{
    backoff_ctx *c = vc;
    (void)t;
    if (tid != 0) {
        atomic_fetch_add(&c->worker_tasks, 1);
        if (c->slow_worker) {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
    }
    const double t0 = now_s();
    while (now_s() - t0 < 20e-6) { }        /* 20 us of work */
}

static void test_backoff(void)
{
    int tries = 0, held_up = 0;
    for (; tries < 20 && !held_up; tries++) {  /* until a worker takes (and holds up) a task */
        struct timespec ts = {0, 300000000};  /* past the longest back-off */
        nanosleep(&ts, NULL);
        backoff_ctx slow = {1, 0};
        CHECK(fg_parallel_for(2, 64, backoff_task, &slow) == FG_OK, "slow job rc");
        held_up = atomic_load(&slow.worker_tasks) > 0;
    }
    if (!held_up) {
        printf("test_pool: no worker took a task in %d tries, back-off not tested\n", tries);
        return;
    }
    backoff_ctx next = {0, 0};
    CHECK(fg_parallel_for(2, 64, backoff_task, &next) == FG_OK, "next job rc");
    CHECK(atomic_load(&next.worker_tasks) == 0,
          "a job right after one a worker held up gave %d tasks to workers (expected the "
          "caller alone during the back-off)", atomic_load(&next.worker_tasks));
    int back = 0;
    for (int r = 0; r < 20 && !back; r++) {  /* the back-off ends: workers take part again */
        struct timespec ts = {0, 300000000};
        nanosleep(&ts, NULL);
        backoff_ctx later = {0, 0};
        fg_parallel_for(2, 64, backoff_task, &later);
        back = atomic_load(&later.worker_tasks) > 0;
    }
    CHECK(back, "workers took no task in 20 jobs after the back-off period");
}

/* ---- fg_parallel_work_share: the job's time over the caller-alone estimate ---------- */
static void share_task(void *vc, int64_t t, int tid)
{
    (void)vc;
    (void)t;
    const double t0 = now_s();
    const double busy = tid == 0 ? 50e-6 : 1e-3;   /* helpers 20x slower than the caller */
    while (now_s() - t0 < busy) { }
}

static void test_share(void)
{
    double share = -1;
    CHECK(fg_parallel_work_share(1, 8, share_task, NULL, 1e9, &share) == FG_OK, "rc");
    CHECK(share == 0.0, "one thread: share %g, expected 0 (nothing measured)", share);
    struct timespec ts = {0, 300000000};   /* past any back-off of an earlier test */
    nanosleep(&ts, NULL);
    share = -1;
    const double t0 = now_s();
    CHECK(fg_parallel_work_share(2, 8, share_task, NULL, 1e9, &share) == FG_OK, "rc");
    const double wall = now_s() - t0;
    /* a helper that takes a task holds the job up past the caller-alone time (8 tasks of
     * 50 us of wall time each: share about wall / 400 us); one that takes none leaves
     * every task to the caller (share exactly 1) */
    CHECK(share >= 1.0, "slow helpers: share %g, expected at least 1", share);
    if (share > 1.0) {
        const double expect = wall / (8 * 50e-6);
        CHECK(share > 0.7 * expect && share < 1.3 * expect,
              "slow helpers: share %g, expected about %g (job wall time %g us)", share,
              expect, wall * 1e6);
    }
    nanosleep(&ts, NULL);   /* the slow job may have started a back-off */
}

/* ---- benchmark ------------------------------------------------------------------- */
static void noop_part(void *vc, int64_t lo, int64_t hi, int part) { (void)vc; (void)lo; (void)hi; (void)part; }

typedef struct { const float *a, *b; float *c; } add_ctx;
static void add_part(void *vc, int64_t lo, int64_t hi, int part)
{
    add_ctx *c = vc;
    (void)part;
    for (int64_t i = lo; i < hi; i++) c->c[i] = c->a[i] + c->b[i];
}

static void exp_part(void *vc, int64_t lo, int64_t hi, int part)
{
    add_ctx *c = vc;
    (void)part;
    for (int64_t i = lo; i < hi; i++) c->c[i] = expf(c->a[i]);
}

static int cmp_d(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median time (us) of `reps` runs of fn split on nt threads, `gap_us` of idle between */
static double time_split(int nt, int64_t n, fg_split_fn fn, void *ctx, int reps, double gap_us)
{
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (int r = 0; r < reps; r++) {
        if (gap_us > 0) {
            const double until = now_s() + gap_us * 1e-6;
            while (now_s() < until) {}
        }
        const double t0 = now_s();
        fg_parallel_split(nt, n, 64, fn, ctx, 1e9);
        t[r] = (now_s() - t0) * 1e6;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_d);
    const double m = t[reps / 2];
    free(t);
    return m;
}

static void bench(void)
{
    const int reps = 2001;
    printf("fork/join of an empty 2-part job: workers spinning %.2f us, asleep (200 us gap) %.2f us\n",
           time_split(2, 128, noop_part, NULL, reps, 0), time_split(2, 128, noop_part, NULL, reps / 4, 200));
    const int64_t sizes[] = {1024, 4096, 16384, 65536, 262144};
    float *a = malloc(sizeof(float) * 262144), *b = malloc(sizeof(float) * 262144), *c = malloc(sizeof(float) * 262144);
    for (int i = 0; i < 262144; i++) { a[i] = (float)i * 1e-6f; b[i] = 1.0f; }
    add_ctx ac = {a, b, c};
    printf("%10s %12s %12s %12s %12s\n", "n", "add 1t us", "add 2t us", "exp 1t us", "exp 2t us");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int64_t n = sizes[k];
        const double a1 = time_split(1, n, add_part, &ac, reps / 4, 0), a2 = time_split(2, n, add_part, &ac, reps / 4, 0);
        const double e1 = time_split(1, n, exp_part, &ac, reps / 4, 0), e2 = time_split(2, n, exp_part, &ac, reps / 4, 0);
        printf("%10lld %12.2f %12.2f %12.2f %12.2f   (add %.1f bytes/ns, exp %.2f elem/ns at 1t)\n",
               (long long)n, a1, a2, e1, e2, 12.0 * (double)n / (a1 * 1e3), (double)n / (e1 * 1e3));
    }
    free(a); free(b); free(c);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "bench") == 0) {
        bench();
        return 0;
    }
    const int counts[] = {1, 2, 3, 8, 16, 64};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        test_each_task_once(counts[k], 1);
        test_each_task_once(counts[k], 7);
        test_each_task_once(counts[k], 1000);
    }
    test_split_deterministic();
    test_nested();
    test_concurrent_submitters();
#if defined(__linux__)
    test_workers_keep_off_caller_cpu();
#endif
    if (fg_cpu_count() >= 2) test_backoff();
    test_share();
    printf("test_pool: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
