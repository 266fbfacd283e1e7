/* test_pg_store.c - the PostgreSQL store against a real PostgreSQL 15
 * (tests/pg/pgtmp.sh, started by the ctest fixture): the store semantics
 * shared with SQLite, and what only a shared store has: no skipped event
 * when commits land out of order, channel leases spread over replicas and
 * taken over when one closes, the cursor fence, change notifications
 * between replicas, a lost connection. Each test gets a fresh database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/util.h"
#include "store/store.h"

static char base_url[512];
static char url[512];

static PGconn *raw(const char *u)
{
    PGconn *c = PQconnectdb(u);
    if (PQstatus(c) != CONNECTION_OK) {
        fail_msg("connect: %s", PQerrorMessage(c));
    }
    return c;
}

static void sql(PGconn *c, const char *q)
{
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", q, PQresultErrorMessage(r));
    }
    PQclear(r);
}

static int setup(void **state)
{
    (void)state;
    static int n;
    char db[64];
    snprintf(db, sizeof(db), "t_%d_%d", (int)getpid(), ++n);
    PGconn *c = raw(base_url);
    char q[128];
    snprintf(q, sizeof(q), "CREATE DATABASE %s", db);
    sql(c, q);
    PQfinish(c);
    const char *slash = strrchr(base_url, '/');
    snprintf(url, sizeof(url), "%.*s/%s", (int)(slash - base_url), base_url, db);
    return 0;
}

static struct hd_store *open_pg(void)
{
    struct hd_err err = {0};
    struct hd_store *st = hd_store_open(url, NULL, &err);
    if (st == NULL) {
        fail_msg("open: %s", err.msg);
    }
    return st;
}

static void mk(struct hd_event *ev, const char *id, int64_t ts)
{
    memset(ev, 0, sizeof(*ev));
    snprintf(ev->id, sizeof(ev->id), "%s", id);
    ev->source = "generic";
    ev->ts_us = ts;
    ev->recv_us = hd_now_us();
    ev->severity = 4;
    ev->name = strdup(id);
    ev->raw = strdup("{\"a\":1}");
    ev->raw_len = 7;
}

static int64_t channel(struct hd_store *st, const char *name)
{
    struct hd_channel_rec in = {
        .name = (char *)name,
        .type = "WEBHOOK",
        .enabled = 1,
        .json = "{\"type\":\"WEBHOOK\",\"name\":\"x\",\"options\":{\"url\":\"http://x/\"}}"};
    struct hd_channel_rec out = {0};
    struct hd_err err = {0};
    assert_int_equal(st->ops->channel_create(st, &in, 1000, &out, &err), HD_OK);
    int64_t id = out.id;
    hd_channel_rec_clear(&out);
    return id;
}

/* ---- the store's semantics ---- */

static void test_append_dedup_and_read(void **state)
{
    (void)state;
    struct hd_store *st = open_pg();
    struct hd_err err = {0};
    struct hd_event evs[3];
    mk(&evs[0], "00000001aa", 10);
    mk(&evs[1], "00000001bb", 20);
    mk(&evs[2], "00000001aa", 30); /* the same id twice in one request */
    assert_int_equal(st->ops->append(st, evs, 3, &err), HD_OK);
    assert_int_equal(evs[0].seq, 1);
    assert_int_equal(evs[1].seq, 2);
    assert_int_equal(evs[2].seq, 1);
    assert_true(evs[2].duplicate);
    struct hd_event again;
    mk(&again, "00000001bb", 20);
    assert_int_equal(st->ops->append(st, &again, 1, &err), HD_OK);
    assert_true(again.duplicate);
    assert_int_equal(again.seq, 2);
    assert_int_equal(st->ops->max_seq(st), 2);
    struct hd_event *out = NULL;
    size_t n = 0;
    assert_int_equal(
        st->ops->events_after(st, &(struct hd_range){.after_seq = 0, .limit = 10}, &out, &n, &err), HD_OK);
    assert_int_equal(n, 2);
    assert_string_equal(out[1].id, "00000001bb");
    assert_string_equal(out[0].raw, "{\"a\":1}");
    assert_int_equal(out[0].raw_len, 7);
    hd_events_free(out, n);
    struct hd_event one;
    assert_int_equal(st->ops->event_get(st, "00000001bb", &one, &err), HD_OK);
    assert_int_equal(one.seq, 2);
    hd_event_clear(&one);
    assert_int_equal(st->ops->event_get(st, "nope", &one, &err), HD_ENOTFOUND);
    for (int i = 0; i < 3; i++) {
        hd_event_clear(&evs[i]);
    }
    hd_event_clear(&again);
    hd_store_close(st);
}

static void test_channels_versions_cursors(void **state)
{
    (void)state;
    struct hd_store *st = open_pg();
    struct hd_err err = {0};
    struct hd_event ev;
    mk(&ev, "00000002aa", 1);
    assert_int_equal(st->ops->append(st, &ev, 1, &err), HD_OK);
    int64_t id = channel(st, "a");
    int64_t cur = -1;
    assert_int_equal(st->ops->cursor_get(st, id, &cur, &err), HD_OK);
    assert_int_equal(cur, 1); /* a new channel starts at the end of the log */
    struct hd_channel_rec in = {.name = "b", .type = "WEBHOOK", .enabled = 0, .json = "{}"};
    struct hd_channel_rec out = {0};
    assert_int_equal(st->ops->channel_update(st, (struct hd_channel_ref){id, 7}, &in, 2000, &out, &err),
                     HD_ECONFLICT);
    assert_int_equal(st->ops->channel_update(st, (struct hd_channel_ref){id, 1}, &in, 2000, &out, &err),
                     HD_OK);
    assert_int_equal(out.version, 2);
    assert_false(out.enabled);
    hd_channel_rec_clear(&out);
    assert_int_equal(channel(st, "c") > id, 1);
    struct hd_channel_rec dup = {.name = "c", .type = "WEBHOOK", .enabled = 1, .json = "{}"};
    assert_int_equal(st->ops->channel_create(st, &dup, 1, &out, &err), HD_ECONFLICT);
    assert_int_equal(st->ops->channel_update(st, (struct hd_channel_ref){999, -1}, &in, 1, &out, &err),
                     HD_ENOTFOUND);
    /* progress by the lease holder: rows and cursor in one transaction */
    for (int i = 0; i < 50 && !hd_store_owns_channel(st, id); i++) {
        usleep(100 * 1000);
    }
    assert_true(hd_store_owns_channel(st, id));
    struct hd_delivery row = {.event_seq = 1, .status = HD_DELIVERY_FAILED, .first_ms = 1, .next_ms = 1};
    snprintf(row.event_id, sizeof(row.event_id), "00000002aa");
    assert_int_equal(st->ops->progress(st, id, 1, &row, 1, &err), HD_OK);
    struct hd_delivery *rows = NULL;
    size_t n = 0;
    struct hd_delivery_query q = {.channel_id = id, .status = -1};
    assert_int_equal(st->ops->deliveries_list(st, &q, &rows, &n, &err), HD_OK);
    assert_int_equal(n, 1);
    int64_t did = rows[0].id;
    hd_deliveries_free(rows, n);
    assert_int_equal(st->ops->delivery_retry(st, did, &err), HD_OK);
    int64_t pending = 0;
    assert_int_equal(st->ops->pending_count(st, id, &pending, &err), HD_OK);
    assert_int_equal(pending, 1);
    assert_int_equal(st->ops->delivery_retry(st, did, &err), HD_ENOTFOUND); /* not a dead letter any more */
    assert_int_equal(st->ops->channel_delete(st, id, &err), HD_OK);
    assert_int_equal(st->ops->channel_get(st, id, &out, &err), HD_ENOTFOUND);
    hd_event_clear(&ev);
    hd_store_close(st);
}

static void test_query_stats_state(void **state)
{
    (void)state;
    struct hd_store *st = open_pg();
    struct hd_err err = {0};
    struct hd_event evs[4];
    const char *ids[] = {"00000003a1", "00000003a2", "00000003a3", "00000003a4"};
    for (int i = 0; i < 4; i++) {
        mk(&evs[i], ids[i], 1000000 * (i + 1));
        evs[i].severity = i;
    }
    free(evs[2].name);
    evs[2].name = strdup("Disk 100% full");
    assert_int_equal(st->ops->append(st, evs, 4, &err), HD_OK);
    struct hd_event_query q = {.severity = 1, .limit = 1};
    struct hd_event *out = NULL;
    size_t n = 0;
    int64_t next = 0;
    assert_int_equal(st->ops->events_query(st, &q, &out, &n, &next, &err), HD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].seq, 2); /* newest first, severity <= 1 */
    assert_int_equal(next, 2);
    hd_events_free(out, n);
    q.before_seq = next;
    assert_int_equal(st->ops->events_query(st, &q, &out, &n, &next, &err), HD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].seq, 1);
    assert_int_equal(next, 0);
    hd_events_free(out, n);
    struct hd_event_query text = {.severity = -1, .q = "100%"};
    assert_int_equal(st->ops->events_query(st, &text, &out, &n, NULL, &err), HD_OK);
    assert_int_equal(n, 1); /* % is literal */
    hd_events_free(out, n);
    struct hd_stats_query sq = {.group = HD_STATS_SEVERITY, .interval_ms = 2000, .max_rows = 100};
    struct hd_stats_row *rows = NULL;
    int trunc = 1;
    assert_int_equal(st->ops->stats(st, &sq, &rows, &n, &trunc, &err), HD_OK);
    assert_int_equal(n, 4);
    assert_int_equal(rows[0].bucket_ms, 0);
    assert_int_equal(rows[3].bucket_ms, 4000);
    assert_false(trunc);
    free(rows);
    char *v = NULL;
    assert_int_equal(st->ops->state_get(st, "k", &v, &err), HD_ENOTFOUND);
    assert_int_equal(st->ops->state_set(st, "k", "rv-1", &err), HD_OK);
    assert_int_equal(st->ops->state_get(st, "k", &v, &err), HD_OK);
    assert_string_equal(v, "rv-1");
    free(v);
    for (int i = 0; i < 4; i++) {
        hd_event_clear(&evs[i]);
    }
    hd_store_close(st);
}

/* Pruning the newest events must not let their seqs be handed out again:
 * a channel's cursor already passed them (the log's head is kept apart). */
static void test_seq_not_reused_after_prune(void **state)
{
    (void)state;
    struct hd_store *st = open_pg();
    struct hd_err err = {0};
    int64_t ch = channel(st, "p");
    for (int i = 0; i < 50 && !hd_store_owns_channel(st, ch); i++) {
        usleep(100 * 1000);
    }
    struct hd_event evs[3];
    mk(&evs[0], "00000006a1", 1);
    mk(&evs[1], "00000006a2", 2);
    mk(&evs[2], "00000006a3", 3);
    assert_int_equal(st->ops->append(st, evs, 3, &err), HD_OK);
    assert_int_equal(st->ops->progress(st, ch, 3, NULL, 0, &err), HD_OK);
    size_t deleted = 0;
    assert_int_equal(st->ops->prune(st, 0, 1, &deleted, &err),
                     HD_OK); /* over any size: prune what is delivered */
    assert_int_equal(deleted, 3);
    struct hd_event next;
    mk(&next, "00000006a4", 4);
    assert_int_equal(st->ops->append(st, &next, 1, &err), HD_OK);
    assert_int_equal(next.seq, 4);
    assert_int_equal(st->ops->max_seq(st), 4);
    for (int i = 0; i < 3; i++) {
        hd_event_clear(&evs[i]);
    }
    hd_event_clear(&next);
    hd_store_close(st);
}

/* ---- no skipped event ---- */

struct bg_append {
    struct hd_store *st;
    struct hd_event ev;
    atomic_int done;
    int rc;
};

static void *bg(void *arg)
{
    struct bg_append *b = arg;
    struct hd_err err = {0};
    b->rc = b->st->ops->append(b->st, &b->ev, 1, &err);
    atomic_store(&b->done, 1);
    return NULL;
}

/* Another replica's writer takes the append lock, numbers an event and is
 * slow to commit; meanwhile this replica appends. A reader must never see
 * the later event without the earlier one: the later append waits for the
 * lock, so seq order is commit order. */
static void test_commits_out_of_order_skip_nothing(void **state)
{
    (void)state;
    struct hd_store *st = open_pg();
    PGconn *slow = raw(url);
    sql(slow, "BEGIN");
    sql(slow, "SELECT pg_advisory_xact_lock(7245001)");
    /* numbered the way every replica's writer numbers: the log head, under the lock */
    sql(slow, "WITH h AS (UPDATE log_head SET last_seq = last_seq + 1 RETURNING last_seq) "
              "INSERT INTO events (seq, id, source, ts_us, recv_us, severity, state) "
              "SELECT h.last_seq, '00000004aa', 'generic', 1, 1, 3, 0 FROM h");
    struct bg_append b = {.st = st};
    mk(&b.ev, "00000004bb", 2);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg, &b), 0);
    usleep(300 * 1000);
    assert_false(atomic_load(&b.done)); /* waits for the slow writer's commit */
    struct hd_err err = {0};
    struct hd_event *out = NULL;
    size_t n = 0;
    assert_int_equal(
        st->ops->events_after(st, &(struct hd_range){.after_seq = 0, .limit = 10}, &out, &n, &err), HD_OK);
    assert_int_equal(n, 0); /* nothing a cursor could pass */
    hd_events_free(out, n);
    sql(slow, "COMMIT");
    pthread_join(th, NULL);
    assert_int_equal(b.rc, HD_OK);
    assert_int_equal(b.ev.seq, 2);
    assert_int_equal(
        st->ops->events_after(st, &(struct hd_range){.after_seq = 0, .limit = 10}, &out, &n, &err), HD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].seq, 1);
    assert_int_equal(out[1].seq, 2);
    hd_events_free(out, n);
    hd_event_clear(&b.ev);
    PQfinish(slow);
    hd_store_close(st);
}

/* ---- replicas ---- */

static atomic_int changes;

static void on_change(void *ud, enum hd_store_change what)
{
    (void)ud;
    if (what == HD_STORE_CHANGED_CHANNELS) {
        atomic_fetch_add(&changes, 1);
    }
}

static int owned(struct hd_store *st, const int64_t *ids, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        k += hd_store_owns_channel(st, ids[i]);
    }
    return k;
}

static void test_leases_spread_and_move(void **state)
{
    (void)state;
    struct hd_store *a = open_pg();
    struct hd_store *b = open_pg();
    hd_store_on_change(b, on_change, NULL);
    int before = atomic_load(&changes);
    int64_t ids[4];
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof(name), "c%d", i);
        ids[i] = channel(a, name);
    }
    int spread = 0;
    for (int t = 0; t < 100 && !spread; t++) {
        usleep(100 * 1000);
        int ka = owned(a, ids, 4), kb = owned(b, ids, 4);
        spread = ka == 2 && kb == 2;
        for (int i = 0; i < 4; i++) {
            assert_false(hd_store_owns_channel(a, ids[i]) && hd_store_owns_channel(b, ids[i]));
        }
    }
    assert_true(spread);
    assert_true(atomic_load(&changes) > before); /* b heard of a's channels */
    assert_true(hd_store_owns_inputs(a) + hd_store_owns_inputs(b) == 1);
    /* the fence: progress on a channel b does not hold */
    int64_t theirs = hd_store_owns_channel(a, ids[0]) ? ids[0] : ids[1];
    for (int i = 0; i < 4; i++) {
        theirs = hd_store_owns_channel(a, ids[i]) ? ids[i] : theirs;
    }
    struct hd_err err = {0};
    assert_int_equal(b->ops->progress(b, theirs, 5, NULL, 0, &err), HD_ECONFLICT);
    hd_store_on_change(b, NULL, NULL);
    hd_store_close(a); /* hands its leases back */
    int all = 0;
    for (int t = 0; t < 50 && !all; t++) {
        usleep(100 * 1000);
        all = owned(b, ids, 4) == 4 && hd_store_owns_inputs(b);
    }
    assert_true(all);
    hd_store_close(b);
}

/* A pooled connection killed by the server: the next call still works. */
static void test_lost_connection_is_retried(void **state)
{
    (void)state;
    struct hd_store *st = open_pg();
    struct hd_err err = {0};
    int64_t id = channel(st, "x");
    PGconn *admin = raw(url);
    sql(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
               "AND pid <> pg_backend_pid() AND application_name = 'herald'");
    PQfinish(admin);
    usleep(200 * 1000);
    struct hd_channel_rec out = {0};
    assert_int_equal(st->ops->channel_get(st, id, &out, &err), HD_OK);
    hd_channel_rec_clear(&out);
    struct hd_event ev;
    mk(&ev, "00000005aa", 1);
    assert_int_equal(st->ops->append(st, &ev, 1, &err), HD_OK); /* the writer reconnects too */
    assert_int_equal(ev.seq, 1);
    hd_event_clear(&ev);
    hd_store_close(st);
}

int main(void)
{
    const char *b = getenv("HERALD_TEST_PG_BASE");
    if (b == NULL) {
        FILE *f = fopen(HD_PGTMP "/port", "r");
        int port = 0;
        if (f == NULL || fscanf(f, "%d", &port) != 1) {
            fprintf(stderr, "test_pg_store: no PostgreSQL (HERALD_TEST_PG_BASE unset, %s/port missing)\n",
                    HD_PGTMP);
            return 1;
        }
        fclose(f);
        snprintf(base_url, sizeof(base_url), "postgres://herald@127.0.0.1:%d/herald", port);
    } else {
        snprintf(base_url, sizeof(base_url), "%s", b);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_append_dedup_and_read, setup),
        cmocka_unit_test_setup(test_channels_versions_cursors, setup),
        cmocka_unit_test_setup(test_query_stats_state, setup),
        cmocka_unit_test_setup(test_seq_not_reused_after_prune, setup),
        cmocka_unit_test_setup(test_commits_out_of_order_skip_nothing, setup),
        cmocka_unit_test_setup(test_leases_spread_and_move, setup),
        cmocka_unit_test_setup(test_lost_connection_is_retried, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
