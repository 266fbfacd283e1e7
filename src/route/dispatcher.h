/* dispatcher.h - per-channel delivery from the store to the sinks.
 *
 * DESIGN: one loop thread owns the http client (curl multi), every runtime
 * channel and their timers. Per channel it keeps the cursor (every event up
 * to it has its outcome recorded), reads the next events by seq, filters
 * them on their columns, renders a batch, sends it (up to the channel's
 * max_in_flight requests at once), and on the answers advances the cursor
 * over the answered ones in one store update. Failures are recorded as exceptions (PENDING with a next
 * attempt time, FAILED = dead letter). Backoff: exponential with jitter from retry_initial_ms doubling to
 * retry_max_ms, never earlier than Retry-After. After breaker_threshold consecutive failures the channel
 * stops taking new events until its backoff expires (circuit breaker), without blocking others: the batch
 * that reaches the threshold records no rows and keeps the cursor, then one half-open request decides.
 * Disabled channels skip (their cursor follows the log). The exact policy is in the DESIGN comment of
 * dispatcher.c.
 */
#ifndef HD_DISPATCHER_H
#define HD_DISPATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"

struct hd_dispatch_config {
    int64_t retry_initial_ms; /* default 1000 */
    int64_t retry_max_ms;     /* default 300000 */
    int64_t max_retry_age_ms; /* default 24 h: then dead letter */
    int breaker_threshold;    /* default 5 consecutive failures */
    size_t read_batch;        /* events read from the store at a time (and the largest batch), default 500 */
};

struct hd_channel_status {
    int64_t id;
    int64_t cursor;
    int64_t backlog;        /* events after the cursor + pending retries */
    int64_t delivered;      /* since start */
    int64_t failed;         /* dead-lettered since start */
    int64_t dead_letters;   /* FAILED rows stored, refreshed every few seconds */
    int64_t oldest_recv_us; /* arrival of the oldest undelivered event, 0 if none (ditto) */
    int consecutive_failures;
    int breaker_open;
    int64_t next_attempt_ms; /* 0 if not backing off */
    char last_error[256];
    int64_t last_success_ms;
    int64_t last_failure_ms; /* when last_error was last set (a failed attempt), 0 if never */
};

struct hd_dispatcher;

void hd_dispatch_config_defaults(struct hd_dispatch_config *c);
struct hd_dispatcher *hd_dispatcher_new(struct hd_store *st, const struct hd_dispatch_config *cfg,
                                        struct hd_err *err);
int hd_dispatcher_start(struct hd_dispatcher *d);
/* Thread-safe. New events were stored. */
void hd_dispatcher_wakeup(struct hd_dispatcher *d);
/* Thread-safe. Events up to max_seq are committed: wakes the loop only if a
 * channel has something to do with them (a batch lingering for more events,
 * or a request in flight, is not woken by every commit). */
void hd_dispatcher_committed(struct hd_dispatcher *d, int64_t max_seq);
/* Thread-safe. Channels were created/updated/deleted or retries queued: reload. */
void hd_dispatcher_channels_changed(struct hd_dispatcher *d);
/* Thread-safe. Status of one channel (HD_ENOTFOUND if not loaded). */
int hd_dispatcher_status(struct hd_dispatcher *d, int64_t channel_id, struct hd_channel_status *out);
/* Thread-safe. Sum of backlogs; used for readiness and ingest backpressure. */
int64_t hd_dispatcher_backlog(struct hd_dispatcher *d);
/* Thread-safe. Appends the per-channel gauges (backlog, age of the oldest
 * undelivered event at now_ms, dead letters, breaker) in Prometheus text
 * format, # HELP and # TYPE included. */
int hd_dispatcher_metrics(struct hd_dispatcher *d, int64_t now_ms, struct hd_buf *out);
/* Stops taking new work, waits up to timeout_ms for in-flight requests,
 * persists cursors and joins the thread. */
void hd_dispatcher_stop(struct hd_dispatcher *d, int64_t timeout_ms);
void hd_dispatcher_free(struct hd_dispatcher *d);

#endif
