/* test_store.c - the stores: schema, append/dedupe, queries, channels,
 * delivery state, retention, group commit under concurrency, reopen.
 *
 * Without arguments the embedded (SQLite) store: each test gets a fresh
 * mkdtemp directory, and a second, raw sqlite3 connection checks what is
 * really committed on disk. With --pg URL (or --pg-file FILE holding the URL,
 * or HERALD_TEST_PG_URL) the same cases, and the shared store's own, run
 * against PostgreSQL (tests/pg/pgtmp.sh starts a throwaway one; ctest does it
 * as a fixture): each test starts from an empty schema, and a raw libpq
 * connection checks what is committed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/metrics.h"
#include "core/util.h"
#include "model/event.h"
#include "model/source.h"
#include "store/store.h"

struct fx {
    char dir[64];
    char db[128];
    struct hd_store *st;
};

/* The PostgreSQL run: its URL and a raw connection of the test's own. */
static const char *g_pg_url;
static PGconn *g_raw;

/* Runs sql on the raw connection; fails the test unless it succeeds. */
static void pg_raw(const char *sql)
{
    PGresult *r = PQexec(g_raw, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQerrorMessage(g_raw));
    }
    PQclear(r);
}

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    for (;;) {
        struct dirent *e = readdir(d);
        if (e == NULL) {
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            rm_rf(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

static struct hd_store *open_store(struct fx *f)
{
    struct hd_err err = {0};
    struct hd_store *st = hd_store_open(g_pg_url != NULL ? g_pg_url : "sqlite", f->dir, &err);
    if (st == NULL) {
        fail_msg("open: %s", err.msg);
    }
    return st;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hd_store_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/herald.db", f->dir);
    if (g_pg_url != NULL) {
        pg_raw("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    }
    f->st = open_store(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hd_store_close(f->st);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static char *sdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void mk_event(struct hd_event *ev, const char *id, const char *source, int64_t ts_us, int sev,
                     enum hd_state state, const char *ns, const char *name)
{
    memset(ev, 0, sizeof(*ev));
    snprintf(ev->id, sizeof(ev->id), "%s", id);
    ev->source = source;
    ev->ts_us = ts_us;
    ev->recv_us = hd_now_us();
    ev->severity = sev;
    ev->state = state;
    ev->name = sdup(name);
    ev->description = sdup("desc");
    ev->k8s_namespace = sdup(ns);
    ev->labels = sdup("{\"rule\":\"r1\"}");
    ev->alert_key = sdup("key");
    char raw[128];
    int n = snprintf(raw, sizeof(raw), "{\"id\":\"%s\"}", id);
    ev->raw = malloc((size_t)n + 1);
    memcpy(ev->raw, raw, (size_t)n + 1);
    ev->raw_len = (size_t)n;
}

static void append1(struct hd_store *st, const char *id, int64_t ts_us, int64_t *seq)
{
    struct hd_event ev;
    mk_event(&ev, id, "generic", ts_us, 5, HD_STATE_ACTIVE, "default", "n");
    struct hd_err err = {0};
    if (st->ops->append(st, &ev, 1, &err) != HD_OK) {
        fail_msg("append %s: %s", id, err.msg);
    }
    if (seq != NULL) {
        *seq = ev.seq;
    }
    hd_event_clear(&ev);
}

static void append_n(struct hd_store *st, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char id[33];
        snprintf(id, sizeof(id), "%s%d", prefix, i);
        append1(st, id, 1000 + i, NULL);
    }
}

static int64_t raw_count(const char *db, const char *sql)
{
    if (g_raw != NULL) {
        PGresult *r = PQexec(g_raw, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
            fail_msg("%s: %s", sql, PQerrorMessage(g_raw));
        }
        int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        return v;
    }
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static int64_t mk_channel(struct hd_store *st, const char *name)
{
    struct hd_channel_rec in = {
        .name = (char *)name, .type = (char *)"WEBHOOK", .enabled = 1, .json = (char *)"{\"options\":{}}"};
    struct hd_channel_rec out = {0};
    struct hd_err err = {0};
    if (st->ops->channel_create(st, &in, 1000, &out, &err) != HD_OK) {
        fail_msg("channel %s: %s", name, err.msg);
    }
    int64_t id = out.id;
    hd_channel_rec_clear(&out);
    return id;
}

static struct hd_delivery dl(int64_t seq, enum hd_delivery_status status, int attempts, int64_t next_ms,
                             const char *error)
{
    struct hd_delivery d = {.event_seq = seq,
                            .status = status,
                            .attempts = attempts,
                            .next_ms = next_ms,
                            .last_status = 503,
                            .last_error = (char *)error};
    return d;
}

/* ---- tests -------------------------------------------------------------- */

static void test_open_urls_and_migrations(void **state)
{
    struct fx *f = *state;
    struct hd_err err = {0};

    /* Fresh database: migrated, WAL, private. */
    assert_true(raw_count(f->db, "PRAGMA user_version") >= 2); /* every appended migration ran */
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                                      "('channels', 'events', 'cursors', 'deliveries')"),
                     4);
    struct stat sb;
    assert_int_equal(stat(f->db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    {
        sqlite3 *h = NULL;
        assert_int_equal(sqlite3_open_v2(f->db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        sqlite3_stmt *q = NULL;
        assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
        sqlite3_finalize(q);
        sqlite3_close(h);
    }

    /* Reopen: no migration error, same version. */
    append1(f->st, "a", 1, NULL);
    hd_store_close(f->st);
    f->st = open_store(f);
    assert_true(raw_count(f->db, "PRAGMA user_version") >= 2); /* every appended migration ran */
    assert_int_equal(f->st->ops->max_seq(f->st), 1);

    /* A data dir that does not exist yet is created 0700. */
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/a/b", f->dir);
    struct hd_store *s2 = hd_store_open(NULL, sub, &err);
    assert_non_null(s2);
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    hd_store_close(s2);

    /* sqlite:PATH */
    char url[160];
    snprintf(url, sizeof(url), "sqlite:%s/other.db", f->dir);
    s2 = hd_store_open(url, NULL, &err);
    assert_non_null(s2);
    assert_string_equal(s2->ops->name, "sqlite");
    hd_store_close(s2);

    /* Unknown schemes fail and never echo a password. */
    assert_null(hd_store_open("postgres://u:secretpw@127.0.0.1:1/db", f->dir, &err)); /* nothing listens */
    assert_int_equal(err.code, HD_EIO);
    assert_null(strstr(err.msg, "secretpw"));
    assert_null(hd_store_open("mysql://x:secretpw@h", f->dir, &err));
    assert_int_equal(err.code, HD_EINVAL);
    assert_null(strstr(err.msg, "secretpw"));
    assert_null(hd_store_open("sqlite", NULL, &err));
    assert_int_equal(err.code, HD_EINVAL);

    /* A database from a newer herald is refused, not damaged. */
    hd_store_close(f->st);
    f->st = NULL;
    {
        sqlite3 *h = NULL;
        assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(h);
    }
    assert_null(hd_store_open("sqlite", f->dir, &err));
    assert_int_equal(err.code, HD_EIO);
    assert_non_null(strstr(err.msg, "newer"));
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 1);
}

static void test_append_dedupe(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    struct hd_event evs[3];
    mk_event(&evs[0], "aaa", "falco", 10, 4, HD_STATE_ACTIVE, "ns1", "one");
    mk_event(&evs[1], "bbb", "falco", 11, 4, HD_STATE_ACTIVE, "ns1", "two");
    mk_event(&evs[2], "aaa", "falco", 12, 4, HD_STATE_ACTIVE, "ns1", "one again"); /* same batch */
    assert_int_equal(st->ops->append(st, evs, 3, &err), HD_OK);
    assert_int_equal(evs[0].seq, 1);
    assert_int_equal(evs[0].duplicate, 0);
    assert_int_equal(evs[1].seq, 2);
    assert_int_equal(evs[2].seq, 1);
    assert_int_equal(evs[2].duplicate, 1);
    assert_int_equal(st->ops->max_seq(st), 2);

    /* Same id in a later request: stored seq back, not stored again. */
    struct hd_event again;
    mk_event(&again, "bbb", "falco", 99, 1, HD_STATE_OK, "x", "changed");
    assert_int_equal(st->ops->append(st, &again, 1, &err), HD_OK);
    assert_int_equal(again.seq, 2);
    assert_int_equal(again.duplicate, 1);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 2);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events WHERE id = 'bbb' AND name = 'two'"), 1);

    /* The next new id continues densely. */
    struct hd_event next;
    mk_event(&next, "ccc", "falco", 13, 4, HD_STATE_ACTIVE, "ns1", "three");
    assert_int_equal(st->ops->append(st, &next, 1, &err), HD_OK);
    assert_int_equal(next.seq, 3);

    /* An event without id is refused whole. */
    struct hd_event bad[2];
    mk_event(&bad[0], "ddd", "falco", 13, 4, HD_STATE_ACTIVE, "ns1", "four");
    mk_event(&bad[1], "", "falco", 13, 4, HD_STATE_ACTIVE, "ns1", "five");
    assert_int_equal(st->ops->append(st, bad, 2, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "events[1].id"));
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 3);
    assert_int_equal(st->ops->append(st, NULL, 0, &err), HD_OK);

    for (int i = 0; i < 3; i++) {
        hd_event_clear(&evs[i]);
    }
    hd_event_clear(&again);
    hd_event_clear(&next);
    hd_event_clear(&bad[0]);
    hd_event_clear(&bad[1]);
}

/* The read-ahead's byte bound: a lagging channel of ~1 MB events read 500
 * of them at once (94 MB of RSS). The bound counts an event whole: the one
 * that reaches it is in, the next is not; at least one always is. */
static void test_events_after_bounded_by_bytes(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    for (int i = 0; i < 10; i++) {
        struct hd_event ev;
        char id[33];
        snprintf(id, sizeof(id), "big%d", i);
        mk_event(&ev, id, "generic", 1000 + i, 3, HD_STATE_ACTIVE, "ns", "big");
        free(ev.raw);
        ev.raw_len = 100000;
        ev.raw = malloc(ev.raw_len + 1);
        memset(ev.raw, 'x', ev.raw_len);
        ev.raw[0] = '"';
        ev.raw[ev.raw_len - 1] = '"';
        ev.raw[ev.raw_len] = '\0';
        assert_int_equal(st->ops->append(st, &ev, 1, &err), HD_OK);
        hd_event_clear(&ev);
    }
    /* 250,000 bytes: 3 events on SQLite (the third reaches it), 2 on
     * PostgreSQL (its bound counts the raws as the hex text of its result). */
    const size_t bounds[] = {250000, 1, 0, 100};
    const size_t want_min[] = {2, 1, 10, 1};
    const size_t want_max[] = {3, 1, 10, 1};
    for (size_t k = 0; k < 4; k++) {
        struct hd_event *evs = NULL;
        size_t n = 0;
        const struct hd_range r = {.after_seq = 0, .limit = 100, .max_bytes = bounds[k]};
        assert_int_equal(st->ops->events_after(st, &r, &evs, &n, &err), HD_OK);
        assert_in_range(n, want_min[k], want_max[k]);
        assert_int_equal(evs[0].seq, 1);
        assert_int_equal(evs[n - 1].raw_len, 100000);
        assert_true(hd_event_bytes(&evs[0]) > 100000);
        hd_events_free(evs, n);
    }
    /* A query's page ends there too, and its cursor goes on from it. */
    struct hd_event_query q = {.severity = -1, .limit = 100, .max_bytes = 250000};
    size_t seen = 0;
    int64_t expect = 10;
    for (int pages = 0; pages < 10 && seen < 10; pages++) {
        struct hd_event *evs = NULL;
        size_t n = 0;
        int64_t next = -1;
        assert_int_equal(st->ops->events_query(st, &q, &evs, &n, &next, &err), HD_OK);
        assert_in_range(n, 1, 3);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(evs[i].seq, expect--);
        }
        seen += n;
        assert_int_equal(next, seen < 10 ? evs[n - 1].seq : 0);
        q.before_seq = next;
        hd_events_free(evs, n);
    }
    assert_int_equal(seen, 10);
    q = (struct hd_event_query){.severity = -1, .limit = 100, .max_bytes = 250000, .sort = HD_SORT_SEVERITY};
    struct hd_event *evs = NULL;
    size_t n = 0;
    int64_t next = -1;
    assert_int_equal(st->ops->events_query(st, &q, &evs, &n, &next, &err), HD_OK);
    assert_in_range(n, 2, 3);
    assert_int_equal(next, 0); /* by severity: one page */
    hd_events_free(evs, n);
}

static void test_events_after_and_get(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    append_n(st, "e", 50);
    assert_int_equal(st->ops->max_seq(st), 50);

    struct hd_event *evs = NULL;
    size_t n = 0;
    assert_int_equal(
        st->ops->events_after(st, &(struct hd_range){.after_seq = 0, .limit = 1000}, &evs, &n, &err), HD_OK);
    assert_int_equal(n, 50);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(evs[i].seq, (int64_t)i + 1);
        char id[33];
        snprintf(id, sizeof(id), "e%zu", i);
        assert_string_equal(evs[i].id, id);
    }
    for (size_t i = 0; i < n; i++) {
        hd_event_clear(&evs[i]);
    }
    free(evs);

    assert_int_equal(
        st->ops->events_after(st, &(struct hd_range){.after_seq = 40, .limit = 5}, &evs, &n, &err), HD_OK);
    assert_int_equal(n, 5);
    assert_int_equal(evs[0].seq, 41);
    assert_int_equal(evs[4].seq, 45);
    for (size_t i = 0; i < n; i++) {
        hd_event_clear(&evs[i]);
    }
    free(evs);
    assert_int_equal(
        st->ops->events_after(st, &(struct hd_range){.after_seq = 50, .limit = 5}, &evs, &n, &err), HD_OK);
    assert_int_equal(n, 0);
    free(evs);

    /* Every field round-trips; raw keeps embedded NULs and gets a NUL after. */
    struct hd_event ev;
    mk_event(&ev, "full", "sysdig_secure", 123456, 2, HD_STATE_RESOLVED, "prod", "Terminal shell");
    ev.url = sdup("https://x/y");
    ev.host = sdup("node-1");
    ev.container_id = sdup("abc123");
    ev.k8s_pod = sdup("pod");
    ev.k8s_container = sdup("ctr");
    ev.k8s_kind = sdup("Deployment");
    ev.k8s_name = sdup("web");
    free(ev.raw);
    ev.raw = malloc(6);
    memcpy(ev.raw, "ab\0cd", 6);
    ev.raw_len = 5;
    assert_int_equal(st->ops->append(st, &ev, 1, &err), HD_OK);
    struct hd_event got;
    assert_int_equal(st->ops->event_get(st, "full", &got, &err), HD_OK);
    assert_int_equal(got.seq, 51);
    assert_string_equal(got.source, "sysdig_secure");
    assert_int_equal(got.ts_us, 123456);
    assert_int_equal(got.recv_us, ev.recv_us);
    assert_int_equal(got.severity, 2);
    assert_int_equal(got.state, HD_STATE_RESOLVED);
    assert_string_equal(got.name, "Terminal shell");
    assert_string_equal(got.description, "desc");
    assert_string_equal(got.url, "https://x/y");
    assert_string_equal(got.host, "node-1");
    assert_string_equal(got.container_id, "abc123");
    assert_string_equal(got.k8s_namespace, "prod");
    assert_string_equal(got.k8s_pod, "pod");
    assert_string_equal(got.k8s_container, "ctr");
    assert_string_equal(got.k8s_kind, "Deployment");
    assert_string_equal(got.k8s_name, "web");
    assert_string_equal(got.labels, "{\"rule\":\"r1\"}");
    assert_string_equal(got.alert_key, "key");
    assert_int_equal(got.raw_len, 5);
    assert_memory_equal(got.raw, "ab\0cd", 6);
    assert_int_equal(got.duplicate, 0);
    hd_event_clear(&got);

    assert_int_equal(st->ops->event_get_seq(st, 51, &got, &err), HD_OK);
    assert_string_equal(got.id, "full");
    hd_event_clear(&got);
    assert_int_equal(st->ops->event_get_seq(st, 999, &got, &err), HD_ENOTFOUND);
    assert_int_equal(st->ops->event_get(st, "nope", &got, &err), HD_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));

    /* A source the model does not know is refused, naming the event, and
     * nothing of the append is stored; absent fields and raw stay NULL. */
    struct hd_event odd;
    memset(&odd, 0, sizeof(odd));
    snprintf(odd.id, sizeof(odd.id), "odd");
    odd.source = "martian";
    assert_int_equal(st->ops->append(st, &odd, 1, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "events[0].source: 'martian'"));
    odd.source = NULL;
    assert_int_equal(st->ops->append(st, &odd, 1, &err), HD_EINVAL);
    assert_int_equal(st->ops->event_get(st, "odd", &got, &err), HD_ENOTFOUND);
    odd.source = "generic";
    assert_int_equal(st->ops->append(st, &odd, 1, &err), HD_OK);
    assert_int_equal(st->ops->event_get(st, "odd", &got, &err), HD_OK);
    assert_string_equal(got.source, "generic");
    assert_ptr_equal(got.source, hd_source_name(HD_SRC_GENERIC));
    assert_null(got.name);
    assert_null(got.raw);
    assert_int_equal(got.raw_len, 0);
    hd_event_clear(&got);
    /* A stored row whose source no herald knows (damaged, or a newer
     * version's) reads back as an error, not as "generic". */
    if (g_raw != NULL) {
        pg_raw("UPDATE events SET source='martian' WHERE id='odd'");
    } else {
        sqlite3 *h = NULL;
        assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
        assert_int_equal(
            sqlite3_exec(h, "UPDATE events SET source='martian' WHERE id='odd'", NULL, NULL, NULL),
            SQLITE_OK);
        sqlite3_close(h);
    }
    assert_int_equal(st->ops->event_get(st, "odd", &got, &err), HD_EIO);
    hd_event_clear(&ev);
}

static void free_events(struct hd_event *evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        hd_event_clear(&evs[i]);
    }
    free(evs);
}

static size_t query_count(struct hd_store *st, struct hd_event_query q, int64_t *first_seq)
{
    struct hd_event *evs = NULL;
    size_t n = 0;
    int64_t next = -1;
    struct hd_err err = {0};
    assert_int_equal(st->ops->events_query(st, &q, &evs, &n, &next, &err), HD_OK);
    if (first_seq != NULL) {
        *first_seq = n > 0 ? evs[0].seq : 0;
    }
    free_events(evs, n);
    return n;
}

static void test_events_query(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    struct hd_event evs[6];
    mk_event(&evs[0], "q0", "falco", 100, 2, HD_STATE_ACTIVE, "prod", "Shell in container");
    mk_event(&evs[1], "q1", "falco", 200, 4, HD_STATE_ACTIVE, "dev", "Write below etc");
    mk_event(&evs[2], "q2", "alertmanager", 300, 3, HD_STATE_OK, "prod", "HighCPU 100%");
    mk_event(&evs[3], "q3", "alertmanager", 400, 5, HD_STATE_ACTIVE, "prod", "HighCPU");
    mk_event(&evs[4], "q4", "kubernetes", 500, 6, HD_STATE_RESOLVED, "kube-system", "BackOff");
    mk_event(&evs[5], "q5", "docker", 600, 3, HD_STATE_ACTIVE, NULL, "oom");
    assert_int_equal(st->ops->append(st, evs, 6, &err), HD_OK);
    for (int i = 0; i < 6; i++) {
        hd_event_clear(&evs[i]);
    }

    struct hd_event_query all = {.severity = -1};
    int64_t first = 0;
    assert_int_equal(query_count(st, all, &first), 6);
    assert_int_equal(first, 6); /* newest first */

    struct hd_event_query q = all;
    q.source = "alertmanager";
    assert_int_equal(query_count(st, q, NULL), 2);
    q = all;
    q.ns = "prod";
    assert_int_equal(query_count(st, q, &first), 3);
    assert_int_equal(first, 4);
    q = all;
    q.severity = 3;
    assert_int_equal(query_count(st, q, NULL), 3);
    q = all;
    q.state = "ok"; /* case-insensitive */
    assert_int_equal(query_count(st, q, &first), 1);
    assert_int_equal(first, 3);
    q = all;
    q.from_us = 200;
    q.to_us = 400;
    assert_int_equal(query_count(st, q, NULL), 3);
    q = all;
    q.q = "highcpu"; /* substring, case-insensitive for ASCII */
    assert_int_equal(query_count(st, q, NULL), 2);
    q = all;
    q.q = "100%"; /* LIKE metacharacters are literal */
    assert_int_equal(query_count(st, q, &first), 1);
    assert_int_equal(first, 3);
    q = all;
    q.q = "%";
    assert_int_equal(query_count(st, q, NULL), 1);
    q = all;
    q.ns = "prod";
    q.source = "alertmanager";
    q.severity = 4;
    assert_int_equal(query_count(st, q, &first), 1);
    assert_int_equal(first, 3);

    q = all;
    q.state = "bogus";
    struct hd_event *out = NULL;
    size_t n = 0;
    int64_t next = 0;
    assert_int_equal(st->ops->events_query(st, &q, &out, &n, &next, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "state"));

    /* Cursor paging: 6 events, pages of 4 then 2. */
    q = all;
    q.limit = 4;
    assert_int_equal(st->ops->events_query(st, &q, &out, &n, &next, &err), HD_OK);
    assert_int_equal(n, 4);
    assert_int_equal(out[0].seq, 6);
    assert_int_equal(out[3].seq, 3);
    assert_int_equal(next, 3);
    free_events(out, n);
    q.before_seq = next;
    assert_int_equal(st->ops->events_query(st, &q, &out, &n, &next, &err), HD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].seq, 2);
    assert_int_equal(out[1].seq, 1);
    assert_int_equal(next, 0);
    free_events(out, n);
    /* Exactly a full last page: no next cursor. */
    q.before_seq = 0;
    q.limit = 6;
    assert_int_equal(st->ops->events_query(st, &q, &out, &n, &next, &err), HD_OK);
    assert_int_equal(n, 6);
    assert_int_equal(next, 0);
    free_events(out, n);
}

static void test_events_query_dashboard(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    struct hd_event evs[5];
    mk_event(&evs[0], "d0", "falco", 100, 0, HD_STATE_ACTIVE, "prod", "worst");
    mk_event(&evs[1], "d1", "falco", 300, 4, HD_STATE_ACTIVE, "prod", "mild");
    mk_event(&evs[2], "d2", "falco", 200, 4, HD_STATE_ACTIVE, "dev", "mild2");
    mk_event(&evs[3], "d3", "falco", 400, 1, HD_STATE_ACTIVE, "dev", "bad");
    mk_event(&evs[4], "d4", "falco", 500, 6, HD_STATE_ACTIVE, "dev", "info");
    free(evs[4].labels);
    evs[4].labels = NULL; /* its rule is its name */
    evs[3].recv_us = 7000000;
    assert_int_equal(st->ops->append(st, evs, 5, &err), HD_OK);
    for (int i = 0; i < 5; i++) {
        hd_event_clear(&evs[i]);
    }
    struct hd_event_query q = {.severity = -1, .sort = HD_SORT_SEVERITY, .limit = 3};
    struct hd_event *out = NULL;
    size_t n = 0;
    int64_t next = -1;
    assert_int_equal(st->ops->events_query(st, &q, &out, &n, &next, &err), HD_OK);
    assert_int_equal(n, 3);
    assert_string_equal(out[0].id, "d0");
    assert_string_equal(out[1].id, "d3");
    assert_string_equal(out[2].id, "d1"); /* of the two 4s, the newer event time */
    assert_int_equal(next, 0);            /* one page */
    free_events(out, n);

    struct hd_event_query all = {.severity = -1};
    q = all;
    q.severity = 4;
    q.severity_min = 4;
    assert_int_equal(query_count(st, q, NULL), 2);
    q = all;
    q.rule = "r1";
    assert_int_equal(query_count(st, q, NULL), 4);
    q.rule = "info";
    assert_int_equal(query_count(st, q, NULL), 1);
    /* By event time, 150..450 holds three; by arrival (d3 arrived at 7 s), one. */
    q = all;
    q.from_us = 150;
    q.to_us = 450;
    assert_int_equal(query_count(st, q, NULL), 3);
    q.by_received = 1;
    q.from_us = 6000000;
    q.to_us = 8000000;
    int64_t first = 0;
    assert_int_equal(query_count(st, q, &first), 1);
    assert_int_equal(first, 4);
}

static void test_channels_crud(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    struct hd_channel_rec in = {.name = (char *)"ops",
                                .type = (char *)"WEBHOOK",
                                .enabled = 1,
                                .managed_by = (char *)"config",
                                .json = (char *)"{\"options\":{\"url\":\"u\"}}"};
    struct hd_channel_rec out = {0};
    assert_int_equal(st->ops->channel_create(st, &in, 5000, &out, &err), HD_OK);
    assert_true(out.id > 0);
    assert_int_equal(out.version, 1);
    assert_int_equal(out.created_ms, 5000);
    assert_int_equal(out.modified_ms, 5000);
    assert_string_equal(out.name, "ops");
    assert_string_equal(out.managed_by, "config");
    int64_t id = out.id;
    hd_channel_rec_clear(&out);

    /* Duplicate name. */
    assert_int_equal(st->ops->channel_create(st, &in, 6000, &out, &err), HD_ECONFLICT);
    assert_string_equal(err.msg, "name: a channel named ops already exists");
    /* An op's own refusal says nothing about the disk (readiness). */
    assert_int_equal(st->ops->writable(st, &err), HD_OK);
    assert_int_equal(
        st->ops->channel_create(st, &(struct hd_channel_rec){.type = (char *)"X"}, 1, &out, &err), HD_EINVAL);

    struct hd_channel_rec got = {0};
    assert_int_equal(st->ops->channel_get(st, id, &got, &err), HD_OK);
    assert_string_equal(got.type, "WEBHOOK");
    assert_string_equal(got.json, "{\"options\":{\"url\":\"u\"}}");
    assert_int_equal(got.enabled, 1);
    hd_channel_rec_clear(&got);
    assert_int_equal(st->ops->channel_get_by_name(st, "ops", &got, &err), HD_OK);
    assert_int_equal(got.id, id);
    hd_channel_rec_clear(&got);
    assert_int_equal(st->ops->channel_get_by_name(st, "none", &got, &err), HD_ENOTFOUND);
    assert_int_equal(st->ops->channel_get(st, 999, &got, &err), HD_ENOTFOUND);

    int64_t id2 = mk_channel(st, "second");

    /* Update: stale version, name taken, not found, then OK. */
    struct hd_channel_rec up = {
        .name = (char *)"ops2", .type = (char *)"WEBHOOK", .enabled = 0, .json = (char *)"{\"v\":2}"};
    assert_int_equal(
        st->ops->channel_update(st, (struct hd_channel_ref){.id = id, .version = 7}, &up, 7000, &out, &err),
        HD_ECONFLICT);
    assert_string_equal(err.msg, "version: stale version 7, current is 1");
    up.name = (char *)"second";
    assert_int_equal(
        st->ops->channel_update(st, (struct hd_channel_ref){.id = id, .version = 1}, &up, 7000, &out, &err),
        HD_ECONFLICT);
    assert_string_equal(err.msg, "name: a channel named second already exists");
    up.name = (char *)"ops2";
    assert_int_equal(
        st->ops->channel_update(st, (struct hd_channel_ref){.id = 999, .version = 1}, &up, 7000, &out, &err),
        HD_ENOTFOUND);
    assert_int_equal(
        st->ops->channel_update(st, (struct hd_channel_ref){.id = id, .version = 1}, &up, 7000, &out, &err),
        HD_OK);
    assert_int_equal(out.version, 2);
    assert_int_equal(out.created_ms, 5000);
    assert_int_equal(out.modified_ms, 7000);
    assert_null(out.managed_by);
    hd_channel_rec_clear(&out);
    /* Keeping its own name is no conflict. */
    assert_int_equal(
        st->ops->channel_update(st, (struct hd_channel_ref){.id = id, .version = 2}, &up, 8000, NULL, &err),
        HD_OK);

    struct hd_channel_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(st->ops->channel_list(st, &list, &n, &err), HD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, id);
    assert_string_equal(list[0].name, "ops2");
    assert_int_equal(list[0].version, 3);
    assert_int_equal(list[0].enabled, 0);
    assert_int_equal(list[0].modified_ms, 8000);
    assert_string_equal(list[0].json, "{\"v\":2}");
    assert_int_equal(list[1].id, id2);
    hd_channel_recs_free(list, n);

    assert_int_equal(st->ops->channel_delete(st, id, &err), HD_OK);
    assert_int_equal(st->ops->channel_delete(st, id, &err), HD_ENOTFOUND);
    assert_int_equal(st->ops->channel_get(st, id, &got, &err), HD_ENOTFOUND);
    /* The name is free again. */
    in.name = (char *)"ops2";
    assert_int_equal(st->ops->channel_create(st, &in, 9000, NULL, &err), HD_OK);
}

static void test_cursor_of_new_channel(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    int64_t cur = -1;
    assert_int_equal(st->ops->cursor_get(st, 42, &cur, &err), HD_OK);
    assert_int_equal(cur, 0);
    int64_t early = mk_channel(st, "early");
    assert_int_equal(st->ops->cursor_get(st, early, &cur, &err), HD_OK);
    assert_int_equal(cur, 0);
    append_n(st, "c", 5);
    int64_t late = mk_channel(st, "late");
    assert_int_equal(st->ops->cursor_get(st, late, &cur, &err), HD_OK);
    assert_int_equal(cur, 5);
    assert_int_equal(st->ops->cursor_get(st, early, &cur, &err), HD_OK);
    assert_int_equal(cur, 0);
}

static void test_progress(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    int64_t ch = mk_channel(st, "p");
    append_n(st, "p", 10);

    struct hd_delivery ups[2] = {dl(2, HD_DELIVERY_PENDING, 1, 100, "503 busy"),
                                 dl(3, HD_DELIVERY_FAILED, 4, 0, "400 bad")};
    assert_int_equal(st->ops->progress(st, ch, 3, ups, 2, &err), HD_OK);
    int64_t cur = 0;
    assert_int_equal(st->ops->cursor_get(st, ch, &cur, &err), HD_OK);
    assert_int_equal(cur, 3);
    int64_t pend = 0;
    assert_int_equal(st->ops->pending_count(st, ch, &pend, &err), HD_OK);
    assert_int_equal(pend, 1);

    struct hd_delivery *ds = NULL;
    size_t n = 0;
    assert_int_equal(st->ops->deliveries_of_event(st, 2, &ds, &n, &err), HD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ds[0].channel_id, ch);
    assert_string_equal(ds[0].event_id, "p1"); /* looked up from the event */
    assert_int_equal(ds[0].status, HD_DELIVERY_PENDING);
    assert_int_equal(ds[0].attempts, 1);
    assert_int_equal(ds[0].last_status, 503);
    assert_string_equal(ds[0].last_error, "503 busy");
    assert_true(ds[0].first_ms > 0);
    int64_t first_ms = ds[0].first_ms;
    hd_deliveries_free(ds, n);

    /* Backwards cursor is ignored; an upsert updates the row in place. */
    struct hd_delivery again = dl(2, HD_DELIVERY_PENDING, 2, 300, NULL);
    assert_int_equal(st->ops->progress(st, ch, 1, &again, 1, &err), HD_OK);
    assert_int_equal(st->ops->cursor_get(st, ch, &cur, &err), HD_OK);
    assert_int_equal(cur, 3);
    assert_int_equal(st->ops->deliveries_of_event(st, 2, &ds, &n, &err), HD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ds[0].attempts, 2);
    assert_int_equal(ds[0].next_ms, 300);
    assert_int_equal(ds[0].first_ms, first_ms); /* first_ms 0 keeps the first failure */
    assert_null(ds[0].last_error);
    hd_deliveries_free(ds, n);

    /* DELIVERED removes the exception row; -1 leaves the cursor. */
    struct hd_delivery done = dl(2, HD_DELIVERY_DELIVERED, 3, 0, NULL);
    assert_int_equal(st->ops->progress(st, ch, -1, &done, 1, &err), HD_OK);
    assert_int_equal(st->ops->deliveries_of_event(st, 2, &ds, &n, &err), HD_OK);
    assert_int_equal(n, 0);
    free(ds);
    assert_int_equal(st->ops->pending_count(st, ch, &pend, &err), HD_OK);
    assert_int_equal(pend, 0);
    assert_int_equal(st->ops->progress(st, ch, 10, NULL, 0, &err), HD_OK);
    assert_int_equal(st->ops->cursor_get(st, ch, &cur, &err), HD_OK);
    assert_int_equal(cur, 10);

    /* Unknown channel and unknown status are refused and change nothing. */
    assert_int_equal(st->ops->progress(st, 999, 5, NULL, 0, &err), HD_ENOTFOUND);
    struct hd_delivery bad = dl(4, (enum hd_delivery_status)9, 0, 0, NULL);
    assert_int_equal(st->ops->progress(st, ch, 10, &bad, 1, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "ups[0].status"));
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM cursors WHERE channel_id = 999"), 0);
}

static void test_due_retries_order(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    int64_t ch = mk_channel(st, "r");
    int64_t other = mk_channel(st, "o");
    append_n(st, "r", 8);
    struct hd_delivery ups[4] = {
        dl(5, HD_DELIVERY_PENDING, 1, 100, NULL), dl(3, HD_DELIVERY_PENDING, 1, 50, NULL),
        dl(7, HD_DELIVERY_PENDING, 1, 1000, NULL), dl(1, HD_DELIVERY_FAILED, 9, 0, NULL)};
    assert_int_equal(st->ops->progress(st, ch, 8, ups, 4, &err), HD_OK);
    struct hd_delivery o = dl(2, HD_DELIVERY_PENDING, 1, 10, NULL);
    assert_int_equal(st->ops->progress(st, other, 8, &o, 1, &err), HD_OK);

    struct hd_delivery *ds = NULL;
    size_t n = 0;
    assert_int_equal(
        st->ops->due_retries(st, &(struct hd_delivery_query){.channel_id = ch, .now_ms = 200, .limit = 10},
                             &ds, &n, &err),
        HD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ds[0].event_seq, 3);
    assert_int_equal(ds[1].event_seq, 5);
    hd_deliveries_free(ds, n);
    assert_int_equal(
        st->ops->due_retries(st, &(struct hd_delivery_query){.channel_id = ch, .now_ms = 200, .limit = 1},
                             &ds, &n, &err),
        HD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ds[0].event_seq, 3);
    hd_deliveries_free(ds, n);
    assert_int_equal(
        st->ops->due_retries(st, &(struct hd_delivery_query){.channel_id = ch, .now_ms = 5000, .limit = 10},
                             &ds, &n, &err),
        HD_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ds[2].event_seq, 7);
    hd_deliveries_free(ds, n);

    /* deliveries_list: all channels, any exception. */
    assert_int_equal(
        st->ops->deliveries_list(st, &(struct hd_delivery_query){.channel_id = 0, .status = -1, .limit = 100},
                                 &ds, &n, &err),
        HD_OK);
    assert_int_equal(n, 5);
    hd_deliveries_free(ds, n);
    assert_int_equal(
        st->ops->deliveries_list(
            st, &(struct hd_delivery_query){.channel_id = ch, .status = HD_DELIVERY_FAILED, .limit = 100},
            &ds, &n, &err),
        HD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ds[0].event_seq, 1);
    assert_int_equal(ds[0].status, HD_DELIVERY_FAILED);
    hd_deliveries_free(ds, n);
    assert_int_equal(
        st->ops->deliveries_list(
            st, &(struct hd_delivery_query){.channel_id = other, .status = -1, .limit = 100}, &ds, &n, &err),
        HD_OK);
    assert_int_equal(n, 1);
    hd_deliveries_free(ds, n);
    assert_int_equal(
        st->ops->deliveries_list(st, &(struct hd_delivery_query){.channel_id = 0, .status = -1, .limit = 2},
                                 &ds, &n, &err),
        HD_OK);
    assert_int_equal(n, 2);
    hd_deliveries_free(ds, n);
}

static void test_retry_and_replay(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    int64_t ch = mk_channel(st, "rr");
    append_n(st, "rr", 10); /* ts_us 1000..1009, seq 1..10 */
    struct hd_delivery ups[3] = {dl(1, HD_DELIVERY_FAILED, 5, 0, "dead"),
                                 dl(2, HD_DELIVERY_FAILED, 5, 0, "dead"),
                                 dl(3, HD_DELIVERY_PENDING, 1, INT64_MAX, NULL)};
    assert_int_equal(st->ops->progress(st, ch, 6, ups, 3, &err), HD_OK);

    struct hd_delivery *ds = NULL;
    size_t n = 0;
    assert_int_equal(st->ops->deliveries_of_event(st, 1, &ds, &n, &err), HD_OK);
    assert_int_equal(n, 1);
    int64_t id1 = ds[0].id;
    hd_deliveries_free(ds, n);

    int64_t before = hd_now_ms();
    assert_int_equal(st->ops->delivery_retry(st, id1, &err), HD_OK);
    assert_int_equal(st->ops->deliveries_of_event(st, 1, &ds, &n, &err), HD_OK);
    assert_int_equal(ds[0].status, HD_DELIVERY_PENDING);
    assert_int_equal(ds[0].attempts, 0);
    assert_true(ds[0].next_ms >= before && ds[0].next_ms <= hd_now_ms());
    hd_deliveries_free(ds, n);
    /* Not FAILED any more, or unknown. */
    assert_int_equal(st->ops->delivery_retry(st, id1, &err), HD_ENOTFOUND);
    assert_int_equal(st->ops->delivery_retry(st, 12345, &err), HD_ENOTFOUND);

    size_t count = 99;
    assert_int_equal(st->ops->delivery_retry_channel(st, ch, &count, &err), HD_OK);
    assert_int_equal(count, 1);
    assert_int_equal(st->ops->delivery_retry_channel(st, ch, &count, &err), HD_OK);
    assert_int_equal(count, 0);
    int64_t pend = 0;
    assert_int_equal(st->ops->pending_count(st, ch, &pend, &err), HD_OK);
    assert_int_equal(pend, 3);

    /* Replay ts 1002..1007: seq 3..8; 3 already has a row, 7 and 8 are past
     * the cursor (6) and will come anyway: new rows for 4, 5, 6. */
    assert_int_equal(st->ops->replay(st, ch, 1002, 1007, &count, &err), HD_OK);
    assert_int_equal(count, 3);
    assert_int_equal(st->ops->pending_count(st, ch, &pend, &err), HD_OK);
    assert_int_equal(pend, 6);
    assert_int_equal(st->ops->replay(st, ch, 1002, 1007, &count, &err), HD_OK);
    assert_int_equal(count, 0);
    assert_int_equal(st->ops->due_retries(
                         st,
                         &(struct hd_delivery_query){.channel_id = ch, .now_ms = hd_now_ms(), .limit = 100},
                         &ds, &n, &err),
                     HD_OK);
    assert_int_equal(n, 5); /* seq 3 was parked at INT64_MAX */
    assert_int_equal(ds[0].event_seq, 1);
    assert_int_equal(ds[4].event_seq, 6);
    assert_string_equal(ds[4].event_id, "rr5");
    hd_deliveries_free(ds, n);
    assert_int_equal(st->ops->replay(st, 999, 0, 0, &count, &err), HD_ENOTFOUND);
}

static void test_channel_delete_dead_letters(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    int64_t a = mk_channel(st, "a");
    int64_t b = mk_channel(st, "b");
    append_n(st, "d", 6);
    struct hd_delivery p = dl(2, HD_DELIVERY_PENDING, 1, 10, "503");
    assert_int_equal(st->ops->progress(st, a, 3, &p, 1, &err), HD_OK);
    assert_int_equal(st->ops->progress(st, b, 6, NULL, 0, &err), HD_OK);

    assert_int_equal(st->ops->channel_delete(st, a, &err), HD_OK);
    struct hd_delivery *ds = NULL;
    size_t n = 0;
    assert_int_equal(
        st->ops->deliveries_list(
            st, &(struct hd_delivery_query){.channel_id = a, .status = HD_DELIVERY_FAILED, .limit = 100}, &ds,
            &n, &err),
        HD_OK);
    assert_int_equal(n, 4);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(ds[i].last_error, "channel deleted");
        assert_int_equal(ds[i].status, HD_DELIVERY_FAILED);
        seen |= 1 << ds[i].event_seq;
    }
    assert_int_equal(seen, (1 << 2) | (1 << 4) | (1 << 5) | (1 << 6));
    int64_t id = ds[0].id;
    hd_deliveries_free(ds, n);
    assert_int_equal(
        st->ops->deliveries_list(
            st, &(struct hd_delivery_query){.channel_id = a, .status = HD_DELIVERY_PENDING, .limit = 100},
            &ds, &n, &err),
        HD_OK);
    assert_int_equal(n, 0);
    free(ds);
    int64_t cur = -1;
    assert_int_equal(st->ops->cursor_get(st, a, &cur, &err), HD_OK);
    assert_int_equal(cur, 0);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM cursors"), 1);
    /* Dead letters of a deleted channel cannot be retried into nowhere. */
    assert_int_equal(st->ops->delivery_retry(st, id, &err), HD_ENOTFOUND);
    /* Progress of a deleted channel is refused. */
    assert_int_equal(st->ops->progress(st, a, 6, NULL, 0, &err), HD_ENOTFOUND);
}

static void test_prune(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    size_t deleted = 99;
    assert_int_equal(st->ops->prune(st, 0, 0, &deleted, &err), HD_OK);
    assert_int_equal(deleted, 0);

    int64_t ch = mk_channel(st, "keep");
    /* Arrived an hour ago. */
    struct hd_event evs[10];
    for (int i = 0; i < 10; i++) {
        char id[8];
        snprintf(id, sizeof(id), "o%d", i);
        mk_event(&evs[i], id, "generic", i, 5, HD_STATE_ACTIVE, "ns", "old");
        evs[i].recv_us = hd_now_us() - 3600LL * 1000000;
    }
    assert_int_equal(st->ops->append(st, evs, 10, &err), HD_OK);
    for (int i = 0; i < 10; i++) {
        hd_event_clear(&evs[i]);
    }
    struct hd_delivery p = dl(2, HD_DELIVERY_PENDING, 1, 10, NULL);
    struct hd_delivery dead = dl(3, HD_DELIVERY_FAILED, 1, 0, "400");
    struct hd_delivery both[2] = {p, dead};
    assert_int_equal(st->ops->progress(st, ch, 5, both, 2, &err), HD_OK);

    /* A minute's age limit: 1, 3, 4, 5 go (the dead letter with its event);
     * 2 is pending; 6..10 were not handed to the channel yet. */
    assert_int_equal(st->ops->prune(st, 60 * 1000, 0, &deleted, &err), HD_OK);
    assert_int_equal(deleted, 4);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 6);
    assert_int_equal(raw_count(f->db, "SELECT min(seq) FROM events"), 2);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events WHERE seq >= 6"), 5);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM deliveries"), 1);
    /* A young log is left alone. */
    assert_int_equal(st->ops->prune(st, 24LL * 3600 * 1000, 0, &deleted, &err), HD_OK);
    assert_int_equal(deleted, 0);

    /* Size limit: everything delivered except the pending one may go. */
    assert_int_equal(st->ops->progress(st, ch, 10, NULL, 0, &err), HD_OK);
    assert_int_equal(st->ops->prune(st, 0, 1, &deleted, &err), HD_OK);
    assert_int_equal(deleted, 5);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 1);
    assert_int_equal(raw_count(f->db, "SELECT seq FROM events"), 2);
    /* seq keeps counting past pruned events. */
    int64_t seq = 0;
    append1(st, "after-prune", 1, &seq);
    assert_int_equal(seq, 11);
}

/* ---- raws of a batch stored as one blob ----------------------------------- */

/* A raw of about 400 bytes that differs per event, like a real alert. */
static void mk_big_event(struct hd_event *ev, const char *id, int i)
{
    mk_event(ev, id, "generic", 1000 + i, 5, HD_STATE_ACTIVE, "ns", "n");
    free(ev->raw);
    char raw[512];
    int n =
        snprintf(raw, sizeof(raw),
                 "{\"id\":\"%s\",\"i\":%d,\"output\":\"Sensitive file opened for reading by non-trusted "
                 "program (user=root name=ftest command=ftest -i %d file=/etc/shadow)\",\"pad\":\"%0*d\"}",
                 id, i, i * 7919, 200 + i % 50, i);
    ev->raw = malloc((size_t)n + 1);
    memcpy(ev->raw, raw, (size_t)n + 1);
    ev->raw_len = (size_t)n;
}

static void check_raw(struct hd_store *st, const char *id, int i)
{
    struct hd_event want;
    mk_big_event(&want, id, i);
    struct hd_event got = {0};
    struct hd_err err = {0};
    assert_int_equal(st->ops->event_get(st, id, &got, &err), HD_OK);
    assert_int_equal(got.raw_len, want.raw_len);
    assert_memory_equal(got.raw, want.raw, want.raw_len);
    assert_int_equal(got.raw[got.raw_len], '\0');
    hd_event_clear(&got);
    hd_event_clear(&want);
}

static void test_batch_raws_blob(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    append1(st, "before", 1, NULL); /* a single event: its raw in its row */

    enum { N = 40 };
    struct hd_event evs[N];
    char ids[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "b%d", i);
        mk_big_event(&evs[i], ids[i], i);
    }
    /* one without raw, one repeating an earlier id of the batch, one stored before */
    free(evs[5].raw);
    evs[5].raw = NULL;
    evs[5].raw_len = 0;
    snprintf(evs[9].id, sizeof(evs[9].id), "b3");
    snprintf(evs[10].id, sizeof(evs[10].id), "before");
    assert_int_equal(st->ops->append(st, evs, N, &err), HD_OK);
    assert_true(evs[9].duplicate && evs[9].seq == evs[3].seq);
    assert_true(evs[10].duplicate && evs[10].seq == 1);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM raws"), 1);
    assert_int_equal(raw_count(f->db, "SELECT seq_lo FROM raws"), evs[0].seq);
    assert_int_equal(raw_count(f->db, "SELECT seq_hi FROM raws"), evs[N - 1].seq);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events WHERE raw_enc = 2"), N - 3);
    /* one frame over similar events: well under the raws' total */
    assert_true(raw_count(f->db, "SELECT length(data) FROM raws") * 3 <
                raw_count(f->db, "SELECT size FROM raws"));
    for (int i = 0; i < N; i++) {
        hd_event_clear(&evs[i]);
    }

    /* Every raw reads back exactly, by id and in order, after a reopen too. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            if (i != 5 && i != 9 && i != 10) {
                check_raw(st, ids[i], i);
            }
        }
        struct hd_event *out = NULL;
        size_t n = 0;
        assert_int_equal(
            st->ops->events_after(st, &(struct hd_range){.after_seq = 1, .limit = 100}, &out, &n, &err),
            HD_OK);
        assert_int_equal(n, N - 2);
        for (size_t k = 0; k < n; k++) {
            if (strcmp(out[k].id, "b5") == 0) {
                assert_null(out[k].raw);
            } else {
                assert_non_null(out[k].raw);
                assert_non_null(strstr(out[k].raw, out[k].id));
            }
        }
        for (size_t k = 0; k < n; k++) {
            hd_event_clear(&out[k]);
        }
        free(out);
        hd_store_close(st);
        st = f->st = open_store(f);
    }

    /* A batch of nothing but duplicates stores no blob. */
    struct hd_event again[4];
    for (int i = 0; i < 4; i++) {
        mk_big_event(&again[i], ids[i], i);
    }
    assert_int_equal(st->ops->append(st, again, 4, &err), HD_OK);
    for (int i = 0; i < 4; i++) {
        assert_true(again[i].duplicate);
        hd_event_clear(&again[i]);
    }
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM raws"), 1);

    /* Retention: the blob stays while one of its events does (a pending
     * delivery keeps it), and goes with the last. */
    int64_t ch = mk_channel(st, "c");
    int64_t last = st->ops->max_seq(st);
    struct hd_delivery p = dl(4, HD_DELIVERY_PENDING, 1, INT64_MAX / 2, NULL);
    assert_int_equal(st->ops->progress(st, ch, last, &p, 1, &err), HD_OK);
    size_t deleted = 0;
    assert_int_equal(st->ops->prune(st, 0, 1, &deleted, &err), HD_OK);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 1);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM raws"), 1);
    check_raw(st, "b2", 2); /* seq 4 = the batch's third event */
    struct hd_delivery done = dl(4, HD_DELIVERY_DELIVERED, 2, 0, NULL);
    assert_int_equal(st->ops->progress(st, ch, last, &done, 1, &err), HD_OK);
    assert_int_equal(st->ops->prune(st, 0, 1, &deleted, &err), HD_OK);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 0);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM raws"), 0);
}

/* A damaged reference fails the read with an error, never a crash. */
static void test_batch_raws_damaged(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    struct hd_event evs[8];
    char ids[8][8];
    for (int i = 0; i < 8; i++) {
        snprintf(ids[i], sizeof(ids[i]), "d%d", i);
        mk_big_event(&evs[i], ids[i], i);
    }
    assert_int_equal(st->ops->append(st, evs, 8, &err), HD_OK);
    for (int i = 0; i < 8; i++) {
        hd_event_clear(&evs[i]);
    }
    hd_store_close(st);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
    /* offset far outside the blob; a reference of the wrong length */
    assert_int_equal(
        sqlite3_exec(h,
                     "UPDATE events SET raw = zeroblob(8) || x'ffffff7f00000000' || zeroblob(16) "
                     "WHERE id = 'd1';"
                     "UPDATE events SET raw = x'0102' WHERE id = 'd2';",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    st = f->st = open_store(f);
    struct hd_event got = {0};
    assert_int_not_equal(st->ops->event_get(st, "d1", &got, &err), HD_OK);
    assert_int_not_equal(st->ops->event_get(st, "d2", &got, &err), HD_OK);
    check_raw(st, "d3", 3);
}

#define RD_THREADS 4
struct reader {
    struct hd_store *st;
    int failures;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    for (int round = 0; round < 30; round++) {
        int64_t after = 0;
        for (;;) {
            struct hd_event *out = NULL;
            size_t n = 0;
            struct hd_err err = {0};
            if (r->st->ops->events_after(r->st, &(struct hd_range){.after_seq = after, .limit = 7 + round},
                                         &out, &n, &err) != HD_OK) {
                r->failures++;
                break;
            }
            for (size_t k = 0; k < n; k++) {
                if (out[k].raw == NULL || strstr(out[k].raw, out[k].id) == NULL) {
                    r->failures++;
                }
                after = out[k].seq;
                hd_event_clear(&out[k]);
            }
            free(out);
            if (n == 0) {
                break;
            }
        }
    }
    return NULL;
}

/* Readers on several threads share the store's blob cache. */
static void test_batch_raws_concurrent_readers(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    for (int b = 0; b < 6; b++) {
        struct hd_event evs[50];
        for (int i = 0; i < 50; i++) {
            char id[16];
            snprintf(id, sizeof(id), "r%d-%d", b, i);
            mk_big_event(&evs[i], id, i);
        }
        assert_int_equal(st->ops->append(st, evs, 50, &err), HD_OK);
        for (int i = 0; i < 50; i++) {
            hd_event_clear(&evs[i]);
        }
    }
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM raws"), 6);
    struct reader r[RD_THREADS];
    pthread_t t[RD_THREADS];
    for (int i = 0; i < RD_THREADS; i++) {
        r[i] = (struct reader){.st = st};
        assert_int_equal(pthread_create(&t[i], NULL, reader_main, &r[i]), 0);
    }
    for (int i = 0; i < RD_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].failures, 0);
    }
}

/* ---- concurrency ---------------------------------------------------------- */

#define CONC_THREADS 8
#define CONC_EVENTS 10000
#define CONC_BATCH 100
#define CONC_SINGLES 500
#define CONC_RAW 1000

struct worker {
    struct hd_store *st;
    const char *db;
    int idx;
    int batch;
    int events;
    int failures;
};

/* The seq committed for id, read on a connection of the test's own (-1: none). */
struct checker {
    sqlite3 *h;
    sqlite3_stmt *chk;
    PGconn *pg;
};

static int checker_open(struct checker *k, const char *db)
{
    memset(k, 0, sizeof(*k));
    if (g_pg_url != NULL) {
        k->pg = PQconnectdb(g_pg_url);
        return PQstatus(k->pg) == CONNECTION_OK ? 0 : -1;
    }
    if (sqlite3_open_v2(db, &k->h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(k->h, "SELECT seq FROM events WHERE id = ?1", -1, &k->chk, NULL) != SQLITE_OK) {
        return -1;
    }
    return 0;
}

static int64_t checker_seq(struct checker *k, const char *id)
{
    int64_t v = -1;
    if (k->pg != NULL) {
        const char *p[1] = {id};
        PGresult *r = PQexecParams(k->pg, "SELECT seq FROM events WHERE id = $1", 1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        }
        PQclear(r);
        return v;
    }
    sqlite3_bind_text(k->chk, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(k->chk) == SQLITE_ROW) {
        v = sqlite3_column_int64(k->chk, 0);
    }
    sqlite3_reset(k->chk);
    return v;
}

static void checker_close(struct checker *k)
{
    sqlite3_finalize(k->chk);
    sqlite3_close(k->h);
    PQfinish(k->pg);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct checker k;
    if (checker_open(&k, w->db) != 0) {
        w->failures++;
        goto out;
    }
    char raw[CONC_RAW + 1];
    memset(raw, 'x', CONC_RAW);
    raw[CONC_RAW] = '\0';
    struct hd_event *evs = calloc((size_t)w->batch, sizeof(*evs));
    for (int done = 0; done < w->events; done += w->batch) {
        for (int i = 0; i < w->batch; i++) {
            struct hd_event *ev = &evs[i];
            memset(ev, 0, sizeof(*ev));
            snprintf(ev->id, sizeof(ev->id), "t%d-b%d-%d", w->idx, w->batch, done + i);
            ev->source = "falco";
            ev->ts_us = done + i;
            ev->recv_us = hd_now_us();
            ev->severity = 4;
            ev->name = (char *)"Terminal shell in container";
            ev->k8s_namespace = (char *)"prod";
            ev->raw = raw;
            ev->raw_len = CONC_RAW;
        }
        struct hd_err err = {0};
        if (w->st->ops->append(w->st, evs, (size_t)w->batch, &err) != HD_OK) {
            w->failures++;
            continue;
        }
        /* Durable on return: another connection already sees all of them. */
        for (int i = 0; i<w->batch; i += w->batch - 1> 0 ? w->batch - 1 : 1) {
            if (checker_seq(&k, evs[i].id) != evs[i].seq) {
                w->failures++;
            }
        }
    }
    free(evs);
out:
    checker_close(&k);
    return NULL;
}

static double run_workers(struct fx *f, int batch, int events)
{
    struct worker w[CONC_THREADS];
    pthread_t t[CONC_THREADS];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < CONC_THREADS; i++) {
        w[i] = (struct worker){.st = f->st, .db = f->db, .idx = i, .batch = batch, .events = events};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    return (double)CONC_THREADS * events / secs;
}

static void test_concurrent_append(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    double batched = run_workers(f, CONC_BATCH, CONC_EVENTS);
    int64_t total = (int64_t)CONC_THREADS * CONC_EVENTS;
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), total);
    double singles = run_workers(f, 1, CONC_SINGLES);
    total += (int64_t)CONC_THREADS * CONC_SINGLES;
    /* Every id stored once and seq dense 1..total. */
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), total);
    assert_int_equal(raw_count(f->db, "SELECT count(DISTINCT id) FROM events"), total);
    assert_int_equal(raw_count(f->db, "SELECT max(seq) FROM events"), total);
    assert_int_equal(raw_count(f->db, "SELECT min(seq) FROM events"), 1);
    assert_int_equal(st->ops->max_seq(st), total);
    fprintf(stderr,
            "# store append: %d threads x %d events of %d B in batches of %d: %.0f events/s; "
            "%d threads x %d single-event appends: %.0f appends/s\n",
            CONC_THREADS, CONC_EVENTS, CONC_RAW, CONC_BATCH, batched, CONC_THREADS, CONC_SINGLES, singles);
}

/* SQLite: inserting an event whose id starts with "boom" fails (ABORT). */
static void sqlite_boom_trigger(const char *db)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    assert_int_equal(sqlite3_exec(h,
                                  "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.id LIKE 'boom%' "
                                  "BEGIN SELECT RAISE(ABORT, 'boom refused'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
}

/* Either store: inserting an event whose id starts with "boom" fails. */
static void boom_trigger(const char *db)
{
    if (g_raw != NULL) {
        pg_raw("CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "IF NEW.id LIKE 'boom%' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END $$;"
               "CREATE TRIGGER boom BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION boom()");
    } else {
        sqlite_boom_trigger(db);
    }
}

/* A failing op is rolled back alone: its events are not stored, the seqs it
 * took are given again (dense), and ops committed in the same group stay. */
struct mixer {
    struct hd_store *st;
    int idx;
    int ok, failed, wrong;
};

static void *mixer_main(void *arg)
{
    struct mixer *m = arg;
    for (int i = 0; i < 200; i++) {
        struct hd_event ev;
        memset(&ev, 0, sizeof(ev));
        int boom = m->idx == 0 && i % 2 == 1;
        snprintf(ev.id, sizeof(ev.id), boom ? "boom-%d" : "m%d-%d", boom ? i : m->idx, i);
        ev.source = "generic";
        struct hd_err err = {0};
        int rc = m->st->ops->append(m->st, &ev, 1, &err);
        if (rc == HD_OK && !boom) {
            m->ok++;
        } else if (rc == HD_EIO && boom) {
            m->failed++;
        } else {
            m->wrong++;
        }
    }
    return NULL;
}

static void test_failed_op_rolls_back_alone(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    boom_trigger(f->db);
    struct hd_event evs[2];
    mk_event(&evs[0], "fine", "generic", 1, 5, HD_STATE_ACTIVE, "ns", "a");
    mk_event(&evs[1], "boom-1", "generic", 1, 5, HD_STATE_ACTIVE, "ns", "b");
    assert_int_equal(st->ops->append(st, evs, 2, &err), HD_EIO);
    assert_non_null(strstr(err.msg, "events[1]"));
    assert_non_null(strstr(err.msg, "boom refused"));
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 0);
    assert_int_equal(st->ops->max_seq(st), 0);
    int64_t seq = 0;
    append1(st, "fine", 1, &seq);
    assert_int_equal(seq, 1);
    hd_event_clear(&evs[0]);
    hd_event_clear(&evs[1]);

    struct mixer m[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        m[i] = (struct mixer){.st = st, .idx = i};
        assert_int_equal(pthread_create(&t[i], NULL, mixer_main, &m[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(m[i].wrong, 0);
        ok += m[i].ok;
    }
    assert_int_equal(m[0].failed, 100);
    assert_int_equal(ok, 700);
    if (g_raw == NULL) {
        /* groups of appends run without savepoints, then again with them
         * when one failed (writer.c): that second run happened */
        assert_true(hd_metrics_get("herald_store_group_reruns_total", NULL) >= 1);
    }
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 701);
    assert_int_equal(raw_count(f->db, "SELECT max(seq) FROM events"), 701);
    assert_int_equal(st->ops->max_seq(st), 701);
}

/* append_stream_async: a producer hands the events over in parts, in one
 * transaction: committed together (seqs dense, a duplicate across parts
 * found), or none of them when the producer fails after some parts or a
 * part fails in the store. */
#define STREAM_PART 100

struct streamer {
    const char *prefix;
    int parts;
    int fail_after; /* >= 0: the producer refuses, with HD_EINVAL, before that part */
    int dup;        /* the first event of part 2 repeats the very first one */
    int dups;
    int64_t first_seq, last_seq;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc;
    struct hd_err err;
};

static int streamer_produce(void *ud, hd_store_consume_fn consume, void *cud, struct hd_err *err)
{
    struct streamer *p = ud;
    p->dups = 0;
    p->first_seq = p->last_seq = 0;
    for (int k = 0; k < p->parts; k++) {
        if (k == p->fail_after) {
            return hd_err_set(err, HD_EINVAL, "document %d: refused", k * STREAM_PART + 1);
        }
        struct hd_event evs[STREAM_PART];
        for (int i = 0; i < STREAM_PART; i++) {
            char id[33];
            snprintf(id, sizeof(id), "%s%d", p->prefix, p->dup && k == 2 && i == 0 ? 0 : k * STREAM_PART + i);
            mk_event(&evs[i], id, "generic", 1000 + i, 5, HD_STATE_ACTIVE, "ns", "n");
        }
        int rc = consume(cud, evs, STREAM_PART, err);
        for (int i = 0; i < STREAM_PART; i++) {
            if (rc == HD_OK && evs[i].duplicate) {
                p->dups++;
            } else if (rc == HD_OK) {
                p->first_seq = p->first_seq == 0 ? evs[i].seq : p->first_seq;
                p->last_seq = evs[i].seq;
            }
            hd_event_clear(&evs[i]);
        }
        if (rc != HD_OK) {
            return rc;
        }
    }
    return HD_OK;
}

static void streamer_done(void *ud, int rc, const struct hd_err *err)
{
    struct streamer *p = ud;
    pthread_mutex_lock(&p->mu);
    p->rc = rc;
    if (err != NULL) {
        p->err = *err;
    }
    p->done = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int stream_run(struct hd_store *st, struct streamer *p)
{
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    struct hd_err err = {0};
    assert_int_equal(st->ops->append_stream_async(st, streamer_produce, p, streamer_done, p, &err), HD_OK);
    pthread_mutex_lock(&p->mu);
    while (!p->done) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    return p->rc;
}

static void test_append_in_parts(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    assert_non_null(st->ops->append_stream_async);
    append_n(st, "before", 2);
    struct streamer ok = {.prefix = "s", .parts = 3, .fail_after = -1, .dup = 1};
    assert_int_equal(stream_run(st, &ok), HD_OK);
    assert_int_equal(ok.dups, 1);
    assert_int_equal(ok.first_seq, 3);
    assert_int_equal(ok.last_seq, 301);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 301);
    assert_int_equal(st->ops->max_seq(st), 301);

    /* The producer refuses after two parts: nothing of it stays. */
    struct streamer bad = {.prefix = "t", .parts = 3, .fail_after = 2};
    assert_int_equal(stream_run(st, &bad), HD_EINVAL);
    assert_non_null(strstr(bad.err.msg, "document 201"));
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 301);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events WHERE id LIKE 't%'"), 0);
    assert_int_equal(st->ops->max_seq(st), 301);

    /* A part the store refuses (a trigger): nothing of it stays either. */
    boom_trigger(f->db);
    struct streamer boom = {.prefix = "boom", .parts = 2, .fail_after = -1};
    assert_int_not_equal(stream_run(st, &boom), HD_OK);
    assert_non_null(strstr(boom.err.msg, "boom refused"));
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 301);

    /* The log goes on densely after them. */
    int64_t seq = 0;
    append1(st, "after", 1, &seq);
    assert_int_equal(seq, 302);
    struct streamer again = {.prefix = "s", .parts = 3, .fail_after = -1, .dup = 1};
    assert_int_equal(stream_run(st, &again), HD_OK);
    assert_int_equal(again.dups, 300); /* every one stored before */
}

/* A large append's raws go into blobs of about SQ_BLOB_CHUNK (256 KiB) each,
 * so reading one event decompresses one chunk, not the whole request. */
static void mk_huge_event(struct hd_event *ev, const char *id, int i)
{
    mk_event(ev, id, "generic", 1000 + i, 5, HD_STATE_ACTIVE, "ns", "n");
    free(ev->raw);
    size_t n = 60000;
    ev->raw = malloc(n + 1);
    int h = snprintf(ev->raw, n + 1, "{\"id\":\"%s\",\"pad\":\"", id);
    for (size_t k = (size_t)h; k < n - 2; k++) {
        ev->raw[k] = (char)('a' + (k * 7 + (size_t)i) % 26);
    }
    memcpy(ev->raw + n - 2, "\"}", 3);
    ev->raw_len = n;
}

static void test_batch_raws_chunked(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    enum { N = 12 }; /* 12 x 60 KB: 720 KB, three chunks of four */
    struct hd_event evs[N];
    char ids[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "h%d", i);
        mk_huge_event(&evs[i], ids[i], i);
    }
    assert_int_equal(st->ops->append(st, evs, N, &err), HD_OK);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM raws"), 3);
    assert_int_equal(raw_count(f->db, "SELECT max(size) <= 262144 FROM raws"), 1);
    /* the chunks tile the append's seqs, in rid order */
    assert_int_equal(raw_count(f->db, "SELECT min(seq_lo) FROM raws"), evs[0].seq);
    assert_int_equal(raw_count(f->db, "SELECT max(seq_hi) FROM raws"), evs[N - 1].seq);
    assert_int_equal(raw_count(f->db, "SELECT sum(seq_hi - seq_lo + 1) FROM raws"), N);
    for (int round = 0; round < 2; round++) {
        for (int i = N - 1; i >= 0; i--) {
            struct hd_event got = {0};
            assert_int_equal(st->ops->event_get(st, ids[i], &got, &err), HD_OK);
            assert_int_equal(got.raw_len, evs[i].raw_len);
            assert_memory_equal(got.raw, evs[i].raw, evs[i].raw_len);
            hd_event_clear(&got);
        }
        hd_store_close(st);
        st = f->st = open_store(f);
    }
    /* a re-send of the whole request stores nothing, no blob either */
    assert_int_equal(st->ops->append(st, evs, N, &err), HD_OK);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM raws"), 3);
    for (int i = 0; i < N; i++) {
        assert_true(evs[i].duplicate);
        hd_event_clear(&evs[i]);
    }
    size_t deleted = 0;
    assert_int_equal(st->ops->prune(st, 0, 1, &deleted, &err), HD_OK);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM raws"), 0);
}

/* Single-event appends that meet in one group commit share one blob,
 * compressed by the writer (SQLite); a failing op or a duplicate among them
 * changes nothing for the others, and retention takes the blob with the
 * last of its events. */
#define GROUP_THREADS 4
#define GROUP_EACH 150

struct grouper {
    struct hd_store *st;
    int idx;
    int failures;
};

static void *grouper_main(void *arg)
{
    struct grouper *g = arg;
    for (int i = 0; i < GROUP_EACH; i++) {
        char id[24];
        int k = i * GROUP_THREADS + g->idx;
        int boom = g->idx == 0 && i % 5 == 4;
        snprintf(id, sizeof(id), boom ? "boom-%d" : "g%d", k);
        struct hd_event ev;
        mk_big_event(&ev, id, k);
        struct hd_err err = {0};
        int rc = g->st->ops->append(g->st, &ev, 1, &err);
        g->failures += boom ? rc != HD_EIO : rc != HD_OK;
        if (g->idx == 1 && i % 10 == 9) { /* a re-send: a duplicate in some group */
            hd_event_clear(&ev);
            snprintf(id, sizeof(id), "g%d", k - GROUP_THREADS);
            mk_big_event(&ev, id, k - GROUP_THREADS);
            rc = g->st->ops->append(g->st, &ev, 1, &err);
            g->failures += rc != HD_OK || !ev.duplicate;
        }
        hd_event_clear(&ev);
    }
    return NULL;
}

static void test_group_raws_blob(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    sqlite_boom_trigger(f->db);
    struct grouper g[GROUP_THREADS];
    pthread_t t[GROUP_THREADS];
    for (int i = 0; i < GROUP_THREADS; i++) {
        g[i] = (struct grouper){.st = st, .idx = i};
        assert_int_equal(pthread_create(&t[i], NULL, grouper_main, &g[i]), 0);
    }
    for (int i = 0; i < GROUP_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(g[i].failures, 0);
    }
    int64_t stored = GROUP_THREADS * GROUP_EACH - GROUP_EACH / 5;
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), stored);
    assert_int_equal(raw_count(f->db, "SELECT max(seq) FROM events"), stored);
    /* groups of several appends happened, and their raws went into blobs */
    assert_true(raw_count(f->db, "SELECT count(*) FROM raws WHERE seq_hi > seq_lo") > 0);
    assert_true(raw_count(f->db, "SELECT count(*) FROM events WHERE raw_enc = 2") > 0);
    /* no blob without an event of its range */
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM raws r WHERE NOT EXISTS "
                                      "(SELECT 1 FROM events e WHERE e.seq BETWEEN r.seq_lo AND r.seq_hi)"),
                     0);
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < GROUP_THREADS * GROUP_EACH; k++) {
            if (k % GROUP_THREADS == 0 && (k / GROUP_THREADS) % 5 == 4) {
                continue; /* refused */
            }
            char id[24];
            snprintf(id, sizeof(id), "g%d", k);
            check_raw(st, id, k);
        }
        hd_store_close(st);
        st = f->st = open_store(f);
    }
    size_t deleted = 0;
    assert_int_equal(st->ops->prune(st, 0, 1, &deleted, &err), HD_OK);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 0);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM raws"), 0);
}

static void test_reopen_keeps_everything(void **state)
{
    struct fx *f = *state;
    struct hd_err err = {0};
    int64_t ch = mk_channel(f->st, "persist");
    append_n(f->st, "k", 7);
    struct hd_delivery p = dl(4, HD_DELIVERY_PENDING, 2, 77, "timeout");
    assert_int_equal(f->st->ops->progress(f->st, ch, 5, &p, 1, &err), HD_OK);
    hd_store_close(f->st);

    f->st = open_store(f);
    struct hd_store *st = f->st;
    assert_int_equal(st->ops->max_seq(st), 7);
    int64_t cur = 0;
    assert_int_equal(st->ops->cursor_get(st, ch, &cur, &err), HD_OK);
    assert_int_equal(cur, 5);
    struct hd_channel_rec r = {0};
    assert_int_equal(st->ops->channel_get_by_name(st, "persist", &r, &err), HD_OK);
    assert_int_equal(r.id, ch);
    hd_channel_rec_clear(&r);
    struct hd_delivery *ds = NULL;
    size_t n = 0;
    assert_int_equal(
        st->ops->due_retries(st, &(struct hd_delivery_query){.channel_id = ch, .now_ms = 100, .limit = 10},
                             &ds, &n, &err),
        HD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ds[0].event_seq, 4);
    assert_string_equal(ds[0].last_error, "timeout");
    hd_deliveries_free(ds, n);
    struct hd_event ev;
    assert_int_equal(st->ops->event_get(st, "k6", &ev, &err), HD_OK);
    assert_int_equal(ev.seq, 7);
    hd_event_clear(&ev);
    int64_t seq = 0;
    append1(st, "k7", 1, &seq);
    assert_int_equal(seq, 8);
    /* Re-sent after the restart: still a duplicate. */
    append1(st, "k3", 1, &seq);
    assert_int_equal(seq, 4);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), 8);
}

/* A burst: 40,000 events whose ids share their leading seconds (one source
 * timestamp). Re-sends of the first, a middle and the last one, in one batch
 * with a new event and a duplicate inside the batch, are recognised, and seq
 * stays dense (the SQLite store moves keys between the two levels of its id
 * index on the way: test_sqlite_ids.c). */
static void burst_id(char *id, int i)
{
    snprintf(id, 33, "69300000%08x%016llx", (unsigned)i * 2654435761u, (unsigned long long)i);
}

static void test_burst_one_second(void **state)
{
    struct fx *f = *state;
    struct hd_store *st = f->st;
    struct hd_err err = {0};
    enum { BURST = 40000, CHUNK = 1000 };
    static struct hd_event evs[CHUNK];
    for (int b = 0; b < BURST; b += CHUNK) {
        for (int i = 0; i < CHUNK; i++) {
            char id[33];
            burst_id(id, b + i);
            mk_event(&evs[i], id, "generic", 0x69300000LL * 1000000, 5, HD_STATE_ACTIVE, "ns", "burst");
        }
        assert_int_equal(st->ops->append(st, evs, CHUNK, &err), HD_OK);
        for (int i = 0; i < CHUNK; i++) {
            assert_int_equal(evs[i].seq, b + i + 1);
            assert_int_equal(evs[i].duplicate, 0);
            hd_event_clear(&evs[i]);
        }
    }
    const int again[] = {0, BURST / 2, BURST - 1, BURST, 0};
    const int64_t want_seq[] = {1, BURST / 2 + 1, BURST, BURST + 1, 1};
    const int want_dup[] = {1, 1, 1, 0, 1};
    for (int i = 0; i < 5; i++) {
        char id[33];
        burst_id(id, again[i]);
        mk_event(&evs[i], id, "generic", 0x69300000LL * 1000000, 5, HD_STATE_ACTIVE, "ns", "again");
    }
    assert_int_equal(st->ops->append(st, evs, 5, &err), HD_OK);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(evs[i].seq, want_seq[i]);
        assert_int_equal(evs[i].duplicate, want_dup[i]);
        hd_event_clear(&evs[i]);
    }
    assert_int_equal(st->ops->max_seq(st), BURST + 1);
    assert_int_equal(raw_count(f->db, "SELECT count(*) FROM events"), BURST + 1);
    char id[33];
    burst_id(id, BURST / 2);
    struct hd_event got;
    assert_int_equal(st->ops->event_get(st, id, &got, &err), HD_OK);
    assert_int_equal(got.seq, BURST / 2 + 1);
    assert_string_equal(got.name, "burst");
    hd_event_clear(&got);
}

/* ---- the shared store (PostgreSQL) ---------------------------------------- */

/* The PostgreSQL store's own cases (leases, the out-of-order commit proof,
 * lost connections) are in test_pg_store.c. */

static const struct CMUnitTest common_tests[] = {
    cmocka_unit_test_setup_teardown(test_append_dedupe, setup, teardown),
    cmocka_unit_test_setup_teardown(test_events_after_and_get, setup, teardown),
    cmocka_unit_test_setup_teardown(test_events_after_bounded_by_bytes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_events_query, setup, teardown),
    cmocka_unit_test_setup_teardown(test_events_query_dashboard, setup, teardown),
    cmocka_unit_test_setup_teardown(test_channels_crud, setup, teardown),
    cmocka_unit_test_setup_teardown(test_cursor_of_new_channel, setup, teardown),
    cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
    cmocka_unit_test_setup_teardown(test_due_retries_order, setup, teardown),
    cmocka_unit_test_setup_teardown(test_retry_and_replay, setup, teardown),
    cmocka_unit_test_setup_teardown(test_channel_delete_dead_letters, setup, teardown),
    cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
    cmocka_unit_test_setup_teardown(test_concurrent_append, setup, teardown),
    cmocka_unit_test_setup_teardown(test_failed_op_rolls_back_alone, setup, teardown),
    cmocka_unit_test_setup_teardown(test_append_in_parts, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
    cmocka_unit_test_setup_teardown(test_burst_one_second, setup, teardown),
};

static const struct CMUnitTest sqlite_tests[] = {
    cmocka_unit_test_setup_teardown(test_open_urls_and_migrations, setup, teardown),
    cmocka_unit_test_setup_teardown(test_batch_raws_blob, setup, teardown),
    cmocka_unit_test_setup_teardown(test_batch_raws_damaged, setup, teardown),
    cmocka_unit_test_setup_teardown(test_batch_raws_concurrent_readers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_group_raws_blob, setup, teardown),
    cmocka_unit_test_setup_teardown(test_batch_raws_chunked, setup, teardown),
};

/* The URL in file (its first line); NULL if unreadable. Caller frees. */
static char *read_url(const char *file)
{
    FILE *fp = fopen(file, "r");
    if (fp == NULL) {
        return NULL;
    }
    char line[512];
    char *url = NULL;
    if (fgets(line, sizeof(line), fp) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        url = strdup(line);
    }
    fclose(fp);
    return url;
}

int main(int argc, char **argv)
{
    char *owned = NULL;
    g_pg_url = getenv("HERALD_TEST_PG_URL");
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--pg") == 0) {
            g_pg_url = argv[i + 1];
        } else if (strcmp(argv[i], "--pg-file") == 0) {
            g_pg_url = owned = read_url(argv[i + 1]);
            if (g_pg_url == NULL) {
                fprintf(stderr, "test_store: cannot read a URL from %s\n", argv[i + 1]);
                return 1;
            }
        }
    }
    if (g_pg_url == NULL || g_pg_url[0] == '\0') {
        g_pg_url = NULL;
        int rc = cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);
        return rc | cmocka_run_group_tests_name("sqlite_common", common_tests, NULL, NULL);
    }
    g_raw = PQconnectdb(g_pg_url);
    if (PQstatus(g_raw) != CONNECTION_OK) {
        fprintf(stderr, "test_store: cannot connect to the test database: %s", PQerrorMessage(g_raw));
        PQfinish(g_raw);
        free(owned);
        return 1;
    }
    PQclear(PQexec(g_raw, "SET client_min_messages = warning"));
    int rc = cmocka_run_group_tests_name("postgres_common", common_tests, NULL, NULL);
    PQfinish(g_raw);
    free(owned);
    return rc;
}
