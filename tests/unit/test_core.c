#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static void test_dates(void **state)
{
    int y, m, d;
    assert_true(cx_date_parse("2024-02-29", &y, &m, &d));
    assert_int_equal(y, 2024);
    assert_int_equal(m, 2);
    assert_int_equal(d, 29);
    assert_true(cx_date_parse("2000-02-29", NULL, NULL, NULL));
    assert_false(cx_date_parse("1900-02-29", NULL, NULL, NULL));
    assert_false(cx_date_parse("2023-02-29", NULL, NULL, NULL));
    assert_false(cx_date_parse("2024-04-31", NULL, NULL, NULL));
    assert_false(cx_date_parse("2024-13-01", NULL, NULL, NULL));
    assert_false(cx_date_parse("2024-00-10", NULL, NULL, NULL));
    assert_false(cx_date_parse("2024-1-01", NULL, NULL, NULL));
    assert_false(cx_date_parse("2024-01-01x", NULL, NULL, NULL));
    assert_false(cx_date_parse("0000-01-01", NULL, NULL, NULL));
    assert_false(cx_date_parse("", NULL, NULL, NULL));
    assert_false(cx_date_parse(NULL, NULL, NULL, NULL));
    assert_false(cx_date_parse("2024-01-0\xff", NULL, NULL, NULL));
}

static void test_civil_roundtrip(void **state)
{
    assert_int_equal(cx_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(cx_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(cx_days_from_civil(1969, 12, 31), -1);
    for (int64_t z = -800000; z < 800000; z += 997) {
        int y, m, d;
        cx_civil_from_days(z, &y, &m, &d);
        assert_int_equal(cx_days_from_civil(y, m, d), z);
    }
}

static void test_rfc3339(void **state)
{
    int64_t us;
    assert_int_equal(cx_rfc3339_parse("1970-01-01T00:00:00Z", &us), CX_OK);
    assert_int_equal(us, 0);
    assert_int_equal(cx_rfc3339_parse("2026-11-22T05:09:08.123456Z", &us), CX_OK);
    char out[32];
    cx_rfc3339_format(us, out);
    assert_string_equal(out, "2026-11-22T05:09:08.123Z");
    int64_t us2;
    assert_int_equal(cx_rfc3339_parse("2026-11-22T07:09:08.123456+02:00", &us2), CX_OK);
    assert_true(us == us2);
    assert_int_equal(cx_rfc3339_parse("2026-11-22t05:09:08z", &us2), CX_OK);
    assert_int_equal(cx_rfc3339_parse("2026-11-22T05:09:08", &us2), CX_EPARSE);
    assert_int_equal(cx_rfc3339_parse("2026-11-22T24:00:00Z", &us2), CX_EPARSE);
    assert_int_equal(cx_rfc3339_parse("2026-02-30T00:00:00Z", &us2), CX_EPARSE);
    assert_int_equal(cx_rfc3339_parse("2026-11-22T05:09:08.Z", &us2), CX_EPARSE);
    assert_int_equal(cx_rfc3339_parse("2026-11-22T05:09:08+0200", &us2), CX_EPARSE);
    cx_rfc3339_format(-1000, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

static void test_clock(void **state)
{
    cx_clock_set(1000000);
    assert_int_equal(cx_now_us(), 1000000);
    cx_clock_advance(5);
    assert_int_equal(cx_now_us(), 1000005);
    cx_clock_release();
    assert_true(cx_now_us() > 1700000000LL * 1000000);
}

static void test_buf_cap(void **state)
{
    cx_buf b;
    cx_buf_init(&b, 10);
    assert_int_equal(cx_buf_puts(&b, "hello"), CX_OK);
    assert_int_equal(cx_buf_puts(&b, "world"), CX_OK);
    assert_int_equal(b.len, 10);
    assert_int_equal(cx_buf_error(&b), CX_OK);
    assert_int_equal(cx_buf_puts(&b, "!"), CX_ETOOBIG);
    assert_string_equal(b.data, "helloworld");
    cx_buf_reset(&b);
    assert_int_equal(cx_buf_printf(&b, "%05d", 42), CX_OK);
    assert_string_equal(b.data, "00042");
    size_t n;
    char *s = cx_buf_steal(&b, &n);
    assert_int_equal(n, 5);
    assert_string_equal(s, "00042");
    free(s);
    assert_null(b.data);
    cx_buf_free(&b);
    cx_buf_free(NULL);
}

/* After its first failure a buffer stays failed: a later append that would
 * fit is refused too, so text built from many appends cannot come out with a
 * hole in the middle, and steal gives nothing. */
static void test_buf_stays_failed(void **state)
{
    cx_buf b;
    cx_buf_init(&b, 8);
    assert_int_equal(cx_buf_puts(&b, "{\"a\":"), CX_OK);
    assert_int_equal(cx_buf_puts(&b, "\"too long\""), CX_ETOOBIG);
    assert_int_equal(cx_buf_puts(&b, "1"), CX_ETOOBIG); /* would fit; refused */
    assert_int_equal(cx_buf_printf(&b, "%d", 1), CX_ETOOBIG);
    assert_int_equal(cx_buf_append(&b, "}", 1), CX_ETOOBIG);
    assert_int_equal(cx_buf_error(&b), CX_ETOOBIG);
    assert_string_equal(b.data, "{\"a\":");
    size_t n = 99;
    assert_null(cx_buf_steal(&b, &n));
    assert_int_equal(n, 0);
    /* steal released it: the buffer is empty and whole again */
    assert_int_equal(cx_buf_error(&b), CX_OK);
    assert_int_equal(cx_buf_puts(&b, "ok"), CX_OK);
    cx_buf_reset(&b);
    assert_int_equal(cx_buf_reserve(&b, 9), CX_ETOOBIG);
    assert_int_equal(cx_buf_puts(&b, "x"), CX_ETOOBIG);
    cx_buf_reset(&b); /* reset starts over */
    assert_int_equal(cx_buf_puts(&b, "x"), CX_OK);
    cx_buf_free(&b);
}

/* cx_json_push: an item that would not build (NULL) is not silently
 * dropped: *e says the list is short; the first error stays. */
static void test_json_push(void **state)
{
    json_t *a = json_array();
    cx_err e = CX_OK;
    cx_json_push(a, json_integer(1), &e);
    assert_int_equal(e, CX_OK);
    cx_json_push(a, NULL, &e);
    assert_int_equal(e, CX_ENOMEM);
    assert_int_equal(json_array_size(a), 1);
    e = CX_EDB;
    cx_json_push(a, NULL, &e);
    assert_int_equal(e, CX_EDB);
    cx_json_push(a, json_integer(2), &e);
    assert_int_equal(json_array_size(a), 2);
    json_decref(a);
}

/* A failure found outside the buffer fails it like a failed append: later
 * appends are refused, steal gives nothing, and the first error stays. */
static void test_buf_fail(void **state)
{
    cx_buf b;
    cx_buf_init(&b, 64);
    assert_int_equal(cx_buf_puts(&b, "[1,"), CX_OK);
    cx_buf_fail(&b, CX_OK); /* a step that went well changes nothing */
    assert_int_equal(cx_buf_error(&b), CX_OK);
    assert_int_equal(cx_buf_puts(&b, "2,"), CX_OK);
    cx_buf_fail(&b, CX_EDB);
    assert_int_equal(cx_buf_error(&b), CX_EDB);
    assert_int_equal(cx_buf_puts(&b, "3]"), CX_EDB); /* would fit; refused */
    assert_int_equal(cx_buf_json_str(&b, "x"), CX_EDB);
    cx_buf_fail(&b, CX_ENOMEM); /* the first error stays */
    cx_buf_fail(&b, CX_OK);
    assert_int_equal(cx_buf_error(&b), CX_EDB);
    assert_string_equal(b.data, "[1,2,");
    size_t n = 99;
    assert_null(cx_buf_steal(&b, &n));
    assert_int_equal(n, 0);
    /* a buffer failed by an append keeps that error too */
    cx_buf_init(&b, 2);
    assert_int_equal(cx_buf_puts(&b, "abc"), CX_ETOOBIG);
    cx_buf_fail(&b, CX_EDB);
    assert_int_equal(cx_buf_error(&b), CX_ETOOBIG);
    cx_buf_reset(&b); /* reset clears it, as it clears an append's error */
    assert_int_equal(cx_buf_puts(&b, "ok"), CX_OK);
    cx_buf_free(&b);
}

/* The escaping helper writes what jansson reads back as the same string. */
static void test_buf_json_str(void **state)
{
    static const char *const cases[] = {"plain", "q\"uote", "back\\slash", "tab\tnl\ncr\r",
                                        "\x01\x1f ctl", "\xc3\xa9t\xc3\xa9", "</script>", ""};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cx_buf b;
        cx_buf_init(&b, 256);
        assert_int_equal(cx_buf_json_str(&b, cases[i]), CX_OK);
        json_error_t e;
        json_t *j = json_loads(b.data, JSON_DECODE_ANY, &e);
        assert_non_null(j);
        assert_string_equal(json_string_value(j), cases[i]);
        json_decref(j);
        cx_buf_free(&b);
    }
    cx_buf b;
    cx_buf_init(&b, 256);
    assert_int_equal(cx_buf_json_str(&b, "bad \xff utf-8"), CX_EINVAL);
    assert_int_equal(cx_buf_error(&b), CX_EINVAL);
    cx_buf_free(&b);
}

/* Removal against a plain reference: keys come and go in a pseudo-random
 * order (enough to wrap probe runs, shift them back and compact the key
 * storage several times); after every step each key is found exactly when
 * the reference has it, with its value, and the indices stay dense. */
static void test_map_del(void **state)
{
    (void)state;
    enum { KEYS = 3000 };
    static int64_t ref[KEYS]; /* value, or -1 when absent */
    cx_map m;
    cx_map_init(&m);
    assert_false(cx_map_del(&m, "x", 1, NULL));
    for (size_t k = 0; k < KEYS; k++)
        ref[k] = -1;
    uint64_t x = 88172645463325252u, live = 0;
    char key[48];
    for (int step = 0; step < 60000; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t k = (size_t)(x % KEYS);
        int n = snprintf(key, sizeof key, "subject-%zu-%s", k, k % 3 ? "long-enough-key" : "");
        if (ref[k] < 0 && (x >> 32) % 3) {
            assert_int_equal(cx_map_set(&m, key, step), CX_OK);
            ref[k] = step, live++;
        } else {
            int64_t v = -2;
            assert_int_equal(cx_map_del(&m, key, (size_t)n, &v), ref[k] >= 0);
            assert_int_equal(v, ref[k] >= 0 ? ref[k] : -2);
            live -= ref[k] >= 0;
            ref[k] = -1;
        }
        assert_int_equal(m.n, live);
        if (step % 997)
            continue;
        for (size_t j = 0; j < KEYS; j++) {
            n = snprintf(key, sizeof key, "subject-%zu-%s", j, j % 3 ? "long-enough-key" : "");
            int64_t i = cx_map_find(&m, key, (size_t)n);
            assert_int_equal(cx_map_get(&m, key), ref[j]);
            if (i >= 0)
                assert_memory_equal(cx_map_key(&m, (size_t)i), key, (size_t)n + 1);
        }
    }
    assert_true(m.dead_bytes < 65536 || m.dead_bytes <= m.key_bytes); /* compacted */
    /* pointer values */
    static int a, b;
    assert_int_equal(cx_map_set_ptr(&m, "pa", 2, &a), CX_OK);
    assert_int_equal(cx_map_set_ptr(&m, "pb", 2, &b), CX_OK);
    assert_ptr_equal(cx_map_ptr(&m, "pa", 2), &a);
    assert_ptr_equal(cx_map_ptr_at(&m, (size_t)cx_map_find(&m, "pb", 2)), &b);
    assert_true(cx_map_del(&m, "pa", 2, NULL));
    assert_null(cx_map_ptr(&m, "pa", 2));
    assert_ptr_equal(cx_map_ptr(&m, "pb", 2), &b);
    cx_map_free(&m);
}

/* The keyed map: indices in insertion order, values by key, ints and
 * strings, lookups by precomputed hash; keys are copies. */
static void test_map(void **state)
{
    cx_map m;
    cx_map_init(&m);
    assert_int_equal(cx_map_get(&m, "absent"), -1);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "MSCU%07d", i);
        assert_int_equal(cx_map_set(&m, key, i * 3), CX_OK);
    }
    assert_int_equal(m.n, 5000);
    for (int i = 0; i < 5000; i += 7) {
        snprintf(key, sizeof key, "MSCU%07d", i);
        assert_int_equal(cx_map_get(&m, key), i * 3);
        assert_int_equal(cx_map_find(&m, key, strlen(key)), i);
        assert_string_equal(cx_map_key(&m, (size_t)i), key);
        assert_int_equal(cx_map_find_hashed(&m, cx_map_hash(key, strlen(key)), strlen(key)), i);
    }
    assert_int_equal(cx_map_set(&m, "MSCU0000007", -5), CX_OK); /* replaces */
    assert_int_equal(cx_map_get(&m, "MSCU0000007"), -5);
    assert_int_equal(m.n, 5000);
    bool added = true;
    assert_int_equal(cx_map_put(&m, "MSCU0000009", 11, &added), 9);
    assert_false(added);
    assert_int_equal(cx_map_put(&m, "new", 3, &added), 5000);
    assert_true(added);
    /* the same bytes hash the same within a process; the hash is never 0 */
    assert_true(cx_map_hash("abc", 3) == cx_map_hash("abc", 3));
    assert_true(cx_map_hash("", 0) != 0);
    cx_map ints;
    cx_map_init(&ints);
    for (int64_t k = -1000; k < 1000; k++)
        assert_int_equal(cx_map_iset(&ints, k * 1000003, k + 2000), CX_OK);
    assert_int_equal(cx_map_iget(&ints, -7 * 1000003), 1993);
    assert_int_equal(cx_map_iget(&ints, 5), -1);
    cx_map_free(&ints);
    cx_map_free(&m);
    cx_map_free(NULL);
}

static void test_utf8(void **state)
{
    size_t n;
    assert_true(cx_utf8_count("abc", 3, &n));
    assert_int_equal(n, 3);
    assert_true(cx_utf8_count("\xc3\xa9t\xc3\xa9", 5, &n)); /* été */
    assert_int_equal(n, 3);
    assert_true(cx_utf8_count("\xf0\x9f\x9a\xa2", 4, &n)); /* ship emoji */
    assert_int_equal(n, 1);
    assert_false(cx_utf8_count("\xc0\xaf", 2, &n));         /* overlong */
    assert_false(cx_utf8_count("\xed\xa0\x80", 3, &n));     /* surrogate */
    assert_false(cx_utf8_count("\xf4\x90\x80\x80", 4, &n)); /* > U+10FFFF */
    assert_false(cx_utf8_count("\xe2\x82", 2, &n));         /* truncated */
}

static void test_numbers(void **state)
{
    int64_t i;
    double d;
    assert_true(cx_parse_i64("123", &i));
    assert_int_equal(i, 123);
    assert_true(cx_parse_i64("-5", &i));
    assert_false(cx_parse_i64("", &i));
    assert_false(cx_parse_i64("12a", &i));
    assert_false(cx_parse_i64(" 1", &i));
    assert_false(cx_parse_i64("99999999999999999999", &i));
    assert_true(cx_parse_double("372254.4", &d));
    assert_true(d == 372254.4);
    assert_true(cx_parse_double("1e3", &d));
    assert_false(cx_parse_double("nan", &d));
    assert_false(cx_parse_double("inf", &d));
    assert_false(cx_parse_double("0x10", &d));
    assert_false(cx_parse_double("1e999", &d));
    assert_false(cx_parse_double("1,5", &d));
}

static void test_json_dump_shortest(void **state)
{
    json_t *j = json_loads("{\"a\":0.1,\"b\":5.0,\"c\":12.5,\"d\":3}", 0, NULL);
    char *s = cx_json_dump(j, NULL);
    assert_string_equal(s, "{\"a\":0.1,\"b\":5.0,\"c\":12.5,\"d\":3}");
    free(s);
    json_decref(j);
    /* A double that needs 17 digits keeps them, so it reads back the same. */
    double x = 0.1 + 0.2;
    j = json_real(x);
    s = cx_json_dump(j, NULL);
    assert_true(strtod(s, NULL) == x);
    free(s);
    json_decref(j);
}

static void test_jptr(void **state)
{
    char p[64] = "";
    cx_jptr_push(p, sizeof p, "items");
    cx_jptr_index(p, sizeof p, 3);
    cx_jptr_push(p, sizeof p, "a/b~c");
    assert_string_equal(p, "/items/3/a~1b~0c");
    char small[6] = "";
    cx_jptr_push(small, sizeof small, "abcdefgh");
    /* a cut never splits a UTF-8 character */
    char cut[6] = "";
    cx_jptr_push(cut, sizeof cut, "ab\xc3\xa9\xc3\xa9");
    assert_true(cx_utf8_count(cut, strlen(cut), NULL));
    assert_string_equal(cut, "/ab\xc3\xa9");
    char cut2[5] = "";
    cx_jptr_push(cut2, sizeof cut2, "ab\xe2\x82\xac");
    assert_string_equal(cut2, "/ab");
    assert_int_equal(strlen(small), 5);
}

/* A message cut at 255 bytes inside a multi-byte character keeps the problem
 * (jansson refuses invalid UTF-8, which used to drop it silently). */
static void test_split(void **state)
{
    (void)state;
    char buf[16];
    const char *it[3];
    assert_int_equal(cx_split("a,bb,c", ',', buf, sizeof buf, it, 3), 3);
    assert_string_equal(it[0], "a");
    assert_string_equal(it[1], "bb");
    assert_string_equal(it[2], "c");
    assert_int_equal(cx_split("one", ',', buf, sizeof buf, it, 3), 1);
    assert_string_equal(it[0], "one");
    /* empty items are refused, not skipped */
    assert_int_equal(cx_split("a,,b", ',', buf, sizeof buf, it, 3), -1);
    assert_int_equal(cx_split("a,", ',', buf, sizeof buf, it, 3), -1);
    assert_int_equal(cx_split(",a", ',', buf, sizeof buf, it, 3), -1);
    assert_int_equal(cx_split("", ',', buf, sizeof buf, it, 3), -1);
    /* more items than max, or more text than buf: refused, never cut */
    assert_int_equal(cx_split("a,b,c,d", ',', buf, sizeof buf, it, 3), -1);
    assert_int_equal(cx_split("0123456789abcdef", ',', buf, sizeof buf, it, 3), -1);
    assert_int_equal(cx_split("0123456789abcde", ',', buf, sizeof buf, it, 3), 1);
}

static void test_problem_long_multibyte(void **state)
{
    (void)state;
    char text[400];
    for (size_t i = 0; i + 2 < sizeof text; i += 2)
        memcpy(text + i, "\xc3\xa9", 2); /* 'é' after 'é': byte 255 splits one */
    text[398] = '\0';
    json_t *problems = json_array();
    json_t *p = cx_problem_add(problems, "/name", "%s", text);
    assert_non_null(p);
    assert_int_equal(json_array_size(problems), 1);
    const char *m = json_string_value(json_object_get(p, "message"));
    assert_int_equal(strlen(m), 254);
    assert_true(cx_utf8_count(m, strlen(m), NULL));
    /* the same through a capped list */
    cx_problems list = {.list = problems, .max = 10};
    cx_problems_add(&list, "/name", "%s%s", "\xe2\x82\xacx", text);
    assert_int_equal(json_array_size(problems), 2);
    assert_int_equal(cx_utf8_cut("ab\xe2\x82", 4), 2);
    assert_int_equal(cx_utf8_cut("ab\xe2\x82\xac", 5), 5);
    assert_int_equal(cx_utf8_cut("abc", 3), 3);
    json_decref(problems);
}

static void test_ids(void **state)
{
    char a[CX_ID_LEN + 1], b[CX_ID_LEN + 1];
    cx_clock_set(1700000000000000LL);
    cx_id_new(a);
    cx_clock_advance(1000);
    cx_id_new(b);
    cx_clock_release();
    assert_int_equal(strlen(a), CX_ID_LEN);
    assert_true(strcmp(a, b) < 0); /* later ids sort after */
    assert_int_equal(strspn(a, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"), CX_ID_LEN);
}

static void test_roles_orgs(void **state)
{
    cx_role r;
    assert_true(cx_role_parse("officer", &r));
    assert_int_equal(r, CX_ROLE_OFFICER);
    assert_false(cx_role_parse("root", &r));
    assert_false(cx_role_parse("none", &r));
    assert_string_equal(cx_role_name(CX_ROLE_DEVICE), "device");
    assert_true(cx_org_valid("ACME-Corp_1.kr"));
    assert_false(cx_org_valid(""));
    assert_false(cx_org_valid("a b"));
    char long_org[70];
    memset(long_org, 'a', 65);
    long_org[65] = '\0';
    assert_false(cx_org_valid(long_org));
}

/* Every error has its own sentence: a message shared by two values, or one
 * left at the fallback, would hide which error a log line means. */
static void test_strerror(void **state)
{
    const char *fallback = cx_strerror((cx_err)999);
    assert_string_equal(fallback, "unknown error");
    assert_string_equal(cx_strerror(CX_OK), "ok");
    for (int e = 0; e < CX_ERR__COUNT; e++) {
        const char *m = cx_strerror((cx_err)e);
        assert_true(m[0] != '\0');
        assert_string_not_equal(m, fallback);
        for (int k = 0; k < e; k++)
            assert_string_not_equal(m, cx_strerror((cx_err)k));
    }
}

typedef struct {
    int rows;
    char first[64];
    uint64_t lines[8];
} csv_seen;

static bool csv_row(void *ctx, char **f, size_t n, uint64_t line, uint64_t off)
{
    csv_seen *s = ctx;
    if (s->rows == 1)
        snprintf(s->first, sizeof s->first, "%s|%s|%zu", f[0], f[1], n);
    if (s->rows < 8)
        s->lines[s->rows] = line;
    s->rows++;
    return true;
}

static void test_csv(void **state)
{
    const char text[] = "a,b\n\" x \",\"multi\nline\"\n c ,d\n";
    FILE *f = fmemopen((void *)text, sizeof text - 1, "r");
    csv_seen s = {0};
    assert_int_equal(cx_csv_read(f, 100, csv_row, &s, NULL), CX_OK);
    fclose(f);
    assert_int_equal(s.rows, 3);
    assert_string_equal(s.first, " x |multi\nline|2"); /* spaces kept exactly */
    assert_int_equal(s.lines[1], 2);
    assert_int_equal(s.lines[2], 4);

    const char big[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,b\n";
    f = fmemopen((void *)big, sizeof big - 1, "r");
    memset(&s, 0, sizeof s);
    assert_int_equal(cx_csv_read(f, 16, csv_row, &s, NULL), CX_ETOOBIG);
    fclose(f);

    const char bad[] = "a,b\n\"unterminated,c\n";
    f = fmemopen((void *)bad, sizeof bad - 1, "r");
    uint64_t line = 0;
    assert_int_equal(cx_csv_read(f, 100, csv_row, &s, &line), CX_EPARSE);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates),       cmocka_unit_test(test_civil_roundtrip),
        cmocka_unit_test(test_rfc3339),     cmocka_unit_test(test_clock),
        cmocka_unit_test(test_buf_cap),     cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_numbers),     cmocka_unit_test(test_json_dump_shortest),
        cmocka_unit_test(test_jptr),        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_problem_long_multibyte),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_roles_orgs),  cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_buf_stays_failed), cmocka_unit_test(test_buf_fail),
        cmocka_unit_test(test_json_push),
        cmocka_unit_test(test_buf_json_str),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_map_del),
        cmocka_unit_test(test_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
