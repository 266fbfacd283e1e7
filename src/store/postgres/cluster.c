/* cluster.c - several replicas on one database (SPEC 9).
 *
 * One thread per replica with its own connection:
 *  - LISTEN herald_channels / herald_events: changes made through any
 *    replica (channels, retries, replays, silences) and events committed by
 *    another replica are passed to on_change within a poll interval;
 *  - every PG_TICK_MS: a heartbeat row in replicas, the renewal of this
 *    replica's leases (expiry on the database clock, PG_LEASE_S ahead), and
 *    a rebalance: claim expired or free channel leases up to the fair share
 *    ceil(channels / live replicas), hand back those above it (channels
 *    spread over replicas), and hold or claim the "inputs" election lease.
 * owns_channel answers from the lease set kept here; a lease whose local
 * deadline passed without a renewal counts as lost even before the next
 * round (a stalled replica stops delivering before another takes over).
 * Closing hands every lease back at once. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "pg_int.h"

#define PG_LISTEN_POLL_MS 200

struct pg_cluster {
    char id[96];
    pthread_t th;
    int started;
    atomic_int stop;
    PGconn *conn;
    pthread_mutex_t mu; /* leases, inputs, deadline, fn */
    int64_t *leases;    /* channel ids held, sorted */
    size_t n_leases;
    int inputs;
    int64_t deadline_ms; /* monotonic: the leases count until then without a renewal */
    hd_store_change_fn fn;
    void *ud;
    pthread_mutex_t call_mu; /* held while fn runs: on_change(NULL) waits for it */
};

const char *pg_replica_id(struct pg_store *s)
{
    return s->cl != NULL ? s->cl->id : "";
}

const char *pg_replica(struct hd_store *st)
{
    return pg_replica_id(pg_of(st));
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int pg_owns_channel(struct hd_store *st, int64_t channel_id)
{
    struct pg_cluster *cl = pg_of(st)->cl;
    if (cl == NULL) {
        return 0;
    }
    pthread_mutex_lock(&cl->mu);
    int held = hd_mono_ms() < cl->deadline_ms &&
               bsearch(&channel_id, cl->leases, cl->n_leases, sizeof(int64_t), cmp_i64) != NULL;
    pthread_mutex_unlock(&cl->mu);
    return held;
}

void pg_cluster_hold(struct pg_store *s, int64_t channel_id)
{
    struct pg_cluster *cl = s->cl;
    if (cl == NULL) {
        return;
    }
    pthread_mutex_lock(&cl->mu);
    int64_t *v = realloc(cl->leases, (cl->n_leases + 1) * sizeof(*v));
    if (v != NULL && bsearch(&channel_id, v, cl->n_leases, sizeof(int64_t), cmp_i64) == NULL) {
        v[cl->n_leases++] = channel_id;
        qsort(v, cl->n_leases, sizeof(*v), cmp_i64);
    }
    cl->leases = v != NULL ? v : cl->leases;
    pthread_mutex_unlock(&cl->mu);
}

int pg_owns_inputs(struct hd_store *st)
{
    struct pg_cluster *cl = pg_of(st)->cl;
    if (cl == NULL) {
        return 0;
    }
    pthread_mutex_lock(&cl->mu);
    int held = cl->inputs && hd_mono_ms() < cl->deadline_ms;
    pthread_mutex_unlock(&cl->mu);
    return held;
}

void pg_on_change(struct hd_store *st, hd_store_change_fn fn, void *ud)
{
    struct pg_cluster *cl = pg_of(st)->cl;
    if (cl == NULL) {
        return;
    }
    pthread_mutex_lock(&cl->call_mu); /* a call running now finishes first */
    pthread_mutex_lock(&cl->mu);
    cl->fn = fn;
    cl->ud = ud;
    pthread_mutex_unlock(&cl->mu);
    pthread_mutex_unlock(&cl->call_mu);
}

static void tell(struct pg_cluster *cl, enum hd_store_change what)
{
    pthread_mutex_lock(&cl->call_mu);
    pthread_mutex_lock(&cl->mu);
    hd_store_change_fn fn = cl->fn;
    void *ud = cl->ud;
    pthread_mutex_unlock(&cl->mu);
    if (fn != NULL) {
        fn(ud, what);
    }
    pthread_mutex_unlock(&cl->call_mu);
}

/* ---- a round of heartbeat, renewal and rebalance ---- */

static const char *const round_sql[] = {
    /* 0: heartbeat; the dead are forgotten */
    "INSERT INTO replicas (id, seen) SELECT $1, now() WHERE $2::int IS NOT NULL "
    "ON CONFLICT (id) DO UPDATE SET seen = now()",
    "DELETE FROM replicas WHERE seen < now() - make_interval(secs => $2::int) AND id <> $1",
    /* 2: renewal, and the leases of deleted channels */
    "UPDATE leases SET expires = now() + make_interval(secs => $2::int) WHERE owner = $1",
    "DELETE FROM leases WHERE name LIKE 'channel:%' AND NOT EXISTS (SELECT 1 FROM channels c WHERE "
    "'channel:' || c.id = leases.name) AND $1::text IS NOT NULL AND $2::int IS NOT NULL",
    /* 4: hand back above the fair share (the only one returning rows: what it gave up) */
    "WITH share AS (SELECT ceil((SELECT count(*) FROM channels)::numeric / greatest((SELECT count(*) FROM "
    "replicas WHERE seen > now() - make_interval(secs => $2::int)), 1)) AS n), mine AS (SELECT name, "
    "row_number() OVER (ORDER BY name) AS k FROM leases WHERE owner = $1 AND name LIKE 'channel:%') "
    "DELETE FROM leases WHERE name IN (SELECT name FROM mine, share WHERE mine.k > share.n) RETURNING name",
    /* 5: claim free or expired ones up to the share */
    "WITH share AS (SELECT ceil((SELECT count(*) FROM channels)::numeric / greatest((SELECT count(*) FROM "
    "replicas WHERE seen > now() - make_interval(secs => $2::int)), 1)) AS n), held AS (SELECT count(*) AS n "
    "FROM leases WHERE owner = $1 AND name LIKE 'channel:%'), free AS (SELECT 'channel:' || c.id AS name "
    "FROM "
    "channels c LEFT JOIN leases l ON l.name = 'channel:' || c.id WHERE l.name IS NULL OR l.expires <= now() "
    "ORDER BY c.id LIMIT (SELECT greatest(share.n - held.n, 0) FROM share, held)::bigint) "
    "INSERT INTO leases (name, owner, expires) SELECT name, $1, now() + make_interval(secs => $2::int) FROM "
    "free "
    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires "
    "WHERE leases.expires <= now()",
    /* 6: the inputs election */
    "INSERT INTO leases (name, owner, expires) VALUES ('inputs', $1, now() + make_interval(secs => $2::int)) "
    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires "
    "WHERE leases.expires <= now() OR leases.owner = excluded.owner",
};

/* The channels of r (rows "channel:ID") leave the in-memory lease set;
 * returns how many did. */
static int drop_leases(struct pg_cluster *cl, const PGresult *r)
{
    int dropped = 0;
    pthread_mutex_lock(&cl->mu);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        if (strncmp(name, "channel:", 8) != 0) {
            continue;
        }
        int64_t id = strtoll(name + 8, NULL, 10);
        int64_t *hit = bsearch(&id, cl->leases, cl->n_leases, sizeof(int64_t), cmp_i64);
        if (hit != NULL) {
            size_t at = (size_t)(hit - cl->leases);
            memmove(hit, hit + 1, (cl->n_leases - at - 1) * sizeof(int64_t));
            cl->n_leases--;
            dropped++;
        }
    }
    pthread_mutex_unlock(&cl->mu);
    return dropped;
}

/* The channels handed back stop counting as ours before the round commits:
 * until then no other replica can claim them, so two replicas never both
 * answer owns_channel for one (read_leases after the commit was too late:
 * another replica's round could claim in between). *(int *)arg counts them. */
static int op_round(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    int *dropped = arg;
    struct pg_params p = {0};
    pp_str(&p, s->cl->id);
    pp_i64(&p, PG_LEASE_S);
    for (size_t i = 0; i < sizeof(round_sql) / sizeof(round_sql[0]); i++) {
        PGresult *r = pg_exec(c, round_sql[i], &p, "renewing leases", err);
        if (r == NULL) {
            return err->code;
        }
        *dropped += drop_leases(s->cl, r);
        PQclear(r);
    }
    return HD_OK;
}

/* The leases held now: the in-memory set follows; 1 if it changed. */
static int read_leases(struct pg_store *s, int64_t started_ms, struct hd_err *err)
{
    struct pg_cluster *cl = s->cl;
    struct pg_params p = {0};
    pp_str(&p, cl->id);
    PGresult *r = pg_exec(cl->conn, "SELECT name FROM leases WHERE owner = $1 AND expires > now()", &p,
                          "reading leases", err);
    if (r == NULL) {
        return -1;
    }
    size_t n = (size_t)PQntuples(r);
    int64_t *ids = calloc(n + 1, sizeof(*ids));
    size_t k = 0;
    int inputs = 0;
    for (size_t i = 0; ids != NULL && i < n; i++) {
        const char *name = PQgetvalue(r, (int)i, 0);
        if (strcmp(name, "inputs") == 0) {
            inputs = 1;
        } else if (strncmp(name, "channel:", 8) == 0) {
            ids[k++] = strtoll(name + 8, NULL, 10);
        }
    }
    PQclear(r);
    if (ids == NULL) {
        return -1;
    }
    qsort(ids, k, sizeof(*ids), cmp_i64);
    pthread_mutex_lock(&cl->mu);
    int changed = k != cl->n_leases || inputs != cl->inputs ||
                  (k > 0 && memcmp(ids, cl->leases, k * sizeof(*ids)) != 0) ||
                  hd_mono_ms() >= cl->deadline_ms; /* lost while stalled: deliver again */
    free(cl->leases);
    cl->leases = ids;
    cl->n_leases = k;
    cl->inputs = inputs;
    cl->deadline_ms = started_ms + PG_LEASE_S * 1000 - 1500; /* a margin for clocks and the round itself */
    pthread_mutex_unlock(&cl->mu);
    return changed;
}

static void lose_all(struct pg_cluster *cl)
{
    pthread_mutex_lock(&cl->mu);
    int had = cl->n_leases > 0 || cl->inputs;
    cl->n_leases = 0;
    cl->inputs = 0;
    pthread_mutex_unlock(&cl->mu);
    if (had) {
        tell(cl, HD_STORE_CHANGED_CHANNELS);
    }
}

static int reconnect(struct pg_store *s)
{
    struct pg_cluster *cl = s->cl;
    struct hd_err err = {0};
    PQfinish(cl->conn);
    cl->conn = pg_connect(s, &err);
    if (cl->conn == NULL) {
        return HD_EIO;
    }
    if (pg_cmd(cl->conn, "LISTEN herald_channels", NULL, "listening", &err) != HD_OK ||
        pg_cmd(cl->conn, "LISTEN herald_events", NULL, "listening", &err) != HD_OK) {
        PQfinish(cl->conn);
        cl->conn = NULL;
        return HD_EIO;
    }
    return HD_OK;
}

static void do_round(struct pg_store *s)
{
    struct pg_cluster *cl = s->cl;
    struct hd_err err = {0};
    int64_t started = hd_mono_ms();
    int dropped = 0;
    int rc = pg_tx(cl->conn, op_round, s, &dropped, &err);
    int changed = rc == HD_OK ? read_leases(s, started, &err) : -1;
    /* read_leases compares with a set the round already changed: the drops count too */
    if (changed > 0 || dropped > 0) {
        tell(cl, HD_STORE_CHANGED_CHANNELS);
    }
    if (changed < 0) {
        hd_log(HD_LOG_WARN, "store: cluster round failed: %s", err.msg);
        if (PQstatus(cl->conn) != CONNECTION_OK) {
            PQfinish(cl->conn);
            cl->conn = NULL;
        }
    }
}

/* Waits up to ms for notifications; tells on_change what they were.
 * Returns 1 when channels changed (a lease round follows at once: a new
 * channel gets its deliverer now rather than at the next tick). */
static int listen_for(struct pg_store *s, int64_t ms)
{
    struct pg_cluster *cl = s->cl;
    struct pollfd pfd = {.fd = PQsocket(cl->conn), .events = POLLIN};
    if (pfd.fd < 0 || poll(&pfd, 1, (int)ms) < 0 || PQconsumeInput(cl->conn) == 0) {
        if (PQstatus(cl->conn) != CONNECTION_OK) {
            PQfinish(cl->conn);
            cl->conn = NULL;
        }
        return 0;
    }
    int chans = 0, evs = 0;
    PGnotify *n;
    while ((n = PQnotifies(cl->conn)) != NULL) {
        chans |= strcmp(n->relname, "herald_channels") == 0;
        evs |= strcmp(n->relname, "herald_events") == 0;
        PQfreemem(n);
    }
    if (chans) {
        tell(cl, HD_STORE_CHANGED_CHANNELS);
    }
    if (evs) {
        tell(cl, HD_STORE_CHANGED_EVENTS);
    }
    return chans;
}

static void *cluster_main(void *arg)
{
    hd_thread_name("hd-pg-cluster");
    struct pg_store *s = arg;
    struct pg_cluster *cl = s->cl;
    int64_t next_round = 0;
    while (!atomic_load(&cl->stop)) {
        if (cl->conn == NULL && reconnect(s) != HD_OK) {
            lose_all(cl);
            usleep(500 * 1000);
            continue;
        }
        int64_t now = hd_mono_ms();
        if (now >= next_round) {
            do_round(s);
            next_round = now + PG_TICK_MS;
            if (cl->conn == NULL) {
                continue;
            }
        }
        int64_t wait = next_round - hd_mono_ms();
        if (listen_for(s, wait < PG_LISTEN_POLL_MS ? (wait > 0 ? wait : 0) : PG_LISTEN_POLL_MS)) {
            next_round = 0;
        }
    }
    return NULL;
}

int pg_cluster_start(struct pg_store *s, struct hd_err *err)
{
    struct pg_cluster *cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    char host[64] = "herald";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    unsigned int rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        rnd = (unsigned int)hd_now_us();
    }
    snprintf(cl->id, sizeof(cl->id), "%.60s-%ld-%08x", host, (long)getpid(), rnd);
    pthread_mutex_init(&cl->mu, NULL);
    pthread_mutex_init(&cl->call_mu, NULL);
    atomic_init(&cl->stop, 0);
    s->cl = cl;
    if (reconnect(s) != HD_OK) {
        return hd_err_set(err, HD_EIO, "store: cannot connect to PostgreSQL for the cluster thread");
    }
    do_round(s); /* start with leases: channels begin delivering at once on the first replica */
    if (pthread_create(&cl->th, NULL, cluster_main, s) != 0) {
        return hd_err_set(err, HD_EIO, "store: cannot start the cluster thread");
    }
    cl->started = 1;
    hd_log(HD_LOG_INFO, "store: replica %s", cl->id);
    return HD_OK;
}

void pg_cluster_stop(struct pg_store *s)
{
    struct pg_cluster *cl = s->cl;
    if (cl == NULL) {
        return;
    }
    atomic_store(&cl->stop, 1);
    if (cl->started) {
        pthread_join(cl->th, NULL);
    }
    if (cl->conn != NULL) { /* hand everything back: others take over within a round */
        struct pg_params p = {0};
        pp_str(&p, cl->id);
        struct hd_err err = {0};
        (void)pg_cmd(cl->conn, "DELETE FROM leases WHERE owner = $1", &p, "releasing leases", &err);
        (void)pg_cmd(cl->conn, "DELETE FROM replicas WHERE id = $1", &p, "leaving", &err);
        (void)pg_cmd(cl->conn, "SELECT pg_notify('herald_channels', '')", NULL, "leaving", &err);
    }
    PQfinish(cl->conn);
    free(cl->leases);
    pthread_mutex_destroy(&cl->mu);
    pthread_mutex_destroy(&cl->call_mu);
    free(cl);
    s->cl = NULL;
}
