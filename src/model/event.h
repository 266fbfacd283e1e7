/* event.h - the normalized event (SPEC section 5) and a batch of them.
 *
 * Every string is owned by the event (malloc'd) and freed by hd_event_clear;
 * NULL means absent. raw holds the original document byte for byte.
 */
#ifndef HD_EVENT_H
#define HD_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct hd_slab; /* core/slab.h */

enum hd_state { HD_STATE_ACTIVE = 0, HD_STATE_OK = 1, HD_STATE_RESOLVED = 2 };

struct hd_event {
    int64_t seq;        /* store-assigned, monotonically increasing; 0 before append */
    char id[33];        /* 128-bit hash, lowercase hex */
    const char *source; /* static: "sysdig_monitor", "sysdig_secure", "falco", ... */
    int64_t ts_us;      /* event time */
    int64_t recv_us;    /* arrival */
    int severity;       /* 0..7 syslog scale */
    enum hd_state state;
    char *name;
    char *description;
    char *url;
    char *host;
    char *container_id;
    char *k8s_namespace;
    char *k8s_pod;
    char *k8s_container;
    char *k8s_kind;
    char *k8s_name;
    char *labels; /* JSON object text ({"k":"v",...}) or NULL */
    char *alert_key;
    char *raw; /* original bytes, NUL-terminated for convenience unless raw_borrowed */
    size_t raw_len;
    int raw_borrowed;   /* raw points into the request body (hd_batch.borrow_raw): not freed,
                         * not NUL-terminated: use raw_len */
    int duplicate;      /* set by the store when this id was already stored */
    int64_t suppressed; /* not stored: set by route/throttle.c on the notification that
                         * follows suppressed ones (the count the drivers show) */
    char *block;        /* set by the store's reads and hd_event_pack: the strings above
                         * (and raw unless borrowed) all live in this one allocation
                         * (hd_event_clear frees it alone); such an event's fields are
                         * read-only */
    size_t block_strs;  /* with block: the bytes of the strings in it (hd_event_bytes) */
    int block_borrowed; /* block came from a slab (hd_event_block): its owner frees it */
};

/* Takes evs[0..n) of a batch being decoded (see hd_batch.flush): HD_OK, or
 * an error (err set) that stops the decoding. */
typedef int (*hd_batch_flush_fn)(void *ud, struct hd_event *evs, size_t n, struct hd_err *err);

struct hd_batch {
    struct hd_event *ev;
    size_t n;
    size_t cap;
    size_t limit;   /* 0: none; else hd_ingest_decode refuses a body of more events */
    int borrow_raw; /* decoded events' raw point into the body, which the caller keeps
                     * until the batch is freed (HTTP ingest: no copy per event) */
    /* Decoding in parts (a request of many events): once `chunk` events of the
     * request are held, hd_ingest_decode hands them to flush, clears them and
     * goes on, so the events are never all in memory at once; the last part
     * (fewer than chunk) stays in the batch, for the caller. A flush error
     * stops the decoding with that error. The events already flushed are the
     * receiver's to undo when the decoding fails later (the store: one
     * transaction). NULL: every event stays in the batch. */
    hd_batch_flush_fn flush;
    void *flush_ud;
    size_t chunk;
};

const char *hd_state_name(enum hd_state s);            /* "ACTIVE", "OK", "RESOLVED" */
int hd_state_parse(const char *s, enum hd_state *out); /* HD_EINVAL if unknown */

void hd_event_clear(struct hd_event *ev); /* frees owned strings, zeroes the struct */

/* The addresses of ev's string fields (name .. alert_key, raw excluded), in
 * a fixed order: the store's reads fill them, hd_event_pack moves them. */
#define HD_EVENT_NSTR 12
void hd_event_strs(struct hd_event *ev, char **out[HD_EVENT_NSTR]);

/* Puts the strings txt[i] (len[i] bytes each; NULL: absent) into one new
 * allocation, ev->block, and points ev's string fields (hd_event_strs order)
 * at them; with raw_size >= 0 it leaves raw_size + 1 bytes in front for the
 * raw and points ev->raw there (the caller fills them). The block comes from
 * slab if not NULL (block_borrowed: hd_event_clear leaves it to the slab's
 * owner), else from malloc. Nothing at all: no block, HD_OK. HD_ENOMEM
 * leaves ev as it was. */
int hd_event_block(struct hd_event *ev, const char *const txt[HD_EVENT_NSTR], const size_t len[HD_EVENT_NSTR],
                   int64_t raw_size, struct hd_slab *slab);

/* Moves ev's strings, and its raw unless borrowed, into one allocation
 * (hd_event_block, as the store's reads return events): a decoded event
 * then holds one malloc'd block of its exact size instead of a dozen, each
 * with its allocator overhead and spare room. Its fields are read-only
 * after. HD_ENOMEM leaves ev as it was. */
int hd_event_pack(struct hd_event *ev);
/* The memory ev holds: its struct, raw and strings (the read-ahead bounds). */
size_t hd_event_bytes(const struct hd_event *ev);
/* Clears evs[0..n) and frees the array (as the store's reads return it); NULL ok. */
void hd_events_free(struct hd_event *evs, size_t n);

/* Appends a zeroed event to the batch and returns it (NULL on ENOMEM). */
struct hd_event *hd_batch_push(struct hd_batch *b);
/* Room for n events in all (one allocation of that size: the prescan of a
 * large body counts its documents first); HD_ENOMEM leaves b as it was. */
int hd_batch_reserve(struct hd_batch *b, size_t n);
void hd_batch_init(struct hd_batch *b);
void hd_batch_free(struct hd_batch *b); /* clears every event and the array */

/* Splits "k8s_<container>_<pod>_<namespace>_<uid>_<attempt>" into the k8s
 * fields of ev (only those still NULL); a leading '/' (Docker's names) is
 * skipped. Returns 1 if the name matched, 0 if not, HD_ENOMEM. */
int hd_event_k8s_from_container_name(struct hd_event *ev, const char *name);

/* Parses an RFC 3339 date-time ("2020-11-25T16:49:08.648718268Z",
 * "2018-03-06T10:00:00+01:00"; 't', ' ', 'z' and "+0100" accepted too) into
 * microseconds since the epoch; digits past the microsecond are truncated.
 * HD_EINVAL (out untouched) if s is not one. */
int hd_parse_rfc3339_us(const char *s, int64_t *out);

/* Appends the normalized event as a JSON object to out:
 * {"id","seq","source","timestampUs","receivedUs","severity","state","name",
 *  "description","url","host","containerId","k8s":{namespace,pod,container,
 *  kind,name},"labels":{...},"alertKey"} and, if with_raw, "raw": <original>.
 * Absent fields are omitted. */
int hd_event_to_json(const struct hd_event *ev, int with_raw, struct hd_buf *out);

#endif
