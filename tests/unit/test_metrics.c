/* test_metrics.c - counters, histograms and the Prometheus text rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Every family has # HELP then # TYPE, from the table when it is there. */
static void test_help_and_type(void **state)
{
    hd_metrics_reset();
    hd_metrics_add("herald_deliveries_total", "channel=\"a\",outcome=\"delivered\"", 1);
    hd_metrics_add("herald_not_in_the_table_total", NULL, 1);
    struct hd_buf b;
    hd_buf_init(&b, 0);
    assert_int_equal(hd_metrics_render(&b), HD_OK);
    assert_non_null(strstr(b.p, "# HELP herald_deliveries_total Events handed to a channel"));
    assert_non_null(strstr(b.p, "\n# TYPE herald_deliveries_total counter\nherald_deliveries_total{"));
    assert_non_null(strstr(b.p, "# HELP herald_not_in_the_table_total Undocumented"));
    hd_buf_reset(&b);
    /* The table's type wins over the caller's guess. */
    assert_int_equal(hd_metrics_family(&b, "herald_channel_backlog", "counter"), HD_OK);
    assert_non_null(strstr(b.p, "# TYPE herald_channel_backlog gauge\n"));
    hd_buf_free(&b);
    /* No duplicate names in the table, and each has a help text and a type. */
    size_t n = 0;
    const struct hd_metric_family *fam = hd_metrics_families(&n);
    assert_true(n > 20);
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(fam[i].help) > 10);
        assert_true(strcmp(fam[i].type, "counter") == 0 || strcmp(fam[i].type, "gauge") == 0 ||
                    strcmp(fam[i].type, "histogram") == 0);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(fam[i].name, fam[j].name);
        }
    }
    hd_metrics_reset();
}

/* process_* from /proc: every family present, values plausible. */
static void test_process(void **state)
{
    struct hd_buf b;
    hd_buf_init(&b, 0);
    assert_int_equal(hd_metrics_process(&b), HD_OK);
    const char *names[] = {"process_cpu_seconds_total ",
                           "process_resident_memory_bytes ",
                           "process_virtual_memory_bytes ",
                           "process_open_fds ",
                           "process_max_fds ",
                           "process_start_time_seconds "};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char want[80];
        snprintf(want, sizeof(want), "\n%s", names[i]);
        const char *p = strstr(b.p, want);
        assert_non_null(p);
        double v = strtod(p + strlen(want), NULL);
        assert_true(v >= 0);
        if (strncmp(names[i], "process_start_time", 18) == 0) {
            assert_true(v > 1.6e9 && v < 4e9);
        }
        if (strncmp(names[i], "process_resident", 16) == 0 || strncmp(names[i], "process_open", 12) == 0) {
            assert_true(v > 0);
        }
    }
    hd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_by_labels),
        cmocka_unit_test(test_render_grouped),
        cmocka_unit_test(test_thread_safe),
        cmocka_unit_test(test_help_and_type),
        cmocka_unit_test(test_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
