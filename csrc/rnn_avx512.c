/* fastgrad recurrent gate kernels compiled for the avx512 path. */
#define ISA_SFX avx512
#include "rnn_isa.h"
