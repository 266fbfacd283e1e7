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

/* How hd_template_emit writes the values placeholders insert. */
enum hd_tmpl_escape {
    HD_TMPL_ESCAPE_NONE = 0, /* as they are */
    HD_TMPL_ESCAPE_HTML = 1, /* & < > " ' as entities (hd_buf_html_str): text inserted into HTML */
};

/* The view tmpl reads: the event as JSON, with the original payload only
 * when some placeholder of tmpl may point into raw. NULL on failure; owned
 * by the caller (json_object_put). */
json_object *hd_template_view(const struct hd_event *ev, json_object *tmpl);

/* hd_template_render over a view built once (hd_template_view) for several
 * templates. With HD_TMPL_ESCAPE_HTML every value a placeholder inserts is
 * escaped, and a string that is exactly one placeholder renders as that
 * escaped text (a string) rather than as the typed value; the template's
 * own text is never escaped. On failure out is unchanged. */
int hd_template_emit(json_object *view, json_object *tmpl, enum hd_tmpl_escape esc, struct hd_buf *out,
                     struct hd_err *err);

/* The event view used by templates and match filters (owned by the caller). */
json_object *hd_event_view(const struct hd_event *ev);

#endif
