/* fuzz_config.c - libFuzzer target for the YAML configuration file
 * (hd_config_load_mem: src/core/config_yaml.c over config.c), see README.md.
 *
 * Input: a configuration file, any bytes. Beyond "no crash, no leak, no UB"
 * it checks the contract of config.h:
 *   - on error the configuration is unchanged (a bad SIGHUP reload keeps the
 *     running one) and the message names the file;
 *   - on success what validate() promises holds (listen has a port, tokens
 *     are named, non-empty and unique), channels_json is a JSON array;
 *   - loading the same file again over the result succeeds and changes
 *     nothing (a reload of an unchanged file is a no-op).
 *
 * Determinism: ${VAR} reads the environment and tokenFile reads files. The
 * build links this target with -Wl,--wrap=getenv,--wrap=fopen: while a
 * configuration is being loaded, getenv answers from the fixed table below
 * and fopen serves FUZZ_TOKEN_FILE from memory and refuses every other path,
 * so an input means the same on every machine and never blocks on a FIFO or
 * a terminal. Outside a load both pass through (libFuzzer, the sanitizers). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "json/json.h"

#define FUZZ_FILE "fuzz.yaml"
#define FUZZ_TOKEN_FILE "/fuzz/token"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
char *__real_getenv(const char *name);
char *__wrap_getenv(const char *name);
FILE *__real_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);

static int loading; /* 1 while hd_config_load_mem runs */

/* The environment a configuration sees here (the seeds' variables). */
static const char *const fuzz_env[][2] = {
    {"HERALD_ADMIN_TOKEN", "admin-token-0123456789"},
    {"FALCO_TOKEN", "falco-token-0123456789"},
    {"SMTP_PASSWORD", "smtp-secret"},
    {"SPLUNK_TOKEN", "00000000-0000-0000-0000-000000000000"},
    {"SPLUNK_HEC_TOKEN", "11111111-1111-1111-1111-111111111111"},
    {"PORT", "8080"},
    {"EMPTY", ""},
    {"LONG", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
};

char *__wrap_getenv(const char *name)
{
    if (!loading) {
        return __real_getenv(name);
    }
    for (size_t i = 0; i < sizeof(fuzz_env) / sizeof(fuzz_env[0]); i++) {
        if (strcmp(fuzz_env[i][0], name) == 0) {
            return (char *)fuzz_env[i][1];
        }
    }
    return NULL;
}

FILE *__wrap_fopen(const char *path, const char *mode)
{
    static char token[] = "file-token-0123456789\n";
    if (!loading) {
        return __real_fopen(path, mode);
    }
    if (strcmp(path, FUZZ_TOKEN_FILE) == 0 && strcmp(mode, "r") == 0) {
        return fmemopen(token, sizeof(token) - 1, "r");
    }
    errno = ENOENT;
    return NULL;
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The members config.h declares (a key added since is not compared). */
static int config_eq(const struct hd_config *a, const struct hd_config *b)
{
    const char *const sa[] = {a->listen,         a->data_dir,           a->store_url,       a->tls_cert_file,
                              a->tls_key_file,   a->smtp_url,           a->smtp_from,       a->smtp_username,
                              a->smtp_password,  a->k8s_api_server,     a->k8s_token_file,  a->k8s_ca_file,
                              a->k8s_namespace,  a->k8s_field_selector, a->docker_socket,   a->docker_url,
                              a->docker_ca_file, a->docker_cert_file,   a->docker_key_file, a->docker_filters,
                              a->log_format,     a->log_level,          a->channels_json,   a->web_dir};
    const char *const sb[] = {b->listen,         b->data_dir,           b->store_url,       b->tls_cert_file,
                              b->tls_key_file,   b->smtp_url,           b->smtp_from,       b->smtp_username,
                              b->smtp_password,  b->k8s_api_server,     b->k8s_token_file,  b->k8s_ca_file,
                              b->k8s_namespace,  b->k8s_field_selector, b->docker_socket,   b->docker_url,
                              b->docker_ca_file, b->docker_cert_file,   b->docker_key_file, b->docker_filters,
                              b->log_format,     b->log_level,          b->channels_json,   b->web_dir};
    for (size_t i = 0; i < sizeof(sa) / sizeof(sa[0]); i++) {
        if (!str_eq(sa[i], sb[i])) {
            return 0;
        }
    }
    if (a->n_tokens != b->n_tokens) {
        return 0;
    }
    for (size_t i = 0; i < a->n_tokens; i++) {
        if (!str_eq(a->tokens[i].name, b->tokens[i].name) ||
            !str_eq(a->tokens[i].token, b->tokens[i].token) || a->tokens[i].scope != b->tokens[i].scope) {
            return 0;
        }
    }
    const int64_t ia[] = {a->max_body_bytes,
                          a->max_backlog,
                          a->max_connections,
                          a->max_connections_per_ip,
                          a->header_timeout_ms,
                          a->metrics_public,
                          a->smtp_start_tls,
                          a->k8s_enabled,
                          a->docker_enabled,
                          a->retention_max_age_ms,
                          a->retention_max_bytes,
                          a->delivery_max_retry_age_ms,
                          a->delivery_retry_initial_ms,
                          a->delivery_retry_max_ms,
                          a->delivery_breaker_threshold,
                          a->shutdown_timeout_ms};
    const int64_t ib[] = {b->max_body_bytes,
                          b->max_backlog,
                          b->max_connections,
                          b->max_connections_per_ip,
                          b->header_timeout_ms,
                          b->metrics_public,
                          b->smtp_start_tls,
                          b->k8s_enabled,
                          b->docker_enabled,
                          b->retention_max_age_ms,
                          b->retention_max_bytes,
                          b->delivery_max_retry_age_ms,
                          b->delivery_retry_initial_ms,
                          b->delivery_retry_max_ms,
                          b->delivery_breaker_threshold,
                          b->shutdown_timeout_ms};
    return memcmp(ia, ib, sizeof(ia)) == 0;
}

static int load(struct hd_config *c, const uint8_t *data, size_t size, struct hd_err *err)
{
    memset(err, 0, sizeof(*err));
    loading = 1;
    int rc = hd_config_load_mem(c, FUZZ_FILE, (const char *)data, size, err);
    loading = 0;
    return rc;
}

/* What a successful load promises. */
static void check_valid(const struct hd_config *c)
{
    const char *colon = c->listen != NULL ? strrchr(c->listen, ':') : NULL;
    if (colon == NULL || c->delivery_retry_max_ms < c->delivery_retry_initial_ms ||
        (c->tls_cert_file == NULL) != (c->tls_key_file == NULL) || c->channels_json == NULL) {
        abort();
    }
    for (size_t i = 0; i < c->n_tokens; i++) {
        if (c->tokens[i].name == NULL || c->tokens[i].name[0] == '\0' || c->tokens[i].token == NULL ||
            c->tokens[i].token[0] == '\0' || strcmp(hd_scope_name(c->tokens[i].scope), "unknown") == 0) {
            abort();
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->tokens[i].name, c->tokens[j].name) == 0 ||
                strcmp(c->tokens[i].token, c->tokens[j].token) == 0) {
                abort();
            }
        }
    }
    struct hd_err err = {0};
    json_object *ch = hd_json_parse(c->channels_json, strlen(c->channels_json), &err);
    if (ch == NULL || !json_object_is_type(ch, json_type_array)) {
        abort();
    }
    json_object_put(ch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hd_config c, pristine;
    struct hd_err err;
    hd_config_defaults(&c);
    hd_config_defaults(&pristine);
    int rc = load(&c, data, size, &err);
    if (rc != HD_OK) {
        if (!config_eq(&c, &pristine) || strncmp(err.msg, FUZZ_FILE, strlen(FUZZ_FILE)) != 0 ||
            (rc != HD_EINVAL && rc != HD_ENOMEM)) {
            abort();
        }
        goto out;
    }
    check_valid(&c);
    /* Reloading the unchanged file changes nothing. */
    struct hd_config again;
    hd_config_defaults(&again);
    if (load(&again, data, size, &err) != HD_OK || load(&again, data, size, &err) != HD_OK ||
        !config_eq(&again, &c)) {
        abort();
    }
    hd_config_free(&again);
out:
    hd_config_free(&c);
    hd_config_free(&pristine);
    return 0;
}
