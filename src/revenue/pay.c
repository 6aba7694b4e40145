/* Payments (POST/GET /v1/declarations/{id}/payments) and guarantees
 * (POST/GET /v1/guarantees). Amounts are read from the body's decimal text;
 * foreign currency is converted at the rate of the payment's date. */
#include "revenue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared request plumbing ------------------------------------------------------------ */
void rev__call_fail(rev_call *c, unsigned status, const char *code, const char *path,
                    const char *fmt, ...)
{
    c->status = status;
    snprintf(c->code, sizeof c->code, "%s", code);
    snprintf(c->path, sizeof c->path, "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
}

static void call__done(void *arg, cx_err result)
{
    rev_call *c = arg;
    http_req *r = c->req;
    if (result == CX_OK && c->body) {
        http_reply(r, c->ok_status ? c->ok_status : 200, "application/json", c->body, c->len);
        c->body = NULL;
    } else if (c->status) {
        http_reply_error1(r, c->status, c->code, c->msg, c->path, c->msg);
    } else {
        cx_log(CX_LOG_ERROR, "revenue: request not stored: %s", cx_strerror(result));
        http_reply_error(r, 503, "unavailable", "the change could not be stored; retry", NULL);
    }
    http_resume(r);
}

static void call__free(void *arg)
{
    rev_call *c = arg;
    free(c->body);
    if (c->free_extra)
        c->free_extra(c);
    free(c);
}

void rev__call_submit(rev_service *rs, rev_call *c, http_req *r, store_job_fn fn)
{
    c->req = r;
    c->r = rs;
    c->job.fn = fn;
    c->job.done = call__done;
    c->job.arg = c;
    http_on_done(r, call__free, c);
    http_defer(r);
    if (store_submit(rs->s, &c->job) != CX_OK) {
        http_reply_error(r, 503, "unavailable", "the server is shutting down", NULL);
        http_resume(r);
    }
}

bool rev__body(http_req *r, rev_body *b)
{
    b->text = http_body(r, &b->len);
    b->json = decl_parse_body(r);
    b->problems = b->json ? json_array() : NULL;
    return b->json != NULL;
}

void *rev__job_new(http_req *r, json_t *problems, const char *code, const char *what,
                   size_t size)
{
    if (json_array_size(problems)) {
        char msg[80];
        snprintf(msg, sizeof msg, "the %s has problems", what);
        http_reply_error(r, 400, code, msg, problems);
        return NULL;
    }
    json_decref(problems);
    void *j = calloc(1, size);
    if (!j)
        http_reply_error(r, 500, "internal", "out of memory", NULL);
    return j;
}

void rev__call_body(rev_call *c, json_t *j)
{
    c->body = cx_json_dump(j, &c->len);
    json_decref(j);
}

cx_err rev__convert(const rev_book *b, rev_dec amount, const char *currency, const char *date,
                    int64_t *national, const rev_rate **used, char *why, size_t whylen)
{
    *used = NULL;
    int exp = rev_minor_unit(rev_book_currency(b));
    rev_dec one = {1, 0};
    if (strcmp(currency, rev_book_currency(b)) != 0) {
        *used = rev_book_rate(b, currency, date);
        if (!*used) {
            snprintf(why, whylen, "no exchange rate for %s on or before %s", currency, date);
            return CX_ENOTFOUND;
        }
    }
    cx_err e = rev_mul(amount, *used ? (*used)->rate : one, exp, national);
    if (e != CX_OK)
        snprintf(why, whylen, "the amount is too large");
    return e;
}

/* Converts amount to national minor units at the rate of date with the
 * service's book; the rate used goes to rate/rate_date ("" for national).
 * Replies 409 no_exchange_rate or 400 `code` and returns false. */
bool rev__convert_in(rev_service *rs, http_req *r, const char *code, rev_dec amount,
                         const char *currency, const char *date, int64_t *national,
                         char rate[32], char rate_date[11])
{
    rev_book *b = rev__book_get(rs);
    if (!b) {
        http_reply_error(r, 503, "unavailable", "the tariff could not be loaded", NULL);
        return false;
    }
    const rev_rate *used;
    char why[160];
    cx_err e = rev__convert(b, amount, currency, date, national, &used, why, sizeof why);
    rate[0] = rate_date[0] = '\0';
    if (used) {
        rev_dec_format(used->rate, rate);
        snprintf(rate_date, 11, "%s", used->date);
    }
    rev__book_put(rs, b);
    if (e != CX_OK)
        http_reply_error1(r, e == CX_ENOTFOUND ? 409 : 400,
                          e == CX_ENOTFOUND ? "no_exchange_rate" : code, why,
                          e == CX_ENOTFOUND ? "/currency" : "/amount", why);
    return e == CX_OK;
}

/* ---- payments ------------------------------------------------------------------------------- */
typedef struct {
    rev_call c;
    int64_t seq;
    char decl_org[CX_ORG_MAX + 1];
    char payer[CX_ORG_MAX + 1];
    const char *role;
    int64_t key_id;
    char reference[REV_REF_MAX + 1], currency[4], paid_at[REV_PAID_AT_MAX + 1], amount[32], rate[32], rate_date[11];
    int64_t national;
} pay_job;

static json_t *pay__row_json(sqlite3_stmt *st, int exp)
{
    /* id, payer_org, reference, amount, currency, rate, rate_date,
     * amount_national, paid_at, recorded_at */
    rev_dec amount;
    const char *at = (const char *)sqlite3_column_text(st, 3);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(o, "payer", json_string((const char *)sqlite3_column_text(st, 1)));
    json_object_set_new(o, "reference", json_string((const char *)sqlite3_column_text(st, 2)));
    json_object_set_new(o, "amount", at && rev_dec_parse(at, strlen(at), &amount)
                                         ? rev_dec_json(amount)
                                         : json_null());
    json_object_set_new(o, "currency", json_string((const char *)sqlite3_column_text(st, 4)));
    const char *rate = (const char *)sqlite3_column_text(st, 5);
    rev_dec rd;
    json_object_set_new(o, "exchange_rate",
                        rate && rev_dec_parse(rate, strlen(rate), &rd)
                            ? json_pack("{s:o,s:s}", "rate", rev_dec_json(rd), "date",
                                        (const char *)sqlite3_column_text(st, 6))
                            : json_null());
    json_object_set_new(o, "amount_national",
                        rev_amount_json(sqlite3_column_int64(st, 7), exp));
    json_object_set_new(o, "paid_at", json_string((const char *)sqlite3_column_text(st, 8)));
    json_object_set_new(o, "recorded_at", json_string((const char *)sqlite3_column_text(st, 9)));
    return o;
}

#define PAY_COLUMNS                                                                           \
    "id, payer_org, reference, amount, currency, rate, rate_date, amount_national, paid_at, " \
    "recorded_at"

/* Records j's payment on the writer: CX_OK with *id when new; CX_EEXIST
 * when the same payment (payer, reference, declaration, amount, currency,
 * paid_at) is already recorded, *id being that one; CX_ESTATE when the
 * reference was used for another payment; CX_ENOTFOUND when the declaration
 * has no assessment. *a is the account after. */
static cx_err pay__record(store_conn *w, const pay_job *j, rev_account *a, int64_t *id)
{
    cx_err e = rev__row_ensure_in(w, j->seq);
    if (e == CX_OK)
        e = rev__account_read(w, j->seq, a);
    if (e != CX_OK)
        return e;
    sqlite3_stmt *st = store_stmt(w, "SELECT id, seq, amount, currency, paid_at FROM "
                                     "revenue_payments WHERE payer_org=?1 AND reference=?2");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->payer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->reference, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        /* idempotent: the same payment again is the first one */
        bool same = sqlite3_column_int64(st, 1) == j->seq &&
                    strcmp((const char *)sqlite3_column_text(st, 2), j->amount) == 0 &&
                    strcmp((const char *)sqlite3_column_text(st, 3), j->currency) == 0 &&
                    strcmp((const char *)sqlite3_column_text(st, 4), j->paid_at) == 0;
        *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return same ? CX_EEXIST : CX_ESTATE;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    st = store_stmt(w, "INSERT INTO revenue_payments(seq, payer_org, reference, amount, currency, "
                       "rate, rate_date, amount_national, paid_at, role, key_id, recorded_at) "
                       "VALUES(?1,?2,?3,?4,?5,NULLIF(?6,''),NULLIF(?7,''),?8,?9,?10,?11,?12)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, j->seq);
    sqlite3_bind_text(st, 2, j->payer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, j->reference, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, j->amount, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, j->currency, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, j->rate, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, j->rate_date, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, j->national);
    sqlite3_bind_text(st, 9, j->paid_at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, j->role, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, j->key_id);
    sqlite3_bind_text(st, 12, now, -1, SQLITE_STATIC);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    *id = sqlite3_last_insert_rowid(store_conn_db(w));
    st = store_stmt(w, "UPDATE revenue_assessments SET paid = paid + ?2 WHERE seq=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, j->seq);
    sqlite3_bind_int64(st, 2, j->national);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    /* money in gives back the guarantee drawn for this declaration */
    if (a->guaranteed > 0 && (e = rev__restore_draws(w, j->seq, j->national, "payment")) != CX_OK)
        return e;
    return rev__account_read(w, j->seq, a);
}

static cx_err pay__job(store_conn *w, void *arg)
{
    pay_job *j = arg;
    rev_account a;
    int64_t id = 0;
    cx_err e = pay__record(w, j, &a, &id);
    if (e == CX_ENOTFOUND) {
        rev__call_fail(&j->c, 409, "not_assessed", "", "the declaration has no assessment to "
                                                       "pay (the revenue module was off when it "
                                                       "was lodged)");
        return CX_ESTATE;
    }
    if (e == CX_ESTATE) {
        rev__call_fail(&j->c, 409, "reference_conflict", "/reference",
                       "reference %s was already used by %s for another payment", j->reference,
                       j->payer);
        return e;
    }
    if (e != CX_OK && e != CX_EEXIST)
        return e;
    sqlite3_stmt *st = store_stmt(w, "SELECT " PAY_COLUMNS " FROM revenue_payments WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, id);
    cx_err pe = CX_OK; /* just written or found: not there is a failed read, not "payment": null */
    json_t *p = store_next(st, &pe) ? pay__row_json(st, a.exp) : NULL;
    sqlite3_reset(st);
    if (!p)
        return pe != CX_OK ? pe : CX_EDB;
    j->c.ok_status = e == CX_EEXIST ? 200 : 201;
    rev__call_body(&j->c, json_pack("{s:o*,s:o,s:b}", "payment", p, "balance",
                                    rev__account_json(&a), "repeated", e == CX_EEXIST));
    return CX_OK;
}

cx_err rev__ledger_payment(rev_service *r, store_conn *w, int64_t seq, const char *bank,
                           const json_t *body, int64_t index)
{
    pay_job j;
    memset(&j, 0, sizeof j);
    j.seq = seq;
    j.role = "ledger";
    j.key_id = index; /* the entry that carried it */
    const char *receipt = json_string_value(json_object_get(body, "receipt_no"));
    const char *currency = json_string_value(json_object_get(body, "currency"));
    const char *paid_at = json_string_value(json_object_get(body, "paid_at"));
    rev_dec amount;
    json_t *problems = json_array();
    bool ok = receipt && currency && paid_at && strlen(paid_at) >= REV_DATE_LEN &&
              rev__ref_ok(receipt) && rev_minor_unit(currency) >= 0 &&
              rev__amount_in(body, NULL, 0, currency, &amount, problems);
    json_decref(problems);
    rev_book *b = ok ? rev__book_get(r) : NULL;
    const rev_rate *used = NULL;
    char why[160], date[REV_DATE_LEN + 1];
    snprintf(date, sizeof date, "%s", paid_at ? paid_at : "");
    cx_err e = b ? rev__convert(b, amount, currency, date, &j.national, &used, why, sizeof why)
                 : CX_EINVAL;
    if (used) {
        rev_dec_format(used->rate, j.rate);
        snprintf(j.rate_date, sizeof j.rate_date, "%s", used->date);
    }
    rev__book_put(r, b);
    if (e != CX_OK) {
        /* the entry stands on the ledger either way; revenue cannot count it */
        cx_log(CX_LOG_WARN, "revenue: payment.receipt %s of %s at entry %lld not counted: %s",
               receipt ? receipt : "?", bank, (long long)index,
               ok ? why : "its amount or currency cannot be read");
        return CX_OK;
    }
    snprintf(j.payer, sizeof j.payer, "%s", bank);
    snprintf(j.reference, sizeof j.reference, "%s", receipt);
    snprintf(j.currency, sizeof j.currency, "%s", currency);
    snprintf(j.paid_at, sizeof j.paid_at, "%s", paid_at);
    rev_dec_format(amount, j.amount);
    rev_account a;
    int64_t id;
    e = pay__record(w, &j, &a, &id);
    if (e == CX_ESTATE)
        cx_log(CX_LOG_WARN, "revenue: payment.receipt %s of %s at entry %lld not counted: the "
                            "reference was used for another payment",
               receipt, bank, (long long)index);
    return e == CX_EDB || e == CX_ENOMEM ? e : CX_OK;
}

/* The declaration named by {id}, visible to the caller; replies 404. */
bool rev__declaration(rev_service *rs, http_req *r, int64_t *seq, char org[CX_ORG_MAX + 1])
{
    const cx_principal *who = http_principal(r);
    cx_err e = decl_lookup(rs->d, http_param(r, "id"), seq, org);
    if (e == CX_OK && who->role == CX_ROLE_TRADER && strcmp(who->org, org) != 0)
        e = CX_ENOTFOUND;
    if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such declaration", NULL);
    else if (e != CX_OK)
        http_reply_error(r, 503, "unavailable", cx_strerror(e), NULL);
    return e == CX_OK;
}

bool rev__account_of(rev_service *rs, http_req *r, store_conn **c, rev_account *a)
{
    int64_t seq;
    char org[CX_ORG_MAX + 1];
    if (!rev__declaration(rs, r, &seq, org))
        return false;
    *c = store_reader(rs->s);
    cx_err e = *c ? rev__account_read(*c, seq, a) : CX_EDB;
    /* read before the worker derived its row: made now, then read */
    if (e == CX_ENOTFOUND && (e = rev__row_ensure(rs->s, seq)) == CX_OK)
        e = rev__account_read(*c, seq, a);
    if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_assessed", "the declaration has no assessment", NULL);
    else if (e != CX_OK)
        http_reply_error(r, 503, "unavailable", "the database is not available", NULL);
    return e == CX_OK;
}

static void h_pay(http_req *r, void *ctx)
{
    rev_service *rs = ctx;
    if (!http_allow(r, REV_ROLES_PAY, "record payments"))
        return;
    rev_body b;
    if (!rev__body(r, &b))
        return;
    json_t *problems = b.problems;
    rev_payment_in in;
    rev_payment_check(b.json, b.text, b.len, cx_now_us(), &in, problems);
    json_decref(b.json);
    int64_t seq = 0;
    char org[CX_ORG_MAX + 1] = "";
    /* a bad body is refused before the declaration is looked up */
    if (!json_array_size(problems) && !rev__declaration(rs, r, &seq, org)) {
        json_decref(problems);
        return;
    }
    pay_job *j = rev__job_new(r, problems, "invalid_payment", "payment", sizeof *j);
    if (!j)
        return;
    const cx_principal *who = http_principal(r);
    j->seq = seq;
    snprintf(j->decl_org, sizeof j->decl_org, "%s", org);
    snprintf(j->payer, sizeof j->payer, "%s", who->org);
    j->role = cx_role_name(who->role);
    j->key_id = who->key_id;
    snprintf(j->reference, sizeof j->reference, "%s", in.reference);
    snprintf(j->currency, sizeof j->currency, "%s", in.currency);
    snprintf(j->paid_at, sizeof j->paid_at, "%s", in.paid_at);
    rev_dec_format(in.amount, j->amount);
    /* the rate of the day written in paid_at (its own offset) */
    char date[11];
    snprintf(date, sizeof date, "%.10s", j->paid_at);
    if (!rev__convert_in(rs, r, "invalid_payment", in.amount, j->currency, date, &j->national,
                         j->rate, j->rate_date)) {
        free(j);
        return;
    }
    rev__call_submit(rs, &j->c, r, pay__job);
}

/* GET /v1/declarations/{id}/payments[?limit&cursor]: oldest first, paged
 * by id with a sealed cursor; each page carries the account's balance. */
static void h_payments(http_req *r, void *ctx)
{
    rev_service *rs = ctx;
    http_page page;
    if (!http_allow(r, REV_ROLES_ACCOUNT, "read payments") ||
        !http_page_parse(r, HTTP_CURSOR_INT, 1000, 1000, &page))
        return;
    const cx_principal *who = http_principal(r);
    store_conn *c;
    rev_account a;
    if (!rev__account_of(rs, r, &c, &a))
        return;
    /* a bank sees the payments it made, nobody else's: sought on
     * revenue_payments_payer, so others' payments are never walked */
    bool bank = who->role == CX_ROLE_BANK;
    sqlite3_stmt *st = bank ? store_stmt(c, "SELECT " PAY_COLUMNS " FROM revenue_payments "
                                            "WHERE seq=?1 AND payer_org=?2 AND id > ?3 "
                                            "ORDER BY id LIMIT ?4")
                            : store_stmt(c, "SELECT " PAY_COLUMNS " FROM revenue_payments "
                                            "WHERE seq=?1 AND id > ?3 ORDER BY id LIMIT ?4");
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the database is not available", NULL);
        return;
    }
    sqlite3_bind_int64(st, 1, a.seq);
    if (bank)
        sqlite3_bind_text(st, 2, who->org, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, page.after);
    sqlite3_bind_int64(st, 4, page.limit + 1);
    json_t *items = json_array();
    int64_t last = 0;
    bool more = false;
    cx_err e = CX_OK;
    while (store_next(st, &e)) {
        if ((int64_t)json_array_size(items) == page.limit) {
            more = true;
            break;
        }
        last = sqlite3_column_int64(st, 0);
        cx_json_push(items, pay__row_json(st, a.exp), &e);
    }
    sqlite3_reset(st);
    if (e != CX_OK) {
        json_decref(items);
        http_reply_failed(r, e);
        return;
    }
    char cur[HTTP_CURSOR_MAX];
    http_cursor_seal(last, cur);
    http_reply_json(r, 200, json_pack("{s:o,s:o,s:o}", "items", items, "balance",
                                      rev__account_json(&a), "next_cursor",
                                      more ? json_string(cur) : json_null()));
}

/* ---- guarantees --------------------------------------------------------------------------------- */
typedef struct {
    rev_call c;
    char id[CX_ID_LEN + 1], trader[CX_ORG_MAX + 1], reference[REV_REF_MAX + 1];
    char amount[32], currency[4], rate[32], valid_until[11], by[CX_ORG_MAX + 1];
    int64_t national;
    int exp;
} guarantee_job;

json_t *rev__guarantee_json(sqlite3_stmt *st, int exp)
{
    rev_dec amount;
    const char *at = (const char *)sqlite3_column_text(st, 3);
    int64_t nat = sqlite3_column_int64(st, 6), drawn = sqlite3_column_int64(st, 8);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string((const char *)sqlite3_column_text(st, 0)));
    json_object_set_new(o, "trader", json_string((const char *)sqlite3_column_text(st, 1)));
    json_object_set_new(o, "reference", json_string((const char *)sqlite3_column_text(st, 2)));
    json_object_set_new(o, "amount", at && rev_dec_parse(at, strlen(at), &amount)
                                         ? rev_dec_json(amount)
                                         : json_null());
    json_object_set_new(o, "currency", json_string((const char *)sqlite3_column_text(st, 4)));
    json_object_set_new(o, "amount_national", rev_amount_json(nat, exp));
    json_object_set_new(o, "drawn", rev_amount_json(drawn, exp));
    json_object_set_new(o, "available", rev_amount_json(nat - drawn, exp));
    json_object_set_new(o, "valid_until", json_string((const char *)sqlite3_column_text(st, 7)));
    json_object_set_new(o, "created_by", json_string((const char *)sqlite3_column_text(st, 9)));
    json_object_set_new(o, "created_at", json_string((const char *)sqlite3_column_text(st, 10)));
    json_object_set_new(o, "status", json_string((const char *)sqlite3_column_text(st, 11)));
    const char *cancelled = (const char *)sqlite3_column_text(st, 12);
    json_object_set_new(o, "cancelled_at", cancelled ? json_string(cancelled) : json_null());
    return o;
}

static cx_err g__job(store_conn *w, void *arg)
{
    guarantee_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT " REV_G_COLUMNS " FROM revenue_guarantees "
                                     "WHERE reference=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->reference, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        bool same = strcmp((const char *)sqlite3_column_text(st, 1), j->trader) == 0 &&
                    strcmp((const char *)sqlite3_column_text(st, 3), j->amount) == 0 &&
                    strcmp((const char *)sqlite3_column_text(st, 4), j->currency) == 0 &&
                    strcmp((const char *)sqlite3_column_text(st, 7), j->valid_until) == 0;
        json_t *g = same ? rev__guarantee_json(st, j->exp) : NULL;
        sqlite3_reset(st);
        if (!same) {
            rev__call_fail(&j->c, 409, "reference_conflict", "/reference",
                           "guarantee reference %s is already used for another guarantee",
                           j->reference);
            return CX_ESTATE;
        }
        j->c.ok_status = 200;
        rev__call_body(&j->c, g);
        return CX_OK;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    cx_id_new(j->id);
    st = store_stmt(w, "INSERT INTO revenue_guarantees(id, trader, reference, amount, currency, "
                       "rate, amount_national, valid_until, created_by, created_at) "
                       "VALUES(?1,?2,?3,?4,?5,NULLIF(?6,''),?7,?8,?9,?10)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->trader, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, j->reference, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, j->amount, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, j->currency, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, j->rate, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, j->national);
    sqlite3_bind_text(st, 8, j->valid_until, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, j->by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, now, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    st = store_stmt(w, "SELECT " REV_G_COLUMNS " FROM revenue_guarantees WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    cx_err e = CX_OK; /* fails below on NULL; the step error is logged */
    json_t *g = store_next(st, &e) ? rev__guarantee_json(st, j->exp) : NULL;
    sqlite3_reset(st);
    j->c.ok_status = 201;
    rev__call_body(&j->c, g);
    return g ? CX_OK : CX_EDB;
}

static void h_guarantee_create(http_req *r, void *ctx)
{
    rev_service *rs = ctx;
    if (!http_allow_officer(r, "create guarantees"))
        return;
    rev_body b;
    if (!rev__body(r, &b))
        return;
    json_t *problems = b.problems;
    rev_guarantee_in in;
    int64_t now = cx_now_us();
    rev_guarantee_check(b.json, b.text, b.len, now, &in, problems);
    json_decref(b.json);
    guarantee_job *j = rev__job_new(r, problems, "invalid_guarantee", "guarantee", sizeof *j);
    if (!j)
        return;
    snprintf(j->trader, sizeof j->trader, "%s", in.trader);
    snprintf(j->reference, sizeof j->reference, "%s", in.reference);
    snprintf(j->currency, sizeof j->currency, "%s", in.currency);
    snprintf(j->valid_until, sizeof j->valid_until, "%s", in.valid_until);
    snprintf(j->by, sizeof j->by, "%s", http_principal(r)->org);
    rev_dec_format(in.amount, j->amount);
    j->exp = rs->exp;
    char today[32];
    cx_rfc3339_format(now, today);
    today[REV_DATE_LEN] = '\0';
    char rate_date[11];
    if (!rev__convert_in(rs, r, "invalid_guarantee", in.amount, j->currency, today, &j->national,
                         j->rate, rate_date)) {
        free(j);
        return;
    }
    rev__call_submit(rs, &j->c, r, g__job);
}

/* GET /v1/guarantees[?trader][&limit&cursor]: in creation order, paged by
 * rowid (a trader sees its own). */
static void h_guarantees(http_req *r, void *ctx)
{
    rev_service *rs = ctx;
    http_page page;
    if (!http_allow(r, REV_ROLES_TRADER, "read guarantees") ||
        !http_page_parse(r, HTTP_CURSOR_INT, 100, 1000, &page))
        return;
    const cx_principal *who = http_principal(r);
    const char *trader = http_query(r, "trader");
    if (trader && !cx_org_valid(trader)) {
        http_bad_query(r, "trader", "must be an organisation name");
        return;
    }
    if (who->role == CX_ROLE_TRADER) {
        if (trader && strcmp(trader, who->org) != 0) {
            http_reply_error1(r, 403, "forbidden", "a trader sees only its own guarantees",
                              "/trader", "must be your own organisation");
            return;
        }
        trader = who->org;
    }
    store_conn *c = store_reader(rs->s);
    /* a trader's page walks its own index entries (trader, rowid) */
    sqlite3_stmt *st = !c ? NULL
                       : trader ? store_stmt(c, "SELECT " REV_G_COLUMNS ", rowid FROM "
                                                "revenue_guarantees WHERE trader = ?2 AND "
                                                "rowid > ?1 ORDER BY rowid LIMIT ?3")
                                : store_stmt(c, "SELECT " REV_G_COLUMNS ", rowid FROM "
                                                "revenue_guarantees WHERE rowid > ?1 "
                                                "ORDER BY rowid LIMIT ?3");
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the database is not available", NULL);
        return;
    }
    sqlite3_bind_int64(st, 1, page.after);
    if (trader)
        sqlite3_bind_text(st, 2, trader, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, page.limit + 1);
    http_pager pg;
    http_pager_init(&pg, page.limit, HTTP_PAGE_BUDGET);
    int64_t last = 0;
    while (store_row(st, &pg.out) && http_pager_item(&pg)) {
        last = sqlite3_column_int64(st, REV_G_NCOLUMNS);
        http_pager_json_new(&pg, rev__guarantee_json(st, rs->exp));
    }
    sqlite3_reset(st);
    http_pager_reply_after(&pg, r, last); /* or the page's error */
}

static void h_guarantee(http_req *r, void *ctx)
{
    rev_service *rs = ctx;
    if (!http_allow(r, REV_ROLES_TRADER, "read guarantees"))
        return;
    const cx_principal *who = http_principal(r);
    store_conn *c = store_reader(rs->s);
    sqlite3_stmt *st =
        c ? store_stmt(c, "SELECT " REV_G_COLUMNS " FROM revenue_guarantees WHERE id=?1") : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the database is not available", NULL);
        return;
    }
    sqlite3_bind_text(st, 1, http_param(r, "id"), -1, SQLITE_TRANSIENT);
    json_t *g = NULL;
    cx_err e = CX_OK;
    if (store_next(st, &e) && (who->role != CX_ROLE_TRADER ||
                               strcmp((const char *)sqlite3_column_text(st, 1), who->org) == 0))
        g = rev__guarantee_json(st, rs->exp);
    sqlite3_reset(st);
    if (e != CX_OK) {
        http_reply_failed(r, e); /* not "no such guarantee": it could not be read */
        return;
    }
    if (!g) {
        http_reply_error(r, 404, "not_found", "no such guarantee", NULL);
        return;
    }
    st = store_stmt(c, "SELECT d.seq, d.amount, d.at, d.cause, a.decl_id FROM revenue_draws d "
                       "LEFT JOIN revenue_assessments a ON a.seq = d.seq "
                       "WHERE d.guarantee=?1 ORDER BY d.id DESC LIMIT 1000");
    json_t *draws = json_array();
    e = st ? CX_OK : CX_EDB;
    if (st) {
        sqlite3_bind_text(st, 1, http_param(r, "id"), -1, SQLITE_TRANSIENT);
        while (store_next(st, &e))
            cx_json_push(
                draws, json_pack("{s:s?,s:o,s:s,s:s}", "declaration",
                                 (const char *)sqlite3_column_text(st, 4), "amount",
                                 rev_amount_json(sqlite3_column_int64(st, 1), rs->exp), "at",
                                 (const char *)sqlite3_column_text(st, 2), "cause",
                                 (const char *)sqlite3_column_text(st, 3)),
                &e);
        sqlite3_reset(st);
    }
    json_object_set_new(g, "draws", draws);
    if (e == CX_OK)
        e = rev__guarantee_changes_set(c, http_param(r, "id"), g);
    if (e != CX_OK) {
        json_decref(g);
        http_reply_failed(r, e);
        return;
    }
    http_reply_json(r, 200, g);
}

cx_err rev__pay_routes(rev_service *r, http_server *srv)
{
    static const http_route_def routes[] = {
        {"POST", "/v1/declarations/{id}/payments", HTTP_AUTH | HTTP_JSON, h_pay, NULL},
        {"GET", "/v1/declarations/{id}/payments", HTTP_AUTH, h_payments, "limit cursor"},
        {"POST", "/v1/guarantees", HTTP_AUTH | HTTP_JSON, h_guarantee_create, NULL},
        {"GET", "/v1/guarantees", HTTP_AUTH, h_guarantees, "trader limit cursor"},
        {"GET", "/v1/guarantees/{id}", HTTP_AUTH, h_guarantee, NULL},
    };
    return http_routes(srv, routes, sizeof routes / sizeof routes[0], r);
}
