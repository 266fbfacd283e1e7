/* stats.c - GET /api/stats: counts for the dashboard.
 *
 * ?from=&to=&severity=&state=&source=&namespace=&q= (as GET /api/events),
 * groupBy=severity|state|namespace|source|rule (default severity),
 * interval=<duration or ms> (optional: time buckets aligned on the epoch).
 * Answer: {"groupBy","interval","total","truncated","counts":{key:n},
 *          "buckets":[{"t":<epoch ms>,"counts":{key:n}}]} (buckets by time).
 *
 * DESIGN: the store has no aggregation call, so this pages through the
 * matching events (newest first) and counts in memory, up to STATS_MAX_EVENTS
 * (then "truncated": true). Good enough for a dashboard over a window; a
 * store-side GROUP BY is the upgrade path if it ever shows in a profile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "core/util.h"

#define STATS_PAGE 1000
#define STATS_MAX_EVENTS 100000
#define STATS_MAX_BUCKETS 2000

enum group_by { G_SEVERITY, G_STATE, G_NAMESPACE, G_SOURCE, G_RULE };

static const char *const group_names[] = {"severity", "state", "namespace", "source", "rule"};

static void group_key(enum group_by g, const struct hd_event *ev, char *key, size_t keysz)
{
    const char *k = NULL;
    json_object *labels = NULL;
    switch (g) {
    case G_SEVERITY:
        snprintf(key, keysz, "%d", ev->severity);
        return;
    case G_STATE:
        k = hd_state_name(ev->state);
        break;
    case G_NAMESPACE:
        k = ev->k8s_namespace;
        break;
    case G_SOURCE:
        k = ev->source;
        break;
    case G_RULE:
        if (ev->labels != NULL) {
            labels = hd_json_parse(ev->labels, strlen(ev->labels), NULL);
            k = labels != NULL ? hd_json_get_str(labels, "rule") : NULL;
        }
        if (k == NULL) {
            k = ev->name;
        }
        break;
    }
    snprintf(key, keysz, "%s", (k != NULL && k[0] != '\0') ? k : "(none)");
    json_object_put(labels);
}

static void bump(json_object *counts, const char *key)
{
    json_object *v = NULL;
    if (json_object_object_get_ex(counts, key, &v)) {
        json_object_int_inc(v, 1);
    } else {
        json_object_object_add(counts, key, json_object_new_int64(1));
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void hd_api_stats(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    struct hd_event_query q;
    if (hd_api_event_filters(c, &q) != HD_OK) {
        return;
    }
    enum group_by g = G_SEVERITY;
    const char *gb = hd_http_query(c->req, "groupBy");
    if (gb != NULL && gb[0] != '\0') {
        size_t i = 0;
        while (i < sizeof(group_names) / sizeof(group_names[0]) && strcmp(gb, group_names[i]) != 0) {
            i++;
        }
        if (i == sizeof(group_names) / sizeof(group_names[0])) {
            hd_http_error(c->resp, 400, "groupBy: '%.32s' is not severity, state, namespace, source or rule", gb);
            return;
        }
        g = (enum group_by)i;
    }
    int64_t interval = 0;
    const char *iv = hd_http_query(c->req, "interval");
    if (iv != NULL && iv[0] != '\0') {
        if (hd_parse_duration_ms(iv, &interval) != HD_OK || interval < 1000) {
            hd_http_error(c->resp, 400, "interval: '%.32s' is not a duration of at least 1s (e.g. 5m, 1h)", iv);
            return;
        }
    }

    json_object *counts = json_object_new_object();
    json_object *buckets = json_object_new_object();   /* "t" -> counts */
    int64_t *times = NULL;
    size_t n_times = 0;
    int64_t total = 0;
    int truncated = 0;
    q.limit = STATS_PAGE;
    for (;;) {
        struct hd_event *evs = NULL;
        size_t n = 0;
        int64_t next = 0;
        int rc = st->ops->events_query(st, &q, &evs, &n, &next, &err);
        if (rc != HD_OK) {
            hd_api_fail(c, rc, &err, "while querying events");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            char key[128];
            group_key(g, &evs[i], key, sizeof(key));
            bump(counts, key);
            total++;
            if (interval > 0) {
                int64_t ms = evs[i].ts_us / 1000;
                int64_t t = ms - ((ms % interval) + interval) % interval;
                char tk[24];
                snprintf(tk, sizeof(tk), "%lld", (long long)t);
                json_object *bc = NULL;
                if (!json_object_object_get_ex(buckets, tk, &bc)) {
                    if (n_times >= STATS_MAX_BUCKETS) {
                        truncated = 1;
                        continue;
                    }
                    int64_t *nt = realloc(times, (n_times + 1) * sizeof(*times));
                    if (nt == NULL) {
                        continue;
                    }
                    times = nt;
                    times[n_times++] = t;
                    bc = json_object_new_object();
                    json_object_object_add(buckets, tk, bc);
                }
                bump(bc, key);
            }
        }
        for (size_t i = 0; i < n; i++) {
            hd_event_clear(&evs[i]);
        }
        free(evs);
        if (next <= 0 || n == 0) {
            break;
        }
        if (total >= STATS_MAX_EVENTS) {
            truncated = 1;
            break;
        }
        q.before_seq = next;
    }
    if (n_times > 0) {
        qsort(times, n_times, sizeof(*times), cmp_i64);
    }
    json_object *res = json_object_new_object();
    json_object_object_add(res, "groupBy", json_object_new_string(group_names[g]));
    json_object_object_add(res, "interval", interval > 0 ? json_object_new_int64(interval) : NULL);
    json_object_object_add(res, "total", json_object_new_int64(total));
    json_object_object_add(res, "truncated", json_object_new_boolean(truncated));
    json_object_object_add(res, "counts", json_object_get(counts));
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n_times; i++) {
        char tk[24];
        snprintf(tk, sizeof(tk), "%lld", (long long)times[i]);
        json_object *bc = NULL;
        json_object_object_get_ex(buckets, tk, &bc);
        json_object *b = json_object_new_object();
        json_object_object_add(b, "t", json_object_new_int64(times[i]));
        json_object_object_add(b, "counts", json_object_get(bc));
        json_object_array_add(arr, b);
    }
    json_object_object_add(res, "buckets", arr);
    hd_api_json(c, 200, res);
    json_object_put(res);
out:
    free(times);
    json_object_put(counts);
    json_object_put(buckets);
}
