/* dispatcher.c - per-channel delivery from the event log to the sinks.
 *
 * DESIGN: one loop thread owns the http client (curl multi), every runtime
 * channel (struct dchan) and their timers; nothing else touches a dchan except
 * its published status (see "Shared state" below). Per channel:
 *
 *  - cursor: every event up to it has its outcome recorded; sent: every
 *    event up to it is handed over. Events after sent are read in seq order
 *    into a small read-ahead buffer (a few times the batch size, bounded
 *    memory), filtered on their columns (skipped events only move the
 *    cursor), and up to max_batch accepted events are rendered into one
 *    request.
 *  - Requests in flight: new events go out in up to ch->max_in_flight
 *    requests at once (WEBHOOK maxInFlight, default 4; other types 1), the
 *    channel's window (window.c): answers come back in any order and the
 *    cursor moves only over the answered head of the window. With 1 a
 *    channel's events arrive in order (except retried items). Due retries
 *    (PENDING rows), acknowledgement queries and group notifications go
 *    alone, once the window is empty; due retries go before new events.
 *  - on the answer (answer.c), classify gives per-item verdicts and ONE
 *    store progress call records the rows with the cursor: DELIVERED,
 *    PENDING (retry with backoff) and FAILED (dead letters).
 *    An answer that needs no row (all delivered) only moves the cursor in
 *    memory; it is persisted at most every CURSOR_FLUSH_MS, with the next
 *    row write and at stop: one durable write per batch would cap a
 *    one-event-per-request channel at the fsync rate, and a kill -9 only
 *    re-sends the last CURSOR_FLUSH_MS of deliveries (at least once).
 *  - a render error dead-letters the event that cannot be rendered: a failed
 *    batch is halved until the bad event is alone (this also copes with a
 *    driver refusing an oversized batch).
 *
 * Circuit breaker (breaker.c): a batch of NEW events failing when the
 * breaker would reach its threshold records no row and keeps the cursor;
 * once open, the channel sends nothing until its backoff expires.
 *
 * Disabled channels deliver nothing and their cursor follows the log (they
 * skip, not queue): otherwise a disabled channel would pin the log against
 * pruning and count as backlog for ingest backpressure.
 *
 * Acknowledgements (acks.c, SPLUNK useAck): a batch the sink accepted under
 * an ack id is recorded as PENDING rows due at the ack deadline, the cursor
 * moves on, and the batch waits in memory until a query confirms it.
 *
 * Lifetimes: a request in flight (struct dreq) copies what it needs of its
 * events; it borrows the struct hd_channel that rendered it, and takes that
 * channel over if the channel is reloaded or deleted meanwhile. On completion
 * the dchan is looked up by id: a deleted channel's answer is dropped.
 *
 * Shared state: d->lock guards the dchan list structure, each dchan's name
 * and pub (published status) and d->total_backlog. Only the loop thread
 * writes them (channels.c); API threads read them under the lock.
 * reload_req / stopping / stop_deadline_ms are atomics; wakeups go through
 * curl_multi_wakeup.
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
#include "route/acks.h"
#include "route/breaker.h"
#include "route/dispatcher_int.h"
#include "route/filter.h"
#include "route/throttle.h"

#define MAX_POLL_MS 1000
#define CURSOR_FLUSH_MS 250
#define PENDING_REFRESH_MS 5000
#define RETRY_RECHECK_MS 1000
#define READS_PER_TURN 8
#define READ_AHEAD_MIN 64
/* The read-ahead's memory (core/slab.h): chunks of 256 KiB, of which up to
 * 4 MiB are kept from one read to the next (a read of 500 ~2.5 kB events
 * takes ~1.3 MB) and given back after a second without reads. */
#define READ_SLAB_CHUNK (256 * 1024)
#define READ_SLAB_KEEP (4 * 1024 * 1024)
#define READ_SLAB_IDLE_MS 1000
/* An answer's per-item arrays (answer.c): ~630 bytes per item, of which the
 * verdicts and rows (~380) are written; a batch of 1,000 fits one chunk. */
#define ANSWER_SLAB_CHUNK (1024 * 1024)

/* ---- small helpers ----------------------------------------------------- */

void hd_dispatch_config_defaults(struct hd_dispatch_config *c)
{
    c->retry_initial_ms = 1000;
    c->retry_max_ms = 300000;
    c->max_retry_age_ms = 24LL * 3600 * 1000;
    c->breaker_threshold = 5;
    c->read_batch = 500;
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

void hd_dchan_row(const struct dchan *c, const struct ditem *it, enum hd_delivery_status status, int64_t now,
                  struct hd_delivery *u)
{
    *u = (struct hd_delivery){
        .channel_id = c->id,
        .event_seq = it->seq,
        .status = status,
        .updated_ms = now,
    };
    memcpy(u->event_id, it->id, sizeof(u->event_id));
}

/* The bytes of events a channel holds at once, in its read-ahead and in one
 * batch: its batch.maxBytes (every channel has one: 5 MiB by default, 1 KiB
 * at least). Counting events alone, a channel lagging behind ~1 MB events
 * read 500 of them at once. */
static size_t batch_bytes(const struct dchan *c)
{
    return c->ch->common.batch_max_bytes;
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

void hd_dchan_slab_init(struct dchan *c)
{
    hd_slab_init(&c->slab, READ_SLAB_CHUNK, READ_SLAB_KEEP, READ_SLAB_IDLE_MS);
}

void hd_dchan_buf_drop(struct dchan *c)
{
    hd_events_free(c->buf, c->buf_n);
    hd_slab_reset(&c->slab);
    c->buf = NULL;
    c->buf_n = 0;
    c->buf_pos = 0;
}

void hd_dchan_cursor_move(struct dchan *c, int64_t seq)
{
    if (seq <= c->cursor) {
        return;
    }
    c->cursor = seq;
    if (seq <= c->sent) {
        return; /* the read-ahead follows sent, already past seq */
    }
    c->sent = seq;
    while (c->buf_pos < c->buf_n && c->buf[c->buf_pos].seq <= seq) {
        c->buf_pos++;
    }
    if (c->buf_pos >= c->buf_n) {
        hd_dchan_buf_drop(c);
    }
}

/* Frees r, unlinked from d->reqs. A channel r owns (reloaded or deleted
 * meanwhile) is freed with the last request that was rendered by it. */
static void dreq_free(struct hd_dispatcher *d, struct dreq *r)
{
    if (r == NULL) {
        return;
    }
    int shared = 0;
    for (const struct dreq *q = d->reqs; q != NULL && r->owns_ch; q = q->next) {
        shared |= q != r && q->ch == r->ch;
    }
    if (r->owns_ch && !shared) {
        hd_channel_free(r->ch);
    }
    free(r->items);
    free(r->ack_ids);
    free(r->group_key);
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

void hd_dchan_set_error(struct dchan *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
    va_end(ap);
    c->last_failure_ms = hd_now_ms();
}

/* ---- store writes ------------------------------------------------------ */

int hd_dchan_progress(struct hd_dispatcher *d, struct dchan *c, int64_t new_cursor,
                      const struct hd_delivery *ups, size_t n)
{
    struct hd_err err = {0};
    int64_t cur = new_cursor;
    if (cur < c->cursor && c->cursor != c->saved_cursor) {
        cur = c->cursor; /* take the lazily kept cursor along */
    }
    int rc = d->st->ops->progress(d->st, c->id, cur, ups, n, &err);
    if (rc != HD_OK) {
        hd_log_kv(HD_LOG_ERROR, HD_KV({"channel", c->name}), "while recording delivery progress: %s",
                  err.msg);
        hd_dchan_set_error(c, "store: %s", err.msg);
        c->next_attempt_ms = hd_now_ms() + 1000; /* don't spin on a failing store */
        return rc;
    }
    if (cur >= 0) {
        hd_dchan_cursor_move(c, cur);
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
    hd_dchan_progress(d, c, c->cursor, NULL, 0);
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
    hd_log_kv(HD_LOG_WARN, HD_KV({"channel", c->name}, {"event", up.event_id}),
              "while rendering the event: %s (dead-lettered)", why);
    /* A new event: the cursor covers it at once only with nothing in
     * flight below it; else the window does once they are answered. */
    int64_t cur = row == NULL && c->win_n == 0 ? up.event_seq : -1;
    int rc = hd_dchan_progress(d, c, cur, &up, 1);
    if (rc == HD_OK && row == NULL) {
        hd_dwin_skip(c, up.event_seq);
    }
    if (rc == HD_OK) {
        c->failed++;
        hd_dchan_count(c, "failed", 1);
        hd_dchan_set_error(c, "render: %s", why);
    }
    return rc;
}

/* ---- sending ----------------------------------------------------------- */

/* Records the answer to r, c's lone request or one of its window: a window
 * request's answer carries the cursor the window allows (window.c). */
static void answer_request(struct hd_dispatcher *d, struct dchan *c, struct dreq *r,
                           const struct hd_response *resp)
{
    if (c->inflight == r) {
        c->inflight = NULL;
        (void)hd_dchan_answer(d, c, r, resp);
        return;
    }
    r->new_cursor = hd_dwin_cursor_if_answered(c, r);
    int recorded = hd_dchan_answer(d, c, r, resp);
    hd_dwin_answered(c, r, recorded);
}

void hd_dchan_launch(struct hd_dispatcher *d, struct dchan *c, struct hd_request *req, struct dreq *r)
{
    url_host(req->url, r->host, sizeof(r->host));
    if (req->timeout_ms == 0) {
        req->timeout_ms = c->ch->common.timeout_ms;
    }
    if (req->tls == NULL) {
        req->tls = &c->ch->common.tls; /* applied at submit: borrowed only here */
    }
    r->launch_no = ++c->launches;
    if (r->is_retry || r->ack_ids != NULL || r->group_key != NULL) {
        c->inflight = r; /* goes alone */
    } else {
        hd_dwin_push(c, r, r->new_cursor); /* new events: the window (window.c) */
    }
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
        answer_request(d, c, r, &resp);
        hd_response_clear(&resp);
        dreq_free(d, r);
    }
}

/* Renders evs[0..*m) into req, halving the batch until it renders. Returns
 * HD_OK with *m events rendered, or an error with *m == 1 and err naming the
 * problem of evs[0]. */
static int render_some(struct hd_dispatcher *d, struct dchan *c, const struct hd_event **evs, size_t *m,
                       struct hd_request *req, struct hd_err *err)
{
    for (;;) {
        hd_request_init(req);
        hd_http_client_body(d->http, &req->body);
        memset(err, 0, sizeof(*err));
        int rc = hd_channel_render(c->ch, (const struct hd_event *const *)evs, *m, req, err);
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

/* Sends req for the batch described by what (items, n, is_retry,
 * new_cursor); takes over req and what->items. The answer comes back
 * through hd_dchan_answer. */
void hd_dchan_submit(struct hd_dispatcher *d, struct dchan *c, struct hd_request *req,
                     const struct dreq *what)
{
    struct dreq *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        hd_request_clear(req);
        free(what->items);
        c->next_attempt_ms = hd_now_ms() + 1000;
        return;
    }
    r->channel_id = c->id;
    r->ch = c->ch;
    r->items = what->items;
    r->n = what->n;
    r->is_retry = what->is_retry;
    r->new_cursor = what->new_cursor;
    r->group_key = what->group_key;
    hd_dchan_launch(d, c, req, r);
}

struct ditem *hd_ditems_of(const struct hd_event *const *evs, const struct hd_delivery *rows, size_t m)
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

/* The store's counts of c's exception rows and its oldest undelivered
 * arrival: read every PENDING_REFRESH_MS (and when rows changed), so that a
 * scrape of /metrics never reads the store per channel. */
static void refresh_pending(struct hd_dispatcher *d, struct dchan *c, int64_t now)
{
    struct hd_err err = {0};
    if (d->st->ops->channel_lag != NULL) {
        struct hd_channel_lag lag = {0};
        if (d->st->ops->channel_lag(d->st, c->id, c->cursor, &lag, &err) == HD_OK) {
            c->pending = lag.pending;
            c->dead = lag.failed;
            c->oldest_recv_us = lag.oldest_recv_us;
        }
    } else {
        int64_t cnt = 0;
        if (d->st->ops->pending_count(d->st, c->id, &cnt, &err) == HD_OK) {
            c->pending = cnt;
        }
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
        hd_log_kv(HD_LOG_ERROR, HD_KV({"channel", c->name}), "while reading due retries: %s", err.msg);
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
    size_t held = 0;
    for (size_t i = 0; i < k && held < batch_bytes(c); i++) {
        struct hd_err gerr = {0};
        if (d->st->ops->event_get_seq(d->st, rows[i].event_seq, &evs[m], &gerr) != HD_OK) {
            dead_letter_render(d, c, NULL, &rows[i], "event no longer stored");
            ret = 1;
            goto out;
        }
        held += hd_event_bytes(&evs[m]);
        ptrs[m] = &evs[m];
        sent_rows[m] = rows[i];
        m++;
    }
    struct hd_request req;
    size_t rendered = m;
    if (render_some(d, c, ptrs, &rendered, &req, &err) != HD_OK) {
        dead_letter_render(d, c, ptrs[0], &sent_rows[0], err.msg);
        ret = 1;
        goto out;
    }
    struct ditem *items = hd_ditems_of(ptrs, sent_rows, rendered);
    if (items == NULL) {
        hd_request_clear(&req);
        goto out;
    }
    struct dreq what = {.items = items, .n = rendered, .is_retry = 1, .new_cursor = -1};
    hd_dchan_submit(d, c, &req, &what);
    ret = 1;
out:
    hd_events_free(evs, k);
    free(ptrs);
    free(sent_rows);
    hd_deliveries_free(rows, k);
    return ret;
}

/* Makes the read-ahead hold events after the cursor, reading up to four
 * batches of lim events when it is empty. Returns 1 if it holds some, 0 if
 * the log has nothing more or the read failed. */
int hd_dchan_refill(struct hd_dispatcher *d, struct dchan *c, size_t lim, int64_t max_seq)
{
    if (c->buf_pos < c->buf_n) {
        return 1;
    }
    size_t ahead = lim * 4;
    if (ahead < READ_AHEAD_MIN) {
        ahead = READ_AHEAD_MIN;
    }
    if (ahead > d->cfg.read_batch) {
        ahead = d->cfg.read_batch;
    }
    struct hd_err err = {0};
    hd_dchan_buf_drop(c);
    if (c->cursor >= max_seq) {
        return 0;
    }
    const struct hd_range r = {
        .after_seq = c->cursor, .limit = ahead, .max_bytes = batch_bytes(c), .slab = &c->slab};
    if (d->st->ops->events_after(d->st, &r, &c->buf, &c->buf_n, &err) != HD_OK) {
        hd_log_kv(HD_LOG_ERROR, HD_KV({"channel", c->name}), "while reading events after %lld: %s",
                  (long long)c->cursor, err.msg);
        c->next_attempt_ms = hd_now_ms() + 1000;
        return 0;
    }
    c->buf_pos = 0;
    if (c->buf_n == 0) {
        hd_dchan_buf_drop(c);
        return 0;
    }
    return 1;
}

/* batch.maxDelayMs: a batch shorter than the limit, with nothing more in the
 * log, waits for more events until its oldest event has been here maxDelayMs
 * (counted from arrival, so a backlog never waits). Checked before filters
 * and throttle, which have side effects. Returns 1 when the batch waits,
 * with *next_ms lowered to its deadline. */
static int batch_waits(struct dchan *c, size_t lim, int64_t max_seq, int64_t *next_ms)
{
    long delay = c->ch->common.batch_max_delay_ms;
    if (delay < 0) {
        delay = c->ch->type->max_batch > 1 ? HD_BATCH_DELAY_MS : 0;
    }
    if (delay == 0 || c->buf_n - c->buf_pos >= lim || c->buf[c->buf_n - 1].seq < max_seq) {
        return 0; /* a whole batch, or more in the log than was read (its bytes' bound) */
    }
    int64_t due = c->buf[c->buf_pos].recv_us / 1000 + delay;
    if (hd_now_ms() >= due) {
        return 0;
    }
    if (c->buf_pos == 0) {
        hd_dchan_buf_drop(c); /* re-read at the deadline: the batch takes what came meanwhile */
    }
    if (due < *next_ms) {
        *next_ms = due;
    }
    c->lingering = 1;
    return 1;
}

/* Puts into ptrs up to lim events of the read-ahead that the channel's
 * filters and throttle pass; *last_seq becomes the seq of the last event
 * looked at. Returns how many were put. */
static size_t batch_pick(struct hd_dispatcher *d, struct dchan *c, size_t lim, const struct hd_event **ptrs,
                         int64_t *last_seq)
{
    size_t m = 0;
    size_t held = 0;
    for (size_t i = c->buf_pos; i < c->buf_n && m < lim; i++) {
        const struct hd_event *ev = &c->buf[i];
        size_t bytes = hd_event_bytes(ev);
        if (m > 0 && held + bytes > batch_bytes(c)) {
            break; /* the next batch starts here */
        }
        *last_seq = ev->seq;
        if (!hd_filter_accepts(&c->ch->common, ev)) {
            continue;
        }
        /* silenced events move the cursor like filtered ones (SPEC 4) */
        if (c->ch->common.respect_silences && hd_silence_set_match(&d->silences, ev) != NULL) {
            hd_dchan_count(c, "silenced", 1);
            continue;
        }
        /* options.throttle: suppressed events move the cursor like filtered ones. */
        enum hd_throttle_result th = hd_throttle_check(c->id, &c->ch->common, &c->buf[i]);
        if (th == HD_THROTTLE_SUPPRESSED) {
            hd_dchan_count(c, "throttled", 1);
        }
        if (th == HD_THROTTLE_PASS) {
            ptrs[m++] = ev;
            held += bytes;
        }
    }
    return m;
}

/* hd_dchan_refill reads after c->cursor; the window reads after what it has
 * already sent, so the refill sees sent as the cursor for the call. */
static int window_refill(struct hd_dispatcher *d, struct dchan *c, size_t lim, int64_t max_seq)
{
    int64_t cursor = c->cursor;
    c->cursor = c->sent;
    int rc = hd_dchan_refill(d, c, lim, max_seq);
    c->cursor = cursor;
    return rc;
}

/* Reads, filters and sends the next batches of new events, while the
 * window (window.c) has room. */
static void start_new(struct hd_dispatcher *d, struct dchan *c, int64_t max_seq, int64_t *next_ms)
{
    size_t lim = batch_limit(d, c);
    const struct hd_event **ptrs = calloc(lim, sizeof(*ptrs));
    if (ptrs == NULL) {
        return;
    }
    for (int turn = 0, launched = 0; turn < READS_PER_TURN && launched < HD_CHANNEL_MAX_IN_FLIGHT;) {
        if (!hd_dwin_room(c, hd_now_ms())) {
            goto out; /* the answers bring the loop back */
        }
        if (!window_refill(d, c, lim, max_seq) || batch_waits(c, lim, max_seq, next_ms)) {
            goto out;
        }
        int64_t last_seq = c->sent;
        size_t m = batch_pick(d, c, lim, ptrs, &last_seq);
        if (m == 0) {
            hd_dwin_skip(c, last_seq); /* all filtered out: persisted lazily */
            turn++;
            continue;
        }
        struct hd_request req;
        struct hd_err err = {0};
        size_t rendered = m;
        if (render_some(d, c, ptrs, &rendered, &req, &err) != HD_OK) {
            if (dead_letter_render(d, c, ptrs[0], NULL, err.msg) != HD_OK) {
                goto out;
            }
            turn++;
            continue;
        }
        /* Filtered events after the batch's last one are covered only when
         * the whole scan went out. */
        int64_t new_cursor = rendered == m ? last_seq : ptrs[rendered - 1]->seq;
        struct ditem *items = hd_ditems_of(ptrs, NULL, rendered);
        if (items == NULL) {
            hd_request_clear(&req);
            goto out;
        }
        struct dreq what = {.items = items, .n = rendered, .is_retry = 0, .new_cursor = new_cursor};
        hd_dchan_submit(d, c, &req, &what);
        launched++;
    }
    *next_ms = 0; /* more to read: come back right away */
out:
    free(ptrs);
}

/* Due retries, acknowledgement queries and group notifications go alone:
 * they wait until the window is empty (and retries go before new events). */
static void start_work_inner(struct hd_dispatcher *d, struct dchan *c, int64_t now, int64_t max_seq,
                             int64_t *next_ms)
{
    if (c->inflight != NULL) {
        return;
    }
    if (c->win_n == 0 && c->sent != c->cursor) {
        hd_dwin_reset(c); /* the cursor was set from elsewhere (reload, groups, disabled) */
    }
    if (!hd_store_owns_channel(d->st, c->id)) {
        return; /* the lease lapsed: the reload that follows drops the channel */
    }
    if (c->pending_at_ms == 0 || now - c->pending_at_ms >= PENDING_REFRESH_MS) {
        refresh_pending(d, c, now);
    }
    if (!c->enabled) {
        if (c->win_n > 0) {
            return; /* answers still recorded, then the cursor jumps */
        }
        /* Disabled channels skip what arrives (see DESIGN). */
        hd_dchan_buf_drop(c);
        if (c->cursor < max_seq) {
            c->cursor = max_seq;
        }
        c->sent = c->cursor;
        return;
    }
    if (c->ch == NULL) {
        return;
    }
    if (c->win_n == 0 && hd_acks_work(d, c, now, next_ms)) {
        return; /* before the breaker: confirmations are not sends */
    }
    if (hd_acks_full(c)) {
        return; /* enough waiting: only queries until some are confirmed */
    }
    if (c->next_attempt_ms > now) {
        if (c->next_attempt_ms < *next_ms) {
            *next_ms = c->next_attempt_ms;
        }
        return;
    }
    if (c->groups != NULL) {
        if (c->win_n == 0) {
            hd_dchan_group_work(d, c, now, max_seq, next_ms); /* options.group: groups, not single events */
        }
        return;
    }
    if (c->retry_check_ms <= now && (c->win_n > 0 || start_retries(d, c, now))) {
        if (c->inflight == NULL && c->win_n == 0) {
            *next_ms = 0;
        }
        return;
    }
    if (c->retry_check_ms < *next_ms) {
        *next_ms = c->retry_check_ms;
    }
    if (c->sent < max_seq || c->buf_pos < c->buf_n) {
        start_new(d, c, max_seq, next_ms);
    }
}

static void start_work(struct hd_dispatcher *d, struct dchan *c, int64_t now, int64_t max_seq,
                       int64_t *next_ms)
{
    c->lingering = 0;
    hd_slab_idle(&c->slab);
    start_work_inner(d, c, now, max_seq, next_ms);
    flush_cursor(d, c, now, 0);
    if (c->cursor != c->saved_cursor && *next_ms > c->saved_at_ms + CURSOR_FLUSH_MS) {
        *next_ms = c->saved_at_ms + CURSOR_FLUSH_MS;
    }
}

static void handle_done(struct hd_dispatcher *d)
{
    void *ud = NULL;
    struct hd_response resp;
    while (hd_http_client_done(d->http, &ud, &resp)) {
        struct dreq *r = ud;
        dreq_unlink(d, r);
        struct dchan *c = hd_dchan_find(d, r->channel_id);
        if (c != NULL && (c->inflight == r || hd_dwin_has(c, r))) {
            hd_channel_scrub(c->ch, &resp);
            answer_request(d, c, r, &resp);
        } else {
            hd_log(HD_LOG_DEBUG, "channel id=%lld: answer dropped, channel deleted",
                   (long long)r->channel_id);
        }
        hd_response_clear(&resp);
        dreq_free(d, r);
    }
}

/* ---- the loop ---------------------------------------------------------- */

/* The lowest committed seq that gives c something to do before its own
 * timer: NEVER while it cannot send (a retry or group notification in
 * flight, its window full: an answer wakes the loop), backing off, disabled
 * or unloaded; a full batch while its batch lingers; else the next event
 * after what it sent. */
static int64_t wanted_seq(const struct hd_dispatcher *d, const struct dchan *c, int64_t now)
{
    if (c->inflight != NULL || !c->enabled || c->ch == NULL || !hd_dwin_room(c, now)) {
        return NEVER;
    }
    return c->sent + (c->lingering ? (int64_t)batch_limit(d, c) : 1);
}

/* Publishes the seq whose commit should wake the loop, then looks once more:
 * a commit between the loop's read of max_seq and this store saw the old
 * (lower) mark and woke it, or is seen here. Returns the wait to use. */
static int64_t arm_wakeup(struct hd_dispatcher *d, int64_t want, int64_t wait)
{
    atomic_store(&d->wake_seq, want);
    if (d->st->ops->max_seq(d->st) >= want) {
        return 0;
    }
    return wait;
}

static void flush_all(struct hd_dispatcher *d)
{
    int64_t now = hd_now_ms();
    for (struct dchan *c = d->chans; c != NULL; c = c->next) {
        flush_cursor(d, c, now, 1);
    }
}

static void *loop_main(void *arg)
{
    hd_thread_name("hd-dispatch");
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
        atomic_store(&d->wake_seq, 0); /* every commit wakes the loop until it is armed again */
        int64_t now = hd_now_ms();
        if (atomic_exchange(&d->reload_req, 0) || reload_retry_ms <= now) {
            reload_retry_ms = hd_dchans_reload(d) == HD_OK ? NEVER : now + 1000;
        }
        handle_done(d);
        hd_slab_idle(&d->answer_mem);
        now = hd_now_ms();
        int64_t max_seq = d->st->ops->max_seq(d->st);
        int64_t next_ms = now + MAX_POLL_MS;
        if (reload_retry_ms < next_ms) {
            next_ms = reload_retry_ms;
        }
        int64_t want = NEVER;
        for (struct dchan *c = d->chans; c != NULL; c = c->next) {
            start_work(d, c, now, max_seq, &next_ms);
            int64_t w = wanted_seq(d, c, now);
            want = w < want ? w : want;
        }
        hd_dchans_publish(d, max_seq, now);
        int64_t wait = next_ms - hd_now_ms();
        if (wait < 0) {
            wait = 0;
        }
        if (wait > MAX_POLL_MS) {
            wait = MAX_POLL_MS;
        }
        hd_http_client_poll(d->http, (int)arm_wakeup(d, want, wait));
    }
    flush_all(d);
    hd_dchans_publish(d, d->st->ops->max_seq(d->st), hd_now_ms());
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
    hd_slab_init(&d->answer_mem, ANSWER_SLAB_CHUNK, ANSWER_SLAB_CHUNK, READ_SLAB_IDLE_MS);
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
    int rc = hd_dchans_reload(d);
    if (rc != HD_OK) {
        hd_err_set(err, rc, "dispatcher: cannot load channels");
        goto fail;
    }
    hd_dchans_publish(d, st->ops->max_seq(st), hd_now_ms());
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

void hd_dispatcher_committed(struct hd_dispatcher *d, int64_t max_seq)
{
    if (max_seq <= 0 || max_seq >= atomic_load(&d->wake_seq)) {
        hd_http_client_wakeup(d->http);
    }
}

void hd_dispatcher_channels_changed(struct hd_dispatcher *d)
{
    atomic_store(&d->reload_req, 1);
    hd_http_client_wakeup(d->http);
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
        hd_dchan_free(c);
        c = next;
    }
    while (d->reqs != NULL) {
        struct dreq *r = d->reqs;
        d->reqs = r->next;
        dreq_free(d, r);
    }
    hd_silence_set_clear(&d->silences);
    hd_slab_free(&d->answer_mem);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
