/* Training on simulated cases: storing the cases `customs training
 * generate` builds, serving the next one a trainee has not answered,
 * scoring answers against the hidden truth, and results (own; admins, the
 * supervisors, see everyone's). Cases live in their own tables: never in
 * declarations, queues or counts. */
#include "inspect_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARKS_MAX 50
#define IOU_FOUND 0.3

/* ---- scoring ------------------------------------------------------------------------- */

static double score__iou(const json_t *a, const json_t *b)
{
    double ax = json_number_value(json_object_get(a, "x")), ay = json_number_value(json_object_get(a, "y")),
           aw = json_number_value(json_object_get(a, "w")), ah = json_number_value(json_object_get(a, "h")),
           bx = json_number_value(json_object_get(b, "x")), by = json_number_value(json_object_get(b, "y")),
           bw = json_number_value(json_object_get(b, "w")), bh = json_number_value(json_object_get(b, "h"));
    double ix = fmin(ax + aw, bx + bw) - fmax(ax, bx), iy = fmin(ay + ah, by + bh) - fmax(ay, by);
    if (ix <= 0 || iy <= 0 || aw <= 0 || ah <= 0 || bw <= 0 || bh <= 0)
        return 0;
    double inter = ix * iy;
    return inter / (aw * ah + bw * bh - inter);
}

void inspect_training_score(const json_t *regions, const char *right_lane, const char *lane,
                            const json_t *marks, inspect_score *out)
{
    size_t nr = json_array_size(regions), nm = json_array_size(marks);
    memset(out, 0, sizeof *out);
    out->lane_correct = right_lane && lane && strcmp(right_lane, lane) == 0;
    bool *rused = calloc(nr + 1, 1), *mused = calloc(nm + 1, 1);
    /* greedy on the best remaining pair: one mark per region */
    for (;;) {
        double best = IOU_FOUND;
        size_t bi = 0, bj = 0;
        bool any = false;
        for (size_t i = 0; rused && i < nr; i++)
            for (size_t j = 0; !rused[i] && mused && j < nm; j++) {
                if (mused[j])
                    continue;
                double v = score__iou(json_array_get(regions, i), json_array_get(marks, j));
                if (v >= best) {
                    best = v;
                    bi = i;
                    bj = j;
                    any = true;
                }
            }
        if (!any)
            break;
        rused[bi] = mused[bj] = true;
        out->found++;
    }
    free(rused);
    free(mused);
    out->missed = (int)nr - out->found;
    out->false_marks = (int)nm - out->found;
    double f1 = nr + nm == 0 ? 1.0 : 2.0 * out->found / (double)(nr + nm);
    out->score = round(100.0 * (0.4 * (out->lane_correct ? 1 : 0) + 0.6 * f1) * 10) / 10;
}

/* ---- storing cases (the command line) ---------------------------------------------------- */

typedef struct {
    const inspect_training_case *c;
    char id[CX_ID_LEN + 1];
} add_job;

static cx_err add__job(store_conn *w, void *arg)
{
    add_job *j = arg;
    const inspect_training_case *c = j->c;
    sqlite3_stmt *st = store_stmt(
        w, "INSERT INTO inspect_training_cases(id, seed, idx, declaration, reasons, events, truth, "
           "lane, explanation, image, width, height, created_at) "
           "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)");
    char *texts[4] = {cx_json_dump(c->declaration, NULL), cx_json_dump(c->reasons, NULL),
                      cx_json_dump(c->events, NULL), cx_json_dump(c->regions, NULL)};
    cx_err e = st && texts[0] && texts[1] && texts[2] && texts[3] ? CX_OK : CX_ENOMEM;
    if (e == CX_OK) {
        char now[32];
        cx_rfc3339_format(cx_now_us(), now);
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)c->seed);
        sqlite3_bind_int64(st, 3, (int64_t)c->index);
        for (int i = 0; i < 4; i++)
            sqlite3_bind_text(st, 4 + i, texts[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, c->lane, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, c->explanation, -1, SQLITE_STATIC);
        sqlite3_bind_blob64(st, 10, c->png, c->png_len, SQLITE_STATIC);
        sqlite3_bind_int(st, 11, (int)c->width);
        sqlite3_bind_int(st, 12, (int)c->height);
        sqlite3_bind_text(st, 13, now, -1, SQLITE_TRANSIENT);
        e = store_done(st);
        if (e != CX_OK && e != CX_EEXIST)
            e = CX_EDB;
    }
    for (int i = 0; i < 4; i++)
        free(texts[i]);
    return e;
}

cx_err inspect_training_add(store *s, const inspect_training_case *c, char id[CX_ID_LEN + 1])
{
    add_job j = {.c = c};
    cx_id_new(j.id);
    cx_err e = store_write(s, add__job, &j);
    if (e == CX_OK)
        memcpy(id, j.id, sizeof j.id);
    return e;
}

/* ---- GET /v1/training/cases/next --------------------------------------------------------- */

typedef struct {
    inspect_job base;
    char id[CX_ID_LEN + 1];
    int64_t key_id, at_us;
    json_t *reply;
} next_job;

static cx_err next__served(store_conn *w, inspect_job *j)
{
    next_job *n = (next_job *)j;
    sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO inspect_training_served(case_id, "
                                     "key_id, at_us) VALUES(?1, ?2, ?3)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, n->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, n->key_id);
    sqlite3_bind_int64(st, 3, n->at_us);
    return store_done(st);
}

static void next__done(inspect_job *j, cx_err result)
{
    next_job *n = (next_job *)j;
    if (result != CX_OK) {
        http_reply_error(j->req, 503, "unavailable", "the case could not be served; retry", NULL);
        return;
    }
    http_reply_json(j->req, 200, n->reply);
    n->reply = NULL;
}

static void next__free(inspect_job *j)
{
    next_job *n = (next_job *)j;
    json_decref(n->reply);
    free(n);
}

static void h_next(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!http_allow_officer(r, "train"))
        return;
    const cx_principal *who = http_principal(r);
    store_conn *c = store_reader(s->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT id, declaration, reasons, events, width, height "
                                         "FROM inspect_training_cases t WHERE NOT EXISTS (SELECT 1 "
                                         "FROM inspect_training_answers a WHERE a.case_id = t.id "
                                         "AND a.key_id = ?1) ORDER BY seed, idx LIMIT 1")
                         : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the cases cannot be read; retry", NULL);
        return;
    }
    sqlite3_bind_int64(st, 1, who->key_id);
    next_job *n = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && (n = calloc(1, sizeof *n))) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        char url[96];
        snprintf(n->id, sizeof n->id, "%s", id);
        snprintf(url, sizeof url, "/v1/training/cases/%s/image.png", id);
        n->reply = json_pack(
            "{s:s,s:o,s:o,s:o,s:{s:s,s:i,s:i}}", "id", id, "declaration",
            json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL), "reasons",
            json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL), "events",
            json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL), "scan", "image_url", url,
            "width", sqlite3_column_int(st, 4), "height", sqlite3_column_int(st, 5));
    }
    sqlite3_reset(st);
    if (!n) {
        http_reply_error(r, 404, "not_found",
                         "no training case left that you have not answered (an administrator "
                         "adds more with customs training generate)",
                         NULL);
        return;
    }
    n->base = (inspect_job){.req = r, .svc = s, .fn = next__served, .done = next__done,
                            .free_fn = next__free};
    n->key_id = who->key_id;
    n->at_us = cx_now_us();
    inspect__submit(&n->base);
}

static void h_image(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!http_allow_officer(r, "train"))
        return;
    store_conn *c = store_reader(s->store);
    sqlite3_stmt *st =
        c ? store_stmt(c, "SELECT image FROM inspect_training_cases WHERE id = ?1") : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the case cannot be read; retry", NULL);
        return;
    }
    sqlite3_bind_text(st, 1, http_param(r, "id"), -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        http_reply_header(r, "Cache-Control", "private, max-age=86400, immutable");
        http_reply_copy(r, 200, "image/png", sqlite3_column_blob(st, 0),
                        (size_t)sqlite3_column_bytes(st, 0));
    } else {
        http_reply_error(r, 404, "not_found", "no such training case", NULL);
    }
    sqlite3_reset(st);
}

/* ---- POST /v1/training/cases/{id}/answer ------------------------------------------------ */

typedef struct {
    inspect_job base;
    char id[CX_ID_LEN + 1];
    cx_principal who;
    char *answer;
    inspect_score sc;
    char at[32];
    int64_t at_us;
    double seconds;
    json_t *reply; /* the result with the truth */
} answer_job;

static cx_err answer__store(store_conn *w, inspect_job *j)
{
    answer_job *a = (answer_job *)j;
    sqlite3_stmt *st = store_stmt(w, "SELECT at_us FROM inspect_training_served WHERE case_id = ?1 "
                                     "AND key_id = ?2");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, a->who.key_id);
    a->seconds = sqlite3_step(st) == SQLITE_ROW
                     ? (double)(a->at_us - sqlite3_column_int64(st, 0)) / 1e6
                     : NAN;
    sqlite3_reset(st);
    st = store_stmt(w, "INSERT INTO inspect_training_answers(case_id, key_id, org, role, subject, "
                       "answer, score, found, missed, false_marks, lane_correct, seconds, "
                       "answered_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, a->who.key_id);
    sqlite3_bind_text(st, 3, a->who.org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, cx_role_name(a->who.role), -1, SQLITE_STATIC);
    if (a->who.subject[0])
        sqlite3_bind_text(st, 5, a->who.subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, a->answer, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 7, a->sc.score);
    sqlite3_bind_int(st, 8, a->sc.found);
    sqlite3_bind_int(st, 9, a->sc.missed);
    sqlite3_bind_int(st, 10, a->sc.false_marks);
    sqlite3_bind_int(st, 11, a->sc.lane_correct);
    if (isfinite(a->seconds))
        sqlite3_bind_double(st, 12, a->seconds);
    sqlite3_bind_text(st, 13, a->at, -1, SQLITE_STATIC);
    return store_done(st); /* CX_EEXIST: answered before */
}

static void answer__done(inspect_job *j, cx_err result)
{
    answer_job *a = (answer_job *)j;
    if (result == CX_EEXIST) {
        http_reply_error(j->req, 409, "already_answered",
                         "you have answered this case already; GET /v1/training/cases/next", NULL);
        return;
    }
    if (result != CX_OK) {
        http_reply_error(j->req, 503, "unavailable", "the answer could not be stored; retry", NULL);
        return;
    }
    json_object_set_new(a->reply, "seconds",
                        isfinite(a->seconds) ? json_real(round(a->seconds * 10) / 10) : json_null());
    http_reply_json(j->req, 200, a->reply);
    a->reply = NULL;
}

static void answer__free(inspect_job *j)
{
    answer_job *a = (answer_job *)j;
    free(a->answer);
    json_decref(a->reply);
    free(a);
}

static json_t *answer__check(const json_t *body, unsigned width, unsigned height)
{
    json_t *problems = json_array();
    if (!json_is_object(body)) {
        cx_problem_add(problems, "", "must be an object");
        return problems;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        if (strcmp(k, "lane") && strcmp(k, "regions")) {
            char p[160] = "";
            cx_jptr_push(p, sizeof p, k);
            cx_problem_add(problems, p, "unknown field");
        }
    }
    const char *lane = json_string_value(json_object_get(body, "lane"));
    if (!lane || (strcmp(lane, "red") && strcmp(lane, "yellow") && strcmp(lane, "green")))
        cx_problem_add(problems, "/lane", "must be \"red\", \"yellow\" or \"green\"");
    const json_t *regions = json_object_get(body, "regions");
    if (!json_is_array(regions) || json_array_size(regions) > MARKS_MAX) {
        cx_problem_add(problems, "/regions", "must be an array of at most %d regions", MARKS_MAX);
        return problems;
    }
    size_t i;
    json_array_foreach(regions, i, v)
    {
        char p[32];
        snprintf(p, sizeof p, "/regions/%zu", i);
        const json_t *x = json_object_get(v, "x"), *y = json_object_get(v, "y"),
                     *w = json_object_get(v, "w"), *h = json_object_get(v, "h");
        if (!json_is_object(v) || json_object_size(v) != 4 || !json_is_number(x) ||
            !json_is_number(y) || !json_is_number(w) || !json_is_number(h)) {
            cx_problem_add(problems, p, "must be {\"x\",\"y\",\"w\",\"h\"} in the scan's pixels");
            continue;
        }
        double xv = json_number_value(x), yv = json_number_value(y), wv = json_number_value(w),
               hv = json_number_value(h);
        if (!(wv > 0 && hv > 0 && xv >= 0 && yv >= 0 && xv + wv <= width && yv + hv <= height))
            cx_problem_add(problems, p, "must lie inside the scan (%ux%u pixels) with w, h > 0",
                           width, height);
    }
    return problems;
}

static void h_answer(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!http_allow_officer(r, "train"))
        return;
    json_t *body = decl_parse_body(r);
    if (!body)
        return;
    store_conn *c = store_reader(s->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT truth, lane, explanation, width, height "
                                         "FROM inspect_training_cases WHERE id = ?1")
                         : NULL;
    if (!st) {
        json_decref(body);
        http_reply_error(r, 503, "unavailable", "the case cannot be read; retry", NULL);
        return;
    }
    sqlite3_bind_text(st, 1, http_param(r, "id"), -1, SQLITE_STATIC);
    cx_err e = CX_OK;
    if (!store_next(st, &e)) {
        sqlite3_reset(st);
        json_decref(body);
        if (e != CX_OK)
            http_reply_error(r, 503, "unavailable", "the case cannot be read; retry", NULL);
        else
            http_reply_error(r, 404, "not_found", "no such training case", NULL);
        return;
    }
    json_t *truth = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    char lane[8], expl[2048];
    snprintf(lane, sizeof lane, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(expl, sizeof expl, "%s", (const char *)sqlite3_column_text(st, 2));
    json_t *problems = answer__check(body, (unsigned)sqlite3_column_int(st, 3),
                                     (unsigned)sqlite3_column_int(st, 4));
    sqlite3_reset(st);
    answer_job *a = NULL;
    if (json_array_size(problems)) {
        inspect__reply_problems(r, "invalid_answer", "answer", problems);
    } else if (!(a = calloc(1, sizeof *a)) || !(a->answer = cx_json_dump(body, NULL))) {
        json_decref(problems);
        free(a);
        a = NULL;
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
    } else {
        json_decref(problems);
    }
    if (a) {
        a->base = (inspect_job){.req = r, .svc = s, .fn = answer__store, .done = answer__done,
                                .free_fn = answer__free};
        snprintf(a->id, sizeof a->id, "%s", http_param(r, "id"));
        a->who = *http_principal(r);
        a->at_us = cx_now_us();
        cx_rfc3339_format(a->at_us, a->at);
        inspect_training_score(truth, lane,
                               json_string_value(json_object_get(body, "lane")),
                               json_object_get(body, "regions"), &a->sc);
        a->reply = json_pack("{s:f,s:i,s:i,s:i,s:b,s:s,s:{s:s,s:O}}", "score", a->sc.score,
                             "found", a->sc.found, "missed", a->sc.missed, "false_marks",
                             a->sc.false_marks, "lane_correct", a->sc.lane_correct,
                             "explanation", expl, "truth", "lane", lane, "regions", truth);
    }
    /* before the submit: the reply shares truth, and jansson's reference
     * counts are not atomic, so the writer must be its only holder */
    json_decref(truth);
    if (a)
        inspect__submit(&a->base);
    json_decref(body);
}

/* ---- GET /v1/training/results ------------------------------------------------------------- */

static void h_results(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!http_allow_officer(r, "see training results"))
        return;
    const cx_principal *who = http_principal(r);
    int64_t officer = -1;
    if (!http_query_int(r, "officer", 1, INT64_MAX, &officer))
        return;
    bool admin = cx_role_in(who, CX_ROLE_BIT(CX_ROLE_ADMIN));
    if (officer >= 0 && !admin && officer != who->key_id) {
        http_reply_error(r, 403, "forbidden",
                         "officers see their own training results; supervisors (admins) see "
                         "everyone's", NULL);
        return;
    }
    if (!admin)
        officer = who->key_id;
    http_page pg;
    if (!http_page_parse(r, HTTP_CURSOR_INT, 100, 1000, &pg))
        return;
    store_conn *c = store_reader(s->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT id, case_id, key_id, org, role, subject, score, "
                                         "found, missed, false_marks, lane_correct, seconds, "
                                         "answered_at FROM inspect_training_answers "
                                         "WHERE id > ?1 AND (?2 < 0 OR key_id = ?2) ORDER BY id")
                         : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the results cannot be read; retry", NULL);
        return;
    }
    sqlite3_bind_int64(st, 1, pg.after);
    sqlite3_bind_int64(st, 2, officer);
    http_pager p;
    http_pager_init(&p, pg.limit, HTTP_PAGE_BUDGET);
    int64_t last = 0;
    while (store_row(st, &p.out) && http_pager_item(&p)) {
        last = sqlite3_column_int64(st, 0);
        const char *subject = (const char *)sqlite3_column_text(st, 5);
        json_t *o = json_pack(
            "{s:s,s:{s:s,s:s,s:I,s:s?},s:f,s:i,s:i,s:i,s:b,s:o,s:s}", "case",
            (const char *)sqlite3_column_text(st, 1), "by", "org",
            (const char *)sqlite3_column_text(st, 3), "role",
            (const char *)sqlite3_column_text(st, 4), "key_id",
            (json_int_t)sqlite3_column_int64(st, 2), "subject", subject, "score",
            sqlite3_column_double(st, 6), "found", sqlite3_column_int(st, 7), "missed",
            sqlite3_column_int(st, 8), "false_marks", sqlite3_column_int(st, 9), "lane_correct",
            sqlite3_column_int(st, 10),
            "seconds", sqlite3_column_type(st, 11) == SQLITE_NULL
                           ? json_null()
                           : json_real(round(sqlite3_column_double(st, 11) * 10) / 10),
            "answered_at", (const char *)sqlite3_column_text(st, 12));
        http_pager_json_new(&p, o);
    }
    sqlite3_reset(st);
    http_pager_reply_after(&p, r, last); /* or the page's error */
    http_pager_free(&p);
}

cx_err inspect__training_routes(inspect_service *s, http_server *srv)
{
    static const http_route_def defs[] = {
        {"GET", "/v1/training/cases/next", HTTP_AUTH, h_next, NULL},
        {"GET", "/v1/training/cases/{id}/image.png", HTTP_AUTH, h_image, NULL},
        {"POST", "/v1/training/cases/{id}/answer", HTTP_AUTH | HTTP_JSON, h_answer, NULL},
        {"GET", "/v1/training/results", HTTP_AUTH, h_results, "officer limit cursor"},
    };
    return http_routes(srv, defs, sizeof defs / sizeof defs[0], s);
}
