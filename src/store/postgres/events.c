/* events.c - reading the event log: by seq, by id, the API's query (same
 * filters and paging as SQLite), and stats aggregated in SQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/util.h"
#include "model/source.h"
#include "pg_int.h"

#define PG_DEFAULT_LIMIT 100
#define PG_MAX_LIMIT 1000
#define PG_MAX_SEQ_TTL_MS 20 /* max_seq is asked on every dispatcher turn */
/* groupBy=rule and rule=: labels.rule, else the name (as SQLite's SQ_RULE_EXPR) */
#define PG_RULE_EXPR "coalesce(labels::jsonb->>'rule', name)"

int pg_event_row(const PGresult *r, int row, struct hd_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->seq = pg_i64(r, row, 0);
    snprintf(ev->id, sizeof(ev->id), "%s", PQgetvalue(r, row, 1));
    const struct hd_source *src = hd_source_find(PQgetvalue(r, row, 2));
    if (src == NULL) {
        return HD_EIO; /* an unknown source stored is an error, never "generic" */
    }
    ev->source = src->name;
    ev->ts_us = pg_i64(r, row, 3);
    ev->recv_us = pg_i64(r, row, 4);
    ev->severity = (int)pg_i64(r, row, 5);
    ev->state = (enum hd_state)pg_i64(r, row, 6);
    char **strs[HD_EVENT_NSTR];
    hd_event_strs(ev, strs);
    for (size_t i = 0; i < HD_EVENT_NSTR; i++) {
        if (!PQgetisnull(r, row, 7 + (int)i) && (*strs[i] = pg_dup(r, row, 7 + (int)i)) == NULL) {
            hd_event_clear(ev);
            return HD_ENOMEM;
        }
    }
    if (!PQgetisnull(r, row, 19)) {
        size_t len = 0;
        unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, 19), &len);
        ev->raw = b != NULL ? malloc(len + 1) : NULL;
        if (ev->raw == NULL) {
            PQfreemem(b);
            hd_event_clear(ev);
            return HD_ENOMEM;
        }
        memcpy(ev->raw, b, len);
        ev->raw[len] = '\0';
        ev->raw_len = len;
        PQfreemem(b);
    }
    return HD_OK;
}

/* Every row of r as events. */
static int rows_to_events(const PGresult *r, size_t max, struct hd_event **out, size_t *n, struct hd_err *err)
{
    size_t rows = (size_t)PQntuples(r);
    rows = rows > max ? max : rows;
    struct hd_event *evs = calloc(rows + 1, sizeof(*evs));
    if (evs == NULL) {
        return hd_err_set(err, HD_ENOMEM, "store: out of memory");
    }
    for (size_t i = 0; i < rows; i++) {
        int rc = pg_event_row(r, (int)i, &evs[i]);
        if (rc != HD_OK) {
            hd_events_free(evs, i);
            return hd_err_set(err, rc, "store: event %s cannot be read (unknown source '%.32s')",
                              PQgetvalue(r, (int)i, 0), PQgetvalue(r, (int)i, 2));
        }
    }
    *out = evs;
    *n = rows;
    return HD_OK;
}

struct read_args {
    const char *sql;
    struct pg_params p;
    size_t max;
    struct hd_event *evs;
    size_t n;
    int64_t total; /* a query's column after PG_EV_COLS, if any: the rows before the byte bound */
    const char *what;
};

/* What a row holds at the peak of its read (the byte bounds): a raw is hex
 * text in the result (2 bytes a byte; octet_length reads a TOASTed value's
 * size without fetching it), plus about what each row adds (hd_event_bytes).
 * The events made from the result hold half of it. */
#define PG_ROW_BYTES "(2 * coalesce(octet_length(raw), 0) + 256)"
#define PG_EV_NCOLS 20

/* A byte bound as the SQL parameter compared with the running sum: 0 (none)
 * as the largest value. */
static int64_t bytes_param(size_t max_bytes)
{
    return max_bytes != 0 && max_bytes < (size_t)INT64_MAX ? (int64_t)max_bytes : INT64_MAX;
}

static int read_events(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct read_args *a = arg;
    PGresult *r = pg_exec(c, a->sql, &a->p, a->what, err);
    if (r == NULL) {
        return err->code;
    }
    int rc = rows_to_events(r, a->max, &a->evs, &a->n, err);
    if (PQntuples(r) > 0 && PQnfields(r) > PG_EV_NCOLS) {
        a->total = pg_i64(r, 0, PG_EV_NCOLS);
    }
    PQclear(r);
    return rc;
}

/* The byte bound in SQL, so that the rows past it never leave the server:
 * a running sum of PG_ROW_BYTES keeps the rows that start under $3. */
int pg_events_after(struct hd_store *st, const struct hd_range *q, struct hd_event **out, size_t *n,
                    struct hd_err *err)
{
    size_t limit = q->limit != 0 ? q->limit : PG_DEFAULT_LIMIT;
    struct read_args a = {.sql = "SELECT " PG_EV_COLS " FROM (SELECT " PG_EV_COLS ", sum" PG_ROW_BYTES
                                 " OVER (ORDER BY seq) AS upto"
                                 " FROM events WHERE seq > $1 ORDER BY seq LIMIT $2) e"
                                 " WHERE upto - " PG_ROW_BYTES " < $3 ORDER BY seq",
                          .max = limit,
                          .what = "reading events"};
    pp_i64(&a.p, q->after_seq);
    pp_i64(&a.p, (int64_t)limit);
    pp_i64(&a.p, bytes_param(q->max_bytes));
    int rc = pg_run(pg_of(st), read_events, &a, err);
    if (rc == HD_OK) {
        *out = a.evs;
        *n = a.n;
    }
    return rc;
}

static int get_one(struct hd_store *st, const char *sql, struct pg_params p, const char *missing,
                   struct hd_event *out, struct hd_err *err)
{
    struct read_args a = {.sql = sql, .p = p, .max = 1, .what = "reading an event"};
    int rc = pg_run(pg_of(st), read_events, &a, err);
    if (rc != HD_OK) {
        return rc;
    }
    if (a.n == 0) {
        free(a.evs);
        return hd_err_set(err, HD_ENOTFOUND, "%s", missing);
    }
    *out = a.evs[0];
    free(a.evs);
    return HD_OK;
}

int pg_event_get(struct hd_store *st, const char *id, struct hd_event *out, struct hd_err *err)
{
    struct pg_params p = {0};
    pp_str(&p, id);
    char missing[128];
    snprintf(missing, sizeof(missing), "id: no event with id %.64s", id);
    return get_one(st, "SELECT " PG_EV_COLS " FROM events WHERE id = $1", p, missing, out, err);
}

int pg_event_get_seq(struct hd_store *st, int64_t seq, struct hd_event *out, struct hd_err *err)
{
    struct pg_params p = {0};
    pp_i64(&p, seq);
    char missing[64];
    snprintf(missing, sizeof(missing), "seq: no event with seq %lld", (long long)seq);
    return get_one(st, "SELECT " PG_EV_COLS " FROM events WHERE seq = $1", p, missing, out, err);
}

/* The WHERE clause of q (constant fragments, values bound in p). */
static int filters(const struct hd_event_query *q, struct hd_buf *sql, struct pg_params *p, char **pattern,
                   struct hd_err *err)
{
    int state = -1;
    if (q->state != NULL) {
        enum hd_state st;
        if (hd_state_parse(q->state, &st) != HD_OK) {
            return hd_err_set(err, HD_EINVAL, "state: unknown state '%s' (ACTIVE, OK or RESOLVED)", q->state);
        }
        state = (int)st;
    }
    int rc = hd_buf_puts(sql, " WHERE true");
    const char *t = q->by_received ? "recv_us" : "ts_us";
    if (q->from_us != 0) {
        pp_i64(p, q->from_us);
        rc = rc == HD_OK ? hd_buf_printf(sql, " AND %s >= $%d", t, p->n) : rc;
    }
    if (q->to_us != 0) {
        pp_i64(p, q->to_us);
        rc = rc == HD_OK ? hd_buf_printf(sql, " AND %s <= $%d", t, p->n) : rc;
    }
    if (q->severity_min > 0) {
        pp_i64(p, q->severity_min);
        rc = rc == HD_OK ? hd_buf_printf(sql, " AND severity >= $%d", p->n) : rc;
    }
    if (q->rule != NULL) {
        pp_str(p, q->rule);
        rc = rc == HD_OK ? hd_buf_printf(sql, " AND " PG_RULE_EXPR " = $%d", p->n) : rc;
    }
    if (q->severity >= 0) {
        pp_i64(p, q->severity);
        rc = rc == HD_OK ? hd_buf_printf(sql, " AND severity <= $%d", p->n) : rc;
    }
    if (state >= 0) {
        pp_i64(p, state);
        rc = rc == HD_OK ? hd_buf_printf(sql, " AND state = $%d", p->n) : rc;
    }
    if (q->source != NULL) {
        pp_str(p, q->source);
        rc = rc == HD_OK ? hd_buf_printf(sql, " AND source = $%d", p->n) : rc;
    }
    if (q->ns != NULL) {
        pp_str(p, q->ns);
        rc = rc == HD_OK ? hd_buf_printf(sql, " AND k8s_namespace = $%d", p->n) : rc;
    }
    if (q->q != NULL && q->q[0] != '\0') {
        *pattern = hd_store_like_pattern(q->q);
        if (*pattern == NULL) {
            return hd_err_set(err, HD_ENOMEM, "store: out of memory");
        }
        pp_str(p, *pattern);
        rc = rc == HD_OK ? hd_buf_printf(sql, " AND (name ILIKE $%d OR description ILIKE $%d)", p->n, p->n)
                         : rc;
    }
    if (q->before_seq > 0 && q->sort != HD_SORT_SEVERITY) {
        pp_i64(p, q->before_seq);
        rc = rc == HD_OK ? hd_buf_printf(sql, " AND seq < $%d", p->n) : rc;
    }
    return rc == HD_OK ? HD_OK : hd_err_set(err, HD_ENOMEM, "store: out of memory");
}

int pg_events_query(struct hd_store *st, const struct hd_event_query *q, struct hd_event **out, size_t *n,
                    int64_t *next_cursor, struct hd_err *err)
{
    struct hd_event_query none = {.severity = -1};
    q = q != NULL ? q : &none;
    size_t limit = q->limit == 0 ? PG_DEFAULT_LIMIT : q->limit > PG_MAX_LIMIT ? PG_MAX_LIMIT : q->limit;
    struct hd_buf sql;
    hd_buf_init(&sql, 0);
    struct read_args a = {.max = limit + 1, .what = "querying events"};
    char *pattern = NULL;
    /* The page's rows (i), their running bytes and count (e), those under the bound. */
    int rc = hd_buf_puts(&sql, "SELECT " PG_EV_COLS ", total FROM (SELECT " PG_EV_COLS
                               ", count(*) OVER () AS total, sum" PG_ROW_BYTES
                               " OVER w AS upto FROM (SELECT " PG_EV_COLS " FROM events");
    rc = rc == HD_OK ? filters(q, &sql, &a.p, &pattern, err) : rc;
    if (rc == HD_OK) {
        /* HD_SORT_SEVERITY: the most severe of the filters, newest first among equals, one page */
        const char *order = q->sort != HD_SORT_SEVERITY ? "ORDER BY seq DESC"
                            : q->by_received            ? "ORDER BY severity, seq DESC"
                                                        : "ORDER BY severity, ts_us DESC, seq DESC";
        pp_i64(&a.p, (int64_t)limit + 1); /* one more tells whether there is a next page */
        int lim = a.p.n;
        pp_i64(&a.p, bytes_param(q->max_bytes));
        rc =
            hd_buf_printf(&sql, " %s LIMIT $%d) i WINDOW w AS (%s)) e WHERE upto - " PG_ROW_BYTES " < $%d %s",
                          order, lim, order, a.p.n, order);
    }
    if (rc == HD_OK) {
        a.sql = sql.p;
        rc = pg_run(pg_of(st), read_events, &a, err);
    }
    if (rc == HD_OK) {
        int64_t next = 0;
        if (a.n > limit) {
            hd_event_clear(&a.evs[limit]);
            a.n = limit;
            next = q->sort != HD_SORT_SEVERITY ? a.evs[limit - 1].seq : 0;
        } else if (a.n > 0 && (int64_t)a.n < a.total) {
            next = q->sort != HD_SORT_SEVERITY ? a.evs[a.n - 1].seq : 0; /* the page's bytes are full */
        }
        *out = a.evs;
        *n = a.n;
        if (next_cursor != NULL) {
            *next_cursor = next;
        }
    }
    free(pattern);
    hd_buf_free(&sql);
    return rc;
}

static int read_max(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    PGresult *r = pg_exec(c, "SELECT last_seq FROM log_head", NULL, "reading the last seq", err);
    if (r == NULL) {
        return err->code;
    }
    *(int64_t *)arg = pg_i64(r, 0, 0);
    PQclear(r);
    return HD_OK;
}

int64_t pg_max_seq(struct hd_store *st)
{
    struct pg_store *s = pg_of(st);
    int64_t now = hd_mono_ms();
    if (now - atomic_load(&s->max_seq_at_ms) < PG_MAX_SEQ_TTL_MS) {
        return atomic_load(&s->max_seq_cache);
    }
    int64_t v = 0;
    struct hd_err err = {0};
    if (pg_run(s, read_max, &v, &err) == HD_OK) {
        int64_t cur = atomic_load(&s->max_seq_cache);
        while (v > cur && !atomic_compare_exchange_weak(&s->max_seq_cache, &cur, v)) {
        }
        atomic_store(&s->max_seq_at_ms, now);
    }
    return atomic_load(&s->max_seq_cache);
}

/* ---- stats -------------------------------------------------------------- */

static const char *const pg_group_expr[] = {
    [HD_STATS_SEVERITY] = "severity::text",
    [HD_STATS_STATE] = "state::text",
    [HD_STATS_NAMESPACE] = "coalesce(k8s_namespace, '')",
    [HD_STATS_SOURCE] = "source",
    [HD_STATS_RULE] = "coalesce(" PG_RULE_EXPR ", '')",
};

struct stats_args {
    const char *sql;
    struct pg_params p;
    enum hd_stats_group group;
    size_t max;
    struct hd_stats_row *rows;
    size_t n;
    int truncated;
};

static int read_stats(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct stats_args *a = arg;
    PGresult *r = pg_exec(c, a->sql, &a->p, "counting events", err);
    if (r == NULL) {
        return err->code;
    }
    size_t rows = (size_t)PQntuples(r);
    a->truncated = rows > a->max;
    rows = rows > a->max ? a->max : rows;
    a->rows = calloc(rows + 1, sizeof(*a->rows));
    if (a->rows == NULL) {
        PQclear(r);
        return hd_err_set(err, HD_ENOMEM, "store: out of memory");
    }
    for (size_t i = 0; i < rows; i++) {
        a->rows[i].bucket_ms = pg_i64(r, (int)i, 0);
        a->rows[i].count = pg_i64(r, (int)i, 2);
        const char *k = PQgetisnull(r, (int)i, 1) ? "" : PQgetvalue(r, (int)i, 1);
        if (a->group == HD_STATS_STATE) {
            int v = (int)strtol(k, NULL, 10);
            k = hd_state_name(v >= 0 && v <= 2 ? (enum hd_state)v : HD_STATE_ACTIVE);
        }
        snprintf(a->rows[i].key, sizeof(a->rows[i].key), "%s", k);
    }
    a->n = rows;
    PQclear(r);
    return HD_OK;
}

int pg_stats(struct hd_store *st, const struct hd_stats_query *q, struct hd_stats_row **out, size_t *n,
             int *truncated, struct hd_err *err)
{
    if ((int)q->group < 0 || (size_t)q->group >= sizeof(pg_group_expr) / sizeof(pg_group_expr[0])) {
        return hd_err_set(err, HD_EINVAL, "groupBy: unknown grouping %d", (int)q->group);
    }
    if (q->interval_ms < 0 || q->max_rows == 0) {
        return hd_err_set(err, HD_EINVAL, "stats: interval must be >= 0 and max_rows > 0");
    }
    struct hd_event_query none = {.severity = -1};
    const struct hd_event_query *f = q->filter != NULL ? q->filter : &none;
    struct stats_args a = {.group = q->group, .max = q->max_rows};
    struct hd_buf sql;
    hd_buf_init(&sql, 0);
    char *pattern = NULL;
    int rc;
    if (q->interval_ms > 0) {
        pp_i64(&a.p, q->interval_ms * 1000);
        pp_i64(&a.p, q->interval_ms);
        rc = hd_buf_printf(&sql, "SELECT (%s / $1) * $2, %s, count(*) FROM events",
                           f->by_received ? "recv_us" : "ts_us", pg_group_expr[q->group]);
    } else {
        rc = hd_buf_printf(&sql, "SELECT 0, %s, count(*) FROM events", pg_group_expr[q->group]);
    }
    struct hd_event_query fq = *f;
    fq.before_seq = 0;
    rc = rc == HD_OK ? filters(&fq, &sql, &a.p, &pattern, err) : rc;
    if (rc == HD_OK) {
        pp_i64(&a.p, (int64_t)q->max_rows + 1);
        rc = hd_buf_printf(&sql, " GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2 LIMIT $%d", a.p.n);
    }
    if (rc == HD_OK) {
        a.sql = sql.p;
        rc = pg_run(pg_of(st), read_stats, &a, err);
    }
    if (rc == HD_OK) {
        *out = a.rows;
        *n = a.n;
        if (truncated != NULL) {
            *truncated = a.truncated;
        }
    }
    free(pattern);
    hd_buf_free(&sql);
    return rc;
}
