/* What a submission keeps of its assessment, written straight from the
 * result's structs (aswrite.c: rev__result_texts), against the tree path
 * it replaced on the submission (rev__result_json, then rev__member_texts
 * and json_dumps for the member's texts, rev__row_of and rev__record_text
 * for the derivation record): byte for byte, on thousands of assessments —
 * every duty type, preferences proved and refused, undervaluation with the
 * trader's form, problems, foreign currencies, the self-assessment finding,
 * line references and lines in full, national currencies of exponent 0, 2
 * and 3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revenue.h"
#include "revbook.h"

static const char tariff_csv[] =
    "hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,specific_amount,specific_unit,"
    "excise_pct,vat_pct,description\n"
    "69,2020-01-01,,ad_valorem,8,,,,10,chapter\n"
    "6907,2020-01-01,,ad_valorem,9,,,,10,heading\n"
    "690722,2020-01-01,2025-12-31,ad_valorem,13,,,,10,until 2025\n"
    "2203,2020-01-01,,compound,5,120,LTR,72,10,beer\n"
    "2204,2020-01-01,,max_of,15,900,LTR,30,10,wine\n"
    "0306,2020-01-01,,specific,,1500,KGM,,10,crustaceans\n"
    "030617,2020-01-01,,min_of,20,3000,KGM,,10,shrimps\n"
    "2402,2020-01-01,,specific,,25.5,NAR,77,10,cigarettes\n"
    "940360,2020-01-01,,ad_valorem,8.25,,,,10,furniture\n"
    "8703,2020-01-01,,ad_valorem,8,,,5.125,10,cars\n";

static rev_book *book(const char *currency)
{
    rev_book *b = rev_book_new(currency);
    book__csv(b, REV_IMPORT_TARIFF, tariff_csv);
    book__csv(b, REV_IMPORT_GROUPS, "group,country\nASEAN,VN\nASEAN,TH\n");
    book__csv(b, REV_IMPORT_PREFERENCES,
              "hs_code,origin,ad_valorem_pct,requires_certificate,valid_from,valid_to\n"
              "6907,ASEAN,0,yes,2020-01-01,\n"
              "6907,VN,4,no,2020-01-01,\n"
              "8703,DE,0,no,2020-01-01,\n"
              "8703,TH,2.5,yes,2020-01-01,\n"
              "0306,TH,0,yes,2020-01-01,\n"
              "2204,CN,20,no,2020-01-01,\n"
              "2203,VN,0,no,2020-01-01,\n");
    book__csv(b, REV_IMPORT_RATES,
              "date,currency,rate\n2024-03-01,USD,1331.90\n2024-03-01,EUR,1443.2\n"
              "2024-03-01,KRW,0.000693\n2024-03-01,JPY,8.86123456\n2024-03-01,KWD,4321.005\n"
              "2024-03-01,VND,0.00005412\n");
    rev_book_finish(b);
    return b;
}

/* Certificates: an exporter EXP-1 holds one for Thailand. */
static bool cert_found(void *ctx, const rev_cert_query *q, rev_certificate *out)
{
    (void)ctx;
    if (!q->exporter || strcmp(q->exporter, "EXP-1") || strcmp(q->origin, "TH"))
        return false;
    snprintf(out->issuer, sizeof out->issuer, "TCC");
    snprintf(out->number, sizeof out->number, "C-%s", q->hs_code);
    out->index = 42;
    return true;
}

/* Statistics for every key: a median near 10,000 per kg or unit; the wine
 * heading only at level 4 (too few at level 6). */
static bool uv_stats(void *ctx, const char *key, rev_uv_stats *out)
{
    (void)ctx;
    out->n = strncmp(key, "6:2204", 6) == 0 ? 5 : 200;
    out->p05 = 7000.5;
    out->median = strncmp(key, "4:", 2) == 0 ? 12345.678901 : 10000.25;
    return true;
}

/* Line references for some lines, the line in full for the others. */
static int64_t line_ref(void *ctx, const rev_tariff_line *l)
{
    (void)ctx;
    return l->hs_code[0] == '6' ? 7 + (int64_t)strlen(l->hs_code) : 0;
}

static uint64_t seed = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (unsigned)(seed % n);
}

/* A random decimal of up to `digits` digits and `scale` decimals. */
static void number(char *out, size_t n, int digits, int scale)
{
    long long v = 1 + rnd(9);
    int d = 1 + (int)rnd((unsigned)digits);
    for (int i = 1; i < d; i++)
        v = v * 10 + rnd(10);
    int s = (int)rnd((unsigned)scale + 1);
    char t[40];
    snprintf(t, sizeof t, "%lld", v);
    size_t len = strlen(t);
    if (s == 0 || (size_t)s >= len)
        snprintf(out, n, "%s", t);
    else
        snprintf(out, n, "%.*s.%s", (int)(len - (size_t)s), t, t + len - (size_t)s);
}

static void item(cx_buf *b)
{
    static const char *hs[] = {"690722", "690790", "220300", "220421", "030617", "030611",
                               "240220", "940360", "870323", "999999", "691010"};
    static const char *origin[] = {"CN", "TH", "VN", "DE", "US"};
    static const char *cur[] = {"KRW", "USD", "EUR", "JPY", "KWD", "VND", "CHF", "EUR"};
    static const char *unit[] = {"LTR", "NAR", "KGM", "PCE"};
    if (rnd(40) == 0) { /* not a validated item: {} in the assessment */
        assert_int_equal(cx_buf_puts(b, "{\"hs_code\":\"690722\"}"), CX_OK);
        return;
    }
    char v[40], m[40], q[40], r[40];
    number(v, sizeof v, 9, 3);
    number(m, sizeof m, 5, 3);
    number(q, sizeof q, 4, 2);
    number(r, sizeof r, 2, 2);
    assert_int_equal(cx_buf_printf(b, "{\"hs_code\":\"%s\",\"country_of_origin\":\"%s\",\"net_mass_kg\":%s,"
                     "\"value\":%s,\"currency\":\"%s\"",
                  hs[rnd(11)], origin[rnd(5)], rnd(8) ? m : "0", v, cur[rnd(8)]), CX_OK);
    if (rnd(2))
        assert_int_equal(cx_buf_printf(b, ",\"quantity\":%s,\"unit\":\"%s\"", q, unit[rnd(4)]), CX_OK);
    if (rnd(3) == 0)
        assert_int_equal(cx_buf_printf(b, ",\"tax_rate\":%s", rnd(6) ? r : "0.1234567890123456789"), CX_OK);
    if (rnd(10) == 0)
        assert_int_equal(cx_buf_puts(b, ",\"transmission\":true,\"design\":\"D-1\""), CX_OK);
    assert_int_equal(cx_buf_puts(b, "}"), CX_OK);
}

typedef struct {
    size_t cases, shown, self, under, problems, certs, refs, full_lines, rates, prefs, empty,
        transmission, shared_rates;
} tally;

static void count(const char *full, const char *shown, tally *t)
{
    json_t *a = json_loads(full, 0, NULL);
    assert_non_null(a);
    t->cases++;
    t->shown += shown != NULL;
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(a, "findings"), i, x)
    {
        bool self = strcmp(json_string_value(json_object_get(x, "rule")), "self_assessment") == 0;
        t->self += self;
        t->under += !self;
    }
    t->problems += json_array_size(json_object_get(a, "problems"));
    json_array_foreach(json_object_get(a, "items"), i, x)
    {
        const json_t *p = json_object_get(x, "preference");
        t->certs += json_is_object(json_object_get(p, "certificate"));
        t->refs += json_is_integer(json_object_get(x, "tariff_line"));
        t->full_lines += json_is_object(json_object_get(x, "tariff_line"));
        t->rates += json_is_object(json_object_get(x, "exchange_rate"));
        t->prefs += json_is_object(p);
        t->empty += json_object_size(x) == 0;
        t->transmission += json_is_true(json_object_get(x, "transmission"));
    }
    json_decref(a);
}

/* text expanded (rev_member_expand) equals want, alone and as declare's
 * kept object has it. */
static void expands_to(const char *text, const char *want)
{
    cx_buf b;
    cx_buf_init(&b, 1 << 24);
    assert_int_equal(rev_member_expand(text, strlen(text), &b), CX_OK);
    assert_int_equal(cx_buf_puts(&b, ""), CX_OK);
    if (strcmp(b.data, want))
        fail_msg("the compact member expands otherwise:\n  %s\n  %s\n  %s", text, b.data, want);
    cx_buf_reset(&b);
    char *kept = NULL, *wkept = NULL;
    assert_true(asprintf(&kept, "{\"other\":[1],\"assessment\":%s}", text) > 0);
    assert_true(asprintf(&wkept, "{\"other\":[1],\"assessment\":%s}", want) > 0);
    assert_int_equal(rev_member_expand(kept, strlen(kept), &b), CX_OK);
    assert_int_equal(cx_buf_puts(&b, ""), CX_OK);
    assert_string_equal(b.data, wkept);
    free(kept);
    free(wkept);
    cx_buf_free(&b);
}

static void compare(const rev_book *b, const char *text, const rev_lookups *lk, bool exact,
                    tally *t)
{
    json_error_t je;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        fail_msg("bad test JSON: %s: %s", je.text, text);
    const char *at = "2026-12-07T13:30:00.123Z";
    const char *tx = exact ? text : NULL;
    size_t len = exact ? strlen(text) : 0;
    char *full, *shown, *record, *tf, *ts, *tr, *cf, *cs, *cr;
    assert_int_equal(rev_assess_kept(b, doc, tx, len, lk, at, REV_KEPT_DIRECT, &full, &shown,
                                     &record),
                     CX_OK);
    assert_int_equal(rev_assess_kept(b, doc, tx, len, lk, at, REV_KEPT_TREE, &tf, &ts, &tr),
                     CX_OK);
    assert_int_equal(rev_assess_kept(b, doc, tx, len, lk, at, REV_KEPT_COMPACT, &cf, &cs, &cr),
                     CX_OK);
    if (strcmp(full, tf) || strcmp(record, tr) || !shown != !ts || (shown && strcmp(shown, ts)))
        fail_msg("the texts differ for %s:\n  %s\n  %s\n  %s\n  %s\n  %s\n  %s", text, full, tf,
                 shown ? shown : "(none)", ts ? ts : "(none)", record, tr);
    /* the compact form: shorter, and the full form once expanded */
    assert_string_equal(cr, tr);
    /* the worker reads the record back as it was made */
    char *rn;
    assert_int_equal(rev_record_normal(record, strlen(record), &rn), CX_OK);
    assert_string_equal(rn, record);
    free(rn);
    assert_true(!cs == !ts);
    assert_true(strlen(cf) < strlen(tf));
    expands_to(cf, tf);
    expands_to(full, full); /* the full form passes through */
    if (cs)
        expands_to(cs, ts);
    count(full, shown, t);
    /* the items' exchange rates are stored once each */
    json_t *a = json_loads(full, 0, NULL), *c = json_loads(cf, 0, NULL);
    assert_non_null(c);
    size_t i, with = 0;
    const json_t *x;
    json_array_foreach(json_object_get(a, "items"), i, x)
        with += json_is_object(json_object_get(x, "exchange_rate"));
    t->shared_rates += json_array_size(json_array_get(c, 3)) < with;
    json_decref(c);
    json_decref(a);
    free(full);
    free(shown);
    free(record);
    free(tf);
    free(ts);
    free(tr);
    free(cf);
    free(cs);
    free(cr);
    json_decref(doc);
}

static void test_texts_as_the_tree(void **state)
{
    (void)state;
    const char *national[] = {"KRW", "EUR", "KWD"};
    rev_lookups all = {.certificate = cert_found, .unit_values = uv_stats, .line_ref = line_ref};
    rev_lookups none = {.certificate = NULL};
    tally t = {0};
    for (size_t c = 0; c < 3; c++) {
        rev_book *b = book(national[c]);
        for (int k = 0; k < 1500; k++) {
            cx_buf text;
            cx_buf_init(&text, 1 << 20);
            assert_int_equal(cx_buf_printf(&text, "{\"id\":\"01TEST%d\",\"org\":\"acme\",\"office\":\"KRPUS\","
                                 "\"date\":\"%s\",%s\"items\":[",
                          k, rnd(10) ? "2024-03-01" : "2019-01-01",
                          rnd(4) ? "\"exporter_id\":\"EXP-1\"," : ""), CX_OK);
            int n = 1 + (int)rnd(4);
            for (int i = 0; i < n; i++) {
                if (i)
                    assert_int_equal(cx_buf_puts(&text, ","), CX_OK);
                item(&text);
            }
            assert_int_equal(cx_buf_puts(&text, "]}"), CX_OK);
            compare(b, text.data, rnd(5) ? &all : &none, rnd(2), &t);
            cx_buf_free(&text);
        }
        rev_book_free(b);
    }
    /* the cases went where they should */
    assert_true(t.shown > 100);
    assert_true(t.self > 100 && t.under > 100);
    assert_true(t.problems > 100 && t.certs > 20 && t.refs > 100 && t.full_lines > 100);
    assert_true(t.rates > 100);
    assert_true(t.prefs > 100 && t.empty > 20 && t.transmission > 100 && t.shared_rates > 20);
}

/* A string the writer would spell otherwise than jansson (here a unit with
 * a control character, in a problem's message): it gives up, the tree's
 * texts are written instead. */
static void test_control_character_gives_up(void **state)
{
    (void)state;
    rev_book *b = book("KRW");
    const char *text = "{\"id\":\"X\",\"date\":\"2024-03-01\",\"items\":[{\"hs_code\":\"220300\","
                       "\"country_of_origin\":\"CN\",\"net_mass_kg\":1,\"value\":10,"
                       "\"currency\":\"KRW\",\"quantity\":1,\"unit\":\"L\\bTR\"}]}";
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    char *full, *shown, *record;
    for (int f = REV_KEPT_COMPACT; f <= REV_KEPT_DIRECT; f++) {
        assert_int_equal(rev_assess_kept(b, doc, NULL, 0, NULL, "t", (rev_kept_form)f, &full,
                                         &shown, &record),
                         CX_EINVAL);
        assert_null(full);
        assert_null(record);
    }
    assert_int_equal(rev_assess_kept(b, doc, NULL, 0, NULL, "t", REV_KEPT_TREE, &full, &shown,
                                     &record),
                     CX_OK);
    assert_non_null(strstr(full, "L\\bTR"));
    free(full);
    free(shown);
    free(record);
    json_decref(doc);
    rev_book_free(b);
}

/* A compact member that does not read exactly as written is damaged:
 * CX_EPARSE, never a shorter or invalid member. */
static const char good[] =
    "[\"rev2\",\"KRW\",\"2024-03-01\",[[\"USD\",1331.9,\"2024-03-01\"]],"
    "[[\"690722\",12,0,1331900,173147,0,150504,null],[],"
    "[\"940360\",null,null,5e-3,0,0,0,{\"origin\":\"DE\"},1]],"
    "173147,0,150504,323651,[],[{\"path\":\"/x\",\"message\":\"a \\\"b\\\" \\u00e9\"}],"
    "\"2026-12-07T13:30:00.123Z\"]";

static cx_err expand(const char *text, cx_buf *b)
{
    cx_buf_reset(b);
    return rev_member_expand(text, strlen(text), b);
}

/* good with the first `from` replaced by `to` */
static cx_err expand_edited(const char *from, const char *to)
{
    const char *at = strstr(good, from);
    assert_non_null(at);
    char t[1024];
    snprintf(t, sizeof t, "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
    cx_buf b;
    cx_buf_init(&b, 1 << 20);
    cx_err e = expand(t, &b);
    cx_buf_free(&b);
    return e;
}

/* The derivation record as the worker reads it (rev_record_normal): an
 * older record, which kept the level-4 obs lines too, reads as the
 * level-6 lines it is made of now; a damaged one is CX_EPARSE. */
static const char rec_new[] =
    "[1,5258830,1383642,10338222,16980694,0,0,\"KRW\",\"2026-12-07T19:38:49.216Z\","
    "\"01M99085G08WAJAV9QBS8QAX3X\",\"BENCH\",\"KRPUS\",\"2026-10-01\","
    "\"6:321000:JP:KGM 3514010.67\\n!6:370253:VN:KGM 120305.34\\n\","
    "[[\"KR-CCI\",\"COO-1\"]]]";

static cx_err record_edited(const char *from, const char *to)
{
    const char *at = strstr(rec_new, from);
    assert_non_null(at);
    char t[1024], *out;
    snprintf(t, sizeof t, "%.*s%s%s", (int)(at - rec_new), rec_new, to, at + strlen(from));
    cx_err e = rev_record_normal(t, strlen(t), &out);
    assert_true(e == CX_OK || !out);
    free(out);
    return e;
}

static void test_record_read(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(rev_record_normal(rec_new, strlen(rec_new), &out), CX_OK);
    assert_string_equal(out, rec_new);
    free(out);
    /* the older form: each level-6 line followed by its level-4 line */
    char old[1024];
    const char *obs = strstr(rec_new, "\"6:");
    snprintf(old, sizeof old,
             "%.*s\"6:321000:JP:KGM 3514010.67\\n4:3210:JP:KGM 3514010.67\\n"
             "!6:370253:VN:KGM 120305.34\\n!4:3702:VN:KGM 120305.34\\n\","
             "[[\"KR-CCI\",\"COO-1\"]]]",
             (int)(obs - rec_new), rec_new);
    assert_int_equal(rev_record_normal(old, strlen(old), &out), CX_OK);
    assert_string_equal(out, rec_new);
    free(out);
    /* damaged: cut short, wrong arity, a text where a number goes, a
     * certificate that is not a pair, not JSON */
    for (size_t n = 0; n < strlen(rec_new); n++) {
        assert_int_equal(rev_record_normal(rec_new, n, &out), CX_EPARSE);
        assert_null(out);
    }
    assert_int_equal(record_edited("[1,", "["), CX_EPARSE);
    assert_int_equal(record_edited("[1,", "[\"1\","), CX_EPARSE);
    assert_int_equal(record_edited("\"KRPUS\",", ""), CX_EPARSE);
    assert_int_equal(record_edited("\"KRPUS\"", "7"), CX_EPARSE);
    assert_int_equal(record_edited("[[\"KR-CCI\",\"COO-1\"]]", "[[\"KR-CCI\"]]"), CX_EPARSE);
    assert_int_equal(record_edited("[[\"KR-CCI\",\"COO-1\"]]", "{}"), CX_EPARSE);
    assert_int_equal(record_edited("]]]", "]],1]"), CX_EPARSE);
    /* an obs line without its newline (records end every line) */
    assert_int_equal(record_edited("120305.34\\n\"", "120305.34\""), CX_EPARSE);
    assert_int_equal(record_edited("120305.34\\n\"", "120305.34\\n/\""), CX_EPARSE);
    assert_int_equal(record_edited("\"COO-1\"]", "\"COO-1\",\"x\"]"), CX_EPARSE);
    /* the edits are sound: one that keeps the form reads */
    assert_int_equal(record_edited("\"KRPUS\"", "\"KRINC\""), CX_OK);
    assert_int_equal(record_edited("[[\"KR-CCI\",\"COO-1\"]]", "[]"), CX_OK);
}

static void test_compact_member_read(void **state)
{
    (void)state;
    cx_buf b;
    cx_buf_init(&b, 1 << 20);
    assert_int_equal(expand(good, &b), CX_OK);
    assert_int_equal(cx_buf_puts(&b, ""), CX_OK);
    assert_string_equal(
        b.data,
        "{\"currency\":\"KRW\",\"date\":\"2024-03-01\",\"items\":[{\"hs_code\":\"690722\","
        "\"tariff_line\":12,\"exchange_rate\":{\"currency\":\"USD\",\"rate\":1331.9,"
        "\"date\":\"2024-03-01\"},\"customs_value\":1331900,\"duty\":173147,\"excise\":0,"
        "\"vat\":150504,\"preference\":null},{},{\"hs_code\":\"940360\",\"tariff_line\":null,"
        "\"exchange_rate\":null,\"customs_value\":5e-3,\"duty\":0,\"excise\":0,\"vat\":0,"
        "\"preference\":{\"origin\":\"DE\"},\"transmission\":true,"
        "\"duty_rule\":\"wto_moratorium\"}],\"total_duty\":173147,\"total_excise\":0,"
        "\"total_vat\":150504,\"total\":323651,\"findings\":[],\"problems\":[{\"path\":\"/x\","
        "\"message\":\"a \\\"b\\\" \\u00e9\"}],\"version\":1,"
        "\"assessed_at\":\"2026-12-07T13:30:00.123Z\"}");
    /* text around members is copied; a tag inside a string is escaped */
    const char *plain = "{\"note\":\"[\\\"rev2\\\",\",\"assessment\":{\"total\":1}}";
    assert_int_equal(expand(plain, &b), CX_OK);
    assert_int_equal(cx_buf_puts(&b, ""), CX_OK);
    assert_string_equal(b.data, plain);
    assert_int_equal(expand("", &b), CX_OK);
    assert_int_equal(b.len, 0);
    /* two members in one text (a list) */
    char two[2048];
    snprintf(two, sizeof two, "[%s,%s]", good, good);
    assert_int_equal(expand(two, &b), CX_OK);
    json_t *j = json_loadb(b.data, b.len, 0, NULL);
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    /* every cut short is damaged */
    for (size_t n = 0; n < strlen(good); n++) {
        char t[1024];
        snprintf(t, sizeof t, "{\"assessment\":%.*s", (int)n, good);
        cx_buf_reset(&b);
        cx_err e = rev_member_expand(t, strlen(t), &b);
        if (n >= 8 && e != CX_EPARSE)
            fail_msg("cut at %zu: %d", n, (int)e);
    }
    cx_buf_free(&b);
    /* wrong arity, a non-number where a number goes, bad references */
    assert_int_equal(expand_edited(",\"2026-12-07T13:30:00.123Z\"]", "]"), CX_EPARSE);
    assert_int_equal(expand_edited("\"2026-12-07T13:30:00.123Z\"]", "\"x\",1]"), CX_EPARSE);
    assert_int_equal(expand_edited("173147,0,150504,323651", "173147,0,150504"), CX_EPARSE);
    assert_int_equal(expand_edited("173147,0,150504,323651", "\"173147\",0,150504,323651"),
                     CX_EPARSE);
    assert_int_equal(expand_edited(",150504,null]", ",null]"), CX_EPARSE);
    assert_int_equal(expand_edited(",150504,null]", ",150504,null,null]"), CX_EPARSE);
    assert_int_equal(expand_edited("{\"origin\":\"DE\"},1]", "{\"origin\":\"DE\"},2]"),
                     CX_EPARSE);
    assert_int_equal(expand_edited("1331900", "1331900.") , CX_EPARSE);
    assert_int_equal(expand_edited("1331900", "01331900"), CX_EPARSE);
    assert_int_equal(expand_edited("1331900", "true"), CX_EPARSE);
    assert_int_equal(expand_edited("\"690722\",12,0", "\"690722\",\"12\",0"), CX_EPARSE);
    assert_int_equal(expand_edited("\"690722\",12,0", "\"690722\",0,0"), CX_EPARSE);
    assert_int_equal(expand_edited("\"690722\",12,0", "\"690722\",12,1"), CX_EPARSE);
    assert_int_equal(expand_edited("\"690722\",12,0", "\"690722\",[],0"), CX_EPARSE);
    assert_int_equal(expand_edited("[],[\"940360\"", "{},[\"940360\""), CX_EPARSE);
    assert_int_equal(expand_edited("{\"origin\":\"DE\"}", "{\"origin\":}"), CX_EPARSE);
    assert_int_equal(expand_edited("[],[{\"path", "{},[{\"path"), CX_EPARSE);
    assert_int_equal(expand_edited("\\u00e9", "\\u00g9"), CX_EPARSE);
    assert_int_equal(expand_edited("\"KRW\"", "KRW"), CX_EPARSE);
    /* the edits themselves are sound: the same edit that keeps the form reads */
    assert_int_equal(expand_edited("1331900", "1331900.5"), CX_OK);
    assert_int_equal(expand_edited("\"690722\",12,0", "\"690722\",123456789012345678,0"),
                     CX_OK);
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
        cmocka_unit_test(test_texts_as_the_tree),
        cmocka_unit_test(test_control_character_gives_up),
        cmocka_unit_test(test_compact_member_read),
        cmocka_unit_test(test_record_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
