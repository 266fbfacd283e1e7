/* fuzz_watch.c - libFuzzer targets for the watchers' stream parsing, built
 * twice (see README.md): fuzz_k8s_watch (-DFUZZ_K8S: hd_k8s_watch_line,
 * src/watch/k8s_watch.c) and fuzz_docker_watch (hd_docker_watch_line,
 * src/watch/docker_watch.c). No connection: what the stream callbacks do with
 * the bytes they receive, without the logging, metrics and store.
 *
 * The first input byte selects (bits 0-1) what the rest is:
 *   0  one value, as the framer hands it to the line parser;
 *   1  a received stream: cut by hd_jframer (watch.c) in chunks of
 *      (bits 2-7) + 1 bytes, every value through the line parser. The values
 *      must be the same whatever the chunking (compared with one chunk);
 *   2  the same stream with a 256-byte value limit (HD_ETOOBIG);
 *   3  fuzz_k8s_watch: an EventList page, split as k8s_watch.c store_page
 *      does it (hd_json_member_span "items", hd_json_array_each), which must
 *      agree with json-c; fuzz_docker_watch: as 1.
 * Every event the line yields goes through the registered decoder
 * ("kubernetes", "docker") as hd_watcher_ingest does it, and must hold
 * fuzz_ingest's contract: an id, a source, a severity, a JSON object raw. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "input/decoder.h"
#include "watch/watch.h"

#ifdef FUZZ_K8S
#define DECODER "kubernetes"
#else
#define DECODER "docker"
#endif
#define RECV_US 1700000000000000LL /* fixed: the same events every run */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_json_object(const char *p, size_t n)
{
    struct hd_err err = {0};
    json_object *o = hd_json_parse(p, n, &err);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        abort();
    }
    json_object_put(o);
}

/* The decoder on one object's bytes, as hd_watcher_ingest runs it. */
static void decode(const char *raw, size_t len)
{
    static struct hd_jtape tape; /* reused, as the watcher reuses its own */
    const struct hd_decoder *dec = hd_decoder_find(DECODER);
    struct hd_err err = {0};
    struct hd_batch b;
    hd_batch_init(&b);
    if (dec == NULL) {
        abort();
    }
    int rc = hd_jt_parse(raw, len, &tape, &err);
    if (rc == HD_OK && hd_jv_is(hd_jt_root(&tape), HD_JT_OBJECT)) {
        struct hd_doc doc = {
            .raw = raw, .len = len, .root = hd_jt_root(&tape), .index = 1, .recv_us = RECV_US};
        rc = dec->decode(&doc, &b, &err);
        for (size_t i = 0; rc == HD_OK && i < b.n; i++) {
            const struct hd_event *ev = &b.ev[i];
            if (ev->raw == NULL || ev->raw_len == 0 || strlen(ev->id) != 32 || ev->source == NULL ||
                ev->severity < 0 || ev->severity > 7) {
                abort();
            }
            check_json_object(ev->raw, ev->raw_len);
        }
        if (rc != HD_OK && err.msg[0] == '\0') {
            abort();
        }
    }
    hd_batch_free(&b);
}

#ifdef FUZZ_K8S
static void line(const char *p, size_t n)
{
    struct hd_err err = {0};
    struct hd_k8s_line l;
    if (hd_k8s_watch_line(p, n, &l, &err) != HD_OK) {
        if (err.msg[0] == '\0' || l.line != NULL) {
            abort();
        }
        return;
    }
    if (l.line == NULL || l.type == NULL || l.object == NULL || strlen(l.rv) >= sizeof(l.rv) ||
        (l.kind == HD_K8S_LINE_ERROR && l.rv[0] != '\0')) {
        abort();
    }
    if (l.kind == HD_K8S_LINE_EVENT) {
        /* the object's bytes: inside the line, and a JSON object */
        if (l.raw == NULL || l.raw < p || l.raw_len == 0 || l.raw_len > n || l.raw + l.raw_len > p + n) {
            abort();
        }
        decode(l.raw, l.raw_len);
    }
    hd_k8s_line_clear(&l);
}
#else
static void line(const char *p, size_t n)
{
    struct hd_err err = {0};
    json_object *root = NULL;
    int64_t tn = -1;
    if (hd_docker_watch_line(p, n, &root, &tn, &err) != HD_OK) {
        if (err.msg[0] == '\0' || root != NULL || tn != -1) {
            abort();
        }
        return;
    }
    if (!json_object_is_type(root, json_type_object)) {
        abort();
    }
    json_object_put(root);
    decode(p, n);
}
#endif

/* What the framer handed over, in order, for the chunking differential. */
struct framed {
    struct hd_buf all;
    int parse; /* 0 for the reference feed: its values are only compared */
};

static int on_value(void *ctx, const char *p, size_t n)
{
    struct framed *f = ctx;
    if (n == 0 || (p[0] != '{' && p[0] != '[') || (p[n - 1] != '}' && p[n - 1] != ']')) {
        abort();
    }
    line(p, n);
    if (f != NULL &&
        (hd_buf_put_i64(&f->all, (int64_t)n) != HD_OK || hd_buf_append(&f->all, p, n) != HD_OK)) {
        abort();
    }
    return HD_OK;
}

/* Feeds p[0..n) in chunks of chunk bytes; the first error ends the stream. */
static int feed(const char *p, size_t n, size_t chunk, size_t max, struct framed *out)
{
    struct hd_jframer fr;
    int rc = HD_OK;
    hd_jframer_init(&fr, max);
    for (size_t off = 0; rc == HD_OK && off < n; off += chunk) {
        rc = hd_jframer_feed(&fr, p + off, n - off < chunk ? n - off : chunk, on_value, out);
    }
    if (rc != HD_OK && hd_jframer_pending(&fr) != 0) {
        abort(); /* an error drops what was pending */
    }
    hd_jframer_free(&fr);
    return rc;
}

static void stream(const char *p, size_t n, size_t chunk, size_t max)
{
    struct framed a = {.parse = 1}, b = {.parse = 0};
    hd_buf_init(&a.all, 0);
    hd_buf_init(&b.all, 0);
    int rc = feed(p, n, chunk, max, &a);
    if (max == 0) {
        /* no limit: the same values, the same outcome, however the bytes arrive */
        int rc1 = feed(p, n, n > 0 ? n : 1, max, &b);
        if (rc != rc1 || a.all.len != b.all.len ||
            (a.all.len > 0 && memcmp(a.all.p, b.all.p, a.all.len) != 0)) {
            abort();
        }
    }
    hd_buf_free(&a.all);
    hd_buf_free(&b.all);
}

#ifdef FUZZ_K8S
struct items {
    json_object *arr;
    size_t n;
};

static int on_item(void *ctx, const char *p, size_t n)
{
    struct items *it = ctx;
    struct hd_err err = {0};
    /* an element's span is a JSON value of its own */
    json_object *mine = hd_json_parse(p, n, &err);
    if (mine == NULL && !(n == 4 && memcmp(p, "null", 4) == 0)) { /* hd_json_parse refuses a bare null */
        abort();
    }
    json_object_put(mine);
    /* store_page's guard: json-c keeps the last of duplicate "items", the
     * span is the first, so the counts may differ */
    if (it->n >= json_object_array_length(it->arr)) {
        return HD_EINVAL;
    }
    it->n++;
    decode(p, n);
    return HD_OK;
}

/* An EventList page, split as store_page does it. */
static void list_page(const char *p, size_t n)
{
    struct hd_err err = {0};
    json_object *root = hd_json_parse(p, n, &err), *arr = NULL;
    const char *ip = NULL;
    size_t in = 0;
    if (root != NULL && json_object_object_get_ex(root, "items", &arr) &&
        json_object_is_type(arr, json_type_array) && hd_json_member_span(p, n, "items", &ip, &in)) {
        struct items it = {.arr = arr};
        (void)hd_json_array_each(ip, in, on_item, &it);
    }
    json_object_put(root);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    size_t chunk = (size_t)(data[0] >> 2) + 1;
    switch (data[0] & 3) {
    case 0: line(p, n); break;
    case 1: stream(p, n, chunk, 0); break;
    case 2: stream(p, n, chunk, 256); break;
    default:
#ifdef FUZZ_K8S
        list_page(p, n);
#else
        stream(p, n, chunk, 0);
#endif
        break;
    }
    return 0;
}
