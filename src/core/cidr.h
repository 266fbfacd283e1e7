/* cidr.h - address blocks (CIDR) and the fixed lists of them that
 * security.denyDestinations holds.
 *
 * DESIGN: every address and block is kept in one 16-byte form: IPv6 as is,
 * IPv4 as its IPv4-mapped IPv6 address ::ffff:a.b.c.d (RFC 4291 2.5.5.2),
 * an IPv4 /n block as the /(96+n) block around it. So a peer reached as
 * ::ffff:169.254.169.254 (an AF_INET6 socket connecting to IPv4, which Linux
 * allows) falls in 169.254.0.0/16 exactly like 169.254.169.254 does. A block
 * matches only addresses of its own family: "::/0" covers every IPv6
 * address but no IPv4 one, and "::ffff:0:0/96" is read as 0.0.0.0/0.
 *
 * A list has a fixed capacity (HD_CIDR_LIST_MAX) and no heap memory: it is
 * copied by assignment (configuration copies, the snapshot the HTTP client
 * keeps) and never freed.
 */
#ifndef HD_CIDR_H
#define HD_CIDR_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define HD_CIDR_LIST_MAX 128
#define HD_CIDR_TEXT_MAX 64 /* "ffff:...:ffff/128" fits, with room for the NUL */

struct hd_cidr {
    uint8_t addr[16]; /* network address, host bits zero, 16-byte form */
    uint8_t bits;     /* prefix length over the 16-byte form: IPv4 /n is 96 + n */
};

struct hd_cidr_list {
    size_t n;
    struct hd_cidr v[HD_CIDR_LIST_MAX];
};

/* Parses "10.0.0.0/8", "fd00:ec2::254/128" or a single address ("10.1.2.3"
 * is 10.1.2.3/32, "::1" is ::1/128). Only the standard text forms are read
 * (inet_pton: dotted decimal, no hex, octal or shortened IPv4; no IPv6 zone);
 * a block with host bits set is refused, naming the block it would be. On
 * error err->msg says why ("'10.0.0.1/8': host bits set (the block is
 * 10.0.0.0/8)") and *out is unchanged. */
int hd_cidr_parse(const char *s, struct hd_cidr *out, struct hd_err *err);

/* Appends the block s to l (hd_cidr_parse's errors, or HD_ETOOBIG when l is
 * full). l is unchanged on error. */
int hd_cidr_list_add(struct hd_cidr_list *l, const char *s, struct hd_err *err);

/* The first block of l holding the address addr of family af (AF_INET: 4
 * bytes, AF_INET6: 16 bytes, an IPv4-mapped one counting as IPv4); NULL when
 * none does or af is neither. */
const struct hd_cidr *hd_cidr_list_find(const struct hd_cidr_list *l, int af, const void *addr);

/* The block as text: "169.254.0.0/16", "fe80::/10". out holds
 * HD_CIDR_TEXT_MAX bytes at most. */
void hd_cidr_format(const struct hd_cidr *c, char *out, size_t cap);

#endif
