/* ceiling - the bare-HTTP ceiling of SPEC 10: a libmicrohttpd server set up
 * as herald's listener is (internal polling threads, epoll, the same thread
 * pool size) that reads each request body and answers 202
 * {"accepted":1} without doing anything else. The same loadgen drives it and
 * herald in one bench run; herald's figures are reported as ratios to it.
 * usage: ceiling PORT [THREADS]   (THREADS: default 4, herald's pool size) */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **state)
{
    (void)cls;
    (void)url;
    (void)version;
    (void)data;
    static int seen;
    if (*state == NULL) {
        *state = &seen; /* first call: headers only */
        return MHD_YES;
    }
    if (*size > 0) {
        *size = 0; /* body bytes read and dropped */
        return MHD_YES;
    }
    static const char body[] = "{\"accepted\":1}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, strcmp(method, "POST") == 0 ? 202 : 200, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ceiling PORT [THREADS]\n");
        return 2;
    }
    int port = (int)strtol(argv[1], NULL, 10);
    unsigned int threads = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 10) : 4u;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL, handle,
                         NULL, MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                         MHD_OPTION_CONNECTION_LIMIT, 2000u, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "ceiling: cannot listen on %d\n", port);
        return 1;
    }
    while (!stop) {
        pause();
    }
    MHD_stop_daemon(d);
    return 0;
}
