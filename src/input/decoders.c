/* decoders.c - the decoder registry and the request body splitter.
 *
 * DESIGN: a request body is split into documents without building anything
 * (a byte scanner that knows strings, escapes and nesting finds where each
 * document starts and ends, so each keeps its exact original bytes), then
 * every document is parsed once by hd_jt_parse (into a tape reused for the
 * whole request: no allocation per value) and handed to one decoder:
 * the ?format= one, else the one whose detect() is most certain. Splitting:
 *   - Content-Type application/x-ndjson: one document per non-blank line;
 *   - a body starting with '[': each array element is a document;
 *   - otherwise the first value decides: alone in the body -> one document;
 *     followed by more values after a newline -> NDJSON when the first value
 *     fits on its line, else a stream of (pretty-printed) concatenated values.
 * All or nothing: events appended before an error are cleared again.
 * Errors say "document N (line L, column C): at byte B of the body: why".
 */
#include "input/decoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

extern const struct hd_decoder hd_decoder_sysdig;
extern const struct hd_decoder hd_decoder_falco;
extern const struct hd_decoder hd_decoder_alertmanager;
extern const struct hd_decoder hd_decoder_kubernetes;
extern const struct hd_decoder hd_decoder_docker;
extern const struct hd_decoder hd_decoder_generic;

/* Order breaks detect() ties: specific formats first, generic last. */
static const struct hd_decoder *const decoders[] = {
    &hd_decoder_sysdig,     &hd_decoder_falco,  &hd_decoder_alertmanager,
    &hd_decoder_kubernetes, &hd_decoder_docker, &hd_decoder_generic,
};
#define N_DECODERS (sizeof(decoders) / sizeof(decoders[0]))

const struct hd_decoder *hd_decoder_find(const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < N_DECODERS; i++) {
        if (strcmp(decoders[i]->name, name) == 0) {
            return decoders[i];
        }
    }
    return NULL;
}

int hd_decoder_names_join(struct hd_buf *out)
{
    for (size_t i = 0; i < N_DECODERS; i++) {
        int rc = i == 0 ? HD_OK : hd_buf_puts(out, ", ");
        if (rc == HD_OK) {
            rc = hd_buf_puts(out, decoders[i]->name);
        }
        if (rc != HD_OK) {
            return rc;
        }
    }
    return HD_OK;
}

int hd_decoder_registry_check(struct hd_err *err)
{
    for (size_t i = 0; i < N_DECODERS; i++) {
        const struct hd_decoder *d = decoders[i];
        if (d == NULL || d->name == NULL || d->name[0] == '\0' || d->detect == NULL || d->decode == NULL) {
            return hd_err_set(err, HD_EINVAL, "decoders: entry %zu is incomplete", i);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(decoders[j]->name, d->name) == 0) {
                return hd_err_set(err, HD_EINVAL, "decoders: duplicate name '%s'", d->name);
            }
        }
    }
    return HD_OK;
}

void hd_event_set_id(struct hd_event *ev, int64_t time_us, const char *const *parts, size_t n)
{
    /* NULL hashes as a lone NUL byte: no C string can produce it, so an
     * absent id never collides with an empty one. Long parts (a canonical
     * document) are replaced by their own hash so the whole fits on the
     * stack: no allocation, and the id stays a function of the parts. */
    char buf[1024];
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        char sub[33];
        const char *p = parts[i];
        size_t l = p ? strlen(p) : 1;
        if (p == NULL) {
            p = "";
        } else if (l > 64) {
            hd_hash128_hex(p, l, sub);
            p = sub;
            l = 32;
        }
        if (off + l + 3 > sizeof(buf)) {
            break; /* more parts than any decoder passes */
        }
        if (i > 0) {
            buf[off++] = '\x1f';
        }
        if (p == sub) {
            buf[off++] = '\x1d'; /* marks a hashed part */
        }
        memcpy(buf + off, p, l);
        off += l;
    }
    char h[33];
    hd_hash128_hex(buf, off, h);
    uint32_t secs = time_us > 0 ? (uint32_t)(time_us / 1000000) : 0;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        ev->id[i] = hex[(secs >> (28 - 4 * i)) & 15u];
    }
    memcpy(ev->id + 8, h, 24);
    ev->id[32] = '\0';
}

/* ---------------------------------------------------------------- helpers */

static int typed_get(hd_jv obj, const char *key, hd_jv *v)
{
    *v = hd_jv_get(obj, key); /* NULL for absent, JSON null, or obj no object */
    return *v != NULL;
}

int hd_dec_str(hd_jv obj, const char *key, const char *what, const char **out, struct hd_err *err)
{
    hd_jv v;
    if (!typed_get(obj, key, &v)) {
        return 0;
    }
    if (!hd_jv_is(v, HD_JT_STRING)) {
        return hd_err_set(err, HD_EINVAL, "%s: expected a string", what);
    }
    *out = hd_jv_str(v, NULL);
    return 1;
}

int hd_dec_obj(hd_jv obj, const char *key, const char *what, hd_jv *out, struct hd_err *err)
{
    hd_jv v;
    if (!typed_get(obj, key, &v)) {
        return 0;
    }
    if (!hd_jv_is(v, HD_JT_OBJECT)) {
        return hd_err_set(err, HD_EINVAL, "%s: expected an object", what);
    }
    *out = v;
    return 1;
}

int hd_dec_arr(hd_jv obj, const char *key, const char *what, hd_jv *out, struct hd_err *err)
{
    hd_jv v;
    if (!typed_get(obj, key, &v)) {
        return 0;
    }
    if (!hd_jv_is(v, HD_JT_ARRAY)) {
        return hd_err_set(err, HD_EINVAL, "%s: expected an array", what);
    }
    *out = v;
    return 1;
}

int hd_dec_i64(hd_jv obj, const char *key, const char *what, int64_t *out, struct hd_err *err)
{
    hd_jv v;
    if (!typed_get(obj, key, &v)) {
        return 0;
    }
    if (hd_jv_is(v, HD_JT_INT)) {
        *out = hd_jv_i64(v);
        return 1;
    }
    if (hd_jv_is(v, HD_JT_DOUBLE)) {
        double d = hd_jv_double(v);
        if (isfinite(d) && d >= -9.2e18 && d <= 9.2e18 && d == floor(d)) {
            *out = (int64_t)d;
            return 1;
        }
    }
    return hd_err_set(err, HD_EINVAL, "%s: expected an integer", what);
}

int hd_dec_bool(hd_jv obj, const char *key, const char *what, int *out, struct hd_err *err)
{
    hd_jv v;
    if (!typed_get(obj, key, &v)) {
        return 0;
    }
    if (!hd_jv_is(v, HD_JT_BOOL)) {
        return hd_err_set(err, HD_EINVAL, "%s: expected a boolean", what);
    }
    *out = hd_jv_bool(v);
    return 1;
}

const char *hd_dec_scalar_text(hd_jv v, char tmp[32])
{
    if (hd_jv_is(v, HD_JT_STRING)) {
        return hd_jv_str(v, NULL);
    }
    if (hd_jv_is(v, HD_JT_INT)) {
        hd_fmt_i64(tmp, hd_jv_i64(v));
        return tmp;
    }
    return NULL;
}

/* 9999-12-31T23:59:59.999999Z: later than any real event, and what RFC 3339 can write */
#define HD_MAX_EPOCH_US 253402300799999999LL

int hd_epoch_i64_to_us(int64_t v, int64_t *out)
{
    if (v < 0) {
        return HD_EINVAL;
    }
    if (v < 100000000000LL) {
        *out = v * 1000000;
    } else if (v < 100000000000000LL) {
        *out = v * 1000;
    } else if (v < 100000000000000000LL) {
        *out = v;
    } else {
        *out = v / 1000;
    }
    if (*out > HD_MAX_EPOCH_US) {
        return HD_EINVAL;
    }
    return HD_OK;
}

int hd_epoch_to_us(double v, int64_t *out)
{
    if (!isfinite(v) || v < 0 || v >= 9.2e18) {
        return HD_EINVAL;
    }
    double us;
    if (v < 1e11) {
        us = v * 1e6;
    } else if (v < 1e14) {
        us = v * 1e3;
    } else if (v < 1e17) {
        us = v;
    } else {
        us = v / 1e3;
    }
    if (us > (double)HD_MAX_EPOCH_US) {
        return HD_EINVAL;
    }
    *out = (int64_t)llround(us);
    return HD_OK;
}

int hd_dec_time(hd_jv obj, const char *key, const char *what, int64_t *out, struct hd_err *err)
{
    hd_jv v;
    if (!typed_get(obj, key, &v)) {
        return 0;
    }
    int64_t us = 0;
    int rc = HD_EINVAL;
    if (hd_jv_is(v, HD_JT_INT)) {
        rc = hd_epoch_i64_to_us(hd_jv_i64(v), &us);
    } else if (hd_jv_is(v, HD_JT_DOUBLE)) {
        rc = hd_epoch_to_us(hd_jv_double(v), &us);
    } else if (hd_jv_is(v, HD_JT_STRING)) {
        if (hd_parse_rfc3339_us(hd_jv_str(v, NULL), &us) != HD_OK) {
            return hd_err_set(err, HD_EINVAL, "%s: not an RFC 3339 time: '%.64s'", what, hd_jv_str(v, NULL));
        }
        rc = HD_OK;
    } else {
        return hd_err_set(err, HD_EINVAL, "%s: expected a number or an RFC 3339 string", what);
    }
    if (rc != HD_OK) {
        return hd_err_set(err, HD_EINVAL, "%s: time out of range", what);
    }
    *out = us;
    return 1;
}

/* Frees what ev->raw owns. */
static void raw_drop(struct hd_event *ev)
{
    if (!ev->raw_borrowed) {
        free(ev->raw);
    }
    ev->raw = NULL;
    ev->raw_borrowed = 0;
}

int hd_event_set_raw(struct hd_event *ev, const struct hd_doc *doc)
{
    char *p = doc->borrow ? (char *)doc->raw : hd_strndup(doc->raw, doc->len);
    if (p == NULL) {
        return HD_ENOMEM;
    }
    raw_drop(ev);
    ev->raw = p;
    ev->raw_len = doc->len;
    ev->raw_borrowed = doc->borrow;
    return HD_OK;
}

void hd_event_own_raw(struct hd_event *ev, char *p, size_t len)
{
    raw_drop(ev);
    ev->raw = p;
    ev->raw_len = len;
}

int hd_event_fill(char **dst, const char *s)
{
    if (*dst != NULL || s == NULL || s[0] == '\0') {
        return HD_OK;
    }
    *dst = hd_strdup(s);
    return *dst == NULL ? HD_ENOMEM : HD_OK;
}

int hd_event_set_str(char **dst, const char *s)
{
    char *p = NULL;
    if (s != NULL) {
        p = hd_strdup(s);
        if (p == NULL) {
            return HD_ENOMEM;
        }
    }
    free(*dst);
    *dst = p;
    return HD_OK;
}

void hd_labels_init(struct hd_labels *l)
{
    hd_buf_init(&l->buf, 0);
    l->n = 0;
}

void hd_labels_free(struct hd_labels *l)
{
    hd_buf_free(&l->buf);
    l->n = 0;
}

int hd_labels_add(struct hd_labels *l, const char *key, const char *val)
{
    if (val == NULL || val[0] == '\0' || l->n == HD_LABELS_MAX) {
        return HD_OK;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->keys[i], key) == 0) {
            return HD_OK;
        }
    }
    int rc = hd_buf_putc(&l->buf, l->n == 0 ? '{' : ',');
    if (rc == HD_OK) {
        rc = hd_buf_json_str(&l->buf, key, strlen(key));
    }
    if (rc == HD_OK) {
        rc = hd_buf_putc(&l->buf, ':');
    }
    if (rc == HD_OK) {
        rc = hd_buf_json_str(&l->buf, val, strlen(val));
    }
    if (rc == HD_OK) {
        l->keys[l->n++] = key;
    }
    return rc;
}

int hd_labels_finish(struct hd_labels *l, char **out)
{
    int rc = HD_OK;
    char *p = NULL;
    if (l->n > 0) {
        rc = hd_buf_putc(&l->buf, '}');
        if (rc == HD_OK) {
            p = hd_buf_steal(&l->buf, NULL);
            rc = p == NULL ? HD_ENOMEM : HD_OK;
        }
    }
    hd_labels_free(l);
    if (rc == HD_OK) {
        free(*out);
        *out = p;
    }
    return rc;
}

int hd_labels_add_pairs(struct hd_labels *l, const struct hd_label_kv *kv, size_t n)
{
    int rc = HD_OK;
    for (size_t i = 0; i < n && rc == HD_OK; i++) {
        rc = hd_labels_add(l, kv[i].key, kv[i].val);
    }
    return rc;
}

int hd_labels_add_strings(struct hd_labels *l, hd_jv obj)
{
    int rc = HD_OK;
    if (!hd_jv_is(obj, HD_JT_OBJECT)) {
        return HD_OK;
    }
    struct hd_jv_iter it;
    const char *k;
    hd_jv v;
    hd_jv_iter_init(&it, obj);
    while (rc == HD_OK && hd_jv_iter_next(&it, &k, &v)) {
        if (hd_jv_is(v, HD_JT_STRING)) {
            rc = hd_labels_add(l, k, hd_jv_str(v, NULL));
        }
    }
    return rc;
}

int hd_labels_end(struct hd_labels *l, int rc, char **out)
{
    if (rc == HD_OK) {
        rc = hd_labels_finish(l, out);
    }
    hd_labels_free(l);
    return rc;
}

struct hd_event *hd_dec_push_event(struct hd_batch *out, const struct hd_doc *doc, enum hd_source_id source)
{
    struct hd_event *ev = hd_batch_push(out);
    if (ev != NULL) {
        ev->source = hd_source_name(source);
        ev->recv_us = doc->recv_us;
        ev->state = HD_STATE_ACTIVE;
    }
    return ev;
}

/* --------------------------------------------------------------- splitter */

struct ingest {
    const char *body;
    size_t len;
    const struct hd_decoder *forced; /* ?format=, or NULL: detect */
    int64_t recv_us;
    size_t ndocs;
    size_t first;         /* out->n before this request */
    size_t flushed;       /* events of this request handed to out->flush (no longer in out) */
    struct hd_jtape tape; /* reused by every document of the request */
    int tape_ready;       /* the tape already holds the next document handled */
    struct hd_batch *out;
    struct hd_err *err;
};

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* 1-based line and column (in bytes) of body offset pos. */
static void line_col(const char *s, size_t pos, size_t *line, size_t *col)
{
    size_t l = 1, last_nl = 0;
    int seen = 0;
    for (size_t i = 0; i < pos; i++) {
        if (s[i] == '\n') {
            l++;
            last_nl = i;
            seen = 1;
        }
    }
    *line = l;
    *col = seen ? pos - last_nl : pos + 1;
}

/* An error about the body at offset pos, outside any document. */
static int body_error(struct ingest *in, size_t pos, const char *why)
{
    size_t line, col;
    line_col(in->body, pos, &line, &col);
    return hd_err_set(in->err, HD_EINVAL, "at byte %zu of the body (line %zu, column %zu): %s", pos, line,
                      col, why);
}

/* An error in document index that starts at body offset start. If msg begins
 * with hd_jt_parse's "at byte N: " (N relative to the document), N is made
 * absolute so the client can find the byte in what it sent. */
static int doc_error(struct ingest *in, size_t index, size_t start, int code, const char *msg)
{
    size_t pos = start;
    const char *why = msg;
    if (strncmp(msg, "at byte ", 8) == 0) {
        char *end = NULL;
        unsigned long long rel = strtoull(msg + 8, &end, 10);
        if (end != msg + 8 && end[0] == ':' && end[1] == ' ') {
            pos = start + (size_t)rel;
            why = end + 2;
        }
    }
    size_t line, col;
    line_col(in->body, pos, &line, &col);
    if (why != msg) {
        return hd_err_set(in->err, code, "document %zu (line %zu, column %zu): at byte %zu of the body: %s",
                          index, line, col, pos, why);
    }
    return hd_err_set(in->err, code, "document %zu (line %zu): %s", index, line, msg);
}

static const char *type_name(hd_jv v)
{
    switch (hd_jv_type(v)) {
    case HD_JT_NULL: return "null";
    case HD_JT_BOOL: return "boolean";
    case HD_JT_INT:
    case HD_JT_DOUBLE: return "number";
    case HD_JT_STRING: return "string";
    case HD_JT_ARRAY: return "array";
    case HD_JT_OBJECT: return "object";
    }
    return "value";
}

/* Parses body[start, start+n) as document number ++ndocs and decodes it. */
/* out->limit (limits.maxEventsPerRequest): HD_ETOOBIG once the request
 * holds more events, checked before each document is parsed (no work for a
 * body that is already over) and after it (an Alertmanager notification
 * yields several). */
static int limit_error(struct ingest *in, size_t index, size_t start)
{
    char why[160];
    snprintf(why, sizeof(why),
             "more than limits.maxEventsPerRequest (%zu events in one request): split the body",
             in->out->limit);
    return doc_error(in, index, start, HD_ETOOBIG, why);
}

/* Events of this request so far: those held in out and those flushed. */
static size_t request_events(const struct ingest *in)
{
    return in->out->n - in->first + in->flushed;
}

static int over_limit(struct ingest *in, size_t index, size_t start, size_t more)
{
    if (in->out->limit == 0 || request_events(in) + more <= in->out->limit) {
        return HD_OK;
    }
    return limit_error(in, index, start);
}

/* A body big enough to hold more documents than the limit (a document is
 * at least "{}" and a separator) is counted first, without parsing, so that
 * 10 MiB of tiny documents is refused before a single event is built:
 * memory per request stays bounded by the limit, not by the body. */
static int prescan_worth(const struct ingest *in)
{
    return in->out->limit > 0 && in->len / 3 > in->out->limit - request_events(in);
}

/* Room for the documents a prescan counted, or for one part when decoding
 * in parts. */
static void prescan_reserve(struct ingest *in, size_t docs)
{
    if (in->out->flush != NULL && in->out->chunk > 0 && docs > in->out->chunk) {
        docs = in->out->chunk;
    }
    (void)hd_batch_reserve(in->out, in->out->n + docs);
}

/* Hands the request's held events to out->flush once out->chunk of them
 * are held, and clears them. */
static int flush_part(struct ingest *in)
{
    struct hd_batch *out = in->out;
    size_t held = out->n - in->first;
    if (out->flush == NULL || out->chunk == 0 || held < out->chunk) {
        return HD_OK;
    }
    int rc = out->flush(out->flush_ud, out->ev + in->first, held, in->err);
    for (size_t k = in->first; k < out->n; k++) {
        hd_event_clear(&out->ev[k]);
    }
    out->n = in->first;
    in->flushed += held;
    return rc;
}

static int ndjson_prescan(struct ingest *in, size_t i)
{
    size_t docs = 0;
    while (prescan_worth(in) && i < in->len) {
        const char *nl = memchr(in->body + i, '\n', in->len - i);
        size_t eol = nl ? (size_t)(nl - in->body) : in->len;
        size_t a = hd_json_skip_ws(in->body, eol, i);
        if (a < eol && ++docs > in->out->limit) {
            return limit_error(in, docs, a);
        }
        i = eol + 1;
    }
    prescan_reserve(in, docs);
    return HD_OK;
}

/* i: the first element. A scan failure is left to the real parse to name. */
static int array_prescan(struct ingest *in, size_t i)
{
    size_t docs = 0;
    size_t end = 0;
    while (prescan_worth(in) && i < in->len && hd_json_value_span(in->body, in->len, i, &end)) {
        if (++docs > in->out->limit) {
            return limit_error(in, docs, i);
        }
        i = hd_json_skip_ws(in->body, in->len, end);
        if (i >= in->len || in->body[i] != ',') {
            break;
        }
        i = hd_json_skip_ws(in->body, in->len, i + 1);
    }
    prescan_reserve(in, docs);
    return HD_OK;
}

static int handle_doc(struct ingest *in, size_t start, size_t n)
{
    size_t index = ++in->ndocs;
    struct hd_err perr = {0};
    if (over_limit(in, index, start, 1) != HD_OK) {
        return HD_ETOOBIG;
    }
    const char *doc_p = in->body + start;
    int rc = HD_OK;
    if (in->tape_ready) {
        in->tape_ready = 0; /* parsed by whole_object() */
    } else {
        rc = hd_jt_parse(doc_p, n, &in->tape, &perr);
    }
    if (rc != HD_OK) {
        return doc_error(in, index, start, perr.code ? perr.code : rc, perr.msg);
    }
    hd_jv root = hd_jt_root(&in->tape);
    if (hd_jv_is(root, HD_JT_NULL)) {
        size_t at = 0;
        while (at < n && is_ws(doc_p[at])) {
            at++;
        }
        char why[64];
        snprintf(why, sizeof(why), "at byte %zu: the document is JSON null", at);
        return doc_error(in, index, start, HD_EINVAL, why);
    }
    if (!hd_jv_is(root, HD_JT_OBJECT)) {
        char why[64];
        snprintf(why, sizeof(why), "expected a JSON object, got %s", type_name(root));
        return doc_error(in, index, start, HD_EINVAL, why);
    }
    const struct hd_decoder *dec = in->forced;
    if (dec == NULL) {
        int best = 0;
        for (size_t i = 0; i < N_DECODERS; i++) {
            int score = decoders[i]->detect(root);
            if (score > best) {
                best = score;
                dec = decoders[i];
            }
        }
    }
    if (dec == NULL) {
        return doc_error(in, index, start, HD_EINVAL, "no decoder recognizes this document");
    }
    struct hd_doc doc = {.raw = doc_p,
                         .len = n,
                         .root = root,
                         .index = index,
                         .recv_us = in->recv_us,
                         .borrow = in->out->borrow_raw};
    struct hd_err derr = {0};
    size_t before = in->out->n;
    rc = dec->decode(&doc, in->out, &derr);
    /* One block per event (its size, not a dozen allocations): a 10 MB
     * request's 4,500 events held 1.5 MB less until their commit. Out of
     * memory here only leaves an event unpacked. */
    for (size_t k = before; rc == HD_OK && k < in->out->n; k++) {
        (void)hd_event_pack(&in->out->ev[k]);
    }
    if (rc != HD_OK) {
        size_t line, col;
        line_col(in->body, start, &line, &col);
        hd_err_set(in->err, rc, "document %zu (line %zu): %s", index, line,
                   derr.msg[0] ? derr.msg : hd_strerror(rc));
        return rc;
    }
    rc = over_limit(in, index, start, 0);
    if (rc == HD_OK) {
        rc = flush_part(in);
    }
    return rc;
}

/* Handles the value at start; on a scan failure the rest of the body is
 * parsed so hd_jt_parse names the real error. *next gets the end. */
static int handle_scanned(struct ingest *in, size_t start, size_t limit, size_t *next)
{
    size_t end;
    if (!hd_json_value_span(in->body, limit, start, &end)) {
        int rc = handle_doc(in, start, limit - start);
        if (rc == HD_OK) {
            /* the scanner and the parser disagree: never accept that */
            return doc_error(in, in->ndocs, start, HD_EINVAL, "malformed document");
        }
        return rc;
    }
    *next = end;
    return handle_doc(in, start, end - start);
}

static int split_ndjson(struct ingest *in, size_t i)
{
    int rc = ndjson_prescan(in, i);
    if (rc != HD_OK) {
        return rc;
    }
    while (i < in->len) {
        const char *nl = memchr(in->body + i, '\n', in->len - i);
        size_t eol = nl ? (size_t)(nl - in->body) : in->len;
        size_t a = hd_json_skip_ws(in->body, eol, i);
        size_t b = eol;
        while (b > a && is_ws(in->body[b - 1])) {
            b--;
        }
        if (b > a) {
            rc = handle_doc(in, a, b - a);
            if (rc != HD_OK) {
                return rc;
            }
        }
        i = eol + 1;
    }
    return HD_OK;
}

static int split_array(struct ingest *in, size_t open)
{
    size_t i = hd_json_skip_ws(in->body, in->len, open + 1);
    if (i < in->len && in->body[i] == ']') {
        i = hd_json_skip_ws(in->body, in->len, i + 1);
        if (i < in->len) {
            return body_error(in, i, "unexpected data after the JSON array");
        }
        return hd_err_set(in->err, HD_EINVAL, "empty array: no documents");
    }
    int prc = array_prescan(in, i);
    if (prc != HD_OK) {
        return prc;
    }
    for (;;) {
        if (i >= in->len) {
            return body_error(in, i, "unexpected end of input in the JSON array (truncated body)");
        }
        size_t end = 0;
        int rc = handle_scanned(in, i, in->len, &end);
        if (rc != HD_OK) {
            return rc;
        }
        i = hd_json_skip_ws(in->body, in->len, end);
        if (i >= in->len) {
            return body_error(in, i, "unexpected end of input in the JSON array (truncated body)");
        }
        if (in->body[i] == ']') {
            break;
        }
        if (in->body[i] != ',') {
            char why[96];
            snprintf(why, sizeof(why), "expected ',' or ']' after document %zu", in->ndocs);
            return body_error(in, i, why);
        }
        i = hd_json_skip_ws(in->body, in->len, i + 1);
        if (i < in->len && in->body[i] == ']') {
            return body_error(in, i, "trailing ',' before ']'");
        }
    }
    i = hd_json_skip_ws(in->body, in->len, i + 1);
    if (i < in->len) {
        return body_error(in, i, "unexpected data after the JSON array");
    }
    return HD_OK;
}

/* Several values separated by whitespace (pretty-printed concatenation). */
static int split_stream(struct ingest *in, size_t i)
{
    while (i < in->len) {
        size_t end = 0;
        int rc = handle_scanned(in, i, in->len, &end);
        if (rc != HD_OK) {
            return rc;
        }
        i = hd_json_skip_ws(in->body, in->len, end);
    }
    return HD_OK;
}

static int is_ndjson_type(const char *ct)
{
    static const char *const types[] = {"application/x-ndjson", "application/ndjson", "application/jsonl",
                                        "application/x-jsonlines", "application/jsonlines"};
    if (ct == NULL) {
        return 0;
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    size_t n = 0;
    while (ct[n] != '\0' && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t') {
        n++;
    }
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strlen(types[i]) == n && strncasecmp(ct, types[i], n) == 0) {
            return 1;
        }
    }
    return 0;
}

static int find_format(const char *format, const struct hd_decoder **out, struct hd_err *err)
{
    char known[128];
    size_t off = 0;
    known[0] = '\0';
    for (size_t i = 0; i < N_DECODERS; i++) {
        int w = snprintf(known + off, sizeof(known) - off, "%s%s", i ? ", " : "", decoders[i]->name);
        if (w < 0 || (size_t)w >= sizeof(known) - off) {
            break;
        }
        off += (size_t)w;
    }
    *out = hd_decoder_find(format);
    if (*out != NULL) {
        return HD_OK;
    }
    return hd_err_set(err, HD_EINVAL, "format: unknown format '%.64s' (known: %s)", format, known);
}

/* The common case of one event per request: a body [i, last) that is one
 * JSON object is parsed once, without the scan for the value's end that
 * tells one document from several. 1 = the tape holds it (tape_ready). */
static int whole_object(struct ingest *in, size_t i, size_t last)
{
    if (last - i < 2 || in->body[i] != '{' || in->body[last - 1] != '}') {
        return 0;
    }
    struct hd_err perr = {0};
    if (hd_jt_parse(in->body + i, last - i, &in->tape, &perr) != HD_OK) {
        return 0; /* several documents, or an error the full path names */
    }
    in->tape_ready = 1;
    return 1;
}

int hd_ingest_decode(const char *body, size_t len, const char *content_type, const char *format,
                     struct hd_batch *out, struct hd_err *err)
{
    struct ingest in = {.body = body, .len = len, .out = out, .err = err, .recv_us = hd_now_us()};
    size_t old_n = out->n;
    int rc;
    in.first = old_n;
    hd_jt_init(&in.tape);
    if (format != NULL) {
        rc = find_format(format, &in.forced, err);
        if (rc != HD_OK) {
            return rc;
        }
    }
    size_t i = 0;
    /* a UTF-8 byte order mark is not part of any document (RFC 8259 8.1) */
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) {
        i = 3;
    }
    i = hd_json_skip_ws(body, len, i);
    if (i >= len) {
        return hd_err_set(err, HD_EINVAL, "empty body");
    }
    if (is_ndjson_type(content_type)) {
        rc = split_ndjson(&in, i);
    } else if (body[i] == '[') {
        rc = split_array(&in, i);
    } else {
        size_t end = 0;
        size_t last = len;
        while (last > i && is_ws(body[last - 1])) {
            last--;
        }
        if (whole_object(&in, i, last) || !hd_json_value_span(body, len, i, &end) || end >= last) {
            rc = handle_doc(&in, i, last - i); /* one document (or its parse error) */
        } else {
            size_t next = hd_json_skip_ws(body, len, end);
            if (memchr(body + end, '\n', next - end) == NULL) {
                /* two values on one line: the first must parse, then the
                 * second is what is wrong */
                rc = handle_doc(&in, i, end - i);
                if (rc == HD_OK) {
                    char why[128];
                    snprintf(why, sizeof(why),
                             "at byte %zu: unexpected data after the JSON value "
                             "(NDJSON needs one document per line)",
                             next - i);
                    rc = doc_error(&in, 1, i, HD_EINVAL, why);
                }
            } else if (memchr(body + i, '\n', end - i) == NULL) {
                rc = split_ndjson(&in, i);
            } else {
                rc = split_stream(&in, i);
            }
        }
    }
    hd_jt_free(&in.tape);
    if (rc != HD_OK) {
        for (size_t k = old_n; k < out->n; k++) {
            hd_event_clear(&out->ev[k]);
        }
        out->n = old_n;
    }
    return rc;
}
