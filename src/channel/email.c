/* email.c - EMAIL: one message per event to options.emailRecipients over
 * SMTP (SPEC 3 smtp.*, 4).
 *
 * DESIGN: render builds the whole RFC 5322 message (RFC 2045-2047 MIME):
 * multipart/alternative with a text/plain and a text/html part, both UTF-8
 * in quoted-printable (long description lines and any byte survive 7-bit
 * relays); curl submits it (MAIL FROM, RCPT TO per recipient, DATA with
 * dot-stuffing). What a person on call needs is in the Subject ("[ALERT]
 * [Medium] <alert name>", "[OK]...", "[TEST]...") and at the top of the body:
 * state, time (RFC 3339), namespace / pod / container / host, description,
 * and the link back to the source. Every message of one alert carries the
 * same References id (a hash of alertKey), so mail clients thread the OK
 * under the ACTIVE it resolves; Message-ID is stable per event and channel,
 * so a retried delivery is recognisably the same message.
 *
 * The SMTP server comes from herald's config (email.h): url, from,
 * username / password (SMTP AUTH), startTls (STARTTLS required, else
 * none; smtps:// is TLS from the first byte). Credentials never go in clear
 * by default: with a username STARTTLS is required on smtp:// as if startTls
 * were set (curl gives up after EHLO when the server does not offer it, so
 * AUTH is never sent), unless smtp.allowInsecureAuth says otherwise. The
 * channel's tls options (caFile, insecureSkipVerify) apply to that
 * connection.
 *
 * Classification follows SMTP (RFC 5321 section 4.2.1), not HTTP: 2yz
 * delivered, 4yz transient (retried), 5yz permanent (dead letter with the
 * server's reply); a connection failure or timeout is retried.
 *
 * options.template (SPEC 7), when set, renders to an object whose string
 * members "subject", "text" and "html" replace the built-in ones.
 */
#include "channel/email.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/transform.h"
#include "core/util.h"

#define EMAIL_MAX_RECIPIENTS 100
#define EMAIL_ADDR_MAX 254
#define SUBJECT_NAME_MAX 200
#define MESSAGE_MAX (4u * 1024 * 1024)

/* ---- process-wide SMTP settings (email.h) ---- */

struct smtp_copy {
    char *url, *from, *username, *password;
    int start_tls;
    int allow_insecure_auth;
};

static pthread_mutex_t smtp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct smtp_copy smtp_cur; /* smtp_lock */

static void smtp_copy_free(struct smtp_copy *c)
{
    free(c->url);
    free(c->from);
    free(c->username);
    if (c->password != NULL) {
        for (volatile char *v = c->password; *v != '\0'; v++) {
            *v = '\0';
        }
        free(c->password);
    }
    memset(c, 0, sizeof(*c));
}

static int smtp_copy_set(struct smtp_copy *dst, const struct hd_smtp_settings *s)
{
    struct smtp_copy t = {0};
    if (s != NULL) {
        t.url = hd_strdup(s->url);
        t.from = hd_strdup(s->from);
        t.username = hd_strdup(s->username);
        t.password = hd_strdup(s->password);
        t.start_tls = s->start_tls;
        t.allow_insecure_auth = s->allow_insecure_auth;
        if ((s->url && !t.url) || (s->from && !t.from) || (s->username && !t.username) ||
            (s->password && !t.password)) {
            smtp_copy_free(&t);
            return HD_ENOMEM;
        }
    }
    *dst = t;
    return HD_OK;
}

int hd_channel_set_smtp(const struct hd_smtp_settings *s)
{
    struct smtp_copy n;
    int rc = smtp_copy_set(&n, s);
    if (rc != HD_OK) {
        return rc;
    }
    pthread_mutex_lock(&smtp_lock);
    struct smtp_copy old = smtp_cur;
    smtp_cur = n;
    pthread_mutex_unlock(&smtp_lock);
    smtp_copy_free(&old);
    return HD_OK;
}

void hd_channel_smtp_clear(void)
{
    hd_channel_set_smtp(NULL);
}

/* A snapshot of the settings, freed by the caller (smtp_copy_free). */
static int smtp_snapshot(struct smtp_copy *out)
{
    struct hd_smtp_settings s;
    pthread_mutex_lock(&smtp_lock);
    s.url = smtp_cur.url;
    s.from = smtp_cur.from;
    s.username = smtp_cur.username;
    s.password = smtp_cur.password;
    s.start_tls = smtp_cur.start_tls;
    s.allow_insecure_auth = smtp_cur.allow_insecure_auth;
    int rc = smtp_copy_set(out, &s);
    pthread_mutex_unlock(&smtp_lock);
    return rc;
}

/* ---- addresses ---- */

/* addr-spec as herald accepts it: local@domain, printable ASCII without
 * spaces or the specials that would let a value escape a header or an SMTP
 * command. Quoted local parts are not supported. */
static int addr_valid(const char *s, size_t n)
{
    static const char specials[] = "<>()[]\\,;:\"";
    const char *at = NULL;
    if (n == 0 || n > EMAIL_ADDR_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || strchr(specials, c) != NULL) {
            return 0;
        }
        if (c == '@') {
            if (at != NULL) {
                return 0;
            }
            at = s + i;
        }
    }
    return at != NULL && at > s && at < s + n - 1;
}

/* smtp.from is "addr" or "Display Name <addr>": *env gets the address
 * (malloc'd). The display name must be printable ASCII (no header
 * injection). */
static int from_parse(const char *from, char **env)
{
    const char *lt = strchr(from, '<');
    for (const unsigned char *p = (const unsigned char *)from; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return HD_EINVAL;
        }
    }
    if (lt == NULL) {
        if (!addr_valid(from, strlen(from))) {
            return HD_EINVAL;
        }
        *env = hd_strdup(from);
        return *env ? HD_OK : HD_ENOMEM;
    }
    const char *gt = strchr(lt, '>');
    if (gt == NULL || gt[1] != '\0' || !addr_valid(lt + 1, (size_t)(gt - lt - 1))) {
        return HD_EINVAL;
    }
    *env = hd_strndup(lt + 1, (size_t)(gt - lt - 1));
    return *env ? HD_OK : HD_ENOMEM;
}

static int smtp_url_valid(const char *u)
{
    if (u == NULL) {
        return 0;
    }
    size_t skip = strncasecmp(u, "smtp://", 7) == 0 ? 7 : strncasecmp(u, "smtps://", 8) == 0 ? 8 : 0;
    if (skip == 0 || u[skip] == '\0' || u[skip] == '/') {
        return 0;
    }
    for (const unsigned char *p = (const unsigned char *)u; *p != '\0'; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* ---- shared with SNS: the subject line ---- */

static const char *sev_label(int sev)
{
    /* Sysdig's four levels over the syslog scale: 0-3 High, 4-5 Medium,
     * 6 Low, 7 Info. */
    if (sev <= 3) {
        return "High";
    }
    if (sev <= 5) {
        return "Medium";
    }
    return sev == 6 ? "Low" : "Info";
}

static const char *state_label(enum hd_state s)
{
    return s == HD_STATE_OK ? "OK" : s == HD_STATE_RESOLVED ? "RESOLVED" : "ALERT";
}

/* The synthetic event of hd_channel_test_event (channel.c). */
static int is_test_event(const struct hd_event *ev)
{
    return ev->source != NULL && strcmp(ev->source, "generic") == 0 && ev->alert_key != NULL &&
           strncmp(ev->alert_key, "herald-test/", 12) == 0;
}

/* Appends at most max bytes of s, cut on a UTF-8 character boundary, with
 * control characters (CR, LF: header injection) turned into spaces. */
static int put_clean(struct hd_buf *out, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc = hd_buf_putc(out, (c < 0x20 || c == 0x7f) ? ' ' : (char)c);
        if (rc != HD_OK) {
            return rc;
        }
    }
    return HD_OK;
}

/* "[ALERT][Medium] <name>", "[OK][High] <name>", "[TEST] <name>". */
int hd_alert_subject(const struct hd_event *ev, struct hd_buf *out)
{
    int rc = is_test_event(ev)
                 ? hd_buf_puts(out, "[TEST] ")
                 : hd_buf_printf(out, "[%s][%s] ", state_label(ev->state), sev_label(ev->severity));
    if (rc != HD_OK) {
        return rc;
    }
    return put_clean(out, ev->name != NULL && ev->name[0] != '\0' ? ev->name : "(unnamed event)",
                     SUBJECT_NAME_MAX);
}

/* ---- MIME encoders ---- */

/* Quoted-printable (RFC 2045 6.7) of text whose lines end in LF: CRLF hard
 * breaks, lines of at most 76 characters with soft breaks. '=' is always
 * encoded, so the boundary ("=_herald...") never occurs in a part. */
static int qp_encode(struct hd_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    int rc = HD_OK;
    for (size_t i = 0; i < n && rc == HD_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r') {
            continue;
        }
        if (c == '\n') {
            rc = hd_buf_puts(out, "\r\n");
            col = 0;
            continue;
        }
        int eol = i + 1 == n || s[i + 1] == '\n' || s[i + 1] == '\r';
        char enc[3];
        size_t el = 1;
        if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !eol)) {
            enc[0] = (char)c;
        } else {
            enc[0] = '=';
            enc[1] = hex[c >> 4];
            enc[2] = hex[c & 15];
            el = 3;
        }
        if (col + el > 75) {
            rc = hd_buf_puts(out, "=\r\n");
            col = 0;
        }
        if (rc == HD_OK) {
            rc = hd_buf_append(out, enc, el);
            col += el;
        }
    }
    return rc;
}

/* A header value: as is when printable ASCII, else RFC 2047 encoded-words
 * (UTF-8, base64) of at most 45 bytes each, cut on character boundaries and
 * folded onto continuation lines. */
static int header_text(struct hd_buf *out, const char *s, size_t n)
{
    int ascii = 1;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] >= 0x7f) {
            ascii = 0;
            break;
        }
    }
    if (ascii) {
        return hd_buf_append(out, s, n);
    }
    size_t i = 0;
    int rc = HD_OK;
    while (i < n && rc == HD_OK) {
        size_t k = n - i > 45 ? 45 : n - i;
        while (i + k < n && k > 1 && ((unsigned char)s[i + k] & 0xC0) == 0x80) {
            k--;
        }
        unsigned char b64[64];
        int bl = EVP_EncodeBlock(b64, (const unsigned char *)s + i, (int)k);
        rc = hd_buf_printf(out, "%s=?UTF-8?B?%.*s?=", i > 0 ? "\r\n " : "", bl, (const char *)b64);
        i += k;
    }
    return rc;
}

/* RFC 5322 date-time in UTC ("Sat, 17 Feb 2018 06:36:00 +0000"); the names
 * are spelled here, strftime's depend on the locale. */
static int rfc5322_date(struct hd_buf *out, int64_t us)
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        return HD_EINVAL;
    }
    return hd_buf_printf(out, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday], tm.tm_mday,
                         mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- the channel ---- */

struct email {
    json_object *rcpts; /* borrowed from ch->options: validated list of addresses */
};

static int email_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct email *e = ch->ctx;
    struct smtp_copy s = {0};
    char *env = NULL;
    int rc = HD_OK;
    json_object *a = hd_opt_get(options, "emailRecipients");
    if (a == NULL) {
        rc = hd_err_set(err, HD_EINVAL, "options.emailRecipients: required (a list of e-mail addresses)");
        goto out;
    }
    if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) == 0 ||
        json_object_array_length(a) > EMAIL_MAX_RECIPIENTS) {
        rc = hd_err_set(err, HD_EINVAL, "options.emailRecipients: must be a list of 1..%d e-mail addresses",
                        EMAIL_MAX_RECIPIENTS);
        goto out;
    }
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *v = json_object_array_get_idx(a, i);
        if (!json_object_is_type(v, json_type_string) ||
            !addr_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v))) {
            rc = hd_err_set(err, HD_EINVAL,
                            "options.emailRecipients[%zu]: not an e-mail address (local@domain)", i);
            goto out;
        }
    }
    e->rcpts = a;
    /* The server is herald's, not the channel's: a channel that cannot be
     * sent is refused now rather than dead-lettering every event later. */
    rc = smtp_snapshot(&s);
    if (rc != HD_OK) {
        rc = hd_err_set(err, rc, "out of memory");
        goto out;
    }
    if (s.url == NULL || s.url[0] == '\0') {
        rc = hd_err_set(err, HD_EINVAL,
                        "type EMAIL: no SMTP server configured (smtp.url in herald's config file)");
        goto out;
    }
    if (!smtp_url_valid(s.url)) {
        rc = hd_err_set(err, HD_EINVAL,
                        "type EMAIL: smtp.url in herald's config must be smtp://host[:port] or "
                        "smtps://host[:port]");
        goto out;
    }
    if (s.from == NULL || from_parse(s.from, &env) != HD_OK) {
        rc = hd_err_set(
            err, HD_EINVAL,
            "type EMAIL: smtp.from in herald's config must be an address (\"herald@example.com\" or "
            "\"Herald <herald@example.com>\")");
        goto out;
    }
out:
    free(env);
    smtp_copy_free(&s);
    return rc;
}

static const char *state_text(enum hd_state s)
{
    return s == HD_STATE_OK         ? "OK (condition cleared)"
           : s == HD_STATE_RESOLVED ? "RESOLVED (resolved by hand)"
                                    : "ACTIVE (firing)";
}

static const char *sev_color(int sev, enum hd_state st)
{
    if (st != HD_STATE_ACTIVE) {
        return "#2e7d32";
    }
    return sev <= 3 ? "#c62828" : sev <= 5 ? "#ef6c00" : "#546e7a";
}

/* What both bodies show about an event, computed once. rows[] is the
 * summary table, in order; a row without a value is skipped. */
struct facts {
    char when[64];
    char sev[32];
    char container[160];
    const char *link; /* the source's link, NULL unless a valid http(s) URL */
    int test;
    struct {
        const char *label;
        const char *value;
    } rows[8];
};

static void facts_init(struct facts *f, const struct hd_event *ev)
{
    hd_format_iso_ms(ev->ts_us, f->when, sizeof(f->when));
    snprintf(f->sev, sizeof(f->sev), "%s (%d)", sev_label(ev->severity), ev->severity);
    f->container[0] = '\0';
    if (ev->k8s_container != NULL || ev->container_id != NULL) {
        snprintf(f->container, sizeof(f->container), "%s%s%s%s", ev->k8s_container ? ev->k8s_container : "",
                 ev->k8s_container && ev->container_id ? " (" : "", ev->container_id ? ev->container_id : "",
                 ev->k8s_container && ev->container_id ? ")" : "");
    }
    f->test = is_test_event(ev);
    f->link = ev->url != NULL && hd_url_valid(ev->url) ? ev->url : NULL;
    const char *values[] = {state_text(ev->state), f->sev,      f->when,      ev->source,
                            ev->k8s_namespace,     ev->k8s_pod, f->container, ev->host};
    static const char *const labels[] = {"State",     "Severity", "Time",      "Source",
                                         "Namespace", "Pod",      "Container", "Host"};
    for (size_t i = 0; i < sizeof(f->rows) / sizeof(f->rows[0]); i++) {
        f->rows[i].label = labels[i];
        f->rows[i].value = values[i] != NULL && values[i][0] != '\0' ? values[i] : NULL;
    }
}

/* The text part: "Label:  value" lines under the subject. */
static int build_text(const struct hd_channel *ch, const struct hd_event *ev, const struct facts *f,
                      const char *subject, struct hd_buf *text)
{
    int rc = hd_buf_printf(text, "%s\n\n", subject);
    if (rc == HD_OK && f->test) {
        rc = hd_buf_puts(text, "This is a TEST notification: nothing happened, the channel works.\n\n");
    }
    for (size_t i = 0; rc == HD_OK && i < sizeof(f->rows) / sizeof(f->rows[0]); i++) {
        char label[16];
        if (f->rows[i].value != NULL) {
            snprintf(label, sizeof(label), "%s:", f->rows[i].label);
            rc = hd_buf_printf(text, "%-11s %s\n", label, f->rows[i].value);
        }
    }
    if (rc == HD_OK && ev->description != NULL && ev->description[0] != '\0') {
        rc = hd_buf_printf(text, "\n%s\n", ev->description);
    }
    if (rc == HD_OK && f->link != NULL) {
        rc = hd_buf_printf(text, "\nOpen: %s\n", f->link);
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(text, "\n-- \nSent by herald, channel \"%s\"; event %s.\n",
                           ch->name ? ch->name : "", ev->id);
    }
    return rc;
}

/* Appends before, value escaped, then after. */
static int html_wrap(struct hd_buf *b, const char *before, const char *value, const char *after)
{
    int rc = hd_buf_puts(b, before);
    if (rc == HD_OK) {
        rc = hd_buf_html_str(b, value, strlen(value));
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(b, after);
    }
    return rc;
}

/* The HTML part: inline styles only (mail clients drop <style>), every value
 * escaped. */
static int build_html(const struct hd_channel *ch, const struct hd_event *ev, const struct facts *f,
                      const char *subject, struct hd_buf *html)
{
    char h2[128];
    snprintf(h2, sizeof(h2),
             "</title></head>\n<body style=\"font-family:sans-serif\">\n"
             "<h2 style=\"color:%s;margin:0 0 8px 0\">",
             sev_color(ev->severity, ev->state));
    int rc = html_wrap(html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>", subject, h2);
    if (rc == HD_OK) {
        rc = html_wrap(html, "", subject, "</h2>\n");
    }
    if (rc == HD_OK && f->test) {
        rc = hd_buf_puts(html,
                         "<p><b>This is a TEST notification</b>: nothing happened, the channel works.</p>\n");
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(html, "<table>\n");
    }
    for (size_t i = 0; rc == HD_OK && i < sizeof(f->rows) / sizeof(f->rows[0]); i++) {
        if (f->rows[i].value != NULL) {
            rc = hd_buf_printf(html, "<tr><th align=\"left\" style=\"padding:2px 12px 2px 0\">%s</th>",
                               f->rows[i].label);
            if (rc == HD_OK) {
                rc = html_wrap(html, "<td>", f->rows[i].value, "</td></tr>\n");
            }
        }
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(html, "</table>\n");
    }
    if (rc == HD_OK && ev->description != NULL && ev->description[0] != '\0') {
        rc = html_wrap(html, "<p>", ev->description, "</p>\n");
    }
    if (rc == HD_OK && f->link != NULL) {
        rc = html_wrap(html, "<p><a href=\"", f->link, "\">Open in the source</a></p>\n");
    }
    if (rc == HD_OK) {
        rc = html_wrap(html, "<p style=\"color:#777;font-size:small\">Sent by herald, channel &quot;",
                       ch->name ? ch->name : "", "&quot;; event ");
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(html, "%s.</p>\n</body></html>\n", ev->id);
    }
    return rc;
}

/* The text and HTML bodies (LF line ends; qp_encode makes them CRLF). */
static int build_bodies(const struct hd_channel *ch, const struct hd_event *ev, const char *subject,
                        struct hd_buf *text, struct hd_buf *html)
{
    struct facts f;
    facts_init(&f, ev);
    int rc = build_text(ch, ev, &f, subject, text);
    if (rc == HD_OK) {
        rc = build_html(ch, ev, &f, subject, html);
    }
    return rc;
}

/* options.template: {"subject": ..., "text": ..., "html": ...}, each
 * optional; the strings found replace the built-in ones. The parts are
 * rendered one by one over one view of the event: the html part escapes the
 * values it inserts (an event's name is text, not markup), subject and text
 * take them as they are. */
static int apply_template(const struct hd_channel *ch, const struct hd_event *ev, struct hd_buf *subject,
                          struct hd_buf *text, struct hd_buf *html, struct hd_err *err)
{
    json_object *tmpl = ch->common.tmpl;
    if (!json_object_is_type(tmpl, json_type_object)) {
        return hd_err_set(err, HD_EINVAL,
                          "options.template: must be an object with subject, text, html strings");
    }
    json_object *view = hd_template_view(ev, tmpl);
    if (view == NULL) {
        return hd_err_set(err, HD_EINVAL, "template: cannot build the event view (event id %s)", ev->id);
    }
    const struct {
        const char *key;
        enum hd_tmpl_escape esc;
        struct hd_buf *dst;
    } parts[] = {{"subject", HD_TMPL_ESCAPE_NONE, subject},
                 {"text", HD_TMPL_ESCAPE_NONE, text},
                 {"html", HD_TMPL_ESCAPE_HTML, html}};
    struct hd_buf out;
    hd_buf_init(&out, MESSAGE_MAX);
    int rc = HD_OK;
    for (size_t i = 0; rc == HD_OK && i < sizeof(parts) / sizeof(parts[0]); i++) {
        json_object *t = hd_opt_get(tmpl, parts[i].key);
        if (t == NULL) {
            continue;
        }
        hd_buf_reset(&out);
        rc = hd_template_emit(view, t, parts[i].esc, &out, err);
        json_object *v = rc == HD_OK ? hd_json_parse(out.p, out.len, NULL) : NULL;
        if (rc == HD_OK && (v == NULL || !json_object_is_type(v, json_type_string))) {
            rc = hd_err_set(err, HD_EINVAL, "options.template.%s: must render to a string", parts[i].key);
        }
        if (rc == HD_OK) {
            hd_buf_reset(parts[i].dst);
            rc = i == 0 ? put_clean(parts[i].dst, json_object_get_string(v), SUBJECT_NAME_MAX * 2)
                        : hd_buf_append(parts[i].dst, json_object_get_string(v),
                                        (size_t)json_object_get_string_len(v));
        }
        json_object_put(v);
    }
    hd_buf_free(&out);
    json_object_put(view);
    return rc;
}

/* The message headers up to the start of the text part (RFC 5322, MIME
 * multipart/alternative with the event id as boundary). */
static int put_headers(struct hd_buf *m, const struct hd_channel *ch, const struct hd_event *ev,
                       const char *from, json_object *rcpts, const struct hd_buf *subject)
{
    char thread[33];
    /* Threading id: the same for every state of one alert. */
    const char *key = ev->alert_key != NULL ? ev->alert_key : ev->id;
    hd_hash128_hex(key, strlen(key), thread);

    int rc = hd_buf_printf(m, "From: %s\r\nTo: ", from);
    for (size_t i = 0; rc == HD_OK && i < json_object_array_length(rcpts); i++) {
        rc = hd_buf_printf(m, "%s%s", i > 0 ? ",\r\n " : "",
                           json_object_get_string(json_object_array_get_idx(rcpts, i)));
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(m, "\r\nSubject: ");
    }
    if (rc == HD_OK) {
        rc = header_text(m, subject->p, subject->len);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(m, "\r\nDate: ");
    }
    if (rc == HD_OK) {
        rc = rfc5322_date(m, hd_now_us());
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(m,
                           "\r\nMessage-ID: <%s.%lld@herald>\r\n"
                           "References: <alert-%s@herald>\r\n"
                           "MIME-Version: 1.0\r\n"
                           "Content-Type: multipart/alternative; boundary=\"=_herald_%s\"\r\n"
                           "Auto-Submitted: auto-generated\r\n"
                           "X-Herald-Event-Id: %s\r\n"
                           "X-Herald-Alert: %s\r\n"
                           "X-Herald-State: %s\r\n"
                           "%s"
                           "\r\n"
                           "This is a multi-part message in MIME format.\r\n",
                           ev->id, (long long)ch->id, thread, ev->id, ev->id, thread,
                           hd_state_name(ev->state), is_test_event(ev) ? "X-Herald-Test: true\r\n" : "");
    }
    return rc;
}

/* The two parts, quoted-printable, and the closing boundary. */
static int put_parts(struct hd_buf *m, const struct hd_event *ev, const struct hd_buf *text,
                     const struct hd_buf *html)
{
    const struct hd_buf *body[] = {text, html};
    static const char *const type[] = {"text/plain", "text/html"};
    int rc = HD_OK;
    for (size_t i = 0; rc == HD_OK && i < 2; i++) {
        rc = hd_buf_printf(m,
                           "\r\n--=_herald_%s\r\n"
                           "Content-Type: %s; charset=UTF-8\r\n"
                           "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                           ev->id, type[i]);
        if (rc == HD_OK) {
            rc = qp_encode(m, body[i]->p, body[i]->len);
        }
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(m, "\r\n--=_herald_%s--\r\n", ev->id);
    }
    return rc;
}

/* The whole message of ev into m: subject and bodies (built in, or from
 * options.template), headers, parts. */
static int build_message(const struct hd_channel *ch, const struct hd_event *ev, const char *from,
                         struct hd_buf *m, struct hd_err *err)
{
    const struct email *e = ch->ctx;
    struct hd_buf subject, text, html;
    hd_buf_init(&subject, 0);
    hd_buf_init(&text, MESSAGE_MAX);
    hd_buf_init(&html, MESSAGE_MAX);
    int rc = hd_alert_subject(ev, &subject);
    if (rc == HD_OK) {
        rc = build_bodies(ch, ev, subject.p, &text, &html);
    }
    if (rc == HD_OK && ch->common.tmpl != NULL) {
        rc = apply_template(ch, ev, &subject, &text, &html, err);
        if (rc != HD_OK && rc != HD_ENOMEM) {
            goto out; /* err says which part of the template */
        }
    }
    if (rc == HD_OK) {
        rc = put_headers(m, ch, ev, from, e->rcpts, &subject);
    }
    if (rc == HD_OK) {
        rc = put_parts(m, ev, &text, &html);
    }
    if (rc != HD_OK) {
        rc = hd_err_set(err, rc, "email: cannot build the message: %s", hd_strerror(rc));
    }
out:
    hd_buf_free(&subject);
    hd_buf_free(&text);
    hd_buf_free(&html);
    return rc;
}

/* The envelope: server, MAIL FROM (env_from, taken over), RCPT TO, AUTH
 * (taken over from s). */
static int set_envelope(struct hd_request *req, const struct hd_channel *ch, struct smtp_copy *s,
                        char **env_from)
{
    const struct email *e = ch->ctx;
    int rc = hd_request_begin(req, ch, "SMTP", s->url);
    req->mail_from = *env_from;
    *env_from = NULL;
    /* A username means a password on the wire: STARTTLS required. */
    int creds = s->username != NULL && s->username[0] != '\0';
    req->smtp_tls = s->start_tls || (creds && !s->allow_insecure_auth) ? HD_SMTP_TLS_ALL : HD_SMTP_TLS_NONE;
    for (size_t i = 0; rc == HD_OK && i < json_object_array_length(e->rcpts); i++) {
        rc = hd_request_add_rcpt(req, json_object_get_string(json_object_array_get_idx(e->rcpts, i)));
    }
    if (rc == HD_OK && s->username != NULL && s->username[0] != '\0') {
        req->username = s->username;
        req->password = s->password;
        s->username = NULL;
        s->password = NULL;
    }
    return rc;
}

static int email_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                        struct hd_request *req, struct hd_err *err)
{
    struct smtp_copy s = {0};
    char *env_from = NULL;
    int rc = HD_OK;
    if (n != 1) {
        rc = hd_err_set(err, HD_EINVAL, "email: renders one event per message, got %zu", n);
        goto out;
    }
    rc = smtp_snapshot(&s);
    if (rc != HD_OK) {
        hd_err_set(err, rc, "out of memory");
        goto out;
    }
    if (!smtp_url_valid(s.url) || s.from == NULL || from_parse(s.from, &env_from) != HD_OK) {
        rc = hd_err_set(err, HD_EINVAL, "email: smtp.url / smtp.from missing or invalid in herald's config");
        goto out;
    }
    rc = build_message(ch, evs[0], s.from, &req->body, err);
    if (rc != HD_OK) {
        goto out;
    }
    rc = set_envelope(req, ch, &s, &env_from);
    if (rc != HD_OK) {
        hd_err_set(err, rc, "email: cannot build the message: %s", hd_strerror(rc));
    }
out:
    free(env_from);
    smtp_copy_free(&s);
    return rc;
}

static enum hd_verdict email_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                      struct hd_item_verdict *items)
{
    long s = resp->status;
    enum hd_verdict v = HD_VERDICT_RETRY; /* transport errors, timeouts: RFC 5321 4.5.4.1 says try again */
    if (s >= 200 && s <= 299) {
        v = HD_VERDICT_DELIVERED;
    } else if (s >= 500 && s <= 599) {
        v = HD_VERDICT_DEAD; /* permanent negative completion reply */
    }
    char why[sizeof(items[0].error)];
    snprintf(why, sizeof(why), "SMTP %ld: %.*s", s, (int)resp->body.len,
             resp->body.p != NULL ? resp->body.p : "");
    hd_items_set(v, resp, why, n, items);
    return v;
}

/* The SMTP credentials are herald's (email.h), not the channel's. */
const struct hd_channel_type hd_channel_email = {
    .name = "EMAIL",
    .ctx_size = sizeof(struct email),
    .max_batch = 1,
    .configure = email_configure,
    .render = email_render,
    .classify = email_classify,
};
