/* tls_peer.c - client certificates over GnuTLS (libmicrohttpd's TLS).
 *
 * DESIGN: libmicrohttpd, given the CA bundle (MHD_OPTION_HTTPS_MEM_TRUST),
 * asks every client for a certificate during the handshake but does not
 * require one (GNUTLS_CERT_REQUEST) and does not judge it: the handshake only
 * proves the client holds the certificate's key. The chain, the dates and the
 * key usage are checked here, with gnutls_certificate_verify_peers against the
 * same trusted CAs, when the API first asks who the client is. A certificate
 * that does not verify is no identity at all (the caller falls back to the
 * bearer token), never an error of the connection: /healthz and token
 * clients keep working whatever certificate they present.
 */
#include "net/tls_peer.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdint.h>
#include <string.h>

#include "core/dn.h"

/* The first matching bit says why (the most telling first). */
static const char *status_reason(unsigned int status)
{
    static const struct {
        unsigned int bit;
        const char *why;
    } reasons[] = {
        {GNUTLS_CERT_SIGNER_NOT_FOUND, "not issued by a CA of tls.clientCaFile"},
        {GNUTLS_CERT_SIGNER_NOT_CA, "its issuer is not a CA"},
        {GNUTLS_CERT_EXPIRED, "expired"},
        {GNUTLS_CERT_NOT_ACTIVATED, "not valid yet"},
        {GNUTLS_CERT_REVOKED, "revoked"},
        {GNUTLS_CERT_PURPOSE_MISMATCH, "its extended key usage does not allow client authentication"},
        {GNUTLS_CERT_INSECURE_ALGORITHM, "signed with an insecure algorithm"},
        {GNUTLS_CERT_SIGNATURE_FAILURE, "its signature does not verify"},
    };
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (status & reasons[i].bit) {
            return reasons[i].why;
        }
    }
    return "it does not verify";
}

/* The canonical subject DN of the DER certificate der. */
static int subject_of(const gnutls_datum_t *der, struct hd_buf *subject)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t dn = {NULL, 0};
    int rc = HD_EINVAL;
    if (gnutls_x509_crt_init(&crt) < 0) {
        return HD_ENOMEM;
    }
    /* get_dn3 with no flags: RFC 4514, most specific RDN first ("CN=falco,O=Acme"). */
    if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) >= 0 &&
        gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
        rc = hd_dn_canonical((const char *)dn.data, dn.size, subject, NULL);
    }
    gnutls_free(dn.data);
    gnutls_x509_crt_deinit(crt);
    return rc;
}

enum hd_http_peer hd_tls_peer_verify(void *session, struct hd_buf *subject, const char **why)
{
    gnutls_session_t s = session;
    unsigned int n = 0;
    const gnutls_datum_t *chain = gnutls_certificate_get_peers(s, &n);
    if (chain == NULL || n == 0 || gnutls_certificate_type_get(s) != GNUTLS_CRT_X509) {
        return HD_PEER_NONE;
    }
    gnutls_typed_vdata_st purpose = {
        .type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, .size = 0};
    unsigned int status = 0;
    if (gnutls_certificate_verify_peers(s, &purpose, 1, &status) < 0) {
        *why = "it could not be verified";
        return HD_PEER_UNTRUSTED;
    }
    if (status != 0) {
        *why = status_reason(status);
        return HD_PEER_UNTRUSTED;
    }
    if (subject_of(&chain[0], subject) != HD_OK) {
        *why = "its subject cannot be read";
        return HD_PEER_UNTRUSTED;
    }
    return HD_PEER_VERIFIED;
}

int hd_tls_check_ca(const char *pem, size_t len, const char *what, const char *path, struct hd_err *err)
{
    gnutls_x509_crt_t *list = NULL;
    unsigned int n = 0;
    gnutls_datum_t d = {(unsigned char *)(uintptr_t)pem, (unsigned int)len};
    int rc = gnutls_x509_crt_list_import2(&list, &n, &d, GNUTLS_X509_FMT_PEM, 0);
    for (unsigned int i = 0; rc >= 0 && i < n; i++) {
        gnutls_x509_crt_deinit(list[i]);
    }
    gnutls_free(list);
    if (rc < 0 || n == 0) {
        return hd_err_set(err, HD_EINVAL, "%s: %s holds no X.509 certificate in PEM form (%s)", what, path,
                          rc < 0 ? gnutls_strerror(rc) : "none found");
    }
    return HD_OK;
}
