/* test_throttle.c - options.throttle decisions (route/throttle.c DESIGN). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel_fixture.h"
#include "route/throttle.h"

#define MS 1000LL
#define T0 1700000000000000LL

static struct hd_channel_common common(const char *key, long window_ms)
{
    struct hd_channel_common c;
    memset(&c, 0, sizeof(c));
    c.throttle_key = (char *)key;
    c.throttle_window_ms = window_ms;
    return c;
}

static void ev_init(struct hd_event *ev, int64_t seq, int64_t recv_us, enum hd_state st, const char *key,
                    const char *ns)
{
    memset(ev, 0, sizeof(*ev));
    ev->seq = seq;
    ev->recv_us = recv_us;
    ev->state = st;
    ev->source = "sysdig_monitor";
    ev->alert_key = (char *)key;
    ev->k8s_namespace = (char *)ns;
}

static int reset(void **state)
{
    (void)state;
    hd_throttle_reset();
    return 0;
}

static void test_no_throttle_passes(void **state)
{
    (void)state;
    struct hd_channel_common c = common(NULL, 0);
    struct hd_event ev;
    for (int i = 0; i < 5; i++) {
        ev_init(&ev, i + 1, T0, HD_STATE_ACTIVE, "k", NULL);
        assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);
        assert_int_equal(ev.suppressed, 0);
    }
    assert_int_equal(hd_throttle_size(), 0);
}

static void test_one_per_window_count_in_next(void **state)
{
    (void)state;
    struct hd_channel_common c = common("alertKey", 1000);
    struct hd_event ev;
    ev_init(&ev, 1, T0, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);
    assert_int_equal(ev.suppressed, 0);
    for (int i = 0; i < 4; i++) {
        ev_init(&ev, 2 + i, T0 + (100 + i) * MS, HD_STATE_ACTIVE, "a", NULL);
        assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_SUPPRESSED);
    }
    /* Another key and another channel are independent. */
    ev_init(&ev, 6, T0 + 200 * MS, HD_STATE_ACTIVE, "b", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);
    ev_init(&ev, 7, T0 + 200 * MS, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(2, &c, &ev), HD_THROTTLE_PASS);
    /* After the window: passes with the count, which restarts. */
    ev_init(&ev, 8, T0 + 1000 * MS, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);
    assert_int_equal(ev.suppressed, 4);
    ev_init(&ev, 9, T0 + 2500 * MS, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);
    assert_int_equal(ev.suppressed, 0);
}

static void test_resolve_always_closes(void **state)
{
    (void)state;
    struct hd_channel_common c = common("alertKey", 60000);
    struct hd_event ev;
    ev_init(&ev, 1, T0, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);
    ev_init(&ev, 2, T0 + MS, HD_STATE_OK, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS); /* closes the incident */
    ev_init(&ev, 3, T0 + 2 * MS, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_SUPPRESSED); /* flapping */
    ev_init(&ev, 4, T0 + 3 * MS, HD_STATE_RESOLVED, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_SUPPRESSED); /* nothing open */
    ev_init(&ev, 5, T0 + 61000 * MS, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);
    assert_int_equal(ev.suppressed, 2);
}

static void test_rereads_decide_the_same(void **state)
{
    (void)state;
    struct hd_channel_common c = common("alertKey", 1000);
    struct hd_event ev;
    ev_init(&ev, 10, T0, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);
    ev_init(&ev, 11, T0 + MS, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_SUPPRESSED);
    ev_init(&ev, 12, T0 + 1001 * MS, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);
    assert_int_equal(ev.suppressed, 1);
    /* The dispatcher reads 10..12 again (channel reloaded): same answers,
     * nothing counted twice. */
    ev_init(&ev, 10, T0, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);
    ev_init(&ev, 11, T0 + MS, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_RESEEN);
    ev_init(&ev, 12, T0 + 1001 * MS, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);
    assert_int_equal(ev.suppressed, 1);
    ev_init(&ev, 13, T0 + 1002 * MS, HD_STATE_ACTIVE, "a", NULL);
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_SUPPRESSED);
}

static void test_key_paths(void **state)
{
    (void)state;
    struct hd_channel_common c = common("k8s.namespace", 1000);
    struct hd_event ev;
    ev_init(&ev, 1, T0, HD_STATE_ACTIVE, "a", "prod");
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);
    ev_init(&ev, 2, T0 + MS, HD_STATE_ACTIVE, "b", "prod"); /* other alert, same namespace */
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_SUPPRESSED);
    ev_init(&ev, 3, T0 + MS, HD_STATE_ACTIVE, "a", "dev");
    assert_int_equal(hd_throttle_check(1, &c, &ev), HD_THROTTLE_PASS);

    /* labels.<key> (a member, dots included) and raw.<path>. */
    struct hd_channel_common cl = common("labels.falco.rule", 1000);
    struct hd_channel_common cr = common("raw.alert.name", 1000);
    ev_init(&ev, 4, T0, HD_STATE_ACTIVE, "x", NULL);
    ev.labels = (char *)"{\"falco.rule\":\"r1\"}";
    ev.raw = (char *)"{\"alert\":{\"name\":\"n1\"}}";
    ev.raw_len = strlen(ev.raw);
    assert_int_equal(hd_throttle_check(3, &cl, &ev), HD_THROTTLE_PASS);
    assert_int_equal(hd_throttle_check(4, &cr, &ev), HD_THROTTLE_PASS);
    ev.seq = 5;
    ev.alert_key = (char *)"y";
    assert_int_equal(hd_throttle_check(3, &cl, &ev), HD_THROTTLE_SUPPRESSED);
    assert_int_equal(hd_throttle_check(4, &cr, &ev), HD_THROTTLE_SUPPRESSED);
    ev.seq = 6;
    ev.labels = (char *)"{\"falco.rule\":\"r2\"}";
    assert_int_equal(hd_throttle_check(3, &cl, &ev), HD_THROTTLE_PASS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_no_throttle_passes, reset),
        cmocka_unit_test_setup(test_one_per_window_count_in_next, reset),
        cmocka_unit_test_setup(test_resolve_always_closes, reset),
        cmocka_unit_test_setup(test_rereads_decide_the_same, reset),
        cmocka_unit_test_setup_teardown(test_key_paths, reset, reset),
    };
    return cmocka_run_group_tests(tests, NULL, reset);
}
