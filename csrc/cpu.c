/* CPU feature detection and SIMD path selection.  Threads: every parallel loop runs on
 * fastgrad's own pool (threadpool.c); the build uses no OpenMP runtime. */
#include "fastgrad.h"
#include "dispatch.h"

static int fg_isa_active = -1;

int fg_cpu_best_isa(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("fma"))
        return FG_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return FG_ISA_AVX2;
#endif
    return FG_ISA_SCALAR;
}

int fg_set_isa(int isa)
{
    if (isa < FG_ISA_SCALAR || isa > FG_ISA_AVX512 || isa > fg_cpu_best_isa())
        return FG_EINVAL;
    fg_isa_active = isa;
    return FG_OK;
}

int fg_get_isa(void)
{
    if (fg_isa_active < 0)
        fg_isa_active = fg_cpu_best_isa();
    return fg_isa_active;
}

const char *fg_isa_name(int isa)
{
    switch (isa) {
    case FG_ISA_AVX512: return "avx512";
    case FG_ISA_AVX2: return "avx2";
    case FG_ISA_SCALAR: return "scalar";
    default: return "unknown";
    }
}

/* No OpenMP runtime: the extension does not link one (setup.py). */
int fg_have_openmp(void) { return 0; }

int fg_omp_max_threads(void) { return 1; }
