/* fastgrad attention kernels compiled for the avx2 path. */
#define ISA_SFX avx2
#include "attention_isa.h"
