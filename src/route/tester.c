/* tester.c - test notifications on their own thread (see tester.h). */
#include "route/tester.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "core/log.h"
#include "core/util.h"
#include "net/http_client.h"

static const char STOPPING[] = "herald is stopping";

struct tjob {
    struct tjob *next;
    int64_t id;
    int64_t version;
    char *json;
    hd_test_done_fn done;
    void *ud;
    struct hd_channel *ch; /* built on the tester's thread */
    int64_t t0_ms;
};

struct hd_tester {
    size_t max_pending;
    struct hd_http_client *http; /* tester thread only */
    struct tjob *inflight;       /* tester thread only */
    pthread_t th;
    int started;
    pthread_mutex_t lock;
    struct tjob *queue; /* lock: submitted, not started, newest first */
    size_t pending;     /* lock: queued + in flight */
    int stopping;       /* lock */
};

struct hd_tester *hd_tester_new(size_t max_pending, struct hd_err *err)
{
    struct hd_tester *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        hd_err_set(err, HD_ENOMEM, "tester: out of memory");
        return NULL;
    }
    t->max_pending = max_pending > 0 ? max_pending : 1;
    t->http = hd_http_client_new();
    if (t->http == NULL) {
        free(t);
        hd_err_set(err, HD_ENOMEM, "tester: cannot create the HTTP client");
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

int hd_tester_submit(struct hd_tester *t, const struct hd_channel_rec *r, hd_test_done_fn done, void *ud)
{
    struct tjob *j = calloc(1, sizeof(*j));
    if (j == NULL || (j->json = hd_strdup(r->json)) == NULL) {
        free(j);
        return HD_ENOMEM;
    }
    j->id = r->id;
    j->version = r->version;
    j->done = done;
    j->ud = ud;
    j->t0_ms = hd_mono_ms();
    pthread_mutex_lock(&t->lock);
    int rc = t->stopping || !t->started ? HD_ESHUTDOWN : t->pending >= t->max_pending ? HD_EBUSY : HD_OK;
    if (rc == HD_OK) {
        j->next = t->queue;
        t->queue = j;
        t->pending++;
    }
    pthread_mutex_unlock(&t->lock);
    if (rc != HD_OK) {
        free(j->json);
        free(j);
        return rc;
    }
    hd_http_client_wakeup(t->http);
    return HD_OK;
}

/* Answers j and frees it. */
static void finish(struct hd_tester *t, struct tjob *j, struct hd_test_result *res)
{
    res->elapsed_ms = hd_mono_ms() - j->t0_ms;
    j->done(j->ud, res);
    hd_channel_free(j->ch);
    free(j->json);
    free(j);
    pthread_mutex_lock(&t->lock);
    t->pending--;
    pthread_mutex_unlock(&t->lock);
}

static void fail(struct hd_tester *t, struct tjob *j, const char *what, const char *detail)
{
    struct hd_test_result res;
    memset(&res, 0, sizeof(res));
    snprintf(res.error, sizeof(res.error), "%s%s", what, detail);
    res.cancelled = what == STOPPING;
    finish(t, j, &res);
}

/* Builds the channel and its test event, renders and sends. */
static void launch(struct hd_tester *t, struct tjob *j)
{
    struct hd_err err = {0};
    struct hd_event ev;
    struct hd_request req;
    memset(&ev, 0, sizeof(ev));
    hd_request_init(&req);
    j->ch = hd_channel_new(j->id, j->version, j->json, &err);
    if (j->ch == NULL) {
        fail(t, j, "channel: ", err.msg);
    } else if (hd_channel_test_event(j->ch, &ev) != HD_OK) {
        fail(t, j, "cannot build the test event", "");
    } else {
        const struct hd_event *evs[1] = {&ev};
        if (hd_channel_render(j->ch, evs, 1, &req, &err) != HD_OK) {
            fail(t, j, "while rendering: ", err.msg);
        } else if (hd_http_client_submit(t->http, &req, j) != HD_OK) {
            fail(t, j, "cannot send: ", "out of memory");
        } else {
            j->next = t->inflight;
            t->inflight = j;
        }
    }
    hd_request_clear(&req);
    hd_event_clear(&ev);
}

/* The sink answered j (resp scrubbed here first). */
static void answered(struct hd_tester *t, struct tjob *j, struct hd_response *resp)
{
    struct hd_test_result res;
    struct hd_item_verdict items[1];
    memset(&res, 0, sizeof(res));
    memset(items, 0, sizeof(items));
    hd_channel_scrub(j->ch, resp);
    res.status = resp->status;
    enum hd_verdict v = j->ch->type->classify(j->ch, resp, 1, items);
    res.delivered = v == HD_VERDICT_DELIVERED;
    if (!res.delivered && resp->status != 0 && items[0].error[0] != '\0') {
        snprintf(res.error, sizeof(res.error), "HTTP %ld: %s", resp->status, items[0].error);
    } else if (!res.delivered) {
        hd_describe_answer(resp, res.error, sizeof(res.error));
    }
    finish(t, j, &res);
}

static void unlink_inflight(struct hd_tester *t, struct tjob *j)
{
    for (struct tjob **p = &t->inflight; *p != NULL; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            return;
        }
    }
}

static void *tester_main(void *arg)
{
    hd_thread_name("hd-tester");
    struct hd_tester *t = arg;
    for (;;) {
        pthread_mutex_lock(&t->lock);
        int stopping = t->stopping;
        struct tjob *q = t->queue;
        t->queue = NULL;
        pthread_mutex_unlock(&t->lock);
        /* the queue is newest first: launch in the order submitted */
        struct tjob *rev = NULL;
        while (q != NULL) {
            struct tjob *next = q->next;
            q->next = rev;
            rev = q;
            q = next;
        }
        while (rev != NULL) {
            struct tjob *next = rev->next;
            if (stopping) {
                fail(t, rev, STOPPING, "");
            } else {
                launch(t, rev);
            }
            rev = next;
        }
        if (stopping) {
            break;
        }
        hd_http_client_poll(t->http, 1000);
        void *ud = NULL;
        struct hd_response resp;
        while (hd_http_client_done(t->http, &ud, &resp)) {
            unlink_inflight(t, ud);
            answered(t, ud, &resp);
            hd_response_clear(&resp);
        }
    }
    while (t->inflight != NULL) {
        struct tjob *j = t->inflight;
        t->inflight = j->next;
        fail(t, j, STOPPING, "");
    }
    return NULL;
}

int hd_tester_start(struct hd_tester *t)
{
    pthread_mutex_lock(&t->lock);
    int rc = pthread_create(&t->th, NULL, tester_main, t) == 0 ? HD_OK : HD_EIO;
    t->started = rc == HD_OK;
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void hd_tester_stop(struct hd_tester *t)
{
    if (t == NULL) {
        return;
    }
    pthread_mutex_lock(&t->lock);
    int join = t->started && !t->stopping;
    t->stopping = 1;
    pthread_mutex_unlock(&t->lock);
    if (join) {
        hd_http_client_wakeup(t->http);
        pthread_join(t->th, NULL);
    }
}

void hd_tester_free(struct hd_tester *t)
{
    if (t == NULL) {
        return;
    }
    hd_tester_stop(t);
    hd_http_client_free(t->http); /* in-flight transfers were answered by the thread */
    pthread_mutex_destroy(&t->lock);
    free(t);
}
