/* docker_watch.c - inputs.docker: the Engine API event stream (SPEC 3, 5).
 *
 * DESIGN: over the unix socket (default /var/run/docker.sock) or TCP (TLS
 * with a CA / client certificate, as `docker -H tcp://... --tlsverify`):
 *   1. version negotiation as the Docker client does it: GET /_ping, whose
 *      API-Version header is the daemon's newest version; we speak
 *      min(that, DK_API_MAX). A daemon that does not say (old, or a proxy)
 *      is asked GET /version (ApiVersion); failing both, DK_API_FALLBACK.
 *   2. GET /v<version>/events?filters=<json>[&since=<s.nnnnnnnnn>]: a stream
 *      of EventMessage objects (newline-delimited JSON; the framer also takes
 *      json-seq and pretty-printed values). Each is fed to the "docker"
 *      decoder and appended durably, one append per received chunk.
 *   3. After a disconnect or a restart the stream is requested again with
 *      since = the newest timeNano stored (or, before any event, the time the
 *      first stream was opened): the daemon replays from there (since is
 *      inclusive), and what is replayed has the same ids (timeNano + actor +
 *      action) so the store keeps it once and nothing is delivered twice.
 *      Podman orders lines loosely by timeNano, hence "newest", not "last".
 *      A 400 naming the API version (daemon upgraded or downgraded under us)
 *      renegotiates.
 * The resume point is saved in the store's state ("docker.since": timeNano)
 * at most once a second and at stop, after the events it covers are durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "watch/watch.h"

#define DK_STATE_KEY "docker.since"
#define DK_API_MAX "1.47"      /* newest version whose /events we have read; >= Docker 29's minimum 1.44 */
#define DK_API_FALLBACK "1.24" /* what the Docker client assumes of a daemon that does not say */
#define DK_MAX_EVENT (1u << 20)
#define DK_MAX_CHUNK_ITEMS 256  /* objects per durable append */
#define DK_MAX_SMALL_BODY 65536 /* /_ping, /version */
#define DK_GET_TIMEOUT_MS 15000L
#define NS_PER_S 1000000000LL

enum dk_outcome { DK_OK, DK_ERROR, DK_RENEGOTIATE, DK_STOP };

struct docker {
    char *base;   /* "http://localhost" (unix socket) or "https://host:port" */
    char *socket; /* NULL for TCP */
    char *ca_file, *cert_file, *key_file;
    char *filters; /* JSON text, NULL = none */

    char version[16]; /* negotiated, "" = not yet */
    int64_t since_ns; /* newest timeNano durable (or the first stream's start) */

    struct hd_jframer fr;
    struct hd_watch_queue q;
    int64_t queued_newest; /* newest timeNano in q */
    int failed;
    int got_data;
};

static struct docker *impl_of(struct hd_watcher *w)
{
    return w->impl;
}

/* A GET of path_and_query at the engine (its socket, or TCP with its TLS
 * files); see hd_watcher_get. */
static int engine_get(struct hd_watcher *w, const char *path_and_query, struct hd_http_stream_opts *o,
                      struct hd_http_stream_result *res)
{
    struct docker *d = impl_of(w);
    struct hd_tls_opts tls = {.ca_file = d->ca_file, .cert_file = d->cert_file, .key_file = d->key_file};
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", d->base, path_and_query);
    o->url = url;
    o->unix_socket = d->socket;
    o->tls = &tls;
    return hd_watcher_get(w, o, res);
}

/* "1.41" -> 1041; -1 if not a version. */
static int version_num(const char *v)
{
    int64_t maj = 0, min = 0;
    char a[8], b[8];
    const char *dot = strchr(v, '.');
    if (dot == NULL || dot - v == 0 || dot - v >= (long)sizeof(a) || strlen(dot + 1) == 0 ||
        strlen(dot + 1) >= sizeof(b)) {
        return -1;
    }
    memcpy(a, v, (size_t)(dot - v));
    a[dot - v] = '\0';
    snprintf(b, sizeof(b), "%s", dot + 1);
    if (hd_parse_i64(a, &maj) != HD_OK || hd_parse_i64(b, &min) != HD_OK || maj < 0 || min < 0 || min > 999 ||
        maj > 99) {
        return -1;
    }
    return (int)(maj * 1000 + min);
}

/* ---- negotiation --------------------------------------------------------- */

/* The answer to a small GET (simple_get). */
struct engine_answer {
    char api_version[16];             /* its API-Version header, "" if none */
    char why[256];                    /* what went wrong, "" if nothing */
    struct hd_http_stream_result res; /* res.body: a 200 body; the caller clears res */
};

/* GET path (a body of at most 64 KiB): the status, or -1 on a transport error. */
static long simple_get(struct hd_watcher *w, const char *path, struct engine_answer *a)
{
    struct hd_http_stream_opts o = {.max_body = DK_MAX_SMALL_BODY,
                                    .timeout_ms = DK_GET_TIMEOUT_MS,
                                    .header_name = "API-Version",
                                    .header_value = a->api_version,
                                    .header_cap = sizeof(a->api_version)};
    a->why[0] = '\0';
    if (engine_get(w, path, &o, &a->res) != HD_OK) {
        snprintf(a->why, sizeof(a->why), "%s", a->res.error);
        return -1;
    }
    if (a->res.status != 200) {
        hd_watch_err_message(&a->res.body, a->why, sizeof(a->why));
    }
    return a->res.status;
}

static int negotiate(struct hd_watcher *w)
{
    struct docker *d = impl_of(w);
    struct engine_answer a;
    char server[16] = "";
    long st = simple_get(w, "/_ping", &a);
    if (st == 200 && version_num(a.api_version) > 0) {
        snprintf(server, sizeof(server), "%s", a.api_version);
    } else if (st >= 0) {
        /* Reachable, but the ping said nothing usable: ask /version. */
        hd_http_stream_result_clear(&a.res);
        st = simple_get(w, "/version", &a);
        json_object *v = st == 200 ? hd_json_parse(a.res.body.p, a.res.body.len, NULL) : NULL;
        const char *av = v != NULL ? hd_json_get_str(v, "ApiVersion") : NULL;
        snprintf(server, sizeof(server), "%s", av != NULL && version_num(av) > 0 ? av : DK_API_FALLBACK);
        json_object_put(v);
        st = 200;
    }
    hd_http_stream_result_clear(&a.res);
    if (st != 200) {
        if (!hd_watcher_stopping(w)) {
            hd_log_kv(HD_LOG_WARN, HD_KV({"input", "docker"}), "cannot reach the engine at %s: %s",
                      d->socket ? d->socket : d->base, a.why);
        }
        return HD_EIO;
    }
    const char *use = version_num(server) < version_num(DK_API_MAX) ? server : DK_API_MAX;
    snprintf(d->version, sizeof(d->version), "%s", use);
    hd_log_kv(HD_LOG_INFO, HD_KV({"input", "docker"}), "the engine speaks API %s, using %s", server,
              d->version);
    return HD_OK;
}

/* ---- the event stream ---------------------------------------------------- */

static void save_since(struct hd_watcher *w, int force)
{
    struct docker *d = impl_of(w);
    char v[32] = "";
    if (d->since_ns > 0) {
        snprintf(v, sizeof(v), "%lld", (long long)d->since_ns);
    }
    hd_watcher_save_resume(w, v, force);
}

/* Stores the queued events, then moves the resume point to the newest. */
static int flush_lines(struct hd_watcher *w)
{
    struct docker *d = impl_of(w);
    if (d->q.n == 0) {
        return HD_OK;
    }
    int64_t newest = d->queued_newest;
    d->queued_newest = 0;
    int rc = hd_watcher_flush(w, &d->q, 0);
    if (rc != HD_OK) {
        return rc;
    }
    if (newest > d->since_ns) {
        d->since_ns = newest;
    }
    save_since(w, 0);
    return HD_OK;
}

int hd_docker_watch_line(const char *p, size_t n, json_object **root, int64_t *time_ns, struct hd_err *err)
{
    json_object *o = hd_json_parse(p, n, err);
    if (o == NULL) {
        return HD_EINVAL;
    }
    if (!json_object_is_type(o, json_type_object)) {
        hd_err_set(err, HD_EINVAL, "got a JSON %s", json_type_to_name(json_object_get_type(o)));
        json_object_put(o);
        return HD_EINVAL;
    }
    int64_t tn = 0, ts = 0;
    if (!hd_json_get_i64(o, "timeNano", &tn) && hd_json_get_i64(o, "time", &ts)) {
        /* Seconds beyond 2262 (or before 1678) have no int64 nanoseconds: no time. */
        tn = ts > INT64_MAX / NS_PER_S || ts < INT64_MIN / NS_PER_S ? 0 : ts * NS_PER_S;
    }
    *root = o;
    *time_ns = tn;
    return HD_OK;
}

static int on_event(void *ctx, const char *p, size_t n)
{
    struct hd_watcher *w = ctx;
    struct docker *d = impl_of(w);
    struct hd_err err = {0};
    d->got_data = 1;
    if (d->q.n == DK_MAX_CHUNK_ITEMS) {
        int rc = flush_lines(w);
        if (rc != HD_OK) {
            return rc;
        }
    }
    json_object *root = NULL;
    int64_t tn = 0;
    if (hd_docker_watch_line(p, n, &root, &tn, &err) != HD_OK) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "docker"}), "an event is not a JSON object: %s", err.msg);
        hd_metrics_add(w->type->dropped_metric, "reason=\"invalid\"", 1);
        return HD_OK; /* one bad line does not cost the stream */
    }
    hd_metrics_add("herald_docker_events_seen_total", "", 1);
    if (tn > d->queued_newest) {
        d->queued_newest = tn;
    }
    return hd_watch_queue_add(&d->q, root, root, p, n);
}

static int on_stream_body(void *ctx, const char *p, size_t n)
{
    struct hd_watcher *w = ctx;
    struct docker *d = impl_of(w);
    int rc = hd_jframer_feed(&d->fr, p, n, on_event, w);
    if (rc == HD_ETOOBIG) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "docker"}), "an event is over %u bytes", DK_MAX_EVENT);
    } else if (rc == HD_EINVAL) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "docker"}), "the event stream is not JSON");
    }
    /* Store what was complete before a bad byte, too. */
    int frc = flush_lines(w);
    if (rc == HD_OK) {
        rc = frc;
    }
    if (rc != HD_OK) {
        d->failed = 1;
    }
    return rc;
}

/* "/v<version>/events?since=<s.nnnnnnnnn>[&filters=<json>]" */
static int events_path(const struct docker *d, struct hd_buf *q)
{
    int rc = hd_buf_printf(q, "/v%s/events?since=%lld.%09lld", d->version,
                           (long long)(d->since_ns / 1000000000LL), (long long)(d->since_ns % 1000000000LL));
    if (rc == HD_OK && d->filters != NULL) {
        rc = hd_http_put_query(q, "filters", d->filters);
    }
    return rc;
}

static enum dk_outcome stream(struct hd_watcher *w)
{
    struct docker *d = impl_of(w);
    enum dk_outcome res = DK_ERROR;
    struct hd_buf q;
    hd_buf_init(&q, 0);
    struct hd_http_stream_result r = {0};
    struct hd_http_stream_opts o = {.on_data = on_stream_body};
    hd_jframer_reset(&d->fr);
    d->failed = 0;
    d->got_data = 0;
    if (d->since_ns <= 0) {
        /* First stream ever: live events only, but a reconnect replays from here. */
        d->since_ns = hd_now_us() * 1000;
    }
    if (events_path(d, &q) != HD_OK) {
        goto out;
    }
    int rc = engine_get(w, q.p, &o, &r);
    hd_watch_queue_clear(&d->q);
    d->queued_newest = 0;
    if (hd_watcher_stopping(w)) {
        res = DK_STOP;
        goto out;
    }
    if (r.status != 0 && r.status != 200) {
        char msg[300];
        hd_watch_err_message(&r.body, msg, sizeof(msg));
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "docker"}), "/events answered %ld: %s", r.status, msg);
        /* "client version 1.47 is too new. Maximum supported API version is 1.41" */
        if (r.status == 400 && strstr(msg, "version") != NULL) {
            res = DK_RENEGOTIATE;
        }
        goto out;
    }
    if (d->failed) {
        goto out;
    }
    if (rc != HD_OK) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "docker"}), "the event stream broke: %s", r.error);
    } else {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "docker"}), "the engine ended the event stream");
    }
    if (hd_jframer_pending(&d->fr) > 0) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "docker"}),
                  "the stream was cut inside an event (%zu bytes dropped; it is replayed)",
                  hd_jframer_pending(&d->fr));
    }
out:
    hd_buf_free(&q);
    hd_http_stream_result_clear(&r);
    return res;
}

static void docker_run(struct hd_watcher *w)
{
    struct docker *d = impl_of(w);
    char stored[32];
    int64_t v = 0;
    if (hd_watcher_load_resume(w, stored, sizeof(stored)) && hd_parse_i64(stored, &v) == HD_OK && v > 0) {
        d->since_ns = v;
        hd_log_kv(HD_LOG_INFO, HD_KV({"input", "docker"}), "resuming the event stream from timeNano %lld",
                  (long long)v);
    }
    int first = 1;
    while (!hd_watcher_stopping(w)) {
        enum dk_outcome o = DK_ERROR;
        if (d->version[0] != '\0' || negotiate(w) == HD_OK) {
            if (!first) {
                hd_metrics_add("herald_docker_reconnects_total", "", 1);
            }
            first = 0;
            o = stream(w);
        }
        if (o == DK_STOP || hd_watcher_stopping(w)) {
            break;
        }
        if (o == DK_RENEGOTIATE) {
            d->version[0] = '\0';
        }
        if (hd_watcher_backoff(w, d->got_data)) {
            break;
        }
    }
    save_since(w, 1);
}

static void docker_destroy(struct hd_watcher *w)
{
    struct docker *d = impl_of(w);
    hd_watch_queue_free(&d->q);
    hd_jframer_free(&d->fr);
    free(d->base);
    free(d->socket);
    free(d->ca_file);
    free(d->cert_file);
    free(d->key_file);
    free(d->filters);
}

/* "type=container,event=die,type=image" -> {"type":["container","image"],"event":["die"]}. */
static int parse_filters(const char *spec, char **out, struct hd_err *err)
{
    *out = NULL;
    if (spec == NULL || spec[0] == '\0') {
        return HD_OK;
    }
    json_object *m = json_object_new_object();
    int rc = HD_OK;
    const char *p = spec;
    while (rc == HD_OK && *p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char item[256];
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        if (len == 0 || len >= sizeof(item)) {
            rc = hd_err_set(err, HD_EINVAL, "inputs.docker.filters: an empty or too long filter in '%s'",
                            spec);
            break;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        if (eq == NULL || eq == item || eq[1] == '\0') {
            rc = hd_err_set(err, HD_EINVAL, "inputs.docker.filters: '%s' is not key=value", item);
            break;
        }
        *eq = '\0';
        json_object *arr = NULL;
        if (!json_object_object_get_ex(m, item, &arr)) {
            arr = json_object_new_array();
            json_object_object_add(m, item, arr);
        }
        json_object_array_add(arr, json_object_new_string(eq + 1));
        p = end != NULL ? end + 1 : p + len;
    }
    if (rc == HD_OK) {
        struct hd_buf b;
        hd_buf_init(&b, 0);
        rc = hd_json_append(m, &b);
        if (rc == HD_OK) {
            *out = hd_buf_steal(&b, NULL);
        }
        hd_buf_free(&b);
    }
    json_object_put(m);
    return rc;
}

/* Where the engine is: url (tcp://, http(s)://, unix://), else the socket. */
static int docker_locate(struct docker *d, const struct hd_docker_watch_config *cfg, struct hd_err *err)
{
    const char *url = cfg->url;
    int tls_files = (cfg->ca_file && cfg->ca_file[0]) || (cfg->cert_file && cfg->cert_file[0]);
    char base[512];
    snprintf(base, sizeof(base), "http://localhost");
    if (url != NULL && url[0] != '\0') {
        if (strncmp(url, "tcp://", 6) == 0) {
            snprintf(base, sizeof(base), "%s://%s", tls_files ? "https" : "http", url + 6);
        } else if (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) {
            snprintf(base, sizeof(base), "%s", url);
        } else if (strncmp(url, "unix://", 7) == 0) {
            d->socket = hd_strdup(url + 7);
        } else {
            return hd_err_set(err, HD_EINVAL, "inputs.docker.url: '%s' is not tcp://, http(s):// or unix://",
                              url);
        }
    } else {
        d->socket =
            hd_strdup(cfg->socket != NULL && cfg->socket[0] != '\0' ? cfg->socket : "/var/run/docker.sock");
    }
    d->base = hd_watch_base_url(base);
    d->ca_file = hd_watch_strdup_nonempty(cfg->ca_file);
    d->cert_file = hd_watch_strdup_nonempty(cfg->cert_file);
    d->key_file = hd_watch_strdup_nonempty(cfg->key_file);
    if (d->base == NULL) {
        return hd_err_set(err, HD_ENOMEM, "inputs.docker: out of memory");
    }
    return HD_OK;
}

static const struct hd_watcher_type docker_type = {
    .name = "docker",
    .decoder = "docker",
    .state_key = DK_STATE_KEY,
    .dropped_metric = "herald_docker_events_dropped_total",
    .impl_size = sizeof(struct docker),
    .run = docker_run,
    .destroy = docker_destroy,
};

struct hd_watcher *hd_docker_watch_start(const struct hd_docker_watch_config *cfg,
                                         const struct hd_watch_host *host, struct hd_err *err)
{
    struct hd_watcher *w =
        hd_watcher_new(&docker_type, host, cfg->backoff_initial_ms, cfg->backoff_max_ms, err);
    if (w == NULL) {
        return NULL;
    }
    struct docker *d = impl_of(w);
    hd_jframer_init(&d->fr, DK_MAX_EVENT);
    if (parse_filters(cfg->filters, &d->filters, err) != HD_OK || docker_locate(d, cfg, err) != HD_OK ||
        hd_watcher_spawn(w, err) != HD_OK) {
        goto fail;
    }
    hd_log_kv(HD_LOG_INFO, HD_KV({"input", "docker"}), "watching engine events at %s%s%s",
              d->socket ? d->socket : d->base, d->filters ? " filters " : "", d->filters ? d->filters : "");
    return w;
fail:
    hd_watcher_stop(w);
    return NULL;
}
