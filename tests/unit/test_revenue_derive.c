/* Unit tests of the revenue service on a real store: the assessment rows
 * derived from the declarations off the submission path (the release gate
 * before the worker ran; a restart after nothing was derived, as after
 * kill -9, derives the rows and the statistics from the compact records;
 * declarations of the previous version, without records, from their texts)
 * and the tariff generation a lodging sees (an import in the same process
 * at once). */
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

static int setup(void **state)
{
    fx *f = fx__open("revenue-derive");
    fx__csv(f->s, REV_IMPORT_TARIFF, "hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,"
                                     "vat_pct\n6907,2020-01-01,,ad_valorem,8,10\n");
    fx__start(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    return fx__close(*state);
}


/* One item of 690722 from origin: value KRW, mass kg. The stored document
 * is returned (caller decrefs). */
static json_t *submit_from(fx *f, const char *ref, const char *origin, const char *value,
                           const char *mass)
{
    char text[700];
    snprintf(text, sizeof text,
             "{\"reference\":\"%s\",\"type\":\"import\",\"date\":\"2024-03-01\","
             "\"office\":\"KRPUS\",\"declarant_id\":\"DCL-1\",\"importer_id\":\"IMP-1\","
             "\"exporter_id\":\"EXP-1\",\"items\":[{\"hs_code\":\"690722\","
             "\"description\":\"Tiles\",\"country_of_origin\":\"%s\",\"quantity\":10,"
             "\"unit\":\"NAR\",\"net_mass_kg\":%s,\"value\":%s,\"currency\":\"KRW\"}]}",
             ref, origin, mass, value);
    json_t *doc = json_loads(text, JSON_DECODE_INT_AS_REAL, NULL);
    assert_non_null(doc);
    char *stored = NULL;
    assert_int_equal(decl_store_one(f->d, &trader, doc, &stored), CX_OK);
    json_decref(doc);
    json_t *out = json_loads(stored, 0, NULL);
    free(stored);
    assert_non_null(out);
    return out;
}

static json_t *submit(fx *f, const char *ref, const char *value, const char *mass)
{
    return submit_from(f, ref, "CN", value, mass);
}

/* One integer from SQL on this thread's reader (revenue's own tables, and
 * declare's where a test plays the previous version). */
static int64_t sql_int(fx *f, const char *sql)
{
    sqlite3 *db = store_conn_db(store_reader(f->s));
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static cx_err sql__job(store_conn *w, void *arg)
{
    return store_exec(w, arg);
}

static void sql_write(fx *f, const char *sql)
{
    assert_int_equal(store_write(f->s, sql__job, (void *)sql), CX_OK);
}

static double total_of(const json_t *doc)
{
    return json_number_value(json_object_get(json_object_get(doc, "assessment"), "total"));
}

/* A tenth of the usual unit value, after 40 declarations at it: below the
 * 5th percentile; the declarant reads the valuation control's risk reason
 * (not its figures). */
/* Whether a stored declaration carries the undervaluation risk reason. */
static bool undervalued(const json_t *doc)
{
    const json_t *reasons = json_object_get(json_object_get(doc, "risk"), "reasons");
    bool flagged = false;
    size_t i;
    const json_t *x;
    json_array_foreach(reasons, i, x)
    {
        flagged = flagged || strcmp(json_string_value(json_object_get(x, "feature")),
                                    "revenue.undervaluation") == 0;
    }
    return flagged;
}

static void assert_low_flagged(fx *f)
{
    json_t *low = submit(f, "LOW", "10000", "50");
    assert_true(undervalued(low));
    json_decref(low);
}

static bool flagged_from(fx *f, const char *ref, const char *origin)
{
    json_t *doc = submit_from(f, ref, origin, "10000", "50");
    bool flagged = undervalued(doc);
    json_decref(doc);
    return flagged;
}

/* The statistics cache of the lodgings (hashed slots that grow, keys
 * without statistics kept too): after many keys of origins without
 * statistics went in, the one origin with statistics is still told apart
 * from the others, first read and then cached. */
static void test_statistics_cache_keys(void **state)
{
    fx *f = *state;
    static const char *const origins[] = {
        "AD", "AE", "AF", "AG", "AL", "AM", "AO", "AR", "AT", "AU", "AZ", "BA", "BB", "BD",
        "BE", "BF", "BG", "BH", "BI", "BJ", "BN", "BO", "BR", "BS", "BT", "BW", "BY", "BZ",
        "CA", "CD", "CF", "CG", "CH", "CI", "CL", "CM", "CO", "CR", "CU", "CV"};
    char ref[32];
    for (int i = 0; i < 40; i++) {
        snprintf(ref, sizeof ref, "H-%d", i);
        json_decref(submit(f, ref, i % 2 ? "100000" : "110000", "50"));
    }
    assert_int_equal(rev_service_catch_up(f->r), CX_OK); /* CN's keys put in */
    for (int round = 0; round < 2; round++) {              /* read, then cached */
        for (size_t k = 0; k < sizeof origins / sizeof *origins; k++) {
            snprintf(ref, sizeof ref, "O-%d-%s", round, origins[k]);
            assert_false(flagged_from(f, ref, origins[k]));
        }
        snprintf(ref, sizeof ref, "CN-%d", round);
        assert_true(flagged_from(f, ref, "CN"));
    }
}

/* Release straight after lodging, before any row was derived: the gate makes
 * the row from the declaration's member and refuses the unpaid duty. */
static void test_gate_before_derivation(void **state)
{
    fx *f = *state;
    json_t *doc = submit(f, "D-1", "100000", "50");
    assert_true(total_of(doc) > 0);
    /* the compact record is in the declaration's row, not in the member's
     * texts; no row yet */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM declarations WHERE kept_records -> '$.assessment' IS NOT NULL"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM declarations WHERE "
                                "instr(kept, '_record') OR instr(kept_shown, '_record') OR "
                                "instr(doc, '_record')"),
                     0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM revenue_assessments"), 0);
    /* the row is made from the record alone: not from the texts */
    sql_write(f, "UPDATE declarations SET kept = NULL, kept_shown = NULL");
    json_t *body = json_pack("{s:s}", "decision", "release");
    decl_decision res;
    decl_decide(f->d, &officer, json_string_value(json_object_get(doc, "id")), body, &res);
    assert_int_equal(res.status, 409);
    assert_string_equal(res.code, "payment_required");
    assert_non_null(strstr(res.message, "18,800")); /* 8 % duty, 10 % VAT on 108,000 */
    decl_decision_clear(&res);
    json_decref(body);
    json_decref(doc);
}

/* Nothing derived before the process stopped (as after kill -9 between the
 * 201 and the worker's batch): the next start derives the rows from the
 * cursor and folds their unit values, so the valuation control has the
 * statistics of every acknowledged declaration. */
static void test_restart_derives_rows_and_statistics(void **state)
{
    fx *f = *state;
    char ref[32];
    for (int i = 0; i < 40; i++) {
        snprintf(ref, sizeof ref, "H-%d", i);
        json_decref(submit(f, ref, i % 2 ? "100000" : "110000", "50"));
    }
    assert_int_equal(sql_int(f, "SELECT count(*) FROM declarations WHERE kept_records -> '$.assessment' IS NOT NULL"), 40);
    fx__stop(f);
    fx__start(f);
    /* derived from the records (each kept with its declaration), not the texts */
    sql_write(f, "UPDATE declarations SET kept = NULL, kept_shown = NULL");
    assert_int_equal(rev_service_catch_up(f->r), CX_OK);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM revenue_assessments WHERE "
                                "decl_id != '' AND org = 'TRADER-1' AND office = 'KRPUS' "
                                "AND date = '2024-03-01' AND currency = 'KRW' AND version = 1 "
                                "AND total IN (18800, 20680) AND obs != ''"),
                     40);
    assert_low_flagged(f);
}

/* Declarations lodged by the previous version have no record: a start of
 * this version derives them from their texts, with their statistics, and a
 * release before that is gated on their amounts; later ones come from their
 * records. */
static void test_upgrade_derives_from_texts(void **state)
{
    fx *f = *state;
    char ref[32];
    for (int i = 0; i < 40; i++) {
        snprintf(ref, sizeof ref, "OLD-%d", i);
        json_decref(submit(f, ref, i % 2 ? "100000" : "110000", "50"));
    }
    json_t *old = submit(f, "OLD-GATE", "100000", "50");
    /* what the previous version left: no records */
    fx__stop(f);
    sql_write(f, "UPDATE declarations SET kept_records = NULL");
    fx__start(f);
    json_t *body = json_pack("{s:s}", "decision", "release");
    decl_decision res;
    decl_decide(f->d, &officer, json_string_value(json_object_get(old, "id")), body, &res);
    assert_int_equal(res.status, 409);
    assert_non_null(strstr(res.message, "18,800"));
    decl_decision_clear(&res);
    json_decref(body);
    json_decref(old);
    json_t *fresh = submit(f, "NEW-1", "100000", "50");
    json_decref(fresh);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM declarations WHERE kept_records -> '$.assessment' IS NOT NULL"), 1);
    assert_int_equal(rev_service_catch_up(f->r), CX_OK);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM revenue_assessments WHERE "
                                "total IN (18800, 20680) AND obs != ''"),
                     42);
    /* the old declarations' unit values are in the statistics */
    assert_low_flagged(f);
}

/* A tariff imported in this process is used by the very next lodging. */
static void test_import_in_process_seen_at_once(void **state)
{
    fx *f = *state;
    json_t *before = submit(f, "T-1", "100000", "50");
    assert_true(total_of(before) == 18800); /* 8 % duty, 10 % VAT */
    fx__csv(f->s, REV_IMPORT_TARIFF, "hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,"
                                     "vat_pct\n6907,2020-01-01,,ad_valorem,20,10\n");
    json_t *after = submit(f, "T-2", "100000", "50");
    assert_true(total_of(after) == 32000); /* 20 % duty, 10 % VAT on 120,000 */
    json_decref(before);
    json_decref(after);
}

int main(void)
{
    if (fx__refdata())
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gate_before_derivation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_derives_rows_and_statistics, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_derives_from_texts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_in_process_seen_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statistics_cache_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
