/* silences.c - matching events against silences (see silences.h). */
#include "route/silences.h"

#include <stdlib.h>
#include <string.h>

#include "route/filter.h"

int hd_silence_matchers(json_object *arr, struct hd_match **out, size_t *n, struct hd_err *err)
{
    *out = NULL;
    *n = 0;
    if (arr == NULL || !json_object_is_type(arr, json_type_array) || json_object_array_length(arr) == 0) {
        return hd_err_set(err, HD_EINVAL, "matchers: a non-empty list is required (\"k8s.namespace=prod\")");
    }
    size_t len = json_object_array_length(arr);
    struct hd_match *m = calloc(len, sizeof(*m));
    if (m == NULL) {
        return HD_ENOMEM;
    }
    for (size_t i = 0; i < len; i++) {
        int rc = hd_match_from_json(json_object_array_get_idx(arr, i), &m[i], err);
        if (rc != HD_OK) {
            hd_err_prefix(err, "matchers[%zu]: ", i);
            hd_matches_free(m, i);
            return rc;
        }
    }
    *out = m;
    *n = len;
    return HD_OK;
}

static int compile_one(const struct hd_silence *si, struct hd_silence_rt *rt, struct hd_err *err)
{
    memset(rt, 0, sizeof(*rt));
    rt->id = si->id;
    rt->starts_ms = si->starts_ms;
    rt->ends_ms = si->ends_ms;
    json_object *arr = hd_json_parse(si->matchers, strlen(si->matchers), err);
    int rc = arr != NULL ? hd_silence_matchers(arr, &rt->m, &rt->n, err) : HD_EINVAL;
    json_object_put(arr);
    return rc;
}

int hd_silence_set_load(struct hd_store *st, int64_t now_ms, int64_t keep_ms, struct hd_silence_set *out,
                        struct hd_err *err)
{
    memset(out, 0, sizeof(*out));
    if (st->ops->silence_list == NULL) {
        return HD_OK; /* a store without silences: nothing is silenced */
    }
    struct hd_silence *all = NULL;
    size_t n = 0;
    int rc = st->ops->silence_list(st, &all, &n, err);
    if (rc != HD_OK) {
        return rc;
    }
    out->v = calloc(n + 1, sizeof(*out->v));
    if (out->v == NULL) {
        hd_silences_free(all, n);
        return HD_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (all[i].ends_ms <= now_ms - keep_ms) {
            continue;
        }
        struct hd_err cerr = {0};
        if (compile_one(&all[i], &out->v[out->n], &cerr) != HD_OK) {
            hd_matches_free(out->v[out->n].m, out->v[out->n].n); /* stored by an older version: skipped */
            continue;
        }
        out->n++;
    }
    hd_silences_free(all, n);
    return HD_OK;
}

const struct hd_silence_rt *hd_silence_set_match(const struct hd_silence_set *s, const struct hd_event *ev)
{
    int64_t at_ms = ev->recv_us / 1000;
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        const struct hd_silence_rt *rt = &s->v[i];
        if (at_ms < rt->starts_ms || at_ms >= rt->ends_ms) {
            continue;
        }
        struct hd_event_docs d = {0};
        int ok = 1;
        for (size_t k = 0; ok && k < rt->n; k++) {
            char num[24];
            ok = hd_match_test(&rt->m[k], hd_event_field(ev, rt->m[k].path, &d, num, sizeof(num)));
        }
        hd_event_docs_free(&d);
        if (ok) {
            return rt;
        }
    }
    return NULL;
}

void hd_silence_set_clear(struct hd_silence_set *s)
{
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        hd_matches_free(s->v[i].m, s->v[i].n);
    }
    if (s != NULL) {
        free(s->v);
        memset(s, 0, sizeof(*s));
    }
}
