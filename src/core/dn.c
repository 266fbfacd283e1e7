/* dn.c - RFC 4514 distinguished names in one canonical form (see dn.h).
 *
 * DESIGN: one pass over the string, AVA by AVA: the type is read up to '=',
 * the value up to an unescaped ',' or '+' and decoded into bytes, then both
 * are written back in the one spelling of dn.h. Comparing two canonical
 * strings with strcmp is then the comparison of the names as a person reads
 * them (types case-insensitive, escapes and optional spaces ignored); values
 * stay case-sensitive, as X.500 caseIgnoreMatch is not what a CN like "falco"
 * vs "Falco" should be trusted to mean. No attempt at full X.520 matching
 * (Unicode folding, OIDs for names): certificates are read back by GnuTLS,
 * which names the usual attributes, and the subjects in the file are written
 * by whoever made the certificate.
 */
#include "core/dn.h"

#include <ctype.h>
#include <string.h>

#include "core/util.h"

struct dn_in {
    const char *p;
    size_t len;
    size_t i;
};

static void skip_spaces(struct dn_in *in)
{
    while (in->i < in->len && (in->p[in->i] == ' ' || in->p[in->i] == '\t')) {
        in->i++;
    }
}

/* Reads "type =" and writes "TYPE=". */
static int put_type(struct dn_in *in, struct hd_buf *b, struct hd_err *err)
{
    static const struct {
        const char *from, *to;
    } aliases[] = {{"EMAILADDRESS", "EMAIL"}, {"E", "EMAIL"}};
    char type[64];
    size_t n = 0;
    skip_spaces(in);
    size_t start = in->i;
    while (in->i < in->len &&
           (isalnum((unsigned char)in->p[in->i]) || in->p[in->i] == '-' || in->p[in->i] == '.')) {
        if (n + 1 >= sizeof(type)) {
            return hd_err_set(err, HD_EINVAL, "character %zu: attribute type too long", start + 1);
        }
        type[n++] = (char)toupper((unsigned char)in->p[in->i]);
        in->i++;
    }
    type[n] = '\0';
    skip_spaces(in);
    if (n == 0) {
        return hd_err_set(err, HD_EINVAL, "character %zu: expected an attribute type such as CN, O or OU",
                          in->i + 1);
    }
    if (in->i >= in->len || in->p[in->i] != '=') {
        return hd_err_set(err, HD_EINVAL, "character %zu: expected '=' after the attribute type %s",
                          in->i + 1, type);
    }
    in->i++;
    const char *name = type;
    for (size_t k = 0; k < sizeof(aliases) / sizeof(aliases[0]); k++) {
        if (strcmp(type, aliases[k].from) == 0) {
            name = aliases[k].to;
        }
    }
    if (hd_buf_puts(b, name) != HD_OK || hd_buf_putc(b, '=') != HD_OK) {
        return HD_ETOOBIG;
    }
    return HD_OK;
}

/* A '#' value: the hex of its BER encoding, kept (upper-cased). */
static int put_hex_value(struct dn_in *in, struct hd_buf *b, struct hd_err *err)
{
    size_t start = in->i;
    int rc = hd_buf_putc(b, '#');
    in->i++;
    while (rc == HD_OK && in->i < in->len && hd_hexval(in->p[in->i]) >= 0) {
        rc = hd_buf_putc(b, (char)toupper((unsigned char)in->p[in->i]));
        in->i++;
    }
    if (rc != HD_OK) {
        return HD_ETOOBIG;
    }
    size_t digits = in->i - start - 1;
    if (digits == 0 || digits % 2 != 0) {
        return hd_err_set(err, HD_EINVAL,
                          "character %zu: '#' must be followed by an even number of hex digits", start + 1);
    }
    return HD_OK;
}

/* Writes the decoded value v[0..n) escaped the one canonical way. */
static int put_escaped(const unsigned char *v, size_t n, struct hd_buf *b)
{
    int rc = HD_OK;
    for (size_t j = 0; rc == HD_OK && j < n; j++) {
        unsigned char c = v[j];
        if (c < 0x20 || c == 0x7f) {
            rc = hd_buf_printf(b, "\\%02X", c);
        } else if (strchr(",+\"\\<>;", c) != NULL || (j == 0 && (c == '#' || c == ' ')) ||
                   (j + 1 == n && c == ' ')) {
            rc = hd_buf_putc(b, '\\');
            if (rc == HD_OK) {
                rc = hd_buf_putc(b, (char)c);
            }
        } else {
            rc = hd_buf_putc(b, (char)c);
        }
    }
    return rc == HD_OK ? HD_OK : HD_ETOOBIG;
}

/* Reads a string value up to an unescaped ',' or '+' (or the end), decoding
 * escapes; unescaped spaces at either end are not part of it. */
static int put_value(struct dn_in *in, struct hd_buf *b, struct hd_err *err)
{
    unsigned char v[HD_DN_MAX];
    size_t n = 0;
    size_t keep = 0; /* v[0..keep) ends with a byte that is no unescaped space */
    skip_spaces(in);
    if (in->i < in->len && in->p[in->i] == '#') {
        return put_hex_value(in, b, err);
    }
    while (in->i < in->len && in->p[in->i] != ',' && in->p[in->i] != '+') {
        char c = in->p[in->i];
        size_t at = in->i + 1;
        int escaped = 0;
        if (c == '"' || c == ';') {
            return hd_err_set(err, HD_EINVAL, "character %zu: '%c' must be escaped as \\%c (RFC 4514)", at, c,
                              c);
        }
        if (c == '\\') {
            if (in->i + 1 >= in->len) {
                return hd_err_set(err, HD_EINVAL, "character %zu: '\\' at the end", at);
            }
            char e = in->p[in->i + 1];
            int hi = hd_hexval(e);
            int lo = in->i + 2 < in->len ? hd_hexval(in->p[in->i + 2]) : -1;
            if (hi >= 0 && lo >= 0) {
                c = (char)(hi * 16 + lo);
                in->i += 2;
            } else if (strchr(",+\"\\<>;=# ", e) != NULL && e != '\0') {
                c = e;
                in->i++;
            } else {
                return hd_err_set(
                    err, HD_EINVAL,
                    "character %zu: '\\' must be followed by one of ,+\"\\<>;=# or space, or two "
                    "hex digits",
                    at);
            }
            escaped = 1;
        }
        in->i++;
        if (n >= sizeof(v)) {
            return HD_ETOOBIG;
        }
        v[n++] = (unsigned char)c;
        if (escaped || (c != ' ' && c != '\t')) {
            keep = n;
        }
    }
    return put_escaped(v, keep, b);
}

int hd_dn_canonical(const char *dn, size_t len, struct hd_buf *out, struct hd_err *err)
{
    struct dn_in in = {.p = dn, .len = len, .i = 0};
    struct hd_buf b;
    hd_buf_init(&b, HD_DN_MAX);
    int rc = HD_OK;
    skip_spaces(&in);
    if (in.i >= in.len) {
        rc = hd_err_set(err, HD_EINVAL, "empty (expected a name such as CN=falco)");
        goto out;
    }
    for (;;) {
        rc = put_type(&in, &b, err);
        if (rc == HD_OK) {
            rc = put_value(&in, &b, err);
        }
        if (rc != HD_OK) {
            goto out;
        }
        skip_spaces(&in);
        if (in.i >= in.len) {
            break;
        }
        char sep = in.p[in.i];
        if (sep != ',' && sep != '+') {
            rc = hd_err_set(err, HD_EINVAL, "character %zu: expected ',' or '+' after the value", in.i + 1);
            goto out;
        }
        in.i++;
        if (hd_buf_putc(&b, sep) != HD_OK) {
            rc = HD_ETOOBIG;
            goto out;
        }
    }
    if (hd_buf_append(out, b.p, b.len) != HD_OK) {
        rc = HD_ETOOBIG;
    }
out:
    if (rc == HD_ETOOBIG) {
        hd_err_set(err, HD_ETOOBIG, "longer than %d bytes", HD_DN_MAX);
    }
    hd_buf_free(&b);
    return rc;
}
