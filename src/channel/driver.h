/* driver.h - helpers for channel drivers (src/channel/<type>.c), private to
 * the channel layer.
 *
 * Option readers treat JSON null like an absent member ("use the default"):
 * Sysdig's clients send null for fields they do not set. Errors name the full
 * field path, "<prefix>.<key>: <rule>", because the API returns them as is.
 * Returned strings and objects are borrowed from the options object.
 */
#ifndef HD_CHANNEL_DRIVER_H
#define HD_CHANNEL_DRIVER_H

#include <stddef.h>

#include "channel/channel.h"

/* Member of obj, NULL if absent, JSON null, or obj is not an object. */
json_object *hd_opt_get(json_object *obj, const char *key);

int hd_opt_bool(json_object *obj, const char *prefix, const char *key, int def, int *out, struct hd_err *err);
/* An integer option: its name, its default (when absent or null) and its
 * range. Written once per option, as a static const next to its reader. */
struct hd_opt_range {
    const char *key;
    long def;
    long min;
    long max;
};
/* Integer in [r->min, r->max] ("must be an integer min..max"); *out =
 * r->def when absent. */
int hd_opt_long(json_object *obj, const char *prefix, const struct hd_opt_range *r, long *out,
                struct hd_err *err);
/* String (non-empty when required); *out NULL when absent and not required. */
int hd_opt_str(json_object *obj, const char *prefix, const char *key, int required, const char **out,
               struct hd_err *err);
/* http:// or https:// URL with a host and no whitespace or control bytes. */
int hd_opt_url(json_object *obj, const char *prefix, const char *key, int required, const char **out,
               struct hd_err *err);
int hd_url_valid(const char *s);
/* base64 of s[0..n) (RFC 4648, padded), malloc'd; NULL on ENOMEM. */
char *hd_channel_base64(const char *s, size_t n);

/* Object of header name -> string value; names are RFC 9110 tokens, values
 * carry no CR, LF or other control bytes (header injection). At most max
 * headers. *out NULL when absent. */
int hd_opt_headers(json_object *obj, const char *prefix, const char *key, size_t max, json_object **out,
                   struct hd_err *err);
/* Starts req: method ("POST", "SMTP"), the common options timeoutMs and tls,
 * and a copy of url replacing req->url (url NULL: req->url is left as is).
 * HD_OK, or HD_ENOMEM when the copy fails (req->url is then NULL). */
int hd_request_begin(struct hd_request *req, const struct hd_channel *ch, const char *method,
                     const char *url);
/* Adds every header of a validated headers object to req. */
int hd_request_add_headers(struct hd_request *req, json_object *headers);
/* 1 if the validated headers object sets name (case-insensitive). */
int hd_headers_has(json_object *headers, const char *name);

/* Fills items[0..n) with verdict v and resp's status. A failed item's error
 * says why: the transport error when nothing was answered (status 0), else
 * why, or the start of the answer as is when why is NULL. */
void hd_items_set(enum hd_verdict v, const struct hd_response *resp, const char *why, size_t n,
                  struct hd_item_verdict *items);

/* The built-in type table (registry.c): *n entries. */
const struct hd_channel_type *const *hd_channel_types(size_t *n);

/* Checks a type table: names present and unique, required hooks set, option
 * tables well formed (hd_channel_registry_check runs it on the built-in
 * table). */
int hd_channel_registry_check_table(const struct hd_channel_type *const *t, size_t n, struct hd_err *err);

#endif
