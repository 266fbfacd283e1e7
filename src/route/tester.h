/* tester.h - test notifications (POST /api/notificationChannels/{id}/test,
 * sendTestNotification), sent asynchronously with bounded concurrency.
 *
 * DESIGN: one thread with its own HTTP client (a curl multi handle) runs
 * every test notification: the API hands a job over and defers its answer,
 * so a sink that takes its channel's whole timeoutMs (up to 300 s) holds no
 * server thread, and four slow sinks no longer freeze the API. At most
 * max_pending tests are queued or in flight; more are refused (HD_EBUSY,
 * the API answers 429). The test goes through the channel's own renderer and
 * classifier, and the answer is scrubbed of the channel's secrets before
 * anything reads it. Stopping answers every queued and in-flight test with
 * "herald is stopping" and joins the thread.
 */
#ifndef HD_TESTER_H
#define HD_TESTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"

/* Test notifications queued or in flight at once, all channels together. */
#define HD_TESTS_MAX 16

struct hd_test_result {
    int delivered;
    long status; /* the sink's HTTP status, 0 if the transfer failed */
    char error[384];
    int64_t elapsed_ms;
    int cancelled; /* not sent to the end: herald is stopping */
};

/* Runs once per accepted job, on the tester's thread (or the thread that
 * stops it). */
typedef void (*hd_test_done_fn)(void *ud, const struct hd_test_result *res);

struct hd_tester;

struct hd_tester *hd_tester_new(size_t max_pending, struct hd_err *err);
int hd_tester_start(struct hd_tester *t);
/* Thread-safe. Queues a test notification to the channel stored as r (its
 * json is copied). HD_EBUSY when max_pending tests are queued or running,
 * HD_ESHUTDOWN once stopping, HD_ENOMEM: done is then never called. */
int hd_tester_submit(struct hd_tester *t, const struct hd_channel_rec *r, hd_test_done_fn done, void *ud);
/* Answers what is queued or in flight ("herald is stopping") and joins the
 * thread. Idempotent. */
void hd_tester_stop(struct hd_tester *t);
void hd_tester_free(struct hd_tester *t); /* NULL-safe; stops first */

#endif
