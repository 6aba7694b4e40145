/* GET/POST /v1/declarations/{id}/assessment and GET /v1/revenue/summary. */
#include "revenue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUMMARY_MAX_DAYS 366
#define SUMMARY_MAX_GROUPS 10000

/* ---- reading an assessment ---------------------------------------------------------------- */
/* Every version: the earlier ones from the history, then the current.
 * A read or an item that fails sets *e (the list is short). */
static json_t *h__versions(store_conn *c, int64_t seq, cx_err *e)
{
    json_t *out = json_array();
    sqlite3_stmt *st = store_stmt(c, "SELECT version, reason, by_org, at FROM "
                                     "revenue_assessment_versions WHERE seq=?1 UNION ALL "
                                     "SELECT version, reason, by_org, assessed_at FROM "
                                     "revenue_assessments WHERE seq=?1 ORDER BY 1");
    if (!st) {
        *e = CX_EDB;
        return out;
    }
    sqlite3_bind_int64(st, 1, seq);
    while (store_next(st, e))
        cx_json_push(out,
                     json_pack("{s:I,s:s,s:s?,s:s}", "version",
                               (json_int_t)sqlite3_column_int64(st, 0), "reason",
                               (const char *)sqlite3_column_text(st, 1), "by",
                               (const char *)sqlite3_column_text(st, 2), "at",
                               (const char *)sqlite3_column_text(st, 3)),
                     e);
    sqlite3_reset(st);
    return out;
}

static json_t *h__refunds(store_conn *c, int64_t seq, int exp, cx_err *e)
{
    json_t *out = json_array();
    sqlite3_stmt *st = store_stmt(c, "SELECT " REV_REFUND_COLUMNS " FROM revenue_refunds f "
                                     "LEFT JOIN revenue_assessments a ON a.seq = f.seq "
                                     "WHERE f.seq=?1 ORDER BY f.id");
    if (!st) {
        *e = CX_EDB;
        return out;
    }
    sqlite3_bind_int64(st, 1, seq);
    while (store_next(st, e))
        cx_json_push(out, rev__refund_json(st, exp), e);
    sqlite3_reset(st);
    return out;
}

static void h_assessment(http_req *r, void *ctx)
{
    rev_service *rs = ctx;
    if (!http_allow(r, REV_ROLES_TRADER, "read assessments"))
        return;
    store_conn *c;
    rev_account a;
    if (!rev__account_of(rs, r, &c, &a))
        return;
    int64_t seq = a.seq;
    /* officers see the valuation control; traders the public form */
    json_t *doc;
    cx_err e = rev__assessment_read(rs->d, c, seq, cx_is_officer(http_principal(r)), &doc);
    if (e == CX_ENOTFOUND) {
        http_reply_error(r, 404, "not_found", "this declaration has no assessment", NULL);
        return;
    }
    if (e != CX_OK) {
        http_reply_failed(r, e);
        return;
    }
    json_t *versions = h__versions(c, seq, &e), *refunds = h__refunds(c, seq, a.exp, &e);
    if (e != CX_OK) {
        json_decref(doc);
        json_decref(versions);
        json_decref(refunds);
        http_reply_failed(r, e);
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o,s:o,s:o,s:o}", "assessment", doc, "balance",
                                      rev__account_json(&a), "versions", versions, "refunds",
                                      refunds));
}

/* ---- re-assessment ---------------------------------------------------------------------------- */
typedef struct {
    rev_call c;
    int64_t seq;
    json_t *assessment; /* the new one, assessed on the HTTP thread */
    json_t *doc;        /* the declaration (for a first assessment) */
    char reason[512], by[CX_ORG_MAX + 1];
} reassess_job;

static void reassess__free(rev_call *c)
{
    reassess_job *j = (reassess_job *)c;
    json_decref(j->assessment);
    json_decref(j->doc);
}

static cx_err reassess__job(store_conn *w, void *arg)
{
    reassess_job *j = arg;
    rev_account after;
    cx_err e = rev__row_ensure_in(w, j->seq);
    if (e == CX_OK)
        e = rev__account_read(w, j->seq, &after);
    if (e == CX_ENOTFOUND) {
        /* lodged while the module was off: its first assessment */
        char now[32];
        cx_rfc3339_format(cx_now_us(), now);
        json_object_set_new(j->assessment, "version", json_integer(1));
        json_object_set_new(j->assessment, "assessed_at", json_string(now));
        e = rev__assessment_insert(w, j->seq, j->doc, j->assessment, j->reason, j->by);
        if (e == CX_OK)
            e = rev__account_read(w, j->seq, &after);
    } else if (e == CX_OK) {
        e = rev__reassess(j->c.r->d, w, j->seq, j->assessment, j->reason, j->by, &after);
    }
    if (e == CX_OK)
        e = rev__tell_reassessed(j->c.r, w, j->seq);
    if (e != CX_OK)
        return e;
    json_t *doc; /* officers and admins only: the full form */
    e = rev__assessment_read(j->c.r->d, w, j->seq, true, &doc);
    if (e != CX_OK) /* never "assessment": null in a 200: the job fails, nothing is kept */
        return e;
    j->c.ok_status = 200;
    rev__call_body(&j->c, json_pack("{s:o,s:o}", "assessment", doc, "balance",
                                    rev__account_json(&after)));
    return CX_OK;
}

typedef struct {
    char *text;
    size_t len;
} doc_copy;

static bool h__copy(void *ctx, const char *id, const char *doc, size_t len)
{
    doc_copy *d = ctx;
    (void)id;
    d->text = malloc(len + 1);
    if (d->text) {
        memcpy(d->text, doc, len);
        d->text[len] = '\0';
        d->len = len;
    }
    return false;
}

static void h_reassess(http_req *r, void *ctx)
{
    rev_service *rs = ctx;
    if (!http_allow_officer(r, "re-assess declarations"))
        return;
    json_t *body = decl_parse_body(r);
    if (!body)
        return;
    json_t *problems = json_array();
    static const char *const allowed[] = {"reason", NULL};
    if (!json_is_object(body))
        cx_problem_add(problems, "", "must be an object");
    else
        rev__members(body, allowed, allowed, problems);
    const char *reason = json_string_value(json_object_get(body, "reason"));
    size_t chars = 0;
    if (json_object_get(body, "reason") &&
        (!reason || !cx_utf8_count(reason, strlen(reason), &chars) || chars < 1 || chars > 500))
        cx_problem_add(problems, "/reason", "must be a string of 1 to 500 characters");
    if (json_array_size(problems)) {
        json_decref(body);
        http_reply_error(r, 400, "invalid_reassessment", "the re-assessment has problems",
                         problems);
        return;
    }
    json_decref(problems);
    int64_t seq;
    char org[CX_ORG_MAX + 1];
    if (!rs->active) {
        json_decref(body);
        http_reply_error(r, 409, "revenue_inactive",
                         "no national currency is set (customs serve --currency CODE)", NULL);
        return;
    }
    if (!rev__declaration(rs, r, &seq, org)) {
        json_decref(body);
        return;
    }
    doc_copy d = {NULL, 0};
    store_conn *c = store_reader(rs->s);
    char msg[200];
    json_t *doc = NULL;
    if (c && decl_doc(c, http_param(r, "id"), h__copy, &d) == CX_OK && d.text)
        doc = decl_parse(d.text, d.len, msg, sizeof msg);
    json_t *a = doc ? rev__assess_doc(rs, NULL, doc, d.text, d.len, false) : NULL;
    free(d.text);
    reassess_job *j = a ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        json_decref(a);
        json_decref(doc);
        json_decref(body);
        http_reply_error(r, 503, "unavailable", "the declaration could not be re-assessed", NULL);
        return;
    }
    j->seq = seq;
    j->assessment = a;
    j->doc = doc;
    snprintf(j->reason, sizeof j->reason, "%s", reason);
    snprintf(j->by, sizeof j->by, "%s", http_principal(r)->org);
    j->c.free_extra = reassess__free;
    json_decref(body);
    rev__call_submit(rs, &j->c, r, reassess__job);
}

/* ---- the summary --------------------------------------------------------------------------------- */
typedef struct {
    char key[REV_GROUP_MAX + CX_ORG_MAX];
    int64_t declarations, assessed, paid, refunded, outstanding, guaranteed, at_risk, unresolved;
    int64_t recovered;
} sum_row;

typedef struct {
    sum_row *rows;
    size_t n, cap;
    bool full;
} sum_set;

static sum_row *sum__get(sum_set *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++) /* groups are few (offices, chapters, traders) */
        if (strcmp(s->rows[i].key, key) == 0)
            return &s->rows[i];
    if (s->n == SUMMARY_MAX_GROUPS) {
        s->full = true;
        return NULL;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        sum_row *p = realloc(s->rows, nc * sizeof *p);
        if (!p)
            return NULL;
        s->rows = p;
        s->cap = nc;
    }
    sum_row *r = &s->rows[s->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", key);
    return r;
}

/* Splits a declaration's payments and guarantee over its chapters in
 * proportion to their assessed amounts (integers; the remainder goes to the
 * largest share, so the parts add up to the whole). */
static void sum__split(int64_t whole, const int64_t *parts, size_t n, int64_t total,
                       int64_t *out)
{
    int64_t given = 0;
    size_t big = 0;
    for (size_t k = 0; k < n; k++) {
        out[k] = total > 0 ? (int64_t)((rev_i128)whole * parts[k] / total) : 0;
        given += out[k];
        if (parts[k] > parts[big])
            big = k;
    }
    if (n)
        out[big] += whole - given;
}

static void sum__chapters(sum_set *s, const char *doc, int exp, const sum_row *one)
{
    int64_t total = one->assessed, paid = one->paid, refunded = one->refunded;
    json_t *a = json_loads(doc, 0, NULL);
    const json_t *items = json_object_get(a, "items");
    char keys[64][3];
    int64_t amounts[64];
    size_t n = 0, i;
    const json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *hs = json_string_value(json_object_get(it, "hs_code"));
        int64_t d = 0, x = 0, v = 0;
        rev__minor(json_object_get(it, "duty"), exp, &d);
        rev__minor(json_object_get(it, "excise"), exp, &x);
        rev__minor(json_object_get(it, "vat"), exp, &v);
        char ch[3] = {hs && hs[0] ? hs[0] : '?', hs && hs[0] && hs[1] ? hs[1] : '?', 0};
        size_t k;
        for (k = 0; k < n && strcmp(keys[k], ch) != 0; k++)
            ;
        if (k == n) {
            if (n == 64)
                continue;
            memcpy(keys[n], ch, 3);
            amounts[n++] = 0;
        }
        amounts[k] += d + x + v;
    }
    int64_t p[64], rf[64], g[64], risk[64], rec[64];
    sum__split(paid, amounts, n, total, p);
    sum__split(refunded, amounts, n, total, rf);
    sum__split(one->guaranteed, amounts, n, total, g);
    sum__split(one->at_risk, amounts, n, total, risk);
    sum__split(one->recovered, amounts, n, total, rec);
    for (size_t k = 0; k < n; k++) {
        sum_row *r = sum__get(s, keys[k]);
        if (!r)
            continue;
        int64_t share_net = p[k] - rf[k];
        r->declarations++;
        r->assessed += amounts[k];
        r->paid += p[k];
        r->refunded += rf[k];
        r->outstanding += amounts[k] > share_net ? amounts[k] - share_net : 0;
        r->guaranteed += g[k];
        r->at_risk += risk[k];
        r->recovered += rec[k];
        r->unresolved += one->unresolved;
    }
    json_decref(a);
}

static json_t *sum__json(const sum_row *r, int exp, const char *keyname, bool measured)
{
    json_t *o = json_object();
    if (keyname)
        json_object_set_new(o, keyname, json_string(r->key));
    json_object_set_new(o, "declarations", json_integer(r->declarations));
    json_object_set_new(o, "assessed", rev_amount_json(r->assessed, exp));
    json_object_set_new(o, "paid", rev_amount_json(r->paid, exp));
    json_object_set_new(o, "refunded", rev_amount_json(r->refunded, exp));
    json_object_set_new(o, "outstanding", rev_amount_json(r->outstanding, exp));
    json_object_set_new(o, "guaranteed", rev_amount_json(r->guaranteed, exp));
    json_object_set_new(o, "revenue_at_risk", rev_amount_json(r->at_risk, exp));
    json_object_set_new(o, "recovered", measured ? rev_amount_json(r->recovered, exp)
                                                  : json_null());
    json_object_set_new(o, "unresolved", json_integer(r->unresolved));
    return o;
}

static void sum__add(sum_row *to, const sum_row *one)
{
    to->declarations += one->declarations;
    to->assessed += one->assessed;
    to->paid += one->paid;
    to->refunded += one->refunded;
    to->outstanding += one->outstanding;
    to->guaranteed += one->guaranteed;
    to->at_risk += one->at_risk;
    to->recovered += one->recovered;
    to->unresolved += one->unresolved;
}

/* Recovered by inspections: how far a declaration's assessed total rose
 * above its total at lodgement (version 1), when its latest inspection
 * found a discrepancy. Only re-assessed declarations (version > 1) are
 * asked about, so the summary makes no call for the rest. */
static int64_t sum__recovered(rev_service *rs, store_conn *c, int64_t seq, int64_t version,
                              int64_t total, cx_err *e)
{
    if (!rs->inspection || version < 2)
        return 0;
    sqlite3_stmt *st = store_stmt(c, "SELECT doc FROM revenue_assessment_versions "
                                     "WHERE seq = ?1 AND version = 1");
    if (!st) {
        *e = CX_EDB;
        return 0;
    }
    sqlite3_bind_int64(st, 1, seq);
    int64_t first = total;
    if (store_next(st, e)) { /* a read that failed is not "nothing recovered" */
        json_t *a = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        if (!rev__minor(json_object_get(a, "total"), rs->exp, &first))
            first = total;
        json_decref(a);
    }
    sqlite3_reset(st);
    if (total <= first || rs->inspection(rs->inspection_ctx, c, seq) != 1)
        return 0;
    return total - first;
}

static void h_summary(http_req *r, void *ctx)
{
    rev_service *rs = ctx;
    if (!http_allow_officer(r, "read the revenue summary"))
        return;
    static const char *const groups_by[] = {"office", "chapter", "trader", "day", NULL};
    int by = 0;
    if (!http_query_enum(r, "group", groups_by, &by))
        return;
    const char *group = groups_by[by];
    const char *from = http_query(r, "from"), *to = http_query(r, "to");
    char today[32], dfrom[16], dto[16];
    cx_rfc3339_format(cx_now_us(), today);
    today[REV_DATE_LEN] = '\0';
    int y, m, d, y2, m2, d2;
    snprintf(dto, sizeof dto, "%s", to ? to : today);
    if (strlen(dto) != REV_DATE_LEN || !cx_date_parse(dto, &y2, &m2, &d2)) {
        http_bad_query(r, "to", "must be a date written YYYY-MM-DD");
        return;
    }
    int64_t days_to = cx_days_from_civil(y2, m2, d2);
    if (from) {
        snprintf(dfrom, sizeof dfrom, "%s", from);
    } else {
        cx_civil_from_days(days_to - 29, &y, &m, &d);
        snprintf(dfrom, sizeof dfrom, "%04d-%02d-%02d", y, m, d);
    }
    if (strlen(dfrom) != REV_DATE_LEN || !cx_date_parse(dfrom, &y, &m, &d)) {
        http_bad_query(r, "from", "must be a date written YYYY-MM-DD");
        return;
    }
    int64_t span = days_to - cx_days_from_civil(y, m, d);
    if (span < 0 || span >= SUMMARY_MAX_DAYS) {
        http_bad_query(r, "from", "must be on or before to, at most 366 days before it");
        return;
    }
    /* every submission so far is in the sums, derived or not */
    cx_err ce = rev_service_catch_up(rs);
    store_conn *c = ce == CX_OK ? store_reader(rs->s) : NULL;
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT office, org, total, paid, refunded, guaranteed, "
                                         "at_risk, problems, NULL, date, seq, version "
                                         "FROM revenue_assessments "
                                         "WHERE date >= ?1 AND date <= ?2")
                         : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the database is not available", NULL);
        return;
    }
    sqlite3_bind_text(st, 1, dfrom, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, dto, -1, SQLITE_TRANSIENT);
    sum_set set = {0};
    sum_row all;
    memset(&all, 0, sizeof all);
    bool measured = rs->inspection != NULL;
    bool chapter = strcmp(group, "chapter") == 0;
    cx_err me = CX_OK; /* an assessment that cannot be read: no partial sums */
    while (store_next(st, &me)) {
        int64_t total = sqlite3_column_int64(st, 2), paid = sqlite3_column_int64(st, 3);
        int64_t refunded = sqlite3_column_int64(st, 4), guaranteed = sqlite3_column_int64(st, 5);
        int64_t at_risk = sqlite3_column_int64(st, 6), net = paid - refunded;
        bool unresolved = sqlite3_column_int64(st, 7) > 0;
        sum_row one = {.declarations = 1,
                       .assessed = total,
                       .paid = paid,
                       .refunded = refunded,
                       .outstanding = total > net ? total - net : 0,
                       .guaranteed = guaranteed,
                       .at_risk = at_risk,
                       .unresolved = unresolved,
                       .recovered = sum__recovered(rs, c, sqlite3_column_int64(st, 10),
                                                   sqlite3_column_int64(st, 11), total, &me)};
        sum__add(&all, &one);
        if (chapter) {
            /* the items' amounts: the assessment declare keeps with the declaration */
            char *doc = NULL;
            if (me == CX_OK) /* not over sum__recovered's error */
                me = decl_member_get(rs->d, c, sqlite3_column_int64(st, 10), "assessment",
                                     true, &doc);
            if (me == CX_OK)
                sum__chapters(&set, doc ? doc : "{}", rs->exp, &one);
            free(doc);
            continue;
        }
        sum_row *g = sum__get(&set, (const char *)sqlite3_column_text(
                                        st, by == 0 ? 0 : by == 2 ? 1 : 9));
        if (g)
            sum__add(g, &one);
    }
    sqlite3_reset(st);
    if (me != CX_OK) {
        free(set.rows);
        http_reply_error(r, 503, "unavailable", "an assessment cannot be read", NULL);
        return;
    }
    json_t *groups = json_array();
    for (size_t i = 0; i < set.n; i++)
        cx_json_push(groups, sum__json(&set.rows[i], rs->exp, group, measured), &me);
    free(set.rows);
    if (me != CX_OK) {
        json_decref(groups);
        http_reply_failed(r, me);
        return;
    }
    http_reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:b}", "from", dfrom, "to", dto,
                                      "group", group, "currency", rs->currency, "groups",
                                      groups, "totals", sum__json(&all, rs->exp, NULL, measured),
                                      "truncated", set.full));
}

/* GET /v1/revenue/unit-values?hs_code&origin[&basis]: the statistics the
 * valuation control compares an item with (officers: they are thresholds). */
static void h_unit_values(http_req *r, void *ctx)
{
    rev_service *rs = ctx;
    if (!http_allow_officer(r, "read valuation statistics"))
        return;
    const char *hs = http_query(r, "hs_code"), *origin = http_query(r, "origin");
    const char *basis = http_query(r, "basis");
    size_t n = hs ? strlen(hs) : 0;
    if (n < 6 || n > 10 || strspn(hs, "0123456789") != n) {
        http_bad_query(r, "hs_code", "must be 6 to 10 digits");
        return;
    }
    if (!origin || strlen(origin) != 2 || !decl_country_valid(origin)) {
        http_bad_query(r, "origin", "must be an ISO 3166-1 alpha-2 country code");
        return;
    }
    if (!basis)
        basis = "KGM";
    size_t bn = strlen(basis);
    if (bn < 2 || bn > 3 || strspn(basis, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != bn) {
        http_bad_query(r, "basis", "must be a UN/ECE Recommendation 20 unit code such as KGM");
        return;
    }
    store_conn *c = store_reader(rs->s);
    cx_err e = c ? CX_OK : CX_EDB;
    json_t *levels = json_array();
    for (int level = 6; e == CX_OK && level >= 4; level -= 2) {
        char key[REV_UV_KEY_MAX];
        rev_uv_key(key, level, hs, origin, basis);
        rev_uv_stats st;
        e = rev__uv_read(c, key, &st);
        json_t *o = e ? NULL
                    : st.n > 0
                        ? json_pack("{s:s,s:i,s:I,s:f,s:f}", "key", key, "level", level, "n",
                                    (json_int_t)st.n, "p05", st.p05, "median", st.median)
                        : json_pack("{s:s,s:i,s:i,s:n,s:n}", "key", key, "level", level, "n", 0,
                                    "p05", "median");
        cx_json_push(levels, o, &e);
    }
    if (e != CX_OK) { /* never a level shown as "no statistics" because it was not read */
        json_decref(levels);
        http_reply_failed(r, e);
        return;
    }
    http_reply_json(r, 200, json_pack("{s:s,s:i,s:o}", "currency", rs->currency, "min_n",
                                      REV_UV_MIN_N, "levels", levels));
}

cx_err rev_routes(rev_service *r, http_server *srv)
{
    static const http_route_def routes[] = {
        {"GET", "/v1/declarations/{id}/assessment", HTTP_AUTH, h_assessment, NULL},
        {"POST", "/v1/declarations/{id}/assessment", HTTP_AUTH | HTTP_JSON, h_reassess, NULL},
        {"GET", "/v1/revenue/summary", HTTP_AUTH, h_summary, "from to group"},
        {"GET", "/v1/revenue/unit-values", HTTP_AUTH, h_unit_values, "hs_code origin basis"},
    };
    cx_err e = http_routes(srv, routes, sizeof routes / sizeof routes[0], r);
    e = e ? e : rev__pay_routes(r, srv);
    return e ? e : rev__settle_routes(r, srv);
}

void rev_service_set_reassessed(rev_service *r, rev_reassessed_fn fn, void *ctx)
{
    if (!r)
        return;
    r->reassessed = fn;
    r->reassessed_ctx = ctx;
}

void rev_service_set_inspections(rev_service *r, rev_inspection_fn fn, void *ctx)
{
    r->inspection = fn;
    r->inspection_ctx = ctx;
}
