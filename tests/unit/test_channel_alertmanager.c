/* test_channel_alertmanager.c - PROMETHEUS_ALERT_MANAGER: render (postable
 * alerts: labels, annotations, startsAt / endsAt, generatorURL), batching,
 * label name sanitizing, headers, classify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel_fixture.h"

#define AM_OPTS                                                                                              \
    "{\"url\":\"http://am.example:9093/\",\"additionalHeaders\":{\"Authorization\":\"Bearer t0k\"}}"

static const char *str_at(json_object *doc, const char *path)
{
    json_object *v = hd_json_path(doc, path);
    if (v == NULL || !json_object_is_type(v, json_type_string)) {
        fail_msg("%s: not a string", path);
    }
    return json_object_get_string(v);
}

static void test_render_active_then_ok(void **state)
{
    struct fx_run *r = *state;
    fx_channel_make(&r->ch, "PROMETHEUS_ALERT_MANAGER", 3, "am", AM_OPTS);
    assert_true(r->ch->type->max_batch > 1);
    const struct hd_event *evs[1] = {&r->ev};
    fx_render(r->ch, evs, 1, &r->req);
    assert_string_equal(r->req.url, "http://am.example:9093/api/v2/alerts");
    assert_string_equal(fx_header(&r->req, "Content-Type"), "application/json");
    assert_string_equal(fx_header(&r->req, "Authorization"), "Bearer t0k");
    fx_parse_body(&r->req, &r->doc);
    assert_true(json_object_is_type(r->doc, json_type_array));
    assert_int_equal(json_object_array_length(r->doc), 1);
    assert_string_equal(str_at(r->doc, "0.labels.alertname"), r->ev.name);
    assert_string_equal(str_at(r->doc, "0.labels.severity"), "warning");
    assert_string_equal(str_at(r->doc, "0.labels.source"), "sysdig_secure");
    assert_string_equal(str_at(r->doc, "0.labels.namespace"), "example-java-app");
    assert_string_equal(str_at(r->doc, "0.labels.pod"), "redis-3463099497-2xxw3");
    assert_string_equal(str_at(r->doc, "0.labels.alertkey"), "sysdig_secure/Policy 59");
    /* the event's labels, names sanitized: "falco.rule" -> "falco_rule" */
    assert_string_equal(str_at(r->doc, "0.labels.falco_rule"), "Read sensitive file untrusted");
    assert_string_equal(str_at(r->doc, "0.labels.policyId"), "59");
    assert_string_equal(str_at(r->doc, "0.startsAt"), "2018-02-17T06:36:00.000Z");
    assert_null(hd_json_path(r->doc, "0.endsAt"));
    assert_string_equal(str_at(r->doc, "0.generatorURL"), r->ev.url);
    assert_non_null(strstr(str_at(r->doc, "0.annotations.summary"), "[Warning] Policy 59"));
    assert_string_equal(str_at(r->doc, "0.annotations.description"), "an attempt to read any sensitive file");
    assert_string_equal(str_at(r->doc, "0.annotations.eventId"), r->ev.id);
    char *labels_active = fx_canonical(json_object_to_json_string(hd_json_path(r->doc, "0.labels")),
                                       strlen(json_object_to_json_string(hd_json_path(r->doc, "0.labels"))));

    /* OK: same labels (same Alertmanager fingerprint), endsAt set. */
    r->ev.state = HD_STATE_OK;
    r->ev.ts_us += 60000000;
    fx_render(r->ch, evs, 1, &r->req);
    fx_parse_body(&r->req, &r->doc);
    const char *l = json_object_to_json_string(hd_json_path(r->doc, "0.labels"));
    char *labels_ok = fx_canonical(l, strlen(l));
    assert_string_equal(labels_ok, labels_active);
    free(labels_ok);
    free(labels_active);
    assert_string_equal(str_at(r->doc, "0.endsAt"), "2018-02-17T06:37:00.000Z");
    assert_string_equal(str_at(r->doc, "0.startsAt"), "2018-02-17T06:37:00.000Z");
}

static void test_batch_and_sanitizing(void **state)
{
    struct fx_run *r = *state;
    struct hd_event b;
    fx_raw_event(&b, "{\"x\":1}");
    b.labels =
        hd_strdup("{\"9lives\":\"cat\",\"a-b/c\":\"d\",\"n\":3,\"obj\":{\"x\":1},\"source\":\"spoof\"}");
    b.severity = 2;
    b.url = hd_strdup("not a url");
    fx_channel_make(&r->ch, "PROMETHEUS_ALERT_MANAGER", 3, "am",
                    "{\"url\":\"http://am.example:9093\",\"endpoint\":\"http://127.0.0.1:9/\"}");
    const struct hd_event *evs[2] = {&r->ev, &b};
    fx_render(r->ch, evs, 2, &r->req);
    assert_string_equal(r->req.url, "http://127.0.0.1:9/api/v2/alerts");
    fx_parse_body(&r->req, &r->doc);
    assert_int_equal(json_object_array_length(r->doc), 2);
    assert_string_equal(str_at(r->doc, "1.labels._9lives"), "cat");
    assert_string_equal(str_at(r->doc, "1.labels.a_b_c"), "d");
    assert_string_equal(str_at(r->doc, "1.labels.n"), "3");
    assert_null(hd_json_path(r->doc, "1.labels.obj"));
    assert_string_equal(str_at(r->doc, "1.labels.source"), "generic"); /* herald's own win */
    assert_string_equal(str_at(r->doc, "1.labels.severity"), "critical");
    assert_null(hd_json_path(r->doc, "1.generatorURL"));
    hd_event_clear(&b);

    fx_expect_config_error("PROMETHEUS_ALERT_MANAGER", 3, "am", "{}", "options.url: required");
    fx_expect_config_error("PROMETHEUS_ALERT_MANAGER", 3, "am",
                           "{\"url\":\"http://a\",\"additionalHeaders\":{\"Content-Type\":\"text/plain\"}}",
                           "options.additionalHeaders.Content-Type");
}

static void test_classify(void **state)
{
    struct fx_run *r = *state;
    char why[256];
    fx_channel_make(&r->ch, "PROMETHEUS_ALERT_MANAGER", 3, "am", AM_OPTS);
    assert_int_equal(fx_classify1(r->ch, 200, "", NULL, why), HD_VERDICT_DELIVERED);
    assert_int_equal(fx_classify1(r->ch, 400, "\"start time must be before end time\"", NULL, why),
                     HD_VERDICT_DEAD);
    assert_string_equal(why, "start time must be before end time");
    assert_int_equal(
        fx_classify1(r->ch, 400, "{\"code\":602,\"message\":\"labels in body is required\"}", NULL, why),
        HD_VERDICT_DEAD);
    assert_string_equal(why, "602: labels in body is required");
    assert_int_equal(fx_classify1(r->ch, 503, "", NULL, why), HD_VERDICT_RETRY);
    assert_int_equal(fx_classify1(r->ch, 429, "", NULL, why), HD_VERDICT_RETRY);
    assert_int_equal(fx_classify1(r->ch, 0, NULL, "Connection refused", why), HD_VERDICT_RETRY);
    assert_string_equal(why, "Connection refused");

    /* additionalHeaders values are secrets */
    json_object *o =
        hd_json_parse("{\"type\":\"PROMETHEUS_ALERT_MANAGER\",\"options\":" AM_OPTS "}",
                      strlen("{\"type\":\"PROMETHEUS_ALERT_MANAGER\",\"options\":" AM_OPTS "}"), NULL);
    json_object *m = hd_channel_mask_secrets(o);
    assert_string_equal(str_at(m, "options.additionalHeaders.Authorization"), HD_SECRET_MASK);
    json_object_put(m);
    json_object_put(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_render_active_then_ok, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_batch_and_sanitizing, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_classify, fx_run_setup, fx_run_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
