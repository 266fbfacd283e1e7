/* channels.c - /api/notificationChannels, wire-compatible with Sysdig's.
 *
 * DESIGN: the store keeps each channel as its JSON object minus the fields
 * herald owns (id, version, createdOn, modifiedOn live in columns; managedBy
 * is set only by the config loader), so unknown fields clients send (teamId,
 * anything in options) come back unchanged. Every answer rebuilds the object
 * as {id, version, createdOn, modifiedOn, ...stored fields..., managedBy} and
 * masks secrets; a PUT that sends the mask back keeps the stored secret.
 * sendTestNotification is an action, not state: it triggers one synchronous
 * test notification after the change is stored and is stored as false, so
 * GET -> edit -> PUT does not send another test every time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "channel/channel.h"
#include "core/log.h"
#include "core/util.h"
#include "net/http_client.h"

static const char *const owned_fields[] = {"id", "version", "createdOn", "modifiedOn", "managedBy"};

static int is_owned_field(const char *k)
{
    for (size_t i = 0; i < sizeof(owned_fields) / sizeof(owned_fields[0]); i++) {
        if (strcmp(k, owned_fields[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The API object of a stored channel, secrets masked. NULL on ENOMEM or a
 * corrupt stored object. Caller owns it. */
static json_object *channel_out(const struct hd_channel_rec *r)
{
    struct hd_err err = {0};
    json_object *stored = r->json != NULL ? hd_json_parse(r->json, strlen(r->json), &err) : NULL;
    json_object *o = json_object_new_object();
    json_object *masked = NULL;
    if (o == NULL) {
        goto out;
    }
    json_object_object_add(o, "id", json_object_new_int64(r->id));
    json_object_object_add(o, "version", json_object_new_int64(r->version));
    json_object_object_add(o, "createdOn", json_object_new_int64(r->created_ms));
    json_object_object_add(o, "modifiedOn", json_object_new_int64(r->modified_ms));
    if (stored != NULL && json_object_is_type(stored, json_type_object)) {
        json_object_object_foreach(stored, fk, fv)
        {
            if (!is_owned_field(fk)) {
                json_object_object_add(o, fk, json_object_get(fv));
            }
        }
    } else {
        /* Should not happen; show what the columns know rather than fail. */
        hd_log(HD_LOG_WARN, "channel id=%lld: stored object unreadable: %s", (long long)r->id, err.msg);
        json_object_object_add(o, "name", json_object_new_string(r->name != NULL ? r->name : ""));
        json_object_object_add(o, "type", json_object_new_string(r->type != NULL ? r->type : ""));
        json_object_object_add(o, "enabled", json_object_new_boolean(r->enabled));
    }
    if (r->managed_by != NULL) {
        json_object_object_add(o, "managedBy", json_object_new_string(r->managed_by));
    }
    masked = hd_channel_mask_secrets(o);
out:
    json_object_put(o);
    json_object_put(stored);
    return masked;
}

/* Answers status with {"notificationChannel": <r>}. */
static void answer_one(struct hd_api_call *c, int status, const struct hd_channel_rec *r)
{
    json_object *ch = channel_out(r);
    if (ch == NULL) {
        hd_http_error(c->resp, 500, "out of memory");
        return;
    }
    json_object *env = json_object_new_object();
    json_object_object_add(env, "notificationChannel", ch);
    hd_api_json(c, status, env);
    json_object_put(env);
}

void hd_api_channels_answer(struct hd_api_call *c, const char *key, hd_api_channel_view view)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    struct hd_channel_rec *recs = NULL;
    size_t n = 0;
    int rc = st->ops->channel_list(st, &recs, &n, &err);
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while listing channels");
        return;
    }
    json_object *arr = json_object_new_array();
    json_object *env = json_object_new_object();
    json_object_object_add(env, key, arr);
    for (size_t i = 0; i < n; i++) {
        json_object *o = view(c, &recs[i]);
        if (o != NULL) {
            json_object_array_add(arr, o);
        }
    }
    hd_api_json(c, 200, env);
    json_object_put(env);
    hd_channel_recs_free(recs, n);
}

static json_object *list_view(struct hd_api_call *c, const struct hd_channel_rec *r)
{
    (void)c;
    return channel_out(r);
}

void hd_api_channels_list(struct hd_api_call *c)
{
    hd_api_channels_answer(c, "notificationChannels", list_view);
}

/* Loads the channel named by the path; answers 404 and returns nonzero if absent. */
static int load_channel(struct hd_api_call *c, struct hd_channel_rec *rec)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    memset(rec, 0, sizeof(*rec));
    int64_t id = hd_api_parse_id(c->arg);
    if (id <= 0) {
        hd_http_error(c->resp, 404, "notificationChannel '%.64s' not found", c->arg);
        return HD_ENOTFOUND;
    }
    int rc = st->ops->channel_get(st, id, rec, &err);
    if (rc == HD_ENOTFOUND) {
        hd_http_error(c->resp, 404, "notificationChannel %lld not found", (long long)id);
        return rc;
    }
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while reading the channel");
        return rc;
    }
    return HD_OK;
}

void hd_api_channel_get(struct hd_api_call *c)
{
    struct hd_channel_rec rec;
    if (load_channel(c, &rec) != HD_OK) {
        return;
    }
    answer_one(c, 200, &rec);
    hd_channel_rec_clear(&rec);
}

/* ---- test notifications ----
 *
 * Sent by the tester (route/tester.h) on its own thread: the handler defers
 * its answer and returns, so waiting for a slow sink holds no server thread.
 * More than HD_TESTS_MAX tests at once are refused with 429. */

struct test_call {
    int64_t id;                         /* for the log line */
    char name[HD_CHANNEL_NAME_MAX + 1]; /* likewise */
    struct hd_test_result res;
    int rc; /* HD_OK: res holds the outcome; else the tester refused */
    struct hd_http_async *h;
};

static void log_test(const struct test_call *r, const struct hd_test_result *res)
{
    if (res->delivered) {
        hd_log(HD_LOG_INFO, "channel id=%lld name=%s: test notification delivered (HTTP %ld, %lld ms)",
               (long long)r->id, r->name, res->status, (long long)res->elapsed_ms);
    } else {
        hd_log(HD_LOG_WARN, "channel id=%lld name=%s: test notification failed: %s", (long long)r->id,
               r->name, res->error);
    }
}

static void test_release(void *ud)
{
    struct test_call *tc = ud;
    free(tc);
}

/* Tester thread: the outcome of a test whose answer is deferred. */
static void test_done(void *ud, const struct hd_test_result *res)
{
    struct test_call *tc = ud;
    tc->res = *res;
    log_test(tc, res);
    hd_http_async_done(tc->h); /* tc may be gone once this returns */
}

/* Tester thread: a test asked for by sendTestNotification (nobody waits). */
static void test_logged(void *ud, const struct hd_test_result *res)
{
    struct test_call *tc = ud;
    log_test(tc, res);
    test_release(tc);
}

/* Composes the answer of POST .../test (server thread). */
static void test_finish(void *ud, struct hd_http_resp *resp)
{
    struct test_call *tc = ud;
    if (tc->rc == HD_OK && tc->res.cancelled) {
        tc->rc = HD_ESHUTDOWN;
    }
    if (tc->rc != HD_OK) {
        hd_http_error(resp, tc->rc == HD_EBUSY ? 429 : 503, "%s",
                      tc->rc == HD_EBUSY ? "test notifications: too many at once, retry later"
                                         : "test notifications: herald is stopping");
        hd_http_resp_header(resp, "Retry-After", "5");
        return;
    }
    const struct hd_test_result *res = &tc->res;
    json_object *r = json_object_new_object();
    json_object_object_add(r, "delivered", json_object_new_boolean(res->delivered));
    json_object_object_add(r, "status", json_object_new_int64(res->status));
    if (!res->delivered) {
        json_object_object_add(r, "error", json_object_new_string(res->error));
    }
    json_object_object_add(r, "elapsedMs", json_object_new_int64(res->elapsed_ms));
    json_object *env = json_object_new_object();
    /* A failed test is 502 with Sysdig's error envelope so that scripts
     * (and the python client, which fails on >= 300) notice; the result
     * object rides along for the dashboard. */
    if (!res->delivered) {
        char msg[512];
        snprintf(msg, sizeof(msg), "test notification failed: %s", res->error);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "reason", json_object_new_string(hd_http_reason(502)));
        json_object_object_add(e, "message", json_object_new_string(msg));
        json_object *errs = json_object_new_array();
        json_object_array_add(errs, e);
        json_object_object_add(env, "errors", errs);
    }
    json_object_object_add(env, "result", r);
    hd_api_json_resp(resp, res->delivered ? 200 : 502, env);
    json_object_put(env);
}

static struct test_call *test_call_new(const struct hd_channel_rec *rec)
{
    struct test_call *tc = calloc(1, sizeof(*tc));
    if (tc != NULL) {
        tc->id = rec->id;
        snprintf(tc->name, sizeof(tc->name), "%s", rec->name != NULL ? rec->name : "");
    }
    return tc;
}

void hd_api_channel_test(struct hd_api_call *c)
{
    struct hd_channel_rec rec;
    if (load_channel(c, &rec) != HD_OK) {
        return;
    }
    struct test_call *tc = test_call_new(&rec);
    if (tc == NULL) {
        hd_channel_rec_clear(&rec);
        hd_http_error(c->resp, 500, "out of memory");
        return;
    }
    tc->h = hd_http_defer(c->req, test_finish, test_release, tc);
    if (tc->h == NULL) {
        test_release(tc);
        hd_channel_rec_clear(&rec);
        hd_http_error(c->resp, 503, "test notifications: herald is stopping");
        return;
    }
    tc->rc = c->api->tester != NULL ? hd_tester_submit(c->api->tester, &rec, test_done, tc) : HD_ESHUTDOWN;
    hd_channel_rec_clear(&rec); /* the tester keeps its own copy */
    if (tc->rc != HD_OK) {
        hd_http_async_done(tc->h); /* answered by test_finish */
    }
}

/* ---- create / update ---- */

/* The channel object of a POST/PUT body, borrowed from body; answers 400 if
 * the envelope is missing. */
static json_object *envelope(struct hd_api_call *c, json_object *body)
{
    json_object *obj = NULL;
    if (!json_object_is_type(body, json_type_object) ||
        !json_object_object_get_ex(body, "notificationChannel", &obj) ||
        !json_object_is_type(obj, json_type_object)) {
        hd_http_error(c->resp, 400,
                      "notificationChannel: required (body is {\"notificationChannel\":{...}})");
        return NULL;
    }
    return obj;
}

/* Removes herald-owned fields and the sendTestNotification action (stored
 * as false); returns 1 if a test notification was asked for. */
static int normalise(json_object *obj)
{
    for (size_t i = 0; i < sizeof(owned_fields) / sizeof(owned_fields[0]); i++) {
        json_object_object_del(obj, owned_fields[i]);
    }
    int send_test = hd_json_get_bool(obj, "sendTestNotification", 0) == 1;
    if (json_object_object_get_ex(obj, "sendTestNotification", NULL)) {
        json_object_object_add(obj, "sendTestNotification", json_object_new_boolean(0));
    }
    json_object *opts = NULL;
    if (json_object_object_get_ex(obj, "options", &opts) && json_object_is_type(opts, json_type_object)) {
        send_test |= hd_json_get_bool(opts, "sendTestNotification", 0) == 1;
        if (json_object_object_get_ex(opts, "sendTestNotification", NULL)) {
            json_object_object_add(opts, "sendTestNotification", json_object_new_boolean(0));
        }
    }
    if (!json_object_object_get_ex(obj, "enabled", NULL)) {
        json_object_object_add(obj, "enabled", json_object_new_boolean(1));
    }
    return send_test;
}

/* The record a POST or PUT stores: obj validated (400 naming the field),
 * serialized into text (which in->json borrows), its name, type and enabled
 * flag. Non-HD_OK when the error was answered. */
static int record_of(struct hd_api_call *c, json_object *obj, char *managed_by, struct hd_buf *text,
                     struct hd_channel_rec *in)
{
    struct hd_err err = {0};
    int rc = hd_channel_validate(obj, &err);
    if (rc != HD_OK) {
        if (rc == HD_ENOMEM) {
            hd_http_error(c->resp, 500, "out of memory");
        } else {
            hd_http_error(c->resp, 400, "%s", err.msg[0] ? err.msg : "invalid channel");
        }
        return rc;
    }
    if (hd_json_append(obj, text) != HD_OK) {
        hd_http_error(c->resp, 500, "out of memory");
        return HD_ENOMEM;
    }
    int enabled = hd_json_get_bool(obj, "enabled", 1);
    if (enabled < 0) {
        hd_http_error(c->resp, 400, "enabled: must be a boolean");
        return HD_EINVAL;
    }
    memset(in, 0, sizeof(*in));
    in->name = (char *)hd_json_get_str(obj, "name");
    in->type = (char *)hd_json_get_str(obj, "type");
    in->enabled = enabled;
    in->managed_by = managed_by;
    in->json = text->p;
    return HD_OK;
}

static void after_change(struct hd_api_call *c)
{
    if (c->api->disp != NULL) {
        hd_dispatcher_channels_changed(c->api->disp);
    }
}

/* Its outcome goes to the log only: the channel is stored whatever it is,
 * and the POST/PUT does not wait for the sink. */
static void maybe_test(struct hd_api_call *c, const struct hd_channel_rec *r, int send_test)
{
    if (!send_test) {
        return;
    }
    struct test_call *tc = test_call_new(r);
    int rc = tc == NULL               ? HD_ENOMEM
             : c->api->tester != NULL ? hd_tester_submit(c->api->tester, r, test_logged, tc)
                                      : HD_ESHUTDOWN;
    if (rc != HD_OK) {
        hd_log(HD_LOG_WARN, "channel id=%lld name=%s: test notification not sent: %s", (long long)r->id,
               r->name, rc == HD_EBUSY ? "too many at once" : hd_strerror(rc));
        free(tc);
    }
}

/* A POST or PUT stored r: the dispatcher reloads, the test notification asked
 * for goes out, the stored channel is the answer. */
static void answer_stored(struct hd_api_call *c, int status, const struct hd_channel_rec *r, int send_test)
{
    after_change(c);
    maybe_test(c, r, send_test);
    answer_one(c, status, r);
}

void hd_api_channel_create(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    struct hd_buf text;
    struct hd_channel_rec out;
    memset(&out, 0, sizeof(out));
    hd_buf_init(&text, 0);
    json_object *body = hd_api_body_json(c);
    if (body == NULL) {
        goto out;
    }
    json_object *obj = envelope(c, body);
    if (obj == NULL) {
        goto out;
    }
    int send_test = normalise(obj);
    struct hd_channel_rec in;
    if (record_of(c, obj, NULL, &text, &in) != HD_OK) {
        goto out;
    }
    int rc = st->ops->channel_create(st, &in, hd_now_ms(), &out, &err);
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, rc == HD_ECONFLICT ? NULL : "while storing the channel");
        goto out;
    }
    hd_log(HD_LOG_INFO, "channel created: id=%lld name=%s type=%s", (long long)out.id, out.name, out.type);
    answer_stored(c, 201, &out, send_test);
out:
    hd_channel_rec_clear(&out);
    hd_buf_free(&text);
    json_object_put(body);
}

void hd_api_channel_update(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    struct hd_buf text;
    struct hd_channel_rec cur, out;
    json_object *body = NULL, *old = NULL;
    memset(&out, 0, sizeof(out));
    hd_buf_init(&text, 0);
    if (load_channel(c, &cur) != HD_OK) {
        return;
    }
    body = hd_api_body_json(c);
    if (body == NULL) {
        goto out;
    }
    json_object *obj = envelope(c, body);
    if (obj == NULL) {
        goto out;
    }
    int64_t version = 0;
    json_object *vo = NULL;
    if (!json_object_object_get_ex(obj, "version", &vo) || vo == NULL) {
        hd_http_error(c->resp, 400, "version: required (the version you read; it guards concurrent edits)");
        goto out;
    }
    if (!hd_json_get_i64(obj, "version", &version)) {
        hd_http_error(c->resp, 400, "version: must be an integer");
        goto out;
    }
    if (version != cur.version) {
        hd_http_error(c->resp, 409, "version: %lld is not the stored version %lld (read the channel again)",
                      (long long)version, (long long)cur.version);
        goto out;
    }
    int send_test = normalise(obj);
    old = hd_json_parse(cur.json, strlen(cur.json), &err);
    if (old != NULL && hd_channel_keep_secrets(obj, old, &err) != HD_OK) {
        hd_http_error(c->resp, 400, "%s", err.msg);
        goto out;
    }
    struct hd_channel_rec in;
    if (record_of(c, obj, cur.managed_by, &text, &in) != HD_OK) {
        goto out;
    }
    int rc = st->ops->channel_update(st, (struct hd_channel_ref){.id = cur.id, .version = version}, &in,
                                     hd_now_ms(), &out, &err);
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, rc == HD_ENOTFOUND ? "notificationChannel" : NULL);
        goto out;
    }
    hd_log(HD_LOG_INFO, "channel updated: id=%lld name=%s type=%s version=%lld", (long long)out.id, out.name,
           out.type, (long long)out.version);
    answer_stored(c, 200, &out, send_test);
out:
    hd_channel_rec_clear(&cur);
    hd_channel_rec_clear(&out);
    hd_buf_free(&text);
    json_object_put(body);
    json_object_put(old);
}

void hd_api_channel_delete(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    struct hd_channel_rec cur;
    if (load_channel(c, &cur) != HD_OK) {
        return;
    }
    int rc = st->ops->channel_delete(st, cur.id, &err);
    if (rc == HD_ENOTFOUND) {
        hd_http_error(c->resp, 404, "notificationChannel %lld not found", (long long)cur.id);
    } else if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while deleting the channel");
    } else {
        hd_log(HD_LOG_INFO, "channel deleted: id=%lld name=%s", (long long)cur.id, cur.name);
        after_change(c);
        hd_buf_reset(&c->resp->body);
        c->resp->status = 204;
    }
    hd_channel_rec_clear(&cur);
}

void hd_api_channel_replay(struct hd_api_call *c)
{
    struct hd_store *st = c->api->st;
    struct hd_err err = {0};
    struct hd_channel_rec cur;
    if (load_channel(c, &cur) != HD_OK) {
        return;
    }
    int64_t now = hd_now_ms();
    int64_t from = 0, to = 0;
    if (hd_api_query_i64(c, "from", 0, &from) != HD_OK || hd_api_query_i64(c, "to", now, &to) != HD_OK) {
        goto out;
    }
    if (from < 0 || to < 0 || from > to || to > INT64_MAX / 1000 - 1) {
        hd_http_error(c->resp, 400, "from/to: epoch milliseconds with from <= to (got %lld..%lld)",
                      (long long)from, (long long)to);
        goto out;
    }
    size_t count = 0;
    int rc = st->ops->replay(st, cur.id, from * 1000, to * 1000 + 999, &count, &err);
    if (rc != HD_OK) {
        hd_api_fail(c, rc, &err, "while queueing the replay");
        goto out;
    }
    hd_log(HD_LOG_INFO, "channel id=%lld name=%s: replay of %lld..%lld queued %zu events", (long long)cur.id,
           cur.name, (long long)from, (long long)to, count);
    after_change(c);
    hd_buf_reset(&c->resp->body);
    hd_buf_printf(&c->resp->body, "{\"queued\":%zu}", count);
    c->resp->status = 202;
out:
    hd_channel_rec_clear(&cur);
}
