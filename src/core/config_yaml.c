/* config_yaml.c - the YAML configuration file (the life cycle is in config.c).
 *
 * DESIGN: the file is loaded with libyaml's document API (one tree with node
 * marks, so every error can name FILE:LINE) and walked against static tables
 * of known keys (struct field): the tables are the schema, the unknown-key
 * message lists them, and the defaults live only in hd_config_defaults.
 * Loading works on a deep copy of the current configuration and swaps it in
 * only when the whole file is valid, so a bad SIGHUP reload leaves the running
 * configuration untouched. Channels are not interpreted here: their YAML is
 * turned into JSON text (channels_json) that the channel layer validates, so
 * this layer stays free of the JSON library.
 *
 * ${VAR} / ${VAR:-default} is substituted in every scalar value (never in
 * keys) before it is interpreted; "$${" stands for a literal "${".
 */
#include "core/config.h"
#include "core/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/buf.h"
#include "core/util.h"

#define CFG_MAX_DEPTH 64
#define CFG_MAX_CHANNELS_JSON (16u << 20) /* bounds alias expansion ("billion laughs") */
#define CFG_MAX_TOKEN_FILE 4096

/* ---- the YAML walk ---------------------------------------------------- */

struct ctx {
    yaml_document_t *doc;
    const char *file;
    struct hd_err *err;
    /* tokens and channels are collected here and committed by the caller */
    struct hd_token *tokens;
    size_t n_tokens;
    int have_tokens;
    char *channels_json;
    /* tls.clientIdentities, committed like the tokens */
    struct hd_client_identity *ids;
    size_t n_ids;
    int have_ids;
    unsigned long tls_line; /* where tls: is, for the rules across its keys */
};

enum kind {
    F_STR,     /* char * */
    F_ENUM,    /* char *, one of choices */
    F_BOOL,    /* int */
    F_INT,     /* int, >= min */
    F_I64,     /* int64_t, >= min */
    F_SIZE,    /* int64_t bytes, >= min */
    F_DUR,     /* int64_t milliseconds, >= min */
    F_FILE,    /* char *, a file readable now */
    F_MAP,     /* nested table */
    F_TOKENS,  /* the tokens list */
    F_CIDRS,   /* struct hd_cidr_list: a list of address blocks */
    F_IDS,     /* tls.clientIdentities */
    F_CHANNELS /* the channels list */
};

struct field {
    const char *key;
    enum kind kind;
    size_t off;
    const struct field *sub;    /* F_MAP */
    const char *const *choices; /* F_ENUM, NULL-terminated */
    int64_t min;
};

static const char *const log_formats[] = {"text", "json", NULL};
const char *const cfg_log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const scopes[] = {"admin", "ingest", "read", NULL};

static const struct field f_limits[] = {
    {.key = "maxBodyBytes", .kind = F_SIZE, .off = CFG(max_body_bytes), .min = 1},
    {.key = "maxBytesInFlight", .kind = F_SIZE, .off = CFG(max_bytes_in_flight), .min = 0},
    {.key = "maxBacklog", .kind = F_I64, .off = CFG(max_backlog), .min = 1},
    {.key = "maxEventsPerRequest", .kind = F_I64, .off = CFG(max_events_per_request), .min = 1},
    {.key = "maxConnections", .kind = F_I64, .off = CFG(max_connections), .min = 1},
    {.key = "maxConnectionsPerIp", .kind = F_I64, .off = CFG(max_connections_per_ip), .min = 1},
    {.key = "headerTimeoutMs", .kind = F_I64, .off = CFG(header_timeout_ms), .min = 100},
    {.key = NULL},
};
static const struct field f_tls[] = {
    {.key = "certFile", .kind = F_STR, .off = CFG(tls_cert_file)},
    {.key = "keyFile", .kind = F_STR, .off = CFG(tls_key_file)},
    {.key = "clientCaFile", .kind = F_FILE, .off = CFG(tls_client_ca_file)},
    {.key = "clientIdentities", .kind = F_IDS},
    {.key = NULL},
};
static const struct field f_metrics[] = {
    {.key = "public", .kind = F_BOOL, .off = CFG(metrics_public)},
    {.key = NULL},
};
static const struct field f_smtp[] = {
    {.key = "url", .kind = F_STR, .off = CFG(smtp_url)},
    {.key = "from", .kind = F_STR, .off = CFG(smtp_from)},
    {.key = "username", .kind = F_STR, .off = CFG(smtp_username)},
    {.key = "password", .kind = F_STR, .off = CFG(smtp_password)},
    {.key = "startTls", .kind = F_BOOL, .off = CFG(smtp_start_tls)},
    {.key = "allowInsecureAuth", .kind = F_BOOL, .off = CFG(smtp_allow_insecure_auth)},
    {.key = NULL},
};
static const struct field f_k8s[] = {
    {.key = "enabled", .kind = F_BOOL, .off = CFG(k8s_enabled)},
    {.key = "apiServer", .kind = F_STR, .off = CFG(k8s_api_server)},
    {.key = "tokenFile", .kind = F_STR, .off = CFG(k8s_token_file)},
    {.key = "caFile", .kind = F_STR, .off = CFG(k8s_ca_file)},
    {.key = "namespace", .kind = F_STR, .off = CFG(k8s_namespace)},
    {.key = "fieldSelector", .kind = F_STR, .off = CFG(k8s_field_selector)},
    {.key = "maxEventAge", .kind = F_DUR, .off = CFG(k8s_max_event_age_ms), .min = 0},
    {.key = NULL},
};
static const struct field f_docker[] = {
    {.key = "enabled", .kind = F_BOOL, .off = CFG(docker_enabled)},
    {.key = "socket", .kind = F_STR, .off = CFG(docker_socket)},
    {.key = "url", .kind = F_STR, .off = CFG(docker_url)},
    {.key = "caFile", .kind = F_STR, .off = CFG(docker_ca_file)},
    {.key = "certFile", .kind = F_STR, .off = CFG(docker_cert_file)},
    {.key = "keyFile", .kind = F_STR, .off = CFG(docker_key_file)},
    {.key = "filters", .kind = F_STR, .off = CFG(docker_filters)},
    {.key = NULL},
};
static const struct field f_inputs[] = {
    {.key = "kubernetes", .kind = F_MAP, .sub = f_k8s},
    {.key = "docker", .kind = F_MAP, .sub = f_docker},
    {.key = NULL},
};
static const struct field f_retention[] = {
    {.key = "maxAge", .kind = F_DUR, .off = CFG(retention_max_age_ms), .min = 0},
    {.key = "maxBytes", .kind = F_SIZE, .off = CFG(retention_max_bytes), .min = 0},
    {.key = NULL},
};
static const struct field f_delivery[] = {
    {.key = "maxRetryAge", .kind = F_DUR, .off = CFG(delivery_max_retry_age_ms), .min = 0},
    {.key = "retryInitial", .kind = F_DUR, .off = CFG(delivery_retry_initial_ms), .min = 1},
    {.key = "retryMax", .kind = F_DUR, .off = CFG(delivery_retry_max_ms), .min = 1},
    {.key = "breakerThreshold", .kind = F_INT, .off = CFG(delivery_breaker_threshold), .min = 1},
    {.key = NULL},
};
static const struct field f_log[] = {
    {.key = "format", .kind = F_ENUM, .off = CFG(log_format), .choices = log_formats},
    {.key = "level", .kind = F_ENUM, .off = CFG(log_level), .choices = cfg_log_levels},
    {.key = NULL},
};
static const struct field f_security[] = {
    {.key = "denyDestinations", .kind = F_CIDRS, .off = CFG(deny_destinations)},
    {.key = NULL},
};
static const struct field f_web[] = {
    {.key = "dir", .kind = F_STR, .off = CFG(web_dir)},
    {.key = NULL},
};
static const struct field f_root[] = {
    {.key = "listen", .kind = F_STR, .off = CFG(listen)},
    {.key = "dataDir", .kind = F_STR, .off = CFG(data_dir)},
    {.key = "store", .kind = F_STR, .off = CFG(store_url)},
    {.key = "tokens", .kind = F_TOKENS},
    {.key = "limits", .kind = F_MAP, .sub = f_limits},
    {.key = "tls", .kind = F_MAP, .sub = f_tls},
    {.key = "metrics", .kind = F_MAP, .sub = f_metrics},
    {.key = "smtp", .kind = F_MAP, .sub = f_smtp},
    {.key = "inputs", .kind = F_MAP, .sub = f_inputs},
    {.key = "retention", .kind = F_MAP, .sub = f_retention},
    {.key = "delivery", .kind = F_MAP, .sub = f_delivery},
    {.key = "shutdownTimeoutMs", .kind = F_I64, .off = CFG(shutdown_timeout_ms), .min = 0},
    {.key = "shutdownTimeout", .kind = F_DUR, .off = CFG(shutdown_timeout_ms), .min = 0},
    {.key = "log", .kind = F_MAP, .sub = f_log},
    {.key = "web", .kind = F_MAP, .sub = f_web},
    {.key = "security", .kind = F_MAP, .sub = f_security},
    {.key = "channels", .kind = F_CHANNELS},
    {.key = NULL},
};

/* One token entry, parsed with the same machinery into this scratch struct. */
struct tok_tmp {
    char *name;
    char *token;
    char *token_file;
    char *scope;
};
#define TOK(member) offsetof(struct tok_tmp, member)
static const struct field f_token[] = {
    {.key = "name", .kind = F_STR, .off = TOK(name)},
    {.key = "token", .kind = F_STR, .off = TOK(token)},
    {.key = "tokenFile", .kind = F_STR, .off = TOK(token_file)},
    {.key = "scope", .kind = F_ENUM, .off = TOK(scope), .choices = scopes},
    {.key = NULL},
};

static unsigned long line_of(const yaml_node_t *n)
{
    return (unsigned long)n->start_mark.line + 1;
}

static int fail(struct ctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "FILE:LINE: PATH: why" (PATH omitted when empty). Always HD_EINVAL. */
static int fail(struct ctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (path != NULL && path[0] != '\0') {
        return hd_err_set(x->err, HD_EINVAL, "%s:%lu: %s: %s", x->file, line_of(n), path, why);
    }
    return hd_err_set(x->err, HD_EINVAL, "%s:%lu: %s", x->file, line_of(n), why);
}

static int oom(struct ctx *x)
{
    return hd_err_set(x->err, HD_ENOMEM, "%s: out of memory", x->file);
}

/* A plain (unquoted) scalar spelling YAML's null: empty, "~" or "null". */
static int is_null_scalar(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return 0;
    }
    const char *v = (const char *)n->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

/* Substitutes ${VAR} and ${VAR:-default} in s[0..len) from the environment.
 * *out is malloc'd (caller frees). Errors name the node's line and path. */
static int subst(struct ctx *x, const yaml_node_t *n, const char *path, char **out)
{
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    struct hd_buf b;
    int rc = HD_OK;
    hd_buf_init(&b, 0);
    for (size_t i = 0; i < len;) {
        if (s[i] == '$' && i + 2 < len && s[i + 1] == '$' && s[i + 2] == '{') {
            rc = hd_buf_puts(&b, "${");
            i += 3;
        } else if (s[i] == '$' && i + 1 < len && s[i + 1] == '{') {
            const char *close = memchr(s + i + 2, '}', len - i - 2);
            if (close == NULL) {
                rc = fail(x, n, path, "unterminated '${' (write '$${' for a literal '${')");
                goto out;
            }
            const char *name = s + i + 2;
            size_t body = (size_t)(close - name);
            const char *dflt = NULL;
            size_t name_len = body;
            for (size_t k = 0; k + 1 < body; k++) {
                if (name[k] == ':' && name[k + 1] == '-') {
                    name_len = k;
                    dflt = name + k + 2;
                    break;
                }
            }
            int ok = name_len > 0 && !isdigit((unsigned char)name[0]);
            for (size_t k = 0; ok && k < name_len; k++) {
                ok = isalnum((unsigned char)name[k]) || name[k] == '_';
            }
            if (!ok) {
                rc = fail(x, n, path, "'${%.*s}' is not a valid variable reference", (int)body, name);
                goto out;
            }
            char var[128];
            if (name_len >= sizeof(var)) {
                rc = fail(x, n, path, "environment variable name too long");
                goto out;
            }
            memcpy(var, name, name_len);
            var[name_len] = '\0';
            const char *val = getenv(var);
            if (dflt != NULL && (val == NULL || val[0] == '\0')) {
                rc = hd_buf_append(&b, dflt, (size_t)(close - dflt));
            } else if (val == NULL) {
                rc = fail(x, n, path, "environment variable %s is not set", var);
                goto out;
            } else {
                rc = hd_buf_puts(&b, val);
            }
            i = (size_t)(close - s) + 1;
        } else {
            rc = hd_buf_putc(&b, s[i]);
            i++;
        }
        if (rc != HD_OK) {
            rc = oom(x);
            goto out;
        }
    }
    *out = hd_buf_steal(&b, NULL);
    if (*out == NULL) {
        rc = oom(x);
    }
out:
    if (b.p != NULL) {
        explicit_bzero(b.p, b.len); /* may hold a secret from the environment */
    }
    hd_buf_free(&b);
    return rc;
}

/* Paths in messages ("tokens[1].token") are cut, never overflowed, when long. */
static void join_path(char *dst, size_t dstsz, const char *parent, const char *key)
{
    int n = parent[0] == '\0' ? snprintf(dst, dstsz, "%s", key)
                              : snprintf(dst, dstsz, "%.200s.%.50s", parent, key);
    (void)n;
}

static void index_path(char *dst, size_t dstsz, const char *parent, size_t i)
{
    int n = snprintf(dst, dstsz, "%.200s[%zu]", parent, i);
    (void)n;
}

static void known_keys(const struct field *fields, char *out, size_t outsz)
{
    size_t used = 0;
    out[0] = '\0';
    for (const struct field *f = fields; f->key != NULL && used < outsz; f++) {
        int n = snprintf(out + used, outsz - used, "%s%s", used > 0 ? ", " : "", f->key);
        if (n < 0) {
            break;
        }
        used += (size_t)n;
    }
}

/* Rejects a second occurrence of the key at pair index i of a mapping. */
static int check_duplicate(struct ctx *x, yaml_node_t *map, yaml_node_pair_t *pair, const char *path)
{
    yaml_node_t *key = yaml_document_get_node(x->doc, pair->key);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE && k->data.scalar.length == key->data.scalar.length &&
            memcmp(k->data.scalar.value, key->data.scalar.value, k->data.scalar.length) == 0) {
            return fail(x, key, path, "duplicate key '%s' (first at line %lu)",
                        (const char *)key->data.scalar.value, line_of(k));
        }
    }
    return HD_OK;
}

/* Numbers with units go through util's parsers, which take any strtod number;
 * insist on a plain decimal start and a sane magnitude first (no "nan",
 * "inf", "0x..", nor values that overflow int64 once multiplied). */
static int looks_numeric(const char *v)
{
    if (!isdigit((unsigned char)v[0])) {
        return 0;
    }
    char *end = NULL;
    errno = 0;
    double d = strtod(v, &end);
    return errno == 0 && d < 1e12 && (end == v || !(end[0] == 'x' || end[0] == 'X'));
}

static int load_map(struct ctx *x, yaml_node_t *map, const struct field *fields, void *base, const char *path,
                    int depth);
static int load_tokens(struct ctx *x, yaml_node_t *n, const char *path);
static int load_channels(struct ctx *x, yaml_node_t *n, const char *path);
static int load_cidrs(struct ctx *x, yaml_node_t *n, const char *path, struct hd_cidr_list *dst);
static int load_identities(struct ctx *x, yaml_node_t *n, const char *path);

static int load_scalar_field(struct ctx *x, const struct field *f, yaml_node_t *v, void *base,
                             const char *path)
{
    static const char *const expect[] = {
        [F_STR] = "expected a string",
        [F_ENUM] = "expected a string",
        [F_BOOL] = "expected true or false",
        [F_INT] = "expected an integer",
        [F_I64] = "expected an integer",
        [F_SIZE] = "expected a size like 10MiB",
        [F_DUR] = "expected a duration like 30s, 5m, 1h or 7d",
        [F_FILE] = "expected a file path", /* tls.clientCaFile */
    };
    char *s = NULL;
    int rc = HD_OK;
    void *dst = (char *)base + f->off;

    if (v->type != YAML_SCALAR_NODE) {
        return fail(x, v, path, "%s", expect[f->kind]);
    }
    if (is_null_scalar(v)) {
        return HD_OK; /* "key:" with nothing keeps the current value */
    }
    rc = subst(x, v, path, &s);
    if (rc != HD_OK) {
        return rc;
    }
    int64_t n = 0;
    switch (f->kind) {
    case F_STR:
        *(char **)dst = s; /* base's previous value is freed by the caller's table walk */
        s = NULL;
        break;
    case F_FILE: {
        /* Read one byte: fopen alone takes a directory. */
        FILE *fp = fopen(s, "r");
        int c = fp != NULL ? fgetc(fp) : EOF;
        int bad = fp == NULL || ferror(fp);
        const char *why = bad ? strerror(errno) : "the file is empty";
        if (fp != NULL) {
            fclose(fp);
        }
        if (bad || c == EOF) {
            rc = fail(x, v, path, "cannot read %s: %s", s, why);
            goto out;
        }
        *(char **)dst = s;
        s = NULL;
        break;
    }
    case F_ENUM: {
        int found = 0;
        char choices[128];
        size_t used = 0;
        choices[0] = '\0';
        for (const char *const *c = f->choices; *c != NULL; c++) {
            found |= strcmp(*c, s) == 0;
            int w = snprintf(choices + used, sizeof(choices) - used, "%s%s", used > 0 ? ", " : "", *c);
            if (w > 0 && (size_t)w < sizeof(choices) - used) {
                used += (size_t)w;
            }
        }
        if (!found) {
            rc = fail(x, v, path, "'%s' is not one of %s", s, choices);
            goto out;
        }
        *(char **)dst = s;
        s = NULL;
        break;
    }
    case F_BOOL:
        if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) {
            *(int *)dst = 1;
        } else if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) {
            *(int *)dst = 0;
        } else {
            rc = fail(x, v, path, "%s", expect[f->kind]);
            goto out;
        }
        break;
    case F_INT:
    case F_I64:
        if (hd_parse_i64(s, &n) != HD_OK || (f->kind == F_INT && n > 2147483647)) {
            rc = fail(x, v, path, "%s", expect[f->kind]);
            goto out;
        }
        break;
    case F_SIZE:
        if (!looks_numeric(s) || hd_parse_size(s, &n) != HD_OK) {
            rc = fail(x, v, path, "%s", expect[f->kind]);
            goto out;
        }
        break;
    case F_DUR:
        if (!looks_numeric(s) || hd_parse_duration_ms(s, &n) != HD_OK) {
            rc = fail(x, v, path, "%s", expect[f->kind]);
            goto out;
        }
        break;
    default: rc = fail(x, v, path, "internal: bad field kind"); goto out;
    }
    if (f->kind == F_INT || f->kind == F_I64 || f->kind == F_SIZE || f->kind == F_DUR) {
        if (n < f->min) {
            rc = fail(x, v, path, "must be at least %lld", (long long)f->min);
            goto out;
        }
        if (f->kind == F_INT) {
            *(int *)dst = (int)n;
        } else {
            *(int64_t *)dst = n;
        }
    }
out:
    free(s);
    return rc;
}

/* Walks one mapping against fields, writing into base. String members are
 * replaced (the old value freed) only after the new one is parsed. */
static int load_map(struct ctx *x, yaml_node_t *map, const struct field *fields, void *base, const char *path,
                    int depth)
{
    if (depth > CFG_MAX_DEPTH) {
        return fail(x, map, path, "nested too deeply");
    }
    if (is_null_scalar(map)) {
        return HD_OK;
    }
    if (map->type != YAML_MAPPING_NODE) {
        return fail(x, map, path, "expected a mapping");
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        if (k->type != YAML_SCALAR_NODE) {
            return fail(x, k, path, "keys must be strings");
        }
        const char *key = (const char *)k->data.scalar.value;
        const struct field *f = fields;
        while (f->key != NULL && strcmp(f->key, key) != 0) {
            f++;
        }
        if (f->key == NULL) {
            char known[200];
            known_keys(fields, known, sizeof(known));
            if (path[0] != '\0') {
                return fail(x, k, NULL, "%s: unknown key '%s' (known: %s)", path, key, known);
            }
            return fail(x, k, NULL, "unknown key '%s' (known: %s)", key, known);
        }
        int rc = check_duplicate(x, map, p, path);
        if (rc != HD_OK) {
            return rc;
        }
        char sub[256];
        join_path(sub, sizeof(sub), path, key);
        switch (f->kind) {
        case F_MAP:
            if (f->sub == f_tls) {
                x->tls_line = line_of(k);
            }
            rc = load_map(x, v, f->sub, base, sub, depth + 1);
            break;
        case F_TOKENS: rc = load_tokens(x, v, sub); break;
        case F_CHANNELS: rc = load_channels(x, v, sub); break;
        case F_CIDRS:
            rc = load_cidrs(x, v, sub, (struct hd_cidr_list *)(void *)((char *)base + f->off));
            break;
        case F_IDS: rc = load_identities(x, v, sub); break;
        case F_STR:
        case F_FILE:
        case F_ENUM: {
            char **dst = (char **)(void *)((char *)base + f->off);
            char *old = *dst;
            *dst = NULL;
            rc = load_scalar_field(x, f, v, base, sub);
            if (rc == HD_OK && *dst == NULL) {
                *dst = old; /* null value: keep */
            } else if (rc != HD_OK) {
                *dst = old;
            } else {
                free(old);
            }
            break;
        }
        default: rc = load_scalar_field(x, f, v, base, sub); break;
        }
        if (rc != HD_OK) {
            return rc;
        }
    }
    return HD_OK;
}

static int read_token_file(struct ctx *x, yaml_node_t *n, const char *path, const char *file, char **out)
{
    int rc = HD_OK;
    char buf[CFG_MAX_TOKEN_FILE + 1];
    size_t len = 0;
    FILE *fp = fopen(file, "r");
    if (fp == NULL) {
        return fail(x, n, path, "cannot read %s: %s", file, strerror(errno));
    }
    len = fread(buf, 1, sizeof(buf), fp);
    if (ferror(fp) || len > CFG_MAX_TOKEN_FILE) {
        rc = fail(x, n, path, "cannot read %s: %s", file, ferror(fp) ? strerror(errno) : "larger than 4 KiB");
        goto out;
    }
    /* A trailing newline (echo, kubectl secrets) is not part of the token. */
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ')) {
        len--;
    }
    *out = hd_strndup(buf, len);
    if (*out == NULL) {
        rc = oom(x);
    }
out:
    explicit_bzero(buf, sizeof(buf));
    fclose(fp);
    return rc;
}

/* A list of the file: null is an empty list, anything but a sequence is
 * "expected <what>"; each item must be of type kind (else "expected
 * <item>") and goes to fn with its path "path[i]" and index. */
typedef int (*item_fn)(struct ctx *x, yaml_node_t *e, const char *sub, size_t idx, void *ud);
struct list_spec {
    yaml_node_type_t kind;
    const char *what;
    const char *item;
    item_fn fn;
};

static int each_item(struct ctx *x, yaml_node_t *n, const char *path, const struct list_spec *ls, void *ud)
{
    char sub[256];
    if (is_null_scalar(n)) {
        return HD_OK;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        return fail(x, n, path, "expected %s", ls->what);
    }
    size_t idx = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, idx++) {
        yaml_node_t *e = yaml_document_get_node(x->doc, *it);
        index_path(sub, sizeof(sub), path, idx);
        if (e->type != ls->kind || is_null_scalar(e)) {
            return fail(x, e, sub, "expected %s", ls->item);
        }
        int rc = ls->fn(x, e, sub, idx, ud);
        if (rc != HD_OK) {
            return rc;
        }
    }
    return HD_OK;
}

static int load_token(struct ctx *x, yaml_node_t *e, const char *sub, size_t idx, void *ud)
{
    const char *path = ud;
    struct tok_tmp t = {0};
    int rc = load_map(x, e, f_token, &t, sub, 1);
    if (rc != HD_OK) {
        goto out;
    }
    char fpath[300];
    snprintf(fpath, sizeof(fpath), "%s.token", sub);
    if (t.token != NULL && t.token_file != NULL) {
        rc = fail(x, e, sub, "token and tokenFile are exclusive");
        goto out;
    }
    if (t.token_file != NULL) {
        rc = read_token_file(x, e, fpath, t.token_file, &t.token);
        if (rc != HD_OK) {
            goto out;
        }
    }
    if (t.token == NULL || t.token[0] == '\0') {
        rc = fail(x, e, fpath, "%s", t.token == NULL ? "required" : "is empty");
        goto out;
    }
    char dflt_name[32] = "";
    if (t.name == NULL || t.name[0] == '\0') {
        snprintf(dflt_name, sizeof(dflt_name), "token%zu", idx + 1);
    }
    enum hd_scope scope = HD_SCOPE_ADMIN;
    if (t.scope != NULL) {
        (void)cfg_scope_parse(t.scope, &scope); /* validated as an F_ENUM */
    }
    const char *name = (t.name != NULL && t.name[0] != '\0') ? t.name : dflt_name;
    /* Name the entry, never print the value. */
    if (strlen(t.token) < HD_TOKEN_MIN_LEN) {
        rc = fail(x, e, fpath, "token '%s' is too short: tokens must be at least %d characters long", name,
                  HD_TOKEN_MIN_LEN);
        goto out;
    }
    for (size_t j = 0; j < x->n_tokens; j++) {
        if (strcmp(x->tokens[j].name, name) == 0) {
            rc = fail(x, e, sub, "duplicate token name '%s'", name);
            goto out;
        }
        /* Never print the value: name the other entry instead. */
        if (strcmp(x->tokens[j].token, t.token) == 0) {
            rc = fail(x, e, fpath, "same value as %s[%zu].token", path, j);
            goto out;
        }
    }
    struct hd_config holder = {.tokens = x->tokens, .n_tokens = x->n_tokens};
    rc = hd_config_add_token(&holder, name, t.token, scope);
    x->tokens = holder.tokens;
    x->n_tokens = holder.n_tokens;
    if (rc != HD_OK) {
        rc = oom(x);
        goto out;
    }
out:
    free(t.name);
    cfg_wipe_free(t.token);
    free(t.token_file);
    free(t.scope);
    return rc;
}

static int load_tokens(struct ctx *x, yaml_node_t *n, const char *path)
{
    cfg_tokens_free(x->tokens, x->n_tokens);
    x->tokens = NULL;
    x->n_tokens = 0;
    x->have_tokens = 1;
    static const struct list_spec ls = {YAML_MAPPING_NODE, "a list of {name, token, scope}",
                                        "a mapping {name, token, scope}", load_token};
    return each_item(x, n, path, &ls, (void *)path);
}

/* ---- tls.clientIdentities ---------------------------------------------- */

/* One entry, parsed with the same machinery into this scratch struct; the
 * rules (canonical subject, no duplicates, scope required) are config_tls.c's. */
struct identity_tmp {
    char *subject;
    char *scope;
};
static const struct field f_identity[] = {
    {.key = "subject", .kind = F_STR, .off = offsetof(struct identity_tmp, subject)},
    {.key = "scope", .kind = F_ENUM, .off = offsetof(struct identity_tmp, scope), .choices = scopes},
    {.key = NULL},
};

static int load_identity(struct ctx *x, yaml_node_t *e, const char *sub, size_t idx, void *ud)
{
    struct identity_tmp t = {0};
    struct hd_err ierr = {0};
    (void)idx;
    (void)ud;
    int rc = load_map(x, e, f_identity, &t, sub, 1);
    if (rc == HD_OK) {
        rc = cfg_identity_add(&x->ids, &x->n_ids, t.subject, t.scope, &ierr);
        if (rc != HD_OK) {
            rc = rc == HD_EINVAL ? fail(x, e, sub, "%s", ierr.msg) : oom(x);
        }
    }
    free(t.subject);
    free(t.scope);
    return rc;
}

static int load_identities(struct ctx *x, yaml_node_t *n, const char *path)
{
    cfg_identities_free(x->ids, x->n_ids);
    x->ids = NULL;
    x->n_ids = 0;
    x->have_ids = 1;
    static const struct list_spec ls = {YAML_MAPPING_NODE, "a list of {subject, scope}",
                                        "a mapping {subject, scope}", load_identity};
    return each_item(x, n, path, &ls, NULL);
}

/* ---- channels: YAML -> JSON text --------------------------------------- */

/* Decimal integer or JSON-shaped float, as YAML 1.2's core schema reads plain
 * scalars. Writes the JSON spelling into b; returns 0 when s is no number. */
static int number_to_json(struct hd_buf *b, const char *s)
{
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    const char *int_start = p;
    while (isdigit((unsigned char)*p)) {
        p++;
    }
    size_t n_int = (size_t)(p - int_start);
    const char *frac_start = NULL;
    size_t n_frac = 0;
    if (*p == '.') {
        p++;
        frac_start = p;
        while (isdigit((unsigned char)*p)) {
            p++;
        }
        n_frac = (size_t)(p - frac_start);
    }
    if (n_int == 0 && n_frac == 0) {
        return 0;
    }
    const char *exp_start = NULL;
    if (*p == 'e' || *p == 'E') {
        exp_start = p + 1;
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        if (!isdigit((unsigned char)*p)) {
            return 0;
        }
        while (isdigit((unsigned char)*p)) {
            p++;
        }
    }
    if (*p != '\0') {
        return 0;
    }
    /* JSON forbids leading zeros, a leading '+', ".5" and "5.": normalise. */
    while (n_int > 1 && int_start[0] == '0') {
        int_start++;
        n_int--;
    }
    int rc = HD_OK;
    if (neg) {
        rc |= hd_buf_putc(b, '-');
    }
    if (n_int == 0) {
        rc |= hd_buf_putc(b, '0');
    } else {
        rc |= hd_buf_append(b, int_start, n_int);
    }
    if (frac_start != NULL) {
        rc |= hd_buf_putc(b, '.');
        if (n_frac == 0) {
            rc |= hd_buf_putc(b, '0');
        } else {
            rc |= hd_buf_append(b, frac_start, n_frac);
        }
    }
    if (exp_start != NULL) {
        rc |= hd_buf_putc(b, 'e');
        rc |= hd_buf_puts(b, exp_start);
    }
    return rc == HD_OK ? 1 : -1;
}

static int scalar_to_json(struct ctx *x, yaml_node_t *n, const char *path, struct hd_buf *b)
{
    int rc = HD_OK;
    char *s = NULL;
    if (is_null_scalar(n)) {
        return hd_buf_puts(b, "null") == HD_OK ? HD_OK : oom(x);
    }
    rc = subst(x, n, path, &s);
    if (rc != HD_OK) {
        return rc;
    }
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) {
            rc = hd_buf_puts(b, "true");
            goto out;
        }
        if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) {
            rc = hd_buf_puts(b, "false");
            goto out;
        }
        if (strcmp(s, "null") == 0 || strcmp(s, "~") == 0 || s[0] == '\0') {
            rc = hd_buf_puts(b, "null");
            goto out;
        }
        size_t mark = b->len;
        int num = number_to_json(b, s);
        if (num == 1) {
            goto out;
        }
        b->len = mark;
        if (num < 0) {
            rc = HD_ENOMEM;
            goto out;
        }
    }
    rc = hd_buf_json_str(b, s, strlen(s));
out:
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
    }
    free(s);
    if (rc == HD_ETOOBIG) {
        return fail(x, n, path, "channels expand to more than %u bytes of JSON", CFG_MAX_CHANNELS_JSON);
    }
    return rc == HD_OK ? HD_OK : (rc == HD_EINVAL ? rc : oom(x));
}

static int node_to_json(struct ctx *x, yaml_node_t *n, const char *path, struct hd_buf *b, int depth)
{
    int rc = HD_OK;
    char sub[256];
    if (depth > CFG_MAX_DEPTH) {
        return fail(x, n, path, "nested too deeply");
    }
    switch (n->type) {
    case YAML_SCALAR_NODE: return scalar_to_json(x, n, path, b);
    case YAML_SEQUENCE_NODE: {
        size_t i = 0;
        rc = hd_buf_putc(b, '[');
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             rc == HD_OK && it < n->data.sequence.items.top; it++, i++) {
            if (i > 0) {
                rc = hd_buf_putc(b, ',');
                if (rc != HD_OK) {
                    break;
                }
            }
            index_path(sub, sizeof(sub), path, i);
            rc = node_to_json(x, yaml_document_get_node(x->doc, *it), sub, b, depth + 1);
            if (rc == HD_EINVAL) {
                return rc;
            }
        }
        if (rc == HD_OK) {
            rc = hd_buf_putc(b, ']');
        }
        break;
    }
    case YAML_MAPPING_NODE: {
        rc = hd_buf_putc(b, '{');
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; rc == HD_OK && p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
            if (k->type != YAML_SCALAR_NODE) {
                return fail(x, k, path, "keys must be strings");
            }
            rc = check_duplicate(x, n, p, path);
            if (rc != HD_OK) {
                return rc;
            }
            if (p > n->data.mapping.pairs.start) {
                rc = hd_buf_putc(b, ',');
            }
            if (rc == HD_OK) {
                rc = hd_buf_json_str(b, (const char *)k->data.scalar.value, k->data.scalar.length);
            }
            if (rc == HD_OK) {
                rc = hd_buf_putc(b, ':');
            }
            if (rc != HD_OK) {
                break;
            }
            join_path(sub, sizeof(sub), path, (const char *)k->data.scalar.value);
            rc = node_to_json(x, yaml_document_get_node(x->doc, p->value), sub, b, depth + 1);
            if (rc == HD_EINVAL) {
                return rc;
            }
        }
        if (rc == HD_OK) {
            rc = hd_buf_putc(b, '}');
        }
        break;
    }
    default: return fail(x, n, path, "empty node");
    }
    if (rc == HD_ETOOBIG) {
        return fail(x, n, path, "channels expand to more than %u bytes of JSON", CFG_MAX_CHANNELS_JSON);
    }
    return rc == HD_OK ? HD_OK : oom(x);
}

static int load_channels(struct ctx *x, yaml_node_t *n, const char *path)
{
    struct hd_buf b;
    int rc = HD_OK;
    char sub[256];
    hd_buf_init(&b, CFG_MAX_CHANNELS_JSON);
    if (is_null_scalar(n)) {
        if (hd_buf_puts(&b, "[]") != HD_OK) {
            rc = oom(x);
            goto out;
        }
    } else if (n->type != YAML_SEQUENCE_NODE) {
        rc = fail(x, n, path, "expected a list of channel objects");
        goto out;
    } else {
        /* The channel layer validates the objects; only what upsert-by-name
         * needs is checked here, where the error can still name a line. */
        size_t i = 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++, i++) {
            yaml_node_t *e = yaml_document_get_node(x->doc, *it);
            index_path(sub, sizeof(sub), path, i);
            if (e->type != YAML_MAPPING_NODE) {
                rc = fail(x, e, sub, "expected a channel object {name, type, options}");
                goto out;
            }
            int has_name = 0;
            for (yaml_node_pair_t *p = e->data.mapping.pairs.start; p < e->data.mapping.pairs.top; p++) {
                yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
                yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
                if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, "name") == 0 &&
                    v->type == YAML_SCALAR_NODE && !is_null_scalar(v)) {
                    has_name = 1;
                }
            }
            if (!has_name) {
                rc = fail(x, e, sub, "name is required (channels from the file are upserted by name)");
                goto out;
            }
        }
        rc = node_to_json(x, n, path, &b, 1);
        if (rc != HD_OK) {
            goto out;
        }
    }
    free(x->channels_json);
    x->channels_json = hd_buf_steal(&b, NULL);
    if (x->channels_json == NULL) {
        rc = oom(x);
    }
out:
    hd_buf_free(&b);
    return rc;
}

/* ---- security.denyDestinations: a list of address blocks -------------- */

/* The list in the file replaces the current one as a whole (an empty list
 * allows every destination); a null value keeps it. Each entry is a string
 * (${VAR} substituted) that core/cidr.c parses; an error names the entry's
 * line and index. */
static int load_cidr(struct ctx *x, yaml_node_t *e, const char *sub, size_t idx, void *ud)
{
    char *s = NULL;
    struct hd_err cerr = {0};
    (void)idx;
    int rc = subst(x, e, sub, &s);
    if (rc != HD_OK) {
        return rc;
    }
    rc = hd_cidr_list_add(ud, s, &cerr);
    free(s);
    return rc != HD_OK ? fail(x, e, sub, "%s", cerr.msg) : HD_OK;
}

static int load_cidrs(struct ctx *x, yaml_node_t *n, const char *path, struct hd_cidr_list *dst)
{
    struct hd_cidr_list l = {0};
    if (is_null_scalar(n)) {
        return HD_OK; /* "key:" with nothing keeps the current list */
    }
    static const struct list_spec ls = {
        YAML_SCALAR_NODE, "a list of address blocks, e.g. [169.254.0.0/16, \"fd00:ec2::254/128\"]",
        "an address block like 10.0.0.0/8 or \"fd00::/8\"", load_cidr};
    int rc = each_item(x, n, path, &ls, &l);
    if (rc == HD_OK) {
        *dst = l;
    }
    return rc;
}

/* Rules that span several keys, checked once the whole file is read. */
static int validate(const struct hd_config *c, const char *file, struct hd_err *err)
{
    if ((c->tls_cert_file == NULL) != (c->tls_key_file == NULL)) {
        return hd_err_set(err, HD_EINVAL, "%s: tls: certFile and keyFile must be given together", file);
    }
    if (c->delivery_retry_max_ms < c->delivery_retry_initial_ms) {
        return hd_err_set(err, HD_EINVAL, "%s: delivery: retryMax must be >= retryInitial", file);
    }
    if (c->listen == NULL || strrchr(c->listen, ':') == NULL) {
        return hd_err_set(err, HD_EINVAL, "%s: listen: expected HOST:PORT, e.g. 127.0.0.1:8080", file);
    }
    int64_t port = 0;
    if (hd_parse_i64(strrchr(c->listen, ':') + 1, &port) != HD_OK || port < 0 || port > 65535) {
        return hd_err_set(err, HD_EINVAL, "%s: listen: '%s' has no valid port (0-65535)", file, c->listen);
    }
    return HD_OK;
}

static int load_parser(struct hd_config *c, yaml_parser_t *parser, const char *name, struct hd_err *err)
{
    yaml_document_t doc;
    struct hd_config tmp;
    struct ctx x = {.doc = &doc, .file = name, .err = err};
    int rc = HD_OK;
    int have_doc = 0;
    int have_tmp = 0;

    if (!yaml_parser_load(parser, &doc)) {
        const char *why = parser->problem != NULL ? parser->problem : "syntax error";
        unsigned long line = (unsigned long)parser->problem_mark.line + 1;
        if (parser->context != NULL) {
            rc = hd_err_set(err, HD_EINVAL, "%s:%lu: YAML: %s %s (line %lu)", name, line, why,
                            parser->context, (unsigned long)parser->context_mark.line + 1);
        } else {
            rc = hd_err_set(err, HD_EINVAL, "%s:%lu: YAML: %s", name, line, why);
        }
        goto out;
    }
    have_doc = 1;
    rc = cfg_copy(&tmp, c);
    if (rc != HD_OK) {
        rc = oom(&x);
        goto out;
    }
    have_tmp = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root != NULL) { /* an empty file is a valid, empty configuration */
        if (root->type != YAML_MAPPING_NODE && !is_null_scalar(root)) {
            rc = fail(&x, root, NULL, "expected a mapping of settings at the top level");
            goto out;
        }
        rc = load_map(&x, root, f_root, &tmp, "", 1);
        if (rc != HD_OK) {
            goto out;
        }
    }
    if (x.have_tokens) {
        cfg_tokens_free(tmp.tokens, tmp.n_tokens);
        tmp.tokens = x.tokens;
        tmp.n_tokens = x.n_tokens;
        x.tokens = NULL;
        x.n_tokens = 0;
    }
    if (x.channels_json != NULL) {
        free(tmp.channels_json);
        tmp.channels_json = x.channels_json;
        x.channels_json = NULL;
    }
    if (x.have_ids) {
        cfg_identities_free(tmp.client_identities, tmp.n_client_identities);
        tmp.client_identities = x.ids;
        tmp.n_client_identities = x.n_ids;
        x.ids = NULL;
        x.n_ids = 0;
    }
    rc = validate(&tmp, name, err);
    if (rc == HD_OK && cfg_tls_validate(&tmp, err) != HD_OK) {
        hd_err_prefix(err, "%s:%lu: tls: ", name, x.tls_line);
        rc = HD_EINVAL;
    }
    if (rc != HD_OK) {
        goto out;
    }
    hd_config_free(c);
    *c = tmp;
    have_tmp = 0;
out:
    if (have_tmp) {
        hd_config_free(&tmp);
    }
    cfg_tokens_free(x.tokens, x.n_tokens);
    cfg_identities_free(x.ids, x.n_ids);
    free(x.channels_json);
    if (have_doc) {
        yaml_document_delete(&doc);
    }
    return rc;
}

int hd_config_load_mem(struct hd_config *c, const char *name, const char *text, size_t len,
                       struct hd_err *err)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        return hd_err_set(err, HD_ENOMEM, "%s: out of memory", name);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = load_parser(c, &parser, name, err);
    yaml_parser_delete(&parser);
    return rc;
}

int hd_config_load_file(struct hd_config *c, const char *path, struct hd_err *err)
{
    yaml_parser_t parser;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return hd_err_set(err, HD_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    if (!yaml_parser_initialize(&parser)) {
        fclose(fp);
        return hd_err_set(err, HD_ENOMEM, "%s: out of memory", path);
    }
    yaml_parser_set_input_file(&parser, fp);
    int rc = load_parser(c, &parser, path, err);
    yaml_parser_delete(&parser);
    fclose(fp);
    return rc;
}

/* The environment is applied in place: each variable is independent and
 * validated before anything is changed. */
