/* slab.c - blocks freed together, from chunks kept for the next round (slab.h). */
#include "core/slab.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/util.h"

struct hd_slab_chunk {
    struct hd_slab_chunk *next;
    size_t cap;
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

#define ALIGN_UP(n) (((n) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))

void hd_slab_init(struct hd_slab *s, size_t chunk, size_t keep, int64_t idle_ms)
{
    *s = (struct hd_slab){.chunk = chunk, .keep = keep, .idle_ms = idle_ms};
}

static void free_list(struct hd_slab *s, struct hd_slab_chunk *k)
{
    while (k != NULL) {
        struct hd_slab_chunk *next = k->next;
        s->held -= k->cap;
        free(k);
        k = next;
    }
}

/* A chunk for n bytes: a spare one of the usual size when n fits it, else new. */
static struct hd_slab_chunk *chunk_for(struct hd_slab *s, size_t n)
{
    if (n <= s->chunk && s->spare != NULL) {
        struct hd_slab_chunk *k = s->spare;
        s->spare = k->next;
        return k;
    }
    size_t cap = n > s->chunk ? n : s->chunk;
    struct hd_slab_chunk *k = malloc(sizeof(*k) + cap);
    if (k == NULL) {
        return NULL;
    }
    k->cap = cap;
    s->held += cap;
    return k;
}

void *hd_slab_alloc(struct hd_slab *s, size_t n)
{
    if (n > SIZE_MAX / 2) {
        return NULL; /* no such block */
    }
    n = ALIGN_UP(n > 0 ? n : 1);
    struct hd_slab_chunk *k = s->used;
    if (k == NULL || k->cap - k->used < n) {
        k = chunk_for(s, n);
        if (k == NULL) {
            return NULL;
        }
        k->used = 0;
        k->next = s->used;
        s->used = k;
    }
    void *p = k->data + k->used;
    k->used += n;
    return p;
}

void hd_slab_reset(struct hd_slab *s)
{
    if (s->used != NULL) {
        s->used_ms = hd_mono_ms();
    }
    size_t kept = 0;
    for (struct hd_slab_chunk *k = s->spare; k != NULL; k = k->next) {
        kept += k->cap;
    }
    struct hd_slab_chunk *k = s->used;
    s->used = NULL;
    while (k != NULL) {
        struct hd_slab_chunk *next = k->next;
        if (k->cap == s->chunk && kept + k->cap <= s->keep) {
            k->next = s->spare;
            s->spare = k;
            kept += k->cap;
        } else {
            k->next = NULL;
            free_list(s, k);
        }
        k = next;
    }
}

void hd_slab_idle(struct hd_slab *s)
{
    if (s->spare != NULL && hd_mono_ms() - s->used_ms >= s->idle_ms) {
        free_list(s, s->spare);
        s->spare = NULL;
    }
}

void hd_slab_free(struct hd_slab *s)
{
    free_list(s, s->used);
    free_list(s, s->spare);
    s->used = NULL;
    s->spare = NULL;
}
