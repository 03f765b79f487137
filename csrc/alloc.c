/* The one scratch allocator kernels use: per-thread, 64-byte aligned, grow-only; and
 * the process's malloc settings fastgrad asks for at import (fg_malloc_tune). */
#include <stdlib.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif
#include "fastgrad.h"

typedef struct { void *p; size_t cap; } fg_ws_slot;
static _Thread_local fg_ws_slot fg_ws[FG_WS_SLOTS];

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
    if (posix_memalign(&p, 64, cap ? cap : 64) != 0)
        return NULL;
    free(s->p);
    s->p = p;
    s->cap = cap;
    return p;
}

void fg_workspace_release(void)
{
    for (int i = 0; i < FG_WS_SLOTS; i++) {
        free(fg_ws[i].p);
        fg_ws[i].p = NULL;
        fg_ws[i].cap = 0;
    }
}

/* Arrays below mmap_threshold bytes come from the heap instead of fresh mmap()s, and
 * the heap keeps up to trim_threshold bytes of freed memory at its top instead of
 * handing it back at once.  Both only change how memory is reused: each array a
 * training step frees is handed to the next step's array instead of being unmapped and
 * faulted in again page by page.  glibc only (FG_EUNSUPPORTED elsewhere). */
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
