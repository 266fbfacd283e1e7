/* dispatcher.c - per-channel delivery from the event log to the sinks.
 *
 * DESIGN: one loop thread owns the http client (curl multi), every runtime
 * channel (struct dchan) and their timers; nothing else touches a dchan except
 * its published status (see "Shared state" below). Per channel:
 *
 *  - cursor: last seq handed over. Events after it are read in seq order into
 *    a small read-ahead buffer (a few times the batch size, bounded memory),
 *    filtered on their columns (skipped events only move the cursor), and up
 *    to max_batch accepted events are rendered into one request.
 *  - at most one request in flight, so a channel's events arrive in order
 *    (except retried items). Due retries (PENDING rows) go before new events.
 *  - on the answer, classify gives per-item verdicts and ONE store progress
 *    call records the rows with the cursor: DELIVERED (deletes a retried row),
 *    PENDING (attempts+1, next_ms = now + full-jitter backoff, never earlier
 *    than Retry-After; FAILED once older than max_retry_age_ms) and FAILED
 *    rows (dead letters with the sink's status and answer).
 *    An answer that needs no row (all delivered) only moves the cursor in
 *    memory; it is persisted at most every CURSOR_FLUSH_MS, with the next
 *    row write and at stop: one durable write per batch would cap a
 *    one-event-per-request channel at the fsync rate, and a kill -9 only
 *    re-sends the last CURSOR_FLUSH_MS of deliveries (at least once).
 *  - a render error dead-letters the event that cannot be rendered: a failed
 *    batch is halved until the bad event is alone (this also copes with a
 *    driver refusing an oversized batch).
 *
 * Circuit breaker policy: a request whose overall verdict is RETRY (5xx, 408,
 * 429, transport error) is a failure; any other answer resets the count. For a
 * batch of NEW events failing when consecutive_failures + 1 >= threshold, no
 * row is recorded and the cursor stays: the events are still in the log, and
 * an outage does not turn the whole backlog into retry rows. Below the
 * threshold the failed items become PENDING rows and the cursor moves on.
 * At the threshold the breaker opens: the channel sends nothing until its
 * backoff (retry_initial_ms, doubling to retry_max_ms, at least Retry-After)
 * expires, then ONE request (half-open: due retries first, else new events);
 * success closes the breaker, failure doubles the backoff.
 *
 * Disabled channels deliver nothing and their cursor follows the log (they
 * skip, not queue): otherwise a disabled channel would pin the log against
 * pruning and count as backlog for ingest backpressure.
 *
 * Acknowledgements (channel types with ack hooks and ch->ack_timeout_ms > 0:
 * SPLUNK useAck). An answer that classifies DELIVERED and carries an ack id
 * is not a delivery yet: ONE progress call records the batch's events as
 * PENDING rows with next_ms = now + ack timeout ("awaiting acknowledgement
 * (id N)" in last_error) together with the cursor, and the batch (struct
 * dack) waits in memory. So the cursor moves on (the channel keeps sending)
 * while a kill -9 loses nothing: after a restart the rows simply come due
 * at their deadline and are re-sent (at least once). Every ACK_POLL_MS the
 * ids are queried (ack_render, up to ACK_POLL_MAX_IDS per request, in the
 * channel's one in-flight slot, first when due); confirmed batches become
 * DELIVERED rows (deleted), counted and timed only then. A batch still
 * unconfirmed at its deadline is expired BEFORE due retries are read: its
 * rows become due now with "not acknowledged within N ms" (or dead once
 * older than max_retry_age_ms), so the retry path re-sends it. Ack ids
 * belong to the struct hd_channel that got them (Splunk: its channel GUID):
 * a reload drops the in-memory batches, whose rows then come due at their
 * deadline. At most ACK_MAX_AWAITING batches wait per channel; beyond that
 * the channel only polls. Channels without ack hooks never reach this code.
 *
 * Lifetimes: a request in flight (struct dreq) copies what it needs of its
 * events; it borrows the struct hd_channel that rendered it, and takes that
 * channel over if the channel is reloaded or deleted meanwhile. On completion
 * the dchan is looked up by id: a deleted channel's answer is dropped.
 *
 * Shared state: d->lock guards the dchan list structure, each dchan's name and
 * pub (published status) and d->total_backlog. Only the loop thread writes
 * them; API threads read them under the lock. reload_req / stopping /
 * stop_deadline_ms are atomics; wakeups go through curl_multi_wakeup.
 */
#include "route/dispatcher.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "net/http_client.h"
#include "route/filter.h"
#include "route/throttle.h"

#define NEVER INT64_MAX
#define MAX_POLL_MS 1000
#define CURSOR_FLUSH_MS 250
#define PENDING_REFRESH_MS 5000
#define RETRY_RECHECK_MS 1000
#define READS_PER_TURN 8
#define READ_AHEAD_MIN 64
#define ACK_POLL_MS 1000
#define ACK_POLL_MAX_IDS 1000
#define ACK_MAX_AWAITING 256

struct ditem { /* one event of a request in flight */
    int64_t seq;
    char id[33];
    int64_t recv_us;
    int attempts;     /* of its PENDING row; 0 for a new event */
    int64_t first_ms; /* of its PENDING row */
};

struct dreq {          /* a request in flight */
    struct dreq *next; /* d->reqs */
    int64_t channel_id;
    struct hd_channel *ch; /* rendered it; classify uses it */
    int owns_ch;           /* set when the dchan dropped ch meanwhile */
    struct ditem *items;
    size_t n;
    int is_retry;
    int64_t new_cursor; /* new events: the cursor once answered */
    int64_t *ack_ids;   /* set: an acknowledgement query for these ids */
    size_t n_ack_ids;
    char host[128];
};

struct dack { /* a batch accepted by the sink, awaiting confirmation */
    struct dack *next;
    int64_t ack_id;
    struct ditem *items; /* attempts / first_ms as recorded in its rows */
    size_t n;
    int64_t deadline_ms; /* = next_ms of its PENDING rows */
};

struct dchan {
    struct dchan *next;
    int64_t id;
    int64_t version;
    char *name; /* lock */
    int enabled;
    struct hd_channel *ch; /* NULL when the stored object does not load */
    int64_t cursor;        /* next events: seq > cursor */
    int64_t saved_cursor;  /* as persisted */
    int64_t saved_at_ms;
    struct hd_event *buf; /* read-ahead: buf[buf_pos..buf_n) follow cursor */
    size_t buf_n;
    size_t buf_pos;
    struct dreq *inflight;
    int consecutive_failures;
    int breaker_open;
    int64_t backoff_ms;      /* breaker backoff, 0 when closed */
    int64_t next_attempt_ms; /* the channel sends nothing before (wall ms) */
    int64_t retry_check_ms;  /* next look for due retries, NEVER if none pending */
    int64_t pending;         /* PENDING rows, refreshed every few seconds */
    int64_t pending_at_ms;
    int64_t delivered;
    int64_t failed;
    int64_t last_success_ms;
    char last_error[256];
    struct dack *acks; /* awaiting confirmation, oldest first */
    struct dack **acks_tail;
    size_t n_acks;
    int64_t ack_poll_ms;          /* next acknowledgement query */
    int seen;                     /* reload mark */
    struct hd_channel_status pub; /* lock */
};

struct hd_dispatcher {
    struct hd_store *st;
    struct hd_dispatch_config cfg;
    struct hd_http_client *http;
    struct dchan *chans; /* list structure: lock */
    struct dreq *reqs;   /* every request in flight, loop only */
    uint64_t rng;
    pthread_t th;
    int started;
    atomic_int reload_req;
    atomic_int stopping;
    _Atomic int64_t stop_deadline_ms; /* monotonic */
    pthread_mutex_t lock;
    int64_t total_backlog; /* lock */
};

/* ---- small helpers ----------------------------------------------------- */

void hd_dispatch_config_defaults(struct hd_dispatch_config *c)
{
    c->retry_initial_ms = 1000;
    c->retry_max_ms = 300000;
    c->max_retry_age_ms = 24LL * 3600 * 1000;
    c->breaker_threshold = 5;
    c->read_batch = 1000;
}

static uint64_t rng_next(struct hd_dispatcher *d)
{
    uint64_t x = d->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    d->rng = x;
    return x;
}

/* Exponential backoff for the attempts-th failure (1-based), capped. */
static int64_t backoff_cap(const struct hd_dispatch_config *cfg, int attempts)
{
    int64_t v = cfg->retry_initial_ms;
    for (int i = 1; i < attempts && v < cfg->retry_max_ms; i++) {
        v *= 2;
    }
    return v < cfg->retry_max_ms ? v : cfg->retry_max_ms;
}

/* host[:port] of url, without scheme, credentials, path or query. */
static void url_host(const char *url, char *out, size_t outsz)
{
    out[0] = '\0';
    if (url == NULL) {
        return;
    }
    const char *p = strstr(url, "://");
    p = p != NULL ? p + 3 : url;
    size_t end = strcspn(p, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < end; i++) {
        if (p[i] == '@') {
            at = p + i;
        }
    }
    if (at != NULL) {
        end -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (end >= outsz) {
        end = outsz - 1;
    }
    memcpy(out, p, end);
    out[end] = '\0';
}

/* "HTTP 503: <start of the body>" or the transport error, for logs and
 * last_error. Control bytes become spaces so a log line stays one line. */
static void describe(const struct hd_response *resp, char *out, size_t outsz)
{
    if (resp->status == 0) {
        snprintf(out, outsz, "%s", resp->error[0] != '\0' ? resp->error : "transport error");
        return;
    }
    int n = snprintf(out, outsz, "HTTP %ld", resp->status);
    if (n < 0 || (size_t)n >= outsz || resp->body.len == 0) {
        return;
    }
    size_t pos = (size_t)n;
    const char *sep = ": ";
    if (pos + 2 < outsz) {
        memcpy(out + pos, sep, 2);
        pos += 2;
    }
    size_t take = resp->body.len;
    if (take > 200) {
        take = 200;
    }
    for (size_t i = 0; i < take && pos + 1 < outsz; i++) {
        unsigned char ch = (unsigned char)resp->body.p[i];
        out[pos++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    out[pos] = '\0';
}

/* Prometheus label value: backslash, quote and newline escaped. */
static void label_value(const char *s, char *out, size_t outsz)
{
    size_t o = 0;
    for (; s != NULL && *s != '\0' && o + 3 < outsz; s++) {
        if (*s == '\\' || *s == '"') {
            out[o++] = '\\';
            out[o++] = *s;
        } else if (*s == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

static void count_outcome(const struct dchan *c, const char *outcome, int64_t n)
{
    if (n <= 0) {
        return;
    }
    char name[300];
    char labels[400];
    label_value(c->name, name, sizeof(name));
    snprintf(labels, sizeof(labels), "channel=\"%s\",outcome=\"%s\"", name, outcome);
    hd_metrics_add("herald_deliveries_total", labels, n);
}

static size_t batch_limit(const struct hd_dispatcher *d, const struct dchan *c)
{
    size_t lim = c->ch->type->max_batch;
    if (c->ch->common.batch_max_events > 0 && c->ch->common.batch_max_events < lim) {
        lim = c->ch->common.batch_max_events;
    }
    if (lim > d->cfg.read_batch) {
        lim = d->cfg.read_batch;
    }
    return lim > 0 ? lim : 1;
}

static struct dchan *chan_find(struct hd_dispatcher *d, int64_t id)
{
    for (struct dchan *c = d->chans; c != NULL; c = c->next) {
        if (c->id == id) {
            return c;
        }
    }
    return NULL;
}

static void buf_drop(struct dchan *c)
{
    hd_events_free(c->buf, c->buf_n);
    c->buf = NULL;
    c->buf_n = 0;
    c->buf_pos = 0;
}

/* Moves the in-memory cursor to seq and forgets buffered events up to it. */
static void cursor_move(struct dchan *c, int64_t seq)
{
    if (seq <= c->cursor) {
        return;
    }
    c->cursor = seq;
    while (c->buf_pos < c->buf_n && c->buf[c->buf_pos].seq <= seq) {
        c->buf_pos++;
    }
    if (c->buf_pos >= c->buf_n) {
        buf_drop(c);
    }
}

static void dreq_free(struct dreq *r)
{
    if (r == NULL) {
        return;
    }
    if (r->owns_ch) {
        hd_channel_free(r->ch);
    }
    free(r->items);
    free(r->ack_ids);
    free(r);
}

static void dreq_unlink(struct hd_dispatcher *d, struct dreq *r)
{
    for (struct dreq **pp = &d->reqs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    r->next = NULL;
}

/* Drops c->ch; a request in flight rendered with it takes it over, since
 * its answer is classified by the channel that rendered it. */
static void acks_drop(struct dchan *c)
{
    while (c->acks != NULL) {
        struct dack *a = c->acks;
        c->acks = a->next;
        free(a->items);
        free(a);
    }
    c->acks_tail = &c->acks;
    c->n_acks = 0;
    c->ack_poll_ms = NEVER;
}

static void chan_retire_ch(struct dchan *c)
{
    acks_drop(c); /* their ids mean nothing to the next hd_channel (see DESIGN) */
    if (c->inflight != NULL && c->inflight->ch == c->ch) {
        c->inflight->owns_ch = 1;
    } else {
        hd_channel_free(c->ch);
    }
    c->ch = NULL;
}

static void chan_free(struct dchan *c)
{
    if (c == NULL) {
        return;
    }
    chan_retire_ch(c);
    c->inflight = NULL;
    buf_drop(c);
    free(c->name);
    free(c);
}

static void set_last_error(struct dchan *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_last_error(struct dchan *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
    va_end(ap);
}

/* ---- store writes ------------------------------------------------------ */

/* Persists the cursor and rows in one store transaction; on success the
 * in-memory cursor follows. new_cursor < 0 leaves the cursor. */
static int chan_progress(struct hd_dispatcher *d, struct dchan *c, int64_t new_cursor,
                         const struct hd_delivery *ups, size_t n)
{
    struct hd_err err = {0};
    int64_t cur = new_cursor;
    if (cur < c->cursor && c->cursor != c->saved_cursor) {
        cur = c->cursor; /* take the lazily kept cursor along */
    }
    int rc = d->st->ops->progress(d->st, c->id, cur, ups, n, &err);
    if (rc != HD_OK) {
        hd_log(HD_LOG_ERROR, "channel=%s while recording delivery progress: %s", c->name, err.msg);
        set_last_error(c, "store: %s", err.msg);
        c->next_attempt_ms = hd_now_ms() + 1000; /* don't spin on a failing store */
        return rc;
    }
    if (cur >= 0) {
        cursor_move(c, cur);
        c->saved_cursor = cur;
        c->saved_at_ms = hd_now_ms();
    }
    if (n > 0) {
        c->pending_at_ms = 0; /* rows changed: recount */
    }
    return HD_OK;
}

/* The in-memory cursor only ever covers answered or filtered events, so it
 * can be persisted while a later batch is in flight. */
static void flush_cursor(struct hd_dispatcher *d, struct dchan *c, int64_t now, int force)
{
    if (c->cursor == c->saved_cursor) {
        return;
    }
    if (!force && now - c->saved_at_ms < CURSOR_FLUSH_MS) {
        return;
    }
    chan_progress(d, c, c->cursor, NULL, 0);
}

/* Dead-letters one event that cannot be rendered (new event or retried row). */
static int dead_letter_render(struct hd_dispatcher *d, struct dchan *c, const struct hd_event *ev,
                              const struct hd_delivery *row, const char *why)
{
    int64_t now = hd_now_ms();
    struct hd_delivery up = {
        .channel_id = c->id,
        .event_seq = ev != NULL ? ev->seq : row->event_seq,
        .status = HD_DELIVERY_FAILED,
        .attempts = row != NULL ? row->attempts + 1 : 1,
        .first_ms = row != NULL ? row->first_ms : now,
        .updated_ms = now,
        .last_error = (char *)why,
    };
    snprintf(up.event_id, sizeof(up.event_id), "%s", ev != NULL ? ev->id : row->event_id);
    hd_log(HD_LOG_WARN, "channel=%s while rendering event %s: %s (dead-lettered)", c->name, up.event_id, why);
    int rc = chan_progress(d, c, row != NULL ? -1 : up.event_seq, &up, 1);
    if (rc == HD_OK) {
        c->failed++;
        count_outcome(c, "failed", 1);
        set_last_error(c, "render: %s", why);
    }
    return rc;
}

/* ---- sending ----------------------------------------------------------- */

static void on_answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r,
                      const struct hd_response *resp);
static void on_ack_answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r,
                          const struct hd_response *resp);

static void answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r, const struct hd_response *resp)
{
    if (r->ack_ids != NULL) {
        on_ack_answer(d, c, r, resp);
    } else {
        on_answer(d, c, r, resp);
    }
}

/* Puts r in flight with req (taken over); a request that cannot be sent is
 * answered at once as a transport error. */
static void launch(struct hd_dispatcher *d, struct dchan *c, struct hd_request *req, struct dreq *r)
{
    url_host(req->url, r->host, sizeof(r->host));
    if (req->timeout_ms == 0) {
        req->timeout_ms = c->ch->common.timeout_ms;
    }
    if (req->tls == NULL) {
        req->tls = &c->ch->common.tls; /* applied at submit: borrowed only here */
    }
    c->inflight = r;
    r->next = d->reqs;
    d->reqs = r;
    int rc = hd_http_client_submit(d->http, req, r);
    if (rc != HD_OK) {
        /* Not sent (no URL, out of memory): answer it as a transport error
         * so the items follow the normal retry path. */
        struct hd_response resp;
        hd_response_init(&resp);
        snprintf(resp.error, sizeof(resp.error), "request not sent: %s", hd_strerror(rc));
        dreq_unlink(d, r);
        c->inflight = NULL;
        answer(d, c, r, &resp);
        hd_response_clear(&resp);
        dreq_free(r);
    }
}

/* Renders evs[0..*m) into req, halving the batch until it renders. Returns
 * HD_OK with *m events rendered, or an error with *m == 1 and err naming the
 * problem of evs[0]. */
static int render_some(struct dchan *c, const struct hd_event **evs, size_t *m, struct hd_request *req,
                       struct hd_err *err)
{
    for (;;) {
        hd_request_init(req);
        memset(err, 0, sizeof(*err));
        int rc = c->ch->type->render(c->ch, (const struct hd_event *const *)evs, *m, req, err);
        if (rc == HD_OK) {
            return HD_OK;
        }
        hd_request_clear(req);
        if (*m == 1) {
            if (err->msg[0] == '\0') {
                snprintf(err->msg, sizeof(err->msg), "%s", hd_strerror(rc));
            }
            return rc;
        }
        *m /= 2;
    }
}

/* Takes over req and items; the answer comes back through on_answer. */
static void submit(struct hd_dispatcher *d, struct dchan *c, struct hd_request *req, struct ditem *items,
                   size_t n, int is_retry, int64_t new_cursor)
{
    struct dreq *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        hd_request_clear(req);
        free(items);
        c->next_attempt_ms = hd_now_ms() + 1000;
        return;
    }
    r->channel_id = c->id;
    r->ch = c->ch;
    r->items = items;
    r->n = n;
    r->is_retry = is_retry;
    r->new_cursor = new_cursor;
    launch(d, c, req, r);
}

static struct ditem *items_of(const struct hd_event *const *evs, const struct hd_delivery *rows, size_t m)
{
    struct ditem *items = calloc(m, sizeof(*items));
    if (items == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < m; i++) {
        items[i].seq = evs[i]->seq;
        memcpy(items[i].id, evs[i]->id, sizeof(items[i].id));
        items[i].id[sizeof(items[i].id) - 1] = '\0';
        items[i].recv_us = evs[i]->recv_us;
        if (rows != NULL) {
            items[i].attempts = rows[i].attempts;
            items[i].first_ms = rows[i].first_ms;
        }
    }
    return items;
}

static void refresh_pending(struct hd_dispatcher *d, struct dchan *c, int64_t now)
{
    struct hd_err err = {0};
    int64_t cnt = 0;
    if (d->st->ops->pending_count(d->st, c->id, &cnt, &err) == HD_OK) {
        c->pending = cnt;
    }
    c->pending_at_ms = now;
}

/* Sends one batch of due retries. Returns 1 if a request went out (or a row
 * was settled and the caller should look again), 0 if nothing was due. */
static int start_retries(struct hd_dispatcher *d, struct dchan *c, int64_t now)
{
    struct hd_err err = {0};
    struct hd_delivery *rows = NULL;
    size_t k = 0;
    struct hd_event *evs = NULL;
    const struct hd_event **ptrs = NULL;
    struct hd_delivery *sent_rows = NULL;
    int ret = 0;

    size_t lim = batch_limit(d, c);
    if (d->st->ops->due_retries(d->st,
                                &(struct hd_delivery_query){.channel_id = c->id, .now_ms = now, .limit = lim},
                                &rows, &k, &err) != HD_OK) {
        hd_log(HD_LOG_ERROR, "channel=%s while reading due retries: %s", c->name, err.msg);
        c->retry_check_ms = now + 5 * RETRY_RECHECK_MS;
        goto out;
    }
    if (k == 0) {
        refresh_pending(d, c, now);
        c->retry_check_ms = c->pending > 0 ? now + RETRY_RECHECK_MS : NEVER;
        goto out;
    }
    c->retry_check_ms = now; /* more may be due after this batch */
    evs = calloc(k, sizeof(*evs));
    ptrs = calloc(k, sizeof(*ptrs));
    sent_rows = calloc(k, sizeof(*sent_rows));
    if (evs == NULL || ptrs == NULL || sent_rows == NULL) {
        goto out;
    }
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        struct hd_err gerr = {0};
        if (d->st->ops->event_get_seq(d->st, rows[i].event_seq, &evs[m], &gerr) != HD_OK) {
            dead_letter_render(d, c, NULL, &rows[i], "event no longer stored");
            ret = 1;
            goto out;
        }
        ptrs[m] = &evs[m];
        sent_rows[m] = rows[i];
        m++;
    }
    struct hd_request req;
    size_t rendered = m;
    if (render_some(c, ptrs, &rendered, &req, &err) != HD_OK) {
        dead_letter_render(d, c, ptrs[0], &sent_rows[0], err.msg);
        ret = 1;
        goto out;
    }
    struct ditem *items = items_of(ptrs, sent_rows, rendered);
    if (items == NULL) {
        hd_request_clear(&req);
        goto out;
    }
    submit(d, c, &req, items, rendered, 1, -1);
    ret = 1;
out:
    hd_events_free(evs, k);
    free(ptrs);
    free(sent_rows);
    hd_deliveries_free(rows, k);
    return ret;
}

/* Reads, filters and sends the next batch of new events. */
static void start_new(struct hd_dispatcher *d, struct dchan *c, int64_t max_seq, int64_t *next_ms)
{
    size_t lim = batch_limit(d, c);
    size_t ahead = lim * 4;
    if (ahead < READ_AHEAD_MIN) {
        ahead = READ_AHEAD_MIN;
    }
    if (ahead > d->cfg.read_batch) {
        ahead = d->cfg.read_batch;
    }
    const struct hd_event **ptrs = calloc(lim, sizeof(*ptrs));
    if (ptrs == NULL) {
        return;
    }
    for (int turn = 0; turn < READS_PER_TURN; turn++) {
        if (c->buf_pos >= c->buf_n) {
            struct hd_err err = {0};
            buf_drop(c);
            if (c->cursor >= max_seq) {
                goto out;
            }
            if (d->st->ops->events_after(d->st, c->cursor, ahead, &c->buf, &c->buf_n, &err) != HD_OK) {
                hd_log(HD_LOG_ERROR, "channel=%s while reading events after %lld: %s", c->name,
                       (long long)c->cursor, err.msg);
                c->next_attempt_ms = hd_now_ms() + 1000;
                goto out;
            }
            c->buf_pos = 0;
            if (c->buf_n == 0) {
                buf_drop(c);
                goto out;
            }
        }
        /* batch.maxDelayMs: a batch shorter than the limit, with nothing more
         * in the log, waits for more events until its oldest event has been
         * here maxDelayMs (counted from arrival, so a backlog never waits).
         * Checked before filters and throttle, which have side effects. */
        if (c->ch->common.batch_max_delay_ms > 0 && c->buf_n - c->buf_pos < lim &&
            c->buf[c->buf_n - 1].seq >= max_seq) {
            int64_t due = c->buf[c->buf_pos].recv_us / 1000 + c->ch->common.batch_max_delay_ms;
            if (hd_now_ms() < due) {
                if (c->buf_pos == 0) {
                    buf_drop(c); /* re-read at the deadline: the batch takes what came meanwhile */
                }
                if (due < *next_ms) {
                    *next_ms = due;
                }
                goto out;
            }
        }
        size_t m = 0;
        int64_t last_seq = c->cursor;
        for (size_t i = c->buf_pos; i < c->buf_n && m < lim; i++) {
            const struct hd_event *ev = &c->buf[i];
            last_seq = ev->seq;
            if (!hd_filter_accepts(&c->ch->common, ev)) {
                continue;
            }
            /* options.throttle: suppressed events move the cursor like filtered ones. */
            enum hd_throttle_result th = hd_throttle_check(c->id, &c->ch->common, &c->buf[i]);
            if (th == HD_THROTTLE_SUPPRESSED) {
                count_outcome(c, "throttled", 1);
            }
            if (th == HD_THROTTLE_PASS) {
                ptrs[m++] = ev;
            }
        }
        if (m == 0) {
            cursor_move(c, last_seq); /* all filtered out: persisted lazily */
            continue;
        }
        struct hd_request req;
        struct hd_err err = {0};
        size_t rendered = m;
        if (render_some(c, ptrs, &rendered, &req, &err) != HD_OK) {
            if (dead_letter_render(d, c, ptrs[0], NULL, err.msg) != HD_OK) {
                goto out;
            }
            continue;
        }
        /* Filtered events after the batch's last one are covered only when
         * the whole scan went out. */
        int64_t new_cursor = rendered == m ? last_seq : ptrs[rendered - 1]->seq;
        struct ditem *items = items_of(ptrs, NULL, rendered);
        if (items == NULL) {
            hd_request_clear(&req);
            goto out;
        }
        submit(d, c, &req, items, rendered, 0, new_cursor);
        goto out;
    }
    *next_ms = 0; /* more to read: come back right away */
out:
    free(ptrs);
}

/* ---- acknowledgements (see DESIGN) ------------------------------------- */

static void ack_append(struct dchan *c, struct dack *a)
{
    if (c->acks == NULL) {
        c->acks_tail = &c->acks;
    }
    a->next = NULL;
    *c->acks_tail = a;
    c->acks_tail = &a->next;
    c->n_acks++;
}

/* Unlinks and frees every batch with done[i] set (i = position in the list). */
static void acks_remove(struct dchan *c, const unsigned char *done)
{
    struct dack **pp = &c->acks;
    size_t i = 0;
    while (*pp != NULL) {
        struct dack *a = *pp;
        if (done[i++]) {
            *pp = a->next;
            free(a->items);
            free(a);
            c->n_acks--;
        } else {
            pp = &a->next;
        }
    }
    c->acks_tail = pp;
}

static size_t acks_items(const struct dchan *c, const unsigned char *sel)
{
    size_t k = 0;
    size_t i = 0;
    for (const struct dack *a = c->acks; a != NULL; a = a->next, i++) {
        if (sel[i]) {
            k += a->n;
        }
    }
    return k;
}

/* The answer of r accepted its batch under ack id: records the events as
 * PENDING rows due at the deadline (with the cursor) and keeps the batch
 * waiting. Returns HD_OK when recorded. */
static int await_ack(struct hd_dispatcher *d, struct dchan *c, struct dreq *r, const struct hd_response *resp,
                     int64_t ack_id, int64_t now)
{
    int64_t deadline = now + r->ch->ack_timeout_ms;
    char msg[128];
    snprintf(msg, sizeof(msg), "accepted, awaiting the sink's acknowledgement (ack id %lld)",
             (long long)ack_id);
    struct hd_delivery *ups = calloc(r->n, sizeof(*ups));
    struct dack *a = calloc(1, sizeof(*a));
    if (ups == NULL || a == NULL) {
        free(ups);
        free(a);
        c->next_attempt_ms = now + 1000; /* nothing recorded: the events go out again */
        return HD_ENOMEM;
    }
    for (size_t i = 0; i < r->n; i++) {
        struct ditem *it = &r->items[i];
        struct hd_delivery *u = &ups[i];
        it->attempts++;
        it->first_ms = r->is_retry && it->first_ms > 0 ? it->first_ms : now;
        u->channel_id = c->id;
        u->event_seq = it->seq;
        memcpy(u->event_id, it->id, sizeof(u->event_id));
        u->status = HD_DELIVERY_PENDING;
        u->attempts = it->attempts;
        u->first_ms = it->first_ms;
        u->next_ms = deadline;
        u->updated_ms = now;
        u->last_status = (int)resp->status;
        u->last_error = msg;
    }
    int rc = chan_progress(d, c, r->is_retry ? -1 : r->new_cursor, ups, r->n);
    free(ups);
    if (rc != HD_OK) {
        free(a);
        return rc; /* not recorded: the same events go out again */
    }
    if (deadline < c->retry_check_ms) {
        c->retry_check_ms = deadline; /* the rows come due then, whatever memory holds */
    }
    if (r->owns_ch) {
        /* Rendered by a channel reloaded meanwhile: its id cannot be polled
         * any more; the rows are re-sent at their deadline. */
        free(a);
        return HD_OK;
    }
    a->ack_id = ack_id;
    a->items = r->items;
    a->n = r->n;
    a->deadline_ms = deadline;
    r->items = NULL;
    if (c->acks == NULL) {
        c->ack_poll_ms = now + ACK_POLL_MS;
    }
    ack_append(c, a);
    return HD_OK;
}

/* Batches past their deadline: rows due now (the retry path re-sends them),
 * or dead once older than max_retry_age_ms. */
static void ack_expire(struct hd_dispatcher *d, struct dchan *c, int64_t now)
{
    size_t i = 0;
    size_t n_exp = 0;
    for (struct dack *a = c->acks; a != NULL; a = a->next) {
        n_exp += a->deadline_ms <= now;
    }
    if (n_exp == 0) {
        return;
    }
    unsigned char *sel = calloc(c->n_acks, 1);
    struct hd_delivery *ups = NULL;
    char msg[160];
    char dead[256];
    if (sel == NULL) {
        return;
    }
    i = 0;
    for (struct dack *a = c->acks; a != NULL; a = a->next, i++) {
        sel[i] = a->deadline_ms <= now;
    }
    size_t k = acks_items(c, sel);
    ups = calloc(k > 0 ? k : 1, sizeof(*ups));
    if (ups == NULL) {
        goto out;
    }
    snprintf(msg, sizeof(msg), "not acknowledged by the sink within %ld ms: sent again",
             c->ch != NULL ? c->ch->ack_timeout_ms : 0L);
    int64_t n_dead = 0;
    size_t u = 0;
    i = 0;
    for (struct dack *a = c->acks; a != NULL; a = a->next, i++) {
        if (!sel[i]) {
            continue;
        }
        for (size_t j = 0; j < a->n; j++, u++) {
            const struct ditem *it = &a->items[j];
            ups[u] = (struct hd_delivery){
                .channel_id = c->id,
                .event_seq = it->seq,
                .status = HD_DELIVERY_PENDING,
                .attempts = it->attempts,
                .first_ms = it->first_ms,
                .next_ms = now,
                .updated_ms = now,
                .last_error = msg,
            };
            memcpy(ups[u].event_id, it->id, sizeof(ups[u].event_id));
            if (now - it->first_ms >= d->cfg.max_retry_age_ms) {
                snprintf(dead, sizeof(dead), "retries exhausted after %lld s: %.160s",
                         (long long)((now - it->first_ms) / 1000), msg);
                ups[u].status = HD_DELIVERY_FAILED;
                ups[u].last_error = dead;
                n_dead++;
            }
        }
    }
    if (chan_progress(d, c, -1, ups, k) != HD_OK) {
        goto out; /* the rows stay due at their deadline anyway */
    }
    acks_remove(c, sel);
    c->failed += n_dead;
    count_outcome(c, "retry", (int64_t)k - n_dead);
    count_outcome(c, "failed", n_dead);
    c->retry_check_ms = now;
    set_last_error(c, "%s", msg);
    hd_log(HD_LOG_WARN, "channel=%s %zu event(s) %s", c->name, k, msg);
out:
    free(ups);
    free(sel);
}

/* Sends the next acknowledgement query. Returns 1 if a request went out. */
static int start_ack_poll(struct hd_dispatcher *d, struct dchan *c, int64_t now)
{
    size_t n = c->n_acks < ACK_POLL_MAX_IDS ? c->n_acks : ACK_POLL_MAX_IDS;
    struct hd_err err = {0};
    struct hd_request req;
    int64_t *ids = calloc(n, sizeof(*ids));
    struct dreq *r = calloc(1, sizeof(*r));
    c->ack_poll_ms = now + ACK_POLL_MS;
    if (ids == NULL || r == NULL) {
        free(ids);
        free(r);
        return 0;
    }
    size_t i = 0;
    for (const struct dack *a = c->acks; a != NULL && i < n; a = a->next) {
        ids[i++] = a->ack_id;
    }
    hd_request_init(&req);
    if (c->ch->type->ack_render(c->ch, ids, n, &req, &err) != HD_OK) {
        hd_log(HD_LOG_ERROR, "channel=%s cannot render the acknowledgement query: %s", c->name, err.msg);
        hd_request_clear(&req);
        free(ids);
        free(r);
        return 0;
    }
    r->channel_id = c->id;
    r->ch = c->ch;
    r->ack_ids = ids;
    r->n_ack_ids = n;
    r->new_cursor = -1;
    launch(d, c, &req, r);
    return 1;
}

static void on_ack_answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r,
                          const struct hd_response *resp)
{
    int64_t now = hd_now_ms();
    int64_t now_us = hd_now_us();
    unsigned char *confirmed = NULL;
    unsigned char *sel = NULL;
    struct hd_delivery *ups = NULL;
    c->ack_poll_ms = now + ACK_POLL_MS;
    if (r->owns_ch || r->ch != c->ch || c->acks == NULL) {
        goto out; /* reloaded meanwhile: its batches were dropped */
    }
    confirmed = calloc(r->n_ack_ids, 1);
    sel = calloc(c->n_acks, 1);
    if (confirmed == NULL || sel == NULL) {
        goto out;
    }
    int got = r->ch->type->ack_classify(r->ch, resp, r->ack_ids, r->n_ack_ids, confirmed);
    if (got < 0) {
        char why[256];
        describe(resp, why, sizeof(why));
        hd_log(HD_LOG_DEBUG, "channel=%s acknowledgement query to %s failed: %s", c->name, r->host, why);
        goto out;
    }
    /* Nothing else ran on this channel while the query was in flight, so
     * the list still starts with the queried batches, in order. */
    size_t i = 0;
    for (const struct dack *a = c->acks; a != NULL && i < r->n_ack_ids; a = a->next, i++) {
        sel[i] = a->ack_id == r->ack_ids[i] && confirmed[i];
    }
    if (c->n_acks > r->n_ack_ids) {
        c->ack_poll_ms = now; /* more ids than one query holds */
    }
    size_t k = acks_items(c, sel);
    if (k == 0) {
        goto out;
    }
    ups = calloc(k, sizeof(*ups));
    if (ups == NULL) {
        goto out;
    }
    char name[300];
    char labels[320];
    label_value(c->name, name, sizeof(name));
    snprintf(labels, sizeof(labels), "channel=\"%s\"", name);
    size_t u = 0;
    i = 0;
    for (const struct dack *a = c->acks; a != NULL; a = a->next, i++) {
        for (size_t j = 0; sel[i] && j < a->n; j++, u++) {
            const struct ditem *it = &a->items[j];
            ups[u] = (struct hd_delivery){.channel_id = c->id,
                                          .event_seq = it->seq,
                                          .status = HD_DELIVERY_DELIVERED,
                                          .updated_ms = now};
            memcpy(ups[u].event_id, it->id, sizeof(ups[u].event_id));
            if (it->recv_us > 0) {
                hd_metrics_observe("herald_delivery_latency_seconds", labels,
                                   (double)(now_us - it->recv_us) / 1e6);
            }
        }
    }
    if (chan_progress(d, c, -1, ups, k) != HD_OK) {
        goto out; /* confirmed again by the next query, or re-sent */
    }
    acks_remove(c, sel);
    c->delivered += (int64_t)k;
    c->last_success_ms = now;
    count_outcome(c, "delivered", (int64_t)k);
out:
    free(ups);
    free(sel);
    free(confirmed);
}

/* Expires and polls; 1 if an acknowledgement query went out. */
static int ack_work(struct hd_dispatcher *d, struct dchan *c, int64_t now, int64_t *next_ms)
{
    if (c->acks == NULL) {
        return 0;
    }
    ack_expire(d, c, now);
    if (c->acks == NULL) {
        return 0;
    }
    if (c->ack_poll_ms <= now && start_ack_poll(d, c, now)) {
        return 1;
    }
    int64_t next = c->ack_poll_ms;
    for (const struct dack *a = c->acks; a != NULL; a = a->next) {
        if (a->deadline_ms < next) {
            next = a->deadline_ms;
        }
    }
    if (next < *next_ms) {
        *next_ms = next;
    }
    return 0;
}

static void start_work_inner(struct hd_dispatcher *d, struct dchan *c, int64_t now, int64_t max_seq,
                             int64_t *next_ms)
{
    if (c->inflight != NULL) {
        return;
    }
    if (c->pending_at_ms == 0 || now - c->pending_at_ms >= PENDING_REFRESH_MS) {
        refresh_pending(d, c, now);
    }
    if (!c->enabled) {
        /* Disabled channels skip what arrives (see DESIGN). */
        buf_drop(c);
        if (c->cursor < max_seq) {
            c->cursor = max_seq;
        }
        return;
    }
    if (c->ch == NULL) {
        return;
    }
    if (ack_work(d, c, now, next_ms)) {
        return; /* before the breaker: confirmations are not sends */
    }
    if (c->n_acks >= ACK_MAX_AWAITING) {
        return; /* enough waiting: only queries until some are confirmed */
    }
    if (c->next_attempt_ms > now) {
        if (c->next_attempt_ms < *next_ms) {
            *next_ms = c->next_attempt_ms;
        }
        return;
    }
    if (c->retry_check_ms <= now && start_retries(d, c, now)) {
        if (c->inflight == NULL) {
            *next_ms = 0;
        }
        return;
    }
    if (c->retry_check_ms < *next_ms) {
        *next_ms = c->retry_check_ms;
    }
    if (c->cursor < max_seq || c->buf_pos < c->buf_n) {
        start_new(d, c, max_seq, next_ms);
    }
}

static void start_work(struct hd_dispatcher *d, struct dchan *c, int64_t now, int64_t max_seq,
                       int64_t *next_ms)
{
    start_work_inner(d, c, now, max_seq, next_ms);
    flush_cursor(d, c, now, 0);
    if (c->cursor != c->saved_cursor && *next_ms > c->saved_at_ms + CURSOR_FLUSH_MS) {
        *next_ms = c->saved_at_ms + CURSOR_FLUSH_MS;
    }
}

/* ---- answers ----------------------------------------------------------- */

static void breaker_update(struct hd_dispatcher *d, struct dchan *c, struct dreq *r,
                           const struct hd_response *resp, int failed_request, const char *why, int64_t now)
{
    if (!failed_request) {
        if (c->breaker_open) {
            hd_log(HD_LOG_WARN, "channel=%s breaker closed: %s answered again", c->name, r->host);
        } else if (c->consecutive_failures > 0) {
            hd_log(HD_LOG_INFO, "channel=%s recovered: %s answered after %d failed request(s)", c->name,
                   r->host, c->consecutive_failures);
        }
        c->consecutive_failures = 0;
        c->breaker_open = 0;
        c->backoff_ms = 0;
        c->next_attempt_ms = 0;
        return;
    }
    c->consecutive_failures++;
    set_last_error(c, "%s", why);
    if (c->consecutive_failures == 1) {
        hd_log(HD_LOG_WARN, "channel=%s while posting to %s: %s", c->name, r->host, why);
    }
    int64_t ra = resp->retry_after_ms > 0 ? resp->retry_after_ms : 0;
    if (c->breaker_open) {
        c->backoff_ms = c->backoff_ms * 2 < d->cfg.retry_max_ms ? c->backoff_ms * 2 : d->cfg.retry_max_ms;
        c->next_attempt_ms = now + (c->backoff_ms > ra ? c->backoff_ms : ra);
        hd_log(HD_LOG_INFO, "channel=%s breaker stays open while posting to %s: %s; next attempt in %lld ms",
               c->name, r->host, why, (long long)(c->next_attempt_ms - now));
    } else if (c->consecutive_failures >= d->cfg.breaker_threshold) {
        c->breaker_open = 1;
        c->backoff_ms = d->cfg.retry_initial_ms;
        c->next_attempt_ms = now + (c->backoff_ms > ra ? c->backoff_ms : ra);
        hd_log(HD_LOG_WARN,
               "channel=%s breaker open after %d consecutive failures while posting to %s: %s; next attempt "
               "in %lld ms",
               c->name, c->consecutive_failures, r->host, why, (long long)(c->next_attempt_ms - now));
    } else if (ra > 0) {
        c->next_attempt_ms = now + ra; /* the sink asked the whole client to wait */
    }
}

static void on_answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r,
                      const struct hd_response *resp)
{
    int64_t now = hd_now_ms();
    int64_t now_us = hd_now_us();
    char why[256];
    describe(resp, why, sizeof(why));

    struct hd_item_verdict *items = calloc(r->n, sizeof(*items));
    struct hd_delivery *ups = calloc(r->n, sizeof(*ups));
    char(*errs)[256] = calloc(r->n, sizeof(*errs));
    if (items == NULL || ups == NULL || errs == NULL) {
        /* Nothing recorded: the cursor stays and the events go out again. */
        c->next_attempt_ms = now + 1000;
        goto out;
    }
    for (size_t i = 0; i < r->n; i++) {
        items[i].status = -1; /* not filled by the driver: takes the overall verdict */
    }
    enum hd_verdict overall = r->ch->type->classify(r->ch, resp, r->n, items);
    for (size_t i = 0; i < r->n; i++) {
        if (items[i].status == -1) {
            items[i].verdict = overall;
            items[i].status = (int)resp->status;
        }
        if (items[i].verdict != HD_VERDICT_DELIVERED && items[i].error[0] == '\0') {
            snprintf(items[i].error, sizeof(items[i].error), "%s", why);
        }
    }
    if (overall == HD_VERDICT_DELIVERED && r->ch->ack_timeout_ms > 0 && r->ch->type->ack_id != NULL) {
        int all = 1;
        int64_t ack_id = -1;
        for (size_t i = 0; i < r->n; i++) {
            all = all && items[i].verdict == HD_VERDICT_DELIVERED;
        }
        if (all && r->ch->type->ack_id(r->ch, resp, &ack_id) == 1) {
            if (await_ack(d, c, r, resp, ack_id, now) == HD_OK) {
                breaker_update(d, c, r, resp, 0, why, now);
            }
            goto out;
        }
    }
    int failed_request = overall == HD_VERDICT_RETRY;
    int hold = failed_request && !r->is_retry && c->consecutive_failures + 1 >= d->cfg.breaker_threshold;

    size_t k = 0;
    int64_t n_ok = 0;
    int64_t n_retry = 0;
    int64_t n_dead = 0;
    int64_t earliest_retry = NEVER;
    if (hold) {
        n_retry = (int64_t)r->n;
    } else {
        for (size_t i = 0; i < r->n; i++) {
            const struct ditem *it = &r->items[i];
            struct hd_delivery *u = &ups[k];
            u->channel_id = c->id;
            u->event_seq = it->seq;
            memcpy(u->event_id, it->id, sizeof(u->event_id));
            u->attempts = it->attempts + 1;
            u->first_ms = r->is_retry && it->first_ms > 0 ? it->first_ms : now;
            u->updated_ms = now;
            u->last_status = items[i].status;
            u->last_error = items[i].error;
            switch (items[i].verdict) {
            case HD_VERDICT_DELIVERED:
                n_ok++;
                if (it->recv_us > 0) {
                    char name[300];
                    char labels[320];
                    label_value(c->name, name, sizeof(name));
                    snprintf(labels, sizeof(labels), "channel=\"%s\"", name);
                    hd_metrics_observe("herald_delivery_latency_seconds", labels,
                                       (double)(now_us - it->recv_us) / 1e6);
                }
                if (!r->is_retry) {
                    continue; /* no row: the cursor covers it */
                }
                u->status = HD_DELIVERY_DELIVERED;
                u->last_error = NULL;
                break;
            case HD_VERDICT_RETRY:
                if (now - u->first_ms >= d->cfg.max_retry_age_ms) {
                    snprintf(errs[i], sizeof(errs[i]), "retries exhausted after %lld s: %.200s",
                             (long long)((now - u->first_ms) / 1000), items[i].error);
                    u->last_error = errs[i];
                    u->status = HD_DELIVERY_FAILED;
                    n_dead++;
                    break;
                }
                u->status = HD_DELIVERY_PENDING;
                {
                    int64_t cap = backoff_cap(&d->cfg, u->attempts);
                    int64_t delay = (int64_t)(rng_next(d) % (uint64_t)(cap + 1)); /* full jitter */
                    if (resp->retry_after_ms > delay) {
                        delay = resp->retry_after_ms;
                    }
                    u->next_ms = now + delay;
                }
                if (u->next_ms < earliest_retry) {
                    earliest_retry = u->next_ms;
                }
                n_retry++;
                break;
            case HD_VERDICT_DEAD:
            default:
                u->status = HD_DELIVERY_FAILED;
                n_dead++;
                break;
            }
            k++;
        }
    }
    int64_t new_cursor = (hold || r->is_retry) ? -1 : r->new_cursor;
    if (k > 0) {
        if (chan_progress(d, c, new_cursor, ups, k) != HD_OK) {
            /* Not recorded: the same events go out again (at least once). */
            goto out;
        }
    } else if (new_cursor >= 0) {
        cursor_move(c, new_cursor); /* no row to write: persisted lazily */
    }
    c->delivered += n_ok;
    c->failed += n_dead;
    if (n_ok > 0) {
        c->last_success_ms = now;
    }
    count_outcome(c, "delivered", n_ok);
    count_outcome(c, "retry", n_retry);
    count_outcome(c, "failed", n_dead);
    if (earliest_retry < c->retry_check_ms) {
        c->retry_check_ms = earliest_retry;
    }
    if (r->is_retry) {
        c->retry_check_ms = now;
    }
    if (n_dead > 0) {
        set_last_error(c, "%s", why);
        hd_log(HD_LOG_WARN, "channel=%s while posting to %s: %s; %lld event(s) dead-lettered", c->name,
               r->host, why, (long long)n_dead);
    }
    breaker_update(d, c, r, resp, failed_request, why, now);
out:
    free(errs);
    free(ups);
    free(items);
}

static void handle_done(struct hd_dispatcher *d)
{
    void *ud = NULL;
    struct hd_response resp;
    while (hd_http_client_done(d->http, &ud, &resp)) {
        struct dreq *r = ud;
        dreq_unlink(d, r);
        struct dchan *c = chan_find(d, r->channel_id);
        if (c != NULL && c->inflight == r) {
            c->inflight = NULL;
            answer(d, c, r, &resp);
        } else {
            hd_log(HD_LOG_DEBUG, "channel id=%lld: answer dropped, channel deleted",
                   (long long)r->channel_id);
        }
        hd_response_clear(&resp);
        dreq_free(r);
    }
}

/* ---- channels and status ----------------------------------------------- */

static void publish(struct hd_dispatcher *d, int64_t max_seq, int64_t now)
{
    int64_t total = 0;
    pthread_mutex_lock(&d->lock);
    for (struct dchan *c = d->chans; c != NULL; c = c->next) {
        struct hd_channel_status *p = &c->pub;
        int64_t behind = max_seq > c->cursor ? max_seq - c->cursor : 0;
        p->id = c->id;
        p->cursor = c->cursor;
        p->backlog = c->enabled ? behind + c->pending : 0;
        p->delivered = c->delivered;
        p->failed = c->failed;
        p->consecutive_failures = c->consecutive_failures;
        p->breaker_open = c->breaker_open;
        p->next_attempt_ms = c->next_attempt_ms > now ? c->next_attempt_ms : 0;
        memcpy(p->last_error, c->last_error, sizeof(p->last_error));
        p->last_success_ms = c->last_success_ms;
        total += p->backlog;
    }
    d->total_backlog = total;
    pthread_mutex_unlock(&d->lock);
}

static int reload(struct hd_dispatcher *d)
{
    struct hd_err err = {0};
    struct hd_channel_rec *recs = NULL;
    size_t n = 0;
    int rc = d->st->ops->channel_list(d->st, &recs, &n, &err);
    if (rc != HD_OK) {
        hd_log(HD_LOG_ERROR, "dispatcher: while loading channels: %s", err.msg);
        return rc;
    }
    int64_t now = hd_now_ms();
    for (struct dchan *c = d->chans; c != NULL; c = c->next) {
        c->seen = 0;
    }
    for (size_t i = 0; i < n; i++) {
        const struct hd_channel_rec *rec = &recs[i];
        struct dchan *c = chan_find(d, rec->id);
        if (c != NULL && c->version == rec->version) {
            c->seen = 1;
            c->retry_check_ms = now; /* retries may have been queued */
            c->pending_at_ms = 0;
            continue;
        }
        char *name = hd_strdup(rec->name != NULL ? rec->name : "");
        if (name == NULL) {
            rc = HD_ENOMEM;
            goto out;
        }
        struct hd_err cerr = {0};
        struct hd_channel *ch = hd_channel_new(rec->id, rec->version, rec->json, &cerr);
        if (ch == NULL) {
            hd_log(HD_LOG_ERROR, "channel=%s cannot be loaded, not delivering: %s", name, cerr.msg);
        }
        int fresh = c == NULL;
        if (fresh) {
            int64_t cursor = 0;
            struct hd_err kerr = {0};
            if (d->st->ops->cursor_get(d->st, rec->id, &cursor, &kerr) != HD_OK) {
                hd_log(HD_LOG_ERROR, "channel=%s while reading its cursor: %s", name, kerr.msg);
                hd_channel_free(ch);
                free(name);
                rc = HD_EIO;
                continue;
            }
            c = calloc(1, sizeof(*c));
            if (c == NULL) {
                hd_channel_free(ch);
                free(name);
                rc = HD_ENOMEM;
                goto out;
            }
            c->id = rec->id;
            c->cursor = cursor;
            c->saved_cursor = cursor;
            c->saved_at_ms = now;
        } else {
            chan_retire_ch(c);
        }
        c->ch = ch;
        if (ch == NULL) {
            set_last_error(c, "configuration: %s", cerr.msg);
        }
        c->version = rec->version;
        c->enabled = rec->enabled;
        /* New settings deserve a try now rather than after the old backoff. */
        c->consecutive_failures = 0;
        c->breaker_open = 0;
        c->backoff_ms = 0;
        c->next_attempt_ms = 0;
        c->retry_check_ms = now;
        c->pending_at_ms = 0;
        c->seen = 1;
        pthread_mutex_lock(&d->lock);
        char *old = c->name;
        c->name = name;
        if (fresh) {
            c->next = d->chans;
            d->chans = c;
        }
        pthread_mutex_unlock(&d->lock);
        free(old);
    }
    for (struct dchan **pp = &d->chans; *pp != NULL;) {
        struct dchan *c = *pp;
        if (c->seen) {
            pp = &c->next;
            continue;
        }
        pthread_mutex_lock(&d->lock);
        *pp = c->next;
        pthread_mutex_unlock(&d->lock);
        chan_free(c);
    }
out:
    hd_channel_recs_free(recs, n);
    return rc;
}

/* ---- the loop ---------------------------------------------------------- */

static void flush_all(struct hd_dispatcher *d)
{
    int64_t now = hd_now_ms();
    for (struct dchan *c = d->chans; c != NULL; c = c->next) {
        flush_cursor(d, c, now, 1);
    }
}

static void *loop_main(void *arg)
{
    struct hd_dispatcher *d = arg;
    int64_t reload_retry_ms = NEVER;
    for (;;) {
        if (atomic_load(&d->stopping)) {
            handle_done(d);
            int64_t left = atomic_load(&d->stop_deadline_ms) - hd_mono_ms();
            if (d->reqs == NULL || left <= 0) {
                break;
            }
            hd_http_client_poll(d->http, left < 100 ? (int)left : 100);
            continue;
        }
        int64_t now = hd_now_ms();
        if (atomic_exchange(&d->reload_req, 0) || reload_retry_ms <= now) {
            reload_retry_ms = reload(d) == HD_OK ? NEVER : now + 1000;
        }
        handle_done(d);
        now = hd_now_ms();
        int64_t max_seq = d->st->ops->max_seq(d->st);
        int64_t next_ms = now + MAX_POLL_MS;
        if (reload_retry_ms < next_ms) {
            next_ms = reload_retry_ms;
        }
        for (struct dchan *c = d->chans; c != NULL; c = c->next) {
            start_work(d, c, now, max_seq, &next_ms);
        }
        publish(d, max_seq, now);
        int64_t wait = next_ms - hd_now_ms();
        if (wait < 0) {
            wait = 0;
        }
        if (wait > MAX_POLL_MS) {
            wait = MAX_POLL_MS;
        }
        hd_http_client_poll(d->http, (int)wait);
    }
    flush_all(d);
    publish(d, d->st->ops->max_seq(d->st), hd_now_ms());
    return NULL;
}

/* ---- public ------------------------------------------------------------ */

struct hd_dispatcher *hd_dispatcher_new(struct hd_store *st, const struct hd_dispatch_config *cfg,
                                        struct hd_err *err)
{
    struct hd_dispatcher *d = NULL;
    if (st == NULL) {
        hd_err_set(err, HD_EINVAL, "dispatcher: no store");
        goto fail;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        hd_err_set(err, HD_ENOMEM, "dispatcher: out of memory");
        goto fail;
    }
    hd_dispatch_config_defaults(&d->cfg);
    if (cfg != NULL) {
        if (cfg->retry_initial_ms > 0) {
            d->cfg.retry_initial_ms = cfg->retry_initial_ms;
        }
        if (cfg->retry_max_ms > 0) {
            d->cfg.retry_max_ms = cfg->retry_max_ms;
        }
        if (cfg->max_retry_age_ms > 0) {
            d->cfg.max_retry_age_ms = cfg->max_retry_age_ms;
        }
        if (cfg->breaker_threshold > 0) {
            d->cfg.breaker_threshold = cfg->breaker_threshold;
        }
        if (cfg->read_batch > 0) {
            d->cfg.read_batch = cfg->read_batch;
        }
    }
    if (d->cfg.retry_max_ms < d->cfg.retry_initial_ms) {
        d->cfg.retry_max_ms = d->cfg.retry_initial_ms;
    }
    d->st = st;
    d->rng = (uint64_t)hd_now_us() ^ ((uint64_t)(uintptr_t)d << 16) ^ 0x9e3779b97f4a7c15ULL;
    if (d->rng == 0) {
        d->rng = 1;
    }
    pthread_mutex_init(&d->lock, NULL);
    d->http = hd_http_client_new();
    if (d->http == NULL) {
        hd_err_set(err, HD_ENOMEM, "dispatcher: cannot create the HTTP client");
        goto fail;
    }
    /* Loaded here so status is answerable before the loop runs. */
    int rc = reload(d);
    if (rc != HD_OK) {
        hd_err_set(err, rc, "dispatcher: cannot load channels");
        goto fail;
    }
    publish(d, st->ops->max_seq(st), hd_now_ms());
    return d;
fail:
    hd_dispatcher_free(d);
    return NULL;
}

int hd_dispatcher_start(struct hd_dispatcher *d)
{
    if (d->started) {
        return HD_OK;
    }
    atomic_store(&d->stopping, 0);
    if (pthread_create(&d->th, NULL, loop_main, d) != 0) {
        return HD_EIO;
    }
    d->started = 1;
    return HD_OK;
}

void hd_dispatcher_wakeup(struct hd_dispatcher *d)
{
    hd_http_client_wakeup(d->http);
}

void hd_dispatcher_channels_changed(struct hd_dispatcher *d)
{
    atomic_store(&d->reload_req, 1);
    hd_http_client_wakeup(d->http);
}

int hd_dispatcher_status(struct hd_dispatcher *d, int64_t channel_id, struct hd_channel_status *out)
{
    int rc = HD_ENOTFOUND;
    pthread_mutex_lock(&d->lock);
    for (struct dchan *c = d->chans; c != NULL; c = c->next) {
        if (c->id == channel_id) {
            *out = c->pub;
            rc = HD_OK;
            break;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

int64_t hd_dispatcher_backlog(struct hd_dispatcher *d)
{
    pthread_mutex_lock(&d->lock);
    int64_t v = d->total_backlog;
    pthread_mutex_unlock(&d->lock);
    return v;
}

int hd_dispatcher_metrics(struct hd_dispatcher *d, struct hd_buf *out)
{
    int rc = HD_OK;
    pthread_mutex_lock(&d->lock);
    rc = hd_buf_puts(out, "# TYPE herald_channel_backlog gauge\n");
    for (struct dchan *c = d->chans; c != NULL && rc == HD_OK; c = c->next) {
        char name[300];
        label_value(c->name, name, sizeof(name));
        rc = hd_buf_printf(out, "herald_channel_backlog{channel=\"%s\"} %lld\n", name,
                           (long long)c->pub.backlog);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(out, "# TYPE herald_channel_breaker_open gauge\n");
    }
    for (struct dchan *c = d->chans; c != NULL && rc == HD_OK; c = c->next) {
        char name[300];
        label_value(c->name, name, sizeof(name));
        rc =
            hd_buf_printf(out, "herald_channel_breaker_open{channel=\"%s\"} %d\n", name, c->pub.breaker_open);
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

void hd_dispatcher_stop(struct hd_dispatcher *d, int64_t timeout_ms)
{
    if (d == NULL || !d->started) {
        return;
    }
    atomic_store(&d->stop_deadline_ms, hd_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0));
    atomic_store(&d->stopping, 1);
    hd_http_client_wakeup(d->http);
    pthread_join(d->th, NULL);
    d->started = 0;
}

void hd_dispatcher_free(struct hd_dispatcher *d)
{
    if (d == NULL) {
        return;
    }
    hd_dispatcher_stop(d, 0);
    /* Transfers still in curl are aborted first, then their requests. */
    hd_http_client_free(d->http);
    d->http = NULL;
    struct dchan *c = d->chans;
    while (c != NULL) {
        struct dchan *next = c->next;
        chan_free(c);
        c = next;
    }
    struct dreq *r = d->reqs;
    while (r != NULL) {
        struct dreq *next = r->next;
        dreq_free(r);
        r = next;
    }
    pthread_mutex_destroy(&d->lock);
    free(d);
}
