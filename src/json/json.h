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

/* Dotted path lookup ("alert.name", "entities.0.entity"). Borrowed, NULL if absent. */
json_object *hd_json_path(json_object *root, const char *path);
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
