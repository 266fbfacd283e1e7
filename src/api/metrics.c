/* metrics.c - /metrics, /healthz, /readyz and the dashboard's static files.
 *
 * Static files: only "/" (index.html) and "/assets/<path>" are served, from
 * api->web_dir. Every path segment must be [A-Za-z0-9._-] and not start with
 * a dot (no "..", no hidden files), the file is opened with O_NOFOLLOW and
 * must be a regular file: nothing outside web_dir is reachable. These files
 * hold no data, so they are open; every data call the page makes carries a
 * token.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_int.h"
#include "core/metrics.h"
#include "core/util.h"

#define STATIC_MAX_BYTES (32 * 1024 * 1024)
/* The dashboard renders attacker-controlled event text: no inline script or
 * style, nothing from elsewhere, never framed. */
#define HTML_CSP                                                                                             \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "                        \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"

/* Assets served from the charting library's npm install (web/node_modules,
 * made by `npm ci`, never committed): a fixed table, so no request path ever
 * reaches node_modules by itself. */
static const struct {
    const char *url_rel;
    const char *file_rel;
} vendor_assets[] = {
    {"assets/vendor/chart.umd.js", "node_modules/chart.js/dist/chart.umd.js"},
};

/* herald_build_info{version,revision} 1: HD_REVISION is the commit the
 * build was configured from (CMakeLists.txt), "unknown" outside a checkout. */
static int render_build_info(struct hd_buf *o)
{
    int rc = hd_metrics_family(o, "herald_build_info", "gauge");
    if (rc == HD_OK) {
        rc = hd_buf_printf(o, "herald_build_info{version=\"%s\",revision=\"%s\"} 1\n", HD_VERSION,
                           HD_REVISION);
    }
    return rc;
}

void hd_api_metrics(struct hd_api_call *c)
{
    struct hd_buf *o = &c->resp->body;
    hd_buf_reset(o);
    int rc = hd_metrics_render(o);
    if (rc == HD_OK && c->api->disp != NULL) {
        rc = hd_dispatcher_metrics(c->api->disp, hd_now_ms(), o);
    }
    if (rc == HD_OK && c->api->st != NULL) {
        rc = hd_metrics_family(o, "herald_store_max_seq", "gauge");
    }
    if (rc == HD_OK && c->api->st != NULL) {
        rc = hd_buf_printf(o, "herald_store_max_seq %lld\n", (long long)c->api->st->ops->max_seq(c->api->st));
    }
    if (rc == HD_OK) {
        rc = render_build_info(o);
    }
    if (rc == HD_OK) {
        rc = hd_metrics_process(o);
    }
    if (rc != HD_OK) {
        hd_http_error(c->resp, 500, "cannot render metrics");
        return;
    }
    c->resp->status = 200;
    c->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void hd_api_healthz(struct hd_api_call *c)
{
    hd_buf_reset(&c->resp->body);
    hd_buf_puts(&c->resp->body, "{\"status\":\"ok\"}");
    c->resp->status = 200;
}

static void not_ready(struct hd_api_call *c, const char *reason)
{
    hd_http_error(c->resp, 503, "not ready: %s", reason);
    /* Keep the envelope and add status/reason for probes and people. */
    struct hd_buf *o = &c->resp->body;
    if (o->len > 0 && o->p[o->len - 1] == '}') {
        o->len--;
        hd_buf_puts(o, ",\"status\":\"not ready\",\"reason\":");
        hd_buf_json_str(o, reason, strlen(reason));
        hd_buf_putc(o, '}');
    }
    hd_http_resp_header(c->resp, "Retry-After", "5");
}

/* SPEC 4: ready = the listener serves and the store accepts writes (a full
 * disk is not ready). A backlog over limits.maxBacklog is not a reason:
 * ingest answers 429 with Retry-After then, and the API and dashboard must
 * stay reachable behind a load balancer that follows readiness. */
void hd_api_readyz(struct hd_api_call *c)
{
    struct hd_api *api = c->api;
    if (!api->ready || api->st == NULL) {
        not_ready(c, "starting or stopping (store not open or listener not serving)");
        return;
    }
    struct hd_err why = {0};
    if (api->st->ops->writable != NULL && api->st->ops->writable(api->st, &why) != HD_OK) {
        char msg[sizeof(why.msg) + 64];
        snprintf(msg, sizeof(msg), "the store does not accept writes: %s", why.msg);
        not_ready(c, msg);
        return;
    }
    hd_buf_reset(&c->resp->body);
    hd_buf_puts(&c->resp->body, "{\"status\":\"ready\"}");
    c->resp->status = 200;
}

/* ---- static files ---- */

static const char *content_type_of(const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".woff", "font/woff"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    if (dot != NULL) {
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
            if (strcmp(dot, types[i].ext) == 0) {
                return types[i].type;
            }
        }
    }
    return "application/octet-stream";
}

/* 1 if rel is a safe relative path: segments of [A-Za-z0-9._-], none empty
 * or starting with '.'. */
static int safe_rel_path(const char *rel)
{
    if (rel[0] == '\0' || strlen(rel) > 512) {
        return 0;
    }
    int seg_start = 1;
    for (const char *p = rel; *p != '\0'; p++) {
        char ch = *p;
        if (ch == '/') {
            if (seg_start) {
                return 0; /* empty segment or leading '/' */
            }
            seg_start = 1;
            continue;
        }
        if (seg_start && ch == '.') {
            return 0;
        }
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == '-';
        if (!ok) {
            return 0;
        }
        seg_start = 0;
    }
    return !seg_start;
}

/* Reads web_dir/rel into body; HD_ENOTFOUND if absent or not a regular file. */
static int read_static(const char *web_dir, const char *rel, struct hd_buf *body)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", web_dir, rel);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return HD_ENOTFOUND;
    }
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return HD_ENOTFOUND;
    }
    int rc = HD_OK;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = HD_ENOTFOUND;
        goto out;
    }
    if (sb.st_size > STATIC_MAX_BYTES) {
        rc = HD_ETOOBIG;
        goto out;
    }
    hd_buf_reset(body);
    rc = hd_buf_reserve(body, (size_t)sb.st_size);
    if (rc != HD_OK) {
        goto out;
    }
    for (;;) {
        char chunk[16384];
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            rc = HD_EIO;
            break;
        }
        if (r == 0) {
            break;
        }
        if (body->len + (size_t)r > STATIC_MAX_BYTES) {
            rc = HD_ETOOBIG;
            break;
        }
        rc = hd_buf_append(body, chunk, (size_t)r);
        if (rc != HD_OK) {
            break;
        }
    }
out:
    close(fd);
    return rc;
}

static const char fallback_html[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>herald</title></head>\n"
    "<body><h1>herald</h1><p>The dashboard is not built (no web directory with an index.html).</p>\n"
    "<p>The REST API is available under <code>/api/</code>; health at <code>/healthz</code> and "
    "<code>/readyz</code>.</p></body></html>\n";

static void html_headers(struct hd_http_resp *resp)
{
    hd_http_resp_header(resp, "Content-Security-Policy", HTML_CSP);
    hd_http_resp_header(resp, "Cache-Control", "no-cache");
    hd_http_resp_header(resp, "X-Frame-Options", "DENY");
    hd_http_resp_header(resp, "Referrer-Policy", "no-referrer");
}

void hd_api_static(struct hd_api_call *c)
{
    const char *path = c->req->path;
    const char *web_dir = c->api->web_dir;
    int index = strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0;
    const char *rel = index ? "index.html" : path + 1; /* "assets/..." */
    if (!index && !safe_rel_path(rel)) {
        hd_http_error(c->resp, 404, "no such file: %.128s", path);
        return;
    }
    for (size_t i = 0; !index && i < sizeof(vendor_assets) / sizeof(vendor_assets[0]); i++) {
        if (strcmp(rel, vendor_assets[i].url_rel) == 0) {
            rel = vendor_assets[i].file_rel;
            break;
        }
    }
    int rc = web_dir != NULL ? read_static(web_dir, rel, &c->resp->body) : HD_ENOTFOUND;
    if (rc != HD_OK) {
        if (index && rc == HD_ENOTFOUND) {
            hd_buf_reset(&c->resp->body);
            hd_buf_puts(&c->resp->body, fallback_html);
            c->resp->status = 200;
            c->resp->content_type = "text/html; charset=utf-8";
            html_headers(c->resp);
            return;
        }
        hd_http_error(c->resp, rc == HD_ENOTFOUND ? 404 : 500, "%s: %.128s",
                      rc == HD_ENOTFOUND ? "no such file" : "cannot read", path);
        return;
    }
    c->resp->status = 200;
    c->resp->content_type = content_type_of(rel);
    if (index || strncmp(c->resp->content_type, "text/html", 9) == 0) {
        html_headers(c->resp);
    } else {
        /* Asset names carry no content hash: revalidate, so an upgrade shows at once. */
        hd_http_resp_header(c->resp, "Content-Security-Policy", HTML_CSP);
        hd_http_resp_header(c->resp, "Cache-Control", "no-cache");
    }
}
