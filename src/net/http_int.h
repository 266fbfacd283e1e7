/* http_int.h - what the net layer's own files share (not for other layers):
 * libcurl's one-time set-up, and the raw byte streams of raw.c that
 * http_client.c drives for tcp:// and tls:// requests. */
#ifndef HD_HTTP_INT_H
#define HD_HTTP_INT_H

#include <curl/curl.h>
#include <stddef.h>

#include "core/buf.h"

/* The most of an answer's body kept (responses and streams). */
#define HD_RESP_MAX_BODY (1024 * 1024)

/* curl_global_init once per process; HD_OK or HD_EIO. */
int hd_curl_ready(void);

/* 1 if url is a raw stream (tcp://host:port or tls://host:port): out then
 * holds the URL curl connects to (http://host:port/ or https://host:port/,
 * which CURLOPT_CONNECT_ONLY turns into "connect, and for https the TLS
 * handshake, then stop"); 0 if url is anything else. Negative on ENOMEM. */
int hd_raw_url(const char *url, struct hd_buf *out);

/* 1 if url is a raw stream (tcp:// or tls://). */
int hd_raw_is(const char *url);

/* Writes body[*off..] to the connection of a CONNECT_ONLY easy handle
 * without blocking, advancing *off. HD_OK when every byte is written,
 * HD_EBUSY when the socket would block (wait for it to be writable), HD_ENET
 * with err filled when the connection failed. */
int hd_raw_send(CURL *easy, const struct hd_buf *body, size_t *off, char *err, size_t errsz);

/* After the last byte: half-closes the connection (once: *shut, zeroed by
 * the caller, records it) and reads until the server closes its side. HD_OK
 * once it has, HD_EBUSY while it would block (wait for readability). */
int hd_raw_drain(CURL *easy, int *shut);

/* The socket of a CONNECT_ONLY easy handle, CURL_SOCKET_BAD if none. */
curl_socket_t hd_raw_socket(CURL *easy);

/* Blocks until the handle's socket is writable (readable when readable is
 * set) or timeout_ms passed (sync path only). HD_OK, or HD_ENET on timeout
 * / error. */
int hd_raw_wait(CURL *easy, int readable, long timeout_ms);

#endif
