/* test_http_client.c - hd_http_client / hd_http_sync against a canned local server.
 *
 * The server is one thread with a listening socket on 127.0.0.1:0. It serves
 * one connection at a time (keep-alive: many requests per connection), answers
 * each request with the next scripted response and counts accepts, so the
 * tests can check connection reuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>

#include "core/err.h"
#include "core/util.h"
#include "mini_server.h"
#include "net/http_client.h"

#define MAX_SCRIPT 8

struct canned {
    char *head;      /* status line + headers, without Content-Length and blank line */
    size_t body_len; /* body of body_len bytes of body_byte */
    char body_byte;
    const char *body; /* or this text, if not NULL */
    int delay_ms;
};

struct srv {
    int lfd;
    int port;
    pthread_t th;
    atomic_int stop;
    pthread_mutex_t mu;
    struct canned script[MAX_SCRIPT];
    size_t n_script;
    size_t next;
    int accepts;
    int requests;
    char last_req[8192];
};

static void answer(struct srv *s, int fd)
{
    struct canned c = {.head = "HTTP/1.1 200 OK", .body = "ok"};
    pthread_mutex_lock(&s->mu);
    if (s->next < s->n_script) {
        c = s->script[s->next++];
    }
    pthread_mutex_unlock(&s->mu);
    if (c.delay_ms > 0) {
        ms_sleep_ms(c.delay_ms);
    }
    size_t blen = c.body != NULL ? strlen(c.body) : c.body_len;
    char head[1024];
    int hl = snprintf(head, sizeof(head), "%s\r\nContent-Length: %zu\r\n\r\n", c.head, blen);
    ms_send_all(fd, head, (size_t)hl);
    if (c.body != NULL) {
        ms_send_all(fd, c.body, blen);
    } else if (blen > 0) {
        char *b = malloc(blen);
        memset(b, c.body_byte, blen);
        ms_send_all(fd, b, blen);
        free(b);
    }
}

/* Reads requests on one connection until the peer closes it. */
static void serve_conn(struct srv *s, int fd)
{
    char buf[65536];
    size_t len = 0;
    for (;;) {
        size_t need = ms_next_request(&s->stop, fd, buf, sizeof(buf), &len, NULL);
        if (need == 0) {
            break;
        }
        pthread_mutex_lock(&s->mu);
        size_t keep = need < sizeof(s->last_req) - 1 ? need : sizeof(s->last_req) - 1;
        memcpy(s->last_req, buf, keep);
        s->last_req[keep] = '\0';
        s->requests++;
        pthread_mutex_unlock(&s->mu);
        answer(s, fd);
        ms_consume(buf, &len, need);
    }
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    while (ms_wait_readable(&s->stop, s->lfd)) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        pthread_mutex_lock(&s->mu);
        s->accepts++;
        pthread_mutex_unlock(&s->mu);
        serve_conn(s, fd);
        close(fd);
    }
    return NULL;
}

static struct srv *srv_start(void)
{
    struct srv *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = ms_listen(8, &s->port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
    return s;
}

static void srv_script(struct srv *s, const char *head, const char *body, int delay_ms)
{
    pthread_mutex_lock(&s->mu);
    s->script[s->n_script++] = (struct canned){.head = (char *)head, .body = body, .delay_ms = delay_ms};
    pthread_mutex_unlock(&s->mu);
}

static void srv_stop(struct srv *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void make_req(struct hd_request *r, const struct srv *s, const char *path, const char *body)
{
    char url[128];
    hd_request_init(r);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
    r->url = strdup(url);
    if (body != NULL) {
        assert_int_equal(hd_buf_puts(&r->body, body), HD_OK);
    }
    r->timeout_ms = 5000;
}

/* Drives the multi client until one transfer finishes. */
static void *run_one(struct hd_http_client *c, struct hd_response *resp)
{
    void *ud = NULL;
    int64_t deadline = hd_mono_ms() + 10000;
    while (hd_http_client_done(c, &ud, resp) == 0) {
        assert_true(hd_mono_ms() < deadline);
        assert_int_equal(hd_http_client_poll(c, 200), HD_OK);
    }
    return ud;
}

static void test_sync_status_and_body(void **state)
{
    struct srv *s = srv_start();
    srv_script(s, "HTTP/1.1 201 Created\r\nContent-Type: text/plain", "hello there", 0);
    struct hd_request r;
    struct hd_response resp;
    make_req(&r, s, "/hook", "{\"a\":1}");
    assert_int_equal(hd_request_add_header(&r, "X-Token", "s3cr3t"), HD_OK);
    assert_int_equal(hd_request_add_header(&r, "Content-Type", "application/json"), HD_OK);
    assert_int_equal(hd_http_sync(&r, &resp), HD_OK);
    assert_int_equal(resp.status, 201);
    assert_string_equal(resp.body.p, "hello there");
    assert_int_equal(resp.retry_after_ms, -1);
    assert_true(resp.elapsed_us > 0);
    assert_non_null(strstr(s->last_req, "POST /hook HTTP/1.1\r\n"));
    assert_non_null(strstr(s->last_req, "\r\nX-Token: s3cr3t\r\n"));
    assert_non_null(strstr(s->last_req, "\r\n\r\n{\"a\":1}"));
    assert_null(strcasestr(s->last_req, "Expect:"));
    hd_response_clear(&resp);
    hd_request_clear(&r);

    /* PUT sends the body with the custom method. */
    make_req(&r, s, "/put", "xyz");
    r.method = "PUT";
    assert_int_equal(hd_http_sync(&r, &resp), HD_OK);
    assert_int_equal(resp.status, 200);
    assert_non_null(strstr(s->last_req, "PUT /put HTTP/1.1\r\n"));
    assert_non_null(strstr(s->last_req, "\r\n\r\nxyz"));
    hd_response_clear(&resp);
    hd_request_clear(&r);
    srv_stop(s);
}

static void test_multi_keepalive_reuse(void **state)
{
    struct srv *s = srv_start();
    srv_script(s, "HTTP/1.1 200 OK", "one", 0);
    srv_script(s, "HTTP/1.1 202 Accepted", "two", 0);
    srv_script(s, "HTTP/1.1 500 Internal Server Error", "three", 0);
    struct hd_http_client *c = hd_http_client_new();
    assert_non_null(c);
    static const long want_status[] = {200, 202, 500};
    static const char *const want_body[] = {"one", "two", "three"};
    int tags[3];
    for (int i = 0; i < 3; i++) {
        struct hd_request r;
        struct hd_response resp;
        make_req(&r, s, "/k", "body");
        assert_int_equal(hd_http_client_submit(c, &r, &tags[i]), HD_OK);
        assert_null(r.url); /* consumed */
        assert_int_equal(hd_http_client_active(c), 1);
        assert_ptr_equal(run_one(c, &resp), &tags[i]);
        assert_int_equal(resp.status, want_status[i]);
        assert_string_equal(resp.body.p, want_body[i]);
        assert_int_equal(hd_http_client_active(c), 0);
        hd_response_clear(&resp);
    }
    pthread_mutex_lock(&s->mu);
    assert_int_equal(s->requests, 3);
    assert_int_equal(s->accepts, 1);
    pthread_mutex_unlock(&s->mu);
    hd_http_client_free(c);
    srv_stop(s);
}

static void test_retry_after_seconds(void **state)
{
    struct srv *s = srv_start();
    srv_script(s, "HTTP/1.1 503 Service Unavailable\r\nretry-after:  7 ", "busy", 0);
    struct hd_http_client *c = hd_http_client_new();
    struct hd_request r;
    struct hd_response resp;
    make_req(&r, s, "/", "x");
    assert_int_equal(hd_http_client_submit(c, &r, NULL), HD_OK);
    run_one(c, &resp);
    assert_int_equal(resp.status, 503);
    assert_int_equal(resp.retry_after_ms, 7000);
    hd_response_clear(&resp);
    hd_http_client_free(c);
    srv_stop(s);
}

static void test_retry_after_date(void **state)
{
    struct srv *s = srv_start();
    char head[256];
    char date[64];
    time_t t = time(NULL) + 120;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(head, sizeof(head), "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %s", date);
    srv_script(s, head, "slow down", 0);
    struct hd_request r;
    struct hd_response resp;
    make_req(&r, s, "/", "x");
    assert_int_equal(hd_http_sync(&r, &resp), HD_OK);
    assert_int_equal(resp.status, 429);
    assert_true(resp.retry_after_ms > 117000 && resp.retry_after_ms <= 120000);
    hd_response_clear(&resp);
    hd_request_clear(&r);
    srv_stop(s);
}

static void test_parse_retry_after(void **state)
{
    assert_int_equal(hd_parse_retry_after("0"), 0);
    assert_int_equal(hd_parse_retry_after(" 5\r\n"), 5000);
    assert_int_equal(hd_parse_retry_after("junk"), -1);
    assert_int_equal(hd_parse_retry_after(""), -1);
    assert_int_equal(hd_parse_retry_after(NULL), -1);
    assert_int_equal(hd_parse_retry_after("-3"), -1);
    assert_int_equal(hd_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 0); /* past */
    assert_true(hd_parse_retry_after("99999999999999999999") > 0);              /* capped, no overflow */
}

static void test_timeout_is_status_0(void **state)
{
    struct srv *s = srv_start();
    srv_script(s, "HTTP/1.1 200 OK", "late", 1500);
    struct hd_http_client *c = hd_http_client_new();
    struct hd_request r;
    struct hd_response resp;
    make_req(&r, s, "/", "x");
    r.timeout_ms = 200;
    int64_t t0 = hd_mono_ms();
    assert_int_equal(hd_http_client_submit(c, &r, NULL), HD_OK);
    run_one(c, &resp);
    assert_int_equal(resp.status, 0);
    assert_true(resp.error[0] != '\0');
    assert_non_null(strstr(resp.error, "imeout"));
    assert_true(hd_mono_ms() - t0 < 1400);
    hd_response_clear(&resp);
    hd_http_client_free(c);
    srv_stop(s);
}

static void test_refused_is_status_0_without_secrets(void **state)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd); /* nobody listens on that port now */

    struct hd_request r;
    struct hd_response resp;
    char url[128];
    hd_request_init(&r);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ntohs(a.sin_port));
    r.url = strdup(url);
    assert_int_equal(hd_request_add_header(&r, "Authorization", "Bearer TOPSECRET"), HD_OK);
    assert_int_equal(hd_http_sync(&r, &resp), HD_OK);
    assert_int_equal(resp.status, 0);
    assert_true(resp.error[0] != '\0');
    assert_null(strstr(resp.error, "TOPSECRET"));
    hd_response_clear(&resp);

    /* Same through the multi client. */
    struct hd_http_client *c = hd_http_client_new();
    assert_int_equal(hd_http_client_submit(c, &r, NULL), HD_OK);
    run_one(c, &resp);
    assert_int_equal(resp.status, 0);
    assert_null(strstr(resp.error, "TOPSECRET"));
    hd_response_clear(&resp);
    hd_http_client_free(c);
}

static void test_body_capped(void **state)
{
    struct srv *s = srv_start();
    pthread_mutex_lock(&s->mu);
    s->script[s->n_script++] =
        (struct canned){.head = "HTTP/1.1 200 OK", .body_len = 2 * 1024 * 1024, .body_byte = 'z'};
    pthread_mutex_unlock(&s->mu);
    struct hd_request r;
    struct hd_response resp;
    make_req(&r, s, "/", "x");
    assert_int_equal(hd_http_sync(&r, &resp), HD_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, 1024 * 1024);
    assert_int_equal(resp.body.p[resp.body.len - 1], 'z');
    hd_response_clear(&resp);
    hd_request_clear(&r);
    srv_stop(s);
}

static void test_headers_validated(void **state)
{
    struct hd_request r;
    hd_request_init(&r);
    assert_int_equal(hd_request_add_header(&r, "X-A", "v\r\nInjected: 1"), HD_EINVAL);
    assert_int_equal(hd_request_add_header(&r, "Bad Name", "v"), HD_EINVAL);
    assert_int_equal(hd_request_add_header(&r, "", "v"), HD_EINVAL);
    for (int i = 0; i < HD_REQ_MAX_HEADERS; i++) {
        assert_int_equal(hd_request_add_header(&r, "X-N", "v"), HD_OK);
    }
    assert_int_equal(hd_request_add_header(&r, "X-N", "v"), HD_ETOOBIG);
    assert_string_equal(r.headers[0], "X-N: v");
    hd_request_clear(&r);
    assert_int_equal(r.n_headers, 0);

    /* No URL: submit fails and still consumes the request. */
    struct hd_http_client *c = hd_http_client_new();
    hd_request_init(&r);
    assert_int_equal(hd_buf_puts(&r.body, "x"), HD_OK);
    assert_int_equal(hd_http_client_submit(c, &r, NULL), HD_EINVAL);
    assert_null(r.body.p);
    assert_int_equal(hd_http_client_active(c), 0);
    hd_http_client_free(c);
    hd_http_client_free(NULL);
}

static void *wake_later(void *arg)
{
    ms_sleep_ms(100);
    hd_http_client_wakeup(arg);
    return NULL;
}

static void test_wakeup_interrupts_poll(void **state)
{
    struct hd_http_client *c = hd_http_client_new();
    pthread_t th;
    int64_t t0 = hd_mono_ms();
    assert_int_equal(pthread_create(&th, NULL, wake_later, c), 0);
    assert_int_equal(hd_http_client_poll(c, 5000), HD_OK);
    assert_true(hd_mono_ms() - t0 < 3000);
    pthread_join(th, NULL);
    hd_http_client_free(c);
}

static void test_free_with_transfer_in_flight(void **state)
{
    struct srv *s = srv_start();
    srv_script(s, "HTTP/1.1 200 OK", "late", 300);
    struct hd_http_client *c = hd_http_client_new();
    struct hd_request r;
    make_req(&r, s, "/", "x");
    assert_int_equal(hd_http_client_submit(c, &r, NULL), HD_OK);
    assert_int_equal(hd_http_client_poll(c, 50), HD_OK);
    assert_int_equal(hd_http_client_active(c), 1);
    hd_http_client_free(c); /* must not leak or crash */
    srv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_status_and_body),
        cmocka_unit_test(test_multi_keepalive_reuse),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_date),
        cmocka_unit_test(test_parse_retry_after),
        cmocka_unit_test(test_timeout_is_status_0),
        cmocka_unit_test(test_refused_is_status_0_without_secrets),
        cmocka_unit_test(test_body_capped),
        cmocka_unit_test(test_headers_validated),
        cmocka_unit_test(test_wakeup_interrupts_poll),
        cmocka_unit_test(test_free_with_transfer_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
