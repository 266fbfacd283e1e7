/* test_decoders.c - src/input/decoders.c: the decoder registry (formats
 * detected or forced by ?format=, their names, no duplicates), splitting a
 * body into documents (JSON array, NDJSON, one document, a stream), all or
 * nothing, errors that name the document and the field, the depth and binary
 * limits, ids and epochs, and the table of fixture rows that runs across every
 * format. Each format's own fields and ids: test_<format>.c. Fixtures are the
 * real payloads of tests/fixtures/. */
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

static void expect_error(const char *body, const char *ct, const char *fmt, const char *sub1,
                         const char *sub2)
{
    fx_expect_decode_error(body, strlen(body), ct, fmt, sub1, sub2);
}

static void check_str(const char *file, size_t idx, const char *what, const char *got, const char *want)
{
    if (want == NULL) {
        if (got != NULL) {
            fail_msg("%s #%zu %s: expected absent, got '%s'", file, idx, what, got);
        }
        return;
    }
    if (got == NULL || strcmp(got, want) != 0) {
        fail_msg("%s #%zu %s: expected '%s', got '%s'", file, idx, what, want, got ? got : "(null)");
    }
}

/* ------------------------------------------------------------ fixture table */

struct row {
    const char *file;
    size_t idx; /* event number in the file's batch (0-based) */
    size_t n;   /* events the file yields */
    const char *source;
    int64_t ts_us;
    int severity;
    enum hd_state state;
    const char *name;
    const char *host;
    const char *cid;
    const char *ns, *pod, *container, *kind, *kname;
    const char *url;
    const char *label;     /* a substring of the labels object */
    const char *alert_key; /* exact */
};

#define ACT HD_STATE_ACTIVE
#define OK_ HD_STATE_OK
#define AM_GEN                                                                                               \
    "http://prometheus.example:9090/"                                                                        \
    "graph?g0.expr=rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29+%3E+0.05"
#define DK_CID "ede54ee1afda366ab42f824e8a5ffd195155d853ceaec74a927f249ea270c743"
#define PM_CID "a2c65dfbb821934f37c6b3c223c32afc6685aacf5ecc4ba2024ad81f2f9869a6"
#define CSI "csi-6afb06dce281b86b7bab718b5d966dc261b2b1554941ae449519a128cb2e3fb3"

static const struct row rows[] = {
    /* Falco: priority -> severity, output_fields -> k8s / container / labels */
    {"falco/falco_critical_terminal_shell_syscall.json", 0, 1, "falco", 1685022245478445, 2, ACT,
     "Terminal shell in container", "falco-xczjd", "ee97d9c4186f", "default", "kubecon", NULL, NULL, NULL,
     NULL, "\"tags\":\"container,mitre_execution,shell\"",
     "falco:Terminal shell in container:falco-xczjd:ee97d9c4186f"},
    {"falco/falco_debug_internal_syscall_event_drop.json", 0, 1, "falco", 1677812583000000, 7, ACT,
     "Falco internal: syscall event drop", "host", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     "\"n_drops\":\"815508\"", "falco:Falco internal: syscall event drop:host:"},
    {"falco/falco_error_write_below_binary_dir.json", 0, 1, "falco", 1558107116746609, 3, ACT,
     "Write below binary dir", "localhost", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     "\"fd.name\":\"/bin/hack\"", "falco:Write below binary dir:localhost:"},
    {"falco/falco_informational_internal_metrics_snapshot.json", 0, 1, "falco", 1748557198960296, 6, ACT,
     "Falco internal: metrics snapshot", "test", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     "\"evt.time\":\"1748557198960296886\"", "falco:Falco internal: metrics snapshot:test:"},
    {"falco/falco_informational_k8saudit_sa_created.json", 0, 1, "falco", 1683727757699479, 6, ACT,
     "K8s Serviceaccount Created", "falco-k8saudit-eks-96d7f6f99-vwjgc", NULL, "default", NULL, NULL,
     "ServiceAccount", "default", NULL, "\"source\":\"k8s_audit\"",
     "falco:K8s Serviceaccount Created:falco-k8saudit-eks-96d7f6f99-vwjgc:"},
    {"falco/falco_notice_k8saudit_attach_exec.json", 0, 1, "falco", 1683727764046826, 5, ACT,
     "Attach/Exec Pod", "falco-k8saudit-eks-96d7f6f99-vwjgc", NULL, "default", "kubecon", NULL, "Pod",
     "kubecon", NULL, "\"ka.target.subresource\":\"exec\"",
     "falco:Attach/Exec Pod:falco-k8saudit-eks-96d7f6f99-vwjgc:"},
    {"falco/falco_notice_non_sudo_setuid_k8s_gcscc.json", 0, 1, "falco", 1527157335576767, 5, ACT,
     "Non sudo setuid", NULL, "1c76f49f40b4", NULL, "falco-event-generator-6fd89678f9-cdkvz", NULL, NULL,
     NULL, NULL, "\"user.uid\":\"2\"", "falco:Non sudo setuid::1c76f49f40b4"},
    {"falco/falco_notice_terminal_shell_2018_gcscc.json", 0, 1, "falco", 1526547969874686, 5, ACT,
     "Terminal shell in container", NULL, "32c415f00958", NULL, NULL, NULL, NULL, NULL, NULL,
     "\"container.name\":\"unruffled_hamilton\"", "falco:Terminal shell in container::32c415f00958"},
    {"falco/falco_notice_terminal_shell_legacy_nohostname.json", 0, 1, "falco", 1610667584834631, 5, ACT,
     "Terminal shell in container", NULL, "5892b41bcf46", "default", "alpine", NULL, NULL, NULL, NULL,
     "\"user.loginuid\":\"-1\"", "falco:Terminal shell in container::5892b41bcf46"},
    {"falco/falco_warning_k8saudit_user_not_allowed.json", 0, 1, "falco", 1739178940698757, 4, ACT,
     "Disallowed K8s User", "my-pool-1-node-921b61", NULL, NULL, NULL, NULL, "volumeattachments", CSI, NULL,
     "\"ka.verb\":\"patch\"", "falco:Disallowed K8s User:my-pool-1-node-921b61:"},
    {"falco/falcosidekick_test_input_debug.json", 0, 1, "falco", 978311400000000, 7, ACT, "Test rule",
     "test-host", NULL, NULL, NULL, NULL, NULL, NULL, NULL, "\"tags\":\"test,example\"",
     "falco:Test rule:test-host:"},

    /* Alertmanager: one event per alert, per-alert status */
    {"alertmanager/am0.25_captured_firing_2alerts.json", 0, 2, "alertmanager", 1795709979000000, 2, ACT,
     "HighErrorRate", "10.0.0.7", NULL, NULL, NULL, NULL, NULL, NULL, AM_GEN,
     "\"instance\":\"10.0.0.7:8080\"", "alertmanager:aa3d6b6d918ae4f3"},
    {"alertmanager/am0.25_captured_firing_2alerts.json", 1, 2, "alertmanager", 1795709979000000, 2, ACT,
     "HighErrorRate", "10.0.0.8", NULL, NULL, NULL, NULL, NULL, NULL, AM_GEN,
     "\"summary\":\"High 5xx rate on checkout\"", "alertmanager:ef95a5c9a2fb53f6"},
    {"alertmanager/am0.25_captured_resolved_2alerts.json", 0, 2, "alertmanager", 1795709989000000, 2, OK_,
     "HighErrorRate", "10.0.0.7", NULL, NULL, NULL, NULL, NULL, NULL, AM_GEN,
     "\"fingerprint\":\"aa3d6b6d918ae4f3\"", "alertmanager:aa3d6b6d918ae4f3"},
    {"alertmanager/am0.25_captured_resolved_2alerts.json", 1, 2, "alertmanager", 1795709989000000, 2, OK_,
     "HighErrorRate", "10.0.0.8", NULL, NULL, NULL, NULL, NULL, NULL, AM_GEN,
     "\"receiver\":\"herald-webhook\"", "alertmanager:ef95a5c9a2fb53f6"},
    {"alertmanager/am0.25_captured_firing_amtool.json", 0, 1, "alertmanager", 1795709979877268, 4, ACT,
     "HeraldAmtoolTest", "node-1", NULL, NULL, NULL, NULL, NULL, NULL, "http://vm:19093",
     "\"severity\":\"warning\"", "alertmanager:4f9e12d8b905fd51"},
    {"alertmanager/am0.25_captured_resolved_amtool.json", 0, 1, "alertmanager", 1795709989000000, 4, OK_,
     "HeraldAmtoolTest", "node-1", NULL, NULL, NULL, NULL, NULL, NULL, "http://vm:19093",
     "\"description\":\"amtool alert add smoke test\"", "alertmanager:4f9e12d8b905fd51"},
    {"alertmanager/am0.25_captured_mixed_firing_resolved.json", 0, 2, "alertmanager", 1795710002000000, 4,
     ACT, "DiskFull", NULL, NULL, NULL, NULL, NULL, NULL, NULL, "http://vm:19093", "\"device\":\"sda1\"",
     "alertmanager:dc556c42f95049f2"},
    {"alertmanager/am0.25_captured_mixed_firing_resolved.json", 1, 2, "alertmanager", 1795710005000000, 4,
     OK_, "DiskFull", NULL, NULL, NULL, NULL, NULL, NULL, NULL, "http://vm:19093", "\"device\":\"sdb1\"",
     "alertmanager:014476787672b935"},
    {"alertmanager/msteams_prom_post_request_firing.json", 0, 1, "alertmanager", 1520422401873077, 4, ACT,
     "high_memory_load", "instance-with-hyphen_and_underscore", NULL, NULL, NULL, NULL, NULL, NULL,
     "http://docker.for.mac.host.internal:9093", "\"runbook\"" /* not in the alert: absent */, NULL},

    /* Kubernetes Events */
    {"k8s/k8s_api_testdata_core.v1.Event_all_fields.json", 0, 1, "kubernetes", 1262307661000010, 5, ACT,
     "reasonValue", "hostValue", NULL, "namespaceValue", NULL, NULL, "kindValue", "nameValue", NULL,
     "\"count\":\"8\"", "kubernetes:reasonValue:namespaceValue/kindValue/nameValue"},
    {"k8s/k8s_events_kind_cluster_capture.json", 0, 8, "kubernetes", 1621417378000000, 6, ACT,
     "ScalingReplicaSet", NULL, NULL, "default", NULL, NULL, "Deployment", "px", NULL,
     "\"component\":\"deployment-controller\"", "kubernetes:ScalingReplicaSet:default/Deployment/px"},
    {"k8s/k8s_events_kind_cluster_capture.json", 2, 8, "kubernetes", 1621417378638469, 6, ACT, "Scheduled",
     NULL, NULL, "default", "px-5d567cc74c-ss4lb", NULL, "Pod", "px-5d567cc74c-ss4lb", NULL,
     "\"action\":\"Binding\"", "kubernetes:Scheduled:default/Pod/px-5d567cc74c-ss4lb"},
    {"k8s/k8s_events_kind_cluster_capture.json", 3, 8, "kubernetes", 1621417379000000, 6, ACT, "Pulling",
     "kind-control-plane", NULL, "default", "px-5d567cc74c-ss4lb", "podinfo", "Pod", "px-5d567cc74c-ss4lb",
     NULL, "\"fieldPath\":\"spec.containers{podinfo}\"",
     "kubernetes:Pulling:default/Pod/px-5d567cc74c-ss4lb"},
    {"k8s/k8s_watch_stream_events_assembled.jsonl", 3, 7, "kubernetes", 1621417385000000, 6, ACT, "Pulled",
     "kind-control-plane", NULL, "default", "px-5d567cc74c-ss4lb", "podinfo", "Pod", "px-5d567cc74c-ss4lb",
     NULL, "\"count\":\"2\"", "kubernetes:Pulled:default/Pod/px-5d567cc74c-ss4lb"},

    /* Docker engine events (and Podman's) */
    {"docker/moby_api_v1.24_events_example.jsonl", 0, 9, "docker", 1461943101301854, 6, ACT, "image pull",
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "\"actorId\":\"alpine:latest\"",
     "docker:image pull::alpine:latest"},
    {"docker/moby_api_v1.24_events_example.jsonl", 3, 9, "docker", 1461943101394865, 6, ACT,
     "network connect", NULL, DK_CID, NULL, NULL, NULL, NULL, NULL, NULL, "\"type\":\"network\"",
     "docker:network connect::7dc8ac97d5d29ef6c31b6052f3938c1e8f2749abbd17d1bd1febf2608db1b474"},
    {"docker/moby_api_v1.24_events_example.jsonl", 6, 9, "docker", 1461943105079144, 6, ACT, "container die",
     NULL, DK_CID, NULL, NULL, NULL, NULL, NULL, NULL, "\"exitCode\":\"0\"", "docker:container die::" DK_CID},
    {"docker/moby_api_v1.22_events_example_legacy_fields.jsonl", 6, 9, "docker", 1461943105079144, 6, ACT,
     "container die", NULL, DK_CID, NULL, NULL, NULL, NULL, NULL, NULL, "\"image\":\"alpine\"",
     "docker:container die::" DK_CID},
    {"docker/podman4.3_captured_events.ndjson", 0, 29, "docker", 1795710158348166, 6, ACT, "volume create",
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "\"scope\":\"local\"", "docker:volume create::"},
    {"docker/podman4.3_captured_events.ndjson", 14, 29, "docker", 1795710158804309, 4, ACT, "container die",
     NULL, PM_CID, NULL, NULL, NULL, NULL, NULL, NULL, "\"exitCode\":\"3\"", "docker:container die::" PM_CID},
};
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static void check_row(const struct row *r, const struct hd_event *ev)
{
    check_str(r->file, r->idx, "source", ev->source, r->source);
    if (ev->ts_us != r->ts_us) {
        fail_msg("%s #%zu ts_us %lld != %lld", r->file, r->idx, (long long)ev->ts_us, (long long)r->ts_us);
    }
    if (ev->severity != r->severity || ev->state != r->state) {
        fail_msg("%s #%zu severity/state %d/%d != %d/%d", r->file, r->idx, ev->severity, ev->state,
                 r->severity, r->state);
    }
    check_str(r->file, r->idx, "name", ev->name, r->name);
    check_str(r->file, r->idx, "host", ev->host, r->host);
    check_str(r->file, r->idx, "containerId", ev->container_id, r->cid);
    check_str(r->file, r->idx, "k8s.namespace", ev->k8s_namespace, r->ns);
    check_str(r->file, r->idx, "k8s.pod", ev->k8s_pod, r->pod);
    check_str(r->file, r->idx, "k8s.container", ev->k8s_container, r->container);
    check_str(r->file, r->idx, "k8s.kind", ev->k8s_kind, r->kind);
    check_str(r->file, r->idx, "k8s.name", ev->k8s_name, r->kname);
    check_str(r->file, r->idx, "url", ev->url, r->url);
    if (r->alert_key != NULL) {
        check_str(r->file, r->idx, "alertKey", ev->alert_key, r->alert_key);
    }
    assert_non_null(ev->alert_key);
    assert_non_null(ev->description);
    assert_non_null(ev->labels);
    int want_label = strcmp(r->label, "\"runbook\"") != 0;
    if ((strstr(ev->labels, r->label) != NULL) != want_label) {
        fail_msg("%s #%zu labels %s: %s %s", r->file, r->idx, ev->labels, want_label ? "lack" : "have",
                 r->label);
    }
    assert_int_equal(strlen(ev->id), 32);
    assert_true(ev->recv_us > 0);
    assert_non_null(ev->raw);
    assert_int_equal(ev->raw[ev->raw_len], '\0');
    /* the labels and the normalized event are valid JSON */
    struct hd_err err = {0};
    json_object *lo = hd_json_parse(ev->labels, strlen(ev->labels), &err);
    if (lo == NULL || !json_object_is_type(lo, json_type_object)) {
        fail_msg("%s #%zu labels not a JSON object: %s", r->file, r->idx, ev->labels);
    }
    json_object_put(lo);
    struct hd_buf js;
    hd_buf_init(&js, 0);
    assert_int_equal(hd_event_to_json(ev, 1, &js), HD_OK);
    json_object *o = hd_json_parse(js.p, js.len, &err);
    if (o == NULL) {
        fail_msg("to_json not JSON: %s", err.msg);
    }
    assert_true(json_object_is_type(hd_json_path(o, "raw"), json_type_object));
    json_object_put(o);
    hd_buf_free(&js);
}

static void run_rows(const char *const fmt_of_dir[][2])
{
    for (size_t i = 0; i < N_ROWS; i++) {
        const struct row *r = &rows[i];
        const char *fmt = NULL;
        for (size_t k = 0; fmt_of_dir != NULL && fmt_of_dir[k][0] != NULL; k++) {
            if (strncmp(r->file, fmt_of_dir[k][0], strlen(fmt_of_dir[k][0])) == 0) {
                fmt = fmt_of_dir[k][1];
            }
        }
        struct hd_batch b;
        hd_batch_init(&b);
        fx_decode_fixture(r->file, fmt, &b);
        if (b.n != r->n) {
            fail_msg("%s: %zu events, expected %zu", r->file, b.n, r->n);
        }
        check_row(r, &b.ev[r->idx]);
        hd_batch_free(&b);
    }
}

static void test_fixture_rows_detected(void **state)
{
    (void)state;
    run_rows(NULL);
}

/* The k8s watch stream holds BOOKMARK/ERROR lines that are not Events: only
 * the files that are all Events are forced. */
static void test_fixture_rows_forced(void **state)
{
    (void)state;
    static const char *const map[][2] = {{"falco/", "falco"},
                                         {"alertmanager/", "alertmanager"},
                                         {"k8s/k8s_api", "kubernetes"},
                                         {"k8s/k8s_events", "kubernetes"},
                                         {"k8s/k8s_watch_stream", NULL},
                                         {"docker/", "docker"},
                                         {NULL, NULL}};
    run_rows(map);
}

/* Every JSON fixture file is detected as its own format: the expected source
 * of every document, per directory, with the documented exceptions. */
static const char *expected_source(const char *dir, const char *file, json_object *doc)
{
    if (strcmp(dir, "falco") == 0 || strcmp(dir, "alertmanager") == 0 || strcmp(dir, "docker") == 0) {
        return dir;
    }
    if (strcmp(dir, "k8s") == 0) {
        /* watch lines that carry no Event (BOOKMARK, ERROR) are generic */
        json_object *obj = hd_json_path(doc, "object");
        const char *type = hd_json_get_str(doc, "type");
        const char *kind = hd_json_get_str(obj != NULL ? obj : doc, "kind");
        if (obj != NULL && (type == NULL || strcmp(type, "BOOKMARK") == 0 || strcmp(type, "ERROR") == 0)) {
            return "generic";
        }
        return kind != NULL && strcmp(kind, "Event") == 0 ? "kubernetes" : "generic";
    }
    if (strcmp(dir, "sysdig") == 0) {
        return strstr(file, "notificationChannel") != NULL ? "generic" : "sysdig";
    }
    return "generic"; /* elasticsearch and splunk responses */
}

/* Every document of one fixture file is detected as its own format
 * (expected_source); ctx counts falco, alertmanager, kubernetes and docker
 * events. */
static void detect_fixture(const char *dir, const char *name, const char *rel, const char *body, size_t len,
                           void *ctx)
{
    size_t *per = ctx;
    /* the documents, to know what each one is */
    json_object *docs[64];
    size_t ndocs = 0;
    if (fx_is_ndjson_name(name)) {
        for (const char *line = body; *line != '\0' && ndocs < 64;) {
            const char *nl = strchr(line, '\n');
            size_t l = nl ? (size_t)(nl - line) : strlen(line);
            if (l > 0) {
                struct hd_err e = {0};
                docs[ndocs++] = hd_json_parse(line, l, &e);
            }
            line += l + (nl != NULL);
        }
    } else {
        struct hd_err e = {0};
        json_object *all = hd_json_parse(body, len, &e);
        assert_non_null(all);
        if (json_object_is_type(all, json_type_array)) {
            for (size_t i = 0; i < json_object_array_length(all) && ndocs < 64; i++) {
                docs[ndocs++] = json_object_get(json_object_array_get_idx(all, i));
            }
            json_object_put(all);
        } else {
            docs[ndocs++] = all;
        }
    }
    struct hd_batch b;
    struct hd_err err = {0};
    hd_batch_init(&b);
    int rc =
        hd_ingest_decode(body, len, fx_is_ndjson_name(name) ? "application/x-ndjson" : NULL, NULL, &b, &err);
    if (rc != HD_OK) {
        /* ES/Splunk top-level arrays of scalars are refused, as before */
        if (strstr(err.msg, "expected a JSON object") == NULL) {
            fail_msg("%s: %s", rel, err.msg);
        }
    } else {
        /* one event per document, except Alertmanager: one per alert */
        size_t ev = 0;
        for (size_t i = 0; i < ndocs; i++) {
            const char *want = expected_source(dir, name, docs[i]);
            json_object *alerts = hd_json_path(docs[i], "alerts");
            size_t cnt = strcmp(want, "alertmanager") == 0 ? json_object_array_length(alerts) : 1;
            for (size_t j = 0; j < cnt; j++, ev++) {
                assert_true(ev < b.n);
                if (strncmp(b.ev[ev].source, want, strlen(want)) != 0) {
                    fail_msg("%s document %zu: detected as %s, expected %s", rel, i + 1, b.ev[ev].source,
                             want);
                }
                per[0] += strcmp(want, "falco") == 0;
                per[1] += strcmp(want, "alertmanager") == 0;
                per[2] += strcmp(want, "kubernetes") == 0;
                per[3] += strcmp(want, "docker") == 0;
            }
        }
        assert_int_equal(ev, b.n);
    }
    for (size_t i = 0; i < ndocs; i++) {
        json_object_put(docs[i]);
    }
    hd_batch_free(&b);
}

static void test_detection_all_fixtures(void **state)
{
    (void)state;
    static const char *const dirs[] = {"falco",  "alertmanager",  "k8s",   "docker",
                                       "sysdig", "elasticsearch", "splunk"};
    size_t per[4] = {0};
    for (size_t k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++) {
        fx_each_fixture(dirs[k], 1, detect_fixture, per);
    }
    /* every fixture of each of the four formats was seen */
    assert_int_equal(per[0], 11);
    assert_int_equal(per[1], 9);
    assert_int_equal(per[2], 1 + 8 + 5);
    assert_int_equal(per[3], 9 + 9 + 29);
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
    assert_int_equal(fx_decode_ok(body, "application/json", NULL, &b), 3);
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
    assert_int_equal(fx_decode_ok(lines, "Application/X-NDJSON; charset=utf-8", NULL, &b), 3);
    assert_raw(&b.ev[0], "{\"a\":1}");
    assert_raw(&b.ev[1], "{\"b\":\"x\"}");
    assert_raw(&b.ev[2], "{\"c\":\"}\"}");
    hd_batch_free(&b);
    /* detected without a Content-Type */
    assert_int_equal(fx_decode_ok(lines, NULL, NULL, &b), 3);
    assert_raw(&b.ev[1], "{\"b\":\"x\"}");
    hd_batch_free(&b);
    /* a line break inside a document is an error in NDJSON */
    expect_error(body, "application/x-ndjson", NULL, "document 2 (line 3", "unexpected end of input");
    /* a leading byte order mark is skipped */
    assert_int_equal(fx_decode_ok("\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}\n", NULL, NULL, &b), 2);
    assert_raw(&b.ev[0], "{\"a\":1}");
    hd_batch_free(&b);
}

static void test_split_single_and_stream(void **state)
{
    (void)state;
    struct hd_batch b;
    hd_batch_init(&b);
    assert_int_equal(fx_decode_ok("\n  {\n  \"a\": 1,\n  \"b\": [1, 2]\n}\n\n", NULL, NULL, &b), 1);
    assert_raw(&b.ev[0], "{\n  \"a\": 1,\n  \"b\": [1, 2]\n}");
    hd_batch_free(&b);
    /* pretty-printed documents one after the other */
    assert_int_equal(fx_decode_ok("{\n \"a\": 1\n}\n{\n \"b\": 2\n}\n", NULL, NULL, &b), 2);
    assert_raw(&b.ev[0], "{\n \"a\": 1\n}");
    assert_raw(&b.ev[1], "{\n \"b\": 2\n}");
    hd_batch_free(&b);
    /* one object per request is parsed once (whole_object); a body that
     * only looks like one object still splits, or fails where it did */
    assert_int_equal(fx_decode_ok("{\"a\":1}\n{\"b\":2}", "application/json", NULL, &b), 2);
    assert_raw(&b.ev[1], "{\"b\":2}");
    hd_batch_free(&b);
    assert_int_equal(fx_decode_ok(" {\"a\":\"}\"} \r\n", "application/json", NULL, &b), 1);
    assert_raw(&b.ev[0], "{\"a\":\"}\"}");
    hd_batch_free(&b);
    expect_error("{\"a\":1}{\"b\":}", "application/json", NULL, "document 1",
                 "unexpected data after the JSON value");
    expect_error("{\"a\":[1,}", "application/json", NULL, "document 1 (line 1, column 9)",
                 "at byte 8 of the body");
}

static void test_all_or_nothing(void **state)
{
    (void)state;
    struct hd_batch b;
    struct hd_err err = {0};
    hd_batch_init(&b);
    fx_decode_ok("{\"name\":\"kept\"}", NULL, NULL, &b);
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

/* limits.maxEventsPerRequest: counted per request (events already in the
 * batch do not count), refused by the pre-count of a big body and by the
 * count while decoding (an Alertmanager notification yields several). */
static void test_event_limit(void **state)
{
    static const struct {
        const char *body;
        const char *ct;
        size_t limit;
        const char *doc;
    } over[] = {
        {"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n", "application/x-ndjson", 2, "document 3 (line 3)"},
        {"[{},{},{},{},{},{},{},{}]", NULL, 2, "document 3"},                        /* pre-counted */
        {"[{\"aaaaaaaaaaaaaaaaaa\":1},{\"b\":1},{\"c\":1}]", NULL, 2, "document 3"}, /* while decoding */
    };
    for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
        struct hd_batch b;
        struct hd_err err = {0};
        hd_batch_init(&b);
        fx_decode_ok("{\"name\":\"already here\"}", NULL, NULL, &b);
        b.limit = over[i].limit;
        assert_int_equal(hd_ingest_decode(over[i].body, strlen(over[i].body), over[i].ct, NULL, &b, &err),
                         HD_ETOOBIG);
        assert_int_equal(b.n, 1);
        if (strstr(err.msg, over[i].doc) == NULL || strstr(err.msg, "limits.maxEventsPerRequest") == NULL) {
            fail_msg("case %zu: %s", i, err.msg);
        }
        b.limit = 3;
        assert_int_equal(hd_ingest_decode(over[i].body, strlen(over[i].body), over[i].ct, NULL, &b, &err),
                         strstr(over[i].body, "{},{},{},{}") != NULL ? HD_ETOOBIG : HD_OK);
        hd_batch_free(&b);
    }
}

/* Decoding in parts (hd_batch.flush): every `chunk` events go to flush and
 * are cleared from the batch; the last part stays; the request's count
 * (maxEventsPerRequest) includes the flushed ones; a later error leaves the
 * batch empty, the parts flushed being the receiver's. */
struct parts_seen {
    size_t calls, events;
    char last_name[16];
    int refuse_at; /* > 0: the call of that number fails */
};

static int parts_flush(void *ud, struct hd_event *evs, size_t n, struct hd_err *err)
{
    struct parts_seen *p = ud;
    p->calls++;
    if (p->refuse_at > 0 && (int)p->calls == p->refuse_at) {
        return hd_err_set(err, HD_EIO, "store: refused");
    }
    p->events += n;
    snprintf(p->last_name, sizeof(p->last_name), "%s", evs[n - 1].name != NULL ? evs[n - 1].name : "");
    return HD_OK;
}

static void test_decode_in_parts(void **state)
{
    (void)state;
    char body[512];
    size_t len = 0;
    for (int i = 1; i <= 10; i++) {
        len += (size_t)snprintf(body + len, sizeof(body) - len, "{\"name\":\"e%d\"}\n", i);
    }
    struct parts_seen seen = {0};
    struct hd_batch b;
    struct hd_err err = {0};
    hd_batch_init(&b);
    b.flush = parts_flush;
    b.flush_ud = &seen;
    b.chunk = 4;
    assert_int_equal(hd_ingest_decode(body, len, "application/x-ndjson", NULL, &b, &err), HD_OK);
    assert_int_equal(seen.calls, 2);
    assert_int_equal(seen.events, 8);
    assert_string_equal(seen.last_name, "e8");
    assert_int_equal(b.n, 2); /* the last part stays */
    assert_string_equal(b.ev[0].name, "e9");
    hd_batch_free(&b);

    /* the limit counts the flushed events */
    seen = (struct parts_seen){0};
    hd_batch_init(&b);
    b.flush = parts_flush;
    b.flush_ud = &seen;
    b.chunk = 4;
    b.limit = 9;
    assert_int_equal(hd_ingest_decode(body, len, "application/x-ndjson", NULL, &b, &err), HD_ETOOBIG);
    if (strstr(err.msg, "document 10") == NULL) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(b.n, 0);

    /* a bad document after two parts, and a refusing receiver */
    char bad[512];
    memcpy(bad, body, len + 1);
    char *doc10 = strstr(bad, "{\"name\":\"e10\"}");
    assert_non_null(doc10);
    memcpy(doc10, "{\"name\":    }", 14);
    seen = (struct parts_seen){0};
    b.limit = 0;
    assert_int_equal(hd_ingest_decode(bad, len, "application/x-ndjson", NULL, &b, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "document 10"));
    assert_int_equal(seen.events, 8);
    assert_int_equal(b.n, 0);
    seen = (struct parts_seen){.refuse_at = 2};
    assert_int_equal(hd_ingest_decode(body, len, "application/x-ndjson", NULL, &b, &err), HD_EIO);
    assert_string_equal(err.msg, "store: refused");
    assert_int_equal(b.n, 0);
    hd_batch_free(&b);
}

/* Decoded events come packed (one block each), and a large body's events
 * in an array sized once from the pre-count (docs/performance.md, round 9). */
static void test_packed_and_sized(void **state)
{
    (void)state;
    struct hd_buf body;
    hd_buf_init(&body, 0);
    for (int i = 0; i < 300; i++) {
        char line[96];
        snprintf(line, sizeof(line), "{\"name\":\"event %d\",\"description\":\"d\",\"severity\":%d}\n", i,
                 i % 8);
        hd_buf_puts(&body, line);
    }
    struct hd_batch b;
    struct hd_err err = {0};
    hd_batch_init(&b);
    b.limit = 1000;
    b.borrow_raw = 1;
    assert_int_equal(hd_ingest_decode(body.p, body.len, "application/x-ndjson", NULL, &b, &err), HD_OK);
    assert_int_equal(b.n, 300);
    assert_int_equal(b.cap, 300); /* not 512: reserved from the count */
    for (size_t i = 0; i < b.n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "event %zu", i);
        assert_non_null(b.ev[i].block);
        assert_ptr_equal(b.ev[i].name, b.ev[i].block);
        assert_string_equal(b.ev[i].name, want);
        assert_true(b.ev[i].raw >= body.p && b.ev[i].raw < body.p + body.len); /* still borrowed */
    }
    hd_batch_free(&b);
    hd_buf_free(&body);
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
        expect_error(cases[i].body, cases[i].ct, cases[i].fmt, cases[i].sub1, cases[i].sub2);
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

/* ------------------------------------------------------------ bad input */

static void test_bad_input_names_document_and_field(void **state)
{
    (void)state;
    /* Falco */
    expect_error("{\"rule\":\"r\",\"priority\":\"Loud\",\"output\":\"o\"}", NULL, "falco", "document 1",
                 "priority");
    expect_error("{\"rule\":\"r\",\"priority\":\"Error\",\"output\":\"o\",\"time\":\"yesterday\"}", NULL,
                 NULL, "document 1", "time");
    expect_error("{\"rule\":\"r\",\"priority\":\"Error\",\"output\":\"o\",\"tags\":[\"a\",1]}", NULL, NULL,
                 "tags[1]", NULL);
    expect_error("{\"rule\":\"r\",\"priority\":\"Error\",\"output\":\"o\",\"output_fields\":[]}", NULL, NULL,
                 "output_fields", NULL);
    expect_error("{\"output\":\"o\",\"priority\":\"Error\"}", NULL, "falco", "rule", NULL);
    expect_error("{\"rule\":\"r\",\"output\":\"o\"}", NULL, "falco", "priority", NULL);
    /* Alertmanager: the failing alert is named; nothing of the document kept */
    expect_error("[{\"marker\":1},{\"version\":\"4\",\"status\":\"firing\",\"receiver\":\"r\",\"alerts\":["
                 "{\"status\":\"firing\",\"labels\":{}},{\"status\":\"pending\",\"labels\":{}}]}]",
                 NULL, NULL, "document 2", "alerts[1].status");
    expect_error("{\"version\":\"4\",\"status\":\"firing\",\"receiver\":\"r\",\"alerts\":[{\"labels\":{"
                 "\"severity\":5}}]}",
                 NULL, NULL, "document 1", "alerts[0].labels.severity");
    expect_error("{\"version\":\"4\",\"status\":\"firing\",\"receiver\":\"r\",\"alerts\":[{\"labels\":{},"
                 "\"startsAt\":\"soon\"}]}",
                 NULL, NULL, "alerts[0].startsAt", NULL);
    expect_error("{\"version\":\"4\",\"status\":\"firing\",\"receiver\":\"r\",\"alerts\":[]}", NULL, NULL,
                 "alerts", "empty");
    expect_error("{\"version\":\"3\",\"status\":\"firing\",\"receiver\":\"r\",\"alerts\":[{}]}", NULL, NULL,
                 "version", NULL);
    expect_error("{\"status\":\"firing\"}", NULL, "alertmanager", "alerts", "required");
    expect_error("{\"version\":\"4\",\"receiver\":\"r\",\"groupKey\":\"g\",\"alerts\":{}}", NULL,
                 "alertmanager", "alerts", "array");
    /* Kubernetes */
    expect_error("{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"involvedObject\":{},\"count\":\"x\"}", NULL,
                 NULL, "document 1", "count");
    expect_error("{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"involvedObject\":\"pod\",\"reason\":\"r\"}",
                 NULL, NULL, "involvedObject", NULL);
    expect_error(
        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"involvedObject\":{},"
        "\"lastTimestamp\":\"later\"}}",
        NULL, NULL, "object.lastTimestamp", NULL);
    expect_error(
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"1\"}}}",
        NULL, "kubernetes", "document 1", "involvedObject");
    expect_error("{\"kind\":\"Pod\",\"apiVersion\":\"v1\"}", NULL, "kubernetes", "kind", NULL);
    /* Docker */
    expect_error("{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":\"c1\"}", NULL, "docker", "document 1",
                 "Actor");
    expect_error("{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"c\",\"Attributes\":{"
                 "\"exitCode\":\"abc\"}}}",
                 NULL, NULL, "exitCode", NULL);
    expect_error("{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"c\"},\"timeNano\":\"x\"}",
                 NULL, NULL, "timeNano", NULL);
    expect_error("{\"Type\":\"container\",\"Actor\":{}}", NULL, "docker", "Action", NULL);
    expect_error(
        "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{}}\n{\"Type\":\"container\",\"Action\":7,"
        "\"Actor\":{}}\n",
        "application/x-ndjson", "docker", "document 2", "Action");
}

/* ------------------------------------------------------------ registry */

/* ?format= lists the formats that exist, and only those */
static void test_format_names(void **state)
{
    (void)state;
    static const char *const names[] = {"sysdig", "falco", "alertmanager", "kubernetes", "docker", "generic"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_non_null(hd_decoder_find(names[i]));
    }
    expect_error("{}", NULL, "xml", "unknown format 'xml'",
                 "(known: sysdig, falco, alertmanager, kubernetes, docker, generic)");
    struct hd_err err = {0};
    assert_int_equal(hd_decoder_registry_check(&err), HD_OK);
}

/* ------------------------------------------------------------ ids and times */

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

static void test_registry_and_ids(void **state)
{
    (void)state;
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
        cmocka_unit_test(test_fixture_rows_detected),
        cmocka_unit_test(test_fixture_rows_forced),
        cmocka_unit_test(test_detection_all_fixtures),
        cmocka_unit_test(test_split_array),
        cmocka_unit_test(test_split_ndjson),
        cmocka_unit_test(test_split_single_and_stream),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_event_limit),
        cmocka_unit_test(test_decode_in_parts),
        cmocka_unit_test(test_packed_and_sized),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_depth_and_binary),
        cmocka_unit_test(test_bad_input_names_document_and_field),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_epoch_magnitude),
        cmocka_unit_test(test_registry_and_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
