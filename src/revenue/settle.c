/* Settling accounts after the fact: refunds paid out
 * (GET /v1/refunds, POST /v1/refunds/{id}/payout) and guarantees amended or
 * cancelled (POST /v1/guarantees/{id}/amend|cancel). Each change is one
 * writer job that re-reads the row it changes, so two officers (or a
 * release drawing on a guarantee) cannot both act on the same old state. */
#include "revenue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- refunds ----------------------------------------------------------------------------- */
json_t *rev__refund_json(sqlite3_stmt *st, int exp)
{
    const char *ref = (const char *)sqlite3_column_text(st, 8);
    json_t *payout = ref ? json_pack("{s:s,s:s,s:s,s:s}", "reference", ref, "paid_at",
                                     (const char *)sqlite3_column_text(st, 9), "by",
                                     (const char *)sqlite3_column_text(st, 10), "recorded_at",
                                     (const char *)sqlite3_column_text(st, 11))
                         : json_null();
    return json_pack("{s:I,s:s?,s:o,s:s?,s:I,s:I,s:s,s:s,s:o}", "id",
                     (json_int_t)sqlite3_column_int64(st, 0), "declaration",
                     (const char *)sqlite3_column_text(st, 1), "amount",
                     rev_amount_json(sqlite3_column_int64(st, 2), exp), "currency",
                     (const char *)sqlite3_column_text(st, 3), "from_version",
                     (json_int_t)sqlite3_column_int64(st, 4), "to_version",
                     (json_int_t)sqlite3_column_int64(st, 5), "status",
                     (const char *)sqlite3_column_text(st, 6), "at",
                     (const char *)sqlite3_column_text(st, 7), "payout", payout);
}

static json_t *settle__refund(store_conn *c, int64_t id, int exp)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT " REV_REFUND_COLUMNS " FROM revenue_refunds f "
                                     "LEFT JOIN revenue_assessments a ON a.seq = f.seq "
                                     "WHERE f.id=?1");
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    cx_err e = CX_OK; /* the caller fails on NULL; the step error is logged */
    json_t *o = store_next(st, &e) ? rev__refund_json(st, exp) : NULL;
    sqlite3_reset(st);
    return o;
}

typedef struct {
    rev_call c;
    int64_t id;
    char by[CX_ORG_MAX + 1], reference[REV_REF_MAX + 1], paid_at[REV_PAID_AT_MAX + 1];
    bool bank; /* by is a bank: it pays out only refunds of declarations it paid on */
    int exp;
} payout_job;

/* A bank's business with a refund: it had recorded a payment on the
 * refund's declaration when the refund was recorded (revenue_refund_payers,
 * sought by its primary key). ?9 is the bank, NULL for officers. */
#define SETTLE_BANK_OF(f)                                                                       \
    "(?9 IS NULL OR EXISTS(SELECT 1 FROM revenue_refund_payers b WHERE b.payer_org = ?9 AND "   \
    "b.refund = " f ".id))"

cx_err rev__refund_payers_in(store_conn *w, int64_t seq)
{
    /* the refund just recorded is the declaration's newest */
    sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO revenue_refund_payers(payer_org, "
                                     "refund) SELECT DISTINCT p.payer_org, (SELECT max(f.id) "
                                     "FROM revenue_refunds f WHERE f.seq = ?1) "
                                     "FROM revenue_payments p WHERE p.seq = ?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    return store_done(st);
}

static cx_err payout__job(store_conn *w, void *arg)
{
    payout_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT status, payout_reference, paid_at, paid_by, at "
                                     "FROM revenue_refunds f WHERE id=?1 AND "
                                     SETTLE_BANK_OF("f"));
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, j->id);
    if (j->bank)
        sqlite3_bind_text(st, 9, j->by, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    bool paid = false, same = false, early = false;
    char was[160] = "", due[32] = "";
    if (rc == SQLITE_ROW) {
        /* money is not paid out before it was due; to the second, as banks
         * record times (a payout made in the refund's own second is on time) */
        int64_t at_us = 0, paid_us = 0;
        snprintf(due, sizeof due, "%s", (const char *)sqlite3_column_text(st, 4));
        early = cx_rfc3339_parse(due, &at_us) == CX_OK &&
                cx_rfc3339_parse(j->paid_at, &paid_us) == CX_OK &&
                paid_us < at_us - (at_us % 1000000 + 1000000) % 1000000;
    }
    if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "paid") == 0) {
        const char *ref = (const char *)sqlite3_column_text(st, 1);
        const char *at = (const char *)sqlite3_column_text(st, 2);
        const char *by = (const char *)sqlite3_column_text(st, 3);
        paid = true;
        same = ref && at && by && strcmp(ref, j->reference) == 0 &&
               strcmp(at, j->paid_at) == 0 && strcmp(by, j->by) == 0;
        snprintf(was, sizeof was, "%s on %s (reference %s)", by ? by : "?", at ? at : "?",
                 ref ? ref : "?");
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        rev__call_fail(&j->c, 404, "not_found", "", "no such refund");
        return CX_ENOTFOUND;
    }
    if (rc != SQLITE_ROW)
        return CX_EDB;
    if (early) {
        rev__call_fail(&j->c, 400, "invalid_payout", "/paid_at",
                       "must not be earlier than the refund itself (%s)", due);
        return CX_EINVAL;
    }
    if (paid && !same) {
        rev__call_fail(&j->c, 409, "refund_paid", "", "refund %lld was already paid out by %s",
                       (long long)j->id, was);
        return CX_ESTATE;
    }
    if (!paid) {
        /* the payer's reference names one payout */
        st = store_stmt(w, "SELECT id FROM revenue_refunds WHERE paid_by=?1 AND "
                           "payout_reference=?2");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, j->by, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, j->reference, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        int64_t other = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (rc == SQLITE_ROW) {
            rev__call_fail(&j->c, 409, "reference_conflict", "/reference",
                           "reference %s was already used by %s to pay out refund %lld",
                           j->reference, j->by, (long long)other);
            return CX_ESTATE;
        }
        char now[32];
        cx_rfc3339_format(cx_now_us(), now);
        st = store_stmt(w, "UPDATE revenue_refunds SET status='paid', payout_reference=?2, "
                           "paid_at=?3, paid_by=?4, paid_recorded_at=?5 WHERE id=?1");
        if (!st)
            return CX_EDB;
        sqlite3_bind_int64(st, 1, j->id);
        sqlite3_bind_text(st, 2, j->reference, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, j->paid_at, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, j->by, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
        if (store_done(st) != CX_OK)
            return CX_EDB;
    }
    json_t *refund = settle__refund(w, j->id, j->exp);
    if (!refund)
        return CX_EDB;
    j->c.ok_status = 200;
    rev__call_body(&j->c, json_pack("{s:o,s:b}", "refund", refund, "repeated", paid));
    return CX_OK;
}

/* An {id} path parameter that is a positive integer; replies 404. */
static bool settle__int_id(http_req *r, int64_t *id, const char *what)
{
    if (!cx_parse_i64(http_param(r, "id"), id) || *id <= 0) {
        http_reply_error(r, 404, "not_found", what, NULL);
        return false;
    }
    return true;
}

static void h_payout(http_req *r, void *ctx)
{
    rev_service *rs = ctx;
    int64_t id;
    if (!http_allow(r, REV_ROLES_PAY, "pay out refunds") ||
        !settle__int_id(r, &id, "no such refund"))
        return;
    rev_body b;
    if (!rev__body(r, &b))
        return;
    json_t *problems = b.problems;
    rev_payout_in in;
    rev_payout_check(b.json, cx_now_us(), &in, problems);
    json_decref(b.json);
    payout_job *j = rev__job_new(r, problems, "invalid_payout", "payout", sizeof *j);
    if (!j)
        return;
    j->id = id;
    j->exp = rs->exp;
    snprintf(j->by, sizeof j->by, "%s", http_principal(r)->org);
    j->bank = http_principal(r)->role == CX_ROLE_BANK;
    snprintf(j->reference, sizeof j->reference, "%s", in.reference);
    snprintf(j->paid_at, sizeof j->paid_at, "%s", in.paid_at);
    rev__call_submit(rs, &j->c, r, payout__job);
}

/* GET /v1/refunds?status=due|paid: oldest first, paged by id; a bank sees
 * only the refunds of declarations it paid on, read from its own rows of
 * revenue_refund_payers (payer_org, refund): others' refunds are not walked. */
static void h_refunds(http_req *r, void *ctx)
{
    rev_service *rs = ctx;
    http_page page;
    static const char *const statuses[] = {"due", "paid", NULL};
    int status = -1;
    if (!http_allow(r, REV_ROLES_PAY, "list refunds") ||
        !http_page_parse(r, HTTP_CURSOR_INT, 100, 1000, &page) ||
        !http_query_enum(r, "status", statuses, &status))
        return;
    store_conn *c = store_reader(rs->s);
    const cx_principal *who = http_principal(r);
    bool bank = who->role == CX_ROLE_BANK;
#define SETTLE_OF_BANK                                                                          \
    "SELECT " REV_REFUND_COLUMNS " FROM revenue_refund_payers b JOIN revenue_refunds f ON "     \
    "f.id = b.refund LEFT JOIN revenue_assessments a ON a.seq = f.seq WHERE b.payer_org = ?9 "  \
    "AND b.refund > ?1 "
#define SETTLE_OF_ALL                                                                           \
    "SELECT " REV_REFUND_COLUMNS " FROM revenue_refunds f LEFT JOIN revenue_assessments a ON "  \
    "a.seq = f.seq WHERE f.id > ?1 "
    sqlite3_stmt *st = NULL;
    if (c && bank && status >= 0)
        st = store_stmt(c, SETTLE_OF_BANK "AND f.status = ?2 ORDER BY b.refund LIMIT ?3");
    else if (c && bank)
        st = store_stmt(c, SETTLE_OF_BANK "ORDER BY b.refund LIMIT ?3");
    else if (c && status >= 0)
        st = store_stmt(c, SETTLE_OF_ALL "AND f.status = ?2 ORDER BY f.id LIMIT ?3");
    else if (c)
        st = store_stmt(c, SETTLE_OF_ALL "ORDER BY f.id LIMIT ?3");
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the database is not available", NULL);
        return;
    }
    sqlite3_bind_int64(st, 1, page.after);
    if (status >= 0)
        sqlite3_bind_text(st, 2, statuses[status], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, page.limit + 1);
    if (bank)
        sqlite3_bind_text(st, 9, who->org, -1, SQLITE_STATIC);
    http_pager pg;
    http_pager_init(&pg, page.limit, HTTP_PAGE_BUDGET);
    int64_t last = 0;
    while (store_row(st, &pg.out) && http_pager_item(&pg)) {
        last = sqlite3_column_int64(st, 0);
        http_pager_json_new(&pg, rev__refund_json(st, rs->exp));
    }
    sqlite3_reset(st);
    http_pager_reply_after(&pg, r, last); /* or the page's error */
}

/* ---- guarantees ----------------------------------------------------------------------------- */
typedef struct {
    rev_call c;
    char id[CX_ID_LEN + 1], by[CX_ORG_MAX + 1], reason[REV_REASON_MAX + 1];
    bool cancel, has_amount;
    char amount[32], currency[4], rate[32], valid_until[11];
    int64_t national;
    int exp;
} gchange_job;

/* The guarantee as JSON on c, with its changes when asked; NULL with *e
 * still CX_OK when there is no such guarantee, else *e says why (a read
 * that failed is not "no such guarantee"). */
static json_t *settle__guarantee(store_conn *c, const char *id, int exp, cx_err *e)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT " REV_G_COLUMNS " FROM revenue_guarantees "
                                     "WHERE id=?1");
    if (!st) {
        *e = CX_EDB;
        return NULL;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    bool found = store_next(st, e);
    json_t *g = found ? rev__guarantee_json(st, exp) : NULL;
    sqlite3_reset(st);
    if (found && !g)
        *e = CX_ENOMEM;
    return g;
}

/* The newest REV_CHANGES_MAX changes of guarantee id, oldest first, as
 * g's "changes"; "changes_truncated" says whether older ones were left out. */
cx_err rev__guarantee_changes_set(store_conn *c, const char *id, json_t *g)
{
    cx_err e = CX_OK;
    json_t *out = json_array();
    bool more = false;
    /* newest first off the (guarantee, id) index; each put in front */
    sqlite3_stmt *st = store_stmt(c, "SELECT kind, before, after, reason, by_org, at FROM "
                                     "revenue_guarantee_changes WHERE guarantee=?1 "
                                     "ORDER BY id DESC LIMIT ?2");
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, REV_CHANGES_MAX + 1);
    } else {
        e = CX_EDB;
    }
    while (st && store_next(st, &e)) {
        if (json_array_size(out) == REV_CHANGES_MAX) {
            more = true;
            break;
        }
        json_t *one =
            json_pack("{s:s,s:o,s:o,s:s?,s:s,s:s}", "kind",
                      (const char *)sqlite3_column_text(st, 0), "before",
                      json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL), "after",
                      json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL), "reason",
                      (const char *)sqlite3_column_text(st, 3), "by",
                      (const char *)sqlite3_column_text(st, 4), "at",
                      (const char *)sqlite3_column_text(st, 5));
        if (json_array_insert_new(out, 0, one) != 0)
            e = CX_ENOMEM; /* would not build: the history is not shown short */
    }
    if (st)
        sqlite3_reset(st);
    if (e != CX_OK) {
        json_decref(out);
        return e;
    }
    json_object_set_new(g, "changes", out);
    json_object_set_new(g, "changes_truncated", json_boolean(more));
    return CX_OK;
}

/* What a change touches, as kept in the history. */
static json_t *gchange__terms(const json_t *g)
{
    return json_pack("{s:O,s:O,s:O,s:O}", "amount", json_object_get(g, "amount"),
                     "amount_national", json_object_get(g, "amount_national"), "valid_until",
                     json_object_get(g, "valid_until"), "status", json_object_get(g, "status"));
}

static cx_err gchange__record(store_conn *w, gchange_job *j, const json_t *before,
                              const json_t *after)
{
    json_t *b = gchange__terms(before), *a = gchange__terms(after);
    char *bt = b ? json_dumps(b, JSON_COMPACT) : NULL, *at = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(b);
    json_decref(a);
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    sqlite3_stmt *st = bt && at ? store_stmt(w, "INSERT INTO revenue_guarantee_changes("
                                                "guarantee, kind, before, after, reason, by_org, "
                                                "at) VALUES(?1,?2,?3,?4,NULLIF(?5,''),?6,?7)")
                                : NULL;
    cx_err e = st ? CX_OK : bt && at ? CX_EDB : CX_ENOMEM;
    if (e == CX_OK) {
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, j->cancel ? "cancel" : "amend", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, bt, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, at, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, j->reason, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, j->by, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
        e = store_done(st);
    }
    free(bt);
    free(at);
    return e;
}

/* Refuses (409 guarantee_drawn) a change that would leave less than what
 * is drawn on the guarantee for declarations not yet paid. */
static bool gchange__covers(gchange_job *j, const json_t *g, int64_t keep)
{
    int64_t drawn = 0;
    rev__minor(json_object_get(g, "drawn"), j->exp, &drawn);
    if (drawn <= keep)
        return true;
    char d[40], k[40];
    rev_amount_format(drawn, j->exp, true, d);
    rev_amount_format(keep, j->exp, true, k);
    if (j->cancel)
        rev__call_fail(&j->c, 409, "guarantee_drawn", "",
                       "guarantee %s has %s drawn for released declarations that are not paid: "
                       "it can be cancelled once they are paid (a payment gives its draw back)",
                       j->id, d);
    else
        rev__call_fail(&j->c, 409, "guarantee_drawn", "/amount",
                       "the amended amount (%s in national currency) is less than the %s drawn "
                       "on guarantee %s for declarations that are not paid",
                       k, d, j->id);
    return false;
}

static cx_err gchange__job(store_conn *w, void *arg)
{
    gchange_job *j = arg;
    cx_err ge = CX_OK;
    json_t *before = settle__guarantee(w, j->id, j->exp, &ge);
    if (!before && ge != CX_OK)
        return ge;
    if (!before) {
        rev__call_fail(&j->c, 404, "not_found", "", "no such guarantee");
        return CX_ENOTFOUND;
    }
    const char *status = json_string_value(json_object_get(before, "status"));
    bool cancelled = status && strcmp(status, "cancelled") == 0;
    cx_err e = CX_OK;
    sqlite3_stmt *st = NULL;
    if (cancelled && !j->cancel) {
        rev__call_fail(&j->c, 409, "guarantee_cancelled", "",
                       "guarantee %s was cancelled on %s and cannot be amended", j->id,
                       json_string_value(json_object_get(before, "cancelled_at")));
        e = CX_ESTATE;
    } else if (cancelled) {
        /* cancelling twice is the first cancellation */
    } else if (j->cancel) {
        if (!gchange__covers(j, before, 0))
            e = CX_ESTATE;
        else if (!(st = store_stmt(w, "UPDATE revenue_guarantees SET status='cancelled', "
                                      "cancelled_at=?2 WHERE id=?1")))
            e = CX_EDB;
        if (st) {
            char now[32];
            cx_rfc3339_format(cx_now_us(), now);
            sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
        }
    } else {
        /* the currency was read before the job: it never changes */
        if (j->has_amount && !gchange__covers(j, before, j->national))
            e = CX_ESTATE;
        else if (!(st = store_stmt(w, "UPDATE revenue_guarantees SET "
                                      "amount = CASE WHEN ?2 THEN ?3 ELSE amount END, "
                                      "rate = CASE WHEN ?2 THEN NULLIF(?4,'') ELSE rate END, "
                                      "amount_national = CASE WHEN ?2 THEN ?5 "
                                      "ELSE amount_national END, "
                                      "valid_until = coalesce(NULLIF(?6,''), valid_until) "
                                      "WHERE id=?1")))
            e = CX_EDB;
        if (st) {
            sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, j->has_amount);
            sqlite3_bind_text(st, 3, j->amount, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, j->rate, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 5, j->national);
            sqlite3_bind_text(st, 6, j->valid_until, -1, SQLITE_STATIC);
        }
    }
    if (e == CX_OK && st)
        e = store_done(st);
    json_t *after = e == CX_OK ? settle__guarantee(w, j->id, j->exp, &e) : NULL;
    if (e == CX_OK && !after)
        e = CX_EDB;
    if (e == CX_OK && st)
        e = gchange__record(w, j, before, after);
    json_decref(before);
    if (e != CX_OK) {
        json_decref(after);
        return e;
    }
    e = rev__guarantee_changes_set(w, j->id, after);
    if (e != CX_OK) {
        json_decref(after);
        return e;
    }
    j->c.ok_status = 200;
    rev__call_body(&j->c, after);
    return CX_OK;
}

/* The guarantee of {id} on this thread's reader; replies 404/503. */
static bool settle__guarantee_of(rev_service *rs, http_req *r, char currency[4])
{
    store_conn *c = store_reader(rs->s);
    sqlite3_stmt *st =
        c ? store_stmt(c, "SELECT currency FROM revenue_guarantees WHERE id=?1") : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the database is not available", NULL);
        return false;
    }
    sqlite3_bind_text(st, 1, http_param(r, "id"), -1, SQLITE_TRANSIENT);
    cx_err e = CX_OK;
    bool found = store_next(st, &e);
    if (found)
        snprintf(currency, 4, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (e != CX_OK)
        http_reply_failed(r, e); /* not "no such guarantee": it could not be read */
    else if (!found)
        http_reply_error(r, 404, "not_found", "no such guarantee", NULL);
    return found;
}

static void h_guarantee_change(http_req *r, rev_service *rs, bool cancel)
{
    if (!http_allow_officer(r, cancel ? "cancel guarantees" : "amend guarantees"))
        return;
    char currency[4];
    if (!settle__guarantee_of(rs, r, currency))
        return;
    rev_body b;
    if (!rev__body(r, &b))
        return;
    json_t *problems = b.problems;
    rev_gchange_in in;
    int64_t now = cx_now_us();
    rev_gchange_check(b.json, b.text, b.len, currency, cancel, now, &in, problems);
    json_decref(b.json);
    gchange_job *j = rev__job_new(r, problems, "invalid_guarantee", "change", sizeof *j);
    if (!j)
        return;
    snprintf(j->id, sizeof j->id, "%s", http_param(r, "id"));
    snprintf(j->by, sizeof j->by, "%s", http_principal(r)->org);
    snprintf(j->currency, sizeof j->currency, "%s", currency);
    snprintf(j->reason, sizeof j->reason, "%s", in.reason);
    snprintf(j->valid_until, sizeof j->valid_until, "%s", in.valid_until);
    j->cancel = cancel;
    j->has_amount = in.has_amount;
    j->exp = rs->exp;
    if (j->has_amount) {
        rev_dec_format(in.amount, j->amount);
        char today[32], rate_date[11];
        cx_rfc3339_format(now, today);
        today[REV_DATE_LEN] = '\0';
        /* the national amount at today's rate, as a new guarantee is */
        if (!rev__convert_in(rs, r, "invalid_guarantee", in.amount, currency, today,
                             &j->national, j->rate, rate_date)) {
            free(j);
            return;
        }
    }
    rev__call_submit(rs, &j->c, r, gchange__job);
}

static void h_guarantee_amend(http_req *r, void *ctx)
{
    h_guarantee_change(r, ctx, false);
}

static void h_guarantee_cancel(http_req *r, void *ctx)
{
    h_guarantee_change(r, ctx, true);
}

cx_err rev__settle_routes(rev_service *r, http_server *srv)
{
    static const http_route_def routes[] = {
        {"GET", "/v1/refunds", HTTP_AUTH, h_refunds, "status limit cursor"},
        {"POST", "/v1/refunds/{id}/payout", HTTP_AUTH | HTTP_JSON, h_payout, NULL},
        {"POST", "/v1/guarantees/{id}/amend", HTTP_AUTH | HTTP_JSON, h_guarantee_amend, NULL},
        {"POST", "/v1/guarantees/{id}/cancel", HTTP_AUTH | HTTP_JSON, h_guarantee_cancel, NULL},
    };
    return http_routes(srv, routes, sizeof routes / sizeof routes[0], r);
}
