/* email.h - process-wide SMTP settings of the EMAIL channel type.
 *
 * The SMTP server is part of herald's config file (smtp.*, SPEC section 3),
 * not of the channel object, and the channel layer does not see the config:
 * `herald serve` hands the settings over here at start and on every SIGHUP.
 * Any thread may render an EMAIL channel (dispatcher loop, API tests), so
 * the settings are copied under a lock in both directions.
 */
#ifndef HD_CHANNEL_EMAIL_H
#define HD_CHANNEL_EMAIL_H

#include "core/buf.h"
#include "model/event.h"

struct hd_smtp_settings {
    const char *url;      /* smtp://host[:587] or smtps://host[:465]; NULL = none */
    const char *from;     /* "herald@example.com" or "Herald <herald@example.com>" */
    const char *username; /* SMTP AUTH, NULL = none */
    const char *password; /* secret */
    int start_tls;        /* require STARTTLS on smtp:// */
    /* With a username, STARTTLS is required on smtp:// unless this is set
     * (smtp.allowInsecureAuth: AUTH may then go in clear). */
    int allow_insecure_auth;
};

/* Copies s (NULL clears). HD_OK, or HD_ENOMEM leaving the old settings. */
int hd_channel_set_smtp(const struct hd_smtp_settings *s);

/* Frees the copy (at exit; keeps LeakSanitizer quiet). */
void hd_channel_smtp_clear(void);

/* Appends the one-line summary of an event used as e-mail and SNS subject:
 * "[ALERT][Medium] <name>" (ACTIVE), "[OK][..] ", "[RESOLVED][..] ", or
 * "[TEST] <name>" for the channel test event; severity labels are Sysdig's
 * (0-3 High, 4-5 Medium, 6 Low, 7 Info); control characters become spaces
 * and the name is cut at 200 bytes on a UTF-8 boundary. */
int hd_alert_subject(const struct hd_event *ev, struct hd_buf *out);

#endif
