/* Gate kernels for one element type T (TS) and SIMD path (rnn_isa.h includes this once per
 * type).  Every loop over j in [0, H) is branch-free so the compiler vectorises it. */

static void RK(tanh_fwd)(const fg_rnn_step *s, int64_t lo, int64_t hi)
{
    const int64_t H = s->H;
    for (int64_t b = lo; b < hi; b++) {
        const T *restrict gi = (const T *)s->gi + b * H, *restrict gh = (const T *)s->gh + b * H;
        T *restrict h = (T *)s->hout + b * H;
        for (int64_t j = 0; j < H; j++) h[j] = M_TANH(gi[j] + gh[j]);
    }
}

static void RK(relu_fwd)(const fg_rnn_step *s, int64_t lo, int64_t hi)
{
    const int64_t H = s->H;
    for (int64_t b = lo; b < hi; b++) {
        const T *restrict gi = (const T *)s->gi + b * H, *restrict gh = (const T *)s->gh + b * H;
        T *restrict h = (T *)s->hout + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            const T v = gi[j] + gh[j];
            h[j] = v > (T)0 ? v : (v != v ? v : (T)0);
        }
    }
}

/* dgi = dh act'(h), dh = carried + gy; relu: the gradient passes where h > 0 */
static void RK(tanh_bwd)(const fg_rnn_step *s, int64_t lo, int64_t hi)
{
    const int64_t H = s->H;
    for (int64_t b = lo; b < hi; b++) {
        const T *restrict ha = (const T *)s->sha + b * H, *restrict dh = (const T *)s->dh + b * H;
        const T *restrict gy = s->gy ? (const T *)s->gy + b * H : 0;
        T *restrict d = (T *)s->dgi + b * H;
        if (gy)
            for (int64_t j = 0; j < H; j++) d[j] = (dh[j] + gy[j]) * ((T)1 - ha[j] * ha[j]);
        else
            for (int64_t j = 0; j < H; j++) d[j] = dh[j] * ((T)1 - ha[j] * ha[j]);
    }
}

static void RK(relu_bwd)(const fg_rnn_step *s, int64_t lo, int64_t hi)
{
    const int64_t H = s->H;
    for (int64_t b = lo; b < hi; b++) {
        const T *restrict ha = (const T *)s->sha + b * H, *restrict dh = (const T *)s->dh + b * H;
        const T *restrict gy = s->gy ? (const T *)s->gy + b * H : 0;
        T *restrict d = (T *)s->dgi + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            const T g = gy ? dh[j] + gy[j] : dh[j];
            d[j] = ha[j] > (T)0 ? g : (T)0;
        }
    }
}

/* per-gate row pointers (restrict: the rows of one buffer never overlap), so every
 * access in the loops below is unit-stride in j */
#define RNN_ROWS4(q, base) \
    T *restrict q##0 = (T *)(base), *restrict q##1 = (T *)(base) + H, \
      *restrict q##2 = (T *)(base) + 2 * H, *restrict q##3 = (T *)(base) + 3 * H

static void RK(lstm_fwd)(const fg_rnn_step *s, int64_t lo, int64_t hi)
{
    const int64_t H = s->H, G = s->G;
    for (int64_t b = lo; b < hi; b++) {
        RNN_ROWS4(a, (const T *)s->gi + b * G);
        RNN_ROWS4(r, (const T *)s->gh + b * G);
        RNN_ROWS4(q, (T *)s->gates + b * G);
        const T *restrict cp = (const T *)s->cprev + b * H;
        T *restrict c = (T *)s->cnew + b * H;
        T *restrict tc = (T *)s->tc + b * H, *restrict h = (T *)s->hout + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            const T i = M_SIGMOID(a0[j] + r0[j]);
            const T f = M_SIGMOID(a1[j] + r1[j]);
            const T g = M_TANH(a2[j] + r2[j]);
            const T o = M_SIGMOID(a3[j] + r3[j]);
            const T cc = f * cp[j] + i * g;
            const T t = M_TANH(cc);
            q0[j] = i;
            q1[j] = f;
            q2[j] = g;
            q3[j] = o;
            c[j] = cc;
            tc[j] = t;
            h[j] = o * t;
        }
    }
}

static void RK(lstm_bwd)(const fg_rnn_step *s, int64_t lo, int64_t hi)
{
    const int64_t H = s->H, G = s->G;
    for (int64_t b = lo; b < hi; b++) {
        RNN_ROWS4(q, (const T *)s->sg + b * G);
        RNN_ROWS4(d, (T *)s->dgi + b * G);
        const T *restrict tc = (const T *)s->stc + b * H, *restrict cp = (const T *)s->scp + b * H;
        const T *restrict dh = (const T *)s->dh + b * H;
        const T *restrict gy = s->gy ? (const T *)s->gy + b * H : (const T *)s->dh + b * H;
        const T gys = s->gy ? (T)1 : (T)0;
        T *restrict dc = (T *)s->dc + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            const T i = q0[j], f = q1[j], g = q2[j], o = q3[j];
            const T t = tc[j];
            const T gh = dh[j] + gys * gy[j];
            const T dcv = dc[j] + gh * o * ((T)1 - t * t);
            d0[j] = dcv * g * i * ((T)1 - i);
            d1[j] = dcv * cp[j] * f * ((T)1 - f);
            d2[j] = dcv * i * ((T)1 - g * g);
            d3[j] = gh * t * o * ((T)1 - o);
            dc[j] = dcv * f;
        }
    }
}

static void RK(gru_fwd)(const fg_rnn_step *s, int64_t lo, int64_t hi)
{
    const int64_t H = s->H, G = s->G;
    for (int64_t b = lo; b < hi; b++) {
        RNN_ROWS4(a, (const T *)s->gi + b * G);
        RNN_ROWS4(r, (const T *)s->gh + b * G);
        RNN_ROWS4(q, (T *)s->gates + b * G);
        (void)a3;
        (void)r3;
        (void)q3;
        const T *restrict hp = (const T *)s->hprev + b * H;
        T *restrict hn = (T *)s->hnl + b * H, *restrict h = (T *)s->hout + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            const T rr = M_SIGMOID(a0[j] + r0[j]);
            const T z = M_SIGMOID(a1[j] + r1[j]);
            const T hh = r2[j];
            const T n = M_TANH(a2[j] + rr * hh);
            q0[j] = rr;
            q1[j] = z;
            q2[j] = n;
            hn[j] = hh;
            h[j] = n + z * (hp[j] - n);
        }
    }
}

/* dh (carried) is replaced by its direct path dh z; the caller's GEMM adds dgh @ W_hh */
static void RK(gru_bwd)(const fg_rnn_step *s, int64_t lo, int64_t hi)
{
    const int64_t H = s->H, G = s->G;
    for (int64_t b = lo; b < hi; b++) {
        RNN_ROWS4(q, (const T *)s->sg + b * G);
        RNN_ROWS4(d, (T *)s->dgi + b * G);
        RNN_ROWS4(e, (T *)s->dgh + b * G);
        (void)q3;
        (void)d3;
        (void)e3;
        const T *restrict hn = (const T *)s->shn + b * H, *restrict hp = (const T *)s->shp + b * H;
        const T *restrict gy = s->gy ? (const T *)s->gy + b * H : (const T *)s->shn + b * H;
        const T gys = s->gy ? (T)1 : (T)0;
        T *restrict dh = (T *)s->dh + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            const T r = q0[j], z = q1[j], n = q2[j];
            const T g = dh[j] + gys * gy[j];
            const T dnp = g * ((T)1 - z) * ((T)1 - n * n);
            const T dzp = g * (hp[j] - n) * z * ((T)1 - z);
            const T drp = dnp * hn[j] * r * ((T)1 - r);
            d0[j] = drp;
            d1[j] = dzp;
            d2[j] = dnp;
            e0[j] = drp;
            e1[j] = dzp;
            e2[j] = dnp * r;
            dh[j] = g * z;
        }
    }
}

const fg_rnn_kern RTAB__(TS, ISA_SFX)[8] = {
    RK(tanh_fwd), RK(tanh_bwd), RK(relu_fwd), RK(relu_bwd),
    RK(lstm_fwd), RK(lstm_bwd), RK(gru_fwd), RK(gru_bwd),
};
