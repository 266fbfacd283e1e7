#include "core/err.h"

#include <stdio.h>
#include <string.h>

int hd_err_set(struct hd_err *err, int code, const char *fmt, ...)
{
    if (err == NULL) {
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

void hd_err_prefix(struct hd_err *err, const char *fmt, ...)
{
    if (err == NULL) {
        return;
    }
    char pre[128];
    char old[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    size_t pl = strlen(pre);
    if (pl >= sizeof(err->msg)) {
        pl = sizeof(err->msg) - 1;
    }
    memcpy(err->msg, pre, pl);
    size_t ol = strnlen(old, sizeof(old) - 1);
    if (ol > sizeof(err->msg) - 1 - pl) {
        ol = sizeof(err->msg) - 1 - pl;
    }
    memcpy(err->msg + pl, old, ol);
    err->msg[pl + ol] = '\0';
}

const char *hd_strerror(int code)
{
    switch (code) {
    case HD_OK: return "ok";
    case HD_EINVAL: return "invalid input";
    case HD_ENOMEM: return "out of memory";
    case HD_EIO: return "I/O error";
    case HD_ENOTFOUND: return "not found";
    case HD_ECONFLICT: return "conflict";
    case HD_ETOOBIG: return "too big";
    case HD_EBUSY: return "busy";
    case HD_EAUTH: return "unauthorized";
    case HD_ENET: return "network error";
    case HD_ESHUTDOWN: return "shutting down";
    default: return "unknown error";
    }
}
