/* mini_server.h - the pieces of a tiny scripted HTTP/1.1 server on
 * 127.0.0.1 shared by the unit tests that need a peer (test_http_client,
 * test_dispatcher): a loopback listener, stoppable waits, keep-alive request
 * framing by Content-Length. Each test keeps its own serving policy (one
 * connection at a time, or a thread per connection) and its own answers.
 * Helpers assert (cmocka): include <cmocka.h> first. */
#ifndef HD_TEST_MINI_SERVER_H
#define HD_TEST_MINI_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline void ms_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* 1 when fd is readable; 0 once *stop is set (checked every 50 ms) or poll
 * fails. */
static inline int ms_wait_readable(atomic_int *stop, int fd)
{
    while (!atomic_load(stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, 50);
        if (r > 0) {
            return 1;
        }
        if (r < 0 && errno != EINTR) {
            return 0;
        }
    }
    return 0;
}

/* A listening socket on 127.0.0.1 and a free port (*port). */
static inline int ms_listen(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static inline void ms_send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Keep-alive framing: buf[0..*len) is what the connection has sent so far.
 * Receives until it holds one whole request (head, then Content-Length bytes
 * of body) and returns that request's size, its head's in *hlen (NULL: not
 * wanted); 0 when the peer closed, *stop was set or buf (cap bytes) is full.
 * After answering, ms_consume drops the request. */
static inline size_t ms_next_request(atomic_int *stop, int fd, char *buf, size_t cap, size_t *len,
                                     size_t *hlen)
{
    for (;;) {
        buf[*len] = '\0';
        char *eoh = strstr(buf, "\r\n\r\n");
        if (eoh != NULL) {
            size_t h = (size_t)(eoh - buf) + 4;
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t clen = cl != NULL && cl < eoh ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
            if (*len >= h + clen) {
                if (hlen != NULL) {
                    *hlen = h;
                }
                return h + clen;
            }
        }
        if (*len + 1 >= cap || !ms_wait_readable(stop, fd)) {
            return 0;
        }
        ssize_t r = recv(fd, buf + *len, cap - 1 - *len, 0);
        if (r <= 0) {
            return 0;
        }
        *len += (size_t)r;
    }
}

static inline void ms_consume(char *buf, size_t *len, size_t n)
{
    memmove(buf, buf + n, *len - n);
    *len -= n;
}

#endif
