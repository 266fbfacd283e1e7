/* test_config.c - defaults, the YAML file, ${VAR} substitution, errors with
 * lines, channels as JSON text, and the HERALD_* environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

static const char *const env_vars[] = {
    "HERALD_LISTEN",    "HERALD_DATA", "HERALD_STORE",  "HERALD_ADMIN_TOKEN", "HERALD_LOG_FORMAT",
    "HERALD_LOG_LEVEL", "FALCO_TOKEN", "SMTP_PASSWORD", "HD_TEST_PORT",       "HD_TEST_EMPTY",
};

static int clean_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
        unsetenv(env_vars[i]);
    }
    return 0;
}

/* Loads text over defaults; returns the load result, err filled. */
static int load(struct hd_config *c, const char *text, struct hd_err *err)
{
    hd_config_defaults(c);
    memset(err, 0, sizeof(*err));
    return hd_config_load_mem(c, "config.yaml", text, strlen(text), err);
}

static void expect_error(const char *text, const char *msg)
{
    struct hd_config c;
    struct hd_err err;
    assert_int_equal(load(&c, text, &err), HD_EINVAL);
    assert_string_equal(err.msg, msg);
    hd_config_free(&c);
}

static void test_defaults(void **state)
{
    (void)state;
    struct hd_config c;
    hd_config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_string_equal(c.data_dir, "./herald-data");
    assert_string_equal(c.store_url, "sqlite");
    assert_int_equal(c.n_tokens, 0);
    assert_int_equal(c.max_body_bytes, 10 * 1024 * 1024);
    assert_int_equal(c.max_backlog, 1000000);
    assert_null(c.tls_cert_file);
    assert_int_equal(c.metrics_public, 0);
    assert_int_equal(c.k8s_enabled, 0);
    assert_int_equal(c.k8s_max_event_age_ms, 5LL * 60 * 1000);
    assert_int_equal(c.docker_enabled, 0);
    assert_string_equal(c.docker_socket, "/var/run/docker.sock");
    assert_int_equal(c.retention_max_age_ms, 7LL * 86400 * 1000);
    assert_int_equal(c.retention_max_bytes, 2LL * 1024 * 1024 * 1024);
    assert_int_equal(c.delivery_max_retry_age_ms, 24LL * 3600 * 1000);
    assert_int_equal(c.delivery_retry_initial_ms, 1000);
    assert_int_equal(c.delivery_retry_max_ms, 300000);
    assert_int_equal(c.delivery_breaker_threshold, 5);
    assert_int_equal(c.shutdown_timeout_ms, 10000);
    assert_string_equal(c.log_format, "text");
    assert_string_equal(c.log_level, "info");
    assert_string_equal(c.channels_json, "[]");
    hd_config_free(&c);
    hd_config_free(&c); /* freed struct is zeroed: a second free is harmless */
    hd_config_free(NULL);
}

static void test_empty_file_keeps_defaults(void **state)
{
    (void)state;
    struct hd_config c;
    struct hd_err err;
    assert_int_equal(load(&c, "", &err), HD_OK);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    hd_config_free(&c);
    assert_int_equal(load(&c, "# only a comment\n", &err), HD_OK);
    assert_string_equal(c.channels_json, "[]");
    hd_config_free(&c);
}

/* SPEC section 3, verbatim. */
static const char spec_example[] =
    "listen: 127.0.0.1:8080\n"
    "dataDir: ./herald-data\n"
    "store: sqlite                      # or postgres://user@host/db\n"
    "tokens:\n"
    "  - {name: admin,  token: \"${HERALD_ADMIN_TOKEN}\", scope: admin}\n"
    "  - {name: falco,  token: \"${FALCO_TOKEN}\",        scope: ingest}\n"
    "limits: {maxBodyBytes: 10485760, maxBacklog: 1000000}\n"
    "smtp: {url: \"smtp://mail:587\", from: \"herald@example.com\", username: \"...\", password: "
    "\"${SMTP_PASSWORD}\", startTls: true}\n"
    "inputs:\n"
    "  kubernetes: {enabled: false}     # in-cluster by default; or apiServer, tokenFile, caFile\n"
    "  docker: {enabled: false, socket: /var/run/docker.sock}\n"
    "retention: {maxAge: 7d, maxBytes: 2GiB}\n"
    "channels: []                       # same objects as the API's notificationChannel\n";

static void test_spec_example(void **state)
{
    (void)state;
    struct hd_config c;
    struct hd_err err;
    setenv("HERALD_ADMIN_TOKEN", "adm-secret-0123456789", 1);
    setenv("FALCO_TOKEN", "falco-secret-0123456789", 1);
    setenv("SMTP_PASSWORD", "smtp-secret", 1);
    assert_int_equal(load(&c, spec_example, &err), HD_OK);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_string_equal(c.data_dir, "./herald-data");
    assert_string_equal(c.store_url, "sqlite");
    assert_int_equal(c.n_tokens, 2);
    assert_string_equal(c.tokens[0].name, "admin");
    assert_string_equal(c.tokens[0].token, "adm-secret-0123456789");
    assert_int_equal(c.tokens[0].scope, HD_SCOPE_ADMIN);
    assert_string_equal(c.tokens[1].name, "falco");
    assert_string_equal(c.tokens[1].token, "falco-secret-0123456789");
    assert_int_equal(c.tokens[1].scope, HD_SCOPE_INGEST);
    assert_int_equal(c.max_body_bytes, 10485760);
    assert_int_equal(c.max_backlog, 1000000);
    assert_string_equal(c.smtp_url, "smtp://mail:587");
    assert_string_equal(c.smtp_from, "herald@example.com");
    assert_string_equal(c.smtp_username, "...");
    assert_string_equal(c.smtp_password, "smtp-secret");
    assert_int_equal(c.smtp_start_tls, 1);
    assert_int_equal(c.k8s_enabled, 0);
    assert_string_equal(c.docker_socket, "/var/run/docker.sock");
    assert_int_equal(c.retention_max_age_ms, 7LL * 86400 * 1000);
    assert_int_equal(c.retention_max_bytes, 2LL * 1024 * 1024 * 1024);
    assert_string_equal(c.channels_json, "[]");
    hd_config_free(&c);
}

static void test_every_key(void **state)
{
    (void)state;
    struct hd_config c;
    struct hd_err err;
    const char *text =
        "listen: 0.0.0.0:9090\n"
        "tokens:\n"
        "  - token: token-one-0123456789\n"
        "  - {name: reader, token: token-two-0123456789, scope: read}\n"
        "limits: {maxBodyBytes: 1MiB, maxBacklog: 42}\n"
        "tls: {certFile: /c.pem, keyFile: /k.pem}\n"
        "metrics: {public: true}\n"
        "inputs:\n"
        "  kubernetes: {enabled: true, apiServer: 'https://k8s:6443', tokenFile: /t, caFile: /ca,"
        " namespace: prod, maxEventAge: 90s}\n"
        "  docker: {enabled: true, socket: /run/d.sock}\n"
        "retention: {maxAge: 36h, maxBytes: 512MB}\n"
        "delivery: {maxRetryAge: 2h, retryInitial: 250ms, retryMax: 1m, breakerThreshold: 9}\n"
        "shutdownTimeout: 3s\n"
        "log: {format: json, level: debug}\n";
    assert_int_equal(load(&c, text, &err), HD_OK);
    assert_string_equal(c.listen, "0.0.0.0:9090");
    assert_int_equal(c.n_tokens, 2);
    assert_string_equal(c.tokens[0].name, "token1"); /* a name is optional */
    assert_int_equal(c.tokens[0].scope, HD_SCOPE_ADMIN);
    assert_int_equal(c.tokens[1].scope, HD_SCOPE_READ);
    assert_string_equal(hd_scope_name(c.tokens[1].scope), "read");
    assert_int_equal(c.max_body_bytes, 1048576);
    assert_int_equal(c.max_backlog, 42);
    assert_string_equal(c.tls_cert_file, "/c.pem");
    assert_string_equal(c.tls_key_file, "/k.pem");
    assert_int_equal(c.metrics_public, 1);
    assert_int_equal(c.k8s_enabled, 1);
    assert_string_equal(c.k8s_api_server, "https://k8s:6443");
    assert_string_equal(c.k8s_token_file, "/t");
    assert_string_equal(c.k8s_ca_file, "/ca");
    assert_string_equal(c.k8s_namespace, "prod");
    assert_int_equal(c.k8s_max_event_age_ms, 90000);
    assert_int_equal(c.docker_enabled, 1);
    assert_string_equal(c.docker_socket, "/run/d.sock");
    assert_int_equal(c.retention_max_age_ms, 36LL * 3600 * 1000);
    assert_int_equal(c.retention_max_bytes, 512000000);
    assert_int_equal(c.delivery_max_retry_age_ms, 7200000);
    assert_int_equal(c.delivery_retry_initial_ms, 250);
    assert_int_equal(c.delivery_retry_max_ms, 60000);
    assert_int_equal(c.delivery_breaker_threshold, 9);
    assert_int_equal(c.shutdown_timeout_ms, 3000);
    assert_string_equal(c.log_format, "json");
    assert_string_equal(c.log_level, "debug");
    hd_config_free(&c);

    assert_int_equal(load(&c, "shutdownTimeoutMs: 2500\n", &err), HD_OK);
    assert_int_equal(c.shutdown_timeout_ms, 2500);
    hd_config_free(&c);
}

static void test_env_default_and_escape(void **state)
{
    (void)state;
    struct hd_config c;
    struct hd_err err;
    setenv("HD_TEST_PORT", "7000", 1);
    setenv("HD_TEST_EMPTY", "", 1);
    const char *text = "listen: \"127.0.0.1:${HD_TEST_PORT}\"\n"
                       "dataDir: ${HD_TEST_UNSET_DIR:-/var/lib/herald}\n"
                       "store: ${HD_TEST_EMPTY:-sqlite:/x.db}\n"
                       "smtp: {password: '$${NOT_A_VAR}', username: '${HD_TEST_EMPTY}'}\n";
    assert_int_equal(load(&c, text, &err), HD_OK);
    assert_string_equal(c.listen, "127.0.0.1:7000");
    assert_string_equal(c.data_dir, "/var/lib/herald");
    assert_string_equal(c.store_url, "sqlite:/x.db"); /* :- also replaces an empty value */
    assert_string_equal(c.smtp_password, "${NOT_A_VAR}");
    assert_string_equal(c.smtp_username, "");
    hd_config_free(&c);
}

static void test_missing_var(void **state)
{
    (void)state;
    setenv("HERALD_ADMIN_TOKEN", "adm-secret-0123456789", 1);
    setenv("SMTP_PASSWORD", "x", 1);
    /* FALCO_TOKEN is on line 6 of the SPEC example. */
    expect_error(spec_example, "config.yaml:6: tokens[1].token: environment variable FALCO_TOKEN is not set");
    expect_error("listen: x\n\n\nlog:\n  level: ${HD_TEST_LEVEL}\n",
                 "config.yaml:5: log.level: environment variable HD_TEST_LEVEL is not set");
    expect_error("store: ${BAD-NAME}\n",
                 "config.yaml:1: store: '${BAD-NAME}' is not a valid variable reference");
    expect_error("store: abc${OPEN\n",
                 "config.yaml:1: store: unterminated '${' (write '$${' for a literal '${')");
}

static void test_unknown_keys(void **state)
{
    (void)state;
    expect_error("listen: 1.2.3.4:80\nlimitz: {}\n",
                 "config.yaml:2: unknown key 'limitz' (known: listen, dataDir, store, tokens, limits, tls, "
                 "metrics, smtp, inputs, retention, delivery, shutdownTimeoutMs, shutdownTimeout, log, web, "
                 "security, channels)");
    expect_error("limits:\n  maxBodyBytes: 1\n  maxBodyByte: 2\n",
                 "config.yaml:3: limits: unknown key 'maxBodyByte' (known: maxBodyBytes, maxBytesInFlight, "
                 "maxBacklog, "
                 "maxEventsPerRequest, "
                 "maxConnections, maxConnectionsPerIp, headerTimeoutMs)");
    expect_error("inputs:\n  docker:\n    enable: true\n",
                 "config.yaml:3: inputs.docker: unknown key 'enable' (known: enabled, socket, url, caFile, "
                 "certFile, keyFile, filters)");
    expect_error("tokens:\n  - {name: a, token: b, scop: read}\n",
                 "config.yaml:2: tokens[0]: unknown key 'scop' (known: name, token, tokenFile, scope)");
    expect_error("listen: a:1\nlisten: b:2\n", "config.yaml:2: duplicate key 'listen' (first at line 1)");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_error("limits:\n  maxBodyBytes: lots\n",
                 "config.yaml:2: limits.maxBodyBytes: expected a size like 10MiB");
    expect_error("limits: {maxBodyBytes: nan}\n",
                 "config.yaml:1: limits.maxBodyBytes: expected a size like 10MiB");
    expect_error("limits: {maxBacklog: 1.5}\n", "config.yaml:1: limits.maxBacklog: expected an integer");
    expect_error("limits: {maxBacklog: 0}\n", "config.yaml:1: limits.maxBacklog: must be at least 1");
    expect_error("retention: {maxAge: 7 days}\n",
                 "config.yaml:1: retention.maxAge: expected a duration like 30s, 5m, 1h or 7d");
    expect_error("metrics: {public: yes please}\n", "config.yaml:1: metrics.public: expected true or false");
    expect_error("log: {format: xml}\n", "config.yaml:1: log.format: 'xml' is not one of text, json");
    expect_error("tokens:\n  - {name: a, token: b, scope: root}\n",
                 "config.yaml:2: tokens[0].scope: 'root' is not one of admin, ingest, read");
    expect_error("limits: 5\n", "config.yaml:1: limits: expected a mapping");
    expect_error("listen: [a, b]\n", "config.yaml:1: listen: expected a string");
    expect_error("tokens: {name: a}\n", "config.yaml:1: tokens: expected a list of {name, token, scope}");
    expect_error("tokens:\n  - name: a\n", "config.yaml:2: tokens[0].token: required");
    setenv("HD_TEST_EMPTY", "", 1);
    expect_error("tokens:\n  - {name: a, token: \"${HD_TEST_EMPTY}\"}\n",
                 "config.yaml:2: tokens[0].token: is empty");
    expect_error("tokens:\n  - {name: admin, token: x}\n  - {name: falco, token: short-secret-15}\n",
                 "config.yaml:2: tokens[0].token: token 'admin' is too short: tokens must be at least 16 "
                 "characters long");
    expect_error("tokens:\n  - {name: admin, token: long-enough-0123456789}\n  - {token: short-secret-15}\n",
                 "config.yaml:3: tokens[1].token: token 'token2' is too short: tokens must be at least 16 "
                 "characters long");
    expect_error(
        "tokens:\n  - {name: a, token: s3cret-0123456789}\n  - {name: b, token: s3cret-0123456789}\n",
        "config.yaml:3: tokens[1].token: same value as tokens[0].token");
    expect_error("tls: {certFile: /c.pem}\n",
                 "config.yaml: tls: certFile and keyFile must be given together");
    expect_error("listen: localhost\n", "config.yaml: listen: expected HOST:PORT, e.g. 127.0.0.1:8080");
    expect_error("- a\n- b\n", "config.yaml:1: expected a mapping of settings at the top level");
    expect_error(
        "channels:\n  - {type: WEBHOOK}\n",
        "config.yaml:2: channels[0]: name is required (channels from the file are upserted by name)");
}

static void test_yaml_syntax_error(void **state)
{
    (void)state;
    struct hd_config c;
    struct hd_err err;
    assert_int_equal(load(&c, "listen: a:1\nlimits: {maxBodyBytes: 1\nstore: x\n", &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "config.yaml:"));
    assert_non_null(strstr(err.msg, "YAML:"));
    hd_config_free(&c);
    assert_int_equal(load(&c, "listen: a:1\nstore: \"unclosed\n", &err), HD_EINVAL);
    assert_true(strncmp(err.msg, "config.yaml:2:", 14) == 0 || strncmp(err.msg, "config.yaml:3:", 14) == 0);
    hd_config_free(&c);
}

static void test_channels_json(void **state)
{
    (void)state;
    struct hd_config c;
    struct hd_err err;
    setenv("HD_TEST_PORT", "9200", 1);
    const char *text = "channels:\n"
                       "  - name: Splunk\n"
                       "    type: WEBHOOK\n"
                       "    enabled: true\n"
                       "    options:\n"
                       "      url: http://somehost:9000/services/collector/raw\n"
                       "      notifyOnOk: false\n"
                       "      minSeverity: 4\n"
                       "      ratio: -0.5\n"
                       "      big: 1e3\n"
                       "      odd: +007\n"
                       "      half: .5\n"
                       "      port: ${HD_TEST_PORT}\n"
                       "      quotedPort: \"${HD_TEST_PORT}\"\n"
                       "      quotedBool: 'true'\n"
                       "      nothing: ~\n"
                       "      empty:\n"
                       "      text: \"say \\\"hi\\\"\\n\\ttab\"\n"
                       "      version: 1.2.3\n"
                       "      additionalHeaders: {Authorization: \"Splunk 2b88\"}\n"
                       "      sources: [falco, sysdig_secure]\n"
                       "  - {name: es, type: ELASTICSEARCH, options: {index: 'herald-%Y.%m.%d'}}\n";
    assert_int_equal(load(&c, text, &err), HD_OK);
    assert_string_equal(
        c.channels_json,
        "[{\"name\":\"Splunk\",\"type\":\"WEBHOOK\",\"enabled\":true,\"options\":{"
        "\"url\":\"http://somehost:9000/services/collector/raw\",\"notifyOnOk\":false,"
        "\"minSeverity\":4,\"ratio\":-0.5,\"big\":1e3,\"odd\":7,\"half\":0.5,\"port\":9200,"
        "\"quotedPort\":\"9200\",\"quotedBool\":\"true\",\"nothing\":null,\"empty\":null,"
        "\"text\":\"say \\\"hi\\\"\\n\\ttab\",\"version\":\"1.2.3\","
        "\"additionalHeaders\":{\"Authorization\":\"Splunk 2b88\"},"
        "\"sources\":[\"falco\",\"sysdig_secure\"]}},"
        "{\"name\":\"es\",\"type\":\"ELASTICSEARCH\",\"options\":{\"index\":\"herald-%Y.%m.%d\"}}]");
    hd_config_free(&c);

    expect_error("channels:\n  - name: a\n    options:\n      url: ${HD_TEST_NO_URL}\n",
                 "config.yaml:4: channels[0].options.url: environment variable HD_TEST_NO_URL is not set");
    expect_error("channels:\n  - name: a\n    options: {x: 1, x: 2}\n",
                 "config.yaml:3: channels[0].options: duplicate key 'x' (first at line 3)");
    expect_error("channels: {name: a}\n", "config.yaml:1: channels: expected a list of channel objects");
}

static void test_error_leaves_config_unchanged(void **state)
{
    (void)state;
    struct hd_config c;
    struct hd_err err;
    assert_int_equal(load(&c, "listen: 1.1.1.1:1\ntokens: [{name: a, token: b-0123456789abcdef}]\n", &err),
                     HD_OK);
    const char *bad = "listen: 2.2.2.2:2\ntokens: [{name: z, token: y-0123456789abcdef}]\nchannels: [{name: "
                      "q}]\nlog: {level: loud}\n";
    assert_int_equal(hd_config_load_mem(&c, "config.yaml", bad, strlen(bad), &err), HD_EINVAL);
    assert_string_equal(c.listen, "1.1.1.1:1");
    assert_int_equal(c.n_tokens, 1);
    assert_string_equal(c.tokens[0].name, "a");
    assert_string_equal(c.channels_json, "[]");
    /* A later file replaces the token list, keeps what it does not mention. */
    const char *more = "tokens: [{name: n, token: m-0123456789abcdef, scope: ingest}]\n";
    assert_int_equal(hd_config_load_mem(&c, "more.yaml", more, strlen(more), &err), HD_OK);
    assert_string_equal(c.listen, "1.1.1.1:1");
    assert_int_equal(c.n_tokens, 1);
    assert_string_equal(c.tokens[0].name, "n");
    hd_config_free(&c);
}

/* ---- security.denyDestinations ---- */

/* The blocks of l as "a, b, c". */
static const char *blocks(const struct hd_cidr_list *l)
{
    static char out[1024];
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        char b[HD_CIDR_TEXT_MAX];
        hd_cidr_format(&l->v[i], b, sizeof(b));
        int n = snprintf(out + used, sizeof(out) - used, "%s%s", i > 0 ? ", " : "", b);
        assert_true(n > 0 && (size_t)n < sizeof(out) - used);
        used += (size_t)n;
    }
    return out;
}

static void test_deny_destinations(void **state)
{
    (void)state;
    struct hd_config c;
    struct hd_err err;
    hd_config_defaults(&c);
    assert_string_equal(blocks(&c.deny_destinations), "169.254.0.0/16, fe80::/10, fd00:ec2::254/128");
    hd_config_free(&c);
    /* The SPEC's line: the given list replaces the default one. */
    assert_int_equal(
        load(&c, "security: {denyDestinations: [169.254.0.0/16, \"fd00:ec2::254/128\"]}\n", &err), HD_OK);
    assert_string_equal(blocks(&c.deny_destinations), "169.254.0.0/16, fd00:ec2::254/128");
    hd_config_free(&c);
    setenv("HD_TEST_EMPTY", "10.0.0.0/8", 1);
    assert_int_equal(
        load(&c,
             "security:\n  denyDestinations:\n    - 127.0.0.0/8\n    - ::1\n    - ${HD_TEST_EMPTY}\n"
             "    - '::ffff:192.168.0.0/112'\n",
             &err),
        HD_OK);
    assert_string_equal(blocks(&c.deny_destinations), "127.0.0.0/8, ::1/128, 10.0.0.0/8, 192.168.0.0/16");
    /* Each configuration has its own list (a value, copied by assignment). */
    struct hd_config tmp;
    hd_config_defaults(&tmp);
    const char *other = "security: {denyDestinations: [1.2.3.4]}\n";
    assert_int_equal(hd_config_load_mem(&tmp, "o.yaml", other, strlen(other), &err), HD_OK);
    assert_string_equal(blocks(&tmp.deny_destinations), "1.2.3.4/32");
    hd_config_free(&tmp);
    /* An empty list allows every destination; a null value keeps the list. */
    const char *empty = "security: {denyDestinations: []}\n";
    assert_int_equal(hd_config_load_mem(&c, "e.yaml", empty, strlen(empty), &err), HD_OK);
    assert_int_equal(c.deny_destinations.n, 0);
    hd_config_free(&c);
    assert_int_equal(load(&c, "security:\n  denyDestinations:\n", &err), HD_OK);
    assert_int_equal(c.deny_destinations.n, 3);
    assert_int_equal(hd_config_load_mem(&c, "s.yaml", "security:\n", 10, &err), HD_OK);
    assert_int_equal(c.deny_destinations.n, 3);
    /* A bad entry leaves the running list as it was. */
    const char *bad = "security:\n  denyDestinations: [10.0.0.0/8]\nlog: {level: loud}\n";
    assert_int_equal(hd_config_load_mem(&c, "b.yaml", bad, strlen(bad), &err), HD_EINVAL);
    assert_int_equal(c.deny_destinations.n, 3);
    hd_config_free(&c);
}

static void test_deny_destinations_errors(void **state)
{
    (void)state;
    expect_error("security:\n  denyDestinations:\n    - 10.0.0.0/8\n    - 10.0.0.1/8\n",
                 "config.yaml:4: security.denyDestinations[1]: '10.0.0.1/8': host bits set (the block is "
                 "10.0.0.0/8)");
    expect_error("security: {denyDestinations: [169.254.0.0/33]}\n",
                 "config.yaml:1: security.denyDestinations[0]: '169.254.0.0/33': the prefix length must be a "
                 "number from 0 to 32");
    expect_error("security: {denyDestinations: [0x7f000001]}\n",
                 "config.yaml:1: security.denyDestinations[0]: '0x7f000001': expected an address or a block "
                 "like 10.0.0.0/8 or fd00::/8");
    expect_error("security: {denyDestinations: 10.0.0.0/8}\n",
                 "config.yaml:1: security.denyDestinations: expected a list of address blocks, e.g. "
                 "[169.254.0.0/16, \"fd00:ec2::254/128\"]");
    expect_error("security:\n  denyDestinations:\n    - {a: 1}\n",
                 "config.yaml:3: security.denyDestinations[0]: expected an address block like 10.0.0.0/8 or "
                 "\"fd00::/8\"");
    expect_error("security:\n  denyDestinations: [~]\n",
                 "config.yaml:2: security.denyDestinations[0]: expected an address block like 10.0.0.0/8 or "
                 "\"fd00::/8\"");
    expect_error("security:\n  denyDestination: []\n",
                 "config.yaml:2: security: unknown key 'denyDestination' (known: denyDestinations)");
    expect_error(
        "security: {denyDestinations: [\"${HD_TEST_NO_NET}\"]}\n",
        "config.yaml:1: security.denyDestinations[0]: environment variable HD_TEST_NO_NET is not set");
}

static void test_load_file_and_token_file(void **state)
{
    (void)state;
    struct hd_config c;
    struct hd_err err;
    char dir[] = "/tmp/hd_test_config_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char tok_path[256], cfg_path[256];
    snprintf(tok_path, sizeof(tok_path), "%s/token", dir);
    snprintf(cfg_path, sizeof(cfg_path), "%s/herald.yaml", dir);
    FILE *fp = fopen(tok_path, "w");
    assert_non_null(fp);
    fputs("from-file-0123456789\n", fp);
    fclose(fp);
    fp = fopen(cfg_path, "w");
    assert_non_null(fp);
    fprintf(fp, "tokens:\n  - {name: f, tokenFile: %s}\nlimitz: 1\n", tok_path);
    fclose(fp);

    hd_config_defaults(&c);
    assert_int_equal(hd_config_load_file(&c, cfg_path, &err), HD_EINVAL);
    char want[300];
    snprintf(want, sizeof(want), "%s:3: unknown key 'limitz'", cfg_path);
    assert_memory_equal(err.msg, want, strlen(want));

    fp = fopen(cfg_path, "w");
    assert_non_null(fp);
    fprintf(fp, "tokens:\n  - {name: f, tokenFile: %s}\n", tok_path);
    fclose(fp);
    assert_int_equal(hd_config_load_file(&c, cfg_path, &err), HD_OK);
    assert_int_equal(c.n_tokens, 1);
    assert_string_equal(c.tokens[0].token, "from-file-0123456789");
    hd_config_free(&c);

    unlink(tok_path);
    hd_config_defaults(&c);
    assert_int_equal(hd_config_load_file(&c, cfg_path, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, ":2: tokens[0].token: cannot read"));
    unlink(cfg_path);
    assert_int_equal(hd_config_load_file(&c, cfg_path, &err), HD_EIO);
    assert_non_null(strstr(err.msg, "cannot open"));
    hd_config_free(&c);
    rmdir(dir);
}

static void test_env_overrides(void **state)
{
    (void)state;
    struct hd_config c;
    struct hd_err err;
    assert_int_equal(
        load(&c, "listen: 1.1.1.1:1\ntokens: [{name: env-admin, token: old-0123456789abcdef, scope: read}]\n",
             &err),
        HD_OK);
    setenv("HERALD_LISTEN", "0.0.0.0:8443", 1);
    setenv("HERALD_DATA", "/data", 1);
    setenv("HERALD_STORE", "postgres://h/db", 1);
    setenv("HERALD_LOG_FORMAT", "json", 1);
    setenv("HERALD_LOG_LEVEL", "warn", 1);
    setenv("HERALD_ADMIN_TOKEN", "new-0123456789abcdef", 1);
    assert_int_equal(hd_config_apply_env(&c, &err), HD_OK);
    assert_string_equal(c.listen, "0.0.0.0:8443");
    assert_string_equal(c.data_dir, "/data");
    assert_string_equal(c.store_url, "postgres://h/db");
    assert_string_equal(c.log_format, "json");
    assert_string_equal(c.log_level, "warn");
    assert_int_equal(c.n_tokens, 1); /* replaced, not added */
    assert_string_equal(c.tokens[0].token, "new-0123456789abcdef");
    assert_int_equal(c.tokens[0].scope, HD_SCOPE_ADMIN);
    hd_config_free(&c);

    hd_config_defaults(&c);
    assert_int_equal(hd_config_apply_env(&c, &err), HD_OK);
    assert_int_equal(c.n_tokens, 1);
    assert_string_equal(c.tokens[0].name, "env-admin");
    hd_config_free(&c);

    clean_env(NULL);
    setenv("HERALD_ADMIN_TOKEN", "secret", 1);
    hd_config_defaults(&c);
    assert_int_equal(hd_config_apply_env(&c, &err), HD_EINVAL);
    assert_string_equal(err.msg, "HERALD_ADMIN_TOKEN: too short: tokens must be at least 16 characters long");
    assert_int_equal(c.n_tokens, 0);
    setenv("HERALD_ADMIN_TOKEN", "exactly-16-chars", 1);
    assert_int_equal(hd_config_apply_env(&c, &err), HD_OK);
    assert_int_equal(c.n_tokens, 1);
    hd_config_free(&c);

    clean_env(NULL);
    setenv("HERALD_LOG_FORMAT", "xml", 1);
    hd_config_defaults(&c);
    assert_int_equal(hd_config_apply_env(&c, &err), HD_EINVAL);
    assert_string_equal(err.msg, "HERALD_LOG_FORMAT: 'xml' is not one of text, json");
    assert_string_equal(c.log_format, "text");
    clean_env(NULL);
    setenv("HERALD_LISTEN", "nope", 1);
    assert_int_equal(hd_config_apply_env(&c, &err), HD_EINVAL);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    clean_env(NULL);
    setenv("HERALD_DATA", "", 1); /* empty = unset */
    assert_int_equal(hd_config_apply_env(&c, &err), HD_OK);
    assert_string_equal(c.data_dir, "./herald-data");
    assert_int_equal(c.n_tokens, 0);
    hd_config_free(&c);
}

static void test_set_str_and_add_token(void **state)
{
    (void)state;
    struct hd_config c;
    hd_config_defaults(&c);
    assert_int_equal(hd_config_set_str(&c.listen, "[::1]:9"), HD_OK);
    assert_string_equal(c.listen, "[::1]:9");
    assert_int_equal(hd_config_set_str(&c.tls_cert_file, NULL), HD_OK);
    assert_null(c.tls_cert_file);
    assert_int_equal(hd_config_add_token(&c, "a", "b", HD_SCOPE_INGEST), HD_OK);
    assert_int_equal(hd_config_add_token(&c, NULL, "b", HD_SCOPE_INGEST), HD_EINVAL);
    assert_int_equal(c.n_tokens, 1);
    assert_string_equal(hd_scope_name(HD_SCOPE_INGEST), "ingest");
    assert_string_equal(hd_scope_name(HD_SCOPE_ADMIN), "admin");
    hd_config_free(&c);
}

static void test_alias_bomb_bounded(void **state)
{
    (void)state;
    struct hd_config c;
    struct hd_err err;
    char text[4096];
    size_t n;
    /* Anchors inside the channel object; each level repeats the previous one
     * 9 times: 9^8 leaves once expanded, far over the cap. */
    n = (size_t)snprintf(text, sizeof(text),
                         "channels:\n  - name: a\n    l0: &a0 "
                         "[\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (int i = 1; i <= 8; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "    l%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i, i - 1,
                              i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    }
    assert_int_equal(load(&c, text, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "channels expand to more than"));
    hd_config_free(&c);
}

/* tls.clientCaFile (a readable file) and tls.clientIdentities (subject ->
 * scope, canonical subjects); the rules between the tls keys name the line of
 * tls:. */
static void test_client_certificates(void **state)
{
    (void)state;
    char ca[] = "/tmp/hd_test_ca_XXXXXX";
    int fd = mkstemp(ca);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x\n", 2), 2);
    close(fd);
    char text[512];
    snprintf(text, sizeof(text),
             "tls:\n"
             "  certFile: /c.pem\n"
             "  keyFile: /k.pem\n"
             "  clientCaFile: %s\n"
             "  clientIdentities:\n"
             "    - {subject: \"cn=falco, o=Acme\", scope: ingest}\n"
             "    - {subject: \"CN=grafana\", scope: read}\n",
             ca);
    struct hd_config c;
    struct hd_err err;
    assert_int_equal(load(&c, text, &err), HD_OK);
    assert_string_equal(c.tls_client_ca_file, ca);
    assert_int_equal(c.n_client_identities, 2);
    assert_string_equal(c.client_identities[0].subject, "CN=falco,O=Acme");
    assert_int_equal(c.client_identities[0].scope, HD_SCOPE_INGEST);
    assert_string_equal(c.client_identities[1].subject, "CN=grafana");
    assert_int_equal(c.client_identities[1].scope, HD_SCOPE_READ);
    /* a reload that does not load keeps them; one that does replaces them */
    const char *bad = "tls: {clientIdentities: [{subject: x}]}\n";
    assert_int_equal(hd_config_load_mem(&c, "config.yaml", bad, strlen(bad), &err), HD_EINVAL);
    assert_int_equal(c.n_client_identities, 2);
    const char *one = "tls:\n  clientIdentities: [{subject: CN=falco, scope: admin}]\n";
    assert_int_equal(hd_config_load_mem(&c, "config.yaml", one, strlen(one), &err), HD_OK);
    assert_int_equal(c.n_client_identities, 1);
    assert_int_equal(c.client_identities[0].scope, HD_SCOPE_ADMIN);
    hd_config_free(&c);

    expect_error(
        "tls:\n  clientCaFile: /nonexistent/ca.pem\n",
        "config.yaml:2: tls.clientCaFile: cannot read /nonexistent/ca.pem: No such file or directory");
    expect_error("tls:\n  clientCaFile: /tmp\n",
                 "config.yaml:2: tls.clientCaFile: cannot read /tmp: Is a directory");
    snprintf(text, sizeof(text), "listen: a:1\ntls:\n  clientCaFile: %s\n", ca);
    expect_error(text, "config.yaml:2: tls: clientCaFile needs certFile and keyFile (client certificates are "
                       "asked for over HTTPS)");
    expect_error(
        "tls:\n  certFile: /c\n  keyFile: /k\n  clientIdentities: [{subject: CN=a, scope: read}]\n",
        "config.yaml:1: tls: clientIdentities need clientCaFile (the CA whose client certificates are "
        "accepted)");
    expect_error(
        "tls:\n  clientIdentities:\n    - {scope: ingest}\n",
        "config.yaml:3: tls.clientIdentities[0]: subject: required, the certificate's subject DN such as "
        "CN=falco");
    expect_error("tls:\n  clientIdentities:\n    - {subject: CN=falco}\n",
                 "config.yaml:3: tls.clientIdentities[0]: scope: required, one of admin, ingest, read");
    expect_error("tls:\n  clientIdentities:\n    - {subject: CN=falco, scope: root}\n",
                 "config.yaml:3: tls.clientIdentities[0].scope: 'root' is not one of admin, ingest, read");
    expect_error(
        "tls:\n  clientIdentities:\n    - {subject: falco, scope: read}\n",
        "config.yaml:3: tls.clientIdentities[0]: subject: 'falco' is not a distinguished name (RFC 4514): "
        "character 6: expected '=' after the attribute type FALCO");
    expect_error(
        "tls:\n  clientIdentities:\n    - {subject: CN=a, scope: read}\n    - {subject: cn=a, scope: "
        "admin}\n",
        "config.yaml:4: tls.clientIdentities[1]: subject: 'CN=a' is listed twice (also entry 0)");
    expect_error("tls:\n  clientIdentities:\n    - {subject: CN=a, scop: read}\n",
                 "config.yaml:3: tls.clientIdentities[0]: unknown key 'scop' (known: subject, scope)");
    expect_error("tls:\n  clientIdentities: {subject: CN=a}\n",
                 "config.yaml:2: tls.clientIdentities: expected a list of {subject, scope}");
    unlink(ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clean_env),
        cmocka_unit_test_setup(test_empty_file_keeps_defaults, clean_env),
        cmocka_unit_test_setup(test_spec_example, clean_env),
        cmocka_unit_test_setup(test_every_key, clean_env),
        cmocka_unit_test_setup(test_env_default_and_escape, clean_env),
        cmocka_unit_test_setup(test_missing_var, clean_env),
        cmocka_unit_test_setup(test_unknown_keys, clean_env),
        cmocka_unit_test_setup(test_wrong_types, clean_env),
        cmocka_unit_test_setup(test_yaml_syntax_error, clean_env),
        cmocka_unit_test_setup(test_channels_json, clean_env),
        cmocka_unit_test_setup(test_error_leaves_config_unchanged, clean_env),
        cmocka_unit_test_setup(test_deny_destinations, clean_env),
        cmocka_unit_test_setup(test_deny_destinations_errors, clean_env),
        cmocka_unit_test_setup(test_load_file_and_token_file, clean_env),
        cmocka_unit_test_setup(test_env_overrides, clean_env),
        cmocka_unit_test_setup(test_set_str_and_add_token, clean_env),
        cmocka_unit_test_setup(test_alias_bomb_bounded, clean_env),
        cmocka_unit_test_setup(test_client_certificates, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, clean_env);
}
