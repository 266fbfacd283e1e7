/* test_metrics.c - counters, histograms and the Prometheus text rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/metrics.h"

static void test_counters_by_labels(void **state)
{
    hd_metrics_reset();
    hd_metrics_add("herald_x_total", "a=\"1\"", 2);
    hd_metrics_add("herald_x_total", "a=\"1\"", 3);
    hd_metrics_add("herald_x_total", "a=\"2\"", 1);
    hd_metrics_add("herald_y_total", NULL, 7);
    assert_int_equal(hd_metrics_get("herald_x_total", "a=\"1\""), 5);
    assert_int_equal(hd_metrics_get("herald_x_total", "a=\"2\""), 1);
    assert_int_equal(hd_metrics_get("herald_y_total", ""), 7);
    assert_int_equal(hd_metrics_get("herald_nope", NULL), 0);
    hd_metrics_reset();
    assert_int_equal(hd_metrics_get("herald_x_total", "a=\"1\""), 0);
}

static void test_render_grouped(void **state)
{
    hd_metrics_reset();
    hd_metrics_add("herald_x_total", "a=\"1\"", 5);
    hd_metrics_add("herald_y_total", NULL, 7);
    hd_metrics_add("herald_x_total", "a=\"2\"", 1);
    hd_metrics_observe("herald_lat_seconds", "c=\"h\"", 0.003);
    hd_metrics_observe("herald_lat_seconds", "c=\"h\"", 0.2);
    hd_metrics_observe("herald_lat_seconds", "c=\"h\"", 100);
    struct hd_buf b;
    hd_buf_init(&b, 0);
    assert_int_equal(hd_metrics_render(&b), HD_OK);
    const char *want_x =
        "# TYPE herald_x_total counter\nherald_x_total{a=\"1\"} 5\nherald_x_total{a=\"2\"} 1\n";
    assert_non_null(strstr(b.p, want_x));
    assert_non_null(strstr(b.p, "# TYPE herald_y_total counter\nherald_y_total 7\n"));
    assert_non_null(strstr(b.p, "# TYPE herald_lat_seconds histogram\n"));
    assert_non_null(strstr(b.p, "herald_lat_seconds_bucket{c=\"h\",le=\"0.001\"} 0\n"));
    assert_non_null(strstr(b.p, "herald_lat_seconds_bucket{c=\"h\",le=\"0.005\"} 1\n"));
    assert_non_null(strstr(b.p, "herald_lat_seconds_bucket{c=\"h\",le=\"0.25\"} 2\n"));
    assert_non_null(strstr(b.p, "herald_lat_seconds_bucket{c=\"h\",le=\"60\"} 2\n"));
    assert_non_null(strstr(b.p, "herald_lat_seconds_bucket{c=\"h\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(b.p, "herald_lat_seconds_count{c=\"h\"} 3\n"));
    assert_non_null(strstr(b.p, "herald_lat_seconds_sum{c=\"h\"} 100.203000\n"));
    /* One TYPE line per name. */
    const char *first = strstr(b.p, "# TYPE herald_x_total");
    assert_null(strstr(first + 1, "# TYPE herald_x_total"));
    assert_int_equal(hd_metrics_get("herald_lat_seconds", "c=\"h\""), 3);
    hd_buf_free(&b);
    hd_metrics_reset();
}

static void *adder(void *arg)
{
    for (int i = 0; i < 10000; i++) {
        hd_metrics_add("herald_threads_total", "t=\"x\"", 1);
    }
    return NULL;
}

static void test_thread_safe(void **state)
{
    hd_metrics_reset();
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, adder, NULL), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(hd_metrics_get("herald_threads_total", "t=\"x\""), 40000);
    hd_metrics_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_by_labels),
        cmocka_unit_test(test_render_grouped),
        cmocka_unit_test(test_thread_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
