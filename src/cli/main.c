/* main.c - `herald <command>`: dispatches to the subcommands (SPEC section 2).
 * Exit codes: 0 success, 1 failure (stderr says what and why), 2 usage. */
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
    {"serve", hd_cmd_serve, "run the daemon"},
    {"channel", hd_cmd_channel, "list|get|create|update|delete|test notification channels"},
    {"send", hd_cmd_send, "post events (JSON, JSON array or NDJSON)"},
    {"events", hd_cmd_events, "query stored events"},
    {"deliveries", hd_cmd_deliveries, "inspect and replay dead letters"},
    {"silence", hd_cmd_silence, "add|list|expire silences (matched events are not sent)"},
    {"setup", hd_cmd_setup, "prepare a sink (elasticsearch, kibana)"},
    {"check-config", hd_cmd_check_config, "validate a configuration file without starting"},
    {"store", hd_cmd_store, "store maintenance: migrate (sqlite -> postgres)"},
    {"version", hd_cmd_version, "version, build options, library versions"},
    {"help", cmd_help, "this help"},
};

static void usage(FILE *f)
{
    fputs("usage: herald <command> [options]\n\ncommands:\n", f);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    }
    fputs("\nRun 'herald <command> --help' for a command's options.\n"
          "Client commands take --url/HERALD_URL and --token/HERALD_TOKEN.\n",
          f);
}

static int cmd_help(int argc, char **argv)
{
    if (argc > 1) {
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
            if (strcmp(argv[1], commands[i].name) == 0 && commands[i].run != cmd_help) {
                char *hargv[] = {argv[1], "--help", NULL};
                return commands[i].run(2, hargv);
            }
        }
    }
    usage(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        return hd_cmd_version(argc - 1, argv + 1);
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(name, commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "herald: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}
