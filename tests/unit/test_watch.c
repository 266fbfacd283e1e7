/* test_watch.c - the watchers' pure parts: the JSON stream framer (values
 * cut anywhere across chunks, NDJSON, json-seq, pretty-printed), the exact
 * byte spans of a member and of array elements, the backoff, the
 * per-chunk queue, and the parsers of one Kubernetes / Docker watch line. */
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

/* Parses line (a C string) as a watch line; the result must be HD_OK. */
static void k8s_line(const char *line, struct hd_k8s_line *l)
{
    struct hd_err err = {0};
    assert_int_equal(hd_k8s_watch_line(line, strlen(line), l, &err), HD_OK);
    assert_non_null(l->line);
    assert_non_null(l->object);
}

static void test_k8s_watch_line(void **state)
{
    (void)state;
    struct hd_k8s_line l;
    /* ADDED: the object's exact bytes (spacing kept), its resourceVersion */
    const char *added =
        "{\"type\":\"ADDED\",\"object\": {\"metadata\":{\"resourceVersion\":\"12\"}, \"n\":1} }";
    k8s_line(added, &l);
    assert_int_equal(l.kind, HD_K8S_LINE_EVENT);
    assert_string_equal(l.type, "ADDED");
    assert_ptr_equal(l.raw, strstr(added, "{\"metadata\""));
    assert_int_equal(l.raw_len, strlen("{\"metadata\":{\"resourceVersion\":\"12\"}, \"n\":1}"));
    assert_string_equal(l.rv, "12");
    hd_k8s_line_clear(&l);
    assert_null(l.line);

    k8s_line("{\"object\":{},\"type\":\"MODIFIED\"}", &l);
    assert_int_equal(l.kind, HD_K8S_LINE_EVENT);
    assert_memory_equal(l.raw, "{}", 2);
    assert_string_equal(l.rv, "");
    hd_k8s_line_clear(&l);

    k8s_line("{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"resourceVersion\":\"13\"}}}", &l);
    assert_int_equal(l.kind, HD_K8S_LINE_DELETED);
    assert_null(l.raw);
    assert_string_equal(l.rv, "13");
    hd_k8s_line_clear(&l);

    k8s_line("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"14\"}}}", &l);
    assert_int_equal(l.kind, HD_K8S_LINE_BOOKMARK);
    assert_string_equal(l.rv, "14");
    hd_k8s_line_clear(&l);

    k8s_line("{\"type\":\"SYNC\",\"object\":{}}", &l);
    assert_int_equal(l.kind, HD_K8S_LINE_OTHER);
    assert_string_equal(l.type, "SYNC");
    hd_k8s_line_clear(&l);

    /* a resourceVersion too long to be a resume point is none */
    char big[400];
    int n = snprintf(big, sizeof(big),
                     "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"%0200d\"}}}", 7);
    assert_true(n > 0 && (size_t)n < sizeof(big));
    k8s_line(big, &l);
    assert_string_equal(l.rv, "");
    hd_k8s_line_clear(&l);
}

static void test_k8s_watch_line_errors(void **state)
{
    (void)state;
    struct hd_k8s_line l;
    struct hd_err err = {0};
    /* ERROR events: a Status; 410, or reason Expired / Gone, is an expired resourceVersion */
    k8s_line("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","
             "\"message\":\"too old resource version: 1 (2)\",\"metadata\":{\"resourceVersion\":\"9\"}}}",
             &l);
    assert_int_equal(l.kind, HD_K8S_LINE_ERROR);
    assert_int_equal(l.code, 410);
    assert_true(l.expired);
    assert_string_equal(l.message, "too old resource version: 1 (2)");
    assert_string_equal(l.rv, ""); /* an error moves nothing */
    hd_k8s_line_clear(&l);
    k8s_line("{\"type\":\"ERROR\",\"object\":{\"reason\":\"Gone\"}}", &l);
    assert_true(l.expired);
    assert_int_equal(l.code, 0);
    hd_k8s_line_clear(&l);
    k8s_line("{\"type\":\"ERROR\",\"object\":{\"code\":500,\"reason\":\"InternalError\"}}", &l);
    assert_false(l.expired);
    assert_string_equal(l.reason, "InternalError");
    assert_null(l.message);
    hd_k8s_line_clear(&l);

    /* not watch events */
    static const char *const bad[] = {
        "{\"type\":\"ADDED\"}",
        "{\"object\":{}}",
        "{\"type\":1,\"object\":{}}",
        "{\"type\":\"ADDED\",\"object\":[]}",
        "[1]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        memset(&l, 0x5a, sizeof(l));
        assert_int_equal(hd_k8s_watch_line(bad[i], strlen(bad[i]), &l, &err), HD_EINVAL);
        assert_string_equal(err.msg, "no type/object");
        assert_null(l.line);
    }
    memset(&err, 0, sizeof(err));
    assert_int_equal(hd_k8s_watch_line("{\"type\":", 8, &l, &err), HD_EINVAL);
    assert_true(err.msg[0] != '\0');
    assert_null(l.line);
}

static void test_docker_watch_line(void **state)
{
    (void)state;
    struct hd_err err = {0};
    json_object *root = NULL;
    int64_t tn = -1;
    const char *v124 =
        "{\"Type\":\"image\",\"Action\":\"pull\",\"time\":1461943101,\"timeNano\":1461943101301854122}";
    assert_int_equal(hd_docker_watch_line(v124, strlen(v124), &root, &tn, &err), HD_OK);
    assert_int_equal(tn, 1461943101301854122LL);
    assert_string_equal(hd_json_get_str(root, "Action"), "pull");
    json_object_put(root);
    /* v1.22: time in seconds only */
    const char *v122 = "{\"status\":\"create\",\"id\":\"dfdf82bd\",\"time\":1461943101}";
    assert_int_equal(hd_docker_watch_line(v122, strlen(v122), &root, &tn, &err), HD_OK);
    assert_int_equal(tn, 1461943101000000000LL);
    json_object_put(root);
    assert_int_equal(hd_docker_watch_line("{}", 2, &root, &tn, &err), HD_OK);
    assert_int_equal(tn, 0);
    json_object_put(root);

    /* seconds whose nanoseconds overflow int64 (fuzz_docker_watch found the
     * multiplication's undefined behaviour): no usable time */
    const char *far = "{\"status\":\"create\",\"time\":17957101587}";
    assert_int_equal(hd_docker_watch_line(far, strlen(far), &root, &tn, &err), HD_OK);
    assert_int_equal(tn, 0);
    json_object_put(root);
    const char *past = "{\"time\":-9223372037}";
    assert_int_equal(hd_docker_watch_line(past, strlen(past), &root, &tn, &err), HD_OK);
    assert_int_equal(tn, 0);
    json_object_put(root);
    const char *last = "{\"time\":9223372036}"; /* 2262-04-11: the last second that fits */
    assert_int_equal(hd_docker_watch_line(last, strlen(last), &root, &tn, &err), HD_OK);
    assert_int_equal(tn, 9223372036000000000LL);
    json_object_put(root);

    /* not an object: nothing written */
    root = NULL;
    tn = -1;
    assert_int_equal(hd_docker_watch_line("[{}]", 4, &root, &tn, &err), HD_EINVAL);
    assert_string_equal(err.msg, "got a JSON array");
    memset(&err, 0, sizeof(err));
    assert_int_equal(hd_docker_watch_line("{\"a\"", 4, &root, &tn, &err), HD_EINVAL);
    assert_true(err.msg[0] != '\0');
    assert_null(root);
    assert_int_equal(tn, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framer_every_split),
        cmocka_unit_test(test_framer_cut_line_then_reset),
        cmocka_unit_test(test_framer_errors),
        cmocka_unit_test(test_member_span),
        cmocka_unit_test(test_array_each),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_queue_and_helpers),
        cmocka_unit_test(test_k8s_watch_line),
        cmocka_unit_test(test_k8s_watch_line_errors),
        cmocka_unit_test(test_docker_watch_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
