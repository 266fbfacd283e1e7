/* pg_store.c - the shared store on PostgreSQL: open, close, the ops table. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "pg_int.h"

static void pg_close(struct hd_store *st)
{
    struct pg_store *s = pg_of(st);
    pg_cluster_stop(s);
    pg_writer_stop(s);
    for (size_t i = 0; i < s->n_idle; i++) {
        PQfinish(s->idle[i]);
    }
    if (s->conninfo != NULL) {
        explicit_bzero(s->conninfo, strlen(s->conninfo));
    }
    free(s->conninfo);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->wcv);
    pthread_mutex_destroy(&s->why_mu);
    free(s);
}

static const struct hd_store_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .channel_list = pg_channel_list,
    .channel_get = pg_channel_get,
    .channel_get_by_name = pg_channel_get_by_name,
    .channel_create = pg_channel_create,
    .channel_update = pg_channel_update,
    .channel_delete = pg_channel_delete,
    .append = pg_append,
    .append_async = pg_append_async,
    .append_stream_async = pg_append_stream_async,
    .events_after = pg_events_after,
    .event_get = pg_event_get,
    .event_get_seq = pg_event_get_seq,
    .events_query = pg_events_query,
    .max_seq = pg_max_seq,
    .stats = pg_stats,
    .cursor_get = pg_cursor_get,
    .progress = pg_progress,
    .due_retries = pg_due_retries,
    .deliveries_list = pg_deliveries_list,
    .deliveries_of_event = pg_deliveries_of_event,
    .delivery_retry = pg_delivery_retry,
    .delivery_retry_channel = pg_delivery_retry_channel,
    .replay = pg_replay,
    .pending_count = pg_pending_count,
    .channel_lag = pg_channel_lag,
    .dead_count = pg_dead_count,
    .prune = pg_prune,
    .state_get = pg_state_get,
    .state_set = pg_state_set,
    .writable = pg_writable,
    .groups_save = pg_groups_save,
    .groups_list = pg_groups_list,
    .silence_put = pg_silence_put,
    .silence_get = pg_silence_get,
    .silence_list = pg_silence_list,
    .owns_channel = pg_owns_channel,
    .owns_inputs = pg_owns_inputs,
    .on_change = pg_on_change,
    .replica = pg_replica,
    .is_empty = pg_is_empty,
    .import_channel = pg_import_channel,
    .import_events = pg_import_events,
    .import_cursor = pg_import_cursor,
    .import_delivery = pg_import_delivery,
};

struct hd_store *hd_pg_store_open(const char *url, struct hd_err *err)
{
    struct pg_store *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->conninfo = hd_strdup(url)) == NULL) {
        free(s);
        hd_err_set(err, HD_ENOMEM, "out of memory");
        return NULL;
    }
    s->base.ops = &pg_ops;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->wcv, NULL);
    pthread_mutex_init(&s->why_mu, NULL);
    s->q_tail = &s->q_head;
    PGconn *c = pg_get(s, err);
    if (c == NULL) {
        pg_close(&s->base);
        return NULL;
    }
    int rc = pg_migrate(c, err);
    pg_put(s, c);
    if (rc == HD_OK) {
        rc = pg_writer_start(s, err);
    }
    if (rc == HD_OK) {
        rc = pg_cluster_start(s, err);
    }
    if (rc != HD_OK) {
        pg_close(&s->base);
        return NULL;
    }
    (void)pg_max_seq(&s->base);
    return &s->base;
}
