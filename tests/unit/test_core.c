/* Unit tests for src/core: buffers, parsing helpers, time formatting, hashes. */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/bufpool.h"
#include "core/err.h"
#include "core/slab.h"
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

/* A declared size is reserved exactly: doubling held a 2.3 MB body in a
 * 4 MiB buffer, which also made every such request count as "large" (a
 * malloc_trim after each, http_server.c). */
static void test_buf_reserve_exact(void **state)
{
    (void)state;
    struct hd_buf b;
    hd_buf_init(&b, 0);
    assert_int_equal(hd_buf_reserve_exact(&b, 2300000), HD_OK);
    assert_int_equal(b.cap, 2300001);
    char *p = b.p;
    static char chunk[100000];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 23; i++) {
        assert_int_equal(hd_buf_append(&b, chunk, sizeof(chunk)), HD_OK);
    }
    assert_ptr_equal(b.p, p); /* no growth: the reservation held it all */
    assert_int_equal(b.len, 2300000);
    assert_int_equal(hd_buf_reserve_exact(&b, 0), HD_OK);
    assert_int_equal(b.cap, 2300001);
    assert_int_equal(hd_buf_putc(&b, 'y'), HD_OK); /* past it: doubling again */
    assert_true(b.cap >= 4600002);
    assert_int_equal(b.p[b.len], '\0');
    assert_int_equal(hd_buf_reserve_exact(&b, SIZE_MAX - 2), HD_ENOMEM);
    hd_buf_free(&b);
    hd_buf_init(&b, 10);
    assert_int_equal(hd_buf_reserve_exact(&b, 11), HD_ETOOBIG);
    assert_int_equal(hd_buf_reserve_exact(&b, 10), HD_OK);
    assert_int_equal(b.cap, 11);
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
    /* json-c's spelling (the ids hash it): short escapes where JSON has one */
    hd_buf_reset(&b);
    const char ctl[] = "\b\f\t\r\x1f/";
    assert_int_equal(hd_buf_json_str(&b, ctl, sizeof(ctl) - 1), HD_OK);
    assert_string_equal(b.p, "\"\\b\\f\\t\\r\\u001f/\"");
    hd_buf_free(&b);
}

/* The byte-at-a-time spelling hd_buf_json_str had before its 16-byte scan. */
static void json_str_ref(const unsigned char *s, size_t n, char *out)
{
    *out++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        const char *e = c == '"'    ? "\\\""
                        : c == '\\' ? "\\\\"
                        : c == '\b' ? "\\b"
                        : c == '\f' ? "\\f"
                        : c == '\n' ? "\\n"
                        : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t"
                                    : NULL;
        if (e != NULL) {
            out = stpcpy(out, e);
        } else if (c < 0x20) {
            out += snprintf(out, 7, "\\u%04x", c);
        } else {
            *out++ = (char)c;
        }
    }
    *out++ = '"';
    *out = '\0';
}

/* Every length around the 16-byte blocks, specials at every position,
 * bytes >= 0x80 (plain: not controls) and 0x7f (plain). */
static void test_buf_json_str_scan(void **state)
{
    (void)state;
    static const unsigned char pool[] = {'a',  'Z',  ' ',  '"',  '\\', 0x00, 0x01, 0x1f,
                                         0x20, 0x7f, 0x80, 0xc3, 0xff, '\n', '/'};
    uint32_t rng = 12345;
    struct hd_buf b;
    hd_buf_init(&b, 0);
    unsigned char in[80];
    char want[80 * 6 + 3];
    for (int round = 0; round < 4000; round++) {
        size_t n = (size_t)round % 70;
        for (size_t i = 0; i < n; i++) {
            rng = rng * 1103515245u + 12345u;
            /* mostly plain, so that runs of 16 and more happen */
            in[i] = (rng >> 16) % 4 != 0 ? (unsigned char)('a' + (rng >> 20) % 26)
                                         : pool[(rng >> 20) % sizeof(pool)];
        }
        hd_buf_reset(&b);
        assert_int_equal(hd_buf_json_str(&b, (const char *)in, n), HD_OK);
        json_str_ref(in, n, want);
        assert_int_equal(b.len, strlen(want));
        assert_memory_equal(b.p, want, b.len);
    }
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

/* The fast path agrees with gmtime/strftime over every day of 1600-2400,
 * negative times included; out-of-range years take the general path. */
static void test_iso_matches_gmtime(void **state)
{
    (void)state;
    for (int64_t day = -135140; day <= 157000; day += 1) {
        int64_t us = day * 86400LL * 1000000 + (day % 86400) * 1000000 + (day * 7919 % 1000000);
        char got[40];
        char want[40];
        hd_format_iso_ms(us, got, sizeof(got));
        int64_t secs = us / 1000000;
        int64_t rem = us % 1000000;
        if (rem < 0) {
            rem += 1000000;
            secs -= 1;
        }
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        char base[32];
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want, sizeof(want), "%s.%03dZ", base, (int)(rem / 1000));
        if (strcmp(got, want) != 0) {
            fail_msg("%lld: %s != %s", (long long)us, got, want);
        }
    }
    char out[40];
    hd_format_iso_ms(-1, out, sizeof(out));
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    hd_format_iso_ms(253402300800000000LL, out, sizeof(out)); /* year 10000 */
    assert_string_equal(out, "10000-01-01T00:00:00.000Z");
}

static void test_buf_printf_and_i64(void **state)
{
    (void)state;
    struct hd_buf b;
    hd_buf_init(&b, 0);
    assert_int_equal(hd_buf_put_i64(&b, 0), HD_OK);
    assert_int_equal(hd_buf_putc(&b, ' '), HD_OK);
    assert_int_equal(hd_buf_put_i64(&b, INT64_MIN), HD_OK);
    assert_int_equal(hd_buf_putc(&b, ' '), HD_OK);
    assert_int_equal(hd_buf_put_i64(&b, INT64_MAX), HD_OK);
    assert_int_equal(hd_buf_putc(&b, ' '), HD_OK);
    assert_int_equal(hd_buf_put_i64(&b, -42), HD_OK);
    assert_string_equal(b.p, "0 -9223372036854775808 9223372036854775807 -42");
    /* grows past the free space, and keeps what was there */
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(hd_buf_printf(&b, "[%s]", big), HD_OK);
    assert_int_equal(b.len, 46 + 3001);
    assert_int_equal(b.p[b.len], '\0');
    assert_int_equal(b.p[46], '[');
    hd_buf_free(&b);
    /* a capped buffer refuses text past its cap and stays as it was */
    hd_buf_init(&b, 10);
    assert_int_equal(hd_buf_printf(&b, "%s", "12345"), HD_OK);
    assert_int_equal(hd_buf_printf(&b, "%s", "678901"), HD_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.p, "12345");
    assert_int_equal(hd_buf_printf(&b, "%d", 67890), HD_OK);
    assert_string_equal(b.p, "1234567890");
    hd_buf_free(&b);
}

static void test_ct_equal_and_hash(void **state)
{
    (void)state;
    assert_true(hd_ct_equal("abc", "abc", 3));
    assert_false(hd_ct_equal("abc", "abd", 3));
    assert_true(hd_ct_equal("abc", "abd", 2));
    /* SHA-256 ("abc" is FIPS 180-2's first example). */
    unsigned char d[HD_SHA256_LEN], d2[HD_SHA256_LEN];
    static const unsigned char abc[HD_SHA256_LEN] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    hd_sha256("abc", 3, d);
    assert_memory_equal(d, abc, sizeof(abc));
    hd_sha256("abcd", 4, d2);
    assert_false(hd_ct_equal(d, d2, sizeof(d)));
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

/* bufpool (http_server.c keeps freed request bodies in one): best fit, its range and bounds, nothing of a
 * kept body shows. */
static void test_buf_pool(void **state)
{
    (void)state;
    struct hd_buf_pool p;
    hd_buf_pool_init(&p, 256 * 1024, 4 * 1024 * 1024, 4, 8 * 1024 * 1024, 2000);
    struct hd_buf b;
    hd_buf_init(&b, 0);
    assert_int_equal(hd_buf_pool_take(&p, &b, 300 * 1024), 0); /* empty */
    size_t sizes[] = {600 * 1024, 400 * 1024, 2 * 1024 * 1024, 3 * 1024 * 1024, 1024 * 1024};
    for (size_t i = 0; i < 5; i++) {
        hd_buf_init(&b, 0);
        assert_int_equal(hd_buf_reserve_exact(&b, sizes[i]), HD_OK);
        memset(b.p, 'x', sizes[i]);
        b.len = sizes[i];
        hd_buf_pool_put(&p, &b);
        assert_null(b.p);
    }
    /* 600 KiB, 400 KiB, 2 MiB and 3 MiB kept (4 at most): the 1 MiB one was freed */
    assert_int_equal(p.n, 4);
    assert_true(p.bytes <= p.bytes_max);
    hd_buf_init(&b, 100);
    assert_int_equal(hd_buf_pool_take(&p, &b, 100 * 1024), 0);      /* under the range */
    assert_int_equal(hd_buf_pool_take(&p, &b, 5 * 1024 * 1024), 0); /* over it */
    assert_int_equal(hd_buf_pool_take(&p, &b, 500 * 1024), 1);      /* the 600 KiB one: best fit */
    assert_int_equal(b.cap, 600 * 1024 + 1);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 100);
    assert_string_equal(b.p, "");
    hd_buf_free(&b);
    hd_buf_init(&b, 0);
    hd_buf_reserve_exact(&b, 8 * 1024 * 1024); /* over the range: freed, not kept */
    hd_buf_pool_put(&p, &b);
    assert_int_equal(p.n, 3);
    p.used_ms -= p.idle_ms; /* idle: given back */
    hd_buf_pool_drain(&p);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.bytes, 0);
    /* sizes in range are rounded up to 64 KiB, up to the range's top */
    assert_int_equal(hd_buf_pool_size(&p, 100), 100);
    assert_int_equal(hd_buf_pool_size(&p, 256 * 1024 + 1), 320 * 1024);
    assert_int_equal(hd_buf_pool_size(&p, 320 * 1024), 320 * 1024);
    assert_int_equal(hd_buf_pool_size(&p, 4 * 1024 * 1024 - 1), 4 * 1024 * 1024);
    assert_int_equal(hd_buf_pool_size(&p, 5 * 1024 * 1024), 5 * 1024 * 1024);
    hd_buf_pool_destroy(&p);
}

/* slab (the dispatcher's read-ahead and answers): aligned blocks that do not overlap, chunks reused after a
 * reset (the same memory, no new chunk), the keep bound, large blocks in chunks of their own, idle release.
 */
static void test_slab(void **state)
{
    (void)state;
    struct hd_slab s;
    hd_slab_init(&s, 4096, 8192, 1000);
    char *a = hd_slab_alloc(&s, 1);
    char *b = hd_slab_alloc(&s, 100);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal((uintptr_t)a % alignof(max_align_t), 0);
    assert_int_equal((uintptr_t)b % alignof(max_align_t), 0);
    assert_true(b >= a + 1);
    memset(b, 'b', 100);
    *a = 'a';
    assert_int_equal(*a, 'a'); /* b did not overwrite a */
    assert_int_equal(s.held, 4096);
    /* three chunks' worth: two more chunks */
    for (int i = 0; i < 3; i++) {
        assert_non_null(hd_slab_alloc(&s, 3000));
    }
    assert_int_equal(s.held, 3 * 4096);
    /* a block over the chunk size: a chunk of its own */
    char *big = hd_slab_alloc(&s, 10000);
    assert_non_null(big);
    memset(big, 'x', 10000);
    assert_int_equal(s.held, 3 * 4096 + 10000);
    hd_slab_reset(&s);
    /* the big chunk was freed; two of the three usual ones are kept (keep = 8192) */
    assert_int_equal(s.held, 2 * 4096);
    char *again = hd_slab_alloc(&s, 4000);
    assert_non_null(again);
    assert_int_equal(s.held, 2 * 4096); /* a kept chunk, not a new one */
    assert_null(hd_slab_alloc(&s, SIZE_MAX - 8));
    hd_slab_reset(&s);
    hd_slab_idle(&s); /* used just now: kept */
    assert_int_equal(s.held, 2 * 4096);
    s.used_ms -= s.idle_ms;
    hd_slab_idle(&s);
    assert_int_equal(s.held, 0);
    assert_non_null(hd_slab_alloc(&s, 10));
    hd_slab_free(&s);
    assert_int_equal(s.held, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_buf_reserve_exact),
        cmocka_unit_test(test_buf_pool),
        cmocka_unit_test(test_slab),
        cmocka_unit_test(test_buf_json_str),
        cmocka_unit_test(test_buf_json_str_scan),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_iso),
        cmocka_unit_test(test_ct_equal_and_hash),
        cmocka_unit_test(test_err),
        cmocka_unit_test(test_iso_matches_gmtime),
        cmocka_unit_test(test_buf_printf_and_i64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
