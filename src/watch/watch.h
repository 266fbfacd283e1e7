/* watch.h - the Kubernetes and Docker watchers (SPEC sections 3, 5, 9).
 *
 * DESIGN: a watcher is one thread that pulls events from a platform API over
 * a long-lived HTTP stream (hd_http_stream of the net layer: blocking, the
 * body handed over chunk by chunk; never the dispatcher's multi handle) and
 * feeds every received
 * object's original bytes through the registered decoder ("kubernetes",
 * "docker"), appends the events durably to the store and then tells the
 * host (host->stored: the dispatcher's wakeup). Where to resume (the k8s
 * resourceVersion, the Docker last event time) is kept in the store's
 * key/value state, written after the events it covers are durable, at most
 * about once a second and at stop. Re-delivery is prevented by stable event
 * ids: the store keeps one event per id, so a re-list or a replay re-appends
 * only duplicates, which never reach a channel.
 *
 * The input layer sees the store only through its ops table (store.h is a
 * header of types; no link dependency), and the dispatcher only through the
 * host callback.
 *
 * Stopping: hd_watcher_stop sets a flag that the stream's stop callback
 * (polled at least once a second, even on an idle stream) and the backoff
 * sleeps check, then joins the thread. So a stop takes at most ~1 s.
 *
 * PostgreSQL (SPEC section 9): the Kubernetes watch is a singleton input;
 * with a shared store it must run on the one replica holding an advisory
 * lock. That election belongs to the PostgreSQL store and is not done here:
 * with SQLite there is one process, hence one watcher.
 */
#ifndef HD_WATCH_H
#define HD_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include <pthread.h>
#include <stdatomic.h>

#include "core/err.h"
#include "json/json.h"
#include "net/http_client.h"

struct hd_store;
struct hd_decoder;

/* What a watcher hands its events to. store must implement append,
 * state_get and state_set. stored (may be NULL) is called from the watcher
 * thread after new events were made durable. */
struct hd_watch_host {
    struct hd_store *store;
    void (*stored)(void *ctx);
    void *ctx;
};

struct hd_k8s_watch_config {
    const char *api_server;     /* "https://host:6443"; NULL = in-cluster (KUBERNETES_SERVICE_HOST/PORT) */
    const char *token_file;     /* NULL = in-cluster service-account token (if api_server is NULL) */
    const char *ca_file;        /* NULL = in-cluster CA (if api_server is NULL), else the system store */
    const char *ns;             /* NULL/"" = all namespaces */
    const char *field_selector; /* NULL/"" = none; e.g. "type=Warning" */
    int64_t backoff_initial_ms; /* 0 = 500 */
    int64_t backoff_max_ms;     /* 0 = 30 s */
    int watch_timeout_s;        /* 0 = 300: the server ends each watch after this (token re-read) */
    int64_t max_event_age_ms;   /* first start (no resume point): listed Events older than this are
                                 * skipped; 0 = none (every listed Event is stored) */
};

struct hd_docker_watch_config {
    const char *socket; /* unix socket path; used when url is NULL/"" */
    const char *url;    /* "tcp://host:2376" or "http(s)://host:port"; TLS when https or cert given */
    const char *ca_file, *cert_file, *key_file;
    const char *filters;        /* "type=container,event=die" -> {"type":["container"],"event":["die"]} */
    int64_t backoff_initial_ms; /* 0 = 500 */
    int64_t backoff_max_ms;     /* 0 = 30 s */
};

struct hd_watcher;

/* Start the watcher thread. Fails (NULL, err set) only on a bad
 * configuration or a missing decoder; an unreachable API is retried with
 * backoff from the thread. */
struct hd_watcher *hd_k8s_watch_start(const struct hd_k8s_watch_config *cfg, const struct hd_watch_host *host,
                                      struct hd_err *err);
struct hd_watcher *hd_docker_watch_start(const struct hd_docker_watch_config *cfg,
                                         const struct hd_watch_host *host, struct hd_err *err);
/* Stops, persists the resume state, joins the thread and frees. NULL-safe. */
void hd_watcher_stop(struct hd_watcher *w);

/* ---- shared by the watchers (watch.c) ---- */

/* Splits a byte stream into top-level JSON values (objects or arrays),
 * whatever the whitespace between them (newline-delimited, pretty-printed,
 * RFC 7464 record separators). A value over max bytes is an error. */
struct hd_jframer {
    char *buf;
    size_t len, cap, max;
    size_t scan;  /* bytes of buf already scanned */
    size_t start; /* start of the current value, if depth > 0 */
    int depth;
    int in_str, esc;
};
typedef int (*hd_jframe_fn)(void *ctx, const char *p, size_t n);
void hd_jframer_init(struct hd_jframer *f, size_t max);
void hd_jframer_reset(struct hd_jframer *f); /* drops a partial value (after a cut stream) */
void hd_jframer_free(struct hd_jframer *f);
/* Feeds bytes; calls fn for each complete value. Returns the first non-OK
 * result of fn, HD_ETOOBIG for an oversized value, HD_EINVAL for a stray
 * byte outside a value. */
int hd_jframer_feed(struct hd_jframer *f, const char *p, size_t n, hd_jframe_fn fn, void *ctx);
/* Bytes held of an unfinished value (0 = nothing pending). */
size_t hd_jframer_pending(const struct hd_jframer *f);

/* The exact bytes of the value of top-level member key in the JSON object
 * text p[0..n) (assumed valid JSON). 1 if found, 0 if not. */
int hd_json_member_span(const char *p, size_t n, const char *key, const char **vp, size_t *vn);
/* Calls fn for the exact bytes of each element of the JSON array text
 * p[0..n). Returns fn's first non-OK result, HD_EINVAL if p is no array. */
int hd_json_array_each(const char *p, size_t n, hd_jframe_fn fn, void *ctx);

/* A kind of watcher: one static const table per kind (as a channel type). */
struct hd_watcher_type {
    const char *name;                      /* "kubernetes", "docker": log prefix input=<name> */
    const char *decoder;                   /* the registered decoder its objects go through */
    const char *state_key;                 /* the store's key/value key of its resume point */
    const char *dropped_metric;            /* counter of objects received but not stored as new */
    size_t impl_size;                      /* hd_watcher_new allocates w->impl zeroed, stop frees it */
    void (*run)(struct hd_watcher *w);     /* the thread body; returns when w->stop */
    void (*destroy)(struct hd_watcher *w); /* frees what impl holds (after the join); impl may be half set */
};

#define HD_WATCH_RESUME_MAX 128

/* The watcher common part. Fields after `host` belong to the thread. */
struct hd_watcher {
    const struct hd_watcher_type *type; /* static */
    const char *name;                   /* type->name */
    struct hd_watch_host host;
    const struct hd_decoder *dec;
    pthread_mutex_t mu; /* guards the cv wait */
    pthread_cond_t cv;
    atomic_int stop;
    pthread_t thread;
    int started;
    void *impl; /* type->impl_size bytes */
    int64_t backoff_initial_ms, backoff_max_ms;
    int64_t backoff_ms;              /* the current backoff; 0 = start over */
    char saved[HD_WATCH_RESUME_MAX]; /* the resume point last saved */
    int64_t saved_at_ms;
};

/* Allocates a watcher of kind type with its zeroed impl (HD_ENOTFOUND if
 * its decoder is missing). Backoff: 0 = 500 ms initial, 30 s max. */
struct hd_watcher *hd_watcher_new(const struct hd_watcher_type *type, const struct hd_watch_host *host,
                                  int64_t backoff_initial_ms, int64_t backoff_max_ms, struct hd_err *err);
int hd_watcher_spawn(struct hd_watcher *w, struct hd_err *err);
/* 1 once a stop was requested, or while this replica is not the elected one
 * (shared store, SPEC 9): run() then returns and the watcher stands by. */
int hd_watcher_stopping(struct hd_watcher *w);
/* Sleeps up to ms; 1 if the watcher is stopping (hd_watcher_stopping). */
int hd_watcher_sleep(struct hd_watcher *w, int64_t ms);
/* Sleeps the next backoff delay (hd_watch_backoff over w->backoff_ms; when
 * the failed attempt got data first, the backoff starts over); 1 if a stop
 * was requested. */
int hd_watcher_backoff(struct hd_watcher *w, int got_data);

/* The saved resume point, into out[0..cap): 1 if there is one, 0 if not
 * (a store error is logged). It also becomes w->saved. */
int hd_watcher_load_resume(struct hd_watcher *w, char *out, size_t cap);
/* Saves value as the resume point, unless it is empty or the one saved
 * last, or (unless force) the last save is less than a second old. Call it
 * only once the events it covers are durable. A failure is logged. */
void hd_watcher_save_resume(struct hd_watcher *w, const char *value, int force);

/* One GET of w through the net layer (hd_http_stream): a stop request
 * aborts it within a second (HD_ESHUTDOWN); o->ctx is set to w, for
 * o->on_data. res is initialised; the caller clears it. */
int hd_watcher_get(struct hd_watcher *w, struct hd_http_stream_opts *o, struct hd_http_stream_result *res);

/* The message of an error answer: a JSON "message" member (Kubernetes
 * Status, Docker), else the start of the body, into out. */
void hd_watch_err_message(const struct hd_buf *body, char *out, size_t cap);

/* s copied, NULL when s is NULL or empty. */
char *hd_watch_strdup_nonempty(const char *s);
/* A base URL: s copied without its trailing slashes. NULL on ENOMEM. */
char *hd_watch_base_url(const char *s);

/* One received object: its original bytes and its parsed form (borrowed). */
struct hd_watch_item {
    const char *raw;
    size_t len;
    json_object *root;
};
struct hd_watch_counts {
    size_t stored;    /* new events made durable */
    size_t duplicate; /* ids already stored */
    size_t invalid;   /* objects the decoder rejected (logged) */
};
/* Decodes each item (a rejected one is logged and counted, not fatal),
 * appends all events in one durable store call and, if any is new, calls
 * host.stored. *ids (may be NULL) receives the n_ids first event ids in
 * item order ("" for a rejected item). Fails only if the store does: then
 * nothing may be considered delivered. */
int hd_watcher_ingest(struct hd_watcher *w, const struct hd_watch_item *items, size_t n,
                      struct hd_watch_counts *counts, char (*ids)[33], struct hd_err *err);

/* The drops of counts (duplicates, rejected objects) added to w's
 * dropped_metric. */
void hd_watcher_count_drops(struct hd_watcher *w, const struct hd_watch_counts *counts);

/* Objects parsed from one received chunk, queued to be stored together
 * (one durable append per chunk, not per event). items[i].raw is an owned
 * copy; items[i].root is borrowed from owners[i], which is owned. A zeroed
 * struct is an empty queue. */
struct hd_watch_queue {
    struct hd_watch_item *items;
    json_object **owners;
    size_t n, cap;
};
/* Queues a copy of raw[0..len) and root, taking owner (also on failure). */
int hd_watch_queue_add(struct hd_watch_queue *q, json_object *owner, json_object *root, const char *raw,
                       size_t len);
void hd_watch_queue_clear(struct hd_watch_queue *q); /* drops what is queued, keeps the arrays */
void hd_watch_queue_free(struct hd_watch_queue *q);
/* Stores what q holds, at most slice objects per durable append (0 = all
 * in one), counts
 * the drops and empties q (also on failure, which is logged and returned:
 * then nothing of q may be taken as stored). */
int hd_watcher_flush(struct hd_watcher *w, struct hd_watch_queue *q, size_t slice);

/* ---- one line of a watch stream (pure: bytes in, no I/O) ------------------
 *
 * What the watchers do with one value the framer cut from the stream, apart
 * from logging, metrics and queueing: unit-test and fuzz targets
 * (tests/fuzz/fuzz_watch.c). */

enum hd_k8s_line_kind {
    HD_K8S_LINE_EVENT,    /* ADDED or MODIFIED: an occurrence to store */
    HD_K8S_LINE_DELETED,  /* the Event's TTL expired: not an occurrence */
    HD_K8S_LINE_BOOKMARK, /* only moves the resourceVersion */
    HD_K8S_LINE_ERROR,    /* object is a Status */
    HD_K8S_LINE_OTHER     /* a type we do not know: ignored */
};

/* One Kubernetes watch line {"type": T, "object": {...}}. */
struct hd_k8s_line {
    json_object *line; /* owned: the parsed line (hd_k8s_line_clear puts it) */
    const char *type;  /* borrowed from line */
    enum hd_k8s_line_kind kind;
    json_object *object; /* borrowed from line */
    /* EVENT: the exact bytes of the object inside the line; NULL if they
     * cannot be found (the line is then unusable) */
    const char *raw;
    size_t raw_len;
    /* not ERROR: the object's metadata.resourceVersion, "" if none or too long */
    char rv[HD_WATCH_RESUME_MAX];
    /* ERROR: the Status; expired when it says 410 (code, or reason Expired / Gone) */
    int64_t code;
    const char *reason, *message; /* borrowed from line; NULL if absent */
    int expired;
};
/* Parses the line p[0..n) into *out (zeroed first). HD_EINVAL, err naming
 * why, if it is not a watch event (not JSON, no type, no object). */
int hd_k8s_watch_line(const char *p, size_t n, struct hd_k8s_line *out, struct hd_err *err);
void hd_k8s_line_clear(struct hd_k8s_line *l); /* puts line, zeroes l */

/* One Docker /events value (an EventMessage): *root (owned by the caller)
 * is the parsed object, *time_ns its timeNano, else its time in seconds as
 * nanoseconds (0 when that does not fit in 64 bits), else 0. HD_EINVAL, err naming why, if it is not a JSON
 * object; the out-parameters are written only on success. */
int hd_docker_watch_line(const char *p, size_t n, json_object **root, int64_t *time_ns, struct hd_err *err);

/* Next backoff: *cur doubled up to max, with +-25 % jitter; returns the
 * delay to wait now. *cur = 0 starts at initial. */
int64_t hd_watch_backoff(int64_t *cur, int64_t initial, int64_t max);

#endif
