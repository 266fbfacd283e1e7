#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"

int64_t hd_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t hd_now_ms(void)
{
    return hd_now_us() / 1000;
}

int64_t hd_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *hd_strdup(const char *s)
{
    return s == NULL ? NULL : strdup(s);
}

char *hd_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int hd_parse_i64(const char *s, int64_t *out)
{
    if (s == NULL || *s == '\0') {
        return HD_EINVAL;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        return HD_EINVAL;
    }
    *out = (int64_t)v;
    return HD_OK;
}

static int parse_num_unit(const char *s, double *num, const char **unit)
{
    if (s == NULL) {
        return HD_EINVAL;
    }
    while (isspace((unsigned char)*s)) {
        s++;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || v < 0) {
        return HD_EINVAL;
    }
    while (isspace((unsigned char)*end)) {
        end++;
    }
    *num = v;
    *unit = end;
    return HD_OK;
}

int hd_parse_duration_ms(const char *s, int64_t *out)
{
    double v;
    const char *u;
    if (parse_num_unit(s, &v, &u) != HD_OK) {
        return HD_EINVAL;
    }
    double mult;
    if (*u == '\0' || strcmp(u, "s") == 0) {
        mult = 1000;
    } else if (strcmp(u, "ms") == 0) {
        mult = 1;
    } else if (strcmp(u, "m") == 0) {
        mult = 60e3;
    } else if (strcmp(u, "h") == 0) {
        mult = 3600e3;
    } else if (strcmp(u, "d") == 0) {
        mult = 86400e3;
    } else if (strcmp(u, "w") == 0) {
        mult = 7 * 86400e3;
    } else {
        return HD_EINVAL;
    }
    *out = (int64_t)(v * mult);
    return HD_OK;
}

int hd_parse_size(const char *s, int64_t *out)
{
    double v;
    const char *u;
    if (parse_num_unit(s, &v, &u) != HD_OK) {
        return HD_EINVAL;
    }
    static const struct {
        const char *u;
        double m;
    } units[] = {{"", 1},           {"B", 1},           {"KB", 1e3},
                 {"MB", 1e6},       {"GB", 1e9},        {"TB", 1e12},
                 {"KiB", 1024.0},   {"MiB", 1048576.0}, {"GiB", 1073741824.0},
                 {"TiB", 1099511627776.0}, {"K", 1024.0}, {"M", 1048576.0}, {"G", 1073741824.0}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(u, units[i].u) == 0) {
            *out = (int64_t)(v * units[i].m);
            return HD_OK;
        }
    }
    return HD_EINVAL;
}

void hd_format_iso_ms(int64_t us, char *out, size_t outsz)
{
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
    snprintf(out, outsz, "%s.%03dZ", base, (int)(rem / 1000));
}

int hd_ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = (unsigned char)(alen != blen);
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++) {
        diff |= (unsigned char)(a[i] ^ b[i]);
    }
    return diff == 0;
}

void hd_hash128_hex(const void *data, size_t len, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = '\0';
}

int hd_double_to_i64(double d, int64_t *out)
{
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == (double)(int64_t)d) {
        *out = (int64_t)d;
        return 1;
    }
    return 0;
}
