/* stats.c - GET /api/stats (counts for the dashboard) and GET /api/channelStatus.
 *
 * /api/stats ?from=&to=&time=&severity=&severityExact=&state=&source=&namespace=&rule=&q=
 * (the filters of GET /api/events), groupBy=severity|state|namespace|source|rule
 * (default severity), interval=<duration> (optional: time buckets aligned on
 * the epoch; a unit ms, s, m, h, d or w, and a bare number is seconds as
 * everywhere in herald: "30m" = "1800000ms" = "1800"),
 * limit=<max distinct keys in "counts", default 1000>.
 * Answer: {"groupBy","time","interval","total","truncated","counts":{key:n},
 *          "buckets":[{"t":<epoch ms>,"counts":{key:n}}]} (buckets by time:
 * only those holding events; "interval" in milliseconds; "time" says which
 * time from/to and the buckets are on: "event" or "received").
 * An event without a value for the dimension (no namespace) counts under "".
 *
 * DESIGN: the store aggregates (hd_store_ops.stats: SQL GROUP BY over a
 * covering index), so the cost is one index range scan whatever the number
 * of events, and this file only shapes rows into JSON. Without an interval
 * the rows are the counts, ordered by count; with one, the per-bucket rows
 * are also summed into "counts". At most STATS_MAX_ROWS rows come back
 * (then "truncated": true): a dashboard asks for a window and an interval
 * that give a few hundred buckets.
 *
 * /api/channelStatus joins the stored channels with the dispatcher's live
 * state (health, backlog, last error) for the dashboard's Channels page; it
 * is a herald extension next to the Sysdig-compatible channel objects, which
 * stay exactly what clients PUT back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "core/util.h"

#define STATS_MAX_ROWS 20000
#define STATS_DEFAULT_KEYS 1000

static const char *const group_names[] = {
    [HD_STATS_SEVERITY] = "severity", [HD_STATS_STATE] = "state", [HD_STATS_NAMESPACE] = "namespace",
    [HD_STATS_SOURCE] = "source",     [HD_STATS_RULE] = "rule",
};

static void add_count(json_object *counts, const char *key, int64_t n)
{
    json_object *v = NULL;
    if (json_object_object_get_ex(counts, key, &v)) {
        json_object_set_int64(v, json_object_get_int64(v) + n);
    } else {
        json_object_object_add(counts, key, json_object_new_int64(n));
    }
}

struct key_count {
    const char *key;
    int64_t n;
};

static int cmp_count_desc(const void *a, const void *b)
{
    const struct key_count *x = a, *y = b;
    if (x->n != y->n) {
        return x->n < y->n ? 1 : -1;
    }
    return strcmp(x->key, y->key);
}

/* counts ordered by count descending, at most max keys (*cut = 1 if more).
 * Returns a new object. */
static json_object *top_counts(json_object *counts, size_t max, int *cut)
{
    size_t n = (size_t)json_object_object_length(counts);
    struct key_count *kc = n > 0 ? calloc(n, sizeof(*kc)) : NULL;
    json_object *res = json_object_new_object();
    size_t i = 0;
    if (n > 0 && kc == NULL) {
        return res;
    }
    json_object_object_foreach(counts, k, v)
    {
        kc[i].key = k;
        kc[i].n = json_object_get_int64(v);
        i++;
    }
    if (i > 1) {
        qsort(kc, i, sizeof(*kc), cmp_count_desc);
    }
    for (size_t j = 0; j < i && j < max; j++) {
        json_object_object_add(res, kc[j].key, json_object_new_int64(kc[j].n));
    }
    if (i > max) {
        *cut = 1;
    }
    free(kc);
    return res;
}

void hd_api_stats(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    struct hd_event_query q;
    struct hd_stats_row *rows = NULL;
    size_t n = 0;
    int truncated = 0;
    json_object *all = NULL;
    json_object *res = NULL;

    if (hd_api_event_filters(c, &q) != HD_OK) {
        return;
    }
    enum hd_stats_group g = HD_STATS_SEVERITY;
    const char *gb = hd_http_query(c->req, "groupBy");
    if (gb != NULL && gb[0] != '\0') {
        size_t i = 0;
        while (i < sizeof(group_names) / sizeof(group_names[0]) && strcmp(gb, group_names[i]) != 0) {
            i++;
        }
        if (i == sizeof(group_names) / sizeof(group_names[0])) {
            hd_http_error(c->resp, 400, "groupBy: '%.32s' is not severity, state, namespace, source or rule",
                          gb);
            return;
        }
        g = (enum hd_stats_group)i;
    }
    int64_t interval = 0;
    const char *iv = hd_http_query(c->req, "interval");
    if (iv != NULL && iv[0] != '\0') {
        if (hd_parse_duration_ms(iv, &interval) != HD_OK || interval < 1000) {
            hd_http_error(c->resp, 400,
                          "interval: '%.32s' is not a duration of at least 1s (e.g. 30m, 1800000ms; "
                          "a bare number is seconds)",
                          iv);
            return;
        }
    }
    size_t max_keys = 0;
    if (hd_api_query_limit(c, STATS_DEFAULT_KEYS, STATS_MAX_ROWS, &max_keys) != HD_OK) {
        return;
    }
    if (st->ops->stats == NULL) {
        hd_http_error(c->resp, 501, "stats: the %s store cannot aggregate", st->ops->name);
        return;
    }
    int rc =
        st->ops->stats(st,
                       &(struct hd_stats_query){
                           .filter = &q, .group = g, .interval_ms = interval, .max_rows = STATS_MAX_ROWS},
                       &rows, &n, &truncated, &err);
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while counting events");
        return;
    }

    all = json_object_new_object();
    json_object *buckets = json_object_new_array();
    json_object *cur = NULL; /* counts of the bucket being filled (borrowed) */
    int64_t cur_t = 0;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const struct hd_stats_row *r = &rows[i];
        total += r->count;
        add_count(all, r->key, r->count);
        if (interval <= 0) {
            continue;
        }
        if (cur == NULL || r->bucket_ms != cur_t) {
            json_object *b = json_object_new_object();
            cur = json_object_new_object();
            cur_t = r->bucket_ms;
            json_object_object_add(b, "t", json_object_new_int64(cur_t));
            json_object_object_add(b, "counts", cur);
            json_object_array_add(buckets, b);
        }
        add_count(cur, r->key, r->count);
    }
    res = json_object_new_object();
    json_object_object_add(res, "groupBy", json_object_new_string(group_names[g]));
    json_object_object_add(res, "time", json_object_new_string(q.by_received ? "received" : "event"));
    json_object_object_add(res, "interval", interval > 0 ? json_object_new_int64(interval) : NULL);
    json_object_object_add(res, "total", json_object_new_int64(total));
    json_object *counts = top_counts(all, max_keys, &truncated);
    json_object_object_add(res, "truncated", json_object_new_boolean(truncated));
    json_object_object_add(res, "counts", counts);
    json_object_object_add(res, "buckets", buckets);
    hd_api_json(c, 200, res);
    json_object_put(res);
    json_object_put(all);
    free(rows);
}

/* Health from what the channel's recent attempts did, never "healthy" by
 * default: disabled; unknown (no live state); failing (breaker open, or the
 * latest attempt failed and nothing was delivered since start or within
 * HEALTH_WINDOW_MS); degraded (the latest attempt failed, retries waiting,
 * or a failure within HEALTH_WINDOW_MS); idle (no attempt since start);
 * healthy (the latest attempt succeeded and none failed lately).
 * why says which, for people. */
#define HEALTH_WINDOW_MS (15 * 60 * 1000)

static const char *channel_health(const struct hd_channel_rec *r, int have,
                                  const struct hd_channel_status *cs, int64_t pending, int64_t now,
                                  const char **why)
{
    int failed_last = cs->last_failure_ms > 0 && cs->last_failure_ms >= cs->last_success_ms;
    if (!r->enabled) {
        *why = "disabled: nothing is sent";
        return "disabled";
    }
    if (!have) {
        *why = "no live state on this replica";
        return "unknown";
    }
    if (cs->breaker_open) {
        *why = "circuit breaker open: consecutive failures, sending paused until the next attempt";
        return "failing";
    }
    if (failed_last && cs->last_success_ms == 0) {
        *why = "every attempt since start failed";
        return "failing";
    }
    if (failed_last && now - cs->last_success_ms >= HEALTH_WINDOW_MS) {
        *why = "the latest attempts failed, no success in the last 15 minutes";
        return "failing";
    }
    if (failed_last) {
        *why = "the latest attempt failed";
        return "degraded";
    }
    if (cs->consecutive_failures > 0 || pending > 0) {
        *why = "deliveries waiting for a retry";
        return "degraded";
    }
    if (cs->last_failure_ms > 0 && now - cs->last_failure_ms < HEALTH_WINDOW_MS) {
        *why = "failures in the last 15 minutes, delivering since";
        return "degraded";
    }
    if (cs->last_success_ms == 0) {
        *why = "no delivery attempted since start";
        return "idle";
    }
    *why = "the latest attempts succeeded";
    return "healthy";
}

static json_object *i64_or_null(int64_t v)
{
    return v > 0 ? json_object_new_int64(v) : NULL;
}

/* One channel with its live state (dispatcher) and pending retries and dead
 * letters (store; -1 when they cannot be counted). */
static json_object *status_view(struct hd_api_call *c, const struct hd_channel_rec *r)
{
    struct hd_store *st = c->api->st;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_int64(r->id));
    json_object_object_add(o, "name", json_object_new_string(r->name != NULL ? r->name : ""));
    json_object_object_add(o, "type", json_object_new_string(r->type != NULL ? r->type : ""));
    json_object_object_add(o, "enabled", json_object_new_boolean(r->enabled));
    json_object_object_add(o, "version", json_object_new_int64(r->version));
    struct hd_channel_status cs;
    memset(&cs, 0, sizeof(cs));
    int have = c->api->disp != NULL && hd_dispatcher_status(c->api->disp, r->id, &cs) == HD_OK;
    int64_t pending = 0, dead = -1;
    struct hd_err perr = {0};
    if (st->ops->pending_count(st, r->id, &pending, &perr) != HD_OK) {
        pending = -1;
    }
    if (st->ops->dead_count != NULL && st->ops->dead_count(st, r->id, &dead, &perr) != HD_OK) {
        dead = -1;
    }
    const char *why = "";
    const char *health = channel_health(r, have, &cs, pending, hd_now_ms(), &why);
    json_object_object_add(o, "health", json_object_new_string(health));
    json_object_object_add(o, "healthReason", json_object_new_string(why));
    json_object_object_add(o, "pendingRetries", json_object_new_int64(pending));
    json_object_object_add(o, "deadLetters", json_object_new_int64(dead));
    if (have) {
        json_object_object_add(o, "backlog", json_object_new_int64(cs.backlog));
        json_object_object_add(o, "delivered", json_object_new_int64(cs.delivered));
        json_object_object_add(o, "failed", json_object_new_int64(cs.failed));
        json_object_object_add(o, "consecutiveFailures", json_object_new_int64(cs.consecutive_failures));
        json_object_object_add(o, "breakerOpen", json_object_new_boolean(cs.breaker_open));
        json_object_object_add(o, "nextAttemptMs", i64_or_null(cs.next_attempt_ms));
        json_object_object_add(o, "lastSuccessMs", i64_or_null(cs.last_success_ms));
        json_object_object_add(o, "lastFailureMs", i64_or_null(cs.last_failure_ms));
        json_object_object_add(o, "lastError",
                               cs.last_error[0] != '\0' ? json_object_new_string(cs.last_error) : NULL);
    }
    return o;
}

void hd_api_channel_status(struct hd_api_call *c)
{
    hd_api_channels_answer(c, "channels", status_view);
}
