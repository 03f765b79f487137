/* Fused recurrent layers (rnn.c; the gate kernels per SIMD path in rnn_isa.h, compiled by
 * rnn_scalar.c, rnn_avx2.c, rnn_avx512.c).  Included at the end of fastgrad.h.
 *
 * One call runs the recurrence of one layer and direction over a whole sequence, after
 * the caller has computed the input projection of all time steps as one GEMM:
 *     gi (T, B, G) = x (T, B, I) @ W_ih^T + b_ih,    G = gates * H
 * Per time step the recurrence is one GEMM  gh = h_prev @ W_hh^T + b_hh  (B, G) and one
 * fused kernel for the gate nonlinearities and the state update (PyTorch's formulas and
 * gate orders):
 *   FG_RNN_TANH / FG_RNN_RELU   h = act(gi + gh)
 *   FG_RNN_LSTM (i, f, g, o)    c = sig(f) c_prev + sig(i) tanh(g),  h = sig(o) tanh(c)
 *   FG_RNN_GRU  (r, z, n)       r = sig(gi_r + gh_r), z = sig(gi_z + gh_z),
 *                               n = tanh(gi_n + r gh_n),  h = n + z (h_prev - n)
 * `reverse` runs the steps from t = T - 1 down to 0 (the backward direction of a
 * bidirectional layer); every array stays in time order.
 *
 * Variable lengths (packed sequences): batch_sizes, when not NULL, gives per time step
 * the number bs[t] in [0, B] of leading batch rows that take the step; the other rows
 * keep their state unchanged through it, get y[t] = 0 and, in the backward, pass their
 * state gradient through unchanged and get dgi[t] = 0.  With rows sorted by decreasing
 * length, h_n and c_n are then each sequence's state after its own last step (its first
 * step with reverse).  NULL: every row takes every step.
 *
 * The forward writes what the backward reads into ws (fg_rnn_ws_elems elements), as
 * dense (T, B, .) blocks one after the other, all in time order:
 *   hp (T, B, H)   the state h_prev that step t read
 *   TANH / RELU:   ha (T, B, H) the output h of step t
 *   LSTM:          cp (T, B, H) c_prev,  tc (T, B, H) tanh(c),  gates (T, B, 4H) activated
 *   GRU:           gates (T, B, 3H) r, z, n activated,  hn (T, B, H) = (W_hn h_prev + b_hn)
 * The backward runs the steps in the opposite order: per step one fused kernel turns the
 * state gradient into the gates' pre-activation gradients dgi[t] (B, G), and one GEMM
 * carries the state gradient to the previous step; after the loop one GEMM gives the
 * recurrent weight gradient (dgh^T @ hp over all T * B rows) and a column sum the bias
 * gradient.  Gradients of x, W_ih and b_ih are the caller's GEMMs of dgi.
 *
 * Scratch: fg_workspace slot 0 of the calling thread (the GEMM uses slots 2 and 3).
 * Threads: batch rows never mix, so with nthreads > 1 and at least 16 rows the rows are
 * split into parts of multiples of 8 that each run the whole sequence on one thread (one
 * pool job per call, no synchronisation between steps; the same bits at any thread
 * count).  Otherwise each step's GEMM takes nthreads and the gate kernel splits the rows
 * on the pool when the cost model (dispatch.h) says the step pays for it.  The weight
 * gradient GEMM after the loop takes nthreads. */
#ifndef FG_RNN_H
#define FG_RNN_H
#include <stdint.h>

enum { FG_RNN_TANH = 0, FG_RNN_RELU = 1, FG_RNN_LSTM = 2, FG_RNN_GRU = 3, FG_RNN_COUNT };

/* gates per mode (1, 1, 4, 3) and ws elements for (T, B, H); -1 for a bad mode or size */
int fg_rnn_gates(int mode);
int64_t fg_rnn_ws_elems(int mode, int64_t steps, int64_t batch, int64_t hidden);

/* IN gi (T, B, G), w_hh (G, H), b_hh (G) or NULL, h0 (B, H) or NULL for zeros, c0 (B, H)
 * or NULL for zeros (LSTM only, else ignored).  OUT y (T, B, H), hn (B, H), cn (B, H) (LSTM only), ws.  T may be 0 (then
 * hn = h0, cn = c0). */
int fg_rnn_fwd_f32(int mode, int64_t steps, int64_t batch, int64_t hidden, int reverse,
                   const int64_t *batch_sizes, const float *gi, const float *w_hh,
                   const float *b_hh, const float *h0, const float *c0, float *y, float *hn, float *cn, float *ws, int nthreads);
int fg_rnn_fwd_f64(int mode, int64_t steps, int64_t batch, int64_t hidden, int reverse,
                   const int64_t *batch_sizes, const double *gi, const double *w_hh,
                   const double *b_hh, const double *h0, const double *c0, double *y, double *hn, double *cn, double *ws,
                   int nthreads);
/* IN gy (T, B, H), ghn (B, H), gcn (B, H): gradients of y, hn, cn, each NULL for zero;
 * w_hh, ws as the forward left it.  OUT dgi (T, B, G) (required), dh0 (B, H), dc0 (B, H)
 * (LSTM), dw_hh (G, H), db_hh (G): each written (not accumulated), each but dgi may be
 * NULL when not wanted. */
int fg_rnn_bwd_f32(int mode, int64_t steps, int64_t batch, int64_t hidden, int reverse,
                   const int64_t *batch_sizes, const float *gy, const float *ghn,
                   const float *gcn, const float *w_hh, const float *ws, float *dgi, float *dh0, float *dc0, float *dw_hh,
                   float *db_hh, int nthreads);
int fg_rnn_bwd_f64(int mode, int64_t steps, int64_t batch, int64_t hidden, int reverse,
                   const int64_t *batch_sizes, const double *gy, const double *ghn,
                   const double *gcn, const double *w_hh, const double *ws, double *dgi, double *dh0, double *dc0, double *dw_hh,
                   double *db_hh, int nthreads);
#endif
