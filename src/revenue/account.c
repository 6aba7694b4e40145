/* A declaration's account: its assessment (and versions), what was paid,
 * refunded and drawn on guarantees, and the release check. Every change
 * runs in a writer job, so a payment and a release cannot both pass on the
 * same old balance. */
#include "revenue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool rev__minor(const json_t *j, int exp, int64_t *out)
{
    rev_dec d;
    if (!rev_dec_from_json(j, NULL, 0, &d) || d.scale > exp)
        return false;
    int64_t v = d.coef;
    for (int k = d.scale; k < exp; k++)
        v *= 10;
    *out = v;
    return true;
}

int64_t rev__amount_of(const json_t *a, const char *k, int exp)
{
    int64_t v = 0;
    rev__minor(json_object_get(a, k), exp, &v);
    return v;
}

json_t *rev__assessment_public(const json_t *assessment)
{
    /* shallow copies: the members are shared, never changed (no deep copy) */
    json_t *p = json_copy((json_t *)assessment);
    json_t *findings = json_array();
    if (!p || !findings) {
        json_decref(p);
        json_decref(findings);
        return NULL;
    }
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(assessment, "findings"), i, f)
    {
        const char *rule = json_string_value(json_object_get(f, "rule"));
        if (!rule || strcmp(rule, "undervaluation") != 0)
            json_array_append(findings, f);
    }
    if (json_object_get(p, "findings"))
        json_object_set(p, "findings", findings);
    json_decref(findings);
    json_object_del(p, "revenue_at_risk");
    return p;
}

cx_err rev__assessment_insert(store_conn *w, int64_t seq, const json_t *doc,
                              const json_t *assessment, const char *reason, const char *by)
{
    /* the lean row, and the document declare keeps with the declaration */
    rev_row row;
    char *full = NULL, *shown = NULL;
    cx_err e = rev__row_of(seq, doc, assessment, &row);
    if (e == CX_OK && (e = rev__member_texts(assessment, &full, &shown)) == CX_OK)
        e = rev__row_insert(w, &row, reason, by);
    if (e == CX_OK)
        e = decl_member_set_in(w, seq, "assessment", full, shown);
    free(full);
    free(shown);
    rev__row_free(&row);
    return e;
}

cx_err rev__assessment_read(decl_service *d, store_conn *c, int64_t seq, bool officer,
                            json_t **out)
{
    /* the document from declare (officers: the full form, others the
     * public one); officers also get revenue_at_risk from its column */
    *out = NULL;
    sqlite3_stmt *st = store_stmt(c, "SELECT at_risk, currency FROM revenue_assessments "
                                     "WHERE seq=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    cx_err e = CX_OK;
    if (!store_next(st, &e)) {
        sqlite3_reset(st);
        return e != CX_OK ? e : CX_ENOTFOUND;
    }
    int64_t at_risk = sqlite3_column_int64(st, 0);
    int exp = rev_minor_unit((const char *)sqlite3_column_text(st, 1));
    sqlite3_reset(st);
    char *text = NULL;
    e = decl_member_get(d, c, seq, "assessment", officer, &text);
    json_t *doc = e == CX_OK && text ? json_loads(text, 0, NULL) : NULL;
    if (e == CX_OK)
        e = !text ? CX_ENOTFOUND : !doc ? CX_EPARSE : CX_OK;
    free(text);
    if (e == CX_OK && officer &&
        json_object_set_new(doc, "revenue_at_risk", rev_amount_json(at_risk, exp < 0 ? 0 : exp)))
        e = CX_ENOMEM;
    if (e != CX_OK) {
        json_decref(doc);
        return e;
    }
    *out = doc;
    return CX_OK;
}

/* ---- moving documents into the declarations ----------------------------------------------- */
typedef struct {
    int64_t after; /* the last seq moved */
    size_t moved;
} move_job;

static cx_err acc__move(store_conn *w, void *arg)
{
    move_job *j = arg;
    j->moved = 0;
    sqlite3_stmt *st = store_stmt(w, "SELECT seq, doc, public FROM revenue_assessments "
                                     "WHERE seq > ?1 AND doc != '' ORDER BY seq LIMIT 500");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, j->after);
    cx_err e = CX_OK;
    while (store_next(st, &e)) {
        j->after = sqlite3_column_int64(st, 0);
        e = decl_member_set_in(w, j->after, "assessment",
                               (const char *)sqlite3_column_text(st, 1),
                               (const char *)sqlite3_column_text(st, 2));
        if (e == CX_ENOTFOUND)
            e = CX_OK; /* no declaration: nothing shows it */
        j->moved++;
    }
    sqlite3_reset(st);
    st = e == CX_OK && j->moved
             ? store_stmt(w, "UPDATE revenue_assessments SET doc = '', public = NULL "
                             "WHERE seq <= ?1 AND doc != ''")
             : NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, j->after);
        e = store_done(st);
    } else if (e == CX_OK && j->moved) {
        e = CX_EDB;
    }
    return e;
}

cx_err rev__assessments_move(store *s)
{
    move_job j = {0, 0};
    cx_err e;
    do
        e = store_write(s, acc__move, &j);
    while (e == CX_OK && j.moved);
    return e;
}

cx_err rev__account_read(store_conn *c, int64_t seq, rev_account *out)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT version, total, paid, refunded, guaranteed, "
                                     "at_risk, problems, org, decl_id, currency "
                                     "FROM revenue_assessments WHERE seq=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (e == CX_OK) {
        memset(out, 0, sizeof *out);
        out->seq = seq;
        out->version = sqlite3_column_int64(st, 0);
        out->total = sqlite3_column_int64(st, 1);
        out->paid = sqlite3_column_int64(st, 2);
        out->refunded = sqlite3_column_int64(st, 3);
        out->guaranteed = sqlite3_column_int64(st, 4);
        out->at_risk = sqlite3_column_int64(st, 5);
        out->problems = sqlite3_column_int64(st, 6);
        snprintf(out->org, sizeof out->org, "%s", (const char *)sqlite3_column_text(st, 7));
        snprintf(out->decl_id, sizeof out->decl_id, "%s",
                 (const char *)sqlite3_column_text(st, 8));
        snprintf(out->currency, sizeof out->currency, "%s",
                 (const char *)sqlite3_column_text(st, 9));
        out->exp = rev_minor_unit(out->currency);
        if (out->exp < 0)
            out->exp = 0;
    }
    sqlite3_reset(st);
    return e;
}

json_t *rev__account_json(const rev_account *a)
{
    int64_t net = a->paid - a->refunded;
    int64_t unpaid = a->total > net ? a->total - net : 0;
    int64_t short_ = rev_release_shortfall(a->total, a->paid, a->refunded, a->guaranteed);
    return json_pack("{s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:I}", "declaration",
                     a->decl_id, "currency", a->currency, "version", (json_int_t)a->version,
                     "assessed", rev_amount_json(a->total, a->exp), "paid",
                     rev_amount_json(a->paid, a->exp), "refunded",
                     rev_amount_json(a->refunded, a->exp), "guaranteed",
                     rev_amount_json(a->guaranteed, a->exp), "outstanding",
                     rev_amount_json(unpaid, a->exp), "shortfall",
                     rev_amount_json(short_, a->exp), "releasable",
                     a->problems == 0 && short_ == 0, "problems", (json_int_t)a->problems);
}

static cx_err acc__set_guaranteed(store_conn *w, int64_t seq, int64_t delta)
{
    sqlite3_stmt *st = store_stmt(w, "UPDATE revenue_assessments SET guaranteed = guaranteed + ?2 "
                                     "WHERE seq=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, delta);
    cx_err e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
    sqlite3_reset(st);
    return e;
}

static cx_err acc__draw(store_conn *w, const char *guarantee, int64_t seq, int64_t amount,
                        const char *cause)
{
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO revenue_draws(guarantee, seq, amount, at, cause) "
                                     "VALUES(?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, guarantee, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_int64(st, 3, amount);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, cause, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    st = store_stmt(w, "UPDATE revenue_guarantees SET drawn = drawn + ?2 WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, guarantee, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, amount);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? acc__set_guaranteed(w, seq, amount) : CX_EDB;
}

cx_err rev__restore_draws(store_conn *w, int64_t seq, int64_t amount, const char *cause)
{
    /* what each guarantee still has out for this declaration, latest first */
    sqlite3_stmt *st = store_stmt(w, "SELECT guarantee, sum(amount) FROM revenue_draws "
                                     "WHERE seq=?1 GROUP BY guarantee HAVING sum(amount) > 0 "
                                     "ORDER BY max(id) DESC");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    char ids[16][CX_ID_LEN + 1];
    int64_t out[16];
    int n = 0;
    cx_err e = CX_OK; /* a step error fails the job: never restore part */
    while (n < 16 && store_next(st, &e)) {
        snprintf(ids[n], sizeof ids[n], "%s", (const char *)sqlite3_column_text(st, 0));
        out[n++] = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    for (int k = 0; e == CX_OK && k < n && amount > 0; k++) {
        int64_t give = out[k] < amount ? out[k] : amount;
        e = acc__draw(w, ids[k], seq, -give, cause);
        amount -= give;
    }
    return e;
}

/* Draws what is unpaid from the trader's valid guarantees, soonest expiring
 * first; only when they cover all of it (else nothing is drawn). */
static cx_err acc__draw_for(store_conn *w, const rev_account *a, int64_t need, int64_t *got)
{
    *got = 0;
    char today[32];
    cx_rfc3339_format(cx_now_us(), today);
    today[REV_DATE_LEN] = '\0';
    sqlite3_stmt *st = store_stmt(w, "SELECT id, amount_national - drawn FROM revenue_guarantees "
                                     "WHERE trader=?1 AND valid_until >= ?2 "
                                     "AND amount_national > drawn AND status = 'active' "
                                     "ORDER BY valid_until, created_at LIMIT 16");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, a->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, today, -1, SQLITE_TRANSIENT);
    char ids[16][CX_ID_LEN + 1];
    int64_t avail[16], total = 0;
    int n = 0;
    cx_err e = CX_OK; /* a step error is not "the guarantees do not cover it" */
    while (n < 16 && store_next(st, &e)) {
        snprintf(ids[n], sizeof ids[n], "%s", (const char *)sqlite3_column_text(st, 0));
        avail[n] = sqlite3_column_int64(st, 1);
        total += avail[n++];
    }
    sqlite3_reset(st);
    if (e != CX_OK || total < need)
        return e;
    for (int k = 0; e == CX_OK && k < n && *got < need; k++) {
        int64_t take = avail[k] < need - *got ? avail[k] : need - *got;
        e = acc__draw(w, ids[k], a->seq, take, "release");
        *got += take;
    }
    return e;
}

cx_err rev__release_check(store_conn *w, int64_t seq, decl_gate_refusal *no,
                          rev_uvcache *cache)
{
    rev_account a;
    cx_err e = rev__row_ensure_in(w, seq);
    if (e == CX_OK)
        e = rev__account_read(w, seq, &a);
    if (e == CX_ENOTFOUND)
        return CX_OK; /* not assessed (no national currency then): nothing to collect */
    if (e != CX_OK)
        return e;
    if (a.problems) {
        return decl_gate_refuse(no, 409, "payment_required", "/decision",
                       "the assessment has %lld unresolved problem%s (a missing tariff line or "
                       "exchange rate): resolve them and re-assess "
                       "(POST /v1/declarations/%s/assessment) before releasing",
                       (long long)a.problems, a.problems == 1 ? "" : "s", a.decl_id);
    }
    int64_t need = rev_release_shortfall(a.total, a.paid, a.refunded, a.guaranteed);
    int64_t got = 0;
    if (need > 0 && (e = acc__draw_for(w, &a, need, &got)) != CX_OK)
        return e;
    if (got < need) {
        char t[40], p[40], g[40], s[40];
        rev_amount_format(a.total, a.exp, true, t);
        rev_amount_format(a.paid - a.refunded, a.exp, true, p);
        rev_amount_format(a.guaranteed, a.exp, true, g);
        rev_amount_format(need, a.exp, true, s);
        return decl_gate_refuse(no, 409, "payment_required", "/decision",
                       "paid %s %s + guaranteed %s %s is less than the assessed %s %s: %s %s "
                       "outstanding (POST /v1/declarations/%s/payments, or a guarantee)",
                       p, a.currency, g, a.currency, t, a.currency, s, a.currency, a.decl_id);
    }
    return rev__release_flagged(w, seq, cache);
}

cx_err rev__tell_reassessed(rev_service *r, store_conn *w, int64_t seq)
{
    rev_account a;
    if (!r->reassessed)
        return CX_OK;
    cx_err e = rev__account_read(w, seq, &a);
    if (e != CX_OK)
        return e;
    double unit = 1;
    for (int k = 0; k < a.exp; k++)
        unit *= 10;
    return r->reassessed(r->reassessed_ctx, w, seq, (double)a.at_risk / unit,
                         (double)a.total / unit);
}

cx_err rev__reassess(decl_service *d, store_conn *w, int64_t seq, const json_t *assessment, const char *reason,
                     const char *by, rev_account *after)
{
    rev_account a;
    cx_err e = rev__row_ensure_in(w, seq);
    if (e == CX_OK)
        e = rev__account_read(w, seq, &a);
    if (e != CX_OK)
        return e;
    json_t *copy = json_deep_copy(assessment);
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    json_object_set_new(copy, "version", json_integer(a.version + 1));
    json_object_set_new(copy, "assessed_at", json_string(now));
    char *text = NULL, *pub = NULL;
    e = rev__member_texts(copy, &text, &pub);
    int exp = a.exp;
    int64_t total = rev__amount_of(copy, "total", exp);
    /* the version being replaced goes to the history as it was */
    char *old = NULL;
    if (text && decl_member_get(d, w, seq, "assessment", true, &old) == CX_OK && !old)
        old = strdup("{}");
    sqlite3_stmt *st = text && old
                           ? store_stmt(w, "INSERT INTO revenue_assessment_versions(seq, "
                                           "version, doc, reason, by_org, at) SELECT seq, "
                                           "version, ?2, reason, by_org, assessed_at FROM "
                                           "revenue_assessments WHERE seq=?1")
                           : NULL;
    e = st ? CX_OK : text && old ? CX_EDB : CX_ENOMEM;
    if (e == CX_OK) {
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_text(st, 2, old, -1, SQLITE_STATIC);
        e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
        sqlite3_reset(st);
    }
    free(old);
    if (e == CX_OK) {
        st = store_stmt(w, "UPDATE revenue_assessments SET version=?2, duty=?3, excise=?4, "
                           "vat=?5, total=?6, at_risk=?7, problems=?8, reason=?10, "
                           "by_org=?11, assessed_at=?12 WHERE seq=?1");
        e = st ? CX_OK : CX_EDB;
    }
    if (e == CX_OK) {
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_int64(st, 2, a.version + 1);
        sqlite3_bind_int64(st, 3, rev__amount_of(copy, "total_duty", exp));
        sqlite3_bind_int64(st, 4, rev__amount_of(copy, "total_excise", exp));
        sqlite3_bind_int64(st, 5, rev__amount_of(copy, "total_vat", exp));
        sqlite3_bind_int64(st, 6, total);
        sqlite3_bind_int64(st, 7, rev__amount_of(copy, "revenue_at_risk", exp));
        sqlite3_bind_int64(st, 8, (int64_t)json_array_size(json_object_get(copy, "problems")));
        sqlite3_bind_text(st, 10, reason, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, by, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 12, now, -1, SQLITE_STATIC);
        e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
        sqlite3_reset(st);
    }
    if (e == CX_OK)
        e = decl_member_set_in(w, seq, "assessment", text, pub);
    if (e == CX_OK && (st = store_stmt(w, "DELETE FROM revenue_certificates WHERE seq=?1"))) {
        sqlite3_bind_int64(st, 1, seq);
        e = store_done(st);
    } else if (e == CX_OK) {
        e = CX_EDB;
    }
    rev_row_cert *certs = NULL;
    size_t ncerts = 0;
    if (e == CX_OK && (e = rev__row_certs(copy, &certs, &ncerts)) == CX_OK)
        e = rev__certs_insert(w, seq, certs, ncerts);
    free(certs);
    /* downwards below what was paid: a refund is due, recorded, not netted */
    int64_t net = a.paid - a.refunded;
    if (e == CX_OK && total < net) {
        st = store_stmt(w, "INSERT INTO revenue_refunds(seq, amount, from_version, to_version, "
                           "status, at) VALUES(?1, ?2, ?3, ?4, 'due', ?5)");
        e = st ? CX_OK : CX_EDB;
        if (e == CX_OK) {
            sqlite3_bind_int64(st, 1, seq);
            sqlite3_bind_int64(st, 2, net - total);
            sqlite3_bind_int64(st, 3, a.version);
            sqlite3_bind_int64(st, 4, a.version + 1);
            sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
            e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
            sqlite3_reset(st);
        }
        if (e == CX_OK)
            e = rev__refund_payers_in(w, seq);
        if (e == CX_OK) {
            st = store_stmt(w, "UPDATE revenue_assessments SET refunded = refunded + ?2 "
                               "WHERE seq=?1");
            e = st ? CX_OK : CX_EDB;
        }
        if (e == CX_OK) {
            sqlite3_bind_int64(st, 1, seq);
            sqlite3_bind_int64(st, 2, net - total);
            e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
            sqlite3_reset(st);
        }
        net = total;
    }
    /* a guarantee drawn for more than is now unpaid is given back */
    int64_t unpaid = total > net ? total - net : 0;
    if (e == CX_OK && a.guaranteed > unpaid)
        e = rev__restore_draws(w, seq, a.guaranteed - unpaid, "reassessment");
    free(text);
    free(pub);
    json_decref(copy);
    if (e == CX_OK && after)
        e = rev__account_read(w, seq, after);
    return e;
}
