/* test_log.c - log lines: text and JSON, the context fields, escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* Runs hd_log_kv with stderr sent to a temporary file; returns what it wrote. */
static char *captured(int json, const struct hd_log_field *fields, const char *msg)
{
    char path[] = "/tmp/hd_test_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    hd_log_set_format_json(json);
    hd_log_kv(HD_LOG_WARN, fields, "%s", msg);
    hd_log_set_format_json(0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    static char out[4096];
    ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
    assert_true(n > 0);
    out[n] = '\0';
    close(fd);
    unlink(path);
    return out;
}

static void test_text_fields(void **state)
{
    const char *line =
        captured(0, HD_KV({"channel", "splunk-prod"}, {"event", "0a1b"}), "while posting: 503");
    assert_non_null(strstr(line, " warn  while posting: 503 channel=splunk-prod event=0a1b\n"));
    /* A NULL value leaves its field out; spaces, quotes and '=' are quoted. */
    line = captured(0, HD_KV({"channel", "a b"}, {"event", NULL}, {"input", "k=\"v\""}, {"x", ""}), "m");
    assert_non_null(strstr(line, " m channel=\"a b\" input=\"k=\\\"v\\\"\" x=\"\"\n"));
    /* Control bytes in a value cannot start a line of their own. */
    line = captured(0, HD_KV({"channel", "evil\n2026-01-01T00:00:00.000Z error forged"}), "m");
    assert_non_null(strstr(line, "channel=\"evil\\n2026-01-01T00:00:00.000Z error forged\"\n"));
    assert_true(strchr(line, '\n') == line + strlen(line) - 1); /* one line */
}

static void test_json_fields(void **state)
{
    const char *line = captured(1, HD_KV({"channel", "c\"1"}, {"event", "0a1b"}), "while posting");
    assert_non_null(strstr(
        line, "\"level\":\"warn\",\"msg\":\"while posting\",\"channel\":\"c\\\"1\",\"event\":\"0a1b\"}\n"));
}

static void test_below_level_not_written(void **state)
{
    hd_log_set_level(HD_LOG_ERROR);
    char path[] = "/tmp/hd_test_log_XXXXXX";
    int fd = mkstemp(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    hd_log_kv(HD_LOG_WARN, HD_KV({"channel", "x"}), "not written");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(lseek(fd, 0, SEEK_END), 0);
    close(fd);
    unlink(path);
    hd_log_set_level(HD_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_fields),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_below_level_not_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
