/* The op tables of csrc/ops/ as data, for the Python layer (fastgrad.h: fg_op_count,
 * fg_op_name, fg_unary_uses_y). */
#include <stddef.h>
#include "fastgrad.h"

static const char *const unary_names[] = {
#define FG_UNARY(ID, NAME, SRC, FWD, BWD) #NAME,
#include "ops/unary.def"
};
#define READS_Y_X 0
#define READS_Y_Y 1
static const unsigned char unary_reads_y[] = {
#define FG_UNARY(ID, NAME, SRC, FWD, BWD) READS_Y_##SRC,
#include "ops/unary.def"
};
static const char *const binary_names[] = {
#define FG_BINARY(ID, NAME, BODY) #NAME,
#include "ops/binary.def"
};
static const char *const compare_names[] = {
#define FG_COMPARE(ID, NAME, EXPR) #NAME,
#include "ops/compare.def"
};
static const char *const reduce_names[] = {
#define FG_REDUCE(ID, NAME) #NAME,
#include "ops/reduce.def"
};
static const char *const scan_names[] = {
#define FG_SCAN(ID, NAME) #NAME,
#include "ops/scan.def"
};
static const char *const pooling_names[] = {
#define FG_POOLING(ID, NAME) #NAME,
#include "ops/pooling.def"
};
static const char *const gemm_act_names[] = {
#define FG_GEMM_ACT(ID, NAME) #NAME,
#include "ops/gemm_act.def"
};

int fg_op_count(int family)
{
    switch (family) {
    case FG_OPS_UNARY: return FG_U_COUNT;
    case FG_OPS_BINARY: return FG_B_COUNT;
    case FG_OPS_COMPARE: return FG_C_COUNT;
    case FG_OPS_REDUCE: return FG_R_COUNT;
    case FG_OPS_SCAN: return FG_SCAN_COUNT;
    case FG_OPS_POOLING: return FG_POOLING_COUNT;
    case FG_OPS_GEMM_ACT: return FG_ACT_COUNT;
    default: return -1;
    }
}

const char *fg_op_name(int family, int op)
{
    if (op < 0 || op >= fg_op_count(family)) return NULL;
    switch (family) {
    case FG_OPS_UNARY: return unary_names[op];
    case FG_OPS_BINARY: return binary_names[op];
    case FG_OPS_COMPARE: return compare_names[op];
    case FG_OPS_REDUCE: return reduce_names[op];
    case FG_OPS_SCAN: return scan_names[op];
    case FG_OPS_POOLING: return pooling_names[op];
    default: return gemm_act_names[op];
    }
}

int fg_unary_uses_y(int op) { return op >= 0 && op < FG_U_COUNT && unary_reads_y[op]; }
