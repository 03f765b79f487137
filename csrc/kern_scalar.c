/* fastgrad kernels compiled for the scalar path. */
#define ISA_SFX scalar
#include "kern_isa.h"
