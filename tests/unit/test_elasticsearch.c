/* test_elasticsearch.c - ELASTICSEARCH render (golden: _bulk NDJSON, index
 * date pattern, splice of the original bytes, gzip, auth) and classify
 * (per-item verdicts from the real _bulk answers in tests/fixtures/elasticsearch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>
#include <zlib.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel_fixture.h"

#define ES_FX HD_FIXTURES "/elasticsearch/"
#define BULK_URL "http://es:9200/_bulk?filter_path=errors,items.*.status,items.*.error"

struct run {
    struct hd_event ev[3];
    struct hd_channel *ch;
    struct hd_request req;
};

static int setup(void **state)
{
    struct run *r = calloc(1, sizeof(*r));
    if (r == NULL || fx_secure_event(&r->ev[0]) != 0) {
        free(r);
        return -1;
    }
    fx_raw_event(&r->ev[1], "{\"a\":1}");
    r->ev[1].ts_us = 1546300799000000LL; /* 2018-12-31T23:59:59Z */
    fx_raw_event(&r->ev[2], "{\n  \"b\": \"two\\nlines\",\n  \"c\": [1,\r\n 2]\n}\n");
    r->ev[2].ts_us = 1546300800000000LL; /* 2019-01-01T00:00:00Z */
    memcpy(r->ev[2].id, "22222222222222222222222222222222", 33);
    hd_request_init(&r->req);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    struct run *r = *state;
    for (size_t i = 0; i < 3; i++) {
        hd_event_clear(&r->ev[i]);
    }
    hd_channel_free(r->ch);
    hd_request_clear(&r->req);
    free(r);
    return 0;
}

static void make(struct run *r, const char *options)
{
    fx_channel_make(&r->ch, "ELASTICSEARCH", 9, "es", options);
    assert_true(r->ch->type->max_batch >= 1000);
}

static void expect_config_error(const char *options, const char *needle)
{
    fx_expect_config_error("ELASTICSEARCH", 9, "es", options, needle);
}

static int render_n(struct run *r, size_t n, struct hd_err *err)
{
    const struct hd_event *evs[3] = {&r->ev[0], &r->ev[1], &r->ev[2]};
    hd_request_clear(&r->req);
    return r->ch->type->render(r->ch, evs, n, &r->req, err);
}

static void render(struct run *r, size_t n)
{
    const struct hd_event *evs[3] = {&r->ev[0], &r->ev[1], &r->ev[2]};
    fx_render(r->ch, evs, n, &r->req);
}

/* Splits the NDJSON body into lines (the body must end with '\n'). */
static size_t lines_of(const struct hd_buf *body, struct hd_str *out, size_t max)
{
    size_t n = 0;
    const char *p = body->p;
    const char *end = body->p + body->len;
    assert_true(body->len > 0 && end[-1] == '\n');
    while (p < end && n < max) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        out[n].p = p;
        out[n].len = (size_t)(nl - p);
        n++;
        p = nl + 1;
    }
    return n;
}

static json_object *parse_line(const struct hd_str *l)
{
    struct hd_err err = {0};
    json_object *o = hd_json_parse(l->p, l->len, &err);
    if (o == NULL) {
        fail_msg("line is not JSON: %s: %.*s", err.msg, (int)l->len, l->p);
    }
    return o;
}

/* The article's event: action line, then the original bytes with the three
 * ES defaults spliced in before the closing brace. */
static void test_render_article(void **state)
{
    struct run *r = *state;
    make(r, "{\"url\":\"http://es:9200/\",\"index\":\"herald-%Y.%m.%d\"}");
    render(r, 1);
    assert_string_equal(r->req.method, "POST");
    assert_string_equal(r->req.url, BULK_URL);
    assert_int_equal(fx_header_count(&r->req, "Content-Type: application/x-ndjson"), 1);
    assert_int_equal(r->req.n_headers, 1);
    struct hd_str l[4];
    assert_int_equal(lines_of(&r->req.body, l, 4), 2);
    const char *action =
        "{\"create\":{\"_index\":\"herald-2018.02.17\",\"_id\":\"0123456789abcdef0123456789abcdef\"}}";
    assert_int_equal(l[0].len, strlen(action));
    assert_memory_equal(l[0].p, action, l[0].len);

    json_object *doc = parse_line(&l[1]);
    assert_int_equal(json_object_get_int64(hd_json_path(doc, "estimestamp")), 1518849360000LL);
    assert_int_equal(json_object_get_int64(hd_json_path(doc, "timestamp")), SECURE_TS_US);
    assert_string_equal(json_object_get_string(hd_json_path(doc, "@timestamp")), "2018-02-17T06:36:00.000Z");
    assert_int_equal(json_object_get_int(hd_json_path(doc, "herald.severity")), 4);
    assert_string_equal(json_object_get_string(hd_json_path(doc, "herald.k8s.namespace")),
                        "example-java-app");
    assert_string_equal(json_object_get_string(hd_json_path(doc, "herald.id")),
                        "0123456789abcdef0123456789abcdef");
    json_object_put(doc);

    /* Spliced, not re-serialized: the original bytes up to the closing brace,
     * newlines turned into spaces. */
    const char *close = strrchr(r->ev[0].raw, '}');
    size_t keep = (size_t)(close - r->ev[0].raw);
    while (keep > 0 && (r->ev[0].raw[keep - 1] == '\n' || r->ev[0].raw[keep - 1] == ' ')) {
        keep--;
    }
    assert_true(l[1].len > keep);
    for (size_t i = 0; i < keep; i++) {
        char want = r->ev[0].raw[i] == '\n' || r->ev[0].raw[i] == '\r' ? ' ' : r->ev[0].raw[i];
        if (l[1].p[i] != want) {
            fail_msg("byte %zu differs from the original", i);
        }
    }
}

/* Index per event from its time (UTC), a pretty-printed original on one line. */
static void test_render_batch_index_pattern(void **state)
{
    struct run *r = *state;
    make(r, "{\"url\":\"http://es:9200\",\"index\":\"sysdig-%Y.%m.%d\",\"opType\":\"index\"}");
    render(r, 3);
    struct hd_str l[8];
    assert_int_equal(lines_of(&r->req.body, l, 8), 6);
    const char *a1 =
        "{\"index\":{\"_index\":\"sysdig-2018.12.31\",\"_id\":\"fedcba9876543210fedcba9876543210\"}}";
    const char *a2 =
        "{\"index\":{\"_index\":\"sysdig-2019.01.01\",\"_id\":\"22222222222222222222222222222222\"}}";
    assert_memory_equal(l[2].p, a1, strlen(a1));
    assert_memory_equal(l[4].p, a2, strlen(a2));
    json_object *d1 = parse_line(&l[3]);
    assert_int_equal(json_object_get_int(hd_json_path(d1, "a")), 1);
    assert_string_equal(json_object_get_string(hd_json_path(d1, "@timestamp")), "2018-12-31T23:59:59.000Z");
    json_object_put(d1);
    json_object *d2 = parse_line(&l[5]);
    assert_string_equal(json_object_get_string(hd_json_path(d2, "b")), "two\nlines");
    assert_int_equal(json_object_array_length(hd_json_path(d2, "c")), 2);
    assert_int_equal(json_object_get_int64(hd_json_path(d2, "estimestamp")), 1546300800000LL);
    json_object_put(d2);

    /* Other conversions; a fixed name. */
    make(r, "{\"url\":\"http://es:9200\",\"index\":\"w-%G.%V-%H\"}");
    render(r, 2);
    assert_non_null(strstr(r->req.body.p, "\"_index\":\"w-2018.07-06\""));
    assert_non_null(strstr(r->req.body.p, "\"_index\":\"w-2019.01-23\""));
    make(r, "{\"url\":\"http://es:9200\",\"index\":\"alerts\"}");
    render(r, 1);
    assert_non_null(strstr(r->req.body.p, "\"_index\":\"alerts\""));
}

/* Users may switch defaults off (null) or template the document. */
static void test_render_transform_overrides(void **state)
{
    struct run *r = *state;
    make(r, "{\"url\":\"http://"
            "es:9200\",\"index\":\"x\",\"transform\":{\"isoField\":null,\"addNormalized\":false,"
            "\"millisField\":\"ms\"}}");
    render(r, 1);
    struct hd_str l[4];
    assert_int_equal(lines_of(&r->req.body, l, 4), 2);
    json_object *doc = parse_line(&l[1]);
    assert_int_equal(json_object_get_int64(hd_json_path(doc, "ms")), 1518849360000LL);
    assert_null(hd_json_path(doc, "@timestamp"));
    assert_null(hd_json_path(doc, "herald"));
    assert_null(hd_json_path(doc, "estimestamp"));
    json_object_put(doc);
    make(r, "{\"url\":\"http://"
            "es:9200\",\"index\":\"x\",\"template\":{\"n\":\"{{name}}\",\"s\":\"{{severity}}\"}}");
    render(r, 1);
    assert_non_null(strstr(r->req.body.p,
                           "\n{\"n\":\"Policy 59: FILE POLICY: Read sensitive file untrusted\",\"s\":4}\n"));
}

static void test_render_gzip(void **state)
{
    struct run *r = *state;
    make(r, "{\"url\":\"http://es:9200\",\"index\":\"herald-%Y.%m.%d\"}");
    render(r, 3);
    struct hd_buf plain;
    hd_buf_init(&plain, 0);
    assert_int_equal(hd_buf_append(&plain, r->req.body.p, r->req.body.len), HD_OK);
    make(r, "{\"url\":\"http://es:9200\",\"index\":\"herald-%Y.%m.%d\",\"compress\":true}");
    render(r, 3);
    assert_int_equal(fx_header_count(&r->req, "Content-Encoding: gzip"), 1);
    assert_int_equal(fx_header_count(&r->req, "Content-Type: application/x-ndjson"), 1);
    assert_true(r->req.body.len > 10 && (unsigned char)r->req.body.p[0] == 0x1f &&
                (unsigned char)r->req.body.p[1] == 0x8b);
    assert_true(r->req.body.len < plain.len);
    char *out = malloc(plain.len + 16);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)r->req.body.p;
    zs.avail_in = (uInt)r->req.body.len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)(plain.len + 16);
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, plain.len);
    assert_memory_equal(out, plain.p, plain.len);
    inflateEnd(&zs);
    free(out);
    hd_buf_free(&plain);
}

static void test_render_auth_and_pipeline(void **state)
{
    struct run *r = *state;
    make(r,
         "{\"url\":\"https://es:9243/\",\"index\":\"h\",\"username\":\"elastic\",\"password\":\"changeme\","
         "\"pipeline\":\"herald-datetrim\",\"timeoutMs\":1500}");
    render(r, 1);
    assert_string_equal(r->req.url, "https://es:9243/_bulk?filter_path=errors,items.*.status,items.*.error"
                                    "&pipeline=herald-datetrim");
    assert_int_equal(fx_header_count(&r->req, "Authorization: Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="), 1);
    assert_int_equal(r->req.timeout_ms, 1500);
    make(r, "{\"url\":\"http://"
            "es:9200\",\"index\":\"h\",\"apiKey\":"
            "\"VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==\"}");
    render(r, 1);
    assert_int_equal(
        fx_header_count(&r->req,
                        "Authorization: ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="),
        1);
    /* "id:api_key" as shown by the create API key answer is encoded for us. */
    make(r, "{\"url\":\"http://"
            "es:9200\",\"index\":\"h\",\"apiKey\":\"VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw\"}");
    render(r, 1);
    assert_int_equal(
        fx_header_count(&r->req,
                        "Authorization: ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="),
        1);
    make(r, "{\"url\":\"http://es:9200/"
            "_bulk\",\"index\":\"h\",\"additionalHeaders\":{\"Authorization\":\"Bearer x\","
            "\"X-Opaque-Id\":\"herald\"}}");
    render(r, 1);
    assert_string_equal(r->req.url, "http://es:9200/_bulk?filter_path=errors,items.*.status,items.*.error");
    assert_int_equal(fx_header_count(&r->req, "Authorization: Bearer x"), 1);
    assert_int_equal(fx_header_count(&r->req, "X-Opaque-Id: herald"), 1);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_config_error("{\"index\":\"h\"}", "options.url: required");
    expect_config_error("{\"url\":\"http://es:9200\"}", "options.index: required");
    expect_config_error("{\"url\":\"http://es:9200\",\"index\":\"Herald\"}", "options.index");
    expect_config_error("{\"url\":\"http://es:9200\",\"index\":\"_h\"}", "must not start");
    expect_config_error("{\"url\":\"http://es:9200\",\"index\":\"h-%M\"}", "options.index: at position 3");
    expect_config_error("{\"url\":\"http://es:9200\",\"index\":\"h\",\"username\":\"u\"}",
                        "options.password");
    expect_config_error("{\"url\":\"http://es:9200\",\"index\":\"h\",\"username\":\"u\",\"password\":\"p\","
                        "\"apiKey\":\"k\"}",
                        "options.apiKey");
    expect_config_error("{\"url\":\"http://es:9200\",\"index\":\"h\",\"apiKey\":\"k\","
                        "\"additionalHeaders\":{\"Authorization\":\"x\"}}",
                        "additionalHeaders.Authorization");
    expect_config_error("{\"url\":\"http://es:9200/?pretty\",\"index\":\"h\"}", "options.url");
    expect_config_error("{\"url\":\"http://es:9200\",\"index\":\"h\",\"opType\":\"update\"}",
                        "options.opType");
}

/* Over batch.maxBytes: refused so the dispatcher halves; one event always goes. */
static void test_render_max_bytes(void **state)
{
    struct run *r = *state;
    struct hd_err err = {0};
    make(r, "{\"url\":\"http://es:9200\",\"index\":\"h\",\"batch\":{\"maxBytes\":1024}}");
    assert_int_equal(render_n(r, 3, &err), HD_ETOOBIG);
    assert_non_null(strstr(err.msg, "maxBytes"));
    render(r, 1);
    assert_true(r->req.body.len > 1024);
}

/* ---- classify ---- */

static void load(struct hd_response *resp, long status, const char *file)
{
    char path[512];
    size_t len = 0;
    snprintf(path, sizeof(path), ES_FX "%s", file);
    char *text = fx_read_file(path, &len);
    assert_non_null(text);
    fx_response(resp, status, NULL);
    assert_int_equal(hd_buf_append(&resp->body, text, len), HD_OK);
    free(text);
}

static enum hd_verdict classify(struct run *r, const struct hd_response *resp, size_t n,
                                struct hd_item_verdict *items)
{
    for (size_t i = 0; i < n; i++) {
        memset(&items[i], 0, sizeof(items[i]));
        items[i].status = -1;
    }
    return r->ch->type->classify(r->ch, resp, n, items);
}

static void test_classify_fixtures(void **state)
{
    struct run *r = *state;
    struct hd_response resp;
    struct hd_item_verdict it[8];
    make(r, "{\"url\":\"http://es:9200\",\"index\":\"h\"}");
    hd_response_init(&resp);

    load(&resp, 200, "es_bulk_item_400_mapper_parsing_exception.json");
    assert_int_equal(classify(r, &resp, 1, it), HD_VERDICT_DELIVERED);
    assert_int_equal(it[0].verdict, HD_VERDICT_DEAD);
    assert_int_equal(it[0].status, 400);
    assert_string_equal(it[0].error, "mapper_parsing_exception: failed to parse");

    load(&resp, 200, "es_bulk_item_429_es_rejected_execution_exception.json");
    assert_int_equal(classify(r, &resp, 1, it), HD_VERDICT_RETRY); /* nothing got in */
    assert_int_equal(it[0].verdict, HD_VERDICT_RETRY);
    assert_int_equal(it[0].status, 429);
    assert_string_equal(it[0].error, "es_rejected_execution_exception: rejected execution of "
                                     "org.elasticsearch.transport.TransportService");

    load(&resp, 200, "es_bulk_mixed_201_409_400_500.json");
    assert_int_equal(classify(r, &resp, 8, it), HD_VERDICT_DELIVERED);
    static const enum hd_verdict want[8] = {HD_VERDICT_DELIVERED, HD_VERDICT_RETRY, HD_VERDICT_DELIVERED,
                                            HD_VERDICT_RETRY,     HD_VERDICT_DEAD,  HD_VERDICT_DEAD,
                                            HD_VERDICT_RETRY,     HD_VERDICT_RETRY};
    static const int want_status[8] = {201, 500, 409, 500, 400, 400, 500, 500};
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(it[i].verdict, want[i]);
        assert_int_equal(it[i].status, want_status[i]);
    }
    assert_string_equal(it[0].error, "");
    assert_string_equal(it[2].error, "");
    assert_string_equal(it[1].error, "some unrecognized type: unrecognized error");
    assert_string_equal(it[3].error, "error: unrecognized error - no type field");
    assert_string_equal(it[4].error, "mapper_parsing_exception: failed to parse");
    assert_non_null(strstr(it[7].error, "json_parse_exception: Invalid UTF-8 start byte 0x92"));

    load(&resp, 200, "es_spec_BulkResponseExample2_404_document_missing.json");
    assert_int_equal(classify(r, &resp, 3, it), HD_VERDICT_DELIVERED);
    assert_int_equal(it[0].verdict, HD_VERDICT_DEAD);
    assert_int_equal(it[0].status, 404);
    assert_string_equal(it[0].error, "document_missing_exception: [5]: document missing");
    assert_int_equal(it[1].verdict, HD_VERDICT_DEAD);
    assert_int_equal(it[2].verdict, HD_VERDICT_DELIVERED);
    assert_int_equal(it[2].status, 201);

    load(&resp, 200, "go_es_esutil_bulk_response_2_409_404.json");
    assert_int_equal(classify(r, &resp, 4, it), HD_VERDICT_DELIVERED);
    assert_int_equal(it[0].verdict, HD_VERDICT_DELIVERED);
    assert_int_equal(it[1].verdict, HD_VERDICT_DELIVERED);
    assert_int_equal(it[1].status, 409);
    assert_int_equal(it[2].verdict, HD_VERDICT_DEAD);
    assert_string_equal(it[2].error, "item status 404");
    assert_int_equal(it[3].verdict, HD_VERDICT_DELIVERED);

    /* Fewer results than items: the missing ones are retried. */
    load(&resp, 200, "es_bulk_item_400_mapper_parsing_exception.json");
    assert_int_equal(classify(r, &resp, 2, it), HD_VERDICT_DELIVERED);
    assert_int_equal(it[0].verdict, HD_VERDICT_DEAD);
    assert_int_equal(it[1].verdict, HD_VERDICT_RETRY);
    assert_non_null(strstr(it[1].error, "no result"));
    hd_response_clear(&resp);
}

static void test_classify_whole_request(void **state)
{
    struct run *r = *state;
    struct hd_response resp;
    struct hd_item_verdict it[3];
    make(r, "{\"url\":\"http://es:9200\",\"index\":\"h\"}");
    hd_response_init(&resp);

    /* errors:false: no parse, every item takes the overall verdict. */
    fx_response(&resp, 200,
                "{\"errors\":false,\"items\":[{\"create\":{\"status\":201}},{\"create\":{\"status\":201}}]}");
    assert_int_equal(classify(r, &resp, 2, it), HD_VERDICT_DELIVERED);
    assert_int_equal(it[0].status, -1);
    fx_response(&resp, 200, "{\"took\":3,\"ingest_took\":0,\"errors\" : false,\"items\":[]}");
    assert_int_equal(classify(r, &resp, 2, it), HD_VERDICT_DELIVERED);

    fx_response(
        &resp, 429,
        "{\"error\":{\"root_cause\":[{\"type\":\"es_rejected_execution_exception\",\"reason\":\"rejected "
        "execution of coordinating operation\"}],\"type\":\"es_rejected_execution_exception\",\"reason\":"
        "\"rejected execution of coordinating operation\"},\"status\":429}");
    resp.retry_after_ms = 2000;
    assert_int_equal(classify(r, &resp, 3, it), HD_VERDICT_RETRY);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(it[i].verdict, HD_VERDICT_RETRY);
        assert_int_equal(it[i].status, 429);
        assert_string_equal(
            it[i].error,
            "HTTP 429 es_rejected_execution_exception: rejected execution of coordinating operation");
    }
    fx_response(&resp, 503,
                "{\"error\":{\"type\":\"cluster_block_exception\",\"reason\":\"blocked\"},\"status\":503}");
    assert_int_equal(classify(r, &resp, 1, it), HD_VERDICT_RETRY);

    fx_response(&resp, 401,
                "{\"error\":{\"root_cause\":[],\"type\":\"security_exception\",\"reason\":\"missing "
                "authentication credentials for REST request [/_bulk]\"},\"status\":401}");
    assert_int_equal(classify(r, &resp, 2, it), HD_VERDICT_DEAD);
    assert_int_equal(it[1].verdict, HD_VERDICT_DEAD);
    assert_string_equal(
        it[1].error,
        "HTTP 401 security_exception: missing authentication credentials for REST request [/_bulk]");
    fx_response(&resp, 406,
                "{\"error\":\"Content-Type header [text/plain] is not supported\",\"status\":406}");
    assert_int_equal(classify(r, &resp, 1, it), HD_VERDICT_DEAD);
    assert_string_equal(it[0].error, "HTTP 406 Content-Type header [text/plain] is not supported");
    fx_response(&resp, 400, "not json");
    assert_int_equal(classify(r, &resp, 1, it), HD_VERDICT_DEAD);
    assert_string_equal(it[0].error, "HTTP 400 not json");

    /* A 2xx answer that is not a _bulk answer: retried, never lost. */
    fx_response(&resp, 200, "<html>proxy</html>");
    assert_int_equal(classify(r, &resp, 2, it), HD_VERDICT_RETRY);
    assert_int_equal(it[1].verdict, HD_VERDICT_RETRY);
    assert_non_null(strstr(it[1].error, "unreadable _bulk answer"));

    hd_response_clear(&resp);
    hd_response_init(&resp);
    resp.status = 0;
    snprintf(resp.error, sizeof(resp.error), "Couldn't connect to server");
    assert_int_equal(classify(r, &resp, 2, it), HD_VERDICT_RETRY);
    assert_string_equal(it[0].error, "Couldn't connect to server");
    hd_response_clear(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_render_article, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_batch_index_pattern, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_transform_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_auth_and_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_max_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classify_fixtures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classify_whole_request, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
