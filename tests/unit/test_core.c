/* Unit tests for src/core: buffers, parsing helpers, time formatting, hashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"

static void test_buf_cap(void **state)
{
    (void)state;
    struct hd_buf b;
    hd_buf_init(&b, 8);
    assert_int_equal(hd_buf_puts(&b, "12345678"), HD_OK);
    assert_int_equal(hd_buf_putc(&b, '9'), HD_ETOOBIG);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.p, "12345678");
    hd_buf_free(&b);
}

static void test_buf_json_str(void **state)
{
    (void)state;
    struct hd_buf b;
    hd_buf_init(&b, 0);
    const char in[] = "a\"b\\c\n\x01";
    assert_int_equal(hd_buf_json_str(&b, in, sizeof(in) - 1), HD_OK);
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\u0001\"");
    hd_buf_free(&b);
}

static void test_parse(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(hd_parse_i64("42", &v), HD_OK);
    assert_int_equal(v, 42);
    assert_int_equal(hd_parse_i64("4x", &v), HD_EINVAL);
    assert_int_equal(hd_parse_i64("", &v), HD_EINVAL);
    assert_int_equal(hd_parse_duration_ms("7d", &v), HD_OK);
    assert_int_equal(v, 7LL * 86400 * 1000);
    assert_int_equal(hd_parse_duration_ms("250ms", &v), HD_OK);
    assert_int_equal(v, 250);
    assert_int_equal(hd_parse_duration_ms("5 parsecs", &v), HD_EINVAL);
    assert_int_equal(hd_parse_size("2GiB", &v), HD_OK);
    assert_int_equal(v, 2LL * 1024 * 1024 * 1024);
    assert_int_equal(hd_parse_size("10MB", &v), HD_OK);
    assert_int_equal(v, 10000000);
    assert_int_equal(hd_parse_size("lots", &v), HD_EINVAL);
}

static void test_iso(void **state)
{
    (void)state;
    char out[40];
    hd_format_iso_ms(1518849360000000LL, out, sizeof(out));
    assert_string_equal(out, "2018-02-17T06:36:00.000Z");
    hd_format_iso_ms(1518849310380639LL, out, sizeof(out));
    assert_string_equal(out, "2018-02-17T06:35:10.380Z");
}

static void test_ct_equal_and_hash(void **state)
{
    (void)state;
    assert_true(hd_ct_equal("abc", 3, "abc", 3));
    assert_false(hd_ct_equal("abc", 3, "abd", 3));
    assert_false(hd_ct_equal("abc", 3, "abcd", 4));
    char h1[33], h2[33];
    hd_hash128_hex("x", 1, h1);
    hd_hash128_hex("y", 1, h2);
    assert_int_equal(strlen(h1), 32);
    assert_string_not_equal(h1, h2);
    /* SHA-256("abc") starts with ba7816bf8f01cfea414140de5dae2223 */
    hd_hash128_hex("abc", 3, h1);
    assert_string_equal(h1, "ba7816bf8f01cfea414140de5dae2223");
}

static void test_err(void **state)
{
    (void)state;
    struct hd_err e = {0};
    assert_int_equal(hd_err_set(&e, HD_EINVAL, "url: %s", "bad"), HD_EINVAL);
    hd_err_prefix(&e, "options.");
    assert_string_equal(e.msg, "options.url: bad");
    assert_int_equal(hd_err_set(NULL, HD_EIO, "x"), HD_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap),   cmocka_unit_test(test_buf_json_str),
        cmocka_unit_test(test_parse),     cmocka_unit_test(test_iso),
        cmocka_unit_test(test_ct_equal_and_hash), cmocka_unit_test(test_err),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
