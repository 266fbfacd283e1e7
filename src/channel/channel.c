/* channel.c - the channel lifecycle: building a runtime channel from its
 * stored JSON (type, name, common options, then the type's configure),
 * validation for the API, freeing, and the synthetic test event. The option
 * readers and common options are in options.c, secrets in secrets.c, the
 * shared HTTP classification in classify.c.
 *
 * DESIGN: hd_channel_validate and hd_channel_new share one builder, so what
 * the API accepts is exactly what the dispatcher can run: validating is
 * "build a throwaway channel and report the first error". The builder hands
 * the channel to the type's configure only once the core has set everything
 * the type's destroy may look at, so a failed build frees through one path.
 */
#include "channel/channel.h"

#include <stdlib.h>
#include <string.h>

#include "channel/driver.h"
#include "core/util.h"

/* ---- channels ---- */

void hd_channel_free(struct hd_channel *ch)
{
    if (ch == NULL) {
        return;
    }
    if (ch->type != NULL && ch->type->destroy != NULL) {
        ch->type->destroy(ch);
    }
    free(ch->ctx);
    hd_channel_secrets_free(ch);
    hd_channel_common_clear(&ch->common);
    json_object_put(ch->options);
    free(ch->name);
    free(ch);
}

#define STR_(x) #x
#define STR(x) STR_(x)
#define NAME_RULE "a non-empty string of at most " STR(HD_CHANNEL_NAME_MAX) " characters"

/* The member key of obj, which must be there and of type t (what names t
 * in the error); NULL with err set otherwise. */
static json_object *required(json_object *obj, const char *key, json_type t, const char *what,
                             struct hd_err *err)
{
    json_object *v = hd_opt_get(obj, key);
    if (v == NULL) {
        hd_err_set(err, HD_EINVAL, "%s: required", key);
        return NULL;
    }
    if (!json_object_is_type(v, t)) {
        hd_err_set(err, HD_EINVAL, "%s: must be %s", key, what);
        return NULL;
    }
    return v;
}

/* Builds a channel from the object {"type","name","enabled","options",...}.
 * Top-level checks are those of the API (hd_channel_validate). */
static int channel_build(json_object *obj, int64_t id, int64_t version, struct hd_channel **out,
                         struct hd_err *err)
{
    struct hd_channel *ch = NULL;
    int enabled = 1;
    int rc = HD_OK;
    if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
        rc = hd_err_set(err, HD_EINVAL, "notificationChannel: must be an object");
        goto out;
    }
    json_object *name = required(obj, "name", json_type_string, NAME_RULE, err);
    if (name == NULL) {
        rc = HD_EINVAL;
        goto out;
    }
    if (json_object_get_string_len(name) == 0 || json_object_get_string_len(name) > HD_CHANNEL_NAME_MAX) {
        rc = hd_err_set(err, HD_EINVAL, "name: must be %s", NAME_RULE);
        goto out;
    }
    json_object *type = required(obj, "type", json_type_string, "a string", err);
    if (type == NULL) {
        rc = HD_EINVAL;
        goto out;
    }
    const struct hd_channel_type *ty = hd_channel_type_find(json_object_get_string(type));
    if (ty == NULL) {
        rc = hd_err_set(err, HD_EINVAL, "type: unknown channel type '%.64s'", json_object_get_string(type));
        goto out;
    }
    rc = hd_opt_bool(obj, "notificationChannel", "enabled", 1, &enabled, err);
    if (rc != HD_OK) {
        hd_err_set(err, HD_EINVAL, "enabled: must be a boolean");
        goto out;
    }
    json_object *options = required(obj, "options", json_type_object, "an object", err);
    if (options == NULL) {
        rc = HD_EINVAL;
        goto out;
    }
    ch = calloc(1, sizeof(*ch));
    if (ch == NULL) {
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
        goto out;
    }
    ch->id = id;
    ch->version = version;
    ch->enabled = enabled;
    ch->name = hd_strdup(json_object_get_string(name));
    ch->options = json_object_get(options);
    if (ch->name == NULL) {
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
        goto out;
    }
    rc = hd_channel_common_parse(&ch->common, options, err);
    if (rc != HD_OK) {
        goto out;
    }
    if (ch->common.respect_silences < 0) {
        ch->common.respect_silences = !ty->log_sink;
    }
    if (ch->common.group != NULL && (ty->log_sink || ty->max_batch != 1)) {
        rc = hd_err_set(err, HD_EINVAL, "options.group: only for notification types (%s keeps every event)",
                        ty->name);
        goto out;
    }
    if (ty->ctx_size > 0) {
        ch->ctx = calloc(1, ty->ctx_size);
        if (ch->ctx == NULL) {
            rc = hd_err_set(err, HD_ENOMEM, "out of memory");
            goto out;
        }
    }
    /* From here destroy runs on failure: it accepts a half-configured ctx. */
    ch->type = ty;
    rc = ty->configure(ch, options, err);
    if (rc == HD_OK && hd_channel_secrets_collect(ch, obj) != HD_OK) {
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
    }
out:
    if (rc != HD_OK) {
        hd_channel_free(ch);
        return rc;
    }
    *out = ch;
    return HD_OK;
}

struct hd_channel *hd_channel_new(int64_t id, int64_t version, const char *json, struct hd_err *err)
{
    struct hd_channel *ch = NULL;
    if (json == NULL) {
        hd_err_set(err, HD_EINVAL, "channel %lld: no stored object", (long long)id);
        return NULL;
    }
    json_object *obj = hd_json_parse(json, strlen(json), err);
    if (obj == NULL) {
        hd_err_prefix(err, "channel %lld: ", (long long)id);
        return NULL;
    }
    if (channel_build(obj, id, version, &ch, err) != HD_OK) {
        ch = NULL;
    }
    json_object_put(obj);
    return ch;
}

int hd_channel_validate(json_object *obj, struct hd_err *err)
{
    struct hd_channel *ch = NULL;
    int rc = channel_build(obj, 0, 0, &ch, err);
    if (rc != HD_OK) {
        return rc;
    }
    json_object *stn = hd_opt_get(obj, "sendTestNotification");
    if (stn != NULL && !json_object_is_type(stn, json_type_boolean)) {
        rc = hd_err_set(err, HD_EINVAL, "sendTestNotification: must be a boolean");
    }
    hd_channel_free(ch);
    return rc;
}

/* ---- test event ---- */

#define TEST_DESCRIPTION "This is a test notification sent by herald"

int hd_channel_test_event(const struct hd_channel *ch, struct hd_event *ev)
{
    struct hd_event t;
    struct hd_buf b;
    const char *name = ch != NULL && ch->name != NULL ? ch->name : "";
    int rc = HD_OK;
    memset(&t, 0, sizeof(t));
    hd_buf_init(&b, 0);

    int64_t now = hd_now_us();
    t.source = "generic";
    t.ts_us = now;
    t.recv_us = now;
    t.severity = 6;
    t.state = HD_STATE_ACTIVE;

    /* id: different for every test, so a sink that dedups by id shows each. */
    rc = hd_buf_printf(&b, "herald-test\n%s\n%lld", name, (long long)now);
    if (rc != HD_OK) {
        goto out;
    }
    hd_hash128_hex(b.p, b.len, t.id);
    hd_buf_reset(&b);

    rc = hd_buf_printf(&b, "herald test notification for channel %s", name);
    if (rc != HD_OK) {
        goto out;
    }
    t.name = hd_strdup(b.p);
    t.description = hd_strdup(TEST_DESCRIPTION);
    hd_buf_reset(&b);
    /* One alert key per channel: pagers group every test of a channel. */
    rc = hd_buf_printf(&b, "herald-test/%s", name);
    if (rc != HD_OK) {
        goto out;
    }
    t.alert_key = hd_strdup(b.p);
    hd_buf_reset(&b);

    rc = hd_buf_puts(&b, "{\"herald\":\"test\",\"test\":true,\"channel\":");
    if (rc == HD_OK) {
        rc = hd_buf_json_str(&b, name, strlen(name));
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(&b, ",\"message\":");
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(&b, "\"" TEST_DESCRIPTION "\"");
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(&b, ",\"timestamp\":%lld}", (long long)now);
    }
    if (rc != HD_OK) {
        goto out;
    }
    t.raw = hd_buf_steal(&b, &t.raw_len);
    if (t.name == NULL || t.description == NULL || t.alert_key == NULL || t.raw == NULL) {
        rc = HD_ENOMEM;
    }
out:
    hd_buf_free(&b);
    if (rc != HD_OK) {
        hd_event_clear(&t);
        return rc;
    }
    *ev = t;
    return HD_OK;
}

int hd_channel_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                      struct hd_request *req, struct hd_err *err)
{
    if (n == 0 || n > ch->type->max_batch) {
        return hd_err_set(err, HD_EINVAL, "%s: renders 1 to %zu events per request, got %zu", ch->type->name,
                          ch->type->max_batch, n);
    }
    return ch->type->render(ch, evs, n, req, err);
}
