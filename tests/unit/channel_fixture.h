/* channel_fixture.h - shared helpers of the channel-layer unit tests
 * (test_channel, test_webhook, test_transform, test_filter, the drivers'
 * tests). The channel helpers fail the test (cmocka): include <cmocka.h>
 * first. */
#ifndef HD_TEST_CHANNEL_FIXTURE_H
#define HD_TEST_CHANNEL_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "channel/channel.h"
#include "core/buf.h"
#include "fixture_util.h"
#include "core/util.h"
#include "model/event.h"
#include "json/json.h"
#include "net/http_client.h"

#define SECURE_FIXTURE HD_FIXTURES "/sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json"
#define SECURE_TS_US 1518849360000000LL

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

/* ---- one channel under test ---- */

/* The event a test renders, the channel, its request and (tests that look
 * into JSON bodies) the body parsed. */
struct fx_run {
    struct hd_event ev;
    struct hd_channel *ch;
    struct hd_request req;
    json_object *doc;
};

/* cmocka setup: a run around the article's Secure event. */
static inline int fx_run_setup(void **state)
{
    struct fx_run *r = calloc(1, sizeof(*r));
    if (r == NULL || fx_secure_event(&r->ev) != 0) {
        free(r);
        return -1;
    }
    hd_request_init(&r->req);
    *state = r;
    return 0;
}

static inline int fx_run_teardown(void **state)
{
    struct fx_run *r = *state;
    hd_event_clear(&r->ev);
    hd_channel_free(r->ch);
    hd_request_clear(&r->req);
    json_object_put(r->doc);
    free(r);
    return 0;
}

/* Channel id (version 1) {"type":type,"name":name,"enabled":true,"options":
 * options}; NULL with err set when the options are refused. */
static inline struct hd_channel *fx_channel_try(const char *type, int64_t id, const char *name,
                                                const char *options, struct hd_err *err)
{
    struct hd_buf b;
    hd_buf_init(&b, 0);
    assert_int_equal(hd_buf_printf(&b, "{\"type\":\"%s\",\"name\":\"%s\",\"enabled\":true,\"options\":%s}",
                                   type, name, options),
                     HD_OK);
    struct hd_channel *ch = hd_channel_new(id, 1, b.p, err);
    hd_buf_free(&b);
    return ch;
}

/* Replaces *ch by a new channel; fails the test if the options are refused. */
static inline void fx_channel_make(struct hd_channel **ch, const char *type, int64_t id, const char *name,
                                   const char *options)
{
    struct hd_err err = {0};
    hd_channel_free(*ch);
    *ch = fx_channel_try(type, id, name, options, &err);
    if (*ch == NULL) {
        fail_msg("channel: %s", err.msg);
    }
}

/* The options must be refused with an error naming needle. */
static inline void fx_expect_config_error(const char *type, int64_t id, const char *name, const char *options,
                                          const char *needle)
{
    struct hd_err err = {0};
    struct hd_channel *ch = fx_channel_try(type, id, name, options, &err);
    if (ch != NULL) {
        hd_channel_free(ch);
        fail_msg("accepted %s", options);
    }
    if (strstr(err.msg, needle) == NULL) {
        fail_msg("error '%s' does not name '%s'", err.msg, needle);
    }
}

/* Renders evs[0..n) into req (cleared first); fails the test on an error. */
static inline void fx_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                             struct hd_request *req)
{
    struct hd_err err = {0};
    hd_request_clear(req);
    if (ch->type->render(ch, evs, n, req, &err) != HD_OK) {
        fail_msg("render: %s", err.msg);
    }
}

/* Parses the rendered body into *doc (replaced); fails the test when it is
 * not JSON. */
static inline void fx_parse_body(const struct hd_request *req, json_object **doc)
{
    struct hd_err err = {0};
    json_object_put(*doc);
    *doc = hd_json_parse(req->body.p, req->body.len, &err);
    if (*doc == NULL) {
        fail_msg("body is not JSON: %s", err.msg);
    }
}

/* How many headers of req are exactly line ("Name: value"). */
static inline size_t fx_header_count(const struct hd_request *req, const char *line)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcmp(req->headers[i], line) == 0) {
            n++;
        }
    }
    return n;
}

/* How many headers of req are named name (case-insensitive). */
static inline size_t fx_header_named(const struct hd_request *req, const char *name)
{
    size_t n = 0;
    size_t len = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strncasecmp(req->headers[i], name, len) == 0 && req->headers[i][len] == ':') {
            n++;
        }
    }
    return n;
}

/* Value of the first header named name (case-insensitive); NULL if none. */
static inline const char *fx_header(const struct hd_request *req, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strncasecmp(req->headers[i], name, len) == 0 && req->headers[i][len] == ':') {
            return req->headers[i] + len + 2;
        }
    }
    return NULL;
}

/* resp (re)initialised as an answer: status and body (NULL: none). */
static inline void fx_response(struct hd_response *resp, long status, const char *body)
{
    hd_response_clear(resp);
    hd_response_init(resp);
    resp->status = status;
    if (body != NULL) {
        assert_int_equal(hd_buf_puts(&resp->body, body), HD_OK);
    }
}

/* Classifies one answer for one item: status with body, or (status 0) the
 * transport error text; the item's error is copied to error[256]. */
static inline enum hd_verdict fx_classify1(struct hd_channel *ch, long status, const char *body,
                                           const char *transport_error, char *error)
{
    struct hd_response resp;
    struct hd_item_verdict it;
    hd_response_init(&resp);
    fx_response(&resp, status, body);
    if (status == 0) {
        snprintf(resp.error, sizeof(resp.error), "%s", transport_error);
    }
    memset(&it, 0, sizeof(it));
    enum hd_verdict v = ch->type->classify(ch, &resp, 1, &it);
    assert_int_equal(it.verdict, v);
    snprintf(error, 256, "%s", it.error);
    hd_response_clear(&resp);
    return v;
}

#endif
