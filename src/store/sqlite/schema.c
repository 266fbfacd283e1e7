/* schema.c - the database: its pragmas, its schema and the migrations that
 * bring an older file to it.
 *
 * DESIGN: PRAGMA user_version counts the migration steps applied; opening
 * runs the missing ones in one transaction (another process may have run
 * them meanwhile: the version is read inside it) and refuses a database newer
 * than this herald. Steps are append-only history: a released step is never
 * edited.
 */
#include <stdio.h>
#include <strings.h>

#include "core/err.h"
#include "core/log.h"
#include "sqlite_int.h"

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

int sq_cache_spill(struct sq_conn *c, int pages)
{
    char sql[48];
    snprintf(sql, sizeof(sql), "PRAGMA cache_spill = %d", pages);
    return sqlite3_exec(c->db, sql, NULL, NULL, NULL);
}

int sq_pragmas(struct sq_conn *c, struct hd_err *err)
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
    /* FULL: a commit returns once the WAL is fsync'd - what a 202 promises.
     * cache_spill (this connection: the writer's): a group commit of a few
     * thousand events dirties more pages than the default cache (2 MB)
     * holds, and SQLite spilled the excess to the WAL before the commit, so
     * a page dirtied again was written twice. Dirty pages now stay in memory
     * up to SQ_SPILL_PAGES (16 MB at 8 KB pages), only while a transaction
     * needs them: -10 % bytes written per event, the single-event case's RSS
     * unchanged (docs/performance.md, "Events sharing one timestamp"). A larger
     * transaction (an id-index merge of a huge second) still spills: its pages
     * are written in key order, each once. (Until round 12 the value was 2048,
     * which SQLite reads as "off": see sq_cache_spill.) */
    if (sqlite3_exec(c->db,
                     "PRAGMA synchronous = FULL;"
                     "PRAGMA foreign_keys = OFF;"
                     "PRAGMA journal_size_limit = 67108864;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sq_cache_spill(c, SQ_SPILL_PAGES) != SQLITE_OK) {
        ret = sq_fail(c, err, "setting pragmas");
        goto out;
    }
out:
    sqlite3_finalize(st);
    return ret;
}

int sq_page_size(struct sq_conn *c)
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

/* Ordered migration steps: step i brings user_version from i to i + 1.
 * Never edit a released step; append a new one. */
/* The event's own columns, the same in every version of the events table
 * (the text that follows them closes the table or adds columns). */
#define EVENT_COLUMNS                                                                                        \
    "  source TEXT NOT NULL,"                                                                                \
    "  ts_us INTEGER NOT NULL,"                                                                              \
    "  recv_us INTEGER NOT NULL,"                                                                            \
    "  severity INTEGER NOT NULL,"                                                                           \
    "  state INTEGER NOT NULL,"                                                                              \
    "  name TEXT, description TEXT, url TEXT, host TEXT, container_id TEXT,"                                 \
    "  k8s_namespace TEXT, k8s_pod TEXT, k8s_container TEXT, k8s_kind TEXT, k8s_name TEXT,"                  \
    "  labels TEXT, alert_key TEXT, raw BLOB"

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
    "  id TEXT NOT NULL UNIQUE," EVENT_COLUMNS ");"
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
    "  idk INTEGER NOT NULL," EVENT_COLUMNS ","
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
    /* silences (SPEC 4): few rows, typed by people. */
    "CREATE TABLE silences ("
    "  id INTEGER PRIMARY KEY,"
    "  matchers TEXT NOT NULL,"
    "  starts_ms INTEGER NOT NULL,"
    "  ends_ms INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  created_by TEXT,"
    "  comment TEXT);",
    /* notification groups (options.group): a channel's pending and notified groups. */
    "CREATE TABLE groups ("
    "  channel_id INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (channel_id, key));",
    /* ingest cost, events sharing one timestamp (issue 14, docs/performance.md):
     * the id index in two levels (ids.c). events_idk took every new key at a
     * random place within its second, so a burst of one second dirtied nearly
     * every page of that range at each commit. New keys now go into the small
     * ids_recent, merged into ids in key order every few ten thousand events.
     * Existing keys start in ids, copied in key order (the old index's order). */
    "CREATE TABLE ids ("
    "  idk INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  PRIMARY KEY (idk, seq)) WITHOUT ROWID;"
    "CREATE TABLE ids_recent ("
    "  idk INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  PRIMARY KEY (idk, seq)) WITHOUT ROWID;"
    "INSERT INTO ids (idk, seq) SELECT idk, seq FROM events ORDER BY idk, seq;"
    "DROP INDEX IF EXISTS events_idk;",
    /* ingest cost, round 7 (issue 14, docs/performance.md): a third, smallest
     * level in front of ids_recent (ids.c). With the wall clock as the
     * source's time the keys of the current second spread over dozens of
     * ids_recent's pages, so each event of a small group commit still dirtied
     * about one page of it. */
    "CREATE TABLE ids_new ("
    "  idk INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  PRIMARY KEY (idk, seq)) WITHOUT ROWID;",
};
#define SQ_SCHEMA_VERSION ((int)(sizeof(sq_migrations) / sizeof(sq_migrations[0])))

/* The integer key of an id (column idk): its first 16 characters as hex
 * digits, the leading 32 bits being the source's seconds, so keys of one
 * group are near each other in the index. A non-hex character (ids are
 * normally lowercase hex) contributes its low 4 bits: any id maps to some key,
 * and equal ids to equal keys; the id itself is always compared too. */
int64_t sq_id_key(const char *id)
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
    sqlite3_result_int64(ctx, sq_id_key(id != NULL ? (const char *)id : ""));
}

int sq_migrate(struct sq_conn *c, struct hd_err *err)
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
