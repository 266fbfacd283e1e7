/* secrets.c - secret options (SPEC section 4): masked in every answer, kept
 * when a PUT sends the mask back (only for the destination they were given
 * for), and scrubbed from what a sink answers.
 *
 * DESIGN: each type declares its secret options in its hd_channel_type
 * (secret_options; "additionalHeaders.*" = every value of that object). The
 * masker applies the names declared by ANY registered type, wherever they
 * appear in a channel's options (nested objects and lists included) and
 * whatever the channel's type: options a type does not read are kept and
 * returned (SPEC 4), so an OPSGENIE apiKey left in a channel PUT back as a
 * WEBHOOK, or a password inside customData, is still a credential. Masking
 * more than a type reads never exposes anything; the set is derived from the
 * types' tables, so a new type's secret is masked everywhere once declared.
 *
 * Two kinds of URL: a URL option a type lists among its secrets too (Slack's
 * url: the hooks URL is the credential) is masked whole, for channels of
 * that type; every other URL option (any type's url_options, endpoint) keeps
 * its scheme, host and path readable and has its userinfo and query values
 * masked (shown as https://MASK@es:9200/x?token=MASK). A PUT that sends such
 * a URL back unchanged gets the stored one.
 *
 * A mask is restored only from the stored object at the same path, and only
 * if the type and the origin (scheme, host, port) of every URL option stay
 * the same: otherwise an admin token could send a stored secret to a host of
 * its choosing. What a sink answers (test results, dead letters, logs) passes
 * hd_channel_scrub first: every secret value of the channel, its URL
 * credentials and the Basic form of username/password are overwritten.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "core/util.h"

enum { SECRET_VALUE = 1, SECRET_EACH = 2, SECRET_URL = 4 };

/* Shorter values are not scrubbed from answers: they would blank out
 * ordinary words and a 3-byte secret protects nothing. */
#define SCRUB_MIN 4

/* What the registered types declare about the option name k, for a channel
 * of type own (NULL: unknown): SECRET_VALUE (its value is a secret),
 * SECRET_EACH (every member value of it is), SECRET_URL (a URL whose
 * credentials are secrets), or 0. */
static unsigned secret_kind(const struct hd_channel_type *own, const char *k)
{
    size_t n = 0;
    const struct hd_channel_type *const *types = hd_channel_types(&n);
    size_t klen = strlen(k);
    unsigned kind = 0;
    for (size_t i = 0; i < n; i++) {
        int is_url = hd_channel_url_option(types[i], k);
        for (const char *const *s = types[i]->secret_options; s != NULL && *s != NULL; s++) {
            if (strcmp(*s, k) == 0) {
                /* a URL that is the credential is so for its own type only */
                kind |= (!is_url || types[i] == own) ? SECRET_VALUE : SECRET_URL;
            } else if (strncmp(*s, k, klen) == 0 && strcmp(*s + klen, HD_SECRET_EACH) == 0) {
                kind |= SECRET_EACH;
            }
        }
        if (is_url) {
            kind |= SECRET_URL;
        }
    }
    return (kind & SECRET_VALUE) ? (kind & ~(unsigned)SECRET_URL) : kind;
}

/* Empty and null values are shown as they are: masking them would claim a
 * secret is set when none is. */
static int has_value(json_object *v)
{
    if (v == NULL) {
        return 0;
    }
    if (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) == 0) {
        return 0;
    }
    return 1;
}

static int is_mask(json_object *v)
{
    return v != NULL && json_object_is_type(v, json_type_string) &&
           strcmp(json_object_get_string(v), HD_SECRET_MASK) == 0;
}

/* ---- credentials inside a URL ---- */

/* The spans of url that are credentials: the userinfo and every query value
 * (a bare query item counts whole). Calls fn(at, len) for each non-empty one;
 * returns how many. */
static size_t url_credentials(const char *url, void (*fn)(void *ud, size_t at, size_t len), void *ud)
{
    const char *s = strstr(url, "://");
    size_t found = 0;
    if (s == NULL) {
        return 0;
    }
    size_t auth = (size_t)(s - url) + 3;
    size_t end = auth + strcspn(url + auth, "/?#");
    for (size_t i = end; i > auth; i--) {
        if (url[i - 1] == '@') {
            fn(ud, auth, i - 1 - auth);
            found++;
            break;
        }
    }
    const char *q = strchr(url + end, '?');
    if (q == NULL || (strchr(url + end, '#') != NULL && strchr(url + end, '#') < q)) {
        return found;
    }
    size_t pos = (size_t)(q - url) + 1;
    while (url[pos] != '\0' && url[pos] != '#') {
        size_t len = strcspn(url + pos, "&#");
        const char *eq = memchr(url + pos, '=', len);
        size_t at = eq != NULL ? (size_t)(eq - url) + 1 : pos;
        if (pos + len > at) {
            fn(ud, at, pos + len - at);
            found++;
        }
        pos += len;
        if (url[pos] == '&') {
            pos++;
        }
    }
    return found;
}

struct url_mask {
    const char *url;
    struct hd_buf *out;
    size_t done; /* bytes of url already copied */
    int rc;
};

static void mask_span(void *ud, size_t at, size_t len)
{
    struct url_mask *m = ud;
    if (m->rc == HD_OK) {
        m->rc = hd_buf_append(m->out, m->url + m->done, at - m->done);
    }
    if (m->rc == HD_OK) {
        m->rc = hd_buf_puts(m->out, HD_SECRET_MASK);
    }
    m->done = at + len;
}

/* out = url with its credentials masked; 1 if there were any, 0 if not
 * (out left empty), negative on ENOMEM. */
static int url_masked(const char *url, struct hd_buf *out)
{
    struct url_mask m = {.url = url, .out = out, .done = 0, .rc = HD_OK};
    hd_buf_reset(out);
    if (url_credentials(url, mask_span, &m) == 0) {
        return 0;
    }
    if (m.rc == HD_OK) {
        m.rc = hd_buf_puts(out, url + m.done);
    }
    return m.rc == HD_OK ? 1 : m.rc;
}

/* ---- one walk over the options, three uses ---- */

/* leaf is called for every secret position: a SECRET_VALUE or SECRET_URL
 * value n[key] (old: the stored object's parent at the same path, or
 * NULL). path is "options.a.b" of the position. */
struct walk {
    const struct hd_channel_type *own;
    void (*leaf)(struct walk *w, json_object *n, const char *key, unsigned kind, json_object *old);
    char path[256];
    void *ud;
};

static void walk(struct walk *w, json_object *n, json_object *old);

static void walk_into(struct walk *w, const char *key, json_object *n, json_object *old)
{
    size_t len = strlen(w->path);
    snprintf(w->path + len, sizeof(w->path) - len, ".%s", key);
    walk(w, n, old);
    w->path[len] = '\0';
}

static void walk_leaf(struct walk *w, json_object *n, const char *key, unsigned kind, json_object *old)
{
    size_t len = strlen(w->path);
    snprintf(w->path + len, sizeof(w->path) - len, ".%s", key);
    w->leaf(w, n, key, kind, old);
    w->path[len] = '\0';
}

static void walk(struct walk *w, json_object *n, json_object *old)
{
    if (json_object_is_type(n, json_type_array)) {
        size_t olen = json_object_is_type(old, json_type_array) ? json_object_array_length(old) : 0;
        for (size_t i = 0; i < json_object_array_length(n); i++) {
            walk(w, json_object_array_get_idx(n, i), i < olen ? json_object_array_get_idx(old, i) : NULL);
        }
        return;
    }
    if (!json_object_is_type(n, json_type_object)) {
        return;
    }
    if (!json_object_is_type(old, json_type_object)) {
        old = NULL;
    }
    /* Replacing the value of an existing key keeps the hash entry, so a leaf
     * may replace n[k] inside foreach (v is not used after it). */
    json_object_object_foreach(n, k, v)
    {
        json_object *ov = hd_opt_get(old, k);
        unsigned kind = secret_kind(w->own, k);
        if ((kind & SECRET_EACH) && json_object_is_type(v, json_type_object)) {
            size_t len = strlen(w->path);
            snprintf(w->path + len, sizeof(w->path) - len, ".%s", k);
            json_object_object_foreach(v, hk, hv)
            {
                (void)hv;
                walk_leaf(w, v, hk, SECRET_VALUE, json_object_is_type(ov, json_type_object) ? ov : NULL);
            }
            w->path[len] = '\0';
        } else if (kind & (SECRET_VALUE | SECRET_URL)) {
            walk_leaf(w, n, k, kind & (SECRET_VALUE | SECRET_URL), old);
        } else {
            walk_into(w, k, v, ov);
        }
    }
}

static void walk_options(struct walk *w, json_object *obj, json_object *old)
{
    json_object *type = hd_opt_get(obj, "type");
    w->own = json_object_is_type(type, json_type_string) ? hd_channel_type_find(json_object_get_string(type))
                                                         : NULL;
    snprintf(w->path, sizeof(w->path), "options");
    walk(w, hd_opt_get(obj, "options"), hd_opt_get(old, "options"));
}

/* ---- masking answers ---- */

static void mask_leaf(struct walk *w, json_object *n, const char *key, unsigned kind, json_object *old)
{
    json_object *v = hd_opt_get(n, key);
    (void)old;
    if (kind == SECRET_VALUE) {
        if (has_value(v)) {
            json_object_object_add(n, key, json_object_new_string(HD_SECRET_MASK));
        }
        return;
    }
    if (json_object_is_type(v, json_type_string) && url_masked(json_object_get_string(v), w->ud) == 1) {
        struct hd_buf *b = w->ud;
        json_object_object_add(n, key, json_object_new_string_len(b->p, (int)b->len));
    }
}

json_object *hd_channel_mask_secrets(json_object *obj)
{
    json_object *copy = NULL;
    struct hd_buf tmp;
    if (obj == NULL) {
        return NULL;
    }
    if (json_object_deep_copy(obj, &copy, NULL) != 0) {
        return NULL;
    }
    hd_buf_init(&tmp, 0);
    struct walk w = {.leaf = mask_leaf, .ud = &tmp};
    walk_options(&w, copy, NULL);
    hd_buf_free(&tmp);
    return copy;
}

/* ---- keeping secrets on PUT ---- */

struct keep {
    struct hd_buf restored; /* "options.a, options.b" */
    struct hd_buf tmp;
};

static void note_restored(struct walk *w)
{
    struct keep *k = w->ud;
    hd_buf_printf(&k->restored, "%s%s", k->restored.len > 0 ? ", " : "", w->path);
}

static void keep_leaf(struct walk *w, json_object *n, const char *key, unsigned kind, json_object *old)
{
    struct keep *k = w->ud;
    json_object *v = hd_opt_get(n, key);
    json_object *ov = hd_opt_get(old, key);
    json_object *copy = NULL;
    if (kind == SECRET_VALUE) {
        if (!is_mask(v) || !has_value(ov) || is_mask(ov)) {
            return;
        }
    } else {
        /* a URL sent back as it was shown: the stored one, credentials included */
        if (!json_object_is_type(v, json_type_string) || !json_object_is_type(ov, json_type_string) ||
            strstr(json_object_get_string(v), HD_SECRET_MASK) == NULL ||
            url_masked(json_object_get_string(ov), &k->tmp) != 1 ||
            strcmp(k->tmp.p, json_object_get_string(v)) != 0) {
            return;
        }
    }
    if (json_object_deep_copy(ov, &copy, NULL) == 0) {
        json_object_object_add(n, key, copy);
        note_restored(w);
    }
}

/* Why a kept secret may not go along: the type or the origin of a URL option
 * changes. Writes the reason to why and returns 1, else 0. */
static int destination_changed(json_object *nobj, json_object *old, char *why, size_t whysz)
{
    const char *nt = json_object_get_string(hd_opt_get(nobj, "type"));
    const char *ot = json_object_get_string(hd_opt_get(old, "type"));
    if ((nt == NULL) != (ot == NULL) || (nt != NULL && strcmp(nt, ot) != 0)) {
        snprintf(why, whysz, "the type changes from %.32s to %.32s", ot != NULL ? ot : "?",
                 nt != NULL ? nt : "?");
        return 1;
    }
    size_t n = 0;
    const struct hd_channel_type *const *types = hd_channel_types(&n);
    json_object *no = hd_opt_get(nobj, "options");
    json_object *oo = hd_opt_get(old, "options");
    for (size_t i = 0; i <= n; i++) {
        const char *const *urls = i < n ? types[i]->url_options : hd_channel_common_url_options;
        for (size_t u = 0; urls != NULL && urls[u] != NULL; u++) {
            const char *nv = json_object_get_string(hd_opt_get(no, urls[u]));
            const char *ov = json_object_get_string(hd_opt_get(oo, urls[u]));
            struct hd_url_origin a, b;
            if (nv == NULL && ov == NULL) {
                continue;
            }
            int same = nv != NULL && ov != NULL;
            if (same && hd_url_origin(nv, &a) == HD_OK && hd_url_origin(ov, &b) == HD_OK) {
                same = strcmp(a.scheme, b.scheme) == 0 && strcmp(a.host, b.host) == 0 && a.port == b.port;
            } else if (same) {
                same = strcmp(nv, ov) == 0;
            }
            if (!same) {
                snprintf(why, whysz, "options.%s points somewhere else (scheme, host or port)", urls[u]);
                return 1;
            }
        }
    }
    return 0;
}

int hd_channel_keep_secrets(json_object *nobj, json_object *old, struct hd_err *err)
{
    struct keep k;
    char why[160];
    int rc = HD_OK;
    hd_buf_init(&k.restored, 0);
    hd_buf_init(&k.tmp, 0);
    struct walk w = {.leaf = keep_leaf, .ud = &k};
    walk_options(&w, nobj, old);
    if (k.restored.len > 0 && destination_changed(nobj, old, why, sizeof(why))) {
        rc = hd_err_set(err, HD_EINVAL,
                        "%s: a stored secret goes only to the destination it was given for, and %s; "
                        "send the secret again instead of \"" HD_SECRET_MASK "\"",
                        k.restored.p, why);
    }
    hd_buf_free(&k.restored);
    hd_buf_free(&k.tmp);
    return rc;
}

/* ---- scrubbing answers ---- */

struct scrub_list {
    char **v;
    size_t n;
    int rc;
};

static void scrub_add(struct scrub_list *l, const char *s, size_t len)
{
    if (l->rc != HD_OK || len < SCRUB_MIN) {
        return;
    }
    char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (nv == NULL) {
        l->rc = HD_ENOMEM;
        return;
    }
    l->v = nv;
    l->v[l->n] = hd_strndup(s, len);
    if (l->v[l->n] == NULL) {
        l->rc = HD_ENOMEM;
        return;
    }
    l->n++;
}

struct url_spans {
    struct scrub_list *l;
    const char *url;
};

static void collect_span(void *ud, size_t at, size_t len)
{
    struct url_spans *s = ud;
    scrub_add(s->l, s->url + at, len);
    const char *colon = memchr(s->url + at, ':', len);
    if (colon != NULL && colon < strchr(s->url + at, '@')) {
        scrub_add(s->l, colon + 1, len - (size_t)(colon + 1 - (s->url + at)));
    }
}

char *hd_channel_base64(const char *s, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out != NULL) {
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    }
    return out;
}

/* s and its base64 form (how ES sends an "id:key" API key). */
static void scrub_add_encoded(struct scrub_list *l, const char *s, size_t len)
{
    scrub_add(l, s, len);
    char *enc = hd_channel_base64(s, len);
    if (enc != NULL) {
        scrub_add(l, enc, strlen(enc));
        OPENSSL_cleanse(enc, strlen(enc));
        free(enc);
    }
}

static void collect_leaf(struct walk *w, json_object *n, const char *key, unsigned kind, json_object *old)
{
    json_object *v = hd_opt_get(n, key);
    (void)old;
    if (!json_object_is_type(v, json_type_string)) {
        return;
    }
    const char *s = json_object_get_string(v);
    if (kind == SECRET_VALUE) {
        scrub_add_encoded(w->ud, s, strlen(s));
    } else {
        struct url_spans sp = {.l = w->ud, .url = s};
        url_credentials(s, collect_span, &sp);
    }
}

/* The Basic credentials a username/password pair turns into on the wire. */
static void collect_basic(struct scrub_list *l, json_object *options)
{
    const char *u = json_object_get_string(hd_opt_get(options, "username"));
    const char *p = json_object_get_string(hd_opt_get(options, "password"));
    struct hd_buf pair;
    if (u == NULL || p == NULL || p[0] == '\0') {
        return;
    }
    hd_buf_init(&pair, 0);
    if (hd_buf_printf(&pair, "%s:%s", u, p) == HD_OK) {
        char *enc = hd_channel_base64(pair.p, pair.len);
        if (enc != NULL) {
            scrub_add(l, enc, strlen(enc));
            free(enc);
        }
        OPENSSL_cleanse(pair.p, pair.len);
    }
    hd_buf_free(&pair);
}

int hd_channel_secrets_collect(struct hd_channel *ch, json_object *obj)
{
    struct scrub_list l = {.v = NULL, .n = 0, .rc = HD_OK};
    struct walk w = {.leaf = collect_leaf, .ud = &l};
    walk_options(&w, obj, NULL);
    collect_basic(&l, hd_opt_get(obj, "options"));
    ch->secrets = l.v;
    ch->n_secrets = l.n;
    return l.rc;
}

void hd_channel_secrets_free(struct hd_channel *ch)
{
    for (size_t i = 0; i < ch->n_secrets; i++) {
        OPENSSL_cleanse(ch->secrets[i], strlen(ch->secrets[i]));
        free(ch->secrets[i]);
    }
    free(ch->secrets);
    ch->secrets = NULL;
    ch->n_secrets = 0;
}

static void scrub_bytes(char *p, size_t len, const char *secret)
{
    size_t sl = strlen(secret);
    char *at = p;
    while (p != NULL && (at = memmem(at, len - (size_t)(at - p), secret, sl)) != NULL) {
        memset(at, '*', sl);
        at += sl;
    }
}

void hd_channel_scrub(const struct hd_channel *ch, struct hd_response *resp)
{
    for (size_t i = 0; ch != NULL && i < ch->n_secrets; i++) {
        scrub_bytes(resp->body.p, resp->body.len, ch->secrets[i]);
        scrub_bytes(resp->error, strlen(resp->error), ch->secrets[i]);
    }
}
