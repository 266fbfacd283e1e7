/* test_api.c - the REST API through the real listener (libcurl client), a
 * real SQLite store in a temp dir, the real WEBHOOK driver posting to a
 * recording sink (a second hd_http_server), and a fake dispatcher (defined
 * below: the API only needs wakeup/changed/backlog/metrics, and the fake lets
 * the tests set the backlog and count notifications). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "core/log.h"
#include "core/metrics.h"
#include "json/json.h"
#include "net/http_server.h"

/* ---- fake dispatcher ---- */

static int64_t fake_backlog;
static int n_wakeups, n_changed;

void hd_dispatcher_wakeup(struct hd_dispatcher *d)
{
    n_wakeups++;
}
void hd_dispatcher_committed(struct hd_dispatcher *d, int64_t max_seq)
{
    n_wakeups++;
}
void hd_dispatcher_channels_changed(struct hd_dispatcher *d)
{
    n_changed++;
}
int64_t hd_dispatcher_backlog(struct hd_dispatcher *d)
{
    return fake_backlog;
}
int hd_dispatcher_status(struct hd_dispatcher *d, int64_t channel_id, struct hd_channel_status *out)
{
    return HD_ENOTFOUND; /* GET /api/channelStatus: no live state in this fake */
}
int hd_dispatcher_metrics(struct hd_dispatcher *d, int64_t now_ms, struct hd_buf *out)
{
    return hd_buf_puts(out, "# TYPE herald_channel_backlog gauge\nherald_channel_backlog{channel=\"1\"} 0\n");
}

/* ---- recording sink ---- */

struct sink {
    struct hd_http_server *srv;
    pthread_mutex_t mu;
    int status; /* what to answer */
    int requests;
    char auth[256]; /* last Authorization header */
    char body[4096];
};

static void sink_handler(void *ud, const struct hd_http_req *req, struct hd_http_resp *resp)
{
    struct sink *s = ud;
    pthread_mutex_lock(&s->mu);
    s->requests++;
    const char *a = hd_http_header(req, "Authorization");
    snprintf(s->auth, sizeof(s->auth), "%s", a ? a : "");
    snprintf(s->body, sizeof(s->body), "%.*s", (int)req->body_len, req->body);
    resp->status = s->status;
    pthread_mutex_unlock(&s->mu);
    hd_buf_puts(&resp->body, resp->status < 300 ? "{\"ok\":true}" : "{\"error\":\"nope\"}");
}

/* ---- fixture ---- */

struct fx {
    char dir[64];
    struct hd_config cfg;
    struct hd_store *st;
    struct hd_api api;
    struct hd_tester *tester;
    struct hd_http_server *srv;
    uint16_t port;
    struct sink sink;
    char sink_url[128];
    int fake_disp;
};

struct reply {
    long status;
    char *body;
    char *headers;
    json_object *json;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    hd_buf_append(ud, p, sz * n);
    return sz * n;
}

static void reply_free(struct reply *r)
{
    free(r->body);
    free(r->headers);
    json_object_put(r->json);
    memset(r, 0, sizeof(*r));
}

static struct reply call(struct fx *f, const char *method, const char *path, const char *token,
                         const char *ctype, const char *body)
{
    struct reply r = {0};
    struct hd_buf b, h;
    hd_buf_init(&b, 0);
    hd_buf_init(&h, 0);
    char url[512], auth[256], ct[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)f->port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, auth);
    }
    snprintf(ct, sizeof(ct), "Content-Type: %s", ctype != NULL ? ctype : "application/json");
    hl = curl_slist_append(hl, ct);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* send "../" as written */
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    /* hd_buf_steal of a never-written buffer is not NUL-terminated. */
    r.body = b.len > 0 ? hd_buf_steal(&b, NULL) : strdup("");
    r.headers = h.len > 0 ? hd_buf_steal(&h, NULL) : strdup("");
    hd_buf_free(&b);
    hd_buf_free(&h);
    if (r.body[0] == '{') {
        r.json = hd_json_parse(r.body, strlen(r.body), NULL);
        assert_non_null(r.json);
    }
    return r;
}

static const char *err_message(const struct reply *r)
{
    json_object *e = hd_json_path(r->json, "errors.0.message");
    return e != NULL ? json_object_get_string(e) : "";
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct hd_err err = {0};
    hd_log_set_level(getenv("HD_TEST_VERBOSE") != NULL ? HD_LOG_DEBUG : HD_LOG_ERROR);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hd_test_api_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    hd_config_defaults(&f->cfg);
    hd_config_add_token(&f->cfg, "admin", "admintoken", HD_SCOPE_ADMIN);
    hd_config_add_token(&f->cfg, "falco", "ingesttoken", HD_SCOPE_INGEST);
    hd_config_add_token(&f->cfg, "viewer", "readtoken", HD_SCOPE_READ);
    f->cfg.max_backlog = 100;
    f->st = hd_store_open("sqlite", f->dir, &err);
    assert_non_null(f->st);
    assert_int_equal(hd_api_init(&f->api, f->st, (struct hd_dispatcher *)&f->fake_disp, &f->cfg), HD_OK);
    f->api.ready = 1;
    f->tester = hd_tester_new(HD_TESTS_MAX, &err);
    assert_non_null(f->tester);
    assert_int_equal(hd_tester_start(f->tester), HD_OK);
    f->api.tester = f->tester;
    struct hd_http_server_opts o = {.listen = "127.0.0.1:0", .max_body = 1 << 20};
    f->srv = hd_http_server_start(&o, hd_api_handle, &f->api, &err);
    assert_non_null(f->srv);
    f->port = hd_http_server_port(f->srv);
    pthread_mutex_init(&f->sink.mu, NULL);
    f->sink.status = 200;
    f->sink.srv = hd_http_server_start(&o, sink_handler, &f->sink, &err);
    assert_non_null(f->sink.srv);
    snprintf(f->sink_url, sizeof(f->sink_url), "http://127.0.0.1:%u/services/collector/raw",
             (unsigned)hd_http_server_port(f->sink.srv));
    fake_backlog = 0;
    n_wakeups = 0;
    n_changed = 0;
    *state = f;
    return 0;
}

static int sink_requests(struct fx *f)
{
    pthread_mutex_lock(&f->sink.mu);
    int n = f->sink.requests;
    pthread_mutex_unlock(&f->sink.mu);
    return n;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hd_tester_stop(f->tester);
    hd_http_server_stop(f->srv);
    hd_tester_free(f->tester);
    hd_http_server_stop(f->sink.srv);
    hd_api_destroy(&f->api);
    hd_store_close(f->st);
    hd_config_free(&f->cfg);
    pthread_mutex_destroy(&f->sink.mu);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- auth and routing ---- */

static void test_auth_and_routing(void **state)
{
    struct fx *f = *state;
    struct reply r = call(f, "GET", "/api/notificationChannels", NULL, NULL, NULL);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer"));
    assert_string_equal(json_object_get_string(hd_json_path(r.json, "errors.0.reason")), "Unauthorized");
    reply_free(&r);
    r = call(f, "GET", "/api/notificationChannels", "admintokeX", NULL, NULL);
    assert_int_equal(r.status, 401);
    assert_null(strstr(r.body, "admintokeX")); /* never echoed */
    reply_free(&r);
    r = call(f, "GET", "/api/notificationChannels", "admintoken", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"notificationChannels\":[]}");
    reply_free(&r);
    r = call(f, "GET", "/api/notificationChannels", "readtoken", NULL, NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    r = call(f, "POST", "/api/notificationChannels", "readtoken", NULL, "{}");
    assert_int_equal(r.status, 403);
    reply_free(&r);
    r = call(f, "GET", "/api/notificationChannels", "ingesttoken", NULL, NULL);
    assert_int_equal(r.status, 403);
    reply_free(&r);
    r = call(f, "GET", "/metrics", NULL, NULL, NULL);
    assert_int_equal(r.status, 401);
    reply_free(&r);
    r = call(f, "GET", "/metrics", "readtoken", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "text/plain; version=0.0.4"));
    assert_non_null(strstr(r.body, "herald_store_max_seq 0"));
    assert_non_null(strstr(r.body, "herald_channel_backlog"));
    reply_free(&r);
    r = call(f, "GET", "/healthz", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    reply_free(&r);
    r = call(f, "GET", "/api/nothing", "admintoken", NULL, NULL);
    assert_int_equal(r.status, 404);
    assert_string_equal(json_object_get_string(hd_json_path(r.json, "errors.0.reason")), "Not Found");
    reply_free(&r);
    r = call(f, "PATCH", "/api/notificationChannels/1", "admintoken", NULL, "{}");
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.headers, "Allow: GET, PUT, DELETE"));
    reply_free(&r);

    /* SIGHUP: the viewer token is gone, metrics become public. */
    struct hd_config nc;
    hd_config_defaults(&nc);
    hd_config_add_token(&nc, "admin", "admintoken", HD_SCOPE_ADMIN);
    nc.metrics_public = 1;
    assert_int_equal(hd_api_reconfigure(&f->api, &nc), HD_OK);
    hd_config_free(&nc);
    r = call(f, "GET", "/api/events", "readtoken", NULL, NULL);
    assert_int_equal(r.status, 401);
    reply_free(&r);
    r = call(f, "GET", "/metrics", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

/* ---- channels ---- */

static int64_t create_channel(struct fx *f, const char *name, const char *extra_opts)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"notificationChannel\":{\"id\":null,\"version\":null,\"createdOn\":null,\"modifiedOn\":null,"
             "\"teamId\":42,\"type\":\"WEBHOOK\",\"enabled\":true,\"name\":\"%s\",\"options\":{"
             "\"notifyOnOk\":true,"
             "\"url\":\"%s\",\"additionalHeaders\":{\"Authorization\":\"Splunk s3cr3t\"}%s}}}",
             name, f->sink_url, extra_opts);
    struct reply r = call(f, "POST", "/api/notificationChannels", "admintoken", NULL, body);
    assert_int_equal(r.status, 201);
    int64_t id = 0;
    assert_true(hd_json_get_i64(hd_json_path(r.json, "notificationChannel"), "id", &id));
    reply_free(&r);
    return id;
}

static void test_channel_lifecycle(void **state)
{
    struct fx *f = *state;
    int changed0 = n_changed;
    int64_t id = create_channel(f, "Splunk", "");
    assert_true(id > 0);
    assert_int_equal(n_changed, changed0 + 1);

    char path[128];
    snprintf(path, sizeof(path), "/api/notificationChannels/%lld", (long long)id);
    struct reply r = call(f, "GET", path, "readtoken", NULL, NULL);
    assert_int_equal(r.status, 200);
    json_object *ch = hd_json_path(r.json, "notificationChannel");
    int64_t v = 0;
    assert_true(hd_json_get_i64(ch, "version", &v));
    assert_int_equal(v, 1);
    assert_true(hd_json_get_i64(ch, "teamId", &v));
    assert_int_equal(v, 42);
    assert_true(hd_json_get_i64(ch, "createdOn", &v) && v > 1500000000000LL);
    assert_string_equal(json_object_get_string(hd_json_path(ch, "options.additionalHeaders.Authorization")),
                        "********");
    assert_null(strstr(r.body, "s3cr3t"));
    /* GET -> PUT back with the mask, as in the article. */
    json_object_object_add(ch, "name", json_object_new_string("Splunk prod"));
    json_object *env = json_object_new_object();
    json_object_object_add(env, "notificationChannel", json_object_get(ch));
    char *put = strdup(json_object_to_json_string(env));
    reply_free(&r);

    r = call(f, "PUT", path, "admintoken", NULL, put);
    assert_int_equal(r.status, 200);
    assert_true(hd_json_get_i64(hd_json_path(r.json, "notificationChannel"), "version", &v));
    assert_int_equal(v, 2);
    assert_string_equal(hd_json_get_str(hd_json_path(r.json, "notificationChannel"), "name"), "Splunk prod");
    reply_free(&r);
    /* Same body again: version 1 is stale now. */
    r = call(f, "PUT", path, "admintoken", NULL, put);
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(err_message(&r), "version"));
    reply_free(&r);
    free(put);
    json_object_put(env);

    r = call(f, "PUT", path, "admintoken", NULL,
             "{\"notificationChannel\":{\"type\":\"WEBHOOK\",\"name\":\"x\"}}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(err_message(&r), "version: required"));
    reply_free(&r);

    /* The kept secret reaches the sink. */
    snprintf(path, sizeof(path), "/api/notificationChannels/%lld/test", (long long)id);
    r = call(f, "POST", path, "admintoken", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_object_get_boolean(hd_json_path(r.json, "result.delivered")));
    reply_free(&r);
    assert_int_equal(f->sink.requests, 1);
    assert_string_equal(f->sink.auth, "Splunk s3cr3t");
    /* A failing sink: 502 with the envelope naming the status. */
    f->sink.status = 401;
    r = call(f, "POST", path, "admintoken", NULL, NULL);
    assert_int_equal(r.status, 502);
    assert_non_null(strstr(err_message(&r), "test notification failed: HTTP 401"));
    assert_false(json_object_get_boolean(hd_json_path(r.json, "result.delivered")));
    reply_free(&r);

    /* Duplicate name. */
    r = call(f, "POST", "/api/notificationChannels", "admintoken", NULL,
             "{\"notificationChannel\":{\"type\":\"WEBHOOK\",\"name\":\"Splunk prod\","
             "\"options\":{\"url\":\"http://127.0.0.1:1/x\"}}}");
    assert_int_equal(r.status, 409);
    reply_free(&r);

    r = call(f, "GET", "/api/notificationChannels", "admintoken", NULL, NULL);
    assert_int_equal(json_object_array_length(hd_json_path(r.json, "notificationChannels")), 1);
    reply_free(&r);

    snprintf(path, sizeof(path), "/api/notificationChannels/%lld", (long long)id);
    r = call(f, "DELETE", path, "admintoken", NULL, NULL);
    assert_int_equal(r.status, 204);
    assert_string_equal(r.body, "");
    reply_free(&r);
    r = call(f, "GET", path, "admintoken", NULL, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = call(f, "DELETE", path, "admintoken", NULL, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = call(f, "GET", "/api/notificationChannels/abc", "admintoken", NULL, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
}

static void test_channel_validation_and_send_test(void **state)
{
    struct fx *f = *state;
    struct reply r = call(f, "POST", "/api/notificationChannels", "admintoken", NULL, "{\"name\":\"x\"}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(err_message(&r), "notificationChannel: required"));
    reply_free(&r);
    r = call(f, "POST", "/api/notificationChannels", "admintoken", NULL, "{\"notificationChannel\":");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = call(f, "POST", "/api/notificationChannels", "admintoken", NULL,
             "{\"notificationChannel\":{\"type\":\"WEBHOOK\",\"name\":\"bad\",\"options\":{\"url\":\"not a "
             "url\"}}}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(err_message(&r), "options.url"));
    reply_free(&r);

    /* sendTestNotification inside options: one test after storing, stored as false. */
    int64_t id = create_channel(f, "with-test", ",\"sendTestNotification\":true");
    /* sent by the tester's thread, after the answer: wait for it (bounded) */
    for (int i = 0; i < 500 && sink_requests(f) < 1; i++) {
        usleep(10000);
    }
    assert_int_equal(sink_requests(f), 1);
    char path[128];
    snprintf(path, sizeof(path), "/api/notificationChannels/%lld", (long long)id);
    r = call(f, "GET", path, "admintoken", NULL, NULL);
    assert_false(
        json_object_get_boolean(hd_json_path(r.json, "notificationChannel.options.sendTestNotification")));
    reply_free(&r);

    /* Replay: 202 with a count. */
    snprintf(path, sizeof(path), "/api/notificationChannels/%lld/replay?from=0", (long long)id);
    r = call(f, "POST", path, "admintoken", NULL, NULL);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, "{\"queued\":0}");
    reply_free(&r);
    snprintf(path, sizeof(path), "/api/notificationChannels/%lld/replay?from=junk", (long long)id);
    r = call(f, "POST", path, "admintoken", NULL, NULL);
    assert_int_equal(r.status, 400);
    reply_free(&r);
}

/* ---- events ---- */

static char *fixture(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", HD_FIXTURES, rel);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    struct hd_buf b;
    hd_buf_init(&b, 0);
    char chunk[4096];
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), fp);
        if (n == 0) {
            break;
        }
        hd_buf_append(&b, chunk, n);
    }
    fclose(fp);
    return hd_buf_steal(&b, NULL);
}

static void test_events_ingest_and_query(void **state)
{
    struct fx *f = *state;
    int64_t chid = create_channel(f, "sink", "");
    char *doc = fixture("sysdig/sysdig_monitor_webhook_metric_alert_active.json");
    struct reply r = call(f, "POST", "/api/events", "ingesttoken", NULL, doc);
    assert_int_equal(r.status, 202);
    int64_t n = 0;
    assert_true(hd_json_get_i64(r.json, "accepted", &n));
    assert_int_equal(n, 1);
    char id[64];
    snprintf(id, sizeof(id), "%s", json_object_get_string(hd_json_path(r.json, "ids.0")));
    assert_int_equal(strlen(id), 32);
    reply_free(&r);
    assert_int_equal(n_wakeups, 1);
    int64_t seq = f->st->ops->max_seq(f->st);
    assert_true(seq > 0);
    /* Same document again: same id, stored once. */
    r = call(f, "POST", "/api/events?format=sysdig", "ingesttoken", "application/json; charset=utf-8", doc);
    assert_int_equal(r.status, 202);
    assert_string_equal(json_object_get_string(hd_json_path(r.json, "ids.0")), id);
    reply_free(&r);
    assert_int_equal(f->st->ops->max_seq(f->st), seq);

    /* Rejections store nothing. */
    r = call(f, "POST", "/api/events", "ingesttoken", "application/xml", doc);
    assert_int_equal(r.status, 415);
    assert_non_null(strstr(err_message(&r), "application/xml"));
    reply_free(&r);
    r = call(f, "POST", "/api/events", "ingesttoken", NULL, "{\"a\":1}\n{\"b\":");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = call(f, "POST", "/api/events", "ingesttoken", NULL, "  \n");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = call(f, "POST", "/api/events?format=nope", "ingesttoken", NULL, doc);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(err_message(&r), "format"));
    reply_free(&r);
    fake_backlog = 101;
    r = call(f, "POST", "/api/events", "ingesttoken", NULL, doc);
    assert_int_equal(r.status, 429);
    assert_non_null(strstr(r.headers, "Retry-After: 5"));
    reply_free(&r);
    /* A backlog is no reason to be not ready (SPEC 4): ingest says 429. */
    r = call(f, "GET", "/readyz", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    fake_backlog = 0;
    assert_int_equal(f->st->ops->max_seq(f->st), seq);
    assert_true(hd_metrics_get("herald_events_rejected_total", "source=\"auto\",reason=\"content_type\"") >=
                1);
    assert_true(hd_metrics_get("herald_events_rejected_total", "source=\"auto\",reason=\"backlog\"") >= 1);

    /* Query. */
    r = call(f, "GET", "/api/events?limit=10&severity=7", "readtoken", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_object_array_length(hd_json_path(r.json, "events")), 1);
    assert_string_equal(json_object_get_string(hd_json_path(r.json, "events.0.id")), id);
    assert_non_null(hd_json_path(r.json, "events.0.raw"));
    reply_free(&r);
    r = call(f, "GET", "/api/events?state=ok", "readtoken", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_object_array_length(hd_json_path(r.json, "events")), 0);
    reply_free(&r);
    r = call(f, "GET", "/api/events?severity=9", "readtoken", NULL, NULL);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = call(f, "GET", "/api/events?from=-1h", "readtoken", NULL, NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);

    char path[128];
    snprintf(path, sizeof(path), "/api/events/%s", id);
    r = call(f, "GET", path, "readtoken", NULL, NULL);
    assert_int_equal(r.status, 200);
    json_object *ev = hd_json_path(r.json, "event");
    assert_string_equal(hd_json_get_str(ev, "id"), id);
    assert_non_null(hd_json_path(ev, "raw.alert"));
    json_object *dl = hd_json_path(ev, "deliveries");
    assert_non_null(dl);
    /* The channel was created before the event: it is listed, pending. */
    assert_int_equal(json_object_array_length(dl), 1);
    int64_t got = 0;
    assert_true(hd_json_get_i64(json_object_array_get_idx(dl, 0), "channelId", &got));
    assert_int_equal(got, chid);
    assert_string_equal(hd_json_get_str(json_object_array_get_idx(dl, 0), "status"), "pending");
    reply_free(&r);
    r = call(f, "GET", "/api/events/00000000000000000000000000000000", "readtoken", NULL, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);

    r = call(f, "GET", "/api/stats?groupBy=severity&interval=1h", "readtoken", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(hd_json_get_i64(r.json, "total", &n));
    assert_int_equal(n, 1);
    reply_free(&r);
    free(doc);
}

static void test_deliveries(void **state)
{
    struct fx *f = *state;
    struct reply r = call(f, "GET", "/api/deliveries?status=failed", "readtoken", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"deliveries\":[]}");
    reply_free(&r);
    r = call(f, "GET", "/api/deliveries?status=delivered", "readtoken", NULL, NULL);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = call(f, "GET", "/api/deliveries?status=bogus", "readtoken", NULL, NULL);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = call(f, "POST", "/api/deliveries/12345/retry", "admintoken", NULL, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = call(f, "POST", "/api/deliveries/retry", "admintoken", NULL, NULL);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    int64_t id = create_channel(f, "dl", "");
    char path[128];
    snprintf(path, sizeof(path), "/api/deliveries/retry?channelId=%lld", (long long)id);
    r = call(f, "POST", path, "admintoken", NULL, NULL);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, "{\"retried\":0}");
    reply_free(&r);
    snprintf(path, sizeof(path), "/api/deliveries?status=delivered&channelId=%lld", (long long)id);
    r = call(f, "GET", path, "readtoken", NULL, NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

/* ---- dashboard files ---- */

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_static(void **state)
{
    struct fx *f = *state;
    struct reply r = call(f, "GET", "/", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "not built"));
    assert_non_null(strstr(r.headers, "Content-Security-Policy: default-src 'self'"));
    const char *ns = strstr(r.headers, "X-Content-Type-Options: nosniff");
    assert_non_null(ns);
    assert_null(strstr(ns + 1, "X-Content-Type-Options")); /* once: the server adds it to every answer */
    reply_free(&r);

    char web[128], p[192];
    snprintf(web, sizeof(web), "%s/web", f->dir);
    mkdir(web, 0700);
    snprintf(p, sizeof(p), "%s/assets", web);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/index.html", web);
    write_file(p, "<html>dash</html>");
    snprintf(p, sizeof(p), "%s/assets/app.js", web);
    write_file(p, "console.log(1)");
    snprintf(p, sizeof(p), "%s/secret.txt", f->dir);
    write_file(p, "nope");
    f->api.web_dir = web;

    r = call(f, "GET", "/", NULL, NULL, NULL);
    assert_string_equal(r.body, "<html>dash</html>");
    assert_non_null(strstr(r.headers, "text/html"));
    reply_free(&r);
    r = call(f, "GET", "/assets/app.js", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "console.log(1)");
    assert_non_null(strstr(r.headers, "text/javascript"));
    reply_free(&r);
    r = call(f, "GET", "/assets/../../secret.txt", NULL, NULL, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = call(f, "GET", "/assets/%2e%2e/%2e%2e/secret.txt", NULL, NULL, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = call(f, "GET", "/assets/missing.js", NULL, NULL, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    f->api.web_dir = NULL;

    f->api.ready = 0;
    r = call(f, "GET", "/readyz", NULL, NULL, NULL);
    assert_int_equal(r.status, 503);
    assert_string_equal(hd_json_get_str(r.json, "status"), "not ready");
    reply_free(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth_and_routing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_validation_and_send_test, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_ingest_and_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliveries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
