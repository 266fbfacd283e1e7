#include "json/json.h"

#include <stdlib.h>
#include <string.h>

json_object *hd_json_parse(const char *buf, size_t len, struct hd_err *err)
{
    if (len > (size_t)INT32_MAX) {
        hd_err_set(err, HD_ETOOBIG, "document too large");
        return NULL;
    }
    json_tokener *tok = json_tokener_new_ex(HD_JSON_MAX_DEPTH);
    if (tok == NULL) {
        hd_err_set(err, HD_ENOMEM, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *obj = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
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

json_object *hd_json_path(json_object *root, const char *path)
{
    json_object *cur = root;
    const char *p = path;
    while (cur != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char key[256];
        if (n >= sizeof(key)) {
            return NULL;
        }
        memcpy(key, p, n);
        key[n] = '\0';
        if (json_object_is_type(cur, json_type_object)) {
            json_object *next = NULL;
            if (!json_object_object_get_ex(cur, key, &next)) {
                return NULL;
            }
            cur = next;
        } else if (json_object_is_type(cur, json_type_array)) {
            char *end = NULL;
            long idx = strtol(key, &end, 10);
            if (end == key || *end != '\0' || idx < 0 || (size_t)idx >= json_object_array_length(cur)) {
                return NULL;
            }
            cur = json_object_array_get_idx(cur, (size_t)idx);
        } else {
            return NULL;
        }
        p += n;
        if (*p == '.') {
            p++;
        }
    }
    return cur;
}

const char *hd_json_get_str(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string)) {
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
        double d = json_object_get_double(v);
        if (d == (double)(int64_t)d) {
            *out = (int64_t)d;
            return 1;
        }
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
    const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
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
