/* stats.c - GET /api/stats: counts of events grouped by a dimension and,
 * optionally, by time bucket, aggregated inside the store.
 *
 * DESIGN: aggregation runs in SQL over the events_ts_dims covering index
 * (schema.c): with a time range, or grouped by time, SQLite walks
 * the index range and counts without touching the table rows; grouped by
 * severity/state/source/namespace alone it uses the single-column index of
 * that dimension. Only the rule (labels.rule, else name) needs the rows, and
 * the arrival time (by_received: no index, docs/api.md says what it costs).
 * The statement is prepared per call: the filter combination times five
 * groupings times interval-or-not is too many to cache on every reader.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sqlite_int.h"

static const char *const st_group_expr[] = {
    [HD_STATS_SEVERITY] = "severity", [HD_STATS_STATE] = "state",     [HD_STATS_NAMESPACE] = "k8s_namespace",
    [HD_STATS_SOURCE] = "source",     [HD_STATS_RULE] = SQ_RULE_EXPR,
};

static int row_stats(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *stm, void *out)
{
    (void)s;
    (void)c;
    struct hd_stats_row *r = out;
    memset(r, 0, sizeof(*r));
    r->bucket_ms = sqlite3_column_int64(stm, 0);
    r->count = sqlite3_column_int64(stm, 2);
    sq_col_fixed(stm, 1, r->key, sizeof(r->key));
    return HD_OK;
}

/* Grouped by state: the key is the state's name. */
static int row_stats_state(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *stm, void *out)
{
    struct hd_stats_row *r = out;
    row_stats(s, c, stm, r);
    int v = sqlite3_column_int(stm, 1);
    const char *name = (v >= HD_STATE_ACTIVE && v <= HD_STATE_RESOLVED) ? sq_states[v] : "ACTIVE";
    snprintf(r->key, sizeof(r->key), "%s", name);
    return HD_OK;
}

static int stats_check(const struct hd_stats_query *sq, struct hd_err *err)
{
    if ((int)sq->group < 0 || (size_t)sq->group >= sizeof(st_group_expr) / sizeof(st_group_expr[0])) {
        return hd_err_set(err, HD_EINVAL, "groupBy: unknown grouping %d", (int)sq->group);
    }
    if (sq->interval_ms < 0 || sq->max_rows == 0) {
        return hd_err_set(err, HD_EINVAL, "stats: interval must be >= 0 and max_rows > 0");
    }
    return HD_OK;
}

/* Buckets: integer division of microseconds by ?11 (the interval in us).
 * Only constant fragments go into the text; every value is bound. */
static void stats_bind(sqlite3_stmt *stm, const struct hd_stats_query *sq, int state, const char *pattern)
{
    sq_query_bind(stm, sq->filter, state, pattern);
    if (sq->interval_ms > 0) {
        int64_t iv_us = sq->interval_ms > INT64_MAX / 1000 ? INT64_MAX : sq->interval_ms * 1000;
        sqlite3_bind_int64(stm, QF_PARAMS + 1, iv_us);
        sqlite3_bind_int64(stm, QF_PARAMS + 2, sq->interval_ms);
    }
    sqlite3_bind_int64(stm, QF_PARAMS + 3,
                       sq->max_rows >= (size_t)INT64_MAX ? INT64_MAX : (int64_t)sq->max_rows + 1);
}

/* One stats call: its query, its filters and its SQL text. */
struct stats_call {
    struct hd_stats_query q; /* q.filter never NULL */
    int state;
    unsigned mask;
    char sql[1024];
    size_t len;
};

/* The filters and the text of the call. */
static int stats_prepare(struct stats_call *sc, struct hd_err *err)
{
    int rc = stats_check(&sc->q, err);
    if (rc == HD_OK) {
        rc = sq_query_filters(sc->q.filter, &sc->state, &sc->mask, err);
    }
    if (rc != HD_OK) {
        return rc;
    }
    const char *bucket = sc->q.interval_ms <= 0      ? "0"
                         : sc->q.filter->by_received ? "(recv_us / ?11) * ?12"
                                                     : "(ts_us / ?11) * ?12";
    struct sq_text t = {
        .head = {"SELECT ", bucket, ", ", st_group_expr[sc->q.group], ", count(*) FROM events WHERE 1"},
        .mask = sc->mask,
        .tail = " GROUP BY 1, 2 ORDER BY 1, 3 DESC LIMIT ?13",
        .too_long = "store: stats query text too long"};
    return sq_query_text(&t, sc->sql, sizeof(sc->sql), &sc->len, err);
}

/* Prepares, binds and runs the call's statement on a reader. */
static int stats_run(struct sq_store *s, const struct stats_call *sc, struct sq_rows *r, struct hd_err *err)
{
    char *pattern = NULL;
    if (sc->mask & (1u << QF_Q)) {
        pattern = sq_like_pattern(sc->q.filter->q);
        if (pattern == NULL) {
            return hd_err_set(err, HD_ENOMEM, "store: out of memory");
        }
    }
    int ret = HD_EIO;
    sqlite3_stmt *stm = NULL;
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        ret = HD_EIO;
    } else if (sqlite3_prepare_v2(c->db, sc->sql, (int)sc->len, &stm, NULL) != SQLITE_OK) {
        ret = sq_fail(c, err, "preparing the stats query");
    } else {
        stats_bind(stm, &sc->q, sc->state, pattern);
        ret = sq_collect(s, c, stm, r, err);
    }
    sqlite3_finalize(stm);
    sq_reader_put(s, c);
    free(pattern);
    return ret;
}

int sq_stats(struct hd_store *st, const struct hd_stats_query *q, struct hd_stats_row **out, size_t *n,
             int *truncated, struct hd_err *err)
{
    struct hd_event_query none = {.severity = -1};
    struct stats_call sc = {.q = *q, .state = -1};
    if (sc.q.filter == NULL) {
        sc.q.filter = &none;
    }
    int ret = stats_prepare(&sc, err);
    if (ret != HD_OK) {
        return ret;
    }
    struct sq_rows r = {.row = sc.q.group == HD_STATS_STATE ? row_stats_state : row_stats,
                        .elem_size = sizeof(struct hd_stats_row),
                        .max = sc.q.max_rows,
                        .what = "aggregating events",
                        .oom = "store: out of memory aggregating events"};
    ret = stats_run(sq_of(st), &sc, &r, err);
    if (ret != HD_OK) {
        return ret;
    }
    *out = r.v;
    *n = r.n;
    if (truncated != NULL) {
        *truncated = r.more;
    }
    return HD_OK;
}
