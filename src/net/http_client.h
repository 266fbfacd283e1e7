/* http_client.h - outbound HTTP over libcurl.
 *
 * DESIGN: hd_http_client wraps one curl multi handle and is used by exactly one
 * thread (the dispatcher loop): submit requests, poll, collect finished ones.
 * Connections are kept alive and reused per host. hd_http_client_wakeup is the
 * only function other threads may call. hd_http_sync is a blocking one-shot
 * request for the API thread (test notifications, CLI). hd_http_stream is a
 * blocking GET whose body is handed over as it arrives, for the threads that
 * watch a platform's event stream (src/watch/): a Kubernetes watch or
 * Docker's /events may stay open for minutes, so it can be stopped from
 * outside and never holds the body in memory.
 *
 * Destinations (SSRF): every hd_request transfer (deliveries, test
 * notifications, acknowledgement polls, SMTP) is checked against one
 * process-wide deny list (security.denyDestinations, set by serve) on the
 * address actually connected, after DNS: a name, a hex or decimal IPv4 form
 * and an IPv4-mapped IPv6 form all end on the same checked address. Streams
 * (hd_http_stream: the Kubernetes and Docker watchers, whose API servers
 * usually sit on private addresses the operator chose) are never checked.
 * Redirects are never followed, so a sink cannot send herald elsewhere.
 */
#ifndef HD_HTTP_CLIENT_H
#define HD_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/cidr.h"

struct hd_tls_opts {
    char *ca_file;
    char *cert_file;
    char *key_file;
    int insecure; /* skip verification (allowInsecureConnections / tls.insecureSkipVerify) */
};

#define HD_REQ_MAX_HEADERS 32

struct hd_request {
    const char *method;                /* "POST" (default when NULL), "PUT", "GET" */
    char *url;                         /* owned */
    char *headers[HD_REQ_MAX_HEADERS]; /* owned "Name: value" lines */
    size_t n_headers;
    struct hd_buf body;
    long timeout_ms;               /* 0 = 10000 */
    const struct hd_tls_opts *tls; /* borrowed, may be NULL */
    /* Optional, for the EMAIL and SNS channels (all owned, NULL = unused):
     * aws_sigv4 ("aws:amz:<region>:<service>") signs the request with AWS
     * Signature V4 (CURLOPT_AWS_SIGV4), username = access key id, password
     * = secret key. username/password are also SMTP AUTH. password is a
     * secret: wiped on clear, never copied into errors or logs. */
    char *aws_sigv4;
    char *username;
    char *password;
    /* SMTP mode when mail_from is set: url is smtp:// or smtps://, body is
     * the whole RFC 5322 message with CRLF line ends (curl dot-stuffs it),
     * mail_rcpt[0..n_rcpt) the envelope recipients. The response's status
     * is then the last SMTP reply code (also when the transfer failed on a
     * 4xx/5xx reply) and its body that reply's text; 0 = transport error. */
    char *mail_from;
    char **mail_rcpt;
    size_t n_rcpt;
    int smtp_tls; /* enum hd_smtp_tls */
    /* A follow-up request (owned), sent when this one's answer is 2xx; the
     * transfer reports the first non-2xx answer or the last one. This lets
     * one render fan out to several targets (SNS: one Publish per topic)
     * with the dispatcher's one-request-per-delivery model unchanged; a
     * retry repeats the whole chain (at least once). */
    struct hd_request *then;
};

enum hd_smtp_tls {
    HD_SMTP_TLS_NONE = 0, /* plain smtp:// (smtps:// is TLS anyway) */
    HD_SMTP_TLS_TRY = 1,  /* STARTTLS if offered */
    HD_SMTP_TLS_ALL = 2,  /* STARTTLS required (smtp.startTls: true) */
};

struct hd_response {
    long status;            /* HTTP status, 0 when the transfer failed */
    char error[256];        /* transport error text when status == 0 */
    struct hd_buf body;     /* capped at 1 MiB */
    int64_t retry_after_ms; /* from Retry-After (seconds or HTTP date), -1 if none */
    int64_t elapsed_us;
    /* 1 when the transfer failed because its destination is in the deny
     * list (status 0, error "destination 169.254.169.254 denied by
     * security.denyDestinations (169.254.0.0/16)"): nothing was sent, and a
     * retry would be refused the same way. */
    int denied;
};

void hd_request_init(struct hd_request *r);
void hd_request_clear(struct hd_request *r); /* frees owned members (and the chain) */
/* Appends an envelope recipient (SMTP mode). */
int hd_request_add_rcpt(struct hd_request *r, const char *addr);
int hd_request_add_header(struct hd_request *r, const char *name, const char *value);
void hd_response_init(struct hd_response *r);
void hd_response_clear(struct hd_response *r);

struct hd_http_client;

struct hd_http_client *hd_http_client_new(void);
void hd_http_client_free(struct hd_http_client *c);
/* Starts a transfer; the client takes the request's contents (req is left
 * cleared, also when it fails). req->tls is applied here and not kept.
 * userdata comes back from hd_http_client_done. */
int hd_http_client_submit(struct hd_http_client *c, struct hd_request *req, void *userdata);
/* Waits up to timeout_ms for activity or a wakeup, and progresses transfers. */
int hd_http_client_poll(struct hd_http_client *c, int timeout_ms);
/* Returns 1 and fills *userdata and resp (caller clears it) for a finished
 * transfer, 0 when there is none. */
int hd_http_client_done(struct hd_http_client *c, void **userdata, struct hd_response *resp);
size_t hd_http_client_active(struct hd_http_client *c);
/* Gives an empty body (body->p NULL) the buffer of a finished transfer's
 * body, kept by hd_http_client_done, when there is one: a render into it
 * needs no new mapping. Same thread as hd_http_client_done. */
void hd_http_client_body(struct hd_http_client *c, struct hd_buf *body);
/* Thread-safe: makes a blocked hd_http_client_poll return. */
void hd_http_client_wakeup(struct hd_http_client *c);

/* Blocking request; resp is (re)initialised and filled (status 0 + error on
 * transport failure, still HD_OK); negative only if nothing could be sent. */
int hd_http_sync(const struct hd_request *req, struct hd_response *resp);

/* ---- destinations ------------------------------------------------------- */

/* Sets the blocks that hd_request transfers may not connect to (copied;
 * NULL or an empty list: every address allowed, the state at start). Any
 * thread, any time (serve: at start and on SIGHUP); new connections use the
 * new list at once, and a kept-alive connection is checked again before each
 * request it carries. Behind an HTTP proxy (http_proxy, https_proxy) the
 * address checked is the proxy's. */
void hd_http_set_denied(const struct hd_cidr_list *l);

/* ---- streams ---------------------------------------------------------- */

/* One GET, read as it arrives. */
struct hd_http_stream_opts {
    const char *url;            /* http(s)://host[:port]/path?query */
    const char *unix_socket;    /* connect here instead of to the URL's host (Docker); NULL = TCP */
    const char *const *headers; /* n_headers "Name: value" lines (borrowed) */
    size_t n_headers;
    const struct hd_tls_opts *tls; /* borrowed; NULL = verify against the system CA store */
    long connect_timeout_ms;       /* 0 = 10 s */
    long timeout_ms;               /* the whole transfer; 0 = no limit (the server ends a watch) */
    /* A 200 answer's body goes to on_data chunk by chunk as received (a
     * non-OK result aborts the transfer), or, when on_data is NULL, into
     * res->body up to max_body bytes (0 = 1 MiB; past it the transfer fails
     * with HD_ETOOBIG). */
    int (*on_data)(void *ctx, const char *p, size_t n);
    size_t max_body;
    /* Polled at least once a second, even on a silent stream: nonzero aborts
     * the transfer. May be NULL. */
    int (*stop)(void *ctx);
    void *ctx; /* for on_data and stop */
    /* Optional: the value of the response header header_name (without the
     * colon, any case) is copied into header_value[0..header_cap), cut. */
    const char *header_name;
    char *header_value;
    size_t header_cap;
};

struct hd_http_stream_result {
    long status;        /* the answer's status, also when the transfer broke after it; 0 = none */
    char error[256];    /* why the transfer did not complete; "" when it did */
    struct hd_buf body; /* a non-200 answer's first 64 KiB; a 200 body when on_data is NULL */
};

/* Blocking. res is initialised here (the caller calls
 * hd_http_stream_result_clear). Returns HD_OK when the answer was received
 * whole (whatever its status); HD_ESHUTDOWN when stop aborted it; on_data's
 * first non-OK result when that did; HD_ETOOBIG when the body was over
 * max_body; HD_ENET when the transfer failed; HD_EINVAL (no URL) or
 * HD_ENOMEM when nothing was sent. res->error says which. Header lines are wiped from the client's memory
 * afterwards (they carry bearer tokens) and never copied into res->error. */
int hd_http_stream(const struct hd_http_stream_opts *o, struct hd_http_stream_result *res);
void hd_http_stream_result_clear(struct hd_http_stream_result *res);

/* ---- URLs ---------------------------------------------------------------- */

/* Appends s percent-encoded: every byte but RFC 3986's unreserved ones
 * (ALPHA DIGIT - . _ ~) as %XX. */
int hd_http_put_escaped(struct hd_buf *out, const char *s);
/* Appends "?name=value" to url, or "&name=value" when url already holds a
 * '?', value percent-encoded (name is taken as it is). */
int hd_http_put_query(struct hd_buf *url, const char *name, const char *value);

/* Where a URL connects, as libcurl reads it: scheme, host (lower case, IPv6
 * without brackets) and port (the scheme's default when absent). */
struct hd_url_origin {
    char scheme[16];
    char host[256];
    long port;
};
/* HD_OK, or HD_EINVAL when url is not an absolute URL libcurl would take. */
int hd_url_origin(const char *url, struct hd_url_origin *o);

/* Parses a Retry-After value (delta seconds or HTTP-date) to ms from now; -1 if bad. */
int64_t hd_parse_retry_after(const char *v);

#endif
