/* test_splunk.c - SPLUNK render (golden HEC envelopes, raw, ack query) and
 * classify (every HEC reply code of tests/fixtures/splunk/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel_fixture.h"

#define TOKEN "2b8868fe-198c-f120-3256-e6af6515bfad"
#define HEC_CODES HD_FIXTURES "/splunk/hec_codes_0_22_from_splunkadmins.json"

static struct hd_channel *build(const char *options, struct hd_err *err)
{
    return fx_channel_try("SPLUNK", 9, "Splunk", options, err);
}

static void make(struct fx_run *r, const char *options)
{
    fx_channel_make(&r->ch, "SPLUNK", 9, "Splunk", options);
}

static void render_n(struct fx_run *r, const struct hd_event *const *evs, size_t n)
{
    fx_render(r->ch, evs, n, &r->req);
}

static void render(struct fx_run *r)
{
    const struct hd_event *evs[1] = {&r->ev};
    render_n(r, evs, 1);
}

/* The article's Secure event as one HEC envelope, byte for byte. */
static void test_event_envelope_golden(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"url\":\"https://splunk.example.com:8088\",\"token\":\"" TOKEN "\"}");
    render(r);
    assert_string_equal(r->req.method, "POST");
    assert_string_equal(r->req.url, "https://splunk.example.com:8088/services/collector/event");
    assert_string_equal(fx_header(&r->req, "Authorization"), "Splunk " TOKEN);
    assert_string_equal(fx_header(&r->req, "Content-Type"), "application/json");
    assert_null(fx_header(&r->req, "X-Splunk-Request-Channel"));

    struct hd_buf want;
    hd_buf_init(&want, 0);
    assert_int_equal(
        hd_buf_puts(&want, "{\"time\":1518849360.000000,\"host\":\"ip-10-0-8-165\",\"source\":\"herald\","
                           "\"sourcetype\":\"sysdig:secure\",\"event\":"),
        HD_OK);
    assert_int_equal(hd_buf_append(&want, r->ev.raw, r->ev.raw_len), HD_OK);
    assert_int_equal(
        hd_buf_puts(&want,
                    ",\"fields\":{\"id\":\"0123456789abcdef0123456789abcdef\",\"severity\":\"4\","
                    "\"state\":\"ACTIVE\",\"name\":\"Policy 59: FILE POLICY: Read sensitive file untrusted\","
                    "\"alertKey\":\"sysdig_secure/Policy 59\",\"containerId\":\"57c1820a87f1\","
                    "\"k8s.namespace\":\"example-java-app\",\"k8s.pod\":\"redis-3463099497-2xxw3\","
                    "\"k8s.container\":\"ftest\",\"labels.falco.rule\":\"Read sensitive file untrusted\","
                    "\"labels.policyId\":\"59\"}}"),
        HD_OK);
    assert_int_equal(r->req.body.len, want.len);
    assert_memory_equal(r->req.body.p, want.p, want.len);
    hd_buf_free(&want);
}

/* Several events: concatenated envelopes, metadata from the options, time
 * exact to the microsecond, every field a flat string. */
static void test_event_batch_and_options(void **state)
{
    struct fx_run *r = *state;
    struct hd_event e2;
    struct hd_event e3;
    fx_raw_event(&e2, "{\"msg\":\"second\"}");
    fx_raw_event(&e3, "{\"msg\":\"third\"}");
    e2.ts_us = 1518849360123456LL;
    e2.source = "kubernetes";
    e3.source = "falco";
    e3.labels = hd_strdup("{\"n\":3,\"nested\":{\"a\":[1,2]},\"b\":true,\"z\":null}");
    make(r, "{\"url\":\"http://hec:8088/services/collector/event/\",\"token\":\"" TOKEN
            "\",\"index\":\"alerts\","
            "\"source\":\"sysdig\",\"host\":\"herald-1\"}");
    const struct hd_event *evs[3] = {&r->ev, &e2, &e3};
    render_n(r, evs, 3);
    assert_string_equal(r->req.url, "http://hec:8088/services/collector/event");

    const char *want_st[3] = {"sysdig:secure", "kube:event", "falco"};
    const char *want_time[3] = {"1518849360.000000", "1518849360.123456", "1518849360.000000"};
    const char *p = r->req.body.p;
    for (int i = 0; i < 3; i++) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (i == 0) {
            /* the first envelope holds the pretty-printed original (newlines) */
            const char *next = strstr(p, "}}\n{\"time\":");
            assert_non_null(next);
            len = (size_t)(next - p) + 2;
        }
        struct hd_err err = {0};
        json_object *env = hd_json_parse(p, len, &err);
        if (env == NULL) {
            fail_msg("envelope %d: %s", i, err.msg);
        }
        assert_string_equal(json_object_get_string(hd_json_path(env, "sourcetype")), want_st[i]);
        assert_string_equal(json_object_get_string(hd_json_path(env, "index")), "alerts");
        assert_string_equal(json_object_get_string(hd_json_path(env, "source")), "sysdig");
        assert_string_equal(json_object_get_string(hd_json_path(env, "host")), "herald-1");
        assert_true(strncmp(p, "{\"time\":", 8) == 0);
        assert_true(strncmp(p + 8, want_time[i], strlen(want_time[i])) == 0);
        json_object *fields = hd_json_path(env, "fields");
        json_object_object_foreach(fields, k, v)
        {
            (void)k;
            assert_true(json_object_is_type(v, json_type_string)); /* HEC: flat */
        }
        if (i == 2) {
            assert_string_equal(json_object_get_string(json_object_object_get(fields, "labels.n")), "3");
            assert_string_equal(json_object_get_string(json_object_object_get(fields, "labels.nested")),
                                "{\"a\":[1,2]}");
            assert_string_equal(json_object_get_string(json_object_object_get(fields, "labels.b")), "true");
            assert_null(json_object_object_get(fields, "labels.z"));
            assert_string_equal(json_object_get_string(hd_json_path(env, "event.msg")), "third");
        }
        json_object_put(env);
        p += len;
        if (*p == '\n') {
            p++;
        }
    }
    assert_int_equal(*p, '\0');
    hd_event_clear(&e2);
    hd_event_clear(&e3);
}

/* raw: the article's /services/collector/raw recipe, metadata in the query. */
static void test_raw_mode(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"url\":\"http://somehost:9000/\",\"token\":\"" TOKEN "\",\"raw\":true,\"index\":\"sec ops\"}");
    assert_int_equal(r->ch->common.batch_max_events, 1);
    render(r);
    assert_string_equal(r->req.url, "http://somehost:9000/services/collector/raw?sourcetype=sysdig:secure"
                                    "&source=herald&host=ip-10-0-8-165&index=sec%20ops");
    assert_int_equal(r->req.body.len, r->ev.raw_len);
    assert_memory_equal(r->req.body.p, r->ev.raw, r->ev.raw_len);
    assert_string_equal(fx_header(&r->req, "Authorization"), "Splunk " TOKEN);
    assert_string_equal(fx_header(&r->req, "Content-Type"), "text/plain");

    /* batched raw: one event per line, multi-line documents compacted;
     * mixed sources carry no per-source sourcetype. */
    struct hd_event e2;
    fx_raw_event(&e2, "{\"msg\": \"second\"}");
    make(r, "{\"url\":\"http://somehost:9000\",\"token\":\"" TOKEN
            "\",\"raw\":true,\"batch\":{\"maxEvents\":10}}");
    const struct hd_event *evs[2] = {&r->ev, &e2};
    render_n(r, evs, 2);
    assert_string_equal(r->req.url, "http://somehost:9000/services/collector/raw?source=herald");
    const char *nl = strchr(r->req.body.p, '\n');
    assert_non_null(nl);
    assert_null(strchr(nl + 1, '\n'));
    assert_string_equal(nl + 1, "{\"msg\": \"second\"}");
    char *a = fx_canonical(r->req.body.p, (size_t)(nl - r->req.body.p));
    char *b = fx_canonical(r->ev.raw, r->ev.raw_len);
    assert_non_null(a);
    assert_string_equal(a, b);
    free(a);
    free(b);
    hd_event_clear(&e2);
}

static void test_batch_over_max_bytes(void **state)
{
    struct fx_run *r = *state;
    struct hd_err err = {0};
    make(r, "{\"url\":\"http://hec:8088\",\"token\":\"" TOKEN "\",\"batch\":{\"maxBytes\":2048}}");
    const struct hd_event *evs[2] = {&r->ev, &r->ev};
    assert_int_equal(r->ch->type->render(r->ch, evs, 2, &r->req, &err), HD_ETOOBIG);
    assert_non_null(strstr(err.msg, "maxBytes"));
    render(r); /* one event always renders */
}

static void test_options_rejected(void **state)
{
    (void)state;
    static const struct {
        const char *options;
        const char *msg;
    } cases[] = {
        {"{\"token\":\"t\"}", "options.url"},
        {"{\"url\":\"http://h:8088\"}", "options.token"},
        {"{\"url\":\"http://h:8088\",\"token\":\"sec ret\"}", "options.token"},
        {"{\"url\":\"http://h:8088?x=1\",\"token\":\"t\"}", "query string"},
        {"{\"url\":\"http://h:8088\",\"token\":\"t\",\"index\":\"\"}", "options.index"},
        {"{\"url\":\"http://h:8088\",\"token\":\"t\",\"sourcetype\":\"a\\nb\"}", "options.sourcetype"},
        {"{\"url\":\"http://h:8088\",\"token\":\"t\",\"raw\":\"yes\"}", "options.raw"},
        {"{\"url\":\"http://h:8088\",\"token\":\"t\",\"useAck\":1}", "options.useAck"},
        {"{\"url\":\"http://h:8088\",\"token\":\"t\",\"ackTimeoutMs\":5}", "options.ackTimeoutMs"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hd_err err = {0};
        struct hd_channel *ch = build(cases[i].options, &err);
        if (ch != NULL) {
            hd_channel_free(ch);
            fail_msg("accepted: %s", cases[i].options);
        }
        if (strstr(err.msg, cases[i].msg) == NULL) {
            fail_msg("%s: error '%s' does not name '%s'", cases[i].options, err.msg, cases[i].msg);
        }
        assert_null(strstr(err.msg, "sec ret")); /* the token is never echoed */
    }
}

/* Every code of the fixture table, answered with its real HTTP status. */
static void test_classify_hec_codes(void **state)
{
    struct fx_run *r = *state;
    size_t len = 0;
    char *text = fx_read_file(HEC_CODES, &len);
    assert_non_null(text);
    json_object *codes = hd_json_parse(text, len, NULL);
    free(text);
    assert_non_null(codes);
    assert_int_equal(json_object_array_length(codes), 23);
    make(r, "{\"url\":\"http://hec:8088\",\"token\":\"" TOKEN "\"}");
    struct hd_response resp;
    hd_response_init(&resp);
    for (size_t i = 0; i < json_object_array_length(codes); i++) {
        json_object *c = json_object_array_get_idx(codes, i);
        int64_t code = 0;
        int64_t http = 0;
        assert_true(hd_json_get_i64(c, "code", &code));
        assert_true(hd_json_get_i64(c, "http_status", &http));
        const char *msg = hd_json_get_str(c, "text");
        char body[256];
        snprintf(body, sizeof(body), "{\"text\":\"%s\",\"code\":%lld}", msg, (long long)code);
        fx_response(&resp, (long)http, body);
        struct hd_item_verdict items[2];
        memset(items, 0, sizeof(items));
        enum hd_verdict want = HD_VERDICT_DEAD;
        if (code == 0 || code == 17) {
            want = HD_VERDICT_DELIVERED;
        } else if (code == 8 || code == 9 || (code >= 18 && code <= 20)) {
            want = HD_VERDICT_RETRY;
        }
        enum hd_verdict got = r->ch->type->classify(r->ch, &resp, 2, items);
        if (got != want) {
            fail_msg("code %lld: verdict %d, want %d", (long long)code, got, want);
        }
        for (int k = 0; k < 2; k++) {
            assert_int_equal(items[k].verdict, want);
            assert_int_equal(items[k].status, (int)http);
            if (want != HD_VERDICT_DELIVERED) {
                char expect[256];
                snprintf(expect, sizeof(expect), "HEC code %lld: %s", (long long)code, msg);
                assert_string_equal(items[k].error, expect);
            }
        }
    }
    json_object_put(codes);
    hd_response_clear(&resp);
}

static void test_classify_partial_and_plain(void **state)
{
    struct fx_run *r = *state;
    struct hd_response resp;
    struct hd_item_verdict items[3];
    hd_response_init(&resp);
    make(r, "{\"url\":\"http://hec:8088\",\"token\":\"" TOKEN "\"}");

    /* The real answer of fixtures/splunk/hec_responses_real_sc4s_docs.jsonl:
     * event 0 indexed, 1 bad, 2 never looked at. */
    fx_response(&resp, 400, "{\"text\":\"Incorrect index\",\"code\":7,\"invalid-event-number\":1}");
    assert_int_equal(r->ch->type->classify(r->ch, &resp, 3, items), HD_VERDICT_DEAD);
    assert_int_equal(items[0].verdict, HD_VERDICT_DELIVERED);
    assert_int_equal(items[1].verdict, HD_VERDICT_DEAD);
    assert_string_equal(items[1].error, "HEC code 7: Incorrect index (event 1 of the batch)");
    assert_int_equal(items[2].verdict, HD_VERDICT_RETRY);

    fx_response(&resp, 503, NULL); /* a proxy without a HEC body */
    assert_int_equal(r->ch->type->classify(r->ch, &resp, 1, items), HD_VERDICT_RETRY);
    fx_response(&resp, 429, "Too Many Requests");
    assert_int_equal(r->ch->type->classify(r->ch, &resp, 1, items), HD_VERDICT_RETRY);
    assert_string_equal(items[0].error, "HTTP 429: Too Many Requests");
    fx_response(&resp, 404, "{\"text\":\"The requested URL was not found on this server.\",\"code\":404}");
    assert_int_equal(r->ch->type->classify(r->ch, &resp, 1, items), HD_VERDICT_DEAD);
    fx_response(&resp, 0, NULL);
    snprintf(resp.error, sizeof(resp.error), "Couldn't connect to server");
    assert_int_equal(r->ch->type->classify(r->ch, &resp, 1, items), HD_VERDICT_RETRY);
    assert_string_equal(items[0].error, "Couldn't connect to server");
    fx_response(&resp, 200, "{\"text\":\"Success\",\"code\":0}");
    assert_int_equal(r->ch->type->classify(r->ch, &resp, 1, items), HD_VERDICT_DELIVERED);
    int64_t id = -1;
    assert_int_equal(r->ch->type->ack_id(r->ch, &resp, &id), 0); /* no ackId */
    hd_response_clear(&resp);
}

static int is_guid(const char *s)
{
    if (s == NULL || strlen(s) != 36) {
        return 0;
    }
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : strchr("0123456789abcdef", s[i]) == NULL) {
            return 0;
        }
    }
    return 1;
}

static void test_ack(void **state)
{
    struct fx_run *r = *state;
    struct hd_err err = {0};
    make(r, "{\"url\":\"http://hec:8088\",\"token\":\"" TOKEN "\"}");
    assert_int_equal(r->ch->ack_timeout_ms, 0); /* off unless asked */
    make(r, "{\"url\":\"http://hec:8088\",\"token\":\"" TOKEN "\",\"useAck\":true}");
    assert_int_equal(r->ch->ack_timeout_ms, 60000);
    render(r);
    const char *guid = fx_header(&r->req, "X-Splunk-Request-Channel");
    assert_true(is_guid(guid));
    char keep[37];
    snprintf(keep, sizeof(keep), "%s", guid);

    struct hd_response resp;
    hd_response_init(&resp);
    fx_response(&resp, 200, "{\"text\":\"Success\",\"code\":0,\"ackId\":7}");
    int64_t id = -1;
    assert_int_equal(r->ch->type->ack_id(r->ch, &resp, &id), 1);
    assert_int_equal(id, 7);

    const int64_t ids[3] = {0, 5, 7};
    hd_request_clear(&r->req);
    hd_request_init(&r->req);
    assert_int_equal(r->ch->type->ack_render(r->ch, ids, 3, &r->req, &err), HD_OK);
    assert_string_equal(r->req.url, "http://hec:8088/services/collector/ack");
    assert_string_equal(r->req.body.p, "{\"acks\":[0,5,7]}");
    assert_string_equal(fx_header(&r->req, "X-Splunk-Request-Channel"), keep); /* same channel as the data */
    assert_string_equal(fx_header(&r->req, "Authorization"), "Splunk " TOKEN);

    unsigned char conf[3] = {0};
    fx_response(&resp, 200, "{\"acks\":{\"0\":true,\"5\":false,\"7\":true}}");
    assert_int_equal(r->ch->type->ack_classify(r->ch, &resp, ids, 3, conf), 2);
    assert_int_equal(conf[0], 1);
    assert_int_equal(conf[1], 0);
    assert_int_equal(conf[2], 1);
    memset(conf, 0, sizeof(conf));
    fx_response(&resp, 503, "{\"text\":\"Server is busy\",\"code\":9}");
    assert_true(r->ch->type->ack_classify(r->ch, &resp, ids, 3, conf) < 0);
    assert_int_equal(conf[0] + conf[1] + conf[2], 0);
    hd_response_clear(&resp);

    make(r, "{\"url\":\"http://hec:8088\",\"token\":\"" TOKEN "\",\"useAck\":true,\"ackTimeoutMs\":1500}");
    assert_int_equal(r->ch->ack_timeout_ms, 1500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_event_envelope_golden, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_event_batch_and_options, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_raw_mode, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_batch_over_max_bytes, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_options_rejected, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_classify_hec_codes, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_classify_partial_and_plain, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_ack, fx_run_setup, fx_run_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
