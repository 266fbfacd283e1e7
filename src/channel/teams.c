/* teams.c - MS_TEAMS: a Microsoft Teams Workflows (Power Automate "When a
 * Teams webhook request is received") or legacy Office 365 connector
 * incoming webhook (SPEC 4).
 *
 * DESIGN: one POST of one message per event to options.url (with
 * options.endpoint the scheme and host are replaced and the path and query
 * kept, as for SLACK). The body is what both kinds of webhook take
 * (learn.microsoft.com, "Create incoming webhooks with Workflows for
 * Microsoft Teams" and "Send Adaptive Cards using an Incoming Webhook"):
 *   {"type":"message","attachments":[{"contentType":
 *    "application/vnd.microsoft.card.adaptive","content":<AdaptiveCard 1.4>}]}
 * The card: a container styled by severity (attention for Emergency..Error,
 * warning for Warning, accent for the rest, good when the alert clears)
 * holding the one-line summary (notify.h: "[Warning] name on ns/pod (OK)"),
 * the description, a FactSet of Severity / State / Namespace / Pod / Host /
 * Source, a subtle context line (alert key, suppressed count, test notice),
 * and an Action.OpenUrl to the source when the event has a URL. Text goes
 * into TextBlocks as plain strings (json-c escapes them); lengths are cut so
 * a message stays well under Teams' 28 KB limit. options.template replaces
 * the whole body.
 *
 * The URL carries its own signature (Workflows: sig=...; connectors: the
 * path): it is the credential, a secret option masked whole.
 *
 * Answers: Workflows answer 202 Accepted (empty body); legacy connectors
 * 200 with the text "1". Both refuse with 4xx (400 bad payload, 401/403
 * DirectApiAuthorizationRequired, 404 WorkflowNotFound), throttle with 429
 * + Retry-After, and fail with 5xx: 2xx delivered, 429/5xx retried, other
 * 4xx dead with the answer's error.code: error.message. Legacy connectors
 * may also answer 200 with "Webhook message delivery failed with error:
 * Microsoft Teams endpoint returned HTTP error 429 ..." (documented under
 * "Rate limiting for connectors"): that embedded status is classified
 * instead of the 200.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/notify.h"
#include "core/util.h"

#define TEAMS_TITLE_MAX 300
#define TEAMS_TEXT_MAX 2000
#define TEAMS_FACT_MAX 500
#define TEAMS_EMBEDDED "returned HTTP error "

struct teams {
    const char *url; /* borrowed from ch->options */
};

static int teams_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct teams *t = ch->ctx;
    return hd_opt_url(options, "options", "url", 1, &t->url, err);
}

/* Adaptive Card container styles / TextBlock colours (adaptivecards.io,
 * "Container.style", "TextBlock.color"). */
static const char *teams_style(const struct hd_event *ev)
{
    static const char *const by_class[] = {"attention", "attention", "warning", "accent"};
    if (ev->state != HD_STATE_ACTIVE) {
        return "good";
    }
    return by_class[hd_severity_class(ev->severity)];
}

static json_object *text_block(const char *text, size_t max_chars)
{
    json_object *b = json_object_new_object();
    struct hd_buf cut;
    hd_buf_init(&cut, 0);
    hd_buf_put_trunc(&cut, text, strlen(text), max_chars);
    hd_notify_put(b, "type", "TextBlock");
    json_object_object_add(b, "text", json_object_new_string(cut.p != NULL ? cut.p : ""));
    json_object_object_add(b, "wrap", json_object_new_boolean(1));
    hd_buf_free(&cut);
    return b;
}

static json_object *teams_header(const struct hd_event *ev, const char *summary)
{
    json_object *title = text_block(summary, TEAMS_TITLE_MAX);
    hd_notify_put(title, "weight", "Bolder");
    hd_notify_put(title, "size", "Medium");
    hd_notify_put(title, "color", teams_style(ev));
    json_object *items = json_object_new_array();
    json_object_array_add(items, title);
    json_object *c = json_object_new_object();
    hd_notify_put(c, "type", "Container");
    hd_notify_put(c, "style", teams_style(ev));
    json_object_object_add(c, "bleed", json_object_new_boolean(1));
    json_object_object_add(c, "items", items);
    return c;
}

static json_object *teams_facts(const struct hd_event *ev)
{
    struct hd_notify_fact f[HD_NOTIFY_FACTS];
    size_t n = hd_notify_facts(ev, f);
    json_object *facts = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct hd_buf cut;
        hd_buf_init(&cut, 0);
        hd_buf_put_trunc(&cut, f[i].value, strlen(f[i].value), TEAMS_FACT_MAX);
        json_object *o = json_object_new_object();
        hd_notify_put(o, "title", f[i].title);
        hd_notify_put(o, "value", cut.p);
        json_object_array_add(facts, o);
        hd_buf_free(&cut);
    }
    json_object *fs = json_object_new_object();
    hd_notify_put(fs, "type", "FactSet");
    json_object_object_add(fs, "facts", facts);
    return fs;
}

static json_object *teams_context(const struct hd_event *ev)
{
    struct hd_buf b;
    hd_buf_init(&b, 0);
    hd_notify_context(ev, &b);
    json_object *t = text_block(b.p != NULL ? b.p : "herald", TEAMS_FACT_MAX);
    json_object_object_add(t, "isSubtle", json_object_new_boolean(1));
    hd_notify_put(t, "size", "Small");
    hd_buf_free(&b);
    return t;
}

static json_object *teams_card(const struct hd_event *ev, const char *summary)
{
    json_object *body = json_object_new_array();
    json_object_array_add(body, teams_header(ev, summary));
    if (ev->description != NULL && ev->description[0] != '\0') {
        json_object_array_add(body, text_block(ev->description, TEAMS_TEXT_MAX));
    }
    json_object_array_add(body, teams_facts(ev));
    json_object_array_add(body, teams_context(ev));
    json_object *card = json_object_new_object();
    hd_notify_put(card, "$schema", "http://adaptivecards.io/schemas/adaptive-card.json");
    hd_notify_put(card, "type", "AdaptiveCard");
    hd_notify_put(card, "version", "1.4");
    json_object_object_add(card, "body", body);
    if (ev->url != NULL && hd_url_valid(ev->url)) {
        json_object *open = json_object_new_object();
        hd_notify_put(open, "type", "Action.OpenUrl");
        hd_notify_put(open, "title", "Open in the source");
        hd_notify_put(open, "url", ev->url);
        json_object *actions = json_object_new_array();
        json_object_array_add(actions, open);
        json_object_object_add(card, "actions", actions);
    }
    json_object *ms = json_object_new_object();
    hd_notify_put(ms, "width", "Full");
    json_object_object_add(card, "msteams", ms);
    return card;
}

static json_object *teams_body(const struct hd_channel *ch, const struct hd_event *ev, const char *summary)
{
    (void)ch;
    json_object *o = json_object_new_object();
    if (o == NULL) {
        return NULL;
    }
    json_object *att = json_object_new_object();
    hd_notify_put(att, "contentType", "application/vnd.microsoft.card.adaptive");
    json_object_object_add(att, "content", teams_card(ev, summary));
    json_object *atts = json_object_new_array();
    json_object_array_add(atts, att);
    hd_notify_put(o, "type", "message");
    json_object_object_add(o, "attachments", atts);
    return o;
}

static const struct hd_notify_chat teams_chat = {"teams", TEAMS_TITLE_MAX, teams_body};

/* req was initialised by the caller; on failure the caller clears it. */
static int teams_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                        struct hd_request *req, struct hd_err *err)
{
    const struct teams *c = ch->ctx;
    struct hd_buf url;
    (void)n; /* 1: max_batch, checked by hd_channel_render */
    hd_buf_init(&url, 0);
    int rc = hd_notify_webhook_url(ch, c->url, &url);
    rc = rc == HD_OK ? hd_notify_chat_render(ch, &teams_chat, &url, evs[0], req, err)
                     : hd_err_set(err, rc, "teams: %s", hd_strerror(rc));
    hd_buf_free(&url);
    return rc;
}

/* The status a legacy connector embeds in a 200 answer's text, 0 if none. */
static long embedded_status(const struct hd_response *resp)
{
    if (resp->body.len == 0 || resp->body.len > 4096) {
        return 0;
    }
    char text[4097];
    memcpy(text, resp->body.p, resp->body.len);
    text[resp->body.len] = '\0';
    const char *p = strstr(text, TEAMS_EMBEDDED);
    if (p == NULL) {
        return 0;
    }
    long s = strtol(p + strlen(TEAMS_EMBEDDED), NULL, 10);
    return s >= 100 && s <= 599 ? s : 0;
}

static enum hd_verdict teams_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                      struct hd_item_verdict *items)
{
    (void)ch;
    long inner = resp->status >= 200 && resp->status <= 299 ? embedded_status(resp) : 0;
    if (inner == 0 || (inner >= 200 && inner <= 299)) {
        return hd_notify_classify(resp, hd_notify_json_error, n, items);
    }
    struct hd_response as = *resp; /* shallow: only status differs, nothing is freed */
    as.status = inner;
    char why[256];
    hd_notify_body_excerpt(resp, why, sizeof(why));
    enum hd_verdict v = hd_classify_http(&as);
    hd_items_set(v, &as, why, n, items);
    return v;
}

/* The webhook URL is the credential: a secret and a URL option at once,
 * masked whole (secrets.c). */
static const char *const teams_urls[] = {"url", NULL};

const struct hd_channel_type hd_channel_teams = {
    .name = "MS_TEAMS",
    .ctx_size = sizeof(struct teams),
    .max_batch = 1,
    .secret_options = teams_urls,
    .url_options = teams_urls,
    .configure = teams_configure,
    .render = teams_render,
    .classify = teams_classify,
};
