/* The request bodies of payments, refund payouts, guarantees and guarantee
 * changes, checked as pure functions (no database, no book, the clock
 * given): the handlers call them, and so does fuzz_rev_bodies. */
#include "revenue_int.h"

#include <stdio.h>
#include <string.h>

/* Checks the members of a body object against a list; appends problems. */
void rev__members(const json_t *body, const char *const *allowed, const char *const *required,
                  json_t *problems)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        bool known = false;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = strcmp(allowed[i], k) == 0;
        if (!known) {
            char p[96] = "";
            cx_jptr_push(p, sizeof p, k);
            cx_problem_add(problems, p, "unknown field");
        }
    }
    for (size_t i = 0; required[i]; i++)
        if (!json_object_get(body, required[i])) {
            char p[96] = "";
            cx_jptr_push(p, sizeof p, required[i]);
            cx_problem_add(problems, p, "is required");
        }
}

/* An object with exactly these members (required: all of allowed, or none). */
static bool body__object(const json_t *body, const char *const *allowed,
                         const char *const *required, json_t *problems)
{
    if (!json_is_object(body)) {
        cx_problem_add(problems, "", "must be an object");
        return false;
    }
    rev__members(body, allowed, required, problems);
    return true;
}

bool rev__ref_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > REV_REF_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr("._/-", c)))
            return false;
    }
    return true;
}

/* The reference member into out (REV_REF_MAX + 1 bytes). */
static void body__reference(const json_t *body, char *out, json_t *problems)
{
    const char *ref = json_string_value(json_object_get(body, "reference"));
    if (!rev__ref_ok(ref))
        cx_problem_add(problems, "/reference", "must be 1 to 64 characters of A-Z a-z 0-9 . _ "
                                               "/ -");
    else
        snprintf(out, REV_REF_MAX + 1, "%s", ref);
}

/* An amount member: a JSON number (read from its text) or a decimal string,
 * > 0, with no more decimals than the currency's minor unit. */
bool rev__amount_in(const json_t *body, const char *text, size_t len, const char *currency,
                    rev_dec *out, json_t *problems)
{
    const json_t *j = json_object_get(body, "amount");
    bool ok;
    if (json_is_string(j)) {
        ok = rev_dec_parse(json_string_value(j), json_string_length(j), out);
    } else {
        const char *at;
        size_t n;
        rev__top_lexeme(body, text, len, "amount", &at, &n);
        ok = json_is_number(j) && rev_dec_from_json(j, at, n, out);
    }
    ok = ok && rev_dec_storable(*out);
    if (!ok) {
        cx_problem_add(problems, "/amount", "must be a decimal number (or string) of at most 15 "
                                            "digits");
        return false;
    }
    int exp = currency ? rev_minor_unit(currency) : -1;
    if (out->coef <= 0) {
        cx_problem_add(problems, "/amount", "must be more than 0");
        return false;
    }
    if (exp >= 0 && out->scale > exp) {
        /* 12.50 is fine for EUR; 12.505 is not */
        rev_dec d = *out;
        while (d.scale > exp && d.coef % 10 == 0) {
            d.coef /= 10;
            d.scale--;
        }
        if (d.scale > exp) {
            cx_problem_add(problems, "/amount", "has more decimals than %s has (%d)", currency,
                           exp);
            return false;
        }
        *out = d;
    }
    return exp >= 0;
}

/* paid_at: RFC 3339, at most 5 minutes ahead of now_us. */
static void body__paid_at(const json_t *body, int64_t now_us, char out[REV_PAID_AT_MAX + 1],
                          json_t *problems)
{
    const char *paid_at = json_string_value(json_object_get(body, "paid_at"));
    int64_t at_us = 0;
    if (!paid_at || strlen(paid_at) > REV_PAID_AT_MAX ||
        cx_rfc3339_parse(paid_at, &at_us) != CX_OK)
        cx_problem_add(problems, "/paid_at", "must be an RFC 3339 date-time such as "
                                             "2026-10-02T09:15:00+09:00");
    else if (at_us > now_us + 300 * 1000000LL)
        cx_problem_add(problems, "/paid_at", "must not be in the future");
    else
        snprintf(out, REV_PAID_AT_MAX + 1, "%s", paid_at);
}

/* A currency member that has a minor unit; "" when bad. */
static void body__currency(const json_t *body, char out[4], json_t *problems)
{
    const char *c = json_string_value(json_object_get(body, "currency"));
    if (!c || !decl_currency_valid(c) || rev_minor_unit(c) < 0)
        cx_problem_add(problems, "/currency", "must be an ISO 4217 currency code such as KRW or "
                                              "USD");
    else
        snprintf(out, 4, "%s", c);
}

/* valid_until: YYYY-MM-DD, not before today (now_us, UTC). */
static void body__valid_until(const json_t *until, int64_t now_us, char out[REV_DATE_LEN + 1],
                              json_t *problems)
{
    const char *u = json_string_value(until);
    char today[32];
    cx_rfc3339_format(now_us, today);
    today[REV_DATE_LEN] = '\0';
    if (!u || strlen(u) != REV_DATE_LEN || !cx_date_parse(u, NULL, NULL, NULL))
        cx_problem_add(problems, "/valid_until", "must be a date written YYYY-MM-DD");
    else if (strcmp(u, today) < 0)
        cx_problem_add(problems, "/valid_until", "must not be in the past");
    else
        snprintf(out, REV_DATE_LEN + 1, "%s", u);
}

/* The problems array says it all: an out that is not wholly filled is
 * never used, as the handler refuses the body. */
static bool body__done(const json_t *problems)
{
    return json_array_size(problems) == 0;
}

bool rev_payment_check(const json_t *body, const char *text, size_t len, int64_t now_us,
                       rev_payment_in *out, json_t *problems)
{
    static const char *const allowed[] = {"amount", "currency", "reference", "paid_at", NULL};
    memset(out, 0, sizeof *out);
    if (body__object(body, allowed, allowed, problems)) {
        body__currency(body, out->currency, problems);
        rev__amount_in(body, text, len, out->currency[0] ? out->currency : NULL, &out->amount,
                       problems);
        body__reference(body, out->reference, problems);
        body__paid_at(body, now_us, out->paid_at, problems);
    }
    return body__done(problems);
}

bool rev_payout_check(const json_t *body, int64_t now_us, rev_payout_in *out, json_t *problems)
{
    static const char *const allowed[] = {"reference", "paid_at", NULL};
    memset(out, 0, sizeof *out);
    if (body__object(body, allowed, allowed, problems)) {
        body__reference(body, out->reference, problems);
        body__paid_at(body, now_us, out->paid_at, problems);
    }
    return body__done(problems);
}

bool rev_guarantee_check(const json_t *body, const char *text, size_t len, int64_t now_us,
                         rev_guarantee_in *out, json_t *problems)
{
    static const char *const allowed[] = {"trader", "amount", "currency", "valid_until",
                                          "reference", NULL};
    memset(out, 0, sizeof *out);
    if (body__object(body, allowed, allowed, problems)) {
        const char *trader = json_string_value(json_object_get(body, "trader"));
        if (!trader || !cx_org_valid(trader))
            cx_problem_add(problems, "/trader", "must be the trader's organisation (1 to 64 of "
                                                "A-Z a-z 0-9 . _ -)");
        else
            snprintf(out->trader, sizeof out->trader, "%s", trader);
        body__currency(body, out->currency, problems);
        rev__amount_in(body, text, len, out->currency[0] ? out->currency : NULL, &out->amount,
                       problems);
        body__reference(body, out->reference, problems);
        body__valid_until(json_object_get(body, "valid_until"), now_us, out->valid_until,
                          problems);
    }
    return body__done(problems);
}

bool rev_gchange_check(const json_t *body, const char *text, size_t len, const char *currency,
                       bool cancel, int64_t now_us, rev_gchange_in *out, json_t *problems)
{
    static const char *const amend_allowed[] = {"amount", "valid_until", "reason", NULL};
    static const char *const cancel_allowed[] = {"reason", NULL};
    static const char *const none[] = {NULL};
    memset(out, 0, sizeof *out);
    if (!body__object(body, cancel ? cancel_allowed : amend_allowed, none, problems))
        return false;
    const json_t *reason = json_object_get(body, "reason");
    size_t n = json_string_length(reason);
    if (reason && (!json_is_string(reason) || n < 1 || n > REV_REASON_MAX))
        cx_problem_add(problems, "/reason", "must be a sentence of 1 to %d bytes",
                       REV_REASON_MAX);
    else if (reason)
        snprintf(out->reason, sizeof out->reason, "%s", json_string_value(reason));
    if (cancel)
        return body__done(problems);
    out->has_amount = json_object_get(body, "amount") != NULL;
    if (out->has_amount)
        rev__amount_in(body, text, len, currency, &out->amount, problems);
    const json_t *until = json_object_get(body, "valid_until");
    if (until)
        body__valid_until(until, now_us, out->valid_until, problems);
    if (!out->has_amount && !until)
        cx_problem_add(problems, "", "must change amount or valid_until (or both)");
    return body__done(problems);
}
