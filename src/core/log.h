/* log.h - one line per notable event on stderr, text or JSON.
 *
 * Never pass a secret to hd_log. Callers put a context prefix in the message,
 * e.g. hd_log(HD_LOG_WARN, "channel=%s while posting: %s", name, why).
 */
#ifndef HD_LOG_H
#define HD_LOG_H

enum hd_log_level { HD_LOG_DEBUG = 0, HD_LOG_INFO = 1, HD_LOG_WARN = 2, HD_LOG_ERROR = 3 };

extern int hd_log_min_level;

void hd_log_set_format_json(int json);
void hd_log_set_level(int level);
void hd_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define hd_log(lvl, ...)                                                                                     \
    do {                                                                                                     \
        if ((lvl) < hd_log_min_level) {                                                                      \
            break;                                                                                           \
        }                                                                                                    \
        hd_log_write((lvl), __VA_ARGS__);                                                                    \
    } while (0)

#endif
