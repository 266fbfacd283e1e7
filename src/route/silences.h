/* silences.h - the silences the dispatcher and the API match events against
 * (SPEC 4): loaded from the store whole (they are few), each silence's
 * matchers compiled once per load. An event is silenced by a silence that
 * was active when the event arrived (starts <= recv < ends) and whose
 * matchers all match it; expiring a silence therefore never re-sends what
 * it held back. */
#ifndef HD_ROUTE_SILENCES_H
#define HD_ROUTE_SILENCES_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/event.h"
#include "model/matcher.h"
#include "store/store.h"
#include "json/json.h"

/* How long after a silence ended it still matters: events that arrived
 * under it are still silenced when a backlog delivers them, and still shown
 * as silenced (the dispatcher and the API load silences with this). */
#define HD_SILENCE_KEEP_MS (30LL * 24 * 3600 * 1000)

struct hd_silence_rt {
    int64_t id;
    int64_t starts_ms, ends_ms;
    struct hd_match *m;
    size_t n;
};

struct hd_silence_set {
    struct hd_silence_rt *v;
    size_t n;
};

/* Compiles a JSON array of matchers (strings or Alertmanager objects) into
 * out[0..*n); err names the matcher ("matchers[1]: ..."). A silence needs at
 * least one matcher. */
int hd_silence_matchers(json_object *arr, struct hd_match **out, size_t *n, struct hd_err *err);

/* Reads every silence that has not expired by now_ms - keep_ms (events that
 * arrived while an older one was active can still be shown as silenced). */
int hd_silence_set_load(struct hd_store *st, int64_t now_ms, int64_t keep_ms, struct hd_silence_set *out,
                        struct hd_err *err);
/* The first silence that silences ev, or NULL. */
const struct hd_silence_rt *hd_silence_set_match(const struct hd_silence_set *s, const struct hd_event *ev);
void hd_silence_set_clear(struct hd_silence_set *s);

#endif
