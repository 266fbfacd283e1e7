/* fastsink - a fast local HTTP sink for benchmarks: answers every request
 * 200 {} (or an Elasticsearch-like bulk answer for paths ending in _bulk)
 * and counts requests and body bytes. Prints the totals on SIGINT/SIGTERM.
 * usage: fastsink PORT */
#include <microhttpd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_long requests;
static atomic_long bytes;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **ctx)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    if (*ctx == NULL) {
        *ctx = (void *)1;
        return MHD_YES;
    }
    if (*size > 0) {
        atomic_fetch_add(&bytes, (long)*size);
        *size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&requests, 1);
    static const char ok[] = "{}";
    static const char bulk[] = "{\"took\":1,\"errors\":false,\"items\":[]}";
    size_t ul = strlen(url);
    int is_bulk = ul >= 5 && strcmp(url + ul - 5, "_bulk") == 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(is_bulk ? sizeof(bulk) - 1 : sizeof(ok) - 1,
                                                             (void *)(is_bulk ? bulk : ok), MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fastsink PORT\n");
        return 2;
    }
    int port = (int)strtol(argv[1], NULL, 10);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL,
                                            NULL, handle, NULL, MHD_OPTION_THREAD_POOL_SIZE, 2u,
                                            MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "fastsink: cannot listen on %d\n", port);
        return 1;
    }
    while (!stop) {
        pause();
    }
    MHD_stop_daemon(d);
    printf("requests=%ld bytes=%ld\n", atomic_load(&requests), atomic_load(&bytes));
    return 0;
}
