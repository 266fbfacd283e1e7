/* test_dn.c - RFC 4514 distinguished names in canonical form (core/dn.h): the
 * spellings a person writes and the one GnuTLS prints meet in one string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/dn.h"

/* The canonical form of in, asserting success. */
static void expect_canon(const char *in, const char *want)
{
    struct hd_buf b;
    struct hd_err err = {0};
    hd_buf_init(&b, 0);
    int rc = hd_dn_canonical(in, strlen(in), &b, &err);
    if (rc != HD_OK) {
        fail_msg("'%s': %s", in, err.msg);
    }
    assert_string_equal(b.p, want);
    hd_buf_free(&b);
}

static void expect_invalid(const char *in, const char *msg_part)
{
    struct hd_buf b;
    struct hd_err err = {0};
    hd_buf_init(&b, 0);
    assert_int_equal(hd_dn_canonical(in, strlen(in), &b, &err), HD_EINVAL);
    if (strstr(err.msg, msg_part) == NULL) {
        fail_msg("'%s': message '%s' lacks '%s'", in, err.msg, msg_part);
    }
    assert_int_equal(b.len, 0); /* unchanged on failure */
    hd_buf_free(&b);
}

static void test_same_name_spelled_differently(void **state)
{
    (void)state;
    expect_canon("CN=falco", "CN=falco");
    expect_canon("cn=falco", "CN=falco");
    expect_canon("  CN = falco , O = Acme  ", "CN=falco,O=Acme");
    expect_canon("CN=falco,OU=sec+UID=7,C=DE", "CN=falco,OU=sec+UID=7,C=DE");
    expect_canon("emailAddress=a@b.example,CN=x", "EMAIL=a@b.example,CN=x");
    expect_canon("E=a@b.example", "EMAIL=a@b.example");
    /* values keep their case: CN=Falco is another name */
    expect_canon("CN=Falco", "CN=Falco");
}

static void test_escapes_decoded_and_written_one_way(void **state)
{
    (void)state;
    expect_canon("O=Acme\\, Inc.", "O=Acme\\, Inc.");
    expect_canon("O=Acme\\2C Inc.", "O=Acme\\, Inc.");
    expect_canon("O=Acme\\2c Inc.", "O=Acme\\, Inc.");
    expect_canon("CN=a\\+b", "CN=a\\+b");
    expect_canon("CN=\\#1", "CN=\\#1");
    expect_canon("CN=\\ lead", "CN=\\ lead");
    expect_canon("CN=trail\\ ", "CN=trail\\ ");
    expect_canon("CN=a\\=b", "CN=a=b");
    /* OpenSSL's RFC2253 escapes UTF-8 bytes; GnuTLS prints them as they are */
    expect_canon("CN=Ren\\C3\\A9", "CN=Ren\xc3\xa9");
    expect_canon("CN=Ren\xc3\xa9", "CN=Ren\xc3\xa9");
    expect_canon("CN=a\\0Ab", "CN=a\\0Ab");
    expect_canon("1.2.840.113549.1.9.1=#160b612062", "1.2.840.113549.1.9.1=#160B612062");
    expect_canon("CN=", "CN=");
}

static void test_not_a_name(void **state)
{
    (void)state;
    expect_invalid("", "empty");
    expect_invalid("   ", "empty");
    expect_invalid("falco", "character 6: expected '='");
    expect_invalid("=falco", "character 1: expected an attribute type");
    expect_invalid("CN=a,", "character 6: expected an attribute type");
    expect_invalid("CN=a;O=b", "';' must be escaped");
    expect_invalid("O=\"Acme, Inc.\"", "'\"' must be escaped");
    expect_invalid("CN=a\\", "'\\' at the end");
    expect_invalid("CN=a\\q", "character 5: '\\' must be followed");
    expect_invalid("CN=#12 x", "character 8: expected ',' or '+'");
    expect_invalid("CN=#123", "even number of hex digits");
}

static void test_too_long(void **state)
{
    (void)state;
    char in[HD_DN_MAX + 16];
    memset(in, 'a', sizeof(in) - 1);
    memcpy(in, "CN=", 3);
    in[sizeof(in) - 1] = '\0';
    struct hd_buf b;
    struct hd_err err = {0};
    hd_buf_init(&b, 0);
    assert_int_equal(hd_dn_canonical(in, strlen(in), &b, &err), HD_ETOOBIG);
    assert_non_null(strstr(err.msg, "longer than"));
    assert_int_equal(b.len, 0);
    hd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_name_spelled_differently),
        cmocka_unit_test(test_escapes_decoded_and_written_one_way),
        cmocka_unit_test(test_not_a_name),
        cmocka_unit_test(test_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
