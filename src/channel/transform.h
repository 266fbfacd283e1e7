/* transform.h - per-channel preprocessing (SPEC section 7).
 *
 * Applied by channel drivers in render(). Inputs are the stored event (its
 * original bytes in ev->raw) and the channel's options.transform / template.
 */
#ifndef HD_TRANSFORM_H
#define HD_TRANSFORM_H

#include "core/buf.h"
#include "core/err.h"
#include "model/event.h"
#include "json/json.h"

/* Appends the event's document after options.transform to out:
 * millisField, isoField, addNormalized, flatten, drop, rename. With transform
 * NULL (or empty) the original bytes are appended unchanged. custom (may be
 * NULL) is an object merged into the top level (WEBHOOK customData). */
int hd_transform_apply(const struct hd_event *ev, json_object *transform, json_object *custom,
                       struct hd_buf *out, struct hd_err *err);

/* Renders a template: every string value "{{path}}" is replaced by the value
 * at path in the event's view ({id, source, severity, state, name, ...,
 * k8s:{...}, labels:{...}, raw: <original>}); a string that is exactly one
 * placeholder keeps the type of what it points at; placeholders inside longer
 * strings are substituted as text; missing paths render as null / "". */
int hd_template_render(const struct hd_event *ev, json_object *tmpl, struct hd_buf *out, struct hd_err *err);

/* The event view used by templates and match filters (owned by the caller). */
json_object *hd_event_view(const struct hd_event *ev);

#endif
