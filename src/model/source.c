/* source.c - the one table of event sources (see source.h). */
#include "model/source.h"

#include <string.h>

#include "core/err.h"

static const struct hd_source sources[HD_SRC_COUNT] = {
    [HD_SRC_SYSDIG_MONITOR] = {.name = "sysdig_monitor", .format = "sysdig", .sourcetype = "sysdig:monitor"},
    [HD_SRC_SYSDIG_SECURE] = {.name = "sysdig_secure", .format = "sysdig", .sourcetype = "sysdig:secure"},
    [HD_SRC_FALCO] = {.name = "falco", .format = "falco", .sourcetype = "falco"},
    [HD_SRC_ALERTMANAGER] = {.name = "alertmanager", .format = "alertmanager", .sourcetype = "alertmanager"},
    [HD_SRC_KUBERNETES] = {.name = "kubernetes", .format = "kubernetes", .sourcetype = "kube:event"},
    [HD_SRC_DOCKER] = {.name = "docker", .format = "docker", .sourcetype = "docker:event"},
    [HD_SRC_GENERIC] = {.name = "generic", .format = "generic", .sourcetype = NULL},
};

const struct hd_source *hd_source(enum hd_source_id id)
{
    return &sources[id];
}

const char *hd_source_name(enum hd_source_id id)
{
    return sources[id].name;
}

const struct hd_source *hd_source_find(const char *s)
{
    if (s == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < HD_SRC_COUNT; i++) {
        if (s == sources[i].name) {
            return &sources[i]; /* the decoders' events point at the table: no compare */
        }
    }
    for (size_t i = 0; i < HD_SRC_COUNT; i++) {
        if (strcmp(s, sources[i].name) == 0) {
            return &sources[i];
        }
    }
    return NULL;
}

int hd_source_names_join(struct hd_buf *out)
{
    for (size_t i = 0; i < HD_SRC_COUNT; i++) {
        int rc = i == 0 ? HD_OK : hd_buf_puts(out, ", ");
        if (rc == HD_OK) {
            rc = hd_buf_puts(out, sources[i].name);
        }
        if (rc != HD_OK) {
            return rc;
        }
    }
    return HD_OK;
}
