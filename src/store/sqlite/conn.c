/* conn.c - connections, the pool of read connections, and the helpers that
 * run statements and read their rows.
 *
 * DESIGN: reads go through a pool of read-only connections, one per
 * concurrent caller, handed out and returned under pool_mu; WAL lets them
 * read while the writer writes. Every statement is reset right after use so
 * no reader pins an old snapshot. Reading rows is written once: sq_collect
 * (rows into an array), sq_read_one (one record by key) and sq_read_i64 (one
 * number), each given how to decode a row (an sq_row_fn).
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sqlite_int.h"

#define SQ_POOL_IDLE_MAX 16 /* idle read connections kept open */
#define SQ_BUSY_TIMEOUT_MS 5000
/* A read connection's page cache (negative: KiB). A read touches few pages
 * (the dispatcher's 500 rows and their blobs: about 70 of 8 KB); the
 * default 2 MB filled up with pages passing through, per pooled connection
 * (up to SQ_POOL_IDLE_MAX), and the kernel's page cache holds them anyway. */
#define SQ_READER_CACHE "-1024"

int sq_fail(struct sq_conn *c, struct hd_err *err, const char *what)
{
    return hd_err_set(err, HD_EIO, "store: %s: %s", what, sqlite3_errmsg(c->db));
}

void sq_conn_close(struct sq_conn *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < Q__COUNT; i++) {
        sqlite3_finalize(c->st[i]);
    }
    for (size_t i = 0; i < (1u << QF_CACHED); i++) {
        sqlite3_finalize(c->query[i]);
    }
    sqlite3_close(c->db);
    ZSTD_freeDCtx(c->dctx);
    sq_blob_release(NULL, c->blob);
    free(c);
}

struct sq_conn *sq_conn_open(const char *path, int flags, struct hd_err *err)
{
    struct sq_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        hd_err_set(err, HD_ENOMEM, "store: out of memory");
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        hd_err_set(err, HD_EIO, "store: cannot open %s: %s", path,
                   c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sq_conn_close(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, SQ_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(c->db, 1);
    return c;
}

/* ---- pool of read connections ----------------------------------------- */

struct sq_conn *sq_reader(struct sq_store *s, struct hd_err *err)
{
    pthread_mutex_lock(&s->pool_mu);
    struct sq_conn *c = s->pool;
    if (c != NULL) {
        s->pool = c->next;
        s->pool_idle--;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (c != NULL) {
        c->next = NULL;
        return c;
    }
    c = sq_conn_open(s->path, SQLITE_OPEN_READONLY, err);
    if (c != NULL) {
        /* A smaller cache than the writer's: see SQ_READER_CACHE. A failure
         * only leaves SQLite's default. */
        (void)sqlite3_exec(c->db, "PRAGMA cache_size = " SQ_READER_CACHE, NULL, NULL, NULL);
    }
    return c;
}

void sq_reader_put(struct sq_store *s, struct sq_conn *c)
{
    if (c == NULL) {
        return;
    }
    sq_blob_release(s, c->blob); /* the store's cache may keep it; an idle connection holds none */
    c->blob = NULL;
    pthread_mutex_lock(&s->pool_mu);
    if (s->pool_idle < SQ_POOL_IDLE_MAX) {
        c->next = s->pool;
        s->pool = c;
        s->pool_idle++;
        c = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    sq_conn_close(c);
}

/* ---- statements --------------------------------------------------------- */

int sq_step_done(struct sq_conn *c, sqlite3_stmt *st, struct hd_err *err, const char *what)
{
    int rc = sqlite3_step(st);
    int ret = HD_OK;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        ret = sq_fail(c, err, what);
    }
    sqlite3_reset(st);
    return ret;
}

int sq_exec_id(struct sq_conn *c, enum sq_stmt_id id, struct hd_err *err, const char *what)
{
    return sq_exec_i64(c, id, NULL, 0, what, err);
}

int sq_exec_i64(struct sq_conn *c, enum sq_stmt_id id, const int64_t *p, int np, const char *what,
                struct hd_err *err)
{
    sqlite3_stmt *st = sq_stmt(c, id, err);
    if (st == NULL) {
        return HD_EIO;
    }
    for (int i = 0; i < np; i++) {
        sqlite3_bind_int64(st, i + 1, p[i]);
    }
    return sq_step_done(c, st, err, what);
}

int sq_query_i64(struct sq_conn *c, sqlite3_stmt *st, int64_t *out, int *found, struct hd_err *err,
                 const char *what)
{
    int rc = sqlite3_step(st);
    int ret = HD_OK;
    *found = 0;
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
            *out = sqlite3_column_int64(st, 0);
            *found = 1;
        }
    } else if (rc != SQLITE_DONE) {
        ret = sq_fail(c, err, what);
    }
    sqlite3_reset(st);
    return ret;
}

void sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL) {
        sqlite3_bind_null(st, i);
    } else {
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    }
}

int sq_col_dup(sqlite3_stmt *st, int i, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        return HD_OK;
    }
    const unsigned char *p = sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    char *s = malloc(n + 1);
    if (s == NULL) {
        return HD_ENOMEM;
    }
    if (n > 0 && p != NULL) {
        memcpy(s, p, n);
    }
    s[n] = '\0';
    *out = s;
    return HD_OK;
}

void sq_col_fixed(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *p = sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    if (p == NULL) {
        n = 0;
    }
    if (n >= cap) {
        n = cap - 1;
    }
    if (n > 0) {
        memcpy(dst, p, n);
    }
    dst[n] = '\0';
}

size_t sq_limit(size_t limit)
{
    if (limit == 0) {
        return SQ_DEFAULT_LIMIT;
    }
    return limit > SQ_MAX_LIMIT ? SQ_MAX_LIMIT : limit;
}

/* ---- reading rows ------------------------------------------------------ */

static void rows_free(const struct sq_rows *r, void *v, size_t n)
{
    if (v != NULL && r->clear != NULL) {
        for (size_t i = 0; i < n; i++) {
            r->clear((char *)v + i * r->elem_size);
        }
    }
    free(v);
}

int sq_collect(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *st, struct sq_rows *r, struct hd_err *err)
{
    char *v = NULL;
    size_t cnt = 0;
    size_t cap = 0;
    size_t held = 0;
    int more = 0;
    int ret = HD_OK;
    c->slab = r->slab;
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            break;
        }
        if (rc != SQLITE_ROW) {
            ret = sq_fail(c, err, r->what);
            goto out;
        }
        if ((r->max != 0 && cnt >= r->max) ||
            (r->bytes != NULL && r->max_bytes != 0 && held >= r->max_bytes)) {
            more = 1;
            break;
        }
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            char *p = realloc(v, ncap * r->elem_size);
            if (p == NULL) {
                ret = hd_err_set(err, HD_ENOMEM, "%s", r->oom);
                goto out;
            }
            v = p;
            cap = ncap;
        }
        int rrc = r->row(s, c, st, v + cnt * r->elem_size);
        if (rrc != HD_OK) {
            ret = rrc == HD_ENOMEM ? hd_err_set(err, HD_ENOMEM, "%s", r->oom)
                                   : hd_err_set(err, rrc, "store: %s %lld cannot be read (see the log)",
                                                r->noun, (long long)sqlite3_column_int64(st, 0));
            goto out;
        }
        held += r->bytes != NULL ? r->bytes(v + cnt * r->elem_size) : 0;
        cnt++;
    }
out:
    sqlite3_reset(st);
    c->slab = NULL;
    if (ret != HD_OK) {
        rows_free(r, v, cnt);
        return ret;
    }
    r->v = v;
    r->n = cnt;
    r->more = more;
    return HD_OK;
}

int sq_read_rows(struct sq_store *s, enum sq_stmt_id id, const int64_t *p, int np, struct sq_rows *r,
                 struct hd_err *err)
{
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        return HD_EIO;
    }
    int rc = HD_EIO;
    sqlite3_stmt *q = sq_stmt(c, id, err);
    if (q != NULL) {
        int count = sqlite3_bind_parameter_count(q);
        for (int i = 0; i < np && i < count; i++) {
            sqlite3_bind_int64(q, i + 1, p[i]);
        }
        rc = sq_collect(s, c, q, r, err);
    }
    sq_reader_put(s, c);
    return rc;
}

int sq_read_one(struct sq_store *s, const struct sq_lookup *l, void *out, int *found, struct hd_err *err)
{
    *found = 0;
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        return HD_EIO;
    }
    int rc = HD_EIO;
    sqlite3_stmt *q = sq_stmt(c, l->stmt, err);
    if (q != NULL) {
        if (l->text != NULL) {
            sqlite3_bind_text(q, 1, l->text, -1, SQLITE_STATIC);
            if (l->with_idk) {
                sqlite3_bind_int64(q, 2, sq_id_key(l->text));
            }
        } else {
            sqlite3_bind_int64(q, 1, l->num);
        }
        int step = sqlite3_step(q);
        if (step == SQLITE_ROW) {
            *found = 1;
            rc = l->row(s, c, q, out);
            if (rc != HD_OK) {
                hd_err_set(err, rc,
                           rc == HD_ENOMEM ? "store: out of memory reading %s"
                                           : "store: %s cannot be read (see the log)",
                           l->what);
            }
        } else if (step == SQLITE_DONE) {
            rc = HD_OK;
        } else {
            rc = hd_err_set(err, HD_EIO, "store: reading %s: %s", l->what, sqlite3_errmsg(c->db));
        }
        sqlite3_reset(q);
    }
    sq_reader_put(s, c);
    return rc;
}

int sq_read_i64(struct sq_store *s, enum sq_stmt_id id, int64_t p1, int64_t *out, const char *what,
                struct hd_err *err)
{
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        return HD_EIO;
    }
    int rc = HD_EIO;
    int64_t v = 0;
    int found = 0;
    sqlite3_stmt *q = sq_stmt(c, id, err);
    if (q != NULL) {
        sqlite3_bind_int64(q, 1, p1);
        rc = sq_query_i64(c, q, &v, &found, err, what);
    }
    sq_reader_put(s, c);
    if (rc == HD_OK) {
        *out = found ? v : 0;
    }
    return rc;
}
