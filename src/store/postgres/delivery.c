/* delivery.c - cursors and the exception rows (retries, dead letters).
 *
 * Cursor writes are fenced by the channel's lease: progress by a replica
 * that lost the lease (it was stalled past the expiry and another replica
 * took the channel over) changes nothing and answers HD_ECONFLICT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "pg_int.h"

#define PG_DL_COLS                                                                                           \
    "id, channel_id, event_seq, event_id, status, attempts, first_ms, next_ms, updated_ms, last_status, "    \
    "last_error"
#define PG_DL_DEFAULT 100
#define PG_DL_MAX 1000

int pg_fence(struct pg_store *s, PGconn *c, int64_t channel_id, struct hd_err *err)
{
    char name[40];
    snprintf(name, sizeof(name), "channel:%lld", (long long)channel_id);
    struct pg_params p = {0};
    pp_str(&p, name);
    pp_str(&p, pg_replica_id(s));
    PGresult *r =
        pg_exec(c, "SELECT 1 FROM leases WHERE name = $1 AND owner = $2 AND expires > now() FOR SHARE", &p,
                "checking the channel's lease", err);
    if (r == NULL) {
        return err->code;
    }
    int held = PQntuples(r) > 0;
    PQclear(r);
    return held ? HD_OK
                : hd_err_set(err, HD_ECONFLICT,
                             "channel %lld: this replica no longer delivers it (lease moved)",
                             (long long)channel_id);
}

struct cur_args {
    int64_t channel_id, cursor;
};

static int op_cursor_get(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct cur_args *a = arg;
    struct pg_params p = {0};
    pp_i64(&p, a->channel_id);
    PGresult *r = pg_exec(c, "SELECT cursor FROM cursors WHERE channel_id = $1", &p, "reading a cursor", err);
    if (r == NULL) {
        return err->code;
    }
    a->cursor = PQntuples(r) > 0 ? pg_i64(r, 0, 0) : 0;
    PQclear(r);
    return HD_OK;
}

int pg_cursor_get(struct hd_store *st, int64_t channel_id, int64_t *cursor, struct hd_err *err)
{
    struct cur_args a = {.channel_id = channel_id};
    int rc = pg_run(pg_of(st), op_cursor_get, &a, err);
    if (rc == HD_OK) {
        *cursor = a.cursor;
    }
    return rc;
}

struct progress_args {
    int64_t channel_id, new_cursor, now_ms;
    const struct hd_delivery *ups;
    size_t n;
};

static int upsert_row(PGconn *c, int64_t channel_id, const struct hd_delivery *d, int64_t now_ms,
                      struct hd_err *err)
{
    struct pg_params p = {0};
    pp_i64(&p, channel_id);
    pp_i64(&p, d->event_seq);
    if (d->status == HD_DELIVERY_DELIVERED) {
        return pg_cmd(c, "DELETE FROM deliveries WHERE channel_id = $1 AND event_seq = $2", &p,
                      "clearing a delivery", err);
    }
    pp_str(&p, d->event_id);
    pp_i64(&p, (int64_t)d->status);
    pp_i64(&p, d->attempts);
    pp_i64(&p, d->first_ms);
    pp_i64(&p, d->next_ms);
    pp_i64(&p, d->updated_ms != 0 ? d->updated_ms : now_ms);
    pp_i64(&p, d->last_status);
    pp_str(&p, d->last_error);
    return pg_cmd(
        c,
        "INSERT INTO deliveries (channel_id, event_seq, event_id, status, attempts, first_ms, next_ms, "
        "updated_ms, last_status, last_error) VALUES ($1, $2, coalesce(nullif($3, ''), (SELECT id FROM "
        "events "
        "WHERE seq = $2::bigint), ''), $4, $5, CASE WHEN $6::bigint = 0 THEN $8::bigint ELSE $6::bigint END, "
        "$7, "
        "$8, $9, $10) ON CONFLICT (channel_id, event_seq) DO UPDATE SET event_id = excluded.event_id, "
        "status = excluded.status, attempts = excluded.attempts, "
        "first_ms = CASE WHEN $6::bigint = 0 THEN deliveries.first_ms ELSE $6::bigint END, "
        "next_ms = excluded.next_ms, updated_ms = excluded.updated_ms, "
        "last_status = excluded.last_status, last_error = excluded.last_error",
        &p, "recording a delivery", err);
}

static int op_progress(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    struct progress_args *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        enum hd_delivery_status st = a->ups[i].status;
        if (st != HD_DELIVERY_PENDING && st != HD_DELIVERY_FAILED && st != HD_DELIVERY_DELIVERED) {
            return hd_err_set(err, HD_EINVAL, "ups[%zu].status: unknown status %d", i, (int)st);
        }
    }
    struct pg_params p = {0};
    pp_i64(&p, a->channel_id);
    PGresult *r = pg_exec(c, "SELECT 1 FROM channels WHERE id = $1", &p, "reading a channel", err);
    if (r == NULL) {
        return err->code;
    }
    int exists = PQntuples(r) > 0;
    PQclear(r);
    if (!exists) { /* a deleted channel must not get rows back: they would pin the log */
        return hd_err_set(err, HD_ENOTFOUND, "id: no channel with id %lld", (long long)a->channel_id);
    }
    int rc = pg_fence(s, c, a->channel_id, err);
    if (rc == HD_OK && a->new_cursor >= 0) {
        pp_i64(&p, a->new_cursor);
        rc = pg_cmd(c, "UPDATE cursors SET cursor = $2 WHERE channel_id = $1 AND cursor < $2", &p,
                    "advancing a cursor", err);
    }
    for (size_t i = 0; rc == HD_OK && i < a->n; i++) {
        rc = upsert_row(c, a->channel_id, &a->ups[i], a->now_ms, err);
    }
    return rc;
}

int pg_progress(struct hd_store *st, int64_t channel_id, int64_t new_cursor, const struct hd_delivery *ups,
                size_t n, struct hd_err *err)
{
    struct progress_args a = {
        .channel_id = channel_id, .new_cursor = new_cursor, .now_ms = hd_now_ms(), .ups = ups, .n = n};
    return pg_run_tx(pg_of(st), op_progress, &a, err);
}

/* ---- exception rows ---- */

struct dl_args {
    const char *sql;
    struct pg_params p;
    struct hd_delivery *rows;
    size_t n;
};

static int read_rows(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct dl_args *a = arg;
    PGresult *r = pg_exec(c, a->sql, &a->p, "reading deliveries", err);
    if (r == NULL) {
        return err->code;
    }
    size_t n = (size_t)PQntuples(r);
    a->rows = calloc(n + 1, sizeof(*a->rows));
    if (a->rows == NULL) {
        PQclear(r);
        return hd_err_set(err, HD_ENOMEM, "store: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        struct hd_delivery *d = &a->rows[i];
        int row = (int)i;
        d->id = pg_i64(r, row, 0);
        d->channel_id = pg_i64(r, row, 1);
        d->event_seq = pg_i64(r, row, 2);
        snprintf(d->event_id, sizeof(d->event_id), "%s", PQgetvalue(r, row, 3));
        d->status = (enum hd_delivery_status)pg_i64(r, row, 4);
        d->attempts = (int)pg_i64(r, row, 5);
        d->first_ms = pg_i64(r, row, 6);
        d->next_ms = pg_i64(r, row, 7);
        d->updated_ms = pg_i64(r, row, 8);
        d->last_status = (int)pg_i64(r, row, 9);
        d->last_error = pg_dup(r, row, 10);
    }
    a->n = n;
    PQclear(r);
    return HD_OK;
}

static int rows_run(struct hd_store *st, struct dl_args *a, struct hd_delivery **out, size_t *n,
                    struct hd_err *err)
{
    int rc = pg_run(pg_of(st), read_rows, a, err);
    if (rc == HD_OK) {
        *out = a->rows;
        *n = a->n;
    }
    return rc;
}

static int64_t lim(size_t limit)
{
    return limit == 0 ? PG_DL_DEFAULT : limit > PG_DL_MAX ? PG_DL_MAX : (int64_t)limit;
}

int pg_due_retries(struct hd_store *st, const struct hd_delivery_query *q, struct hd_delivery **out,
                   size_t *n, struct hd_err *err)
{
    struct dl_args a = {.sql = "SELECT " PG_DL_COLS " FROM deliveries WHERE channel_id = $1 AND status = 0 "
                               "AND next_ms <= $2 ORDER BY event_seq LIMIT $3"};
    pp_i64(&a.p, q->channel_id);
    pp_i64(&a.p, q->now_ms);
    pp_i64(&a.p, lim(q->limit));
    return rows_run(st, &a, out, n, err);
}

int pg_deliveries_list(struct hd_store *st, const struct hd_delivery_query *q, struct hd_delivery **out,
                       size_t *n, struct hd_err *err)
{
    struct dl_args a = {.sql = "SELECT " PG_DL_COLS
                               " FROM deliveries WHERE ($1::bigint = 0 OR channel_id = $1::bigint) "
                               "AND ($2::int < 0 OR status = $2::int) ORDER BY id DESC LIMIT $3"};
    pp_i64(&a.p, q->channel_id);
    pp_i64(&a.p, q->status);
    pp_i64(&a.p, lim(q->limit));
    return rows_run(st, &a, out, n, err);
}

int pg_deliveries_of_event(struct hd_store *st, int64_t event_seq, struct hd_delivery **out, size_t *n,
                           struct hd_err *err)
{
    struct dl_args a = {.sql =
                            "SELECT " PG_DL_COLS " FROM deliveries WHERE event_seq = $1 ORDER BY channel_id"};
    pp_i64(&a.p, event_seq);
    return rows_run(st, &a, out, n, err);
}

/* ---- changes to exception rows (announced: the channel's owner reloads) ---- */

struct change_args {
    const char *sql;
    const char *what;
    struct pg_params p;
    int64_t channel_check; /* > 0: ENOTFOUND unless this channel exists */
    const char *none;      /* ENOTFOUND when nothing changed, or NULL */
    size_t count;
};

static int op_change(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct change_args *a = arg;
    if (a->channel_check > 0) {
        struct pg_params q = {0};
        pp_i64(&q, a->channel_check);
        PGresult *r = pg_exec(c, "SELECT 1 FROM channels WHERE id = $1", &q, "reading a channel", err);
        if (r == NULL) {
            return err->code;
        }
        int exists = PQntuples(r) > 0;
        PQclear(r);
        if (!exists) {
            return hd_err_set(err, HD_ENOTFOUND, "id: no channel with id %lld", (long long)a->channel_check);
        }
    }
    PGresult *r = pg_exec(c, a->sql, &a->p, a->what, err);
    if (r == NULL) {
        return err->code;
    }
    a->count = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    if (a->count == 0 && a->none != NULL) {
        return hd_err_set(err, HD_ENOTFOUND, "%s", a->none);
    }
    return a->count > 0 ? pg_notify_channels(c, err) : HD_OK;
}

int pg_delivery_retry(struct hd_store *st, int64_t delivery_id, struct hd_err *err)
{
    char none[64];
    snprintf(none, sizeof(none), "delivery %lld: no such dead letter", (long long)delivery_id);
    struct change_args a = {
        .sql = "UPDATE deliveries SET status = 0, attempts = 0, next_ms = $2, updated_ms = $2 "
               "WHERE id = $1 AND status = 1 AND EXISTS (SELECT 1 FROM channels c WHERE c.id = channel_id)",
        .what = "queueing a retry",
        .none = none};
    pp_i64(&a.p, delivery_id);
    pp_i64(&a.p, hd_now_ms());
    return pg_run_tx(pg_of(st), op_change, &a, err);
}

int pg_delivery_retry_channel(struct hd_store *st, int64_t channel_id, size_t *count, struct hd_err *err)
{
    struct change_args a = {
        .sql = "UPDATE deliveries SET status = 0, attempts = 0, next_ms = $2, updated_ms = $2 "
               "WHERE channel_id = $1 AND status = 1",
        .what = "queueing retries",
        .channel_check = channel_id};
    pp_i64(&a.p, channel_id);
    pp_i64(&a.p, hd_now_ms());
    int rc = pg_run_tx(pg_of(st), op_change, &a, err);
    if (rc == HD_OK && count != NULL) {
        *count = a.count;
    }
    return rc;
}

int pg_replay(struct hd_store *st, int64_t channel_id, int64_t from_us, int64_t to_us, size_t *count,
              struct hd_err *err)
{
    /* events after the cursor are not queued: the cursor delivers them anyway */
    struct change_args a = {
        .sql =
            "INSERT INTO deliveries (channel_id, event_seq, event_id, status, attempts, first_ms, next_ms, "
            "updated_ms, last_status, last_error) SELECT $1::bigint, seq, id, 0, 0, $4::bigint, $4::bigint, "
            "$4::bigint, 0, NULL FROM events "
            "WHERE ts_us >= $2::bigint AND ts_us <= $3::bigint AND seq <= coalesce((SELECT cursor FROM "
            "cursors "
            "WHERE channel_id = $1::bigint), 0) ON CONFLICT (channel_id, event_seq) DO NOTHING",
        .what = "queueing a replay",
        .channel_check = channel_id};
    pp_i64(&a.p, channel_id);
    pp_i64(&a.p, from_us);
    pp_i64(&a.p, to_us > 0 ? to_us : INT64_MAX);
    pp_i64(&a.p, hd_now_ms());
    int rc = pg_run_tx(pg_of(st), op_change, &a, err);
    if (rc == HD_OK && count != NULL) {
        *count = a.count;
    }
    return rc;
}

static int op_count(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct cur_args *a = arg;
    struct pg_params p = {0};
    pp_i64(&p, a->channel_id);
    PGresult *r = pg_exec(c, "SELECT count(*) FROM deliveries WHERE channel_id = $1 AND status = 0", &p,
                          "counting retries", err);
    if (r == NULL) {
        return err->code;
    }
    a->cursor = pg_i64(r, 0, 0);
    PQclear(r);
    return HD_OK;
}

int pg_pending_count(struct hd_store *st, int64_t channel_id, int64_t *count, struct hd_err *err)
{
    struct cur_args a = {.channel_id = channel_id};
    int rc = pg_run(pg_of(st), op_count, &a, err);
    if (rc == HD_OK) {
        *count = a.cursor;
    }
    return rc;
}

int pg_import_cursor(struct hd_store *st, int64_t channel_id, int64_t cursor, struct hd_err *err)
{
    struct change_args a = {.sql = "INSERT INTO cursors (channel_id, cursor) VALUES ($1, $2) "
                                   "ON CONFLICT (channel_id) DO UPDATE SET cursor = excluded.cursor",
                            .what = "importing a cursor"};
    pp_i64(&a.p, channel_id);
    pp_i64(&a.p, cursor);
    return pg_run_tx(pg_of(st), op_change, &a, err);
}

int pg_import_delivery(struct hd_store *st, const struct hd_delivery *d, struct hd_err *err)
{
    struct change_args a = {
        .sql =
            "INSERT INTO deliveries (channel_id, event_seq, event_id, status, attempts, first_ms, next_ms, "
            "updated_ms, last_status, last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (channel_id, event_seq) DO NOTHING",
        .what = "importing a delivery"};
    pp_i64(&a.p, d->channel_id);
    pp_i64(&a.p, d->event_seq);
    pp_str(&a.p, d->event_id);
    pp_i64(&a.p, (int64_t)d->status);
    pp_i64(&a.p, d->attempts);
    pp_i64(&a.p, d->first_ms);
    pp_i64(&a.p, d->next_ms);
    pp_i64(&a.p, d->updated_ms);
    pp_i64(&a.p, d->last_status);
    pp_str(&a.p, d->last_error);
    return pg_run_tx(pg_of(st), op_change, &a, err);
}

struct lag_args {
    int64_t channel_id, cursor;
    struct hd_channel_lag *out;
};

static int op_lag(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct lag_args *a = arg;
    struct pg_params p = {0};
    pp_i64(&p, a->channel_id);
    pp_i64(&p, a->cursor);
    PGresult *r = pg_exec(c,
                          "SELECT (SELECT count(*) FROM deliveries WHERE status = 0 AND channel_id = $1), "
                          "(SELECT count(*) FROM deliveries WHERE status = 1 AND channel_id = $1), "
                          "(SELECT min(recv_us) FROM events WHERE seq IN ((SELECT min(seq) FROM events "
                          "WHERE seq > $2), (SELECT min(event_seq) FROM deliveries WHERE status = 0 "
                          "AND channel_id = $1)))",
                          &p, "reading a channel's undelivered events", err);
    if (r == NULL) {
        return err->code;
    }
    a->out->pending = pg_i64(r, 0, 0);
    a->out->failed = pg_i64(r, 0, 1);
    a->out->oldest_recv_us = pg_i64(r, 0, 2);
    PQclear(r);
    return HD_OK;
}

int pg_channel_lag(struct hd_store *st, int64_t channel_id, int64_t cursor, struct hd_channel_lag *out,
                   struct hd_err *err)
{
    struct lag_args a = {.channel_id = channel_id, .cursor = cursor, .out = out};
    return pg_run(pg_of(st), op_lag, &a, err);
}

int pg_dead_count(struct hd_store *st, int64_t channel_id, int64_t *count, struct hd_err *err)
{
    struct hd_channel_lag lag = {0};
    int rc = pg_channel_lag(st, channel_id, INT64_MAX, &lag, err);
    if (rc == HD_OK) {
        *count = lag.failed;
    }
    return rc;
}
