/* test_sns.c - SNS: options (ARNs, credentials), the Publish requests (one
 * per topic, chained; region from the ARN; form encoding; subject) and the
 * classification of SNS's XML answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel_fixture.h"

#define ARN_US "arn:aws:sns:us-east-1:123456789012:alerts"
#define ARN_CN "arn:aws-cn:sns:cn-north-1:123456789012:alerts"
#define ARN_FIFO "arn:aws:sns:eu-west-1:123456789012:alerts.fifo"
#define CREDS                                                                                                \
    "\"accessKeyId\":\"AKIDEXAMPLE\",\"secretAccessKey\":\"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\""

static int setup(void **state)
{
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    return fx_run_setup(state);
}

static void make(struct fx_run *r, const char *options)
{
    fx_channel_make(&r->ch, "SNS", 9, "aws", options);
}

static void render(struct fx_run *r)
{
    const struct hd_event *evs[1] = {&r->ev};
    fx_render(r->ch, evs, 1, &r->req);
}

static void expect_error(const char *options, const char *needle)
{
    fx_expect_config_error("SNS", 9, "aws", options, needle);
}

/* Value of a form field, percent-decoded (static buffer). */
static const char *form_get(const struct hd_request *q, const char *name)
{
    static char out[65536];
    size_t nl = strlen(name);
    const char *p = q->body.p;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            p += nl + 1;
            size_t j = 0;
            while (*p != '\0' && *p != '&' && j + 1 < sizeof(out)) {
                if (*p == '%') {
                    char h[3] = {p[1], p[2], '\0'};
                    out[j++] = (char)strtol(h, NULL, 16);
                    p += 3;
                } else {
                    out[j++] = *p++;
                }
            }
            out[j] = '\0';
            return out;
        }
        p = strchr(p, '&');
        if (p != NULL) {
            p++;
        }
    }
    return NULL;
}

static void test_options(void **state)
{
    (void)state;
    expect_error("{" CREDS "}", "options.snsTopicARNs: required");
    expect_error("{\"snsTopicARNs\":[]," CREDS "}", "options.snsTopicARNs: must be a list");
    expect_error("{\"snsTopicARNs\":[\"" ARN_US "\",\"arn:aws:sqs:us-east-1:123456789012:q\"]," CREDS "}",
                 "options.snsTopicARNs[1]");
    expect_error("{\"snsTopicARNs\":[\"arn:aws:sns:us-east-1:1234:t\"]," CREDS "}",
                 "options.snsTopicARNs[0]");
    expect_error("{\"snsTopicARNs\":[\"arn:aws:sns:us-east-1:123456789012:bad/name\"]," CREDS "}",
                 "options.snsTopicARNs[0]");
    expect_error("{\"snsTopicARNs\":[\"" ARN_US "\"]}", "options.accessKeyId: required");
    expect_error("{\"snsTopicARNs\":[\"" ARN_US "\"],\"accessKeyId\":\"AKID\"}", "options.secretAccessKey");
    expect_error("{\"snsTopicARNs\":[\"" ARN_US "\"],\"secretAccessKey\":\"x\"}", "options.accessKeyId");
    expect_error("{\"snsTopicARNs\":[\"" ARN_US "\"],\"accessKeyId\":\"AK ID\",\"secretAccessKey\":\"x\"}",
                 "options.accessKeyId");
}

static void test_env_credentials(void **state)
{
    struct fx_run *r = *state;
    setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    setenv("AWS_SESSION_TOKEN", "env-token", 1);
    make(r, "{\"snsTopicARNs\":[\"" ARN_US "\"]}");
    render(r);
    assert_string_equal(r->req.username, "AKIAENV");
    assert_string_equal(r->req.password, "env-secret");
    assert_true(fx_header_count(&r->req, "X-Amz-Security-Token: env-token"));
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
}

static void test_publish_per_topic(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"snsTopicARNs\":[\"" ARN_US "\",\"" ARN_CN "\",\"" ARN_FIFO "\"]," CREDS "}");
    assert_int_equal(r->ch->type->max_batch, 1);
    render(r);
    const struct hd_request *q = &r->req;
    assert_string_equal(q->method, "POST");
    assert_string_equal(q->url, "https://sns.us-east-1.amazonaws.com/");
    assert_string_equal(q->aws_sigv4, "aws:amz:us-east-1:sns");
    assert_string_equal(q->username, "AKIDEXAMPLE");
    assert_string_equal(q->password, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    assert_true(fx_header_count(q, "Content-Type: application/x-www-form-urlencoded; charset=utf-8"));
    assert_false(fx_header_count(q, "X-Amz-Security-Token: "));
    /* Exact form head: fixed order, everything percent-encoded. */
    const char *head =
        "Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Aalerts&Subject=%5BALERT%5D%"
        "5BMedium%5D%20Policy%2059%3A%20FILE%20POLICY%3A%20Read%20sensitive%20file%20untrusted&Message=";
    assert_memory_equal(q->body.p, head, strlen(head));
    const char *tail = "&Version=2010-03-31";
    assert_string_equal(q->body.p + q->body.len - strlen(tail), tail);
    for (size_t i = 0; i < q->body.len; i++) {
        char c = q->body.p[i];
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 strchr("-_.~%=&", c);
        if (!ok) {
            fail_msg("unencoded byte 0x%02x at %zu", (unsigned char)c, i);
        }
    }
    /* Message: the normalized event as JSON. */
    struct hd_err err = {0};
    const char *m = form_get(q, "Message");
    json_object *o = hd_json_parse(m, strlen(m), &err);
    assert_non_null(o);
    json_object *v = NULL;
    assert_true(json_object_object_get_ex(o, "alertKey", &v));
    assert_string_equal(json_object_get_string(v), "sysdig_secure/Policy 59");
    assert_true(json_object_object_get_ex(o, "state", &v));
    assert_string_equal(json_object_get_string(v), "ACTIVE");
    assert_false(json_object_object_get_ex(o, "raw", &v));
    assert_false(json_object_object_get_ex(o, "test", &v));
    json_object_put(o);
    assert_null(form_get(q, "MessageGroupId"));

    /* Second topic: China partition endpoint, its own region. */
    const struct hd_request *q2 = q->then;
    assert_non_null(q2);
    assert_string_equal(q2->url, "https://sns.cn-north-1.amazonaws.com.cn/");
    assert_string_equal(q2->aws_sigv4, "aws:amz:cn-north-1:sns");
    assert_string_equal(form_get(q2, "TopicArn"), ARN_CN);
    /* Third: FIFO, deduplicated by event id. */
    const struct hd_request *q3 = q2->then;
    assert_non_null(q3);
    assert_null(q3->then);
    assert_string_equal(q3->url, "https://sns.eu-west-1.amazonaws.com/");
    assert_string_equal(form_get(q3, "MessageGroupId"), "herald");
    assert_string_equal(form_get(q3, "MessageDeduplicationId"), "0123456789abcdef0123456789abcdef");
}

static void test_endpoint_subject_and_test_event(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"snsTopicARNs\":[\"" ARN_US
            "\"],\"endpoint\":\"http://127.0.0.1:4566\",\"sessionToken\":\"tok\"," CREDS "}");
    free(r->ev.name);
    /* 150 characters, non-ASCII and a newline: SNS wants < 100 ASCII. */
    r->ev.name = hd_strdup(
        "caf\xc3\xa9\nline two "
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    r->ev.state = HD_STATE_OK;
    render(r);
    assert_string_equal(r->req.url, "http://127.0.0.1:4566/");
    assert_string_equal(r->req.aws_sigv4, "aws:amz:us-east-1:sns");
    assert_true(fx_header_count(&r->req, "X-Amz-Security-Token: tok"));
    const char *s = form_get(&r->req, "Subject");
    assert_int_equal(strlen(s), 99);
    assert_memory_equal(s, "[OK][Medium] caf? line two xxx", 30);

    hd_event_clear(&r->ev);
    assert_int_equal(hd_channel_test_event(r->ch, &r->ev), HD_OK);
    render(r);
    assert_string_equal(form_get(&r->req, "Subject"), "[TEST] herald test notification for channel aws");
    assert_non_null(strstr(form_get(&r->req, "Message"), ",\"test\":true}"));
}

static enum hd_verdict classify(struct fx_run *r, long status, const char *body, char *error)
{
    return fx_classify1(r->ch, status, body, "Timeout was reached", error);
}

#define ERR_XML(code, msg)                                                                                   \
    "<ErrorResponse "                                                                                        \
    "xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>" code               \
    "</Code><Message>" msg "</Message></Error><RequestId>x</RequestId></ErrorResponse>"

static void test_classify(void **state)
{
    struct fx_run *r = *state;
    char e[256];
    make(r, "{\"snsTopicARNs\":[\"" ARN_US "\"]," CREDS "}");
    assert_int_equal(
        classify(r, 200,
                 "<PublishResponse><PublishResult><MessageId>94f20ce6</MessageId></PublishResult>"
                 "</PublishResponse>",
                 e),
        HD_VERDICT_DELIVERED);
    assert_int_equal(classify(r, 400, ERR_XML("Throttling", "Rate exceeded"), e), HD_VERDICT_RETRY);
    assert_string_equal(e, "Throttling: Rate exceeded");
    assert_int_equal(classify(r, 400, ERR_XML("ThrottlingException", "Rate exceeded"), e), HD_VERDICT_RETRY);
    assert_int_equal(classify(r, 429, ERR_XML("Throttled", "Rate exceeded"), e), HD_VERDICT_RETRY);
    assert_int_equal(classify(r, 400, ERR_XML("KMSThrottling", "slow down"), e), HD_VERDICT_RETRY);
    assert_int_equal(classify(r, 400, ERR_XML("InvalidParameter", "Invalid parameter: Subject"), e),
                     HD_VERDICT_DEAD);
    assert_string_equal(e, "InvalidParameter: Invalid parameter: Subject");
    assert_int_equal(classify(r, 404, ERR_XML("NotFound", "Topic does not exist"), e), HD_VERDICT_DEAD);
    assert_int_equal(classify(r, 403, ERR_XML("SignatureDoesNotMatch", "no"), e), HD_VERDICT_DEAD);
    assert_int_equal(classify(r, 500, ERR_XML("InternalError", "oops"), e), HD_VERDICT_RETRY);
    assert_int_equal(classify(r, 503, "Service Unavailable", e), HD_VERDICT_RETRY);
    assert_string_equal(e, "Service Unavailable");
    assert_int_equal(classify(r, 0, NULL, e), HD_VERDICT_RETRY);
    assert_string_equal(e, "Timeout was reached");
}

static void test_mask(void **state)
{
    (void)state;
    struct hd_err err = {0};
    const char *js = "{\"type\":\"SNS\",\"name\":\"a\",\"options\":{\"snsTopicARNs\":[\"" ARN_US "\"],"
                     "\"accessKeyId\":\"AKID\",\"secretAccessKey\":\"s3cr3t\",\"sessionToken\":\"t0k\"}}";
    json_object *o = hd_json_parse(js, strlen(js), &err);
    json_object *m = hd_channel_mask_secrets(o);
    const char *out = json_object_to_json_string(m);
    assert_null(strstr(out, "s3cr3t"));
    assert_null(strstr(out, "t0k"));
    assert_non_null(strstr(out, "AKID"));
    json_object_put(m);
    json_object_put(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_options, setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_env_credentials, setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_publish_per_topic, setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_endpoint_subject_and_test_event, setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_classify, setup, fx_run_teardown),
        cmocka_unit_test_setup_teardown(test_mask, setup, fx_run_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
