/* http_server.c - the inbound HTTP listener over libmicrohttpd.
 *
 * DESIGN: one MHD daemon with a pool of HD_HTTP_THREADS epoll threads (not a
 * thread per connection: with 64 keep-alive clients each single-event ingest
 * cost a wakeup of its own thread, and a group commit could only gather as
 * many requests as there were threads waiting). The access handler is called
 * several times per request: first with the headers (we allocate the
 * per-request context and refuse a declared Content-Length over max_body with
 * 413 before any of the body is read), then once per chunk of upload data
 * (accumulated into an hd_buf capped at max_body; past the cap the rest is
 * discarded and 413 answered at the end), and a last time with no data, when
 * the user handler runs once with the whole body.
 *
 * Deferred answers (ingest): the handler calls hd_http_defer and returns; if
 * the work is not done yet, we suspend the connection (MHD stops polling it).
 * hd_http_async_done, from the store's writer thread, resumes it; MHD then
 * calls the access handler again and finish() composes the answer there. The
 * flags done/suspended are read and written under the context's own mutex
 * (mu), so the completion may come before the suspension (then there is none)
 * or after it. One mutex per context, not one per server: the writer holds it
 * across MHD_resume_connection (a write to the poll thread's eventfd), and a
 * server-wide lock held there made the poll threads queue on it (measured:
 * a third of their futex calls at 5,000 single events/s). The
 * context lives until both the request ended (completion callback) and the
 * work is done: a context whose request ended first (cannot happen while
 * suspended, kept for safety) is orphaned and freed by hd_http_async_done.
 * Stopping waits until no deferred work is pending, because MHD must not be
 * stopped with suspended connections, and refuses new deferrals meanwhile.
 */
#include "net/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/bufpool.h"
#include "core/metrics.h"
#include "core/util.h"
#include "net/tls_peer.h"

/* Once a request's headers are in, its body and answer may take this long
 * between two bytes (a slow upload, a deferred ingest answer). */
#define HD_HTTP_CONN_TIMEOUT_S 60
/* At most one line of libmicrohttpd's warnings (dropped connections, refused
 * ones over the caps) per this many ms; the next says how many were left out. */
#define HD_HTTP_LOG_EVERY_MS 10000
#define HD_TLS_FILE_MAX (1024 * 1024)
/* Poll threads. More than the 2 cores because a short handler may block
 * (a channel test's outbound call), stalling the connections of its thread. */
#define HD_HTTP_THREADS 4
/* A request whose body is this large gives the memory of its work back to
 * the kernel when it ends (body_drop). Not for the common 1-3 MB batches:
 * at 70 requests/s the trims (and the page faults after them) cost 8 % more
 * CPU per event and peak RSS is 30-33 MB without them; ~10 MB bodies over
 * 64 connections need them to stay at 40 MB. */
#define HD_HTTP_TRIM_BYTES (4 * 1024 * 1024)
/* Freed bodies of 256 KiB (malloc's mmap threshold, serve.c) up to
 * HD_HTTP_TRIM_BYTES are kept for the next requests (core/bufpool.h): at
 * most 2, 5 MiB together, given back after 250 ms unused (the reaper looks
 * every 250 ms: a kept body must not sit next to the dispatcher catching up
 * after a burst). A fresh mapping per body cost a page fault per 4 KiB
 * copied into it: 8 % of herald's CPU with arrays of 1,000
 * (docs/performance.md, round 14). */
#define HD_HTTP_POOL_MIN (256 * 1024)
#define HD_HTTP_POOL_N 2
#define HD_HTTP_POOL_BYTES (5 * 1024 * 1024)
#define HD_HTTP_POOL_IDLE_MS 250

struct hd_http_server {
    struct MHD_Daemon *d;
    hd_http_handler handler;
    hd_http_check check;
    void *ud;
    size_t max_body;
    /* Header deadlines (see conn_watch): wmu guards the list and wstop. */
    int64_t header_timeout_ms;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    struct conn_watch *watched;
    int wstop;
    int reaper_started;
    pthread_t reaper;
    unsigned long dropped;     /* wmu: dropped since the last log line */
    int64_t dropped_logged_ms; /* wmu */
    pthread_mutex_t logmu;     /* the two fields below */
    int64_t log_last_ms;
    unsigned long log_skipped;
    char *cert_pem; /* kept for the daemon's lifetime */
    char *key_pem;
    char *ca_pem;        /* tls_client_ca_file: clients are asked for a certificate */
    atomic_int quiesced; /* stopping: new requests are answered 503 */
    /* Deferred answers: amu guards every context's counted, pending
     * (deferred, not yet answered nor freed) and stopping. */
    pthread_mutex_t amu;
    pthread_cond_t acv; /* pending reached 0 */
    size_t pending;
    int stopping;
    /* Bodies held (see DESIGN "Backpressure"): bmu guards held, the wait
     * queue, n_waiting and bclosed; bcv signals n_waiting reaching 0. */
    size_t body_budget; /* 0: no limit */
    pthread_mutex_t bmu;
    pthread_cond_t bcv;
    size_t held;
    struct hd_http_async *wq_head, *wq_tail;
    size_t n_waiting;
    int bclosed;             /* stopping: everyone is admitted */
    struct hd_buf_pool pool; /* freed large bodies, for the next requests */
};

/* Per connection, from accept to close: when the headers of its current
 * request are due. libmicrohttpd's own timeout counts inactivity, so a client
 * sending a header line now and then (slowloris) would never hit it; the
 * reaper thread shuts down a connection whose headers are not complete by
 * the deadline. The fd stays valid while it is in s->watched: MHD calls the
 * CLOSED notification (which unlinks it under wmu) before closing it. */
struct conn_watch {
    int fd;
    int64_t timeout_ms;
    int64_t deadline_ms; /* atomic: when the current request's headers are due */
    int in_request;      /* atomic: headers complete, request under way */
    int reaped;          /* wmu */
    struct conn_watch *prev, *next;
    /* The client certificate (hd_http_peer), read at the first request that
     * asks: only the connection's own thread touches these. */
    int peer_read;
    enum hd_http_peer peer;
    char *peer_subject; /* owned */
    const char *peer_why;
};

/* Per request; lives from the header call to the completion callback (and
 * to the deferred work's end). It is also the handle of a deferred answer. */
struct hd_http_async {
    struct hd_http_server *s;
    struct MHD_Connection *conn;
    struct hd_buf body;
    int too_big;
    int refused;        /* answered on the headers (check): the body is never read */
    int deferred;       /* hd_http_defer was called */
    pthread_mutex_t mu; /* guards done, suspended and orphan */
    atomic_int done;    /* hd_http_async_done was called (set under mu) */
    int suspended;      /* the connection is suspended (mu) */
    int orphan;         /* the request ended before the work (mu) */
    int counted;        /* no longer in s->pending (s->amu) */
    int released;
    int64_t start_ns;              /* monotonic, at the headers: the duration histogram */
    const char *route;             /* the route set by check or handler (static), for a later answer */
    size_t declared;               /* Content-Length, 0 if none */
    size_t want;                   /* its charge: declared, or max_body for a chunked upload */
    size_t charged;                /* bytes of s->held that are this request's (bmu) */
    size_t body_freed;             /* the body's length when hd_http_body_release freed it early */
    int waiting;                   /* suspended until its body fits (bmu) */
    int admitted;                  /* the wait is over (bmu) */
    struct hd_http_async *wq_next; /* s->wq_head.. (bmu) */
    hd_http_finish_fn finish;
    void (*release)(void *ud);
    void *ud;
};

const char *hd_http_reason(int status)
{
    const char *r = MHD_get_reason_phrase_for((unsigned int)status);
    if (r == NULL || r[0] == '\0') {
        return "Unknown";
    }
    return r;
}

const char *hd_http_query(const struct hd_http_req *r, const char *key)
{
    if (r == NULL || r->impl == NULL) {
        return NULL;
    }
    return MHD_lookup_connection_value(((struct hd_http_async *)r->impl)->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *hd_http_header(const struct hd_http_req *r, const char *name)
{
    if (r == NULL || r->impl == NULL) {
        return NULL;
    }
    return MHD_lookup_connection_value(((struct hd_http_async *)r->impl)->conn, MHD_HEADER_KIND, name);
}

enum hd_http_peer hd_http_peer(const struct hd_http_req *r, const char **subject, const char **why)
{
    *subject = NULL;
    *why = NULL;
    if (r == NULL || r->impl == NULL) {
        return HD_PEER_NONE;
    }
    struct hd_http_async *cx = r->impl;
    if (cx->s->ca_pem == NULL) {
        return HD_PEER_NONE;
    }
    /* The state lives with the connection watch; none (out of memory at
     * accept) means no certificate identity: the request needs a token. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(cx->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_watch *w = ci != NULL ? ci->socket_context : NULL;
    if (w == NULL) {
        return HD_PEER_NONE;
    }
    if (!w->peer_read) {
        ci = MHD_get_connection_info(cx->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        struct hd_buf b;
        hd_buf_init(&b, 0);
        w->peer = HD_PEER_NONE;
        if (ci != NULL && ci->tls_session != NULL) {
            w->peer = hd_tls_peer_verify(ci->tls_session, &b, &w->peer_why);
        }
        if (w->peer == HD_PEER_VERIFIED) {
            w->peer_subject = hd_buf_steal(&b, NULL);
            if (w->peer_subject == NULL) {
                hd_buf_free(&b);
                return HD_PEER_NONE; /* out of memory: asked again next time */
            }
        }
        hd_buf_free(&b);
        w->peer_read = 1;
    }
    *subject = w->peer_subject;
    *why = w->peer_why;
    return w->peer;
}

int hd_http_resp_header(struct hd_http_resp *resp, const char *static_name, const char *value)
{
    if (resp->n_hdr >= HD_RESP_MAX_HEADERS) {
        return HD_ETOOBIG;
    }
    char *v = hd_strdup(value);
    if (v == NULL) {
        return HD_ENOMEM;
    }
    resp->hdr_name[resp->n_hdr] = static_name;
    resp->hdr_value[resp->n_hdr] = v;
    resp->n_hdr++;
    return HD_OK;
}

void hd_http_error(struct hd_http_resp *resp, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *reason = hd_http_reason(status);
    resp->status = status;
    resp->content_type = "application/json";
    hd_buf_reset(&resp->body);
    hd_buf_puts(&resp->body, "{\"errors\":[{\"reason\":");
    hd_buf_json_str(&resp->body, reason, strlen(reason));
    hd_buf_puts(&resp->body, ",\"message\":");
    hd_buf_json_str(&resp->body, msg, strlen(msg));
    hd_buf_puts(&resp->body, "}]}");
}

static void resp_init(struct hd_http_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    hd_buf_init(&resp->body, 0);
}

static void resp_clear(struct hd_http_resp *resp)
{
    hd_buf_free(&resp->body);
    for (size_t i = 0; i < resp->n_hdr; i++) {
        free(resp->hdr_value[i]);
        resp->hdr_value[i] = NULL;
    }
    resp->n_hdr = 0;
}

/* Queues resp on the connection; resp's body memory is handed to MHD. */
static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* herald_http_requests_total{route,code} and the duration histogram by route. */
static void count_request(const struct hd_http_async *cx, const struct hd_http_resp *resp)
{
    const char *route = resp->route;
    if (route == NULL && cx != NULL) {
        route = cx->route;
    }
    if (route == NULL) {
        route = "other";
    }
    char labels[192];
    snprintf(labels, sizeof(labels), "route=\"%.128s\",code=\"%d\"", route, resp->status);
    hd_metrics_add("herald_http_requests_total", labels, 1);
    if (cx != NULL && cx->start_ns > 0) {
        snprintf(labels, sizeof(labels), "route=\"%.128s\"", route);
        hd_metrics_observe("herald_http_request_duration_seconds", labels,
                           (double)(mono_ns() - cx->start_ns) / 1e9);
    }
}

/* Queues resp on c; cx is the request's context (NULL if none). */
static enum MHD_Result queue(struct MHD_Connection *c, struct hd_http_async *cx, struct hd_http_resp *resp)
{
    if (resp->status < 100 || resp->status > 599) {
        hd_http_error(resp, 500, "internal error: no answer");
    }
    size_t len = 0;
    char *body = NULL;
    struct MHD_Response *r = NULL;
    if (resp->status == 204 || resp->status == 304) {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        body = hd_buf_steal(&resp->body, &len);
        if (body != NULL) {
            r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
            if (r == NULL) {
                free(body);
            }
        }
    }
    if (r == NULL) {
        return MHD_NO;
    }
    if (resp->status != 204 && resp->status != 304) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp->content_type != NULL ? resp->content_type : "application/json");
    }
    /* Every answer, errors and refusals included: a browser never guesses
     * another type (an error quoting request text taken for HTML). */
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; i < resp->n_hdr; i++) {
        MHD_add_response_header(r, resp->hdr_name[i], resp->hdr_value[i]);
    }
    count_request(cx, resp);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned int)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_stopping(struct hd_http_async *cx)
{
    struct hd_http_resp resp;
    resp_init(&resp);
    hd_http_error(&resp, 503, "herald is stopping: send to another instance or retry");
    enum MHD_Result ret = queue(cx->conn, cx, &resp);
    resp_clear(&resp);
    return ret;
}

static enum MHD_Result queue_413(struct hd_http_server *s, struct hd_http_async *cx)
{
    struct hd_http_resp resp;
    resp_init(&resp);
    hd_http_error(&resp, 413, "request body over the limit of %zu bytes (limits.maxBodyBytes)", s->max_body);
    enum MHD_Result ret = queue(cx->conn, cx, &resp);
    resp_clear(&resp);
    return ret;
}

struct hd_http_async *hd_http_defer(const struct hd_http_req *req, hd_http_finish_fn finish,
                                    void (*release)(void *ud), void *ud)
{
    if (req == NULL || req->impl == NULL || finish == NULL || release == NULL) {
        return NULL;
    }
    struct hd_http_async *cx = req->impl;
    struct hd_http_server *s = cx->s;
    pthread_mutex_lock(&s->amu);
    if (s->stopping || cx->deferred) {
        pthread_mutex_unlock(&s->amu);
        return NULL;
    }
    cx->deferred = 1;
    cx->finish = finish;
    cx->release = release;
    cx->ud = ud;
    s->pending++;
    pthread_mutex_unlock(&s->amu);
    return cx;
}

/* Takes a deferred context out of s->pending (once). */
static void unpend(struct hd_http_async *cx)
{
    struct hd_http_server *s = cx->s;
    pthread_mutex_lock(&s->amu);
    if (!cx->counted) {
        cx->counted = 1;
        s->pending--;
        if (s->pending == 0) {
            pthread_cond_broadcast(&s->acv);
        }
    }
    pthread_mutex_unlock(&s->amu);
}

/* ---- backpressure: bytes of request bodies held -------------------------
 *
 * A request's declared body is charged against s->body_budget on its
 * headers; one that does not fit while others are held waits, suspended
 * before a byte of its body is read, in arrival order, until enough is
 * released (its body freed: after the answer, or at once when refused). One
 * alone is always admitted, whatever its size (up to max_body). A chunked
 * upload declares nothing, so it is charged max_body: it could grow that far
 * (body_grew keeps the charge at the buffer's real size if that is more). So
 * the memory of requests in flight is bounded and excess load waits instead
 * of being refused. */

/* Admits the waiters that now fit (bmu held). */
static void admit_waiters(struct hd_http_server *s)
{
    while (s->wq_head != NULL) {
        struct hd_http_async *w = s->wq_head;
        if (!s->bclosed && s->held > 0 && s->held + w->want > s->body_budget) {
            return;
        }
        s->wq_head = w->wq_next;
        if (s->wq_head == NULL) {
            s->wq_tail = NULL;
        }
        w->wq_next = NULL;
        w->admitted = 1;
        w->charged = w->want;
        s->held += w->want;
        MHD_resume_connection(w->conn);
    }
}

/* Charges cx's declared body, or queues it (then 0: the caller suspends the
 * connection, under bmu so the resume cannot come first). */
static int admit(struct hd_http_server *s, struct hd_http_async *cx)
{
    if (s->body_budget == 0 || cx->want == 0) {
        return 1;
    }
    pthread_mutex_lock(&s->bmu);
    if (s->bclosed || s->held == 0 || (s->wq_head == NULL && s->held + cx->want <= s->body_budget)) {
        cx->charged = cx->want;
        s->held += cx->want;
        pthread_mutex_unlock(&s->bmu);
        return 1;
    }
    cx->waiting = 1;
    s->n_waiting++;
    hd_metrics_add("herald_http_requests_waited_total", NULL, 1);
    if (s->wq_tail != NULL) {
        s->wq_tail->wq_next = cx;
    } else {
        s->wq_head = cx;
    }
    s->wq_tail = cx;
    MHD_suspend_connection(cx->conn);
    pthread_mutex_unlock(&s->bmu);
    return 0;
}

/* The wait of cx is over (admitted and called again, or its connection
 * ended); bmu held. */
static void wait_over(struct hd_http_server *s, struct hd_http_async *cx)
{
    if (!cx->waiting) {
        return;
    }
    cx->waiting = 0;
    if (!cx->admitted) { /* still queued: unlink */
        struct hd_http_async **pp = &s->wq_head;
        struct hd_http_async *prev = NULL;
        while (*pp != NULL && *pp != cx) {
            prev = *pp;
            pp = &(*pp)->wq_next;
        }
        if (*pp == cx) {
            *pp = cx->wq_next;
            if (s->wq_tail == cx) {
                s->wq_tail = prev;
            }
        }
    }
    if (--s->n_waiting == 0) {
        pthread_cond_broadcast(&s->bcv);
    }
}

/* Frees the body and gives its charge back. A large request's work (its
 * decoded events, the store's pages of its commit) was freed just before, in
 * thousands of small blocks: they are given back to the kernel, so the
 * next large request starts from the same resident size. */
static void body_drop(struct hd_http_async *cx)
{
    struct hd_http_server *s = cx->s;
    /* its length: not the charge (a small chunked upload is charged
     * max_body), nor the capacity (a chunked one doubles it); the body may
     * be gone already (hd_http_body_release) */
    size_t len = cx->body.len > cx->body_freed ? cx->body.len : cx->body_freed;
    int large = len >= HD_HTTP_TRIM_BYTES;
    if (cx->body.p == NULL && len >= HD_HTTP_POOL_MIN) {
        hd_buf_pool_touch(&s->pool); /* kept at its early release: idle from now on */
    }
    hd_buf_pool_put(&s->pool, &cx->body);
    cx->body_freed = 0; /* called again at the request's end (ctx_free): one trim per request */
    if (cx->charged != 0 || cx->waiting) {
        pthread_mutex_lock(&s->bmu);
        wait_over(s, cx);
        s->held -= cx->charged;
        cx->charged = 0;
        admit_waiters(s);
        pthread_mutex_unlock(&s->bmu);
    }
    if (large) {
        hd_mem_trim();
        hd_metrics_add("herald_memory_trims_total", NULL, 1);
    }
}

void hd_http_body_release(const struct hd_http_req *req)
{
    if (req != NULL && req->impl != NULL) {
        struct hd_http_async *cx = req->impl;
        cx->body_freed = cx->body.len;
        hd_buf_pool_put(&cx->s->pool, &cx->body); /* the charge stays: body_drop gives it back */
    }
}

/* Charges growth past the declaration (chunked uploads), never waiting. */
static void body_grew(struct hd_http_async *cx)
{
    struct hd_http_server *s = cx->s;
    if (s->body_budget == 0 || cx->body.cap <= cx->charged) {
        return;
    }
    pthread_mutex_lock(&s->bmu);
    s->held += cx->body.cap - cx->charged;
    cx->charged = cx->body.cap;
    pthread_mutex_unlock(&s->bmu);
}

static void ctx_free(struct hd_http_async *cx)
{
    if (cx->deferred) {
        unpend(cx);
    }
    if (cx->deferred && !cx->released) {
        cx->released = 1;
        cx->release(cx->ud);
    }
    body_drop(cx);
    pthread_mutex_destroy(&cx->mu);
    free(cx);
}

void hd_http_async_done(struct hd_http_async *cx)
{
    int orphan = 0;
    pthread_mutex_lock(&cx->mu);
    atomic_store(&cx->done, 1);
    if (cx->suspended) {
        /* The worker owning the connection calls on_request again. */
        MHD_resume_connection(cx->conn);
    }
    orphan = cx->orphan;
    pthread_mutex_unlock(&cx->mu);
    if (orphan) {
        ctx_free(cx);
    }
}

/* Composes and queues a deferred answer (its work is done). */
static enum MHD_Result answer_deferred(struct hd_http_async *cx)
{
    struct hd_http_resp resp;
    resp_init(&resp);
    resp.status = 200;
    cx->finish(cx->ud, &resp);
    cx->released = 1;
    cx->release(cx->ud);
    enum MHD_Result ret = queue(cx->conn, cx, &resp);
    resp_clear(&resp);
    body_drop(cx);
    unpend(cx);
    return ret;
}

/* Marks the connection's current request as under way (headers complete) or,
 * when it ended, starts the next request's header deadline. */
static void watch_request(struct MHD_Connection *c, int started)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_watch *w = ci != NULL ? ci->socket_context : NULL;
    if (w == NULL) {
        return;
    }
    if (!started) {
        __atomic_store_n(&w->deadline_ms, hd_mono_ms() + w->timeout_ms, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&w->in_request, started, __ATOMIC_RELEASE);
}

/* MHD_OPTION_NOTIFY_CONNECTION: a connection is watched from accept to close. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct hd_http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn_watch *w = calloc(1, sizeof(*w));
        if (w == NULL || ci == NULL) {
            free(w); /* unwatched: MHD's idle timeout still applies */
            return;
        }
        w->fd = ci->connect_fd;
        w->timeout_ms = s->header_timeout_ms;
        w->deadline_ms = hd_mono_ms() + w->timeout_ms;
        pthread_mutex_lock(&s->wmu);
        w->next = s->watched;
        if (s->watched != NULL) {
            s->watched->prev = w;
        }
        s->watched = w;
        pthread_mutex_unlock(&s->wmu);
        *socket_context = w;
        return;
    }
    struct conn_watch *w = *socket_context;
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&s->wmu);
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        s->watched = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    }
    pthread_mutex_unlock(&s->wmu);
    *socket_context = NULL;
    free(w->peer_subject);
    free(w);
}

/* The reaper: every quarter of the header timeout (at most 250 ms: it also
 * gives the kept bodies back, HD_HTTP_POOL_IDLE_MS), shuts down
 * the connections whose headers are overdue; MHD then sees the socket end and
 * closes it. */
static void *reaper_main(void *arg)
{
    hd_thread_name("hd-reaper");
    struct hd_http_server *s = arg;
    int64_t period =
        s->header_timeout_ms / 4 < HD_HTTP_POOL_IDLE_MS ? s->header_timeout_ms / 4 : HD_HTTP_POOL_IDLE_MS;
    pthread_mutex_lock(&s->wmu);
    while (!s->wstop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)(period / 1000);
        until.tv_nsec += (long)(period % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->wcv, &s->wmu, &until);
        hd_buf_pool_drain(&s->pool);
        int64_t now = hd_mono_ms();
        unsigned long dropped = 0;
        for (struct conn_watch *w = s->watched; w != NULL; w = w->next) {
            if (w->reaped || __atomic_load_n(&w->in_request, __ATOMIC_ACQUIRE) ||
                __atomic_load_n(&w->deadline_ms, __ATOMIC_RELAXED) > now) {
                continue;
            }
            shutdown(w->fd, SHUT_RDWR);
            w->reaped = 1;
            dropped++;
        }
        if (dropped > 0) {
            s->dropped += dropped;
            if (now - s->dropped_logged_ms >= HD_HTTP_LOG_EVERY_MS) {
                hd_log(HD_LOG_WARN,
                       "http server: dropped %lu connection(s) that did not complete their request headers "
                       "within limits.headerTimeoutMs (%lld ms)",
                       s->dropped, (long long)s->header_timeout_ms);
                s->dropped = 0;
                s->dropped_logged_ms = now;
            }
        }
    }
    pthread_mutex_unlock(&s->wmu);
    return NULL;
}

/* Runs s->check on the headers; 0 when it refused (the answer is queued). */
static int check_headers(struct hd_http_server *s, struct hd_http_async *cx, const char *url,
                         const char *method)
{
    struct hd_http_req req = {.method = method, .path = url, .body = NULL, .body_len = 0, .impl = cx};
    struct hd_http_resp resp;
    resp_init(&resp);
    resp.status = 200;
    int go_on = s->check(s->ud, &req, &resp);
    cx->route = resp.route;
    if (!go_on) {
        cx->refused = 1;
        body_drop(cx);
        (void)queue(cx->conn, cx, &resp);
    }
    resp_clear(&resp);
    return go_on;
}

/* Sizes the buffer once: growing by doubling would hold up to twice the
 * body (a 2.3 MB NDJSON batch in a 4 MB buffer) for the whole request, per
 * connection. A failure here only means growth later. */
static void reserve_body(struct hd_http_async *cx)
{
    if (cx->declared > 0 && hd_buf_pool_take(&cx->s->pool, &cx->body, cx->declared)) {
        hd_metrics_add("herald_http_bodies_reused_total", NULL, 1);
    } else if (cx->declared > 0) {
        /* rounded up in the pool's range: a kept body then fits the next
         * one of a similar size */
        size_t cap = hd_buf_pool_size(&cx->s->pool, cx->declared + 1);
        if (cx->s->max_body > 0 && cap - 1 > cx->s->max_body) {
            cap = cx->declared + 1;
        }
        (void)hd_buf_reserve_exact(&cx->body, cap - 1);
    }
}

/* A call for a request that waited for room: 1 when it goes on with this
 * call's upload data; 0 when the call ends here (still waiting, or the
 * resume's own call before the body, or admitted by a stop: too_big set,
 * the caller answers 503). */
static int was_admitted(struct hd_http_server *s, struct hd_http_async *cx, size_t upload_size)
{
    pthread_mutex_lock(&s->bmu);
    int in = cx->admitted;
    if (in) {
        wait_over(s, cx);
    }
    pthread_mutex_unlock(&s->bmu);
    if (!in) {
        return 0; /* spurious: still waiting */
    }
    if (atomic_load(&s->quiesced)) {
        cx->too_big = 1; /* skip the upload */
        return 0;
    }
    reserve_body(cx);
    return upload_size > 0; /* 0: the resume's call, the body follows */
}

/* lint:callback (libmicrohttpd's MHD_AccessHandlerCallback) */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct hd_http_server *s = cls;
    struct hd_http_async *cx = *con_cls;
    if (cx == NULL) {
        cx = calloc(1, sizeof(*cx));
        if (cx == NULL) {
            return MHD_NO;
        }
        cx->s = s;
        cx->conn = c;
        pthread_mutex_init(&cx->mu, NULL);
        cx->start_ns = mono_ns();
        hd_buf_init(&cx->body, s->max_body);
        *con_cls = cx;
        watch_request(c, 1); /* the headers are in: no deadline while it runs */
        if (atomic_load(&s->quiesced)) {
            cx->too_big = 1; /* answered before its body: MHD skips the upload and closes */
            return queue_stopping(cx);
        }
        /* Authenticate (and route) on the headers: a refused request costs
         * no body buffer. MHD then skips the upload and closes the connection
         * after the answer, as for the 413 below. */
        if (s->check != NULL && !check_headers(s, cx, url, method)) {
            return MHD_YES;
        }
        /* Refuse a declared oversized body before reading it. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t n = 0;
        if (cl != NULL && hd_parse_i64(cl, &n) == HD_OK && s->max_body > 0 && n > 0 &&
            (uint64_t)n > (uint64_t)s->max_body) {
            cx->too_big = 1;
            return queue_413(s, cx);
        }
        cx->declared = n > 0 ? (size_t)n : 0;
        cx->want = cx->declared;
        const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        if (cl == NULL && te != NULL && strcasestr(te, "chunked") != NULL) {
            cx->want = s->max_body; /* unknown length: as much as it may grow */
        }
        if (!admit(s, cx)) {
            return MHD_YES; /* suspended until its body fits: called again then */
        }
        reserve_body(cx);
        return MHD_YES;
    }
    if (cx->waiting && !was_admitted(s, cx, *upload_data_size)) {
        return atomic_load(&s->quiesced) && cx->too_big ? queue_stopping(cx) : MHD_YES;
    }
    if (cx->deferred) {
        /* Called again after the resume (or, spuriously, while suspended).
         * No lock: done only goes from 0 to 1, and once it is 1 the writer
         * no longer reads suspended. Taking mu here made the woken worker
         * wait for the writer, which holds it across the resume. */
        int done = atomic_load(&cx->done);
        if (done) {
            cx->suspended = 0;
        }
        return done ? answer_deferred(cx) : MHD_YES;
    }
    if (cx->refused) {
        *upload_data_size = 0; /* answered already: discard whatever comes */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!cx->too_big && hd_buf_append(&cx->body, upload_data, *upload_data_size) != HD_OK) {
            cx->too_big = 1;
            body_drop(cx);
        }
        body_grew(cx);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (cx->too_big) {
        return queue_413(s, cx);
    }

    struct hd_http_req req = {
        .method = method,
        .path = url,
        .body = cx->body.p != NULL ? cx->body.p : "",
        .body_len = cx->body.len,
        .checked = s->check != NULL,
        .impl = cx,
    };
    struct hd_http_resp resp;
    resp_init(&resp);
    resp.status = 200;
    s->handler(s->ud, &req, &resp);
    if (resp.route != NULL) {
        cx->route = resp.route; /* a deferred answer is labelled by it */
    }
    if (cx->deferred) {
        resp_clear(&resp);
        pthread_mutex_lock(&cx->mu);
        int done = atomic_load(&cx->done);
        if (!done) {
            cx->suspended = 1;
            MHD_suspend_connection(c);
        }
        pthread_mutex_unlock(&cx->mu);
        /* The body stays until the answer: the deferred work may use it. */
        return done ? answer_deferred(cx) : MHD_YES;
    }
    enum MHD_Result ret = queue(c, cx, &resp);
    resp_clear(&resp);
    /* The body is no longer needed; free it now rather than at completion. */
    body_drop(cx);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct hd_http_async *cx = *con_cls;
    if (cx == NULL) {
        return;
    }
    *con_cls = NULL;
    /* A kept-alive connection's next request must come, headers complete,
     * within the header timeout too. */
    watch_request(c, 0);
    if (cx->deferred) {
        pthread_mutex_lock(&cx->mu);
        int done = atomic_load(&cx->done);
        if (!done) {
            cx->orphan = 1; /* hd_http_async_done frees it */
        }
        pthread_mutex_unlock(&cx->mu);
        if (!done) {
            return;
        }
    }
    ctx_free(cx);
}

/* libmicrohttpd's warnings, rate-limited: a flood of refused or dropped
 * connections is an attack or an overload, and must not become a flood of
 * log lines (one per HD_HTTP_LOG_EVERY_MS, with the count of those left out). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct hd_http_server *s = cls;
    int64_t now = hd_mono_ms();
    pthread_mutex_lock(&s->logmu);
    if (s->log_last_ms != 0 && now - s->log_last_ms < HD_HTTP_LOG_EVERY_MS) {
        s->log_skipped++;
        pthread_mutex_unlock(&s->logmu);
        return;
    }
    unsigned long skipped = s->log_skipped;
    s->log_skipped = 0;
    s->log_last_ms = now;
    pthread_mutex_unlock(&s->logmu);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    if (skipped > 0) {
        hd_log(HD_LOG_WARN, "http server: %s (%lu similar messages in the last %d s not shown)", msg, skipped,
               HD_HTTP_LOG_EVERY_MS / 1000);
    } else {
        hd_log(HD_LOG_WARN, "http server: %s", msg);
    }
}

static char *read_file(const char *path, const char *what, struct hd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        hd_err_set(err, HD_EIO, "%s: cannot open %s: %s", what, path, strerror(errno));
        return NULL;
    }
    struct hd_buf b;
    hd_buf_init(&b, HD_TLS_FILE_MAX);
    char chunk[4096];
    int rc = HD_OK;
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        if (n == 0) {
            break;
        }
        rc = hd_buf_append(&b, chunk, n);
        if (rc != HD_OK) {
            break;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (rc != HD_OK || bad || b.len == 0) {
        hd_buf_free(&b);
        hd_err_set(err, HD_EIO, "%s: cannot read %s (empty, unreadable or over 1 MiB)", what, path);
        return NULL;
    }
    return hd_buf_steal(&b, NULL);
}

/* "HOST:PORT" (IPv4 or a name resolving to one; empty host = any) into sa. */
static int parse_listen(const char *listen, struct sockaddr_in *sa, struct hd_err *err)
{
    if (listen == NULL) {
        return hd_err_set(err, HD_EINVAL, "listen: required (HOST:PORT)");
    }
    const char *colon = strrchr(listen, ':');
    if (colon == NULL) {
        return hd_err_set(err, HD_EINVAL, "listen: '%s' is not HOST:PORT", listen);
    }
    int64_t port = 0;
    if (hd_parse_i64(colon + 1, &port) != HD_OK || port < 0 || port > 65535) {
        return hd_err_set(err, HD_EINVAL, "listen: port '%s' is not 0..65535", colon + 1);
    }
    char host[256];
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof(host)) {
        return hd_err_set(err, HD_EINVAL, "listen: host too long");
    }
    memcpy(host, listen, hl);
    host[hl] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (hl == 0 || strcmp(host, "*") == 0) {
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
        return HD_OK;
    }
    if (inet_pton(AF_INET, host, &sa->sin_addr) == 1) {
        return HD_OK;
    }
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0 || res == NULL) {
        return hd_err_set(err, HD_EINVAL, "listen: cannot resolve '%s' to an IPv4 address: %s", host,
                          gai_strerror(gai));
    }
    sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return HD_OK;
}

/* The client CA bundle (s->ca_pem): with it MHD asks every client for a
 * certificate (requested, not required) and trusts these CAs for it. */
static int read_client_ca(struct hd_http_server *s, const char *path, int tls, struct hd_err *err)
{
    if (!tls) {
        return hd_err_set(err, HD_EINVAL, "tls.clientCaFile needs tls.certFile and tls.keyFile (HTTPS)");
    }
    s->ca_pem = read_file(path, "tls.clientCaFile", err);
    if (s->ca_pem == NULL) {
        return HD_EIO;
    }
    return hd_tls_check_ca(s->ca_pem, strlen(s->ca_pem), "tls.clientCaFile", path, err);
}

/* Frees what hd_http_server_start made (the daemon and reaper are stopped). */
static void server_free(struct hd_http_server *s)
{
    free(s->cert_pem);
    free(s->key_pem);
    free(s->ca_pem);
    pthread_cond_destroy(&s->acv);
    pthread_mutex_destroy(&s->amu);
    pthread_cond_destroy(&s->bcv);
    pthread_mutex_destroy(&s->bmu);
    pthread_mutex_destroy(&s->logmu);
    hd_buf_pool_destroy(&s->pool);
    pthread_cond_destroy(&s->wcv);
    pthread_mutex_destroy(&s->wmu);
    free(s);
}

struct hd_http_server *hd_http_server_start(const struct hd_http_server_opts *o, hd_http_handler h, void *ud,
                                            struct hd_err *err)
{
    struct hd_http_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        hd_err_set(err, HD_ENOMEM, "out of memory");
        return NULL;
    }
    s->handler = h;
    s->ud = ud;
    s->max_body = o->max_body;
    s->body_budget = o->body_budget;
    pthread_mutex_init(&s->amu, NULL);
    pthread_cond_init(&s->acv, NULL);
    pthread_mutex_init(&s->bmu, NULL);
    pthread_cond_init(&s->bcv, NULL);
    pthread_mutex_init(&s->logmu, NULL);
    hd_buf_pool_init(&s->pool, HD_HTTP_POOL_MIN, HD_HTTP_TRIM_BYTES, HD_HTTP_POOL_N, HD_HTTP_POOL_BYTES,
                     HD_HTTP_POOL_IDLE_MS);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->wcv, NULL);
    s->check = o->check;
    s->header_timeout_ms = o->header_timeout_ms > 0 ? o->header_timeout_ms : HD_HTTP_CONN_TIMEOUT_S * 1000L;
    struct sockaddr_in sa;
    if (parse_listen(o->listen, &sa, err) != HD_OK) {
        goto fail;
    }
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_ERROR_LOG | MHD_USE_ITC;
    int tls = o->tls_cert_file != NULL && o->tls_cert_file[0] != '\0' && o->tls_key_file != NULL &&
              o->tls_key_file[0] != '\0';
    if (tls) {
        s->cert_pem = read_file(o->tls_cert_file, "tls.certFile", err);
        if (s->cert_pem == NULL) {
            goto fail;
        }
        s->key_pem = read_file(o->tls_key_file, "tls.keyFile", err);
        if (s->key_pem == NULL) {
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    if (o->tls_client_ca_file != NULL && o->tls_client_ca_file[0] != '\0' &&
        read_client_ca(s, o->tls_client_ca_file, tls, err) != HD_OK) {
        goto fail;
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->key_pem},
        {s->ca_pem != NULL ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, s->ca_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};
    struct MHD_OptionItem limits[] = {
        {o->max_connections > 0 ? MHD_OPTION_CONNECTION_LIMIT : MHD_OPTION_END, o->max_connections, NULL},
        {o->max_connections_ip > 0 ? MHD_OPTION_PER_IP_CONNECTION_LIMIT : MHD_OPTION_END,
         o->max_connections_ip, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (o->max_connections == 0 && o->max_connections_ip > 0) {
        limits[0] = limits[1];
        limits[1] = limits[2];
    }
    /* The logger must be the first option to catch every message. */
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned int)HD_HTTP_CONN_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                            s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_THREAD_POOL_SIZE,
                            (unsigned int)HD_HTTP_THREADS, MHD_OPTION_ARRAY, limits, MHD_OPTION_ARRAY,
                            tls ? tls_opts : no_opts, MHD_OPTION_END);
    if (s->d == NULL) {
        hd_err_set(err, HD_EIO, "cannot listen on %s%s (address in use, or bad TLS files?)", o->listen,
                   tls ? " with TLS" : "");
        goto fail;
    }
    if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) {
        hd_err_set(err, HD_ENOMEM, "cannot start the header timeout thread");
        MHD_stop_daemon(s->d);
        goto fail;
    }
    s->reaper_started = 1;
    return s;
fail:
    server_free(s);
    return NULL;
}

uint16_t hd_http_server_port(struct hd_http_server *s)
{
    if (s == NULL || s->d == NULL) {
        return 0;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return info != NULL ? info->port : 0;
}

void hd_http_server_quiesce(struct hd_http_server *s)
{
    if (s == NULL || s->d == NULL) {
        return;
    }
    /* New requests are answered 503 at once (on_request) while the answers
     * in flight finish. Not MHD_quiesce_daemon: with a pool of epoll threads
     * it races the threads' own removal of the listening socket and MHD
     * aborts ("Failed to remove listen FD from epoll set", seen in CI). */
    atomic_store(&s->quiesced, 1);
}

/* Stopping: requests waiting for room are let go (they are answered 503, or
 * their connections end) before MHD stops, which it must not do with
 * suspended connections. Bounded: a poll thread takes each within a round. */
static void release_waiters(struct hd_http_server *s)
{
    pthread_mutex_lock(&s->bmu);
    s->bclosed = 1;
    admit_waiters(s);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    while (s->n_waiting > 0) {
        if (pthread_cond_timedwait(&s->bcv, &s->bmu, &until) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&s->bmu);
}

void hd_http_server_stop(struct hd_http_server *s)
{
    if (s == NULL) {
        return;
    }
    /* MHD must not stop with suspended connections: refuse new deferrals
     * and wait until every deferred request is answered (or its client
     * gone). This ends: the store completes or fails every queued write,
     * and the poll threads answer the resumed connections. */
    pthread_mutex_lock(&s->amu);
    s->stopping = 1;
    while (s->pending > 0) {
        pthread_cond_wait(&s->acv, &s->amu);
    }
    pthread_mutex_unlock(&s->amu);
    release_waiters(s);
    if (s->d != NULL) {
        MHD_stop_daemon(s->d); /* closes every connection: the watch list empties */
    }
    if (s->reaper_started) {
        pthread_mutex_lock(&s->wmu);
        s->wstop = 1;
        pthread_cond_signal(&s->wcv);
        pthread_mutex_unlock(&s->wmu);
        pthread_join(s->reaper, NULL);
    }
    server_free(s);
}
