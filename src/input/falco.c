/* falco.c - Falco JSON output (json_output: true), as sent by http_output,
 * falcosidekick's webhook output, or a file_output line (SPEC section 5).
 *
 * DESIGN: one alert per document: rule, priority, output, time (RFC 3339
 * with nanoseconds), hostname, source, tags, output_fields. The well-known
 * output fields fill the normalized ones (container.id, k8s.ns.name,
 * k8s.pod.name; k8s_audit's ka.target.* for Kubernetes objects); every
 * output field is also kept as a label so rules can be filtered on. Falco
 * has no per-alert id, falcosidekick adds a "uuid": the id is that uuid when
 * present, else the hash of the canonical document (a re-send is the same
 * alert, a new occurrence differs at least in its nanosecond time).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "input/decoder.h"

static const struct {
    const char *name;
    int sev;
} priorities[] = {
    {"emergency", 0}, {"alert", 1},         {"critical", 2}, {"error", 3}, {"warning", 4},
    {"notice", 5},    {"informational", 6}, {"info", 6},     {"debug", 7},
};

static int falco_priority(const char *s)
{
    for (size_t i = 0; i < sizeof(priorities) / sizeof(priorities[0]); i++) {
        if (strcasecmp(s, priorities[i].name) == 0) {
            return priorities[i].sev;
        }
    }
    return -1;
}

static int falco_detect(hd_jv root)
{
    /* Falco's three required members; no other source sends "priority" as a
     * Falco priority name together with "rule" and "output". */
    const char *rule = hd_jv_get_str(root, "rule");
    const char *prio = hd_jv_get_str(root, "priority");
    const char *output = hd_jv_get_str(root, "output");
    if (rule == NULL || prio == NULL || output == NULL || falco_priority(prio) < 0) {
        return 0;
    }
    return hd_jv_has(root, "time") || hd_jv_has(root, "output_fields") ? 60 : 40;
}

/* k8s_audit names resources by their plural; the kinds users filter on. */
static const char *kind_of_resource(const char *res)
{
    static const struct {
        const char *res, *kind;
    } map[] = {
        {"pods", "Pod"},
        {"deployments", "Deployment"},
        {"daemonsets", "DaemonSet"},
        {"statefulsets", "StatefulSet"},
        {"replicasets", "ReplicaSet"},
        {"jobs", "Job"},
        {"cronjobs", "CronJob"},
        {"services", "Service"},
        {"serviceaccounts", "ServiceAccount"},
        {"configmaps", "ConfigMap"},
        {"secrets", "Secret"},
        {"namespaces", "Namespace"},
        {"nodes", "Node"},
        {"roles", "Role"},
        {"rolebindings", "RoleBinding"},
        {"clusterroles", "ClusterRole"},
        {"clusterrolebindings", "ClusterRoleBinding"},
    };
    if (res == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].res, res) == 0) {
            return map[i].kind;
        }
    }
    return res;
}

/* Sets *dst to a copy of s unless *dst is set or s is NULL/empty. */
/* Non-empty string output field, or NULL ("<NA>" is Falco's "unknown"). */
static const char *of_str(hd_jv of, const char *key)
{
    const char *s = hd_jv_get_str(of, key);
    if (s == NULL || s[0] == '\0' || strcmp(s, "<NA>") == 0) {
        return NULL;
    }
    return s;
}

static int falco_where(hd_jv of, struct hd_event *ev)
{
    const char *cid = of_str(of, "container.id");
    if (cid != NULL && strcmp(cid, "host") == 0) {
        cid = NULL; /* Falco's container.id for events outside any container */
    }
    const char *res = of_str(of, "ka.target.resource");
    const char *target = of_str(of, "ka.target.name");
    const char *pod = of_str(of, "k8s.pod.name");
    if (pod == NULL && res != NULL && strcmp(res, "pods") == 0) {
        pod = target;
    }
    const char *ns = of_str(of, "k8s.ns.name");
    if (ns == NULL) {
        ns = of_str(of, "ka.target.namespace");
    }
    const struct {
        char **dst;
        const char *val;
    } steps[] = {
        {&ev->container_id, cid},
        {&ev->k8s_namespace, ns},
        {&ev->k8s_pod, pod},
        {&ev->k8s_kind, target != NULL ? kind_of_resource(res) : NULL},
        {&ev->k8s_name, res != NULL ? target : NULL},
        {&ev->host, of_str(of, "evt.hostname")},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int rc = hd_event_fill(steps[i].dst, steps[i].val);
        if (rc != HD_OK) {
            return rc;
        }
    }
    /* docker-shim containers are named k8s_<container>_<pod>_<ns>_<uid>_<n> */
    int k = hd_event_k8s_from_container_name(ev, of_str(of, "container.name"));
    return k < 0 ? k : HD_OK;
}

/* tags joined by ',' into *out (NULL when none); every tag must be a string. */
static int falco_tags(hd_jv tags, char **out, struct hd_err *err)
{
    struct hd_buf b;
    hd_buf_init(&b, 0);
    int rc = HD_OK;
    size_t i = 0;
    for (hd_jv t = hd_jv_first(tags); t != NULL && rc == HD_OK; t = hd_jv_next(tags, t), i++) {
        if (!hd_jv_is(t, HD_JT_STRING)) {
            rc = hd_err_set(err, HD_EINVAL, "tags[%zu]: expected a string", i);
            break;
        }
        rc = hd_buf_printf(&b, "%s%s", i ? "," : "", hd_jv_str(t, NULL));
    }
    if (rc == HD_OK && b.len > 0) {
        *out = hd_buf_steal(&b, NULL);
        rc = *out == NULL ? HD_ENOMEM : HD_OK;
    }
    hd_buf_free(&b);
    return rc;
}

static int falco_labels(hd_jv root, hd_jv of, const char *tags, struct hd_event *ev)
{
    struct hd_labels lab;
    hd_labels_init(&lab);
    const struct hd_label_kv pairs[] = {
        {"rule", hd_jv_get_str(root, "rule")},
        {"priority", hd_jv_get_str(root, "priority")},
        {"source", hd_jv_get_str(root, "source")},
        {"tags", tags},
    };
    int rc = hd_labels_add_pairs(&lab, pairs, sizeof(pairs) / sizeof(pairs[0]));
    if (of != NULL) {
        struct hd_jv_iter it;
        const char *k;
        hd_jv v;
        struct hd_buf text;
        hd_buf_init(&text, 0);
        hd_jv_iter_init(&it, of);
        while (rc == HD_OK && hd_jv_iter_next(&it, &k, &v)) {
            /* scalars as their JSON text (integers exact, doubles as sent) */
            if (v != NULL && !hd_jv_is(v, HD_JT_OBJECT) && !hd_jv_is(v, HD_JT_ARRAY)) {
                const char *t = hd_jv_scalar_text(v, &text);
                rc = t == NULL ? HD_ENOMEM : hd_labels_add(&lab, k, t);
            }
        }
        hd_buf_free(&text);
    }
    return hd_labels_end(&lab, rc, &ev->labels);
}

static int falco_decode(const struct hd_doc *doc, struct hd_batch *out, struct hd_err *err)
{
    hd_jv root = doc->root;
    hd_jv of = NULL, tags = NULL;
    const char *rule = NULL, *prio = NULL, *output = NULL, *host = NULL, *source = NULL, *uuid = NULL;
    char *tagtext = NULL;
    struct hd_buf canon, key;
    hd_buf_init(&canon, 0);
    hd_buf_init(&key, 0);
    int rc;

    struct hd_event *ev = hd_dec_push_event(out, doc, HD_SRC_FALCO);
    if (ev == NULL) {
        rc = HD_ENOMEM;
        goto out;
    }
    ev->ts_us = doc->recv_us;
    rc = hd_dec_str(root, "rule", "rule", &rule, err);
    if (rc < 0) {
        goto out;
    }
    if (rc == 0 || rule[0] == '\0') {
        rc = hd_err_set(err, HD_EINVAL, "rule: required (a Falco alert names its rule)");
        goto out;
    }
    rc = hd_dec_str(root, "priority", "priority", &prio, err);
    if (rc == 0) {
        rc = hd_err_set(err, HD_EINVAL,
                        "priority: required (Emergency, Alert, Critical, Error, Warning, Notice, "
                        "Informational or Debug)");
        goto out;
    }
    if (rc < 0) {
        goto out;
    }
    ev->severity = falco_priority(prio);
    if (ev->severity < 0) {
        rc = hd_err_set(err, HD_EINVAL,
                        "priority: unknown Falco priority '%.32s' (expected Emergency, Alert, "
                        "Critical, Error, Warning, Notice, Informational or Debug)",
                        prio);
        goto out;
    }
    if (hd_dec_str(root, "output", "output", &output, err) < 0 ||
        hd_dec_str(root, "hostname", "hostname", &host, err) < 0 ||
        hd_dec_str(root, "source", "source", &source, err) < 0 ||
        hd_dec_str(root, "uuid", "uuid", &uuid, err) < 0 ||
        hd_dec_obj(root, "output_fields", "output_fields", &of, err) < 0 ||
        hd_dec_arr(root, "tags", "tags", &tags, err) < 0) {
        rc = HD_EINVAL;
        goto out;
    }
    rc = hd_dec_time(root, "time", "time", &ev->ts_us, err);
    if (rc == 0) {
        /* old outputs without "time": the syscall's own nanosecond time */
        rc = hd_dec_time(of, "evt.time", "output_fields.evt.time", &ev->ts_us, err);
    }
    if (rc < 0) {
        goto out;
    }
    rc = hd_event_set_raw(ev, doc);
    if (rc == HD_OK) {
        rc = hd_event_set_str(&ev->name, rule);
    }
    if (rc == HD_OK) {
        rc = hd_event_fill(&ev->description, output);
    }
    if (rc == HD_OK) {
        rc = hd_event_fill(&ev->host, host);
    }
    if (rc == HD_OK) {
        rc = falco_where(of, ev);
    }
    if (rc == HD_OK) {
        rc = falco_tags(tags, &tagtext, err);
    }
    if (rc == HD_OK) {
        rc = falco_labels(root, of, tagtext, ev);
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(&key, "falco:%s:%s:%s", rule, ev->host ? ev->host : "",
                           ev->container_id ? ev->container_id : "");
    }
    if (rc == HD_OK) {
        ev->alert_key = hd_buf_steal(&key, NULL);
        rc = ev->alert_key == NULL ? HD_ENOMEM : HD_OK;
    }
    if (rc == HD_OK && (uuid == NULL || uuid[0] == '\0')) {
        rc = hd_jv_canonical(root, &canon);
    }
    if (rc == HD_OK) {
        const char *parts[] = {"falco", uuid != NULL && uuid[0] != '\0' ? uuid : canon.p};
        hd_event_set_id(ev, ev->ts_us != ev->recv_us ? ev->ts_us : 0, parts, 2);
    }
out:
    free(tagtext);
    hd_buf_free(&canon);
    hd_buf_free(&key);
    return rc;
}

const struct hd_decoder hd_decoder_falco = {
    .name = "falco",
    .detect = falco_detect,
    .decode = falco_decode,
};
