/* config.h - herald's configuration (SPEC section 3).
 *
 * Order: defaults < YAML file < environment HERALD_* < flags (the caller
 * applies flags). ${VAR} and ${VAR:-default} in file values come from the
 * environment. Unknown keys are an error naming the key and line. Channels
 * declared in the file are kept as a JSON array text (channels_json) so this
 * layer stays free of the JSON library.
 */
#ifndef HD_CONFIG_H
#define HD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/cidr.h"
#include "core/err.h"

enum hd_scope { HD_SCOPE_ADMIN = 0, HD_SCOPE_INGEST = 1, HD_SCOPE_READ = 2 };

/* API tokens shorter than this (in bytes) are refused wherever they come
 * from: the file's tokens, HERALD_ADMIN_TOKEN, the data dir's admin.token
 * (SPEC section 3). */
#define HD_TOKEN_MIN_LEN 16

struct hd_token {
    char *name;
    char *token;
    enum hd_scope scope;
};

/* A client certificate subject let in without a token, and its scope
 * (tls.clientIdentities; config_tls.c). */
struct hd_client_identity {
    char *subject; /* canonical RFC 4514 form (core/dn.h) */
    enum hd_scope scope;
};

struct hd_config {
    char *listen;    /* "127.0.0.1:8080" */
    char *data_dir;  /* "./herald-data" */
    char *store_url; /* "sqlite" */
    struct hd_token *tokens;
    size_t n_tokens;
    int64_t max_body_bytes;         /* 10 MiB */
    int64_t max_bytes_in_flight;    /* 8 MiB: request bodies held at once (0 = no limit) */
    int64_t max_backlog;            /* 1,000,000 */
    int64_t max_events_per_request; /* 100,000: more in one request is 413 */
    int64_t max_connections;        /* 1,000: open connections, all clients together */
    int64_t max_connections_per_ip; /* 100 */
    int64_t header_timeout_ms;      /* 10 s: a request's headers must arrive in time */
    char *tls_cert_file;
    char *tls_key_file;
    char *tls_client_ca_file; /* ask clients for a certificate, verified against these CAs */
    struct hd_client_identity *client_identities;
    size_t n_client_identities;
    int metrics_public;
    /* smtp (used by EMAIL) */
    char *smtp_url, *smtp_from, *smtp_username, *smtp_password;
    int smtp_start_tls;
    int smtp_allow_insecure_auth; /* credentials over smtp:// without STARTTLS */
    /* inputs (used by the watchers) */
    int k8s_enabled;
    char *k8s_api_server, *k8s_token_file, *k8s_ca_file, *k8s_namespace;
    char *k8s_field_selector;     /* e.g. "type=Warning"; NULL = all */
    int64_t k8s_max_event_age_ms; /* first start: older listed events skipped; 0 = none */
    int docker_enabled;
    char *docker_socket;
    char *docker_url; /* tcp://host:2376 (instead of the socket) */
    char *docker_ca_file, *docker_cert_file, *docker_key_file;
    char *docker_filters; /* "type=container,event=die"; NULL = all */
    /* retention */
    int64_t retention_max_age_ms; /* 7 d */
    int64_t retention_max_bytes;  /* 2 GiB */
    /* delivery */
    int64_t delivery_max_retry_age_ms; /* 24 h */
    int64_t delivery_retry_initial_ms; /* 1 s */
    int64_t delivery_retry_max_ms;     /* 5 min */
    int delivery_breaker_threshold;    /* 5 */
    int64_t shutdown_timeout_ms;       /* 10 s */
    char *log_format;                  /* "text" | "json" */
    char *log_level;                   /* "debug" | "info" | "warn" | "error" */
    char *channels_json;               /* JSON array text, "[]" if none */
    char *web_dir;                     /* web.dir: dashboard assets; NULL = found by serve */
    /* security.denyDestinations: the addresses deliveries may not connect
     * to, checked after DNS (net/http_client.h). A list in the file
     * replaces the default one; an empty list allows every address. */
    struct hd_cidr_list deny_destinations;
};

void hd_config_defaults(struct hd_config *c);
/* Loads path (YAML) over the current values; on error c is unchanged and err
 * reads "config.yaml:12: limits.maxBodyBytes: expected a size like 10MiB". */
int hd_config_load_file(struct hd_config *c, const char *path, struct hd_err *err);
/* Same from memory; name stands for the file in messages. On error c is unchanged. */
int hd_config_load_mem(struct hd_config *c, const char *name, const char *text, size_t len,
                       struct hd_err *err);
/* Applies HERALD_LISTEN, HERALD_DATA, HERALD_STORE, HERALD_ADMIN_TOKEN (token
 * "env-admin", scope admin; at least HD_TOKEN_MIN_LEN characters),
 * HERALD_LOG_FORMAT, HERALD_LOG_LEVEL. Empty = unset. */
int hd_config_apply_env(struct hd_config *c, struct hd_err *err);
/* Replaces the string *dst by a copy of v. */
int hd_config_set_str(char **dst, const char *v);
/* Adds a token (copies strings). */
int hd_config_add_token(struct hd_config *c, const char *name, const char *token, enum hd_scope scope);
void hd_config_free(struct hd_config *c);
const char *hd_scope_name(enum hd_scope s);

#endif
