/* checkpoint.c - the checkpointer: copies the WAL into the database off the
 * writer's path.
 *
 * DESIGN: SQLite's automatic checkpoint runs inside COMMIT on the writer, so
 * every ~4 MB of WAL one ingest group waited for the copy of the WAL into the
 * database and its fsync. Here wal_autocheckpoint is 0 on the writer; its WAL
 * hook (called after each commit with the WAL's frame count) wakes a thread
 * that runs PASSIVE checkpoints on its own connection - never blocking the
 * writer nor the readers - each time SQ_CKPT_SOFT_BYTES more of WAL await
 * copying. A PASSIVE checkpoint under continuous writes never
 * ends exactly at the WAL's end, so the WAL would never restart from its
 * beginning and would grow: past SQ_CKPT_HARD_BYTES the writer itself runs a
 * PASSIVE checkpoint between two groups (nothing is written meanwhile, the
 * background one already copied nearly all), after which the next write
 * restarts the WAL and journal_size_limit truncates the file. Durability is
 * unchanged: a commit is synced in the WAL (synchronous=FULL); a checkpoint
 * syncs the WAL before copying and the database before the WAL is reused.
 */
#include "core/util.h"
#include "core/err.h"
#include "core/log.h"
#include "sqlite_int.h"

#define SQ_CKPT_SOFT_BYTES (8 * 1024 * 1024)  /* WAL size that wakes the checkpointer */
#define SQ_CKPT_HARD_BYTES (64 * 1024 * 1024) /* WAL size at which the writer catches up itself */

static int sq_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct sq_store *s = arg;
    atomic_store(&s->wal_frames, frames);
    /* Only past SQ_CKPT_SOFT_BYTES of WAL not yet copied: waking it after
     * every commit made checkpoints of a few frames, each with two fsyncs
     * competing with the commits' own and rewriting the same hot pages. */
    int done = atomic_load(&s->ckpt_frames);
    if (frames < done) {
        done = 0; /* the WAL restarted */
    }
    if ((int64_t)(frames - done) * s->page_size >= SQ_CKPT_SOFT_BYTES && s->ckpt_started) {
        pthread_mutex_lock(&s->ckpt_mu);
        if (!s->ckpt_want) {
            s->ckpt_want = 1;
            pthread_cond_signal(&s->ckpt_cv);
        }
        pthread_mutex_unlock(&s->ckpt_mu);
    }
    return SQLITE_OK;
}

void sq_ckpt_catch_up(struct sq_store *s)
{
    if ((int64_t)atomic_load(&s->wal_frames) * s->page_size < SQ_CKPT_HARD_BYTES) {
        return;
    }
    int log = 0;
    int done = 0;
    int rc = sqlite3_wal_checkpoint_v2(s->w->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        hd_log(HD_LOG_WARN, "store: checkpoint: %s", sqlite3_errmsg(s->w->db));
    }
    /* Checked again after the next commit resets the WAL (its hook says so). */
    atomic_store(&s->wal_frames, 0);
    atomic_store(&s->ckpt_frames, 0);
}

static void *sq_ckpt_main(void *arg)
{
    hd_thread_name("hd-checkpoint");
    struct sq_store *s = arg;
    pthread_mutex_lock(&s->ckpt_mu);
    for (;;) {
        while (!s->ckpt_want && !s->ckpt_stop) {
            pthread_cond_wait(&s->ckpt_cv, &s->ckpt_mu);
        }
        if (s->ckpt_stop) {
            break;
        }
        s->ckpt_want = 0;
        pthread_mutex_unlock(&s->ckpt_mu);
        int log = 0;
        int done = 0;
        int rc = sqlite3_wal_checkpoint_v2(s->ckc->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
            hd_log(HD_LOG_WARN, "store: background checkpoint: %s", sqlite3_errmsg(s->ckc->db));
        } else if (done > 0) {
            atomic_store(&s->ckpt_frames, done);
        }
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    return NULL;
}

/* Opens the checkpointer's connection and thread; without them (an error is
 * logged) SQLite's automatic checkpoint stays on: slower, still correct. */
void sq_ckpt_start(struct sq_store *s)
{
    struct hd_err err = {0};
    s->ckc = sq_conn_open(s->path, SQLITE_OPEN_READWRITE, &err);
    if (s->ckc == NULL ||
        sqlite3_exec(s->ckc->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
        hd_log(HD_LOG_WARN, "store: no background checkpoints: %s", err.msg[0] ? err.msg : "pragma failed");
        sq_conn_close(s->ckc);
        s->ckc = NULL;
        return;
    }
    if (pthread_create(&s->ckpt, NULL, sq_ckpt_main, s) != 0) {
        hd_log(HD_LOG_WARN, "store: no background checkpoints: cannot start the thread");
        sq_conn_close(s->ckc);
        s->ckc = NULL;
        return;
    }
    s->ckpt_started = 1;
    sqlite3_wal_autocheckpoint(s->w->db, 0);
    sqlite3_wal_hook(s->w->db, sq_wal_hook, s);
}

void sq_ckpt_stop(struct sq_store *s)
{
    if (!s->ckpt_started) {
        return;
    }
    pthread_mutex_lock(&s->ckpt_mu);
    s->ckpt_stop = 1;
    pthread_cond_signal(&s->ckpt_cv);
    pthread_mutex_unlock(&s->ckpt_mu);
    pthread_join(s->ckpt, NULL);
}
