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
 *
 * The bearer token is read into memory for one request's header and wiped
 * after; it is never logged, and curl's verbose mode is never on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "watch/watch.h"
#include "store/store.h"

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define K8S_STATE_KEY "kubernetes.resourceVersion"
#define K8S_LIST_LIMIT 500
#define K8S_MAX_OBJECT (4u << 20) /* one watch line; Events are a few KB */
#define K8S_MAX_LIST (64u << 20)  /* one list page of 500 */
#define K8S_RV_MAX 128

enum k8s_outcome { K8S_OK, K8S_EXPIRED, K8S_ERROR, K8S_STOP, K8S_MORE /* list: another page */ };

struct k8s_pending {
    json_object *line; /* owned: the parsed watch line */
    char *raw;         /* owned copy of the object's bytes */
    size_t len;
    json_object *obj; /* borrowed from line */
};

struct k8s {
    char *base; /* "https://host:port" without a trailing slash */
    char *token_file, *ca_file, *ns, *field_selector;
    int64_t backoff_initial, backoff_max;
    int watch_timeout_s;

    char rv[K8S_RV_MAX];       /* covers everything durable */
    char saved_rv[K8S_RV_MAX]; /* last value written to the store */
    int64_t saved_at_ms;

    /* One watch request. */
    struct hd_jframer fr;
    struct k8s_pending *pend;
    size_t n_pend, cap_pend;
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

/* Reads the token file (first line, trimmed) into a curl header list.
 * *hdrs NULL and HD_OK when no token is configured. */
static int auth_headers(struct hd_watcher *w, struct curl_slist **hdrs, struct hd_err *err)
{
    struct k8s *k = impl_of(w);
    *hdrs = curl_slist_append(NULL, "Accept: application/json");
    if (*hdrs == NULL) {
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    if (k->token_file == NULL) {
        return HD_OK;
    }
    FILE *f = fopen(k->token_file, "re");
    if (f == NULL) {
        return hd_err_set(err, HD_EIO, "inputs.kubernetes.tokenFile: cannot read %s", k->token_file);
    }
    char tok[8192];
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
        char hdr[8300];
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
        struct curl_slist *l = curl_slist_append(*hdrs, hdr);
        wipe(hdr, sizeof(hdr));
        if (l == NULL) {
            rc = hd_err_set(err, HD_ENOMEM, "out of memory");
        } else {
            *hdrs = l;
        }
    }
    wipe(tok, sizeof(tok));
    return rc;
}

/* curl_slist_free_all, wiping the Authorization value first. */
static void free_headers(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p != NULL; p = p->next) {
        wipe(p->data, strlen(p->data));
    }
    curl_slist_free_all(h);
}

static int append_param(struct hd_buf *u, CURL *c, const char *name, const char *value)
{
    char *e = curl_easy_escape(c, value, 0);
    if (e == NULL) {
        return HD_ENOMEM;
    }
    int rc = hd_buf_printf(u, "%c%s=%s", strchr(u->p, '?') != NULL ? '&' : '?', name, e);
    curl_free(e);
    return rc;
}

static int build_url(struct k8s *k, CURL *c, int watch, const char *cont, struct hd_buf *u)
{
    int rc = hd_buf_puts(u, k->base);
    if (rc == HD_OK && k->ns != NULL) {
        char *e = curl_easy_escape(c, k->ns, 0);
        rc = e != NULL ? hd_buf_printf(u, "/api/v1/namespaces/%s/events", e) : HD_ENOMEM;
        curl_free(e);
    } else if (rc == HD_OK) {
        rc = hd_buf_puts(u, "/api/v1/events");
    }
    if (rc == HD_OK && watch) {
        char t[16];
        snprintf(t, sizeof(t), "%d", k->watch_timeout_s);
        rc = append_param(u, c, "watch", "true");
        if (rc == HD_OK) {
            rc = append_param(u, c, "allowWatchBookmarks", "true");
        }
        if (rc == HD_OK) {
            rc = append_param(u, c, "resourceVersion", k->rv);
        }
        if (rc == HD_OK) {
            rc = append_param(u, c, "timeoutSeconds", t);
        }
    } else if (rc == HD_OK) {
        char l[16];
        snprintf(l, sizeof(l), "%d", K8S_LIST_LIMIT);
        rc = append_param(u, c, "limit", l);
        if (rc == HD_OK && cont != NULL) {
            rc = append_param(u, c, "continue", cont);
        }
    }
    if (rc == HD_OK && k->field_selector != NULL) {
        rc = append_param(u, c, "fieldSelector", k->field_selector);
    }
    return rc;
}

/* A request of this watcher; the caller sets the write callback. */
static CURL *new_request(struct hd_watcher *w, struct curl_slist *hdrs)
{
    struct k8s *k = impl_of(w);
    CURL *c = hd_watcher_curl(w);
    if (c == NULL) {
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (k->ca_file != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_file);
    }
    return c;
}

static void save_rv(struct hd_watcher *w, int force)
{
    struct k8s *k = impl_of(w);
    if (k->rv[0] == '\0' || strcmp(k->rv, k->saved_rv) == 0) {
        return;
    }
    int64_t now = hd_mono_ms();
    if (!force && now - k->saved_at_ms < 1000) {
        return;
    }
    struct hd_err err = {0};
    if (w->host.store->ops->state_set(w->host.store, K8S_STATE_KEY, k->rv, &err) != HD_OK) {
        hd_log(HD_LOG_WARN, "input=kubernetes: cannot save the resourceVersion: %s", err.msg);
        return;
    }
    snprintf(k->saved_rv, sizeof(k->saved_rv), "%s", k->rv);
    k->saved_at_ms = now;
}

static void count_ingest(const struct hd_watch_counts *c)
{
    if (c->duplicate > 0) {
        hd_metrics_add("herald_k8s_events_dropped_total", "reason=\"duplicate\"", (int64_t)c->duplicate);
    }
    if (c->invalid > 0) {
        hd_metrics_add("herald_k8s_events_dropped_total", "reason=\"invalid\"", (int64_t)c->invalid);
    }
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

static int buf_body(void *ctx, const char *p, size_t n)
{
    return hd_buf_append(ctx, p, n);
}

/* Lists every page; on success k->rv is the list's resourceVersion. */
static enum k8s_outcome do_list(struct hd_watcher *w)
{
    struct k8s *k = impl_of(w);
    enum k8s_outcome res = K8S_ERROR;
    char *cont = NULL;
    char list_rv[K8S_RV_MAX] = "";
    size_t total = 0;
    struct hd_err err = {0};
    for (;;) {
        struct hd_buf body, url;
        hd_buf_init(&body, K8S_MAX_LIST);
        hd_buf_init(&url, 0);
        struct hd_watch_resp r = {.w = w, .on_body = buf_body, .ctx = &body};
        hd_buf_init(&r.err_body, 0);
        struct curl_slist *hdrs = NULL;
        json_object *root = NULL;
        struct hd_watch_item *items = NULL;
        CURL *c = NULL;
        enum k8s_outcome page = K8S_ERROR;
        if (auth_headers(w, &hdrs, &err) != HD_OK) {
            hd_log(HD_LOG_ERROR, "input=kubernetes: %s", err.msg);
            goto page_out;
        }
        c = new_request(w, hdrs);
        if (c == NULL || build_url(k, c, 0, cont, &url) != HD_OK) {
            goto page_out;
        }
        curl_easy_setopt(c, CURLOPT_URL, url.p);
        r.curl = c;
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hd_watch_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
        CURLcode cc = curl_easy_perform(c);
        if (hd_watcher_stopping(w)) {
            page = K8S_STOP;
            goto page_out;
        }
        if (cc != CURLE_OK) {
            hd_log(HD_LOG_WARN, "input=kubernetes: while listing events: %s", curl_easy_strerror(cc));
            goto page_out;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        if (r.status != 200) {
            char msg[300];
            hd_watch_err_message(&r.err_body, msg, sizeof(msg));
            hd_log(HD_LOG_WARN, "input=kubernetes: listing events answered %ld: %s%s", r.status, msg,
                   r.status == 401 || r.status == 403
                       ? " (check the token and the RBAC: get/list/watch events)"
                       : "");
            /* 410 here: the continue token expired; list again from the start. */
            page = r.status == 410 ? K8S_EXPIRED : K8S_ERROR;
            goto page_out;
        }
        root = hd_json_parse(body.p, body.len, &err);
        json_object *jitems = NULL, *md = NULL;
        if (root == NULL || !json_object_object_get_ex(root, "items", &jitems) ||
            !json_object_is_type(jitems, json_type_array)) {
            hd_log(HD_LOG_WARN, "input=kubernetes: the event list is not an EventList: %s",
                   root == NULL ? err.msg : "no items[]");
            goto page_out;
        }
        size_t n = json_object_array_length(jitems);
        const char *ip = NULL;
        size_t in = 0;
        struct list_ctx lc = {.items = jitems, .cap = n};
        items = calloc(n > 0 ? n : 1, sizeof(*items));
        lc.out = items;
        if (items == NULL || !hd_json_member_span(body.p, body.len, "items", &ip, &in) ||
            hd_json_array_each(ip, in, list_item, &lc) != HD_OK || lc.n != n) {
            hd_log(HD_LOG_WARN, "input=kubernetes: cannot split the event list");
            goto page_out;
        }
        hd_metrics_add("herald_k8s_events_seen_total", "", (int64_t)n);
        struct hd_watch_counts cnt = {0};
        if (hd_watcher_ingest(w, items, n, &cnt, NULL, &err) != HD_OK) {
            hd_log(HD_LOG_WARN, "input=kubernetes: while storing listed events: %s", err.msg);
            goto page_out;
        }
        count_ingest(&cnt);
        total += n;
        json_object_object_get_ex(root, "metadata", &md);
        if (list_rv[0] == '\0') {
            const char *rv = md != NULL ? hd_json_get_str(md, "resourceVersion") : NULL;
            if (rv == NULL || rv[0] == '\0' || strlen(rv) >= K8S_RV_MAX) {
                hd_log(HD_LOG_WARN, "input=kubernetes: the event list has no metadata.resourceVersion");
                goto page_out;
            }
            snprintf(list_rv, sizeof(list_rv), "%s", rv);
        }
        const char *next = md != NULL ? hd_json_get_str(md, "continue") : NULL;
        free(cont);
        cont = next != NULL && next[0] != '\0' ? hd_strdup(next) : NULL;
        page = cont != NULL ? K8S_MORE : K8S_OK;
    page_out:
        free(items);
        json_object_put(root);
        free_headers(hdrs);
        curl_easy_cleanup(c);
        hd_buf_free(&url);
        hd_buf_free(&body);
        hd_buf_free(&r.err_body);
        if (page == K8S_MORE) {
            continue;
        }
        res = page;
        break;
    }
    free(cont);
    if (res == K8S_OK) {
        snprintf(k->rv, sizeof(k->rv), "%s", list_rv);
        hd_log(HD_LOG_INFO, "input=kubernetes: listed %zu events, watching from resourceVersion %s", total,
               k->rv);
        save_rv(w, 1);
    }
    return res;
}

/* ---- watch --------------------------------------------------------------- */

static void pend_clear(struct k8s *k)
{
    for (size_t i = 0; i < k->n_pend; i++) {
        json_object_put(k->pend[i].line);
        free(k->pend[i].raw);
    }
    k->n_pend = 0;
}

/* One watch line (framer callback). Objects to store are queued until the
 * end of the curl chunk: one durable append per chunk, not per event. */
static int on_line(void *ctx, const char *p, size_t n)
{
    struct hd_watcher *w = ctx;
    struct k8s *k = impl_of(w);
    struct hd_err err = {0};
    k->got_data = 1;
    json_object *line = hd_json_parse(p, n, &err);
    json_object *obj = NULL;
    const char *type = line != NULL ? hd_json_get_str(line, "type") : NULL;
    if (type == NULL || !json_object_object_get_ex(line, "object", &obj) ||
        !json_object_is_type(obj, json_type_object)) {
        hd_log(HD_LOG_WARN, "input=kubernetes: a watch line is not a watch event: %s",
               line == NULL ? err.msg : "no type/object");
        json_object_put(line);
        k->failed = 1;
        return HD_EINVAL;
    }
    if (strcmp(type, "ERROR") == 0) {
        int64_t code = 0;
        hd_json_get_i64(obj, "code", &code);
        const char *reason = hd_json_get_str(obj, "reason");
        const char *msg = hd_json_get_str(obj, "message");
        if (code == 410 ||
            (reason != NULL && (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0))) {
            hd_log(HD_LOG_INFO, "input=kubernetes: resourceVersion %s expired (%s), listing again", k->rv,
                   msg != NULL ? msg : "410");
            k->expired = 1;
        } else {
            hd_log(HD_LOG_WARN, "input=kubernetes: the watch answered an error %lld %s: %s", (long long)code,
                   reason != NULL ? reason : "", msg != NULL ? msg : "");
            k->failed = 1;
        }
        json_object_put(line);
        return HD_EINVAL;
    }
    set_rv(k->chunk_rv, obj);
    if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
        hd_metrics_add("herald_k8s_events_seen_total", "", 1);
        const char *op = NULL;
        size_t on = 0;
        if (!hd_json_member_span(p, n, "object", &op, &on)) {
            json_object_put(line);
            k->failed = 1;
            return HD_EINVAL;
        }
        if (k->n_pend == k->cap_pend) {
            size_t cap = k->cap_pend ? k->cap_pend * 2 : 16;
            struct k8s_pending *np = realloc(k->pend, cap * sizeof(*np));
            if (np == NULL) {
                json_object_put(line);
                return HD_ENOMEM;
            }
            k->pend = np;
            k->cap_pend = cap;
        }
        char *raw = hd_strndup(op, on);
        if (raw == NULL) {
            json_object_put(line);
            return HD_ENOMEM;
        }
        k->pend[k->n_pend++] = (struct k8s_pending){.line = line, .raw = raw, .len = on, .obj = obj};
        return HD_OK;
    }
    if (strcmp(type, "DELETED") == 0) {
        /* An Event is deleted when its TTL expires: not an occurrence. */
        hd_metrics_add("herald_k8s_events_seen_total", "", 1);
        hd_metrics_add("herald_k8s_events_dropped_total", "reason=\"deleted\"", 1);
    } else if (strcmp(type, "BOOKMARK") != 0) {
        hd_log(HD_LOG_DEBUG, "input=kubernetes: ignoring a watch event of type %s", type);
    }
    json_object_put(line);
    return HD_OK;
}

/* Stores what the chunk queued, then advances RV. */
static int flush_pending(struct hd_watcher *w)
{
    struct k8s *k = impl_of(w);
    int rc = HD_OK;
    if (k->n_pend > 0) {
        struct hd_watch_item items[64];
        struct hd_err err = {0};
        for (size_t off = 0; off < k->n_pend && rc == HD_OK; off += 64) {
            size_t m = k->n_pend - off < 64 ? k->n_pend - off : 64;
            for (size_t i = 0; i < m; i++) {
                const struct k8s_pending *pp = &k->pend[off + i];
                items[i] = (struct hd_watch_item){.raw = pp->raw, .len = pp->len, .root = pp->obj};
            }
            struct hd_watch_counts cnt = {0};
            rc = hd_watcher_ingest(w, items, m, &cnt, NULL, &err);
            if (rc == HD_OK) {
                count_ingest(&cnt);
            } else {
                hd_log(HD_LOG_WARN, "input=kubernetes: while storing watched events: %s", err.msg);
            }
        }
        pend_clear(k);
    }
    if (rc == HD_OK && k->chunk_rv[0] != '\0') {
        memcpy(k->rv, k->chunk_rv, sizeof(k->rv));
        save_rv(w, 0);
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
        hd_log(HD_LOG_WARN, "input=kubernetes: a watch event is over %u bytes", K8S_MAX_OBJECT);
        k->failed = 1;
    } else if (rc == HD_EINVAL && !k->expired && !k->failed) {
        hd_log(HD_LOG_WARN, "input=kubernetes: the watch stream is not JSON");
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
    struct hd_err err = {0};
    struct hd_buf url;
    hd_buf_init(&url, 0);
    struct hd_watch_resp r = {.w = w, .on_body = on_watch_body, .ctx = w};
    hd_buf_init(&r.err_body, 0);
    struct curl_slist *hdrs = NULL;
    CURL *c = NULL;
    hd_jframer_reset(&k->fr);
    k->expired = 0;
    k->failed = 0;
    k->got_data = 0;
    if (auth_headers(w, &hdrs, &err) != HD_OK) {
        hd_log(HD_LOG_ERROR, "input=kubernetes: %s", err.msg);
        goto out;
    }
    c = new_request(w, hdrs);
    if (c == NULL || build_url(k, c, 1, NULL, &url) != HD_OK) {
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url.p);
    r.curl = c;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hd_watch_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    /* The server ends the watch after timeoutSeconds; this bounds a server
     * that never does. */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(k->watch_timeout_s + 60) * 1000L);
    CURLcode cc = curl_easy_perform(c);
    pend_clear(k);
    if (hd_watcher_stopping(w)) {
        res = K8S_STOP;
        goto out;
    }
    if (k->expired) {
        res = K8S_EXPIRED;
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    if (r.status != 0 && r.status != 200) {
        char msg[300];
        hd_watch_err_message(&r.err_body, msg, sizeof(msg));
        hd_log(HD_LOG_WARN, "input=kubernetes: the watch answered %ld: %s%s", r.status, msg,
               r.status == 401 || r.status == 403 ? " (check the token and the RBAC: get/list/watch events)"
                                                  : "");
        res = r.status == 410 ? K8S_EXPIRED : K8S_ERROR;
        goto out;
    }
    if (k->failed) {
        goto out;
    }
    if (cc != CURLE_OK) {
        hd_log(HD_LOG_WARN, "input=kubernetes: the watch stream broke: %s", curl_easy_strerror(cc));
        goto out;
    }
    if (hd_jframer_pending(&k->fr) > 0) {
        hd_log(HD_LOG_WARN, "input=kubernetes: the watch stream ended inside an event");
        goto out;
    }
    res = K8S_OK;
out:
    free_headers(hdrs);
    curl_easy_cleanup(c);
    hd_buf_free(&url);
    hd_buf_free(&r.err_body);
    return res;
}

/* ---- thread -------------------------------------------------------------- */

static void k8s_run(struct hd_watcher *w)
{
    struct k8s *k = impl_of(w);
    struct hd_err err = {0};
    char *stored = NULL;
    int rc = w->host.store->ops->state_get(w->host.store, K8S_STATE_KEY, &stored, &err);
    if (rc == HD_OK && strlen(stored) < K8S_RV_MAX) {
        snprintf(k->rv, sizeof(k->rv), "%s", stored);
        snprintf(k->saved_rv, sizeof(k->saved_rv), "%s", stored);
        hd_log(HD_LOG_INFO, "input=kubernetes: resuming the watch from resourceVersion %s", k->rv);
    } else if (rc != HD_OK && rc != HD_ENOTFOUND) {
        hd_log(HD_LOG_WARN, "input=kubernetes: cannot read the saved resourceVersion: %s", err.msg);
    }
    free(stored);
    int need_list = k->rv[0] == '\0';
    int64_t backoff = 0;
    while (!hd_watcher_stopping(w)) {
        enum k8s_outcome o;
        if (need_list) {
            o = do_list(w);
            if (o == K8S_OK) {
                need_list = 0;
                backoff = 0;
                continue;
            }
            if (o == K8S_STOP) {
                break;
            }
            if (o == K8S_ERROR &&
                hd_watcher_sleep(w, hd_watch_backoff(&backoff, k->backoff_initial, k->backoff_max))) {
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
            backoff = 0;
        } else if (o == K8S_EXPIRED) {
            hd_metrics_add("herald_k8s_watch_restarts_total", "reason=\"expired\"", 1);
            need_list = 1;
            backoff = 0;
        } else {
            hd_metrics_add("herald_k8s_watch_restarts_total", "reason=\"error\"", 1);
            if (k->got_data) {
                backoff = 0; /* it worked for a while: start the backoff over */
            }
            if (hd_watcher_sleep(w, hd_watch_backoff(&backoff, k->backoff_initial, k->backoff_max))) {
                break;
            }
        }
    }
    save_rv(w, 1);
}

static void k8s_destroy(struct hd_watcher *w)
{
    struct k8s *k = impl_of(w);
    if (k == NULL) {
        return;
    }
    pend_clear(k);
    free(k->pend);
    hd_jframer_free(&k->fr);
    free(k->base);
    free(k->token_file);
    free(k->ca_file);
    free(k->ns);
    free(k->field_selector);
    free(k);
}

static char *dup_nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? hd_strdup(s) : NULL;
}

struct hd_watcher *hd_k8s_watch_start(const struct hd_k8s_watch_config *cfg, const struct hd_watch_host *host,
                                      struct hd_err *err)
{
    struct hd_watcher *w = hd_watcher_new("kubernetes", "kubernetes", host, err);
    if (w == NULL) {
        return NULL;
    }
    struct k8s *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        hd_err_set(err, HD_ENOMEM, "inputs.kubernetes: out of memory");
        goto fail;
    }
    w->impl = k;
    w->run = k8s_run;
    w->destroy = k8s_destroy;
    hd_jframer_init(&k->fr, K8S_MAX_OBJECT);
    k->backoff_initial = cfg->backoff_initial_ms > 0 ? cfg->backoff_initial_ms : 500;
    k->backoff_max = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : 30000;
    k->watch_timeout_s = cfg->watch_timeout_s > 0 ? cfg->watch_timeout_s : 300;
    k->ns = dup_nonempty(cfg->ns);
    k->field_selector = dup_nonempty(cfg->field_selector);
    char base[600];
    if (cfg->api_server != NULL && cfg->api_server[0] != '\0') {
        if (strncmp(cfg->api_server, "https://", 8) != 0 && strncmp(cfg->api_server, "http://", 7) != 0) {
            hd_err_set(err, HD_EINVAL, "inputs.kubernetes.apiServer: '%s' is not an http(s) URL",
                       cfg->api_server);
            goto fail;
        }
        snprintf(base, sizeof(base), "%s", cfg->api_server);
        k->token_file = dup_nonempty(cfg->token_file);
        k->ca_file = dup_nonempty(cfg->ca_file);
    } else {
        /* In-cluster: the service's env and the mounted service account. */
        const char *h = getenv("KUBERNETES_SERVICE_HOST");
        const char *p = getenv("KUBERNETES_SERVICE_PORT");
        if (h == NULL || h[0] == '\0' || p == NULL || p[0] == '\0') {
            hd_err_set(
                err, HD_EINVAL,
                "inputs.kubernetes: not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no apiServer");
            goto fail;
        }
        snprintf(base, sizeof(base), strchr(h, ':') != NULL ? "https://[%s]:%s" : "https://%s:%s", h, p);
        k->token_file =
            hd_strdup(cfg->token_file != NULL && cfg->token_file[0] ? cfg->token_file : K8S_SA_DIR "/token");
        k->ca_file = hd_strdup(cfg->ca_file != NULL && cfg->ca_file[0] ? cfg->ca_file : K8S_SA_DIR "/ca.crt");
    }
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') {
        base[--bl] = '\0';
    }
    k->base = hd_strdup(base);
    if (k->base == NULL) {
        hd_err_set(err, HD_ENOMEM, "inputs.kubernetes: out of memory");
        goto fail;
    }
    if (hd_watcher_spawn(w, err) != HD_OK) {
        goto fail;
    }
    hd_log(HD_LOG_INFO, "input=kubernetes: watching events at %s%s%s%s%s", k->base,
           k->ns ? " namespace " : "", k->ns ? k->ns : "", k->field_selector ? " fieldSelector " : "",
           k->field_selector ? k->field_selector : "");
    return w;
fail:
    hd_watcher_stop(w);
    return NULL;
}
