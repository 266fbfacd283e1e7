/* cmd_silence.c - `herald silence add MATCHER... --for 2h [--comment C]
 * [--author A] | list [--state S] | expire ID` (SPEC 2, 4). */
#include "cli/client.h"
#include "cli/client_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "json/json.h"
#include "model/event.h"

static const char silence_usage[] =
    "usage: herald silence add MATCHER... --for D [--start T] [--comment C] [--author A]\n"
    "       herald silence list [--state active|pending|expired]\n"
    "       herald silence expire ID\n"
    "Silenced events are stored and shown but not sent to channels with respectSilences\n"
    "(the notification types, by default). MATCHER: FIELD=VALUE, FIELD!=VALUE,\n"
    "FIELD=~REGEX, FIELD!~REGEX on k8s.namespace, labels.<key>, name, source, ... (quote\n"
    "them for the shell: 'k8s.namespace=~prod-.*'). D: 30m, 2h, 1d. T: RFC 3339 (default now).\n"
    "-o table prints ID STATE ENDS MATCHERS COMMENT.\n";

static const char *const si_heads[] = {"ID", "STATE", "ENDS", "MATCHERS", "COMMENT"};
static const char *const si_paths[] = {"id", "status.state", "endsAt", "matchers", "comment"};

static int silence_add(struct cli *c, const char *dur, const char *start, const char *comment,
                       const char *author, struct hd_buf *ans)
{
    int64_t ms = 0, start_us = 0;
    if (dur == NULL || !isdigit((unsigned char)dur[0]) || hd_parse_duration_ms(dur, &ms) != HD_OK ||
        ms <= 0) {
        return cli_usage_error(c, "--for: expected a duration like 30m, 2h or 1d");
    }
    int64_t from_ms = hd_now_ms();
    if (start != NULL) {
        if (hd_parse_rfc3339_us(start, &start_us) != HD_OK) {
            return cli_usage_error(c, "--start: expected an RFC 3339 time");
        }
        from_ms = start_us / 1000;
    }
    json_object *o = json_object_new_object();
    json_object *m = json_object_new_array();
    for (size_t i = 1; i < c->n_pos; i++) {
        json_object_array_add(m, json_object_new_string(c->pos[i]));
    }
    json_object_object_add(o, "matchers", m);
    char t[40];
    hd_format_iso_ms(from_ms * 1000, t, sizeof(t));
    json_object_object_add(o, "startsAt", json_object_new_string(t));
    hd_format_iso_ms((from_ms + ms) * 1000, t, sizeof(t));
    json_object_object_add(o, "endsAt", json_object_new_string(t));
    const char *who = author != NULL ? author : getenv("USER");
    if (who != NULL) {
        json_object_object_add(o, "createdBy", json_object_new_string(who));
    }
    if (comment != NULL) {
        json_object_object_add(o, "comment", json_object_new_string(comment));
    }
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    int rc = cli_request(c, "POST", "/api/silences",
                         &(struct req_body){"application/json", text, strlen(text)}, ans);
    json_object_put(o);
    return rc;
}

int hd_cmd_silence(int argc, char **argv)
{
    struct cli c = {.cmd = "silence", .usage = silence_usage};
    const char *dur = NULL, *start = NULL, *comment = NULL, *author = NULL, *state = NULL;
    const struct opt opts[] = {{.name = "for", .val = &dur},         {.name = "start", .val = &start},
                               {.name = "comment", .val = &comment}, {.name = "author", .val = &author},
                               {.name = "state", .val = &state},     {.name = NULL}};
    struct hd_buf ans, path;
    hd_buf_init(&ans, CLI_MAX_ANSWER);
    hd_buf_init(&path, 0);
    int rc = cli_parse_args(&c, argc, argv, opts);
    if (rc >= 0) {
        goto out;
    }
    const char *action = c.n_pos > 0 ? c.pos[0] : "";
    if (strcmp(action, "add") == 0) {
        if (c.n_pos < 2) {
            rc = cli_usage_error(&c, "add: at least one MATCHER");
            goto out;
        }
        rc = silence_add(&c, dur, start, comment, author, &ans);
        if (rc == EXIT_OK) {
            rc = cli_print_answer(&c, &ans, NULL, si_heads, si_paths, 5);
        }
    } else if (strcmp(action, "list") == 0 && c.n_pos == 1) {
        if (hd_buf_puts(&path, "/api/silences") != HD_OK || cli_add_query(&path, "state", state) != HD_OK) {
            rc = cli_fail(&c, "out of memory");
            goto out;
        }
        rc = cli_request(&c, "GET", path.p, NULL, &ans);
        if (rc == EXIT_OK) {
            rc = cli_print_answer(&c, &ans, "silences", si_heads, si_paths, 5);
        }
    } else if (strcmp(action, "expire") == 0 && c.n_pos == 2 && cli_is_number(c.pos[1])) {
        if (hd_buf_printf(&path, "/api/silences/%s", c.pos[1]) != HD_OK) {
            rc = cli_fail(&c, "out of memory");
            goto out;
        }
        rc = cli_request(&c, "DELETE", path.p, NULL, &ans);
        if (rc == EXIT_OK) {
            rc = cli_print_answer(&c, &ans, NULL, si_heads, si_paths, 5);
        }
    } else {
        rc = cli_usage_error(&c, "expected add MATCHER... --for D, list, or expire ID");
    }
out:
    hd_buf_free(&ans);
    hd_buf_free(&path);
    cli_free(&c);
    return rc;
}
