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
#include <strings.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "watch/watch.h"
#include "store/store.h"

#define DK_STATE_KEY "docker.since"
#define DK_API_MAX "1.47"      /* newest version whose /events we have read; >= Docker 29's minimum 1.44 */
#define DK_API_FALLBACK "1.24" /* what the Docker client assumes of a daemon that does not say */
#define DK_MAX_EVENT (1u << 20)
#define DK_MAX_CHUNK_ITEMS 256

enum dk_outcome { DK_OK, DK_ERROR, DK_RENEGOTIATE, DK_STOP };

struct dk_line {
    json_object *root; /* owned */
    char *raw;         /* owned copy */
    size_t len;
    int64_t time_ns;
};

struct docker {
    char *base;   /* "http://localhost" (unix socket) or "https://host:port" */
    char *socket; /* NULL for TCP */
    char *ca_file, *cert_file, *key_file;
    char *filters; /* JSON text, NULL = none */
    int64_t backoff_initial, backoff_max;

    char version[16]; /* negotiated, "" = not yet */
    int64_t since_ns; /* newest timeNano durable (or the first stream's start) */
    int64_t saved_ns;
    int64_t saved_at_ms;

    struct hd_jframer fr;
    struct dk_line lines[DK_MAX_CHUNK_ITEMS];
    size_t n_lines;
    int failed;
    int got_data;
};

static struct docker *impl_of(struct hd_watcher *w)
{
    return w->impl;
}

static CURL *new_request(struct hd_watcher *w, const char *path_and_query)
{
    struct docker *d = impl_of(w);
    CURL *c = hd_watcher_curl(w);
    if (c == NULL) {
        return NULL;
    }
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", d->base, path_and_query);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (d->socket != NULL) {
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->socket);
    }
    if (d->ca_file != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, d->ca_file);
    }
    if (d->cert_file != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, d->cert_file);
    }
    if (d->key_file != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLKEY, d->key_file);
    }
    return c;
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

struct ping_ctx {
    char api_version[16];
};

static size_t ping_header(char *p, size_t size, size_t nmemb, void *userdata)
{
    struct ping_ctx *pc = userdata;
    size_t n = size * nmemb;
    static const char name[] = "api-version:";
    if (n > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        size_t i = sizeof(name) - 1;
        while (i < n && (p[i] == ' ' || p[i] == '\t')) {
            i++;
        }
        size_t e = i;
        while (e < n && p[e] != '\r' && p[e] != '\n' && e - i < sizeof(pc->api_version) - 1) {
            e++;
        }
        memcpy(pc->api_version, p + i, e - i);
        pc->api_version[e - i] = '\0';
    }
    return n;
}

static int body_to_buf(void *ctx, const char *p, size_t n)
{
    return hd_buf_append(ctx, p, n);
}

/* GET path into body (capped); the status, or -1 on a transport error. */
static long simple_get(struct hd_watcher *w, const char *path, struct hd_buf *body, struct ping_ctx *hdr,
                       char *why, size_t whycap)
{
    CURL *c = new_request(w, path);
    if (c == NULL) {
        snprintf(why, whycap, "out of memory");
        return -1;
    }
    struct hd_watch_resp r = {.w = w, .curl = c, .on_body = body_to_buf, .ctx = body};
    hd_buf_init(&r.err_body, 0);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hd_watch_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    if (hdr != NULL) {
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ping_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, hdr);
    }
    long status = -1;
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
            hd_watch_err_message(&r.err_body, why, whycap);
        }
    } else {
        snprintf(why, whycap, "%s", curl_easy_strerror(cc));
    }
    hd_buf_free(&r.err_body);
    curl_easy_cleanup(c);
    return status;
}

static int negotiate(struct hd_watcher *w)
{
    struct docker *d = impl_of(w);
    struct ping_ctx pc = {{0}};
    struct hd_buf body;
    hd_buf_init(&body, 65536);
    char why[256] = "";
    char server[16] = "";
    long st = simple_get(w, "/_ping", &body, &pc, why, sizeof(why));
    if (st == 200 && version_num(pc.api_version) > 0) {
        snprintf(server, sizeof(server), "%s", pc.api_version);
    } else if (st >= 0) {
        /* Reachable, but the ping said nothing usable: ask /version. */
        hd_buf_reset(&body);
        st = simple_get(w, "/version", &body, NULL, why, sizeof(why));
        json_object *v = st == 200 ? hd_json_parse(body.p, body.len, NULL) : NULL;
        const char *av = v != NULL ? hd_json_get_str(v, "ApiVersion") : NULL;
        snprintf(server, sizeof(server), "%s", av != NULL && version_num(av) > 0 ? av : DK_API_FALLBACK);
        json_object_put(v);
        st = 200;
    }
    hd_buf_free(&body);
    if (st != 200) {
        if (!hd_watcher_stopping(w)) {
            hd_log(HD_LOG_WARN, "input=docker: cannot reach the engine at %s: %s",
                   d->socket ? d->socket : d->base, why);
        }
        return HD_EIO;
    }
    const char *use = version_num(server) < version_num(DK_API_MAX) ? server : DK_API_MAX;
    snprintf(d->version, sizeof(d->version), "%s", use);
    hd_log(HD_LOG_INFO, "input=docker: the engine speaks API %s, using %s", server, d->version);
    return HD_OK;
}

/* ---- the event stream ---------------------------------------------------- */

static void lines_clear(struct docker *d)
{
    for (size_t i = 0; i < d->n_lines; i++) {
        json_object_put(d->lines[i].root);
        free(d->lines[i].raw);
    }
    d->n_lines = 0;
}

static void save_since(struct hd_watcher *w, int force)
{
    struct docker *d = impl_of(w);
    if (d->since_ns <= 0 || d->since_ns == d->saved_ns) {
        return;
    }
    int64_t now = hd_mono_ms();
    if (!force && now - d->saved_at_ms < 1000) {
        return;
    }
    char v[32];
    snprintf(v, sizeof(v), "%lld", (long long)d->since_ns);
    struct hd_err err = {0};
    if (w->host.store->ops->state_set(w->host.store, DK_STATE_KEY, v, &err) != HD_OK) {
        hd_log(HD_LOG_WARN, "input=docker: cannot save the resume point: %s", err.msg);
        return;
    }
    d->saved_ns = d->since_ns;
    d->saved_at_ms = now;
}

static int flush_lines(struct hd_watcher *w)
{
    struct docker *d = impl_of(w);
    if (d->n_lines == 0) {
        return HD_OK;
    }
    struct hd_watch_item items[DK_MAX_CHUNK_ITEMS];
    int64_t newest = d->since_ns;
    for (size_t i = 0; i < d->n_lines; i++) {
        items[i] =
            (struct hd_watch_item){.raw = d->lines[i].raw, .len = d->lines[i].len, .root = d->lines[i].root};
        if (d->lines[i].time_ns > newest) {
            newest = d->lines[i].time_ns;
        }
    }
    struct hd_watch_counts cnt = {0};
    struct hd_err err = {0};
    int rc = hd_watcher_ingest(w, items, d->n_lines, &cnt, NULL, &err);
    lines_clear(d);
    if (rc != HD_OK) {
        hd_log(HD_LOG_WARN, "input=docker: while storing events: %s", err.msg);
        return rc;
    }
    if (cnt.duplicate > 0) {
        hd_metrics_add("herald_docker_events_dropped_total", "reason=\"duplicate\"", (int64_t)cnt.duplicate);
    }
    if (cnt.invalid > 0) {
        hd_metrics_add("herald_docker_events_dropped_total", "reason=\"invalid\"", (int64_t)cnt.invalid);
    }
    d->since_ns = newest;
    save_since(w, 0);
    return HD_OK;
}

static int on_event(void *ctx, const char *p, size_t n)
{
    struct hd_watcher *w = ctx;
    struct docker *d = impl_of(w);
    struct hd_err err = {0};
    d->got_data = 1;
    if (d->n_lines == DK_MAX_CHUNK_ITEMS) {
        int rc = flush_lines(w);
        if (rc != HD_OK) {
            return rc;
        }
    }
    json_object *root = hd_json_parse(p, n, &err);
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        hd_log(HD_LOG_WARN, "input=docker: an event is not a JSON object: %s", root == NULL ? err.msg : "");
        json_object_put(root);
        hd_metrics_add("herald_docker_events_dropped_total", "reason=\"invalid\"", 1);
        return HD_OK; /* one bad line does not cost the stream */
    }
    hd_metrics_add("herald_docker_events_seen_total", "", 1);
    int64_t tn = 0, ts = 0;
    if (!hd_json_get_i64(root, "timeNano", &tn) && hd_json_get_i64(root, "time", &ts)) {
        tn = ts * 1000000000LL;
    }
    char *raw = hd_strndup(p, n);
    if (raw == NULL) {
        json_object_put(root);
        return HD_ENOMEM;
    }
    d->lines[d->n_lines++] = (struct dk_line){.root = root, .raw = raw, .len = n, .time_ns = tn};
    return HD_OK;
}

static int on_stream_body(void *ctx, const char *p, size_t n)
{
    struct hd_watcher *w = ctx;
    struct docker *d = impl_of(w);
    int rc = hd_jframer_feed(&d->fr, p, n, on_event, w);
    if (rc == HD_ETOOBIG) {
        hd_log(HD_LOG_WARN, "input=docker: an event is over %u bytes", DK_MAX_EVENT);
    } else if (rc == HD_EINVAL) {
        hd_log(HD_LOG_WARN, "input=docker: the event stream is not JSON");
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

static enum dk_outcome stream(struct hd_watcher *w)
{
    struct docker *d = impl_of(w);
    enum dk_outcome res = DK_ERROR;
    struct hd_buf q;
    hd_buf_init(&q, 0);
    CURL *c = NULL;
    struct hd_watch_resp r = {.w = w, .on_body = on_stream_body, .ctx = w};
    hd_buf_init(&r.err_body, 0);
    hd_jframer_reset(&d->fr);
    d->failed = 0;
    d->got_data = 0;
    if (d->since_ns <= 0) {
        /* First stream ever: live events only, but a reconnect replays from here. */
        d->since_ns = hd_now_us() * 1000;
    }
    int rc = hd_buf_printf(&q, "/v%s/events?since=%lld.%09lld", d->version,
                           (long long)(d->since_ns / 1000000000LL), (long long)(d->since_ns % 1000000000LL));
    if (rc == HD_OK && d->filters != NULL) {
        char *e = curl_easy_escape(NULL, d->filters, 0);
        rc = e != NULL ? hd_buf_printf(&q, "&filters=%s", e) : HD_ENOMEM;
        curl_free(e);
    }
    if (rc != HD_OK) {
        goto out;
    }
    c = new_request(w, q.p);
    if (c == NULL) {
        goto out;
    }
    r.curl = c;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hd_watch_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    CURLcode cc = curl_easy_perform(c);
    lines_clear(d);
    if (hd_watcher_stopping(w)) {
        res = DK_STOP;
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    if (r.status != 0 && r.status != 200) {
        char msg[300];
        hd_watch_err_message(&r.err_body, msg, sizeof(msg));
        hd_log(HD_LOG_WARN, "input=docker: /events answered %ld: %s", r.status, msg);
        /* "client version 1.47 is too new. Maximum supported API version is 1.41" */
        if (r.status == 400 && strstr(msg, "version") != NULL) {
            res = DK_RENEGOTIATE;
        }
        goto out;
    }
    if (d->failed) {
        goto out;
    }
    if (cc != CURLE_OK) {
        hd_log(HD_LOG_WARN, "input=docker: the event stream broke: %s", curl_easy_strerror(cc));
    } else {
        hd_log(HD_LOG_WARN, "input=docker: the engine ended the event stream");
    }
    if (hd_jframer_pending(&d->fr) > 0) {
        hd_log(HD_LOG_WARN,
               "input=docker: the stream was cut inside an event (%zu bytes dropped; it is replayed)",
               hd_jframer_pending(&d->fr));
    }
out:
    hd_buf_free(&q);
    hd_buf_free(&r.err_body);
    curl_easy_cleanup(c);
    return res;
}

static void docker_run(struct hd_watcher *w)
{
    struct docker *d = impl_of(w);
    struct hd_err err = {0};
    char *stored = NULL;
    int rc = w->host.store->ops->state_get(w->host.store, DK_STATE_KEY, &stored, &err);
    if (rc == HD_OK) {
        int64_t v = 0;
        if (hd_parse_i64(stored, &v) == HD_OK && v > 0) {
            d->since_ns = v;
            d->saved_ns = v;
            hd_log(HD_LOG_INFO, "input=docker: resuming the event stream from timeNano %lld", (long long)v);
        }
    } else if (rc != HD_ENOTFOUND) {
        hd_log(HD_LOG_WARN, "input=docker: cannot read the saved resume point: %s", err.msg);
    }
    free(stored);
    int64_t backoff = 0;
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
        if (d->got_data) {
            backoff = 0; /* it worked for a while: start the backoff over */
        }
        if (hd_watcher_sleep(w, hd_watch_backoff(&backoff, d->backoff_initial, d->backoff_max))) {
            break;
        }
    }
    save_since(w, 1);
}

static void docker_destroy(struct hd_watcher *w)
{
    struct docker *d = impl_of(w);
    if (d == NULL) {
        return;
    }
    lines_clear(d);
    hd_jframer_free(&d->fr);
    free(d->base);
    free(d->socket);
    free(d->ca_file);
    free(d->cert_file);
    free(d->key_file);
    free(d->filters);
    free(d);
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

struct hd_watcher *hd_docker_watch_start(const struct hd_docker_watch_config *cfg,
                                         const struct hd_watch_host *host, struct hd_err *err)
{
    struct hd_watcher *w = hd_watcher_new("docker", "docker", host, err);
    if (w == NULL) {
        return NULL;
    }
    struct docker *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        hd_err_set(err, HD_ENOMEM, "inputs.docker: out of memory");
        goto fail;
    }
    w->impl = d;
    w->run = docker_run;
    w->destroy = docker_destroy;
    hd_jframer_init(&d->fr, DK_MAX_EVENT);
    d->backoff_initial = cfg->backoff_initial_ms > 0 ? cfg->backoff_initial_ms : 500;
    d->backoff_max = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : 30000;
    if (parse_filters(cfg->filters, &d->filters, err) != HD_OK) {
        goto fail;
    }
    const char *url = cfg->url;
    int tls_files = (cfg->ca_file && cfg->ca_file[0]) || (cfg->cert_file && cfg->cert_file[0]);
    char base[512];
    if (url != NULL && url[0] != '\0') {
        const char *hostport = NULL;
        const char *scheme = NULL;
        if (strncmp(url, "tcp://", 6) == 0) {
            hostport = url + 6;
            scheme = tls_files ? "https" : "http";
        } else if (strncmp(url, "https://", 8) == 0) {
            hostport = url + 8;
            scheme = "https";
        } else if (strncmp(url, "http://", 7) == 0) {
            hostport = url + 7;
            scheme = "http";
        } else if (strncmp(url, "unix://", 7) == 0) {
            d->socket = hd_strdup(url + 7);
        } else {
            hd_err_set(err, HD_EINVAL, "inputs.docker.url: '%s' is not tcp://, http(s):// or unix://", url);
            goto fail;
        }
        if (hostport != NULL) {
            snprintf(base, sizeof(base), "%s://%s", scheme, hostport);
        } else {
            snprintf(base, sizeof(base), "http://localhost");
        }
    } else {
        const char *sock =
            cfg->socket != NULL && cfg->socket[0] != '\0' ? cfg->socket : "/var/run/docker.sock";
        d->socket = hd_strdup(sock);
        snprintf(base, sizeof(base), "http://localhost");
    }
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') {
        base[--bl] = '\0';
    }
    d->base = hd_strdup(base);
    d->ca_file = cfg->ca_file && cfg->ca_file[0] ? hd_strdup(cfg->ca_file) : NULL;
    d->cert_file = cfg->cert_file && cfg->cert_file[0] ? hd_strdup(cfg->cert_file) : NULL;
    d->key_file = cfg->key_file && cfg->key_file[0] ? hd_strdup(cfg->key_file) : NULL;
    if (d->base == NULL) {
        hd_err_set(err, HD_ENOMEM, "inputs.docker: out of memory");
        goto fail;
    }
    if (hd_watcher_spawn(w, err) != HD_OK) {
        goto fail;
    }
    hd_log(HD_LOG_INFO, "input=docker: watching engine events at %s%s%s", d->socket ? d->socket : d->base,
           d->filters ? " filters " : "", d->filters ? d->filters : "");
    return w;
fail:
    hd_watcher_stop(w);
    return NULL;
}
