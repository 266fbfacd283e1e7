/* test_kubernetes.c - src/input/kubernetes.c: core/v1 and events.k8s.io/v1 Events, bare or as
 * watch lines: ids per occurrence, alertKeys, the fields.
 * Fixtures are the real payloads of tests/fixtures/. */
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
    fx_decode_ok(ev1, NULL, NULL, &b);
    fx_decode_ok(ev1b, NULL, NULL, &b);
    fx_decode_ok(ev2, NULL, NULL, &b);
    fx_decode_ok(ev3, NULL, NULL, &b);
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
    fx_decode_fixture("k8s/k8s_events_kind_cluster_capture.json", NULL, &b);
    fx_decode_fixture("k8s/k8s_watch_stream_events_assembled.jsonl", NULL, &w);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(b.ev[i].id, w.ev[i].id);
    }
    hd_batch_free(&b);
    hd_batch_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubernetes_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
