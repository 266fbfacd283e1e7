/* answer.c - what the answer to a request of events records.
 *
 * DESIGN: classify gives per-item verdicts (the driver's, else the overall
 * one) and ONE store progress call records the rows with the cursor:
 * DELIVERED (deletes a retried row; a new event needs no row, the cursor
 * covers it), PENDING (attempts+1, next_ms = now + full-jitter backoff from
 * retry_initial_ms doubling to retry_max_ms, never earlier than Retry-After;
 * FAILED once older than max_retry_age_ms) and FAILED rows (dead letters with
 * the sink's status and answer). An answer that needs no row (all delivered)
 * only moves the cursor in memory; the dispatcher persists it lazily.
 * If the store write fails nothing is counted and the same events go out
 * again (at least once).
 *
 * With several requests in flight (window.c) an answer records its rows
 * as a lone request's would; r->new_cursor is the cursor the window lets
 * it record (-1: an earlier request is still unanswered).
 *
 * Two answers take another path: a batch accepted under an acknowledgement
 * id awaits the sink's confirmation (acks.c), and a failing batch of new
 * events that the breaker holds (breaker.c) records no row and keeps the
 * cursor: the events are still in the log. Every answer then tells the
 * breaker how the request went. Answers to acknowledgement queries go to
 * acks.c.
 *
 * Loop thread only, like the rest of a struct dchan (dispatcher_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "route/acks.h"
#include "route/breaker.h"
#include "route/dispatcher_int.h"

/* ---- helpers ----------------------------------------------------------- */

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

/* ---- an answer to events ---------------------------------------------- */

/* One answer to a request of events, while it is being recorded. */
struct answer {
    struct dreq *r;
    const struct hd_response *resp;
    int64_t now;
    int64_t now_us;
    char why[256];                    /* the answer described, for logs and last_error */
    char labels[320];                 /* of herald_delivery_latency_seconds */
    struct hd_item_verdict *verdicts; /* one per item */
    struct hd_delivery *ups;          /* the rows to record: k of them */
    char (*errs)[256];                /* per item: last_error once retries are exhausted */
    size_t k;
    int64_t n_ok;
    int64_t n_retry;
    int64_t n_dead;
    int64_t earliest_retry;
};

/* Fills a->verdicts: the driver's per-item verdicts, else the overall one; a
 * failed item without its own error carries the answer's description.
 * Returns the overall verdict. A destination refused by
 * security.denyDestinations is DEAD whatever the driver would say of a
 * transport error: nothing was sent, and every retry would be refused the
 * same way until the list or the channel changes (replay the dead letters
 * then). */
static enum hd_verdict answer_classify(struct answer *a)
{
    struct dreq *r = a->r;
    struct hd_item_verdict *items = a->verdicts;
    for (size_t i = 0; i < r->n; i++) {
        items[i].status = -1; /* not filled by the driver: takes the overall verdict */
    }
    enum hd_verdict overall =
        a->resp->denied ? HD_VERDICT_DEAD : r->ch->type->classify(r->ch, a->resp, r->n, items);
    for (size_t i = 0; i < r->n; i++) {
        if (items[i].status == -1) {
            items[i].verdict = overall;
            items[i].status = (int)a->resp->status;
        }
        if (items[i].verdict != HD_VERDICT_DELIVERED && items[i].error[0] == '\0') {
            snprintf(items[i].error, sizeof(items[i].error), "%s", a->why);
        }
    }
    return overall;
}

/* The next attempt of a failed item: full jitter under the capped
 * exponential backoff, never earlier than Retry-After. */
static int64_t retry_at(struct hd_dispatcher *d, const struct answer *a, int attempts)
{
    int64_t cap = backoff_cap(&d->cfg, attempts);
    int64_t delay = (int64_t)(rng_next(d) % (uint64_t)(cap + 1)); /* full jitter */
    if (a->resp->retry_after_ms > delay) {
        delay = a->resp->retry_after_ms;
    }
    return a->now + delay;
}

/* Counts item i of the answer and adds its row to a->ups, unless it needs
 * none (a new event delivered: the cursor covers it). */
static void answer_item(struct hd_dispatcher *d, const struct dchan *c, struct answer *a, size_t i)
{
    const struct dreq *r = a->r;
    const struct ditem *it = &r->items[i];
    struct hd_item_verdict *v = &a->verdicts[i];
    struct hd_delivery *u = &a->ups[a->k];
    hd_dchan_row(c, it, HD_DELIVERY_FAILED, a->now, u);
    u->attempts = it->attempts + 1;
    u->first_ms = r->is_retry && it->first_ms > 0 ? it->first_ms : a->now;
    u->last_status = v->status;
    u->last_error = v->error;
    switch (v->verdict) {
    case HD_VERDICT_DELIVERED:
        a->n_ok++;
        if (it->recv_us > 0) {
            hd_metrics_observe("herald_delivery_latency_seconds", a->labels,
                               (double)(a->now_us - it->recv_us) / 1e6);
        }
        if (!r->is_retry) {
            return; /* no row: the cursor covers it */
        }
        u->status = HD_DELIVERY_DELIVERED;
        u->last_error = NULL;
        break;
    case HD_VERDICT_RETRY:
        if (a->now - u->first_ms >= d->cfg.max_retry_age_ms) {
            snprintf(a->errs[i], sizeof(a->errs[i]), "retries exhausted after %lld s: %.200s",
                     (long long)((a->now - u->first_ms) / 1000), v->error);
            u->last_error = a->errs[i];
            u->status = HD_DELIVERY_FAILED;
            a->n_dead++;
            break;
        }
        u->status = HD_DELIVERY_PENDING;
        u->next_ms = retry_at(d, a, u->attempts);
        if (u->next_ms < a->earliest_retry) {
            a->earliest_retry = u->next_ms;
        }
        a->n_retry++;
        break;
    case HD_VERDICT_DEAD:
    default:
        u->status = HD_DELIVERY_FAILED;
        a->n_dead++;
        break;
    }
    a->k++;
}

/* Records the answer's rows with the cursor (none and the cursor kept when
 * the breaker holds the batch), then counts it. Returns HD_OK, or the
 * store's error: nothing recorded, the same events go out again (at least
 * once). */
static int answer_record(struct hd_dispatcher *d, struct dchan *c, const struct answer *a, int hold)
{
    const struct dreq *r = a->r;
    int64_t new_cursor = (hold || r->is_retry) ? -1 : r->new_cursor;
    if (a->k > 0) {
        int rc = hd_dchan_progress(d, c, new_cursor, a->ups, a->k);
        if (rc != HD_OK) {
            return rc;
        }
    } else if (new_cursor >= 0) {
        hd_dchan_cursor_move(c, new_cursor); /* no row to write: persisted lazily */
    }
    if (!r->is_retry && !hold && a->n_retry > 0) {
        /* New PENDING rows: counted at once (the next refresh recounts);
         * above the cursor their events are also after it (window.c). */
        c->pending += a->n_retry;
        if (new_cursor < 0) {
            hd_dwin_note_retries(c, r, a->n_retry);
        }
    }
    c->delivered += a->n_ok;
    c->failed += a->n_dead;
    if (a->n_ok > 0) {
        c->last_success_ms = a->now;
    }
    hd_dchan_count(c, "delivered", a->n_ok);
    hd_dchan_count(c, "retry", a->n_retry);
    hd_dchan_count(c, "failed", a->n_dead);
    if (a->earliest_retry < c->retry_check_ms) {
        c->retry_check_ms = a->earliest_retry;
    }
    if (r->is_retry) {
        c->retry_check_ms = a->now;
    }
    if (a->n_dead > 0) {
        hd_dchan_set_error(c, "%s", a->why);
        const char *first = NULL; /* the event field: the first dead letter of the batch */
        for (size_t i = 0; i < a->k && first == NULL; i++) {
            if (a->ups[i].status == HD_DELIVERY_FAILED) {
                first = a->ups[i].event_id;
            }
        }
        hd_log_kv(HD_LOG_WARN, HD_KV({"channel", c->name}, {"event", first}),
                  "while posting to %s: %s; %lld event(s) dead-lettered", r->host, a->why,
                  (long long)a->n_dead);
    }
    return HD_OK;
}

/* Tells the breaker how the request went (failed: overall verdict RETRY).
 * With several requests in flight (window.c), an answer to one launched
 * before the last failure was seen says nothing new: a success neither
 * closes the breaker nor ends the backoff (a request sent after the
 * failure decides), and a failure counts but does not lengthen the backoff
 * of a breaker already open. */
static void breaker_answer(struct hd_dispatcher *d, struct dchan *c, const struct answer *a, int failed)
{
    if (a->r->launch_no <= c->fail_launches && (!failed || c->brk.open)) {
        if (failed) {
            hd_dchan_set_error(c, "%s", a->why);
        }
        return;
    }
    if (failed) {
        c->fail_launches = c->launches;
    }
    struct hd_breaker_answer ba = {
        .channel = c->name,
        .host = a->r->host,
        .why = a->why,
        .failed = failed,
        .retry_after_ms = a->resp->retry_after_ms,
        .now = a->now,
    };
    if (failed) {
        hd_dchan_set_error(c, "%s", a->why);
    }
    hd_breaker_update(&c->brk, &d->cfg, &ba, &c->next_attempt_ms);
}

/* Returns 1 if the answer was recorded, 0 if r's events must go out again. */
static int on_answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r, const struct hd_response *resp)
{
    int recorded = 0;
    struct answer a = {
        .r = r,
        .resp = resp,
        .now = hd_now_ms(),
        .now_us = hd_now_us(),
        .earliest_retry = NEVER,
    };
    hd_describe_answer(resp, a.why, sizeof(a.why));
    hd_dchan_latency_labels(c, a.labels, sizeof(a.labels));
    /* From the dispatcher's slab, reset below: fresh arrays of a few
     * hundred KiB per answer were faulted in page by page and trimmed away
     * again (docs/performance.md, round 16). */
    size_t n = r->n > 0 ? r->n : 1;
    a.verdicts = hd_slab_alloc(&d->answer_mem, n * sizeof(*a.verdicts));
    a.ups = hd_slab_alloc(&d->answer_mem, n * sizeof(*a.ups));
    /* Not zeroed: an entry is written before it is read (a dead item), and
     * zeroing n * 256 bytes per answer was 1 % of herald's CPU with
     * batches of 1,000 (docs/performance.md, round 14). */
    a.errs = hd_slab_alloc(&d->answer_mem, n * sizeof(*a.errs));
    if (a.verdicts == NULL || a.ups == NULL || a.errs == NULL) {
        /* Nothing recorded: the cursor stays and the events go out again. */
        c->next_attempt_ms = a.now + 1000;
        goto out;
    }
    memset(a.verdicts, 0, n * sizeof(*a.verdicts));
    memset(a.ups, 0, n * sizeof(*a.ups));
    enum hd_verdict overall = answer_classify(&a);
    int64_t ack_id = -1;
    if (overall == HD_VERDICT_DELIVERED && hd_acks_id(r, resp, a.verdicts, &ack_id)) {
        if (hd_acks_await(d, c, r, resp, ack_id, a.now) == HD_OK) {
            breaker_answer(d, c, &a, 0);
            recorded = 1;
        }
        goto out;
    }
    int failed_request = overall == HD_VERDICT_RETRY;
    /* Held only when alone in the window: the events are read again from
     * the cursor, and none above them must be (window.c). */
    int hold = failed_request && !r->is_retry && hd_breaker_holds(&c->brk, &d->cfg) && hd_dwin_alone(c, r);
    if (hold) {
        a.n_retry = (int64_t)r->n;
    } else {
        for (size_t i = 0; i < r->n; i++) {
            answer_item(d, c, &a, i);
        }
    }
    if (answer_record(d, c, &a, hold) != HD_OK) {
        goto out;
    }
    breaker_answer(d, c, &a, failed_request);
    recorded = !hold;
out:
    hd_slab_reset(&d->answer_mem);
    return recorded;
}

int hd_dchan_answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r, const struct hd_response *resp)
{
    if (r->ack_ids != NULL) {
        hd_acks_on_answer(d, c, r, resp);
        return 1;
    }
    if (r->group_key != NULL) {
        hd_dchan_group_answer(d, c, r, resp);
        return 1;
    }
    return on_answer(d, c, r, resp);
}
