/* The one scratch allocator kernels use: per-thread, 64-byte aligned, grow-only. */
#include <stdlib.h>
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
