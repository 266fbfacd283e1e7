#include "json/json.h"

#include "core/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

size_t hd_utf8_seq_len(const unsigned char *s, size_t avail)
{
    /* Well-formed UTF-8 (Unicode 3.9, table 3-7): by lead byte, the length
     * and the range of the second byte (no overlongs, no surrogates, nothing
     * above U+10FFFF); later bytes are 80..BF. */
    static const struct {
        unsigned char first, last, n, lo, hi;
    } leads[] = {{0xC2, 0xDF, 2, 0x80, 0xBF}, {0xE0, 0xE0, 3, 0xA0, 0xBF}, {0xE1, 0xEC, 3, 0x80, 0xBF},
                 {0xED, 0xED, 3, 0x80, 0x9F}, {0xEE, 0xEF, 3, 0x80, 0xBF}, {0xF0, 0xF0, 4, 0x90, 0xBF},
                 {0xF1, 0xF3, 4, 0x80, 0xBF}, {0xF4, 0xF4, 4, 0x80, 0x8F}};
    size_t i = 0;
    while (i < sizeof(leads) / sizeof(leads[0]) && (s[0] < leads[i].first || s[0] > leads[i].last)) {
        i++;
    }
    if (i == sizeof(leads) / sizeof(leads[0])) {
        return 0;
    }
    size_t n = leads[i].n;
    if (avail < n || s[1] < leads[i].lo || s[1] > leads[i].hi) {
        return 0;
    }
    for (size_t k = 2; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return n;
}

/* Byte classes for lex_check: 0 = nothing to look at. */
enum { LX_PLAIN = 0, LX_QUOTE, LX_BSLASH, LX_CTRL, LX_HIGH, LX_ALPHA, LX_DIGIT, LX_SQUOTE, LX_MINUS };

static unsigned char lx_class[256];

static void lx_init(void)
{
    for (int c = 0; c < 256; c++) {
        unsigned char k = LX_PLAIN;
        if (c < 0x20) {
            k = LX_CTRL;
        } else if (c >= 0x80) {
            k = LX_HIGH;
        } else if (c == '"') {
            k = LX_QUOTE;
        } else if (c == '\\') {
            k = LX_BSLASH;
        } else if (c == '\'') {
            k = LX_SQUOTE;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            k = LX_ALPHA;
        } else if (c >= '0' && c <= '9') {
            k = LX_DIGIT;
        } else if (c == '-') {
            k = LX_MINUS;
        }
        lx_class[c] = k;
    }
}

static int is_literal(const unsigned char *s, size_t n)
{
    return (n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0) ||
           (n == 4 && memcmp(s, "null", 4) == 0);
}

/* json-c's STRICT mode still accepts single-quoted strings, NaN/Infinity,
 * "1.", raw control characters in strings and overlong or surrogate UTF-8.
 * Documents are delivered to sinks byte for byte, so one cheap lexical pass
 * (a byte-class table; plain bytes cost one load and a compare) rejects
 * those before json-c builds the tree; structure is json-c's job. */
static int lex_check(const char *buf, size_t len, struct hd_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, lx_init);
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        unsigned char k = lx_class[s[i]];
        if (k == LX_QUOTE) {
            i++;
            for (;;) {
                while (i < len && lx_class[s[i]] == LX_PLAIN) {
                    i++;
                }
                if (i >= len) {
                    return HD_OK; /* unterminated: json-c says so */
                }
                k = lx_class[s[i]];
                if (k == LX_QUOTE) {
                    break;
                }
                if (k == LX_BSLASH) {
                    i += 2; /* json-c validates the escape itself */
                } else if (k == LX_CTRL) {
                    return hd_err_set(err, HD_EINVAL,
                                      "at byte %zu: unescaped control character 0x%02x in string", i, s[i]);
                } else if (k == LX_HIGH) {
                    size_t n = hd_utf8_seq_len(s + i, len - i);
                    if (n == 0) {
                        return hd_err_set(err, HD_EINVAL, "at byte %zu: invalid UTF-8 sequence", i);
                    }
                    i += n;
                } else {
                    i++; /* letters, digits, quotes: plain inside a string */
                }
            }
            i++;
        } else if (k == LX_MINUS) {
            /* json-c takes "-.5"; RFC 8259 (and the ingest parser) do not */
            if (i + 1 < len && lx_class[s[i + 1]] != LX_DIGIT) {
                return hd_err_set(err, HD_EINVAL, "at byte %zu: number expected", i + 1);
            }
            i++;
        } else if (k == LX_SQUOTE) {
            return hd_err_set(err, HD_EINVAL, "at byte %zu: single-quoted strings are not JSON", i);
        } else if (k == LX_ALPHA) {
            size_t j = i;
            while (j < len && lx_class[s[j]] == LX_ALPHA) {
                j++;
            }
            size_t n = j - i;
            /* a prefix at the very end is a truncation: json-c says so */
            int prefix = j == len && n < 5 &&
                         (memcmp(s + i, "true", n) == 0 || memcmp(s + i, "false", n) == 0 ||
                          memcmp(s + i, "null", n) == 0);
            if (!is_literal(s + i, n) && !prefix) {
                return hd_err_set(err, HD_EINVAL, "at byte %zu: invalid literal '%.*s'", i,
                                  (int)(n > 16 ? 16 : n), (const char *)s + i);
            }
            i = j;
        } else if (k == LX_DIGIT) {
            if (s[i] == '0' && i + 1 < len && lx_class[s[i + 1]] == LX_DIGIT) {
                return hd_err_set(err, HD_EINVAL, "at byte %zu: numbers cannot have leading zeros", i);
            }
            /* the exponent's 'e' is part of the number, not a literal */
            while (i < len && (lx_class[s[i]] == LX_DIGIT || s[i] == 'e' || s[i] == 'E' || s[i] == '+' ||
                               s[i] == '-' || s[i] == '.')) {
                if (s[i] == '.' && (i + 1 >= len || lx_class[s[i + 1]] != LX_DIGIT)) {
                    return hd_err_set(err, HD_EINVAL, "at byte %zu: a digit must follow the decimal point",
                                      i + 1);
                }
                i++;
            }
        } else {
            i++;
        }
    }
    return HD_OK;
}

json_object *hd_json_parse(const char *buf, size_t len, struct hd_err *err)
{
    if (len > (size_t)INT32_MAX) {
        hd_err_set(err, HD_ETOOBIG, "document too large");
        return NULL;
    }
    if (lex_check(buf, len, err) != HD_OK) {
        return NULL;
    }
    json_tokener *tok = json_tokener_new_ex(HD_JSON_MAX_DEPTH);
    if (tok == NULL) {
        hd_err_set(err, HD_ENOMEM, "out of memory");
        return NULL;
    }
    /* no JSON_TOKENER_VALIDATE_UTF8: lex_check already validated every
     * string, more strictly, and it cost 20% of the parse */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *obj = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (obj == NULL && jerr == json_tokener_continue) {
        /* a top-level scalar ("123", "true") only ends at a delimiter */
        obj = json_tokener_parse_ex(tok, " ", 1);
        jerr = json_tokener_get_error(tok);
        if (jerr != json_tokener_success) {
            jerr = json_tokener_continue;
        }
        end = len;
    }
    if (obj == NULL && jerr == json_tokener_success) {
        /* json-c represents null as NULL: indistinguishable from a failure */
        size_t at = 0;
        while (at < len && (buf[at] == ' ' || buf[at] == '\t' || buf[at] == '\r' || buf[at] == '\n')) {
            at++;
        }
        hd_err_set(err, HD_EINVAL, "at byte %zu: the document is JSON null", at);
        goto out;
    }
    if (obj == NULL || jerr != json_tokener_success) {
        if (jerr == json_tokener_continue) {
            hd_err_set(err, HD_EINVAL, "at byte %zu: unexpected end of input (truncated document)", len);
        } else if (jerr == json_tokener_error_depth) {
            hd_err_set(err, HD_EINVAL, "at byte %zu: nesting deeper than %d levels", end, HD_JSON_MAX_DEPTH);
        } else {
            hd_err_set(err, HD_EINVAL, "at byte %zu: %s", end, json_tokener_error_desc(jerr));
        }
        json_object_put(obj);
        obj = NULL;
        goto out;
    }
    for (size_t i = end; i < len; i++) {
        char c = buf[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            hd_err_set(err, HD_EINVAL, "at byte %zu: unexpected data after the JSON value", i);
            json_object_put(obj);
            obj = NULL;
            goto out;
        }
    }
out:
    json_tokener_free(tok);
    return obj;
}

int hd_path_next(const char **p, const char **seg, size_t *n)
{
    if (**p == '\0') {
        return 0;
    }
    *seg = *p;
    *n = strcspn(*p, ".");
    *p += *n;
    if (**p == '.') {
        (*p)++;
    }
    return 1;
}

int hd_path_index(const char *seg, size_t n, size_t *idx)
{
    if (n == 0 || n > 9) {
        return 0;
    }
    size_t v = 0;
    for (size_t k = 0; k < n; k++) {
        if (seg[k] < '0' || seg[k] > '9') {
            return 0;
        }
        v = v * 10 + (size_t)(seg[k] - '0');
    }
    *idx = v;
    return 1;
}

json_object *hd_json_path(json_object *root, const char *path)
{
    json_object *cur = root;
    const char *p = path;
    const char *seg;
    size_t n;
    while (cur != NULL && hd_path_next(&p, &seg, &n)) {
        size_t idx;
        if (json_object_is_type(cur, json_type_object)) {
            char key[256];
            if (n >= sizeof(key)) {
                return NULL;
            }
            memcpy(key, seg, n);
            key[n] = '\0';
            json_object *next = NULL;
            if (!json_object_object_get_ex(cur, key, &next)) {
                return NULL;
            }
            cur = next;
        } else if (json_object_is_type(cur, json_type_array) && hd_path_index(seg, n, &idx)) {
            cur = idx < json_object_array_length(cur) ? json_object_array_get_idx(cur, idx) : NULL;
        } else {
            return NULL;
        }
    }
    return cur;
}

const char *hd_json_get_str(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    return json_object_get_string(v);
}

int hd_json_get_i64(json_object *obj, const char *key, int64_t *out)
{
    json_object *v = NULL;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &v) || v == NULL) {
        return 0;
    }
    if (json_object_is_type(v, json_type_int)) {
        *out = json_object_get_int64(v);
        return 1;
    }
    if (json_object_is_type(v, json_type_double)) {
        return hd_double_to_i64(json_object_get_double(v), out);
    }
    return 0;
}

int hd_json_get_bool(json_object *obj, const char *key, int def)
{
    json_object *v = NULL;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &v) || v == NULL) {
        return def;
    }
    if (!json_object_is_type(v, json_type_boolean)) {
        return -1;
    }
    return json_object_get_boolean(v) ? 1 : 0;
}

int hd_json_append(json_object *o, struct hd_buf *out)
{
    size_t n = 0;
    const char *s =
        json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    return hd_buf_append(out, s, n);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int hd_json_canonical(json_object *o, struct hd_buf *out)
{
    int rc = HD_OK;
    if (json_object_is_type(o, json_type_object)) {
        size_t n = (size_t)json_object_object_length(o);
        const char **keys = calloc(n ? n : 1, sizeof(*keys));
        if (keys == NULL) {
            return HD_ENOMEM;
        }
        size_t i = 0;
        json_object_object_foreach(o, k, v)
        {
            (void)v;
            keys[i++] = k;
        }
        qsort(keys, n, sizeof(*keys), cmp_keys);
        rc = hd_buf_putc(out, '{');
        for (i = 0; i < n && rc == HD_OK; i++) {
            if (i > 0) {
                rc = hd_buf_putc(out, ',');
            }
            if (rc == HD_OK) {
                rc = hd_buf_json_str(out, keys[i], strlen(keys[i]));
            }
            if (rc == HD_OK) {
                rc = hd_buf_putc(out, ':');
            }
            if (rc == HD_OK) {
                rc = hd_json_canonical(json_object_object_get(o, keys[i]), out);
            }
        }
        free(keys);
        if (rc == HD_OK) {
            rc = hd_buf_putc(out, '}');
        }
        return rc;
    }
    if (json_object_is_type(o, json_type_array)) {
        size_t n = json_object_array_length(o);
        rc = hd_buf_putc(out, '[');
        for (size_t i = 0; i < n && rc == HD_OK; i++) {
            if (i > 0) {
                rc = hd_buf_putc(out, ',');
            }
            if (rc == HD_OK) {
                rc = hd_json_canonical(json_object_array_get_idx(o, i), out);
            }
        }
        if (rc == HD_OK) {
            rc = hd_buf_putc(out, ']');
        }
        return rc;
    }
    if (o == NULL) {
        return hd_buf_puts(out, "null");
    }
    return hd_json_append(o, out);
}

/* ---- span scanning ---------------------------------------------------- */

static int json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t hd_json_skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && json_ws(s[i])) {
        i++;
    }
    return i;
}

/* Skips the string whose opening quote is at s[i]; returns the index just
 * past the closing quote, or 0 if it is unterminated. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        char c = s[i];
        if (c == '"') {
            return i + 1;
        }
        if (c == '\\') {
            i++;
        }
    }
    return 0;
}

int hd_json_value_span(const char *s, size_t len, size_t i, size_t *end)
{
    if (i >= len) {
        return 0;
    }
    /* deeper than the parser allows: stop, the parse reports the depth */
    char stack[HD_JSON_MAX_DEPTH + 8];
    size_t depth = 0;
    char c = s[i];
    if (c == '"') {
        size_t e = skip_string(s, len, i);
        if (e == 0) {
            return 0;
        }
        *end = e;
        return 1;
    }
    if (c != '{' && c != '[') {
        /* a scalar: up to the next delimiter */
        while (i < len && !json_ws(s[i]) && s[i] != ',' && s[i] != ']' && s[i] != '}' && s[i] != '{' &&
               s[i] != '[' && s[i] != '"') {
            i++;
        }
        *end = i;
        return 1;
    }
    while (i < len) {
        c = s[i];
        if (c == '"') {
            i = skip_string(s, len, i);
            if (i == 0) {
                return 0;
            }
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth == sizeof(stack)) {
                return 0;
            }
            stack[depth++] = c;
        } else if (c == '}' || c == ']') {
            if (depth == 0 || stack[depth - 1] != (c == '}' ? '{' : '[')) {
                return 0;
            }
            if (--depth == 0) {
                *end = i + 1;
                return 1;
            }
        }
        i++;
    }
    return 0;
}
