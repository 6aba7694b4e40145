/* Unit tests of the tariff book's line lookup (rev_book_line): the index of
 * integer keys by chapter rev_book_finish builds, checked case by case
 * (the longest prefix at every length, versions by date, codes with no
 * line, 10-digit codes and longer ones, the first and last chapters) and
 * against a plain scan of the rule on a random book; a book whose codes are
 * not all digits (no index) answers by the same rule. And the keys and
 * unit-value texts of valuation statistics, written by hand, as printf
 * wrote them. */
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

static void add(rev_book *b, const char *hs, const char *from, const char *to)
{
    rev_tariff_line l = {.duty_type = REV_DUTY_AD_VALOREM, .has_ad_valorem = true};
    snprintf(l.hs_code, sizeof l.hs_code, "%s", hs);
    snprintf(l.valid_from, sizeof l.valid_from, "%s", from);
    snprintf(l.valid_to, sizeof l.valid_to, "%s", to);
    l.description = "";
    assert_int_equal(rev_book_add_line(b, &l), CX_OK);
}

/* "code@from", or "-" for no line. */
static const char *found(const rev_book *b, const char *hs, const char *date)
{
    static char out[32];
    const rev_tariff_line *l = rev_book_line(b, hs, date);
    if (!l)
        return "-";
    snprintf(out, sizeof out, "%s@%s", l->hs_code, l->valid_from);
    return out;
}

static void test_longest_prefix_at_every_length(void **state)
{
    (void)state;
    rev_book *b = rev_book_new("KRW");
    const char *c = "6907221099";
    for (int len = 2; len <= 10; len++) {
        char code[11];
        snprintf(code, sizeof code, "%.*s", len, c);
        add(b, code, "2020-01-01", "");
    }
    rev_book_finish(b);
    /* a code sharing len digits with the chain, then differing */
    for (int len = 2; len <= 10; len++) {
        char q[11], want[32];
        snprintf(q, sizeof q, "%s", c);
        if (len < 10)
            for (int k = len; k < 10; k++)
                q[k] = q[k] == '5' ? '4' : '5';
        snprintf(want, sizeof want, "%.*s@2020-01-01", len, c);
        assert_string_equal(found(b, q, "2024-01-01"), want);
        /* the code cut after len digits: the same line */
        q[len] = '\0';
        assert_string_equal(found(b, q, "2024-01-01"), want);
    }
    /* more than 10 digits: the first 10 count */
    assert_string_equal(found(b, "690722109912", "2024-01-01"), "6907221099@2020-01-01");
    /* a non-digit ends the prefixes a line can match */
    assert_string_equal(found(b, "6907x21099", "2024-01-01"), "6907@2020-01-01");
    assert_string_equal(found(b, "6", "2024-01-01"), "-");
    assert_string_equal(found(b, "", "2024-01-01"), "-");
    rev_book_free(b);
}

static void test_versions_by_date(void **state)
{
    (void)state;
    rev_book *b = rev_book_new("KRW");
    add(b, "6907", "2020-01-01", "");
    add(b, "690722", "2020-01-01", "2020-12-31");
    add(b, "690722", "2021-01-01", "2021-06-30");
    add(b, "690722", "2022-01-01", "");
    add(b, "6907221000", "2021-03-01", "2021-03-31");
    rev_book_finish(b);
    assert_string_equal(found(b, "690722", "2019-12-31"), "-");
    assert_string_equal(found(b, "690722", "2020-01-01"), "690722@2020-01-01");
    assert_string_equal(found(b, "690722", "2020-12-31"), "690722@2020-01-01");
    assert_string_equal(found(b, "690722", "2021-01-01"), "690722@2021-01-01");
    /* the gap between versions: the heading */
    assert_string_equal(found(b, "690722", "2021-07-01"), "6907@2020-01-01");
    assert_string_equal(found(b, "690722", "2022-01-01"), "690722@2022-01-01");
    assert_string_equal(found(b, "690722", "2099-01-01"), "690722@2022-01-01");
    assert_string_equal(found(b, "6907221000", "2021-03-15"), "6907221000@2021-03-01");
    assert_string_equal(found(b, "6907221000", "2021-04-01"), "690722@2021-01-01");
    assert_string_equal(found(b, "6907221000", "2021-12-01"), "6907@2020-01-01");
    rev_book_free(b);
}

static void test_codes_without_a_line(void **state)
{
    (void)state;
    rev_book *b = rev_book_new("KRW");
    assert_string_equal(found(b, "690722", "2024-01-01"), "-"); /* an empty book */
    rev_book_finish(b);
    assert_string_equal(found(b, "690722", "2024-01-01"), "-");
    add(b, "0101", "2020-01-01", "");
    add(b, "010121", "2020-01-01", "");
    add(b, "99", "2020-01-01", "");
    add(b, "9706", "2020-01-01", "");
    add(b, "6907", "2020-01-01", "");
    add(b, "6908", "2020-01-01", "");
    rev_book_finish(b);
    assert_string_equal(found(b, "010121", "2024-01-01"), "010121@2020-01-01");
    assert_string_equal(found(b, "010129", "2024-01-01"), "0101@2020-01-01");
    assert_string_equal(found(b, "010221", "2024-01-01"), "-");
    assert_string_equal(found(b, "000000", "2024-01-01"), "-");
    assert_string_equal(found(b, "990000", "2024-01-01"), "99@2020-01-01");
    assert_string_equal(found(b, "9999999999", "2024-01-01"), "99@2020-01-01");
    assert_string_equal(found(b, "970600", "2024-01-01"), "9706@2020-01-01");
    assert_string_equal(found(b, "970500", "2024-01-01"), "-");
    assert_string_equal(found(b, "690900", "2024-01-01"), "-"); /* between two headings */
    assert_string_equal(found(b, "690600", "2024-01-01"), "-");
    assert_string_equal(found(b, "680700", "2024-01-01"), "-"); /* a chapter without lines */
    rev_book_free(b);
}

static void test_codes_not_digits(void **state)
{
    (void)state;
    /* rev_book_add_line takes any code: the lookup keeps the rule */
    rev_book *b = rev_book_new("KRW");
    add(b, "69", "2020-01-01", "");
    add(b, "69AB", "2020-01-01", "");
    add(b, "6907", "2020-01-01", "");
    rev_book_finish(b);
    assert_string_equal(found(b, "69AB01", "2024-01-01"), "69AB@2020-01-01");
    assert_string_equal(found(b, "690701", "2024-01-01"), "6907@2020-01-01");
    assert_string_equal(found(b, "69A", "2024-01-01"), "69@2020-01-01");
    rev_book_free(b);
}

/* ---- against the rule, on a random book --------------------------------------------------- */
static uint64_t rng = 0x2545F4914F6CDD1DULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

typedef struct {
    char hs[11], from[11], to[11];
} line_row;

/* Among lines valid on date, the longest code that is a prefix of hs's
 * first 10 characters. */
static const char *rule(const line_row *v, size_t n, const char *hs, const char *date)
{
    static char out[32];
    size_t hn = strlen(hs), best_len = 0;
    const line_row *best = NULL;
    if (hn > 10)
        hn = 10;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i].hs);
        if (len > hn || strncmp(hs, v[i].hs, len) != 0 || strcmp(v[i].from, date) > 0 ||
            (v[i].to[0] && strcmp(date, v[i].to) > 0) || len <= best_len)
            continue;
        best = &v[i];
        best_len = len;
    }
    if (!best)
        return "-";
    snprintf(out, sizeof out, "%s@%s", best->hs, best->from);
    return out;
}

static void random_date(char out[11])
{
    snprintf(out, 11, "%04u-%02u-01", 2018 + rnd(8), 1 + rnd(12));
}

static void test_random_book_follows_the_rule(void **state)
{
    (void)state;
    enum { CODES = 300, QUERIES = 20000 };
    line_row *v = calloc(CODES * 3, sizeof *v);
    size_t n = 0;
    rev_book *b = rev_book_new("KRW");
    /* few chapters and digits, so that codes nest at every length */
    static const char *const chapters[] = {"00", "01", "69", "84", "99"};
    for (size_t c = 0; c < CODES; c++) {
        char hs[11];
        int len = 2 + (int)rnd(9);
        snprintf(hs, sizeof hs, "%s", chapters[rnd(5)]);
        for (int k = 2; k < len; k++)
            hs[k] = (char)('0' + rnd(3));
        hs[len] = '\0';
        bool dup = false;
        for (size_t i = 0; i < n; i++)
            dup = dup || strcmp(v[i].hs, hs) == 0;
        if (dup)
            continue;
        /* one to three versions in order, with gaps, the last maybe open */
        int versions = 1 + (int)rnd(3), year = 2018;
        for (int k = 0; k < versions; k++) {
            line_row *r = &v[n++];
            snprintf(r->hs, sizeof r->hs, "%s", hs);
            year += (int)rnd(2);
            snprintf(r->from, sizeof r->from, "%04d-%02u-01", year, 1 + rnd(6));
            if (k + 1 < versions || rnd(2))
                snprintf(r->to, sizeof r->to, "%04d-%02u-28", year, 7 + rnd(6));
            year++;
        }
    }
    for (size_t i = n; i-- > 0;) /* added in no particular order */
        add(b, v[i].hs, v[i].from, v[i].to);
    rev_book_finish(b);
    for (int q = 0; q < QUERIES; q++) {
        char hs[16], date[11];
        int len = 1 + (int)rnd(13);
        snprintf(hs, sizeof hs, "%s", chapters[rnd(5)]);
        for (int k = 2; k < len; k++)
            hs[k] = (char)('0' + rnd(4));
        hs[len < 2 ? 2 : len] = '\0';
        if (len == 1)
            hs[1] = '\0';
        if (rnd(50) == 0) /* a character no code has */
            hs[rnd((unsigned)strlen(hs))] = 'x';
        random_date(date);
        char want[32];
        snprintf(want, sizeof want, "%s", rule(v, n, hs, date));
        if (strcmp(found(b, hs, date), want) != 0)
            fail_msg("%s on %s: %s, the rule says %s", hs, date, found(b, hs, date), want);
    }
    rev_book_free(b);
    free(v);
}

/* ---- the keys of valuation statistics -------------------------------------------------- */
static void random_text(char *out, size_t max)
{
    size_t n = rnd((unsigned)max + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)("0123456789ABCKGMNR:"[rnd(19)]);
    out[n] = '\0';
}

static void test_uv_key_as_printf(void **state)
{
    (void)state;
    char want[REV_UV_KEY_MAX], got[REV_UV_KEY_MAX];
    rev_uv_key(got, 6, "690722", "CN", "KGM");
    assert_string_equal(got, "6:690722:CN:KGM");
    rev_uv_key(got, 4, "6907221000", "CN", "NAR");
    assert_string_equal(got, "4:6907:CN:NAR");
    /* the stored keys are printf's: the same bytes, cut at the size too */
    for (int q = 0; q < 5000; q++) {
        char hs[24], origin[24], unit[40];
        random_text(hs, 16);
        random_text(origin, 20);
        random_text(unit, 36);
        int level = (int)rnd(14) - 2;
        if (rnd(20) == 0)
            level = rnd(2) ? -1000000 : 1234567;
        snprintf(want, sizeof want, "%d:%.*s:%s:%s", level, level, hs, origin, unit);
        memset(got, 'x', sizeof got);
        rev_uv_key(got, level, hs, origin, unit);
        assert_string_equal(got, want);
    }
}

/* The unit values' text: printf's "%.9g", the same bytes. */
static void uv_same(double v)
{
    char want[64], got[REV_UV_TEXT_MAX];
    snprintf(want, sizeof want, "%.9g", v);
    size_t n = rev_uv_text(got, v);
    if (strcmp(got, want) != 0 || n != strlen(want))
        fail_msg("%.17g: %s (%zu), printf %s", v, got, n, want);
}

static void test_uv_text_as_printf(void **state)
{
    (void)state;
    static const double fixed[] = {1e-4,        1e-5,         9.99999999e-5, 0.000123456789,
                                   0.1,         0.5,          1,             5,
                                   10,          99999999.95,  99999999.949,  100000000,
                                   123456789,   123456789.5,  999999999.4,   999999999.5,
                                   999999999.6, 1e9,          1e10,          12345.6789012,
                                   2.5e-4,      1234567.885,  0.30000000000000004, 7e22,
                                   1e-300,      1e300,        0};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        uv_same(fixed[i]);
    for (int q = 0; q < 40000; q++) {
        double m = (double)(rnd(1000000000) + 1) / 1e9 * 10, v;
        int e = (int)rnd(18) - 7;
        v = e >= 0 ? m * pow(10, e) : m / pow(10, -e);
        uv_same(v);
        /* 9 digits and a half exactly, as close as a double gets: the ties */
        double tie = ((double)(100000000 + rnd(900000000)) + 0.5) * pow(10, (int)rnd(12) - 12);
        uv_same(tie);
        uv_same(nextafter(tie, 0));
        uv_same(nextafter(tie, 1e300));
        /* a quotient as the obs make them: a value over a mass */
        uv_same((double)(rnd(5000000) + 100) / ((double)(rnd(30000) + 1) / 10));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_longest_prefix_at_every_length),
        cmocka_unit_test(test_versions_by_date),
        cmocka_unit_test(test_codes_without_a_line),
        cmocka_unit_test(test_codes_not_digits),
        cmocka_unit_test(test_random_book_follows_the_rule),
        cmocka_unit_test(test_uv_key_as_printf),
        cmocka_unit_test(test_uv_text_as_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
