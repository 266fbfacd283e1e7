/* cmd_channel.c - `herald channel list|get|create|update|delete|test|enable|
 * disable|replay`. */
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

/* ---- herald channel ------------------------------------------------------------ */

static const char channel_usage[] =
    "usage: herald channel list\n"
    "       herald channel get ID\n"
    "       herald channel create FILE      (FILE or '-': a channel object or "
    "{\"notificationChannel\":{...}})\n"
    "       herald channel update ID FILE   (without a version in FILE, the current one is used)\n"
    "       herald channel delete ID\n"
    "       herald channel test ID\n"
    "       herald channel enable ID | disable ID\n"
    "       herald channel replay ID [--from T] [--to T]   (re-deliver stored events of that window)\n"
    "ID is a channel id or name. T is an RFC 3339 time (2026-12-01T00:00:00Z), a duration\n"
    "ago (2h, 7d) or epoch milliseconds; --from defaults to the oldest event, --to to now.\n"
    "-o table prints ID NAME TYPE ENABLED VERSION.\n";

static const char *const ch_heads[] = {"ID", "NAME", "TYPE", "ENABLED", "VERSION"};
static const char *const ch_paths[] = {"id", "name", "type", "enabled", "version"};

/* Reads FILE as a channel: returns the bare object (caller puts it). */
static json_object *read_channel(const struct cli *c, const char *file)
{
    struct hd_buf in;
    struct hd_err err = {0};
    json_object *root = NULL;
    json_object *ch = NULL;
    hd_buf_init(&in, 0);
    if (cli_read_input(c, file, &in) != EXIT_OK) {
        goto out;
    }
    root = hd_json_parse(in.p != NULL ? in.p : "", in.len, &err);
    if (root == NULL) {
        cli_fail(c, "%s: not valid JSON: %s", file, err.msg);
        goto out;
    }
    json_object *inner = NULL;
    if (json_object_object_get_ex(root, "notificationChannel", &inner)) {
        if (!json_object_is_type(inner, json_type_object)) {
            cli_fail(c, "%s: notificationChannel must be an object", file);
            goto out;
        }
        ch = json_object_get(inner);
    } else if (json_object_is_type(root, json_type_object)) {
        if (json_object_object_get_ex(root, "notificationChannels", NULL)) {
            cli_fail(c, "%s: holds a list of channels; give one channel object", file);
            goto out;
        }
        ch = json_object_get(root);
    } else {
        cli_fail(c, "%s: expected a channel object", file);
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
    return cli_print_answer(c, body, key, ch_heads, ch_paths, 5);
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
            rc = cli_fail(c, "%s holds channel %s, not %s: refusing to overwrite another channel", file, want,
                          id);
            goto out;
        }
    }
    json_object *ver = NULL;
    if (!json_object_object_get_ex(ch, "version", &ver) || json_object_is_type(ver, json_type_null)) {
        rc = cli_request(c, "GET", path, NULL, ans);
        if (rc != EXIT_OK) {
            goto out;
        }
        rc = EXIT_FAIL;
        cur = hd_json_parse(ans->p, ans->len, NULL);
        int64_t v = 0;
        if (cur == NULL || !hd_json_get_i64(hd_json_path(cur, "notificationChannel"), "version", &v)) {
            rc = cli_fail(c, "GET %s: the answer has no notificationChannel.version", path);
            goto out;
        }
        json_object_object_add(ch, "version", json_object_new_int64(v));
    }
    if (envelope(ch, &body) != HD_OK) {
        rc = cli_fail(c, "out of memory");
        goto out;
    }
    rc = cli_request(c, "PUT", path, &(struct req_body){"application/json", body.p, body.len}, ans);
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

/* enable/disable: GET, set enabled, PUT with the version read (secrets come
 * back masked, which the API keeps); one more try if it changed meanwhile. */
static int channel_switch(const struct cli *c, const char *path, int on, struct hd_buf *ans)
{
    int rc = EXIT_FAIL;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = cli_request(c, "GET", path, NULL, ans);
        if (rc != EXIT_OK) {
            return rc;
        }
        json_object *cur = hd_json_parse(ans->p, ans->len, NULL);
        json_object *ch = hd_json_path(cur, "notificationChannel");
        if (ch == NULL || !json_object_is_type(ch, json_type_object)) {
            json_object_put(cur);
            return cli_fail(c, "GET %s: the answer has no notificationChannel", path);
        }
        json_object_object_add(ch, "enabled", json_object_new_boolean(on));
        struct hd_buf body;
        hd_buf_init(&body, 0);
        int erc = envelope(ch, &body);
        json_object_put(cur);
        if (erc != HD_OK) {
            hd_buf_free(&body);
            return cli_fail(c, "out of memory");
        }
        hd_buf_reset(ans);
        rc =
            cli_request_status(c, "PUT", path, &(struct req_body){"application/json", body.p, body.len}, ans);
        hd_buf_free(&body);
        if (rc != 409) {
            return rc == 200 ? EXIT_OK : cli_fail_answer(c, "PUT", path, rc, ans);
        }
    }
    return cli_fail(c, "PUT %s: the channel kept changing meanwhile (409 twice); try again", path);
}

/* A time for replay: RFC 3339, a duration ago (2h) or epoch milliseconds. */
static int parse_when(const char *s, int64_t now_ms, int64_t *out)
{
    int64_t us = 0, d = 0;
    if (hd_parse_rfc3339_us(s, &us) == HD_OK) {
        *out = us / 1000;
        return HD_OK;
    }
    size_t n = strspn(s, "0123456789");
    if (n > 0 && s[n] == '\0') {
        return hd_parse_i64(s, out);
    }
    if (isdigit((unsigned char)s[0]) && hd_parse_duration_ms(s, &d) == HD_OK && d >= 0) {
        *out = now_ms - d;
        return HD_OK;
    }
    return HD_EINVAL;
}

static int channel_replay(struct cli *c, const char *id, const char *from, const char *to, struct hd_buf *ans)
{
    int64_t now = hd_now_ms(), f = 0, t = now;
    if (from != NULL && parse_when(from, now, &f) != HD_OK) {
        return cli_usage_error(c, "--from: expected an RFC 3339 time, a duration ago (2h) or epoch ms");
    }
    if (to != NULL && parse_when(to, now, &t) != HD_OK) {
        return cli_usage_error(c, "--to: expected an RFC 3339 time, a duration ago (2h) or epoch ms");
    }
    char path[160];
    snprintf(path, sizeof(path), "/api/notificationChannels/%s/replay?from=%lld&to=%lld", id, (long long)f,
             (long long)t);
    int rc = cli_request(c, "POST", path, NULL, ans);
    if (rc == EXIT_OK && c->output == CLI_OUT_TABLE) {
        json_object *o = hd_json_parse(ans->p, ans->len, NULL);
        int64_t q = 0;
        hd_json_get_i64(o, "queued", &q);
        printf("queued %lld events of channel %s for re-delivery\n", (long long)q, id);
        json_object_put(o);
    } else if (rc == EXIT_OK) {
        rc = cli_print_answer(c, ans, NULL, NULL, NULL, 0);
    }
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
    const char *from = NULL, *to = NULL;
    const struct opt opts[] = {{.name = "from", .val = &from}, {.name = "to", .val = &to}, {0}};
    int rc = cli_parse_args(&c, argc, argv, opts);
    if (rc >= 0) {
        goto out;
    }
    if (c.n_pos == 0) {
        rc = cli_usage_error(&c, "missing action (list, get, create, update, delete, test, enable, disable, "
                                 "replay)");
        goto out;
    }
    const char *action = c.pos[0];
    static const struct {
        const char *name;
        size_t nargs;
        const char *args;
    } actions[] = {
        {"list", 0, ""},           {"get", 1, " ID"},     {"create", 1, " FILE"},
        {"update", 2, " ID FILE"}, {"delete", 1, " ID"},  {"test", 1, " ID"},
        {"enable", 1, " ID"},      {"disable", 1, " ID"}, {"replay", 1, " ID [--from T] [--to T]"},
    };
    size_t a = 0;
    while (a < sizeof(actions) / sizeof(actions[0]) && strcmp(actions[a].name, action) != 0) {
        a++;
    }
    if (a == sizeof(actions) / sizeof(actions[0])) {
        rc = cli_usage_error(&c,
                             "unknown action '%s' (list, get, create, update, delete, test, enable, "
                             "disable, replay)",
                             action);
        goto out;
    }
    if (c.n_pos - 1 != actions[a].nargs) {
        rc = cli_usage_error(&c, "expected: herald channel %s%s", action, actions[a].args);
        goto out;
    }
    if (strcmp(action, "list") == 0) {
        rc = cli_request(&c, "GET", "/api/notificationChannels", NULL, &ans);
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
            rc = cli_fail(&c, "out of memory");
            goto out;
        }
        rc = cli_request(&c, "POST", "/api/notificationChannels",
                         &(struct req_body){"application/json", body.p, body.len}, &ans);
        if (rc == EXIT_OK) {
            rc = print_channels(&c, &ans, "notificationChannel");
        }
        goto out;
    }
    rc = cli_channel_id(&c, c.pos[1], id, sizeof(id));
    if (rc != EXIT_OK) {
        goto out;
    }
    snprintf(path, sizeof(path), "/api/notificationChannels/%s", id);
    if (strcmp(action, "get") == 0) {
        rc = cli_request(&c, "GET", path, NULL, &ans);
        if (rc == EXIT_OK) {
            rc = print_channels(&c, &ans, "notificationChannel");
        }
    } else if (strcmp(action, "update") == 0) {
        rc = channel_update(&c, id, c.pos[2], &ans);
        if (rc == EXIT_OK) {
            rc = print_channels(&c, &ans, "notificationChannel");
        }
    } else if (strcmp(action, "enable") == 0 || strcmp(action, "disable") == 0) {
        rc = channel_switch(&c, path, strcmp(action, "enable") == 0, &ans);
        if (rc == EXIT_OK) {
            rc = print_channels(&c, &ans, "notificationChannel");
        }
    } else if (strcmp(action, "replay") == 0) {
        rc = channel_replay(&c, id, from, to, &ans);
    } else if (strcmp(action, "delete") == 0) {
        rc = cli_request(&c, "DELETE", path, NULL, &ans);
        if (rc == EXIT_OK && c.output == CLI_OUT_TABLE) {
            printf("deleted channel %s\n", id);
        } else if (rc == EXIT_OK) {
            cli_print_doc(&c, &ans);
        }
    } else {
        snprintf(path, sizeof(path), "/api/notificationChannels/%s/test", id);
        rc = cli_request_print(&c, "POST", path, &ans);
    }
out:
    hd_buf_free(&ans);
    hd_buf_free(&body);
    cli_free(&c);
    return rc;
}
