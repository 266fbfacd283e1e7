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
    if (c.table) {
        json_object *root = hd_json_parse(ans.p, ans.len, NULL);
        int64_t accepted = 0;
        if (root != NULL && hd_json_get_i64(root, "accepted", &accepted)) {
            printf("accepted %lld event%s\n", (long long)accepted, accepted == 1 ? "" : "s");
        } else {
            cli_print_json(&ans);
        }
        if (root != NULL) {
            json_object_put(root);
        }
    } else {
        cli_print_json(&ans);
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
        cli_print_json(ans);
        goto out;
    }
    static const char *const heads[] = {"TIME", "SEVERITY", "STATE", "SOURCE", "NAMESPACE", "NAME"};
    static const char *const paths[] = {"severity", "state", "source", "k8s.namespace", "name"};
    int trc = HD_OK;
    for (size_t k = 0; k < 6 && trc == HD_OK; k++) {
        trc = cli_table_add(&t, heads[k]);
    }
    for (size_t i = 0; i < json_object_array_length(list) && trc == HD_OK; i++) {
        json_object *ev = json_object_array_get_idx(list, i);
        char when[40] = "-";
        int64_t ts = 0;
        if (hd_json_get_i64(ev, "timestampUs", &ts)) {
            hd_format_iso_ms(ts, when, sizeof(when));
        }
        trc = cli_table_add(&t, when);
        for (size_t k = 0; k < 5 && trc == HD_OK; k++) {
            trc = cli_table_add(&t, cli_cell(ev, paths[k]));
        }
    }
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
        cli_add_query(&path, "namespace", ns) != HD_OK || cli_add_query(&path, "q", q) != HD_OK ||
        cli_add_query(&path, "limit", limit) != HD_OK || cli_add_query(&path, "cursor", cursor) != HD_OK) {
        rc = cli_fail(&c, "out of memory");
        goto out;
    }
    rc = cli_request(&c, "GET", path.p, NULL, &ans);
    if (rc != EXIT_OK || !c.table) {
        if (rc == EXIT_OK) {
            cli_print_json(&ans);
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
