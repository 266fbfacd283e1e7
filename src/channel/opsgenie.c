/* opsgenie.c - OPSGENIE: OpsGenie Alert API v2 (SPEC 4, 5, 6).
 *
 * DESIGN: Sysdig's options apiKey and region (US, the default, or EU: base
 * https://api.opsgenie.com or https://api.eu.opsgenie.com; options.endpoint
 * replaces either). Auth is "Authorization: GenieKey <apiKey>". An ACTIVE
 * event creates an alert (POST /v2/alerts) whose alias is the event's
 * alertKey (notify.h hd_notify_key), so OpsGenie deduplicates a retried or
 * repeated create; OK / RESOLVED close it by that alias
 * (POST /v2/alerts/{alias}/close?identifierType=alias). message is limited to
 * 130 characters and alias to 512 (docs.opsgenie.com, Alert API "Create
 * Alert"), description to 15000; priority P1..P5 comes from the severity.
 *
 * Answers: 202 {"result":"Request will be processed","requestId"}: the API is
 * asynchronous, so 202 is as delivered as herald can know. 400/401/403/404/422
 * are permanent (their "message" and "errors" are the dead letter's reason);
 * 429 and 5xx retried.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/notify.h"
#include "core/util.h"

#define OG_BASE_US "https://api.opsgenie.com"
#define OG_BASE_EU "https://api.eu.opsgenie.com"
#define OG_MESSAGE_MAX 130
#define OG_ALIAS_MAX 512
#define OG_DESCRIPTION_MAX 15000

struct opsgenie {
    const char *api_key; /* borrowed from ch->options */
    const char *base;    /* static: OG_BASE_US or OG_BASE_EU */
};

static int og_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct opsgenie *o = ch->ctx;
    const char *region = NULL;
    int rc = hd_opt_str(options, "options", "apiKey", 1, &o->api_key, err);
    if (rc != HD_OK) {
        return rc;
    }
    for (const unsigned char *p = (const unsigned char *)o->api_key; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return hd_err_set(err, HD_EINVAL, "options.apiKey: must not contain control characters");
        }
    }
    rc = hd_opt_str(options, "options", "region", 0, &region, err);
    if (rc != HD_OK) {
        return rc;
    }
    if (region == NULL || region[0] == '\0' || strcasecmp(region, "US") == 0) {
        o->base = OG_BASE_US;
    } else if (strcasecmp(region, "EU") == 0) {
        o->base = OG_BASE_EU;
    } else {
        return hd_err_set(err, HD_EINVAL, "options.region: must be US or EU, got '%.16s'", region);
    }
    return HD_OK;
}

static json_object *og_create_body(const struct hd_event *ev, const char *alias, const char *message)
{
    json_object *o = json_object_new_object();
    struct hd_buf desc;
    if (o == NULL) {
        return NULL;
    }
    hd_buf_init(&desc, 0);
    hd_notify_put(o, "message", message);
    hd_notify_put(o, "alias", alias);
    /* The description repeats the full summary: message may have been cut. */
    if (hd_notify_summary(ev, 0, &desc) == HD_OK && ev->description != NULL && ev->description[0] != '\0') {
        hd_buf_puts(&desc, "\n\n");
        hd_buf_puts(&desc, ev->description);
    }
    if (ev->url != NULL && ev->url[0] != '\0') {
        hd_buf_printf(&desc, "\n\n%s", ev->url);
    }
    hd_notify_put_trunc(o, "description", &desc, OG_DESCRIPTION_MAX);
    hd_buf_free(&desc);
    hd_notify_put(o, "priority", hd_severity_opsgenie(ev->severity));
    hd_notify_put(o, "source", "herald");
    hd_notify_put(o, "entity", hd_notify_where(ev));
    json_object *tags = json_object_new_array();
    if (tags != NULL) {
        if (ev->source != NULL) {
            json_object_array_add(tags, json_object_new_string(ev->source));
        }
        json_object_array_add(tags, json_object_new_string(hd_severity_label(ev->severity)));
        if (hd_notify_is_test(ev)) {
            json_object_array_add(tags, json_object_new_string("test"));
        }
        json_object_object_add(o, "tags", tags);
    }
    json_object_object_add(o, "details", hd_notify_details(ev, 1)); /* details: a map of strings */
    return o;
}

static json_object *og_close_body(const struct hd_event *ev, const char *summary)
{
    json_object *o = json_object_new_object();
    if (o == NULL) {
        return NULL;
    }
    hd_notify_put(o, "source", "herald");
    hd_notify_put(o, "user", "herald");
    hd_notify_put(o, "note", summary);
    (void)ev;
    return o;
}

/* req was initialised by the caller; on failure the caller clears it. */
static int og_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                     struct hd_request *req, struct hd_err *err)
{
    struct opsgenie *o = ch->ctx;
    const struct hd_event *ev;
    struct hd_buf url, alias, text, auth;
    json_object *body = NULL;
    int rc;
    (void)n; /* 1: max_batch, checked by hd_channel_render */
    ev = evs[0];
    hd_buf_init(&url, 0);
    hd_buf_init(&alias, 0);
    hd_buf_init(&text, 0);
    hd_buf_init(&auth, 0);
    rc = hd_notify_base_url(ch, o->base, &url);
    if (rc == HD_OK) {
        rc = hd_notify_key(ev, OG_ALIAS_MAX, &alias);
    }
    if (rc == HD_OK) {
        rc = hd_notify_summary(ev, ev->state == HD_STATE_ACTIVE ? OG_MESSAGE_MAX : 0, &text);
    }
    if (rc == HD_OK && ev->state == HD_STATE_ACTIVE) {
        rc = hd_buf_puts(&url, "/v2/alerts");
    } else if (rc == HD_OK) {
        rc = hd_buf_puts(&url, "/v2/alerts/");
        if (rc == HD_OK) {
            rc = hd_buf_put_pathseg(&url, alias.p);
        }
        if (rc == HD_OK) {
            rc = hd_buf_puts(&url, "/close?identifierType=alias");
        }
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(&auth, "GenieKey %s", o->api_key);
    }
    if (rc != HD_OK) {
        rc = hd_err_set(err, rc, "opsgenie: %s", hd_strerror(rc));
        goto out;
    }
    body = ev->state == HD_STATE_ACTIVE ? og_create_body(ev, alias.p, text.p) : og_close_body(ev, text.p);
    rc = hd_notify_request(ch, "opsgenie", &url, req, err);
    if (rc == HD_OK) {
        rc = hd_request_add_header(req, "Authorization", auth.p);
        if (rc != HD_OK) {
            rc = hd_err_set(err, rc, "opsgenie: %s", hd_strerror(rc));
        }
    }
    if (rc == HD_OK) {
        rc = hd_notify_render_json(body, req, err);
    }
out:
    json_object_put(body);
    hd_buf_free(&url);
    hd_buf_free(&alias);
    hd_buf_free(&text);
    /* The header value holds the key: wipe the scratch copy. */
    if (auth.p != NULL) {
        memset(auth.p, 0, auth.len);
    }
    hd_buf_free(&auth);
    return rc;
}

/* "<message>: <field>: <error>; ..." from {"message","errors":{...}}. */
static void og_reason(const struct hd_response *resp, char *out, size_t outsz)
{
    json_object *o = resp->body.len > 0 ? hd_json_parse(resp->body.p, resp->body.len, NULL) : NULL;
    const char *msg = hd_json_get_str(o, "message");
    json_object *errs = hd_opt_get(o, "errors");
    if (msg == NULL) {
        hd_notify_body_excerpt(resp, out, outsz);
        json_object_put(o);
        return;
    }
    int w = snprintf(out, outsz, "%s", msg);
    size_t pos = w > 0 ? (size_t)w : 0;
    if (errs != NULL && json_object_is_type(errs, json_type_object)) {
        json_object_object_foreach(errs, k, v)
        {
            if (pos + 1 >= outsz) {
                break;
            }
            w = snprintf(out + pos, outsz - pos, " %s: %s;", k, json_object_get_string(v));
            pos += w > 0 ? (size_t)w : 0;
        }
    }
    json_object_put(o);
}

static enum hd_verdict og_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                   struct hd_item_verdict *items)
{
    (void)ch;
    return hd_notify_classify(resp, og_reason, n, items);
}

static const char *const og_secrets[] = {"apiKey", NULL};
const struct hd_channel_type hd_channel_opsgenie = {
    .name = "OPSGENIE",
    .ctx_size = sizeof(struct opsgenie),
    .max_batch = 1,
    .secret_options = og_secrets,
    .configure = og_configure,
    .render = og_render,
    .classify = og_classify,
};
