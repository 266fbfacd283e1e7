/* util.h - time, strings and small helpers that depend on nothing. */
#ifndef HD_UTIL_H
#define HD_UTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t hd_now_us(void);  /* wall clock, microseconds since the epoch */
int64_t hd_now_ms(void);  /* wall clock, milliseconds since the epoch */
int64_t hd_mono_ms(void); /* monotonic clock, milliseconds */
int64_t hd_mono_us(void); /* monotonic clock, microseconds */
/* Names the calling thread (top, perf, gdb; at most 15 characters kept). */
void hd_thread_name(const char *name);
/* Gives the free pages inside the heap back to the kernel (glibc's
 * malloc_trim; elsewhere nothing). Small blocks freed together (the events
 * of a large request, a large transaction's cached pages) otherwise stay
 * resident between arenas' live blocks. Costs a walk of the free lists:
 * for after large work, not per small request. */
void hd_mem_trim(void);

char *hd_strdup(const char *s); /* NULL-safe: NULL -> NULL */
char *hd_strndup(const char *s, size_t n);
/* Strict decimal parse of a whole string; HD_EINVAL on junk or overflow. */
int hd_parse_i64(const char *s, int64_t *out);
/* "90s", "5m", "1h", "7d", "250ms" or plain seconds -> milliseconds. */
int hd_parse_duration_ms(const char *s, int64_t *out);
/* "2GiB", "512MB", "1048576" -> bytes. */
int hd_parse_size(const char *s, int64_t *out);
/* RFC 3339 UTC with milliseconds into out (>= 25 bytes). */
void hd_format_iso_ms(int64_t us, char *out, size_t outsz);
#define HD_SHA256_LEN 32
/* SHA-256 of data into out. */
void hd_sha256(const void *data, size_t len, unsigned char out[HD_SHA256_LEN]);
/* 1 if the n bytes at a and b are equal; the time taken does not depend on
 * where they differ (CRYPTO_memcmp). Compare digests of secrets, so that
 * their lengths do not show either. */
int hd_ct_equal(const void *a, const void *b, size_t n);
/* 1 and *out when d is an integral value that int64_t holds exactly (the
 * range is checked first: casting an out-of-range double is undefined). */
int hd_double_to_i64(double d, int64_t *out);
/* The value of one hex digit (either case), -1 if c is none. */
int hd_hexval(int c);
/* Hex of a 128-bit hash of data into out[33]. SHA-256 truncated. */
void hd_hash128_hex(const void *data, size_t len, char out[33]);
/* v in decimal into out (at most 20 characters and a NUL); returns the length. */
size_t hd_fmt_i64(char out[21], int64_t v);

#endif
