/* client_int.h - private to the API client commands (cli/client.c and the
 * cmd_*.c files): the parsed command line, one blocking request, output as
 * JSON or a table. See client.c for the design. */
#ifndef HD_CLI_CLIENT_INT_H
#define HD_CLI_CLIENT_INT_H

#include <stddef.h>
#include <stdio.h>

#include "core/buf.h"
#include "json/json.h"

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"
#define CLI_MAX_ANSWER (256u << 20)
#define CLI_MAX_POS 16 /* silence add takes several matchers */
#define CLI_TIMEOUT_MS 60000L

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };
enum { CLI_OUT_JSON = 0, CLI_OUT_YAML, CLI_OUT_TABLE };

struct cli {
    const char *cmd;   /* "channel", for messages */
    const char *usage; /* the command's own part; common_usage follows */
    int lists;         /* LIST_* bits: the registries' names printed after usage */
    char *base;        /* --url without trailing '/', owned */
    const char *token; /* borrowed from argv or the environment */
    const char *cacert;
    int insecure;
    int output; /* -o: CLI_OUT_* */
    const char *pos[CLI_MAX_POS];
    size_t n_pos;
};

/* One option of a command. Value options store into *val, flags set *flag. */
struct opt {
    const char *name; /* "since" for --since */
    char shrt;        /* 'q' for -q, 0 if none */
    const char **val; /* NULL for a flag */
    int *flag;
};

enum { LIST_FORMATS = 1, LIST_SOURCES = 2 };

/* A request body and its media type. */
struct req_body {
    const char *ctype;
    const char *p;
    size_t len;
};

/* A table for -o table: cells are copied; the last column is not padded. */
struct table {
    size_t ncol;
    char **cells;
    size_t n; /* cells used */
    size_t cap;
};

/* The command's usage, the registries' names it lists, the common options. */
void cli_print_usage(const struct cli *c, FILE *f);
/* "herald CMD: <message>" and the usage on stderr; returns EXIT_USAGE. */
#define cli_usage_error(c, ...) cli_say((c), 1, __VA_ARGS__)
/* "herald CMD: <message>" on stderr; returns EXIT_FAIL. */
#define cli_fail(c, ...) cli_say((c), 0, __VA_ARGS__)
/* The two above: "herald CMD: " and the message on stderr, then the usage
 * (usage 1: returns EXIT_USAGE) or nothing more (0: EXIT_FAIL). */
int cli_say(const struct cli *c, int usage, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cli_free(struct cli *c);
/* Parses argv against opts and the common options: -1 to go on, else the
 * exit code to return (0 after --help, 2 on a usage error). */
int cli_parse_args(struct cli *c, int argc, char **argv, const struct opt *opts);
/* One request; rb may be NULL (no body). path includes the query. On 2xx the
 * answer is in out and EXIT_OK returned; otherwise one line is printed and
 * EXIT_FAIL returned. */
int cli_request(const struct cli *c, const char *method, const char *path, const struct req_body *rb,
                struct hd_buf *out);
/* The same request, quiet about HTTP errors: returns the HTTP status (the
 * answer in out), or -1 after printing why there was none. */
int cli_request_status(const struct cli *c, const char *method, const char *path, const struct req_body *rb,
                       struct hd_buf *out);
/* Prints the one line about a non-2xx answer (the server's message); EXIT_FAIL. */
int cli_fail_answer(const struct cli *c, const char *method, const char *path, long status,
                    const struct hd_buf *body);
/* Appends ?name=value or &name=value (value URL-encoded); NULL value: nothing. */
int cli_add_query(struct hd_buf *path, const char *name, const char *value);
/* Reads FILE, or standard input for "-", into b. */
int cli_read_input(const struct cli *c, const char *file, struct hd_buf *b);
/* Prints the answer as -o asks: JSON indented (also for -o table), or YAML
 * (as it came when it is not JSON). */
void cli_print_doc(const struct cli *c, const struct hd_buf *body);
/* root as YAML on f (yaml_out.c). */
int cli_print_yaml(json_object *root, FILE *f);
int cli_table_add(struct table *t, const char *cell);
void cli_table_print(const struct table *t);
void cli_table_free(struct table *t);
/* The text of obj's member at a dotted path, "-" when absent. */
const char *cli_cell(json_object *obj, const char *path);
/* One row per item of the array items, the columns read at paths. */
int cli_table_rows(struct table *t, json_object *items, const char *const *paths);
/* -o table of the array body[key] (key NULL: the answer itself; an object is one row). */
int cli_print_table(const struct cli *c, const struct hd_buf *body, const char *key, const char *const *heads,
                    const char *const *paths, size_t ncol);
/* The answer as JSON or YAML, or with -o table as cli_print_table does. */
int cli_print_answer(const struct cli *c, const struct hd_buf *body, const char *key,
                     const char *const *heads, const char *const *paths, size_t ncol);
/* cli_request, then the answer printed (cli_print_doc). */
int cli_request_print(const struct cli *c, const char *method, const char *path, struct hd_buf *ans);
int cli_is_number(const char *s);
/* A channel given by id or by name, as its id (a name is looked up). */
int cli_channel_id(const struct cli *c, const char *arg, char *out, size_t outsz);

#endif
