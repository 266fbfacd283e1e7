/* acks.c - indexer acknowledgements: batches the sink accepted but has not
 * confirmed yet (channel types with ack hooks and ch->ack_timeout_ms > 0:
 * SPLUNK useAck).
 *
 * DESIGN: an answer that classifies DELIVERED and carries an ack id is not a
 * delivery yet: ONE progress call records the batch's events as PENDING rows
 * with next_ms = now + ack timeout ("awaiting acknowledgement (id N)" in
 * last_error) together with the cursor, and the batch (struct dack) waits in
 * memory. So the cursor moves on (the channel keeps sending) while a kill -9
 * loses nothing: after a restart the rows simply come due at their deadline
 * and are re-sent (at least once). Every ACK_POLL_MS the ids are queried
 * (ack_render, up to ACK_POLL_MAX_IDS per request, in the channel's one
 * in-flight slot, first when due); confirmed batches become DELIVERED rows
 * (deleted), counted and timed only then. A batch still unconfirmed at its
 * deadline is expired BEFORE due retries are read: its rows become due now
 * with "not acknowledged within N ms" (or dead once older than
 * max_retry_age_ms), so the retry path re-sends it. Ack ids belong to the
 * struct hd_channel that got them (Splunk: its channel GUID): a reload drops
 * the in-memory batches, whose rows then come due at their deadline. At most
 * ACK_MAX_AWAITING batches wait per channel; beyond that the channel only
 * polls. Channels without ack hooks never reach this code.
 *
 * Loop thread only, like the rest of a struct dchan (dispatcher_int.h).
 */
#include "route/acks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#define ACK_POLL_MS 1000
#define ACK_POLL_MAX_IDS 1000
#define ACK_MAX_AWAITING 256

struct dack { /* a batch accepted by the sink, awaiting confirmation */
    struct dack *next;
    int64_t ack_id;
    struct ditem *items; /* attempts / first_ms as recorded in its rows */
    size_t n;
    int64_t deadline_ms; /* = next_ms of its PENDING rows */
};

/* ---- the list of waiting batches --------------------------------------- */

static void dack_free(struct dack *a)
{
    free(a->items);
    free(a);
}

void hd_acks_drop(struct dchan *c)
{
    while (c->acks != NULL) {
        struct dack *a = c->acks;
        c->acks = a->next;
        dack_free(a);
    }
    c->acks_tail = &c->acks;
    c->n_acks = 0;
    c->ack_poll_ms = NEVER;
}

int hd_acks_full(const struct dchan *c)
{
    return c->n_acks >= ACK_MAX_AWAITING;
}

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
            dack_free(a);
            c->n_acks--;
        } else {
            pp = &a->next;
        }
    }
    c->acks_tail = pp;
}

/* The items of the batches with sel[i] set, in list order: *out (the caller
 * frees it; NULL when there are none) and their number *k. */
static int acks_items(const struct dchan *c, const unsigned char *sel, const struct ditem ***out, size_t *k)
{
    size_t n = 0;
    size_t i = 0;
    for (const struct dack *a = c->acks; a != NULL; a = a->next, i++) {
        n += sel[i] ? a->n : 0;
    }
    const struct ditem **its = NULL;
    if (n > 0) {
        its = calloc(n, sizeof(*its));
        if (its == NULL) {
            return HD_ENOMEM;
        }
    }
    size_t u = 0;
    i = 0;
    for (const struct dack *a = c->acks; a != NULL; a = a->next, i++) {
        for (size_t j = 0; sel[i] && j < a->n; j++) {
            its[u++] = &a->items[j];
        }
    }
    *out = its;
    *k = n;
    return HD_OK;
}

/* ---- accepted batches -------------------------------------------------- */

int hd_acks_id(const struct dreq *r, const struct hd_response *resp, const struct hd_item_verdict *verdicts,
               int64_t *ack_id)
{
    if (r->ch->ack_timeout_ms <= 0 || r->ch->type->ack_id == NULL) {
        return 0;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (verdicts[i].verdict != HD_VERDICT_DELIVERED) {
            return 0;
        }
    }
    return r->ch->type->ack_id(r->ch, resp, ack_id) == 1;
}

int hd_acks_await(struct hd_dispatcher *d, struct dchan *c, struct dreq *r, const struct hd_response *resp,
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
        hd_dchan_row(c, it, HD_DELIVERY_PENDING, now, u);
        u->attempts = it->attempts;
        u->first_ms = it->first_ms;
        u->next_ms = deadline;
        u->last_status = (int)resp->status;
        u->last_error = msg;
    }
    int rc = hd_dchan_progress(d, c, r->is_retry ? -1 : r->new_cursor, ups, r->n);
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

/* ---- deadlines --------------------------------------------------------- */

/* Batches past their deadline: rows due now (the retry path re-sends them),
 * or dead once older than max_retry_age_ms. */
static void ack_expire(struct hd_dispatcher *d, struct dchan *c, int64_t now)
{
    size_t n_exp = 0;
    for (struct dack *a = c->acks; a != NULL; a = a->next) {
        n_exp += a->deadline_ms <= now;
    }
    if (n_exp == 0) {
        return;
    }
    unsigned char *sel = calloc(c->n_acks, 1);
    const struct ditem **its = NULL;
    struct hd_delivery *ups = NULL;
    size_t k = 0;
    char msg[160];
    char dead[256];
    if (sel == NULL) {
        return;
    }
    size_t i = 0;
    for (struct dack *a = c->acks; a != NULL; a = a->next, i++) {
        sel[i] = a->deadline_ms <= now;
    }
    if (acks_items(c, sel, &its, &k) != HD_OK) {
        goto out;
    }
    ups = calloc(k > 0 ? k : 1, sizeof(*ups));
    if (ups == NULL) {
        goto out;
    }
    snprintf(msg, sizeof(msg), "not acknowledged by the sink within %ld ms: sent again",
             c->ch != NULL ? c->ch->ack_timeout_ms : 0L);
    int64_t n_dead = 0;
    for (size_t u = 0; u < k; u++) {
        const struct ditem *it = its[u];
        hd_dchan_row(c, it, HD_DELIVERY_PENDING, now, &ups[u]);
        ups[u].attempts = it->attempts;
        ups[u].first_ms = it->first_ms;
        ups[u].next_ms = now;
        ups[u].last_error = msg;
        if (now - it->first_ms >= d->cfg.max_retry_age_ms) {
            snprintf(dead, sizeof(dead), "retries exhausted after %lld s: %.160s",
                     (long long)((now - it->first_ms) / 1000), msg);
            ups[u].status = HD_DELIVERY_FAILED;
            ups[u].last_error = dead;
            n_dead++;
        }
    }
    if (hd_dchan_progress(d, c, -1, ups, k) != HD_OK) {
        goto out; /* the rows stay due at their deadline anyway */
    }
    acks_remove(c, sel);
    c->failed += n_dead;
    hd_dchan_count(c, "retry", (int64_t)k - n_dead);
    hd_dchan_count(c, "failed", n_dead);
    c->retry_check_ms = now;
    hd_dchan_set_error(c, "%s", msg);
    hd_log_kv(HD_LOG_WARN, HD_KV({"channel", c->name}), "%zu event(s) %s", k, msg);
out:
    free(ups);
    free(its);
    free(sel);
}

/* ---- queries ----------------------------------------------------------- */

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
        hd_log_kv(HD_LOG_ERROR, HD_KV({"channel", c->name}), "cannot render the acknowledgement query: %s",
                  err.msg);
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
    hd_dchan_launch(d, c, &req, r);
    return 1;
}

int hd_acks_work(struct hd_dispatcher *d, struct dchan *c, int64_t now, int64_t *next_ms)
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

/* Records the batches with sel[i] set as delivered (rows deleted), observes
 * their latency and forgets them. */
static void ack_confirm(struct hd_dispatcher *d, struct dchan *c, const unsigned char *sel, int64_t now)
{
    int64_t now_us = hd_now_us();
    const struct ditem **its = NULL;
    struct hd_delivery *ups = NULL;
    size_t k = 0;
    if (acks_items(c, sel, &its, &k) != HD_OK || k == 0) {
        goto out;
    }
    ups = calloc(k, sizeof(*ups));
    if (ups == NULL) {
        goto out;
    }
    char labels[320];
    hd_dchan_latency_labels(c, labels, sizeof(labels));
    for (size_t u = 0; u < k; u++) {
        hd_dchan_row(c, its[u], HD_DELIVERY_DELIVERED, now, &ups[u]);
        if (its[u]->recv_us > 0) {
            hd_metrics_observe("herald_delivery_latency_seconds", labels,
                               (double)(now_us - its[u]->recv_us) / 1e6);
        }
    }
    if (hd_dchan_progress(d, c, -1, ups, k) != HD_OK) {
        goto out; /* confirmed again by the next query, or re-sent */
    }
    acks_remove(c, sel);
    c->delivered += (int64_t)k;
    c->last_success_ms = now;
    hd_dchan_count(c, "delivered", (int64_t)k);
out:
    free(ups);
    free(its);
}

void hd_acks_on_answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r,
                       const struct hd_response *resp)
{
    int64_t now = hd_now_ms();
    unsigned char *confirmed = NULL;
    unsigned char *sel = NULL;
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
        hd_describe_answer(resp, why, sizeof(why));
        hd_log_kv(HD_LOG_DEBUG, HD_KV({"channel", c->name}), "acknowledgement query to %s failed: %s",
                  r->host, why);
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
    ack_confirm(d, c, sel, now);
out:
    free(sel);
    free(confirmed);
}
