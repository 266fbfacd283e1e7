/* store.c - picks a store backend by URL and frees the records stores return. */
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"

/* mkdir -p with mode for the directories it creates; existing ones are left
 * as they are (the operator may have chosen other permissions). */
static int mkdir_p(const char *dir, mode_t mode, struct hd_err *err)
{
    char path[4096];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof(path)) {
        return hd_err_set(err, HD_EINVAL, "dataDir: path is empty or longer than %zu bytes",
                          sizeof(path) - 1);
    }
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0') {
            continue;
        }
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, mode) != 0 && errno != EEXIST) {
            return hd_err_set(err, HD_EIO, "dataDir: cannot create %s: %s", path, strerror(errno));
        }
        path[i] = saved;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        return hd_err_set(err, HD_EIO, "dataDir: %s is not a directory", dir);
    }
    return HD_OK;
}

struct hd_store *hd_store_open(const char *url, const char *data_dir, struct hd_err *err)
{
    if (url == NULL || url[0] == '\0' || strcmp(url, "sqlite") == 0) {
        if (data_dir == NULL || data_dir[0] == '\0') {
            hd_err_set(err, HD_EINVAL, "dataDir: required by the embedded (sqlite) store");
            return NULL;
        }
        if (mkdir_p(data_dir, 0700, err) != HD_OK) {
            return NULL;
        }
        char path[4200];
        int n = snprintf(path, sizeof(path), "%s/herald.db", data_dir);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            hd_err_set(err, HD_EINVAL, "dataDir: path too long");
            return NULL;
        }
        return hd_sqlite_store_open(path, err);
    }
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *path = url + 7;
        if (strncmp(path, "//", 2) == 0) {
            path += 2;
        }
        if (path[0] == '\0') {
            hd_err_set(err, HD_EINVAL, "store: sqlite: needs a file path (sqlite:/var/lib/herald/herald.db)");
            return NULL;
        }
        return hd_sqlite_store_open(path, err);
    }
    /* Never echo the URL: a postgres URL may carry a password. */
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        return hd_pg_store_open(url, err);
    }
    hd_err_set(err, HD_EINVAL,
               "store: unknown store URL scheme (use \"sqlite\", \"sqlite:PATH\" or \"postgres://...\")");
    return NULL;
}

void hd_store_close(struct hd_store *st)
{
    if (st == NULL) {
        return;
    }
    st->ops->close(st);
}

void hd_channel_rec_clear(struct hd_channel_rec *r)
{
    if (r == NULL) {
        return;
    }
    free(r->name);
    free(r->type);
    free(r->managed_by);
    free(r->json);
    memset(r, 0, sizeof(*r));
}

void hd_channel_recs_free(struct hd_channel_rec *r, size_t n)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        hd_channel_rec_clear(&r[i]);
    }
    free(r);
}

void hd_deliveries_free(struct hd_delivery *d, size_t n)
{
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(d[i].last_error);
    }
    free(d);
}

void hd_silence_clear(struct hd_silence *s)
{
    if (s == NULL) {
        return;
    }
    free(s->matchers);
    free(s->created_by);
    free(s->comment);
    memset(s, 0, sizeof(*s));
}

void hd_silences_free(struct hd_silence *s, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++) {
        hd_silence_clear(&s[i]);
    }
    free(s);
}

void hd_group_recs_free(struct hd_group_rec *g, size_t n)
{
    for (size_t i = 0; g != NULL && i < n; i++) {
        free(g[i].key);
        free(g[i].state);
    }
    free(g);
}

char *hd_store_like_pattern(const char *q)
{
    size_t n = strlen(q);
    char *p = malloc(2 * n + 3);
    if (p == NULL) {
        return NULL;
    }
    size_t k = 0;
    p[k++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\') {
            p[k++] = '\\';
        }
        p[k++] = q[i];
    }
    p[k++] = '%';
    p[k] = '\0';
    return p;
}
