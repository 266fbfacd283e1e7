/* tls_peer.h - private to src/net: the client certificate of a TLS session
 * (GnuTLS) verified against the server's trusted CAs, and the check of a CA
 * bundle before the server starts with it. */
#ifndef HD_TLS_PEER_H
#define HD_TLS_PEER_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "net/http_server.h"

/* Verifies the peer certificate of session (a gnutls_session_t, server side)
 * against the trusted CAs of its credentials: chain, validity dates, and, if
 * the certificate lists extended key usages, client authentication among
 * them. VERIFIED appends its canonical subject DN to subject; UNTRUSTED sets
 * *why (a static string). */
enum hd_http_peer hd_tls_peer_verify(void *session, struct hd_buf *subject, const char **why);

/* HD_OK if pem[0..len) holds at least one X.509 certificate; else HD_EINVAL,
 * err naming what (the config key) and path. */
int hd_tls_check_ca(const char *pem, size_t len, const char *what, const char *path, struct hd_err *err);

#endif
