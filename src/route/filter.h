/* filter.h - does a channel want this event? (SPEC section 4, 5)
 * minSeverity, sources, match, notifyOnOk / notifyOnResolve, on the stored
 * columns; match paths into raw.* parse the original (only then). */
#ifndef HD_FILTER_H
#define HD_FILTER_H

#include "channel/channel.h"
#include "model/event.h"

int hd_filter_accepts(const struct hd_channel_common *c, const struct hd_event *ev);

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

/* The event's value at a field path (options.match, options.throttle.key:
 * id, source, severity, state, name, description, url, host, containerId,
 * alertKey, k8s.<namespace|pod|container|kind|name>, labels.<key>,
 * raw.<path>) as text: JSON scalars in their JSON form, objects and arrays
 * none. NULL when absent. num is scratch for the severity. */
const char *hd_event_field(const struct hd_event *ev, const char *path, struct hd_event_docs *d, char *num,
                           size_t numsz);

#endif
