/* docker.c - Docker Engine API event messages (GET /events lines), SPEC
 * section 5; also what Podman's Docker-compatible API sends.
 *
 * DESIGN: the message is Type, Action, Actor{ID, Attributes}, scope, time
 * (seconds) and timeNano (nanoseconds, ~1.8e18: read as int64, never as a
 * double, so the id keeps every digit). API versions before 1.52 also send
 * the deprecated status/id/from; the oldest messages have only those, and
 * they stand in for Action/Actor.ID/Attributes.image when the new ones are
 * absent. Severity follows SPEC: oom 3, die with a non-zero exitCode 4,
 * everything else 6. Actions may carry a detail after ": " ("exec_start:
 * sh", "health_status: healthy"): the part before it is the action.
 * Containers started by the kubelet's dockershim are named
 * k8s_<container>_<pod>_<namespace>_<uid>_<attempt> and labelled
 * io.kubernetes.*: both fill the k8s fields. The description mimics the
 * `docker events` text line: "container die <id> (exitCode=1, name=web)".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "input/decoder.h"

static int docker_detect(hd_jv root)
{
    if (hd_jv_get_str(root, "Type") != NULL && hd_jv_get_str(root, "Action") != NULL &&
        hd_jv_is(hd_jv_get(root, "Actor"), HD_JT_OBJECT)) {
        return 80;
    }
    /* pre-1.22 messages: {"status":"die","id":"...","from":"alpine","time":N} */
    if (hd_jv_get_str(root, "status") != NULL && hd_jv_get_str(root, "id") != NULL &&
        hd_jv_get_str(root, "from") != NULL && hd_jv_has(root, "time")) {
        return 50;
    }
    return 0;
}

struct dk {
    hd_jv root, actor, attrs;
    const char *type, *action, *actor_id, *from;
    char base[64]; /* action before ':' */
    int64_t time_nano;
    int have_nano;
};

/* String attribute, or NULL (absent, empty, or not a string). */
static const char *attr(const struct dk *d, const char *key)
{
    const char *s = hd_jv_get_str(d->attrs, key);
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static int dk_read(struct dk *d, struct hd_event *ev, struct hd_err *err)
{
    hd_jv r = d->root;
    const char *status = NULL, *legacy_id = NULL;
    int rc = 0;
    if (hd_dec_str(r, "Type", "Type", &d->type, err) < 0 ||
        hd_dec_str(r, "Action", "Action", &d->action, err) < 0 ||
        hd_dec_obj(r, "Actor", "Actor", &d->actor, err) < 0 ||
        hd_dec_obj(d->actor, "Attributes", "Actor.Attributes", &d->attrs, err) < 0 ||
        hd_dec_str(d->actor, "ID", "Actor.ID", &d->actor_id, err) < 0 ||
        hd_dec_str(r, "status", "status", &status, err) < 0 ||
        hd_dec_str(r, "id", "id", &legacy_id, err) < 0 || hd_dec_str(r, "from", "from", &d->from, err) < 0) {
        return HD_EINVAL;
    }
    if (d->action == NULL) {
        d->action = status;
    }
    if (d->action == NULL || d->action[0] == '\0') {
        return hd_err_set(err, HD_EINVAL, "Action: required (a Docker event names its action)");
    }
    if (d->type == NULL) {
        d->type = "container"; /* the only type the legacy format reported */
    }
    if (d->actor_id == NULL || d->actor_id[0] == '\0') {
        d->actor_id = legacy_id;
    }
    size_t n = strcspn(d->action, ":");
    if (n >= sizeof(d->base)) {
        n = sizeof(d->base) - 1;
    }
    memcpy(d->base, d->action, n);
    d->base[n] = '\0';

    rc = hd_dec_i64(r, "timeNano", "timeNano", &d->time_nano, err);
    if (rc < 0) {
        return rc;
    }
    if (rc == 1) {
        if (d->time_nano < 0) {
            return hd_err_set(err, HD_EINVAL, "timeNano: must not be negative");
        }
        d->have_nano = 1;
        ev->ts_us = d->time_nano / 1000;
        return HD_OK;
    }
    int64_t secs = 0;
    rc = hd_dec_i64(r, "time", "time", &secs, err);
    if (rc < 0) {
        return rc;
    }
    ev->ts_us = ev->recv_us;
    if (rc == 1) {
        /* timeNano must fit int64: seconds up to 2262-04-11 */
        if (secs < 0 || secs > INT64_MAX / 1000000000LL) {
            return hd_err_set(err, HD_EINVAL, "time: out of range (epoch seconds expected)");
        }
        ev->ts_us = secs * 1000000;
        d->time_nano = secs * 1000000000LL;
        d->have_nano = 1;
    }
    return HD_OK;
}

/* SPEC section 5: oom 3, die with a non-zero exit code 4, others 6. */
static int dk_severity(const struct dk *d, struct hd_err *err, int *sev)
{
    *sev = 6;
    if (strcmp(d->base, "oom") == 0) {
        *sev = 3;
        return HD_OK;
    }
    if (strcmp(d->base, "die") != 0) {
        return HD_OK;
    }
    hd_jv v = hd_jv_get(d->attrs, "exitCode");
    if (v == NULL) {
        return HD_OK;
    }
    int64_t code = 0;
    if (hd_jv_is(v, HD_JT_INT)) {
        code = hd_jv_i64(v);
    } else if (!hd_jv_is(v, HD_JT_STRING) || hd_parse_i64(hd_jv_str(v, NULL), &code) != HD_OK) {
        /* the value as json-c prints it: a rare error path, a json-c copy is fine */
        json_object *jv = hd_jv_to_json_c(v);
        hd_err_set(err, HD_EINVAL, "Actor.Attributes.exitCode: expected an integer, got '%.32s'",
                   jv != NULL ? json_object_get_string(jv) : "");
        json_object_put(jv);
        return HD_EINVAL;
    }
    if (code != 0) {
        *sev = 4;
    }
    return HD_OK;
}

static int dk_where(const struct dk *d, struct hd_event *ev)
{
    int is_container = strcmp(d->type, "container") == 0;
    const char *cid = is_container ? d->actor_id : attr(d, "container"); /* network connect/disconnect */
    const char *cname = is_container ? attr(d, "name") : NULL;
    const struct {
        char **dst;
        const char *val;
    } steps[] = {
        {&ev->container_id, cid},
        {&ev->k8s_namespace, attr(d, "io.kubernetes.pod.namespace")},
        {&ev->k8s_pod, attr(d, "io.kubernetes.pod.name")},
        {&ev->k8s_container, attr(d, "io.kubernetes.container.name")},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int rc = hd_event_fill(steps[i].dst, steps[i].val);
        if (rc != HD_OK) {
            return rc;
        }
    }
    /* the pause container of a pod is named k8s_POD_...: still that pod */
    int k = hd_event_k8s_from_container_name(ev, cname);
    if (k < 0) {
        return k;
    }
    if (ev->k8s_pod != NULL && ev->k8s_kind == NULL) {
        int rc = hd_event_fill(&ev->k8s_kind, "Pod");
        if (rc == HD_OK) {
            rc = hd_event_fill(&ev->k8s_name, ev->k8s_pod);
        }
        return rc;
    }
    return HD_OK;
}

/* "container die 0fdb48addc82 (exitCode=143, image=alpine, name=test)". */
static int dk_text(const struct dk *d, struct hd_event *ev)
{
    struct hd_buf b;
    hd_buf_init(&b, 0);
    int rc = hd_buf_printf(&b, "%s %s", d->type, d->base);
    if (rc == HD_OK && d->actor_id != NULL && d->actor_id[0] != '\0') {
        rc = hd_buf_printf(&b, " %s", d->actor_id);
    }
    size_t nattr = 0;
    if (rc == HD_OK && d->attrs != NULL) {
        struct hd_jv_iter it;
        const char *k;
        hd_jv v;
        hd_jv_iter_init(&it, d->attrs);
        while (rc == HD_OK && hd_jv_iter_next(&it, &k, &v)) {
            if (hd_jv_is(v, HD_JT_STRING)) {
                rc = hd_buf_printf(&b, "%s%s=%s", nattr++ ? ", " : " (", k, hd_jv_str(v, NULL));
            }
        }
        if (rc == HD_OK && nattr > 0) {
            rc = hd_buf_putc(&b, ')');
        }
    }
    if (rc == HD_OK && strcmp(d->action, d->base) != 0) {
        rc = hd_buf_printf(&b, " [%s]", d->action); /* the action's detail */
    }
    if (rc == HD_OK) {
        ev->description = hd_buf_steal(&b, NULL);
        rc = ev->description == NULL ? HD_ENOMEM : HD_OK;
    }
    hd_buf_free(&b);
    if (rc == HD_OK) {
        /* name: what happened, to which kind of thing ("container die") */
        char nm[128];
        snprintf(nm, sizeof(nm), "%s %s", d->type, d->base);
        rc = hd_event_set_str(&ev->name, nm);
    }
    return rc;
}

static int dk_labels(const struct dk *d, struct hd_event *ev)
{
    const char *image = attr(d, "image");
    if (image == NULL) {
        image = d->from;
    }
    const struct hd_label_kv pairs[] = {
        {"type", d->type},
        {"action", d->action},
        {"actorId", d->actor_id},
        {"image", image},
        {"scope", hd_jv_get_str(d->root, "scope")},
    };
    struct hd_labels lab;
    hd_labels_init(&lab);
    int rc = hd_labels_add_pairs(&lab, pairs, sizeof(pairs) / sizeof(pairs[0]));
    if (rc == HD_OK) {
        rc = hd_labels_add_strings(&lab, d->attrs);
    }
    return hd_labels_end(&lab, rc, &ev->labels);
}

static int docker_decode(const struct hd_doc *doc, struct hd_batch *out, struct hd_err *err)
{
    struct dk d = {.root = doc->root};
    struct hd_buf key, canon;
    hd_buf_init(&key, 0);
    hd_buf_init(&canon, 0);
    int rc;

    struct hd_event *ev = hd_dec_push_event(out, doc, HD_SRC_DOCKER);
    if (ev == NULL) {
        rc = HD_ENOMEM;
        goto out;
    }
    rc = dk_read(&d, ev, err);
    if (rc == HD_OK) {
        rc = dk_severity(&d, err, &ev->severity);
    }
    if (rc == HD_OK) {
        rc = hd_event_set_raw(ev, doc);
    }
    if (rc == HD_OK) {
        rc = dk_text(&d, ev);
    }
    if (rc == HD_OK) {
        rc = dk_where(&d, ev);
    }
    if (rc == HD_OK) {
        rc = dk_labels(&d, ev);
    }
    if (rc == HD_OK) {
        rc = hd_buf_printf(&key, "docker:%s:%s:%s", ev->name, ev->host ? ev->host : "",
                           d.actor_id ? d.actor_id : "");
    }
    if (rc == HD_OK) {
        ev->alert_key = hd_buf_steal(&key, NULL);
        rc = ev->alert_key == NULL ? HD_ENOMEM : HD_OK;
    }
    if (rc == HD_OK && !d.have_nano) {
        rc = hd_jv_canonical(doc->root, &canon); /* no time: the content identifies it */
    }
    if (rc == HD_OK) {
        char nano[32];
        snprintf(nano, sizeof(nano), "%lld", (long long)d.time_nano);
        const char *parts[] = {"docker", d.have_nano ? nano : canon.p, d.actor_id, d.action};
        hd_event_set_id(ev, d.have_nano ? d.time_nano / 1000 : 0, parts, 4);
    }
out:
    hd_buf_free(&key);
    hd_buf_free(&canon);
    return rc;
}

const struct hd_decoder hd_decoder_docker = {
    .name = "docker",
    .detect = docker_detect,
    .decode = docker_decode,
};
