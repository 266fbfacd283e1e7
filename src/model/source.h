/* source.h - the sources of events (SPEC section 5): one table, read everywhere.
 *
 * DESIGN: a source is what produced an event (sysdig_secure, falco, ...); a
 * format is how its bytes are decoded (?format=sysdig decodes both Sysdig
 * sources). The table lives in the model layer because the store (which must
 * read a stored source back), the channels (options.sources, the Splunk
 * sourcetype) and the API all sit above it; the decoders in input/ name their
 * source through it. Adding a source is one line in source.c.
 */
#ifndef HD_SOURCE_H
#define HD_SOURCE_H

#include <stddef.h>

#include "core/buf.h"

enum hd_source_id {
    HD_SRC_SYSDIG_MONITOR,
    HD_SRC_SYSDIG_SECURE,
    HD_SRC_FALCO,
    HD_SRC_ALERTMANAGER,
    HD_SRC_KUBERNETES,
    HD_SRC_DOCKER,
    HD_SRC_GENERIC,
    HD_SRC_COUNT
};

struct hd_source {
    const char *name;       /* "sysdig_secure": the event's source, API and store value */
    const char *format;     /* "sysdig": the decoder (?format=) that yields it */
    const char *sourcetype; /* Splunk HEC sourcetype (SPEC 7); NULL: "_json" */
};

/* The table entry of a source id (id < HD_SRC_COUNT). */
const struct hd_source *hd_source(enum hd_source_id id);
/* The static name of a source id: what hd_event.source points at. */
const char *hd_source_name(enum hd_source_id id);
/* The entry whose name is s, or NULL if s is no source (NULL s: NULL). */
const struct hd_source *hd_source_find(const char *s);
/* Appends "a, b, c" (every source name, in table order) to out, for messages. */
int hd_source_names_join(struct hd_buf *out);

#endif
