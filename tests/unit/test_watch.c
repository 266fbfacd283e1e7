/* test_watch.c - the watchers' pure parts: the JSON stream framer (values
 * cut anywhere across chunks, NDJSON, json-seq, pretty-printed), the exact
 * byte spans of a member and of array elements, the backoff, and the
 * per-chunk queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "watch/watch.h"

struct collected {
    char vals[16][512];
    size_t n;
    int fail_at; /* 1-based value at which the callback fails; 0 = never */
};

static int collect(void *ctx, const char *p, size_t n)
{
    struct collected *c = ctx;
    if (c->n >= 16 || n >= 512) {
        return HD_EINVAL;
    }
    memcpy(c->vals[c->n], p, n);
    c->vals[c->n][n] = '\0';
    c->n++;
    if (c->fail_at > 0 && (int)c->n == c->fail_at) {
        return HD_EIO;
    }
    return HD_OK;
}

static const char STREAM[] =
    "{\"type\":\"ADDED\",\"object\":{\"message\":\"a } in \\\"a string\\\" {\",\"n\":[1,2]}}\n"
    "\x1e{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"12746\"}}}\r\n"
    "{\n  \"type\": \"MODIFIED\",\n  \"object\": {\"k\": \"\\\\\"}\n}\n";

static void test_framer_every_split(void **state)
{
    (void)state;
    size_t len = strlen(STREAM);
    /* Cut the stream in two at every byte, then feed it byte by byte. */
    for (size_t cut = 0; cut <= len; cut++) {
        struct hd_jframer f;
        struct collected c = {0};
        hd_jframer_init(&f, 4096);
        assert_int_equal(hd_jframer_feed(&f, STREAM, cut, collect, &c), HD_OK);
        assert_int_equal(hd_jframer_feed(&f, STREAM + cut, len - cut, collect, &c), HD_OK);
        assert_int_equal(c.n, 3);
        assert_string_equal(
            c.vals[0],
            "{\"type\":\"ADDED\",\"object\":{\"message\":\"a } in \\\"a string\\\" {\",\"n\":[1,2]}}");
        assert_string_equal(c.vals[2], "{\n  \"type\": \"MODIFIED\",\n  \"object\": {\"k\": \"\\\\\"}\n}");
        assert_int_equal(hd_jframer_pending(&f), 0);
        hd_jframer_free(&f);
    }
    struct hd_jframer f;
    struct collected c = {0};
    hd_jframer_init(&f, 4096);
    for (size_t i = 0; i < len; i++) {
        assert_int_equal(hd_jframer_feed(&f, STREAM + i, 1, collect, &c), HD_OK);
    }
    assert_int_equal(c.n, 3);
    hd_jframer_free(&f);
}

static void test_framer_cut_line_then_reset(void **state)
{
    (void)state;
    struct hd_jframer f;
    struct collected c = {0};
    hd_jframer_init(&f, 4096);
    const char half[] = "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"";
    assert_int_equal(hd_jframer_feed(&f, half, strlen(half), collect, &c), HD_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(hd_jframer_pending(&f), strlen(half));
    hd_jframer_reset(&f); /* the connection was cut: a new one starts clean */
    assert_int_equal(hd_jframer_pending(&f), 0);
    const char full[] = "{\"Action\":\"start\"}\n";
    assert_int_equal(hd_jframer_feed(&f, full, strlen(full), collect, &c), HD_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.vals[0], "{\"Action\":\"start\"}");
    hd_jframer_free(&f);
}

static void test_framer_errors(void **state)
{
    (void)state;
    struct hd_jframer f;
    struct collected c = {0};
    hd_jframer_init(&f, 16);
    const char big[] = "{\"a\":\"0123456789012345678901234567890\"";
    assert_int_equal(hd_jframer_feed(&f, big, strlen(big), collect, &c), HD_ETOOBIG);
    assert_int_equal(hd_jframer_pending(&f), 0);
    assert_int_equal(hd_jframer_feed(&f, "x{}", 3, collect, &c), HD_EINVAL);
    /* A failing callback stops the feed and is returned. */
    c.fail_at = 1;
    assert_int_equal(hd_jframer_feed(&f, "{}{}", 4, collect, &c), HD_EIO);
    assert_int_equal(c.n, 1);
    hd_jframer_free(&f);
}

static void test_member_span(void **state)
{
    (void)state;
    const char line[] =
        "{ \"type\" : \"ADDED\", \"x\": [1, {\"object\": 2}], \"object\" :\t{\"kind\": \"Event\", "
        "\"s\": \"}\"} , \"z\": null}";
    const char *p = NULL;
    size_t n = 0;
    assert_int_equal(hd_json_member_span(line, strlen(line), "object", &p, &n), 1);
    assert_int_equal(n, strlen("{\"kind\": \"Event\", \"s\": \"}\"}"));
    assert_memory_equal(p, "{\"kind\": \"Event\", \"s\": \"}\"}", n);
    assert_int_equal(hd_json_member_span(line, strlen(line), "type", &p, &n), 1);
    assert_memory_equal(p, "\"ADDED\"", n);
    assert_int_equal(hd_json_member_span(line, strlen(line), "z", &p, &n), 1);
    assert_memory_equal(p, "null", n);
    assert_int_equal(hd_json_member_span(line, strlen(line), "missing", &p, &n), 0);
    assert_int_equal(hd_json_member_span("[1]", 3, "a", &p, &n), 0);
}

static void test_array_each(void **state)
{
    (void)state;
    const char arr[] = " [ {\"a\":\"],\"} ,{\"b\":[1,2]},\n{} ] ";
    struct collected c = {0};
    assert_int_equal(hd_json_array_each(arr, strlen(arr), collect, &c), HD_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.vals[0], "{\"a\":\"],\"}");
    assert_string_equal(c.vals[1], "{\"b\":[1,2]}");
    assert_string_equal(c.vals[2], "{}");
    struct collected e = {0};
    assert_int_equal(hd_json_array_each("[]", 2, collect, &e), HD_OK);
    assert_int_equal(e.n, 0);
    assert_int_equal(hd_json_array_each("{}", 2, collect, &e), HD_EINVAL);
}

static void test_backoff(void **state)
{
    (void)state;
    int64_t cur = 0;
    int64_t d = hd_watch_backoff(&cur, 500, 4000);
    assert_int_equal(cur, 500);
    assert_true(d >= 375 && d < 625);
    for (int i = 0; i < 10; i++) {
        d = hd_watch_backoff(&cur, 500, 4000);
        assert_true(d >= 3000 * (cur == 4000) && d < 5000);
    }
    assert_int_equal(cur, 4000);
}

static void test_queue_and_helpers(void **state)
{
    (void)state;
    struct hd_watch_queue q = {0};
    for (int i = 0; i < 40; i++) { /* past the first growth */
        char raw[32];
        int n = snprintf(raw, sizeof(raw), "{\"i\":%d}", i);
        json_object *o = hd_json_parse(raw, (size_t)n, NULL);
        assert_non_null(o);
        assert_int_equal(hd_watch_queue_add(&q, o, o, raw, (size_t)n), HD_OK);
    }
    assert_int_equal(q.n, 40);
    assert_memory_equal(q.items[39].raw, "{\"i\":39}", q.items[39].len); /* a copy */
    assert_ptr_equal(q.items[7].root, q.owners[7]);
    hd_watch_queue_clear(&q);
    assert_int_equal(q.n, 0);
    assert_true(q.cap >= 40);
    hd_watch_queue_free(&q);
    assert_null(q.items);

    char *b = hd_watch_base_url("https://host:6443//");
    assert_string_equal(b, "https://host:6443");
    free(b);
    assert_null(hd_watch_strdup_nonempty(""));
    assert_null(hd_watch_strdup_nonempty(NULL));
    b = hd_watch_strdup_nonempty("prod");
    assert_string_equal(b, "prod");
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framer_every_split), cmocka_unit_test(test_framer_cut_line_then_reset),
        cmocka_unit_test(test_framer_errors),      cmocka_unit_test(test_member_span),
        cmocka_unit_test(test_array_each),         cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_queue_and_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
