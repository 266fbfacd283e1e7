/* groups.c - notification groups (see groups.h for the semantics). */
#include "route/groups.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "model/source.h"
#include "channel/notify.h"
#include "route/filter.h"
#include "json/json.h"

#define GROUP_ALERTS_MAX 500 /* alerts kept per group; more are counted, not listed */
#define ALERT_TEXT_MAX 512   /* bytes kept of an alert's name and description */
#define GROUPS_MAX 1000      /* groups per channel: group-by values come from payloads */
#define GROUP_OVERFLOW_KEY "{\"herald.overflow\":\"more than 1000 groups\"}"
#define GROUP_DESC_MAX 6000 /* bytes of the notification's alert list */
#define GROUP_LIST_SHOWN 50 /* alerts listed one per line; the rest are counted */

struct galert {
    char *key; /* the event's alertKey (its id without one) */
    int firing;
    int severity;
    char *name, *desc, *ns, *pod, *host, *url;
    const char *source; /* static (model/source.c) */
    int64_t ts_us;
    char id[33];
};

struct dgroup {
    struct dgroup *next;
    char *key; /* the group-by values as JSON text: {"k8s.namespace":"prod"} */
    struct galert *a;
    size_t n, cap;
    int64_t overflow; /* alerts not kept (GROUP_ALERTS_MAX) */
    int64_t first_ms, last_sent_ms, next_ms;
    int dirty;   /* changed since the last notification */
    int changed; /* changed since the last save */
    int deleted; /* ended: deleted at the next save */
};

struct hd_groups {
    struct dgroup *list;
    size_t n; /* groups in list (deleted ones included until saved) */
};

static void alert_clear(struct galert *a)
{
    free(a->key);
    free(a->name);
    free(a->desc);
    free(a->ns);
    free(a->pod);
    free(a->host);
    free(a->url);
    memset(a, 0, sizeof(*a));
}

static void group_free(struct dgroup *g)
{
    for (size_t i = 0; i < g->n; i++) {
        alert_clear(&g->a[i]);
    }
    free(g->a);
    free(g->key);
    free(g);
}

void hd_groups_free(struct hd_groups *gs)
{
    if (gs == NULL) {
        return;
    }
    while (gs->list != NULL) {
        struct dgroup *next = gs->list->next;
        group_free(gs->list);
        gs->list = next;
    }
    free(gs);
}

static char *dup_max(const char *s)
{
    return s != NULL ? hd_strndup(s, strnlen(s, ALERT_TEXT_MAX)) : NULL;
}

static struct dgroup *find(struct hd_groups *gs, const char *key)
{
    for (struct dgroup *g = gs->list; g != NULL; g = g->next) {
        if (strcmp(g->key, key) == 0) {
            return g;
        }
    }
    return NULL;
}

/* ---- the stored form ------------------------------------------------------ */

static const char *jstr(json_object *o, const char *k)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static int64_t jint(json_object *o, const char *k)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static void put_str(json_object *o, const char *k, const char *v)
{
    if (v != NULL) {
        json_object_object_add(o, k, json_object_new_string(v));
    }
}

static char *state_text(const struct dgroup *g)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "first", json_object_new_int64(g->first_ms));
    json_object_object_add(o, "lastSent", json_object_new_int64(g->last_sent_ms));
    json_object_object_add(o, "next", json_object_new_int64(g->next_ms));
    json_object_object_add(o, "dirty", json_object_new_int(g->dirty));
    json_object_object_add(o, "overflow", json_object_new_int64(g->overflow));
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < g->n; i++) {
        const struct galert *a = &g->a[i];
        json_object *x = json_object_new_object();
        put_str(x, "k", a->key);
        json_object_object_add(x, "f", json_object_new_int(a->firing));
        json_object_object_add(x, "s", json_object_new_int(a->severity));
        put_str(x, "n", a->name);
        put_str(x, "d", a->desc);
        put_str(x, "ns", a->ns);
        put_str(x, "pod", a->pod);
        put_str(x, "h", a->host);
        put_str(x, "u", a->url);
        put_str(x, "src", a->source);
        json_object_object_add(x, "ts", json_object_new_int64(a->ts_us));
        put_str(x, "id", a->id);
        json_object_array_add(arr, x);
    }
    json_object_object_add(o, "alerts", arr);
    char *text = hd_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return text;
}

static int alert_from(json_object *x, struct galert *a)
{
    memset(a, 0, sizeof(*a));
    const struct hd_source *src = hd_source_find(jstr(x, "src") != NULL ? jstr(x, "src") : "generic");
    a->key = dup_max(jstr(x, "k"));
    a->firing = (int)jint(x, "f");
    a->severity = (int)jint(x, "s");
    a->name = dup_max(jstr(x, "n"));
    a->desc = dup_max(jstr(x, "d"));
    a->ns = dup_max(jstr(x, "ns"));
    a->pod = dup_max(jstr(x, "pod"));
    a->host = dup_max(jstr(x, "h"));
    a->url = dup_max(jstr(x, "u"));
    a->source = src != NULL ? src->name : "generic";
    a->ts_us = jint(x, "ts");
    snprintf(a->id, sizeof(a->id), "%s", jstr(x, "id") != NULL ? jstr(x, "id") : "");
    return a->key != NULL ? HD_OK : HD_EINVAL;
}

static struct dgroup *group_from(const struct hd_group_rec *r)
{
    json_object *o = hd_json_parse(r->state, strlen(r->state), NULL);
    json_object *arr = NULL;
    struct dgroup *g = calloc(1, sizeof(*g));
    if (o == NULL || g == NULL || !json_object_object_get_ex(o, "alerts", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        json_object_put(o);
        free(g);
        return NULL;
    }
    g->key = hd_strdup(r->key);
    g->first_ms = jint(o, "first");
    g->last_sent_ms = jint(o, "lastSent");
    g->next_ms = jint(o, "next");
    g->dirty = (int)jint(o, "dirty");
    g->overflow = jint(o, "overflow");
    size_t n = json_object_array_length(arr);
    g->a = calloc(n + 1, sizeof(*g->a));
    g->cap = n + 1;
    for (size_t i = 0; g->a != NULL && i < n; i++) {
        if (alert_from(json_object_array_get_idx(arr, i), &g->a[g->n]) == HD_OK) {
            g->n++;
        } else {
            alert_clear(&g->a[g->n]);
        }
    }
    json_object_put(o);
    if (g->key == NULL || g->a == NULL) {
        group_free(g);
        return NULL;
    }
    return g;
}

struct hd_groups *hd_groups_load(struct hd_store *st, int64_t channel_id, struct hd_err *err)
{
    struct hd_groups *gs = calloc(1, sizeof(*gs));
    if (gs == NULL) {
        hd_err_set(err, HD_ENOMEM, "out of memory");
        return NULL;
    }
    if (st == NULL || st->ops->groups_list == NULL) {
        return gs; /* none (st NULL: an empty set) */
    }
    struct hd_group_rec *recs = NULL;
    size_t n = 0;
    if (st->ops->groups_list(st, channel_id, &recs, &n, err) != HD_OK) {
        free(gs);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct dgroup *g = group_from(&recs[i]);
        if (g == NULL) {
            hd_log(HD_LOG_WARN, "channel id=%lld: notification group %.100s cannot be read: dropped",
                   (long long)channel_id, recs[i].key);
            continue;
        }
        g->next = gs->list;
        gs->list = g;
        gs->n++;
    }
    hd_group_recs_free(recs, n);
    return gs;
}

int hd_groups_save(struct hd_groups *gs, struct hd_store *st, int64_t channel_id, int64_t new_cursor,
                   struct hd_err *err)
{
    size_t n = 0;
    for (struct dgroup *g = gs->list; g != NULL; g = g->next) {
        n += g->changed;
    }
    if (n == 0 && new_cursor < 0) {
        return HD_OK;
    }
    if (st->ops->groups_save == NULL) {
        return hd_err_set(err, HD_EINVAL, "the %s store keeps no notification groups", st->ops->name);
    }
    struct hd_group_rec *recs = calloc(n + 1, sizeof(*recs));
    if (recs == NULL) {
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    size_t k = 0;
    int rc = HD_OK;
    for (struct dgroup *g = gs->list; g != NULL && rc == HD_OK; g = g->next) {
        if (!g->changed) {
            continue;
        }
        recs[k].key = g->key; /* borrowed */
        recs[k].state = g->deleted ? NULL : state_text(g);
        rc = !g->deleted && recs[k].state == NULL ? hd_err_set(err, HD_ENOMEM, "out of memory") : HD_OK;
        k++;
    }
    if (rc == HD_OK) {
        rc = st->ops->groups_save(st, channel_id, new_cursor, recs, k, err);
    }
    for (size_t i = 0; i < k; i++) {
        free(recs[i].state);
    }
    free(recs);
    if (rc != HD_OK) {
        return rc;
    }
    for (struct dgroup **pp = &gs->list; *pp != NULL;) {
        struct dgroup *g = *pp;
        g->changed = 0;
        if (g->deleted) {
            *pp = g->next;
            group_free(g);
            gs->n--;
        } else {
            pp = &g->next;
        }
    }
    return HD_OK;
}

/* ---- joining -------------------------------------------------------------- */

/* {"path": value, ...} of the group-by fields ("" when absent). */
static char *group_key(const struct hd_group_opt *opt, const struct hd_event *ev)
{
    json_object *o = json_object_new_object();
    struct hd_event_docs d = {0};
    for (size_t i = 0; i < opt->n_by; i++) {
        char num[24];
        const char *v = hd_event_field(ev, opt->by[i], &d, num, sizeof(num));
        json_object_object_add(o, opt->by[i], json_object_new_string(v != NULL ? v : ""));
    }
    hd_event_docs_free(&d);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char *key = hd_strndup(text, strnlen(text, 1024)); /* copies n bytes: never past the text */
    json_object_put(o);
    return key;
}

static void alert_set(struct galert *a, const struct hd_event *ev)
{
    free(a->name);
    free(a->desc);
    free(a->ns);
    free(a->pod);
    free(a->host);
    free(a->url);
    a->firing = ev->state == HD_STATE_ACTIVE;
    a->severity = ev->severity;
    a->name = dup_max(ev->name);
    a->desc = dup_max(ev->description);
    a->ns = dup_max(ev->k8s_namespace);
    a->pod = dup_max(ev->k8s_pod);
    a->host = dup_max(ev->host);
    a->url = dup_max(ev->url);
    a->source = ev->source;
    a->ts_us = ev->ts_us;
    memcpy(a->id, ev->id, sizeof(a->id));
    a->id[sizeof(a->id) - 1] = '\0';
}

static struct dgroup *group_new(struct hd_groups *gs, char *key, const struct hd_group_opt *opt,
                                int64_t now_ms)
{
    struct dgroup *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return NULL;
    }
    g->key = key;
    g->first_ms = now_ms;
    g->next_ms = now_ms + opt->wait_ms;
    g->next = gs->list;
    gs->list = g;
    gs->n++;
    return g;
}

int hd_groups_add(struct hd_groups *gs, const struct hd_group_opt *opt, const struct hd_event *ev,
                  int64_t now_ms)
{
    char *key = group_key(opt, ev);
    if (key == NULL) {
        return HD_ENOMEM;
    }
    struct dgroup *g = find(gs, key);
    if (g == NULL && gs->n >= GROUPS_MAX) {
        /* a payload cannot grow the groups without bound: the rest share one */
        free(key);
        key = hd_strdup(GROUP_OVERFLOW_KEY);
        if (key == NULL) {
            return HD_ENOMEM;
        }
        g = find(gs, key);
    }
    if (g != NULL && g->deleted) {
        g->deleted = 0; /* ended but not saved yet: it starts over */
        g->last_sent_ms = 0;
        g->first_ms = now_ms;
        g->next_ms = now_ms + opt->wait_ms;
    }
    if (g != NULL) {
        free(key);
    } else if ((g = group_new(gs, key, opt, now_ms)) == NULL) {
        free(key);
        return HD_ENOMEM;
    }
    const char *akey = ev->alert_key != NULL && ev->alert_key[0] != '\0' ? ev->alert_key : ev->id;
    size_t i = 0;
    while (i < g->n && strcmp(g->a[i].key, akey) != 0) {
        i++;
    }
    int was = i < g->n ? g->a[i].firing : -1;
    if (i == g->n) {
        if (g->n == GROUP_ALERTS_MAX) {
            g->overflow++;
            g->changed = 1;
            return HD_OK;
        }
        if (g->n == g->cap) {
            size_t cap = g->cap ? g->cap * 2 : 8;
            struct galert *p = realloc(g->a, cap * sizeof(*p));
            if (p == NULL) {
                return HD_ENOMEM;
            }
            g->a = p;
            g->cap = cap;
        }
        memset(&g->a[i], 0, sizeof(g->a[i]));
        g->a[i].key = dup_max(akey);
        if (g->a[i].key == NULL) {
            return HD_ENOMEM;
        }
        g->n++;
    }
    alert_set(&g->a[i], ev);
    g->changed = 1;
    if (was != g->a[i].firing && (was != -1 || g->a[i].firing)) {
        g->dirty =
            1; /* joined firing, fired again or resolved (a new alert that is already resolved is not news) */
        if (g->last_sent_ms > 0) {
            int64_t at = g->last_sent_ms + opt->interval_ms;
            at = at > now_ms ? at : now_ms;
            g->next_ms = g->next_ms < at ? g->next_ms : at;
        }
    }
    return HD_OK;
}

/* ---- notifying ------------------------------------------------------------ */

static size_t firing_count(const struct dgroup *g)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++) {
        n += g->a[i].firing != 0;
    }
    return n;
}

const char *hd_groups_due(struct hd_groups *gs, const struct hd_group_opt *opt, int notify_on_resolve,
                          int64_t now_ms, int64_t *next_ms)
{
    const char *due = NULL;
    for (struct dgroup *g = gs->list; g != NULL; g = g->next) {
        if (g->deleted) {
            continue;
        }
        if (g->next_ms <= now_ms) {
            size_t firing = firing_count(g);
            if (firing == 0 && (g->last_sent_ms == 0 || !g->dirty || !notify_on_resolve)) {
                hd_groups_sent(gs, opt, g->key, now_ms); /* nothing to say: the group ends quietly */
                continue;
            }
            int repeat = firing > 0 && now_ms >= g->last_sent_ms + opt->repeat_ms;
            if (g->dirty || repeat) {
                if (due == NULL) {
                    due = g->key;
                }
                continue;
            }
            g->next_ms = g->last_sent_ms + opt->repeat_ms;
        }
        if (g->next_ms < *next_ms) {
            *next_ms = g->next_ms;
        }
    }
    return due;
}

static void put_line(struct hd_buf *b, const struct galert *a)
{
    hd_buf_printf(b, "%s [%s] %s", a->firing ? "FIRING" : "RESOLVED", hd_severity_label(a->severity),
                  a->name != NULL ? a->name : a->key);
    if (a->ns != NULL || a->pod != NULL) {
        hd_buf_printf(b, " (%s%s%s)", a->ns != NULL ? a->ns : "", a->pod != NULL ? "/" : "",
                      a->pod != NULL ? a->pod : "");
    }
    if (a->host != NULL) {
        hd_buf_printf(b, " on %s", a->host);
    }
    if (a->desc != NULL && a->desc[0] != '\0') {
        hd_buf_printf(b, ": %.200s", a->desc);
    }
    hd_buf_putc(b, '\n');
}

/* The group's labels as "k=v, k=v" (or the first alert's name for one group). */
static void put_title(struct hd_buf *b, const struct dgroup *g)
{
    json_object *o = hd_json_parse(g->key, strlen(g->key), NULL);
    int any = 0;
    if (o != NULL) {
        json_object_object_foreach(o, k, v)
        {
            hd_buf_printf(b, "%s%s=%s", any ? ", " : "", k, json_object_get_string(v));
            any = 1;
        }
        json_object_put(o);
    }
    if (!any && g->n > 0) {
        hd_buf_puts(b, g->a[0].name != NULL ? g->a[0].name : g->a[0].key);
    }
}

/* The most severe firing alert (any alert when none fires) leads. */
static const struct galert *lead(const struct dgroup *g)
{
    const struct galert *best = NULL;
    for (size_t pass = 0; pass < 2 && best == NULL; pass++) {
        for (size_t i = 0; i < g->n; i++) {
            if ((pass == 0 && !g->a[i].firing) || (best != NULL && best->severity <= g->a[i].severity)) {
                continue;
            }
            best = &g->a[i];
        }
    }
    return best;
}

int hd_groups_event(struct hd_groups *gs, const char *key, int64_t channel_id, int64_t now_ms,
                    struct hd_event *ev)
{
    struct dgroup *g = find(gs, key);
    const struct galert *l = g != NULL ? lead(g) : NULL;
    if (l == NULL) {
        return HD_ENOTFOUND;
    }
    size_t firing = firing_count(g);
    struct hd_buf name, desc, akey;
    hd_buf_init(&name, 0);
    hd_buf_init(&desc, 0);
    hd_buf_init(&akey, 0);
    if (firing > 0) {
        hd_buf_printf(&name, "[FIRING:%zu", firing);
        if (g->n > firing) {
            hd_buf_printf(&name, ", RESOLVED:%zu", g->n - firing);
        }
        hd_buf_puts(&name, "] ");
    } else {
        hd_buf_puts(&name, "[RESOLVED] ");
    }
    put_title(&name, g);
    for (int pass = 1; pass >= 0; pass--) { /* firing first */
        for (size_t i = 0; i < g->n && desc.len < GROUP_DESC_MAX; i++) {
            if (g->a[i].firing == pass && i < GROUP_LIST_SHOWN) {
                put_line(&desc, &g->a[i]);
            }
        }
    }
    if (g->n > GROUP_LIST_SHOWN || g->overflow > 0) {
        hd_buf_printf(
            &desc, "... and %lld more\n",
            (long long)(g->n - (g->n > GROUP_LIST_SHOWN ? GROUP_LIST_SHOWN : g->n) + (size_t)g->overflow));
    }
    hd_buf_printf(&akey, "group:%lld:%s", (long long)channel_id, g->key);
    unsigned char h[HD_SHA256_LEN];
    hd_sha256(akey.p, akey.len, h);
    for (size_t i = 0; i < 16; i++) {
        snprintf(ev->id + 2 * i, 3, "%02x", h[i]);
    }
    ev->source = l->source;
    ev->ts_us = now_ms * 1000;
    ev->recv_us = now_ms * 1000;
    ev->severity = l->severity;
    ev->state = firing > 0 ? HD_STATE_ACTIVE : HD_STATE_RESOLVED;
    ev->name = hd_buf_steal(&name, NULL);
    ev->description = hd_buf_steal(&desc, NULL);
    ev->alert_key = hd_buf_steal(&akey, NULL);
    ev->url = l->url != NULL ? hd_strdup(l->url) : NULL;
    ev->host = l->host != NULL ? hd_strdup(l->host) : NULL;
    ev->k8s_namespace = l->ns != NULL ? hd_strdup(l->ns) : NULL;
    ev->k8s_pod = l->pod != NULL ? hd_strdup(l->pod) : NULL;
    ev->labels = hd_strdup(g->key);
    ev->raw = hd_strdup(g->key);
    ev->raw_len = ev->raw != NULL ? strlen(ev->raw) : 0;
    hd_buf_free(&name);
    hd_buf_free(&desc);
    hd_buf_free(&akey);
    return ev->name != NULL && ev->description != NULL && ev->alert_key != NULL && ev->raw != NULL
               ? HD_OK
               : HD_ENOMEM;
}

void hd_groups_sent(struct hd_groups *gs, const struct hd_group_opt *opt, const char *key, int64_t now_ms)
{
    struct dgroup *g = find(gs, key);
    if (g == NULL) {
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (g->a[i].firing) {
            g->a[k++] = g->a[i];
        } else {
            alert_clear(&g->a[i]);
        }
    }
    g->n = k;
    g->overflow = 0;
    g->dirty = 0;
    g->last_sent_ms = now_ms;
    g->next_ms = now_ms + opt->repeat_ms;
    g->changed = 1;
    g->deleted = g->n == 0;
}

void hd_groups_retry(struct hd_groups *gs, const char *key, int64_t retry_ms)
{
    struct dgroup *g = find(gs, key);
    if (g != NULL) {
        g->next_ms = retry_ms;
    }
}
