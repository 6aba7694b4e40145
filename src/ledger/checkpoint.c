/* Checkpoints: C2SP tlog-checkpoint signed notes over the tree head,
 * cosigned by member organisations (key name = the organisation). */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cx_err cp__origin(store_conn *c, char origin[LEDGER_ORIGIN_MAX + 1])
{
    sqlite3_stmt *st = store_stmt(c, "SELECT v FROM ledger_meta WHERE k='origin'");
    if (!st)
        return CX_EDB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(origin, LEDGER_ORIGIN_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
}

bool ledger__key_valid_at_size(int64_t added, int64_t revoked, int64_t size)
{
    /* valid for the last entry the checkpoint covers */
    return size > 0 && added < size && (revoked == INT64_MAX || revoked >= size - 1);
}

int ledger__checkpoint_threshold(store_conn *c)
{
    int t = 0;
    sqlite3_stmt *st = store_stmt(c, "SELECT coalesce((SELECT json_extract(policy, "
                                     "'$.threshold') FROM ledger_policies WHERE "
                                     "type='checkpoint'), (SELECT v FROM ledger_meta WHERE "
                                     "k='threshold'), 1)");
    if (!st)
        return -1;
    /* unreadable is not a quorum of 1: a checkpoint would be shown final,
     * and a bundle tell offline verifiers, with one cosignature */
    cx_err e = CX_OK;
    if (store_next(st, &e))
        t = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    if (e != CX_OK)
        return -1;
    return t > 0 ? t : 1;
}

typedef struct {
    int64_t size;
    uint8_t root[32];
    char org[CX_ORG_MAX + 1];
    const uint8_t *pk;
    char line[256];
    bool exact; /* this size, even below the latest checkpoint (a network's) */
    bool retry;
    bool already;
} cosign_job;

static cx_err cp__store(store_conn *w, void *arg)
{
    cosign_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT max(size) FROM ledger_checkpoints");
    if (!st)
        return CX_EDB;
    int64_t latest = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (latest > j->size && !j->exact) { /* a newer head was checkpointed meanwhile */
        j->retry = true;
        return CX_ESTATE;
    }
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    if (latest < j->size || j->exact) {
        st = store_stmt(w, "INSERT OR IGNORE INTO ledger_checkpoints(size, root, created_at) "
                           "VALUES(?1, ?2, ?3)");
        if (!st)
            return CX_EDB;
        sqlite3_bind_int64(st, 1, j->size);
        sqlite3_bind_blob(st, 2, j->root, 32, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return CX_EDB;
    }
    st = store_stmt(w, "INSERT OR IGNORE INTO ledger_cosignatures(size, org, key, line, "
                       "created_at) VALUES(?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, j->size);
    sqlite3_bind_text(st, 2, j->org, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, j->pk, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, j->line, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    j->already = sqlite3_changes(store_conn_db(w)) == 0;
    return CX_OK;
}

/* The signed note of checkpoint size with every cosignature; NULL if none. */
static char *cp__note(store_conn *c, const char *origin, int64_t size, const uint8_t root[32])
{
    char text[LEDGER_ORIGIN_MAX + 128];
    ledger__checkpoint_text(origin, (uint64_t)size, root, text, sizeof text);
    cx_buf b;
    cx_buf_init(&b, 1 << 20);
    cx_err e = cx_buf_puts(&b, text);
    if (e == CX_OK)
        e = cx_buf_puts(&b, "\n");
    sqlite3_stmt *st = store_stmt(c, "SELECT line FROM ledger_cosignatures WHERE size=?1 "
                                     "ORDER BY created_at, org");
    if (!st) {
        cx_buf_free(&b);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, size);
    while (e == CX_OK && store_row(st, &b))
        e = cx_buf_puts(&b, (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return cx_buf_steal(&b, NULL); /* NULL if the note did not fit or could not be read */
}

cx_err ledger_checkpoint_sign(ledger *lg, const ledger_key *key, char **note, char *err,
                              size_t errlen)
{
    *note = NULL;
    char line[256];
    int64_t size;
    uint8_t root[32];
    cx_err e = ledger__checkpoint_cosign(lg, key, 0, line, &size, root, err, errlen);
    if (e != CX_OK)
        return e;
    store_conn *c = store_reader(lg->s);
    char origin[LEDGER_ORIGIN_MAX + 1];
    if (!c || cp__origin(c, origin) != CX_OK)
        return CX_EDB;
    *note = cp__note(c, origin, size, root);
    return *note ? CX_OK : CX_ENOMEM;
}

cx_err ledger__checkpoint_cosign(ledger *lg, const ledger_key *key, int64_t at, char line[256],
                                 int64_t *size_out, uint8_t root[32], char *err, size_t errlen)
{
    store_conn *c = store_reader(lg->s);
    if (!c)
        return CX_EDB;
    char origin[LEDGER_ORIGIN_MAX + 1];
    cx_err oe = cp__origin(c, origin);
    if (oe != CX_OK && oe != CX_ENOTFOUND) { /* unreadable is not "not initialised" */
        snprintf(err, errlen, "the ledger cannot be read; retry");
        return oe;
    }
    if (oe != CX_OK) {
        snprintf(err, errlen, "the ledger is not initialised (customs ledger init)");
        return CX_ESTATE;
    }
    sqlite3_stmt *st = store_stmt(c, "SELECT org, added_idx, revoked_idx FROM ledger_keys "
                                     "WHERE key=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_blob(st, 1, key->pk, 32, SQLITE_STATIC);
    cosign_job j = {.pk = key->pk};
    int64_t added = -1, revoked = INT64_MAX;
    cx_err ke = CX_OK; /* a read that failed is not "this key is not registered" */
    if (store_next(st, &ke)) {
        snprintf(j.org, sizeof j.org, "%s", (const char *)sqlite3_column_text(st, 0));
        added = sqlite3_column_int64(st, 1);
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            revoked = sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    if (ke != CX_OK) {
        snprintf(err, errlen, "the ledger's keys cannot be read; retry");
        return ke;
    }
    if (added < 0) {
        snprintf(err, errlen, "this key is not registered to any member of the ledger");
        return CX_EAUTH;
    }
    if (revoked != INT64_MAX) {
        snprintf(err, errlen, "this key of %s was revoked at entry %lld", j.org,
                 (long long)revoked);
        return CX_EAUTH;
    }
    j.exact = at > 0;
    for (int attempt = 0; attempt < 8; attempt++) {
        int64_t have = ledger__tree_size(c);
        j.size = at > 0 ? at : have;
        if (j.size <= 0 || j.size > have) {
            snprintf(err, errlen, j.size <= 0 ? "the ledger is empty"
                                              : "the tree has no head of that size yet");
            return CX_ESTATE;
        }
        if (!ledger__key_valid_at_size(added, revoked, j.size)) {
            snprintf(err, errlen, "the key was registered after the current tree head");
            return CX_EAUTH;
        }
        cx_err e = ledger_tree_hash(ledger__node_read, c, 0, (uint64_t)j.size, j.root);
        if (e != CX_OK)
            return CX_EDB;
        char text[LEDGER_ORIGIN_MAX + 128];
        ledger__checkpoint_text(origin, (uint64_t)j.size, j.root, text, sizeof text);
        ledger_note_sign(j.org, key, text, j.line, sizeof j.line);
        j.retry = false;
        e = store_write(lg->s, cp__store, &j);
        if (e == CX_ESTATE && j.retry)
            continue;
        if (e != CX_OK) {
            snprintf(err, errlen, "cannot store the checkpoint: %s", cx_strerror(e));
            return e;
        }
        snprintf(line, 256, "%s", j.line);
        *size_out = j.size;
        memcpy(root, j.root, 32);
        return CX_OK;
    }
    snprintf(err, errlen, "the log keeps growing; try again");
    return CX_EBUSY;
}

typedef struct {
    int64_t size;
    uint8_t root[32];
} cp_pick;

/* The latest checkpoint above min_size that threshold organisations
 * cosigned, else the latest above it; false if none, or if it could not be
 * read (*e = CX_EDB: not "no checkpoint yet"). */
static bool cp__pick(store_conn *c, int64_t min_size, int threshold, cp_pick *out, bool *final,
                     cx_err *e)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT size, root FROM ledger_checkpoints p WHERE "
                                     "size > ?1 AND (SELECT count(*) FROM ledger_cosignatures "
                                     "WHERE size = p.size) >= ?2 ORDER BY size DESC LIMIT 1");
    if (!st)
        *e = CX_EDB;
    for (int pass = 0; st && pass < 2; pass++) {
        sqlite3_bind_int64(st, 1, min_size);
        sqlite3_bind_int(st, 2, pass == 0 ? threshold : 1);
        bool ok = store_next(st, e) && sqlite3_column_bytes(st, 1) == 32;
        if (ok) {
            out->size = sqlite3_column_int64(st, 0);
            memcpy(out->root, sqlite3_column_blob(st, 1), 32);
        }
        sqlite3_reset(st);
        if (ok) {
            *final = pass == 0;
            return true;
        }
    }
    return false;
}

char *ledger__checkpoint_note(ledger *lg, int64_t size, const uint8_t root[32])
{
    store_conn *c = store_reader(lg->s);
    char origin[LEDGER_ORIGIN_MAX + 1];
    if (!c || cp__origin(c, origin) != CX_OK)
        return NULL;
    return cp__note(c, origin, size, root);
}

cx_err ledger__cosig_store(ledger *lg, int64_t size, const uint8_t root[32], const char *org,
                           const uint8_t pk[32], const char *line, bool *already)
{
    cosign_job j = {.size = size, .pk = pk, .exact = true};
    memcpy(j.root, root, 32);
    snprintf(j.org, sizeof j.org, "%s", org);
    snprintf(j.line, sizeof j.line, "%s", line);
    cx_err e = store_write(lg->s, cp__store, &j);
    if (already)
        *already = j.already;
    return e;
}

/* A checkpoint as the API shows it, with every cosignature gathered; NULL
 * with *e set (CX_EDB a read that failed, CX_ENOMEM) rather than a checkpoint
 * with fewer cosignatures, which would also read as not final. */
static json_t *cp__json(store_conn *c, const char *origin, int64_t size, const uint8_t root[32],
                        int threshold, cx_err *e)
{
    char hex[65], b64[LEDGER_B64_32 + 1], created[40] = "";
    ledger__hex(root, hex);
    ledger__b64_encode(root, 32, b64);
    sqlite3_stmt *st = store_stmt(c, "SELECT created_at FROM ledger_checkpoints WHERE size=?1");
    if (!st) {
        *e = CX_EDB;
        return NULL;
    }
    sqlite3_bind_int64(st, 1, size);
    if (store_next(st, e))
        snprintf(created, sizeof created, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    json_t *cos = json_array();
    st = store_stmt(c, "SELECT c.org, c.key, c.line, c.created_at, m.role FROM "
                       "ledger_cosignatures c LEFT JOIN ledger_members m ON m.org = c.org "
                       "WHERE c.size=?1 ORDER BY c.created_at, c.org");
    if (!st) {
        json_decref(cos);
        *e = CX_EDB;
        return NULL;
    }
    sqlite3_bind_int64(st, 1, size);
    /* the signed note with every cosignature, from the same rows */
    char text[LEDGER_ORIGIN_MAX + 128];
    ledger__checkpoint_text(origin, (uint64_t)size, root, text, sizeof text);
    cx_buf nb;
    cx_buf_init(&nb, 1 << 20);
    cx_buf_fail(&nb, cx_buf_puts(&nb, text)); /* a failure stays in nb */
    cx_buf_fail(&nb, cx_buf_puts(&nb, "\n"));
    while (store_next(st, e)) {
        cx_buf_fail(&nb, cx_buf_puts(&nb, (const char *)sqlite3_column_text(st, 2)));
        char pk[LEDGER_B64_32 + 1] = "", kid[9];
        const char *org = (const char *)sqlite3_column_text(st, 0);
        if (sqlite3_column_bytes(st, 1) == 32) {
            ledger__b64_encode(sqlite3_column_blob(st, 1), 32, pk);
            snprintf(kid, sizeof kid, "%08x", ledger_note_key_id(org, sqlite3_column_blob(st, 1)));
        } else {
            kid[0] = '\0';
        }
        cx_json_push(cos, json_pack("{s:s,s:s?,s:s,s:s,s:s,s:s}", "org", org, "role",
                                    (const char *)sqlite3_column_text(st, 4), "key", pk, "key_id",
                                    kid, "line", (const char *)sqlite3_column_text(st, 2),
                                    "created_at", (const char *)sqlite3_column_text(st, 3)),
                     e);
    }
    sqlite3_reset(st);
    size_t n = json_array_size(cos);
    char *note = *e == CX_OK ? cx_buf_steal(&nb, NULL) : NULL; /* NULL: it did not fit */
    cx_buf_free(&nb);
    if (!note) {
        json_decref(cos);
        if (*e == CX_OK)
            *e = CX_ENOMEM;
        return NULL;
    }
    json_t *out = json_pack("{s:s,s:I,s:s,s:s,s:s,s:o,s:s,s:i,s:b}", "origin", origin,
                            "tree_size", (json_int_t)size, "root_hash", hex, "root", b64, "note",
                            note, "cosignatures", cos, "created_at", created,
                            "threshold", threshold, "final", (int)(n >= (size_t)threshold));
    free(note);
    if (!out && *e == CX_OK)
        *e = CX_ENOMEM;
    return out;
}

cx_err ledger_checkpoint_latest(ledger *lg, json_t **out)
{
    return ledger__checkpoint_covering(lg, -1, out);
}

cx_err ledger__checkpoint_covering(ledger *lg, int64_t index, json_t **out)
{
    *out = NULL;
    store_conn *c = store_reader(lg->s);
    if (!c)
        return CX_EDB;
    char origin[LEDGER_ORIGIN_MAX + 1];
    cx_err e = cp__origin(c, origin);
    if (e != CX_OK)
        return e;
    int threshold = ledger__checkpoint_threshold(c);
    if (threshold < 0)
        return CX_EDB;
    cp_pick latest, final;
    bool is_final = false, have_final = false;
    /* the newest checkpoint (index < 0), or the one a proof of index should
     * use: the newest final one covering it, else the newest covering it */
    bool found = index < 0 ? cp__pick(c, 0, 1, &latest, &is_final, &e)
                           : cp__pick(c, index, threshold, &latest, &is_final, &e);
    if (!found)
        return e != CX_OK ? e : CX_ENOTFOUND;
    if (index < 0)
        have_final = cp__pick(c, 0, threshold, &final, &is_final, &e) && is_final;
    if (e != CX_OK)
        return e;
    *out = cp__json(c, origin, latest.size, latest.root, threshold, &e);
    if (*out && have_final && final.size != latest.size) {
        /* the newest is still gathering cosignatures: the final one too */
        json_t *f = cp__json(c, origin, final.size, final.root, threshold, &e);
        if (!f) { /* not a null final_checkpoint: it exists and could not be read */
            json_decref(*out);
            *out = NULL;
            return e;
        }
        json_object_set_new(*out, "final_checkpoint", f);
    }
    return e;
}

/* ---- reading notes (verify, bundles) ----------------------------------------------------- */

bool ledger__note_parse(const char *note, char *text, size_t textcap, uint64_t *size,
                        uint8_t root[32], char origin[LEDGER_ORIGIN_MAX + 1], const char **sigs)
{
    /* text ends at the last blank line ("\n\n") */
    const char *sep = NULL;
    for (const char *p = strstr(note, "\n\n"); p; p = strstr(p + 1, "\n\n"))
        sep = p;
    if (!sep || (size_t)(sep + 1 - note) >= textcap)
        return false;
    size_t tlen = (size_t)(sep + 1 - note);
    memcpy(text, note, tlen);
    text[tlen] = '\0';
    *sigs = sep + 2;
    char *save = NULL;
    char copy[LEDGER_ORIGIN_MAX + 128];
    if (tlen >= sizeof copy)
        return false;
    memcpy(copy, text, tlen + 1);
    char *l1 = strtok_r(copy, "\n", &save), *l2 = strtok_r(NULL, "\n", &save),
         *l3 = strtok_r(NULL, "\n", &save);
    if (!l1 || !l2 || !l3 || !ledger__origin_valid(l1))
        return false;
    int64_t n;
    if (!cx_parse_i64(l2, &n) || n < 0 || (l2[0] == '0' && l2[1]))
        return false;
    snprintf(origin, LEDGER_ORIGIN_MAX + 1, "%s", l1);
    *size = (uint64_t)n;
    return ledger__b64_decode(l3, root, 32);
}

bool ledger_cosignature_read(const char *note, size_t len, ledger_cosignature *out)
{
    char buf[512];
    if (len >= sizeof buf || memchr(note, '\0', len))
        return false;
    memcpy(buf, note, len);
    buf[len] = '\0';
    memset(out, 0, sizeof *out);
    const char *sigs, *line;
    uint8_t blob[68];
    if (!ledger__note_parse(buf, out->text, sizeof out->text, &out->size, out->root, out->origin,
                            &sigs) ||
        !(line = sigs, ledger__note_sig_next(&sigs, out->org, blob)) || *sigs != '\0' ||
        (size_t)(sigs - line) >= sizeof out->line || !cx_org_valid(out->org))
        return false;
    /* exactly three lines of text: nothing hides between the root and the
     * signatures */
    int lines = 0;
    for (const char *p = out->text; *p; p++)
        lines += *p == '\n';
    if (lines != 3)
        return false;
    memcpy(out->line, line, (size_t)(sigs - line));
    out->key_id = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 |
                  blob[3];
    memcpy(out->sig, blob + 4, 64);
    return true;
}

/* One "— name base64\n" line starting at *p; advances *p. */
bool ledger__note_sig_next(const char **p, char name[CX_ORG_MAX + 1], uint8_t blob[68])
{
    const char *s = *p;
    if (strncmp(s, "\xE2\x80\x94 ", 4) != 0)
        return false;
    s += 4;
    const char *sp = strchr(s, ' '), *nl = strchr(s, '\n');
    if (!sp || !nl || sp > nl || (size_t)(sp - s) > CX_ORG_MAX || sp == s)
        return false;
    memcpy(name, s, (size_t)(sp - s));
    name[sp - s] = '\0';
    char b64[128];
    size_t blen = (size_t)(nl - sp - 1);
    if (blen >= sizeof b64)
        return false;
    memcpy(b64, sp + 1, blen);
    b64[blen] = '\0';
    if (!ledger__b64_decode(b64, blob, 68))
        return false;
    *p = nl + 1;
    return true;
}

bool ledger__note_sig_verify(const char *name, const uint8_t pk[32], const uint8_t blob[68],
                             const char *text)
{
    uint32_t id = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 |
                  blob[3];
    return id == ledger_note_key_id(name, pk) &&
           crypto_sign_verify_detached(blob + 4, (const uint8_t *)text, strlen(text), pk) == 0;
}
