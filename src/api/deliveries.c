/* deliveries.c - /api/deliveries: dead letters, pending retries, replays.
 *
 * DESIGN: the store keeps rows only for the exceptions (PENDING, FAILED);
 * "delivered" is derived: events at or below the channel's cursor that have
 * no row, arrived after the channel was created, and pass its filter. That
 * view needs one channel, hence channelId is required for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "channel/channel.h"
#include "core/log.h"
#include "core/util.h"
#include "route/filter.h"

#define DL_LIMIT_DEFAULT 100
#define DL_LIMIT_MAX 1000
#define DELIVERED_MAX_PAGES 10

static const char *name_of(const struct hd_channel_rec *chs, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (chs[i].id == id) {
            return chs[i].name;
        }
    }
    return NULL;
}

static int put_null_or_i64(struct hd_buf *o, const char *key, int64_t v, int present)
{
    return present ? hd_buf_printf(o, ",\"%s\":%lld", key, (long long)v)
                   : hd_buf_printf(o, ",\"%s\":null", key);
}

static int put_row(struct hd_buf *o, int first, const struct hd_delivery *d, const char *channel_name)
{
    int rc = first ? HD_OK : hd_buf_putc(o, ',');
    if (rc == HD_OK) {
        rc = hd_buf_printf(
            o, "{\"id\":%lld,\"eventId\":\"%s\",\"eventSeq\":%lld,\"channelId\":%lld,\"channelName\":",
            (long long)d->id, d->event_id, (long long)d->event_seq, (long long)d->channel_id);
    }
    if (rc == HD_OK) {
        rc = channel_name != NULL ? hd_buf_json_str(o, channel_name, strlen(channel_name))
                                  : hd_buf_puts(o, "null");
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(o, ",\"status\":\"%s\",\"attempts\":%d",
                           d->status == HD_DELIVERY_FAILED ? "failed" : "pending", d->attempts);
    }
    if (rc == HD_OK) {
        rc = put_null_or_i64(o, "firstFailedAt", d->first_ms, d->first_ms > 0);
    }
    if (rc == HD_OK) {
        rc = put_null_or_i64(o, "nextAttemptAt", d->next_ms,
                             d->status == HD_DELIVERY_PENDING && d->next_ms > 0);
    }
    if (rc == HD_OK) {
        rc = put_null_or_i64(o, "updatedAt", d->updated_ms, d->updated_ms > 0);
    }
    if (rc == HD_OK) {
        rc = put_null_or_i64(o, "lastStatus", d->last_status, d->last_status > 0);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(o, ",\"lastError\":");
    }
    if (rc == HD_OK) {
        rc = d->last_error != NULL ? hd_buf_json_str(o, d->last_error, strlen(d->last_error))
                                   : hd_buf_puts(o, "null");
    }
    if (rc == HD_OK) {
        rc = hd_buf_putc(o, '}');
    }
    return rc;
}

static int put_delivered(struct hd_buf *o, int first, const struct hd_event *ev,
                         const struct hd_channel_rec *ch)
{
    int rc = hd_buf_printf(
        o, "%s{\"id\":null,\"eventId\":\"%s\",\"eventSeq\":%lld,\"channelId\":%lld,\"channelName\":",
        first ? "" : ",", ev->id, (long long)ev->seq, (long long)ch->id);
    if (rc == HD_OK) {
        rc = hd_buf_json_str(o, ch->name != NULL ? ch->name : "", ch->name != NULL ? strlen(ch->name) : 0);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(o,
                         ",\"status\":\"delivered\",\"attempts\":null,\"firstFailedAt\":null,"
                         "\"nextAttemptAt\":null,\"updatedAt\":null,\"lastStatus\":null,\"lastError\":null}");
    }
    return rc;
}

/* 1 if the event has an exception row for channel_id. */
static int has_row(struct hd_store *st, int64_t seq, int64_t channel_id)
{
    struct hd_err err = {0};
    struct hd_delivery *rows = NULL;
    size_t n = 0;
    if (st->ops->deliveries_of_event(st, seq, &rows, &n, &err) != HD_OK) {
        return 0;
    }
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        found = rows[i].channel_id == channel_id;
    }
    hd_deliveries_free(rows, n);
    return found;
}

/* Closes the {"deliveries":[ list written to the body and answers it (500
 * when a write failed: wrc). */
static void answer_list(struct hd_api_call *c, int wrc)
{
    if (wrc == HD_OK) {
        wrc = hd_buf_puts(&c->resp->body, "]}");
    }
    if (wrc != HD_OK) {
        hd_http_error(c->resp, 500, "out of memory");
    } else {
        c->resp->status = 200;
    }
}

static void list_delivered(struct hd_api_call *c, int64_t channel_id, size_t limit)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    struct hd_channel_rec ch;
    memset(&ch, 0, sizeof(ch));
    struct hd_channel *rt = NULL;
    int rc = st->ops->channel_get(st, channel_id, &ch, &err);
    if (rc == HD_ENOTFOUND) {
        hd_http_error(c->resp, 404, "channelId: channel %lld not found", (long long)channel_id);
        return;
    }
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while reading the channel");
        return;
    }
    int64_t cursor = 0;
    rc = st->ops->cursor_get(st, channel_id, &cursor, &err);
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while reading the channel cursor");
        goto out;
    }
    rt = hd_channel_new(ch.id, ch.version, ch.json, &err); /* NULL: no filtering */
    struct hd_buf *o = &c->resp->body;
    hd_buf_reset(o);
    int wrc = hd_buf_puts(o, "{\"deliveries\":[");
    size_t count = 0;
    int64_t before = cursor + 1;
    for (int page = 0;
         page < DELIVERED_MAX_PAGES && cursor > 0 && before > 1 && count < limit && wrc == HD_OK; page++) {
        struct hd_event_query q = {
            .severity = -1, .before_seq = before, .limit = limit, .max_bytes = HD_API_PAGE_BYTES};
        struct hd_event *evs = NULL;
        size_t n = 0;
        int64_t next = 0;
        rc = st->ops->events_query(st, &q, &evs, &n, &next, &err);
        if (rc != HD_OK) {
            hd_api_fail(c, rc, &err, "while querying events");
            goto out;
        }
        for (size_t i = 0; i < n && count < limit && wrc == HD_OK; i++) {
            const struct hd_event *ev = &evs[i];
            if (ch.created_ms > 0 && ev->recv_us / 1000 < ch.created_ms) {
                before = 0; /* older events predate the channel */
                break;
            }
            if (rt != NULL && !hd_filter_accepts(&rt->common, ev)) {
                continue;
            }
            if (has_row(st, ev->seq, ch.id)) {
                continue;
            }
            wrc = put_delivered(o, count == 0, ev, &ch);
            count++;
        }
        hd_events_free(evs, n);
        if (before != 0) {
            before = n == 0 ? 0 : next;
        }
        if (before <= 0) {
            break;
        }
    }
    answer_list(c, wrc);
out:
    hd_channel_free(rt);
    hd_channel_rec_clear(&ch);
}

void hd_api_deliveries_list(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    int64_t channel_id = 0;
    size_t limit = 0;
    if (hd_api_query_i64(c, "channelId", 0, &channel_id) != HD_OK ||
        hd_api_query_limit(c, DL_LIMIT_DEFAULT, DL_LIMIT_MAX, &limit) != HD_OK) {
        return;
    }
    if (channel_id < 0) {
        hd_http_error(c->resp, 400, "channelId: must be a channel id");
        return;
    }
    const char *s = hd_http_query(c->req, "status");
    int status = -1;
    if (s != NULL && s[0] != '\0') {
        if (strcmp(s, "failed") == 0) {
            status = HD_DELIVERY_FAILED;
        } else if (strcmp(s, "pending") == 0) {
            status = HD_DELIVERY_PENDING;
        } else if (strcmp(s, "delivered") == 0) {
            if (channel_id == 0) {
                hd_http_error(c->resp, 400, "channelId: required with status=delivered");
                return;
            }
            list_delivered(c, channel_id, limit);
            return;
        } else {
            hd_http_error(c->resp, 400, "status: '%.32s' is not failed, pending or delivered", s);
            return;
        }
    }
    struct hd_channel_rec *chs = NULL;
    size_t nch = 0;
    struct hd_delivery *rows = NULL;
    size_t n = 0;
    int rc = st->ops->channel_list(st, &chs, &nch, &err);
    if (rc == HD_OK) {
        rc = st->ops->deliveries_list(
            st, &(struct hd_delivery_query){.channel_id = channel_id, .status = status, .limit = limit},
            &rows, &n, &err);
    }
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while listing deliveries");
        goto out;
    }
    struct hd_buf *o = &c->resp->body;
    hd_buf_reset(o);
    int wrc = hd_buf_puts(o, "{\"deliveries\":[");
    for (size_t i = 0; i < n && wrc == HD_OK; i++) {
        wrc = put_row(o, i == 0, &rows[i], name_of(chs, nch, rows[i].channel_id));
    }
    answer_list(c, wrc);
out:
    hd_deliveries_free(rows, n);
    hd_channel_recs_free(chs, nch);
}

static void retried(struct hd_api_call *c, size_t n)
{
    if (n > 0 && c->api->disp != NULL) {
        hd_dispatcher_channels_changed(c->api->disp);
    }
    hd_buf_reset(&c->resp->body);
    hd_buf_printf(&c->resp->body, "{\"retried\":%zu}", n);
    c->resp->status = 202;
}

void hd_api_delivery_retry(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    int64_t id = hd_api_parse_id(c->arg);
    if (id <= 0) {
        hd_http_error(c->resp, 404, "delivery '%.64s' not found", c->arg);
        return;
    }
    int rc = st->ops->delivery_retry(st, id, &err);
    if (rc == HD_ENOTFOUND) {
        hd_http_error(c->resp, 404, "delivery %lld not found or not a dead letter", (long long)id);
        return;
    }
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while queueing the retry");
        return;
    }
    hd_log(HD_LOG_INFO, "dead letter id=%lld queued for retry", (long long)id);
    retried(c, 1);
}

void hd_api_deliveries_retry_channel(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    int64_t channel_id = 0;
    if (hd_api_query_i64(c, "channelId", 0, &channel_id) != HD_OK) {
        return;
    }
    if (channel_id <= 0) {
        hd_http_error(c->resp, 400, "channelId: required (the channel whose dead letters to retry)");
        return;
    }
    size_t n = 0;
    int rc = st->ops->delivery_retry_channel(st, channel_id, &n, &err);
    if (rc == HD_ENOTFOUND) {
        hd_http_error(c->resp, 404, "channelId: channel %lld not found", (long long)channel_id);
        return;
    }
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while queueing the retries");
        return;
    }
    hd_log(HD_LOG_INFO, "channel id=%lld: %zu dead letters queued for retry", (long long)channel_id, n);
    retried(c, n);
}
