/* client.c - what the API client commands share (`herald channel|send|events|deliveries`,
 * in cmd_channel.c and cmd_events.c): options, one request, output.
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
#include "cli/client_int.h"

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

static const char common_usage[] =
    "\ncommon options:\n"
    "  --url URL        herald's address (HERALD_URL, default " CLI_DEFAULT_URL ")\n"
    "  --token TOKEN    API token (HERALD_TOKEN; prefer the variable: arguments are visible in ps)\n"
    "  -o json|yaml|table  output format (default json)\n"
    "  --cacert FILE    CA bundle to verify an https herald\n"
    "  --insecure       do not verify herald's TLS certificate\n"
    "  -h, --help       this help\n";

/* Prints the command's usage; the formats and sources it names come from
 * their registries (input/decoders.c, model/source.c), never a copy. */
void cli_print_usage(const struct cli *c, FILE *f)
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

int cli_say(const struct cli *c, int usage, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "herald %s: ", c->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (!usage) {
        fputc('\n', stderr);
        return EXIT_FAIL;
    }
    fputs("\n\n", stderr);
    cli_print_usage(c, stderr);
    return EXIT_USAGE;
}

void cli_free(struct cli *c)
{
    free(c->base);
    c->base = NULL;
}

/* Parses argv[1..] against the command's options plus the common ones.
 * Returns -1 when parsing succeeded, else the exit code to return
 * (0 after --help, 2 on a usage error). */
int cli_parse_args(struct cli *c, int argc, char **argv, const struct opt *opts)
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
                return cli_usage_error(c, "unexpected argument '%s'", a);
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
            return cli_usage_error(c, "unknown option '%.*s'", shown, a);
        }
        if (found->flag != NULL) {
            if (inline_val != NULL) {
                return cli_usage_error(c, "option '%.*s' takes no value", shown, a);
            }
            *found->flag = 1;
            continue;
        }
        if (inline_val == NULL) {
            if (i + 1 >= argc) {
                return cli_usage_error(c, "option '%s' needs a value", a);
            }
            inline_val = argv[++i];
        }
        *found->val = inline_val;
    }
    if (help) {
        cli_print_usage(c, stdout);
        return EXIT_OK;
    }
    if (strcmp(output, "table") == 0) {
        c->output = CLI_OUT_TABLE;
    } else if (strcmp(output, "yaml") == 0) {
        c->output = CLI_OUT_YAML;
    } else if (strcmp(output, "json") != 0) {
        return cli_usage_error(c, "-o: expected json, yaml or table, not '%s'", output);
    }
    if (url == NULL || url[0] == '\0') {
        url = CLI_DEFAULT_URL;
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        return cli_usage_error(c, "--url: expected http://HOST:PORT or https://HOST:PORT");
    }
    c->base = hd_strdup(url);
    if (c->base == NULL) {
        return cli_fail(c, "out of memory");
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

/* One request; body may be NULL (none). path includes the query. On success
 * (2xx) the answer is in out and 0 is returned; otherwise one line is printed
 * and 1 returned. */
int cli_request_status(const struct cli *c, const char *method, const char *path, const struct req_body *rb,
                       struct hd_buf *out)
{
    const char *ctype = rb != NULL ? rb->ctype : NULL;
    const char *body = rb != NULL ? rb->p : NULL;
    size_t body_len = rb != NULL ? rb->len : 0;
    int rc = -1;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    struct hd_buf url;
    struct hd_buf auth;
    hd_buf_init(&url, 0);
    hd_buf_init(&auth, 0);
    hd_buf_reset(out);
    CURL *h = curl_easy_init();
    if (h == NULL) {
        (void)cli_fail(c, "cannot initialise libcurl");
        goto out;
    }
    if (hd_buf_printf(&url, "%s%s", c->base, path) != HD_OK) {
        (void)cli_fail(c, "out of memory");
        goto out;
    }
    if (c->token != NULL && c->token[0] != '\0') {
        if (hd_buf_printf(&auth, "Authorization: Bearer %s", c->token) != HD_OK) {
            (void)cli_fail(c, "out of memory");
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
    rc = (int)status;
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

int cli_fail_answer(const struct cli *c, const char *method, const char *path, long status,
                    const struct hd_buf *body)
{
    (void)c;
    char msg[256] = "";
    server_message(body, status, msg, sizeof(msg));
    fprintf(stderr, "herald: %s %s: HTTP %ld: %s%s\n", method, path, status, msg,
            status == 401 ? " (check --token or HERALD_TOKEN)" : "");
    return EXIT_FAIL;
}

int cli_request(const struct cli *c, const char *method, const char *path, const struct req_body *rb,
                struct hd_buf *out)
{
    int status = cli_request_status(c, method, path, rb, out);
    if (status < 0) {
        return EXIT_FAIL;
    }
    if (status < 200 || status > 299) {
        return cli_fail_answer(c, method, path, status, out);
    }
    return EXIT_OK;
}

/* Appends "&name=value" (or "?name=value" first) with value percent-encoded. */
int cli_add_query(struct hd_buf *path, const char *name, const char *value)
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
int cli_read_input(const struct cli *c, const char *file, struct hd_buf *b)
{
    int is_stdin = strcmp(file, "-") == 0;
    FILE *fp = is_stdin ? stdin : fopen(file, "rb");
    int rc = EXIT_OK;
    if (fp == NULL) {
        return cli_fail(c, "cannot read %s: %s", file, strerror(errno));
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (hd_buf_append(b, chunk, n) != HD_OK) {
            rc = cli_fail(c, "%s: out of memory", file);
            goto out;
        }
    }
    if (ferror(fp)) {
        rc = cli_fail(c, "cannot read %s: %s", is_stdin ? "standard input" : file, strerror(errno));
    }
out:
    if (!is_stdin) {
        fclose(fp);
    }
    return rc;
}

/* Prints a JSON answer indented (or as received if it is not JSON). */
void cli_print_doc(const struct cli *c, const struct hd_buf *body)
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
    if (c->output == CLI_OUT_YAML) {
        cli_print_yaml(root, stdout);
    } else {
        puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE));
    }
    json_object_put(root);
}

int cli_table_add(struct table *t, const char *cell)
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

void cli_table_print(const struct table *t)
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

void cli_table_free(struct table *t)
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
const char *cli_cell(json_object *obj, const char *path)
{
    json_object *v = hd_json_path(obj, path);
    if (v == NULL || json_object_is_type(v, json_type_null)) {
        return "-";
    }
    return json_object_get_string(v);
}

/* Adds one row per element of array (or a single row for an object). */
int cli_table_rows(struct table *t, json_object *items, const char *const *paths)
{
    size_t n = json_object_is_type(items, json_type_array) ? json_object_array_length(items) : 1;
    for (size_t i = 0; i < n; i++) {
        json_object *it =
            json_object_is_type(items, json_type_array) ? json_object_array_get_idx(items, i) : items;
        for (size_t k = 0; k < t->ncol; k++) {
            if (cli_table_add(t, cli_cell(it, paths[k])) != HD_OK) {
                return HD_ENOMEM;
            }
        }
    }
    return HD_OK;
}

/* Prints member key of the answer as a table with the given headers/paths. */
int cli_print_table(const struct cli *c, const struct hd_buf *body, const char *key, const char *const *heads,
                    const char *const *paths, size_t ncol)
{
    struct table t = {.ncol = ncol};
    int rc = EXIT_OK;
    json_object *root = hd_json_parse(body->p, body->len, NULL);
    json_object *items = root == NULL  ? NULL
                         : key != NULL ? hd_json_path(root, key)
                                       : root; /* NULL: the whole */
    if (items == NULL) {
        cli_print_doc(c, body); /* not the expected shape: show what came */
        goto out;
    }
    for (size_t k = 0; k < ncol; k++) {
        if (cli_table_add(&t, heads[k]) != HD_OK) {
            rc = cli_fail(c, "out of memory");
            goto out;
        }
    }
    if (cli_table_rows(&t, items, paths) != HD_OK) {
        rc = cli_fail(c, "out of memory");
        goto out;
    }
    cli_table_print(&t);
out:
    cli_table_free(&t);
    if (root != NULL) {
        json_object_put(root);
    }
    return rc;
}

/* -o table: the list body[key] as a table; else the JSON as it came. */
int cli_print_answer(const struct cli *c, const struct hd_buf *body, const char *key,
                     const char *const *heads, const char *const *paths, size_t ncol)
{
    if (c->output != CLI_OUT_TABLE) {
        cli_print_doc(c, body);
        return EXIT_OK;
    }
    return cli_print_table(c, body, key, heads, paths, ncol);
}

/* Sends a request without a body and prints the JSON answer. */
int cli_request_print(const struct cli *c, const char *method, const char *path, struct hd_buf *ans)
{
    int rc = cli_request(c, method, path, NULL, ans);
    if (rc == EXIT_OK) {
        cli_print_doc(c, ans);
    }
    return rc;
}

int cli_is_number(const char *s)
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

/* Resolves ID (digits) or a channel name into out[32]. */
int cli_channel_id(const struct cli *c, const char *arg, char *out, size_t outsz)
{
    int rc = EXIT_FAIL;
    struct hd_buf body;
    json_object *root = NULL;
    if (cli_is_number(arg)) {
        snprintf(out, outsz, "%s", arg);
        return EXIT_OK;
    }
    hd_buf_init(&body, CLI_MAX_ANSWER);
    rc = cli_request(c, "GET", "/api/notificationChannels", NULL, &body);
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
    cli_fail(c, "no channel named '%s'", arg);
out:
    if (root != NULL) {
        json_object_put(root);
    }
    hd_buf_free(&body);
    return rc;
}
