/*
 * auth.h — the door of the auth module: API keys (bearer tokens) bound to an
 * organisation and a role. Tokens are 256-bit random values shown once;
 * the database keeps only their BLAKE2b-256 hash, compared in constant time.
 * Public names carry the prefix auth_.
 */
#ifndef CUSTOMS_AUTH_H
#define CUSTOMS_AUTH_H

#include "core.h"
#include "store.h"

/* "cst_" + 43 base64url characters (32 random bytes). */
#define AUTH_TOKEN_LEN 47

cx_err auth_migrate(store *s, char *err, size_t errlen);

/* Creates a key; writes the token (NUL-terminated) into token and the new
 * key's id into *id. CX_EINVAL if org or name is not valid. */
cx_err auth_key_create(store *s, const char *org, cx_role role, const char *name,
                       char token[AUTH_TOKEN_LEN + 1], int64_t *id);
/* The same for a key issued to one person or device: subject (NULL or ""
 * = none; else cx_subject_valid) becomes the principal's subject on every
 * request made with it. CX_EINVAL if subject is not valid. */
cx_err auth_key_create_subject(store *s, const char *org, cx_role role, const char *name,
                               const char *subject, char token[AUTH_TOKEN_LEN + 1], int64_t *id);

/* CX_ENOTFOUND if no such key, CX_ESTATE if already revoked. */
cx_err auth_key_revoke(store *s, int64_t id);

typedef struct {
    int64_t id;
    const char *org;
    cx_role role;
    const char *name;       /* may be empty */
    const char *subject;    /* "" when the key names none */
    const char *created_at; /* RFC 3339 */
    const char *revoked_at; /* NULL while valid */
} auth_key_info;

/* Calls fn for every key in id order; strings live only during the call. */
cx_err auth_key_list(store *s, void (*fn)(void *ctx, const auth_key_info *k), void *ctx);

/* Looks a key up by id through this thread's read connection: its id, org,
 * role and subject in out. CX_ENOTFOUND if there is no such key or it is revoked. */
cx_err auth_key_get(store *s, int64_t id, cx_principal *out);

/* Resolves a token through this thread's read connection. CX_EAUTH if the
 * token is malformed, unknown or revoked. Usable as an http_auth_fn with the
 * store as ctx. */
cx_err auth_lookup(void *store_ctx, const char *token, cx_principal *out);

#endif
