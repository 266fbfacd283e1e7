/* buf.h - growable byte buffer with a hard cap (curl dynbuf).
 *
 * The content is always NUL-terminated (not counted in len), so it can be
 * handed to APIs that want a C string. Appends past max fail with HD_ETOOBIG
 * and leave the buffer unchanged.
 */
#ifndef HD_BUF_H
#define HD_BUF_H

#include <stddef.h>
#include <stdint.h>

struct hd_buf {
    char *p;
    size_t len;
    size_t cap;
    size_t max; /* 0 = unlimited */
};

struct hd_str {
    const char *p;
    size_t len;
};

void hd_buf_init(struct hd_buf *b, size_t max);
void hd_buf_free(struct hd_buf *b);                 /* frees memory, buffer reusable after init */
void hd_buf_reset(struct hd_buf *b);                /* len = 0, keeps memory */
int hd_buf_reserve(struct hd_buf *b, size_t extra); /* room for extra more bytes: capacity doubles */
/* The same, growing to exactly len + extra (+ the NUL): for a size known up
 * front (a declared Content-Length), where doubling would hold up to twice it. */
int hd_buf_reserve_exact(struct hd_buf *b, size_t extra);
int hd_buf_append(struct hd_buf *b, const void *p, size_t n);
int hd_buf_puts(struct hd_buf *b, const char *s);
int hd_buf_putc(struct hd_buf *b, char c);
int hd_buf_printf(struct hd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends v in decimal (the delivery path's integers, without printf). */
int hd_buf_put_i64(struct hd_buf *b, int64_t v);
/* Appends s as a JSON string literal (with quotes), escaping as RFC 8259 asks
 * and byte for byte as json-c writes it (JSON_C_TO_STRING_NOSLASHESCAPE: the
 * short escapes \b \f \n \r \t, \u00XX for other controls): the event id
 * hashes this canonical text (jtape.c). */
int hd_buf_json_str(struct hd_buf *b, const char *s, size_t n);
/* Appends s with & < > " ' written as the HTML entities &amp; &lt; &gt; &quot;
 * &#39;: safe as the text of an HTML element and inside a quoted attribute.
 * On failure the buffer is unchanged. */
int hd_buf_html_str(struct hd_buf *b, const char *s, size_t n);
/* Hands the memory to the caller (who frees it), cut to len + 1 bytes when
 * much larger; the buffer is left empty. */
char *hd_buf_steal(struct hd_buf *b, size_t *len);

#endif
