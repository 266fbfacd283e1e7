/* http_request.c - the request and response values that channels fill and
 * the HTTP client sends: building them, and freeing what they own (secrets
 * wiped first). No curl here: see http_client.c for sending them. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/util.h"
#include "net/http_client.h"
#include "net/http_int.h"

void hd_request_init(struct hd_request *r)
{
    memset(r, 0, sizeof(*r));
    hd_buf_init(&r->body, 0);
}

/* Secrets are overwritten before free: a core dump or a reused block must
 * not show them. volatile keeps the compiler from dropping the stores. */
static void free_secret(char *s)
{
    if (s == NULL) {
        return;
    }
    for (volatile char *v = s; *v != '\0'; v++) {
        *v = '\0';
    }
    free(s);
}

void hd_request_clear(struct hd_request *r)
{
    free(r->url);
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i]);
    }
    hd_buf_free(&r->body);
    free(r->aws_sigv4);
    free(r->username);
    free_secret(r->password);
    free(r->mail_from);
    for (size_t i = 0; i < r->n_rcpt; i++) {
        free(r->mail_rcpt[i]);
    }
    free(r->mail_rcpt);
    /* The chain iteratively: each link is cleared with its then detached. */
    struct hd_request *t = r->then;
    while (t != NULL) {
        struct hd_request *next = t->then;
        t->then = NULL;
        hd_request_clear(t);
        free(t);
        t = next;
    }
    hd_request_init(r);
}

int hd_request_add_rcpt(struct hd_request *r, const char *addr)
{
    if (addr == NULL || addr[0] == '\0' || strpbrk(addr, "\r\n") != NULL) {
        return HD_EINVAL;
    }
    char **n = realloc(r->mail_rcpt, (r->n_rcpt + 1) * sizeof(*n));
    if (n == NULL) {
        return HD_ENOMEM;
    }
    r->mail_rcpt = n;
    n[r->n_rcpt] = hd_strdup(addr);
    if (n[r->n_rcpt] == NULL) {
        return HD_ENOMEM;
    }
    r->n_rcpt++;
    return HD_OK;
}

/* Refuses CR/LF anywhere (header injection) and a name that is not a token. */
int hd_request_add_header(struct hd_request *r, const char *name, const char *value)
{
    if (name == NULL || name[0] == '\0' || value == NULL) {
        return HD_EINVAL;
    }
    for (const char *p = name; *p != '\0'; p++) {
        if (*p <= ' ' || *p == ':' || *p == 0x7f) {
            return HD_EINVAL;
        }
    }
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\r' || *p == '\n') {
            return HD_EINVAL;
        }
    }
    if (r->n_headers >= HD_REQ_MAX_HEADERS) {
        return HD_ETOOBIG;
    }
    size_t nl = strlen(name);
    size_t vl = strlen(value);
    char *line = malloc(nl + vl + 3);
    if (line == NULL) {
        return HD_ENOMEM;
    }
    memcpy(line, name, nl);
    line[nl] = ':';
    line[nl + 1] = ' ';
    memcpy(line + nl + 2, value, vl + 1);
    r->headers[r->n_headers++] = line;
    return HD_OK;
}

void hd_response_init(struct hd_response *r)
{
    memset(r, 0, sizeof(*r));
    hd_buf_init(&r->body, HD_RESP_MAX_BODY);
    r->retry_after_ms = -1;
}

void hd_response_clear(struct hd_response *r)
{
    hd_buf_free(&r->body);
    hd_response_init(r);
}
