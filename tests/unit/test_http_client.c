/* test_http_client.c - hd_http_client / hd_http_sync against a canned local server,
 * hd_http_stream against a scripted streaming one (TCP and a unix socket).
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
#include <sys/un.h>

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

/* Submits a request whose body has size bytes and waits for its end. */
static void send_body_of(struct hd_http_client *c, struct srv *s, size_t size)
{
    struct hd_request r;
    struct hd_response resp;
    make_req(&r, s, "/k", NULL);
    assert_int_equal(hd_buf_reserve(&r.body, size), HD_OK);
    memset(r.body.p, 'x', size);
    r.body.len = size;
    r.body.p[r.body.len] = '\0';
    assert_int_equal(hd_http_client_submit(c, &r, NULL), HD_OK);
    run_one(c, &resp);
    if (size < 60000) { /* the test server drops larger ones (over its buffer): kept or not, all the same */
        assert_int_equal(resp.status, 200);
    }
    hd_response_clear(&resp);
}

/* Takes the kept bodies; returns how many there were. */
static size_t take_bodies(struct hd_http_client *c, struct hd_buf *got, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < max; i++) {
        hd_buf_init(&got[i], 0);
        hd_http_client_body(c, &got[i]);
        if (got[i].p != NULL) {
            assert_int_equal(got[i].len, 0);
            assert_int_equal(got[i].max, 0);
            n++;
        }
    }
    return n;
}

/* Finished bodies are kept for the next render: two at most, of which at
 * most one over 1 MiB, none over 8 MiB. They come back empty, limit
 * cleared; a body that is not empty is left alone; a request rendered into
 * a reused buffer sends only its own bytes. */
static void test_body_reused(void **state)
{
    struct srv *s = srv_start();
    struct hd_http_client *c = hd_http_client_new();
    assert_non_null(c);
    struct hd_buf got[3];
    assert_int_equal(take_bodies(c, got, 3), 0); /* nothing kept yet */

    send_body_of(c, s, 3000);
    send_body_of(c, s, 5000);
    send_body_of(c, s, 6000); /* two are kept already */
    assert_int_equal(take_bodies(c, got, 3), 2);
    for (size_t i = 0; i < 2; i++) {
        assert_true(got[i].cap > 3000 && got[i].cap <= 1024 * 1024);
        hd_buf_free(&got[i]);
    }

    send_body_of(c, s, 2 * 1024 * 1024);
    send_body_of(c, s, 3 * 1024 * 1024); /* a large one is kept already */
    send_body_of(c, s, 9 * 1024 * 1024); /* over 8 MiB: never kept */
    send_body_of(c, s, 4000);
    assert_int_equal(take_bodies(c, got, 3), 2);
    size_t large = 0;
    for (size_t i = 0; i < 2; i++) {
        large += got[i].cap > 1024 * 1024;
        assert_true(got[i].cap <= 8 * 1024 * 1024);
    }
    assert_int_equal(large, 1);
    assert_true(got[0].cap <= 1024 * 1024); /* the last kept comes first */
    hd_buf_free(&got[1]);

    struct hd_buf owned;
    hd_buf_init(&owned, 0);
    assert_int_equal(hd_buf_puts(&owned, "mine"), HD_OK);
    send_body_of(c, s, 3000);
    char *before = owned.p;
    hd_http_client_body(c, &owned);
    assert_ptr_equal(owned.p, before);
    assert_string_equal(owned.p, "mine");
    hd_buf_free(&owned);

    /* got[0] held 4,000 'x' before: only "short" goes out */
    struct hd_request r;
    struct hd_response resp;
    make_req(&r, s, "/reuse", NULL);
    r.body = got[0];
    assert_int_equal(hd_buf_puts(&r.body, "short"), HD_OK);
    assert_int_equal(hd_http_client_submit(c, &r, NULL), HD_OK);
    run_one(c, &resp);
    assert_int_equal(resp.status, 200);
    hd_response_clear(&resp);
    pthread_mutex_lock(&s->mu);
    assert_non_null(strstr(s->last_req, "POST /reuse HTTP/1.1\r\n"));
    assert_non_null(strstr(s->last_req, "Content-Length: 5\r\n"));
    assert_non_null(strstr(s->last_req, "\r\n\r\nshort"));
    assert_null(strstr(s->last_req, "shortx"));
    pthread_mutex_unlock(&s->mu);
    hd_http_client_free(c); /* frees the bodies it kept */
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

/* A loopback port nobody listens on (bound once, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd); /* nobody listens on that port now */
    return ntohs(a.sin_port);
}

static void test_refused_is_status_0_without_secrets(void **state)
{
    int port = closed_port();

    struct hd_request r;
    struct hd_response resp;
    char url[128];
    hd_request_init(&r);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
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

/* ---- streams ------------------------------------------------------------ */

/* Serves one connection: reads the request, sends parts[] with delay_ms
 * between them, then (hold) keeps the connection open until stopped. */
struct streamer {
    int lfd;
    int port;       /* TCP; 0 for a unix socket */
    char path[108]; /* unix socket path, "" for TCP */
    char dir[64];
    pthread_t th;
    atomic_int stop;
    const char *parts[8];
    int delay_ms;
    int hold;
    char req[8192]; /* the request's head; read after streamer_stop */
};

static void *streamer_main(void *arg)
{
    struct streamer *s = arg;
    if (!ms_wait_readable(&s->stop, s->lfd)) {
        return NULL;
    }
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    char buf[8192];
    size_t len = 0;
    size_t need = ms_next_request(&s->stop, fd, buf, sizeof(buf), &len, NULL);
    memcpy(s->req, buf, need < sizeof(s->req) - 1 ? need : sizeof(s->req) - 1);
    for (size_t i = 0; i < 8 && s->parts[i] != NULL; i++) {
        if (i > 0 && s->delay_ms > 0) {
            ms_sleep_ms(s->delay_ms);
        }
        ms_send_all(fd, s->parts[i], strlen(s->parts[i]));
    }
    while (s->hold && !atomic_load(&s->stop)) {
        ms_sleep_ms(20);
    }
    close(fd);
    return NULL;
}

/* parts: NULL-terminated, at most 8. */
static struct streamer *streamer_start(int on_unix_socket, const char *const *parts, int delay_ms, int hold)
{
    struct streamer *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    for (size_t i = 0; i < 8 && parts[i] != NULL; i++) {
        s->parts[i] = parts[i];
    }
    s->delay_ms = delay_ms;
    s->hold = hold;
    if (on_unix_socket) {
        snprintf(s->dir, sizeof(s->dir), "/tmp/hd-stream-XXXXXX");
        assert_non_null(mkdtemp(s->dir));
        snprintf(s->path, sizeof(s->path), "%s/engine.sock", s->dir);
        s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(s->lfd >= 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", s->path);
        assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(s->lfd, 4), 0);
    } else {
        s->lfd = ms_listen(4, &s->port);
    }
    assert_int_equal(pthread_create(&s->th, NULL, streamer_main, s), 0);
    return s;
}

/* Stops and joins the server; the caller frees s (after reading s->req). */
static void streamer_stop(struct streamer *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    close(s->lfd);
    if (s->path[0] != '\0') {
        unlink(s->path);
        rmdir(s->dir);
    }
}

static void stream_url(const struct streamer *s, const char *path, char *url, size_t cap)
{
    if (s->port > 0) {
        snprintf(url, cap, "http://127.0.0.1:%d%s", s->port, path);
    } else {
        snprintf(url, cap, "http://localhost%s", path);
    }
}

/* on_data collecting the chunks; fails with fail_with once it holds
 * fail_after bytes (0 = never). */
struct sink {
    struct hd_buf got;
    int calls;
    size_t fail_after;
    int fail_with;
    atomic_int stop;
};

static int sink_data(void *ctx, const char *p, size_t n)
{
    struct sink *k = ctx;
    k->calls++;
    int rc = hd_buf_append(&k->got, p, n);
    if (rc == HD_OK && k->fail_after > 0 && k->got.len >= k->fail_after) {
        return k->fail_with;
    }
    return rc;
}

static int sink_stop(void *ctx)
{
    return atomic_load(&((struct sink *)ctx)->stop);
}

static const char CHUNKED_200[] =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nApi-Version: 1.41\r\n\r\n";

static void test_stream_chunks_and_headers(void **state)
{
    static const char *const parts[] = {CHUNKED_200, "8\r\n{\"a\":1}\n\r\n", "8\r\n{\"b\":2}\n\r\n",
                                        "0\r\n\r\n", NULL};
    struct streamer *srv = streamer_start(0, parts, 100, 0);
    char url[128];
    stream_url(srv, "/api/v1/events?watch=true", url, sizeof(url));
    const char *const hdrs[] = {"Accept: application/json", "Authorization: Bearer TOPSECRET"};
    struct hd_tls_opts tls = {.ca_file = "/nonexistent/ca.crt"}; /* unused over http */
    struct sink k = {0};
    hd_buf_init(&k.got, 0);
    char version[16];
    struct hd_http_stream_opts o = {.url = url,
                                    .headers = hdrs,
                                    .n_headers = 2,
                                    .tls = &tls,
                                    .timeout_ms = 5000,
                                    .on_data = sink_data,
                                    .stop = sink_stop,
                                    .ctx = &k,
                                    .header_name = "API-Version",
                                    .header_value = version,
                                    .header_cap = sizeof(version)};
    struct hd_http_stream_result res;
    assert_int_equal(hd_http_stream(&o, &res), HD_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.error, "");
    assert_int_equal(res.body.len, 0);
    assert_string_equal(k.got.p, "{\"a\":1}\n{\"b\":2}\n");
    assert_true(k.calls >= 2); /* handed over as it arrived, not at the end */
    assert_string_equal(version, "1.41");
    hd_http_stream_result_clear(&res);
    streamer_stop(srv);
    assert_non_null(strstr(srv->req, "GET /api/v1/events?watch=true HTTP/1.1\r\n"));
    assert_non_null(strstr(srv->req, "\r\nAuthorization: Bearer TOPSECRET\r\n"));
    assert_non_null(strstr(srv->req, "\r\nAccept: application/json\r\n"));
    assert_non_null(strstr(srv->req, "\r\nUser-Agent: herald/"));
    free(srv);

    /* The captured header is cut to its buffer. */
    srv = streamer_start(0, parts, 0, 0);
    stream_url(srv, "/_ping", url, sizeof(url));
    hd_buf_reset(&k.got);
    o.header_cap = 3;
    assert_int_equal(hd_http_stream(&o, &res), HD_OK);
    assert_string_equal(version, "1.");
    hd_http_stream_result_clear(&res);
    streamer_stop(srv);
    free(srv);
    hd_buf_free(&k.got);
}

static void test_stream_error_answer_kept(void **state)
{
    static const char *const parts[] = {
        "HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\nContent-Length: 46\r\n\r\n",
        "{\"kind\":\"Status\",\"code\":410,\"message\":\"gone\"}\n", NULL};
    struct streamer *srv = streamer_start(0, parts, 0, 0);
    char url[128];
    stream_url(srv, "/w", url, sizeof(url));
    struct sink k = {0};
    hd_buf_init(&k.got, 0);
    struct hd_http_stream_opts o = {.url = url, .on_data = sink_data, .ctx = &k};
    struct hd_http_stream_result res;
    assert_int_equal(hd_http_stream(&o, &res), HD_OK);
    assert_int_equal(res.status, 410);
    assert_int_equal(k.calls, 0); /* an error answer never reaches on_data */
    assert_int_equal(res.body.len, 46);
    assert_non_null(strstr(res.body.p, "\"message\":\"gone\""));
    hd_http_stream_result_clear(&res);
    assert_null(res.body.p);
    streamer_stop(srv);
    free(srv);
    hd_buf_free(&k.got);
}

static void *stop_later(void *arg)
{
    ms_sleep_ms(300);
    atomic_store(&((struct sink *)arg)->stop, 1);
    return NULL;
}

/* A silent open stream is stopped within about a second of the request. */
static void test_stream_stop_interrupts_idle_stream(void **state)
{
    static const char *const parts[] = {CHUNKED_200, "2\r\n{\n\r\n", NULL};
    struct streamer *srv = streamer_start(0, parts, 0, 1);
    char url[128];
    stream_url(srv, "/w", url, sizeof(url));
    struct sink k = {0};
    hd_buf_init(&k.got, 0);
    struct hd_http_stream_opts o = {.url = url, .on_data = sink_data, .stop = sink_stop, .ctx = &k};
    struct hd_http_stream_result res;
    pthread_t th;
    int64_t t0 = hd_mono_ms();
    assert_int_equal(pthread_create(&th, NULL, stop_later, &k), 0);
    assert_int_equal(hd_http_stream(&o, &res), HD_ESHUTDOWN);
    int64_t took = hd_mono_ms() - t0;
    assert_true(took >= 250 && took < 2500);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.error, "stopped");
    assert_string_equal(k.got.p, "{\n");
    pthread_join(th, NULL);
    hd_http_stream_result_clear(&res);
    streamer_stop(srv);
    free(srv);
    hd_buf_free(&k.got);
}

static void test_stream_on_data_aborts_and_timeout(void **state)
{
    static const char *const parts[] = {CHUNKED_200, "8\r\n{\"a\":1}\n\r\n", "8\r\n{\"b\":2}\n\r\n", NULL};
    struct streamer *srv = streamer_start(0, parts, 100, 1);
    char url[128];
    stream_url(srv, "/w", url, sizeof(url));
    struct sink k = {.fail_after = 1, .fail_with = HD_EINVAL};
    hd_buf_init(&k.got, 0);
    struct hd_http_stream_opts o = {.url = url, .on_data = sink_data, .ctx = &k};
    struct hd_http_stream_result res;
    /* The receiver's own code comes back. */
    assert_int_equal(hd_http_stream(&o, &res), HD_EINVAL);
    assert_int_equal(res.status, 200);
    assert_int_equal(k.calls, 1);
    assert_true(res.error[0] != '\0');
    hd_http_stream_result_clear(&res);
    streamer_stop(srv);
    free(srv);

    /* A total timeout ends a stream the server keeps open. */
    srv = streamer_start(0, parts, 0, 1);
    stream_url(srv, "/w", url, sizeof(url));
    k.fail_after = 0;
    o.timeout_ms = 300;
    int64_t t0 = hd_mono_ms();
    assert_int_equal(hd_http_stream(&o, &res), HD_ENET);
    assert_true(hd_mono_ms() - t0 < 2500);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.error, "imeout"));
    hd_http_stream_result_clear(&res);
    streamer_stop(srv);
    free(srv);
    hd_buf_free(&k.got);
}

/* on_data NULL: a one-shot GET into res->body, capped; over a unix socket
 * (the Docker engine's). */
static void test_stream_body_buffer_over_unix_socket(void **state)
{
    static const char *const parts[] = {"HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n{\"ApiVersion\":\"1\"}",
                                        NULL};
    struct streamer *srv = streamer_start(1, parts, 0, 0);
    char url[128];
    stream_url(srv, "/version", url, sizeof(url));
    struct hd_http_stream_opts o = {.url = url, .unix_socket = srv->path, .max_body = 64};
    struct hd_http_stream_result res;
    assert_int_equal(hd_http_stream(&o, &res), HD_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body.p, "{\"ApiVersion\":\"1\"}");
    hd_http_stream_result_clear(&res);
    streamer_stop(srv);
    assert_non_null(strstr(srv->req, "GET /version HTTP/1.1\r\n"));
    free(srv);

    srv = streamer_start(1, parts, 0, 0);
    o.unix_socket = srv->path;
    o.max_body = 10;
    assert_int_equal(hd_http_stream(&o, &res), HD_ETOOBIG);
    assert_non_null(strstr(res.error, "over 10 bytes"));
    hd_http_stream_result_clear(&res);
    streamer_stop(srv);
    free(srv);
}

static void test_stream_refused_and_bad_input(void **state)
{
    int port = closed_port();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
    const char *const hdrs[] = {"Authorization: Bearer TOPSECRET"};
    struct hd_http_stream_opts o = {.url = url, .headers = hdrs, .n_headers = 1};
    struct hd_http_stream_result res;
    assert_int_equal(hd_http_stream(&o, &res), HD_ENET);
    assert_int_equal(res.status, 0);
    assert_true(res.error[0] != '\0');
    assert_null(strstr(res.error, "TOPSECRET"));
    hd_http_stream_result_clear(&res);

    struct hd_http_stream_opts none = {0};
    assert_int_equal(hd_http_stream(&none, &res), HD_EINVAL);
    assert_string_equal(res.error, "no URL");
    hd_http_stream_result_clear(&res);
}

/* ---- destinations (security.denyDestinations) ---- */

static void deny(const char *const *blocks, size_t n)
{
    struct hd_cidr_list l = {0};
    struct hd_err err = {0};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(hd_cidr_list_add(&l, blocks[i], &err), HD_OK);
    }
    hd_http_set_denied(&l);
}

static int srv_count(struct srv *s, int *requests)
{
    pthread_mutex_lock(&s->mu);
    int accepts = s->accepts;
    *requests = s->requests;
    pthread_mutex_unlock(&s->mu);
    return accepts;
}

/* Every spelling of the loopback address ends on the same checked address
 * (after DNS, on the socket's address), through hd_http_sync and the multi
 * client alike; the server never sees a connection. */
static void test_denied_destination_not_contacted(void **state)
{
    static const char *const blocks[] = {"169.254.0.0/16", "127.0.0.0/8", "::1/128"};
    static const char *const hosts[] = {"127.0.0.1", "0x7f000001",         "2130706433",     "127.1",
                                        "localhost", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"};
    struct srv *s = srv_start();
    deny(blocks, 3);
    struct hd_http_client *c = hd_http_client_new();
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        for (int multi = 0; multi < 2; multi++) {
            struct hd_request r;
            struct hd_response resp;
            char url[128];
            hd_request_init(&r);
            snprintf(url, sizeof(url), "http://%s:%d/hook", hosts[i], s->port);
            r.url = strdup(url);
            assert_int_equal(hd_request_add_header(&r, "Authorization", "Bearer TOPSECRET"), HD_OK);
            if (multi) {
                assert_int_equal(hd_http_client_submit(c, &r, NULL), HD_OK);
                run_one(c, &resp);
            } else {
                assert_int_equal(hd_http_sync(&r, &resp), HD_OK);
            }
            assert_int_equal(resp.status, 0);
            assert_int_equal(resp.denied, 1);
            assert_non_null(strstr(resp.error, "denied by security.denyDestinations ("));
            assert_true(strstr(resp.error, "destination 127.0.0.1 ") != NULL ||
                        strstr(resp.error, "destination ::ffff:127.0.0.1 ") != NULL ||
                        strstr(resp.error, "destination ::1 ") != NULL);
            assert_null(strstr(resp.error, "TOPSECRET"));
            hd_response_clear(&resp);
            hd_request_clear(&r);
        }
    }
    int requests = 0;
    assert_int_equal(srv_count(s, &requests), 0);
    assert_int_equal(requests, 0);

    /* An empty list allows every address again. */
    hd_http_set_denied(NULL);
    struct hd_request r;
    struct hd_response resp;
    make_req(&r, s, "/ok", "x");
    assert_int_equal(hd_http_sync(&r, &resp), HD_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.denied, 0);
    hd_response_clear(&resp);
    hd_request_clear(&r);
    hd_http_client_free(c);
    srv_stop(s);
}

/* A connection kept alive from before the list changed is checked again
 * before its next request. */
static void test_denied_on_kept_alive_connection(void **state)
{
    static const char *const blocks[] = {"127.0.0.0/8"};
    struct srv *s = srv_start();
    struct hd_http_client *c = hd_http_client_new();
    struct hd_request r;
    struct hd_response resp;
    make_req(&r, s, "/one", "x");
    assert_int_equal(hd_http_client_submit(c, &r, NULL), HD_OK);
    run_one(c, &resp);
    assert_int_equal(resp.status, 200);
    hd_response_clear(&resp);
    deny(blocks, 1);
    make_req(&r, s, "/two", "x");
    assert_int_equal(hd_http_client_submit(c, &r, NULL), HD_OK);
    run_one(c, &resp);
    assert_int_equal(resp.status, 0);
    assert_int_equal(resp.denied, 1);
    assert_string_equal(resp.error,
                        "destination 127.0.0.1 denied by security.denyDestinations (127.0.0.0/8)");
    hd_response_clear(&resp);
    hd_http_set_denied(NULL);
    hd_http_client_free(c);
    int requests = 0;
    assert_int_equal(srv_count(s, &requests), 1);
    assert_int_equal(requests, 1);
    srv_stop(s);
}

/* A name with an allowed address is delivered there; the denied one is only
 * skipped (localhost: 127.0.0.1 and, where configured, ::1). */
static void test_other_address_of_a_name_allowed(void **state)
{
    static const char *const blocks[] = {"::1/128"};
    struct srv *s = srv_start();
    deny(blocks, 1);
    struct hd_request r;
    struct hd_response resp;
    char url[128];
    hd_request_init(&r);
    snprintf(url, sizeof(url), "http://localhost:%d/x", s->port);
    r.url = strdup(url);
    assert_int_equal(hd_http_sync(&r, &resp), HD_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.denied, 0);
    assert_string_equal(resp.error, "");
    hd_response_clear(&resp);
    hd_request_clear(&r);
    hd_http_set_denied(NULL);
    srv_stop(s);
}

/* The watchers' streams are not deliveries: never checked. */
static void test_stream_not_checked(void **state)
{
    static const char *const blocks[] = {"127.0.0.0/8"};
    static const char *const parts[] = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "ok", NULL};
    struct streamer *srv = streamer_start(0, parts, 0, 0);
    char url[128];
    stream_url(srv, "/version", url, sizeof(url));
    deny(blocks, 1);
    struct hd_http_stream_opts o = {.url = url};
    struct hd_http_stream_result res;
    assert_int_equal(hd_http_stream(&o, &res), HD_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body.p, "ok");
    hd_http_stream_result_clear(&res);
    hd_http_set_denied(NULL);
    streamer_stop(srv);
    free(srv);
}

/* A redirect is answered as it is, never followed. */
static void test_redirect_not_followed(void **state)
{
    struct srv *s = srv_start();
    struct srv *other = srv_start();
    char head[256];
    snprintf(head, sizeof(head), "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/elsewhere",
             other->port);
    srv_script(s, head, "moved", 0);
    srv_script(s, head, "moved", 0);
    struct hd_request r;
    struct hd_response resp;
    make_req(&r, s, "/hook", "x");
    assert_int_equal(hd_http_sync(&r, &resp), HD_OK);
    assert_int_equal(resp.status, 302);
    assert_string_equal(resp.body.p, "moved");
    hd_response_clear(&resp);
    struct hd_http_client *c = hd_http_client_new();
    assert_int_equal(hd_http_client_submit(c, &r, NULL), HD_OK);
    run_one(c, &resp);
    assert_int_equal(resp.status, 302);
    hd_response_clear(&resp);
    hd_http_client_free(c);
    int requests = 0;
    assert_int_equal(srv_count(other, &requests), 0);
    assert_int_equal(requests, 0);
    assert_int_equal(srv_count(s, &requests), 2);
    assert_int_equal(requests, 2);
    srv_stop(other);
    srv_stop(s);
}

static void test_url_escaping(void **state)
{
    struct hd_buf u;
    hd_buf_init(&u, 0);
    assert_int_equal(hd_http_put_escaped(&u, "aZ09-._~ /?&=%\xc3\xa9"), HD_OK);
    assert_string_equal(u.p, "aZ09-._~%20%2F%3F%26%3D%25%C3%A9");
    hd_buf_reset(&u);
    assert_int_equal(hd_buf_puts(&u, "/api/v1/events"), HD_OK);
    assert_int_equal(hd_http_put_query(&u, "limit", "500"), HD_OK);
    assert_int_equal(hd_http_put_query(&u, "fieldSelector", "type=Warning"), HD_OK);
    assert_int_equal(hd_http_put_query(&u, "continue", ""), HD_OK);
    assert_string_equal(u.p, "/api/v1/events?limit=500&fieldSelector=type%3DWarning&continue=");
    hd_buf_free(&u);
    hd_buf_init(&u, 0); /* an empty buffer gets the '?' */
    assert_int_equal(hd_http_put_query(&u, "a", "b c"), HD_OK);
    assert_string_equal(u.p, "?a=b%20c");
    hd_buf_free(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_status_and_body),
        cmocka_unit_test(test_multi_keepalive_reuse),
        cmocka_unit_test(test_body_reused),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_date),
        cmocka_unit_test(test_parse_retry_after),
        cmocka_unit_test(test_timeout_is_status_0),
        cmocka_unit_test(test_refused_is_status_0_without_secrets),
        cmocka_unit_test(test_body_capped),
        cmocka_unit_test(test_headers_validated),
        cmocka_unit_test(test_wakeup_interrupts_poll),
        cmocka_unit_test(test_free_with_transfer_in_flight),
        cmocka_unit_test(test_stream_chunks_and_headers),
        cmocka_unit_test(test_stream_error_answer_kept),
        cmocka_unit_test(test_stream_stop_interrupts_idle_stream),
        cmocka_unit_test(test_stream_on_data_aborts_and_timeout),
        cmocka_unit_test(test_stream_body_buffer_over_unix_socket),
        cmocka_unit_test(test_stream_refused_and_bad_input),
        cmocka_unit_test(test_denied_destination_not_contacted),
        cmocka_unit_test(test_denied_on_kept_alive_connection),
        cmocka_unit_test(test_other_address_of_a_name_allowed),
        cmocka_unit_test(test_stream_not_checked),
        cmocka_unit_test(test_redirect_not_followed),
        cmocka_unit_test(test_url_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
