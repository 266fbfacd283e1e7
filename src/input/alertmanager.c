/* alertmanager.c - Prometheus Alertmanager webhook notifications (version 4),
 * SPEC section 5.
 *
 * DESIGN: one notification groups alerts that may be in different states
 * (a group with firing and resolved members is sent with status "firing"),
 * so it yields one event per alert, in array order, each with its own
 * status: firing -> ACTIVE, resolved -> OK. The alert's fingerprint (a hash
 * of its label set, stable across states) is the alertKey; the id hashes
 * fingerprint + status + start time, so a re-sent notification is the same
 * event and the resolution is a new one. Older senders (and test payloads)
 * omit per-alert status and fingerprint: the group status stands in, and the
 * canonical label set is hashed in place of the fingerprint.
 * raw: each event keeps the notification's bytes with its "alerts" array cut
 * down to that one alert (every other byte as received), so a WEBHOOK
 * forwards a valid notification per alert and N alerts never cost N copies
 * of the whole body (a group can hold thousands).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "input/decoder.h"

static int has(hd_jv o, const char *key)
{
    return hd_jv_has(o, key);
}

static int am_detect(hd_jv root)
{
    hd_jv alerts = hd_jv_get(root, "alerts");
    if (!hd_jv_is(alerts, HD_JT_ARRAY)) {
        return 0;
    }
    int n = has(root, "version") + has(root, "groupKey") + has(root, "receiver") + has(root, "status") +
            has(root, "groupLabels") + has(root, "commonLabels") + has(root, "externalURL");
    if (n >= 3) {
        return 80;
    }
    /* a bare {"alerts":[...]} whose first alert looks like Alertmanager's */
    hd_jv a0 = hd_jv_at(alerts, 0);
    if (hd_jv_is(a0, HD_JT_OBJECT) && has(a0, "labels") && (has(a0, "startsAt") || has(a0, "fingerprint"))) {
        return 50;
    }
    return 0;
}

static int am_severity(const char *s)
{
    static const struct {
        const char *name;
        int sev;
    } map[] = {{"critical", 2}, {"error", 3}, {"warning", 4}, {"info", 6}};
    for (size_t i = 0; s != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcasecmp(s, map[i].name) == 0) {
            return map[i].sev;
        }
    }
    return 5;
}

/* Checks that every value of a labels/annotations object is a string. */
static int check_strings(hd_jv o, const char *what, struct hd_err *err)
{
    struct hd_jv_iter it;
    const char *k;
    hd_jv v;
    hd_jv_iter_init(&it, o);
    while (hd_jv_iter_next(&it, &k, &v)) {
        if (!hd_jv_is(v, HD_JT_STRING)) {
            return hd_err_set(err, HD_EINVAL, "%s.%.64s: expected a string", what, k);
        }
    }
    return HD_OK;
}

/* "10.0.0.7:8080" -> "10.0.0.7", "node-1:9100" -> "node-1"; "[::1]:9100" and
 * names without a port are kept whole. */
static int set_host_from_instance(struct hd_event *ev, const char *inst)
{
    if (ev->host != NULL || inst == NULL || inst[0] == '\0') {
        return HD_OK;
    }
    const char *colon = strrchr(inst, ':');
    size_t n = strlen(inst);
    if (colon != NULL && colon != inst && strchr(inst, ':') == colon && colon[1] != '\0' &&
        strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
        n = (size_t)(colon - inst);
    }
    ev->host = hd_strndup(inst, n);
    return ev->host == NULL ? HD_ENOMEM : HD_OK;
}

/* ---- byte ranges of the alerts in the original document ----
 * The document already parsed as strict JSON, so this scanner only needs to
 * know strings, escapes and nesting. */

struct am_span {
    size_t a, b; /* [a, b) */
};

static size_t sk_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
        i++;
    }
    return i;
}

/* End of the value starting at s[i]. */
static size_t sk_value(const char *s, size_t n, size_t i)
{
    size_t depth = 0;
    int in_str = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_str = 0;
                if (depth == 0) {
                    return i + 1;
                }
            }
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) {
                return i; /* a scalar ended by its container */
            }
            if (--depth == 0) {
                return i + 1;
            }
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            return i;
        }
    }
    return n;
}

/* Finds the top-level "alerts" array (the last one, as the parser keeps) and
 * the span of each element; 1 if found with exactly want elements. *open and
 * *close are the offsets of '[' and ']'; spans must hold want entries. */
static int am_spans(const char *s, size_t n, size_t want, size_t *open, size_t *close, struct am_span *spans)
{
    int found = 0;
    size_t i = sk_ws(s, n, 0);
    if (i >= n || s[i] != '{') {
        return 0;
    }
    i = sk_ws(s, n, i + 1);
    while (i < n && s[i] == '"') {
        size_t kend = sk_value(s, n, i);
        int is_alerts = kend - i == 8 && memcmp(s + i, "\"alerts\"", 8) == 0;
        i = sk_ws(s, n, kend);
        if (i >= n || s[i] != ':') {
            return 0;
        }
        i = sk_ws(s, n, i + 1);
        size_t vend = sk_value(s, n, i);
        if (is_alerts && i < n && s[i] == '[') {
            size_t k = 0;
            size_t j = sk_ws(s, n, i + 1);
            while (j < vend - 1 && k < want) {
                size_t e = sk_value(s, n, j);
                spans[k].a = j;
                spans[k].b = e;
                k++;
                j = sk_ws(s, n, e);
                if (j < n && s[j] == ',') {
                    j = sk_ws(s, n, j + 1);
                }
            }
            found = k == want && j == vend - 1;
            *open = i;
            *close = vend - 1;
        }
        i = sk_ws(s, n, vend);
        if (i < n && s[i] == ',') {
            i = sk_ws(s, n, i + 1);
        }
    }
    return found;
}

/* ev->raw = s with the alerts array reduced to the element sp. */
static int am_set_raw(struct hd_event *ev, const char *s, size_t n, size_t open, size_t close,
                      const struct am_span *sp)
{
    size_t len = (open + 1) + (sp->b - sp->a) + (n - close);
    char *p = malloc(len + 1);
    if (p == NULL) {
        return HD_ENOMEM;
    }
    memcpy(p, s, open + 1);
    memcpy(p + open + 1, s + sp->a, sp->b - sp->a);
    memcpy(p + open + 1 + (sp->b - sp->a), s + close, n - close);
    p[len] = '\0';
    hd_event_own_raw(ev, p, len);
    return HD_OK;
}

struct am_group {
    hd_jv root;
    const char *status; /* group status: the default of alerts without one */
    const char *receiver;
    const char *external_url;
    const char *group_key;
};

static int am_labels(const struct am_group *g, hd_jv labels, hd_jv ann, const char *fp, struct hd_event *ev)
{
    struct hd_labels lab;
    hd_labels_init(&lab);
    /* check_strings made every value a string */
    int rc = hd_labels_add_strings(&lab, labels);
    if (rc == HD_OK) {
        rc = hd_labels_add_strings(&lab, ann);
    }
    const struct hd_label_kv pairs[] = {
        {"fingerprint", fp},
        {"receiver", g->receiver},
        {"groupKey", g->group_key},
    };
    if (rc == HD_OK) {
        rc = hd_labels_add_pairs(&lab, pairs, sizeof(pairs) / sizeof(pairs[0]));
    }
    return hd_labels_end(&lab, rc, &ev->labels);
}

/* Resolved: endsAt is the event time; Go's zero time (0001-01-01) means "no
 * end", and the start stays the time then. */
static int am_ends(hd_jv a, size_t i, struct hd_event *ev, struct hd_err *err)
{
    char what[64];
    int64_t ends = 0;
    const char *es = hd_jv_get_str(a, "endsAt");
    if (es != NULL && strncmp(es, "0001-", 5) == 0) {
        return HD_OK;
    }
    snprintf(what, sizeof(what), "alerts[%zu].endsAt", i);
    int rc = hd_dec_time(a, "endsAt", what, &ends, err);
    if (rc < 0) {
        return rc;
    }
    if (rc == 1 && ends > 0) {
        ev->ts_us = ends;
    }
    return HD_OK;
}

/* An alert without a fingerprint: Alertmanager's is a hash of the label set,
 * so ours is computed alike (16 hex digits into fp). */
static int am_fingerprint(hd_jv labels, char fp[33])
{
    struct hd_buf canon;
    hd_buf_init(&canon, 0);
    int rc = labels != NULL ? hd_jv_canonical(labels, &canon) : hd_buf_puts(&canon, "{}");
    if (rc == HD_OK) {
        hd_hash128_hex(canon.p, canon.len, fp);
        fp[16] = '\0';
    }
    hd_buf_free(&canon);
    return rc;
}

/* The normalized fields from the labels and annotations (first present wins). */
static int am_fields(const struct am_group *g, hd_jv labels, hd_jv ann, const char *gen, struct hd_event *ev)
{
    ev->severity = am_severity(hd_jv_get_str(labels, "severity"));
    const char *desc = hd_jv_get_str(ann, "description");
    if (desc == NULL || desc[0] == '\0') {
        desc = hd_jv_get_str(ann, "summary");
    }
    if (desc == NULL || desc[0] == '\0') {
        desc = hd_jv_get_str(ann, "message");
    }
    const struct {
        char **dst;
        const char *val;
    } steps[] = {
        {&ev->name, hd_jv_get_str(labels, "alertname")},
        {&ev->description, desc},
        {&ev->url, gen},
        {&ev->url, g->external_url},
        {&ev->host, hd_jv_get_str(labels, "hostname")},
        {&ev->host, hd_jv_get_str(labels, "host")},
        {&ev->host, hd_jv_get_str(labels, "node")},
        {&ev->k8s_namespace, hd_jv_get_str(labels, "namespace")},
        {&ev->k8s_pod, hd_jv_get_str(labels, "pod")},
        {&ev->k8s_container, hd_jv_get_str(labels, "container")},
        {&ev->container_id, hd_jv_get_str(labels, "container_id")},
    };
    int rc = HD_OK;
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]) && rc == HD_OK; k++) {
        rc = hd_event_fill(steps[k].dst, steps[k].val);
    }
    if (rc == HD_OK) {
        rc = set_host_from_instance(ev, hd_jv_get_str(labels, "instance"));
    }
    return rc;
}

/* alertmanager:<fingerprint>, and the id over fingerprint, status and start. */
static int am_identity(const char *fp, const char *status, const int64_t *starts, struct hd_event *ev)
{
    struct hd_buf key;
    hd_buf_init(&key, 0);
    int rc = hd_buf_printf(&key, "alertmanager:%s", fp);
    if (rc == HD_OK) {
        ev->alert_key = hd_buf_steal(&key, NULL);
        rc = ev->alert_key == NULL ? HD_ENOMEM : HD_OK;
    }
    hd_buf_free(&key);
    if (rc == HD_OK) {
        char ts[32];
        if (starts != NULL) {
            snprintf(ts, sizeof(ts), "%lld", (long long)*starts);
        }
        const char *parts[] = {"alertmanager", fp, status, starts != NULL ? ts : NULL};
        hd_event_set_id(ev, starts != NULL ? *starts : 0, parts, 4);
    }
    return rc;
}

/* Decodes alerts[i] into ev. */
static int am_alert(const struct am_group *g, hd_jv a, size_t i, struct hd_event *ev, struct hd_err *err)
{
    char what[64];
    hd_jv labels = NULL, ann = NULL;
    const char *status = NULL, *fp = NULL, *gen = NULL;
    char fpbuf[33];
    int64_t starts = 0;
    int have_start = 0;
    int rc;

    if (!hd_jv_is(a, HD_JT_OBJECT)) {
        return hd_err_set(err, HD_EINVAL, "alerts[%zu]: expected an object", i);
    }
    /* alerts[i].<key> names the field in errors */
    char w[6][64];
    static const char *const keys[] = {"labels",      "annotations",  "status",
                                       "fingerprint", "generatorURL", "startsAt"};
    for (size_t k = 0; k < 6; k++) {
        snprintf(w[k], sizeof(w[k]), "alerts[%zu].%s", i, keys[k]);
    }
    if (hd_dec_obj(a, "labels", w[0], &labels, err) < 0 ||
        hd_dec_obj(a, "annotations", w[1], &ann, err) < 0 ||
        hd_dec_str(a, "status", w[2], &status, err) < 0 || hd_dec_str(a, "fingerprint", w[3], &fp, err) < 0 ||
        hd_dec_str(a, "generatorURL", w[4], &gen, err) < 0) {
        return HD_EINVAL;
    }
    have_start = hd_dec_time(a, "startsAt", w[5], &starts, err);
    if (have_start < 0) {
        return have_start;
    }
    snprintf(what, sizeof(what), "alerts[%zu].labels", i);
    rc = check_strings(labels, what, err);
    if (rc == HD_OK) {
        snprintf(what, sizeof(what), "alerts[%zu].annotations", i);
        rc = check_strings(ann, what, err);
    }
    if (rc != HD_OK) {
        return rc;
    }
    if (status == NULL) {
        status = g->status;
    }
    if (status == NULL) {
        return hd_err_set(err, HD_EINVAL, "alerts[%zu].status: required ('firing' or 'resolved')", i);
    }
    if (strcmp(status, "firing") == 0) {
        ev->state = HD_STATE_ACTIVE;
    } else if (strcmp(status, "resolved") == 0) {
        ev->state = HD_STATE_OK;
    } else {
        return hd_err_set(err, HD_EINVAL, "alerts[%zu].status: expected 'firing' or 'resolved', got '%.32s'",
                          i, status);
    }
    ev->ts_us = have_start ? starts : ev->recv_us;
    if (ev->state == HD_STATE_OK) {
        rc = am_ends(a, i, ev, err);
        if (rc != HD_OK) {
            return rc;
        }
    }
    if (fp == NULL || fp[0] == '\0') {
        rc = am_fingerprint(labels, fpbuf);
        if (rc != HD_OK) {
            return rc;
        }
        fp = fpbuf;
    }
    rc = am_fields(g, labels, ann, gen, ev);
    if (rc == HD_OK) {
        rc = am_labels(g, labels, ann, fp, ev);
    }
    if (rc == HD_OK) {
        rc = am_identity(fp, status, have_start ? &starts : NULL, ev);
    }
    return rc;
}

static int am_decode(const struct hd_doc *doc, struct hd_batch *out, struct hd_err *err)
{
    hd_jv root = doc->root;
    hd_jv alerts = NULL;
    struct am_group g = {.root = root};
    const char *version = NULL;
    int rc;
    if (hd_dec_arr(root, "alerts", "alerts", &alerts, err) < 0 ||
        hd_dec_str(root, "status", "status", &g.status, err) < 0 ||
        hd_dec_str(root, "version", "version", &version, err) < 0 ||
        hd_dec_str(root, "receiver", "receiver", &g.receiver, err) < 0 ||
        hd_dec_str(root, "externalURL", "externalURL", &g.external_url, err) < 0 ||
        hd_dec_str(root, "groupKey", "groupKey", &g.group_key, err) < 0) {
        return HD_EINVAL;
    }
    if (alerts == NULL) {
        return hd_err_set(err, HD_EINVAL,
                          "alerts: required (an Alertmanager notification carries its alerts)");
    }
    if (version != NULL && strcmp(version, "4") != 0) {
        return hd_err_set(err, HD_EINVAL, "version: unsupported webhook version '%.16s' (expected \"4\")",
                          version);
    }
    if (g.status != NULL && strcmp(g.status, "firing") != 0 && strcmp(g.status, "resolved") != 0) {
        return hd_err_set(err, HD_EINVAL, "status: expected 'firing' or 'resolved', got '%.32s'", g.status);
    }
    size_t n = hd_jv_len(alerts);
    if (n == 0) {
        return hd_err_set(err, HD_EINVAL, "alerts: empty (no alert to store)");
    }
    size_t open = 0, close = 0;
    struct am_span *spans = n > 1 ? calloc(n, sizeof(*spans)) : NULL;
    if (n > 1 && spans == NULL) {
        return HD_ENOMEM;
    }
    /* one alert: the document as is; else a per-alert cut when the scan
     * agrees with the parser (it always should), the whole document if not */
    int cut = n > 1 && am_spans(doc->raw, doc->len, n, &open, &close, spans);
    rc = HD_OK;
    hd_jv a = hd_jv_first(alerts);
    for (size_t i = 0; i < n && rc == HD_OK; i++, a = hd_jv_next(alerts, a)) {
        struct hd_event *ev = hd_batch_push(out);
        if (ev == NULL) {
            rc = HD_ENOMEM;
            break;
        }
        ev->source = hd_source_name(HD_SRC_ALERTMANAGER);
        ev->recv_us = doc->recv_us;
        if (cut) {
            rc = am_set_raw(ev, doc->raw, doc->len, open, close, &spans[i]);
        } else {
            rc = hd_event_set_raw(ev, doc);
        }
        if (rc == HD_OK) {
            rc = am_alert(&g, a, i, ev, err);
        }
    }
    free(spans);
    return rc;
}

const struct hd_decoder hd_decoder_alertmanager = {
    .name = "alertmanager",
    .detect = am_detect,
    .decode = am_decode,
};
