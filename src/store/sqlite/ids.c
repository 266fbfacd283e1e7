/* ids.c - the id index in three levels: how the writer finds a stored id
 * (de-duplication), and how readers find an event by its id.
 *
 * DESIGN (docs/decisions.md, docs/performance.md "Events sharing one
 * timestamp" and "Round 7"): an id's integer key (idk: the source's seconds,
 * then 32 hash bits) is indexed in three WITHOUT ROWID tables of (idk, seq),
 * a small log-structured merge tree:
 *   ids_new    - the keys of the last events stored (up to SQ_IDS_NEW),
 *   ids_recent - the keys before those (up to SQ_IDS_MERGE),
 *   ids        - every older key of the events kept.
 * Keys of one second are random within that second's range, so an insert
 * lands on a random page of the range. In one big index a group commit
 * dirtied nearly every page of the range (megabytes of WAL per commit in a
 * burst); in a level of 32,768 keys it still dirtied about one page per
 * event (60 % of the WAL frames of single-event traffic). New keys go into
 * ids_new, which stays two or three pages; every SQ_IDS_NEW events it moves
 * into ids_recent in key order, and every SQ_IDS_MERGE ids_recent moves into
 * ids, so each page of a bigger level is written once per merge instead of
 * once per commit. A lookup probes the levels smallest first, in one
 * statement, and compares the id itself (keys may collide). A merge is one
 * INSERT ... SELECT and one DELETE in the same transaction as the append
 * that triggers it: a reader sees a key in exactly one level. Retention
 * deletes an event's key from every level.
 *
 * s->ids_small[] counts the keys of the two small levels (loaded at open,
 * kept by the writer). They only decide when to merge: after a
 * rolled-back group (or keys pruned from a small level) they may be off by a
 * few keys, which moves the next merge, never a lookup.
 *
 * Most keys the writer looks up are new, and the lookup (three index probes
 * in one statement) was a third of the id index's cost and 8 % of herald's
 * CPU per event with batches (docs/performance.md round 15). s->ids_seen is
 * a Bloom filter of every key ever stored: filled from the three levels at
 * open, then by sq_ids_add. A key it has never seen is not stored, and is
 * answered without a query; a key it has seen (a re-sent event, or a false
 * positive) is looked up as before. Keys are never taken out (retention,
 * a rolled-back group): they only make false positives, i.e. queries.
 * Its size is fixed (SQ_IDS_SEEN_BITS): the share of false positives grows
 * with the store (about 3 % at 1 million events, 44 % at 4 million: the
 * default retention's 2 GiB holds about that many ~2 KB events), so a big
 * store queries more, never wrongly. The writer alone reads and writes it:
 * one process owns a store (sqlite_store.c's lock).
 */
#include <stdlib.h>

#include "core/err.h"
#include "core/metrics.h"
#include "sqlite_int.h"

/* Keys gathered in ids_new before they move into ids_recent: two or three
 * 8 KiB pages, so a commit dirties at most those; a merge dirties the pages
 * of ids_recent holding the keys' seconds, a few dozen per SQ_IDS_NEW events. */
#define SQ_IDS_NEW 1024
/* Keys gathered in ids_recent before they move into ids. Measured (docs/
 * performance.md): a merge costs about the pages of ids holding the keys'
 * seconds, which balances the recent level's own size near here for bursts of
 * hundreds of thousands of events per second. */
#define SQ_IDS_MERGE 32768

/* The small levels, smallest first: one holding max keys or more moves into
 * the next one (merge, then clear). */
static const struct {
    enum sq_stmt_id merge, clear, count;
    int64_t max;
    const char *what;
} small_levels[SQ_IDS_SMALL] = {
    {Q_IDS_MERGE_NEW, Q_IDS_CLEAR_NEW, Q_IDS_COUNT_NEW, SQ_IDS_NEW, "merging the new ids"},
    {Q_IDS_MERGE, Q_IDS_CLEAR_RECENT, Q_IDS_COUNT_RECENT, SQ_IDS_MERGE, "merging the recent ids"},
};

/* 2^23 bits (1 MiB), 3 probes: at n stored keys a new key passes with
 * probability (1 - e^(-3n/2^23))^3. */
#define SQ_IDS_SEEN_LOG2 23
#define SQ_IDS_SEEN_BITS ((uint64_t)1 << SQ_IDS_SEEN_LOG2)
#define SQ_IDS_SEEN_K 3

/* The filter's bit positions for idk: double hashing of a 64-bit mix (the
 * key's high half is the source's seconds, shared by many keys). */
static void seen_bits(int64_t idk, uint64_t pos[SQ_IDS_SEEN_K])
{
    uint64_t h = (uint64_t)idk + 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
    uint64_t a = h;
    uint64_t b = (h >> 32) | 1u;
    for (int i = 0; i < SQ_IDS_SEEN_K; i++) {
        pos[i] = (a + (uint64_t)i * b) & (SQ_IDS_SEEN_BITS - 1);
    }
}

static void seen_add(uint64_t *bits, int64_t idk)
{
    uint64_t pos[SQ_IDS_SEEN_K];
    seen_bits(idk, pos);
    for (int i = 0; i < SQ_IDS_SEEN_K; i++) {
        bits[pos[i] >> 6] |= (uint64_t)1 << (pos[i] & 63);
    }
}

static int seen_has(const uint64_t *bits, int64_t idk)
{
    uint64_t pos[SQ_IDS_SEEN_K];
    seen_bits(idk, pos);
    for (int i = 0; i < SQ_IDS_SEEN_K; i++) {
        if (!(bits[pos[i] >> 6] & ((uint64_t)1 << (pos[i] & 63)))) {
            return 0;
        }
    }
    return 1;
}

int sq_ids_find(struct sq_store *s, const char *id, int64_t idk, int64_t *seq, int *found, struct hd_err *err)
{
    *found = 0;
    if (s->ids_seen != NULL && !seen_has(s->ids_seen, idk)) {
        s->ids_unseen++;
        return HD_OK;
    }
    struct sq_conn *c = s->w;
    sqlite3_stmt *st = sq_stmt(c, Q_IDS_FIND, err);
    if (st == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, idk);
    if (sq_query_i64(c, st, seq, found, err, "looking up a duplicate") != HD_OK) {
        return HD_EIO;
    }
    return HD_OK;
}

int sq_ids_add(struct sq_store *s, struct sq_conn *c, int64_t idk, int64_t seq, struct hd_err *err)
{
    const int64_t p[] = {idk, seq};
    if (sq_exec_i64(c, Q_IDS_ADD, p, 2, "indexing an id", err) != HD_OK) {
        return HD_EIO;
    }
    s->ids_small[0]++;
    if (s->ids_seen != NULL) {
        seen_add(s->ids_seen, idk);
    }
    return HD_OK;
}

int sq_ids_merge(struct sq_store *s, struct sq_conn *c, struct hd_err *err)
{
    for (size_t l = 0; l < SQ_IDS_SMALL; l++) {
        if (s->ids_small[l] < small_levels[l].max) {
            continue;
        }
        if (sq_exec_id(c, small_levels[l].merge, err, small_levels[l].what) != HD_OK ||
            sq_exec_id(c, small_levels[l].clear, err, small_levels[l].what) != HD_OK) {
            return HD_EIO;
        }
        if (l + 1 < SQ_IDS_SMALL) {
            s->ids_small[l + 1] += s->ids_small[l];
        }
        s->ids_small[l] = 0;
    }
    return HD_OK;
}

int sq_ids_remove(struct sq_conn *c, int64_t idk, int64_t seq, struct hd_err *err)
{
    const int64_t p[] = {idk, seq};
    if (sq_exec_i64(c, Q_IDS_DEL_NEW, p, 2, "pruning an id", err) != HD_OK ||
        sq_exec_i64(c, Q_IDS_DEL_RECENT, p, 2, "pruning an id", err) != HD_OK ||
        sq_exec_i64(c, Q_IDS_DEL, p, 2, "pruning an id", err) != HD_OK) {
        return HD_EIO;
    }
    return HD_OK;
}

/* Fills the filter with every key of the three levels (a full scan of the
 * index: 0.1-0.15 s per million events, measured); without the memory for
 * it there is no filter, and every lookup queries. */
static int seen_load(struct sq_store *s, struct hd_err *err)
{
    s->ids_seen = calloc(SQ_IDS_SEEN_BITS / 64, sizeof(uint64_t));
    if (s->ids_seen == NULL) {
        return HD_OK;
    }
    sqlite3_stmt *st = sq_stmt(s->w, Q_IDS_KEYS, err);
    if (st == NULL) {
        return HD_EIO;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        seen_add(s->ids_seen, sqlite3_column_int64(st, 0));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return hd_err_set(err, HD_EIO, "store: reading the stored ids: %s", sqlite3_errmsg(s->w->db));
    }
    return HD_OK;
}

void sq_ids_note(struct sq_store *s)
{
    if (s->ids_unseen > 0) {
        hd_metrics_add("herald_store_id_lookups_skipped_total", NULL, s->ids_unseen);
        s->ids_unseen = 0;
    }
}

int sq_ids_load(struct sq_store *s, struct hd_err *err)
{
    for (size_t l = 0; l < SQ_IDS_SMALL; l++) {
        sqlite3_stmt *st = sq_stmt(s->w, small_levels[l].count, err);
        int found = 0;
        s->ids_small[l] = 0;
        if (st == NULL || sq_query_i64(s->w, st, &s->ids_small[l], &found, err,
                                       "counting the ids of a small level") != HD_OK) {
            return HD_EIO;
        }
    }
    return seen_load(s, err);
}
