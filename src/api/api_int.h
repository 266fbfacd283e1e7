/* api_int.h - private to src/api: one request as the handlers see it, and
 * the helpers they share (body parsing, query parsing, error mapping). */
#ifndef HD_API_INT_H
#define HD_API_INT_H

#include <stdint.h>

#include "api/api.h"
#include "json/json.h"

/* The events an answer reads at once: a page ends early (its cursor goes
 * on) once they hold this much. 1,000 events of ~1 MB made a 1 GB answer. */
#define HD_API_PAGE_BYTES (4 * 1024 * 1024)

struct hd_api_call {
    struct hd_api *api;
    const struct hd_http_req *req;
    struct hd_http_resp *resp;
    const char *arg;     /* the {id} path segment, "" if the route has none */
    int64_t max_backlog; /* snapshot under cfg_lock */
    int64_t max_events;  /* limits.maxEventsPerRequest, likewise */
};

/* Parses the request body as one JSON value. On failure answers 400 (naming
 * the byte) and returns NULL. Caller owns the result (json_object_put). */
json_object *hd_api_body_json(struct hd_api_call *c);
/* Query argument key as an integer: *out = def when absent. On junk answers
 * 400 "key: not an integer" and returns HD_EINVAL. */
int hd_api_query_i64(struct hd_api_call *c, const char *key, int64_t def, int64_t *out);
/* Query "limit": default def, 1..max (larger values are clamped to max). */
int hd_api_query_limit(struct hd_api_call *c, size_t def, size_t max, size_t *out);
/* Maps a store/other failure onto an answer: ENOTFOUND 404, ECONFLICT 409,
 * EINVAL 400, EBUSY 429, EIO 503, otherwise 500; what prefixes the message. */
void hd_api_fail(struct hd_api_call *c, int rc, const struct hd_err *err, const char *what);
/* Answers status with the compact serialization of o (o is not released). */
void hd_api_json(struct hd_api_call *c, int status, json_object *o);
/* The same for a deferred answer's resp. */
void hd_api_json_resp(struct hd_http_resp *resp, int status, json_object *o);
/* Parses a channel id path segment; 0 if not a positive integer. */
int64_t hd_api_parse_id(const char *s);

/* from, to, severity, state, source, namespace, q of GET /api/events and
 * /api/stats into q (strings borrowed from the request; limit and cursor
 * left 0). Answers 400 and returns HD_EINVAL on junk. */
int hd_api_event_filters(struct hd_api_call *c, struct hd_event_query *q);

/* Answers 200 {key: [view(c, channel) for every stored channel]} (NULL views
 * left out); 5xx when the store fails. */
typedef json_object *(*hd_api_channel_view)(struct hd_api_call *c, const struct hd_channel_rec *r);
void hd_api_channels_answer(struct hd_api_call *c, const char *key, hd_api_channel_view view);

/* Handlers (one per route; see the table in api.c). */
void hd_api_channels_list(struct hd_api_call *c);
void hd_api_channel_get(struct hd_api_call *c);
void hd_api_channel_create(struct hd_api_call *c);
void hd_api_channel_update(struct hd_api_call *c);
void hd_api_channel_delete(struct hd_api_call *c);
void hd_api_channel_test(struct hd_api_call *c);
void hd_api_channel_replay(struct hd_api_call *c);

void hd_api_silence_create(struct hd_api_call *c);
void hd_api_silences_list(struct hd_api_call *c);
void hd_api_silence_get(struct hd_api_call *c);
void hd_api_silence_expire(struct hd_api_call *c);

void hd_api_events_ingest(struct hd_api_call *c);
void hd_api_events_list(struct hd_api_call *c);
void hd_api_event_get(struct hd_api_call *c);

void hd_api_stats(struct hd_api_call *c);
void hd_api_channel_status(struct hd_api_call *c); /* dashboard: channels with live state */

void hd_api_deliveries_list(struct hd_api_call *c);
void hd_api_delivery_retry(struct hd_api_call *c);
void hd_api_deliveries_retry_channel(struct hd_api_call *c);

void hd_api_metrics(struct hd_api_call *c);
void hd_api_healthz(struct hd_api_call *c);
void hd_api_readyz(struct hd_api_call *c);
void hd_api_static(struct hd_api_call *c);

#endif
