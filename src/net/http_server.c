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
 * flags done/suspended are read and written under s->amu, so the completion
 * may come before the suspension (then there is none) or after it. The
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#define HD_HTTP_CONN_TIMEOUT_S 60
#define HD_TLS_FILE_MAX (1024 * 1024)
/* Poll threads. More than the 2 cores because a short handler may block
 * (a channel test's outbound call), stalling the connections of its thread. */
#define HD_HTTP_THREADS 4

struct hd_http_server {
    struct MHD_Daemon *d;
    hd_http_handler handler;
    void *ud;
    size_t max_body;
    char *cert_pem; /* kept for the daemon's lifetime */
    char *key_pem;
    int quiesced;
    /* Deferred answers: amu guards every context's done/suspended/orphan/
     * counted, pending (deferred, not yet answered nor freed) and stopping. */
    pthread_mutex_t amu;
    pthread_cond_t acv; /* pending reached 0 */
    size_t pending;
    int stopping;
};

/* Per request; lives from the header call to the completion callback (and
 * to the deferred work's end). It is also the handle of a deferred answer. */
struct hd_http_async {
    struct hd_http_server *s;
    struct MHD_Connection *conn;
    struct hd_buf body;
    int too_big;
    int deferred;  /* hd_http_defer was called */
    int done;      /* hd_http_async_done was called (amu) */
    int suspended; /* the connection is suspended (amu) */
    int orphan;    /* the request ended before the work (amu) */
    int counted;   /* no longer in s->pending (amu) */
    int released;
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
static enum MHD_Result queue(struct MHD_Connection *c, struct hd_http_resp *resp)
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
    for (size_t i = 0; i < resp->n_hdr; i++) {
        MHD_add_response_header(r, resp->hdr_name[i], resp->hdr_value[i]);
    }
    char labels[32];
    snprintf(labels, sizeof(labels), "code=\"%d\"", resp->status);
    hd_metrics_add("herald_http_requests_total", labels, 1);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned int)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_413(struct hd_http_server *s, struct MHD_Connection *c)
{
    struct hd_http_resp resp;
    resp_init(&resp);
    hd_http_error(&resp, 413, "request body over the limit of %zu bytes (limits.maxBodyBytes)", s->max_body);
    enum MHD_Result ret = queue(c, &resp);
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

static void ctx_free(struct hd_http_async *cx)
{
    if (cx->deferred) {
        unpend(cx);
    }
    if (cx->deferred && !cx->released) {
        cx->released = 1;
        cx->release(cx->ud);
    }
    hd_buf_free(&cx->body);
    free(cx);
}

void hd_http_async_done(struct hd_http_async *cx)
{
    struct hd_http_server *s = cx->s;
    int orphan = 0;
    pthread_mutex_lock(&s->amu);
    cx->done = 1;
    if (cx->suspended) {
        /* The worker owning the connection calls on_request again. */
        MHD_resume_connection(cx->conn);
    }
    orphan = cx->orphan;
    pthread_mutex_unlock(&s->amu);
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
    enum MHD_Result ret = queue(cx->conn, &resp);
    resp_clear(&resp);
    hd_buf_free(&cx->body);
    unpend(cx);
    return ret;
}

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
        hd_buf_init(&cx->body, s->max_body);
        *con_cls = cx;
        /* Refuse a declared oversized body before reading it: MHD then skips
         * the upload and closes the connection after the answer. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t n = 0;
        if (cl != NULL && hd_parse_i64(cl, &n) == HD_OK && s->max_body > 0 && n > 0 &&
            (uint64_t)n > (uint64_t)s->max_body) {
            cx->too_big = 1;
            return queue_413(s, c);
        }
        /* Size the buffer once: growing by doubling would hold up to twice
         * the body (a 2.3 MB NDJSON batch in a 4 MB buffer) for the whole
         * request, per connection. A failure here only means growth later. */
        if (n > 0) {
            (void)hd_buf_reserve(&cx->body, (size_t)n);
        }
        return MHD_YES;
    }
    if (cx->deferred) {
        /* Called again after the resume (or, spuriously, while suspended). */
        pthread_mutex_lock(&s->amu);
        int done = cx->done;
        if (done) {
            cx->suspended = 0;
        }
        pthread_mutex_unlock(&s->amu);
        return done ? answer_deferred(cx) : MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!cx->too_big && hd_buf_append(&cx->body, upload_data, *upload_data_size) != HD_OK) {
            cx->too_big = 1;
            hd_buf_free(&cx->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (cx->too_big) {
        return queue_413(s, c);
    }

    struct hd_http_req req = {
        .method = method,
        .path = url,
        .body = cx->body.p != NULL ? cx->body.p : "",
        .body_len = cx->body.len,
        .impl = cx,
    };
    struct hd_http_resp resp;
    resp_init(&resp);
    resp.status = 200;
    s->handler(s->ud, &req, &resp);
    if (cx->deferred) {
        resp_clear(&resp);
        pthread_mutex_lock(&s->amu);
        int done = cx->done;
        if (!done) {
            cx->suspended = 1;
            MHD_suspend_connection(c);
        }
        pthread_mutex_unlock(&s->amu);
        /* The body stays until the answer: the deferred work may use it. */
        return done ? answer_deferred(cx) : MHD_YES;
    }
    enum MHD_Result ret = queue(c, &resp);
    resp_clear(&resp);
    /* The body is no longer needed; free it now rather than at completion. */
    hd_buf_free(&cx->body);
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
    if (cx->deferred) {
        struct hd_http_server *s = cx->s;
        pthread_mutex_lock(&s->amu);
        int done = cx->done;
        if (!done) {
            cx->orphan = 1; /* hd_http_async_done frees it */
        }
        pthread_mutex_unlock(&s->amu);
        if (!done) {
            return;
        }
    }
    ctx_free(cx);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    hd_log(HD_LOG_WARN, "http server: %s", msg);
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
    pthread_mutex_init(&s->amu, NULL);
    pthread_cond_init(&s->acv, NULL);
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
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};
    /* The logger must be the first option to catch every message. */
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned int)HD_HTTP_CONN_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                            s, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)HD_HTTP_THREADS, MHD_OPTION_ARRAY,
                            tls ? tls_opts : no_opts, MHD_OPTION_END);
    if (s->d == NULL) {
        hd_err_set(err, HD_EIO, "cannot listen on %s%s (address in use, or bad TLS files?)", o->listen,
                   tls ? " with TLS" : "");
        goto fail;
    }
    return s;
fail:
    free(s->cert_pem);
    free(s->key_pem);
    pthread_cond_destroy(&s->acv);
    pthread_mutex_destroy(&s->amu);
    free(s);
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
    if (s == NULL || s->d == NULL || s->quiesced) {
        return;
    }
    /* MHD hands the listening socket back to us: closing it makes new
     * connections fail at once instead of waiting in the backlog. */
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET) {
        close(fd);
    }
    s->quiesced = 1;
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
    if (s->d != NULL) {
        MHD_stop_daemon(s->d);
    }
    free(s->cert_pem);
    free(s->key_pem);
    pthread_cond_destroy(&s->acv);
    pthread_mutex_destroy(&s->amu);
    free(s);
}
