/* statements.c - the SQL of every cached statement, prepared once per
 * connection on first use. Every value is bound to a fixed ?N, never spliced
 * into the text. The column lists and statement ids are in sqlite_int.h.
 */
#include "core/err.h"
#include "sqlite_int.h"

/* The seqs of the key ?2 in the id index's three levels, smallest first
 * (ids.c); a merge moves keys between two of them in one transaction, so a
 * reader finds a key in exactly one. */
#define IDS_LEVELS_SEQ                                                                                       \
    "SELECT seq FROM ids_new WHERE idk = ?2 UNION ALL SELECT seq FROM ids_recent WHERE idk = ?2 "            \
    "UNION ALL SELECT seq FROM ids WHERE idk = ?2"

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
    [Q_EV_AFTER] = "SELECT " EV_COLS " FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [Q_EV_GET_ID] = "SELECT " EV_COLS " FROM events WHERE seq IN (" IDS_LEVELS_SEQ ") AND id = ?1",
    [Q_EV_GET_SEQ] = "SELECT " EV_COLS " FROM events WHERE seq = ?1",
    /* One statement, not one per level (each cost its reset and halt per
     * event): the join is pushed into each arm of the compound, and LIMIT 1
     * stops at the first level that has the id. */
    [Q_IDS_FIND] = "SELECT e.seq FROM (" IDS_LEVELS_SEQ ") AS r JOIN events AS e ON e.seq = r.seq "
                   "WHERE e.id = ?1 LIMIT 1",
    [Q_IDS_ADD] = "INSERT INTO ids_new (idk, seq) VALUES (?1, ?2)",
    /* A level is read in key order: the next one is written in one ordered pass. */
    [Q_IDS_MERGE_NEW] = "INSERT INTO ids_recent (idk, seq) SELECT idk, seq FROM ids_new ORDER BY idk, seq",
    [Q_IDS_CLEAR_NEW] = "DELETE FROM ids_new",
    [Q_IDS_MERGE] = "INSERT INTO ids (idk, seq) SELECT idk, seq FROM ids_recent ORDER BY idk, seq",
    [Q_IDS_CLEAR_RECENT] = "DELETE FROM ids_recent",
    [Q_IDS_DEL_NEW] = "DELETE FROM ids_new WHERE idk = ?1 AND seq = ?2",
    [Q_IDS_DEL_RECENT] = "DELETE FROM ids_recent WHERE idk = ?1 AND seq = ?2",
    [Q_IDS_DEL] = "DELETE FROM ids WHERE idk = ?1 AND seq = ?2",
    [Q_IDS_COUNT_NEW] = "SELECT count(*) FROM ids_new",
    [Q_IDS_COUNT_RECENT] = "SELECT count(*) FROM ids_recent",
    [Q_IDS_KEYS] =
        "SELECT idk FROM ids_new UNION ALL SELECT idk FROM ids_recent UNION ALL SELECT idk FROM ids",
    [Q_CH_LIST] = "SELECT " CH_COLS " FROM channels ORDER BY id",
    [Q_CH_GET] = "SELECT " CH_COLS " FROM channels WHERE id = ?1",
    [Q_CH_GET_NAME] = "SELECT " CH_COLS " FROM channels WHERE name = ?1",
    [Q_CH_ID_BY_NAME] = "SELECT id FROM channels WHERE name = ?1",
    /* ids are never reused (a client may still hold a deleted one): the
     * highest id ever given is kept in kv */
    [Q_CH_INSERT] =
        "INSERT INTO channels (id, name, type, enabled, version, created_ms, modified_ms, managed_by, json) "
        "VALUES (max(coalesce((SELECT max(id) FROM channels), 0), coalesce((SELECT CAST(value AS INTEGER) "
        "FROM kv WHERE key = 'channels.last_id'), 0)) + 1, ?1, ?2, ?3, 1, ?4, ?4, ?5, ?6)",
    [Q_CH_LAST_ID] =
        "INSERT INTO kv (key, value, updated_ms) VALUES ('channels.last_id', ?1, ?2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
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
    /* seq and recv_us grow together (one writer), so the smallest seq of the
     * two candidates is the oldest arrival. */
    [Q_DL_LAG] = "SELECT (SELECT count(*) FROM deliveries WHERE status = 0 AND channel_id = ?1), "
                 "(SELECT count(*) FROM deliveries WHERE status = 1 AND channel_id = ?1), "
                 "(SELECT min(recv_us) FROM events WHERE seq IN "
                 "((SELECT min(seq) FROM events WHERE seq > ?2), "
                 "(SELECT min(event_seq) FROM deliveries WHERE status = 0 AND channel_id = ?1)))",
    [Q_DL_DEAD_COUNT] = "SELECT count(*) FROM deliveries WHERE channel_id = ?1 AND status = 1",
    [Q_PR_SCAN] = "SELECT seq, recv_us, coalesce(length(raw), 0) + coalesce(length(name), 0) + "
                  "coalesce(length(description), 0) + coalesce(length(labels), 0), raw_enc, "
                  "CASE WHEN raw_enc = 2 THEN raw END, idk "
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
    [Q_SI_LIST] = "SELECT " SI_COLS " FROM silences ORDER BY id DESC",
    [Q_SI_GET] = "SELECT " SI_COLS " FROM silences WHERE id = ?1",
    [Q_SI_INSERT] = "INSERT INTO silences (matchers, starts_ms, ends_ms, created_ms, updated_ms, created_by, "
                    "comment) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
    [Q_SI_UPDATE] = "UPDATE silences SET matchers = ?2, starts_ms = ?3, ends_ms = ?4, updated_ms = ?5, "
                    "created_by = ?6, comment = ?7 WHERE id = ?1",
    [Q_GR_LIST] = "SELECT key, state FROM groups WHERE channel_id = ?1 ORDER BY key",
    [Q_GR_UPSERT] = "INSERT INTO groups (channel_id, key, state, updated_ms) VALUES (?1, ?2, ?3, ?4) "
                    "ON CONFLICT (channel_id, key) DO UPDATE SET state = excluded.state, "
                    "updated_ms = excluded.updated_ms",
    [Q_GR_DELETE] = "DELETE FROM groups WHERE channel_id = ?1 AND key = ?2",
    [Q_GR_DELETE_CH] = "DELETE FROM groups WHERE channel_id = ?1",
};

sqlite3_stmt *sq_stmt(struct sq_conn *c, enum sq_stmt_id id, struct hd_err *err)
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
