/* The platform layer's functions (port.h): POSIX and Win32 implementations, CPU feature
 * detection per architecture and compiler. */
#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1
#endif
#include "port.h"
#include <stdlib.h>

#if FG_OS_WINDOWS
#include <malloc.h>
#include <process.h>
#else
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#endif

/* ---- memory --------------------------------------------------------------------- */
void *fg_aligned_alloc(size_t align, size_t bytes)
{
    if (bytes == 0) bytes = align;
#if FG_OS_WINDOWS
    return _aligned_malloc(bytes, align);
#else
    void *p = NULL;
    return posix_memalign(&p, align, bytes) == 0 ? p : NULL;
#endif
}

void fg_aligned_free(void *p)
{
#if FG_OS_WINDOWS
    _aligned_free(p);
#else
    free(p);
#endif
}

void *fg_pages_alloc(size_t bytes)
{
#if FG_OS_WINDOWS
    return VirtualAlloc(NULL, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
#else
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
#endif
}

void fg_pages_free(void *p, size_t bytes)
{
    if (!p) return;
#if FG_OS_WINDOWS
    (void)bytes;
    VirtualFree(p, 0, MEM_RELEASE);
#else
    munmap(p, bytes);
#endif
}

/* ---- threads -------------------------------------------------------------------- */
#if FG_OS_WINDOWS
static BOOL CALLBACK fg_once_tramp(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once;
    (void)ctx;
    void (**fn)(void) = (void (**)(void))param;
    (*fn)();
    return TRUE;
}

void fg_once(fg_once_t *once, void (*fn)(void))
{
    InitOnceExecuteOnce(once, fg_once_tramp, (PVOID)&fn, NULL);
}

typedef struct { void *(*fn)(void *); void *arg; } fg_thread_arg;

static unsigned __stdcall fg_thread_tramp(void *p)
{
    fg_thread_arg a = *(fg_thread_arg *)p;
    free(p);
    a.fn(a.arg);
    return 0;
}

int fg_thread_start(void *(*fn)(void *), void *arg)
{
    fg_thread_arg *a = (fg_thread_arg *)malloc(sizeof *a);
    if (!a) return -1;
    a->fn = fn;
    a->arg = arg;
    uintptr_t h = _beginthreadex(NULL, 0, fg_thread_tramp, a, 0, NULL);
    if (h == 0) {
        free(a);
        return -1;
    }
    CloseHandle((HANDLE)h);                  /* detached: nobody joins it */
    return 0;
}

void fg_yield(void) { SwitchToThread(); }

int64_t fg_now_ns(void)
{
    static LARGE_INTEGER freq;               /* fixed at boot; a racy first write is benign */
    LARGE_INTEGER t;
    if (freq.QuadPart == 0) QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t);
    return (int64_t)((double)t.QuadPart * (1e9 / (double)freq.QuadPart));
}

void fg_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    (void)prepare;
    (void)parent;
    (void)child;
}

int fg_cpu_count(void)
{
    DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    return n > 0 ? (int)n : 1;
}

int fg_cpu_current(void) { return -1; }

int fg_thread_keep_off_cpu(int cpu)
{
    (void)cpu;
    return -1;
}
#else
void fg_once(fg_once_t *once, void (*fn)(void)) { pthread_once(once, fn); }

int fg_thread_start(void *(*fn)(void *), void *arg)
{
    pthread_t th;
    pthread_attr_t at;
    if (pthread_attr_init(&at) != 0) return -1;
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    const int rc = pthread_create(&th, &at, fn, arg);
    pthread_attr_destroy(&at);
    return rc == 0 ? 0 : -1;
}

void fg_yield(void) { sched_yield(); }

int64_t fg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void fg_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    pthread_atfork(prepare, parent, child);
}

int fg_cpu_count(void)
{
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

#if defined(__linux__)
int fg_cpu_current(void) { return sched_getcpu(); }

int fg_thread_keep_off_cpu(int cpu)
{
    static FG_THREAD_LOCAL cpu_set_t base;      /* the thread's mask at its first call */
    static FG_THREAD_LOCAL int have_base;
    if (!have_base) {
        if (sched_getaffinity(0, sizeof base, &base) != 0) return -1;
        have_base = 1;
    }
    cpu_set_t set = base;
    if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set) && CPU_COUNT(&set) > 1)
        CPU_CLR(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -1;
}
#else
int fg_cpu_current(void) { return -1; }

int fg_thread_keep_off_cpu(int cpu)
{
    (void)cpu;
    return -1;
}
#endif
#endif

/* ---- CPU features --------------------------------------------------------------- */
#if FG_ARCH_X86
#if FG_MSVC
#include <immintrin.h>
static void fg_cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    int v[4];
    __cpuidex(v, (int)leaf, (int)sub);
    for (int i = 0; i < 4; i++) r[i] = (unsigned)v[i];
}
static uint64_t fg_xgetbv0(void) { return (uint64_t)_xgetbv(0); }
#else
#include <cpuid.h>
static void fg_cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    r[0] = r[1] = r[2] = r[3] = 0;
    if (leaf > (unsigned)__get_cpuid_max(leaf & 0x80000000u, NULL)) return;
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
/* xgetbv by its encoding: the _xgetbv intrinsic would need the xsave target */
static uint64_t fg_xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ __volatile__(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

static unsigned fg_detect(void)
{
    unsigned r[4], f = 0;
    fg_cpuid(0, 0, r);
    const unsigned maxleaf = r[0];
    if (maxleaf < 7) return 0;
    fg_cpuid(1, 0, r);
    const unsigned ecx1 = r[2];
    if (!(ecx1 & (1u << 27)) || !(ecx1 & (1u << 28)))    /* OSXSAVE, AVX */
        return 0;
    const uint64_t xcr0 = fg_xgetbv0();
    if ((xcr0 & 0x6) != 0x6)                             /* xmm and ymm state */
        return 0;
    fg_cpuid(7, 0, r);
    const unsigned ebx7 = r[1];
    if (ebx7 & (1u << 5)) f |= FG_CPUF_AVX2;
    if (ecx1 & (1u << 12)) f |= FG_CPUF_FMA;
    if ((xcr0 & 0xe0) == 0xe0) {                         /* opmask, zmm0-15 high, zmm16-31 */
        if (ebx7 & (1u << 16)) f |= FG_CPUF_AVX512F;
        if (ebx7 & (1u << 17)) f |= FG_CPUF_AVX512DQ;
        if (ebx7 & (1u << 30)) f |= FG_CPUF_AVX512BW;
        if (ebx7 & (1u << 31)) f |= FG_CPUF_AVX512VL;
    }
    return f;
}
#elif FG_ARCH_ARM64 && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
static unsigned fg_detect(void)
{
    const unsigned long hw = getauxval(AT_HWCAP);
    unsigned f = 0;
    if (hw & HWCAP_ASIMD) f |= FG_CPUF_NEON;
    if (hw & HWCAP_ASIMDHP) f |= FG_CPUF_ASIMDHP;
    if (hw & HWCAP_ASIMDDP) f |= FG_CPUF_ASIMDDP;
    return f;
}
#elif FG_ARCH_ARM64 && defined(__APPLE__)
#include <sys/sysctl.h>
static int fg_sysctl_flag(const char *name)
{
    int v = 0;
    size_t len = sizeof v;
    return sysctlbyname(name, &v, &len, NULL, 0) == 0 && v != 0;
}
static unsigned fg_detect(void)
{
    unsigned f = FG_CPUF_NEON;                           /* every Apple arm64 CPU */
    if (fg_sysctl_flag("hw.optional.arm.FEAT_FP16")) f |= FG_CPUF_ASIMDHP;
    if (fg_sysctl_flag("hw.optional.arm.FEAT_DotProd")) f |= FG_CPUF_ASIMDDP;
    return f;
}
#elif FG_ARCH_ARM64 && FG_OS_WINDOWS
static unsigned fg_detect(void)
{
    unsigned f = 0;
    if (IsProcessorFeaturePresent(PF_ARM_NEON_INSTRUCTIONS_AVAILABLE)) f |= FG_CPUF_NEON;
    return f;
}
#elif FG_ARCH_ARM64
static unsigned fg_detect(void) { return FG_CPUF_NEON; }   /* baseline of ARMv8-A */
#else
static unsigned fg_detect(void) { return 0; }
#endif

unsigned fg_cpu_features(void)
{
    /* one word, bit 31 marking it computed: threads racing on the first call all store
     * the same value */
    static volatile unsigned cached = 0;
    unsigned v = cached;
    if (!v) {
        v = fg_detect() | 0x80000000u;
        cached = v;
    }
    return v & 0x7fffffffu;
}
