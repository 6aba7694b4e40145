/* Cross-document findings: where ledger entries and stored declarations
 * meet, the node records what does not add up. Findings are derived data
 * (they depend on declarations, which are not on the log), recorded once per
 * (rule, declaration, subject) and raise the declaration's risk lane; a
 * customs officer confirms one on the log with a signed `finding` entry.
 *
 *   origin_mismatch          declared origin ≠ the cited certificate's country
 *   certificate_unknown      a cited certificate is not on the ledger
 *   revoked_certificate_used a cited certificate is (or becomes) revoked
 *   containers_not_on_bl     containers of the declaration missing from its BL
 *   payment_below_duty       receipts for a declaration below its assessed duty
 *   suspended_aeo_used       a declaration names an operator whose AEO status
 *                            is suspended or revoked
 *   mirror_value_mismatch    export and import declarations of one transport
 *                            document differ in value beyond the tolerance */
#include "ledger_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *f__str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

const char *ledger__findings_scope(const cx_principal *who)
{
    if (!who || who->role == CX_ROLE_ADMIN || who->role == CX_ROLE_OFFICER)
        return NULL;
    return who->org;
}

cx_err ledger__decl_org(store_conn *c, const char *decl_id, char org[CX_ORG_MAX + 1])
{
    org[0] = '\0';
    if (!decl_id || !decl_id[0])
        return CX_OK;
    /* one column of the declare module's view, not its whole document parsed:
     * this runs for every finding an entry raises, and again for each one a
     * non-customs caller is shown */
    sqlite3_stmt *st = store_stmt(c, "SELECT org FROM " DECL_VIEW " WHERE id = ?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, decl_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(org, CX_ORG_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

/* How a finding is recorded: whether the declaration's lane follows it,
 * and whether it is for customs alone (it rests on another organisation's
 * declaration: the declarant must learn nothing of it, not even that it
 * exists — no finding to read, no reason, no lane it can see move). */
enum { F_RAISE = 1, F_CUSTOMS_ONLY = 2 };

static cx_err f__insert(store_conn *w, const char *source, const char *rule, const char *severity,
                        const char *decl_id, int64_t idx, const char *subject,
                        const char *message, json_t *details, json_t *out, int how)
{
    if (!details)
        details = json_object();
    /* who may read it besides customs: the org that lodged the declaration */
    char org[CX_ORG_MAX + 1] = "";
    cx_err oe = how & F_CUSTOMS_ONLY ? CX_OK : ledger__decl_org(w, decl_id, org);
    if (oe != CX_OK) {
        json_decref(details);
        return oe;
    }
    char *dtext = cx_json_dump(details, NULL);
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO ledger_findings(rule, severity, "
                                     "declaration_id, entry_idx, subject, message, details, "
                                     "source, created_at, org) "
                                     "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)");
    if (!st || !dtext) {
        free(dtext);
        json_decref(details);
        return st ? CX_ENOMEM : CX_EDB;
    }
    if (org[0])
        sqlite3_bind_text(st, 10, org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, severity, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, decl_id ? decl_id : "", -1, SQLITE_STATIC);
    if (idx >= 0)
        sqlite3_bind_int64(st, 4, idx);
    sqlite3_bind_text(st, 5, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, message, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, dtext, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, now, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    free(dtext);
    if (rc != SQLITE_DONE) {
        json_decref(details);
        return CX_EDB;
    }
    if (sqlite3_changes(store_conn_db(w)) == 0) { /* already recorded */
        json_decref(details);
        return CX_OK;
    }
    int64_t id = sqlite3_last_insert_rowid(store_conn_db(w));
    if ((how & F_RAISE) && decl_id && decl_id[0] && strcmp(severity, "low") != 0) {
        char feature[80];
        snprintf(feature, sizeof feature, "ledger.%s", rule);
        json_t *reason = json_pack("{s:s,s:i,s:s}", "feature", feature, "contribution", 1,
                                   "detail", message);
        if (reason && (how & F_CUSTOMS_ONLY))
            json_object_set_new(reason, "customs_only", json_true());
        cx_err e = decl_raise_lane_in(w, decl_id, strcmp(severity, "high") == 0 ? "red" : "yellow",
                                      reason);
        json_decref(reason);
        if (e != CX_OK && e != CX_ENOTFOUND) {
            json_decref(details);
            return e;
        }
    }
    json_t *f = json_pack("{s:I,s:s,s:s,s:s?,s:s,s:s,s:o,s:s,s:s}", "id", (json_int_t)id, "rule",
                          rule, "severity", severity, "declaration_id",
                          decl_id && decl_id[0] ? decl_id : NULL, "subject", subject, "message",
                          message, "details", details, "source", source, "created_at", now);
    if (f && idx >= 0)
        json_object_set_new(f, "entry_index", json_integer(idx));
    else if (f)
        json_object_set_new(f, "entry_index", json_null());
    if (f && out && !(how & F_CUSTOMS_ONLY))
        json_array_append_new(out, f);
    else
        json_decref(f);
    return CX_OK;
}

cx_err ledger__finding_insert(store_conn *w, const char *source, const char *rule,
                              const char *severity, const char *decl_id, int64_t idx,
                              const char *subject, const char *message, json_t *details,
                              json_t *out)
{
    return f__insert(w, source, rule, severity, decl_id, idx, subject, message, details, out,
                     F_RAISE);
}

/* A detector finding: recorded and raising the lane. */
static cx_err f__raise(store_conn *w, const char *rule, const char *severity, const char *decl_id,
                       int64_t idx, const char *subject, json_t *details, json_t *out,
                       const char *fmt, ...) CX_PRINTF(9, 10);
static cx_err f__raise(store_conn *w, const char *rule, const char *severity, const char *decl_id,
                       int64_t idx, const char *subject, json_t *details, json_t *out,
                       const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ledger__finding_insert(w, "detector", rule, severity, decl_id, idx, subject, msg,
                                  details, out);
}

/* ---- facts of a declaration ------------------------------------------------------------------ */

bool ledger__hs_match(const char *coo_hs_list, const char *item_hs)
{
    if (!coo_hs_list || !item_hs)
        return false;
    char buf[100 * 11 + 1];
    snprintf(buf, sizeof buf, "%s", coo_hs_list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        size_t n = strlen(t) < strlen(item_hs) ? strlen(t) : strlen(item_hs);
        if (n >= 6 && strncmp(t, item_hs, 6) == 0)
            return true;
    }
    return false;
}

/* Sum of item values when every item is in one currency; false otherwise. */
static bool f__total_value(const json_t *decl, double *total, const char **currency)
{
    *total = 0;
    *currency = NULL;
    size_t i;
    const json_t *it;
    json_array_foreach(json_object_get(decl, "items"), i, it)
    {
        const char *cur = f__str(it, "currency");
        if (!cur || (*currency && strcmp(cur, *currency) != 0))
            return false;
        *currency = cur;
        *total += json_number_value(json_object_get(it, "value"));
    }
    return *currency != NULL;
}

/* Duty assessed on the declaration in currency: Σ value × tax_rate / 100
 * over the items priced in it. */
static bool f__duty(const json_t *decl, const char *currency, double *duty)
{
    *duty = 0;
    bool any = false;
    size_t i;
    const json_t *it;
    json_array_foreach(json_object_get(decl, "items"), i, it)
    {
        const char *cur = f__str(it, "currency");
        if (!cur || strcmp(cur, currency) != 0)
            continue;
        any = true;
        *duty += json_number_value(json_object_get(it, "value")) *
                 json_number_value(json_object_get(it, "tax_rate")) / 100.0;
    }
    return any;
}

static double f__round2(double x)
{
    return round(x * 100.0) / 100.0;
}

/* ---- the checks ------------------------------------------------------------------------------ */

static cx_err f__certificates(store_conn *w, const json_t *decl, const char *decl_id,
                              const json_t *certs, int64_t idx, json_t *out)
{
    size_t i;
    const json_t *c;
    json_array_foreach(certs, i, c)
    {
        const char *issuer = f__str(c, "issuer"), *number = f__str(c, "number");
        char subject[160];
        snprintf(subject, sizeof subject, "coo:%s/%s", issuer, number);
        sqlite3_stmt *st = store_stmt(w, "SELECT country, hs, status, revoke_idx FROM ledger_coos "
                                         "WHERE issuer=?1 AND number=?2");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, issuer, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            sqlite3_reset(st);
            if (rc != SQLITE_DONE)
                return CX_EDB;
            cx_err e = f__raise(w, "certificate_unknown", "medium", decl_id, idx, subject,
                                json_pack("{s:s,s:s}", "issuer", issuer, "number", number), out,
                                "declaration %s cites certificate of origin %s of %s, which is "
                                "not on the ledger",
                                decl_id, number, issuer);
            if (e != CX_OK)
                return e;
            continue;
        }
        char country[8], hs[100 * 11 + 1], status[16];
        snprintf(country, sizeof country, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(hs, sizeof hs, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(st, 2));
        int64_t revoked_at = sqlite3_column_int64(st, 3);
        sqlite3_reset(st);
        cx_err e = CX_OK;
        if (strcmp(status, "revoked") == 0)
            e = f__raise(w, "revoked_certificate_used", "high", decl_id, idx, subject,
                         json_pack("{s:s,s:s,s:I}", "issuer", issuer, "number", number,
                                   "revoked_at_entry", (json_int_t)revoked_at),
                         out,
                         "declaration %s relies on certificate of origin %s of %s, revoked at "
                         "entry %lld",
                         decl_id, number, issuer, (long long)revoked_at);
        size_t k;
        const json_t *it;
        json_array_foreach(json_object_get(decl, "items"), k, it)
        {
            const char *origin = f__str(it, "country_of_origin");
            if (e != CX_OK || !origin || !ledger__hs_match(hs, f__str(it, "hs_code")) ||
                strcmp(origin, country) == 0)
                continue;
            char sub[200], item[32];
            snprintf(sub, sizeof sub, "%s:item:%zu", subject, k);
            snprintf(item, sizeof item, "/items/%zu", k);
            e = f__raise(w, "origin_mismatch", "high", decl_id, idx, sub,
                         json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "item", item, "hs_code",
                                   f__str(it, "hs_code"), "declared_origin", origin,
                                   "certificate_origin", country, "issuer", issuer, "number",
                                   number),
                         out,
                         "item %zu of declaration %s declares origin %s but certificate %s of %s "
                         "certifies %s",
                         k + 1, decl_id, origin, number, issuer, country);
        }
        if (e != CX_OK)
            return e;
    }
    return CX_OK;
}

static cx_err f__containers(store_conn *w, const json_t *decl, const char *decl_id, int64_t idx,
                            json_t *out)
{
    const json_t *td = json_object_get(decl, "transport_document");
    const char *number = f__str(td, "number");
    if (!number || !f__str(td, "type") || strcmp(f__str(td, "type"), "BL") != 0)
        return CX_OK;
    sqlite3_stmt *st = store_stmt(w, "SELECT containers, carrier FROM ledger_bls WHERE number=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    json_t *on_bl = rc == SQLITE_ROW
                        ? json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL)
                        : NULL;
    char carrier[CX_ORG_MAX + 1] = "";
    if (rc == SQLITE_ROW)
        snprintf(carrier, sizeof carrier, "%s", (const char *)sqlite3_column_text(st, 1));
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return CX_EDB;
    if (!on_bl)
        return CX_OK;
    json_t *missing = json_array();
    size_t i, k;
    const json_t *c, *b;
    json_array_foreach(json_object_get(decl, "containers"), i, c)
    {
        bool found = false;
        json_array_foreach(on_bl, k, b) found = found || json_equal(b, c);
        if (!found)
            json_array_append(missing, (json_t *)c);
    }
    cx_err e = CX_OK;
    if (json_array_size(missing)) {
        char subject[100];
        snprintf(subject, sizeof subject, "bl:%s", number);
        char list[256] = "";
        json_array_foreach(missing, i, c)
        {
            if (list[0])
                strncat(list, ", ", sizeof list - strlen(list) - 1);
            strncat(list, json_string_value(c), sizeof list - strlen(list) - 1);
        }
        e = f__raise(w, "containers_not_on_bl", "high", decl_id, idx, subject,
                     json_pack("{s:s,s:s,s:O,s:O}", "bill_of_lading", number, "carrier", carrier,
                               "missing", missing, "on_bill", on_bl),
                     out,
                     "declaration %s lists container%s %s that bill of lading %s (issued by %s) "
                     "does not carry",
                     decl_id, json_array_size(missing) == 1 ? "" : "s", list, number, carrier);
    }
    json_decref(missing);
    json_decref(on_bl);
    return e;
}

static cx_err f__aeo(store_conn *w, const json_t *decl, const char *decl_id, int64_t idx,
                     json_t *out)
{
    static const char *const roles[] = {"declarant_id", "importer_id", "exporter_id"};
    for (size_t r = 0; r < 3; r++) {
        const char *op = f__str(decl, roles[r]);
        if (!op)
            continue;
        sqlite3_stmt *st = store_stmt(w, "SELECT authority, status, program, idx FROM ledger_aeo "
                                         "WHERE operator_id=?1 AND status IN ('suspended', "
                                         "'revoked') ORDER BY authority");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
        int rc;
        cx_err e = CX_OK;
        /* collect first: inserting while stepping would reuse statements */
        char auth[4][CX_ORG_MAX + 1], status[4][16], program[4][40];
        int64_t at[4];
        int n = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 4) {
            snprintf(auth[n], sizeof auth[n], "%s", (const char *)sqlite3_column_text(st, 0));
            snprintf(status[n], sizeof status[n], "%s", (const char *)sqlite3_column_text(st, 1));
            snprintf(program[n], sizeof program[n], "%s", (const char *)sqlite3_column_text(st, 2));
            at[n] = sqlite3_column_int64(st, 3);
            n++;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return CX_EDB;
        for (int k = 0; k < n && e == CX_OK; k++) {
            char subject[160];
            snprintf(subject, sizeof subject, "aeo:%s/%s", auth[k], op);
            e = f__raise(w, "suspended_aeo_used", strcmp(status[k], "revoked") == 0 ? "high" : "medium",
                         decl_id, idx, subject,
                         json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "operator_id", op, "as",
                                   roles[r], "authority", auth[k], "status", status[k], "program",
                                   program[k], "since_entry", (json_int_t)at[k]),
                         out, "declaration %s names operator %s (%s), whose AEO status from %s is %s",
                         decl_id, op, roles[r], auth[k], status[k]);
        }
        if (e != CX_OK)
            return e;
    }
    return CX_OK;
}

/* Declarations of the opposite type on the same transport document that
 * the mirror check compares: the newest, read from declare's index; the
 * newest that differs beyond the tolerance (same currency) makes the pair
 * recorded. */
#define F_MIRROR_MAX 16

typedef struct {
    const char *id;
    double mine;
    const char *cur;
    char other[CX_ID_LEN + 1]; /* the newest of the opposite type beyond the tolerance */
    char other_org[CX_ORG_MAX + 1];
    double theirs, diff;
} mirror_ctx;

static bool f__mirror_collect(void *ctx, const char *id, const char *org, double theirs,
                              const char *cur)
{
    mirror_ctx *m = ctx;
    if (strcmp(id, m->id) == 0 || !cur || strcmp(cur, m->cur) != 0)
        return true;
    double hi = m->mine > theirs ? m->mine : theirs;
    double diff = hi > 0 ? fabs(m->mine - theirs) / hi : 0;
    if (diff <= LEDGER_MIRROR_TOLERANCE)
        return true;
    snprintf(m->other, sizeof m->other, "%s", id);
    snprintf(m->other_org, sizeof m->other_org, "%s", org ? org : "");
    m->theirs = theirs;
    m->diff = diff;
    return false;
}

/* The mirror finding on one declaration of the pair, in its own terms. */
static cx_err f__mirror_record(store_conn *w, const char *decl_id, const char *type,
                               const char *other, double value, const char *cur,
                               const char *number, double diff, int64_t idx, const char *subject,
                               json_t *out, int how)
{
    char msg[400];
    snprintf(msg, sizeof msg,
             "the mirror %s declaration of transport document %s differs in value from this %s "
             "declaration by %.1f%% (tolerance %.0f%%)",
             other, number, type, diff * 100, LEDGER_MIRROR_TOLERANCE * 100);
    return f__insert(w, "detector", "mirror_value_mismatch", "high", decl_id, idx, subject, msg,
                     json_pack("{s:s,s:s,s:s,s:f,s:s,s:f,s:f}", "transport_document", number,
                               "declaration", type, "mirror", other, "value", f__round2(value),
                               "currency", cur, "difference", round(diff * 1000) / 1000,
                               "tolerance", LEDGER_MIRROR_TOLERANCE),
                     out, how);
}

/* One subject for the pair on both sides: officers see the two findings
 * side by side, and anchoring either declaration later finds the pair
 * recorded. It names neither declaration. */
static void f__mirror_subject(const char *number, const char *export_id, const char *import_id,
                              char *subject, size_t len)
{
    uint8_t h[32];
    crypto_hash_sha256_state hs;
    crypto_hash_sha256_init(&hs);
    crypto_hash_sha256_update(&hs, (const uint8_t *)"customs.ledger.mirror", 22);
    crypto_hash_sha256_update(&hs, (const uint8_t *)export_id, strlen(export_id) + 1);
    crypto_hash_sha256_update(&hs, (const uint8_t *)import_id, strlen(import_id));
    crypto_hash_sha256_final(&hs, h);
    char pair[17];
    cx_hex(h, 8, pair);
    snprintf(subject, len, "mirror:%s:%s", number, pair);
}

static cx_err f__mirror(store_conn *w, const json_t *decl, const char *decl_id, int64_t idx,
                        json_t *out)
{
    const char *type = f__str(decl, "type");
    const char *number = f__str(json_object_get(decl, "transport_document"), "number");
    if (!number || !type || (strcmp(type, "export") != 0 && strcmp(type, "import") != 0))
        return CX_OK;
    bool i_export = strcmp(type, "export") == 0;
    const char *other = i_export ? "import" : "export";
    double mine;
    const char *cur;
    if (!f__total_value(decl, &mine, &cur))
        return CX_OK;
    /* only the opposite type, newest first, at most F_MIRROR_MAX of them,
     * stopping at the first beyond the tolerance: a bill of lading shared
     * by 100,000 declarations costs at most 16 rows. One pair is the
     * signal; more would let declarations flooding a bill make every
     * arrival on it write dozens of rows. */
    mirror_ctx m = {.id = decl_id, .mine = mine, .cur = cur};
    cx_err e = decl_find_mirrors(w, number, other, F_MIRROR_MAX, f__mirror_collect, &m);
    if (e != CX_OK || !m.other[0])
        return e;
    const char *o_id = m.other, *o_org = m.other_org;
    const char *my_org = f__str(decl, "org");
    char subject[128];
    f__mirror_subject(number, i_export ? decl_id : o_id, i_export ? o_id : decl_id, subject,
                      sizeof subject);
    /* The arriving declaration (its own org lodged or anchored it) takes the
     * red lane. The other one, possibly another org's, gets the finding for
     * officers but no lane change: nobody moves a competitor's declaration
     * by lodging a mismatching mirror. When the two are of different
     * organisations, both findings and the raise are for customs alone: the
     * gap is the other's value within a few percent, and a reply, a reason
     * or a lane the declarant can see would tell it the other declaration
     * exists. */
    bool mixed = !my_org || strcmp(my_org, o_org) != 0;
    int how = mixed ? F_CUSTOMS_ONLY : 0;
    e = f__mirror_record(w, decl_id, type, other, mine, cur, number, m.diff, idx, subject, out,
                         how | F_RAISE);
    if (e == CX_OK)
        e = f__mirror_record(w, o_id, other, type, m.theirs, cur, number, m.diff, -1, subject,
                             out, how);
    return e;
}

/* Everything a declaration's own content can be checked against. */
static cx_err f__declaration(store_conn *w, const json_t *decl, const char *decl_id, int64_t idx,
                             json_t *out)
{
    cx_err e = f__containers(w, decl, decl_id, idx, out);
    if (e == CX_OK)
        e = f__aeo(w, decl, decl_id, idx, out);
    if (e == CX_OK)
        e = f__mirror(w, decl, decl_id, idx, out);
    return e;
}

/* payment_below_duty from the assessment a module keeps (ledger_set_duty):
 * everything paid for the declaration, in national currency, against its
 * assessed total. CX_ENOTFOUND when nothing was assessed. */
static cx_err f__payment_assessed(ledger *lg, store_conn *w, const lentry *en, int64_t idx,
                                  json_t *out)
{
    const json_t *b = en->body;
    const char *decl_id = f__str(b, "declaration_id");
    ledger_duty d;
    if (!lg->duty)
        return CX_ENOTFOUND;
    cx_err e = lg->duty(lg->duty_ctx, w, decl_id, &d);
    if (e != CX_OK || d.paid >= d.assessed)
        return e;
    double scale = pow(10, d.exp);
    char subject[160];
    snprintf(subject, sizeof subject, "receipt:%s/%s", en->org, f__str(b, "receipt_no"));
    return f__raise(w, "payment_below_duty", "high", decl_id, idx, subject,
                    json_pack("{s:s,s:s,s:f,s:f,s:f,s:s,s:b}", "receipt_no",
                              f__str(b, "receipt_no"), "bank", en->org, "assessed",
                              (double)d.assessed / scale, "paid", (double)d.paid / scale,
                              "shortfall", (double)(d.assessed - d.paid) / scale, "currency",
                              d.currency, "from_assessment", 1),
                    out,
                    "payments recorded for declaration %s total %.*f %s, below its assessed "
                    "duties and taxes of %.*f %s",
                    decl_id, d.exp, (double)d.paid / scale, d.currency, d.exp,
                    (double)d.assessed / scale, d.currency);
}

static cx_err f__payment(ledger *lg, store_conn *w, const lentry *en, const json_t *decl,
                         int64_t idx, json_t *out)
{
    cx_err x = f__payment_assessed(lg, w, en, idx, out);
    if (x != CX_ENOTFOUND)
        return x;
    const json_t *b = en->body;
    const char *decl_id = f__str(b, "declaration_id"), *cur = f__str(b, "currency");
    double assessed;
    if (!f__duty(decl, cur, &assessed))
        return CX_OK; /* no item priced in the payment's currency */
    sqlite3_stmt *st = store_stmt(w, "SELECT coalesce(sum(amount), 0) FROM ledger_payments "
                                     "WHERE declaration_id=?1 AND currency=?2");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, decl_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, cur, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    double paid = rc == SQLITE_ROW ? sqlite3_column_double(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return CX_EDB;
    if (paid + LEDGER_DUTY_TOLERANCE >= f__round2(assessed))
        return CX_OK;
    char subject[160];
    snprintf(subject, sizeof subject, "receipt:%s/%s", en->org, f__str(b, "receipt_no"));
    return f__raise(w, "payment_below_duty", "high", decl_id, idx, subject,
                    json_pack("{s:s,s:s,s:f,s:f,s:f,s:s}", "receipt_no", f__str(b, "receipt_no"),
                              "bank", en->org, "assessed", f__round2(assessed), "paid",
                              f__round2(paid), "shortfall", f__round2(assessed - paid), "currency",
                              cur),
                    out,
                    "payments recorded for declaration %s total %.2f %s, below the assessed duty "
                    "of %.2f %s",
                    decl_id, paid, cur, f__round2(assessed), cur);
}

/* A certificate revoked after declarations relied on it. */
static cx_err f__revoked(store_conn *w, const lentry *en, int64_t idx, json_t *out)
{
    const char *number = f__str(en->body, "number");
    sqlite3_stmt *st = store_stmt(w, "SELECT declaration_id FROM ledger_anchor_certs "
                                     "WHERE issuer=?1 AND number=?2 ORDER BY idx LIMIT 1000");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, en->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    json_t *ids = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(ids, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_reset(st);
    cx_err e = rc == SQLITE_DONE ? CX_OK : CX_EDB;
    char subject[160];
    snprintf(subject, sizeof subject, "coo:%s/%s", en->org, number);
    size_t i;
    const json_t *id;
    json_array_foreach(ids, i, id)
    {
        if (e != CX_OK)
            break;
        e = f__raise(w, "revoked_certificate_used", "high", json_string_value(id), idx, subject,
                     json_pack("{s:s,s:s,s:I,s:s}", "issuer", en->org, "number", number,
                               "revoked_at_entry", (json_int_t)idx, "reason",
                               f__str(en->body, "reason")),
                     out,
                     "certificate of origin %s of %s, which declaration %s relies on, was revoked: "
                     "%s",
                     number, en->org, json_string_value(id), f__str(en->body, "reason"));
    }
    json_decref(ids);
    return e;
}

/* Declarations lodged before their bill of lading reached the ledger that
 * its issue checks: the newest, bounded like every lookup by a number a
 * caller chooses. */
#define F_BL_DECLS 1000

typedef struct {
    store_conn *w;
    int64_t idx;
    json_t *out;
    cx_err e;
} bl_ctx;

static bool f__bl_decl(void *ctx, const char *id, const char *doc, size_t len)
{
    bl_ctx *b = ctx;
    json_t *d = json_loadb(doc, len, 0, NULL);
    if (d)
        b->e = f__containers(b->w, d, id, b->idx, b->out);
    json_decref(d);
    return b->e == CX_OK;
}

cx_err ledger__findings_entry(ledger *lg, store_conn *w, const lentry *e, int64_t idx,
                              const json_t *decl, json_t *out)
{
    switch (e->type) {
    case LT_DECL_ANCHOR: {
        if (!decl)
            return CX_OK;
        const char *id = f__str(e->body, "declaration_id");
        cx_err x = f__certificates(w, decl, id, json_object_get(e->body, "certificates"), idx, out);
        return x == CX_OK ? f__declaration(w, decl, id, idx, out) : x;
    }
    case LT_PAYMENT: return decl ? f__payment(lg, w, e, decl, idx, out) : CX_OK;
    case LT_COO_REVOKE: return f__revoked(w, e, idx, out);
    case LT_BL_ISSUE: {
        /* declarations lodged before their bill of lading reached the ledger */
        bl_ctx b = {w, idx, out, CX_OK};
        cx_err x = decl_find_by_transport_doc(w, f__str(e->body, "number"), F_BL_DECLS,
                                              f__bl_decl, &b);
        return x != CX_OK ? x : b.e;
    }
    case LT_FINDING: {
        char subject[40];
        snprintf(subject, sizeof subject, "entry:%lld", (long long)idx);
        json_t *ev = json_object_get(e->body, "evidence");
        json_t *details = json_pack("{s:s,s:o}", "author", e->org, "evidence",
                                    ev ? json_incref(ev) : json_array());
        return ledger__finding_insert(w, "ledger", f__str(e->body, "rule"),
                                      f__str(e->body, "severity"),
                                      f__str(e->body, "declaration_id"), idx, subject,
                                      f__str(e->body, "summary"), details, out);
    }
    default: return CX_OK;
    }
}

/* ---- declarations arriving after the ledger entries they meet ---------------------------------- */

static cx_err f__indexed(void *ctx, store_conn *w, int64_t seq, const json_t *doc)
{
    const char *id = f__str(doc, "id");
    if (!id)
        return CX_OK;
    /* findings here only run against committed-or-batched ledger tables,
     * which exist once the ledger's migrations ran */
    return f__declaration(w, doc, id, -1, NULL);
}

/* after risk's: the lane a finding raises is raised over the scored one */
const decl_hooks ledger__decl_hooks_template = {
    .name = "ledger", .order = DECL_ORDER_LEDGER, .indexed = f__indexed};
