/* watch.c - what the Kubernetes and Docker watchers share: the thread and
 * its stop flag, the JSON stream framer, exact-bytes spans of members and
 * array elements, backoff, and the decode -> durable append path.
 *
 * DESIGN: the framer scans each byte once (it remembers where it stopped,
 * inside strings and escapes too), so a value cut across received chunks costs
 * no rescan. The span helpers let a watcher hand the decoder the original
 * bytes of the Event inside a watch line or a list (SPEC section 5: the raw
 * payload is kept byte for byte) while the line is parsed only once.
 */
#include "watch/watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "input/decoder.h"
#include "store/store.h"

/* ---- framer ------------------------------------------------------------- */

void hd_jframer_init(struct hd_jframer *f, size_t max)
{
    memset(f, 0, sizeof(*f));
    f->max = max;
}

void hd_jframer_reset(struct hd_jframer *f)
{
    f->len = 0;
    f->scan = 0;
    f->start = 0;
    f->depth = 0;
    f->in_str = 0;
    f->esc = 0;
}

void hd_jframer_free(struct hd_jframer *f)
{
    free(f->buf);
    memset(f, 0, sizeof(*f));
}

size_t hd_jframer_pending(const struct hd_jframer *f)
{
    return f->depth > 0 ? f->len - f->start : 0;
}

static int jf_append(struct hd_jframer *f, const char *p, size_t n)
{
    if (n == 0) {
        return HD_OK;
    }
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : 4096;
        while (cap < f->len + n) {
            cap *= 2;
        }
        char *nb = realloc(f->buf, cap);
        if (nb == NULL) {
            return HD_ENOMEM;
        }
        f->buf = nb;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, p, n);
    f->len += n;
    return HD_OK;
}

int hd_jframer_feed(struct hd_jframer *f, const char *p, size_t n, hd_jframe_fn fn, void *ctx)
{
    int rc = jf_append(f, p, n);
    if (rc != HD_OK) {
        return rc;
    }
    for (size_t i = f->scan; i < f->len; i++) {
        char c = f->buf[i];
        if (f->depth == 0) {
            /* Between values: whitespace and RFC 7464 record separators. */
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\x1e') {
                continue;
            }
            if (c != '{' && c != '[') {
                rc = HD_EINVAL;
                goto out;
            }
            f->start = i;
            f->depth = 1;
            continue;
        }
        if (f->in_str) {
            if (f->esc) {
                f->esc = 0;
            } else if (c == '\\') {
                f->esc = 1;
            } else if (c == '"') {
                f->in_str = 0;
            }
            continue;
        }
        if (c == '"') {
            f->in_str = 1;
        } else if (c == '{' || c == '[') {
            f->depth++;
        } else if (c == '}' || c == ']') {
            f->depth--;
            if (f->depth == 0) {
                rc = fn(ctx, f->buf + f->start, i + 1 - f->start);
                if (rc != HD_OK) {
                    goto out;
                }
            }
        }
    }
out:
    if (rc != HD_OK) {
        /* The caller drops the connection: nothing of it is worth keeping. */
        hd_jframer_reset(f);
        return rc;
    }
    /* Keep only the unfinished value (or nothing). */
    size_t keep_from = f->depth > 0 ? f->start : f->len;
    size_t keep = f->len - keep_from;
    if (keep > 0 && keep_from > 0) {
        memmove(f->buf, f->buf + keep_from, keep);
    }
    f->len = keep;
    f->scan = keep;
    f->start = 0;
    if (f->max > 0 && f->len > f->max) {
        hd_jframer_reset(f);
        return HD_ETOOBIG;
    }
    return HD_OK;
}

/* ---- spans -------------------------------------------------------------- */

int hd_json_member_span(const char *p, size_t n, const char *key, const char **vp, size_t *vn)
{
    size_t klen = strlen(key);
    size_t i = hd_json_skip_ws(p, n, 0);
    if (i >= n || p[i] != '{') {
        return 0;
    }
    i++;
    for (;;) {
        i = hd_json_skip_ws(p, n, i);
        if (i >= n || p[i] != '"') {
            return 0;
        }
        size_t ks = i + 1;
        size_t ke = 0; /* after the closing quote */
        if (!hd_json_value_span(p, n, i, &ke) || ke >= n) {
            return 0;
        }
        int match = ke - 1 - ks == klen && memcmp(p + ks, key, klen) == 0;
        i = hd_json_skip_ws(p, n, ke);
        if (i >= n || p[i] != ':') {
            return 0;
        }
        i = hd_json_skip_ws(p, n, i + 1);
        size_t ve = 0;
        if (!hd_json_value_span(p, n, i, &ve)) {
            return 0;
        }
        if (match) {
            *vp = p + i;
            *vn = ve - i;
            return 1;
        }
        i = hd_json_skip_ws(p, n, ve);
        if (i >= n || p[i] != ',') {
            return 0;
        }
        i++;
    }
}

int hd_json_array_each(const char *p, size_t n, hd_jframe_fn fn, void *ctx)
{
    size_t i = hd_json_skip_ws(p, n, 0);
    if (i >= n || p[i] != '[') {
        return HD_EINVAL;
    }
    i = hd_json_skip_ws(p, n, i + 1);
    if (i < n && p[i] == ']') {
        return HD_OK;
    }
    for (;;) {
        size_t ve = 0;
        if (!hd_json_value_span(p, n, i, &ve) || ve == i) {
            return HD_EINVAL;
        }
        int rc = fn(ctx, p + i, ve - i);
        if (rc != HD_OK) {
            return rc;
        }
        i = hd_json_skip_ws(p, n, ve);
        if (i < n && p[i] == ']') {
            return HD_OK;
        }
        if (i >= n || p[i] != ',') {
            return HD_EINVAL;
        }
        i = hd_json_skip_ws(p, n, i + 1);
    }
}

/* ---- backoff ------------------------------------------------------------ */

int64_t hd_watch_backoff(int64_t *cur, int64_t initial, int64_t max)
{
    if (*cur <= 0) {
        *cur = initial;
    } else {
        *cur = *cur * 2 > max ? max : *cur * 2;
    }
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        r = (uint32_t)hd_mono_ms();
    }
    /* Jitter in [-25 %, +25 %): replicas and watchers do not reconnect in step. */
    int64_t span = *cur / 2;
    int64_t d = *cur - *cur / 4 + (span > 0 ? (int64_t)(r % (uint64_t)span) : 0);
    return d > 0 ? d : 1;
}

/* ---- the thread --------------------------------------------------------- */

struct hd_watcher *hd_watcher_new(const struct hd_watcher_type *type, const struct hd_watch_host *host,
                                  int64_t backoff_initial_ms, int64_t backoff_max_ms, struct hd_err *err)
{
    const char *name = type->name;
    const struct hd_decoder *dec = hd_decoder_find(type->decoder);
    if (dec == NULL) {
        hd_err_set(err, HD_ENOTFOUND, "inputs.%s: no '%s' decoder is built in", name, type->decoder);
        return NULL;
    }
    if (host == NULL || host->store == NULL || host->store->ops->state_get == NULL ||
        host->store->ops->state_set == NULL) {
        hd_err_set(err, HD_EINVAL, "inputs.%s: the store keeps no watcher state", name);
        return NULL;
    }
    struct hd_watcher *w = calloc(1, sizeof(*w));
    void *impl = calloc(1, type->impl_size);
    if (w == NULL || impl == NULL) {
        free(w);
        free(impl);
        hd_err_set(err, HD_ENOMEM, "inputs.%s: out of memory", name);
        return NULL;
    }
    w->type = type;
    w->name = name;
    w->impl = impl;
    w->backoff_initial_ms = backoff_initial_ms > 0 ? backoff_initial_ms : 500;
    w->backoff_max_ms = backoff_max_ms > 0 ? backoff_max_ms : 30000;
    w->host = *host;
    w->dec = dec;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    atomic_init(&w->stop, 0);
    return w;
}

/* 1 while this process is the one that runs the inputs (always, on a
 * single-node store; on a shared one, the elected replica: SPEC 9). */
static int elected(const struct hd_watcher *w)
{
    return hd_store_owns_inputs(w->host.store);
}

/* The type's run returns when stopped or, on a shared store, when this
 * replica lost the election (hd_watcher_stopping says so); it then waits to
 * be elected again and resumes from the stored resume point, which the
 * replica elected meanwhile kept moving. */
static void *watcher_main(void *arg)
{
    hd_thread_name("hd-watch");
    struct hd_watcher *w = arg;
    int waiting_logged = 0;
    while (!atomic_load(&w->stop)) {
        if (!elected(w)) {
            if (!waiting_logged) {
                hd_log_kv(HD_LOG_INFO, HD_KV({"input", w->name}), "another replica runs it; standing by");
                waiting_logged = 1;
            }
            hd_watcher_sleep(w, 500);
            continue;
        }
        if (waiting_logged) {
            hd_log_kv(HD_LOG_INFO, HD_KV({"input", w->name}),
                      "elected: starting from the stored resume point");
            waiting_logged = 0;
        }
        w->type->run(w);
        if (!atomic_load(&w->stop)) {
            hd_log_kv(HD_LOG_WARN, HD_KV({"input", w->name}), "no longer elected: stopped");
            waiting_logged = 1;
        }
    }
    return NULL;
}

int hd_watcher_spawn(struct hd_watcher *w, struct hd_err *err)
{
    if (pthread_create(&w->thread, NULL, watcher_main, w) != 0) {
        return hd_err_set(err, HD_EIO, "inputs.%s: cannot start the watcher thread", w->name);
    }
    w->started = 1;
    return HD_OK;
}

int hd_watcher_stopping(struct hd_watcher *w)
{
    return atomic_load(&w->stop) || !elected(w);
}

int hd_watcher_sleep(struct hd_watcher *w, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!atomic_load(&w->stop)) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return hd_watcher_stopping(w);
}

int hd_watcher_backoff(struct hd_watcher *w, int got_data)
{
    if (got_data) {
        w->backoff_ms = 0; /* it worked for a while: start the backoff over */
    }
    return hd_watcher_sleep(w, hd_watch_backoff(&w->backoff_ms, w->backoff_initial_ms, w->backoff_max_ms));
}

void hd_watcher_stop(struct hd_watcher *w)
{
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stop, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->started) {
        pthread_join(w->thread, NULL);
    }
    w->type->destroy(w);
    free(w->impl);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* ---- ingest ------------------------------------------------------------- */

int hd_watcher_ingest(struct hd_watcher *w, const struct hd_watch_item *items, size_t n,
                      struct hd_watch_counts *counts, char (*ids)[33], struct hd_err *err)
{
    struct hd_batch b;
    hd_batch_init(&b);
    struct hd_watch_counts c = {0};
    size_t *first = NULL; /* index in b of item i's first event; SIZE_MAX if none */
    struct hd_jtape tape;
    hd_jt_init(&tape);
    int rc = HD_OK;
    if (n == 0) {
        goto out;
    }
    first = malloc(n * sizeof(*first));
    if (first == NULL) {
        rc = hd_err_set(err, HD_ENOMEM, "input=%s: out of memory", w->name);
        goto out;
    }
    int64_t now = hd_now_us();
    for (size_t i = 0; i < n; i++) {
        /* decoders read a tape: the item's own bytes, parsed once more here */
        struct hd_err derr = {0};
        size_t before = b.n;
        first[i] = SIZE_MAX;
        int drc = hd_jt_parse(items[i].raw, items[i].len, &tape, &derr);
        if (drc == HD_OK && !hd_jv_is(hd_jt_root(&tape), HD_JT_OBJECT)) {
            drc = hd_err_set(&derr, HD_EINVAL, "not a JSON object");
        }
        if (drc == HD_OK) {
            struct hd_doc doc = {.raw = items[i].raw,
                                 .len = items[i].len,
                                 .root = hd_jt_root(&tape),
                                 .index = i + 1,
                                 .recv_us = now};
            drc = w->dec->decode(&doc, &b, &derr);
        }
        if (drc == HD_ENOMEM) {
            rc = hd_err_set(err, HD_ENOMEM, "input=%s: out of memory", w->name);
            goto out;
        }
        if (drc != HD_OK) {
            /* A decoder may leave partial events: drop them. */
            while (b.n > before) {
                hd_event_clear(&b.ev[--b.n]);
            }
            c.invalid++;
            hd_log_kv(HD_LOG_WARN, HD_KV({"input", w->name}), "dropped an object the decoder rejects: %s",
                      derr.msg);
            continue;
        }
        if (b.n > before) {
            first[i] = before;
        }
    }
    if (b.n > 0) {
        rc = w->host.store->ops->append(w->host.store, b.ev, b.n, err);
        if (rc != HD_OK) {
            goto out;
        }
        for (size_t i = 0; i < b.n; i++) {
            if (b.ev[i].duplicate) {
                c.duplicate++;
            } else {
                c.stored++;
            }
        }
        if (c.stored > 0 && w->host.stored != NULL) {
            w->host.stored(w->host.ctx);
        }
    }
    if (ids != NULL) {
        for (size_t i = 0; i < n; i++) {
            if (first[i] == SIZE_MAX) {
                ids[i][0] = '\0';
            } else {
                memcpy(ids[i], b.ev[first[i]].id, 33);
            }
        }
    }
out:
    if (rc == HD_OK && counts != NULL) {
        *counts = c;
    }
    free(first);
    hd_jt_free(&tape);
    hd_batch_free(&b);
    return rc;
}

void hd_watcher_count_drops(struct hd_watcher *w, const struct hd_watch_counts *counts)
{
    if (counts->duplicate > 0) {
        hd_metrics_add(w->type->dropped_metric, "reason=\"duplicate\"", (int64_t)counts->duplicate);
    }
    if (counts->invalid > 0) {
        hd_metrics_add(w->type->dropped_metric, "reason=\"invalid\"", (int64_t)counts->invalid);
    }
}

/* ---- the queue of one chunk --------------------------------------------- */

int hd_watch_queue_add(struct hd_watch_queue *q, json_object *owner, json_object *root, const char *raw,
                       size_t len)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        struct hd_watch_item *ni = realloc(q->items, cap * sizeof(*ni));
        if (ni != NULL) {
            q->items = ni;
        }
        json_object **no = ni != NULL ? realloc(q->owners, cap * sizeof(*no)) : NULL;
        if (no == NULL) {
            json_object_put(owner);
            return HD_ENOMEM;
        }
        q->owners = no;
        q->cap = cap;
    }
    char *copy = hd_strndup(raw, len);
    if (copy == NULL) {
        json_object_put(owner);
        return HD_ENOMEM;
    }
    q->items[q->n] = (struct hd_watch_item){.raw = copy, .len = len, .root = root};
    q->owners[q->n] = owner;
    q->n++;
    return HD_OK;
}

void hd_watch_queue_clear(struct hd_watch_queue *q)
{
    for (size_t i = 0; i < q->n; i++) {
        json_object_put(q->owners[i]);
        free((char *)q->items[i].raw);
    }
    q->n = 0;
}

void hd_watch_queue_free(struct hd_watch_queue *q)
{
    hd_watch_queue_clear(q);
    free(q->items);
    free(q->owners);
    memset(q, 0, sizeof(*q));
}

int hd_watcher_flush(struct hd_watcher *w, struct hd_watch_queue *q, size_t slice)
{
    int rc = HD_OK;
    struct hd_err err = {0};
    size_t step = slice > 0 ? slice : q->n;
    for (size_t off = 0; off < q->n && rc == HD_OK; off += step) {
        size_t m = q->n - off < step ? q->n - off : step;
        struct hd_watch_counts cnt = {0};
        rc = hd_watcher_ingest(w, q->items + off, m, &cnt, NULL, &err);
        if (rc == HD_OK) {
            hd_watcher_count_drops(w, &cnt);
        } else {
            hd_log_kv(HD_LOG_WARN, HD_KV({"input", w->name}), "while storing events: %s", err.msg);
        }
    }
    hd_watch_queue_clear(q);
    return rc;
}

/* ---- resume point ------------------------------------------------------- */

int hd_watcher_load_resume(struct hd_watcher *w, char *out, size_t cap)
{
    struct hd_err err = {0};
    char *stored = NULL;
    int found = 0;
    int rc = w->host.store->ops->state_get(w->host.store, w->type->state_key, &stored, &err);
    if (rc == HD_OK && strlen(stored) < cap && strlen(stored) < sizeof(w->saved)) {
        snprintf(out, cap, "%s", stored);
        snprintf(w->saved, sizeof(w->saved), "%s", stored);
        found = 1;
    } else if (rc != HD_OK && rc != HD_ENOTFOUND) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", w->name}), "cannot read the saved resume point: %s", err.msg);
    }
    free(stored);
    return found;
}

void hd_watcher_save_resume(struct hd_watcher *w, const char *value, int force)
{
    if (value[0] == '\0' || strcmp(value, w->saved) == 0 || strlen(value) >= sizeof(w->saved)) {
        return;
    }
    int64_t now = hd_mono_ms();
    if (!force && now - w->saved_at_ms < 1000) {
        return;
    }
    struct hd_err err = {0};
    if (w->host.store->ops->state_set(w->host.store, w->type->state_key, value, &err) != HD_OK) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"input", w->name}), "cannot save the resume point: %s", err.msg);
        return;
    }
    snprintf(w->saved, sizeof(w->saved), "%s", value);
    w->saved_at_ms = now;
}

/* ---- requests ----------------------------------------------------------- */

static int stop_requested(void *ctx)
{
    return hd_watcher_stopping(ctx);
}

int hd_watcher_get(struct hd_watcher *w, struct hd_http_stream_opts *o, struct hd_http_stream_result *res)
{
    o->stop = stop_requested;
    o->ctx = w;
    return hd_http_stream(o, res);
}

char *hd_watch_strdup_nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? hd_strdup(s) : NULL;
}

char *hd_watch_base_url(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/') {
        n--;
    }
    return hd_strndup(s, n);
}

void hd_watch_err_message(const struct hd_buf *body, char *out, size_t cap)
{
    out[0] = '\0';
    if (body->len == 0) {
        return;
    }
    json_object *o = hd_json_parse(body->p, body->len, NULL);
    const char *m = o != NULL ? hd_json_get_str(o, "message") : NULL;
    if (m != NULL) {
        snprintf(out, cap, "%s", m);
    } else {
        size_t n = body->len < cap - 1 ? body->len : cap - 1;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)body->p[i];
            out[i] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
        }
        out[n] = '\0';
    }
    json_object_put(o);
}
