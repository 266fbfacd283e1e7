/* dn.h - X.509 distinguished names as strings (RFC 4514), compared in one
 * canonical form.
 *
 * A client certificate's subject (read by the HTTP server) and the subjects of
 * tls.clientIdentities (written by a person) meet here: both are parsed and
 * written back the same way, so "cn=falco, o=Acme" in the file matches the
 * certificate GnuTLS prints as "CN=falco,O=Acme", and "O=Acme\2C Inc." matches
 * "O=Acme\, Inc.".
 */
#ifndef HD_DN_H
#define HD_DN_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* The longest canonical subject kept (a certificate's is usually < 200). */
#define HD_DN_MAX 1024

/* Appends the canonical form of the RFC 4514 string dn[0..len) to out:
 * attribute types upper-cased (EMAILADDRESS and E become EMAIL, as GnuTLS
 * names it; a dotted OID stays as written), unescaped spaces around types,
 * values, ',' '+' and '=' dropped, escapes decoded (\, and \2C alike) and
 * written back one way: \ before , + " \ < > ; and before a value's leading
 * '#' or space or trailing space, \XX for control bytes; UTF-8 as is. RDNs
 * and the AVAs of a multi-valued RDN keep their order. A '#'-hex value is
 * kept as written (upper-cased).
 * HD_EINVAL (err names the character position and the rule) when dn is no
 * DN or is empty; HD_ETOOBIG past HD_DN_MAX; out is unchanged on failure. */
int hd_dn_canonical(const char *dn, size_t len, struct hd_buf *out, struct hd_err *err);

#endif
