/* events.c - the event log: append (on the writer), and the reads
 * (events_after for the dispatcher, one event, and the API's filtered pages).
 *
 * DESIGN: an append is validated and its raws compressed on the caller's
 * thread (raws.c), then queued to the writer as one op; the writer looks
 * each id up in the id index (ids.c: by its integer key idk, then the id),
 * gives a new event max_seq + 1 and an old one its stored seq (duplicate =
 * 1), and indexes the new ones. A row is read into one allocation per event
 * (ev->block). The API's filtered listing caches one statement per filter
 * combination on each read connection.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "model/source.h"
#include "sqlite_int.h"

/* The table's static name for a stored source; NULL if the row holds none
 * the model knows (a damaged row, or one written by a newer herald). */
static const char *source_static(const char *s)
{
    const struct hd_source *src = hd_source_find(s);
    return src != NULL ? src->name : NULL;
}

/* Reads a row of EV_COLS into ev (zeroed first). Its strings and raw share
 * one allocation (ev->block): one malloc and one free per event read instead
 * of fourteen, on the delivery path. On failure ev is cleared. */
static int row_event(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *st, void *out)
{
    struct hd_event *ev = out;
    memset(ev, 0, sizeof(*ev));
    ev->seq = sqlite3_column_int64(st, 0);
    sq_col_fixed(st, 1, ev->id, sizeof(ev->id));
    ev->source = source_static((const char *)sqlite3_column_text(st, 2));
    if (ev->source == NULL) {
        hd_log(HD_LOG_ERROR, "store: event %lld: unknown source in the stored row", (long long)ev->seq);
        memset(ev, 0, sizeof(*ev));
        return HD_EIO;
    }
    ev->ts_us = sqlite3_column_int64(st, 3);
    ev->recv_us = sqlite3_column_int64(st, 4);
    ev->severity = sqlite3_column_int(st, 5);
    int state = sqlite3_column_int(st, 6);
    ev->state =
        (state >= HD_STATE_ACTIVE && state <= HD_STATE_RESOLVED) ? (enum hd_state)state : HD_STATE_ACTIVE;
    struct raw_src raw;
    int rc = sq_raw_locate(s, c, st, ev->seq, &raw);
    if (rc != HD_OK) {
        return rc;
    }
    const char *txt[HD_EVENT_NSTR];
    size_t len[HD_EVENT_NSTR];
    for (size_t i = 0; i < HD_EVENT_NSTR; i++) {
        txt[i] = (const char *)sqlite3_column_text(st, (int)i + 7); /* text first, then its length */
        len[i] = txt[i] != NULL ? (size_t)sqlite3_column_bytes(st, (int)i + 7) : 0;
    }
    rc = hd_event_block(ev, txt, len, raw.enc >= 0 ? (int64_t)raw.size : -1, c->slab);
    if (rc == HD_OK && raw.enc >= 0) {
        rc = sq_raw_copy(c, &raw, ev->seq, ev->raw);
    }
    if (rc != HD_OK) {
        hd_event_clear(ev);
    }
    return rc;
}

static void clear_event(void *ev)
{
    hd_event_clear(ev);
}

/* How events are collected (sq_collect): at most max. */
static struct sq_rows event_rows(size_t max)
{
    return (struct sq_rows){.row = row_event,
                            .clear = clear_event,
                            .elem_size = sizeof(struct hd_event),
                            .max = max,
                            .what = "reading events",
                            .oom = "store: out of memory reading events",
                            .noun = "event"};
}

/* ---- append ------------------------------------------------------------ */

/* The blobs of a's chunks, after its rows (their seqs known): each only if
 * one of its events is new. Chunk k has rid base + k. */
static int store_blobs(struct sq_store *s, struct sq_conn *c, const struct append_args *a, int64_t base,
                       struct hd_err *err)
{
    sqlite3_stmt *rins = a->nblobs > 0 ? sq_stmt(c, Q_RAW_INSERT, err) : NULL;
    if (a->nblobs > 0 && rins == NULL) {
        return HD_EIO;
    }
    for (size_t k = 0; k < a->nblobs; k++) {
        const struct zblob *b = &a->blobs[k];
        int64_t lo = 0;
        int64_t hi = 0;
        for (size_t i = b->first; i < b->end; i++) {
            if (!a->evs[i].duplicate) {
                lo = lo == 0 ? a->evs[i].seq : lo;
                hi = a->evs[i].seq;
            }
        }
        if (hi == 0) {
            continue;
        }
        sqlite3_bind_int64(rins, 1, base + (int64_t)k);
        sqlite3_bind_int64(rins, 2, lo);
        sqlite3_bind_int64(rins, 3, hi);
        sqlite3_bind_int(rins, 4, b->enc);
        sqlite3_bind_int64(rins, 5, (int64_t)b->size);
        sqlite3_bind_blob64(rins, 6, b->p, (sqlite3_uint64)b->len, SQLITE_STATIC);
        if (sq_step_done(c, rins, err, "storing the raws of a batch") != HD_OK) {
            return HD_EIO;
        }
    }
    if (a->nblobs > 0) {
        s->max_rid = base + (int64_t)a->nblobs - 1; /* skipped chunks leave gaps: harmless */
    }
    return HD_OK;
}

static int op_append(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct append_args *a = arg;
    sqlite3_stmt *ins = sq_stmt(c, Q_EV_INSERT, err);
    if (ins == NULL) {
        return HD_EIO;
    }
    int64_t base = s->max_rid + 1; /* the rid of chunk k: base + k */
    size_t chunk = 0;
    for (size_t i = 0; i < a->n; i++) {
        struct hd_event *ev = &a->evs[i];
        ev->duplicate = 0;
        int64_t idk = sq_id_key(ev->id);
        /* Same id stored before, or earlier in this batch or group: the
         * uncommitted rows of the open transaction are visible here. */
        int found = 0;
        int64_t old = 0;
        if (sq_ids_find(s, ev->id, idk, &old, &found, err) != HD_OK) {
            hd_err_prefix(err, "events[%zu]: ", i);
            return HD_EIO;
        }
        if (found) {
            ev->seq = old;
            ev->duplicate = 1;
            continue;
        }
        int64_t seq = s->max_seq + 1;
        sqlite3_bind_int64(ins, 1, seq);
        sqlite3_bind_text(ins, 2, ev->id, -1, SQLITE_STATIC);
        sq_bind_text(ins, 3, ev->source);
        sqlite3_bind_int64(ins, 4, ev->ts_us);
        sqlite3_bind_int64(ins, 5, ev->recv_us);
        sqlite3_bind_int(ins, 6, ev->severity);
        sqlite3_bind_int(ins, 7, (int)ev->state);
        const char *strs[] = {ev->name,         ev->description,   ev->url,     ev->host,
                              ev->container_id, ev->k8s_namespace, ev->k8s_pod, ev->k8s_container,
                              ev->k8s_kind,     ev->k8s_name,      ev->labels,  ev->alert_key};
        for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
            sq_bind_text(ins, (int)k + 8, strs[k]);
        }
        struct zraw zr = a->z != NULL ? a->z[i] : (struct zraw){.p = ev->raw, .len = ev->raw_len, .enc = 0};
        unsigned char ref[SQ_BLOB_REF_LEN];
        while (chunk + 1 < a->nblobs && i >= a->blobs[chunk].end) {
            chunk++;
        }
        if (zr.enc == 2) {
            sq_ref_encode(ref, a->grouped ? a->g_rid : base + (int64_t)chunk, &zr);
            sqlite3_bind_blob(ins, 20, ref, (int)sizeof(ref), SQLITE_STATIC);
        } else if (zr.p == NULL) {
            sqlite3_bind_null(ins, 20);
        } else {
            sqlite3_bind_blob64(ins, 20, zr.p, (sqlite3_uint64)zr.len, SQLITE_STATIC);
        }
        sqlite3_bind_int(ins, 21, zr.enc);
        sqlite3_bind_int64(ins, 22, idk);
        if (sq_step_done(c, ins, err, "storing an event") != HD_OK ||
            sq_ids_add(s, c, idk, seq, err) != HD_OK) {
            hd_err_prefix(err, "events[%zu]: ", i);
            return HD_EIO;
        }
        s->max_seq = seq;
        ev->seq = seq;
    }
    if (store_blobs(s, c, a, base, err) != HD_OK) {
        return HD_EIO;
    }
    return sq_ids_merge(s, c, err);
}

static int append_check(const struct hd_event *evs, size_t n, struct hd_err *err)
{
    if (n > 0 && evs == NULL) {
        return hd_err_set(err, HD_EINVAL, "events: NULL with n=%zu", n);
    }
    for (size_t i = 0; i < n; i++) {
        if (evs[i].id[0] == '\0' || memchr(evs[i].id, '\0', sizeof(evs[i].id)) == NULL) {
            return hd_err_set(err, HD_EINVAL, "events[%zu].id: empty or not NUL-terminated", i);
        }
        if (source_static(evs[i].source) == NULL) {
            return hd_err_set(err, HD_EINVAL, "events[%zu].source: '%.64s' is no known source", i,
                              evs[i].source != NULL ? evs[i].source : "(none)");
        }
        if (evs[i].raw_len > (size_t)INT_MAX) {
            return hd_err_set(err, HD_ETOOBIG, "events[%zu].raw: %zu bytes, over the store's 2 GiB limit", i,
                              evs[i].raw_len);
        }
    }
    return HD_OK;
}

/* Fills *a with evs[0..n), their raws compressed (sq_zip)
 * into the returned allocation, which the caller frees after the append
 * (NULL when out of memory: the raws are then stored uncompressed). */
static struct zraw *zip_args(struct sq_store *s, struct hd_event *evs, size_t n, struct append_args *a)
{
    size_t total = 0;
    size_t zb = sq_zip_bound(evs, n, &total);
    struct zraw *z = malloc(n * sizeof(*z) + zb);
    *a = (struct append_args){.evs = evs, .n = n, .z = z};
    if (z != NULL) {
        sq_zip(s, a, total, (unsigned char *)(z + n));
    }
    return z;
}

int sq_append(struct hd_store *st, struct hd_event *evs, size_t n, struct hd_err *err)
{
    if (n == 0) {
        return HD_OK;
    }
    int rc = append_check(evs, n, err);
    if (rc != HD_OK) {
        return rc;
    }
    struct sq_store *s = sq_of(st);
    struct append_args a;
    struct zraw *z = zip_args(s, evs, n, &a);
    rc = sq_submit_append(s, op_append, &a, err);
    free(z);
    return rc;
}

/* An append whose raws went into blobs holds copies of them: its events
 * that borrow their raw (from a request body) stop pointing at it, so the
 * caller may free the body before the commit (hd_store_ops.append_async).
 * A small append keeps them: the writer compresses its raws later. */
static void drop_borrowed_raws(struct append_args *a)
{
    if (a->nblobs == 0) {
        return;
    }
    for (size_t i = 0; i < a->n; i++) {
        struct hd_event *ev = &a->evs[i];
        if (ev->raw_borrowed) {
            ev->raw = NULL;
            ev->raw_len = 0;
            ev->raw_borrowed = 0;
        }
    }
}

/* The op and its arguments in one allocation, freed by the writer. */
struct sq_async_append {
    struct sq_op op;
    struct append_args a;
};

int sq_append_async(struct hd_store *st, struct hd_event *evs, size_t n, hd_store_done_fn done, void *ud,
                    struct hd_err *err)
{
    struct sq_store *s = sq_of(st);
    if (done == NULL) {
        return hd_err_set(err, HD_EINVAL, "append_async: no completion callback");
    }
    int rc = append_check(evs, n, err);
    if (rc != HD_OK) {
        return rc;
    }
    /* One allocation, freed by the writer: the op, then the zraw array, then
     * the compressed bytes. */
    size_t total = 0;
    size_t zb = sq_zip_bound(evs, n, &total);
    if (n > (SIZE_MAX - sizeof(struct sq_async_append) - zb) / sizeof(struct zraw)) {
        return hd_err_set(err, HD_ETOOBIG, "store: append of %zu events too large", n);
    }
    struct sq_async_append *q = malloc(sizeof(*q) + n * sizeof(struct zraw) + zb);
    if (q == NULL) {
        return hd_err_set(err, HD_ENOMEM, "store: out of memory queuing an append");
    }
    memset(q, 0, sizeof(*q));
    struct zraw *z = (struct zraw *)(void *)(q + 1);
    q->a = (struct append_args){.evs = evs, .n = n, .z = z};
    sq_zip(s, &q->a, total, (unsigned char *)(z + n));
    drop_borrowed_raws(&q->a);
    q->op.apply = op_append;
    q->op.arg = &q->a;
    q->op.append = &q->a;
    q->op.done_fn = done;
    q->op.done_ud = ud;
    rc = sq_submit_async(s, &q->op, err);
    if (rc != HD_OK) {
        free(q);
    }
    return rc;
}

/* ---- appends in parts (append_stream_async) ---------------------------- */

struct sq_stream_append {
    struct sq_op op; /* first: the writer frees the op */
    hd_store_produce_fn produce;
    void *pud;
};

struct stream_part {
    struct sq_store *s;
    struct sq_conn *c;
};

/* hd_store_consume_fn: one part, compressed and stored as an append of its
 * own would be, inside the stream's op (the writer's thread). */
static int stream_consume(void *cud, struct hd_event *evs, size_t n, struct hd_err *err)
{
    struct stream_part *p = cud;
    int rc = append_check(evs, n, err);
    if (rc != HD_OK) {
        return rc;
    }
    struct append_args a;
    struct zraw *z = zip_args(p->s, evs, n, &a);
    rc = op_append(p->s, p->c, &a, err);
    free(z);
    return rc;
}

/* The op: not an append for the writer (no group blob, always under its own
 * savepoint), so a producer's error rolls back this request alone. */
static int op_append_stream(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    struct sq_stream_append *q = arg;
    struct stream_part p = {.s = s, .c = c};
    /* Its parts dirty far more pages than a group does: they spill to the
     * WAL early instead of staying in memory up to SQ_SPILL_PAGES (16 MB). */
    (void)sq_cache_spill(c, SQ_STREAM_SPILL_PAGES);
    int rc = q->produce(q->pud, stream_consume, &p, err);
    (void)sq_cache_spill(c, SQ_SPILL_PAGES);
    return rc;
}

int sq_append_stream_async(struct hd_store *st, hd_store_produce_fn produce, void *pud, hd_store_done_fn done,
                           void *ud, struct hd_err *err)
{
    if (produce == NULL || done == NULL) {
        return hd_err_set(err, HD_EINVAL, "append_stream_async: no producer or no completion callback");
    }
    struct sq_stream_append *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        return hd_err_set(err, HD_ENOMEM, "store: out of memory queuing an append");
    }
    q->produce = produce;
    q->pud = pud;
    q->op.apply = op_append_stream;
    q->op.arg = q;
    q->op.done_fn = done;
    q->op.done_ud = ud;
    int rc = sq_submit_async(sq_of(st), &q->op, err);
    if (rc != HD_OK) {
        free(q);
    }
    return rc;
}

/* ---- reads ------------------------------------------------------------ */

static size_t event_bytes(const void *ev)
{
    return hd_event_bytes(ev);
}

int sq_events_after(struct hd_store *st, const struct hd_range *q, struct hd_event **out, size_t *n,
                    struct hd_err *err)
{
    size_t limit = q->limit != 0 ? q->limit : SQ_DEFAULT_LIMIT;
    const int64_t p[] = {q->after_seq, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit};
    struct sq_rows r = event_rows(limit);
    r.max_bytes = q->max_bytes;
    r.bytes = event_bytes;
    r.slab = q->slab;
    int rc = sq_read_rows(sq_of(st), Q_EV_AFTER, p, 2, &r, err);
    if (rc == HD_OK) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

static int event_get_one(struct sq_store *s, enum sq_stmt_id id, const char *key, int64_t seq,
                         struct hd_event *out, struct hd_err *err)
{
    int found = 0;
    struct sq_lookup l = {
        .stmt = id, .text = key, .with_idk = 1, .num = seq, .row = row_event, .what = "an event"};
    int rc = sq_read_one(s, &l, out, &found, err);
    if (rc == HD_OK && !found) {
        rc = key != NULL ? hd_err_set(err, HD_ENOTFOUND, "id: no event with id %s", key)
                         : hd_err_set(err, HD_ENOTFOUND, "seq: no event with seq %lld", (long long)seq);
    }
    return rc;
}

int sq_event_get(struct hd_store *st, const char *id, struct hd_event *out, struct hd_err *err)
{
    if (id == NULL) {
        return hd_err_set(err, HD_EINVAL, "id: missing");
    }
    return event_get_one(sq_of(st), Q_EV_GET_ID, id, 0, out, err);
}

int sq_event_get_seq(struct hd_store *st, int64_t seq, struct hd_event *out, struct hd_err *err)
{
    return event_get_one(sq_of(st), Q_EV_GET_SEQ, NULL, seq, out, err);
}

#define QF_LIMIT_PARAM (QF_PARAMS + 1)

/* The text of an events query. By severity, the inner select picks the
 * page's seqs from the events_ts_dims index (it holds every filter column
 * but name, description and labels) before the outer one reads the rows. */
static int query_text(unsigned mask, enum hd_event_sort sort, char *sql, size_t cap, size_t *len,
                      struct hd_err *err)
{
    struct sq_text arrival = {.head = {"SELECT " EV_COLS " FROM events WHERE 1"},
                              .mask = mask,
                              .tail = " ORDER BY seq DESC LIMIT ?11",
                              .too_long = "store: query text too long"};
    const char *order = (mask & (1u << QF_RECV)) ? " ORDER BY severity, seq DESC"
                                                 : " ORDER BY severity, ts_us DESC, seq DESC";
    char tail[160];
    snprintf(tail, sizeof(tail), "%s LIMIT ?11)%s", order, order);
    struct sq_text by_sev = {
        .head = {"SELECT " EV_COLS " FROM events WHERE seq IN (SELECT seq FROM events WHERE 1"},
        .mask = mask,
        .tail = tail,
        .too_long = "store: query text too long"};
    return sq_query_text(sort == HD_SORT_SEVERITY ? &by_sev : &arrival, sql, cap, len, err);
}

/* The statement for this filter combination and order, built from constant
 * fragments. The reader caches the common ones (*owned = 0); the others are
 * prepared for this call (*owned = 1: the caller finalizes it). */
static sqlite3_stmt *query_stmt(struct sq_conn *c, unsigned mask, enum hd_event_sort sort, int *owned,
                                struct hd_err *err)
{
    int cached = sort == HD_SORT_ARRIVAL && mask < (1u << QF_CACHED);
    *owned = !cached;
    if (cached && c->query[mask] != NULL) {
        return c->query[mask];
    }
    char sql[1280];
    size_t len = 0;
    if (query_text(mask, sort, sql, sizeof(sql), &len, err) != HD_OK) {
        return NULL;
    }
    sqlite3_stmt *stm = NULL;
    if (sqlite3_prepare_v3(c->db, sql, (int)len, cached ? SQLITE_PREPARE_PERSISTENT : 0, &stm, NULL) !=
        SQLITE_OK) {
        hd_err_set(err, HD_EIO, "store: preparing the events query: %s", sqlite3_errmsg(c->db));
        sqlite3_finalize(stm);
        return NULL;
    }
    if (cached) {
        c->query[mask] = stm;
    }
    return stm;
}

int sq_events_query(struct hd_store *st, const struct hd_event_query *q, struct hd_event **out, size_t *n,
                    int64_t *next_cursor, struct hd_err *err)
{
    struct sq_store *s = sq_of(st);
    struct hd_event_query none = {.severity = -1};
    if (q == NULL) {
        q = &none;
    }
    int state = -1;
    unsigned mask = 0;
    int frc = sq_query_filters(q, &state, &mask, err);
    if (frc != HD_OK) {
        return frc;
    }
    int by_sev = q->sort == HD_SORT_SEVERITY;
    mask |= (q->before_seq > 0 && !by_sev) ? 1u << QF_BEFORE : 0;
    size_t limit = sq_limit(q->limit);

    char *pattern = NULL;
    if (mask & (1u << QF_Q)) {
        pattern = sq_like_pattern(q->q);
        if (pattern == NULL) {
            return hd_err_set(err, HD_ENOMEM, "store: out of memory");
        }
    }
    struct sq_conn *c = sq_reader(s, err);
    if (c == NULL) {
        free(pattern);
        return HD_EIO;
    }
    int rc = HD_EIO;
    int owned = 0;
    struct hd_event *evs = NULL;
    size_t cnt = 0;
    sqlite3_stmt *stm = query_stmt(c, mask, by_sev ? HD_SORT_SEVERITY : HD_SORT_ARRIVAL, &owned, err);
    if (stm == NULL) {
        goto out;
    }
    sq_query_bind(stm, q, state, pattern);
    /* One more than asked tells whether there is a next page. */
    sqlite3_bind_int64(stm, QF_LIMIT_PARAM, (int64_t)limit + 1);
    struct sq_rows r = event_rows(limit + 1);
    r.max_bytes = q->max_bytes;
    r.bytes = event_bytes;
    rc = sq_collect(s, c, stm, &r, err);
    if (rc != HD_OK) {
        goto out;
    }
    evs = r.v;
    cnt = r.n;
    int64_t next = 0;
    if (cnt > limit) {
        hd_event_clear(&evs[limit]);
        cnt = limit;
        next = by_sev ? 0 : evs[limit - 1].seq;
    } else if (r.more && cnt > 0) {
        next = by_sev ? 0 : evs[cnt - 1].seq; /* the page's bytes are full */
    }
    *out = evs;
    *n = cnt;
    if (next_cursor != NULL) {
        *next_cursor = next;
    }
out:
    if (owned) {
        sqlite3_finalize(stm);
    }
    sq_reader_put(s, c);
    free(pattern);
    return rc;
}

int64_t sq_max_seq(struct hd_store *st)
{
    return atomic_load(&sq_of(st)->pub_max_seq);
}
