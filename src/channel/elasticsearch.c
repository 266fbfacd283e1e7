/* elasticsearch.c - ELASTICSEARCH: batches of events through the _bulk API
 * (SPEC 4, 6, 7).
 *
 * DESIGN: one request per batch, POST <url>/_bulk, NDJSON body of
 *   {"create":{"_index":"<index for the event time>","_id":"<event id>"}}\n
 *   <document>\n
 * pairs. `create` with _id = event id makes every re-send idempotent: an
 * event already indexed answers 409 version_conflict_engine_exception, which
 * counts as delivered, and the stored document is never overwritten (it also
 * is the only op type data streams accept). opType "index" overwrites instead.
 * The document is options.transform applied to the original payload with the
 * ELASTICSEARCH defaults (estimestamp, @timestamp, herald) underneath the
 * user's keys; hd_transform_apply splices the added members into the original
 * bytes when it can. Raw CR/LF bytes of a pretty-printed original (JSON only
 * allows them as whitespace) become spaces: NDJSON is one document per line.
 *
 * Index names come from a strftime-like pattern over the event time in UTC
 * ("herald-%Y.%m.%d"); only date/hour conversions are allowed, so the name is
 * computed once per hour of event time within a batch.
 *
 * Size: options.batch.maxBytes bounds the uncompressed body. A batch that
 * would exceed it is refused before rendering (estimate) or after (exact):
 * the dispatcher halves it until it fits. A single document is always sent.
 *
 * Answers (Elastic's _bulk docs: items are in request order, each with its
 * own status; "errors" is true when any failed). The URL asks for
 * filter_path=errors,items.*.status,items.*.error so the answer stays small.
 * Per item: 2xx and 409 delivered, 408/429/5xx retried alone, other 4xx
 * dead with "type: reason". Whole request: 2xx -> per item; otherwise the
 * default HTTP classification (429/503/5xx retried honouring Retry-After by
 * the dispatcher; 400/401/403/404/413 dead) with ES's error type and reason.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/transform.h"
#include "core/util.h"

#define ES_MAX_BATCH 5000
#define ES_INDEX_MAX 255
#define ES_FILTER_PATH "filter_path=errors,items.*.status,items.*.error"

struct es {
    char *bulk_url;         /* <base>/_bulk?filter_path=...[&pipeline=...] */
    char *auth;             /* "Basic ..." / "ApiKey ..." or NULL (a secret: never logged) */
    json_object *headers;   /* borrowed additionalHeaders, validated */
    json_object *transform; /* owned: ES defaults overlaid with options.transform */
    char *index_fmt;        /* validated pattern */
    const char *op;         /* "create" or "index" */
    int user_content_type;
};

/* ---- options ---- */

static int index_conv_ok(char c)
{
    return strchr("YymdHjGgV%", c) != NULL;
}

/* Elasticsearch index names: lowercase, no \ / * ? " < > | space , # :,
 * not starting with - _ +, at most 255 bytes. Literal characters are held to
 * a safe subset; conversions only produce digits. */
static int check_index(const char *p, struct hd_err *err)
{
    size_t len = strlen(p);
    if (len == 0 || len > 200) {
        return hd_err_set(err, HD_EINVAL, "options.index: must be 1..200 characters");
    }
    if (p[0] == '-' || p[0] == '_' || p[0] == '+') {
        return hd_err_set(err, HD_EINVAL,
                          "options.index: must not start with '-', '_' or '+' (Elasticsearch rule)");
    }
    if (strcmp(p, ".") == 0 || strcmp(p, "..") == 0) {
        return hd_err_set(err, HD_EINVAL, "options.index: must not be '.' or '..'");
    }
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '%') {
            if (i + 1 >= len || !index_conv_ok(p[i + 1])) {
                return hd_err_set(
                    err, HD_EINVAL,
                    "options.index: at position %zu: only %%Y %%y %%m %%d %%H %%j %%G %%g %%V %%%% "
                    "are allowed in the date pattern",
                    i + 1);
            }
            i++;
            continue;
        }
        int ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '+';
        if (!ok) {
            return hd_err_set(
                err, HD_EINVAL,
                "options.index: character %zu is not allowed (index names are lowercase letters, "
                "digits, '-', '_', '.', '+')",
                i + 1);
        }
    }
    return HD_OK;
}

static int unreserved(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static int put_pct(struct hd_buf *b, const char *s)
{
    int rc = HD_OK;
    for (; rc == HD_OK && *s != '\0'; s++) {
        if (unreserved(*s)) {
            rc = hd_buf_putc(b, *s);
        } else {
            rc = hd_buf_printf(b, "%%%02X", (unsigned)(unsigned char)*s);
        }
    }
    return rc;
}

/* Authorization from username/password (Basic) or apiKey. ES API keys are
 * sent as base64("id:api_key") (the "encoded" value of the create API key
 * answer); an "id:api_key" pair is encoded here. */
static int build_auth(struct es *e, json_object *options, struct hd_err *err)
{
    const char *user = NULL;
    const char *pass = NULL;
    const char *key = NULL;
    struct hd_buf b;
    int rc = hd_opt_str(options, "options", "username", 0, &user, err);
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "password", 0, &pass, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "apiKey", 0, &key, err);
    }
    if (rc != HD_OK) {
        return rc;
    }
    if (user != NULL && user[0] == '\0') {
        user = NULL;
    }
    if (key != NULL && key[0] == '\0') {
        key = NULL;
    }
    if (pass != NULL && user == NULL && pass[0] != '\0') {
        return hd_err_set(err, HD_EINVAL, "options.password: needs options.username");
    }
    if (user != NULL && pass == NULL) {
        return hd_err_set(err, HD_EINVAL, "options.password: required with options.username");
    }
    if (user != NULL && key != NULL) {
        return hd_err_set(err, HD_EINVAL, "options.apiKey: use either apiKey or username/password, not both");
    }
    if ((user != NULL || key != NULL) && hd_headers_has(e->headers, "Authorization")) {
        return hd_err_set(
            err, HD_EINVAL,
            "options.additionalHeaders.Authorization: conflicts with options.%s (use one of them)",
            user != NULL ? "username" : "apiKey");
    }
    if (user == NULL && key == NULL) {
        return HD_OK;
    }
    if (user != NULL && strchr(user, ':') != NULL) {
        return hd_err_set(err, HD_EINVAL, "options.username: must not contain ':' (HTTP Basic)");
    }
    hd_buf_init(&b, 0);
    char *enc = NULL;
    if (user != NULL) {
        rc = hd_buf_printf(&b, "%s:%s", user, pass);
        enc = rc == HD_OK ? hd_channel_base64(b.p, b.len) : NULL;
        hd_buf_reset(&b);
        rc = enc != NULL ? hd_buf_printf(&b, "Basic %s", enc) : HD_ENOMEM;
    } else if (strchr(key, ':') != NULL) {
        enc = hd_channel_base64(key, strlen(key));
        rc = enc != NULL ? hd_buf_printf(&b, "ApiKey %s", enc) : HD_ENOMEM;
    } else {
        for (const char *p = key; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
                free(enc);
                hd_buf_free(&b);
                return hd_err_set(err, HD_EINVAL, "options.apiKey: must be printable ASCII without spaces");
            }
        }
        rc = hd_buf_printf(&b, "ApiKey %s", key);
    }
    if (enc != NULL) {
        OPENSSL_cleanse(enc, strlen(enc));
        free(enc);
    }
    if (rc == HD_OK) {
        e->auth = hd_buf_steal(&b, NULL);
        rc = e->auth != NULL ? HD_OK : HD_ENOMEM;
    }
    if (b.p != NULL) {
        OPENSSL_cleanse(b.p, b.len);
    }
    hd_buf_free(&b);
    return rc == HD_OK ? HD_OK : hd_err_set(err, rc, "options: out of memory");
}

static int build_url(struct es *e, struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    const char *url = NULL;
    const char *pipeline = NULL;
    int rc = hd_opt_url(options, "options", "url", 1, &url, err);
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "pipeline", 0, &pipeline, err);
    }
    if (rc != HD_OK) {
        return rc;
    }
    const char *base = ch->common.endpoint != NULL ? ch->common.endpoint : url;
    if (strpbrk(base, "?#") != NULL) {
        return hd_err_set(
            err, HD_EINVAL,
            "options.url: must be the Elasticsearch base URL without a query (herald appends /_bulk)");
    }
    size_t len = strlen(base);
    while (len > 0 && base[len - 1] == '/') {
        len--;
    }
    if (len >= 6 && strncmp(base + len - 6, "/_bulk", 6) == 0) {
        len -= 6; /* tolerated: the URL of the API rather than of the cluster */
    }
    struct hd_buf b;
    hd_buf_init(&b, 0);
    rc = hd_buf_append(&b, base, len);
    if (rc == HD_OK) {
        rc = hd_buf_puts(&b, "/_bulk?" ES_FILTER_PATH);
    }
    if (rc == HD_OK && pipeline != NULL && pipeline[0] != '\0') {
        rc = hd_buf_puts(&b, "&pipeline=");
        if (rc == HD_OK) {
            rc = put_pct(&b, pipeline);
        }
    }
    if (rc == HD_OK) {
        e->bulk_url = hd_buf_steal(&b, NULL);
        rc = e->bulk_url != NULL ? HD_OK : HD_ENOMEM;
    }
    hd_buf_free(&b);
    return rc == HD_OK ? HD_OK : hd_err_set(err, rc, "options: out of memory");
}

/* ES defaults (SPEC 7) with the user's transform on top; a member set to
 * null in options.transform switches that default off. */
static int build_transform(struct es *e, json_object *user, struct hd_err *err)
{
    json_object *t = json_object_new_object();
    if (t == NULL) {
        return hd_err_set(err, HD_ENOMEM, "options: out of memory");
    }
    json_object_object_add(t, "millisField", json_object_new_string("estimestamp"));
    json_object_object_add(t, "isoField", json_object_new_string("@timestamp"));
    json_object_object_add(t, "addNormalized", json_object_new_boolean(1));
    if (user != NULL && json_object_is_type(user, json_type_object)) {
        json_object_object_foreach(user, k, v)
        {
            json_object *c = NULL;
            if (v == NULL) {
                json_object_object_del(t, k);
                continue;
            }
            if (json_object_deep_copy(v, &c, NULL) != 0) {
                json_object_put(t);
                return hd_err_set(err, HD_ENOMEM, "options: out of memory");
            }
            json_object_object_add(t, k, c);
        }
    }
    e->transform = t;
    return HD_OK;
}

static void es_destroy(struct hd_channel *ch)
{
    struct es *e = ch->ctx;
    if (e == NULL) {
        return;
    }
    free(e->bulk_url);
    if (e->auth != NULL) {
        OPENSSL_cleanse(e->auth, strlen(e->auth));
        free(e->auth);
    }
    json_object_put(e->transform);
    free(e->index_fmt);
    memset(e, 0, sizeof(*e));
}

static int es_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct es *e = ch->ctx;
    const char *index = NULL;
    const char *op = NULL;
    /* Slots stay free for Content-Type, Content-Encoding and Authorization. */
    int rc =
        hd_opt_headers(options, "options", "additionalHeaders", HD_REQ_MAX_HEADERS - 3, &e->headers, err);
    if (rc == HD_OK) {
        rc = build_url(e, ch, options, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "index", 1, &index, err);
    }
    if (rc == HD_OK) {
        rc = check_index(index, err);
    }
    if (rc == HD_OK) {
        e->index_fmt = hd_strdup(index);
        rc = e->index_fmt != NULL ? HD_OK : hd_err_set(err, HD_ENOMEM, "options: out of memory");
    }
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "opType", 0, &op, err);
    }
    if (rc == HD_OK) {
        if (op == NULL || strcmp(op, "create") == 0) {
            e->op = "create";
        } else if (strcmp(op, "index") == 0) {
            e->op = "index";
        } else {
            rc = hd_err_set(err, HD_EINVAL, "options.opType: must be \"create\" (default) or \"index\"");
        }
    }
    if (rc == HD_OK) {
        rc = build_auth(e, options, err);
    }
    if (rc == HD_OK) {
        rc = build_transform(e, ch->common.transform, err);
    }
    if (rc == HD_OK && ch->common.tmpl != NULL && !json_object_is_type(ch->common.tmpl, json_type_object)) {
        rc = hd_err_set(err, HD_EINVAL, "options.template: must be an object (the document indexed)");
    }
    e->user_content_type = hd_headers_has(e->headers, "Content-Type");
    return rc;
}

/* ---- render ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) {
        q--;
    }
    return q;
}

/* Index name for an event time (UTC). Returns the length, 0 if it does not fit. */
static size_t index_name(const char *fmt, int64_t ts_us, char *out, size_t outsz)
{
    time_t t = (time_t)floor_div(ts_us, 1000000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        return 0;
    }
    return strftime(out, outsz, fmt, &tm);
}

static size_t opt_len(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

/* Upper-bound-ish size of one rendered pair, without rendering it. */
static size_t estimate(const struct hd_event *ev)
{
    size_t n = ev->raw_len + 400;
    n += opt_len(ev->name) + opt_len(ev->description) + opt_len(ev->url) + opt_len(ev->host) +
         opt_len(ev->container_id) + opt_len(ev->k8s_namespace) + opt_len(ev->k8s_pod) +
         opt_len(ev->k8s_container) + opt_len(ev->k8s_kind) + opt_len(ev->k8s_name) + opt_len(ev->labels) +
         opt_len(ev->alert_key);
    return n;
}

static int gzip_into(const struct hd_buf *in, struct hd_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* windowBits 15 + 16: gzip wrapper (Content-Encoding: gzip). Level 1:
     * NDJSON compresses well already and the loop thread renders. */
    if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return HD_ENOMEM;
    }
    size_t bound = deflateBound(&zs, (uLong)in->len) + 32;
    int rc = hd_buf_reserve(out, bound);
    if (rc == HD_OK) {
        zs.next_in = (Bytef *)in->p;
        zs.avail_in = (uInt)in->len;
        zs.next_out = (Bytef *)out->p + out->len;
        zs.avail_out = (uInt)bound;
        rc = deflate(&zs, Z_FINISH) == Z_STREAM_END ? HD_OK : HD_EIO;
    }
    if (rc == HD_OK) {
        out->len += bound - zs.avail_out;
        out->p[out->len] = '\0';
    }
    deflateEnd(&zs);
    return rc;
}

static int render_pair(const struct es *e, struct hd_channel *ch, const struct hd_event *ev,
                       const char *index, struct hd_buf *b, struct hd_err *err)
{
    int rc = hd_buf_puts(b, "{\"");
    if (rc == HD_OK) {
        rc = hd_buf_puts(b, e->op);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(b, "\":{\"_index\":");
    }
    if (rc == HD_OK) {
        rc = hd_buf_json_str(b, index, strlen(index));
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(b, ",\"_id\":"); /* ids are hex: no escaping needed, but cheap to be sure */
    }
    if (rc == HD_OK) {
        rc = hd_buf_json_str(b, ev->id, strlen(ev->id));
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(b, "}}\n");
    }
    if (rc != HD_OK) {
        return hd_err_set(err, rc, "elasticsearch: %s", hd_strerror(rc));
    }
    size_t doc = b->len;
    if (ch->common.tmpl != NULL) {
        rc = hd_template_render(ev, ch->common.tmpl, b, err);
    } else {
        rc = hd_transform_apply(ev, e->transform, NULL, b, err);
    }
    if (rc != HD_OK) {
        return rc;
    }
    for (char *p = b->p + doc; p < b->p + b->len;) {
        char *nl = memchr(p, '\n', (size_t)(b->p + b->len - p));
        char *cr = memchr(p, '\r', (size_t)(b->p + b->len - p));
        char *hit = nl == NULL ? cr : (cr == NULL || nl < cr ? nl : cr);
        if (hit == NULL) {
            break;
        }
        *hit = ' ';
        p = hit + 1;
    }
    rc = hd_buf_putc(b, '\n');
    return rc == HD_OK ? HD_OK : hd_err_set(err, rc, "elasticsearch: %s", hd_strerror(rc));
}

static int es_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                     struct hd_request *req, struct hd_err *err)
{
    struct es *e = ch->ctx;
    size_t max_bytes = ch->common.batch_max_bytes;
    struct hd_buf plain;
    struct hd_buf *nd = ch->common.compress ? &plain : &req->body;
    char index[ES_INDEX_MAX + 1];
    int64_t cached_hour = INT64_MIN;
    int rc = HD_OK;
    hd_buf_init(&plain, 0);
    if (n == 0) {
        return hd_err_set(err, HD_EINVAL, "elasticsearch: empty batch");
    }
    size_t est = 0;
    for (size_t i = 0; i < n; i++) {
        est += estimate(evs[i]);
    }
    if (n > 1 && max_bytes > 0 && est > max_bytes) {
        return hd_err_set(err, HD_ETOOBIG, "elasticsearch: %zu events are over options.batch.maxBytes (%zu)",
                          n, max_bytes);
    }
    /* Sized once: growing it by doubling copied it several times. */
    if (hd_buf_reserve(nd, est) != HD_OK) {
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    if (hd_request_begin(req, ch, "POST", e->bulk_url) != HD_OK) {
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    if (!e->user_content_type) {
        rc = hd_request_add_header(req, "Content-Type", "application/x-ndjson");
    }
    if (rc == HD_OK && ch->common.compress) {
        rc = hd_request_add_header(req, "Content-Encoding", "gzip");
    }
    if (rc == HD_OK && e->auth != NULL) {
        rc = hd_request_add_header(req, "Authorization", e->auth);
    }
    if (rc == HD_OK) {
        rc = hd_request_add_headers(req, e->headers);
    }
    if (rc != HD_OK) {
        return hd_err_set(err, rc, "elasticsearch: cannot add headers: %s", hd_strerror(rc));
    }
    for (size_t i = 0; i < n && rc == HD_OK; i++) {
        int64_t hour = floor_div(evs[i]->ts_us, 3600LL * 1000000LL);
        if (hour != cached_hour) {
            if (index_name(e->index_fmt, evs[i]->ts_us, index, sizeof(index)) == 0) {
                rc = hd_err_set(err, HD_EINVAL,
                                "elasticsearch: options.index: no index name for event time %lld us",
                                (long long)evs[i]->ts_us);
                break;
            }
            cached_hour = hour;
        }
        rc = render_pair(e, ch, evs[i], index, nd, err);
        if (rc == HD_OK && n > 1 && max_bytes > 0 && nd->len > max_bytes) {
            rc = hd_err_set(err, HD_ETOOBIG,
                            "elasticsearch: %zu events are over options.batch.maxBytes (%zu)", n, max_bytes);
        }
    }
    if (rc == HD_OK && ch->common.compress) {
        rc = gzip_into(&plain, &req->body);
        if (rc != HD_OK) {
            hd_err_set(err, rc, "elasticsearch: gzip: %s", hd_strerror(rc));
        }
    }
    hd_buf_free(&plain);
    return rc;
}

/* ---- classify ---- */

/* "type: reason" of an ES error object (or its string form), with the first
 * caused_by when there is room. */
static void error_text(json_object *error, char *out, size_t outsz)
{
    out[0] = '\0';
    if (error == NULL) {
        return;
    }
    if (json_object_is_type(error, json_type_string)) {
        snprintf(out, outsz, "%s", json_object_get_string(error));
        return;
    }
    const char *type = hd_json_get_str(error, "type");
    const char *reason = hd_json_get_str(error, "reason");
    json_object *cb = NULL;
    json_object_object_get_ex(error, "caused_by", &cb);
    const char *cb_type = cb != NULL ? hd_json_get_str(cb, "type") : NULL;
    const char *cb_reason = cb != NULL ? hd_json_get_str(cb, "reason") : NULL;
    int w = snprintf(out, outsz, "%s: %s", type != NULL ? type : "error",
                     reason != NULL ? reason : "(no reason)");
    if (w > 0 && (size_t)w < outsz && (cb_type != NULL || cb_reason != NULL)) {
        snprintf(out + w, outsz - (size_t)w, " (caused by %s: %s)", cb_type != NULL ? cb_type : "error",
                 cb_reason != NULL ? cb_reason : "");
    }
}

static enum hd_verdict item_verdict(int64_t status)
{
    if ((status >= 200 && status <= 299) || status == 409) {
        return HD_VERDICT_DELIVERED; /* 409: this _id is already indexed (a re-send) */
    }
    if (status == 408 || status == 429 || status >= 500) {
        return HD_VERDICT_RETRY;
    }
    return HD_VERDICT_DEAD;
}

static void fill_all(size_t n, struct hd_item_verdict *items, enum hd_verdict v, int status, const char *why)
{
    for (size_t i = 0; i < n; i++) {
        items[i].verdict = v;
        items[i].status = status;
        snprintf(items[i].error, sizeof(items[i].error), "%s", why);
    }
}

/* 1 when the answer starts with "errors":false (the common case: no parse). */
static int no_errors(const struct hd_buf *body)
{
    size_t lim = body->len < 512 ? body->len : 512;
    const char *p = memmem(body->p, lim, "\"errors\"", 8);
    if (p == NULL) {
        return 0;
    }
    p += 8;
    const char *end = body->p + lim;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ':')) {
        p++;
    }
    return end - p >= 5 && memcmp(p, "false", 5) == 0;
}

static enum hd_verdict classify_items(const struct hd_response *resp, size_t n, struct hd_item_verdict *items)
{
    json_object *root = hd_json_parse(resp->body.p, resp->body.len, NULL);
    json_object *arr = NULL;
    if (root == NULL || !json_object_object_get_ex(root, "items", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        char why[256];
        snprintf(why, sizeof(why), "unreadable _bulk answer (HTTP %ld): %.180s", resp->status,
                 resp->body.len > 0 ? resp->body.p : "(empty)");
        fill_all(n, items, HD_VERDICT_RETRY, (int)resp->status, why);
        json_object_put(root);
        return HD_VERDICT_RETRY;
    }
    size_t got = json_object_array_length(arr);
    size_t n_retry = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *it = i < got ? json_object_array_get_idx(arr, i) : NULL;
        json_object *res = NULL;
        int64_t st = 0;
        if (it != NULL && json_object_is_type(it, json_type_object) && json_object_object_length(it) == 1) {
            json_object_object_foreach(it, op, v)
            {
                (void)op;
                res = v;
            }
        }
        if (res == NULL || !hd_json_get_i64(res, "status", &st)) {
            items[i].verdict = HD_VERDICT_RETRY;
            items[i].status = (int)resp->status;
            snprintf(items[i].error, sizeof(items[i].error),
                     "no result for this item in the _bulk answer (%zu of %zu)", got, n);
            n_retry++;
            continue;
        }
        items[i].verdict = item_verdict(st);
        items[i].status = (int)st;
        items[i].error[0] = '\0';
        if (items[i].verdict != HD_VERDICT_DELIVERED) {
            json_object *error = NULL;
            json_object_object_get_ex(res, "error", &error);
            error_text(error, items[i].error, sizeof(items[i].error));
            if (items[i].error[0] == '\0') {
                snprintf(items[i].error, sizeof(items[i].error), "item status %lld", (long long)st);
            }
        }
        if (items[i].verdict == HD_VERDICT_RETRY) {
            n_retry++;
        }
    }
    json_object_put(root);
    /* The request itself went through: only a batch where nothing got in
     * counts as a failed request (backoff, circuit breaker). */
    return n_retry == n ? HD_VERDICT_RETRY : HD_VERDICT_DELIVERED;
}

static enum hd_verdict es_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                   struct hd_item_verdict *items)
{
    (void)ch;
    if (resp->status >= 200 && resp->status <= 299) {
        if (no_errors(&resp->body)) {
            return HD_VERDICT_DELIVERED; /* items keep the overall verdict */
        }
        return classify_items(resp, n, items);
    }
    enum hd_verdict v = hd_classify_http(resp);
    char why[256];
    if (resp->status == 0) {
        snprintf(why, sizeof(why), "%s", resp->error);
    } else {
        json_object *root = hd_json_parse(resp->body.p, resp->body.len, NULL);
        json_object *error = NULL;
        char text[230];
        text[0] = '\0';
        if (root != NULL && json_object_object_get_ex(root, "error", &error)) {
            error_text(error, text, sizeof(text));
        }
        if (text[0] == '\0') {
            snprintf(text, sizeof(text), "%.200s", resp->body.len > 0 ? resp->body.p : "(empty answer)");
        }
        snprintf(why, sizeof(why), "HTTP %ld %s", resp->status, text);
        json_object_put(root);
    }
    fill_all(n, items, v, (int)resp->status, why);
    return v;
}

static const char *const es_secrets[] = {"password", "apiKey", "additionalHeaders.*", NULL};
static const char *const es_urls[] = {"url", NULL};

const struct hd_channel_type hd_channel_elasticsearch = {
    .name = "ELASTICSEARCH",
    .log_sink = 1,
    .ctx_size = sizeof(struct es),
    .max_batch = ES_MAX_BATCH,
    .secret_options = es_secrets,
    .url_options = es_urls,
    .configure = es_configure,
    .render = es_render,
    .classify = es_classify,
    .destroy = es_destroy,
};
