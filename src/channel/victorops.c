/* victorops.c - VICTOROPS: the VictorOps (Splunk On-Call) REST endpoint
 * integration (SPEC 4, 5, 6).
 *
 * DESIGN: Sysdig's options apiKey and routingKey go in the URL, as the
 * integration defines it: POST {base}/integrations/generic/20131114/alert/
 * {apiKey}/{routingKey} (base https://alert.victorops.com, or
 * options.endpoint). Because the URL holds the key, it is never logged (the
 * dispatcher logs only host:port) nor put in an error. The body is the REST
 * integration's JSON: message_type CRITICAL / WARNING / INFO from the
 * severity for ACTIVE events and RECOVERY for OK / RESOLVED, entity_id = the
 * event's alertKey (notify.h hd_notify_key) so the recovery resolves the
 * incident the alert opened, entity_display_name = the summary,
 * state_message = the details, state_start_time in epoch seconds.
 *
 * Answers: 200 {"result":"success","entity_id"}; {"result":"failure",
 * "message"} is permanent whatever its status (the endpoint validated the
 * request and refused it); 429 and 5xx retried; other 4xx permanent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/notify.h"
#include "core/util.h"

#define VO_DEFAULT_BASE "https://alert.victorops.com"
#define VO_PATH "/integrations/generic/20131114/alert/"
#define VO_ENTITY_MAX 512
#define VO_MESSAGE_MAX 8000

struct victorops {
    const char *api_key; /* borrowed from ch->options */
    const char *routing_key;
};

static int vo_key(json_object *options, const char *key, const char **out, struct hd_err *err)
{
    int rc = hd_opt_str(options, "options", key, 1, out, err);
    if (rc != HD_OK) {
        return rc;
    }
    for (const unsigned char *p = (const unsigned char *)*out; *p != '\0'; p++) {
        if (*p <= 0x20 || *p == 0x7f || *p == '/' || *p == '?' || *p == '#') {
            return hd_err_set(err, HD_EINVAL,
                              "options.%s: must not contain '/', '?', '#', spaces or control characters",
                              key);
        }
    }
    return HD_OK;
}

static int vo_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct victorops *v = ch->ctx;
    int rc = vo_key(options, "apiKey", &v->api_key, err);
    if (rc == HD_OK) {
        rc = vo_key(options, "routingKey", &v->routing_key, err);
    }
    return rc;
}

static json_object *vo_body(const struct hd_event *ev, const char *entity, const char *summary)
{
    json_object *o = json_object_new_object();
    struct hd_buf msg;
    if (o == NULL) {
        return NULL;
    }
    hd_buf_init(&msg, 0);
    hd_notify_put(o, "message_type",
                  ev->state == HD_STATE_ACTIVE ? hd_severity_victorops(ev->severity) : "RECOVERY");
    hd_notify_put(o, "entity_id", entity);
    hd_notify_put(o, "entity_display_name", summary);
    if (hd_buf_puts(&msg, summary) == HD_OK) {
        if (ev->description != NULL && ev->description[0] != '\0') {
            hd_buf_printf(&msg, "\n%s", ev->description);
        }
        if (ev->url != NULL && ev->url[0] != '\0') {
            hd_buf_printf(&msg, "\n%s", ev->url);
        }
        if (hd_notify_is_test(ev)) {
            hd_buf_puts(&msg, "\nThis is a test notification sent by herald.");
        }
    }
    hd_notify_put_trunc(o, "state_message", &msg, VO_MESSAGE_MAX);
    hd_buf_free(&msg);
    json_object_object_add(o, "state_start_time", json_object_new_int64(ev->ts_us / 1000000));
    hd_notify_put(o, "monitoring_tool", "herald");
    hd_notify_put(o, "host_name", ev->host);
    hd_notify_put(o, "alert_url", ev->url);
    hd_notify_put(o, "herald_source", ev->source);
    hd_notify_put(o, "herald_event_id", ev->id);
    hd_notify_put(o, "herald_severity", hd_severity_label(ev->severity));
    hd_notify_put(o, "k8s_namespace", ev->k8s_namespace);
    hd_notify_put(o, "k8s_pod", ev->k8s_pod);
    if (ev->suppressed > 0) {
        json_object_object_add(o, "herald_suppressed", json_object_new_int64(ev->suppressed));
    }
    return o;
}

/* req was initialised by the caller; on failure the caller clears it. */
static int vo_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                     struct hd_request *req, struct hd_err *err)
{
    struct victorops *v = ch->ctx;
    struct hd_buf url, entity, summary;
    json_object *body = NULL;
    int rc;
    (void)n; /* 1: max_batch, checked by hd_channel_render */
    hd_buf_init(&url, 0);
    hd_buf_init(&entity, 0);
    hd_buf_init(&summary, 0);
    rc = hd_notify_base_url(ch, VO_DEFAULT_BASE, &url);
    if (rc == HD_OK) {
        rc = hd_buf_puts(&url, VO_PATH);
    }
    if (rc == HD_OK) {
        rc = hd_buf_put_pathseg(&url, v->api_key);
    }
    if (rc == HD_OK) {
        rc = hd_buf_putc(&url, '/');
    }
    if (rc == HD_OK) {
        rc = hd_buf_put_pathseg(&url, v->routing_key);
    }
    if (rc == HD_OK) {
        rc = hd_notify_key(evs[0], VO_ENTITY_MAX, &entity);
    }
    if (rc == HD_OK) {
        rc = hd_notify_summary(evs[0], 0, &summary);
    }
    if (rc != HD_OK) {
        rc = hd_err_set(err, rc, "victorops: %s", hd_strerror(rc));
        goto out;
    }
    body = vo_body(evs[0], entity.p, summary.p);
    rc = hd_notify_request(ch, "victorops", &url, req, err);
    if (rc == HD_OK) {
        rc = hd_notify_render_json(body, req, err);
    }
out:
    json_object_put(body);
    if (url.p != NULL) {
        memset(url.p, 0, url.len); /* held the keys */
    }
    hd_buf_free(&url);
    hd_buf_free(&entity);
    hd_buf_free(&summary);
    return rc;
}

static enum hd_verdict vo_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                   struct hd_item_verdict *items)
{
    char why[256] = "";
    (void)ch;
    enum hd_verdict v = hd_classify_http(resp);
    json_object *o =
        resp->status != 0 && resp->body.len > 0 ? hd_json_parse(resp->body.p, resp->body.len, NULL) : NULL;
    const char *result = hd_json_get_str(o, "result");
    const char *msg = hd_json_get_str(o, "message");
    if (result != NULL && strcmp(result, "failure") == 0 && v == HD_VERDICT_DELIVERED) {
        v = HD_VERDICT_DEAD; /* a 2xx that says it refused the alert */
    }
    if (v != HD_VERDICT_DELIVERED && resp->status != 0) {
        if (msg != NULL) {
            snprintf(why, sizeof(why), "%s: %s", result != NULL ? result : "error", msg);
        } else {
            hd_notify_body_excerpt(resp, why, sizeof(why));
        }
    }
    json_object_put(o);
    hd_items_set(v, resp, why, n, items);
    return v;
}

static const char *const vo_secrets[] = {"apiKey", "routingKey", NULL};
const struct hd_channel_type hd_channel_victorops = {
    .name = "VICTOROPS",
    .ctx_size = sizeof(struct victorops),
    .max_batch = 1,
    .secret_options = vo_secrets,
    .configure = vo_configure,
    .render = vo_render,
    .classify = vo_classify,
};
