/* channel.h - the notification channel interface (SPEC section 4, 6).
 *
 * DESIGN: a channel type is a const vtable in a static table (registry.c).
 * The core (route/dispatcher.c) owns connections, retries, backoff and timers;
 * a driver only validates options, renders a request for a batch of events,
 * and classifies the sink's answer. render/classify do no I/O: they are the
 * unit-test targets. Adding a type = one file + one line in registry.c.
 */
#ifndef HD_CHANNEL_H
#define HD_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/event.h"
#include "model/matcher.h"
#include "json/json.h"
#include "net/http_client.h"

enum hd_verdict { HD_VERDICT_DELIVERED = 0, HD_VERDICT_RETRY = 1, HD_VERDICT_DEAD = 2 };

struct hd_item_verdict {
    enum hd_verdict verdict;
    int status;      /* sink status of this item (HTTP or bulk item status) */
    char error[256]; /* sink's error (type and reason for bulk items) */
};

/* options.group (SPEC 4): one notification per group of alerts, with
 * Alertmanager's timers (route/groups.c). */
struct hd_group_opt {
    char **by; /* field paths whose values make the group key; none: one group */
    size_t n_by;
    long wait_ms;     /* before the first notification of a new group (default 30 s) */
    long interval_ms; /* before notifying about changes to a notified group (default 5 min) */
    long repeat_ms;   /* before re-sending an unchanged group still firing (default 4 h) */
};

/* Options every type shares (SPEC section 4 "Common options"). */
struct hd_channel_common {
    int notify_on_ok;      /* default 1 */
    int notify_on_resolve; /* default 1 */
    int respect_silences;  /* silenced events are not sent; default: 1 but for log sinks (type->log_sink) */
    int min_severity;      /* 0..7, default 7 = all */
    char **sources;        /* NULL = all */
    size_t n_sources;
    struct hd_match *match; /* all must hold (model/matcher.h) */
    size_t n_match;
    json_object *transform; /* options.transform (owned ref) or NULL */
    json_object *tmpl;      /* options.template (owned ref) or NULL */
    long timeout_ms;        /* default 10000 */
    struct hd_tls_opts tls;
    char *endpoint;          /* replaces the vendor's base URL */
    size_t batch_max_events; /* for batching types */
    size_t batch_max_bytes;
    long batch_max_delay_ms; /* -1: not set, HD_BATCH_DELAY_MS for types that batch */
    int compress;
    struct hd_group_opt *group; /* NULL: no grouping */
    char *throttle_key;
    long throttle_window_ms;
};

struct hd_channel {
    int64_t id;
    int64_t version;
    char *name;
    int enabled;
    const struct hd_channel_type *type;
    struct hd_channel_common common;
    json_object *options; /* the options object (owned ref), secrets in clear */
    void *ctx;            /* type-private, type->ctx_size bytes, zeroed */
    /* Set by configure when the sink confirms deliveries later (SPLUNK
     * useAck): > 0 enables the ack hooks below, and is how long an accepted
     * batch may stay unconfirmed before it is sent again. 0 = off. */
    long ack_timeout_ms;
    /* Set by configure for a type that sends one event per request and may
     * have several of them in flight at once (WEBHOOK maxInFlight,
     * 1..HD_CHANNEL_MAX_IN_FLIGHT): requests of new events the dispatcher
     * keeps in flight for this channel. 0 or 1: one at a time, in order. */
    long max_in_flight;
    /* The channel's secret values as they may come back in an answer
     * (secrets.c): scrubbed by hd_channel_scrub. */
    char **secrets;
    size_t n_secrets;
};

struct hd_channel_type {
    const char *name; /* "WEBHOOK" */
    size_t ctx_size;
    size_t max_batch; /* events per request; 1 = one per event */
    int log_sink;     /* 1: a log sink (ELASTICSEARCH, SPLUNK, WEBHOOK, ...): it keeps every event, so
                       * respectSilences defaults to false; 0: a notification type (default true) */
    /* The type's own option tables (STYLE "One table per fact"), each
     * NULL-terminated, NULL for none (registry.c checks them at start).
     * secret_options: options whose values are secrets, masked in answers
     * and kept when a PUT sends the mask back (secrets.c); a name ending in
     * HD_SECRET_EACH is an object every member value of which is a secret
     * ("additionalHeaders.*"); a URL option listed here is a URL that is
     * itself the credential (Slack's url), masked whole. url_options: the
     * type's own options that hold a destination URL ("url", ...); their
     * userinfo and query values are masked; the common ones (endpoint) are
     * in hd_channel_common_url_options, written once. */
    const char *const *secret_options;
    const char *const *url_options;
    /* Validates options and fills ch->ctx; err names the field ("options.url: ..."). */
    int (*configure)(struct hd_channel *ch, json_object *options, struct hd_err *err);
    /* Renders the request (url, headers, body) for evs[0..n). Pure. A type
     * that must send several requests per delivery (SNS: one Publish per
     * topic) chains them in req->then (net/http_client.h): they go out in
     * order while answers are 2xx, and classify sees the first failure or
     * the last answer; the dispatcher is unchanged. */
    int (*render)(struct hd_channel *ch, const struct hd_event *const *evs, size_t n, struct hd_request *req,
                  struct hd_err *err);
    /* Overall verdict of an answer; fills items[0..n) for per-item outcomes. */
    enum hd_verdict (*classify)(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                struct hd_item_verdict *items);
    void (*destroy)(struct hd_channel *ch); /* accepts a half-initialised ch; frees ctx contents only */
    /* Optional, all three or none: sink acknowledgement (Splunk HEC indexer
     * acknowledgement), used only when ch->ack_timeout_ms > 0. The dispatcher
     * (route/dispatcher.c, "Acknowledgements") keeps a batch whose answer
     * classified DELIVERED and carries an id as "awaiting confirmation",
     * polls the sink with ack_render/ack_classify, and counts it delivered
     * only once confirmed. Pure, like render/classify. */
    /* 1 and *id set if the (DELIVERED) answer carries an id to confirm. */
    int (*ack_id)(struct hd_channel *ch, const struct hd_response *resp, int64_t *id);
    /* Renders the status query for ids[0..n). */
    int (*ack_render)(struct hd_channel *ch, const int64_t *ids, size_t n, struct hd_request *req,
                      struct hd_err *err);
    /* Sets confirmed[i] = 1 for each id the answer confirms (zeroed by the
     * caller); returns how many, or a negative HD_E* if the answer is not
     * a status answer (ids stay unconfirmed). */
    int (*ack_classify)(struct hd_channel *ch, const struct hd_response *resp, const int64_t *ids, size_t n,
                        unsigned char *confirmed);
};

/* Registry. */
const struct hd_channel_type *hd_channel_type_find(const char *name);
/* The common options every type reads as a destination URL ("endpoint"),
 * NULL-terminated (options.c, where they are parsed). */
extern const char *const hd_channel_common_url_options[];
/* 1 if type t reads option name as a destination URL: one of its own
 * url_options or a common one. */
int hd_channel_url_option(const struct hd_channel_type *t, const char *name);
int hd_channel_registry_check(struct hd_err *err); /* duplicates rejected at start */

/* Builds a runtime channel from a stored object (see store.h hd_channel_rec:
 * json is the object without id/version/times). */
/* ch->type->render for evs[0..n), 1 <= n <= the type's max_batch (HD_EINVAL
 * otherwise: the drivers rely on it). */
int hd_channel_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                      struct hd_request *req, struct hd_err *err);
struct hd_channel *hd_channel_new(int64_t id, int64_t version, const char *json, struct hd_err *err);
void hd_channel_free(struct hd_channel *ch); /* NULL-safe */

/* Validates a channel object as POSTed/PUT (type known, name present, options
 * valid); err names the field: "name: required", "options.url: not a valid URL". */
int hd_channel_validate(json_object *obj, struct hd_err *err);

/* Parses the common options (used by hd_channel_new). */
int hd_channel_common_parse(struct hd_channel_common *c, json_object *options, struct hd_err *err);
void hd_channel_common_clear(struct hd_channel_common *c);

/* Secrets (SPEC section 4): returns a deep copy of obj with secret values
 * replaced by "********". */
json_object *hd_channel_mask_secrets(json_object *obj);
/* In a new object (PUT body), every "********" at a secret position (and a
 * URL sent back masked as shown) is replaced by the value stored in old at
 * the same path. HD_EINVAL, naming the secrets, when any was kept while the
 * type or the scheme/host/port of a URL option changes: a secret goes only
 * to the destination it was given for. */
int hd_channel_keep_secrets(json_object *nobj, json_object *old, struct hd_err *err);
/* Overwrites every secret of ch found in resp's body and error text with
 * '*': what a sink answers is shown and logged, and a sink may echo what it
 * was sent. */
void hd_channel_scrub(const struct hd_channel *ch, struct hd_response *resp);
/* Fills ch->secrets from the channel object (channel.c); freed by
 * hd_channel_secrets_free. */
int hd_channel_secrets_collect(struct hd_channel *ch, json_object *obj);
void hd_channel_secrets_free(struct hd_channel *ch);
#define HD_CHANNEL_NAME_MAX 255     /* bytes of a channel name */
#define HD_CHANNEL_MAX_IN_FLIGHT 64 /* the most max_in_flight may be */
/* batch.maxDelayMs when not set, for types that batch (max_batch > 1) */
#define HD_BATCH_DELAY_MS 10
#define HD_SECRET_MASK "********"
#define HD_SECRET_EACH ".*" /* suffix in secret_options: every member of that object */

/* Default classification of an HTTP answer (SPEC section 6): 2xx delivered;
 * 408, 429, 5xx and transport errors retried; other 4xx dead. */
enum hd_verdict hd_classify_http(const struct hd_response *resp);
/* "HTTP 503: <start of the body>" on one line (control bytes as spaces) or
 * the transport error: how an answer reads in logs, last_error and test
 * results. */
void hd_describe_answer(const struct hd_response *resp, char *out, size_t outsz);

/* Builds the synthetic test event of a channel (recognisably a test). */
int hd_channel_test_event(const struct hd_channel *ch, struct hd_event *ev);

#endif
