/* misc.c - retention, the inputs' state, silences, notification groups,
 * readiness and the imports of `herald store migrate`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "pg_int.h"

/* ---- a statement and its rows ---- */

struct q_args {
    const char *sql;
    const char *what;
    struct pg_params p;
    PGresult *r; /* the caller PQclear()s */
};

static int op_query(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct q_args *a = arg;
    a->r = pg_exec(c, a->sql, &a->p, a->what, err);
    return a->r != NULL ? HD_OK : err->code;
}

static int query(struct hd_store *st, struct q_args *a, int tx, struct hd_err *err)
{
    return tx ? pg_run_tx(pg_of(st), op_query, a, err) : pg_run(pg_of(st), op_query, a, err);
}

/* ---- retention ---- */

static int op_prune(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct q_args *a = arg;
    /* never past any cursor, never an event a PENDING row refers to */
    a->r = pg_exec(c,
                   "WITH lim AS (SELECT coalesce(min(cursor), 0) AS c FROM cursors), "
                   "victims AS (SELECT seq FROM events, lim WHERE seq <= lim.c AND "
                   "(recv_us < $1::bigint OR $2::int > 0) AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE "
                   "d.event_seq = seq "
                   "AND d.status = 0) ORDER BY seq LIMIT $3) "
                   "DELETE FROM events WHERE seq IN (SELECT seq FROM victims) RETURNING seq",
                   &a->p, "pruning events", err);
    if (a->r == NULL) {
        return err->code;
    }
    int n = PQntuples(a->r);
    if (n > 0) {
        struct pg_params q = {0};
        pp_i64(&q, pg_i64(a->r, n - 1, 0));
        return pg_cmd(c,
                      "DELETE FROM deliveries d WHERE d.event_seq <= $1 AND d.status = 1 AND NOT EXISTS "
                      "(SELECT 1 FROM events e WHERE e.seq = d.event_seq)",
                      &q, "pruning dead letters", err);
    }
    return HD_OK;
}

static int64_t events_bytes(struct hd_store *st, struct hd_err *err)
{
    struct q_args a = {.sql = "SELECT pg_total_relation_size('events')", .what = "measuring the log"};
    if (query(st, &a, 0, err) != HD_OK) {
        return -1;
    }
    int64_t v = pg_i64(a.r, 0, 0);
    PQclear(a.r);
    return v;
}

int pg_prune(struct hd_store *st, int64_t max_age_ms, int64_t max_bytes, size_t *deleted, struct hd_err *err)
{
    size_t total = 0;
    int rc = HD_OK;
    for (int round = 0; round < 1000 && rc == HD_OK; round++) {
        int over = 0;
        if (max_bytes > 0) {
            int64_t b = events_bytes(st, err);
            if (b < 0) {
                return HD_EIO;
            }
            over = b > max_bytes;
        }
        int64_t cutoff = max_age_ms > 0 ? (hd_now_ms() - max_age_ms) * 1000 : 0;
        if (cutoff == 0 && !over) {
            break;
        }
        struct q_args a = {0};
        pp_i64(&a.p, cutoff);
        pp_i64(&a.p, over);
        pp_i64(&a.p, 5000);
        rc = pg_run_tx(pg_of(st), op_prune, &a, err);
        size_t n = a.r != NULL ? (size_t)PQntuples(a.r) : 0;
        PQclear(a.r);
        total += n;
        if (n == 0 || over) {
            break; /* the size is measured again next time (PostgreSQL reuses freed pages after VACUUM) */
        }
    }
    if (deleted != NULL) {
        *deleted = total;
    }
    return rc;
}

/* ---- state ---- */

int pg_state_get(struct hd_store *st, const char *key, char **value, struct hd_err *err)
{
    struct q_args a = {.sql = "SELECT value FROM kv WHERE key = $1", .what = "reading input state"};
    pp_str(&a.p, key);
    int rc = query(st, &a, 0, err);
    if (rc != HD_OK) {
        return rc;
    }
    if (PQntuples(a.r) == 0) {
        PQclear(a.r);
        return hd_err_set(err, HD_ENOTFOUND, "state: no key '%s'", key);
    }
    *value = pg_dup(a.r, 0, 0);
    PQclear(a.r);
    return *value != NULL ? HD_OK : hd_err_set(err, HD_ENOMEM, "store: out of memory");
}

int pg_state_set(struct hd_store *st, const char *key, const char *value, struct hd_err *err)
{
    if (key == NULL || value == NULL) {
        return hd_err_set(err, HD_EINVAL, "state: key and value are required");
    }
    struct q_args a = {.sql = "INSERT INTO kv (key, value, updated_ms) VALUES ($1, $2, $3) ON CONFLICT (key) "
                              "DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
                       .what = "saving input state"};
    pp_str(&a.p, key);
    pp_str(&a.p, value);
    pp_i64(&a.p, hd_now_ms());
    int rc = query(st, &a, 1, err);
    PQclear(a.r);
    return rc;
}

static int op_ping(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    (void)arg;
    return pg_cmd(c, "SELECT 1", NULL, "checking the database", err);
}

int pg_writable(struct hd_store *st, struct hd_err *why)
{
    struct pg_store *s = pg_of(st);
    if (!atomic_load(&s->failing)) {
        return HD_OK;
    }
    struct hd_err e = {0};
    if (pg_run(s, op_ping, NULL, &e) == HD_OK) { /* a probe: recovers without traffic */
        return HD_OK;
    }
    pthread_mutex_lock(&s->why_mu);
    hd_err_set(why, HD_EIO, "%s", s->why);
    pthread_mutex_unlock(&s->why_mu);
    return HD_EIO;
}

/* ---- silences ---- */

#define PG_SI_COLS "id, matchers, starts_ms, ends_ms, created_ms, updated_ms, created_by, comment"

static int silence_row(const PGresult *r, int row, struct hd_silence *si)
{
    memset(si, 0, sizeof(*si));
    si->id = pg_i64(r, row, 0);
    si->matchers = pg_dup(r, row, 1);
    si->starts_ms = pg_i64(r, row, 2);
    si->ends_ms = pg_i64(r, row, 3);
    si->created_ms = pg_i64(r, row, 4);
    si->updated_ms = pg_i64(r, row, 5);
    si->created_by = pg_dup(r, row, 6);
    si->comment = pg_dup(r, row, 7);
    return si->matchers != NULL ? HD_OK : HD_ENOMEM;
}

int pg_silence_list(struct hd_store *st, struct hd_silence **out, size_t *n, struct hd_err *err)
{
    struct q_args a = {.sql = "SELECT " PG_SI_COLS " FROM silences ORDER BY id DESC",
                       .what = "listing silences"};
    int rc = query(st, &a, 0, err);
    if (rc != HD_OK) {
        return rc;
    }
    size_t m = (size_t)PQntuples(a.r);
    struct hd_silence *v = calloc(m + 1, sizeof(*v));
    for (size_t i = 0; v != NULL && i < m; i++) {
        silence_row(a.r, (int)i, &v[i]);
    }
    PQclear(a.r);
    if (v == NULL) {
        return hd_err_set(err, HD_ENOMEM, "store: out of memory");
    }
    *out = v;
    *n = m;
    return HD_OK;
}

int pg_silence_get(struct hd_store *st, int64_t id, struct hd_silence *out, struct hd_err *err)
{
    struct q_args a = {.sql = "SELECT " PG_SI_COLS " FROM silences WHERE id = $1",
                       .what = "reading a silence"};
    pp_i64(&a.p, id);
    int rc = query(st, &a, 0, err);
    if (rc != HD_OK) {
        return rc;
    }
    if (PQntuples(a.r) == 0) {
        PQclear(a.r);
        return hd_err_set(err, HD_ENOTFOUND, "silence %lld not found", (long long)id);
    }
    rc = silence_row(a.r, 0, out);
    PQclear(a.r);
    return rc;
}

static int op_silence(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct q_args *a = arg;
    a->r = pg_exec(c, a->sql, &a->p, "saving a silence", err);
    return a->r != NULL ? pg_notify_channels(c, err) : err->code; /* the dispatchers reload silences too */
}

int pg_silence_put(struct hd_store *st, const struct hd_silence *in, int64_t now_ms, struct hd_silence *out,
                   struct hd_err *err)
{
    if (in == NULL || in->matchers == NULL) {
        return hd_err_set(err, HD_EINVAL, "silence: matchers are required");
    }
    struct q_args a = {0};
    if (in->id == 0) {
        a.sql = "INSERT INTO silences (matchers, starts_ms, ends_ms, created_ms, updated_ms, created_by, "
                "comment) "
                "VALUES ($1, $2, $3, $4, $4, $5, $6) RETURNING id";
        pp_str(&a.p, in->matchers);
        pp_i64(&a.p, in->starts_ms);
        pp_i64(&a.p, in->ends_ms);
        pp_i64(&a.p, now_ms);
    } else {
        a.sql = "UPDATE silences SET matchers = $2, starts_ms = $3, ends_ms = $4, updated_ms = $5, "
                "created_by = $6, comment = $7 WHERE id = $1 RETURNING id";
        pp_i64(&a.p, in->id);
        pp_str(&a.p, in->matchers);
        pp_i64(&a.p, in->starts_ms);
        pp_i64(&a.p, in->ends_ms);
        pp_i64(&a.p, now_ms);
    }
    pp_str(&a.p, in->created_by);
    pp_str(&a.p, in->comment);
    int rc = pg_run_tx(pg_of(st), op_silence, &a, err);
    if (rc != HD_OK) {
        return rc;
    }
    int64_t id = PQntuples(a.r) > 0 ? pg_i64(a.r, 0, 0) : 0;
    PQclear(a.r);
    if (id == 0) {
        return hd_err_set(err, HD_ENOTFOUND, "silence %lld not found", (long long)in->id);
    }
    return out != NULL ? pg_silence_get(st, id, out, err) : HD_OK;
}

/* ---- notification groups ---- */

struct groups_args {
    int64_t channel_id, new_cursor, now_ms;
    const struct hd_group_rec *g;
    size_t n;
};

static int op_groups_save(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    struct groups_args *a = arg;
    int rc = pg_fence(s, c, a->channel_id, err);
    if (rc == HD_OK && a->new_cursor >= 0) {
        struct pg_params p = {0};
        pp_i64(&p, a->channel_id);
        pp_i64(&p, a->new_cursor);
        rc = pg_cmd(c, "UPDATE cursors SET cursor = $2 WHERE channel_id = $1 AND cursor < $2", &p,
                    "advancing a cursor", err);
    }
    for (size_t i = 0; rc == HD_OK && i < a->n; i++) {
        struct pg_params p = {0};
        pp_i64(&p, a->channel_id);
        pp_str(&p, a->g[i].key);
        if (a->g[i].state == NULL) {
            rc = pg_cmd(c, "DELETE FROM groups WHERE channel_id = $1 AND key = $2", &p, "saving groups", err);
            continue;
        }
        pp_str(&p, a->g[i].state);
        pp_i64(&p, a->now_ms);
        rc = pg_cmd(c,
                    "INSERT INTO groups (channel_id, key, state, updated_ms) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (channel_id, key) DO UPDATE SET state = excluded.state, updated_ms = "
                    "excluded.updated_ms",
                    &p, "saving groups", err);
    }
    return rc;
}

int pg_groups_save(struct hd_store *st, int64_t channel_id, int64_t new_cursor, const struct hd_group_rec *g,
                   size_t n, struct hd_err *err)
{
    struct groups_args a = {
        .channel_id = channel_id, .new_cursor = new_cursor, .now_ms = hd_now_ms(), .g = g, .n = n};
    return pg_run_tx(pg_of(st), op_groups_save, &a, err);
}

int pg_groups_list(struct hd_store *st, int64_t channel_id, struct hd_group_rec **out, size_t *n,
                   struct hd_err *err)
{
    struct q_args a = {.sql = "SELECT key, state FROM groups WHERE channel_id = $1 ORDER BY key",
                       .what = "listing groups"};
    pp_i64(&a.p, channel_id);
    int rc = query(st, &a, 0, err);
    if (rc != HD_OK) {
        return rc;
    }
    size_t m = (size_t)PQntuples(a.r);
    struct hd_group_rec *v = calloc(m + 1, sizeof(*v));
    for (size_t i = 0; v != NULL && i < m; i++) {
        v[i].key = pg_dup(a.r, (int)i, 0);
        v[i].state = pg_dup(a.r, (int)i, 1);
    }
    PQclear(a.r);
    if (v == NULL) {
        return hd_err_set(err, HD_ENOMEM, "store: out of memory");
    }
    *out = v;
    *n = m;
    return HD_OK;
}

/* ---- migration target ---- */

int pg_is_empty(struct hd_store *st, int *empty, struct hd_err *err)
{
    struct q_args a = {.sql = "SELECT (SELECT count(*) FROM channels) + (SELECT count(*) FROM "
                              "(SELECT 1 FROM events LIMIT 1) e)",
                       .what = "checking the target"};
    int rc = query(st, &a, 0, err);
    if (rc == HD_OK) {
        *empty = pg_i64(a.r, 0, 0) == 0;
        PQclear(a.r);
    }
    return rc;
}

struct import_args {
    const struct hd_event *evs;
    size_t n;
};

static int op_import_events(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct import_args *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        const struct hd_event *ev = &a->evs[i];
        struct pg_params p = {0};
        pg_event_params(&p, ev);
        int rc = pg_cmd(c,
                        "INSERT INTO events (" PG_EV_COLS
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
                        "$12, $13, $14, $15, $16, $17, $18, $19, $20) ON CONFLICT DO NOTHING",
                        &p, "importing events", err);
        if (rc != HD_OK) {
            return rc;
        }
    }
    if (a->n > 0) { /* numbering goes on after the imported events */
        struct pg_params p = {0};
        pp_i64(&p, a->evs[a->n - 1].seq);
        return pg_cmd(c, "UPDATE log_head SET last_seq = greatest(last_seq, $1)", &p, "importing events",
                      err);
    }
    return HD_OK;
}

int pg_import_events(struct hd_store *st, const struct hd_event *evs, size_t n, struct hd_err *err)
{
    struct import_args a = {.evs = evs, .n = n};
    return pg_run_tx(pg_of(st), op_import_events, &a, err);
}
