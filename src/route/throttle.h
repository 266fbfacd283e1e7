/* throttle.h - options.throttle: one notification per key per window (SPEC 4).
 *
 * The dispatcher asks, for every event a channel's filters accept, whether it
 * may go out. A suppressed event only moves the cursor, like a filtered one;
 * the next notification for the key carries the number suppressed since the
 * previous one in ev->suppressed (drivers show "(+N similar suppressed)").
 * The rules are in the DESIGN comment of throttle.c.
 */
#ifndef HD_THROTTLE_H
#define HD_THROTTLE_H

#include <stdint.h>

#include "channel/channel.h"
#include "model/event.h"

enum hd_throttle_result {
    HD_THROTTLE_PASS = 0,       /* deliver; ev->suppressed set */
    HD_THROTTLE_SUPPRESSED = 1, /* suppressed now (count it) */
    HD_THROTTLE_RESEEN = 2,     /* suppressed before: a re-read of the same event */
};

/* Decides for ev on channel channel_id with c's throttle options (no
 * throttle configured: PASS, ev untouched). Thread-safe. */
enum hd_throttle_result hd_throttle_check(int64_t channel_id, const struct hd_channel_common *c,
                                          struct hd_event *ev);

/* Forgets every key (tests; channels deleted for good). */
void hd_throttle_reset(void);
/* Number of keys tracked (tests, metrics). */
size_t hd_throttle_size(void);

#endif
