/* sqlite_store.c - the embedded store: SQLite in WAL mode (SPEC sections 6, 9, 11).
 *
 * DESIGN: one writer thread owns the only write connection. Every write
 * (append, channel CRUD, progress, retries, replay, prune) is an op {apply,
 * arg, rc, done} queued under s->mu. The writer takes the whole queue, runs
 * each op inside its own SAVEPOINT of one transaction (a failing op is rolled
 * back alone), commits once - with synchronous=FULL that commit is the fsync -
 * and then wakes every caller. Concurrent appends thus share one sync (group
 * commit), and a caller returns only once its op is on stable storage.
 *
 * seq is dense: the writer keeps max_seq in memory (loaded at open) and gives
 * each new event max_seq + 1; when an op or a whole group is rolled back the
 * value is restored. Other threads see max_seq only once committed
 * (s->pub_max_seq), so a reader never waits for a seq that is not visible.
 *
 * Reads go through a pool of read-only connections, one per concurrent caller,
 * handed out and returned under pool_mu; WAL lets them read while the writer
 * writes. Every statement is reset right after use so no reader pins an old
 * snapshot. Each connection caches its prepared statements; every value is
 * bound, never spliced into SQL.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "store/store.h"
#include "model/source.h"

#define SQ_DEFAULT_LIMIT 100
#define SQ_MAX_LIMIT 1000
#define SQ_POOL_IDLE_MAX 16 /* idle read connections kept open */
#define SQ_PRUNE_CHUNK 5000 /* events deleted per writer op: ingest interleaves between chunks */
#define SQ_PRUNE_SCAN 256
#define SQ_ROW_OVERHEAD 200 /* record header, columns and six index entries, per event */
#define SQ_BUSY_TIMEOUT_MS 5000
/* Page size of a NEW database (an existing one keeps its own). Measured
 * again in round 4 (docs/performance.md: raws of a request in one blob,
 * wall-clock ids): NDJSON-1000 with ELASTICSEARCH delivering, 4 KB
 * 104,000-106,000 ev/s ingested and 100,000-102,000 docs/s delivered at
 * 14.9-15.3 ms CPU per 1,000 events; 8 KB 116,000-117,000 / 110,000-115,000 at
 * 13.6; 16 KB 125,000 / 121,600 at 12.8 (fewer pages: fewer WAL frames,
 * pwrite calls and B-tree page operations). Single events over 64
 * connections: 29,800 / 31,000 / 30,500 req/s, but 9.4 / 14.0 / 18.2 kB
 * written per event (small commits rewrite whole pages). 8 KB: most of the
 * batch gain for half the single-event write cost of 16 KB. (Round 2, before
 * blobs, had measured 4 KB best for single events.) */
#define SQ_PAGE_SIZE 8192
#define SQ_ZC_POOL 8 /* idle zstd compression contexts kept */
#define SQ_Z_MIN 256 /* raw shorter than this is stored as is */
#define SQ_Z_LEVEL 1
/* An append of at least this many events stores all their raws as one zstd
 * frame in `raws` (raw_enc 2, docs/performance.md round 4). */
#define SQ_BLOB_MIN_EVENTS 4
#define SQ_BLOB_REF_LEN 32                  /* rid, offset, length, share: four little-endian int64 */
#define SQ_BLOB_CACHE_MAX (4 * 1024 * 1024) /* a decompressed blob larger than this is never cached */
#define SQ_BLOB_CACHE_SLOTS 2
#define SQ_CKPT_SOFT_BYTES (8 * 1024 * 1024)  /* WAL size that wakes the checkpointer */
#define SQ_CKPT_HARD_BYTES (64 * 1024 * 1024) /* WAL size at which the writer catches up itself */

/* ---- schema ----------------------------------------------------------- */

/* Ordered migration steps: step i brings user_version from i to i + 1.
 * Never edit a released step; append a new one. */
static const char *const sq_migrations[] = {
    "CREATE TABLE channels ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  type TEXT NOT NULL,"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  created_ms INTEGER NOT NULL,"
    "  modified_ms INTEGER NOT NULL,"
    "  managed_by TEXT,"
    "  json TEXT NOT NULL);"
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  source TEXT NOT NULL,"
    "  ts_us INTEGER NOT NULL,"
    "  recv_us INTEGER NOT NULL,"
    "  severity INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  name TEXT, description TEXT, url TEXT, host TEXT, container_id TEXT,"
    "  k8s_namespace TEXT, k8s_pod TEXT, k8s_container TEXT, k8s_kind TEXT, k8s_name TEXT,"
    "  labels TEXT, alert_key TEXT, raw BLOB);"
    "CREATE INDEX events_ts ON events(ts_us);"
    "CREATE INDEX events_source ON events(source);"
    "CREATE INDEX events_severity ON events(severity);"
    "CREATE INDEX events_ns ON events(k8s_namespace);"
    "CREATE INDEX events_state ON events(state);"
    "CREATE TABLE cursors ("
    "  channel_id INTEGER PRIMARY KEY,"
    "  cursor INTEGER NOT NULL);"
    "CREATE TABLE deliveries ("
    "  id INTEGER PRIMARY KEY,"
    "  channel_id INTEGER NOT NULL,"
    "  event_seq INTEGER NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  first_ms INTEGER NOT NULL,"
    "  next_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  last_status INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  UNIQUE (channel_id, event_seq));"
    "CREATE INDEX deliveries_event ON deliveries(event_seq);"
    "CREATE INDEX deliveries_status ON deliveries(status, channel_id);",
    /* stats (GET /api/stats): a covering index for counts over a time range
     * grouped by any dimension, answered from the index alone. */
    "CREATE INDEX events_ts_dims ON events(ts_us, severity, state, source, k8s_namespace);",
    /* inputs' resume state (k8s resourceVersion, Docker last event time). */
    "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_ms INTEGER NOT NULL);",
    /* ingest cost (docs/performance.md): every index is one more B-tree
     * write per stored event. events_ts is the prefix of events_ts_dims, and
     * the low-cardinality single-column indexes only served queries that the
     * seq order (LIMIT) or events_ts_dims answer as well. */
    "DROP INDEX IF EXISTS events_ts;"
    "DROP INDEX IF EXISTS events_source;"
    "DROP INDEX IF EXISTS events_severity;"
    "DROP INDEX IF EXISTS events_ns;"
    "DROP INDEX IF EXISTS events_state;",
    /* ingest cost, round 3 (docs/performance.md): the UNIQUE index on the
     * 32-char TEXT id took ~45 bytes per entry; an index on idk (the id's
     * first 16 hex digits as an integer, hd_idk() below) takes ~12, so a group
     * commit dirties a third of the index pages. Uniqueness is kept by the
     * writer (it looks the id up by idk before inserting). SQLite cannot drop
     * a UNIQUE constraint in place: the table is rebuilt. raw_enc: 0 = raw
     * as received, 1 = zstd (compressed before it reaches the writer; about a
     * third of the size, two or three rows per 4 KB page instead of one). */
    "CREATE TABLE events_v5 ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL,"
    "  idk INTEGER NOT NULL,"
    "  source TEXT NOT NULL,"
    "  ts_us INTEGER NOT NULL,"
    "  recv_us INTEGER NOT NULL,"
    "  severity INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  name TEXT, description TEXT, url TEXT, host TEXT, container_id TEXT,"
    "  k8s_namespace TEXT, k8s_pod TEXT, k8s_container TEXT, k8s_kind TEXT, k8s_name TEXT,"
    "  labels TEXT, alert_key TEXT, raw BLOB,"
    "  raw_enc INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO events_v5 (seq, id, idk, source, ts_us, recv_us, severity, state, name, description, url,"
    "  host, container_id, k8s_namespace, k8s_pod, k8s_container, k8s_kind, k8s_name, labels, alert_key, raw)"
    "  SELECT seq, id, hd_idk(id), source, ts_us, recv_us, severity, state, name, description, url,"
    "  host, container_id, k8s_namespace, k8s_pod, k8s_container, k8s_kind, k8s_name, labels, alert_key, raw"
    "  FROM events ORDER BY seq;"
    "DROP TABLE events;"
    "ALTER TABLE events_v5 RENAME TO events;"
    "CREATE INDEX events_idk ON events(idk);"
    "CREATE INDEX events_ts_dims ON events(ts_us, severity, state, source, k8s_namespace);",
    /* ingest cost, round 4 (docs/performance.md): the raws of one append of
     * SQ_BLOB_MIN_EVENTS or more events are stored together as one blob (enc
     * 1 = one zstd frame of their concatenation, 0 = as is); each event's raw
     * column then holds a 32-byte reference (raw_enc 2: rid, offset, length,
     * and its share of the stored bytes, for retention by size). One frame
     * over similar events compresses several times better than one frame per
     * event, and costs one B-tree insert per request instead of raw bytes in
     * every row. seq_lo..seq_hi are the events referencing the blob (they are
     * contiguous: one append), so retention knows when it is unreferenced. */
    "CREATE TABLE raws ("
    "  rid INTEGER PRIMARY KEY,"
    "  seq_lo INTEGER NOT NULL,"
    "  seq_hi INTEGER NOT NULL,"
    "  enc INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  data BLOB NOT NULL);",
};
#define SQ_SCHEMA_VERSION ((int)(sizeof(sq_migrations) / sizeof(sq_migrations[0])))

#define EV_COLS                                                                                              \
    "seq, id, source, ts_us, recv_us, severity, state, name, description, url, host, "                       \
    "container_id, k8s_namespace, k8s_pod, k8s_container, k8s_kind, k8s_name, labels, alert_key, "           \
    "raw, raw_enc"
#define CH_COLS "id, version, created_ms, modified_ms, name, type, enabled, managed_by, json"
#define DL_COLS                                                                                              \
    "id, channel_id, event_seq, event_id, status, attempts, first_ms, next_ms, updated_ms, "                 \
    "last_status, last_error"
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
    Q_EV_SEQ_BY_ID,
    Q_EV_AFTER,
    Q_EV_GET_ID,
    Q_EV_GET_SEQ,
    Q_CH_LIST,
    Q_CH_GET,
    Q_CH_GET_NAME,
    Q_CH_ID_BY_NAME,
    Q_CH_INSERT,
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
    Q_PR_SCAN,
    Q_PR_IS_PENDING,
    Q_PR_DEL_EVENT,
    Q_PR_DEL_DLS,
    Q_PR_PAGES,
    Q_MAX_RID,
    Q_RAW_INSERT,
    Q_RAW_GET,
    Q_RAW_RELEASE,
    Q__COUNT
};

static const char *const sq_sql[Q__COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT op",
    [Q_RELEASE] = "RELEASE op",
    [Q_ROLLBACK_TO] = "ROLLBACK TO op",
    [Q_MAX_SEQ] = "SELECT coalesce(max(seq), 0) FROM events",
    [Q_EV_INSERT] = "INSERT INTO events (" EV_COLS ", idk) VALUES "
                    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
                    "?20, ?21, ?22)",
    [Q_EV_SEQ_BY_ID] = "SELECT seq FROM events WHERE idk = ?2 AND id = ?1",
    [Q_EV_AFTER] = "SELECT " EV_COLS " FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [Q_EV_GET_ID] = "SELECT " EV_COLS " FROM events WHERE idk = ?2 AND id = ?1",
    [Q_EV_GET_SEQ] = "SELECT " EV_COLS " FROM events WHERE seq = ?1",
    [Q_CH_LIST] = "SELECT " CH_COLS " FROM channels ORDER BY id",
    [Q_CH_GET] = "SELECT " CH_COLS " FROM channels WHERE id = ?1",
    [Q_CH_GET_NAME] = "SELECT " CH_COLS " FROM channels WHERE name = ?1",
    [Q_CH_ID_BY_NAME] = "SELECT id FROM channels WHERE name = ?1",
    [Q_CH_INSERT] =
        "INSERT INTO channels (name, type, enabled, version, created_ms, modified_ms, managed_by, json) "
        "VALUES (?1, ?2, ?3, 1, ?4, ?4, ?5, ?6)",
    [Q_CH_META] = "SELECT version, created_ms FROM channels WHERE id = ?1",
    [Q_CH_UPDATE] = "UPDATE channels SET name = ?2, type = ?3, enabled = ?4, managed_by = ?5, json = ?6, "
                    "version = version + 1, modified_ms = ?7 WHERE id = ?1",
    [Q_CH_DELETE] = "DELETE FROM channels WHERE id = ?1",
    [Q_CUR_INSERT] = "INSERT OR REPLACE INTO cursors (channel_id, cursor) VALUES (?1, ?2)",
    [Q_CUR_GET] = "SELECT cursor FROM cursors WHERE channel_id = ?1",
    [Q_CUR_ADVANCE] = "UPDATE cursors SET cursor = ?2 WHERE channel_id = ?1 AND cursor < ?2",
    [Q_CUR_DELETE] = "DELETE FROM cursors WHERE channel_id = ?1",
    [Q_CUR_MIN] = "SELECT min(cursor) FROM cursors",
    [Q_DL_PENDING_TO_FAILED] =
        "UPDATE deliveries SET status = 1, last_error = 'channel deleted', updated_ms = ?2 "
        "WHERE channel_id = ?1 AND status = 0",
    [Q_DL_DEAD_AFTER] =
        "INSERT INTO deliveries (" DL_INS_COLS ") "
        "SELECT ?1, seq, id, 1, 0, ?3, 0, ?3, 0, 'channel deleted' FROM events WHERE seq > ?2 "
        "ON CONFLICT (channel_id, event_seq) DO NOTHING",
    [Q_DL_DELETE_ONE] = "DELETE FROM deliveries WHERE channel_id = ?1 AND event_seq = ?2",
    /* ?3 '' = look the event id up; ?6 0 = keep (or on insert: now) the first failure time. */
    [Q_DL_UPSERT] = "INSERT INTO deliveries (" DL_INS_COLS ") VALUES "
                    "(?1, ?2, coalesce(nullif(?3, ''), (SELECT id FROM events WHERE seq = ?2), ''), ?4, ?5, "
                    " CASE WHEN ?6 = 0 THEN ?8 ELSE ?6 END, ?7, ?8, ?9, ?10) "
                    "ON CONFLICT (channel_id, event_seq) DO UPDATE SET event_id = excluded.event_id, "
                    "status = excluded.status, attempts = excluded.attempts, "
                    "first_ms = CASE WHEN ?6 = 0 THEN deliveries.first_ms ELSE ?6 END, "
                    "next_ms = excluded.next_ms, updated_ms = excluded.updated_ms, "
                    "last_status = excluded.last_status, last_error = excluded.last_error",
    [Q_DL_DUE] = "SELECT " DL_COLS " FROM deliveries WHERE channel_id = ?1 AND status = 0 AND next_ms <= ?2 "
                 "ORDER BY event_seq LIMIT ?3",
    [Q_DL_LIST] = "SELECT " DL_COLS " FROM deliveries WHERE (?1 = 0 OR channel_id = ?1) "
                  "AND (?2 < 0 OR status = ?2) ORDER BY updated_ms DESC, id DESC LIMIT ?3",
    [Q_DL_OF_EVENT] = "SELECT " DL_COLS " FROM deliveries WHERE event_seq = ?1 ORDER BY channel_id",
    [Q_DL_RETRY] = "UPDATE deliveries SET status = 0, attempts = 0, next_ms = ?2, updated_ms = ?2 "
                   "WHERE id = ?1 AND status = 1 AND channel_id IN (SELECT id FROM channels)",
    [Q_DL_RETRY_CH] = "UPDATE deliveries SET status = 0, attempts = 0, next_ms = ?2, updated_ms = ?2 "
                      "WHERE channel_id = ?1 AND status = 1 AND channel_id IN (SELECT id FROM channels)",
    /* Only events the cursor already passed: the ones after it are delivered anyway. */
    [Q_DL_REPLAY] = "INSERT INTO deliveries (" DL_INS_COLS ") "
                    "SELECT ?1, seq, id, 0, 0, ?4, ?4, ?4, 0, NULL FROM events "
                    "WHERE ts_us >= ?2 AND ts_us <= ?3 AND seq <= ?5 "
                    "ON CONFLICT (channel_id, event_seq) DO NOTHING",
    [Q_DL_PENDING_COUNT] = "SELECT count(*) FROM deliveries WHERE channel_id = ?1 AND status = 0",
    [Q_PR_SCAN] = "SELECT seq, recv_us, coalesce(length(raw), 0) + coalesce(length(name), 0) + "
                  "coalesce(length(description), 0) + coalesce(length(labels), 0), raw_enc, "
                  "CASE WHEN raw_enc = 2 THEN raw END "
                  "FROM events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
    [Q_PR_IS_PENDING] = "SELECT 1 FROM deliveries WHERE event_seq = ?1 AND status = 0 LIMIT 1",
    [Q_PR_DEL_EVENT] = "DELETE FROM events WHERE seq = ?1",
    [Q_PR_DEL_DLS] = "DELETE FROM deliveries WHERE event_seq = ?1",
    [Q_PR_PAGES] = "SELECT (SELECT page_count FROM pragma_page_count()) - "
                   "(SELECT freelist_count FROM pragma_freelist_count()), "
                   "(SELECT page_size FROM pragma_page_size())",
    [Q_MAX_RID] = "SELECT coalesce(max(rid), 0) FROM raws",
    [Q_RAW_INSERT] =
        "INSERT INTO raws (rid, seq_lo, seq_hi, enc, size, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_RAW_GET] = "SELECT enc, size, data FROM raws WHERE rid = ?1",
    /* A blob goes with the last event referencing it. */
    [Q_RAW_RELEASE] = "DELETE FROM raws WHERE rid = ?1 AND NOT EXISTS "
                      "(SELECT 1 FROM events WHERE seq BETWEEN raws.seq_lo AND raws.seq_hi)",
};

/* events_query filters: one cached statement per combination present. The
 * fragments are constants; every value is bound to its fixed ?N. */
enum { QF_FROM, QF_TO, QF_SEV, QF_STATE, QF_SOURCE, QF_NS, QF_Q, QF_BEFORE, QF__COUNT };
static const char *const qf_sql[QF__COUNT] = {
    [QF_FROM] = " AND ts_us >= ?1",
    [QF_TO] = " AND ts_us <= ?2",
    [QF_SEV] = " AND severity <= ?3",
    [QF_STATE] = " AND state = ?4",
    [QF_SOURCE] = " AND source = ?5",
    [QF_NS] = " AND k8s_namespace = ?6",
    [QF_Q] = " AND (name LIKE ?7 ESCAPE '\\' OR description LIKE ?7 ESCAPE '\\')",
    [QF_BEFORE] = " AND seq < ?8",
};
#define QF_LIMIT_PARAM 9

/* ---- connections ------------------------------------------------------ */

struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *st[Q__COUNT];
    sqlite3_stmt *query[1u << QF__COUNT];
    struct sq_conn *next; /* pool link */
    ZSTD_DCtx *dctx;      /* raw_enc 1 and 2, created on first use */
    struct sq_blob *blob; /* raw_enc 2: the decompressed blob last used, one reference held */
};

/* A decompressed blob of raws (table raws), shared by reference count
 * between the store's cache and the connections reading from it. */
struct sq_blob {
    int64_t rid;
    size_t len;
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

    /* Guarded by mu: the op queue, stopping, and every op's done flag. */
    pthread_mutex_t mu;
    pthread_cond_t wake; /* writer: work queued or stopping */
    struct sq_op *head, *tail;
    int stopping;
    int writer_started;
    pthread_t writer;

    /* Writer thread only (and open/close, before/after it runs). */
    struct sq_conn *w;
    int64_t max_seq;
    int64_t max_rid; /* last rid of raws */

    /* The blobs read last, so that the rows of one request read by several
     * calls (a dispatcher batch, a page of the API) decompress it once. */
    pthread_mutex_t blob_mu;
    struct sq_blob *blob_slot[SQ_BLOB_CACHE_SLOTS];
    unsigned blob_next;

    _Atomic int64_t pub_max_seq; /* last committed seq, for every thread */

    pthread_mutex_t pool_mu; /* guards pool */
    struct sq_conn *pool;
    size_t pool_idle;
    ZSTD_CCtx *zc[SQ_ZC_POOL]; /* idle compression contexts, guarded by pool_mu */
    size_t nzc;

    /* Background checkpoints (see sq_ckpt_main). ckpt_mu guards ckpt_want
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
};

static struct sq_store *sq_of(struct hd_store *st)
{
    return (struct sq_store *)st;
}

static void blob_release(struct sq_blob *b)
{
    if (b != NULL && atomic_fetch_sub(&b->refs, 1) == 1) {
        free(b);
    }
}

static int sq_fail(struct sq_conn *c, struct hd_err *err, const char *what)
{
    return hd_err_set(err, HD_EIO, "store: %s: %s", what, sqlite3_errmsg(c->db));
}

static void sq_conn_close(struct sq_conn *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < Q__COUNT; i++) {
        sqlite3_finalize(c->st[i]);
    }
    for (size_t i = 0; i < (1u << QF__COUNT); i++) {
        sqlite3_finalize(c->query[i]);
    }
    sqlite3_close(c->db);
    ZSTD_freeDCtx(c->dctx);
    blob_release(c->blob);
    free(c);
}

static struct sq_conn *sq_conn_open(const char *path, int flags, struct hd_err *err)
{
    struct sq_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        hd_err_set(err, HD_ENOMEM, "store: out of memory");
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        hd_err_set(err, HD_EIO, "store: cannot open %s: %s", path,
                   c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sq_conn_close(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, SQ_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(c->db, 1);
    return c;
}

/* The cached statement id of c, prepared on first use. */
static sqlite3_stmt *sq_stmt(struct sq_conn *c, enum sq_stmt_id id, struct hd_err *err)
{
    if (c->st[id] == NULL) {
        int rc = sqlite3_prepare_v3(c->db, sq_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id], NULL);
        if (rc != SQLITE_OK) {
            hd_err_set(err, HD_EIO, "store: preparing statement %d: %s", (int)id, sqlite3_errmsg(c->db));
            c->st[id] = NULL;
            return NULL;
        }
    }
    return c->st[id];
}

/* Runs a statement that returns no rows (its parameters already bound). */
static int sq_step_done(struct sq_conn *c, sqlite3_stmt *st, struct hd_err *err, const char *what)
{
    int rc = sqlite3_step(st);
    int ret = HD_OK;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        ret = sq_fail(c, err, what);
    }
    sqlite3_reset(st);
    return ret;
}

static int sq_exec_id(struct sq_conn *c, enum sq_stmt_id id, struct hd_err *err, const char *what)
{
    sqlite3_stmt *st = sq_stmt(c, id, err);
    if (st == NULL) {
        return HD_EIO;
    }
    return sq_step_done(c, st, err, what);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL) {
        sqlite3_bind_null(st, i);
    } else {
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    }
}

/* Single int64 result of a one-row query; *found = 0 if no row (or NULL). */
static int sq_query_i64(struct sq_conn *c, sqlite3_stmt *st, int64_t *out, int *found, struct hd_err *err,
                        const char *what)
{
    int rc = sqlite3_step(st);
    int ret = HD_OK;
    *found = 0;
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
            *out = sqlite3_column_int64(st, 0);
            *found = 1;
        }
    } else if (rc != SQLITE_DONE) {
        ret = sq_fail(c, err, what);
    }
    sqlite3_reset(st);
    return ret;
}

static int col_dup(sqlite3_stmt *st, int i, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        return HD_OK;
    }
    const unsigned char *p = sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    char *s = malloc(n + 1);
    if (s == NULL) {
        return HD_ENOMEM;
    }
    if (n > 0 && p != NULL) {
        memcpy(s, p, n);
    }
    s[n] = '\0';
    *out = s;
    return HD_OK;
}

static void col_fixed(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *p = sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    if (p == NULL) {
        n = 0;
    }
    if (n >= cap) {
        n = cap - 1;
    }
    if (n > 0) {
        memcpy(dst, p, n);
    }
    dst[n] = '\0';
}

/* ---- pool of read connections ----------------------------------------- */

static struct sq_conn *sq_reader(struct sq_store *s, struct hd_err *err)
{
    pthread_mutex_lock(&s->pool_mu);
    struct sq_conn *c = s->pool;
    if (c != NULL) {
        s->pool = c->next;
        s->pool_idle--;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (c != NULL) {
        c->next = NULL;
        return c;
    }
    return sq_conn_open(s->path, SQLITE_OPEN_READONLY, err);
}

static void sq_reader_put(struct sq_store *s, struct sq_conn *c)
{
    if (c == NULL) {
        return;
    }
    blob_release(c->blob); /* the store's cache may keep it; an idle connection holds none */
    c->blob = NULL;
    pthread_mutex_lock(&s->pool_mu);
    if (s->pool_idle < SQ_POOL_IDLE_MAX) {
        c->next = s->pool;
        s->pool = c;
        s->pool_idle++;
        c = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    sq_conn_close(c);
}

/* ---- the writer ------------------------------------------------------- */

static void sq_group_fail(struct sq_op *group, const struct hd_err *why)
{
    for (struct sq_op *o = group; o != NULL; o = o->next) {
        if (o->rc == HD_OK) {
            o->rc = HD_EIO;
            o->err = *why;
            o->err.code = HD_EIO;
        }
    }
}

/* Runs the ops of one group in one transaction, each in its own savepoint,
 * and commits. On return every op has its rc; rc == HD_OK means committed. */
static void sq_run_group(struct sq_store *s, struct sq_op *group)
{
    struct sq_conn *c = s->w;
    int64_t saved_max = s->max_seq;
    int64_t saved_rid = s->max_rid;
    struct hd_err why = {0};
    for (struct sq_op *o = group; o != NULL; o = o->next) {
        o->rc = HD_OK;
    }
    if (sq_exec_id(c, Q_BEGIN, &why, "starting a transaction") != HD_OK) {
        sq_group_fail(group, &why);
        return;
    }
    for (struct sq_op *o = group; o != NULL; o = o->next) {
        int64_t before = s->max_seq;
        int64_t before_rid = s->max_rid;
        if (sq_exec_id(c, Q_SAVEPOINT, &o->err, "savepoint") != HD_OK) {
            o->rc = HD_EIO;
            continue;
        }
        o->rc = o->apply(s, c, o->arg, &o->err);
        if (sqlite3_get_autocommit(c->db)) {
            /* SQLite rolled the whole transaction back (I/O error, disk
             * full): nothing of this group survives. */
            hd_err_set(&why, HD_EIO, "store: transaction aborted: %s", sqlite3_errmsg(c->db));
            s->max_seq = saved_max;
            s->max_rid = saved_rid;
            sq_group_fail(group, &why);
            return;
        }
        if (o->rc != HD_OK) {
            struct hd_err ignored;
            s->max_seq = before;
            s->max_rid = before_rid;
            sq_exec_id(c, Q_ROLLBACK_TO, &ignored, "rollback to savepoint");
        }
        struct hd_err rel;
        if (sq_exec_id(c, Q_RELEASE, &rel, "release savepoint") != HD_OK && o->rc == HD_OK) {
            o->rc = HD_EIO;
            o->err = rel;
        }
    }
    if (sq_exec_id(c, Q_COMMIT, &why, "committing") != HD_OK) {
        struct hd_err ignored;
        if (!sqlite3_get_autocommit(c->db)) {
            sq_exec_id(c, Q_ROLLBACK, &ignored, "rollback");
        }
        s->max_seq = saved_max;
        s->max_rid = saved_rid;
        hd_log(HD_LOG_ERROR, "store: commit failed: %s", why.msg);
        sq_group_fail(group, &why);
    }
}

/* ---- checkpoints ------------------------------------------------------
 *
 * DESIGN: SQLite's automatic checkpoint runs inside COMMIT on the writer, so
 * every ~4 MB of WAL one ingest group waited for the copy of the WAL into the
 * database and its fsync. Here wal_autocheckpoint is 0 on the writer; its WAL
 * hook (called after each commit with the WAL's frame count) wakes a thread
 * that runs PASSIVE checkpoints on its own connection - never blocking the
 * writer nor the readers - each time SQ_CKPT_SOFT_BYTES more of WAL await
 * copying. A PASSIVE checkpoint under continuous writes never
 * ends exactly at the WAL's end, so the WAL would never restart from its
 * beginning and would grow: past SQ_CKPT_HARD_BYTES the writer itself runs a
 * PASSIVE checkpoint between two groups (nothing is written meanwhile, the
 * background one already copied nearly all), after which the next write
 * restarts the WAL and journal_size_limit truncates the file. Durability is
 * unchanged: a commit is synced in the WAL (synchronous=FULL); a checkpoint
 * syncs the WAL before copying and the database before the WAL is reused. */

static int sq_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct sq_store *s = arg;
    atomic_store(&s->wal_frames, frames);
    /* Only past SQ_CKPT_SOFT_BYTES of WAL not yet copied: waking it after
     * every commit made checkpoints of a few frames, each with two fsyncs
     * competing with the commits' own and rewriting the same hot pages. */
    int done = atomic_load(&s->ckpt_frames);
    if (frames < done) {
        done = 0; /* the WAL restarted */
    }
    if ((int64_t)(frames - done) * s->page_size >= SQ_CKPT_SOFT_BYTES && s->ckpt_started) {
        pthread_mutex_lock(&s->ckpt_mu);
        if (!s->ckpt_want) {
            s->ckpt_want = 1;
            pthread_cond_signal(&s->ckpt_cv);
        }
        pthread_mutex_unlock(&s->ckpt_mu);
    }
    return SQLITE_OK;
}

static void sq_ckpt_catch_up(struct sq_store *s)
{
    if ((int64_t)atomic_load(&s->wal_frames) * s->page_size < SQ_CKPT_HARD_BYTES) {
        return;
    }
    int log = 0;
    int done = 0;
    int rc = sqlite3_wal_checkpoint_v2(s->w->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        hd_log(HD_LOG_WARN, "store: checkpoint: %s", sqlite3_errmsg(s->w->db));
    }
    /* Checked again after the next commit resets the WAL (its hook says so). */
    atomic_store(&s->wal_frames, 0);
    atomic_store(&s->ckpt_frames, 0);
}

static void *sq_ckpt_main(void *arg)
{
    struct sq_store *s = arg;
    pthread_mutex_lock(&s->ckpt_mu);
    for (;;) {
        while (!s->ckpt_want && !s->ckpt_stop) {
            pthread_cond_wait(&s->ckpt_cv, &s->ckpt_mu);
        }
        if (s->ckpt_stop) {
            break;
        }
        s->ckpt_want = 0;
        pthread_mutex_unlock(&s->ckpt_mu);
        int log = 0;
        int done = 0;
        int rc = sqlite3_wal_checkpoint_v2(s->ckc->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
            hd_log(HD_LOG_WARN, "store: background checkpoint: %s", sqlite3_errmsg(s->ckc->db));
        } else if (done > 0) {
            atomic_store(&s->ckpt_frames, done);
        }
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    return NULL;
}

/* Opens the checkpointer's connection and thread; without them (an error is
 * logged) SQLite's automatic checkpoint stays on: slower, still correct. */
static void sq_ckpt_start(struct sq_store *s)
{
    struct hd_err err = {0};
    s->ckc = sq_conn_open(s->path, SQLITE_OPEN_READWRITE, &err);
    if (s->ckc == NULL ||
        sqlite3_exec(s->ckc->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
        hd_log(HD_LOG_WARN, "store: no background checkpoints: %s", err.msg[0] ? err.msg : "pragma failed");
        sq_conn_close(s->ckc);
        s->ckc = NULL;
        return;
    }
    if (pthread_create(&s->ckpt, NULL, sq_ckpt_main, s) != 0) {
        hd_log(HD_LOG_WARN, "store: no background checkpoints: cannot start the thread");
        sq_conn_close(s->ckc);
        s->ckc = NULL;
        return;
    }
    s->ckpt_started = 1;
    sqlite3_wal_autocheckpoint(s->w->db, 0);
    sqlite3_wal_hook(s->w->db, sq_wal_hook, s);
}

static void *sq_writer_main(void *arg)
{
    struct sq_store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->head == NULL && !s->stopping) {
            pthread_cond_wait(&s->wake, &s->mu);
        }
        if (s->head == NULL) {
            break; /* stopping and drained */
        }
        struct sq_op *group = s->head;
        s->head = NULL;
        s->tail = NULL;
        pthread_mutex_unlock(&s->mu);

        sq_run_group(s, group);
        sq_ckpt_catch_up(s);
        /* With herald_events_stored_total: events per group commit. */
        hd_metrics_add("herald_store_commits_total", NULL, 1);

        /* Published before any completion runs: a caller woken below may
         * wake the dispatcher, which must see these events. */
        atomic_store(&s->pub_max_seq, s->max_seq);
        struct sq_op *async_head = NULL;
        struct sq_op **async_tail = &async_head;
        pthread_mutex_lock(&s->mu);
        /* Once done is set the caller may return and free the op: read next first. */
        for (struct sq_op *o = group; o != NULL;) {
            struct sq_op *next = o->next;
            if (o->done_fn != NULL) {
                o->next = NULL;
                *async_tail = o;
                async_tail = &o->next;
            } else {
                o->done = 1;
                /* Safe under s->mu: the caller cannot return (and destroy cv)
                 * before this thread releases the mutex. */
                pthread_cond_signal(&o->cv);
            }
            o = next;
        }
        if (async_head != NULL) {
            pthread_mutex_unlock(&s->mu);
            for (struct sq_op *o = async_head; o != NULL;) {
                struct sq_op *next = o->next;
                o->done_fn(o->done_ud, o->rc, o->rc == HD_OK ? NULL : &o->err);
                free(o);
                o = next;
            }
            pthread_mutex_lock(&s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Queues a write and sleeps until the transaction holding it committed. */
static int sq_submit(struct sq_store *s, sq_apply_fn fn, void *arg, struct hd_err *err)
{
    struct sq_op op = {.apply = fn, .arg = arg};
    pthread_cond_init(&op.cv, NULL);
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        pthread_cond_destroy(&op.cv);
        return hd_err_set(err, HD_ESHUTDOWN, "store: closing");
    }
    if (s->tail != NULL) {
        s->tail->next = &op;
    } else {
        s->head = &op;
    }
    s->tail = &op;
    pthread_cond_signal(&s->wake);
    while (!op.done) {
        pthread_cond_wait(&op.cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_cond_destroy(&op.cv);
    if (op.rc != HD_OK && err != NULL) {
        *err = op.err;
        err->code = op.rc;
    }
    return op.rc;
}

/* ---- row decoding ----------------------------------------------------- */

/* The table's static name for a stored source; NULL if the row holds none
 * the model knows (a damaged row, or one written by a newer herald). */
static const char *source_static(const char *s)
{
    const struct hd_source *src = hd_source_find(s);
    return src != NULL ? src->name : NULL;
}

static const char *const sq_states[] = {
    [HD_STATE_ACTIVE] = "ACTIVE",
    [HD_STATE_OK] = "OK",
    [HD_STATE_RESOLVED] = "RESOLVED",
};

/* Reads a row of EV_COLS into ev (zeroed first). On failure ev is cleared. */
/* raw_enc 1: one zstd frame that records its content size. A corrupt frame
 * fails the read like an allocation failure would (the row stays as it is). */
/* Little-endian int64 fields of a raw_enc 2 reference. */
static void ref_put(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(u >> (8 * i));
    }
}

static int64_t ref_get(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--) {
        u = (u << 8) | p[i];
    }
    return (int64_t)u;
}

struct blob_ref {
    int64_t rid, off, len, share;
};

static int ref_decode(const void *p, size_t n, struct blob_ref *r)
{
    if (p == NULL || n != SQ_BLOB_REF_LEN) {
        return HD_EIO;
    }
    const unsigned char *b = p;
    *r = (struct blob_ref){ref_get(b), ref_get(b + 8), ref_get(b + 16), ref_get(b + 24)};
    return r->off >= 0 && r->len >= 0 ? HD_OK : HD_EIO;
}

/* Reads and decompresses blob rid (one reference for the caller). */
static int blob_load(struct sq_conn *c, int64_t rid, struct sq_blob **out)
{
    struct hd_err err;
    sqlite3_stmt *q = sq_stmt(c, Q_RAW_GET, &err);
    if (q == NULL) {
        hd_log(HD_LOG_ERROR, "store: %s", err.msg);
        return HD_EIO;
    }
    sqlite3_bind_int64(q, 1, rid);
    int rc = HD_EIO;
    struct sq_blob *b = NULL;
    int step = sqlite3_step(q);
    if (step != SQLITE_ROW) {
        hd_log(HD_LOG_ERROR, "store: raws %lld: %s", (long long)rid,
               step == SQLITE_DONE ? "missing" : sqlite3_errmsg(c->db));
        goto out;
    }
    int enc = sqlite3_column_int(q, 0);
    int64_t size = sqlite3_column_int64(q, 1);
    const void *p = sqlite3_column_blob(q, 2);
    size_t n = (size_t)sqlite3_column_bytes(q, 2);
    if (size < 0 || size > INT_MAX || (enc != 0 && enc != 1) || (enc == 0 && (size_t)size != n)) {
        hd_log(HD_LOG_ERROR, "store: raws %lld: bad size or encoding", (long long)rid);
        goto out;
    }
    b = malloc(sizeof(*b) + (size_t)size + 1);
    if (b == NULL) {
        rc = HD_ENOMEM;
        goto out;
    }
    b->rid = rid;
    b->len = (size_t)size;
    atomic_init(&b->refs, 1);
    if (enc == 0) {
        if (n > 0) {
            memcpy(b->data, p, n);
        }
    } else {
        if (c->dctx == NULL && (c->dctx = ZSTD_createDCtx()) == NULL) {
            rc = HD_ENOMEM;
            goto out;
        }
        size_t got = ZSTD_decompressDCtx(c->dctx, b->data, (size_t)size, p, n);
        if (ZSTD_isError(got) || got != (size_t)size) {
            hd_log(HD_LOG_ERROR, "store: raws %lld: does not decompress", (long long)rid);
            goto out;
        }
    }
    *out = b;
    b = NULL;
    rc = HD_OK;
out:
    sqlite3_reset(q);
    free(b);
    return rc;
}

/* Makes c->blob the blob rid: the one c holds, one in the store's cache, or
 * read and decompressed (then cached if not too large). */
static int blob_use(struct sq_store *s, struct sq_conn *c, int64_t rid)
{
    if (c->blob != NULL && c->blob->rid == rid) {
        return HD_OK;
    }
    blob_release(c->blob);
    c->blob = NULL;
    pthread_mutex_lock(&s->blob_mu);
    for (size_t i = 0; i < SQ_BLOB_CACHE_SLOTS; i++) {
        struct sq_blob *b = s->blob_slot[i];
        if (b != NULL && b->rid == rid) {
            atomic_fetch_add(&b->refs, 1);
            c->blob = b;
            break;
        }
    }
    pthread_mutex_unlock(&s->blob_mu);
    if (c->blob != NULL) {
        return HD_OK;
    }
    struct sq_blob *b = NULL;
    int rc = blob_load(c, rid, &b);
    if (rc != HD_OK) {
        return rc;
    }
    c->blob = b;
    if (b->len <= SQ_BLOB_CACHE_MAX) {
        atomic_fetch_add(&b->refs, 1);
        pthread_mutex_lock(&s->blob_mu);
        struct sq_blob *old = s->blob_slot[s->blob_next];
        s->blob_slot[s->blob_next] = b;
        s->blob_next = (s->blob_next + 1) % SQ_BLOB_CACHE_SLOTS;
        pthread_mutex_unlock(&s->blob_mu);
        blob_release(old);
    }
    return HD_OK;
}

/* Where a row's raw comes from: its size, and how to fill it. */
struct raw_src {
    int enc;       /* raw_enc; -1: NULL */
    const void *p; /* enc 0: the bytes; enc 1: the frame; enc 2: the blob's bytes */
    size_t n;      /* enc 1: the frame's length */
    size_t size;   /* the raw's length */
};

static int raw_locate(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *st, int64_t seq, struct raw_src *r)
{
    *r = (struct raw_src){.enc = -1};
    if (sqlite3_column_type(st, 19) == SQLITE_NULL) {
        return HD_OK;
    }
    const void *p = sqlite3_column_blob(st, 19);
    size_t n = (size_t)sqlite3_column_bytes(st, 19);
    int enc = sqlite3_column_int(st, 20);
    if (enc == 1) {
        unsigned long long size = ZSTD_getFrameContentSize(p, n);
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
            size >= (unsigned long long)INT_MAX) {
            hd_log(HD_LOG_ERROR, "store: event %lld: raw is not a valid zstd frame", (long long)seq);
            return HD_EIO;
        }
        *r = (struct raw_src){.enc = 1, .p = p, .n = n, .size = (size_t)size};
        return HD_OK;
    }
    if (enc == 2) {
        struct blob_ref ref;
        if (ref_decode(p, n, &ref) != HD_OK) {
            hd_log(HD_LOG_ERROR, "store: event %lld: bad raw reference", (long long)seq);
            return HD_EIO;
        }
        int rc = blob_use(s, c, ref.rid);
        if (rc != HD_OK) {
            return rc;
        }
        if ((uint64_t)ref.off > c->blob->len || (uint64_t)ref.len > c->blob->len - (uint64_t)ref.off) {
            hd_log(HD_LOG_ERROR, "store: event %lld: raw reference outside its blob", (long long)seq);
            return HD_EIO;
        }
        *r = (struct raw_src){.enc = 2, .p = c->blob->data + ref.off, .size = (size_t)ref.len};
        return HD_OK;
    }
    *r = (struct raw_src){.enc = 0, .p = p, .size = n};
    return HD_OK;
}

/* Reads a row of EV_COLS into ev (zeroed first). Its strings and raw share
 * one allocation (ev->block): one malloc and one free per event read instead
 * of fourteen, on the delivery path. On failure ev is cleared. */
static int row_event(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *st, struct hd_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->seq = sqlite3_column_int64(st, 0);
    col_fixed(st, 1, ev->id, sizeof(ev->id));
    ev->source = source_static((const char *)sqlite3_column_text(st, 2));
    if (ev->source == NULL) {
        hd_log(HD_LOG_ERROR, "store: event %lld: unknown source in the stored row", (long long)ev->seq);
        memset(ev, 0, sizeof(*ev));
        return HD_EIO;
    }
    ev->ts_us = sqlite3_column_int64(st, 3);
    ev->recv_us = sqlite3_column_int64(st, 4);
    ev->severity = sqlite3_column_int(st, 5);
    int state = sqlite3_column_int(st, 6);
    ev->state =
        (state >= HD_STATE_ACTIVE && state <= HD_STATE_RESOLVED) ? (enum hd_state)state : HD_STATE_ACTIVE;
    struct raw_src raw;
    int rc = raw_locate(s, c, st, ev->seq, &raw);
    if (rc != HD_OK) {
        return rc;
    }
    char **str[] = {&ev->name,         &ev->description,   &ev->url,     &ev->host,
                    &ev->container_id, &ev->k8s_namespace, &ev->k8s_pod, &ev->k8s_container,
                    &ev->k8s_kind,     &ev->k8s_name,      &ev->labels,  &ev->alert_key};
    enum { NSTR = sizeof(str) / sizeof(str[0]) };
    const unsigned char *txt[NSTR];
    size_t len[NSTR];
    size_t total = raw.enc >= 0 ? raw.size + 1 : 0;
    for (size_t i = 0; i < NSTR; i++) {
        txt[i] = sqlite3_column_text(st, (int)i + 7); /* text first, then its length */
        len[i] = txt[i] != NULL ? (size_t)sqlite3_column_bytes(st, (int)i + 7) : 0;
        total += txt[i] != NULL ? len[i] + 1 : 0;
    }
    if (total == 0) {
        return HD_OK;
    }
    char *blk = malloc(total);
    if (blk == NULL) {
        return HD_ENOMEM;
    }
    char *w = blk;
    if (raw.enc >= 0) {
        ev->raw = w;
        ev->raw_len = raw.size;
        if (raw.enc == 1) {
            if (c->dctx == NULL && (c->dctx = ZSTD_createDCtx()) == NULL) {
                free(blk);
                return HD_ENOMEM;
            }
            size_t got = ZSTD_decompressDCtx(c->dctx, w, raw.size, raw.p, raw.n);
            if (ZSTD_isError(got) || got != raw.size) {
                hd_log(HD_LOG_ERROR, "store: event %lld: raw does not decompress", (long long)ev->seq);
                free(blk);
                memset(ev, 0, sizeof(*ev));
                return HD_EIO;
            }
        } else if (raw.size > 0) {
            memcpy(w, raw.p, raw.size);
        }
        w[raw.size] = '\0';
        w += raw.size + 1;
    }
    for (size_t i = 0; i < NSTR; i++) {
        if (txt[i] != NULL) {
            memcpy(w, txt[i], len[i]);
            w[len[i]] = '\0';
            *str[i] = w;
            w += len[i] + 1;
        }
    }
    ev->block = blk;
    return HD_OK;
}

/* Steps st to the end (or max rows) collecting events; resets st. */
static int collect_events(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *st, size_t max,
                          struct hd_event **out, size_t *n, struct hd_err *err)
{
    struct hd_event *evs = NULL;
    size_t cnt = 0;
    size_t cap = 0;
    int ret = HD_OK;
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            break;
        }
        if (rc != SQLITE_ROW) {
            ret = sq_fail(c, err, "reading events");
            goto out;
        }
        if (cnt >= max) {
            break;
        }
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            struct hd_event *p = realloc(evs, ncap * sizeof(*p));
            if (p == NULL) {
                ret = hd_err_set(err, HD_ENOMEM, "store: out of memory reading events");
                goto out;
            }
            evs = p;
            cap = ncap;
        }
        int rrc = row_event(s, c, st, &evs[cnt]);
        if (rrc != HD_OK) {
            ret = hd_err_set(err, rrc,
                             rrc == HD_ENOMEM ? "store: out of memory reading events"
                                              : "store: event %lld cannot be read (see the log)",
                             (long long)sqlite3_column_int64(st, 0));
            goto out;
        }
        cnt++;
    }
out:
    sqlite3_reset(st);
    if (ret != HD_OK) {
        hd_events_free(evs, cnt);
        return ret;
    }
    *out = evs;
    *n = cnt;
    return HD_OK;
}

static int row_channel(sqlite3_stmt *st, struct hd_channel_rec *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    r->version = sqlite3_column_int64(st, 1);
    r->created_ms = sqlite3_column_int64(st, 2);
    r->modified_ms = sqlite3_column_int64(st, 3);
    r->enabled = sqlite3_column_int(st, 6);
    if (col_dup(st, 4, &r->name) != HD_OK || col_dup(st, 5, &r->type) != HD_OK ||
        col_dup(st, 7, &r->managed_by) != HD_OK || col_dup(st, 8, &r->json) != HD_OK) {
        hd_channel_rec_clear(r);
        return HD_ENOMEM;
    }
    return HD_OK;
}

static int row_delivery(sqlite3_stmt *st, struct hd_delivery *d)
{
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(st, 0);
    d->channel_id = sqlite3_column_int64(st, 1);
    d->event_seq = sqlite3_column_int64(st, 2);
    col_fixed(st, 3, d->event_id, sizeof(d->event_id));
    d->status = (enum hd_delivery_status)sqlite3_column_int(st, 4);
    d->attempts = sqlite3_column_int(st, 5);
    d->first_ms = sqlite3_column_int64(st, 6);
    d->next_ms = sqlite3_column_int64(st, 7);
    d->updated_ms = sqlite3_column_int64(st, 8);
    d->last_status = sqlite3_column_int(st, 9);
    return col_dup(st, 10, &d->last_error);
}

static int collect_deliveries(struct sq_conn *c, sqlite3_stmt *st, struct hd_delivery **out, size_t *n,
                              struct hd_err *err)
{
    struct hd_delivery *ds = NULL;
    size_t cnt = 0;
    size_t cap = 0;
    int ret = HD_OK;
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            break;
        }
        if (rc != SQLITE_ROW) {
            ret = sq_fail(c, err, "reading deliveries");
            goto out;
        }
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            struct hd_delivery *p = realloc(ds, ncap * sizeof(*p));
            if (p == NULL) {
                ret = hd_err_set(err, HD_ENOMEM, "store: out of memory reading deliveries");
                goto out;
            }
            ds = p;
            cap = ncap;
        }
        if (row_delivery(st, &ds[cnt]) != HD_OK) {
            ret = hd_err_set(err, HD_ENOMEM, "store: out of memory reading deliveries");
            goto out;
        }
        cnt++;
    }
out:
    sqlite3_reset(st);
    if (ret != HD_OK) {
        hd_deliveries_free(ds, cnt);
        return ret;
    }
    *out = ds;
    *n = cnt;
    return HD_OK;
}

static size_t clamp_limit(size_t limit)
{
    if (limit == 0) {
        return SQ_DEFAULT_LIMIT;
    }
    return limit > SQ_MAX_LIMIT ? SQ_MAX_LIMIT : limit;
}

/* ---- writes: ops run by the writer ------------------------------------ */

/* raw as stored: compressed by the caller's thread (append_zip), so the
 * serial writer only copies the compressed bytes into its pages. */
struct zraw {
    const void *p; /* enc 0 and 1: the bytes of column raw */
    size_t len;
    int enc;     /* raw_enc */
    int64_t off; /* enc 2: the event's slice of the blob, and its share of the stored bytes */
    int64_t share;
};

/* The raws of one append as one blob (table raws). */
struct zblob {
    const void *p; /* NULL: no blob */
    size_t len;    /* stored bytes */
    size_t size;   /* raw bytes */
    int enc;       /* raws.enc */
};

struct append_args {
    struct hd_event *evs;
    size_t n;
    struct zraw *z; /* n entries, or NULL: every raw as is */
    struct zblob blob;
};

static ZSTD_CCtx *zc_get(struct sq_store *s)
{
    ZSTD_CCtx *z = NULL;
    pthread_mutex_lock(&s->pool_mu);
    if (s->nzc > 0) {
        z = s->zc[--s->nzc];
    }
    pthread_mutex_unlock(&s->pool_mu);
    return z != NULL ? z : ZSTD_createCCtx();
}

static void zc_put(struct sq_store *s, ZSTD_CCtx *z)
{
    pthread_mutex_lock(&s->pool_mu);
    if (s->nzc < SQ_ZC_POOL) {
        s->zc[s->nzc++] = z;
        z = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    ZSTD_freeCCtx(z);
}

static size_t raws_total(const struct hd_event *evs, size_t n)
{
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        t += evs[i].raw != NULL ? evs[i].raw_len : 0;
    }
    return t;
}

/* Whether an append stores its raws as one blob. */
static int zip_as_blob(size_t n, size_t total)
{
    return n >= SQ_BLOB_MIN_EVENTS && total >= SQ_Z_MIN && total <= (size_t)INT_MAX;
}

/* Bytes append_zip needs after the zraw array; *total: the raws' bytes,
 * which append_zip takes again. */
static size_t zip_bound(const struct hd_event *evs, size_t n, size_t *total_out)
{
    size_t total = raws_total(evs, n);
    *total_out = total;
    if (zip_as_blob(n, total)) {
        return ZSTD_compressBound(total);
    }
    size_t b = 0;
    for (size_t i = 0; i < n; i++) {
        if (evs[i].raw != NULL && evs[i].raw_len >= SQ_Z_MIN) {
            b += ZSTD_compressBound(evs[i].raw_len);
        }
    }
    return b;
}

/* One zstd frame of every raw in turn into buf (cap bytes); 0 on failure. */
static size_t zip_stream(ZSTD_CCtx *cc, const struct hd_event *evs, size_t n, size_t total,
                         unsigned char *buf, size_t cap)
{
    if (ZSTD_isError(ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, SQ_Z_LEVEL)) ||
        ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cc, total))) {
        return 0;
    }
    ZSTD_outBuffer out = {buf, cap, 0};
    for (size_t i = 0; i < n; i++) {
        if (evs[i].raw == NULL || evs[i].raw_len == 0) {
            continue;
        }
        ZSTD_inBuffer in = {evs[i].raw, evs[i].raw_len, 0};
        while (in.pos < in.size) {
            if (ZSTD_isError(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_continue))) {
                return 0;
            }
        }
    }
    ZSTD_inBuffer none = {NULL, 0, 0};
    size_t left;
    do {
        left = ZSTD_compressStream2(cc, &out, &none, ZSTD_e_end);
        if (ZSTD_isError(left)) {
            return 0;
        }
    } while (left != 0);
    return out.pos;
}

/* Fills z[0..n) (and *blob) from evs, compressing into buf (zip_bound
 * bytes). Blob: the raws of n >= SQ_BLOB_MIN_EVENTS events as one frame (or
 * concatenated as they are if it does not shrink). Otherwise one frame per
 * raw; a raw that is short, or does not shrink, or a missing context: as is. */
static void append_zip(struct sq_store *s, const struct hd_event *evs, size_t n, size_t total, struct zraw *z,
                       struct zblob *blob, unsigned char *buf)
{
    *blob = (struct zblob){0};
    ZSTD_CCtx *cc = NULL;
    if (zip_as_blob(n, total)) {
        size_t cap = ZSTD_compressBound(total);
        cc = zc_get(s);
        size_t got = cc != NULL ? zip_stream(cc, evs, n, total, buf, cap) : 0;
        *blob = (struct zblob){.p = buf, .len = got, .size = total, .enc = 1};
        if (got == 0 || got >= total) {
            blob->len = 0;
            for (size_t i = 0; i < n; i++) {
                if (evs[i].raw != NULL && evs[i].raw_len > 0) {
                    memcpy(buf + blob->len, evs[i].raw, evs[i].raw_len);
                    blob->len += evs[i].raw_len;
                }
            }
            blob->enc = 0;
        }
        int64_t off = 0;
        for (size_t i = 0; i < n; i++) {
            size_t len = evs[i].raw != NULL ? evs[i].raw_len : 0;
            /* share of the stored bytes, rounded up: retention by size */
            int64_t share = (int64_t)((len * (uint64_t)blob->len + total - 1) / total);
            z[i] = evs[i].raw == NULL ? (struct zraw){0}
                                      : (struct zraw){.len = len, .enc = 2, .off = off, .share = share};
            off += (int64_t)len;
        }
        if (cc != NULL) {
            zc_put(s, cc);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        z[i] = (struct zraw){.p = evs[i].raw, .len = evs[i].raw_len, .enc = 0};
        if (evs[i].raw == NULL || evs[i].raw_len < SQ_Z_MIN) {
            continue;
        }
        if (cc == NULL) {
            cc = zc_get(s);
            if (cc == NULL) {
                continue;
            }
        }
        size_t cap = ZSTD_compressBound(evs[i].raw_len);
        size_t got = ZSTD_compressCCtx(cc, buf, cap, evs[i].raw, evs[i].raw_len, SQ_Z_LEVEL);
        if (!ZSTD_isError(got) && got < evs[i].raw_len) {
            z[i] = (struct zraw){.p = buf, .len = got, .enc = 1};
        }
        buf += cap;
    }
    if (cc != NULL) {
        zc_put(s, cc);
    }
}

/* The integer key of an id (column idk): its first 16 characters as hex
 * digits, the leading 32 bits being the source's seconds, so keys of one
 * group are near each other in the index. A non-hex character (ids are
 * normally lowercase hex) contributes its low 4 bits: any id maps to some key,
 * and equal ids to equal keys; the id itself is always compared too. */
static int64_t id_key(const char *id)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 16 && id[i] != '\0'; i++) {
        unsigned char ch = (unsigned char)id[i];
        unsigned d = 0;
        if (ch >= '0' && ch <= '9') {
            d = (unsigned)(ch - '0');
        } else if (ch >= 'a' && ch <= 'f') {
            d = (unsigned)(ch - 'a' + 10);
        } else {
            d = ch & 0xfu;
        }
        v = (v << 4) | d;
    }
    return (int64_t)v; /* two's complement wrap: the order of keys does not matter */
}

/* hd_idk(id) for the migration that fills idk in existing rows. */
static void sql_idk(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *id = sqlite3_value_text(argv[0]);
    sqlite3_result_int64(ctx, id_key(id != NULL ? (const char *)id : ""));
}

static int op_append(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct append_args *a = arg;
    sqlite3_stmt *ins = sq_stmt(c, Q_EV_INSERT, err);
    sqlite3_stmt *sel = sq_stmt(c, Q_EV_SEQ_BY_ID, err);
    sqlite3_stmt *rins = a->blob.p != NULL ? sq_stmt(c, Q_RAW_INSERT, err) : NULL;
    if (ins == NULL || sel == NULL || (a->blob.p != NULL && rins == NULL)) {
        return HD_EIO;
    }
    /* The blob is inserted after the rows, once their seqs are known, and
     * only if one of them is new. */
    int64_t rid = s->max_rid + 1;
    int64_t seq_lo = 0;
    int64_t seq_hi = 0;
    for (size_t i = 0; i < a->n; i++) {
        struct hd_event *ev = &a->evs[i];
        ev->duplicate = 0;
        int64_t idk = id_key(ev->id);
        /* Same id stored before, or earlier in this batch or group: the
         * uncommitted rows of the open transaction are visible here. */
        sqlite3_bind_text(sel, 1, ev->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(sel, 2, idk);
        int found = 0;
        int64_t old = 0;
        if (sq_query_i64(c, sel, &old, &found, err, "looking up a duplicate") != HD_OK) {
            hd_err_prefix(err, "events[%zu]: ", i);
            return HD_EIO;
        }
        if (found) {
            ev->seq = old;
            ev->duplicate = 1;
            continue;
        }
        int64_t seq = s->max_seq + 1;
        sqlite3_bind_int64(ins, 1, seq);
        sqlite3_bind_text(ins, 2, ev->id, -1, SQLITE_STATIC);
        bind_text(ins, 3, ev->source);
        sqlite3_bind_int64(ins, 4, ev->ts_us);
        sqlite3_bind_int64(ins, 5, ev->recv_us);
        sqlite3_bind_int(ins, 6, ev->severity);
        sqlite3_bind_int(ins, 7, (int)ev->state);
        const char *strs[] = {ev->name,         ev->description,   ev->url,     ev->host,
                              ev->container_id, ev->k8s_namespace, ev->k8s_pod, ev->k8s_container,
                              ev->k8s_kind,     ev->k8s_name,      ev->labels,  ev->alert_key};
        for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
            bind_text(ins, (int)k + 8, strs[k]);
        }
        struct zraw zr = a->z != NULL ? a->z[i] : (struct zraw){.p = ev->raw, .len = ev->raw_len, .enc = 0};
        unsigned char ref[SQ_BLOB_REF_LEN];
        if (zr.enc == 2) {
            ref_put(ref, rid);
            ref_put(ref + 8, zr.off);
            ref_put(ref + 16, (int64_t)zr.len);
            ref_put(ref + 24, zr.share);
            sqlite3_bind_blob(ins, 20, ref, (int)sizeof(ref), SQLITE_STATIC);
        } else if (zr.p == NULL) {
            sqlite3_bind_null(ins, 20);
        } else {
            sqlite3_bind_blob64(ins, 20, zr.p, (sqlite3_uint64)zr.len, SQLITE_STATIC);
        }
        sqlite3_bind_int(ins, 21, zr.enc);
        sqlite3_bind_int64(ins, 22, idk);
        if (sq_step_done(c, ins, err, "storing an event") != HD_OK) {
            hd_err_prefix(err, "events[%zu]: ", i);
            return HD_EIO;
        }
        s->max_seq = seq;
        ev->seq = seq;
        seq_lo = seq_lo == 0 ? seq : seq_lo;
        seq_hi = seq;
    }
    if (a->blob.p != NULL && seq_hi != 0) {
        sqlite3_bind_int64(rins, 1, rid);
        sqlite3_bind_int64(rins, 2, seq_lo);
        sqlite3_bind_int64(rins, 3, seq_hi);
        sqlite3_bind_int(rins, 4, a->blob.enc);
        sqlite3_bind_int64(rins, 5, (int64_t)a->blob.size);
        sqlite3_bind_blob64(rins, 6, a->blob.p, (sqlite3_uint64)a->blob.len, SQLITE_STATIC);
        if (sq_step_done(c, rins, err, "storing the raws of a batch") != HD_OK) {
            return HD_EIO;
        }
        s->max_rid = rid;
    }
    return HD_OK;
}

static int append_check(const struct hd_event *evs, size_t n, struct hd_err *err)
{
    if (n > 0 && evs == NULL) {
        return hd_err_set(err, HD_EINVAL, "events: NULL with n=%zu", n);
    }
    for (size_t i = 0; i < n; i++) {
        if (evs[i].id[0] == '\0' || memchr(evs[i].id, '\0', sizeof(evs[i].id)) == NULL) {
            return hd_err_set(err, HD_EINVAL, "events[%zu].id: empty or not NUL-terminated", i);
        }
        if (source_static(evs[i].source) == NULL) {
            return hd_err_set(err, HD_EINVAL, "events[%zu].source: '%.64s' is no known source", i,
                              evs[i].source != NULL ? evs[i].source : "(none)");
        }
        if (evs[i].raw_len > (size_t)INT_MAX) {
            return hd_err_set(err, HD_ETOOBIG, "events[%zu].raw: %zu bytes, over the store's 2 GiB limit", i,
                              evs[i].raw_len);
        }
    }
    return HD_OK;
}

static int sq_append(struct hd_store *st, struct hd_event *evs, size_t n, struct hd_err *err)
{
    if (n == 0) {
        return HD_OK;
    }
    int rc = append_check(evs, n, err);
    if (rc != HD_OK) {
        return rc;
    }
    struct sq_store *s = sq_of(st);
    size_t total = 0;
    size_t zb = zip_bound(evs, n, &total);
    struct zraw *z = malloc(n * sizeof(*z) + zb);
    struct append_args a = {.evs = evs, .n = n, .z = z};
    if (z != NULL) { /* else stored uncompressed */
        append_zip(s, evs, n, total, z, &a.blob, (unsigned char *)(z + n));
    }
    rc = sq_submit(s, op_append, &a, err);
    free(z);
    return rc;
}

/* The op and its arguments in one allocation, freed by the writer. */
struct sq_async_append {
    struct sq_op op;
    struct append_args a;
};

static int sq_append_async(struct hd_store *st, struct hd_event *evs, size_t n, hd_store_done_fn done,
                           void *ud, struct hd_err *err)
{
    struct sq_store *s = sq_of(st);
    if (done == NULL) {
        return hd_err_set(err, HD_EINVAL, "append_async: no completion callback");
    }
    int rc = append_check(evs, n, err);
    if (rc != HD_OK) {
        return rc;
    }
    /* One allocation, freed by the writer: the op, then the zraw array, then
     * the compressed bytes. */
    size_t total = 0;
    size_t zb = zip_bound(evs, n, &total);
    if (n > (SIZE_MAX - sizeof(struct sq_async_append) - zb) / sizeof(struct zraw)) {
        return hd_err_set(err, HD_ETOOBIG, "store: append of %zu events too large", n);
    }
    struct sq_async_append *q = malloc(sizeof(*q) + n * sizeof(struct zraw) + zb);
    if (q == NULL) {
        return hd_err_set(err, HD_ENOMEM, "store: out of memory queuing an append");
    }
    memset(q, 0, sizeof(*q));
    struct zraw *z = (struct zraw *)(void *)(q + 1);
    q->a = (struct append_args){.evs = evs, .n = n, .z = z};
    append_zip(s, evs, n, total, z, &q->a.blob, (unsigned char *)(z + n));
    q->op.apply = op_append;
    q->op.arg = &q->a;
    q->op.done_fn = done;
    q->op.done_ud = ud;
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        free(q);
        return hd_err_set(err, HD_ESHUTDOWN, "store: closing");
    }
    if (s->tail != NULL) {
        s->tail->next = &q->op;
    } else {
        s->head = &q->op;
    }
    s->tail = &q->op;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    return HD_OK;
}

/* Channels. */

struct chan_args {
    int64_t id;
    int64_t expected_version;
    int64_t now_ms;
    const struct hd_channel_rec *in;
    /* results */
    int64_t out_id, out_version, out_created;
};

static int chan_validate(const struct hd_channel_rec *in, struct hd_err *err)
{
    if (in == NULL) {
        return hd_err_set(err, HD_EINVAL, "channel: missing");
    }
    if (in->name == NULL || in->name[0] == '\0') {
        return hd_err_set(err, HD_EINVAL, "name: required");
    }
    if (in->type == NULL || in->type[0] == '\0') {
        return hd_err_set(err, HD_EINVAL, "type: required");
    }
    return HD_OK;
}

/* ECONFLICT if name belongs to a channel other than self_id. */
static int chan_name_free(struct sq_conn *c, const char *name, int64_t self_id, struct hd_err *err)
{
    sqlite3_stmt *st = sq_stmt(c, Q_CH_ID_BY_NAME, err);
    if (st == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int64_t id = 0;
    int found = 0;
    if (sq_query_i64(c, st, &id, &found, err, "looking up a channel name") != HD_OK) {
        return HD_EIO;
    }
    if (found && id != self_id) {
        return hd_err_set(err, HD_ECONFLICT, "name: a channel named %s already exists", name);
    }
    return HD_OK;
}

/* version and created_ms of a channel; ENOTFOUND if none. */
static int chan_meta(struct sq_conn *c, int64_t id, int64_t *version, int64_t *created, struct hd_err *err)
{
    sqlite3_stmt *st = sq_stmt(c, Q_CH_META, err);
    if (st == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    int ret = HD_OK;
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int64(st, 0);
        *created = sqlite3_column_int64(st, 1);
    } else if (rc == SQLITE_DONE) {
        ret = hd_err_set(err, HD_ENOTFOUND, "id: no channel with id %lld", (long long)id);
    } else {
        ret = sq_fail(c, err, "reading a channel");
    }
    sqlite3_reset(st);
    return ret;
}

static void bind_channel(sqlite3_stmt *st, const struct hd_channel_rec *in, int first)
{
    sqlite3_bind_text(st, first, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 1, in->type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, first + 2, in->enabled ? 1 : 0);
}

static int op_channel_create(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct chan_args *a = arg;
    int rc = chan_name_free(c, a->in->name, -1, err);
    if (rc != HD_OK) {
        return rc;
    }
    sqlite3_stmt *ins = sq_stmt(c, Q_CH_INSERT, err);
    sqlite3_stmt *cur = sq_stmt(c, Q_CUR_INSERT, err);
    if (ins == NULL || cur == NULL) {
        return HD_EIO;
    }
    bind_channel(ins, a->in, 1);
    sqlite3_bind_int64(ins, 4, a->now_ms);
    bind_text(ins, 5, a->in->managed_by);
    bind_text(ins, 6, a->in->json != NULL ? a->in->json : "{}");
    if (sq_step_done(c, ins, err, "creating a channel") != HD_OK) {
        return HD_EIO;
    }
    a->out_id = sqlite3_last_insert_rowid(c->db);
    a->out_version = 1;
    a->out_created = a->now_ms;
    /* A new channel gets what is ingested after it exists, not the history. */
    sqlite3_bind_int64(cur, 1, a->out_id);
    sqlite3_bind_int64(cur, 2, s->max_seq);
    return sq_step_done(c, cur, err, "creating a channel cursor");
}

static int op_channel_update(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct chan_args *a = arg;
    int64_t version = 0;
    int64_t created = 0;
    int rc = chan_meta(c, a->id, &version, &created, err);
    if (rc != HD_OK) {
        return rc;
    }
    if (a->expected_version >= 0 && a->expected_version != version) {
        return hd_err_set(err, HD_ECONFLICT, "version: stale version %lld, current is %lld",
                          (long long)a->expected_version, (long long)version);
    }
    rc = chan_name_free(c, a->in->name, a->id, err);
    if (rc != HD_OK) {
        return rc;
    }
    sqlite3_stmt *up = sq_stmt(c, Q_CH_UPDATE, err);
    if (up == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(up, 1, a->id);
    bind_channel(up, a->in, 2);
    bind_text(up, 5, a->in->managed_by);
    bind_text(up, 6, a->in->json != NULL ? a->in->json : "{}");
    sqlite3_bind_int64(up, 7, a->now_ms);
    if (sq_step_done(c, up, err, "updating a channel") != HD_OK) {
        return HD_EIO;
    }
    a->out_id = a->id;
    a->out_version = version + 1;
    a->out_created = created;
    return HD_OK;
}

/* out = copy of in with the stored id, version and times. */
static int chan_fill_out(const struct chan_args *a, int64_t now_ms, struct hd_channel_rec *out,
                         struct hd_err *err)
{
    if (out == NULL) {
        return HD_OK;
    }
    struct hd_channel_rec r = {
        .id = a->out_id,
        .version = a->out_version,
        .created_ms = a->out_created,
        .modified_ms = now_ms,
        .enabled = a->in->enabled ? 1 : 0,
        .name = hd_strdup(a->in->name),
        .type = hd_strdup(a->in->type),
        .managed_by = hd_strdup(a->in->managed_by),
        .json = hd_strdup(a->in->json != NULL ? a->in->json : "{}"),
    };
    if (r.name == NULL || r.type == NULL || r.json == NULL ||
        (a->in->managed_by != NULL && r.managed_by == NULL)) {
        hd_channel_rec_clear(&r);
        return hd_err_set(err, HD_ENOMEM, "store: out of memory");
    }
    *out = r;
    return HD_OK;
}

static int sq_channel_create(struct hd_store *st, const struct hd_channel_rec *in, int64_t now_ms,
                             struct hd_channel_rec *out, struct hd_err *err)
{
    int rc = chan_validate(in, err);
    if (rc != HD_OK) {
        return rc;
    }
    struct chan_args a = {.in = in, .now_ms = now_ms};
    rc = sq_submit(sq_of(st), op_channel_create, &a, err);
    if (rc != HD_OK) {
        return rc;
    }
    return chan_fill_out(&a, now_ms, out, err);
}

/* expected_version < 0 updates whatever the stored version is (config-managed
 * channels are rewritten at start without a version). */
static int sq_channel_update(struct hd_store *st, struct hd_channel_ref ref, const struct hd_channel_rec *in,
                             int64_t now_ms, struct hd_channel_rec *out, struct hd_err *err)
{
    int rc = chan_validate(in, err);
    if (rc != HD_OK) {
        return rc;
    }
    struct chan_args a = {.id = ref.id, .expected_version = ref.version, .in = in, .now_ms = now_ms};
    rc = sq_submit(sq_of(st), op_channel_update, &a, err);
    if (rc != HD_OK) {
        return rc;
    }
    return chan_fill_out(&a, now_ms, out, err);
}

struct delete_args {
    int64_t id;
    int64_t now_ms;
};

static int op_channel_delete(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct delete_args *a = arg;
    int64_t version = 0;
    int64_t created = 0;
    int rc = chan_meta(c, a->id, &version, &created, err);
    if (rc != HD_OK) {
        return rc;
    }
    sqlite3_stmt *cg = sq_stmt(c, Q_CUR_GET, err);
    if (cg == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(cg, 1, a->id);
    int64_t cursor = s->max_seq;
    int found = 0;
    if (sq_query_i64(c, cg, &cursor, &found, err, "reading a cursor") != HD_OK) {
        return HD_EIO;
    }
    if (!found) {
        cursor = s->max_seq;
    }
    /* PENDING first, so the insert below leaves those rows alone. */
    sqlite3_stmt *pf = sq_stmt(c, Q_DL_PENDING_TO_FAILED, err);
    if (pf == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(pf, 1, a->id);
    sqlite3_bind_int64(pf, 2, a->now_ms);
    if (sq_step_done(c, pf, err, "dead-lettering pending deliveries") != HD_OK) {
        return HD_EIO;
    }
    sqlite3_stmt *da = sq_stmt(c, Q_DL_DEAD_AFTER, err);
    if (da == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(da, 1, a->id);
    sqlite3_bind_int64(da, 2, cursor);
    sqlite3_bind_int64(da, 3, a->now_ms);
    if (sq_step_done(c, da, err, "dead-lettering undelivered events") != HD_OK) {
        return HD_EIO;
    }
    sqlite3_stmt *dc = sq_stmt(c, Q_CH_DELETE, err);
    sqlite3_stmt *dk = sq_stmt(c, Q_CUR_DELETE, err);
    if (dc == NULL || dk == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(dc, 1, a->id);
    sqlite3_bind_int64(dk, 1, a->id);
    if (sq_step_done(c, dc, err, "deleting a channel") != HD_OK ||
        sq_step_done(c, dk, err, "deleting a cursor") != HD_OK) {
        return HD_EIO;
    }
    return HD_OK;
}

static int sq_channel_delete(struct hd_store *st, int64_t id, struct hd_err *err)
{
    struct delete_args a = {.id = id, .now_ms = hd_now_ms()};
    return sq_submit(sq_of(st), op_channel_delete, &a, err);
}

/* Delivery state. */

struct progress_args {
    int64_t channel_id;
    int64_t new_cursor;
    const struct hd_delivery *ups;
    size_t n;
    int64_t now_ms;
};

static int op_progress(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct progress_args *a = arg;
    int64_t version = 0;
    int64_t created = 0;
    /* A deleted channel must not get rows back: they would pin the log. */
    int rc = chan_meta(c, a->channel_id, &version, &created, err);
    if (rc != HD_OK) {
        return rc;
    }
    if (a->new_cursor >= 0) {
        sqlite3_stmt *adv = sq_stmt(c, Q_CUR_ADVANCE, err);
        if (adv == NULL) {
            return HD_EIO;
        }
        sqlite3_bind_int64(adv, 1, a->channel_id);
        sqlite3_bind_int64(adv, 2, a->new_cursor);
        if (sq_step_done(c, adv, err, "advancing a cursor") != HD_OK) {
            return HD_EIO;
        }
    }
    sqlite3_stmt *del = sq_stmt(c, Q_DL_DELETE_ONE, err);
    sqlite3_stmt *ups = sq_stmt(c, Q_DL_UPSERT, err);
    if (del == NULL || ups == NULL) {
        return HD_EIO;
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct hd_delivery *d = &a->ups[i];
        if (d->status == HD_DELIVERY_DELIVERED) {
            sqlite3_bind_int64(del, 1, a->channel_id);
            sqlite3_bind_int64(del, 2, d->event_seq);
            if (sq_step_done(c, del, err, "clearing a delivery") != HD_OK) {
                hd_err_prefix(err, "ups[%zu]: ", i);
                return HD_EIO;
            }
            continue;
        }
        sqlite3_bind_int64(ups, 1, a->channel_id);
        sqlite3_bind_int64(ups, 2, d->event_seq);
        sqlite3_bind_text(ups, 3, d->event_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(ups, 4, (int)d->status);
        sqlite3_bind_int(ups, 5, d->attempts);
        sqlite3_bind_int64(ups, 6, d->first_ms);
        sqlite3_bind_int64(ups, 7, d->next_ms);
        sqlite3_bind_int64(ups, 8, d->updated_ms != 0 ? d->updated_ms : a->now_ms);
        sqlite3_bind_int(ups, 9, d->last_status);
        bind_text(ups, 10, d->last_error);
        if (sq_step_done(c, ups, err, "recording a delivery") != HD_OK) {
            hd_err_prefix(err, "ups[%zu]: ", i);
            return HD_EIO;
        }
    }
    return HD_OK;
}

static int sq_progress(struct hd_store *st, int64_t channel_id, int64_t new_cursor,
                       const struct hd_delivery *ups, size_t n, struct hd_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (ups[i].status != HD_DELIVERY_PENDING && ups[i].status != HD_DELIVERY_FAILED &&
            ups[i].status != HD_DELIVERY_DELIVERED) {
            return hd_err_set(err, HD_EINVAL, "ups[%zu].status: unknown status %d", i, (int)ups[i].status);
        }
        if (memchr(ups[i].event_id, '\0', sizeof(ups[i].event_id)) == NULL) {
            return hd_err_set(err, HD_EINVAL, "ups[%zu].event_id: not NUL-terminated", i);
        }
    }
    struct progress_args a = {
        .channel_id = channel_id, .new_cursor = new_cursor, .ups = ups, .n = n, .now_ms = hd_now_ms()};
    return sq_submit(sq_of(st), op_progress, &a, err);
}

struct retry_args {
    int64_t id; /* delivery id or channel id */
    int64_t now_ms;
    size_t count;
};

static int op_delivery_retry(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct retry_args *a = arg;
    sqlite3_stmt *st = sq_stmt(c, Q_DL_RETRY, err);
    if (st == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int64(st, 2, a->now_ms);
    if (sq_step_done(c, st, err, "retrying a delivery") != HD_OK) {
        return HD_EIO;
    }
    if (sqlite3_changes(c->db) == 0) {
        return hd_err_set(err, HD_ENOTFOUND, "id: no dead letter with id %lld (of an existing channel)",
                          (long long)a->id);
    }
    a->count = 1;
    return HD_OK;
}

static int sq_delivery_retry(struct hd_store *st, int64_t delivery_id, struct hd_err *err)
{
    struct retry_args a = {.id = delivery_id, .now_ms = hd_now_ms()};
    return sq_submit(sq_of(st), op_delivery_retry, &a, err);
}

static int op_delivery_retry_channel(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct retry_args *a = arg;
    sqlite3_stmt *st = sq_stmt(c, Q_DL_RETRY_CH, err);
    if (st == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int64(st, 2, a->now_ms);
    if (sq_step_done(c, st, err, "retrying dead letters") != HD_OK) {
        return HD_EIO;
    }
    a->count = (size_t)sqlite3_changes(c->db);
    return HD_OK;
}

static int sq_delivery_retry_channel(struct hd_store *st, int64_t channel_id, size_t *count,
                                     struct hd_err *err)
{
    struct retry_args a = {.id = channel_id, .now_ms = hd_now_ms()};
    int rc = sq_submit(sq_of(st), op_delivery_retry_channel, &a, err);
    if (rc == HD_OK && count != NULL) {
        *count = a.count;
    }
    return rc;
}

struct replay_args {
    int64_t channel_id;
    int64_t from_us, to_us;
    int64_t now_ms;
    size_t count;
};

static int op_replay(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct replay_args *a = arg;
    int64_t version = 0;
    int64_t created = 0;
    int rc = chan_meta(c, a->channel_id, &version, &created, err);
    if (rc != HD_OK) {
        return rc;
    }
    sqlite3_stmt *cg = sq_stmt(c, Q_CUR_GET, err);
    sqlite3_stmt *st = sq_stmt(c, Q_DL_REPLAY, err);
    if (cg == NULL || st == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(cg, 1, a->channel_id);
    int64_t cursor = 0;
    int found = 0;
    if (sq_query_i64(c, cg, &cursor, &found, err, "reading a cursor") != HD_OK) {
        return HD_EIO;
    }
    sqlite3_bind_int64(st, 1, a->channel_id);
    sqlite3_bind_int64(st, 2, a->from_us);
    sqlite3_bind_int64(st, 3, a->to_us);
    sqlite3_bind_int64(st, 4, a->now_ms);
    sqlite3_bind_int64(st, 5, found ? cursor : 0);
    if (sq_step_done(c, st, err, "queueing a replay") != HD_OK) {
        return HD_EIO;
    }
    a->count = (size_t)sqlite3_changes(c->db);
    return HD_OK;
}

/* to_us <= 0 means no upper bound. Events after the channel's cursor are not
 * queued: the cursor delivers them anyway, a row would send them twice. */
static int sq_replay(struct hd_store *st, int64_t channel_id, int64_t from_us, int64_t to_us, size_t *count,
                     struct hd_err *err)
{
    struct replay_args a = {.channel_id = channel_id,
                            .from_us = from_us,
                            .to_us = to_us > 0 ? to_us : INT64_MAX,
                            .now_ms = hd_now_ms()};
    int rc = sq_submit(sq_of(st), op_replay, &a, err);
    if (rc == HD_OK && count != NULL) {
        *count = a.count;
    }
    return rc;
}

/* Retention. */

struct prune_args {
    int64_t max_age_ms, max_bytes;
    int64_t now_us;
    size_t deleted;
};

static int op_prune(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct prune_args *a = arg;
    a->deleted = 0;
    sqlite3_stmt *mn = sq_stmt(c, Q_CUR_MIN, err);
    sqlite3_stmt *pg = sq_stmt(c, Q_PR_PAGES, err);
    sqlite3_stmt *scan = sq_stmt(c, Q_PR_SCAN, err);
    sqlite3_stmt *pend = sq_stmt(c, Q_PR_IS_PENDING, err);
    sqlite3_stmt *dev = sq_stmt(c, Q_PR_DEL_EVENT, err);
    sqlite3_stmt *ddl = sq_stmt(c, Q_PR_DEL_DLS, err);
    sqlite3_stmt *rrel = sq_stmt(c, Q_RAW_RELEASE, err);
    if (mn == NULL || pg == NULL || scan == NULL || pend == NULL || dev == NULL || ddl == NULL ||
        rrel == NULL) {
        return HD_EIO;
    }
    /* Nothing a channel has not been handed yet may go. */
    int64_t bound = s->max_seq;
    int64_t min_cursor = 0;
    int found = 0;
    if (sq_query_i64(c, mn, &min_cursor, &found, err, "reading cursors") != HD_OK) {
        return HD_EIO;
    }
    if (found && min_cursor < bound) {
        bound = min_cursor;
    }
    int64_t cut = a->max_age_ms > 0 ? a->now_us - a->max_age_ms * 1000 : INT64_MIN;
    int64_t excess = 0;
    if (a->max_bytes > 0) {
        int rc = sqlite3_step(pg);
        if (rc == SQLITE_ROW) {
            int64_t used = sqlite3_column_int64(pg, 0) * sqlite3_column_int64(pg, 1);
            if (used > a->max_bytes) {
                excess = used - a->max_bytes;
            }
        }
        sqlite3_reset(pg);
        if (rc != SQLITE_ROW) {
            return sq_fail(c, err, "reading the database size");
        }
    }
    int64_t after = 0;
    int stop = 0;
    while (!stop && a->deleted < SQ_PRUNE_CHUNK) {
        int64_t victims[SQ_PRUNE_SCAN];
        int64_t vrids[SQ_PRUNE_SCAN]; /* blob each victim references, or 0 */
        size_t nv = 0;
        size_t rows = 0;
        sqlite3_bind_int64(scan, 1, after);
        sqlite3_bind_int64(scan, 2, bound);
        sqlite3_bind_int(scan, 3, SQ_PRUNE_SCAN);
        int rc;
        for (;;) {
            rc = sqlite3_step(scan);
            if (rc != SQLITE_ROW) {
                break;
            }
            int64_t seq = sqlite3_column_int64(scan, 0);
            int64_t recv_us = sqlite3_column_int64(scan, 1);
            int64_t size = sqlite3_column_int64(scan, 2) + SQ_ROW_OVERHEAD;
            struct blob_ref ref = {0};
            if (sqlite3_column_int(scan, 3) == 2 &&
                ref_decode(sqlite3_column_blob(scan, 4), (size_t)sqlite3_column_bytes(scan, 4), &ref) ==
                    HD_OK) {
                size += ref.share;
            }
            rows++;
            after = seq;
            /* recv_us follows seq (arrival order), so the first young
             * event ends the age pass. */
            if (recv_us >= cut && excess <= 0) {
                stop = 1;
                break;
            }
            sqlite3_bind_int64(pend, 1, seq);
            int64_t one = 0;
            int pending = 0;
            if (sq_query_i64(c, pend, &one, &pending, err, "checking pending deliveries") != HD_OK) {
                sqlite3_reset(scan);
                return HD_EIO;
            }
            if (pending) {
                continue;
            }
            vrids[nv] = ref.rid;
            victims[nv++] = seq;
            excess -= size;
            if (a->deleted + nv >= SQ_PRUNE_CHUNK) {
                break;
            }
        }
        sqlite3_reset(scan);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            return sq_fail(c, err, "scanning events to prune");
        }
        if (rows == 0) {
            stop = 1;
        }
        for (size_t i = 0; i < nv; i++) {
            /* Dead letters of a pruned event cannot be replayed any more. */
            sqlite3_bind_int64(dev, 1, victims[i]);
            sqlite3_bind_int64(ddl, 1, victims[i]);
            if (sq_step_done(c, dev, err, "pruning an event") != HD_OK ||
                sq_step_done(c, ddl, err, "pruning dead letters") != HD_OK) {
                return HD_EIO;
            }
        }
        for (size_t i = 0; i < nv; i++) {
            if (vrids[i] != 0 && (i + 1 == nv || vrids[i + 1] != vrids[i])) {
                sqlite3_bind_int64(rrel, 1, vrids[i]);
                if (sq_step_done(c, rrel, err, "pruning the raws of a batch") != HD_OK) {
                    return HD_EIO;
                }
            }
        }
        a->deleted += nv;
    }
    return HD_OK;
}

/* Runs in chunks of SQ_PRUNE_CHUNK, one transaction each, so ingest commits
 * interleave with a large prune instead of waiting for all of it. */
static int sq_prune(struct hd_store *st, int64_t max_age_ms, int64_t max_bytes, size_t *deleted,
                    struct hd_err *err)
{
    size_t total = 0;
    int rc = HD_OK;
    for (;;) {
        struct prune_args a = {.max_age_ms = max_age_ms, .max_bytes = max_bytes, .now_us = hd_now_us()};
        rc = sq_submit(sq_of(st), op_prune, &a, err);
        if (rc != HD_OK) {
            break;
        }
        total += a.deleted;
        if (a.deleted < SQ_PRUNE_CHUNK) {
            break;
        }
    }
    if (deleted != NULL) {
        *deleted = total;
    }
    return rc;
}

/* ---- reads ------------------------------------------------------------ */

static int sq_events_after(struct hd_store *st, int64_t after_seq, size_t limit, struct hd_event **out,
                           size_t *n, struct hd_err *err)
{
    struct sq_store *s = sq_of(st);
    if (limit == 0) {
        limit = SQ_DEFAULT_LIMIT;
    }
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        return HD_EIO;
    }
    int rc = HD_EIO;
    sqlite3_stmt *q = sq_stmt(c, Q_EV_AFTER, err);
    if (q != NULL) {
        sqlite3_bind_int64(q, 1, after_seq);
        sqlite3_bind_int64(q, 2, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
        rc = collect_events(s, c, q, limit, out, n, err);
    }
    sq_reader_put(s, c);
    return rc;
}

/* Converts the current row of q into out. */
typedef int (*sq_row_fn)(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *q, void *out);

/* One row of statement id on a reader: looked up by text (?1, and its
 * id_key as ?2 when with_idk) or by num (?1). *found = 0 when there is none;
 * what names the record in errors ("an event"). */
static int read_one(struct sq_store *s, enum sq_stmt_id id, const char *text, int with_idk, int64_t num,
                    sq_row_fn row, void *out, int *found, const char *what, struct hd_err *err)
{
    *found = 0;
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        return HD_EIO;
    }
    int rc = HD_EIO;
    sqlite3_stmt *q = sq_stmt(c, id, err);
    if (q != NULL) {
        if (text != NULL) {
            sqlite3_bind_text(q, 1, text, -1, SQLITE_STATIC);
            if (with_idk) {
                sqlite3_bind_int64(q, 2, id_key(text));
            }
        } else {
            sqlite3_bind_int64(q, 1, num);
        }
        int step = sqlite3_step(q);
        if (step == SQLITE_ROW) {
            *found = 1;
            rc = row(s, c, q, out);
            if (rc != HD_OK) {
                hd_err_set(err, rc,
                           rc == HD_ENOMEM ? "store: out of memory reading %s"
                                           : "store: %s cannot be read (see the log)",
                           what);
            }
        } else if (step == SQLITE_DONE) {
            rc = HD_OK;
        } else {
            rc = hd_err_set(err, HD_EIO, "store: reading %s: %s", what, sqlite3_errmsg(c->db));
        }
        sqlite3_reset(q);
    }
    sq_reader_put(s, c);
    return rc;
}

static int row_event_fn(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *q, void *out)
{
    return row_event(s, c, q, out);
}

static int event_get_one(struct sq_store *s, enum sq_stmt_id id, const char *key, int64_t seq,
                         struct hd_event *out, struct hd_err *err)
{
    int found = 0;
    int rc = read_one(s, id, key, 1, seq, row_event_fn, out, &found, "an event", err);
    if (rc == HD_OK && !found) {
        rc = key != NULL ? hd_err_set(err, HD_ENOTFOUND, "id: no event with id %s", key)
                         : hd_err_set(err, HD_ENOTFOUND, "seq: no event with seq %lld", (long long)seq);
    }
    return rc;
}

static int sq_event_get(struct hd_store *st, const char *id, struct hd_event *out, struct hd_err *err)
{
    if (id == NULL) {
        return hd_err_set(err, HD_EINVAL, "id: missing");
    }
    return event_get_one(sq_of(st), Q_EV_GET_ID, id, 0, out, err);
}

static int sq_event_get_seq(struct hd_store *st, int64_t seq, struct hd_event *out, struct hd_err *err)
{
    return event_get_one(sq_of(st), Q_EV_GET_SEQ, NULL, seq, out, err);
}

/* The statement for this filter combination, built from constant fragments. */
static sqlite3_stmt *query_stmt(struct sq_conn *c, unsigned mask, struct hd_err *err)
{
    if (c->query[mask] != NULL) {
        return c->query[mask];
    }
    char sql[1024];
    size_t len = 0;
    const char *parts[QF__COUNT + 2];
    size_t np = 0;
    parts[np++] = "SELECT " EV_COLS " FROM events WHERE 1";
    for (unsigned f = 0; f < QF__COUNT; f++) {
        if (mask & (1u << f)) {
            parts[np++] = qf_sql[f];
        }
    }
    parts[np++] = " ORDER BY seq DESC LIMIT ?9";
    for (size_t i = 0; i < np; i++) {
        size_t pl = strlen(parts[i]);
        if (len + pl + 1 > sizeof(sql)) {
            hd_err_set(err, HD_EIO, "store: query text too long");
            return NULL;
        }
        memcpy(sql + len, parts[i], pl);
        len += pl;
    }
    sql[len] = '\0';
    if (sqlite3_prepare_v3(c->db, sql, (int)len, SQLITE_PREPARE_PERSISTENT, &c->query[mask], NULL) !=
        SQLITE_OK) {
        hd_err_set(err, HD_EIO, "store: preparing the events query: %s", sqlite3_errmsg(c->db));
        c->query[mask] = NULL;
        return NULL;
    }
    return c->query[mask];
}

/* "%q%" with LIKE's metacharacters escaped by backslash. Caller frees. */
static char *like_pattern(const char *q)
{
    size_t n = strlen(q);
    char *p = malloc(2 * n + 3);
    if (p == NULL) {
        return NULL;
    }
    size_t k = 0;
    p[k++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\') {
            p[k++] = '\\';
        }
        p[k++] = q[i];
    }
    p[k++] = '%';
    p[k] = '\0';
    return p;
}

/* The filters of q that are set, as a QF_ mask (QF_BEFORE excepted: only
 * the events listing pages), and its state as an index of sq_states (-1:
 * any). HD_EINVAL naming the state when it is not one. */
static int query_filters(const struct hd_event_query *q, int *state_out, unsigned *mask_out,
                         struct hd_err *err)
{
    int state = -1;
    if (q->state != NULL) {
        for (int i = 0; i < (int)(sizeof(sq_states) / sizeof(sq_states[0])); i++) {
            if (strcasecmp(q->state, sq_states[i]) == 0) {
                state = i;
            }
        }
        if (state < 0) {
            return hd_err_set(err, HD_EINVAL, "state: unknown state '%s' (ACTIVE, OK or RESOLVED)", q->state);
        }
    }
    unsigned mask = 0;
    mask |= q->from_us != 0 ? 1u << QF_FROM : 0;
    mask |= q->to_us != 0 ? 1u << QF_TO : 0;
    mask |= q->severity >= 0 ? 1u << QF_SEV : 0;
    mask |= state >= 0 ? 1u << QF_STATE : 0;
    mask |= q->source != NULL ? 1u << QF_SOURCE : 0;
    mask |= q->ns != NULL ? 1u << QF_NS : 0;
    mask |= (q->q != NULL && q->q[0] != '\0') ? 1u << QF_Q : 0;
    *state_out = state;
    *mask_out = mask;
    return HD_OK;
}

static int sq_events_query(struct hd_store *st, const struct hd_event_query *q, struct hd_event **out,
                           size_t *n, int64_t *next_cursor, struct hd_err *err)
{
    struct sq_store *s = sq_of(st);
    struct hd_event_query none = {.severity = -1};
    if (q == NULL) {
        q = &none;
    }
    int state = -1;
    unsigned mask = 0;
    int frc = query_filters(q, &state, &mask, err);
    if (frc != HD_OK) {
        return frc;
    }
    mask |= q->before_seq > 0 ? 1u << QF_BEFORE : 0;
    size_t limit = clamp_limit(q->limit);

    char *pattern = NULL;
    if (mask & (1u << QF_Q)) {
        pattern = like_pattern(q->q);
        if (pattern == NULL) {
            return hd_err_set(err, HD_ENOMEM, "store: out of memory");
        }
    }
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        free(pattern);
        return HD_EIO;
    }
    int rc = HD_EIO;
    struct hd_event *evs = NULL;
    size_t cnt = 0;
    sqlite3_stmt *stm = query_stmt(c, mask, err);
    if (stm == NULL) {
        goto out;
    }
    sqlite3_bind_int64(stm, 1, q->from_us);
    sqlite3_bind_int64(stm, 2, q->to_us);
    sqlite3_bind_int(stm, 3, q->severity);
    sqlite3_bind_int(stm, 4, state);
    bind_text(stm, 5, q->source);
    bind_text(stm, 6, q->ns);
    bind_text(stm, 7, pattern);
    sqlite3_bind_int64(stm, 8, q->before_seq);
    /* One more than asked tells whether there is a next page. */
    sqlite3_bind_int64(stm, QF_LIMIT_PARAM, (int64_t)limit + 1);
    rc = collect_events(s, c, stm, limit + 1, &evs, &cnt, err);
    if (rc != HD_OK) {
        goto out;
    }
    int64_t next = 0;
    if (cnt > limit) {
        hd_event_clear(&evs[limit]);
        cnt = limit;
        next = evs[limit - 1].seq;
    }
    *out = evs;
    *n = cnt;
    if (next_cursor != NULL) {
        *next_cursor = next;
    }
out:
    sq_reader_put(s, c);
    free(pattern);
    return rc;
}

static int64_t sq_max_seq(struct hd_store *st)
{
    return atomic_load(&sq_of(st)->pub_max_seq);
}

static int sq_channel_list(struct hd_store *st, struct hd_channel_rec **out, size_t *n, struct hd_err *err)
{
    struct sq_store *s = sq_of(st);
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        return HD_EIO;
    }
    struct hd_channel_rec *recs = NULL;
    size_t cnt = 0;
    size_t cap = 0;
    int ret = HD_EIO;
    sqlite3_stmt *q = sq_stmt(c, Q_CH_LIST, err);
    if (q == NULL) {
        goto out;
    }
    ret = HD_OK;
    for (;;) {
        int rc = sqlite3_step(q);
        if (rc == SQLITE_DONE) {
            break;
        }
        if (rc != SQLITE_ROW) {
            ret = sq_fail(c, err, "listing channels");
            break;
        }
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            struct hd_channel_rec *p = realloc(recs, ncap * sizeof(*p));
            if (p == NULL) {
                ret = hd_err_set(err, HD_ENOMEM, "store: out of memory");
                break;
            }
            recs = p;
            cap = ncap;
        }
        if (row_channel(q, &recs[cnt]) != HD_OK) {
            ret = hd_err_set(err, HD_ENOMEM, "store: out of memory");
            break;
        }
        cnt++;
    }
    sqlite3_reset(q);
out:
    sq_reader_put(s, c);
    if (ret != HD_OK) {
        hd_channel_recs_free(recs, cnt);
        return ret;
    }
    *out = recs;
    *n = cnt;
    return HD_OK;
}

static int row_channel_fn(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *q, void *out)
{
    (void)s;
    (void)c;
    return row_channel(q, out);
}

static int channel_get_one(struct sq_store *s, enum sq_stmt_id id, const char *name, int64_t cid,
                           struct hd_channel_rec *out, struct hd_err *err)
{
    int found = 0;
    int rc = read_one(s, id, name, 0, cid, row_channel_fn, out, &found, "a channel", err);
    if (rc == HD_OK && !found) {
        rc = name != NULL ? hd_err_set(err, HD_ENOTFOUND, "name: no channel named %s", name)
                          : hd_err_set(err, HD_ENOTFOUND, "id: no channel with id %lld", (long long)cid);
    }
    return rc;
}

static int sq_channel_get(struct hd_store *st, int64_t id, struct hd_channel_rec *out, struct hd_err *err)
{
    return channel_get_one(sq_of(st), Q_CH_GET, NULL, id, out, err);
}

static int sq_channel_get_by_name(struct hd_store *st, const char *name, struct hd_channel_rec *out,
                                  struct hd_err *err)
{
    if (name == NULL) {
        return hd_err_set(err, HD_EINVAL, "name: missing");
    }
    return channel_get_one(sq_of(st), Q_CH_GET_NAME, name, 0, out, err);
}

/* One int64 from a read statement with up to two int64 parameters. */
static int read_i64(struct sq_store *s, enum sq_stmt_id id, int64_t p1, int64_t *out, int *found,
                    struct hd_err *err, const char *what)
{
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        return HD_EIO;
    }
    int rc = HD_EIO;
    sqlite3_stmt *q = sq_stmt(c, id, err);
    if (q != NULL) {
        sqlite3_bind_int64(q, 1, p1);
        rc = sq_query_i64(c, q, out, found, err, what);
    }
    sq_reader_put(s, c);
    return rc;
}

static int sq_cursor_get(struct hd_store *st, int64_t channel_id, int64_t *cursor, struct hd_err *err)
{
    int64_t v = 0;
    int found = 0;
    int rc = read_i64(sq_of(st), Q_CUR_GET, channel_id, &v, &found, err, "reading a cursor");
    if (rc == HD_OK) {
        *cursor = found ? v : 0;
    }
    return rc;
}

static int sq_pending_count(struct hd_store *st, int64_t channel_id, int64_t *count, struct hd_err *err)
{
    int64_t v = 0;
    int found = 0;
    int rc =
        read_i64(sq_of(st), Q_DL_PENDING_COUNT, channel_id, &v, &found, err, "counting pending deliveries");
    if (rc == HD_OK) {
        *count = found ? v : 0;
    }
    return rc;
}

static int deliveries_read(struct sq_store *s, enum sq_stmt_id id, int64_t p1, int64_t p2, int64_t p3,
                           struct hd_delivery **out, size_t *n, struct hd_err *err)
{
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        return HD_EIO;
    }
    int rc = HD_EIO;
    sqlite3_stmt *q = sq_stmt(c, id, err);
    if (q != NULL) {
        int np = sqlite3_bind_parameter_count(q);
        sqlite3_bind_int64(q, 1, p1);
        if (np >= 2) {
            sqlite3_bind_int64(q, 2, p2);
        }
        if (np >= 3) {
            sqlite3_bind_int64(q, 3, p3);
        }
        rc = collect_deliveries(c, q, out, n, err);
    }
    sq_reader_put(s, c);
    return rc;
}

static int sq_due_retries(struct hd_store *st, const struct hd_delivery_query *q, struct hd_delivery **out,
                          size_t *n, struct hd_err *err)
{
    return deliveries_read(sq_of(st), Q_DL_DUE, q->channel_id, q->now_ms, (int64_t)clamp_limit(q->limit), out,
                           n, err);
}

static int sq_deliveries_list(struct hd_store *st, const struct hd_delivery_query *q,
                              struct hd_delivery **out, size_t *n, struct hd_err *err)
{
    return deliveries_read(sq_of(st), Q_DL_LIST, q->channel_id, q->status, (int64_t)clamp_limit(q->limit),
                           out, n, err);
}

static int sq_deliveries_of_event(struct hd_store *st, int64_t event_seq, struct hd_delivery **out, size_t *n,
                                  struct hd_err *err)
{
    return deliveries_read(sq_of(st), Q_DL_OF_EVENT, event_seq, 0, 0, out, n, err);
}

/* ---- open / close ----------------------------------------------------- */

static int sq_migrate(struct sq_conn *c, struct hd_err *err)
{
    sqlite3_stmt *st = NULL;
    int version = 0;
    int ret = HD_OK;
    char *msg = NULL;
    if (sqlite3_create_function_v2(c->db, "hd_idk", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_idk,
                                   NULL, NULL, NULL) != SQLITE_OK) {
        return sq_fail(c, err, "registering hd_idk()");
    }
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
        ret = hd_err_set(err, HD_EIO, "store: starting the migration: %s", msg != NULL ? msg : "?");
        goto out;
    }
    /* Read inside the transaction: another process may have migrated. */
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        ret = sq_fail(c, err, "reading the schema version");
        goto rollback;
    }
    version = sqlite3_column_int(st, 0);
    /* An active statement would make DROP in a migration fail (table locked). */
    sqlite3_reset(st);
    if (version > SQ_SCHEMA_VERSION) {
        ret = hd_err_set(err, HD_EIO,
                         "store: the database schema version %d is newer than this herald understands (%d)",
                         version, SQ_SCHEMA_VERSION);
        goto rollback;
    }
    for (int v = version; v < SQ_SCHEMA_VERSION; v++) {
        if (sqlite3_exec(c->db, sq_migrations[v], NULL, NULL, &msg) != SQLITE_OK) {
            ret = hd_err_set(err, HD_EIO, "store: migration %d -> %d: %s", v, v + 1, msg != NULL ? msg : "?");
            goto rollback;
        }
    }
    if (version < SQ_SCHEMA_VERSION) {
        char sql[64];
        /* PRAGMA takes no parameters; the value is our own constant. */
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SQ_SCHEMA_VERSION);
        if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
            ret = hd_err_set(err, HD_EIO, "store: recording the schema version: %s", msg != NULL ? msg : "?");
            goto rollback;
        }
        hd_log(HD_LOG_INFO, "store: schema migrated from version %d to %d", version, SQ_SCHEMA_VERSION);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
        ret = hd_err_set(err, HD_EIO, "store: committing the migration: %s", msg != NULL ? msg : "?");
        goto rollback;
    }
    goto out;
rollback:
    sqlite3_finalize(st);
    st = NULL;
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(st);
    sqlite3_free(msg);
    return ret;
}

static int sq_pragmas(struct sq_conn *c, struct hd_err *err)
{
    sqlite3_stmt *st = NULL;
    int ret = HD_OK;
    /* Takes effect only on a database not created yet (before WAL mode). */
    char sql[96];
    snprintf(sql, sizeof(sql), "PRAGMA page_size = %d", SQ_PAGE_SIZE);
    if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        ret = sq_fail(c, err, "setting the page size");
        goto out;
    }
    if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        ret = sq_fail(c, err, "enabling WAL");
        goto out;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (mode == NULL || strcasecmp(mode, "wal") != 0) {
        ret = hd_err_set(err, HD_EIO, "store: the database refuses WAL mode (journal_mode=%s)",
                         mode ? mode : "?");
        goto out;
    }
    /* FULL: a commit returns once the WAL is fsync'd - what a 202 promises. */
    if (sqlite3_exec(c->db,
                     "PRAGMA synchronous = FULL;"
                     "PRAGMA foreign_keys = OFF;"
                     "PRAGMA journal_size_limit = 67108864;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        ret = sq_fail(c, err, "setting pragmas");
        goto out;
    }
out:
    sqlite3_finalize(st);
    return ret;
}

static int sq_page_size(struct sq_conn *c)
{
    sqlite3_stmt *st = NULL;
    int ps = 4096;
    if (sqlite3_prepare_v2(c->db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        ps = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return ps > 0 ? ps : 4096;
}

static void sq_close(struct hd_store *st)
{
    struct sq_store *s = sq_of(st);
    if (s->writer_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->writer, NULL);
    }
    if (s->ckpt_started) {
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_stop = 1;
        pthread_cond_signal(&s->ckpt_cv);
        pthread_mutex_unlock(&s->ckpt_mu);
        pthread_join(s->ckpt, NULL);
    }
    sq_conn_close(s->ckc);
    while (s->pool != NULL) {
        struct sq_conn *c = s->pool;
        s->pool = c->next;
        sq_conn_close(c);
    }
    sq_conn_close(s->w); /* last: checkpoints the WAL into the database */
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->ckpt_cv);
    pthread_mutex_destroy(&s->ckpt_mu);
    while (s->nzc > 0) {
        ZSTD_freeCCtx(s->zc[--s->nzc]);
    }
    pthread_mutex_destroy(&s->pool_mu);
    for (size_t i = 0; i < SQ_BLOB_CACHE_SLOTS; i++) {
        blob_release(s->blob_slot[i]);
    }
    pthread_mutex_destroy(&s->blob_mu);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

/* ---- stats (GET /api/stats) -------------------------------------------- */

/* DESIGN: aggregation runs in SQL over the events_ts_dims covering index
 * (migration step below): with a time range, or grouped by time, SQLite walks
 * the index range and counts without touching the table rows; grouped by
 * severity/state/source/namespace alone it uses the single-column index of
 * that dimension. Only the rule (labels.rule, else name) needs the rows.
 * The statement is prepared per call: the filter combination times five
 * groupings times interval-or-not is too many to cache on every reader. */
static const char *const st_group_expr[] = {
    [HD_STATS_SEVERITY] = "severity",
    [HD_STATS_STATE] = "state",
    [HD_STATS_NAMESPACE] = "k8s_namespace",
    [HD_STATS_SOURCE] = "source",
    [HD_STATS_RULE] = "coalesce(CASE WHEN json_valid(labels) THEN json_extract(labels, '$.rule') END, name)",
};

static int sq_stats(struct hd_store *st, const struct hd_stats_query *sq, struct hd_stats_row **out,
                    size_t *n, int *truncated, struct hd_err *err)
{
    struct sq_store *s = sq_of(st);
    const struct hd_event_query *q = sq->filter;
    enum hd_stats_group g = sq->group;
    int64_t interval_ms = sq->interval_ms;
    size_t max_rows = sq->max_rows;
    struct hd_event_query none = {.severity = -1};
    if (q == NULL) {
        q = &none;
    }
    if ((int)g < 0 || (size_t)g >= sizeof(st_group_expr) / sizeof(st_group_expr[0])) {
        return hd_err_set(err, HD_EINVAL, "groupBy: unknown grouping %d", (int)g);
    }
    if (interval_ms < 0 || max_rows == 0) {
        return hd_err_set(err, HD_EINVAL, "stats: interval must be >= 0 and max_rows > 0");
    }
    int state = -1;
    unsigned mask = 0;
    int frc = query_filters(q, &state, &mask, err);
    if (frc != HD_OK) {
        return frc;
    }

    char sql[1024];
    char *pattern = NULL;
    sqlite3_stmt *stm = NULL;
    struct hd_stats_row *rows = NULL;
    size_t cnt = 0, cap = 0;
    int more = 0;
    int ret = HD_OK;
    struct sq_conn *c = NULL;

    /* Buckets: integer division of microseconds by ?10 (the interval in us).
     * Only constant fragments go into the text; every value is bound. */
    size_t len = 0;
    int w = snprintf(sql, sizeof(sql), "SELECT %s, %s, count(*) FROM events WHERE 1",
                     interval_ms > 0 ? "(ts_us / ?10) * ?11" : "0", st_group_expr[g]);
    len = w > 0 ? (size_t)w : 0;
    for (unsigned f = 0; f < QF__COUNT; f++) {
        if ((mask & (1u << f)) && len < sizeof(sql)) {
            w = snprintf(sql + len, sizeof(sql) - len, "%s", qf_sql[f]);
            len += w > 0 ? (size_t)w : 0;
        }
    }
    if (len < sizeof(sql)) {
        w = snprintf(sql + len, sizeof(sql) - len, " GROUP BY 1, 2 ORDER BY 1, 3 DESC LIMIT ?12");
        len += w > 0 ? (size_t)w : 0;
    }
    if (len >= sizeof(sql)) {
        ret = hd_err_set(err, HD_EIO, "store: stats query text too long");
        goto out;
    }
    if (mask & (1u << QF_Q)) {
        pattern = like_pattern(q->q);
        if (pattern == NULL) {
            ret = hd_err_set(err, HD_ENOMEM, "store: out of memory");
            goto out;
        }
    }
    c = sq_reader(s, err);
    if (c == NULL) {
        ret = HD_EIO;
        goto out;
    }
    if (sqlite3_prepare_v2(c->db, sql, (int)len, &stm, NULL) != SQLITE_OK) {
        ret = sq_fail(c, err, "preparing the stats query");
        goto out;
    }
    /* Only the parameters the text names are bound (sqlite ignores none). */
    if (mask & (1u << QF_FROM)) {
        sqlite3_bind_int64(stm, 1, q->from_us);
    }
    if (mask & (1u << QF_TO)) {
        sqlite3_bind_int64(stm, 2, q->to_us);
    }
    if (mask & (1u << QF_SEV)) {
        sqlite3_bind_int(stm, 3, q->severity);
    }
    if (mask & (1u << QF_STATE)) {
        sqlite3_bind_int(stm, 4, state);
    }
    if (mask & (1u << QF_SOURCE)) {
        bind_text(stm, 5, q->source);
    }
    if (mask & (1u << QF_NS)) {
        bind_text(stm, 6, q->ns);
    }
    if (mask & (1u << QF_Q)) {
        bind_text(stm, 7, pattern);
    }
    if (interval_ms > 0) {
        int64_t iv_us = interval_ms > INT64_MAX / 1000 ? INT64_MAX : interval_ms * 1000;
        sqlite3_bind_int64(stm, 10, iv_us);
        sqlite3_bind_int64(stm, 11, interval_ms);
    }
    sqlite3_bind_int64(stm, 12, max_rows >= (size_t)INT64_MAX ? INT64_MAX : (int64_t)max_rows + 1);
    for (;;) {
        int rc = sqlite3_step(stm);
        if (rc == SQLITE_DONE) {
            break;
        }
        if (rc != SQLITE_ROW) {
            ret = sq_fail(c, err, "aggregating events");
            goto out;
        }
        if (cnt >= max_rows) {
            more = 1;
            break;
        }
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            struct hd_stats_row *p = realloc(rows, ncap * sizeof(*p));
            if (p == NULL) {
                ret = hd_err_set(err, HD_ENOMEM, "store: out of memory aggregating events");
                goto out;
            }
            rows = p;
            cap = ncap;
        }
        struct hd_stats_row *r = &rows[cnt++];
        memset(r, 0, sizeof(*r));
        r->bucket_ms = sqlite3_column_int64(stm, 0);
        r->count = sqlite3_column_int64(stm, 2);
        if (g == HD_STATS_STATE) {
            int v = sqlite3_column_int(stm, 1);
            const char *name = (v >= HD_STATE_ACTIVE && v <= HD_STATE_RESOLVED) ? sq_states[v] : "ACTIVE";
            snprintf(r->key, sizeof(r->key), "%s", name);
        } else {
            col_fixed(stm, 1, r->key, sizeof(r->key));
        }
    }
out:
    sqlite3_finalize(stm);
    sq_reader_put(s, c);
    free(pattern);
    if (ret != HD_OK) {
        free(rows);
        return ret;
    }
    *out = rows;
    *n = cnt;
    if (truncated != NULL) {
        *truncated = more;
    }
    return HD_OK;
}

/* ---- inputs' key/value state ------------------------------------------ */

/* Rare calls (a watcher saves at most about once a second): the statements
 * are prepared per call rather than cached on every connection. */
static int sq_state_get(struct hd_store *st, const char *key, char **value, struct hd_err *err)
{
    struct sq_store *s = sq_of(st);
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        return HD_EIO;
    }
    sqlite3_stmt *q = NULL;
    int ret = HD_OK;
    if (sqlite3_prepare_v2(c->db, "SELECT value FROM kv WHERE key = ?1", -1, &q, NULL) != SQLITE_OK) {
        ret = sq_fail(c, err, "reading input state");
        goto out;
    }
    bind_text(q, 1, key);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        char *v = NULL;
        if (col_dup(q, 0, &v) != HD_OK || v == NULL) {
            ret = hd_err_set(err, HD_ENOMEM, "store: out of memory");
            goto out;
        }
        *value = v;
    } else if (rc == SQLITE_DONE) {
        ret = hd_err_set(err, HD_ENOTFOUND, "state: no key '%s'", key);
    } else {
        ret = sq_fail(c, err, "reading input state");
    }
out:
    sqlite3_finalize(q);
    sq_reader_put(s, c);
    return ret;
}

struct state_args {
    const char *key, *value;
    int64_t now_ms;
};

static int op_state_set(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct state_args *a = arg;
    sqlite3_stmt *q = NULL;
    int ret = HD_OK;
    if (sqlite3_prepare_v2(
            c->db,
            "INSERT INTO kv (key, value, updated_ms) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
            -1, &q, NULL) != SQLITE_OK) {
        ret = sq_fail(c, err, "saving input state");
        goto out;
    }
    bind_text(q, 1, a->key);
    bind_text(q, 2, a->value);
    sqlite3_bind_int64(q, 3, a->now_ms);
    if (sqlite3_step(q) != SQLITE_DONE) {
        ret = sq_fail(c, err, "saving input state");
    }
out:
    sqlite3_finalize(q);
    return ret;
}

static int sq_state_set(struct hd_store *st, const char *key, const char *value, struct hd_err *err)
{
    if (key == NULL || value == NULL) {
        return hd_err_set(err, HD_EINVAL, "state: key and value are required");
    }
    struct state_args a = {.key = key, .value = value, .now_ms = hd_now_ms()};
    return sq_submit(sq_of(st), op_state_set, &a, err);
}

static const struct hd_store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .channel_list = sq_channel_list,
    .channel_get = sq_channel_get,
    .channel_get_by_name = sq_channel_get_by_name,
    .channel_create = sq_channel_create,
    .channel_update = sq_channel_update,
    .channel_delete = sq_channel_delete,
    .append = sq_append,
    .append_async = sq_append_async,
    .events_after = sq_events_after,
    .event_get = sq_event_get,
    .event_get_seq = sq_event_get_seq,
    .events_query = sq_events_query,
    .max_seq = sq_max_seq,
    .stats = sq_stats,
    .cursor_get = sq_cursor_get,
    .progress = sq_progress,
    .due_retries = sq_due_retries,
    .deliveries_list = sq_deliveries_list,
    .deliveries_of_event = sq_deliveries_of_event,
    .delivery_retry = sq_delivery_retry,
    .delivery_retry_channel = sq_delivery_retry_channel,
    .replay = sq_replay,
    .pending_count = sq_pending_count,
    .prune = sq_prune,
    .state_get = sq_state_get,
    .state_set = sq_state_set,
};

struct hd_store *hd_sqlite_store_open(const char *path, struct hd_err *err)
{
    if (path == NULL || path[0] == '\0') {
        hd_err_set(err, HD_EINVAL, "store: database path is empty");
        return NULL;
    }
    struct sq_store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        hd_err_set(err, HD_ENOMEM, "store: out of memory");
        return NULL;
    }
    s->base.ops = &sq_ops;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_mutex_init(&s->blob_mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    s->path = hd_strdup(path);
    if (s->path == NULL) {
        hd_err_set(err, HD_ENOMEM, "store: out of memory");
        goto fail;
    }
    /* The database holds channel secrets: create it private. SQLite gives
     * the -wal and -shm files the same permissions. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        hd_err_set(err, HD_EIO, "store: cannot create %s: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    s->w = sq_conn_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err);
    if (s->w == NULL || sq_pragmas(s->w, err) != HD_OK || sq_migrate(s->w, err) != HD_OK) {
        goto fail;
    }
    sqlite3_stmt *mx = sq_stmt(s->w, Q_MAX_SEQ, err);
    int found = 0;
    if (mx == NULL || sq_query_i64(s->w, mx, &s->max_seq, &found, err, "reading the last seq") != HD_OK) {
        goto fail;
    }
    sqlite3_stmt *mr = sq_stmt(s->w, Q_MAX_RID, err);
    if (mr == NULL || sq_query_i64(s->w, mr, &s->max_rid, &found, err, "reading the last rid") != HD_OK) {
        goto fail;
    }
    atomic_store(&s->pub_max_seq, s->max_seq);
    s->page_size = sq_page_size(s->w);
    sq_ckpt_start(s);
    if (pthread_create(&s->writer, NULL, sq_writer_main, s) != 0) {
        hd_err_set(err, HD_EIO, "store: cannot start the writer thread");
        goto fail;
    }
    s->writer_started = 1;
    return &s->base;
fail:
    sq_close(&s->base);
    return NULL;
}
