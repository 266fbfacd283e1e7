#include "core/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/err.h"
#include "core/util.h"

void hd_buf_init(struct hd_buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void hd_buf_free(struct hd_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void hd_buf_reset(struct hd_buf *b)
{
    b->len = 0;
    if (b->p != NULL) {
        b->p[0] = '\0';
    }
}

static int buf_grow(struct hd_buf *b, size_t extra, int exact)
{
    if (b->max != 0 && (extra > b->max || b->len > b->max - extra)) {
        return HD_ETOOBIG;
    }
    if (extra > SIZE_MAX - 1 - b->len) {
        return HD_ENOMEM;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) {
        return HD_OK;
    }
    size_t ncap = exact ? need : (b->cap ? b->cap : 256);
    while (ncap < need) {
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    }
    char *np = realloc(b->p, ncap);
    if (np == NULL) {
        return HD_ENOMEM;
    }
    b->p = np;
    b->cap = ncap;
    b->p[b->len] = '\0';
    return HD_OK;
}

int hd_buf_reserve(struct hd_buf *b, size_t extra)
{
    return buf_grow(b, extra, 0);
}

int hd_buf_reserve_exact(struct hd_buf *b, size_t extra)
{
    return buf_grow(b, extra, 1);
}

int hd_buf_append(struct hd_buf *b, const void *p, size_t n)
{
    int rc = hd_buf_reserve(b, n);
    if (rc != HD_OK) {
        return rc;
    }
    if (n > 0) {
        memcpy(b->p + b->len, p, n);
    }
    b->len += n;
    b->p[b->len] = '\0';
    return HD_OK;
}

int hd_buf_puts(struct hd_buf *b, const char *s)
{
    return hd_buf_append(b, s, strlen(s));
}

int hd_buf_putc(struct hd_buf *b, char c)
{
    return hd_buf_append(b, &c, 1);
}

/* One vsnprintf into the free space when the text fits (the usual case on
 * the delivery path), a second only when the buffer must grow first. */
int hd_buf_printf(struct hd_buf *b, const char *fmt, ...)
{
    size_t room = b->cap > b->len ? b->cap - b->len : 0; /* the NUL included */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room > 0 ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < room && (b->max == 0 || (size_t)n <= b->max - b->len)) {
        b->len += (size_t)n;
        return HD_OK;
    }
    if (room > 0) {
        b->p[b->len] = '\0'; /* undo a partial or refused write */
    }
    if (n < 0) {
        return HD_EINVAL;
    }
    int rc = hd_buf_reserve(b, (size_t)n);
    if (rc != HD_OK) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return HD_OK;
}

int hd_buf_put_i64(struct hd_buf *b, int64_t v)
{
    char tmp[21];
    size_t n = hd_fmt_i64(tmp, v);
    return hd_buf_append(b, tmp, n);
}

/* The index of the first byte of s[i..n) that JSON must escape (quote,
 * backslash, a control byte), or n: 16 bytes at a time where SSE2 is there
 * (unsigned <= 0x1f: max(v, 0x1f) == 0x1f, so bytes >= 0x80 pass). */
static size_t json_plain_end(const char *s, size_t n, size_t i)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i ctl = _mm_set1_epi8(0x1f);
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                       _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
        int m = _mm_movemask_epi8(special);
        if (m != 0) {
            return i + (size_t)__builtin_ctz((unsigned)m);
        }
        i += 16;
    }
#endif
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\') {
            break;
        }
    }
    return i;
}

/* Runs of plain bytes are copied at once; only the bytes RFC 8259 requires
 * (quote, backslash, controls) are escaped. Hot: every string of every
 * rendered document goes through here. */
int hd_buf_json_str(struct hd_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = hd_buf_reserve(b, n + 2);
    if (rc != HD_OK) {
        return rc;
    }
    b->p[b->len++] = '"';
    size_t run = 0;
    for (size_t i = json_plain_end(s, n, 0); i < n; i = json_plain_end(s, n, i + 1)) {
        unsigned char c = (unsigned char)s[i];
        rc = hd_buf_append(b, s + run, i - run);
        if (rc != HD_OK) {
            return rc;
        }
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        rc = hd_buf_append(b, esc, el);
        if (rc != HD_OK) {
            return rc;
        }
    }
    rc = hd_buf_append(b, s + run, n - run);
    if (rc != HD_OK) {
        return rc;
    }
    return hd_buf_putc(b, '"');
}

int hd_buf_html_str(struct hd_buf *b, const char *s, size_t n)
{
    size_t len0 = b->len;
    size_t run = 0;
    int rc = HD_OK;
    for (size_t i = 0; i < n && rc == HD_OK; i++) {
        const char *ent;
        switch (s[i]) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default: continue;
        }
        rc = hd_buf_append(b, s + run, i - run);
        if (rc == HD_OK) {
            rc = hd_buf_puts(b, ent);
        }
        run = i + 1;
    }
    if (rc == HD_OK) {
        rc = hd_buf_append(b, s + run, n - run);
    }
    if (rc != HD_OK && b->p != NULL) {
        b->len = len0;
        b->p[len0] = '\0';
    }
    return rc;
}

/* Spare room hd_buf_steal gives back (the first growth leaves up to 255). */
#define HD_BUF_STEAL_SLACK 64

char *hd_buf_steal(struct hd_buf *b, size_t *len)
{
    if (b->p == NULL && hd_buf_reserve(b, 0) != HD_OK) {
        return NULL;
    }
    char *p = b->p;
    if (b->cap - b->len > HD_BUF_STEAL_SLACK) {
        /* Kept past the call (an event's strings, thousands per request):
         * cut to size. A shrinking realloc only fails by returning NULL. */
        char *q = realloc(p, b->len + 1);
        p = q != NULL ? q : p;
    }
    if (len != NULL) {
        *len = b->len;
    }
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
