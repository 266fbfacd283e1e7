/* check_config.c - `herald check-config FILE` (SPEC 2): loads and validates a
 * configuration the way `herald serve` does at start and on SIGHUP, without
 * opening the store or the listener. 0 valid, 1 invalid (the error names the
 * key and line), 2 usage. */
#include <stdio.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/email.h"
#include "cli/commands.h"
#include "core/config.h"
#include "json/json.h"

int hd_cli_apply_smtp(const struct hd_config *cfg, struct hd_err *err)
{
    struct hd_smtp_settings s = {
        .url = cfg->smtp_url,
        .from = cfg->smtp_from,
        .username = cfg->smtp_username,
        .password = cfg->smtp_password,
        .start_tls = cfg->smtp_start_tls,
        .allow_insecure_auth = cfg->smtp_allow_insecure_auth,
    };
    if (hd_channel_set_smtp(&s) != HD_OK) {
        return hd_err_set(err, HD_ENOMEM, "smtp: out of memory");
    }
    return HD_OK;
}

json_object *hd_cli_config_channels(const char *channels_json, struct hd_err *err)
{
    const char *text = channels_json != NULL ? channels_json : "[]";
    json_object *arr = hd_json_parse(text, strlen(text), err);
    if (arr == NULL || !json_object_is_type(arr, json_type_array)) {
        json_object_put(arr);
        hd_err_set(err, HD_EINVAL, "channels: expected a list");
        return NULL;
    }
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        if (hd_channel_validate(json_object_array_get_idx(arr, i), err) != HD_OK) {
            hd_err_prefix(err, "channels[%zu]: ", i);
            json_object_put(arr);
            return NULL;
        }
    }
    return arr;
}

static const char check_usage[] =
    "usage: herald check-config FILE\n"
    "Validates a configuration file (and the ${VAR}s it reads from the environment)\n"
    "as `herald serve` would, without starting: tokens, limits, TLS rules, inputs,\n"
    "and every channel it declares. Exit 0 when valid, 1 with the error naming the\n"
    "key and line, 2 on usage errors.\n";

int hd_cmd_check_config(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(check_usage, stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "herald check-config: expected one FILE\n\n%s", check_usage);
        return 2;
    }
    const char *path = argv[1];
    struct hd_config cfg;
    struct hd_err err = {0};
    hd_config_defaults(&cfg);
    int rc = hd_config_load_file(&cfg, path, &err);
    if (rc == HD_OK) {
        rc = hd_config_apply_env(&cfg, &err);
    }
    if (rc == HD_OK) {
        rc = hd_cli_apply_smtp(&cfg, &err);
    }
    json_object *chans = NULL;
    if (rc == HD_OK) {
        chans = hd_cli_config_channels(cfg.channels_json, &err);
        rc = chans != NULL ? HD_OK : HD_EINVAL;
    }
    if (rc != HD_OK) {
        /* the file's own errors already start with "FILE:LINE:" */
        int located = strncmp(err.msg, path, strlen(path)) == 0;
        fprintf(stderr, "herald check-config: %s%s%s\n", located ? "" : path, located ? "" : ": ", err.msg);
    } else {
        /* never the store URL itself: it may hold a password */
        const char *store =
            cfg.store_url != NULL && strncmp(cfg.store_url, "postgres", 8) == 0 ? "postgres" : "sqlite";
        printf("%s: valid (%zu tokens, %zu channels, store %s)\n", path, cfg.n_tokens,
               json_object_array_length(chans), store);
    }
    json_object_put(chans);
    hd_config_free(&cfg);
    return rc == HD_OK ? 0 : 1;
}
