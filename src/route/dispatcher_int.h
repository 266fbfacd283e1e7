/* dispatcher_int.h - the dispatcher's internal state, shared by the files of
 * the dispatcher (dispatcher.c: loop, cursors, batching, submission;
 * window.c: the requests of new events in flight and the cursor rule;
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
#include "core/slab.h"
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
    int64_t new_cursor; /* new events: the cursor its answer records (window.c sets it), else -1 */
    int64_t launch_no;  /* the channel's launches counted at this one (c->launches) */
    int64_t *ack_ids;   /* set: an acknowledgement query for these ids */
    char *group_key;    /* set: the notification of this group (grouped.c) */
    size_t n_ack_ids;
    char host[128];
};

struct dack; /* a batch awaiting acknowledgement: acks.c */

/* A request of new events in the channel's window (window.c): it covers
 * the seqs (previous slot's hi, hi], the events it carries and those
 * filtered out or dead-lettered between them. */
struct dslot {
    struct dreq *r; /* in flight; NULL once answered */
    int64_t hi;
    int redo;        /* answered, but not recorded (store error, breaker hold): its events go out again */
    int64_t retries; /* PENDING rows its answer recorded above the cursor (counted twice otherwise) */
};

struct dchan {
    struct dchan *next;
    int64_t id;
    int64_t version;
    char *name; /* lock */
    int enabled;
    struct hd_channel *ch; /* NULL when the stored object does not load */
    int64_t cursor;        /* every event <= cursor has its outcome recorded (or needs none) */
    int64_t saved_cursor;  /* as persisted */
    int64_t saved_at_ms;
    int64_t sent;         /* >= cursor: every event <= sent is in the window or covered; == cursor
                           * when the window is empty */
    struct hd_event *buf; /* read-ahead: buf[buf_pos..buf_n) follow sent */
    size_t buf_n;
    size_t buf_pos;
    struct hd_slab slab;   /* the read-ahead's events live in it (hd_dchan_refill) */
    struct dreq *inflight; /* a request that goes alone: retries, ack query, group notification */
    struct dslot win[HD_CHANNEL_MAX_IN_FLIGHT]; /* requests of new events, in seq order (window.c) */
    size_t win_head;                            /* ring: win[(win_head + i) % MAX], i < win_n */
    size_t win_n;
    int64_t launches;      /* requests launched so far */
    int64_t fail_launches; /* launches when the last failed answer came: older ones do not close
                            * the breaker */
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
    struct hd_slab answer_mem;      /* loop only: an answer's per-item arrays (answer.c) */
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

void hd_dchan_slab_init(struct dchan *c); /* on creation: the read-ahead's slab */
/* Frees the read-ahead (its events, then their slab's round). */
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
 * acknowledgement query goes to hd_acks_on_answer. Returns 1 if recorded,
 * 0 if the events of r must go out again (nothing recorded: store error,
 * or a batch the breaker holds). */
int hd_dchan_answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r, const struct hd_response *resp);

/* ---- window.c ---------------------------------------------------------- */

/* 1 if a request of new events may go out now: the window has room under
 * the channel's max_in_flight (1 while the breaker counts failures) and no
 * backoff runs. */
int hd_dwin_room(const struct dchan *c, int64_t now);
/* Puts r, covering the seqs up to hi, at the end of the window; sent moves
 * to hi. */
void hd_dwin_push(struct dchan *c, struct dreq *r, int64_t hi);
/* Covers the seqs up to seq that need no request (filtered, dead-lettered):
 * with an empty window the cursor moves there, else the last slot grows. */
void hd_dwin_skip(struct dchan *c, int64_t seq);
/* 1 if r is in c's window. */
int hd_dwin_has(const struct dchan *c, const struct dreq *r);
/* 1 if r is the only request in the window. */
int hd_dwin_alone(const struct dchan *c, const struct dreq *r);
/* The cursor once r is answered: the hi of the last slot of the answered
 * run starting at the window's head, if r is at its head; else -1. */
int64_t hd_dwin_cursor_if_answered(const struct dchan *c, const struct dreq *r);
/* r was answered (recorded: 1, else its events go out again); the cursor
 * follows the answered head of the window. */
void hd_dwin_answered(struct dchan *c, const struct dreq *r, int recorded);
/* Makes every request of the window rendered by ch own it; 1 if any does. */
int hd_dwin_take_ch(struct dchan *c, const struct hd_channel *ch);
/* Arrival of the oldest event in the window, 0 if none. */
int64_t hd_dwin_oldest_recv_us(const struct dchan *c);
/* An empty window: sent back to the cursor, the read-ahead dropped. */
void hd_dwin_reset(struct dchan *c);
/* r's answer recorded n PENDING rows for events above the cursor. */
void hd_dwin_note_retries(struct dchan *c, const struct dreq *r, int64_t n);
/* The PENDING rows recorded by answered slots above the cursor: their
 * events are both after the cursor and in c->pending. */
int64_t hd_dwin_retries(const struct dchan *c);

#endif
