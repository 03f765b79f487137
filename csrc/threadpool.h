/* Internal: fastgrad's task pool (threadpool.c). */
#ifndef FG_THREADPOOL_H
#define FG_THREADPOOL_H
#include <stdint.h>
#include "port.h"

#define FG_POOL_MAX 64
/* fn(ctx, task, tid): run task `task` (0 <= task < ntasks) on thread `tid` (0 = caller) */
typedef void (*fg_task_fn)(void *ctx, int64_t task, int tid);
/* Runs every task exactly once on up to nthreads threads; returns when all are done. */
int fg_parallel_for(int nthreads, int64_t ntasks, fg_task_fn fn, void *ctx);
/* The same for a job of about work_ns of single-thread work: sleeping workers are woken
 * only when work_ns >= FG_POOL_WAKE_NS; a smaller job uses the workers that are awake
 * (spinning after a previous job), or runs on the caller alone.  A woken worker claims
 * its first task 15-60 us later (threadpool.c), so a 20 us job gains little from the
 * wake-up itself; it pays through the jobs that follow within FG_SPIN_NS and find the
 * worker awake (a GEMM of 1M multiply-adds is ~20 us on one core). */
#define FG_POOL_WAKE_NS 20000.0
int fg_parallel_work(int nthreads, int64_t ntasks, fg_task_fn fn, void *ctx, double work_ns);
/* fg_parallel_work that also reports how the job went: *share = the job's wall time over
 * what the caller alone would have taken at its own pace (every task timed as the
 * caller's were).  About 1/threads when every thread kept its core; near 1 or above
 * when the helpers gained nothing (a core taken by another library's spinning threads
 * or another process); 1 when the caller ran every task; 0 when nothing was measured
 * (one thread, or the pool busy or backing off). */
int fg_parallel_work_share(int nthreads, int64_t ntasks, fg_task_fn fn, void *ctx,
                           double work_ns, double *share);
/* Deterministic reductions: runs tasks [0, ntasks) as min(nthreads, ntasks) contiguous
 * ranges, calling fn(ctx, task, r) with r the range index (not the thread): per-r partial
 * sums then cover a fixed set of tasks, and combining them in r order gives the same
 * bits on every run at a given thread count (fg_parallel_for hands tasks out first come,
 * first served). */
int fg_parallel_ranges(int nthreads, int64_t ntasks, fg_task_fn fn, void *ctx);
/* fn(ctx, lo, hi, part): process elements [lo, hi) as part `part` of the split. */
typedef void (*fg_split_fn)(void *ctx, int64_t lo, int64_t hi, int part);
/* Splits [0, n) into at most nthreads contiguous parts, each (but the last) a multiple
 * of `align` elements, and runs them on the pool (work_ns: as for fg_parallel_work);
 * with one part fn runs on the calling
 * thread without touching the pool.  The parts depend only on (n, nthreads, align), so
 * per-part partial results combined in part order are the same bits on every run at a
 * given thread count. */
int fg_parallel_split(int nthreads, int64_t n, int64_t align, fg_split_fn fn, void *ctx,
                      double work_ns);
#endif
