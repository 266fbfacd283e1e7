/* test_docker.c - src/input/docker.c: Docker (and Podman) engine events: legacy fields,
 * timeNano, severities by action and exit code, k8s fields.
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

static void test_docker_events(void **state)
{
    (void)state;
    struct hd_batch b;
    hd_batch_init(&b);
    /* the legacy status/id/from fields change nothing */
    struct hd_batch l;
    hd_batch_init(&l);
    fx_decode_fixture("docker/moby_api_v1.24_events_example.jsonl", NULL, &b);
    fx_decode_fixture("docker/moby_api_v1.22_events_example_legacy_fields.jsonl", NULL, &l);
    assert_int_equal(b.n, l.n);
    for (size_t i = 0; i < b.n; i++) {
        assert_string_equal(b.ev[i].id, l.ev[i].id);
        assert_string_equal(b.ev[i].alert_key, l.ev[i].alert_key);
    }
    hd_batch_free(&b);
    hd_batch_free(&l);

    /* timeNano is exact: 1 ns apart is another event; oom 3; die non-zero 4;
     * dockershim names and io.kubernetes labels fill k8s */
    fx_decode_ok(
        "{\"Type\":\"container\",\"Action\":\"oom\",\"Actor\":{\"ID\":\"c1\",\"Attributes\":{\"name\":"
        "\"k8s_app_web-7d9_prod_5f1e-uid_0\"}},\"time\":1795710158,\"timeNano\":1795710158804309373}",
        NULL, NULL, &b);
    fx_decode_ok(
        "{\"Type\":\"container\",\"Action\":\"oom\",\"Actor\":{\"ID\":\"c1\",\"Attributes\":{\"name\":"
        "\"k8s_app_web-7d9_prod_5f1e-uid_0\"}},\"time\":1795710158,\"timeNano\":1795710158804309374}",
        NULL, NULL, &b);
    fx_decode_ok("{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"c2\",\"Attributes\":{"
                 "\"exitCode\":\"137\","
                 "\"io.kubernetes.pod.namespace\":\"kube-system\",\"io.kubernetes.pod.name\":\"dns-1\","
                 "\"io.kubernetes.container.name\":\"coredns\"}},\"timeNano\":1795710158000000000}",
                 NULL, NULL, &b);
    fx_decode_ok("{\"status\":\"die\",\"id\":\"c3\",\"from\":\"alpine\",\"time\":1461943105}", NULL, NULL,
                 &b); /* pre-1.22 */
    fx_decode_ok("{\"Type\":\"container\",\"Action\":\"health_status: unhealthy\",\"Actor\":{\"ID\":\"c4\"},"
                 "\"timeNano\":1795710158000000001}",
                 NULL, "docker", &b);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docker_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
