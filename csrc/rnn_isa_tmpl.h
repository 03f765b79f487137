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
        for (int64_t j = 0; j < H; j++) {
            const T g = gy ? dh[j] + gy[j] : dh[j];
            d[j] = ha[j] > (T)0 ? g : (T)0;
        }
    }
}

static void RK(lstm_fwd)(const fg_rnn_step *s, int64_t lo, int64_t hi)
{
    const int64_t H = s->H, G = s->G;
    for (int64_t b = lo; b < hi; b++) {
        const T *restrict gi = (const T *)s->gi + b * G, *restrict gh = (const T *)s->gh + b * G;
        const T *restrict cp = (const T *)s->cprev + b * H;
        T *restrict ga = (T *)s->gates + b * G, *restrict c = (T *)s->cnew + b * H;
        T *restrict tc = (T *)s->tc + b * H, *restrict h = (T *)s->hout + b * H;
        for (int64_t j = 0; j < H; j++) {
            const T i = M_SIGMOID(gi[j] + gh[j]);
            const T f = M_SIGMOID(gi[H + j] + gh[H + j]);
            const T g = M_TANH(gi[2 * H + j] + gh[2 * H + j]);
            const T o = M_SIGMOID(gi[3 * H + j] + gh[3 * H + j]);
            const T cc = f * cp[j] + i * g;
            const T t = M_TANH(cc);
            ga[j] = i;
            ga[H + j] = f;
            ga[2 * H + j] = g;
            ga[3 * H + j] = o;
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
        const T *restrict ga = (const T *)s->sg + b * G, *restrict tc = (const T *)s->stc + b * H;
        const T *restrict cp = (const T *)s->scp + b * H, *restrict dh = (const T *)s->dh + b * H;
        const T *restrict gy = s->gy ? (const T *)s->gy + b * H : 0;
        T *restrict dc = (T *)s->dc + b * H, *restrict d = (T *)s->dgi + b * G;
        for (int64_t j = 0; j < H; j++) {
            const T i = ga[j], f = ga[H + j], g = ga[2 * H + j], o = ga[3 * H + j];
            const T t = tc[j];
            const T gh = gy ? dh[j] + gy[j] : dh[j];
            const T dcv = dc[j] + gh * o * ((T)1 - t * t);
            d[j] = dcv * g * i * ((T)1 - i);
            d[H + j] = dcv * cp[j] * f * ((T)1 - f);
            d[2 * H + j] = dcv * i * ((T)1 - g * g);
            d[3 * H + j] = gh * t * o * ((T)1 - o);
            dc[j] = dcv * f;
        }
    }
}

static void RK(gru_fwd)(const fg_rnn_step *s, int64_t lo, int64_t hi)
{
    const int64_t H = s->H, G = s->G;
    for (int64_t b = lo; b < hi; b++) {
        const T *restrict gi = (const T *)s->gi + b * G, *restrict gh = (const T *)s->gh + b * G;
        const T *restrict hp = (const T *)s->hprev + b * H;
        T *restrict ga = (T *)s->gates + b * G, *restrict hn = (T *)s->hnl + b * H;
        T *restrict h = (T *)s->hout + b * H;
        for (int64_t j = 0; j < H; j++) {
            const T r = M_SIGMOID(gi[j] + gh[j]);
            const T z = M_SIGMOID(gi[H + j] + gh[H + j]);
            const T hh = gh[2 * H + j];
            const T n = M_TANH(gi[2 * H + j] + r * hh);
            ga[j] = r;
            ga[H + j] = z;
            ga[2 * H + j] = n;
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
        const T *restrict ga = (const T *)s->sg + b * G, *restrict hn = (const T *)s->shn + b * H;
        const T *restrict hp = (const T *)s->shp + b * H;
        const T *restrict gy = s->gy ? (const T *)s->gy + b * H : 0;
        T *restrict dh = (T *)s->dh + b * H;
        T *restrict d = (T *)s->dgi + b * G, *restrict e = (T *)s->dgh + b * G;
        for (int64_t j = 0; j < H; j++) {
            const T r = ga[j], z = ga[H + j], n = ga[2 * H + j];
            const T g = gy ? dh[j] + gy[j] : dh[j];
            const T dnp = g * ((T)1 - z) * ((T)1 - n * n);
            const T dzp = g * (hp[j] - n) * z * ((T)1 - z);
            const T drp = dnp * hn[j] * r * ((T)1 - r);
            d[j] = drp;
            d[H + j] = dzp;
            d[2 * H + j] = dnp;
            e[j] = drp;
            e[H + j] = dzp;
            e[2 * H + j] = dnp * r;
            dh[j] = g * z;
        }
    }
}

const fg_rnn_kern RTAB__(TS, ISA_SFX)[8] = {
    RK(tanh_fwd), RK(tanh_bwd), RK(relu_fwd), RK(relu_bwd),
    RK(lstm_fwd), RK(lstm_bwd), RK(gru_fwd), RK(gru_bwd),
};
