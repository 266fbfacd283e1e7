/* lat_hist.h - the latency histogram of the bench tools (fastsink, loadgen):
 * bucket i counts latencies in [i * 0.1, (i + 1) * 0.1) ms, the last bucket
 * the overflow. */
#ifndef HD_BENCH_LAT_HIST_H
#define HD_BENCH_LAT_HIST_H

#include <stdatomic.h>

/* The p-quantile (0..1) in ms: the upper edge of the bucket that holds it. */
static inline double lat_pct(atomic_long *hist, int nbuckets, double p)
{
    long total = 0;
    for (int i = 0; i < nbuckets; i++) {
        total += atomic_load(&hist[i]);
    }
    long want = (long)(p * (double)total), acc = 0;
    for (int i = 0; i < nbuckets; i++) {
        acc += atomic_load(&hist[i]);
        if (acc > want) {
            return (i + 1) * 0.1;
        }
    }
    return nbuckets * 0.1;
}

#endif
