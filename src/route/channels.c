/* channels.c - the dispatcher's runtime channels (struct dchan): loaded
 * from the store, reloaded, retired, and their published status.
 *
 * DESIGN: the loop thread owns every dchan; reload() compares the stored
 * channels with the loaded ones by id and version: an unchanged channel only
 * looks for queued retries again, a new or changed one gets a fresh struct
 * hd_channel (the old one is retired: a request in flight takes it over,
 * see dispatcher.c), a deleted one is freed. A channel whose stored object
 * does not load stays in the list with ch == NULL and its error as
 * last_error, so its status can be read. New settings reset the breaker.
 *
 * Shared state: API threads read the published status (struct
 * hd_channel_status pub), the channel names and d->total_backlog under
 * d->lock, and the list structure is changed under it; the loop thread
 * writes them only in publish() and reload(), and reads its own dchans
 * without the lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "route/acks.h"
#include "route/breaker.h"
#include "route/dispatcher_int.h"

/* ---- metrics labels ---------------------------------------------------- */

/* Prometheus label value: backslash, quote and newline escaped. */
static void label_value(const char *s, char *out, size_t outsz)
{
    size_t o = 0;
    for (; s != NULL && *s != '\0' && o + 3 < outsz; s++) {
        if (*s == '\\' || *s == '"') {
            out[o++] = '\\';
            out[o++] = *s;
        } else if (*s == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

void hd_dchan_count(const struct dchan *c, const char *outcome, int64_t n)
{
    if (n <= 0) {
        return;
    }
    char name[300];
    char labels[400];
    label_value(c->name, name, sizeof(name));
    snprintf(labels, sizeof(labels), "channel=\"%s\",outcome=\"%s\"", name, outcome);
    hd_metrics_add("herald_deliveries_total", labels, n);
}

void hd_dchan_latency_labels(const struct dchan *c, char *out, size_t outsz)
{
    char name[300];
    label_value(c->name, name, sizeof(name));
    snprintf(out, outsz, "channel=\"%s\"", name);
}

/* ---- the list --------------------------------------------------------- */

struct dchan *hd_dchan_find(struct hd_dispatcher *d, int64_t id)
{
    for (struct dchan *c = d->chans; c != NULL; c = c->next) {
        if (c->id == id) {
            return c;
        }
    }
    return NULL;
}

/* Drops c->ch; a request in flight rendered with it takes it over, since
 * its answer is classified by the channel that rendered it. */
static void chan_retire_ch(struct dchan *c)
{
    hd_acks_drop(c); /* their ids mean nothing to the next hd_channel (see acks.c) */
    int taken = hd_dwin_take_ch(c, c->ch);
    if (c->inflight != NULL && c->inflight->ch == c->ch) {
        c->inflight->owns_ch = 1;
        taken = 1;
    }
    if (!taken) {
        hd_channel_free(c->ch);
    }
    c->ch = NULL;
}

void hd_dchan_free(struct dchan *c)
{
    if (c == NULL) {
        return;
    }
    chan_retire_ch(c);
    c->inflight = NULL;
    c->win_n = 0;
    hd_dchan_buf_drop(c);
    hd_slab_free(&c->slab);
    hd_groups_free(c->groups);
    free(c->name);
    free(c);
}

/* ---- loading and publishing ------------------------------------------- */

/* Arrival of c's oldest undelivered event: the store's answer of the last
 * refresh, or, when it saw none (events came since), the first one in
 * flight or read ahead. 0 if unknown. */
static int64_t oldest_undelivered(const struct dchan *c)
{
    if (c->oldest_recv_us > 0) {
        return c->oldest_recv_us;
    }
    int64_t w = hd_dwin_oldest_recv_us(c);
    if (w > 0) {
        return w;
    }
    if (c->buf_pos < c->buf_n) {
        return c->buf[c->buf_pos].recv_us;
    }
    return 0;
}

void hd_dchans_publish(struct hd_dispatcher *d, int64_t max_seq, int64_t now)
{
    int64_t total = 0;
    int64_t enabled = 0;
    pthread_mutex_lock(&d->lock);
    for (struct dchan *c = d->chans; c != NULL; c = c->next) {
        struct hd_channel_status *p = &c->pub;
        int64_t behind = max_seq > c->cursor ? max_seq - c->cursor : 0;
        int64_t pending = c->pending - hd_dwin_retries(c); /* each event once (window.c) */
        if (pending < 0) {
            pending = 0;
        }
        p->id = c->id;
        p->cursor = c->cursor;
        p->backlog = c->enabled ? behind + pending : 0;
        p->delivered = c->delivered;
        p->failed = c->failed;
        p->consecutive_failures = c->brk.consecutive_failures;
        p->breaker_open = c->brk.open;
        p->next_attempt_ms = c->next_attempt_ms > now ? c->next_attempt_ms : 0;
        memcpy(p->last_error, c->last_error, sizeof(p->last_error));
        p->last_success_ms = c->last_success_ms;
        p->dead_letters = c->dead;
        p->oldest_recv_us = p->backlog > 0 ? oldest_undelivered(c) : 0;
        p->last_failure_ms = c->last_failure_ms;
        total += p->backlog;
        enabled += c->enabled;
    }
    d->total_backlog = total;
    d->backlog_max_seq = max_seq;
    d->backlog_channels = enabled;
    pthread_mutex_unlock(&d->lock);
}

/* options.group: the channel's groups as stored, kept across reloads of
 * the channel (a new version keeps its groups); dropped without the option. */
static void chan_groups(struct hd_dispatcher *d, struct dchan *c)
{
    if (c->ch == NULL || c->ch->common.group == NULL) {
        hd_groups_free(c->groups);
        c->groups = NULL;
        return;
    }
    if (c->groups != NULL) {
        return;
    }
    struct hd_err err = {0};
    c->groups = hd_groups_load(d->st, c->id, &err);
    if (c->groups == NULL) {
        hd_log(HD_LOG_ERROR, "channel id=%lld while loading its notification groups: %s", (long long)c->id,
               err.msg);
        c->groups = hd_groups_load(NULL, c->id, &err); /* empty, marked stale: loaded again before use */
        c->groups_stale = 1;
    }
}

/* Loads rec, new or changed since the last reload, into c (NULL: a new
 * dchan at the channel's stored cursor, linked in). Returns HD_OK, HD_EIO
 * when the cursor cannot be read (the channel waits for the next reload) or
 * HD_ENOMEM. */
static int chan_load(struct hd_dispatcher *d, struct dchan *c, const struct hd_channel_rec *rec, int64_t now)
{
    char *name = hd_strdup(rec->name != NULL ? rec->name : "");
    if (name == NULL) {
        return HD_ENOMEM;
    }
    struct hd_err cerr = {0};
    struct hd_channel *ch = hd_channel_new(rec->id, rec->version, rec->json, &cerr);
    if (ch == NULL) {
        hd_log_kv(HD_LOG_ERROR, HD_KV({"channel", name}), "cannot be loaded, not delivering: %s", cerr.msg);
    }
    int fresh = c == NULL;
    if (fresh) {
        int64_t cursor = 0;
        struct hd_err kerr = {0};
        if (d->st->ops->cursor_get(d->st, rec->id, &cursor, &kerr) != HD_OK) {
            hd_log_kv(HD_LOG_ERROR, HD_KV({"channel", name}), "while reading its cursor: %s", kerr.msg);
            hd_channel_free(ch);
            free(name);
            return HD_EIO;
        }
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            hd_channel_free(ch);
            free(name);
            return HD_ENOMEM;
        }
        c->id = rec->id;
        hd_dchan_slab_init(c);
        c->cursor = cursor;
        c->sent = cursor;
        c->saved_cursor = cursor;
        c->saved_at_ms = now;
    } else {
        chan_retire_ch(c);
    }
    c->ch = ch;
    if (ch == NULL) {
        hd_dchan_set_error(c, "configuration: %s", cerr.msg);
    }
    chan_groups(d, c);
    c->version = rec->version;
    c->enabled = rec->enabled;
    /* New settings deserve a try now rather than after the old backoff. */
    hd_breaker_reset(&c->brk);
    c->next_attempt_ms = 0;
    c->retry_check_ms = now;
    c->pending_at_ms = 0;
    c->seen = 1;
    pthread_mutex_lock(&d->lock);
    char *old = c->name;
    c->name = name;
    if (fresh) {
        c->next = d->chans;
        d->chans = c;
    }
    pthread_mutex_unlock(&d->lock);
    free(old);
    return HD_OK;
}

/* Drops the channels the last reload did not see (deleted in the store). */
static void chan_sweep(struct hd_dispatcher *d)
{
    for (struct dchan **pp = &d->chans; *pp != NULL;) {
        struct dchan *c = *pp;
        if (c->seen) {
            pp = &c->next;
            continue;
        }
        pthread_mutex_lock(&d->lock);
        *pp = c->next;
        pthread_mutex_unlock(&d->lock);
        hd_dchan_free(c);
    }
}

int hd_dchans_reload(struct hd_dispatcher *d)
{
    struct hd_err err = {0};
    struct hd_silence_set si;
    if (hd_silence_set_load(d->st, hd_now_ms(), HD_SILENCE_KEEP_MS, &si, &err) != HD_OK) {
        hd_log(HD_LOG_ERROR, "dispatcher: while loading silences: %s", err.msg);
        return HD_EIO; /* retried: delivering past a silence would page people */
    }
    hd_silence_set_clear(&d->silences);
    d->silences = si;
    struct hd_channel_rec *recs = NULL;
    size_t n = 0;
    int rc = d->st->ops->channel_list(d->st, &recs, &n, &err);
    if (rc != HD_OK) {
        hd_log(HD_LOG_ERROR, "dispatcher: while loading channels: %s", err.msg);
        return rc;
    }
    int64_t now = hd_now_ms();
    for (struct dchan *c = d->chans; c != NULL; c = c->next) {
        c->seen = 0;
    }
    for (size_t i = 0; i < n; i++) {
        const struct hd_channel_rec *rec = &recs[i];
        if (!hd_store_owns_channel(d->st, rec->id)) {
            continue; /* another replica delivers it (SPEC 9): unseen, swept below */
        }
        struct dchan *c = hd_dchan_find(d, rec->id);
        if (c != NULL && c->version == rec->version) {
            c->seen = 1;
            c->retry_check_ms = now; /* retries may have been queued */
            c->pending_at_ms = 0;
            continue;
        }
        int one = chan_load(d, c, rec, now);
        if (one == HD_ENOMEM) {
            rc = one;
            goto out; /* incomplete: no channel is dropped */
        }
        if (one != HD_OK) {
            rc = one;
        }
    }
    chan_sweep(d);
out:
    hd_channel_recs_free(recs, n);
    return rc;
}

/* ---- read by API threads ----------------------------------------------- */

int hd_dispatcher_status(struct hd_dispatcher *d, int64_t channel_id, struct hd_channel_status *out)
{
    int rc = HD_ENOTFOUND;
    pthread_mutex_lock(&d->lock);
    for (struct dchan *c = d->chans; c != NULL; c = c->next) {
        if (c->id == channel_id) {
            *out = c->pub;
            rc = HD_OK;
            break;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* The loop is not woken by every commit (hd_dispatcher_committed): events
 * stored since the last count are added for every enabled channel, so the
 * figure never lags behind ingest (it may run ahead of deliveries). */
int64_t hd_dispatcher_backlog(struct hd_dispatcher *d)
{
    int64_t max_seq = d->st->ops->max_seq(d->st);
    pthread_mutex_lock(&d->lock);
    int64_t v = d->total_backlog;
    if (max_seq > d->backlog_max_seq) {
        v += (max_seq - d->backlog_max_seq) * d->backlog_channels;
    }
    pthread_mutex_unlock(&d->lock);
    return v;
}

/* One gauge family of every channel: value(c, now_ms) for each. Called with d->lock held. */
static int gauge_family(struct hd_dispatcher *d, struct hd_buf *out, const char *family,
                        double (*value)(const struct hd_channel_status *p, int64_t now_ms), int64_t now_ms)
{
    int rc = hd_metrics_family(out, family, "gauge");
    for (struct dchan *c = d->chans; c != NULL && rc == HD_OK; c = c->next) {
        char name[300];
        label_value(c->name, name, sizeof(name));
        rc = hd_buf_printf(out, "%s{channel=\"%s\"} %.17g\n", family, name, value(&c->pub, now_ms));
    }
    return rc;
}

static double g_backlog(const struct hd_channel_status *p, int64_t now_ms)
{
    return (double)p->backlog;
}

static double g_oldest(const struct hd_channel_status *p, int64_t now_ms)
{
    if (p->oldest_recv_us <= 0 || p->oldest_recv_us / 1000 >= now_ms) {
        return 0;
    }
    return (double)(now_ms * 1000 - p->oldest_recv_us) / 1e6;
}

static double g_dead(const struct hd_channel_status *p, int64_t now_ms)
{
    return (double)p->dead_letters;
}

static double g_breaker(const struct hd_channel_status *p, int64_t now_ms)
{
    return p->breaker_open ? 1 : 0;
}

int hd_dispatcher_metrics(struct hd_dispatcher *d, int64_t now_ms, struct hd_buf *out)
{
    static const struct {
        const char *family;
        double (*value)(const struct hd_channel_status *p, int64_t now_ms);
    } gauges[] = {
        {"herald_channel_backlog", g_backlog},
        {"herald_channel_oldest_undelivered_seconds", g_oldest},
        {"herald_channel_dead_letters", g_dead},
        {"herald_channel_breaker_open", g_breaker},
    };
    int rc = HD_OK;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]) && rc == HD_OK; i++) {
        rc = gauge_family(d, out, gauges[i].family, gauges[i].value, now_ms);
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}
