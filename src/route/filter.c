/* filter.c - does a channel want this event? (SPEC 4, 5)
 *
 * Runs on the dispatcher loop for every event of every channel, so the
 * common checks read the stored columns only; labels and the original are
 * parsed only when a match path points into them, at most once per call
 * (model/field.c).
 */
#include "route/filter.h"

#include <string.h>

int hd_filter_accepts(const struct hd_channel_common *c, const struct hd_event *ev)
{
    if (ev->state == HD_STATE_OK && !c->notify_on_ok) {
        return 0;
    }
    if (ev->state == HD_STATE_RESOLVED && !c->notify_on_resolve) {
        return 0;
    }
    if (ev->severity > c->min_severity) {
        return 0;
    }
    if (c->n_sources > 0) {
        int found = 0;
        for (size_t i = 0; ev->source != NULL && i < c->n_sources; i++) {
            if (strcmp(c->sources[i], ev->source) == 0) {
                found = 1;
                break;
            }
        }
        if (!found) {
            return 0;
        }
    }
    struct hd_event_docs d = {0};
    int ok = 1;
    for (size_t i = 0; ok && i < c->n_match; i++) {
        char num[24];
        const char *v = hd_event_field(ev, c->match[i].path, &d, num, sizeof(num));
        ok = hd_match_test(&c->match[i], v);
    }
    hd_event_docs_free(&d);
    return ok;
}
