/* pg_int.h - private to src/store/postgres/: the shared store on PostgreSQL.
 *
 * DESIGN (the whole backend; each file's own design is at its top):
 * - conn.c: a pool of connections for the readers and the synchronous
 *   writes (each in its own transaction); a call that finds its connection
 *   broken resets it and runs once more (pg_run). Every value is a bound
 *   parameter (PQexecParams), never spliced into SQL.
 * - writer.c: appends go through one writer thread with its own connection:
 *   every queued request in one transaction (group commit), which takes the
 *   append lock first (pg_advisory_xact_lock), so across all replicas seq
 *   order is commit order and a cursor can never pass a lower seq that
 *   commits later (docs/decisions.md, "Shared store: no skipped event").
 * - cluster.c: one thread with its own connection: LISTEN for changes made
 *   through any replica, heartbeats, channel leases and the inputs election
 *   (lease rows with an expiry on the database clock).
 * - schema.c (migrations under an advisory lock), events.c, channels.c,
 *   delivery.c, misc.c (state, silences, groups, retention, imports),
 *   pg_store.c (open, close, the ops table).
 */
#ifndef HD_PG_INT_H
#define HD_PG_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"

#define PG_POOL 4
#define PG_APPEND_LOCK 7245001 /* pg_advisory_xact_lock key of appends */
#define PG_SCHEMA_LOCK 7245002 /* pg_advisory_lock key of migrations */
#define PG_LEASE_S 5           /* a lease lasts this long unless renewed */
#define PG_TICK_MS 1000        /* heartbeat and lease round */
#define PG_MAX_PARAMS 24

/* Parameters of one statement, as text (or binary for bytea). */
struct pg_params {
    const char *v[PG_MAX_PARAMS];
    int len[PG_MAX_PARAMS];
    int fmt[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][24];
    int n;
};
void pp_i64(struct pg_params *p, int64_t v);
void pp_str(struct pg_params *p, const char *s); /* NULL: SQL NULL */
void pp_bin(struct pg_params *p, const void *b, size_t len);

struct pg_append;  /* writer.c */
struct pg_cluster; /* cluster.c */

struct pg_store {
    struct hd_store base;
    char *conninfo; /* the URL: never logged or echoed */
    /* pool */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    PGconn *idle[PG_POOL];
    size_t n_idle;
    size_t n_open;
    /* writer */
    pthread_t writer;
    int writer_started;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    struct pg_append *q_head, **q_tail;
    int stopping;
    PGconn *wconn;
    _Atomic int64_t max_seq_cache;
    _Atomic int64_t max_seq_at_ms;
    /* health */
    atomic_int failing;
    char why[256];
    pthread_mutex_t why_mu;
    /* cluster */
    struct pg_cluster *cl;
};

static inline struct pg_store *pg_of(struct hd_store *st)
{
    return (struct pg_store *)st;
}

/* ---- conn.c ---- */
PGconn *pg_connect(struct pg_store *s, struct hd_err *err);
PGconn *pg_get(struct pg_store *s, struct hd_err *err);
void pg_put(struct pg_store *s, PGconn *c);
/* One statement; NULL on failure with err set ("store: <what>: <server message>"; a
 * unique violation is HD_ECONFLICT, a lost connection HD_EIO). Caller PQclear()s. */
PGresult *pg_exec(PGconn *c, const char *sql, const struct pg_params *p, const char *what,
                  struct hd_err *err);
/* pg_exec without a result wanted. */
int pg_cmd(PGconn *c, const char *sql, const struct pg_params *p, const char *what, struct hd_err *err);
/* A unit of work on a pooled connection (fn runs its own transaction); a
 * broken connection is reset and fn runs once more. */
typedef int (*pg_fn)(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err);
int pg_run(struct pg_store *s, pg_fn fn, void *arg, struct hd_err *err);
/* pg_run of fn inside one transaction. */
int pg_run_tx(struct pg_store *s, pg_fn fn, void *arg, struct hd_err *err);
/* Runs fn between BEGIN and COMMIT (ROLLBACK on failure). */
int pg_tx(PGconn *c, pg_fn fn, struct pg_store *s, void *arg, struct hd_err *err);
int64_t pg_i64(const PGresult *r, int row, int col); /* NULL: 0 */
char *pg_dup(const PGresult *r, int row, int col);   /* NULL: NULL; else malloc'd */
void pg_note_failure(struct pg_store *s, const struct hd_err *err);
void pg_note_success(struct pg_store *s);

/* ---- schema.c ---- */
int pg_migrate(PGconn *c, struct hd_err *err);

/* ---- writer.c ---- */
int pg_writer_start(struct pg_store *s, struct hd_err *err);
/* The 20 parameters of an events row, in PG_EV_COLS order (raw as bytea). */
void pg_event_params(struct pg_params *p, const struct hd_event *ev);
void pg_writer_stop(struct pg_store *s);
int pg_append(struct hd_store *st, struct hd_event *evs, size_t n, struct hd_err *err);
int pg_append_async(struct hd_store *st, struct hd_event *evs, size_t n, hd_store_done_fn done, void *ud,
                    struct hd_err *err);
int pg_append_stream_async(struct hd_store *st, hd_store_produce_fn produce, void *pud, hd_store_done_fn done,
                           void *ud, struct hd_err *err);

/* ---- events.c ---- */
#define PG_EV_COLS                                                                                           \
    "seq, id, source, ts_us, recv_us, severity, state, name, description, url, host, container_id, "         \
    "k8s_namespace, k8s_pod, k8s_container, k8s_kind, k8s_name, labels, alert_key, raw"
int pg_event_row(const PGresult *r, int row, struct hd_event *ev); /* HD_ENOMEM / HD_EIO */
int pg_events_after(struct hd_store *st, const struct hd_range *q, struct hd_event **out, size_t *n,
                    struct hd_err *err);
int pg_event_get(struct hd_store *st, const char *id, struct hd_event *out, struct hd_err *err);
int pg_event_get_seq(struct hd_store *st, int64_t seq, struct hd_event *out, struct hd_err *err);
int pg_events_query(struct hd_store *st, const struct hd_event_query *q, struct hd_event **out, size_t *n,
                    int64_t *next_cursor, struct hd_err *err);
int64_t pg_max_seq(struct hd_store *st);
int pg_stats(struct hd_store *st, const struct hd_stats_query *q, struct hd_stats_row **out, size_t *n,
             int *truncated, struct hd_err *err);

/* ---- channels.c ---- */
int pg_channel_list(struct hd_store *st, struct hd_channel_rec **out, size_t *n, struct hd_err *err);
int pg_channel_get(struct hd_store *st, int64_t id, struct hd_channel_rec *out, struct hd_err *err);
int pg_channel_get_by_name(struct hd_store *st, const char *name, struct hd_channel_rec *out,
                           struct hd_err *err);
int pg_channel_create(struct hd_store *st, const struct hd_channel_rec *in, int64_t now_ms,
                      struct hd_channel_rec *out, struct hd_err *err);
int pg_channel_update(struct hd_store *st, struct hd_channel_ref ref, const struct hd_channel_rec *in,
                      int64_t now_ms, struct hd_channel_rec *out, struct hd_err *err);
int pg_channel_delete(struct hd_store *st, int64_t id, struct hd_err *err);
int pg_import_channel(struct hd_store *st, const struct hd_channel_rec *rec, struct hd_err *err);

/* ---- delivery.c ---- */
int pg_cursor_get(struct hd_store *st, int64_t channel_id, int64_t *cursor, struct hd_err *err);
int pg_progress(struct hd_store *st, int64_t channel_id, int64_t new_cursor, const struct hd_delivery *ups,
                size_t n, struct hd_err *err);
int pg_due_retries(struct hd_store *st, const struct hd_delivery_query *q, struct hd_delivery **out,
                   size_t *n, struct hd_err *err);
int pg_deliveries_list(struct hd_store *st, const struct hd_delivery_query *q, struct hd_delivery **out,
                       size_t *n, struct hd_err *err);
int pg_deliveries_of_event(struct hd_store *st, int64_t event_seq, struct hd_delivery **out, size_t *n,
                           struct hd_err *err);
int pg_delivery_retry(struct hd_store *st, int64_t delivery_id, struct hd_err *err);
int pg_delivery_retry_channel(struct hd_store *st, int64_t channel_id, size_t *count, struct hd_err *err);
int pg_replay(struct hd_store *st, int64_t channel_id, int64_t from_us, int64_t to_us, size_t *count,
              struct hd_err *err);
int pg_pending_count(struct hd_store *st, int64_t channel_id, int64_t *count, struct hd_err *err);
int pg_channel_lag(struct hd_store *st, int64_t channel_id, int64_t cursor, struct hd_channel_lag *out,
                   struct hd_err *err);
int pg_dead_count(struct hd_store *st, int64_t channel_id, int64_t *count, struct hd_err *err);
int pg_import_cursor(struct hd_store *st, int64_t channel_id, int64_t cursor, struct hd_err *err);
int pg_import_delivery(struct hd_store *st, const struct hd_delivery *d, struct hd_err *err);
/* The fence of cursor writes: HD_OK if this replica holds the channel's
 * lease (row-locked until the transaction ends), else HD_ECONFLICT. */
int pg_fence(struct pg_store *s, PGconn *c, int64_t channel_id, struct hd_err *err);

/* ---- misc.c ---- */
int pg_prune(struct hd_store *st, int64_t max_age_ms, int64_t max_bytes, size_t *deleted, struct hd_err *err);
int pg_state_get(struct hd_store *st, const char *key, char **value, struct hd_err *err);
int pg_state_set(struct hd_store *st, const char *key, const char *value, struct hd_err *err);
int pg_writable(struct hd_store *st, struct hd_err *why);
int pg_silence_put(struct hd_store *st, const struct hd_silence *in, int64_t now_ms, struct hd_silence *out,
                   struct hd_err *err);
int pg_silence_get(struct hd_store *st, int64_t id, struct hd_silence *out, struct hd_err *err);
int pg_silence_list(struct hd_store *st, struct hd_silence **out, size_t *n, struct hd_err *err);
int pg_groups_save(struct hd_store *st, int64_t channel_id, int64_t new_cursor, const struct hd_group_rec *g,
                   size_t n, struct hd_err *err);
int pg_groups_list(struct hd_store *st, int64_t channel_id, struct hd_group_rec **out, size_t *n,
                   struct hd_err *err);
int pg_is_empty(struct hd_store *st, int *empty, struct hd_err *err);
int pg_import_events(struct hd_store *st, const struct hd_event *evs, size_t n, struct hd_err *err);

/* ---- cluster.c ---- */
int pg_cluster_start(struct pg_store *s, struct hd_err *err);
void pg_cluster_stop(struct pg_store *s); /* releases the leases */
const char *pg_replica_id(struct pg_store *s);
/* This replica took the lease of channel_id (it created the channel). */
void pg_cluster_hold(struct pg_store *s, int64_t channel_id);
int pg_owns_channel(struct hd_store *st, int64_t channel_id);
int pg_owns_inputs(struct hd_store *st);
void pg_on_change(struct hd_store *st, hd_store_change_fn fn, void *ud);
const char *pg_replica(struct hd_store *st);
/* Channel changes are announced to every replica: call inside the changing transaction. */
int pg_notify_channels(PGconn *c, struct hd_err *err);

#endif
