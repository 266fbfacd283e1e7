/* pagerduty.c - PAGER_DUTY: PagerDuty Events API v2 (SPEC 4, 5, 6).
 *
 * DESIGN: one POST {base}/v2/enqueue per event (base https://events.pagerduty.com,
 * or options.endpoint). Sysdig's option names: serviceKey (the Events API v2
 * integration key, sent as routing_key), account and serviceName (kept, shown
 * in custom_details). ACTIVE events "trigger" and OK / RESOLVED events
 * "resolve" with the same dedup_key, the event's alertKey (notify.h
 * hd_notify_key), so the resolve closes what the trigger opened and a retried
 * trigger is deduplicated by PagerDuty (SPEC 6 idempotence). notifyOnOk /
 * notifyOnResolve are applied by the dispatcher's filter before render.
 *
 * Answers (developer.pagerduty.com, Events API v2 "Response Codes & Retry
 * Logic"): 202 accepted; 400 invalid event, not retried (its "message" and
 * "errors" become the dead letter's reason); 429 and 5xx retried.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/notify.h"
#include "core/util.h"

#define PD_DEFAULT_BASE "https://events.pagerduty.com"
#define PD_KEY_LEN 32       /* "the 32 character Integration Key" */
#define PD_DEDUP_MAX 255    /* dedup_key limit */
#define PD_SUMMARY_MAX 1024 /* payload.summary limit */

struct pagerduty {
    /* Borrowed from ch->options, which lives as long as the channel. */
    const char *service_key;
    const char *account;
    const char *service_name;
};

static int pd_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct pagerduty *p = ch->ctx;
    int rc = hd_opt_str(options, "options", "serviceKey", 1, &p->service_key, err);
    if (rc != HD_OK) {
        return rc;
    }
    /* The key is never echoed: only its length is a property worth naming. */
    size_t n = strlen(p->service_key);
    int printable = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p->service_key[i];
        if (c <= 0x20 || c >= 0x7f) {
            printable = 0;
        }
    }
    if (n != PD_KEY_LEN || !printable) {
        return hd_err_set(
            err, HD_EINVAL,
            "options.serviceKey: must be the 32-character Events API v2 integration key (got %zu "
            "characters)",
            n);
    }
    rc = hd_opt_str(options, "options", "account", 0, &p->account, err);
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "serviceName", 0, &p->service_name, err);
    }
    return rc;
}

static json_object *pd_body(const struct pagerduty *p, const struct hd_event *ev, const char *dedup,
                            const char *summary)
{
    json_object *o = json_object_new_object();
    if (o == NULL) {
        return NULL;
    }
    hd_notify_put(o, "routing_key", p->service_key);
    hd_notify_put(o, "dedup_key", dedup);
    if (ev->state != HD_STATE_ACTIVE) {
        hd_notify_put(o, "event_action", "resolve");
        return o;
    }
    hd_notify_put(o, "event_action", "trigger");
    hd_notify_put(o, "client", "herald");
    hd_notify_put(o, "client_url", ev->url);
    json_object *pl = json_object_new_object();
    json_object_object_add(o, "payload", pl);
    if (pl == NULL) {
        json_object_put(o);
        return NULL;
    }
    const char *where = hd_notify_where(ev);
    char ts[40];
    hd_format_iso_ms(ev->ts_us, ts, sizeof(ts));
    hd_notify_put(pl, "summary", summary);
    hd_notify_put(pl, "source", where != NULL ? where : ev->source != NULL ? ev->source : "herald");
    hd_notify_put(pl, "severity", hd_severity_pagerduty(ev->severity));
    hd_notify_put(pl, "timestamp", ts);
    hd_notify_put(pl, "component", ev->k8s_pod != NULL ? ev->k8s_pod : ev->container_id);
    hd_notify_put(pl, "group", ev->k8s_namespace);
    hd_notify_put(pl, "class", ev->source);
    json_object *cd = hd_notify_details(ev, 0);
    if (cd != NULL) {
        hd_notify_put(cd, "account", p->account);
        hd_notify_put(cd, "serviceName", p->service_name);
        if (hd_notify_is_test(ev)) {
            json_object_object_add(cd, "test", json_object_new_boolean(1));
        }
    }
    json_object_object_add(pl, "custom_details", cd);
    if (ev->url != NULL && hd_url_valid(ev->url)) {
        json_object *links = json_object_new_array();
        json_object *l = json_object_new_object();
        hd_notify_put(l, "href", ev->url);
        hd_notify_put(l, "text", "Open in the source");
        json_object_array_add(links, l);
        json_object_object_add(o, "links", links);
    }
    return o;
}

/* req was initialised by the caller; on failure the caller clears it. */
static int pd_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                     struct hd_request *req, struct hd_err *err)
{
    struct pagerduty *p = ch->ctx;
    struct hd_buf url, dedup, summary;
    json_object *body = NULL;
    int rc;
    (void)n; /* 1: max_batch, checked by hd_channel_render */
    hd_buf_init(&url, 0);
    hd_buf_init(&dedup, 0);
    hd_buf_init(&summary, 0);
    rc = hd_notify_base_url(ch, PD_DEFAULT_BASE, &url);
    if (rc == HD_OK) {
        rc = hd_buf_puts(&url, "/v2/enqueue");
    }
    if (rc == HD_OK) {
        rc = hd_notify_key(evs[0], PD_DEDUP_MAX, &dedup);
    }
    if (rc == HD_OK) {
        rc = hd_notify_summary(evs[0], PD_SUMMARY_MAX, &summary);
    }
    if (rc != HD_OK) {
        rc = hd_err_set(err, rc, "pagerduty: %s", hd_strerror(rc));
        goto out;
    }
    body = pd_body(p, evs[0], dedup.p, summary.p);
    rc = hd_notify_request(ch, "pagerduty", &url, req, err);
    if (rc == HD_OK) {
        rc = hd_notify_render_json(body, req, err);
    }
out:
    json_object_put(body);
    hd_buf_free(&url);
    hd_buf_free(&dedup);
    hd_buf_free(&summary);
    return rc;
}

/* "invalid event: Event object is invalid: <errors[0]>; <errors[1]>" from
 * {"status","message","errors":[...]}; the body's start when it is not that. */
static void pd_reason(const struct hd_response *resp, char *out, size_t outsz)
{
    json_object *o = resp->body.len > 0 ? hd_json_parse(resp->body.p, resp->body.len, NULL) : NULL;
    const char *status = hd_json_get_str(o, "status");
    const char *msg = hd_json_get_str(o, "message");
    json_object *errs = hd_opt_get(o, "errors");
    if (status == NULL && msg == NULL) {
        hd_notify_body_excerpt(resp, out, outsz);
        json_object_put(o);
        return;
    }
    size_t pos = 0;
    int w = snprintf(out, outsz, "%s%s%s", status ? status : "", status && msg ? ": " : "", msg ? msg : "");
    pos = w > 0 ? (size_t)w : 0;
    for (size_t i = 0; errs != NULL && json_object_is_type(errs, json_type_array) &&
                       i < json_object_array_length(errs) && pos + 1 < outsz;
         i++) {
        w = snprintf(out + pos, outsz - pos, "%s%s", i == 0 ? ": " : "; ",
                     json_object_get_string(json_object_array_get_idx(errs, i)));
        pos += w > 0 ? (size_t)w : 0;
    }
    json_object_put(o);
}

static enum hd_verdict pd_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                   struct hd_item_verdict *items)
{
    (void)ch;
    return hd_notify_classify(resp, pd_reason, n, items);
}

static const char *const pd_secrets[] = {"serviceKey", NULL};
const struct hd_channel_type hd_channel_pagerduty = {
    .name = "PAGER_DUTY",
    .ctx_size = sizeof(struct pagerduty),
    .max_batch = 1,
    .secret_options = pd_secrets,
    .configure = pd_configure,
    .render = pd_render,
    .classify = pd_classify,
};
