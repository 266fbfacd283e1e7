/* metrics.h - process-wide counters and histograms for /metrics.
 *
 * Names and labels are Prometheus syntax: hd_metrics_add("herald_events_received_total",
 * "source=\"falco\"", 1). Thread-safe (one mutex; callers batch their adds).
 */
#ifndef HD_METRICS_H
#define HD_METRICS_H

#include <stdint.h>

#include "core/buf.h"

void hd_metrics_add(const char *name, const char *labels, int64_t v);
/* Observes a latency in seconds into the histogram name (fixed buckets 1ms..60s). */
void hd_metrics_observe(const char *name, const char *labels, double seconds);
/* Appends every metric in Prometheus text format (with # TYPE lines). */
int hd_metrics_render(struct hd_buf *out);
/* Value of a counter (0 if unknown); for tests and the stats API. */
int64_t hd_metrics_get(const char *name, const char *labels);
void hd_metrics_reset(void);

#endif
