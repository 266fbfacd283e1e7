/* setup.c - `herald setup <target>`: prepares a sink (SPEC 2, 7).
 *
 * DESIGN: a table of targets, one function each. `elasticsearch` installs,
 * idempotently, what the Sysdig article did by hand:
 *   PUT _ingest/pipeline/herald-datetrim   estimestamp = timestamp / 1000
 *                                          (Sysdig's microseconds to epoch
 *                                          millis) for documents lacking it
 *   PUT _index_template/<name>             composable template (ES 7.8+) for
 *                                          the index pattern: estimestamp as
 *                                          date/epoch_millis, @timestamp as
 *                                          date, herald.* keyword/integer, and
 *                                          the pipeline as default_pipeline so
 *                                          the article's WEBHOOK path gets it too
 * Each object is read first (GET): absent -> created, present and already
 * holding everything herald wants -> "found, unchanged", otherwise updated.
 * GET / first: anything older than 7.8 (or not Elasticsearch) is refused with
 * the server's own answer. --dry-run prints the requests (Kibana Dev Tools
 * console format) and sends nothing.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/buf.h"
#include "core/util.h"
#include "json/json.h"
#include "net/http_client.h"

#define PIPELINE_ID "herald-datetrim"
#define KIBANA_FILE "dashboards/kibana/herald.ndjson"
#define DEFAULT_INDEX "herald-%Y.%m.%d"
#define SETUP_TIMEOUT_MS 30000

static const char setup_usage[] =
    "usage: herald setup elasticsearch --url URL [--index PATTERN] [--dry-run]\n"
    "                    [--username USER --password PASS | --api-key KEY] [--cacert FILE] [--insecure]\n"
    "       herald setup kibana --url URL [--file NDJSON] [--space ID]\n"
    "                    [--username USER --password PASS | --api-key KEY] [--cacert FILE] [--insecure]\n"
    "\n"
    "elasticsearch: creates (or finds) the ingest pipeline " PIPELINE_ID " and a composable\n"
    "index template for PATTERN (default " DEFAULT_INDEX "); Elasticsearch 7.8 or later.\n"
    "Credentials may also come from HERALD_ES_USERNAME, HERALD_ES_PASSWORD, HERALD_ES_API_KEY.\n"
    "kibana: imports " KIBANA_FILE " (data view herald-*, visualizations, dashboards\n"
    "'herald: Monitor' and 'herald: Secure') with the saved objects API, overwriting (idempotent).\n"
    "Credentials may also come from HERALD_KIBANA_USERNAME, HERALD_KIBANA_PASSWORD, HERALD_KIBANA_API_KEY.\n";

struct es_setup {
    const char *url;
    const char *index;
    const char *user;
    const char *pass;
    const char *api_key;
    const char *file;  /* kibana */
    const char *space; /* kibana */
    int dry_run;
    struct hd_tls_opts tls;
    char *auth; /* "Authorization: ..." value; a secret */
};

/* ---- the objects herald installs ---- */

static const char pipeline_json[] =
    "{\"description\":\"herald: estimestamp (epoch millis) from Sysdig's timestamp (microseconds) for "
    "documents "
    "that lack it\","
    "\"version\":1,"
    "\"processors\":[{\"script\":{\"lang\":\"painless\","
    "\"if\":\"ctx.estimestamp == null && ctx.timestamp instanceof Number\","
    "\"source\":\"ctx.estimestamp = ((Number) ctx.timestamp).longValue() / 1000L\","
    "\"tag\":\"herald-datetrim\"}}]}";

static const char mappings_json[] =
    "{\"properties\":{"
    "\"estimestamp\":{\"type\":\"date\",\"format\":\"epoch_millis\"},"
    "\"@timestamp\":{\"type\":\"date\"},"
    "\"herald\":{\"properties\":{"
    "\"id\":{\"type\":\"keyword\"},\"seq\":{\"type\":\"long\"},\"source\":{\"type\":\"keyword\"},"
    "\"timestampUs\":{\"type\":\"long\"},\"receivedUs\":{\"type\":\"long\"},"
    "\"severity\":{\"type\":\"integer\"},\"state\":{\"type\":\"keyword\"},\"name\":{\"type\":\"keyword\"},"
    "\"description\":{\"type\":\"text\"},\"url\":{\"type\":\"keyword\"},\"host\":{\"type\":\"keyword\"},"
    "\"containerId\":{\"type\":\"keyword\"},\"alertKey\":{\"type\":\"keyword\"},"
    "\"k8s\":{\"properties\":{\"namespace\":{\"type\":\"keyword\"},\"pod\":{\"type\":\"keyword\"},"
    "\"container\":{\"type\":\"keyword\"},\"kind\":{\"type\":\"keyword\"},\"name\":{\"type\":\"keyword\"}}}"
    "}}}}";

/* "herald-%Y.%m.%d" -> pattern "herald-*", template name "herald";
 * "sysdig-%Y" -> "sysdig-*", "herald-sysdig"; "alerts" -> "alerts", "herald-alerts". */
static int index_names(const char *index, char *pattern, size_t psz, char *name, size_t nsz)
{
    size_t plen = strcspn(index, "%");
    for (const char *p = index; *p != '\0'; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("-_.+%", *p) != NULL ||
                 (p > index && p[-1] == '%');
        if (!ok) {
            return -1;
        }
    }
    if (plen == 0 || index[0] == '-' || index[0] == '_' || index[0] == '+') {
        return -1;
    }
    snprintf(pattern, psz, "%.*s%s", (int)plen, index, index[plen] == '%' ? "*" : "");
    size_t tl = plen;
    while (tl > 0 && strchr("-_.+", index[tl - 1]) != NULL) {
        tl--;
    }
    if (tl == 0) {
        return -1;
    }
    if (strncmp(index, "herald", 6) == 0) {
        snprintf(name, nsz, "%.*s", (int)tl, index);
    } else {
        snprintf(name, nsz, "herald-%.*s", (int)tl, index);
    }
    return 0;
}

static json_object *template_body(const char *pattern)
{
    json_object *t = json_object_new_object();
    json_object *pats = json_object_new_array();
    json_object *tmpl = json_object_new_object();
    json_object *settings = json_object_new_object();
    json_object *idx = json_object_new_object();
    json_object *mappings = hd_json_parse(mappings_json, sizeof(mappings_json) - 1, NULL);
    json_object *meta = json_object_new_object();
    if (t == NULL || pats == NULL || tmpl == NULL || settings == NULL || idx == NULL || mappings == NULL ||
        meta == NULL) {
        json_object_put(t);
        json_object_put(pats);
        json_object_put(tmpl);
        json_object_put(settings);
        json_object_put(idx);
        json_object_put(mappings);
        json_object_put(meta);
        return NULL;
    }
    json_object_array_add(pats, json_object_new_string(pattern));
    json_object_object_add(t, "index_patterns", pats);
    /* Above the built-in templates' 100 and a catch-all's 0, so that an
     * overlapping pattern never makes the PUT fail on equal priorities. */
    json_object_object_add(t, "priority", json_object_new_int(200));
    json_object_object_add(t, "version", json_object_new_int(1));
    json_object_object_add(meta, "managed_by", json_object_new_string("herald"));
    json_object_object_add(meta, "description",
                           json_object_new_string("herald events (herald setup elasticsearch)"));
    json_object_object_add(t, "_meta", meta);
    json_object_object_add(idx, "default_pipeline", json_object_new_string(PIPELINE_ID));
    json_object_object_add(settings, "index", idx);
    json_object_object_add(tmpl, "settings", settings);
    json_object_object_add(tmpl, "mappings", mappings);
    json_object_object_add(t, "template", tmpl);
    return t;
}

/* want is contained in have: every member of want is in have with the same
 * value (scalars compared as text: Elasticsearch answers settings as strings). */
static int contains(json_object *have, json_object *want)
{
    if (want == NULL || have == NULL) {
        return want == have;
    }
    if (json_object_is_type(want, json_type_object)) {
        if (!json_object_is_type(have, json_type_object)) {
            return 0;
        }
        json_object_object_foreach(want, k, v)
        {
            json_object *h = NULL;
            if (!json_object_object_get_ex(have, k, &h) || !contains(h, v)) {
                return 0;
            }
        }
        return 1;
    }
    if (json_object_is_type(want, json_type_array)) {
        size_t n = json_object_array_length(want);
        if (!json_object_is_type(have, json_type_array) || json_object_array_length(have) != n) {
            return 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (!contains(json_object_array_get_idx(have, i), json_object_array_get_idx(want, i))) {
                return 0;
            }
        }
        return 1;
    }
    return strcmp(json_object_get_string(have), json_object_get_string(want)) == 0;
}

/* ---- HTTP ---- */

static int es_call(const struct es_setup *s, const char *method, const char *path, json_object *body,
                   struct hd_response *resp)
{
    struct hd_request req;
    hd_request_init(&req);
    struct hd_buf url;
    hd_buf_init(&url, 0);
    size_t len = strlen(s->url);
    while (len > 0 && s->url[len - 1] == '/') {
        len--;
    }
    int rc = hd_buf_append(&url, s->url, len);
    if (rc == HD_OK) {
        rc = hd_buf_puts(&url, path);
    }
    if (rc == HD_OK) {
        req.url = hd_buf_steal(&url, NULL);
        rc = req.url != NULL ? HD_OK : HD_ENOMEM;
    }
    req.method = method;
    req.timeout_ms = SETUP_TIMEOUT_MS;
    req.tls = &s->tls;
    if (rc == HD_OK && s->auth != NULL) {
        rc = hd_request_add_header(&req, "Authorization", s->auth);
    }
    if (rc == HD_OK && body != NULL) {
        rc = hd_request_add_header(&req, "Content-Type", "application/json");
        if (rc == HD_OK) {
            rc = hd_json_append(body, &req.body);
        }
    }
    if (rc == HD_OK) {
        rc = hd_http_sync(&req, resp);
    }
    hd_buf_free(&url);
    hd_request_clear(&req);
    return rc;
}

/* The server's answer in one line: ES error "type: reason" or the body. */
static void answer_text(const struct hd_response *resp, char *out, size_t outsz)
{
    if (resp->status == 0) {
        snprintf(out, outsz, "%s", resp->error);
        return;
    }
    json_object *root = hd_json_parse(resp->body.p, resp->body.len, NULL);
    json_object *err = NULL;
    if (root != NULL && json_object_object_get_ex(root, "error", &err) && err != NULL) {
        const char *type = json_object_is_type(err, json_type_object) ? hd_json_get_str(err, "type") : NULL;
        const char *reason =
            json_object_is_type(err, json_type_object) ? hd_json_get_str(err, "reason") : NULL;
        if (type != NULL || reason != NULL) {
            snprintf(out, outsz, "HTTP %ld %s: %s", resp->status, type ? type : "error",
                     reason ? reason : "");
        } else {
            snprintf(out, outsz, "HTTP %ld %s", resp->status, json_object_get_string(err));
        }
    } else {
        snprintf(out, outsz, "HTTP %ld %.300s", resp->status,
                 resp->body.len > 0 ? resp->body.p : "(empty answer)");
    }
    json_object_put(root);
}

static int check_version(const struct es_setup *s)
{
    struct hd_response resp;
    char why[512];
    int rc = 1;
    hd_response_init(&resp);
    if (es_call(s, "GET", "/", NULL, &resp) != HD_OK) {
        fprintf(stderr, "herald setup elasticsearch: cannot send a request to %s\n", s->url);
        goto out;
    }
    if (resp.status != 200) {
        answer_text(&resp, why, sizeof(why));
        fprintf(stderr, "herald setup elasticsearch: GET %s/ failed: %s\n", s->url, why);
        goto out;
    }
    json_object *root = hd_json_parse(resp.body.p, resp.body.len, NULL);
    const char *num = root != NULL ? json_object_get_string(hd_json_path(root, "version.number")) : NULL;
    const char *dist = root != NULL ? hd_json_get_str(hd_json_path(root, "version"), "distribution") : NULL;
    long major = 0;
    long minor = 0;
    if (num != NULL) {
        char *end = NULL;
        major = strtol(num, &end, 10);
        if (end != NULL && *end == '.') {
            minor = strtol(end + 1, NULL, 10);
        }
    }
    if (num == NULL || (dist != NULL && strcmp(dist, "opensearch") == 0)) {
        fprintf(
            stderr,
            "herald setup elasticsearch: %s does not look like Elasticsearch 7.8+ (no version.number in its "
            "answer to GET /): %.300s\n",
            s->url, resp.body.len > 0 ? resp.body.p : "(empty answer)");
    } else if (major < 7 || (major == 7 && minor < 8)) {
        fprintf(
            stderr,
            "herald setup elasticsearch: Elasticsearch %s at %s is too old: composable index templates need "
            "7.8 or later (GET / answered version.number \"%s\")\n",
            num, s->url, num);
    } else {
        printf("Elasticsearch %s at %s\n", num, s->url);
        rc = 0;
    }
    json_object_put(root);
out:
    hd_response_clear(&resp);
    return rc;
}

/* GET path; extract(answer) is the stored object or NULL. Then create,
 * keep or update. */
static int ensure(const struct es_setup *s, const char *what, const char *path, json_object *want,
                  json_object *(*extract)(json_object *answer, const char *name), const char *name)
{
    struct hd_response resp;
    char why[512];
    int rc = 1;
    const char *done = "created";
    hd_response_init(&resp);
    if (es_call(s, "GET", path, NULL, &resp) != HD_OK) {
        fprintf(stderr, "herald setup elasticsearch: cannot send GET %s\n", path);
        goto out;
    }
    if (resp.status == 200) {
        json_object *root = hd_json_parse(resp.body.p, resp.body.len, NULL);
        json_object *have = root != NULL ? extract(root, name) : NULL;
        int same = have != NULL && contains(have, want);
        json_object_put(root);
        if (same) {
            printf("%s: found, unchanged\n", what);
            rc = 0;
            goto out;
        }
        done = "updated (it differed from what herald needs)";
    } else if (resp.status != 404) {
        answer_text(&resp, why, sizeof(why));
        fprintf(stderr, "herald setup elasticsearch: GET %s failed: %s\n", path, why);
        goto out;
    }
    hd_response_clear(&resp);
    hd_response_init(&resp);
    if (es_call(s, "PUT", path, want, &resp) != HD_OK) {
        fprintf(stderr, "herald setup elasticsearch: cannot send PUT %s\n", path);
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        answer_text(&resp, why, sizeof(why));
        fprintf(stderr, "herald setup elasticsearch: PUT %s failed: %s\n", path, why);
        goto out;
    }
    printf("%s: %s\n", what, done);
    rc = 0;
out:
    hd_response_clear(&resp);
    return rc;
}

/* GET _ingest/pipeline/<id> answers {"<id>": {...}}. */
static json_object *extract_pipeline(json_object *answer, const char *name)
{
    json_object *v = NULL;
    return json_object_object_get_ex(answer, name, &v) ? v : NULL;
}

/* GET _index_template/<name> answers {"index_templates":[{"name","index_template"}]}. */
static json_object *extract_template(json_object *answer, const char *name)
{
    json_object *arr = NULL;
    if (!json_object_object_get_ex(answer, "index_templates", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        return NULL;
    }
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        const char *n = hd_json_get_str(e, "name");
        json_object *t = NULL;
        if (n != NULL && strcmp(n, name) == 0 && json_object_object_get_ex(e, "index_template", &t)) {
            return t;
        }
    }
    return NULL;
}

static int build_auth(struct es_setup *s)
{
    struct hd_buf b;
    hd_buf_init(&b, 0);
    int rc = HD_OK;
    if (s->user != NULL) {
        struct hd_buf raw;
        hd_buf_init(&raw, 0);
        rc = hd_buf_printf(&raw, "%s:%s", s->user, s->pass != NULL ? s->pass : "");
        char *enc = rc == HD_OK ? malloc(4 * ((raw.len + 2) / 3) + 1) : NULL;
        if (enc != NULL) {
            EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)raw.p, (int)raw.len);
            rc = hd_buf_printf(&b, "Basic %s", enc);
            OPENSSL_cleanse(enc, strlen(enc));
            free(enc);
        } else {
            rc = HD_ENOMEM;
        }
        if (raw.p != NULL) {
            OPENSSL_cleanse(raw.p, raw.len);
        }
        hd_buf_free(&raw);
    } else if (s->api_key != NULL) {
        rc = hd_buf_printf(&b, "ApiKey %s", s->api_key);
    } else {
        return HD_OK;
    }
    if (rc == HD_OK) {
        s->auth = hd_buf_steal(&b, NULL);
    }
    hd_buf_free(&b);
    return s->auth != NULL ? HD_OK : HD_ENOMEM;
}

static void print_request(const char *method, const char *path, json_object *body)
{
    printf("%s %s\n%s\n\n", method, path,
           json_object_to_json_string_ext(body, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Where the value of the option named a goes for "herald setup WHAT"
 * (kibana: 1 for kibana), NULL if it takes none there. */
static const char **value_option(struct es_setup *s, int kibana, const char *a)
{
    const struct {
        const char *name;
        const char **dst;
        int only; /* 0 both, 1 elasticsearch, 2 kibana */
    } opts[] = {{"--url", &s->url, 0},        {"--index", &s->index, 1},   {"--file", &s->file, 2},
                {"--space", &s->space, 2},    {"--username", &s->user, 0}, {"--password", &s->pass, 0},
                {"--api-key", &s->api_key, 0}};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (strcmp(a, opts[i].name) == 0 && (opts[i].only == 0 || opts[i].only == 1 + kibana)) {
            return opts[i].dst;
        }
    }
    return NULL;
}

/* The options of "herald setup elasticsearch|kibana" into s, credentials
 * first from the environment (HERALD_ES_* / HERALD_KIBANA_*); an empty
 * username or API key counts as none. Returns -1 to go on, else the exit
 * code (0 after --help, 2 on a bad option or a missing --url). */
static int setup_args(int argc, char **argv, int kibana, struct es_setup *s)
{
    const char *what = kibana ? "kibana" : "elasticsearch";
    s->user = getenv(kibana ? "HERALD_KIBANA_USERNAME" : "HERALD_ES_USERNAME");
    s->pass = getenv(kibana ? "HERALD_KIBANA_PASSWORD" : "HERALD_ES_PASSWORD");
    s->api_key = getenv(kibana ? "HERALD_KIBANA_API_KEY" : "HERALD_ES_API_KEY");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(setup_usage, stdout);
            return 0;
        } else if (!kibana && strcmp(a, "--dry-run") == 0) {
            s->dry_run = 1;
        } else if (strcmp(a, "--insecure") == 0) {
            s->tls.insecure = 1;
        } else if (v != NULL && value_option(s, kibana, a) != NULL) {
            *value_option(s, kibana, a) = argv[++i];
        } else if (v != NULL && strcmp(a, "--cacert") == 0) {
            s->tls.ca_file = argv[++i];
        } else {
            fprintf(stderr, "herald setup %s: unknown or incomplete option '%s'\n%s", what, a, setup_usage);
            return 2;
        }
    }
    if (s->url == NULL || (strncmp(s->url, "http://", 7) != 0 && strncmp(s->url, "https://", 8) != 0)) {
        fprintf(stderr, "herald setup %s: --url http(s)://HOST:%s is required\n%s", what,
                kibana ? "5601" : "PORT", setup_usage);
        return 2;
    }
    if (s->user != NULL && s->user[0] == '\0') {
        s->user = NULL;
    }
    if (s->api_key != NULL && s->api_key[0] == '\0') {
        s->api_key = NULL;
    }
    return -1;
}

static int setup_elasticsearch(int argc, char **argv)
{
    struct es_setup s = {.index = DEFAULT_INDEX};
    char pattern[256];
    char tname[256];
    char tpath[300];
    json_object *pipeline = NULL;
    json_object *tmpl = NULL;
    int rc = 2;
    int arc = setup_args(argc, argv, 0, &s);
    if (arc >= 0) {
        return arc;
    }
    if (s.user != NULL && s.api_key != NULL) {
        fprintf(stderr, "herald setup elasticsearch: use either --username/--password or --api-key\n");
        return 2;
    }
    if (index_names(s.index, pattern, sizeof(pattern), tname, sizeof(tname)) != 0) {
        fprintf(stderr,
                "herald setup elasticsearch: --index '%s': an index name or date pattern (lowercase letters, "
                "digits, "
                "'-', '_', '.', '+', %%Y %%m %%d ...) that does not start with '-', '_' or '+'\n",
                s.index);
        return 2;
    }
    snprintf(tpath, sizeof(tpath), "/_index_template/%s", tname);
    rc = 1;
    pipeline = hd_json_parse(pipeline_json, sizeof(pipeline_json) - 1, NULL);
    tmpl = template_body(pattern);
    if (pipeline == NULL || tmpl == NULL || build_auth(&s) != HD_OK) {
        fprintf(stderr, "herald setup elasticsearch: out of memory\n");
        goto out;
    }
    if (s.dry_run) {
        printf("# herald setup elasticsearch --dry-run: nothing was sent to %s\n", s.url);
        print_request("PUT", "/_ingest/pipeline/" PIPELINE_ID, pipeline);
        print_request("PUT", tpath, tmpl);
        rc = 0;
        goto out;
    }
    if (check_version(&s) != 0) {
        goto out;
    }
    if (ensure(&s, "ingest pipeline " PIPELINE_ID, "/_ingest/pipeline/" PIPELINE_ID, pipeline,
               extract_pipeline, PIPELINE_ID) != 0) {
        goto out;
    }
    char what[600];
    snprintf(what, sizeof(what), "index template %s (index_patterns [%s], default_pipeline " PIPELINE_ID ")",
             tname, pattern);
    if (ensure(&s, what, tpath, tmpl, extract_template, tname) != 0) {
        goto out;
    }
    rc = 0;
out:
    json_object_put(pipeline);
    json_object_put(tmpl);
    if (s.auth != NULL) {
        OPENSSL_cleanse(s.auth, strlen(s.auth));
        free(s.auth);
    }
    return rc;
}

/* ---- kibana ----
 *
 * `herald setup kibana` imports dashboards/kibana/herald.ndjson (the data
 * view on herald-*, the visualizations, the saved search and the Monitor and
 * Secure dashboards) through Kibana's saved objects API:
 *   POST /api/saved_objects/_import?overwrite=true   (or /s/<space>/api/...)
 *   kbn-xsrf header (Kibana refuses the call without it), multipart/form-data
 *   with the file in the "file" field.
 * Fixed object ids + overwrite=true make it idempotent: a second run replaces
 * the same objects. It prints every object Kibana reports and fails on any
 * error Kibana lists (missing references, unsupported types ...). */

#define KIBANA_MAX_FILE (4 * 1024 * 1024)

/* Reads the first of --file, the source tree's copy, <prefix>/share/herald/. */
static int kibana_read_file(const char *explicit_path, struct hd_buf *out, char *used, size_t usedsz)
{
    char cand[3][4096];
    size_t nc = 0;
    if (explicit_path != NULL) {
        snprintf(cand[nc++], sizeof(cand[0]), "%s", explicit_path);
    } else {
#ifdef HD_SOURCE_DIR
        snprintf(cand[nc++], sizeof(cand[0]), "%s/" KIBANA_FILE, HD_SOURCE_DIR);
#endif
        char exe[2048];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        char *slash = NULL;
        if (n > 0) {
            exe[n] = '\0';
            slash = strrchr(exe, '/');
        }
        if (slash != NULL) {
            *slash = '\0';
            snprintf(cand[nc++], sizeof(cand[0]), "%s/../share/herald/" KIBANA_FILE "", exe);
        }
    }
    for (size_t i = 0; i < nc; i++) {
        FILE *f = fopen(cand[i], "rb");
        if (f == NULL) {
            continue;
        }
        int rc = HD_OK;
        char chunk[16384];
        size_t r;
        while (rc == HD_OK && (r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
            rc = out->len + r > KIBANA_MAX_FILE ? HD_ETOOBIG : hd_buf_append(out, chunk, r);
        }
        if (ferror(f)) {
            rc = HD_EIO;
        }
        fclose(f);
        snprintf(used, usedsz, "%.4000s", cand[i]);
        return rc;
    }
    snprintf(used, usedsz, "%.4000s", nc > 0 ? cand[0] : KIBANA_FILE);
    return HD_ENOTFOUND;
}

/* Prints Kibana's per-object results; returns the number of errors listed. */
static int kibana_report(json_object *root, const char *url)
{
    json_object *res = NULL, *errs = NULL;
    int64_t count = 0;
    hd_json_get_i64(root, "successCount", &count);
    printf("kibana: imported %lld saved objects into %s (overwrite=true)\n", (long long)count, url);
    if (json_object_object_get_ex(root, "successResults", &res) &&
        json_object_is_type(res, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(res); i++) {
            json_object *o = json_object_array_get_idx(res, i);
            json_object *meta = NULL;
            json_object_object_get_ex(o, "meta", &meta);
            const char *title = meta != NULL ? hd_json_get_str(meta, "title") : NULL;
            printf("  %-14s %-28s %s\n", hd_json_get_str(o, "type") ? hd_json_get_str(o, "type") : "?",
                   hd_json_get_str(o, "id") ? hd_json_get_str(o, "id") : "?", title != NULL ? title : "");
        }
    }
    int n_err = 0;
    if (json_object_object_get_ex(root, "errors", &errs) && json_object_is_type(errs, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(errs); i++) {
            json_object *o = json_object_array_get_idx(errs, i);
            json_object *e = NULL;
            json_object_object_get_ex(o, "error", &e);
            const char *etype = e != NULL ? hd_json_get_str(e, "type") : NULL;
            fprintf(stderr, "herald setup kibana: %s %s: %s\n",
                    hd_json_get_str(o, "type") ? hd_json_get_str(o, "type") : "?",
                    hd_json_get_str(o, "id") ? hd_json_get_str(o, "id") : "?",
                    etype != NULL ? etype : "error");
            n_err++;
        }
    }
    return n_err;
}

/* The saved-objects import request: POST {url}[/s/{space}]/api/saved_objects/_import
 * with the NDJSON as the one part of a multipart/form-data body. Prints what
 * went wrong. */
static int kibana_request(const struct es_setup *s, const char *space, const struct hd_buf *ndjson,
                          struct hd_request *req)
{
    struct hd_buf url;
    hd_buf_init(&url, 0);
    /* multipart/form-data (RFC 7578) with one part, "file". The boundary is
     * unique enough (time, pid) and checked against the content. */
    char boundary[64];
    char ctype[128];
    int bl = snprintf(boundary, sizeof(boundary), "herald-boundary-%lld-%ld", (long long)hd_now_ms(),
                      (long)getpid());
    if (bl <= 0 || memmem(ndjson->p, ndjson->len, boundary, (size_t)bl) != NULL) {
        fprintf(stderr, "herald setup kibana: multipart boundary found in the file; run again\n");
        return HD_EINVAL;
    }
    snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", boundary);
    int brc =
        hd_buf_printf(&req->body,
                      "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"herald.ndjson\"\r\n"
                      "Content-Type: application/ndjson\r\n\r\n",
                      boundary);
    if (brc == HD_OK) {
        brc = hd_buf_append(&req->body, ndjson->p, ndjson->len);
    }
    if (brc == HD_OK) {
        brc = hd_buf_printf(&req->body, "\r\n--%s--\r\n", boundary);
    }
    size_t ul = strlen(s->url);
    while (ul > 0 && s->url[ul - 1] == '/') {
        ul--;
    }
    if (brc == HD_OK) {
        brc = hd_buf_append(&url, s->url, ul);
    }
    if (brc == HD_OK && space != NULL) {
        brc = hd_buf_printf(&url, "/s/%s", space);
    }
    if (brc == HD_OK) {
        brc = hd_buf_puts(&url, "/api/saved_objects/_import?overwrite=true");
    }
    if (brc == HD_OK) {
        req->url = hd_buf_steal(&url, NULL);
        brc = req->url != NULL ? HD_OK : HD_ENOMEM;
    }
    req->method = "POST";
    req->timeout_ms = SETUP_TIMEOUT_MS;
    req->tls = &s->tls;
    if (brc == HD_OK) {
        brc = hd_request_add_header(req, "kbn-xsrf", "herald");
    }
    if (brc == HD_OK) {
        brc = hd_request_add_header(req, "Content-Type", ctype);
    }
    if (brc == HD_OK && s->auth != NULL) {
        brc = hd_request_add_header(req, "Authorization", s->auth);
    }
    hd_buf_free(&url);
    if (brc != HD_OK) {
        fprintf(stderr, "herald setup kibana: out of memory\n");
    }
    return brc;
}

static int setup_kibana(int argc, char **argv)
{
    struct es_setup s = {0};
    struct hd_buf ndjson;
    struct hd_request req;
    struct hd_response resp;
    json_object *root = NULL;
    char used[4096];
    int rc = 2;
    hd_buf_init(&ndjson, 0);
    hd_request_init(&req);
    hd_response_init(&resp);
    int arc = setup_args(argc, argv, 1, &s);
    if (arc >= 0) {
        rc = arc;
        goto out;
    }
    const char *file = s.file;
    const char *space = s.space;
    if (space != NULL &&
        (space[0] == '\0' || strspn(space, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(space))) {
        fprintf(stderr,
                "herald setup kibana: --space '%s': a space id (lowercase letters, digits, '_', '-')\n",
                space);
        goto out;
    }
    rc = 1;
    int frc = kibana_read_file(file, &ndjson, used, sizeof(used));
    if (frc != HD_OK) {
        fprintf(stderr, "herald setup kibana: cannot read the saved objects %s: %s\n", used,
                frc == HD_ENOTFOUND ? "no such file (give --file)" : hd_strerror(frc));
        goto out;
    }
    if (build_auth(&s) != HD_OK) {
        fprintf(stderr, "herald setup kibana: out of memory\n");
        goto out;
    }
    if (kibana_request(&s, space, &ndjson, &req) != HD_OK) {
        goto out;
    }
    size_t ul = strlen(s.url);
    while (ul > 0 && s.url[ul - 1] == '/') {
        ul--;
    }
    if (hd_http_sync(&req, &resp) != HD_OK || resp.status == 0) {
        fprintf(stderr, "herald setup kibana: cannot reach %s: %s\n", s.url, resp.error);
        goto out;
    }
    root = hd_json_parse(resp.body.p, resp.body.len, NULL);
    if (resp.status != 200 || root == NULL) {
        const char *msg = root != NULL ? hd_json_get_str(root, "message") : NULL;
        fprintf(stderr, "herald setup kibana: POST %.*s/api/saved_objects/_import failed: HTTP %ld %.400s\n",
                (int)ul, s.url, resp.status,
                msg != NULL ? msg : (resp.body.len > 0 ? resp.body.p : "(empty answer)"));
        goto out;
    }
    printf("kibana: sent %s\n", used);
    int n_err = kibana_report(root, s.url);
    int ok = hd_json_get_bool(root, "success", 0) == 1;
    if (n_err > 0 || !ok) {
        fprintf(stderr, "herald setup kibana: Kibana reported %d error(s); nothing else to do\n", n_err);
        goto out;
    }
    printf("kibana: dashboards 'herald: Monitor' and 'herald: Secure' over data view herald-* are ready\n");
    rc = 0;
out:
    json_object_put(root);
    hd_buf_free(&ndjson);
    hd_request_clear(&req);
    hd_response_clear(&resp);
    if (s.auth != NULL) {
        OPENSSL_cleanse(s.auth, strlen(s.auth));
        free(s.auth);
    }
    return rc;
}

struct setup_target {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] = "setup", argv[1] = the target */
};

static const struct setup_target targets[] = {
    {"elasticsearch", setup_elasticsearch},
    {"kibana", setup_kibana},
};

int hd_cmd_setup(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(setup_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        if (strcmp(argv[1], targets[i].name) == 0) {
            return targets[i].run(argc, argv);
        }
    }
    fprintf(stderr, "herald setup: unknown target '%s' (known: elasticsearch, kibana)\n", argv[1]);
    return 2;
}
