/* config_tls.c - the client certificate settings of tls: (SPEC section 3):
 * clientIdentities (certificate subject -> scope) and the rules between
 * certFile, keyFile, clientCaFile and clientIdentities. The YAML walk that
 * feeds it is in config_yaml.c (load_identities).
 *
 * DESIGN: subjects are kept in the canonical form of core/dn.h, computed once
 * here; the API compares a certificate's canonical subject with them by
 * strcmp. A subject listed twice is an error (two scopes for one name would
 * make the order of the list matter).
 */
#include "core/config.h"
#include "core/config_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/dn.h"
#include "core/util.h"

void cfg_identities_free(struct hd_client_identity *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ids[i].subject);
    }
    free(ids);
}

/* Appends an already canonical subject. */
static int append(struct hd_client_identity **ids, size_t *n, const char *subject, enum hd_scope scope)
{
    struct hd_client_identity *grown = realloc(*ids, (*n + 1) * sizeof(*grown));
    if (grown == NULL) {
        return HD_ENOMEM;
    }
    *ids = grown;
    grown[*n].subject = hd_strdup(subject);
    grown[*n].scope = scope;
    if (grown[*n].subject == NULL) {
        return HD_ENOMEM;
    }
    (*n)++;
    return HD_OK;
}

int cfg_identity_add(struct hd_client_identity **ids, size_t *n, const char *subject, const char *scope,
                     struct hd_err *err)
{
    enum hd_scope sc = HD_SCOPE_READ;
    struct hd_err derr = {0};
    struct hd_buf canon;
    int rc = HD_OK;
    hd_buf_init(&canon, 0);
    if (subject == NULL) {
        rc = hd_err_set(err, HD_EINVAL, "subject: required, the certificate's subject DN such as CN=falco");
        goto out;
    }
    /* No default scope: a certificate is not given admin by omission. */
    if (scope == NULL || cfg_scope_parse(scope, &sc) != HD_OK) {
        rc = hd_err_set(err, HD_EINVAL, "scope: required, one of admin, ingest, read");
        goto out;
    }
    rc = hd_dn_canonical(subject, strlen(subject), &canon, &derr);
    if (rc != HD_OK) {
        rc = hd_err_set(err, HD_EINVAL, "subject: '%.80s' is not a distinguished name (RFC 4514): %s",
                        subject, derr.msg);
        goto out;
    }
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*ids)[i].subject, canon.p) == 0) {
            rc = hd_err_set(err, HD_EINVAL, "subject: '%.80s' is listed twice (also entry %zu)", canon.p, i);
            goto out;
        }
    }
    rc = append(ids, n, canon.p, sc);
    if (rc != HD_OK) {
        hd_err_set(err, rc, "out of memory");
    }
out:
    hd_buf_free(&canon);
    return rc;
}

int cfg_identities_copy(struct hd_config *dst, const struct hd_config *src)
{
    dst->client_identities = NULL;
    dst->n_client_identities = 0;
    for (size_t i = 0; i < src->n_client_identities; i++) {
        int rc = append(&dst->client_identities, &dst->n_client_identities, src->client_identities[i].subject,
                        src->client_identities[i].scope);
        if (rc != HD_OK) {
            return rc;
        }
    }
    return HD_OK;
}

int cfg_tls_validate(const struct hd_config *c, struct hd_err *err)
{
    if (c->tls_client_ca_file != NULL && (c->tls_cert_file == NULL || c->tls_key_file == NULL)) {
        return hd_err_set(err, HD_EINVAL,
                          "clientCaFile needs certFile and keyFile (client certificates are asked for over "
                          "HTTPS)");
    }
    if (c->n_client_identities > 0 && c->tls_client_ca_file == NULL) {
        return hd_err_set(
            err, HD_EINVAL,
            "clientIdentities need clientCaFile (the CA whose client certificates are accepted)");
    }
    return HD_OK;
}
