/* fg_gemm_f32 / fg_gemm_f64: argument checks, ISA dispatch, batch loop, threading
 * (tasks on fastgrad's pool, csrc/threadpool.c).
 * The per-ISA sequential drivers live in gemm_{scalar,avx2,avx512,neon}.c. */
#include <math.h>
#include "gemm_internal.h"
#include <stdatomic.h>
#include "../threadpool.h"

int fg_gemm_force_path = FG_GEMM_PATH_AUTO;
int64_t fg_gemm_par_min_override = 0;
int fg_gemm_split_override = 0;

typedef struct {
    fg_gemm_seq_fn fn;
    int mr, nr;
} gemm_impl;

static gemm_impl select_impl(int is64)
{
    gemm_impl g;
    int isa = fg_get_isa();
#if FG_GEMM_X86
    if (isa == FG_ISA_AVX512) {
        g.fn = is64 ? fg_gemm_seq_f64_avx512 : fg_gemm_seq_f32_avx512;
        g.mr = is64 ? FG_GEMM_D512_MR : FG_GEMM_S512_MR;
        g.nr = is64 ? FG_GEMM_D512_NR : FG_GEMM_S512_NR;
        return g;
    }
    if (isa == FG_ISA_AVX2) {
        g.fn = is64 ? fg_gemm_seq_f64_avx2 : fg_gemm_seq_f32_avx2;
        g.mr = is64 ? FG_GEMM_D256_MR : FG_GEMM_S256_MR;
        g.nr = is64 ? FG_GEMM_D256_NR : FG_GEMM_S256_NR;
        return g;
    }
#else
    (void)isa;
#endif
#if FG_GEMM_NEON
    if (fg_cpu_features() & FG_CPUF_NEON) {
        g.fn = is64 ? fg_gemm_seq_f64_neon : fg_gemm_seq_f32_neon;
        g.mr = is64 ? FG_GEMM_DNEON_MR : FG_GEMM_SNEON_MR;
        g.nr = is64 ? FG_GEMM_DNEON_NR : FG_GEMM_SNEON_NR;
        return g;
    }
#endif
    g.fn = is64 ? fg_gemm_seq_f64_scalar : fg_gemm_seq_f32_scalar;
    g.mr = is64 ? FG_GEMM_DSC_MR : FG_GEMM_SSC_MR;
    g.nr = is64 ? FG_GEMM_DSC_NR : FG_GEMM_SSC_NR;
    return g;
}

static double act1(double x, int act)
{
    switch (act) {
    case FG_ACT_RELU: return x > 0 ? x : (x == x ? 0.0 : x);
    case FG_ACT_GELU: return 0.5 * x * (1.0 + erf(x * 0.70710678118654752440));
    case FG_ACT_TANH: return tanh(x);
    case FG_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    default: return x;
    }
}

/* k == 0 or alpha == 0: C = act(beta*C + bias); A and B are not read. */
#define FG_SCALE_ONLY(T)                                                              \
    static void scale_only_##T(const fg_gemm_desc *d)                                 \
    {                                                                                 \
        const T *bias = (const T *)d->bias;                                           \
        const T beta = (T)d->beta;                                                    \
        for (int64_t p = 0; p < d->batch; p++) {                                      \
            T *c = (T *)d->c + p * d->stride_c;                                       \
            for (int64_t i = 0; i < d->m; i++) {                                      \
                T *cr = c + i * d->ldc;                                               \
                for (int64_t j = 0; j < d->n; j++) {                                  \
                    T x = beta == (T)0 ? (T)0 : beta * cr[j];                         \
                    if (bias) x += bias[j];                                           \
                    cr[j] = d->act ? (T)act1((double)x, d->act) : x;                  \
                }                                                                     \
            }                                                                         \
        }                                                                             \
    }
FG_SCALE_ONLY(float)
FG_SCALE_ONLY(double)

static int check_desc(const fg_gemm_desc *d)
{
    if (!d) return FG_EINVAL;
    if (d->transa != 0 && d->transa != 1) return FG_EINVAL;
    if (d->transb != 0 && d->transb != 1) return FG_EINVAL;
    if (d->m < 0 || d->n < 0 || d->k < 0 || d->batch < 0) return FG_EINVAL;
    if (d->act < 0 || d->act >= FG_ACT_COUNT) return FG_EINVAL;
    if (d->batch == 0) return FG_OK;
    const int64_t m = d->m, n = d->n, k = d->k;
    if (m > 0 && k > 0) {
        if (!d->a) return FG_EINVAL;
        if (d->lda < (d->transa ? m : k)) return FG_EINVAL;
    }
    if (k > 0 && n > 0) {
        if (!d->b) return FG_EINVAL;
        if (d->ldb < (d->transb ? k : n)) return FG_EINVAL;
    }
    if (m > 0 && n > 0) {
        if (!d->c) return FG_EINVAL;
        if (d->ldc < n) return FG_EINVAL;
    }
    return FG_OK;
}

/* split m x n among nt threads as a tm x tn grid of MR/NR-aligned blocks, minimising
 * the largest block's work plus the re-packing overhead (tn/n + tm/m) plus the operand
 * rows and columns each thread streams (rows + cols, weighted by FG_GEMM_GRID_LOAD):
 * for the small-network shapes (m = 32..64, k = 784, n = 128) splitting n reads half of
 * B per thread and beats splitting m, which reads all of it twice. */
#define FG_GEMM_GRID_LOAD 2.5   /* ~50 multiply-adds/ns against ~80 bytes/ns, float32 */
static void choose_grid(int64_t m, int64_t n, int nt, int mr, int nr, size_t esz, int *ptm, int *ptn)
{
    double best = -1;
    int btm = 1, btn = nt;
    const int64_t mb = (m + mr - 1) / mr, nb = (n + nr - 1) / nr;
    for (int tm = 1; tm <= nt; tm++) {
        if (nt % tm) continue;
        const int tn = nt / tm;
        if (tm > mb || tn > nb) continue;
        const double rows = (double)((mb + tm - 1) / tm) * mr;
        const double cols = (double)((nb + tn - 1) / tn) * nr;
        const double cost = rows * cols * (1.0 + (double)tn / (double)m + (double)tm / (double)n)
                            + FG_GEMM_GRID_LOAD * (double)esz / 4.0 * (rows + cols);
        if (best < 0 || cost < best) { best = cost; btm = tm; btn = tn; }
    }
    if (best < 0) {          /* fewer blocks than threads: split the longer side */
        if (mb >= nb) { btm = (int)(mb < nt ? mb : nt); btn = 1; }
        else { btm = 1; btn = (int)(nb < nt ? nb : nt); }
    }
    *ptm = btm;
    *ptn = btn;
}

typedef struct {
    const fg_gemm_desc *d;
    const fg_gemm_sub *s0;
    gemm_impl g;
    size_t esz;
    int tm, tn;
    int err;
} gemm_job;

static void gemm_batch_task(void *ctx, int64_t p, int tid)
{
    gemm_job *j = ctx;
    const fg_gemm_desc *d = j->d;
    fg_gemm_sub s = *j->s0;
    (void)tid;
    s.a = (const char *)d->a + p * d->stride_a * (int64_t)j->esz;
    s.b = (const char *)d->b + p * d->stride_b * (int64_t)j->esz;
    s.c = (char *)d->c + p * d->stride_c * (int64_t)j->esz;
    const int r = j->g.fn(&s);
    if (r != FG_OK) FG_ATOMIC_STORE_RELAXED(&j->err, r);
}

static void gemm_block_task(void *ctx, int64_t blk, int tid)
{
    gemm_job *j = ctx;
    const fg_gemm_desc *d = j->d;
    const int64_t m = d->m, n = d->n, esz = (int64_t)j->esz;
    const int ti = (int)(blk / j->tn), tj = (int)(blk % j->tn), mr = j->g.mr, nr = j->g.nr;
    const int64_t mb = (m + mr - 1) / mr, nb = (n + nr - 1) / nr;
    int64_t i0 = (mb * ti) / j->tm * mr, i1 = (mb * (ti + 1)) / j->tm * mr;
    int64_t j0 = (nb * tj) / j->tn * nr, j1 = (nb * (tj + 1)) / j->tn * nr;
    (void)tid;
    if (i1 > m) i1 = m;
    if (j1 > n) j1 = n;
    if (i0 >= i1 || j0 >= j1) return;
    for (int64_t p = 0; p < d->batch; p++) {
        const char *a = (const char *)d->a + p * d->stride_a * esz;
        const char *b = (const char *)d->b + p * d->stride_b * esz;
        char *c = (char *)d->c + p * d->stride_c * esz;
        fg_gemm_sub s = *j->s0;
        s.m = i1 - i0;
        s.n = j1 - j0;
        s.a = a + (d->transa ? i0 : i0 * d->lda) * esz;
        s.b = b + (d->transb ? j0 * d->ldb : j0) * esz;
        s.c = c + (i0 * d->ldc + j0) * esz;
        s.bias = d->bias ? (const char *)d->bias + j0 * esz : NULL;
        const int r = j->g.fn(&s);
        if (r != FG_OK) {
            FG_ATOMIC_STORE_RELAXED(&j->err, r);
            return;
        }
    }
}

/* Sharing the cores.  Another library's threads can hold a core long after their own
 * call returned: NumPy's OpenBLAS workers spin ~0.1 s after each call (thread_timeout
 * 2^28 cycles), PyTorch's OpenMP workers spin too.  A worker of ours scheduled on that
 * core gets about half of it, so a GEMM split into one block per thread waits for the
 * slow half and runs at one core's speed or below.  Measured from the GEMMs themselves
 * (fg_parallel_work_share), such contention makes the following large GEMMs use several
 * smaller blocks per thread, which the caller claims while the worker is off its core
 * (about 4/3 of a core for two threads sharing two cores with one spinning thread).
 * Smaller GEMMs keep one block per thread: the 784-512-512-10 MLP step beside NumPy's
 * calls ran 3% faster that way than with its GEMMs on the caller alone.  Uncontended, one block
 * per thread is kept for every size: the extra packing of smaller blocks costs 1-5%. */
static atomic_llong contended_until;

static int cores_contended(void)
{
    const long long until = atomic_load_explicit(&contended_until, memory_order_relaxed);
    return until != 0 && fg_now_ns() < until;
}

static void note_share(double share)
{
    if (share >= FG_GEMM_CONTENDED_SHARE)
        atomic_store_explicit(&contended_until, fg_now_ns() + FG_GEMM_CONTENDED_NS,
                              memory_order_relaxed);
    else if (share > 0.0 && share < FG_GEMM_FREE_SHARE)
        atomic_store_explicit(&contended_until, 0, memory_order_relaxed);
}

static int gemm_serial(const fg_gemm_sub *s0, const fg_gemm_desc *d, gemm_impl g, size_t esz)
{
    for (int64_t p = 0; p < d->batch; p++) {
        fg_gemm_sub s = *s0;
        s.a = (const char *)d->a + p * d->stride_a * (int64_t)esz;
        s.b = (const char *)d->b + p * d->stride_b * (int64_t)esz;
        s.c = (char *)d->c + p * d->stride_c * (int64_t)esz;
        const int rc = g.fn(&s);
        if (rc != FG_OK) return rc;
    }
    return FG_OK;
}

static int gemm_common(const fg_gemm_desc *d, int nthreads, int is64)
{
    int rc = check_desc(d);
    if (rc != FG_OK) return rc;
    const int64_t m = d->m, n = d->n, k = d->k, batch = d->batch;
    if (batch == 0 || m == 0 || n == 0) return FG_OK;
    if (k == 0 || d->alpha == 0.0) {
        if (is64) scale_only_double(d); else scale_only_float(d);
        return FG_OK;
    }
    const size_t esz = is64 ? sizeof(double) : sizeof(float);
    const gemm_impl g = select_impl(is64);

    fg_gemm_sub s0;
    s0.m = m; s0.n = n; s0.k = k;
    s0.a = d->a; s0.lda = d->lda; s0.transa = d->transa;
    s0.b = d->b; s0.ldb = d->ldb; s0.transb = d->transb;
    s0.c = d->c; s0.ldc = d->ldc;
    s0.alpha = d->alpha; s0.beta = d->beta;
    s0.bias = d->bias; s0.act = d->act;
    if (fg_gemm_force_path) s0.path = fg_gemm_force_path;
    else {
        /* direct when op(B) stays in L2 while it is re-read for every MR rows; with a
         * transposed A also the k x m span of A (one cache line per k step). */
        const double bbytes = (double)k * (double)(d->transb ? d->ldb : n) * (double)esz;
        const double abytes = d->transa ? (double)k * (double)d->lda * (double)esz : 0.0;
        s0.path = bbytes <= (double)FG_GEMM_SMALL_B_BYTES &&
                          abytes <= (double)FG_GEMM_SMALL_TA_BYTES
                      ? FG_GEMM_PATH_DIRECT : FG_GEMM_PATH_PACKED;
        /* a few rows: op(B) read once, in place, rather than MR-row tiles */
        if (m * 2 <= g.mr && d->act == FG_ACT_NONE) s0.path = FG_GEMM_PATH_SMALL_M;
    }

    /* threads */
    int nt = nthreads < 1 ? 1 : nthreads;
    const double mnk = (double)m * (double)n * (double)k;
    const double par_min = fg_gemm_par_min_override > 0 ? (double)fg_gemm_par_min_override
                                                        : (double)FG_GEMM_PAR_MIN_MNK;
    const int batch_par = batch > 1 && d->stride_c != 0;
    const double total = batch_par ? mnk * (double)batch : mnk;
    if (total < par_min) nt = 1;
    if (nt > 1) {
        double maxt = total / (double)FG_GEMM_PAR_MNK_PER_THREAD;
        if (maxt < nt) nt = maxt < 1 ? 1 : (int)maxt;
    }

    if (nt == 1) return gemm_serial(&s0, d, g, esz);
    /* estimated single-thread time: sleeping workers are woken only for big jobs */
    const double work_ns = total / (double)FG_GEMM_MNK_PER_NS;
    int per_thread = 1;
    if (fg_gemm_split_override > 0) {
        per_thread = fg_gemm_split_override;
    } else if (cores_contended()) {
        per_thread = (int)(work_ns / ((double)nt * FG_GEMM_TASK_NS));
        if (per_thread > FG_GEMM_CONTENDED_SPLIT) per_thread = FG_GEMM_CONTENDED_SPLIT;
        if (per_thread < 1) per_thread = 1;
    }

    gemm_job job = {d, &s0, g, esz, 0, 0, FG_OK};
    double share = 0.0;
    double *const sharep = work_ns >= FG_GEMM_SHARE_MIN_NS ? &share : NULL;
    if (batch_par && batch >= nt) {
        /* whole problems per task */
        fg_parallel_work_share(nt, batch, gemm_batch_task, &job, work_ns, sharep);
        note_share(share);
        return job.err;
    }
    /* one task per fixed block of C (the same block for every batch index, so even
     * stride_c == 0 is race free); each runs the sequential driver on its block */
    choose_grid(m, n, nt * per_thread, g.mr, g.nr, esz, &job.tm, &job.tn);
    fg_parallel_work_share(nt, (int64_t)job.tm * job.tn, gemm_block_task, &job, work_ns,
                           sharep);
    note_share(share);
    return job.err;
}

int fg_gemm_f32(const fg_gemm_desc *d, int nthreads) { return gemm_common(d, nthreads, 0); }
int fg_gemm_f64(const fg_gemm_desc *d, int nthreads) { return gemm_common(d, nthreads, 1); }
