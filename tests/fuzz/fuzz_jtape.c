/* fuzz_jtape.c - differential libFuzzer target: hd_jt_parse (the ingest
 * parser) against hd_json_parse (json-c behind a strict lexical check).
 *
 * Both must accept and reject the same inputs (hd_json_parse refuses a
 * top-level null, which the tape accepts as a null root), and for accepted
 * input give the same canonical bytes (event ids hash them), the same
 * member iteration (labels are built from it) and the same lookups. The
 * tape's json-c copy must also canonicalize identically. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/jtape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_canonical(json_object *o, hd_jv v)
{
    struct hd_buf a, b;
    hd_buf_init(&a, 0);
    hd_buf_init(&b, 0);
    if (hd_json_canonical(o, &a) != HD_OK || hd_jv_canonical(v, &b) != HD_OK || a.len != b.len ||
        memcmp(a.p, b.p, a.len) != 0) {
        abort();
    }
    hd_buf_free(&a);
    hd_buf_free(&b);
}

/* Iteration and lookups of every object, recursively. */
static void same_members(json_object *o, hd_jv v)
{
    if (json_object_is_type(o, json_type_array)) {
        size_t i = 0;
        for (hd_jv e = hd_jv_first(v); e != NULL; e = hd_jv_next(v, e), i++) {
            same_members(json_object_array_get_idx(o, i), e);
        }
        if (i != json_object_array_length(o) || hd_jv_len(v) != i) {
            abort();
        }
        return;
    }
    if (!json_object_is_type(o, json_type_object)) {
        return;
    }
    struct hd_jv_iter it;
    hd_jv_iter_init(&it, v);
    struct json_object_iterator ji = json_object_iter_begin(o), je = json_object_iter_end(o);
    const char *k;
    hd_jv m;
    while (hd_jv_iter_next(&it, &k, &m)) {
        if (json_object_iter_equal(&ji, &je) || strcmp(k, json_object_iter_peek_name(&ji)) != 0) {
            abort();
        }
        json_object *jm = json_object_iter_peek_value(&ji);
        if ((jm == NULL) != (m == NULL) || hd_jv_get(v, k) != m || !hd_jv_has(v, k)) {
            abort();
        }
        if (m != NULL) {
            same_canonical(jm, m);
            same_members(jm, m);
        }
        json_object_iter_next(&ji);
    }
    if (!json_object_iter_equal(&ji, &je)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct hd_err e1 = {0}, e2 = {0};
    static struct hd_jtape t; /* reused across inputs, as the ingest path does */
    json_object *o = hd_json_parse(buf, size, &e1);
    int rc = hd_jt_parse(buf, size, &t, &e2);
    int json_null = rc == HD_OK && hd_jv_type(hd_jt_root(&t)) == HD_JT_NULL;
    if ((o != NULL) != (rc == HD_OK && !json_null)) {
        abort();
    }
    if (rc != HD_OK && (e2.msg[0] == '\0' || strncmp(e2.msg, "at byte ", 8) != 0)) {
        abort();
    }
    if (o != NULL) {
        hd_jv root = hd_jt_root(&t);
        same_canonical(o, root);
        same_members(o, root);
        json_object *c = hd_jv_to_json_c(root);
        same_canonical(c, root);
        json_object_put(c);
        /* typed reads agree with json-c's */
        if (json_object_is_type(o, json_type_int) && (json_object_get_int64(o) != hd_jv_i64(root) ||
                                                      json_object_get_double(o) != hd_jv_double(root))) {
            abort();
        }
        if (json_object_is_type(o, json_type_double) && json_object_get_int64(o) != hd_jv_i64(root)) {
            abort();
        }
    }
    json_object_put(o);
    return 0;
}
