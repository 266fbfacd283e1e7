#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"

int hd_log_min_level = HD_LOG_INFO;
static int log_json;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void hd_log_set_format_json(int json)
{
    log_json = json;
}

void hd_log_set_level(int level)
{
    hd_log_min_level = level;
}

void hd_log_write(int level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t w = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof(when) - w, ".%03ldZ", ts.tv_nsec / 1000000);
    const char *lv = names[(level < 0 || level > 3) ? 3 : level];

    pthread_mutex_lock(&log_lock);
    if (log_json) {
        struct hd_buf b;
        hd_buf_init(&b, 0);
        hd_buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", when, lv);
        hd_buf_json_str(&b, msg, strlen(msg));
        hd_buf_puts(&b, "}\n");
        if (b.p != NULL) {
            fputs(b.p, stderr);
        }
        hd_buf_free(&b);
    } else {
        fprintf(stderr, "%s %-5s %s\n", when, lv, msg);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}
