/* api.h - the REST API (SPEC section 4): routing, auth, handlers.
 *
 * hd_api_handle is the http server's handler. It checks the Bearer token (or,
 * without one, the client certificate) and its scope (401 unknown/missing,
 * 403 wrong scope; the presented token's SHA-256 compared in constant time
 * with each configured token's), routes by method and path, and answers with
 * Sysdig's error envelope.
 */
#ifndef HD_API_H
#define HD_API_H

#include <pthread.h>
#include <stdint.h>

#include "core/config.h"
#include "core/util.h"
#include "net/http_server.h"
#include "route/dispatcher.h"
#include "route/tester.h"
#include "store/store.h"

/* A configured token as the API keeps it: the SHA-256 of the token, never
 * the token itself. */
struct hd_api_token {
    char *name;
    unsigned char hash[HD_SHA256_LEN];
    enum hd_scope scope;
};

struct hd_api {
    struct hd_store *st;
    struct hd_dispatcher *disp;
    struct hd_tester *tester;  /* test notifications; set by the caller, may be NULL (tests answer 503) */
    pthread_rwlock_t cfg_lock; /* guards set (SIGHUP swaps it whole) */
    struct hd_api_settings {
        struct hd_api_token *tokens; /* owned */
        size_t n_tokens;
        struct hd_client_identity *identities; /* tls.clientIdentities, copies, owned */
        size_t n_identities;
        int64_t max_backlog;
        int64_t max_events; /* limits.maxEventsPerRequest */
        int metrics_public;
    } set;
    const char *web_dir; /* dashboard assets, may be NULL */
    /* POST /-/reload: reloads the configuration as SIGHUP does (HD_OK, or
     * err says what in the file is wrong); NULL answers 503. */
    int (*reload)(void *ud, struct hd_err *err);
    void *reload_ud;
    volatile int ready; /* store open and serving */
};

int hd_api_init(struct hd_api *api, struct hd_store *st, struct hd_dispatcher *disp,
                const struct hd_config *cfg);
/* Replaces tokens, client identities and limits from a reloaded config (SIGHUP). */
int hd_api_reconfigure(struct hd_api *api, const struct hd_config *cfg);
void hd_api_destroy(struct hd_api *api);
void hd_api_handle(void *api, const struct hd_http_req *req, struct hd_http_resp *resp);
/* The http server's header check (hd_http_check): routes and authorises on the
 * headers alone, so an unknown path, a missing or wrong token or scope is
 * answered before a byte of the body is read. hd_api_handle checks again. */
int hd_api_check(void *api, const struct hd_http_req *req, struct hd_http_resp *resp);

/* Ingest core shared by POST /api/events and tests: splits body into documents
 * (object, array or NDJSON), decodes with format (NULL = detect per document),
 * appends durably. On success ids/accepted are written to resp as 202. */

#endif
