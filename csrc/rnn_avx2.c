/* fastgrad recurrent gate kernels compiled for the avx2 path. */
#define ISA_SFX avx2
#include "rnn_isa.h"
