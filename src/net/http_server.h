/* http_server.h - the inbound HTTP listener over libmicrohttpd.
 *
 * DESIGN: libmicrohttpd runs a small pool of epoll threads serving every
 * connection; the server accumulates the body (413 past max_body, before
 * reading it all when Content-Length says so) and calls the handler once per
 * request. Short handlers answer at once (they may block briefly: that
 * stalls the connections of one pool thread). A handler waiting for slow work
 * (ingest waiting for its group commit) defers instead: hd_http_defer, then
 * hd_http_async_done from any thread when the work is done; the connection
 * is suspended meanwhile and no thread waits.
 */
#ifndef HD_HTTP_SERVER_H
#define HD_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct hd_http_req {
    const char *method;
    const char *path; /* without the query string */
    const char *body;
    size_t body_len;
    int checked; /* the server's hd_http_check passed on these headers: the
                  * handler need not authorise the request again */
    void *impl;  /* the server's connection */
};

#define HD_RESP_MAX_HEADERS 8

struct hd_http_resp {
    int status;
    struct hd_buf body;
    const char *content_type;                  /* default "application/json" */
    const char *hdr_name[HD_RESP_MAX_HEADERS]; /* static strings */
    char *hdr_value[HD_RESP_MAX_HEADERS];      /* owned */
    size_t n_hdr;
    const char *route; /* static: the route pattern ("/api/events/{id}") that the
                        * metrics label the request with; NULL = "other" (bounded
                        * cardinality: never the raw path) */
};

/* Query argument (decoded) or NULL. */
const char *hd_http_query(const struct hd_http_req *r, const char *key);
/* Request header (case-insensitive) or NULL. */
const char *hd_http_header(const struct hd_http_req *r, const char *name);
/* What the client certificate of a request's connection proves. */
enum hd_http_peer {
    HD_PEER_NONE = 0, /* none presented, or the server asks for none (no tls_client_ca_file) */
    HD_PEER_VERIFIED, /* issued by a CA of tls_client_ca_file, valid now, usable for client auth */
    HD_PEER_UNTRUSTED /* presented but it does not verify (another CA, expired ...) */
};
/* The client certificate of r's connection. VERIFIED: *subject is its subject
 * DN in the canonical form of core/dn.h; UNTRUSTED: *why says why ("expired",
 * "not issued by a CA of tls.clientCaFile" ...). Both strings live as long as
 * the request. A certificate is verified once per connection (the TLS
 * handshake is the only place a client presents one) and only by the
 * connection's own thread, which every call on a request runs on. */
enum hd_http_peer hd_http_peer(const struct hd_http_req *r, const char **subject, const char **why);
/* Adds a response header (value copied). */
int hd_http_resp_header(struct hd_http_resp *resp, const char *static_name, const char *value);
/* Sets status and the Sysdig error envelope {"errors":[{"reason","message"}]}. */
void hd_http_error(struct hd_http_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *hd_http_reason(int status); /* "Bad Request" ... */

typedef void (*hd_http_handler)(void *ud, const struct hd_http_req *req, struct hd_http_resp *resp);

/* A deferred answer. finish(ud, resp) composes it on a server thread once
 * hd_http_async_done was called (resp starts as status 200, empty body);
 * release(ud) runs exactly once afterwards, or when the request ends without
 * an answer (client gone). */
struct hd_http_async;
typedef void (*hd_http_finish_fn)(void *ud, struct hd_http_resp *resp);
/* Called from a handler: its resp is ignored from then on. NULL when the
 * server is stopping or out of memory: answer synchronously instead. */
struct hd_http_async *hd_http_defer(const struct hd_http_req *req, hd_http_finish_fn finish,
                                    void (*release)(void *ud), void *ud);
/* The work is done (any thread, exactly once; the handle is invalid after). */
void hd_http_async_done(struct hd_http_async *a);
/* Frees req's body now instead of at the answer (the handler, on its own
 * thread, once nothing points into it: a deferred append whose raws the
 * store has copied). req->body is invalid afterwards. Its charge against
 * body_budget stays until the answer: the request still holds its decoded
 * events and compressed bytes, so admission is as without the call. */
void hd_http_body_release(const struct hd_http_req *req);

/* Runs on the request's headers, before any body byte is read or buffered:
 * returns 1 to go on, or 0 after writing the answer (a 401, 403, 404 ...) into
 * resp; the body is then never read and the connection is closed after the
 * answer. req->body is NULL. */
typedef int (*hd_http_check)(void *ud, const struct hd_http_req *req, struct hd_http_resp *resp);

struct hd_http_server_opts {
    const char *listen; /* "HOST:PORT"; port 0 = ephemeral */
    size_t max_body;
    size_t body_budget;          /* bytes of request bodies held at once; past it requests
                                  * wait (suspended, unread) for room; 0 = no limit */
    hd_http_check check;         /* NULL: every request reads its body */
    unsigned max_connections;    /* 0 = libmicrohttpd's default */
    unsigned max_connections_ip; /* per client address; 0 = no cap */
    long header_timeout_ms;      /* a request's headers (and a keep-alive connection's next
                                  * request) must come within this; 0 = the idle timeout */
    const char *tls_cert_file;   /* both set = HTTPS */
    const char *tls_key_file;
    const char *tls_client_ca_file; /* with HTTPS: ask clients for a certificate (not require
                                     * one), verified against these CAs (PEM) */
};

struct hd_http_server;

struct hd_http_server *hd_http_server_start(const struct hd_http_server_opts *o, hd_http_handler h, void *ud,
                                            struct hd_err *err);
uint16_t hd_http_server_port(struct hd_http_server *s);
/* Stops accepting new connections (in-flight requests finish). */
void hd_http_server_quiesce(struct hd_http_server *s);
void hd_http_server_stop(struct hd_http_server *s);

#endif
