/* Optimizer segment kernels for one element type T (suffix TS) and one SIMD path (SFX).
 * Included by optim.c once per (ISA, dtype) after it set the target ISA.  Each function
 * updates n contiguous elements of one tensor; loop-invariant options are hoisted into
 * separate loops so every loop body is branch-free and vectorises. */
#define OPT_CAT_(a, b, c, d) opt_##a##_##b##_##c
#define OPT_CAT(a, b, c) OPT_CAT_(a, b, c, 0)
#define OPT_FN(name) OPT_CAT(name, TS, SFX)

static void OPT_FN(sgd)(int64_t n, T *restrict p, const T *restrict g, T *restrict buf,
                        T *restrict s1, T *restrict s2, const opt_coef *c)
{
    (void)s1; (void)s2;
    const T lr = (T)c->lr, wd = (T)c->wd, mom = (T)c->mom, omd = (T)(1.0 - c->damp);
    const T sg = c->maximize ? (T)-1 : (T)1;
    if (c->mom == 0.0) {
        if (c->wd != 0.0) {
            for (int64_t i = 0; i < n; i++) p[i] = p[i] - lr * (sg * g[i] + wd * p[i]);
        } else {
            for (int64_t i = 0; i < n; i++) p[i] = p[i] - lr * (sg * g[i]);
        }
        return;
    }
    const T wdx = c->wd != 0.0 ? wd : (T)0;
    const int usewd = c->wd != 0.0;
#define SGD_LOOP(GI, BUF, DIR)                                                    \
    for (int64_t i = 0; i < n; i++) {                                             \
        const T gi = GI;                                                          \
        const T b = BUF;                                                          \
        buf[i] = b;                                                               \
        p[i] = p[i] - lr * (DIR);                                                 \
    }
#define SGD_GI_WD (sg * g[i] + wdx * p[i])
#define SGD_GI_NOWD (sg * g[i])
    if (c->first) {
        if (usewd) {
            if (c->nesterov) SGD_LOOP(SGD_GI_WD, gi, gi + mom * b) else SGD_LOOP(SGD_GI_WD, gi, b)
        } else {
            if (c->nesterov) SGD_LOOP(SGD_GI_NOWD, gi, gi + mom * b) else SGD_LOOP(SGD_GI_NOWD, gi, b)
        }
    } else {
        if (usewd) {
            if (c->nesterov) SGD_LOOP(SGD_GI_WD, mom * buf[i] + omd * gi, gi + mom * b)
            else SGD_LOOP(SGD_GI_WD, mom * buf[i] + omd * gi, b)
        } else {
            if (c->nesterov) SGD_LOOP(SGD_GI_NOWD, mom * buf[i] + omd * gi, gi + mom * b)
            else SGD_LOOP(SGD_GI_NOWD, mom * buf[i] + omd * gi, b)
        }
    }
#undef SGD_LOOP
#undef SGD_GI_WD
#undef SGD_GI_NOWD
}

static void OPT_FN(adam)(int64_t n, T *restrict p, const T *restrict g, T *restrict m,
                         T *restrict v, T *restrict vmax, const opt_coef *c)
{
    const T sg = c->maximize ? (T)-1 : (T)1;
    /* coupled L2 term added to the gradient (Adam) / decoupled decay of the param (AdamW) */
    const T wd = (!c->decoupled && c->wd != 0.0) ? (T)c->wd : (T)0;
    const T decay = (c->decoupled && c->wd != 0.0) ? (T)(1.0 - c->lr * c->wd) : (T)1;
    const T w1 = (T)(1.0 - c->b1), omw1 = (T)c->b1;       /* lerp(m, g, w1) */
    const T b2 = (T)c->b2, omb2 = (T)(1.0 - c->b2);
    const T step_size = (T)c->step_size, bc2s = (T)c->bc2s, eps = (T)c->eps;
    const int hi = c->lerp_hi;      /* lerp weight >= 0.5: end - (end - start) * (1 - w) */
    const int usewd = wd != (T)0;
#define ADAM_LOOP(GI, DENOM_SRC, MAXUPD)                                           \
    for (int64_t i = 0; i < n; i++) {                                              \
        const T gi = GI;                                                           \
        const T pi = p[i] * decay;                                                 \
        const T mi = hi ? gi - (gi - m[i]) * omw1 : m[i] + w1 * (gi - m[i]);      \
        const T vi = b2 * v[i] + omb2 * gi * gi;                                   \
        m[i] = mi;                                                                 \
        v[i] = vi;                                                                 \
        MAXUPD;                                                                    \
        const T den = (T)sqrt(DENOM_SRC) / bc2s + eps;                             \
        p[i] = pi - step_size * (mi / den);                                        \
    }
    if (c->amsgrad) {
        if (usewd) ADAM_LOOP(sg * g[i] + wd * p[i], mx, const T mx = vmax[i] > vi ? vmax[i] : vi; vmax[i] = mx)
        else ADAM_LOOP(sg * g[i], mx, const T mx = vmax[i] > vi ? vmax[i] : vi; vmax[i] = mx)
    } else {
        (void)vmax;
        if (usewd) ADAM_LOOP(sg * g[i] + wd * p[i], vi, (void)0)
        else ADAM_LOOP(sg * g[i], vi, (void)0)
    }
#undef ADAM_LOOP
}

static void OPT_FN(rmsprop)(int64_t n, T *restrict p, const T *restrict g, T *restrict sq,
                            T *restrict buf, T *restrict ga, const opt_coef *c)
{
    const T sg = c->maximize ? (T)-1 : (T)1;
    const T wd = c->wd != 0.0 ? (T)c->wd : (T)0;
    const T a = (T)c->alpha, oma = (T)(1.0 - c->alpha);
    const int hi = c->lerp_hi;           /* lerp weight (1 - alpha) >= 0.5 */
    const T eps = (T)c->eps, lr = (T)c->lr, mom = (T)c->mom;
#define RMS_LOOP(GI, AVG, UPD)                                                     \
    for (int64_t i = 0; i < n; i++) {                                              \
        const T gi = GI;                                                           \
        const T si = a * sq[i] + oma * gi * gi;                                    \
        sq[i] = si;                                                                \
        const T avg = AVG;                                                         \
        UPD;                                                                       \
    }
#define RMS_CENT ({ const T gai = hi ? gi - (gi - ga[i]) * a : ga[i] + oma * (gi - ga[i]); \
                    ga[i] = gai; (T)sqrt(si - gai * gai) + eps; })
#define RMS_PLAIN ((T)sqrt(si) + eps)
#define RMS_MOM const T b = mom * buf[i] + gi / avg; buf[i] = b; p[i] = p[i] - lr * b
#define RMS_NOMOM p[i] = p[i] - lr * (gi / avg)
#define RMS_WD (sg * g[i] + wd * p[i])
#define RMS_NOWD (sg * g[i])
    if (c->centered) {
        if (c->mom > 0.0) {
            if (c->wd != 0.0) RMS_LOOP(RMS_WD, RMS_CENT, RMS_MOM) else RMS_LOOP(RMS_NOWD, RMS_CENT, RMS_MOM)
        } else {
            if (c->wd != 0.0) RMS_LOOP(RMS_WD, RMS_CENT, RMS_NOMOM) else RMS_LOOP(RMS_NOWD, RMS_CENT, RMS_NOMOM)
        }
    } else {
        if (c->mom > 0.0) {
            if (c->wd != 0.0) RMS_LOOP(RMS_WD, RMS_PLAIN, RMS_MOM) else RMS_LOOP(RMS_NOWD, RMS_PLAIN, RMS_MOM)
        } else {
            if (c->wd != 0.0) RMS_LOOP(RMS_WD, RMS_PLAIN, RMS_NOMOM) else RMS_LOOP(RMS_NOWD, RMS_PLAIN, RMS_NOMOM)
        }
    }
#undef RMS_LOOP
#undef RMS_CENT
#undef RMS_PLAIN
#undef RMS_MOM
#undef RMS_NOMOM
#undef RMS_WD
#undef RMS_NOWD
}

static void OPT_FN(adagrad)(int64_t n, T *restrict p, const T *restrict g, T *restrict sum,
                            T *restrict s1, T *restrict s2, const opt_coef *c)
{
    (void)s1; (void)s2;
    const T sg = c->maximize ? (T)-1 : (T)1;
    const T wd = (T)c->wd;
    const T clr = (T)c->clr, eps = (T)c->eps;
#define ADAGRAD_LOOP(GI)                                                           \
    for (int64_t i = 0; i < n; i++) {                                              \
        const T gi = GI;                                                           \
        const T si = sum[i] + gi * gi;                                             \
        sum[i] = si;                                                               \
        p[i] = p[i] - clr * (gi / ((T)sqrt(si) + eps));                            \
    }
    if (c->wd != 0.0) ADAGRAD_LOOP(sg * g[i] + wd * p[i]) else ADAGRAD_LOOP(sg * g[i])
#undef ADAGRAD_LOOP
}

/* Adadelta, RAdam and NAdam: the operations of their eager formulas (optim/_python.py's
   docstrings), each rounded to T */
static void OPT_FN(adadelta)(int64_t n, T *restrict p, const T *restrict g, T *restrict v,
                             T *restrict u, T *restrict s2, const opt_coef *c)
{
    (void)s2;
    const T sg = c->maximize ? (T)-1 : (T)1;
    const T wd = (T)c->wd, rho = (T)c->rho, omr = (T)(1.0 - c->rho), eps = (T)c->eps;
    const T lr = (T)c->lr;
#define ADADELTA_LOOP(GI)                                                          \
    for (int64_t i = 0; i < n; i++) {                                              \
        const T gi = GI;                                                           \
        const T vi = v[i] * rho + omr * gi * gi;                                   \
        const T d = (T)sqrt(u[i] + eps) / (T)sqrt(vi + eps) * gi;                  \
        v[i] = vi;                                                                 \
        u[i] = u[i] * rho + omr * d * d;                                           \
        p[i] = p[i] - lr * d;                                                      \
    }
    if (c->wd != 0.0) ADADELTA_LOOP(sg * g[i] + wd * p[i]) else ADADELTA_LOOP(sg * g[i])
#undef ADADELTA_LOOP
}

/* RAdam and NAdam: weight decay decoupled (the parameter scaled first) or coupled (added
   to the gradient) */
#define RN_DECAY (c->decoupled && c->wd != 0.0 ? (T)(1.0 - c->lr * c->wd) : (T)1)
#define RN_GI (sg * g[i] + wd * pi)
#define RN_GI_NOWD (sg * g[i])

static void OPT_FN(radam)(int64_t n, T *restrict p, const T *restrict g, T *restrict m,
                          T *restrict v, T *restrict s2, const opt_coef *c)
{
    (void)s2;
    const T sg = c->maximize ? (T)-1 : (T)1, decay = RN_DECAY, wd = (T)c->wd;
    const T omb1 = (T)(1.0 - c->b1), b2 = (T)c->b2, omb2 = (T)(1.0 - c->b2);
    const T bc1 = (T)c->bc1, lr = (T)c->lr, eps = (T)c->eps;
    const T sbc2 = (T)sqrt(c->bc2), rect = (T)c->rect;
    const int coupled = !c->decoupled && c->wd != 0.0;
#define RADAM_LOOP(GI, UPD)                                                        \
    for (int64_t i = 0; i < n; i++) {                                              \
        const T pi = p[i] * decay;                                                 \
        const T gi = GI;                                                           \
        const T mi = m[i] + (gi - m[i]) * omb1;                                    \
        const T vi = v[i] * b2 + omb2 * gi * gi;                                   \
        m[i] = mi;                                                                 \
        v[i] = vi;                                                                 \
        const T mh = mi / bc1;                                                     \
        p[i] = pi - UPD;                                                           \
    }
#define RADAM_RECT (mh * lr * (sbc2 / ((T)sqrt(vi) + eps)) * rect)
#define RADAM_PLAIN (mh * lr)
    if (c->rect > 0.0) {
        if (coupled) RADAM_LOOP(RN_GI, RADAM_RECT) else RADAM_LOOP(RN_GI_NOWD, RADAM_RECT)
    } else {
        if (coupled) RADAM_LOOP(RN_GI, RADAM_PLAIN) else RADAM_LOOP(RN_GI_NOWD, RADAM_PLAIN)
    }
#undef RADAM_LOOP
#undef RADAM_RECT
#undef RADAM_PLAIN
}

static void OPT_FN(nadam)(int64_t n, T *restrict p, const T *restrict g, T *restrict m,
                          T *restrict v, T *restrict s2, const opt_coef *c)
{
    (void)s2;
    const T sg = c->maximize ? (T)-1 : (T)1, decay = RN_DECAY, wd = (T)c->wd;
    const T omb1 = (T)(1.0 - c->b1), b2 = (T)c->b2, omb2 = (T)(1.0 - c->b2);
    const T bc2 = (T)c->bc2, eps = (T)c->eps, c1 = (T)c->nc1, c2 = (T)c->nc2;
    const int coupled = !c->decoupled && c->wd != 0.0;
#define NADAM_LOOP(GI)                                                             \
    for (int64_t i = 0; i < n; i++) {                                              \
        const T pi = p[i] * decay;                                                 \
        const T gi = GI;                                                           \
        const T mi = m[i] + (gi - m[i]) * omb1;                                    \
        const T vi = v[i] * b2 + omb2 * gi * gi;                                   \
        m[i] = mi;                                                                 \
        v[i] = vi;                                                                 \
        const T den = (T)sqrt(vi / bc2) + eps;                                     \
        const T q = pi + gi / den * c1;                                            \
        p[i] = q + mi / den * c2;                                                  \
    }
    if (coupled) NADAM_LOOP(RN_GI) else NADAM_LOOP(RN_GI_NOWD)
#undef NADAM_LOOP
}
#undef RN_DECAY
#undef RN_GI
#undef RN_GI_NOWD

/* ---- clipping helpers ---------------------------------------------------------------- */
/* sum |x|^p (p == 2: squares, p == 1: abs) or max |x| (p = inf), in double */
static double OPT_FN(norm_acc)(int64_t n, const T *restrict x, double p)
{
    if (isinf(p)) {
        double m = 0.0;
        int nan = 0;
        for (int64_t i = 0; i < n; i++) {
            const double a = fabs((double)x[i]);
            nan |= a != a;
            m = a > m ? a : m;
        }
        return nan ? NAN : m;
    }
    double s = 0.0;
    if (p == 2.0) {
        for (int64_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    } else if (p == 1.0) {
        for (int64_t i = 0; i < n; i++) s += fabs((double)x[i]);
    } else {
        for (int64_t i = 0; i < n; i++) s += pow(fabs((double)x[i]), p);
    }
    return s;
}

static void OPT_FN(scale)(int64_t n, T *restrict x, double s)
{
    const T f = (T)s;
    for (int64_t i = 0; i < n; i++) x[i] = x[i] * f;
}

static const OPT_SEG_T OPT_FN(table)[FG_OPT_COUNT] = {OPT_FN(sgd), OPT_FN(adam), OPT_FN(rmsprop),
                                                      OPT_FN(adagrad), OPT_FN(adadelta),
                                                      OPT_FN(radam), OPT_FN(nadam)};
