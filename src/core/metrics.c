/* metrics.c - process-wide counters and histograms.
 *
 * DESIGN: every series (name + label set) is one entry in a small chained hash
 * table, created on first use and never freed until hd_metrics_reset. One
 * mutex guards the whole table: adds are a hash, a strcmp and an increment,
 * and callers batch them, so contention stays negligible next to the network
 * I/O they account for. Entries also sit on an insertion-ordered list so that
 * the rendered page is stable (same order as the series first appeared) and
 * can be grouped by name with one # TYPE line per name.
 */
#include "core/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define HD_METRICS_SLOTS 256

/* THE list of metric families: what /metrics says of each (# HELP, # TYPE)
 * and what docs/operations.md lists (tests/integration/test_metrics.py
 * checks both against a scrape). A family rendered without an entry here is
 * still valid exposition, with a help text saying it is undocumented. */
static const struct hd_metric_family families[] = {
    /* ingest */
    {"herald_events_received_total", "counter", "Events decoded from ingest requests, by source."},
    {"herald_events_stored_total", "counter",
     "Events newly stored (a re-sent event is not counted), by source."},
    {"herald_events_rejected_total", "counter", "Ingest requests refused before storing, by reason."},
    {"herald_store_commits_total", "counter",
     "Group commits of the store (events stored / commits = batch size)."},
    {"herald_store_id_lookups_skipped_total", "counter",
     "New events stored without looking their id up: the writer's filter of stored ids had never seen it."},
    {"herald_store_group_reruns_total", "counter",
     "Group commits run a second time, each write in its own savepoint, because one of them failed."},
    {"herald_store_max_seq", "gauge", "Sequence number of the newest stored event."},
    {"herald_ingest_requests_in_parts_total", "counter",
     "Ingest requests decoded and stored in parts by the store's writer (more than 8,192 events, or more "
     "than 512 in a body over 4 MiB): bounded memory, decoded twice."},
    /* delivery */
    {"herald_deliveries_total", "counter",
     "Events handed to a channel, by channel and outcome (delivered, retry, failed, throttled)."},
    {"herald_delivery_latency_seconds", "histogram",
     "Time from an event's arrival to its confirmed delivery, by channel."},
    {"herald_channel_backlog", "gauge",
     "Events a channel has not delivered yet: after its cursor plus pending retries."},
    {"herald_channel_oldest_undelivered_seconds", "gauge",
     "Age of the oldest event a channel has not delivered yet, by arrival (0 when none)."},
    {"herald_channel_dead_letters", "gauge", "Dead letters (FAILED deliveries) stored for a channel."},
    {"herald_channel_breaker_open", "gauge", "1 while a channel's circuit breaker is open, else 0."},
    /* HTTP */
    {"herald_http_requests_total", "counter", "HTTP requests answered, by route pattern and status code."},
    {"herald_http_requests_waited_total", "counter",
     "Requests that waited, unread, for room under limits.maxBytesInFlight (backpressure)."},
    {"herald_http_request_duration_seconds", "histogram",
     "Time from a request's headers to its answer being queued, by route pattern."},
    {"herald_http_bodies_reused_total", "counter",
     "Request bodies of 256 KiB to 4 MiB read into the memory of an earlier one (no fresh mapping)."},
    {"herald_memory_trims_total", "counter",
     "Times freed memory was given back to the kernel, after a request body of 4 MiB or more."},
    /* watchers */
    {"herald_k8s_events_seen_total", "counter", "Kubernetes Events read from the list and the watch."},
    {"herald_k8s_events_dropped_total", "counter",
     "Kubernetes Events not stored, by reason (duplicate, deleted, invalid, too_old)."},
    {"herald_k8s_watch_restarts_total", "counter", "Kubernetes watch restarts, by reason."},
    {"herald_docker_events_seen_total", "counter", "Docker events read from the /events stream."},
    {"herald_docker_events_dropped_total", "counter", "Docker events not stored, by reason."},
    {"herald_docker_reconnects_total", "counter", "Reconnections to the Docker /events stream."},
    /* process */
    {"herald_build_info", "gauge", "Always 1; the labels say which herald this is."},
    {"process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."},
    {"process_resident_memory_bytes", "gauge", "Resident memory size in bytes."},
    {"process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."},
    {"process_open_fds", "gauge", "Number of open file descriptors."},
    {"process_max_fds", "gauge", "Maximum number of open file descriptors."},
    {"process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."},
};

static const double bucket_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                       0.5,   1,     2.5,  5,     10,   30,  60};
#define HD_METRICS_NBUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))

enum metric_kind { METRIC_COUNTER = 0, METRIC_HISTOGRAM = 1 };

struct metric {
    struct metric *hnext; /* hash chain */
    struct metric *onext; /* insertion order */
    enum metric_kind kind;
    char *name;
    char *labels;                          /* "" when none */
    int64_t value;                         /* counter */
    uint64_t buckets[HD_METRICS_NBUCKETS]; /* histogram, not cumulative */
    uint64_t count;
    double sum;
};

/* Guarded by lock: the table, the order list and every entry's values. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *slots[HD_METRICS_SLOTS];
static struct metric *order_head;
static struct metric *order_tail;

static uint32_t series_hash(const char *name, const char *labels)
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p != '\0'; p++) {
        h = (h ^ (unsigned char)*p) * 16777619u;
    }
    h = (h ^ '{') * 16777619u;
    for (const char *p = labels; *p != '\0'; p++) {
        h = (h ^ (unsigned char)*p) * 16777619u;
    }
    return h;
}

const struct hd_metric_family *hd_metrics_families(size_t *n)
{
    *n = sizeof(families) / sizeof(families[0]);
    return families;
}

int hd_metrics_family(struct hd_buf *out, const char *name, const char *type)
{
    const char *help = "Undocumented (no entry in core/metrics.c).";
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        if (strcmp(families[i].name, name) == 0) {
            help = families[i].help;
            type = families[i].type;
            break;
        }
    }
    return hd_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Called with lock held. Returns NULL on ENOMEM (the sample is dropped). */
static struct metric *series_get(const char *name, const char *labels, enum metric_kind kind)
{
    if (labels == NULL) {
        labels = "";
    }
    uint32_t slot = series_hash(name, labels) % HD_METRICS_SLOTS;
    for (struct metric *m = slots[slot]; m != NULL; m = m->hnext) {
        if (strcmp(m->name, name) == 0 && strcmp(m->labels, labels) == 0) {
            return m;
        }
    }
    struct metric *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->name = strdup(name);
    m->labels = strdup(labels);
    if (m->name == NULL || m->labels == NULL) {
        free(m->name);
        free(m->labels);
        free(m);
        return NULL;
    }
    m->kind = kind;
    m->hnext = slots[slot];
    slots[slot] = m;
    if (order_tail != NULL) {
        order_tail->onext = m;
    } else {
        order_head = m;
    }
    order_tail = m;
    return m;
}

void hd_metrics_add(const char *name, const char *labels, int64_t v)
{
    pthread_mutex_lock(&lock);
    struct metric *m = series_get(name, labels, METRIC_COUNTER);
    if (m != NULL && m->kind == METRIC_COUNTER) {
        m->value += v;
    }
    pthread_mutex_unlock(&lock);
}

void hd_metrics_observe(const char *name, const char *labels, double seconds)
{
    if (!(seconds >= 0)) {
        seconds = 0; /* clock steps and NaN land in the first bucket, not nowhere */
    }
    pthread_mutex_lock(&lock);
    struct metric *m = series_get(name, labels, METRIC_HISTOGRAM);
    if (m != NULL && m->kind == METRIC_HISTOGRAM) {
        for (size_t i = 0; i < HD_METRICS_NBUCKETS; i++) {
            if (seconds <= bucket_bounds[i]) {
                m->buckets[i]++;
                break;
            }
        }
        m->count++;
        m->sum += seconds;
    }
    pthread_mutex_unlock(&lock);
}

int64_t hd_metrics_get(const char *name, const char *labels)
{
    int64_t v = 0;
    if (labels == NULL) {
        labels = "";
    }
    pthread_mutex_lock(&lock);
    uint32_t slot = series_hash(name, labels) % HD_METRICS_SLOTS;
    for (struct metric *m = slots[slot]; m != NULL; m = m->hnext) {
        if (strcmp(m->name, name) == 0 && strcmp(m->labels, labels) == 0) {
            v = m->kind == METRIC_COUNTER ? m->value : (int64_t)m->count;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    return v;
}

/* "{labels}" or "{labels,extra}" or "{extra}" or "". */
static int put_labels(struct hd_buf *out, const char *labels, const char *extra)
{
    int has_l = labels[0] != '\0';
    int has_e = extra != NULL && extra[0] != '\0';
    if (!has_l && !has_e) {
        return HD_OK;
    }
    return hd_buf_printf(out, "{%s%s%s}", has_l ? labels : "", has_l && has_e ? "," : "", has_e ? extra : "");
}

static int render_one(struct hd_buf *out, const struct metric *m)
{
    int rc = HD_OK;
    if (m->kind == METRIC_COUNTER) {
        rc = hd_buf_puts(out, m->name);
        if (rc == HD_OK) {
            rc = put_labels(out, m->labels, NULL);
        }
        if (rc == HD_OK) {
            rc = hd_buf_printf(out, " %lld\n", (long long)m->value);
        }
        return rc;
    }
    uint64_t cum = 0;
    for (size_t i = 0; i <= HD_METRICS_NBUCKETS && rc == HD_OK; i++) {
        char le[40];
        if (i < HD_METRICS_NBUCKETS) {
            cum += m->buckets[i];
            snprintf(le, sizeof(le), "le=\"%g\"", bucket_bounds[i]);
        } else {
            cum = m->count;
            snprintf(le, sizeof(le), "le=\"+Inf\"");
        }
        rc = hd_buf_printf(out, "%s_bucket", m->name);
        if (rc == HD_OK) {
            rc = put_labels(out, m->labels, le);
        }
        if (rc == HD_OK) {
            rc = hd_buf_printf(out, " %llu\n", (unsigned long long)cum);
        }
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(out, "%s_sum", m->name);
    }
    if (rc == HD_OK) {
        rc = put_labels(out, m->labels, NULL);
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(out, " %.6f\n%s_count", m->sum, m->name);
    }
    if (rc == HD_OK) {
        rc = put_labels(out, m->labels, NULL);
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(out, " %llu\n", (unsigned long long)m->count);
    }
    return rc;
}

int hd_metrics_render(struct hd_buf *out)
{
    int rc = HD_OK;
    pthread_mutex_lock(&lock);
    /* Group by name: a name is rendered (TYPE line + all its series) when its
     * first series is met on the order list; later series of that name are
     * skipped because an earlier entry carries the same name. O(n^2) on a
     * list of a few hundred series, once per scrape. */
    for (struct metric *m = order_head; m != NULL && rc == HD_OK; m = m->onext) {
        int seen = 0;
        for (struct metric *p = order_head; p != m; p = p->onext) {
            if (strcmp(p->name, m->name) == 0) {
                seen = 1;
                break;
            }
        }
        if (seen) {
            continue;
        }
        rc = hd_metrics_family(out, m->name, m->kind == METRIC_COUNTER ? "counter" : "histogram");
        for (struct metric *s = m; s != NULL && rc == HD_OK; s = s->onext) {
            if (strcmp(s->name, m->name) == 0) {
                rc = render_one(out, s);
            }
        }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void hd_metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    struct metric *m = order_head;
    while (m != NULL) {
        struct metric *next = m->onext;
        free(m->name);
        free(m->labels);
        free(m);
        m = next;
    }
    memset(slots, 0, sizeof(slots));
    order_head = NULL;
    order_tail = NULL;
    pthread_mutex_unlock(&lock);
}
