/* kubernetes.c - Kubernetes Event objects (SPEC section 5): core/v1 Event,
 * events.k8s.io/v1 (and v1beta1) Event, and a watch line wrapping either
 * ({"type":"ADDED"|"MODIFIED"|"DELETED","object":{...Event}}).
 *
 * DESIGN: the two API versions name the same things differently
 * (involvedObject/regarding, message/note, source.host/deprecatedSource.host,
 * count/series.count/deprecatedCount, lastTimestamp/deprecatedLastTimestamp):
 * each normalized field reads the first member present, in a table.
 * An Event object is updated in place when the same thing happens again
 * (count grows, series.lastObservedTime moves), so its id is uid + count:
 * re-reading the same Event is the same event, a new occurrence is a new one.
 * The alertKey names what happened to which object (reason + involved
 * object), the same for every occurrence. Watch lines of other kinds
 * (BOOKMARK, ERROR, Pods) are not Events: detect() leaves them to others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "input/decoder.h"

static int is_event_object(hd_jv o)
{
    const char *kind = hd_jv_get_str(o, "kind");
    const char *api = hd_jv_get_str(o, "apiVersion");
    if (kind == NULL || strcmp(kind, "Event") != 0) {
        return 0;
    }
    if (api != NULL && strcmp(api, "v1") != 0 && strncmp(api, "events.k8s.io/", 14) != 0) {
        return 0;
    }
    return hd_jv_has(o, "involvedObject") || hd_jv_has(o, "regarding") || hd_jv_has(o, "reason");
}

static int is_watch_type(const char *t)
{
    return t != NULL && (strcmp(t, "ADDED") == 0 || strcmp(t, "MODIFIED") == 0 || strcmp(t, "DELETED") == 0);
}

static int k8s_detect(hd_jv root)
{
    if (is_event_object(root)) {
        return 80;
    }
    if (is_watch_type(hd_jv_get_str(root, "type")) && is_event_object(hd_jv_get(root, "object"))) {
        return 80;
    }
    return 0;
}

/* "spec.containers{podinfo}" -> "podinfo" into *dst. */
static int container_of_field_path(char **dst, const char *fp)
{
    static const char *const pre[] = {"spec.containers{", "spec.initContainers{",
                                      "spec.ephemeralContainers{"};
    if (*dst != NULL || fp == NULL) {
        return HD_OK;
    }
    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++) {
        size_t l = strlen(pre[i]);
        const char *close = strchr(fp, '}');
        if (strncmp(fp, pre[i], l) == 0 && close != NULL && close > fp + l) {
            *dst = hd_strndup(fp + l, (size_t)(close - fp - l));
            return *dst == NULL ? HD_ENOMEM : HD_OK;
        }
    }
    return HD_OK;
}

/* The members the decoder reads, type-checked (what = JSON path for errors). */
struct k8s_ev {
    hd_jv obj, meta, involved, source, series;
    const char *prefix; /* "object." for a watch line, "" else */
    const char *watch;  /* the watch type, or NULL */
    const char *reason, *message, *type, *uid, *host;
    int64_t count;
    int have_count;
};

/* First present of several (object, key, path) alternatives. */
struct k8s_alt {
    hd_jv o;
    const char *key, *path;
};

static int k8s_member(struct k8s_ev *k, const struct k8s_alt *at, int kind, void *out, struct hd_err *err)
{
    char what[128];
    snprintf(what, sizeof(what), "%s%s", k->prefix, at->path);
    switch (kind) {
    case 's': return hd_dec_str(at->o, at->key, what, (const char **)out, err);
    case 'o': return hd_dec_obj(at->o, at->key, what, (hd_jv *)out, err);
    default: return hd_dec_i64(at->o, at->key, what, (int64_t *)out, err);
    }
}

static int k8s_first(struct k8s_ev *k, const struct k8s_alt *alts, size_t n, int kind, void *out,
                     struct hd_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (alts[i].o == NULL) {
            continue;
        }
        int rc = k8s_member(k, &alts[i], kind, out, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int k8s_read(struct k8s_ev *k, struct hd_err *err)
{
    hd_jv o = k->obj;
    hd_jv dsrc = NULL;
    int rc = 0;
    const struct k8s_alt a_involved[] = {{o, "involvedObject", "involvedObject"},
                                         {o, "regarding", "regarding"}};
    rc = k8s_first(k, a_involved, 2, 'o', &k->involved, err);
    if (rc >= 0) {
        rc = k8s_member(k, &(struct k8s_alt){o, "metadata", "metadata"}, 'o', &k->meta, err);
    }
    if (rc >= 0) {
        rc = k8s_member(k, &(struct k8s_alt){o, "source", "source"}, 'o', &k->source, err);
    }
    if (rc >= 0) {
        rc = k8s_member(k, &(struct k8s_alt){o, "deprecatedSource", "deprecatedSource"}, 'o', &dsrc, err);
    }
    if (rc >= 0) {
        rc = k8s_member(k, &(struct k8s_alt){o, "series", "series"}, 'o', &k->series, err);
    }
    if (rc >= 0) {
        rc = k8s_member(k, &(struct k8s_alt){o, "reason", "reason"}, 's', &k->reason, err);
    }
    if (rc >= 0) {
        const struct k8s_alt alts[] = {{o, "message", "message"}, {o, "note", "note"}};
        rc = k8s_first(k, alts, 2, 's', &k->message, err);
    }
    if (rc >= 0) {
        rc = k8s_member(k, &(struct k8s_alt){o, "type", "type"}, 's', &k->type, err);
    }
    if (rc >= 0) {
        rc = k8s_member(k, &(struct k8s_alt){k->meta, "uid", "metadata.uid"}, 's', &k->uid, err);
    }
    if (rc >= 0) {
        const struct k8s_alt alts[] = {{k->source, "host", "source.host"},
                                       {dsrc, "host", "deprecatedSource.host"}};
        rc = k8s_first(k, alts, 2, 's', &k->host, err);
    }
    if (rc >= 0) {
        const struct k8s_alt alts[] = {{o, "count", "count"},
                                       {k->series, "count", "series.count"},
                                       {o, "deprecatedCount", "deprecatedCount"}};
        rc = k8s_first(k, alts, 3, 'i', &k->count, err);
        k->have_count = rc == 1;
    }
    if (rc >= 0 && k->have_count && k->count < 0) {
        rc = hd_err_set(err, HD_EINVAL, "%scount: must not be negative", k->prefix);
    }
    return rc < 0 ? rc : HD_OK;
}

/* Last time it happened: the newest of the times the versions carry (each
 * is type-checked; the Event's creation time only when none is set). */
static int k8s_time(struct k8s_ev *k, struct hd_event *ev, struct hd_err *err)
{
    const struct k8s_alt alts[] = {
        {k->series, "lastObservedTime", "series.lastObservedTime"},
        {k->obj, "lastTimestamp", "lastTimestamp"},
        {k->obj, "deprecatedLastTimestamp", "deprecatedLastTimestamp"},
        {k->obj, "eventTime", "eventTime"},
        {k->obj, "firstTimestamp", "firstTimestamp"},
        {k->obj, "deprecatedFirstTimestamp", "deprecatedFirstTimestamp"},
        {k->meta, "creationTimestamp", "metadata.creationTimestamp"},
    };
    const size_t n = sizeof(alts) / sizeof(alts[0]);
    char what[128];
    int found = 0;
    ev->ts_us = ev->recv_us;
    for (size_t i = 0; i < n; i++) {
        int64_t t = 0;
        if (alts[i].o == NULL || (i == n - 1 && found)) {
            continue;
        }
        snprintf(what, sizeof(what), "%s%s", k->prefix, alts[i].path);
        int rc = hd_dec_time(alts[i].o, alts[i].key, what, &t, err);
        if (rc < 0) {
            return rc;
        }
        if (rc == 1 && (!found || t > ev->ts_us)) {
            ev->ts_us = t;
            found = 1;
        }
    }
    return HD_OK;
}

static int k8s_where(struct k8s_ev *k, struct hd_event *ev, struct hd_err *err)
{
    const char *kind = NULL, *name = NULL, *ns = NULL, *fp = NULL;
    if (k->involved != NULL) {
        const char *path = hd_jv_has(k->obj, "involvedObject") ? "involvedObject" : "regarding";
        const struct {
            const char *key;
            const char **out;
        } m[] = {{"kind", &kind}, {"name", &name}, {"namespace", &ns}, {"fieldPath", &fp}};
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
            char what[128];
            snprintf(what, sizeof(what), "%s%s.%s", k->prefix, path, m[i].key);
            if (hd_dec_str(k->involved, m[i].key, what, m[i].out, err) < 0) {
                return HD_EINVAL;
            }
        }
    }
    if (ns == NULL || ns[0] == '\0') {
        ns = hd_jv_get_str(k->meta, "namespace");
    }
    int rc = hd_event_fill(&ev->k8s_kind, kind);
    if (rc == HD_OK) {
        rc = hd_event_fill(&ev->k8s_name, name);
    }
    if (rc == HD_OK) {
        rc = hd_event_fill(&ev->k8s_namespace, ns);
    }
    if (rc == HD_OK && kind != NULL && strcmp(kind, "Pod") == 0) {
        rc = hd_event_fill(&ev->k8s_pod, name);
    }
    if (rc == HD_OK) {
        rc = container_of_field_path(&ev->k8s_container, fp);
    }
    if (rc == HD_OK) {
        rc = hd_event_fill(&ev->host, k->host);
    }
    return rc;
}

static int k8s_labels(struct k8s_ev *k, struct hd_event *ev, const char *count_text)
{
    const char *component = hd_jv_get_str(k->source, "component");
    if (component == NULL || component[0] == '\0') {
        component = hd_jv_get_str(k->obj, "reportingController");
    }
    if (component == NULL || component[0] == '\0') {
        component = hd_jv_get_str(k->obj, "reportingComponent");
    }
    const struct hd_label_kv pairs[] = {
        {"reason", k->reason},
        {"type", k->type},
        {"count", count_text},
        {"component", component},
        {"reportingInstance", hd_jv_get_str(k->obj, "reportingInstance")},
        {"action", hd_jv_get_str(k->obj, "action")},
        {"involvedApiVersion", hd_jv_get_str(k->involved, "apiVersion")},
        {"involvedUid", hd_jv_get_str(k->involved, "uid")},
        {"fieldPath", hd_jv_get_str(k->involved, "fieldPath")},
        {"eventName", hd_jv_get_str(k->meta, "name")},
        {"uid", k->uid},
        {"resourceVersion", hd_jv_get_str(k->meta, "resourceVersion")},
        {"watchType", k->watch},
    };
    struct hd_labels lab;
    hd_labels_init(&lab);
    int rc = hd_labels_add_pairs(&lab, pairs, sizeof(pairs) / sizeof(pairs[0]));
    return hd_labels_end(&lab, rc, &ev->labels);
}

static int k8s_decode(const struct hd_doc *doc, struct hd_batch *out, struct hd_err *err)
{
    struct k8s_ev k = {.obj = doc->root, .prefix = ""};
    struct hd_buf canon, key;
    hd_buf_init(&canon, 0);
    hd_buf_init(&key, 0);
    int rc;

    struct hd_event *ev = hd_dec_push_event(out, doc, HD_SRC_KUBERNETES);
    if (ev == NULL) {
        rc = HD_ENOMEM;
        goto out;
    }
    const char *wtype = hd_jv_get_str(doc->root, "type");
    if (hd_jv_has(doc->root, "object") && is_watch_type(wtype)) {
        hd_jv wobj = hd_jv_get(doc->root, "object");
        if (!hd_jv_is(wobj, HD_JT_OBJECT)) {
            rc = hd_err_set(err, HD_EINVAL, "object: expected an object (the watched Event)");
            goto out;
        }
        k.obj = wobj;
        k.prefix = "object.";
        k.watch = wtype;
    }
    const char *kind = hd_jv_get_str(k.obj, "kind");
    if (kind != NULL && strcmp(kind, "Event") != 0) {
        rc = hd_err_set(err, HD_EINVAL, "%skind: expected 'Event', got '%.32s'", k.prefix, kind);
        goto out;
    }
    rc = k8s_read(&k, err);
    if (rc == HD_OK && k.involved == NULL && k.reason == NULL) {
        rc = hd_err_set(err, HD_EINVAL,
                        "%sinvolvedObject: required (or regarding / reason: not a Kubernetes Event)",
                        k.prefix);
    }
    if (rc == HD_OK) {
        rc = k8s_time(&k, ev, err);
    }
    if (rc != HD_OK) {
        goto out;
    }
    /* SPEC section 5: type Warning 4, Normal 6; others (custom types) notice */
    ev->severity = 5;
    if (k.type != NULL && strcmp(k.type, "Warning") == 0) {
        ev->severity = 4;
    } else if (k.type != NULL && strcmp(k.type, "Normal") == 0) {
        ev->severity = 6;
    }
    char count_text[32];
    snprintf(count_text, sizeof(count_text), "%lld", (long long)(k.have_count ? k.count : 1));
    rc = hd_event_set_raw(ev, doc);
    if (rc == HD_OK) {
        rc = hd_event_fill(&ev->name, k.reason);
    }
    if (rc == HD_OK) {
        rc = hd_event_fill(&ev->description, k.message);
    }
    if (rc == HD_OK) {
        rc = k8s_where(&k, ev, err);
    }
    if (rc == HD_OK) {
        rc = k8s_labels(&k, ev, k.have_count ? count_text : NULL);
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(&key, "kubernetes:%s:%s/%s/%s", k.reason ? k.reason : "",
                           ev->k8s_namespace ? ev->k8s_namespace : "", ev->k8s_kind ? ev->k8s_kind : "",
                           ev->k8s_name ? ev->k8s_name : "");
    }
    if (rc == HD_OK) {
        ev->alert_key = hd_buf_steal(&key, NULL);
        rc = ev->alert_key == NULL ? HD_ENOMEM : HD_OK;
    }
    if (rc == HD_OK && (k.uid == NULL || k.uid[0] == '\0')) {
        /* no uid (hand-written Event): its content identifies it */
        rc = hd_jv_canonical(k.obj, &canon);
    }
    if (rc == HD_OK) {
        const char *parts[] = {"kubernetes", canon.len ? canon.p : k.uid, count_text};
        hd_event_set_id(ev, 0, parts, 3); /* its times move between updates */
    }
out:
    hd_buf_free(&canon);
    hd_buf_free(&key);
    return rc;
}

const struct hd_decoder hd_decoder_kubernetes = {
    .name = "kubernetes",
    .detect = k8s_detect,
    .decode = k8s_decode,
};
