/* The state machine's operational transitions: declaration anchors, bills of
 * lading, certificates of origin, AEO status, payments, parcel manifests, IPR
 * notices and findings. Authorisation has already passed (rules.c); each
 * transition checks the log's own state and writes its tables, or denies. */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- operational transitions ------------------------------------------------------------------ */

/* The entry at which a row keyed ?1 (and ?2 if k2) was written, in *at;
 * -1 if there is none yet. select returns that index first. */
static cx_err r__seen(lapply *a, const char *select, const char *k1, const char *k2,
                      int64_t *at)
{
    sqlite3_stmt *st = ledger__stmt(a->c, select);
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, k1);
    if (k2)
        r__bind_text(st, 2, k2);
    int rc = sqlite3_step(st);
    *at = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

cx_err ledger__rule_anchor(lapply *a)
{
    const json_t *b = a->e->body;
    const char *id = r__str(b, "declaration_id");
    int64_t at;
    if (r__seen(a, "SELECT idx FROM ledger_anchors WHERE declaration_id=?1", id, NULL, &at) !=
        CX_OK)
        return CX_EDB;
    if (at >= 0)
        DENY(a, 409, "state_conflict", "/body/declaration_id",
             "declaration %s is already anchored at entry %lld", id, (long long)at);
    sqlite3_stmt *st;
    st = ledger__stmt(a->c, "INSERT INTO ledger_anchors(declaration_id, org, idx) "
                            "VALUES(?1, ?2, ?3)");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, id);
    r__bind_text(st, 2, a->e->org);
    sqlite3_bind_int64(st, 3, a->idx);
    if (r__exec(st) != CX_OK)
        return CX_EDB;
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(b, "certificates"), i, c)
    {
        st = ledger__stmt(a->c, "INSERT OR IGNORE INTO ledger_anchor_certs(issuer, number, "
                                "declaration_id, idx) VALUES(?1, ?2, ?3, ?4)");
        if (!st)
            return CX_EDB;
        r__bind_text(st, 1, r__str(c, "issuer"));
        r__bind_text(st, 2, r__str(c, "number"));
        r__bind_text(st, 3, id);
        sqlite3_bind_int64(st, 4, a->idx);
        if (r__exec(st) != CX_OK)
            return CX_EDB;
    }
    return CX_OK;
}

static cx_err r__bl_event(lapply *a, const char *number)
{
    sqlite3_stmt *st =
        ledger__stmt(a->c, "INSERT INTO ledger_bl_events(number, idx) VALUES(?1, ?2)");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, number);
    sqlite3_bind_int64(st, 2, a->idx);
    return r__exec(st);
}

cx_err ledger__rule_bl_issue(lapply *a)
{
    const json_t *b = a->e->body;
    const char *number = r__str(b, "number"), *holder = r__str(b, "holder");
    int64_t at;
    if (r__seen(a, "SELECT issue_idx FROM ledger_bls WHERE number=?1", number, NULL, &at) !=
        CX_OK)
        return CX_EDB;
    if (at >= 0)
        DENY(a, 409, "state_conflict", "/body/number",
             "bill of lading %s was already issued at entry %lld", number, (long long)at);
    if (!ledger__reg_org(a->reg, holder))
        DENY(a, 409, "state_conflict", "/body/holder",
             "%s is not a member: an electronic bill of lading can only be held by one", holder);
    cx_buf cont;
    cx_buf_init(&cont, 1 << 16);
    if (ledger_jcs(json_object_get(b, "containers"), &cont) != CX_OK) {
        cx_buf_free(&cont);
        return CX_ENOMEM;
    }
    sqlite3_stmt *st;
    st = ledger__stmt(a->c, "INSERT INTO ledger_bls(number, carrier, holder, status, containers, "
                            "issue_idx, last_idx, last_leaf) "
                            "VALUES(?1, ?2, ?3, 'issued', ?4, ?5, ?5, ?6)");
    cx_err x = CX_EDB;
    if (st) {
        r__bind_text(st, 1, number);
        r__bind_text(st, 2, a->e->org);
        r__bind_text(st, 3, holder);
        sqlite3_bind_text(st, 4, cont.data, (int)cont.len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, a->idx);
        sqlite3_bind_blob(st, 6, a->e->leaf_hash, 32, SQLITE_STATIC);
        x = r__exec(st);
    }
    cx_buf_free(&cont);
    return x == CX_OK ? r__bl_event(a, number) : x;
}

/* Transfer and surrender: only the current holder, only from the latest
 * state of the bill (prev names its last event's leaf hash, so a second
 * transfer signed against the same state — a double transfer — or one
 * replayed after the bill came back is refused). */
cx_err ledger__rule_bl_move(lapply *a, bool surrender)
{
    const json_t *b = a->e->body;
    const char *number = r__str(b, "number");
    sqlite3_stmt *st = ledger__stmt(a->c, "SELECT carrier, holder, status, last_idx, last_leaf "
                                          "FROM ledger_bls WHERE number=?1");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, number);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return CX_EDB;
        DENY(a, 409, "state_conflict", "/body/number", "no bill of lading %s on the ledger",
             number);
    }
    char carrier[CX_ORG_MAX + 1], holder[CX_ORG_MAX + 1], status[16];
    snprintf(carrier, sizeof carrier, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(holder, sizeof holder, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(st, 2));
    int64_t last = sqlite3_column_int64(st, 3);
    uint8_t last_leaf[32] = {0};
    if (sqlite3_column_bytes(st, 4) == 32)
        memcpy(last_leaf, sqlite3_column_blob(st, 4), 32);
    sqlite3_reset(st);
    if (strcmp(status, "issued") != 0)
        DENY(a, 409, "state_conflict", "/body/number",
             "bill of lading %s was surrendered at entry %lld and can no longer move", number,
             (long long)last);
    if (strcmp(a->e->org, holder) != 0)
        DENY(a, 403, "not_authorised", "/org",
             "only the current holder of bill of lading %s (%s) may %s it", number, holder,
             surrender ? "surrender" : "transfer");
    uint8_t prev[32];
    if (!cx_unhex(r__str(b, "prev"), prev, 32) || memcmp(prev, last_leaf, 32) != 0) {
        char hex[65];
        cx_hex(last_leaf, 32, hex);
        DENY(a, 409, "state_conflict", "/body/prev",
             "is not the latest event of bill of lading %s (entry %lld, leaf %s): it has moved "
             "since this %s was signed",
             number, (long long)last, hex, surrender ? "surrender" : "transfer");
    }
    const char *to = surrender ? carrier : r__str(b, "to");
    if (surrender) {
        bool countersigned = false;
        for (size_t i = 0; i < a->e->nsigs; i++)
            countersigned = countersigned || strcmp(a->e->sigs[i].org, carrier) == 0;
        if (!countersigned)
            DENY(a, 403, "policy_unsatisfied", "/signatures",
                 "the issuing carrier %s must countersign the surrender", carrier);
    } else {
        if (strcmp(to, holder) == 0)
            DENY(a, 409, "state_conflict", "/body/to", "%s already holds bill of lading %s", to,
                 number);
        if (!ledger__reg_org(a->reg, to))
            DENY(a, 409, "state_conflict", "/body/to", "%s is not a member of the consortium",
                 to);
    }
    st = ledger__stmt(a->c, "UPDATE ledger_bls SET holder=?2, status=?3, last_idx=?4, "
                            "last_leaf=?5 WHERE number=?1");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, number);
    r__bind_text(st, 2, to);
    r__bind_text(st, 3, surrender ? "surrendered" : "issued");
    sqlite3_bind_int64(st, 4, a->idx);
    sqlite3_bind_blob(st, 5, a->e->leaf_hash, 32, SQLITE_STATIC);
    cx_err x = r__exec(st);
    return x == CX_OK ? r__bl_event(a, number) : x;
}

cx_err ledger__rule_coo_issue(lapply *a)
{
    const json_t *b = a->e->body;
    const char *number = r__str(b, "number");
    int64_t at;
    if (r__seen(a, "SELECT issue_idx FROM ledger_coos WHERE issuer=?1 AND number=?2", a->e->org,
                number, &at) != CX_OK)
        return CX_EDB;
    if (at >= 0)
        DENY(a, 409, "state_conflict", "/body/number",
             "%s already issued certificate %s at entry %lld", a->e->org, number, (long long)at);
    char hs[100 * 11 + 1] = "";
    size_t i;
    const json_t *g;
    json_array_foreach(json_object_get(b, "goods"), i, g)
    {
        if (hs[0])
            strncat(hs, ",", sizeof hs - strlen(hs) - 1);
        strncat(hs, r__str(g, "hs_code"), sizeof hs - strlen(hs) - 1);
    }
    sqlite3_stmt *st;
    st = ledger__stmt(a->c, "INSERT INTO ledger_coos(issuer, number, country, hs, status, "
                            "issue_idx) VALUES(?1, ?2, ?3, ?4, 'valid', ?5)");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, a->e->org);
    r__bind_text(st, 2, number);
    r__bind_text(st, 3, r__str(b, "country_of_origin"));
    r__bind_text(st, 4, hs);
    sqlite3_bind_int64(st, 5, a->idx);
    return r__exec(st);
}

cx_err ledger__rule_coo_revoke(lapply *a)
{
    const char *number = r__str(a->e->body, "number");
    sqlite3_stmt *st = ledger__stmt(a->c, "SELECT status, revoke_idx FROM ledger_coos "
                                          "WHERE issuer=?1 AND number=?2");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, a->e->org);
    r__bind_text(st, 2, number);
    int rc = sqlite3_step(st);
    bool found = rc == SQLITE_ROW;
    bool revoked = found && strcmp((const char *)sqlite3_column_text(st, 0), "revoked") == 0;
    int64_t at = found ? sqlite3_column_int64(st, 1) : -1;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return CX_EDB;
    if (!found)
        DENY(a, 409, "state_conflict", "/body/number",
             "%s has issued no certificate %s: only the issuing chamber may revoke it",
             a->e->org, number);
    if (revoked)
        DENY(a, 409, "state_conflict", "/body/number",
             "certificate %s was already revoked at entry %lld", number, (long long)at);
    st = ledger__stmt(a->c, "UPDATE ledger_coos SET status='revoked', revoke_idx=?3 "
                            "WHERE issuer=?1 AND number=?2");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, a->e->org);
    r__bind_text(st, 2, number);
    sqlite3_bind_int64(st, 3, a->idx);
    return r__exec(st);
}

/* granted → suspended | revoked; suspended → granted | revoked;
 * revoked → granted (a new certification). Each administration manages the
 * statuses it granted; findings read every administration's (CADENA). */
cx_err ledger__rule_aeo(lapply *a)
{
    const json_t *b = a->e->body;
    const char *op = r__str(b, "operator_id"), *want = r__str(b, "status");
    sqlite3_stmt *st = ledger__stmt(a->c, "SELECT status FROM ledger_aeo "
                                          "WHERE authority=?1 AND operator_id=?2");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, a->e->org);
    r__bind_text(st, 2, op);
    int rc = sqlite3_step(st);
    char have[16] = "";
    if (rc == SQLITE_ROW)
        snprintf(have, sizeof have, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return CX_EDB;
    if (!have[0] && strcmp(want, "granted") != 0)
        DENY(a, 409, "state_conflict", "/body/status",
             "%s has granted operator %s no AEO status to %s", a->e->org, op,
             strcmp(want, "revoked") == 0 ? "revoke" : "suspend");
    if (strcmp(have, want) == 0)
        DENY(a, 409, "state_conflict", "/body/status", "operator %s is already %s by %s", op,
             want, a->e->org);
    if (strcmp(have, "revoked") == 0 && strcmp(want, "suspended") == 0)
        DENY(a, 409, "state_conflict", "/body/status",
             "a revoked AEO status cannot be suspended; grant it again first");
    st = ledger__stmt(a->c, "INSERT INTO ledger_aeo(authority, operator_id, status, program, "
                            "org, idx) VALUES(?1, ?2, ?3, ?4, ?5, ?6) "
                            "ON CONFLICT(authority, operator_id) DO UPDATE SET "
                            "status=excluded.status, program=excluded.program, "
                            "org=excluded.org, idx=excluded.idx");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, a->e->org);
    r__bind_text(st, 2, op);
    r__bind_text(st, 3, want);
    r__bind_text(st, 4, r__str(b, "program"));
    r__bind_text(st, 5, r__str(b, "org"));
    sqlite3_bind_int64(st, 6, a->idx);
    return r__exec(st);
}

static cx_err r__unique(lapply *a, const char *select, const char *insert, const char *k1,
                        const char *k2, const char *path, const char *what)
{
    int64_t at;
    if (r__seen(a, select, k1, k2, &at) != CX_OK)
        return CX_EDB;
    if (at >= 0)
        DENY(a, 409, "state_conflict", path, "%s %s is already on the ledger at entry %lld", what,
             k2, (long long)at);
    sqlite3_stmt *st = ledger__stmt(a->c, insert);
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, k1);
    r__bind_text(st, 2, k2);
    sqlite3_bind_int64(st, 3, a->idx);
    return r__exec(st);
}

cx_err ledger__rule_parcels(lapply *a)
{
    return r__unique(a, "SELECT idx FROM ledger_manifests WHERE org=?1 AND manifest_id=?2",
                     "INSERT INTO ledger_manifests(org, manifest_id, idx) VALUES(?1, ?2, ?3)",
                     a->e->org, r__str(a->e->body, "manifest_id"), "/body/manifest_id",
                     "manifest");
}

cx_err ledger__rule_payment(lapply *a)
{
    const json_t *b = a->e->body;
    const char *receipt = r__str(b, "receipt_no");
    int64_t at;
    if (r__seen(a, "SELECT idx FROM ledger_payments WHERE bank=?1 AND receipt_no=?2", a->e->org,
                receipt, &at) != CX_OK)
        return CX_EDB;
    if (at >= 0)
        DENY(a, 409, "state_conflict", "/body/receipt_no",
             "receipt %s of %s is already on the ledger at entry %lld", receipt, a->e->org,
             (long long)at);
    sqlite3_stmt *st;
    st = ledger__stmt(a->c, "INSERT INTO ledger_payments(bank, receipt_no, declaration_id, "
                            "amount, currency, idx) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, a->e->org);
    r__bind_text(st, 2, receipt);
    r__bind_text(st, 3, r__str(b, "declaration_id"));
    sqlite3_bind_double(st, 4, json_number_value(json_object_get(b, "amount")));
    r__bind_text(st, 5, r__str(b, "currency"));
    sqlite3_bind_int64(st, 6, a->idx);
    return r__exec(st);
}

cx_err ledger__rule_ipr(lapply *a)
{
    const json_t *b = a->e->body;
    const char *reg = r__str(b, "registration_no");
    int64_t at;
    if (r__seen(a, "SELECT idx FROM ledger_iprs WHERE registration_no=?1", reg, NULL, &at) !=
        CX_OK)
        return CX_EDB;
    if (at >= 0)
        DENY(a, 409, "state_conflict", "/body/registration_no",
             "registration %s is already on the ledger at entry %lld", reg, (long long)at);
    if (json_object_get(b, "design") && strcmp(r__str(b, "kind"), "design") != 0)
        DENY(a, 400, "invalid_entry", "/body/design",
             "only a registration of kind design carries a design's geometry");
    sqlite3_stmt *st;
    st = ledger__stmt(a->c, "INSERT INTO ledger_iprs(registration_no, holder_org, kind, mark, "
                            "idx) VALUES(?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, reg);
    r__bind_text(st, 2, a->e->org);
    r__bind_text(st, 3, r__str(b, "kind"));
    r__bind_text(st, 4, r__str(b, "mark"));
    sqlite3_bind_int64(st, 5, a->idx);
    return r__exec(st);
}

/* One digest per administration and day: a second root for a day already
 * anchored would say the audit changed after the fact. */
cx_err ledger__rule_digest(lapply *a)
{
    const char *date = r__str(a->e->body, "date");
    sqlite3_stmt *st = ledger__stmt(a->c, "SELECT idx FROM ledger_audit_digests "
                                          "WHERE authority=?1 AND date=?2");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, a->e->org);
    r__bind_text(st, 2, date);
    int rc = sqlite3_step(st);
    long long have = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return CX_EDB;
    if (have >= 0)
        DENY(a, 409, "state_conflict", "/body/date",
             "%s anchored the audit digest of %s already (entry %lld)", a->e->org, date, have);
    st = ledger__stmt(a->c, "INSERT INTO ledger_audit_digests(authority, date, idx) "
                            "VALUES(?1, ?2, ?3)");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, a->e->org);
    r__bind_text(st, 2, date);
    sqlite3_bind_int64(st, 3, a->idx);
    return r__exec(st);
}

cx_err ledger__rule_finding(lapply *a)
{
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(a->e->body, "evidence"), i, x)
    {
        if (json_integer_value(x) < a->idx)
            continue;
        char p[48];
        snprintf(p, sizeof p, "/body/evidence/%zu", i);
        DENY(a, 409, "state_conflict", p, "entry %lld is not on the ledger before this finding",
             (long long)json_integer_value(x));
    }
    return CX_OK;
}
