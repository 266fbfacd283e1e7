/* slab.h - many small blocks freed together, from memory kept for the next round.
 *
 * The dispatcher reads events from the store a few hundred at a time (the
 * read-ahead) and frees them all at once when it has sent them. One malloc
 * per event left the thread's arena with a free top that glibc trimmed
 * (madvise) at every free, and the next read faulted the same pages in
 * again: about 1.5 us of system time per event delivered in batches. A slab
 * bump-allocates the blocks of one round from chunks that hd_slab_reset keeps
 * (up to keep bytes) for the next round; hd_slab_idle gives them back when
 * unused for a while. docs/performance.md, round 16.
 * Not thread-safe: one owner.
 */
#ifndef HD_SLAB_H
#define HD_SLAB_H

#include <stddef.h>
#include <stdint.h>

struct hd_slab_chunk;

struct hd_slab {
    size_t chunk; /* a chunk's usual capacity (a larger block gets a chunk of its own) */
    size_t keep;  /* hd_slab_reset keeps chunks of capacity chunk up to this many bytes */
    int64_t idle_ms;
    struct hd_slab_chunk *used;  /* the current round's, newest first */
    struct hd_slab_chunk *spare; /* kept, empty */
    size_t held;                 /* bytes of all chunks, used and spare */
    int64_t used_ms;             /* the last reset of a round that allocated (hd_mono_ms) */
};

void hd_slab_init(struct hd_slab *s, size_t chunk, size_t keep, int64_t idle_ms);
/* n bytes aligned for any type, valid until the next reset or free; NULL
 * when memory runs out. */
void *hd_slab_alloc(struct hd_slab *s, size_t n);
/* Every block allocated is dead: their chunks become spare (at most keep bytes). */
void hd_slab_reset(struct hd_slab *s);
/* Frees the spare chunks when no round has ended for idle_ms. */
void hd_slab_idle(struct hd_slab *s);
/* Frees every chunk (the blocks allocated included). */
void hd_slab_free(struct hd_slab *s);

#endif
