/* filter.h - does a channel want this event? (SPEC section 4, 5)
 * minSeverity, sources, match, notifyOnOk / notifyOnResolve, on the stored
 * columns; match paths into raw.* parse the original (only then). */
#ifndef HD_FILTER_H
#define HD_FILTER_H

#include "channel/channel.h"
#include "model/event.h"
#include "model/field.h"

int hd_filter_accepts(const struct hd_channel_common *c, const struct hd_event *ev);

#endif
