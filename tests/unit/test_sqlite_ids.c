/* test_sqlite_ids.c - the SQLite store's id index in three levels
 * (src/store/sqlite/ids.c): de-duplication on either side of a merge and
 * inside one batch, keys that collide, retention removing index rows, the
 * migration of a database of the previous schema version, and restart.
 *
 * Black-box through the store's interface; a raw sqlite3 connection checks
 * where the keys are (ids_new: the new level, ids_recent: the recent one,
 * ids: the big one). The merge thresholds are not assumed: the tests append
 * until a key has moved.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "model/event.h"
#include "store/store.h"

#define BATCH 1000
#define MAX_FILL 400000        /* events appended at most while waiting for a merge */
#define SAME_SECOND "69300000" /* every id of these tests: one source second */

struct fx {
    char dir[64];
    char db[128];
    struct hd_store *st;
    long next; /* filler ids handed out */
};

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            char p[512];
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

static struct hd_store *open_store(struct fx *f)
{
    struct hd_err err = {0};
    struct hd_store *st = hd_store_open("sqlite", f->dir, &err);
    if (st == NULL) {
        fail_msg("open: %s", err.msg);
    }
    return st;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hd_ids_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/herald.db", f->dir);
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

/* An id of the shared second: SAME_SECOND, then 24 hex digits of n spread
 * over the key (so keys land at random places, as hashes do). */
static void mk_id(char *id, uint64_t n)
{
    uint64_t h = n * 0x9e3779b97f4a7c15ULL;
    snprintf(id, 33, "%s%016llx%08llx", SAME_SECOND, (unsigned long long)h,
             (unsigned long long)(n & 0xffffffffu));
}

static void mk_event(struct hd_event *ev, const char *id, int64_t recv_us)
{
    memset(ev, 0, sizeof(*ev));
    size_t len = strnlen(id, sizeof(ev->id) - 1);
    memcpy(ev->id, id, len);
    ev->id[len] = '\0';
    ev->source = "generic";
    ev->ts_us = 0x69300000LL * 1000000;
    ev->recv_us = recv_us;
    ev->severity = 5;
    ev->state = HD_STATE_ACTIVE;
    ev->name = strdup("burst");
    char raw[64];
    int n = snprintf(raw, sizeof(raw), "{\"id\":\"%s\"}", id);
    ev->raw = strdup(raw);
    ev->raw_len = (size_t)n;
}

/* Appends the ids as one batch; seqs and duplicate flags into seq/dup (may be NULL). */
static void append_ids(struct hd_store *st, char (*ids)[33], size_t n, int64_t recv_us, int64_t *seq,
                       int *dup)
{
    struct hd_event *evs = calloc(n, sizeof(*evs));
    assert_non_null(evs);
    for (size_t i = 0; i < n; i++) {
        mk_event(&evs[i], ids[i], recv_us);
    }
    struct hd_err err = {0};
    if (st->ops->append(st, evs, n, &err) != HD_OK) {
        fail_msg("append: %s", err.msg);
    }
    for (size_t i = 0; i < n; i++) {
        if (seq != NULL) {
            seq[i] = evs[i].seq;
        }
        if (dup != NULL) {
            dup[i] = evs[i].duplicate;
        }
        hd_event_clear(&evs[i]);
    }
    free(evs);
}

static int64_t append_one(struct hd_store *st, const char *id, int *dup)
{
    char ids[1][33];
    snprintf(ids[0], sizeof(ids[0]), "%s", id);
    int64_t seq = 0;
    append_ids(st, ids, 1, hd_now_us(), &seq, dup);
    return seq;
}

/* One batch of BATCH new filler ids. */
static void append_filler(struct fx *f, int64_t recv_us)
{
    static char ids[BATCH][33];
    for (int i = 0; i < BATCH; i++) {
        mk_id(ids[i], (uint64_t)(1000000 + f->next++));
    }
    append_ids(f->st, ids, BATCH, recv_us, NULL, NULL);
}

static int64_t q64(const char *db, const char *fmt, ...)
{
    char sql[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    }
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void raw_exec(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg != NULL ? msg : "?");
    }
    sqlite3_close(h);
}

static int in_new(struct fx *f, int64_t seq)
{
    return (int)q64(f->db, "SELECT count(*) FROM ids_new WHERE seq = %lld", (long long)seq);
}

static int in_recent(struct fx *f, int64_t seq)
{
    return (int)q64(f->db, "SELECT count(*) FROM ids_recent WHERE seq = %lld", (long long)seq);
}

static int in_big(struct fx *f, int64_t seq)
{
    return (int)q64(f->db, "SELECT count(*) FROM ids WHERE seq = %lld", (long long)seq);
}

/* Appends filler until the key of seq is in the level in(): the key is in
 * exactly one level at every step. */
static void fill_until_in(struct fx *f, int64_t seq, int (*in)(struct fx *, int64_t))
{
    for (int n = 0; !in(f, seq); n += BATCH) {
        if (n >= MAX_FILL) {
            fail_msg("no merge after %d events", n);
        }
        assert_int_equal(in_new(f, seq) + in_recent(f, seq) + in_big(f, seq), 1);
        append_filler(f, hd_now_us());
    }
    assert_int_equal(in_new(f, seq) + in_recent(f, seq) + in_big(f, seq), 1);
}

/* Appends filler until the key of seq has moved to the big level. */
static void fill_until_merged(struct fx *f, int64_t seq)
{
    fill_until_in(f, seq, in_big);
}

#define ALL_LEVELS                                                                                           \
    "SELECT (SELECT count(*) FROM ids) + (SELECT count(*) FROM ids_recent) + (SELECT count(*) FROM ids_new)"

static void expect_dup(struct hd_store *st, const char *id, int64_t seq)
{
    int dup = 0;
    assert_int_equal(append_one(st, id, &dup), seq);
    assert_int_equal(dup, 1);
    struct hd_event got = {0};
    struct hd_err err = {0};
    assert_int_equal(st->ops->event_get(st, id, &got, &err), HD_OK);
    assert_int_equal(got.seq, seq);
    assert_string_equal(got.id, id);
    hd_event_clear(&got);
}

/* ---- tests -------------------------------------------------------------- */

/* An id re-sent while its key is in the new level, in the recent one and
 * once it has been merged into the big one; every other event stays new and
 * dense. */
static void test_dedup_across_merge(void **state)
{
    struct fx *f = *state;
    char a[33];
    mk_id(a, 1);
    int dup = 1;
    int64_t sa = append_one(f->st, a, &dup);
    assert_int_equal(sa, 1);
    assert_int_equal(dup, 0);
    assert_int_equal(in_new(f, sa), 1);
    assert_int_equal(in_recent(f, sa), 0);
    assert_int_equal(in_big(f, sa), 0);
    expect_dup(f->st, a, sa);

    fill_until_in(f, sa, in_recent);
    expect_dup(f->st, a, sa);
    fill_until_merged(f, sa);
    expect_dup(f->st, a, sa);
    /* The first and the last filler event (merged with a) are found too. */
    char b[33];
    mk_id(b, 1000000);
    expect_dup(f->st, b, 2);
    mk_id(b, (uint64_t)(1000000 + f->next - 1));
    expect_dup(f->st, b, f->st->ops->max_seq(f->st));

    /* Dense: every new event one more, duplicates none. */
    int64_t max = f->st->ops->max_seq(f->st);
    assert_int_equal(max, 1 + f->next);
    assert_int_equal(q64(f->db, "SELECT count(*) FROM events"), max);
    assert_int_equal(q64(f->db, ALL_LEVELS), max);
    char c[33];
    mk_id(c, 2);
    assert_int_equal(append_one(f->st, c, &dup), max + 1);
    assert_int_equal(dup, 0);
}

/* Duplicates inside one batch: of an id new in it, of one in the new level
 * and of one in the big level. */
static void test_in_batch_duplicates(void **state)
{
    struct fx *f = *state;
    char old[33];
    mk_id(old, 7);
    int64_t s_old = append_one(f->st, old, NULL);
    fill_until_merged(f, s_old);
    char recent[33];
    mk_id(recent, 8);
    int64_t s_recent = append_one(f->st, recent, NULL);
    assert_int_equal(in_new(f, s_recent), 1);
    int64_t max = f->st->ops->max_seq(f->st);

    char ids[6][33];
    mk_id(ids[0], 9);
    snprintf(ids[1], 33, "%s", old);
    snprintf(ids[2], 33, "%s", ids[0]);
    snprintf(ids[3], 33, "%s", recent);
    mk_id(ids[4], 10);
    snprintf(ids[5], 33, "%s", ids[4]);
    int64_t seq[6];
    int dup[6];
    append_ids(f->st, ids, 6, hd_now_us(), seq, dup);
    const int64_t want_seq[6] = {max + 1, s_old, max + 1, s_recent, max + 2, max + 2};
    const int want_dup[6] = {0, 1, 1, 1, 0, 1};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(seq[i], want_seq[i]);
        assert_int_equal(dup[i], want_dup[i]);
    }
    assert_int_equal(f->st->ops->max_seq(f->st), max + 2);
    assert_int_equal(q64(f->db, "SELECT count(*) FROM events"), max + 2);
}

/* Ids whose keys (their first 16 hex digits) are equal are still two events,
 * in either level. */
static void test_colliding_keys(void **state)
{
    struct fx *f = *state;
    char a[33] = SAME_SECOND "0123456789abcdef01234567";
    char b[33] = SAME_SECOND "01234567ffffffffffffffff";
    int dup = 1;
    int64_t sa = append_one(f->st, a, &dup);
    assert_int_equal(dup, 0);
    int64_t sb = append_one(f->st, b, &dup);
    assert_int_equal(dup, 0);
    assert_int_equal(sb, sa + 1);
    expect_dup(f->st, a, sa);
    expect_dup(f->st, b, sb);
    fill_until_merged(f, sb);
    expect_dup(f->st, a, sa);
    expect_dup(f->st, b, sb);
}

/* Retention deletes the keys of the events it deletes, from every level;
 * a pruned id sent again is a new event. */
static void test_prune_removes_index_rows(void **state)
{
    struct fx *f = *state;
    int64_t hour_ago = hd_now_us() - 3600LL * 1000000;
    char a[33];
    mk_id(a, 3);
    char ids[1][33];
    snprintf(ids[0], 33, "%s", a);
    int64_t sa = 0;
    append_ids(f->st, ids, 1, hour_ago, &sa, NULL);
    /* old events until a has been merged, then one more old batch (a small level) */
    for (int n = 0; !in_big(f, sa); n += BATCH) {
        assert_true(n < MAX_FILL);
        append_filler(f, hour_ago);
    }
    append_filler(f, hour_ago);
    int64_t old_max = f->st->ops->max_seq(f->st);
    assert_true(q64(f->db, "SELECT (SELECT count(*) FROM ids_recent) + (SELECT count(*) FROM ids_new)") > 0);
    /* and a young one, which stays */
    char y[33];
    mk_id(y, 4);
    int64_t sy = append_one(f->st, y, NULL);

    size_t deleted = 0;
    struct hd_err err = {0};
    assert_int_equal(f->st->ops->prune(f->st, 60 * 1000, 0, &deleted, &err), HD_OK);
    assert_int_equal((int64_t)deleted, old_max);
    assert_int_equal(q64(f->db, "SELECT count(*) FROM events"), 1);
    assert_int_equal(q64(f->db, "SELECT count(*) FROM ids"), 0);
    assert_int_equal(q64(f->db, ALL_LEVELS), 1);
    assert_int_equal(in_new(f, sy) + in_recent(f, sy), 1);
    expect_dup(f->st, y, sy);

    int dup = 1;
    int64_t again = append_one(f->st, a, &dup);
    assert_int_equal(dup, 0);
    assert_int_equal(again, sy + 1);
}

/* A database of schema version 8 (events_idk, no ids tables) is migrated:
 * its keys move into the big level, re-sends of its events are duplicates,
 * new events continue its seqs. The old database is made from a new one by
 * undoing the last two migration steps (their only changes). */
static void test_migrate_version_8(void **state)
{
    struct fx *f = *state;
    int64_t version = q64(f->db, "PRAGMA user_version");
    assert_int_equal(version, 10);
    char ids[50][33];
    for (int i = 0; i < 50; i++) {
        mk_id(ids[i], (uint64_t)(100 + i));
    }
    append_ids(f->st, ids, 50, hd_now_us(), NULL, NULL);
    hd_store_close(f->st);
    f->st = NULL;
    raw_exec(f->db, "BEGIN; DROP TABLE ids; DROP TABLE ids_recent; DROP TABLE ids_new;"
                    "CREATE INDEX events_idk ON events(idk); PRAGMA user_version = 8; COMMIT;");
    assert_int_equal(q64(f->db, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'ids%%'"), 0);

    f->st = open_store(f);
    assert_int_equal(q64(f->db, "PRAGMA user_version"), 10);
    assert_int_equal(q64(f->db, "SELECT count(*) FROM sqlite_master WHERE name = 'events_idk'"), 0);
    assert_int_equal(q64(f->db, "SELECT count(*) FROM ids"), 50);
    assert_int_equal(q64(f->db, "SELECT count(*) FROM ids_recent"), 0);
    assert_int_equal(q64(f->db, "SELECT count(*) FROM ids_new"), 0);
    assert_int_equal(
        q64(f->db, "SELECT count(*) FROM ids JOIN events USING (seq) WHERE ids.idk = events.idk"), 50);
    for (int i = 0; i < 50; i++) {
        expect_dup(f->st, ids[i], i + 1);
    }
    char n[33];
    mk_id(n, 1);
    int dup = 1;
    assert_int_equal(append_one(f->st, n, &dup), 51);
    assert_int_equal(dup, 0);
    assert_int_equal(in_new(f, 51), 1);
}

/* A database of schema version 9 (two levels: its newest keys in ids_recent)
 * gets the new level: the keys it had stay where they are and are found, new
 * keys go into ids_new, and the recent level is merged later on. */
static void test_migrate_version_9(void **state)
{
    struct fx *f = *state;
    char ids[50][33];
    for (int i = 0; i < 50; i++) {
        mk_id(ids[i], (uint64_t)(200 + i));
    }
    append_ids(f->st, ids, 50, hd_now_us(), NULL, NULL);
    hd_store_close(f->st);
    f->st = NULL;
    raw_exec(f->db, "BEGIN; INSERT INTO ids_recent SELECT idk, seq FROM ids_new; DROP TABLE ids_new;"
                    "PRAGMA user_version = 9; COMMIT;");

    f->st = open_store(f);
    assert_int_equal(q64(f->db, "PRAGMA user_version"), 10);
    assert_int_equal(q64(f->db, "SELECT count(*) FROM ids_recent"), 50);
    assert_int_equal(q64(f->db, "SELECT count(*) FROM ids_new"), 0);
    for (int i = 0; i < 50; i++) {
        expect_dup(f->st, ids[i], i + 1);
    }
    char n[33];
    mk_id(n, 2);
    assert_int_equal(append_one(f->st, n, NULL), 51);
    assert_int_equal(in_new(f, 51), 1);
    fill_until_merged(f, 1);
    expect_dup(f->st, ids[0], 1);
}

/* After a restart every level is found, and merging goes on. */
static void test_restart(void **state)
{
    struct fx *f = *state;
    char a[33];
    mk_id(a, 5);
    int64_t sa = append_one(f->st, a, NULL);
    fill_until_merged(f, sa);
    char b[33];
    mk_id(b, 6);
    int64_t sb = append_one(f->st, b, NULL);
    assert_int_equal(in_new(f, sb), 1);
    int64_t max = f->st->ops->max_seq(f->st);

    hd_store_close(f->st);
    f->st = open_store(f);
    assert_int_equal(f->st->ops->max_seq(f->st), max);
    expect_dup(f->st, a, sa);
    expect_dup(f->st, b, sb);
    /* The new level left before the restart is merged later on. */
    fill_until_merged(f, sb);
    expect_dup(f->st, b, sb);
    int64_t now_max = f->st->ops->max_seq(f->st);
    assert_true(now_max > max);
    assert_int_equal(q64(f->db, "SELECT count(*) FROM events"), now_max);
    assert_int_equal(q64(f->db, ALL_LEVELS), now_max);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dedup_across_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_batch_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_colliding_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_removes_index_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_version_8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_version_9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
