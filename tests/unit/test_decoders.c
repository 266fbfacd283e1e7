/* test_decoders.c - body splitting, the Sysdig and generic decoders, event
 * helpers. Fixtures are the real payloads of tests/fixtures/. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "input/decoder.h"
#include "model/event.h"

#include "fixture_util.h"

static void assert_str_or_null(const char *got, const char *want, const char *what)
{
    if (want == NULL) {
        if (got != NULL) {
            fail_msg("%s: expected absent, got '%s'", what, got);
        }
        return;
    }
    if (got == NULL || strcmp(got, want) != 0) {
        fail_msg("%s: expected '%s', got '%s'", what, want, got ? got : "(null)");
    }
}

/* Decodes a string body expecting success; returns the number of events. */
static size_t decode_ok(const char *body, const char *ct, const char *fmt, struct hd_batch *b)
{
    struct hd_err err = {0};
    int rc = hd_ingest_decode(body, strlen(body), ct, fmt, b, &err);
    if (rc != HD_OK) {
        fail_msg("decode failed: %s (body: %.80s)", err.msg, body);
    }
    return b->n;
}

static void expect_error_s(const char *body, const char *ct, const char *fmt, const char *sub1,
                           const char *sub2)
{
    fx_expect_decode_error(body, strlen(body), ct, fmt, sub1, sub2);
}

/* ------------------------------------------------------------ fixtures */

struct sysdig_case {
    const char *file;
    const char *source;
    int64_t ts_us;
    int severity;
    enum hd_state state;
    const char *name;
    const char *host;
    const char *container_id;
    const char *ns, *pod, *container;
    const char *url;
    const char *rule; /* a substring expected in labels, or NULL */
};

static const struct sysdig_case sysdig_cases[] = {
    {"sysdig_blog2018_secure_webhook_read_sensitive_file.json", "sysdig_secure", 1518849360000000, 4,
     HD_STATE_ACTIVE, "Policy 59: FILE POLICY: Read sensitive file untrusted", "ip-10-0-8-165",
     "57c1820a87f1", "example-java-app", "redis-3463099497-2xxw3", "ftest",
     "https://secure.sysdigrp2rs.wpengine.com/#/events/f:1518849300,t:1518849360",
     "\"rule\":\"Read sensitive file untrusted\""},
    {"sysdig_docs_event_forwarding_runtime_policy_event.json", "sysdig_secure", 1606322948648718, 0,
     HD_STATE_ACTIVE, "Notable Filesystem Changes", "ardbox", NULL, NULL, NULL, NULL, NULL,
     "\"rule\":\"Write below etc\""},
    {"sysdig_monitor_webhook_metric_alert_active.json", "sysdig_monitor", 1471457820000000, 4,
     HD_STATE_ACTIVE, "alertName", "sergio-virtual-machine", NULL, NULL, NULL, NULL,
     "http://app.sysdigcloud.com/#/alerting/notifications/l:604800/1/details",
     "\"condition\":\"timeAvg(cpu.used.percent) > 10\""},
    {"sysdig_monitor_webhook_test_notification_2022.json", "sysdig_monitor", 1663014917135000, 4,
     HD_STATE_ACTIVE, "TEST ALERT: Testing Notification Channel Rocketchat-alert-channel-MDS",
     "08:00:27:70:1a:03", NULL, NULL, NULL, NULL,
     "https://app.sysdigcloud.com/#/events/notifications/l:604800/1680/details",
     "\"containerName\":\"container1_0\""},
    {"sysdig_secure_policy_event_api_container.json", "sysdig_secure", 1568647020401652, 4, HD_STATE_ACTIVE,
     "Write below root", "42:01:0a:9c:0f:ce", "c8c4d64fe7a5", NULL, NULL, NULL, NULL,
     "\"policyId\":\"2872\""},
    {"sysdig_secure_policy_event_api_host.json", "sysdig_secure", 1524580559176584, 3, HD_STATE_ACTIVE,
     "Write below root", "instance-docker", NULL, NULL, NULL, NULL, NULL,
     "\"rule\":\"Write below binary dir\""},
    {"sysdig_secure_webhook_policy_terminal_shell.json", "sysdig_secure", 1524066120000000, 5,
     HD_STATE_ACTIVE, "Policy 3136: Terminal shell in container", "gke-demo-default-pool-1af4d30b-716h",
     "60a3478041e2", "wp-demo", "wordpress-7984c4d898-rfrwl", "wordpress",
     "https://secure.sysdig.com/#/events/f:1524066060,t:1524066120",
     "\"policyName\":\"Terminal shell in container\""},
};
#define N_SYSDIG_CASES (sizeof(sysdig_cases) / sizeof(sysdig_cases[0]))

static void check_sysdig_case(const struct sysdig_case *tc, const char *fmt)
{
    char rel[256];
    size_t len = 0;
    snprintf(rel, sizeof(rel), "sysdig/%s", tc->file);
    char *body = fx_read_fixture(rel, &len);
    struct hd_batch b;
    struct hd_err err = {0};
    hd_batch_init(&b);
    int rc = hd_ingest_decode(body, len, "application/json", fmt, &b, &err);
    if (rc != HD_OK) {
        fail_msg("%s: %s", tc->file, err.msg);
    }
    assert_int_equal(b.n, 1);
    const struct hd_event *ev = &b.ev[0];
    assert_str_or_null(ev->source, tc->source, "source");
    if (ev->ts_us != tc->ts_us) {
        fail_msg("%s: ts_us %lld != %lld", tc->file, (long long)ev->ts_us, (long long)tc->ts_us);
    }
    assert_int_equal(ev->severity, tc->severity);
    assert_int_equal(ev->state, tc->state);
    assert_str_or_null(ev->name, tc->name, "name");
    assert_str_or_null(ev->host, tc->host, "host");
    assert_str_or_null(ev->container_id, tc->container_id, "containerId");
    assert_str_or_null(ev->k8s_namespace, tc->ns, "k8s.namespace");
    assert_str_or_null(ev->k8s_pod, tc->pod, "k8s.pod");
    assert_str_or_null(ev->k8s_container, tc->container, "k8s.container");
    assert_str_or_null(ev->url, tc->url, "url");
    assert_non_null(ev->description);
    assert_non_null(ev->labels);
    if (tc->rule != NULL && strstr(ev->labels, tc->rule) == NULL) {
        fail_msg("%s: labels %s lack %s", tc->file, ev->labels, tc->rule);
    }
    assert_non_null(ev->alert_key);
    assert_true(strncmp(ev->alert_key, "sysdig:", 7) == 0);
    assert_int_equal(strlen(ev->id), 32);
    assert_int_equal(ev->recv_us > 0, 1);
    /* raw: the document's bytes exactly (the file minus surrounding blanks) */
    size_t a = 0, z = len;
    while (a < z && strchr(" \t\r\n", body[a])) {
        a++;
    }
    while (z > a && strchr(" \t\r\n", body[z - 1])) {
        z--;
    }
    assert_int_equal(ev->raw_len, z - a);
    assert_memory_equal(ev->raw, body + a, z - a);
    assert_int_equal(ev->raw[ev->raw_len], '\0');
    /* the normalized JSON parses and carries the fields */
    struct hd_buf js;
    hd_buf_init(&js, 0);
    assert_int_equal(hd_event_to_json(ev, 1, &js), HD_OK);
    json_object *o = hd_json_parse(js.p, js.len, &err);
    if (o == NULL) {
        fail_msg("to_json not JSON: %s: %s", err.msg, js.p);
    }
    assert_string_equal(hd_json_get_str(o, "source"), tc->source);
    int64_t tsv = 0;
    assert_true(hd_json_get_i64(o, "timestampUs", &tsv));
    assert_true(tsv == tc->ts_us);
    assert_true(json_object_is_type(hd_json_path(o, "raw"), json_type_object));
    assert_true(json_object_is_type(hd_json_path(o, "labels"), json_type_object));
    if (tc->ns != NULL) {
        assert_string_equal(json_object_get_string(hd_json_path(o, "k8s.namespace")), tc->ns);
    } else {
        assert_null(hd_json_path(o, "k8s"));
    }
    json_object_put(o);
    hd_buf_free(&js);
    hd_batch_free(&b);
    free(body);
}

static void test_sysdig_fixtures_detected(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_SYSDIG_CASES; i++) {
        check_sysdig_case(&sysdig_cases[i], NULL);
    }
}

static void test_sysdig_fixtures_forced(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_SYSDIG_CASES; i++) {
        check_sysdig_case(&sysdig_cases[i], "sysdig");
    }
}

/* Every event fixture of tests/fixtures/sysdig has a row above. */
static void test_sysdig_fixtures_all_covered(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/sysdig", HD_FIXTURES);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    size_t seen = 0;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        size_t l = strlen(n);
        if (l < 5 || strcmp(n + l - 5, ".json") != 0 || strstr(n, "notificationChannel") != NULL) {
            continue;
        }
        int found = 0;
        for (size_t i = 0; i < N_SYSDIG_CASES; i++) {
            found |= strcmp(sysdig_cases[i].file, n) == 0;
        }
        if (!found) {
            fail_msg("fixture sysdig/%s has no test row", n);
        }
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, N_SYSDIG_CASES);
}

static void not_sysdig(const char *dir, const char *name, const char *rel, const char *body, size_t len,
                       void *ctx)
{
    size_t *decoded = ctx;
    struct hd_batch b;
    struct hd_err err = {0};
    (void)dir;
    hd_batch_init(&b);
    int rc =
        hd_ingest_decode(body, len, fx_is_ndjson_name(name) ? "application/x-ndjson" : NULL, NULL, &b, &err);
    if (rc == HD_OK) {
        for (size_t i = 0; i < b.n; i++) {
            if (strncmp(b.ev[i].source, "sysdig", 6) == 0) {
                fail_msg("%s document %zu taken for Sysdig", rel, i + 1);
            }
        }
        *decoded += b.n;
    } else if (strstr(err.msg, "expected a JSON object") == NULL) {
        /* only top-level arrays of non-objects may be refused */
        fail_msg("%s: %s", rel, err.msg);
    }
    hd_batch_free(&b);
}

/* Payloads of other sources must never be taken for Sysdig; every JSON
 * fixture of the repository decodes (as one of the known sources). */
static void test_other_fixtures_not_sysdig(void **state)
{
    (void)state;
    static const char *const dirs[] = {"falco", "alertmanager", "k8s", "docker", "elasticsearch", "splunk"};
    size_t decoded = 0;
    for (size_t k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++) {
        fx_each_fixture(dirs[k], 0, not_sysdig, &decoded);
    }
    assert_true(decoded > 10);
}

/* ------------------------------------------------------------ ids and keys */

static char *replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    assert_non_null(p);
    size_t n = strlen(s) - strlen(from) + strlen(to);
    char *r = malloc(n + 1);
    size_t a = (size_t)(p - s);
    memcpy(r, s, a);
    memcpy(r + a, to, strlen(to));
    memcpy(r + a + strlen(to), p + strlen(from), strlen(p + strlen(from)) + 1);
    return r;
}

static void test_sysdig_ids(void **state)
{
    (void)state;
    size_t len = 0;
    char *active = fx_read_fixture("sysdig/sysdig_monitor_webhook_metric_alert_active.json", &len);
    char *ok = replace(active, "\"state\": \"ACTIVE\"", "\"state\": \"OK\"");
    char *resolved = replace(active, "\"resolved\": false", "\"resolved\": true");
    char *later = replace(active, "1471457820000000", "1471457880000000");
    struct hd_batch b;
    hd_batch_init(&b);
    decode_ok(active, NULL, NULL, &b);
    decode_ok(active, NULL, NULL, &b); /* re-sent: same id */
    decode_ok(ok, NULL, NULL, &b);
    decode_ok(resolved, NULL, NULL, &b);
    decode_ok(later, NULL, NULL, &b);
    assert_int_equal(b.n, 5);
    assert_string_equal(b.ev[0].id, b.ev[1].id);
    assert_string_not_equal(b.ev[0].id, b.ev[2].id);
    assert_string_not_equal(b.ev[0].id, b.ev[3].id);
    assert_string_not_equal(b.ev[2].id, b.ev[3].id);
    assert_string_not_equal(b.ev[0].id, b.ev[4].id);
    assert_int_equal(b.ev[2].state, HD_STATE_OK);
    assert_int_equal(b.ev[3].state, HD_STATE_RESOLVED);
    /* one alert, one key whatever the state */
    assert_string_equal(b.ev[0].alert_key, "sysdig:1:host.mac = '00:0c:29:04:07:c1'");
    assert_string_equal(b.ev[2].alert_key, b.ev[0].alert_key);
    assert_string_equal(b.ev[3].alert_key, b.ev[0].alert_key);
    hd_batch_free(&b);
    free(active);
    free(ok);
    free(resolved);
    free(later);
}

static void test_generic_ids(void **state)
{
    (void)state;
    struct hd_batch b;
    hd_batch_init(&b);
    decode_ok("{\"b\":1,\"a\":{\"y\":2,\"x\":[1,2]},\"name\":\"disk full\",\"host\":\"n1\"}", NULL, NULL, &b);
    decode_ok("{ \"host\" : \"n1\",\n \"a\" : {\"x\":[1, 2], \"y\":2},\n\t\"name\":\"disk full\", \"b\":1 }",
              NULL, NULL, &b);
    decode_ok("{\"b\":1,\"a\":{\"y\":2,\"x\":[2,1]},\"name\":\"disk full\",\"host\":\"n1\"}", NULL, NULL, &b);
    assert_int_equal(b.n, 3);
    assert_string_equal(b.ev[0].source, "generic");
    assert_string_equal(b.ev[0].id, b.ev[1].id);
    assert_string_not_equal(b.ev[0].id, b.ev[2].id);
    assert_string_equal(b.ev[0].alert_key, "generic:disk full:n1:");
    hd_batch_free(&b);
    /* ?format= overrides detection */
    size_t len = 0;
    char *sd = fx_read_fixture("sysdig/sysdig_monitor_webhook_metric_alert_active.json", &len);
    struct hd_err err = {0};
    assert_int_equal(hd_ingest_decode(sd, len, NULL, "generic", &b, &err), HD_OK);
    assert_string_equal(b.ev[0].source, "generic");
    assert_null(b.ev[0].name); /* generic reads top-level names only */
    assert_true(b.ev[0].ts_us == 1471457820000000LL);
    hd_batch_free(&b);
    free(sd);
}

static void test_generic_fields(void **state)
{
    (void)state;
    struct hd_batch b;
    hd_batch_init(&b);
    decode_ok("{\"@timestamp\":\"2024-02-29T12:00:01.123456789+01:00\",\"severity\":\"warning\","
              "\"state\":\"ok\",\"title\":\"t\",\"message\":\"m\",\"url\":\"http://x\","
              "\"host\":{\"name\":\"h\"},\"container\":{\"id\":\"c1\"},"
              "\"kubernetes\":{\"namespace_name\":\"ns\",\"pod_name\":\"p\",\"container_name\":\"c\"},"
              "\"labels\":{\"team\":\"sre\",\"n\":1}}",
              NULL, NULL, &b);
    decode_ok("{\"time\":1700000000,\"severity\":2,\"container_name\":\"/k8s_app_web-1_prod_uid_3\"}", NULL,
              NULL, &b);
    decode_ok("{\"timestamp\":\"abc\",\"severity\":5.5e37,\"state\":5}", NULL, NULL, &b);
    assert_int_equal(b.n, 3);
    const struct hd_event *e = &b.ev[0];
    assert_true(e->ts_us == 1709204401123456LL);
    assert_int_equal(e->severity, 4);
    assert_int_equal(e->state, HD_STATE_OK);
    assert_string_equal(e->name, "t");
    assert_string_equal(e->description, "m");
    assert_string_equal(e->url, "http://x");
    assert_string_equal(e->host, "h");
    assert_string_equal(e->container_id, "c1");
    assert_string_equal(e->k8s_namespace, "ns");
    assert_string_equal(e->k8s_pod, "p");
    assert_string_equal(e->k8s_container, "c");
    assert_string_equal(e->labels, "{\"team\":\"sre\"}");
    e = &b.ev[1];
    assert_true(e->ts_us == 1700000000000000LL);
    assert_int_equal(e->severity, 2);
    assert_string_equal(e->k8s_namespace, "prod");
    assert_string_equal(e->k8s_pod, "web-1");
    assert_string_equal(e->k8s_container, "app");
    assert_null(e->labels);
    /* lenient: unusable fields are ignored, not fatal */
    e = &b.ev[2];
    assert_true(e->ts_us == e->recv_us);
    assert_int_equal(e->severity, 5);
    assert_int_equal(e->state, HD_STATE_ACTIVE);
    assert_true(b.ev[0].recv_us > 0);
    hd_batch_free(&b);
}

/* ------------------------------------------------------------ splitting */

static void assert_raw(const struct hd_event *ev, const char *want)
{
    if (ev->raw_len != strlen(want) || memcmp(ev->raw, want, ev->raw_len) != 0) {
        fail_msg("raw '%.*s' != '%s'", (int)ev->raw_len, ev->raw, want);
    }
}

static void test_split_array(void **state)
{
    (void)state;
    const char *body = " [ {\"a\":1} ,\n{\"b\":\"x,]}\\\"[\"}\t,{\"c\":[{\"d\":\"\\\\\"}], \"e\":{}} ]\n";
    struct hd_batch b;
    hd_batch_init(&b);
    assert_int_equal(decode_ok(body, "application/json", NULL, &b), 3);
    assert_raw(&b.ev[0], "{\"a\":1}");
    assert_raw(&b.ev[1], "{\"b\":\"x,]}\\\"[\"}");
    assert_raw(&b.ev[2], "{\"c\":[{\"d\":\"\\\\\"}], \"e\":{}}");
    /* one request: one arrival time */
    assert_true(b.ev[0].recv_us == b.ev[2].recv_us);
    hd_batch_free(&b);
}

static void test_split_ndjson(void **state)
{
    (void)state;
    const char *body = "{\"a\":1}\r\n\n  {\"b\":[1,\n2]}  \n\t\n{\"c\":\"}\"}";
    struct hd_batch b;
    hd_batch_init(&b);
    /* forced by Content-Type, parameters and case ignored */
    const char *lines = "{\"a\":1}\r\n\n  {\"b\":\"x\"}  \n\t\n{\"c\":\"}\"}";
    assert_int_equal(decode_ok(lines, "Application/X-NDJSON; charset=utf-8", NULL, &b), 3);
    assert_raw(&b.ev[0], "{\"a\":1}");
    assert_raw(&b.ev[1], "{\"b\":\"x\"}");
    assert_raw(&b.ev[2], "{\"c\":\"}\"}");
    hd_batch_free(&b);
    /* detected without a Content-Type */
    assert_int_equal(decode_ok(lines, NULL, NULL, &b), 3);
    assert_raw(&b.ev[1], "{\"b\":\"x\"}");
    hd_batch_free(&b);
    /* a line break inside a document is an error in NDJSON */
    expect_error_s(body, "application/x-ndjson", NULL, "document 2 (line 3", "unexpected end of input");
    /* a leading byte order mark is skipped */
    assert_int_equal(decode_ok("\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}\n", NULL, NULL, &b), 2);
    assert_raw(&b.ev[0], "{\"a\":1}");
    hd_batch_free(&b);
}

static void test_split_single_and_stream(void **state)
{
    (void)state;
    struct hd_batch b;
    hd_batch_init(&b);
    assert_int_equal(decode_ok("\n  {\n  \"a\": 1,\n  \"b\": [1, 2]\n}\n\n", NULL, NULL, &b), 1);
    assert_raw(&b.ev[0], "{\n  \"a\": 1,\n  \"b\": [1, 2]\n}");
    hd_batch_free(&b);
    /* pretty-printed documents one after the other */
    assert_int_equal(decode_ok("{\n \"a\": 1\n}\n{\n \"b\": 2\n}\n", NULL, NULL, &b), 2);
    assert_raw(&b.ev[0], "{\n \"a\": 1\n}");
    assert_raw(&b.ev[1], "{\n \"b\": 2\n}");
    hd_batch_free(&b);
}

static void test_all_or_nothing(void **state)
{
    (void)state;
    struct hd_batch b;
    struct hd_err err = {0};
    hd_batch_init(&b);
    decode_ok("{\"name\":\"kept\"}", NULL, NULL, &b);
    const char *bad = "[{\"a\":1},{\"b\":2},{\"c\":}]";
    assert_int_equal(hd_ingest_decode(bad, strlen(bad), NULL, NULL, &b, &err), HD_EINVAL);
    assert_int_equal(b.n, 1);
    assert_string_equal(b.ev[0].name, "kept");
    /* document 3 starts at byte 17; its error (the '}') is at byte 22 of the body */
    if (strstr(err.msg, "document 3") == NULL || strstr(err.msg, "at byte 22 of the body") == NULL) {
        fail_msg("%s", err.msg);
    }
    hd_batch_free(&b);
}

/* ------------------------------------------------------------ errors */

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *ct, *fmt;
        const char *sub1, *sub2;
    } cases[] = {
        {"", NULL, NULL, "empty body", NULL},
        {" \r\n\t ", NULL, NULL, "empty body", NULL},
        {"{\"a\":1}", NULL, "x",
         "format: unknown format 'x' (known: sysdig, falco, alertmanager, kubernetes, docker, generic)",
         NULL},
        {"{\"a\":1}", NULL, "falco", "document 1", "rule: required"},
        {"{\"a\":1}", NULL, "", "format: unknown format ''", NULL},
        {"{\"a\":1", NULL, NULL, "document 1 (line 1", "unexpected end of input"},
        {"{\"a\":1}\n{\"b\":\n{\"c\":3}\n", NULL, NULL, "document 2 (line 2", "unexpected end of input"},
        {"{\"a\":1}\n{\"b\":2}\n{\"c\":3,}\n", NULL, NULL, "document 3 (line 3, column 8): at byte 23", NULL},
        {"[{\"a\":1},{\"b\":2}", NULL, NULL, "truncated", NULL},
        {"[{\"a\":1},{\"b\":2}x", NULL, NULL, "expected ',' or ']' after document 2", "at byte 16"},
        {"[{\"a\":1},]", NULL, NULL, "trailing ','", NULL},
        {"[{\"a\":1}] {}", NULL, NULL, "unexpected data after the JSON array", NULL},
        {"[]", NULL, NULL, "empty array", NULL},
        {"[1]", NULL, NULL, "document 1", "expected a JSON object, got number"},
        {"[{\"a\":1},[]]", NULL, NULL, "document 2", "expected a JSON object, got array"},
        {"\"str\"", NULL, NULL, "document 1", "expected a JSON object, got string"},
        {"123", NULL, NULL, "document 1", "expected a JSON object, got number"},
        {"null", NULL, NULL, "document 1", "the document is JSON null"},
        {"[{},null]", NULL, NULL, "document 2", "the document is JSON null"},
        {"[{\"a\":1}]", "application/x-ndjson", NULL, "document 1", "got array"},
        {"{\"a\":1} {\"b\":2}", NULL, NULL, "at byte 8", "unexpected data after the JSON value"},
        {"{'a':1}", NULL, NULL, "at byte 1", "single-quoted"},
        {"{\"a\":NaN}", NULL, NULL, "at byte 5", "invalid literal 'NaN'"},
        {"{\"a\":1.}", NULL, NULL, "document 1", "digit must follow"},
        {"{\"a\":-.5}", NULL, NULL, "at byte 6", "number expected"}, /* json-c alone takes it */
        {"{\"a\":-0012.5}", NULL, NULL, "at byte 6", "leading zeros"},
        {"{\"a\":\"x\x01y\"}", NULL, NULL, "at byte 7", "control character"},
        {"{\"a\":\"\xc0\x80\"}", NULL, NULL, "at byte 6", "invalid UTF-8"},
        {"{\"a\":\"\xed\xa0\x80\"}", NULL, NULL, "at byte 6", "invalid UTF-8"},
        {"{\"\xff\":1}", NULL, NULL, "at byte 2", "invalid UTF-8"},
        {"{\"a\":1}\n{\"b\":\"\xff\"}\n", NULL, NULL, "document 2 (line 2, column 7): at byte 14",
         "invalid UTF-8"},
        /* wrong field types, Sysdig */
        {"{\"timestamp\":\"abc\",\"alert\":{},\"state\":\"ACTIVE\",\"entities\":[]}", NULL, NULL,
         "document 1", "timestamp: expected a number"},
        {"{\"timestamp\":1,\"alert\":5,\"state\":\"ACTIVE\",\"entities\":[]}", NULL, NULL, "document 1",
         "alert: expected an object"},
        {"{\"timestamp\":1,\"alert\":{},\"state\":5,\"entities\":[]}", NULL, NULL, "document 1",
         "state: expected a string"},
        {"{\"timestamp\":1,\"alert\":{},\"state\":\"FIRING\",\"event\":{}}", NULL, NULL,
         "state: unknown value 'FIRING'", NULL},
        {"{\"timestamp\":1,\"alert\":{},\"resolved\":\"yes\",\"state\":\"OK\"}", NULL, NULL,
         "resolved: expected a boolean", NULL},
        {"{\"timestamp\":1,\"alert\":{\"severity\":\"high\"},\"state\":\"OK\",\"event\":{}}", NULL, NULL,
         "alert.severity: expected an integer", NULL},
        {"{\"timestamp\":1,\"alert\":{\"name\":3},\"state\":\"OK\",\"event\":{}}", NULL, NULL,
         "alert.name: expected a string", NULL},
        {"{\"timestamp\":1,\"alert\":{},\"entities\":[5],\"state\":\"OK\"}", NULL, NULL,
         "entities[0]: expected an object", NULL},
        {"{\"timestamp\":1,\"alert\":{},\"entities\":[{\"policyEvents\":{}}],\"state\":\"OK\"}", NULL, NULL,
         "entities[0].policyEvents: expected an array", NULL},
        {"{\"timestamp\":-5,\"alert\":{},\"state\":\"OK\",\"event\":{}}", NULL, NULL,
         "timestamp: out of range", NULL},
        {"{\"timestamp\":1,\"event\":[]}", NULL, "sysdig", "event: expected an object", NULL},
        {"[{\"a\":1},{\"timestamp\":\"x\",\"alert\":{},\"state\":\"OK\",\"event\":{}}]", NULL, NULL,
         "document 2 (line 1)", "timestamp: expected a number"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expect_error_s(cases[i].body, cases[i].ct, cases[i].fmt, cases[i].sub1, cases[i].sub2);
    }
}

static void test_error_depth_and_binary(void **state)
{
    (void)state;
    char deep[256];
    size_t n = 0;
    deep[n++] = '{';
    memcpy(deep + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < 99; i++) {
        deep[n++] = '[';
    }
    for (int i = 0; i < 99; i++) {
        deep[n++] = ']';
    }
    deep[n++] = '}';
    fx_expect_decode_error(deep, n, NULL, NULL, "document 1", "nesting deeper than");
    /* the same inside an array and in NDJSON */
    char arr[260];
    arr[0] = '[';
    memcpy(arr + 1, deep, n);
    arr[n + 1] = ']';
    fx_expect_decode_error(arr, n + 2, NULL, NULL, "document 1", "nesting deeper than");
    fx_expect_decode_error(deep, n, "application/x-ndjson", NULL, "document 1", "nesting deeper than");
    /* NUL bytes and raw 0xff outside strings */
    fx_expect_decode_error("{\"a\":1}\0", 8, NULL, NULL, "document 1", "at byte 7");
    fx_expect_decode_error("\xff\xfe{}", 4, NULL, NULL, "document 1", NULL);
    fx_expect_decode_error("{\"a\":\"x\0\"}", 10, NULL, NULL, "document 1", "control character");
}

/* ------------------------------------------------------------ helpers */

static void test_k8s_container_name(void **state)
{
    (void)state;
    struct hd_event ev;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(
        hd_event_k8s_from_container_name(
            &ev, "k8s_ftest_redis-3463099497-2xxw3_example-java-app_08285988-acff-11e7-b6b2-06fd27f1a4ca_0"),
        1);
    assert_string_equal(ev.k8s_container, "ftest");
    assert_string_equal(ev.k8s_pod, "redis-3463099497-2xxw3");
    assert_string_equal(ev.k8s_namespace, "example-java-app");
    /* fills only what is empty */
    assert_int_equal(hd_event_k8s_from_container_name(&ev, "/k8s_a_b_c_d_12"), 1);
    assert_string_equal(ev.k8s_container, "ftest");
    hd_event_clear(&ev);
    assert_null(ev.k8s_container);
    static const char *const bad[] = {"nginx",         "k8s_",          "k8s_a_b_c_d",
                                      "k8s_a_b_c_d_x", "k8s_a__c_d_1",  "k8s_a_b_c_d_1_2",
                                      "k8s_a_b_c_d_",  "K8S_a_b_c_d_1", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        if (hd_event_k8s_from_container_name(&ev, bad[i]) != 0) {
            fail_msg("'%s' matched", bad[i]);
        }
        assert_null(ev.k8s_namespace);
    }
    assert_int_equal(hd_event_k8s_from_container_name(&ev, NULL), 0);
}

static void test_rfc3339(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t us;
    } good[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2020-11-25T16:49:08.648718268Z", 1606322948648718LL},
        {"2020-11-25T16:49:08.6Z", 1606322948600000LL},
        {"2020-11-25t17:49:08+01:00", 1606322948000000LL},
        {"2020-11-25 15:19:08-01:30", 1606322948000000LL},
        {"2020-11-25T17:49:08+0100", 1606322948000000LL},
        {"2024-02-29T00:00:00z", 1709164800000000LL},
        {"1969-12-31T23:59:59.5Z", -500000LL},
        {"2016-12-31T23:59:60Z", 1483228799000000LL},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t us = 42;
        if (hd_parse_rfc3339_us(good[i].s, &us) != HD_OK || us != good[i].us) {
            fail_msg("%s -> %lld, want %lld", good[i].s, (long long)us, (long long)good[i].us);
        }
    }
    static const char *const bad[] = {"",
                                      "2020-11-25",
                                      "2020-11-25T16:49:08",
                                      "2020-11-25T16:49:08.Z",
                                      "2023-02-29T00:00:00Z",
                                      "2020-13-01T00:00:00Z",
                                      "2020-11-25T24:00:00Z",
                                      "2020-11-25T16:49:08Zx",
                                      "2020-11-25T16:49:08+1:00",
                                      "0001-01-01T00:00:00",
                                      "abc",
                                      NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        int64_t us = 42;
        if (hd_parse_rfc3339_us(bad[i], &us) != HD_EINVAL || us != 42) {
            fail_msg("'%s' accepted", bad[i]);
        }
    }
    assert_int_equal(hd_parse_rfc3339_us(NULL, NULL), HD_EINVAL);
}

static void test_epoch_magnitude(void **state)
{
    (void)state;
    int64_t us = 0;
    assert_int_equal(hd_epoch_i64_to_us(1518849360LL, &us), HD_OK);
    assert_true(us == 1518849360000000LL);
    assert_int_equal(hd_epoch_i64_to_us(1518849360123LL, &us), HD_OK);
    assert_true(us == 1518849360123000LL);
    assert_int_equal(hd_epoch_i64_to_us(1518849360123456LL, &us), HD_OK);
    assert_true(us == 1518849360123456LL);
    assert_int_equal(hd_epoch_i64_to_us(1606322948648718268LL, &us), HD_OK);
    assert_true(us == 1606322948648718LL);
    assert_int_equal(hd_epoch_i64_to_us(-1, &us), HD_EINVAL);
    assert_int_equal(hd_epoch_to_us(1518849360.25, &us), HD_OK);
    assert_true(us == 1518849360250000LL);
    assert_int_equal(hd_epoch_to_us(1e300, &us), HD_EINVAL);
}

static void test_event_to_json(void **state)
{
    (void)state;
    struct hd_event ev;
    memset(&ev, 0, sizeof(ev));
    memcpy(ev.id, "0123456789abcdef0123456789abcdef", 33);
    ev.seq = 7;
    ev.source = "generic";
    ev.ts_us = 1;
    ev.recv_us = 2;
    ev.severity = 3;
    ev.state = HD_STATE_OK;
    ev.name = strdup("n\"1\n");
    ev.k8s_pod = strdup("p");
    ev.labels = strdup("{\"rule\":\"r\"}");
    ev.alert_key = strdup("k");
    ev.raw = strdup("{\"x\": 1}");
    ev.raw_len = strlen(ev.raw);
    struct hd_buf out;
    hd_buf_init(&out, 0);
    assert_int_equal(hd_event_to_json(&ev, 1, &out), HD_OK);
    assert_string_equal(out.p,
                        "{\"id\":\"0123456789abcdef0123456789abcdef\",\"seq\":7,\"source\":\"generic\","
                        "\"timestampUs\":1,\"receivedUs\":2,\"severity\":3,\"state\":\"OK\","
                        "\"name\":\"n\\\"1\\n\",\"k8s\":{\"pod\":\"p\"},\"labels\":{\"rule\":\"r\"},"
                        "\"alertKey\":\"k\",\"raw\":{\"x\": 1}}");
    hd_buf_reset(&out);
    assert_int_equal(hd_event_to_json(&ev, 0, &out), HD_OK);
    assert_null(strstr(out.p, "\"raw\""));
    /* over the buffer cap: error, buffer unchanged */
    struct hd_buf small;
    hd_buf_init(&small, 40);
    assert_int_equal(hd_buf_puts(&small, "abc"), HD_OK);
    assert_int_equal(hd_event_to_json(&ev, 1, &small), HD_ETOOBIG);
    assert_int_equal(small.len, 3);
    assert_string_equal(small.p, "abc");
    hd_buf_free(&small);
    hd_buf_free(&out);
    hd_event_clear(&ev);
}

static void test_state_and_registry(void **state)
{
    (void)state;
    enum hd_state st = HD_STATE_ACTIVE;
    assert_int_equal(hd_state_parse("ok", &st), HD_OK);
    assert_int_equal(st, HD_STATE_OK);
    assert_int_equal(hd_state_parse("RESOLVED", &st), HD_OK);
    assert_int_equal(st, HD_STATE_RESOLVED);
    assert_int_equal(hd_state_parse("firing", &st), HD_EINVAL);
    assert_string_equal(hd_state_name(HD_STATE_ACTIVE), "ACTIVE");
    assert_string_equal(hd_state_name(HD_STATE_OK), "OK");
    assert_string_equal(hd_state_name(HD_STATE_RESOLVED), "RESOLVED");
    struct hd_err err = {0};
    assert_int_equal(hd_decoder_registry_check(&err), HD_OK);
    assert_non_null(hd_decoder_find("sysdig"));
    assert_non_null(hd_decoder_find("generic"));
    assert_non_null(hd_decoder_find("falco"));
    assert_null(hd_decoder_find("xml"));
    assert_null(hd_decoder_find(NULL));
    /* ids: NULL differs from "", order matters */
    struct hd_event a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    const char *p1[] = {"x", NULL};
    const char *p2[] = {"x", ""};
    const char *p3[] = {"", "x"};
    hd_event_set_id(&a, 0, p1, 2);
    hd_event_set_id(&b, 0, p2, 2);
    assert_string_not_equal(a.id, b.id);
    hd_event_set_id(&b, 0, p3, 2);
    assert_string_not_equal(a.id, b.id);
    hd_event_set_id(&b, 0, p1, 2);
    assert_string_equal(a.id, b.id);
    assert_int_equal(strlen(a.id), 32);
    /* the source's time leads (seconds, hex) so live ids are ordered */
    hd_event_set_id(&b, 1518849360000000LL, p1, 2);
    assert_memory_equal(b.id, "5a87cd50", 8);
    assert_string_equal(a.id + 8, b.id + 8);
    hd_event_set_id(&b, 1518849361000000LL, p1, 2);
    assert_memory_equal(b.id, "5a87cd51", 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sysdig_fixtures_detected),
        cmocka_unit_test(test_sysdig_fixtures_forced),
        cmocka_unit_test(test_sysdig_fixtures_all_covered),
        cmocka_unit_test(test_other_fixtures_not_sysdig),
        cmocka_unit_test(test_sysdig_ids),
        cmocka_unit_test(test_generic_ids),
        cmocka_unit_test(test_generic_fields),
        cmocka_unit_test(test_split_array),
        cmocka_unit_test(test_split_ndjson),
        cmocka_unit_test(test_split_single_and_stream),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_depth_and_binary),
        cmocka_unit_test(test_k8s_container_name),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_epoch_magnitude),
        cmocka_unit_test(test_event_to_json),
        cmocka_unit_test(test_state_and_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
