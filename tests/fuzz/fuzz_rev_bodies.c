/* Fuzz target: the request bodies of revenue's writes (body.c) — a payment,
 * a refund payout, a guarantee, a guarantee amendment and a cancellation.
 * The first byte selects the body (byte % 5) and, for an amendment, the
 * guarantee's currency (byte / 5 % 3: KRW, EUR, BHD, exponents 0, 2, 3);
 * the rest is the body as the server reads it (decl_parse).
 * Invariants: accepted ⇔ no problem; every problem has a JSON Pointer path
 * and a message; what an accepted body fills in is what the rules allow. */
#include <string.h>

#include "fuzzkit.h"
#include "revenue.h"

static int64_t fz_now; /* 2026-06-01T00:00:00Z */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_refdata();
    char err[256];
    if (rev_minor_load(NULL, err, sizeof err) != CX_OK ||
        cx_rfc3339_parse("2026-06-01T00:00:00Z", &fz_now) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    return 0;
}

static void fz_reference(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > REV_REF_MAX ||
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/-") != n)
        abort();
}

static void fz_amount(rev_dec a, const char *currency)
{
    int exp = rev_minor_unit(currency);
    if (a.coef <= 0 || !rev_dec_storable(a) || exp < 0 || a.scale > exp)
        abort();
}

static void fz_paid_at(const char *s)
{
    int64_t us;
    if (cx_rfc3339_parse(s, &us) != CX_OK || us > fz_now + 300 * 1000000LL)
        abort();
}

static void fz_until(const char *s)
{
    if (strlen(s) != REV_DATE_LEN || !cx_date_parse(s, NULL, NULL, NULL) ||
        strcmp(s, "2026-06-01") < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const currencies[] = {"KRW", "EUR", "BHD"};
    unsigned kind = data[0] % 5;
    const char *currency = currencies[data[0] / 5 % 3];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char msg[200];
    json_t *body = decl_parse(text, len, msg, sizeof msg);
    if (!body)
        return 0;
    json_t *problems = json_array();
    bool ok;
    if (kind == 0) {
        rev_payment_in in;
        ok = rev_payment_check(body, text, len, fz_now, &in, problems);
        if (ok) {
            fz_amount(in.amount, in.currency);
            fz_reference(in.reference);
            fz_paid_at(in.paid_at);
        }
    } else if (kind == 1) {
        rev_payout_in in;
        ok = rev_payout_check(body, fz_now, &in, problems);
        if (ok) {
            fz_reference(in.reference);
            fz_paid_at(in.paid_at);
        }
    } else if (kind == 2) {
        rev_guarantee_in in;
        ok = rev_guarantee_check(body, text, len, fz_now, &in, problems);
        if (ok) {
            if (!cx_org_valid(in.trader))
                abort();
            fz_amount(in.amount, in.currency);
            fz_reference(in.reference);
            fz_until(in.valid_until);
        }
    } else {
        rev_gchange_in in;
        bool cancel = kind == 4;
        ok = rev_gchange_check(body, text, len, currency, cancel, fz_now, &in, problems);
        if (ok && in.has_amount)
            fz_amount(in.amount, currency);
        if (ok && in.valid_until[0])
            fz_until(in.valid_until);
        if (ok && (cancel ? in.has_amount || in.valid_until[0]
                          : !in.has_amount && !in.valid_until[0]))
            abort();
        if (ok && strlen(in.reason) > REV_REASON_MAX)
            abort();
    }
    fz_problems(problems, ok, NULL);
    json_decref(problems);
    json_decref(body);
    return 0;
}
