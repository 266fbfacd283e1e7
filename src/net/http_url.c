/* http_url.c - URL and header helpers of the HTTP client (http_client.h):
 * percent-encoding, query parameters, where a URL connects, Retry-After.
 * Pure but for libcurl's URL parser; no transfer is made here. */
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/err.h"
#include "core/util.h"
#include "net/http_client.h"
#include "net/http_int.h"

/* ---- Retry-After ------------------------------------------------------- */

int64_t hd_parse_retry_after(const char *v)
{
    if (v == NULL) {
        return -1;
    }
    while (*v == ' ' || *v == '\t') {
        v++;
    }
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n')) {
        n--;
    }
    if (n == 0 || n >= 128) {
        return -1;
    }
    char tmp[128];
    memcpy(tmp, v, n);
    tmp[n] = '\0';

    int digits = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)tmp[i])) {
            digits = 0;
            break;
        }
    }
    if (digits) {
        int64_t secs = 0;
        /* More than ~31 years is nonsense; cap rather than overflow. */
        if (n > 9 || hd_parse_i64(tmp, &secs) != HD_OK) {
            secs = 999999999;
        }
        return secs * 1000;
    }
    time_t t = curl_getdate(tmp, NULL);
    if (t == (time_t)-1) {
        return -1;
    }
    int64_t delta = (int64_t)t * 1000 - hd_now_ms();
    return delta < 0 ? 0 : delta;
}

/* ---- URLs -------------------------------------------------------------- */

int hd_http_put_escaped(struct hd_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = HD_OK;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && rc == HD_OK; p++) {
        int unreserved = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                         *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (unreserved) {
            rc = hd_buf_putc(out, (char)*p);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 0x0f]};
            rc = hd_buf_append(out, enc, sizeof(enc));
        }
    }
    return rc;
}

int hd_http_put_query(struct hd_buf *url, const char *name, const char *value)
{
    int rc = hd_buf_printf(url, "%c%s=", url->p != NULL && strchr(url->p, '?') != NULL ? '&' : '?', name);
    if (rc == HD_OK) {
        rc = hd_http_put_escaped(url, value);
    }
    return rc;
}

/* Copies a part of h into dst; HD_EINVAL when it is missing or too long. */
static int url_part(CURLU *h, CURLUPart what, unsigned flags, char *dst, size_t dstsz)
{
    char *v = NULL;
    if (curl_url_get(h, what, &v, flags) != CURLUE_OK || v == NULL) {
        return HD_EINVAL;
    }
    int n = snprintf(dst, dstsz, "%s", v);
    curl_free(v);
    return n < 0 || (size_t)n >= dstsz ? HD_EINVAL : HD_OK;
}

int hd_url_origin(const char *url, struct hd_url_origin *o)
{
    char port[16];
    memset(o, 0, sizeof(*o));
    if (url == NULL || hd_curl_ready() != HD_OK) {
        return HD_EINVAL;
    }
    CURLU *h = curl_url();
    if (h == NULL) {
        return HD_ENOMEM;
    }
    int rc = curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK ? HD_OK : HD_EINVAL;
    if (rc == HD_OK) {
        rc = url_part(h, CURLUPART_SCHEME, 0, o->scheme, sizeof(o->scheme));
    }
    if (rc == HD_OK) {
        rc = url_part(h, CURLUPART_HOST, 0, o->host, sizeof(o->host));
    }
    if (rc == HD_OK && url_part(h, CURLUPART_PORT, CURLU_DEFAULT_PORT, port, sizeof(port)) == HD_OK) {
        o->port = strtol(port, NULL, 10);
    }
    curl_url_cleanup(h);
    for (char *p = o->host; rc == HD_OK && *p != '\0'; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    size_t n = strlen(o->host);
    if (rc == HD_OK && n >= 2 && o->host[0] == '[' && o->host[n - 1] == ']') {
        memmove(o->host, o->host + 1, n - 2);
        o->host[n - 2] = '\0';
    }
    return rc;
}
