/* cidr.c - address blocks: parse, match, format (see cidr.h for the
 * 16-byte form every address and block is kept in). */
#include "core/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* ::ffff:0:0/96, the IPv4-mapped addresses. */
static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int is_mapped(const uint8_t a[16])
{
    return memcmp(a, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

/* An IPv4 block: inside the mapped range and no wider than it. */
static int block_is_v4(const struct hd_cidr *c)
{
    return c->bits >= 96 && is_mapped(c->addr);
}

/* 1 if the first bits bits of a and b are equal. */
static int prefix_equal(const uint8_t a[16], const uint8_t b[16], unsigned bits)
{
    size_t whole = bits / 8;
    unsigned rest = bits % 8;
    if (memcmp(a, b, whole) != 0) {
        return 0;
    }
    if (rest == 0) {
        return 1;
    }
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* Clears the bits after the first bits bits of a. */
static void clear_host_bits(uint8_t a[16], unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = bits > i * 8 ? bits - i * 8 : 0;
        if (keep < 8) {
            a[i] &= (uint8_t)(0xff << (8 - keep));
        }
    }
}

/* "/n": 1 to 3 decimal digits, at most max. */
static int parse_prefix(const char *p, unsigned max, unsigned *out)
{
    unsigned v = 0;
    size_t n = 0;
    for (; p[n] != '\0'; n++) {
        if (p[n] < '0' || p[n] > '9' || n >= 3) {
            return HD_EINVAL;
        }
        v = v * 10 + (unsigned)(p[n] - '0');
    }
    if (n == 0 || v > max) {
        return HD_EINVAL;
    }
    *out = v;
    return HD_OK;
}

int hd_cidr_parse(const char *s, struct hd_cidr *out, struct hd_err *err)
{
    char host[HD_CIDR_TEXT_MAX];
    const char *slash = strchr(s, '/');
    size_t hl = slash != NULL ? (size_t)(slash - s) : strlen(s);
    struct hd_cidr c;
    memset(&c, 0, sizeof(c));
    if (hl == 0 || hl >= sizeof(host)) {
        return hd_err_set(err, HD_EINVAL,
                          "'%.80s': expected an address or a block like 10.0.0.0/8 or fd00::/8", s);
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    unsigned base = 0; /* where the written prefix starts in the 16-byte form */
    unsigned max = 128;
    if (inet_pton(AF_INET, host, c.addr + 12) == 1) {
        memcpy(c.addr, v4_mapped_prefix, sizeof(v4_mapped_prefix));
        base = 96;
        max = 32;
    } else if (inet_pton(AF_INET6, host, c.addr) != 1) {
        return hd_err_set(err, HD_EINVAL,
                          "'%.80s': expected an address or a block like 10.0.0.0/8 or fd00::/8", s);
    }
    unsigned prefix = max;
    if (slash != NULL && parse_prefix(slash + 1, max, &prefix) != HD_OK) {
        return hd_err_set(err, HD_EINVAL, "'%.80s': the prefix length must be a number from 0 to %u", s, max);
    }
    c.bits = (uint8_t)(base + prefix);
    struct hd_cidr net = c;
    clear_host_bits(net.addr, net.bits);
    if (memcmp(net.addr, c.addr, sizeof(c.addr)) != 0) {
        char want[HD_CIDR_TEXT_MAX];
        hd_cidr_format(&net, want, sizeof(want));
        return hd_err_set(err, HD_EINVAL, "'%.80s': host bits set (the block is %s)", s, want);
    }
    *out = c;
    return HD_OK;
}

int hd_cidr_list_add(struct hd_cidr_list *l, const char *s, struct hd_err *err)
{
    struct hd_cidr c;
    int rc = hd_cidr_parse(s, &c, err);
    if (rc != HD_OK) {
        return rc;
    }
    if (l->n >= HD_CIDR_LIST_MAX) {
        return hd_err_set(err, HD_ETOOBIG, "at most %d blocks", HD_CIDR_LIST_MAX);
    }
    l->v[l->n++] = c;
    return HD_OK;
}

const struct hd_cidr *hd_cidr_list_find(const struct hd_cidr_list *l, int af, const void *addr)
{
    uint8_t a[16];
    if (af == AF_INET) {
        memcpy(a, v4_mapped_prefix, sizeof(v4_mapped_prefix));
        memcpy(a + 12, addr, 4);
    } else if (af == AF_INET6) {
        memcpy(a, addr, 16);
    } else {
        return NULL;
    }
    int v4 = is_mapped(a);
    for (size_t i = 0; i < l->n; i++) {
        const struct hd_cidr *c = &l->v[i];
        if (block_is_v4(c) == v4 && prefix_equal(c->addr, a, c->bits)) {
            return c;
        }
    }
    return NULL;
}

void hd_cidr_format(const struct hd_cidr *c, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned bits = c->bits;
    if (block_is_v4(c)) {
        inet_ntop(AF_INET, c->addr + 12, ip, sizeof(ip));
        bits -= 96;
    } else {
        inet_ntop(AF_INET6, c->addr, ip, sizeof(ip));
    }
    snprintf(out, cap, "%s/%u", ip, bits);
}
