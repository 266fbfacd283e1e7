/* gchat.c - GCHAT: a Google Chat space incoming webhook (SPEC 4).
 *
 * DESIGN: one POST per event to options.url, the space's webhook
 * (https://chat.googleapis.com/v1/spaces/<space>/messages?key=..&token=..;
 * with options.endpoint the scheme and host are replaced and the path and
 * query kept). The key and token in the query make the URL the credential:
 * a secret option, masked whole.
 *
 * Threads (developers.google.com/workspace/chat, "Send messages to Google
 * Chat with incoming webhooks", "Start or reply to a message thread"): the
 * body names thread.threadKey = the event's alert key (notify.h
 * hd_notify_key) and the URL gets messageReplyOption=
 * REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD, so the first event of an alert opens
 * a thread and its later states (OK, RESOLVED, re-fires) reply in it.
 *
 * The message is one cardsV2 card ("Cards v2" reference): header = the
 * one-line summary (plain text), a section with the severity label coloured
 * by <font color> (red/orange/yellow/blue by class, green when the alert
 * clears: notify.h hd_severity_color) and the description, a section of
 * decoratedText facts (Severity, State, Namespace, Pod, Host, Source), the
 * context line, and a button opening the event's URL when it has one. Card
 * text fields take Chat's HTML subset, so &, < and > of event text are
 * escaped there. options.template replaces the whole body.
 *
 * Answers (Google API errors, cloud.google.com/apis/design/errors): 200
 * with the created message; errors are {"error":{"code","message","status"}}:
 * 400 INVALID_ARGUMENT, 401/403 (bad key or token, webhooks disabled), 404
 * (space gone) are dead with "STATUS: message"; 429 RESOURCE_EXHAUSTED
 * (60 messages a minute per space) and 5xx UNAVAILABLE are retried.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/notify.h"
#include "core/util.h"

#define GCHAT_TITLE_MAX 300
#define GCHAT_TEXT_MAX 2000
#define GCHAT_FACT_MAX 500
#define GCHAT_THREAD_KEY_MAX 200
#define GCHAT_REPLY_OPTION "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"

struct gchat {
    const char *url; /* borrowed from ch->options */
};

static int gchat_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct gchat *g = ch->ctx;
    return hd_opt_url(options, "options", "url", 1, &g->url, err);
}

static json_object *widget(const char *kind, json_object *inner)
{
    json_object *w = json_object_new_object();
    json_object_object_add(w, kind, inner);
    return w;
}

static json_object *paragraph(const char *html)
{
    json_object *t = json_object_new_object();
    json_object_object_add(t, "text", json_object_new_string(html != NULL ? html : ""));
    return widget("textParagraph", t);
}

static json_object *section(json_object *widgets)
{
    json_object *s = json_object_new_object();
    json_object_object_add(s, "widgets", widgets);
    return s;
}

static json_object *gchat_lead(const struct hd_event *ev)
{
    struct hd_buf b;
    hd_buf_init(&b, 0);
    hd_buf_printf(&b, "<font color=\"%s\"><b>%s</b></font>", hd_severity_color(ev->severity, ev->state),
                  ev->state == HD_STATE_ACTIVE ? hd_severity_label(ev->severity) : hd_state_name(ev->state));
    if (ev->description != NULL && ev->description[0] != '\0') {
        hd_buf_puts(&b, "<br>");
        hd_notify_put_markup(&b, ev->description, GCHAT_TEXT_MAX);
    }
    json_object *widgets = json_object_new_array();
    json_object_array_add(widgets, paragraph(b.p));
    hd_buf_free(&b);
    return section(widgets);
}

static json_object *gchat_facts(const struct hd_event *ev)
{
    struct hd_notify_fact f[HD_NOTIFY_FACTS];
    size_t n = hd_notify_facts(ev, f);
    json_object *widgets = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct hd_buf b;
        hd_buf_init(&b, 0);
        hd_notify_put_markup(&b, f[i].value, GCHAT_FACT_MAX);
        json_object *d = json_object_new_object();
        hd_notify_put(d, "topLabel", f[i].title);
        json_object_object_add(d, "text", json_object_new_string(b.p != NULL ? b.p : ""));
        json_object_array_add(widgets, widget("decoratedText", d));
        hd_buf_free(&b);
    }
    struct hd_buf ctx, html;
    hd_buf_init(&ctx, 0);
    hd_buf_init(&html, 0);
    hd_notify_context(ev, &ctx);
    if (ctx.p != NULL) {
        hd_notify_put_markup(&html, ctx.p, GCHAT_FACT_MAX);
    }
    json_object_array_add(widgets, paragraph(html.p));
    hd_buf_free(&ctx);
    hd_buf_free(&html);
    return section(widgets);
}

static json_object *gchat_link(const struct hd_event *ev)
{
    json_object *link = json_object_new_object();
    hd_notify_put(link, "url", ev->url);
    json_object *click = json_object_new_object();
    json_object_object_add(click, "openLink", link);
    json_object *button = json_object_new_object();
    hd_notify_put(button, "text", "Open in the source");
    json_object_object_add(button, "onClick", click);
    json_object *buttons = json_object_new_array();
    json_object_array_add(buttons, button);
    json_object *list = json_object_new_object();
    json_object_object_add(list, "buttons", buttons);
    json_object *widgets = json_object_new_array();
    json_object_array_add(widgets, widget("buttonList", list));
    return section(widgets);
}

static json_object *gchat_body(const struct hd_channel *ch, const struct hd_event *ev, const char *summary)
{
    struct hd_buf key;
    (void)ch;
    json_object *o = json_object_new_object();
    if (o == NULL) {
        return NULL;
    }
    hd_buf_init(&key, 0);
    hd_notify_key(ev, GCHAT_THREAD_KEY_MAX, &key);
    json_object *header = json_object_new_object();
    hd_notify_put(header, "title", summary);
    hd_notify_put(header, "subtitle", ev->source);
    json_object *sections = json_object_new_array();
    json_object_array_add(sections, gchat_lead(ev));
    json_object_array_add(sections, gchat_facts(ev));
    if (ev->url != NULL && hd_url_valid(ev->url)) {
        json_object_array_add(sections, gchat_link(ev));
    }
    json_object *card = json_object_new_object();
    json_object_object_add(card, "header", header);
    json_object_object_add(card, "sections", sections);
    json_object *wrap = json_object_new_object();
    hd_notify_put(wrap, "cardId", "herald-alert");
    json_object_object_add(wrap, "card", card);
    json_object *cards = json_object_new_array();
    json_object_array_add(cards, wrap);
    json_object_object_add(o, "cardsV2", cards);
    json_object *thread = json_object_new_object();
    hd_notify_put(thread, "threadKey", key.p);
    json_object_object_add(o, "thread", thread);
    hd_buf_free(&key);
    return o;
}

static const struct hd_notify_chat gchat_chat = {"gchat", GCHAT_TITLE_MAX, gchat_body};

/* req was initialised by the caller; on failure the caller clears it. */
static int gchat_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                        struct hd_request *req, struct hd_err *err)
{
    const struct gchat *c = ch->ctx;
    struct hd_buf url;
    (void)n; /* 1: max_batch, checked by hd_channel_render */
    hd_buf_init(&url, 0);
    int rc = hd_notify_webhook_url(ch, c->url, &url);
    if (rc == HD_OK) {
        rc = hd_http_put_query(&url, "messageReplyOption", GCHAT_REPLY_OPTION);
    }
    rc = rc == HD_OK ? hd_notify_chat_render(ch, &gchat_chat, &url, evs[0], req, err)
                     : hd_err_set(err, rc, "gchat: %s", hd_strerror(rc));
    hd_buf_free(&url);
    return rc;
}

static enum hd_verdict gchat_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                      struct hd_item_verdict *items)
{
    (void)ch;
    return hd_notify_classify(resp, hd_notify_json_error, n, items);
}

/* The webhook URL carries the space's key and token: a secret and a URL
 * option at once, masked whole (secrets.c). */
static const char *const gchat_urls[] = {"url", NULL};

const struct hd_channel_type hd_channel_gchat = {
    .name = "GCHAT",
    .ctx_size = sizeof(struct gchat),
    .max_batch = 1,
    .secret_options = gchat_urls,
    .url_options = gchat_urls,
    .configure = gchat_configure,
    .render = gchat_render,
    .classify = gchat_classify,
};
