/* retention.c - prune: deletes old events, and the oldest while the
 * database is over its size limit.
 *
 * DESIGN: nothing a channel has not been handed yet may go (seq <= the
 * smallest cursor), nor an event a PENDING row still references. The events
 * are scanned in seq order, SQ_PRUNE_SCAN at a time; recv_us follows seq
 * (arrival order), so the first young event ends the age pass. A blob of
 * raws goes with the last event referencing it, an event's id key with it
 * (from both levels of the id index, ids.c). The work runs in chunks of
 * SQ_PRUNE_CHUNK events, one writer op (one transaction) each, so ingest
 * commits interleave with a large prune instead of waiting for all of it.
 */
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "sqlite_int.h"

#define SQ_PRUNE_CHUNK 5000 /* events deleted per writer op: ingest interleaves between chunks */
#define SQ_PRUNE_SCAN 256
#define SQ_ROW_OVERHEAD 200 /* record header, columns and six index entries, per event */

struct prune_args {
    int64_t max_age_ms, max_bytes;
    int64_t now_us;
    size_t deleted;
};

/* One chunk in progress. */
struct prune_pass {
    int64_t bound;  /* the highest seq that may go */
    int64_t cut;    /* recv_us below this is old enough */
    int64_t excess; /* bytes over max_bytes not yet freed */
    int64_t after;  /* the scan's position */
    int stop;
    size_t nv;
    int64_t victims[SQ_PRUNE_SCAN];
    int64_t vrids[SQ_PRUNE_SCAN]; /* blob each victim references, or 0 */
    int64_t vidks[SQ_PRUNE_SCAN]; /* each victim's id key (its rows in the id index) */
};

/* The pass's bound, cut and excess. */
static int prune_start(struct sq_store *s, struct sq_conn *c, const struct prune_args *a,
                       struct prune_pass *p, struct hd_err *err)
{
    sqlite3_stmt *mn = sq_stmt(c, Q_CUR_MIN, err);
    sqlite3_stmt *pg = sq_stmt(c, Q_PR_PAGES, err);
    if (mn == NULL || pg == NULL) {
        return HD_EIO;
    }
    /* Nothing a channel has not been handed yet may go. */
    p->bound = s->max_seq;
    int64_t min_cursor = 0;
    int found = 0;
    if (sq_query_i64(c, mn, &min_cursor, &found, err, "reading cursors") != HD_OK) {
        return HD_EIO;
    }
    if (found && min_cursor < p->bound) {
        p->bound = min_cursor;
    }
    p->cut = a->max_age_ms > 0 ? a->now_us - a->max_age_ms * 1000 : INT64_MIN;
    p->excess = 0;
    if (a->max_bytes > 0) {
        int rc = sqlite3_step(pg);
        if (rc == SQLITE_ROW) {
            int64_t used = sqlite3_column_int64(pg, 0) * sqlite3_column_int64(pg, 1);
            if (used > a->max_bytes) {
                p->excess = used - a->max_bytes;
            }
        }
        sqlite3_reset(pg);
        if (rc != SQLITE_ROW) {
            return sq_fail(c, err, "reading the database size");
        }
    }
    return HD_OK;
}

/* Scans up to SQ_PRUNE_SCAN events after p->after into p->victims. */
static int prune_scan(struct sq_conn *c, const struct prune_args *a, struct prune_pass *p, struct hd_err *err)
{
    sqlite3_stmt *scan = sq_stmt(c, Q_PR_SCAN, err);
    sqlite3_stmt *pend = sq_stmt(c, Q_PR_IS_PENDING, err);
    if (scan == NULL || pend == NULL) {
        return HD_EIO;
    }
    p->nv = 0;
    size_t rows = 0;
    sqlite3_bind_int64(scan, 1, p->after);
    sqlite3_bind_int64(scan, 2, p->bound);
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
            sq_ref_decode(sqlite3_column_blob(scan, 4), (size_t)sqlite3_column_bytes(scan, 4), &ref) ==
                HD_OK) {
            size += ref.share;
        }
        rows++;
        p->after = seq;
        /* recv_us follows seq (arrival order), so the first young
         * event ends the age pass. */
        if (recv_us >= p->cut && p->excess <= 0) {
            p->stop = 1;
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
        p->vrids[p->nv] = ref.rid;
        p->vidks[p->nv] = sqlite3_column_int64(scan, 5);
        p->victims[p->nv++] = seq;
        p->excess -= size;
        if (a->deleted + p->nv >= SQ_PRUNE_CHUNK) {
            break;
        }
    }
    sqlite3_reset(scan);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return sq_fail(c, err, "scanning events to prune");
    }
    if (rows == 0) {
        p->stop = 1;
    }
    return HD_OK;
}

/* Deletes the victims, their dead letters, their keys in the id index, and
 * the blobs they released. */
static int prune_delete(struct sq_conn *c, const struct prune_pass *p, struct hd_err *err)
{
    for (size_t i = 0; i < p->nv; i++) {
        /* Dead letters of a pruned event cannot be replayed any more. */
        if (sq_exec_i64(c, Q_PR_DEL_EVENT, &p->victims[i], 1, "pruning an event", err) != HD_OK ||
            sq_exec_i64(c, Q_PR_DEL_DLS, &p->victims[i], 1, "pruning dead letters", err) != HD_OK ||
            sq_ids_remove(c, p->vidks[i], p->victims[i], err) != HD_OK) {
            return HD_EIO;
        }
    }
    for (size_t i = 0; i < p->nv; i++) {
        if (p->vrids[i] != 0 && (i + 1 == p->nv || p->vrids[i + 1] != p->vrids[i])) {
            if (sq_exec_i64(c, Q_RAW_RELEASE, &p->vrids[i], 1, "pruning the raws of a batch", err) != HD_OK) {
                return HD_EIO;
            }
        }
    }
    return HD_OK;
}

static int op_prune(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct prune_args *a = arg;
    a->deleted = 0;
    struct prune_pass p = {0};
    int rc = prune_start(s, c, a, &p, err);
    while (rc == HD_OK && !p.stop && a->deleted < SQ_PRUNE_CHUNK) {
        rc = prune_scan(c, a, &p, err);
        if (rc == HD_OK) {
            rc = prune_delete(c, &p, err);
        }
        if (rc == HD_OK) {
            a->deleted += p.nv;
        }
    }
    return rc;
}

/* Runs in chunks of SQ_PRUNE_CHUNK, one transaction each, so ingest commits
 * interleave with a large prune instead of waiting for all of it. */
int sq_prune(struct hd_store *st, int64_t max_age_ms, int64_t max_bytes, size_t *deleted, struct hd_err *err)
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
