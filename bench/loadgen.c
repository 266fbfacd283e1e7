/* loadgen - HTTP/1.1 keep-alive load generator for POST /api/events.
 *
 * Every event is unique (a counter goes into the benchSeq field and the
 * top-level timestamp of a ~2 KB Sysdig event, so its id differs), so the store's de-duplication never
 * short-cuts the work. One thread per connection, blocking sockets; per-request latency into a log-linear
 * histogram; prints requests/s, events/s, p50/p99/max latency.
 *
 * usage: loadgen -p PORT -t TOKEN [-c CONNS] [-d SECONDS] [-b EVENTS_PER_REQUEST] [-r
 * TOTAL_RATE_EVENTS_PER_S]
 *                [-n MAX_EVENTS] [-T (synthetic event times, see event_time)]
 *                [-S (every event the same source time, see event_time)]
 *                [-A (a batch is a JSON array, not NDJSON)] [-s STATUS (the success answer,
 *                default 202; Fluent Bit's in_http answers 201: bench/fluentbit.sh)]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lat_hist.h"

#define NBUCKETS 4096 /* 0.1 ms resolution up to ~409 ms, last bucket = overflow */

static int port = 8080;
static const char *token = "";
static int conns = 8;
static int duration = 10;
static int batch = 1;
static double rate;     /* total events/s, 0 = as fast as possible */
static long max_events; /* stop after this many events sent (0 = by duration only) */
static atomic_long seq_counter;
static atomic_long sent_ev;
static atomic_long total_req, total_ev, total_err;
static atomic_long hist[NBUCKETS];
static atomic_long max_us;

static const char event_tmpl[] =
    "{\"benchSeq\":\"%016ld\",\"benchSentUs\":%ld,\"timestamp\":%ld,\"timespan\":60000000,\"alert\":{"
    "\"severity\":4,"
    "\"editUrl\":null,\"scope\":null,\"name\":\"Policy 59: FILE POLICY: Read sensitive file untrusted\","
    "\"description\":\"an attempt to read any sensitive file (e.g. files containing "
    "user/password/authentication "
    "information). Exceptions are made for known trusted "
    "programs.\",\"id\":null},\"event\":{\"id\":%s,\"url\":"
    "\"https://secure.sysdig.com/#/events/"
    "f:1518849300,t:1518849360\"},\"state\":\"ACTIVE\",\"resolved\":false,"
    "\"entities\":[{\"entity\":\"\",\"metricValues\":[{\"metric\":\"policyEvent\",\"aggregation\":\"count\","
    "\"groupAggregation\":\"none\",\"value\":1}],\"additionalInfo\":null,\"policies\":[{\"id\":59,"
    "\"version\":9,"
    "\"createdOn\":1496775488000,\"modifiedOn\":1512474141000,\"name\":\"FILE POLICY: Read sensitive file "
    "untrusted\",\"description\":\"an attempt to read any sensitive file (e.g. files containing "
    "user/password/authentication information). Exceptions are made for known trusted "
    "programs.\",\"severity\":4,"
    "\"enabled\":true,\"hostScope\":true,\"containerScope\":true,\"falcoConfiguration\":{\"onDefault\":"
    "\"DEFAULT_MATCH_EFFECT_NEXT\",\"fields\":[],\"ruleNameRegEx\":\"Read sensitive file untrusted\"},"
    "\"notificationChannelIds\":[14872],\"actions\":[{\"type\":\"POLICY_ACTION_CAPTURE\",\"beforeEventNs\":"
    "30000000000,\"afterEventNs\":30000000000,\"isLimitedToContainer\":false}],\"policyEventsCount\":295,"
    "\"isBuiltin\":false,\"isManual\":true}],\"policyEvents\":[{\"id\":\"513051281863028736\",\"version\":1,"
    "\"containerId\":\"57c1820a87f1\",\"severity\":4,\"metrics\":[\"ip-10-0-8-165\",\"k8s_ftest_redis-"
    "3463099497-"
    "2xxw3_example-java-app_08285988-acff-11e7-b6b2-06fd27f1a4ca_0\"],\"policyId\":59,\"actionResults\":[{"
    "\"type\":"
    "\"POLICY_ACTION_CAPTURE\",\"successful\":true,\"token\":\"e0abbbfb-ae65-4c5d-966a-78f88b0f67fb\","
    "\"sysdigCaptureId\":432336}],\"output\":\"Sensitive file opened for reading by non-trusted program "
    "(user=root "
    "name=ftest command=ftest -i 25200 -a exfiltration file=/etc/shadow parent=docker-containe "
    "gparent=docker-"
    "containe ggparent=dockerd gggparent=systemd)\",\"ruleType\":\"RULE_TYPE_FALCO\",\"ruleSubtype\":null,"
    "\"matchedOnDefault\":false,\"fields\":[{\"key\":\"falco.rule\",\"value\":\"Read sensitive file "
    "untrusted\"}],"
    "\"falsePositive\":false,\"timestamp\":1518849310380639,\"hostMac\":\"06:90:90:7f:15:ea\","
    "\"isAggregated\":false}]}]}";

/* The event's own time ("timestamp", µs), which its id hashes: unique per
 * event. Default: the wall clock, bumped by 1 µs where two events would share
 * one, as a live source stamps events (the id's leading seconds then follow
 * arrival). -T: base + seq µs, the old way: a million events per second of
 * source time, so ids of a run share their leading seconds and the store's
 * id index is written at random places (a worst case, docs/performance.md).
 * -S: every event the same time (a burst, a replay: SPEC 10), the wall clock
 * at start; each event then carries its own event.id (see event_id), which
 * the id hashes, so ids stay unique. */
static int synthetic_time;
static int same_time;       /* -S */
static long same_time_us;   /* -S: the one source time, the wall clock at start */
static int as_array;        /* -A */
static int ok_status = 202; /* -s */
static atomic_long last_time;
static long wall_us(void);

static long event_time(long seq)
{
    if (synthetic_time) {
        return 1518849360000000L + seq % 1000000000000L;
    }
    if (same_time) {
        return same_time_us;
    }
    long now = wall_us();
    long prev = atomic_load(&last_time);
    for (;;) {
        long next = now > prev ? now : prev + 1;
        if (atomic_compare_exchange_weak(&last_time, &prev, next)) {
            return next;
        }
    }
}

/* The event's event.id as JSON: null, or with -S a per-event string (the
 * time no longer tells events apart). buf holds at least 40 bytes. */
static const char *event_id(long seq, char *buf, size_t cap)
{
    if (!same_time) {
        return "null";
    }
    snprintf(buf, cap, "\"bench-%016ld\"", seq);
    return buf;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Wall clock, comparable across processes: fastsink measures ingest -> sink. */
static long wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long)ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static int connect_once(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one response; returns the status or -1. */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    char *hdr_end = NULL;
    while (hdr_end == NULL) {
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0) {
            return -1;
        }
        len += (size_t)r;
        buf[len] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
    }
    int status = (int)strtol(buf + 9, NULL, 10);
    long clen = 0;
    char *cl = strcasestr(buf, "\r\ncontent-length:");
    if (cl != NULL) {
        clen = strtol(cl + 17, NULL, 10);
    }
    size_t have = len - (size_t)(hdr_end + 4 - buf);
    while ((long)have < clen) {
        ssize_t r = read(fd, buf, cap - 1);
        if (r <= 0) {
            return -1;
        }
        have += (size_t)r;
    }
    return status;
}

static void *worker(void *arg)
{
    (void)arg;
    size_t evlen = strlen(event_tmpl) + 96; /* the numbers and the -S event id */
    size_t body_cap = (size_t)batch * (evlen + 1) + 64;
    char *body = malloc(body_cap);
    char *req = malloc(body_cap + 512);
    char resp[65536];
    int fd = connect_once();
    int64_t end = now_us() + (int64_t)duration * 1000000;
    double per_conn_interval_us = rate > 0 ? 1e6 * batch / (rate / conns) : 0;
    int64_t next_send = now_us();
    while (fd >= 0 && now_us() < end) {
        if (max_events > 0 && atomic_fetch_add(&sent_ev, batch) >= max_events) {
            break;
        }
        if (per_conn_interval_us > 0) {
            int64_t t = now_us();
            if (t < next_send) {
                usleep((useconds_t)(next_send - t));
            }
            next_send += (int64_t)per_conn_interval_us;
        }
        size_t bl = 0;
        if (as_array && batch > 1) {
            body[bl++] = '[';
        }
        for (int i = 0; i < batch; i++) {
            long s = atomic_fetch_add(&seq_counter, 1);
            char eid[48];
            bl += (size_t)snprintf(body + bl, body_cap - bl, event_tmpl, s, wall_us(), event_time(s),
                                   event_id(s, eid, sizeof(eid)));
            if (batch > 1) {
                body[bl++] = as_array ? (i + 1 < batch ? ',' : ']') : '\n';
            }
        }
        int hl = snprintf(req, 512,
                          "POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                          "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                          token, batch > 1 && !as_array ? "application/x-ndjson" : "application/json", bl);
        memcpy(req + hl, body, bl);
        int64_t t0 = now_us();
        int st = -1;
        if (write_all(fd, req, (size_t)hl + bl) == 0) {
            st = read_response(fd, resp, sizeof(resp));
        }
        int64_t us = now_us() - t0;
        if (st == ok_status) {
            atomic_fetch_add(&total_req, 1);
            atomic_fetch_add(&total_ev, batch);
        } else {
            atomic_fetch_add(&total_err, 1);
            if (st < 0) {
                close(fd);
                fd = connect_once();
            }
        }
        long b = us / 100;
        atomic_fetch_add(&hist[b < NBUCKETS - 1 ? b : NBUCKETS - 1], 1);
        long m = atomic_load(&max_us);
        while (us > m && !atomic_compare_exchange_weak(&max_us, &m, us)) {
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    free(body);
    free(req);
    return NULL;
}

static double pct(double p)
{
    return lat_pct(hist, NBUCKETS, p);
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "p:t:c:d:b:r:n:TSAs:")) != -1) {
        switch (c) {
        case 'p': port = (int)strtol(optarg, NULL, 10); break;
        case 't': token = optarg; break;
        case 'c': conns = (int)strtol(optarg, NULL, 10); break;
        case 'd': duration = (int)strtol(optarg, NULL, 10); break;
        case 'b': batch = (int)strtol(optarg, NULL, 10); break;
        case 'r': rate = strtod(optarg, NULL); break;
        case 'n': max_events = strtol(optarg, NULL, 10); break;
        case 'T': synthetic_time = 1; break;
        case 'S': same_time = 1; break;
        case 'A': as_array = 1; break;
        case 's': ok_status = (int)strtol(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: loadgen -p PORT -t TOKEN [-c N] [-d S] [-b N] [-r EV/S] [-n N] [-T] [-S] "
                            "[-A] [-s STATUS]\n");
            return 2;
        }
    }
    atomic_store(&seq_counter, (long)time(NULL) * 1000000L);
    same_time_us = wall_us();
    pthread_t *th = calloc((size_t)conns, sizeof(*th));
    int64_t t0 = now_us();
    for (int i = 0; i < conns; i++) {
        pthread_create(&th[i], NULL, worker, NULL);
    }
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
    }
    double secs = (double)(now_us() - t0) / 1e6;
    printf("conns=%d batch=%d duration=%.1fs requests=%ld events=%ld errors=%ld\n", conns, batch, secs,
           atomic_load(&total_req), atomic_load(&total_ev), atomic_load(&total_err));
    printf("requests/s=%.0f events/s=%.0f latency_ms p50=%.1f p99=%.1f max=%.1f\n",
           atomic_load(&total_req) / secs, atomic_load(&total_ev) / secs, pct(0.50), pct(0.99),
           atomic_load(&max_us) / 1000.0);
    free(th);
    return 0;
}
