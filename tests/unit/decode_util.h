/* decode_util.h - decoding bodies and fixtures in the decoder unit tests
 * (test_decoders and one test_<format>.c per decoder). The helpers fail the
 * test (cmocka): include <cmocka.h> first. */
#ifndef HD_TEST_DECODE_UTIL_H
#define HD_TEST_DECODE_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "input/decoder.h"

#include "fixture_util.h"

/* Decodes a string body expecting success (ct, fmt: NULL to detect);
 * returns the number of events in b. */
static inline size_t fx_decode_ok(const char *body, const char *ct, const char *fmt, struct hd_batch *b)
{
    struct hd_err err = {0};
    int rc = hd_ingest_decode(body, strlen(body), ct, fmt, b, &err);
    if (rc != HD_OK) {
        fail_msg("decode failed: %s (body: %.100s)", err.msg, body);
    }
    return b->n;
}

/* Decodes fixture rel (NDJSON by extension) with format fmt (NULL: detect). */
static inline void fx_decode_fixture(const char *rel, const char *fmt, struct hd_batch *b)
{
    size_t len = 0;
    char *body = fx_read_fixture(rel, &len);
    struct hd_err err = {0};
    int rc = hd_ingest_decode(body, len, fx_is_ndjson_name(rel) ? "application/x-ndjson" : "application/json",
                              fmt, b, &err);
    free(body);
    if (rc != HD_OK) {
        fail_msg("%s (format %s): %s", rel, fmt ? fmt : "detected", err.msg);
    }
}

/* body[0..len) must be refused (HD_EINVAL, nothing decoded: all or nothing)
 * with an error naming sub1 and, unless NULL, sub2. */
static inline void fx_expect_decode_error(const char *body, size_t len, const char *ct, const char *fmt,
                                          const char *sub1, const char *sub2)
{
    struct hd_batch b;
    struct hd_err err = {0};
    hd_batch_init(&b);
    int rc = hd_ingest_decode(body, len, ct, fmt, &b, &err);
    if (rc != HD_EINVAL) {
        fail_msg("expected HD_EINVAL for '%.80s' (format %s), got %d (%s)", body, fmt ? fmt : "-", rc,
                 err.msg);
    }
    assert_int_equal(b.n, 0);
    if (strstr(err.msg, sub1) == NULL || (sub2 != NULL && strstr(err.msg, sub2) == NULL)) {
        fail_msg("error '%s' lacks '%s' / '%s'", err.msg, sub1, sub2 ? sub2 : "");
    }
    hd_batch_free(&b);
}

#endif
