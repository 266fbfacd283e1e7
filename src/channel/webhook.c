/* webhook.c - WEBHOOK: one POST per event to options.url (SPEC 4, 7).
 *
 * Up to options.maxInFlight of these POSTs are in flight at once
 * (ch->max_in_flight, route/dispatcher.c "Requests in flight"): a sink may
 * then receive events out of order; maxInFlight 1 keeps the strict order.
 *
 * Sysdig option names: url, additionalHeaders, customData,
 * allowInsecureConnections (common, see options.c), plus herald's template
 * and transform. The body is by default the event's original payload byte for
 * byte, as Sysdig itself would have posted it; this is what the article's
 * Elasticsearch /index/type and Splunk HEC /raw recipes rely on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/transform.h"
#include "core/util.h"

/* maxInFlight: requests of new events in flight at once. 4 keeps a sink a
 * few milliseconds away busy without opening many connections; 1 keeps the
 * strict order (docs/decisions.md). */
static const struct hd_opt_range max_in_flight_opt = {"maxInFlight", 4, 1, HD_CHANNEL_MAX_IN_FLIGHT};

struct webhook {
    /* Borrowed from ch->options, which lives as long as the channel. */
    const char *url;
    json_object *headers;  /* validated: string values, no CR/LF */
    json_object *custom;   /* customData object or NULL */
    int user_content_type; /* additionalHeaders sets Content-Type */
};

static int webhook_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct webhook *w = ch->ctx;
    int rc = hd_opt_url(options, "options", "url", 1, &w->url, err);
    if (rc != HD_OK) {
        return rc;
    }
    /* One header slot stays free for our Content-Type. */
    rc = hd_opt_headers(options, "options", "additionalHeaders", HD_REQ_MAX_HEADERS - 1, &w->headers, err);
    if (rc != HD_OK) {
        return rc;
    }
    w->user_content_type = hd_headers_has(w->headers, "Content-Type");
    json_object *cd = hd_opt_get(options, "customData");
    if (cd != NULL && !json_object_is_type(cd, json_type_object)) {
        return hd_err_set(err, HD_EINVAL, "options.customData: must be an object (merged into the body)");
    }
    if (cd != NULL && json_object_object_length(cd) > 0) {
        w->custom = cd;
    }
    return hd_opt_long(options, "options", &max_in_flight_opt, &ch->max_in_flight, err);
}

/* req was initialised by the caller (hd_request_init); on failure the caller
 * clears it. */
static int webhook_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                          struct hd_request *req, struct hd_err *err)
{
    struct webhook *w = ch->ctx;
    int rc = HD_OK;
    (void)n; /* 1: max_batch, checked by hd_channel_render */
    if (hd_request_begin(req, ch, "POST", w->url) != HD_OK) {
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    if (!w->user_content_type) {
        rc = hd_request_add_header(req, "Content-Type", "application/json");
    }
    if (rc == HD_OK) {
        rc = hd_request_add_headers(req, w->headers);
    }
    if (rc != HD_OK) {
        return hd_err_set(err, rc, "webhook: cannot add headers: %s", hd_strerror(rc));
    }
    if (ch->common.tmpl != NULL) {
        return hd_template_render(evs[0], ch->common.tmpl, &req->body, err);
    }
    return hd_transform_apply(evs[0], ch->common.transform, w->custom, &req->body, err);
}

static enum hd_verdict webhook_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                        struct hd_item_verdict *items)
{
    enum hd_verdict v = hd_classify_http(resp);
    (void)ch;
    hd_items_set(v, resp, NULL, n,
                 items); /* the start of the sink's answer says why (ES/Splunk put the reason there) */
    return v;
}

static const char *const webhook_secrets[] = {"additionalHeaders.*", NULL};
static const char *const webhook_urls[] = {"url", NULL};

const struct hd_channel_type hd_channel_webhook = {
    .name = "WEBHOOK",
    .log_sink = 1,
    .ctx_size = sizeof(struct webhook),
    .max_batch = 1,
    .secret_options = webhook_secrets,
    .url_options = webhook_urls,
    .configure = webhook_configure,
    .render = webhook_render,
    .classify = webhook_classify,
};
