/* k8s_watch.c - inputs.kubernetes: list, then watch core/v1 Events (SPEC 5).
 *
 * DESIGN: the Kubernetes list/watch protocol ("Kubernetes API Concepts",
 * efficient detection of changes):
 *   1. LIST /api/v1[/namespaces/NS]/events?limit=500 (&continue= pages): every
 *      item is ingested; the list's metadata.resourceVersion (RV) is where the
 *      watch starts.
 *   2. WATCH ...?watch=true&allowWatchBookmarks=true&resourceVersion=RV
 *      &timeoutSeconds=T: a chunked stream of {"type","object"} values.
 *      ADDED / MODIFIED objects are ingested (a MODIFIED whose count grew has
 *      a new id = uid + count, so it is a new occurrence; one whose count did
 *      not is a duplicate the store drops); DELETED is the Event's TTL expiry
 *      and is not an occurrence; BOOKMARK only moves RV; every object's
 *      metadata.resourceVersion becomes RV once the chunk that carried it is
 *      durable.
 *   3. The server ends a watch after T seconds: watch again from RV (the
 *      token file is re-read for every request, so a rotated service-account
 *      token is picked up within T). A 410 (HTTP status, or an ERROR event
 *      whose Status code is 410, reason Expired or Gone) means RV left the
 *      server's history window: go back to 1. The re-list re-appends what is
 *      already stored; ids make those duplicates, so nothing is delivered
 *      twice. Other errors: back off (exponential, jittered) and watch again.
 * RV is saved in the store's state ("kubernetes.resourceVersion") at most
 * once a second and at stop, after the events it covers are durable; a
 * restart watches from it (and re-lists if it has expired meanwhile).
 * A first start (no saved RV) skips the listed Events older than
 * maxEventAge (by lastTimestamp, else eventTime, else firstTimestamp; one
 * with none is kept): the list holds up to an hour of Events (the API's
 * TTL), and paging old Warnings on a first start helps nobody. The horizon
 * (first start time - maxEventAge) is saved ("kubernetes.skipBefore") and
 * holds for every later list too, so a re-list after a 410 does not bring
 * the skipped ones back; later starts resume from RV as before, and what
 * they list after the horizon is stored as before.
 *
 * The bearer token is read into memory for one request's header and wiped
 * after (the net layer wipes its copy too); it is never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "model/event.h"
#include "store/store.h"
#include "watch/watch.h"

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define K8S_STATE_KEY "kubernetes.resourceVersion"
#define K8S_SKIP_KEY "kubernetes.skipBefore" /* µs since the epoch, decimal */
#define K8S_LIST_LIMIT 500
#define K8S_LIST_TIMEOUT_MS 120000L
#define K8S_MAX_OBJECT (4u << 20)      /* one watch line; Events are a few KB */
#define K8S_MAX_LIST (64u << 20)       /* one list page of 500 */
#define K8S_RV_MAX HD_WATCH_RESUME_MAX /* the resourceVersion is the resume point */
#define K8S_TOKEN_MAX 8192
#define K8S_STORE_SLICE 64 /* objects per durable append */

enum k8s_outcome { K8S_OK, K8S_EXPIRED, K8S_ERROR, K8S_STOP, K8S_MORE /* list: another page */ };

struct k8s {
    char *base; /* "https://host:port" without a trailing slash */
    char *token_file, *ca_file, *ns, *field_selector;
    int watch_timeout_s;
    int64_t max_age_ms;     /* inputs.kubernetes.maxEventAge, 0 = none */
    int64_t skip_before_us; /* first start: listed Events older than this are skipped; 0 = none */

    char rv[K8S_RV_MAX]; /* covers everything durable */

    /* One watch request. */
    struct hd_jframer fr;
    struct hd_watch_queue q;
    char chunk_rv[K8S_RV_MAX]; /* RV of the last line of the chunk */
    int expired;               /* saw ERROR 410 */
    int failed;                /* saw another ERROR, a bad line, or the store failed */
    int got_data;
};

static struct k8s *impl_of(struct hd_watcher *w)
{
    return w->impl;
}

static void wipe(char *s, size_t n)
{
    volatile char *v = s;
    for (size_t i = 0; i < n; i++) {
        v[i] = 0;
    }
}

/* ---- requests ------------------------------------------------------------ */

/* One GET of the API server: its options point into this struct (not to be
 * copied once made). auth holds the bearer token: req_clear wipes it. */
struct k8s_req {
    struct hd_http_stream_opts o;
    struct hd_tls_opts tls;
    struct hd_buf url;
    const char *lines[2];
    char auth[K8S_TOKEN_MAX + 32];
};

/* Reads the token file (first line, trimmed) into r->auth as an
 * Authorization line. */
static int read_token(const struct k8s *k, struct k8s_req *r, struct hd_err *err)
{
    FILE *f = fopen(k->token_file, "re");
    if (f == NULL) {
        return hd_err_set(err, HD_EIO, "inputs.kubernetes.tokenFile: cannot read %s", k->token_file);
    }
    char tok[K8S_TOKEN_MAX];
    size_t n = fread(tok, 1, sizeof(tok) - 1, f);
    fclose(f);
    tok[n] = '\0';
    while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' ' || tok[n - 1] == '\t')) {
        tok[--n] = '\0';
    }
    int rc = HD_OK;
    if (n == 0 || strchr(tok, '\n') != NULL) {
        rc = hd_err_set(err, HD_EINVAL, "inputs.kubernetes.tokenFile: %s is empty or not one line",
                        k->token_file);
    } else {
        snprintf(r->auth, sizeof(r->auth), "Authorization: Bearer %s", tok);
    }
    wipe(tok, sizeof(tok));
    return rc;
}

static int build_url(const struct k8s *k, int watch, const char *cont, struct hd_buf *u)
{
    char num[16];
    int rc = hd_buf_puts(u, k->base);
    if (rc == HD_OK && k->ns != NULL) {
        rc = hd_buf_puts(u, "/api/v1/namespaces/");
        rc = rc == HD_OK ? hd_http_put_escaped(u, k->ns) : rc;
        rc = rc == HD_OK ? hd_buf_puts(u, "/events") : rc;
    } else if (rc == HD_OK) {
        rc = hd_buf_puts(u, "/api/v1/events");
    }
    if (rc == HD_OK && watch) {
        snprintf(num, sizeof(num), "%d", k->watch_timeout_s);
        rc = hd_http_put_query(u, "watch", "true");
        rc = rc == HD_OK ? hd_http_put_query(u, "allowWatchBookmarks", "true") : rc;
        rc = rc == HD_OK ? hd_http_put_query(u, "resourceVersion", k->rv) : rc;
        rc = rc == HD_OK ? hd_http_put_query(u, "timeoutSeconds", num) : rc;
    } else if (rc == HD_OK) {
        snprintf(num, sizeof(num), "%d", K8S_LIST_LIMIT);
        rc = hd_http_put_query(u, "limit", num);
        if (rc == HD_OK && cont != NULL) {
            rc = hd_http_put_query(u, "continue", cont);
        }
    }
    if (rc == HD_OK && k->field_selector != NULL) {
        rc = hd_http_put_query(u, "fieldSelector", k->field_selector);
    }
    return rc;
}

/* Makes r a list (watch 0, cont: the continue token or NULL) or a watch
 * request, the token read again (rotation). Logged on failure; req_clear
 * either way. */
static int req_init(struct hd_watcher *w, struct k8s_req *r, int watch, const char *cont)
{
    struct k8s *k = impl_of(w);
    struct hd_err err = {0};
    memset(r, 0, sizeof(*r));
    hd_buf_init(&r->url, 0);
    r->tls.ca_file = k->ca_file;
    r->lines[0] = "Accept: application/json";
    r->lines[1] = r->auth;
    r->o.headers = r->lines;
    r->o.n_headers = 1;
    r->o.tls = &r->tls;
    if (k->token_file != NULL) {
        if (read_token(k, r, &err) != HD_OK) {
            hd_log_kv(HD_LOG_ERROR, HD_KV({"input", "kubernetes"}), "%s", err.msg);
            return err.code;
        }
        r->o.n_headers = 2;
    }
    int rc = build_url(k, watch, cont, &r->url);
    r->o.url = r->url.p;
    return rc;
}

static void req_clear(struct k8s_req *r)
{
    wipe(r->auth, sizeof(r->auth));
    hd_buf_free(&r->url);
}

/* An answer other than 200, logged with what the server said. */
static void log_answer(const char *what, const struct hd_http_stream_result *res)
{
    char msg[300];
    hd_watch_err_message(&res->body, msg, sizeof(msg));
    hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}), "%s answered %ld: %s%s", what, res->status, msg,
              res->status == 401 || res->status == 403
                  ? " (check the token and the RBAC: get/list/watch events)"
                  : "");
}

static void set_rv(char dst[K8S_RV_MAX], json_object *obj)
{
    json_object *md = NULL;
    if (obj == NULL || !json_object_object_get_ex(obj, "metadata", &md)) {
        return;
    }
    const char *rv = hd_json_get_str(md, "resourceVersion");
    if (rv != NULL && rv[0] != '\0' && strlen(rv) < K8S_RV_MAX) {
        snprintf(dst, K8S_RV_MAX, "%s", rv);
    }
}

/* ---- list ---------------------------------------------------------------- */

/* Where a list stands between pages. */
struct list_state {
    char *cont;          /* owned: the continue token of the next page, NULL = none */
    char rv[K8S_RV_MAX]; /* the first page's resourceVersion */
    size_t total;        /* items listed */
    size_t skipped;      /* of them, older than the first start's horizon */
};

struct list_ctx {
    json_object *items;
    struct hd_watch_item *out;
    size_t n, cap;
};

static int list_item(void *ctx, const char *p, size_t n)
{
    struct list_ctx *l = ctx;
    if (l->n >= l->cap) {
        return HD_EINVAL;
    }
    l->out[l->n] =
        (struct hd_watch_item){.raw = p, .len = n, .root = json_object_array_get_idx(l->items, l->n)};
    l->n++;
    return HD_OK;
}

/* When an Event last happened (µs since the epoch), 0 if it says not. */
static int64_t event_time_us(json_object *ev)
{
    static const char *const keys[] = {"lastTimestamp", "eventTime", "firstTimestamp"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = ev != NULL ? hd_json_get_str(ev, keys[i]) : NULL;
        int64_t us = 0;
        if (v != NULL && v[0] != '\0' && hd_parse_rfc3339_us(v, &us) == HD_OK && us > 0) {
            return us;
        }
    }
    return 0;
}

/* First start: drops from items[0..*n) the Events older than the horizon
 * (order kept), counted as herald_k8s_events_dropped_total{reason="too_old"}. */
static void skip_old(const struct k8s *k, struct hd_watch_item *items, size_t *n)
{
    if (k->skip_before_us <= 0) {
        return;
    }
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        int64_t t = event_time_us(items[i].root);
        if (t > 0 && t < k->skip_before_us) {
            continue;
        }
        items[kept++] = items[i];
    }
    if (kept < *n) {
        hd_metrics_add("herald_k8s_events_dropped_total", "reason=\"too_old\"", (int64_t)(*n - kept));
    }
    *n = kept;
}

/* Stores the items of one EventList page (its original bytes, each item's
 * span) and moves ls to the next page. */
static enum k8s_outcome store_page(struct hd_watcher *w, const struct hd_buf *body, struct list_state *ls)
{
    enum k8s_outcome res = K8S_ERROR;
    struct hd_err err = {0};
    struct hd_watch_item *items = NULL;
    json_object *jitems = NULL, *md = NULL;
    json_object *root = hd_json_parse(body->p, body->len, &err);
    if (root == NULL || !json_object_object_get_ex(root, "items", &jitems) ||
        !json_object_is_type(jitems, json_type_array)) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}), "the event list is not an EventList: %s",
                  root == NULL ? err.msg : "no items[]");
        goto out;
    }
    size_t n = json_object_array_length(jitems);
    const char *ip = NULL;
    size_t in = 0;
    items = calloc(n > 0 ? n : 1, sizeof(*items));
    struct list_ctx lc = {.items = jitems, .out = items, .cap = n};
    if (items == NULL || !hd_json_member_span(body->p, body->len, "items", &ip, &in) ||
        hd_json_array_each(ip, in, list_item, &lc) != HD_OK || lc.n != n) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}), "cannot split the event list");
        goto out;
    }
    hd_metrics_add("herald_k8s_events_seen_total", "", (int64_t)n);
    ls->total += n;
    skip_old(impl_of(w), items, &n);
    ls->skipped += lc.n - n;
    struct hd_watch_counts cnt = {0};
    if (n > 0 && hd_watcher_ingest(w, items, n, &cnt, NULL, &err) != HD_OK) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}), "while storing listed events: %s", err.msg);
        goto out;
    }
    hd_watcher_count_drops(w, &cnt);
    json_object_object_get_ex(root, "metadata", &md);
    if (ls->rv[0] == '\0') {
        const char *rv = md != NULL ? hd_json_get_str(md, "resourceVersion") : NULL;
        if (rv == NULL || rv[0] == '\0' || strlen(rv) >= K8S_RV_MAX) {
            hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}),
                      "the event list has no metadata.resourceVersion");
            goto out;
        }
        snprintf(ls->rv, sizeof(ls->rv), "%s", rv);
    }
    const char *next = md != NULL ? hd_json_get_str(md, "continue") : NULL;
    free(ls->cont);
    ls->cont = next != NULL && next[0] != '\0' ? hd_strdup(next) : NULL;
    res = ls->cont != NULL ? K8S_MORE : K8S_OK;
out:
    free(items);
    json_object_put(root);
    return res;
}

static enum k8s_outcome list_page(struct hd_watcher *w, struct list_state *ls)
{
    enum k8s_outcome res = K8S_ERROR;
    struct k8s_req req;
    struct hd_http_stream_result r = {0};
    if (req_init(w, &req, 0, ls->cont) != HD_OK) {
        goto out;
    }
    req.o.max_body = K8S_MAX_LIST;
    req.o.timeout_ms = K8S_LIST_TIMEOUT_MS;
    int rc = hd_watcher_get(w, &req.o, &r);
    if (hd_watcher_stopping(w)) {
        res = K8S_STOP;
    } else if (rc != HD_OK) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}), "while listing events: %s", r.error);
    } else if (r.status != 200) {
        log_answer("listing events", &r);
        /* 410 here: the continue token expired; list again from the start. */
        res = r.status == 410 ? K8S_EXPIRED : K8S_ERROR;
    } else {
        res = store_page(w, &r.body, ls);
    }
out:
    req_clear(&req);
    hd_http_stream_result_clear(&r);
    return res;
}

/* Lists every page; on success k->rv is the list's resourceVersion. */
static enum k8s_outcome do_list(struct hd_watcher *w)
{
    struct k8s *k = impl_of(w);
    struct list_state ls = {0};
    enum k8s_outcome res = K8S_MORE;
    while (res == K8S_MORE) {
        res = list_page(w, &ls);
    }
    free(ls.cont);
    if (res == K8S_OK) {
        snprintf(k->rv, sizeof(k->rv), "%s", ls.rv);
        hd_log_kv(HD_LOG_INFO, HD_KV({"input", "kubernetes"}),
                  "listed %zu events (%zu older than maxEventAge skipped), watching from resourceVersion %s",
                  ls.total, ls.skipped, k->rv);
        hd_watcher_save_resume(w, k->rv, 1);
    }
    return res;
}

/* ---- one watch line (pure) ------------------------------------------------ */

int hd_k8s_watch_line(const char *p, size_t n, struct hd_k8s_line *out, struct hd_err *err)
{
    memset(out, 0, sizeof(*out));
    json_object *line = hd_json_parse(p, n, err);
    json_object *obj = NULL;
    const char *type = line != NULL ? hd_json_get_str(line, "type") : NULL;
    if (type == NULL || !json_object_object_get_ex(line, "object", &obj) ||
        !json_object_is_type(obj, json_type_object)) {
        if (line != NULL) {
            hd_err_set(err, HD_EINVAL, "no type/object");
        }
        json_object_put(line);
        return HD_EINVAL;
    }
    out->line = line;
    out->type = type;
    out->object = obj;
    if (strcmp(type, "ERROR") == 0) {
        out->kind = HD_K8S_LINE_ERROR;
        hd_json_get_i64(obj, "code", &out->code);
        out->reason = hd_json_get_str(obj, "reason");
        out->message = hd_json_get_str(obj, "message");
        out->expired = out->code == 410 || (out->reason != NULL && (strcmp(out->reason, "Expired") == 0 ||
                                                                    strcmp(out->reason, "Gone") == 0));
        return HD_OK;
    }
    set_rv(out->rv, obj);
    if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
        out->kind = HD_K8S_LINE_EVENT;
        if (!hd_json_member_span(p, n, "object", &out->raw, &out->raw_len)) {
            out->raw = NULL;
            out->raw_len = 0;
        }
    } else if (strcmp(type, "DELETED") == 0) {
        out->kind = HD_K8S_LINE_DELETED;
    } else if (strcmp(type, "BOOKMARK") == 0) {
        out->kind = HD_K8S_LINE_BOOKMARK;
    } else {
        out->kind = HD_K8S_LINE_OTHER;
    }
    return HD_OK;
}

void hd_k8s_line_clear(struct hd_k8s_line *l)
{
    json_object_put(l->line);
    memset(l, 0, sizeof(*l));
}

/* ---- watch --------------------------------------------------------------- */

/* An ERROR watch event: 410 (or reason Expired / Gone) means RV expired. */
static void on_error_event(struct k8s *k, const struct hd_k8s_line *l)
{
    if (l->expired) {
        hd_log_kv(HD_LOG_INFO, HD_KV({"input", "kubernetes"}),
                  "resourceVersion %s expired (%s), listing again", k->rv,
                  l->message != NULL ? l->message : "410");
        k->expired = 1;
    } else {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}), "the watch answered an error %lld %s: %s",
                  (long long)l->code, l->reason != NULL ? l->reason : "",
                  l->message != NULL ? l->message : "");
        k->failed = 1;
    }
}

/* One watch line (framer callback). Objects to store are queued until the
 * end of the received chunk: one durable append per chunk, not per event. */
static int on_line(void *ctx, const char *p, size_t n)
{
    struct hd_watcher *w = ctx;
    struct k8s *k = impl_of(w);
    struct hd_err err = {0};
    struct hd_k8s_line l;
    int rc = HD_OK;
    k->got_data = 1;
    if (hd_k8s_watch_line(p, n, &l, &err) != HD_OK) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}), "a watch line is not a watch event: %s",
                  err.msg);
        k->failed = 1;
        return HD_EINVAL;
    }
    if (l.kind != HD_K8S_LINE_ERROR && l.rv[0] != '\0') {
        memcpy(k->chunk_rv, l.rv, sizeof(k->chunk_rv));
    }
    switch (l.kind) {
    case HD_K8S_LINE_ERROR:
        on_error_event(k, &l);
        rc = HD_EINVAL;
        break;
    case HD_K8S_LINE_EVENT:
        hd_metrics_add("herald_k8s_events_seen_total", "", 1);
        if (l.raw == NULL) {
            k->failed = 1;
            rc = HD_EINVAL;
            break;
        }
        rc = hd_watch_queue_add(&k->q, l.line, l.object, l.raw, l.raw_len);
        l.line = NULL; /* the queue took it, also on failure */
        break;
    case HD_K8S_LINE_DELETED:
        /* An Event is deleted when its TTL expires: not an occurrence. */
        hd_metrics_add("herald_k8s_events_seen_total", "", 1);
        hd_metrics_add("herald_k8s_events_dropped_total", "reason=\"deleted\"", 1);
        break;
    case HD_K8S_LINE_BOOKMARK: break;
    case HD_K8S_LINE_OTHER:
        hd_log_kv(HD_LOG_DEBUG, HD_KV({"input", "kubernetes"}), "ignoring a watch event of type %s", l.type);
        break;
    }
    hd_k8s_line_clear(&l);
    return rc;
}

/* Stores what the chunk queued, then advances RV. */
static int flush_pending(struct hd_watcher *w)
{
    struct k8s *k = impl_of(w);
    int rc = hd_watcher_flush(w, &k->q, K8S_STORE_SLICE);
    if (rc == HD_OK && k->chunk_rv[0] != '\0') {
        memcpy(k->rv, k->chunk_rv, sizeof(k->rv));
        hd_watcher_save_resume(w, k->rv, 0);
    }
    return rc;
}

static int on_watch_body(void *ctx, const char *p, size_t n)
{
    struct hd_watcher *w = ctx;
    struct k8s *k = impl_of(w);
    k->chunk_rv[0] = '\0';
    int rc = hd_jframer_feed(&k->fr, p, n, on_line, w);
    if (rc == HD_ETOOBIG) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}), "a watch event is over %u bytes",
                  K8S_MAX_OBJECT);
        k->failed = 1;
    } else if (rc == HD_EINVAL && !k->expired && !k->failed) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}), "the watch stream is not JSON");
        k->failed = 1;
    }
    /* What came before an ERROR or a bad line is good: keep it. */
    int frc = flush_pending(w);
    if (frc != HD_OK) {
        k->failed = 1;
        return frc;
    }
    return rc;
}

static enum k8s_outcome do_watch(struct hd_watcher *w)
{
    struct k8s *k = impl_of(w);
    enum k8s_outcome res = K8S_ERROR;
    struct k8s_req req;
    struct hd_http_stream_result r = {0};
    hd_jframer_reset(&k->fr);
    k->expired = 0;
    k->failed = 0;
    k->got_data = 0;
    if (req_init(w, &req, 1, NULL) != HD_OK) {
        goto out;
    }
    req.o.on_data = on_watch_body;
    /* The server ends the watch after timeoutSeconds; this bounds a server
     * that never does. */
    req.o.timeout_ms = (long)(k->watch_timeout_s + 60) * 1000L;
    int rc = hd_watcher_get(w, &req.o, &r);
    hd_watch_queue_clear(&k->q);
    if (hd_watcher_stopping(w)) {
        res = K8S_STOP;
    } else if (k->expired) {
        res = K8S_EXPIRED;
    } else if (r.status != 0 && r.status != 200) {
        log_answer("the watch", &r);
        res = r.status == 410 ? K8S_EXPIRED : K8S_ERROR;
    } else if (k->failed) {
        res = K8S_ERROR;
    } else if (rc != HD_OK) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}), "the watch stream broke: %s", r.error);
    } else if (hd_jframer_pending(&k->fr) > 0) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}), "the watch stream ended inside an event");
    } else {
        res = K8S_OK;
    }
out:
    req_clear(&req);
    hd_http_stream_result_clear(&r);
    return res;
}

/* ---- thread -------------------------------------------------------------- */

/* The horizon of the first start: read back on a later start, set (and
 * saved) on the first one. */
static void k8s_horizon(struct hd_watcher *w, int first)
{
    struct k8s *k = impl_of(w);
    struct hd_store *st = w->host.store;
    struct hd_err err = {0};
    char *v = NULL;
    if (!first) {
        int64_t us = 0;
        if (st->ops->state_get(st, K8S_SKIP_KEY, &v, &err) == HD_OK && hd_parse_i64(v, &us) == HD_OK) {
            k->skip_before_us = us;
        }
        free(v);
        return;
    }
    if (k->max_age_ms <= 0) {
        return;
    }
    k->skip_before_us = hd_now_us() - k->max_age_ms * 1000;
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)k->skip_before_us);
    if (st->ops->state_set(st, K8S_SKIP_KEY, buf, &err) != HD_OK) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", "kubernetes"}), "cannot save the first start's horizon: %s",
                  err.msg);
    }
    hd_log_kv(HD_LOG_INFO, HD_KV({"input", "kubernetes"}),
              "first start: skipping listed events older than %lld s (maxEventAge)",
              (long long)(k->max_age_ms / 1000));
}

static void k8s_run(struct hd_watcher *w)
{
    struct k8s *k = impl_of(w);
    int resumed = hd_watcher_load_resume(w, k->rv, sizeof(k->rv));
    if (resumed) {
        hd_log_kv(HD_LOG_INFO, HD_KV({"input", "kubernetes"}), "resuming the watch from resourceVersion %s",
                  k->rv);
    }
    k8s_horizon(w, !resumed);
    int need_list = k->rv[0] == '\0';
    while (!hd_watcher_stopping(w)) {
        enum k8s_outcome o;
        if (need_list) {
            o = do_list(w);
            if (o == K8S_OK) {
                need_list = 0;
                w->backoff_ms = 0;
                continue;
            }
            if (o == K8S_STOP) {
                break;
            }
            if (o == K8S_ERROR && hd_watcher_backoff(w, 0)) {
                break;
            }
            continue;
        }
        o = do_watch(w);
        if (o == K8S_STOP) {
            break;
        }
        if (o == K8S_OK) {
            /* timeoutSeconds reached: watch again at once. */
            hd_metrics_add("herald_k8s_watch_restarts_total", "reason=\"timeout\"", 1);
            w->backoff_ms = 0;
        } else if (o == K8S_EXPIRED) {
            hd_metrics_add("herald_k8s_watch_restarts_total", "reason=\"expired\"", 1);
            need_list = 1;
            w->backoff_ms = 0;
        } else {
            hd_metrics_add("herald_k8s_watch_restarts_total", "reason=\"error\"", 1);
            if (hd_watcher_backoff(w, k->got_data)) {
                break;
            }
        }
    }
    hd_watcher_save_resume(w, k->rv, 1);
}

static void k8s_destroy(struct hd_watcher *w)
{
    struct k8s *k = impl_of(w);
    hd_watch_queue_free(&k->q);
    hd_jframer_free(&k->fr);
    free(k->base);
    free(k->token_file);
    free(k->ca_file);
    free(k->ns);
    free(k->field_selector);
}

/* Where the API server is and how to authenticate: apiServer and its
 * files, else in-cluster (the service's env, the mounted service account). */
static int k8s_locate(struct k8s *k, const struct hd_k8s_watch_config *cfg, struct hd_err *err)
{
    char base[600];
    if (cfg->api_server != NULL && cfg->api_server[0] != '\0') {
        if (strncmp(cfg->api_server, "https://", 8) != 0 && strncmp(cfg->api_server, "http://", 7) != 0) {
            return hd_err_set(err, HD_EINVAL, "inputs.kubernetes.apiServer: '%s' is not an http(s) URL",
                              cfg->api_server);
        }
        snprintf(base, sizeof(base), "%s", cfg->api_server);
        k->token_file = hd_watch_strdup_nonempty(cfg->token_file);
        k->ca_file = hd_watch_strdup_nonempty(cfg->ca_file);
    } else {
        const char *h = getenv("KUBERNETES_SERVICE_HOST");
        const char *p = getenv("KUBERNETES_SERVICE_PORT");
        if (h == NULL || h[0] == '\0' || p == NULL || p[0] == '\0') {
            return hd_err_set(
                err, HD_EINVAL,
                "inputs.kubernetes: not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no apiServer");
        }
        snprintf(base, sizeof(base), strchr(h, ':') != NULL ? "https://[%s]:%s" : "https://%s:%s", h, p);
        k->token_file =
            hd_strdup(cfg->token_file != NULL && cfg->token_file[0] ? cfg->token_file : K8S_SA_DIR "/token");
        k->ca_file = hd_strdup(cfg->ca_file != NULL && cfg->ca_file[0] ? cfg->ca_file : K8S_SA_DIR "/ca.crt");
    }
    k->base = hd_watch_base_url(base);
    if (k->base == NULL) {
        return hd_err_set(err, HD_ENOMEM, "inputs.kubernetes: out of memory");
    }
    return HD_OK;
}

static const struct hd_watcher_type k8s_type = {
    .name = "kubernetes",
    .decoder = "kubernetes",
    .state_key = K8S_STATE_KEY,
    .dropped_metric = "herald_k8s_events_dropped_total",
    .impl_size = sizeof(struct k8s),
    .run = k8s_run,
    .destroy = k8s_destroy,
};

struct hd_watcher *hd_k8s_watch_start(const struct hd_k8s_watch_config *cfg, const struct hd_watch_host *host,
                                      struct hd_err *err)
{
    struct hd_watcher *w = hd_watcher_new(&k8s_type, host, cfg->backoff_initial_ms, cfg->backoff_max_ms, err);
    if (w == NULL) {
        return NULL;
    }
    struct k8s *k = impl_of(w);
    hd_jframer_init(&k->fr, K8S_MAX_OBJECT);
    k->watch_timeout_s = cfg->watch_timeout_s > 0 ? cfg->watch_timeout_s : 300;
    k->max_age_ms = cfg->max_event_age_ms > 0 ? cfg->max_event_age_ms : 0;
    k->ns = hd_watch_strdup_nonempty(cfg->ns);
    k->field_selector = hd_watch_strdup_nonempty(cfg->field_selector);
    if (k8s_locate(k, cfg, err) != HD_OK || hd_watcher_spawn(w, err) != HD_OK) {
        goto fail;
    }
    hd_log_kv(HD_LOG_INFO, HD_KV({"input", "kubernetes"}), "watching events at %s%s%s%s%s", k->base,
              k->ns ? " namespace " : "", k->ns ? k->ns : "", k->field_selector ? " fieldSelector " : "",
              k->field_selector ? k->field_selector : "");
    return w;
fail:
    hd_watcher_stop(w);
    return NULL;
}
