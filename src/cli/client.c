/* client.c - `herald channel|send|events|deliveries`: a small REST client.
 *
 * DESIGN: every command is "parse options, one or two blocking requests,
 * print". Requests use libcurl's easy interface directly (the multi handle in
 * net/ belongs to the daemon's loop). Output is the server's JSON, indented,
 * or with -o table a few columns for people. Failures print one line that
 * says which request failed and the server's own message
 * ("herald: GET /api/notificationChannels/7: HTTP 404: ..."). The token is
 * only ever put in the Authorization header: never printed, never logged.
 */
#include "cli/client.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/buf.h"
#include "core/util.h"
#include "input/decoder.h"
#include "json/json.h"
#include "model/source.h"

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"
#define CLI_MAX_ANSWER (256u << 20)
#define CLI_MAX_POS 4
#define CLI_TIMEOUT_MS 60000L

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct cli {
    const char *cmd;   /* "channel", for messages */
    const char *usage; /* the command's own part; common_usage follows */
    int lists;         /* LIST_* bits: the registries' names printed after usage */
    char *base;        /* --url without trailing '/', owned */
    const char *token; /* borrowed from argv or the environment */
    const char *cacert;
    int insecure;
    int table; /* -o table */
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

static const char common_usage[] =
    "\ncommon options:\n"
    "  --url URL        herald's address (HERALD_URL, default " CLI_DEFAULT_URL ")\n"
    "  --token TOKEN    API token (HERALD_TOKEN; prefer the variable: arguments are visible in ps)\n"
    "  -o json|table    output format (default json)\n"
    "  --cacert FILE    CA bundle to verify an https herald\n"
    "  --insecure       do not verify herald's TLS certificate\n"
    "  -h, --help       this help\n";

enum { LIST_FORMATS = 1, LIST_SOURCES = 2 };

/* Prints the command's usage; the formats and sources it names come from
 * their registries (input/decoders.c, model/source.c), never a copy. */
static void print_usage(const struct cli *c, FILE *f)
{
    fputs(c->usage, f);
    struct hd_buf names;
    hd_buf_init(&names, 0);
    if ((c->lists & LIST_FORMATS) && hd_decoder_names_join(&names) == HD_OK) {
        fprintf(f, "Formats: %s.\n", names.p);
    }
    hd_buf_reset(&names);
    if ((c->lists & LIST_SOURCES) && hd_source_names_join(&names) == HD_OK) {
        fprintf(f, "Sources: %s.\n", names.p);
    }
    hd_buf_free(&names);
    fputs(common_usage, f);
}

static int usage_error(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const struct cli *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "herald %s: ", c->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    print_usage(c, stderr);
    return EXIT_USAGE;
}

static int failf(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int failf(const struct cli *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "herald %s: ", c->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_FAIL;
}

static void cli_free(struct cli *c)
{
    free(c->base);
    c->base = NULL;
}

/* Parses argv[1..] against the command's options plus the common ones.
 * Returns -1 when parsing succeeded, else the exit code to return
 * (0 after --help, 2 on a usage error). */
static int parse_args(struct cli *c, int argc, char **argv, const struct opt *opts)
{
    const char *url = getenv("HERALD_URL");
    const char *output = "json";
    int help = 0;
    const struct opt common[] = {
        {.name = "url", .val = &url},
        {.name = "token", .val = &c->token},
        {.name = "output", .shrt = 'o', .val = &output},
        {.name = "cacert", .val = &c->cacert},
        {.name = "insecure", .shrt = 'k', .flag = &c->insecure},
        {.name = "help", .shrt = 'h', .flag = &help},
        {.name = NULL},
    };
    const struct opt *tables[] = {opts, common};
    int only_pos = 0;

    c->token = getenv("HERALD_TOKEN");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
            if (c->n_pos == CLI_MAX_POS) {
                return usage_error(c, "unexpected argument '%s'", a);
            }
            c->pos[c->n_pos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        const struct opt *found = NULL;
        const char *inline_val = NULL;
        size_t name_len;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            name_len = eq != NULL ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            inline_val = eq != NULL ? eq + 1 : NULL;
        } else {
            name_len = 1;
            inline_val = a[2] != '\0' ? a + 2 : NULL; /* -ojson */
        }
        for (size_t t = 0; t < 2 && found == NULL; t++) {
            for (const struct opt *o = tables[t]; o != NULL && o->name != NULL; o++) {
                int match = a[1] == '-'
                                ? (strlen(o->name) == name_len && strncmp(o->name, a + 2, name_len) == 0)
                                : (o->shrt != 0 && o->shrt == a[1]);
                if (match) {
                    found = o;
                    break;
                }
            }
        }
        /* Messages show the option without its value: "--tokn=SECRET" must
         * not echo a token. */
        int shown = (int)(name_len + (a[1] == '-' ? 2 : 1));
        if (found == NULL) {
            return usage_error(c, "unknown option '%.*s'", shown, a);
        }
        if (found->flag != NULL) {
            if (inline_val != NULL) {
                return usage_error(c, "option '%.*s' takes no value", shown, a);
            }
            *found->flag = 1;
            continue;
        }
        if (inline_val == NULL) {
            if (i + 1 >= argc) {
                return usage_error(c, "option '%s' needs a value", a);
            }
            inline_val = argv[++i];
        }
        *found->val = inline_val;
    }
    if (help) {
        print_usage(c, stdout);
        return EXIT_OK;
    }
    if (strcmp(output, "table") == 0) {
        c->table = 1;
    } else if (strcmp(output, "json") != 0) {
        return usage_error(c, "-o: expected json or table, not '%s'", output);
    }
    if (url == NULL || url[0] == '\0') {
        url = CLI_DEFAULT_URL;
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        return usage_error(c, "--url: expected http://HOST:PORT or https://HOST:PORT");
    }
    c->base = hd_strdup(url);
    if (c->base == NULL) {
        return failf(c, "out of memory");
    }
    size_t n = strlen(c->base);
    while (n > 0 && c->base[n - 1] == '/') {
        c->base[--n] = '\0';
    }
    return -1;
}

/* ---- HTTP ---------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct hd_buf *b = ud;
    return hd_buf_append(b, p, size * nmemb) == HD_OK ? size * nmemb : 0;
}

/* The URL as it may be printed: any user:password@ part removed. */
static void printable_url(const char *url, char *out, size_t outsz)
{
    const char *scheme_end = strstr(url, "://");
    const char *host = scheme_end != NULL ? scheme_end + 3 : url;
    const char *at = strchr(host, '@');
    const char *slash = strchr(host, '/');
    if (at != NULL && (slash == NULL || at < slash)) {
        snprintf(out, outsz, "%.*s%s", (int)(host - url), url, at + 1);
    } else {
        snprintf(out, outsz, "%s", url);
    }
}

static const char *reason_phrase(long status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "unexpected answer";
    }
}

/* What the server said, for one line on stderr: errors[0].message of
 * Sysdig's envelope, else the first line of a short text body. */
static void server_message(const struct hd_buf *body, long status, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s", reason_phrase(status));
    if (body->len == 0) {
        return;
    }
    json_object *root = hd_json_parse(body->p, body->len, NULL);
    if (root != NULL) {
        json_object *first = hd_json_path(root, "errors.0");
        const char *msg = first != NULL ? hd_json_get_str(first, "message") : NULL;
        if (msg == NULL && first != NULL) {
            msg = hd_json_get_str(first, "reason");
        }
        if (msg == NULL) {
            msg = hd_json_get_str(root, "message");
        }
        if (msg != NULL) {
            snprintf(out, outsz, "%s", msg);
        }
        json_object_put(root);
        return;
    }
    size_t n = 0;
    while (n < body->len && n < 200 && body->p[n] != '\n' && body->p[n] != '\r') {
        n++;
    }
    if (n > 0) {
        snprintf(out, outsz, "%.*s", (int)n, body->p);
        for (char *p = out; *p != '\0'; p++) {
            if (!isprint((unsigned char)*p)) {
                *p = '?';
            }
        }
    }
}

/* A request body and its media type. */
struct req_body {
    const char *ctype;
    const char *p;
    size_t len;
};

/* One request; body may be NULL (none). path includes the query. On success
 * (2xx) the answer is in out and 0 is returned; otherwise one line is printed
 * and 1 returned. */
static int request(const struct cli *c, const char *method, const char *path, const struct req_body *rb,
                   struct hd_buf *out)
{
    const char *ctype = rb != NULL ? rb->ctype : NULL;
    const char *body = rb != NULL ? rb->p : NULL;
    size_t body_len = rb != NULL ? rb->len : 0;
    int rc = EXIT_FAIL;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    struct hd_buf url;
    struct hd_buf auth;
    hd_buf_init(&url, 0);
    hd_buf_init(&auth, 0);
    hd_buf_reset(out);
    CURL *h = curl_easy_init();
    if (h == NULL) {
        rc = failf(c, "cannot initialise libcurl");
        goto out;
    }
    if (hd_buf_printf(&url, "%s%s", c->base, path) != HD_OK) {
        rc = failf(c, "out of memory");
        goto out;
    }
    if (c->token != NULL && c->token[0] != '\0') {
        if (hd_buf_printf(&auth, "Authorization: Bearer %s", c->token) != HD_OK) {
            rc = failf(c, "out of memory");
            goto out;
        }
        hdrs = curl_slist_append(hdrs, auth.p);
    }
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (ctype != NULL) {
        char line[128];
        snprintf(line, sizeof(line), "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, line);
    } else {
        hdrs = curl_slist_append(hdrs, "Content-Type:"); /* not curl's form-urlencoded for an empty POST */
    }
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip for big bodies */
    curl_easy_setopt(h, CURLOPT_URL, url.p);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "herald-cli/" HD_VERSION);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, CLI_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (c->cacert != NULL) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
    }
    if (c->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body != NULL ? body_len : 0));
        if (strcmp(method, "POST") != 0) {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        }
    }
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        char shown[512];
        printable_url(c->base, shown, sizeof(shown));
        const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc);
        if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
            cc == CURLE_COULDNT_RESOLVE_PROXY || cc == CURLE_OPERATION_TIMEDOUT ||
            cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION) {
            fprintf(stderr, "herald: cannot reach herald at %s: %s\n", shown, why);
        } else if (cc == CURLE_WRITE_ERROR) {
            fprintf(stderr, "herald: %s %s: answer larger than %u MiB\n", method, path, CLI_MAX_ANSWER >> 20);
        } else {
            fprintf(stderr, "herald: %s %s: %s\n", method, path, why);
        }
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        char msg[256];
        server_message(out, status, msg, sizeof(msg));
        fprintf(stderr, "herald: %s %s: HTTP %ld: %s%s\n", method, path, status, msg,
                status == 401 ? " (check --token or HERALD_TOKEN)" : "");
        goto out;
    }
    rc = EXIT_OK;
out:
    curl_slist_free_all(hdrs);
    if (h != NULL) {
        curl_easy_cleanup(h);
    }
    if (auth.p != NULL) {
        explicit_bzero(auth.p, auth.len);
    }
    hd_buf_free(&auth);
    hd_buf_free(&url);
    return rc;
}

/* Appends "&name=value" (or "?name=value" first) with value percent-encoded. */
static int add_query(struct hd_buf *path, const char *name, const char *value)
{
    if (value == NULL) {
        return HD_OK;
    }
    char *enc = curl_easy_escape(NULL, value, 0);
    if (enc == NULL) {
        return HD_ENOMEM;
    }
    int rc = hd_buf_printf(path, "%c%s=%s", strchr(path->p, '?') != NULL ? '&' : '?', name, enc);
    curl_free(enc);
    return rc;
}

/* ---- input and output ------------------------------------------------------ */

/* Reads a whole file ('-' = stdin) into b. */
static int read_input(const struct cli *c, const char *file, struct hd_buf *b)
{
    int is_stdin = strcmp(file, "-") == 0;
    FILE *fp = is_stdin ? stdin : fopen(file, "rb");
    int rc = EXIT_OK;
    if (fp == NULL) {
        return failf(c, "cannot read %s: %s", file, strerror(errno));
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (hd_buf_append(b, chunk, n) != HD_OK) {
            rc = failf(c, "%s: out of memory", file);
            goto out;
        }
    }
    if (ferror(fp)) {
        rc = failf(c, "cannot read %s: %s", is_stdin ? "standard input" : file, strerror(errno));
    }
out:
    if (!is_stdin) {
        fclose(fp);
    }
    return rc;
}

/* Prints a JSON answer indented (or as received if it is not JSON). */
static void print_json(const struct hd_buf *body)
{
    if (body->len == 0) {
        return;
    }
    json_object *root = hd_json_parse(body->p, body->len, NULL);
    if (root == NULL) {
        fwrite(body->p, 1, body->len, stdout);
        if (body->p[body->len - 1] != '\n') {
            fputc('\n', stdout);
        }
        return;
    }
    puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

/* A table for -o table: cells are copied; the last column is not padded. */
struct table {
    size_t ncol;
    char **cells;
    size_t n; /* cells used */
    size_t cap;
};

static int table_add(struct table *t, const char *cell)
{
    if (t->n == t->cap) {
        size_t cap = t->cap == 0 ? 64 : t->cap * 2;
        char **grown = realloc(t->cells, cap * sizeof(*grown));
        if (grown == NULL) {
            return HD_ENOMEM;
        }
        t->cells = grown;
        t->cap = cap;
    }
    char *copy = hd_strdup(cell != NULL ? cell : "-");
    if (copy == NULL) {
        return HD_ENOMEM;
    }
    for (char *p = copy; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            *p = ' '; /* a cell stays on its line */
        }
    }
    t->cells[t->n++] = copy;
    return HD_OK;
}

static void table_print(const struct table *t)
{
    size_t width[16] = {0};
    for (size_t i = 0; i < t->n; i++) {
        size_t l = strlen(t->cells[i]);
        if (l > width[i % t->ncol]) {
            width[i % t->ncol] = l;
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        size_t col = i % t->ncol;
        if (col + 1 == t->ncol) {
            printf("%s\n", t->cells[i]);
        } else {
            printf("%-*s  ", (int)width[col], t->cells[i]);
        }
    }
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    t->cells = NULL;
    t->n = t->cap = 0;
}

/* A cell from a dotted path of obj: strings as they are, other values in
 * their JSON spelling, "-" when absent or null. */
static const char *cell(json_object *obj, const char *path)
{
    json_object *v = hd_json_path(obj, path);
    if (v == NULL || json_object_is_type(v, json_type_null)) {
        return "-";
    }
    return json_object_get_string(v);
}

/* Adds one row per element of array (or a single row for an object). */
static int table_rows(struct table *t, json_object *items, const char *const *paths)
{
    size_t n = json_object_is_type(items, json_type_array) ? json_object_array_length(items) : 1;
    for (size_t i = 0; i < n; i++) {
        json_object *it =
            json_object_is_type(items, json_type_array) ? json_object_array_get_idx(items, i) : items;
        for (size_t k = 0; k < t->ncol; k++) {
            if (table_add(t, cell(it, paths[k])) != HD_OK) {
                return HD_ENOMEM;
            }
        }
    }
    return HD_OK;
}

/* Prints member key of the answer as a table with the given headers/paths. */
static int print_table(const struct cli *c, const struct hd_buf *body, const char *key,
                       const char *const *heads, const char *const *paths, size_t ncol)
{
    struct table t = {.ncol = ncol};
    int rc = EXIT_OK;
    json_object *root = hd_json_parse(body->p, body->len, NULL);
    json_object *items = root != NULL ? hd_json_path(root, key) : NULL;
    if (items == NULL) {
        print_json(body); /* not the expected shape: show what came */
        goto out;
    }
    for (size_t k = 0; k < ncol; k++) {
        if (table_add(&t, heads[k]) != HD_OK) {
            rc = failf(c, "out of memory");
            goto out;
        }
    }
    if (table_rows(&t, items, paths) != HD_OK) {
        rc = failf(c, "out of memory");
        goto out;
    }
    table_print(&t);
out:
    table_free(&t);
    if (root != NULL) {
        json_object_put(root);
    }
    return rc;
}

/* -o table: the list body[key] as a table; else the JSON as it came. */
static int print_answer(const struct cli *c, const struct hd_buf *body, const char *key,
                        const char *const *heads, const char *const *paths, size_t ncol)
{
    if (!c->table) {
        print_json(body);
        return EXIT_OK;
    }
    return print_table(c, body, key, heads, paths, ncol);
}

/* Sends a request without a body and prints the JSON answer. */
static int request_print(const struct cli *c, const char *method, const char *path, struct hd_buf *ans)
{
    int rc = request(c, method, path, NULL, ans);
    if (rc == EXIT_OK) {
        print_json(ans);
    }
    return rc;
}

static int is_number(const char *s)
{
    if (s == NULL || *s == '\0') {
        return 0;
    }
    for (; *s != '\0'; s++) {
        if (!isdigit((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}

/* ---- herald channel ------------------------------------------------------------ */

static const char channel_usage[] =
    "usage: herald channel list\n"
    "       herald channel get ID\n"
    "       herald channel create FILE      (FILE or '-': a channel object or "
    "{\"notificationChannel\":{...}})\n"
    "       herald channel update ID FILE   (without a version in FILE, the current one is used)\n"
    "       herald channel delete ID\n"
    "       herald channel test ID\n"
    "ID is a channel id or name. -o table prints ID NAME TYPE ENABLED VERSION.\n";

static const char *const ch_heads[] = {"ID", "NAME", "TYPE", "ENABLED", "VERSION"};
static const char *const ch_paths[] = {"id", "name", "type", "enabled", "version"};

/* Resolves ID (digits) or a channel name into out[32]. */
static int channel_id(const struct cli *c, const char *arg, char *out, size_t outsz)
{
    int rc = EXIT_FAIL;
    struct hd_buf body;
    json_object *root = NULL;
    if (is_number(arg)) {
        snprintf(out, outsz, "%s", arg);
        return EXIT_OK;
    }
    hd_buf_init(&body, CLI_MAX_ANSWER);
    rc = request(c, "GET", "/api/notificationChannels", NULL, &body);
    if (rc != EXIT_OK) {
        goto out;
    }
    rc = EXIT_FAIL;
    root = hd_json_parse(body.p, body.len, NULL);
    json_object *list = root != NULL ? hd_json_path(root, "notificationChannels") : NULL;
    size_t n =
        list != NULL && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *ch = json_object_array_get_idx(list, i);
        const char *name = hd_json_get_str(ch, "name");
        int64_t id = 0;
        if (name != NULL && strcmp(name, arg) == 0 && hd_json_get_i64(ch, "id", &id)) {
            snprintf(out, outsz, "%lld", (long long)id);
            rc = EXIT_OK;
            goto out;
        }
    }
    failf(c, "no channel named '%s'", arg);
out:
    if (root != NULL) {
        json_object_put(root);
    }
    hd_buf_free(&body);
    return rc;
}

/* Reads FILE as a channel: returns the bare object (caller puts it). */
static json_object *read_channel(const struct cli *c, const char *file)
{
    struct hd_buf in;
    struct hd_err err = {0};
    json_object *root = NULL;
    json_object *ch = NULL;
    hd_buf_init(&in, 0);
    if (read_input(c, file, &in) != EXIT_OK) {
        goto out;
    }
    root = hd_json_parse(in.p != NULL ? in.p : "", in.len, &err);
    if (root == NULL) {
        failf(c, "%s: not valid JSON: %s", file, err.msg);
        goto out;
    }
    json_object *inner = NULL;
    if (json_object_object_get_ex(root, "notificationChannel", &inner)) {
        if (!json_object_is_type(inner, json_type_object)) {
            failf(c, "%s: notificationChannel must be an object", file);
            goto out;
        }
        ch = json_object_get(inner);
    } else if (json_object_is_type(root, json_type_object)) {
        if (json_object_object_get_ex(root, "notificationChannels", NULL)) {
            failf(c, "%s: holds a list of channels; give one channel object", file);
            goto out;
        }
        ch = json_object_get(root);
    } else {
        failf(c, "%s: expected a channel object", file);
    }
out:
    if (root != NULL) {
        json_object_put(root);
    }
    hd_buf_free(&in);
    return ch;
}

/* {"notificationChannel": ch} compact, into out. */
static int envelope(json_object *ch, struct hd_buf *out)
{
    json_object *env = json_object_new_object();
    if (env == NULL) {
        return HD_ENOMEM;
    }
    json_object_object_add(env, "notificationChannel", json_object_get(ch));
    int rc = hd_json_append(env, out);
    json_object_put(env);
    return rc;
}

static int print_channels(const struct cli *c, const struct hd_buf *body, const char *key)
{
    return print_answer(c, body, key, ch_heads, ch_paths, 5);
}

/* update: PUT the file's object, taking the stored version when it has none. */
static int channel_update(const struct cli *c, const char *id, const char *file, struct hd_buf *ans)
{
    int rc = EXIT_FAIL;
    struct hd_buf body;
    char path[96];
    json_object *cur = NULL;
    json_object *ch = read_channel(c, file);
    hd_buf_init(&body, 0);
    if (ch == NULL) {
        goto out;
    }
    snprintf(path, sizeof(path), "/api/notificationChannels/%s", id);
    int64_t body_id = 0;
    if (hd_json_get_i64(ch, "id", &body_id)) {
        char want[32];
        snprintf(want, sizeof(want), "%lld", (long long)body_id);
        if (strcmp(want, id) != 0) {
            rc = failf(c, "%s holds channel %s, not %s: refusing to overwrite another channel", file, want,
                       id);
            goto out;
        }
    }
    json_object *ver = NULL;
    if (!json_object_object_get_ex(ch, "version", &ver) || json_object_is_type(ver, json_type_null)) {
        rc = request(c, "GET", path, NULL, ans);
        if (rc != EXIT_OK) {
            goto out;
        }
        rc = EXIT_FAIL;
        cur = hd_json_parse(ans->p, ans->len, NULL);
        int64_t v = 0;
        if (cur == NULL || !hd_json_get_i64(hd_json_path(cur, "notificationChannel"), "version", &v)) {
            rc = failf(c, "GET %s: the answer has no notificationChannel.version", path);
            goto out;
        }
        json_object_object_add(ch, "version", json_object_new_int64(v));
    }
    if (envelope(ch, &body) != HD_OK) {
        rc = failf(c, "out of memory");
        goto out;
    }
    rc = request(c, "PUT", path, &(struct req_body){"application/json", body.p, body.len}, ans);
out:
    if (cur != NULL) {
        json_object_put(cur);
    }
    if (ch != NULL) {
        json_object_put(ch);
    }
    hd_buf_free(&body);
    return rc;
}

int hd_cmd_channel(int argc, char **argv)
{
    struct cli c = {.cmd = "channel", .usage = channel_usage};
    struct hd_buf ans;
    struct hd_buf body;
    char id[32] = "";
    char path[96];
    hd_buf_init(&ans, CLI_MAX_ANSWER);
    hd_buf_init(&body, 0);
    int rc = parse_args(&c, argc, argv, NULL);
    if (rc >= 0) {
        goto out;
    }
    if (c.n_pos == 0) {
        rc = usage_error(&c, "missing action (list, get, create, update, delete, test)");
        goto out;
    }
    const char *action = c.pos[0];
    static const struct {
        const char *name;
        size_t nargs;
        const char *args;
    } actions[] = {
        {"list", 0, ""},           {"get", 1, " ID"},    {"create", 1, " FILE"},
        {"update", 2, " ID FILE"}, {"delete", 1, " ID"}, {"test", 1, " ID"},
    };
    size_t a = 0;
    while (a < sizeof(actions) / sizeof(actions[0]) && strcmp(actions[a].name, action) != 0) {
        a++;
    }
    if (a == sizeof(actions) / sizeof(actions[0])) {
        rc = usage_error(&c, "unknown action '%s' (list, get, create, update, delete, test)", action);
        goto out;
    }
    if (c.n_pos - 1 != actions[a].nargs) {
        rc = usage_error(&c, "expected: herald channel %s%s", action, actions[a].args);
        goto out;
    }
    if (strcmp(action, "list") == 0) {
        rc = request(&c, "GET", "/api/notificationChannels", NULL, &ans);
        if (rc == EXIT_OK) {
            rc = print_channels(&c, &ans, "notificationChannels");
        }
        goto out;
    }
    if (strcmp(action, "create") == 0) {
        json_object *ch = read_channel(&c, c.pos[1]);
        if (ch == NULL) {
            rc = EXIT_FAIL;
            goto out;
        }
        int erc = envelope(ch, &body);
        json_object_put(ch);
        if (erc != HD_OK) {
            rc = failf(&c, "out of memory");
            goto out;
        }
        rc = request(&c, "POST", "/api/notificationChannels",
                     &(struct req_body){"application/json", body.p, body.len}, &ans);
        if (rc == EXIT_OK) {
            rc = print_channels(&c, &ans, "notificationChannel");
        }
        goto out;
    }
    rc = channel_id(&c, c.pos[1], id, sizeof(id));
    if (rc != EXIT_OK) {
        goto out;
    }
    snprintf(path, sizeof(path), "/api/notificationChannels/%s", id);
    if (strcmp(action, "get") == 0) {
        rc = request(&c, "GET", path, NULL, &ans);
        if (rc == EXIT_OK) {
            rc = print_channels(&c, &ans, "notificationChannel");
        }
    } else if (strcmp(action, "update") == 0) {
        rc = channel_update(&c, id, c.pos[2], &ans);
        if (rc == EXIT_OK) {
            rc = print_channels(&c, &ans, "notificationChannel");
        }
    } else if (strcmp(action, "delete") == 0) {
        rc = request(&c, "DELETE", path, NULL, &ans);
        if (rc == EXIT_OK && c.table) {
            printf("deleted channel %s\n", id);
        } else if (rc == EXIT_OK) {
            print_json(&ans);
        }
    } else {
        snprintf(path, sizeof(path), "/api/notificationChannels/%s/test", id);
        rc = request_print(&c, "POST", path, &ans);
    }
out:
    hd_buf_free(&ans);
    hd_buf_free(&body);
    cli_free(&c);
    return rc;
}

/* ---- herald send -------------------------------------------------------------- */

static const char send_usage[] = "usage: herald send [FILE|-] [--format F]\n"
                                 "Posts events (one JSON object, a JSON array, or NDJSON) to /api/events.\n"
                                 "  --format F   one of the formats below (default: detected per document)\n";

int hd_cmd_send(int argc, char **argv)
{
    struct cli c = {.cmd = "send", .usage = send_usage, .lists = LIST_FORMATS};
    const char *format = NULL;
    const struct opt opts[] = {{.name = "format", .shrt = 'f', .val = &format}, {.name = NULL}};
    struct hd_buf in;
    struct hd_buf ans;
    struct hd_buf path;
    hd_buf_init(&in, 0);
    hd_buf_init(&ans, CLI_MAX_ANSWER);
    hd_buf_init(&path, 0);
    int rc = parse_args(&c, argc, argv, opts);
    if (rc >= 0) {
        goto out;
    }
    if (c.n_pos > 1) {
        rc = usage_error(&c, "one FILE at most");
        goto out;
    }
    const char *file = c.n_pos == 1 ? c.pos[0] : "-";
    if (c.n_pos == 0 && isatty(STDIN_FILENO)) {
        rc = usage_error(&c, "give a FILE, or '-' to type events on standard input");
        goto out;
    }
    rc = read_input(&c, file, &in);
    if (rc != EXIT_OK) {
        goto out;
    }
    size_t start = 0;
    while (start < in.len && isspace((unsigned char)in.p[start])) {
        start++;
    }
    if (start == in.len) {
        rc = failf(&c, "%s: no events (empty input)", strcmp(file, "-") == 0 ? "standard input" : file);
        goto out;
    }
    /* One JSON value (object or array) is application/json; anything else is
     * taken as NDJSON and the server names the line that does not parse. */
    json_object *one = hd_json_parse(in.p, in.len, NULL);
    const char *ctype = one != NULL ? "application/json" : "application/x-ndjson";
    if (one != NULL) {
        json_object_put(one);
    }
    if (hd_buf_puts(&path, "/api/events") != HD_OK || add_query(&path, "format", format) != HD_OK) {
        rc = failf(&c, "out of memory");
        goto out;
    }
    rc = request(&c, "POST", path.p, &(struct req_body){ctype, in.p, in.len}, &ans);
    if (rc != EXIT_OK) {
        goto out;
    }
    if (c.table) {
        json_object *root = hd_json_parse(ans.p, ans.len, NULL);
        int64_t accepted = 0;
        if (root != NULL && hd_json_get_i64(root, "accepted", &accepted)) {
            printf("accepted %lld event%s\n", (long long)accepted, accepted == 1 ? "" : "s");
        } else {
            print_json(&ans);
        }
        if (root != NULL) {
            json_object_put(root);
        }
    } else {
        print_json(&ans);
    }
out:
    hd_buf_free(&in);
    hd_buf_free(&ans);
    hd_buf_free(&path);
    cli_free(&c);
    return rc;
}

/* ---- herald events ------------------------------------------------------------ */

static const char events_usage[] =
    "usage: herald events [--since 1h] [--severity N] [--state S] [--source S] [--namespace NS]\n"
    "                     [--limit N] [-q TEXT] [--cursor C]\n"
    "Lists stored events, newest first.\n"
    "  --since D      only events of the last D (30s, 15m, 1h, 7d)\n"
    "  --severity N   severity N or more severe (0 emergency .. 7 debug)\n"
    "  --state S      ACTIVE, OK or RESOLVED\n"
    "  --source S     one of the sources below\n"
    "  --namespace NS Kubernetes namespace\n"
    "  --limit N      at most N events\n"
    "  -q TEXT        full-text search\n"
    "  --cursor C     next page (nextCursor of the previous answer)\n"
    "-o table prints TIME SEVERITY STATE SOURCE NAMESPACE NAME.\n";

/* -o table for GET /api/events: TIME SEVERITY STATE SOURCE NAMESPACE NAME,
 * and the next page's cursor on stderr. */
static int events_table(struct cli *c, const struct hd_buf *ans)
{
    int rc = EXIT_OK;
    struct table t = {.ncol = 6};
    json_object *root = hd_json_parse(ans->p, ans->len, NULL);
    json_object *list = root != NULL ? hd_json_path(root, "events") : NULL;
    if (list == NULL || !json_object_is_type(list, json_type_array)) {
        print_json(ans);
        goto out;
    }
    static const char *const heads[] = {"TIME", "SEVERITY", "STATE", "SOURCE", "NAMESPACE", "NAME"};
    static const char *const paths[] = {"severity", "state", "source", "k8s.namespace", "name"};
    int trc = HD_OK;
    for (size_t k = 0; k < 6 && trc == HD_OK; k++) {
        trc = table_add(&t, heads[k]);
    }
    for (size_t i = 0; i < json_object_array_length(list) && trc == HD_OK; i++) {
        json_object *ev = json_object_array_get_idx(list, i);
        char when[40] = "-";
        int64_t ts = 0;
        if (hd_json_get_i64(ev, "timestampUs", &ts)) {
            hd_format_iso_ms(ts, when, sizeof(when));
        }
        trc = table_add(&t, when);
        for (size_t k = 0; k < 5 && trc == HD_OK; k++) {
            trc = table_add(&t, cell(ev, paths[k]));
        }
    }
    if (trc != HD_OK) {
        rc = failf(c, "out of memory");
        goto out;
    }
    table_print(&t);
    const char *next = hd_json_get_str(root, "nextCursor");
    if (next != NULL && next[0] != '\0') {
        fprintf(stderr, "(more: add --cursor %s)\n", next);
    }
out:
    table_free(&t);
    if (root != NULL) {
        json_object_put(root);
    }
    return rc;
}

int hd_cmd_events(int argc, char **argv)
{
    struct cli c = {.cmd = "events", .usage = events_usage, .lists = LIST_SOURCES};
    const char *since = NULL, *severity = NULL, *state = NULL, *source = NULL, *ns = NULL;
    const char *limit = NULL, *q = NULL, *cursor = NULL;
    const struct opt opts[] = {
        {.name = "since", .val = &since},
        {.name = "severity", .val = &severity},
        {.name = "state", .val = &state},
        {.name = "source", .val = &source},
        {.name = "namespace", .shrt = 'n', .val = &ns},
        {.name = "limit", .val = &limit},
        {.name = "query", .shrt = 'q', .val = &q},
        {.name = "cursor", .val = &cursor},
        {.name = NULL},
    };
    struct hd_buf path;
    struct hd_buf ans;
    char state_up[16];
    char from[32];
    hd_buf_init(&path, 0);
    hd_buf_init(&ans, CLI_MAX_ANSWER);
    int rc = parse_args(&c, argc, argv, opts);
    if (rc >= 0) {
        goto out;
    }
    if (c.n_pos > 0) {
        rc = usage_error(&c, "unexpected argument '%s'", c.pos[0]);
        goto out;
    }
    int64_t v = 0;
    const char *from_p = NULL;
    if (since != NULL) {
        if (!isdigit((unsigned char)since[0]) || hd_parse_duration_ms(since, &v) != HD_OK || v <= 0) {
            rc = usage_error(&c, "--since: expected a duration like 30s, 15m, 1h or 7d");
            goto out;
        }
        /* the API's from/to are epoch milliseconds (SPEC section 4) */
        snprintf(from, sizeof(from), "%lld", (long long)(hd_now_us() / 1000 - v));
        from_p = from;
    }
    if (severity != NULL && (hd_parse_i64(severity, &v) != HD_OK || v < 0 || v > 7)) {
        rc = usage_error(&c, "--severity: expected 0..7");
        goto out;
    }
    if (limit != NULL && (hd_parse_i64(limit, &v) != HD_OK || v <= 0)) {
        rc = usage_error(&c, "--limit: expected a positive integer");
        goto out;
    }
    if (state != NULL) {
        size_t i = 0;
        for (; state[i] != '\0' && i + 1 < sizeof(state_up); i++) {
            state_up[i] = (char)toupper((unsigned char)state[i]);
        }
        state_up[i] = '\0';
        if (strcmp(state_up, "ACTIVE") != 0 && strcmp(state_up, "OK") != 0 &&
            strcmp(state_up, "RESOLVED") != 0) {
            rc = usage_error(&c, "--state: expected ACTIVE, OK or RESOLVED");
            goto out;
        }
        state = state_up;
    }
    if (hd_buf_puts(&path, "/api/events") != HD_OK || add_query(&path, "from", from_p) != HD_OK ||
        add_query(&path, "severity", severity) != HD_OK || add_query(&path, "state", state) != HD_OK ||
        add_query(&path, "source", source) != HD_OK || add_query(&path, "namespace", ns) != HD_OK ||
        add_query(&path, "q", q) != HD_OK || add_query(&path, "limit", limit) != HD_OK ||
        add_query(&path, "cursor", cursor) != HD_OK) {
        rc = failf(&c, "out of memory");
        goto out;
    }
    rc = request(&c, "GET", path.p, NULL, &ans);
    if (rc != EXIT_OK || !c.table) {
        if (rc == EXIT_OK) {
            print_json(&ans);
        }
        goto out;
    }
    rc = events_table(&c, &ans);
out:
    hd_buf_free(&path);
    hd_buf_free(&ans);
    cli_free(&c);
    return rc;
}

/* ---- herald deliveries ------------------------------------------------------- */

static const char deliveries_usage[] =
    "usage: herald deliveries [--failed | --status S] [--channel ID]\n"
    "       herald deliveries --retry DELIVERY_ID\n"
    "       herald deliveries --retry-all CHANNEL\n"
    "Lists deliveries waiting for a retry or dead (failed), and replays dead letters.\n"
    "  --failed           only dead letters (same as --status failed)\n"
    "  --status S         failed, pending or delivered\n"
    "  --channel ID       only this channel (id or name)\n"
    "  --retry ID         replay one dead letter\n"
    "  --retry-all CH     replay every dead letter of channel CH (id or name)\n"
    "-o table prints ID EVENT CHANNEL STATUS ATTEMPTS LAST_ERROR.\n";

int hd_cmd_deliveries(int argc, char **argv)
{
    struct cli c = {.cmd = "deliveries", .usage = deliveries_usage};
    int failed = 0;
    const char *status = NULL, *channel = NULL, *retry = NULL, *retry_all = NULL;
    const struct opt opts[] = {
        {.name = "failed", .flag = &failed},      {.name = "status", .val = &status},
        {.name = "channel", .val = &channel},     {.name = "retry", .val = &retry},
        {.name = "retry-all", .val = &retry_all}, {.name = NULL},
    };
    struct hd_buf path;
    struct hd_buf ans;
    char id[32];
    hd_buf_init(&path, 0);
    hd_buf_init(&ans, CLI_MAX_ANSWER);
    int rc = parse_args(&c, argc, argv, opts);
    if (rc >= 0) {
        goto out;
    }
    if (c.n_pos > 0) {
        rc = usage_error(&c, "unexpected argument '%s'", c.pos[0]);
        goto out;
    }
    if (retry != NULL && retry_all != NULL) {
        rc = usage_error(&c, "--retry and --retry-all exclude each other");
        goto out;
    }
    if ((retry != NULL || retry_all != NULL) && (failed || status != NULL || channel != NULL)) {
        rc = usage_error(&c, "--retry/--retry-all take no listing options");
        goto out;
    }
    if (failed && status != NULL && strcmp(status, "failed") != 0) {
        rc = usage_error(&c, "--failed and --status %s contradict each other", status);
        goto out;
    }
    if (status != NULL && strcmp(status, "failed") != 0 && strcmp(status, "pending") != 0 &&
        strcmp(status, "delivered") != 0) {
        rc = usage_error(&c, "--status: expected failed, pending or delivered");
        goto out;
    }
    if (retry != NULL) {
        if (!is_number(retry)) {
            rc = usage_error(&c, "--retry: expected a delivery id (a number)");
            goto out;
        }
        if (hd_buf_printf(&path, "/api/deliveries/%s/retry", retry) != HD_OK) {
            rc = failf(&c, "out of memory");
        } else {
            rc = request_print(&c, "POST", path.p, &ans);
        }
        goto out;
    }
    if (retry_all != NULL) {
        rc = channel_id(&c, retry_all, id, sizeof(id));
        if (rc != EXIT_OK) {
            goto out;
        }
        if (hd_buf_puts(&path, "/api/deliveries/retry") != HD_OK ||
            add_query(&path, "channelId", id) != HD_OK) {
            rc = failf(&c, "out of memory");
        } else {
            rc = request_print(&c, "POST", path.p, &ans);
        }
        goto out;
    }
    if (channel != NULL) {
        rc = channel_id(&c, channel, id, sizeof(id));
        if (rc != EXIT_OK) {
            goto out;
        }
    }
    if (hd_buf_puts(&path, "/api/deliveries") != HD_OK ||
        add_query(&path, "status", failed ? "failed" : status) != HD_OK ||
        add_query(&path, "channelId", channel != NULL ? id : NULL) != HD_OK) {
        rc = failf(&c, "out of memory");
        goto out;
    }
    rc = request(&c, "GET", path.p, NULL, &ans);
    if (rc == EXIT_OK) {
        static const char *const heads[] = {"ID", "EVENT", "CHANNEL", "STATUS", "ATTEMPTS", "LAST_ERROR"};
        static const char *const paths[] = {"id", "eventId", "channelId", "status", "attempts", "lastError"};
        rc = print_answer(&c, &ans, "deliveries", heads, paths, 6);
    }
out:
    hd_buf_free(&path);
    hd_buf_free(&ans);
    cli_free(&c);
    return rc;
}
