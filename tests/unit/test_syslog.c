/* test_syslog.c - SYSLOG: RFC 5424 rendering (PRI, header, structured data
 * escaping, MSG raw or summary), RFC 6587 octet-counting frames, batches,
 * truncation at a UTF-8 boundary, options, classify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel_fixture.h"

/* Splits body into frames "LEN SP MSG": returns how many, msgs[i] malloc'd. */
static size_t frames(const struct hd_buf *body, char **msgs, size_t cap)
{
    size_t i = 0;
    size_t n = 0;
    while (i < body->len && n < cap) {
        size_t len = 0;
        while (i < body->len && body->p[i] >= '0' && body->p[i] <= '9') {
            len = len * 10 + (size_t)(body->p[i++] - '0');
        }
        assert_true(i < body->len && body->p[i] == ' ');
        i++;
        assert_true(i + len <= body->len);
        msgs[n] = calloc(1, len + 1);
        memcpy(msgs[n++], body->p + i, len);
        i += len;
    }
    assert_int_equal(i, body->len);
    return n;
}

static void test_message(void **state)
{
    struct fx_run *r = *state;
    fx_channel_make(&r->ch, "SYSLOG", 7, "sl", "{\"url\":\"tcp://127.0.0.1:5514\",\"facility\":\"local3\"}");
    assert_true(r->ch->type->max_batch > 1);
    free(r->ev.name);
    r->ev.name = hd_strdup("Policy \"59\" [x]\\y");
    const struct hd_event *evs[1] = {&r->ev};
    fx_render(r->ch, evs, 1, &r->req);
    assert_string_equal(r->req.url, "tcp://127.0.0.1:5514");
    char *m[4];
    assert_int_equal(frames(&r->req.body, m, 4), 1);
    /* local3 = 19: 19 * 8 + 4 = 156 */
    const char *want =
        "<156>1 2018-02-17T06:36:00.000Z ip-10-0-8-165 herald - sysdig_secure [herald@32473 "
        "id=\"0123456789abcdef0123456789abcdef\" source=\"sysdig_secure\" state=\"ACTIVE\" "
        "severity=\"4\" alertKey=\"sysdig_secure/Policy 59\" name=\"Policy \\\"59\\\" [x\\]\\\\y\" "
        "namespace=\"example-java-app\" pod=\"redis-3463099497-2xxw3\"] ";
    assert_memory_equal(m[0], want, strlen(want));
    /* MSG: the original event, byte for byte */
    assert_int_equal(strlen(m[0]) - strlen(want), r->ev.raw_len);
    assert_memory_equal(m[0] + strlen(want), r->ev.raw, r->ev.raw_len);
    free(m[0]);

    fx_channel_make(&r->ch, "SYSLOG", 7, "sl",
                    "{\"url\":\"tls://[::1]\",\"facility\":4,\"appName\":\"hx\",\"message\":\"summary\"}");
    r->ev.state = HD_STATE_OK;
    r->ev.severity = 9; /* clamped to 7 */
    fx_render(r->ch, evs, 1, &r->req);
    assert_string_equal(r->req.url, "tls://[::1]:6514");
    assert_int_equal(frames(&r->req.body, m, 4), 1);
    assert_true(strncmp(m[0], "<39>1 ", 6) == 0);
    assert_non_null(strstr(m[0], " hx - sysdig_secure [herald@32473 "));
    assert_non_null(strstr(m[0], "state=\"OK\""));
    assert_non_null(strstr(m[0], "] [Debug] Policy"));
    assert_non_null(strstr(m[0], "(OK)"));
    free(m[0]);
}

static void test_batch_and_truncation(void **state)
{
    struct fx_run *r = *state;
    struct hd_event e[3];
    for (size_t i = 0; i < 3; i++) {
        fx_raw_event(&e[i], "{\"line\":1,\n \"two\": \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}");
    }
    fx_channel_make(&r->ch, "SYSLOG", 7, "sl", "{\"url\":\"tcp://h\"}");
    const struct hd_event *evs[3] = {&e[0], &e[1], &e[2]};
    fx_render(r->ch, evs, 3, &r->req);
    assert_string_equal(r->req.url, "tcp://h:514");
    char *m[4];
    assert_int_equal(frames(&r->req.body, m, 4), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_true(strncmp(m[i], "<134>1 ", 7) == 0); /* local0, Info */
        assert_non_null(strstr(m[i], "\n \"two\""));   /* newlines kept: octet counting */
        free(m[i]);
    }
    /* cut to maxMessageBytes, never inside a UTF-8 sequence */
    char big[1200];
    memset(big, 'a', sizeof(big));
    memcpy(big + 495 - 200, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 10);
    big[sizeof(big) - 1] = '\0';
    struct hd_event b;
    fx_raw_event(&b, big);
    for (int cut = 480; cut < 500; cut++) {
        char opts[96];
        snprintf(opts, sizeof(opts), "{\"url\":\"tcp://h:1\",\"maxMessageBytes\":%d}", cut);
        fx_channel_make(&r->ch, "SYSLOG", 7, "sl", opts);
        const struct hd_event *one[1] = {&b};
        fx_render(r->ch, one, 1, &r->req);
        assert_int_equal(frames(&r->req.body, m, 4), 1);
        size_t len = strlen(m[0]);
        assert_true(len <= (size_t)cut && len >= (size_t)cut - 1);
        assert_true(((unsigned char)m[0][len - 1] & 0xC0) != 0xC0); /* not a cut lead byte */
        free(m[0]);
    }
    hd_event_clear(&b);
    for (size_t i = 0; i < 3; i++) {
        hd_event_clear(&e[i]);
    }
}

static void test_options_and_classify(void **state)
{
    struct fx_run *r = *state;
    fx_expect_config_error("SYSLOG", 7, "s", "{}", "options.url: required");
    fx_expect_config_error("SYSLOG", 7, "s", "{\"url\":\"udp://h:514\"}", "options.url");
    fx_expect_config_error("SYSLOG", 7, "s", "{\"url\":\"http://h:514\"}", "options.url");
    fx_expect_config_error("SYSLOG", 7, "s", "{\"url\":\"tcp://h:514/path\"}", "options.url");
    fx_expect_config_error("SYSLOG", 7, "s", "{\"url\":\"tcp://u:p@h:514\"}", "options.url");
    fx_expect_config_error("SYSLOG", 7, "s", "{\"url\":\"tcp://h\",\"facility\":\"local9\"}",
                           "options.facility");
    fx_expect_config_error("SYSLOG", 7, "s", "{\"url\":\"tcp://h\",\"facility\":24}", "options.facility");
    fx_expect_config_error("SYSLOG", 7, "s", "{\"url\":\"tcp://h\",\"appName\":\"a b\"}", "options.appName");
    fx_expect_config_error("SYSLOG", 7, "s", "{\"url\":\"tcp://h\",\"message\":\"json\"}", "options.message");
    char why[256];
    fx_channel_make(&r->ch, "SYSLOG", 7, "sl", "{\"url\":\"tcp://h:514\"}");
    assert_int_equal(fx_classify1(r->ch, 200, NULL, NULL, why), HD_VERDICT_DELIVERED);
    assert_int_equal(fx_classify1(r->ch, 0, NULL, "Couldn't connect to server", why), HD_VERDICT_RETRY);
    assert_string_equal(why, "Couldn't connect to server");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_message, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_batch_and_truncation, fx_run_setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_options_and_classify, fx_run_setup, fx_run_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
