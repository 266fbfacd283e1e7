/* health.c - whether the store accepts writes (readiness, SPEC 4).
 *
 * DESIGN: the writer notes the outcome of every group (sq_health_note). A
 * group in which an op failed with HD_EIO - SQLite could not write: disk
 * full, I/O error, a read-only file - marks the store failing, with that
 * op's message; a group that committed changes marks it writable again. An
 * op's own refusal (a name conflict, a bad argument) says nothing about the
 * disk, and a commit that changed nothing (a prune with nothing to prune)
 * proves nothing: neither changes the state. Nor does a small write that
 * squeezed into the last free blocks (a cursor update): a failing store is
 * writable again only once its file system has SQ_PROBE_MIN_FREE bytes
 * free (statvfs, checked on that rare transition only), so that readiness
 * does not flap while ingest still fails.
 *
 * Once failing, nothing may come to write again: a load balancer or
 * Kubernetes sends no traffic to a store that is not ready. So
 * sq_store_writable tries a probe, at most once a second and one at a time:
 * the database's file system must have SQ_PROBE_MIN_FREE bytes free
 * (statvfs: a disk that is still full fails here, without writing), then a
 * row of table kv is written through the writer like every write. The probe
 * is asynchronous - the caller, an HTTP thread answering /readyz, never
 * waits for the writer - and its commit is noted like any other group, so
 * the next call sees its outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "sqlite_int.h"

#define SQ_PROBE_MIN_FREE (4 * 1024 * 1024) /* bytes free for a probe to be tried */
#define SQ_PROBE_EVERY_MS 1000
#define SQ_PROBE_KEY "herald.store.probe"

/* 1 when the database's file system has less than SQ_PROBE_MIN_FREE bytes
 * free (why says so); health_mu held. */
static int room_short_locked(struct sq_store *s)
{
    struct statvfs vfs;
    if (statvfs(s->path, &vfs) != 0) {
        return 0; /* cannot tell: the writes decide */
    }
    unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    if (avail >= SQ_PROBE_MIN_FREE) {
        return 0;
    }
    snprintf(s->failing_why, sizeof(s->failing_why),
             "store: %llu bytes free on the data dir's file system (writes resume with %d MiB free)", avail,
             SQ_PROBE_MIN_FREE / (1024 * 1024));
    return 1;
}

void sq_health_note(struct sq_store *s, const struct sq_op *group, int changed)
{
    const struct sq_op *bad = NULL;
    int committed = 0;
    for (const struct sq_op *o = group; o != NULL; o = o->next) {
        if (o->rc == HD_EIO && bad == NULL) {
            bad = o;
        } else if (o->rc == HD_OK) {
            committed = 1;
        }
    }
    if (bad == NULL && !(committed && changed)) {
        return;
    }
    pthread_mutex_lock(&s->health_mu);
    int was = s->failing;
    if (bad != NULL) {
        s->failing = 1;
        snprintf(s->failing_why, sizeof(s->failing_why), "%s",
                 bad->err.msg[0] != '\0' ? bad->err.msg : "store: write failed");
    } else if (was && !room_short_locked(s)) {
        s->failing = 0;
    }
    int now = s->failing;
    pthread_mutex_unlock(&s->health_mu);
    if (bad != NULL && !was) {
        hd_log(HD_LOG_ERROR, "store: writes fail, not ready until they succeed with room to spare: %s",
               bad->err.msg);
    } else if (was && !now) {
        hd_log(HD_LOG_INFO, "store: writes succeed again, ready");
    }
}

static int op_probe(struct sq_store *s, struct sq_conn *c, void *arg, struct hd_err *err)
{
    (void)s;
    (void)arg;
    sqlite3_stmt *q = NULL;
    int ret = HD_OK;
    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO kv (key, value, updated_ms) VALUES (?1, 'ok', ?2) "
                           "ON CONFLICT (key) DO UPDATE SET updated_ms = excluded.updated_ms",
                           -1, &q, NULL) != SQLITE_OK) {
        ret = sq_fail(c, err, "probing the store");
        goto out;
    }
    sq_bind_text(q, 1, SQ_PROBE_KEY);
    sqlite3_bind_int64(q, 2, hd_now_ms());
    if (sqlite3_step(q) != SQLITE_DONE) {
        ret = sq_fail(c, err, "probing the store");
    }
out:
    sqlite3_finalize(q);
    return ret;
}

/* Runs on the writer after the probe's group was noted. */
static void probe_done(void *ud, int rc, const struct hd_err *err)
{
    struct sq_store *s = ud;
    (void)rc;
    (void)err;
    pthread_mutex_lock(&s->health_mu);
    s->probing = 0;
    pthread_mutex_unlock(&s->health_mu);
}

/* Starts a probe unless one runs or ran less than a second ago; health_mu
 * held. A file system without room fails the probe without a write. */
static void probe_locked(struct sq_store *s)
{
    int64_t now = hd_mono_ms();
    if (s->probing || (s->probe_ms != 0 && now - s->probe_ms < SQ_PROBE_EVERY_MS)) {
        return;
    }
    s->probe_ms = now;
    if (room_short_locked(s)) {
        return;
    }
    struct sq_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        return;
    }
    op->apply = op_probe;
    op->done_fn = probe_done;
    op->done_ud = s;
    struct hd_err ignored;
    s->probing = 1;
    if (sq_submit_async(s, op, &ignored) != HD_OK) {
        s->probing = 0;
        free(op);
    }
}

int sq_store_writable(struct hd_store *st, struct hd_err *why)
{
    struct sq_store *s = sq_of(st);
    pthread_mutex_lock(&s->health_mu);
    int rc = HD_OK;
    if (s->failing) {
        probe_locked(s);
        rc = hd_err_set(why, HD_EIO, "%s", s->failing_why);
    }
    pthread_mutex_unlock(&s->health_mu);
    return rc;
}
