/* log.c - one line per notable event on stderr (log.h).
 *
 * DESIGN: a message is formatted once, then written whole under one lock so
 * lines of concurrent threads never interleave. What a client controls may be
 * in a message (a rejected ?format=, a Content-Type), so each format escapes:
 * JSON as a JSON string, text with escape_text. */
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

/* The text format's one line per message: control bytes (a client's "\n" in a
 * query parameter would start a forged line; ESC sequences drive terminals)
 * and the backslash that introduces the escapes are written as \n, \r, \t,
 * \\ or \xNN. out holds 4 bytes per input byte (plus the NUL). */
static void escape_text(const char *in, char *out, size_t outsz)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p != '\0' && o + 5 <= outsz; p++) {
        unsigned char c = *p;
        if (c >= 0x20 && c != 0x7f && c != '\\') {
            out[o++] = (char)c;
            continue;
        }
        out[o++] = '\\';
        switch (c) {
        case '\n': out[o++] = 'n'; break;
        case '\r': out[o++] = 'r'; break;
        case '\t': out[o++] = 't'; break;
        case '\\': out[o++] = '\\'; break;
        default:
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* " key=value" in the text format: escaped like a message, and quoted (with
 * \" for a quote) when it holds a space, a quote or '=', or is empty, so that
 * the fields of a line split unambiguously. */
static void put_text_field(struct hd_buf *b, const char *key, const char *value)
{
    char safe[4 * 512 + 1];
    char val[512];
    snprintf(val, sizeof(val), "%s", value);
    escape_text(val, safe, sizeof(safe));
    int quote = safe[0] == '\0' || strpbrk(safe, " \"=") != NULL;
    hd_buf_printf(b, " %s=", key);
    if (!quote) {
        hd_buf_puts(b, safe);
        return;
    }
    hd_buf_putc(b, '"');
    for (const char *p = safe; *p != '\0'; p++) {
        if (*p == '"') {
            hd_buf_putc(b, '\\');
        }
        hd_buf_putc(b, *p);
    }
    hd_buf_putc(b, '"');
}

static void log_line(int level, const struct hd_log_field *fields, const char *msg)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t w = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof(when) - w, ".%03ldZ", ts.tv_nsec / 1000000);
    const char *lv = names[(level < 0 || level > 3) ? 3 : level];

    struct hd_buf b;
    hd_buf_init(&b, 0);
    if (log_json) {
        hd_buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", when, lv);
        hd_buf_json_str(&b, msg, strlen(msg));
        for (size_t i = 0; fields != NULL && fields[i].key != NULL; i++) {
            if (fields[i].value != NULL) {
                hd_buf_putc(&b, ',');
                hd_buf_json_str(&b, fields[i].key, strlen(fields[i].key));
                hd_buf_putc(&b, ':');
                hd_buf_json_str(&b, fields[i].value, strlen(fields[i].value));
            }
        }
        hd_buf_puts(&b, "}\n");
    } else {
        char safe[4 * 1024 + 1];
        escape_text(msg, safe, sizeof(safe));
        hd_buf_printf(&b, "%s %-5s %s", when, lv, safe);
        for (size_t i = 0; fields != NULL && fields[i].key != NULL; i++) {
            if (fields[i].value != NULL) {
                put_text_field(&b, fields[i].key, fields[i].value);
            }
        }
        hd_buf_putc(&b, '\n');
    }
    pthread_mutex_lock(&log_lock);
    if (b.p != NULL) {
        fputs(b.p, stderr);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    hd_buf_free(&b);
}

void hd_log_write(int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_line(level, NULL, msg);
}

void hd_log_kv_write(int level, const struct hd_log_field *fields, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_line(level, fields, msg);
}
