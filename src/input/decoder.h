/* decoder.h - input formats (SPEC section 4 "?format=", section 5).
 *
 * DESIGN: a static table of decoders (decoders.c), one file per format.
 * hd_ingest_decode splits a request body into documents (one JSON object, a
 * JSON array, or NDJSON), parses each once into a tape (json/jtape.h: no
 * tree of allocations, one reused arena per request), picks a decoder per document
 * (the ?format= one, else the highest detect() score) and appends the
 * resulting events to the batch. All or nothing: on error the batch is left
 * as it was and err names the document (1-based) and byte position. With
 * out->flush set the events go to it in parts as they are decoded (see
 * struct hd_batch: the last part stays in out); on error the parts already
 * flushed are the receiver's to undo.
 */
#ifndef HD_DECODER_H
#define HD_DECODER_H

#include <stddef.h>

#include "core/err.h"
#include "model/event.h"
#include "model/source.h"
#include "json/jtape.h"

struct hd_doc {
    const char *raw; /* the document's original bytes */
    size_t len;
    hd_jv root;   /* parsed once (a tape owned by the caller; JSON object) */
    size_t index; /* 1-based document number in the request */
    int64_t recv_us;
    int borrow; /* hd_event_set_raw points into raw instead of copying (hd_batch.borrow_raw) */
};

struct hd_decoder {
    const char *name; /* "sysdig", "generic", ... (the ?format= value) */
    /* 0 = not mine, higher = more certain (generic answers 1). */
    int (*detect)(hd_jv root);
    /* Appends one or more events (raw copied from doc). err names the field. */
    int (*decode)(const struct hd_doc *doc, struct hd_batch *out, struct hd_err *err);
};

const struct hd_decoder *hd_decoder_find(const char *name);
int hd_decoder_registry_check(struct hd_err *err);
/* Appends "sysdig, falco, ..." (every format, in registry order) to out. */
int hd_decoder_names_join(struct hd_buf *out);

/* content_type may be NULL; "application/x-ndjson" forces NDJSON splitting,
 * otherwise a body starting with '[' is an array, else NDJSON if it has
 * several top-level values on separate lines, else one object. */
int hd_ingest_decode(const char *body, size_t len, const char *content_type, const char *format,
                     struct hd_batch *out, struct hd_err *err);

/* Shared by decoders: fills the 128-bit id: 32 bits of the source's own
 * event time in seconds (time_us; 0 when the source gives none or it is not
 * stable for the event) followed by 96 bits of SHA-256 over the parts joined
 * by '\x1f' (a NULL part hashes differently from ""). The time prefix keeps
 * ids of live traffic ordered, so the store's unique index appends instead
 * of touching a random page per event; the id stays a pure function of the
 * source's identifiers (same event, same id). */
void hd_event_set_id(struct hd_event *ev, int64_t time_us, const char *const *parts, size_t n);

/* ---- Helpers shared by decoders (decoders.c) ----
 *
 * Typed member lookups. `what` is the field as the user should read it in an
 * error ("alert.severity"); hd_ingest_decode prefixes "document N: ".
 * Return 1 and set *out when present with the right type, 0 when absent or
 * JSON null (*out untouched), HD_EINVAL "what: expected a string" otherwise. */
int hd_dec_str(hd_jv obj, const char *key, const char *what, const char **out, struct hd_err *err);
int hd_dec_obj(hd_jv obj, const char *key, const char *what, hd_jv *out, struct hd_err *err);
int hd_dec_arr(hd_jv obj, const char *key, const char *what, hd_jv *out, struct hd_err *err);
/* Integer, or a double with no fraction. */
int hd_dec_i64(hd_jv obj, const char *key, const char *what, int64_t *out, struct hd_err *err);
int hd_dec_bool(hd_jv obj, const char *key, const char *what, int *out, struct hd_err *err);

/* A string or an integer as text (ids come as both): borrowed, or written
 * into tmp. NULL if v is neither. */
const char *hd_dec_scalar_text(hd_jv v, char tmp[32]);

/* Epoch time of unknown unit to microseconds, by magnitude: < 1e11 seconds,
 * < 1e14 milliseconds, < 1e17 microseconds, else nanoseconds. HD_EINVAL if
 * negative or not finite. */
int hd_epoch_to_us(double v, int64_t *out);
int hd_epoch_i64_to_us(int64_t v, int64_t *out);
/* A JSON number (by magnitude) or an RFC 3339 string. 1 if converted, 0 if
 * absent/null, HD_EINVAL naming `what` otherwise. */
int hd_dec_time(hd_jv obj, const char *key, const char *what, int64_t *out, struct hd_err *err);

/* Sets ev->raw / raw_len to doc->raw: a copy, or with doc->borrow a pointer into it. */
int hd_event_set_raw(struct hd_event *ev, const struct hd_doc *doc);
/* Gives ev the malloc'd raw p (len bytes, NUL-terminated), freeing or forgetting the old one. */
void hd_event_own_raw(struct hd_event *ev, char *p, size_t len);
/* Replaces *dst by a copy of s (NULL clears it). */
int hd_event_set_str(char **dst, const char *s);
/* Sets *dst to a copy of s unless *dst is already set or s is NULL or "":
 * the first present of several alternatives wins. */
int hd_event_fill(char **dst, const char *s);

/* Builds ev->labels: a flat JSON object of string values, first key wins.
 * Keys must stay valid until hd_labels_finish. */
#define HD_LABELS_MAX 32
struct hd_labels {
    struct hd_buf buf;
    const char *keys[HD_LABELS_MAX];
    size_t n;
};
void hd_labels_init(struct hd_labels *l);
int hd_labels_add(struct hd_labels *l, const char *key, const char *val); /* NULL/"" val: skipped */
/* Hands the object text to *out (NULL when no label was added) and frees l. */
int hd_labels_finish(struct hd_labels *l, char **out);
void hd_labels_free(struct hd_labels *l);
/* One fixed label for hd_labels_add_pairs. */
struct hd_label_kv {
    const char *key, *val;
};
/* hd_labels_add of each pair in order, stopping at the first error. */
int hd_labels_add_pairs(struct hd_labels *l, const struct hd_label_kv *kv, size_t n);
/* hd_labels_add of every string member of obj, in order (other values are
 * skipped; obj NULL or no object: nothing). */
int hd_labels_add_strings(struct hd_labels *l, hd_jv obj);
/* A decoder's labels tail: when rc is HD_OK finishes l into *out, frees l
 * either way, and returns the outcome. */
int hd_labels_end(struct hd_labels *l, int rc, char **out);

/* Appends the event for doc to out with source, recv_us and
 * HD_STATE_ACTIVE set; NULL when out of memory. */
struct hd_event *hd_dec_push_event(struct hd_batch *out, const struct hd_doc *doc, enum hd_source_id source);

#endif
