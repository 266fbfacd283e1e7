/* test_transform.c - options.transform, templates and the event view (SPEC 7). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "channel/transform.h"
#include "channel_fixture.h"

struct run {
    struct hd_event ev;
    struct hd_buf out;
    json_object *doc; /* parsed output */
};

static int setup(void **state)
{
    struct run *r = calloc(1, sizeof(*r));
    if (r == NULL || fx_secure_event(&r->ev) != 0) {
        free(r);
        return -1;
    }
    hd_buf_init(&r->out, 0);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    struct run *r = *state;
    hd_event_clear(&r->ev);
    hd_buf_free(&r->out);
    json_object_put(r->doc);
    free(r);
    return 0;
}

static json_object *js(const char *text)
{
    json_object *o = hd_json_parse(text, strlen(text), NULL);
    assert_non_null(o);
    return o;
}

/* Applies transform text (NULL = none) and custom text; parses the output. */
static void apply(struct run *r, const char *transform, const char *custom)
{
    struct hd_err err = {0};
    json_object *t = transform ? js(transform) : NULL;
    json_object *c = custom ? js(custom) : NULL;
    hd_buf_reset(&r->out);
    int rc = hd_transform_apply(&r->ev, t, c, &r->out, &err);
    json_object_put(t);
    json_object_put(c);
    assert_int_equal(rc, HD_OK);
    json_object_put(r->doc);
    r->doc = hd_json_parse(r->out.p, r->out.len, &err);
    if (r->doc == NULL) {
        fail_msg("output is not JSON (%s): %s", err.msg, r->out.p);
    }
}

static int64_t i64_at(json_object *o, const char *path)
{
    json_object *v = hd_json_path(o, path);
    assert_non_null(v);
    assert_true(json_object_is_type(v, json_type_int));
    return json_object_get_int64(v);
}

static const char *str_at(json_object *o, const char *path)
{
    json_object *v = hd_json_path(o, path);
    assert_non_null(v);
    assert_true(json_object_is_type(v, json_type_string));
    return json_object_get_string(v);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void test_default_is_original_bytes(void **state)
{
    struct run *r = *state;
    apply(r, NULL, NULL);
    assert_int_equal(r->out.len, r->ev.raw_len);
    assert_memory_equal(r->out.p, r->ev.raw, r->ev.raw_len);
    /* Empty transform, empty customData and switched-off options: the same. */
    apply(r, "{}", "{}");
    assert_memory_equal(r->out.p, r->ev.raw, r->ev.raw_len);
    apply(r, "{\"addNormalized\":false,\"flatten\":false,\"drop\":[],\"rename\":{}}", NULL);
    assert_int_equal(r->out.len, r->ev.raw_len);
    assert_memory_equal(r->out.p, r->ev.raw, r->ev.raw_len);
}

/* The article's fix: Sysdig's microseconds -> Elasticsearch's millis. */
static void test_millis_and_iso_from_sysdig_microseconds(void **state)
{
    struct run *r = *state;
    apply(r, "{\"millisField\":\"estimestamp\",\"isoField\":\"@timestamp\"}", NULL);
    assert_int_equal(i64_at(r->doc, "estimestamp"), 1518849360000LL);
    assert_string_equal(str_at(r->doc, "@timestamp"), "2018-02-17T06:36:00.000Z");
    assert_int_equal(i64_at(r->doc, "timestamp"), 1518849360000000LL); /* original kept */
    assert_int_equal(i64_at(r->doc, "entities.0.policyEvents.0.timestamp"), 1518849310380639LL);
    /* Splice path: the original bytes up to its closing brace are untouched. */
    const char *close = strrchr(r->ev.raw, '}');
    size_t pre = (size_t)(close - r->ev.raw);
    assert_memory_equal(r->out.p, r->ev.raw, pre);
    assert_true(r->out.len > r->ev.raw_len);
}

static void test_iso_keeps_milliseconds(void **state)
{
    struct run *r = *state;
    r->ev.ts_us = 1518849310380639LL;
    apply(r, "{\"millisField\":\"ms\",\"isoField\":\"iso\"}", NULL);
    assert_int_equal(i64_at(r->doc, "ms"), 1518849310380LL);
    assert_string_equal(str_at(r->doc, "iso"), "2018-02-17T06:35:10.380Z");
}

/* Splice and full re-serialization give the same document. A drop of a
 * missing path changes nothing but forces the full path. */
static void test_splice_equals_full_path(void **state)
{
    struct run *r = *state;
    static const char *const transforms[][2] = {
        {"{\"millisField\":\"estimestamp\"}", "{\"millisField\":\"estimestamp\",\"drop\":[\"no.such\"]}"},
        {"{\"isoField\":\"@timestamp\",\"addNormalized\":true}",
         "{\"isoField\":\"@timestamp\",\"addNormalized\":true,\"drop\":[\"no.such\"]}"},
        {"{\"millisField\":\"estimestamp\",\"isoField\":\"@timestamp\",\"addNormalized\":true}",
         "{\"millisField\":\"estimestamp\",\"isoField\":\"@timestamp\",\"addNormalized\":true,\"drop\":["
         "\"x\"]}"},
    };
    for (size_t i = 0; i < sizeof(transforms) / sizeof(transforms[0]); i++) {
        apply(r, transforms[i][0], NULL);
        char *spliced = fx_canonical(r->out.p, r->out.len);
        assert_memory_equal(r->out.p, r->ev.raw, 10); /* splice kept the pretty original */
        apply(r, transforms[i][1], NULL);
        assert_int_equal(r->out.p[1], '"'); /* full path is compact */
        char *full = fx_canonical(r->out.p, r->out.len);
        assert_non_null(spliced);
        assert_non_null(full);
        assert_string_equal(spliced, full);
        free(spliced);
        free(full);
    }
}

static void test_splice_into_empty_object(void **state)
{
    struct run *r = *state;
    static const char *const raws[] = {"{}", "  {  }\n", "{\"a\":1}", "{\"a\":{}}  "};
    for (size_t i = 0; i < sizeof(raws) / sizeof(raws[0]); i++) {
        hd_event_clear(&r->ev);
        fx_raw_event(&r->ev, raws[i]);
        apply(r, "{\"millisField\":\"estimestamp\",\"addNormalized\":true}", NULL);
        assert_int_equal(i64_at(r->doc, "estimestamp"), 1518849360000LL);
        assert_string_equal(str_at(r->doc, "herald.source"), "generic");
    }
    /* The splice went into the outer object, not the inner empty one. */
    assert_int_equal(json_object_object_length(hd_json_path(r->doc, "a")), 0);
}

/* An added name already in the original is replaced, never duplicated. */
static void test_existing_key_replaced(void **state)
{
    struct run *r = *state;
    hd_event_clear(&r->ev);
    fx_raw_event(&r->ev, "{\"estimestamp\":1,\"herald\":\"x\",\"b\":2}");
    apply(r, "{\"millisField\":\"estimestamp\",\"addNormalized\":true}", NULL);
    assert_int_equal(count(r->out.p, "\"estimestamp\""), 1);
    assert_int_equal(count(r->out.p, "\"herald\""), 1);
    assert_int_equal(i64_at(r->doc, "estimestamp"), 1518849360000LL);
    assert_string_equal(str_at(r->doc, "herald.id"), "fedcba9876543210fedcba9876543210");
    assert_int_equal(i64_at(r->doc, "b"), 2);
    /* A \u escape could spell the key: full path too. */
    hd_event_clear(&r->ev);
    fx_raw_event(&r->ev, "{\"\\u0065stimestamp\":1}");
    apply(r, "{\"millisField\":\"estimestamp\"}", NULL);
    assert_int_equal(count(r->out.p, "estimestamp"), 1);
    /* The same past the first 16-byte blocks of the scan, escaped quotes and
     * backslashes before them. */
    hd_event_clear(&r->ev);
    fx_raw_event(&r->ev, "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":\"b\\\"bbbbbbbbbbbbbbbbbbbbbbbbbbb\\\\\","
                         "\"ccccccccccccccccccccccccccc\":1,\"estimestamp\":1}");
    apply(r, "{\"millisField\":\"estimestamp\"}", NULL);
    assert_int_equal(count(r->out.p, "\"estimestamp\""), 1);
    assert_int_equal(i64_at(r->doc, "estimestamp"), 1518849360000LL);
    hd_event_clear(&r->ev);
    fx_raw_event(&r->ev, "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\","
                         "\"\\u0065stimestamp\":1}");
    apply(r, "{\"millisField\":\"estimestamp\"}", NULL);
    assert_int_equal(count(r->out.p, "\\u0065"), 0); /* the full path re-serialized it: one member */
    assert_int_equal(i64_at(r->doc, "estimestamp"), 1518849360000LL);
    /* No added name in the original: spliced, the original's bytes kept. */
    hd_event_clear(&r->ev);
    fx_raw_event(&r->ev, "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" : \"b\\\"estimestamp\\\"\"}");
    apply(r, "{\"millisField\":\"estimestamp\"}", NULL);
    assert_memory_equal(r->out.p, r->ev.raw, 44);
}

static void test_add_normalized(void **state)
{
    struct run *r = *state;
    apply(r, "{\"addNormalized\":true}", NULL);
    assert_int_equal(i64_at(r->doc, "herald.severity"), 4);
    assert_string_equal(str_at(r->doc, "herald.state"), "ACTIVE");
    assert_string_equal(str_at(r->doc, "herald.source"), "sysdig_secure");
    assert_string_equal(str_at(r->doc, "herald.k8s.namespace"), "example-java-app");
    assert_string_equal(str_at(r->doc, "herald.labels.policyId"), "59");
    assert_int_equal(i64_at(r->doc, "herald.timestampUs"), SECURE_TS_US);
    assert_null(hd_json_path(r->doc, "herald.raw")); /* the original is the document itself */
}

static void test_rename_drop(void **state)
{
    struct run *r = *state;
    apply(r,
          "{\"rename\":{\"alert.name\":\"alertName\",\"state\":\"meta.state\",\"nope\":\"x\"},"
          "\"drop\":[\"entities\",\"alert.description\",\"event.nope\",\"timespan.deeper\"]}",
          NULL);
    assert_string_equal(str_at(r->doc, "alertName"), "Policy 59: FILE POLICY: Read sensitive file untrusted");
    assert_string_equal(str_at(r->doc, "meta.state"), "ACTIVE");
    assert_null(hd_json_path(r->doc, "alert.name"));
    assert_null(hd_json_path(r->doc, "state"));
    assert_null(hd_json_path(r->doc, "entities"));
    assert_null(hd_json_path(r->doc, "alert.description"));
    assert_null(hd_json_path(r->doc, "x"));
    assert_int_equal(i64_at(r->doc, "alert.severity"), 4);
    assert_int_equal(i64_at(r->doc, "timespan"), 60000000);
    /* rename runs before drop: a renamed member can be dropped under its new name */
    apply(r, "{\"rename\":{\"timespan\":\"span\"},\"drop\":[\"span\"]}", NULL);
    assert_null(hd_json_path(r->doc, "span"));
    assert_null(hd_json_path(r->doc, "timespan"));
    /* destination blocked by a non-object: value stays where it was */
    apply(r, "{\"rename\":{\"state\":\"timespan.state\"}}", NULL);
    assert_string_equal(str_at(r->doc, "state"), "ACTIVE");
}

static void test_flatten_and_custom(void **state)
{
    struct run *r = *state;
    apply(r, "{\"flatten\":true,\"millisField\":\"estimestamp\"}",
          "{\"env\":{\"team\":\"sec\"},\"state\":\"X\"}");
    json_object *v = NULL;
    assert_true(json_object_object_get_ex(r->doc, "alert.name", &v)); /* a dotted key, not nesting */
    assert_string_equal(json_object_get_string(v), "Policy 59: FILE POLICY: Read sensitive file untrusted");
    assert_false(json_object_object_get_ex(r->doc, "alert", &v));
    assert_true(json_object_object_get_ex(r->doc, "env.team", &v)); /* customData flattened too */
    assert_string_equal(json_object_get_string(v), "sec");
    assert_true(json_object_object_get_ex(r->doc, "state", &v)); /* customData overrides */
    assert_string_equal(json_object_get_string(v), "X");
    assert_true(json_object_object_get_ex(r->doc, "entities", &v)); /* arrays kept as values */
    assert_true(json_object_is_type(v, json_type_array));
    assert_true(json_object_object_get_ex(r->doc, "estimestamp", &v));
    assert_int_equal(json_object_get_int64(v), 1518849360000LL);
    assert_true(json_object_object_get_ex(r->doc, "alert.editUrl", &v)); /* nulls kept */
    assert_null(v);
}

static void test_custom_only(void **state)
{
    struct run *r = *state;
    apply(r, NULL, "{\"cluster\":\"prod-eu\",\"n\":7}");
    assert_string_equal(str_at(r->doc, "cluster"), "prod-eu");
    assert_int_equal(i64_at(r->doc, "n"), 7);
    assert_int_equal(i64_at(r->doc, "timestamp"), SECURE_TS_US);
}

static void test_numbers_exact(void **state)
{
    struct run *r = *state;
    hd_event_clear(&r->ev);
    fx_raw_event(&r->ev,
                 "{\"timeNano\":1789000000123456789,\"d\":0.1,\"e\":1.5e300,\"neg\":-9223372036854775808}");
    apply(r, "{\"millisField\":\"m\",\"drop\":[\"x\"]}", NULL);
    assert_non_null(strstr(r->out.p, "\"timeNano\":1789000000123456789"));
    assert_non_null(strstr(r->out.p, "\"d\":0.1,"));
    assert_non_null(strstr(r->out.p, "\"e\":1.5e300"));
    assert_non_null(strstr(r->out.p, "\"neg\":-9223372036854775808"));
}

static void test_non_object_original(void **state)
{
    struct run *r = *state;
    hd_event_clear(&r->ev);
    fx_raw_event(&r->ev, "2018-02-17T06:36:00Z container die 57c1820a87f1");
    apply(r, "{\"millisField\":\"estimestamp\"}", NULL);
    assert_string_equal(str_at(r->doc, "message"), "2018-02-17T06:36:00Z container die 57c1820a87f1");
    assert_int_equal(i64_at(r->doc, "estimestamp"), 1518849360000LL);
    hd_event_clear(&r->ev);
    fx_raw_event(&r->ev, "[1,2]");
    apply(r, "{\"isoField\":\"@timestamp\"}", NULL);
    assert_int_equal(i64_at(r->doc, "message.1"), 2);
}

/* A capped buffer: the error leaves it as it was. */
static void test_too_big_leaves_output(void **state)
{
    struct run *r = *state;
    struct hd_buf small;
    struct hd_err err = {0};
    json_object *t = js("{\"millisField\":\"estimestamp\"}");
    json_object *t2 = js("{\"flatten\":true}");
    hd_buf_init(&small, 64);
    assert_int_equal(hd_buf_puts(&small, "abc"), HD_OK);
    assert_int_equal(hd_transform_apply(&r->ev, t, NULL, &small, &err), HD_ETOOBIG);
    assert_int_equal(small.len, 3);
    assert_string_equal(small.p, "abc");
    assert_int_equal(hd_transform_apply(&r->ev, t2, NULL, &small, &err), HD_ETOOBIG);
    assert_string_equal(small.p, "abc");
    assert_int_equal(hd_transform_apply(&r->ev, NULL, NULL, &small, &err), HD_ETOOBIG);
    assert_string_equal(small.p, "abc");
    json_object_put(t);
    json_object_put(t2);
    hd_buf_free(&small);
}

static void test_event_view(void **state)
{
    struct run *r = *state;
    json_object *v = hd_event_view(&r->ev);
    assert_non_null(v);
    assert_string_equal(str_at(v, "id"), "0123456789abcdef0123456789abcdef");
    assert_int_equal(i64_at(v, "seq"), 42);
    assert_string_equal(str_at(v, "k8s.pod"), "redis-3463099497-2xxw3");
    assert_string_equal(str_at(v, "labels.policyId"), "59");
    assert_string_equal(str_at(v, "raw.alert.name"), "Policy 59: FILE POLICY: Read sensitive file untrusted");
    assert_int_equal(i64_at(v, "raw.timestamp"), SECURE_TS_US);
    json_object_put(v);
    /* A text original is carried as a string. */
    hd_event_clear(&r->ev);
    fx_raw_event(&r->ev, "not json");
    v = hd_event_view(&r->ev);
    assert_non_null(v);
    assert_string_equal(str_at(v, "raw"), "not json");
    json_object_put(v);
}

static void render(struct run *r, const char *tmpl)
{
    struct hd_err err = {0};
    json_object *t = js(tmpl);
    hd_buf_reset(&r->out);
    assert_int_equal(hd_template_render(&r->ev, t, &r->out, &err), HD_OK);
    json_object_put(t);
    json_object_put(r->doc);
    r->doc = hd_json_parse(r->out.p, r->out.len, &err);
    if (r->doc == NULL) {
        fail_msg("template output is not JSON (%s): %s", err.msg, r->out.p);
    }
}

static void test_template(void **state)
{
    struct run *r = *state;
    render(r, "{\"sev\":\"{{severity}}\",\"ns\":\"{{ k8s.namespace }}\",\"ts\":\"{{raw.timestamp}}\","
              "\"policy\":\"{{raw.entities.0.policies}}\",\"missing\":\"{{nope.nope}}\","
              "\"text\":\"[{{state}}] {{name}} in {{k8s.namespace}} (sev {{severity}}){{nope}}\","
              "\"{{key}}\":\"literal\",\"n\":5,\"b\":false,\"z\":null,\"arr\":[\"{{source}}\",1,{\"h\":\"{{"
              "host}}\"}],"
              "\"open\":\"{{unclosed\",\"labels\":\"{{labels}}\",\"resolved\":\"{{raw.resolved}}\"}");
    assert_int_equal(i64_at(r->doc, "sev"), 4);
    assert_string_equal(str_at(r->doc, "ns"), "example-java-app");
    assert_int_equal(i64_at(r->doc, "ts"), SECURE_TS_US);
    assert_true(json_object_is_type(hd_json_path(r->doc, "policy"), json_type_array));
    json_object *v = NULL;
    assert_true(json_object_object_get_ex(r->doc, "missing", &v));
    assert_null(v);
    assert_string_equal(
        str_at(r->doc, "text"),
        "[ACTIVE] Policy 59: FILE POLICY: Read sensitive file untrusted in example-java-app (sev 4)");
    assert_string_equal(str_at(r->doc, "{{key}}"), "literal");
    assert_int_equal(i64_at(r->doc, "n"), 5);
    assert_string_equal(str_at(r->doc, "arr.0"), "sysdig_secure");
    assert_string_equal(str_at(r->doc, "arr.2.h"), "ip-10-0-8-165");
    assert_string_equal(str_at(r->doc, "open"), "{{unclosed");
    v = NULL;
    assert_true(json_object_object_get_ex(hd_json_path(r->doc, "labels"), "falco.rule", &v));
    assert_string_equal(json_object_get_string(v), "Read sensitive file untrusted");
    assert_true(json_object_is_type(hd_json_path(r->doc, "resolved"), json_type_boolean));
    assert_true(json_object_is_type(hd_json_path(r->doc, "b"), json_type_boolean));
}

static void test_template_text_escaping(void **state)
{
    struct run *r = *state;
    hd_event_clear(&r->ev);
    fx_raw_event(&r->ev, "{\"msg\":\"say \\\"hi\\\"\\n\",\"obj\":{\"a\":[1,2]}}");
    render(r, "{\"t\":\"<{{raw.msg}}> {{raw.obj}}\",\"s\":\"{{raw.msg}}\"}");
    assert_string_equal(str_at(r->doc, "t"), "<say \"hi\"\n> {\"a\":[1,2]}");
    assert_string_equal(str_at(r->doc, "s"), "say \"hi\"\n");
    /* A template that is a bare string works too. */
    render(r, "\"{{name}}\"");
    assert_string_equal(json_object_get_string(r->doc), "raw event");
}

/* HD_TMPL_ESCAPE_HTML: the values inserted are escaped (strings, JSON of
 * objects, lone placeholders alike), the template's own markup is not. */
static void test_template_html_escaping(void **state)
{
    struct run *r = *state;
    struct hd_err err = {0};
    hd_event_clear(&r->ev);
    fx_raw_event(&r->ev, "{\"msg\":\"<script>alert('x') & \\\"y\\\"</script>\",\"obj\":{\"a\":\"<i>\"}}");
    static const char tmpl[] = "{\"h\":\"<b>{{raw.msg}}</b> {{raw.obj}}\",\"lone\":\"{{raw.msg}}\","
                               "\"n\":\"{{severity}}\",\"none\":\"<p>{{nope}}</p>\"}";
    json_object *t = hd_json_parse(tmpl, strlen(tmpl), &err);
    assert_non_null(t);
    json_object *view = hd_template_view(&r->ev, t);
    assert_non_null(view);
    hd_buf_reset(&r->out);
    assert_int_equal(hd_template_emit(view, t, HD_TMPL_ESCAPE_HTML, &r->out, &err), HD_OK);
    json_object_put(r->doc);
    r->doc = hd_json_parse(r->out.p, r->out.len, &err);
    assert_non_null(r->doc);
    assert_string_equal(str_at(r->doc, "h"),
                        "<b>&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;</b> "
                        "{&quot;a&quot;:&quot;&lt;i&gt;&quot;}");
    assert_string_equal(str_at(r->doc, "lone"),
                        "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;");
    assert_string_equal(str_at(r->doc, "n"), "6");
    assert_string_equal(str_at(r->doc, "none"), "<p></p>");
    /* The same view without escaping: the values as they are. */
    hd_buf_reset(&r->out);
    assert_int_equal(hd_template_emit(view, t, HD_TMPL_ESCAPE_NONE, &r->out, &err), HD_OK);
    assert_non_null(strstr(r->out.p, "\"lone\":\"<script>alert('x') & \\\"y\\\"</script>\""));
    json_object_put(view);
    json_object_put(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_is_original_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_millis_and_iso_from_sysdig_microseconds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iso_keeps_milliseconds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_splice_equals_full_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_splice_into_empty_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_key_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_normalized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flatten_and_custom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_object_original, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big_leaves_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_text_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_html_escaping, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
