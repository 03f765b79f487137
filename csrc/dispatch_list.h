/* The dispatched kernel families, included twice by kern_dispatch.c (T = float, double):
 * DISPATCH(PFX, name, parameters, arguments), PFX fg or fgi (see kern_dispatch.c). */
DISPATCH(fgi, unary, (int op, int64_t n, const T *x, T *y, double alpha, double beta, int nthreads),
         (op, n, x, y, alpha, beta, nthreads))
DISPATCH(fgi, unary_bwd, (int op, int64_t n, const T *g, const T *x, const T *y, T *gx, double alpha,
                          double beta, int nthreads),
         (op, n, g, x, y, gx, alpha, beta, nthreads))
DISPATCH(fgi, binary, (int op, int ndim, const int64_t *shape, const T *a, const int64_t *sa,
                       const T *b, const int64_t *sb, T *out, int nthreads),
         (op, ndim, shape, a, sa, b, sb, out, nthreads))
DISPATCH(fgi, compare, (int op, int ndim, const int64_t *shape, const T *a, const int64_t *sa,
                        const T *b, const int64_t *sb, uint8_t *out, int nthreads),
         (op, ndim, shape, a, sa, b, sb, out, nthreads))
DISPATCH(fg, where, (int ndim, const int64_t *shape, const uint8_t *c, const int64_t *sc, const T *a,
                      const int64_t *sa, const T *b, const int64_t *sb, T *out, int nthreads),
         (ndim, shape, c, sc, a, sa, b, sb, out, nthreads))
DISPATCH(fg, copy, (int ndim, const int64_t *shape, const T *x, const int64_t *sx, T *out, int nthreads),
         (ndim, shape, x, sx, out, nthreads))
DISPATCH(fgi, reduce, (int op, int64_t outer, int64_t n, int64_t inner, const T *x, T *out,
                       int64_t *idx, int nthreads),
         (op, outer, n, inner, x, out, idx, nthreads))
DISPATCH(fgi, softmax, (int log, int64_t outer, int64_t n, int64_t inner, const T *x, T *y, int nthreads),
         (log, outer, n, inner, x, y, nthreads))
DISPATCH(fgi, softmax_bwd, (int log, int64_t outer, int64_t n, int64_t inner, const T *g, const T *y,
                            T *gx, int nthreads),
         (log, outer, n, inner, g, y, gx, nthreads))
DISPATCH(fgi, xent, (int64_t rows, int64_t c, const T *x, const int64_t *target, int64_t ignore_index,
                     double label_smoothing, T *loss, T *lsm, int64_t *bad_row, int nthreads),
         (rows, c, x, target, ignore_index, label_smoothing, loss, lsm, bad_row, nthreads))
DISPATCH(fgi, xent_bwd, (int64_t rows, int64_t c, const T *g, const T *lsm, const int64_t *target,
                         int64_t ignore_index, double label_smoothing, T *gx, int nthreads),
         (rows, c, g, lsm, target, ignore_index, label_smoothing, gx, nthreads))
