/* registry.c - the table of channel types (STYLE: nginx ngx_modules[]).
 *
 * Adding a type: define `const struct hd_channel_type hd_channel_<type>` in
 * its own file and add one line to types[] below. Names are what the API's
 * "type" field holds (Sysdig's spelling, upper case, matched exactly).
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

static const struct hd_channel_type *const types[] = {
    &hd_channel_webhook,   &hd_channel_email,     &hd_channel_sns,
    &hd_channel_slack,     &hd_channel_pagerduty, &hd_channel_opsgenie,
    &hd_channel_victorops, &hd_channel_splunk,    &hd_channel_elasticsearch,
};

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
    }
    return HD_OK;
}

int hd_channel_registry_check(struct hd_err *err)
{
    return hd_channel_registry_check_table(types, sizeof(types) / sizeof(types[0]), err);
}
