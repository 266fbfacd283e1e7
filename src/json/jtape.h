/* jtape.h - a one-pass, allocation-light JSON parser for the ingest path.
 *
 * hd_jt_parse validates one document (the same strict rules as
 * hd_json_parse: RFC 8259, UTF-8, depth <= HD_JSON_MAX_DEPTH, nothing after
 * the value) and records it as a tape: one node per value (and per object
 * key) in document order, each knowing the size of its subtree, so a
 * sibling is one pointer add away and a lookup skips whole subtrees.
 * Strings are unescaped into the tape's text arena (sized once from the
 * document, so no allocation per value) and NUL-terminated there; numbers
 * are views into the caller's bytes, which must outlive the tape's use.
 * A struct hd_jtape is reused across documents: its arrays only grow.
 *
 * Value handles (hd_jv) are node pointers, valid until the next parse or
 * hd_jt_free. Semantics follow json-c where the decoders relied on them,
 * so ids and labels do not change: a duplicate key's last value wins (at
 * the first key's position when iterating); a key is cut at an embedded
 * NUL; integer literals saturate like json-c's (positive ones as uint64);
 * NULL behaves as JSON null for type tests (hd_jv_type(NULL) == HD_JT_NULL).
 */
#ifndef HD_JTAPE_H
#define HD_JTAPE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "json/json.h"

enum hd_jtype {
    HD_JT_NULL = 0,
    HD_JT_BOOL,
    HD_JT_DOUBLE,
    HD_JT_INT,
    HD_JT_STRING,
    HD_JT_ARRAY,
    HD_JT_OBJECT,
};

struct hd_jnode {
    const char *s; /* string/key: unescaped, NUL-terminated (arena); number: its text (input); else NULL */
    uint32_t len;  /* string/number: bytes at s; array: items; object: members; bool: 0/1 */
    uint32_t skip; /* nodes in this subtree, itself included (an object member's key: 1) */
    uint8_t type;  /* enum hd_jtype */
};

typedef const struct hd_jnode *hd_jv;

struct hd_jtape {
    struct hd_jnode *nodes;
    size_t n, cap;
    char *text; /* strings, unescaped and NUL-terminated */
    size_t text_cap;
};

void hd_jt_init(struct hd_jtape *t);
void hd_jt_free(struct hd_jtape *t);

/* Parses buf[0..len) into t (replacing what it held). On error returns
 * HD_EINVAL (HD_ENOMEM, HD_ETOOBIG) and err says "at byte N: why". The
 * top-level value may be any JSON value, null included. */
int hd_jt_parse(const char *buf, size_t len, struct hd_jtape *t, struct hd_err *err);
/* The document's value (NULL before a successful parse). */
hd_jv hd_jt_root(const struct hd_jtape *t);

enum hd_jtype hd_jv_type(hd_jv v);
static inline int hd_jv_is(hd_jv v, enum hd_jtype type)
{
    return hd_jv_type(v) == type;
}
/* A member's value: the last one of that key; NULL when absent or JSON null
 * (like json_object_object_get_ex's out value). NULL if obj is no object.
 * The inline forms let the compiler take a literal key's length (its
 * strlen per lookup was the decoders' most frequent call). */
hd_jv hd_jv_getn(hd_jv obj, const char *key, size_t klen);
static inline hd_jv hd_jv_get(hd_jv obj, const char *key)
{
    return hd_jv_getn(obj, key, strlen(key));
}
/* 1 if obj has key, even with a null value. */
int hd_jv_hasn(hd_jv obj, const char *key, size_t klen);
static inline int hd_jv_has(hd_jv obj, const char *key)
{
    return hd_jv_hasn(obj, key, strlen(key));
}
/* Dotted path: object keys and array indexes ("entities.0.entity"). */
hd_jv hd_jv_path(hd_jv root, const char *path);
/* Array item i (O(i)), NULL if out of range; JSON null items are returned
 * as null nodes. */
hd_jv hd_jv_at(hd_jv arr, size_t i);
/* Items of an array / members of an object. */
size_t hd_jv_len(hd_jv v);

/* Iteration over array items: for (hd_jv e = hd_jv_first(a); e; e = hd_jv_next(a, e)). */
hd_jv hd_jv_first(hd_jv arr);
hd_jv hd_jv_next(hd_jv arr, hd_jv item);

/* Iteration over object members as json-c's foreach sees them: each key
 * once, at its first position, with its last value (v is NULL for JSON
 * null).
 *   struct hd_jv_iter it; const char *k; hd_jv v;
 *   hd_jv_iter_init(&it, obj); while (hd_jv_iter_next(&it, &k, &v)) {...} */
struct hd_jv_iter {
    hd_jv obj, key;
    uint32_t i;
    int dups; /* obj has a repeated key: the slow, exact path */
};
void hd_jv_iter_init(struct hd_jv_iter *it, hd_jv obj);
int hd_jv_iter_next(struct hd_jv_iter *it, const char **key, hd_jv *val);

/* Typed reads. hd_jv_str: the unescaped string (NUL-terminated; may hold
 * NULs, then *len tells), NULL if v is no string. */
const char *hd_jv_str(hd_jv v, size_t *len);
/* Integer value as json-c's get_int64: saturated; doubles truncated; 0 else. */
int64_t hd_jv_i64(hd_jv v);
double hd_jv_double(hd_jv v);
int hd_jv_bool(hd_jv v);

/* json-c-like shorthands: string member or NULL; integer member (or an
 * integral double) -> 1 and *out; boolean member or def (-1: not a bool). */
static inline const char *hd_jv_get_str(hd_jv obj, const char *key)
{
    return hd_jv_str(hd_jv_get(obj, key), NULL);
}
int hd_jv_get_i64n(hd_jv obj, const char *key, size_t klen, int64_t *out);
static inline int hd_jv_get_i64(hd_jv obj, const char *key, int64_t *out)
{
    return hd_jv_get_i64n(obj, key, strlen(key), out);
}

/* A scalar as json_object_get_string would give it (strings as they are,
 * numbers and booleans as JSON text), written to b (reset first); NULL for
 * containers and null. */
const char *hd_jv_scalar_text(hd_jv v, struct hd_buf *b);

/* Canonical form appended to out: object keys sorted, compact; the same
 * bytes as hd_json_canonical of the json-c tree of the same document. */
int hd_jv_canonical(hd_jv v, struct hd_buf *out);

/* A json-c copy of v (caller owns it; NULL for JSON null or no memory). */
json_object *hd_jv_to_json_c(hd_jv v);

#endif
