/* group.h - the group a bench server answers together, as herald's SQLite
 * writer gathers a group commit: the first queued request, then up to
 * GROUP_MAX of them or LINGER_NS more (herald's SQ_LINGER_OPS and
 * SQ_LINGER_US). Shared by bench/ceiling (deferred) and bench/direct_ceiling. */
#ifndef HD_BENCH_GROUP_H
#define HD_BENCH_GROUP_H

#include <pthread.h>
#include <string.h>
#include <time.h>

#define GROUP_MAX 16
#define LINGER_NS 2000000L
#define QUEUE_MAX 65536

/* With mu held: waits for the group, moves it from queue (*queued items)
 * into group and returns its size; mu is held again on return. wake must use
 * CLOCK_MONOTONIC (group_cond_init). */
static inline size_t group_take(pthread_mutex_t *mu, pthread_cond_t *wake, void **queue, size_t *queued,
                                void **group)
{
    while (*queued == 0) {
        pthread_cond_wait(wake, mu);
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += LINGER_NS;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (*queued < GROUP_MAX && pthread_cond_timedwait(wake, mu, &until) == 0) {
    }
    size_t n = *queued;
    memcpy(group, queue, n * sizeof(*group));
    *queued = 0;
    return n;
}

/* The group thread: takes each group and calls answer(group, n) on it,
 * without mu held. Never returns. */
static inline void group_serve(pthread_mutex_t *mu, pthread_cond_t *wake, void **queue, size_t *queued,
                               void (*answer)(void **group, size_t n))
{
    static void *group[QUEUE_MAX];
    pthread_mutex_lock(mu);
    for (;;) {
        size_t n = group_take(mu, wake, queue, queued, group);
        pthread_mutex_unlock(mu);
        answer(group, n);
        pthread_mutex_lock(mu);
    }
}

static inline void group_cond_init(pthread_cond_t *wake)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(wake, &ca);
    pthread_condattr_destroy(&ca);
}

#endif
