/* client.h - the API client subcommands (SPEC section 2).
 *
 * Each takes argv[0] = its own name ("channel", "send", ...) and returns the
 * process exit code: 0 success, 1 failure (stderr says what and why), 2 usage
 * error (usage on stderr). "--help" prints the usage on stdout and returns 0.
 * Common options: --url (HERALD_URL, default http://127.0.0.1:8080), --token
 * (HERALD_TOKEN), -o json|table (default json), --cacert FILE, --insecure.
 */
#ifndef HD_CLI_CLIENT_H
#define HD_CLI_CLIENT_H

int hd_cmd_channel(int argc, char **argv);
int hd_cmd_send(int argc, char **argv);
int hd_cmd_events(int argc, char **argv);
int hd_cmd_deliveries(int argc, char **argv);
int hd_cmd_silence(int argc, char **argv);

#endif
