/* http_client.c - outbound HTTP over libcurl (multi for the loop, easy for sync).
 *
 * DESIGN: one curl multi handle per client, driven by curl_multi_poll from the
 * single thread that owns it (the dispatcher loop); curl_multi_wakeup is the
 * only entry other threads use. The multi keeps a connection cache, so
 * successive requests to a sink reuse the same keep-alive connection. Each
 * submitted request becomes a struct xfer that owns the request's memory for
 * the transfer's lifetime (curl reads the body in place, no copy); finished
 * transfers move to a FIFO until hd_http_client_done hands them out. Easy
 * handles are recycled through a small free list to skip their set-up cost,
 * and request bodies through a smaller one (HD_BODY_POOL_MAX).
 *
 * Secrets: request headers carry auth tokens; they are handed to curl and
 * never copied into error text or logs. Error text is curl's code string plus
 * its errbuf, which names hosts, not headers.
 *
 * Besides HTTP(S), a request may be a raw stream (tcp:// or tls://: the
 * body written as is on a connection, raw.c), an SMTP submission (mail_from set: the
 * body is uploaded as the message, the status is the SMTP reply code) or be
 * signed with AWS SigV4 by curl, and may chain a follow-up request sent only
 * after a 2xx answer (one render fanned out to several targets).
 *
 * Destinations: every transfer made from a struct hd_request opens its
 * sockets through on_open_socket, which refuses an address of the deny list
 * before connecting (curl then tries the name's next address), and sends
 * each request only after on_prereq has checked the connection's address
 * again (a kept-alive connection opened before a reload tightened the
 * list). The refusal is recorded in the transfer's hd_response, the only
 * per-transfer state the callbacks need. Streams do not install them.
 */
#include "net/http_client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/util.h"
#include "net/http_int.h"

#define HD_REQ_DEFAULT_TIMEOUT_MS 10000L
#define HD_REQ_MAX_CONNECT_TIMEOUT_MS 10000L
#define HD_EASY_POOL_MAX 16
/* Request bodies kept for the next render (hd_http_client_body): a batch's
 * body of a few hundred KiB or more is past malloc's mmap threshold, so each
 * one was mapped, faulted in page by page and unmapped (a TLB shootdown on
 * every core) - measured ~4 % of herald's CPU at 5,000 single events/s to
 * ELASTICSEARCH, and ~10 % of the CPU per event of batches of 1,000 once the
 * large ones were kept too (docs/performance.md, round 8). At most
 * HD_BODY_POOL_MAX are kept, of which at most one over HD_BODY_SMALL, none
 * over HD_BODY_KEEP_MAX (a _bulk body is at most batch.maxBytes, 5 MiB by
 * default); larger ones are freed as before. */
#define HD_BODY_POOL_MAX 2
#define HD_BODY_SMALL (1024 * 1024)
#define HD_BODY_KEEP_MAX (8 * 1024 * 1024)
#define HD_RAW_POLL_MAX 64 /* raw streams being written, polled at once */
#define HD_RAW_POLL_MS 100

#ifndef HD_VERSION
#define HD_VERSION "dev"
#endif

/* Read position of an upload (SMTP: the message is sent as curl reads it). */
struct upload {
    const char *p;
    size_t len;
    size_t off;
};

struct xfer {
    struct xfer *next;
    CURL *easy;
    struct curl_slist *hdrs; /* HTTP header lines, or SMTP recipients */
    struct upload up;
    struct hd_request req; /* owned copy of the submitted request */
    struct hd_response resp;
    char errbuf[CURL_ERROR_SIZE];
    void *userdata;
    /* A raw stream (tcp:// or tls://, raw.c): connected, then the body is
     * written from raw_off while sending, until deadline_ms. */
    int raw;
    int sending; /* 1 writing, 2 written: waiting for the server to close */
    int shut;
    size_t raw_off;
    int64_t deadline_ms;
};

struct hd_http_client {
    CURLM *multi;
    struct xfer *running;   /* in curl, unordered */
    struct xfer *done_head; /* finished, FIFO */
    struct xfer *done_tail;
    size_t n_running;
    size_t n_done;
    CURL *pool[HD_EASY_POOL_MAX];
    size_t n_pool;
    struct hd_buf bodies[HD_BODY_POOL_MAX]; /* emptied bodies kept for reuse */
    size_t n_bodies;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc = CURLE_OK;

static void curl_global_once(void)
{
    curl_init_rc = (int)curl_global_init(CURL_GLOBAL_DEFAULT);
}

int hd_curl_ready(void)
{
    pthread_once(&curl_once, curl_global_once);
    return curl_init_rc == CURLE_OK ? HD_OK : HD_EIO;
}

/* ---- curl callbacks ---------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct hd_response *resp = ud;
    size_t n = size * nmemb;
    size_t room = resp->body.max - resp->body.len;
    /* Past the cap the rest is dropped, not an error: the status and the
     * first MiB are what the classification and the dead letter need. */
    size_t take = n < room ? n : room;
    if (take > 0 && hd_buf_append(&resp->body, ptr, take) != HD_OK) {
        return 0; /* ENOMEM: abort the transfer */
    }
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *ud)
{
    struct hd_response *resp = ud;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    const size_t nl = sizeof(name) - 1;
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* A new response block (after 1xx or a proxy CONNECT): only the
         * final one's headers count. */
        resp->retry_after_ms = -1;
    } else if (n > nl && strncasecmp(ptr, name, nl) == 0) {
        char v[128];
        size_t vl = n - nl;
        if (vl >= sizeof(v)) {
            vl = sizeof(v) - 1;
        }
        memcpy(v, ptr + nl, vl);
        v[vl] = '\0';
        resp->retry_after_ms = hd_parse_retry_after(v);
    }
    return n;
}

/* SMTP: curl hands every server reply line to the header callback. The
 * first 4xx/5xx line (curl stops the transaction there; the "221 Bye" of
 * its QUIT follows), else the last line, is kept as the response body: the
 * server's reason ("550 5.1.1 <x@y>: Recipient address rejected"). Server
 * lines carry no client secret (AUTH sends them, the server only prompts). */
static size_t on_smtp_reply(char *ptr, size_t size, size_t nitems, void *ud)
{
    struct hd_response *resp = ud;
    size_t n = size * nitems;
    size_t len = n;
    while (len > 0 && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n')) {
        len--;
    }
    int have_error = resp->body.len > 0 && (resp->body.p[0] == '4' || resp->body.p[0] == '5');
    if (len > 0 && !have_error) {
        hd_buf_reset(&resp->body);
        if (len > 512) {
            len = 512;
        }
        if (hd_buf_append(&resp->body, ptr, len) != HD_OK) {
            return 0;
        }
    }
    return n;
}

static size_t on_upload_read(char *dst, size_t size, size_t nitems, void *ud)
{
    struct upload *up = ud;
    size_t room = size * nitems;
    size_t left = up->len - up->off;
    size_t take = left < room ? left : room;
    if (take > 0) {
        memcpy(dst, up->p + up->off, take);
        up->off += take;
    }
    return take;
}

/* ---- destinations -------------------------------------------------------- */

/* The deny list (security.denyDestinations). Written by hd_http_set_denied
 * (serve's main thread, at start and on SIGHUP), read by every thread that
 * opens a connection for a request (the dispatcher loop; API threads sending
 * test notifications). n == 0: every address allowed. */
static pthread_rwlock_t deny_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct hd_cidr_list deny_list; /* deny_lock */

void hd_http_set_denied(const struct hd_cidr_list *l)
{
    pthread_rwlock_wrlock(&deny_lock);
    if (l != NULL) {
        deny_list = *l;
    } else {
        deny_list.n = 0;
    }
    pthread_rwlock_unlock(&deny_lock);
}

/* 1 when the address addr of family af is in the deny list; resp then says
 * which address and which block. */
static int destination_denied(int af, const void *addr, struct hd_response *resp)
{
    struct hd_cidr hit;
    int denied = 0;
    pthread_rwlock_rdlock(&deny_lock);
    const struct hd_cidr *c = deny_list.n > 0 ? hd_cidr_list_find(&deny_list, af, addr) : NULL;
    if (c != NULL) {
        hit = *c;
        denied = 1;
    }
    pthread_rwlock_unlock(&deny_lock);
    if (!denied) {
        return 0;
    }
    char ip[INET6_ADDRSTRLEN] = "?";
    char block[HD_CIDR_TEXT_MAX];
    inet_ntop(af, addr, ip, sizeof(ip));
    hd_cidr_format(&hit, block, sizeof(block));
    resp->denied = 1;
    snprintf(resp->error, sizeof(resp->error), "destination %s denied by security.denyDestinations (%s)", ip,
             block);
    return 1;
}

/* CURLOPT_OPENSOCKETFUNCTION: curl asks for a socket for each address it is
 * about to connect to, after DNS. A denied address gets none (curl moves on
 * to the name's next address; the transfer fails when none is left). */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct hd_response *resp = ud;
    struct sockaddr_storage ss;
    const void *ip = NULL;
    (void)purpose;
    memset(&ss, 0, sizeof(ss));
    /* a->addr is addrlen bytes long (curl's own storage), not a bare sockaddr. */
    memcpy(&ss, &a->addr, a->addrlen < sizeof(ss) ? a->addrlen : sizeof(ss));
    if (a->family == AF_INET) {
        ip = &((const struct sockaddr_in *)(const void *)&ss)->sin_addr;
    } else if (a->family == AF_INET6) {
        ip = &((const struct sockaddr_in6 *)(const void *)&ss)->sin6_addr;
    }
    if (ip != NULL && destination_denied(a->family, ip, resp)) {
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* CURLOPT_PREREQFUNCTION: before each request, with the address of the
 * connection it goes out on, new or kept alive. */
static int on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
    struct hd_response *resp = ud;
    char text[INET6_ADDRSTRLEN + 1];
    unsigned char a[16];
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    snprintf(text, sizeof(text), "%s", primary_ip != NULL ? primary_ip : "");
    text[strcspn(text, "%")] = '\0'; /* an IPv6 zone, if curl wrote one */
    int af = AF_INET6;
    if (inet_pton(AF_INET6, text, a) != 1) {
        af = AF_INET;
        if (inet_pton(AF_INET, text, a) != 1) {
            return CURL_PREREQFUNC_OK; /* no IP address (a unix socket) */
        }
    }
    return destination_denied(af, a, resp) ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

/* Every connection and request of easy goes through the deny list; a
 * refusal is written into resp. */
static void easy_guard(CURL *easy, struct hd_response *resp)
{
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, resp);
    curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(easy, CURLOPT_PREREQDATA, resp);
}

/* ---- set-up shared by the multi, the sync and the stream paths ---------- */

/* Appends n lines to *l (curl copies them). On failure *l keeps what it had. */
static int slist_add_all(struct curl_slist **l, const char *const *lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct curl_slist *nl = curl_slist_append(*l, lines[i]);
        if (nl == NULL) {
            return HD_ENOMEM;
        }
        *l = nl;
    }
    return HD_OK;
}

/* curl_slist_free_all, the lines overwritten first (they may carry tokens). */
static void slist_free_wiped(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p != NULL; p = p->next) {
        for (volatile char *v = p->data; *v != '\0'; v++) {
            *v = '\0';
        }
    }
    curl_slist_free_all(l);
}

/* What every herald transfer has: HTTP(S) only, no signals (threads), TCP
 * keep-alive, its user agent, curl's error text in errbuf. */
static void easy_base(CURL *easy, const char *url, struct curl_slist *hdrs, char *errbuf)
{
    errbuf[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "herald/" HD_VERSION);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);
}

/* Certificates are verified unless tls->insecure; NULL = the system store. */
static void easy_tls(CURL *easy, const struct hd_tls_opts *tls)
{
    long verify = (tls != NULL && tls->insecure) ? 0L : 1L;
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, verify);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    if (tls == NULL) {
        return;
    }
    if (tls->ca_file != NULL) {
        curl_easy_setopt(easy, CURLOPT_CAINFO, tls->ca_file);
    }
    if (tls->cert_file != NULL) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, tls->cert_file);
    }
    if (tls->key_file != NULL) {
        curl_easy_setopt(easy, CURLOPT_SSLKEY, tls->key_file);
    }
}

/* SMTP submission: rcpt is the envelope recipients' list, the body is
 * uploaded from up (which must outlive the transfer). */
static void easy_smtp(CURL *easy, const struct hd_request *req, struct curl_slist *rcpt, struct upload *up)
{
    static const long ssl[] = {CURLUSESSL_NONE, CURLUSESSL_TRY, CURLUSESSL_ALL};
    long use_ssl = req->smtp_tls >= 0 && req->smtp_tls <= 2 ? ssl[req->smtp_tls] : CURLUSESSL_ALL;
    up->p = req->body.p != NULL ? req->body.p : "";
    up->len = req->body.len;
    up->off = 0;
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(easy, CURLOPT_USE_SSL, use_ssl);
    curl_easy_setopt(easy, CURLOPT_MAIL_FROM, req->mail_from);
    curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_smtp_reply);
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, on_upload_read);
    curl_easy_setopt(easy, CURLOPT_READDATA, up);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up->len);
}

/* The HTTP method and the body curl reads in place. */
static void easy_method(CURL *easy, const struct hd_request *req)
{
    const char *method = req->method != NULL ? req->method : "POST";
    const char *body = req->body.p != NULL ? req->body.p : "";
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
        if (strcmp(method, "POST") != 0) {
            curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
        }
    }
}

/* The header list of req: its header lines (HTTP) or its envelope
 * recipients (SMTP has no HTTP headers). */
static int request_slist(const struct hd_request *req, struct curl_slist **out)
{
    struct curl_slist *l = NULL;
    int rc = HD_OK;
    if (req->mail_from != NULL) {
        rc = slist_add_all(&l, (const char *const *)req->mail_rcpt, req->n_rcpt);
    } else {
        rc = slist_add_all(&l, (const char *const *)req->headers, req->n_headers);
    }
    /* An empty "Expect:" stops curl from waiting for 100-continue on big
     * bodies. Not with SigV4: curl 7.88 signs it as "expect:" but does not
     * send it, and the signature would not match (SNS bodies stay well
     * under curl's 1 MiB Expect threshold anyway). */
    if (rc == HD_OK && req->mail_from == NULL && req->aws_sigv4 == NULL) {
        static const char *const expect[] = {"Expect:"};
        rc = slist_add_all(&l, expect, 1);
    }
    if (rc != HD_OK) {
        curl_slist_free_all(l);
        return rc;
    }
    *out = l;
    return HD_OK;
}

static long req_timeout(const struct hd_request *req)
{
    return req->timeout_ms > 0 ? req->timeout_ms : HD_REQ_DEFAULT_TIMEOUT_MS;
}

static void easy_timeouts(CURL *easy, const struct hd_request *req)
{
    long timeout = req_timeout(req);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout < HD_REQ_MAX_CONNECT_TIMEOUT_MS ? timeout : HD_REQ_MAX_CONNECT_TIMEOUT_MS);
}

/* A raw stream: connect (and TLS handshake) only, through the deny list;
 * the body is written afterwards (raw.c). No ALPN: there is no HTTP. */
static int easy_raw(CURL *easy, const struct hd_request *req, struct hd_response *resp, char *errbuf,
                    const char *url)
{
    easy_base(easy, url, NULL, errbuf);
    easy_guard(easy, resp);
    easy_timeouts(easy, req);
    curl_easy_setopt(easy, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_ENABLE_ALPN, 0L);
    easy_tls(easy, req->tls);
    return HD_OK;
}

/* Configures easy for req. The request's url, header lines and body must
 * outlive the transfer (curl reads them in place); *hdrs_out receives the
 * header list the caller frees after the transfer. */
static int easy_setup(CURL *easy, const struct hd_request *req, struct hd_response *resp, char *errbuf,
                      struct curl_slist **hdrs_out, struct upload *up)
{
    struct curl_slist *hdrs = NULL;
    struct hd_buf raw_url;
    if (req->url == NULL || req->url[0] == '\0') {
        return HD_EINVAL;
    }
    hd_buf_init(&raw_url, 0);
    int rc = hd_raw_url(req->url, &raw_url);
    if (rc != 0) {
        rc = rc == 1 ? easy_raw(easy, req, resp, errbuf, raw_url.p) : rc;
        hd_buf_free(&raw_url);
        *hdrs_out = NULL;
        return rc;
    }
    rc = request_slist(req, &hdrs);
    if (rc != HD_OK) {
        return rc;
    }
    easy_base(easy, req->url, hdrs, errbuf);
    easy_guard(easy, resp);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    /* Never follow a redirect: a sink's Location would be a destination
     * nobody configured (and 3xx is classified as permanent, classify.c). */
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    easy_timeouts(easy, req);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, resp);
    easy_tls(easy, req->tls);
    if (req->username != NULL) {
        curl_easy_setopt(easy, CURLOPT_USERNAME, req->username);
        curl_easy_setopt(easy, CURLOPT_PASSWORD, req->password != NULL ? req->password : "");
    }
    if (req->aws_sigv4 != NULL) {
        /* curl signs method, path, query, the headers set here, host,
         * x-amz-date and the payload hash (AWS Signature V4). */
        curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, req->aws_sigv4);
    }
    if (req->mail_from != NULL) {
        easy_smtp(easy, req, hdrs, up);
    } else {
        easy_method(easy, req);
    }
    *hdrs_out = hdrs;
    return HD_OK;
}

/* "<curl's text for code>[: <errbuf>]": names hosts, never headers. */
static void format_error(char *out, size_t cap, CURLcode code, const char *errbuf)
{
    if (errbuf != NULL && errbuf[0] != '\0') {
        snprintf(out, cap, "%s: %s", curl_easy_strerror(code), errbuf);
    } else {
        snprintf(out, cap, "%s", curl_easy_strerror(code));
    }
}

/* Fills status / error / elapsed of resp from a finished transfer. */
static void easy_finish(CURL *easy, CURLcode code, const char *errbuf, struct hd_response *resp, int smtp)
{
    curl_off_t total = 0;
    if (curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total) == CURLE_OK) {
        resp->elapsed_us = (int64_t)total;
    }
    if (resp->denied && (code == CURLE_COULDNT_CONNECT || code == CURLE_ABORTED_BY_CALLBACK)) {
        resp->status = 0; /* no other address connected: the refusal (in resp->error) is the answer */
        return;
    }
    resp->denied = 0; /* another address of the name connected: its outcome is the answer */
    long reply = 0;
    if (smtp && code != CURLE_OK && curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply) == CURLE_OK &&
        reply >= 400) {
        /* Refused by the server (RCPT 550, DATA 451, AUTH 535 ...): the
         * reply code is what the channel classifies, curl's text says
         * which command it answered. */
        resp->status = reply;
        format_error(resp->error, sizeof(resp->error), code, errbuf);
        return;
    }
    if (code == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        resp->status = status;
        resp->error[0] = '\0';
        return;
    }
    resp->status = 0;
    format_error(resp->error, sizeof(resp->error), code, errbuf);
}

/* ---- the multi client -------------------------------------------------- */

struct hd_http_client *hd_http_client_new(void)
{
    if (hd_curl_ready() != HD_OK) {
        return NULL;
    }
    struct hd_http_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void xfer_free(struct xfer *x)
{
    if (x == NULL) {
        return;
    }
    if (x->easy != NULL) {
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->hdrs);
    hd_request_clear(&x->req);
    hd_response_clear(&x->resp);
    free(x);
}

void hd_http_client_free(struct hd_http_client *c)
{
    if (c == NULL) {
        return;
    }
    struct xfer *x = c->running;
    while (x != NULL) {
        struct xfer *next = x->next;
        curl_multi_remove_handle(c->multi, x->easy);
        xfer_free(x);
        x = next;
    }
    x = c->done_head;
    while (x != NULL) {
        struct xfer *next = x->next;
        xfer_free(x);
        x = next;
    }
    for (size_t i = 0; i < c->n_pool; i++) {
        curl_easy_cleanup(c->pool[i]);
    }
    for (size_t i = 0; i < c->n_bodies; i++) {
        hd_buf_free(&c->bodies[i]);
    }
    curl_multi_cleanup(c->multi);
    free(c);
}

/* Always consumes req (it is left cleared, also on failure). */
int hd_http_client_submit(struct hd_http_client *c, struct hd_request *req, void *userdata)
{
    int rc = HD_OK;
    struct xfer *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        hd_request_clear(req);
        return HD_ENOMEM;
    }
    x->req = *req;
    hd_request_init(req);
    hd_response_init(&x->resp);
    x->userdata = userdata;

    if (c->n_pool > 0) {
        x->easy = c->pool[--c->n_pool];
        curl_easy_reset(x->easy);
    } else {
        x->easy = curl_easy_init();
    }
    if (x->easy == NULL) {
        rc = HD_ENOMEM;
        goto out;
    }
    rc = easy_setup(x->easy, &x->req, &x->resp, x->errbuf, &x->hdrs, &x->up);
    if (rc != HD_OK) {
        goto out;
    }
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    x->raw = hd_raw_is(x->req.url);
    x->deadline_ms = hd_now_ms() + req_timeout(&x->req);
    if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
        rc = HD_EIO;
        goto out;
    }
    x->next = c->running;
    c->running = x;
    c->n_running++;
    x = NULL;
out:
    xfer_free(x);
    return rc;
}

static void unlink_running(struct hd_http_client *c, struct xfer *x)
{
    for (struct xfer **pp = &c->running; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == x) {
            *pp = x->next;
            c->n_running--;
            break;
        }
    }
    x->next = NULL;
}

/* Sends the follow-up of a 2xx answer under the same userdata. On failure
 * x's response becomes the transport error the caller reports. */
static int chain_next(struct hd_http_client *c, struct xfer *x)
{
    struct hd_request *next = x->req.then;
    x->req.then = NULL;
    int rc = hd_http_client_submit(c, next, x->userdata);
    free(next);
    if (rc != HD_OK) {
        x->resp.status = 0;
        hd_buf_reset(&x->resp.body);
        snprintf(x->resp.error, sizeof(x->resp.error), "follow-up request not sent: %s", hd_strerror(rc));
    }
    return rc;
}

/* Hands x's easy handle back and queues x as done (or sends its follow-up). */
static void finish(struct hd_http_client *c, struct xfer *x)
{
    CURL *easy = x->easy;
    curl_multi_remove_handle(c->multi, easy);
    unlink_running(c, x);
    /* The easy handle goes back to the pool; the connection itself stays
     * in the multi's cache for the next request to the same host (a raw
     * stream's is closed: CONNECT_ONLY connections are never reused). */
    if (c->n_pool < HD_EASY_POOL_MAX) {
        c->pool[c->n_pool++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
    x->easy = NULL;
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
    if (x->req.then != NULL && x->resp.status >= 200 && x->resp.status <= 299 && chain_next(c, x) == HD_OK) {
        xfer_free(x);
        return;
    }
    if (c->done_tail != NULL) {
        c->done_tail->next = x;
    } else {
        c->done_head = x;
    }
    c->done_tail = x;
    c->n_done++;
}

/* Writes more of a connected raw stream's body; finishes the transfer when
 * it is written (status 200: these protocols answer nothing), failed, or
 * past its deadline (status 0). */
static void raw_step(struct hd_http_client *c, struct xfer *x)
{
    int rc = x->sending == 1
                 ? hd_raw_send(x->easy, &x->req.body, &x->raw_off, x->resp.error, sizeof(x->resp.error))
                 : hd_raw_drain(x->easy, &x->shut);
    if (rc == HD_OK && x->sending == 1) {
        x->sending = 2;
        rc = hd_raw_drain(x->easy, &x->shut);
    }
    if (rc == HD_EBUSY && hd_now_ms() < x->deadline_ms) {
        return;
    }
    if (rc == HD_EBUSY) {
        snprintf(x->resp.error, sizeof(x->resp.error), "timed out %s the connection after %zu of %zu bytes",
                 x->sending == 1 ? "writing to" : "closing", x->raw_off, x->req.body.len);
    }
    x->resp.status = rc == HD_OK ? 200 : 0;
    finish(c, x);
}

static void collect_finished(struct hd_http_client *c)
{
    int left = 0;
    CURLMsg *msg = NULL;
    for (;;) {
        msg = curl_multi_info_read(c->multi, &left);
        if (msg == NULL) {
            break;
        }
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        struct xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        if (x == NULL) {
            continue;
        }
        easy_finish(easy, code, x->errbuf, &x->resp, x->req.mail_from != NULL);
        if (x->raw && code == CURLE_OK) {
            x->sending = 1; /* connected: the handle stays in the multi while the body is written */
            raw_step(c, x);
            continue;
        }
        finish(c, x);
    }
}

/* The sockets of raw streams being written, to wake up when writable. */
static unsigned raw_fds(struct hd_http_client *c, struct curl_waitfd *fds, unsigned cap)
{
    unsigned n = 0;
    for (struct xfer *x = c->running; x != NULL && n < cap; x = x->next) {
        curl_socket_t fd = x->sending ? hd_raw_socket(x->easy) : CURL_SOCKET_BAD;
        if (fd != CURL_SOCKET_BAD) {
            fds[n].fd = fd;
            fds[n].events = x->sending == 1 ? CURL_WAIT_POLLOUT : CURL_WAIT_POLLIN;
            fds[n].revents = 0;
            n++;
        }
    }
    return n;
}

static void raw_progress(struct hd_http_client *c)
{
    struct xfer *next = NULL;
    for (struct xfer *x = c->running; x != NULL; x = next) {
        next = x->next; /* raw_step may unlink x */
        if (x->sending) {
            raw_step(c, x);
        }
    }
}

int hd_http_client_poll(struct hd_http_client *c, int timeout_ms)
{
    int still = 0;
    if (curl_multi_perform(c->multi, &still) != CURLM_OK) {
        return HD_EIO;
    }
    collect_finished(c);
    if (c->n_done > 0) {
        timeout_ms = 0; /* results waiting: don't sleep on them */
    }
    if (timeout_ms < 0) {
        timeout_ms = 0;
    }
    struct curl_waitfd fds[HD_RAW_POLL_MAX];
    unsigned nfds = raw_fds(c, fds, HD_RAW_POLL_MAX);
    if (nfds > 0 && timeout_ms > HD_RAW_POLL_MS) {
        timeout_ms = HD_RAW_POLL_MS; /* their deadlines are checked here, not by curl */
    }
    if (curl_multi_poll(c->multi, fds, nfds, timeout_ms, NULL) != CURLM_OK) {
        return HD_EIO;
    }
    if (curl_multi_perform(c->multi, &still) != CURLM_OK) {
        return HD_EIO;
    }
    collect_finished(c);
    raw_progress(c);
    return HD_OK;
}

/* resp is overwritten (not cleared first); the caller clears it. */
int hd_http_client_done(struct hd_http_client *c, void **userdata, struct hd_response *resp)
{
    struct xfer *x = c->done_head;
    if (x == NULL) {
        return 0;
    }
    c->done_head = x->next;
    if (c->done_head == NULL) {
        c->done_tail = NULL;
    }
    c->n_done--;
    *userdata = x->userdata;
    *resp = x->resp;
    hd_response_init(&x->resp);
    struct hd_buf *b = &x->req.body;
    int kept_large = 0;
    for (size_t i = 0; i < c->n_bodies; i++) {
        kept_large |= c->bodies[i].cap > HD_BODY_SMALL;
    }
    if (b->p != NULL && b->cap <= HD_BODY_KEEP_MAX && c->n_bodies < HD_BODY_POOL_MAX &&
        (b->cap <= HD_BODY_SMALL || !kept_large)) {
        c->bodies[c->n_bodies++] = *b;
        hd_buf_init(b, 0);
    }
    xfer_free(x);
    return 1;
}

void hd_http_client_body(struct hd_http_client *c, struct hd_buf *body)
{
    if (c == NULL || c->n_bodies == 0 || body->p != NULL) {
        return;
    }
    *body = c->bodies[--c->n_bodies];
    hd_buf_reset(body);
    body->max = 0;
}

size_t hd_http_client_active(struct hd_http_client *c)
{
    return c->n_running + c->n_done;
}

void hd_http_client_wakeup(struct hd_http_client *c)
{
    if (c != NULL) {
        curl_multi_wakeup(c->multi);
    }
}

/* ---- blocking one-shot ------------------------------------------------- */

/* Writes a connected raw stream's body, waiting for the socket as needed. */
static void sync_raw(CURL *easy, const struct hd_request *req, struct hd_response *resp)
{
    int64_t deadline = hd_now_ms() + req_timeout(req);
    size_t off = 0;
    int shut = 0;
    int written = 0;
    int rc = HD_EBUSY;
    while (rc == HD_EBUSY) {
        rc = written ? hd_raw_drain(easy, &shut)
                     : hd_raw_send(easy, &req->body, &off, resp->error, sizeof(resp->error));
        if (rc == HD_OK && !written) {
            written = 1;
            rc = HD_EBUSY;
            continue;
        }
        int64_t left = deadline - hd_now_ms();
        if (rc == HD_EBUSY && (left <= 0 || hd_raw_wait(easy, written, (long)left) != HD_OK)) {
            snprintf(resp->error, sizeof(resp->error), "timed out %s the connection after %zu of %zu bytes",
                     written ? "closing" : "writing to", off, req->body.len);
            rc = HD_ENET;
        }
    }
    resp->status = rc == HD_OK ? 200 : 0;
}

/* resp is (re)initialised here; the caller clears it. */
static int sync_one(const struct hd_request *req, struct hd_response *resp)
{
    struct curl_slist *hdrs = NULL;
    struct upload up = {0};
    char errbuf[CURL_ERROR_SIZE];
    CURL *easy = NULL;
    int rc = HD_OK;

    hd_response_init(resp);
    rc = hd_curl_ready();
    if (rc != HD_OK) {
        snprintf(resp->error, sizeof(resp->error), "curl initialisation failed");
        goto out;
    }
    easy = curl_easy_init();
    if (easy == NULL) {
        rc = HD_ENOMEM;
        snprintf(resp->error, sizeof(resp->error), "out of memory");
        goto out;
    }
    rc = easy_setup(easy, req, resp, errbuf, &hdrs, &up);
    if (rc != HD_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s", rc == HD_EINVAL ? "no URL" : hd_strerror(rc));
        goto out;
    }
    CURLcode code = curl_easy_perform(easy);
    easy_finish(easy, code, errbuf, resp, req->mail_from != NULL);
    if (code == CURLE_OK && hd_raw_is(req->url)) {
        sync_raw(easy, req, resp);
    }
out:
    curl_slist_free_all(hdrs);
    if (easy != NULL) {
        curl_easy_cleanup(easy);
    }
    return rc;
}

/* Follows the request's chain while the answers are 2xx (see http_client.h). */
int hd_http_sync(const struct hd_request *req, struct hd_response *resp)
{
    for (const struct hd_request *q = req;; q = q->then) {
        int rc = sync_one(q, resp);
        if (rc != HD_OK || q->then == NULL || resp->status < 200 || resp->status > 299) {
            return rc;
        }
        hd_response_clear(resp);
    }
}

/* ---- streams ----------------------------------------------------------- */

#define HD_STREAM_ERR_BODY (64 * 1024)
#define HD_STREAM_CONNECT_TIMEOUT_MS 10000L

/* One hd_http_stream call, for the callbacks. */
struct stream {
    const struct hd_http_stream_opts *o;
    struct hd_http_stream_result *res;
    CURL *easy;
    size_t max_body;
    int rc; /* why a callback aborted the transfer; HD_OK if none did */
};

static size_t on_stream_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct stream *s = ud;
    struct hd_http_stream_result *res = s->res;
    size_t n = size * nmemb;
    if (res->status == 0) {
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &res->status);
    }
    if (res->status != 200) {
        /* Kept for the log: what the server says is wrong. */
        size_t room = res->body.len < HD_STREAM_ERR_BODY ? HD_STREAM_ERR_BODY - res->body.len : 0;
        if (room > 0) {
            (void)hd_buf_append(&res->body, p, n < room ? n : room);
        }
        return n;
    }
    int rc = HD_OK;
    if (s->o->on_data != NULL) {
        rc = s->o->on_data(s->o->ctx, p, n);
    } else if (n > s->max_body - res->body.len) {
        rc = HD_ETOOBIG;
    } else {
        rc = hd_buf_append(&res->body, p, n);
    }
    if (rc != HD_OK) {
        s->rc = rc;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    return n;
}

/* Copies the value of the header the caller asked for. */
static size_t on_stream_header(char *p, size_t size, size_t nitems, void *ud)
{
    struct stream *s = ud;
    const struct hd_http_stream_opts *o = s->o;
    size_t n = size * nitems;
    size_t nl = strlen(o->header_name);
    if (n <= nl || p[nl] != ':' || strncasecmp(p, o->header_name, nl) != 0) {
        return n;
    }
    size_t i = nl + 1;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) {
        i++;
    }
    size_t e = i;
    while (e < n && p[e] != '\r' && p[e] != '\n' && e - i < o->header_cap - 1) {
        e++;
    }
    memcpy(o->header_value, p + i, e - i);
    o->header_value[e - i] = '\0';
    return n;
}

/* Called by curl at least once a second, also while nothing arrives. */
static int on_stream_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                              curl_off_t ulnow)
{
    struct stream *s = ud;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (s->o->stop(s->o->ctx)) {
        s->rc = HD_ESHUTDOWN;
        return 1;
    }
    return 0;
}

/* No signals; TCP keep-alive probes after 30 s of silence, so a watch on a
 * dead peer is noticed; certificates verified unless tls says otherwise. */
static void stream_setup(struct stream *s, struct curl_slist *hdrs, char *errbuf)
{
    const struct hd_http_stream_opts *o = s->o;
    CURL *easy = s->easy;
    long ctimeout = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : HD_STREAM_CONNECT_TIMEOUT_MS;
    easy_base(easy, o->url, hdrs, errbuf);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, ctimeout);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 0L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_stream_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, s);
    easy_tls(easy, o->tls);
    if (o->unix_socket != NULL) {
        curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, o->unix_socket);
    }
    if (o->header_name != NULL && o->header_value != NULL && o->header_cap > 0) {
        o->header_value[0] = '\0';
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_stream_header);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, s);
    }
    if (o->stop != NULL) {
        curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_stream_progress);
        curl_easy_setopt(easy, CURLOPT_XFERINFODATA, s);
    }
}

/* res->error for a transfer that did not complete. */
static void stream_error(const struct stream *s, CURLcode code, const char *errbuf)
{
    struct hd_http_stream_result *res = s->res;
    if (s->rc == HD_ESHUTDOWN) {
        snprintf(res->error, sizeof(res->error), "stopped");
    } else if (s->rc == HD_ETOOBIG && s->o->on_data == NULL) {
        snprintf(res->error, sizeof(res->error), "the answer is over %zu bytes", s->max_body);
    } else if (s->rc != HD_OK) {
        snprintf(res->error, sizeof(res->error), "the receiver refused the data: %s", hd_strerror(s->rc));
    } else {
        format_error(res->error, sizeof(res->error), code, errbuf);
    }
}

int hd_http_stream(const struct hd_http_stream_opts *o, struct hd_http_stream_result *res)
{
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE];
    struct stream s = {.o = o, .res = res, .max_body = o->max_body > 0 ? o->max_body : HD_RESP_MAX_BODY};
    memset(res, 0, sizeof(*res));
    hd_buf_init(&res->body, 0); /* capped by on_stream_body */
    int rc = hd_curl_ready();
    if (rc != HD_OK) {
        snprintf(res->error, sizeof(res->error), "curl initialisation failed");
        goto out;
    }
    if (o->url == NULL || o->url[0] == '\0') {
        rc = HD_EINVAL;
        snprintf(res->error, sizeof(res->error), "no URL");
        goto out;
    }
    s.easy = curl_easy_init();
    rc = s.easy != NULL ? slist_add_all(&hdrs, o->headers, o->n_headers) : HD_ENOMEM;
    if (rc != HD_OK) {
        snprintf(res->error, sizeof(res->error), "out of memory");
        goto out;
    }
    stream_setup(&s, hdrs, errbuf);
    CURLcode code = curl_easy_perform(s.easy);
    curl_easy_getinfo(s.easy, CURLINFO_RESPONSE_CODE, &res->status);
    if (code != CURLE_OK) {
        rc = s.rc != HD_OK ? s.rc : HD_ENET;
        stream_error(&s, code, errbuf);
    }
out:
    slist_free_wiped(hdrs);
    if (s.easy != NULL) {
        curl_easy_cleanup(s.easy);
    }
    return rc;
}

void hd_http_stream_result_clear(struct hd_http_stream_result *res)
{
    hd_buf_free(&res->body);
    memset(res, 0, sizeof(*res));
}
