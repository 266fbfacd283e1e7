/* metrics.h - process-wide counters and histograms for /metrics.
 *
 * Names and labels are Prometheus syntax: hd_metrics_add("herald_events_received_total",
 * "source=\"falco\"", 1). Thread-safe (one mutex; callers batch their adds).
 */
#ifndef HD_METRICS_H
#define HD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* A metric family: its name, Prometheus type and help text. */
struct hd_metric_family {
    const char *name;
    const char *type; /* "counter", "gauge", "histogram" */
    const char *help;
};
/* Every documented family (the table in metrics.c); *n is set to its length. */
const struct hd_metric_family *hd_metrics_families(size_t *n);
/* Appends the "# HELP" and "# TYPE" lines of family name; type is used only
 * for a name missing from the table. Renderers of gauges call it once per
 * family before its samples. */
int hd_metrics_family(struct hd_buf *out, const char *name, const char *type);

void hd_metrics_add(const char *name, const char *labels, int64_t v);
/* Observes a latency in seconds into the histogram name (fixed buckets 1ms..60s). */
void hd_metrics_observe(const char *name, const char *labels, double seconds);
/* Appends every counter and histogram in Prometheus text format (# HELP and # TYPE lines). */
int hd_metrics_render(struct hd_buf *out);
/* Appends the process_* families (CPU, memory, fds, start time: metrics_process.c). */
int hd_metrics_process(struct hd_buf *out);
/* Value of a counter (0 if unknown); for tests and the stats API. */
int64_t hd_metrics_get(const char *name, const char *labels);
void hd_metrics_reset(void);

#endif
