/* bufpool.c - large freed buffers kept for the next user (bufpool.h). */
#include "core/bufpool.h"

#include "core/util.h"

void hd_buf_pool_init(struct hd_buf_pool *p, size_t min, size_t max, size_t n_max, size_t bytes_max,
                      int64_t idle_ms)
{
    *p = (struct hd_buf_pool){.min = min,
                              .max = max,
                              .n_max = n_max < HD_BUF_POOL_SLOTS ? n_max : HD_BUF_POOL_SLOTS,
                              .bytes_max = bytes_max,
                              .idle_ms = idle_ms};
    pthread_mutex_init(&p->mu, NULL);
}

static void free_all(struct hd_buf_pool *p)
{
    while (p->n > 0) {
        hd_buf_free(&p->b[--p->n]);
    }
    p->bytes = 0;
}

void hd_buf_pool_destroy(struct hd_buf_pool *p)
{
    free_all(p);
    pthread_mutex_destroy(&p->mu);
}

int hd_buf_pool_take(struct hd_buf_pool *p, struct hd_buf *b, size_t want)
{
    if (want < p->min || want >= p->max) {
        return 0;
    }
    pthread_mutex_lock(&p->mu);
    size_t best = p->n;
    for (size_t i = 0; i < p->n; i++) {
        if (p->b[i].cap > want && (best == p->n || p->b[i].cap < p->b[best].cap)) {
            best = i;
        }
    }
    int got = best < p->n;
    if (got) {
        b->p = p->b[best].p;
        b->cap = p->b[best].cap;
        b->len = 0;
        b->p[0] = '\0';
        p->bytes -= b->cap;
        p->b[best] = p->b[--p->n];
        p->used_ms = hd_mono_ms();
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}

void hd_buf_pool_put(struct hd_buf_pool *p, struct hd_buf *b)
{
    if (b->p != NULL && b->cap >= p->min && b->cap <= p->max) {
        pthread_mutex_lock(&p->mu);
        if (p->n < p->n_max && p->bytes + b->cap <= p->bytes_max) {
            p->b[p->n++] = *b;
            p->bytes += b->cap;
            p->used_ms = hd_mono_ms();
            b->p = NULL;
            b->len = b->cap = 0;
        }
        pthread_mutex_unlock(&p->mu);
    }
    hd_buf_free(b);
}

size_t hd_buf_pool_size(const struct hd_buf_pool *p, size_t want)
{
    if (want < p->min || want >= p->max) {
        return want;
    }
    size_t r = (want + HD_BUF_POOL_ROUND - 1) / HD_BUF_POOL_ROUND * HD_BUF_POOL_ROUND;
    return r > p->max ? p->max : r;
}

void hd_buf_pool_touch(struct hd_buf_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->used_ms = hd_mono_ms();
    pthread_mutex_unlock(&p->mu);
}

void hd_buf_pool_drain(struct hd_buf_pool *p)
{
    pthread_mutex_lock(&p->mu);
    if (p->n > 0 && hd_mono_ms() - p->used_ms >= p->idle_ms) {
        free_all(p);
    }
    pthread_mutex_unlock(&p->mu);
}
