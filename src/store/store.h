/* store.h - the store interface (SPEC sections 9 and 11).
 *
 * DESIGN: the event log is append-only, keyed by seq (dense, increasing).
 * Each channel keeps a cursor (last seq handed to it) and the store records
 * only the exceptions: deliveries waiting for a retry (status PENDING) and dead
 * letters (status FAILED). hd_store_append returns only once the events are
 * on stable storage; concurrent callers share one commit and one sync.
 *
 * Every function is thread-safe. Backends implement struct hd_store_ops;
 * hd_store_open picks one by URL ("sqlite" / "" / "sqlite:PATH" for the
 * embedded store in data_dir, "postgres://..." for the shared one).
 *
 * Ownership: functions that return records allocate them; the caller frees
 * them with the matching *_free function.
 */
#ifndef HD_STORE_H
#define HD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/event.h"

struct hd_store;

/* A notification channel as stored. json is the whole object as the API
 * shows it minus id/version/createdOn/modifiedOn (those live in columns),
 * secrets in clear. */
struct hd_channel_rec {
    int64_t id;
    int64_t version;
    int64_t created_ms;
    int64_t modified_ms;
    char *name;
    char *type;
    int enabled;
    char *managed_by; /* "config" or NULL */
    char *json;       /* {"type":..,"name":..,"enabled":..,"options":{..},...} */
};
void hd_channel_rec_clear(struct hd_channel_rec *r);
void hd_channel_recs_free(struct hd_channel_rec *r, size_t n);

enum hd_delivery_status {
    HD_DELIVERY_PENDING = 0,  /* waiting for a retry */
    HD_DELIVERY_FAILED = 1,   /* dead letter */
    HD_DELIVERY_DELIVERED = 2 /* only as an update: removes the exception row */
};

struct hd_delivery {
    int64_t id; /* row id (0 for a new one) */
    int64_t channel_id;
    int64_t event_seq;
    char event_id[33];
    enum hd_delivery_status status;
    int attempts;
    int64_t first_ms; /* first failure */
    int64_t next_ms;  /* next attempt (PENDING) */
    int64_t updated_ms;
    int last_status;  /* HTTP status of the last answer, 0 if none */
    char *last_error; /* sink's answer / reason, may be NULL */
};
void hd_deliveries_free(struct hd_delivery *d, size_t n);

/* The order of events_query. */
enum hd_event_sort {
    HD_SORT_ARRIVAL = 0, /* newest stored first (seq descending): pages with before_seq */
    HD_SORT_SEVERITY     /* most severe first, then newest (by the query's time basis); one page */
};

struct hd_event_query {
    int64_t from_us, to_us; /* 0 = unbounded; on ts_us, or on recv_us with by_received */
    int by_received;        /* 1: from/to (and stats buckets) on arrival time, not event time */
    int severity;           /* -1 = any; else events with severity <= this */
    int severity_min;       /* <= 0 = any; else events with severity >= this (exactly N: both = N) */
    const char *state;      /* NULL = any */
    const char *source;     /* NULL = any */
    const char *ns;         /* k8s namespace, NULL = any */
    const char *rule;       /* labels.rule, else name, equal to this; NULL = any */
    const char *q;          /* substring of name/description, NULL = any */
    int64_t before_seq;     /* cursor: only seq < this; 0 = newest (HD_SORT_ARRIVAL only) */
    enum hd_event_sort sort;
    size_t limit;
    size_t max_bytes; /* 0: none; else the page ends once its events hold this many bytes
                       * (hd_event_bytes; at least one event; by arrival, next_cursor goes on) */
};

/* One channel's undelivered events (channel_lag). */
struct hd_channel_lag {
    int64_t pending;        /* PENDING rows */
    int64_t failed;         /* FAILED rows: dead letters */
    int64_t oldest_recv_us; /* arrival of the oldest event not delivered yet (the first
                             * after the cursor, or a PENDING row's), 0 if none */
};

/* GET /api/stats: what events are counted by. */
enum hd_stats_group {
    HD_STATS_SEVERITY = 0,
    HD_STATS_STATE,
    HD_STATS_NAMESPACE,
    HD_STATS_SOURCE,
    HD_STATS_RULE /* labels.rule, else name */
};

/* One aggregate row. key is "" for events without a value (no namespace). */
struct hd_stats_row {
    int64_t bucket_ms; /* start of the time bucket (epoch ms); 0 without an interval */
    int64_t count;
    char key[256]; /* severity as decimal text, state as its name */
};

/* The channel an update is for, and the version the caller read
 * (version < 0: whatever is stored; config-managed channels are rewritten at
 * start without a version). */
struct hd_channel_ref {
    int64_t id;
    int64_t version;
};

/* A silence (SPEC 4, /api/silences): events arriving while it is active
 * (starts_ms <= arrival < ends_ms) that its matchers all match are stored
 * and shown but not delivered to channels with respectSilences. matchers is
 * a JSON array of matcher strings ("k8s.namespace=~prod-.*"). Expiring sets
 * ends_ms to now. */
struct hd_silence {
    int64_t id;
    char *matchers;
    int64_t starts_ms, ends_ms;
    int64_t created_ms, updated_ms;
    char *created_by; /* may be NULL */
    char *comment;    /* may be NULL */
};
void hd_silence_clear(struct hd_silence *s);
void hd_silences_free(struct hd_silence *s, size_t n);

/* A notification group of a channel (options.group, route/groups.c): its
 * key (the group-by values as JSON text) and its state (JSON text: alerts,
 * timers). In groups_save, state NULL deletes the group. */
struct hd_group_rec {
    char *key;
    char *state;
};
void hd_group_recs_free(struct hd_group_rec *g, size_t n);

/* Which events events_after reads: a bound on their count and on their bytes
 * (the dispatcher's read-ahead and a migration stay bounded in memory
 * whatever the size of the events). */
struct hd_range {
    int64_t after_seq;
    size_t limit;     /* 0: the store's default */
    size_t max_bytes; /* 0: no bound */
    /* events_after: the events' memory may come from it (block_borrowed),
     * which the caller then resets only after freeing them; NULL: malloc */
    struct hd_slab *slab;
};

/* Which exception rows due_retries and deliveries_list read. */
struct hd_delivery_query {
    int64_t channel_id; /* 0 = all (deliveries_list) */
    int status;         /* deliveries_list: -1 = any exception, else one hd_delivery_status */
    int64_t now_ms;     /* due_retries: rows with next_ms <= now_ms */
    size_t limit;       /* 0 = the store's default; capped by the store */
};

/* GET /api/stats: what to count (see stats). */
struct hd_stats_query {
    const struct hd_event_query *filter; /* NULL = every event */
    enum hd_stats_group group;
    int64_t interval_ms; /* > 0: also by time bucket */
    size_t max_rows;
};

/* Completion of an asynchronous write (see append_async). */
typedef void (*hd_store_done_fn)(void *ud, int rc, const struct hd_err *err);

/* append_stream_async: the store's side, handed to the producer. Stores
 * evs[0..n) within the stream's transaction (seq and duplicate set as by
 * append); the producer may free them once it returns. */
typedef int (*hd_store_consume_fn)(void *cud, struct hd_event *evs, size_t n, struct hd_err *err);
/* append_stream_async: the caller's side, run on the store's writer inside
 * one transaction. Hands every event of the append to consume, in parts,
 * and returns HD_OK to commit them all, or an error (err set) to store none
 * of them. May run more than once for one append (the store retries a lost
 * connection): each run starts over. */
typedef int (*hd_store_produce_fn)(void *ud, hd_store_consume_fn consume, void *cud, struct hd_err *err);

/* Something changed that this process may not have done itself (see
 * on_change): what is one of these. */
enum hd_store_change {
    HD_STORE_CHANGED_CHANNELS = 1, /* channels, queued retries, leases or the election */
    HD_STORE_CHANGED_EVENTS = 2    /* events were committed (by any replica) */
};
typedef void (*hd_store_change_fn)(void *ud, enum hd_store_change what);

struct hd_store_ops {
    const char *name;
    void (*close)(struct hd_store *st);

    int (*channel_list)(struct hd_store *st, struct hd_channel_rec **out, size_t *n, struct hd_err *err);
    int (*channel_get)(struct hd_store *st, int64_t id, struct hd_channel_rec *out, struct hd_err *err);
    int (*channel_get_by_name)(struct hd_store *st, const char *name, struct hd_channel_rec *out,
                               struct hd_err *err);
    /* in: name, type, enabled, managed_by, json. Sets id, version=1, times. ECONFLICT on duplicate name. */
    int (*channel_create)(struct hd_store *st, const struct hd_channel_rec *in, int64_t now_ms,
                          struct hd_channel_rec *out, struct hd_err *err);
    /* ECONFLICT if ref.version (when >= 0) != stored version or name taken; ENOTFOUND. version+1. */
    int (*channel_update)(struct hd_store *st, struct hd_channel_ref ref, const struct hd_channel_rec *in,
                          int64_t now_ms, struct hd_channel_rec *out, struct hd_err *err);
    /* Deletes the channel; its undelivered events (seq > cursor, and PENDING rows)
     * become dead letters with last_error "channel deleted". */
    int (*channel_delete)(struct hd_store *st, int64_t id, struct hd_err *err);

    /* Durable append (group commit). Sets seq on each event; an id already
     * stored gets the stored seq and duplicate=1 (and is not stored again). */
    int (*append)(struct hd_store *st, struct hd_event *evs, size_t n, struct hd_err *err);
    /* The same append without waiting: queues it and returns HD_OK, or fails
     * at once (HD_EINVAL, HD_ESHUTDOWN, HD_ENOMEM; done is then never called).
     * done(ud, rc, err) runs exactly once, on a store thread, after the
     * commit holding the events synced (rc HD_OK: seq and duplicate are set)
     * or failed (err says why). evs must stay valid until then; done must be
     * short and must not call the store. May be NULL (backend without it).
     * A raw the store copied before returning (SQLite: a large append's
     * blobs) is no longer borrowed: raw NULL, raw_borrowed 0. Once no event
     * borrows, the caller may free what they pointed into (the request body:
     * api/events.c), before the commit. */
    int (*append_async)(struct hd_store *st, struct hd_event *evs, size_t n, hd_store_done_fn done, void *ud,
                        struct hd_err *err);
    /* An append too large to hold decoded at once (api/events.c: a request of
     * many events): queues produce, which the writer runs in a transaction of
     * its own - the events are decoded, stored and freed part by part - and
     * returns as append_async does. done(ud, rc, err) runs once after the
     * commit; rc is produce's error when it failed (nothing stored), else the
     * store's. May be NULL: the caller then decodes everything and appends. */
    int (*append_stream_async)(struct hd_store *st, hd_store_produce_fn produce, void *pud,
                               hd_store_done_fn done, void *ud, struct hd_err *err);
    /* Events with seq > r->after_seq in seq order, at most r->limit, and
     * with r->max_bytes > 0 no more once those read hold that many bytes
     * (hd_event_bytes; at least one event). */
    int (*events_after)(struct hd_store *st, const struct hd_range *r, struct hd_event **out, size_t *n,
                        struct hd_err *err);
    int (*event_get)(struct hd_store *st, const char *id, struct hd_event *out, struct hd_err *err);
    int (*event_get_seq)(struct hd_store *st, int64_t seq, struct hd_event *out, struct hd_err *err);
    /* Newest first (q->sort HD_SORT_ARRIVAL). *next_cursor = seq to pass as before_seq for the
     * next page, 0 if none (always 0 with HD_SORT_SEVERITY: its one page is the top q->limit). */
    int (*events_query)(struct hd_store *st, const struct hd_event_query *q, struct hd_event **out, size_t *n,
                        int64_t *next_cursor, struct hd_err *err);
    int64_t (*max_seq)(struct hd_store *st);
    /* Counts of the events matching q->filter (before_seq and limit ignored)
     * grouped by q->group and, if q->interval_ms > 0, by time bucket (ts, or the
     * arrival time with filter->by_received, floored to a multiple of interval_ms). Rows ordered by bucket,
     * then count descending; at most q->max_rows (*truncated = 1 when there were more). Aggregated inside the
     * store over its indexes. Caller frees *out with free(). */
    int (*stats)(struct hd_store *st, const struct hd_stats_query *q, struct hd_stats_row **out, size_t *n,
                 int *truncated, struct hd_err *err);

    /* Channel cursor: 0 if never set. A new channel starts at the current max_seq
     * (it receives events ingested after its creation). */
    int (*cursor_get)(struct hd_store *st, int64_t channel_id, int64_t *cursor, struct hd_err *err);
    /* One transaction: cursor = new_cursor (if >= 0) and the exception rows
     * upserted by (channel_id, event_seq): DELIVERED deletes the row. */
    int (*progress)(struct hd_store *st, int64_t channel_id, int64_t new_cursor,
                    const struct hd_delivery *ups, size_t n, struct hd_err *err);
    /* PENDING rows of q->channel_id with next_ms <= q->now_ms, oldest seq first
     * (q->status ignored). */
    int (*due_retries)(struct hd_store *st, const struct hd_delivery_query *q, struct hd_delivery **out,
                       size_t *n, struct hd_err *err);
    /* q->channel_id 0 = all; q->status -1 = any exception (pending+failed)
     * (q->now_ms ignored). Newest first. */
    int (*deliveries_list)(struct hd_store *st, const struct hd_delivery_query *q, struct hd_delivery **out,
                           size_t *n, struct hd_err *err);
    /* Rows of one event (all channels). */
    int (*deliveries_of_event)(struct hd_store *st, int64_t event_seq, struct hd_delivery **out, size_t *n,
                               struct hd_err *err);
    /* FAILED -> PENDING, attempts 0, next_ms now. ENOTFOUND if no such failed row. */
    int (*delivery_retry)(struct hd_store *st, int64_t delivery_id, struct hd_err *err);
    int (*delivery_retry_channel)(struct hd_store *st, int64_t channel_id, size_t *count, struct hd_err *err);
    /* Queues stored events with from_us <= ts_us <= to_us as PENDING rows for the channel. */
    int (*replay)(struct hd_store *st, int64_t channel_id, int64_t from_us, int64_t to_us, size_t *count,
                  struct hd_err *err);
    /* Number of PENDING rows of a channel. */
    int (*pending_count)(struct hd_store *st, int64_t channel_id, int64_t *count, struct hd_err *err);
    /* What /metrics says of one channel's undelivered events (SPEC 4), in one
     * cheap read over the indexes: see struct hd_channel_lag. cursor is the
     * caller's (the dispatcher's in-memory one). May be NULL (the dispatcher
     * then counts PENDING rows with pending_count and reports no age). */
    int (*channel_lag)(struct hd_store *st, int64_t channel_id, int64_t cursor, struct hd_channel_lag *out,
                       struct hd_err *err);
    /* Number of FAILED rows (dead letters) of a channel. May be NULL. */
    int (*dead_count)(struct hd_store *st, int64_t channel_id, int64_t *count, struct hd_err *err);

    /* Deletes events older than max_age_ms (by arrival; 0 = no age limit) and the
     * oldest while the log is over max_bytes (0 = no limit), never one with
     * seq > min cursor of any channel or referenced by a PENDING row. */
    int (*prune)(struct hd_store *st, int64_t max_age_ms, int64_t max_bytes, size_t *deleted,
                 struct hd_err *err);

    /* Small key/value state of the inputs (the Kubernetes resourceVersion,
     * the Docker resume point). state_get: *value malloc'd (caller frees),
     * HD_ENOTFOUND if absent. state_set: durable on return. */
    int (*state_get)(struct hd_store *st, const char *key, char **value, struct hd_err *err);
    int (*state_set)(struct hd_store *st, const char *key, const char *value, struct hd_err *err);

    /* Whether the store accepts writes (readiness, SPEC 4): HD_OK, or HD_EIO
     * with why while the last write failed for want of room or an I/O error
     * and none succeeded since. Cheap and never waits for a write; while
     * failing it starts, now and then, a probe write of its own so that the
     * store recovers without traffic. May be NULL (always writable). */
    int (*writable)(struct hd_store *st, struct hd_err *why);

    /* Notification groups (options.group). groups_save: in one transaction,
     * the groups upserted or deleted and the cursor (if new_cursor >= 0) set,
     * so events taken into groups are neither lost nor taken twice across a
     * restart. groups_list: the channel's groups. A deleted channel loses
     * its groups. */
    int (*groups_save)(struct hd_store *st, int64_t channel_id, int64_t new_cursor,
                       const struct hd_group_rec *g, size_t n, struct hd_err *err);
    int (*groups_list)(struct hd_store *st, int64_t channel_id, struct hd_group_rec **out, size_t *n,
                       struct hd_err *err);

    /* Silences. silence_put: in->id 0 creates (id and times set in out),
     * else replaces that silence's fields (ENOTFOUND if none); durable on
     * return. silence_list: every silence, expired ones included, newest
     * first (a few hundred at most: they are typed by people). */
    int (*silence_put)(struct hd_store *st, const struct hd_silence *in, int64_t now_ms,
                       struct hd_silence *out, struct hd_err *err);
    int (*silence_get)(struct hd_store *st, int64_t id, struct hd_silence *out, struct hd_err *err);
    int (*silence_list)(struct hd_store *st, struct hd_silence **out, size_t *n, struct hd_err *err);

    /* Shared stores (several replicas on one database, SPEC 9). A backend
     * for one process leaves these NULL: every channel and the singleton
     * inputs are then this process's.
     *
     * owns_channel: 1 while this replica holds the channel's delivery lease
     * (only the holder reads its cursor, delivers and writes progress), else
     * 0. Cheap (no round trip): answered from the lease set the backend
     * keeps renewed. owns_inputs: 1 while this replica is the elected one
     * that runs the Kubernetes and Docker watchers.
     * on_change: fn(ud, HD_STORE_CHANGED_CHANNELS) runs on a store thread,
     * after the fact, whenever channels were created, changed or deleted
     * (through any replica), retries were queued elsewhere, or a lease or
     * the election moved to or from this replica; fn(ud,
     * HD_STORE_CHANGED_EVENTS) when another replica committed events (one
     * notification per group commit), so that a channel's owner delivers
     * them without waiting for its next poll. Set before serving; fn must
     * be short. on_change(st, NULL, NULL) stops the calls: it returns once
     * none is running (then fn's ud may be freed). */
    int (*owns_channel)(struct hd_store *st, int64_t channel_id);
    int (*owns_inputs)(struct hd_store *st);
    void (*on_change)(struct hd_store *st, hd_store_change_fn fn, void *ud);
    /* Replica identity, for logs, metrics and the status API ("" if none). */
    const char *(*replica)(struct hd_store *st);

    /* `herald store migrate` (SPEC 2): writing another store's records as
     * they are. NULL in a backend that cannot be a migration target.
     * is_empty: *empty = 1 without channels and events. import_channel:
     * id, version, times and json kept; a channel with that id already
     * there is left as it is (a migration run twice changes nothing).
     * import_events: seq, id and every field kept (raw included); events
     * already there (by seq) are skipped; the target's seq counter ends past
     * the highest seq. import_cursor: sets the channel's cursor.
     * import_delivery: an exception row by (channel_id, event_seq), kept as
     * is; an existing one is left. */
    int (*is_empty)(struct hd_store *st, int *empty, struct hd_err *err);
    int (*import_channel)(struct hd_store *st, const struct hd_channel_rec *rec, struct hd_err *err);
    int (*import_events)(struct hd_store *st, const struct hd_event *evs, size_t n, struct hd_err *err);
    int (*import_cursor)(struct hd_store *st, int64_t channel_id, int64_t cursor, struct hd_err *err);
    int (*import_delivery)(struct hd_store *st, const struct hd_delivery *d, struct hd_err *err);
};

struct hd_store {
    const struct hd_store_ops *ops;
};

/* NULL-safe wrappers of the cluster ops above (single node: 1, 1, no-op);
 * inline: the watch layer's fuzz target links no store. */
static inline int hd_store_owns_channel(struct hd_store *st, int64_t channel_id)
{
    return st == NULL || st->ops->owns_channel == NULL || st->ops->owns_channel(st, channel_id);
}

static inline int hd_store_owns_inputs(struct hd_store *st)
{
    return st == NULL || st->ops->owns_inputs == NULL || st->ops->owns_inputs(st);
}

static inline void hd_store_on_change(struct hd_store *st, hd_store_change_fn fn, void *ud)
{
    if (st != NULL && st->ops->on_change != NULL) {
        st->ops->on_change(st, fn, ud);
    }
}

/* "%q%" for a LIKE ... ESCAPE '\\' on the text q (its %, _ and \\ escaped):
 * the events query's substring search in every backend. malloc'd; NULL. */
char *hd_store_like_pattern(const char *q);

/* Opens the store named by url ("sqlite", "" or NULL: data_dir/herald.db). */
struct hd_store *hd_store_open(const char *url, const char *data_dir, struct hd_err *err);
void hd_store_close(struct hd_store *st); /* NULL-safe */

/* Backends. */
struct hd_store *hd_sqlite_store_open(const char *path, struct hd_err *err);
/* url: "postgres://..." or "postgresql://..." (libpq's URI syntax). */
struct hd_store *hd_pg_store_open(const char *url, struct hd_err *err);

#endif
