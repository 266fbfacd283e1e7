/* slack.c - SLACK: a Slack incoming webhook (SPEC 4, 7).
 *
 * DESIGN: Sysdig's options url (the incoming webhook), channel (override,
 * honoured by legacy webhooks), privateChannel and privateChannelUrl (when
 * privateChannel is true the message goes to privateChannelUrl). With
 * options.endpoint the webhook's scheme and host are replaced and its path
 * kept (on-prem proxies, tests). The message: "text" is the one-line summary
 * (what notifications and old clients show), and one attachment coloured by
 * severity (green when the alert clears) holds the blocks: name linking to
 * the source, description, fields Severity / State / Namespace / Source, and a
 * context line (alert key, "(+N similar suppressed)", test notice). Text is
 * escaped as mrkdwn wants (&, <, >). options.template replaces the whole body.
 *
 * Answers (api.slack.com/messaging/webhooks, "Handling errors"): 200 "ok";
 * 400 invalid_payload / no_text, 403 action_prohibited / invalid_token, 404
 * no_service / channel_not_found, 410 channel_is_archived are permanent (the
 * text is the dead letter's reason); 429 is retried after Retry-After (the
 * dispatcher honours it), 5xx retried.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/notify.h"
#include "core/util.h"

#define SLACK_TEXT_MAX 2900  /* section text limit 3000 */
#define SLACK_FIELD_MAX 1900 /* field text limit 2000 */
#define SLACK_SUMMARY_MAX 3000
#define SLACK_CONTEXT_MAX 400 /* one context element: alert key and notices */

struct slack {
    const char *url; /* borrowed from ch->options: where messages go */
    const char *channel;
};

static int slack_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct slack *s = ch->ctx;
    const char *priv_url = NULL;
    int priv = 0;
    int rc = hd_opt_url(options, "options", "url", 1, &s->url, err);
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "channel", 0, &s->channel, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_bool(options, "options", "privateChannel", 0, &priv, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_url(options, "options", "privateChannelUrl", 0, &priv_url, err);
    }
    if (rc != HD_OK) {
        return rc;
    }
    if (priv && priv_url != NULL) {
        s->url = priv_url;
    }
    if (s->channel != NULL && s->channel[0] == '\0') {
        s->channel = NULL;
    }
    return HD_OK;
}

static json_object *mrkdwn(const char *text)
{
    json_object *t = json_object_new_object();
    hd_notify_put(t, "type", "mrkdwn");
    json_object_object_add(t, "text", json_object_new_string(text != NULL ? text : ""));
    return t;
}

static void add_field(json_object *fields, const char *title, const char *value)
{
    struct hd_buf b;
    hd_buf_init(&b, 0);
    if (value != NULL && value[0] != '\0' && hd_buf_printf(&b, "*%s*\n", title) == HD_OK &&
        hd_notify_put_markup(&b, value, SLACK_FIELD_MAX) == HD_OK) {
        json_object_array_add(fields, mrkdwn(b.p));
    }
    hd_buf_free(&b);
}

static json_object *slack_blocks(const struct hd_event *ev)
{
    json_object *blocks = json_object_new_array();
    struct hd_buf b;
    hd_buf_init(&b, 0);
    /* Title (linked to the source when there is a URL) and description. */
    int linked = ev->url != NULL && hd_url_valid(ev->url) && strchr(ev->url, '|') == NULL &&
                 strchr(ev->url, '>') == NULL;
    hd_buf_puts(&b, linked ? "*<" : "*");
    if (linked) {
        hd_buf_puts(&b, ev->url);
        hd_buf_putc(&b, '|');
    }
    hd_notify_put_markup(&b, ev->name != NULL ? ev->name : "(unnamed event)", 200);
    hd_buf_puts(&b, linked ? ">*" : "*");
    if (ev->description != NULL && ev->description[0] != '\0') {
        hd_buf_putc(&b, '\n');
        hd_notify_put_markup(&b, ev->description, SLACK_TEXT_MAX - 250);
    }
    json_object *sec = json_object_new_object();
    hd_notify_put(sec, "type", "section");
    json_object_object_add(sec, "text", mrkdwn(b.p));
    json_object_array_add(blocks, sec);

    json_object *fields = json_object_new_array();
    struct hd_notify_fact facts[HD_NOTIFY_FACTS];
    size_t nf = hd_notify_facts(ev, facts);
    for (size_t i = 0; i < nf; i++) {
        add_field(fields, facts[i].title, facts[i].value);
    }
    json_object *fsec = json_object_new_object();
    hd_notify_put(fsec, "type", "section");
    json_object_object_add(fsec, "fields", fields); /* at most 10 fields: 6 here */
    json_object_array_add(blocks, fsec);

    hd_buf_reset(&b);
    struct hd_buf line;
    hd_buf_init(&line, 0);
    hd_notify_context(ev, &line);
    hd_notify_put_markup(&b, line.p, SLACK_CONTEXT_MAX);
    hd_buf_free(&line);
    json_object *ctx = json_object_new_object();
    hd_notify_put(ctx, "type", "context");
    json_object *elems = json_object_new_array();
    json_object_array_add(elems, mrkdwn(b.p));
    json_object_object_add(ctx, "elements", elems);
    json_object_array_add(blocks, ctx);
    hd_buf_free(&b);
    return blocks;
}

static json_object *slack_body(const struct hd_channel *ch, const struct hd_event *ev, const char *summary)
{
    const struct slack *s = ch->ctx;
    json_object *o = json_object_new_object();
    struct hd_buf text;
    if (o == NULL) {
        return NULL;
    }
    hd_buf_init(&text, 0);
    hd_notify_put_markup(&text, summary, SLACK_SUMMARY_MAX);
    json_object_object_add(o, "text", json_object_new_string(text.p != NULL ? text.p : ""));
    hd_buf_free(&text);
    hd_notify_put(o, "channel", s->channel);
    json_object *att = json_object_new_object();
    hd_notify_put(att, "color", hd_severity_color(ev->severity, ev->state));
    json_object_object_add(att, "blocks", slack_blocks(ev));
    json_object *atts = json_object_new_array();
    json_object_array_add(atts, att);
    json_object_object_add(o, "attachments", atts);
    return o;
}

static const struct hd_notify_chat slack_chat = {"slack", 0, slack_body};

/* req was initialised by the caller; on failure the caller clears it. */
static int slack_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                        struct hd_request *req, struct hd_err *err)
{
    const struct slack *c = ch->ctx;
    struct hd_buf url;
    (void)n; /* 1: max_batch, checked by hd_channel_render */
    hd_buf_init(&url, 0);
    int rc = hd_notify_webhook_url(ch, c->url, &url);
    rc = rc == HD_OK ? hd_notify_chat_render(ch, &slack_chat, &url, evs[0], req, err)
                     : hd_err_set(err, rc, "slack: %s", hd_strerror(rc));
    hd_buf_free(&url);
    return rc;
}

static enum hd_verdict slack_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                      struct hd_item_verdict *items)
{
    (void)ch;
    return hd_notify_classify(resp, hd_notify_body_excerpt, n,
                              items); /* "invalid_payload", "no_service", ... */
}

/* The incoming-webhook URL is the credential (Slack: "keep it secret"): a
 * secret and a URL option at once, masked whole (secrets.c). */
static const char *const slack_urls[] = {"url", "privateChannelUrl", NULL};

const struct hd_channel_type hd_channel_slack = {
    .name = "SLACK",
    .ctx_size = sizeof(struct slack),
    .max_batch = 1,
    .secret_options = slack_urls,
    .url_options = slack_urls,
    .configure = slack_configure,
    .render = slack_render,
    .classify = slack_classify,
};
