#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "declare.h"
#include "unitkit.h"

static const char *valid_doc =
    "{\"reference\":\"REF-1\",\"type\":\"import\",\"date\":\"2024-03-01\",\"office\":\"KRPUS\","
    "\"declarant_id\":\"DCL1\",\"importer_id\":\"IMP1\",\"containers\":[\"CSQU3054383\"],"
    "\"transport_document\":{\"type\":\"BL\",\"number\":\"MAEU123\"},"
    "\"procedure\":{\"process_type\":\"B\",\"payment_type\":\"11\"},"
    "\"items\":[{\"hs_code\":\"690722\",\"description\":\"tiles\",\"country_of_origin\":\"CN\","
    "\"net_mass_kg\":100,\"gross_mass_kg\":110,\"value\":1000.5,\"currency\":\"USD\","
    "\"quantity\":10,\"unit\":\"MTK\",\"tax_rate\":8,\"tax_type\":\"A\",\"origin_indicator\":"
    "\"Y\"}]}";

static int setup(void **state)
{
    char err[256];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

/* Validates text after applying a JSON merge of patch onto valid_doc, and
 * returns the problems array (caller decrefs). */
static json_t *check(const char *patch)
{
    json_t *doc = json_loads(valid_doc, 0, NULL);
    if (patch) {
        json_t *p = json_loads(patch, 0, NULL);
        assert_non_null(p);
        json_object_update(doc, p);
        json_decref(p);
    }
    json_t *problems = json_array();
    decl_validate(doc, problems);
    json_decref(doc);
    return problems;
}

static void expect_one(const char *patch, const char *path, const char *needle)
{
    json_t *pr = check(patch);
    if (!uk_has_problem(pr, path, needle) || json_array_size(pr) != 1) {
        char *s = json_dumps(pr, 0);
        fail_msg("patch %s: expected exactly one problem at %s (%s), got %s", patch, path,
                 needle ? needle : "", s);
    }
    json_decref(pr);
}

static void test_valid_document(void **state)
{
    json_t *pr = check(NULL);
    assert_int_equal(json_array_size(pr), 0);
    json_decref(pr);
}

static void test_iso6346(void **state)
{
    /* The worked example of ISO 6346 (BIC): CSQU 305438 check digit 3. */
    assert_int_equal(decl_iso6346_check_digit("CSQU305438"), 3);
    assert_true(decl_container_valid("CSQU3054383"));
    assert_false(decl_container_valid("CSQU3054384"));
    /* Sum mod 11 = 10 is written as check digit 0. */
    assert_true(decl_container_valid("CSQU0000070"));
    assert_false(decl_container_valid("CSQX3054383")); /* category must be U, J or Z */
    assert_false(decl_container_valid("csqu3054383"));
    assert_false(decl_container_valid("CSQU305438"));
    assert_false(decl_container_valid("CSQU30543833"));
    assert_false(decl_container_valid(NULL));
    assert_int_equal(decl_iso6346_check_digit("CS1U305438"), -1);
}

static void test_reference_and_header(void **state)
{
    expect_one("{\"reference\":\"\"}", "/reference", "1 to 64");
    expect_one("{\"reference\":\"has space\"}", "/reference", NULL);
    expect_one("{\"reference\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
               "/reference", NULL); /* 65 chars */
    expect_one("{\"reference\":5}", "/reference", "string");
    expect_one("{\"type\":\"smuggle\"}", "/type", "import, export, transit");
    expect_one("{\"date\":\"2023-02-29\"}", "/date", "calendar");
    expect_one("{\"office\":\"KR-PUS\"}", "/office", NULL);
    expect_one("{\"office\":\"ABCDEFGHIJKLMNOPQ\"}", "/office", NULL);
    expect_one("{\"declarant_id\":\"\"}", "/declarant_id", NULL);
    expect_one("{\"country_of_departure\":\"XX\"}", "/country_of_departure", "ISO 3166-1");
    expect_one("{\"country_of_departure\":\"cn\"}", "/country_of_departure", NULL);
    expect_one("{\"transport_mode\":10}", "/transport_mode", "string");
    expect_one("{\"extra\":1}", "/extra", "unknown field");
    expect_one("{\"id\":\"x\"}", "/id", "assigned by the server");
    expect_one("{\"seller_id\":null}", "/seller_id", "null");
    expect_one("{\"procedure\":{\"process_type\":\"B\",\"x\":\"1\"}}", "/procedure/x",
               "unknown field");
    expect_one("{\"transport_document\":{\"type\":\"SHIP\",\"number\":\"1\"}}",
               "/transport_document/type", "BL, AWB, CMR, RWB");
    expect_one("{\"transport_document\":{\"type\":\"BL\"}}", "/transport_document/number",
               "required");
    /* ZZ (unknown) is accepted where real data uses it */
    json_t *pr = check("{\"country_of_departure\":\"ZZ\"}");
    assert_int_equal(json_array_size(pr), 0);
    json_decref(pr);
}

static void test_importer_required_for_import(void **state)
{
    json_t *doc = json_loads(valid_doc, 0, NULL);
    json_object_del(doc, "importer_id");
    json_t *pr = json_array();
    assert_false(decl_validate(doc, pr));
    assert_true(uk_has_problem(pr, "/importer_id", "import"));
    json_decref(pr);
    json_object_set_new(doc, "type", json_string("export"));
    pr = json_array();
    assert_true(decl_validate(doc, pr));
    json_decref(pr);
    json_decref(doc);
}

static void test_containers(void **state)
{
    expect_one("{\"containers\":[\"CSQU3054384\"]}", "/containers/0", "expected 3");
    expect_one("{\"containers\":[\"CSQU3054383\",\"CSQU3054383\"]}", "/containers/1", "twice");
    expect_one("{\"containers\":[\"ABC\"]}", "/containers/0", "ISO 6346");
    expect_one("{\"containers\":\"CSQU3054383\"}", "/containers", "array");
}

static void test_items(void **state)
{
    expect_one("{\"items\":[]}", "/items", "1 to 999");
    expect_one("{\"items\":{}}", "/items", "array");
    expect_one("{\"items\":[5]}", "/items/0", "object");
    const char *base = "{\"hs_code\":\"690722\",\"country_of_origin\":\"CN\","
                       "\"net_mass_kg\":1,\"value\":1,\"currency\":\"EUR\"";
    char patch[512];
    snprintf(patch, sizeof patch, "{\"items\":[%s},%s,\"value\":-1}]}", base, base);
    expect_one(patch, "/items/1/value", "from 0 to 10^15");
    /* sums over the items must stay finite (issue 17: 1.7e308 made -nan%) */
    snprintf(patch, sizeof patch, "{\"items\":[%s},%s,\"value\":1.7e308}]}", base, base);
    expect_one(patch, "/items/1/value", "from 0 to 10^15");
    snprintf(patch, sizeof patch, "{\"items\":[%s,\"net_mass_kg\":1.000001e15}]}", base);
    expect_one(patch, "/items/0/net_mass_kg", "from 0 to 10^15");
    snprintf(patch, sizeof patch, "{\"items\":[%s,\"gross_mass_kg\":0.5}]}", base);
    expect_one(patch, "/items/0/gross_mass_kg", "net_mass_kg");
    snprintf(patch, sizeof patch, "{\"items\":[%s,\"tax_rate\":1000.5}]}", base);
    expect_one(patch, "/items/0/tax_rate", "0 to 1000");
    snprintf(patch, sizeof patch, "{\"items\":[%s,\"unit\":\"kilograms\"}]}", base);
    expect_one(patch, "/items/0/unit", "Recommendation 20");
    snprintf(patch, sizeof patch, "{\"items\":[%s,\"currency\":\"EURO\"}]}", base);
    expect_one(patch, "/items/0/currency", "4217");
    snprintf(patch, sizeof patch, "{\"items\":[%s,\"value\":\"12\"}]}", base);
    expect_one(patch, "/items/0/value", "number");

    /* every problem is listed, not just the first */
    json_t *pr = check("{\"items\":[{\"hs_code\":\"12\",\"value\":-1}]}");
    assert_true(uk_has_problem(pr, "/items/0/hs_code", "6 to 10 digits"));
    assert_true(uk_has_problem(pr, "/items/0/value", NULL));
    assert_true(uk_has_problem(pr, "/items/0/country_of_origin", "required"));
    assert_true(uk_has_problem(pr, "/items/0/net_mass_kg", "required"));
    assert_true(uk_has_problem(pr, "/items/0/currency", "required"));
    assert_int_equal(json_array_size(pr), 5);
    json_decref(pr);
}

static void test_description_length_in_characters(void **state)
{
    /* 512 two-byte characters are fine; 513 are not */
    char patch[4096];
    char desc[1100];
    size_t k = 0;
    for (int i = 0; i < 512; i++) {
        desc[k++] = (char)0xc3;
        desc[k++] = (char)0xa9;
    }
    desc[k] = '\0';
    const char *base = "\"hs_code\":\"690722\",\"country_of_origin\":\"CN\","
                       "\"net_mass_kg\":1,\"value\":1,\"currency\":\"EUR\"";
    snprintf(patch, sizeof patch, "{\"items\":[{%s,\"description\":\"%s\"}]}", base, desc);
    json_t *pr = check(patch);
    assert_int_equal(json_array_size(pr), 0);
    json_decref(pr);
    snprintf(patch, sizeof patch, "{\"items\":[{%s,\"description\":\"%sx\"}]}", base, desc);
    expect_one(patch, "/items/0/description", "512");
}

static void test_hs_rules(void **state)
{
    assert_true(decl_hs6_known("880610")); /* drones: new in HS 2022 */
    assert_false(decl_hs6_known("010110")); /* split up long before HS 2022 */
    assert_true(decl_hs_chapter_known("01"));
    assert_false(decl_hs_chapter_known("77")); /* reserved chapter */
    const char *item = "\"country_of_origin\":\"CN\",\"net_mass_kg\":1,\"value\":1,"
                       "\"currency\":\"EUR\"";
    char patch[512];
    /* From 2022-01-01 the first six digits must be an HS 2022 subheading. */
    snprintf(patch, sizeof patch,
             "{\"date\":\"2022-01-01\",\"items\":[{\"hs_code\":\"0101100000\",%s}]}", item);
    expect_one(patch, "/items/0/hs_code", "HS 2022");
    /* Before that only the chapter must exist. */
    snprintf(patch, sizeof patch,
             "{\"date\":\"2021-12-31\",\"items\":[{\"hs_code\":\"0101100000\",%s}]}", item);
    json_t *pr = check(patch);
    assert_int_equal(json_array_size(pr), 0);
    json_decref(pr);
    snprintf(patch, sizeof patch, "{\"date\":\"2021-12-31\",\"items\":[{\"hs_code\":\"770000\",%s}]}",
             item);
    expect_one(patch, "/items/0/hs_code", "chapter 77");
    /* Leading zeros are significant: 010121 is a code, 10121 is not 6 digits. */
    snprintf(patch, sizeof patch, "{\"items\":[{\"hs_code\":\"010121\",%s}]}", item);
    pr = check(patch);
    assert_int_equal(json_array_size(pr), 0);
    json_decref(pr);
    snprintf(patch, sizeof patch, "{\"items\":[{\"hs_code\":\"10121\",%s}]}", item);
    expect_one(patch, "/items/0/hs_code", "6 to 10 digits");
    /* Stored as sent: the printed form is refused with the form to send. */
    snprintf(patch, sizeof patch, "{\"items\":[{\"hs_code\":\"6907.22\",%s}]}", item);
    expect_one(patch, "/items/0/hs_code", "write it 690722");
    snprintf(patch, sizeof patch, "{\"items\":[{\"hs_code\":\"0306.17.10\",%s}]}", item);
    expect_one(patch, "/items/0/hs_code", "write it 03061710");
    snprintf(patch, sizeof patch, "{\"items\":[{\"hs_code\":\"6907.2\",%s}]}", item);
    pr = check(patch);
    assert_true(uk_has_problem(pr, "/items/0/hs_code", "6 to 10 digits"));
    assert_false(uk_has_problem(pr, "/items/0/hs_code", "write it"));
    json_decref(pr);
    /* UN Comtrade's 999999 "commodities not specified" is not an HS code. */
    assert_false(decl_hs6_known("999999"));
    assert_false(decl_hs_chapter_known("99"));
    assert_null(decl_hs_find("999999"));
    snprintf(patch, sizeof patch,
             "{\"date\":\"2022-01-01\",\"items\":[{\"hs_code\":\"999999\",%s}]}", item);
    expect_one(patch, "/items/0/hs_code", "not an HS 2022 subheading");
    snprintf(patch, sizeof patch,
             "{\"date\":\"2021-12-31\",\"items\":[{\"hs_code\":\"999999\",%s}]}", item);
    expect_one(patch, "/items/0/hs_code", "chapter 99");
}

static void test_countries_currencies(void **state)
{
    assert_true(decl_country_valid("KR"));
    assert_true(decl_country_valid("ZZ"));
    assert_false(decl_country_valid("UK")); /* ISO says GB */
    assert_false(decl_country_valid("K"));
    assert_true(decl_currency_valid("KRW"));
    assert_false(decl_currency_valid("ABC"));
    assert_false(decl_currency_valid("krw"));
}

static void test_parse_edge_cases(void **state)
{
    char msg[200];
    json_t *j;
    assert_null(decl_parse("{\"a\":1,\"a\":2}", 13, msg, sizeof msg)); /* duplicate key */
    assert_non_null(strstr(msg, "duplicate"));
    assert_null(decl_parse("{\"a\":\"\\u0000\"}", 13, msg, sizeof msg)); /* NUL in string */
    assert_null(decl_parse("{\"a\":\"\xff\"}", 8, msg, sizeof msg));       /* bad UTF-8 */
    assert_null(decl_parse("{\"a\":1e400}", 11, msg, sizeof msg));          /* not finite */
    assert_null(decl_parse("{\"a\":NaN}", 9, msg, sizeof msg));
    assert_null(decl_parse("{\"a\":1} x", 9, msg, sizeof msg)); /* trailing garbage */
    assert_null(decl_parse("", 0, msg, sizeof msg));
    assert_null(decl_parse("{\"a\":1", 6, msg, sizeof msg));
    assert_non_null(strstr(msg, "line 1"));
    /* deep nesting is refused without blowing the stack */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    assert_null(decl_parse(deep, 2 * depth, msg, sizeof msg));
    free(deep);
    /* A top-level array parses but is not a declaration. */
    j = decl_parse("[1]", 3, msg, sizeof msg);
    assert_non_null(j);
    json_t *pr = json_array();
    assert_false(decl_validate(j, pr));
    assert_true(uk_has_problem(pr, "", "JSON object"));
    json_decref(pr);
    json_decref(j);
    /* Strings are kept exactly, escapes and all non-ASCII included. */
    const char *esc = "{\"d\":\"<img src=x onerror=alert(1)> \\u00e9\\t\"}";
    j = decl_parse(esc, strlen(esc), msg, sizeof msg);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "d")),
                        "<img src=x onerror=alert(1)> \xc3\xa9\t");
    json_decref(j);
}

static void test_problem_cap(void **state)
{
    /* 999 bad items produce many problems; the list is capped, not endless */
    json_t *doc = json_loads(valid_doc, 0, NULL);
    json_t *items = json_array();
    for (int i = 0; i < 999; i++)
        json_array_append_new(items, json_pack("{s:i}", "x", i));
    json_object_set_new(doc, "items", items);
    json_t *pr = json_array();
    assert_false(decl_validate(doc, pr));
    assert_true(json_array_size(pr) <= 1000);
    assert_true(json_array_size(pr) >= 999);
    json_decref(pr);
    json_decref(doc);
}

/* ---- storage through the service ------------------------------------------------ */

struct found_box {
    int n;
    char ids[4][CX_ID_LEN + 1];
    char date[11];
    int stop_after;
};

static bool found_fn(void *ctx, const char *id, const char *date)
{
    struct found_box *f = ctx;
    if (f->n < 4)
        snprintf(f->ids[f->n], sizeof f->ids[f->n], "%s", id);
    snprintf(f->date, sizeof f->date, "%s", date);
    f->n++;
    return f->n < f->stop_after;
}

static void test_store_get_visibility(void **state)
{
    char path[64];
    uk_tmp_path(path, "decl");
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, &s, err, sizeof err), CX_OK);
    assert_int_equal(decl_migrate(s, err, sizeof err), CX_OK);
    decl_service *d = decl_service_new(s);

    cx_principal acme = {.role = CX_ROLE_TRADER, .org = "ACME"};
    cx_principal other = {.role = CX_ROLE_TRADER, .org = "OTHER"};
    cx_principal officer = {.role = CX_ROLE_OFFICER, .org = "KCS"};
    json_t *doc = json_loads(valid_doc, 0, NULL);
    char *stored = NULL;
    assert_int_equal(decl_store_one(d, &acme, doc, &stored), CX_OK);
    const char *id = json_string_value(json_object_get(doc, "id"));
    assert_non_null(id);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "submitted");
    assert_string_equal(json_string_value(json_object_get(doc, "org")), "ACME");
    /* the server's members follow the submitted ones */
    assert_non_null(strstr(stored, ",\"id\":\""));
    assert_non_null(strstr(stored, "\"status\":\"submitted\""));
    assert_null(strstr(strstr(stored, "\"status\"") + 1, "\"status\"")); /* once */

    char *got = NULL;
    assert_int_equal(decl_get(d, &acme, id, &got), CX_OK);
    assert_string_equal(got, stored);
    free(got);
    assert_int_equal(decl_get(d, &officer, id, &got), CX_OK);
    free(got);
    assert_int_equal(decl_get(d, &other, id, &got), CX_ENOTFOUND);
    assert_int_equal(decl_get(d, &acme, "nope", &got), CX_ENOTFOUND);

    /* same org and reference again: refused, nothing written */
    json_t *again = json_loads(valid_doc, 0, NULL);
    assert_int_equal(decl_store_one(d, &acme, again, NULL), CX_EEXIST);
    json_decref(again);
    assert_int_equal(decl_count(d), 1);
    /* the same reference is fine for another org */
    again = json_loads(valid_doc, 0, NULL);
    assert_int_equal(decl_store_one(d, &other, again, NULL), CX_OK);
    json_decref(again);
    assert_int_equal(decl_count(d), 2);

    /* lookup by container: both declarations list CSQU3054383, newest
     * first, none lists another box; the callback can stop early, the limit
     * and the date bound stop the query itself */
    struct found_box fd1 = {.stop_after = 99}, fd2 = {.stop_after = 1}, none = {.stop_after = 99};
    struct found_box one = {.stop_after = 99}, late = {.stop_after = 99};
    assert_int_equal(decl_find_by_container(d, "CSQU3054383", NULL, 256, found_fn, &fd1), CX_OK);
    assert_int_equal(fd1.n, 2);
    assert_string_equal(fd1.ids[1], id);
    assert_string_not_equal(fd1.ids[0], id);
    assert_string_equal(fd1.date, "2024-03-01");
    assert_int_equal(decl_find_by_container(d, "CSQU3054383", NULL, 256, found_fn, &fd2), CX_OK);
    assert_int_equal(fd2.n, 1);
    assert_int_equal(decl_find_by_container(d, "CSQU3054383", "2024-01-01", 1, found_fn, &one),
                     CX_OK);
    assert_int_equal(one.n, 1);
    assert_string_equal(one.ids[0], fd1.ids[0]);
    assert_int_equal(decl_find_by_container(d, "CSQU3054383", "2024-03-02", 256, found_fn, &late),
                     CX_OK);
    assert_int_equal(late.n, 0);
    assert_int_equal(decl_find_by_container(d, "MSCU1234565", NULL, 256, found_fn, &none), CX_OK);
    assert_int_equal(none.n, 0);

    free(stored);
    json_decref(doc);
    decl_service_free(d);
    decl_service_free(NULL);
    store_free(s);
    uk_rm_db(path);
}

/* ---- decisions and gates (decision.c) ---------------------------------------------- */

typedef struct {
    char path[64];
    store *s;
    decl_service *d;
    char id[2][CX_ID_LEN + 1];
} decide_fx;

static const cx_principal officer_p = {.key_id = 7, .role = CX_ROLE_OFFICER, .org = "KCS",
                                       .subject = "OP-1042"};
static const cx_principal trader_p = {.key_id = 8, .role = CX_ROLE_TRADER, .org = "ACME"};

static int decide_setup(void **state)
{
    decide_fx *f = calloc(1, sizeof *f);
    uk_tmp_path(f->path, "decide");
    char err[256];
    if (store_open(f->path, &f->s, err, sizeof err) != CX_OK ||
        decl_migrate(f->s, err, sizeof err) != CX_OK || !(f->d = decl_service_new(f->s)))
        return -1;
    for (int i = 0; i < 2; i++) {
        json_t *doc = json_loads(valid_doc, 0, NULL);
        char ref[16];
        snprintf(ref, sizeof ref, "REF-D%d", i);
        json_object_set_new(doc, "reference", json_string(ref));
        if (decl_store_one(f->d, &trader_p, doc, NULL) != CX_OK)
            return -1;
        snprintf(f->id[i], sizeof f->id[i], "%s", json_string_value(json_object_get(doc, "id")));
        json_decref(doc);
    }
    *state = f;
    return 0;
}

static int decide_teardown(void **state)
{
    decide_fx *f = *state;
    decl_service_free(f->d);
    store_free(f->s);
    uk_rm_db(f->path);
    free(f);
    return 0;
}

static void decide(decide_fx *f, const cx_principal *who, int which, const char *body,
                   decl_decision *res)
{
    json_t *b = json_loads(body, JSON_DECODE_ANY, NULL);
    assert_non_null(b);
    decl_decide(f->d, who, f->id[which], b, res);
    json_decref(b);
}

static json_t *current(decide_fx *f, int which)
{
    char *text = NULL;
    assert_int_equal(decl_get(f->d, NULL, f->id[which], &text), CX_OK);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(j);
    return j;
}

static void test_decision_transitions(void **state)
{
    decide_fx *f = *state;
    decl_decision res;
    /* hold needs a reason; the body is checked before anything is read */
    decide(f, &officer_p, 0, "{\"decision\":\"hold\"}", &res);
    assert_int_equal(res.status, 400);
    assert_string_equal(res.code, "invalid_decision");
    assert_string_equal(json_string_value(json_object_get(json_array_get(res.details, 0), "path")),
                        "/reason");
    decl_decision_clear(&res);
    decide(f, &trader_p, 0, "{\"decision\":\"release\"}", &res);
    assert_int_equal(res.status, 403);
    decl_decision_clear(&res);

    decide(f, &officer_p, 0, "{\"decision\":\"hold\",\"reason\":\"exam\"}", &res);
    assert_int_equal(res.status, 200);
    json_t *j = json_loads(res.json, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "held");
    json_t *dec = json_object_get(j, "decision");
    assert_string_equal(json_string_value(json_object_get(dec, "previous_status")), "submitted");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(dec, "decided_by"), "subject")),
        "OP-1042");
    json_decref(j);
    decl_decision_clear(&res);
    /* the same again is no transition */
    decide(f, &officer_p, 0, "{\"decision\":\"hold\",\"reason\":\"again\"}", &res);
    assert_int_equal(res.status, 409);
    assert_string_equal(res.code, "invalid_transition");
    decl_decision_clear(&res);
    decide(f, &officer_p, 0, "{\"decision\":\"release\"}", &res);
    assert_int_equal(res.status, 200);
    decl_decision_clear(&res);
    /* released is final */
    decide(f, &officer_p, 0, "{\"decision\":\"refuse\",\"reason\":\"late\"}", &res);
    assert_int_equal(res.status, 409);
    assert_null(res.json);
    decl_decision_clear(&res);
    /* the status is the column's, shown once, and what a GET shows */
    j = current(f, 0);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "released");
    json_decref(j);
    decide(f, &officer_p, 1, "{\"decision\":\"refuse\",\"reason\":\"no licence\"}", &res);
    assert_int_equal(res.status, 200);
    decl_decision_clear(&res);
    /* unknown declaration */
    json_t *b = json_loads("{\"decision\":\"release\"}", 0, NULL);
    decl_decide(f->d, &officer_p, "01ZZZZZZZZZZZZZZZZZZZZZZZZ", b, &res);
    json_decref(b);
    assert_int_equal(res.status, 404);
    decl_decision_clear(&res);
}

/* Gates: called in their order whatever order they were added in, with the
 * caller and the declaration; the first refusal answers in its own status
 * and code and changes nothing; an error aborts with 503. */
typedef struct {
    char trail[64];
    int refuse_at; /* which gate refuses (order), 0 = none */
    bool fail;
} gate_box;

static gate_box gates_seen;

static cx_err gate_fn(void *ctx, const decl_gate_call *c, decl_gate_refusal *no)
{
    int order = (int)(intptr_t)ctx;
    size_t n = strlen(gates_seen.trail);
    snprintf(gates_seen.trail + n, sizeof gates_seen.trail - n, "%d:%s:%s:%s;", order,
             c->decision, c->status, c->who->subject);
    assert_true(c->seq > 0);
    assert_string_equal(c->org, "ACME");
    if (gates_seen.fail && order == 300)
        return CX_EDB;
    if (order == gates_seen.refuse_at)
        return decl_gate_refuse(no, order == 100 ? 403 : 402,
                                order == 100 ? "verification_required" : "payment_required",
                                "/decision", "gate %d says no", order);
    return CX_OK;
}

static void test_decision_gates(void **state)
{
    decide_fx *f = *state;
    decl_gate late = {.name = "revenue.paid", .order = 300, .check = gate_fn,
                      .ctx = (void *)(intptr_t)300};
    decl_gate early = {.name = "bio.verified", .order = 100, .check = gate_fn,
                       .ctx = (void *)(intptr_t)100};
    assert_int_equal(decl_gate_add(f->d, &late), CX_OK);
    assert_int_equal(decl_gate_add(f->d, &early), CX_OK);
    assert_int_equal(decl_gate_add(f->d, &early), CX_EEXIST);
    decl_gate nameless = {.order = 1, .check = gate_fn};
    assert_int_equal(decl_gate_add(f->d, &nameless), CX_EINVAL);

    decl_decision res;
    memset(&gates_seen, 0, sizeof gates_seen);
    gates_seen.refuse_at = 300;
    decide(f, &officer_p, 0, "{\"decision\":\"release\"}", &res);
    assert_string_equal(gates_seen.trail,
                        "100:release:submitted:OP-1042;300:release:submitted:OP-1042;");
    assert_int_equal(res.status, 402);
    assert_string_equal(res.code, "payment_required");
    assert_string_equal(res.message, "gate 300 says no");
    assert_string_equal(json_string_value(json_object_get(json_array_get(res.details, 0), "path")),
                        "/decision");
    decl_decision_clear(&res);
    json_t *j = current(f, 0);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "submitted");
    assert_null(json_object_get(j, "decision"));
    json_decref(j);

    /* the first refusal wins: later gates are not asked */
    memset(&gates_seen, 0, sizeof gates_seen);
    gates_seen.refuse_at = 100;
    decide(f, &officer_p, 0, "{\"decision\":\"release\"}", &res);
    assert_string_equal(gates_seen.trail, "100:release:submitted:OP-1042;");
    assert_int_equal(res.status, 403);
    assert_string_equal(res.code, "verification_required");
    decl_decision_clear(&res);

    memset(&gates_seen, 0, sizeof gates_seen);
    gates_seen.fail = true;
    decide(f, &officer_p, 0, "{\"decision\":\"release\"}", &res);
    assert_int_equal(res.status, 503);
    decl_decision_clear(&res);

    memset(&gates_seen, 0, sizeof gates_seen);
    decide(f, &officer_p, 0, "{\"decision\":\"release\"}", &res);
    assert_int_equal(res.status, 200);
    decl_decision_clear(&res);
}

/* Hook sets run by order, not by the order they were added in; a second set
 * of the same name is refused, and there is no fixed number of them. */
static char hook_trail[64];

static void hook_enrich(void *ctx, const cx_principal *who, json_t *doc)
{
    size_t n = strlen(hook_trail);
    snprintf(hook_trail + n, sizeof hook_trail - n, "%s;", (const char *)ctx);
}

static void test_hook_order(void **state)
{
    decide_fx *f = *state;
    static char names[12][8];
    decl_hooks late = {.name = "late", .order = 300, .enrich = hook_enrich, .ctx = "late"};
    decl_hooks early = {.name = "early", .order = 100, .enrich = hook_enrich, .ctx = "early"};
    assert_int_equal(decl_service_add_hooks(f->d, &late), CX_OK);
    assert_int_equal(decl_service_add_hooks(f->d, &early), CX_OK);
    assert_int_equal(decl_service_add_hooks(f->d, &early), CX_EEXIST);
    for (int i = 0; i < 12; i++) { /* more than the old fixed table of 8 */
        snprintf(names[i], sizeof names[i], "x%d", i);
        decl_hooks h = {.name = names[i], .order = 1000};
        assert_int_equal(decl_service_add_hooks(f->d, &h), CX_OK);
    }
    decl_hooks nameless = {.order = 5};
    assert_int_equal(decl_service_add_hooks(f->d, &nameless), CX_EINVAL);
    hook_trail[0] = '\0';
    json_t *doc = json_loads(valid_doc, 0, NULL);
    json_object_set_new(doc, "reference", json_string("REF-H"));
    assert_int_equal(decl_store_one(f->d, &trader_p, doc, NULL), CX_OK);
    json_decref(doc);
    assert_string_equal(hook_trail, "early;late;");
}

/* A member declare keeps for a hook (enrich_kept): customs reads the full
 * text, the declarant the shown one, in the 201 and on every read; the
 * stored document does not repeat it; decl_member_set_in replaces it. The
 * hook of test_kept_record makes a record too. */
static bool kept_fail, kept_records_on;
static int kept_record_mode; /* 0: a record, 1: none, 2: an error */

static cx_err kept_made(void *ctx, const cx_principal *who, json_t *doc, const char *text,
                        size_t len, decl_kept_made *made)
{
    (void)ctx;
    (void)who;
    (void)text;
    (void)len;
    assert_non_null(json_object_get(doc, "id"));
    if (kept_fail)
        return CX_ENOMEM;
    /* number texts are kept as written (1.10, not 1.1) */
    made->full = strdup("{\"open\":\"x\",\"secret\":1.10}");
    made->shown = strdup("{\"open\":\"x\"}");
    if (kept_records_on && kept_record_mode == 0)
        made->record = strdup("[7,\"RECMARK\",{\"a\":1.50}]");
    return kept_records_on && kept_record_mode == 2 ? CX_ENOMEM : CX_OK;
}

typedef struct {
    int64_t seq;
    const char *full, *shown;
} kept_set;

static cx_err kept_set_job(store_conn *w, void *arg)
{
    kept_set *k = arg;
    return decl_member_set_in(w, k->seq, "note", k->full, k->shown);
}

typedef struct {
    int n;
    int64_t seq[4];
    char *member[4];
    char *record[4];
} kept_seen;

static bool kept_collect(void *ctx, int64_t seq, const char *doc, size_t len,
                         const char *member, const char *record)
{
    kept_seen *k = ctx;
    assert_true(len > 0 && doc[0] == '{');
    assert_true(k->n < 4);
    free(k->member[k->n]);
    free(k->record[k->n]);
    k->seq[k->n] = seq;
    k->member[k->n] = member ? strdup(member) : NULL;
    k->record[k->n++] = record ? strdup(record) : NULL;
    return true;
}

static void kept_seen_free(kept_seen *k)
{
    for (int i = 0; i < 4; i++) {
        free(k->member[i]);
        free(k->record[i]);
    }
}

static void test_kept_member(void **state)
{
    decide_fx *f = *state;
    decl_hooks h = {.name = "kept", .order = 300, .member = "note", .enrich_kept = kept_made};
    assert_int_equal(decl_service_add_hooks(f->d, &h), CX_OK);
    char *reply = NULL, *got = NULL;
    json_t *doc = json_loads(valid_doc, 0, NULL);
    json_object_set_new(doc, "reference", json_string("REF-K1"));
    assert_int_equal(decl_store_one(f->d, &trader_p, doc, &reply), CX_OK);
    char id[CX_ID_LEN + 1];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    assert_non_null(strstr(reply, "\"note\":{\"open\":\"x\"}"));
    assert_null(strstr(reply, "secret"));
    free(reply);
    doc = json_loads(valid_doc, 0, NULL);
    json_object_set_new(doc, "reference", json_string("REF-K2"));
    assert_int_equal(decl_store_one(f->d, &officer_p, doc, &reply), CX_OK);
    json_decref(doc);
    assert_non_null(strstr(reply, "\"note\":{\"open\":\"x\",\"secret\":1.10}"));
    free(reply);

    /* reads: the declarant the shown form, customs the full one */
    assert_int_equal(decl_get(f->d, &trader_p, id, &got), CX_OK);
    assert_non_null(strstr(got, "\"note\":{\"open\":\"x\"}"));
    assert_null(strstr(got, "secret"));
    free(got);
    assert_int_equal(decl_get(f->d, &officer_p, id, &got), CX_OK);
    assert_non_null(strstr(got, "\"secret\":1.10"));
    free(got);
    int64_t seq;
    assert_int_equal(decl_lookup(f->d, id, &seq, NULL), CX_OK);
    store_conn *c = store_reader(f->s);
    assert_int_equal(decl_member_get(NULL, c, seq, "note", true, &got), CX_OK);
    assert_string_equal(got, "{\"open\":\"x\",\"secret\":1.10}");
    free(got);
    assert_int_equal(decl_member_get(NULL, c, seq, "note", false, &got), CX_OK);
    assert_string_equal(got, "{\"open\":\"x\"}");
    free(got);
    assert_int_equal(decl_member_get(NULL, c, seq, "other", true, &got), CX_OK);
    assert_null(got);

    /* replaced in a writer job; one form for all when shown is NULL */
    kept_set k = {seq, "{\"v\":2.50}", NULL};
    assert_int_equal(store_write(f->s, kept_set_job, &k), CX_OK);
    assert_int_equal(decl_get(f->d, &trader_p, id, &got), CX_OK);
    assert_non_null(strstr(got, "\"note\":{\"v\":2.50}"));
    assert_null(strstr(got, "open"));
    free(got);
    k.seq = 999999;
    assert_int_equal(store_write(f->s, kept_set_job, &k), CX_ENOTFOUND);

    /* a member that cannot be made refuses the submission: nothing stored */
    int64_t before = decl_count(f->d);
    kept_fail = true;
    doc = json_loads(valid_doc, 0, NULL);
    json_object_set_new(doc, "reference", json_string("REF-K3"));
    assert_int_equal(decl_store_one(f->d, &trader_p, doc, NULL), CX_ENOMEM);
    json_decref(doc);
    kept_fail = false;
    assert_int_equal(decl_count(f->d), before);

    /* the kept members after a seq, in arrival order, for a deriving module:
     * REF-K1 (replaced) and REF-K2 only; rows without one are passed over */
    kept_seen seen = {0};
    int64_t last = -1;
    assert_int_equal(decl_kept_after(NULL, c, "note", 0, 1000, &last, kept_collect, &seen), CX_OK);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.seq[0], seq);
    assert_string_equal(seen.member[0], "{\"v\":2.50}");
    assert_true(seen.seq[1] > seq);
    assert_string_equal(seen.member[1], "{\"open\":\"x\",\"secret\":1.10}");
    assert_null(seen.record[0]); /* a hook that makes no record */
    assert_int_equal(last, seen.seq[1]); /* the newest declaration has the member */
    /* a bounded batch: one row looked at, the next batch starts after it */
    seen.n = 0;
    assert_int_equal(decl_kept_after(NULL, c, "note", seq, 1, &last, kept_collect, &seen), CX_OK);
    assert_int_equal(seen.n, 1);
    assert_int_equal(last, seen.seq[0]);
    seen.n = 0;
    assert_int_equal(decl_kept_after(NULL, c, "note", last, 10, &last, kept_collect, &seen), CX_OK);
    assert_int_equal(seen.n, 0);
    assert_int_equal(decl_kept_after(NULL, c, "other", 0, 1000, &last, kept_collect, &seen), CX_OK);
    assert_int_equal(seen.n, 0);
    assert_int_equal(decl_kept_after(NULL, c, "note", 0, 0, &last, kept_collect, &seen), CX_EINVAL);
    kept_seen_free(&seen);
}

/* A hook's private record of its member (enrich_kept's made->record): stored
 * in the declaration's row with the 201, handed back by decl_kept_after
 * (also when the member's texts are gone), never shown to anyone. */
static cx_err kept_wipe_job(store_conn *w, void *arg)
{
    (void)arg;
    return store_exec(w, "UPDATE declarations SET kept = NULL, kept_shown = NULL");
}

static bool doc_no_mark(void *ctx, const char *id, const char *doc, size_t len)
{
    (void)id;
    char *t = strndup(doc, len);
    assert_null(strstr(t, "RECMARK"));
    free(t);
    (*(int *)ctx)++;
    return true;
}

static void test_kept_record(void **state)
{
    decide_fx *f = *state;
    decl_hooks h = {.name = "kept", .order = 300, .member = "note", .enrich_kept = kept_made};
    assert_int_equal(decl_service_add_hooks(f->d, &h), CX_OK);
    kept_records_on = true;
    char *reply = NULL, *got = NULL;
    const cx_principal *who[] = {&trader_p, &officer_p};
    char id[2][CX_ID_LEN + 1];
    for (int i = 0; i < 2; i++) {
        json_t *doc = json_loads(valid_doc, 0, NULL);
        json_object_set_new(doc, "reference", json_string(i ? "REF-R2" : "REF-R1"));
        assert_int_equal(decl_store_one(f->d, who[i], doc, &reply), CX_OK);
        snprintf(id[i], sizeof id[i], "%s", json_string_value(json_object_get(doc, "id")));
        json_decref(doc);
        assert_non_null(strstr(reply, "\"note\":{\"open\":\"x\""));
        assert_null(strstr(reply, "RECMARK")); /* not in the 201 */
        free(reply);
        for (int k = i; k < 2; k++) { /* nor in any reader's GET (of one's own, or customs') */
            assert_int_equal(decl_get(f->d, who[k], id[i], &got), CX_OK);
            assert_non_null(strstr(got, "\"note\":"));
            assert_null(strstr(got, "RECMARK"));
            free(got);
        }
    }
    /* no record made: NULL; an error refuses the submission */
    kept_record_mode = 1;
    json_t *doc = json_loads(valid_doc, 0, NULL);
    json_object_set_new(doc, "reference", json_string("REF-R3"));
    assert_int_equal(decl_store_one(f->d, &trader_p, doc, NULL), CX_OK);
    json_decref(doc);
    int64_t before = decl_count(f->d);
    kept_record_mode = 2;
    doc = json_loads(valid_doc, 0, NULL);
    json_object_set_new(doc, "reference", json_string("REF-R4"));
    assert_int_equal(decl_store_one(f->d, &trader_p, doc, NULL), CX_ENOMEM);
    json_decref(doc);
    kept_record_mode = 0;
    assert_int_equal(decl_count(f->d), before);

    store_conn *c = store_reader(f->s);
    int docs = 0; /* nor in the stored documents (exports and scans) */
    assert_int_equal(decl_scan(c, doc_no_mark, &docs), CX_OK);
    assert_int_equal(docs, decl_count(f->d)); /* every stored document looked at */
    int64_t seq;
    assert_int_equal(decl_lookup(f->d, id[0], &seq, NULL), CX_OK);
    assert_int_equal(decl_member_get(NULL, c, seq, "note", true, &got), CX_OK);
    assert_null(strstr(got, "RECMARK"));
    free(got);

    kept_seen seen = {0};
    int64_t last;
    assert_int_equal(decl_kept_after(NULL, c, "note", 0, 10, &last, kept_collect, &seen), CX_OK);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.record[0], "[7,\"RECMARK\",{\"a\":1.50}]");
    assert_string_equal(seen.record[1], "[7,\"RECMARK\",{\"a\":1.50}]");
    assert_null(seen.record[2]);
    assert_non_null(seen.member[2]);
    /* with a record, the member's text is not extracted for the reader */
    assert_null(seen.member[0]);
    assert_null(seen.member[1]);
    /* the members' texts gone: the rows with a record still come */
    assert_int_equal(store_write(f->s, kept_wipe_job, NULL), CX_OK);
    seen.n = 0;
    assert_int_equal(decl_kept_after(NULL, c, "note", 0, 10, &last, kept_collect, &seen), CX_OK);
    assert_int_equal(seen.n, 2);
    assert_null(seen.member[0]);
    assert_string_equal(seen.record[1], "[7,\"RECMARK\",{\"a\":1.50}]");
    kept_seen_free(&seen);
    kept_records_on = false;
}

/* Kept members of two hooks, the first the same for everyone, the second
 * not: the declarant's form has the first member's text too; with only
 * members the same for everyone no second form is stored. */
static cx_err plain_made(void *ctx, const cx_principal *who, json_t *doc, const char *text,
                         size_t len, decl_kept_made *made)
{
    (void)ctx;
    (void)who;
    (void)doc;
    (void)text;
    (void)len;
    made->full = strdup("{\"p\":1}"); /* shown NULL: the same for everyone */
    return CX_OK;
}

static int64_t kept_shown_nulls(decide_fx *f)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_conn_db(store_reader(f->s)),
                                        "SELECT count(*) FROM declarations WHERE kept IS NOT "
                                        "NULL AND kept_shown IS NULL",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* A member made with its texts and record at once (enrich_kept): kept and
 * shown in their forms, its record handed back, what the hook put in
 * doc under the member's name seen by indexed hooks and never stored;
 * no texts: no member; an error refuses the submission. */
static int made_mode; /* 0: texts and record, 1: no member, 2: an error */
static int made_indexed;

static cx_err made_enrich(void *ctx, const cx_principal *who, json_t *doc, const char *text,
                          size_t len, decl_kept_made *made)
{
    (void)ctx;
    (void)who;
    (void)text;
    (void)len;
    assert_non_null(json_object_get(doc, "id"));
    if (made_mode == 2)
        return CX_ENOMEM;
    json_object_set_new(doc, "note", json_pack("{s:i}", "seen", 5));
    if (made_mode == 0) {
        made->full = strdup("{\"open\":\"y\",\"secret\":2.50}");
        made->shown = strdup("{\"open\":\"y\"}");
        made->record = strdup("[\"MADEREC\"]");
    }
    return CX_OK;
}

static cx_err made_index(void *ctx, store_conn *w, int64_t seq, const json_t *doc)
{
    (void)ctx;
    (void)w;
    (void)seq;
    if (json_integer_value(json_object_get(json_object_get(doc, "note"), "seen")) == 5)
        made_indexed++;
    return CX_OK;
}

static bool doc_no_seen(void *ctx, const char *id, const char *doc, size_t len)
{
    (void)id;
    char *t = strndup(doc, len);
    assert_null(strstr(t, "\"seen\""));
    assert_null(strstr(t, "MADEREC"));
    free(t);
    (*(int *)ctx)++;
    return true;
}

static void test_kept_made_at_enrich(void **state)
{
    decide_fx *f = *state;
    decl_hooks bad[] = {
        {.name = "bad", .order = 300, .enrich_kept = made_enrich},
        {.name = "bad", .order = 300, .member = "note"},
    };
    for (size_t i = 0; i < 2; i++) /* it needs a member, and a member needs it */
        assert_int_equal(decl_service_add_hooks(f->d, &bad[i]), CX_EINVAL);
    decl_hooks h = {.name = "made", .order = 300, .member = "note", .enrich_kept = made_enrich,
                    .indexed = made_index};
    assert_int_equal(decl_service_add_hooks(f->d, &h), CX_OK);
    char *reply = NULL, *got = NULL;
    const cx_principal *who[] = {&trader_p, &officer_p};
    char id[CX_ID_LEN + 1];
    for (int i = 0; i < 2; i++) {
        json_t *doc = json_loads(valid_doc, 0, NULL);
        json_object_set_new(doc, "reference", json_string(i ? "REF-M2" : "REF-M1"));
        assert_int_equal(decl_store_one(f->d, who[i], doc, &reply), CX_OK);
        if (!i)
            snprintf(id, sizeof id, "%s", json_string_value(json_object_get(doc, "id")));
        json_decref(doc);
        assert_non_null(strstr(reply, i ? "\"note\":{\"open\":\"y\",\"secret\":2.50}"
                                        : "\"note\":{\"open\":\"y\"}"));
        assert_null(strstr(reply, "seen"));
        assert_null(strstr(reply, "MADEREC"));
        free(reply);
    }
    assert_int_equal(made_indexed, 2);
    assert_int_equal(decl_get(f->d, &trader_p, id, &got), CX_OK);
    assert_non_null(strstr(got, "\"note\":{\"open\":\"y\"}"));
    assert_null(strstr(got, "secret"));
    free(got);
    /* no texts: no member; an error: nothing stored */
    made_mode = 1;
    json_t *doc = json_loads(valid_doc, 0, NULL);
    json_object_set_new(doc, "reference", json_string("REF-M3"));
    assert_int_equal(decl_store_one(f->d, &officer_p, doc, &reply), CX_OK);
    json_decref(doc);
    assert_null(strstr(reply, "\"note\""));
    free(reply);
    int64_t before = decl_count(f->d);
    made_mode = 2;
    doc = json_loads(valid_doc, 0, NULL);
    json_object_set_new(doc, "reference", json_string("REF-M4"));
    assert_int_equal(decl_store_one(f->d, &trader_p, doc, NULL), CX_ENOMEM);
    json_decref(doc);
    made_mode = 0;
    assert_int_equal(decl_count(f->d), before);
    store_conn *c = store_reader(f->s);
    int docs = 0;
    assert_int_equal(decl_scan(c, doc_no_seen, &docs), CX_OK);
    assert_int_equal(docs, decl_count(f->d));
    kept_seen seen = {0};
    int64_t last = -1;
    assert_int_equal(decl_kept_after(NULL, c, "note", 0, 1000, &last, kept_collect, &seen), CX_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.record[0], "[\"MADEREC\"]");
    assert_string_equal(seen.record[1], "[\"MADEREC\"]");
    kept_seen_free(&seen);
}

static void test_kept_members_mixed(void **state)
{
    decide_fx *f = *state;
    decl_hooks p = {.name = "plain", .order = 250, .member = "plain", .enrich_kept = plain_made};
    assert_int_equal(decl_service_add_hooks(f->d, &p), CX_OK);
    char *reply = NULL;
    json_t *doc = json_loads(valid_doc, 0, NULL);
    json_object_set_new(doc, "reference", json_string("REF-M1"));
    assert_int_equal(decl_store_one(f->d, &trader_p, doc, &reply), CX_OK);
    json_decref(doc);
    assert_non_null(strstr(reply, "\"plain\":{\"p\":1}"));
    free(reply);
    assert_int_equal(kept_shown_nulls(f), 1);

    decl_hooks h = {.name = "kept", .order = 300, .member = "note", .enrich_kept = kept_made};
    assert_int_equal(decl_service_add_hooks(f->d, &h), CX_OK);
    doc = json_loads(valid_doc, 0, NULL);
    json_object_set_new(doc, "reference", json_string("REF-M2"));
    assert_int_equal(decl_store_one(f->d, &trader_p, doc, &reply), CX_OK);
    char id[CX_ID_LEN + 1];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    assert_non_null(strstr(reply, "\"plain\":{\"p\":1},\"note\":{\"open\":\"x\"}"));
    free(reply);
    assert_int_equal(kept_shown_nulls(f), 1);
    char *got = NULL;
    assert_int_equal(decl_get(f->d, &trader_p, id, &got), CX_OK);
    assert_non_null(strstr(got, "\"plain\":{\"p\":1},\"note\":{\"open\":\"x\"}"));
    assert_null(strstr(got, "secret"));
    free(got);
    assert_int_equal(decl_get(f->d, &officer_p, id, &got), CX_OK);
    assert_non_null(strstr(got, "\"plain\":{\"p\":1},\"note\":{\"open\":\"x\",\"secret\":1.10}"));
    free(got);
}

/* A raise on a document being submitted: a risk member is added when there
 * is none, the lane only goes up, reasons are appended, and a raise for
 * customs alone keeps the lane the declarant saw. */
static void test_raise_lane_doc(void **state)
{
    (void)state;
    json_t *doc = json_loads(valid_doc, 0, NULL);
    json_t *r1 = json_pack("{s:s}", "feature", "a");
    json_t *r2 = json_pack("{s:s,s:b}", "feature", "b", "customs_only", 1);
    assert_int_equal(decl_raise_lane_doc(doc, "purple", r1), CX_EINVAL);
    assert_null(json_object_get(doc, "risk"));
    assert_int_equal(decl_raise_lane_doc(doc, "yellow", r1), CX_OK);
    assert_int_equal(decl_raise_lane_doc(doc, "green", r1), CX_OK);
    const json_t *risk = json_object_get(doc, "risk");
    assert_string_equal(json_string_value(json_object_get(risk, "lane")), "yellow");
    assert_int_equal(json_array_size(json_object_get(risk, "reasons")), 2);
    assert_int_equal(decl_raise_lane_doc(doc, "red", r2), CX_OK);
    assert_string_equal(json_string_value(json_object_get(risk, "lane")), "red");
    assert_string_equal(json_string_value(json_object_get(risk, "declarant_lane")), "yellow");
    json_decref(r1);
    json_decref(r2);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_document),
        cmocka_unit_test(test_iso6346),
        cmocka_unit_test(test_reference_and_header),
        cmocka_unit_test(test_importer_required_for_import),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_items),
        cmocka_unit_test(test_description_length_in_characters),
        cmocka_unit_test(test_hs_rules),
        cmocka_unit_test(test_countries_currencies),
        cmocka_unit_test(test_parse_edge_cases),
        cmocka_unit_test(test_problem_cap),
        cmocka_unit_test(test_store_get_visibility),
        cmocka_unit_test_setup_teardown(test_decision_transitions, decide_setup, decide_teardown),
        cmocka_unit_test_setup_teardown(test_decision_gates, decide_setup, decide_teardown),
        cmocka_unit_test_setup_teardown(test_hook_order, decide_setup, decide_teardown),
        cmocka_unit_test_setup_teardown(test_kept_member, decide_setup, decide_teardown),
        cmocka_unit_test_setup_teardown(test_kept_record, decide_setup, decide_teardown),
        cmocka_unit_test_setup_teardown(test_kept_made_at_enrich, decide_setup, decide_teardown),
        cmocka_unit_test_setup_teardown(test_kept_members_mixed, decide_setup,
                                        decide_teardown),
        cmocka_unit_test(test_raise_lane_doc),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
