/* raw.c - raw byte streams over libcurl: a TCP or TLS connection that
 * carries the request body as is, for sinks that speak no HTTP (SYSLOG:
 * RFC 5424 messages with RFC 6587 octet counting, RFC 5425 over TLS).
 *
 * DESIGN: libcurl stays the only network library (STYLE, net layer): a
 * tcp://host:port or tls://host:port request becomes a CURLOPT_CONNECT_ONLY
 * transfer of http://host:port/ or https://host:port/, which connects (name
 * resolution, the deny list's opensocket callback, timeouts, TLS handshake
 * with the channel's CA / client certificate / verification settings) and
 * stops there; the body is then written with curl_easy_send, which encrypts
 * for TLS. http_client.c drives it: on the multi handle the easy handle stays
 * added while the body is written (removing it closes the connection), its
 * socket polled for writability through curl_multi_poll's extra fds; the
 * sync path waits with poll(2). These protocols have no answer: once every
 * byte is written, herald half-closes the connection (shutdown SHUT_WR) and
 * reads until the server closes its side, discarding what it reads (TLS 1.3
 * session tickets). Closing at once instead would lose data: a socket closed
 * with unread bytes in its receive buffer sends a reset, and the server may
 * drop what it had not read yet. So a transfer succeeds once the server has
 * read everything and closed (or reset) the connection.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "net/http_int.h"

int hd_raw_url(const char *url, struct hd_buf *out)
{
    if (!hd_raw_is(url)) {
        return 0;
    }
    const char *scheme = strncmp(url, "tcp://", 6) == 0 ? "http://" : "https://";
    const char *rest = url + 6; /* after "tcp://" or "tls://" */
    size_t hostport = strcspn(rest, "/?#");
    hd_buf_reset(out);
    int rc = hd_buf_puts(out, scheme);
    if (rc == HD_OK) {
        rc = hd_buf_append(out, rest, hostport);
    }
    if (rc == HD_OK) {
        rc = hd_buf_putc(out, '/');
    }
    return rc == HD_OK ? 1 : rc;
}

int hd_raw_is(const char *url)
{
    return url != NULL && (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "tls://", 6) == 0);
}

int hd_raw_send(CURL *easy, const struct hd_buf *body, size_t *off, char *err, size_t errsz)
{
    while (*off < body->len) {
        size_t sent = 0;
        CURLcode code = curl_easy_send(easy, body->p + *off, body->len - *off, &sent);
        if (code == CURLE_AGAIN) {
            return HD_EBUSY;
        }
        if (code != CURLE_OK) {
            snprintf(err, errsz, "while writing to the connection after %zu of %zu bytes: %s", *off,
                     body->len, curl_easy_strerror(code));
            return HD_ENET;
        }
        *off += sent;
    }
    return HD_OK;
}

int hd_raw_drain(CURL *easy, int *shut)
{
    char sink[4096];
    if (!*shut) {
        curl_socket_t fd = hd_raw_socket(easy);
        if (fd == CURL_SOCKET_BAD || shutdown(fd, SHUT_WR) != 0) {
            return HD_OK; /* nothing left to wait for */
        }
        *shut = 1;
    }
    for (;;) {
        size_t got = 0;
        CURLcode code = curl_easy_recv(easy, sink, sizeof(sink), &got);
        if (code == CURLE_AGAIN) {
            return HD_EBUSY;
        }
        if (code != CURLE_OK || got == 0) {
            return HD_OK; /* closed (or reset) by the server after our last byte */
        }
    }
}

curl_socket_t hd_raw_socket(CURL *easy)
{
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK) {
        return CURL_SOCKET_BAD;
    }
    return fd;
}

int hd_raw_wait(CURL *easy, int readable, long timeout_ms)
{
    struct pollfd p = {.fd = hd_raw_socket(easy), .events = readable ? POLLIN : POLLOUT};
    if (p.fd == CURL_SOCKET_BAD) {
        return HD_ENET;
    }
    int n = poll(&p, 1, (int)(timeout_ms > 0 ? timeout_ms : 0));
    return n > 0 ? HD_OK : HD_ENET;
}
