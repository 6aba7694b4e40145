/* Unit tests of the short stored assessment: a submission's member refers to
 * immutable texts of the tariff line versions it used (revenue_line_texts)
 * instead of copying each line, and every read through declare's door
 * expands it back. Checked against the bytes of the unshortened member (an
 * assessment of the same declaration made without references, written as
 * the member always was): decl_member_get, the 201, GET for the declarant
 * and for customs, a decision's reply; a row stored in full (as before)
 * reads the same; a line replaced or ended by a later import leaves what
 * earlier declarations show untouched; a tariff stored before the texts
 * gets them at start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "revenue.h"
#include "revkit.h"

#define TARIFF_HEAD                                                                            \
    "hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,specific_amount,specific_unit,"      \
    "excise_pct,vat_pct\n"

static int setup(void **state)
{
    fx *f = fx__open("revenue-lines");
    /* every duty type's line shape: decimals, a specific unit, a closed
     * validity, an empty excise */
    fx__csv(f->s, REV_IMPORT_TARIFF, TARIFF_HEAD "6907,2020-01-01,,ad_valorem,8.5,,,0,10\n"
                                                 "2203,2020-01-01,2030-12-31,specific,,1234.5,"
                                                 "KGM,30,10\n"
                                                 "8471,2020-01-01,,compound,3,200,NAR,,10\n");
    int64_t now;
    assert_int_equal(cx_rfc3339_parse("2024-03-02T10:00:00.000Z", &now), CX_OK);
    cx_clock_set(now);
    fx__start(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    return fx__close(*state);
}


/* Four items: ad valorem (with the trader's own, wrong, rate: a finding),
 * specific per kg, compound per unit, and a code without a tariff line (a
 * problem, "tariff_line": null). */
static void decl_text(char *out, size_t cap, const char *ref)
{
    snprintf(out, cap,
             "{\"reference\":\"%s\",\"type\":\"import\",\"date\":\"2024-03-01\","
             "\"office\":\"KRPUS\",\"declarant_id\":\"DCL-1\",\"importer_id\":\"IMP-1\","
             "\"exporter_id\":\"EXP-1\",\"items\":["
             "{\"hs_code\":\"690722\",\"description\":\"Tiles\",\"country_of_origin\":\"CN\","
             "\"quantity\":10,\"unit\":\"NAR\",\"net_mass_kg\":50,\"value\":100000.5,"
             "\"currency\":\"KRW\",\"tax_rate\":8},"
             "{\"hs_code\":\"220300\",\"description\":\"Beer\",\"country_of_origin\":\"DE\","
             "\"net_mass_kg\":12.5,\"value\":40000,\"currency\":\"KRW\"},"
             "{\"hs_code\":\"847130\",\"description\":\"Laptops\",\"country_of_origin\":\"CN\","
             "\"quantity\":3,\"unit\":\"NAR\",\"net_mass_kg\":6,\"value\":2100000,"
             "\"currency\":\"KRW\"},"
             "{\"hs_code\":\"010121\",\"description\":\"Horse\",\"country_of_origin\":\"FR\","
             "\"quantity\":1,\"unit\":\"NAR\",\"net_mass_kg\":500,\"value\":9000000,"
             "\"currency\":\"KRW\"}]}",
             ref);
}

typedef struct {
    char *reply; /* the 201 as the declarant got it */
    char id[64];
    int64_t seq;
    char *full, *shown; /* the member unshortened, as it was always stored */
} lodged;

static int64_t sql_int(fx *f, const char *sql, const char *arg)
{
    sqlite3 *db = store_conn_db(store_reader(f->s));
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Lodges ref and makes what the member was before references: the same
 * declaration assessed on a book of the database with no line_ref (every
 * item's line copied), its version and time as the submission set them,
 * written by rev_assessment_texts. */
static void lodge(fx *f, const char *ref, lodged *out)
{
    char text[2048];
    decl_text(text, sizeof text, ref);
    json_t *doc = json_loads(text, JSON_DECODE_INT_AS_REAL, NULL);
    assert_non_null(doc);
    assert_int_equal(decl_store_one(f->d, &trader, doc, &out->reply), CX_OK);
    snprintf(out->id, sizeof out->id, "%s", json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    out->seq = sql_int(f, "SELECT seq FROM declarations WHERE id=?1", out->id);

    rev_book *b = NULL;
    char err[256];
    assert_int_equal(rev_book_load(f->s, &b, err, sizeof err), CX_OK);
    json_t *again = json_loads(text, JSON_DECODE_INT_AS_REAL, NULL);
    rev_lookups none = {0};
    json_t *a = rev_assess(b, again, text, strlen(text), &none, NULL);
    assert_non_null(a);
    json_object_set_new(a, "version", json_integer(1));
    json_object_set_new(a, "assessed_at", json_string("2024-03-02T10:00:00.000Z"));
    assert_int_equal(rev_assessment_texts(a, &out->full, &out->shown), CX_OK);
    json_decref(a);
    json_decref(again);
    rev_book_free(b);
}

static void lodged_free(lodged *l)
{
    free(l->reply);
    free(l->full);
    free(l->shown);
}

static char *member(fx *f, int64_t seq, bool full)
{
    char *t = NULL;
    assert_int_equal(decl_member_get(f->d, store_reader(f->s), seq, "assessment", full, &t),
                     CX_OK);
    assert_non_null(t);
    return t;
}

static char *get(fx *f, const cx_principal *who, const char *id)
{
    char *t = NULL;
    assert_int_equal(decl_get(f->d, who, id, &t), CX_OK);
    assert_non_null(t);
    return t;
}

/* `"assessment":` followed by the member's text, byte for byte, in body */
static void assert_shows(const char *body, const char *member_text)
{
    size_t n = strlen(member_text) + 16;
    char *want = malloc(n);
    snprintf(want, n, "\"assessment\":%s", member_text);
    if (!strstr(body, want))
        fail_msg("the body does not carry the unshortened member:\n%s\nwant:\n%s", body, want);
    free(want);
}

typedef struct {
    int64_t seq;
    const char *full, *shown;
} set_job;

static cx_err set__job(store_conn *w, void *arg)
{
    set_job *j = arg;
    return decl_member_set_in(w, j->seq, "assessment", j->full, j->shown);
}

/* The member is stored short and every read shows it unshortened; the same
 * row rewritten as the previous version stored it reads the same. */
static void test_short_member_reads_as_before(void **state)
{
    fx *f = *state;
    lodged l = {0};
    lodge(f, "L-1", &l);
    assert_null(l.shown); /* no valuation flag: one form */
    /* stored short: three references, one null, no line copied */
    assert_int_equal(sql_int(f, "SELECT instr(kept, '\"tariff_line\":{') FROM declarations "
                                "WHERE id=?1", l.id), 0);
    assert_true(sql_int(f, "SELECT length(kept) FROM declarations WHERE id=?1", l.id) + 500 <
                (int64_t)strlen(l.full));
    assert_int_equal(sql_int(f, "SELECT count(*) FROM revenue_line_texts", NULL), 3);
    /* in the compact form (compact.c), whose items hold the references */
    assert_int_equal(sql_int(f, "SELECT instr(kept, '{\"assessment\":[\"rev2\",') FROM "
                                "declarations WHERE id=?1", l.id), 1);
    /* decl_member_get, both forms */
    char *m = member(f, l.seq, true);
    assert_string_equal(m, l.full);
    free(m);
    m = member(f, l.seq, false);
    assert_string_equal(m, l.full);
    free(m);
    /* the 201 and GET, the declarant's and customs' */
    assert_shows(l.reply, l.full);
    char *gt = get(f, &trader, l.id), *go = get(f, &officer, l.id);
    assert_shows(gt, l.full);
    assert_shows(go, l.full);
    /* the row as the previous version stored it: the same bodies */
    set_job j = {l.seq, l.full, NULL};
    assert_int_equal(store_write(f->s, set__job, &j), CX_OK);
    assert_true(sql_int(f, "SELECT instr(kept, '\"tariff_line\":{') FROM declarations "
                           "WHERE id=?1", l.id) > 0);
    char *gt2 = get(f, &trader, l.id), *go2 = get(f, &officer, l.id);
    assert_string_equal(gt2, gt);
    assert_string_equal(go2, go);
    free(gt);
    free(go);
    free(gt2);
    free(go2);
    lodged_free(&l);
}

/* A decision's reply is composed from the member on the writer. */
static void test_decision_reply_unshortened(void **state)
{
    fx *f = *state;
    lodged l = {0};
    lodge(f, "L-2", &l);
    json_t *body = json_pack("{s:s,s:s}", "decision", "hold", "reason", "documents");
    decl_decision res;
    decl_decide(f->d, &officer, l.id, body, &res);
    assert_int_equal(res.status, 200);
    assert_shows(res.json, l.full);
    decl_decision_clear(&res);
    json_decref(body);
    lodged_free(&l);
}

/* An import that replaces a line (same code and valid_from) or ends an open
 * one changes what later declarations show, never what earlier ones do:
 * their references are to texts never updated. */
static void test_changed_lines_leave_earlier_members(void **state)
{
    fx *f = *state;
    lodged before = {0};
    lodge(f, "L-3", &before);
    /* 6907 replaced: 8.5 -> 9 %; 8471 ended by a version from 2024-02-01 */
    fx__csv(f->s, REV_IMPORT_TARIFF, TARIFF_HEAD "6907,2020-01-01,,ad_valorem,9,,,0,10\n"
                                                 "8471,2024-02-01,,ad_valorem,4,,,0,10\n");
    assert_int_equal(sql_int(f, "SELECT count(*) FROM revenue_tariff WHERE text_id IS NULL",
                             NULL), 0);
    /* 3 first texts, 6907's and 8471's new contents, 8471's new version */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM revenue_line_texts", NULL), 6);
    char *m = member(f, before.seq, true);
    assert_string_equal(m, before.full);
    free(m);
    lodged after = {0};
    lodge(f, "L-4", &after);
    assert_string_not_equal(after.full, before.full);
    assert_non_null(strstr(after.full, "\"ad_valorem_pct\":9,"));
    assert_non_null(strstr(after.full, "\"valid_from\":\"2024-02-01\""));
    m = member(f, after.seq, true);
    assert_string_equal(m, after.full);
    free(m);
    /* read again through a new service (an empty cache: texts from the table) */
    fx__stop(f);
    fx__start(f);
    m = member(f, before.seq, true);
    assert_string_equal(m, before.full);
    free(m);
    char *g = get(f, &officer, after.id);
    assert_shows(g, after.full);
    free(g);
    lodged_free(&before);
    lodged_free(&after);
}

/* A tariff stored before the texts existed gets them once, at start, and
 * submissions refer to them from then on. */
static void test_older_tariff_gets_texts_at_start(void **state)
{
    fx *f = *state;
    fx__stop(f);
    sqlite3 *db = NULL;
    char path[128];
    snprintf(path, sizeof path, "%s/r.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE revenue_tariff SET text_id=NULL;"
                                      "DELETE FROM revenue_line_texts;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM revenue_tariff WHERE text_id IS NULL",
                             NULL), 3);
    fx__start(f);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM revenue_tariff WHERE text_id IS NULL",
                             NULL), 0);
    lodged l = {0};
    lodge(f, "L-5", &l);
    assert_int_equal(sql_int(f, "SELECT instr(kept, '\"tariff_line\":{') FROM declarations "
                                "WHERE id=?1", l.id), 0);
    char *m = member(f, l.seq, true);
    assert_string_equal(m, l.full);
    free(m);
    lodged_free(&l);
}

static char *sql_text(fx *f, const char *sql, const char *arg)
{
    sqlite3 *db = store_conn_db(store_reader(f->s));
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *t = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return t;
}

/* The derivation record keeps the items' unit values at level 6 only; the
 * derived row has both levels, as from the texts. */
static void test_record_obs_level6_row_both(void **state)
{
    fx *f = *state;
    lodged l = {0};
    lodge(f, "L-6", &l);
    char *rec = sql_text(f, "SELECT kept_records -> '$.assessment' FROM declarations "
                            "WHERE id=?1", l.id);
    assert_non_null(strstr(rec, "6:690722:CN:KGM "));
    assert_null(strstr(rec, "4:6907:CN:KGM"));
    assert_int_equal(rev_service_catch_up(f->r), CX_OK);
    char *obs = sql_text(f, "SELECT obs FROM revenue_assessments WHERE decl_id=?1", l.id);
    /* the tiles' value per kg and per unit (NAR), the beer's and the
     * laptops' per kg and per unit, the horse's: each at both levels */
    char want[512];
    snprintf(want, sizeof want,
             "6:690722:CN:KGM 2000.02\n4:6907:CN:KGM 2000.02\n"
             "6:690722:CN:NAR 10000.1\n4:6907:CN:NAR 10000.1\n"
             "6:220300:DE:KGM 3200\n4:2203:DE:KGM 3200\n"
             "6:847130:CN:KGM 350000\n4:8471:CN:KGM 350000\n"
             "6:847130:CN:NAR 700000\n4:8471:CN:NAR 700000\n"
             "6:010121:FR:KGM 18000\n4:0101:FR:KGM 18000\n"
             "6:010121:FR:NAR 9000000\n4:0101:FR:NAR 9000000\n");
    assert_string_equal(obs, want);
    /* a record made before (both levels) derives the same row */
    fx__stop(f);
    sqlite3 *db = NULL;
    char path[128];
    snprintf(path, sizeof path, "%s/r.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE declarations SET kept_records = json_set("
                                      "kept_records, '$.assessment[13]', (SELECT obs FROM "
                                      "revenue_assessments));"
                                      "DELETE FROM revenue_assessments;"
                                      "UPDATE revenue_meta SET value='0' WHERE key='derived';",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    free(rec);
    rec = sql_text(f, "SELECT kept_records -> '$.assessment' FROM declarations WHERE id=?1",
                   l.id);
    assert_non_null(strstr(rec, "4:6907:CN:KGM"));
    fx__start(f);
    assert_int_equal(rev_service_catch_up(f->r), CX_OK);
    free(obs);
    obs = sql_text(f, "SELECT obs FROM revenue_assessments WHERE decl_id=?1", l.id);
    assert_string_equal(obs, want);
    free(rec);
    free(obs);
    lodged_free(&l);
}

int main(void)
{
    if (fx__refdata())
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_short_member_reads_as_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decision_reply_unshortened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_lines_leave_earlier_members, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_older_tariff_gets_texts_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_obs_level6_row_both, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
