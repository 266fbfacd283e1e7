/* test_notify_channels.c - SLACK, PAGER_DUTY, OPSGENIE, VICTOROPS: render
 * (golden fields of the vendor's body), the ACTIVE -> OK pairing on one key,
 * test notifications, severity maps, truncation, and classify tables. The
 * events come from the real Sysdig fixture through the real decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "channel/channel.h"
#include "channel/notify.h"
#include "channel_fixture.h"
#include "input/decoder.h"

#define MONITOR_FIXTURE HD_FIXTURES "/sysdig/sysdig_monitor_webhook_metric_alert_active.json"
#define PD_KEY "0123456789abcdef0123456789abcdef"

struct run {
    struct hd_batch active; /* the fixture as is */
    struct hd_batch ok;     /* the same alert, state OK */
    struct hd_channel *ch;
    struct hd_request req;
    json_object *doc;
};

/* A decoded event's strings share one block (read-only, hd_event_pack);
 * the tests below edit fields one by one, so each gets its own copy. */
static void own_strings(struct hd_event *ev)
{
    char **str[HD_EVENT_NSTR];
    hd_event_strs(ev, str);
    for (size_t i = 0; i < HD_EVENT_NSTR; i++) {
        *str[i] = *str[i] != NULL ? hd_strdup(*str[i]) : NULL;
    }
    if (ev->raw != NULL && !ev->raw_borrowed) {
        ev->raw = hd_strndup(ev->raw, ev->raw_len);
    }
    free(ev->block);
    ev->block = NULL;
}

static void decode_text(const char *text, struct hd_batch *out)
{
    struct hd_err err = {0};
    hd_batch_init(out);
    if (hd_ingest_decode(text, strlen(text), "application/json", "sysdig", out, &err) != HD_OK) {
        fail_msg("decode: %s", err.msg);
    }
    assert_int_equal(out->n, 1);
    assert_non_null(out->ev[0].block);
    own_strings(&out->ev[0]);
}

static int setup(void **state)
{
    struct run *r = calloc(1, sizeof(*r));
    size_t len = 0;
    char *text = fx_read_file(MONITOR_FIXTURE, &len);
    if (r == NULL || text == NULL) {
        free(r);
        free(text);
        return -1;
    }
    decode_text(text, &r->active);
    char *st = strstr(text, "\"ACTIVE\"");
    assert_non_null(st);
    memcpy(st, "\"OK\"    ", 8); /* same length: whitespace after the value */
    decode_text(text, &r->ok);
    free(text);
    r->active.ev[0].seq = 1;
    r->ok.ev[0].seq = 2;
    hd_request_init(&r->req);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    struct run *r = *state;
    hd_batch_free(&r->active);
    hd_batch_free(&r->ok);
    hd_channel_free(r->ch);
    hd_request_clear(&r->req);
    json_object_put(r->doc);
    free(r);
    return 0;
}

static int make_rc(struct run *r, const char *type, const char *options, struct hd_err *err)
{
    hd_channel_free(r->ch);
    r->ch = fx_channel_try(type, 9, "pager", options, err);
    return r->ch != NULL ? HD_OK : err->code;
}

static void make(struct run *r, const char *type, const char *options)
{
    fx_channel_make(&r->ch, type, 9, "pager", options);
    assert_int_equal(r->ch->type->max_batch, 1);
}

static void render(struct run *r, const struct hd_event *ev)
{
    const struct hd_event *evs[1] = {ev};
    fx_render(r->ch, evs, 1, &r->req);
    fx_parse_body(&r->req, &r->doc);
}

static const char *str_at(struct run *r, const char *path)
{
    json_object *v = hd_json_path(r->doc, path);
    if (v == NULL || !json_object_is_type(v, json_type_string)) {
        fail_msg("%s: not a string in %s", path, r->req.body.p);
    }
    return json_object_get_string(v);
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

/* ---- shared wording ---- */

static void test_severity_maps(void **state)
{
    (void)state;
    static const char *const pd[] = {"critical", "critical", "critical", "error",
                                     "warning",  "info",     "info",     "info"};
    static const char *const og[] = {"P1", "P1", "P2", "P3", "P4", "P4", "P5", "P5"};
    static const char *const vo[] = {"CRITICAL", "CRITICAL", "CRITICAL", "CRITICAL",
                                     "WARNING",  "INFO",     "INFO",     "INFO"};
    static const char *const lab[] = {"Emergency", "Alert",  "Critical", "Error",
                                      "Warning",   "Notice", "Info",     "Debug"};
    for (int s = 0; s < 8; s++) {
        assert_string_equal(hd_severity_pagerduty(s), pd[s]);
        assert_string_equal(hd_severity_opsgenie(s), og[s]);
        assert_string_equal(hd_severity_victorops(s), vo[s]);
        assert_string_equal(hd_severity_label(s), lab[s]);
    }
    assert_string_equal(hd_severity_label(-3), "Emergency");
    assert_string_equal(hd_severity_label(42), "Debug");
    assert_string_equal(hd_severity_color(1, HD_STATE_ACTIVE), "#d00000");
    assert_string_equal(hd_severity_color(4, HD_STATE_ACTIVE), "#f2c744");
    assert_string_equal(hd_severity_color(1, HD_STATE_OK), "#2eb886");
    assert_string_equal(hd_severity_color(1, HD_STATE_RESOLVED), "#2eb886");
}

static void test_summary_and_truncation(void **state)
{
    struct run *r = *state;
    struct hd_event *ev = &r->active.ev[0];
    struct hd_buf b;
    hd_buf_init(&b, 0);
    assert_int_equal(hd_notify_summary(ev, 0, &b), HD_OK);
    assert_non_null(strstr(b.p, "[Warning] alertName"));
    hd_buf_reset(&b);
    assert_int_equal(hd_notify_summary(&r->ok.ev[0], 0, &b), HD_OK);
    assert_non_null(strstr(b.p, "(OK)"));

    /* 300 characters of multi-byte name: cut to 130 code points, "…" last,
     * the suppressed count kept whole. */
    free(ev->name);
    struct hd_buf name;
    hd_buf_init(&name, 0);
    for (int i = 0; i < 150; i++) {
        hd_buf_puts(&name, "\xc3\xa9x"); /* "éx" */
    }
    ev->name = hd_buf_steal(&name, NULL);
    ev->suppressed = 4;
    hd_buf_reset(&b);
    assert_int_equal(hd_notify_summary(ev, 130, &b), HD_OK);
    assert_int_equal(utf8_chars(b.p), 130);
    const char *tail = " (+4 similar suppressed)";
    assert_string_equal(b.p + b.len - strlen(tail), tail);
    assert_non_null(strstr(b.p, "\xe2\x80\xa6 (+4"));
    hd_buf_free(&b);
}

static void test_key_stable_and_bounded(void **state)
{
    struct run *r = *state;
    struct hd_buf a, o;
    hd_buf_init(&a, 0);
    hd_buf_init(&o, 0);
    assert_non_null(r->active.ev[0].alert_key);
    assert_string_equal(r->active.ev[0].alert_key, r->ok.ev[0].alert_key); /* SPEC 5 */
    assert_string_not_equal(r->active.ev[0].id, r->ok.ev[0].id);
    assert_int_equal(hd_notify_key(&r->active.ev[0], 255, &a), HD_OK);
    assert_string_equal(a.p, r->active.ev[0].alert_key);
    hd_buf_reset(&a);
    assert_int_equal(hd_notify_key(&r->active.ev[0], 10, &a), HD_OK);
    assert_int_equal(hd_notify_key(&r->ok.ev[0], 10, &o), HD_OK);
    assert_int_equal(a.len, strlen("herald-") + 32);
    assert_string_equal(a.p, o.p);
    hd_buf_reset(&a);
    assert_int_equal(hd_buf_put_pathseg(&a, "sysdig:1:host.mac = '0c:29'/x"), HD_OK);
    assert_string_equal(a.p, "sysdig%3A1%3Ahost.mac%20%3D%20%270c%3A29%27%2Fx");
    hd_buf_free(&a);
    hd_buf_free(&o);
}

/* ---- PAGER_DUTY ---- */

static void test_pagerduty_trigger_then_resolve(void **state)
{
    struct run *r = *state;
    make(r, "PAGER_DUTY", "{\"serviceKey\":\"" PD_KEY "\",\"account\":\"acme\",\"serviceName\":\"web\"}");
    render(r, &r->active.ev[0]);
    assert_string_equal(r->req.url, "https://events.pagerduty.com/v2/enqueue");
    assert_true(fx_header_count(&r->req, "Content-Type: application/json"));
    assert_string_equal(str_at(r, "routing_key"), PD_KEY);
    assert_string_equal(str_at(r, "event_action"), "trigger");
    char *dedup = hd_strdup(str_at(r, "dedup_key"));
    assert_string_equal(dedup, r->active.ev[0].alert_key);
    assert_string_equal(str_at(r, "payload.severity"), "warning");
    assert_non_null(strstr(str_at(r, "payload.summary"), "alertName"));
    assert_true(strlen(str_at(r, "payload.source")) > 0);
    assert_string_equal(str_at(r, "payload.custom_details.serviceName"), "web");
    assert_string_equal(str_at(r, "payload.custom_details.state"), "ACTIVE");
    assert_string_equal(str_at(r, "client"), "herald");

    render(r, &r->ok.ev[0]);
    assert_string_equal(str_at(r, "event_action"), "resolve");
    assert_string_equal(str_at(r, "dedup_key"), dedup);
    assert_string_equal(str_at(r, "routing_key"), PD_KEY);
    assert_null(hd_json_path(r->doc, "payload"));
    free(dedup);

    make(r, "PAGER_DUTY", "{\"serviceKey\":\"" PD_KEY "\",\"endpoint\":\"http://127.0.0.1:9/pd/\"}");
    render(r, &r->active.ev[0]);
    assert_string_equal(r->req.url, "http://127.0.0.1:9/pd/v2/enqueue");
}

static void test_pagerduty_options(void **state)
{
    struct run *r = *state;
    struct hd_err err = {0};
    assert_int_equal(make_rc(r, "PAGER_DUTY", "{\"serviceKey\":\"short\"}", &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "options.serviceKey"));
    assert_null(strstr(err.msg, "short")); /* never echo a secret */
    assert_int_equal(make_rc(r, "PAGER_DUTY", "{\"account\":\"a\"}", &err), HD_EINVAL);
    assert_string_equal(err.msg, "options.serviceKey: required");
}

/* ---- OPSGENIE ---- */

static void test_opsgenie_create_then_close(void **state)
{
    struct run *r = *state;
    make(r, "OPSGENIE", "{\"apiKey\":\"og-key-1234\",\"region\":\"EU\"}");
    render(r, &r->active.ev[0]);
    assert_string_equal(r->req.url, "https://api.eu.opsgenie.com/v2/alerts");
    assert_true(fx_header_count(&r->req, "Authorization: GenieKey og-key-1234"));
    assert_true(fx_header_count(&r->req, "Content-Type: application/json"));
    assert_string_equal(str_at(r, "alias"), r->active.ev[0].alert_key);
    assert_string_equal(str_at(r, "priority"), "P4");
    assert_string_equal(str_at(r, "source"), "herald");
    assert_string_equal(str_at(r, "details.state"), "ACTIVE");
    assert_true(utf8_chars(str_at(r, "message")) <= 130);

    render(r, &r->ok.ev[0]);
    struct hd_buf want;
    hd_buf_init(&want, 0);
    hd_buf_puts(&want, "https://api.eu.opsgenie.com/v2/alerts/");
    hd_buf_put_pathseg(&want, r->active.ev[0].alert_key);
    hd_buf_puts(&want, "/close?identifierType=alias");
    assert_string_equal(r->req.url, want.p);
    hd_buf_free(&want);
    assert_string_equal(str_at(r, "source"), "herald");

    make(r, "OPSGENIE", "{\"apiKey\":\"k\"}");
    render(r, &r->active.ev[0]);
    assert_string_equal(r->req.url, "https://api.opsgenie.com/v2/alerts");
    make(r, "OPSGENIE", "{\"apiKey\":\"k\",\"region\":\"US\",\"endpoint\":\"http://127.0.0.1:9\"}");
    render(r, &r->active.ev[0]);
    assert_string_equal(r->req.url, "http://127.0.0.1:9/v2/alerts");

    struct hd_err err = {0};
    assert_int_equal(make_rc(r, "OPSGENIE", "{\"apiKey\":\"k\",\"region\":\"APAC\"}", &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "options.region: must be US or EU"));
}

static void test_opsgenie_message_130(void **state)
{
    struct run *r = *state;
    struct hd_event *ev = &r->active.ev[0];
    free(ev->name);
    ev->name =
        hd_strdup("A very long alert name that keeps going and going well past what OpsGenie accepts in "
                  "the message field of an alert, which is one hundred and thirty characters");
    make(r, "OPSGENIE", "{\"apiKey\":\"k\"}");
    render(r, ev);
    const char *msg = str_at(r, "message");
    assert_int_equal(utf8_chars(msg), 130);
    assert_string_equal(msg + strlen(msg) - 3, "\xe2\x80\xa6");
    /* The full text survives in the description. */
    assert_non_null(strstr(str_at(r, "description"), "one hundred and thirty characters"));
}

/* ---- VICTOROPS ---- */

static void test_victorops_critical_then_recovery(void **state)
{
    struct run *r = *state;
    make(r, "VICTOROPS", "{\"apiKey\":\"vo-api-key\",\"routingKey\":\"team-a\"}");
    r->active.ev[0].severity = 2;
    render(r, &r->active.ev[0]);
    assert_string_equal(r->req.url,
                        "https://alert.victorops.com/integrations/generic/20131114/alert/vo-api-key/team-a");
    assert_string_equal(str_at(r, "message_type"), "CRITICAL");
    char *entity = hd_strdup(str_at(r, "entity_id"));
    assert_string_equal(entity, r->active.ev[0].alert_key);
    assert_non_null(strstr(str_at(r, "entity_display_name"), "alertName"));
    assert_non_null(strstr(str_at(r, "state_message"), "alertDescription"));
    render(r, &r->ok.ev[0]);
    assert_string_equal(str_at(r, "message_type"), "RECOVERY");
    assert_string_equal(str_at(r, "entity_id"), entity);
    free(entity);
    r->active.ev[0].severity = 4;
    render(r, &r->active.ev[0]);
    assert_string_equal(str_at(r, "message_type"), "WARNING");
    r->active.ev[0].severity = 6;
    render(r, &r->active.ev[0]);
    assert_string_equal(str_at(r, "message_type"), "INFO");

    struct hd_err err = {0};
    assert_int_equal(make_rc(r, "VICTOROPS", "{\"apiKey\":\"a/b\",\"routingKey\":\"r\"}", &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "options.apiKey"));
    assert_int_equal(make_rc(r, "VICTOROPS", "{\"apiKey\":\"a\"}", &err), HD_EINVAL);
    assert_string_equal(err.msg, "options.routingKey: required");
}

/* ---- SLACK ---- */

static void test_slack_blocks(void **state)
{
    struct run *r = *state;
    make(r, "SLACK", "{\"url\":\"https://hooks.slack.com/services/T1/B2/XYZ\",\"channel\":\"#alerts\"}");
    r->active.ev[0].suppressed = 3;
    render(r, &r->active.ev[0]);
    assert_string_equal(r->req.url, "https://hooks.slack.com/services/T1/B2/XYZ");
    assert_true(fx_header_count(&r->req, "Content-Type: application/json"));
    assert_string_equal(str_at(r, "channel"), "#alerts");
    assert_non_null(strstr(str_at(r, "text"), "[Warning] alertName"));
    assert_non_null(strstr(str_at(r, "text"), "(+3 similar suppressed)"));
    assert_string_equal(str_at(r, "attachments.0.color"), "#f2c744");
    assert_string_equal(str_at(r, "attachments.0.blocks.0.type"), "section");
    const char *title = str_at(r, "attachments.0.blocks.0.text.text");
    assert_non_null(strstr(title, "*<http://app.sysdigcloud.com/"));
    assert_non_null(strstr(title, "|alertName>*"));
    assert_string_equal(str_at(r, "attachments.0.blocks.1.fields.0.text"), "*Severity*\nWarning");
    assert_string_equal(str_at(r, "attachments.0.blocks.1.fields.1.text"), "*State*\nACTIVE");
    assert_non_null(strstr(str_at(r, "attachments.0.blocks.2.elements.0.text"), "(+3 similar suppressed)"));

    render(r, &r->ok.ev[0]);
    assert_string_equal(str_at(r, "attachments.0.color"), "#2eb886");
    assert_string_equal(str_at(r, "attachments.0.blocks.1.fields.1.text"), "*State*\nOK");

    /* mrkdwn escaping */
    free(r->ok.ev[0].name);
    r->ok.ev[0].name = hd_strdup("a < b & c > d");
    render(r, &r->ok.ev[0]);
    assert_non_null(strstr(str_at(r, "text"), "a &lt; b &amp; c &gt; d"));

    make(r, "SLACK",
         "{\"url\":\"https://hooks.slack.com/services/T1/B2/XYZ\",\"privateChannel\":true,"
         "\"privateChannelUrl\":\"https://hooks.slack.com/services/T1/B9/PRIV\",\"endpoint\":"
         "\"http://127.0.0.1:9/\"}");
    render(r, &r->active.ev[0]);
    assert_string_equal(r->req.url, "http://127.0.0.1:9/services/T1/B9/PRIV");
    assert_null(hd_json_path(r->doc, "channel"));

    struct hd_err err = {0};
    assert_int_equal(make_rc(r, "SLACK", "{\"url\":\"hooks.slack.com\"}", &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "options.url"));
}

/* ---- MS_TEAMS ---- */

#define TEAMS_URL                                                                                            \
    "https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=S3CR3T"

static void test_teams_card(void **state)
{
    struct run *r = *state;
    make(r, "MS_TEAMS", "{\"url\":\"" TEAMS_URL "\"}");
    r->active.ev[0].suppressed = 2;
    render(r, &r->active.ev[0]);
    assert_string_equal(r->req.url, TEAMS_URL);
    assert_true(fx_header_count(&r->req, "Content-Type: application/json"));
    assert_string_equal(str_at(r, "type"), "message");
    assert_string_equal(str_at(r, "attachments.0.contentType"), "application/vnd.microsoft.card.adaptive");
    assert_string_equal(str_at(r, "attachments.0.content.type"), "AdaptiveCard");
    assert_string_equal(str_at(r, "attachments.0.content.version"), "1.4");
    assert_string_equal(str_at(r, "attachments.0.content.body.0.type"), "Container");
    assert_string_equal(str_at(r, "attachments.0.content.body.0.style"), "warning");
    assert_string_equal(str_at(r, "attachments.0.content.body.0.items.0.color"), "warning");
    const char *title = str_at(r, "attachments.0.content.body.0.items.0.text");
    assert_non_null(strstr(title, "[Warning] alertName"));
    assert_non_null(strstr(title, "(+2 similar suppressed)"));
    /* body: 0 header, 1 description (the fixture has one) or facts */
    json_object *body = hd_json_path(r->doc, "attachments.0.content.body");
    json_object *facts = NULL;
    for (size_t i = 0; i < json_object_array_length(body); i++) {
        json_object *b = json_object_array_get_idx(body, i);
        if (strcmp(hd_json_get_str(b, "type"), "FactSet") == 0) {
            json_object_object_get_ex(b, "facts", &facts);
        }
    }
    assert_non_null(facts);
    assert_string_equal(hd_json_get_str(json_object_array_get_idx(facts, 0), "title"), "Severity");
    assert_string_equal(hd_json_get_str(json_object_array_get_idx(facts, 0), "value"), "Warning");
    assert_string_equal(hd_json_get_str(json_object_array_get_idx(facts, 1), "value"), "ACTIVE");
    assert_string_equal(str_at(r, "attachments.0.content.actions.0.type"), "Action.OpenUrl");
    assert_non_null(strstr(str_at(r, "attachments.0.content.actions.0.url"), "http://app.sysdigcloud.com/"));

    render(r, &r->ok.ev[0]);
    assert_string_equal(str_at(r, "attachments.0.content.body.0.style"), "good");
    assert_non_null(strstr(str_at(r, "attachments.0.content.body.0.items.0.text"), "(OK)"));

    /* Error and worse are "attention"; no URL, no action. */
    r->active.ev[0].severity = 2;
    free(r->active.ev[0].url);
    r->active.ev[0].url = NULL;
    render(r, &r->active.ev[0]);
    assert_string_equal(str_at(r, "attachments.0.content.body.0.style"), "attention");
    assert_null(hd_json_path(r->doc, "attachments.0.content.actions"));

    make(r, "MS_TEAMS", "{\"url\":\"" TEAMS_URL "\",\"endpoint\":\"http://127.0.0.1:9\"}");
    render(r, &r->active.ev[0]);
    assert_string_equal(r->req.url,
                        "http://127.0.0.1:9/workflows/abc/triggers/manual/paths/invoke?sig=S3CR3T");
    struct hd_err err = {0};
    assert_int_equal(make_rc(r, "MS_TEAMS", "{}", &err), HD_EINVAL);
    assert_string_equal(err.msg, "options.url: required");
}

/* ---- GCHAT ---- */

#define GCHAT_URL "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=K3Y&token=T0K3N"

static void test_gchat_card_and_thread(void **state)
{
    struct run *r = *state;
    make(r, "GCHAT", "{\"url\":\"" GCHAT_URL "\"}");
    render(r, &r->active.ev[0]);
    assert_string_equal(r->req.url, GCHAT_URL "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
    assert_true(fx_header_count(&r->req, "Content-Type: application/json"));
    const char *thread = str_at(r, "thread.threadKey");
    assert_string_equal(thread, r->active.ev[0].alert_key);
    assert_string_equal(str_at(r, "cardsV2.0.cardId"), "herald-alert");
    assert_non_null(strstr(str_at(r, "cardsV2.0.card.header.title"), "[Warning] alertName"));
    const char *lead = str_at(r, "cardsV2.0.card.sections.0.widgets.0.textParagraph.text");
    assert_non_null(strstr(lead, "<font color=\"#f2c744\"><b>Warning</b></font>"));
    assert_string_equal(str_at(r, "cardsV2.0.card.sections.1.widgets.0.decoratedText.topLabel"), "Severity");
    assert_string_equal(str_at(r, "cardsV2.0.card.sections.1.widgets.1.decoratedText.text"), "ACTIVE");
    assert_non_null(
        strstr(str_at(r, "cardsV2.0.card.sections.2.widgets.0.buttonList.buttons.0.onClick.openLink.url"),
               "http://app.sysdigcloud.com/"));

    /* The OK of the same alert replies in the same thread, in green. */
    char *first = hd_strdup(thread);
    render(r, &r->ok.ev[0]);
    assert_string_equal(str_at(r, "thread.threadKey"), first);
    free(first);
    assert_non_null(strstr(str_at(r, "cardsV2.0.card.sections.0.widgets.0.textParagraph.text"),
                           "<font color=\"#2eb886\"><b>OK</b></font>"));

    /* Card HTML is escaped; the header is plain text. */
    free(r->ok.ev[0].description);
    r->ok.ev[0].description = hd_strdup("<users/all> & co");
    render(r, &r->ok.ev[0]);
    assert_non_null(strstr(str_at(r, "cardsV2.0.card.sections.0.widgets.0.textParagraph.text"),
                           "&lt;users/all&gt; &amp; co"));

    make(r, "GCHAT", "{\"url\":\"" GCHAT_URL "\",\"endpoint\":\"http://127.0.0.1:9/\"}");
    render(r, &r->active.ev[0]);
    assert_string_equal(r->req.url, "http://127.0.0.1:9/v1/spaces/AAAA/messages?key=K3Y&token=T0K3N"
                                    "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
}

/* ---- test notifications ---- */

static void test_test_notifications(void **state)
{
    struct run *r = *state;
    static const struct {
        const char *type;
        const char *options;
        const char *path;
    } cases[] = {
        {"PAGER_DUTY", "{\"serviceKey\":\"" PD_KEY "\"}", "payload.summary"},
        {"OPSGENIE", "{\"apiKey\":\"k\"}", "message"},
        {"VICTOROPS", "{\"apiKey\":\"a\",\"routingKey\":\"b\"}", "entity_display_name"},
        {"SLACK", "{\"url\":\"https://hooks.slack.com/services/T/B/X\"}", "text"},
        {"MS_TEAMS", "{\"url\":\"" TEAMS_URL "\"}", "attachments.0.content.body.0.items.0.text"},
        {"GCHAT", "{\"url\":\"" GCHAT_URL "\"}", "cardsV2.0.card.header.title"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hd_event ev;
        make(r, cases[i].type, cases[i].options);
        assert_int_equal(hd_channel_test_event(r->ch, &ev), HD_OK);
        assert_true(hd_notify_is_test(&ev));
        render(r, &ev);
        const char *s = str_at(r, cases[i].path);
        if (strncmp(s, "[TEST] ", 7) != 0) {
            fail_msg("%s: %s does not start with [TEST]: %s", cases[i].type, cases[i].path, s);
        }
        hd_event_clear(&ev);
    }
    assert_false(hd_notify_is_test(&r->active.ev[0]));
}

/* ---- classify ---- */

struct ccase {
    long status;
    const char *body;
    enum hd_verdict want;
    const char *why; /* substring of items[0].error, NULL: empty */
};

static void run_classify(struct run *r, const struct ccase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct hd_response resp;
        struct hd_item_verdict it;
        hd_response_init(&resp);
        resp.status = cases[i].status;
        if (cases[i].status == 0) {
            snprintf(resp.error, sizeof(resp.error), "%s", cases[i].body);
        } else {
            hd_buf_puts(&resp.body, cases[i].body);
        }
        memset(&it, 0, sizeof(it));
        enum hd_verdict v = r->ch->type->classify(r->ch, &resp, 1, &it);
        if (v != cases[i].want || it.verdict != cases[i].want) {
            fail_msg("%s case %zu (HTTP %ld): verdict %d, want %d", r->ch->type->name, i, cases[i].status,
                     (int)v, (int)cases[i].want);
        }
        if (cases[i].why == NULL ? it.error[0] != '\0' : strstr(it.error, cases[i].why) == NULL) {
            fail_msg("%s case %zu: error '%s', want '%s'", r->ch->type->name, i, it.error,
                     cases[i].why ? cases[i].why : "");
        }
        hd_response_clear(&resp);
    }
}

static void test_classify_tables(void **state)
{
    struct run *r = *state;
    static const struct ccase pd[] = {
        {202, "{\"status\":\"success\",\"message\":\"Event processed\",\"dedup_key\":\"k\"}",
         HD_VERDICT_DELIVERED, NULL},
        {400,
         "{\"status\":\"invalid event\",\"message\":\"Event object is "
         "invalid\",\"errors\":[\"'payload.summary' is "
         "missing or blank\"]}",
         HD_VERDICT_DEAD, "invalid event: Event object is invalid: 'payload.summary' is missing or blank"},
        {429,
         "{\"status\":\"throttle event\",\"message\":\"Requests for this service are arriving too "
         "quickly.\"}",
         HD_VERDICT_RETRY, "throttle event"},
        {500, "", HD_VERDICT_RETRY, NULL},
        {0, "Connection refused", HD_VERDICT_RETRY, "Connection refused"},
    };
    static const struct ccase og[] = {
        {202, "{\"result\":\"Request will be processed\",\"took\":0.2,\"requestId\":\"r\"}",
         HD_VERDICT_DELIVERED, NULL},
        {422,
         "{\"message\":\"Request body is not processable. Please check the errors.\",\"errors\":{\"message\":"
         "\"Message can not be empty.\"},\"took\":0.0,\"requestId\":\"r\"}",
         HD_VERDICT_DEAD, "message: Message can not be empty."},
        {401, "{\"message\":\"Could not authenticate\",\"took\":0.0,\"requestId\":\"r\"}", HD_VERDICT_DEAD,
         "Could not authenticate"},
        {429, "{\"message\":\"You are making too many requests!\"}", HD_VERDICT_RETRY, "too many requests"},
        {503, "oops", HD_VERDICT_RETRY, "oops"},
    };
    static const struct ccase vo[] = {
        {200, "{\"result\":\"success\",\"entity_id\":\"e\"}", HD_VERDICT_DELIVERED, NULL},
        {200, "{\"result\":\"failure\",\"message\":\"Missing fields: message_type\"}", HD_VERDICT_DEAD,
         "failure: Missing fields: message_type"},
        {400, "{\"result\":\"failure\",\"message\":\"Invalid message_type\"}", HD_VERDICT_DEAD,
         "Invalid message_type"},
        {502, "<html>bad gateway</html>", HD_VERDICT_RETRY, "bad gateway"},
    };
    static const struct ccase sl[] = {
        {200, "ok", HD_VERDICT_DELIVERED, NULL},
        {400, "invalid_payload", HD_VERDICT_DEAD, "invalid_payload"},
        {404, "no_service", HD_VERDICT_DEAD, "no_service"},
        {404, "channel_not_found", HD_VERDICT_DEAD, "channel_not_found"},
        {410, "channel_is_archived", HD_VERDICT_DEAD, "channel_is_archived"},
        {429, "rate_limited", HD_VERDICT_RETRY, "rate_limited"},
        {500, "", HD_VERDICT_RETRY, NULL},
    };
    make(r, "PAGER_DUTY", "{\"serviceKey\":\"" PD_KEY "\"}");
    run_classify(r, pd, sizeof(pd) / sizeof(pd[0]));
    make(r, "OPSGENIE", "{\"apiKey\":\"k\"}");
    run_classify(r, og, sizeof(og) / sizeof(og[0]));
    make(r, "VICTOROPS", "{\"apiKey\":\"a\",\"routingKey\":\"b\"}");
    run_classify(r, vo, sizeof(vo) / sizeof(vo[0]));
    make(r, "SLACK", "{\"url\":\"https://hooks.slack.com/services/T/B/X\"}");
    run_classify(r, sl, sizeof(sl) / sizeof(sl[0]));
    static const struct ccase teams[] = {
        {202, "", HD_VERDICT_DELIVERED, NULL},
        {200, "1", HD_VERDICT_DELIVERED, NULL},
        {400,
         "{\"error\":{\"code\":\"TriggerInputSchemaMismatch\",\"message\":\"The input body does not "
         "match\"}}",
         HD_VERDICT_DEAD, "TriggerInputSchemaMismatch: The input body does not match"},
        {404, "{\"error\":{\"code\":\"WorkflowNotFound\",\"message\":\"not found\"}}", HD_VERDICT_DEAD,
         "WorkflowNotFound"},
        {400, "Bad payload received by generic incoming webhook.", HD_VERDICT_DEAD, "Bad payload"},
        {429, "", HD_VERDICT_RETRY, NULL},
        {200,
         "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with "
         "ContextId tcid=0",
         HD_VERDICT_RETRY, "returned HTTP error 429"},
        {200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413",
         HD_VERDICT_DEAD, "HTTP error 413"},
        {502, "", HD_VERDICT_RETRY, NULL},
    };
    make(r, "MS_TEAMS", "{\"url\":\"" TEAMS_URL "\"}");
    run_classify(r, teams, sizeof(teams) / sizeof(teams[0]));
    static const struct ccase gc[] = {
        {200, "{\"name\":\"spaces/AAAA/messages/x\"}", HD_VERDICT_DELIVERED, NULL},
        {400,
         "{\"error\":{\"code\":400,\"message\":\"Invalid JSON payload received.\",\"status\":"
         "\"INVALID_ARGUMENT\"}}",
         HD_VERDICT_DEAD, "INVALID_ARGUMENT: Invalid JSON payload received."},
        {403,
         "{\"error\":{\"code\":403,\"message\":\"The caller does not have permission\",\"status\":"
         "\"PERMISSION_DENIED\"}}",
         HD_VERDICT_DEAD, "PERMISSION_DENIED"},
        {429,
         "{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted\",\"status\":"
         "\"RESOURCE_EXHAUSTED\"}}",
         HD_VERDICT_RETRY, "RESOURCE_EXHAUSTED"},
        {503, "{\"error\":{\"code\":503,\"message\":\"unavailable\",\"status\":\"UNAVAILABLE\"}}",
         HD_VERDICT_RETRY, "UNAVAILABLE: unavailable"},
        {0, "Connection refused", HD_VERDICT_RETRY, "Connection refused"},
    };
    make(r, "GCHAT", "{\"url\":\"" GCHAT_URL "\"}");
    run_classify(r, gc, sizeof(gc) / sizeof(gc[0]));
}

/* Secrets are masked by the shared masker for these types' option names. */
static void test_secrets_masked(void **state)
{
    (void)state;
    const char *text = "{\"type\":\"VICTOROPS\",\"name\":\"v\",\"options\":{\"apiKey\":\"s3cr3t-api\","
                       "\"routingKey\":\"s3cr3t-route\",\"serviceKey\":\"s3cr3t-svc\"}}";
    json_object *o = hd_json_parse(text, strlen(text), NULL);
    json_object *m = hd_channel_mask_secrets(o);
    struct hd_buf b;
    hd_buf_init(&b, 0);
    hd_json_append(m, &b);
    assert_null(strstr(b.p, "s3cr3t"));
    hd_buf_free(&b);
    json_object_put(m);
    json_object_put(o);
    /* Teams and Google Chat webhook URLs are the credential: masked whole. */
    static const char *const urls[] = {
        "{\"type\":\"MS_TEAMS\",\"name\":\"t\",\"options\":{\"url\":\"" TEAMS_URL "\"}}",
        "{\"type\":\"GCHAT\",\"name\":\"g\",\"options\":{\"url\":\"" GCHAT_URL "\"}}",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        o = hd_json_parse(urls[i], strlen(urls[i]), NULL);
        m = hd_channel_mask_secrets(o);
        assert_string_equal(json_object_get_string(hd_json_path(m, "options.url")), HD_SECRET_MASK);
        json_object_put(m);
        json_object_put(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_severity_maps),
        cmocka_unit_test_setup_teardown(test_summary_and_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_stable_and_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagerduty_trigger_then_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagerduty_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opsgenie_create_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opsgenie_message_130, setup, teardown),
        cmocka_unit_test_setup_teardown(test_victorops_critical_then_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slack_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_teams_card, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gchat_card_and_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_test_notifications, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classify_tables, setup, teardown),
        cmocka_unit_test(test_secrets_masked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
