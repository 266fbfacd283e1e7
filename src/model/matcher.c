/* matcher.c - Alertmanager-style matchers (see matcher.h), regexes by PCRE2. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/matcher.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define MATCH_TEXT_MAX 4096 /* a matcher longer than this is refused */

int hd_match_path_valid(const char *p)
{
    static const char *const plain[] = {
        "id",       "source",      "severity", "state",         "name",    "description",   "url",
        "host",     "containerId", "alertKey", "k8s.namespace", "k8s.pod", "k8s.container", "k8s.kind",
        "k8s.name",
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        if (strcmp(p, plain[i]) == 0) {
            return 1;
        }
    }
    if (strncmp(p, "labels.", 7) == 0 && p[7] != '\0') {
        return 1;
    }
    return strncmp(p, "raw.", 4) == 0 && p[4] != '\0';
}

static const char path_help[] =
    "source, severity, state, name, description, url, host, containerId, alertKey, k8s.*, labels.<key>, "
    "raw.<path>";

/* Compiles m->value anchored ("^(?:value)$", as Alertmanager anchors). */
static int compile(struct hd_match *m, struct hd_err *err)
{
    if (m->op != HD_MATCH_RE && m->op != HD_MATCH_NRE) {
        return HD_OK;
    }
    struct hd_buf pat;
    hd_buf_init(&pat, 0);
    if (hd_buf_printf(&pat, "^(?:%s)$", m->value) != HD_OK) {
        hd_buf_free(&pat);
        return HD_ENOMEM;
    }
    int code = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pat.p, pat.len, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &code, &off, NULL);
    hd_buf_free(&pat);
    if (re == NULL) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof(msg));
        size_t at = off >= 4 ? off - 4 : 0; /* offset into the value, not the anchored pattern */
        at = at > strlen(m->value) ? strlen(m->value) : at;
        return hd_err_set(err, HD_EINVAL, "invalid regular expression '%.200s': %s at offset %zu", m->value,
                          (const char *)msg, at);
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* faster when the platform has a JIT; fine without */
    m->re = re;
    return HD_OK;
}

static int make(const char *path, size_t plen, enum hd_match_op op, const char *value, struct hd_match *out,
                struct hd_err *err)
{
    memset(out, 0, sizeof(*out));
    out->path = hd_strndup(path, plen);
    out->value = hd_strdup(value);
    out->op = op;
    if (out->path == NULL || out->value == NULL) {
        hd_match_clear(out);
        return HD_ENOMEM;
    }
    if (!hd_match_path_valid(out->path)) {
        int rc = hd_err_set(err, HD_EINVAL, "unknown field '%.64s' (%s)", out->path, path_help);
        hd_match_clear(out);
        return rc;
    }
    int rc = compile(out, err);
    if (rc != HD_OK) {
        hd_match_clear(out);
    }
    return rc;
}

/* Reads a "quoted" value with \" and \\ escapes into out; HD_EINVAL if unterminated. */
static int unquote(const char *s, struct hd_buf *out)
{
    for (const char *p = s + 1; *p != '\0'; p++) {
        if (*p == '"') {
            while (isspace((unsigned char)p[1])) {
                p++;
            }
            return p[1] == '\0' ? HD_OK : HD_EINVAL;
        }
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
            p++;
        }
        if (hd_buf_putc(out, *p) != HD_OK) {
            return HD_ENOMEM;
        }
    }
    return HD_EINVAL;
}

int hd_match_parse(const char *text, struct hd_match *out, struct hd_err *err)
{
    memset(out, 0, sizeof(*out));
    if (strlen(text) > MATCH_TEXT_MAX) {
        return hd_err_set(err, HD_EINVAL, "longer than %d bytes", MATCH_TEXT_MAX);
    }
    const char *p = text;
    while (isspace((unsigned char)*p)) {
        p++;
    }
    const char *path = p;
    while (*p != '\0' && (isalnum((unsigned char)*p) || strchr("_.-/", *p) != NULL)) {
        p++;
    }
    size_t plen = (size_t)(p - path);
    while (isspace((unsigned char)*p)) {
        p++;
    }
    static const struct {
        const char *text;
        enum hd_match_op op;
    } ops[] = {{"=~", HD_MATCH_RE}, {"!~", HD_MATCH_NRE}, {"!=", HD_MATCH_NE}, {"=", HD_MATCH_EQ}};
    size_t k = 0;
    while (k < sizeof(ops) / sizeof(ops[0]) && strncmp(p, ops[k].text, strlen(ops[k].text)) != 0) {
        k++;
    }
    if (plen == 0 || k == sizeof(ops) / sizeof(ops[0])) {
        return hd_err_set(err, HD_EINVAL,
                          "'%.200s' is not FIELD=VALUE, FIELD!=VALUE, FIELD=~REGEX or FIELD!~REGEX", text);
    }
    p += strlen(ops[k].text);
    while (isspace((unsigned char)*p)) {
        p++;
    }
    struct hd_buf v;
    hd_buf_init(&v, 0);
    int rc = HD_OK;
    if (*p == '"') {
        rc = unquote(p, &v);
        if (rc == HD_EINVAL) {
            rc = hd_err_set(err, HD_EINVAL, "'%.200s': unterminated quoted value", text);
        }
    } else {
        size_t n = strlen(p);
        while (n > 0 && isspace((unsigned char)p[n - 1])) {
            n--;
        }
        rc = hd_buf_append(&v, p, n);
    }
    if (rc == HD_OK) {
        rc = make(path, plen, ops[k].op, v.p != NULL ? v.p : "", out, err);
    }
    hd_buf_free(&v);
    return rc;
}

int hd_match_from_json(json_object *o, struct hd_match *out, struct hd_err *err)
{
    memset(out, 0, sizeof(*out));
    if (json_object_is_type(o, json_type_string)) {
        return hd_match_parse(json_object_get_string(o), out, err);
    }
    json_object *name = NULL, *value = NULL, *is_re = NULL, *is_eq = NULL;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "name", &name) ||
        !json_object_object_get_ex(o, "value", &value) || !json_object_is_type(name, json_type_string) ||
        !json_object_is_type(value, json_type_string)) {
        return hd_err_set(err, HD_EINVAL,
                          "must be a string like \"k8s.namespace=~prod-.*\" or an object "
                          "{\"name\",\"value\",\"isRegex\",\"isEqual\"}");
    }
    json_object_object_get_ex(o, "isRegex", &is_re);
    json_object_object_get_ex(o, "isEqual", &is_eq);
    int re = is_re != NULL && json_object_get_boolean(is_re);
    int eq = is_eq == NULL || json_object_get_boolean(is_eq);
    enum hd_match_op op = re ? (eq ? HD_MATCH_RE : HD_MATCH_NRE) : (eq ? HD_MATCH_EQ : HD_MATCH_NE);
    const char *path = json_object_get_string(name);
    return make(path, strlen(path), op, json_object_get_string(value), out, err);
}

int hd_match_equal(const char *path, const char *value, struct hd_match *out, struct hd_err *err)
{
    int rc = make(path, strlen(path), HD_MATCH_EQ, value, out, err);
    out->absent_never = 1;
    return rc;
}

int hd_match_test(const struct hd_match *m, const char *value)
{
    if (value == NULL) {
        if (m->absent_never) {
            return 0;
        }
        value = "";
    }
    switch (m->op) {
    case HD_MATCH_EQ: return strcmp(value, m->value) == 0;
    case HD_MATCH_NE: return strcmp(value, m->value) != 0;
    default: break;
    }
    pcre2_match_data *md = pcre2_match_data_create(1, NULL); /* per call: a matcher may be shared */
    if (md == NULL) {
        return 0;
    }
    int r = pcre2_match(m->re, (PCRE2_SPTR)value, strlen(value), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    int hit = r >= 0;
    return m->op == HD_MATCH_RE ? hit : !hit;
}

int hd_match_format(const struct hd_match *m, struct hd_buf *out)
{
    static const char *const names[] = {"=", "!=", "=~", "!~"};
    int rc = hd_buf_printf(out, "%s%s\"", m->path, names[m->op]);
    for (const char *p = m->value; rc == HD_OK && *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            rc = hd_buf_putc(out, '\\');
        }
        if (rc == HD_OK) {
            rc = hd_buf_putc(out, *p);
        }
    }
    return rc == HD_OK ? hd_buf_putc(out, '"') : rc;
}

void hd_match_clear(struct hd_match *m)
{
    if (m == NULL) {
        return;
    }
    free(m->path);
    free(m->value);
    pcre2_code_free(m->re);
    memset(m, 0, sizeof(*m));
}

void hd_matches_free(struct hd_match *m, size_t n)
{
    for (size_t i = 0; m != NULL && i < n; i++) {
        hd_match_clear(&m[i]);
    }
    free(m);
}
