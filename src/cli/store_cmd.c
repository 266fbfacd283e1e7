/* store_cmd.c - `herald store migrate --from URL --to URL` (SPEC 2, 9):
 * copies an embedded store to PostgreSQL with its channels (ids and versions
 * kept), events (seq kept, raw included), cursors and exception rows
 * (retries and dead letters), through the store interface: the source is
 * read with the ops every backend has, the target written with its import
 * ops. A second run adds nothing (imports skip what is there); a non-empty
 * target is refused unless --into-existing says so. Stop herald on the
 * source first: events stored meanwhile would not be copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "core/log.h"
#include "store/store.h"

#define MIGRATE_BATCH 1000
#define MIGRATE_BYTES (8 * 1024 * 1024) /* of events held at once, whatever their size */

static const char store_usage[] =
    "usage: herald store migrate --from sqlite:PATH --to postgres://USER@HOST/DB [--into-existing]\n"
    "Copies a store: channels (ids and versions kept), events, cursors, retries and dead\n"
    "letters. Stop herald first. A target that already holds channels or events is\n"
    "refused unless --into-existing (then only what is missing is added; running the\n"
    "migration twice changes nothing). The URLs may also come from HERALD_MIGRATE_FROM\n"
    "and HERALD_MIGRATE_TO (keeps a password off the command line).\n";

struct counts {
    size_t channels, events, rows, cursors;
};

static int copy_channels(struct hd_store *from, struct hd_store *to, struct counts *k, struct hd_err *err)
{
    struct hd_channel_rec *recs = NULL;
    size_t n = 0;
    int rc = from->ops->channel_list(from, &recs, &n, err);
    for (size_t i = 0; rc == HD_OK && i < n; i++) {
        rc = to->ops->import_channel(to, &recs[i], err);
        k->channels += rc == HD_OK;
    }
    hd_channel_recs_free(recs, n);
    return rc;
}

/* The exception rows of evs[0..n) (read per event: they are few). */
static int copy_rows(struct hd_store *from, struct hd_store *to, const struct hd_event *evs, size_t n,
                     struct counts *k, struct hd_err *err)
{
    int rc = HD_OK;
    for (size_t i = 0; rc == HD_OK && i < n; i++) {
        struct hd_delivery *rows = NULL;
        size_t m = 0;
        rc = from->ops->deliveries_of_event(from, evs[i].seq, &rows, &m, err);
        for (size_t j = 0; rc == HD_OK && j < m; j++) {
            rc = to->ops->import_delivery(to, &rows[j], err);
            k->rows += rc == HD_OK;
        }
        hd_deliveries_free(rows, m);
    }
    return rc;
}

static int copy_events(struct hd_store *from, struct hd_store *to, struct counts *k, struct hd_err *err)
{
    int64_t after = 0;
    for (;;) {
        struct hd_event *evs = NULL;
        size_t n = 0;
        int rc = from->ops->events_after(
            from, &(struct hd_range){.after_seq = after, .limit = MIGRATE_BATCH, .max_bytes = MIGRATE_BYTES},
            &evs, &n, err);
        if (rc == HD_OK && n > 0) {
            rc = to->ops->import_events(to, evs, n, err);
        }
        if (rc == HD_OK) {
            rc = copy_rows(from, to, evs, n, k, err);
        }
        if (n > 0) {
            after = evs[n - 1].seq;
        }
        k->events += rc == HD_OK ? n : 0;
        hd_events_free(evs, n);
        if (rc != HD_OK || n == 0) {
            return rc;
        }
        if (k->events % 100000 < MIGRATE_BATCH) {
            fprintf(stderr, "herald store migrate: %zu events copied\n", k->events);
        }
    }
}

static int copy_cursors(struct hd_store *from, struct hd_store *to, struct counts *k, struct hd_err *err)
{
    struct hd_channel_rec *recs = NULL;
    size_t n = 0;
    int rc = from->ops->channel_list(from, &recs, &n, err);
    for (size_t i = 0; rc == HD_OK && i < n; i++) {
        int64_t cur = 0;
        rc = from->ops->cursor_get(from, recs[i].id, &cur, err);
        if (rc == HD_OK) {
            rc = to->ops->import_cursor(to, recs[i].id, cur, err);
            k->cursors += rc == HD_OK;
        }
    }
    hd_channel_recs_free(recs, n);
    return rc;
}

/* A sqlite source must exist (opening would create an empty one). */
static int source_exists(const char *url, struct hd_err *err)
{
    if (strncmp(url, "sqlite:", 7) != 0) {
        return HD_OK;
    }
    const char *path = url + 7;
    if (strncmp(path, "//", 2) == 0) {
        path += 2;
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        return hd_err_set(err, HD_ENOTFOUND, "--from: no SQLite store at %s", path);
    }
    return HD_OK;
}

static int migrate(const char *from_url, const char *to_url, int into_existing, struct hd_err *err)
{
    struct counts k = {0};
    struct hd_store *from = NULL, *to = NULL;
    int rc = source_exists(from_url, err);
    if (rc == HD_OK && (from = hd_store_open(from_url, NULL, err)) == NULL) {
        hd_err_prefix(err, "--from: ");
        rc = HD_EIO;
    }
    if (rc == HD_OK && (to = hd_store_open(to_url, NULL, err)) == NULL) {
        hd_err_prefix(err, "--to: ");
        rc = HD_EIO;
    }
    if (rc == HD_OK && (to->ops->is_empty == NULL || to->ops->import_channel == NULL)) {
        rc = hd_err_set(err, HD_EINVAL, "--to: a %s store cannot be a migration target", to->ops->name);
    }
    int empty = 0;
    if (rc == HD_OK) {
        rc = to->ops->is_empty(to, &empty, err);
    }
    if (rc == HD_OK && !empty && !into_existing) {
        rc = hd_err_set(err, HD_ECONFLICT,
                        "--to: the target store is not empty (--into-existing adds only what is missing)");
    }
    rc = rc == HD_OK ? copy_channels(from, to, &k, err) : rc;
    rc = rc == HD_OK ? copy_events(from, to, &k, err) : rc;
    rc = rc == HD_OK ? copy_cursors(from, to, &k, err) : rc;
    if (rc == HD_OK) {
        printf("migrated %zu channels, %zu events, %zu retries and dead letters, %zu cursors\n", k.channels,
               k.events, k.rows, k.cursors);
    }
    hd_store_close(to);
    hd_store_close(from);
    return rc;
}

static int cmd_migrate(int argc, char **argv)
{
    const char *from = getenv("HERALD_MIGRATE_FROM");
    const char *to = getenv("HERALD_MIGRATE_TO");
    int into = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(store_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--into-existing") == 0) {
            into = 1;
        } else if (i + 1 < argc && strcmp(argv[i], "--from") == 0) {
            from = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--to") == 0) {
            to = argv[++i];
        } else {
            fprintf(stderr, "herald store migrate: unknown or incomplete option '%s'\n\n%s", argv[i],
                    store_usage);
            return 2;
        }
    }
    if (from == NULL || to == NULL) {
        fprintf(stderr, "herald store migrate: --from and --to are required\n\n%s", store_usage);
        return 2;
    }
    struct hd_err err = {0};
    if (migrate(from, to, into, &err) != HD_OK) {
        fprintf(stderr, "herald store migrate: %s\n", err.msg); /* the stores never echo a URL */
        return 1;
    }
    return 0;
}

int hd_cmd_store(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "migrate") == 0) {
        return cmd_migrate(argc, argv);
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(store_usage, stdout);
        return 0;
    }
    fprintf(stderr, "herald store: expected 'migrate'\n\n%s", store_usage);
    return 2;
}
