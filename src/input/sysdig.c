/* sysdig.c - Sysdig Monitor and Secure payloads (SPEC section 5).
 *
 * DESIGN: three shapes reach us and one decoder reads them all:
 *   - the webhook notification (Monitor metric alerts and Secure policy
 *     alerts): timestamp, alert{}, event{}, state, resolved, entities[] whose
 *     Secure flavour carries policies[] and policyEvents[];
 *   - a Secure policy event object (the events API): policyId, ruleType,
 *     output, fields[], metrics[], hostMac;
 *   - the event-forwarding runtime policy event: originator, content{},
 *     labels{}, a nanosecond timestamp.
 * Where a value can come from several places (the host name is in
 * additionalInfo, forwarded labels, policy event metrics, the scope text or
 * only as a MAC), sources are visited best first and each only fills what is
 * still empty. Fields we use must have the right JSON type or the document
 * is rejected naming the field; fields we do not use are never checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "input/decoder.h"

enum sd_kind { SD_NOTIFICATION, SD_POLICY_EVENT, SD_FORWARDED };

static const char *const K_HOSTNAME[] = {"host.hostName", "host_hostname", NULL};
static const char *const K_HOSTMAC[] = {"host.mac", "host_mac", NULL};
static const char *const K_CID[] = {"container.id", "container_id", NULL};
static const char *const K_CNAME[] = {"container.name", "container_name", NULL};
static const char *const K_NS[] = {"kubernetes.namespace.name", "kube_namespace_name", NULL};
static const char *const K_POD[] = {"kubernetes.pod.name", "kube_pod_name", NULL};
static const char *const K_DEPLOY[] = {"kubernetes.deployment.name", "kube_deployment_name", NULL};

static int has(hd_jv o, const char *key)
{
    return hd_jv_has(o, key);
}

static int sysdig_detect(hd_jv root)
{
    /* The webhook: an "alert" plus several of its siblings. Falco,
     * Alertmanager ("alerts"), Kubernetes and Docker share none of them. */
    if (has(root, "alert")) {
        int n = has(root, "entities") + has(root, "timestamp") + has(root, "timespan") + has(root, "state") +
                has(root, "resolved") + has(root, "condition") + has(root, "event");
        if (n >= 3) {
            return 80;
        }
    }
    if (has(root, "policyId") && has(root, "timestamp")) {
        int n = has(root, "ruleType") + has(root, "output") + has(root, "hostMac") + has(root, "fields") +
                has(root, "containerId") + has(root, "falsePositive") + has(root, "matchedOnDefault");
        if (n >= 2) {
            return 70;
        }
    }
    if (hd_jv_get_str(root, "originator") != NULL && has(root, "timestamp") &&
        (has(root, "content") || has(root, "timestampRFC3339Nano") || has(root, "agentId") ||
         has(root, "machineId"))) {
        return 70;
    }
    return 0;
}

/* Value of `key` = '...' (or "...") in a Sysdig scope expression such as
 * "host.mac = '00:0c:29:04:07:c1' and container_name = 'c1'", copied into
 * out. 1 if found. Anything else than = comparisons joined by "and" ends
 * the scan: we only read what we understand. */
static int scope_get(const char *scope, const char *const *keys, char *out, size_t outsz)
{
    const char *p = scope;
    if (p == NULL) {
        return 0;
    }
    for (;;) {
        while (*p == ' ') {
            p++;
        }
        const char *k = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
               *p == '_' || *p == '.' || *p == '-') {
            p++;
        }
        size_t klen = (size_t)(p - k);
        while (*p == ' ') {
            p++;
        }
        if (klen == 0 || *p != '=') {
            return 0;
        }
        p++;
        while (*p == ' ') {
            p++;
        }
        char q = *p;
        if (q != '\'' && q != '"') {
            return 0;
        }
        const char *v = ++p;
        const char *e = strchr(v, q);
        if (e == NULL) {
            return 0;
        }
        for (size_t i = 0; keys[i] != NULL; i++) {
            if (strlen(keys[i]) == klen && memcmp(keys[i], k, klen) == 0) {
                size_t vlen = (size_t)(e - v);
                if (vlen >= outsz) {
                    return 0;
                }
                memcpy(out, v, vlen);
                out[vlen] = '\0';
                return 1;
            }
        }
        p = e + 1;
        while (*p == ' ') {
            p++;
        }
        if (strncasecmp(p, "and", 3) != 0 || p[3] != ' ') {
            return 0;
        }
        p += 3;
    }
}

/* String value of one of keys in a key/value container: an object
 * {"k":"v"} or an array of {"key"|"metric": k, "value": v} pairs. */
static const char *kv_get(hd_jv o, const char *const *keys)
{
    if (o == NULL) {
        return NULL;
    }
    if (hd_jv_is(o, HD_JT_OBJECT)) {
        for (size_t i = 0; keys[i] != NULL; i++) {
            const char *v = hd_jv_get_str(o, keys[i]);
            if (v != NULL) {
                return v;
            }
        }
        return NULL;
    }
    if (!hd_jv_is(o, HD_JT_ARRAY)) {
        return NULL;
    }
    for (hd_jv e = hd_jv_first(o); e != NULL; e = hd_jv_next(o, e)) {
        const char *k = hd_jv_get_str(e, "key");
        if (k == NULL) {
            k = hd_jv_get_str(e, "metric");
        }
        if (k == NULL) {
            continue;
        }
        for (size_t i = 0; keys[i] != NULL; i++) {
            if (strcmp(k, keys[i]) == 0) {
                return hd_jv_get_str(e, "value");
            }
        }
    }
    return NULL;
}

/* "ip-10-0-8-165", not "42:01:0a:9c:00:06" nor a k8s_ container name. */
static int looks_like_hostname(const char *s)
{
    size_t n = strlen(s);
    int alpha = 0;
    if (n == 0 || n > 253 || strncmp(s, "k8s_", 4) == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            alpha = 1;
        } else if (!((c >= '0' && c <= '9') || c == '-' || c == '.')) {
            return 0;
        }
    }
    return alpha;
}

/* Sets *dst to s unless *dst is set or s is empty (or a placeholder). */
static int fill_container(char **dst, const char *s)
{
    /* Falco says container.id "host" for events outside any container */
    if (s != NULL && strcmp(s, "host") == 0) {
        return HD_OK;
    }
    return hd_event_fill(dst, s);
}

/* The value of one of keys in the first scope text that has it, or NULL. */
static const char *scope_lookup(const char *const *scopes, const char *const *keys, char *buf, size_t bufsz)
{
    for (size_t i = 0; scopes[i] != NULL; i++) {
        if (scope_get(scopes[i], keys, buf, bufsz)) {
            return buf;
        }
    }
    return NULL;
}

/* One candidate value for one event field, tried in table order. */
struct fill_step {
    char **dst;
    const char *val;
    int container; /* skip Falco's "host" placeholder */
};

static int fill_all(const struct fill_step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = steps[i].container ? fill_container(steps[i].dst, steps[i].val)
                                    : hd_event_fill(steps[i].dst, steps[i].val);
        if (rc != HD_OK) {
            return rc;
        }
    }
    return HD_OK;
}

struct sd {
    hd_jv root, alert, event, entities, content, flabels;
    hd_jv pe0;     /* first policy event (the root itself for a policy event object) */
    hd_jv policy0; /* first entities[].policies[] element */
    hd_jv fields0; /* pe0.fields or content.fields */
    const char *entity0, *scope;
    enum sd_kind kind;
    int secure;
};

/* Walks entities[] and their policyEvents[], checking the types we read,
 * collecting policy event ids, hosts and k8s names from metrics. */
static int walk_entities(struct sd *c, struct hd_event *ev, struct hd_buf *peids, struct hd_err *err)
{
    int rc = HD_OK;
    size_t i = 0;
    for (hd_jv e = hd_jv_first(c->entities); e != NULL; e = hd_jv_next(c->entities, e), i++) {
        if (hd_jv_is(e, HD_JT_NULL)) {
            continue;
        }
        if (!hd_jv_is(e, HD_JT_OBJECT)) {
            return hd_err_set(err, HD_EINVAL, "entities[%zu]: expected an object", i);
        }
        const char *ent = NULL;
        /* The field's path is named only when it is wrong (no formatting per event). */
        rc = hd_dec_str(e, "entity", "entity", &ent, err);
        if (rc < 0) {
            hd_err_prefix(err, "entities[%zu].", i);
            return rc;
        }
        if (c->entity0 == NULL && ent != NULL && ent[0] != '\0') {
            c->entity0 = ent;
        }
        hd_jv info = hd_jv_get(e, "additionalInfo");
        if (info != NULL) {
            rc = hd_event_fill(&ev->host, kv_get(info, K_HOSTNAME));
            if (rc != HD_OK) {
                return rc;
            }
        }
        hd_jv pols = NULL;
        rc = hd_dec_arr(e, "policies", "policies", &pols, err);
        if (rc < 0) {
            hd_err_prefix(err, "entities[%zu].", i);
            return rc;
        }
        if (pols != NULL) {
            c->secure = 1;
            if (c->policy0 == NULL && hd_jv_len(pols) > 0) {
                hd_jv p0 = hd_jv_at(pols, 0);
                c->policy0 = hd_jv_is(p0, HD_JT_OBJECT) ? p0 : NULL;
            }
        }
        hd_jv pes = NULL;
        rc = hd_dec_arr(e, "policyEvents", "policyEvents", &pes, err);
        if (rc < 0) {
            hd_err_prefix(err, "entities[%zu].", i);
            return rc;
        }
        if (pes == NULL) {
            continue;
        }
        c->secure = 1;
        size_t j = 0;
        for (hd_jv pe = hd_jv_first(pes); pe != NULL; pe = hd_jv_next(pes, pe), j++) {
            if (!hd_jv_is(pe, HD_JT_OBJECT)) {
                return hd_err_set(err, HD_EINVAL, "entities[%zu].policyEvents[%zu]: expected an object", i,
                                  j);
            }
            if (c->pe0 == NULL) {
                c->pe0 = pe;
            }
            hd_jv idv = hd_jv_get(pe, "id");
            char tmp[32];
            if (idv != NULL) {
                const char *t = hd_dec_scalar_text(idv, tmp);
                if (t == NULL) {
                    return hd_err_set(err, HD_EINVAL,
                                      "entities[%zu].policyEvents[%zu].id: expected a string or an integer",
                                      i, j);
                }
                rc = peids->len > 0 ? hd_buf_putc(peids, ',') : HD_OK;
                if (rc == HD_OK) {
                    rc = hd_buf_puts(peids, t);
                }
                if (rc != HD_OK) {
                    return rc;
                }
            }
        }
    }
    return HD_OK;
}

/* Strings of a policy event's metrics[]: host names and k8s_ container names. */
static int scan_metrics(hd_jv pe, struct hd_event *ev, const char **hostname)
{
    hd_jv m = hd_jv_get(pe, "metrics");
    if (!hd_jv_is(m, HD_JT_ARRAY)) {
        return HD_OK;
    }
    for (hd_jv v = hd_jv_first(m); v != NULL; v = hd_jv_next(m, v)) {
        if (!hd_jv_is(v, HD_JT_STRING)) {
            continue;
        }
        const char *s = hd_jv_str(v, NULL);
        int k = hd_event_k8s_from_container_name(ev, s);
        if (k < 0) {
            return k;
        }
        if (k == 0 && *hostname == NULL && looks_like_hostname(s)) {
            *hostname = s;
        }
    }
    return HD_OK;
}

/* Classifies the shape and type-checks the members every later step reads. */
static int sd_shape(struct sd *c, struct hd_err *err)
{
    hd_jv root = c->root;
    if (has(root, "originator") || has(root, "content")) {
        c->kind = SD_FORWARDED;
    } else if (!has(root, "alert") && !has(root, "entities") && has(root, "policyId")) {
        c->kind = SD_POLICY_EVENT;
        c->pe0 = root;
        c->secure = 1;
    } else {
        c->kind = SD_NOTIFICATION;
    }
    int rc = hd_dec_obj(root, "alert", "alert", &c->alert, err);
    if (rc >= 0) {
        rc = hd_dec_obj(root, "event", "event", &c->event, err);
    }
    if (rc >= 0) {
        rc = hd_dec_arr(root, "entities", "entities", &c->entities, err);
    }
    if (rc >= 0) {
        rc = hd_dec_obj(root, "content", "content", &c->content, err);
    }
    if (rc >= 0) {
        rc = hd_dec_str(c->alert, "scope", "alert.scope", &c->scope, err);
    }
    if (rc >= 0 && c->kind == SD_FORWARDED) {
        rc = hd_dec_obj(root, "labels", "labels", &c->flabels, err);
    }
    if (rc < 0) {
        return rc;
    }
    if (c->kind == SD_FORWARDED) {
        const char *orig = hd_jv_get_str(root, "originator");
        c->secure = (orig != NULL && strcmp(orig, "policy") == 0) || has(c->content, "policyId") ||
                    has(c->content, "ruleName");
    }
    const char *src = hd_jv_get_str(root, "source");
    if (src != NULL && strstr(src, "Secure") != NULL) {
        c->secure = 1;
    }
    const char *cond = hd_jv_get_str(root, "condition");
    if (cond != NULL && strcmp(cond, "count(policyEvent) > 0") == 0) {
        c->secure = 1;
    }
    return HD_OK;
}

/* Top-level timestamp: microseconds (Monitor, Secure) or nanoseconds (event
 * forwarding), told apart by magnitude. *have_ts = 0 when the payload has
 * none and the arrival time stands in. */
static int sd_time(struct sd *c, struct hd_event *ev, int *have_ts, struct hd_err *err)
{
    hd_jv v = hd_jv_get(c->root, "timestamp");
    *have_ts = 0;
    ev->ts_us = ev->recv_us;
    if (v != NULL) {
        int rc;
        if (hd_jv_is(v, HD_JT_INT)) {
            rc = hd_epoch_i64_to_us(hd_jv_i64(v), &ev->ts_us);
        } else if (hd_jv_is(v, HD_JT_DOUBLE)) {
            rc = hd_epoch_to_us(hd_jv_double(v), &ev->ts_us);
        } else {
            return hd_err_set(err, HD_EINVAL, "timestamp: expected a number (epoch microseconds)");
        }
        if (rc != HD_OK) {
            return hd_err_set(err, HD_EINVAL, "timestamp: out of range");
        }
        *have_ts = 1;
        return HD_OK;
    }
    int rc = hd_dec_time(c->root, "timestampRFC3339Nano", "timestampRFC3339Nano", &ev->ts_us, err);
    if (rc < 0) {
        return rc;
    }
    *have_ts = rc;
    return HD_OK;
}

static int sd_state(struct sd *c, struct hd_event *ev, int *resolved, struct hd_err *err)
{
    const char *st = NULL;
    *resolved = 0;
    ev->state = HD_STATE_ACTIVE;
    int rc = hd_dec_str(c->root, "state", "state", &st, err);
    if (rc >= 0) {
        rc = hd_dec_bool(c->root, "resolved", "resolved", resolved, err);
    }
    if (rc < 0) {
        return rc;
    }
    if (st != NULL && (hd_state_parse(st, &ev->state) != HD_OK || ev->state == HD_STATE_RESOLVED)) {
        return hd_err_set(err, HD_EINVAL, "state: unknown value '%.32s' (expected ACTIVE or OK)", st);
    }
    if (*resolved) {
        ev->state = HD_STATE_RESOLVED; /* resolved by hand wins over the condition's state */
    }
    return HD_OK;
}

/* Severity, name, description, url. */
static int sd_text(struct sd *c, struct hd_event *ev, struct hd_err *err)
{
    int64_t sev = 5;
    int got = hd_dec_i64(c->alert, "severity", "alert.severity", &sev, err);
    if (got == 0) {
        got = hd_dec_i64(c->root, "severity", "severity", &sev, err);
    }
    if (got == 0 && c->pe0 != NULL && c->pe0 != c->root) {
        got = hd_dec_i64(c->pe0, "severity", "entities[].policyEvents[0].severity", &sev, err);
    }
    if (got < 0) {
        return got;
    }
    ev->severity = sev < 0 ? 0 : sev > 7 ? 7 : (int)sev;

    const char *name = NULL, *desc = NULL, *url = NULL;
    int rc = hd_dec_str(c->alert, "name", "alert.name", &name, err);
    if (rc >= 0) {
        rc = hd_dec_str(c->alert, "description", "alert.description", &desc, err);
    }
    if (rc >= 0) {
        rc = hd_dec_str(c->event, "url", "event.url", &url, err);
    }
    if (rc >= 0 && name == NULL) {
        rc = hd_dec_str(c->root, "name", "name", &name, err);
    }
    if (rc >= 0 && desc == NULL) {
        rc = hd_dec_str(c->root, "description", "description", &desc, err);
    }
    if (rc >= 0 && url == NULL) {
        rc = hd_dec_str(c->alert, "editUrl", "alert.editUrl", &url, err);
    }
    if (rc < 0) {
        return rc;
    }
    if (desc == NULL) {
        desc = hd_jv_get_str(c->root, "output");
    }
    if (desc == NULL) {
        desc = hd_jv_get_str(c->content, "output");
    }
    const struct fill_step steps[] = {{&ev->name, name, 0}, {&ev->description, desc, 0}, {&ev->url, url, 0}};
    return fill_all(steps, sizeof(steps) / sizeof(steps[0]));
}

/* host, containerId and k8s fields. */
static int sd_where(struct sd *c, struct hd_event *ev)
{
    const char *scopes[] = {c->entity0, c->scope, NULL};
    const char *metric_host = NULL;
    int rc = scan_metrics(c->pe0, ev, &metric_host);
    /* later policy events may name the host when the first does not */
    for (hd_jv e = hd_jv_first(c->entities); e != NULL && rc == HD_OK && metric_host == NULL;
         e = hd_jv_next(c->entities, e)) {
        hd_jv pes = hd_jv_get(e, "policyEvents");
        for (hd_jv pe = hd_jv_first(pes); pe != NULL && rc == HD_OK && metric_host == NULL;
             pe = hd_jv_next(pes, pe)) {
            rc = scan_metrics(pe, ev, &metric_host);
        }
    }
    if (rc != HD_OK) {
        return rc;
    }
    const char *cname = kv_get(c->fields0, K_CNAME);
    if (cname == NULL) {
        cname = kv_get(c->flabels, K_CNAME);
    }
    rc = hd_event_k8s_from_container_name(ev, cname);
    if (rc < 0) {
        return rc;
    }
    char s_host[256], s_mac[256], s_cid[256], s_ns[256], s_pod[256], s_dep[256];
    const char *dep = kv_get(c->flabels, K_DEPLOY);
    if (dep == NULL) {
        dep = scope_lookup(scopes, K_DEPLOY, s_dep, sizeof(s_dep));
    }
    const struct fill_step steps[] = {
        /* host: additionalInfo (walk_entities) > forwarded labels > metrics > scope > MAC */
        {&ev->host, kv_get(c->flabels, K_HOSTNAME), 0},
        {&ev->host, metric_host, 0},
        {&ev->host, scope_lookup(scopes, K_HOSTNAME, s_host, sizeof(s_host)), 0},
        {&ev->host, hd_jv_get_str(c->pe0, "hostMac"), 0},
        {&ev->host, hd_jv_get_str(c->root, "machineId"), 0},
        {&ev->host, scope_lookup(scopes, K_HOSTMAC, s_mac, sizeof(s_mac)), 0},
        {&ev->container_id, hd_jv_get_str(c->pe0, "containerId"), 1},
        {&ev->container_id, hd_jv_get_str(c->root, "containerId"), 1},
        {&ev->container_id, kv_get(c->fields0, K_CID), 1},
        {&ev->container_id, kv_get(c->flabels, K_CID), 1},
        {&ev->container_id, scope_lookup(scopes, K_CID, s_cid, sizeof(s_cid)), 1},
        {&ev->k8s_namespace, kv_get(c->flabels, K_NS), 0},
        {&ev->k8s_namespace, kv_get(c->fields0, K_NS), 0},
        {&ev->k8s_namespace, scope_lookup(scopes, K_NS, s_ns, sizeof(s_ns)), 0},
        {&ev->k8s_pod, kv_get(c->flabels, K_POD), 0},
        {&ev->k8s_pod, kv_get(c->fields0, K_POD), 0},
        {&ev->k8s_pod, scope_lookup(scopes, K_POD, s_pod, sizeof(s_pod)), 0},
        {&ev->k8s_kind, dep != NULL && ev->k8s_name == NULL ? "Deployment" : NULL, 0},
        {&ev->k8s_name, dep, 0},
    };
    return fill_all(steps, sizeof(steps) / sizeof(steps[0]));
}

/* Labels; also hands back the alert and event ids as text for the keys. */
static int sd_labels(struct sd *c, struct hd_event *ev, const char **alert_id, const char **event_id,
                     char tmp_a[32], char tmp_e[32])
{
    static const char *const K_RULE[] = {"falco.rule", NULL};
    hd_jv aid = hd_jv_get(c->alert, "id");
    hd_jv eid = hd_jv_get(c->event, "id");
    if (eid == NULL && c->kind != SD_NOTIFICATION) {
        eid = hd_jv_get(c->root, "id");
    }
    hd_jv pid = hd_jv_get(c->policy0, "id");
    if (pid == NULL && c->pe0 != NULL) {
        pid = hd_jv_get(c->pe0, "policyId");
    }
    if (pid == NULL && c->content != NULL) {
        pid = hd_jv_get(c->content, "policyId");
    }
    const char *rule = kv_get(c->fields0, K_RULE);
    if (rule == NULL) {
        rule = hd_jv_get_str(c->content, "ruleName");
    }
    const char *rule_type = hd_jv_get_str(c->pe0, "ruleType");
    if (rule_type == NULL) {
        rule_type = hd_jv_get_str(c->content, "ruleType");
    }
    const char *scopes[] = {c->entity0, c->scope, NULL};
    char s_cname[256];
    const char *cname = kv_get(c->fields0, K_CNAME);
    if (cname == NULL) {
        cname = scope_lookup(scopes, K_CNAME, s_cname, sizeof(s_cname));
    }
    char tmp_p[32];
    *alert_id = hd_dec_scalar_text(aid, tmp_a);
    *event_id = hd_dec_scalar_text(eid, tmp_e);
    const struct hd_label_kv pairs[] = {
        {"alertId", *alert_id},
        {"eventId", *event_id},
        {"policyId", hd_dec_scalar_text(pid, tmp_p)},
        {"policyName", hd_jv_get_str(c->policy0, "name")},
        {"rule", rule},
        {"ruleType", rule_type},
        {"condition", hd_jv_get_str(c->root, "condition")},
        {"scope", c->scope},
        {"entity", c->entity0},
        {"severityLabel", hd_jv_get_str(c->alert, "severityLabel")},
        {"containerName", cname},
        {"category", hd_jv_get_str(c->root, "category")},
        {"originator", hd_jv_get_str(c->root, "originator")},
    };
    struct hd_labels lab;
    hd_labels_init(&lab);
    int rc = hd_labels_add_pairs(&lab, pairs, sizeof(pairs) / sizeof(pairs[0]));
    if (rc == HD_OK) {
        rc = hd_labels_add_strings(&lab, c->flabels);
    }
    return hd_labels_end(&lab, rc, &ev->labels);
}

/* alertKey (same for ACTIVE and OK of one alert on one entity) and id (the
 * source's own identifiers: SPEC section 5). */
/* What identifies one occurrence, gathered by sysdig_decode. */
struct sd_ids {
    const char *alert_id, *event_id;
    const struct hd_buf *peids; /* policy event ids, comma-joined */
    int have_ts, resolved;
};

static int sd_keys(struct sd *c, struct hd_event *ev, const struct sd_ids *ids)
{
    const char *alert_id = ids->alert_id;
    const char *event_id = ids->event_id;
    const struct hd_buf *peids = ids->peids;
    int have_ts = ids->have_ts;
    int resolved = ids->resolved;
    const char *ident = alert_id != NULL ? alert_id : ev->name;
    const char *where = c->entity0 != NULL                          ? c->entity0
                        : (c->scope != NULL && c->scope[0] != '\0') ? c->scope
                                                                    : NULL;
    struct hd_buf key, canon;
    hd_buf_init(&key, 0);
    hd_buf_init(&canon, 0);
    /* "sysdig:IDENT:WHERE" or "sysdig:IDENT:HOST/CONTAINER", without printf
     * (one call per event on the ingest path). */
    const char *kp[] = {"sysdig:",
                        ident,
                        ":",
                        where != NULL ? where : ev->host,
                        where != NULL ? NULL : "/",
                        where != NULL ? NULL : ev->container_id};
    int rc = HD_OK;
    for (size_t i = 0; i < sizeof(kp) / sizeof(kp[0]) && rc == HD_OK; i++) {
        rc = hd_buf_puts(&key, kp[i] != NULL ? kp[i] : "");
    }
    if (rc != HD_OK) {
        goto out;
    }
    ev->alert_key = hd_buf_steal(&key, NULL);
    if (ev->alert_key == NULL) {
        rc = HD_ENOMEM;
        goto out;
    }
    char ts_text[32];
    hd_fmt_i64(ts_text, ev->ts_us);
    const char *parts[8] = {ev->source,
                            ident,
                            event_id,
                            peids->len ? peids->p : NULL,
                            have_ts ? ts_text : NULL,
                            hd_state_name(ev->state),
                            resolved ? "1" : "0",
                            NULL};
    size_t nparts = 7;
    if (event_id == NULL && peids->len == 0 && !have_ts) {
        /* nothing identifies this occurrence: its content must */
        rc = hd_jv_canonical(c->root, &canon);
        if (rc != HD_OK) {
            goto out;
        }
        parts[nparts++] = canon.p;
    }
    hd_event_set_id(ev, ev->ts_us != ev->recv_us ? ev->ts_us : 0, parts, nparts);
out:
    hd_buf_free(&key);
    hd_buf_free(&canon);
    return rc;
}

static int sysdig_decode(const struct hd_doc *doc, struct hd_batch *out, struct hd_err *err)
{
    struct sd c = {.root = doc->root};
    struct hd_buf peids;
    hd_buf_init(&peids, 0);
    int have_ts = 0, resolved = 0;
    char tmp_a[32], tmp_e[32];
    const char *alert_id = NULL, *event_id = NULL;
    int rc;

    struct hd_event *ev = hd_batch_push(out);
    if (ev == NULL) {
        rc = HD_ENOMEM;
        goto out;
    }
    ev->recv_us = doc->recv_us;
    rc = hd_event_set_raw(ev, doc);
    if (rc == HD_OK) {
        rc = sd_shape(&c, err);
    }
    if (rc == HD_OK) {
        rc = sd_time(&c, ev, &have_ts, err);
    }
    if (rc == HD_OK) {
        rc = sd_state(&c, ev, &resolved, err);
    }
    if (rc == HD_OK) {
        rc = walk_entities(&c, ev, &peids, err);
    }
    if (rc != HD_OK) {
        goto out;
    }
    ev->source = hd_source_name(c.secure ? HD_SRC_SYSDIG_SECURE : HD_SRC_SYSDIG_MONITOR);
    if (c.pe0 == c.root) {
        hd_jv idv = hd_jv_get(c.root, "id");
        const char *t = hd_dec_scalar_text(idv, tmp_a);
        if (t != NULL) {
            rc = hd_buf_puts(&peids, t);
        }
    }
    hd_jv holder = c.pe0 != NULL ? c.pe0 : c.content;
    if (holder != NULL) {
        c.fields0 = hd_jv_get(holder, "fields");
    }
    if (rc == HD_OK) {
        rc = sd_text(&c, ev, err);
    }
    if (rc == HD_OK) {
        rc = sd_where(&c, ev);
    }
    if (rc == HD_OK) {
        rc = sd_labels(&c, ev, &alert_id, &event_id, tmp_a, tmp_e);
    }
    if (rc == HD_OK) {
        struct sd_ids ids = {.alert_id = alert_id,
                             .event_id = event_id,
                             .peids = &peids,
                             .have_ts = have_ts,
                             .resolved = resolved};
        rc = sd_keys(&c, ev, &ids);
    }
out:
    hd_buf_free(&peids);
    return rc;
}

const struct hd_decoder hd_decoder_sysdig = {
    .name = "sysdig",
    .detect = sysdig_detect,
    .decode = sysdig_decode,
};
