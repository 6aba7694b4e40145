#include "auth.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define AUTH_PREFIX "cst_"
#define AUTH_HASH_LEN 32

static const store_migration auth_migrations[] = {
    {1, "CREATE TABLE api_keys("
        " id INTEGER PRIMARY KEY,"
        " org TEXT NOT NULL,"
        " role TEXT NOT NULL,"
        " name TEXT NOT NULL DEFAULT '',"
        " token_hash BLOB NOT NULL UNIQUE,"
        " created_at TEXT NOT NULL,"
        " revoked_at TEXT)"},
    /* the person or device a key was issued to (cx_principal.subject) */
    {2, "ALTER TABLE api_keys ADD COLUMN subject TEXT NOT NULL DEFAULT ''"},
};

cx_err auth_migrate(store *s, char *err, size_t errlen)
{
    return store_migrate(s, "auth", auth_migrations,
                         sizeof auth_migrations / sizeof auth_migrations[0], err, errlen);
}

static void auth__hash(const char *token, uint8_t out[AUTH_HASH_LEN])
{
    crypto_generichash(out, AUTH_HASH_LEN, (const unsigned char *)token, strlen(token), NULL, 0);
}

static bool auth__token_shape(const char *t)
{
    if (strlen(t) != AUTH_TOKEN_LEN || strncmp(t, AUTH_PREFIX, 4) != 0)
        return false;
    for (const char *p = t + 4; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

static bool auth__name_valid(const char *name)
{
    size_t chars;
    size_t n = strlen(name);
    if (!cx_utf8_count(name, n, &chars) || chars > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20)
            return false;
    return true;
}

typedef struct {
    const char *org, *role, *name, *subject;
    uint8_t hash[AUTH_HASH_LEN];
    int64_t id;
} create_job;

static cx_err auth__insert(store_conn *w, void *arg)
{
    create_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO api_keys(org, role, name, token_hash, "
                                     "created_at, subject) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st)
        return CX_EDB;
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    sqlite3_bind_text(st, 1, j->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, j->name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, j->hash, AUTH_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, j->subject, -1, SQLITE_STATIC);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    j->id = sqlite3_last_insert_rowid(store_conn_db(w));
    return CX_OK;
}

cx_err auth_key_create(store *s, const char *org, cx_role role, const char *name,
                       char token[AUTH_TOKEN_LEN + 1], int64_t *id)
{
    return auth_key_create_subject(s, org, role, name, NULL, token, id);
}

cx_err auth_key_create_subject(store *s, const char *org, cx_role role, const char *name,
                               const char *subject, char token[AUTH_TOKEN_LEN + 1], int64_t *id)
{
    if (!subject)
        subject = "";
    if (!cx_org_valid(org) || role <= CX_ROLE_NONE || role >= CX_ROLE__COUNT ||
        !auth__name_valid(name ? name : "") || (subject[0] && !cx_subject_valid(subject)))
        return CX_EINVAL;
    uint8_t raw[32];
    randombytes_buf(raw, sizeof raw);
    memcpy(token, AUTH_PREFIX, 4);
    sodium_bin2base64(token + 4, AUTH_TOKEN_LEN + 1 - 4, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    create_job j = {.org = org, .role = cx_role_name(role), .name = name ? name : "",
                    .subject = subject};
    auth__hash(token, j.hash);
    cx_err e = store_write(s, auth__insert, &j);
    if (e != CX_OK) {
        sodium_memzero(token, AUTH_TOKEN_LEN + 1);
        return e;
    }
    if (id)
        *id = j.id;
    return CX_OK;
}

typedef struct {
    int64_t id;
} revoke_job;

static cx_err auth__revoke(store_conn *w, void *arg)
{
    revoke_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT revoked_at FROM api_keys WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, j->id);
    int rc = sqlite3_step(st);
    bool exists = rc == SQLITE_ROW;
    bool revoked = exists && sqlite3_column_type(st, 0) != SQLITE_NULL;
    sqlite3_reset(st);
    if (!exists)
        return CX_ENOTFOUND;
    if (revoked)
        return CX_ESTATE;
    st = store_stmt(w, "UPDATE api_keys SET revoked_at=?2 WHERE id=?1");
    if (!st)
        return CX_EDB;
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    sqlite3_bind_int64(st, 1, j->id);
    sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

cx_err auth_key_revoke(store *s, int64_t id)
{
    revoke_job j = {id};
    return store_write(s, auth__revoke, &j);
}

cx_err auth_key_list(store *s, void (*fn)(void *ctx, const auth_key_info *k), void *ctx)
{
    store_conn *c = store_reader(s);
    if (!c)
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(
        c, "SELECT id, org, role, name, created_at, revoked_at, subject FROM api_keys "
           "ORDER BY id");
    if (!st)
        return CX_EDB;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        auth_key_info k = {
            .id = sqlite3_column_int64(st, 0),
            .org = (const char *)sqlite3_column_text(st, 1),
            .name = (const char *)sqlite3_column_text(st, 3),
            .created_at = (const char *)sqlite3_column_text(st, 4),
            .revoked_at = (const char *)sqlite3_column_text(st, 5),
            .subject = (const char *)sqlite3_column_text(st, 6),
        };
        if (!cx_role_parse((const char *)sqlite3_column_text(st, 2), &k.role))
            k.role = CX_ROLE_NONE;
        fn(ctx, &k);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static void auth__subject(cx_principal *out, sqlite3_stmt *st, int col)
{
    const char *subject = (const char *)sqlite3_column_text(st, col);
    snprintf(out->subject, sizeof out->subject, "%s", subject ? subject : "");
}

cx_err auth_key_get(store *s, int64_t id, cx_principal *out)
{
    store_conn *c = store_reader(s);
    if (!c)
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(c, "SELECT org, role, subject FROM api_keys "
                                     "WHERE id=?1 AND revoked_at IS NULL");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (rc == SQLITE_ROW &&
        cx_role_parse((const char *)sqlite3_column_text(st, 1), &out->role)) {
        out->key_id = id;
        snprintf(out->org, sizeof out->org, "%s", (const char *)sqlite3_column_text(st, 0));
        auth__subject(out, st, 2);
        e = CX_OK;
    }
    sqlite3_reset(st);
    return e;
}

cx_err auth_lookup(void *store_ctx, const char *token, cx_principal *out)
{
    if (!token || !auth__token_shape(token))
        return CX_EAUTH;
    uint8_t h[AUTH_HASH_LEN];
    auth__hash(token, h);
    store_conn *c = store_reader(store_ctx);
    if (!c)
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(c, "SELECT id, org, role, token_hash, subject FROM api_keys "
                                     "WHERE token_hash=?1 AND revoked_at IS NULL");
    if (!st)
        return CX_EDB;
    sqlite3_bind_blob(st, 1, h, AUTH_HASH_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    cx_err e = CX_EAUTH;
    if (rc == SQLITE_ROW) {
        const void *stored = sqlite3_column_blob(st, 3);
        /* The index found the row; the constant-time compare is what decides. */
        if (stored && sqlite3_column_bytes(st, 3) == AUTH_HASH_LEN &&
            sodium_memcmp(stored, h, AUTH_HASH_LEN) == 0 &&
            cx_role_parse((const char *)sqlite3_column_text(st, 2), &out->role)) {
            out->key_id = sqlite3_column_int64(st, 0);
            snprintf(out->org, sizeof out->org, "%s", (const char *)sqlite3_column_text(st, 1));
            auth__subject(out, st, 4);
            e = CX_OK;
        }
    } else if (rc != SQLITE_DONE) {
        e = CX_EDB;
    }
    sqlite3_reset(st);
    return e;
}
