/* throttle.c - one notification per key per window (SPEC 4 options.throttle).
 *
 * DESIGN: state per (channel id, key value), where the key value is the
 * event's value at options.throttle.key ("alertKey", "k8s.namespace",
 * "labels.rule", "raw.alert.name"; events without it share the empty key).
 * Time is the event's arrival time (receivedUs), not the dispatch time: a
 * backlog delivered after an outage is throttled as it arrived, and a re-read
 * decides the same way.
 *
 *  - ACTIVE passes when no ACTIVE passed for the key within windowMs; it
 *    opens a new window. Otherwise it is suppressed and counted.
 *  - OK / RESOLVED pass when the last event that passed for the key was
 *    ACTIVE (they close what a pager opened: an incident must not stay open
 *    because its resolve fell in the window); otherwise they are suppressed.
 *    A flapping alert thus pages at most once per window, plus its resolve.
 *  - The event that passes carries the count suppressed since the previous
 *    one (ev->suppressed); the count restarts at 0.
 *
 * Re-reads: the dispatcher may read an event again (a batch cut short, a
 * channel reloaded from its persisted cursor). An event whose seq is not
 * after the last one seen for its key is a re-read: it passes again, with
 * the same count, iff it passed before (the last few passes are remembered),
 * else it is RESEEN (not counted twice).
 *
 * Memory: at most MAX_KEYS entries; when full, entries whose window is over
 * and that hold no count are dropped; if none can be, a new key is not
 * tracked and its events pass (over-notifying beats losing an alert).
 * State is process memory: a restart starts every window afresh.
 *
 * Shared state: one table under one mutex (the dispatcher thread is the only
 * caller in herald; unit tests call it directly).
 */
#include "route/throttle.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "route/filter.h"

#define N_BUCKETS 4096u
#define MAX_KEYS 65536u
#define PASS_RING 4

struct pass {
    int64_t seq;
    int64_t suppressed;
};

struct tentry {
    struct tentry *next;
    uint64_t hash;
    int64_t channel_id;
    char *key;
    int has_window; /* an ACTIVE passed: window_start_us is set */
    int64_t window_start_us;
    int64_t suppressed; /* since the last pass */
    enum hd_state last_pass_state;
    int64_t last_seq; /* last event seen for the key */
    struct pass passes[PASS_RING];
    unsigned n_passes; /* total, ring index = n % PASS_RING */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tentry *buckets[N_BUCKETS];
static size_t n_entries;

static uint64_t key_hash(int64_t channel_id, const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < 8; i++) {
        h ^= (uint64_t)((uint64_t)channel_id >> (i * 8)) & 0xffu;
        h *= 1099511628211ULL;
    }
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Appends the event's value at path to out (nothing when absent): the
 * same reading of a field path as options.match. */
static int key_value(const struct hd_event *ev, const char *path, struct hd_buf *out)
{
    struct hd_event_docs d = {0};
    char num[24];
    const char *v = hd_event_field(ev, path, &d, num, sizeof(num));
    int rc = v != NULL ? hd_buf_puts(out, v) : HD_OK;
    hd_event_docs_free(&d);
    return rc;
}

static void entry_free(struct tentry *e)
{
    free(e->key);
    free(e);
}

/* Drops entries that hold no count and whose window started before
 * cutoff_us (now - windowMs: over). */
static void prune(int64_t cutoff_us)
{
    for (size_t b = 0; b < N_BUCKETS; b++) {
        struct tentry **pp = &buckets[b];
        while (*pp != NULL) {
            struct tentry *e = *pp;
            int idle = e->suppressed == 0 && (!e->has_window || e->window_start_us < cutoff_us);
            if (idle) {
                *pp = e->next;
                entry_free(e);
                n_entries--;
            } else {
                pp = &e->next;
            }
        }
    }
}

static struct tentry *entry_get(int64_t channel_id, const char *key, int64_t now_us, int64_t window_us)
{
    uint64_t h = key_hash(channel_id, key);
    struct tentry *e = buckets[h % N_BUCKETS];
    for (; e != NULL; e = e->next) {
        if (e->hash == h && e->channel_id == channel_id && strcmp(e->key, key) == 0) {
            return e;
        }
    }
    if (n_entries >= MAX_KEYS) {
        prune(now_us - window_us);
        if (n_entries >= MAX_KEYS) {
            return NULL;
        }
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    e->key = hd_strdup(key);
    if (e->key == NULL) {
        free(e);
        return NULL;
    }
    e->hash = h;
    e->channel_id = channel_id;
    e->last_seq = INT64_MIN;
    e->next = buckets[h % N_BUCKETS];
    buckets[h % N_BUCKETS] = e;
    n_entries++;
    return e;
}

static enum hd_throttle_result decide(struct tentry *e, struct hd_event *ev, int64_t now_us,
                                      int64_t window_us)
{
    if (ev->seq != 0 && ev->seq <= e->last_seq) {
        unsigned kept = e->n_passes < PASS_RING ? e->n_passes : PASS_RING;
        for (unsigned i = 0; i < kept; i++) {
            if (e->passes[i].seq == ev->seq) {
                ev->suppressed = e->passes[i].suppressed;
                return HD_THROTTLE_PASS;
            }
        }
        return HD_THROTTLE_RESEEN;
    }
    if (ev->seq != 0) {
        e->last_seq = ev->seq;
    }
    int pass;
    if (ev->state == HD_STATE_ACTIVE) {
        pass = !e->has_window || now_us - e->window_start_us >= window_us;
    } else {
        pass = e->n_passes == 0 || e->last_pass_state == HD_STATE_ACTIVE;
    }
    if (!pass) {
        e->suppressed++;
        return HD_THROTTLE_SUPPRESSED;
    }
    if (ev->state == HD_STATE_ACTIVE) {
        e->has_window = 1;
        e->window_start_us = now_us;
    }
    ev->suppressed = e->suppressed;
    e->passes[e->n_passes % PASS_RING] = (struct pass){.seq = ev->seq, .suppressed = e->suppressed};
    e->n_passes++;
    e->suppressed = 0;
    e->last_pass_state = ev->state;
    return HD_THROTTLE_PASS;
}

enum hd_throttle_result hd_throttle_check(int64_t channel_id, const struct hd_channel_common *c,
                                          struct hd_event *ev)
{
    struct hd_buf key;
    enum hd_throttle_result r = HD_THROTTLE_PASS;
    if (c == NULL || c->throttle_key == NULL || c->throttle_window_ms <= 0) {
        return HD_THROTTLE_PASS;
    }
    int64_t window_us = (int64_t)c->throttle_window_ms * 1000;
    int64_t now_us = ev->recv_us != 0 ? ev->recv_us : hd_now_us();
    hd_buf_init(&key, 0);
    if (key_value(ev, c->throttle_key, &key) != HD_OK) {
        goto out; /* out of memory: deliver rather than drop */
    }
    pthread_mutex_lock(&lock);
    struct tentry *e = entry_get(channel_id, key.p != NULL ? key.p : "", now_us, window_us);
    if (e != NULL) {
        r = decide(e, ev, now_us, window_us);
    }
    pthread_mutex_unlock(&lock);
out:
    hd_buf_free(&key);
    return r;
}

void hd_throttle_reset(void)
{
    pthread_mutex_lock(&lock);
    for (size_t b = 0; b < N_BUCKETS; b++) {
        while (buckets[b] != NULL) {
            struct tentry *e = buckets[b];
            buckets[b] = e->next;
            entry_free(e);
        }
    }
    n_entries = 0;
    pthread_mutex_unlock(&lock);
}

size_t hd_throttle_size(void)
{
    pthread_mutex_lock(&lock);
    size_t n = n_entries;
    pthread_mutex_unlock(&lock);
    return n;
}
