/* field.c - an event's value at a field path (see field.h). The labels and
 * the original document are parsed only when a path points into them, at
 * most once per struct hd_event_docs. */
#include "model/field.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Text form of a JSON value for equality with a match value (which was
 * stored from a string, number or boolean the same way). NULL: no match. */
static const char *json_text(json_object *v)
{
    if (v == NULL) {
        return NULL;
    }
    switch (json_object_get_type(v)) {
    case json_type_string:
    case json_type_int:
    case json_type_double:
    case json_type_boolean: return json_object_get_string(v);
    default: return NULL;
    }
}

static json_object *parse_once(const char *text, size_t len, json_object **slot, int *done)
{
    if (!*done) {
        *done = 1;
        *slot = text != NULL ? hd_json_parse(text, len, NULL) : NULL;
    }
    return *slot;
}

void hd_event_docs_free(struct hd_event_docs *d)
{
    json_object_put(d->labels);
    json_object_put(d->raw);
    d->labels = d->raw = NULL;
    d->labels_done = d->raw_done = 0;
}

/* The event's text columns by field path, one row each; source, id,
 * severity, state and the documents (labels.*, raw.*) are the special cases
 * of hd_event_field. */
static const struct {
    const char *path;
    size_t off; /* of a char * member of struct hd_event */
} text_fields[] = {
    {"name", offsetof(struct hd_event, name)},
    {"description", offsetof(struct hd_event, description)},
    {"url", offsetof(struct hd_event, url)},
    {"host", offsetof(struct hd_event, host)},
    {"containerId", offsetof(struct hd_event, container_id)},
    {"alertKey", offsetof(struct hd_event, alert_key)},
    {"k8s.namespace", offsetof(struct hd_event, k8s_namespace)},
    {"k8s.pod", offsetof(struct hd_event, k8s_pod)},
    {"k8s.container", offsetof(struct hd_event, k8s_container)},
    {"k8s.kind", offsetof(struct hd_event, k8s_kind)},
    {"k8s.name", offsetof(struct hd_event, k8s_name)},
};

const char *hd_event_field(const struct hd_event *ev, const char *path, struct hd_event_docs *d, char *num,
                           size_t numsz)
{
    if (strcmp(path, "source") == 0) {
        return ev->source;
    }
    if (strcmp(path, "severity") == 0) {
        snprintf(num, numsz, "%d", ev->severity);
        return num;
    }
    if (strcmp(path, "state") == 0) {
        return hd_state_name(ev->state);
    }
    if (strcmp(path, "id") == 0) {
        return ev->id;
    }
    for (size_t i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++) {
        if (strcmp(path, text_fields[i].path) == 0) {
            return *(char *const *)((const char *)ev + text_fields[i].off);
        }
    }
    if (strncmp(path, "labels.", 7) == 0) {
        json_object *l =
            parse_once(ev->labels, ev->labels ? strlen(ev->labels) : 0, &d->labels, &d->labels_done);
        json_object *v = NULL;
        /* Label keys may hold dots (Falco output fields "fd.name"): member, not path. */
        if (l == NULL || !json_object_object_get_ex(l, path + 7, &v)) {
            return NULL;
        }
        return json_text(v);
    }
    if (strncmp(path, "raw.", 4) == 0) {
        json_object *r = parse_once(ev->raw, ev->raw_len, &d->raw, &d->raw_done);
        return r != NULL ? json_text(hd_json_path(r, path + 4)) : NULL;
    }
    return NULL;
}
