/* groups.c - a channel's notification groups (options.group), table groups:
 * saved with the cursor in one transaction (route/groups.c owns the state). */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "sqlite_int.h"

static int row_group(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *q, void *out)
{
    (void)s;
    (void)c;
    struct hd_group_rec *g = out;
    memset(g, 0, sizeof(*g));
    if (sq_col_dup(q, 0, &g->key) != HD_OK || sq_col_dup(q, 1, &g->state) != HD_OK || g->key == NULL ||
        g->state == NULL) {
        free(g->key);
        free(g->state);
        memset(g, 0, sizeof(*g));
        return HD_ENOMEM;
    }
    return HD_OK;
}

static void clear_group(void *p)
{
    struct hd_group_rec *g = p;
    free(g->key);
    free(g->state);
}

int sq_groups_list(struct hd_store *st, int64_t channel_id, struct hd_group_rec **out, size_t *n,
                   struct hd_err *err)
{
    struct sq_rows r = {.row = row_group,
                        .clear = clear_group,
                        .elem_size = sizeof(struct hd_group_rec),
                        .what = "listing notification groups",
                        .oom = "store: out of memory",
                        .noun = "group"};
    int rc = sq_read_rows(sq_of(st), Q_GR_LIST, &channel_id, 1, &r, err);
    if (rc == HD_OK) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

struct save_args {
    int64_t channel_id, new_cursor, now_ms;
    const struct hd_group_rec *g;
    size_t n;
};

static int op_save(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct save_args *a = arg;
    int rc = sq_channel_check(c, a->channel_id, err); /* a deleted channel gets no groups back */
    if (rc != HD_OK) {
        return rc;
    }
    const int64_t adv[] = {a->channel_id, a->new_cursor};
    if (a->new_cursor >= 0 && sq_exec_i64(c, Q_CUR_ADVANCE, adv, 2, "advancing a cursor", err) != HD_OK) {
        return HD_EIO;
    }
    sqlite3_stmt *ups = sq_stmt(c, Q_GR_UPSERT, err);
    sqlite3_stmt *del = sq_stmt(c, Q_GR_DELETE, err);
    if (ups == NULL || del == NULL) {
        return HD_EIO;
    }
    for (size_t i = 0; i < a->n; i++) {
        sqlite3_stmt *q = a->g[i].state != NULL ? ups : del;
        sqlite3_bind_int64(q, 1, a->channel_id);
        sqlite3_bind_text(q, 2, a->g[i].key, -1, SQLITE_STATIC);
        if (a->g[i].state != NULL) {
            sqlite3_bind_text(q, 3, a->g[i].state, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 4, a->now_ms);
        }
        if (sq_step_done(c, q, err, "saving a notification group") != HD_OK) {
            return HD_EIO;
        }
    }
    return HD_OK;
}

int sq_groups_save(struct hd_store *st, int64_t channel_id, int64_t new_cursor, const struct hd_group_rec *g,
                   size_t n, struct hd_err *err)
{
    struct save_args a = {
        .channel_id = channel_id, .new_cursor = new_cursor, .now_ms = hd_now_ms(), .g = g, .n = n};
    return sq_submit(sq_of(st), op_save, &a, err);
}
