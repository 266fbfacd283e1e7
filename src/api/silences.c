/* silences.c - /api/silences (SPEC 4): create, list, get, expire.
 *
 * A silence is {"matchers": [...], "startsAt", "endsAt", "createdBy",
 * "comment"} (matchers as in a channel's match: "k8s.namespace=~prod-.*" or
 * Alertmanager's {"name","value","isRegex","isEqual"}); times are RFC 3339.
 * Answers carry Alertmanager's "status": {"state": "active"|"pending"|
 * "expired"} and the matchers normalized as text. DELETE expires (endsAt =
 * now): the silence stays listed, and what it held back is not re-sent. */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "core/log.h"
#include "core/util.h"
#include "model/event.h"
#include "net/http_server.h"
#include "route/dispatcher.h"
#include "route/silences.h"

#define SILENCE_TEXT_MAX 1024 /* comment, createdBy */

static void put_time(json_object *o, const char *key, int64_t ms)
{
    char t[40];
    hd_format_iso_ms(ms * 1000, t, sizeof(t));
    json_object_object_add(o, key, json_object_new_string(t));
}

static json_object *silence_view(const struct hd_silence *si, int64_t now_ms)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_int64(si->id));
    json_object *m = hd_json_parse(si->matchers, strlen(si->matchers), NULL);
    json_object_object_add(o, "matchers", m != NULL ? m : json_object_new_array());
    put_time(o, "startsAt", si->starts_ms);
    put_time(o, "endsAt", si->ends_ms);
    put_time(o, "updatedAt", si->updated_ms);
    json_object_object_add(o, "createdBy", si->created_by ? json_object_new_string(si->created_by) : NULL);
    json_object_object_add(o, "comment", si->comment ? json_object_new_string(si->comment) : NULL);
    const char *state = now_ms < si->starts_ms ? "pending" : now_ms < si->ends_ms ? "active" : "expired";
    json_object *st = json_object_new_object();
    json_object_object_add(st, "state", json_object_new_string(state));
    json_object_object_add(o, "status", st);
    return o;
}

/* An RFC 3339 member key of body into *ms (def when absent); 400 on junk. */
static int body_time(struct hd_api_call *c, json_object *body, const char *key, int64_t def, int64_t *ms)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(body, key, &v) || json_object_is_type(v, json_type_null)) {
        *ms = def;
        return HD_OK;
    }
    int64_t us = 0;
    if (!json_object_is_type(v, json_type_string) ||
        hd_parse_rfc3339_us(json_object_get_string(v), &us) != HD_OK) {
        hd_http_error(c->resp, 400, "%s: expected an RFC 3339 time (2026-12-05T18:00:00Z)", key);
        return HD_EINVAL;
    }
    *ms = us / 1000;
    return HD_OK;
}

/* An optional string member of at most SILENCE_TEXT_MAX bytes; 400 otherwise. */
static int body_text(struct hd_api_call *c, json_object *body, const char *key, const char **out)
{
    json_object *v = NULL;
    *out = NULL;
    if (!json_object_object_get_ex(body, key, &v) || json_object_is_type(v, json_type_null)) {
        return HD_OK;
    }
    if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) > SILENCE_TEXT_MAX) {
        hd_http_error(c->resp, 400, "%s: expected a string of at most %d bytes", key, SILENCE_TEXT_MAX);
        return HD_EINVAL;
    }
    *out = json_object_get_string(v);
    return HD_OK;
}

/* The body's matchers, validated and normalized as a JSON array of text. */
static char *normalized_matchers(struct hd_api_call *c, json_object *body)
{
    json_object *arr = NULL;
    json_object_object_get_ex(body, "matchers", &arr);
    struct hd_match *m = NULL;
    size_t n = 0;
    struct hd_err err = {0};
    if (hd_silence_matchers(arr, &m, &n, &err) != HD_OK) {
        hd_http_error(c->resp, 400, "%s", err.msg);
        return NULL;
    }
    json_object *out = json_object_new_array();
    struct hd_buf b;
    hd_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        hd_buf_reset(&b);
        if (hd_match_format(&m[i], &b) == HD_OK) {
            json_object_array_add(out, json_object_new_string(b.p));
        }
    }
    hd_buf_free(&b);
    hd_matches_free(m, n);
    char *text = hd_strdup(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
    json_object_put(out);
    if (text == NULL) {
        hd_http_error(c->resp, 500, "out of memory");
    }
    return text;
}

static void changed(struct hd_api_call *c)
{
    if (c->api->disp != NULL) {
        hd_dispatcher_channels_changed(c->api->disp); /* reloads the silences with the channels */
    }
}

void hd_api_silence_create(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    json_object *body = hd_api_body_json(c);
    if (body == NULL) {
        return;
    }
    int64_t now = hd_now_ms();
    struct hd_silence in = {0};
    struct hd_silence out = {0};
    const char *by = NULL, *comment = NULL;
    if (!json_object_is_type(body, json_type_object)) {
        hd_http_error(c->resp, 400, "silence: expected an object {\"matchers\",\"startsAt\",\"endsAt\",...}");
        goto out;
    }
    if (body_time(c, body, "startsAt", now, &in.starts_ms) != HD_OK ||
        body_time(c, body, "endsAt", 0, &in.ends_ms) != HD_OK ||
        body_text(c, body, "createdBy", &by) != HD_OK || body_text(c, body, "comment", &comment) != HD_OK) {
        goto out;
    }
    if (in.ends_ms <= 0 || in.ends_ms <= in.starts_ms || in.ends_ms <= now) {
        hd_http_error(c->resp, 400, "endsAt: required, after startsAt and in the future");
        goto out;
    }
    in.matchers = normalized_matchers(c, body);
    if (in.matchers == NULL) {
        goto out;
    }
    in.created_by = (char *)by;
    in.comment = (char *)comment;
    struct hd_err err = {0};
    if (st->ops->silence_put == NULL) {
        hd_http_error(c->resp, 501, "silences: not supported by the %s store", st->ops->name);
        goto out;
    }
    int rc = st->ops->silence_put(st, &in, now, &out, &err);
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while saving the silence");
        goto out;
    }
    hd_log(HD_LOG_INFO, "silence %lld created by %s: %s", (long long)out.id, by != NULL ? by : "-",
           out.matchers);
    changed(c);
    json_object *v = silence_view(&out, now);
    hd_api_json(c, 201, v);
    json_object_put(v);
out:
    free(in.matchers);
    hd_silence_clear(&out);
    json_object_put(body);
}

void hd_api_silences_list(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_silence *all = NULL;
    size_t n = 0;
    struct hd_err err = {0};
    int rc = st->ops->silence_list != NULL ? st->ops->silence_list(st, &all, &n, &err) : HD_OK;
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while listing silences");
        return;
    }
    const char *want = hd_http_query(c->req, "state");
    int64_t now = hd_now_ms();
    json_object *o = json_object_new_object();
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *v = silence_view(&all[i], now);
        const char *state = json_object_get_string(hd_json_path(v, "status.state"));
        if (want != NULL && want[0] != '\0' && strcmp(want, state) != 0) {
            json_object_put(v);
            continue;
        }
        json_object_array_add(arr, v);
    }
    json_object_object_add(o, "silences", arr);
    hd_api_json(c, 200, o);
    json_object_put(o);
    hd_silences_free(all, n);
}

static int load_silence(struct hd_api_call *c, struct hd_silence *out)
{
    struct hd_store *st = c->api->st;
    int64_t id = hd_api_parse_id(c->arg);
    struct hd_err err = {0};
    if (id <= 0) {
        hd_http_error(c->resp, 404, "silence %.32s not found", c->arg);
        return HD_ENOTFOUND;
    }
    int rc = st->ops->silence_get != NULL
                 ? st->ops->silence_get(st, id, out, &err)
                 : hd_err_set(&err, HD_ENOTFOUND, "silence %lld not found", (long long)id);
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while reading the silence");
    }
    return rc;
}

void hd_api_silence_get(struct hd_api_call *c)
{
    struct hd_silence si = {0};
    if (load_silence(c, &si) != HD_OK) {
        return;
    }
    json_object *v = silence_view(&si, hd_now_ms());
    hd_api_json(c, 200, v);
    json_object_put(v);
    hd_silence_clear(&si);
}

void hd_api_silence_expire(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_silence si = {0}, out = {0};
    if (load_silence(c, &si) != HD_OK) {
        return;
    }
    int64_t now = hd_now_ms();
    struct hd_err err = {0};
    if (si.ends_ms > now) {
        si.ends_ms = now;
        if (si.starts_ms > now) {
            si.starts_ms = now; /* a pending one ends before it began */
        }
        int rc = st->ops->silence_put(st, &si, now, &out, &err);
        if (rc != HD_OK) {
            hd_api_fail(c, rc, &err, "while expiring the silence");
            goto done;
        }
        hd_log(HD_LOG_INFO, "silence %lld expired", (long long)si.id);
        changed(c);
    } else {
        out = si;
        memset(&si, 0, sizeof(si));
    }
    json_object *v = silence_view(&out, now);
    hd_api_json(c, 200, v);
    json_object_put(v);
done:
    hd_silence_clear(&si);
    hd_silence_clear(&out);
}
