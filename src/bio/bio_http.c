/* The /v1/biometrics API (docs/biometrics.md has every shape). Roles: only
 * officers and admins create subjects, enrol, identify, erase, register
 * stations and read the audit; verification is for officers, admins and
 * registered capture stations (the service decides per subject). */
#include "bio_http.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_PURPOSE_MAX 200
#define HTTP_CANDIDATES_MAX 100

/* ---- helpers ----------------------------------------------------------------------- */

json_t *bh__parse(http_req *r)
{
    json_t *doc = http_body_json(r);
    if (!doc)
        return NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        http_reply_error1(r, 400, "invalid_body", "the body must be a JSON object", "",
                          "must be an object");
        return NULL;
    }
    return doc;
}

json_t *bh__officer_body(http_req *r, const char *what)
{
    return http_allow_officer(r, what) ? bh__parse(r) : NULL;
}

/* Every member of doc must be in known (NULL-terminated). */
void bh__unknown(const json_t *doc, const char *const *known, json_t *problems)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)doc, key, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = strcmp(key, known[i]) == 0;
        if (!ok) {
            char p[160] = "";
            cx_jptr_push(p, sizeof p, key);
            cx_problem_add(problems, p, "unknown field");
        }
    }
}

/* An optional string member; a problem if present and not a string. */
const char *bh__str(const json_t *doc, const char *key, json_t *problems)
{
    const json_t *v = json_object_get(doc, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        char p[64] = "";
        cx_jptr_push(p, sizeof p, key);
        cx_problem_add(problems, p, "must be a string");
        return NULL;
    }
    return json_string_value(v);
}

void bh__problems(http_req *r, const char *code, const char *what, json_t *problems)
{
    char m[160];
    size_t n = json_array_size(problems);
    snprintf(m, sizeof m, "the %s has %zu problem%s", what, n, n == 1 ? "" : "s");
    http_reply_error(r, 400, code, m, problems);
}

void bh__unavailable(http_req *r, cx_err e)
{
    cx_log(CX_LOG_ERROR, "bio: %s %s failed: %s", http_method(r), http_path(r), cx_strerror(e));
    http_reply_error(r, 503, "unavailable", "the request could not be completed; retry", NULL);
}

void bh__reply(http_req *r, cx_err e, json_t *out)
{
    if (e) {
        json_decref(out);
        bh__unavailable(r, e);
    } else {
        http_reply_json(r, 200, out);
    }
}

/* The problems of a template parse as API problems under ptr. */
void bh__template_problems(const bio_problems *pr, const char *ptr, bool fatal_only,
                           json_t *problems)
{
    size_t n = pr->count < BIO_PROBLEMS_MAX ? pr->count : BIO_PROBLEMS_MAX;
    for (size_t i = 0; i < n; i++) {
        if (fatal_only && !pr->items[i].fatal)
            continue;
        json_t *p = cx_problem_add(problems, ptr, "byte %u: %s", pr->items[i].offset,
                                   pr->items[i].rule);
        if (p)
            json_object_set_new(p, "offset", json_integer(pr->items[i].offset));
    }
}

/* Decodes standard (or URL-safe) base64; NULL and a problem if it is not. */
uint8_t *bh__base64(const char *s, const char *ptr, size_t *len, json_t *problems)
{
    size_t n = strlen(s), cap = n / 4 * 3 + 3;
    uint8_t *out = malloc(cap ? cap : 1);
    if (!out)
        return NULL;
    size_t got = 0;
    const char *end = NULL;
    int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                      sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    for (size_t v = 0; v < 4; v++)
        if (sodium_base642bin(out, cap, s, n, NULL, &got, &end, variants[v]) == 0 &&
            end == s + n && got > 0) {
            *len = got;
            return out;
        }
    free(out);
    cx_problem_add(problems, ptr, "must be base64 of the template's bytes");
    return NULL;
}

/* A probe from a JSON body: {"template_base64", "format"?} or
 * {"descriptor": {"model","vector"}}. Fills exactly one of *feat, face. */
static bool bh__probe(const json_t *doc, json_t *problems, bio_features **feat, bio_face *face)
{
    *feat = NULL;
    memset(face, 0, sizeof *face);
    const char *b64 = bh__str(doc, "template_base64", problems);
    const json_t *desc = json_object_get(doc, "descriptor");
    const char *fmt_s = bh__str(doc, "format", problems);
    bio_format fmt = BIO_FMT_AUTO;
    if (fmt_s && !bio_format_parse(fmt_s, &fmt))
        cx_problem_add(problems, "/format",
                       "must be one of auto, iso-19794-2:2005, iso-19794-2:2011, ansi-378:2004, "
                       "ansi-378:2009, ansi-378:2009/am1");
    if ((b64 != NULL) == (desc != NULL)) {
        cx_problem_add(problems, "", "give exactly one of template_base64 and descriptor");
        return false;
    }
    if (desc)
        return bio_face_from_json(desc, "/descriptor", face, problems) == CX_OK;
    size_t n;
    uint8_t *bytes = bh__base64(b64, "/template_base64", &n, problems);
    if (!bytes || json_array_size(problems)) {
        free(bytes);
        return false;
    }
    bio_template *t = NULL;
    bio_problems pr;
    cx_err e = bio_template_parse(bytes, n, fmt, BIO_PARSE_PERMISSIVE, &t, &pr);
    free(bytes);
    if (e) {
        bh__template_problems(&pr, "/template_base64", true, problems);
        if (!json_array_size(problems))
            cx_problem_add(problems, "/template_base64", "is not a template: %s",
                           cx_strerror(e));
        return false;
    }
    e = bio_features_new(t, feat);
    bio_template_free(t);
    if (e) {
        cx_problem_add(problems, "/template_base64", "has no minutiae to match");
        return false;
    }
    return true;
}

const char *bh__purpose(const json_t *doc, json_t *problems)
{
    const char *p = bh__str(doc, "purpose", problems);
    size_t chars;
    if (!p || !*p) {
        cx_problem_add(problems, "/purpose", "is required: the case or declaration reference "
                                             "this search serves");
        return NULL;
    }
    if (!cx_utf8_count(p, strlen(p), &chars) || chars > HTTP_PURPOSE_MAX) {
        cx_problem_add(problems, "/purpose", "must be at most %d characters", HTTP_PURPOSE_MAX);
        return NULL;
    }
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20) {
            cx_problem_add(problems, "/purpose", "must not contain control characters");
            return NULL;
        }
    return p;
}

/* ---- verify and identify ------------------------------------------------------------- */

static void bh__verify(http_req *r, void *ctx)
{
    bio_service *b = ctx;
    json_t *doc = bh__parse(r);
    if (!doc)
        return;
    json_t *problems = json_array();
    static const char *const known[] = {"subject",  "template_base64", "descriptor",
                                        "format",   "purpose",         NULL};
    bh__unknown(doc, known, problems);
    const char *subject = bh__str(doc, "subject", problems);
    if (!subject || !bio_id_valid(subject))
        cx_problem_add(problems, "/subject", "is required: a subject id");
    const char *purpose = bh__purpose(doc, problems);
    bio_features *feat = NULL;
    bio_face face = {0};
    if (!json_array_size(problems))
        bh__probe(doc, problems, &feat, &face);
    if (json_array_size(problems)) {
        bh__problems(r, "invalid_verification", "verification", problems);
        bio_features_free(feat);
        free(face.v);
        json_decref(doc);
        return;
    }
    json_decref(problems);
    const cx_principal *who = http_principal(r);
    bio_context c = {.who = who, .purpose = purpose,
                     .station = who->role == CX_ROLE_DEVICE ? who->key_id : 0};
    bio_probe p = {.finger = feat, .face = face.v ? &face : NULL};
    bool match;
    double score, thr;
    char why[200];
    cx_err e = bio_verify(b, subject, &p, &c, &match, &score, &thr, why, sizeof why);
    bio_features_free(feat);
    free(face.v);
    if (e == CX_OK)
        http_reply_json(r, 200, json_pack("{s:b,s:f,s:f}", "match", match, "score", score,
                                          "threshold", thr));
    else if (e == CX_ENOTFOUND)
        http_reply_error1(r, 404, "not_found", "no such subject", "/subject", "is not enrolled");
    else if (e == CX_EFORBIDDEN)
        http_reply_error(r, 403, "forbidden", why, NULL);
    else if (e == CX_ESTATE)
        http_reply_error1(r, 409, "nothing_to_compare", why, p.face ? "/descriptor"
                                                                    : "/template_base64",
                          why);
    else
        bh__unavailable(r, e);
    json_decref(doc);
}

static json_t *bh__candidates(const bio_candidate *c, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s,s:f,s:s,s:s,s:s}", "subject", c[i].subject, "score",
                              c[i].score, "kind", c[i].kind, "source_agency",
                              c[i].source_agency, "legal_basis", c[i].legal_basis);
        const char *finger = c[i].finger >= 0 ? bio_finger_name((unsigned)c[i].finger) : NULL;
        json_object_set_new(o, "finger", finger ? json_string(finger) : json_null());
        json_array_append_new(a, o);
    }
    return a;
}

static void bh__identify(http_req *r, void *ctx)
{
    bio_service *b = ctx;
    json_t *doc = bh__officer_body(r, "search watchlists");
    if (!doc)
        return;
    json_t *problems = json_array();
    static const char *const known[] = {"watchlist", "template_base64", "descriptor", "format",
                                        "purpose",   "limit",           "min_score",  NULL};
    bh__unknown(doc, known, problems);
    const char *watchlist = bh__str(doc, "watchlist", problems);
    if (!watchlist || !bio_id_valid(watchlist))
        cx_problem_add(problems, "/watchlist", "is required: the watchlist to search");
    const char *purpose = bh__purpose(doc, problems);
    const json_t *lim = json_object_get(doc, "limit");
    json_int_t limit = 10;
    if (lim && (!json_is_integer(lim) || (limit = json_integer_value(lim)) < 1 ||
                limit > HTTP_CANDIDATES_MAX))
        cx_problem_add(problems, "/limit", "must be an integer from 1 to %d",
                       HTTP_CANDIDATES_MAX);
    const json_t *ms = json_object_get(doc, "min_score");
    double min_score = json_number_value(ms);
    if (ms && (!json_is_number(ms) || !isfinite(min_score)))
        cx_problem_add(problems, "/min_score", "must be a number");
    bio_features *feat = NULL;
    bio_face face = {0};
    if (!json_array_size(problems))
        bh__probe(doc, problems, &feat, &face);
    if (json_array_size(problems)) {
        bh__problems(r, "invalid_identification", "identification", problems);
        bio_features_free(feat);
        free(face.v);
        json_decref(doc);
        return;
    }
    json_decref(problems);
    if (!ms) /* by default only what could be a match is shown */
        min_score = face.v ? bio_service_config(b)->face_threshold - 0.1
                           : bio_service_config(b)->threshold - 10;
    bio_context c = {.who = http_principal(r), .purpose = purpose};
    bio_probe p = {.finger = feat, .face = face.v ? &face : NULL};
    bio_candidate *cands = calloc((size_t)limit, sizeof *cands);
    size_t n = 0;
    cx_err e = cands ? bio_identify(b, watchlist, &p, &c, (size_t)limit, min_score, cands, &n)
                     : CX_ENOMEM;
    bio_features_free(feat);
    free(face.v);
    if (e == CX_OK)
        http_reply_json(r, 200, json_pack("{s:o,s:f}", "candidates", bh__candidates(cands, n),
                                          "threshold",
                                          p.face ? bio_service_config(b)->face_threshold
                                                 : bio_service_config(b)->threshold));
    else if (e == CX_ENOTFOUND)
        http_reply_error1(r, 404, "not_found", "no such watchlist", "/watchlist",
                          "has no subjects");
    else
        bh__unavailable(r, e);
    free(cands);
    json_decref(doc);
}

/* ---- routes -------------------------------------------------------------------------- */

/* The caller's own verification state: whether a decision made with this
 * key would pass the gate now (the console's decision card asks). */
static void bh__verification(http_req *r, void *ctx)
{
    const bio_host *c = ctx;
    const cx_principal *p = http_principal(r);
    if (!p->subject[0]) {
        http_reply_json(r, 200, json_pack("{s:n,s:b}", "subject", "required", false));
        return;
    }
    store_conn *conn = store_reader(c->s);
    int64_t last = 0;
    cx_err e = conn ? bio_verified_last(conn, p->subject, &last) : CX_EDB;
    if (e) {
        bh__unavailable(r, e);
        return;
    }
    int64_t window = c->window_s > 0 ? c->window_s : 12 * 3600;
    int64_t until = last ? last + window * 1000000 : 0;
    bool fresh = last && until > cx_now_us();
    json_t *o = json_pack("{s:s,s:b,s:b,s:I}", "subject", p->subject, "required", !fresh,
                          "verified", fresh, "window_hours", (json_int_t)(window / 3600));
    char t[32];
    if (last) {
        cx_rfc3339_format(last, t);
        json_object_set_new(o, "last_verified_at", json_string(t));
        cx_rfc3339_format(until, t);
        json_object_set_new(o, "valid_until", json_string(t));
    }
    http_reply_json(r, 200, o);
}

/* A server without the master key: the routes exist (the API is the same
 * everywhere) and say why they cannot answer. */
static void bh__unconfigured(http_req *r, void *ctx)
{
    (void)ctx;
    http_reply_error(r, 503, "biometrics_unavailable",
                     "biometrics are not enabled on this server: it was started without "
                     "--bio-key",
                     NULL);
}

cx_err bio_routes(const bio_host *host, http_server *srv)
{
    bio_service *b = host->svc;
    const http_route_def service[] = {
        {"POST", "/v1/biometrics/subjects", HTTP_AUTH | HTTP_JSON,
         b ? bh__subject_create : bh__unconfigured, NULL},
        {"GET", "/v1/biometrics/subjects", HTTP_AUTH, b ? bh__subject_list : bh__unconfigured,
         "watchlist limit cursor"},
        {"POST", "/v1/biometrics/subjects/{id}/templates", HTTP_AUTH,
         b ? bh__template_add : bh__unconfigured, "format finger"},
        {"GET", "/v1/biometrics/subjects/{id}", HTTP_AUTH, b ? bh__subject_get : bh__unconfigured,
         NULL},
        {"DELETE", "/v1/biometrics/subjects/{id}", HTTP_AUTH,
         b ? bh__subject_erase : bh__unconfigured, "purpose"},
        {"POST", "/v1/biometrics/verify", HTTP_AUTH | HTTP_JSON, b ? bh__verify : bh__unconfigured,
         NULL},
        {"POST", "/v1/biometrics/identify", HTTP_AUTH | HTTP_JSON,
         b ? bh__identify : bh__unconfigured, NULL},
        {"POST", "/v1/biometrics/stations", HTTP_AUTH | HTTP_JSON,
         b ? bh__station_add : bh__unconfigured, NULL},
        {"GET", "/v1/biometrics/stations", HTTP_AUTH, b ? bh__station_list : bh__unconfigured,
         NULL},
    };
    const http_route_def store_only[] = {
        {"GET", "/v1/biometrics/audit", HTTP_AUTH, bh__audit,
         "subject action from to limit cursor"},
    };
    const http_route_def own[] = {
        {"GET", "/v1/biometrics/verification", HTTP_AUTH, bh__verification, NULL},
    };
    cx_err e = http_routes(srv, service, sizeof service / sizeof service[0], b);
    if (!e)
        e = http_routes(srv, store_only, 1, host->s);
    if (!e)
        e = http_routes(srv, own, 1, (void *)host);
    return e;
}
