/* channels.c - versioned channels (409 on a stale version or a taken name),
 * announced to every replica with NOTIFY herald_channels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "pg_int.h"

#define PG_CH_COLS "id, version, created_ms, modified_ms, name, type, enabled, managed_by, json"

int pg_notify_channels(PGconn *c, struct hd_err *err)
{
    return pg_cmd(c, "SELECT pg_notify('herald_channels', '')", NULL, "announcing a change", err);
}

static int channel_row(const PGresult *r, int row, struct hd_channel_rec *out)
{
    memset(out, 0, sizeof(*out));
    out->id = pg_i64(r, row, 0);
    out->version = pg_i64(r, row, 1);
    out->created_ms = pg_i64(r, row, 2);
    out->modified_ms = pg_i64(r, row, 3);
    out->name = pg_dup(r, row, 4);
    out->type = pg_dup(r, row, 5);
    out->enabled = strcmp(PQgetvalue(r, row, 6), "t") == 0;
    out->managed_by = pg_dup(r, row, 7);
    out->json = pg_dup(r, row, 8);
    if (out->name == NULL || out->type == NULL || out->json == NULL) {
        hd_channel_rec_clear(out);
        return HD_ENOMEM;
    }
    return HD_OK;
}

struct ch_args {
    const char *sql;
    struct pg_params p;
    struct hd_channel_rec *recs;
    size_t n;
};

static int read_channels(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct ch_args *a = arg;
    PGresult *r = pg_exec(c, a->sql, &a->p, "reading channels", err);
    if (r == NULL) {
        return err->code;
    }
    size_t n = (size_t)PQntuples(r);
    a->recs = calloc(n + 1, sizeof(*a->recs));
    int rc = a->recs != NULL ? HD_OK : HD_ENOMEM;
    for (size_t i = 0; rc == HD_OK && i < n; i++) {
        rc = channel_row(r, (int)i, &a->recs[i]);
        a->n = rc == HD_OK ? i + 1 : a->n;
    }
    PQclear(r);
    if (rc != HD_OK) {
        hd_channel_recs_free(a->recs, a->n);
        a->recs = NULL;
        a->n = 0;
        return hd_err_set(err, HD_ENOMEM, "store: out of memory");
    }
    return HD_OK;
}

int pg_channel_list(struct hd_store *st, struct hd_channel_rec **out, size_t *n, struct hd_err *err)
{
    struct ch_args a = {.sql = "SELECT " PG_CH_COLS " FROM channels ORDER BY id"};
    int rc = pg_run(pg_of(st), read_channels, &a, err);
    if (rc == HD_OK) {
        *out = a.recs;
        *n = a.n;
    }
    return rc;
}

static int get_one(struct hd_store *st, struct ch_args *a, struct hd_channel_rec *out, const char *missing,
                   struct hd_err *err)
{
    int rc = pg_run(pg_of(st), read_channels, a, err);
    if (rc != HD_OK) {
        return rc;
    }
    if (a->n == 0) {
        free(a->recs);
        return hd_err_set(err, HD_ENOTFOUND, "%s", missing);
    }
    *out = a->recs[0];
    for (size_t i = 1; i < a->n; i++) {
        hd_channel_rec_clear(&a->recs[i]);
    }
    free(a->recs);
    return HD_OK;
}

int pg_channel_get(struct hd_store *st, int64_t id, struct hd_channel_rec *out, struct hd_err *err)
{
    struct ch_args a = {.sql = "SELECT " PG_CH_COLS " FROM channels WHERE id = $1"};
    pp_i64(&a.p, id);
    char missing[64];
    snprintf(missing, sizeof(missing), "id: no channel with id %lld", (long long)id);
    return get_one(st, &a, out, missing, err);
}

int pg_channel_get_by_name(struct hd_store *st, const char *name, struct hd_channel_rec *out,
                           struct hd_err *err)
{
    if (name == NULL) {
        return hd_err_set(err, HD_EINVAL, "name: missing");
    }
    struct ch_args a = {.sql = "SELECT " PG_CH_COLS " FROM channels WHERE name = $1"};
    pp_str(&a.p, name);
    char missing[300];
    snprintf(missing, sizeof(missing), "name: no channel named %.255s", name);
    return get_one(st, &a, out, missing, err);
}

struct write_args {
    const struct hd_channel_rec *in;
    struct hd_channel_ref ref;
    int64_t now_ms;
    int64_t id;
    int import;
};

static int op_create(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    struct write_args *a = arg;
    struct pg_params p = {0};
    pp_str(&p, a->in->name);
    pp_str(&p, a->in->type);
    pp_str(&p, a->in->enabled ? "true" : "false");
    pp_str(&p, a->in->managed_by);
    pp_str(&p, a->in->json);
    pp_i64(&p, a->now_ms);
    PGresult *r = pg_exec(c,
                          "INSERT INTO channels (name, type, enabled, managed_by, json, version, created_ms, "
                          "modified_ms) VALUES ($1, $2, $3::boolean, $4, $5, 1, $6, $6) RETURNING id",
                          &p, "creating a channel", err);
    if (r == NULL) {
        if (err->code == HD_ECONFLICT) {
            hd_err_set(err, HD_ECONFLICT, "name: a channel named %.200s already exists", a->in->name);
        }
        return err->code;
    }
    a->id = pg_i64(r, 0, 0);
    PQclear(r);
    /* a new channel receives the events stored after its creation */
    struct pg_params q = {0};
    pp_i64(&q, a->id);
    int rc = pg_cmd(c,
                    "INSERT INTO cursors (channel_id, cursor) SELECT $1::bigint, last_seq FROM log_head "
                    "ON CONFLICT (channel_id) DO NOTHING",
                    &q, "creating a cursor", err);
    /* the replica that creates a channel delivers it at once; the next
     * rebalance moves it if this replica holds more than its share */
    struct pg_params l = {0};
    pp_i64(&l, a->id);
    pp_str(&l, pg_replica_id(s));
    pp_i64(&l, PG_LEASE_S);
    if (rc == HD_OK) {
        rc = pg_cmd(c,
                    "INSERT INTO leases (name, owner, expires) VALUES ('channel:' || $1::text, $2, "
                    "now() + make_interval(secs => $3::int)) ON CONFLICT (name) DO NOTHING",
                    &l, "taking the channel's lease", err);
    }
    return rc == HD_OK ? pg_notify_channels(c, err) : rc;
}

int pg_channel_create(struct hd_store *st, const struct hd_channel_rec *in, int64_t now_ms,
                      struct hd_channel_rec *out, struct hd_err *err)
{
    struct write_args a = {.in = in, .now_ms = now_ms};
    int rc = pg_run_tx(pg_of(st), op_create, &a, err);
    if (rc == HD_OK) {
        pg_cluster_hold(pg_of(st), a.id);
    }
    if (rc == HD_OK && out != NULL) {
        rc = pg_channel_get(st, a.id, out, err);
    }
    return rc;
}

static int op_update(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct write_args *a = arg;
    struct pg_params p = {0};
    pp_i64(&p, a->ref.id);
    pp_i64(&p, a->ref.version);
    pp_str(&p, a->in->name);
    pp_str(&p, a->in->type);
    pp_str(&p, a->in->enabled ? "true" : "false");
    pp_str(&p, a->in->managed_by);
    pp_str(&p, a->in->json);
    pp_i64(&p, a->now_ms);
    PGresult *r = pg_exec(c,
                          "UPDATE channels SET name = $3, type = $4, enabled = $5::boolean, managed_by = $6, "
                          "json = $7, version = version + 1, modified_ms = $8 "
                          "WHERE id = $1 AND ($2::bigint < 0 OR version = $2::bigint) RETURNING id",
                          &p, "updating a channel", err);
    if (r == NULL) {
        if (err->code == HD_ECONFLICT) {
            hd_err_set(err, HD_ECONFLICT, "name: a channel named %.200s already exists", a->in->name);
        }
        return err->code;
    }
    int updated = PQntuples(r) > 0;
    PQclear(r);
    if (!updated) {
        struct pg_params q = {0};
        pp_i64(&q, a->ref.id);
        PGresult *e = pg_exec(c, "SELECT version FROM channels WHERE id = $1", &q, "reading a channel", err);
        if (e == NULL) {
            return err->code;
        }
        int exists = PQntuples(e) > 0;
        int64_t cur = exists ? pg_i64(e, 0, 0) : 0;
        PQclear(e);
        return exists ? hd_err_set(err, HD_ECONFLICT, "version: stale version %lld, current is %lld",
                                   (long long)a->ref.version, (long long)cur)
                      : hd_err_set(err, HD_ENOTFOUND, "id: no channel with id %lld", (long long)a->ref.id);
    }
    return pg_notify_channels(c, err);
}

int pg_channel_update(struct hd_store *st, struct hd_channel_ref ref, const struct hd_channel_rec *in,
                      int64_t now_ms, struct hd_channel_rec *out, struct hd_err *err)
{
    struct write_args a = {.in = in, .ref = ref, .now_ms = now_ms};
    int rc = pg_run_tx(pg_of(st), op_update, &a, err);
    if (rc == HD_OK && out != NULL) {
        rc = pg_channel_get(st, ref.id, out, err);
    }
    return rc;
}

static int op_delete(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct write_args *a = arg;
    struct pg_params p = {0};
    pp_i64(&p, a->ref.id);
    pp_i64(&p, a->now_ms);
    struct pg_params id = {0};
    pp_i64(&id, a->ref.id);
    PGresult *r =
        pg_exec(c, "DELETE FROM channels WHERE id = $1 RETURNING id", &id, "deleting a channel", err);
    if (r == NULL) {
        return err->code;
    }
    int found = PQntuples(r) > 0;
    PQclear(r);
    if (!found) {
        return hd_err_set(err, HD_ENOTFOUND, "id: no channel with id %lld", (long long)a->ref.id);
    }
    /* its undelivered events become dead letters: PENDING first, then the
     * events after its cursor */
    static const char *const steps[] = {
        /* the lease first: a progress of the deliverer holds it (FOR SHARE)
         * until it commits, and takes no lock this delete holds: one order */
        "DELETE FROM leases WHERE name = 'channel:' || $1::text AND $2::bigint IS NOT NULL",
        "UPDATE deliveries SET status = 1, updated_ms = $2, last_error = 'channel deleted' "
        "WHERE channel_id = $1 AND status = 0",
        "INSERT INTO deliveries (channel_id, event_seq, event_id, status, attempts, first_ms, next_ms, "
        "updated_ms, last_status, last_error) SELECT $1::bigint, e.seq, e.id, 1, 0, $2::bigint, $2::bigint, "
        "$2::bigint, 0, 'channel deleted' FROM events e WHERE e.seq > coalesce((SELECT cursor FROM cursors "
        "WHERE channel_id = $1::bigint), (SELECT last_seq FROM log_head)) "
        "ON CONFLICT (channel_id, event_seq) DO NOTHING",
        "DELETE FROM cursors WHERE channel_id = $1 AND $2::bigint IS NOT NULL",
        "DELETE FROM groups WHERE channel_id = $1 AND $2::bigint IS NOT NULL",
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int rc = pg_cmd(c, steps[i], &p, "deleting a channel", err);
        if (rc != HD_OK) {
            return rc;
        }
    }
    return pg_notify_channels(c, err);
}

int pg_channel_delete(struct hd_store *st, int64_t id, struct hd_err *err)
{
    struct write_args a = {.ref = {.id = id}, .now_ms = hd_now_ms()};
    return pg_run_tx(pg_of(st), op_delete, &a, err);
}

static int op_import(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct write_args *a = arg;
    const struct hd_channel_rec *in = a->in;
    struct pg_params p = {0};
    pp_i64(&p, in->id);
    pp_str(&p, in->name);
    pp_str(&p, in->type);
    pp_str(&p, in->enabled ? "true" : "false");
    pp_i64(&p, in->version);
    pp_i64(&p, in->created_ms);
    pp_i64(&p, in->modified_ms);
    pp_str(&p, in->managed_by);
    pp_str(&p, in->json);
    int rc =
        pg_cmd(c,
               "INSERT INTO channels (id, name, type, enabled, version, created_ms, modified_ms, managed_by, "
               "json) VALUES ($1, $2, $3, $4::boolean, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
               &p, "importing a channel", err);
    /* later creations must not reuse imported ids */
    rc = rc == HD_OK ? pg_cmd(c,
                              "SELECT setval(pg_get_serial_sequence('channels', 'id'), "
                              "greatest((SELECT max(id) FROM channels), 1))",
                              NULL, "importing a channel", err)
                     : rc;
    return rc == HD_OK ? pg_notify_channels(c, err) : rc;
}

int pg_import_channel(struct hd_store *st, const struct hd_channel_rec *rec, struct hd_err *err)
{
    struct write_args a = {.in = rec};
    return pg_run_tx(pg_of(st), op_import, &a, err);
}
