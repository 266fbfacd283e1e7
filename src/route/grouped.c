/* grouped.c - the dispatcher's side of options.group (route/groups.h): a
 * grouped channel takes new events into its groups, saving them with its
 * cursor in one store transaction, and sends one notification per due
 * group; the answer moves the group on (sent) or schedules a retry. A group
 * notification has no exception rows: it is not a stored event, and a
 * refused one (4xx) is dropped with a log line, as a dead letter would be. */
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "core/log.h"
#include "core/util.h"
#include "route/breaker.h"
#include "route/dispatcher_int.h"
#include "route/filter.h"
#include "route/groups.h"

#define GROUP_RETRY_MIN_MS 1000

/* The store failed: what was taken into groups but not saved is forgotten
 * (the events after the stored cursor are read again). */
static int reload_groups(struct hd_dispatcher *d, struct dchan *c)
{
    struct hd_err err = {0};
    struct hd_groups *g = hd_groups_load(d->st, c->id, &err);
    if (g != NULL) {
        hd_groups_free(c->groups);
        c->groups = g;
    }
    c->groups_stale = g == NULL;
    hd_dchan_buf_drop(c);
    if (d->st->ops->cursor_get(d->st, c->id, &c->cursor, &err) == HD_OK) {
        c->saved_cursor = c->cursor;
    }
    c->next_attempt_ms = hd_now_ms() + GROUP_RETRY_MIN_MS;
    return g != NULL ? HD_OK : HD_EIO;
}

/* Takes the read-ahead's events into groups and saves them with the cursor. */
static void take_events(struct hd_dispatcher *d, struct dchan *c, int64_t now, int64_t max_seq,
                        int64_t *next_ms)
{
    if (!hd_dchan_refill(d, c, d->cfg.read_batch, max_seq)) {
        return;
    }
    /* groups learn of every change of their alerts: notifyOnOk and
     * notifyOnResolve decide what is notified, not what is known */
    struct hd_channel_common f = c->ch->common;
    f.notify_on_ok = 1;
    f.notify_on_resolve = 1;
    int64_t last = c->cursor;
    int rc = HD_OK;
    for (size_t i = c->buf_pos; i < c->buf_n && rc == HD_OK; i++) {
        const struct hd_event *ev = &c->buf[i];
        last = ev->seq;
        if (!hd_filter_accepts(&f, ev)) {
            continue;
        }
        if (c->ch->common.respect_silences && hd_silence_set_match(&d->silences, ev) != NULL) {
            hd_dchan_count(c, "silenced", 1);
            continue;
        }
        rc = hd_groups_add(c->groups, c->ch->common.group, ev, now);
    }
    struct hd_err err = {0};
    if (rc == HD_OK) {
        rc = hd_groups_save(c->groups, d->st, c->id, last, &err);
    }
    if (rc != HD_OK) {
        hd_log(HD_LOG_ERROR, "channel=%s while saving its notification groups: %s", c->name,
               err.msg[0] ? err.msg : hd_strerror(rc));
        (void)reload_groups(d, c);
        return;
    }
    hd_dchan_cursor_move(c, last);
    c->saved_cursor = c->cursor;
    c->saved_at_ms = now;
    if (c->cursor < max_seq) {
        *next_ms = 0; /* more to read */
    }
}

static void notify_group(struct hd_dispatcher *d, struct dchan *c, const char *key, int64_t now)
{
    struct hd_event ev;
    memset(&ev, 0, sizeof(ev));
    struct hd_request req;
    struct hd_err err = {0};
    char *gkey = hd_strdup(key);
    int rc = gkey != NULL ? hd_groups_event(c->groups, key, c->id, now, &ev) : HD_ENOMEM;
    const struct hd_event *evs[1] = {&ev};
    size_t m = 1;
    struct ditem *items = NULL;
    if (rc == HD_OK) {
        hd_request_init(&req);
        rc = hd_channel_render(c->ch, evs, m, &req, &err);
        if (rc != HD_OK) {
            hd_request_clear(&req);
            hd_log(HD_LOG_ERROR, "channel=%s cannot render the notification of group %.200s, dropped: %s",
                   c->name, key, err.msg);
            hd_groups_sent(c->groups, c->ch->common.group, key, now);
        }
    }
    if (rc == HD_OK && (items = hd_ditems_of(evs, NULL, 1)) == NULL) {
        hd_request_clear(&req);
        rc = HD_ENOMEM;
    }
    if (rc == HD_OK) {
        struct dreq what = {.items = items, .n = 1, .new_cursor = -1, .group_key = gkey};
        hd_dchan_submit(d, c, &req, &what);
        gkey = NULL;
    } else if (rc == HD_ENOMEM) {
        c->next_attempt_ms = now + GROUP_RETRY_MIN_MS;
    }
    free(gkey);
    hd_event_clear(&ev);
}

void hd_dchan_group_work(struct hd_dispatcher *d, struct dchan *c, int64_t now, int64_t max_seq,
                         int64_t *next_ms)
{
    if (c->groups_stale && reload_groups(d, c) != HD_OK) {
        return;
    }
    if (c->cursor < max_seq || c->buf_pos < c->buf_n) {
        take_events(d, c, now, max_seq, next_ms);
    }
    if (c->inflight != NULL || c->next_attempt_ms > now) {
        return;
    }
    int64_t nx = NEVER;
    const char *key =
        hd_groups_due(c->groups, c->ch->common.group, c->ch->common.notify_on_resolve, now, &nx);
    if (key != NULL) {
        notify_group(d, c, key, now);
    }
    struct hd_err err = {0};
    if (hd_groups_save(c->groups, d->st, c->id, -1, &err) != HD_OK) { /* groups that ended quietly */
        hd_log(HD_LOG_WARN, "channel=%s while saving its notification groups: %s", c->name, err.msg);
    }
    if (nx < *next_ms) {
        *next_ms = nx;
    }
}

void hd_dchan_group_answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r,
                           const struct hd_response *resp)
{
    int64_t now = hd_now_ms();
    char why[256];
    hd_describe_answer(resp, why, sizeof(why));
    struct hd_item_verdict item;
    memset(&item, 0, sizeof(item));
    enum hd_verdict v = resp->denied ? HD_VERDICT_DEAD : r->ch->type->classify(r->ch, resp, 1, &item);
    if (c->groups == NULL) {
        return; /* the channel lost its group option meanwhile */
    }
    const struct hd_group_opt *opt =
        c->ch != NULL && c->ch->common.group != NULL ? c->ch->common.group : r->ch->common.group;
    if (v == HD_VERDICT_RETRY) {
        struct hd_breaker_answer ba = {.channel = c->name,
                                       .host = r->host,
                                       .why = why,
                                       .failed = 1,
                                       .retry_after_ms = resp->retry_after_ms,
                                       .now = now};
        hd_dchan_set_error(c, "%s", why);
        hd_breaker_update(&c->brk, &d->cfg, &ba, &c->next_attempt_ms);
        int64_t at = c->next_attempt_ms > now ? c->next_attempt_ms : now + GROUP_RETRY_MIN_MS;
        hd_groups_retry(c->groups, r->group_key, at);
        hd_dchan_count(c, "retry", 1);
        return;
    }
    if (v == HD_VERDICT_DEAD) {
        hd_dchan_set_error(c, "%s", why);
        hd_log(HD_LOG_WARN, "channel=%s while posting to %s: %s; the notification of group %.200s is dropped",
               c->name, r->host, why, r->group_key);
        c->failed++;
        hd_dchan_count(c, "failed", 1);
    } else {
        c->delivered++;
        c->last_success_ms = now;
        hd_dchan_count(c, "delivered", 1);
        struct hd_breaker_answer ba = {.channel = c->name, .host = r->host, .why = why, .now = now};
        hd_breaker_update(&c->brk, &d->cfg, &ba, &c->next_attempt_ms);
    }
    hd_groups_sent(c->groups, opt, r->group_key, now);
    struct hd_err err = {0};
    if (hd_groups_save(c->groups, d->st, c->id, -1, &err) != HD_OK) {
        hd_log(HD_LOG_WARN, "channel=%s while saving its notification groups: %s", c->name, err.msg);
    }
}
