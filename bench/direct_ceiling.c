/* direct_ceiling - the floor of a durable-ack ingest design that answers from
 * the thread completing the group, for comparison with bench/ceiling's
 * "deferred" mode (libmicrohttpd suspending each request and resuming it
 * after the group). docs/performance.md, round 7.
 *
 * A minimal HTTP/1.1 keep-alive server, enough for bench/loadgen and curl:
 * THREADS poll threads, each with its own epoll and its own listening
 * socket on PORT (SO_REUSEPORT: the kernel spreads the connections). A poll
 * thread reads a request (headers, then Content-Length bytes of body, which
 * are dropped) and queues its connection; a group thread takes up to 16
 * connections or waits 2 ms (herald's writer's linger), as if it committed
 * them, and writes each 202 answer itself. The poll thread is not woken for
 * the answer: the client's next request is what wakes it next. No disk, no
 * work: only the wake-ups and the socket calls of this design.
 *
 * With FILE, the floor of a durable ack: the group thread appends the
 * group's request bodies to FILE (pwrite at the end of the last group,
 * wrapping at 64 MiB inside a file allocated once, as SQLite's WAL is reused
 * after a checkpoint) and calls fdatasync before it answers. Still no
 * decoding, indexing or delivery (docs/performance.md, round 9).
 *
 * Not a server to use: no pipelining, no chunked bodies, requests up to 64
 * KiB, nothing but what the benches send.
 * usage: direct_ceiling PORT [THREADS [FILE]]   (THREADS: default 4) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "group.h"

#define REQ_MAX 65536
#define LOG_WRAP (64L * 1024 * 1024)

struct conn {
    int fd;
    int epfd;
    size_t len;  /* bytes in buf */
    int pending; /* requests queued or being answered (mu) */
    int dead;    /* the client closed while one was pending (mu) */
    char buf[REQ_MAX];
    size_t rec_len; /* durable mode: the queued request's bytes, for the group thread */
    char rec[REQ_MAX];
};

static int log_fd = -1; /* durable mode: FILE */
static off_t log_at;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;
static void *queue[QUEUE_MAX]; /* struct conn * */
static size_t queued;

static const char answer[] = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                             "Content-Length: 14\r\n\r\n{\"accepted\":1}";

static void conn_free(struct conn *c)
{
    close(c->fd);
    free(c);
}

/* Writes all of answer to c (the socket is non-blocking: waits on EAGAIN). */
static void send_answer(struct conn *c)
{
    size_t off = 0;
    while (off < sizeof(answer) - 1) {
        ssize_t n = send(c->fd, answer + off, sizeof(answer) - 1 - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            sched_yield();
        } else {
            return; /* the client is gone: its poll thread sees the close */
        }
    }
}

/* Answers the group, then lets the poll threads free a connection whose
 * client left meanwhile. */
static void answer_all(void **group, size_t n)
{
    if (log_fd >= 0) {
        for (size_t i = 0; i < n; i++) {
            struct conn *c = group[i];
            if (log_at + (off_t)c->rec_len > LOG_WRAP) {
                log_at = 0;
            }
            if (pwrite(log_fd, c->rec, c->rec_len, log_at) != (ssize_t)c->rec_len) {
                perror("direct_ceiling: pwrite");
                exit(1);
            }
            log_at += (off_t)c->rec_len;
        }
        if (fdatasync(log_fd) != 0) {
            perror("direct_ceiling: fdatasync");
            exit(1);
        }
    }
    for (size_t i = 0; i < n; i++) {
        send_answer(group[i]);
    }
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n; i++) {
        struct conn *c = group[i];
        if (--c->pending == 0 && c->dead) {
            conn_free(c);
        }
    }
    pthread_mutex_unlock(&mu);
}

static void *group_main(void *arg)
{
    (void)arg;
    group_serve(&mu, &wake, queue, &queued, answer_all);
    return NULL;
}

/* The length of the complete request at the start of c->buf, 0 if not yet
 * complete, -1 if it cannot be served. */
static long request_len(struct conn *c)
{
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (end == NULL) {
        return c->len == REQ_MAX ? -1 : 0;
    }
    size_t head = (size_t)(end - c->buf) + 4;
    size_t body = 0;
    for (char *line = memchr(c->buf, '\n', head); line != NULL && line + 1 < end;
         line = memchr(line + 1, '\n', (size_t)(end - line - 1))) {
        if (strncasecmp(line + 1, "content-length:", 15) == 0) {
            body = strtoul(line + 16, NULL, 10);
        }
    }
    if (head + body > REQ_MAX) {
        return -1;
    }
    return c->len >= head + body ? (long)(head + body) : 0;
}

static void on_readable(struct conn *c)
{
    ssize_t n = recv(c->fd, c->buf + c->len, REQ_MAX - c->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    long req = n > 0 ? (c->len += (size_t)n, request_len(c)) : -1;
    if (req == 0) {
        return;
    }
    pthread_mutex_lock(&mu);
    if (req < 0 || queued == QUEUE_MAX) { /* closed, or unservable: drop the connection */
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        if (c->pending > 0) {
            c->dead = 1;
            shutdown(c->fd, SHUT_RD);
        } else {
            conn_free(c);
        }
        pthread_mutex_unlock(&mu);
        return;
    }
    if (log_fd >= 0) {
        memcpy(c->rec, c->buf, (size_t)req);
        c->rec_len = (size_t)req;
    }
    memmove(c->buf, c->buf + req, c->len - (size_t)req);
    c->len -= (size_t)req;
    c->pending++;
    queue[queued++] = c;
    if (queued == 1 || queued >= GROUP_MAX) {
        pthread_cond_signal(&wake);
    }
    pthread_mutex_unlock(&mu);
}

static void *poll_main(void *arg)
{
    int port = *(int *)arg;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(ls, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (ls < 0 || epfd < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 1024) != 0 ||
        epoll_ctl(epfd, EPOLL_CTL_ADD, ls, &ev) != 0) {
        perror("direct_ceiling: listen");
        exit(1);
    }
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(epfd, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c != NULL) {
                on_readable(c);
                continue;
            }
            int fd;
            while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                c = calloc(1, sizeof(*c));
                if (c == NULL) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                c->epfd = epfd;
                struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &cev) != 0) {
                    conn_free(c);
                }
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: direct_ceiling PORT [THREADS [FILE]]\n");
        return 2;
    }
    static int port;
    port = (int)strtol(argv[1], NULL, 10);
    int threads = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 4;
    if (argc > 3) {
        log_fd = open(argv[3], O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (log_fd < 0 || posix_fallocate(log_fd, 0, LOG_WRAP) != 0 || fsync(log_fd) != 0) {
            perror(argv[3]);
            return 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    group_cond_init(&wake);
    pthread_t t;
    if (pthread_create(&t, NULL, group_main, NULL) != 0) {
        return 1;
    }
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&t, NULL, poll_main, &port) != 0) {
            return 1;
        }
    }
    pause(); /* until a signal ends the process */
    return 0;
}
