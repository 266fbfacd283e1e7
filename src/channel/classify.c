/* classify.c - the shared HTTP classification of a sink's answer (SPEC
 * section 6) and the per-item verdicts built from it.
 */
#include <stdio.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/driver.h"

/* ---- classification ---- */

enum hd_verdict hd_classify_http(const struct hd_response *resp)
{
    long s = resp->status;
    if (s >= 200 && s <= 299) {
        return HD_VERDICT_DELIVERED;
    }
    /* Transport errors and timeouts (status 0), Request Timeout, Too Many
     * Requests and server errors are transient (SPEC 6); any other answer,
     * 1xx and 3xx included (redirects are not followed), will not change on
     * a retry. */
    if (s == 0 || s == 408 || s == 429 || s >= 500) {
        return HD_VERDICT_RETRY;
    }
    return HD_VERDICT_DEAD;
}

void hd_items_set(enum hd_verdict v, const struct hd_response *resp, const char *why, size_t n,
                  struct hd_item_verdict *items)
{
    for (size_t i = 0; i < n; i++) {
        items[i].verdict = v;
        items[i].status = (int)resp->status;
        items[i].error[0] = '\0';
        if (v == HD_VERDICT_DELIVERED) {
            continue;
        }
        if (resp->status == 0) {
            snprintf(items[i].error, sizeof(items[i].error), "%s", resp->error);
        } else if (why != NULL) {
            snprintf(items[i].error, sizeof(items[i].error), "%s", why);
        } else {
            /* The start of the answer as is: sinks put the reason there. */
            size_t len =
                resp->body.len < sizeof(items[i].error) - 1 ? resp->body.len : sizeof(items[i].error) - 1;
            if (len > 0) {
                memcpy(items[i].error, resp->body.p, len);
            }
            items[i].error[len] = '\0';
        }
    }
}

/* Control bytes become spaces so a log line stays one line. */
void hd_describe_answer(const struct hd_response *resp, char *out, size_t outsz)
{
    if (resp->status == 0) {
        snprintf(out, outsz, "%s", resp->error[0] != '\0' ? resp->error : "transport error");
        return;
    }
    int n = snprintf(out, outsz, "HTTP %ld", resp->status);
    if (n < 0 || (size_t)n >= outsz || resp->body.len == 0) {
        return;
    }
    size_t pos = (size_t)n;
    const char *sep = ": ";
    if (pos + 2 < outsz) {
        memcpy(out + pos, sep, 2);
        pos += 2;
    }
    size_t take = resp->body.len;
    if (take > 200) {
        take = 200;
    }
    for (size_t i = 0; i < take && pos + 1 < outsz; i++) {
        unsigned char ch = (unsigned char)resp->body.p[i];
        out[pos++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    out[pos] = '\0';
}
