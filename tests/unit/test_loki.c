/* test_loki.c - LOKI: render (streams by label set, values in time order,
 * ns timestamps as strings, the original as the line, tenant header),
 * options (labels syntax, tenantId, timestamp), batch.maxBytes, classify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel_fixture.h"

static const char *str_at(json_object *doc, const char *path)
{
    json_object *v = hd_json_path(doc, path);
    if (v == NULL || !json_object_is_type(v, json_type_string)) {
        fail_msg("%s: not a string", path);
    }
    return json_object_get_string(v);
}

static void test_defaults_and_line(void **state)
{
    struct fx_run *r = *state;
    fx_channel_make(&r->ch, "LOKI", 5, "loki", "{\"url\":\"http://loki:3100/\",\"tenantId\":\"team-a\"}");
    assert_true(r->ch->type->max_batch > 1);
    const struct hd_event *evs[1] = {&r->ev};
    fx_render(r->ch, evs, 1, &r->req);
    assert_string_equal(r->req.url, "http://loki:3100/loki/api/v1/push");
    assert_string_equal(fx_header(&r->req, "Content-Type"), "application/json");
    assert_string_equal(fx_header(&r->req, "X-Scope-OrgID"), "team-a");
    fx_parse_body(&r->req, &r->doc);
    assert_string_equal(str_at(r->doc, "streams.0.stream.source"), "sysdig_secure");
    assert_string_equal(str_at(r->doc, "streams.0.stream.namespace"), "example-java-app");
    assert_string_equal(str_at(r->doc, "streams.0.stream.severity"), "4");
    /* received time (default), in ns, as a string */
    assert_string_equal(str_at(r->doc, "streams.0.values.0.0"), "1518849361500000000");
    /* the original bytes as the line */
    const char *line = str_at(r->doc, "streams.0.values.0.1");
    assert_int_equal(strlen(line), r->ev.raw_len);
    assert_memory_equal(line, r->ev.raw, r->ev.raw_len);

    fx_channel_make(&r->ch, "LOKI", 5, "loki", "{\"url\":\"http://loki:3100\",\"timestamp\":\"event\"}");
    fx_render(r->ch, evs, 1, &r->req);
    fx_parse_body(&r->req, &r->doc);
    assert_string_equal(str_at(r->doc, "streams.0.values.0.0"), "1518849360000000000");
    assert_int_equal(fx_header_named(&r->req, "X-Scope-OrgID"), 0);
}

static void test_streams_grouped_and_sorted(void **state)
{
    struct fx_run *r = *state;
    struct hd_event e[4];
    static const char *const ns[] = {"prod", "dev", "prod", NULL};
    static const int64_t t[] = {300, 100, 200, 50};
    for (size_t i = 0; i < 4; i++) {
        char raw[32];
        snprintf(raw, sizeof(raw), "{\"n\":%zu}", i);
        fx_raw_event(&e[i], raw);
        e[i].ts_us = t[i];
        e[i].recv_us = t[i];
        e[i].k8s_namespace = ns[i] != NULL ? hd_strdup(ns[i]) : NULL;
        e[i].labels = hd_strdup("{\"team\":\"db\"}");
    }
    fx_channel_make(
        &r->ch, "LOKI", 5, "loki",
        "{\"url\":\"http://loki:3100\",\"labels\":{\"ns\":\"k8s.namespace\",\"team\":\"labels.team\"}}");
    const struct hd_event *evs[4] = {&e[0], &e[1], &e[2], &e[3]};
    fx_render(r->ch, evs, 4, &r->req);
    fx_parse_body(&r->req, &r->doc);
    json_object *streams = hd_json_path(r->doc, "streams");
    assert_int_equal(json_object_array_length(streams), 3);
    /* first stream: prod, events 0 and 2, sorted by time: 200 then 300 */
    assert_string_equal(str_at(r->doc, "streams.0.stream.ns"), "prod");
    assert_string_equal(str_at(r->doc, "streams.0.stream.team"), "db");
    assert_string_equal(str_at(r->doc, "streams.0.values.0.0"), "200000");
    assert_string_equal(str_at(r->doc, "streams.0.values.0.1"), "{\"n\":2}");
    assert_string_equal(str_at(r->doc, "streams.0.values.1.0"), "300000");
    assert_string_equal(str_at(r->doc, "streams.1.stream.ns"), "dev");
    /* no namespace: the label is left out */
    assert_null(hd_json_path(r->doc, "streams.2.stream.ns"));
    assert_string_equal(str_at(r->doc, "streams.2.stream.team"), "db");

    /* no label at all: job="herald" */
    fx_channel_make(&r->ch, "LOKI", 5, "loki",
                    "{\"url\":\"http://loki:3100\",\"labels\":{\"ns\":\"k8s.pod\"}}");
    fx_render(r->ch, evs, 1, &r->req);
    fx_parse_body(&r->req, &r->doc);
    assert_string_equal(str_at(r->doc, "streams.0.stream.job"), "herald");

    /* batch.maxBytes: an oversized batch is refused (the dispatcher halves it), one event always goes */
    fx_channel_make(&r->ch, "LOKI", 5, "loki",
                    "{\"url\":\"http://loki:3100\",\"batch\":{\"maxBytes\":1024}}");
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct hd_event b;
    fx_raw_event(&b, big);
    const struct hd_event *two[2] = {&b, &e[0]};
    struct hd_err err = {0};
    hd_request_clear(&r->req);
    assert_int_equal(r->ch->type->render(r->ch, two, 2, &r->req, &err), HD_ETOOBIG);
    fx_render(r->ch, two, 1, &r->req);
    hd_event_clear(&b);
    for (size_t i = 0; i < 4; i++) {
        hd_event_clear(&e[i]);
    }
}

static void test_options_refused(void **state)
{
    (void)state;
    fx_expect_config_error("LOKI", 5, "l", "{}", "options.url: required");
    fx_expect_config_error("LOKI", 5, "l", "{\"url\":\"http://l\",\"labels\":{\"a.b\":\"source\"}}",
                           "options.labels.a.b: not a Loki label name");
    fx_expect_config_error("LOKI", 5, "l", "{\"url\":\"http://l\",\"labels\":{\"__name__\":\"source\"}}",
                           "options.labels.__name__");
    fx_expect_config_error("LOKI", 5, "l", "{\"url\":\"http://l\",\"labels\":{\"1a\":\"source\"}}",
                           "options.labels.1a");
    fx_expect_config_error("LOKI", 5, "l", "{\"url\":\"http://l\",\"labels\":{\"a\":3}}", "options.labels.a");
    fx_expect_config_error("LOKI", 5, "l", "{\"url\":\"http://l\",\"labels\":{}}", "options.labels");
    fx_expect_config_error("LOKI", 5, "l", "{\"url\":\"http://l\",\"tenantId\":\"a|b\"}", "options.tenantId");
    fx_expect_config_error("LOKI", 5, "l", "{\"url\":\"http://l\",\"timestamp\":\"now\"}",
                           "options.timestamp");
}

static void test_classify(void **state)
{
    struct fx_run *r = *state;
    char why[256];
    fx_channel_make(&r->ch, "LOKI", 5, "loki", "{\"url\":\"http://loki:3100\"}");
    assert_int_equal(fx_classify1(r->ch, 204, "", NULL, why), HD_VERDICT_DELIVERED);
    assert_int_equal(
        fx_classify1(r->ch, 400,
                     "entry with timestamp 2018-02-17 06:36:00 +0000 UTC ignored, reason: 'entry too "
                     "far behind, oldest acceptable timestamp is: 2024-01-01T00:00:00Z'",
                     NULL, why),
        HD_VERDICT_DEAD);
    assert_non_null(strstr(why, "entry too far behind"));
    assert_int_equal(fx_classify1(r->ch, 429, "Ingestion rate limit exceeded", NULL, why), HD_VERDICT_RETRY);
    assert_int_equal(fx_classify1(r->ch, 500, "", NULL, why), HD_VERDICT_RETRY);
    assert_int_equal(fx_classify1(r->ch, 401, "no org id", NULL, why), HD_VERDICT_DEAD);
    assert_int_equal(fx_classify1(r->ch, 0, NULL, "Connection refused", why), HD_VERDICT_RETRY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_and_line, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_streams_grouped_and_sorted, fx_run_setup, fx_run_teardown),
        cmocka_unit_test(test_options_refused),
        cmocka_unit_test_setup_teardown(test_classify, fx_run_setup, fx_run_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
