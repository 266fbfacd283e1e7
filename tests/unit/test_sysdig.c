/* test_sysdig.c - src/input/sysdig.c: every Sysdig fixture (Secure and
 * Monitor webhooks, the policy-event API) decodes to the expected normalized
 * fields, detected and forced; other sources' payloads are never taken for
 * Sysdig; ids and alertKeys. Fixtures are the real payloads of
 * tests/fixtures/sysdig/. */
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

#include "decode_util.h"

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
    fx_decode_ok(active, NULL, NULL, &b);
    fx_decode_ok(active, NULL, NULL, &b); /* re-sent: same id */
    fx_decode_ok(ok, NULL, NULL, &b);
    fx_decode_ok(resolved, NULL, NULL, &b);
    fx_decode_ok(later, NULL, NULL, &b);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sysdig_fixtures_detected),
        cmocka_unit_test(test_sysdig_fixtures_forced),
        cmocka_unit_test(test_sysdig_fixtures_all_covered),
        cmocka_unit_test(test_other_fixtures_not_sysdig),
        cmocka_unit_test(test_sysdig_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
