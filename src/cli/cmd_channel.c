/* cmd_channel.c - `herald channel list|get|create|update|delete|test`. */
#include "cli/client.h"
#include "cli/client_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "json/json.h"

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

int hd_cmd_channel(int argc, char **argv)
{
    struct cli c = {.cmd = "channel", .usage = channel_usage};
    struct hd_buf ans;
    struct hd_buf body;
    char id[32] = "";
    char path[96];
    hd_buf_init(&ans, CLI_MAX_ANSWER);
    hd_buf_init(&body, 0);
    int rc = cli_parse_args(&c, argc, argv, NULL);
    if (rc >= 0) {
        goto out;
    }
    if (c.n_pos == 0) {
        rc = cli_usage_error(&c, "missing action (list, get, create, update, delete, test)");
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
        rc = cli_usage_error(&c, "unknown action '%s' (list, get, create, update, delete, test)", action);
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
    } else if (strcmp(action, "delete") == 0) {
        rc = cli_request(&c, "DELETE", path, NULL, &ans);
        if (rc == EXIT_OK && c.table) {
            printf("deleted channel %s\n", id);
        } else if (rc == EXIT_OK) {
            cli_print_json(&ans);
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
