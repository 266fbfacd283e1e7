/* conn.c - connections, the pool, statements with bound parameters. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "pg_int.h"

void pp_i64(struct pg_params *p, int64_t v)
{
    snprintf(p->num[p->n], sizeof(p->num[p->n]), "%" PRId64, v);
    p->v[p->n] = p->num[p->n];
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

void pp_str(struct pg_params *p, const char *s)
{
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

void pp_bin(struct pg_params *p, const void *b, size_t len)
{
    p->v[p->n] = b != NULL ? b : "";
    p->len[p->n] = (int)len;
    p->fmt[p->n] = 1;
    p->n++;
}

/* Server notices (NOTICE: relation already exists, ...) are not herald's news. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

PGconn *pg_connect(struct pg_store *s, struct hd_err *err)
{
    PGconn *c = PQconnectdb(s->conninfo);
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        /* PQerrorMessage names host and port, never the password */
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", c != NULL ? PQerrorMessage(c) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        hd_err_set(err, HD_EIO, "store: cannot connect to PostgreSQL: %s", msg);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQexec(c, "SET application_name = 'herald'");
    PQclear(r);
    return c;
}

PGconn *pg_get(struct pg_store *s, struct hd_err *err)
{
    pthread_mutex_lock(&s->mu);
    while (s->n_idle == 0 && s->n_open >= PG_POOL) {
        pthread_cond_wait(&s->cv, &s->mu);
    }
    if (s->n_idle > 0) {
        PGconn *c = s->idle[--s->n_idle];
        pthread_mutex_unlock(&s->mu);
        return c;
    }
    s->n_open++;
    pthread_mutex_unlock(&s->mu);
    PGconn *c = pg_connect(s, err);
    if (c == NULL) {
        pthread_mutex_lock(&s->mu);
        s->n_open--;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    return c;
}

void pg_put(struct pg_store *s, PGconn *c)
{
    pthread_mutex_lock(&s->mu);
    if (c != NULL && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE) {
        s->idle[s->n_idle++] = c;
    } else {
        PQfinish(c);
        s->n_open--;
    }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

PGresult *pg_exec(PGconn *c, const char *sql, const struct pg_params *p, const char *what, struct hd_err *err)
{
    int n = p != NULL ? p->n : 0;
    PGresult *r = PQexecParams(c, sql, n, NULL, p != NULL ? p->v : NULL, p != NULL ? p->len : NULL,
                               p != NULL ? p->fmt : NULL, 0);
    ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        return r;
    }
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char msg[200];
    snprintf(msg, sizeof(msg), "%s", r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c));
    msg[strcspn(msg, "\n")] = '\0';
    int code = HD_EIO;
    if (state != NULL && strcmp(state, "23505") == 0) {
        code = HD_ECONFLICT; /* unique violation */
    } else if (state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)) {
        code = HD_EBUSY; /* serialization failure, deadlock: try again */
    } else if (state != NULL && (strncmp(state, "22", 2) == 0 || strcmp(state, "23502") == 0)) {
        code = HD_EINVAL; /* data exception */
    }
    hd_err_set(err, code, "store: %s: %s", what, msg);
    PQclear(r);
    return NULL;
}

int pg_cmd(PGconn *c, const char *sql, const struct pg_params *p, const char *what, struct hd_err *err)
{
    PGresult *r = pg_exec(c, sql, p, what, err);
    if (r == NULL) {
        return err != NULL && err->code != 0 ? err->code : HD_EIO;
    }
    PQclear(r);
    return HD_OK;
}

int pg_tx(PGconn *c, pg_fn fn, struct pg_store *s, void *arg, struct hd_err *err)
{
    int rc = pg_cmd(c, "BEGIN", NULL, "beginning a transaction", err);
    if (rc != HD_OK) {
        return rc;
    }
    rc = fn(s, c, arg, err);
    if (rc == HD_OK) {
        rc = pg_cmd(c, "COMMIT", NULL, "committing", err);
    } else {
        PGresult *r = PQexec(c, "ROLLBACK");
        PQclear(r);
    }
    return rc;
}

int pg_run(struct pg_store *s, pg_fn fn, void *arg, struct hd_err *err)
{
    int rc = HD_EIO;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct hd_err e = {0};
        PGconn *c = pg_get(s, &e);
        if (c == NULL) {
            if (err != NULL) {
                *err = e;
            }
            pg_note_failure(s, &e);
            return HD_EIO;
        }
        rc = fn(s, c, arg, &e);
        int broken = PQstatus(c) != CONNECTION_OK;
        pg_put(s, c);
        if (rc == HD_OK || !broken) {
            if (err != NULL && rc != HD_OK) {
                *err = e;
            }
            if (rc == HD_OK) {
                pg_note_success(s);
            }
            return rc;
        }
        if (err != NULL) {
            *err = e;
        }
        pg_note_failure(s, &e); /* the connection broke: once more on a new one */
    }
    return rc;
}

int64_t pg_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) {
        return 0;
    }
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

char *pg_dup(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) {
        return NULL;
    }
    return hd_strdup(PQgetvalue(r, row, col));
}

void pg_note_failure(struct pg_store *s, const struct hd_err *err)
{
    pthread_mutex_lock(&s->why_mu);
    snprintf(s->why, sizeof(s->why), "%s",
             err != NULL && err->msg[0] ? err->msg : "store: PostgreSQL failed");
    pthread_mutex_unlock(&s->why_mu);
    atomic_store(&s->failing, 1);
}

void pg_note_success(struct pg_store *s)
{
    atomic_store(&s->failing, 0);
}

struct tx_wrap {
    pg_fn fn;
    void *arg;
};

static int in_tx(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    struct tx_wrap *w = arg;
    return pg_tx(c, w->fn, s, w->arg, err);
}

int pg_run_tx(struct pg_store *s, pg_fn fn, void *arg, struct hd_err *err)
{
    struct tx_wrap w = {fn, arg};
    return pg_run(s, in_tx, &w, err);
}
