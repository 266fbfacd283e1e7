/* event.c - the normalized event: lifetime, batches, JSON form, and the small
 * parsers every decoder shares (k8s container names, RFC 3339 times). */
#include "model/event.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/slab.h"
#include "core/util.h"

const char *hd_state_name(enum hd_state s)
{
    switch (s) {
    case HD_STATE_ACTIVE: return "ACTIVE";
    case HD_STATE_OK: return "OK";
    case HD_STATE_RESOLVED: return "RESOLVED";
    }
    return "ACTIVE";
}

int hd_state_parse(const char *s, enum hd_state *out)
{
    if (s == NULL) {
        return HD_EINVAL;
    }
    /* case-insensitive: query strings (?state=ok) and payloads disagree on case */
    if (strcasecmp(s, "ACTIVE") == 0) {
        *out = HD_STATE_ACTIVE;
    } else if (strcasecmp(s, "OK") == 0) {
        *out = HD_STATE_OK;
    } else if (strcasecmp(s, "RESOLVED") == 0) {
        *out = HD_STATE_RESOLVED;
    } else {
        return HD_EINVAL;
    }
    return HD_OK;
}

void hd_event_strs(struct hd_event *ev, char **out[HD_EVENT_NSTR])
{
    char **str[HD_EVENT_NSTR] = {&ev->name,         &ev->description,   &ev->url,     &ev->host,
                                 &ev->container_id, &ev->k8s_namespace, &ev->k8s_pod, &ev->k8s_container,
                                 &ev->k8s_kind,     &ev->k8s_name,      &ev->labels,  &ev->alert_key};
    memcpy(out, str, sizeof(str));
}

void hd_event_clear(struct hd_event *ev)
{
    if (ev == NULL) {
        return;
    }
    if (ev->block != NULL) {
        if (!ev->block_borrowed) {
            free(ev->block);
        }
        memset(ev, 0, sizeof(*ev));
        return;
    }
    char **str[HD_EVENT_NSTR];
    hd_event_strs(ev, str);
    for (size_t i = 0; i < HD_EVENT_NSTR; i++) {
        free(*str[i]);
    }
    if (!ev->raw_borrowed) {
        free(ev->raw);
    }
    memset(ev, 0, sizeof(*ev));
}

int hd_event_block(struct hd_event *ev, const char *const txt[HD_EVENT_NSTR], const size_t len[HD_EVENT_NSTR],
                   int64_t raw_size, struct hd_slab *slab)
{
    size_t total = raw_size >= 0 ? (size_t)raw_size + 1 : 0;
    for (size_t i = 0; i < HD_EVENT_NSTR; i++) {
        total += txt[i] != NULL ? len[i] + 1 : 0;
    }
    if (total == 0) {
        return HD_OK;
    }
    char *blk = slab != NULL ? hd_slab_alloc(slab, total) : malloc(total);
    if (blk == NULL) {
        return HD_ENOMEM;
    }
    char *w = blk;
    if (raw_size >= 0) {
        ev->raw = w;
        ev->raw_len = (size_t)raw_size;
        ev->raw_borrowed = 0;
        w += raw_size + 1;
    }
    char **str[HD_EVENT_NSTR];
    hd_event_strs(ev, str);
    for (size_t i = 0; i < HD_EVENT_NSTR; i++) {
        *str[i] = NULL;
        if (txt[i] != NULL) {
            memcpy(w, txt[i], len[i]);
            w[len[i]] = '\0';
            *str[i] = w;
            w += len[i] + 1;
        }
    }
    ev->block = blk;
    ev->block_borrowed = slab != NULL;
    ev->block_strs = (size_t)(w - blk) - (raw_size >= 0 ? (size_t)raw_size + 1 : 0);
    return HD_OK;
}

size_t hd_event_bytes(const struct hd_event *ev)
{
    if (ev->block != NULL) { /* read-only: its strings' size is known (the dispatcher asks per event) */
        return sizeof(*ev) + ev->raw_len + ev->block_strs;
    }
    char **str[HD_EVENT_NSTR];
    hd_event_strs((struct hd_event *)ev, str);
    size_t n = sizeof(*ev) + ev->raw_len;
    for (size_t i = 0; i < HD_EVENT_NSTR; i++) {
        n += *str[i] != NULL ? strlen(*str[i]) + 1 : 0;
    }
    return n;
}

int hd_event_pack(struct hd_event *ev)
{
    if (ev->block != NULL) {
        return HD_OK;
    }
    char **str[HD_EVENT_NSTR];
    char *old[HD_EVENT_NSTR];
    size_t len[HD_EVENT_NSTR];
    hd_event_strs(ev, str);
    for (size_t i = 0; i < HD_EVENT_NSTR; i++) {
        old[i] = *str[i];
        len[i] = old[i] != NULL ? strlen(old[i]) : 0;
    }
    char *raw = ev->raw != NULL && !ev->raw_borrowed ? ev->raw : NULL;
    size_t raw_len = ev->raw_len;
    int rc = hd_event_block(ev, (const char *const *)old, len, raw != NULL ? (int64_t)raw_len : -1, NULL);
    if (rc != HD_OK) {
        return rc;
    }
    if (raw != NULL) {
        memcpy(ev->raw, raw, raw_len);
        ev->raw[raw_len] = '\0';
        free(raw);
    }
    for (size_t i = 0; i < HD_EVENT_NSTR; i++) {
        free(old[i]);
    }
    return HD_OK;
}

void hd_events_free(struct hd_event *evs, size_t n)
{
    if (evs == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        hd_event_clear(&evs[i]);
    }
    free(evs);
}

void hd_batch_init(struct hd_batch *b)
{
    memset(b, 0, sizeof(*b));
}

int hd_batch_reserve(struct hd_batch *b, size_t n)
{
    if (n <= b->cap) {
        return HD_OK;
    }
    struct hd_event *nev = realloc(b->ev, n * sizeof(*nev));
    if (nev == NULL) {
        return HD_ENOMEM;
    }
    b->ev = nev;
    b->cap = n;
    return HD_OK;
}

struct hd_event *hd_batch_push(struct hd_batch *b)
{
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 16;
        struct hd_event *nev = realloc(b->ev, ncap * sizeof(*nev));
        if (nev == NULL) {
            return NULL;
        }
        b->ev = nev;
        b->cap = ncap;
    }
    struct hd_event *ev = &b->ev[b->n++];
    memset(ev, 0, sizeof(*ev));
    return ev;
}

void hd_batch_free(struct hd_batch *b)
{
    if (b == NULL) {
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        hd_event_clear(&b->ev[i]);
    }
    free(b->ev);
    hd_batch_init(b);
}

/* Sets *dst to a copy of [p, p+n) unless it is already set. */
static int set_once(char **dst, const char *p, size_t n)
{
    if (*dst != NULL) {
        return HD_OK;
    }
    *dst = hd_strndup(p, n);
    return *dst == NULL ? HD_ENOMEM : HD_OK;
}

int hd_event_k8s_from_container_name(struct hd_event *ev, const char *name)
{
    if (name == NULL) {
        return 0;
    }
    if (name[0] == '/') {
        name++;
    }
    if (strncmp(name, "k8s_", 4) != 0) {
        return 0;
    }
    /* container, pod, namespace, uid, attempt: kubelet's dockershim naming.
     * None of the DNS-1123 names can hold '_', so exactly five parts. */
    const char *part[5];
    size_t plen[5];
    const char *p = name + 4;
    for (int k = 0; k < 5; k++) {
        const char *us = strchr(p, '_');
        if ((k < 4) != (us != NULL)) {
            return 0;
        }
        part[k] = p;
        plen[k] = us ? (size_t)(us - p) : strlen(p);
        if (plen[k] == 0) {
            return 0;
        }
        p = us ? us + 1 : p + plen[k];
    }
    for (size_t i = 0; i < plen[4]; i++) {
        if (part[4][i] < '0' || part[4][i] > '9') {
            return 0;
        }
    }
    if (set_once(&ev->k8s_container, part[0], plen[0]) != HD_OK ||
        set_once(&ev->k8s_pod, part[1], plen[1]) != HD_OK ||
        set_once(&ev->k8s_namespace, part[2], plen[2]) != HD_OK) {
        return HD_ENOMEM;
    }
    return 1;
}

/* Reads exactly n digits at *p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return 0;
        }
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int hd_parse_rfc3339_us(const char *s, int64_t *out)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec;
    const char *p = s;
    if (s == NULL || !digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d)) {
        return HD_EINVAL;
    }
    if (*p != 'T' && *p != 't' && *p != ' ') {
        return HD_EINVAL;
    }
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &sec)) {
        return HD_EINVAL;
    }
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
        sec > 60) {
        return HD_EINVAL;
    }
    if (sec == 60) {
        sec = 59; /* a leap second: keep it inside its minute */
    }
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 6) {
                frac = frac * 10 + (*p - '0');
            }
            nd++;
            p++;
        }
        if (nd == 0) {
            return HD_EINVAL;
        }
        for (; nd < 6; nd++) {
            frac *= 10;
        }
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int oh, om;
        p++;
        if (!digits(&p, 2, &oh)) {
            return HD_EINVAL;
        }
        if (*p == ':') {
            p++;
        }
        if (!digits(&p, 2, &om) || oh > 23 || om > 59) {
            return HD_EINVAL;
        }
        off_s = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        return HD_EINVAL;
    }
    if (*p != '\0') {
        return HD_EINVAL;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off_s;
    *out = secs * 1000000 + frac;
    return HD_OK;
}

/* A field of the event JSON: its key and its text (NULL: left out). */
struct key_val {
    const char *key;
    const char *val;
};

static int put_str_field(struct hd_buf *out, const char *key, const char *val)
{
    if (val == NULL) {
        return HD_OK;
    }
    int rc = hd_buf_puts(out, ",\"");
    if (rc == HD_OK) {
        rc = hd_buf_puts(out, key);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(out, "\":");
    }
    if (rc == HD_OK) {
        rc = hd_buf_json_str(out, val, strlen(val));
    }
    return rc;
}

/* ,"key":v - the numbers of the normalized object, without printf (it is
 * rendered for every event an ELASTICSEARCH or SPLUNK channel sends). */
static int put_int_field(struct hd_buf *out, const char *key, int64_t v)
{
    int rc = hd_buf_puts(out, ",\"");
    if (rc == HD_OK) {
        rc = hd_buf_puts(out, key);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(out, "\":");
    }
    return rc == HD_OK ? hd_buf_put_i64(out, v) : rc;
}

int hd_event_to_json(const struct hd_event *ev, int with_raw, struct hd_buf *out)
{
    size_t start = out->len;
    int rc = hd_buf_putc(out, '{');
    if (rc == HD_OK) {
        rc = hd_buf_json_str(out, "id", 2);
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(out, ":\"");
    }
    if (rc == HD_OK) {
        rc = hd_buf_puts(out, ev->id);
    }
    if (rc == HD_OK) {
        rc = hd_buf_putc(out, '"');
    }
    if (rc == HD_OK) {
        rc = put_int_field(out, "seq", ev->seq);
    }
    if (rc == HD_OK) {
        rc = put_str_field(out, "source", ev->source);
    }
    if (rc == HD_OK) {
        rc = put_int_field(out, "timestampUs", ev->ts_us);
    }
    if (rc == HD_OK) {
        rc = put_int_field(out, "receivedUs", ev->recv_us);
    }
    if (rc == HD_OK) {
        rc = put_int_field(out, "severity", ev->severity);
    }
    if (rc == HD_OK) {
        rc = put_str_field(out, "state", hd_state_name(ev->state));
    }
    const struct key_val top[] = {{"name", ev->name},
                                  {"description", ev->description},
                                  {"url", ev->url},
                                  {"host", ev->host},
                                  {"containerId", ev->container_id}};
    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]) && rc == HD_OK; i++) {
        rc = put_str_field(out, top[i].key, top[i].val);
    }
    const struct key_val k8s[] = {{"namespace", ev->k8s_namespace},
                                  {"pod", ev->k8s_pod},
                                  {"container", ev->k8s_container},
                                  {"kind", ev->k8s_kind},
                                  {"name", ev->k8s_name}};
    int opened = 0;
    for (size_t i = 0; i < sizeof(k8s) / sizeof(k8s[0]) && rc == HD_OK; i++) {
        if (k8s[i].val == NULL) {
            continue;
        }
        rc = hd_buf_puts(out, opened ? "," : ",\"k8s\":{");
        opened = 1;
        if (rc == HD_OK) {
            rc = hd_buf_putc(out, '"');
        }
        if (rc == HD_OK) {
            rc = hd_buf_puts(out, k8s[i].key);
        }
        if (rc == HD_OK) {
            rc = hd_buf_puts(out, "\":");
        }
        if (rc == HD_OK) {
            rc = hd_buf_json_str(out, k8s[i].val, strlen(k8s[i].val));
        }
    }
    if (rc == HD_OK && opened) {
        rc = hd_buf_putc(out, '}');
    }
    /* labels and raw are JSON text already (validated at ingest): verbatim */
    if (rc == HD_OK && ev->labels != NULL) {
        rc = hd_buf_puts(out, ",\"labels\":");
        if (rc == HD_OK) {
            rc = hd_buf_puts(out, ev->labels);
        }
    }
    if (rc == HD_OK) {
        rc = put_str_field(out, "alertKey", ev->alert_key);
    }
    if (rc == HD_OK && with_raw && ev->raw != NULL) {
        rc = hd_buf_puts(out, ",\"raw\":");
        if (rc == HD_OK) {
            rc = hd_buf_append(out, ev->raw, ev->raw_len);
        }
    }
    if (rc == HD_OK) {
        rc = hd_buf_putc(out, '}');
    }
    if (rc != HD_OK) {
        out->len = start; /* leave out as it was */
        if (out->p != NULL) {
            out->p[start] = '\0';
        }
    }
    return rc;
}
