/* The ledger on revenue's side, inside the ledger's append jobs:
 * payment.receipt entries count as payments; a certificate of origin that
 * comes to name a declaration (its anchor's certificates, a coo.issue
 * naming it) or is revoked re-assesses the declarations it touches; and the
 * ledger's payment_below_duty finding reads the assessment. */
#include "revenue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Declarations one revocation re-assesses in its job, at most: the rest
 * keep their assessment until an officer re-assesses (logged). */
#define LINK_REVOKE_MAX 1000

static const char *link__str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The arrival number of an assessed declaration, its row made if the
 * worker has not yet; CX_ENOTFOUND if none. */
static cx_err link__seq(store_conn *w, const char *decl_id, int64_t *seq)
{
    /* through declare's id index: one index fewer to write per submission */
    sqlite3_stmt *st = store_stmt(w, "SELECT seq FROM " DECL_VIEW " WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, decl_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *seq = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return rev__row_ensure_in(w, *seq);
    return rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
}

typedef struct {
    char *text;
    size_t len;
} link_doc;

static bool link__copy(void *ctx, const char *id, const char *doc, size_t len)
{
    link_doc *d = ctx;
    (void)id;
    if ((d->text = malloc(len + 1))) {
        memcpy(d->text, doc, len);
        d->text[len] = '\0';
        d->len = len;
    }
    return false;
}

/* What a re-assessment changes: lines, preferences, amounts, problems. */
static bool link__same(const json_t *a, const json_t *b)
{
    static const char *const keys[] = {"items", "total", "problems"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_equal(json_object_get(a, keys[i]), json_object_get(b, keys[i])))
            return false;
    return true;
}

/* Re-assesses seq (declaration decl_id) inside the ledger's job when the
 * ledger changed what proves its origin; nothing when the result is the
 * same. why is the version's reason. */
static cx_err link__reassess(rev_service *r, store_conn *w, int64_t seq, const char *decl_id,
                             const char *why, bool revoked)
{
    link_doc d = {NULL, 0};
    cx_err e = decl_doc(w, decl_id, link__copy, &d);
    if (e != CX_OK || !d.text) {
        free(d.text);
        return e == CX_ENOTFOUND ? CX_OK : e ? e : CX_ENOMEM;
    }
    char msg[200];
    json_t *doc = decl_parse(d.text, d.len, msg, sizeof msg);
    json_t *a = doc ? rev__assess_doc(r, w, doc, d.text, d.len, false) : NULL;
    free(d.text);
    json_decref(doc);
    if (!a)
        return CX_ENOMEM;
    sqlite3_stmt *st = store_stmt(w, "SELECT total FROM revenue_assessments WHERE seq=?1");
    json_t *old = NULL;
    int64_t before = 0;
    if (st) {
        sqlite3_bind_int64(st, 1, seq);
        if (store_next(st, &e)) {
            before = sqlite3_column_int64(st, 0);
            char *text = NULL;
            if (decl_member_get(r->d, w, seq, "assessment", true, &text) == CX_OK && text)
                old = json_loads(text, 0, NULL);
            free(text);
        }
        sqlite3_reset(st);
    }
    if (!st || e != CX_OK || (old && link__same(old, a))) {
        json_decref(old);
        json_decref(a);
        return st ? e : CX_EDB;
    }
    json_decref(old);
    rev_account after;
    e = rev__reassess(r->d, w, seq, a, why, "ledger", &after);
    json_decref(a);
    if (e == CX_OK)
        e = rev__tell_reassessed(r, w, seq);
    if (e == CX_OK && revoked) {
        /* a finding on the declaration: the preference it had is gone */
        char b[40], t[40], detail[400];
        rev_amount_format(before, after.exp, true, b);
        rev_amount_format(after.total, after.exp, true, t);
        snprintf(detail, sizeof detail, "%s: re-assessed from %s to %s %s", why, b, t,
                 after.currency);
        json_t *reason = json_pack("{s:s,s:i,s:s}", "feature", "revenue.certificate_revoked",
                                   "contribution", 1, "detail", detail);
        e = reason ? decl_raise_lane_in(w, decl_id, "yellow", reason) : CX_ENOMEM;
        json_decref(reason);
    }
    return e;
}

/* A revoked certificate: every declaration whose assessment it proved. */
static cx_err link__revoked(rev_service *r, store_conn *w, const char *issuer, const json_t *body)
{
    const char *number = link__str(body, "number");
    /* every certificate a pending declaration names is in the table first */
    cx_err e = number ? rev__derive_in(w) : CX_OK;
    if (e != CX_OK)
        return e;
    sqlite3_stmt *st = store_stmt(w, "SELECT c.seq, a.decl_id FROM revenue_certificates c "
                                     "JOIN revenue_assessments a ON a.seq = c.seq "
                                     "WHERE c.issuer=?1 AND c.number=?2 ORDER BY c.seq "
                                     "LIMIT ?3");
    if (!st || !number)
        return st ? CX_OK : CX_EDB;
    sqlite3_bind_text(st, 1, issuer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, LINK_REVOKE_MAX + 1);
    struct hit {
        int64_t seq;
        char id[CX_ID_LEN + 1];
    } *hits = calloc(LINK_REVOKE_MAX + 1, sizeof *hits);
    size_t n = 0;
    /* a step error fails the job (it is retried): never revoke only some */
    while (hits && n <= LINK_REVOKE_MAX && store_next(st, &e)) {
        hits[n].seq = sqlite3_column_int64(st, 0);
        snprintf(hits[n].id, sizeof hits[n].id, "%s", (const char *)sqlite3_column_text(st, 1));
        n++;
    }
    sqlite3_reset(st);
    if (!hits || e != CX_OK) {
        free(hits);
        return hits ? e : CX_ENOMEM;
    }
    if (n > LINK_REVOKE_MAX) {
        cx_log(CX_LOG_WARN, "revenue: certificate %s/%s proved more than %d assessments; the "
                            "first %d are re-assessed, re-assess the others",
               issuer, number, LINK_REVOKE_MAX, LINK_REVOKE_MAX);
        n = LINK_REVOKE_MAX;
    }
    char why[300];
    snprintf(why, sizeof why, "certificate of origin %s/%s revoked (%s)", issuer, number,
             link__str(body, "reason") ? link__str(body, "reason") : "no reason given");
    for (size_t i = 0; i < n && e == CX_OK; i++)
        e = link__reassess(r, w, hits[i].seq, hits[i].id, why, true);
    free(hits);
    return e;
}

static cx_err link__watch(void *ctx, store_conn *w, const char *type, const char *org,
                          const json_t *body, int64_t index)
{
    rev_service *r = ctx;
    const char *decl_id = link__str(body, "declaration_id");
    if (strcmp(type, "coo.revoke") == 0)
        return link__revoked(r, w, org, body);
    bool pay = strcmp(type, "payment.receipt") == 0;
    bool proof = strcmp(type, "coo.issue") == 0 ||
                 (strcmp(type, "declaration.anchor") == 0 &&
                  json_array_size(json_object_get(body, "certificates")) > 0);
    if (!decl_id || (!pay && !proof))
        return CX_OK;
    int64_t seq;
    cx_err e = link__seq(w, decl_id, &seq);
    if (e != CX_OK)
        return e == CX_ENOTFOUND ? CX_OK : e; /* not assessed here: nothing to count */
    if (pay)
        return rev__ledger_payment(r, w, seq, org, body, index);
    char why[200];
    snprintf(why, sizeof why, "the ledger's %s at entry %lld names a certificate of origin", type,
             (long long)index);
    return link__reassess(r, w, seq, decl_id, why, false);
}

static cx_err link__duty(void *ctx, store_conn *w, const char *decl_id, ledger_duty *out)
{
    (void)ctx;
    int64_t seq;
    cx_err e = link__seq(w, decl_id, &seq);
    rev_account a;
    if (e == CX_OK)
        e = rev__account_read(w, seq, &a);
    if (e != CX_OK)
        return e;
    out->assessed = a.total;
    out->paid = a.paid - a.refunded;
    snprintf(out->currency, sizeof out->currency, "%s", a.currency);
    out->exp = a.exp;
    return CX_OK;
}

cx_err rev__ledger_join(rev_service *r)
{
    ledger_set_duty(r->cfg.ledger, link__duty, r);
    return ledger_watch(r->cfg.ledger, link__watch, r);
}
