/* test_cidr.c - address blocks: the forms parsed and refused, matching
 * across families (IPv4-mapped IPv6 counts as IPv4), formatting, list
 * capacity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/cidr.h"

/* s parses and formats back as want. */
static void expect_block(const char *s, const char *want)
{
    struct hd_cidr c;
    struct hd_err err = {0};
    char text[HD_CIDR_TEXT_MAX];
    assert_int_equal(hd_cidr_parse(s, &c, &err), HD_OK);
    hd_cidr_format(&c, text, sizeof(text));
    assert_string_equal(text, want);
}

/* s is refused with a message containing needle (and naming s). */
static void expect_refused(const char *s, const char *needle)
{
    struct hd_cidr c;
    memset(&c, 0x5a, sizeof(c));
    struct hd_cidr before = c;
    struct hd_err err = {0};
    assert_int_equal(hd_cidr_parse(s, &c, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, needle));
    if (s[0] != '\0') {
        assert_non_null(strstr(err.msg, s));
    }
    assert_memory_equal(&c, &before, sizeof(c)); /* out untouched on error */
}

static void test_parse_forms(void **state)
{
    (void)state;
    expect_block("169.254.0.0/16", "169.254.0.0/16");
    expect_block("10.0.0.0/8", "10.0.0.0/8");
    expect_block("0.0.0.0/0", "0.0.0.0/0");
    expect_block("127.0.0.1", "127.0.0.1/32");
    expect_block("127.0.0.1/32", "127.0.0.1/32");
    expect_block("fe80::/10", "fe80::/10");
    expect_block("fd00:ec2::254/128", "fd00:ec2::254/128");
    expect_block("FD00:EC2::254", "fd00:ec2::254/128");
    expect_block("::1", "::1/128");
    expect_block("::/0", "::/0");
    /* Written in IPv6 inside the mapped range: the IPv4 block. */
    expect_block("::ffff:169.254.0.0/112", "169.254.0.0/16");
    expect_block("::ffff:0:0/96", "0.0.0.0/0");
    expect_block("::ffff:7f00:1", "127.0.0.1/32");
}

static void test_parse_refused(void **state)
{
    (void)state;
    expect_refused("", "expected an address");
    expect_refused("/8", "expected an address");
    expect_refused("banana", "expected an address");
    expect_refused("10.0.0/8", "expected an address");   /* shortened IPv4 */
    expect_refused("0x7f000001", "expected an address"); /* hex */
    expect_refused("2130706433", "expected an address"); /* decimal */
    expect_refused("010.0.0.1", "expected an address");  /* octal-looking */
    expect_refused("256.0.0.0/8", "expected an address");
    expect_refused("fe80::1%eth0", "expected an address"); /* zone */
    expect_refused(" 10.0.0.0/8", "expected an address");
    expect_refused("10.0.0.0/33", "0 to 32");
    expect_refused("10.0.0.0/", "0 to 32");
    expect_refused("10.0.0.0/-1", "0 to 32");
    expect_refused("10.0.0.0/8 ", "0 to 32");
    expect_refused("10.0.0.0/0008", "0 to 32");
    expect_refused("fe80::/129", "0 to 128");
    expect_refused("fe80::/1x", "0 to 128");
    expect_refused("10.0.0.1/8", "host bits set (the block is 10.0.0.0/8)");
    expect_refused("169.254.169.254/16", "the block is 169.254.0.0/16");
    expect_refused("fe80::1/10", "the block is fe80::/10");
    expect_refused("fd00:ec2::254/64", "the block is fd00:ec2::/64");
    char long_text[200];
    memset(long_text, '1', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    struct hd_cidr c;
    struct hd_err err = {0};
    assert_int_equal(hd_cidr_parse(long_text, &c, &err), HD_EINVAL);
    assert_true(strlen(err.msg) < sizeof(err.msg) - 1);
}

/* The block of l holding the textual address ip, as text ("" for none). */
static const char *find(const struct hd_cidr_list *l, const char *ip)
{
    static char text[HD_CIDR_TEXT_MAX];
    uint8_t a[16];
    const struct hd_cidr *c = NULL;
    if (inet_pton(AF_INET, ip, a) == 1) {
        c = hd_cidr_list_find(l, AF_INET, a);
    } else {
        assert_int_equal(inet_pton(AF_INET6, ip, a), 1);
        c = hd_cidr_list_find(l, AF_INET6, a);
    }
    text[0] = '\0';
    if (c != NULL) {
        hd_cidr_format(c, text, sizeof(text));
    }
    return text;
}

static void test_match(void **state)
{
    (void)state;
    struct hd_cidr_list l = {0};
    struct hd_err err = {0};
    static const char *const blocks[] = {"169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "127.0.0.0/8",
                                         "10.1.2.3"};
    for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
        assert_int_equal(hd_cidr_list_add(&l, blocks[i], &err), HD_OK);
    }
    assert_string_equal(find(&l, "169.254.169.254"), "169.254.0.0/16");
    assert_string_equal(find(&l, "169.254.0.0"), "169.254.0.0/16");
    assert_string_equal(find(&l, "169.254.255.255"), "169.254.0.0/16");
    assert_string_equal(find(&l, "169.255.0.0"), "");
    assert_string_equal(find(&l, "169.253.255.255"), "");
    assert_string_equal(find(&l, "127.0.0.1"), "127.0.0.0/8");
    assert_string_equal(find(&l, "127.255.255.254"), "127.0.0.0/8");
    assert_string_equal(find(&l, "128.0.0.1"), "");
    assert_string_equal(find(&l, "10.1.2.3"), "10.1.2.3/32");
    assert_string_equal(find(&l, "10.1.2.4"), "");
    /* IPv4-mapped IPv6: the IPv4 address. */
    assert_string_equal(find(&l, "::ffff:169.254.169.254"), "169.254.0.0/16");
    assert_string_equal(find(&l, "::ffff:127.0.0.1"), "127.0.0.0/8");
    assert_string_equal(find(&l, "::ffff:7f00:1"), "127.0.0.0/8");
    assert_string_equal(find(&l, "::ffff:8.8.8.8"), "");
    /* IPv6 blocks. */
    assert_string_equal(find(&l, "fe80::1"), "fe80::/10");
    assert_string_equal(find(&l, "febf:ffff::1"), "fe80::/10");
    assert_string_equal(find(&l, "fec0::1"), "");
    assert_string_equal(find(&l, "fd00:ec2::254"), "fd00:ec2::254/128");
    assert_string_equal(find(&l, "fd00:ec2::255"), "");
    assert_string_equal(find(&l, "::1"), ""); /* not 127.0.0.0/8 */
    /* IPv4-compatible (deprecated) ::a.b.c.d is IPv6, not IPv4. */
    assert_string_equal(find(&l, "::127.0.0.1"), "");
    /* Unknown families never match. */
    uint8_t a[16] = {0};
    assert_null(hd_cidr_list_find(&l, AF_UNIX, a));
}

static void test_families_do_not_mix(void **state)
{
    (void)state;
    struct hd_cidr_list l = {0};
    struct hd_err err = {0};
    assert_int_equal(hd_cidr_list_add(&l, "::/0", &err), HD_OK);
    assert_string_equal(find(&l, "2001:db8::1"), "::/0");
    assert_string_equal(find(&l, "::1"), "::/0");
    assert_string_equal(find(&l, "1.2.3.4"), "");        /* ::/0 holds no IPv4 address */
    assert_string_equal(find(&l, "::ffff:1.2.3.4"), ""); /* nor a mapped one */
    l.n = 0;
    assert_int_equal(hd_cidr_list_add(&l, "0.0.0.0/0", &err), HD_OK);
    assert_string_equal(find(&l, "1.2.3.4"), "0.0.0.0/0");
    assert_string_equal(find(&l, "::ffff:1.2.3.4"), "0.0.0.0/0");
    assert_string_equal(find(&l, "2001:db8::1"), "");
    assert_string_equal(find(&l, "::"), "");
}

static void test_list_add_and_capacity(void **state)
{
    (void)state;
    struct hd_cidr_list l = {0};
    struct hd_err err = {0};
    assert_string_equal(find(&l, "1.2.3.4"), ""); /* an empty list holds nothing */
    assert_int_equal(hd_cidr_list_add(&l, "nope", &err), HD_EINVAL);
    assert_int_equal(l.n, 0);
    for (int i = 0; i < HD_CIDR_LIST_MAX; i++) {
        char b[32];
        snprintf(b, sizeof(b), "10.%d.0.0/16", i);
        assert_int_equal(hd_cidr_list_add(&l, b, &err), HD_OK);
    }
    assert_int_equal(l.n, HD_CIDR_LIST_MAX);
    assert_int_equal(hd_cidr_list_add(&l, "192.168.0.0/16", &err), HD_ETOOBIG);
    assert_non_null(strstr(err.msg, "at most"));
    assert_int_equal(l.n, HD_CIDR_LIST_MAX);
    assert_string_equal(find(&l, "10.127.3.4"), "10.127.0.0/16");
    /* A list is a value: a copy is independent. */
    struct hd_cidr_list copy = l;
    l.n = 0;
    assert_string_equal(find(&copy, "10.5.0.1"), "10.5.0.0/16");
    assert_string_equal(find(&l, "10.5.0.1"), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_families_do_not_mix),
        cmocka_unit_test(test_list_add_and_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
