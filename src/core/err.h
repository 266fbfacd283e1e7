/* err.h - result codes and the error a person reads.
 *
 * Functions return int: HD_OK (0) or a negative HD_E* code. When they fail they
 * may fill a struct hd_err whose msg says which field, which line, which rule.
 */
#ifndef HD_ERR_H
#define HD_ERR_H

#include <stdarg.h>

enum {
    HD_OK = 0,
    HD_EINVAL = -1, /* bad input: the msg names the field/position */
    HD_ENOMEM = -2,
    HD_EIO = -3, /* storage or OS failure */
    HD_ENOTFOUND = -4,
    HD_ECONFLICT = -5, /* stale version, duplicate name */
    HD_ETOOBIG = -6,   /* over a size limit */
    HD_EBUSY = -7,     /* backlog full, retry later */
    HD_EAUTH = -8,
    HD_ENET = -9, /* network / remote failure */
    HD_ESHUTDOWN = -10
};

struct hd_err {
    int code;
    char msg[256];
};

/* Fills err (if not NULL) with code and a formatted message; returns code. */
int hd_err_set(struct hd_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with a context, e.g. "options: ". */
void hd_err_prefix(struct hd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *hd_strerror(int code);

#endif
