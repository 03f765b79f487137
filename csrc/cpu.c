/* CPU feature detection and SIMD path selection.  Threads: every parallel loop runs on
 * fastgrad's own pool (threadpool.c); the build uses no OpenMP runtime. */
#include "fastgrad.h"
#include "dispatch.h"
#include "port.h"

static int fg_isa_active = -1;

int fg_cpu_best_isa(void)
{
    /* the AVX paths are compiled only for x86 (isa.h); the other architectures run the
     * baseline path ("scalar"), which on aarch64 is NEON (gemm_neon.c, and the compiler's
     * vectorisation of the kernels) */
#if FG_ARCH_X86
    const unsigned f = fg_cpu_features();
    const unsigned avx512 = FG_CPUF_AVX512F | FG_CPUF_AVX512DQ | FG_CPUF_AVX512BW | FG_CPUF_AVX512VL;
    const unsigned avx2 = FG_CPUF_AVX2 | FG_CPUF_FMA;
    if ((f & (avx512 | avx2)) == (avx512 | avx2))
        return FG_ISA_AVX512;
    if ((f & avx2) == avx2)
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
