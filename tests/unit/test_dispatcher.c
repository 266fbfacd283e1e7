/* test_dispatcher.c - the dispatcher against the real SQLite store, the real
 * WEBHOOK channel and a scripted local sink.
 *
 * The sink is a thread per connection answering each request with the next
 * scripted answer (then 200) and recording every body in arrival order.
 * Tests wait on conditions with a bounded poll, never a fixed sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>

#include "core/err.h"
#include "core/metrics.h"
#include "core/util.h"
#include "mini_server.h"
#include "net/http_client.h"
#include "route/dispatcher.h"
#include "store/store.h"

/* ---- scripted sink ----------------------------------------------------- */

#define SINK_MAX_SCRIPT 16
#define SINK_MAX_BODIES 256
#define SINK_MAX_CONNS 16

struct answer {
    int status;
    const char *headers; /* extra header lines, "\r\n"-separated, or NULL */
    const char *body;
    int delay_ms;
};

struct sink {
    int lfd;
    int port;
    pthread_t th;
    pthread_t conns[SINK_MAX_CONNS];
    int n_conns;
    atomic_int stop;
    pthread_mutex_t mu;
    struct answer script[SINK_MAX_SCRIPT];
    size_t n_script;
    size_t next;
    char *bodies[SINK_MAX_BODIES];
    int n_bodies;
    /* By body: the request with slow_body is answered after slow_ms; the
     * first one with fail_body gets fail instead of the script. */
    const char *slow_body;
    int slow_ms;
    const char *fail_body;
    struct answer fail;
    int active; /* requests received, not answered yet */
    int max_active;
};

struct conn_arg {
    struct sink *s;
    int fd;
};

static void reply(struct sink *s, int fd, const char *req_body)
{
    struct answer a = {.status = 200, .body = "{}"};
    pthread_mutex_lock(&s->mu);
    if (s->fail_body != NULL && strcmp(req_body, s->fail_body) == 0) {
        a = s->fail;
        s->fail_body = NULL;
    } else if (s->next < s->n_script) {
        a = s->script[s->next++];
    }
    if (s->slow_body != NULL && strcmp(req_body, s->slow_body) == 0) {
        a.delay_ms += s->slow_ms;
    }
    pthread_mutex_unlock(&s->mu);
    if (a.delay_ms > 0) {
        ms_sleep_ms(a.delay_ms);
    }
    pthread_mutex_lock(&s->mu);
    s->active--; /* before the answer leaves: the next request may follow it at once */
    pthread_mutex_unlock(&s->mu);
    char out[2048];
    const char *body = a.body != NULL ? a.body : "";
    int n = snprintf(out, sizeof(out), "HTTP/1.1 %d X\r\n%s%sContent-Length: %zu\r\n\r\n%s", a.status,
                     a.headers != NULL ? a.headers : "", a.headers != NULL ? "\r\n" : "", strlen(body), body);
    send(fd, out, (size_t)n, MSG_NOSIGNAL);
}

static void *conn_main(void *arg)
{
    struct conn_arg *ca = arg;
    struct sink *s = ca->s;
    int fd = ca->fd;
    free(ca);
    char buf[65536];
    size_t len = 0;
    size_t hlen = 0;
    for (;;) {
        size_t need = ms_next_request(&s->stop, fd, buf, sizeof(buf), &len, &hlen);
        if (need == 0) {
            break;
        }
        size_t clen = need - hlen;
        char *b = malloc(clen + 1);
        memcpy(b, buf + hlen, clen);
        b[clen] = '\0';
        pthread_mutex_lock(&s->mu);
        if (++s->active > s->max_active) {
            s->max_active = s->active;
        }
        if (s->n_bodies < SINK_MAX_BODIES) {
            s->bodies[s->n_bodies++] = strdup(b);
        }
        pthread_mutex_unlock(&s->mu);
        reply(s, fd, b);
        free(b);
        ms_consume(buf, &len, need);
    }
    close(fd);
    return NULL;
}

static void *sink_main(void *arg)
{
    struct sink *s = arg;
    while (ms_wait_readable(&s->stop, s->lfd)) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        struct conn_arg *ca = malloc(sizeof(*ca));
        ca->s = s;
        ca->fd = fd;
        if (s->n_conns >= SINK_MAX_CONNS || pthread_create(&s->conns[s->n_conns], NULL, conn_main, ca) != 0) {
            close(fd);
            free(ca);
            continue;
        }
        s->n_conns++;
    }
    for (int i = 0; i < s->n_conns; i++) {
        pthread_join(s->conns[i], NULL);
    }
    return NULL;
}

static struct sink *sink_start(void)
{
    struct sink *s = calloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = ms_listen(16, &s->port);
    assert_int_equal(pthread_create(&s->th, NULL, sink_main, s), 0);
    return s;
}

static void sink_script(struct sink *s, int status, const char *headers, const char *body, int delay_ms)
{
    pthread_mutex_lock(&s->mu);
    s->script[s->n_script++] = (struct answer){status, headers, body, delay_ms};
    pthread_mutex_unlock(&s->mu);
}

static int sink_count(struct sink *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n_bodies;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void sink_stop(struct sink *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    close(s->lfd);
    for (int i = 0; i < s->n_bodies; i++) {
        free(s->bodies[i]);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- fixture ----------------------------------------------------------- */

struct fx {
    char dir[64];
    char path[96];
    struct hd_store *st;
    struct sink *sink;
    struct hd_dispatcher *d;
    int64_t chan_id;
    int next_n;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/hd_disp_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/herald.db", f->dir);
    struct hd_err err = {0};
    f->st = hd_sqlite_store_open(f->path, &err);
    if (f->st == NULL) {
        fail_msg("store: %s", err.msg);
    }
    f->sink = sink_start();
    hd_metrics_reset();
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    hd_dispatcher_free(f->d);
    hd_http_set_denied(NULL); /* whatever a test set */
    hd_store_close(f->st);
    sink_stop(f->sink);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* extra: more members of "options" (starting with a comma) or "". */
static int64_t add_channel(struct fx *f, const char *name, int enabled, const char *extra)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"type\":\"WEBHOOK\",\"name\":\"%s\",\"enabled\":%s,"
             "\"options\":{\"url\":\"http://127.0.0.1:%d/hook\"%s}}",
             name, enabled ? "true" : "false", f->sink->port, extra);
    struct hd_channel_rec in = {.name = (char *)name, .type = "WEBHOOK", .enabled = enabled, .json = json};
    struct hd_channel_rec out = {0};
    struct hd_err err = {0};
    if (f->st->ops->channel_create(f->st, &in, hd_now_ms(), &out, &err) != HD_OK) {
        fail_msg("channel_create: %s", err.msg);
    }
    int64_t id = out.id;
    hd_channel_rec_clear(&out);
    f->chan_id = id;
    return id;
}

/* Appends n events {"n":k} with the given severity and source. Returns the last seq. */
static int64_t add_events(struct fx *f, int n, int severity, const char *source)
{
    struct hd_event *evs = calloc((size_t)n, sizeof(*evs));
    for (int i = 0; i < n; i++) {
        char raw[64];
        int k = f->next_n++;
        int len = snprintf(raw, sizeof(raw), "{\"n\":%d}", k);
        hd_hash128_hex(raw, (size_t)len, evs[i].id);
        evs[i].source = source;
        evs[i].ts_us = hd_now_us();
        evs[i].recv_us = hd_now_us();
        evs[i].severity = severity;
        evs[i].state = HD_STATE_ACTIVE;
        evs[i].name = strdup("test event");
        evs[i].raw = strdup(raw);
        evs[i].raw_len = (size_t)len;
    }
    struct hd_err err = {0};
    if (f->st->ops->append(f->st, evs, (size_t)n, &err) != HD_OK) {
        fail_msg("append: %s", err.msg);
    }
    int64_t last = evs[n - 1].seq;
    for (int i = 0; i < n; i++) {
        hd_event_clear(&evs[i]);
    }
    free(evs);
    if (f->d != NULL) {
        hd_dispatcher_wakeup(f->d);
    }
    return last;
}

static void start(struct fx *f, int64_t initial_ms, int64_t max_ms, int threshold)
{
    struct hd_dispatch_config cfg;
    hd_dispatch_config_defaults(&cfg);
    cfg.retry_initial_ms = initial_ms;
    cfg.retry_max_ms = max_ms;
    cfg.breaker_threshold = threshold;
    struct hd_err err = {0};
    f->d = hd_dispatcher_new(f->st, &cfg, &err);
    if (f->d == NULL) {
        fail_msg("dispatcher: %s", err.msg);
    }
    assert_int_equal(hd_dispatcher_start(f->d), HD_OK);
}

static struct hd_channel_status status(struct fx *f)
{
    struct hd_channel_status s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(hd_dispatcher_status(f->d, f->chan_id, &s), HD_OK);
    return s;
}

#define WAIT_FOR(cond, ms)                                                                                   \
    do {                                                                                                     \
        int64_t until_ = hd_mono_ms() + (ms);                                                                \
        while (!(cond)) {                                                                                    \
            if (hd_mono_ms() > until_) {                                                                     \
                fail_msg("timed out waiting for %s", #cond);                                                 \
            }                                                                                                \
            ms_sleep_ms(5);                                                                                  \
        }                                                                                                    \
    } while (0)

static size_t rows(struct fx *f, int st, struct hd_delivery **out)
{
    struct hd_delivery *d = NULL;
    size_t n = 0;
    struct hd_err err = {0};
    assert_int_equal(f->st->ops->deliveries_list(
                         f->st,
                         &(struct hd_delivery_query){.channel_id = f->chan_id, .status = st, .limit = 100},
                         &d, &n, &err),
                     HD_OK);
    if (out != NULL) {
        *out = d;
    } else {
        hd_deliveries_free(d, n);
    }
    return n;
}

static int body_seen(struct sink *s, const char *want)
{
    int found = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_bodies; i++) {
        if (strcmp(s->bodies[i], want) == 0) {
            found++;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

static void sink_slow(struct sink *s, const char *body, int ms)
{
    pthread_mutex_lock(&s->mu);
    s->slow_body = body;
    s->slow_ms = ms;
    pthread_mutex_unlock(&s->mu);
}

static void sink_fail_once(struct sink *s, const char *body, int status, const char *headers)
{
    pthread_mutex_lock(&s->mu);
    s->fail = (struct answer){status, headers, "failed once", 0};
    s->fail_body = body;
    pthread_mutex_unlock(&s->mu);
}

static int sink_max_active(struct sink *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->max_active;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int64_t stored_cursor(struct fx *f)
{
    int64_t cur = 0;
    struct hd_err err = {0};
    assert_int_equal(f->st->ops->cursor_get(f->st, f->chan_id, &cur, &err), HD_OK);
    return cur;
}

/* Each of {"n":0}..{"n":k-1} was received want times. */
static void assert_each_seen(struct fx *f, int k, int want)
{
    for (int i = 0; i < k; i++) {
        char b[32];
        snprintf(b, sizeof(b), "{\"n\":%d}", i);
        if (body_seen(f->sink, b) != want) {
            fail_msg("%s received %d times, want %d", b, body_seen(f->sink, b), want);
        }
    }
}

/* ---- scenarios --------------------------------------------------------- */

/* The scenarios that count on the strict order of one request at a time
 * (the scripted answers go to the requests in arrival order). */
#define ONE_AT_A_TIME ",\"maxInFlight\":1"

static void test_delivers_in_order(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, ONE_AT_A_TIME);
    start(f, 50, 200, 3);
    int64_t last = add_events(f, 20, 3, "falco");
    WAIT_FOR(sink_count(f->sink) == 20, 10000);
    assert_int_equal(sink_max_active(f->sink), 1);
    for (int i = 0; i < 20; i++) {
        char want[32];
        snprintf(want, sizeof(want), "{\"n\":%d}", i);
        assert_string_equal(f->sink->bodies[i], want);
    }
    WAIT_FOR(status(f).delivered == 20 && status(f).cursor == last, 5000);
    struct hd_channel_status s = status(f);
    assert_int_equal(s.backlog, 0);
    assert_int_equal(s.failed, 0);
    assert_int_equal(s.consecutive_failures, 0);
    assert_true(s.last_success_ms > 0);
    assert_int_equal(hd_metrics_get("herald_deliveries_total", "channel=\"hook\",outcome=\"delivered\""), 20);
    assert_int_equal(hd_metrics_get("herald_delivery_latency_seconds", "channel=\"hook\""), 20);
    assert_int_equal(rows(f, -1, NULL), 0);

    struct hd_buf b;
    hd_buf_init(&b, 0);
    assert_int_equal(hd_dispatcher_metrics(f->d, hd_now_ms(), &b), HD_OK);
    assert_non_null(strstr(b.p, "# HELP herald_channel_backlog "));
    assert_non_null(
        strstr(b.p, "# TYPE herald_channel_backlog gauge\nherald_channel_backlog{channel=\"hook\"} 0\n"));
    assert_non_null(strstr(b.p, "herald_channel_breaker_open{channel=\"hook\"} 0\n"));
    /* Everything delivered: no age, no dead letters. */
    assert_non_null(strstr(b.p, "herald_channel_oldest_undelivered_seconds{channel=\"hook\"} 0\n"));
    assert_non_null(strstr(b.p, "herald_channel_dead_letters{channel=\"hook\"} 0\n"));
    hd_buf_free(&b);

    /* The cursor is durable: a stop persists it. */
    hd_dispatcher_stop(f->d, 1000);
    int64_t cur = 0;
    struct hd_err err = {0};
    assert_int_equal(f->st->ops->cursor_get(f->st, f->chan_id, &cur, &err), HD_OK);
    assert_int_equal(cur, last);
}

static void test_503_then_success_retried(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, ONE_AT_A_TIME);
    sink_script(f->sink, 503, NULL, "down", 0);
    start(f, 50, 200, 5);
    add_events(f, 3, 3, "falco");
    /* 3 events, the first one twice. */
    WAIT_FOR(sink_count(f->sink) == 4 && status(f).delivered == 3, 10000);
    assert_int_equal(body_seen(f->sink, "{\"n\":0}"), 2);
    assert_int_equal(body_seen(f->sink, "{\"n\":1}"), 1);
    assert_int_equal(body_seen(f->sink, "{\"n\":2}"), 1);
    WAIT_FOR(rows(f, -1, NULL) == 0, 5000);
    struct hd_channel_status s = status(f);
    assert_int_equal(s.failed, 0);
    assert_int_equal(s.consecutive_failures, 0);
    assert_int_equal(hd_metrics_get("herald_deliveries_total", "channel=\"hook\",outcome=\"retry\""), 1);
    ms_sleep_ms(200); /* nothing more is sent */
    assert_int_equal(sink_count(f->sink), 4);
}

static void test_400_dead_letter_with_body(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, ONE_AT_A_TIME);
    sink_script(f->sink, 400, NULL, "{\"error\":\"bad field x\"}", 0);
    start(f, 50, 200, 3);
    int64_t last = add_events(f, 2, 3, "falco");
    WAIT_FOR(status(f).failed == 1 && status(f).delivered == 1, 10000);
    struct hd_delivery *d = NULL;
    assert_int_equal(rows(f, HD_DELIVERY_FAILED, &d), 1);
    assert_int_equal(d[0].last_status, 400);
    assert_non_null(d[0].last_error);
    assert_non_null(strstr(d[0].last_error, "bad field x"));
    assert_int_equal(d[0].event_seq, last - 1);
    hd_deliveries_free(d, 1);
    assert_int_equal(rows(f, HD_DELIVERY_PENDING, NULL), 0);
    struct hd_channel_status s = status(f);
    assert_int_equal(s.cursor, last);
    assert_int_equal(s.consecutive_failures, 0); /* a 4xx is an answer, not an outage */
    assert_non_null(strstr(s.last_error, "HTTP 400"));
    assert_int_equal(hd_metrics_get("herald_deliveries_total", "channel=\"hook\",outcome=\"failed\""), 1);
    assert_int_equal(sink_count(f->sink), 2);
}

/* A destination refused by security.denyDestinations is a dead letter at
 * once (not retried: the same address would be refused), with the refusal as
 * its last error; the sink sees nothing; it is no outage for the breaker. */
static void test_denied_destination_dead_letter(void **state)
{
    struct fx *f = *state;
    struct hd_cidr_list deny = {0};
    assert_int_equal(hd_cidr_list_add(&deny, "127.0.0.0/8", NULL), HD_OK);
    hd_http_set_denied(&deny);
    add_channel(f, "hook", 1, "");
    start(f, 50, 200, 2);
    int64_t last = add_events(f, 3, 3, "falco");
    WAIT_FOR(status(f).failed == 3 && status(f).cursor == last, 10000);
    struct hd_delivery *d = NULL;
    assert_int_equal(rows(f, HD_DELIVERY_FAILED, &d), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(d[i].last_status, 0);
        assert_int_equal(d[i].attempts, 1);
        assert_string_equal(d[i].last_error,
                            "destination 127.0.0.1 denied by security.denyDestinations (127.0.0.0/8)");
    }
    hd_deliveries_free(d, 3);
    assert_int_equal(rows(f, HD_DELIVERY_PENDING, NULL), 0);
    struct hd_channel_status s = status(f);
    assert_int_equal(s.consecutive_failures, 0);
    assert_non_null(strstr(s.last_error, "denied by security.denyDestinations"));
    assert_int_equal(hd_metrics_get("herald_deliveries_total", "channel=\"hook\",outcome=\"failed\""), 3);
    assert_int_equal(hd_metrics_get("herald_deliveries_total", "channel=\"hook\",outcome=\"retry\""), 0);
    assert_int_equal(sink_count(f->sink), 0);
    int accepts = 0;
    pthread_mutex_lock(&f->sink->mu);
    accepts = f->sink->n_conns;
    pthread_mutex_unlock(&f->sink->mu);
    assert_int_equal(accepts, 0);
}

static void test_retry_after_honoured(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, "");
    sink_script(f->sink, 429, "Retry-After: 30", "slow down", 0);
    start(f, 50, 200, 5);
    int64_t t0 = hd_now_ms();
    int64_t last = add_events(f, 1, 3, "falco");
    WAIT_FOR(rows(f, HD_DELIVERY_PENDING, NULL) == 1, 10000);
    struct hd_delivery *d = NULL;
    assert_int_equal(rows(f, HD_DELIVERY_PENDING, &d), 1);
    assert_int_equal(d[0].event_seq, last);
    assert_int_equal(d[0].attempts, 1);
    assert_int_equal(d[0].last_status, 429);
    assert_true(d[0].next_ms >= t0 + 30000);
    assert_true(d[0].next_ms <= hd_now_ms() + 31000);
    hd_deliveries_free(d, 1);
    WAIT_FOR(status(f).next_attempt_ms > 0, 2000); /* the channel itself waits too */
    struct hd_channel_status s = status(f);
    assert_int_equal(s.cursor, last);
    assert_true(s.next_attempt_ms >= t0 + 30000);
    assert_int_equal(s.backlog, 1); /* the pending retry */
    assert_int_equal(hd_dispatcher_backlog(f->d), 1);
    add_events(f, 1, 3, "falco");
    ms_sleep_ms(200);
    assert_int_equal(sink_count(f->sink), 1);
}

static void test_breaker_opens_and_recovers(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, ONE_AT_A_TIME);
    for (int i = 0; i < 4; i++) {
        sink_script(f->sink, 503, NULL, "unavailable", 0);
    }
    /* Retries wait 1.5 s: the three first sends (events 0, 1, 2) all happen
     * before the first retry is due, even on a loaded machine (with 400 ms a
     * slow run retried event 0 before sending event 1). */
    start(f, 1500, 3000, 3);
    add_events(f, 6, 3, "falco");
    /* Two failures become PENDING rows; the third opens the breaker and
     * holds the cursor before event 2 (no row for it). */
    WAIT_FOR(status(f).breaker_open == 1, 10000);
    int sent = sink_count(f->sink);
    assert_int_equal(sent, 3);
    struct hd_channel_status s = status(f);
    assert_int_equal(s.consecutive_failures, 3);
    assert_true(s.next_attempt_ms > 0);
    assert_non_null(strstr(s.last_error, "HTTP 503"));
    assert_int_equal(rows(f, HD_DELIVERY_PENDING, NULL), 2);
    int64_t seq2 = s.cursor;
    struct hd_buf b;
    hd_buf_init(&b, 0);
    assert_int_equal(hd_dispatcher_metrics(f->d, hd_now_ms(), &b), HD_OK);
    assert_non_null(strstr(b.p, "herald_channel_breaker_open{channel=\"hook\"} 1\n"));
    hd_buf_free(&b);
    /* Open: nothing is sent before the backoff expires. */
    ms_sleep_ms(200);
    assert_int_equal(sink_count(f->sink), 3);
    assert_int_equal(status(f).cursor, seq2);
    /* Half-open fails once more (backoff doubles), then the sink answers. */
    WAIT_FOR(status(f).delivered == 6, 15000);
    s = status(f);
    assert_int_equal(s.breaker_open, 0);
    assert_int_equal(s.consecutive_failures, 0);
    assert_int_equal(s.failed, 0);
    for (int i = 0; i < 6; i++) {
        char want[32];
        snprintf(want, sizeof(want), "{\"n\":%d}", i);
        assert_true(body_seen(f->sink, want) >= 1);
    }
    WAIT_FOR(rows(f, -1, NULL) == 0, 5000);
}

static void test_filtered_events_move_cursor(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, ",\"minSeverity\":3,\"sources\":[\"falco\"]");
    start(f, 50, 200, 3);
    add_events(f, 10, 6, "falco"); /* too low a severity */
    add_events(f, 5, 2, "docker"); /* another source */
    int64_t want = add_events(f, 1, 2, "falco");
    WAIT_FOR(sink_count(f->sink) == 1, 10000);
    assert_string_equal(f->sink->bodies[0], "{\"n\":15}");
    WAIT_FOR(status(f).cursor == want, 5000);
    /* Only filtered events: no request, the cursor still moves (and persists). */
    int64_t last = add_events(f, 7, 7, "falco");
    WAIT_FOR(status(f).cursor == last, 5000);
    assert_int_equal(status(f).backlog, 0);
    hd_dispatcher_stop(f->d, 1000);
    assert_int_equal(sink_count(f->sink), 1);
    int64_t cur = 0;
    struct hd_err err = {0};
    assert_int_equal(f->st->ops->cursor_get(f->st, f->chan_id, &cur, &err), HD_OK);
    assert_int_equal(cur, last);
}

static void test_channel_deleted_in_flight(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, "");
    sink_script(f->sink, 200, NULL, "{}", 300);
    start(f, 50, 200, 3);
    add_events(f, 1, 3, "falco");
    WAIT_FOR(sink_count(f->sink) == 1, 10000);
    struct hd_err err = {0};
    assert_int_equal(f->st->ops->channel_delete(f->st, f->chan_id, &err), HD_OK);
    hd_dispatcher_channels_changed(f->d);
    struct hd_channel_status s;
    WAIT_FOR(hd_dispatcher_status(f->d, f->chan_id, &s) == HD_ENOTFOUND, 5000);
    ms_sleep_ms(400); /* the answer arrives for a channel that is gone */
    assert_int_equal(hd_dispatcher_backlog(f->d), 0);
}

static void test_disabled_channel_skips(void **state)
{
    struct fx *f = *state;
    add_channel(f, "off", 0, "");
    start(f, 50, 200, 3);
    int64_t last = add_events(f, 3, 3, "falco");
    WAIT_FOR(status(f).cursor == last, 5000);
    assert_int_equal(status(f).backlog, 0);
    ms_sleep_ms(100);
    assert_int_equal(sink_count(f->sink), 0);
}

static void test_stop_waits_for_in_flight(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, "");
    sink_script(f->sink, 200, NULL, "{}", 400);
    start(f, 50, 200, 3);
    int64_t last = add_events(f, 1, 3, "falco");
    WAIT_FOR(sink_count(f->sink) == 1, 10000);
    hd_dispatcher_stop(f->d, 5000); /* the answer comes 400 ms later and is recorded */
    int64_t cur = 0;
    struct hd_err err = {0};
    assert_int_equal(f->st->ops->cursor_get(f->st, f->chan_id, &cur, &err), HD_OK);
    assert_int_equal(cur, last);
    assert_int_equal(status(f).delivered, 1);
}

static void test_channel_updated_in_flight(void **state)
{
    struct fx *f = *state;
    int64_t id = add_channel(f, "hook", 1, "");
    sink_script(f->sink, 200, NULL, "{}", 300);
    start(f, 50, 200, 3);
    add_events(f, 1, 3, "falco");
    WAIT_FOR(sink_count(f->sink) == 1, 10000);
    /* Two updates while the request is in flight: the request keeps the
     * channel that rendered it, the intermediate one is freed. */
    for (int v = 1; v <= 2; v++) {
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"type\":\"WEBHOOK\",\"name\":\"hook\",\"enabled\":true,"
                 "\"options\":{\"url\":\"http://127.0.0.1:%d/hook%d\"}}",
                 f->sink->port, v);
        struct hd_channel_rec in = {.name = "hook", .type = "WEBHOOK", .enabled = 1, .json = json};
        struct hd_channel_rec out = {0};
        struct hd_err err = {0};
        if (f->st->ops->channel_update(f->st, (struct hd_channel_ref){.id = id, .version = v}, &in,
                                       hd_now_ms(), &out, &err) != HD_OK) {
            fail_msg("channel_update: %s", err.msg);
        }
        hd_channel_rec_clear(&out);
        hd_dispatcher_channels_changed(f->d);
        ms_sleep_ms(50);
    }
    WAIT_FOR(status(f).delivered == 1, 5000);
    int64_t last = add_events(f, 1, 3, "falco");
    WAIT_FOR(status(f).delivered == 2 && status(f).cursor == last, 5000);
}

static void test_status_unknown_channel(void **state)
{
    struct fx *f = *state;
    start(f, 50, 200, 3);
    struct hd_channel_status s;
    assert_int_equal(hd_dispatcher_status(f->d, 12345, &s), HD_ENOTFOUND);
    assert_int_equal(hd_dispatcher_backlog(f->d), 0);
    hd_dispatcher_stop(f->d, 100);
    hd_dispatcher_stop(f->d, 100); /* idempotent */
}

/* ---- several requests in flight (maxInFlight, route/window.c) ----------- */

/* Answers come back out of order: the cursor covers only the answered head
 * of the window, in memory and as persisted. */
static void test_window_out_of_order_cursor(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, ""); /* default maxInFlight 4 */
    sink_slow(f->sink, "{\"n\":1}", 1500);
    start(f, 50, 200, 5);
    int64_t last = add_events(f, 6, 3, "falco");
    int64_t seq0 = last - 5;
    /* 0 answered; 1 slow; 2, 3, 4 answered: four slots from 1 fill the
     * window, so 5 waits for 1. */
    WAIT_FOR(status(f).delivered == 4, 5000);
    assert_int_equal(sink_count(f->sink), 5);
    /* Four delivered while 1 is unanswered (the cursor below) proves the
     * requests overlapped. Not sink_max_active: on a loaded machine the
     * sink's thread for 1 may read it only after 0, 2, 3 and 4 were
     * answered, one at a time (seen once in CI). */
    struct hd_channel_status s = status(f);
    assert_int_equal(s.cursor, seq0);
    assert_int_equal(s.backlog, 5);
    assert_int_equal(s.oldest_recv_us > 0, 1);
    WAIT_FOR(stored_cursor(f) == seq0, 1000); /* flushed lazily, never past 1 */
    assert_int_equal(status(f).delivered, 4);
    assert_int_equal(sink_count(f->sink), 5);
    /* 1 answers: the cursor jumps over the answered 2..4, then 5 goes. */
    WAIT_FOR(status(f).delivered == 6 && status(f).cursor == last, 5000);
    assert_each_seen(f, 6, 1);
    assert_int_equal(rows(f, -1, NULL), 0);
    assert_int_equal(status(f).backlog, 0);
    hd_dispatcher_stop(f->d, 1000);
    assert_int_equal(stored_cursor(f), last);
}

/* One answer 500 while an earlier request is in flight: its PENDING row is
 * recorded without the cursor, the retry goes alone, every event arrives
 * once (the failed one twice). */
static void test_window_retry_out_of_order(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, "");
    sink_slow(f->sink, "{\"n\":1}", 400);
    sink_fail_once(f->sink, "{\"n\":2}", 500, NULL);
    start(f, 50, 200, 5);
    int64_t last = add_events(f, 8, 3, "falco");
    WAIT_FOR(status(f).delivered == 8 && status(f).cursor == last, 10000);
    WAIT_FOR(rows(f, -1, NULL) == 0, 5000);
    assert_int_equal(body_seen(f->sink, "{\"n\":2}"), 2);
    assert_int_equal(body_seen(f->sink, "{\"n\":0}") + body_seen(f->sink, "{\"n\":1}"), 2);
    for (int i = 3; i < 8; i++) {
        char b[32];
        snprintf(b, sizeof(b), "{\"n\":%d}", i);
        assert_int_equal(body_seen(f->sink, b), 1);
    }
    struct hd_channel_status s = status(f);
    assert_int_equal(s.failed, 0);
    assert_int_equal(s.consecutive_failures, 0);
    assert_int_equal(hd_metrics_get("herald_deliveries_total", "channel=\"hook\",outcome=\"retry\""), 1);
}

/* A 429 with Retry-After on one request stops launching new ones until the
 * backoff, even when requests sent before it succeed meanwhile. */
static void test_window_429_stops_launching(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, "");
    sink_slow(f->sink, "{\"n\":0}", 300);
    sink_fail_once(f->sink, "{\"n\":1}", 429, "Retry-After: 2");
    start(f, 50, 200, 5);
    int64_t last = add_events(f, 8, 3, "falco");
    WAIT_FOR(status(f).delivered == 3, 5000); /* 0, 2, 3: sent before the 429 */
    ms_sleep_ms(300);
    assert_int_equal(sink_count(f->sink), 4);
    struct hd_channel_status s = status(f);
    assert_true(s.next_attempt_ms > 0);
    assert_int_equal(s.consecutive_failures, 1);
    WAIT_FOR(status(f).delivered == 8 && status(f).cursor == last, 10000);
    assert_int_equal(body_seen(f->sink, "{\"n\":1}"), 2);
    assert_int_equal(status(f).consecutive_failures, 0);
    WAIT_FOR(rows(f, -1, NULL) == 0, 5000);
}

/* maxInFlight 1: one request at a time, in order. */
static void test_window_one_keeps_order(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, ONE_AT_A_TIME);
    sink_slow(f->sink, "{\"n\":1}", 200);
    start(f, 50, 200, 5);
    int64_t last = add_events(f, 6, 3, "falco");
    WAIT_FOR(status(f).delivered == 6 && status(f).cursor == last, 10000);
    assert_int_equal(sink_max_active(f->sink), 1);
    for (int i = 0; i < 6; i++) {
        char want[32];
        snprintf(want, sizeof(want), "{\"n\":%d}", i);
        assert_string_equal(f->sink->bodies[i], want);
    }
}

/* A stop with a request still in flight persists the cursor below it:
 * after a restart the events above it go out again (at least once), those
 * at or below it do not. */
static void test_window_stop_resends_above_cursor(void **state)
{
    struct fx *f = *state;
    add_channel(f, "hook", 1, "");
    sink_slow(f->sink, "{\"n\":1}", 1500);
    start(f, 50, 200, 5);
    int64_t last = add_events(f, 6, 3, "falco");
    WAIT_FOR(status(f).delivered == 4, 5000);
    hd_dispatcher_stop(f->d, 0);
    hd_dispatcher_free(f->d);
    f->d = NULL;
    assert_int_equal(stored_cursor(f), last - 5); /* event 0 only */
    sink_slow(f->sink, NULL, 0);
    start(f, 50, 200, 5);
    WAIT_FOR(status(f).cursor == last, 10000);
    hd_dispatcher_stop(f->d, 1000);
    assert_int_equal(stored_cursor(f), last);
    assert_each_seen(f, 1, 1);
    for (int i = 1; i < 5; i++) {
        char b[32];
        snprintf(b, sizeof(b), "{\"n\":%d}", i);
        assert_int_equal(body_seen(f->sink, b), 2);
    }
    assert_int_equal(body_seen(f->sink, "{\"n\":5}"), 1);
}

/* Updated, then deleted, with several requests in flight: each keeps the
 * channel that rendered it (freed with the last of them). */
static void test_window_channel_changed_in_flight(void **state)
{
    struct fx *f = *state;
    int64_t id = add_channel(f, "hook", 1, "");
    for (int i = 0; i < 4; i++) {
        sink_script(f->sink, 200, NULL, "{}", 300);
    }
    start(f, 50, 200, 5);
    add_events(f, 6, 3, "falco");
    WAIT_FOR(sink_count(f->sink) == 4, 5000);
    char json[512];
    snprintf(json, sizeof(json),
             "{\"type\":\"WEBHOOK\",\"name\":\"hook\",\"enabled\":true,"
             "\"options\":{\"url\":\"http://127.0.0.1:%d/v2\",\"maxInFlight\":2}}",
             f->sink->port);
    struct hd_channel_rec in = {.name = "hook", .type = "WEBHOOK", .enabled = 1, .json = json};
    struct hd_channel_rec out = {0};
    struct hd_err err = {0};
    if (f->st->ops->channel_update(f->st, (struct hd_channel_ref){.id = id, .version = 1}, &in, hd_now_ms(),
                                   &out, &err) != HD_OK) {
        fail_msg("channel_update: %s", err.msg);
    }
    hd_channel_rec_clear(&out);
    hd_dispatcher_channels_changed(f->d);
    WAIT_FOR(status(f).delivered == 6, 5000);
    for (int i = 0; i < 4; i++) {
        sink_script(f->sink, 200, NULL, "{}", 300);
    }
    add_events(f, 4, 3, "falco");
    WAIT_FOR(sink_count(f->sink) == 8, 5000);
    assert_int_equal(f->st->ops->channel_delete(f->st, f->chan_id, &err), HD_OK);
    hd_dispatcher_channels_changed(f->d);
    struct hd_channel_status s;
    WAIT_FOR(hd_dispatcher_status(f->d, f->chan_id, &s) == HD_ENOTFOUND, 5000);
    ms_sleep_ms(700); /* the answers arrive for a channel that is gone */
    assert_int_equal(hd_dispatcher_backlog(f->d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_delivers_in_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_503_then_success_retried, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_400_dead_letter_with_body, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_denied_destination_dead_letter, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_honoured, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_breaker_opens_and_recovers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_filtered_events_move_cursor, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_channel_deleted_in_flight, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_disabled_channel_skips, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stop_waits_for_in_flight, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_channel_updated_in_flight, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_status_unknown_channel, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_window_out_of_order_cursor, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_window_retry_out_of_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_window_429_stops_launching, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_window_one_keeps_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_window_stop_resends_above_cursor, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_window_channel_changed_in_flight, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
