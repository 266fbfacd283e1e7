/* field.h - an event's value at a field path (SPEC 4: options.match,
 * options.throttle.key, LOKI options.labels), one reader for every layer
 * above the model. */
#ifndef HD_FIELD_H
#define HD_FIELD_H

#include <stddef.h>

#include "json/json.h"
#include "model/event.h"

/* The documents of one event parsed on demand (labels, the original), each at
 * most once however many paths are looked up; zero-initialise, then
 * hd_event_docs_free. */
struct hd_event_docs {
    json_object *labels;
    json_object *raw;
    int labels_done;
    int raw_done;
};
void hd_event_docs_free(struct hd_event_docs *d);

/* The event's value at a field path (options.match, options.throttle.key,
 * LOKI options.labels:
 * id, source, severity, state, name, description, url, host, containerId,
 * alertKey, k8s.<namespace|pod|container|kind|name>, labels.<key>,
 * raw.<path>) as text: JSON scalars in their JSON form, objects and arrays
 * none. NULL when absent. num is scratch for the severity. */
const char *hd_event_field(const struct hd_event *ev, const char *path, struct hd_event_docs *d, char *num,
                           size_t numsz);

#endif
