/* Unit tests of the revenue module: exact decimals and rounding at exponents
 * 0, 2 and 3, ISO 4217 minor units, every duty type, rates by date, the
 * longest tariff prefix with validity dates, preferences with and without a
 * certificate, excise and the VAT base, electronic transmissions, the
 * self-assessment and valuation checks, the CSV importers and their
 * versioning in the database, the histograms and the release check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "revenue.h"
#include "revbook.h"

/* ---- helpers -------------------------------------------------------------------------- */
static rev_dec D(const char *s)
{
    rev_dec d;
    assert_true(rev_dec_parse(s, strlen(s), &d));
    return d;
}

static int64_t amount(const json_t *o, const char *k, int exp)
{
    const json_t *j = json_object_get(o, k);
    assert_true(json_is_number(j));
    rev_dec d;
    assert_true(rev_dec_from_json(j, NULL, 0, &d));
    assert_true(d.scale <= exp);
    int64_t v = d.coef;
    for (int i = d.scale; i < exp; i++)
        v *= 10;
    return v;
}

static rev_rows *parse_csv(rev_import_kind kind, const char *text, json_t *problems)
{
    FILE *f = fmemopen((void *)text, strlen(text), "rb");
    assert_non_null(f);
    rev_rows *rows = NULL;
    size_t n = 0;
    cx_err e = rev_rows_parse(kind, f, &rows, problems, &n);
    fclose(f);
    if (e != CX_OK) {
        assert_null(rows);
        return NULL;
    }
    return rows;
}

static const char tariff_csv[] =
    "hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,specific_amount,specific_unit,"
    "excise_pct,vat_pct,description\n"
    "69,2020-01-01,,ad_valorem,8,,,,10,chapter\n"
    "6907,2020-01-01,,ad_valorem,9,,,,10,heading\n"
    "690722,2020-01-01,2025-12-31,ad_valorem,13,,,,10,until 2025\n"
    "690722,2026-03-01,,ad_valorem,12,,,,10,from March 2026\n"
    "2203,2020-01-01,,compound,5,120,LTR,72,10,beer\n"
    "2204,2020-01-01,,max_of,15,900,LTR,30,10,wine\n"
    "0306,2020-01-01,,specific,,1500,KGM,,10,crustaceans\n"
    "030617,2020-01-01,,min_of,20,3000,KGM,,10,shrimps\n"
    "2402,2020-01-01,,specific,,25.5,NAR,77,10,cigarettes\n"
    "940360,2020-01-01,,ad_valorem,8,,,,10,furniture\n"
    "8703,2020-01-01,,ad_valorem,8,,,5,10,cars\n";

static rev_book *demo_book(const char *currency)
{
    rev_book *b = rev_book_new(currency);
    book__csv(b, REV_IMPORT_TARIFF, tariff_csv);
    book__csv(b, REV_IMPORT_GROUPS, "group,country\nASEAN,VN\nASEAN,TH\n");
    book__csv(b, REV_IMPORT_PREFERENCES,
              "hs_code,origin,ad_valorem_pct,requires_certificate,valid_from,valid_to\n"
              "6907,ASEAN,0,yes,2020-01-01,\n"
              "6907,VN,4,no,2020-01-01,\n"
              "8703,DE,0,no,2020-01-01,\n"
              "2203,VN,0,no,2020-01-01,\n");
    book__csv(b, REV_IMPORT_RATES,
              "date,currency,rate\n2024-01-02,USD,1297.50\n2024-03-01,USD,1331.90\n"
              "2024-03-01,EUR,1443.20\n2024-03-01,KRW,0.000693\n");
    rev_book_finish(b);
    return b;
}

/* A declaration with one item; more members through the JSON text. */
static json_t *decl1(const char *date, const char *item_json)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"reference\":\"R\",\"type\":\"import\",\"date\":\"%s\",\"office\":\"KRPUS\","
             "\"declarant_id\":\"D\",\"importer_id\":\"I\",\"exporter_id\":\"EXP-1\","
             "\"items\":[%s],\"id\":\"01TEST\"}",
             date, item_json);
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        fail_msg("bad test JSON: %s: %s", je.text, text);
    return j;
}

static json_t *assess1(const rev_book *b, const char *date, const char *item,
                       const rev_lookups *lk)
{
    json_t *doc = decl1(date, item);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_t *a = rev_assess(b, doc, NULL, 0, lk, NULL);
    assert_non_null(a);
    free(text);
    json_decref(doc);
    return a;
}

static const json_t *item0(const json_t *a)
{
    return json_array_get(json_object_get(a, "items"), 0);
}

/* ---- decimals and rounding --------------------------------------------------------------- */
static void test_dec_parse(void **state)
{
    rev_dec d;
    assert_true(rev_dec_parse("2.675", 5, &d));
    assert_int_equal(d.coef, 2675);
    assert_int_equal(d.scale, 3);
    assert_true(rev_dec_parse("-0.5", 4, &d));
    assert_int_equal(d.coef, -5);
    assert_true(rev_dec_parse("1.5e3", 5, &d));
    assert_int_equal(d.coef, 1500);
    assert_int_equal(d.scale, 0);
    assert_true(rev_dec_parse("125E-2", 6, &d));
    assert_int_equal(d.coef, 125);
    assert_int_equal(d.scale, 2);
    assert_true(rev_dec_parse("1.50", 4, &d));
    assert_int_equal(d.scale, 2); /* the spelling is kept */
    assert_true(rev_dec_parse("999999999999999", 15, &d));
    assert_true(rev_dec_storable(d));
    /* what a client printed with %.17g is read as it is spelled */
    assert_true(rev_dec_parse("18733.779999999999", 18, &d));
    assert_int_equal(d.coef, 18733779999999999LL);
    assert_int_equal(d.scale, 12);
    assert_false(rev_dec_storable(d)); /* but it is not stored or echoed */
    assert_false(rev_dec_parse("1000000000000000000", 19, &d)); /* 19 digits */
    assert_false(rev_dec_parse("0.0000000000000000001", 21, &d)); /* 19 decimals */
    assert_true(rev_dec_parse("0.1000000000000000000000", 24, &d)); /* zeros drop */
    assert_false(rev_dec_parse("01", 2, &d));
    assert_false(rev_dec_parse(".5", 2, &d));
    assert_false(rev_dec_parse("5.", 2, &d));
    assert_false(rev_dec_parse("1e", 2, &d));
    assert_false(rev_dec_parse("+1", 2, &d));
    assert_false(rev_dec_parse("1,5", 3, &d));
    assert_false(rev_dec_parse("", 0, &d));
    /* the double that prints as 2.675 is below it, but the text is exact */
    char out[32];
    rev_dec_format(D("-0.05"), out);
    assert_string_equal(out, "-0.05");
    rev_dec_format(D("1234.5"), out);
    assert_string_equal(out, "1234.5");
}

static void test_dec_from_json(void **state)
{
    rev_dec d;
    json_t *r = json_real(2.675);
    assert_true(rev_dec_from_json(r, NULL, 0, &d)); /* shortest round trip: "2.675" */
    assert_int_equal(d.coef, 2675);
    assert_int_equal(d.scale, 3);
    /* the lexeme wins over the double (they are the same number here) */
    assert_true(rev_dec_from_json(r, "2.67500", 7, &d));
    assert_int_equal(d.coef, 267500);
    /* a spelling of 2.675's double with 51 digits is more than money holds */
    const char *long51 = "2.67499999999999982236431605997495353221893310546875";
    assert_false(rev_dec_from_json(r, long51, strlen(long51), &d));
    /* 17 digits below the half: the text rounds down where the double's
     * shortest spelling (2.675) would round up */
    const char *below = "2.6749999999999999";
    assert_true(rev_dec_from_json(r, below, strlen(below), &d));
    int64_t v;
    assert_int_equal(rev_mul(d, D("1"), 2, &v), CX_OK);
    assert_int_equal(v, 267);
    json_decref(r);
    r = json_real(0.1 + 0.2); /* no text: its shortest spelling, 0.30000000000000004 */
    assert_true(rev_dec_from_json(r, NULL, 0, &d));
    assert_int_equal(d.scale, 17);
    json_decref(r);
    json_t *i = json_integer(24308174);
    assert_true(rev_dec_from_json(i, NULL, 0, &d));
    assert_int_equal(d.coef, 24308174);
    json_decref(i);
    /* a decimal written back as a JSON number keeps its text */
    json_t *j = rev_dec_json(D("1331.90"));
    char *s = cx_json_dump(j, NULL);
    assert_string_equal(s, "1331.9");
    free(s);
    json_decref(j);
}

static void test_rounding_exponents(void **state)
{
    int64_t v;
    rev_dec one = D("1");
    /* exponent 2: half away from zero on the exact decimal */
    assert_int_equal(rev_mul(D("2.675"), one, 2, &v), CX_OK);
    assert_int_equal(v, 268);
    assert_int_equal(rev_mul(D("2.665"), one, 2, &v), CX_OK);
    assert_int_equal(v, 267);
    assert_int_equal(rev_mul(D("-2.675"), one, 2, &v), CX_OK);
    assert_int_equal(v, -268);
    assert_int_equal(rev_mul(D("1.005"), one, 2, &v), CX_OK); /* 1.00499999… as a double */
    assert_int_equal(v, 101);
    /* exponent 0 */
    assert_int_equal(rev_mul(D("2.5"), one, 0, &v), CX_OK);
    assert_int_equal(v, 3);
    assert_int_equal(rev_mul(D("-2.5"), one, 0, &v), CX_OK);
    assert_int_equal(v, -3);
    assert_int_equal(rev_mul(D("2.4999"), one, 0, &v), CX_OK);
    assert_int_equal(v, 2);
    /* exponent 3 */
    assert_int_equal(rev_mul(D("1.0005"), one, 3, &v), CX_OK);
    assert_int_equal(v, 1001);
    assert_int_equal(rev_mul(D("1.00049"), one, 3, &v), CX_OK);
    assert_int_equal(v, 1000);
    /* products: 18250.75 USD at 1331.90 = 24308173.925 */
    assert_int_equal(rev_mul(D("18250.75"), D("1331.90"), 0, &v), CX_OK);
    assert_int_equal(v, 24308174);
    assert_int_equal(rev_mul(D("18250.75"), D("1331.90"), 2, &v), CX_OK);
    assert_int_equal(v, 2430817393);
    /* percentages at the amount's own exponent: 1.05 EUR × 50 % = 0.525 */
    assert_int_equal(rev_pct(105, D("50"), &v), CX_OK);
    assert_int_equal(v, 53);
    assert_int_equal(rev_pct(-105, D("50"), &v), CX_OK);
    assert_int_equal(v, -53);
    assert_int_equal(rev_pct(1000, D("7.25"), &v), CX_OK);
    assert_int_equal(v, 73); /* 72.5 */
    /* the cap */
    assert_int_equal(rev_mul(D("999999999999999"), D("999999999"), 0, &v), CX_ETOOBIG);
    char t[40];
    rev_amount_format(124000050, 2, true, t);
    assert_string_equal(t, "1,240,000.50");
    rev_amount_format(-1240000, 0, true, t);
    assert_string_equal(t, "-1,240,000");
    rev_amount_format(5, 3, false, t);
    assert_string_equal(t, "0.005");
    rev_hs_dotted("690722", t);
    assert_string_equal(t, "6907.22");
    rev_hs_dotted("6907221000", t);
    assert_string_equal(t, "6907.22.10.00");
}

static void test_minor_units(void **state)
{
    assert_int_equal(rev_minor_unit("KRW"), 0);
    assert_int_equal(rev_minor_unit("JPY"), 0);
    assert_int_equal(rev_minor_unit("CLP"), 0);
    assert_int_equal(rev_minor_unit("EUR"), 2);
    assert_int_equal(rev_minor_unit("USD"), 2);
    assert_int_equal(rev_minor_unit("BHD"), 3);
    assert_int_equal(rev_minor_unit("KWD"), 3);
    assert_int_equal(rev_minor_unit("TND"), 3);
    assert_int_equal(rev_minor_unit("CLF"), 4);
    assert_int_equal(rev_minor_unit("XAU"), -1); /* N.A. */
    assert_int_equal(rev_minor_unit("QQQ"), -1);
    /* every currency declarations may use has a row */
    FILE *f = fopen("/usr/share/iso-codes/json/iso_4217.json", "rb");
    assert_non_null(f);
    json_error_t je;
    json_t *iso = json_loadf(f, 0, &je);
    fclose(f);
    assert_non_null(iso);
    size_t i, missing = 0;
    json_t *c;
    json_array_foreach(json_object_get(iso, "4217"), i, c)
    {
        const char *code = json_string_value(json_object_get(c, "alpha_3"));
        const char *x = "XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX";
        if (rev_minor_unit(code) < 0 && !strstr(x, code)) {
            print_error("no minor unit for %s\n", code);
            missing++;
        }
    }
    json_decref(iso);
    assert_int_equal(missing, 0);
}

/* ---- the book ----------------------------------------------------------------------------- */
static void test_rate_by_date(void **state)
{
    rev_book *b = demo_book("KRW");
    const rev_rate *r = rev_book_rate(b, "USD", "2024-02-15");
    assert_non_null(r);
    assert_string_equal(r->date, "2024-01-02");
    r = rev_book_rate(b, "USD", "2024-03-01"); /* on the day */
    assert_string_equal(r->date, "2024-03-01");
    r = rev_book_rate(b, "USD", "2030-01-01"); /* the latest before */
    assert_string_equal(r->date, "2024-03-01");
    assert_null(rev_book_rate(b, "USD", "2024-01-01")); /* nothing before */
    assert_null(rev_book_rate(b, "GBP", "2024-03-01"));
    assert_null(rev_book_rate(b, "EUR", "2024-02-29"));
    rev_book_free(b);
}

/* Values for statistics (risk's features) in national currency, at the
 * rate of the date; nothing for a currency without a rate or another `to`. */
static void test_value_in_national_currency(void **state)
{
    rev_book *b = demo_book("KRW");
    double v = 0;
    assert_true(rev_book_value_in(b, 100, "USD", "2024-02-15", "KRW", &v));
    assert_true(fabs(v - 129750) < 1e-6);
    assert_true(rev_book_value_in(b, 100, "USD", "2024-03-01", "KRW", &v));
    assert_true(fabs(v - 133190) < 1e-6);
    assert_true(rev_book_value_in(b, 250.5, "KRW", "2019-01-01", "KRW", &v));
    assert_true(v == 250.5);
    assert_false(rev_book_value_in(b, 100, "USD", "2024-01-01", "KRW", &v)); /* before */
    assert_false(rev_book_value_in(b, 100, "GBP", "2024-03-01", "KRW", &v));
    assert_false(rev_book_value_in(b, 100, "USD", "2024-03-01", "EUR", &v)); /* not ours */
    assert_false(rev_book_value_in(b, NAN, "USD", "2024-03-01", "KRW", &v));
    assert_false(rev_book_value_in(NULL, 1, "KRW", "2024-03-01", "KRW", &v));
    rev_book_free(b);
}

static void test_longest_prefix_with_validity(void **state)
{
    rev_book *b = demo_book("KRW");
    const rev_tariff_line *l = rev_book_line(b, "6907221000", "2024-05-01");
    assert_string_equal(l->hs_code, "690722");
    assert_string_equal(l->description, "until 2025");
    l = rev_book_line(b, "690722", "2026-03-01");
    assert_string_equal(l->description, "from March 2026");
    /* in the gap between the two versions the heading applies */
    l = rev_book_line(b, "690722", "2026-01-15");
    assert_string_equal(l->hs_code, "6907");
    l = rev_book_line(b, "690790", "2024-05-01");
    assert_string_equal(l->hs_code, "6907");
    l = rev_book_line(b, "691000", "2024-05-01");
    assert_string_equal(l->hs_code, "69");
    assert_null(rev_book_line(b, "691000", "2019-12-31")); /* before every line */
    assert_null(rev_book_line(b, "010121", "2024-05-01"));
    rev_book_free(b);
}

/* ---- every duty type ------------------------------------------------------------------------- */
static void test_ad_valorem_excise_vat(void **state)
{
    rev_book *b = demo_book("KRW");
    /* 8703: 8 % duty, 5 % excise on (value + duty), VAT on value + duty + excise */
    json_t *a = assess1(b, "2024-03-01",
                        "{\"hs_code\":\"870323\",\"country_of_origin\":\"JP\","
                        "\"net_mass_kg\":1300,\"value\":21000.5,\"currency\":\"USD\"}",
                        NULL);
    const json_t *it = item0(a);
    int64_t cv = 27970566; /* 21000.5 × 1331.90 = 27970565.95 */
    assert_int_equal(amount(it, "customs_value", 0), cv);
    int64_t duty = 2237645; /* 8 % = 2237645.28 */
    assert_int_equal(amount(it, "duty", 0), duty);
    int64_t excise = 1510411; /* 5 % of 30208211 = 1510410.55 */
    assert_int_equal(amount(it, "excise", 0), excise);
    int64_t vat = 3171862; /* 10 % of 31718622 = 3171862.2 */
    assert_int_equal(amount(it, "vat", 0), vat);
    assert_int_equal(amount(a, "total", 0), duty + excise + vat);
    assert_int_equal(amount(a, "total_duty", 0), duty);
    assert_int_equal(json_array_size(json_object_get(a, "problems")), 0);
    const json_t *line = json_object_get(it, "tariff_line");
    assert_int_equal(json_object_size(line), 9);
    assert_string_equal(json_string_value(json_object_get(line, "duty_type")), "ad_valorem");
    assert_true(json_is_null(json_object_get(line, "valid_to")));
    assert_true(json_is_null(json_object_get(it, "preference")));
    json_decref(a);
    rev_book_free(b);
}

static void test_specific_kgm_and_other_units(void **state)
{
    rev_book *b = demo_book("KRW");
    /* 0306: 1500 KRW per KGM of net mass */
    json_t *a = assess1(b, "2024-03-01",
                        "{\"hs_code\":\"030611\",\"country_of_origin\":\"NO\","
                        "\"net_mass_kg\":100.5,\"quantity\":3,\"unit\":\"NAR\",\"value\":1000000,"
                        "\"currency\":\"KRW\"}",
                        NULL);
    const json_t *it = item0(a);
    assert_int_equal(amount(it, "customs_value", 0), 1000000);
    assert_int_equal(amount(it, "duty", 0), 150750);
    assert_int_equal(amount(it, "vat", 0), 115075);
    assert_true(json_is_null(json_object_get(it, "exchange_rate"))); /* national: rate 1 */
    json_decref(a);
    /* 2402: 25.5 KRW per NAR of the item's quantity; 77 % excise */
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"240220\",\"country_of_origin\":\"ID\",\"net_mass_kg\":12,"
                "\"quantity\":10001,\"unit\":\"NAR\",\"value\":300000,\"currency\":\"KRW\"}",
                NULL);
    it = item0(a);
    assert_int_equal(amount(it, "duty", 0), 255026); /* 255025.5 */
    assert_int_equal(amount(it, "excise", 0), 427370); /* 77 % of 555026 = 427370.02 */
    json_decref(a);
    /* the wrong unit, and no quantity, are problems (stored, not refused) */
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"240220\",\"country_of_origin\":\"ID\",\"net_mass_kg\":12,"
                "\"quantity\":40,\"unit\":\"KGM\",\"value\":300000,\"currency\":\"KRW\"}",
                NULL);
    const json_t *p = json_array_get(json_object_get(a, "problems"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "path")), "/items/0/unit");
    assert_true(json_is_null(json_object_get(item0(a), "duty")));
    assert_int_equal(amount(a, "total", 0), 0);
    json_decref(a);
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"240220\",\"country_of_origin\":\"ID\",\"net_mass_kg\":12,"
                "\"value\":300000,\"currency\":\"KRW\"}",
                NULL);
    p = json_array_get(json_object_get(a, "problems"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "path")), "/items/0/quantity");
    json_decref(a);
    rev_book_free(b);
}

static void test_compound_max_min(void **state)
{
    rev_book *b = demo_book("EUR");
    /* national EUR (exponent 2): beer, 5 % + 120 EUR per LTR, rounded once */
    json_t *a = assess1(b, "2024-03-01",
                        "{\"hs_code\":\"220300\",\"country_of_origin\":\"DE\","
                        "\"net_mass_kg\":520,\"quantity\":0.5,\"unit\":\"LTR\","
                        "\"value\":2.675,\"currency\":\"EUR\"}",
                        NULL);
    const json_t *it = item0(a);
    assert_int_equal(amount(it, "customs_value", 2), 268);          /* 2.675 -> 2.68 */
    assert_int_equal(amount(it, "duty", 2), 6013);                  /* 0.134 + 60 = 60.134 */
    assert_int_equal(amount(it, "excise", 2), 4522);                /* 72 % of 62.81 = 45.2232 */
    assert_int_equal(amount(it, "vat", 2), 1080);                   /* 10 % of 108.03 */
    json_decref(a);
    /* wine, max_of(15 %, 900 per LTR): the specific part wins for cheap wine */
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"220421\",\"country_of_origin\":\"FR\",\"net_mass_kg\":80,"
                "\"quantity\":75,\"unit\":\"LTR\",\"value\":1000,\"currency\":\"EUR\"}",
                NULL);
    assert_int_equal(amount(item0(a), "duty", 2), 6750000);
    json_decref(a);
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"220421\",\"country_of_origin\":\"FR\",\"net_mass_kg\":80,"
                "\"quantity\":0.75,\"unit\":\"LTR\",\"value\":50000,\"currency\":\"EUR\"}",
                NULL);
    assert_int_equal(amount(item0(a), "duty", 2), 750000); /* 15 % of 50000 > 675 */
    json_decref(a);
    /* shrimps, min_of(20 %, 3000 per KGM) */
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"030617\",\"country_of_origin\":\"VN\",\"net_mass_kg\":10,"
                "\"value\":1000.01,\"currency\":\"EUR\"}",
                NULL);
    assert_int_equal(amount(item0(a), "duty", 2), 20000); /* 20 % = 200.002 -> 200.00 */
    json_decref(a);
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"030617\",\"country_of_origin\":\"VN\",\"net_mass_kg\":0.001,"
                "\"value\":1000,\"currency\":\"EUR\"}",
                NULL);
    assert_int_equal(amount(item0(a), "duty", 2), 300); /* 3000 × 0.001 = 3 < 200 */
    json_decref(a);
    rev_book_free(b);
}

static void test_exponent_three(void **state)
{
    rev_book *b = rev_book_new("BHD");
    book__csv(b, REV_IMPORT_TARIFF,
              "hs_code,valid_from,duty_type,ad_valorem_pct,vat_pct\n"
              "8471,2020-01-01,ad_valorem,5,10\n");
    rev_book_finish(b);
    json_t *a = assess1(b, "2024-03-01",
                        "{\"hs_code\":\"847130\",\"country_of_origin\":\"CN\","
                        "\"net_mass_kg\":2,\"value\":10.0005,\"currency\":\"BHD\"}",
                        NULL);
    const json_t *it = item0(a);
    assert_int_equal(amount(it, "customs_value", 3), 10001); /* 10.0005 -> 10.001 */
    assert_int_equal(amount(it, "duty", 3), 500);            /* 5 % = 0.50005 -> 0.500 */
    assert_int_equal(amount(it, "vat", 3), 1050);            /* 10 % of 10.501 = 1.0501 */
    char *s = cx_json_dump(json_object_get(it, "customs_value"), NULL);
    assert_string_equal(s, "10.001");
    free(s);
    json_decref(a);
    rev_book_free(b);
}

static void test_missing_line_and_rate(void **state)
{
    rev_book *b = demo_book("KRW");
    json_t *a = assess1(b, "2024-03-01",
                        "{\"hs_code\":\"010121\",\"country_of_origin\":\"IE\","
                        "\"net_mass_kg\":500,\"value\":10,\"currency\":\"GBP\"}",
                        NULL);
    const json_t *p = json_object_get(a, "problems");
    assert_int_equal(json_array_size(p), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(p, 0), "path")),
                        "/items/0/currency");
    assert_string_equal(json_string_value(json_object_get(json_array_get(p, 1), "path")),
                        "/items/0/hs_code");
    assert_true(json_is_null(json_object_get(item0(a), "customs_value")));
    json_decref(a);
    rev_book_free(b);
}

/* ---- preferences ----------------------------------------------------------------------------- */
static bool cert_found(void *ctx, const rev_cert_query *q, rev_certificate *out)
{
    int *calls = ctx;
    (*calls)++;
    if (strcmp(q->exporter, "EXP-1") || strcmp(q->origin, "TH"))
        return false;
    snprintf(out->issuer, sizeof out->issuer, "TCC");
    snprintf(out->number, sizeof out->number, "C-77");
    out->index = 42;
    return true;
}

static void test_preference_with_and_without_certificate(void **state)
{
    rev_book *b = demo_book("KRW");
    int calls = 0;
    rev_lookups lk = {.certificate = cert_found, .cert_ctx = &calls};
    const char *item = "{\"hs_code\":\"690722\",\"country_of_origin\":\"TH\","
                       "\"net_mass_kg\":1000,\"value\":1000000,\"currency\":\"KRW\"}";
    json_t *a = assess1(b, "2024-03-01", item, &lk);
    const json_t *p = json_object_get(item0(a), "preference");
    assert_true(json_is_true(json_object_get(p, "applied")));
    assert_string_equal(json_string_value(json_object_get(p, "origin")), "ASEAN");
    assert_int_equal(amount(p, "ad_valorem_pct", 0), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "certificate"),
                                                          "number")),
                        "C-77");
    assert_int_equal(json_object_size(p), 5);
    assert_int_equal(amount(item0(a), "duty", 0), 0);
    assert_int_equal(amount(item0(a), "vat", 0), 100000);
    json_decref(a);
    /* without a certificate: the general rate, and the reason says why */
    a = assess1(b, "2024-03-01", item, NULL);
    p = json_object_get(item0(a), "preference");
    assert_false(json_is_true(json_object_get(p, "applied")));
    assert_true(json_is_null(json_object_get(p, "certificate")));
    assert_non_null(strstr(json_string_value(json_object_get(p, "reason")), "certificate"));
    assert_int_equal(amount(item0(a), "duty", 0), 130000);
    json_decref(a);
    /* VN: the certificate-free 4 % preference applies when ASEAN's 0 % cannot */
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"690722\",\"country_of_origin\":\"VN\",\"net_mass_kg\":1000,"
                "\"value\":1000000,\"currency\":\"KRW\"}",
                &lk);
    p = json_object_get(item0(a), "preference");
    assert_true(json_is_true(json_object_get(p, "applied")));
    assert_string_equal(json_string_value(json_object_get(p, "origin")), "VN");
    assert_int_equal(amount(item0(a), "duty", 0), 40000);
    json_decref(a);
    /* a preference replaces only the ad valorem part: beer from VN pays 0 % + 120/LTR */
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"220300\",\"country_of_origin\":\"VN\",\"net_mass_kg\":10,"
                "\"quantity\":10,\"unit\":\"LTR\",\"value\":50000,\"currency\":\"KRW\"}",
                &lk);
    assert_int_equal(amount(item0(a), "duty", 0), 1200);
    json_decref(a);
    rev_book_free(b);
}

static void test_transmission_and_self_assessment(void **state)
{
    rev_book *b = demo_book("KRW");
    /* an electronic transmission: no customs duty (WTO moratorium), VAT as the line says */
    json_t *a = assess1(b, "2024-03-01",
                        "{\"hs_code\":\"940360\",\"country_of_origin\":\"US\","
                        "\"net_mass_kg\":0,\"value\":500000,\"currency\":\"KRW\","
                        "\"transmission\":true}",
                        NULL);
    assert_int_equal(amount(item0(a), "duty", 0), 0);
    assert_int_equal(amount(item0(a), "vat", 0), 50000);
    assert_true(json_is_true(json_object_get(item0(a), "transmission")));
    json_decref(a);
    /* the trader's own rate differs from the tariff's: a finding, in a sentence */
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"690722\",\"country_of_origin\":\"CN\",\"net_mass_kg\":1000,"
                "\"value\":24800000,\"currency\":\"KRW\",\"tax_rate\":8}",
                NULL);
    const json_t *f = json_array_get(json_object_get(a, "findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "message")),
                        "declared 8 % duty, tariff line 6907.22 says 13 %: 1,240,000 KRW short");
    assert_string_equal(json_string_value(json_object_get(f, "path")), "/items/0/tax_rate");
    json_decref(a);
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"690722\",\"country_of_origin\":\"CN\",\"net_mass_kg\":1000,"
                "\"value\":24800000,\"currency\":\"KRW\",\"tax_rate\":13}",
                NULL);
    assert_int_equal(json_array_size(json_object_get(a, "findings")), 0);
    json_decref(a);
    rev_book_free(b);
}

/* Electronic transmissions (issue 14): customs duty 0 whatever the line
 * levies and whatever preference exists, excise and VAT as the line says on
 * the customs value alone, rounded like any item; the rule is named. */
static void test_transmission_rules(void **state)
{
    (void)state;
    rev_book *b = demo_book("KRW");
    /* cars: 8 % duty, 5 % excise, 10 % VAT; a preference for DE exists */
    json_t *a = assess1(b, "2024-03-01",
                        "{\"hs_code\":\"870323\",\"country_of_origin\":\"DE\","
                        "\"net_mass_kg\":0,\"value\":1000000,\"currency\":\"KRW\","
                        "\"transmission\":true}",
                        NULL);
    assert_int_equal(amount(item0(a), "duty", 0), 0);
    assert_int_equal(amount(item0(a), "excise", 0), 50000);  /* 1,000,000 × 5 % */
    assert_int_equal(amount(item0(a), "vat", 0), 105000);    /* 1,050,000 × 10 % */
    assert_int_equal(amount(a, "total", 0), 155000);
    assert_string_equal(json_string_value(json_object_get(item0(a), "duty_rule")),
                        "wto_moratorium");
    const json_t *p = json_object_get(item0(a), "preference");
    assert_true(json_is_false(json_object_get(p, "applied")));
    assert_non_null(strstr(json_string_value(json_object_get(p, "reason")), "WTO moratorium"));
    json_decref(a);
    /* the same car printed here from the design: the general duty */
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"870323\",\"country_of_origin\":\"CN\","
                "\"net_mass_kg\":1200,\"value\":1000000,\"currency\":\"KRW\"}",
                NULL);
    assert_int_equal(amount(item0(a), "duty", 0), 80000);
    assert_int_equal(amount(item0(a), "excise", 0), 54000);  /* 1,080,000 × 5 % */
    assert_int_equal(amount(item0(a), "vat", 0), 113400);    /* 1,134,000 × 10 % */
    assert_null(json_object_get(item0(a), "duty_rule"));
    json_decref(a);
    /* a specific line needs no quantity for a transmission: there is no duty */
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"240220\",\"country_of_origin\":\"US\","
                "\"net_mass_kg\":0,\"value\":10001,\"currency\":\"KRW\","
                "\"transmission\":true,\"tax_rate\":8}",
                NULL);
    assert_int_equal(json_array_size(json_object_get(a, "problems")), 0);
    assert_int_equal(amount(item0(a), "duty", 0), 0);
    assert_int_equal(amount(item0(a), "excise", 0), 7701); /* 10,001 × 77 % = 7,700.77 */
    assert_int_equal(amount(item0(a), "vat", 0), 1770);    /* 17,702 × 10 % = 1,770.2 */
    const json_t *f = json_array_get(json_object_get(a, "findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "message")),
                        "declared 8 % duty, but an electronic transmission bears no customs "
                        "duty (WTO moratorium): 800 KRW over");
    json_decref(a);
    rev_book_free(b);
    /* rounding at exponent 2: VAT 10 % of 1,005.05 EUR is 100.505, half away: 100.51 */
    b = demo_book("EUR");
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"940360\",\"country_of_origin\":\"US\","
                "\"net_mass_kg\":0,\"value\":1005.05,\"currency\":\"EUR\","
                "\"transmission\":true}",
                NULL);
    assert_int_equal(amount(item0(a), "customs_value", 2), 100505);
    assert_int_equal(amount(item0(a), "duty", 2), 0);
    assert_int_equal(amount(item0(a), "vat", 2), 10051);
    json_decref(a);
    rev_book_free(b);
}

/* ---- exact text --------------------------------------------------------------------------------- */
static void test_lexemes_from_text(void **state)
{
    rev_book *b = rev_book_new("EUR");
    book__csv(b, REV_IMPORT_TARIFF,
              "hs_code,valid_from,duty_type,ad_valorem_pct,vat_pct\n"
              "69,2020-01-01,ad_valorem,0,0\n");
    rev_book_finish(b);
    /* 0.125 is exact in binary; 1.005 is not: read from the text it rounds up */
    const char *text = "{\"reference\":\"R\",\"type\":\"import\",\"date\":\"2024-03-01\","
                       "\"office\":\"X\",\"declarant_id\":\"D\",\"importer_id\":\"I\","
                       "\"items\":[{\"hs_code\":\"690722\",\"country_of_origin\":\"CN\","
                       "\"gross_mass_kg\": 2e1 ,\"net_mass_kg\":10,\"value\":1.005,"
                       "\"currency\":\"EUR\"},{\"hs_code\":\"690722\",\"country_of_origin\":"
                       "\"CN\",\"net_mass_kg\":-0,\"value\":100.0050,\"currency\":\"EUR\"}]}";
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    json_t *a = rev_assess(b, doc, text, strlen(text), NULL, NULL);
    assert_int_equal(amount(json_array_get(json_object_get(a, "items"), 0), "customs_value", 2),
                     101);
    assert_int_equal(amount(json_array_get(json_object_get(a, "items"), 1), "customs_value", 2),
                     10001);
    json_decref(a);
    /* text that does not match the document is not trusted */
    const char *other = "{\"items\":[{\"value\":7}]}";
    a = rev_assess(b, doc, other, strlen(other), NULL, NULL);
    assert_int_equal(amount(json_array_get(json_object_get(a, "items"), 0), "customs_value", 2),
                     101); /* 1.005's double is 1.00499…, but its shortest spelling is 1.005 */
    json_decref(a);
    json_decref(doc);
    /* 1.00499999999999999 has 1.005's double: only its text rounds down; the
     * strings before it (escaped quotes and backslashes, digits) are skipped */
    text = "{\"reference\":\"R\\\"1.5\\\\\",\"type\":\"import\",\"date\":\"2024-03-01\","
           "\"office\":\"X\\\\\",\"declarant_id\":\"\\\"\",\"importer_id\":\"I\","
           "\"items\":[{\"hs_code\":\"690722\",\"description\":\"2 \\\\\\\"3\\\\\","
           "\"country_of_origin\":\"CN\",\"net_mass_kg\":10,\"value\":1.00499999999999999,"
           "\"currency\":\"EUR\"}]}";
    doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    a = rev_assess(b, doc, text, strlen(text), NULL, NULL);
    assert_int_equal(amount(json_array_get(json_object_get(a, "items"), 0), "customs_value", 2),
                     100);
    json_decref(a);
    a = rev_assess(b, doc, NULL, 0, NULL, NULL);
    assert_int_equal(amount(json_array_get(json_object_get(a, "items"), 0), "customs_value", 2),
                     101);
    json_decref(a);
    json_decref(doc);
    rev_book_free(b);
}

/* ---- valuation --------------------------------------------------------------------------------- */
static bool uv_stats(void *ctx, const char *key, rev_uv_stats *out)
{
    rev_hist *h = ctx;
    if (strncmp(key, "6:690722:CN:KGM", 15) != 0)
        return false;
    out->n = rev_hist_n(h);
    out->p05 = rev_hist_quantile(h, 0.05);
    out->median = rev_hist_quantile(h, 0.5);
    return true;
}

static void test_histogram_and_undervaluation(void **state)
{
    rev_hist *h = rev_hist_new();
    for (int i = 0; i < 200; i++)
        assert_true(rev_hist_add(h, 10000.0 * exp((i - 100) / 400.0), 1));
    assert_int_equal(rev_hist_n(h), 200);
    double med = rev_hist_quantile(h, 0.5), p5 = rev_hist_quantile(h, 0.05);
    assert_true(fabs(med / 10000.0 - 1) < 0.05);
    assert_true(p5 < med && p5 > 7000);
    unsigned char blob[8192];
    size_t n = rev_hist_encode(h, blob, sizeof blob);
    assert_true(n > 0 && n == rev_hist_encoded_size(h));
    rev_hist *h2 = rev_hist_new();
    assert_true(rev_hist_decode(h2, blob, n));
    assert_int_equal(rev_hist_n(h2), 200);
    assert_true(rev_hist_quantile(h2, 0.5) == med);
    assert_false(rev_hist_decode(h2, blob, n - 1)); /* torn */
    assert_true(rev_hist_decode(h2, blob, n));
    /* a hot key stays flat: a million more observations, the same bins */
    assert_true(rev_hist_add(h2, 10000.0, 1000000));
    assert_int_equal(rev_hist_encoded_size(h2), n);
    rev_hist_free(h2);

    rev_book *b = demo_book("KRW");
    rev_lookups lk = {.unit_values = uv_stats, .uv_ctx = h};
    /* 1,000 KRW/kg against a median near 10,000: flagged with revenue at risk */
    json_t *a = assess1(b, "2024-03-01",
                        "{\"hs_code\":\"690722\",\"country_of_origin\":\"CN\","
                        "\"net_mass_kg\":1000,\"value\":1000000,\"currency\":\"KRW\"}",
                        &lk);
    const json_t *f = json_array_get(json_object_get(a, "findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "rule")), "undervaluation");
    int64_t expected = amount(f, "expected_value", 0);
    assert_true(expected > 9000000 && expected < 11000000);
    /* the shortfall taxed at the item's rates: 13 % duty, then 10 % VAT on it */
    int64_t s = expected - 1000000, duty = (s * 13 + 50) / 100;
    int64_t risk = amount(f, "revenue_at_risk", 0);
    assert_true(llabs(risk - (duty + (s + duty) / 10)) <= 2);
    assert_int_equal(amount(a, "revenue_at_risk", 0), risk);
    json_decref(a);
    /* within the distribution: nothing */
    a = assess1(b, "2024-03-01",
                "{\"hs_code\":\"690722\",\"country_of_origin\":\"CN\",\"net_mass_kg\":1000,"
                "\"value\":9500000,\"currency\":\"KRW\"}",
                &lk);
    assert_int_equal(json_array_size(json_object_get(a, "findings")), 0);
    json_decref(a);
    rev_book_free(b);
    rev_hist_free(h);
}

/* ---- the member's texts ------------------------------------------------------------------------ */
/* What declare kept before rev_assessment_texts wrote the texts itself:
 * json_dumps of a copy without revenue_at_risk and, when an item was
 * flagged, of one whose findings leave out the undervaluation. */
static void old_texts(const json_t *a, char **stored, char **shown)
{
    json_t *c = json_copy((json_t *)a);
    json_object_del(c, "revenue_at_risk");
    *stored = json_dumps(c, JSON_COMPACT | JSON_REAL_PRECISION(15));
    *shown = NULL;
    json_t *kept = json_array();
    size_t i;
    json_t *f;
    bool flagged = false;
    json_array_foreach(json_object_get(a, "findings"), i, f)
    {
        const char *rule = json_string_value(json_object_get(f, "rule"));
        if (rule && strcmp(rule, "undervaluation") == 0)
            flagged = true;
        else
            json_array_append(kept, f);
    }
    if (flagged) {
        json_object_set(c, "findings", kept);
        *shown = json_dumps(c, JSON_COMPACT | JSON_REAL_PRECISION(15));
    }
    json_decref(kept);
    json_decref(c);
}

static void same_texts(const json_t *a)
{
    char *stored, *shown, *was, *was_shown;
    assert_int_equal(rev_assessment_texts(a, &stored, &shown), CX_OK);
    old_texts(a, &was, &was_shown);
    assert_non_null(was);
    assert_string_equal(stored, was);
    if (was_shown)
        assert_string_equal(shown, was_shown);
    else
        assert_null(shown);
    free(stored);
    free(shown);
    free(was);
    free(was_shown);
}

static void test_member_texts_as_jansson(void **state)
{
    rev_book *b = demo_book("KRW");
    rev_hist *h = rev_hist_new();
    for (int i = 0; i < 200; i++)
        assert_true(rev_hist_add(h, 10000.0 * exp((i - 100) / 400.0), 1));
    int calls = 0;
    rev_lookups uv = {.unit_values = uv_stats, .uv_ctx = h};
    rev_lookups cert = {.certificate = cert_found, .cert_ctx = &calls};
    /* real assessments: foreign currency (a real rate), undervaluation (the
     * trader's form differs), a proved preference (a certificate object), a
     * compound line, a transmission (true and a duty rule), a problem, and
     * the self-assessment check with a rate a double cannot keep */
    struct {
        const char *date, *item;
        const rev_lookups *lk;
    } cases[] = {
        {"2024-03-01", "{\"hs_code\":\"690722\",\"country_of_origin\":\"CN\",\"net_mass_kg\":1000,"
                       "\"value\":1234.56,\"currency\":\"USD\",\"tax_rate\":8}", NULL},
        {"2024-03-01", "{\"hs_code\":\"690722\",\"country_of_origin\":\"CN\",\"net_mass_kg\":1000,"
                       "\"value\":1000000,\"currency\":\"KRW\",\"tax_rate\":8.5}", &uv},
        {"2024-03-01", "{\"hs_code\":\"690722\",\"country_of_origin\":\"TH\",\"net_mass_kg\":1000,"
                       "\"value\":1000000,\"currency\":\"KRW\"}", &cert},
        {"2024-03-01", "{\"hs_code\":\"220300\",\"country_of_origin\":\"VN\",\"net_mass_kg\":10,"
                       "\"quantity\":10.25,\"unit\":\"LTR\",\"value\":50000.5,\"currency\":\"EUR\"}",
         &cert},
        {"2024-03-01", "{\"hs_code\":\"940360\",\"country_of_origin\":\"DE\",\"net_mass_kg\":0.5,"
                       "\"value\":99.99,\"currency\":\"USD\",\"transmission\":true,"
                       "\"design\":\"D-1\",\"tax_rate\":8}", NULL},
        {"2019-03-01", "{\"hs_code\":\"690722\",\"country_of_origin\":\"CN\",\"net_mass_kg\":1,"
                       "\"value\":1,\"currency\":\"CHF\"}", NULL},
        {"2024-03-01", "{\"hs_code\":\"690722\",\"country_of_origin\":\"CN\",\"net_mass_kg\":1,"
                       "\"value\":1,\"currency\":\"KRW\",\"tax_rate\":0.1234567890123456789}",
         NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *a = assess1(b, cases[i].date, cases[i].item, cases[i].lk);
        json_object_set_new(a, "version", json_integer(1));
        json_object_set_new(a, "assessed_at", json_string("2026-12-07T07:25:38.840Z"));
        same_texts(a);
        if (i == 1) { /* the case must have exercised the trader's form */
            char *stored, *shown;
            assert_int_equal(rev_assessment_texts(a, &stored, &shown), CX_OK);
            assert_non_null(shown);
            assert_non_null(strstr(stored, "undervaluation"));
            assert_null(strstr(shown, "undervaluation"));
            free(stored);
            free(shown);
        }
        json_decref(a);
    }
    /* every JSON type and spelling: reals jansson writes with an exponent or
     * ".0", negative and extreme integers, escapes, UTF-8, empty containers;
     * and control characters cx_buf_json_str spells otherwise (\b, \f, \u001f
     * where jansson writes \u001F): the texts are still jansson's */
    const char *trees[] = {
        "{\"a\":1e-7,\"b\":1e20,\"c\":-2.5e-300,\"d\":3.0,\"e\":0.1,\"f\":123456789012345.6,"
        "\"g\":-9223372036854775807,\"h\":0,\"i\":-1,\"j\":true,\"k\":false,\"l\":null,"
        "\"m\":[],\"n\":{},\"o\":[[1,[2,{\"p\":[]}]]],\"revenue_at_risk\":5,"
        "\"q\":\"tab\\t nl\\n cr\\r quote\\\" back\\\\ slash/ \\u00e9\\u4e2d\\ud83d\\ude00\"}",
        "{\"revenue_at_risk\":0,\"findings\":[{\"rule\":\"undervaluation\"},{\"rule\":\"x\"},"
        "{\"rule\":\"undervaluation\",\"m\":\"\\b\"}],\"z\":\"\\f\\u0001\\u001f\"}",
        "{\"findings\":[{\"rule\":\"undervaluation\"}],\"k\\u0007ey\":1,\"problems\":[]}",
        "{\"nul\":\"a\\u0000b\",\"findings\":[]}",
        "{\"findings\":[{\"rule\":\"self_assessment\"},{\"rule\":\"undervaluation\"}],"
        "\"items\":[{\"findings\":[{\"rule\":\"undervaluation\"}]}]}",
    };
    for (size_t i = 0; i < sizeof trees / sizeof *trees; i++) {
        json_error_t je;
        json_t *t = json_loads(trees[i], JSON_ALLOW_NUL, &je);
        if (!t)
            fail_msg("bad test JSON %zu: %s", i, je.text);
        same_texts(t);
        json_decref(t);
    }
    rev_book_free(b);
    rev_hist_free(h);
}

/* ---- CSV importers ---------------------------------------------------------------------------- */
static void test_import_problems_with_lines(void **state)
{
    json_t *problems = json_array();
    rev_rows *r = parse_csv(REV_IMPORT_TARIFF,
                            "hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,vat_pct\n"
                            "6907,2024-01-01,,ad_valorem,8,10\n"
                            "6907.22,2024-01-01,,ad_valorem,8,10\n"
                            "6908,2024-02-30,,ad_valorem,8,10\n"
                            "6909,2024-01-01,,specific,8,10\n"
                            "6910,2024-01-01,,ad_valorem,8.5.1,10\n"
                            "6907,2024-06-01,,ad_valorem,8,10\n",
                            problems);
    assert_null(r);
    char *s = json_dumps(problems, JSON_COMPACT);
    /* every bad line is named, with its column */
    assert_non_null(strstr(s, "{\"line\":3,\"column\":\"hs_code\""));
    assert_non_null(strstr(s, "{\"line\":4,\"column\":\"valid_from\""));
    assert_non_null(strstr(s, "{\"line\":5,\"column\":\"ad_valorem_pct\""));
    assert_non_null(strstr(s, "{\"line\":6,\"column\":\"ad_valorem_pct\""));
    free(s);
    json_decref(problems);
    /* overlaps within a file are refused after the rows themselves pass */
    problems = json_array();
    r = parse_csv(REV_IMPORT_TARIFF,
                  "hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,vat_pct\n"
                  "6907,2024-01-01,,ad_valorem,8,10\n"
                  "6907,2024-06-01,,ad_valorem,7,10\n",
                  problems);
    assert_null(r);
    s = json_dumps(problems, JSON_COMPACT);
    assert_non_null(strstr(s, "\"line\":3"));
    assert_non_null(strstr(s, "overlaps the validity of line 2"));
    free(s);
    json_decref(problems);
    /* headers: unknown and missing columns */
    problems = json_array();
    assert_null(parse_csv(REV_IMPORT_RATES, "date,currency,value\n2024-01-01,USD,1\n",
                          problems));
    assert_int_equal(json_array_size(problems), 2);
    json_decref(problems);
    problems = json_array();
    assert_null(parse_csv(REV_IMPORT_GROUPS, "group,country\nKR,VN\nEU,XX\n", problems));
    assert_int_equal(json_array_size(problems), 2);
    json_decref(problems);
    problems = json_array();
    assert_null(parse_csv(REV_IMPORT_RATES, "date,currency,rate\n2024-01-01,USD,0\n"
                                            "2024-01-01,USD,1\n2024-01-01,USD,\"1\n",
                          problems));
    json_decref(problems);
}

/* ---- the database: versioning and the national currency ------------------------------------------ */
typedef struct {
    char dir[64];
    store *s;
} db_fixture;

static int db_setup(void **state)
{
    db_fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test-revenue-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/r.db", f->dir);
    assert_int_equal(store_open(path, &f->s, err, sizeof err), CX_OK);
    assert_int_equal(decl_migrate(f->s, err, sizeof err), CX_OK);
    assert_int_equal(rev_migrate(f->s, err, sizeof err), CX_OK);
    *state = f;
    return 0;
}

static int db_teardown(void **state)
{
    db_fixture *f = *state;
    store_free(f->s);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static cx_err store_csv(store *s, rev_import_kind kind, const char *text, json_t *problems)
{
    rev_rows *rows = parse_csv(kind, text, problems);
    if (!rows)
        return CX_EINVAL;
    rev_import_result res;
    cx_err e = rev_rows_store(s, rows, "test.csv", &res, problems);
    rev_rows_free(rows);
    return e;
}

static void test_store_versions(void **state)
{
    db_fixture *f = *state;
    json_t *problems = json_array();
    const char *head = "hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,vat_pct\n";
    char csv[512];
    snprintf(csv, sizeof csv, "%s6907,2020-01-01,,ad_valorem,8,10\n", head);
    assert_int_equal(store_csv(f->s, REV_IMPORT_TARIFF, csv, problems), CX_OK);
    /* a newer version ends the open one the day before */
    snprintf(csv, sizeof csv, "%s6907,2025-01-01,,ad_valorem,6,10\n", head);
    assert_int_equal(store_csv(f->s, REV_IMPORT_TARIFF, csv, problems), CX_OK);
    /* the same start replaces (a correction) */
    snprintf(csv, sizeof csv, "%s6907,2025-01-01,,ad_valorem,5,10\n", head);
    assert_int_equal(store_csv(f->s, REV_IMPORT_TARIFF, csv, problems), CX_OK);
    rev_book *b;
    char err[256];
    assert_int_equal(rev_book_load(f->s, &b, err, sizeof err), CX_OK);
    assert_int_equal(rev_book_lines(b), 2);
    const rev_tariff_line *l = rev_book_line(b, "690722", "2024-12-31");
    assert_string_equal(l->valid_to, "2024-12-31");
    l = rev_book_line(b, "690722", "2025-01-01");
    assert_int_equal(l->ad_valorem_pct.coef, 5);
    rev_book_free(b);
    /* an overlap with a closed stored version is refused, and nothing of the file is stored */
    snprintf(csv, sizeof csv, "%s6908,2020-01-01,,ad_valorem,1,10\n"
                              "6907,2024-06-01,2024-12-31,ad_valorem,7,10\n",
             head);
    assert_int_equal(store_csv(f->s, REV_IMPORT_TARIFF, csv, problems), CX_EINVAL);
    assert_int_equal(json_array_size(problems), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(problems, 0), "line")),
                     3);
    assert_int_equal(rev_book_load(f->s, &b, err, sizeof err), CX_OK);
    assert_int_equal(rev_book_lines(b), 2); /* 6908 was not stored either */
    rev_book_free(b);
    json_array_clear(problems);
    /* preferences name a group only once the group exists */
    assert_int_equal(store_csv(f->s, REV_IMPORT_PREFERENCES,
                               "hs_code,origin,ad_valorem_pct,requires_certificate,valid_from\n"
                               "6907,ASEAN,0,yes,2020-01-01\n",
                               problems),
                     CX_EINVAL);
    json_array_clear(problems);
    assert_int_equal(store_csv(f->s, REV_IMPORT_GROUPS, "group,country\nASEAN,VN\n", problems),
                     CX_OK);
    assert_int_equal(store_csv(f->s, REV_IMPORT_PREFERENCES,
                               "hs_code,origin,ad_valorem_pct,requires_certificate,valid_from\n"
                               "6907,ASEAN,0,yes,2020-01-01\n",
                               problems),
                     CX_OK);
    json_decref(problems);
}

static cx_err exec_job(store_conn *w, void *sql)
{
    return store_exec(w, sql);
}

/* A step error while the book loads is not the end of the rows: the load
 * fails (a book missing rates, lines or preferences would assess wrongly).
 * The rates are made a view whose only row's json() is malformed, so the
 * step of that row fails (SQLITE_ERROR) as a damaged page would. */
static void test_book_load_fails_on_a_step_error(void **state)
{
    db_fixture *f = *state;
    json_t *problems = json_array();
    assert_int_equal(store_csv(f->s, REV_IMPORT_TARIFF,
                               "hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,vat_pct\n"
                               "6907,2020-01-01,,ad_valorem,8,10\n",
                               problems),
                     CX_OK);
    json_decref(problems);
    rev_book *b = NULL;
    char err[256] = "";
    assert_int_equal(rev_book_load(f->s, &b, err, sizeof err), CX_OK);
    rev_book_free(b);
    assert_int_equal(store_write(f->s, exec_job, "DROP TABLE revenue_rates"), CX_OK);
    assert_int_equal(store_write(f->s, exec_job,
                                 "CREATE VIEW revenue_rates AS SELECT 'USD' AS currency, "
                                 "'2024-01-01' AS date, json('not json') AS rate"),
                     CX_OK);
    b = NULL;
    assert_int_equal(rev_book_load(f->s, &b, err, sizeof err), CX_EDB);
    assert_null(b);
    assert_non_null(strstr(err, "cannot load the tariff"));
}

static void test_currency_set_once(void **state)
{
    db_fixture *f = *state;
    char have[4];
    assert_int_equal(rev_currency_get(f->s, have), CX_OK);
    assert_string_equal(have, "");
    assert_int_equal(rev_currency_set(f->s, "XAU", have), CX_EINVAL); /* no minor unit */
    assert_int_equal(rev_currency_set(f->s, "KRW", have), CX_OK);
    assert_int_equal(rev_currency_set(f->s, "KRW", have), CX_OK);
    assert_int_equal(rev_currency_set(f->s, "EUR", have), CX_EEXIST);
    assert_string_equal(have, "KRW");
}

static void test_release_shortfall(void **state)
{
    assert_int_equal(rev_release_shortfall(1000, 1000, 0, 0), 0);
    assert_int_equal(rev_release_shortfall(1000, 400, 0, 600), 0);
    assert_int_equal(rev_release_shortfall(1000, 400, 0, 500), 100);
    assert_int_equal(rev_release_shortfall(1000, 1200, 300, 0), 100); /* refunds count */
    assert_int_equal(rev_release_shortfall(0, 0, 0, 0), 0);
}

int main(void)
{
    char err[256];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK ||
        rev_minor_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dec_parse),
        cmocka_unit_test(test_dec_from_json),
        cmocka_unit_test(test_rounding_exponents),
        cmocka_unit_test(test_minor_units),
        cmocka_unit_test(test_rate_by_date),
        cmocka_unit_test(test_value_in_national_currency),
        cmocka_unit_test(test_longest_prefix_with_validity),
        cmocka_unit_test(test_ad_valorem_excise_vat),
        cmocka_unit_test(test_specific_kgm_and_other_units),
        cmocka_unit_test(test_compound_max_min),
        cmocka_unit_test(test_exponent_three),
        cmocka_unit_test(test_missing_line_and_rate),
        cmocka_unit_test(test_preference_with_and_without_certificate),
        cmocka_unit_test(test_transmission_and_self_assessment),
        cmocka_unit_test(test_transmission_rules),
        cmocka_unit_test(test_lexemes_from_text),
        cmocka_unit_test(test_histogram_and_undervaluation),
        cmocka_unit_test(test_member_texts_as_jansson),
        cmocka_unit_test(test_import_problems_with_lines),
        cmocka_unit_test_setup_teardown(test_store_versions, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(test_book_load_fails_on_a_step_error, db_setup,
                                        db_teardown),
        cmocka_unit_test_setup_teardown(test_currency_set_once, db_setup, db_teardown),
        cmocka_unit_test(test_release_shortfall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
