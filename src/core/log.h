/* log.h - one line per notable event on stderr, text or JSON.
 *
 * Never pass a secret to hd_log. A line's context (the channel, the event,
 * the input it is about) goes in fields, not in the message, so that a reader
 * can filter on it: hd_log_kv(HD_LOG_WARN, HD_KV({"channel", name}, {"event", id}),
 * "while posting to %s: %s", host, why) writes
 *   text: 2026-...Z warn  while posting to h: 503 channel=splunk-prod event=0a1b...
 *   JSON: {"time":..,"level":"warn","msg":"while posting to h:
 * 503","channel":"splunk-prod","event":"0a1b..."} Keys are static identifiers (never "time", "level" or
 * "msg"); a NULL value leaves its field out. Values are escaped like messages (and quoted in the text format
 * when they hold a space, a quote or '=', or are empty).
 */
#ifndef HD_LOG_H
#define HD_LOG_H

enum hd_log_level { HD_LOG_DEBUG = 0, HD_LOG_INFO = 1, HD_LOG_WARN = 2, HD_LOG_ERROR = 3 };

extern int hd_log_min_level;

void hd_log_set_format_json(int json);
void hd_log_set_level(int level);
void hd_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One field of a line's context. */
struct hd_log_field {
    const char *key;
    const char *value;
};
/* A NULL-keyed-terminated array of fields, for hd_log_kv: HD_KV({"channel", name}, {"event", id}). */
#define HD_KV(...) ((const struct hd_log_field[]){__VA_ARGS__, {NULL, NULL}})

void hd_log_kv_write(int level, const struct hd_log_field *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define hd_log_kv(lvl, fields, ...)                                                                          \
    do {                                                                                                     \
        if ((lvl) < hd_log_min_level) {                                                                      \
            break;                                                                                           \
        }                                                                                                    \
        hd_log_kv_write((lvl), (fields), __VA_ARGS__);                                                       \
    } while (0)

#define hd_log(lvl, ...)                                                                                     \
    do {                                                                                                     \
        if ((lvl) < hd_log_min_level) {                                                                      \
            break;                                                                                           \
        }                                                                                                    \
        hd_log_write((lvl), __VA_ARGS__);                                                                    \
    } while (0)

#endif
