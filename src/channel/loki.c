/* loki.c - LOKI: events as log lines of Grafana Loki (SPEC 4).
 *
 * DESIGN: one POST <url>/loki/api/v1/push per batch (options.endpoint
 * replaces url), the JSON push format of Loki's HTTP API reference
 * (grafana.com/docs/loki/latest/reference/loki-http-api, "Ingest logs"):
 *   {"streams":[{"stream":{"<label>":"<value>",...},
 *                "values":[["<unix epoch ns, a string>","<line>"],...]}]}
 * The line is the event's original document (options.transform applied, as
 * for WEBHOOK: with none, the original bytes as they came). Stream labels
 * come from options.labels, an object of label name -> event field path
 * (model/field.h: source, severity, k8s.namespace, labels.<key>, raw.<path>
 * ...), default {"source":"source","namespace":"k8s.namespace",
 * "severity":"severity"}; a field the event lacks leaves its label out, and
 * an event left with no label at all goes to {job="herald"} (Loki refuses a
 * stream without labels). Label names follow Prometheus' syntax
 * [a-zA-Z_][a-zA-Z0-9_]* and may not start with "__" (reserved); at most 15
 * (Loki's default max_label_names_per_series).
 *
 * Events of a batch are grouped into one stream per distinct label set, the
 * values of each stream in time order (ties in ingest order). The time is
 * options.timestamp: "received" (default), herald's arrival time, which is
 * stable across retries (Loki drops an entry whose stream, time and line it
 * already holds, so a re-sent batch does not duplicate) and recent (Loki
 * refuses entries older than reject_old_samples_max_age, one week by
 * default); or "event", the source's own time, for backfills into a Loki
 * that accepts old samples.
 *
 * options.tenantId becomes X-Scope-OrgID (multi-tenant Loki); basic or
 * bearer auth goes in options.additionalHeaders (secrets). batch.maxBytes
 * bounds the body: an oversized batch is refused at render and the
 * dispatcher halves it.
 *
 * Answers: 204 stored. 400 is Loki refusing entries for good (entry too
 * far behind / out of order, timestamp too old or too new, line too long,
 * invalid labels): the batch is dead with Loki's text as the reason (Loki
 * stored the batch's other entries, and a replay of the dead letters
 * cannot duplicate them, see above). 429 (ingestion rate limit) and 5xx are
 * retried; other 4xx (401/403 from a gateway, 404 not a Loki) are dead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/notify.h"
#include "channel/transform.h"
#include "core/util.h"
#include "model/field.h"

#define LOKI_MAX_BATCH 1000
#define LOKI_PATH "/loki/api/v1/push"
#define LOKI_MAX_LABELS 15
#define LOKI_TENANT_MAX 150
#define LOKI_FALLBACK_LABEL "job"
#define LOKI_FALLBACK_VALUE "herald"

struct loki_label {
    const char *name; /* borrowed from ch->options (or static: the default set) */
    const char *path;
};

struct loki {
    const char *url;
    const char *tenant;   /* NULL: single-tenant Loki */
    json_object *headers; /* borrowed additionalHeaders, validated */
    struct loki_label labels[LOKI_MAX_LABELS];
    size_t n_labels;
    int event_time; /* options.timestamp "event" */
};

static const struct loki_label default_labels[] = {
    {"source", "source"},
    {"namespace", "k8s.namespace"},
    {"severity", "severity"},
};

/* Prometheus label name, not reserved: [a-zA-Z_][a-zA-Z0-9_]*, no "__" prefix. */
static int label_name_ok(const char *s)
{
    if (s[0] == '\0' || (s[0] >= '0' && s[0] <= '9') || strncmp(s, "__", 2) == 0) {
        return 0;
    }
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
            return 0;
        }
    }
    return 1;
}

static int parse_labels(struct loki *l, json_object *options, struct hd_err *err)
{
    json_object *o = hd_opt_get(options, "labels");
    if (o == NULL) {
        memcpy(l->labels, default_labels, sizeof(default_labels));
        l->n_labels = sizeof(default_labels) / sizeof(default_labels[0]);
        return HD_OK;
    }
    if (!json_object_is_type(o, json_type_object) || json_object_object_length(o) == 0) {
        return hd_err_set(err, HD_EINVAL,
                          "options.labels: must be a non-empty object of label name -> event field path");
    }
    if (json_object_object_length(o) > LOKI_MAX_LABELS) {
        return hd_err_set(err, HD_EINVAL,
                          "options.labels: at most %d labels (Loki's max_label_names_per_series)",
                          LOKI_MAX_LABELS);
    }
    json_object_object_foreach(o, k, v)
    {
        if (!label_name_ok(k)) {
            return hd_err_set(err, HD_EINVAL,
                              "options.labels.%.64s: not a Loki label name ([a-zA-Z_][a-zA-Z0-9_]*, not "
                              "starting with __)",
                              k);
        }
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0) {
            return hd_err_set(err, HD_EINVAL,
                              "options.labels.%s: must be an event field path (\"k8s.namespace\")", k);
        }
        l->labels[l->n_labels].name = k;
        l->labels[l->n_labels].path = json_object_get_string(v);
        l->n_labels++;
    }
    return HD_OK;
}

/* Loki tenant IDs: 1..150 of [A-Za-z0-9!-_.*'()] ("Multi-tenancy"). */
static int tenant_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LOKI_TENANT_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 strchr("!-_.*'()", c) != NULL;
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

static int loki_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct loki *l = ch->ctx;
    const char *ts = NULL;
    int rc = hd_opt_url(options, "options", "url", 1, &l->url, err);
    if (rc == HD_OK) {
        /* Slots stay free for Content-Type and X-Scope-OrgID. */
        rc =
            hd_opt_headers(options, "options", "additionalHeaders", HD_REQ_MAX_HEADERS - 2, &l->headers, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "tenantId", 0, &l->tenant, err);
    }
    if (rc == HD_OK && l->tenant != NULL && !tenant_ok(l->tenant)) {
        rc = hd_err_set(err, HD_EINVAL, "options.tenantId: 1..150 characters of A-Z a-z 0-9 ! - _ . * ' ( )");
    }
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "timestamp", 0, &ts, err);
    }
    if (rc == HD_OK && ts != NULL && strcmp(ts, "event") != 0 && strcmp(ts, "received") != 0) {
        rc = hd_err_set(err, HD_EINVAL, "options.timestamp: must be \"received\" (default) or \"event\"");
    }
    if (rc == HD_OK) {
        l->event_time = ts != NULL && strcmp(ts, "event") == 0;
        rc = parse_labels(l, options, err);
    }
    return rc;
}

/* ---- render ---- */

/* One stream of a batch: its label set and the events in it. */
struct stream {
    json_object *labels; /* owned */
    char *key;           /* canonical text of labels: equality */
    size_t *idx;         /* indexes into the batch, in time order once sorted */
    size_t n;
};

struct entry_order {
    const struct hd_event *const *evs;
    int event_time;
};

static int64_t entry_time(const struct hd_event *ev, int event_time)
{
    return event_time ? ev->ts_us : ev->recv_us;
}

static json_object *stream_labels(const struct loki *l, const struct hd_event *ev)
{
    json_object *o = json_object_new_object();
    struct hd_event_docs d = {0};
    for (size_t i = 0; o != NULL && i < l->n_labels; i++) {
        char num[24];
        const char *v = hd_event_field(ev, l->labels[i].path, &d, num, sizeof(num));
        hd_notify_put(o, l->labels[i].name, v);
    }
    hd_event_docs_free(&d);
    if (o != NULL && json_object_object_length(o) == 0) {
        hd_notify_put(o, LOKI_FALLBACK_LABEL, LOKI_FALLBACK_VALUE);
    }
    return o;
}

static void streams_free(struct stream *s, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++) {
        json_object_put(s[i].labels);
        free(s[i].key);
        free(s[i].idx);
    }
    free(s);
}

/* Groups evs[0..n) by label set into *out (*n_out streams; each idx has
 * room for n). */
static int group(const struct loki *l, const struct hd_event *const *evs, size_t n, struct stream **out,
                 size_t *n_out)
{
    struct stream *s = calloc(n, sizeof(*s));
    size_t ns = 0;
    int rc = s != NULL ? HD_OK : HD_ENOMEM;
    struct hd_buf key;
    hd_buf_init(&key, 0);
    for (size_t i = 0; rc == HD_OK && i < n; i++) {
        json_object *labels = stream_labels(l, evs[i]);
        hd_buf_reset(&key);
        rc = labels != NULL ? hd_json_canonical(labels, &key) : HD_ENOMEM;
        size_t j = 0;
        while (rc == HD_OK && j < ns && strcmp(s[j].key, key.p) != 0) {
            j++;
        }
        if (rc == HD_OK && j == ns) {
            s[j].labels = labels;
            labels = NULL;
            s[j].key = hd_strdup(key.p);
            s[j].idx = malloc(n * sizeof(size_t));
            ns++;
            rc = s[j].key != NULL && s[j].idx != NULL ? HD_OK : HD_ENOMEM;
        }
        if (rc == HD_OK) {
            s[j].idx[s[j].n++] = i;
        }
        json_object_put(labels);
    }
    hd_buf_free(&key);
    if (rc != HD_OK) {
        streams_free(s, ns);
        return rc;
    }
    *out = s;
    *n_out = ns;
    return HD_OK;
}

/* Insertion sort of one stream's entries by time, stable (ingest order on
 * ties); batches arrive nearly sorted, so this is close to linear. */
static void sort_stream(struct stream *s, const struct entry_order *o)
{
    for (size_t i = 1; i < s->n; i++) {
        size_t v = s->idx[i];
        int64_t t = entry_time(o->evs[v], o->event_time);
        size_t j = i;
        while (j > 0 && entry_time(o->evs[s->idx[j - 1]], o->event_time) > t) {
            s->idx[j] = s->idx[j - 1];
            j--;
        }
        s->idx[j] = v;
    }
}

static int put_values(const struct hd_channel *ch, const struct stream *s, const struct entry_order *o,
                      json_object *values, struct hd_err *err)
{
    struct hd_buf line;
    hd_buf_init(&line, 0);
    int rc = HD_OK;
    for (size_t i = 0; rc == HD_OK && i < s->n; i++) {
        const struct hd_event *ev = o->evs[s->idx[i]];
        char ns[32];
        snprintf(ns, sizeof(ns), "%lld", (long long)entry_time(ev, o->event_time) * 1000LL);
        hd_buf_reset(&line);
        rc = hd_transform_apply(ev, ch->common.transform, NULL, &line, err);
        if (rc != HD_OK) {
            break;
        }
        json_object *pair = json_object_new_array();
        json_object_array_add(pair, json_object_new_string(ns));
        json_object_array_add(pair, json_object_new_string_len(line.p != NULL ? line.p : "", (int)line.len));
        json_object_array_add(values, pair);
    }
    hd_buf_free(&line);
    return rc;
}

static int loki_body(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                     struct hd_request *req, struct hd_err *err)
{
    struct loki *l = ch->ctx;
    struct stream *s = NULL;
    size_t ns = 0;
    int rc = group(l, evs, n, &s, &ns);
    if (rc != HD_OK) {
        return hd_err_set(err, rc, "loki: %s", hd_strerror(rc));
    }
    const struct entry_order order = {evs, l->event_time};
    json_object *body = json_object_new_object();
    json_object *streams = json_object_new_array();
    json_object_object_add(body, "streams", streams);
    for (size_t i = 0; rc == HD_OK && i < ns; i++) {
        sort_stream(&s[i], &order);
        json_object *st = json_object_new_object();
        json_object *values = json_object_new_array();
        json_object_object_add(st, "stream", json_object_get(s[i].labels));
        json_object_object_add(st, "values", values);
        json_object_array_add(streams, st);
        rc = put_values(ch, &s[i], &order, values, err);
    }
    if (rc == HD_OK) {
        rc = hd_notify_render_json(body, req, err);
    }
    json_object_put(body);
    streams_free(s, ns);
    return rc;
}

/* req was initialised by the caller; on failure the caller clears it. */
static int loki_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                       struct hd_request *req, struct hd_err *err)
{
    struct loki *l = ch->ctx;
    int rc = hd_notify_post(ch, "loki", l->url, LOKI_PATH, req, err);
    if (rc != HD_OK) {
        return rc;
    }
    if ((l->tenant != NULL && hd_request_add_header(req, "X-Scope-OrgID", l->tenant) != HD_OK) ||
        hd_request_add_headers(req, l->headers) != HD_OK) {
        return hd_err_set(err, HD_ENOMEM, "loki: cannot add headers");
    }
    rc = loki_body(ch, evs, n, req, err);
    if (rc == HD_OK && n > 1 && ch->common.batch_max_bytes > 0 &&
        req->body.len > ch->common.batch_max_bytes) {
        rc = hd_err_set(err, HD_ETOOBIG, "loki: batch of %zu events is %zu bytes, over batch.maxBytes %zu", n,
                        req->body.len, ch->common.batch_max_bytes);
    }
    return rc;
}

static enum hd_verdict loki_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                     struct hd_item_verdict *items)
{
    (void)ch;
    return hd_notify_classify(resp, hd_notify_body_excerpt, n, items); /* Loki answers plain text */
}

static const char *const loki_secrets[] = {"additionalHeaders.*", NULL};
static const char *const loki_urls[] = {"url", NULL};

const struct hd_channel_type hd_channel_loki = {
    .name = "LOKI",
    .log_sink = 1,
    .ctx_size = sizeof(struct loki),
    .max_batch = LOKI_MAX_BATCH,
    .secret_options = loki_secrets,
    .url_options = loki_urls,
    .configure = loki_configure,
    .render = loki_render,
    .classify = loki_classify,
};
