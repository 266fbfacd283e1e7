/* fastsink - a fast local HTTP sink for benchmarks: answers every request
 * 200 {} (or, for paths ending in _bulk, an Elasticsearch bulk answer with one
 * "created" item per action line pair), counts requests, documents and body
 * bytes, and measures end-to-end latency: every "benchSentUs":<us> found in a
 * body (loadgen puts the wall-clock send time in each event) gives one sample
 * of now - sent. Prints the totals and latency p50/p99/max on SIGINT/SIGTERM.
 * usage: fastsink PORT [FAIL [DELAY_US]]   (FAIL=1: answer every request 503,
 * an outage; DELAY_US > 0: hold each request that long before answering, a
 * sink some network distance away: then one thread per connection, so a
 * held request does not hold the others)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <microhttpd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lat_hist.h"

#define NBUCKETS 20000 /* 0.1 ms resolution up to 2 s, last bucket = overflow */

static atomic_long requests;
static atomic_long bytes;
static atomic_long docs;
static atomic_long hist[NBUCKETS];
static atomic_long max_us;
static atomic_long first_us, last_us; /* wall time of the first and last accepted request */
static int fail_all;
static long delay_us;
static volatile sig_atomic_t stop;

struct body {
    char *p;
    size_t len, cap;
};

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static long wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long)ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/* Samples every "benchSentUs":<us> in [p, end) (a whole body, or the head
 * of one _bulk document, where loadgen's field comes second). */
static void sample_latencies(const char *p, const char *end, long now)
{
    static const char key[] = "\"benchSentUs\":";
    while (p < end) {
        const char *hit = memmem(p, (size_t)(end - p), key, sizeof(key) - 1);
        if (hit == NULL) {
            break;
        }
        p = hit + sizeof(key) - 1;
        long sent = strtol(p, NULL, 10);
        long us = now - sent;
        if (sent <= 0 || us < 0) {
            continue;
        }
        long k = us / 100;
        atomic_fetch_add(&hist[k < NBUCKETS - 1 ? k : NBUCKETS - 1], 1);
        long m = atomic_load(&max_us);
        while (us > m && !atomic_compare_exchange_weak(&max_us, &m, us)) {
        }
    }
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **ctx)
{
    (void)cls;
    (void)version;
    struct body *b = *ctx;
    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        *ctx = b;
        return b != NULL ? MHD_YES : MHD_NO;
    }
    if (*size > 0) {
        atomic_fetch_add(&bytes, (long)*size);
        if (b->len + *size + 1 > b->cap) {
            size_t ncap = (b->cap ? b->cap * 2 : 65536);
            while (ncap < b->len + *size + 1) {
                ncap *= 2;
            }
            char *np = realloc(b->p, ncap);
            if (np == NULL) {
                return MHD_NO;
            }
            b->p = np;
            b->cap = ncap;
        }
        memcpy(b->p + b->len, data, *size);
        b->len += *size;
        *size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&requests, 1);
    if (delay_us > 0) {
        usleep((useconds_t)delay_us);
    }
    size_t ul = strlen(url);
    int is_bulk = ul >= 5 && strcmp(url + ul - 5, "_bulk") == 0;
    long ndocs = 1;
    long now = wall_us();
    if (is_bulk) {
        /* A bench tool sharing the 2 cores with herald: lines found with
         * memchr, and only each document's head searched for the send time
         * (a byte loop and a memmem over all of it cost ~2 us per doc). */
        long lines = 0;
        const char *end = b->p + b->len;
        for (const char *p = b->p; p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (nl == NULL) {
                break;
            }
            if (lines % 2 == 1 && !fail_all) {
                sample_latencies(p, nl - p > 128 ? p + 128 : nl, now);
            }
            lines++;
            p = nl + 1;
        }
        ndocs = lines / 2;
    } else if (!fail_all) {
        sample_latencies(b->p, b->p + b->len, now);
    }
    struct MHD_Response *r;
    unsigned int status = 200;
    if (fail_all) {
        static const char down[] = "{\"error\":\"sink down\"}";
        status = 503;
        r = MHD_create_response_from_buffer(sizeof(down) - 1, (void *)down, MHD_RESPMEM_PERSISTENT);
    } else {
        atomic_fetch_add(&docs, ndocs);
        long t = wall_us();
        long z = 0;
        if (strcmp(method, "GET") != 0) { /* not start_sink's readiness probe */
            atomic_compare_exchange_strong(&first_us, &z, t);
            atomic_store(&last_us, t);
        }
        if (is_bulk) {
            static const char head[] = "{\"took\":1,\"errors\":false,\"items\":[";
            static const char item[] = "{\"create\":{\"status\":201}}";
            size_t n = sizeof(head) - 1 + (size_t)ndocs * sizeof(item) + 2;
            char *out = malloc(n);
            size_t o = 0;
            memcpy(out, head, sizeof(head) - 1);
            o += sizeof(head) - 1;
            for (long i = 0; i < ndocs; i++) {
                if (i > 0) {
                    out[o++] = ',';
                }
                memcpy(out + o, item, sizeof(item) - 1);
                o += sizeof(item) - 1;
            }
            out[o++] = ']';
            out[o++] = '}';
            r = MHD_create_response_from_buffer(o, out, MHD_RESPMEM_MUST_FREE);
        } else {
            static const char ok[] = "{}";
            r = MHD_create_response_from_buffer(sizeof(ok) - 1, (void *)ok, MHD_RESPMEM_PERSISTENT);
        }
    }
    b->len = 0;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct body *b = *ctx;
    if (b != NULL) {
        free(b->p);
        free(b);
        *ctx = NULL;
    }
}

static double pct(double p)
{
    return lat_pct(hist, NBUCKETS, p);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: fastsink PORT [FAIL [DELAY_US]]\n");
        return 2;
    }
    int port = (int)strtol(argv[1], NULL, 10);
    fail_all = argc >= 3 && strcmp(argv[2], "1") == 0;
    delay_us = argc == 4 ? strtol(argv[3], NULL, 10) : 0;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct MHD_Daemon *d =
        delay_us > 0
            ? MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                               (uint16_t)port, NULL, NULL, handle, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                               MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END)
            : MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL,
                               handle, NULL, MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_TIMEOUT,
                               60u, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "fastsink: cannot listen on %d\n", port);
        return 1;
    }
    while (!stop) {
        pause();
    }
    MHD_stop_daemon(d);
    long lat = 0;
    for (int i = 0; i < NBUCKETS; i++) {
        lat += atomic_load(&hist[i]);
    }
    double span = (double)(atomic_load(&last_us) - atomic_load(&first_us)) / 1e6;
    printf("requests=%ld docs=%ld bytes=%ld first_to_last_s=%.2f docs_per_s=%.0f e2e_samples=%ld e2e_ms "
           "p50=%.1f "
           "p99=%.1f max=%.1f\n",
           atomic_load(&requests), atomic_load(&docs), atomic_load(&bytes), span,
           span > 0 ? (double)atomic_load(&docs) / span : 0.0, lat, pct(0.50), pct(0.99),
           atomic_load(&max_us) / 1000.0);
    return 0;
}
