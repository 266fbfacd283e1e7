/* splunk.c - SPLUNK: Splunk HTTP Event Collector (SPEC 4, 7).
 *
 * DESIGN: options url (the HEC base, "https://splunk:8088"; a URL that
 * already ends in /services/collector[/event|/raw] is accepted and trimmed),
 * token (secret), and index, sourcetype, source, host, raw, useAck,
 * ackTimeoutMs. The common option endpoint replaces url.
 *
 *  - Event mode (default): POST <base>/services/collector/event with a batch
 *    of concatenated envelopes (HEC "Format events"), one per event:
 *      {"time": <event time, seconds with 6 decimals>, "host", "source",
 *       "sourcetype", "index", "event": <the original payload (after
 *       options.transform / template)>, "fields": {<normalized, flat>}}
 *    time is printed from the microseconds as integer text (never a double)
 *    so it is exact. sourcetype per source (SPEC 7); generic events get
 *    Splunk's own "_json". fields holds only strings (HEC indexes flat
 *    string fields; nested values are refused with code 15); it never uses
 *    the names of HEC's default fields (host, source, sourcetype, index).
 *  - Raw mode (raw: true): POST <base>/services/collector/raw with the
 *    metadata in the query string; the body is the original payload, as the
 *    article's WEBHOOK recipe posts it. One event per request unless
 *    options.batch.maxEvents says otherwise (then one event per line: a
 *    multi-line document is compacted, since raw is line-broken by Splunk).
 *  - Auth "Authorization: Splunk <token>". X-Splunk-Request-Channel (a random
 *    GUID per channel instance) is sent only with useAck, as HEC requires
 *    it then; without it a token that has acknowledgement enabled answers
 *    code 10, which dead-letters with a message that says so.
 *  - Answers (HEC reply codes, tests/fixtures/splunk/): 0 delivered; 8
 *    internal error, 9 busy, 18-20 unhealthy, 429/5xx/transport: retried;
 *    every other code (token 1-4/21/22, data 5/6/12/13/15, index 7,
 *    channel 10/11, ack disabled 14, 16) is permanent: dead letter with
 *    "HEC code N: text". An event error carries invalid-event-number k:
 *    HEC indexed events 0..k-1, so those count as delivered, k is dead and
 *    the rest are retried.
 *  - useAck: an answer {"code":0,"ackId":N} is not a delivery yet; the
 *    dispatcher polls POST <base>/services/collector/ack {"acks":[ids]} ->
 *    {"acks":{"N":true|false}} (ack hooks, channel.h) and re-sends what is
 *    not confirmed within ackTimeoutMs (default 60 s).
 * compress is not applied (the HTTP client sends identity bodies).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/transform.h"
#include "core/util.h"
#include "model/source.h"

#define SPLUNK_MAX_BATCH 500
/* How long an accepted batch may stay unconfirmed (useAck) before it is sent again. */
static const struct hd_opt_range ack_timeout_opt = {"ackTimeoutMs", 60000, 100, 24L * 3600 * 1000};

struct splunk {
    char *base; /* owned: scheme://host[:port][/prefix], no trailing '/' */
    /* Borrowed from ch->options, which lives as long as the channel. */
    const char *token;
    const char *index;
    const char *sourcetype; /* overrides the per-source one */
    const char *source;
    const char *host; /* overrides the event's host */
    int raw;
    int use_ack;
    char guid[37]; /* X-Splunk-Request-Channel when use_ack */
};

static const char *const trim_suffixes[] = {
    "/services/collector/event/1.0", "/services/collector/raw/1.0", "/services/collector/event",
    "/services/collector/raw",       "/services/collector",
};

/* ---- options ------------------------------------------------------------ */

static int make_guid(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        return HD_EIO;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < sizeof(b); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0f];
    }
    out[o] = '\0';
    return HD_OK;
}

/* Optional string that goes into JSON and a query string: no control bytes. */
static int opt_meta(json_object *options, const char *key, const char **out, struct hd_err *err)
{
    int rc = hd_opt_str(options, "options", key, 0, out, err);
    if (rc != HD_OK || *out == NULL) {
        return rc;
    }
    if ((*out)[0] == '\0') {
        return hd_err_set(err, HD_EINVAL, "options.%s: must not be empty (omit it for HEC's default)", key);
    }
    for (const unsigned char *p = (const unsigned char *)*out; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return hd_err_set(err, HD_EINVAL, "options.%s: must not contain control characters", key);
        }
    }
    return HD_OK;
}

static int splunk_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct splunk *s = ch->ctx;
    const char *url = NULL;
    long ack_timeout = ack_timeout_opt.def;
    int rc = hd_opt_url(options, "options", "url", ch->common.endpoint == NULL, &url, err);
    if (rc != HD_OK) {
        return rc;
    }
    const char *base = ch->common.endpoint != NULL ? ch->common.endpoint : url;
    if (strchr(base, '?') != NULL || strchr(base, '#') != NULL) {
        return hd_err_set(err, HD_EINVAL, "options.%s: the HEC base URL takes no query string",
                          ch->common.endpoint != NULL ? "endpoint" : "url");
    }
    s->base = hd_strdup(base);
    if (s->base == NULL) {
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    size_t len = strlen(s->base);
    while (len > 0 && s->base[len - 1] == '/') {
        s->base[--len] = '\0';
    }
    for (size_t i = 0; i < sizeof(trim_suffixes) / sizeof(trim_suffixes[0]); i++) {
        size_t sl = strlen(trim_suffixes[i]);
        if (len > sl && strcmp(s->base + len - sl, trim_suffixes[i]) == 0) {
            len -= sl;
            s->base[len] = '\0';
            break;
        }
    }
    rc = hd_opt_str(options, "options", "token", 1, &s->token, err);
    if (rc != HD_OK) {
        return rc;
    }
    for (const unsigned char *p = (const unsigned char *)s->token; *p != '\0'; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            /* The value itself is never echoed: it is a secret. */
            return hd_err_set(err, HD_EINVAL, "options.token: must not contain spaces or control characters");
        }
    }
    rc = opt_meta(options, "index", &s->index, err);
    if (rc == HD_OK) {
        rc = opt_meta(options, "sourcetype", &s->sourcetype, err);
    }
    if (rc == HD_OK) {
        rc = opt_meta(options, "source", &s->source, err);
    }
    if (rc == HD_OK) {
        rc = opt_meta(options, "host", &s->host, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_bool(options, "options", "raw", 0, &s->raw, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_bool(options, "options", "useAck", 0, &s->use_ack, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_long(options, "options", &ack_timeout_opt, &ack_timeout, err);
    }
    if (rc != HD_OK) {
        return rc;
    }
    if (s->raw && ch->common.batch_max_events == 0) {
        ch->common.batch_max_events = 1; /* raw: one payload per request, like the article's recipe */
    }
    if (s->use_ack) {
        if (make_guid(s->guid) != HD_OK) {
            return hd_err_set(err, HD_EIO, "options.useAck: cannot generate a channel id (getrandom failed)");
        }
        ch->ack_timeout_ms = ack_timeout;
    }
    return HD_OK;
}

static void splunk_destroy(struct hd_channel *ch)
{
    struct splunk *s = ch->ctx;
    if (s != NULL) {
        free(s->base);
        s->base = NULL;
    }
}

/* ---- rendering ---------------------------------------------------------- */

static const char *sourcetype_of(const struct splunk *s, const struct hd_event *ev)
{
    if (s->sourcetype != NULL) {
        return s->sourcetype;
    }
    const struct hd_source *src = hd_source_find(ev->source);
    return src != NULL && src->sourcetype != NULL ? src->sourcetype : "_json";
}

/* Appends "key":"value" (with a leading comma unless first). */
static int put_kv(struct hd_buf *b, int *first, const char *key, const char *val, size_t vlen)
{
    int rc = *first ? HD_OK : hd_buf_putc(b, ',');
    *first = 0;
    if (rc == HD_OK) {
        rc = hd_buf_json_str(b, key, strlen(key));
    }
    if (rc == HD_OK) {
        rc = hd_buf_putc(b, ':');
    }
    if (rc == HD_OK) {
        rc = hd_buf_json_str(b, val, vlen);
    }
    return rc;
}

static int put_kvs(struct hd_buf *b, int *first, const char *key, const char *val)
{
    if (val == NULL) {
        return HD_OK;
    }
    return put_kv(b, first, key, val, strlen(val));
}

/* The normalized fields as one flat object of strings. */
static int put_fields(struct hd_buf *b, const struct hd_event *ev)
{
    int first = 1;
    char sev[16];
    snprintf(sev, sizeof(sev), "%d", ev->severity);
    int rc = hd_buf_puts(b, "{");
    if (rc == HD_OK) {
        rc = put_kvs(b, &first, "id", ev->id);
    }
    if (rc == HD_OK) {
        rc = put_kvs(b, &first, "severity", sev);
    }
    if (rc == HD_OK) {
        rc = put_kvs(b, &first, "state", hd_state_name(ev->state));
    }
    const struct {
        const char *key;
        const char *val;
    } f[] = {
        {"name", ev->name},
        {"alertKey", ev->alert_key},
        {"containerId", ev->container_id},
        {"k8s.namespace", ev->k8s_namespace},
        {"k8s.pod", ev->k8s_pod},
        {"k8s.container", ev->k8s_container},
        {"k8s.kind", ev->k8s_kind},
        {"k8s.name", ev->k8s_name},
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]) && rc == HD_OK; i++) {
        rc = put_kvs(b, &first, f[i].key, f[i].val);
    }
    if (rc == HD_OK && ev->labels != NULL) {
        json_object *labels = hd_json_parse(ev->labels, strlen(ev->labels), NULL);
        if (labels != NULL && json_object_is_type(labels, json_type_object)) {
            char key[256];
            json_object_object_foreach(labels, k, v)
            {
                if (rc != HD_OK) {
                    break;
                }
                if (v == NULL) {
                    continue; /* JSON null: nothing to index */
                }
                snprintf(key, sizeof(key), "labels.%s", k);
                if (json_object_is_type(v, json_type_string)) {
                    rc = put_kv(b, &first, key, json_object_get_string(v),
                                (size_t)json_object_get_string_len(v));
                } else {
                    /* Numbers, booleans and nested values as their JSON text: HEC wants flat strings. */
                    rc = put_kvs(b, &first, key, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
                }
            }
        }
        json_object_put(labels);
    }
    if (rc == HD_OK) {
        rc = hd_buf_putc(b, '}');
    }
    return rc;
}

/* The event's document: template, else transform (the original by default). */
static int put_document(struct hd_channel *ch, const struct hd_event *ev, struct hd_buf *b,
                        struct hd_err *err)
{
    if (ch->common.tmpl != NULL) {
        return hd_template_render(ev, ch->common.tmpl, b, err);
    }
    return hd_transform_apply(ev, ch->common.transform, NULL, b, err);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0)) {
        q--;
    }
    return q;
}

static int put_envelope(struct hd_channel *ch, const struct hd_event *ev, struct hd_buf *b,
                        struct hd_err *err)
{
    const struct splunk *s = ch->ctx;
    int64_t us = ev->ts_us > 0 ? ev->ts_us : ev->recv_us;
    int64_t sec = floor_div(us, 1000000);
    int64_t frac = us - sec * 1000000;
    int first = 0;
    const char *host = s->host != NULL ? s->host : ev->host;
    int rc = hd_buf_printf(b, "{\"time\":%lld.%06lld", (long long)sec, (long long)frac);
    if (rc == HD_OK) {
        rc = put_kvs(b, &first, "host", host);
    }
    if (rc == HD_OK) {
        rc = put_kvs(b, &first, "source", s->source != NULL ? s->source : "herald");
    }
    if (rc == HD_OK) {
        rc = put_kvs(b, &first, "sourcetype", sourcetype_of(s, ev));
    }
    if (rc == HD_OK) {
        rc = put_kvs(b, &first, "index", s->index);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(b, ",\"event\":");
    }
    if (rc == HD_OK) {
        size_t at = b->len;
        rc = put_document(ch, ev, b, err);
        /* A document that is not JSON (never produced by herald's decoders,
         * but cheap to guard) is sent as a string event. */
        size_t i = at;
        while (rc == HD_OK && i < b->len && isspace((unsigned char)b->p[i])) {
            i++;
        }
        if (rc == HD_OK && (i >= b->len || (b->p[i] != '{' && b->p[i] != '['))) {
            char *text = hd_strndup(b->p + at, b->len - at);
            b->len = at;
            b->p[at] = '\0';
            rc = text != NULL ? hd_buf_json_str(b, text, strlen(text)) : HD_ENOMEM;
            free(text);
        }
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(b, ",\"fields\":");
    }
    if (rc == HD_OK) {
        rc = put_fields(b, ev);
    }
    if (rc == HD_OK) {
        rc = hd_buf_putc(b, '}');
    }
    return rc;
}

/* Appends "&name=value" (or "?" first) percent-encoded (RFC 3986 unreserved kept). */
static int put_query(struct hd_buf *b, int *first, const char *name, const char *val)
{
    static const char hex[] = "0123456789ABCDEF";
    if (val == NULL) {
        return HD_OK;
    }
    int rc = hd_buf_printf(b, "%c%s=", *first ? '?' : '&', name);
    *first = 0;
    for (const unsigned char *p = (const unsigned char *)val; *p != '\0' && rc == HD_OK; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == ':') {
            rc = hd_buf_putc(b, (char)*p);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 0x0f]};
            rc = hd_buf_append(b, enc, sizeof(enc));
        }
    }
    return rc;
}

static int put_raw_line(struct hd_channel *ch, const struct hd_event *ev, int one_line, struct hd_buf *b,
                        struct hd_err *err)
{
    size_t at = b->len;
    int rc = put_document(ch, ev, b, err);
    if (rc != HD_OK || !one_line || memchr(b->p + at, '\n', b->len - at) == NULL) {
        return rc;
    }
    json_object *doc = hd_json_parse(b->p + at, b->len - at, NULL);
    if (doc == NULL) {
        /* Not JSON: line breaks become spaces, so the event stays one line. */
        for (size_t i = at; i < b->len; i++) {
            if (b->p[i] == '\n' || b->p[i] == '\r') {
                b->p[i] = ' ';
            }
        }
        return HD_OK;
    }
    b->len = at;
    b->p[at] = '\0';
    rc = hd_json_append(doc, b);
    json_object_put(doc);
    return rc;
}

static int common_request(struct hd_channel *ch, struct hd_request *req, const char *content_type)
{
    const struct splunk *s = ch->ctx;
    char auth[1024];
    hd_request_begin(req, ch, "POST", NULL); /* the URL depends on the endpoint (event, raw, ack) */
    int n = snprintf(auth, sizeof(auth), "Splunk %s", s->token);
    if (n < 0 || (size_t)n >= sizeof(auth)) {
        return HD_ETOOBIG;
    }
    int rc = hd_request_add_header(req, "Authorization", auth);
    memset(auth, 0, sizeof(auth)); /* the token does not linger on the stack */
    if (rc == HD_OK) {
        rc = hd_request_add_header(req, "Content-Type", content_type);
    }
    if (rc == HD_OK && s->use_ack) {
        rc = hd_request_add_header(req, "X-Splunk-Request-Channel", s->guid);
    }
    return rc;
}

/* Same source for every event: the raw query's per-source sourcetype. */
static const char *raw_sourcetype(const struct splunk *s, const struct hd_event *const *evs, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (evs[i]->source != evs[0]->source && (evs[i]->source == NULL || evs[0]->source == NULL ||
                                                 strcmp(evs[i]->source, evs[0]->source) != 0)) {
            return s->sourcetype; /* mixed: only the configured one, else the token's default */
        }
    }
    return sourcetype_of(s, evs[0]);
}

static int splunk_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                         struct hd_request *req, struct hd_err *err)
{
    const struct splunk *s = ch->ctx;
    struct hd_buf url;
    int first = 1;
    int rc = HD_OK;
    hd_buf_init(&url, 0);
    if (n == 0) {
        rc = hd_err_set(err, HD_EINVAL, "splunk: empty batch");
        goto out;
    }
    rc = hd_buf_puts(&url, s->base);
    if (rc == HD_OK) {
        rc = hd_buf_puts(&url, s->raw ? "/services/collector/raw" : "/services/collector/event");
    }
    if (rc == HD_OK && s->raw) {
        rc = put_query(&url, &first, "sourcetype", raw_sourcetype(s, evs, n));
        if (rc == HD_OK) {
            rc = put_query(&url, &first, "source", s->source != NULL ? s->source : "herald");
        }
        if (rc == HD_OK) {
            rc = put_query(&url, &first, "host", s->host != NULL ? s->host : (n == 1 ? evs[0]->host : NULL));
        }
        if (rc == HD_OK) {
            rc = put_query(&url, &first, "index", s->index);
        }
    }
    if (rc == HD_OK) {
        rc = common_request(ch, req, s->raw ? "text/plain" : "application/json");
    }
    if (rc != HD_OK) {
        rc = hd_err_set(err, rc, "splunk: cannot build the request: %s", hd_strerror(rc));
        goto out;
    }
    free(req->url);
    req->url = hd_buf_steal(&url, NULL);
    if (req->url == NULL) {
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && rc == HD_OK; i++) {
        if (i > 0) {
            rc = hd_buf_putc(&req->body, '\n');
        }
        if (rc == HD_OK) {
            rc = s->raw ? put_raw_line(ch, evs[i], n > 1, &req->body, err)
                        : put_envelope(ch, evs[i], &req->body, err);
        }
    }
    if (rc != HD_OK) {
        if (err->msg[0] == '\0') {
            hd_err_set(err, rc, "splunk: cannot render event %s: %s", evs[0]->id, hd_strerror(rc));
        }
        goto out;
    }
    if (n > 1 && ch->common.batch_max_bytes > 0 && req->body.len > ch->common.batch_max_bytes) {
        /* The dispatcher halves the batch until it fits. */
        rc = hd_err_set(err, HD_ETOOBIG, "splunk: batch of %zu events is %zu bytes, over batch.maxBytes %zu",
                        n, req->body.len, ch->common.batch_max_bytes);
    }
out:
    hd_buf_free(&url);
    return rc;
}

/* ---- answers ------------------------------------------------------------ */

/* HEC reply code -> verdict (tests/fixtures/splunk/splunkadmins_hec_reply_code_lookup.csv:
 * "Client should automatically try to resend" for 8 and 9; 18-20 are the
 * unhealthy states of 503; everything else is the client's or the token's
 * configuration, which a resend does not fix). */
static enum hd_verdict code_verdict(int64_t code, const struct hd_response *resp)
{
    switch (code) {
    case 0:
    case 17: return resp->status >= 200 && resp->status < 300 ? HD_VERDICT_DELIVERED : hd_classify_http(resp);
    case 8:
    case 9:
    case 18:
    case 19:
    case 20: return HD_VERDICT_RETRY;
    default:
        if (code >= 1 && code <= 22) {
            return HD_VERDICT_DEAD;
        }
        return hd_classify_http(resp);
    }
}

static json_object *answer_json(const struct hd_response *resp)
{
    if (resp->status == 0 || resp->body.len == 0) {
        return NULL;
    }
    json_object *o = hd_json_parse(resp->body.p, resp->body.len, NULL);
    if (o != NULL && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static void set_item(struct hd_item_verdict *it, enum hd_verdict v, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_item(struct hd_item_verdict *it, enum hd_verdict v, int status, const char *fmt, ...)
{
    va_list ap;
    it->verdict = v;
    it->status = status;
    va_start(ap, fmt);
    vsnprintf(it->error, sizeof(it->error), fmt, ap);
    va_end(ap);
}

static enum hd_verdict splunk_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                       struct hd_item_verdict *items)
{
    (void)ch;
    int status = (int)resp->status;
    json_object *ans = answer_json(resp);
    int64_t code = -1;
    int64_t bad = -1;
    const char *text = NULL;
    if (ans != NULL && hd_json_get_i64(ans, "code", &code)) {
        text = hd_json_get_str(ans, "text");
        if (!hd_json_get_i64(ans, "invalid-event-number", &bad)) {
            bad = -1;
        }
    } else {
        code = -1;
    }
    enum hd_verdict v = code >= 0 ? code_verdict(code, resp) : hd_classify_http(resp);
    for (size_t i = 0; i < n; i++) {
        struct hd_item_verdict *it = &items[i];
        if (v == HD_VERDICT_DELIVERED) {
            set_item(it, v, status, "%s", "");
        } else if (resp->status == 0) {
            set_item(it, v, 0, "%s", resp->error[0] != '\0' ? resp->error : "transport error");
        } else if (code < 0) {
            /* No HEC answer (a proxy's page): the start of the body says why. */
            size_t len = resp->body.len < 200 ? resp->body.len : 200;
            set_item(it, v, status, "HTTP %d: %.*s", status, (int)len,
                     resp->body.p != NULL ? resp->body.p : "");
        } else if (v == HD_VERDICT_DEAD && bad >= 0 && (size_t)bad < n && n > 1) {
            /* HEC indexed the events before the bad one and stopped there. */
            if ((int64_t)i < bad) {
                set_item(it, HD_VERDICT_DELIVERED, 200, "%s", "");
            } else if ((int64_t)i == bad) {
                set_item(it, HD_VERDICT_DEAD, status, "HEC code %lld: %s (event %lld of the batch)",
                         (long long)code, text != NULL ? text : "", (long long)bad);
            } else {
                set_item(it, HD_VERDICT_RETRY, status,
                         "not indexed: HEC stopped at event %lld of the batch (code %lld)", (long long)bad,
                         (long long)code);
            }
        } else {
            set_item(it, v, status, "HEC code %lld: %s", (long long)code, text != NULL ? text : "");
        }
    }
    json_object_put(ans);
    return v;
}

/* ---- indexer acknowledgement ------------------------------------------- */

static int splunk_ack_id(struct hd_channel *ch, const struct hd_response *resp, int64_t *id)
{
    (void)ch;
    json_object *ans = answer_json(resp);
    int64_t v = 0;
    int found = ans != NULL && hd_json_get_i64(ans, "ackId", &v) && v >= 0;
    json_object_put(ans);
    if (found) {
        *id = v;
    }
    return found;
}

static int splunk_ack_render(struct hd_channel *ch, const int64_t *ids, size_t n, struct hd_request *req,
                             struct hd_err *err)
{
    const struct splunk *s = ch->ctx;
    int rc = common_request(ch, req, "application/json");
    if (rc == HD_OK) {
        free(req->url);
        req->url = NULL;
        struct hd_buf url;
        hd_buf_init(&url, 0);
        rc = hd_buf_printf(&url, "%s/services/collector/ack", s->base);
        req->url = rc == HD_OK ? hd_buf_steal(&url, NULL) : NULL;
        hd_buf_free(&url);
        if (req->url == NULL) {
            rc = HD_ENOMEM;
        }
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(&req->body, "{\"acks\":[");
    }
    for (size_t i = 0; i < n && rc == HD_OK; i++) {
        rc = hd_buf_printf(&req->body, "%s%lld", i > 0 ? "," : "", (long long)ids[i]);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(&req->body, "]}");
    }
    if (rc != HD_OK) {
        return hd_err_set(err, rc, "splunk: cannot build the ack query: %s", hd_strerror(rc));
    }
    return HD_OK;
}

static int splunk_ack_classify(struct hd_channel *ch, const struct hd_response *resp, const int64_t *ids,
                               size_t n, unsigned char *confirmed)
{
    (void)ch;
    if (resp->status != 200) {
        return HD_EIO;
    }
    json_object *ans = answer_json(resp);
    json_object *acks = ans != NULL ? hd_opt_get(ans, "acks") : NULL;
    int count = 0;
    if (acks == NULL || !json_object_is_type(acks, json_type_object)) {
        json_object_put(ans);
        return HD_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char key[24];
        json_object *v = NULL;
        snprintf(key, sizeof(key), "%lld", (long long)ids[i]);
        if (json_object_object_get_ex(acks, key, &v) && json_object_is_type(v, json_type_boolean) &&
            json_object_get_boolean(v)) {
            confirmed[i] = 1;
            count++;
        }
    }
    json_object_put(ans);
    return count;
}

static const char *const splunk_secrets[] = {"token", NULL};
static const char *const splunk_urls[] = {"url", NULL};

const struct hd_channel_type hd_channel_splunk = {
    .name = "SPLUNK",
    .log_sink = 1,
    .ctx_size = sizeof(struct splunk),
    .max_batch = SPLUNK_MAX_BATCH,
    .secret_options = splunk_secrets,
    .url_options = splunk_urls,
    .configure = splunk_configure,
    .render = splunk_render,
    .classify = splunk_classify,
    .destroy = splunk_destroy,
    .ack_id = splunk_ack_id,
    .ack_render = splunk_ack_render,
    .ack_classify = splunk_ack_classify,
};
