/* test_falco.c - src/input/falco.c: priorities to severities, ids (falcosidekick's uuid,
 * else the canonical document) and k8s fields from container names.
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
        fx_decode_ok(doc, NULL, NULL, &b);
        assert_int_equal(b.ev[i].severity, (int)i);
        assert_string_equal(b.ev[i].source, "falco");
        assert_true(b.ev[i].ts_us == 1704067200123456LL);
    }
    hd_batch_free(&b);
    /* no uuid: the canonical document (key order and spacing do not matter) */
    fx_decode_ok("{\"rule\":\"r\",\"priority\":\"Error\",\"output\":\"o\",\"time\":\"2024-01-01T00:00:00Z\"}",
                 NULL, NULL, &b);
    fx_decode_ok(
        "{ \"time\":\"2024-01-01T00:00:00Z\", \"output\":\"o\", \"priority\":\"Error\", \"rule\":\"r\" }",
        NULL, NULL, &b);
    fx_decode_ok("{\"rule\":\"r\",\"priority\":\"Error\",\"output\":\"o\",\"time\":\"2024-01-01T00:00:00."
                 "000000001Z\"}",
                 NULL, NULL, &b);
    /* falcosidekick's uuid identifies the alert */
    fx_decode_ok(
        "{\"uuid\":\"u-1\",\"rule\":\"r\",\"priority\":\"Error\",\"output\":\"o\",\"time\":\"2024-01-"
        "01T00:00:00Z\"}",
        NULL, NULL, &b);
    fx_decode_ok(
        "{\"uuid\":\"u-1\",\"rule\":\"r\",\"priority\":\"Error\",\"output\":\"o2\",\"time\":\"2024-01-"
        "01T00:00:00Z\"}",
        NULL, NULL, &b);
    assert_int_equal(b.n, 5);
    assert_string_equal(b.ev[0].id, b.ev[1].id);
    assert_string_not_equal(b.ev[0].id, b.ev[2].id);
    assert_string_equal(b.ev[3].id, b.ev[4].id);
    assert_string_not_equal(b.ev[0].id, b.ev[3].id);
    hd_batch_free(&b);
    /* k8s_ container names (docker-shim) fill the k8s fields; "host" is no container */
    fx_decode_ok(
        "{\"rule\":\"r\",\"priority\":\"Notice\",\"output\":\"o\",\"time\":\"2024-01-01T00:00:00Z\","
        "\"output_fields\":{\"container.id\":\"host\",\"container.name\":\"k8s_web_web-1_prod_0a1b_2\"}}",
        NULL, "falco", &b);
    assert_null(b.ev[0].container_id);
    assert_string_equal(b.ev[0].k8s_container, "web");
    assert_string_equal(b.ev[0].k8s_pod, "web-1");
    assert_string_equal(b.ev[0].k8s_namespace, "prod");
    hd_batch_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_falco_ids_and_priorities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
