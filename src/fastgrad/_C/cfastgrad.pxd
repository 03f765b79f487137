# The C kernel surface (csrc/fastgrad.h), declared once for Cython.
from libc.stdint cimport int64_t, uint8_t

cdef extern from "fastgrad.h" nogil:
    enum:
        FG_OK
        FG_EINVAL
        FG_ENOMEM
        FG_EUNSUPPORTED
        FG_MAX_DIMS
        FG_ISA_SCALAR
        FG_ISA_AVX2
        FG_ISA_AVX512
    enum:
        FG_OPS_UNARY, FG_OPS_BINARY, FG_OPS_COMPARE, FG_OPS_REDUCE, FG_OPS_SCAN,
        FG_OPS_POOLING, FG_OPS_GEMM_ACT
    enum:
        FG_ACT_NONE

    int fg_cpu_best_isa()
    int fg_set_isa(int isa)
    int fg_get_isa()
    const char *fg_isa_name(int isa)
    int fg_have_openmp()
    int fg_omp_max_threads()
    void fg_workspace_release()
    int fg_malloc_tune(int64_t mmap_threshold, int64_t trim_threshold)
    # the block cache large result arrays come from (alloc.c)
    enum:
        FG_CACHE_MIN_BYTES
        FG_CACHE_NSTATS
    void *fg_cache_alloc(size_t bytes, size_t *cap)
    void fg_cache_free(void *p, size_t cap)
    void fg_cache_release()
    void fg_cache_set_limit(size_t bytes)
    void fg_cache_stats(int64_t *out)
    void fg_cache_reset_stats()

    # the op tables (csrc/ops/)
    int fg_op_count(int family)
    const char *fg_op_name(int family, int op)
    int fg_unary_uses_y(int op)

    int fg_unary_f32(int op, int64_t n, const float *x, float *y, double alpha, double beta, int nthreads)
    int fg_unary_f64(int op, int64_t n, const double *x, double *y, double alpha, double beta, int nthreads)
    int fg_unary_bwd_f32(int op, int64_t n, const float *g, const float *x, const float *y, float *gx, double alpha, double beta, int nthreads)
    int fg_unary_bwd_f64(int op, int64_t n, const double *g, const double *x, const double *y, double *gx, double alpha, double beta, int nthreads)
    int fg_binary_f32(int op, int ndim, const int64_t *shape, const float *a, const int64_t *sa, const float *b, const int64_t *sb, float *out, int nthreads)
    int fg_binary_f64(int op, int ndim, const int64_t *shape, const double *a, const int64_t *sa, const double *b, const int64_t *sb, double *out, int nthreads)
    int fg_compare_f32(int op, int ndim, const int64_t *shape, const float *a, const int64_t *sa, const float *b, const int64_t *sb, uint8_t *out, int nthreads)
    int fg_compare_f64(int op, int ndim, const int64_t *shape, const double *a, const int64_t *sa, const double *b, const int64_t *sb, uint8_t *out, int nthreads)
    int fg_where_f32(int ndim, const int64_t *shape, const uint8_t *c, const int64_t *sc, const float *a, const int64_t *sa, const float *b, const int64_t *sb, float *out, int nthreads)
    int fg_where_f64(int ndim, const int64_t *shape, const uint8_t *c, const int64_t *sc, const double *a, const int64_t *sa, const double *b, const int64_t *sb, double *out, int nthreads)
    int fg_copy_f32(int ndim, const int64_t *shape, const float *x, const int64_t *sx, float *out, int nthreads)
    int fg_copy_f64(int ndim, const int64_t *shape, const double *x, const int64_t *sx, double *out, int nthreads)
    int fg_reduce_f32(int op, int64_t outer, int64_t n, int64_t inner, const float *x, float *out, int64_t *idx, int nthreads)
    int fg_reduce_f64(int op, int64_t outer, int64_t n, int64_t inner, const double *x, double *out, int64_t *idx, int nthreads)
    int fg_softmax_f32(int log, int64_t outer, int64_t n, int64_t inner, const float *x, float *y, int nthreads)
    int fg_softmax_f64(int log, int64_t outer, int64_t n, int64_t inner, const double *x, double *y, int nthreads)
    int fg_softmax_bwd_f32(int log, int64_t outer, int64_t n, int64_t inner, const float *g, const float *y, float *gx, int nthreads)
    int fg_softmax_bwd_f64(int log, int64_t outer, int64_t n, int64_t inner, const double *g, const double *y, double *gx, int nthreads)
    int fg_xent_f32(int64_t rows, int64_t c, const float *x, const int64_t *target, int64_t ignore_index, double label_smoothing, float *loss, float *lsm, int64_t *bad_row, int nthreads)
    int fg_xent_f64(int64_t rows, int64_t c, const double *x, const int64_t *target, int64_t ignore_index, double label_smoothing, double *loss, double *lsm, int64_t *bad_row, int nthreads)
    int fg_xent_bwd_f32(int64_t rows, int64_t c, const float *g, const float *lsm, const int64_t *target, int64_t ignore_index, double label_smoothing, float *gx, int nthreads)
    int fg_xent_bwd_f64(int64_t rows, int64_t c, const double *g, const double *lsm, const int64_t *target, int64_t ignore_index, double label_smoothing, double *gx, int nthreads)

    ctypedef struct fg_gemm_desc:
        int transa, transb
        int64_t m, n, k
        double alpha, beta
        const void *a
        int64_t lda
        const void *b
        int64_t ldb
        void *c
        int64_t ldc
        const void *bias
        int act
        int64_t batch, stride_a, stride_b, stride_c
    int fg_gemm_f32(const fg_gemm_desc *d, int nthreads)
    int fg_gemm_f64(const fg_gemm_desc *d, int nthreads)

    # convolution, pooling, normalization (csrc/conv.h)
    ctypedef struct fg_conv2d_shape:
        int64_t n, c_in, h, w, c_out, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, groups
    int fg_conv2d_f32(const fg_conv2d_shape *s, const float *x, const float *w, const float *bias, float *y, int nthreads)
    int fg_conv2d_f64(const fg_conv2d_shape *s, const double *x, const double *w, const double *bias, double *y, int nthreads)
    int fg_conv2d_bwd_f32(const fg_conv2d_shape *s, const float *x, const float *w, const float *g, float *gx, float *gw, float *gb, int nthreads)
    int fg_conv2d_bwd_f64(const fg_conv2d_shape *s, const double *x, const double *w, const double *g, double *gx, double *gw, double *gb, int nthreads)
    enum:
        FG_POOLING_MAX
    ctypedef struct fg_pool2d_shape:
        int64_t planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw
        int count_include_pad
    int fg_pool2d_f32(int op, const fg_pool2d_shape *s, const float *x, float *y, int64_t *idx, int nthreads)
    int fg_pool2d_f64(int op, const fg_pool2d_shape *s, const double *x, double *y, int64_t *idx, int nthreads)
    int fg_pool2d_bwd_f32(int op, const fg_pool2d_shape *s, const float *g, const int64_t *idx, float *gx, int nthreads)
    int fg_pool2d_bwd_f64(int op, const fg_pool2d_shape *s, const double *g, const int64_t *idx, double *gx, int nthreads)
    int fg_bn_stats_f32(int64_t n, int64_t c, int64_t s, const float *x, float *mean, float *var, int nthreads)
    int fg_bn_stats_f64(int64_t n, int64_t c, int64_t s, const double *x, double *mean, double *var, int nthreads)
    int fg_bn_apply_f32(int64_t n, int64_t c, int64_t s, const float *x, const float *mean, const float *invstd, const float *w, const float *b, float *y, int nthreads)
    int fg_bn_apply_f64(int64_t n, int64_t c, int64_t s, const double *x, const double *mean, const double *invstd, const double *w, const double *b, double *y, int nthreads)
    int fg_bn_bwd_f32(int64_t n, int64_t c, int64_t s, const float *x, const float *g, const float *mean, const float *invstd, const float *w, int training, float *gx, float *gw, float *gb, int nthreads)
    int fg_bn_bwd_f64(int64_t n, int64_t c, int64_t s, const double *x, const double *g, const double *mean, const double *invstd, const double *w, int training, double *gx, double *gw, double *gb, int nthreads)
    int fg_rownorm_f32(int64_t rows, int64_t d, int64_t groups, int64_t s, const float *x, const float *w, const float *b, double eps, float *y, float *mean, float *rstd, int nthreads)
    int fg_rownorm_f64(int64_t rows, int64_t d, int64_t groups, int64_t s, const double *x, const double *w, const double *b, double eps, double *y, double *mean, double *rstd, int nthreads)
    int fg_rownorm_bwd_f32(int64_t rows, int64_t d, int64_t groups, int64_t s, const float *x, const float *g, const float *mean, const float *rstd, const float *w, float *gx, float *gw, float *gb, int nthreads)
    int fg_rownorm_bwd_f64(int64_t rows, int64_t d, int64_t groups, int64_t s, const double *x, const double *g, const double *mean, const double *rstd, const double *w, double *gx, double *gw, double *gb, int nthreads)
