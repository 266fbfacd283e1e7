/* options.c - reading a channel's options: the readers of driver.h that every
 * type uses, and the common options (SPEC section 4 "Common options").
 *
 * DESIGN: every reader treats JSON null like an absent member (Sysdig's
 * clients send null for what they do not set) and names the full field path
 * in its error ("options.tls.caFile: ..."), because the API returns the
 * message to the user as is. Unknown members of options are accepted (and
 * kept by the store): SPEC section 4 says unknown fields survive a round
 * trip. hd_channel_common_parse fills a local copy and hands it over only
 * when every option is valid, so a failed parse leaves *c untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "core/util.h"
#include "model/source.h"

/* The integer common options: name, default, range (each written once). */
static const struct hd_opt_range min_severity_opt = {"minSeverity", 7, 0, 7}; /* 7 = all */
static const struct hd_opt_range timeout_opt = {"timeoutMs", 10000, 1, 300000};
/* Batch defaults: maxEvents 0 means "the type's max_batch"; maxDelayMs -1
 * means the dispatcher's default for batching types (HD_BATCH_DELAY_MS: a
 * short wait that turns a trickle of single events into batches, well inside
 * the p99 <= 50 ms budget); 5 MiB keeps a request well under Elasticsearch's
 * default 100 MB http.max_content_length. */
static const struct hd_opt_range batch_events_opt = {"maxEvents", 0, 1, 100000};
static const struct hd_opt_range batch_bytes_opt = {"maxBytes", 5L * 1024 * 1024, 1024, 100L * 1024 * 1024};
static const struct hd_opt_range batch_delay_opt = {"maxDelayMs", -1, 0, 60000};
static const struct hd_opt_range throttle_window_opt = {"windowMs", 0, 1, 7L * 24 * 3600 * 1000};

/* ---- option readers (driver.h) ---- */

json_object *hd_opt_get(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
        return NULL;
    }
    if (!json_object_object_get_ex(obj, key, &v)) {
        return NULL;
    }
    return v; /* NULL for JSON null */
}

int hd_opt_bool(json_object *obj, const char *prefix, const char *key, int def, int *out, struct hd_err *err)
{
    json_object *v = hd_opt_get(obj, key);
    if (v == NULL) {
        *out = def;
        return HD_OK;
    }
    if (!json_object_is_type(v, json_type_boolean)) {
        return hd_err_set(err, HD_EINVAL, "%s.%s: must be a boolean", prefix, key);
    }
    *out = json_object_get_boolean(v) ? 1 : 0;
    return HD_OK;
}

int hd_opt_long(json_object *obj, const char *prefix, const struct hd_opt_range *r, long *out,
                struct hd_err *err)
{
    json_object *v = hd_opt_get(obj, r->key);
    int64_t n = 0;
    if (v == NULL) {
        *out = r->def;
        return HD_OK;
    }
    if (!hd_json_get_i64(obj, r->key, &n) || n < r->min || n > r->max) {
        return hd_err_set(err, HD_EINVAL, "%s.%s: must be an integer %ld..%ld", prefix, r->key, r->min,
                          r->max);
    }
    *out = (long)n;
    return HD_OK;
}

int hd_opt_str(json_object *obj, const char *prefix, const char *key, int required, const char **out,
               struct hd_err *err)
{
    json_object *v = hd_opt_get(obj, key);
    if (v == NULL) {
        if (required) {
            return hd_err_set(err, HD_EINVAL, "%s.%s: required", prefix, key);
        }
        *out = NULL;
        return HD_OK;
    }
    if (!json_object_is_type(v, json_type_string)) {
        return hd_err_set(err, HD_EINVAL, "%s.%s: must be a string", prefix, key);
    }
    if (required && json_object_get_string_len(v) == 0) {
        return hd_err_set(err, HD_EINVAL, "%s.%s: must not be empty", prefix, key);
    }
    *out = json_object_get_string(v);
    return HD_OK;
}

int hd_url_valid(const char *s)
{
    size_t skip = 0;
    if (strncasecmp(s, "http://", 7) == 0) {
        skip = 7;
    } else if (strncasecmp(s, "https://", 8) == 0) {
        skip = 8;
    } else {
        return 0;
    }
    /* The host: something before the path, query or fragment. */
    const char *host = s + skip;
    if (*host == '\0' || *host == '/' || *host == '?' || *host == '#') {
        return 0;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            return 0;
        }
    }
    return 1;
}

int hd_opt_url(json_object *obj, const char *prefix, const char *key, int required, const char **out,
               struct hd_err *err)
{
    const char *s = NULL;
    json_object *v = hd_opt_get(obj, key);
    if (v != NULL && !json_object_is_type(v, json_type_string)) {
        return hd_err_set(err, HD_EINVAL, "%s.%s: not a valid URL (need http:// or https://)", prefix, key);
    }
    int rc = hd_opt_str(obj, prefix, key, required, &s, err);
    if (rc != HD_OK) {
        return rc;
    }
    if (s != NULL && !hd_url_valid(s)) {
        return hd_err_set(err, HD_EINVAL, "%s.%s: not a valid URL (need http:// or https://)", prefix, key);
    }
    *out = s;
    return HD_OK;
}

static int header_name_valid(const char *s)
{
    /* RFC 9110 token. */
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (*s == '\0') {
        return 0;
    }
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && strchr(extra, c) == NULL) {
            return 0;
        }
    }
    return 1;
}

static int header_value_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

int hd_opt_headers(json_object *obj, const char *prefix, const char *key, size_t max, json_object **out,
                   struct hd_err *err)
{
    json_object *h = hd_opt_get(obj, key);
    if (h == NULL) {
        *out = NULL;
        return HD_OK;
    }
    if (!json_object_is_type(h, json_type_object)) {
        return hd_err_set(err, HD_EINVAL, "%s.%s: must be an object of header name to string", prefix, key);
    }
    if ((size_t)json_object_object_length(h) > max) {
        return hd_err_set(err, HD_EINVAL, "%s.%s: at most %zu headers", prefix, key, max);
    }
    json_object_object_foreach(h, name, val)
    {
        /* The name is echoed truncated: it may hold CR/LF, never a secret. */
        if (!header_name_valid(name)) {
            return hd_err_set(err, HD_EINVAL, "%s.%s.%.64s: not a valid header name", prefix, key, name);
        }
        if (!json_object_is_type(val, json_type_string)) {
            return hd_err_set(err, HD_EINVAL, "%s.%s.%s: must be a string", prefix, key, name);
        }
        if (!header_value_valid(json_object_get_string(val), (size_t)json_object_get_string_len(val))) {
            return hd_err_set(err, HD_EINVAL, "%s.%s.%s: must not contain CR, LF or other control characters",
                              prefix, key, name);
        }
    }
    *out = h;
    return HD_OK;
}

int hd_request_add_headers(struct hd_request *req, json_object *headers)
{
    if (headers == NULL) {
        return HD_OK;
    }
    json_object_object_foreach(headers, name, val)
    {
        int rc = hd_request_add_header(req, name, json_object_get_string(val));
        if (rc != HD_OK) {
            return rc;
        }
    }
    return HD_OK;
}

int hd_request_begin(struct hd_request *req, const struct hd_channel *ch, const char *method, const char *url)
{
    req->method = method;
    req->timeout_ms = ch->common.timeout_ms;
    req->tls = &ch->common.tls;
    if (url == NULL) {
        return HD_OK;
    }
    free(req->url);
    req->url = hd_strdup(url);
    return req->url != NULL ? HD_OK : HD_ENOMEM;
}

int hd_headers_has(json_object *headers, const char *name)
{
    if (headers == NULL) {
        return 0;
    }
    json_object_object_foreach(headers, k, v)
    {
        (void)v;
        if (strcasecmp(k, name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- common options ---- */

static int parse_sources(struct hd_channel_common *c, json_object *options, struct hd_err *err)
{
    json_object *a = hd_opt_get(options, "sources");
    if (a == NULL) {
        return HD_OK;
    }
    if (!json_object_is_type(a, json_type_array)) {
        return hd_err_set(err, HD_EINVAL, "options.sources: must be a list of strings");
    }
    size_t n = json_object_array_length(a);
    if (n == 0) {
        return HD_OK; /* [] = no restriction, like absent */
    }
    c->sources = calloc(n, sizeof(*c->sources));
    if (c->sources == NULL) {
        return HD_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(a, i);
        if (!json_object_is_type(v, json_type_string)) {
            return hd_err_set(err, HD_EINVAL, "options.sources[%zu]: must be a string", i);
        }
        const char *s = json_object_get_string(v);
        if (hd_source_find(s) == NULL) {
            struct hd_buf names;
            hd_buf_init(&names, 0);
            int rc = hd_source_names_join(&names);
            if (rc == HD_OK) {
                rc = hd_err_set(err, HD_EINVAL, "options.sources[%zu]: unknown source '%.64s' (%s)", i, s,
                                names.p);
            }
            hd_buf_free(&names);
            return rc;
        }
        c->sources[i] = hd_strdup(s);
        if (c->sources[i] == NULL) {
            return HD_ENOMEM;
        }
        c->n_sources = i + 1;
    }
    return HD_OK;
}

/* options.match: a list of matchers ("k8s.namespace=~prod-.*", SPEC 4) or
 * the equality object {"path": value}; compiled here, once per channel. */
static int parse_match(struct hd_channel_common *c, json_object *options, struct hd_err *err)
{
    json_object *m = hd_opt_get(options, "match");
    int is_list = m != NULL && json_object_is_type(m, json_type_array);
    if (m == NULL || (!is_list && !json_object_is_type(m, json_type_object))) {
        return m == NULL
                   ? HD_OK
                   : hd_err_set(err, HD_EINVAL,
                                "options.match: must be a list of matchers (\"k8s.namespace=~prod-.*\") "
                                "or an object of field path to value");
    }
    size_t n = is_list ? json_object_array_length(m) : (size_t)json_object_object_length(m);
    if (n == 0) {
        return HD_OK;
    }
    c->match = calloc(n, sizeof(*c->match));
    if (c->match == NULL) {
        return HD_ENOMEM;
    }
    if (is_list) {
        for (size_t i = 0; i < n; i++) {
            int rc = hd_match_from_json(json_object_array_get_idx(m, i), &c->match[i], err);
            if (rc != HD_OK) {
                hd_err_prefix(err, "options.match[%zu]: ", i);
                return rc;
            }
            c->n_match = i + 1;
        }
        return HD_OK;
    }
    json_object_object_foreach(m, path, val)
    {
        enum json_type t = json_object_get_type(val);
        if (t != json_type_string && t != json_type_int && t != json_type_double && t != json_type_boolean) {
            return hd_err_set(err, HD_EINVAL, "options.match.%.64s: must be a string, number or boolean",
                              path);
        }
        int rc = hd_match_equal(path, json_object_get_string(val), &c->match[c->n_match], err);
        if (rc != HD_OK) {
            hd_err_prefix(err, "options.match.%.64s: ", path);
            return rc;
        }
        c->n_match++;
    }
    return HD_OK;
}

static int string_list(json_object *a)
{
    if (!json_object_is_type(a, json_type_array)) {
        return 0;
    }
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_string)) {
            return 0;
        }
    }
    return 1;
}

static int check_transform(json_object *t, struct hd_err *err)
{
    if (!json_object_is_type(t, json_type_object)) {
        return hd_err_set(err, HD_EINVAL, "options.transform: must be an object");
    }
    json_object_object_foreach(t, k, v)
    {
        if (strcmp(k, "millisField") == 0 || strcmp(k, "isoField") == 0) {
            if (v != NULL &&
                (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)) {
                return hd_err_set(err, HD_EINVAL, "options.transform.%s: must be a non-empty string", k);
            }
        } else if (strcmp(k, "addNormalized") == 0 || strcmp(k, "flatten") == 0) {
            if (v != NULL && !json_object_is_type(v, json_type_boolean)) {
                return hd_err_set(err, HD_EINVAL, "options.transform.%s: must be a boolean", k);
            }
        } else if (strcmp(k, "drop") == 0) {
            if (v != NULL && !string_list(v)) {
                return hd_err_set(err, HD_EINVAL,
                                  "options.transform.drop: must be a list of paths (strings)");
            }
        } else if (strcmp(k, "rename") == 0) {
            if (v == NULL) {
                continue;
            }
            if (!json_object_is_type(v, json_type_object)) {
                return hd_err_set(err, HD_EINVAL,
                                  "options.transform.rename: must be an object of path to new path");
            }
            json_object_object_foreach(v, from, to)
            {
                if (!json_object_is_type(to, json_type_string) || json_object_get_string_len(to) == 0 ||
                    from[0] == '\0') {
                    return hd_err_set(err, HD_EINVAL, "options.transform.rename.%s: must be a non-empty path",
                                      from);
                }
            }
        } else {
            return hd_err_set(
                err, HD_EINVAL,
                "options.transform.%.64s: unknown key (millisField, isoField, addNormalized, flatten, "
                "drop, rename)",
                k);
        }
    }
    return HD_OK;
}

static int dup_opt_str(json_object *obj, const char *prefix, const char *key, char **out, struct hd_err *err)
{
    const char *s = NULL;
    int rc = hd_opt_str(obj, prefix, key, 0, &s, err);
    if (rc != HD_OK || s == NULL) {
        return rc;
    }
    *out = hd_strdup(s);
    return *out ? HD_OK : HD_ENOMEM;
}

static int check_keys(json_object *obj, const char *prefix, const char *const *keys, const char *list,
                      struct hd_err *err)
{
    json_object_object_foreach(obj, k, v)
    {
        (void)v;
        int ok = 0;
        for (size_t i = 0; keys[i] != NULL; i++) {
            if (strcmp(k, keys[i]) == 0) {
                ok = 1;
                break;
            }
        }
        if (!ok) {
            return hd_err_set(err, HD_EINVAL, "%s.%.64s: unknown key (%s)", prefix, k, list);
        }
    }
    return HD_OK;
}

static int parse_tls(struct hd_channel_common *c, json_object *options, struct hd_err *err)
{
    static const char *const keys[] = {"caFile", "certFile", "keyFile", "insecureSkipVerify", NULL};
    int insecure = 0;
    int allow = 0;
    int rc = hd_opt_bool(options, "options", "allowInsecureConnections", 0, &allow, err);
    if (rc != HD_OK) {
        return rc;
    }
    json_object *t = hd_opt_get(options, "tls");
    if (t != NULL) {
        if (!json_object_is_type(t, json_type_object)) {
            return hd_err_set(err, HD_EINVAL, "options.tls: must be an object");
        }
        rc = check_keys(t, "options.tls", keys, "caFile, certFile, keyFile, insecureSkipVerify", err);
        if (rc == HD_OK) {
            rc = dup_opt_str(t, "options.tls", "caFile", &c->tls.ca_file, err);
        }
        if (rc == HD_OK) {
            rc = dup_opt_str(t, "options.tls", "certFile", &c->tls.cert_file, err);
        }
        if (rc == HD_OK) {
            rc = dup_opt_str(t, "options.tls", "keyFile", &c->tls.key_file, err);
        }
        if (rc == HD_OK) {
            rc = hd_opt_bool(t, "options.tls", "insecureSkipVerify", 0, &insecure, err);
        }
        if (rc != HD_OK) {
            return rc;
        }
        if ((c->tls.cert_file == NULL) != (c->tls.key_file == NULL)) {
            return hd_err_set(err, HD_EINVAL, "options.tls: certFile and keyFile go together");
        }
    }
    c->tls.insecure = insecure || allow;
    return HD_OK;
}

static int parse_batch(struct hd_channel_common *c, json_object *options, struct hd_err *err)
{
    static const char *const keys[] = {"maxEvents", "maxBytes", "maxDelayMs", NULL};
    long max_events = batch_events_opt.def;
    long max_bytes = batch_bytes_opt.def;
    long max_delay = batch_delay_opt.def;
    json_object *b = hd_opt_get(options, "batch");
    int rc = HD_OK;
    if (b != NULL) {
        if (!json_object_is_type(b, json_type_object)) {
            return hd_err_set(err, HD_EINVAL, "options.batch: must be an object");
        }
        rc = check_keys(b, "options.batch", keys, "maxEvents, maxBytes, maxDelayMs", err);
        if (rc == HD_OK) {
            rc = hd_opt_long(b, "options.batch", &batch_events_opt, &max_events, err);
        }
        if (rc == HD_OK) {
            rc = hd_opt_long(b, "options.batch", &batch_bytes_opt, &max_bytes, err);
        }
        if (rc == HD_OK) {
            rc = hd_opt_long(b, "options.batch", &batch_delay_opt, &max_delay, err);
        }
    }
    c->batch_max_events = (size_t)max_events;
    c->batch_max_bytes = (size_t)max_bytes;
    c->batch_max_delay_ms = max_delay;
    return rc;
}

static const struct hd_opt_range group_wait_opt = {"waitMs", 30000, 0, 24L * 3600 * 1000};
static const struct hd_opt_range group_interval_opt = {"intervalMs", 300000, 1000, 24L * 3600 * 1000};
static const struct hd_opt_range group_repeat_opt = {"repeatMs", 4L * 3600 * 1000, 60000,
                                                     30L * 24 * 3600 * 1000};

static int parse_group_by(struct hd_group_opt *g, json_object *by, struct hd_err *err)
{
    if (by == NULL) {
        return HD_OK; /* one group for the whole channel */
    }
    if (!json_object_is_type(by, json_type_array) || json_object_array_length(by) > 16) {
        return hd_err_set(err, HD_EINVAL, "options.group.by: must be a list of at most 16 field paths");
    }
    size_t n = json_object_array_length(by);
    g->by = calloc(n + 1, sizeof(*g->by));
    if (g->by == NULL) {
        return HD_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(by, i);
        if (!json_object_is_type(v, json_type_string) || !hd_match_path_valid(json_object_get_string(v))) {
            return hd_err_set(
                err, HD_EINVAL,
                "options.group.by[%zu]: not a field path (k8s.namespace, labels.alertname, ...)", i);
        }
        g->by[i] = hd_strdup(json_object_get_string(v));
        if (g->by[i] == NULL) {
            return HD_ENOMEM;
        }
        g->n_by = i + 1;
    }
    return HD_OK;
}

static int parse_group(struct hd_channel_common *c, json_object *options, struct hd_err *err)
{
    static const char *const keys[] = {"by", "waitMs", "intervalMs", "repeatMs", NULL};
    json_object *t = hd_opt_get(options, "group");
    if (t == NULL) {
        return HD_OK;
    }
    if (!json_object_is_type(t, json_type_object)) {
        return hd_err_set(err, HD_EINVAL,
                          "options.group: must be an object {\"by\": [paths], \"waitMs\", \"intervalMs\", "
                          "\"repeatMs\"}");
    }
    c->group = calloc(1, sizeof(*c->group));
    if (c->group == NULL) {
        return HD_ENOMEM;
    }
    int rc = check_keys(t, "options.group", keys, "by, waitMs, intervalMs, repeatMs", err);
    if (rc == HD_OK) {
        rc = parse_group_by(c->group, hd_opt_get(t, "by"), err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_long(t, "options.group", &group_wait_opt, &c->group->wait_ms, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_long(t, "options.group", &group_interval_opt, &c->group->interval_ms, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_long(t, "options.group", &group_repeat_opt, &c->group->repeat_ms, err);
    }
    return rc;
}

static void group_free(struct hd_group_opt *g)
{
    for (size_t i = 0; g != NULL && g->by != NULL && i < g->n_by; i++) {
        free(g->by[i]);
    }
    if (g != NULL) {
        free(g->by);
        free(g);
    }
}

static int parse_throttle(struct hd_channel_common *c, json_object *options, struct hd_err *err)
{
    static const char *const keys[] = {"key", "windowMs", NULL};
    json_object *t = hd_opt_get(options, "throttle");
    const char *key = NULL;
    if (t == NULL) {
        return HD_OK;
    }
    if (!json_object_is_type(t, json_type_object)) {
        return hd_err_set(err, HD_EINVAL,
                          "options.throttle: must be an object {\"key\": path, \"windowMs\": N}");
    }
    int rc = check_keys(t, "options.throttle", keys, "key, windowMs", err);
    if (rc == HD_OK) {
        rc = hd_opt_str(t, "options.throttle", "key", 1, &key, err);
    }
    if (rc == HD_OK && hd_opt_get(t, "windowMs") == NULL) {
        rc = hd_err_set(err, HD_EINVAL, "options.throttle.windowMs: required");
    }
    if (rc == HD_OK) {
        rc = hd_opt_long(t, "options.throttle", &throttle_window_opt, &c->throttle_window_ms, err);
    }
    if (rc != HD_OK) {
        return rc;
    }
    c->throttle_key = hd_strdup(key);
    return c->throttle_key ? HD_OK : HD_ENOMEM;
}

int hd_channel_common_parse(struct hd_channel_common *c, json_object *options, struct hd_err *err)
{
    struct hd_channel_common t = {
        .notify_on_ok = 1,
        .notify_on_resolve = 1,
        .min_severity = (int)min_severity_opt.def,
        .timeout_ms = timeout_opt.def,
    };
    long sev = min_severity_opt.def;
    int rc = HD_OK;
    if (options == NULL || !json_object_is_type(options, json_type_object)) {
        rc = hd_err_set(err, HD_EINVAL, "options: must be an object");
        goto out;
    }
    rc = hd_opt_bool(options, "options", "notifyOnOk", 1, &t.notify_on_ok, err);
    if (rc == HD_OK) {
        rc = hd_opt_bool(options, "options", "notifyOnResolve", 1, &t.notify_on_resolve, err);
    }
    if (rc == HD_OK) {
        /* the default depends on the type (hd_channel_new resolves -1) */
        rc = hd_opt_bool(options, "options", "respectSilences", -1, &t.respect_silences, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_long(options, "options", &min_severity_opt, &sev, err);
        t.min_severity = (int)sev;
    }
    if (rc == HD_OK) {
        rc = parse_sources(&t, options, err);
    }
    if (rc == HD_OK) {
        rc = parse_match(&t, options, err);
    }
    if (rc == HD_OK) {
        json_object *tr = hd_opt_get(options, "transform");
        if (tr != NULL) {
            rc = check_transform(tr, err);
            t.transform = rc == HD_OK ? json_object_get(tr) : NULL;
        }
    }
    if (rc == HD_OK) {
        json_object *tm = hd_opt_get(options, "template");
        t.tmpl = tm ? json_object_get(tm) : NULL;
        rc = hd_opt_long(options, "options", &timeout_opt, &t.timeout_ms, err);
    }
    if (rc == HD_OK) {
        rc = parse_tls(&t, options, err);
    }
    if (rc == HD_OK) {
        const char *ep = NULL;
        rc = hd_opt_url(options, "options", "endpoint", 0, &ep, err);
        if (rc == HD_OK && ep != NULL) {
            t.endpoint = hd_strdup(ep);
            rc = t.endpoint ? HD_OK : HD_ENOMEM;
        }
    }
    if (rc == HD_OK) {
        rc = parse_batch(&t, options, err);
    }
    if (rc == HD_OK) {
        json_object *cz = hd_opt_get(options, "compress");
        if (cz == NULL) {
            t.compress = 0;
        } else if (json_object_is_type(cz, json_type_boolean)) {
            t.compress = json_object_get_boolean(cz) ? 1 : 0;
        } else if (json_object_is_type(cz, json_type_string) &&
                   strcmp(json_object_get_string(cz), "gzip") == 0) {
            t.compress = 1;
        } else {
            rc = hd_err_set(err, HD_EINVAL, "options.compress: must be a boolean or \"gzip\"");
        }
    }
    if (rc == HD_OK) {
        rc = parse_throttle(&t, options, err);
    }
    if (rc == HD_OK) {
        rc = parse_group(&t, options, err);
    }
    if (rc == HD_OK) {
        /* Handled by the API (SPEC 4); only its type is checked here. */
        int dummy = 0;
        rc = hd_opt_bool(options, "options", "sendTestNotification", 0, &dummy, err);
    }
out:
    if (rc == HD_ENOMEM) {
        hd_err_set(err, HD_ENOMEM, "options: out of memory");
    }
    if (rc != HD_OK) {
        hd_channel_common_clear(&t);
        return rc;
    }
    *c = t;
    return HD_OK;
}

void hd_channel_common_clear(struct hd_channel_common *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n_sources; i++) {
        free(c->sources[i]);
    }
    free(c->sources);
    hd_matches_free(c->match, c->n_match);
    json_object_put(c->transform);
    json_object_put(c->tmpl);
    free(c->tls.ca_file);
    free(c->tls.cert_file);
    free(c->tls.key_file);
    free(c->endpoint);
    free(c->throttle_key);
    group_free(c->group);
    memset(c, 0, sizeof(*c));
}

const char *const hd_channel_common_url_options[] = {"endpoint", NULL};

int hd_channel_url_option(const struct hd_channel_type *t, const char *name)
{
    const char *const *lists[] = {t->url_options, hd_channel_common_url_options};
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; lists[l] != NULL && lists[l][i] != NULL; i++) {
            if (strcmp(lists[l][i], name) == 0) {
                return 1;
            }
        }
    }
    return 0;
}
