/* config_int.h - private to config.c and config_yaml.c. */
#ifndef HD_CONFIG_INT_H
#define HD_CONFIG_INT_H

#include <stddef.h>

#include "core/config.h"

#define CFG(member) offsetof(struct hd_config, member)

extern const char *const cfg_log_levels[]; /* "debug", ..., NULL */

/* The char * member at byte offset off of c. */
char **cfg_str_at(struct hd_config *c, size_t off);
/* "admin" -> HD_SCOPE_ADMIN; HD_EINVAL if s is no scope. */
int cfg_scope_parse(const char *s, enum hd_scope *out);
/* Zeroes a secret string, then frees it; NULL ok. */
void cfg_wipe_free(char *s);
void cfg_tokens_free(struct hd_token *t, size_t n);
/* tls.clientIdentities and the tls rules (config_tls.c). */
void cfg_identities_free(struct hd_client_identity *ids, size_t n);
/* Appends {subject, scope} to *ids (subject in canonical form). HD_EINVAL
 * with err naming the key ("subject: ...") when subject or scope is missing,
 * subject is no DN or is listed already; scope is a name of hd_scope_name. */
int cfg_identity_add(struct hd_client_identity **ids, size_t *n, const char *subject, const char *scope,
                     struct hd_err *err);
/* Deep copy of src's identities into dst (dst's are not freed first). */
int cfg_identities_copy(struct hd_config *dst, const struct hd_config *src);
/* The rules spanning several tls keys; err reads "clientCaFile needs ...". */
int cfg_tls_validate(const struct hd_config *c, struct hd_err *err);
/* Deep copy of src into dst (dst's previous content is not freed); on
 * failure dst is freed and left empty. */
int cfg_copy(struct hd_config *dst, const struct hd_config *src);

#endif
