/* test_decoders_more.c - the Falco, Alertmanager, Kubernetes Event and
 * Docker event decoders (SPEC section 5): every fixture decodes to the
 * expected normalized fields (table below), each fixture is detected as its
 * own format, ids and alertKeys follow the SPEC rules, and bad input names
 * the document and the field. Fixtures are the real payloads of
 * tests/fixtures/. */
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

/* Decodes fixture rel (NDJSON by extension) with format fmt (NULL: detect). */
static void decode_fixture(const char *rel, const char *fmt, struct hd_batch *b)
{
    size_t len = 0;
    char *body = fx_read_fixture(rel, &len);
    struct hd_err err = {0};
    int rc = hd_ingest_decode(body, len, fx_is_ndjson_name(rel) ? "application/x-ndjson" : "application/json",
                              fmt, b, &err);
    free(body);
    if (rc != HD_OK) {
        fail_msg("%s (format %s): %s", rel, fmt ? fmt : "detected", err.msg);
    }
}

static void decode_ok(const char *body, const char *fmt, struct hd_batch *b)
{
    struct hd_err err = {0};
    int rc = hd_ingest_decode(body, strlen(body), NULL, fmt, b, &err);
    if (rc != HD_OK) {
        fail_msg("decode failed: %s (body: %.100s)", err.msg, body);
    }
}

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
        decode_fixture(r->file, fmt, &b);
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

/* ------------------------------------------------------------ ids and keys */

static void test_alertmanager_ids_and_raw(void **state)
{
    (void)state;
    struct hd_batch b;
    hd_batch_init(&b);
    decode_fixture("alertmanager/am0.25_captured_firing_2alerts.json", NULL, &b);
    decode_fixture("alertmanager/am0.25_captured_firing_2alerts.json", NULL, &b); /* re-sent */
    decode_fixture("alertmanager/am0.25_captured_resolved_2alerts.json", NULL, &b);
    assert_int_equal(b.n, 6);
    /* re-sent: same ids, in alert order */
    assert_string_equal(b.ev[0].id, b.ev[2].id);
    assert_string_equal(b.ev[1].id, b.ev[3].id);
    assert_string_not_equal(b.ev[0].id, b.ev[1].id);
    /* resolved: same alertKey, new id */
    assert_string_equal(b.ev[0].alert_key, b.ev[4].alert_key);
    assert_string_equal(b.ev[1].alert_key, b.ev[5].alert_key);
    assert_string_not_equal(b.ev[0].id, b.ev[4].id);
    assert_string_not_equal(b.ev[1].id, b.ev[5].id);

    /* raw: the notification with only this alert, every other byte as sent */
    size_t len = 0;
    char path[512];
    snprintf(path, sizeof(path), "%s/alertmanager/am0.25_captured_firing_2alerts.json", HD_FIXTURES);
    char *body = fx_read_file(path, &len);
    assert_non_null(body);
    while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == ' ')) {
        len--;
    }
    const char *arr = strstr(body, "\"alerts\":[");
    assert_non_null(arr);
    size_t head = (size_t)(arr - body) + 10;
    const char *tail = strstr(body, "],\"groupLabels\"");
    assert_non_null(tail);
    for (size_t i = 0; i < 2; i++) {
        const struct hd_event *ev = &b.ev[i];
        assert_true(ev->raw_len < len);
        assert_memory_equal(ev->raw, body, head);
        size_t tail_len = len - (size_t)(tail - body);
        assert_memory_equal(ev->raw + ev->raw_len - tail_len, tail, tail_len);
        struct hd_err err = {0};
        json_object *o = hd_json_parse(ev->raw, ev->raw_len, &err);
        assert_non_null(o);
        json_object *alerts = hd_json_path(o, "alerts");
        assert_int_equal(json_object_array_length(alerts), 1);
        assert_string_equal(hd_json_get_str(json_object_array_get_idx(alerts, 0), "fingerprint"),
                            i == 0 ? "aa3d6b6d918ae4f3" : "ef95a5c9a2fb53f6");
        json_object_put(o);
    }
    free(body);
    hd_batch_free(&b);

    /* one alert: the document itself */
    decode_fixture("alertmanager/am0.25_captured_firing_amtool.json", NULL, &b);
    assert_int_equal(b.n, 1);
    assert_true(b.ev[0].raw[0] == '{' && strstr(b.ev[0].raw, "\"truncatedAlerts\":0}") != NULL);
    hd_batch_free(&b);

    /* no per-alert status / fingerprint (older senders): the group status,
     * a fingerprint computed from the label set (stable across states) */
    const char *firing =
        "{\"status\":\"firing\",\"receiver\":\"r\",\"alerts\":[{\"labels\":{\"alertname\":\"A\","
        "\"severity\":\"info\",\"pod\":\"p1\",\"namespace\":\"ns1\"},\"startsAt\":\"2024-01-01T00:00:00Z\"}]"
        "}";
    const char *resolved =
        "{\"status\":\"resolved\",\"receiver\":\"r\",\"alerts\":[{\"labels\":{\"namespace\":\"ns1\","
        "\"pod\":\"p1\",\"severity\":\"info\",\"alertname\":\"A\"},\"startsAt\":\"2024-01-01T00:00:00Z\","
        "\"endsAt\":\"2024-01-01T00:05:00Z\"}]}";
    decode_ok(firing, NULL, &b);
    decode_ok(resolved, NULL, &b);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.ev[0].state, HD_STATE_ACTIVE);
    assert_int_equal(b.ev[1].state, HD_STATE_OK);
    assert_int_equal(b.ev[0].severity, 6);
    assert_string_equal(b.ev[0].alert_key, b.ev[1].alert_key);
    assert_string_not_equal(b.ev[0].id, b.ev[1].id);
    assert_true(b.ev[1].ts_us == 1704067500000000LL); /* endsAt when resolved */
    assert_string_equal(b.ev[0].k8s_namespace, "ns1");
    assert_string_equal(b.ev[0].k8s_pod, "p1");
    hd_batch_free(&b);

    /* severity label map: critical 2, error 3, warning 4, info 6, else 5 */
    static const struct {
        const char *label;
        int sev;
    } sevs[] = {{"critical", 2}, {"error", 3}, {"warning", 4}, {"info", 6}, {"page", 5}, {NULL, 5}};
    for (size_t i = 0; i < sizeof(sevs) / sizeof(sevs[0]); i++) {
        char doc[256];
        snprintf(
            doc, sizeof(doc),
            "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"labels\":{\"alertname\":\"X\"%s%s%s},"
            "\"fingerprint\":\"f%zu\"}]}",
            sevs[i].label ? ",\"severity\":\"" : "", sevs[i].label ? sevs[i].label : "",
            sevs[i].label ? "\"" : "", i);
        decode_ok(doc, NULL, &b);
        assert_int_equal(b.ev[b.n - 1].severity, sevs[i].sev);
    }
    hd_batch_free(&b);
}

static void test_falco_ids_and_priorities(void **state)
{
    (void)state;
    static const char *const names[] = {"Emergency", "Alert",  "Critical",      "Error",
                                        "Warning",   "Notice", "Informational", "Debug"};
    struct hd_batch b;
    hd_batch_init(&b);
    for (size_t i = 0; i < 8; i++) {
        char doc[256];
        snprintf(doc, sizeof(doc),
                 "{\"rule\":\"r\",\"priority\":\"%s\",\"output\":\"o\",\"time\":\"2024-01-01T00:00:00."
                 "123456789Z\"}",
                 names[i]);
        decode_ok(doc, NULL, &b);
        assert_int_equal(b.ev[i].severity, (int)i);
        assert_string_equal(b.ev[i].source, "falco");
        assert_true(b.ev[i].ts_us == 1704067200123456LL);
    }
    hd_batch_free(&b);
    /* no uuid: the canonical document (key order and spacing do not matter) */
    decode_ok("{\"rule\":\"r\",\"priority\":\"Error\",\"output\":\"o\",\"time\":\"2024-01-01T00:00:00Z\"}",
              NULL, &b);
    decode_ok(
        "{ \"time\":\"2024-01-01T00:00:00Z\", \"output\":\"o\", \"priority\":\"Error\", \"rule\":\"r\" }",
        NULL, &b);
    decode_ok("{\"rule\":\"r\",\"priority\":\"Error\",\"output\":\"o\",\"time\":\"2024-01-01T00:00:00."
              "000000001Z\"}",
              NULL, &b);
    /* falcosidekick's uuid identifies the alert */
    decode_ok("{\"uuid\":\"u-1\",\"rule\":\"r\",\"priority\":\"Error\",\"output\":\"o\",\"time\":\"2024-01-"
              "01T00:00:00Z\"}",
              NULL, &b);
    decode_ok("{\"uuid\":\"u-1\",\"rule\":\"r\",\"priority\":\"Error\",\"output\":\"o2\",\"time\":\"2024-01-"
              "01T00:00:00Z\"}",
              NULL, &b);
    assert_int_equal(b.n, 5);
    assert_string_equal(b.ev[0].id, b.ev[1].id);
    assert_string_not_equal(b.ev[0].id, b.ev[2].id);
    assert_string_equal(b.ev[3].id, b.ev[4].id);
    assert_string_not_equal(b.ev[0].id, b.ev[3].id);
    hd_batch_free(&b);
    /* k8s_ container names (docker-shim) fill the k8s fields; "host" is no container */
    decode_ok(
        "{\"rule\":\"r\",\"priority\":\"Notice\",\"output\":\"o\",\"time\":\"2024-01-01T00:00:00Z\","
        "\"output_fields\":{\"container.id\":\"host\",\"container.name\":\"k8s_web_web-1_prod_0a1b_2\"}}",
        "falco", &b);
    assert_null(b.ev[0].container_id);
    assert_string_equal(b.ev[0].k8s_container, "web");
    assert_string_equal(b.ev[0].k8s_pod, "web-1");
    assert_string_equal(b.ev[0].k8s_namespace, "prod");
    hd_batch_free(&b);
}

static void test_kubernetes_ids(void **state)
{
    (void)state;
    const char *ev1 =
        "{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":{\"uid\":\"u1\",\"namespace\":\"ns\","
        "\"resourceVersion\":\"10\"},\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\",\"namespace\":"
        "\"ns\"},"
        "\"reason\":\"BackOff\",\"message\":\"Back-off restarting\",\"type\":\"Warning\",\"count\":3,"
        "\"lastTimestamp\":\"2024-01-01T00:00:00Z\"}";
    /* the same Event read again (newer resourceVersion only): same id */
    const char *ev1b =
        "{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":{\"uid\":\"u1\",\"namespace\":\"ns\","
        "\"resourceVersion\":\"11\"},\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\",\"namespace\":"
        "\"ns\"},"
        "\"reason\":\"BackOff\",\"message\":\"Back-off restarting\",\"type\":\"Warning\",\"count\":3,"
        "\"lastTimestamp\":\"2024-01-01T00:00:00Z\"}";
    /* count grew: a new occurrence */
    const char *ev2 =
        "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":{\"uid\":"
        "\"u1\","
        "\"namespace\":\"ns\"},\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\",\"namespace\":\"ns\"},"
        "\"reason\":\"BackOff\",\"type\":\"Warning\",\"count\":4,\"lastTimestamp\":\"2024-01-01T00:01:00Z\"}"
        "}";
    /* events.k8s.io/v1: regarding, note, series, deprecated* */
    const char *ev3 =
        "{\"kind\":\"Event\",\"apiVersion\":\"events.k8s.io/v1\",\"metadata\":{\"uid\":\"u2\"},"
        "\"regarding\":{\"kind\":\"Pod\",\"name\":\"q\",\"namespace\":\"ns2\",\"fieldPath\":\"spec."
        "containers{app}\"},"
        "\"reason\":\"Unhealthy\",\"note\":\"Liveness probe failed\",\"type\":\"Warning\","
        "\"eventTime\":\"2024-01-01T00:00:00.000000Z\",\"series\":{\"count\":7,\"lastObservedTime\":"
        "\"2024-01-01T00:10:00.500000Z\"},\"deprecatedSource\":{\"host\":\"node-2\"},"
        "\"reportingController\":\"kubelet\"}";
    struct hd_batch b;
    hd_batch_init(&b);
    decode_ok(ev1, NULL, &b);
    decode_ok(ev1b, NULL, &b);
    decode_ok(ev2, NULL, &b);
    decode_ok(ev3, NULL, &b);
    assert_int_equal(b.n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(b.ev[i].source, "kubernetes");
        assert_int_equal(b.ev[i].severity, 4);
    }
    assert_string_equal(b.ev[0].id, b.ev[1].id);
    assert_string_not_equal(b.ev[0].id, b.ev[2].id);
    assert_string_equal(b.ev[0].alert_key, b.ev[2].alert_key);
    assert_string_equal(b.ev[0].alert_key, "kubernetes:BackOff:ns/Pod/p");
    assert_true(b.ev[2].ts_us == 1704067260000000LL);
    assert_string_equal(b.ev[3].description, "Liveness probe failed");
    assert_string_equal(b.ev[3].k8s_container, "app");
    assert_string_equal(b.ev[3].k8s_pod, "q");
    assert_string_equal(b.ev[3].host, "node-2");
    assert_true(b.ev[3].ts_us == 1704067800500000LL);
    assert_non_null(strstr(b.ev[3].labels, "\"count\":\"7\""));
    assert_non_null(strstr(b.ev[3].labels, "\"component\":\"kubelet\""));
    hd_batch_free(&b);
    /* a watch line and the bare Event are the same event */
    struct hd_batch w;
    hd_batch_init(&w);
    decode_fixture("k8s/k8s_events_kind_cluster_capture.json", NULL, &b);
    decode_fixture("k8s/k8s_watch_stream_events_assembled.jsonl", NULL, &w);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(b.ev[i].id, w.ev[i].id);
    }
    hd_batch_free(&b);
    hd_batch_free(&w);
}

static void test_docker_events(void **state)
{
    (void)state;
    struct hd_batch b;
    hd_batch_init(&b);
    /* the legacy status/id/from fields change nothing */
    struct hd_batch l;
    hd_batch_init(&l);
    decode_fixture("docker/moby_api_v1.24_events_example.jsonl", NULL, &b);
    decode_fixture("docker/moby_api_v1.22_events_example_legacy_fields.jsonl", NULL, &l);
    assert_int_equal(b.n, l.n);
    for (size_t i = 0; i < b.n; i++) {
        assert_string_equal(b.ev[i].id, l.ev[i].id);
        assert_string_equal(b.ev[i].alert_key, l.ev[i].alert_key);
    }
    hd_batch_free(&b);
    hd_batch_free(&l);

    /* timeNano is exact: 1 ns apart is another event; oom 3; die non-zero 4;
     * dockershim names and io.kubernetes labels fill k8s */
    decode_ok("{\"Type\":\"container\",\"Action\":\"oom\",\"Actor\":{\"ID\":\"c1\",\"Attributes\":{\"name\":"
              "\"k8s_app_web-7d9_prod_5f1e-uid_0\"}},\"time\":1795710158,\"timeNano\":1795710158804309373}",
              NULL, &b);
    decode_ok("{\"Type\":\"container\",\"Action\":\"oom\",\"Actor\":{\"ID\":\"c1\",\"Attributes\":{\"name\":"
              "\"k8s_app_web-7d9_prod_5f1e-uid_0\"}},\"time\":1795710158,\"timeNano\":1795710158804309374}",
              NULL, &b);
    decode_ok("{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"c2\",\"Attributes\":{"
              "\"exitCode\":\"137\","
              "\"io.kubernetes.pod.namespace\":\"kube-system\",\"io.kubernetes.pod.name\":\"dns-1\","
              "\"io.kubernetes.container.name\":\"coredns\"}},\"timeNano\":1795710158000000000}",
              NULL, &b);
    decode_ok("{\"status\":\"die\",\"id\":\"c3\",\"from\":\"alpine\",\"time\":1461943105}", NULL,
              &b); /* pre-1.22 */
    decode_ok("{\"Type\":\"container\",\"Action\":\"health_status: unhealthy\",\"Actor\":{\"ID\":\"c4\"},"
              "\"timeNano\":1795710158000000001}",
              "docker", &b);
    assert_int_equal(b.n, 5);
    assert_string_not_equal(b.ev[0].id, b.ev[1].id);
    assert_true(b.ev[0].ts_us == 1795710158804309LL);
    assert_int_equal(b.ev[0].severity, 3);
    assert_string_equal(b.ev[0].k8s_namespace, "prod");
    assert_string_equal(b.ev[0].k8s_pod, "web-7d9");
    assert_string_equal(b.ev[0].k8s_container, "app");
    assert_string_equal(b.ev[0].container_id, "c1");
    assert_int_equal(b.ev[2].severity, 4);
    assert_string_equal(b.ev[2].k8s_namespace, "kube-system");
    assert_string_equal(b.ev[2].k8s_pod, "dns-1");
    assert_string_equal(b.ev[2].k8s_container, "coredns");
    assert_string_equal(b.ev[3].source, "docker");
    assert_string_equal(b.ev[3].name, "container die");
    assert_string_equal(b.ev[3].container_id, "c3");
    assert_true(b.ev[3].ts_us == 1461943105000000LL);
    assert_non_null(strstr(b.ev[3].labels, "\"image\":\"alpine\""));
    assert_int_equal(b.ev[4].severity, 6);
    assert_string_equal(b.ev[4].name, "container health_status");
    assert_non_null(strstr(b.ev[4].description, "health_status: unhealthy"));
    hd_batch_free(&b);
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

/* ?format= lists the formats that exist, and only those */
/* ------------------------------------------------ the ingest JSON parser */

/* hd_jv_canonical must give hd_json_canonical's bytes (ids hash them) and
 * iterate members as json-c does (labels come from it). */
static void jt_same(const char *what, const char *doc, size_t len)
{
    struct hd_err e1 = {0}, e2 = {0};
    struct hd_jtape t;
    hd_jt_init(&t);
    json_object *o = hd_json_parse(doc, len, &e1);
    int rc = hd_jt_parse(doc, len, &t, &e2);
    if ((o != NULL) != (rc == HD_OK)) {
        fail_msg("%s: json-c %s (%s), jtape %s (%s)", what, o ? "accepts" : "rejects", e1.msg,
                 rc == HD_OK ? "accepts" : "rejects", e2.msg);
    }
    if (o != NULL) {
        struct hd_buf a, b;
        hd_buf_init(&a, 0);
        hd_buf_init(&b, 0);
        assert_int_equal(hd_json_canonical(o, &a), HD_OK);
        assert_int_equal(hd_jv_canonical(hd_jt_root(&t), &b), HD_OK);
        if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0) {
            fail_msg("%s: canonical differs:\n json-c %.*s\n jtape  %.*s", what, (int)a.len, a.p, (int)b.len,
                     b.p);
        }
        if (json_object_is_type(o, json_type_object)) {
            struct hd_jv_iter it;
            const char *k;
            hd_jv v;
            hd_jv_iter_init(&it, hd_jt_root(&t));
            struct json_object_iterator ji = json_object_iter_begin(o), je = json_object_iter_end(o);
            while (hd_jv_iter_next(&it, &k, &v)) {
                assert_false(json_object_iter_equal(&ji, &je));
                assert_string_equal(k, json_object_iter_peek_name(&ji));
                json_object_iter_next(&ji);
            }
            assert_true(json_object_iter_equal(&ji, &je));
        }
        hd_buf_free(&a);
        hd_buf_free(&b);
    }
    json_object_put(o);
    hd_jt_free(&t);
}

static void jt_fixture(const char *dir, const char *name, const char *rel, const char *body, size_t len,
                       void *ctx)
{
    (void)dir;
    (void)ctx;
    if (!fx_is_ndjson_name(name)) {
        jt_same(rel, body, len);
        return;
    }
    for (const char *p = body; p < body + len;) {
        const char *nl = memchr(p, '\n', (size_t)(body + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(body + len - p);
        if (n > 0) {
            jt_same(rel, p, n);
        }
        p += n + 1;
    }
}

static void test_jtape_matches_json_c(void **state)
{
    (void)state;
    static const char *const dirs[] = {"falco",  "alertmanager",  "k8s",   "docker",
                                       "sysdig", "elasticsearch", "splunk"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        fx_each_fixture(dirs[i], 0, jt_fixture, NULL);
    }
    /* json-c's quirks the ids depend on */
    static const char *const docs[] = {
        "{\"b\":1,\"a\":2,\"b\":3}", /* last value wins, first position */
        "{\"a\\u0000x\":1,\"a\":2}", /* keys end at a NUL */
        "[\"\\ud800\",\"\\ud800\\u0041\",\"\\udc00x\",\"\\ud83d\\ude00\"]", /* lone surrogates: U+FFFD */
        "[\"a\\u0000b\",\"\\b\\f\\n\\r\\t\\u001f\\u007f\\/\"]",
        "{\"\\b\\f\":\"\\b\\f\"}", /* keys and values escape differently */
        "[-0,-0.0,1E400,1.50,123456789012345678901234567890,-9223372036854775809,9223372036854775808]",
        "[true,false,null,{},[],\"\"]",
        "{\"z\":{\"y\":[1,{\"b\":null,\"a\":\"\u00e9\"}]}}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        jt_same(docs[i], docs[i], strlen(docs[i]));
    }
    /* strict where json-c is not */
    static const char *const bad[] = {"[-.5]", "[1.]",      "['a']",      "[NaN]",
                                      "[01]",  "[\"\\x\"]", "{\"a\":1,}", "[1,]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jt_same(bad[i], bad[i], strlen(bad[i]));
    }
}

static void test_jtape_access(void **state)
{
    (void)state;
    const char *doc = "{\"a\":{\"b\":[10,{\"c\":\"x\\ty\"},null]},\"n\":null,\"big\":9223372036854775807,"
                      "\"d\":2.5e3,\"t\":true}";
    struct hd_jtape t;
    struct hd_err err = {0};
    hd_jt_init(&t);
    assert_int_equal(hd_jt_parse(doc, strlen(doc), &t, &err), HD_OK);
    hd_jv root = hd_jt_root(&t);
    size_t len = 0;
    assert_string_equal(hd_jv_str(hd_jv_path(root, "a.b.1.c"), &len), "x\ty");
    assert_int_equal(len, 3);
    assert_int_equal(hd_jv_i64(hd_jv_path(root, "a.b.0")), 10);
    assert_null(hd_jv_path(root, "a.b.2")); /* null reads as absent */
    assert_null(hd_jv_path(root, "a.b.3"));
    assert_null(hd_jv_get(root, "n"));
    assert_true(hd_jv_has(root, "n"));
    assert_false(hd_jv_has(root, "m"));
    assert_int_equal(hd_jv_type(hd_jv_at(hd_jv_path(root, "a.b"), 2)), HD_JT_NULL);
    assert_int_equal(hd_jv_len(hd_jv_path(root, "a.b")), 3);
    assert_true(hd_jv_i64(hd_jv_get(root, "big")) == INT64_MAX);
    assert_true(hd_jv_double(hd_jv_get(root, "d")) == 2500.0);
    int64_t i = 0;
    assert_true(hd_jv_get_i64(root, "d", &i));
    assert_int_equal(i, 2500);
    assert_true(hd_jv_bool(hd_jv_get(root, "t")));
    /* the tape is reused; errors say where and why */
    assert_int_equal(hd_jt_parse("{\"a\":[1,2}", 11, &t, &err), HD_EINVAL);
    assert_string_equal(err.msg, "at byte 9: array value separator ',' expected");
    char deep[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    assert_int_equal(hd_jt_parse(deep, 130, &t, &err), HD_EINVAL);
    assert_string_equal(err.msg, "at byte 64: nesting deeper than 64 levels");
    assert_int_equal(hd_jt_parse(deep + 1, 128, &t, &err), HD_OK);
    hd_jt_free(&t);
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_rows_detected),
        cmocka_unit_test(test_fixture_rows_forced),
        cmocka_unit_test(test_detection_all_fixtures),
        cmocka_unit_test(test_alertmanager_ids_and_raw),
        cmocka_unit_test(test_falco_ids_and_priorities),
        cmocka_unit_test(test_kubernetes_ids),
        cmocka_unit_test(test_docker_events),
        cmocka_unit_test(test_bad_input_names_document_and_field),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_jtape_matches_json_c),
        cmocka_unit_test(test_jtape_access),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
