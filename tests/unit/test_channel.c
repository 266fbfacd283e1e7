/* test_channel.c - registry, validation messages, common options, secrets,
 * HTTP classification, the test event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/email.h"
#include "channel_fixture.h"

#define V18 HD_FIXTURES "/sysdig/sysdig_blog2018_notificationChannel_get_item_v18.json"
#define PUT_REQ HD_FIXTURES "/sysdig/sysdig_blog2018_notificationChannel_put_request.json"
#define SPLUNK_AUTH "Splunk 2b8868fe198cf1203256e6af6515bfad"

static json_object *js(const char *text)
{
    struct hd_err err = {0};
    json_object *o = hd_json_parse(text, strlen(text), &err);
    if (o == NULL) {
        fail_msg("bad test JSON (%s): %s", err.msg, text);
    }
    return o;
}

static json_object *js_file(const char *path)
{
    size_t len = 0;
    char *text = fx_read_file(path, &len);
    assert_non_null(text);
    json_object *o = hd_json_parse(text, len, NULL);
    free(text);
    assert_non_null(o);
    return o;
}

static void test_registry(void **state)
{
    struct hd_err err = {0};
    const struct hd_channel_type *w = hd_channel_type_find("WEBHOOK");
    assert_non_null(w);
    assert_string_equal(w->name, "WEBHOOK");
    assert_null(hd_channel_type_find("NOPE"));
    assert_null(hd_channel_type_find(NULL));
    assert_int_equal(hd_channel_registry_check(&err), HD_OK);

    const struct hd_channel_type *dup[] = {w, w};
    assert_int_equal(hd_channel_registry_check_table(dup, 2, &err), HD_EINVAL);
    assert_string_equal(err.msg, "channel type WEBHOOK registered twice");
    struct hd_channel_type broken = *w;
    broken.render = NULL;
    const struct hd_channel_type *bad[] = {&broken};
    assert_int_equal(hd_channel_registry_check_table(bad, 1, &err), HD_EINVAL);
}

/* Each body must fail with exactly this message (what the API returns). */
static void test_validation_messages(void **state)
{
    static const char *const cases[][2] = {
        {"[]", "notificationChannel: must be an object"},
        {"{\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\"}}", "name: required"},
        {"{\"name\":\"\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\"}}",
         "name: must be a non-empty string of at most 255 characters"},
        {"{\"name\":7,\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\"}}",
         "name: must be a non-empty string of at most 255 characters"},
        {"{\"name\":\"a\",\"options\":{\"url\":\"http://x\"}}", "type: required"},
        {"{\"name\":\"a\",\"type\":\"CARRIER_PIGEON\",\"options\":{}}",
         "type: unknown channel type 'CARRIER_PIGEON'"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"enabled\":\"yes\",\"options\":{\"url\":\"http://x\"}}",
         "enabled: must be a boolean"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\"}", "options: required"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":[]}", "options: must be an object"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{}}", "options.url: required"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"ftp://x/y\"}}",
         "options.url: not a valid URL (need http:// or https://)"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://\"}}",
         "options.url: not a valid URL (need http:// or https://)"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://a b/\"}}",
         "options.url: not a valid URL (need http:// or https://)"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":42}}",
         "options.url: not a valid URL (need http:// or https://)"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"minSeverity\":8}}",
         "options.minSeverity: must be an integer 0..7"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"minSeverity\":\"3\"}}",
         "options.minSeverity: must be an integer 0..7"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"minSeverity\":2.5}}",
         "options.minSeverity: must be an integer 0..7"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"notifyOnOk\":1}}",
         "options.notifyOnOk: must be a boolean"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"additionalHeaders\":{\"X\":1}}}",
         "options.additionalHeaders.X: must be a string"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"additionalHeaders\":{\"X\":\"a\\r\\nEvil: 1\"}}}",
         "options.additionalHeaders.X: must not contain CR, LF or other control characters"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"additionalHeaders\":{\"Bad Name\":\"v\"}}}",
         "options.additionalHeaders.Bad Name: not a valid header name"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"additionalHeaders\":{\"X\\r\\nY\":\"v\"}}}",
         "options.additionalHeaders.X\r\nY: not a valid header name"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"additionalHeaders\":[]}}",
         "options.additionalHeaders: must be an object of header name to string"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"customData\":[1]}}",
         "options.customData: must be an object (merged into the body)"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"transform\":{\"millis\":\"x\"}}}",
         "options.transform.millis: unknown key (millisField, isoField, addNormalized, flatten, drop, "
         "rename)"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"transform\":{\"millisField\":3}}}",
         "options.transform.millisField: must be a non-empty string"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"transform\":{\"flatten\":\"yes\"}}}",
         "options.transform.flatten: must be a boolean"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"transform\":{\"drop\":[\"a\",1]}}}",
         "options.transform.drop: must be a list of paths (strings)"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"transform\":{\"rename\":{\"a\":1}}}}",
         "options.transform.rename.a: must be a non-empty path"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"transform\":\"x\"}}",
         "options.transform: must be an object"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"timeoutMs\":0}}",
         "options.timeoutMs: must be an integer 1..300000"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"maxInFlight\":0}}",
         "options.maxInFlight: must be an integer 1..64"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"maxInFlight\":65}}",
         "options.maxInFlight: must be an integer 1..64"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"maxInFlight\":2.5}}",
         "options.maxInFlight: must be an integer 1..64"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"maxInFlight\":\"4\"}}",
         "options.maxInFlight: must be an integer 1..64"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"sources\":\"falco\"}}",
         "options.sources: must be a list of strings"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"sources\":[\"falco\",\"nagios\"]}}",
         "options.sources[1]: unknown source 'nagios' (sysdig_monitor, sysdig_secure, falco, alertmanager, "
         "kubernetes, docker, generic)"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"match\":{\"k8s.namespace\":{}}}}",
         "options.match.k8s.namespace: must be a string, number or boolean"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"match\":{\"namespace\":\"p\"}}}",
         "options.match.namespace: unknown field 'namespace' (source, severity, state, name, description, "
         "url, "
         "host, containerId, alertKey, k8s.*, labels.<key>, raw.<path>)"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"match\":[\"k8s.namespace=~prod-.*\",\"name=~Test(\"]}}",
         "options.match[1]: invalid regular expression 'Test(': missing closing parenthesis at offset 5"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"match\":[\"k8s.namespace\"]}}",
         "options.match[0]: 'k8s.namespace' is not FIELD=VALUE, FIELD!=VALUE, FIELD=~REGEX or FIELD!~REGEX"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"match\":\"severity=4\"}}",
         "options.match: must be a list of matchers (\"k8s.namespace=~prod-.*\") or an object of field path "
         "to "
         "value"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"tls\":{\"caFile\":1}}}",
         "options.tls.caFile: must be a string"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"tls\":{\"verify\":false}}}",
         "options.tls.verify: unknown key (caFile, certFile, keyFile, insecureSkipVerify)"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"tls\":{\"certFile\":\"/"
         "c\"}}}",
         "options.tls: certFile and keyFile go together"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"allowInsecureConnections\":\"no\"}}",
         "options.allowInsecureConnections: must be a boolean"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"endpoint\":\"es:9200\"}}",
         "options.endpoint: not a valid URL (need http:// or https://)"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"batch\":{\"maxEvents\":0}}}",
         "options.batch.maxEvents: must be an integer 1..100000"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\",\"compress\":\"zip\"}}",
         "options.compress: must be a boolean or \"gzip\""},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"throttle\":{\"key\":\"alertKey\"}}}",
         "options.throttle.windowMs: required"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://"
         "x\",\"sendTestNotification\":\"y\"}}",
         "options.sendTestNotification: must be a boolean"},
        {"{\"name\":\"a\",\"type\":\"WEBHOOK\",\"sendTestNotification\":1,\"options\":{\"url\":\"http://"
         "x\"}}",
         "sendTestNotification: must be a boolean"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hd_err err = {0};
        json_object *o = js(cases[i][0]);
        int rc = hd_channel_validate(o, &err);
        json_object_put(o);
        if (rc != HD_EINVAL || strcmp(err.msg, cases[i][1]) != 0) {
            fail_msg("case %zu: rc %d msg '%s', want '%s'", i, rc, err.msg, cases[i][1]);
        }
    }
    /* A 256-character name is one too many; 255 is fine. */
    char name[300];
    char body[512];
    struct hd_err err = {0};
    memset(name, 'n', 256);
    name[256] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\"}}",
             name);
    json_object *o = js(body);
    assert_int_equal(hd_channel_validate(o, &err), HD_EINVAL);
    json_object_put(o);
    name[255] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://x\"}}",
             name);
    o = js(body);
    assert_int_equal(hd_channel_validate(o, &err), HD_OK);
    json_object_put(o);
}

static void test_validate_accepts_sysdig_objects(void **state)
{
    struct hd_err err = {0};
    json_object *v18 = js_file(V18);
    assert_int_equal(hd_channel_validate(v18, &err), HD_OK);
    json_object_put(v18);
    json_object *put = js_file(PUT_REQ);
    json_object *inner = NULL;
    assert_true(json_object_object_get_ex(put, "notificationChannel", &inner));
    assert_int_equal(hd_channel_validate(inner, &err), HD_OK);
    json_object_put(put);
    /* Nulls (python client), unknown fields and every common option. */
    json_object *full = js(
        "{\"id\":null,\"version\":null,\"createdOn\":null,\"modifiedOn\":null,\"teamId\":12,\"name\":\"ES\","
        "\"type\":\"WEBHOOK\",\"enabled\":false,\"sendTestNotification\":false,"
        "\"options\":{\"url\":\"https://es:9200/sysdigsecure/event\",\"notifyOnOk\":null,\"minSeverity\":4,"
        "\"sources\":[\"sysdig_secure\",\"falco\"],\"match\":{\"k8s.namespace\":\"prod\",\"severity\":4,"
        "\"raw.resolved\":false,\"labels.falco.rule\":\"x\"},\"transform\":{\"millisField\":\"estimestamp\","
        "\"isoField\":\"@timestamp\",\"addNormalized\":true,\"flatten\":false,\"drop\":[\"a.b\"],"
        "\"rename\":{\"c\":\"d.e\"}},\"template\":null,\"timeoutMs\":3000,\"tls\":{\"caFile\":\"/etc/"
        "ca.pem\","
        "\"certFile\":\"/c.pem\",\"keyFile\":\"/k.pem\",\"insecureSkipVerify\":false},"
        "\"allowInsecureConnections\":false,\"endpoint\":\"http://"
        "localhost:9200\",\"batch\":{\"maxEvents\":500,"
        "\"maxBytes\":1048576,\"maxDelayMs\":100},\"compress\":\"gzip\",\"throttle\":{\"key\":\"alertKey\","
        "\"windowMs\":60000},\"sendTestNotification\":true,\"someFutureOption\":{\"x\":1}}}");
    if (hd_channel_validate(full, &err) != HD_OK) {
        fail_msg("%s", err.msg);
    }
    json_object_put(full);
}

static void test_new_and_common_options(void **state)
{
    struct hd_err err = {0};
    struct hd_channel *ch = hd_channel_new(
        14787, 18,
        "{\"type\":\"WEBHOOK\",\"name\":\"ES\",\"enabled\":false,\"options\":{\"url\":\"https://es/x\","
        "\"notifyOnOk\":false,\"minSeverity\":3,\"sources\":[\"falco\"],\"match\":{\"severity\":4,"
        "\"raw.resolved\":false,\"k8s.namespace\":\"prod\"},\"transform\":{\"millisField\":\"estimestamp\"},"
        "\"template\":{\"a\":\"{{name}}\"},\"timeoutMs\":3000,\"tls\":{\"caFile\":\"/ca.pem\"},"
        "\"allowInsecureConnections\":true,\"endpoint\":\"http://"
        "localhost:9200\",\"batch\":{\"maxEvents\":500,"
        "\"maxDelayMs\":100},\"compress\":true,\"throttle\":{\"key\":\"alertKey\",\"windowMs\":60000}}}",
        &err);
    if (ch == NULL) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(ch->id, 14787);
    assert_int_equal(ch->version, 18);
    assert_string_equal(ch->name, "ES");
    assert_int_equal(ch->enabled, 0);
    assert_ptr_equal(ch->type, hd_channel_type_find("WEBHOOK"));
    const struct hd_channel_common *c = &ch->common;
    assert_int_equal(c->notify_on_ok, 0);
    assert_int_equal(c->notify_on_resolve, 1);
    assert_int_equal(c->min_severity, 3);
    assert_int_equal(c->n_sources, 1);
    assert_string_equal(c->sources[0], "falco");
    assert_int_equal(c->n_match, 3);
    for (size_t i = 0; i < c->n_match; i++) {
        if (strcmp(c->match[i].path, "severity") == 0) {
            assert_string_equal(c->match[i].value, "4");
        } else if (strcmp(c->match[i].path, "raw.resolved") == 0) {
            assert_string_equal(c->match[i].value, "false");
        } else {
            assert_string_equal(c->match[i].path, "k8s.namespace");
            assert_string_equal(c->match[i].value, "prod");
        }
    }
    assert_non_null(c->transform);
    assert_non_null(c->tmpl);
    assert_int_equal(c->timeout_ms, 3000);
    assert_string_equal(c->tls.ca_file, "/ca.pem");
    assert_null(c->tls.cert_file);
    assert_int_equal(c->tls.insecure, 1);
    assert_string_equal(c->endpoint, "http://localhost:9200");
    assert_int_equal(c->batch_max_events, 500);
    assert_int_equal(c->batch_max_bytes, 5 * 1024 * 1024);
    assert_int_equal(c->batch_max_delay_ms, 100);
    assert_int_equal(c->compress, 1);
    assert_string_equal(c->throttle_key, "alertKey");
    assert_int_equal(c->throttle_window_ms, 60000);
    hd_channel_free(ch);
    hd_channel_free(NULL);

    /* Defaults (the article's v17 channel). */
    ch = hd_channel_new(1, 17,
                        "{\"type\":\"WEBHOOK\",\"name\":\"Splunk\",\"options\":{\"notifyOnOk\":true,"
                        "\"url\":\"http://somehost:9000/services/collector/raw\",\"notifyOnResolve\":true}}",
                        &err);
    assert_non_null(ch);
    assert_int_equal(ch->enabled, 1);
    assert_int_equal(ch->common.min_severity, 7);
    assert_int_equal(ch->common.timeout_ms, 10000);
    assert_null(ch->common.sources);
    assert_null(ch->common.transform);
    assert_int_equal(ch->common.tls.insecure, 0);
    assert_int_equal(ch->common.compress, 0);
    hd_channel_free(ch);

    assert_null(hd_channel_new(2, 1, "{\"type\":\"SMOKE\",\"name\":\"x\",\"options\":{}}", &err));
    assert_string_equal(err.msg, "type: unknown channel type 'SMOKE'");
    assert_null(hd_channel_new(3, 1, "{\"type\":", &err));
    assert_non_null(strstr(err.msg, "channel 3: at byte"));
    assert_null(
        hd_channel_new(4, 1, "{\"type\":\"WEBHOOK\",\"name\":\"x\",\"options\":{\"url\":\"x\"}}", &err));
    assert_string_equal(err.msg, "options.url: not a valid URL (need http:// or https://)");
}

/* common_parse writes its output only on success. */
static void test_common_parse_untouched_on_error(void **state)
{
    struct hd_channel_common c;
    struct hd_err err = {0};
    memset(&c, 0x5a, sizeof(c));
    json_object *o = js("{\"sources\":[\"falco\"],\"match\":{\"source\":\"falco\"},\"minSeverity\":99}");
    assert_int_equal(hd_channel_common_parse(&c, o, &err), HD_EINVAL);
    assert_int_equal(c.min_severity, 0x5a5a5a5a);
    json_object_put(o);
    assert_int_equal(hd_channel_common_parse(&c, NULL, &err), HD_EINVAL);
    o = js("{\"sources\":[],\"match\":{}}");
    assert_int_equal(hd_channel_common_parse(&c, o, &err), HD_OK);
    assert_null(c.sources);
    assert_int_equal(c.n_match, 0);
    hd_channel_common_clear(&c);
    hd_channel_common_clear(NULL);
    json_object_put(o);
}

static const char *opt_str(json_object *obj, const char *path)
{
    json_object *v = hd_json_path(obj, path);
    return v ? json_object_get_string(v) : NULL;
}

static void test_mask_secrets(void **state)
{
    json_object *stored = js_file(V18);
    json_object *o =
        js("{\"name\":\"x\",\"apiKey\":\"top\",\"options\":{\"url\":\"http://u\","
           "\"additionalHeaders\":{\"Authorization\":\"Splunk abc\",\"X-Empty\":\"\"},"
           "\"apiKey\":\"k1\",\"serviceKey\":\"s\",\"routingKey\":\"r\",\"token\":\"t\","
           "\"secretAccessKey\":\"sak\",\"accessKeyId\":\"AKIA\",\"password\":\"\",\"username\":\"u\","
           "\"nested\":{\"password\":\"p\",\"list\":[{\"token\":\"t2\"}]},\"tokenish\":\"no\"}}");
    json_object *m = hd_channel_mask_secrets(o);
    assert_non_null(m);
    assert_ptr_not_equal(m, o);
    assert_string_equal(opt_str(m, "options.additionalHeaders.Authorization"), HD_SECRET_MASK);
    assert_string_equal(opt_str(m, "options.additionalHeaders.X-Empty"), "");
    assert_string_equal(opt_str(m, "options.apiKey"), HD_SECRET_MASK);
    assert_string_equal(opt_str(m, "options.serviceKey"), HD_SECRET_MASK);
    assert_string_equal(opt_str(m, "options.routingKey"), HD_SECRET_MASK);
    assert_string_equal(opt_str(m, "options.token"), HD_SECRET_MASK);
    assert_string_equal(opt_str(m, "options.secretAccessKey"), HD_SECRET_MASK);
    assert_string_equal(opt_str(m, "options.nested.password"), HD_SECRET_MASK);
    assert_string_equal(opt_str(m, "options.nested.list.0.token"), HD_SECRET_MASK);
    assert_string_equal(opt_str(m, "options.password"), ""); /* nothing set, nothing to hide */
    assert_string_equal(opt_str(m, "options.accessKeyId"), "AKIA");
    assert_string_equal(opt_str(m, "options.username"), "u");
    assert_string_equal(opt_str(m, "options.tokenish"), "no");
    assert_string_equal(opt_str(m, "options.url"), "http://u");
    assert_string_equal(opt_str(m, "apiKey"), "top"); /* outside options: not a channel secret */
    /* The original is untouched. */
    assert_string_equal(opt_str(o, "options.additionalHeaders.Authorization"), "Splunk abc");
    assert_string_equal(opt_str(o, "options.nested.list.0.token"), "t2");
    json_object_put(m);
    json_object_put(o);
    json_object_put(stored);
}

/* The article's flow: GET (masked) -> edit -> PUT never destroys a secret. */
static void test_get_put_round_trip_keeps_secret(void **state)
{
    json_object *stored = js_file(V18);
    json_object *get = hd_channel_mask_secrets(stored);
    struct hd_buf b;
    hd_buf_init(&b, 0);
    assert_int_equal(hd_json_append(get, &b), HD_OK);
    assert_null(strstr(b.p, "2b8868fe198cf1203256e6af6515bfad"));

    /* The client edits another field and sends everything back. */
    json_object *put = hd_json_parse(b.p, b.len, NULL);
    assert_non_null(put);
    json_object *opts = hd_json_path(put, "options");
    json_object_object_add(opts, "minSeverity", json_object_new_int(3));
    assert_int_equal(hd_channel_keep_secrets(put, stored, NULL), HD_OK);
    assert_string_equal(opt_str(put, "options.additionalHeaders.Authorization"), SPLUNK_AUTH);
    assert_int_equal(json_object_get_int(hd_json_path(put, "options.minSeverity")), 3);
    struct hd_err err = {0};
    assert_int_equal(hd_channel_validate(put, &err), HD_OK);
    json_object_put(put);

    /* A new value replaces the secret; a new header with the mask and no
     * stored value stays the mask (nothing to restore). */
    put = hd_json_parse(b.p, b.len, NULL);
    json_object *hdrs = hd_json_path(put, "options.additionalHeaders");
    json_object_object_add(hdrs, "Authorization", json_object_new_string("Splunk new-token"));
    json_object_object_add(hdrs, "X-Other", json_object_new_string(HD_SECRET_MASK));
    assert_int_equal(hd_channel_keep_secrets(put, stored, NULL), HD_OK);
    assert_string_equal(opt_str(put, "options.additionalHeaders.Authorization"), "Splunk new-token");
    assert_string_equal(opt_str(put, "options.additionalHeaders.X-Other"), HD_SECRET_MASK);
    json_object_put(put);

    /* Nested and list secrets are restored by position. */
    json_object *old =
        js("{\"options\":{\"token\":\"t\",\"nested\":{\"password\":\"p\"},\"list\":[{\"apiKey\":\"a0\"},"
           "{\"apiKey\":\"a1\"}],\"url\":\"http://x\"}}");
    json_object *masked = hd_channel_mask_secrets(old);
    assert_int_equal(hd_channel_keep_secrets(masked, old, NULL), HD_OK);
    char *c1 = fx_canonical(json_object_to_json_string(masked), strlen(json_object_to_json_string(masked)));
    char *c2 = fx_canonical(json_object_to_json_string(old), strlen(json_object_to_json_string(old)));
    assert_string_equal(c1, c2);
    free(c1);
    free(c2);
    json_object_put(masked);
    json_object_put(old);

    hd_buf_free(&b);
    json_object_put(get);
    json_object_put(stored);
}

static void test_classify_http(void **state)
{
    static const struct {
        long status;
        enum hd_verdict v;
    } cases[] = {
        {200, HD_VERDICT_DELIVERED}, {201, HD_VERDICT_DELIVERED}, {204, HD_VERDICT_DELIVERED},
        {299, HD_VERDICT_DELIVERED}, {0, HD_VERDICT_RETRY},       {408, HD_VERDICT_RETRY},
        {429, HD_VERDICT_RETRY},     {500, HD_VERDICT_RETRY},     {502, HD_VERDICT_RETRY},
        {503, HD_VERDICT_RETRY},     {504, HD_VERDICT_RETRY},     {599, HD_VERDICT_RETRY},
        {100, HD_VERDICT_DEAD},      {301, HD_VERDICT_DEAD},      {302, HD_VERDICT_DEAD},
        {400, HD_VERDICT_DEAD},      {401, HD_VERDICT_DEAD},      {403, HD_VERDICT_DEAD},
        {404, HD_VERDICT_DEAD},      {409, HD_VERDICT_DEAD},      {413, HD_VERDICT_DEAD},
        {422, HD_VERDICT_DEAD},
    };
    struct hd_response r;
    hd_response_init(&r);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r.status = cases[i].status;
        if (hd_classify_http(&r) != cases[i].v) {
            fail_msg("status %ld: got %d want %d", cases[i].status, hd_classify_http(&r), cases[i].v);
        }
    }
    hd_response_clear(&r);
}

static void test_test_event(void **state)
{
    struct hd_err err = {0};
    struct hd_channel *ch = hd_channel_new(
        9, 1, "{\"type\":\"WEBHOOK\",\"name\":\"ops \\\"prod\\\"\",\"options\":{\"url\":\"http://x/\"}}",
        &err);
    assert_non_null(ch);
    struct hd_event ev;
    int64_t before = hd_now_us();
    assert_int_equal(hd_channel_test_event(ch, &ev), HD_OK);
    assert_string_equal(ev.source, "generic");
    assert_string_equal(ev.name, "herald test notification for channel ops \"prod\"");
    assert_string_equal(ev.description, "This is a test notification sent by herald");
    assert_int_equal(ev.severity, 6);
    assert_int_equal(ev.state, HD_STATE_ACTIVE);
    assert_true(ev.ts_us >= before && ev.ts_us <= hd_now_us());
    assert_int_equal(strlen(ev.id), 32);
    assert_int_equal(strspn(ev.id, "0123456789abcdef"), 32);
    json_object *raw = hd_json_parse(ev.raw, ev.raw_len, &err);
    if (raw == NULL) {
        fail_msg("raw: %s", err.msg);
    }
    assert_string_equal(opt_str(raw, "herald"), "test");
    assert_true(json_object_get_boolean(hd_json_path(raw, "test")));
    assert_string_equal(opt_str(raw, "channel"), "ops \"prod\"");
    assert_non_null(opt_str(raw, "message"));
    assert_int_equal(json_object_get_int64(hd_json_path(raw, "timestamp")), ev.ts_us);
    json_object_put(raw);

    /* The default WEBHOOK body of a test is that raw document. */
    struct hd_request req;
    const struct hd_event *evs[1] = {&ev};
    hd_request_init(&req);
    assert_int_equal(ch->type->render(ch, evs, 1, &req, &err), HD_OK);
    assert_int_equal(req.body.len, ev.raw_len);
    hd_request_clear(&req);
    hd_event_clear(&ev);
    hd_channel_free(ch);
}

static int table_has(const char *const *list, const char *name)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        if (strcmp(list[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* URLs: Slack's is the credential (masked whole, for SLACK only); any other
 * URL option keeps scheme, host and path and has userinfo and query values
 * masked; sent back as shown, the stored URL is kept. */
static void test_url_secrets(void **state)
{
    json_object *slack =
        js("{\"type\":\"SLACK\",\"options\":{\"url\":\"https://hooks.slack.com/services/T0/B0/"
           "XYZsecret\",\"privateChannelUrl\":\"https://hooks.slack.com/services/T0/B1/p\"}}");
    json_object *m = hd_channel_mask_secrets(slack);
    assert_string_equal(opt_str(m, "options.url"), HD_SECRET_MASK);
    assert_string_equal(opt_str(m, "options.privateChannelUrl"), HD_SECRET_MASK);
    assert_int_equal(hd_channel_keep_secrets(m, slack, NULL), HD_OK);
    assert_string_equal(opt_str(m, "options.url"), "https://hooks.slack.com/services/T0/B0/XYZsecret");
    json_object_put(m);

    json_object *es =
        js("{\"type\":\"ELASTICSEARCH\",\"options\":{\"url\":\"https://elastic:pw1234@es.local:9200/"
           "x?token=abc123&pretty\",\"endpoint\":\"http://plain:8080/\"}}");
    m = hd_channel_mask_secrets(es);
    assert_string_equal(opt_str(m, "options.url"),
                        "https://********@es.local:9200/x?token=********&********");
    assert_string_equal(opt_str(m, "options.endpoint"), "http://plain:8080/"); /* nothing to hide */
    assert_int_equal(hd_channel_keep_secrets(m, es, NULL), HD_OK);
    assert_string_equal(opt_str(m, "options.url"),
                        "https://elastic:pw1234@es.local:9200/x?token=abc123&pretty");
    json_object_put(m);

    /* A WEBHOOK url is not Slack's: readable, only its credentials masked. */
    json_object *wh =
        js("{\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://sink:9000/services/collector\"}}");
    m = hd_channel_mask_secrets(wh);
    assert_string_equal(opt_str(m, "options.url"), "http://sink:9000/services/collector");
    json_object_put(m);
    json_object_put(wh);
    json_object_put(es);
    json_object_put(slack);
}

/* A kept secret goes only where it was given for (SPEC 4). */
static void test_kept_secret_stays_with_destination(void **state)
{
    static const char *const stored_text =
        "{\"type\":\"WEBHOOK\",\"name\":\"splunk\",\"options\":{\"url\":\"http://somehost:9000/services/"
        "collector/raw\",\"additionalHeaders\":{\"Authorization\":\"Splunk 2b8868fe\"}}}";
    static const struct {
        const char *put;
        int rc;
    } cases[] = {
        /* another path on the same origin, or a default port written out: kept */
        {"{\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://SOMEHOST:9000/other\",\"additionalHeaders\":{"
         "\"Authorization\":\"********\"}}}",
         HD_OK},
        {"{\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://attacker/\",\"additionalHeaders\":{"
         "\"Authorization\":\"********\"}}}",
         HD_EINVAL},
        {"{\"type\":\"WEBHOOK\",\"options\":{\"url\":\"https://somehost:9000/services/collector/raw\","
         "\"additionalHeaders\":{\"Authorization\":\"********\"}}}",
         HD_EINVAL},
        {"{\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://somehost:9001/services/collector/raw\","
         "\"additionalHeaders\":{\"Authorization\":\"********\"}}}",
         HD_EINVAL},
        {"{\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://somehost:9000/\",\"endpoint\":\"http://x/\","
         "\"additionalHeaders\":{\"Authorization\":\"********\"}}}",
         HD_EINVAL},
        {"{\"type\":\"PAGER_DUTY\",\"options\":{\"url\":\"http://somehost:9000/services/collector/raw\","
         "\"additionalHeaders\":{\"Authorization\":\"********\"}}}",
         HD_EINVAL},
        /* the secret sent again: the new host gets what the admin gave it */
        {"{\"type\":\"WEBHOOK\",\"options\":{\"url\":\"http://attacker/\",\"additionalHeaders\":{"
         "\"Authorization\":\"Splunk new\"}}}",
         HD_OK},
    };
    json_object *stored = js(stored_text);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hd_err err = {0};
        json_object *put = js(cases[i].put);
        assert_int_equal(hd_channel_keep_secrets(put, stored, &err), cases[i].rc);
        if (cases[i].rc != HD_OK) {
            assert_non_null(strstr(err.msg, "options.additionalHeaders.Authorization"));
            assert_null(strstr(err.msg, "2b8868fe"));
        }
        json_object_put(put);
    }
    json_object_put(stored);
}

/* What a sink answers loses the channel's secrets, also in encoded forms. */
static void test_scrub_answer(void **state)
{
    struct hd_err err = {0};
    struct hd_channel *ch = hd_channel_new(
        1, 1,
        "{\"type\":\"ELASTICSEARCH\",\"name\":\"es\",\"options\":{\"url\":\"http://es:9200/"
        "\",\"index\":\"i\","
        "\"username\":\"elastic\",\"password\":\"hunter22\",\"additionalHeaders\":{\"X-Key\":\"k-9876\"}}}",
        &err);
    assert_non_null(ch);
    struct hd_response resp;
    hd_response_init(&resp);
    const char *echo = "{\"seen\":\"Basic ZWxhc3RpYzpodW50ZXIyMg== k-9876 hunter22 fine\"}";
    hd_buf_puts(&resp.body, echo);
    snprintf(resp.error, sizeof(resp.error), "pw hunter22");
    hd_channel_scrub(ch, &resp);
    assert_string_equal(resp.body.p, "{\"seen\":\"Basic ************************ ****** ******** fine\"}");
    assert_string_equal(resp.error, "pw ********");
    hd_response_clear(&resp);
    hd_channel_free(ch);
}

/* Each type's secret and URL tables (channel.h) are present and well formed,
 * and the start-up check refuses a malformed one. */
static void test_option_tables_well_formed(void **state)
{
    struct hd_err err = {0};
    size_t n = 0;
    const struct hd_channel_type *const *types = hd_channel_types(&n);
    assert_true(n > 0);
    assert_int_equal(hd_channel_registry_check_table(types, n, &err), HD_OK);
    for (size_t i = 0; i < n; i++) {
        if (!hd_channel_url_option(types[i], "endpoint")) {
            fail_msg("%s: endpoint (a common option) is not among its url_options", types[i]->name);
        }
    }

    /* The secrets masked are the union of the types' tables: exactly the
     * names SPEC 4 lists (plus SNS's sessionToken), nothing less. */
    static const char *const spec[] = {"apiKey", "serviceKey",       "routingKey",   "password",
                                       "token",  "secretAccessKey",  "sessionToken", "additionalHeaders.*",
                                       "url",    "privateChannelUrl"};
    size_t declared = 0;
    for (size_t s = 0; s < sizeof(spec) / sizeof(spec[0]); s++) {
        int found = 0;
        for (size_t i = 0; i < n; i++) {
            found |= table_has(types[i]->secret_options, spec[s]);
        }
        if (!found) {
            fail_msg("no type declares the secret %s", spec[s]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; types[i]->secret_options != NULL && types[i]->secret_options[j] != NULL; j++) {
            declared++;
            int known = 0;
            for (size_t s = 0; s < sizeof(spec) / sizeof(spec[0]); s++) {
                known |= strcmp(types[i]->secret_options[j], spec[s]) == 0;
            }
            if (!known) {
                fail_msg("%s: new secret %s: add it here and to SPEC 4", types[i]->name,
                         types[i]->secret_options[j]);
            }
        }
    }
    assert_true(declared >= sizeof(spec) / sizeof(spec[0]));

    static const char *const none[] = {NULL};
    static const char *const with_endpoint[] = {"url", "endpoint", NULL};
    static const char *const twice[] = {"url", "privateChannelUrl", "url", NULL};
    static const char *const spaced[] = {"api key", NULL};
    static const char *const each_only[] = {".*", NULL};
    static const char *const each_url[] = {"additionalHeaders.*", NULL};
    static const char *const endpoint[] = {"url", NULL};
    static const struct {
        const char *const *secrets;
        const char *const *urls;
        const char *msg;
    } bad[] = {
        {none, with_endpoint, "channel type WEBHOOK: url_options lists endpoint, a common option"},
        {none, twice, "channel type WEBHOOK: url_options lists url twice"},
        {spaced, endpoint, "channel type WEBHOOK: secret_options[0] 'api key' is not an option name"},
        {each_only, endpoint, "channel type WEBHOOK: secret_options[0] '.*' is not an option name"},
        {none, each_url, "channel type WEBHOOK: url_options[0] 'additionalHeaders.*' is not an option name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hd_channel_type t = *hd_channel_type_find("WEBHOOK");
        const struct hd_channel_type *one[] = {&t};
        t.secret_options = bad[i].secrets;
        t.url_options = bad[i].urls;
        assert_int_equal(hd_channel_registry_check_table(one, 1, &err), HD_EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
    }
}

/* Valid options for every registered type (a new type must add a line). */
static const char *const type_samples[][2] = {
    {"WEBHOOK", "{\"url\":\"http://x/\"}"},
    {"ELASTICSEARCH", "{\"url\":\"http://x:9200\",\"index\":\"herald\"}"},
    {"SPLUNK", "{\"url\":\"http://x:8088\",\"token\":\"t\"}"},
    {"EMAIL", "{\"emailRecipients\":[\"ops@example.com\"]}"},
    {"SLACK", "{\"url\":\"https://hooks.slack.com/services/T/B/X\"}"},
    {"PAGER_DUTY", "{\"serviceKey\":\"0123456789abcdef0123456789abcdef\"}"},
    {"OPSGENIE", "{\"apiKey\":\"k\"}"},
    {"VICTOROPS", "{\"apiKey\":\"a\",\"routingKey\":\"b\"}"},
    {"SNS", "{\"snsTopicARNs\":[\"arn:aws:sns:us-east-1:123456789012:t\"],\"accessKeyId\":\"AKID\","
            "\"secretAccessKey\":\"s\"}"},
    {"MS_TEAMS", "{\"url\":\"https://x.logic.azure.com/workflows/w/triggers/manual/paths/invoke?sig=s\"}"},
    {"GCHAT", "{\"url\":\"https://chat.googleapis.com/v1/spaces/S/messages?key=k&token=t\"}"},
    {"PROMETHEUS_ALERT_MANAGER", "{\"url\":\"http://alertmanager:9093\"}"},
    {"LOKI", "{\"url\":\"http://loki:3100\"}"},
    {"SYSLOG", "{\"url\":\"tcp://syslog:514\"}"},
};

/* 1 if a channel of type with options sample plus key = "ftp://x/" is refused
 * because of key: the type reads key as a URL. */
static int reads_url(const char *type, const char *sample, const char *key)
{
    json_object *obj = js("{\"name\":\"u\",\"options\":{}}");
    json_object_object_add(obj, "type", json_object_new_string(type));
    json_object *opts = js(sample);
    json_object_object_add(opts, key, json_object_new_string("ftp://x/"));
    json_object_object_add(obj, "options", opts);
    char want[128];
    snprintf(want, sizeof(want), "options.%s: ", key);
    struct hd_err err = {0};
    int rc = hd_channel_validate(obj, &err);
    json_object_put(obj);
    if (rc != HD_OK && strncmp(err.msg, want, strlen(want)) != 0) {
        fail_msg("%s %s: refused for another reason: %s", type, key, err.msg);
    }
    return rc != HD_OK;
}

/* Every URL option a type reads is declared in its url_options, and every
 * declared one is read as a URL (SPEC 4: the URL hardening relies on it). */
static void test_url_options_declared(void **state)
{
    struct hd_smtp_settings smtp = {.url = "smtp://127.0.0.1:25", .from = "herald@example.com"};
    assert_int_equal(hd_channel_set_smtp(&smtp), HD_OK);
    static const char *const candidates[] = {"url", "endpoint", "privateChannelUrl", "webhookUrl", "uri"};
    size_t n = 0;
    const struct hd_channel_type *const *types = hd_channel_types(&n);
    for (size_t i = 0; i < n; i++) {
        const char *sample = NULL;
        for (size_t s = 0; s < sizeof(type_samples) / sizeof(type_samples[0]); s++) {
            if (strcmp(type_samples[s][0], types[i]->name) == 0) {
                sample = type_samples[s][1];
            }
        }
        if (sample == NULL) {
            fail_msg("%s: add valid options to type_samples", types[i]->name);
        }
        struct hd_err err = {0};
        json_object *obj = js("{\"name\":\"u\"}");
        json_object_object_add(obj, "type", json_object_new_string(types[i]->name));
        json_object_object_add(obj, "options", js(sample));
        if (hd_channel_validate(obj, &err) != HD_OK) {
            fail_msg("%s: sample refused: %s", types[i]->name, err.msg);
        }
        json_object_put(obj);
        for (size_t c = 0; c < sizeof(candidates) / sizeof(candidates[0]); c++) {
            if (reads_url(types[i]->name, sample, candidates[c]) &&
                !hd_channel_url_option(types[i], candidates[c])) {
                fail_msg("%s reads %s as a URL but does not declare it", types[i]->name, candidates[c]);
            }
        }
        const char *const *declared[] = {types[i]->url_options, hd_channel_common_url_options};
        for (size_t l = 0; l < 2; l++) {
            for (size_t u = 0; declared[l] != NULL && declared[l][u] != NULL; u++) {
                if (!reads_url(types[i]->name, sample, declared[l][u])) {
                    fail_msg("%s declares %s a URL option but accepts ftp:// in it", types[i]->name,
                             declared[l][u]);
                }
            }
        }
    }
    hd_channel_smtp_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_validation_messages),
        cmocka_unit_test(test_validate_accepts_sysdig_objects),
        cmocka_unit_test(test_new_and_common_options),
        cmocka_unit_test(test_common_parse_untouched_on_error),
        cmocka_unit_test(test_mask_secrets),
        cmocka_unit_test(test_get_put_round_trip_keeps_secret),
        cmocka_unit_test(test_url_secrets),
        cmocka_unit_test(test_kept_secret_stays_with_destination),
        cmocka_unit_test(test_scrub_answer),
        cmocka_unit_test(test_classify_http),
        cmocka_unit_test(test_test_event),
        cmocka_unit_test(test_option_tables_well_formed),
        cmocka_unit_test(test_url_options_declared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
