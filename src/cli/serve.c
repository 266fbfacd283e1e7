/* serve.c - `herald serve`: wires config, store, dispatcher, API and signals.
 *
 * DESIGN: every signal is blocked before any thread starts; this thread then
 * waits in sigtimedwait and is the only one reacting to them: SIGHUP reloads
 * the config (tokens, limits, config-declared channels, log settings, the
 * denied destinations) while the listener keeps serving, SIGTERM/SIGINT stop
 * gracefully (quiesce the listener, finish in-flight requests, stop the
 * dispatcher, close the store).
 * The same loop prunes the event log on a timer (retention).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "channel/channel.h"
#include "channel/email.h"
#include "cli/commands.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "input/decoder.h"
#include "watch/watch.h"
#include "json/json.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "route/dispatcher.h"
#include "store/store.h"

struct serve_flags {
    const char *config;
    const char *listen;
    const char *data;
    const char *store;
    const char *log_format;
};

/* The dashboard's directory: HERALD_WEB_DIR, else web.dir from the config,
 * else the source tree's web/ (a build run from its tree), else
 * <prefix>/share/herald/web beside the installed binary (<prefix>/bin/herald).
 * Resolved once at start into out; "" when none holds an index.html (the API
 * then serves a short fallback page). */
static void resolve_web_dir(const struct hd_config *cfg, char *out, size_t cap)
{
    char cand[4][4096];
    size_t nc = 0;
    const char *env = getenv("HERALD_WEB_DIR");
    if (env != NULL && env[0] != '\0') {
        snprintf(cand[nc++], sizeof(cand[0]), "%s", env);
    } else if (cfg->web_dir != NULL && cfg->web_dir[0] != '\0') {
        snprintf(cand[nc++], sizeof(cand[0]), "%s", cfg->web_dir);
    }
    int explicit_dir = nc > 0;
#ifdef HD_SOURCE_DIR
    snprintf(cand[nc++], sizeof(cand[0]), "%s/web", HD_SOURCE_DIR);
#endif
    char exe[2048]; /* shorter than a candidate: the suffix always fits */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0'; /* <prefix>/bin */
            snprintf(cand[nc++], sizeof(cand[0]), "%s/../share/herald/web", exe);
        }
    }
    out[0] = '\0';
    for (size_t i = 0; i < nc; i++) {
        char index[4200];
        struct stat sb;
        snprintf(index, sizeof(index), "%s/index.html", cand[i]);
        if (stat(index, &sb) == 0 && S_ISREG(sb.st_mode)) {
            snprintf(out, cap, "%s", cand[i]);
            return;
        }
        if (i == 0 && explicit_dir) {
            hd_log(HD_LOG_WARN, "dashboard: %s has no index.html, looking elsewhere", cand[i]);
        }
    }
}

/* Watchers hand durable events to the dispatcher through this. */
static void watch_stored(void *ctx)
{
    hd_dispatcher_wakeup(ctx);
}

/* A shared store tells what other replicas did (SPEC 9). */
static void store_changed(void *ctx, enum hd_store_change what)
{
    if (what == HD_STORE_CHANGED_CHANNELS) {
        hd_dispatcher_channels_changed(ctx);
    } else {
        hd_dispatcher_wakeup(ctx);
    }
}

/* Starts the enabled watchers (inputs.*), after the dispatcher. */
static int start_watchers(const struct hd_config *cfg, struct hd_store *st, struct hd_dispatcher *disp,
                          struct hd_watcher **k8s, struct hd_watcher **docker, struct hd_err *err)
{
    struct hd_watch_host host = {.store = st, .stored = watch_stored, .ctx = disp};
    if (cfg->k8s_enabled) {
        struct hd_k8s_watch_config kc = {.api_server = cfg->k8s_api_server,
                                         .token_file = cfg->k8s_token_file,
                                         .ca_file = cfg->k8s_ca_file,
                                         .ns = cfg->k8s_namespace,
                                         .field_selector = cfg->k8s_field_selector,
                                         .max_event_age_ms = cfg->k8s_max_event_age_ms};
        *k8s = hd_k8s_watch_start(&kc, &host, err);
        if (*k8s == NULL) {
            return err->code ? err->code : HD_EINVAL;
        }
    }
    if (cfg->docker_enabled) {
        struct hd_docker_watch_config dc = {.socket = cfg->docker_socket,
                                            .url = cfg->docker_url,
                                            .ca_file = cfg->docker_ca_file,
                                            .cert_file = cfg->docker_cert_file,
                                            .key_file = cfg->docker_key_file,
                                            .filters = cfg->docker_filters};
        *docker = hd_docker_watch_start(&dc, &host, err);
        if (*docker == NULL) {
            return err->code ? err->code : HD_EINVAL;
        }
    }
    return HD_OK;
}

static void serve_usage(FILE *f)
{
    fputs("usage: herald serve [--config FILE] [--listen HOST:PORT] [--data DIR] [--store URL]\n"
          "                    [--log-format text|json]\n\n"
          "Runs the daemon. Defaults: listen 127.0.0.1:8080, data ./herald-data, store sqlite\n"
          "(in the data dir). Environment: HERALD_LISTEN, HERALD_DATA, HERALD_STORE,\n"
          "HERALD_ADMIN_TOKEN, HERALD_LOG_FORMAT. Flags override the file, which overrides\n"
          "defaults. SIGHUP reloads the file; SIGTERM stops gracefully.\n",
          f);
}

static int load_config(const struct serve_flags *fl, struct hd_config *cfg, struct hd_err *err)
{
    hd_config_defaults(cfg);
    if (fl->config != NULL && hd_config_load_file(cfg, fl->config, err) != HD_OK) {
        return err->code ? err->code : HD_EINVAL;
    }
    if (hd_config_apply_env(cfg, err) != HD_OK) {
        return err->code ? err->code : HD_EINVAL;
    }
    int rc = HD_OK;
    if (fl->listen != NULL) {
        rc = hd_config_set_str(&cfg->listen, fl->listen);
    }
    if (rc == HD_OK && fl->data != NULL) {
        rc = hd_config_set_str(&cfg->data_dir, fl->data);
    }
    if (rc == HD_OK && fl->store != NULL) {
        rc = hd_config_set_str(&cfg->store_url, fl->store);
    }
    if (rc == HD_OK && fl->log_format != NULL) {
        rc = hd_config_set_str(&cfg->log_format, fl->log_format);
    }
    if (rc != HD_OK) {
        return hd_err_set(err, rc, "out of memory");
    }
    if (cfg->log_format != NULL && strcmp(cfg->log_format, "text") != 0 &&
        strcmp(cfg->log_format, "json") != 0) {
        return hd_err_set(err, HD_EINVAL, "log format: '%s' is not text or json", cfg->log_format);
    }
    return HD_OK;
}

static void apply_log_settings(const struct hd_config *cfg)
{
    hd_log_set_format_json(cfg->log_format != NULL && strcmp(cfg->log_format, "json") == 0);
    static const char *levels[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (cfg->log_level != NULL && strcmp(cfg->log_level, levels[i]) == 0) {
            hd_log_set_level(i);
        }
    }
}

/* security.denyDestinations (net/http_client.h): at start and on SIGHUP,
 * logged so the operator sees what deliveries may not reach. */
static void apply_security_settings(const struct hd_config *cfg)
{
    const struct hd_cidr_list *l = &cfg->deny_destinations;
    char list[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < l->n; i++) {
        char block[HD_CIDR_TEXT_MAX];
        hd_cidr_format(&l->v[i], block, sizeof(block));
        if (used + strlen(block) + 8 >= sizeof(list)) {
            snprintf(list + used, sizeof(list) - used, ", ...");
            break;
        }
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i > 0 ? ", " : "", block);
    }
    hd_http_set_denied(l);
    hd_log(HD_LOG_INFO, "security.denyDestinations: %s",
           l->n > 0 ? list : "none (every destination allowed)");
}

static int mkdir_p(const char *dir, struct hd_err *err)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path)) {
        return hd_err_set(err, HD_EINVAL, "data dir: bad path");
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            char c = path[i];
            path[i] = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST) {
                return hd_err_set(err, HD_EIO, "data dir: cannot create %s: %s", path, strerror(errno));
            }
            path[i] = c;
        }
    }
    return HD_OK;
}

/* SPEC section 4: with no token configured, the first start generates an
 * admin token, stores it 0600 in the data dir and prints it once. */
static int ensure_admin_token(struct hd_config *cfg, struct hd_err *err)
{
    if (cfg->n_tokens > 0) {
        return HD_OK;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/admin.token", cfg->data_dir);
    char tok[65] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = read(fd, tok, sizeof(tok) - 1);
        close(fd);
        if (r <= 0) {
            return hd_err_set(err, HD_EIO, "cannot read %s", path);
        }
        tok[r] = '\0';
        tok[strcspn(tok, "\r\n")] = '\0';
        if (tok[0] == '\0') {
            return hd_err_set(err, HD_EINVAL, "%s is empty: delete it to generate a new token", path);
        }
        if (strlen(tok) < HD_TOKEN_MIN_LEN) {
            return hd_err_set(err, HD_EINVAL,
                              "%s: the token is too short: tokens must be at least %d characters long "
                              "(delete the file to generate a new token)",
                              path, HD_TOKEN_MIN_LEN);
        }
        return hd_config_add_token(cfg, "generated-admin", tok, HD_SCOPE_ADMIN);
    }
    unsigned char rnd[32];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        return hd_err_set(err, HD_EIO, "getrandom failed: %s", strerror(errno));
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(rnd); i++) {
        tok[2 * i] = hex[rnd[i] >> 4];
        tok[2 * i + 1] = hex[rnd[i] & 15];
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return hd_err_set(err, HD_EIO, "cannot create %s: %s", path, strerror(errno));
    }
    size_t len = strlen(tok);
    int ok = write(fd, tok, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        return hd_err_set(err, HD_EIO, "cannot write %s", path);
    }
    /* Printed once, on stdout (the log on stderr never holds it). */
    printf("herald: generated an admin token, stored in %s (mode 0600):\n%s\n", path, tok);
    fflush(stdout);
    hd_log(HD_LOG_INFO, "generated an admin token in %s", path);
    return hd_config_add_token(cfg, "generated-admin", tok, HD_SCOPE_ADMIN);
}

/* Channels declared in the config are upserted by name and marked
 * managedBy=config. A channel whose stored object is unchanged is left alone
 * (its version does not move on every restart). */
static int upsert_config_channels(struct hd_store *st, const char *channels_json, struct hd_err *err)
{
    int rc = HD_OK;
    json_object *arr = hd_cli_config_channels(channels_json, err);
    if (arr == NULL) {
        return HD_EINVAL;
    }
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n && rc == HD_OK; i++) {
        json_object *obj = json_object_array_get_idx(arr, i);
        json_object_object_del(obj, "id");
        json_object_object_del(obj, "version");
        json_object_object_del(obj, "createdOn");
        json_object_object_del(obj, "modifiedOn");
        json_object_object_del(obj, "managedBy");
        if (!json_object_object_get_ex(obj, "enabled", NULL)) {
            json_object_object_add(obj, "enabled", json_object_new_boolean(1));
        }
        struct hd_buf text;
        hd_buf_init(&text, 0);
        hd_json_append(obj, &text);
        struct hd_channel_rec in = {
            .name = (char *)hd_json_get_str(obj, "name"),
            .type = (char *)hd_json_get_str(obj, "type"),
            .enabled = hd_json_get_bool(obj, "enabled", 1) == 1,
            .managed_by = "config",
            .json = text.p,
        };
        struct hd_channel_rec cur = {0}, out = {0};
        int64_t now = hd_now_ms();
        int g = st->ops->channel_get_by_name(st, in.name, &cur, NULL);
        if (g == HD_OK) {
            if (cur.json == NULL || strcmp(cur.json, text.p) != 0 || cur.managed_by == NULL) {
                rc = st->ops->channel_update(
                    st, (struct hd_channel_ref){.id = cur.id, .version = cur.version}, &in, now, &out, err);
                if (rc == HD_OK) {
                    hd_log(HD_LOG_INFO, "channel=%s id=%lld updated from the config (version %lld)", in.name,
                           (long long)out.id, (long long)out.version);
                }
            }
        } else if (g == HD_ENOTFOUND) {
            rc = st->ops->channel_create(st, &in, now, &out, err);
            if (rc == HD_OK) {
                hd_log(HD_LOG_INFO, "channel=%s id=%lld created from the config", in.name, (long long)out.id);
            }
        } else {
            rc = hd_err_set(err, g, "channels[%zu]: cannot read the store", i);
        }
        hd_channel_rec_clear(&cur);
        hd_channel_rec_clear(&out);
        hd_buf_free(&text);
    }
    json_object_put(arr);
    return rc;
}

/* What `herald serve` started, in start order; serve_stop undoes it in
 * reverse, whatever part of it is there. Lives on hd_cmd_serve's stack for
 * the whole run (api.web_dir points into it). */
struct serve {
    struct serve_flags fl;
    struct hd_config cfg;
    sigset_t sigs; /* blocked in every thread; this one waits for them */
    struct hd_store *st;
    struct hd_dispatcher *disp;
    struct hd_tester *tester;
    struct hd_watcher *k8s_watch;
    struct hd_watcher *docker_watch;
    struct hd_api api;
    int api_ok;
    char web_dir[4096];
    struct hd_http_server *srv;
    pthread_mutex_t cfg_mu; /* one reload at a time (SIGHUP, POST /-/reload); cfg with it */
};

static int serve_reload(void *ud, struct hd_err *err);

/* Parses argv into *fl. Returns -1 to go on, else the exit status. */
static int parse_flags(int argc, char **argv, struct serve_flags *fl)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"data", required_argument, NULL, 'd'},
                                         {"store", required_argument, NULL, 's'},
                                         {"log-format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, "c:l:d:s:f:h", opts, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case 'c': fl->config = optarg; break;
        case 'l': fl->listen = optarg; break;
        case 'd': fl->data = optarg; break;
        case 's': fl->store = optarg; break;
        case 'f': fl->log_format = optarg; break;
        case 'h': serve_usage(stdout); return 0;
        default: serve_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "herald serve: unexpected argument '%s'\n", argv[optind]);
        serve_usage(stderr);
        return 2;
    }
    return -1;
}

/* The configuration, the log and SMTP settings, the signals (blocked before
 * any thread starts), and what the data dir needs before the store opens. */
static int serve_prepare(struct serve *s, struct hd_err *err)
{
    if (load_config(&s->fl, &s->cfg, err) != HD_OK) {
        fprintf(stderr, "herald serve: %s\n", err->msg);
        return err->code ? err->code : HD_EINVAL;
    }
    apply_log_settings(&s->cfg);
    if (hd_cli_apply_smtp(&s->cfg, err) != HD_OK) {
        fprintf(stderr, "herald serve: %s\n", err->msg);
        return err->code;
    }
    apply_security_settings(&s->cfg);
    sigemptyset(&s->sigs);
    sigaddset(&s->sigs, SIGTERM);
    sigaddset(&s->sigs, SIGINT);
    sigaddset(&s->sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &s->sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (hd_channel_registry_check(err) != HD_OK || hd_decoder_registry_check(err) != HD_OK) {
        hd_log(HD_LOG_ERROR, "registry: %s", err->msg);
        return HD_EINVAL;
    }
    if (mkdir_p(s->cfg.data_dir, err) != HD_OK || ensure_admin_token(&s->cfg, err) != HD_OK) {
        hd_log(HD_LOG_ERROR, "%s", err->msg);
        return err->code ? err->code : HD_EIO;
    }
    return HD_OK;
}

/* The API and the listener, last: the daemon is ready once they run. */
static int serve_listen(struct serve *s, struct hd_err *err)
{
    if (hd_api_init(&s->api, s->st, s->disp, &s->cfg) != HD_OK) {
        hd_log(HD_LOG_ERROR, "while starting the API");
        return HD_EIO;
    }
    s->api_ok = 1;
    s->api.tester = s->tester;
    s->api.reload = serve_reload;
    s->api.reload_ud = s;
    resolve_web_dir(&s->cfg, s->web_dir, sizeof(s->web_dir));
    s->api.web_dir = s->web_dir[0] != '\0' ? s->web_dir : NULL;
    hd_log(HD_LOG_INFO, "dashboard: %s",
           s->web_dir[0] != '\0' ? s->web_dir : "no assets found (fallback page)");
    struct hd_http_server_opts so = {
        .listen = s->cfg.listen,
        .max_body = (size_t)s->cfg.max_body_bytes,
        .body_budget = (size_t)s->cfg.max_bytes_in_flight,
        .check = hd_api_check,
        .max_connections = (unsigned)s->cfg.max_connections,
        .max_connections_ip = (unsigned)s->cfg.max_connections_per_ip,
        .header_timeout_ms = (long)s->cfg.header_timeout_ms,
        .tls_cert_file = s->cfg.tls_cert_file,
        .tls_key_file = s->cfg.tls_key_file,
        .tls_client_ca_file = s->cfg.tls_client_ca_file,
    };
    s->srv = hd_http_server_start(&so, hd_api_handle, &s->api, err);
    if (s->srv == NULL) {
        hd_log(HD_LOG_ERROR, "while listening on %s: %s", s->cfg.listen, err->msg);
        return err->code ? err->code : HD_EIO;
    }
    s->api.ready = 1;
    hd_log(HD_LOG_INFO, "herald %s listening on %s (port %u), data %s, store %s", HD_VERSION, s->cfg.listen,
           (unsigned)hd_http_server_port(s->srv), s->cfg.data_dir, s->st->ops->name);
    return HD_OK;
}

/* Starts everything in order: store, config channels, dispatcher, watchers,
 * API and listener. On failure the error is logged and serve_stop undoes
 * what started. */
static int serve_start(struct serve *s)
{
    struct hd_err err = {0};
    int rc = serve_prepare(s, &err);
    if (rc != HD_OK) {
        return rc;
    }
    s->st = hd_store_open(s->cfg.store_url, s->cfg.data_dir, &err);
    if (s->st == NULL) {
        hd_log(HD_LOG_ERROR, "while opening the store: %s", err.msg);
        return HD_EIO;
    }
    if (upsert_config_channels(s->st, s->cfg.channels_json ? s->cfg.channels_json : "[]", &err) != HD_OK) {
        hd_log(HD_LOG_ERROR, "config: %s", err.msg);
        return HD_EINVAL;
    }
    struct hd_dispatch_config dc;
    hd_dispatch_config_defaults(&dc);
    dc.retry_initial_ms = s->cfg.delivery_retry_initial_ms;
    dc.retry_max_ms = s->cfg.delivery_retry_max_ms;
    dc.max_retry_age_ms = s->cfg.delivery_max_retry_age_ms;
    dc.breaker_threshold = s->cfg.delivery_breaker_threshold;
    s->disp = hd_dispatcher_new(s->st, &dc, &err);
    if (s->disp == NULL || hd_dispatcher_start(s->disp) != HD_OK) {
        hd_log(HD_LOG_ERROR, "while starting the dispatcher: %s", err.msg);
        return HD_EIO;
    }
    hd_store_on_change(s->st, store_changed, s->disp);
    s->tester = hd_tester_new(HD_TESTS_MAX, &err);
    if (s->tester == NULL || hd_tester_start(s->tester) != HD_OK) {
        hd_log(HD_LOG_ERROR, "while starting the test notifications: %s", err.msg);
        return HD_EIO;
    }
    if (start_watchers(&s->cfg, s->st, s->disp, &s->k8s_watch, &s->docker_watch, &err) != HD_OK) {
        hd_log(HD_LOG_ERROR, "while starting the watchers: %s", err.msg);
        return HD_EIO;
    }
    return serve_listen(s, &err);
}

/* 1 if two optional settings differ (NULL = not set). */
static int setting_changed(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* SIGHUP: reloads the file; a configuration that does not load leaves the
 * running one in place. listen, dataDir and the listener's TLS files
 * (certFile, keyFile, clientCaFile: libmicrohttpd reads them once) wait for
 * the next start; tls.clientIdentities, like the tokens, apply at once. */
static int serve_reload_locked(struct serve *s, struct hd_err *rerr)
{
    struct hd_config ncfg;
    if (load_config(&s->fl, &ncfg, rerr) != HD_OK || ensure_admin_token(&ncfg, rerr) != HD_OK ||
        hd_cli_apply_smtp(&ncfg, rerr) != HD_OK ||
        upsert_config_channels(s->st, ncfg.channels_json ? ncfg.channels_json : "[]", rerr) != HD_OK) {
        hd_log(HD_LOG_ERROR, "reload failed, keeping the running configuration: %s", rerr->msg);
        hd_cli_apply_smtp(&s->cfg, rerr);
        hd_config_free(&ncfg);
        return rerr->code != HD_OK ? rerr->code : HD_EINVAL;
    }
    hd_api_reconfigure(&s->api, &ncfg);
    hd_dispatcher_channels_changed(s->disp);
    apply_log_settings(&ncfg);
    apply_security_settings(&ncfg);
    if (strcmp(ncfg.listen, s->cfg.listen) != 0 || strcmp(ncfg.data_dir, s->cfg.data_dir) != 0) {
        hd_log(HD_LOG_WARN, "reload: listen and dataDir changes take effect at the next start");
    }
    if (setting_changed(ncfg.tls_cert_file, s->cfg.tls_cert_file) ||
        setting_changed(ncfg.tls_key_file, s->cfg.tls_key_file) ||
        setting_changed(ncfg.tls_client_ca_file, s->cfg.tls_client_ca_file)) {
        hd_log(HD_LOG_WARN,
               "reload: tls.certFile, keyFile and clientCaFile changes take effect at the next start");
    }
    hd_config_free(&s->cfg);
    s->cfg = ncfg;
    hd_log(HD_LOG_INFO, "configuration reloaded");
    return HD_OK;
}

static int serve_reload(void *ud, struct hd_err *err)
{
    struct serve *s = ud;
    pthread_mutex_lock(&s->cfg_mu);
    int rc = serve_reload_locked(s, err);
    pthread_mutex_unlock(&s->cfg_mu);
    return rc;
}

/* Retention: prunes delivered events past the configured age or size. */
static void serve_prune(struct serve *s)
{
    size_t deleted = 0;
    struct hd_err perr = {0};
    pthread_mutex_lock(&s->cfg_mu);
    int64_t max_age = s->cfg.retention_max_age_ms, max_bytes = s->cfg.retention_max_bytes;
    pthread_mutex_unlock(&s->cfg_mu);
    if (s->st->ops->prune(s->st, max_age, max_bytes, &deleted, &perr) != HD_OK) {
        hd_log(HD_LOG_WARN, "retention: %s", perr.msg);
    } else if (deleted > 0) {
        hd_log(HD_LOG_INFO, "retention: pruned %zu delivered events", deleted);
    }
}

/* The signal loop, until SIGTERM or SIGINT: SIGHUP reloads, and every
 * minute (first after 10 s) the retention runs. */
static void serve_run(struct serve *s)
{
    int64_t next_prune = hd_mono_ms() + 10000;
    for (;;) {
        struct timespec ts = {.tv_sec = 1, .tv_nsec = 0};
        int sig = sigtimedwait(&s->sigs, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            hd_log(HD_LOG_INFO, "received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        if (sig == SIGHUP) {
            struct hd_err rerr = {0};
            (void)serve_reload(s, &rerr); /* logged either way */
            continue;
        }
        if (hd_mono_ms() >= next_prune) {
            serve_prune(s);
            next_prune = hd_mono_ms() + 60000;
        }
    }
}

/* Stops what serve_start started, in reverse: the listener first (after
 * in-flight requests finish, on a clean stop), the watchers before the
 * dispatcher (they wake it), the store last. */
static void serve_stop(struct serve *s, int status)
{
    if (status == 0) {
        s->api.ready = 0;
        hd_http_server_quiesce(s->srv);
    }
    hd_tester_stop(s->tester); /* answers the tests that wait: the server waits for them */
    hd_http_server_stop(s->srv);
    hd_tester_free(s->tester);
    hd_watcher_stop(s->k8s_watch);
    hd_watcher_stop(s->docker_watch);
    if (s->disp != NULL) {
        hd_store_on_change(s->st, NULL, NULL); /* returns once no call is running */
        hd_dispatcher_stop(s->disp, s->cfg.shutdown_timeout_ms);
        hd_dispatcher_free(s->disp);
    }
    if (s->api_ok) {
        hd_api_destroy(&s->api);
    }
    hd_store_close(s->st);
    if (status == 0) {
        hd_log(HD_LOG_INFO, "stopped");
    }
    hd_channel_smtp_clear();
    hd_config_free(&s->cfg);
}

/* Large buffers (request bodies, compressed batches, rendered requests) come
 * and go with each request. glibc raises its mmap threshold each time such a
 * buffer is freed, after which they are carved from the threads' arenas and
 * stay resident once freed (measured: 52 MB anonymous memory for 33 MB of
 * peak heap under 8 connections posting 2 MB batches). A fixed threshold
 * maps and unmaps each one. Eight arenas, about one per busy thread (four
 * poll threads, the writer, the dispatcher, the checkpointer): with two, the
 * threads queued on the arenas' locks (measured at 5,000 single events/s:
 * half of the poll threads' futex calls and nearly all of the dispatcher's
 * were malloc's), for no gain in peak RSS (bench/memory.sh: 38-39 MB with
 * ~10 MB bodies over 64 connections either way). */
static void memory_policy(void)
{
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_ARENA_MAX, 8);
}

int hd_cmd_serve(int argc, char **argv)
{
    memory_policy();
    struct serve s = {0};
    int status = parse_flags(argc, argv, &s.fl);
    if (status >= 0) {
        return status;
    }
    pthread_mutex_init(&s.cfg_mu, NULL);
    status = 1;
    if (serve_start(&s) == HD_OK) {
        serve_run(&s);
        status = 0;
    }
    serve_stop(&s, status);
    pthread_mutex_destroy(&s.cfg_mu);
    return status;
}
