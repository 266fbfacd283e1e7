/* bufpool.h - large freed buffers kept for the next user.
 *
 * A block of malloc's mmap threshold (serve.c: 256 KiB) or more is a fresh
 * mapping each time it is allocated: every 4 KiB written into it is a page
 * fault, and freeing it unmaps it again. Where such blocks come and go all
 * the time (request bodies: net/http_server.c) a few are kept instead,
 * bounded in count and bytes, and given back once unused for a while
 * (hd_buf_pool_drain, called periodically by the owner).
 * Thread-safe. docs/performance.md, round 14.
 */
#ifndef HD_BUFPOOL_H
#define HD_BUFPOOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define HD_BUF_POOL_SLOTS 4
#define HD_BUF_POOL_ROUND (64 * 1024)

struct hd_buf_pool {
    size_t min, max;    /* capacities kept: min <= cap <= max */
    size_t n_max;       /* at most this many (<= HD_BUF_POOL_SLOTS) */
    size_t bytes_max;   /* and this many bytes together */
    int64_t idle_ms;    /* given back after this long without a take or a keep */
    pthread_mutex_t mu; /* everything below */
    struct hd_buf b[HD_BUF_POOL_SLOTS];
    size_t n;
    size_t bytes;
    int64_t used_ms; /* the last take or keep (hd_mono_ms) */
};

void hd_buf_pool_init(struct hd_buf_pool *p, size_t min, size_t max, size_t n_max, size_t bytes_max,
                      int64_t idle_ms);
void hd_buf_pool_destroy(struct hd_buf_pool *p); /* frees what it keeps */
/* Moves the smallest kept buffer of more than want bytes into b (empty, its
 * max kept): 1; 0 when none fits or want is outside [min, max). */
int hd_buf_pool_take(struct hd_buf_pool *p, struct hd_buf *b, size_t want);
/* Keeps b's memory when its capacity is in range and there is room, else
 * frees it; b is left empty either way. */
void hd_buf_pool_put(struct hd_buf_pool *p, struct hd_buf *b);
/* The capacity to allocate for want bytes: in the pool's range, rounded up
 * to HD_BUF_POOL_ROUND, so that buffers of similar sizes fit each other
 * (a kept buffer is reused only by a body it can hold). */
size_t hd_buf_pool_size(const struct hd_buf_pool *p, size_t want);
/* Counts as a use (a buffer's user is done with it only now). */
void hd_buf_pool_touch(struct hd_buf_pool *p);
/* Frees what is kept if unused for idle_ms. */
void hd_buf_pool_drain(struct hd_buf_pool *p);

#endif
