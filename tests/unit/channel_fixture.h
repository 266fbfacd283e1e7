/* channel_fixture.h - shared helpers of the channel-layer unit tests
 * (test_channel, test_webhook, test_transform, test_filter). */
#ifndef HD_TEST_CHANNEL_FIXTURE_H
#define HD_TEST_CHANNEL_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "input/event.h"
#include "json/json.h"

#define SECURE_FIXTURE HD_FIXTURES "/sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json"
#define SECURE_TS_US 1518849360000000LL

/* Whole file, NUL-terminated; NULL if unreadable. Caller frees. */
static inline char *fx_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct hd_buf b;
    char tmp[4096];
    size_t n;
    if (f == NULL) {
        return NULL;
    }
    hd_buf_init(&b, 0);
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        if (hd_buf_append(&b, tmp, n) != HD_OK) {
            break;
        }
    }
    fclose(f);
    return hd_buf_steal(&b, len);
}

/* The article's Sysdig Secure event, as a decoder would normalize it
 * (fields set by hand: these tests do not depend on the decoders). */
static inline int fx_secure_event(struct hd_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->raw = fx_read_file(SECURE_FIXTURE, &ev->raw_len);
    if (ev->raw == NULL) {
        return -1;
    }
    ev->seq = 42;
    memcpy(ev->id, "0123456789abcdef0123456789abcdef", 33);
    ev->source = "sysdig_secure";
    ev->ts_us = SECURE_TS_US;
    ev->recv_us = SECURE_TS_US + 1500000;
    ev->severity = 4;
    ev->state = HD_STATE_ACTIVE;
    ev->name = hd_strdup("Policy 59: FILE POLICY: Read sensitive file untrusted");
    ev->description = hd_strdup("an attempt to read any sensitive file");
    ev->url = hd_strdup("https://secure.sysdigrp2rs.wpengine.com/#/events/f:1518849300,t:1518849360");
    ev->host = hd_strdup("ip-10-0-8-165");
    ev->container_id = hd_strdup("57c1820a87f1");
    ev->k8s_namespace = hd_strdup("example-java-app");
    ev->k8s_pod = hd_strdup("redis-3463099497-2xxw3");
    ev->k8s_container = hd_strdup("ftest");
    ev->labels = hd_strdup("{\"falco.rule\":\"Read sensitive file untrusted\",\"policyId\":\"59\"}");
    ev->alert_key = hd_strdup("sysdig_secure/Policy 59");
    return 0;
}

/* A small event around an arbitrary raw document. */
static inline void fx_raw_event(struct hd_event *ev, const char *raw)
{
    memset(ev, 0, sizeof(*ev));
    memcpy(ev->id, "fedcba9876543210fedcba9876543210", 33);
    ev->source = "generic";
    ev->ts_us = SECURE_TS_US;
    ev->recv_us = SECURE_TS_US;
    ev->severity = 6;
    ev->name = hd_strdup("raw event");
    ev->raw = hd_strdup(raw);
    ev->raw_len = strlen(raw);
}

/* Canonical text of a JSON document (keys sorted), for equality. Caller frees. */
static inline char *fx_canonical(const char *text, size_t len)
{
    struct hd_buf b;
    json_object *o = hd_json_parse(text, len, NULL);
    if (o == NULL) {
        return NULL;
    }
    hd_buf_init(&b, 0);
    hd_json_canonical(o, &b);
    json_object_put(o);
    return hd_buf_steal(&b, NULL);
}

#endif
