/* fastgrad kernels compiled for the avx2 path. */
#define ISA_SFX avx2
#include "kern_isa.h"
