/* Internal: fastgrad's task pool (threadpool.c). */
#ifndef FG_THREADPOOL_H
#define FG_THREADPOOL_H
#include <stdint.h>

#define FG_POOL_MAX 64
/* fn(ctx, task, tid): run task `task` (0 <= task < ntasks) on thread `tid` (0 = caller) */
typedef void (*fg_task_fn)(void *ctx, int64_t task, int tid);
/* Runs every task exactly once on up to nthreads threads; returns when all are done. */
int fg_parallel_for(int nthreads, int64_t ntasks, fg_task_fn fn, void *ctx);
/* Deterministic reductions: runs tasks [0, ntasks) as min(nthreads, ntasks) contiguous
 * ranges, calling fn(ctx, task, r) with r the range index (not the thread): per-r partial
 * sums then cover a fixed set of tasks, and combining them in r order gives the same
 * bits on every run at a given thread count (fg_parallel_for hands tasks out first come,
 * first served). */
int fg_parallel_ranges(int nthreads, int64_t ntasks, fg_task_fn fn, void *ctx);
#endif
