/* test_jtape.c - src/json/jtape.c, the ingest JSON parser: on every fixture
 * and on json-c's quirks it accepts what json-c accepts and gives the same
 * canonical bytes and member order (ids hash them); strict where json-c is
 * not; access, reuse and error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "json/json.h"
#include "json/jtape.h"

#include "fixture_util.h"

/* hd_jv_canonical must give hd_json_canonical's bytes (ids hash them) and
 * iterate members as json-c does (labels come from it). */
static void jt_same(const char *what, const char *doc, size_t len)
{
    struct hd_err e1 = {0}, e2 = {0};
    struct hd_jtape t;
    hd_jt_init(&t);
    json_object *o = hd_json_parse(doc, len, &e1);
    int rc = hd_jt_parse(doc, len, &t, &e2);
    if ((o != NULL) != (rc == HD_OK)) {
        fail_msg("%s: json-c %s (%s), jtape %s (%s)", what, o ? "accepts" : "rejects", e1.msg,
                 rc == HD_OK ? "accepts" : "rejects", e2.msg);
    }
    if (o != NULL) {
        struct hd_buf a, b;
        hd_buf_init(&a, 0);
        hd_buf_init(&b, 0);
        assert_int_equal(hd_json_canonical(o, &a), HD_OK);
        assert_int_equal(hd_jv_canonical(hd_jt_root(&t), &b), HD_OK);
        if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0) {
            fail_msg("%s: canonical differs:\n json-c %.*s\n jtape  %.*s", what, (int)a.len, a.p, (int)b.len,
                     b.p);
        }
        if (json_object_is_type(o, json_type_object)) {
            struct hd_jv_iter it;
            const char *k;
            hd_jv v;
            hd_jv_iter_init(&it, hd_jt_root(&t));
            struct json_object_iterator ji = json_object_iter_begin(o), je = json_object_iter_end(o);
            while (hd_jv_iter_next(&it, &k, &v)) {
                assert_false(json_object_iter_equal(&ji, &je));
                assert_string_equal(k, json_object_iter_peek_name(&ji));
                json_object_iter_next(&ji);
            }
            assert_true(json_object_iter_equal(&ji, &je));
        }
        hd_buf_free(&a);
        hd_buf_free(&b);
    }
    json_object_put(o);
    hd_jt_free(&t);
}

static void jt_fixture(const char *dir, const char *name, const char *rel, const char *body, size_t len,
                       void *ctx)
{
    (void)dir;
    (void)ctx;
    if (!fx_is_ndjson_name(name)) {
        jt_same(rel, body, len);
        return;
    }
    for (const char *p = body; p < body + len;) {
        const char *nl = memchr(p, '\n', (size_t)(body + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(body + len - p);
        if (n > 0) {
            jt_same(rel, p, n);
        }
        p += n + 1;
    }
}

static void test_jtape_matches_json_c(void **state)
{
    (void)state;
    static const char *const dirs[] = {"falco",  "alertmanager",  "k8s",   "docker",
                                       "sysdig", "elasticsearch", "splunk"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        fx_each_fixture(dirs[i], 0, jt_fixture, NULL);
    }
    /* json-c's quirks the ids depend on */
    static const char *const docs[] = {
        "{\"b\":1,\"a\":2,\"b\":3}", /* last value wins, first position */
        "{\"a\\u0000x\":1,\"a\":2}", /* keys end at a NUL */
        "[\"\\ud800\",\"\\ud800\\u0041\",\"\\udc00x\",\"\\ud83d\\ude00\"]", /* lone surrogates: U+FFFD */
        "[\"a\\u0000b\",\"\\b\\f\\n\\r\\t\\u001f\\u007f\\/\"]",
        "{\"\\b\\f\":\"\\b\\f\"}", /* keys and values escape differently */
        "[-0,-0.0,1E400,1.50,123456789012345678901234567890,-9223372036854775809,9223372036854775808]",
        "[true,false,null,{},[],\"\"]",
        "{\"z\":{\"y\":[1,{\"b\":null,\"a\":\"\u00e9\"}]}}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        jt_same(docs[i], docs[i], strlen(docs[i]));
    }
    /* strict where json-c is not */
    static const char *const bad[] = {"[-.5]", "[1.]",      "['a']",      "[NaN]",
                                      "[01]",  "[\"\\x\"]", "{\"a\":1,}", "[1,]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jt_same(bad[i], bad[i], strlen(bad[i]));
    }
}

static void test_jtape_access(void **state)
{
    (void)state;
    const char *doc = "{\"a\":{\"b\":[10,{\"c\":\"x\\ty\"},null]},\"n\":null,\"big\":9223372036854775807,"
                      "\"d\":2.5e3,\"t\":true}";
    struct hd_jtape t;
    struct hd_err err = {0};
    hd_jt_init(&t);
    assert_int_equal(hd_jt_parse(doc, strlen(doc), &t, &err), HD_OK);
    hd_jv root = hd_jt_root(&t);
    size_t len = 0;
    assert_string_equal(hd_jv_str(hd_jv_path(root, "a.b.1.c"), &len), "x\ty");
    assert_int_equal(len, 3);
    assert_int_equal(hd_jv_i64(hd_jv_path(root, "a.b.0")), 10);
    assert_null(hd_jv_path(root, "a.b.2")); /* null reads as absent */
    assert_null(hd_jv_path(root, "a.b.3"));
    assert_null(hd_jv_get(root, "n"));
    assert_true(hd_jv_has(root, "n"));
    assert_false(hd_jv_has(root, "m"));
    assert_int_equal(hd_jv_type(hd_jv_at(hd_jv_path(root, "a.b"), 2)), HD_JT_NULL);
    assert_int_equal(hd_jv_len(hd_jv_path(root, "a.b")), 3);
    assert_true(hd_jv_i64(hd_jv_get(root, "big")) == INT64_MAX);
    assert_true(hd_jv_double(hd_jv_get(root, "d")) == 2500.0);
    int64_t i = 0;
    assert_true(hd_jv_get_i64(root, "d", &i));
    assert_int_equal(i, 2500);
    assert_true(hd_jv_bool(hd_jv_get(root, "t")));
    /* the tape is reused; errors say where and why */
    assert_int_equal(hd_jt_parse("{\"a\":[1,2}", 11, &t, &err), HD_EINVAL);
    assert_string_equal(err.msg, "at byte 9: array value separator ',' expected");
    char deep[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    assert_int_equal(hd_jt_parse(deep, 130, &t, &err), HD_EINVAL);
    assert_string_equal(err.msg, "at byte 64: nesting deeper than 64 levels");
    assert_int_equal(hd_jt_parse(deep + 1, 128, &t, &err), HD_OK);
    hd_jt_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jtape_matches_json_c),
        cmocka_unit_test(test_jtape_access),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
