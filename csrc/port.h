/* The platform layer: everything fastgrad's C code needs from the operating system,
 * the compiler or the CPU that plain C11 does not give, in one place.
 *
 *   compiler    FG_ALWAYS_INLINE, FG_NOINLINE, FG_PREFETCH, FG_THREAD_LOCAL, fg_clz64
 *   atomics     FG_ATOMIC_STORE_RELAXED and FG_ATOMIC_TOUCH (an atomic add of 0) on
 *               plain (non-_Atomic) int-sized objects, e.g. a job's error code that
 *               several tasks may write
 *   memory      fg_aligned_alloc / fg_aligned_free, fg_pages_alloc / fg_pages_free
 *   threads     fg_mutex_t, fg_cond_t, fg_once_t, fg_thread_start (detached), fg_yield,
 *               fg_cpu_relax, fg_now_ns, fg_atfork, fg_cpu_count, fg_cpu_current,
 *               fg_thread_keep_off_cpu (Linux; elsewhere they report "unknown"/do nothing)
 *   CPU         fg_cpu_features: FG_CPUF_* bits from cpuid/xgetbv (x86: GCC, clang and
 *               MSVC), getauxval (Linux aarch64), sysctl (macOS arm64)
 *
 * POSIX systems (Linux, macOS, the BSDs) take pthreads;
 * Windows (_WIN32, MSVC or MinGW) takes Win32: SRW locks, condition variables, one-time
 * initialisation, _beginthreadex and VirtualAlloc.  C11 <stdatomic.h> is used directly by
 * threadpool.c: MSVC needs /experimental:c11atomics (Visual Studio 2022 17.5+) for it. */
#ifndef FG_PORT_H
#define FG_PORT_H
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define FG_OS_WINDOWS 1
#else
#define FG_OS_WINDOWS 0
#endif
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#define FG_ARCH_X86 1
#else
#define FG_ARCH_X86 0
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define FG_ARCH_ARM64 1
#else
#define FG_ARCH_ARM64 0
#endif
#if defined(_MSC_VER) && !defined(__clang__)
#define FG_MSVC 1
#else
#define FG_MSVC 0
#endif

/* ---- compiler ------------------------------------------------------------------- */
#if FG_MSVC
#include <intrin.h>
#define FG_ALWAYS_INLINE static __forceinline
#define FG_NOINLINE __declspec(noinline)
#define FG_THREAD_LOCAL __declspec(thread)
#if FG_ARCH_X86
#define FG_PREFETCH(p, rw, loc) _mm_prefetch((const char *)(p), (loc) >= 3 ? _MM_HINT_T0 : _MM_HINT_T1)
#else
#define FG_PREFETCH(p, rw, loc) ((void)(p))
#endif
static __forceinline int fg_clz64(uint64_t x)
{
    unsigned long i;
    _BitScanReverse64(&i, x);
    return 63 - (int)i;
}
#define FG_ATOMIC_STORE_RELAXED(p, v)                                                   \
    (sizeof(*(p)) == 8 ? (void)_InterlockedExchange64((volatile __int64 *)(p), (__int64)(v)) \
                       : (void)_InterlockedExchange((volatile long *)(p), (long)(v)))
#define FG_ATOMIC_TOUCH(p) ((void)_InterlockedExchangeAdd((volatile long *)(p), 0))
#else
#define FG_ALWAYS_INLINE static inline __attribute__((always_inline))
#define FG_NOINLINE __attribute__((noinline))
#define FG_THREAD_LOCAL _Thread_local
#define FG_PREFETCH(p, rw, loc) __builtin_prefetch((p), (rw), (loc))
static inline int fg_clz64(uint64_t x) { return __builtin_clzll((unsigned long long)x); }
#define FG_ATOMIC_STORE_RELAXED(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define FG_ATOMIC_TOUCH(p) ((void)__atomic_fetch_add((int32_t *)(p), 0, __ATOMIC_RELAXED))
#endif

/* ---- memory --------------------------------------------------------------------- */
/* align: a power of two, at least sizeof(void *); NULL when out of memory.  Free with
 * fg_aligned_free only (Windows' _aligned_malloc blocks cannot go to free()). */
void *fg_aligned_alloc(size_t align, size_t bytes);
void fg_aligned_free(void *p);
/* Fresh zeroed pages straight from the OS (mmap / VirtualAlloc), page aligned; NULL when
 * out of memory.  fg_pages_free takes the pointer and the size it was allocated with. */
void *fg_pages_alloc(size_t bytes);
void fg_pages_free(void *p, size_t bytes);

/* ---- threads -------------------------------------------------------------------- */
#if FG_OS_WINDOWS
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
typedef SRWLOCK fg_mutex_t;
typedef CONDITION_VARIABLE fg_cond_t;
typedef INIT_ONCE fg_once_t;
#define FG_MUTEX_INIT SRWLOCK_INIT
#define FG_COND_INIT CONDITION_VARIABLE_INIT
#define FG_ONCE_INIT INIT_ONCE_STATIC_INIT
static inline void fg_mutex_init(fg_mutex_t *m) { InitializeSRWLock(m); }
static inline void fg_mutex_lock(fg_mutex_t *m) { AcquireSRWLockExclusive(m); }
static inline void fg_mutex_unlock(fg_mutex_t *m) { ReleaseSRWLockExclusive(m); }
/* 1 when the lock was taken, 0 when another thread holds it */
static inline int fg_mutex_trylock(fg_mutex_t *m) { return TryAcquireSRWLockExclusive(m) != 0; }
static inline void fg_cond_init(fg_cond_t *c) { InitializeConditionVariable(c); }
static inline void fg_cond_wait(fg_cond_t *c, fg_mutex_t *m) { SleepConditionVariableSRW(c, m, INFINITE, 0); }
static inline void fg_cond_broadcast(fg_cond_t *c) { WakeAllConditionVariable(c); }
#else
#include <pthread.h>
typedef pthread_mutex_t fg_mutex_t;
typedef pthread_cond_t fg_cond_t;
typedef pthread_once_t fg_once_t;
#define FG_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#define FG_COND_INIT PTHREAD_COND_INITIALIZER
#define FG_ONCE_INIT PTHREAD_ONCE_INIT
static inline void fg_mutex_init(fg_mutex_t *m) { pthread_mutex_init(m, NULL); }
static inline void fg_mutex_lock(fg_mutex_t *m) { pthread_mutex_lock(m); }
static inline void fg_mutex_unlock(fg_mutex_t *m) { pthread_mutex_unlock(m); }
static inline int fg_mutex_trylock(fg_mutex_t *m) { return pthread_mutex_trylock(m) == 0; }
static inline void fg_cond_init(fg_cond_t *c) { pthread_cond_init(c, NULL); }
static inline void fg_cond_wait(fg_cond_t *c, fg_mutex_t *m) { pthread_cond_wait(c, m); }
static inline void fg_cond_broadcast(fg_cond_t *c) { pthread_cond_broadcast(c); }
#endif

/* Runs fn once per process, whichever thread gets there first; the others wait. */
void fg_once(fg_once_t *once, void (*fn)(void));
/* Starts a detached thread running fn(arg); 0 on success. */
int fg_thread_start(void *(*fn)(void *), void *arg);
/* Gives the rest of the time slice to another ready thread. */
void fg_yield(void);
/* Monotonic clock, nanoseconds. */
int64_t fg_now_ns(void);
/* pthread_atfork where fork() exists; nothing on Windows. */
void fg_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));
/* Logical CPUs online (>= 1). */
int fg_cpu_count(void);
/* The CPU the calling thread is running on, or -1 where the system does not say. */
int fg_cpu_current(void);
/* Restricts the calling thread to the CPUs it was allowed at its first call, less `cpu`
 * (cpu < 0: all of them; when `cpu` is the only one, all of them).  0 when the mask was
 * set, -1 where threads cannot be restricted or the call failed. */
int fg_thread_keep_off_cpu(int cpu);

/* A spin-wait hint: x86 `pause`, arm64 `yield`, nothing elsewhere. */
#if FG_MSVC && FG_ARCH_X86
#define fg_cpu_relax() _mm_pause()
#elif FG_MSVC && FG_ARCH_ARM64
#define fg_cpu_relax() __yield()
#elif FG_ARCH_X86
#define fg_cpu_relax() __builtin_ia32_pause()
#elif FG_ARCH_ARM64
#define fg_cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define fg_cpu_relax() ((void)0)
#endif

/* ---- CPU features ----------------------------------------------------------------- */
enum {
    FG_CPUF_AVX2 = 1 << 0,       /* with the OS saving ymm state */
    FG_CPUF_FMA = 1 << 1,
    FG_CPUF_AVX512F = 1 << 2,    /* AVX-512 bits: with the OS saving zmm and opmask state */
    FG_CPUF_AVX512DQ = 1 << 3,
    FG_CPUF_AVX512BW = 1 << 4,
    FG_CPUF_AVX512VL = 1 << 5,
    FG_CPUF_NEON = 1 << 8,       /* AArch64 Advanced SIMD (baseline of ARMv8-A) */
    FG_CPUF_ASIMDHP = 1 << 9,    /* half-precision arithmetic */
    FG_CPUF_ASIMDDP = 1 << 10    /* dot product */
};
/* FG_CPUF_* bits of the CPU this runs on (computed once, then cached). */
unsigned fg_cpu_features(void);
#endif
