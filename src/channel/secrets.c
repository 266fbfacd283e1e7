/* secrets.c - secret options (SPEC section 4): masked in every answer, and
 * kept when a PUT sends the mask back.
 *
 * DESIGN: each type declares its secret options in its hd_channel_type
 * (secret_options; "additionalHeaders.*" = every value of that object). The
 * masker applies the names declared by ANY registered type, wherever they
 * appear in a channel's options (nested objects and lists included) and
 * whatever the channel's type: options a type does not read are kept and
 * returned (SPEC 4), so an OPSGENIE apiKey left in a channel PUT back as a
 * WEBHOOK, or a password inside customData, is still a credential. Masking
 * more than a type reads never exposes anything; the set is derived from the
 * types' tables, so a new type's secret is masked everywhere once declared.
 * A mask is restored only from the stored object at the same path.
 */
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"

enum { SECRET_VALUE = 1, SECRET_EACH = 2 };

/* What the registered types declare about the option name k: SECRET_VALUE
 * (its value is a secret), SECRET_EACH (every member value of it is), both
 * or neither (0). */
static unsigned secret_kind(const char *k)
{
    size_t n = 0;
    const struct hd_channel_type *const *types = hd_channel_types(&n);
    size_t klen = strlen(k);
    unsigned kind = 0;
    for (size_t i = 0; i < n; i++) {
        for (const char *const *s = types[i]->secret_options; s != NULL && *s != NULL; s++) {
            if (strcmp(*s, k) == 0) {
                kind |= SECRET_VALUE;
            } else if (strncmp(*s, k, klen) == 0 && strcmp(*s + klen, HD_SECRET_EACH) == 0) {
                kind |= SECRET_EACH;
            }
        }
    }
    return kind;
}

/* Empty and null values are shown as they are: masking them would claim a
 * secret is set when none is. */
static int has_value(json_object *v)
{
    if (v == NULL) {
        return 0;
    }
    if (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) == 0) {
        return 0;
    }
    return 1;
}

static int is_mask(json_object *v)
{
    return v != NULL && json_object_is_type(v, json_type_string) &&
           strcmp(json_object_get_string(v), HD_SECRET_MASK) == 0;
}

static void mask_walk(json_object *o)
{
    if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            mask_walk(json_object_array_get_idx(o, i));
        }
        return;
    }
    if (!json_object_is_type(o, json_type_object)) {
        return;
    }
    /* Replacing the value of an existing key keeps the hash entry, so it is
     * safe inside foreach (v is not used after the replacement). */
    json_object_object_foreach(o, k, v)
    {
        unsigned kind = secret_kind(k);
        if ((kind & SECRET_EACH) && json_object_is_type(v, json_type_object)) {
            json_object_object_foreach(v, hk, hv)
            {
                if (has_value(hv)) {
                    json_object_object_add(v, hk, json_object_new_string(HD_SECRET_MASK));
                }
            }
        } else if (kind & SECRET_VALUE) {
            if (has_value(v)) {
                json_object_object_add(o, k, json_object_new_string(HD_SECRET_MASK));
            }
        } else {
            mask_walk(v);
        }
    }
}

json_object *hd_channel_mask_secrets(json_object *obj)
{
    json_object *copy = NULL;
    if (obj == NULL) {
        return NULL;
    }
    if (json_object_deep_copy(obj, &copy, NULL) != 0) {
        return NULL;
    }
    mask_walk(hd_opt_get(copy, "options"));
    return copy;
}

/* Replaces n[key] (a mask) by a copy of old's value, if old has one. */
static void restore(json_object *n, const char *key, json_object *old_parent)
{
    json_object *ov = hd_opt_get(old_parent, key);
    json_object *copy = NULL;
    if (!has_value(ov) || is_mask(ov)) {
        return;
    }
    if (json_object_deep_copy(ov, &copy, NULL) != 0) {
        return;
    }
    json_object_object_add(n, key, copy);
}

static void keep_walk(json_object *n, json_object *o)
{
    if (o == NULL) {
        return;
    }
    if (json_object_is_type(n, json_type_array)) {
        if (!json_object_is_type(o, json_type_array)) {
            return;
        }
        size_t len = json_object_array_length(o);
        for (size_t i = 0; i < json_object_array_length(n) && i < len; i++) {
            keep_walk(json_object_array_get_idx(n, i), json_object_array_get_idx(o, i));
        }
        return;
    }
    if (!json_object_is_type(n, json_type_object) || !json_object_is_type(o, json_type_object)) {
        return;
    }
    json_object_object_foreach(n, k, v)
    {
        json_object *ov = hd_opt_get(o, k);
        unsigned kind = secret_kind(k);
        if ((kind & SECRET_EACH) && json_object_is_type(v, json_type_object)) {
            json_object_object_foreach(v, hk, hv)
            {
                if (is_mask(hv)) {
                    restore(v, hk, ov);
                }
            }
        } else if (kind & SECRET_VALUE) {
            if (is_mask(v)) {
                restore(n, k, o);
            }
        } else {
            keep_walk(v, ov);
        }
    }
}

/* A mask with no stored value behind it stays "********": the user sent it,
 * and a literal "********" secret is their business (nothing to restore). */
void hd_channel_keep_secrets(json_object *nobj, json_object *old)
{
    keep_walk(hd_opt_get(nobj, "options"), hd_opt_get(old, "options"));
}
