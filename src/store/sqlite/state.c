/* state.c - the inputs' small key/value state (the Kubernetes
 * resourceVersion, the Docker resume point), table kv.
 *
 * Rare calls (a watcher saves at most about once a second): the statements
 * are prepared per call rather than cached on every connection.
 */
#include <stdlib.h>

#include "core/err.h"
#include "core/util.h"
#include "sqlite_int.h"

int sq_state_get(struct hd_store *st, const char *key, char **value, struct hd_err *err)
{
    struct sq_store *s = sq_of(st);
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        return HD_EIO;
    }
    sqlite3_stmt *q = NULL;
    int ret = HD_OK;
    if (sqlite3_prepare_v2(c->db, "SELECT value FROM kv WHERE key = ?1", -1, &q, NULL) != SQLITE_OK) {
        ret = sq_fail(c, err, "reading input state");
        goto out;
    }
    sq_bind_text(q, 1, key);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        char *v = NULL;
        if (sq_col_dup(q, 0, &v) != HD_OK || v == NULL) {
            ret = hd_err_set(err, HD_ENOMEM, "store: out of memory");
            goto out;
        }
        *value = v;
    } else if (rc == SQLITE_DONE) {
        ret = hd_err_set(err, HD_ENOTFOUND, "state: no key '%s'", key);
    } else {
        ret = sq_fail(c, err, "reading input state");
    }
out:
    sqlite3_finalize(q);
    sq_reader_put(s, c);
    return ret;
}

struct state_args {
    const char *key, *value;
    int64_t now_ms;
};

static int op_state_set(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct state_args *a = arg;
    sqlite3_stmt *q = NULL;
    int ret = HD_OK;
    if (sqlite3_prepare_v2(
            c->db,
            "INSERT INTO kv (key, value, updated_ms) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
            -1, &q, NULL) != SQLITE_OK) {
        ret = sq_fail(c, err, "saving input state");
        goto out;
    }
    sq_bind_text(q, 1, a->key);
    sq_bind_text(q, 2, a->value);
    sqlite3_bind_int64(q, 3, a->now_ms);
    if (sqlite3_step(q) != SQLITE_DONE) {
        ret = sq_fail(c, err, "saving input state");
    }
out:
    sqlite3_finalize(q);
    return ret;
}

int sq_state_set(struct hd_store *st, const char *key, const char *value, struct hd_err *err)
{
    if (key == NULL || value == NULL) {
        return hd_err_set(err, HD_EINVAL, "state: key and value are required");
    }
    struct state_args a = {.key = key, .value = value, .now_ms = hd_now_ms()};
    return sq_submit(sq_of(st), op_state_set, &a, err);
}
