/* transform.c - per-channel preprocessing (SPEC 7) and templates.
 *
 * DESIGN: hd_transform_apply takes the cheapest of three paths.
 *  1. Nothing to do (no transform, no customData): the original bytes are
 *     appended unchanged, without a parse. WEBHOOK's default.
 *  2. Only added fields (millisField, isoField, addNormalized): the new
 *     members are spliced in before the original object's closing brace; the
 *     original bytes (formatting included) stay as they are. Taken only when
 *     the splice cannot create a duplicate key: no added name occurs in the
 *     original as a quoted string, and the original has no \u escape (which
 *     could spell one). Otherwise path 3, which replaces existing members.
 *  3. Everything else: parse once, edit the tree in a fixed order - rename,
 *     drop, added fields, customData, flatten - and serialize compactly.
 *     json-c keeps int64 exact and doubles in their original spelling.
 * Paths ("a.b") address object members only. An original that is not a JSON
 * object (a text line) becomes {"message": <it>} on path 3, so that added
 * fields have a home; paths 1 and 2 never change it.
 *
 * Templates are emitted straight into the output buffer while walking the
 * template; the event view they read is built once per event, with the
 * original payload only when some placeholder may point into raw. Values
 * come from the event, that is from whoever sent it: a template rendered for
 * HTML (an e-mail's html part) escapes every value it inserts, never its own
 * text.
 */
#include "channel/transform.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "channel/driver.h"
#include "core/util.h"

#define HERALD_KEY "herald"

struct xf {
    const char *millis;
    const char *iso;
    int add_norm;
    int flatten;
    json_object *drop;   /* non-empty array of strings, or NULL */
    json_object *rename; /* non-empty object path -> path, or NULL */
};

static void xf_read(json_object *t, struct xf *x)
{
    memset(x, 0, sizeof(*x));
    if (t == NULL || !json_object_is_type(t, json_type_object)) {
        return;
    }
    json_object *v = hd_opt_get(t, "millisField");
    if (v != NULL && json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0) {
        x->millis = json_object_get_string(v);
    }
    v = hd_opt_get(t, "isoField");
    if (v != NULL && json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0) {
        x->iso = json_object_get_string(v);
    }
    x->add_norm = hd_json_get_bool(t, "addNormalized", 0) == 1;
    x->flatten = hd_json_get_bool(t, "flatten", 0) == 1;
    v = hd_opt_get(t, "drop");
    if (v != NULL && json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0) {
        x->drop = v;
    }
    v = hd_opt_get(t, "rename");
    if (v != NULL && json_object_is_type(v, json_type_object) && json_object_object_length(v) > 0) {
        x->rename = v;
    }
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) {
        q--;
    }
    return q;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* raw is "{ ... }" (surrounding whitespace allowed): *close is the index of
 * the final '}', *empty whether only whitespace lies between the braces. */
static int object_bounds(const char *raw, size_t len, size_t *close, int *empty)
{
    size_t i = 0;
    while (i < len && is_ws(raw[i])) {
        i++;
    }
    if (i == len || raw[i] != '{') {
        return 0;
    }
    size_t open = i;
    size_t j = len;
    while (j > open + 1 && is_ws(raw[j - 1])) {
        j--;
    }
    if (j <= open + 1 || raw[j - 1] != '}') {
        return 0;
    }
    *close = j - 1;
    size_t k = open + 1;
    while (k < *close && is_ws(raw[k])) {
        k++;
    }
    *empty = k == *close;
    return 1;
}

/* Plain keys have one JSON spelling besides \u escapes. */
static int plain_key(const char *k)
{
    for (; *k != '\0'; k++) {
        char c = *k;
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 c == '-' || c == '@' || c == '.' || c == '$';
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

/* The index of the next quote or backslash in s[j..n), or n: 16 bytes at a
 * time (one memchr call per quote cost 2-3 % of the delivery path). */
static size_t next_special(const char *s, size_t n, size_t j)
{
#ifdef __SSE2__
    while (j + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + j));
        int m = _mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
        if (m != 0) {
            return j + (size_t)__builtin_ctz((unsigned)m);
        }
        j += 16;
    }
#endif
    while (j < n && s[j] != '"' && s[j] != '\\') {
        j++;
    }
    return j;
}

/* One pass over the original instead of a memmem per key: the splice is safe
 * when no \u escape could spell a key another way and no added key already
 * appears as a quoted string (it might be a member: the full path replaces it). */
static int splice_safe(const struct hd_event *ev, const struct xf *x)
{
    const char *keys[3] = {x->millis, x->iso, x->add_norm ? HERALD_KEY : NULL};
    size_t klen[3] = {0, 0, 0};
    for (size_t i = 0; i < 3; i++) {
        if (keys[i] != NULL) {
            if (!plain_key(keys[i])) {
                return 0;
            }
            klen[i] = strlen(keys[i]);
        }
    }
    const char *s = ev->raw;
    size_t n = ev->raw_len;
    for (size_t j = next_special(s, n, 0); j < n; j = next_special(s, n, j)) {
        if (s[j] == '\\') {
            if (j + 1 < n && s[j + 1] == 'u') {
                return 0;
            }
            j += 2; /* the escaped character cannot open a string */
            continue;
        }
        const char *q = s + j + 1;
        size_t left = n - j - 1;
        for (size_t i = 0; i < 3; i++) {
            if (keys[i] != NULL && left > klen[i] && q[klen[i]] == '"' && memcmp(q, keys[i], klen[i]) == 0) {
                return 0;
            }
        }
        j++;
    }
    return 1;
}

static int put_member_key(struct hd_buf *out, int *first, const char *key)
{
    int rc = HD_OK;
    if (!*first) {
        rc = hd_buf_putc(out, ',');
    }
    *first = 0;
    if (rc == HD_OK) {
        rc = hd_buf_json_str(out, key, strlen(key));
    }
    if (rc == HD_OK) {
        rc = hd_buf_putc(out, ':');
    }
    return rc;
}

static int splice(const struct hd_event *ev, const struct xf *x, size_t close, int empty, struct hd_buf *out)
{
    int first = empty;
    int rc = hd_buf_append(out, ev->raw, close);
    if (rc == HD_OK && x->millis != NULL) {
        rc = put_member_key(out, &first, x->millis);
        if (rc == HD_OK) {
            rc = hd_buf_put_i64(out, floor_div(ev->ts_us, 1000));
        }
    }
    if (rc == HD_OK && x->iso != NULL) {
        char iso[40];
        hd_format_iso_ms(ev->ts_us, iso, sizeof(iso));
        rc = put_member_key(out, &first, x->iso);
        if (rc == HD_OK) {
            rc = hd_buf_json_str(out, iso, strlen(iso));
        }
    }
    if (rc == HD_OK && x->add_norm) {
        rc = put_member_key(out, &first, HERALD_KEY);
        if (rc == HD_OK) {
            rc = hd_event_to_json(ev, 0, out);
        }
    }
    if (rc == HD_OK) {
        rc = hd_buf_append(out, ev->raw + close, ev->raw_len - close);
    }
    return rc;
}

/* Walks path (a scratch copy, cut at the dots) to the object holding its last
 * segment, creating missing objects when create is set. NULL when a segment
 * is missing (create = 0) or is not an object. */
static json_object *path_parent(json_object *root, char *path, int create, char **last)
{
    json_object *cur = root;
    char *seg = path;
    for (;;) {
        char *dot = strchr(seg, '.');
        if (dot == NULL) {
            *last = seg;
            return cur;
        }
        *dot = '\0';
        json_object *next = NULL;
        if (!json_object_object_get_ex(cur, seg, &next) || next == NULL) {
            if (!create) {
                return NULL;
            }
            next = json_object_new_object();
            if (next == NULL || json_object_object_add(cur, seg, next) != 0) {
                json_object_put(next);
                return NULL;
            }
        } else if (!json_object_is_type(next, json_type_object)) {
            return NULL;
        }
        cur = next;
        seg = dot + 1;
    }
}

static int do_rename(json_object *root, const char *from, const char *to)
{
    char *f = hd_strdup(from);
    char *t = hd_strdup(to);
    char *fk = NULL;
    char *tk = NULL;
    int rc = HD_OK;
    if (f == NULL || t == NULL) {
        rc = HD_ENOMEM;
        goto out;
    }
    json_object *sp = path_parent(root, f, 0, &fk);
    json_object *val = NULL;
    if (sp == NULL || !json_object_object_get_ex(sp, fk, &val)) {
        goto out; /* nothing to rename */
    }
    json_object_get(val);
    json_object_object_del(sp, fk);
    /* Resolved after the delete so that "a" -> "a.b" nests the old value. */
    json_object *dp = path_parent(root, t, 1, &tk);
    if (dp != NULL) {
        json_object_object_add(dp, tk, val);
    } else {
        json_object_object_add(sp, fk, val); /* destination blocked by a non-object: leave it */
    }
out:
    free(f);
    free(t);
    return rc;
}

static int do_drop(json_object *root, const char *path)
{
    char *p = hd_strdup(path);
    char *k = NULL;
    if (p == NULL) {
        return HD_ENOMEM;
    }
    json_object *parent = path_parent(root, p, 0, &k);
    if (parent != NULL) {
        json_object_object_del(parent, k);
    }
    free(p);
    return HD_OK;
}

static int flatten_into(json_object *dst, json_object *src, struct hd_buf *prefix)
{
    json_object_object_foreach(src, k, v)
    {
        size_t plen = prefix->len;
        int rc = HD_OK;
        if (plen > 0) {
            rc = hd_buf_putc(prefix, '.');
        }
        if (rc == HD_OK) {
            rc = hd_buf_puts(prefix, k);
        }
        if (rc != HD_OK) {
            return rc;
        }
        if (json_object_is_type(v, json_type_object) && json_object_object_length(v) > 0) {
            rc = flatten_into(dst, v, prefix);
        } else if (json_object_object_add(dst, prefix->p, json_object_get(v)) != 0) {
            json_object_put(v);
            rc = HD_ENOMEM;
        }
        prefix->len = plen;
        prefix->p[plen] = '\0';
        if (rc != HD_OK) {
            return rc;
        }
    }
    return HD_OK;
}

/* The original as an object; see DESIGN for non-objects. */
static json_object *parse_original(const struct hd_event *ev)
{
    if (ev->raw == NULL) {
        return json_object_new_object();
    }
    json_object *root = hd_json_parse(ev->raw, ev->raw_len, NULL);
    if (root != NULL && json_object_is_type(root, json_type_object)) {
        return root;
    }
    json_object *wrap = json_object_new_object();
    if (root == NULL) {
        root = json_object_new_string_len(ev->raw, (int)ev->raw_len);
    }
    if (wrap == NULL || root == NULL || json_object_object_add(wrap, "message", root) != 0) {
        json_object_put(wrap);
        json_object_put(root);
        return NULL;
    }
    return wrap;
}

static json_object *normalized(const struct hd_event *ev)
{
    struct hd_buf b;
    hd_buf_init(&b, 0);
    json_object *o = NULL;
    if (hd_event_to_json(ev, 0, &b) == HD_OK) {
        o = hd_json_parse(b.p, b.len, NULL);
    }
    hd_buf_free(&b);
    return o;
}

static int add_member(json_object *root, const char *key, json_object *val)
{
    if (val == NULL) {
        return HD_ENOMEM;
    }
    if (json_object_object_add(root, key, val) != 0) {
        json_object_put(val);
        return HD_ENOMEM;
    }
    return HD_OK;
}

static int full_path(const struct hd_event *ev, const struct xf *x, json_object *custom, struct hd_buf *out,
                     struct hd_err *err)
{
    int rc = HD_OK;
    json_object *root = parse_original(ev);
    if (root == NULL) {
        rc = hd_err_set(err, HD_ENOMEM, "transform: out of memory");
        goto out;
    }
    if (x->rename != NULL) {
        json_object_object_foreach(x->rename, from, to)
        {
            if (rc == HD_OK && json_object_is_type(to, json_type_string)) {
                rc = do_rename(root, from, json_object_get_string(to));
            }
        }
    }
    for (size_t i = 0; x->drop != NULL && rc == HD_OK && i < json_object_array_length(x->drop); i++) {
        json_object *p = json_object_array_get_idx(x->drop, i);
        if (json_object_is_type(p, json_type_string)) {
            rc = do_drop(root, json_object_get_string(p));
        }
    }
    if (rc == HD_OK && x->millis != NULL) {
        rc = add_member(root, x->millis, json_object_new_int64(floor_div(ev->ts_us, 1000)));
    }
    if (rc == HD_OK && x->iso != NULL) {
        char iso[40];
        hd_format_iso_ms(ev->ts_us, iso, sizeof(iso));
        rc = add_member(root, x->iso, json_object_new_string(iso));
    }
    if (rc == HD_OK && x->add_norm) {
        rc = add_member(root, HERALD_KEY, normalized(ev));
    }
    if (rc == HD_OK && custom != NULL) {
        /* Deep copies: the channel's options may be read by another thread
         * (json-c reference counts are not atomic). */
        json_object_object_foreach(custom, k, v)
        {
            json_object *c = NULL;
            if (rc != HD_OK) {
                break;
            }
            if (v == NULL) {
                rc = json_object_object_add(root, k, NULL) == 0 ? HD_OK : HD_ENOMEM;
            } else if (json_object_deep_copy(v, &c, NULL) != 0) {
                rc = HD_ENOMEM;
            } else {
                rc = add_member(root, k, c);
            }
        }
    }
    if (rc == HD_OK && x->flatten) {
        json_object *flat = json_object_new_object();
        struct hd_buf prefix;
        hd_buf_init(&prefix, 0);
        rc = flat ? hd_buf_reserve(&prefix, 64) : HD_ENOMEM;
        if (rc == HD_OK) {
            rc = flatten_into(flat, root, &prefix);
        }
        hd_buf_free(&prefix);
        json_object_put(root);
        root = flat;
    }
    if (rc == HD_OK) {
        rc = hd_json_append(root, out);
    }
    if (rc != HD_OK) {
        hd_err_set(err, rc, "transform: %s", hd_strerror(rc));
    }
out:
    json_object_put(root);
    return rc;
}

int hd_transform_apply(const struct hd_event *ev, json_object *transform, json_object *custom,
                       struct hd_buf *out, struct hd_err *err)
{
    struct xf x;
    size_t len0 = out->len;
    size_t close = 0;
    int empty = 0;
    int rc = HD_OK;
    xf_read(transform, &x);
    if (custom != NULL &&
        (!json_object_is_type(custom, json_type_object) || json_object_object_length(custom) == 0)) {
        custom = NULL;
    }
    int adds = x.millis != NULL || x.iso != NULL || x.add_norm;
    int edits = x.rename != NULL || x.drop != NULL || x.flatten || custom != NULL;
    if (!adds && !edits) {
        rc = ev->raw != NULL ? hd_buf_append(out, ev->raw, ev->raw_len) : hd_buf_puts(out, "{}");
        if (rc != HD_OK) {
            hd_err_set(err, rc, "transform: %s", hd_strerror(rc));
        }
        return rc;
    }
    if (!edits && ev->raw != NULL && object_bounds(ev->raw, ev->raw_len, &close, &empty) &&
        splice_safe(ev, &x)) {
        rc = splice(ev, &x, close, empty, out);
        if (rc != HD_OK) {
            hd_err_set(err, rc, "transform: %s", hd_strerror(rc));
        }
    } else {
        rc = full_path(ev, &x, custom, out, err);
    }
    if (rc != HD_OK && out->p != NULL) {
        out->len = len0; /* leave out as it was */
        out->p[len0] = '\0';
    }
    return rc;
}

/* ---- event view and templates ---- */

static json_object *build_view(const struct hd_event *ev, int with_raw)
{
    struct hd_buf b;
    json_object *v = NULL;
    hd_buf_init(&b, 0);
    if (hd_event_to_json(ev, with_raw, &b) == HD_OK) {
        v = hd_json_parse(b.p, b.len, NULL);
    }
    if (v == NULL && with_raw) {
        /* The original is not JSON: the view carries it as a string. */
        hd_buf_reset(&b);
        if (hd_event_to_json(ev, 0, &b) == HD_OK) {
            v = hd_json_parse(b.p, b.len, NULL);
        }
        if (v != NULL && ev->raw != NULL) {
            json_object_object_add(v, "raw", json_object_new_string_len(ev->raw, (int)ev->raw_len));
        }
    }
    hd_buf_free(&b);
    return v;
}

json_object *hd_event_view(const struct hd_event *ev)
{
    return build_view(ev, 1);
}

/* Looks up the trimmed placeholder text p[0..n) in the view; NULL if
 * missing, empty or JSON null. */
static json_object *lookup(json_object *view, const char *p, size_t n)
{
    char path[256];
    while (n > 0 && is_ws(*p)) {
        p++;
        n--;
    }
    while (n > 0 && is_ws(p[n - 1])) {
        n--;
    }
    if (n == 0 || n >= sizeof(path) || view == NULL) {
        return NULL;
    }
    memcpy(path, p, n);
    path[n] = '\0';
    return hd_json_path(view, path);
}

/* What a template is rendered against. */
struct tctx {
    json_object *view;
    enum hd_tmpl_escape esc;
};

static int put_value_text(const struct tctx *x, const char *s, size_t n, struct hd_buf *out)
{
    return x->esc == HD_TMPL_ESCAPE_HTML ? hd_buf_html_str(out, s, n) : hd_buf_append(out, s, n);
}

/* A placeholder's value as text: a string as it is, anything else as JSON;
 * escaped as x->esc says. */
static int append_text(const struct tctx *x, json_object *v, struct hd_buf *out)
{
    if (v == NULL) {
        return HD_OK;
    }
    if (json_object_is_type(v, json_type_string)) {
        return put_value_text(x, json_object_get_string(v), (size_t)json_object_get_string_len(v), out);
    }
    if (x->esc == HD_TMPL_ESCAPE_NONE) {
        return hd_json_append(v, out);
    }
    struct hd_buf j;
    hd_buf_init(&j, out->max);
    int rc = hd_json_append(v, &j);
    if (rc == HD_OK) {
        rc = put_value_text(x, j.p, j.len, out);
    }
    hd_buf_free(&j);
    return rc;
}

static int emit_string(const char *s, size_t len, const struct tctx *x, struct hd_buf *out)
{
    const char *end = s + len;
    const char *open = memmem(s, len, "{{", 2);
    json_object *view = x->view;
    if (open == NULL) {
        return hd_buf_json_str(out, s, len);
    }
    /* Escaped output is text: a lone placeholder renders as text too. */
    if (open == s && x->esc == HD_TMPL_ESCAPE_NONE) {
        const char *close = memmem(s + 2, len - 2, "}}", 2);
        if (close != NULL && close + 2 == end && memmem(s + 2, (size_t)(close - s - 2), "{{", 2) == NULL) {
            /* Exactly one placeholder: keep the type of what it points at. */
            json_object *v = lookup(view, s + 2, (size_t)(close - s - 2));
            return v != NULL ? hd_json_append(v, out) : hd_buf_puts(out, "null");
        }
    }
    struct hd_buf text;
    hd_buf_init(&text, out->max);
    int rc = HD_OK;
    const char *p = s;
    while (rc == HD_OK && p < end) {
        open = memmem(p, (size_t)(end - p), "{{", 2);
        const char *close = open ? memmem(open + 2, (size_t)(end - open - 2), "}}", 2) : NULL;
        if (open == NULL || close == NULL) {
            rc = hd_buf_append(&text, p, (size_t)(end - p));
            break;
        }
        rc = hd_buf_append(&text, p, (size_t)(open - p));
        if (rc == HD_OK) {
            rc = append_text(x, lookup(view, open + 2, (size_t)(close - open - 2)), &text);
        }
        p = close + 2;
    }
    if (rc == HD_OK) {
        rc = hd_buf_json_str(out, text.p ? text.p : "", text.len);
    }
    hd_buf_free(&text);
    return rc;
}

static int emit(json_object *t, const struct tctx *x, struct hd_buf *out)
{
    int rc = HD_OK;
    switch (json_object_get_type(t)) {
    case json_type_object: {
        int first = 1;
        rc = hd_buf_putc(out, '{');
        json_object_object_foreach(t, k, v)
        {
            if (rc != HD_OK) {
                break;
            }
            rc = put_member_key(out, &first, k); /* keys are not templated */
            if (rc == HD_OK) {
                rc = emit(v, x, out);
            }
        }
        return rc == HD_OK ? hd_buf_putc(out, '}') : rc;
    }
    case json_type_array:
        rc = hd_buf_putc(out, '[');
        for (size_t i = 0; rc == HD_OK && i < json_object_array_length(t); i++) {
            if (i > 0) {
                rc = hd_buf_putc(out, ',');
            }
            if (rc == HD_OK) {
                rc = emit(json_object_array_get_idx(t, i), x, out);
            }
        }
        return rc == HD_OK ? hd_buf_putc(out, ']') : rc;
    case json_type_string:
        return emit_string(json_object_get_string(t), (size_t)json_object_get_string_len(t), x, out);
    case json_type_null: return hd_buf_puts(out, "null");
    default: return hd_json_append(t, out);
    }
}

/* Whether a placeholder may read the original: then the view must hold it.
 * Conservative (any placeholder string mentioning "raw"). */
static int uses_raw(json_object *t)
{
    switch (json_object_get_type(t)) {
    case json_type_object: {
        json_object_object_foreach(t, k, v)
        {
            (void)k;
            if (uses_raw(v)) {
                return 1;
            }
        }
        return 0;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(t); i++) {
            if (uses_raw(json_object_array_get_idx(t, i))) {
                return 1;
            }
        }
        return 0;
    case json_type_string: {
        const char *s = json_object_get_string(t);
        size_t n = (size_t)json_object_get_string_len(t);
        return memmem(s, n, "{{", 2) != NULL && memmem(s, n, "raw", 3) != NULL;
    }
    default: return 0;
    }
}

json_object *hd_template_view(const struct hd_event *ev, json_object *tmpl)
{
    return build_view(ev, uses_raw(tmpl));
}

int hd_template_emit(json_object *view, json_object *tmpl, enum hd_tmpl_escape esc, struct hd_buf *out,
                     struct hd_err *err)
{
    size_t len0 = out->len;
    const struct tctx x = {.view = view, .esc = esc};
    int rc = emit(tmpl, &x, out);
    if (rc != HD_OK) {
        hd_err_set(err, rc, "template: %s", hd_strerror(rc));
        if (out->p != NULL) {
            out->len = len0;
            out->p[len0] = '\0';
        }
    }
    return rc;
}

int hd_template_render(const struct hd_event *ev, json_object *tmpl, struct hd_buf *out, struct hd_err *err)
{
    json_object *view = hd_template_view(ev, tmpl);
    if (view == NULL) {
        return hd_err_set(err, HD_EINVAL, "template: cannot build the event view (event id %s)", ev->id);
    }
    int rc = hd_template_emit(view, tmpl, HD_TMPL_ESCAPE_NONE, out, err);
    json_object_put(view);
    return rc;
}
