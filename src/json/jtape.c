/* jtape.c - see jtape.h.
 *
 * DESIGN: one forward pass over the bytes with an explicit stack of open
 * containers (no recursion: depth is bounded by HD_JSON_MAX_DEPTH anyway).
 * Every value appends a node; a container's node gets its item count and
 * subtree size when it closes. Strings are copied into the text arena while
 * they are validated (plain runs found with a byte-class table and moved
 * with memcpy), so unescaping costs nothing extra and each string ends with
 * a NUL for the C-string-minded decoders. The arena is sized to the
 * document once (a string's unescaped bytes plus its NUL never exceed its
 * quoted source bytes), so no pointer into it moves during a parse.
 * Errors use hd_json_parse's wording where tests and clients rely on it.
 */
#include "json/jtape.h"

#include "core/util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define TRUNCATED "unexpected end of input (truncated document)"

/* Byte classes inside a string: 0 = copy as is. */
enum { SC_PLAIN = 0, SC_QUOTE, SC_BSLASH, SC_CTRL, SC_HIGH };

#define C4 SC_CTRL, SC_CTRL, SC_CTRL, SC_CTRL
#define P4 SC_PLAIN, SC_PLAIN, SC_PLAIN, SC_PLAIN
#define H4 SC_HIGH, SC_HIGH, SC_HIGH, SC_HIGH
#define H16 H4, H4, H4, H4
static const unsigned char str_class[256] = {
    C4,        C4,       C4,       C4,       C4,  C4,  C4,  C4,                  /* 0x00-0x1f */
    SC_PLAIN,  SC_PLAIN, SC_QUOTE, SC_PLAIN, P4,  P4,  P4,  P4,  P4, P4, P4,     /* 0x20-0x3f */
    P4,        P4,       P4,       P4,       P4,  P4,  P4,                       /* 0x40-0x5b */
    SC_BSLASH, SC_PLAIN, SC_PLAIN, SC_PLAIN, P4,  P4,  P4,  P4,  P4, P4, P4, P4, /* 0x5c-0x7f */
    H16,       H16,      H16,      H16,      H16, H16, H16, H16,                 /* 0x80-0xff */
};

struct jp {
    const unsigned char *s;
    size_t len;
    struct hd_jtape *t;
    char *out; /* next free byte of the text arena */
    struct hd_err *err;
};

void hd_jt_init(struct hd_jtape *t)
{
    memset(t, 0, sizeof(*t));
}

void hd_jt_free(struct hd_jtape *t)
{
    free(t->nodes);
    free(t->text);
    memset(t, 0, sizeof(*t));
}

hd_jv hd_jt_root(const struct hd_jtape *t)
{
    return t->n > 0 ? &t->nodes[0] : NULL;
}

static int grow_nodes(struct hd_jtape *t)
{
    size_t cap = t->cap ? t->cap * 2 : 256;
    struct hd_jnode *p = realloc(t->nodes, cap * sizeof(*p));
    if (p == NULL) {
        return HD_ENOMEM;
    }
    t->nodes = p;
    t->cap = cap;
    return HD_OK;
}

/* Index of a new node of type, or -1 (out of memory). */
static inline int64_t push(struct jp *p, enum hd_jtype type)
{
    struct hd_jtape *t = p->t;
    if (t->n == t->cap && grow_nodes(t) != HD_OK) {
        return -1;
    }
    struct hd_jnode *n = &t->nodes[t->n];
    n->s = NULL;
    n->len = 0;
    n->skip = 1;
    n->type = (uint8_t)type;
    return (int64_t)t->n++;
}

static int fail(struct jp *p, size_t at, const char *why)
{
    return hd_err_set(p->err, HD_EINVAL, "at byte %zu: %s", at, why);
}

/* The 4 hex digits at s[i]: code unit, or -1 with *bad = offending offset. */
static long hex4(const unsigned char *s, size_t i, size_t *bad)
{
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = hd_hexval(s[i + k]);
        if (h < 0) {
            *bad = i + k;
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

static char *put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* The string whose opening quote is at *i; *i ends past the closing quote.
 * Unpaired surrogate escapes become U+FFFD, as json-c decodes them. */
static int parse_string(struct jp *p, size_t *i, int is_key)
{
    const unsigned char *s = p->s;
    size_t len = p->len;
    size_t j = *i + 1;
    char *o0 = p->out, *o = p->out;
    int nul = 0;
    int64_t idx = push(p, HD_JT_STRING);
    if (idx < 0) {
        return HD_ENOMEM;
    }
    for (;;) {
#ifdef __SSE2__
        /* 16 bytes at a time while none is a quote, a backslash, a control
         * byte or non-ASCII (signed < 0x20 catches both of the last two);
         * the store stays inside the arena: those bytes are all string */
        while (j + 16 <= len) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + j));
            __m128i special = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
            if (_mm_movemask_epi8(special) != 0) {
                break;
            }
            _mm_storeu_si128((__m128i *)(void *)o, v);
            o += 16;
            j += 16;
        }
#endif
        size_t a = j;
        while (j < len && str_class[s[j]] == SC_PLAIN) {
            j++;
        }
        memcpy(o, s + a, j - a);
        o += j - a;
        if (j >= len) {
            return fail(p, len, TRUNCATED);
        }
        unsigned char k = str_class[s[j]];
        if (k == SC_QUOTE) {
            break;
        }
        if (k == SC_CTRL) {
            return hd_err_set(p->err, HD_EINVAL, "at byte %zu: unescaped control character 0x%02x in string",
                              j, s[j]);
        }
        if (k == SC_HIGH) {
            size_t n = hd_utf8_seq_len(s + j, len - j);
            if (n == 0) {
                return fail(p, j, "invalid UTF-8 sequence");
            }
            memcpy(o, s + j, n);
            o += n;
            j += n;
            continue;
        }
        /* a backslash */
        if (j + 1 >= len) {
            return fail(p, len, TRUNCATED);
        }
        unsigned char e = s[j + 1];
        char c = 0;
        switch (e) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': break;
        default: return fail(p, j + 1, "invalid string sequence");
        }
        if (e != 'u') {
            *o++ = c;
            j += 2;
            continue;
        }
        if (j + 6 > len) {
            return fail(p, len, TRUNCATED);
        }
        size_t bad = 0;
        long cu = hex4(s, j + 2, &bad);
        if (cu < 0) {
            return fail(p, bad, "invalid string sequence");
        }
        j += 6;
        unsigned long cp = (unsigned long)cu;
        if (cu >= 0xD800 && cu <= 0xDBFF) {
            long lo = -1;
            if (j + 6 <= len && s[j] == '\\' && s[j + 1] == 'u') {
                size_t bad2 = 0;
                lo = hex4(s, j + 2, &bad2);
            }
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + (((unsigned long)cu - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
                j += 6;
            } else {
                cp = 0xFFFD; /* the next escape is read on its own */
            }
        } else if (cu >= 0xDC00 && cu <= 0xDFFF) {
            cp = 0xFFFD;
        }
        if (cp == 0) {
            nul = 1;
        }
        o = put_utf8(o, cp);
    }
    *o = '\0';
    struct hd_jnode *n = &p->t->nodes[idx];
    n->s = o0;
    n->len = (uint32_t)(o - o0);
    if (is_key && nul) {
        n->len = (uint32_t)strlen(o0); /* json-c keeps keys as C strings */
    }
    p->out = o + 1;
    *i = j + 1;
    return HD_OK;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int parse_number(struct jp *p, size_t *pi)
{
    const unsigned char *s = p->s;
    size_t len = p->len;
    size_t a = *pi, i = *pi;
    int is_int = 1;
    if (s[i] == '-') {
        i++;
    }
    if (i >= len) {
        return fail(p, len, TRUNCATED);
    }
    if (s[i] == '0') {
        i++;
        if (i < len && is_digit(s[i])) {
            return fail(p, i - 1, "numbers cannot have leading zeros");
        }
    } else if (is_digit(s[i])) {
        while (i < len && is_digit(s[i])) {
            i++;
        }
    } else {
        return fail(p, i, "number expected");
    }
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || !is_digit(s[i])) {
            return fail(p, i, "a digit must follow the decimal point");
        }
        while (i < len && is_digit(s[i])) {
            i++;
        }
        is_int = 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        if (i >= len) {
            return fail(p, len, TRUNCATED);
        }
        if (!is_digit(s[i])) {
            return fail(p, i, "number expected");
        }
        while (i < len && is_digit(s[i])) {
            i++;
        }
        is_int = 0;
    }
    if (i - a > UINT32_MAX) {
        return fail(p, a, "number too long");
    }
    int64_t idx = push(p, is_int ? HD_JT_INT : HD_JT_DOUBLE);
    if (idx < 0) {
        return HD_ENOMEM;
    }
    p->t->nodes[idx].s = (const char *)s + a;
    p->t->nodes[idx].len = (uint32_t)(i - a);
    *pi = i;
    return HD_OK;
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int parse_literal(struct jp *p, size_t *pi)
{
    const unsigned char *s = p->s;
    size_t i = *pi, j = i;
    while (j < p->len && is_alpha(s[j])) {
        j++;
    }
    size_t n = j - i;
    enum hd_jtype type = HD_JT_NULL;
    uint32_t val = 0;
    if (n == 4 && memcmp(s + i, "true", 4) == 0) {
        type = HD_JT_BOOL;
        val = 1;
    } else if (n == 5 && memcmp(s + i, "false", 5) == 0) {
        type = HD_JT_BOOL;
    } else if (!(n == 4 && memcmp(s + i, "null", 4) == 0)) {
        if (j == p->len && n < 5 &&
            (memcmp(s + i, "true", n) == 0 || memcmp(s + i, "false", n) == 0 ||
             memcmp(s + i, "null", n) == 0)) {
            return fail(p, p->len, TRUNCATED);
        }
        return hd_err_set(p->err, HD_EINVAL, "at byte %zu: invalid literal '%.*s'", i, (int)(n > 16 ? 16 : n),
                          (const char *)s + i);
    }
    int64_t idx = push(p, type);
    if (idx < 0) {
        return HD_ENOMEM;
    }
    p->t->nodes[idx].len = val;
    *pi = j;
    return HD_OK;
}

static inline size_t ws(const unsigned char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) {
        i++;
    }
    return i;
}

static int unexpected(struct jp *p, size_t i, const char *why)
{
    if (p->s[i] == '\'') {
        return fail(p, i, "single-quoted strings are not JSON");
    }
    return fail(p, i, why);
}

/* Reads an object member's `"key" :` at *pi (the key goes on the tape) and
 * leaves *pi at its value. */
static int parse_key(struct jp *p, size_t *pi)
{
    const unsigned char *s = p->s;
    size_t len = p->len;
    size_t i = *pi;
    if (i >= len) {
        return fail(p, len, TRUNCATED);
    }
    if (s[i] != '"') {
        return unexpected(p, i,
                          s[i] == '}' ? "unexpected character" : "quoted object property name expected");
    }
    int rc = parse_string(p, &i, 1);
    if (rc != HD_OK) {
        return rc;
    }
    i = ws(s, len, i);
    if (i >= len) {
        return fail(p, len, TRUNCATED);
    }
    if (s[i] != ':') {
        return unexpected(p, i, "object property name separator ':' expected");
    }
    *pi = ws(s, len, i + 1);
    return HD_OK;
}

/* Unescaped strings of a document of len bytes fit in len + 1 bytes of text:
 * one allocation per document at most, none once the tape is warm. */
static int text_reserve(struct hd_jtape *t, size_t len, struct hd_err *err)
{
    if (len >= UINT32_MAX / 2) {
        return hd_err_set(err, HD_ETOOBIG, "document too large");
    }
    if (t->text_cap < len + 1) {
        size_t cap = len + 1 < 4096 ? 4096 : len + 1;
        char *x = realloc(t->text, cap);
        if (x == NULL) {
            return hd_err_set(err, HD_ENOMEM, "out of memory");
        }
        t->text = x;
        t->text_cap = cap;
    }
    return HD_OK;
}

int hd_jt_parse(const char *buf, size_t len, struct hd_jtape *t, struct hd_err *err)
{
    struct jp p = {.s = (const unsigned char *)buf, .len = len, .t = t, .err = err};
    uint32_t stack[HD_JSON_MAX_DEPTH];
    size_t depth = 0;
    int rc = HD_OK;
    t->n = 0;
    rc = text_reserve(t, len, err);
    if (rc != HD_OK) {
        return rc;
    }
    p.out = t->text;
    const unsigned char *s = p.s;
    size_t i = ws(s, len, 0);
    for (;;) {
        /* a value starts at i */
        if (i >= len) {
            rc = fail(&p, len, TRUNCATED);
            goto out;
        }
        unsigned char c = s[i];
        if (c == '{' || c == '[') {
            if (depth == HD_JSON_MAX_DEPTH) {
                rc = hd_err_set(err, HD_EINVAL, "at byte %zu: nesting deeper than %d levels", i,
                                HD_JSON_MAX_DEPTH);
                goto out;
            }
            int64_t idx = push(&p, c == '{' ? HD_JT_OBJECT : HD_JT_ARRAY);
            if (idx < 0) {
                rc = HD_ENOMEM;
                goto out;
            }
            stack[depth++] = (uint32_t)idx;
            i = ws(s, len, i + 1);
            if (i < len && s[i] == (c == '{' ? '}' : ']')) {
                depth--;
                i++;
                goto after_value; /* empty: skip stays 1 */
            }
            if (c == '[') {
                continue;
            }
            goto key;
        } else if (c == '"') {
            rc = parse_string(&p, &i, 0);
        } else if (c == '-' || is_digit(c)) {
            rc = parse_number(&p, &i);
        } else if (is_alpha(c)) {
            rc = parse_literal(&p, &i);
        } else {
            rc = unexpected(&p, i, "unexpected character");
        }
        if (rc != HD_OK) {
            goto out;
        }
    after_value:
        if (depth == 0) {
            i = ws(s, len, i);
            if (i < len) {
                rc = fail(&p, i, "unexpected data after the JSON value");
            }
            goto out;
        }
        {
            struct hd_jnode *top = &t->nodes[stack[depth - 1]];
            int obj = top->type == HD_JT_OBJECT;
            top->len++;
            i = ws(s, len, i);
            if (i >= len) {
                rc = fail(&p, len, TRUNCATED);
                goto out;
            }
            if (s[i] == ',') {
                i = ws(s, len, i + 1);
                if (!obj) {
                    if (i < len && s[i] == ']') {
                        rc = fail(&p, i, "unexpected character");
                        goto out;
                    }
                    continue;
                }
                goto key;
            }
            if (s[i] == (obj ? '}' : ']')) {
                top->skip = (uint32_t)(t->n - stack[depth - 1]);
                depth--;
                i++;
                goto after_value;
            }
            rc = unexpected(
                &p, i, obj ? "object value separator ',' expected" : "array value separator ',' expected");
            goto out;
        }
    key:
        rc = parse_key(&p, &i);
        if (rc != HD_OK) {
            goto out;
        }
    }
out:
    if (rc == HD_ENOMEM) {
        hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    if (rc != HD_OK) {
        t->n = 0;
    }
    return rc;
}

/* ----------------------------------------------------------------- access */

enum hd_jtype hd_jv_type(hd_jv v)
{
    return v == NULL ? HD_JT_NULL : (enum hd_jtype)v->type;
}

size_t hd_jv_len(hd_jv v)
{
    return v != NULL && (v->type == HD_JT_ARRAY || v->type == HD_JT_OBJECT) ? v->len : 0;
}

static int key_is(hd_jv k, const char *key, size_t klen)
{
    /* key may be a segment of a dotted path, not NUL-terminated */
    return k->len == klen && (klen == 0 || (k->s[0] == key[0] && memcmp(k->s, key, klen) == 0));
}

/* The member node (key) of the last `key`, or NULL. */
static hd_jv find_key(hd_jv obj, const char *key, size_t klen)
{
    if (obj == NULL || obj->type != HD_JT_OBJECT) {
        return NULL;
    }
    hd_jv found = NULL;
    hd_jv k = obj + 1;
    for (uint32_t m = 0; m < obj->len; m++) {
        if (key_is(k, key, klen)) {
            found = k;
        }
        k = k + 1 + k[1].skip;
    }
    return found;
}

hd_jv hd_jv_getn(hd_jv obj, const char *key, size_t klen)
{
    hd_jv k = find_key(obj, key, klen);
    if (k == NULL || k[1].type == HD_JT_NULL) {
        return NULL;
    }
    return k + 1;
}

int hd_jv_hasn(hd_jv obj, const char *key, size_t klen)
{
    return find_key(obj, key, klen) != NULL;
}

hd_jv hd_jv_at(hd_jv arr, size_t i)
{
    if (arr == NULL || arr->type != HD_JT_ARRAY || i >= arr->len) {
        return NULL;
    }
    hd_jv e = arr + 1;
    while (i-- > 0) {
        e += e->skip;
    }
    return e;
}

hd_jv hd_jv_first(hd_jv arr)
{
    return arr != NULL && arr->type == HD_JT_ARRAY && arr->len > 0 ? arr + 1 : NULL;
}

hd_jv hd_jv_next(hd_jv arr, hd_jv item)
{
    hd_jv e = item + item->skip;
    return e < arr + arr->skip ? e : NULL;
}

hd_jv hd_jv_path(hd_jv root, const char *path)
{
    hd_jv cur = root;
    const char *p = path;
    const char *seg;
    size_t n;
    while (cur != NULL && hd_path_next(&p, &seg, &n)) {
        size_t idx;
        if (cur->type == HD_JT_OBJECT) {
            hd_jv k = find_key(cur, seg, n);
            cur = k != NULL ? k + 1 : NULL;
        } else if (cur->type == HD_JT_ARRAY && hd_path_index(seg, n, &idx)) {
            cur = hd_jv_at(cur, idx);
        } else {
            return NULL;
        }
        if (cur != NULL && cur->type == HD_JT_NULL) {
            cur = NULL;
        }
    }
    return cur;
}

/* ------------------------------------------------------------- iteration */

static int cmp_key_nodes(const void *a, const void *b)
{
    hd_jv x = *(const hd_jv *)a, y = *(const hd_jv *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c != 0) {
        return c;
    }
    if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }
    return x < y ? -1 : x > y ? 1 : 0; /* document order among equal keys */
}

/* Collects obj's key nodes into keys (document order). */
static void collect_keys(hd_jv obj, hd_jv *keys)
{
    hd_jv k = obj + 1;
    for (uint32_t m = 0; m < obj->len; m++) {
        keys[m] = k;
        k = k + 1 + k[1].skip;
    }
}

static int has_dup_keys(hd_jv obj)
{
    uint32_t n = obj->len;
    if (n < 2) {
        return 0;
    }
    hd_jv stackbuf[64];
    hd_jv *keys = n <= 64 ? stackbuf : malloc(n * sizeof(*keys));
    if (keys == NULL) {
        return 1; /* the exact path is right either way */
    }
    collect_keys(obj, keys);
    int dup = 0;
    if (n <= 16) {
        for (uint32_t a = 0; a < n && !dup; a++) {
            for (uint32_t b = a + 1; b < n && !dup; b++) {
                dup = keys[a]->len == keys[b]->len && memcmp(keys[a]->s, keys[b]->s, keys[a]->len) == 0;
            }
        }
    } else {
        qsort(keys, n, sizeof(*keys), cmp_key_nodes);
        for (uint32_t a = 1; a < n && !dup; a++) {
            dup = keys[a - 1]->len == keys[a]->len && memcmp(keys[a - 1]->s, keys[a]->s, keys[a]->len) == 0;
        }
    }
    if (keys != stackbuf) {
        free(keys);
    }
    return dup;
}

void hd_jv_iter_init(struct hd_jv_iter *it, hd_jv obj)
{
    it->obj = obj != NULL && obj->type == HD_JT_OBJECT ? obj : NULL;
    it->key = it->obj ? obj + 1 : NULL;
    it->i = 0;
    it->dups = it->obj ? has_dup_keys(obj) : 0;
}

int hd_jv_iter_next(struct hd_jv_iter *it, const char **key, hd_jv *val)
{
    while (it->obj != NULL && it->i < it->obj->len) {
        hd_jv k = it->key;
        hd_jv v = k + 1;
        it->key = k + 1 + k[1].skip;
        it->i++;
        if (it->dups) {
            int seen = 0;
            for (hd_jv e = it->obj + 1; e < k && !seen; e = e + 1 + e[1].skip) {
                seen = key_is(e, k->s, k->len);
            }
            if (seen) {
                continue; /* reported at its first position */
            }
            hd_jv e = it->key;
            for (uint32_t m = it->i; m < it->obj->len; m++) {
                if (key_is(e, k->s, k->len)) {
                    v = e + 1;
                }
                e = e + 1 + e[1].skip;
            }
        }
        *key = k->s;
        *val = v->type == HD_JT_NULL ? NULL : v;
        return 1;
    }
    return 0;
}

/* ----------------------------------------------------------- typed reads */

const char *hd_jv_str(hd_jv v, size_t *len)
{
    if (v == NULL || v->type != HD_JT_STRING) {
        return NULL;
    }
    if (len != NULL) {
        *len = v->len;
    }
    return v->s;
}

/* An integer literal as json-c stores it: negative ones saturate at
 * INT64_MIN, others are uint64 saturating at UINT64_MAX. */
static void int_value(hd_jv v, int *neg, uint64_t *mag)
{
    const char *s = v->s;
    size_t n = v->len, i = 0;
    uint64_t m = 0;
    int sat = 0;
    *neg = s[0] == '-';
    if (*neg) {
        i = 1;
    }
    uint64_t limit = *neg ? (uint64_t)INT64_MAX + 1 : UINT64_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (sat || m > (limit - d) / 10) {
            sat = 1;
            continue;
        }
        m = m * 10 + d;
    }
    *mag = sat ? limit : m;
    if (*neg && *mag == 0) {
        *neg = 0; /* -0 is the integer 0 */
    }
}

static double text_double(hd_jv v)
{
    char tmp[64];
    char *p = tmp;
    if (v->len >= sizeof(tmp)) {
        p = malloc((size_t)v->len + 1);
        if (p == NULL) {
            return 0;
        }
    }
    memcpy(p, v->s, v->len);
    p[v->len] = '\0';
    double d = strtod(p, NULL);
    if (p != tmp) {
        free(p);
    }
    return d;
}

int64_t hd_jv_i64(hd_jv v)
{
    switch (hd_jv_type(v)) {
    case HD_JT_INT: {
        int neg;
        uint64_t mag;
        int_value(v, &neg, &mag);
        if (neg) {
            return mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
        }
        return mag > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)mag;
    }
    case HD_JT_DOUBLE: {
        double d = text_double(v);
        if (d >= (double)INT64_MAX) {
            return INT64_MAX;
        }
        if (d <= (double)INT64_MIN || isnan(d)) {
            return isnan(d) ? 0 : INT64_MIN;
        }
        return (int64_t)d;
    }
    case HD_JT_BOOL: return v->len;
    default: return 0;
    }
}

double hd_jv_double(hd_jv v)
{
    if (hd_jv_type(v) == HD_JT_DOUBLE) {
        return text_double(v);
    }
    if (hd_jv_type(v) != HD_JT_INT) {
        return (double)hd_jv_i64(v); /* a boolean 0 or 1, anything else 0 */
    }
    int neg;
    uint64_t mag;
    int_value(v, &neg, &mag);
    return neg ? (double)hd_jv_i64(v) : (double)mag; /* up to 2^64 - 1 unclamped */
}

int hd_jv_bool(hd_jv v)
{
    return v != NULL && v->type == HD_JT_BOOL && v->len != 0;
}

int hd_jv_get_i64n(hd_jv obj, const char *key, size_t klen, int64_t *out)
{
    hd_jv v = hd_jv_getn(obj, key, klen);
    if (hd_jv_is(v, HD_JT_INT)) {
        *out = hd_jv_i64(v);
        return 1;
    }
    if (hd_jv_is(v, HD_JT_DOUBLE)) {
        return hd_double_to_i64(hd_jv_double(v), out);
    }
    return 0;
}

static int int_text(hd_jv v, struct hd_buf *b)
{
    int neg;
    uint64_t mag;
    int_value(v, &neg, &mag);
    if (neg) {
        return hd_buf_printf(b, "-%" PRIu64, mag);
    }
    return hd_buf_printf(b, "%" PRIu64, mag);
}

const char *hd_jv_scalar_text(hd_jv v, struct hd_buf *b)
{
    b->len = 0;
    int rc;
    switch (hd_jv_type(v)) {
    case HD_JT_STRING: return v->s;
    case HD_JT_INT: rc = int_text(v, b); break;
    case HD_JT_DOUBLE: rc = hd_buf_append(b, v->s, v->len); break;
    case HD_JT_BOOL: rc = hd_buf_puts(b, v->len ? "true" : "false"); break;
    default: return NULL;
    }
    if (rc == HD_OK) {
        rc = hd_buf_putc(b, '\0');
    }
    return rc == HD_OK ? b->p : NULL;
}

/* ------------------------------------------------------------- canonical */

int hd_jv_canonical(hd_jv v, struct hd_buf *out)
{
    switch (hd_jv_type(v)) {
    case HD_JT_NULL: return hd_buf_puts(out, "null");
    case HD_JT_BOOL: return hd_buf_puts(out, v->len ? "true" : "false");
    case HD_JT_INT: return int_text(v, out);
    case HD_JT_DOUBLE: return hd_buf_append(out, v->s, v->len); /* json-c keeps a parsed double's text */
    case HD_JT_STRING: return hd_buf_json_str(out, v->s, v->len);
    case HD_JT_ARRAY: {
        int rc = hd_buf_putc(out, '[');
        size_t i = 0;
        for (hd_jv e = hd_jv_first(v); e != NULL && rc == HD_OK; e = hd_jv_next(v, e)) {
            if (i++ > 0) {
                rc = hd_buf_putc(out, ',');
            }
            if (rc == HD_OK) {
                rc = hd_jv_canonical(e, out);
            }
        }
        return rc == HD_OK ? hd_buf_putc(out, ']') : rc;
    }
    case HD_JT_OBJECT: break;
    }
    uint32_t n = v->len;
    hd_jv stackbuf[32];
    hd_jv *keys = n <= 32 ? stackbuf : malloc(n * sizeof(*keys));
    if (keys == NULL) {
        return HD_ENOMEM;
    }
    collect_keys(v, keys);
    qsort(keys, n, sizeof(*keys), cmp_key_nodes);
    int rc = hd_buf_putc(out, '{');
    int first = 1;
    for (uint32_t i = 0; i < n && rc == HD_OK; i++) {
        /* of equal keys (sorted in document order) the last one's value wins */
        if (i + 1 < n && keys[i + 1]->len == keys[i]->len &&
            memcmp(keys[i + 1]->s, keys[i]->s, keys[i]->len) == 0) {
            continue;
        }
        if (!first) {
            rc = hd_buf_putc(out, ',');
        }
        first = 0;
        if (rc == HD_OK) {
            rc = hd_buf_json_str(out, keys[i]->s, keys[i]->len);
        }
        if (rc == HD_OK) {
            rc = hd_buf_putc(out, ':');
        }
        if (rc == HD_OK) {
            rc = hd_jv_canonical(keys[i] + 1, out);
        }
    }
    if (keys != stackbuf) {
        free(keys);
    }
    return rc == HD_OK ? hd_buf_putc(out, '}') : rc;
}

/* ---------------------------------------------------------------- json-c */

json_object *hd_jv_to_json_c(hd_jv v)
{
    switch (hd_jv_type(v)) {
    case HD_JT_NULL: return NULL;
    case HD_JT_BOOL: return json_object_new_boolean(v->len != 0);
    case HD_JT_INT: {
        int neg;
        uint64_t mag;
        int_value(v, &neg, &mag);
        if (neg) {
            return json_object_new_int64(mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag);
        }
        return mag > (uint64_t)INT64_MAX ? json_object_new_uint64(mag) : json_object_new_int64((int64_t)mag);
    }
    case HD_JT_DOUBLE: {
        char *text = malloc((size_t)v->len + 1);
        if (text == NULL) {
            return NULL;
        }
        memcpy(text, v->s, v->len);
        text[v->len] = '\0';
        json_object *o = json_object_new_double_s(strtod(text, NULL), text);
        free(text);
        return o;
    }
    case HD_JT_STRING: return json_object_new_string_len(v->s, (int)v->len);
    case HD_JT_ARRAY: {
        json_object *a = json_object_new_array_ext((int)v->len);
        for (hd_jv e = hd_jv_first(v); e != NULL && a != NULL; e = hd_jv_next(v, e)) {
            json_object *c = hd_jv_to_json_c(e);
            if ((c == NULL && e->type != HD_JT_NULL) || json_object_array_add(a, c) != 0) {
                json_object_put(c);
                json_object_put(a);
                a = NULL;
            }
        }
        return a;
    }
    case HD_JT_OBJECT: break;
    }
    json_object *o = json_object_new_object();
    hd_jv k = v + 1;
    for (uint32_t m = 0; m < v->len && o != NULL; m++) {
        json_object *c = hd_jv_to_json_c(k + 1);
        if ((c == NULL && k[1].type != HD_JT_NULL) || json_object_object_add(o, k->s, c) != 0) {
            json_object_put(c);
            json_object_put(o);
            o = NULL;
        }
        k = k + 1 + k[1].skip;
    }
    return o;
}
