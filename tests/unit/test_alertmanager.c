/* test_alertmanager.c - src/input/alertmanager.c: one event per alert, ids and alertKeys across
 * re-sends and resolution, each event's raw document, the severity label map.
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

static void test_alertmanager_ids_and_raw(void **state)
{
    (void)state;
    struct hd_batch b;
    hd_batch_init(&b);
    fx_decode_fixture("alertmanager/am0.25_captured_firing_2alerts.json", NULL, &b);
    fx_decode_fixture("alertmanager/am0.25_captured_firing_2alerts.json", NULL, &b); /* re-sent */
    fx_decode_fixture("alertmanager/am0.25_captured_resolved_2alerts.json", NULL, &b);
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
    fx_decode_fixture("alertmanager/am0.25_captured_firing_amtool.json", NULL, &b);
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
    fx_decode_ok(firing, NULL, NULL, &b);
    fx_decode_ok(resolved, NULL, NULL, &b);
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
        fx_decode_ok(doc, NULL, NULL, &b);
        assert_int_equal(b.ev[b.n - 1].severity, sevs[i].sev);
    }
    hd_batch_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alertmanager_ids_and_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
