/* breaker.h - the dispatcher's per-channel circuit breaker (private to route/).
 *
 * The dispatcher reports every answer to a channel's request; the breaker
 * counts consecutive failed requests, opens at the threshold and tells the
 * dispatcher when the channel may send again. The policy is in the DESIGN
 * comment of breaker.c.
 */
#ifndef HD_BREAKER_H
#define HD_BREAKER_H

#include <stdint.h>

#include "route/dispatcher.h"

struct hd_breaker {
    int consecutive_failures;
    int open;
    int64_t backoff_ms; /* 0 when closed */
};

/* One answer as the breaker sees it; the strings are borrowed for the call. */
struct hd_breaker_answer {
    const char *channel; /* name, for logs */
    const char *host;    /* host[:port] the request went to */
    const char *why;     /* the failure, as in last_error */
    int failed;          /* overall verdict RETRY: 5xx, 408, 429, transport error */
    int64_t retry_after_ms;
    int64_t now; /* wall ms */
};

/* Closed, no failures counted (a new or reconfigured channel). */
void hd_breaker_reset(struct hd_breaker *b);

/* 1 if a failure now reaches the threshold: a failing batch of new events
 * then records no rows and keeps the cursor. */
int hd_breaker_holds(const struct hd_breaker *b, const struct hd_dispatch_config *cfg);

/* Counts the answer a, logs the transitions and writes the channel's next
 * attempt time into *next_attempt_ms (0 after a success; left as it is after
 * a failure below the threshold without Retry-After). */
void hd_breaker_update(struct hd_breaker *b, const struct hd_dispatch_config *cfg,
                       const struct hd_breaker_answer *a, int64_t *next_attempt_ms);

#endif
