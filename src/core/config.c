/* config.c - the configuration's life cycle: defaults, copies, tokens, the
 * HERALD_* environment. The YAML file is read by config_yaml.c.
 *
 * DESIGN: the defaults live only in hd_config_defaults. Every char * member is
 * listed once (str_fields), so copy and free cannot miss one; secrets (tokens,
 * the SMTP password) are wiped before they are freed. The deny list
 * (security.denyDestinations) is a fixed-size value: copied with the struct,
 * nothing to free.
 */
#include "core/config.h"
#include "core/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"

/* The char * members, for copy and free (one list, so neither can miss one). */
static const size_t str_fields[] = {
    offsetof(struct hd_config, listen),
    offsetof(struct hd_config, data_dir),
    offsetof(struct hd_config, store_url),
    offsetof(struct hd_config, tls_cert_file),
    offsetof(struct hd_config, tls_key_file),
    offsetof(struct hd_config, tls_client_ca_file), /* tls.clientCaFile */
    offsetof(struct hd_config, smtp_url),
    offsetof(struct hd_config, smtp_from),
    offsetof(struct hd_config, smtp_username),
    offsetof(struct hd_config, smtp_password),
    offsetof(struct hd_config, k8s_api_server),
    offsetof(struct hd_config, k8s_token_file),
    offsetof(struct hd_config, k8s_ca_file),
    offsetof(struct hd_config, k8s_namespace),
    offsetof(struct hd_config, docker_socket),
    offsetof(struct hd_config, k8s_field_selector),
    offsetof(struct hd_config, docker_url),
    offsetof(struct hd_config, docker_ca_file),
    offsetof(struct hd_config, docker_cert_file),
    offsetof(struct hd_config, docker_key_file),
    offsetof(struct hd_config, docker_filters),
    offsetof(struct hd_config, log_format),
    offsetof(struct hd_config, log_level),
    offsetof(struct hd_config, channels_json),
    offsetof(struct hd_config, web_dir),
};

char **cfg_str_at(struct hd_config *c, size_t off)
{
    return (char **)(void *)((char *)c + off);
}

const char *hd_scope_name(enum hd_scope s)
{
    switch (s) {
    case HD_SCOPE_ADMIN: return "admin";
    case HD_SCOPE_INGEST: return "ingest";
    case HD_SCOPE_READ: return "read";
    }
    return "unknown";
}

int cfg_scope_parse(const char *s, enum hd_scope *out)
{
    static const enum hd_scope all[] = {HD_SCOPE_ADMIN, HD_SCOPE_INGEST, HD_SCOPE_READ};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(s, hd_scope_name(all[i])) == 0) {
            *out = all[i];
            return HD_OK;
        }
    }
    return HD_EINVAL;
}

int hd_config_set_str(char **dst, const char *v)
{
    char *copy = NULL;
    if (v != NULL) {
        copy = hd_strdup(v);
        if (copy == NULL) {
            return HD_ENOMEM;
        }
    }
    free(*dst);
    *dst = copy;
    return HD_OK;
}

/* security.denyDestinations by default: link-local IPv4 (cloud metadata
 * services answer at 169.254.169.254) and IPv6, and the IPv6 address of
 * AWS's instance metadata service. Loopback and private networks stay
 * allowed: sinks often run there (docs/configuration.md). */
static void config_security_defaults(struct hd_config *c)
{
    static const char *const deny[] = {"169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"};
    for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++) {
        (void)hd_cidr_list_add(&c->deny_destinations, deny[i], NULL); /* constant, valid, fits */
    }
}

/* The one place where defaults are written (docs/configuration.md mirrors it). */
void hd_config_defaults(struct hd_config *c)
{
    memset(c, 0, sizeof(*c));
    /* An allocation failure leaves a NULL string; hd_config_load_* and the
     * callers treat NULL as "not set", so a default is never half-written. */
    (void)hd_config_set_str(&c->listen, "127.0.0.1:8080");
    (void)hd_config_set_str(&c->data_dir, "./herald-data");
    (void)hd_config_set_str(&c->store_url, "sqlite");
    c->max_body_bytes = 10 * 1024 * 1024;
    c->max_bytes_in_flight = 8 * 1024 * 1024;
    c->max_backlog = 1000000;
    c->max_events_per_request = 100000;
    c->max_connections = 1000;
    c->max_connections_per_ip = 100;
    c->header_timeout_ms = 10000;
    c->metrics_public = 0;
    c->smtp_start_tls = 0;
    c->smtp_allow_insecure_auth = 0;
    c->k8s_enabled = 0;
    c->k8s_max_event_age_ms = 5LL * 60 * 1000;
    c->docker_enabled = 0;
    (void)hd_config_set_str(&c->docker_socket, "/var/run/docker.sock");
    c->retention_max_age_ms = 7LL * 86400 * 1000;
    c->retention_max_bytes = 2LL * 1024 * 1024 * 1024;
    c->delivery_max_retry_age_ms = 24LL * 3600 * 1000;
    c->delivery_retry_initial_ms = 1000;
    c->delivery_retry_max_ms = 5LL * 60 * 1000;
    c->delivery_breaker_threshold = 5;
    c->shutdown_timeout_ms = 10000;
    (void)hd_config_set_str(&c->log_format, "text");
    (void)hd_config_set_str(&c->log_level, "info");
    (void)hd_config_set_str(&c->channels_json, "[]");
    config_security_defaults(c);
}

void cfg_wipe_free(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void cfg_tokens_free(struct hd_token *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].name);
        cfg_wipe_free(t[i].token);
    }
    free(t);
}

void hd_config_free(struct hd_config *c)
{
    if (c == NULL) {
        return;
    }
    cfg_tokens_free(c->tokens, c->n_tokens);
    cfg_identities_free(c->client_identities, c->n_client_identities);
    for (size_t i = 0; i < sizeof(str_fields) / sizeof(str_fields[0]); i++) {
        char **p = cfg_str_at(c, str_fields[i]);
        if (str_fields[i] == offsetof(struct hd_config, smtp_password)) {
            cfg_wipe_free(*p);
        } else {
            free(*p);
        }
    }
    memset(c, 0, sizeof(*c));
}

int hd_config_add_token(struct hd_config *c, const char *name, const char *token, enum hd_scope scope)
{
    if (name == NULL || token == NULL) {
        return HD_EINVAL;
    }
    struct hd_token *grown = realloc(c->tokens, (c->n_tokens + 1) * sizeof(*grown));
    if (grown == NULL) {
        return HD_ENOMEM;
    }
    c->tokens = grown;
    struct hd_token *t = &c->tokens[c->n_tokens];
    t->name = hd_strdup(name);
    t->token = hd_strdup(token);
    t->scope = scope;
    if (t->name == NULL || t->token == NULL) {
        free(t->name);
        cfg_wipe_free(t->token);
        return HD_ENOMEM;
    }
    c->n_tokens++;
    return HD_OK;
}

/* Deep copy of src into dst (dst's previous content is not freed). */
int cfg_copy(struct hd_config *dst, const struct hd_config *src)
{
    int rc = HD_OK;
    *dst = *src;
    dst->tokens = NULL;
    dst->n_tokens = 0;
    dst->client_identities = NULL;
    dst->n_client_identities = 0;
    for (size_t i = 0; i < sizeof(str_fields) / sizeof(str_fields[0]); i++) {
        *cfg_str_at(dst, str_fields[i]) = NULL;
    }
    for (size_t i = 0; i < sizeof(str_fields) / sizeof(str_fields[0]); i++) {
        const char *v = *cfg_str_at((struct hd_config *)src, str_fields[i]);
        rc = hd_config_set_str(cfg_str_at(dst, str_fields[i]), v);
        if (rc != HD_OK) {
            goto out;
        }
    }
    for (size_t i = 0; i < src->n_tokens; i++) {
        rc = hd_config_add_token(dst, src->tokens[i].name, src->tokens[i].token, src->tokens[i].scope);
        if (rc != HD_OK) {
            goto out;
        }
    }
    rc = cfg_identities_copy(dst, src);
out:
    if (rc != HD_OK) {
        hd_config_free(dst);
    }
    return rc;
}

int hd_config_apply_env(struct hd_config *c, struct hd_err *err)
{
    static const struct {
        const char *var;
        size_t off;
    } strs[] = {
        {"HERALD_LISTEN", CFG(listen)},
        {"HERALD_DATA", CFG(data_dir)},
        {"HERALD_STORE", CFG(store_url)},
    };
    const char *fmt = getenv("HERALD_LOG_FORMAT");
    if (fmt != NULL && fmt[0] != '\0' && strcmp(fmt, "text") != 0 && strcmp(fmt, "json") != 0) {
        return hd_err_set(err, HD_EINVAL, "HERALD_LOG_FORMAT: '%s' is not one of text, json", fmt);
    }
    const char *lvl = getenv("HERALD_LOG_LEVEL");
    int lvl_ok = lvl == NULL || lvl[0] == '\0';
    for (size_t i = 0; !lvl_ok && cfg_log_levels[i] != NULL; i++) {
        lvl_ok = strcmp(lvl, cfg_log_levels[i]) == 0;
    }
    if (!lvl_ok) {
        return hd_err_set(err, HD_EINVAL, "HERALD_LOG_LEVEL: '%s' is not one of debug, info, warn, error",
                          lvl);
    }
    const char *listen = getenv("HERALD_LISTEN");
    if (listen != NULL && listen[0] != '\0') {
        const char *colon = strrchr(listen, ':');
        int64_t port = -1;
        if (colon == NULL || hd_parse_i64(colon + 1, &port) != HD_OK || port < 0 || port > 65535) {
            return hd_err_set(err, HD_EINVAL, "HERALD_LISTEN: '%s' is not HOST:PORT", listen);
        }
    }
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const char *v = getenv(strs[i].var);
        if (v != NULL && v[0] != '\0' && hd_config_set_str(cfg_str_at(c, strs[i].off), v) != HD_OK) {
            return hd_err_set(err, HD_ENOMEM, "%s: out of memory", strs[i].var);
        }
    }
    if (fmt != NULL && fmt[0] != '\0' && hd_config_set_str(&c->log_format, fmt) != HD_OK) {
        return hd_err_set(err, HD_ENOMEM, "HERALD_LOG_FORMAT: out of memory");
    }
    if (lvl != NULL && lvl[0] != '\0' && hd_config_set_str(&c->log_level, lvl) != HD_OK) {
        return hd_err_set(err, HD_ENOMEM, "HERALD_LOG_LEVEL: out of memory");
    }
    const char *tok = getenv("HERALD_ADMIN_TOKEN");
    if (tok != NULL && tok[0] != '\0' && strlen(tok) < HD_TOKEN_MIN_LEN) {
        return hd_err_set(err, HD_EINVAL,
                          "HERALD_ADMIN_TOKEN: too short: tokens must be at least %d characters long",
                          HD_TOKEN_MIN_LEN);
    }
    if (tok != NULL && tok[0] != '\0') {
        for (size_t i = 0; i < c->n_tokens; i++) {
            if (strcmp(c->tokens[i].name, "env-admin") == 0) {
                char *copy = hd_strdup(tok);
                if (copy == NULL) {
                    return hd_err_set(err, HD_ENOMEM, "HERALD_ADMIN_TOKEN: out of memory");
                }
                cfg_wipe_free(c->tokens[i].token);
                c->tokens[i].token = copy;
                c->tokens[i].scope = HD_SCOPE_ADMIN;
                return HD_OK;
            }
        }
        if (hd_config_add_token(c, "env-admin", tok, HD_SCOPE_ADMIN) != HD_OK) {
            return hd_err_set(err, HD_ENOMEM, "HERALD_ADMIN_TOKEN: out of memory");
        }
    }
    return HD_OK;
}
