/* dispatcher_int.h - the dispatcher's internal state, shared by the files of
 * the dispatcher (dispatcher.c: loop, cursors, batching, submission;
 * answer.c: what an answer records; acks.c: HEC indexer acknowledgements;
 * channels.c: the runtime channels, their status and metrics). Private to route/: nothing outside
 * the dispatcher includes it (the interface is route/dispatcher.h).
 *
 * Everything here is the loop thread's, except what is marked "lock"
 * (d->lock, read by API threads) and the atomics in struct hd_dispatcher.
 */
#ifndef HD_DISPATCHER_INT_H
#define HD_DISPATCHER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "channel/channel.h"
#include "net/http_client.h"
#include "route/breaker.h"
#include "route/dispatcher.h"
#include "route/groups.h"
#include "route/silences.h"
#include "store/store.h"

#define NEVER INT64_MAX

struct ditem { /* one event of a request in flight */
    int64_t seq;
    char id[33];
    int64_t recv_us;
    int attempts;     /* of its PENDING row; 0 for a new event */
    int64_t first_ms; /* of its PENDING row */
};

struct dreq {          /* a request in flight */
    struct dreq *next; /* d->reqs */
    int64_t channel_id;
    struct hd_channel *ch; /* rendered it; classify uses it */
    int owns_ch;           /* set when the dchan dropped ch meanwhile */
    struct ditem *items;
    size_t n;
    int is_retry;
    int64_t new_cursor; /* new events: the cursor once answered */
    int64_t *ack_ids;   /* set: an acknowledgement query for these ids */
    char *group_key;    /* set: the notification of this group (grouped.c) */
    size_t n_ack_ids;
    char host[128];
};

struct dack; /* a batch awaiting acknowledgement: acks.c */

struct dchan {
    struct dchan *next;
    int64_t id;
    int64_t version;
    char *name; /* lock */
    int enabled;
    struct hd_channel *ch; /* NULL when the stored object does not load */
    int64_t cursor;        /* next events: seq > cursor */
    int64_t saved_cursor;  /* as persisted */
    int64_t saved_at_ms;
    struct hd_event *buf; /* read-ahead: buf[buf_pos..buf_n) follow cursor */
    size_t buf_n;
    size_t buf_pos;
    struct dreq *inflight;
    struct hd_breaker brk;
    int64_t next_attempt_ms; /* the channel sends nothing before (wall ms) */
    int64_t retry_check_ms;  /* next look for due retries, NEVER if none pending */
    int64_t pending;         /* PENDING rows, refreshed every few seconds */
    int64_t dead;            /* FAILED rows, refreshed with pending (0 without channel_lag) */
    int64_t oldest_recv_us;  /* oldest undelivered arrival, refreshed with pending; 0 if none */
    int64_t pending_at_ms;
    int64_t delivered;
    int64_t failed;
    int64_t last_success_ms;
    int64_t last_failure_ms; /* set with last_error */
    char last_error[256];
    struct dack *acks; /* awaiting confirmation, oldest first */
    struct dack **acks_tail;
    size_t n_acks;
    int64_t ack_poll_ms;          /* next acknowledgement query */
    int seen;                     /* reload mark */
    struct hd_channel_status pub; /* lock */
    struct hd_groups *groups;     /* options.group: its groups (grouped.c), else NULL */
    int groups_stale;             /* groups could not be loaded: grouped.c loads them first */
    int lingering;                /* its batch waits for more events (batch.maxDelayMs) this turn */
};

struct hd_dispatcher {
    struct hd_store *st;
    struct hd_dispatch_config cfg;
    struct hd_http_client *http;
    struct dchan *chans; /* list structure: lock */
    struct dreq *reqs;   /* every request in flight, loop only */
    uint64_t rng;
    pthread_t th;
    int started;
    atomic_int reload_req;
    atomic_int stopping;
    _Atomic int64_t stop_deadline_ms; /* monotonic */
    pthread_mutex_t lock;
    int64_t total_backlog;          /* lock */
    int64_t backlog_max_seq;        /* lock: the max_seq total_backlog was counted at */
    int64_t backlog_channels;       /* lock: enabled channels then (each counts a new event) */
    _Atomic int64_t wake_seq;       /* a commit reaching this seq wakes the loop (hd_dispatcher_committed) */
    struct hd_silence_set silences; /* loop only; reloaded with the channels */
};

/* ---- dispatcher.c ------------------------------------------------------ */

/* Persists the cursor and rows in one store transaction; on success the
 * in-memory cursor follows. new_cursor < 0 leaves the cursor. The rows are
 * borrowed for the call. */
int hd_dchan_progress(struct hd_dispatcher *d, struct dchan *c, int64_t new_cursor,
                      const struct hd_delivery *ups, size_t n);

/* Puts r in flight with req (both taken over); the answer comes back through
 * hd_dchan_answer. A request that cannot be sent is answered at once as a
 * transport error. */
void hd_dchan_launch(struct hd_dispatcher *d, struct dchan *c, struct hd_request *req, struct dreq *r);

/* Moves the in-memory cursor to seq (never back) and forgets buffered events
 * up to it. */
void hd_dchan_cursor_move(struct dchan *c, int64_t seq);

/* Frees the read-ahead. */
void hd_dchan_buf_drop(struct dchan *c);

void hd_dchan_set_error(struct dchan *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* *u = the row of item it of channel c with status, updated now; the other
 * fields zero. */
void hd_dchan_row(const struct dchan *c, const struct ditem *it, enum hd_delivery_status status, int64_t now,
                  struct hd_delivery *u);

/* Reads the next events after the cursor into the read-ahead; 1 if there
 * are some to look at. */
int hd_dchan_refill(struct hd_dispatcher *d, struct dchan *c, size_t lim, int64_t max_seq);
/* Puts a rendered request in flight for what->items (taken over). */
void hd_dchan_submit(struct hd_dispatcher *d, struct dchan *c, struct hd_request *req,
                     const struct dreq *what);
/* The items of a request for evs[0..m) (rows: their PENDING rows, or NULL). */
struct ditem *hd_ditems_of(const struct hd_event *const *evs, const struct hd_delivery *rows, size_t m);

/* ---- grouped.c --------------------------------------------------------- */

/* A grouped channel's turn: new events into its groups (saved with the
 * cursor), then the notification of a due group. */
void hd_dchan_group_work(struct hd_dispatcher *d, struct dchan *c, int64_t now, int64_t max_seq,
                         int64_t *next_ms);
/* The answer to a group notification. */
void hd_dchan_group_answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r,
                           const struct hd_response *resp);

/* ---- channels.c -------------------------------------------------------- */

/* Loads the stored channels: new and changed ones (re)built, deleted ones
 * freed. Returns HD_OK, or an error after which it should run again (what
 * could be loaded is). */
int hd_dchans_reload(struct hd_dispatcher *d);

/* Publishes every channel's status and the total backlog (under d->lock). */
void hd_dchans_publish(struct hd_dispatcher *d, int64_t max_seq, int64_t now);

/* The loaded channel with this id, or NULL. */
struct dchan *hd_dchan_find(struct hd_dispatcher *d, int64_t id);

/* Frees c, unlinked (NULL: no-op); a request in flight takes its channel over. */
void hd_dchan_free(struct dchan *c);

/* Adds n to herald_deliveries_total{channel,outcome}; n <= 0 adds nothing. */
void hd_dchan_count(const struct dchan *c, const char *outcome, int64_t n);

/* The labels of herald_delivery_latency_seconds for c: channel="<name>". */
void hd_dchan_latency_labels(const struct dchan *c, char *out, size_t outsz);

/* ---- answer.c ---------------------------------------------------------- */

/* Records the answer resp to r, in flight for c until now (r stays the
 * caller's): the items' rows and cursor, the counters and the breaker; an
 * acknowledgement query goes to hd_acks_on_answer. */
void hd_dchan_answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r,
                     const struct hd_response *resp);

#endif
