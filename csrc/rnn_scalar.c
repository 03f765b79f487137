/* fastgrad recurrent gate kernels compiled for the scalar path. */
#define ISA_SFX scalar
#include "rnn_isa.h"
