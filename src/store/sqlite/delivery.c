/* delivery.c - delivery state: channel cursors, the exception rows
 * (PENDING retries, FAILED dead letters), manual retries and replays.
 *
 * DESIGN: per channel a cursor (the last seq handed over) and rows only for
 * the exceptions; no row per event per channel. progress() moves a cursor
 * and upserts the exception rows of one batch in one op. The writes check
 * that the channel still exists: a deleted channel must not get rows back
 * (they would pin the log against retention).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "sqlite_int.h"

/* ---- cursors ----------------------------------------------------------- */

int sq_cursor_read(struct sq_conn *c, int64_t channel_id, int64_t *cursor, int *found, struct hd_err *err)
{
    sqlite3_stmt *cg = sq_stmt(c, Q_CUR_GET, err);
    if (cg == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(cg, 1, channel_id);
    return sq_query_i64(c, cg, cursor, found, err, "reading a cursor");
}

int sq_cursor_get(struct hd_store *st, int64_t channel_id, int64_t *cursor, struct hd_err *err)
{
    return sq_read_i64(sq_of(st), Q_CUR_GET, channel_id, cursor, "reading a cursor", err);
}

/* ---- progress ---------------------------------------------------------- */

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
    /* A deleted channel must not get rows back: they would pin the log. */
    int rc = sq_channel_check(c, a->channel_id, err);
    if (rc != HD_OK) {
        return rc;
    }
    const int64_t adv[] = {a->channel_id, a->new_cursor};
    if (a->new_cursor >= 0 && sq_exec_i64(c, Q_CUR_ADVANCE, adv, 2, "advancing a cursor", err) != HD_OK) {
        return HD_EIO;
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
        sq_bind_text(ups, 10, d->last_error);
        if (sq_step_done(c, ups, err, "recording a delivery") != HD_OK) {
            hd_err_prefix(err, "ups[%zu]: ", i);
            return HD_EIO;
        }
    }
    return HD_OK;
}

int sq_progress(struct hd_store *st, int64_t channel_id, int64_t new_cursor, const struct hd_delivery *ups,
                size_t n, struct hd_err *err)
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

/* ---- retries and replays ----------------------------------------------- */

struct retry_args {
    int64_t id; /* delivery id (one) or channel id (all of a channel) */
    int one;
    int64_t now_ms;
    size_t count;
};

static int op_delivery_retry(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct retry_args *a = arg;
    const int64_t p[] = {a->id, a->now_ms};
    if (sq_exec_i64(c, a->one ? Q_DL_RETRY : Q_DL_RETRY_CH, p, 2,
                    a->one ? "retrying a delivery" : "retrying dead letters", err) != HD_OK) {
        return HD_EIO;
    }
    a->count = (size_t)sqlite3_changes(c->db);
    if (a->one && a->count == 0) {
        return hd_err_set(err, HD_ENOTFOUND, "id: no dead letter with id %lld (of an existing channel)",
                          (long long)a->id);
    }
    return HD_OK;
}

int sq_delivery_retry(struct hd_store *st, int64_t delivery_id, struct hd_err *err)
{
    struct retry_args a = {.id = delivery_id, .one = 1, .now_ms = hd_now_ms()};
    return sq_submit(sq_of(st), op_delivery_retry, &a, err);
}

int sq_delivery_retry_channel(struct hd_store *st, int64_t channel_id, size_t *count, struct hd_err *err)
{
    struct retry_args a = {.id = channel_id, .now_ms = hd_now_ms()};
    int rc = sq_submit(sq_of(st), op_delivery_retry, &a, err);
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
    (void)s;
    struct replay_args *a = arg;
    int rc = sq_channel_check(c, a->channel_id, err);
    if (rc != HD_OK) {
        return rc;
    }
    int64_t cursor = 0;
    int found = 0;
    if (sq_cursor_read(c, a->channel_id, &cursor, &found, err) != HD_OK) {
        return HD_EIO;
    }
    const int64_t p[] = {a->channel_id, a->from_us, a->to_us, a->now_ms, found ? cursor : 0};
    if (sq_exec_i64(c, Q_DL_REPLAY, p, 5, "queueing a replay", err) != HD_OK) {
        return HD_EIO;
    }
    a->count = (size_t)sqlite3_changes(c->db);
    return HD_OK;
}

/* to_us <= 0 means no upper bound. Events after the channel's cursor are not
 * queued: the cursor delivers them anyway, a row would send them twice. */
int sq_replay(struct hd_store *st, int64_t channel_id, int64_t from_us, int64_t to_us, size_t *count,
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

/* ---- reads ------------------------------------------------------------- */

static int row_delivery(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *st, void *out)
{
    (void)s;
    (void)c;
    struct hd_delivery *d = out;
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(st, 0);
    d->channel_id = sqlite3_column_int64(st, 1);
    d->event_seq = sqlite3_column_int64(st, 2);
    sq_col_fixed(st, 3, d->event_id, sizeof(d->event_id));
    d->status = (enum hd_delivery_status)sqlite3_column_int(st, 4);
    d->attempts = sqlite3_column_int(st, 5);
    d->first_ms = sqlite3_column_int64(st, 6);
    d->next_ms = sqlite3_column_int64(st, 7);
    d->updated_ms = sqlite3_column_int64(st, 8);
    d->last_status = sqlite3_column_int(st, 9);
    return sq_col_dup(st, 10, &d->last_error);
}

static void clear_delivery(void *d)
{
    free(((struct hd_delivery *)d)->last_error);
}

/* Rows of statement id; p[i] is bound as ?i+1 where the statement has it. */
static int deliveries_read(struct sq_store *s, enum sq_stmt_id id, const int64_t p[3],
                           struct hd_delivery **out, size_t *n, struct hd_err *err)
{
    struct sq_rows r = {.row = row_delivery,
                        .clear = clear_delivery,
                        .elem_size = sizeof(struct hd_delivery),
                        .what = "reading deliveries",
                        .oom = "store: out of memory reading deliveries"};
    int rc = sq_read_rows(s, id, p, 3, &r, err);
    if (rc == HD_OK) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int sq_due_retries(struct hd_store *st, const struct hd_delivery_query *q, struct hd_delivery **out,
                   size_t *n, struct hd_err *err)
{
    const int64_t p[] = {q->channel_id, q->now_ms, (int64_t)sq_limit(q->limit)};
    return deliveries_read(sq_of(st), Q_DL_DUE, p, out, n, err);
}

int sq_deliveries_list(struct hd_store *st, const struct hd_delivery_query *q, struct hd_delivery **out,
                       size_t *n, struct hd_err *err)
{
    const int64_t p[] = {q->channel_id, q->status, (int64_t)sq_limit(q->limit)};
    return deliveries_read(sq_of(st), Q_DL_LIST, p, out, n, err);
}

int sq_deliveries_of_event(struct hd_store *st, int64_t event_seq, struct hd_delivery **out, size_t *n,
                           struct hd_err *err)
{
    const int64_t p[] = {event_seq, 0, 0};
    return deliveries_read(sq_of(st), Q_DL_OF_EVENT, p, out, n, err);
}

int sq_pending_count(struct hd_store *st, int64_t channel_id, int64_t *count, struct hd_err *err)
{
    return sq_read_i64(sq_of(st), Q_DL_PENDING_COUNT, channel_id, count, "counting pending deliveries", err);
}

int sq_channel_lag(struct hd_store *st, int64_t channel_id, int64_t cursor, struct hd_channel_lag *out,
                   struct hd_err *err)
{
    struct sq_store *s = sq_of(st);
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        return HD_EIO;
    }
    int rc = HD_EIO;
    sqlite3_stmt *q = sq_stmt(c, Q_DL_LAG, err);
    if (q != NULL) {
        sqlite3_bind_int64(q, 1, channel_id);
        sqlite3_bind_int64(q, 2, cursor);
        if (sqlite3_step(q) == SQLITE_ROW) {
            out->pending = sqlite3_column_int64(q, 0);
            out->failed = sqlite3_column_int64(q, 1);
            out->oldest_recv_us = sqlite3_column_int64(q, 2); /* NULL reads as 0 */
            rc = HD_OK;
        } else {
            rc = sq_fail(c, err, "reading a channel's undelivered events");
        }
        sqlite3_reset(q);
    }
    sq_reader_put(s, c);
    return rc;
}

int sq_dead_count(struct hd_store *st, int64_t channel_id, int64_t *count, struct hd_err *err)
{
    return sq_read_i64(sq_of(st), Q_DL_DEAD_COUNT, channel_id, count, "counting dead letters", err);
}
