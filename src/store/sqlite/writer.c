/* writer.c - the writer thread: the op queue and group commit.
 *
 * DESIGN: one writer thread owns the only write connection. Every write
 * (append, channel CRUD, progress, retries, replay, prune, state) is an op
 * {apply, arg, rc, done} queued under s->mu. The writer takes the whole queue, runs
 * each op inside its own SAVEPOINT of one transaction (a failing op is rolled
 * back alone), commits once - with synchronous=FULL that commit is the fsync -
 * and then wakes every caller. Concurrent appends thus share one sync (group
 * commit), and a caller returns only once its op is on stable storage.
 *
 * Savepoints cost: SQLite copies every page an op changes to the statement
 * journal of its savepoint, and the ops of a group of single events all
 * change the same few pages (the tables' and indexes' last leaves). A group
 * of appends alone therefore runs first without savepoints; only if one of
 * its ops fails is the transaction rolled back and the group run again with
 * them, so the failing op is rolled back alone (appends are safe to run
 * twice: max_seq and max_rid are restored, each event's seq and duplicate
 * flag are set afresh, and the small id levels' counts only time merges).
 *
 * Commit delay: a sync costs the same for one event as for a hundred, so
 * while requests keep coming (the last group committed under
 * SQ_LINGER_ACTIVE_US ago) and fewer than SQ_LINGER_OPS are queued, the
 * writer waits up to SQ_LINGER_US for more before it commits - PostgreSQL's
 * commit_delay, made adaptive. An idle store commits a lone request at once;
 * under load a group fills before the wait ends. Meanwhile queued ops do not
 * wake the writer until the group is full.
 *
 * seq is dense: the writer keeps max_seq in memory (loaded at open) and gives
 * each new event max_seq + 1; when an op or a whole group is rolled back the
 * value is restored. Other threads see max_seq only once committed
 * (s->pub_max_seq), so a reader never waits for a seq that is not visible.
 */
#include <stdlib.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "sqlite_int.h"

static void sq_group_fail(struct sq_op *group, const struct hd_err *why)
{
    for (struct sq_op *o = group; o != NULL; o = o->next) {
        if (o->rc == HD_OK) {
            o->rc = HD_EIO;
            o->err = *why;
            o->err.code = HD_EIO;
        }
    }
}

/* The group failed as a whole: the counters its ops moved are restored and
 * every op gets why. */
static void sq_group_undo(struct sq_store *s, struct sq_op *group, int64_t saved_max, int64_t saved_rid,
                          const struct hd_err *why)
{
    s->max_seq = saved_max;
    s->max_rid = saved_rid;
    sq_group_fail(group, why);
}

/* Runs the ops of one group in one transaction and commits. With savepoints
 * each op runs in its own, and a failing one is rolled back alone. Without
 * (a group of appends only: see DESIGN) a failing op rolls the whole
 * transaction back, and 0 says that nothing happened: run the group again
 * with savepoints. Otherwise 1: every op has its rc, HD_OK = committed. */
static int sq_try_group(struct sq_store *s, struct sq_op *group, const struct sq_gblob *g, int savepoints)
{
    struct sq_conn *c = s->w;
    int64_t saved_max = s->max_seq;
    int64_t saved_rid = s->max_rid;
    struct hd_err why = {0};
    for (struct sq_op *o = group; o != NULL; o = o->next) {
        o->rc = HD_OK;
    }
    if (sq_exec_id(c, Q_BEGIN, &why, "starting a transaction") != HD_OK) {
        sq_group_fail(group, &why);
        return 1;
    }
    for (struct sq_op *o = group; o != NULL; o = o->next) {
        int64_t before = s->max_seq;
        int64_t before_rid = s->max_rid;
        if (savepoints && sq_exec_id(c, Q_SAVEPOINT, &o->err, "savepoint") != HD_OK) {
            o->rc = HD_EIO;
            continue;
        }
        o->rc = o->apply(s, c, o->arg, &o->err);
        if (sqlite3_get_autocommit(c->db)) {
            /* SQLite rolled the whole transaction back (I/O error, disk
             * full): nothing of this group survives. */
            hd_err_set(&why, HD_EIO, "store: transaction aborted: %s", sqlite3_errmsg(c->db));
            sq_group_undo(s, group, saved_max, saved_rid, &why);
            return 1;
        }
        if (o->rc != HD_OK && !savepoints) {
            if (sq_exec_id(c, Q_ROLLBACK, &why, "rollback") != HD_OK) {
                sq_group_undo(s, group, saved_max, saved_rid, &why);
                return 1;
            }
            s->max_seq = saved_max;
            s->max_rid = saved_rid;
            hd_metrics_add("herald_store_group_reruns_total", NULL, 1);
            return 0;
        }
        if (o->rc != HD_OK) {
            struct hd_err ignored;
            s->max_seq = before;
            s->max_rid = before_rid;
            sq_exec_id(c, Q_ROLLBACK_TO, &ignored, "rollback to savepoint");
        }
        struct hd_err rel;
        if (savepoints && sq_exec_id(c, Q_RELEASE, &rel, "release savepoint") != HD_OK && o->rc == HD_OK) {
            o->rc = HD_EIO;
            o->err = rel;
        }
    }
    if ((g->rid != 0 && sq_gblob_store(c, group, g, &why) != HD_OK) ||
        sq_exec_id(c, Q_COMMIT, &why, "committing") != HD_OK) {
        struct hd_err ignored;
        if (!sqlite3_get_autocommit(c->db)) {
            sq_exec_id(c, Q_ROLLBACK, &ignored, "rollback");
        }
        hd_log(HD_LOG_ERROR, "store: commit failed: %s", why.msg);
        sq_group_undo(s, group, saved_max, saved_rid, &why);
    }
    return 1;
}

static int sq_all_appends(const struct sq_op *group)
{
    for (const struct sq_op *o = group; o != NULL; o = o->next) {
        if (o->append == NULL) {
            return 0;
        }
    }
    return 1;
}

/* Runs one group (see DESIGN, "Savepoints cost"). */
static void sq_run_group_in(struct sq_store *s, struct sq_op *group, const struct sq_gblob *g)
{
    if (!sq_all_appends(group) || !sq_try_group(s, group, g, 0)) {
        (void)sq_try_group(s, group, g, 1);
    }
}

#define SQ_LINGER_US 2000         /* the longest a request waits for company */
#define SQ_LINGER_OPS 16          /* a group this big commits at once */
#define SQ_LINGER_ACTIVE_US 20000 /* a stream: the last commit ended this recently */

/* Waits (s->mu held) while a small group may still grow: see DESIGN. */
static void sq_linger(struct sq_store *s)
{
    int64_t now = hd_mono_us();
    if (s->queued >= SQ_LINGER_OPS || s->stopping || now - s->commit_us > SQ_LINGER_ACTIVE_US) {
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += SQ_LINGER_US * 1000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    s->lingering = 1;
    while (s->queued < SQ_LINGER_OPS && !s->stopping) {
        if (pthread_cond_timedwait(&s->wake, &s->mu, &until) != 0) {
            break; /* timed out (or failed: commit what there is) */
        }
    }
    s->lingering = 0;
}

/* The group's small appends share one compressed blob (raws.c). */
static void sq_run_group(struct sq_store *s, struct sq_op *group)
{
    struct sq_gblob g;
    sq_zip_group(s, group, &g);
    sq_run_group_in(s, group, &g);
    sq_gblob_free(&g);
}

void *sq_writer_main(void *arg)
{
    hd_thread_name("hd-writer");
    struct sq_store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->head == NULL && !s->stopping) {
            pthread_cond_wait(&s->wake, &s->mu);
        }
        if (s->head == NULL) {
            break; /* stopping and drained */
        }
        sq_linger(s);
        struct sq_op *group = s->head;
        s->head = NULL;
        s->tail = NULL;
        s->queued = 0;
        pthread_mutex_unlock(&s->mu);

        sqlite3_int64 changes = sqlite3_total_changes64(s->w->db);
        sq_run_group(s, group);
        sq_health_note(s, group, sqlite3_total_changes64(s->w->db) != changes);
        s->commit_us = hd_mono_us();
        sq_ckpt_catch_up(s);
        /* With herald_events_stored_total: events per group commit. */
        hd_metrics_add("herald_store_commits_total", NULL, 1);
        sq_ids_note(s);

        /* Published before any completion runs: a caller woken below may
         * wake the dispatcher, which must see these events. */
        atomic_store(&s->pub_max_seq, s->max_seq);
        struct sq_op *async_head = NULL;
        struct sq_op **async_tail = &async_head;
        pthread_mutex_lock(&s->mu);
        /* Once done is set the caller may return and free the op: read next first. */
        for (struct sq_op *o = group; o != NULL;) {
            struct sq_op *next = o->next;
            if (o->done_fn != NULL) {
                o->next = NULL;
                *async_tail = o;
                async_tail = &o->next;
            } else {
                o->done = 1;
                /* Safe under s->mu: the caller cannot return (and destroy cv)
                 * before this thread releases the mutex. */
                pthread_cond_signal(&o->cv);
            }
            o = next;
        }
        if (async_head != NULL) {
            pthread_mutex_unlock(&s->mu);
            for (struct sq_op *o = async_head; o != NULL;) {
                struct sq_op *next = o->next;
                o->done_fn(o->done_ud, o->rc, o->rc == HD_OK ? NULL : &o->err);
                free(o);
                o = next;
            }
            pthread_mutex_lock(&s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Appends op to the queue and wakes the writer; s->mu held. */
static int queue_locked(struct sq_store *s, struct sq_op *op, struct hd_err *err)
{
    if (s->stopping) {
        return hd_err_set(err, HD_ESHUTDOWN, "store: closing");
    }
    if (s->tail != NULL) {
        s->tail->next = op;
    } else {
        s->head = op;
    }
    s->tail = op;
    s->queued++;
    if (!s->lingering || s->queued >= SQ_LINGER_OPS) {
        pthread_cond_signal(&s->wake);
    }
    return HD_OK;
}

static int submit(struct sq_store *s, sq_apply_fn fn, void *arg, struct append_args *append,
                  struct hd_err *err)
{
    struct sq_op op = {.apply = fn, .arg = arg, .append = append};
    pthread_cond_init(&op.cv, NULL);
    pthread_mutex_lock(&s->mu);
    int rc = queue_locked(s, &op, err);
    if (rc != HD_OK) {
        pthread_mutex_unlock(&s->mu);
        pthread_cond_destroy(&op.cv);
        return rc;
    }
    while (!op.done) {
        pthread_cond_wait(&op.cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_cond_destroy(&op.cv);
    if (op.rc != HD_OK && err != NULL) {
        *err = op.err;
        err->code = op.rc;
    }
    return op.rc;
}

int sq_submit(struct sq_store *s, sq_apply_fn fn, void *arg, struct hd_err *err)
{
    return submit(s, fn, arg, NULL, err);
}

int sq_submit_append(struct sq_store *s, sq_apply_fn fn, struct append_args *a, struct hd_err *err)
{
    return submit(s, fn, a, a, err);
}

int sq_submit_async(struct sq_store *s, struct sq_op *op, struct hd_err *err)
{
    pthread_mutex_lock(&s->mu);
    int rc = queue_locked(s, op, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Lets the writer drain the queue, then joins it. */
void sq_writer_stop(struct sq_store *s)
{
    if (!s->writer_started) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->writer, NULL);
}
