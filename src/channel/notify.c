/* notify.c - shared wording of the human-facing channels (see notify.h). */
#include "channel/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/driver.h"
#include "channel/transform.h"
#include "core/err.h"
#include "core/util.h"

#define TEST_KEY_PREFIX "herald-test/"

static int clamp(int sev)
{
    return sev < 0 ? 0 : sev > 7 ? 7 : sev;
}

const char *hd_severity_label(int sev)
{
    static const char *const labels[] = {"Emergency", "Alert",  "Critical", "Error",
                                         "Warning",   "Notice", "Info",     "Debug"};
    return labels[clamp(sev)];
}

enum hd_sev_class hd_severity_class(int sev)
{
    sev = clamp(sev);
    if (sev <= 2) {
        return HD_SEV_CRITICAL;
    }
    if (sev == 3) {
        return HD_SEV_ERROR;
    }
    if (sev == 4) {
        return HD_SEV_WARNING;
    }
    return HD_SEV_INFO;
}

/* PagerDuty Events API v2: payload.severity is one of critical, error,
 * warning, info (developer.pagerduty.com, "Send an Alert Event"). */
const char *hd_severity_pagerduty(int sev)
{
    static const char *const names[] = {"critical", "error", "warning", "info"};
    return names[hd_severity_class(sev)];
}

/* OpsGenie priorities P1 (critical) .. P5 (informational), default P3. */
const char *hd_severity_opsgenie(int sev)
{
    static const char *const p[] = {"P1", "P1", "P2", "P3", "P4", "P4", "P5", "P5"};
    return p[clamp(sev)];
}

/* VictorOps REST message_type: CRITICAL and WARNING open incidents, INFO
 * only goes to the timeline; there is no "error" level, and an error is worth
 * a page. */
const char *hd_severity_victorops(int sev)
{
    sev = clamp(sev);
    return sev <= 3 ? "CRITICAL" : sev == 4 ? "WARNING" : "INFO";
}

const char *hd_severity_color(int sev, enum hd_state state)
{
    static const char *const colors[] = {"#d00000", "#e8590c", "#f2c744", "#439fe0"};
    if (state != HD_STATE_ACTIVE) {
        return "#2eb886";
    }
    return colors[hd_severity_class(sev)];
}

size_t hd_notify_facts(const struct hd_event *ev, struct hd_notify_fact *out)
{
    const struct hd_notify_fact all[HD_NOTIFY_FACTS] = {
        {"Severity", hd_severity_label(ev->severity)},
        {"State", hd_state_name(ev->state)},
        {"Namespace", ev->k8s_namespace},
        {"Pod", ev->k8s_pod},
        {"Host", ev->host},
        {"Source", ev->source},
    };
    size_t n = 0;
    for (size_t i = 0; i < HD_NOTIFY_FACTS; i++) {
        if (all[i].value != NULL && all[i].value[0] != '\0') {
            out[n++] = all[i];
        }
    }
    return n;
}

int hd_notify_is_test(const struct hd_event *ev)
{
    return ev->alert_key != NULL && strncmp(ev->alert_key, TEST_KEY_PREFIX, strlen(TEST_KEY_PREFIX)) == 0;
}

const char *hd_notify_where(const struct hd_event *ev)
{
    if (ev->k8s_namespace != NULL && ev->k8s_namespace[0] != '\0') {
        return ev->k8s_namespace;
    }
    if (ev->host != NULL && ev->host[0] != '\0') {
        return ev->host;
    }
    if (ev->container_id != NULL && ev->container_id[0] != '\0') {
        return ev->container_id;
    }
    return NULL;
}

size_t hd_utf8_prefix(const char *s, size_t len, size_t max_chars)
{
    size_t i = 0;
    size_t chars = 0;
    while (i < len && chars < max_chars) {
        i++;
        /* Skip continuation bytes: the sequence stays whole. */
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80) {
            i++;
        }
        chars++;
    }
    return i;
}

static size_t utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

int hd_buf_put_trunc(struct hd_buf *out, const char *s, size_t len, size_t max_chars)
{
    if (utf8_count(s, len) <= max_chars) {
        return hd_buf_append(out, s, len);
    }
    if (max_chars == 0) {
        return HD_OK;
    }
    int rc = hd_buf_append(out, s, hd_utf8_prefix(s, len, max_chars - 1));
    if (rc == HD_OK) {
        rc = hd_buf_puts(out, "\xe2\x80\xa6"); /* U+2026 … */
    }
    return rc;
}

int hd_notify_summary(const struct hd_event *ev, size_t max_chars, struct hd_buf *out)
{
    struct hd_buf head;
    char tail[64] = "";
    const char *where = hd_notify_where(ev);
    int rc;
    hd_buf_init(&head, 0);
    rc = hd_buf_printf(&head, "%s[%s] %s", hd_notify_is_test(ev) ? "[TEST] " : "",
                       hd_severity_label(ev->severity),
                       ev->name != NULL && ev->name[0] != '\0' ? ev->name : "(unnamed event)");
    if (rc == HD_OK && where != NULL) {
        rc = hd_buf_printf(&head, " on %s", where);
        if (rc == HD_OK && ev->k8s_namespace != NULL && where == ev->k8s_namespace && ev->k8s_pod != NULL) {
            rc = hd_buf_printf(&head, "/%s", ev->k8s_pod);
        }
    }
    if (rc == HD_OK && ev->state != HD_STATE_ACTIVE) {
        rc = hd_buf_printf(&head, " (%s)", hd_state_name(ev->state));
    }
    if (rc != HD_OK) {
        goto out;
    }
    if (ev->suppressed > 0) {
        snprintf(tail, sizeof(tail), " (+%lld similar suppressed)", (long long)ev->suppressed);
    }
    size_t tail_chars = strlen(tail);
    if (max_chars == 0) {
        rc = hd_buf_append(out, head.p, head.len);
    } else if (tail_chars >= max_chars) {
        rc = hd_buf_put_trunc(out, head.p, head.len,
                              max_chars); /* absurdly small limit: no room for the count */
        tail[0] = '\0';
    } else {
        rc = hd_buf_put_trunc(out, head.p, head.len, max_chars - tail_chars);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(out, tail);
    }
out:
    hd_buf_free(&head);
    return rc;
}

int hd_notify_context(const struct hd_event *ev, struct hd_buf *out)
{
    int rc = HD_OK;
    if (hd_notify_is_test(ev)) {
        rc = hd_buf_puts(out, "This is a test notification sent by herald. ");
    }
    if (rc == HD_OK && ev->suppressed > 0) {
        rc = hd_buf_printf(out, "(+%lld similar suppressed) ", (long long)ev->suppressed);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(out, "herald");
    }
    if (rc == HD_OK && ev->alert_key != NULL) {
        rc = hd_buf_printf(out, " \xc2\xb7 %s", ev->alert_key);
    }
    return rc;
}

int hd_notify_key(const struct hd_event *ev, size_t max_len, struct hd_buf *out)
{
    const char *k = ev->alert_key != NULL && ev->alert_key[0] != '\0' ? ev->alert_key : ev->id;
    size_t n = strlen(k);
    if (n <= max_len) {
        return hd_buf_append(out, k, n);
    }
    char hex[33];
    hd_hash128_hex(k, n, hex);
    return hd_buf_printf(out, "herald-%s", hex);
}

int hd_notify_put_markup(struct hd_buf *b, const char *s, size_t max_chars)
{
    struct hd_buf raw;
    int rc = HD_OK;
    hd_buf_init(&raw, 0);
    if (s != NULL) {
        rc = hd_buf_put_trunc(&raw, s, strlen(s), max_chars);
    }
    for (size_t i = 0; rc == HD_OK && i < raw.len; i++) {
        char c = raw.p[i];
        rc = c == '&'   ? hd_buf_puts(b, "&amp;")
             : c == '<' ? hd_buf_puts(b, "&lt;")
             : c == '>' ? hd_buf_puts(b, "&gt;")
                        : hd_buf_putc(b, c);
    }
    hd_buf_free(&raw);
    return rc;
}

int hd_buf_put_pathseg(struct hd_buf *out, const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                   *p == '-' || *p == '.' || *p == '_' || *p == '~';
        int rc =
            keep ? hd_buf_putc(out, (char)*p) : hd_buf_printf(out, "%%%c%c", hexd[*p >> 4], hexd[*p & 0x0F]);
        if (rc != HD_OK) {
            return rc;
        }
    }
    return HD_OK;
}

int hd_notify_base_url(const struct hd_channel *ch, const char *def, struct hd_buf *out)
{
    const char *base =
        ch->common.endpoint != NULL && ch->common.endpoint[0] != '\0' ? ch->common.endpoint : def;
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    return hd_buf_append(out, base, n);
}

int hd_notify_webhook_url(const struct hd_channel *ch, const char *url, struct hd_buf *out)
{
    if (ch->common.endpoint == NULL || ch->common.endpoint[0] == '\0') {
        return hd_buf_puts(out, url);
    }
    const char *p = strstr(url, "://");
    p = p != NULL ? p + 3 : url;
    const char *path = p + strcspn(p, "/?#");
    int rc = hd_notify_base_url(ch, "", out);
    if (rc == HD_OK) {
        rc = hd_buf_puts(out, *path == '\0' ? "/" : path);
    }
    return rc;
}

int hd_notify_request(const struct hd_channel *ch, const char *who, struct hd_buf *url,
                      struct hd_request *req, struct hd_err *err)
{
    hd_request_begin(req, ch, "POST", NULL);
    free(req->url);
    req->url = hd_buf_steal(url, NULL);
    int rc = req->url != NULL ? hd_request_add_header(req, "Content-Type", "application/json") : HD_ENOMEM;
    if (rc != HD_OK) {
        return hd_err_set(err, rc, "%s: %s", who, hd_strerror(rc));
    }
    return HD_OK;
}

int hd_notify_post(const struct hd_channel *ch, const char *who, const char *base, const char *path,
                   struct hd_request *req, struct hd_err *err)
{
    struct hd_buf url;
    hd_buf_init(&url, 0);
    int rc = hd_notify_base_url(ch, base, &url);
    if (rc == HD_OK) {
        rc = hd_buf_puts(&url, path);
    }
    rc = rc == HD_OK ? hd_notify_request(ch, who, &url, req, err)
                     : hd_err_set(err, rc, "%s: %s", who, hd_strerror(rc));
    hd_buf_free(&url);
    return rc;
}

int hd_notify_chat_render(struct hd_channel *ch, const struct hd_notify_chat *chat, struct hd_buf *url,
                          const struct hd_event *ev, struct hd_request *req, struct hd_err *err)
{
    struct hd_buf summary;
    json_object *body = NULL;
    hd_buf_init(&summary, 0);
    int rc = hd_notify_summary(ev, chat->summary_max, &summary);
    if (rc != HD_OK) {
        rc = hd_err_set(err, rc, "%s: %s", chat->who, hd_strerror(rc));
    } else {
        rc = hd_notify_request(ch, chat->who, url, req, err);
    }
    if (rc == HD_OK && ch->common.tmpl != NULL) {
        rc = hd_template_render(ev, ch->common.tmpl, &req->body, err);
    } else if (rc == HD_OK) {
        body = chat->card(ch, ev, summary.p);
        rc = hd_notify_render_json(body, req, err);
    }
    json_object_put(body);
    hd_buf_free(&summary);
    return rc;
}

enum hd_verdict hd_notify_classify(const struct hd_response *resp, hd_notify_reason_fn reason, size_t n,
                                   struct hd_item_verdict *items)
{
    char why[256] = "";
    enum hd_verdict v = hd_classify_http(resp);
    if (v != HD_VERDICT_DELIVERED && resp->status != 0) {
        reason(resp, why, sizeof(why));
    }
    hd_items_set(v, resp, why, n, items);
    return v;
}

void hd_notify_json_error(const struct hd_response *resp, char *out, size_t outsz)
{
    json_object *o = resp->body.len > 0 ? hd_json_parse(resp->body.p, resp->body.len, NULL) : NULL;
    json_object *e = hd_opt_get(o, "error");
    json_object *holder = e != NULL && json_object_is_type(e, json_type_object) ? e : o;
    const char *msg = hd_json_get_str(holder, "message");
    const char *what = hd_json_get_str(holder, "status");
    json_object *code = hd_opt_get(holder, "code");
    if (what == NULL && code != NULL) {
        what = json_object_get_string(code); /* a string (Azure) or a number (go-swagger) */
    }
    if (o != NULL && json_object_is_type(o, json_type_string)) {
        msg = json_object_get_string(o);
    }
    if (msg == NULL) {
        hd_notify_body_excerpt(resp, out, outsz);
    } else {
        snprintf(out, outsz, "%s%s%s", what != NULL ? what : "", what != NULL ? ": " : "", msg);
    }
    json_object_put(o);
}

void hd_notify_body_excerpt(const struct hd_response *resp, char *out, size_t outsz)
{
    size_t j = 0;
    for (size_t i = 0; i < resp->body.len && j + 1 < outsz && i < 200; i++) {
        unsigned char c = (unsigned char)resp->body.p[i];
        out[j++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[j] = '\0';
}

int hd_notify_render_json(json_object *body, struct hd_request *req, struct hd_err *err)
{
    if (body == NULL) {
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    int rc = hd_json_append(body, &req->body);
    if (rc != HD_OK) {
        return hd_err_set(err, rc, "while serializing the body: %s", hd_strerror(rc));
    }
    return HD_OK;
}

void hd_notify_put(json_object *obj, const char *key, const char *val)
{
    if (val != NULL && val[0] != '\0') {
        json_object_object_add(obj, key, json_object_new_string(val));
    }
}

void hd_notify_put_trunc(json_object *obj, const char *key, const struct hd_buf *text, size_t max_chars)
{
    struct hd_buf cut;
    if (text->p == NULL) {
        return;
    }
    hd_buf_init(&cut, 0);
    if (hd_buf_put_trunc(&cut, text->p, text->len, max_chars) == HD_OK && cut.p != NULL) {
        hd_notify_put(obj, key, cut.p);
    }
    hd_buf_free(&cut);
}

json_object *hd_notify_details(const struct hd_event *ev, int strings_only)
{
    json_object *d = json_object_new_object();
    char num[32];
    if (d == NULL) {
        return NULL;
    }
    hd_notify_put(d, "state", hd_state_name(ev->state));
    hd_notify_put(d, "severity", hd_severity_label(ev->severity));
    hd_notify_put(d, "source", ev->source);
    hd_notify_put(d, "description", ev->description);
    hd_notify_put(d, "host", ev->host);
    hd_notify_put(d, "containerId", ev->container_id);
    hd_notify_put(d, "k8s.namespace", ev->k8s_namespace);
    hd_notify_put(d, "k8s.pod", ev->k8s_pod);
    hd_notify_put(d, "k8s.container", ev->k8s_container);
    hd_notify_put(d, "url", ev->url);
    hd_notify_put(d, "alertKey", ev->alert_key);
    hd_notify_put(d, "eventId", ev->id);
    if (ev->suppressed > 0) {
        if (strings_only) {
            snprintf(num, sizeof(num), "%lld", (long long)ev->suppressed);
            hd_notify_put(d, "suppressed", num);
        } else {
            json_object_object_add(d, "suppressed", json_object_new_int64(ev->suppressed));
        }
    }
    json_object *labels = ev->labels != NULL ? hd_json_parse(ev->labels, strlen(ev->labels), NULL) : NULL;
    if (labels != NULL && json_object_is_type(labels, json_type_object)) {
        json_object_object_foreach(labels, k, v)
        {
            char key[160];
            snprintf(key, sizeof(key), "label.%s", k);
            if (json_object_is_type(v, json_type_string)) {
                hd_notify_put(d, key, json_object_get_string(v));
            } else if (!strings_only) {
                json_object_object_add(d, key, json_object_get(v));
            }
        }
    }
    json_object_put(labels);
    return d;
}
