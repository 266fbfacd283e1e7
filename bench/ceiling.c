/* ceiling - the bare-HTTP ceiling of SPEC 10: a libmicrohttpd server set up
 * as herald's listener is (internal polling threads, epoll, the same thread
 * pool size) that reads each request body and answers 202
 * {"accepted":1} without doing anything else. The same loadgen drives it and
 * herald in one bench run; herald's figures are reported as ratios to it.
 *
 * With "deferred" it answers the way herald answers an ingest request: the
 * connection is suspended once the body is read, and another thread resumes
 * it after a group "commit" (up to 16 requests or 2 ms, as herald's SQLite
 * writer lingers; no disk, no work). That is the floor of a durable-ack
 * design on libmicrohttpd: what herald could reach if storing and delivering
 * cost nothing.
 * usage: ceiling PORT [THREADS [deferred]]   (THREADS: default 4, herald's pool size) */
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "group.h"

static volatile sig_atomic_t stop;
static int deferred;

/* Suspended connections waiting for the resumer (the "writer"). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;
static void *queue[QUEUE_MAX]; /* struct MHD_Connection * */
static size_t queued;

struct req {
    int answered_later; /* suspended once: the next call answers */
};

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void resume_all(void **group, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        MHD_resume_connection(group[i]);
    }
}

static void *resumer(void *arg)
{
    (void)arg;
    group_serve(&mu, &wake, queue, &queued, resume_all);
    return NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **state)
{
    (void)cls;
    (void)url;
    (void)version;
    (void)data;
    struct req *r = *state;
    if (r == NULL) {
        r = calloc(1, sizeof(*r)); /* first call: headers only */
        if (r == NULL) {
            return MHD_NO;
        }
        *state = r;
        return MHD_YES;
    }
    if (*size > 0) {
        *size = 0; /* body bytes read and dropped */
        return MHD_YES;
    }
    if (deferred && !r->answered_later && strcmp(method, "POST") == 0) {
        pthread_mutex_lock(&mu);
        if (queued < QUEUE_MAX) {
            r->answered_later = 1;
            queue[queued++] = conn;
            MHD_suspend_connection(conn); /* under mu: the resume cannot come first */
            if (queued == 1 || queued >= GROUP_MAX) {
                pthread_cond_signal(&wake);
            }
            pthread_mutex_unlock(&mu);
            return MHD_YES;
        }
        pthread_mutex_unlock(&mu);
    }
    static const char body[] = "{\"accepted\":1}";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, strcmp(method, "POST") == 0 ? 202 : 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    free(*state);
    *state = NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ceiling PORT [THREADS [deferred]]\n");
        return 2;
    }
    int port = (int)strtol(argv[1], NULL, 10);
    unsigned int threads = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 10) : 4u;
    deferred = argc > 3 && strcmp(argv[3], "deferred") == 0;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    if (deferred) {
        group_cond_init(&wake);
        pthread_t t;
        if (pthread_create(&t, NULL, resumer, NULL) != 0) {
            fprintf(stderr, "ceiling: cannot start the resumer\n");
            return 1;
        }
        pthread_detach(t);
        flags |= MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    }
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, NULL, MHD_OPTION_THREAD_POOL_SIZE,
                         threads, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_LIMIT, 2000u,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "ceiling: cannot listen on %d\n", port);
        return 1;
    }
    while (!stop) {
        pause();
    }
    /* MHD must not stop with suspended connections: the loadgen is gone by
     * now, and the process exits anyway. */
    if (!deferred) {
        MHD_stop_daemon(d);
    }
    return 0;
}
