/* channels.c - notification channels: create, update, delete (on the
 * writer) and the reads.
 *
 * DESIGN: a channel's name is unique and its version counts its updates;
 * an update names the version it read (optimistic concurrency: ECONFLICT if
 * another update came first). A new channel's cursor starts at the current
 * max_seq: it gets what is ingested after it exists, not the history.
 * Deleting a channel turns what it still owed (its PENDING rows and the
 * events after its cursor) into dead letters "channel deleted".
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "sqlite_int.h"

static int row_channel(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *st, void *out)
{
    (void)s;
    (void)c;
    struct hd_channel_rec *r = out;
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    r->version = sqlite3_column_int64(st, 1);
    r->created_ms = sqlite3_column_int64(st, 2);
    r->modified_ms = sqlite3_column_int64(st, 3);
    r->enabled = sqlite3_column_int(st, 6);
    if (sq_col_dup(st, 4, &r->name) != HD_OK || sq_col_dup(st, 5, &r->type) != HD_OK ||
        sq_col_dup(st, 7, &r->managed_by) != HD_OK || sq_col_dup(st, 8, &r->json) != HD_OK) {
        hd_channel_rec_clear(r);
        return HD_ENOMEM;
    }
    return HD_OK;
}

struct chan_args {
    int64_t id;
    int64_t expected_version;
    int64_t now_ms;
    const struct hd_channel_rec *in;
    /* results */
    int64_t out_id, out_version, out_created;
};

static int chan_validate(const struct hd_channel_rec *in, struct hd_err *err)
{
    if (in == NULL) {
        return hd_err_set(err, HD_EINVAL, "channel: missing");
    }
    if (in->name == NULL || in->name[0] == '\0') {
        return hd_err_set(err, HD_EINVAL, "name: required");
    }
    if (in->type == NULL || in->type[0] == '\0') {
        return hd_err_set(err, HD_EINVAL, "type: required");
    }
    return HD_OK;
}

/* ECONFLICT if name belongs to a channel other than self_id. */
static int chan_name_free(struct sq_conn *c, const char *name, int64_t self_id, struct hd_err *err)
{
    sqlite3_stmt *st = sq_stmt(c, Q_CH_ID_BY_NAME, err);
    if (st == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int64_t id = 0;
    int found = 0;
    if (sq_query_i64(c, st, &id, &found, err, "looking up a channel name") != HD_OK) {
        return HD_EIO;
    }
    if (found && id != self_id) {
        return hd_err_set(err, HD_ECONFLICT, "name: a channel named %s already exists", name);
    }
    return HD_OK;
}

/* version and created_ms of a channel; ENOTFOUND if none. */
static int chan_meta(struct sq_conn *c, int64_t id, int64_t *version, int64_t *created, struct hd_err *err)
{
    sqlite3_stmt *st = sq_stmt(c, Q_CH_META, err);
    if (st == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    int ret = HD_OK;
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int64(st, 0);
        *created = sqlite3_column_int64(st, 1);
    } else if (rc == SQLITE_DONE) {
        ret = hd_err_set(err, HD_ENOTFOUND, "id: no channel with id %lld", (long long)id);
    } else {
        ret = sq_fail(c, err, "reading a channel");
    }
    sqlite3_reset(st);
    return ret;
}

/* name, type and enabled from ?first on; managed_by and json are ?5 and ?6
 * in both Q_CH_INSERT and Q_CH_UPDATE. */
static void bind_channel(sqlite3_stmt *st, const struct hd_channel_rec *in, int first)
{
    sqlite3_bind_text(st, first, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 1, in->type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, first + 2, in->enabled ? 1 : 0);
    sq_bind_text(st, 5, in->managed_by);
    sq_bind_text(st, 6, in->json != NULL ? in->json : "{}");
}

int sq_channel_check(struct sq_conn *c, int64_t id, struct hd_err *err)
{
    int64_t version = 0;
    int64_t created = 0;
    return chan_meta(c, id, &version, &created, err);
}

static int op_channel_create(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct chan_args *a = arg;
    int rc = chan_name_free(c, a->in->name, -1, err);
    if (rc != HD_OK) {
        return rc;
    }
    sqlite3_stmt *ins = sq_stmt(c, Q_CH_INSERT, err);
    sqlite3_stmt *cur = sq_stmt(c, Q_CUR_INSERT, err);
    if (ins == NULL || cur == NULL) {
        return HD_EIO;
    }
    bind_channel(ins, a->in, 1);
    sqlite3_bind_int64(ins, 4, a->now_ms);
    if (sq_step_done(c, ins, err, "creating a channel") != HD_OK) {
        return HD_EIO;
    }
    a->out_id = sqlite3_last_insert_rowid(c->db);
    const int64_t last[] = {a->out_id, a->now_ms};
    if (sq_exec_i64(c, Q_CH_LAST_ID, last, 2, "keeping the channel id", err) != HD_OK) {
        return HD_EIO;
    }
    a->out_version = 1;
    a->out_created = a->now_ms;
    /* A new channel gets what is ingested after it exists, not the history. */
    sqlite3_bind_int64(cur, 1, a->out_id);
    sqlite3_bind_int64(cur, 2, s->max_seq);
    return sq_step_done(c, cur, err, "creating a channel cursor");
}

static int op_channel_update(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct chan_args *a = arg;
    int64_t version = 0;
    int64_t created = 0;
    int rc = chan_meta(c, a->id, &version, &created, err);
    if (rc != HD_OK) {
        return rc;
    }
    if (a->expected_version >= 0 && a->expected_version != version) {
        return hd_err_set(err, HD_ECONFLICT, "version: stale version %lld, current is %lld",
                          (long long)a->expected_version, (long long)version);
    }
    rc = chan_name_free(c, a->in->name, a->id, err);
    if (rc != HD_OK) {
        return rc;
    }
    sqlite3_stmt *up = sq_stmt(c, Q_CH_UPDATE, err);
    if (up == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(up, 1, a->id);
    bind_channel(up, a->in, 2);
    sqlite3_bind_int64(up, 7, a->now_ms);
    if (sq_step_done(c, up, err, "updating a channel") != HD_OK) {
        return HD_EIO;
    }
    a->out_id = a->id;
    a->out_version = version + 1;
    a->out_created = created;
    return HD_OK;
}

/* out = copy of in with the stored id, version and times. */
static int chan_fill_out(const struct chan_args *a, int64_t now_ms, struct hd_channel_rec *out,
                         struct hd_err *err)
{
    if (out == NULL) {
        return HD_OK;
    }
    struct hd_channel_rec r = {
        .id = a->out_id,
        .version = a->out_version,
        .created_ms = a->out_created,
        .modified_ms = now_ms,
        .enabled = a->in->enabled ? 1 : 0,
        .name = hd_strdup(a->in->name),
        .type = hd_strdup(a->in->type),
        .managed_by = hd_strdup(a->in->managed_by),
        .json = hd_strdup(a->in->json != NULL ? a->in->json : "{}"),
    };
    if (r.name == NULL || r.type == NULL || r.json == NULL ||
        (a->in->managed_by != NULL && r.managed_by == NULL)) {
        hd_channel_rec_clear(&r);
        return hd_err_set(err, HD_ENOMEM, "store: out of memory");
    }
    *out = r;
    return HD_OK;
}

int sq_channel_create(struct hd_store *st, const struct hd_channel_rec *in, int64_t now_ms,
                      struct hd_channel_rec *out, struct hd_err *err)
{
    int rc = chan_validate(in, err);
    if (rc != HD_OK) {
        return rc;
    }
    struct chan_args a = {.in = in, .now_ms = now_ms};
    rc = sq_submit(sq_of(st), op_channel_create, &a, err);
    if (rc != HD_OK) {
        return rc;
    }
    return chan_fill_out(&a, now_ms, out, err);
}

/* expected_version < 0 updates whatever the stored version is (config-managed
 * channels are rewritten at start without a version). */
int sq_channel_update(struct hd_store *st, struct hd_channel_ref ref, const struct hd_channel_rec *in,
                      int64_t now_ms, struct hd_channel_rec *out, struct hd_err *err)
{
    int rc = chan_validate(in, err);
    if (rc != HD_OK) {
        return rc;
    }
    struct chan_args a = {.id = ref.id, .expected_version = ref.version, .in = in, .now_ms = now_ms};
    rc = sq_submit(sq_of(st), op_channel_update, &a, err);
    if (rc != HD_OK) {
        return rc;
    }
    return chan_fill_out(&a, now_ms, out, err);
}

struct delete_args {
    int64_t id;
    int64_t now_ms;
};

static int op_channel_delete(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct delete_args *a = arg;
    int rc = sq_channel_check(c, a->id, err);
    if (rc != HD_OK) {
        return rc;
    }
    int64_t cursor = s->max_seq;
    int found = 0;
    if (sq_cursor_read(c, a->id, &cursor, &found, err) != HD_OK) {
        return HD_EIO;
    }
    if (!found) {
        cursor = s->max_seq;
    }
    const int64_t pending[] = {a->id, a->now_ms};
    const int64_t after[] = {a->id, cursor, a->now_ms};
    /* PENDING first, so the insert after it leaves those rows alone. */
    if (sq_exec_i64(c, Q_DL_PENDING_TO_FAILED, pending, 2, "dead-lettering pending deliveries", err) !=
            HD_OK ||
        sq_exec_i64(c, Q_DL_DEAD_AFTER, after, 3, "dead-lettering undelivered events", err) != HD_OK ||
        sq_exec_i64(c, Q_CH_DELETE, &a->id, 1, "deleting a channel", err) != HD_OK ||
        sq_exec_i64(c, Q_CUR_DELETE, &a->id, 1, "deleting a cursor", err) != HD_OK ||
        sq_exec_i64(c, Q_GR_DELETE_CH, &a->id, 1, "deleting the channel's groups", err) != HD_OK) {
        return HD_EIO;
    }
    return HD_OK;
}

int sq_channel_delete(struct hd_store *st, int64_t id, struct hd_err *err)
{
    struct delete_args a = {.id = id, .now_ms = hd_now_ms()};
    return sq_submit(sq_of(st), op_channel_delete, &a, err);
}

/* ---- reads ------------------------------------------------------------ */

static void clear_channel(void *r)
{
    hd_channel_rec_clear(r);
}

int sq_channel_list(struct hd_store *st, struct hd_channel_rec **out, size_t *n, struct hd_err *err)
{
    struct sq_rows r = {.row = row_channel,
                        .clear = clear_channel,
                        .elem_size = sizeof(struct hd_channel_rec),
                        .what = "listing channels",
                        .oom = "store: out of memory"};
    int rc = sq_read_rows(sq_of(st), Q_CH_LIST, NULL, 0, &r, err);
    if (rc == HD_OK) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

static int channel_get_one(struct sq_store *s, enum sq_stmt_id id, const char *name, int64_t cid,
                           struct hd_channel_rec *out, struct hd_err *err)
{
    int found = 0;
    struct sq_lookup l = {.stmt = id, .text = name, .num = cid, .row = row_channel, .what = "a channel"};
    int rc = sq_read_one(s, &l, out, &found, err);
    if (rc == HD_OK && !found) {
        rc = name != NULL ? hd_err_set(err, HD_ENOTFOUND, "name: no channel named %s", name)
                          : hd_err_set(err, HD_ENOTFOUND, "id: no channel with id %lld", (long long)cid);
    }
    return rc;
}

int sq_channel_get(struct hd_store *st, int64_t id, struct hd_channel_rec *out, struct hd_err *err)
{
    return channel_get_one(sq_of(st), Q_CH_GET, NULL, id, out, err);
}

int sq_channel_get_by_name(struct hd_store *st, const char *name, struct hd_channel_rec *out,
                           struct hd_err *err)
{
    if (name == NULL) {
        return hd_err_set(err, HD_EINVAL, "name: missing");
    }
    return channel_get_one(sq_of(st), Q_CH_GET_NAME, name, 0, out, err);
}
