#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
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

int64_t hd_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t hd_mono_ms(void)
{
    return hd_mono_us() / 1000;
}

void hd_thread_name(const char *name)
{
    char n[16];
    snprintf(n, sizeof n, "%s", name);
    pthread_setname_np(pthread_self(), n);
}

void hd_mem_trim(void)
{
#ifdef __GLIBC__
    (void)malloc_trim(0);
#endif
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

/* A number and a unit from units[0..n) (case-sensitive) -> number x multiplier. */
struct unit_mult {
    const char *u;
    double m;
};

static int parse_scaled(const char *s, const struct unit_mult *units, size_t n, int64_t *out)
{
    double v;
    const char *u;
    if (parse_num_unit(s, &v, &u) != HD_OK) {
        return HD_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(u, units[i].u) == 0) {
            *out = (int64_t)(v * units[i].m);
            return HD_OK;
        }
    }
    return HD_EINVAL;
}

int hd_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct unit_mult units[] = {{"", 1000},    {"s", 1000},    {"ms", 1},         {"m", 60e3},
                                             {"h", 3600e3}, {"d", 86400e3}, {"w", 7 * 86400e3}};
    return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), out);
}

int hd_parse_size(const char *s, int64_t *out)
{
    static const struct unit_mult units[] = {
        {"", 1},       {"B", 1},         {"KB", 1e3},        {"MB", 1e6},           {"GB", 1e9},
        {"TB", 1e12},  {"KiB", 1024.0},  {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
        {"K", 1024.0}, {"M", 1048576.0}, {"G", 1073741824.0}};
    return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), out);
}

static void put_digits(char *p, int64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Hinnant's civil_from_days: day number since 1970-01-01 -> y, m, d. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Without gmtime/strftime/printf: it runs for every event a channel with
 * isoField sends. Years outside 0000-9999 take the slow, general path. */
void hd_format_iso_ms(int64_t us, char *out, size_t outsz)
{
    int64_t secs = us / 1000000;
    int64_t rem = us % 1000000;
    if (rem < 0) {
        rem += 1000000;
        secs -= 1;
    }
    int64_t days = secs / 86400;
    int64_t sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    int64_t y = 0;
    int mo = 0;
    int d = 0;
    civil_from_days(days, &y, &mo, &d);
    if (y >= 0 && y <= 9999 && outsz >= 25) {
        char *p = out; /* YYYY-MM-DDTHH:MM:SS.mmmZ */
        put_digits(p, y, 4);
        p[4] = '-';
        put_digits(p + 5, mo, 2);
        p[7] = '-';
        put_digits(p + 8, d, 2);
        p[10] = 'T';
        put_digits(p + 11, sod / 3600, 2);
        p[13] = ':';
        put_digits(p + 14, sod / 60 % 60, 2);
        p[16] = ':';
        put_digits(p + 17, sod % 60, 2);
        p[19] = '.';
        put_digits(p + 20, rem / 1000, 3);
        p[23] = 'Z';
        p[24] = '\0';
        return;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outsz, "%s.%03dZ", base, (int)(rem / 1000));
}

int hd_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

/* SHA-256 fetched once: OpenSSL 3's SHA256() fetches the algorithm from its
 * provider on every call (locks, a table lookup), which cost more than the
 * hashing itself for an event id. Each thread keeps its digest context
 * (EVP_Digest allocates and frees one per call: 5-6 mallocs, twice per
 * ingested event - the token and the event id); freed when the thread ends. */
static EVP_MD *sha256_md;
static pthread_key_t sha256_key;
static int sha256_key_ok;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    sha256_key_ok = pthread_key_create(&sha256_key, sha256_ctx_free) == 0;
}

static EVP_MD_CTX *sha256_ctx(void)
{
    if (!sha256_key_ok) {
        return NULL;
    }
    EVP_MD_CTX *ctx = pthread_getspecific(sha256_key);
    if (ctx == NULL) {
        ctx = EVP_MD_CTX_new();
        if (ctx != NULL && pthread_setspecific(sha256_key, ctx) != 0) {
            EVP_MD_CTX_free(ctx);
            ctx = NULL;
        }
    }
    return ctx;
}

void hd_sha256(const void *data, size_t len, unsigned char out[HD_SHA256_LEN])
{
    unsigned int mdlen = 0;
    pthread_once(&sha256_once, sha256_fetch);
    EVP_MD_CTX *ctx = sha256_md != NULL ? sha256_ctx() : NULL;
    if (ctx == NULL || EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1 ||
        EVP_DigestUpdate(ctx, data, len) != 1 || EVP_DigestFinal_ex(ctx, out, &mdlen) != 1 ||
        mdlen != HD_SHA256_LEN) {
        SHA256(data, len, out);
    }
}

void hd_hash128_hex(const void *data, size_t len, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[HD_SHA256_LEN];
    hd_sha256(data, len, md);
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = '\0';
}

size_t hd_fmt_i64(char out[21], int64_t v)
{
    char tmp[21];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    size_t k = 0;
    if (v < 0) {
        out[k++] = '-';
    }
    while (n > 0) {
        out[k++] = tmp[--n];
    }
    out[k] = '\0';
    return k;
}

int hd_double_to_i64(double d, int64_t *out)
{
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == (double)(int64_t)d) {
        *out = (int64_t)d;
        return 1;
    }
    return 0;
}

int hd_hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}
