/* The inspection module's pure parts: guide rules, the steps each source
 * gives, annotation checks and the JPEG probe; and the service's thinning
 * and retention across a stop and a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "inspect.h"
#include "unitkit.h"

#include <jpeglib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inspect_rules *rules(void)
{
    char err[512];
    inspect_rules *r = NULL;
    cx_err e = inspect_rules_load("", &r, err, sizeof err);
    if (e != CX_OK)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(e, CX_OK);
    return r;
}

static json_t *step_with(json_t *steps, const char *source, size_t nth)
{
    size_t i;
    json_t *s;
    json_array_foreach(steps, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "source")), source) == 0 && nth-- == 0)
            return s;
    }
    return NULL;
}

static void test_steps_from_every_source(void **state)
{
    (void)state;
    inspect_rules *r = rules();
    json_t *decl = json_loads("{\"type\":\"import\",\"items\":[{\"hs_code\":\"640399\"},"
                              "{\"hs_code\":\"240220\"}]}", 0, NULL);
    json_t *risk = json_loads(
        "{\"lane\":\"red\",\"reasons\":["
        "{\"feature\":\"alert.seal_opened\",\"contribution\":1,\"detail\":\"seal opened at 14:02 "
        "near Daegu\"},"
        "{\"feature\":\"unit_value\",\"contribution\":0.8,\"detail\":\"value per kg far below "
        "others of HS 6403 from this origin\"},"
        "{\"feature\":\"origin\",\"contribution\":-0.2,\"detail\":\"lowers the risk\"},"
        "{\"feature\":\"ledger.containers_not_on_bl\",\"contribution\":1,\"detail\":\"container "
        "MSKU4242420 is not on bill of lading BL-1\"},"
        "{\"feature\":\"something_new\",\"contribution\":0.1,\"detail\":\"new model feature\"},"
        "{\"feature\":\"xray.dense_object\",\"contribution\":1,\"detail\":\"region 1: the "
        "region's own reason, said by its step\"}]}",
        0, NULL);
    json_t *regions = json_loads("[{\"n\":1,\"kind\":\"dense_object\",\"from_door_m\":3.2,"
                                 "\"height_m\":0.3,\"side\":\"left\"},"
                                 "{\"n\":2,\"kind\":\"organic_mass\",\"from_door_m\":9,"
                                 "\"height_m\":1.2,\"side\":null}]",
                                 0, NULL);
    json_t *steps = inspect_guide_steps(r, decl, risk, regions);
    /* risk: the reason's sentence and the rule's check; a lowering reason gives none */
    json_t *s = step_with(steps, "risk", 0);
    assert_non_null(s);
    assert_string_equal(json_string_value(json_object_get(s, "instruction")),
                        "value per kg far below others of HS 6403 from this origin: weigh the "
                        "goods and count the cartons; compare weight, count and unit price with "
                        "the invoice and packing list");
    assert_true(json_is_null(json_object_get(s, "where")));
    s = step_with(steps, "risk", 1); /* unknown features take the default rule */
    assert_string_equal(json_string_value(json_object_get(s, "title")), "Risk reason");
    assert_null(step_with(steps, "risk", 2));
    /* xray: where, and a sentence with metres, height and side */
    s = step_with(steps, "xray", 0);
    assert_string_equal(json_string_value(json_object_get(s, "instruction")),
                        "dense object 3.2 m from the doors, at floor height, left side: unload "
                        "down to the object and examine it");
    assert_true(json_number_value(json_object_get(json_object_get(s, "where"), "from_door_m")) ==
                3.2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "where"), "side")),
                        "left");
    s = step_with(steps, "xray", 1);
    assert_true(json_is_null(json_object_get(json_object_get(s, "where"), "side")));
    /* ledger and track: their own rules */
    s = step_with(steps, "ledger", 0);
    assert_string_equal(json_string_value(json_object_get(s, "check")),
                        "check the container number and the seal number against the bill of "
                        "lading");
    s = step_with(steps, "track", 0);
    assert_non_null(strstr(json_string_value(json_object_get(s, "instruction")),
                           "seal opened at 14:02 near Daegu: check the seal's number"));
    /* checklists: any chapter + import, and tobacco (24), and footwear (64) */
    assert_string_equal(json_string_value(json_object_get(step_with(steps, "checklist", 0), "title")),
                        "Container and seal");
    assert_string_equal(json_string_value(json_object_get(step_with(steps, "checklist", 1), "title")),
                        "Count and weigh");
    assert_string_equal(json_string_value(json_object_get(step_with(steps, "checklist", 2), "title")),
                        "Tobacco: tax stamps");
    assert_string_equal(json_string_value(json_object_get(step_with(steps, "checklist", 3), "title")),
                        "Apparel and footwear: brands");
    assert_null(step_with(steps, "checklist", 4));
    /* order: risk, xray, ledger, track, checklist */
    const char *order[] = {"risk", "risk", "xray", "xray", "ledger", "track", "checklist"};
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(steps, i), "source")),
                            order[i]);
    /* keys are stable: the same inputs give the same keys */
    json_t *again = inspect_guide_steps(r, decl, risk, regions);
    assert_true(json_equal(steps, again));
    json_decref(again);
    json_decref(steps);
    /* a transit declaration gets the transit checklist, not the import one */
    json_object_set_new(decl, "type", json_string("transit"));
    steps = inspect_guide_steps(r, decl, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(step_with(steps, "checklist", 1), "title")),
                        "Transit seal");
    json_decref(steps);
    json_decref(decl);
    json_decref(risk);
    json_decref(regions);
    inspect_rules_free(r);
}

static void test_rules_problems_named(void **state)
{
    (void)state;
    const char *bad = "{\"version\":1,\"reasons\":[{\"match\":\"a*b\",\"title\":\"t\",\"check\":"
                      "\"c\"}],\"default\":{\"title\":\"t\"},\"checklists\":[{\"chapters\":"
                      "[\"2\"],\"procedures\":[\"import\"],\"steps\":[{\"title\":\"t\","
                      "\"instruction\":\"i\",\"check\":\"c\",\"where\":{\"side\":\"back\"}}]}],"
                      "\"extra\":1}";
    json_t *problems = json_array();
    assert_null(inspect_rules_parse(bad, strlen(bad), problems));
    char *text = json_dumps(problems, JSON_COMPACT);
    assert_non_null(strstr(text, "\"/reasons/0\""));
    assert_non_null(strstr(text, "\"/default/check\""));
    assert_non_null(strstr(text, "\"/checklists/0/chapters/0\""));
    assert_non_null(strstr(text, "\"/checklists/0/steps/0/where/side\""));
    assert_non_null(strstr(text, "\"/extra\""));
    free(text);
    json_decref(problems);
    problems = json_array();
    assert_null(inspect_rules_parse("{", 1, problems));
    assert_int_equal(json_array_size(problems), 1);
    json_decref(problems);
}

static bool check(const char *body, bool *chat, size_t *nproblems)
{
    json_t *b = json_loads(body, 0, NULL), *problems = json_array();
    bool ok = inspect_annotation_check(b, 640, 480, chat, problems);
    *nproblems = json_array_size(problems);
    json_decref(b);
    json_decref(problems);
    return ok;
}

static void test_annotations(void **state)
{
    (void)state;
    bool chat;
    size_t n;
    assert_true(check("{\"frame\":3,\"shapes\":[{\"kind\":\"box\",\"x\":10,\"y\":20,\"w\":100,"
                      "\"h\":50},{\"kind\":\"arrow\",\"x\":600,\"y\":400,\"w\":-100,\"h\":-80}],"
                      "\"text\":\"open this one\"}", &chat, &n));
    assert_false(chat);
    assert_true(check("{\"text\":\"can you turn the camera left?\"}", &chat, &n));
    assert_true(chat);
    /* outside the frame, zero-sized box, arrow leaving the frame, bad kind */
    assert_false(check("{\"frame\":1,\"shapes\":[{\"kind\":\"box\",\"x\":600,\"y\":20,\"w\":41,"
                       "\"h\":5}]}", &chat, &n));
    assert_false(check("{\"frame\":1,\"shapes\":[{\"kind\":\"box\",\"x\":6,\"y\":2,\"w\":0,"
                       "\"h\":5}]}", &chat, &n));
    assert_false(check("{\"frame\":1,\"shapes\":[{\"kind\":\"arrow\",\"x\":6,\"y\":2,\"w\":-7,"
                       "\"h\":5}]}", &chat, &n));
    assert_false(check("{\"frame\":1,\"shapes\":[{\"kind\":\"circle\",\"x\":6,\"y\":2,\"w\":7,"
                       "\"h\":5,\"r\":1}]}", &chat, &n));
    assert_int_equal(n, 2); /* kind, and the unknown r */
    assert_false(check("{\"shapes\":[]}", &chat, &n));
    assert_false(check("{\"text\":\"\"}", &chat, &n));
    assert_false(check("{\"frame\":0,\"shapes\":[{\"kind\":\"box\",\"x\":1,\"y\":1,\"w\":1,"
                       "\"h\":1}],\"colour\":\"red\"}", &chat, &n));
    assert_int_equal(n, 2);
}

static unsigned char *make_jpeg(unsigned w, unsigned h, unsigned long *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    jpeg_mem_dest(&c, &out, len);
    c.image_width = w;
    c.image_height = h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = calloc(w, 3);
    while (c.next_scanline < h)
        jpeg_write_scanlines(&c, &row, 1);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return out;
}

static void test_jpeg_probe(void **state)
{
    (void)state;
    unsigned long len = 0;
    unsigned char *j = make_jpeg(320, 240, &len);
    unsigned w = 0, h = 0;
    assert_int_equal(inspect_jpeg_probe(j, len, &w, &h), CX_OK);
    assert_int_equal(w, 320);
    assert_int_equal(h, 240);
    /* the header alone is enough; a cut inside it is not */
    assert_int_equal(inspect_jpeg_probe(j, 20, &w, &h), CX_EPARSE);
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_int_equal(inspect_jpeg_probe(png, sizeof png, &w, &h), CX_EPARSE);
    assert_int_equal(inspect_jpeg_probe("", 0, &w, &h), CX_EPARSE);
    free(j);
}

static void score(const char *regions, const char *right, const char *lane, const char *marks,
                  inspect_score *out)
{
    json_t *r = json_loads(regions, 0, NULL), *m = json_loads(marks, 0, NULL);
    inspect_training_score(r, right, lane, m, out);
    json_decref(r);
    json_decref(m);
}

static void test_training_score(void **state)
{
    (void)state;
    inspect_score sc;
    /* one region found (IoU 81/119), one false mark, right lane: 100 x (0.4 + 0.6 x 2/3) */
    score("[{\"x\":0,\"y\":0,\"w\":10,\"h\":10}]", "red", "red",
          "[{\"x\":1,\"y\":1,\"w\":10,\"h\":10},{\"x\":50,\"y\":50,\"w\":5,\"h\":5}]", &sc);
    assert_int_equal(sc.found, 1);
    assert_int_equal(sc.missed, 0);
    assert_int_equal(sc.false_marks, 1);
    assert_true(sc.lane_correct);
    assert_true(sc.score == 80.0);
    /* IoU under 0.3 is not found: 10x10 against 10x30 overlapping 10x10 = 1/3 found, 10x40 = 1/4 not */
    score("[{\"x\":0,\"y\":0,\"w\":10,\"h\":10}]", "red", "green",
          "[{\"x\":0,\"y\":0,\"w\":10,\"h\":40}]", &sc);
    assert_int_equal(sc.found, 0);
    assert_true(sc.score == 0.0);
    score("[{\"x\":0,\"y\":0,\"w\":10,\"h\":10}]", "red", "yellow",
          "[{\"x\":0,\"y\":0,\"w\":10,\"h\":30}]", &sc);
    assert_int_equal(sc.found, 1);
    assert_true(sc.score == 60.0);
    /* one mark cannot find two regions; two marks on one region: one found, one false */
    score("[{\"x\":0,\"y\":0,\"w\":10,\"h\":10},{\"x\":0,\"y\":0,\"w\":10,\"h\":11}]",
          "red", "red", "[{\"x\":0,\"y\":0,\"w\":10,\"h\":10}]", &sc);
    assert_int_equal(sc.found, 1);
    assert_int_equal(sc.missed, 1);
    /* nothing hidden, nothing marked, right lane: 100; a mark there: F1 0 */
    score("[]", "green", "green", "[]", &sc);
    assert_true(sc.score == 100.0);
    score("[]", "green", "green", "[{\"x\":0,\"y\":0,\"w\":1,\"h\":1}]", &sc);
    assert_int_equal(sc.false_marks, 1);
    assert_true(sc.score == 40.0);
}

/* ---- the service: a stop leaves the backlog for the next start ---------------------- */

#define BIG_FRAMES 1500 /* three thinning jobs */

static cx_err seed__job(store_conn *w, void *arg)
{
    (void)arg;
    cx_err e = store_exec(w, "INSERT INTO inspect_sessions(sid, seq, declaration, status, "
                             "opened_by, opened_at, closed_at, closed_us, frames, thin_at, thin_n) "
                             "VALUES('S-BIG', 1, 'D-1', 'closed', '{}', 'x', 'x', 1, 1500, "
                             "-9223372036854775808, 0), "
                             "('S-OLD', 2, 'D-2', 'closed', '{}', 'x', 'x', 1, 1500, NULL, NULL)");
    /* S-BIG: ten frames a second from a recent time, none annotated: the
     * first of each 2-second bucket (every 20th) and the last stay.
     * S-OLD: thinned long ago, its frames past any retention. */
    sqlite3_stmt *st = e == CX_OK ? store_stmt(w, "INSERT INTO inspect_frames(sid, n, bytes, "
                                                  "width, height, at_us) VALUES(?1, ?2, x'00', "
                                                  "1, 1, ?3)")
                                  : NULL;
    for (int i = 1; st && e == CX_OK && i <= 2 * BIG_FRAMES; i++) {
        bool big = i <= BIG_FRAMES;
        int n = big ? i : i - BIG_FRAMES;
        sqlite3_bind_text(st, 1, big ? "S-BIG" : "S-OLD", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, n);
        sqlite3_bind_int64(st, 3, (big ? 4000000000000000LL : 1000000LL) + (n - 1) * 100000LL);
        e = store_done(st);
    }
    return st ? e : CX_EDB;
}

static int64_t frames_of(store *s, const char *sid)
{
    sqlite3_stmt *st = store_stmt(store_reader(s), "SELECT count(*) FROM inspect_frames "
                                                   "WHERE sid = ?1");
    assert_non_null(st);
    sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

static inspect_service *service(store *s)
{
    char err[512] = "";
    inspect_config cfg = {.frame_retention_days = 30};
    inspect_service *svc = NULL;
    cx_err e = inspect_service_new(s, NULL, &cfg, &svc, err, sizeof err);
    if (e != CX_OK)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(e, CX_OK);
    return svc;
}

static void test_stop_leaves_backlog_to_restart(void **state)
{
    (void)state;
    char path[64], err[256];
    uk_tmp_path(path, "inspect");
    store *s = NULL;
    assert_int_equal(store_open(path, &s, err, sizeof err), CX_OK);
    assert_int_equal(inspect_migrate(s, err, sizeof err), CX_OK);
    /* the backlog arrives after the first service's start-up pass is over */
    inspect_service *svc = service(s);
    inspect_service_stop(svc);
    assert_int_equal(store_write(s, seed__job, NULL), CX_OK);
    /* stopping: neither loop starts another writer job, the work waits */
    uint64_t n = 99;
    assert_int_equal(inspect_thin_run(svc, &n), CX_ESHUTDOWN);
    assert_int_equal(n, 0);
    assert_int_equal(inspect_retention_run(svc, cx_now_us(), &n), CX_ESHUTDOWN);
    assert_int_equal(n, 0);
    assert_int_equal(frames_of(s, "S-BIG"), BIG_FRAMES);
    assert_int_equal(frames_of(s, "S-OLD"), BIG_FRAMES);
    inspect_service_free(svc);
    /* the next start does it all (its thread and these calls share the work) */
    svc = service(s);
    assert_int_equal(inspect_thin_run(svc, NULL), CX_OK);
    assert_int_equal(inspect_retention_run(svc, cx_now_us(), NULL), CX_OK);
    assert_int_equal(frames_of(s, "S-BIG"), BIG_FRAMES / 20 + 1);
    assert_int_equal(frames_of(s, "S-OLD"), 0);
    inspect_service_free(svc);
    store_free(s);
    uk_rm_db(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps_from_every_source),
        cmocka_unit_test(test_rules_problems_named),
        cmocka_unit_test(test_annotations),
        cmocka_unit_test(test_jpeg_probe),
        cmocka_unit_test(test_training_score),
        cmocka_unit_test(test_stop_leaves_backlog_to_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
