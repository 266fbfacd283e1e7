/* fixture_util.h - reading the real payloads of tests/fixtures/, shared by
 * the unit tests (decode_util.h, test_jtape, channel_fixture.h). It depends
 * on no layer of src/: decoding helpers live in decode_util.h. Helpers that
 * fail the test use cmocka: include <cmocka.h> first. */
#ifndef HD_TEST_FIXTURE_UTIL_H
#define HD_TEST_FIXTURE_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whole file, NUL-terminated (an empty file is ""); NULL if unreadable.
 * Caller frees. */
static inline char *fx_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p != NULL && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p != NULL) {
        p[n] = '\0';
        *len = (size_t)n;
    }
    return p;
}

/* tests/fixtures/<rel>; fails the test when it cannot be read. */
static inline char *fx_read_fixture(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", HD_FIXTURES, rel);
    char *p = fx_read_file(path, len);
    if (p == NULL) {
        fail_msg("cannot read %s", path);
    }
    return p;
}

static inline int fx_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A fixture file of NDJSON documents (by its extension). */
static inline int fx_is_ndjson_name(const char *n)
{
    return fx_ends_with(n, ".jsonl") || fx_ends_with(n, ".ndjson");
}

/* One fixture file: its directory and name under tests/fixtures/, rel =
 * "<dir>/<name>", its whole text (NUL-terminated). */
typedef void (*fx_fixture_fn)(const char *dir, const char *name, const char *rel, const char *body,
                              size_t len, void *ctx);

/* Calls fn for every JSON and NDJSON file of tests/fixtures/<dir>. A missing
 * directory fails the test when required, else is skipped. */
static inline void fx_each_fixture(const char *dir, int required, fx_fixture_fn fn, void *ctx)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", HD_FIXTURES, dir);
    DIR *d = opendir(path);
    if (d == NULL) {
        if (required) {
            fail_msg("cannot open %s", path);
        }
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (!fx_ends_with(n, ".json") && !fx_is_ndjson_name(n)) {
            continue;
        }
        char rel[512], full[1024];
        snprintf(rel, sizeof(rel), "%s/%s", dir, n);
        snprintf(full, sizeof(full), "%s/%s", HD_FIXTURES, rel);
        size_t len = 0;
        char *body = fx_read_file(full, &len);
        assert_non_null(body);
        fn(dir, n, rel, body, len, ctx);
        free(body);
    }
    closedir(d);
}

#endif
