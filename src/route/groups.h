/* groups.h - notification groups (SPEC 4 options.group, Alertmanager's
 * semantics): a channel with a group option does not notify per event; each
 * accepted event joins the group its group-by fields name, and the group is
 * notified as one message listing its alerts:
 *
 *  - a new group waits waitMs (more alerts may join) before its first
 *    notification;
 *  - a change to a notified group (an alert joins, fires again or resolves)
 *    is notified intervalMs after the previous notification at the earliest;
 *  - an unchanged group with alerts still firing is notified again every
 *    repeatMs;
 *  - resolved alerts are listed once more (the group's notification says
 *    RESOLVED when all are) and then leave the group; an empty group ends.
 *
 * The notification is one event built from the group (hd_groups_event):
 * name "[FIRING:2] ...", the alerts listed in the description, alertKey
 * "group:<key>" (so PagerDuty's dedup_key / OpsGenie's alias follow the
 * group and close it when it resolves), state RESOLVED when no alert fires.
 * Every driver renders it like any event.
 *
 * Durable: the groups are saved with the channel's cursor in one store
 * transaction (groups_save) whenever events join, and again when a
 * notification went out, so a restart neither loses a pending group nor
 * re-sends a notified one. Loop thread only. */
#ifndef HD_ROUTE_GROUPS_H
#define HD_ROUTE_GROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "channel/channel.h"
#include "core/err.h"
#include "model/event.h"
#include "store/store.h"

struct hd_groups;

/* The channel's groups as stored (an empty set when none). NULL on error. */
struct hd_groups *hd_groups_load(struct hd_store *st, int64_t channel_id, struct hd_err *err);
void hd_groups_free(struct hd_groups *g);

/* Takes ev (accepted by the channel's filters) into its group. */
int hd_groups_add(struct hd_groups *g, const struct hd_group_opt *opt, const struct hd_event *ev,
                  int64_t now_ms);

/* Saves the groups changed since the last save, with the cursor (>= 0) in
 * the same transaction. On failure nothing is marked saved. */
int hd_groups_save(struct hd_groups *g, struct hd_store *st, int64_t channel_id, int64_t new_cursor,
                   struct hd_err *err);

/* The key of a group due for a notification at now_ms (NULL if none) and
 * the earliest time one is due (*next_ms lowered to it). A due group that
 * needs no notification (nothing changed, nothing firing) ends here. */
const char *hd_groups_due(struct hd_groups *g, const struct hd_group_opt *opt, int notify_on_resolve,
                          int64_t now_ms, int64_t *next_ms);

/* Fills ev (zeroed by the caller; freed with hd_event_clear) with the
 * notification of group key. HD_ENOTFOUND if the group is gone. */
int hd_groups_event(struct hd_groups *g, const char *key, int64_t channel_id, int64_t now_ms,
                    struct hd_event *ev);

/* The notification of group key went out (or was refused for good): resolved
 * alerts leave, the timers restart. Call hd_groups_save after. */
void hd_groups_sent(struct hd_groups *g, const struct hd_group_opt *opt, const char *key, int64_t now_ms);
/* It failed and is retried at retry_ms. */
void hd_groups_retry(struct hd_groups *g, const char *key, int64_t retry_ms);

#endif
