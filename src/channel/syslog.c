/* syslog.c - SYSLOG: RFC 5424 messages over TCP or TLS with RFC 6587
 * octet-counting framing (SPEC 4).
 *
 * DESIGN: options.url is tcp://host[:port] (default port 514) or
 * tls://host[:port] (RFC 5425, default 6514; options.tls as for any type:
 * caFile, certFile / keyFile, insecureSkipVerify). The request is a raw
 * stream (net/raw.c): herald connects, writes the batch, closes. Each event
 * is one message, framed "MSG-LEN SP SYSLOG-MSG" (RFC 6587 3.4.1, octet
 * counting, so a message may hold newlines):
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
 *   PRI       facility * 8 + the event's severity (SPEC 5 uses syslog's
 *             0..7 scale already); facility: options.facility, a name
 *             (kern, user, ... local0..local7) or 0..23, default local0
 *   TIMESTAMP the event time, RFC 3339 UTC with milliseconds
 *   HOSTNAME  the event's host when it is a valid one (printable ASCII, at
 *             most 255), else the host herald runs on; "-" if neither
 *   APP-NAME  options.appName (default "herald", 1..48 printable ASCII)
 *   PROCID    "-"
 *   MSGID     the event's source ("sysdig_secure", "falco", ...)
 *   SD        [herald@32473 id="" source="" state="" severity=""
 *             alertKey="" name="" namespace="" pod=""] (32473 is the
 *             enterprise number RFC 5612 reserves for documentation:
 *             herald has none of its own); '"', '\' and ']' escaped
 *   MSG       options.message: "raw" (default) the original event
 *             (options.transform applied, as for WEBHOOK), or "summary"
 *             the one-line summary of notify.h. No BOM (MSG-ANY).
 * A message is cut to options.maxMessageBytes (default 8192, the size RFC
 * 5425 says receivers should accept; rsyslog's default maxMessageSize): the
 * MSG part is shortened at a UTF-8 boundary.
 *
 * Answers: syslog over TCP has none (RFC 6587 has no acknowledgement): a
 * batch is delivered once every byte was written to the connection
 * (net/raw.c reports 200); a refused connection, a TLS failure or a
 * timeout is a transport error and retried. options.endpoint does not
 * apply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/notify.h"
#include "channel/transform.h"
#include "core/util.h"

#define SYSLOG_MAX_BATCH 100
#define SYSLOG_APP_MAX 48
#define SYSLOG_HOST_MAX 255
#define SYSLOG_MSGID_MAX 32
#define SYSLOG_SD_ID "herald@32473"
#define SYSLOG_FACILITY_DEFAULT 16 /* local0 */

struct syslog_ch {
    char *url;                      /* owned: tcp://host:port or tls://host:port, port made explicit */
    char host[SYSLOG_HOST_MAX + 1]; /* where herald runs: HOSTNAME when the event has none */
    const char *app;                /* borrowed */
    int facility;
    int summary; /* options.message "summary" */
    long max_bytes;
};

static const struct hd_opt_range max_bytes_opt = {"maxMessageBytes", 8192, 480, 1024 * 1024};

/* RFC 5424 6.2.1, facility names as rsyslog and the syslog(3) man page spell them. */
static const char *const facilities[24] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog",   "lpr",     "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "security", "console", "solaris-cron",
    "local0", "local1", "local2",   "local3", "local4", "local5",   "local6",  "local7",
};

static int parse_facility(json_object *options, int *out, struct hd_err *err)
{
    json_object *v = hd_opt_get(options, "facility");
    if (v == NULL) {
        *out = SYSLOG_FACILITY_DEFAULT;
        return HD_OK;
    }
    if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0 &&
        json_object_get_int64(v) <= 23) {
        *out = (int)json_object_get_int64(v);
        return HD_OK;
    }
    for (int i = 0; json_object_is_type(v, json_type_string) && i < 24; i++) {
        if (strcmp(json_object_get_string(v), facilities[i]) == 0) {
            *out = i;
            return HD_OK;
        }
    }
    return hd_err_set(err, HD_EINVAL,
                      "options.facility: must be 0..23 or a name (user, daemon, local0..local7, ...)");
}

/* PRINTUSASCII, 1..max bytes (RFC 5424 6.2). */
static int printusascii(const char *s, size_t max)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > max) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126) {
            return 0;
        }
    }
    return 1;
}

/* tcp:// or tls://, a host, an optional port, no path / query / userinfo. */
static int build_url(struct syslog_ch *c, const char *url, struct hd_err *err)
{
    struct hd_url_origin o;
    int tls = strncmp(url, "tls://", 6) == 0;
    if ((strncmp(url, "tcp://", 6) != 0 && !tls) || hd_url_origin(url, &o) != HD_OK || o.host[0] == '\0' ||
        strchr(url + 6, '@') != NULL || url[6 + strcspn(url + 6, "/?#")] != '\0' ||
        strpbrk(url, " \t\r\n") != NULL) {
        return hd_err_set(err, HD_EINVAL, "options.url: must be tcp://host[:port] or tls://host[:port]");
    }
    long port = o.port > 0 ? o.port : tls ? 6514 : 514;
    if (port > 65535) {
        return hd_err_set(err, HD_EINVAL, "options.url: port must be 1..65535");
    }
    struct hd_buf b;
    hd_buf_init(&b, 0);
    int v6 = strchr(o.host, ':') != NULL;
    int rc =
        hd_buf_printf(&b, "%s://%s%s%s:%ld", tls ? "tls" : "tcp", v6 ? "[" : "", o.host, v6 ? "]" : "", port);
    c->url = rc == HD_OK ? hd_buf_steal(&b, NULL) : NULL;
    hd_buf_free(&b);
    return c->url != NULL ? HD_OK : hd_err_set(err, HD_ENOMEM, "options: out of memory");
}

static void syslog_destroy(struct hd_channel *ch)
{
    struct syslog_ch *c = ch->ctx;
    if (c != NULL) {
        free(c->url);
        c->url = NULL;
    }
}

static int syslog_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct syslog_ch *c = ch->ctx;
    const char *url = NULL;
    const char *msg = NULL;
    int rc = hd_opt_str(options, "options", "url", 1, &url, err);
    if (rc == HD_OK) {
        rc = build_url(c, url, err);
    }
    if (rc == HD_OK) {
        rc = parse_facility(options, &c->facility, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "appName", 0, &c->app, err);
    }
    if (rc == HD_OK && c->app != NULL && !printusascii(c->app, SYSLOG_APP_MAX)) {
        rc = hd_err_set(err, HD_EINVAL, "options.appName: 1..48 printable ASCII characters, no spaces");
    }
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "message", 0, &msg, err);
    }
    if (rc == HD_OK && msg != NULL && strcmp(msg, "raw") != 0 && strcmp(msg, "summary") != 0) {
        rc = hd_err_set(err, HD_EINVAL, "options.message: must be \"raw\" (default) or \"summary\"");
    }
    if (rc == HD_OK) {
        rc = hd_opt_long(options, "options", &max_bytes_opt, &c->max_bytes, err);
    }
    if (rc != HD_OK) {
        return rc;
    }
    c->summary = msg != NULL && strcmp(msg, "summary") == 0;
    if (c->app == NULL) {
        c->app = "herald";
    }
    if (gethostname(c->host, sizeof(c->host) - 1) != 0 || !printusascii(c->host, SYSLOG_HOST_MAX)) {
        snprintf(c->host, sizeof(c->host), "-");
    }
    return HD_OK;
}

/* ---- render ---- */

/* An SD-PARAM: name="value", '"' '\' ']' escaped (RFC 5424 6.3.3). */
static int put_param(struct hd_buf *b, const char *name, const char *value)
{
    if (value == NULL || value[0] == '\0') {
        return HD_OK;
    }
    int rc = hd_buf_printf(b, " %s=\"", name);
    for (const char *p = value; rc == HD_OK && *p != '\0'; p++) {
        if (*p == '"' || *p == '\\' || *p == ']') {
            rc = hd_buf_putc(b, '\\');
        }
        if (rc == HD_OK) {
            rc = hd_buf_putc(b, *p);
        }
    }
    return rc == HD_OK ? hd_buf_putc(b, '"') : rc;
}

/* Everything before MSG: "<PRI>1 TIMESTAMP HOSTNAME APP PROCID MSGID [SD] ". */
static int put_header(const struct syslog_ch *c, const struct hd_event *ev, struct hd_buf *b)
{
    char ts[40];
    int s = ev->severity < 0 ? 0 : ev->severity > 7 ? 7 : ev->severity;
    const char sev[2] = {(char)('0' + s), '\0'}; /* one digit: 0..7 */
    hd_format_iso_ms(ev->ts_us, ts, sizeof(ts));
    const char *host = printusascii(ev->host, SYSLOG_HOST_MAX) ? ev->host : c->host;
    const char *msgid = printusascii(ev->source, SYSLOG_MSGID_MAX) ? ev->source : "-";
    int rc =
        hd_buf_printf(b, "<%d>1 %s %s %s - %s [" SYSLOG_SD_ID, c->facility * 8 + s, ts, host, c->app, msgid);
    if (rc == HD_OK) {
        rc = put_param(b, "id", ev->id);
    }
    if (rc == HD_OK) {
        rc = put_param(b, "source", ev->source);
    }
    if (rc == HD_OK) {
        rc = put_param(b, "state", hd_state_name(ev->state));
    }
    if (rc == HD_OK) {
        rc = put_param(b, "severity", sev);
    }
    if (rc == HD_OK) {
        rc = put_param(b, "alertKey", ev->alert_key);
    }
    if (rc == HD_OK) {
        rc = put_param(b, "name", ev->name);
    }
    if (rc == HD_OK) {
        rc = put_param(b, "namespace", ev->k8s_namespace);
    }
    if (rc == HD_OK) {
        rc = put_param(b, "pod", ev->k8s_pod);
    }
    return rc == HD_OK ? hd_buf_puts(b, "] ") : rc;
}

/* Appends one framed message: "LEN SP <header><msg>", cut to max_bytes. */
static int put_message(const struct hd_channel *ch, const struct hd_event *ev, struct hd_buf *scratch,
                       struct hd_buf *out, struct hd_err *err)
{
    const struct syslog_ch *c = ch->ctx;
    hd_buf_reset(scratch);
    int rc = put_header(c, ev, scratch);
    size_t head = scratch->len;
    if (rc == HD_OK) {
        rc = c->summary ? hd_notify_summary(ev, 0, scratch)
                        : hd_transform_apply(ev, ch->common.transform, NULL, scratch, err);
    }
    if (rc != HD_OK) {
        return err->msg[0] != '\0' ? rc : hd_err_set(err, rc, "syslog: %s", hd_strerror(rc));
    }
    size_t len = scratch->len;
    if (len > (size_t)c->max_bytes) {
        /* Cut MSG at a UTF-8 boundary: back off over continuation bytes. */
        len = (size_t)c->max_bytes > head ? (size_t)c->max_bytes : head;
        while (len > head && ((unsigned char)scratch->p[len] & 0xC0) == 0x80) {
            len--;
        }
    }
    rc = hd_buf_printf(out, "%zu ", len);
    if (rc == HD_OK) {
        rc = hd_buf_append(out, scratch->p, len);
    }
    return rc == HD_OK ? HD_OK : hd_err_set(err, rc, "syslog: %s", hd_strerror(rc));
}

/* req was initialised by the caller; on failure the caller clears it. */
static int syslog_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                         struct hd_request *req, struct hd_err *err)
{
    struct syslog_ch *c = ch->ctx;
    if (hd_request_begin(req, ch, "POST", c->url) != HD_OK) {
        return hd_err_set(err, HD_ENOMEM, "syslog: out of memory");
    }
    struct hd_buf scratch;
    hd_buf_init(&scratch, 0);
    int rc = HD_OK;
    for (size_t i = 0; rc == HD_OK && i < n; i++) {
        rc = put_message(ch, evs[i], &scratch, &req->body, err);
    }
    hd_buf_free(&scratch);
    return rc;
}

static enum hd_verdict syslog_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                       struct hd_item_verdict *items)
{
    (void)ch;
    enum hd_verdict v = hd_classify_http(resp); /* 200 written; 0 connection / TLS / timeout: retried */
    hd_items_set(v, resp, NULL, n, items);
    return v;
}

static const char *const syslog_urls[] = {"url", NULL};

const struct hd_channel_type hd_channel_syslog = {
    .name = "SYSLOG",
    .log_sink = 1,
    .ctx_size = sizeof(struct syslog_ch),
    .max_batch = SYSLOG_MAX_BATCH,
    .url_options = syslog_urls,
    .configure = syslog_configure,
    .render = syslog_render,
    .classify = syslog_classify,
    .destroy = syslog_destroy,
};
