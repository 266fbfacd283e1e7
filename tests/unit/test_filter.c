/* test_filter.c - hd_filter_accepts: notifyOnOk/Resolve, minSeverity,
 * sources, match (columns, labels.*, raw.*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel_fixture.h"
#include "route/filter.h"

struct run {
    struct hd_event ev;
    struct hd_channel_common c;
};

static int setup(void **state)
{
    struct run *r = calloc(1, sizeof(*r));
    if (r == NULL || fx_secure_event(&r->ev) != 0) {
        free(r);
        return -1;
    }
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    struct run *r = *state;
    hd_event_clear(&r->ev);
    hd_channel_common_clear(&r->c);
    free(r);
    return 0;
}

/* Parses options into r->c (replacing the previous ones). */
static void opts(struct run *r, const char *text)
{
    struct hd_err err = {0};
    json_object *o = hd_json_parse(text, strlen(text), &err);
    assert_non_null(o);
    hd_channel_common_clear(&r->c);
    int rc = hd_channel_common_parse(&r->c, o, &err);
    json_object_put(o);
    if (rc != HD_OK) {
        fail_msg("options: %s", err.msg);
    }
}

static void test_defaults_accept_everything(void **state)
{
    struct run *r = *state;
    opts(r, "{}");
    for (int s = 0; s <= 7; s++) {
        r->ev.severity = s;
        assert_true(hd_filter_accepts(&r->c, &r->ev));
    }
    r->ev.state = HD_STATE_OK;
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    r->ev.state = HD_STATE_RESOLVED;
    assert_true(hd_filter_accepts(&r->c, &r->ev));
}

static void test_notify_on_ok_and_resolve(void **state)
{
    struct run *r = *state;
    opts(r, "{\"notifyOnOk\":false}");
    r->ev.state = HD_STATE_OK;
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    r->ev.state = HD_STATE_RESOLVED;
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    r->ev.state = HD_STATE_ACTIVE;
    assert_true(hd_filter_accepts(&r->c, &r->ev));

    opts(r, "{\"notifyOnResolve\":false}");
    r->ev.state = HD_STATE_RESOLVED;
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    r->ev.state = HD_STATE_OK;
    assert_true(hd_filter_accepts(&r->c, &r->ev));
}

static void test_min_severity(void **state)
{
    struct run *r = *state;
    opts(r, "{\"minSeverity\":3}");
    r->ev.severity = 4;
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    r->ev.severity = 3;
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    r->ev.severity = 0;
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"minSeverity\":0}");
    r->ev.severity = 1;
    assert_false(hd_filter_accepts(&r->c, &r->ev));
}

static void test_sources(void **state)
{
    struct run *r = *state;
    opts(r, "{\"sources\":[\"falco\",\"sysdig_secure\"]}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"sources\":[\"falco\",\"alertmanager\"]}");
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    r->ev.source = "alertmanager";
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    r->ev.source = NULL;
    assert_false(hd_filter_accepts(&r->c, &r->ev));
}

static void test_match_columns(void **state)
{
    struct run *r = *state;
    opts(r, "{\"match\":{\"k8s.namespace\":\"example-java-app\"}}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"match\":{\"k8s.namespace\":\"prod\"}}");
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"match\":{\"severity\":4,\"state\":\"ACTIVE\",\"source\":\"sysdig_secure\",\"host\":\"ip-10-0-"
            "8-165\","
            "\"containerId\":\"57c1820a87f1\",\"k8s.pod\":\"redis-3463099497-2xxw3\",\"k8s.container\":"
            "\"ftest\"}}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    r->ev.severity = 5;
    assert_false(hd_filter_accepts(&r->c, &r->ev)); /* all must match */
    r->ev.severity = 4;
    r->ev.state = HD_STATE_OK;
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    /* An absent field never matches. */
    opts(r, "{\"match\":{\"k8s.kind\":\"Pod\"}}");
    assert_false(hd_filter_accepts(&r->c, &r->ev));
}

static void test_match_labels_and_raw(void **state)
{
    struct run *r = *state;
    opts(r, "{\"match\":{\"labels.falco.rule\":\"Read sensitive file untrusted\",\"labels.policyId\":59}}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"match\":{\"labels.falco.rule\":\"Terminal shell in container\"}}");
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"match\":{\"labels.nope\":\"x\"}}");
    assert_false(hd_filter_accepts(&r->c, &r->ev));

    opts(r, "{\"match\":{\"raw.alert.name\":\"Policy 59: FILE POLICY: Read sensitive file untrusted\","
            "\"raw.resolved\":false,\"raw.alert.severity\":4,"
            "\"raw.entities.0.policyEvents.0.containerId\":\"57c1820a87f1\"}}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"match\":{\"raw.resolved\":true}}");
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"match\":{\"raw.alert.scope\":\"null\"}}"); /* JSON null is absent, not the text null */
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"match\":{\"raw.entities\":\"x\"}}"); /* containers never equal a scalar */
    assert_false(hd_filter_accepts(&r->c, &r->ev));

    /* No labels, or an original that is not JSON: no match, no crash. */
    free(r->ev.labels);
    r->ev.labels = NULL;
    opts(r, "{\"match\":{\"labels.policyId\":\"59\"}}");
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    free(r->ev.raw);
    r->ev.raw = hd_strdup("not json");
    r->ev.raw_len = 8;
    opts(r, "{\"match\":{\"raw.a\":\"b\"}}");
    assert_false(hd_filter_accepts(&r->c, &r->ev));
}

/* The list form: Alertmanager-style matchers (SPEC 4), all must hold. */
static void test_matchers(void **state)
{
    struct run *r = *state;
    opts(r, "{\"match\":[\"k8s.namespace=~example-.*\",\"labels.falco.rule!~Terminal.*\",\"severity!=7\"]}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    /* regexes are anchored at both ends */
    opts(r, "{\"match\":[\"k8s.namespace=~example\"]}");
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"match\":[\"k8s.namespace=~.*java.*\"]}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"match\":[\"k8s.namespace!~example-.*\"]}");
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    /* RE2 syntax PCRE2 reads the same: classes, alternation, case-insensitive flag */
    opts(
        r,
        "{\"match\":[\"host=~ip(-\\\\d+){4}\",\"source=~(falco|sysdig_secure)\",\"name=~(?i)policy 59.*\"]}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    /* an absent field reads as "" (Alertmanager): x="" matches, x!="" does not */
    opts(r, "{\"match\":[\"k8s.kind=\\\"\\\"\"]}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"match\":[\"k8s.kind!=\"]}");
    assert_false(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"match\":[\"labels.nope!~.+\"]}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    /* quoted values keep spaces and escaped quotes; spaces around the operator */
    opts(r, "{\"match\":[\"labels.falco.rule = \\\"Read sensitive file untrusted\\\"\"]}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    /* Alertmanager's API object form */
    opts(r, "{\"match\":[{\"name\":\"k8s.namespace\",\"value\":\"example.*\",\"isRegex\":true},"
            "{\"name\":\"severity\",\"value\":\"4\",\"isRegex\":false,\"isEqual\":true}]}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    opts(r, "{\"match\":[{\"name\":\"severity\",\"value\":\"4\",\"isEqual\":false}]}");
    assert_false(hd_filter_accepts(&r->c, &r->ev));
}

static void test_matcher_text(void **state)
{
    (void)state;
    struct hd_match m;
    struct hd_err err = {0};
    struct hd_buf b;
    hd_buf_init(&b, 0);
    assert_int_equal(hd_match_parse("  name =~ \"a \\\"b\\\" .*\"  ", &m, &err), HD_OK);
    assert_string_equal(m.path, "name");
    assert_int_equal(m.op, HD_MATCH_RE);
    assert_string_equal(m.value, "a \"b\" .*");
    assert_int_equal(hd_match_format(&m, &b), HD_OK);
    assert_string_equal(b.p, "name=~\"a \\\"b\\\" .*\"");
    assert_true(hd_match_test(&m, "a \"b\" c"));
    assert_false(hd_match_test(&m, "xa \"b\" c"));
    hd_match_clear(&m);
    const char *bad[] = {"", "=x", "name", "name==~x", "nope=1", "name=\"open", "name=~(", "name=~a{2,1}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        if (strcmp(bad[i], "name==~x") == 0) {
            /* "=" then the value "=~x": a valid equality, as in Alertmanager */
            assert_int_equal(hd_match_parse(bad[i], &m, &err), HD_OK);
            assert_string_equal(m.value, "=~x");
            hd_match_clear(&m);
            continue;
        }
        if (hd_match_parse(bad[i], &m, &err) != HD_EINVAL || err.msg[0] == '\0') {
            fail_msg("'%s' accepted", bad[i]);
        }
    }
    hd_buf_free(&b);
}

static void test_combined(void **state)
{
    struct run *r = *state;
    opts(r, "{\"minSeverity\":4,\"sources\":[\"sysdig_secure\"],\"notifyOnOk\":false,"
            "\"match\":{\"k8s.namespace\":\"example-java-app\",\"raw.state\":\"ACTIVE\"}}");
    assert_true(hd_filter_accepts(&r->c, &r->ev));
    r->ev.state = HD_STATE_OK;
    assert_false(hd_filter_accepts(&r->c, &r->ev));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_accept_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_on_ok_and_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_min_severity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_match_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_match_labels_and_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_matchers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_matcher_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_combined, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
