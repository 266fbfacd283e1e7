/* test_event.c - src/model/event.c (the k8s container-name split, RFC 3339
 * times, the normalized JSON, state names) and src/model/source.c (the
 * table of sources). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "model/event.h"
#include "model/source.h"

static void test_k8s_container_name(void **state)
{
    (void)state;
    struct hd_event ev;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(
        hd_event_k8s_from_container_name(
            &ev, "k8s_ftest_redis-3463099497-2xxw3_example-java-app_08285988-acff-11e7-b6b2-06fd27f1a4ca_0"),
        1);
    assert_string_equal(ev.k8s_container, "ftest");
    assert_string_equal(ev.k8s_pod, "redis-3463099497-2xxw3");
    assert_string_equal(ev.k8s_namespace, "example-java-app");
    /* fills only what is empty */
    assert_int_equal(hd_event_k8s_from_container_name(&ev, "/k8s_a_b_c_d_12"), 1);
    assert_string_equal(ev.k8s_container, "ftest");
    hd_event_clear(&ev);
    assert_null(ev.k8s_container);
    static const char *const bad[] = {"nginx",         "k8s_",          "k8s_a_b_c_d",
                                      "k8s_a_b_c_d_x", "k8s_a__c_d_1",  "k8s_a_b_c_d_1_2",
                                      "k8s_a_b_c_d_",  "K8S_a_b_c_d_1", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        if (hd_event_k8s_from_container_name(&ev, bad[i]) != 0) {
            fail_msg("'%s' matched", bad[i]);
        }
        assert_null(ev.k8s_namespace);
    }
    assert_int_equal(hd_event_k8s_from_container_name(&ev, NULL), 0);
}

static void test_rfc3339(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t us;
    } good[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2020-11-25T16:49:08.648718268Z", 1606322948648718LL},
        {"2020-11-25T16:49:08.6Z", 1606322948600000LL},
        {"2020-11-25t17:49:08+01:00", 1606322948000000LL},
        {"2020-11-25 15:19:08-01:30", 1606322948000000LL},
        {"2020-11-25T17:49:08+0100", 1606322948000000LL},
        {"2024-02-29T00:00:00z", 1709164800000000LL},
        {"1969-12-31T23:59:59.5Z", -500000LL},
        {"2016-12-31T23:59:60Z", 1483228799000000LL},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t us = 42;
        if (hd_parse_rfc3339_us(good[i].s, &us) != HD_OK || us != good[i].us) {
            fail_msg("%s -> %lld, want %lld", good[i].s, (long long)us, (long long)good[i].us);
        }
    }
    static const char *const bad[] = {"",
                                      "2020-11-25",
                                      "2020-11-25T16:49:08",
                                      "2020-11-25T16:49:08.Z",
                                      "2023-02-29T00:00:00Z",
                                      "2020-13-01T00:00:00Z",
                                      "2020-11-25T24:00:00Z",
                                      "2020-11-25T16:49:08Zx",
                                      "2020-11-25T16:49:08+1:00",
                                      "0001-01-01T00:00:00",
                                      "abc",
                                      NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        int64_t us = 42;
        if (hd_parse_rfc3339_us(bad[i], &us) != HD_EINVAL || us != 42) {
            fail_msg("'%s' accepted", bad[i]);
        }
    }
    assert_int_equal(hd_parse_rfc3339_us(NULL, NULL), HD_EINVAL);
}

static void test_event_to_json(void **state)
{
    (void)state;
    struct hd_event ev;
    memset(&ev, 0, sizeof(ev));
    memcpy(ev.id, "0123456789abcdef0123456789abcdef", 33);
    ev.seq = 7;
    ev.source = "generic";
    ev.ts_us = 1;
    ev.recv_us = 2;
    ev.severity = 3;
    ev.state = HD_STATE_OK;
    ev.name = strdup("n\"1\n");
    ev.k8s_pod = strdup("p");
    ev.labels = strdup("{\"rule\":\"r\"}");
    ev.alert_key = strdup("k");
    ev.raw = strdup("{\"x\": 1}");
    ev.raw_len = strlen(ev.raw);
    struct hd_buf out;
    hd_buf_init(&out, 0);
    assert_int_equal(hd_event_to_json(&ev, 1, &out), HD_OK);
    assert_string_equal(out.p,
                        "{\"id\":\"0123456789abcdef0123456789abcdef\",\"seq\":7,\"source\":\"generic\","
                        "\"timestampUs\":1,\"receivedUs\":2,\"severity\":3,\"state\":\"OK\","
                        "\"name\":\"n\\\"1\\n\",\"k8s\":{\"pod\":\"p\"},\"labels\":{\"rule\":\"r\"},"
                        "\"alertKey\":\"k\",\"raw\":{\"x\": 1}}");
    hd_buf_reset(&out);
    assert_int_equal(hd_event_to_json(&ev, 0, &out), HD_OK);
    assert_null(strstr(out.p, "\"raw\""));
    /* over the buffer cap: error, buffer unchanged */
    struct hd_buf small;
    hd_buf_init(&small, 40);
    assert_int_equal(hd_buf_puts(&small, "abc"), HD_OK);
    assert_int_equal(hd_event_to_json(&ev, 1, &small), HD_ETOOBIG);
    assert_int_equal(small.len, 3);
    assert_string_equal(small.p, "abc");
    hd_buf_free(&small);
    hd_buf_free(&out);
    hd_event_clear(&ev);
}

/* hd_event_pack: the same event, its strings and owned raw in one block;
 * a borrowed raw stays where it is. */
static void test_event_pack(void **state)
{
    (void)state;
    struct hd_event ev;
    memset(&ev, 0, sizeof(ev));
    memcpy(ev.id, "0123456789abcdef0123456789abcdef", 33);
    ev.source = "generic";
    ev.name = strdup("name");
    ev.description = strdup("");
    ev.k8s_name = strdup("pod-1");
    ev.labels = strdup("{\"a\":\"b\"}");
    ev.alert_key = strdup("key");
    ev.raw = strdup("{\"raw\":true}");
    ev.raw_len = strlen(ev.raw);
    struct hd_buf before, after;
    hd_buf_init(&before, 0);
    hd_buf_init(&after, 0);
    assert_int_equal(hd_event_to_json(&ev, 1, &before), HD_OK);
    size_t bytes = hd_event_bytes(&ev);
    assert_int_equal(bytes, sizeof(ev) + 12 + 5 + 1 + 6 + 10 + 4); /* raw, then each string + NUL */
    assert_int_equal(hd_event_pack(&ev), HD_OK);
    assert_non_null(ev.block);
    assert_int_equal(hd_event_bytes(&ev), bytes); /* from the block's size: the same */
    char *blk = ev.block;
    assert_int_equal(hd_event_pack(&ev), HD_OK); /* once */
    assert_ptr_equal(ev.block, blk);
    char **str[HD_EVENT_NSTR];
    hd_event_strs(&ev, str);
    size_t set = 0;
    for (size_t i = 0; i < HD_EVENT_NSTR; i++) {
        if (*str[i] != NULL) {
            set++;
            assert_true(*str[i] >= ev.block && *str[i] < ev.block + 64);
        }
    }
    assert_int_equal(set, 5);
    assert_null(ev.url);
    assert_ptr_equal(ev.raw, ev.block); /* owned raw first */
    assert_int_equal(ev.raw[ev.raw_len], '\0');
    assert_int_equal(hd_event_to_json(&ev, 1, &after), HD_OK);
    assert_string_equal(before.p, after.p);
    hd_event_clear(&ev); /* one free: ASan/valgrind would see any other */

    static const char body[] = "xx{\"borrowed\":1}yy";
    memset(&ev, 0, sizeof(ev));
    ev.name = strdup("n");
    ev.raw = (char *)body + 2;
    ev.raw_len = 14;
    ev.raw_borrowed = 1;
    bytes = hd_event_bytes(&ev);
    assert_int_equal(hd_event_pack(&ev), HD_OK);
    assert_int_equal(hd_event_bytes(&ev), bytes);
    assert_ptr_equal(ev.raw, body + 2);
    assert_string_equal(ev.name, "n");
    assert_ptr_equal(ev.name, ev.block);
    hd_event_clear(&ev);

    memset(&ev, 0, sizeof(ev)); /* no strings: nothing allocated */
    assert_int_equal(hd_event_pack(&ev), HD_OK);
    assert_null(ev.block);
    hd_buf_free(&before);
    hd_buf_free(&after);
}

static void test_state_names(void **state)
{
    (void)state;
    enum hd_state st = HD_STATE_ACTIVE;
    assert_int_equal(hd_state_parse("ok", &st), HD_OK);
    assert_int_equal(st, HD_STATE_OK);
    assert_int_equal(hd_state_parse("RESOLVED", &st), HD_OK);
    assert_int_equal(st, HD_STATE_RESOLVED);
    assert_int_equal(hd_state_parse("firing", &st), HD_EINVAL);
    assert_string_equal(hd_state_name(HD_STATE_ACTIVE), "ACTIVE");
    assert_string_equal(hd_state_name(HD_STATE_OK), "OK");
    assert_string_equal(hd_state_name(HD_STATE_RESOLVED), "RESOLVED");
}

/* src/model/source.c: every source has a distinct name that hd_source_find
 * finds again, and a format; a format name is no source. */
static void test_source_table(void **state)
{
    (void)state;
    struct hd_buf names;
    hd_buf_init(&names, 0);
    assert_int_equal(hd_source_names_join(&names), HD_OK);
    for (int i = 0; i < HD_SRC_COUNT; i++) {
        const struct hd_source *s = hd_source((enum hd_source_id)i);
        assert_non_null(s->name);
        assert_non_null(s->format);
        assert_ptr_equal(hd_source_name((enum hd_source_id)i), s->name);
        assert_ptr_equal(hd_source_find(s->name), s);
        for (int j = 0; j < i; j++) {
            if (strcmp(hd_source((enum hd_source_id)j)->name, s->name) == 0) {
                fail_msg("source name '%s' twice in the table", s->name);
            }
        }
        assert_non_null(strstr(names.p, s->name));
    }
    assert_null(hd_source_find("sysdig"));
    assert_null(hd_source_find(""));
    assert_null(hd_source_find(NULL));
    hd_buf_free(&names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_k8s_container_name), cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_event_to_json),      cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_event_pack),         cmocka_unit_test(test_source_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
