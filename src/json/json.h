/* json.h - thin helpers over json-c (chosen for int64 precision: Docker's
 * timeNano is 1.8e18, and for speed; see docs/decisions.md).
 *
 * Objects returned by hd_json_parse are owned by the caller (json_object_put).
 * Lookups return borrowed references.
 */
#ifndef HD_JSON_H
#define HD_JSON_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define HD_JSON_MAX_DEPTH 64

/* Parses exactly one JSON value from buf[0..len): strict RFC 8259, UTF-8
 * validated, nesting <= HD_JSON_MAX_DEPTH, nothing but whitespace after it.
 * On error returns NULL and err says "at byte N: why" (N is 0-based). */
json_object *hd_json_parse(const char *buf, size_t len, struct hd_err *err);

/* Length of the well-formed UTF-8 sequence at s[0..avail) (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF), 0 if it is not one.
 * Shared by hd_json_parse's lexical pass and the jtape parser so both keep
 * the same strict rule. */
size_t hd_utf8_seq_len(const unsigned char *s, size_t avail);

/* Span scanning without parsing (splitting request bodies into documents,
 * finding members of watch streams): the index of the first non-whitespace
 * byte at or after i, and the end of the JSON value starting at s[i]:
 * 1 and *end (exclusive) when its strings terminate and brackets balance
 * (contents unchecked: the parser checks them), 0 when it is truncated,
 * mismatched or deeper than HD_JSON_MAX_DEPTH + 8. */
size_t hd_json_skip_ws(const char *s, size_t len, size_t i);
int hd_json_value_span(const char *s, size_t len, size_t i, size_t *end);

/* Dotted path lookup ("alert.name", "entities.0.entity"). Borrowed, NULL if absent. */
json_object *hd_json_path(json_object *root, const char *path);

/* The dotted-path syntax, shared by hd_json_path and hd_jv_path: the next
 * segment at *p (0 at the end; *p moves past it and its dot), and a segment
 * used on an array: 1 to 9 decimal digits, nothing else. */
int hd_path_next(const char **p, const char **seg, size_t *n);
int hd_path_index(const char *seg, size_t n, size_t *idx);
/* String member of an object, or NULL if absent or not a string. */
const char *hd_json_get_str(json_object *obj, const char *key);
/* Integer member: 1 and *out set if present and an integer (or integral double). */
int hd_json_get_i64(json_object *obj, const char *key, int64_t *out);
/* Boolean member, def if absent. -1 if present but not a boolean. */
int hd_json_get_bool(json_object *obj, const char *key, int def);

/* Compact serialization appended to out. */
int hd_json_append(json_object *o, struct hd_buf *out);
/* Canonical form (object keys sorted, compact) appended to out: stable across
 * key order and whitespace, used for content hashes. */
int hd_json_canonical(json_object *o, struct hd_buf *out);

#endif
