/* fastgrad's own worker pool: every parallel loop of the library runs here (the GEMM,
 * elementwise, reductions, softmax, norms, conv, pooling, optimisers); there is no
 * OpenMP at run time.
 *
 * Why not OpenMP: an OpenMP parallel region ends in a barrier, so when a worker thread
 * is kept off its core (another library's threads spinning there, e.g. NumPy's BLAS
 * called just before, or another process), the caller waits a scheduler time slice for
 * it and a 50 us kernel takes milliseconds.  Here work is split into tasks that threads
 * *claim*; the caller claims tasks too and only waits for tasks that were actually
 * started, so a worker that is not scheduled simply gets no work: the worst case is the
 * speed of one thread, never a stall.
 *
 * Protocol: a job lives in ring[gen % FG_RING]; `ticket` holds (gen << 32 | next task)
 * and is advanced by compare-and-swap, so a thread that wakes up late can never claim a
 * task of a newer job it has not read.  One job runs at a time; a caller that finds the
 * pool busy (another Python thread inside a kernel, or a task that itself calls a
 * parallel kernel) runs its tasks itself.
 *
 * Wait policy.
 *  - Workers: after a job a worker polls one shared word, first with the x86 `pause`
 *    instruction for FG_SPIN_PAUSE_NS = 2 us of wall time (the clock read every 64
 *    polls), then with fg_yield() between polls until FG_SPIN_NS = 1 ms (on an idle
 *    core the yield returns at once; on a busy one it hands the core to whatever else
 *    wants it, our own caller included), so the kernels of a training step, separated
 *    by tens to hundreds of microseconds of Python, find it awake; then it sleeps on a
 *    condition variable (a futex wait: no CPU at all) until the next job.
 *  - Waking: the submitting thread publishes the job, then broadcasts the condition
 *    variable only when some worker is asleep (a counter) and the job is worth a wake-up
 *    (fg_parallel_work: estimated work of at least FG_POOL_WAKE_NS); a smaller job
 *    runs only on the workers that are awake, or entirely on the caller when none is,
 *    without a system call.  A wake-up costs the caller ~3 us on a quiet machine and
 *    up to ~40 us on an overloaded one (the woken thread preempts it).
 *  - Placement: Linux may wake a sleeping thread on the CPU of the thread that woke it
 *    (on the 2-vCPU KVM guests measured, every time: an idle vCPU is halted and looks
 *    busy to the scheduler), where a worker only competes with its caller.  So each job
 *    records the caller's CPU, a worker about to sleep restricts itself to its original
 *    CPU mask less that CPU (one sched_setaffinity, repeated only when the caller has
 *    moved), and a worker that finds itself on the caller's CPU when a job arrives moves
 *    off it before claiming tasks.  Woken onto its own CPU, a worker claims its first
 *    task 15-60 us after the wake-up (longer the longer that CPU was idle).
 *  - Caller: runs tasks itself from the first moment; when none are left it waits only
 *    for the tasks other threads have claimed: 1000 `pause` polls, then fg_yield()
 *    between polls (gives the core to a preempted worker sharing it).
 *  A worker that cannot get a core therefore costs nothing but the claim it never made.
 *  - Back-off: a worker that claims a task and then loses its core (another process, or
 *    another library's spinning threads) holds the caller up until it runs again.  The
 *    caller times its own share of each job; when the job took more than 1.5x what its
 *    own pace says running alone would have (plus 20 us), the following jobs run on the
 *    caller alone for 2 ms, doubling (up to 128 ms) while it keeps happening.
 *
 * Measured fork/join and wake-up costs of this pool (tests/c/test_pool.c "bench"): see
 * the cost model in dispatch.h. */
#include <stdatomic.h>
#include <stdint.h>
#include "fastgrad.h"
#include "port.h"
#include "threadpool.h"

#define FG_RING 4
#define FG_SPIN_PAUSE_NS 2000    /* wall time a worker polls with `pause` after a job ... */
#define FG_SPIN_NS 1000000       /* ... and polls with fg_yield() before it sleeps */

typedef struct {
    fg_task_fn fn;
    void *ctx;
    int64_t ntasks;
    int width;                   /* threads allowed to take part, caller included */
    int caller_cpu;              /* the CPU the submitting thread ran on, or -1 */
    atomic_llong done;
} fg_job;

static fg_job ring[FG_RING];
static atomic_ullong ticket;     /* (gen << 32) | next task index */
static atomic_uint pubgen;       /* generation of the newest job */
static atomic_int sleepers;
static atomic_int last_caller_cpu = -1;  /* caller_cpu of the newest job */
/* Back-off: a job that took much longer than the caller alone would have (a worker claimed
 * a task, then lost its core to another thread or process) makes the following jobs run on
 * the caller alone until backoff_until; each such job in a row doubles the period. */
#define FG_BACKOFF_MIN_NS 2000000LL
#define FG_BACKOFF_MAX_NS 128000000LL
static atomic_llong backoff_until;
static atomic_llong backoff_ns;
static fg_mutex_t submit_mu = FG_MUTEX_INIT;
static fg_mutex_t mu = FG_MUTEX_INIT;
static fg_cond_t cv = FG_COND_INIT;
static atomic_int nworkers;      /* started so far (written under submit_mu) */
static fg_once_t atfork_once = FG_ONCE_INIT;

static inline void relax(void) { fg_cpu_relax(); }

/* claim and run tasks of generation g until none are left; returns how many it ran */
static int64_t run_tasks(unsigned g, fg_job *job, int tid)
{
    int64_t ran = 0;
    for (;;) {
        unsigned long long v = atomic_load_explicit(&ticket, memory_order_acquire);
        if ((unsigned)(v >> 32) != g || (int64_t)(v & 0xffffffffu) >= job->ntasks) return ran;
        if (!atomic_compare_exchange_weak_explicit(&ticket, &v, v + 1, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        job->fn(job->ctx, (int64_t)(v & 0xffffffffu), tid);
        atomic_fetch_add_explicit(&job->done, 1, memory_order_acq_rel);
        ran++;
    }
}

static int64_t now_ns(void) { return fg_now_ns(); }

static void *worker_main(void *arg)
{
    const int id = (int)(intptr_t)arg;      /* 1..: the caller is 0 */
    unsigned seen = atomic_load(&pubgen);
    int avoided = -1;                       /* the CPU this worker is kept off, or -1 */
    for (;;) {
        int spins = 0;
        int64_t waited = 0;
        const int64_t t0 = now_ns();
        while (atomic_load_explicit(&pubgen, memory_order_acquire) == seen) {
            if (waited < FG_SPIN_PAUSE_NS) {            /* phase 1: pause polls */
                relax();
                if ((++spins & 63) == 0) waited = now_ns() - t0;
                continue;
            }
            if (waited < FG_SPIN_NS) {                  /* phase 2: poll, yielding the core */
                fg_yield();
                waited = now_ns() - t0;
                continue;
            }
            /* about to sleep: be woken off the CPU the caller last ran on */
            const int cc = atomic_load_explicit(&last_caller_cpu, memory_order_relaxed);
            if (cc >= 0 && cc != avoided && fg_thread_keep_off_cpu(cc) == 0) avoided = cc;
            fg_mutex_lock(&mu);
            atomic_fetch_add(&sleepers, 1);
            while (atomic_load(&pubgen) == seen) fg_cond_wait(&cv, &mu);
            atomic_fetch_sub(&sleepers, 1);
            fg_mutex_unlock(&mu);
        }
        const unsigned g = atomic_load_explicit(&pubgen, memory_order_acquire);
        seen = g;
        fg_job *job = &ring[g % FG_RING];
        if (id >= job->width) continue;
        if (job->caller_cpu >= 0 && job->caller_cpu != avoided &&
            fg_cpu_current() == job->caller_cpu) {
            /* sharing the caller's CPU gains nothing: move off it, then help if work is left */
            if (fg_thread_keep_off_cpu(job->caller_cpu) == 0) avoided = job->caller_cpu;
        }
        run_tasks(g, job, id);
    }
    return NULL;
}

static void after_fork_child(void)
{
    /* worker threads do not survive fork(): start afresh in the child */
    atomic_store(&nworkers, 0);
    atomic_store(&sleepers, 0);
    atomic_store(&last_caller_cpu, -1);
    atomic_store(&backoff_until, 0);
    atomic_store(&backoff_ns, 0);
    fg_mutex_init(&submit_mu);
    fg_mutex_init(&mu);
    fg_cond_init(&cv);
}

static void register_atfork(void) { fg_atfork(NULL, NULL, after_fork_child); }

static int pool_run(int nthreads, int64_t ntasks, fg_task_fn fn, void *ctx, int wake,
                    double *share)
{
    if (share) *share = 0.0;
    if (ntasks <= 0) return FG_OK;
    if (!fn || ntasks > 0xffffffffLL) return FG_EINVAL;
    if (nthreads > FG_POOL_MAX) nthreads = FG_POOL_MAX;
    /* not worth a wake-up and every started worker asleep: the caller alone */
    const int started = atomic_load_explicit(&nworkers, memory_order_relaxed);
    const int alone = !wake && (started == 0 || atomic_load(&sleepers) >= started);
    const long long until = atomic_load_explicit(&backoff_until, memory_order_relaxed);
    const int backing_off = until != 0 && now_ns() < until;
    if (nthreads <= 1 || ntasks == 1 || alone || backing_off || !fg_mutex_trylock(&submit_mu)) {
        for (int64_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return FG_OK;
    }
    fg_once(&atfork_once, register_atfork);
    for (int w = atomic_load_explicit(&nworkers, memory_order_relaxed); w < nthreads - 1; w++) {
        /* start workers lazily; one that fails to start leaves fewer threads, still correct */
        if (fg_thread_start(worker_main, (void *)(intptr_t)(w + 1)) != 0) break;
        atomic_store_explicit(&nworkers, w + 1, memory_order_relaxed);
    }
    const unsigned g = atomic_load(&pubgen) + 1;
    fg_job *job = &ring[g % FG_RING];
    job->fn = fn;
    job->ctx = ctx;
    job->ntasks = ntasks;
    job->width = nthreads;
    job->caller_cpu = fg_cpu_current();
    atomic_store_explicit(&last_caller_cpu, job->caller_cpu, memory_order_relaxed);
    atomic_store(&job->done, 0);
    atomic_store_explicit(&ticket, (unsigned long long)g << 32, memory_order_release);
    atomic_store(&pubgen, g);
    if (wake && atomic_load(&sleepers) > 0) {
        fg_mutex_lock(&mu);
        fg_cond_broadcast(&cv);
        fg_mutex_unlock(&mu);
    }
    const int64_t t0 = now_ns();
    const int64_t own = run_tasks(g, job, 0);
    const int64_t t1 = now_ns();
    /* wait only for tasks other threads have started */
    int spins = 0;
    while (atomic_load_explicit(&job->done, memory_order_acquire) < ntasks) {
        if (++spins < 1000) relax();
        else fg_yield();
    }
    if (own == ntasks && share) *share = 1.0;
    if (own > 0 && own < ntasks) {
        /* the caller's own pace times every task: what running alone would have cost */
        const double alone_ns = (double)(t1 - t0) * (double)ntasks / (double)own;
        const double took = (double)(now_ns() - t0);
        if (share) *share = took / alone_ns;
        if (took > 1.5 * alone_ns + 20000.0) {
            long long b = atomic_load_explicit(&backoff_ns, memory_order_relaxed) * 2;
            if (b < FG_BACKOFF_MIN_NS) b = FG_BACKOFF_MIN_NS;
            if (b > FG_BACKOFF_MAX_NS) b = FG_BACKOFF_MAX_NS;
            atomic_store_explicit(&backoff_ns, b, memory_order_relaxed);
            atomic_store_explicit(&backoff_until, now_ns() + b, memory_order_relaxed);
        } else {
            atomic_store_explicit(&backoff_ns, 0, memory_order_relaxed);
        }
    } else if (own == ntasks) {
        atomic_store_explicit(&backoff_ns, 0, memory_order_relaxed);
    }
    fg_mutex_unlock(&submit_mu);
    return FG_OK;
}


typedef struct {
    fg_task_fn fn;
    void *ctx;
    int64_t ntasks, nranges;
} fg_range_ctx;

static void fg_range_task(void *vctx, int64_t r, int tid)
{
    const fg_range_ctx *rc = (const fg_range_ctx *)vctx;
    (void)tid;
    const int64_t lo = r * rc->ntasks / rc->nranges, hi = (r + 1) * rc->ntasks / rc->nranges;
    for (int64_t t = lo; t < hi; t++) rc->fn(rc->ctx, t, (int)r);
}

int fg_parallel_for(int nthreads, int64_t ntasks, fg_task_fn fn, void *ctx)
{
    return pool_run(nthreads, ntasks, fn, ctx, 1, NULL);
}

int fg_parallel_work(int nthreads, int64_t ntasks, fg_task_fn fn, void *ctx, double work_ns)
{
    return pool_run(nthreads, ntasks, fn, ctx, work_ns >= FG_POOL_WAKE_NS, NULL);
}

int fg_parallel_work_share(int nthreads, int64_t ntasks, fg_task_fn fn, void *ctx,
                           double work_ns, double *share)
{
    return pool_run(nthreads, ntasks, fn, ctx, work_ns >= FG_POOL_WAKE_NS, share);
}

typedef struct {
    fg_split_fn fn;
    void *ctx;
    int64_t n, chunk;
} fg_split_ctx;

static void fg_split_task(void *vctx, int64_t r, int tid)
{
    const fg_split_ctx *sc = (const fg_split_ctx *)vctx;
    (void)tid;
    const int64_t lo = r * sc->chunk, hi = lo + sc->chunk < sc->n ? lo + sc->chunk : sc->n;
    sc->fn(sc->ctx, lo, hi, (int)r);
}

int fg_parallel_split(int nthreads, int64_t n, int64_t align, fg_split_fn fn, void *ctx,
                      double work_ns)
{
    if (n <= 0) return FG_OK;
    if (!fn) return FG_EINVAL;
    if (align < 1) align = 1;
    int64_t nt = nthreads < 1 ? 1 : nthreads;
    if (nt > FG_POOL_MAX) nt = FG_POOL_MAX;
    int64_t chunk = (n + nt - 1) / nt;
    chunk = (chunk + align - 1) / align * align;
    const int64_t parts = (n + chunk - 1) / chunk;
    if (parts <= 1) {
        fn(ctx, 0, n, 0);
        return FG_OK;
    }
    fg_split_ctx sc = {fn, ctx, n, chunk};
    return pool_run((int)parts, parts, fg_split_task, &sc, work_ns >= FG_POOL_WAKE_NS, NULL);
}

int fg_parallel_ranges(int nthreads, int64_t ntasks, fg_task_fn fn, void *ctx)
{
    if (ntasks <= 0) return 0;
    int64_t nr = nthreads < 1 ? 1 : nthreads;
    if (nr > ntasks) nr = ntasks;
    fg_range_ctx rc = {fn, ctx, ntasks, nr};
    return fg_parallel_for((int)nr, nr, fg_range_task, &rc);
}
