/* test_webhook.c - WEBHOOK render (golden: the original bytes) and classify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel_fixture.h"

static void make(struct fx_run *r, const char *options)
{
    fx_channel_make(&r->ch, "WEBHOOK", 7, "Splunk", options);
    assert_int_equal(r->ch->type->max_batch, 1);
}

static void render(struct fx_run *r)
{
    const struct hd_event *evs[1] = {&r->ev};
    fx_render(r->ch, evs, 1, &r->req);
    fx_parse_body(&r->req, &r->doc);
}

/* The article's channel (v18): the body is what Sysdig posted, byte for byte. */
static void test_render_original_with_headers(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"notifyOnOk\":true,\"url\":\"http://somehost:9000/services/collector/raw\","
            "\"additionalHeaders\":{\"Authorization\":\"Splunk 2b8868fe198cf1203256e6af6515bfad\"},"
            "\"notifyOnResolve\":true,\"timeoutMs\":2500,\"allowInsecureConnections\":true}");
    render(r);
    assert_true(r->req.method == NULL || strcmp(r->req.method, "POST") == 0);
    assert_string_equal(r->req.url, "http://somehost:9000/services/collector/raw");
    assert_int_equal(r->req.body.len, r->ev.raw_len);
    assert_memory_equal(r->req.body.p, r->ev.raw, r->ev.raw_len);
    assert_int_equal(fx_header_count(&r->req, "Content-Type: application/json"), 1);
    assert_int_equal(fx_header_count(&r->req, "Authorization: Splunk 2b8868fe198cf1203256e6af6515bfad"), 1);
    assert_int_equal(r->req.n_headers, 2);
    assert_int_equal(r->req.timeout_ms, 2500);
    assert_non_null(r->req.tls);
    assert_int_equal(r->req.tls->insecure, 1);
}

static void test_user_content_type_wins(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"url\":\"https://hooks.example.com/x\",\"additionalHeaders\":{\"content-type\":\"text/plain\","
            "\"X-A\":\"1\",\"X-B\":\"\"}}");
    render(r);
    assert_int_equal(fx_header_named(&r->req, "Content-Type"), 1);
    assert_int_equal(fx_header_count(&r->req, "content-type: text/plain"), 1);
    assert_int_equal(fx_header_named(&r->req, "X-A"), 1);
    assert_int_equal(r->req.timeout_ms, 10000);
    assert_int_equal(r->req.tls->insecure, 0);
}

static void test_custom_data_merged(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"url\":\"http://es:9200/sysdigsecure/"
            "event\",\"customData\":{\"cluster\":\"prod\",\"team\":{\"id\":3},"
            "\"state\":\"overridden\"}}");
    render(r);
    assert_string_equal(json_object_get_string(hd_json_path(r->doc, "cluster")), "prod");
    assert_int_equal(json_object_get_int64(hd_json_path(r->doc, "team.id")), 3);
    assert_string_equal(json_object_get_string(hd_json_path(r->doc, "state")), "overridden");
    assert_int_equal(json_object_get_int64(hd_json_path(r->doc, "timestamp")), SECURE_TS_US);
    assert_string_equal(json_object_get_string(hd_json_path(r->doc, "entities.0.policyEvents.0.id")),
                        "513051281863028736");
    /* An empty customData is no customData: original bytes. */
    make(r, "{\"url\":\"http://es:9200/sysdigsecure/event\",\"customData\":{}}");
    render(r);
    assert_memory_equal(r->req.body.p, r->ev.raw, r->ev.raw_len);
}

static void test_transform_and_template(void **state)
{
    struct fx_run *r = *state;
    make(r,
         "{\"url\":\"http://es:9200/sysdigsecure/event\",\"transform\":{\"millisField\":\"estimestamp\"}}");
    render(r);
    assert_int_equal(json_object_get_int64(hd_json_path(r->doc, "estimestamp")), 1518849360000LL);
    /* A template wins over transform and builds a typed body. */
    make(r, "{\"url\":\"http://x/y\",\"transform\":{\"millisField\":\"estimestamp\"},"
            "\"template\":{\"text\":\"{{name}} on {{host}}\",\"severity\":\"{{severity}}\","
            "\"ts\":\"{{raw.timestamp}}\",\"ns\":\"{{k8s.namespace}}\",\"fixed\":[1,true]}}");
    render(r);
    assert_string_equal(json_object_get_string(hd_json_path(r->doc, "text")),
                        "Policy 59: FILE POLICY: Read sensitive file untrusted on ip-10-0-8-165");
    json_object *sev = hd_json_path(r->doc, "severity");
    assert_true(json_object_is_type(sev, json_type_int));
    assert_int_equal(json_object_get_int(sev), 4);
    assert_int_equal(json_object_get_int64(hd_json_path(r->doc, "ts")), SECURE_TS_US);
    assert_string_equal(json_object_get_string(hd_json_path(r->doc, "ns")), "example-java-app");
    assert_null(hd_json_path(r->doc, "estimestamp"));
    assert_int_equal(json_object_array_length(hd_json_path(r->doc, "fixed")), 2);
}

static void test_render_wrong_batch(void **state)
{
    struct fx_run *r = *state;
    struct hd_err err = {0};
    const struct hd_event *evs[2] = {&r->ev, &r->ev};
    make(r, "{\"url\":\"http://x/\"}");
    /* The channel layer holds every driver to its type's max_batch. */
    assert_int_equal(hd_channel_render(r->ch, evs, 2, &r->req, &err), HD_EINVAL);
    assert_string_equal(err.msg, "WEBHOOK: renders 1 to 1 events per request, got 2");
    assert_int_equal(hd_channel_render(r->ch, evs, 0, &r->req, &err), HD_EINVAL);
}

/* maxInFlight: requests in flight at once, 4 by default, 1..64. */
static void test_max_in_flight(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"url\":\"http://x/\"}");
    assert_int_equal(r->ch->max_in_flight, 4);
    make(r, "{\"url\":\"http://x/\",\"maxInFlight\":1}");
    assert_int_equal(r->ch->max_in_flight, 1);
    make(r, "{\"url\":\"http://x/\",\"maxInFlight\":64}");
    assert_int_equal(r->ch->max_in_flight, 64);
    make(r, "{\"url\":\"http://x/\",\"maxInFlight\":null}");
    assert_int_equal(r->ch->max_in_flight, 4);
    fx_expect_config_error("WEBHOOK", 7, "w", "{\"url\":\"http://x/\",\"maxInFlight\":0}",
                           "options.maxInFlight");
    fx_expect_config_error("WEBHOOK", 7, "w", "{\"url\":\"http://x/\",\"maxInFlight\":true}",
                           "options.maxInFlight");
}

static void test_classify(void **state)
{
    struct fx_run *r = *state;
    struct hd_response resp;
    struct hd_item_verdict item;
    make(r, "{\"url\":\"http://x/\"}");
    hd_response_init(&resp);

    resp.status = 200;
    assert_int_equal(r->ch->type->classify(r->ch, &resp, 1, &item), HD_VERDICT_DELIVERED);
    assert_int_equal(item.verdict, HD_VERDICT_DELIVERED);
    assert_int_equal(item.status, 200);

    resp.status = 400;
    assert_int_equal(hd_buf_puts(&resp.body, "{\"text\":\"Invalid data format\",\"code\":6}"), HD_OK);
    assert_int_equal(r->ch->type->classify(r->ch, &resp, 1, &item), HD_VERDICT_DEAD);
    assert_int_equal(item.status, 400);
    assert_string_equal(item.error, "{\"text\":\"Invalid data format\",\"code\":6}");

    resp.status = 503;
    assert_int_equal(r->ch->type->classify(r->ch, &resp, 1, &item), HD_VERDICT_RETRY);

    resp.status = 0;
    snprintf(resp.error, sizeof(resp.error), "%s", "Connection refused");
    assert_int_equal(r->ch->type->classify(r->ch, &resp, 1, &item), HD_VERDICT_RETRY);
    assert_string_equal(item.error, "Connection refused");

    /* A long answer is cut to the item's buffer. */
    resp.status = 404;
    hd_buf_reset(&resp.body);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(hd_buf_puts(&resp.body, "0123456789"), HD_OK);
    }
    assert_int_equal(r->ch->type->classify(r->ch, &resp, 1, &item), HD_VERDICT_DEAD);
    assert_int_equal(strlen(item.error), sizeof(item.error) - 1);
    hd_response_clear(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_max_in_flight, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_render_original_with_headers, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_user_content_type_wins, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_custom_data_merged, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_transform_and_template, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_render_wrong_batch, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_classify, fx_run_setup, fx_run_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
