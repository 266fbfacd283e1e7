/* alertmanager.c - PROMETHEUS_ALERT_MANAGER: events as alerts of a Prometheus
 * Alertmanager (SPEC 4, 5).
 *
 * DESIGN: herald acts as an alert generator, the role Prometheus plays: one
 * POST <url>/api/v2/alerts per batch (options.endpoint replaces url) with a
 * JSON array of postableAlert objects (Alertmanager's OpenAPI spec,
 * api/v2/openapi.yaml; prometheus.io/docs/alerting/latest/clients):
 *   {"labels": {...}, "annotations": {...}, "startsAt": RFC 3339,
 *    "endsAt": RFC 3339 (resolved only), "generatorURL": the event's url}
 * Labels are the alert's identity (its fingerprint), so they hold only what
 * does not change between an alert's states: alertname (the event name),
 * severity (critical / error / warning / info, the words herald's own
 * Alertmanager decoder reads back), source, namespace, pod, container, host,
 * alertkey, then the event's own labels under sanitized names (a character
 * outside [a-zA-Z0-9_] becomes '_', a leading digit gets a '_' before it:
 * the label name syntax of Alertmanager 0.25). Annotations carry what may
 * change: summary, description, eventId.
 *
 * ACTIVE: startsAt = the event time and no endsAt, so Alertmanager resolves
 * the alert by itself after its resolve_timeout (default 5 m) unless herald
 * sends the OK first: Prometheus re-sends firing alerts, herald sends each
 * state once. OK / RESOLVED: startsAt = endsAt = the event time, which
 * Alertmanager merges into the firing alert of the same labels and shows as
 * resolved. Alertmanager de-duplicates by labels, so a re-sent batch is
 * harmless (SPEC 6).
 *
 * Batches of up to 64 alerts (Prometheus' own batch size,
 * --alertmanager.notification-batch-size default). Answers: 200 stored; 400
 * when an alert is invalid (the body is a JSON string or {"code","message"};
 * the valid alerts of the batch were stored anyway, so a dead letter of the
 * batch loses nothing a replay would not restore); 429 / 5xx retried.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/notify.h"
#include "core/util.h"

#define AM_MAX_BATCH 64
#define AM_PATH "/api/v2/alerts"
#define AM_LABEL_MAX 128 /* bytes of a sanitized label name */

struct am {
    const char *url;      /* borrowed from ch->options */
    json_object *headers; /* borrowed additionalHeaders, validated */
};

static int am_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct am *a = ch->ctx;
    int rc = hd_opt_url(options, "options", "url", 1, &a->url, err);
    if (rc == HD_OK) {
        /* One header slot stays free for Content-Type. */
        rc =
            hd_opt_headers(options, "options", "additionalHeaders", HD_REQ_MAX_HEADERS - 1, &a->headers, err);
    }
    if (rc == HD_OK && hd_headers_has(a->headers, "Content-Type")) {
        rc = hd_err_set(err, HD_EINVAL, "options.additionalHeaders.Content-Type: herald sends JSON");
    }
    return rc;
}

/* A label name Alertmanager accepts, from any key: [a-zA-Z_][a-zA-Z0-9_]*. */
static void label_name(const char *key, char *out, size_t outsz)
{
    size_t j = 0;
    if (key[0] >= '0' && key[0] <= '9') {
        out[j++] = '_';
    }
    for (size_t i = 0; key[i] != '\0' && j + 1 < outsz; i++) {
        char c = key[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        out[j++] = ok ? c : '_';
    }
    out[j] = '\0';
}

/* The event's own labels, under names not taken by herald's. */
static void put_event_labels(json_object *labels, const struct hd_event *ev)
{
    json_object *own = ev->labels != NULL ? hd_json_parse(ev->labels, strlen(ev->labels), NULL) : NULL;
    if (own != NULL && json_object_is_type(own, json_type_object)) {
        json_object_object_foreach(own, k, v)
        {
            char name[AM_LABEL_MAX];
            label_name(k, name, sizeof(name));
            json_type t = json_object_get_type(v);
            int scalar = t == json_type_string || t == json_type_int || t == json_type_double ||
                         t == json_type_boolean;
            if (name[0] != '\0' && scalar && !json_object_object_get_ex(labels, name, NULL)) {
                hd_notify_put(labels, name, json_object_get_string(v));
            }
        }
    }
    json_object_put(own);
}

static json_object *am_alert(const struct hd_event *ev)
{
    json_object *a = json_object_new_object();
    json_object *labels = json_object_new_object();
    json_object *ann = json_object_new_object();
    char ts[40];
    struct hd_buf summary;
    hd_buf_init(&summary, 0);
    hd_notify_put(labels, "alertname", ev->name != NULL && ev->name[0] != '\0' ? ev->name : "herald");
    hd_notify_put(labels, "severity", hd_severity_pagerduty(ev->severity));
    hd_notify_put(labels, "source", ev->source);
    hd_notify_put(labels, "namespace", ev->k8s_namespace);
    hd_notify_put(labels, "pod", ev->k8s_pod);
    hd_notify_put(labels, "container", ev->k8s_container);
    hd_notify_put(labels, "host", ev->host);
    hd_notify_put(labels, "alertkey", ev->alert_key);
    put_event_labels(labels, ev);
    hd_notify_summary(ev, 0, &summary);
    hd_notify_put(ann, "summary", summary.p);
    hd_notify_put(ann, "description", ev->description);
    hd_notify_put(ann, "eventId", ev->id);
    hd_buf_free(&summary);
    json_object_object_add(a, "labels", labels);
    json_object_object_add(a, "annotations", ann);
    hd_format_iso_ms(ev->ts_us, ts, sizeof(ts));
    hd_notify_put(a, "startsAt", ts);
    if (ev->state != HD_STATE_ACTIVE) {
        hd_notify_put(a, "endsAt", ts);
    }
    if (ev->url != NULL && hd_url_valid(ev->url)) {
        hd_notify_put(a, "generatorURL", ev->url);
    }
    return a;
}

/* req was initialised by the caller; on failure the caller clears it. */
static int am_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                     struct hd_request *req, struct hd_err *err)
{
    struct am *a = ch->ctx;
    int rc = hd_notify_post(ch, "alertmanager", a->url, AM_PATH, req, err);
    if (rc == HD_OK && hd_request_add_headers(req, a->headers) != HD_OK) {
        rc = hd_err_set(err, HD_ENOMEM, "alertmanager: cannot add headers");
    }
    if (rc != HD_OK) {
        return rc;
    }
    json_object *alerts = json_object_new_array();
    for (size_t i = 0; alerts != NULL && i < n; i++) {
        json_object_array_add(alerts, am_alert(evs[i]));
    }
    rc = hd_notify_render_json(alerts, req, err);
    json_object_put(alerts);
    return rc;
}

static enum hd_verdict am_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                   struct hd_item_verdict *items)
{
    (void)ch;
    return hd_notify_classify(resp, hd_notify_json_error, n, items);
}

static const char *const am_secrets[] = {"additionalHeaders.*", NULL};
static const char *const am_urls[] = {"url", NULL};

const struct hd_channel_type hd_channel_alertmanager = {
    .name = "PROMETHEUS_ALERT_MANAGER",
    .ctx_size = sizeof(struct am),
    .max_batch = AM_MAX_BATCH,
    .secret_options = am_secrets,
    .url_options = am_urls,
    .configure = am_configure,
    .render = am_render,
    .classify = am_classify,
};
