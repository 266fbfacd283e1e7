/* notify.h - what the human-facing channel drivers share (SLACK, PAGER_DUTY,
 * OPSGENIE, VICTOROPS, EMAIL): severity names and vendor classes, the one-line
 * summary of an event, the stable incident key, text truncation.
 *
 * DESIGN: one place decides how a syslog severity (0..7, SPEC 5) reads to a
 * person and which vendor level it becomes, so every pager and chat shows the
 * same event the same way. Everything here is pure (no I/O, no allocation
 * outside the caller's buffer), so the drivers' render stays unit-testable.
 */
#ifndef HD_CHANNEL_NOTIFY_H
#define HD_CHANNEL_NOTIFY_H

#include <stddef.h>

#include "channel/channel.h"
#include "core/buf.h"
#include "model/event.h"

/* Severity 0..7 (out-of-range values are clamped):
 *   label   Emergency Alert Critical Error Warning Notice Info Debug
 *   class   CRITICAL for 0-2, ERROR 3, WARNING 4, INFO 5-7 (PagerDuty's four
 *           levels; the other vendors map from the class or the number). */
enum hd_sev_class { HD_SEV_CRITICAL = 0, HD_SEV_ERROR = 1, HD_SEV_WARNING = 2, HD_SEV_INFO = 3 };

const char *hd_severity_label(int sev); /* "Warning" */
enum hd_sev_class hd_severity_class(int sev);
const char *hd_severity_pagerduty(int sev); /* "critical" "error" "warning" "info" */
const char *hd_severity_opsgenie(int sev);  /* "P1" (0-1) "P2" (2) "P3" (3) "P4" (4-5) "P5" (6-7) */
const char *hd_severity_victorops(int sev); /* "CRITICAL" (0-3) "WARNING" (4) "INFO" (5-7) */
/* Colour of a chat attachment: red, orange, yellow, blue by class; green when
 * the event clears (state OK or RESOLVED). "#rrggbb". */
const char *hd_severity_color(int sev, enum hd_state state);

/* The facts a chat card shows, in this order: Severity, State, Namespace,
 * Pod, Host, Source; only those the event has. Values are borrowed from ev
 * (or static). Returns how many were written to out[0..HD_NOTIFY_FACTS). */
#define HD_NOTIFY_FACTS 6
struct hd_notify_fact {
    const char *title;
    const char *value;
};
size_t hd_notify_facts(const struct hd_event *ev, struct hd_notify_fact *out);

/* 1 if ev is a channel's synthetic test notification (channel.c
 * hd_channel_test_event: alertKey "herald-test/<channel>"). */
int hd_notify_is_test(const struct hd_event *ev);

/* Where it happened, for people: "namespace/pod", "namespace", host or
 * container id; NULL when the event says nothing. Borrowed from ev. */
const char *hd_notify_where(const struct hd_event *ev);

/* Appends the one-line summary:
 *   "[TEST] " (test notifications) "[<Label>] <name>" " on <where>"
 *   " (<STATE>)" (unless ACTIVE) " (+N similar suppressed)" (throttle)
 * With max_chars > 0 the line is at most max_chars characters (UTF-8 code
 * points): the name part is cut and ends with "…", the suppressed count is
 * kept. */
int hd_notify_summary(const struct hd_event *ev, size_t max_chars, struct hd_buf *out);

/* Appends the context line of a chat card, plain text: "This is a test
 * notification sent by herald. " (test notifications) "(+N similar
 * suppressed) " (throttle) "herald" " · <alertKey>". */
int hd_notify_context(const struct hd_event *ev, struct hd_buf *out);

/* Appends the stable incident key of ev (PagerDuty dedup_key, OpsGenie alias,
 * VictorOps entity_id): its alertKey (SPEC 5; the event id when it has none),
 * or "herald-" + a 128-bit hash of it when longer than max_len bytes. */
int hd_notify_key(const struct hd_event *ev, size_t max_len, struct hd_buf *out);

/* Length in bytes of the longest prefix of s[0..len) holding at most
 * max_chars UTF-8 code points (never splits a sequence). */
size_t hd_utf8_prefix(const char *s, size_t len, size_t max_chars);

/* Appends s[0..len) cut to max_chars code points, the last one being "…"
 * when it was cut. */
int hd_buf_put_trunc(struct hd_buf *out, const char *s, size_t len, size_t max_chars);

/* Appends s (NULL: nothing) cut to max_chars code points with &, < and >
 * as &amp; &lt; &gt;: the markup of Slack's mrkdwn (api.slack.com
 * "Formatting text") and of Google Chat's card HTML both want exactly this. */
int hd_notify_put_markup(struct hd_buf *b, const char *s, size_t max_chars);

/* Appends s percent-encoded for one URL path segment (RFC 3986 unreserved
 * characters kept). */
int hd_buf_put_pathseg(struct hd_buf *out, const char *s);

/* ---- request helpers ---- */

/* Appends the API base: options.endpoint when set (on-prem installs, tests),
 * else def; without a trailing '/'. */
int hd_notify_base_url(const struct hd_channel *ch, const char *def, struct hd_buf *out);
/* Appends a webhook URL that is itself the destination (Slack, Teams,
 * Google Chat): url as is, or with its scheme and host replaced by
 * options.endpoint and its path and query kept (on-prem proxies, tests). */
int hd_notify_webhook_url(const struct hd_channel *ch, const char *url, struct hd_buf *out);
/* Sets req up as a POST of JSON to url (taken over: url is left empty) with
 * the channel's timeout and TLS settings; err names the driver (who). */
int hd_notify_request(const struct hd_channel *ch, const char *who, struct hd_buf *url,
                      struct hd_request *req, struct hd_err *err);
/* Sets req up as a POST of JSON to base (options.endpoint instead when
 * set) + path, as hd_notify_request; err names who. */
int hd_notify_post(const struct hd_channel *ch, const char *who, const char *base, const char *path,
                   struct hd_request *req, struct hd_err *err);
/* A chat webhook (SLACK, MS_TEAMS, GCHAT): who names it in errors,
 * summary_max bounds the one-line summary handed to card (0: no bound),
 * card builds the message body (NULL on ENOMEM). */
struct hd_notify_chat {
    const char *who;
    size_t summary_max;
    json_object *(*card)(const struct hd_channel *ch, const struct hd_event *ev, const char *summary);
};
/* Renders ev as a POST of JSON to url (taken over): chat's card, or
 * options.template's document when the channel has one. */
int hd_notify_chat_render(struct hd_channel *ch, const struct hd_notify_chat *chat, struct hd_buf *url,
                          const struct hd_event *ev, struct hd_request *req, struct hd_err *err);
/* Writes why a refused request failed (the vendor's message) to out. */
typedef void (*hd_notify_reason_fn)(const struct hd_response *resp, char *out, size_t outsz);
/* Verdict of an HTTP answer (hd_classify_http) for items[0..n); a refusal's
 * reason comes from reason, a transport error's from resp. */
enum hd_verdict hd_notify_classify(const struct hd_response *resp, hd_notify_reason_fn reason, size_t n,
                                   struct hd_item_verdict *items);
/* The reason of a JSON error answer, as the Google APIs ({"error":{"code":
 * 400,"message":"..","status":"INVALID_ARGUMENT"}}), Azure / Power Automate
 * ({"error":{"code":"WorkflowNotFound","message":".."}}) and go-swagger
 * servers such as Alertmanager ({"code":602,"message":".."} or a JSON
 * string) write it: "<status or code>: <message>"; the start of the body
 * when it is none of these. An hd_notify_reason_fn. */
void hd_notify_json_error(const struct hd_response *resp, char *out, size_t outsz);
/* At most 200 bytes of the answer on one line (control bytes as spaces). */
void hd_notify_body_excerpt(const struct hd_response *resp, char *out, size_t outsz);
/* Appends body serialized to req->body; err says why it failed (out of
 * memory when body is NULL: the caller's build failed). */
int hd_notify_render_json(json_object *body, struct hd_request *req, struct hd_err *err);
/* obj[key] = val unless val is NULL or empty. */
void hd_notify_put(json_object *obj, const char *key, const char *val);
/* obj[key] = text cut to max_chars code points (hd_buf_put_trunc), unless
 * text is empty. */
void hd_notify_put_trunc(json_object *obj, const char *key, const struct hd_buf *text, size_t max_chars);
/* New object of the event's details for a vendor's free-form field (state,
 * severity, source, description, host, k8s.*, url, alertKey, eventId,
 * suppressed, label.<k>); strings_only for vendors that want a string map
 * (OpsGenie). Caller puts it; NULL on ENOMEM. */
json_object *hd_notify_details(const struct hd_event *ev, int strings_only);

#endif
