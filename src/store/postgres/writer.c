/* writer.c - durable appends with group commit.
 *
 * One thread with its own connection drains the queue of append requests:
 * every queued request goes into one transaction that first takes the
 * append lock (pg_advisory_xact_lock, shared by every replica), reads the
 * ids already stored, numbers the new events after the highest stored seq,
 * inserts them with multi-row INSERTs, NOTIFYs herald_events and commits.
 * Holding the lock from numbering to commit makes seq order commit order
 * on the whole cluster: a reader that sees seq N sees every seq below it,
 * so a cursor never passes an event that commits later. A batch whose
 * connection broke (COMMIT outcome unknown included) runs once more on a
 * new connection: ids de-duplicate, so what did commit is found stored, and
 * each request is completed exactly once. An append in parts
 * (append_stream_async) runs alone in its transaction: the producer hands
 * its parts over one by one and each is stored as a request of its own
 * would be (commit_batch); any error rolls the whole of it back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "model/source.h"
#include "pg_int.h"

#define PG_INSERT_ROWS 500 /* rows per INSERT: 20 parameters each */
#define PG_EV_NCOLS 20
#define PG_BATCH_MAX 20000 /* events per transaction */

struct pg_append {
    struct pg_append *next;
    struct hd_event *evs;
    size_t n;
    hd_store_produce_fn produce; /* an append in parts: evs NULL, n 0 */
    void *pud;
    hd_store_done_fn done; /* NULL: a synchronous caller waits on wcv */
    void *ud;
    int finished;
    int rc;
    struct hd_err err;
};

struct seen {
    const char *id;
    int64_t seq;
};

static int seen_cmp(const void *a, const void *b)
{
    return strcmp(((const struct seen *)a)->id, ((const struct seen *)b)->id);
}

/* The ids of the batch already stored, sorted, into *out. */
static int stored_ids(PGconn *c, struct pg_append *batch, struct seen **out, size_t *n_out, PGresult **res,
                      struct hd_err *err)
{
    struct hd_buf arr;
    hd_buf_init(&arr, 0);
    int rc = hd_buf_putc(&arr, '{');
    for (struct pg_append *a = batch; a != NULL && rc == HD_OK; a = a->next) {
        for (size_t i = 0; i < a->n && rc == HD_OK; i++) {
            rc = hd_buf_printf(&arr, "%s\"%s\"", arr.len > 1 ? "," : "", a->evs[i].id); /* ids are hex */
        }
    }
    rc = rc == HD_OK ? hd_buf_putc(&arr, '}') : rc;
    if (rc != HD_OK) {
        hd_buf_free(&arr);
        return hd_err_set(err, HD_ENOMEM, "store: out of memory");
    }
    struct pg_params p = {0};
    pp_str(&p, arr.p);
    PGresult *r =
        pg_exec(c, "SELECT id, seq FROM events WHERE id = ANY($1::text[])", &p, "looking up ids", err);
    hd_buf_free(&arr);
    if (r == NULL) {
        return err->code;
    }
    size_t n = (size_t)PQntuples(r);
    struct seen *v = calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        PQclear(r);
        return hd_err_set(err, HD_ENOMEM, "store: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        v[i].id = PQgetvalue(r, (int)i, 0);
        v[i].seq = pg_i64(r, (int)i, 1);
    }
    qsort(v, n, sizeof(*v), seen_cmp);
    *out = v;
    *n_out = n;
    *res = r;
    return HD_OK;
}

/* In-batch duplicates: an open-addressing set of the ids numbered so far. */
struct idset {
    struct hd_event **slot;
    size_t cap;
};

static uint64_t id_hash(const char *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++) {
        h = (h ^ *p) * 1099511628211ULL;
    }
    return h;
}

/* The event numbered earlier with ev's id, or NULL after adding ev. */
static struct hd_event *idset_put(struct idset *set, struct hd_event *ev)
{
    size_t i = (size_t)(id_hash(ev->id) & (set->cap - 1));
    while (set->slot[i] != NULL) {
        if (strcmp(set->slot[i]->id, ev->id) == 0) {
            return set->slot[i];
        }
        i = (i + 1) & (set->cap - 1);
    }
    set->slot[i] = ev;
    return NULL;
}

/* Numbers one request: stored ids keep their seq (duplicate), an id seen
 * earlier in the group is stored once; the rest get next, next+1, ...
 * Returns how many are new; their pointers go to todo. */
static size_t number(struct pg_append *a, const struct seen *st, size_t n_st, int64_t next,
                     struct hd_event **todo, struct idset *set)
{
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++) {
        struct hd_event *ev = &a->evs[i];
        struct seen key = {.id = ev->id};
        const struct seen *hit = bsearch(&key, st, n_st, sizeof(*st), seen_cmp);
        ev->duplicate = 0;
        if (hit != NULL) {
            ev->seq = hit->seq;
            ev->duplicate = 1;
            continue;
        }
        struct hd_event *first = idset_put(set, ev);
        if (first != NULL) {
            ev->seq = first->seq;
            ev->duplicate = 1;
            continue;
        }
        ev->seq = next++;
        todo[k++] = ev;
    }
    return k;
}

void pg_event_params(struct pg_params *p, const struct hd_event *ev)
{
    pp_i64(p, ev->seq);
    pp_str(p, ev->id);
    pp_str(p, ev->source);
    pp_i64(p, ev->ts_us);
    pp_i64(p, ev->recv_us);
    pp_i64(p, ev->severity);
    pp_i64(p, (int64_t)ev->state);
    pp_str(p, ev->name);
    pp_str(p, ev->description);
    pp_str(p, ev->url);
    pp_str(p, ev->host);
    pp_str(p, ev->container_id);
    pp_str(p, ev->k8s_namespace);
    pp_str(p, ev->k8s_pod);
    pp_str(p, ev->k8s_container);
    pp_str(p, ev->k8s_kind);
    pp_str(p, ev->k8s_name);
    pp_str(p, ev->labels);
    pp_str(p, ev->alert_key);
    if (ev->raw != NULL) {
        pp_bin(p, ev->raw, ev->raw_len);
    } else {
        pp_str(p, NULL); /* no original: NULL, as SQLite keeps it */
    }
}

/* INSERTs evs[0..n) (PG_INSERT_ROWS a statement). */
static int insert_rows(PGconn *c, struct hd_event *const *evs, size_t n, struct hd_err *err)
{
    struct hd_buf sql;
    hd_buf_init(&sql, 0);
    int rc = HD_OK;
    for (size_t at = 0; at < n && rc == HD_OK; at += PG_INSERT_ROWS) {
        size_t m = n - at < PG_INSERT_ROWS ? n - at : PG_INSERT_ROWS;
        struct pg_params *p = calloc(1, sizeof(*p) + 0); /* the first row; the rest below */
        size_t np = m * PG_EV_NCOLS;
        const char **vals = calloc(np, sizeof(*vals));
        int *lens = calloc(np, sizeof(*lens));
        int *fmts = calloc(np, sizeof(*fmts));
        char(*nums)[24] = calloc(np, sizeof(*nums));
        if (p == NULL || vals == NULL || lens == NULL || fmts == NULL || nums == NULL) {
            rc = hd_err_set(err, HD_ENOMEM, "store: out of memory");
        }
        hd_buf_reset(&sql);
        if (rc == HD_OK) {
            rc = hd_buf_puts(&sql, "INSERT INTO events (" PG_EV_COLS ") VALUES ");
        }
        for (size_t r = 0; r < m && rc == HD_OK; r++) {
            memset(p, 0, sizeof(*p));
            pg_event_params(p, evs[at + r]);
            for (int k = 0; k < PG_EV_NCOLS; k++) {
                size_t i = r * PG_EV_NCOLS + (size_t)k;
                if (p->v[k] == p->num[k]) {
                    memcpy(nums[i], p->num[k], sizeof(nums[i]));
                    vals[i] = nums[i];
                } else {
                    vals[i] = p->v[k];
                }
                lens[i] = p->len[k];
                fmts[i] = p->fmt[k];
            }
            rc = hd_buf_puts(&sql, r ? ",(" : "(");
            for (int k = 0; k < PG_EV_NCOLS && rc == HD_OK; k++) {
                rc = hd_buf_printf(&sql, "%s$%zu", k ? "," : "", r * PG_EV_NCOLS + (size_t)k + 1);
            }
            rc = rc == HD_OK ? hd_buf_putc(&sql, ')') : rc;
        }
        if (rc == HD_OK) {
            PGresult *res = PQexecParams(c, sql.p, (int)np, NULL, vals, lens, fmts, 0);
            if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
                char msg[200];
                snprintf(msg, sizeof(msg), "%s", res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(c));
                msg[strcspn(msg, "\n")] = '\0';
                rc = hd_err_set(err, HD_EIO, "store: storing events: %s", msg);
            }
            PQclear(res);
        }
        free(p);
        free(vals);
        free(lens);
        free(fmts);
        free(nums);
    }
    hd_buf_free(&sql);
    return rc;
}

struct batch_args {
    struct pg_append *batch;
    size_t total;
    int64_t last_seq;
};

/* A request whose events cannot be stored is refused alone (SQLite's store
 * says the same): an id and a known source are required. */
static void validate(struct pg_append *a)
{
    for (size_t i = 0; i < a->n && a->rc == HD_OK; i++) {
        const struct hd_event *ev = &a->evs[i];
        if (ev->id[0] == '\0') {
            a->rc = hd_err_set(&a->err, HD_EINVAL, "events[%zu].id: empty or not NUL-terminated", i);
        } else if (ev->source == NULL || hd_source_find(ev->source) == NULL) {
            a->rc = hd_err_set(&a->err, HD_EINVAL, "events[%zu].source: '%.64s' is no known source", i,
                               ev->source != NULL ? ev->source : "");
        }
    }
}

/* After a failed insert of a request's rows: finds the first row that fails
 * alone, so the refusal names it ("events[3]: ..."), as SQLite's store does. */
static void name_failed_row(PGconn *c, struct pg_append *a, struct hd_event **rows, size_t n)
{
    struct hd_err e = {0};
    for (size_t i = 0; i < n; i++) {
        memset(&e, 0, sizeof(e));
        if (pg_cmd(c, "SAVEPOINT one", NULL, "storing events", &e) != HD_OK) {
            return;
        }
        int rc = insert_rows(c, rows + i, 1, &e);
        PGresult *r = PQexec(c, rc == HD_OK ? "RELEASE SAVEPOINT one" : "ROLLBACK TO SAVEPOINT one");
        PQclear(r);
        if (rc != HD_OK) {
            hd_err_set(&a->err, rc, "events[%zu]: %s", (size_t)(rows[i] - a->evs), e.msg);
            return;
        }
    }
}

/* Numbers and inserts each request under its own savepoint, numbering on
 * from the last request stored: a request that fails is rolled back and
 * refused alone (naming the event) and leaves no gap; the others commit. A
 * broken connection fails the whole group (it runs again). *top: the
 * highest seq stored. */
struct group_ctx {
    const struct seen *st;
    size_t n_st;
    struct idset *set;
    struct hd_event **todo;
};

static int insert_requests(PGconn *c, struct pg_append *batch, const struct group_ctx *g, int64_t next,
                           int64_t *top, struct hd_err *err)
{
    *top = 0;
    for (struct pg_append *a = batch; a != NULL; a = a->next) {
        size_t k = a->rc == HD_OK ? number(a, g->st, g->n_st, next, g->todo, g->set) : 0;
        if (k == 0) {
            continue;
        }
        int rc = pg_cmd(c, "SAVEPOINT req", NULL, "storing events", err);
        if (rc != HD_OK) {
            return rc;
        }
        rc = insert_rows(c, g->todo, k, &a->err);
        if (rc != HD_OK && PQstatus(c) != CONNECTION_OK) {
            *err = a->err;
            return rc;
        }
        if (rc != HD_OK) {
            a->rc = rc;
            rc = pg_cmd(c, "ROLLBACK TO SAVEPOINT req", NULL, "storing events", err);
            if (rc == HD_OK) {
                name_failed_row(c, a, g->todo, k);
                rc = pg_cmd(c, "ROLLBACK TO SAVEPOINT req", NULL, "storing events", err);
            }
        } else {
            rc = pg_cmd(c, "RELEASE SAVEPOINT req", NULL, "storing events", err);
            next += (int64_t)k;
            *top = next - 1;
        }
        if (rc != HD_OK) {
            return rc;
        }
    }
    return HD_OK;
}

static int commit_batch(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    (void)s;
    struct batch_args *b = arg;
    for (struct pg_append *a = b->batch; a != NULL; a = a->next) {
        a->rc = HD_OK;
        memset(&a->err, 0, sizeof(a->err));
        validate(a);
    }
    char lock[64];
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%d)", PG_APPEND_LOCK);
    int rc = pg_cmd(c, lock, NULL, "taking the append lock", err);
    struct seen *st = NULL;
    size_t n_st = 0;
    PGresult *ids = NULL;
    if (rc == HD_OK) {
        rc = stored_ids(c, b->batch, &st, &n_st, &ids, err);
    }
    PGresult *mx = rc == HD_OK ? pg_exec(c, "SELECT last_seq FROM log_head", NULL, "numbering", err) : NULL;
    if (rc == HD_OK && mx == NULL) {
        rc = err->code;
    }
    size_t cap = 16;
    while (cap < 2 * b->total + 2) {
        cap *= 2;
    }
    struct idset set = {.cap = cap, .slot = rc == HD_OK ? calloc(cap, sizeof(*set.slot)) : NULL};
    struct hd_event **todo = rc == HD_OK ? calloc(b->total + 1, sizeof(*todo)) : NULL;
    if (rc == HD_OK && (todo == NULL || set.slot == NULL)) {
        rc = hd_err_set(err, HD_ENOMEM, "store: out of memory");
    }
    if (rc == HD_OK) {
        int64_t next = pg_i64(mx, 0, 0) + 1;
        struct group_ctx g = {.st = st, .n_st = n_st, .set = &set, .todo = todo};
        int64_t top = 0;
        rc = insert_requests(c, b->batch, &g, next, &top, err);
        b->last_seq = top;
        if (rc == HD_OK && top > 0) {
            struct pg_params hp = {0};
            pp_i64(&hp, top);
            rc = pg_cmd(c, "UPDATE log_head SET last_seq = $1", &hp, "numbering", err);
        }
        if (rc == HD_OK && top > 0) {
            rc = pg_cmd(c, "SELECT pg_notify('herald_events', '')", NULL, "announcing events", err);
        }
    }
    free(set.slot);
    free(todo);
    PQclear(mx);
    free(st);
    PQclear(ids);
    return rc;
}

static void complete(struct pg_store *s, struct pg_append *batch, int rc, const struct hd_err *err)
{
    pthread_mutex_lock(&s->wmu);
    for (struct pg_append *a = batch; a != NULL;) {
        struct pg_append *next = a->next;
        if (rc != HD_OK) { /* the group failed as a whole; else each keeps its own outcome */
            a->rc = rc;
            if (err != NULL) {
                a->err = *err;
            }
        }
        if (a->done != NULL) {
            pthread_mutex_unlock(&s->wmu);
            a->done(a->ud, rc, rc == HD_OK ? NULL : &a->err);
            pthread_mutex_lock(&s->wmu);
            free(a);
        } else {
            a->finished = 1;
        }
        a = next;
    }
    pthread_cond_broadcast(&s->wcv);
    pthread_mutex_unlock(&s->wmu);
}

/* Takes queued requests up to PG_BATCH_MAX events; NULL when stopping with none. */
static struct pg_append *take(struct pg_store *s, size_t *total)
{
    pthread_mutex_lock(&s->wmu);
    while (s->q_head == NULL && !s->stopping) {
        pthread_cond_wait(&s->wcv, &s->wmu);
    }
    struct pg_append *head = s->q_head, **tail = &head;
    *total = 0;
    /* an append in parts goes alone */
    while (*tail != NULL && (*total == 0 || *total + (*tail)->n <= PG_BATCH_MAX) &&
           (tail == &head || (head->produce == NULL && (*tail)->produce == NULL))) {
        *total += (*tail)->n;
        tail = &(*tail)->next;
    }
    s->q_head = *tail;
    if (s->q_head == NULL) {
        s->q_tail = &s->q_head;
    }
    *tail = NULL;
    pthread_mutex_unlock(&s->wmu);
    return head;
}

/* ---- appends in parts -------------------------------------------------- */

struct stream_ctx {
    struct pg_store *s;
    PGconn *c;
    const struct pg_append *a; /* its produce */
    int64_t last_seq;
    int store_failed; /* the database failed, or the commit will be the only failure */
};

/* hd_store_consume_fn: one part, stored as a request of its own. */
static int stream_consume(void *cud, struct hd_event *evs, size_t n, struct hd_err *err)
{
    struct stream_ctx *x = cud;
    struct pg_append part = {.evs = evs, .n = n};
    struct batch_args b = {.batch = &part, .total = n};
    int rc = commit_batch(x->s, x->c, &b, err);
    if (rc != HD_OK) {
        x->store_failed = 1;
        return rc;
    }
    if (part.rc != HD_OK) {
        *err = part.err;
        return part.rc;
    }
    if (b.last_seq > x->last_seq) {
        x->last_seq = b.last_seq;
    }
    return HD_OK;
}

/* pg_fn: the whole append in parts, in pg_tx's transaction. */
static int commit_stream(struct pg_store *s, PGconn *c, void *arg, struct hd_err *err)
{
    struct stream_ctx *x = arg;
    x->s = s;
    x->c = c;
    x->last_seq = 0;
    x->store_failed = 0;
    int rc = x->a->produce(x->a->pud, stream_consume, x, err);
    if (rc == HD_OK) {
        x->store_failed = 1; /* from here on, a failure is the commit's */
    }
    return rc;
}

static void *writer_main(void *arg)
{
    hd_thread_name("hd-pg-writer");
    struct pg_store *s = arg;
    for (;;) {
        size_t total = 0;
        struct pg_append *batch = take(s, &total);
        if (batch == NULL) {
            break;
        }
        struct batch_args b = {.batch = batch, .total = total};
        struct stream_ctx x = {.a = batch};
        int stream = batch->produce != NULL;
        struct hd_err err = {0};
        int rc = HD_EIO;
        for (int attempt = 0; attempt < 2; attempt++) {
            memset(&err, 0, sizeof(err));
            if (s->wconn == NULL || PQstatus(s->wconn) != CONNECTION_OK) {
                PQfinish(s->wconn);
                s->wconn = pg_connect(s, &err);
                if (s->wconn == NULL) {
                    continue;
                }
            }
            rc = stream ? pg_tx(s->wconn, commit_stream, s, &x, &err)
                        : pg_tx(s->wconn, commit_batch, s, &b, &err);
            if (rc == HD_OK || PQstatus(s->wconn) == CONNECTION_OK) {
                break; /* done, or failed for another reason than the connection */
            }
        }
        int64_t last = stream ? x.last_seq : b.last_seq;
        if (rc == HD_OK) {
            if (last > atomic_load(&s->max_seq_cache)) {
                atomic_store(&s->max_seq_cache, last);
            }
            pg_note_success(s);
        } else if (!stream || x.store_failed || s->wconn == NULL || PQstatus(s->wconn) != CONNECTION_OK) {
            pg_note_failure(s, &err); /* not a producer's refusal (a bad document) */
        }
        complete(s, batch, rc, &err);
    }
    return NULL;
}

static int enqueue(struct pg_store *s, struct pg_append *a, struct hd_err *err)
{
    pthread_mutex_lock(&s->wmu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->wmu);
        return hd_err_set(err, HD_ESHUTDOWN, "store: closing");
    }
    *s->q_tail = a;
    s->q_tail = &a->next;
    pthread_cond_broadcast(&s->wcv);
    pthread_mutex_unlock(&s->wmu);
    return HD_OK;
}

/* Queues a copy of *tmpl, completed by its done: HD_OK, or nothing queued. */
static int enqueue_copy(struct hd_store *st, const struct pg_append *tmpl, struct hd_err *err)
{
    struct pg_append *a = malloc(sizeof(*a));
    if (a == NULL) {
        return hd_err_set(err, HD_ENOMEM, "store: out of memory");
    }
    *a = *tmpl;
    int rc = enqueue(pg_of(st), a, err);
    if (rc != HD_OK) {
        free(a);
    }
    return rc;
}

int pg_append_async(struct hd_store *st, struct hd_event *evs, size_t n, hd_store_done_fn done, void *ud,
                    struct hd_err *err)
{
    if (evs == NULL || n == 0 || done == NULL) {
        return hd_err_set(err, HD_EINVAL, "store: nothing to append");
    }
    return enqueue_copy(st, &(struct pg_append){.evs = evs, .n = n, .done = done, .ud = ud}, err);
}

int pg_append_stream_async(struct hd_store *st, hd_store_produce_fn produce, void *pud, hd_store_done_fn done,
                           void *ud, struct hd_err *err)
{
    if (produce == NULL || done == NULL) {
        return hd_err_set(err, HD_EINVAL, "append_stream_async: no producer or no completion callback");
    }
    return enqueue_copy(st, &(struct pg_append){.produce = produce, .pud = pud, .done = done, .ud = ud}, err);
}

int pg_append(struct hd_store *st, struct hd_event *evs, size_t n, struct hd_err *err)
{
    if (n == 0) {
        return HD_OK;
    }
    struct pg_store *s = pg_of(st);
    struct pg_append a = {.evs = evs, .n = n};
    int rc = enqueue(s, &a, err);
    if (rc != HD_OK) {
        return rc;
    }
    pthread_mutex_lock(&s->wmu);
    while (!a.finished) {
        pthread_cond_wait(&s->wcv, &s->wmu);
    }
    pthread_mutex_unlock(&s->wmu);
    if (a.rc != HD_OK && err != NULL) {
        *err = a.err;
    }
    return a.rc;
}

int pg_writer_start(struct pg_store *s, struct hd_err *err)
{
    s->q_tail = &s->q_head;
    if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
        return hd_err_set(err, HD_EIO, "store: cannot start the writer thread");
    }
    s->writer_started = 1;
    return HD_OK;
}

void pg_writer_stop(struct pg_store *s)
{
    if (!s->writer_started) {
        return;
    }
    pthread_mutex_lock(&s->wmu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->wcv);
    pthread_mutex_unlock(&s->wmu);
    pthread_join(s->writer, NULL);
    s->writer_started = 0;
    PQfinish(s->wconn);
    s->wconn = NULL;
}
