/* test_generic.c - src/input/generic.c: the fallback decoder, its ids
 * (canonical JSON: key order and spacing do not matter) and the fields it
 * reads leniently. */
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

static void test_generic_ids(void **state)
{
    (void)state;
    struct hd_batch b;
    hd_batch_init(&b);
    fx_decode_ok("{\"b\":1,\"a\":{\"y\":2,\"x\":[1,2]},\"name\":\"disk full\",\"host\":\"n1\"}", NULL, NULL,
                 &b);
    fx_decode_ok(
        "{ \"host\" : \"n1\",\n \"a\" : {\"x\":[1, 2], \"y\":2},\n\t\"name\":\"disk full\", \"b\":1 }", NULL,
        NULL, &b);
    fx_decode_ok("{\"b\":1,\"a\":{\"y\":2,\"x\":[2,1]},\"name\":\"disk full\",\"host\":\"n1\"}", NULL, NULL,
                 &b);
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
    fx_decode_ok("{\"@timestamp\":\"2024-02-29T12:00:01.123456789+01:00\",\"severity\":\"warning\","
                 "\"state\":\"ok\",\"title\":\"t\",\"message\":\"m\",\"url\":\"http://x\","
                 "\"host\":{\"name\":\"h\"},\"container\":{\"id\":\"c1\"},"
                 "\"kubernetes\":{\"namespace_name\":\"ns\",\"pod_name\":\"p\",\"container_name\":\"c\"},"
                 "\"labels\":{\"team\":\"sre\",\"n\":1}}",
                 NULL, NULL, &b);
    fx_decode_ok("{\"time\":1700000000,\"severity\":2,\"container_name\":\"/k8s_app_web-1_prod_uid_3\"}",
                 NULL, NULL, &b);
    fx_decode_ok("{\"timestamp\":\"abc\",\"severity\":5.5e37,\"state\":5}", NULL, NULL, &b);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generic_ids),
        cmocka_unit_test(test_generic_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
