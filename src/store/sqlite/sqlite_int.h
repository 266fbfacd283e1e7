/* sqlite_int.h - private to src/store/sqlite/: the store's state, its
 * connections and statements, and the helpers its files share.
 *
 * DESIGN (the whole embedded store; each file's own design is at its top):
 * one writer thread owns the only write connection (writer.c). Every write
 * (append, channel CRUD, progress, retries, replay, prune, state) is an op
 * {apply, arg, rc, done} queued under s->mu; the writer runs a whole queue in
 * one transaction and one fsync (group commit), then completes every op.
 * Reads go through a pool of read-only connections (conn.c), one per
 * concurrent caller; WAL lets them read while the writer writes. Each
 * connection caches its prepared statements (statements.c); every value is
 * bound, never spliced into SQL.
 *
 * Files, bottom up: conn.c (connections, reader pool, row readers),
 * statements.c (the SQL), schema.c (migrations, pragmas), writer.c,
 * checkpoint.c, raws.c (raw bytes: compression, blobs and their cache),
 * query.c (event filters shared by events.c and stats.c), ids.c (the id
 * index), events.c,
 * channels.c, delivery.c, retention.c, stats.c, state.c, silences.c, groups.c, health.c, and
 * sqlite_store.c (open, close, the ops table).
 */
#ifndef HD_SQLITE_INT_H
#define HD_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "core/err.h"
#include "store/store.h"

#define SQ_DEFAULT_LIMIT 100
#define SQ_MAX_LIMIT 1000
#define SQ_ZC_POOL 8       /* idle zstd compression contexts kept */
#define SQ_BLOB_REF_LEN 32 /* rid, offset, length, share: four little-endian int64 */
#define SQ_BLOB_CACHE_SLOTS 2
#define SQ_IDS_SMALL 2 /* the id index's small levels, ids_new and ids_recent (ids.c) */

/* ---- statements (statements.c) ---------------------------------------- */

/* Column lists: the row decoders (events.c, channels.c, delivery.c) read
 * their columns by these positions. */
#define EV_COLS                                                                                              \
    "seq, id, source, ts_us, recv_us, severity, state, name, description, url, host, "                       \
    "container_id, k8s_namespace, k8s_pod, k8s_container, k8s_kind, k8s_name, labels, alert_key, "           \
    "raw, raw_enc"
#define CH_COLS "id, version, created_ms, modified_ms, name, type, enabled, managed_by, json"
#define DL_COLS                                                                                              \
    "id, channel_id, event_seq, event_id, status, attempts, first_ms, next_ms, updated_ms, "                 \
    "last_status, last_error"
#define SI_COLS "id, matchers, starts_ms, ends_ms, created_ms, updated_ms, created_by, comment"
#define DL_INS_COLS                                                                                          \
    "channel_id, event_seq, event_id, status, attempts, first_ms, next_ms, updated_ms, "                     \
    "last_status, last_error"

enum sq_stmt_id {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_SAVEPOINT,
    Q_RELEASE,
    Q_ROLLBACK_TO,
    Q_MAX_SEQ,
    Q_EV_INSERT,
    Q_EV_AFTER,
    Q_EV_GET_ID,
    Q_EV_GET_SEQ,
    Q_IDS_FIND,
    Q_IDS_ADD,
    Q_IDS_MERGE_NEW,
    Q_IDS_CLEAR_NEW,
    Q_IDS_MERGE,
    Q_IDS_CLEAR_RECENT,
    Q_IDS_DEL_NEW,
    Q_IDS_DEL_RECENT,
    Q_IDS_DEL,
    Q_IDS_COUNT_NEW,
    Q_IDS_COUNT_RECENT,
    Q_IDS_KEYS,
    Q_CH_LIST,
    Q_CH_GET,
    Q_CH_GET_NAME,
    Q_CH_ID_BY_NAME,
    Q_CH_INSERT,
    Q_CH_LAST_ID,
    Q_CH_META,
    Q_CH_UPDATE,
    Q_CH_DELETE,
    Q_CUR_INSERT,
    Q_CUR_GET,
    Q_CUR_ADVANCE,
    Q_CUR_DELETE,
    Q_CUR_MIN,
    Q_DL_PENDING_TO_FAILED,
    Q_DL_DEAD_AFTER,
    Q_DL_DELETE_ONE,
    Q_DL_UPSERT,
    Q_DL_DUE,
    Q_DL_LIST,
    Q_DL_OF_EVENT,
    Q_DL_RETRY,
    Q_DL_RETRY_CH,
    Q_DL_REPLAY,
    Q_DL_PENDING_COUNT,
    Q_DL_LAG,
    Q_DL_DEAD_COUNT,
    Q_PR_SCAN,
    Q_PR_IS_PENDING,
    Q_PR_DEL_EVENT,
    Q_PR_DEL_DLS,
    Q_PR_PAGES,
    Q_MAX_RID,
    Q_RAW_INSERT,
    Q_RAW_GET,
    Q_RAW_RELEASE,
    Q_SI_LIST,
    Q_SI_GET,
    Q_SI_INSERT,
    Q_SI_UPDATE,
    Q_GR_LIST,
    Q_GR_UPSERT,
    Q_GR_DELETE,
    Q_GR_DELETE_CH,
    Q__COUNT
};

/* Event filters (query.c): bit f of a mask = filter f present. The first
 * QF_CACHED bits are the combinations a reader caches a statement for (the
 * Events page and its paging); QF_RECV is not a filter of its own: it puts
 * QF_FROM and QF_TO on the arrival time. */
enum {
    QF_FROM,
    QF_TO,
    QF_SEV,
    QF_STATE,
    QF_SOURCE,
    QF_NS,
    QF_Q,
    QF_BEFORE,
    QF_SEVMIN,
    QF_RULE,
    QF_RECV,
    QF__COUNT
};
#define QF_CACHED 8
/* The rule of an event (GET /api/stats groupBy=rule, ?rule=): labels.rule, else the name. */
#define SQ_RULE_EXPR "coalesce(CASE WHEN json_valid(labels) THEN json_extract(labels, '$.rule') END, name)"
/* Parameters after the filters' ?1..?10. */
#define QF_PARAMS 10

/* ---- the store -------------------------------------------------------- */

struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *st[Q__COUNT];
    sqlite3_stmt *query[1u << QF_CACHED];
    struct sq_conn *next; /* pool link */
    ZSTD_DCtx *dctx;      /* raw_enc 1 and 2, created on first use */
    struct sq_blob *blob; /* raw_enc 2: the decompressed blob last used, one reference held */
    struct hd_slab *slab; /* set during sq_collect: the events read allocate from it */
};

/* A decompressed blob of raws (table raws), shared by reference count
 * between the store's cache and the connections reading from it. */
struct sq_blob {
    int64_t rid;
    size_t len;
    size_t cap; /* bytes data[] can hold (a spare is reused for a blob up to this) */
    _Atomic int refs;
    unsigned char data[];
};

struct sq_store;
typedef int (*sq_apply_fn)(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err);

/* A queued write. A synchronous one lives on the caller's stack and the
 * caller sleeps on its own cv until done: one shared condition broadcast woke
 * every waiting request thread at each commit, most of them only to sleep
 * again (64 connections = 64 wakeups per group). An asynchronous one
 * (done_fn set, append_async) is heap-allocated with its arguments; the
 * writer calls done_fn after the commit and frees it - no thread waits. */
struct sq_op {
    sq_apply_fn apply;
    void *arg;
    struct append_args *append; /* set for appends (sq_zip_group) */
    int rc;
    int done;
    pthread_cond_t cv;
    struct hd_err err;
    hd_store_done_fn done_fn;
    void *done_ud;
    struct sq_op *next;
};

struct sq_store {
    struct hd_store base; /* first: hd_store * <-> sq_store * */
    char *path;
    int lock_fd; /* path.lock, flock'ed for the store's life: one process per store */

    /* Guarded by mu: the op queue, stopping, and every op's done flag. */
    pthread_mutex_t mu;
    pthread_cond_t wake; /* writer: work queued or stopping */
    struct sq_op *head, *tail;
    int queued;        /* ops in head..tail */
    int lingering;     /* the writer waits for a group to fill: wake it only when one has */
    int64_t commit_us; /* monotonic end of the last group commit (writer only) */
    int stopping;
    int writer_started;
    pthread_t writer;

    /* Writer thread only (and open/close, before/after it runs). */
    struct sq_conn *w;
    int64_t max_seq;
    int64_t max_rid;                 /* last rid of raws */
    int64_t ids_small[SQ_IDS_SMALL]; /* keys in the id index's new and recent levels (ids.c) */
    uint64_t *ids_seen;              /* a Bloom filter of every stored key (ids.c); NULL: none */
    int64_t ids_unseen;              /* lookups it answered since the last sq_ids_note */

    /* The blobs read last, so that the rows of one request read by several
     * calls (a dispatcher batch, a page of the API) decompress it once. */
    pthread_mutex_t blob_mu;
    struct sq_blob *blob_slot[SQ_BLOB_CACHE_SLOTS];
    unsigned blob_next;
    /* The last blob no one holds any more, kept for the next read to
     * decompress into (raws.c): freeing each ~256 KiB blob trimmed the
     * dispatcher's arena and the next one faulted its pages in again. */
    struct sq_blob *blob_spare;

    _Atomic int64_t pub_max_seq; /* last committed seq, for every thread */

    pthread_mutex_t pool_mu; /* guards pool */
    struct sq_conn *pool;
    size_t pool_idle;
    ZSTD_CCtx *zc[SQ_ZC_POOL]; /* idle compression contexts, guarded by pool_mu */
    size_t nzc;

    /* Background checkpoints (checkpoint.c). ckpt_mu guards ckpt_want
     * and ckpt_stop; wal_frames is written by the writer's WAL hook. */
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    int ckpt_want;
    int ckpt_stop;
    int ckpt_started;
    pthread_t ckpt;
    struct sq_conn *ckc;
    int page_size;
    _Atomic int wal_frames;
    _Atomic int ckpt_frames; /* WAL frames copied by the last background checkpoint */

    /* Whether writes succeed (health.c); health_mu guards the rest. */
    pthread_mutex_t health_mu;
    int failing;           /* the last group that wrote or failed to write failed */
    char failing_why[256]; /* its error, or why no probe was tried */
    int probing;           /* a probe is queued */
    int64_t probe_ms;      /* when the last probe was started (monotonic) */
};

static inline struct sq_store *sq_of(struct hd_store *st)
{
    return (struct sq_store *)st;
}

/* ---- conn.c: connections, statements, rows ----------------------------- */

struct sq_conn *sq_conn_open(const char *path, int flags, struct hd_err *err);
void sq_conn_close(struct sq_conn *c); /* NULL-safe */
/* A read connection from the pool (or a new one); give it back with sq_reader_put. */
struct sq_conn *sq_reader(struct sq_store *s, struct hd_err *err);
void sq_reader_put(struct sq_store *s, struct sq_conn *c); /* NULL-safe */

/* The cached statement id of c, prepared on first use (statements.c). */
sqlite3_stmt *sq_stmt(struct sq_conn *c, enum sq_stmt_id id, struct hd_err *err);
int sq_fail(struct sq_conn *c, struct hd_err *err, const char *what);
/* Runs a statement that returns no rows (its parameters already bound). */
int sq_step_done(struct sq_conn *c, sqlite3_stmt *st, struct hd_err *err, const char *what);
int sq_exec_id(struct sq_conn *c, enum sq_stmt_id id, struct hd_err *err, const char *what);
/* Runs statement id with the int64 parameters p[0..np) as ?1..?np. */
int sq_exec_i64(struct sq_conn *c, enum sq_stmt_id id, const int64_t *p, int np, const char *what,
                struct hd_err *err);
/* Single int64 result of a one-row query; *found = 0 if no row (or NULL). */
int sq_query_i64(struct sq_conn *c, sqlite3_stmt *st, int64_t *out, int *found, struct hd_err *err,
                 const char *what);
void sq_bind_text(sqlite3_stmt *st, int i, const char *s); /* NULL binds NULL */
int sq_col_dup(sqlite3_stmt *st, int i, char **out);       /* NULL column: *out NULL */
void sq_col_fixed(sqlite3_stmt *st, int i, char *dst, size_t cap);
/* limit 0 -> SQ_DEFAULT_LIMIT, at most SQ_MAX_LIMIT. */
size_t sq_limit(size_t limit);

/* Converts the current row of q into out (one element). On failure it leaves
 * nothing allocated in out: HD_ENOMEM, or HD_EIO for a row it cannot read. */
typedef int (*sq_row_fn)(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *q, void *out);

/* Rows of a statement collected into an array (sq_collect). */
struct sq_rows {
    sq_row_fn row;
    void (*clear)(void *elem); /* frees what row allocated in an element; NULL: nothing */
    size_t elem_size;
    size_t max;       /* collect at most max rows (0: all); more = 1 if there were more */
    size_t max_bytes; /* with bytes: stop once the rows collected hold this many (at least one) */
    size_t (*bytes)(const void *elem);
    struct hd_slab *slab; /* events: their blocks come from it (NULL: malloc) */
    const char *what;     /* the failed step's error: "store: <what>: <sqlite message>" */
    const char *oom;      /* the error when memory runs out */
    const char *noun;     /* a row that cannot be read: "store: <noun> <column 0> cannot be read" */
    /* results */
    void *v; /* malloc'd array of n elements (NULL if none); the caller owns it */
    size_t n;
    int more;
};
/* Steps st to its end (or r->max rows) decoding each row with r->row; resets
 * st. On failure nothing is left allocated and r->v, r->n are untouched. */
int sq_collect(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *st, struct sq_rows *r,
               struct hd_err *err);

/* sq_collect of read statement id on a reader, p[i] bound as ?i+1 for the
 * first np parameters the statement has. */
int sq_read_rows(struct sq_store *s, enum sq_stmt_id id, const int64_t *p, int np, struct sq_rows *r,
                 struct hd_err *err);

/* One row looked up on a reader (sq_read_one). */
struct sq_lookup {
    enum sq_stmt_id stmt;
    const char *text; /* bound as ?1 if set (and its id key as ?2 with with_idk) */
    int with_idk;
    int64_t num; /* else bound as ?1 */
    sq_row_fn row;
    const char *what; /* names the record in errors ("an event") */
};
/* *found = 0 when there is no such row (and HD_OK). */
int sq_read_one(struct sq_store *s, const struct sq_lookup *l, void *out, int *found, struct hd_err *err);
/* One int64 of read statement id with parameter ?1 = p1; 0 when there is no row. */
int sq_read_i64(struct sq_store *s, enum sq_stmt_id id, int64_t p1, int64_t *out, const char *what,
                struct hd_err *err);

/* ---- schema.c ---------------------------------------------------------- */

int sq_pragmas(struct sq_conn *c, struct hd_err *err);
int sq_migrate(struct sq_conn *c, struct hd_err *err);
int sq_page_size(struct sq_conn *c);
/* The integer key of an id (column idk). */
int64_t sq_id_key(const char *id);

/* ---- ids.c: the id index, in three levels ----------------------------- */

/* Writer: the seq of the stored event with this id (idk = sq_id_key(id));
 * *found = 0 if none. It sees the open transaction's rows (a duplicate
 * earlier in the same batch or group). A key the filter has never seen is
 * answered without a query. */
int sq_ids_find(struct sq_store *s, const char *id, int64_t idk, int64_t *seq, int *found,
                struct hd_err *err);
/* Writer: indexes a new event's key (in the new level). */
int sq_ids_add(struct sq_store *s, struct sq_conn *c, int64_t idk, int64_t seq, struct hd_err *err);
/* Writer: moves the new level into the recent one once it holds
 * SQ_IDS_NEW keys, and the recent one into the big one once it holds
 * SQ_IDS_MERGE (in the caller's transaction); else nothing. */
int sq_ids_merge(struct sq_store *s, struct sq_conn *c, struct hd_err *err);
/* Writer: removes a pruned event's key from every level. */
int sq_ids_remove(struct sq_conn *c, int64_t idk, int64_t seq, struct hd_err *err);
/* Open: counts the two small levels and fills the filter with every stored
 * key (without memory for it, every lookup queries). */
int sq_ids_load(struct sq_store *s, struct hd_err *err);
/* Writer, after a group: adds the lookups the filter answered to
 * herald_store_id_lookups_skipped_total. */
void sq_ids_note(struct sq_store *s);

/* ---- writer.c, checkpoint.c -------------------------------------------- */

void *sq_writer_main(void *arg);
/* Queues a write and sleeps until the transaction holding it committed. */
int sq_submit(struct sq_store *s, sq_apply_fn fn, void *arg, struct hd_err *err);
/* sq_submit for an append: its raws may join the group's blob. */
struct append_args;
int sq_submit_append(struct sq_store *s, sq_apply_fn fn, struct append_args *a, struct hd_err *err);
/* Queues op without waiting (op->done_fn set); HD_ESHUTDOWN if closing. */
int sq_submit_async(struct sq_store *s, struct sq_op *op, struct hd_err *err);
void sq_writer_stop(struct sq_store *s);

/* ---- health.c ---------------------------------------------------------- */

/* Notes a group's outcome (writer, after it ran): an op failed with HD_EIO
 * -> failing; some op committed and the group changed rows -> writable. */
void sq_health_note(struct sq_store *s, const struct sq_op *group, int changed);
/* hd_store_ops.writable. */
int sq_store_writable(struct hd_store *st, struct hd_err *why);

void sq_ckpt_start(struct sq_store *s);
void sq_ckpt_catch_up(struct sq_store *s);
void sq_ckpt_stop(struct sq_store *s);

/* ---- raws.c ------------------------------------------------------------ */

/* raw as stored: compressed by the caller's thread (sq_zip), so the
 * serial writer only copies the compressed bytes into its pages. */
struct zraw {
    const void *p; /* enc 0 and 1: the bytes of column raw */
    size_t len;
    int enc;     /* raw_enc */
    int64_t off; /* enc 2: the event's slice of the blob, and its share of the stored bytes */
    int64_t share;
};

/* The raws of events [first, end) of one append (or of a group) as one
 * blob (table raws). */
struct zblob {
    const void *p; /* NULL: no blob */
    size_t len;    /* stored bytes */
    size_t size;   /* raw bytes */
    int enc;       /* raws.enc */
    size_t first, end;
};

/* An append's raws go into blobs of at most this many raw bytes (whole
 * events), so a reader decompresses at most about this much to read one
 * event of a large request. 1 MiB before: the dispatcher held three such
 * blobs (2 cached, 1 in use) and the compressor's context was sized for
 * them; 256 KiB compresses as well (2.5 kB written per event either way,
 * docs/performance.md round 6). */
#define SQ_BLOB_CHUNK (256 * 1024)

struct append_args {
    struct hd_event *evs;
    size_t n;
    struct zraw *z;      /* n entries, or NULL: every raw as is */
    struct zblob *blobs; /* nblobs chunks in order; the i-th has rid max_rid + 1 + i */
    size_t nblobs;
    int grouped;   /* a small append: its raws go into the group's blob (sq_zip_group) */
    int64_t g_rid; /* grouped: that blob's rid, 0 if the writer stored them alone */
};

/* Bytes sq_zip needs after the zraw array; *total: the raws' bytes, which
 * sq_zip takes again. */
size_t sq_zip_bound(const struct hd_event *evs, size_t n, size_t *total_out);
/* Fills a->z[0..n) and a->blob from a->evs, compressing into buf. A small
 * append (fewer than SQ_BLOB_MIN_EVENTS) is left as is and marked grouped:
 * the writer compresses it with the rest of its group. */
void sq_zip(struct sq_store *s, struct append_args *a, size_t total, unsigned char *buf);

/* The blob of one group commit: the raws of its small appends, compressed
 * together by the writer (similar single events compress far better
 * together, and the poll threads do no compression for them). */
struct sq_gblob {
    struct zblob blob;
    int64_t rid; /* reserved (s->max_rid moved past it); 0: no group blob */
    unsigned char *buf;
};
/* Writer thread, before the group's transaction: the grouped appends of
 * group get their zraws (enc 2 slices of one blob, or per-event frames when
 * there is a single event). */
void sq_zip_group(struct sq_store *s, struct sq_op *group, struct sq_gblob *g);
/* Inside the transaction, after the ops: stores the group blob if an op
 * that references it stored an event. */
int sq_gblob_store(struct sq_conn *c, struct sq_op *group, const struct sq_gblob *g, struct hd_err *err);
void sq_gblob_free(struct sq_gblob *g);

struct blob_ref {
    int64_t rid, off, len, share;
};
int sq_ref_decode(const void *p, size_t n, struct blob_ref *r);
void sq_ref_encode(unsigned char ref[SQ_BLOB_REF_LEN], int64_t rid, const struct zraw *z);
/* Drops one reference to b (NULL-safe); the last one keeps it as s's spare
 * or frees it (s NULL: frees it). */
void sq_blob_release(struct sq_store *s, struct sq_blob *b);

/* Where a row's raw comes from: its size, and how to fill it. */
struct raw_src {
    int enc;       /* raw_enc; -1: NULL */
    const void *p; /* enc 0: the bytes; enc 1: the frame; enc 2: the blob's bytes */
    size_t n;      /* enc 1: the frame's length */
    size_t size;   /* the raw's length */
};
/* The raw of event seq in columns 19 (raw) and 20 (raw_enc) of st. */
int sq_raw_locate(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *st, int64_t seq, struct raw_src *r);
/* Writes the raw r->size bytes into dst. */
int sq_raw_copy(struct sq_conn *c, const struct raw_src *r, int64_t seq, char *dst);

/* ---- query.c ----------------------------------------------------------- */

/* The state names, indexed by enum hd_state. */
extern const char *const sq_states[3];
/* The filters of q that are set, as a QF_ mask (QF_BEFORE excepted), and its
 * state as an index of sq_states (-1: any). */
int sq_query_filters(const struct hd_event_query *q, int *state_out, unsigned *mask_out, struct hd_err *err);
/* The text of a query: head (up to SQ_TEXT_HEAD pieces, NULL-terminated if
 * fewer), the fragment of each filter in mask, tail. sq_query_text writes it
 * into sql[cap]; HD_EIO with the message too_long if it does not fit. */
#define SQ_TEXT_HEAD 6
struct sq_text {
    const char *head[SQ_TEXT_HEAD];
    unsigned mask;
    const char *tail;
    const char *too_long;
};
int sq_query_text(const struct sq_text *t, char *sql, size_t cap, size_t *len, struct hd_err *err);
/* Binds the filter values ?1..?QF_PARAMS. pattern: from sq_like_pattern. */
void sq_query_bind(sqlite3_stmt *stm, const struct hd_event_query *q, int state, const char *pattern);
/* "%q%" with LIKE's metacharacters escaped by backslash. Caller frees. */
char *sq_like_pattern(const char *q);

/* ---- the ops (one file each) ------------------------------------------- */

/* Dirty pages a transaction of the writer keeps in memory before it spills
 * them to the WAL (sq_pragmas: 16 MB at 8 KB pages); an append in parts
 * (events.c) lowers it to SQ_STREAM_SPILL_PAGES (2 MB) while it runs. */
#define SQ_SPILL_PAGES 2047
#define SQ_STREAM_SPILL_PAGES 255
/* PRAGMA cache_spill = pages. Never a multiple of 256: SQLite also reads
 * the value as a boolean, taking one byte of it, so 2048 or 256 turn
 * spilling off - every dirty page of a transaction then stays in memory,
 * however many (a 100,000-event append held 20 MB). SQLITE_OK or an error. */
int sq_cache_spill(struct sq_conn *c, int pages);
_Static_assert(SQ_SPILL_PAGES % 256 != 0 && SQ_STREAM_SPILL_PAGES % 256 != 0,
               "cache_spill: a multiple of 256 turns spilling off");

int sq_append(struct hd_store *st, struct hd_event *evs, size_t n, struct hd_err *err);
int sq_append_async(struct hd_store *st, struct hd_event *evs, size_t n, hd_store_done_fn done, void *ud,
                    struct hd_err *err);
int sq_append_stream_async(struct hd_store *st, hd_store_produce_fn produce, void *pud, hd_store_done_fn done,
                           void *ud, struct hd_err *err);
int sq_events_after(struct hd_store *st, const struct hd_range *q, struct hd_event **out, size_t *n,
                    struct hd_err *err);
int sq_event_get(struct hd_store *st, const char *id, struct hd_event *out, struct hd_err *err);
int sq_event_get_seq(struct hd_store *st, int64_t seq, struct hd_event *out, struct hd_err *err);
int sq_events_query(struct hd_store *st, const struct hd_event_query *q, struct hd_event **out, size_t *n,
                    int64_t *next_cursor, struct hd_err *err);
int64_t sq_max_seq(struct hd_store *st);

int sq_channel_list(struct hd_store *st, struct hd_channel_rec **out, size_t *n, struct hd_err *err);
int sq_channel_get(struct hd_store *st, int64_t id, struct hd_channel_rec *out, struct hd_err *err);
int sq_channel_get_by_name(struct hd_store *st, const char *name, struct hd_channel_rec *out,
                           struct hd_err *err);
int sq_channel_create(struct hd_store *st, const struct hd_channel_rec *in, int64_t now_ms,
                      struct hd_channel_rec *out, struct hd_err *err);
int sq_channel_update(struct hd_store *st, struct hd_channel_ref ref, const struct hd_channel_rec *in,
                      int64_t now_ms, struct hd_channel_rec *out, struct hd_err *err);
int sq_channel_delete(struct hd_store *st, int64_t id, struct hd_err *err);
/* HD_ENOTFOUND if channel id does not exist (writer connection). */
int sq_channel_check(struct sq_conn *c, int64_t id, struct hd_err *err);

int sq_cursor_get(struct hd_store *st, int64_t channel_id, int64_t *cursor, struct hd_err *err);
/* The cursor of a channel on connection c; *found = 0 if it has none. */
int sq_cursor_read(struct sq_conn *c, int64_t channel_id, int64_t *cursor, int *found, struct hd_err *err);
int sq_progress(struct hd_store *st, int64_t channel_id, int64_t new_cursor, const struct hd_delivery *ups,
                size_t n, struct hd_err *err);
int sq_due_retries(struct hd_store *st, const struct hd_delivery_query *q, struct hd_delivery **out,
                   size_t *n, struct hd_err *err);
int sq_deliveries_list(struct hd_store *st, const struct hd_delivery_query *q, struct hd_delivery **out,
                       size_t *n, struct hd_err *err);
int sq_deliveries_of_event(struct hd_store *st, int64_t event_seq, struct hd_delivery **out, size_t *n,
                           struct hd_err *err);
int sq_delivery_retry(struct hd_store *st, int64_t delivery_id, struct hd_err *err);
int sq_delivery_retry_channel(struct hd_store *st, int64_t channel_id, size_t *count, struct hd_err *err);
int sq_replay(struct hd_store *st, int64_t channel_id, int64_t from_us, int64_t to_us, size_t *count,
              struct hd_err *err);
int sq_pending_count(struct hd_store *st, int64_t channel_id, int64_t *count, struct hd_err *err);
int sq_channel_lag(struct hd_store *st, int64_t channel_id, int64_t cursor, struct hd_channel_lag *out,
                   struct hd_err *err);
int sq_dead_count(struct hd_store *st, int64_t channel_id, int64_t *count, struct hd_err *err);

int sq_prune(struct hd_store *st, int64_t max_age_ms, int64_t max_bytes, size_t *deleted, struct hd_err *err);
int sq_stats(struct hd_store *st, const struct hd_stats_query *q, struct hd_stats_row **out, size_t *n,
             int *truncated, struct hd_err *err);
int sq_state_get(struct hd_store *st, const char *key, char **value, struct hd_err *err);
/* groups.c */
int sq_groups_save(struct hd_store *st, int64_t channel_id, int64_t new_cursor, const struct hd_group_rec *g,
                   size_t n, struct hd_err *err);
int sq_groups_list(struct hd_store *st, int64_t channel_id, struct hd_group_rec **out, size_t *n,
                   struct hd_err *err);
/* silences.c */
int sq_silence_put(struct hd_store *st, const struct hd_silence *in, int64_t now_ms, struct hd_silence *out,
                   struct hd_err *err);
int sq_silence_get(struct hd_store *st, int64_t id, struct hd_silence *out, struct hd_err *err);
int sq_silence_list(struct hd_store *st, struct hd_silence **out, size_t *n, struct hd_err *err);
int sq_state_set(struct hd_store *st, const char *key, const char *value, struct hd_err *err);

#endif
