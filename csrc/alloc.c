/* fastgrad's memory: the scratch allocator kernels use (per-thread, 64-byte aligned,
 * grow-only), the block cache the Python layer takes large result arrays from
 * (fg_cache_*), and fg_malloc_tune, an opt-in change of the C library's malloc settings
 * that nothing calls unless the user asks for it. */
#include <stdlib.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif
#include "fastgrad.h"
#include "port.h"

typedef struct { void *p; size_t cap; } fg_ws_slot;
static FG_THREAD_LOCAL fg_ws_slot fg_ws[FG_WS_SLOTS];

void *fg_workspace(int slot, size_t bytes)
{
    if (slot < 0 || slot >= FG_WS_SLOTS)
        return NULL;
    fg_ws_slot *s = &fg_ws[slot];
    if (bytes <= s->cap && s->p)
        return s->p;
    size_t cap = bytes + (bytes >> 2);        /* grow with headroom */
    cap = (cap + 63) & ~(size_t)63;
    if (cap < bytes)                          /* overflow */
        return NULL;
    void *p = NULL;
    if (!(p = fg_aligned_alloc(64, cap ? cap : 64)))
        return NULL;
    fg_aligned_free(s->p);
    s->p = p;
    s->cap = cap;
    return p;
}

void fg_workspace_release(void)
{
    for (int i = 0; i < FG_WS_SLOTS; i++) {
        fg_aligned_free(fg_ws[i].p);
        fg_ws[i].p = NULL;
        fg_ws[i].cap = 0;
    }
}

/* ---- the block cache ------------------------------------------------------------ *
 * Blocks of at least FG_CACHE_MIN_BYTES come straight from the OS (fg_pages_alloc:
 * mmap() or VirtualAlloc(); page-aligned, so
 * 64-byte aligned; the C library's allocator and its settings are never involved).  A
 * block given back is kept for the next request of its size class instead of being
 * unmapped, so its pages, already faulted in, serve the next training step's array of
 * the same size.  Size classes: four per power of two (2^k, 1.25, 1.5, 1.75 x 2^k), so
 * a block is at most 25% larger than the request it serves.
 *
 * Free blocks hold their own bookkeeping (fg_blk, written into the block's first
 * bytes): a doubly linked list per size class (most recently returned first) and one
 * list over all cached blocks in the order they were returned, whose oldest end is
 * evicted when the cached bytes would exceed the limit.  One mutex guards everything;
 * unmapping runs outside it.  fork(): the mutex is held across the fork (fg_atfork)
 * so the child's copy of the cache is consistent; the child owns copies of every page,
 * so its use of the cache never touches the parent's memory. */
#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer checks cached blocks as it checks malloc()'d memory: the bytes past
 * a request and a cached block (but its first FG_BLK_HEAD bytes, its bookkeeping) are
 * poisoned, so a kernel writing past its result or into a freed one is reported. */
#include <sanitizer/asan_interface.h>
#define FG_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define FG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define FG_POISON(p, n) ((void)(p), (void)(n))
#define FG_UNPOISON(p, n) ((void)(p), (void)(n))
#endif
#define FG_BLK_HEAD 64

typedef struct fg_blk {
    struct fg_blk *cnext, *cprev;   /* the size class's list */
    struct fg_blk *lnext, *lprev;   /* all cached blocks, newest first */
    size_t bytes;
    int cls;
} fg_blk;

#define FG_CACHE_CLASSES (4 * 48)

static fg_mutex_t fg_cache_mu = FG_MUTEX_INIT;
static fg_once_t fg_cache_once = FG_ONCE_INIT;
static fg_blk *fg_cache_cls[FG_CACHE_CLASSES];
static fg_blk *fg_cache_new, *fg_cache_old;  /* newest / oldest cached block */
static size_t fg_cache_limit = (size_t)256 << 20;
static int64_t fg_cache_st[FG_CACHE_NSTATS];

static void fg_cache_lock(void) { fg_mutex_lock(&fg_cache_mu); }
static void fg_cache_unlock(void) { fg_mutex_unlock(&fg_cache_mu); }
static void fg_cache_init(void) { fg_atfork(fg_cache_lock, fg_cache_unlock, fg_cache_unlock); }

/* the size class of a request (-1: too large to cache) and the class's block size */
static int fg_cache_class(size_t bytes, size_t *cap)
{
    if (bytes > ((size_t)1 << 46))
        return -1;
    if (bytes < FG_CACHE_MIN_BYTES)
        bytes = FG_CACHE_MIN_BYTES;
    int k = 63 - fg_clz64((uint64_t)bytes);   /* 2^k <= bytes */
    size_t step = (size_t)1 << (k - 2);
    size_t q = (bytes + step - 1) / step;                       /* 4..8 */
    if (q == 8) { k++; q = 4; step <<= 1; }
    int cls = (k - 17) * 4 + (int)(q - 4);
    if (cls < 0 || cls >= FG_CACHE_CLASSES)
        return -1;
    *cap = q * step;
    return cls;
}

static void fg_cache_unlink(fg_blk *b)
{
    if (b->cprev) b->cprev->cnext = b->cnext; else fg_cache_cls[b->cls] = b->cnext;
    if (b->cnext) b->cnext->cprev = b->cprev;
    if (b->lprev) b->lprev->lnext = b->lnext; else fg_cache_new = b->lnext;
    if (b->lnext) b->lnext->lprev = b->lprev; else fg_cache_old = b->lprev;
    fg_cache_st[FG_CACHE_CACHED_BYTES] -= (int64_t)b->bytes;
    fg_cache_st[FG_CACHE_CACHED_BLOCKS]--;
}

/* Unlinks the oldest cached blocks until at most keep bytes stay cached; returns them
 * chained through cnext, for the caller to unmap after unlocking. */
static fg_blk *fg_cache_shrink(size_t keep)
{
    fg_blk *out = NULL;
    while (fg_cache_old && (size_t)fg_cache_st[FG_CACHE_CACHED_BYTES] > keep) {
        fg_blk *b = fg_cache_old;
        fg_cache_unlink(b);
        b->cnext = out;
        out = b;
        fg_cache_st[FG_CACHE_EVICTIONS]++;
    }
    return out;
}

static void fg_cache_unmap(fg_blk *b)
{
    while (b) {
        fg_blk *next = b->cnext;
        size_t bytes = b->bytes;
        FG_UNPOISON(b, bytes);
        fg_pages_free(b, bytes);
        b = next;
    }
}

void *fg_cache_alloc(size_t bytes, size_t *cap)
{
    size_t c;
    int cls = fg_cache_class(bytes, &c);
    if (cls < 0)
        return NULL;
    fg_once(&fg_cache_once, fg_cache_init);
    fg_cache_lock();
    fg_blk *b = fg_cache_cls[cls];
    if (b) {
        fg_cache_unlink(b);
        fg_cache_st[FG_CACHE_HITS]++;
    } else {
        fg_cache_st[FG_CACHE_MISSES]++;
    }
    fg_cache_st[FG_CACHE_USED_BYTES] += (int64_t)c;
    fg_cache_unlock();
    if (b) {
        FG_UNPOISON(b, bytes);
        FG_POISON((char *)b + bytes, c - bytes);
        *cap = c;
        return b;
    }
    void *p = fg_pages_alloc(c);
    if (!p) {                              /* give the cached blocks back and try again */
        fg_cache_release();
        p = fg_pages_alloc(c);
    }
    if (!p) {
        fg_cache_lock();
        fg_cache_st[FG_CACHE_USED_BYTES] -= (int64_t)c;
        fg_cache_unlock();
        return NULL;
    }
    FG_POISON((char *)p + bytes, c - bytes);
    *cap = c;
    return p;
}

void fg_cache_free(void *p, size_t cap)
{
    size_t c;
    int cls = fg_cache_class(cap, &c);
    if (!p || cls < 0 || c != cap)          /* not a block of fg_cache_alloc */
        return;
    fg_blk *evicted = NULL, *b = (fg_blk *)p;
    int keep;
    fg_cache_lock();
    fg_cache_st[FG_CACHE_USED_BYTES] -= (int64_t)cap;
    keep = cap <= fg_cache_limit;
    if (keep) {
        FG_UNPOISON(b, FG_BLK_HEAD);
        FG_POISON((char *)b + FG_BLK_HEAD, cap - FG_BLK_HEAD);
        evicted = fg_cache_shrink(fg_cache_limit - cap);
        b->bytes = cap;
        b->cls = cls;
        b->cprev = NULL;
        b->cnext = fg_cache_cls[cls];
        if (b->cnext) b->cnext->cprev = b;
        fg_cache_cls[cls] = b;
        b->lprev = NULL;
        b->lnext = fg_cache_new;
        if (b->lnext) b->lnext->lprev = b; else fg_cache_old = b;
        fg_cache_new = b;
        fg_cache_st[FG_CACHE_CACHED_BYTES] += (int64_t)cap;
        fg_cache_st[FG_CACHE_CACHED_BLOCKS]++;
    }
    fg_cache_unlock();
    fg_cache_unmap(evicted);
    if (!keep) {
        FG_UNPOISON(p, cap);
        fg_pages_free(p, cap);
    }
}

void fg_cache_release(void)
{
    fg_cache_lock();
    fg_blk *evicted = fg_cache_shrink(0);
    fg_cache_unlock();
    fg_cache_unmap(evicted);
}

void fg_cache_set_limit(size_t bytes)
{
    fg_cache_lock();
    fg_cache_limit = bytes;
    fg_blk *evicted = fg_cache_shrink(bytes);
    fg_cache_unlock();
    fg_cache_unmap(evicted);
}

void fg_cache_stats(int64_t out[FG_CACHE_NSTATS])
{
    fg_cache_lock();
    for (int i = 0; i < FG_CACHE_NSTATS; i++)
        out[i] = fg_cache_st[i];
    out[FG_CACHE_LIMIT] = (int64_t)fg_cache_limit;
    fg_cache_unlock();
}

void fg_cache_reset_stats(void)
{
    fg_cache_lock();
    fg_cache_st[FG_CACHE_HITS] = fg_cache_st[FG_CACHE_MISSES] = fg_cache_st[FG_CACHE_EVICTIONS] = 0;
    fg_cache_unlock();
}

/* ---- the C library's malloc (opt-in) ---------------------------------------------- *
 * Arrays below mmap_threshold bytes come from the heap instead of fresh mmap()s, and
 * the heap keeps up to trim_threshold bytes of freed memory at its top instead of
 * handing it back at once.  Both only change how memory is reused: each array a
 * training step frees is handed to the next step's array instead of being unmapped and
 * faulted in again page by page.  Process-wide and never called by fastgrad itself:
 * fastgrad.memory.tune_malloc is the user's explicit opt-in (the block cache gives
 * fastgrad's own arrays the same reuse).  glibc only (FG_EUNSUPPORTED elsewhere). */
int fg_malloc_tune(int64_t mmap_threshold, int64_t trim_threshold)
{
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    /* glibc caps the mmap threshold at 32 MiB on 64-bit systems (HEAP_MAX / 2) */
    if (mmap_threshold < 0 || mmap_threshold > ((int64_t)1 << 25) || trim_threshold < 0 ||
        trim_threshold > ((int64_t)1 << 40))
        return FG_EINVAL;
    if (!mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold)) return FG_EINVAL;
    if (!mallopt(M_TRIM_THRESHOLD, (int)(trim_threshold > 0x7fffffff ? 0x7fffffff : trim_threshold)))
        return FG_EINVAL;
    return FG_OK;
#else
    (void)mmap_threshold;
    (void)trim_threshold;
    return FG_EUNSUPPORTED;
#endif
}
