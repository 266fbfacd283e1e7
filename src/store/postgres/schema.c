/* schema.c - the PostgreSQL schema and its migrations, run at open under an
 * advisory lock (replicas starting together migrate once). */
#include <stdio.h>
#include <stdlib.h>

#include "pg_int.h"

static const char *const pg_migrations[] = {
    "CREATE TABLE events ("
    "  seq bigint PRIMARY KEY,"
    "  id text NOT NULL UNIQUE,"
    "  source text NOT NULL,"
    "  ts_us bigint NOT NULL,"
    "  recv_us bigint NOT NULL,"
    "  severity int NOT NULL,"
    "  state int NOT NULL,"
    "  name text, description text, url text, host text, container_id text,"
    "  k8s_namespace text, k8s_pod text, k8s_container text, k8s_kind text, k8s_name text,"
    "  labels text, alert_key text, raw bytea);"
    "CREATE INDEX events_ts_dims ON events (ts_us, severity, state, source, k8s_namespace);"
    "CREATE INDEX events_recv ON events (recv_us);"
    "CREATE TABLE channels ("
    "  id bigserial PRIMARY KEY,"
    "  name text NOT NULL UNIQUE,"
    "  type text NOT NULL,"
    "  enabled boolean NOT NULL DEFAULT true,"
    "  version bigint NOT NULL DEFAULT 1,"
    "  created_ms bigint NOT NULL,"
    "  modified_ms bigint NOT NULL,"
    "  managed_by text,"
    "  json text NOT NULL);"
    "CREATE TABLE cursors (channel_id bigint PRIMARY KEY, cursor bigint NOT NULL);"
    "CREATE TABLE deliveries ("
    "  id bigserial PRIMARY KEY,"
    "  channel_id bigint NOT NULL,"
    "  event_seq bigint NOT NULL,"
    "  event_id text NOT NULL,"
    "  status int NOT NULL,"
    "  attempts int NOT NULL DEFAULT 0,"
    "  first_ms bigint NOT NULL,"
    "  next_ms bigint NOT NULL,"
    "  updated_ms bigint NOT NULL,"
    "  last_status int NOT NULL DEFAULT 0,"
    "  last_error text,"
    "  UNIQUE (channel_id, event_seq));"
    "CREATE INDEX deliveries_event ON deliveries (event_seq);"
    "CREATE INDEX deliveries_status ON deliveries (status, channel_id, next_ms);"
    "CREATE TABLE kv (key text PRIMARY KEY, value text NOT NULL, updated_ms bigint NOT NULL);"
    "CREATE TABLE silences ("
    "  id bigserial PRIMARY KEY,"
    "  matchers text NOT NULL,"
    "  starts_ms bigint NOT NULL,"
    "  ends_ms bigint NOT NULL,"
    "  created_ms bigint NOT NULL,"
    "  updated_ms bigint NOT NULL,"
    "  created_by text,"
    "  comment text);"
    "CREATE TABLE groups ("
    "  channel_id bigint NOT NULL,"
    "  key text NOT NULL,"
    "  state text NOT NULL,"
    "  updated_ms bigint NOT NULL,"
    "  PRIMARY KEY (channel_id, key));"
    /* the cluster (cluster.c): live replicas, and leases (channel:<id>, inputs) */
    "CREATE TABLE replicas (id text PRIMARY KEY, seen timestamptz NOT NULL);"
    "CREATE TABLE leases (name text PRIMARY KEY, owner text NOT NULL, expires timestamptz NOT NULL);"
    "CREATE INDEX leases_owner ON leases (owner);",
    /* the last seq handed out: numbering never reuses the seq of a pruned event */
    "CREATE TABLE log_head (id int PRIMARY KEY CHECK (id = 1), last_seq bigint NOT NULL);"
    "INSERT INTO log_head (id, last_seq) SELECT 1, coalesce(max(seq), 0) FROM events;",
};
#define PG_SCHEMA_VERSION ((int)(sizeof(pg_migrations) / sizeof(pg_migrations[0])))

int pg_migrate(PGconn *c, struct hd_err *err)
{
    char lock[96];
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_lock(%d)", PG_SCHEMA_LOCK);
    int rc = pg_cmd(c, lock, NULL, "locking the schema", err);
    if (rc != HD_OK) {
        return rc;
    }
    rc = pg_cmd(c, "CREATE TABLE IF NOT EXISTS herald_schema (version int NOT NULL)", NULL,
                "creating herald_schema", err);
    PGresult *r = rc == HD_OK ? pg_exec(c, "SELECT coalesce(max(version), 0) FROM herald_schema", NULL,
                                        "reading the schema version", err)
                              : NULL;
    int version = r != NULL ? (int)pg_i64(r, 0, 0) : 0;
    PQclear(r);
    if (rc == HD_OK && r == NULL) {
        rc = HD_EIO;
    }
    if (rc == HD_OK && version > PG_SCHEMA_VERSION) {
        rc = hd_err_set(
            err, HD_EINVAL,
            "store: the database has schema version %d, newer than this herald (%d): upgrade herald", version,
            PG_SCHEMA_VERSION);
    }
    for (int v = version; rc == HD_OK && v < PG_SCHEMA_VERSION; v++) {
        struct pg_params p = {0};
        pp_i64(&p, v + 1);
        rc = pg_cmd(c, "BEGIN", NULL, "migrating", err);
        if (rc == HD_OK) {
            PGresult *m = PQexec(c, pg_migrations[v]); /* several statements: the simple protocol */
            if (m == NULL || PQresultStatus(m) != PGRES_COMMAND_OK) {
                rc = hd_err_set(err, HD_EIO, "store: migrating the schema to version %d: %.160s", v + 1,
                                m != NULL ? PQresultErrorMessage(m) : PQerrorMessage(c));
            }
            PQclear(m);
        }
        if (rc == HD_OK) {
            rc = pg_cmd(c, "INSERT INTO herald_schema (version) VALUES ($1)", &p, "migrating", err);
        }
        rc = rc == HD_OK ? pg_cmd(c, "COMMIT", NULL, "migrating", err) : rc;
        if (rc != HD_OK) {
            PGresult *rb = PQexec(c, "ROLLBACK");
            PQclear(rb);
        }
    }
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_unlock(%d)", PG_SCHEMA_LOCK);
    PGresult *u = PQexec(c, lock);
    PQclear(u);
    return rc;
}
