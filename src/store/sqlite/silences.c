/* silences.c - silences (SPEC 4), table silences: a few rows typed by
 * people, read whole by the dispatcher and the API. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sqlite_int.h"

static int row_silence(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *q, void *out)
{
    (void)s;
    (void)c;
    struct hd_silence *si = out;
    memset(si, 0, sizeof(*si));
    si->id = sqlite3_column_int64(q, 0);
    si->starts_ms = sqlite3_column_int64(q, 2);
    si->ends_ms = sqlite3_column_int64(q, 3);
    si->created_ms = sqlite3_column_int64(q, 4);
    si->updated_ms = sqlite3_column_int64(q, 5);
    if (sq_col_dup(q, 1, &si->matchers) != HD_OK || sq_col_dup(q, 6, &si->created_by) != HD_OK ||
        sq_col_dup(q, 7, &si->comment) != HD_OK || si->matchers == NULL) {
        hd_silence_clear(si);
        return HD_ENOMEM;
    }
    return HD_OK;
}

static void clear_silence(void *p)
{
    hd_silence_clear(p);
}

int sq_silence_list(struct hd_store *st, struct hd_silence **out, size_t *n, struct hd_err *err)
{
    struct sq_rows r = {.row = row_silence,
                        .clear = clear_silence,
                        .elem_size = sizeof(struct hd_silence),
                        .what = "listing silences",
                        .oom = "store: out of memory",
                        .noun = "silence"};
    int rc = sq_read_rows(sq_of(st), Q_SI_LIST, NULL, 0, &r, err);
    if (rc == HD_OK) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int sq_silence_get(struct hd_store *st, int64_t id, struct hd_silence *out, struct hd_err *err)
{
    int found = 0;
    struct sq_lookup l = {.stmt = Q_SI_GET, .num = id, .row = row_silence, .what = "a silence"};
    int rc = sq_read_one(sq_of(st), &l, out, &found, err);
    if (rc == HD_OK && !found) {
        rc = hd_err_set(err, HD_ENOTFOUND, "silence %lld not found", (long long)id);
    }
    return rc;
}

struct put_args {
    const struct hd_silence *in;
    int64_t now_ms;
    int64_t id; /* result */
};

static int op_put(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct put_args *a = arg;
    const struct hd_silence *in = a->in;
    sqlite3_stmt *q = sq_stmt(c, in->id == 0 ? Q_SI_INSERT : Q_SI_UPDATE, err);
    if (q == NULL) {
        return HD_EIO;
    }
    if (in->id == 0) {
        sq_bind_text(q, 1, in->matchers);
        sqlite3_bind_int64(q, 2, in->starts_ms);
        sqlite3_bind_int64(q, 3, in->ends_ms);
        sqlite3_bind_int64(q, 4, a->now_ms);
        sq_bind_text(q, 5, in->created_by);
        sq_bind_text(q, 6, in->comment);
    } else {
        sqlite3_bind_int64(q, 1, in->id);
        sq_bind_text(q, 2, in->matchers);
        sqlite3_bind_int64(q, 3, in->starts_ms);
        sqlite3_bind_int64(q, 4, in->ends_ms);
        sqlite3_bind_int64(q, 5, a->now_ms);
        sq_bind_text(q, 6, in->created_by);
        sq_bind_text(q, 7, in->comment);
    }
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_DONE) {
        return sq_fail(c, err, "saving a silence");
    }
    if (in->id != 0 && sqlite3_changes(c->db) == 0) {
        return hd_err_set(err, HD_ENOTFOUND, "silence %lld not found", (long long)in->id);
    }
    a->id = in->id != 0 ? in->id : sqlite3_last_insert_rowid(c->db);
    return HD_OK;
}

int sq_silence_put(struct hd_store *st, const struct hd_silence *in, int64_t now_ms, struct hd_silence *out,
                   struct hd_err *err)
{
    if (in == NULL || in->matchers == NULL) {
        return hd_err_set(err, HD_EINVAL, "silence: matchers are required");
    }
    struct put_args a = {.in = in, .now_ms = now_ms};
    int rc = sq_submit(sq_of(st), op_put, &a, err);
    if (rc == HD_OK && out != NULL) {
        rc = sq_silence_get(st, a.id, out, err);
    }
    return rc;
}
