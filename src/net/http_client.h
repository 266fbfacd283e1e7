/* http_client.h - outbound HTTP over libcurl.
 *
 * DESIGN: hd_http_client wraps one curl multi handle and is used by exactly one
 * thread (the dispatcher loop): submit requests, poll, collect finished ones.
 * Connections are kept alive and reused per host. hd_http_client_wakeup is the
 * only function other threads may call. hd_http_sync is a blocking one-shot
 * request for the API thread (test notifications, CLI).
 */
#ifndef HD_HTTP_CLIENT_H
#define HD_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct hd_tls_opts {
    char *ca_file;
    char *cert_file;
    char *key_file;
    int insecure;        /* skip verification (allowInsecureConnections / tls.insecureSkipVerify) */
};

#define HD_REQ_MAX_HEADERS 32

struct hd_request {
    const char *method;                  /* "POST" (default when NULL), "PUT", "GET" */
    char *url;                           /* owned */
    char *headers[HD_REQ_MAX_HEADERS];   /* owned "Name: value" lines */
    size_t n_headers;
    struct hd_buf body;
    long timeout_ms;                     /* 0 = 10000 */
    const struct hd_tls_opts *tls;       /* borrowed, may be NULL */
};

struct hd_response {
    long status;             /* HTTP status, 0 when the transfer failed */
    char error[256];         /* transport error text when status == 0 */
    struct hd_buf body;      /* capped at 1 MiB */
    int64_t retry_after_ms;  /* from Retry-After (seconds or HTTP date), -1 if none */
    int64_t elapsed_us;
};

void hd_request_init(struct hd_request *r);
void hd_request_clear(struct hd_request *r);        /* frees owned members */
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
/* Thread-safe: makes a blocked hd_http_client_poll return. */
void hd_http_client_wakeup(struct hd_http_client *c);

/* Blocking request; resp is (re)initialised and filled (status 0 + error on
 * transport failure, still HD_OK); negative only if nothing could be sent. */
int hd_http_sync(const struct hd_request *req, struct hd_response *resp);

/* Parses a Retry-After value (delta seconds or HTTP-date) to ms from now; -1 if bad. */
int64_t hd_parse_retry_after(const char *v);

#endif
