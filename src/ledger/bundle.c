/* Privacy: salted per-field commitments, the owner's salt store, disclosure
 * bundles and their offline verification.
 *
 * commitment(name, value) = SHA-256("customs.ledger.field.v1" 0x00 ||
 *   salt (32 random bytes) || name || 0x00 || JCS(value))
 * Without the salt a commitment reveals nothing; with it anyone can check a
 * disclosed value. Deleting the salt (and the value kept beside it) makes
 * the field unrecoverable while the log stays verifiable. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUNDLE_FORMAT "customs-ledger-bundle/v1"

/* Members that change after lodging and so are not committed to. */
static bool b__volatile(const char *ptr)
{
    return strcmp(ptr, "/status") == 0 || strcmp(ptr, "/risk") == 0 ||
           strncmp(ptr, "/risk/", 6) == 0 || strcmp(ptr, "/inspection") == 0 ||
           strncmp(ptr, "/inspection/", 12) == 0;
}

static cx_err b__commit_one(const char *ptr, const json_t *value, json_t *fields, json_t *salts)
{
    uint8_t salt[32], h[32];
    randombytes_buf(salt, sizeof salt);
    cx_err e = ledger__commit(salt, ptr, value, h);
    if (e != CX_OK)
        return e;
    char hex[65], s64[LEDGER_B64_32 + 1];
    ledger__hex(h, hex);
    ledger__b64_encode(salt, 32, s64);
    sodium_memzero(salt, sizeof salt);
    json_object_set_new(fields, ptr, json_string(hex));
    json_object_set_new(salts, ptr, json_pack("{s:s,s:O}", "salt", s64, "value", value));
    return CX_OK;
}

static cx_err b__leaves(const json_t *v, char *ptr, size_t cap, json_t *fields, json_t *salts,
                        int depth)
{
    if (depth > 32)
        return CX_ETOOBIG;
    if (b__volatile(ptr))
        return CX_OK;
    size_t len = strlen(ptr);
    cx_err e = CX_OK;
    if (json_is_object(v) && json_object_size(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            cx_jptr_push(ptr, cap, k);
            e = b__leaves(x, ptr, cap, fields, salts, depth + 1);
            ptr[len] = '\0';
            if (e != CX_OK)
                return e;
        }
        return CX_OK;
    }
    if (json_is_array(v) && json_array_size(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            cx_jptr_index(ptr, cap, i);
            e = b__leaves(x, ptr, cap, fields, salts, depth + 1);
            ptr[len] = '\0';
            if (e != CX_OK)
                return e;
        }
        return CX_OK;
    }
    if (!ptr[0]) /* a scalar document: commit to it under "/" */
        return b__commit_one("/", v, fields, salts);
    return b__commit_one(ptr, v, fields, salts);
}

cx_err ledger_anchor_body(const json_t *declaration, json_t **body, json_t **salts)
{
    *body = *salts = NULL;
    const char *id = json_string_value(json_object_get(declaration, "id"));
    if (!json_is_object(declaration) || !id)
        return CX_EINVAL;
    json_t *fields = json_object(), *s = json_object();
    char ptr[512] = "";
    cx_err e = b__leaves(declaration, ptr, sizeof ptr, fields, s, 0);
    if (e != CX_OK) {
        json_decref(fields);
        json_decref(s);
        return e;
    }
    *body = json_pack("{s:s,s:o}", "declaration_id", id, "fields", fields);
    *salts = s;
    return CX_OK;
}

cx_err ledger_parcels_body(const char *manifest_id, const json_t *parcels, json_t **body,
                           json_t **salts)
{
    *body = *salts = NULL;
    if (!json_is_array(parcels) || !json_array_size(parcels))
        return CX_EINVAL;
    json_t *hashes = json_array(), *s = json_object();
    size_t i;
    const json_t *p;
    json_array_foreach(parcels, i, p)
    {
        char name[32];
        snprintf(name, sizeof name, "/parcels/%zu", i);
        json_t *f = json_object();
        cx_err e = b__commit_one(name, p, f, s);
        if (e != CX_OK) {
            json_decref(f);
            json_decref(hashes);
            json_decref(s);
            return e;
        }
        json_array_append(hashes, json_object_get(f, name));
        json_decref(f);
    }
    *body = json_pack("{s:s,s:o}", "manifest_id", manifest_id, "parcels", hashes);
    *salts = s;
    return CX_OK;
}

/* ---- the owner's salt store --------------------------------------------------------------- */

typedef struct {
    int64_t idx;
    const json_t *salts;
    const char *name;
    int64_t deleted;
} salt_job;

static cx_err b__put(store_conn *w, void *arg)
{
    salt_job *j = arg;
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)j->salts, name, v)
    {
        uint8_t salt[32];
        if (!ledger__b64_decode(json_string_value(json_object_get(v, "salt")), salt, 32))
            return CX_EINVAL;
        cx_buf b;
        cx_buf_init(&b, LEDGER_MAX_ENTRY);
        cx_err e = ledger_jcs(json_object_get(v, "value"), &b);
        sqlite3_stmt *st = e == CX_OK ? store_stmt(w, "INSERT OR REPLACE INTO ledger_salts(idx, "
                                                      "name, salt, value) VALUES(?1,?2,?3,?4)")
                                      : NULL;
        int rc = SQLITE_ERROR;
        if (st) {
            sqlite3_bind_int64(st, 1, j->idx);
            sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 3, salt, 32, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, b.data, (int)b.len, SQLITE_STATIC);
            rc = sqlite3_step(st);
            sqlite3_reset(st);
        }
        cx_buf_free(&b);
        sodium_memzero(salt, sizeof salt);
        if (rc != SQLITE_DONE)
            return e != CX_OK ? e : CX_EDB;
    }
    return CX_OK;
}

cx_err ledger_salts_put(ledger *lg, int64_t index, const json_t *salts)
{
    salt_job j = {index, salts, NULL, 0};
    return store_write(lg->s, b__put, &j);
}

static cx_err b__erase(store_conn *w, void *arg)
{
    salt_job *j = arg;
    sqlite3_stmt *st = j->name ? store_stmt(w, "DELETE FROM ledger_salts WHERE idx=?1 AND name=?2")
                               : store_stmt(w, "DELETE FROM ledger_salts WHERE idx=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, j->idx);
    if (j->name)
        sqlite3_bind_text(st, 2, j->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    j->deleted = sqlite3_changes(store_conn_db(w));
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

cx_err ledger_salts_erase(ledger *lg, int64_t index, const char *name, int64_t *deleted)
{
    salt_job j = {index, NULL, name, 0};
    cx_err e = store_write(lg->s, b__erase, &j);
    if (deleted)
        *deleted = j.deleted;
    /* The WAL keeps old pages until a checkpoint; truncate it so the salts
     * do not linger on disk. */
    if (e == CX_OK) {
        store_conn *c = store_reader(lg->s);
        if (c)
            sqlite3_wal_checkpoint_v2(store_conn_db(c), NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                                      NULL);
    }
    return e;
}

/* ---- bundles ------------------------------------------------------------------------------ */

cx_err ledger_bundle(ledger *lg, int64_t index, const char *const *names, size_t n, json_t **out,
                     char *err, size_t errlen)
{
    *out = NULL;
    json_t *entry = NULL, *cp = NULL, *proof = NULL;
    cx_err e = ledger_entry_get(lg, index, &entry);
    if (e != CX_OK) {
        snprintf(err, errlen, "no entry %lld on the ledger", (long long)index);
        return e;
    }
    e = ledger__checkpoint_covering(lg, index, &cp);
    if (e != CX_OK && e != CX_ENOTFOUND) { /* unreadable is not "not yet" */
        snprintf(err, errlen, "the checkpoint covering entry %lld could not be read",
                 (long long)index);
        json_decref(entry);
        return e;
    }
    int64_t size = cp ? json_integer_value(json_object_get(cp, "tree_size")) : 0;
    if (e != CX_OK || size <= index) {
        snprintf(err, errlen, "no cosigned checkpoint covers entry %lld yet; run customs ledger "
                              "checkpoint first",
                 (long long)index);
        json_decref(entry);
        json_decref(cp);
        return CX_ESTATE;
    }
    e = ledger_proof(lg, index, size, &proof);
    json_t *disclosed = json_array();
    store_conn *c = store_reader(lg->s);
    for (size_t i = 0; e == CX_OK && i < n; i++) {
        sqlite3_stmt *st = store_stmt(c, "SELECT salt, value FROM ledger_salts WHERE idx=?1 "
                                         "AND name=?2");
        if (!st) {
            e = CX_EDB;
            break;
        }
        sqlite3_bind_int64(st, 1, index);
        sqlite3_bind_text(st, 2, names[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
            char s64[LEDGER_B64_32 + 1];
            ledger__b64_encode(sqlite3_column_blob(st, 0), 32, s64);
            json_t *value = json_loads((const char *)sqlite3_column_text(st, 1),
                                       JSON_DECODE_ANY, NULL);
            json_array_append_new(disclosed, json_pack("{s:s,s:o,s:s}", "name", names[i], "value",
                                                       value ? value : json_null(), "salt", s64));
        } else {
            snprintf(err, errlen, "no salt for field %s of entry %lld here (never committed, or "
                                  "erased)",
                     names[i], (long long)index);
            e = CX_ENOTFOUND;
        }
        sqlite3_reset(st);
    }
    if (e == CX_OK) {
        *out = json_pack("{s:s,s:O,s:I,s:O,s:{s:O,s:O},s:O,s:o}", "format", BUNDLE_FORMAT,
                         "origin", json_object_get(cp, "origin"), "index", (json_int_t)index,
                         "entry", json_object_get(entry, "canonical"), "proof", "tree_size",
                         json_object_get(proof, "tree_size"), "audit_path",
                         json_object_get(proof, "audit_path"), "checkpoint",
                         json_object_get(cp, "note"), "disclosed", disclosed);
        disclosed = NULL;
        if (!*out)
            e = CX_ENOMEM;
    } else if (!err[0]) {
        snprintf(err, errlen, "cannot build the bundle: %s", cx_strerror(e));
    }
    json_decref(disclosed);
    json_decref(entry);
    json_decref(cp);
    json_decref(proof);
    return e;
}

cx_err ledger_trust(ledger *lg, json_t **out)
{
    store_conn *c = store_reader(lg->s);
    if (!c)
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(c, "SELECT v FROM ledger_meta WHERE k='origin'");
    if (!st)
        return CX_EDB;
    cx_err e = CX_OK; /* a trust file missing a member or key is never written */
    json_t *origin = store_next(st, &e) ? json_string((const char *)sqlite3_column_text(st, 0))
                                        : NULL;
    sqlite3_reset(st);
    if (!origin)
        return e != CX_OK ? e : CX_ENOTFOUND;
    json_t *members = json_array();
    st = store_stmt(c, "SELECT m.org, m.role, k.key FROM ledger_members m JOIN ledger_keys k "
                       "ON k.org = m.org WHERE k.revoked_idx IS NULL ORDER BY m.org, k.added_idx");
    if (!st) {
        json_decref(origin);
        json_decref(members);
        return CX_EDB;
    }
    json_t *cur = NULL;
    while (store_next(st, &e)) {
        const char *org = (const char *)sqlite3_column_text(st, 0);
        if (!cur || strcmp(json_string_value(json_object_get(cur, "org")), org) != 0) {
            cur = json_pack("{s:s,s:s,s:[]}", "org", org, "role",
                            (const char *)sqlite3_column_text(st, 1), "keys");
            cx_json_push(members, cur, &e);
            if (e != CX_OK) /* cur was not appended (and is released) */
                break;
        }
        char pk[LEDGER_B64_32 + 1];
        if (sqlite3_column_bytes(st, 2) == 32) {
            ledger__b64_encode(sqlite3_column_blob(st, 2), 32, pk);
            cx_json_push(json_object_get(cur, "keys"), json_string(pk), &e);
        }
    }
    sqlite3_reset(st);
    /* the genesis's leaf hash: a network node given this file refuses a
     * stream that starts with another genesis */
    char genesis[65] = "";
    st = e == CX_OK ? store_stmt(c, "SELECT leaf_hash FROM ledger_entries WHERE idx=0") : NULL;
    if (st && store_next(st, &e) && sqlite3_column_bytes(st, 0) == 32)
        ledger__hex(sqlite3_column_blob(st, 0), genesis);
    if (st)
        sqlite3_reset(st);
    else if (e == CX_OK)
        e = CX_EDB;
    int quorum = e == CX_OK ? ledger__checkpoint_threshold(c) : 0;
    if (e == CX_OK && quorum < 0)
        e = CX_EDB;
    if (e != CX_OK) {
        json_decref(origin);
        json_decref(members);
        return e;
    }
    *out = json_pack("{s:o,s:s,s:i,s:o}", "origin", origin, "genesis", genesis,
                     "checkpoint_quorum", quorum, "members", members);
    return *out ? CX_OK : CX_ENOMEM;
}

/* ---- offline verification ---------------------------------------------------------------------- */

/* The trusted keys of org, from a trust file. */
static bool b__trusted(const json_t *trust, const char *org, const uint8_t pk[32])
{
    size_t i, k;
    const json_t *m, *key;
    json_array_foreach(json_object_get(trust, "members"), i, m)
    {
        const char *name = json_string_value(json_object_get(m, "org"));
        if (!name || strcmp(name, org) != 0)
            continue;
        json_array_foreach(json_object_get(m, "keys"), k, key)
        {
            uint8_t t[32];
            if (ledger__b64_decode(json_string_value(key), t, 32) && memcmp(t, pk, 32) == 0)
                return true;
        }
    }
    return false;
}

int ledger__note_trusted(const char *sigs, const char *text, const json_t *trust,
                         char *cosigners, size_t cap, char *why, size_t whycap)
{
    int good = 0;
    cosigners[0] = '\0';
    while (*sigs) {
        char name[CX_ORG_MAX + 1];
        uint8_t blob[68];
        if (!ledger__note_sig_next(&sigs, name, blob)) {
            const char *nl = strchr(sigs, '\n'); /* another algorithm: ignore the line */
            if (!nl)
                break;
            sigs = nl + 1;
            continue;
        }
        bool known = false;
        size_t i, k;
        const json_t *m, *key;
        uint32_t id = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 |
                      blob[3];
        json_array_foreach(json_object_get(trust, "members"), i, m)
        {
            const char *org = json_string_value(json_object_get(m, "org"));
            if (!org || strcmp(org, name) != 0)
                continue;
            json_array_foreach(json_object_get(m, "keys"), k, key)
            {
                uint8_t pk[32];
                if (!ledger__b64_decode(json_string_value(key), pk, 32) ||
                    id != ledger_note_key_id(name, pk))
                    continue;
                known = true;
                if (!ledger__note_sig_verify(name, pk, blob, text)) {
                    snprintf(why, whycap, "the checkpoint signature of %s does not verify", name);
                    return -1;
                }
            }
        }
        if (known && !strstr(cosigners, name)) {
            good++;
            if (cosigners[0])
                strncat(cosigners, ", ", cap - strlen(cosigners) - 1);
            strncat(cosigners, name, cap - strlen(cosigners) - 1);
        }
    }
    return good;
}

#define FAIL(...)                                                                              \
    do {                                                                                       \
        snprintf(report, cap, __VA_ARGS__);                                                    \
        goto out;                                                                              \
    } while (0)

bool ledger_bundle_verify(const json_t *bundle, const json_t *trust, int quorum, char *report,
                          size_t cap)
{
    bool ok = false;
    lentry *e = NULL;
    json_t *problems = json_array();
    const char *fmt = json_string_value(json_object_get(bundle, "format"));
    const char *origin = json_string_value(json_object_get(bundle, "origin"));
    const char *trusted_origin = json_string_value(json_object_get(trust, "origin"));
    const char *text = json_string_value(json_object_get(bundle, "entry"));
    const json_t *index_j = json_object_get(bundle, "index");
    const json_t *proof = json_object_get(bundle, "proof");
    const char *note = json_string_value(json_object_get(bundle, "checkpoint"));
    if (quorum <= 0)
        quorum = (int)json_integer_value(json_object_get(trust, "checkpoint_quorum"));
    if (quorum <= 0)
        quorum = 2;
    if (!fmt || strcmp(fmt, BUNDLE_FORMAT) != 0)
        FAIL("not a disclosure bundle (format must be %s)", BUNDLE_FORMAT);
    if (!trusted_origin || !json_is_array(json_object_get(trust, "members")))
        FAIL("the trust file must give the ledger's origin and its members' keys");
    if (!origin || strcmp(origin, trusted_origin) != 0)
        FAIL("the bundle is from ledger %s, the trust file is for %s", origin ? origin : "?",
             trusted_origin);
    if (!text || !json_is_integer(index_j) || json_integer_value(index_j) < 0 ||
        !json_is_object(proof) || !note)
        FAIL("the bundle lacks its entry, index, proof or checkpoint");
    /* 1. the entry, exactly as it is on the log */
    char msg[200];
    if (ledger__entry_decode(text, strlen(text), &e, problems, msg, sizeof msg) != CX_OK)
        FAIL("the entry does not decode: %s", msg);
    if (e->canon_len != strlen(text) || memcmp(e->canon, text, e->canon_len) != 0)
        FAIL("the entry is not in its canonical form, so it is not the logged leaf");
    /* 2. its signatures, by keys the trust file names for their orgs */
    if (ledger__entry_check_sigs(e, problems) != CX_OK)
        FAIL("a signature on the entry does not verify: the entry was altered");
    bool author = false;
    for (size_t i = 0; i < e->nsigs; i++) {
        if (!b__trusted(trust, e->sigs[i].org, e->sigs[i].pk))
            FAIL("signature %zu claims %s, but its key is not one of %s's trusted keys", i,
                 e->sigs[i].org, e->sigs[i].org);
        author = author || strcmp(e->sigs[i].org, e->org) == 0;
    }
    if (!author && e->type != LT_INIT)
        FAIL("the entry is not signed by its author %s", e->org);
    /* 3. the checkpoint, cosigned by enough trusted organisations */
    char ntext[LEDGER_ORIGIN_MAX + 128], norigin[LEDGER_ORIGIN_MAX + 1];
    uint64_t size;
    uint8_t root[32];
    const char *sigs;
    if (!ledger__note_parse(note, ntext, sizeof ntext, &size, root, norigin, &sigs))
        FAIL("the checkpoint is not a tlog-checkpoint signed note");
    if (strcmp(norigin, trusted_origin) != 0)
        FAIL("the checkpoint is for log %s, not %s", norigin, trusted_origin);
    char cosigners[512] = "", why[200];
    int good = ledger__note_trusted(sigs, ntext, trust, cosigners, sizeof cosigners, why,
                                    sizeof why);
    if (good < 0)
        FAIL("%s", why);
    if (good < quorum)
        FAIL("the checkpoint is cosigned by %d trusted organisation%s (%s); %d are required",
             good, good == 1 ? "" : "s", good ? cosigners : "none", quorum);
    /* 4. the inclusion proof from the leaf to the checkpoint's root */
    uint64_t index = (uint64_t)json_integer_value(index_j);
    if ((uint64_t)json_integer_value(json_object_get(proof, "tree_size")) != size)
        FAIL("the proof is for tree size %lld, the checkpoint for %llu",
             (long long)json_integer_value(json_object_get(proof, "tree_size")),
             (unsigned long long)size);
    const json_t *path = json_object_get(proof, "audit_path");
    size_t n = json_array_size(path);
    if (!json_is_array(path) || n > LEDGER_TREE_LEVELS)
        FAIL("the audit path is malformed");
    uint8_t hashes[LEDGER_TREE_LEVELS][32];
    for (size_t i = 0; i < n; i++)
        if (!cx_unhex(json_string_value(json_array_get(path, i)), hashes[i], 32))
            FAIL("audit path entry %zu is not a 64-digit hex hash", i);
    if (!ledger_verify_inclusion(index, size, e->leaf_hash, (const uint8_t(*)[32])hashes, n, root))
        FAIL("the inclusion proof does not lead from entry %llu to the checkpoint's root",
             (unsigned long long)index);
    /* 5. each disclosed field against its commitment in the entry */
    char shown[512] = "";
    size_t i;
    const json_t *d;
    const json_t *disclosed = json_object_get(bundle, "disclosed");
    json_array_foreach(disclosed, i, d)
    {
        const char *name = json_string_value(json_object_get(d, "name"));
        const json_t *value = json_object_get(d, "value");
        uint8_t salt[32], h[32], want[32];
        if (!name || !value || !ledger__b64_decode(json_string_value(json_object_get(d, "salt")),
                                                   salt, 32))
            FAIL("disclosed field %zu needs a name, a value and a base64 salt of 32 bytes", i);
        const char *commit = NULL;
        if (e->type == LT_DECL_ANCHOR) {
            commit = json_string_value(json_object_get(json_object_get(e->body, "fields"), name));
        } else if (e->type == LT_PARCELS && strncmp(name, "/parcels/", 9) == 0) {
            int64_t k;
            if (cx_parse_i64(name + 9, &k) && k >= 0)
                commit = json_string_value(
                    json_array_get(json_object_get(e->body, "parcels"), (size_t)k));
        }
        if (!commit || !cx_unhex(commit, want, 32))
            FAIL("the entry holds no commitment for disclosed field %s", name);
        if (ledger__commit(salt, name, value, h) != CX_OK || sodium_memcmp(h, want, 32) != 0)
            FAIL("disclosed field %s does not match its commitment: wrong value or salt", name);
        cx_buf vb;
        cx_buf_init(&vb, 200);
        ledger_jcs(value, &vb);
        char one[160];
        snprintf(one, sizeof one, "%s%s = %.100s", shown[0] ? "; " : "", name, vb.data ? vb.data : "");
        cx_buf_free(&vb);
        strncat(shown, one, sizeof shown - strlen(shown) - 1);
    }
    const char *decl = json_string_value(json_object_get(e->body, "declaration_id"));
    snprintf(report, cap,
             "ok: entry %llu (%s by %s%s%s) is in log %s at tree size %llu, cosigned by %s; "
             "%zu field%s disclosed%s%s",
             (unsigned long long)index, ledger__type_names[e->type], e->org,
             decl ? ", declaration " : "", decl ? decl : "", trusted_origin,
             (unsigned long long)size, cosigners, json_array_size(disclosed),
             json_array_size(disclosed) == 1 ? "" : "s", shown[0] ? ": " : "", shown);
    ok = true;
out:
    json_decref(problems);
    ledger__entry_free(e);
    return ok;
}
