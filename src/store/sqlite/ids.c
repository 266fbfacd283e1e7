/* ids.c - the id index in two levels: how the writer finds a stored id
 * (de-duplication), and how readers find an event by its id.
 *
 * DESIGN (docs/decisions.md, docs/performance.md "Events sharing one
 * timestamp"): an id's integer key (idk: the source's seconds, then 32 hash
 * bits) is indexed in two WITHOUT ROWID tables of (idk, seq):
 *   ids_recent - the keys of the last events stored (up to SQ_IDS_MERGE),
 *   ids        - every older key of the events kept.
 * When many events share one second (a burst, a replay) their keys are
 * random within one range, so a group commit inserting a few thousand of
 * them into one big index dirtied nearly every page of that range (megabytes
 * of WAL per commit). New keys go into ids_recent, which stays a few dozen
 * pages; every SQ_IDS_MERGE events the writer moves it into ids in key order,
 * so each page of ids is written at most once per merge instead of once per
 * commit. A lookup probes both levels and compares the id itself (keys may
 * collide). A merge is one INSERT ... SELECT and one DELETE in the same
 * transaction as the append that triggers it: a reader sees a key in one
 * level or the other, never neither. Retention deletes an event's key from
 * both levels.
 *
 * s->ids_recent counts the keys in ids_recent (loaded at open, kept by the
 * writer). It only decides when to merge: after a rolled-back group (or
 * keys pruned from the recent level) it may be off by a few keys, which
 * moves the next merge, never a lookup.
 */
#include "core/err.h"
#include "sqlite_int.h"

/* Keys gathered in ids_recent before they move into ids. Measured (docs/
 * performance.md): the recent level costs about its page count per commit,
 * a merge about the pages of ids holding the keys' seconds, so the two
 * balance near here for bursts of hundreds of thousands of events per second. */
#define SQ_IDS_MERGE 32768

int sq_ids_find(struct sq_conn *c, const char *id, int64_t idk, int64_t *seq, int *found, struct hd_err *err)
{
    static const enum sq_stmt_id levels[] = {Q_IDS_FIND_RECENT, Q_IDS_FIND};
    *found = 0;
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]) && !*found; i++) {
        sqlite3_stmt *st = sq_stmt(c, levels[i], err);
        if (st == NULL) {
            return HD_EIO;
        }
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, idk);
        if (sq_query_i64(c, st, seq, found, err, "looking up a duplicate") != HD_OK) {
            return HD_EIO;
        }
    }
    return HD_OK;
}

int sq_ids_add(struct sq_store *s, struct sq_conn *c, int64_t idk, int64_t seq, struct hd_err *err)
{
    const int64_t p[] = {idk, seq};
    if (sq_exec_i64(c, Q_IDS_ADD, p, 2, "indexing an id", err) != HD_OK) {
        return HD_EIO;
    }
    s->ids_recent++;
    return HD_OK;
}

int sq_ids_merge(struct sq_store *s, struct sq_conn *c, struct hd_err *err)
{
    if (s->ids_recent < s->ids_merge_at) {
        return HD_OK;
    }
    if (sq_exec_id(c, Q_IDS_MERGE, err, "merging the recent ids") != HD_OK ||
        sq_exec_id(c, Q_IDS_CLEAR_RECENT, err, "clearing the recent ids") != HD_OK) {
        return HD_EIO;
    }
    s->ids_recent = 0;
    return HD_OK;
}

int sq_ids_remove(struct sq_conn *c, int64_t idk, int64_t seq, struct hd_err *err)
{
    const int64_t p[] = {idk, seq};
    if (sq_exec_i64(c, Q_IDS_DEL_RECENT, p, 2, "pruning an id", err) != HD_OK ||
        sq_exec_i64(c, Q_IDS_DEL, p, 2, "pruning an id", err) != HD_OK) {
        return HD_EIO;
    }
    return HD_OK;
}

int sq_ids_load(struct sq_store *s, struct hd_err *err)
{
    sqlite3_stmt *st = sq_stmt(s->w, Q_IDS_COUNT_RECENT, err);
    int found = 0;
    int64_t n = 0;
    if (st == NULL || sq_query_i64(s->w, st, &n, &found, err, "counting the recent ids") != HD_OK) {
        return HD_EIO;
    }
    s->ids_recent = n;
    s->ids_merge_at = SQ_IDS_MERGE;
    return HD_OK;
}
