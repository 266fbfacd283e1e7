/* generic.c - any JSON object (SPEC section 5, source "generic").
 *
 * DESIGN: the catch-all, so it is lenient: it reads the commonly used member
 * names (first one present and usable wins) and ignores what it cannot use
 * instead of rejecting the document. The id is the hash of the canonical
 * document, so key order and whitespace do not change it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "input/decoder.h"

static int generic_detect(hd_jv root)
{
    (void)root;
    return 1;
}

/* The first of keys that is a non-empty string member of o. */
static const char *first_str(hd_jv o, const char *const *keys)
{
    for (size_t i = 0; keys[i] != NULL; i++) {
        const char *v = hd_jv_get_str(o, keys[i]);
        if (v != NULL && v[0] != '\0') {
            return v;
        }
    }
    return NULL;
}

static int time_of(hd_jv v, int64_t *us)
{
    if (hd_jv_is(v, HD_JT_INT)) {
        return hd_epoch_i64_to_us(hd_jv_i64(v), us) == HD_OK;
    }
    if (hd_jv_is(v, HD_JT_DOUBLE)) {
        return hd_epoch_to_us(hd_jv_double(v), us) == HD_OK;
    }
    if (!hd_jv_is(v, HD_JT_STRING)) {
        return 0;
    }
    const char *s = hd_jv_str(v, NULL);
    if (hd_parse_rfc3339_us(s, us) == HD_OK) {
        return 1;
    }
    int64_t n;
    return hd_parse_i64(s, &n) == HD_OK && hd_epoch_i64_to_us(n, us) == HD_OK; /* "1663014917135000" */
}

static int severity_name(const char *s)
{
    static const struct {
        const char *name;
        int sev;
    } names[] = {{"emergency", 0}, {"emerg", 0},         {"panic", 0}, {"alert", 1},
                 {"critical", 2},  {"crit", 2},          {"fatal", 2}, {"error", 3},
                 {"err", 3},       {"warning", 4},       {"warn", 4},  {"notice", 5},
                 {"info", 6},      {"informational", 6}, {"debug", 7}, {"trace", 7}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            return names[i].sev;
        }
    }
    return -1;
}

static int severity_of(hd_jv root)
{
    static const char *const keys[] = {"severity", "level", "priority", NULL};
    int64_t n;
    if (hd_jv_get_i64(root, "severity", &n) && n >= 0 && n <= 7) {
        return (int)n;
    }
    for (size_t i = 0; keys[i] != NULL; i++) {
        const char *s = hd_jv_get_str(root, keys[i]);
        int sev = s ? severity_name(s) : -1;
        if (sev >= 0) {
            return sev;
        }
    }
    return 5;
}

static enum hd_state state_of(hd_jv root)
{
    enum hd_state st = HD_STATE_ACTIVE;
    const char *s = hd_jv_get_str(root, "state");
    if (s != NULL && hd_state_parse(s, &st) == HD_OK) {
        return st;
    }
    s = hd_jv_get_str(root, "status");
    if (s != NULL && (strcasecmp(s, "resolved") == 0 || strcasecmp(s, "ok") == 0)) {
        return HD_STATE_OK; /* Alertmanager's wording: the condition cleared */
    }
    return HD_STATE_ACTIVE;
}

static int generic_decode(const struct hd_doc *doc, struct hd_batch *out, struct hd_err *err)
{
    static const char *const K_TIME[] = {"timestamp", "@timestamp", "time", "ts", "eventTime", NULL};
    static const char *const K_NAME[] = {"name", "title", "rule", "alertname", NULL};
    static const char *const K_DESC[] = {"description", "message", "output", "msg", "summary", NULL};
    static const char *const K_URL[] = {"url", "link", "generatorURL", NULL};
    static const char *const K_HOST[] = {"host", "hostname", "hostName", NULL};
    static const char *const K_HOSTOBJ[] = {"name", "hostname", NULL};
    static const char *const K_CID[] = {"containerId", "container_id", NULL};
    static const char *const K_CNAME[] = {"container_name", "containerName", NULL};
    static const char *const K_NS[] = {"namespace", "namespace_name", NULL};
    static const char *const K_POD[] = {"pod", "pod_name", NULL};
    static const char *const K_CONT[] = {"container", "container_name", NULL};
    hd_jv root = doc->root;
    struct hd_labels lab;
    struct hd_buf canon, key;
    hd_labels_init(&lab);
    hd_buf_init(&canon, 0);
    hd_buf_init(&key, 0);
    int rc;
    (void)err;

    struct hd_event *ev = hd_batch_push(out);
    if (ev == NULL) {
        rc = HD_ENOMEM;
        goto out;
    }
    ev->source = hd_source_name(HD_SRC_GENERIC);
    ev->recv_us = doc->recv_us;
    ev->ts_us = doc->recv_us;
    for (size_t i = 0; K_TIME[i] != NULL; i++) {
        hd_jv v = hd_jv_get(root, K_TIME[i]);
        if (v != NULL && time_of(v, &ev->ts_us)) {
            break;
        }
    }
    ev->severity = severity_of(root);
    ev->state = state_of(root);

    hd_jv hosto = hd_jv_get(root, "host");
    hd_jv conto = hd_jv_get(root, "container");
    hd_jv k8s = hd_jv_get(root, "k8s");
    hd_jv kube = hd_jv_get(root, "kubernetes");
    hd_jv labels = hd_jv_get(root, "labels");
    const char *host = first_str(root, K_HOST);
    if (host == NULL && hd_jv_is(hosto, HD_JT_OBJECT)) {
        host = first_str(hosto, K_HOSTOBJ); /* ECS: host.name */
    }
    const char *cid = first_str(root, K_CID);
    if (cid == NULL && hd_jv_is(conto, HD_JT_OBJECT)) {
        cid = hd_jv_get_str(conto, "id");
    }
    /* herald's own k8s{} shape first, then Fluent Bit's kubernetes{} */
    hd_jv ko = hd_jv_is(k8s, HD_JT_OBJECT) ? k8s : hd_jv_is(kube, HD_JT_OBJECT) ? kube : NULL;
    const struct {
        char **dst;
        const char *val;
    } fields[] = {
        {&ev->name, first_str(root, K_NAME)},
        {&ev->description, first_str(root, K_DESC)},
        {&ev->url, first_str(root, K_URL)},
        {&ev->host, host},
        {&ev->container_id, cid},
        {&ev->k8s_namespace, first_str(ko, K_NS)},
        {&ev->k8s_pod, first_str(ko, K_POD)},
        {&ev->k8s_container, first_str(ko, K_CONT)},
        {&ev->k8s_kind, hd_jv_get_str(ko, "kind")},
        {&ev->k8s_name, hd_jv_get_str(ko, "name")},
    };
    rc = hd_event_set_raw(ev, doc);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]) && rc == HD_OK; i++) {
        if (fields[i].val != NULL) {
            rc = hd_event_set_str(fields[i].dst, fields[i].val);
        }
    }
    if (rc == HD_OK) {
        int k = hd_event_k8s_from_container_name(ev, first_str(root, K_CNAME));
        rc = k < 0 ? k : HD_OK;
    }
    if (rc == HD_OK && ev->k8s_namespace == NULL) {
        rc = hd_event_set_str(&ev->k8s_namespace, first_str(root, K_NS));
    }
    if (rc == HD_OK) {
        rc = hd_labels_add_strings(&lab, labels);
    }
    if (rc == HD_OK) {
        rc = hd_labels_finish(&lab, &ev->labels);
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(&key, "generic:%s:%s:%s", ev->name ? ev->name : "", ev->host ? ev->host : "",
                           ev->container_id ? ev->container_id : "");
    }
    if (rc == HD_OK) {
        ev->alert_key = hd_buf_steal(&key, NULL);
        rc = ev->alert_key == NULL ? HD_ENOMEM : HD_OK;
    }
    if (rc == HD_OK) {
        rc = hd_jv_canonical(root, &canon);
    }
    if (rc == HD_OK) {
        const char *parts[] = {"generic", canon.p};
        hd_event_set_id(ev, ev->ts_us != ev->recv_us ? ev->ts_us : 0, parts, 2);
    }
out:
    hd_labels_free(&lab);
    hd_buf_free(&canon);
    hd_buf_free(&key);
    return rc;
}

const struct hd_decoder hd_decoder_generic = {
    .name = "generic",
    .detect = generic_detect,
    .decode = generic_decode,
};
