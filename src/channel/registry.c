/* registry.c - the table of channel types (STYLE: nginx ngx_modules[]).
 *
 * Adding a type: define `const struct hd_channel_type hd_channel_<type>` in
 * its own file and add one line to types[] below. Names are what the API's
 * "type" field holds (Sysdig's spelling, upper case, matched exactly). Each
 * type also declares its secret and URL options (channel.h): the check below
 * refuses a malformed table at start rather than mask the wrong thing later.
 */
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"

extern const struct hd_channel_type hd_channel_webhook;
extern const struct hd_channel_type hd_channel_email;
extern const struct hd_channel_type hd_channel_sns;
extern const struct hd_channel_type hd_channel_slack;
extern const struct hd_channel_type hd_channel_pagerduty;
extern const struct hd_channel_type hd_channel_opsgenie;
extern const struct hd_channel_type hd_channel_victorops;
extern const struct hd_channel_type hd_channel_splunk;
extern const struct hd_channel_type hd_channel_elasticsearch;
extern const struct hd_channel_type hd_channel_teams;
extern const struct hd_channel_type hd_channel_gchat;
extern const struct hd_channel_type hd_channel_alertmanager;
extern const struct hd_channel_type hd_channel_loki;
extern const struct hd_channel_type hd_channel_syslog;

/* One line per type (kept so by hand: adding a type adds one line). */
/* clang-format off */
static const struct hd_channel_type *const types[] = {
    &hd_channel_webhook,
    &hd_channel_email,
    &hd_channel_sns,
    &hd_channel_slack,
    &hd_channel_pagerduty,
    &hd_channel_opsgenie,
    &hd_channel_victorops,
    &hd_channel_splunk,
    &hd_channel_elasticsearch,
    &hd_channel_teams,
    &hd_channel_gchat,
    &hd_channel_alertmanager,
    &hd_channel_loki,
    &hd_channel_syslog,
};
/* clang-format on */

const struct hd_channel_type *const *hd_channel_types(size_t *n)
{
    *n = sizeof(types) / sizeof(types[0]);
    return types;
}

const struct hd_channel_type *hd_channel_type_find(const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(types[i]->name, name) == 0) {
            return types[i];
        }
    }
    return NULL;
}

/* An option name: letters, digits and '_'; in secret_options it may end in
 * HD_SECRET_EACH. */
static int option_name_valid(const char *s, int each_ok)
{
    size_t n = strlen(s);
    size_t sl = strlen(HD_SECRET_EACH);
    if (each_ok && n > sl && strcmp(s + n - sl, HD_SECRET_EACH) == 0) {
        n -= sl;
    }
    if (n == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
            return 0;
        }
    }
    return 1;
}

static int lists(const char *const *list, const char *name)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        if (strcmp(list[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* One option table of type t (NULL: none): names valid and unique. */
static int check_options(const struct hd_channel_type *t, const char *what, const char *const *list,
                         int each_ok, struct hd_err *err)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        if (!option_name_valid(list[i], each_ok)) {
            return hd_err_set(err, HD_EINVAL, "channel type %s: %s[%zu] '%.64s' is not an option name",
                              t->name, what, i, list[i]);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(list[i], list[j]) == 0) {
                return hd_err_set(err, HD_EINVAL, "channel type %s: %s lists %s twice", t->name, what,
                                  list[i]);
            }
        }
    }
    return HD_OK;
}

/* Checks a table (exposed for the unit test, which feeds it a bad one). */
int hd_channel_registry_check_table(const struct hd_channel_type *const *t, size_t n, struct hd_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i] == NULL || t[i]->name == NULL || t[i]->name[0] == '\0') {
            return hd_err_set(err, HD_EINVAL, "channel type #%zu has no name", i);
        }
        if (t[i]->configure == NULL || t[i]->render == NULL || t[i]->classify == NULL ||
            t[i]->max_batch == 0) {
            return hd_err_set(err, HD_EINVAL,
                              "channel type %s: configure, render, classify and max_batch are required",
                              t[i]->name);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(t[i]->name, t[j]->name) == 0) {
                return hd_err_set(err, HD_EINVAL, "channel type %s registered twice", t[i]->name);
            }
        }
        int rc = check_options(t[i], "secret_options", t[i]->secret_options, 1, err);
        if (rc == HD_OK) {
            rc = check_options(t[i], "url_options", t[i]->url_options, 0, err);
        }
        if (rc != HD_OK) {
            return rc;
        }
        for (size_t c = 0; hd_channel_common_url_options[c] != NULL; c++) {
            if (lists(t[i]->url_options, hd_channel_common_url_options[c])) {
                /* written once, in options.c: a copy here would be a second place */
                return hd_err_set(err, HD_EINVAL, "channel type %s: url_options lists %s, a common option",
                                  t[i]->name, hd_channel_common_url_options[c]);
            }
        }
    }
    return HD_OK;
}

int hd_channel_registry_check(struct hd_err *err)
{
    return hd_channel_registry_check_table(types, sizeof(types) / sizeof(types[0]), err);
}
