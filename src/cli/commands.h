/* commands.h - subcommands implemented in src/cli (client ones in client.h). */
#ifndef HD_COMMANDS_H
#define HD_COMMANDS_H

int hd_cmd_serve(int argc, char **argv);
int hd_cmd_version(int argc, char **argv);
int hd_cmd_setup(int argc, char **argv);

#endif
