/* events.c - POST /api/events (ingest) and the event queries.
 *
 * DESIGN: ingest checks the cheap things first (content type, backlog,
 * format name, empty body), then decodes the whole request into one batch
 * (all or nothing: a parse error in document 3 stores nothing) and appends
 * it with one store call; the 202 is only sent for events on stable storage
 * (SPEC section 6). The append is asynchronous: the handler defers the
 * answer (hd_http_defer), hands the batch to the store's writer and returns;
 * the writer's completion (after the synced group commit) resumes the
 * connection and ingest_finish composes the 202 on a server thread. No
 * thread waits per request, so one group commit gathers every request in
 * flight. Without a deferral (server stopping) or an asynchronous store it
 * falls back to the blocking append. The dispatcher is woken after the
 * answer is composed.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "channel/channel.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "input/decoder.h"
#include "route/filter.h"
#include "route/silences.h"

#define EV_LIMIT_DEFAULT 100
#define EV_LIMIT_MAX 1000
#define MAX_SOURCES 16

/* The source a refused request was for: the decoder its ?format= names,
 * "auto" without one, "unknown" for a name no decoder has (never the
 * client's own text: the label stays bounded). */
static const char *rejected_source(const struct hd_http_req *req)
{
    const char *fmt = req != NULL ? hd_http_query(req, "format") : NULL;
    if (fmt == NULL || fmt[0] == '\0') {
        return "auto";
    }
    const struct hd_decoder *dec = hd_decoder_find(fmt);
    return dec != NULL ? dec->name : "unknown";
}

/* herald_events_rejected_total{source,reason} and the log line of a refusal. */
static void count_rejected(const char *source, const char *reason, int status, const char *msg)
{
    char labels[128];
    snprintf(labels, sizeof(labels), "source=\"%s\",reason=\"%s\"", source, reason);
    hd_metrics_add("herald_events_rejected_total", labels, 1);
    hd_log_kv(status >= 500 ? HD_LOG_WARN : HD_LOG_INFO, HD_KV({"source", source}, {"reason", reason}),
              "ingest rejected (%d): %s", status, msg);
}

/* Lowercased media type of a Content-Type value, without parameters. */
static void media_type(const char *ct, char *out, size_t outsz)
{
    size_t j = 0;
    if (ct != NULL) {
        while (*ct == ' ' || *ct == '\t') {
            ct++;
        }
        for (; *ct != '\0' && *ct != ';' && *ct != ' ' && *ct != '\t' && j + 1 < outsz; ct++) {
            out[j++] = (char)tolower((unsigned char)*ct);
        }
    }
    out[j] = '\0';
}

/* JSON, NDJSON, and text/plain (curl -d sends form encoding unless told,
 * and people type text/plain); missing is fine too. */
static int media_type_ok(const char *m)
{
    static const char *const ok[] = {
        "",
        "application/json",
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonl",
        "application/json-seq",
        "text/json",
        "text/plain",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strcmp(m, ok[i]) == 0) {
            return 1;
        }
    }
    size_t n = strlen(m);
    return strncmp(m, "application/", 12) == 0 && n > 5 && strcmp(m + n - 5, "+json") == 0;
}

static int is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') {
            return 0;
        }
    }
    return 1;
}

static void reject(struct hd_api_call *c, int status, const char *reason, const char *msg)
{
    count_rejected(rejected_source(c->req), reason, status, msg);
    hd_http_error(c->resp, status, "%s", msg);
}

struct source_count {
    const char *source;
    int64_t received;
    int64_t stored;
};

/* Adds evs[0..n) to the counts sc[0..*nsc) of received and stored events per source. */
static void tally_sources(struct source_count sc[MAX_SOURCES], size_t *nsc, const struct hd_event *evs,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *src = evs[i].source != NULL ? evs[i].source : "unknown";
        size_t k = 0;
        while (k < *nsc && strcmp(sc[k].source, src) != 0) {
            k++;
        }
        if (k == *nsc) {
            if (*nsc == MAX_SOURCES) {
                continue; /* more sources than exist: cannot happen, do not overflow */
            }
            sc[(*nsc)++] = (struct source_count){.source = src};
        }
        sc[k].received++;
        sc[k].stored += evs[i].duplicate ? 0 : 1;
    }
}

static void emit_sources(const struct source_count *sc, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char labels[96];
        snprintf(labels, sizeof(labels), "source=\"%s\"", sc[k].source);
        hd_metrics_add("herald_events_received_total", labels, sc[k].received);
        if (sc[k].stored > 0) {
            hd_metrics_add("herald_events_stored_total", labels, sc[k].stored);
        }
    }
}

/* Highest committed seq a dispatcher wakeup was sent for (one process, one
 * store). Each wakeup is a write to the dispatcher's socketpair and a wakeup
 * of its thread; the requests of one group commit need only the first: it was
 * sent after their events committed, so the dispatcher reads past them. */
static _Atomic int64_t woken_seq;

static void wake_dispatcher(struct hd_api *api)
{
    int64_t committed = api->st->ops->max_seq(api->st);
    int64_t seen = atomic_load(&woken_seq);
    /* != rather than >: a store opened anew (tests) may start lower. */
    while (committed != seen) {
        if (atomic_compare_exchange_weak(&woken_seq, &seen, committed)) {
            hd_dispatcher_committed(api->disp, committed);
            return;
        }
    }
    if (committed <= 0) {
        hd_dispatcher_wakeup(api->disp); /* no seq to go by */
    }
}

/* The answer to an append the store refused (rc: HD_EBUSY 429, else 503). */
static void store_refused(const char *src, int rc, const struct hd_err *err, struct hd_http_resp *resp)
{
    int status = rc == HD_EBUSY ? 429 : 503;
    const char *why = err != NULL && err->msg[0] ? err->msg : hd_strerror(rc);
    count_rejected(src, "store", status, why);
    hd_http_error(resp, status, "store: %s", why);
    hd_http_resp_header(resp, "Retry-After", "5");
}

/* Appends the ids of evs[0..n) to o as JSON strings, a comma before each
 * (before the first too when more_after: ids already written). No printf:
 * one call per event id (1,000 for a batch of 1,000); vsnprintf was 1.7 % of
 * the poll threads' samples with single events. */
static int put_ids(struct hd_buf *o, const struct hd_event *evs, size_t n, int more_after)
{
    if (hd_buf_reserve(o, o->len + n * 37) != HD_OK) {
        return HD_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (((i > 0 || more_after) && hd_buf_putc(o, ',') != HD_OK) || hd_buf_putc(o, '"') != HD_OK ||
            hd_buf_puts(o, evs[i].id) != HD_OK || hd_buf_putc(o, '"') != HD_OK) {
            return HD_ENOMEM;
        }
    }
    return HD_OK;
}

/* Room left at the start of an answer's ids written ahead (ingest in parts)
 * for {"accepted":N,"ids":[ (at most 12 + 20 + 8 bytes). */
#define ANSWER_HEAD 40

/* The 202 of n stored events: {"accepted":n,"ids":[...]} with the ids of
 * evs, or (evs NULL) those already written in *ids after ANSWER_HEAD bytes
 * of room: the head goes in front of them in place and the buffer becomes
 * the answer (100,000 ids are 3.5 MB: not copied). */
static void ingest_accepted(struct hd_api *api, size_t n, const struct hd_event *evs, struct hd_buf *ids,
                            struct hd_http_resp *resp)
{
    char head[ANSWER_HEAD];
    memcpy(head, "{\"accepted\":", 12);
    size_t hl = 12 + hd_fmt_i64(head + 12, (int64_t)n);
    memcpy(head + hl, ",\"ids\":[", 8);
    hl += 8;
    struct hd_buf *o = &resp->body;
    int wrc = HD_OK;
    if (evs != NULL) {
        hd_buf_reset(o);
        if (hd_buf_reserve(o, hl + n * 37 + 2) != HD_OK || hd_buf_append(o, head, hl) != HD_OK ||
            put_ids(o, evs, n, 0) != HD_OK) {
            wrc = HD_ENOMEM;
        }
    } else {
        size_t skip = ANSWER_HEAD - hl;
        memcpy(ids->p + skip, head, hl);
        memmove(ids->p, ids->p + skip, ids->len - skip);
        ids->len -= skip;
        struct hd_buf t = *o;
        *o = *ids;
        *ids = t;
    }
    if (wrc == HD_OK) {
        wrc = hd_buf_puts(o, "]}");
    }
    if (wrc != HD_OK) {
        /* Stored, but we cannot say so: 500 makes the client re-send, which
         * the store deduplicates by id. */
        hd_http_error(resp, 500, "out of memory");
    } else {
        resp->status = 202;
        resp->content_type = "application/json";
    }
    if (n > 0 && api->disp != NULL) {
        wake_dispatcher(api);
    }
}

/* The answer to a decoded batch whose append ended with rc. */
static void ingest_answer(struct hd_api *api, struct hd_batch *b, int rc, const struct hd_err *err,
                          struct hd_http_resp *resp)
{
    if (rc != HD_OK) {
        store_refused(b->n > 0 && b->ev[0].source != NULL ? b->ev[0].source : "auto", rc, err, resp);
        return;
    }
    struct source_count sc[MAX_SOURCES];
    size_t nsc = 0;
    tally_sources(sc, &nsc, b->ev, b->n);
    emit_sources(sc, nsc);
    ingest_accepted(api, b->n, b->ev, NULL, resp);
}

/* A deferred ingest's wait for the store: the first member of both kinds
 * (ingest_async, ingest_parts), so that one completion serves them. */
struct ingest_wait {
    struct hd_http_async *h;
    int rc;
    struct hd_err err;
};

/* Store completion (writer thread): record and resume the connection. */
static void ingest_done(void *ud, int rc, const struct hd_err *err)
{
    struct ingest_wait *w = ud;
    w->rc = rc;
    if (rc != HD_OK && err != NULL) {
        w->err = *err;
    }
    hd_http_async_done(w->h); /* w may be gone once this returns */
}

/* A batch handed to the store's writer, answered once it committed. */
struct ingest_async {
    struct ingest_wait w; /* first */
    struct hd_api *api;
    struct hd_batch b;
};

static void ingest_finish(void *ud, struct hd_http_resp *resp)
{
    struct ingest_async *ia = ud;
    ingest_answer(ia->api, &ia->b, ia->w.rc, &ia->w.err, resp);
}

static void ingest_release(void *ud)
{
    struct ingest_async *ia = ud;
    hd_batch_free(&ia->b);
    free(ia);
}

/* Whether an event of b still points into the request body. Reads only
 * raw and raw_borrowed, which the store's writer does not touch. */
static int borrows_raw(const struct hd_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->ev[i].raw_borrowed && b->ev[i].raw != NULL) {
            return 1;
        }
    }
    return 0;
}

/* Starts the asynchronous append of *b (taken over on success: *b is left
 * empty). HD_OK = deferred, the answer comes later; otherwise nothing
 * happened and the caller appends synchronously. */
static int ingest_defer(struct hd_api_call *c, struct hd_batch *b)
{
    struct hd_store *st = c->api->st;
    if (st->ops->append_async == NULL) {
        return HD_EINVAL;
    }
    struct ingest_async *ia = calloc(1, sizeof(*ia));
    if (ia == NULL) {
        return HD_ENOMEM;
    }
    ia->api = c->api;
    ia->w.h = hd_http_defer(c->req, ingest_finish, ingest_release, ia);
    if (ia->w.h == NULL) {
        free(ia);
        return HD_ESHUTDOWN;
    }
    ia->b = *b;
    hd_batch_init(b);
    int rc = st->ops->append_async(st, ia->b.ev, ia->b.n, ingest_done, ia, &ia->w.err);
    if (rc != HD_OK) {
        /* Not queued: answer the failure through the same path. */
        ia->w.rc = rc;
        hd_http_async_done(ia->w.h);
    } else if (!borrows_raw(&ia->b)) {
        /* The store copied the raws (compressed): the body is not needed
         * while the commit runs (a 10 MB request's largest share). ia stays
         * valid: its answer and release run on this thread, after this
         * handler returns. */
        hd_http_body_release(c->req);
    }
    return HD_OK;
}

/* 1 (and the 429 written) when the backlog plus the request's own events
 * would pass limits.maxBacklog: checked before decoding (already over: no
 * work) and after (a 900,000-event backlog does not take 200,000 more). */
static int over_backlog(struct hd_api_call *c, int64_t events)
{
    char msg[160];
    if (c->api->disp == NULL || c->max_backlog <= 0) {
        return 0;
    }
    int64_t backlog = hd_dispatcher_backlog(c->api->disp);
    if (backlog + events <= c->max_backlog) {
        return 0;
    }
    if (events > 0) {
        snprintf(msg, sizeof(msg),
                 "backlog %lld + %lld events of this request is over limits.maxBacklog %lld: retry later",
                 (long long)backlog, (long long)events, (long long)c->max_backlog);
    } else {
        snprintf(msg, sizeof(msg), "backlog %lld is over limits.maxBacklog %lld: retry later",
                 (long long)backlog, (long long)c->max_backlog);
    }
    reject(c, 429, "backlog", msg);
    hd_http_resp_header(c->resp, "Retry-After", "5");
    return 1;
}

/* ---- requests of many events: decoded and stored in parts ----------------
 *
 * A request of more than INGEST_PARTS_AFTER events, or of more than
 * INGEST_PART_LARGE events in a body over INGEST_PARTS_BYTES, is decoded twice. The
 * server thread's decode validates it: past that many events it drops them
 * as they come (drop_part), so a bad document, maxEventsPerRequest and the
 * backlog (the request's events counted) are refused as before, on this
 * thread, without the writer. A valid request then goes to the store's
 * writer, which decodes it again, INGEST_PART (INGEST_PART_LARGE for such a
 * body) events at a time, storing and
 * freeing each part, all in one transaction (append_stream_async). Its
 * decoded events are thus never all in memory: 100,000 tiny events held ~25
 * MB decoded until their commit, now a part's worth. The 202 names every id
 * in document order, after the commit. What can still fail in the writer
 * (memory, the store) rolls every part back and is answered as the store's
 * refusal: the writer's decode cannot find what the first one did not. */
#define INGEST_PARTS_AFTER 8192
#define INGEST_PART 2048
/* A body this large holds its decoded events (~800 bytes each) next to its
 * own bytes until the commit: ~3.5 MB for 4,500 events of a ~10 MB body,
 * the largest share of the peak after the body (docs/performance.md round
 * 13). Bodies under it (arrays of 1,000 ~2 KB events) keep the single
 * decode. Its parts are smaller: 512 events of a 10 MB body are ~1.1 MB,
 * 2,048 of them as large as the decoded events they replace. (Not 512 for
 * every request: on PostgreSQL each part costs statements and round
 * trips, and 100,000 tiny events took 50 % longer in parts of 512.) */
#define INGEST_PARTS_BYTES (4u * 1024 * 1024)
#define INGEST_PART_LARGE 512

struct ingest_parts {
    struct ingest_wait w; /* first */
    struct hd_api *api;
    const char *body; /* the request's, kept until the answer */
    size_t body_len;
    char media[96];
    char format[64]; /* "" : detect */
    const char *rejected_src;
    size_t max_events;
    size_t part; /* events per part */
    /* Written by the writer's run of produce (each run starts over), read
     * by the answer once the store's done ran. */
    hd_store_consume_fn consume;
    void *cud;
    struct hd_buf ids; /* ANSWER_HEAD bytes of room, then "id","id",... */
    size_t n;
    struct source_count sc[MAX_SOURCES];
    size_t nsc;
};

/* hd_batch_flush_fn: one part to the store, its ids and sources noted. */
static int parts_flush(void *ud, struct hd_event *evs, size_t n, struct hd_err *err)
{
    struct ingest_parts *ip = ud;
    int rc = ip->consume(ip->cud, evs, n, err);
    if (rc == HD_OK && put_ids(&ip->ids, evs, n, ip->n > 0) != HD_OK) {
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    if (rc != HD_OK) {
        return rc;
    }
    tally_sources(ip->sc, &ip->nsc, evs, n);
    ip->n += n;
    return HD_OK;
}

/* hd_store_produce_fn (the store's writer thread). */
static int parts_produce(void *ud, hd_store_consume_fn consume, void *cud, struct hd_err *err)
{
    struct ingest_parts *ip = ud;
    ip->consume = consume;
    ip->cud = cud;
    hd_buf_reset(&ip->ids);
    static const char room[ANSWER_HEAD] = {0};
    if (hd_buf_append(&ip->ids, room, sizeof(room)) != HD_OK) {
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    ip->n = 0;
    ip->nsc = 0;
    struct hd_batch b;
    hd_batch_init(&b);
    b.limit = ip->max_events;
    b.borrow_raw = 1;
    b.flush = parts_flush;
    b.flush_ud = ip;
    b.chunk = ip->part;
    int rc = hd_ingest_decode(ip->body, ip->body_len, ip->media[0] ? ip->media : NULL,
                              ip->format[0] ? ip->format : NULL, &b, err);
    if (rc == HD_OK && b.n > 0) {
        rc = parts_flush(ip, b.ev, b.n, err); /* the last part */
    }
    hd_batch_free(&b);
    return rc;
}

static void parts_finish(void *ud, struct hd_http_resp *resp)
{
    struct ingest_parts *ip = ud;
    if (ip->w.rc != HD_OK) {
        store_refused(ip->rejected_src, ip->w.rc, &ip->w.err, resp);
        return;
    }
    emit_sources(ip->sc, ip->nsc);
    hd_metrics_add("herald_ingest_requests_in_parts_total", NULL, 1);
    ingest_accepted(ip->api, ip->n, NULL, &ip->ids, resp);
}

static void parts_release(void *ud)
{
    struct ingest_parts *ip = ud;
    hd_buf_free(&ip->ids);
    free(ip);
}

/* Hands the request to the store to be decoded and stored in parts. HD_OK:
 * deferred, the answer comes later; else nothing happened. */
static int ingest_in_parts(struct hd_api_call *c, const char *media, const char *format, size_t part)
{
    struct hd_store *st = c->api->st;
    struct ingest_parts *ip = calloc(1, sizeof(*ip));
    if (ip == NULL) {
        return HD_ENOMEM;
    }
    ip->api = c->api;
    ip->body = c->req->body;
    ip->body_len = c->req->body_len;
    snprintf(ip->media, sizeof(ip->media), "%s", media);
    snprintf(ip->format, sizeof(ip->format), "%s", format != NULL ? format : "");
    ip->rejected_src = rejected_source(c->req);
    ip->max_events = c->max_events > 0 ? (size_t)c->max_events : 0;
    ip->part = part;
    hd_buf_init(&ip->ids, 0);
    ip->w.h = hd_http_defer(c->req, parts_finish, parts_release, ip);
    if (ip->w.h == NULL) {
        free(ip);
        return HD_ESHUTDOWN;
    }
    struct hd_err err = {0};
    int rc = st->ops->append_stream_async(st, parts_produce, ip, ingest_done, ip, &err);
    if (rc != HD_OK) { /* not queued (closing): answered through the same path */
        ingest_done(ip, rc, &err);
    }
    return HD_OK;
}

/* hd_batch_flush_fn of the server thread's decode: past INGEST_PARTS_AFTER
 * events the request is one to store in parts; its events are counted
 * (*ud) and dropped as they are decoded. */
static int drop_part(void *ud, struct hd_event *evs, size_t n, struct hd_err *err)
{
    (void)evs;
    (void)err;
    *(size_t *)ud += n;
    return HD_OK;
}

void hd_api_events_ingest(struct hd_api_call *c)
{
    struct hd_api *api = c->api;
    struct hd_err err = {0};
    struct hd_batch b;
    hd_batch_init(&b);
    char msg[512];

    char media[96];
    media_type(hd_http_header(c->req, "Content-Type"), media, sizeof(media));
    if (!media_type_ok(media)) {
        hd_http_error(c->resp, 415,
                      "Content-Type '%s' is not supported: send application/json or application/x-ndjson",
                      media);
        count_rejected(rejected_source(c->req), "content_type", 415, media);
        goto out;
    }
    if (over_backlog(c, 0)) {
        goto out;
    }
    const char *format = hd_http_query(c->req, "format");
    if (format != NULL && hd_decoder_find(format) == NULL) {
        struct hd_buf names;
        hd_buf_init(&names, 0);
        if (hd_decoder_names_join(&names) != HD_OK) {
            hd_buf_free(&names);
            reject(c, 500, "format", "out of memory");
            goto out;
        }
        snprintf(msg, sizeof(msg), "format: unknown '%.64s' (one of %s)", format, names.p);
        hd_buf_free(&names);
        reject(c, 400, "format", msg);
        goto out;
    }
    if (is_blank(c->req->body, c->req->body_len)) {
        reject(c, 400, "empty", "body: empty (send a JSON object, a JSON array or NDJSON)");
        goto out;
    }
    b.limit = c->max_events > 0 ? (size_t)c->max_events : 0;
    /* The body outlives the batch: freed after the answer, or once the store
     * copied the raws (ingest_defer). */
    b.borrow_raw = 1;
    size_t dropped = 0;
    int large = c->req->body_len > INGEST_PARTS_BYTES; /* one fact: when to go in parts, and their size */
    if (api->st->ops->append_stream_async != NULL) {
        b.flush = drop_part;
        b.flush_ud = &dropped;
        b.chunk = (large ? INGEST_PART_LARGE : INGEST_PARTS_AFTER) + 1;
    }
    int rc = hd_ingest_decode(c->req->body, c->req->body_len, media[0] ? media : NULL, format, &b, &err);
    if (rc == HD_OK && dropped > 0) {
        size_t total = dropped + b.n;
        hd_batch_free(&b);
        if (over_backlog(c, (int64_t)total) ||
            ingest_in_parts(c, media, format, large ? INGEST_PART_LARGE : INGEST_PART) == HD_OK) {
            goto out;
        }
        /* not deferred (stopping): as before, whole */
        b.limit = c->max_events > 0 ? (size_t)c->max_events : 0;
        b.borrow_raw = 1;
        rc = hd_ingest_decode(c->req->body, c->req->body_len, media[0] ? media : NULL, format, &b, &err);
    }
    if (rc == HD_ENOMEM) {
        hd_http_error(c->resp, 500, "out of memory");
        goto out;
    }
    if (rc != HD_OK) {
        reject(c, rc == HD_ETOOBIG ? 413 : 400, "decode", err.msg[0] ? err.msg : "cannot decode the body");
        goto out;
    }
    if (over_backlog(c, (int64_t)b.n)) {
        goto out;
    }
    if (b.n > 0 && ingest_defer(c, &b) == HD_OK) {
        goto out;
    }
    if (b.n > 0) {
        rc = api->st->ops->append(api->st, b.ev, b.n, &err);
    }
    ingest_answer(api, &b, rc, &err, c->resp);
out:
    hd_batch_free(&b);
}

/* ---- queries ---- */

/* from/to: epoch milliseconds, or a duration back from now ("-1h" or "1h").
 * Answers 400 and returns HD_EINVAL on junk. */
static int query_time_ms(struct hd_api_call *c, const char *key, int64_t def, int64_t *out)
{
    const char *v = hd_http_query(c->req, key);
    if (v == NULL || v[0] == '\0') {
        *out = def;
        return HD_OK;
    }
    int64_t n = 0;
    if (hd_parse_i64(v, &n) == HD_OK && n >= 0) {
        *out = n;
        return HD_OK;
    }
    const char *d = v[0] == '-' ? v + 1 : v;
    int64_t ms = 0;
    if (hd_parse_duration_ms(d, &ms) == HD_OK && ms >= 0) {
        int64_t now = hd_now_ms();
        *out = ms > now ? 0 : now - ms;
        return HD_OK;
    }
    hd_http_error(c->resp, 400, "%s: '%.64s' is neither epoch milliseconds nor a duration like -1h", key, v);
    return HD_EINVAL;
}

/* time=event (default: the source's time, timestampUs) or time=received
 * (arrival, receivedUs): what from/to (and the stats buckets) are on. */
static int time_basis(struct hd_api_call *c, int *by_received)
{
    const char *v = hd_http_query(c->req, "time");
    *by_received = 0;
    if (v == NULL || v[0] == '\0' || strcmp(v, "event") == 0) {
        return HD_OK;
    }
    if (strcmp(v, "received") == 0) {
        *by_received = 1;
        return HD_OK;
    }
    hd_http_error(c->resp, 400, "time: '%.32s' is not event or received", v);
    return HD_EINVAL;
}

/* Fills the filters shared by GET /api/events and /api/stats (strings are
 * borrowed from the request); answers 400 on junk. */
int hd_api_event_filters(struct hd_api_call *c, struct hd_event_query *q)
{
    memset(q, 0, sizeof(*q));
    q->severity = -1;
    int64_t from = 0, to = 0;
    if (query_time_ms(c, "from", 0, &from) != HD_OK || query_time_ms(c, "to", 0, &to) != HD_OK) {
        return HD_EINVAL;
    }
    if (to > INT64_MAX / 1000 - 1 || from > INT64_MAX / 1000 - 1) {
        hd_http_error(c->resp, 400, "from/to: out of range");
        return HD_EINVAL;
    }
    if (to > 0 && from > to) {
        hd_http_error(c->resp, 400, "from: %lld is after to %lld", (long long)from, (long long)to);
        return HD_EINVAL;
    }
    q->from_us = from * 1000;
    q->to_us = to > 0 ? to * 1000 + 999 : 0;
    int64_t sev = -1;
    if (hd_api_query_i64(c, "severity", -1, &sev) != HD_OK) {
        return HD_EINVAL;
    }
    if (sev < -1 || sev > 7) {
        hd_http_error(c->resp, 400, "severity: %lld is not 0..7", (long long)sev);
        return HD_EINVAL;
    }
    q->severity = (int)sev;
    int64_t exact = -1;
    if (hd_api_query_i64(c, "severityExact", -1, &exact) != HD_OK) {
        return HD_EINVAL;
    }
    if (exact < -1 || exact > 7) {
        hd_http_error(c->resp, 400, "severityExact: %lld is not 0..7", (long long)exact);
        return HD_EINVAL;
    }
    if (exact >= 0) {
        q->severity_min = (int)exact;
        q->severity = q->severity < 0 || exact < q->severity ? (int)exact : q->severity;
    }
    if (time_basis(c, &q->by_received) != HD_OK) {
        return HD_EINVAL;
    }
    const char *state = hd_http_query(c->req, "state");
    if (state != NULL && state[0] != '\0') {
        char up[16];
        size_t i = 0;
        for (; state[i] != '\0' && i + 1 < sizeof(up); i++) {
            up[i] = (char)toupper((unsigned char)state[i]);
        }
        up[i] = '\0';
        enum hd_state s;
        if (state[i] != '\0' || hd_state_parse(up, &s) != HD_OK) {
            hd_http_error(c->resp, 400, "state: '%.32s' is not ACTIVE, OK or RESOLVED", state);
            return HD_EINVAL;
        }
        q->state = hd_state_name(s);
    }
    const char *v = hd_http_query(c->req, "source");
    q->source = (v != NULL && v[0] != '\0') ? v : NULL;
    v = hd_http_query(c->req, "namespace");
    q->ns = (v != NULL && v[0] != '\0') ? v : NULL;
    v = hd_http_query(c->req, "rule");
    q->rule = (v != NULL && v[0] != '\0') ? v : NULL;
    v = hd_http_query(c->req, "q");
    q->q = (v != NULL && v[0] != '\0') ? v : NULL;
    return HD_OK;
}

/* GET /api/events: the filters above, limit (default 100, at most 1000),
 * sort=arrival (default: newest stored first, paged by cursor = nextCursor)
 * or sort=severity (the limit most severe events of the filters, then the
 * newest: the dashboard's "recent alerts"; one page, cursor refused). */

/* The event just written to o (ending with '}') gets "silencedBy":[id] when a
 * silence held it back (SPEC 4: stored and shown, marked with the silence). */
static int put_silenced(struct hd_buf *o, const struct hd_silence_set *si, const struct hd_event *ev)
{
    const struct hd_silence_rt *hit = hd_silence_set_match(si, ev);
    if (hit == NULL) {
        return HD_OK;
    }
    if (o->len == 0 || o->p[o->len - 1] != '}') {
        return HD_EINVAL;
    }
    o->len--;
    return hd_buf_printf(o, "%s\"silencedBy\":[%lld]}", o->p[o->len - 1] == '{' ? "" : ",",
                         (long long)hit->id);
}

void hd_api_events_list(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    struct hd_event_query q;
    if (hd_api_event_filters(c, &q) != HD_OK) {
        return;
    }
    int64_t cursor = 0;
    if (hd_api_query_limit(c, EV_LIMIT_DEFAULT, EV_LIMIT_MAX, &q.limit) != HD_OK ||
        hd_api_query_i64(c, "cursor", 0, &cursor) != HD_OK) {
        return;
    }
    if (cursor < 0) {
        hd_http_error(c->resp, 400, "cursor: must be a positive sequence number");
        return;
    }
    q.before_seq = cursor;
    q.max_bytes = HD_API_PAGE_BYTES;
    const char *sort = hd_http_query(c->req, "sort");
    if (sort != NULL && sort[0] != '\0' && strcmp(sort, "arrival") != 0) {
        if (strcmp(sort, "severity") != 0) {
            hd_http_error(c->resp, 400, "sort: '%.32s' is not arrival or severity", sort);
            return;
        }
        if (cursor > 0) {
            hd_http_error(c->resp, 400, "cursor: sort=severity answers one page (raise limit, up to %d)",
                          EV_LIMIT_MAX);
            return;
        }
        q.sort = HD_SORT_SEVERITY;
    }
    struct hd_event *evs = NULL;
    size_t n = 0;
    int64_t next = 0;
    int rc = st->ops->events_query(st, &q, &evs, &n, &next, &err);
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while querying events");
        return;
    }
    struct hd_silence_set si;
    struct hd_err serr = {0};
    if (hd_silence_set_load(st, hd_now_ms(), HD_SILENCE_KEEP_MS, &si, &serr) != HD_OK) {
        memset(&si, 0, sizeof(si)); /* shown without the marks rather than not at all */
    }
    struct hd_buf *o = &c->resp->body;
    hd_buf_reset(o);
    int wrc = hd_buf_puts(o, "{\"events\":[");
    for (size_t i = 0; i < n && wrc == HD_OK; i++) {
        if (i > 0) {
            wrc = hd_buf_putc(o, ',');
        }
        if (wrc == HD_OK) {
            wrc = hd_event_to_json(&evs[i], 1, o);
        }
        if (wrc == HD_OK) {
            wrc = put_silenced(o, &si, &evs[i]);
        }
    }
    hd_silence_set_clear(&si);
    if (wrc == HD_OK) {
        wrc = next > 0 ? hd_buf_printf(o, "],\"nextCursor\":\"%lld\"}", (long long)next)
                       : hd_buf_puts(o, "],\"nextCursor\":null}");
    }
    if (wrc != HD_OK) {
        hd_http_error(c->resp, 500, "out of memory");
    } else {
        c->resp->status = 200;
    }
    hd_events_free(evs, n);
}

/* Event ids are 32 lowercase hex digits; anything else is simply not found. */
static int event_id_ok(const char *s, char out[33])
{
    size_t n = strlen(s);
    if (n != 32) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    out[n] = '\0';
    return 1;
}

static const char *row_status(enum hd_delivery_status s)
{
    switch (s) {
    case HD_DELIVERY_PENDING: return "pending";
    case HD_DELIVERY_FAILED: return "failed";
    default: return "delivered";
    }
}

static int put_delivery(struct hd_buf *o, int first, int64_t channel_id, const char *channel_name,
                        const char *status, const struct hd_delivery *row)
{
    int rc =
        hd_buf_printf(o, "%s{\"channelId\":%lld,\"channelName\":", first ? "" : ",", (long long)channel_id);
    if (rc == HD_OK) {
        rc = channel_name != NULL ? hd_buf_json_str(o, channel_name, strlen(channel_name))
                                  : hd_buf_puts(o, "null");
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(o, ",\"status\":\"%s\",\"attempts\":%d", status, row != NULL ? row->attempts : 0);
    }
    if (rc == HD_OK && row != NULL && row->last_status > 0) {
        rc = hd_buf_printf(o, ",\"lastStatus\":%d", row->last_status);
    }
    if (rc == HD_OK && row != NULL && row->status == HD_DELIVERY_PENDING && row->next_ms > 0) {
        rc = hd_buf_printf(o, ",\"nextAttemptAt\":%lld", (long long)row->next_ms);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(o, ",\"lastError\":");
    }
    if (rc == HD_OK) {
        const char *e = row != NULL ? row->last_error : NULL;
        rc = e != NULL ? hd_buf_json_str(o, e, strlen(e)) : hd_buf_puts(o, "null");
    }
    if (rc == HD_OK) {
        rc = hd_buf_putc(o, '}');
    }
    return rc;
}

/* Status of the event for one channel without an exception row: channels
 * that did not exist when it arrived are left out (NULL), filtered ones say
 * so, a disabled channel says "disabled" (it skips what arrives while
 * disabled, and the store does not tell that from what it delivered before),
 * otherwise the cursor tells delivered from pending. */
static const char *implicit_status(struct hd_store *st, const struct hd_channel_rec *ch,
                                   const struct hd_event *ev, const struct hd_silence_set *si)
{
    struct hd_err err = {0};
    if (ch->created_ms > 0 && ev->recv_us / 1000 < ch->created_ms) {
        return NULL;
    }
    if (!ch->enabled) {
        return "disabled";
    }
    struct hd_channel *rt = hd_channel_new(ch->id, ch->version, ch->json, &err);
    if (rt != NULL) {
        int accepts = hd_filter_accepts(&rt->common, ev);
        int silenced = accepts && rt->common.respect_silences && hd_silence_set_match(si, ev) != NULL;
        hd_channel_free(rt);
        if (!accepts) {
            return "filtered";
        }
        if (silenced) {
            return "silenced";
        }
    }
    int64_t cursor = 0;
    if (st->ops->cursor_get(st, ch->id, &cursor, &err) != HD_OK) {
        return "pending";
    }
    return ev->seq > cursor ? "pending" : "delivered";
}

void hd_api_event_get(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    char id[33];
    struct hd_event ev;
    memset(&ev, 0, sizeof(ev));
    struct hd_channel_rec *chs = NULL;
    size_t nch = 0;
    struct hd_delivery *rows = NULL;
    size_t nrows = 0;
    if (!event_id_ok(c->arg, id)) {
        hd_http_error(c->resp, 404, "event '%.64s' not found", c->arg);
        return;
    }
    int rc = st->ops->event_get(st, id, &ev, &err);
    if (rc == HD_ENOTFOUND) {
        hd_http_error(c->resp, 404, "event %s not found", id);
        return;
    }
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while reading the event");
        return;
    }
    rc = st->ops->channel_list(st, &chs, &nch, &err);
    if (rc == HD_OK) {
        rc = st->ops->deliveries_of_event(st, ev.seq, &rows, &nrows, &err);
    }
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while reading deliveries");
        goto out;
    }
    struct hd_silence_set si;
    struct hd_err serr = {0};
    if (hd_silence_set_load(st, hd_now_ms(), HD_SILENCE_KEEP_MS, &si, &serr) != HD_OK) {
        memset(&si, 0, sizeof(si));
    }
    struct hd_buf *o = &c->resp->body;
    hd_buf_reset(o);
    int wrc = hd_buf_puts(o, "{\"event\":");
    if (wrc == HD_OK) {
        wrc = hd_event_to_json(&ev, 1, o);
    }
    if (wrc == HD_OK) {
        wrc = put_silenced(o, &si, &ev);
    }
    /* Splice "deliveries" into the event object. */
    if (wrc == HD_OK && (o->len == 0 || o->p[o->len - 1] != '}')) {
        wrc = HD_EINVAL;
    }
    if (wrc == HD_OK) {
        o->len--;
        wrc = hd_buf_puts(o, o->p[o->len - 1] == '{' ? "\"deliveries\":[" : ",\"deliveries\":[");
    }
    int first = 1;
    for (size_t i = 0; i < nch && wrc == HD_OK; i++) {
        const struct hd_delivery *row = NULL;
        for (size_t k = 0; k < nrows; k++) {
            if (rows[k].channel_id == chs[i].id) {
                row = &rows[k];
                break;
            }
        }
        const char *status = row != NULL ? row_status(row->status) : implicit_status(st, &chs[i], &ev, &si);
        if (status == NULL) {
            continue;
        }
        wrc = put_delivery(o, first, chs[i].id, chs[i].name, status, row);
        first = 0;
    }
    /* Rows of channels deleted since (their dead letters stay visible). */
    for (size_t k = 0; k < nrows && wrc == HD_OK; k++) {
        size_t i = 0;
        while (i < nch && chs[i].id != rows[k].channel_id) {
            i++;
        }
        if (i < nch) {
            continue;
        }
        wrc = put_delivery(o, first, rows[k].channel_id, NULL, row_status(rows[k].status), &rows[k]);
        first = 0;
    }
    if (wrc == HD_OK) {
        wrc = hd_buf_puts(o, "]}}");
    }
    if (wrc != HD_OK) {
        hd_http_error(c->resp, 500, "cannot render event %s", id);
    } else {
        c->resp->status = 200;
    }
    hd_silence_set_clear(&si);
out:
    hd_deliveries_free(rows, nrows);
    hd_channel_recs_free(chs, nch);
    hd_event_clear(&ev);
}
