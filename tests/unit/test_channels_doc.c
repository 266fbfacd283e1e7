/* test_channels_doc.c - docs/channels.md against the channel registry, so the
 * reference cannot drift from the code (issue 13 part 7).
 *
 * DESIGN: the registry (registry.c) is the table of types, each with its
 * secret_options and url_options tables; the options a type has are the
 * ones its validation reads. The doc's "### `TYPE`" sections must be the
 * registered types; an option row marked **secret** or **URL** must be in
 * those tables and every entry of them must be so marked; and the options
 * read while the common options and the type's configure validate the
 * section's example (json_object_object_get_ex is wrapped below and records
 * every key looked up on the example's options object) must be exactly the
 * section's rows plus the "Common options" rows. The example itself must
 * pass hd_channel_validate. Nested keys (tls.caFile) are documented in their
 * parent's row and not checked one by one.
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/email.h"

#define DOC HD_FIXTURES "/../../docs/channels.md"
#define MAX_NAMES 64
#define MAX_SECTIONS 32

/* ---- the recorder: keys looked up on one object ---- */

static json_object *tracked;
static char *seen[MAX_NAMES];
static size_t n_seen;

static int has(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i], s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The executable's definition wins over libjson-c's for the channel code
 * linked into it; the real one is the next in the lookup order. */
json_bool json_object_object_get_ex(const struct json_object *obj, const char *key,
                                    struct json_object **value)
{
    static json_bool (*real)(const struct json_object *, const char *, struct json_object **);
    if (real == NULL) {
        *(void **)&real = dlsym(RTLD_NEXT, "json_object_object_get_ex");
    }
    if (obj != NULL && obj == tracked && key != NULL && n_seen < MAX_NAMES && !has(seen, n_seen, key)) {
        seen[n_seen++] = strdup(key);
    }
    return real(obj, key, value);
}

static void seen_clear(void)
{
    for (size_t i = 0; i < n_seen; i++) {
        free(seen[i]);
    }
    n_seen = 0;
}

/* ---- the doc ---- */

struct row {
    char name[64];
    int secret; /* marked **secret** */
    int url;    /* marked **URL** */
};

struct section {
    char type[64]; /* "" for the common options */
    struct row rows[MAX_NAMES];
    size_t n_rows;
    char *example; /* the first ```json block, malloc'd */
};

struct doc {
    struct section common;
    struct section types[MAX_SECTIONS];
    size_t n_types;
};

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        fwrite(chunk, 1, n, m);
    }
    fclose(f);
    fclose(m);
    return buf;
}

/* "| `name` | ... |" -> a row; other lines are not rows. */
static int parse_row(const char *line, struct row *r)
{
    if (strncmp(line, "| `", 3) != 0) {
        return 0;
    }
    const char *end = strchr(line + 3, '`');
    if (end == NULL || (size_t)(end - line - 3) >= sizeof(r->name)) {
        return 0;
    }
    memset(r, 0, sizeof(*r));
    memcpy(r->name, line + 3, (size_t)(end - line - 3));
    r->secret = strstr(end, "**secret**") != NULL;
    r->url = strstr(end, "**URL**") != NULL;
    return 1;
}

static void parse_doc(char *text, struct doc *d)
{
    struct section *cur = NULL;
    int in_json = 0;
    char *json = NULL;
    size_t json_len = 0;
    FILE *jm = NULL;
    memset(d, 0, sizeof(*d));
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (in_json) {
            if (strcmp(line, "```") == 0) {
                fclose(jm);
                in_json = 0;
                if (cur != NULL && cur->example == NULL) {
                    cur->example = json;
                } else {
                    free(json);
                }
                json = NULL;
            } else {
                fprintf(jm, "%s\n", line);
            }
            continue;
        }
        if (strcmp(line, "```json") == 0) {
            jm = open_memstream(&json, &json_len);
            in_json = 1;
        } else if (strcmp(line, "## Common options") == 0) {
            cur = &d->common;
        } else if (strncmp(line, "### `", 5) == 0) {
            assert_true(d->n_types < MAX_SECTIONS);
            cur = &d->types[d->n_types++];
            const char *end = strchr(line + 5, '`');
            assert_non_null(end);
            snprintf(cur->type, sizeof(cur->type), "%.*s", (int)(end - line - 5), line + 5);
        } else if (strncmp(line, "## ", 3) == 0) {
            cur = NULL;
        } else if (cur != NULL && cur->n_rows < MAX_NAMES && parse_row(line, &cur->rows[cur->n_rows])) {
            cur->n_rows++;
        }
    }
    assert_false(in_json);
}

static void doc_free(struct doc *d)
{
    free(d->common.example);
    for (size_t i = 0; i < d->n_types; i++) {
        free(d->types[i].example);
    }
}

static const struct row *find_row(const struct section *s, const char *name)
{
    for (size_t i = 0; i < s->n_rows; i++) {
        if (strcmp(s->rows[i].name, name) == 0) {
            return &s->rows[i];
        }
    }
    return NULL;
}

static int listed(const char *const *list, const char *name, int each_ok)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        size_t n = strlen(list[i]);
        size_t sl = strlen(HD_SECRET_EACH);
        if (strcmp(list[i], name) == 0 ||
            (each_ok && n > sl && strcmp(list[i] + n - sl, HD_SECRET_EACH) == 0 &&
             strncmp(list[i], name, n - sl) == 0 && name[n - sl] == '\0')) {
            return 1;
        }
    }
    return 0;
}

static struct doc the_doc;
static char *doc_text;

static int setup(void **state)
{
    doc_text = read_file(DOC);
    parse_doc(doc_text, &the_doc);
    /* EMAIL refuses a channel while herald has no SMTP server. */
    struct hd_smtp_settings s = {.url = "smtp://127.0.0.1:2525", .from = "herald@example.com"};
    return hd_channel_set_smtp(&s);
}

static int teardown(void **state)
{
    doc_free(&the_doc);
    free(doc_text);
    hd_channel_smtp_clear();
    seen_clear();
    return 0;
}

/* ---- the checks ---- */

static void test_types_are_the_registry(void **state)
{
    size_t n = 0;
    const struct hd_channel_type *const *types = hd_channel_types(&n);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t j = 0; j < the_doc.n_types; j++) {
            found |= strcmp(the_doc.types[j].type, types[i]->name) == 0;
        }
        if (!found) {
            print_error("docs/channels.md: type %s is registered but has no '### `%s`' section\n",
                        types[i]->name, types[i]->name);
            bad = 1;
        }
    }
    for (size_t j = 0; j < the_doc.n_types; j++) {
        if (hd_channel_type_find(the_doc.types[j].type) == NULL) {
            print_error("docs/channels.md: section %s is not a registered type\n", the_doc.types[j].type);
            bad = 1;
        }
    }
    assert_true(the_doc.common.n_rows > 0);
    assert_false(bad);
}

/* Rows marked **secret** / **URL** in a type's section (or the common one)
 * are exactly its secret_options / url_options (common: the common URL
 * options). */
static void test_secret_and_url_marks(void **state)
{
    int bad = 0;
    for (size_t i = 0; i < the_doc.common.n_rows; i++) {
        const struct row *r = &the_doc.common.rows[i];
        if (r->url != listed(hd_channel_common_url_options, r->name, 0) || r->secret) {
            print_error("docs/channels.md: common option %s: marked %s%s, the code says URL=%d secret=0\n",
                        r->name, r->url ? "URL " : "", r->secret ? "secret" : "",
                        listed(hd_channel_common_url_options, r->name, 0));
            bad = 1;
        }
    }
    for (size_t j = 0; j < the_doc.n_types; j++) {
        const struct section *s = &the_doc.types[j];
        const struct hd_channel_type *t = hd_channel_type_find(s->type);
        if (t == NULL) {
            continue;
        }
        for (size_t i = 0; i < s->n_rows; i++) {
            const struct row *r = &s->rows[i];
            int sec = listed(t->secret_options, r->name, 1);
            int url = listed(t->url_options, r->name, 0);
            if (r->secret != sec || r->url != url) {
                print_error("docs/channels.md: %s.%s: marked secret=%d URL=%d, the type's tables say "
                            "secret=%d URL=%d\n",
                            s->type, r->name, r->secret, r->url, sec, url);
                bad = 1;
            }
        }
        const char *const *lists[] = {t->secret_options, t->url_options};
        for (size_t l = 0; l < 2; l++) {
            for (size_t k = 0; lists[l] != NULL && lists[l][k] != NULL; k++) {
                char name[64];
                snprintf(name, sizeof(name), "%s", lists[l][k]);
                char *each = strstr(name, HD_SECRET_EACH);
                if (each != NULL) {
                    *each = '\0';
                }
                if (find_row(s, name) == NULL) {
                    print_error("docs/channels.md: %s: %s option %s has no row\n", s->type,
                                l ? "URL" : "secret", name);
                    bad = 1;
                }
            }
        }
    }
    assert_false(bad);
}

/* The options validation reads for the example = the section's rows plus
 * the common rows; and the example is valid. */
static void test_options_read_are_the_rows(void **state)
{
    int bad = 0;
    for (size_t j = 0; j < the_doc.n_types; j++) {
        const struct section *s = &the_doc.types[j];
        const struct hd_channel_type *t = hd_channel_type_find(s->type);
        struct hd_err err = {0};
        if (t == NULL) {
            continue;
        }
        if (s->example == NULL) {
            print_error("docs/channels.md: %s has no ```json example\n", s->type);
            bad = 1;
            continue;
        }
        json_object *obj = hd_json_parse(s->example, strlen(s->example), &err);
        if (obj == NULL) {
            print_error("docs/channels.md: %s: the example is not JSON: %s\n", s->type, err.msg);
            bad = 1;
            continue;
        }
        if (hd_channel_validate(obj, &err) != HD_OK ||
            strcmp(json_object_get_string(hd_opt_get(obj, "type")), s->type) != 0) {
            print_error("docs/channels.md: %s: the example does not validate as %s: %s\n", s->type, s->type,
                        err.msg);
            bad = 1;
            json_object_put(obj);
            continue;
        }
        /* What channel.c's channel_build runs: the common options, then the
         * type's configure (not the secrets collection, which reads every
         * type's credentials to scrub them). */
        struct hd_channel *ch = calloc(1, sizeof(*ch));
        assert_non_null(ch);
        json_object *options = hd_opt_get(obj, "options");
        ch->options = json_object_get(options);
        ch->ctx = t->ctx_size > 0 ? calloc(1, t->ctx_size) : NULL;
        seen_clear();
        tracked = options;
        int rc = hd_channel_common_parse(&ch->common, options, &err);
        ch->type = t;
        if (rc == HD_OK) {
            rc = t->configure(ch, options, &err);
        }
        tracked = NULL;
        assert_int_equal(rc, HD_OK);
        for (size_t i = 0; i < n_seen; i++) {
            if (find_row(s, seen[i]) == NULL && find_row(&the_doc.common, seen[i]) == NULL) {
                print_error("docs/channels.md: %s reads option %s, which has no row\n", s->type, seen[i]);
                bad = 1;
            }
        }
        const struct section *both[] = {s, &the_doc.common};
        for (size_t b = 0; b < 2; b++) {
            for (size_t i = 0; i < both[b]->n_rows; i++) {
                if (!has(seen, n_seen, both[b]->rows[i].name)) {
                    print_error("docs/channels.md: %s: option %s has a row but %s does not read it\n",
                                s->type, both[b]->rows[i].name, s->type);
                    bad = 1;
                }
            }
        }
        hd_channel_free(ch);
        json_object_put(obj);
    }
    assert_false(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_are_the_registry),
        cmocka_unit_test(test_secret_and_url_marks),
        cmocka_unit_test(test_options_read_are_the_rows),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
