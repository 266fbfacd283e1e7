/* test_email.c - EMAIL: options, the rendered RFC 5322 message (headers,
 * MIME structure, quoted-printable parts, subjects) and SMTP classification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel/email.h"
#include "channel_fixture.h"

#define RCPTS "[\"oncall@example.com\",\"sre@example.org\"]"

static void smtp_default(void)
{
    struct hd_smtp_settings s = {
        .url = "smtp://mail.example.com:587",
        .from = "Herald <herald@example.com>",
        .username = "herald",
        .password = "smtp-secret-1",
        .start_tls = 1,
    };
    assert_int_equal(hd_channel_set_smtp(&s), HD_OK);
}

static int setup(void **state)
{
    int rc = fx_run_setup(state);
    if (rc == 0) {
        smtp_default();
    }
    return rc;
}

static int teardown(void **state)
{
    fx_run_teardown(state);
    hd_channel_smtp_clear();
    return 0;
}

static void make(struct fx_run *r, const char *options)
{
    fx_channel_make(&r->ch, "EMAIL", 5, "oncall", options);
}

static void render(struct fx_run *r)
{
    const struct hd_event *evs[1] = {&r->ev};
    fx_render(r->ch, evs, 1, &r->req);
}

static void expect_error(const char *options, const char *needle)
{
    fx_expect_config_error("EMAIL", 5, "oncall", options, needle);
}

/* The header block (up to the first empty line) contains line. */
static int has_header(const struct hd_request *req, const char *line)
{
    const char *end = strstr(req->body.p, "\r\n\r\n");
    const char *p = strstr(req->body.p, line);
    return p != NULL && end != NULL && p < end && (p == req->body.p || p[-1] == '\n');
}

static void test_options(void **state)
{
    (void)state;
    expect_error("{}", "options.emailRecipients: required");
    expect_error("{\"emailRecipients\":[]}", "options.emailRecipients: must be a list");
    expect_error("{\"emailRecipients\":\"a@b.c\"}", "options.emailRecipients: must be a list");
    expect_error("{\"emailRecipients\":[\"a@b.c\",\"no-at-sign\"]}", "options.emailRecipients[1]");
    expect_error("{\"emailRecipients\":[\"a@b.c\\r\\nBcc: x@y.z\"]}", "options.emailRecipients[0]");
    expect_error("{\"emailRecipients\":[\"<a@b.c>\"]}", "options.emailRecipients[0]");
    hd_channel_smtp_clear();
    expect_error("{\"emailRecipients\":[\"a@b.c\"]}", "smtp.url");
    struct hd_smtp_settings bad = {.url = "http://mail:25", .from = "h@x.y"};
    assert_int_equal(hd_channel_set_smtp(&bad), HD_OK);
    expect_error("{\"emailRecipients\":[\"a@b.c\"]}", "smtp.url");
    struct hd_smtp_settings badfrom = {.url = "smtp://mail:25", .from = "Herald herald at x"};
    assert_int_equal(hd_channel_set_smtp(&badfrom), HD_OK);
    expect_error("{\"emailRecipients\":[\"a@b.c\"]}", "smtp.from");
}

static void test_envelope(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"emailRecipients\":" RCPTS "}");
    assert_int_equal(r->ch->type->max_batch, 1);
    render(r);
    assert_string_equal(r->req.url, "smtp://mail.example.com:587");
    assert_string_equal(r->req.mail_from, "herald@example.com");
    assert_int_equal(r->req.n_rcpt, 2);
    assert_string_equal(r->req.mail_rcpt[0], "oncall@example.com");
    assert_string_equal(r->req.mail_rcpt[1], "sre@example.org");
    assert_int_equal(r->req.smtp_tls, HD_SMTP_TLS_ALL);
    assert_string_equal(r->req.username, "herald");
    assert_string_equal(r->req.password, "smtp-secret-1");
    assert_null(r->req.aws_sigv4);
    assert_null(r->req.then);
}

static void test_message(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"emailRecipients\":" RCPTS "}");
    render(r);
    const struct hd_request *q = &r->req;
    assert_true(has_header(q, "From: Herald <herald@example.com>\r\n"));
    assert_true(has_header(q, "To: oncall@example.com,\r\n sre@example.org\r\n"));
    assert_true(
        has_header(q, "Subject: [ALERT][Medium] Policy 59: FILE POLICY: Read sensitive file untrusted\r\n"));
    assert_true(has_header(q, "Message-ID: <0123456789abcdef0123456789abcdef.5@herald>\r\n"));
    assert_true(has_header(q, "MIME-Version: 1.0\r\n"));
    assert_true(has_header(q, "Content-Type: multipart/alternative; boundary=\"=_herald_"
                              "0123456789abcdef0123456789abcdef\"\r\n"));
    assert_true(has_header(q, "X-Herald-State: ACTIVE\r\n"));
    assert_true(has_header(q, "Auto-Submitted: auto-generated\r\n"));
    assert_true(has_header(q, "Date: "));
    assert_true(has_header(q, "References: <alert-"));
    assert_false(has_header(q, "X-Herald-Test:"));
    /* Parts and their end. */
    assert_non_null(strstr(q->body.p,
                           "\r\n--=_herald_0123456789abcdef0123456789abcdef\r\nContent-Type: text/plain; "
                           "charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"));
    assert_non_null(strstr(q->body.p, "Content-Type: text/html; charset=UTF-8\r\n"));
    const char *tail = "\r\n--=_herald_0123456789abcdef0123456789abcdef--\r\n";
    assert_true(q->body.len > strlen(tail));
    assert_string_equal(q->body.p + q->body.len - strlen(tail), tail);
    /* What a person on call needs, in the text part. */
    const char *text = strstr(q->body.p, "quoted-printable\r\n\r\n");
    assert_non_null(text);
    assert_non_null(strstr(text, "State:      ACTIVE (firing)\r\n"));
    assert_non_null(strstr(text, "Severity:   Medium (4)\r\n"));
    assert_non_null(strstr(text, "Time:       2018-02-17T06:36:00.000Z\r\n"));
    assert_non_null(strstr(text, "Namespace:  example-java-app\r\n"));
    assert_non_null(strstr(text, "Pod:        redis-3463099497-2xxw3\r\n"));
    assert_non_null(strstr(text, "Container:  ftest (57c1820a87f1)\r\n"));
    assert_non_null(strstr(text, "Host:       ip-10-0-8-165\r\n"));
    assert_non_null(strstr(text, "an attempt to read any sensitive file"));
    /* The link, QP-encoded ('=' is =3D; a soft break may split it). */
    assert_non_null(strstr(text, "Open: https://secure.sysdigrp2rs.wpengine.com/#/events/f:1518849300,t:"));
    /* Every line CRLF-terminated and at most 78 characters; no bare LF. */
    size_t col = 0;
    for (size_t i = 0; i < q->body.len; i++) {
        if (q->body.p[i] == '\n') {
            assert_true(i > 0 && q->body.p[i - 1] == '\r');
            col = 0;
        } else if (++col > 998) {
            fail_msg("line over 998 characters at %zu", i);
        }
    }
    const char *html = strstr(q->body.p, "text/html");
    assert_non_null(html);
    for (const char *p = strstr(html, "\r\n\r\n"); p != NULL && *p != '\0';) {
        const char *nl = strstr(p + 2, "\r\n");
        if (nl == NULL) {
            break;
        }
        assert_true((size_t)(nl - (p + 2)) <= 76);
        p = nl;
    }
}

static void test_subjects(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"emailRecipients\":" RCPTS "}");
    r->ev.state = HD_STATE_OK;
    r->ev.severity = 2;
    render(r);
    assert_true(
        has_header(&r->req, "Subject: [OK][High] Policy 59: FILE POLICY: Read sensitive file untrusted\r\n"));
    assert_true(has_header(&r->req, "X-Herald-State: OK\r\n"));
    assert_non_null(strstr(r->req.body.p, "OK (condition cleared)"));
    r->ev.state = HD_STATE_RESOLVED;
    r->ev.severity = 7;
    render(r);
    assert_true(has_header(&r->req, "Subject: [RESOLVED][Info] Policy 59"));

    /* CR/LF in a name cannot inject a header. */
    free(r->ev.name);
    r->ev.name = hd_strdup("evil\r\nBcc: victim@example.com");
    render(r);
    assert_true(has_header(&r->req, "Subject: [RESOLVED][Info] evil  Bcc: victim@example.com\r\n"));
    assert_false(has_header(&r->req, "Bcc:"));

    /* Non-ASCII: RFC 2047 encoded words. */
    free(r->ev.name);
    r->ev.name = hd_strdup("Fichier sensible lu: caf\xc3\xa9");
    r->ev.state = HD_STATE_ACTIVE;
    render(r);
    assert_true(has_header(&r->req, "Subject: =?UTF-8?B?"));
    assert_non_null(strstr(r->req.body.p, "caf=C3=A9"));
}

static void test_test_event(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"emailRecipients\":" RCPTS "}");
    hd_event_clear(&r->ev);
    assert_int_equal(hd_channel_test_event(r->ch, &r->ev), HD_OK);
    render(r);
    assert_true(has_header(&r->req, "Subject: [TEST] herald test notification for channel oncall\r\n"));
    assert_true(has_header(&r->req, "X-Herald-Test: true\r\n"));
    assert_non_null(strstr(r->req.body.p, "This is a TEST notification"));
}

static void test_template(void **state)
{
    struct fx_run *r = *state;
    make(r, "{\"emailRecipients\":" RCPTS ",\"template\":{\"subject\":\"{{k8s.namespace}} is on fire\","
            "\"text\":\"pod {{k8s.pod}}\"}}");
    render(r);
    assert_true(has_header(&r->req, "Subject: example-java-app is on fire\r\n"));
    assert_non_null(strstr(r->req.body.p, "\r\n\r\npod redis-3463099497-2xxw3\r\n"));
    assert_non_null(strstr(r->req.body.p, "text/html")); /* not replaced: the built-in one */
}

/* options.template.html: the values it inserts are escaped (the event's name
 * is text, not markup); subject and text take them as they are. */
static void test_template_html_escapes_values(void **state)
{
    struct fx_run *r = *state;
    free(r->ev.name);
    r->ev.name = hd_strdup("<b>&'\"");
    make(r, "{\"emailRecipients\":" RCPTS ",\"template\":{\"subject\":\"{{name}}\","
            "\"text\":\"{{name}}\",\"html\":\"<h1>{{name}}</h1>\"}}");
    render(r);
    assert_true(has_header(&r->req, "Subject: <b>&'\"\r\n"));
    assert_non_null(strstr(r->req.body.p, "\r\n\r\n<b>&'\"\r\n--=_herald_"));
    assert_non_null(strstr(r->req.body.p, "\r\n\r\n<h1>&lt;b&gt;&amp;&#39;&quot;</h1>\r\n--=_herald_"));
}

/* Credentials never go in clear by default: a username makes STARTTLS
 * required on smtp://; smtp.allowInsecureAuth lifts that. */
static void test_credentials_require_starttls(void **state)
{
    struct fx_run *r = *state;
    struct hd_smtp_settings s = {
        .url = "smtp://mail:587", .from = "h@example.com", .username = "u", .password = "p"};
    assert_int_equal(hd_channel_set_smtp(&s), HD_OK);
    make(r, "{\"emailRecipients\":[\"a@b.c\"]}");
    render(r);
    assert_int_equal(r->req.smtp_tls, HD_SMTP_TLS_ALL);
    assert_string_equal(r->req.username, "u");
    s.allow_insecure_auth = 1;
    assert_int_equal(hd_channel_set_smtp(&s), HD_OK);
    render(r);
    assert_int_equal(r->req.smtp_tls, HD_SMTP_TLS_NONE);
    assert_string_equal(r->req.username, "u");
    s.start_tls = 1; /* asked for: required whatever the opt-out says */
    assert_int_equal(hd_channel_set_smtp(&s), HD_OK);
    render(r);
    assert_int_equal(r->req.smtp_tls, HD_SMTP_TLS_ALL);
}

static void test_plain_smtp_no_auth(void **state)
{
    struct fx_run *r = *state;
    struct hd_smtp_settings s = {.url = "smtps://mail:465", .from = "h@example.com"};
    assert_int_equal(hd_channel_set_smtp(&s), HD_OK);
    make(r, "{\"emailRecipients\":[\"a@b.c\"]}");
    render(r);
    assert_string_equal(r->req.url, "smtps://mail:465");
    assert_string_equal(r->req.mail_from, "h@example.com");
    assert_int_equal(r->req.smtp_tls, HD_SMTP_TLS_NONE);
    assert_null(r->req.username);
    assert_null(r->req.password);
}

static enum hd_verdict classify(struct fx_run *r, long status, const char *body, char *error)
{
    return fx_classify1(r->ch, status, body, "Couldn't connect to server", error);
}

static void test_classify(void **state)
{
    struct fx_run *r = *state;
    char e[256];
    make(r, "{\"emailRecipients\":[\"a@b.c\"]}");
    assert_int_equal(classify(r, 250, "250 2.0.0 Ok: queued", e), HD_VERDICT_DELIVERED);
    assert_string_equal(e, "");
    assert_int_equal(classify(r, 451, "451 4.3.0 Try again later", e), HD_VERDICT_RETRY);
    assert_string_equal(e, "SMTP 451: 451 4.3.0 Try again later");
    assert_int_equal(classify(r, 550, "550 5.1.1 No such user", e), HD_VERDICT_DEAD);
    assert_string_equal(e, "SMTP 550: 550 5.1.1 No such user");
    assert_int_equal(classify(r, 535, "535 5.7.8 Authentication credentials invalid", e), HD_VERDICT_DEAD);
    assert_int_equal(classify(r, 0, NULL, e), HD_VERDICT_RETRY);
    assert_string_equal(e, "Couldn't connect to server");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_envelope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subjects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_test_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_html_escapes_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credentials_require_starttls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_smtp_no_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classify, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
