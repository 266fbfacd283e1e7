/* fuzz_channel.c - libFuzzer target for notificationChannel validation, the
 * path of POST/PUT /api/channels (api/channels.c record_of ->
 * hd_channel_validate: type, name, common options, the type's configure),
 * see README.md.
 *
 * Input: JSON bytes, either {"notificationChannel": {...}} as the API takes
 * it or the channel object itself. Beyond "no crash, no leak, no UB" it
 * checks the contract of channel.h:
 *   - a rejected object has a message (the API answers it as the 400);
 *   - what validate accepts, hd_channel_new builds from its stored text (the
 *     dispatcher runs exactly what the API stored);
 *   - masking the secrets and sending the mask back (GET then PUT) restores
 *     the object exactly (hd_channel_mask_secrets, hd_channel_keep_secrets);
 *   - the built channel renders its test notification without crashing
 *     (render is pure: templates, transforms and the type's options).
 *
 * Determinism: SNS falls back to AWS_* from the environment and EMAIL needs
 * the process's SMTP settings: both are fixed once, before the first input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/email.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct hd_err err = {0};
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    unsetenv("AWS_SESSION_TOKEN");
    const struct hd_smtp_settings smtp = {.url = "smtp://mail.example.com:587", .from = "herald@example.com"};
    if (hd_channel_registry_check(&err) != HD_OK || hd_channel_set_smtp(&smtp) != HD_OK) {
        abort();
    }
    return 0;
}

/* The test notification through the type's render. */
static void render_test(struct hd_channel *ch)
{
    struct hd_event ev;
    struct hd_request req;
    struct hd_err err = {0};
    if (hd_channel_test_event(ch, &ev) != HD_OK) {
        abort();
    }
    ev.ts_us = 1700000000000000LL; /* the same bytes every run */
    ev.recv_us = ev.ts_us;
    const struct hd_event *evs[1] = {&ev};
    hd_request_init(&req);
    (void)ch->type->render(ch, evs, 1, &req, &err);
    hd_request_clear(&req);
    hd_event_clear(&ev);
}

static void check_accepted(json_object *obj)
{
    struct hd_err err = {0};
    struct hd_buf text;
    hd_buf_init(&text, 0);
    if (hd_json_append(obj, &text) != HD_OK || hd_buf_putc(&text, '\0') != HD_OK) {
        abort();
    }
    struct hd_channel *ch = hd_channel_new(1, 1, text.p, &err);
    if (ch == NULL) {
        abort();
    }
    json_object *masked = hd_channel_mask_secrets(obj);
    if (masked == NULL) {
        abort();
    }
    /* same type, same URLs: every secret comes back */
    if (hd_channel_keep_secrets(masked, obj, &err) != HD_OK || !json_object_equal(masked, obj)) {
        abort();
    }
    json_object_put(masked);
    render_test(ch);
    hd_channel_free(ch);
    hd_buf_free(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hd_err err = {0};
    json_object *body = hd_json_parse((const char *)data, size, &err);
    if (body == NULL) {
        return 0;
    }
    json_object *obj = body, *inner = NULL;
    if (json_object_is_type(body, json_type_object) &&
        json_object_object_get_ex(body, "notificationChannel", &inner) &&
        json_object_is_type(inner, json_type_object)) {
        obj = inner; /* the API's envelope */
    }
    int rc = hd_channel_validate(obj, &err);
    if (rc != HD_OK) {
        if (err.msg[0] == '\0') {
            abort();
        }
    } else {
        check_accepted(obj);
    }
    json_object_put(body);
    return 0;
}
