/* fuzz_ingest.c - libFuzzer target for hd_ingest_decode (see README.md).
 *
 * The first input byte picks the Content-Type and ?format=; the rest is the
 * body. Beyond "no crash, no leak, no UB" it checks the contract: on
 * success every event's raw is a JSON object found verbatim in the body and
 * its normalized form is valid JSON; on failure nothing is left in the batch
 * and the message is not empty. Decoded again in parts (hd_batch.flush), the
 * outcome is the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "input/decoder.h"
#include "model/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_json(const char *p, size_t n, int want_object)
{
    struct hd_err err = {0};
    json_object *o = hd_json_parse(p, n, &err);
    if (o == NULL || (want_object && !json_object_is_type(o, json_type_object))) {
        abort();
    }
    json_object_put(o);
}

static int count_part(void *ud, struct hd_event *evs, size_t n, struct hd_err *err)
{
    (void)err;
    for (size_t i = 0; i < n; i++) {
        if (evs[i].raw == NULL || strlen(evs[i].id) != 32) {
            abort();
        }
    }
    *(size_t *)ud += n;
    return HD_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const formats[] = {NULL,           "sysdig",     "generic", "falco",
                                          "alertmanager", "kubernetes", "docker",  NULL};
    if (size < 1) {
        return 0;
    }
    uint8_t sel = data[0];
    const char *ct = (sel & 1) ? "application/x-ndjson" : NULL;
    const char *fmt = formats[(sel >> 1) & 7];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    struct hd_batch b;
    struct hd_err err = {0};
    hd_batch_init(&b);
    int rc = hd_ingest_decode(body, len, ct, fmt, &b, &err);
    if (rc == HD_OK) {
        for (size_t i = 0; i < b.n; i++) {
            const struct hd_event *ev = &b.ev[i];
            if (ev->raw == NULL || ev->raw_len == 0 || ev->raw_len > len || strlen(ev->id) != 32 ||
                ev->source == NULL || ev->severity < 0 || ev->severity > 7) {
                abort();
            }
            check_json(ev->raw, ev->raw_len, 1);
            if (ev->labels != NULL) {
                check_json(ev->labels, strlen(ev->labels), 1);
            }
            struct hd_buf out;
            hd_buf_init(&out, 0);
            if (hd_event_to_json(ev, 1, &out) != HD_OK) {
                abort();
            }
            check_json(out.p, out.len, 1);
            hd_buf_free(&out);
        }
    } else if (b.n != 0 || err.msg[0] == '\0') {
        abort();
    }
    size_t whole_n = b.n;
    hd_batch_free(&b);

    /* Decoded in parts (the store's writer does so for large requests): the
     * same outcome, the same events in all, the same error. */
    struct hd_batch p;
    struct hd_err perr = {0};
    size_t flushed = 0;
    hd_batch_init(&p);
    p.flush = count_part;
    p.flush_ud = &flushed;
    p.chunk = 1 + ((sel >> 4) & 3);
    int prc = hd_ingest_decode(body, len, ct, fmt, &p, &perr);
    if (prc != rc || (rc == HD_OK && flushed + p.n != whole_n) || (rc != HD_OK && p.n != 0) ||
        (rc != HD_OK && strcmp(perr.msg, err.msg) != 0) || p.n >= p.chunk) {
        abort();
    }
    hd_batch_free(&p);

    /* the shared string parsers, on the same bytes as a C string */
    char *s = malloc(len + 1);
    if (s != NULL) {
        memcpy(s, body, len);
        s[len] = '\0';
        int64_t us;
        (void)hd_parse_rfc3339_us(s, &us);
        struct hd_event ev;
        memset(&ev, 0, sizeof(ev));
        (void)hd_event_k8s_from_container_name(&ev, s);
        hd_event_clear(&ev);
        free(s);
    }
    return 0;
}
