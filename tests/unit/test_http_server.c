/* test_http_server.c - the libmicrohttpd listener over real sockets (libcurl
 * as the client): body accumulation, the 413 cap (declared and chunked),
 * query/header lookup, response headers, the error envelope, quiesce. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "net/http_server.h"

struct reply {
    long status;
    struct hd_buf body;
    struct hd_buf headers;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    hd_buf_append(ud, p, sz * n);
    return sz * n;
}

/* One request; chunked = send the body with Transfer-Encoding: chunked. */
static CURLcode request(uint16_t port, const char *method, const char *path, const char *hdr,
                        const char *body, size_t body_len, int chunked, struct reply *r)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
    hd_buf_init(&r->body, 0);
    hd_buf_init(&r->headers, 0);
    CURL *h = curl_easy_init();
    struct curl_slist *hl = NULL;
    if (hdr != NULL) {
        hl = curl_slist_append(hl, hdr);
    }
    hl = curl_slist_append(hl, "Expect:");
    if (chunked) {
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        if (!chunked) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
        }
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return rc;
}

static void reply_free(struct reply *r)
{
    hd_buf_free(&r->body);
    hd_buf_free(&r->headers);
}

/* Echo handler: {"method","path","len","q","hdr"} and an X-Echo header;
 * /nocontent answers 204, /fail answers an error with quotes in it. */
static void echo(void *ud, const struct hd_http_req *req, struct hd_http_resp *resp)
{
    int *calls = ud;
    (*calls)++;
    if (strcmp(req->path, "/nocontent") == 0) {
        resp->route = "/nocontent";
        resp->status = 204;
        return;
    }
    if (strcmp(req->path, "/fail") == 0) {
        hd_http_error(resp, 400, "field \"%s\": bad\nvalue", "x");
        return;
    }
    const char *q = hd_http_query(req, "q");
    const char *hdr = hd_http_header(req, "x-test");
    hd_buf_printf(&resp->body, "{\"method\":\"%s\",\"path\":\"%s\",\"len\":%zu,\"q\":\"%s\",\"hdr\":\"%s\"}",
                  req->method, req->path, req->body_len, q ? q : "", hdr ? hdr : "");
    resp->status = 201;
    hd_http_resp_header(resp, "X-Echo", "yes");
}

struct fixture {
    struct hd_http_server *srv;
    int calls;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct hd_err err = {0};
    struct hd_http_server_opts o = {.listen = "127.0.0.1:0", .max_body = 1000};
    f->srv = hd_http_server_start(&o, echo, &f->calls, &err);
    assert_non_null(f->srv);
    assert_true(hd_http_server_port(f->srv) > 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    hd_http_server_stop(f->srv);
    free(f);
    return 0;
}

static void test_echo_body_query_header(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    char body[1000];
    memset(body, 'a', sizeof(body));
    /* Exactly max_body is accepted. */
    assert_int_equal(request(hd_http_server_port(f->srv), "POST", "/x/y?q=a%20b", "X-Test: hello", body,
                             sizeof(body), 0, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 201);
    assert_string_equal(
        r.body.p, "{\"method\":\"POST\",\"path\":\"/x/y\",\"len\":1000,\"q\":\"a b\",\"hdr\":\"hello\"}");
    assert_non_null(strstr(r.headers.p, "X-Echo: yes"));
    assert_non_null(strstr(r.headers.p, "Content-Type: application/json"));
    reply_free(&r);
    assert_int_equal(f->calls, 1);
}

static void test_413_declared(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    char body[1001];
    memset(body, 'a', sizeof(body));
    request(hd_http_server_port(f->srv), "POST", "/x", NULL, body, sizeof(body), 0, &r);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body.p, "Too Large\",\"message\":"));
    assert_non_null(strstr(r.body.p, "1000 bytes"));
    reply_free(&r);
    assert_int_equal(f->calls, 0); /* the handler never saw it */
}

static void test_413_chunked(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    size_t n = 5000;
    char *body = malloc(n + 1);
    memset(body, 'b', n);
    body[n] = '\0';
    request(hd_http_server_port(f->srv), "POST", "/x", NULL, body, n, 1, &r);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    free(body);
    assert_int_equal(f->calls, 0);
    /* A small chunked body is accumulated whole. */
    request(hd_http_server_port(f->srv), "POST", "/x", NULL, "{\"k\":1}", 7, 1, &r);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body.p, "\"len\":7"));
    reply_free(&r);
}

static void test_error_envelope_and_204(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    request(hd_http_server_port(f->srv), "GET", "/fail", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 400);
    json_object *o = json_tokener_parse(r.body.p);
    assert_non_null(o);
    json_object *errs = json_object_object_get(o, "errors");
    json_object *e0 = json_object_array_get_idx(errs, 0);
    assert_string_equal(json_object_get_string(json_object_object_get(e0, "reason")), "Bad Request");
    assert_string_equal(json_object_get_string(json_object_object_get(e0, "message")),
                        "field \"x\": bad\nvalue");
    json_object_put(o);
    reply_free(&r);

    request(hd_http_server_port(f->srv), "DELETE", "/nocontent", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body.len, 0);
    reply_free(&r);
    /* Labelled by the route the handler set, else "other"; timed by route. */
    assert_true(hd_metrics_get("herald_http_requests_total", "route=\"/nocontent\",code=\"204\"") >= 1);
    assert_true(hd_metrics_get("herald_http_requests_total", "route=\"other\",code=\"400\"") >= 1);
    assert_true(hd_metrics_get("herald_http_request_duration_seconds", "route=\"/nocontent\"") >= 1);
}

static void test_quiesce(void **state)
{
    struct fixture *f = *state;
    uint16_t port = hd_http_server_port(f->srv);
    hd_http_server_quiesce(f->srv);
    struct reply r;
    CURLcode rc = request(port, "GET", "/x", NULL, NULL, 0, 0, &r);
    assert_int_equal(rc, CURLE_OK); /* answered at once: stopping */
    assert_int_equal(r.status, 503);
    reply_free(&r);
}

static void test_bad_listen(void **state)
{
    struct hd_err err = {0};
    struct hd_http_server_opts o = {.listen = "127.0.0.1:99999", .max_body = 10};
    int calls = 0;
    assert_null(hd_http_server_start(&o, echo, &calls, &err));
    assert_non_null(strstr(err.msg, "port"));
    o.listen = "nohostport";
    assert_null(hd_http_server_start(&o, echo, &calls, &err));
    assert_non_null(strstr(err.msg, "HOST:PORT"));
    o.listen = "127.0.0.1:0";
    o.tls_cert_file = "/nonexistent/cert.pem";
    o.tls_key_file = "/nonexistent/key.pem";
    assert_null(hd_http_server_start(&o, echo, &calls, &err));
    assert_non_null(strstr(err.msg, "tls.certFile"));
}

/* HTTPS with a throwaway self-signed certificate (skipped without openssl). */
static void test_tls(void **state)
{
    char dir[] = "/tmp/hd_test_tls_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout %s/key.pem "
             "-out %s/cert.pem >/dev/null 2>&1",
             dir, dir);
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
        skip();
    }
    char cert[128], key[128];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    struct hd_err err = {0};
    int calls = 0;
    struct hd_http_server_opts o = {
        .listen = "127.0.0.1:0", .max_body = 100, .tls_cert_file = cert, .tls_key_file = key};
    struct hd_http_server *s = hd_http_server_start(&o, echo, &calls, &err);
    assert_non_null(s);
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/tls", (unsigned)hd_http_server_port(s));
    struct hd_buf body;
    hd_buf_init(&body, 0);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 201);
    assert_non_null(strstr(body.p, "\"path\":\"/tls\""));
    curl_easy_cleanup(h);
    hd_buf_free(&body);
    hd_http_server_stop(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo_body_query_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_413_declared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_413_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_envelope_and_204, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quiesce, setup, teardown),
        cmocka_unit_test(test_bad_listen),
        cmocka_unit_test(test_tls),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
