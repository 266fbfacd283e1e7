/* cmd_events.c - `herald send`, `herald events`, `herald deliveries`. */
#include "cli/client.h"
#include "cli/client_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/util.h"
#include "input/decoder.h"
#include "json/json.h"
#include "model/source.h"

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
    int rc = cli_parse_args(&c, argc, argv, opts);
    if (rc >= 0) {
        goto out;
    }
    if (c.n_pos > 1) {
        rc = cli_usage_error(&c, "one FILE at most");
        goto out;
    }
    const char *file = c.n_pos == 1 ? c.pos[0] : "-";
    if (c.n_pos == 0 && isatty(STDIN_FILENO)) {
        rc = cli_usage_error(&c, "give a FILE, or '-' to type events on standard input");
        goto out;
    }
    rc = cli_read_input(&c, file, &in);
    if (rc != EXIT_OK) {
        goto out;
    }
    size_t start = 0;
    while (start < in.len && isspace((unsigned char)in.p[start])) {
        start++;
    }
    if (start == in.len) {
        rc = cli_fail(&c, "%s: no events (empty input)", strcmp(file, "-") == 0 ? "standard input" : file);
        goto out;
    }
    /* One JSON value (object or array) is application/json; anything else is
     * taken as NDJSON and the server names the line that does not parse. */
    json_object *one = hd_json_parse(in.p, in.len, NULL);
    const char *ctype = one != NULL ? "application/json" : "application/x-ndjson";
    if (one != NULL) {
        json_object_put(one);
    }
    if (hd_buf_puts(&path, "/api/events") != HD_OK || cli_add_query(&path, "format", format) != HD_OK) {
        rc = cli_fail(&c, "out of memory");
        goto out;
    }
    rc = cli_request(&c, "POST", path.p, &(struct req_body){ctype, in.p, in.len}, &ans);
    if (rc != EXIT_OK) {
        goto out;
    }
    if (c.output == CLI_OUT_TABLE) {
        json_object *root = hd_json_parse(ans.p, ans.len, NULL);
        int64_t accepted = 0;
        if (root != NULL && hd_json_get_i64(root, "accepted", &accepted)) {
            printf("accepted %lld event%s\n", (long long)accepted, accepted == 1 ? "" : "s");
        } else {
            cli_print_doc(&c, &ans);
        }
        if (root != NULL) {
            json_object_put(root);
        }
    } else {
        cli_print_doc(&c, &ans);
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
    "                     [--limit N] [-q TEXT] [--cursor C] [--follow]\n"
    "Lists stored events, newest first; with --follow, prints events as they are stored\n"
    "(oldest first: those of --since, then new ones) until interrupted, one JSON line each.\n"
    "  --since D      only events of the last D (30s, 15m, 1h, 7d)\n"
    "  --severity N   severity N or more severe (0 emergency .. 7 debug)\n"
    "  --state S      ACTIVE, OK or RESOLVED\n"
    "  --source S     one of the sources below\n"
    "  --namespace NS Kubernetes namespace\n"
    "  --limit N      at most N events\n"
    "  -q TEXT        full-text search\n"
    "  --cursor C     next page (nextCursor of the previous answer)\n"
    "  -f, --follow   keep printing new events (polls once a second)\n"
    "-o table prints TIME SEVERITY STATE SOURCE NAMESPACE NAME.\n";

/* Adds the table rows TIME SEVERITY STATE SOURCE NAMESPACE NAME of evs[0..n)
 * (after the header when header is set). */
static int event_rows(struct table *t, json_object *const *evs, size_t n, int header)
{
    static const char *const heads[] = {"TIME", "SEVERITY", "STATE", "SOURCE", "NAMESPACE", "NAME"};
    static const char *const paths[] = {"severity", "state", "source", "k8s.namespace", "name"};
    int trc = HD_OK;
    for (size_t k = 0; header && k < 6 && trc == HD_OK; k++) {
        trc = cli_table_add(t, heads[k]);
    }
    for (size_t i = 0; i < n && trc == HD_OK; i++) {
        char when[40] = "-";
        int64_t ts = 0;
        if (hd_json_get_i64(evs[i], "timestampUs", &ts)) {
            hd_format_iso_ms(ts, when, sizeof(when));
        }
        trc = cli_table_add(t, when);
        for (size_t k = 0; k < 5 && trc == HD_OK; k++) {
            trc = cli_table_add(t, cli_cell(evs[i], paths[k]));
        }
    }
    return trc;
}

/* -o table for GET /api/events, and the next page's cursor on stderr. */
static int events_table(struct cli *c, const struct hd_buf *ans)
{
    int rc = EXIT_OK;
    struct table t = {.ncol = 6};
    json_object *root = hd_json_parse(ans->p, ans->len, NULL);
    json_object *list = root != NULL ? hd_json_path(root, "events") : NULL;
    if (list == NULL || !json_object_is_type(list, json_type_array)) {
        cli_print_doc(c, ans);
        goto out;
    }
    size_t n = json_object_array_length(list);
    json_object **evs = calloc(n + 1, sizeof(*evs));
    for (size_t i = 0; evs != NULL && i < n; i++) {
        evs[i] = json_object_array_get_idx(list, i);
    }
    int trc = evs != NULL ? event_rows(&t, evs, n, 1) : HD_ENOMEM;
    free(evs);
    if (trc != HD_OK) {
        rc = cli_fail(c, "out of memory");
        goto out;
    }
    cli_table_print(&t);
    const char *next = hd_json_get_str(root, "nextCursor");
    if (next != NULL && next[0] != '\0') {
        fprintf(stderr, "(more: add --cursor %s)\n", next);
    }
out:
    cli_table_free(&t);
    if (root != NULL) {
        json_object_put(root);
    }
    return rc;
}

/* ---- --follow ---- */

#define FOLLOW_PAGE 500
#define FOLLOW_POLL_US 1000000

struct follow {
    json_object **evs; /* newer than last_seq, newest first as the API pages them */
    size_t n, cap;
    int64_t last_seq; /* printed up to here; -1 before the first poll */
    int header_done;
};

/* Collects the events newer than f->last_seq, paging back from the newest.
 * Returns EXIT_OK or EXIT_FAIL (printed). */
static int follow_collect(struct cli *c, const char *filters, struct follow *f)
{
    char cursor[40] = "";
    for (;;) {
        struct hd_buf path, ans;
        hd_buf_init(&path, 0);
        hd_buf_init(&ans, CLI_MAX_ANSWER);
        int rc = hd_buf_puts(&path, filters) == HD_OK &&
                         hd_buf_printf(&path, "%slimit=%d%s%s", strchr(filters, '?') ? "&" : "?", FOLLOW_PAGE,
                                       cursor[0] ? "&cursor=" : "", cursor) == HD_OK
                     ? cli_request(c, "GET", path.p, NULL, &ans)
                     : cli_fail(c, "out of memory");
        json_object *root = rc == EXIT_OK ? hd_json_parse(ans.p, ans.len, NULL) : NULL;
        hd_buf_free(&path);
        hd_buf_free(&ans);
        json_object *list = hd_json_path(root, "events");
        int more = 0;
        for (size_t i = 0; list != NULL && i < json_object_array_length(list); i++) {
            json_object *ev = json_object_array_get_idx(list, i);
            int64_t seq = 0;
            if (!hd_json_get_i64(ev, "seq", &seq) || seq <= f->last_seq) {
                more = -1; /* reached what was printed */
                break;
            }
            if (f->n == f->cap) {
                size_t cap = f->cap ? f->cap * 2 : 64;
                json_object **p = realloc(f->evs, cap * sizeof(*p));
                if (p == NULL) {
                    json_object_put(root);
                    return cli_fail(c, "out of memory");
                }
                f->evs = p;
                f->cap = cap;
            }
            f->evs[f->n++] = json_object_get(ev);
        }
        const char *next = hd_json_get_str(root, "nextCursor");
        if (more == 0 && f->last_seq >= 0 && next != NULL && next[0] != '\0') {
            snprintf(cursor, sizeof(cursor), "%s", next);
            more = 1;
        }
        json_object_put(root);
        if (rc != EXIT_OK || more != 1) {
            return rc;
        }
    }
}

/* Prints what follow_collect gathered, oldest first: one JSON line per
 * event (-o json), a YAML document each (-o yaml) or table rows. */
static int follow_print(struct cli *c, struct follow *f)
{
    int rc = EXIT_OK;
    struct table t = {.ncol = 6};
    for (size_t i = 0; i < f->n / 2; i++) {
        json_object *tmp = f->evs[i];
        f->evs[i] = f->evs[f->n - 1 - i];
        f->evs[f->n - 1 - i] = tmp;
    }
    if (c->output == CLI_OUT_TABLE && f->n > 0) {
        if (event_rows(&t, f->evs, f->n, !f->header_done) != HD_OK) {
            rc = cli_fail(c, "out of memory");
        } else {
            cli_table_print(&t);
            f->header_done = 1;
        }
    }
    for (size_t i = 0; i < f->n; i++) {
        int64_t seq = 0;
        if (hd_json_get_i64(f->evs[i], "seq", &seq) && seq > f->last_seq) {
            f->last_seq = seq;
        }
        if (c->output == CLI_OUT_YAML) {
            cli_print_yaml(f->evs[i], stdout);
        } else if (c->output == CLI_OUT_JSON) {
            puts(json_object_to_json_string_ext(f->evs[i],
                                                JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        }
        json_object_put(f->evs[i]);
    }
    f->n = 0;
    cli_table_free(&t);
    fflush(stdout);
    return rc;
}

/* herald events --follow: polls the API once a second and prints events as
 * they are stored (those of --since first), until interrupted. */
static int events_follow(struct cli *c, const char *filters, int with_history)
{
    struct follow f = {.last_seq = -1};
    int rc = follow_collect(c, filters, &f);
    if (rc == EXIT_OK && !with_history) {
        for (size_t i = 0; i < f.n; i++) {
            int64_t seq = 0;
            if (hd_json_get_i64(f.evs[i], "seq", &seq) && seq > f.last_seq) {
                f.last_seq = seq;
            }
            json_object_put(f.evs[i]);
        }
        f.n = 0;
        f.last_seq = f.last_seq < 0 ? 0 : f.last_seq;
    }
    while (rc == EXIT_OK) {
        rc = follow_print(c, &f);
        f.last_seq = f.last_seq < 0 ? 0 : f.last_seq;
        if (rc == EXIT_OK) {
            usleep(FOLLOW_POLL_US);
            rc = follow_collect(c, filters, &f);
        }
    }
    for (size_t i = 0; i < f.n; i++) {
        json_object_put(f.evs[i]);
    }
    free(f.evs);
    return rc;
}

int hd_cmd_events(int argc, char **argv)
{
    struct cli c = {.cmd = "events", .usage = events_usage, .lists = LIST_SOURCES};
    const char *since = NULL, *severity = NULL, *state = NULL, *source = NULL, *ns = NULL;
    const char *limit = NULL, *q = NULL, *cursor = NULL;
    int follow = 0;
    const struct opt opts[] = {
        {.name = "follow", .shrt = 'f', .flag = &follow},
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
    int rc = cli_parse_args(&c, argc, argv, opts);
    if (rc >= 0) {
        goto out;
    }
    if (c.n_pos > 0) {
        rc = cli_usage_error(&c, "unexpected argument '%s'", c.pos[0]);
        goto out;
    }
    int64_t v = 0;
    const char *from_p = NULL;
    if (since != NULL) {
        if (!isdigit((unsigned char)since[0]) || hd_parse_duration_ms(since, &v) != HD_OK || v <= 0) {
            rc = cli_usage_error(&c, "--since: expected a duration like 30s, 15m, 1h or 7d");
            goto out;
        }
        /* the API's from/to are epoch milliseconds (SPEC section 4) */
        snprintf(from, sizeof(from), "%lld", (long long)(hd_now_us() / 1000 - v));
        from_p = from;
    }
    if (severity != NULL && (hd_parse_i64(severity, &v) != HD_OK || v < 0 || v > 7)) {
        rc = cli_usage_error(&c, "--severity: expected 0..7");
        goto out;
    }
    if (limit != NULL && (hd_parse_i64(limit, &v) != HD_OK || v <= 0)) {
        rc = cli_usage_error(&c, "--limit: expected a positive integer");
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
            rc = cli_usage_error(&c, "--state: expected ACTIVE, OK or RESOLVED");
            goto out;
        }
        state = state_up;
    }
    if (hd_buf_puts(&path, "/api/events") != HD_OK || cli_add_query(&path, "from", from_p) != HD_OK ||
        cli_add_query(&path, "severity", severity) != HD_OK ||
        cli_add_query(&path, "state", state) != HD_OK || cli_add_query(&path, "source", source) != HD_OK ||
        cli_add_query(&path, "namespace", ns) != HD_OK || cli_add_query(&path, "q", q) != HD_OK) {
        rc = cli_fail(&c, "out of memory");
        goto out;
    }
    if (follow) {
        if (limit != NULL || cursor != NULL) {
            rc = cli_usage_error(&c, "--follow: --limit and --cursor do not apply");
        } else {
            rc = events_follow(&c, path.p, since != NULL);
        }
        goto out;
    }
    if (cli_add_query(&path, "limit", limit) != HD_OK || cli_add_query(&path, "cursor", cursor) != HD_OK) {
        rc = cli_fail(&c, "out of memory");
        goto out;
    }
    rc = cli_request(&c, "GET", path.p, NULL, &ans);
    if (rc != EXIT_OK || c.output != CLI_OUT_TABLE) {
        if (rc == EXIT_OK) {
            cli_print_doc(&c, &ans);
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
    int rc = cli_parse_args(&c, argc, argv, opts);
    if (rc >= 0) {
        goto out;
    }
    if (c.n_pos > 0) {
        rc = cli_usage_error(&c, "unexpected argument '%s'", c.pos[0]);
        goto out;
    }
    if (retry != NULL && retry_all != NULL) {
        rc = cli_usage_error(&c, "--retry and --retry-all exclude each other");
        goto out;
    }
    if ((retry != NULL || retry_all != NULL) && (failed || status != NULL || channel != NULL)) {
        rc = cli_usage_error(&c, "--retry/--retry-all take no listing options");
        goto out;
    }
    if (failed && status != NULL && strcmp(status, "failed") != 0) {
        rc = cli_usage_error(&c, "--failed and --status %s contradict each other", status);
        goto out;
    }
    if (status != NULL && strcmp(status, "failed") != 0 && strcmp(status, "pending") != 0 &&
        strcmp(status, "delivered") != 0) {
        rc = cli_usage_error(&c, "--status: expected failed, pending or delivered");
        goto out;
    }
    if (retry != NULL && !cli_is_number(retry)) {
        rc = cli_usage_error(&c, "--retry: expected a delivery id (a number)");
        goto out;
    }
    const char *chan = retry_all != NULL ? retry_all : channel;
    if (chan != NULL) {
        rc = cli_channel_id(&c, chan, id, sizeof(id));
        if (rc != EXIT_OK) {
            goto out;
        }
    }
    int brc;
    if (retry != NULL) {
        brc = hd_buf_printf(&path, "/api/deliveries/%s/retry", retry);
    } else if (retry_all != NULL) {
        brc = hd_buf_puts(&path, "/api/deliveries/retry");
    } else {
        brc = hd_buf_puts(&path, "/api/deliveries");
        if (brc == HD_OK) {
            brc = cli_add_query(&path, "status", failed ? "failed" : status);
        }
    }
    if (brc == HD_OK) {
        brc = cli_add_query(&path, "channelId", chan != NULL ? id : NULL);
    }
    if (brc != HD_OK) {
        rc = cli_fail(&c, "out of memory");
        goto out;
    }
    if (retry != NULL || retry_all != NULL) {
        rc = cli_request_print(&c, "POST", path.p, &ans);
        goto out;
    }
    rc = cli_request(&c, "GET", path.p, NULL, &ans);
    if (rc == EXIT_OK) {
        static const char *const heads[] = {"ID", "EVENT", "CHANNEL", "STATUS", "ATTEMPTS", "LAST_ERROR"};
        static const char *const paths[] = {"id", "eventId", "channelId", "status", "attempts", "lastError"};
        rc = cli_print_answer(&c, &ans, "deliveries", heads, paths, 6);
    }
out:
    hd_buf_free(&path);
    hd_buf_free(&ans);
    cli_free(&c);
    return rc;
}
