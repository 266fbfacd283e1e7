/* breaker.c - the dispatcher's per-channel circuit breaker.
 *
 * DESIGN: a request whose overall verdict is RETRY (5xx, 408, 429, transport
 * error) is a failure; any other answer resets the count. For a batch of NEW
 * events failing when consecutive_failures + 1 >= threshold
 * (hd_breaker_holds), the dispatcher records no row and keeps the cursor: the
 * events are still in the log, and an outage does not turn the whole backlog
 * into retry rows. Below the threshold the failed items become PENDING rows
 * and the cursor moves on. At the threshold the breaker opens: the channel
 * sends nothing until its backoff (retry_initial_ms, doubling to
 * retry_max_ms, at least Retry-After) expires, then ONE request (half-open:
 * due retries first, else new events); success closes the breaker, failure
 * doubles the backoff. Below the threshold a Retry-After alone delays the
 * channel's next request.
 *
 * The breaker only counts and decides; the dispatcher owns the channel, its
 * next attempt time and its last error. Loop thread only.
 */
#include "route/breaker.h"

#include "core/log.h"

void hd_breaker_reset(struct hd_breaker *b)
{
    b->consecutive_failures = 0;
    b->open = 0;
    b->backoff_ms = 0;
}

int hd_breaker_holds(const struct hd_breaker *b, const struct hd_dispatch_config *cfg)
{
    return b->consecutive_failures + 1 >= cfg->breaker_threshold;
}

static void closed_again(struct hd_breaker *b, const struct hd_breaker_answer *a)
{
    if (b->open) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"channel", a->channel}), "breaker closed: %s answered again", a->host);
    } else if (b->consecutive_failures > 0) {
        hd_log_kv(HD_LOG_INFO, HD_KV({"channel", a->channel}),
                  "recovered: %s answered after %d failed request(s)", a->host, b->consecutive_failures);
    }
    hd_breaker_reset(b);
}

void hd_breaker_update(struct hd_breaker *b, const struct hd_dispatch_config *cfg,
                       const struct hd_breaker_answer *a, int64_t *next_attempt_ms)
{
    if (!a->failed) {
        closed_again(b, a);
        *next_attempt_ms = 0;
        return;
    }
    b->consecutive_failures++;
    if (b->consecutive_failures == 1) {
        hd_log_kv(HD_LOG_WARN, HD_KV({"channel", a->channel}), "while posting to %s: %s", a->host, a->why);
    }
    int64_t now = a->now;
    int64_t ra = a->retry_after_ms > 0 ? a->retry_after_ms : 0;
    if (b->open) {
        b->backoff_ms = b->backoff_ms * 2 < cfg->retry_max_ms ? b->backoff_ms * 2 : cfg->retry_max_ms;
        *next_attempt_ms = now + (b->backoff_ms > ra ? b->backoff_ms : ra);
        hd_log_kv(HD_LOG_INFO, HD_KV({"channel", a->channel}),
                  "breaker stays open while posting to %s: %s; next attempt in %lld ms", a->host, a->why,
                  (long long)(*next_attempt_ms - now));
    } else if (b->consecutive_failures >= cfg->breaker_threshold) {
        b->open = 1;
        b->backoff_ms = cfg->retry_initial_ms;
        *next_attempt_ms = now + (b->backoff_ms > ra ? b->backoff_ms : ra);
        hd_log_kv(
            HD_LOG_WARN, HD_KV({"channel", a->channel}),
            "breaker open after %d consecutive failures while posting to %s: %s; next attempt in %lld ms",
            b->consecutive_failures, a->host, a->why, (long long)(*next_attempt_ms - now));
    } else if (ra > 0) {
        *next_attempt_ms = now + ra; /* the sink asked the whole client to wait */
    }
}
