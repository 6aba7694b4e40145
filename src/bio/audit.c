/* The append-only audit of biometric operations: every verification and
 * identification (who, purpose, when, watchlist, candidates, top score,
 * station), enrolments and erasures. Each record is canonical JSON (sorted
 * keys) with its RFC 6962 leaf hash, so a day's records reduce to one
 * Merkle root that the ledger can anchor (audit.digest). */
#include "bio_int.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *audit__record(const bio_audit_rec *r, int64_t at_us)
{
    char at[32];
    cx_rfc3339_format(at_us, at);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "at", at, "action", r->action, "outcome",
                          r->outcome, "purpose", r->purpose ? r->purpose : "");
    if (r->who) {
        json_object_set_new(o, "key_id", json_integer(r->who->key_id));
        json_object_set_new(o, "org", json_string(r->who->org));
        json_object_set_new(o, "role", json_string(cx_role_name(r->who->role)));
    } else {
        json_object_set_new(o, "via", json_string("cli"));
    }
    if (r->watchlist)
        json_object_set_new(o, "watchlist", json_string(r->watchlist));
    if (r->subject)
        json_object_set_new(o, "subject", json_string(r->subject));
    if (r->modality)
        json_object_set_new(o, "modality", json_string(r->modality));
    if (r->station)
        json_object_set_new(o, "station", json_integer(r->station));
    if (r->candidates >= 0)
        json_object_set_new(o, "candidates", json_integer(r->candidates));
    if (!isnan(r->top_score))
        json_object_set_new(o, "top_score", json_real(round(r->top_score * 100) / 100));
    return o;
}

static void audit__leaf(const char *text, size_t n, uint8_t out[32])
{
    crypto_hash_sha256_state h;
    const uint8_t zero = 0;
    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, &zero, 1);
    crypto_hash_sha256_update(&h, (const uint8_t *)text, n);
    crypto_hash_sha256_final(&h, out);
}

cx_err bs__audit_append(store_conn *w, const bio_audit_rec *r)
{
    int64_t at_us = cx_now_us();
    json_t *o = audit__record(r, at_us);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    if (!text)
        return CX_ENOMEM;
    uint8_t leaf[32];
    audit__leaf(text, strlen(text), leaf);
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO bio_audit(at_us, action, subject, watchlist, "
                                     "outcome, record, leaf) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    cx_err e = st ? CX_OK : CX_EDB;
    if (!e) {
        sqlite3_bind_int64(st, 1, at_us);
        sqlite3_bind_text(st, 2, r->action, -1, SQLITE_STATIC);
        if (r->subject)
            sqlite3_bind_text(st, 3, r->subject, -1, SQLITE_STATIC);
        if (r->watchlist)
            sqlite3_bind_text(st, 4, r->watchlist, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, r->outcome, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 7, leaf, sizeof leaf, SQLITE_STATIC);
        e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
        sqlite3_reset(st);
    }
    free(text);
    return e;
}

/* The record and, for a watchlist hit, its alert: one transaction, so the
 * alert never exists without the audited search that caused it. */
static cx_err audit__job(store_conn *w, void *arg)
{
    const bio_audit_rec *r = arg;
    cx_err e = bs__audit_append(w, r);
    if (!e && r->alerts && r->alert)
        e = alert_raise_in(r->alerts, w, r->alert, NULL);
    return e;
}

cx_err bs__audit_write(store *s, const bio_audit_rec *r)
{
    return store_write(s, audit__job, (void *)r);
}

cx_err bio_audit_list(store *s, const bio_audit_query *q, json_t **out)
{
    *out = NULL;
    store_conn *c = store_reader(s);
    if (!c)
        return CX_EDB;
    int64_t before = q->before_seq > 0 ? q->before_seq : INT64_MAX;
    int64_t from = q->from_us, to = q->to_us > 0 ? q->to_us : INT64_MAX;
    sqlite3_stmt *st;
    if (q->subject)
        st = store_stmt(c, "SELECT seq, record FROM bio_audit WHERE subject=?1 AND seq < ?2 "
                           "AND at_us >= ?3 AND at_us < ?4 AND (?5 IS NULL OR action=?5) "
                           "ORDER BY seq DESC LIMIT ?6");
    else
        st = store_stmt(c, "SELECT seq, record FROM bio_audit WHERE seq < ?2 AND at_us >= ?3 "
                           "AND at_us < ?4 AND (?5 IS NULL OR action=?5) "
                           "ORDER BY seq DESC LIMIT ?6");
    if (!st)
        return CX_EDB;
    if (q->subject)
        sqlite3_bind_text(st, 1, q->subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, before);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_int64(st, 4, to);
    if (q->action)
        sqlite3_bind_text(st, 5, q->action, -1, SQLITE_STATIC);
    size_t limit = q->limit ? q->limit : 100;
    sqlite3_bind_int64(st, 6, (int64_t)limit + 1);
    json_t *items = json_array();
    int64_t last = 0;
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit)
            break;
        json_t *rec = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
        if (!rec) { /* an audit trail with a record left out is not shown */
            cx_log(CX_LOG_ERROR, "bio: stored audit record %lld does not parse",
                   (long long)sqlite3_column_int64(st, 0));
            sqlite3_reset(st);
            json_decref(items);
            return CX_EPARSE;
        }
        last = sqlite3_column_int64(st, 0);
        json_object_set_new(rec, "seq", json_integer(last));
        json_array_append_new(items, rec);
        n++;
    }
    bool more = rc == SQLITE_ROW;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(items);
        return CX_EDB;
    }
    *out = json_pack("{s:o}", "items", items);
    if (more)
        json_object_set_new(*out, "next_cursor", json_integer(last));
    return CX_OK;
}

cx_err bio_verified_last(store_conn *c, const char *subject, int64_t *at_us)
{
    *at_us = 0;
    sqlite3_stmt *st = store_stmt(c, "SELECT max(at_us) FROM bio_audit WHERE subject=?1 AND "
                                     "action='verify' AND outcome='match'");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *at_us = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

cx_err bio_verified_since(store_conn *c, const char *subject, int64_t since_us, bool *ok)
{
    *ok = false;
    sqlite3_stmt *st = store_stmt(c, "SELECT 1 FROM bio_audit WHERE subject=?1 AND "
                                     "action='verify' AND outcome='match' AND at_us >= ?2 LIMIT 1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since_us);
    int rc = sqlite3_step(st);
    *ok = rc == SQLITE_ROW;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

/* RFC 6962 Merkle tree hash of leaves[0..n) (leaf hashes given). */
static void audit__mth(const uint8_t (*leaves)[32], size_t n, uint8_t out[32])
{
    if (n == 1) {
        memcpy(out, leaves[0], 32);
        return;
    }
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t l[32], r[32];
    audit__mth(leaves, k, l);
    audit__mth(leaves + k, n - k, r);
    crypto_hash_sha256_state h;
    const uint8_t one = 1;
    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, &one, 1);
    crypto_hash_sha256_update(&h, l, 32);
    crypto_hash_sha256_update(&h, r, 32);
    crypto_hash_sha256_final(&h, out);
}

cx_err bio_audit_digest(store *s, int y, int m, int d, int64_t *count, uint8_t root[32])
{
    *count = 0;
    int64_t day = cx_days_from_civil(y, m, d) * 86400 * (int64_t)1000000;
    store_conn *c = store_reader(s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT leaf FROM bio_audit WHERE at_us >= ?1 AND "
                                         "at_us < ?2 ORDER BY seq")
                         : NULL;
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, day);
    sqlite3_bind_int64(st, 2, day + 86400 * (int64_t)1000000);
    size_t n = 0, cap = 0;
    uint8_t (*leaves)[32] = NULL;
    int rc;
    cx_err e = CX_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            void *p = realloc(leaves, nc * 32);
            if (!p) {
                e = CX_ENOMEM;
                break;
            }
            leaves = p;
            cap = nc;
        }
        if (sqlite3_column_bytes(st, 0) == 32)
            memcpy(leaves[n++], sqlite3_column_blob(st, 0), 32);
    }
    sqlite3_reset(st);
    if (!e && rc != SQLITE_DONE)
        e = CX_EDB;
    if (!e) {
        if (n)
            audit__mth((const uint8_t (*)[32])leaves, n, root);
        else
            crypto_hash_sha256(root, NULL, 0); /* RFC 6962: the empty tree */
        *count = (int64_t)n;
    }
    free(leaves);
    return e;
}
