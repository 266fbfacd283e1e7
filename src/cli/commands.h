/* commands.h - subcommands implemented in src/cli (client ones in client.h). */
#ifndef HD_COMMANDS_H
#define HD_COMMANDS_H

#include "json/json.h"

int hd_cmd_serve(int argc, char **argv);
int hd_cmd_version(int argc, char **argv);
int hd_cmd_setup(int argc, char **argv);
int hd_cmd_check_config(int argc, char **argv);
int hd_cmd_store(int argc, char **argv);

/* Shared by serve and check-config (check_config.c). */
struct hd_config;
struct hd_err;
/* The EMAIL channels' SMTP server (channel/email.h), before channels are validated. */
int hd_cli_apply_smtp(const struct hd_config *cfg, struct hd_err *err);
/* The config's channels as a JSON array, each validated as the API would
 * (the error names channels[i] and the field); NULL on error. */
json_object *hd_cli_config_channels(const char *channels_json, struct hd_err *err);

#endif
