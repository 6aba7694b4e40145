/* Unit tests of revenue's request bodies (body.c): a payment, a refund
 * payout, a guarantee, an amendment and a cancellation, each checked
 * without a server: what is accepted, what is filled in, and the JSON
 * Pointer and rule of every refusal. The clock is a parameter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "revenue.h"
#include "unitkit.h"

static int64_t now; /* 2026-06-01T00:00:00Z */

static json_t *J(const char *text)
{
    char msg[200];
    json_t *j = decl_parse(text, strlen(text), msg, sizeof msg);
    assert_non_null(j);
    return j;
}

static void test_payment(void **state)
{
    (void)state;
    const char *t = "{\"amount\":12.50,\"currency\":\"EUR\",\"reference\":\"sepa/77.1\","
                    "\"paid_at\":\"2026-05-31T09:15:00+09:00\"}";
    json_t *b = J(t), *p = json_array();
    rev_payment_in in;
    assert_true(rev_payment_check(b, t, strlen(t), now, &in, p));
    assert_int_equal(json_array_size(p), 0);
    char a[32];
    rev_dec_format(in.amount, a);
    assert_string_equal(a, "12.50"); /* as written: within EUR's 2 decimals */
    assert_string_equal(in.currency, "EUR");
    assert_string_equal(in.reference, "sepa/77.1");
    assert_string_equal(in.paid_at, "2026-05-31T09:15:00+09:00");
    json_decref(b);
    json_decref(p);

    /* every member wrong at once: each named */
    t = "{\"amount\":12.505,\"currency\":\"EUR\",\"reference\":\"a b\","
        "\"paid_at\":\"2026-06-01T00:06:00Z\",\"extra\":1}";
    b = J(t);
    p = json_array();
    assert_false(rev_payment_check(b, t, strlen(t), now, &in, p));
    assert_true(uk_has_problem(p, "/amount", "more decimals than EUR"));
    assert_true(uk_has_problem(p, "/reference", "1 to 64"));
    assert_true(uk_has_problem(p, "/paid_at", "future"));
    assert_true(uk_has_problem(p, "/extra", "unknown field"));
    assert_int_equal(json_array_size(p), 4);
    json_decref(b);
    json_decref(p);

    /* the exact spelling of the number, not a double: 2.675 stays 2.675 */
    t = "{\"amount\":2.675,\"currency\":\"BHD\",\"reference\":\"R\","
        "\"paid_at\":\"2026-06-01T00:04:59Z\"}";
    b = J(t);
    p = json_array();
    assert_true(rev_payment_check(b, t, strlen(t), now, &in, p));
    rev_dec_format(in.amount, a);
    assert_string_equal(a, "2.675");
    json_decref(b);
    json_decref(p);

    b = J("[]");
    p = json_array();
    assert_false(rev_payment_check(b, NULL, 0, now, &in, p));
    assert_true(uk_has_problem(p, "", "must be an object"));
    assert_int_equal(json_array_size(p), 1);
    json_decref(b);
    json_decref(p);

    b = J("{\"amount\":0,\"currency\":\"XXX\"}");
    p = json_array();
    assert_false(rev_payment_check(b, NULL, 0, now, &in, p));
    assert_true(uk_has_problem(p, "/currency", "ISO 4217"));
    assert_true(uk_has_problem(p, "/amount", "more than 0"));
    assert_true(uk_has_problem(p, "/reference", "is required"));
    assert_true(uk_has_problem(p, "/paid_at", "is required"));
    json_decref(b);
    json_decref(p);
}

static void test_payout(void **state)
{
    (void)state;
    json_t *b = J("{\"reference\":\"RF-1\",\"paid_at\":\"2026-05-30T12:00:00+02:00\"}");
    json_t *p = json_array();
    rev_payout_in in;
    assert_true(rev_payout_check(b, now, &in, p));
    assert_string_equal(in.reference, "RF-1");
    assert_string_equal(in.paid_at, "2026-05-30T12:00:00+02:00");
    json_decref(b);
    json_decref(p);

    char ref[80];
    memset(ref, 'R', 65);
    ref[65] = '\0';
    char text[200];
    snprintf(text, sizeof text, "{\"reference\":\"%s\",\"paid_at\":\"30 May\",\"amount\":1}",
             ref);
    b = J(text);
    p = json_array();
    assert_false(rev_payout_check(b, now, &in, p));
    assert_true(uk_has_problem(p, "/reference", NULL));
    assert_true(uk_has_problem(p, "/paid_at", "RFC 3339"));
    assert_true(uk_has_problem(p, "/amount", "unknown field"));
    json_decref(b);
    json_decref(p);
}

static void test_guarantee(void **state)
{
    (void)state;
    const char *t = "{\"trader\":\"ACME\",\"amount\":\"50000000\",\"currency\":\"KRW\","
                    "\"valid_until\":\"2026-06-01\",\"reference\":\"G-1\"}";
    json_t *b = J(t), *p = json_array();
    rev_guarantee_in in;
    assert_true(rev_guarantee_check(b, t, strlen(t), now, &in, p));
    assert_string_equal(in.trader, "ACME");
    assert_string_equal(in.valid_until, "2026-06-01"); /* today is not the past */
    assert_string_equal(in.currency, "KRW");
    json_decref(b);
    json_decref(p);

    t = "{\"trader\":\"no spaces\",\"amount\":1.5,\"currency\":\"KRW\","
        "\"valid_until\":\"2026-05-31\",\"reference\":\"G-1\"}";
    b = J(t);
    p = json_array();
    assert_false(rev_guarantee_check(b, t, strlen(t), now, &in, p));
    assert_true(uk_has_problem(p, "/trader", "organisation"));
    assert_true(uk_has_problem(p, "/amount", "more decimals than KRW"));
    assert_true(uk_has_problem(p, "/valid_until", "not be in the past"));
    assert_int_equal(json_array_size(p), 3);
    json_decref(b);
    json_decref(p);

    b = J("{\"trader\":\"A\",\"amount\":1,\"currency\":\"KRW\",\"valid_until\":\"2026-02-30\","
          "\"reference\":\"G\"}");
    p = json_array();
    assert_false(rev_guarantee_check(b, NULL, 0, now, &in, p));
    assert_true(uk_has_problem(p, "/valid_until", "YYYY-MM-DD"));
    json_decref(b);
    json_decref(p);
}

static void test_gchange(void **state)
{
    (void)state;
    rev_gchange_in in;
    const char *t = "{\"amount\":1000.10,\"reason\":\"renewed\"}";
    json_t *b = J(t), *p = json_array();
    assert_true(rev_gchange_check(b, t, strlen(t), "EUR", false, now, &in, p));
    assert_true(in.has_amount);
    assert_string_equal(in.valid_until, "");
    assert_string_equal(in.reason, "renewed");
    json_decref(b);
    json_decref(p);

    /* the guarantee's currency rules the decimals */
    assert_false(rev_gchange_check(b = J(t), t, strlen(t), "KRW", false, now, &in,
                                   p = json_array()));
    assert_true(uk_has_problem(p, "/amount", "KRW"));
    json_decref(b);
    json_decref(p);

    b = J("{\"valid_until\":\"2027-01-31\"}");
    p = json_array();
    assert_true(rev_gchange_check(b, NULL, 0, "KRW", false, now, &in, p));
    assert_false(in.has_amount);
    assert_string_equal(in.valid_until, "2027-01-31");
    json_decref(b);
    json_decref(p);

    b = J("{\"reason\":\"only a reason\"}");
    p = json_array();
    assert_false(rev_gchange_check(b, NULL, 0, "KRW", false, now, &in, p));
    assert_true(uk_has_problem(p, "", "amount or valid_until"));
    json_decref(b);
    json_decref(p);

    /* a cancellation takes a reason only */
    b = J("{\"reason\":\"left the scheme\"}");
    p = json_array();
    assert_true(rev_gchange_check(b, NULL, 0, "KRW", true, now, &in, p));
    assert_string_equal(in.reason, "left the scheme");
    json_decref(b);
    json_decref(p);

    b = J("{\"reason\":\"\",\"amount\":5}");
    p = json_array();
    assert_false(rev_gchange_check(b, NULL, 0, "KRW", true, now, &in, p));
    assert_true(uk_has_problem(p, "/reason", "1 to 500"));
    assert_true(uk_has_problem(p, "/amount", "unknown field"));
    json_decref(b);
    json_decref(p);

    char reason[520];
    memset(reason, 'x', 501);
    reason[501] = '\0';
    char text[600];
    snprintf(text, sizeof text, "{\"reason\":\"%s\"}", reason);
    b = J(text);
    p = json_array();
    assert_false(rev_gchange_check(b, NULL, 0, "KRW", true, now, &in, p));
    assert_true(uk_has_problem(p, "/reason", NULL));
    json_decref(b);
    json_decref(p);

    b = J("[\"cancel\"]");
    p = json_array();
    assert_false(rev_gchange_check(b, NULL, 0, "KRW", true, now, &in, p));
    assert_true(uk_has_problem(p, "", "must be an object"));
    json_decref(b);
    json_decref(p);
}

int main(void)
{
    char err[256];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK ||
        rev_minor_load(NULL, err, sizeof err) != CX_OK ||
        cx_rfc3339_parse("2026-06-01T00:00:00Z", &now) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payment),
        cmocka_unit_test(test_payout),
        cmocka_unit_test(test_guarantee),
        cmocka_unit_test(test_gchange),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
