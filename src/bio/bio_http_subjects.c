/* /v1/biometrics: subjects, their templates, erasure, stations, the audit. */
#include "bio_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool bio_parse_expiry(const char *s, int64_t *us)
{
    int y, m, d;
    if (s && strlen(s) == 10 && cx_date_parse(s, &y, &m, &d)) {
        *us = (cx_days_from_civil(y, m, d) + 1) * 86400 * (int64_t)1000000;
        return true;
    }
    return s && cx_rfc3339_parse(s, us) == CX_OK;
}

static const char *bh__id(http_req *r)
{
    const char *id = http_param(r, "id");
    if (!bio_id_valid(id)) {
        http_reply_error1(r, 404, "not_found", "no such subject", "/id",
                          "subject ids are 1 to 64 of A-Z a-z 0-9 . _ : -");
        return NULL;
    }
    return id;
}

void bh__subject_create(http_req *r, void *ctx)
{
    bio_service *b = ctx;
    json_t *doc = bh__officer_body(r, "create biometric subjects");
    if (!doc)
        return;
    json_t *problems = json_array();
    static const char *const known[] = {"id",     "kind",          "name",        "org",
                                        "watchlist", "source_agency", "legal_basis", "expires",
                                        NULL};
    bh__unknown(doc, known, problems);
    bio_subject s = {
        .id = bh__str(doc, "id", problems),
        .kind = bh__str(doc, "kind", problems),
        .name = bh__str(doc, "name", problems),
        .org = bh__str(doc, "org", problems),
        .watchlist = bh__str(doc, "watchlist", problems),
        .source_agency = bh__str(doc, "source_agency", problems),
        .legal_basis = bh__str(doc, "legal_basis", problems),
    };
    if (!s.org)
        s.org = http_principal(r)->org;
    if (!s.watchlist && s.kind && strcmp(s.kind, "watchlist") != 0)
        s.watchlist = "operators"; /* the people verified before they act */
    const char *exp = bh__str(doc, "expires", problems);
    if (exp && !bio_parse_expiry(exp, &s.expires_us))
        cx_problem_add(problems, "/expires", "must be a date (YYYY-MM-DD, valid through that "
                                             "day) or an RFC 3339 date-time");
    /* every problem at once: the subject's own rules too */
    bio_subject_check(&s, problems);
    cx_err e = json_array_size(problems) ? CX_EINVAL : CX_OK;
    if (!e) {
        bio_context c = {.who = http_principal(r)};
        e = bio_subject_create(b, &s, &c, problems);
    }
    if (e == CX_EINVAL)
        bh__problems(r, "invalid_subject", "subject", problems);
    else if (e == CX_EEXIST)
        http_reply_error(r, 409, "exists", "a subject with this id exists", problems);
    else if (e)
        (json_decref(problems), bh__unavailable(r, e));
    else {
        json_decref(problems);
        json_t *out = NULL;
        if (bio_subject_json(b, s.id, &out) == CX_OK)
            http_reply_json(r, 201, out);
        else
            bh__unavailable(r, CX_EDB);
    }
    json_decref(doc);
}

void bh__subject_get(http_req *r, void *ctx)
{
    bio_service *b = ctx;
    if (!http_allow_officer(r, "read biometric subjects"))
        return;
    const char *id = bh__id(r);
    if (!id)
        return;
    json_t *out = NULL;
    cx_err e = bio_subject_json(b, id, &out);
    if (e == CX_OK)
        http_reply_json(r, 200, out);
    else if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such subject", NULL);
    else
        bh__unavailable(r, e);
}

/* The lists give next_cursor as a row position; the client sees it sealed
 * (http_cursor_seal), like every other list's. */
static void bh__seal_cursor(json_t *out)
{
    json_t *pos = json_object_get(out, "next_cursor");
    if (!json_is_integer(pos))
        return;
    char sealed[HTTP_CURSOR_MAX];
    http_cursor_seal(json_integer_value(pos), sealed);
    json_object_set_new(out, "next_cursor", json_string(sealed));
}

void bh__subject_list(http_req *r, void *ctx)
{
    bio_service *b = ctx;
    if (!http_allow_officer(r, "list biometric subjects"))
        return;
    json_t *problems = json_array();
    const char *wl = http_query(r, "watchlist");
    http_page pg;
    if (wl && !bio_id_valid(wl))
        cx_problem_add(problems, "/watchlist", "must be 1 to 64 of A-Z a-z 0-9 . _ : -");
    http_page_check(r, HTTP_CURSOR_INT, 100, 1000, &pg, problems);
    if (json_array_size(problems)) {
        http_bad_queries(r, problems);
        return;
    }
    json_decref(problems);
    json_t *out = NULL;
    cx_err e = bio_subject_list(b, wl, pg.after, (size_t)pg.limit, &out);
    bh__seal_cursor(out);
    bh__reply(r, e, out);
}

void bh__subject_erase(http_req *r, void *ctx)
{
    bio_service *b = ctx;
    if (!http_allow_officer(r, "erase biometric subjects"))
        return;
    const char *id = bh__id(r);
    if (!id)
        return;
    bio_context c = {.who = http_principal(r), .purpose = http_query(r, "purpose")};
    cx_err e = bio_erase(b, id, &c);
    if (e == CX_OK)
        http_reply(r, 204, "application/json", NULL, 0);
    else if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such subject", NULL);
    else
        bh__unavailable(r, e);
}

/* ---- templates --------------------------------------------------------------------- */

/* The body as template bytes: octet-stream, or JSON {"format","data_base64",
 * "finger"}; or a face descriptor {"model","vector"}. */
static bool bh__template_body(http_req *r, json_t *problems, uint8_t **bytes, size_t *len,
                              bio_format *fmt, int *finger, bio_face *face, json_t **doc)
{
    const char *ct = http_header(r, "Content-Type");
    size_t n;
    const char *body = http_body(r, &n);
    *doc = NULL;
    if (ct && strncmp(ct, "application/octet-stream", 24) == 0) {
        const char *fs = http_query(r, "format"), *fg = http_query(r, "finger");
        unsigned code;
        int64_t num;
        if (fs && !bio_format_parse(fs, fmt))
            cx_problem_add(problems, "/format", "must be auto or a template format name");
        if (fg && !bio_finger_parse(fg, &code) && !(cx_parse_i64(fg, &num) && num >= 0 &&
                                                    num <= 10 && ((code = (unsigned)num), 1)))
            cx_problem_add(problems, "/finger", "must be a finger name (right_thumb … "
                                                "left_little) or position code 0..10");
        else if (fg)
            *finger = (int)code;
        *bytes = malloc(n ? n : 1);
        if (*bytes)
            memcpy(*bytes, body, n);
        *len = n;
        return *bytes != NULL;
    }
    if (!ct || strncmp(ct, "application/json", 16) != 0) {
        cx_problem_add(problems, "", "send application/octet-stream (the template's bytes) or "
                                     "application/json");
        return false;
    }
    if (!(*doc = bh__parse(r)))
        return false;
    if (json_object_get(*doc, "vector"))
        return bio_face_from_json(*doc, "", face, problems) == CX_OK;
    static const char *const known[] = {"format", "data_base64", "finger", NULL};
    bh__unknown(*doc, known, problems);
    const char *fs = bh__str(*doc, "format", problems);
    const char *b64 = bh__str(*doc, "data_base64", problems);
    const json_t *fg = json_object_get(*doc, "finger");
    unsigned code;
    if (fs && !bio_format_parse(fs, fmt))
        cx_problem_add(problems, "/format", "must be auto or a template format name");
    if (fg && !(json_is_string(fg) && bio_finger_parse(json_string_value(fg), &code)) &&
        !(json_is_integer(fg) && json_integer_value(fg) >= 0 && json_integer_value(fg) <= 10 &&
          ((code = (unsigned)json_integer_value(fg)), 1)))
        cx_problem_add(problems, "/finger", "must be a finger name (right_thumb … left_little) "
                                            "or position code 0..10");
    else if (fg)
        *finger = (int)code;
    if (!b64)
        cx_problem_add(problems, "/data_base64", "is required: the template's bytes in base64");
    else
        *bytes = bh__base64(b64, "/data_base64", len, problems);
    return *bytes != NULL;
}

static bool bh__fatal(const bio_problems *pr)
{
    for (size_t i = 0; i < pr->count && i < BIO_PROBLEMS_MAX; i++)
        if (pr->items[i].fatal)
            return true;
    return false;
}

void bh__template_add(http_req *r, void *ctx)
{
    bio_service *b = ctx;
    if (!http_allow_officer(r, "enrol biometric templates"))
        return;
    const char *id = bh__id(r);
    if (!id)
        return;
    json_t *problems = json_array(), *doc = NULL;
    uint8_t *bytes = NULL;
    size_t len = 0;
    bio_format fmt = BIO_FMT_AUTO;
    int finger = -1;
    bio_face face = {0};
    bool ok = bh__template_body(r, problems, &bytes, &len, &fmt, &finger, &face, &doc);
    if (!ok && !json_array_size(problems) && !doc) {
        /* bh__parse answered already */
        json_decref(problems);
        return;
    }
    if (!ok || json_array_size(problems)) {
        bh__problems(r, "invalid_template", "template", problems);
        free(bytes);
        free(face.v);
        json_decref(doc);
        return;
    }
    bio_context c = {.who = http_principal(r)};
    char tid[CX_ID_LEN + 1] = "";
    bio_problems pr = {0};
    cx_err e = face.v ? bio_enrol_face(b, id, &face, &c, tid)
                      : bio_enrol_template(b, id, bytes, len, fmt, finger, &c, tid, &pr);
    const char *ptr = doc ? "/data_base64" : "";
    if (e == CX_OK) {
        json_t *out = json_pack("{s:s,s:s,s:s}", "id", tid, "subject", id, "modality",
                                face.v ? "face" : "finger");
        if (face.v) {
            json_object_set_new(out, "model", json_string(face.model));
            json_object_set_new(out, "dimension", json_integer((json_int_t)face.dim));
        } else {
            json_t *warn = json_array();
            bh__template_problems(&pr, ptr, false, warn);
            json_object_set_new(out, "warnings", warn);
        }
        http_reply_json(r, 201, out);
        json_decref(problems);
    } else if (e == CX_ETOOBIG && !bh__fatal(&pr)) {
        json_decref(problems);
        http_reply_error(r, 409, "too_many_templates",
                         "the subject has the most templates a subject may have", NULL);
    } else if (e == CX_EPARSE || e == CX_ETOOBIG) {
        bh__template_problems(&pr, ptr, true, problems);
        bh__problems(r, "invalid_template", "template", problems);
    } else if (e == CX_EINVAL) {
        cx_problem_add(problems, ptr, "the template has no minutiae");
        bh__problems(r, "invalid_template", "template", problems);
    } else if (e == CX_ENOTFOUND) {
        json_decref(problems);
        http_reply_error(r, 404, "not_found", "no such subject", NULL);
    } else if (e == CX_ESTATE) {
        http_reply_error1(r, 409, "model_clash", "the watchlist holds descriptors of this "
                                                 "model with another dimension (or too many "
                                                 "models)",
                          "/vector", "has the wrong dimension for this model");
        json_decref(problems);
    } else {
        json_decref(problems);
        bh__unavailable(r, e);
    }
    free(bytes);
    free(face.v);
    json_decref(doc);
}

/* ---- stations ---------------------------------------------------------------------- */

void bh__station_add(http_req *r, void *ctx)
{
    bio_service *b = ctx;
    json_t *doc = bh__officer_body(r, "register capture stations");
    if (!doc)
        return;
    json_t *problems = json_array();
    static const char *const known[] = {"key_id", "name", "any_org", NULL};
    bh__unknown(doc, known, problems);
    const json_t *k = json_object_get(doc, "key_id");
    if (!json_is_integer(k) || json_integer_value(k) < 1)
        cx_problem_add(problems, "/key_id", "is required: the id of a device key "
                                            "('customs keys list')");
    const char *name = bh__str(doc, "name", problems);
    if (name && strlen(name) > 200)
        cx_problem_add(problems, "/name", "must be at most 200 bytes");
    const json_t *any = json_object_get(doc, "any_org");
    if (any && !json_is_boolean(any))
        cx_problem_add(problems, "/any_org", "must be true or false");
    if (json_is_true(any) && http_principal(r)->role != CX_ROLE_ADMIN)
        cx_problem_add(problems, "/any_org", "only an admin may let a station verify every "
                                             "organisation's subjects");
    if (json_array_size(problems)) {
        bh__problems(r, "invalid_station", "station", problems);
        json_decref(doc);
        return;
    }
    json_decref(problems);
    int64_t key_id = json_integer_value(k);
    cx_err e = bio_station_register(b, key_id, name, json_is_true(any), http_principal(r));
    if (e == CX_OK) {
        http_reply_json(r, 201, json_pack("{s:I,s:s,s:b}", "key_id", (json_int_t)key_id, "name",
                                          name ? name : "", "any_org", json_is_true(any)));
    } else if (e == CX_ENOTFOUND || e == CX_EINVAL) {
        http_reply_error1(r, 400, "invalid_station", "not a live device key", "/key_id",
                          e == CX_EINVAL ? "is not a device key" : "is not a live key");
    } else {
        bh__unavailable(r, e);
    }
    json_decref(doc);
}

void bh__station_list(http_req *r, void *ctx)
{
    bio_service *b = ctx;
    if (!http_allow_officer(r, "list capture stations"))
        return;
    json_t *out = NULL;
    cx_err e = bio_station_list(b, &out);
    bh__reply(r, e, out);
}

/* ---- the audit ---------------------------------------------------------------------- */

void bh__audit(http_req *r, void *ctx)
{
    store *s = ctx;
    if (!http_allow_officer(r, "read the biometric audit"))
        return;
    json_t *problems = json_array();
    bio_audit_query q = {.subject = http_query(r, "subject"), .action = http_query(r, "action")};
    const char *from = http_query(r, "from"), *to = http_query(r, "to");
    static const char *const actions[] = {"verify", "identify", "enrol", "erase", "expire"};
    bool action_ok = !q.action;
    for (size_t i = 0; q.action && i < 5; i++)
        action_ok |= strcmp(q.action, actions[i]) == 0;
    if (!action_ok)
        cx_problem_add(problems, "/action", "must be one of verify, identify, enrol, erase, "
                                            "expire");
    if (q.subject && !bio_id_valid(q.subject))
        cx_problem_add(problems, "/subject", "must be a subject id");
    if (from && cx_rfc3339_parse(from, &q.from_us) != CX_OK)
        cx_problem_add(problems, "/from", "must be an RFC 3339 date-time");
    if (to && cx_rfc3339_parse(to, &q.to_us) != CX_OK)
        cx_problem_add(problems, "/to", "must be an RFC 3339 date-time");
    http_page pg; /* newest first: the cursor is the seq the next page stays below */
    http_page_check(r, HTTP_CURSOR_INT, 100, 1000, &pg, problems);
    if (json_array_size(problems)) {
        http_bad_queries(r, problems);
        return;
    }
    json_decref(problems);
    q.limit = (size_t)pg.limit;
    q.before_seq = pg.after;
    json_t *out = NULL;
    cx_err e = bio_audit_list(s, &q, &out);
    bh__seal_cursor(out);
    bh__reply(r, e, out);
}
