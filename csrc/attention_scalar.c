/* fastgrad attention kernels compiled for the base path. */
#define ISA_SFX base
#include "attention_isa.h"
