/* sns.c - SNS: Amazon SNS Publish to every topic of options.snsTopicARNs
 * (SPEC 4), signed with AWS Signature Version 4.
 *
 * DESIGN: the SNS query API (API version 2010-03-31): POST / with a form
 * body Action=Publish&TopicArn=..&Subject=..&Message=..&Version=2010-03-31,
 * every value percent-encoded as SigV4 asks (RFC 3986 unreserved bytes as
 * is, everything else %XX). The answer is XML: <PublishResponse> with a
 * <MessageId> on success, <ErrorResponse><Error><Code> otherwise.
 *
 * Fan-out: Publish takes one topic, so a render produces one request per
 * ARN, chained (struct hd_request.then): the HTTP client sends the next
 * only after a 2xx, and the answer classified is the first failure or the
 * last success. A retry repeats the whole chain, so a topic that already
 * took the message may get it again: at least once, as SPEC 6 promises.
 * FIFO topics (".fifo") get MessageGroupId "herald" (one ordered stream)
 * and MessageDeduplicationId = the event id, so there a retry is deduplicated
 * by SNS itself.
 *
 * Region and partition come from each ARN (arn:aws:sns:us-east-1:...:topic);
 * the endpoint is https://sns.<region>.amazonaws.com/ (".com.cn" in aws-cn),
 * or options.endpoint (on-prem, LocalStack, tests) with "/" appended.
 * Signing is curl's (CURLOPT_AWS_SIGV4 "aws:amz:<region>:sns"), with the
 * credentials of options.accessKeyId / secretAccessKey / sessionToken, else
 * of the standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN environment; a session token travels in
 * X-Amz-Security-Token, which curl signs with the other headers.
 *
 * Subject: the e-mail subject (email.h) in printable ASCII, under 100
 * characters as SNS requires. Message: the normalized event as JSON
 * (SPEC 5, without raw: SNS caps a message at 256 KiB), plus "test": true
 * for the channel's test notification; options.template replaces it.
 *
 * Classification: 2xx delivered; throttling and transient codes
 * (botocore's retry tables: Throttling, ThrottlingException, Throttled,
 * RequestThrottled, ... and InternalError, RequestTimeout) retried whatever
 * their HTTP status; otherwise the HTTP rule (408, 429, 5xx, transport
 * errors retried; InvalidParameter, NotFound, AuthorizationError ... dead).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"
#include "channel/email.h"
#include "channel/transform.h"
#include "core/util.h"

#define SNS_MAX_TOPICS 32
#define SNS_MESSAGE_MAX (256u * 1024)
#define SNS_SUBJECT_MAX 99

struct sns_topic {
    const char *arn; /* borrowed from ch->options */
    char region[32];
    char partition[16];
    int fifo;
};

struct sns {
    struct sns_topic topics[SNS_MAX_TOPICS];
    size_t n_topics;
    /* Copies (options or environment); secret wiped on destroy. */
    char *key_id;
    char *secret;
    char *token;
};

static int all_of(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && (extra == NULL || strchr(extra, c) == NULL)) {
            return 0;
        }
    }
    return 1;
}

/* arn:<partition>:sns:<region>:<12-digit account>:<topic name>. */
static int arn_parse(const char *arn, struct sns_topic *t)
{
    const char *f[6];
    size_t len[6];
    const char *p = arn;
    for (int i = 0; i < 6; i++) {
        const char *c = i < 5 ? strchr(p, ':') : p + strlen(p);
        if (c == NULL) {
            return HD_EINVAL;
        }
        f[i] = p;
        len[i] = (size_t)(c - p);
        p = c + 1;
    }
    if (len[0] != 3 || memcmp(f[0], "arn", 3) != 0 || len[2] != 3 || memcmp(f[2], "sns", 3) != 0) {
        return HD_EINVAL;
    }
    if (len[1] == 0 || len[1] >= sizeof(t->partition) || !all_of(f[1], len[1], "-")) {
        return HD_EINVAL;
    }
    if (len[3] == 0 || len[3] >= sizeof(t->region) || !all_of(f[3], len[3], "-")) {
        return HD_EINVAL;
    }
    if (len[4] != 12 || !all_of(f[4], 12, NULL)) {
        return HD_EINVAL;
    }
    size_t tn = len[5];
    int fifo = tn > 5 && memcmp(f[5] + tn - 5, ".fifo", 5) == 0;
    size_t base = fifo ? tn - 5 : tn;
    if (base == 0 || tn > 256 || !all_of(f[5], base, "-_")) {
        return HD_EINVAL;
    }
    memcpy(t->partition, f[1], len[1]);
    t->partition[len[1]] = '\0';
    memcpy(t->region, f[3], len[3]);
    t->region[len[3]] = '\0';
    t->fifo = fifo;
    t->arn = arn;
    return HD_OK;
}

static void free_secret(char *s)
{
    if (s == NULL) {
        return;
    }
    for (volatile char *v = s; *v != '\0'; v++) {
        *v = '\0';
    }
    free(s);
}

static void sns_destroy(struct hd_channel *ch)
{
    struct sns *s = ch->ctx;
    if (s == NULL) {
        return;
    }
    free(s->key_id);
    free_secret(s->secret);
    free_secret(s->token);
    s->key_id = s->secret = s->token = NULL;
}

static int sns_credentials(struct sns *s, json_object *options, struct hd_err *err)
{
    const char *id = NULL;
    const char *secret = NULL;
    const char *token = NULL;
    int rc = hd_opt_str(options, "options", "accessKeyId", 0, &id, err);
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "secretAccessKey", 0, &secret, err);
    }
    if (rc == HD_OK) {
        rc = hd_opt_str(options, "options", "sessionToken", 0, &token, err);
    }
    if (rc != HD_OK) {
        return rc;
    }
    if (id != NULL && id[0] == '\0') {
        id = NULL;
    }
    if (id == NULL && secret != NULL && secret[0] != '\0') {
        return hd_err_set(err, HD_EINVAL, "options.accessKeyId: required with options.secretAccessKey");
    }
    if (id != NULL && (secret == NULL || secret[0] == '\0')) {
        return hd_err_set(err, HD_EINVAL, "options.secretAccessKey: required with options.accessKeyId");
    }
    if (id == NULL) {
        /* The standard AWS environment, as the AWS SDKs and CLI read it. */
        id = getenv("AWS_ACCESS_KEY_ID");
        secret = getenv("AWS_SECRET_ACCESS_KEY");
        token = getenv("AWS_SESSION_TOKEN");
        if (id == NULL || id[0] == '\0' || secret == NULL || secret[0] == '\0') {
            return hd_err_set(
                err, HD_EINVAL,
                "options.accessKeyId: required (with secretAccessKey), or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY in herald's environment");
        }
    }
    /* A key id goes into the Authorization header and curl's user name:
     * nothing that could break either. */
    if (!all_of(id, strlen(id), NULL) || strlen(id) > 128) {
        return hd_err_set(err, HD_EINVAL,
                          "options.accessKeyId: must be letters and digits (an AWS access key id)");
    }
    if (token != NULL && token[0] == '\0') {
        token = NULL;
    }
    if (token != NULL && strpbrk(token, "\r\n") != NULL) {
        return hd_err_set(err, HD_EINVAL, "options.sessionToken: must not contain CR or LF");
    }
    s->key_id = hd_strdup(id);
    s->secret = hd_strdup(secret);
    s->token = hd_strdup(token);
    if (s->key_id == NULL || s->secret == NULL || (token != NULL && s->token == NULL)) {
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    return HD_OK;
}

static int sns_configure(struct hd_channel *ch, json_object *options, struct hd_err *err)
{
    struct sns *s = ch->ctx;
    json_object *a = hd_opt_get(options, "snsTopicARNs");
    if (a == NULL) {
        return hd_err_set(err, HD_EINVAL, "options.snsTopicARNs: required (a list of SNS topic ARNs)");
    }
    if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) == 0 ||
        json_object_array_length(a) > SNS_MAX_TOPICS) {
        return hd_err_set(err, HD_EINVAL, "options.snsTopicARNs: must be a list of 1..%d topic ARNs",
                          SNS_MAX_TOPICS);
    }
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *v = json_object_array_get_idx(a, i);
        if (!json_object_is_type(v, json_type_string) ||
            arn_parse(json_object_get_string(v), &s->topics[i]) != HD_OK) {
            return hd_err_set(err, HD_EINVAL,
                              "options.snsTopicARNs[%zu]: not an SNS topic ARN "
                              "(arn:aws:sns:<region>:<12-digit account>:<topic>)",
                              i);
        }
        s->n_topics = i + 1;
    }
    return sns_credentials(s, options, err);
}

/* Appends "&name=value" (no '&' first), value percent-encoded as SigV4's
 * canonical form wants: A-Z a-z 0-9 - _ . ~ as is, every other byte %XX. */
static int form_add(struct hd_buf *b, const char *name, const char *v, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = hd_buf_printf(b, "%s%s=", b->len > 0 ? "&" : "", name);
    for (size_t i = 0; i < n && rc == HD_OK; i++) {
        unsigned char c = (unsigned char)v[i];
        int plain = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
                    c == '_' || c == '.' || c == '~';
        if (plain) {
            rc = hd_buf_putc(b, (char)c);
        } else {
            char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = hd_buf_append(b, enc, 3);
        }
    }
    return rc;
}

static int is_test_event(const struct hd_event *ev)
{
    return ev->source != NULL && strcmp(ev->source, "generic") == 0 && ev->alert_key != NULL &&
           strncmp(ev->alert_key, "herald-test/", 12) == 0;
}

/* Subject: printable ASCII (each non-ASCII character becomes '?'), at most
 * SNS_SUBJECT_MAX characters. */
static int sns_subject(const struct hd_event *ev, struct hd_buf *out)
{
    struct hd_buf full;
    hd_buf_init(&full, 0);
    int rc = hd_alert_subject(ev, &full);
    for (size_t i = 0; rc == HD_OK && i < full.len && out->len < SNS_SUBJECT_MAX; i++) {
        unsigned char c = (unsigned char)full.p[i];
        if (c >= 0x80 && (c & 0xC0) == 0x80) {
            continue; /* continuation byte: its lead byte already wrote '?' */
        }
        rc = hd_buf_putc(out, (c >= 0x20 && c < 0x7f) ? (char)c : '?');
    }
    hd_buf_free(&full);
    return rc;
}

static int sns_message(struct hd_channel *ch, const struct hd_event *ev, struct hd_buf *msg,
                       struct hd_err *err)
{
    if (ch->common.tmpl != NULL) {
        return hd_template_render(ev, ch->common.tmpl, msg, err);
    }
    int rc = hd_event_to_json(ev, 0, msg);
    if (rc == HD_OK && is_test_event(ev) && msg->len > 1 && msg->p[msg->len - 1] == '}') {
        msg->len--;
        msg->p[msg->len] = '\0';
        rc = hd_buf_puts(msg, ",\"test\":true}");
    }
    if (rc != HD_OK) {
        hd_err_set(err, rc, "sns: cannot build the message: %s", hd_strerror(rc));
    }
    return rc;
}

/* Fills one Publish request for topic t. */
static int publish_request(struct hd_channel *ch, const struct sns_topic *t, const struct hd_event *ev,
                           const struct hd_buf *subject, const struct hd_buf *msg, struct hd_request *req)
{
    struct sns *s = ch->ctx;
    struct hd_buf b;
    hd_buf_init(&b, 0);
    int rc = HD_OK;
    if (ch->common.endpoint != NULL) {
        size_t el = strlen(ch->common.endpoint);
        rc = hd_buf_printf(&b, "%s%s", ch->common.endpoint,
                           el > 0 && ch->common.endpoint[el - 1] == '/' ? "" : "/");
    } else {
        rc = hd_buf_printf(&b, "https://sns.%s.%s/", t->region,
                           strcmp(t->partition, "aws-cn") == 0 ? "amazonaws.com.cn" : "amazonaws.com");
    }
    if (rc == HD_OK) {
        req->url = hd_buf_steal(&b, NULL);
        rc = hd_buf_printf(&b, "aws:amz:%s:sns", t->region);
    }
    if (rc == HD_OK) {
        req->aws_sigv4 = hd_buf_steal(&b, NULL);
        req->username = hd_strdup(s->key_id);
        req->password = hd_strdup(s->secret);
        if (req->url == NULL || req->aws_sigv4 == NULL || req->username == NULL || req->password == NULL) {
            rc = HD_ENOMEM;
        }
    }
    hd_request_begin(req, ch, "POST", NULL); /* req->url set above */
    if (rc == HD_OK) {
        rc = hd_request_add_header(req, "Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
    }
    if (rc == HD_OK && s->token != NULL) {
        rc = hd_request_add_header(req, "X-Amz-Security-Token", s->token);
    }
    struct hd_buf *f = &req->body;
    if (rc == HD_OK) {
        rc = form_add(f, "Action", "Publish", 7);
    }
    if (rc == HD_OK) {
        rc = form_add(f, "TopicArn", t->arn, strlen(t->arn));
    }
    if (rc == HD_OK) {
        rc = form_add(f, "Subject", subject->p, subject->len);
    }
    if (rc == HD_OK) {
        rc = form_add(f, "Message", msg->p, msg->len);
    }
    if (rc == HD_OK && t->fifo) {
        rc = form_add(f, "MessageGroupId", "herald", 6);
        if (rc == HD_OK) {
            rc = form_add(f, "MessageDeduplicationId", ev->id, strlen(ev->id));
        }
    }
    if (rc == HD_OK) {
        rc = form_add(f, "Version", "2010-03-31", 10);
    }
    hd_buf_free(&b);
    return rc;
}

static int sns_render(struct hd_channel *ch, const struct hd_event *const *evs, size_t n,
                      struct hd_request *req, struct hd_err *err)
{
    struct sns *s = ch->ctx;
    struct hd_buf subject, msg;
    hd_buf_init(&subject, 0);
    hd_buf_init(&msg, 0);
    int rc = HD_OK;
    (void)n; /* 1: max_batch, checked by hd_channel_render */
    rc = sns_subject(evs[0], &subject);
    if (rc != HD_OK) {
        hd_err_set(err, rc, "sns: cannot build the subject: %s", hd_strerror(rc));
        goto out;
    }
    rc = sns_message(ch, evs[0], &msg, err);
    if (rc != HD_OK) {
        goto out;
    }
    if (msg.len > SNS_MESSAGE_MAX) {
        rc = hd_err_set(err, HD_ETOOBIG, "sns: message of %zu bytes is over SNS's 256 KiB limit", msg.len);
        goto out;
    }
    /* req is the first Publish; each further topic hangs off the previous one. */
    struct hd_request *cur = req;
    for (size_t i = 0; i < s->n_topics; i++) {
        if (i > 0) {
            struct hd_request *next = malloc(sizeof(*next));
            if (next == NULL) {
                rc = HD_ENOMEM;
                break;
            }
            hd_request_init(next);
            cur->then = next;
            cur = next;
        }
        rc = publish_request(ch, &s->topics[i], evs[0], &subject, &msg, cur);
        if (rc != HD_OK) {
            break;
        }
    }
    if (rc != HD_OK) {
        hd_err_set(err, rc, "sns: cannot build the request: %s", hd_strerror(rc));
    }
out:
    hd_buf_free(&subject);
    hd_buf_free(&msg);
    return rc;
}

/* Text of the first <tag>...</tag> in an XML answer (no nesting needed:
 * Code and Message are leaves), at most outsz-1 bytes. */
static int xml_leaf(const struct hd_buf *b, const char *tag, char *out, size_t outsz)
{
    char open[48];
    char close[48];
    out[0] = '\0';
    if (b->p == NULL || b->len == 0) {
        return 0;
    }
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *s = strstr(b->p, open);
    if (s == NULL) {
        return 0;
    }
    s += strlen(open);
    const char *e = strstr(s, close);
    if (e == NULL) {
        return 0;
    }
    size_t n = (size_t)(e - s) < outsz - 1 ? (size_t)(e - s) : outsz - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

/* botocore/retries/standard.py throttling and transient codes, plus SNS's
 * own Throttled (service-2.json ThrottledException) and KMSThrottling. */
static int retryable_code(const char *code)
{
    static const char *const codes[] = {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "Throttled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "KMSThrottling",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (strcmp(code, codes[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static enum hd_verdict sns_classify(struct hd_channel *ch, const struct hd_response *resp, size_t n,
                                    struct hd_item_verdict *items)
{
    char code[64];
    char message[160];
    char why[sizeof(items[0].error)];
    enum hd_verdict v = hd_classify_http(resp);
    int has_code =
        resp->status != 0 && v != HD_VERDICT_DELIVERED && xml_leaf(&resp->body, "Code", code, sizeof(code));
    if (has_code && retryable_code(code)) {
        v = HD_VERDICT_RETRY;
    }
    if (has_code) {
        xml_leaf(&resp->body, "Message", message, sizeof(message));
    }
    if (has_code) {
        snprintf(why, sizeof(why), "%s: %s", code, message);
    }
    hd_items_set(v, resp, has_code ? why : NULL, n, items);
    return v;
}

/* accessKeyId only names the key (it travels in clear in every SigV4
 * Authorization header): not a secret. */
static const char *const sns_secrets[] = {"secretAccessKey", "sessionToken", NULL};
const struct hd_channel_type hd_channel_sns = {
    .name = "SNS",
    .ctx_size = sizeof(struct sns),
    .max_batch = 1,
    .secret_options = sns_secrets,
    .configure = sns_configure,
    .render = sns_render,
    .classify = sns_classify,
    .destroy = sns_destroy,
};
