/* fastgrad attention kernels compiled for the avx512 path. */
#define ISA_SFX avx512
#include "attention_isa.h"
