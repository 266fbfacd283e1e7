/* decoder.h - input formats (SPEC section 4 "?format=", section 5).
 *
 * DESIGN: a static table of decoders (decoders.c), one file per format.
 * hd_ingest_decode splits a request body into documents (one JSON object, a
 * JSON array, or NDJSON), parses each once, picks a decoder per document
 * (the ?format= one, else the highest detect() score) and appends the
 * resulting events to the batch. All or nothing: on error the batch is left
 * as it was and err names the document (1-based) and byte position.
 */
#ifndef HD_DECODER_H
#define HD_DECODER_H

#include <stddef.h>

#include "core/err.h"
#include "input/event.h"
#include "json/json.h"

struct hd_doc {
    const char *raw;      /* the document's original bytes */
    size_t len;
    json_object *root;    /* parsed once */
    size_t index;         /* 1-based document number in the request */
    int64_t recv_us;
};

struct hd_decoder {
    const char *name;                       /* "sysdig", "generic", ... (the ?format= value) */
    /* 0 = not mine, higher = more certain (generic answers 1). */
    int (*detect)(json_object *root);
    /* Appends one or more events (raw copied from doc). err names the field. */
    int (*decode)(const struct hd_doc *doc, struct hd_batch *out, struct hd_err *err);
};

const struct hd_decoder *hd_decoder_find(const char *name);
int hd_decoder_registry_check(struct hd_err *err);

/* content_type may be NULL; "application/x-ndjson" forces NDJSON splitting,
 * otherwise a body starting with '[' is an array, else NDJSON if it has
 * several top-level values on separate lines, else one object. */
int hd_ingest_decode(const char *body, size_t len, const char *content_type, const char *format,
                     struct hd_batch *out, struct hd_err *err);

/* Shared by decoders: fills id = hash of the given parts joined by '\x1f'. */
void hd_event_set_id(struct hd_event *ev, const char *const *parts, size_t n);

#endif
