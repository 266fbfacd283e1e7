/* api.c - routing and auth of the REST API (SPEC section 4).
 *
 * DESIGN: a static route table {method, path pattern, handler, access}
 * (nginx-style, not an if/else chain). A request is matched on its path
 * first (404 if no pattern fits, 405 with Allow if only the method is wrong),
 * then authorised: the SHA-256 of the Bearer token is compared in constant
 * time against the SHA-256 of every configured token (digests of one size:
 * neither where a guess differs nor how long the token is shows in the
 * timing; the loop never exits early, so neither does which one matched),
 * unknown/missing -> 401, known but the scope does not cover the route ->
 * 403. The API keeps only the digests, never a token. The token list and limits are swapped by
 * SIGHUP under cfg_lock; handlers never hold the lock while they work.
 *
 * Client certificates (tls.clientCaFile, for senders such as Falco's
 * http_output that cannot add a header): a request WITHOUT an Authorization
 * header is judged by its connection's certificate instead. One verified
 * against the client CA whose canonical subject (core/dn.h) is listed in
 * tls.clientIdentities has that entry's scope (403 when it does not cover the
 * route, as for a token); a verified certificate not listed -> 401, as an
 * unknown token; one that does not verify (another CA, expired) is no
 * identity -> 401. A request WITH a bearer token is judged by the token alone,
 * whatever certificate its connection has: a wrong token is a 401 even from a
 * listed client, so a token mistake never hides behind a certificate.
 */
#include "api/api.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"
#include "core/log.h"
#include "core/util.h"

enum access {
    ACC_OPEN,   /* no token */
    ACC_READ,   /* GET data: read or admin */
    ACC_INGEST, /* POST /api/events: ingest or admin */
    ACC_ADMIN,  /* changes: admin only */
    ACC_METRICS /* open if metrics.public, else like ACC_READ */
};

struct route {
    const char *method;
    const char *pattern; /* "{id}" = one segment, trailing "*" = the rest (non-empty) */
    void (*fn)(struct hd_api_call *c);
    enum access acc;
};

/* POST /-/reload (SPEC 3): what SIGHUP does, answered with the outcome. */
static void api_reload(struct hd_api_call *c)
{
    if (c->api->reload == NULL) {
        hd_http_error(c->resp, 503, "reload: not available");
        return;
    }
    struct hd_err err = {0};
    if (c->api->reload(c->api->reload_ud, &err) != HD_OK) {
        hd_http_error(c->resp, err.code == HD_ENOMEM ? 500 : 400,
                      "reload failed, the running configuration stays: %s", err.msg);
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "reloaded", json_object_new_boolean(1));
    hd_api_json(c, 200, o);
    json_object_put(o);
}

static const struct route routes[] = {
    {"GET", "/healthz", hd_api_healthz, ACC_OPEN},
    {"GET", "/readyz", hd_api_readyz, ACC_OPEN},
    {"GET", "/metrics", hd_api_metrics, ACC_METRICS},
    {"POST", "/-/reload", api_reload, ACC_ADMIN},
    {"GET", "/", hd_api_static, ACC_OPEN},
    {"GET", "/index.html", hd_api_static, ACC_OPEN},
    {"GET", "/assets/*", hd_api_static, ACC_OPEN},
    {"GET", "/api/notificationChannels", hd_api_channels_list, ACC_READ},
    {"POST", "/api/notificationChannels", hd_api_channel_create, ACC_ADMIN},
    {"GET", "/api/notificationChannels/{id}", hd_api_channel_get, ACC_READ},
    {"PUT", "/api/notificationChannels/{id}", hd_api_channel_update, ACC_ADMIN},
    {"DELETE", "/api/notificationChannels/{id}", hd_api_channel_delete, ACC_ADMIN},
    {"POST", "/api/notificationChannels/{id}/test", hd_api_channel_test, ACC_ADMIN},
    {"POST", "/api/notificationChannels/{id}/replay", hd_api_channel_replay, ACC_ADMIN},
    {"POST", "/api/events", hd_api_events_ingest, ACC_INGEST},
    {"GET", "/api/events", hd_api_events_list, ACC_READ},
    {"GET", "/api/events/{id}", hd_api_event_get, ACC_READ},
    {"GET", "/api/stats", hd_api_stats, ACC_READ},
    {"POST", "/api/silences", hd_api_silence_create, ACC_ADMIN},
    {"GET", "/api/silences", hd_api_silences_list, ACC_READ},
    {"GET", "/api/silences/{id}", hd_api_silence_get, ACC_READ},
    {"DELETE", "/api/silences/{id}", hd_api_silence_expire, ACC_ADMIN},
    {"GET", "/api/channelStatus", hd_api_channel_status, ACC_READ},
    {"GET", "/api/deliveries", hd_api_deliveries_list, ACC_READ},
    {"POST", "/api/deliveries/retry", hd_api_deliveries_retry_channel, ACC_ADMIN},
    {"POST", "/api/deliveries/{id}/retry", hd_api_delivery_retry, ACC_ADMIN},
};

#define ARG_MAX 128

/* 1 if path fits pattern; the {id} segment is copied into arg. */
static int route_match(const char *pat, const char *path, char *arg, size_t argsz)
{
    arg[0] = '\0';
    while (*pat != '\0' && *path != '\0') {
        if (*pat == '*') {
            return 1;
        }
        if (*pat == '{') {
            size_t len = strcspn(path, "/");
            if (len == 0 || len >= argsz) {
                return 0;
            }
            memcpy(arg, path, len);
            arg[len] = '\0';
            path += len;
            pat = strchr(pat, '}');
            if (pat == NULL) {
                return 0;
            }
            pat++;
            continue;
        }
        if (*pat != *path) {
            return 0;
        }
        pat++;
        path++;
    }
    return *pat == '\0' && *path == '\0';
}

static void settings_free(struct hd_api_settings *set)
{
    for (size_t i = 0; i < set->n_tokens; i++) {
        free(set->tokens[i].name);
    }
    for (size_t i = 0; i < set->n_identities; i++) {
        free(set->identities[i].subject);
    }
    free(set->tokens);
    free(set->identities);
    memset(set, 0, sizeof(*set));
}

/* What the API keeps of cfg, swapped whole on SIGHUP: digests of the
 * configured tokens (an empty one is skipped: it would let an empty
 * Authorization header in), the client identities, the limits. */
static int settings_load(const struct hd_config *cfg, struct hd_api_settings *set)
{
    memset(set, 0, sizeof(*set));
    set->max_backlog = cfg->max_backlog;
    set->max_events = cfg->max_events_per_request;
    set->metrics_public = cfg->metrics_public;
    set->tokens = cfg->n_tokens > 0 ? calloc(cfg->n_tokens, sizeof(*set->tokens)) : NULL;
    set->identities =
        cfg->n_client_identities > 0 ? calloc(cfg->n_client_identities, sizeof(*set->identities)) : NULL;
    if ((cfg->n_tokens > 0 && set->tokens == NULL) ||
        (cfg->n_client_identities > 0 && set->identities == NULL)) {
        settings_free(set);
        return HD_ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_tokens; i++) {
        const struct hd_token *src = &cfg->tokens[i];
        if (src->token == NULL || src->token[0] == '\0') {
            hd_log(HD_LOG_WARN, "token '%s' is empty: ignored", src->name != NULL ? src->name : "?");
            continue;
        }
        struct hd_api_token *t = &set->tokens[set->n_tokens++];
        t->name = hd_strdup(src->name != NULL ? src->name : "");
        hd_sha256(src->token, strlen(src->token), t->hash);
        t->scope = src->scope;
        if (t->name == NULL) {
            settings_free(set);
            return HD_ENOMEM;
        }
    }
    for (size_t i = 0; i < cfg->n_client_identities; i++) {
        struct hd_client_identity *id = &set->identities[set->n_identities++];
        id->subject = hd_strdup(cfg->client_identities[i].subject);
        id->scope = cfg->client_identities[i].scope;
        if (id->subject == NULL) {
            settings_free(set);
            return HD_ENOMEM;
        }
    }
    return HD_OK;
}

int hd_api_init(struct hd_api *api, struct hd_store *st, struct hd_dispatcher *disp,
                const struct hd_config *cfg)
{
    memset(api, 0, sizeof(*api));
    api->st = st;
    api->disp = disp;
    int rc = settings_load(cfg, &api->set);
    if (rc != HD_OK) {
        return rc;
    }
    if (pthread_rwlock_init(&api->cfg_lock, NULL) != 0) {
        settings_free(&api->set);
        return HD_ENOMEM;
    }
    api->web_dir = NULL; /* set by the caller (borrowed) */
    api->ready = 0;      /* the caller sets it once the listener serves */
    return HD_OK;
}

int hd_api_reconfigure(struct hd_api *api, const struct hd_config *cfg)
{
    struct hd_api_settings set;
    int rc = settings_load(cfg, &set);
    if (rc != HD_OK) {
        return rc;
    }
    pthread_rwlock_wrlock(&api->cfg_lock);
    struct hd_api_settings old = api->set;
    api->set = set;
    pthread_rwlock_unlock(&api->cfg_lock);
    settings_free(&old);
    return HD_OK;
}

void hd_api_destroy(struct hd_api *api)
{
    if (api == NULL) {
        return;
    }
    settings_free(&api->set);
    pthread_rwlock_destroy(&api->cfg_lock);
}

/* The presented token (after "Bearer "), or NULL. */
static const char *bearer(const struct hd_http_req *req, size_t *len)
{
    const char *h = hd_http_header(req, "Authorization");
    if (h == NULL) {
        return NULL;
    }
    while (*h == ' ' || *h == '\t') {
        h++;
    }
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) {
        return NULL;
    }
    h += 6;
    while (*h == ' ' || *h == '\t') {
        h++;
    }
    size_t n = strlen(h);
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t')) {
        n--;
    }
    if (n == 0) {
        return NULL;
    }
    *len = n;
    return h;
}

/* Caller holds cfg_lock. Returns the matching token's index or -1; every
 * configured token's digest is compared whatever the outcome. */
static long find_token(const struct hd_api *api, const char *tok, size_t len)
{
    unsigned char h[HD_SHA256_LEN];
    hd_sha256(tok, len, h);
    long found = -1;
    for (size_t i = 0; i < api->set.n_tokens; i++) {
        int eq = hd_ct_equal(api->set.tokens[i].hash, h, sizeof(h));
        long mask = -(long)(eq & (found < 0)); /* all ones when this is the first match */
        found = (found & ~mask) | ((long)i & mask);
    }
    return found;
}

static int scope_allows(enum hd_scope s, enum access acc)
{
    if (s == HD_SCOPE_ADMIN) {
        return 1;
    }
    if (s == HD_SCOPE_INGEST) {
        return acc == ACC_INGEST;
    }
    if (s == HD_SCOPE_READ) {
        return acc == ACC_READ || acc == ACC_METRICS;
    }
    return 0;
}

/* Who a request authenticates as: its token, else its client certificate. */
struct caller {
    const char *tok; /* the bearer token presented, or NULL */
    size_t tok_len;
    enum hd_http_peer peer; /* without a token: the certificate */
    const char *subject;    /* HD_PEER_VERIFIED: canonical subject */
    const char *why;        /* HD_PEER_UNTRUSTED: why not */
};

/* Caller holds cfg_lock. The index of the identity listing subject, or -1. */
static long find_identity(const struct hd_api *api, const char *subject)
{
    for (size_t i = 0; subject != NULL && i < api->set.n_identities; i++) {
        if (strcmp(api->set.identities[i].subject, subject) == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* A refused certificate gets a log line (its client, often Falco, shows no
 * answer body), at most one per 10 s so that a flood does not flood the log. */
static void log_refused_certificate(const struct caller *who)
{
    static _Atomic int64_t last_ms;
    int64_t now = hd_mono_ms();
    int64_t prev = atomic_load(&last_ms);
    if ((prev != 0 && now - prev < 10000) || !atomic_compare_exchange_strong(&last_ms, &prev, now)) {
        return;
    }
    if (who->peer == HD_PEER_VERIFIED) {
        hd_log(HD_LOG_WARN,
               "api: client certificate '%s' is not in tls.clientIdentities: request refused (401)",
               who->subject);
    } else {
        hd_log(HD_LOG_WARN, "api: client certificate refused, %s: request without a token refused (401)",
               who->why);
    }
}

static void answer_401(struct hd_api_call *c, const struct caller *who)
{
    if (who->tok != NULL) {
        hd_http_error(c->resp, 401, "unknown token");
    } else if (who->peer == HD_PEER_VERIFIED) {
        hd_http_error(c->resp, 401, "client certificate subject '%.300s' is not in tls.clientIdentities",
                      who->subject);
    } else if (who->peer == HD_PEER_UNTRUSTED) {
        hd_http_error(c->resp, 401, "client certificate refused (%s) and no bearer token", who->why);
    } else {
        hd_http_error(c->resp, 401, "missing bearer token (Authorization: Bearer <token>)");
    }
    if (who->tok == NULL && who->peer != HD_PEER_NONE) {
        log_refused_certificate(who);
    }
    hd_http_resp_header(c->resp, "WWW-Authenticate", "Bearer realm=\"herald\"");
}

/* 1 if the request may proceed; otherwise the 401/403 answer is written. */
static int authorise(struct hd_api_call *c, enum access acc)
{
    struct hd_api *api = c->api;
    struct caller who = {.tok = NULL};
    pthread_rwlock_rdlock(&api->cfg_lock);
    c->max_backlog = api->set.max_backlog;
    c->max_events = api->set.max_events;
    /* checked: hd_api_check authorised these very headers already (one token
     * compare per request on the ingest path, not two). */
    int open = acc == ACC_OPEN || (acc == ACC_METRICS && api->set.metrics_public) || c->req->checked;
    pthread_rwlock_unlock(&api->cfg_lock);
    if (open) {
        return 1;
    }
    who.tok = bearer(c->req, &who.tok_len);
    if (who.tok == NULL) {
        /* Verifies the certificate at the connection's first request (not
         * under the lock: it is a signature check). */
        who.peer = hd_http_peer(c->req, &who.subject, &who.why);
    }
    pthread_rwlock_rdlock(&api->cfg_lock);
    long idx = -1;
    enum hd_scope scope = HD_SCOPE_READ;
    if (who.tok != NULL) {
        idx = find_token(api, who.tok, who.tok_len);
        scope = idx >= 0 ? api->set.tokens[idx].scope : scope;
    } else if (who.peer == HD_PEER_VERIFIED) {
        idx = find_identity(api, who.subject);
        scope = idx >= 0 ? api->set.identities[idx].scope : scope;
    }
    pthread_rwlock_unlock(&api->cfg_lock);
    if (idx < 0) {
        answer_401(c, &who);
        return 0;
    }
    if (!scope_allows(scope, acc)) {
        if (who.tok != NULL) {
            hd_http_error(c->resp, 403, "token scope '%s' does not allow %s %s", hd_scope_name(scope),
                          c->req->method, c->req->path);
        } else {
            hd_http_error(c->resp, 403, "client certificate '%.300s' (scope '%s') does not allow %s %s",
                          who.subject, hd_scope_name(scope), c->req->method, c->req->path);
        }
        return 0;
    }
    return 1;
}

/* A request matched against the route table. */
struct resolved {
    char path[1024]; /* req->path without trailing '/' */
    char arg[ARG_MAX];
    const struct route *rt;
};

/* Finds the route of req; NULL after writing 404 (no such path) or 405 (and
 * Allow) into resp. */
static const struct route *resolve(const struct hd_http_req *req, struct hd_http_resp *resp,
                                   struct resolved *r)
{
    size_t pl = strlen(req->path != NULL ? req->path : "");
    r->rt = NULL;
    r->path[0] = '\0';
    if (pl == 0 || pl >= sizeof(r->path)) {
        hd_http_error(resp, 404, "no such path");
        return NULL;
    }
    memcpy(r->path, req->path, pl + 1);
    /* "/api/events/" and "/api/events" are the same resource. */
    while (pl > 1 && r->path[pl - 1] == '/') {
        r->path[--pl] = '\0';
    }
    const char *method = req->method;
    if (strcmp(method, "HEAD") == 0) {
        method = "GET"; /* MHD drops the body of a HEAD answer */
    }
    char allow[64] = "";
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!route_match(routes[i].pattern, r->path, r->arg, sizeof(r->arg))) {
            continue;
        }
        if (strcmp(routes[i].method, method) == 0) {
            r->rt = &routes[i];
            break;
        }
        size_t al = strlen(allow);
        if (strstr(allow, routes[i].method) == NULL) {
            snprintf(allow + al, sizeof(allow) - al, "%s%s", al > 0 ? ", " : "", routes[i].method);
        }
    }
    if (r->rt == NULL) {
        if (allow[0] != '\0') {
            hd_http_error(resp, 405, "method %s not allowed on %s (allowed: %s)", req->method, r->path,
                          allow);
            hd_http_resp_header(resp, "Allow", allow);
        } else {
            hd_http_error(resp, 404, "no such path: %s", r->path);
        }
        return NULL;
    }
    /* route_match left arg for the last pattern tried: redo it for this one. */
    route_match(r->rt->pattern, r->path, r->arg, sizeof(r->arg));
    resp->route = r->rt->pattern; /* the metrics' label: a pattern, never the raw path */
    return r->rt;
}

int hd_api_check(void *ud, const struct hd_http_req *req, struct hd_http_resp *resp)
{
    struct resolved r;
    if (resolve(req, resp, &r) == NULL) {
        return 0;
    }
    struct hd_api_call call = {.api = ud, .req = req, .resp = resp, .arg = r.arg};
    return authorise(&call, r.rt->acc);
}

void hd_api_handle(void *ud, const struct hd_http_req *req, struct hd_http_resp *resp)
{
    struct hd_api *api = ud;
    int64_t t0 = hd_mono_ms();
    struct resolved r;
    if (resolve(req, resp, &r) == NULL) {
        goto out;
    }
    struct hd_api_call call = {.api = api, .req = req, .resp = resp, .arg = r.arg};
    struct hd_http_req nreq = *req;
    nreq.path = r.path;
    call.req = &nreq;
    if (!authorise(&call, r.rt->acc)) {
        goto out;
    }
    resp->status = 200;
    r.rt->fn(&call);
out:
    hd_log(HD_LOG_DEBUG, "http %s %s -> %d (%lld ms)", req->method, r.path, resp->status,
           (long long)(hd_mono_ms() - t0));
}

/* ---- helpers shared by the handlers ---- */

json_object *hd_api_body_json(struct hd_api_call *c)
{
    struct hd_err err = {0};
    if (c->req->body_len == 0) {
        hd_http_error(c->resp, 400, "request body: empty (expected JSON)");
        return NULL;
    }
    json_object *o = hd_json_parse(c->req->body, c->req->body_len, &err);
    if (o == NULL) {
        hd_http_error(c->resp, 400, "request body: %s", err.msg);
    }
    return o;
}

int hd_api_query_i64(struct hd_api_call *c, const char *key, int64_t def, int64_t *out)
{
    const char *v = hd_http_query(c->req, key);
    if (v == NULL || v[0] == '\0') {
        *out = def;
        return HD_OK;
    }
    int64_t n = 0;
    if (hd_parse_i64(v, &n) != HD_OK) {
        hd_http_error(c->resp, 400, "%s: '%.64s' is not an integer", key, v);
        return HD_EINVAL;
    }
    *out = n;
    return HD_OK;
}

int hd_api_query_limit(struct hd_api_call *c, size_t def, size_t max, size_t *out)
{
    int64_t n = 0;
    if (hd_api_query_i64(c, "limit", (int64_t)def, &n) != HD_OK) {
        return HD_EINVAL;
    }
    if (n < 1) {
        hd_http_error(c->resp, 400, "limit: must be at least 1");
        return HD_EINVAL;
    }
    *out = (uint64_t)n > max ? max : (size_t)n;
    return HD_OK;
}

void hd_api_fail(struct hd_api_call *c, int rc, const struct hd_err *err, const char *what)
{
    const char *msg = (err != NULL && err->msg[0] != '\0') ? err->msg : hd_strerror(rc);
    int status = 500;
    switch (rc) {
    case HD_ENOTFOUND: status = 404; break;
    case HD_ECONFLICT: status = 409; break;
    case HD_EINVAL: status = 400; break;
    case HD_ETOOBIG: status = 413; break;
    case HD_EBUSY: status = 429; break;
    case HD_EIO: status = 503; break;
    default: status = 500; break;
    }
    if (what != NULL && what[0] != '\0') {
        hd_http_error(c->resp, status, "%s: %s", what, msg);
    } else {
        hd_http_error(c->resp, status, "%s", msg);
    }
    if (status == 429 || status == 503) {
        hd_http_resp_header(c->resp, "Retry-After", "5");
    }
    if (status >= 500) {
        hd_log(HD_LOG_ERROR, "api %s %s: %s%s%s", c->req->method, c->req->path, what ? what : "",
               what ? ": " : "", msg);
    }
}

void hd_api_json(struct hd_api_call *c, int status, json_object *o)
{
    hd_api_json_resp(c->resp, status, o);
}

void hd_api_json_resp(struct hd_http_resp *resp, int status, json_object *o)
{
    hd_buf_reset(&resp->body);
    if (hd_json_append(o, &resp->body) != HD_OK) {
        hd_http_error(resp, 500, "out of memory");
        return;
    }
    resp->status = status;
    resp->content_type = "application/json";
}

int64_t hd_api_parse_id(const char *s)
{
    int64_t id = 0;
    if (s == NULL || hd_parse_i64(s, &id) != HD_OK || id <= 0) {
        return 0;
    }
    return id;
}
