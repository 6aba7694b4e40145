/* The inspection guide over HTTP: the steps (numbered once, kept), the
 * officer's progress on each, and the photos of findings (content-addressed
 * by SHA-256, linked to the declaration). */
#include "inspect_int.h"

#include "xray.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUIDE_PHOTOS_MAX 20

/* ---- the guide as the API shows it --------------------------------------------------- */

static json_t *guide__step_row(sqlite3_stmt *st)
{
    json_t *step = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
    if (!step)
        return NULL;
    json_object_del(step, "key");
    const char *photos = (const char *)sqlite3_column_text(st, 4);
    const char *by = (const char *)sqlite3_column_text(st, 5);
    const char *at = (const char *)sqlite3_column_text(st, 6);
    const char *note = (const char *)sqlite3_column_text(st, 3);
    json_object_set_new(step, "n", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(step, "done", json_boolean(sqlite3_column_int(st, 2)));
    json_object_set_new(step, "note", note ? json_string(note) : json_null());
    json_object_set_new(step, "photos", photos ? json_loads(photos, 0, NULL) : json_array());
    json_object_set_new(step, "done_by", by ? json_loads(by, 0, NULL) : json_null());
    json_object_set_new(step, "done_at", at ? json_string(at) : json_null());
    return step;
}

/* The scan member: {"id","overlay_url"} of the declaration's latest scan,
 * or null; *regions (may be NULL) gets its regions. */
static json_t *guide__scan(store_conn *c, int64_t seq, json_t **regions)
{
    char id[XRAY_ID_MAX + 1];
    json_t *regs = NULL;
    if (regions)
        *regions = NULL;
    if (xray_declaration_scan(c, seq, id, &regs) != CX_OK)
        return json_null();
    if (regions)
        *regions = regs;
    else
        json_decref(regs);
    char url[XRAY_ID_MAX + 64];
    snprintf(url, sizeof url, "/v1/xray/scans/%s/overlay.png", id);
    return json_pack("{s:s,s:s}", "id", id, "overlay_url", url);
}

/* {"declaration","lane","status","reasons","steps","scan","photos"} read on c. */
static json_t *guide__json(store_conn *c, const inspect_decl *d, cx_err *e)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT n, step, done, note, photos, by_doc, done_at "
                                     "FROM inspect_guide_steps WHERE seq = ?1 ORDER BY n");
    sqlite3_stmt *ph = store_stmt(c, "SELECT sha256 FROM inspect_photo_links WHERE seq = ?1 "
                                     "ORDER BY at, sha256");
    if (!st || !ph) {
        *e = CX_EDB;
        return NULL;
    }
    json_t *steps = json_array(), *photos = json_array();
    sqlite3_bind_int64(st, 1, d->seq);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *s = guide__step_row(st);
        if (s)
            json_array_append_new(steps, s);
    }
    sqlite3_reset(st);
    sqlite3_bind_int64(ph, 1, d->seq);
    if (rc == SQLITE_DONE)
        while ((rc = sqlite3_step(ph)) == SQLITE_ROW)
            json_array_append_new(photos, json_string((const char *)sqlite3_column_text(ph, 0)));
    sqlite3_reset(ph);
    if (rc != SQLITE_DONE) {
        json_decref(steps);
        json_decref(photos);
        *e = CX_EDB;
        return NULL;
    }
    const json_t *reasons = json_object_get(d->risk, "reasons");
    *e = CX_OK;
    json_t *all = reasons ? json_incref((json_t *)reasons) : json_array();
    return json_pack("{s:s,s:s?,s:s,s:o,s:o,s:o,s:o}", "declaration", d->id, "lane",
                     d->lane[0] ? d->lane : NULL, "status", d->status, "reasons", all, "steps",
                     steps, "scan", guide__scan(c, d->seq, NULL), "photos", photos);
}

/* ---- GET /v1/declarations/{id}/inspection-guide ------------------------------------ */

typedef struct {
    inspect_job base;
    inspect_decl d;
    json_t *steps; /* computed, with keys */
    json_t *reply;
} guide_job;

/* Numbers the steps not stored yet after the ones that are: a step keeps
 * its number (and its progress) when later reasons add steps. */
static cx_err guide__store(store_conn *w, inspect_job *j)
{
    guide_job *g = (guide_job *)j;
    sqlite3_stmt *st = store_stmt(
        w, "INSERT INTO inspect_guide_steps(seq, n, key, step) SELECT ?1, "
           "coalesce((SELECT max(n) FROM inspect_guide_steps WHERE seq = ?1), 0) + 1, ?2, ?3 "
           "WHERE NOT EXISTS (SELECT 1 FROM inspect_guide_steps WHERE seq = ?1 AND key = ?2)");
    if (!st)
        return CX_EDB;
    size_t i;
    json_t *s;
    json_array_foreach(g->steps, i, s)
    {
        char *text = cx_json_dump(s, NULL);
        if (!text)
            return CX_ENOMEM;
        sqlite3_bind_int64(st, 1, g->d.seq);
        sqlite3_bind_text(st, 2, json_string_value(json_object_get(s, "key")), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
        cx_err e = store_done(st);
        free(text);
        if (e != CX_OK)
            return CX_EDB;
    }
    cx_err e;
    g->reply = guide__json(w, &g->d, &e);
    return e;
}

static void guide__done(inspect_job *j, cx_err result)
{
    guide_job *g = (guide_job *)j;
    if (result == CX_OK) {
        atomic_fetch_add(&j->svc->m_guides, 1);
        http_reply_json(j->req, 200, g->reply);
        g->reply = NULL;
    } else {
        http_reply_error(j->req, 503, "unavailable", "the guide could not be stored; retry", NULL);
    }
}

static void guide__free(inspect_job *j)
{
    guide_job *g = (guide_job *)j;
    inspect__decl_clear(&g->d);
    json_decref(g->steps);
    json_decref(g->reply);
    free(g);
}

/* True when every step is stored already (no write needed). */
static bool guide__all_stored(store_conn *c, int64_t seq, const json_t *steps)
{
    sqlite3_stmt *st =
        store_stmt(c, "SELECT 1 FROM inspect_guide_steps WHERE seq = ?1 AND key = ?2");
    if (!st)
        return false;
    size_t i;
    json_t *s;
    bool all = true;
    json_array_foreach(steps, i, s)
    {
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_text(st, 2, json_string_value(json_object_get(s, "key")), -1, SQLITE_STATIC);
        all = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_reset(st);
        if (!all)
            break;
    }
    return all;
}

static void h_guide(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!http_allow_officer(r, "read inspection guides"))
        return;
    inspect_decl d;
    if (!inspect__decl_for(r, s, &d, false))
        return;
    store_conn *c = store_reader(s->store);
    cx_err e = CX_OK;
    if (!inspect__in_inspection(&d)) {
        /* after the decision the guide is kept as it was: shown, not rebuilt */
        json_t *kept = guide__json(c, &d, &e);
        if (kept && json_array_size(json_object_get(kept, "steps"))) {
            inspect__decl_clear(&d);
            http_reply_json(r, 200, kept);
            return;
        }
        json_decref(kept);
        inspect__decl_for(r, s, &d, true); /* replies 409 not_in_inspection */
        return;
    }
    json_t *regions = NULL;
    json_decref(guide__scan(c, d.seq, &regions));
    json_t *steps = inspect_guide_steps(s->rules, d.doc, d.risk, regions);
    json_decref(regions);
    if (guide__all_stored(c, d.seq, steps)) {
        json_t *g = guide__json(c, &d, &e);
        json_decref(steps);
        inspect__decl_clear(&d);
        atomic_fetch_add(&s->m_guides, 1);
        if (g)
            http_reply_json(r, 200, g);
        else
            http_reply_error(r, 503, "unavailable", "the guide cannot be read; retry", NULL);
        return;
    }
    guide_job *g = calloc(1, sizeof *g);
    if (!g) {
        json_decref(steps);
        inspect__decl_clear(&d);
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    g->base = (inspect_job){.req = r, .svc = s, .fn = guide__store, .done = guide__done,
                            .free_fn = guide__free};
    g->d = d;
    g->steps = steps;
    inspect__submit(&g->base);
}

/* ---- POST /v1/declarations/{id}/inspection-guide/steps/{n} ------------------------- */

typedef struct {
    inspect_job base;
    int64_t seq, n;
    bool done_flag;
    char *note, *photos, *by;
    char at[32];
    json_t *problems; /* photos not uploaded for this declaration */
    json_t *reply;
} step_job;

static bool step__sha(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* Each hash of the JSON text photos that was not uploaded for declaration
 * seq goes to problems as /photos/<i>. */
static cx_err guide__photos_known(store_conn *w, int64_t seq, const char *photos_text,
                                  json_t *problems)
{
    json_t *photos = json_loads(photos_text, 0, NULL);
    sqlite3_stmt *ph = store_stmt(w, "SELECT 1 FROM inspect_photo_links WHERE seq = ?1 AND "
                                     "sha256 = ?2");
    if (!photos || !ph) {
        json_decref(photos);
        return photos ? CX_EDB : CX_EINVAL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(photos, i, v)
    {
        char p[32];
        snprintf(p, sizeof p, "/photos/%zu", i);
        sqlite3_bind_int64(ph, 1, seq);
        sqlite3_bind_text(ph, 2, json_string_value(v), -1, SQLITE_STATIC);
        int rc = sqlite3_step(ph);
        sqlite3_reset(ph);
        if (rc == SQLITE_DONE)
            cx_problem_add(problems, p, "no photo with this SHA-256 was uploaded for this "
                                        "declaration (POST …/photos first)");
        else if (rc != SQLITE_ROW) {
            json_decref(photos);
            return CX_EDB;
        }
    }
    json_decref(photos);
    return CX_OK;
}

cx_err inspect_outcome_photos(store_conn *w, int64_t seq, const char *sent, json_t *problems,
                              char **all)
{
    *all = NULL;
    cx_err e = guide__photos_known(w, seq, sent, problems);
    if (e != CX_OK || json_array_size(problems))
        return e;
    /* sent first, then the steps' in step order; each hash once */
    sqlite3_stmt *st = store_stmt(
        w, "WITH p(h, o) AS (SELECT value, key FROM json_each(?2) UNION ALL "
           "SELECT j.value, 1000000 + s.n * 1000 + j.key FROM inspect_guide_steps s, "
           "json_each(s.photos) j WHERE s.seq = ?1) "
           "SELECT h FROM p GROUP BY h ORDER BY min(o)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, sent, -1, SQLITE_STATIC);
    json_t *out = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(out, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        *all = cx_json_dump(out, NULL);
    json_decref(out);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    return *all ? CX_OK : CX_ENOMEM;
}

static cx_err step__store(store_conn *w, inspect_job *j)
{
    step_job *sj = (step_job *)j;
    cx_err e = guide__photos_known(w, sj->seq, sj->photos, sj->problems);
    if (e != CX_OK)
        return e;
    if (json_array_size(sj->problems))
        return CX_EINVAL;
    sqlite3_stmt *st = store_stmt(
        w, "UPDATE inspect_guide_steps SET done = ?3, note = ?4, photos = ?5, by_doc = ?6, "
           "done_at = ?7 WHERE seq = ?1 AND n = ?2");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, sj->seq);
    sqlite3_bind_int64(st, 2, sj->n);
    sqlite3_bind_int(st, 3, sj->done_flag);
    if (sj->note)
        sqlite3_bind_text(st, 4, sj->note, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, sj->photos, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, sj->by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, sj->at, -1, SQLITE_STATIC);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    if (sqlite3_changes(store_conn_db(w)) == 0)
        return CX_ENOTFOUND;
    st = store_stmt(w, "SELECT n, step, done, note, photos, by_doc, done_at "
                       "FROM inspect_guide_steps WHERE seq = ?1 AND n = ?2");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, sj->seq);
    sqlite3_bind_int64(st, 2, sj->n);
    if (sqlite3_step(st) == SQLITE_ROW)
        sj->reply = guide__step_row(st);
    sqlite3_reset(st);
    return sj->reply ? CX_OK : CX_EDB;
}

static void step__done(inspect_job *j, cx_err result)
{
    step_job *sj = (step_job *)j;
    if (result == CX_OK) {
        http_reply_json(j->req, 200, sj->reply);
        sj->reply = NULL;
    } else if (result == CX_ENOTFOUND) {
        http_reply_error(j->req, 404, "not_found",
                         "no such step in this declaration's guide (GET the guide first)", NULL);
    } else if (result == CX_EINVAL) {
        inspect__reply_problems(j->req, "invalid_step", "step", json_incref(sj->problems));
    } else {
        http_reply_error(j->req, 503, "unavailable", "the step could not be stored; retry", NULL);
    }
}

static void step__free(inspect_job *j)
{
    step_job *sj = (step_job *)j;
    free(sj->note);
    free(sj->photos);
    free(sj->by);
    json_decref(sj->problems);
    json_decref(sj->reply);
    free(sj);
}

static json_t *step__check(const json_t *body)
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
        if (strcmp(k, "done") && strcmp(k, "note") && strcmp(k, "photos")) {
            char p[160] = "";
            cx_jptr_push(p, sizeof p, k);
            cx_problem_add(problems, p, "unknown field");
        }
    }
    if (!json_is_boolean(json_object_get(body, "done")))
        cx_problem_add(problems, "/done", json_object_get(body, "done") ? "must be true or false"
                                                                        : "is required");
    const json_t *note = json_object_get(body, "note");
    size_t chars = 0;
    if (note && !json_is_null(note) &&
        (!json_is_string(note) ||
         !cx_utf8_count(json_string_value(note), json_string_length(note), &chars) ||
         chars > INSPECT_TEXT_MAX))
        cx_problem_add(problems, "/note", "must be a string of at most %d characters",
                       INSPECT_TEXT_MAX);
    const json_t *photos = json_object_get(body, "photos");
    if (photos && (!json_is_array(photos) || json_array_size(photos) > GUIDE_PHOTOS_MAX)) {
        cx_problem_add(problems, "/photos", "must be an array of at most %d SHA-256 hashes",
                       GUIDE_PHOTOS_MAX);
    } else if (photos) {
        size_t i;
        json_array_foreach(photos, i, v)
        {
            char p[32];
            snprintf(p, sizeof p, "/photos/%zu", i);
            if (!step__sha(json_string_value(v)))
                cx_problem_add(problems, p, "must be a photo's SHA-256: 64 lowercase hex digits");
        }
    }
    return problems;
}

static void h_step(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!http_allow_officer(r, "record inspection steps"))
        return;
    int64_t n;
    if (!cx_parse_i64(http_param(r, "n"), &n) || n < 1) {
        http_reply_error(r, 404, "not_found", "no such step: steps are numbered from 1", NULL);
        return;
    }
    json_t *body = decl_parse_body(r);
    if (!body)
        return;
    json_t *problems = step__check(body);
    if (json_array_size(problems)) {
        json_decref(body);
        inspect__reply_problems(r, "invalid_step", "step", problems);
        return;
    }
    json_decref(problems);
    inspect_decl d;
    if (!inspect__decl_for(r, s, &d, true)) {
        json_decref(body);
        return;
    }
    step_job *sj = calloc(1, sizeof *sj);
    const json_t *note = json_object_get(body, "note"), *photos = json_object_get(body, "photos");
    json_t *by = inspect__by(http_principal(r));
    if (sj) {
        sj->note = json_is_string(note) ? strdup(json_string_value(note)) : NULL;
        sj->photos = photos ? cx_json_dump(photos, NULL) : strdup("[]");
        sj->by = cx_json_dump(by, NULL);
        sj->problems = json_array();
    }
    json_decref(by);
    if (!sj || !sj->photos || !sj->by || (json_is_string(note) && !sj->note)) {
        if (sj)
            step__free(&sj->base);
        json_decref(body);
        inspect__decl_clear(&d);
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    sj->base = (inspect_job){.req = r, .svc = s, .fn = step__store, .done = step__done,
                             .free_fn = step__free};
    sj->seq = d.seq;
    sj->n = n;
    sj->done_flag = json_is_true(json_object_get(body, "done"));
    cx_rfc3339_format(cx_now_us(), sj->at);
    json_decref(body);
    inspect__decl_clear(&d);
    inspect__submit(&sj->base);
}

/* ---- photos ------------------------------------------------------------------------ */

typedef struct {
    inspect_job base;
    int64_t seq;
    const char *bytes; /* the request's body: alive until the reply */
    size_t len;
    unsigned width, height;
    char sha[65];
    char *by;
    char at[32];
} photo_job;

static cx_err photo__store(store_conn *w, inspect_job *j)
{
    photo_job *p = (photo_job *)j;
    sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO inspect_photos(sha256, bytes, width, "
                                     "height) VALUES(?1, ?2, ?3, ?4)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, p->sha, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 2, p->bytes, p->len, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, (int)p->width);
    sqlite3_bind_int(st, 4, (int)p->height);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    st = store_stmt(w, "INSERT OR IGNORE INTO inspect_photo_links(seq, sha256, by_doc, at) "
                       "VALUES(?1, ?2, ?3, ?4)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, p->seq);
    sqlite3_bind_text(st, 2, p->sha, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, p->by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p->at, -1, SQLITE_STATIC);
    return store_done(st) == CX_OK ? CX_OK : CX_EDB;
}

static void photo__done(inspect_job *j, cx_err result)
{
    photo_job *p = (photo_job *)j;
    if (result == CX_OK) {
        atomic_fetch_add(&j->svc->m_photos, 1);
        http_reply_json(j->req, 201,
                        json_pack("{s:s,s:i,s:i,s:I}", "sha256", p->sha, "width", (int)p->width,
                                  "height", (int)p->height, "bytes", (json_int_t)p->len));
    } else {
        http_reply_error(j->req, 503, "unavailable", "the photo could not be stored; retry", NULL);
    }
}

static void photo__free(inspect_job *j)
{
    photo_job *p = (photo_job *)j;
    free(p->by);
    free(p);
}

static void h_photo_post(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!http_allow_officer(r, "photograph inspections"))
        return;
    size_t len;
    const char *body;
    unsigned w = 0, h = 0;
    if (!inspect__jpeg_body(r, "photo", &body, &len, &w, &h))
        return;
    inspect_decl d;
    if (!inspect__decl_for(r, s, &d, true))
        return;
    photo_job *p = calloc(1, sizeof *p);
    json_t *by = inspect__by(http_principal(r));
    if (p)
        p->by = cx_json_dump(by, NULL);
    json_decref(by);
    if (!p || !p->by) {
        free(p);
        inspect__decl_clear(&d);
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)body, len);
    cx_hex(digest, sizeof digest, p->sha);
    p->base = (inspect_job){.req = r, .svc = s, .fn = photo__store, .done = photo__done,
                            .free_fn = photo__free};
    p->seq = d.seq;
    p->bytes = body;
    p->len = len;
    p->width = w;
    p->height = h;
    cx_rfc3339_format(cx_now_us(), p->at);
    inspect__decl_clear(&d);
    inspect__submit(&p->base);
}

static void h_photo_get(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!http_allow_officer(r, "see inspection photos"))
        return;
    inspect_decl d;
    if (!inspect__decl_for(r, s, &d, false))
        return;
    store_conn *c = store_reader(s->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT p.bytes FROM inspect_photo_links l JOIN "
                                         "inspect_photos p ON p.sha256 = l.sha256 "
                                         "WHERE l.seq = ?1 AND l.sha256 = ?2")
                         : NULL;
    if (!st) {
        inspect__decl_clear(&d);
        http_reply_error(r, 503, "unavailable", "the photo cannot be read; retry", NULL);
        return;
    }
    sqlite3_bind_int64(st, 1, d.seq);
    sqlite3_bind_text(st, 2, http_param(r, "sha256"), -1, SQLITE_STATIC);
    cx_err e = CX_OK;
    if (store_next(st, &e)) {
        http_reply_header(r, "Cache-Control", "private, max-age=31536000, immutable");
        http_reply_copy(r, 200, "image/jpeg", sqlite3_column_blob(st, 0),
                        (size_t)sqlite3_column_bytes(st, 0));
    } else if (e != CX_OK) {
        http_reply_error(r, 503, "unavailable", "the photo cannot be read; retry", NULL);
    } else {
        http_reply_error(r, 404, "not_found", "no such photo for this declaration", NULL);
    }
    sqlite3_reset(st);
    inspect__decl_clear(&d);
}

cx_err inspect__guide_routes(inspect_service *s, http_server *srv)
{
    static const http_route_def defs[] = {
        {"GET", "/v1/declarations/{id}/inspection-guide", HTTP_AUTH, h_guide, NULL},
        {"POST", "/v1/declarations/{id}/inspection-guide/steps/{n}", HTTP_AUTH | HTTP_JSON, h_step,
         NULL},
        {"GET", "/v1/declarations/{id}/photos/{sha256}", HTTP_AUTH, h_photo_get, NULL},
    };
    cx_err e = http_routes(srv, defs, sizeof defs / sizeof defs[0], s);
    static const char *const jpeg[] = {"image/jpeg", NULL};
    if (e == CX_OK)
        e = http_route_ex(srv, "POST", "/v1/declarations/{id}/photos", HTTP_AUTH,
                          &(http_route_opts){.max_body = INSPECT_PHOTO_MAX, .spool = true,
                                             .accept = jpeg, .query = ""},
                          h_photo_post, s);
    return e;
}
