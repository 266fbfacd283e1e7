/* sqlite_store.c - the embedded store: SQLite in WAL mode (SPEC sections 6, 9, 11).
 * Open, close and the ops table; the design of the whole is in sqlite_int.h,
 * each concern in its own file beside this one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "sqlite_int.h"

static void sq_close(struct hd_store *st)
{
    struct sq_store *s = sq_of(st);
    sq_writer_stop(s);
    sq_ckpt_stop(s);
    sq_conn_close(s->ckc);
    while (s->pool != NULL) {
        struct sq_conn *c = s->pool;
        s->pool = c->next;
        sq_conn_close(c);
    }
    sq_conn_close(s->w); /* checkpoints the WAL into the database */
    if (s->lock_fd >= 0) {
        close(s->lock_fd); /* last: the next process may open the store */
    }
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->ckpt_cv);
    pthread_mutex_destroy(&s->ckpt_mu);
    while (s->nzc > 0) {
        ZSTD_freeCCtx(s->zc[--s->nzc]);
    }
    pthread_mutex_destroy(&s->pool_mu);
    for (size_t i = 0; i < SQ_BLOB_CACHE_SLOTS; i++) {
        sq_blob_release(NULL, s->blob_slot[i]);
    }
    free(s->blob_spare);
    pthread_mutex_destroy(&s->blob_mu);
    pthread_mutex_destroy(&s->health_mu);
    pthread_mutex_destroy(&s->mu);
    free(s->ids_seen);
    free(s->path);
    free(s);
}

static const struct hd_store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .channel_list = sq_channel_list,
    .channel_get = sq_channel_get,
    .channel_get_by_name = sq_channel_get_by_name,
    .channel_create = sq_channel_create,
    .channel_update = sq_channel_update,
    .channel_delete = sq_channel_delete,
    .append = sq_append,
    .append_async = sq_append_async,
    .append_stream_async = sq_append_stream_async,
    .events_after = sq_events_after,
    .event_get = sq_event_get,
    .event_get_seq = sq_event_get_seq,
    .events_query = sq_events_query,
    .max_seq = sq_max_seq,
    .stats = sq_stats,
    .cursor_get = sq_cursor_get,
    .progress = sq_progress,
    .due_retries = sq_due_retries,
    .deliveries_list = sq_deliveries_list,
    .deliveries_of_event = sq_deliveries_of_event,
    .delivery_retry = sq_delivery_retry,
    .delivery_retry_channel = sq_delivery_retry_channel,
    .replay = sq_replay,
    .pending_count = sq_pending_count,
    .channel_lag = sq_channel_lag,
    .dead_count = sq_dead_count,
    .prune = sq_prune,
    .state_get = sq_state_get,
    .state_set = sq_state_set,
    .writable = sq_store_writable,
    .groups_save = sq_groups_save,
    .groups_list = sq_groups_list,
    .silence_put = sq_silence_put,
    .silence_get = sq_silence_get,
    .silence_list = sq_silence_list,
};

/* SQLite counts every allocation it makes for sqlite3_memory_used() under
 * one process-wide mutex; herald never asks, and the writer and the readers
 * took it thousands of times a second. Only possible before SQLite's first
 * use in the process (later the call fails harmlessly and counting stays). */
static void sqlite_global_config(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* One process per store: the writer keeps state of its own besides the file
 * (the last seq and rid, the filter of stored ids), which a second process
 * writing the same file would make wrong (events stored twice, seqs
 * reused). A lock file beside the database, flock'ed until the store is
 * closed: the kernel lets it go when the process dies, kill -9 included.
 * Where the file system has no flock, the store opens unlocked (a warning). */
static int store_lock(struct sq_store *s, struct hd_err *err)
{
    char lock[4096];
    if (snprintf(lock, sizeof(lock), "%s.lock", s->path) >= (int)sizeof(lock)) {
        return hd_err_set(err, HD_EINVAL, "store: path too long: %s", s->path);
    }
    s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        return hd_err_set(err, HD_EIO, "store: cannot create %s: %s", lock, strerror(errno));
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0) {
        return HD_OK;
    }
    int e = errno;
    if (e == EWOULDBLOCK) {
        return hd_err_set(err, HD_EIO,
                          "store: %s is held by another herald process (its lock %s is taken): "
                          "one process per embedded store; stop the other one first",
                          s->path, lock);
    }
    hd_log(HD_LOG_WARN, "store: cannot lock %s (%s): opened without the one-process check", lock,
           strerror(e));
    return HD_OK;
}

struct hd_store *hd_sqlite_store_open(const char *path, struct hd_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_global_config);
    if (path == NULL || path[0] == '\0') {
        hd_err_set(err, HD_EINVAL, "store: database path is empty");
        return NULL;
    }
    struct sq_store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        hd_err_set(err, HD_ENOMEM, "store: out of memory");
        return NULL;
    }
    s->base.ops = &sq_ops;
    s->lock_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_mutex_init(&s->blob_mu, NULL);
    pthread_mutex_init(&s->health_mu, NULL);
    pthread_condattr_t ca; /* the writer's commit delay waits on the monotonic clock */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    s->path = hd_strdup(path);
    if (s->path == NULL) {
        hd_err_set(err, HD_ENOMEM, "store: out of memory");
        goto fail;
    }
    if (store_lock(s, err) != HD_OK) {
        goto fail;
    }
    /* The database holds channel secrets: create it private. SQLite gives
     * the -wal and -shm files the same permissions. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        hd_err_set(err, HD_EIO, "store: cannot create %s: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    s->w = sq_conn_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err);
    if (s->w == NULL || sq_pragmas(s->w, err) != HD_OK || sq_migrate(s->w, err) != HD_OK) {
        goto fail;
    }
    sqlite3_stmt *mx = sq_stmt(s->w, Q_MAX_SEQ, err);
    int found = 0;
    if (mx == NULL || sq_query_i64(s->w, mx, &s->max_seq, &found, err, "reading the last seq") != HD_OK) {
        goto fail;
    }
    sqlite3_stmt *mr = sq_stmt(s->w, Q_MAX_RID, err);
    if (mr == NULL || sq_query_i64(s->w, mr, &s->max_rid, &found, err, "reading the last rid") != HD_OK) {
        goto fail;
    }
    if (sq_ids_load(s, err) != HD_OK) {
        goto fail;
    }
    atomic_store(&s->pub_max_seq, s->max_seq);
    s->page_size = sq_page_size(s->w);
    sq_ckpt_start(s);
    if (pthread_create(&s->writer, NULL, sq_writer_main, s) != 0) {
        hd_err_set(err, HD_EIO, "store: cannot start the writer thread");
        goto fail;
    }
    s->writer_started = 1;
    return &s->base;
fail:
    sq_close(&s->base);
    return NULL;
}
