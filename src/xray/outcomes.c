/* What inspections found at each region (POST …/regions/{n}/outcome) and
 * what that says about the analyses: precision per kind (GET
 * /v1/xray/quality). Outcomes are recorded once. */
#include "xray_svc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char id[XRAY_ID_MAX + 1];
    int n;
    bool found;
    char note[2048];
    bool has_note;
    cx_principal who;
    char at[32];
    /* filled by the job */
    char kind[16];
    int nregions;
} outcome_job;

static cx_err outcome__write(store_conn *w, void *arg)
{
    outcome_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT seq, analysis, scanner FROM xray_scans WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    }
    int64_t seq = sqlite3_column_int64(st, 0);
    json_t *a = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
    char scanner[XRAY_ID_MAX + 1];
    snprintf(scanner, sizeof scanner, "%s", (const char *)sqlite3_column_text(st, 2));
    sqlite3_reset(st);
    const json_t *regions = json_object_get(a, "regions");
    j->nregions = (int)json_array_size(regions);
    const json_t *g = j->n >= 1 && j->n <= j->nregions ? json_array_get(regions, (size_t)j->n - 1)
                                                       : NULL;
    if (!g) {
        json_decref(a);
        return CX_ESTATE; /* no such region */
    }
    snprintf(j->kind, sizeof j->kind, "%s", json_string_value(json_object_get(g, "kind")));
    double score = json_number_value(json_object_get(g, "score"));
    json_decref(a);
    st = store_stmt(w, "INSERT INTO xray_outcomes(scan_seq, n, kind, score, found, note, scanner,"
                       " org, role, key_id, at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int(st, 2, j->n);
    sqlite3_bind_text(st, 3, j->kind, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, score);
    sqlite3_bind_int(st, 5, j->found);
    if (j->has_note)
        sqlite3_bind_text(st, 6, j->note, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, scanner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, j->who.org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, cx_role_name(j->who.role), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, j->who.key_id);
    sqlite3_bind_text(st, 11, j->at, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : rc == SQLITE_CONSTRAINT_PRIMARYKEY ? CX_EEXIST : CX_EDB;
}

static bool outcome__body(http_req *r, outcome_job *j)
{
    json_t *body = decl_parse_body(r);
    if (!body)
        return false;
    json_t *problems = json_array();
    if (!json_is_object(body))
        cx_problem_add(problems, "", "the body is {\"found\":true|false,\"note\":\"…\"}");
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "found") && strcmp(key, "note")) {
            char path[80] = "";
            cx_jptr_push(path, sizeof path, key);
            cx_problem_add(problems, path, "is not a member of an outcome");
        }
    }
    const json_t *found = json_object_get(body, "found"), *note = json_object_get(body, "note");
    if (json_is_object(body) && !json_is_boolean(found))
        cx_problem_add(problems, "/found", "is required: true or false");
    j->found = json_is_true(found);
    size_t cps;
    if (note && !json_is_null(note)) {
        if (!json_is_string(note) ||
            !cx_utf8_count(json_string_value(note), json_string_length(note), &cps) ||
            cps > 500 || json_string_length(note) >= sizeof j->note)
            cx_problem_add(problems, "/note", "must be a string of at most 500 characters");
        else {
            snprintf(j->note, sizeof j->note, "%s", json_string_value(note));
            j->has_note = true;
        }
    }
    json_decref(body);
    if (json_array_size(problems)) {
        http_reply_error(r, 400, "invalid_outcome", "the outcome is not valid", problems);
        return false;
    }
    json_decref(problems);
    return true;
}

static void h_outcome_post(http_req *r, void *ctx)
{
    xray_service *x = ctx;
    if (!http_allow_officer(r, "record inspection outcomes"))
        return;
    const cx_principal *who = http_principal(r);
    outcome_job j = {.who = *who};
    const char *id = http_param(r, "id"), *ns = http_param(r, "n");
    int64_t n;
    if (!xray_id_valid(id)) {
        http_reply_error(r, 404, "not_found", "no such scan", NULL);
        return;
    }
    if (!cx_parse_i64(ns, &n) || n < 1 || n > 1000) {
        http_reply_error(r, 404, "not_found", "no such region (regions are numbered from 1)",
                         NULL);
        return;
    }
    if (!outcome__body(r, &j))
        return;
    snprintf(j.id, sizeof j.id, "%s", id);
    j.n = (int)n;
    cx_rfc3339_format(cx_now_us(), j.at);
    cx_err e = store_write(x->store, outcome__write, &j);
    if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such scan", NULL);
    else if (e == CX_ESTATE) {
        char msg[120];
        snprintf(msg, sizeof msg, "the scan has %d region%s; there is no region %d", j.nregions,
                 j.nregions == 1 ? "" : "s", j.n);
        http_reply_error(r, 404, "not_found", msg, NULL);
    } else if (e == CX_EEXIST)
        http_reply_error(r, 409, "outcome_recorded",
                         "this region's outcome is already recorded", NULL);
    else if (e != CX_OK)
        http_reply_error(r, 503, "unavailable", "the outcome could not be stored; retry", NULL);
    else
        http_reply_json(r, 201,
                        json_pack("{s:s,s:i,s:s,s:b,s:s?,s:{s:s,s:s,s:I},s:s}", "scan", j.id, "n",
                                  j.n, "kind", j.kind, "found", j.found, "note",
                                  j.has_note ? j.note : NULL, "by", "org", who->org, "role",
                                  cx_role_name(who->role), "key_id", (json_int_t)who->key_id,
                                  "at", j.at));
}

/* ---- quality --------------------------------------------------------------------------- */

static json_t *quality__entry(int64_t outcomes, int64_t found)
{
    return json_pack("{s:I,s:I,s:o}", "outcomes", (json_int_t)outcomes, "found",
                     (json_int_t)found,
                     "precision", outcomes ? json_real(round(1000.0 * found / outcomes) / 1000)
                                           : json_null());
}

static void h_quality(http_req *r, void *ctx)
{
    xray_service *x = ctx;
    if (!http_allow_officer(r, "read the analyses' quality"))
        return;
    const char *since = http_query(r, "since"), *scanner = http_query(r, "scanner");
    int64_t us;
    char since_ts[32] = "";
    if (since && cx_rfc3339_parse(since, &us) == CX_OK) {
        cx_rfc3339_format(us, since_ts);
    } else if (since) {
        int y, mo, d;
        if (!cx_date_parse(since, &y, &mo, &d)) {
            http_bad_query(r, "since", "must be a date (YYYY-MM-DD) or an RFC 3339 date-time");
            return;
        }
        cx_rfc3339_format(cx_days_from_civil(y, mo, d) * 86400000000LL, since_ts);
    }
    if (scanner && !xray_id_valid(scanner)) {
        http_bad_query(r, "scanner", "must be a scanner id");
        return;
    }
    store_conn *c = store_reader(x->store);
    sqlite3_stmt *st =
        c ? store_stmt(c, "SELECT kind, count(*), sum(found) FROM xray_outcomes WHERE at >= ?1 "
                          "AND (?2 IS NULL OR scanner = ?2) GROUP BY kind")
          : NULL;
    sqlite3_stmt *sc =
        c ? store_stmt(c, "SELECT count(*), coalesce(sum(flagged > 0), 0) FROM xray_scans WHERE "
                          "received_at >= ?1 AND (?2 IS NULL OR scanner = ?2)")
          : NULL;
    if (!st || !sc) {
        http_reply_error(r, 503, "unavailable", "the database is unavailable; retry", NULL);
        return;
    }
    json_t *kinds = json_object();
    for (int k = 0; k < XRAY_KIND__COUNT; k++)
        json_object_set_new(kinds, xray_kind_name((xray_kind)k), quality__entry(0, 0));
    int64_t all = 0, all_found = 0;
    sqlite3_bind_text(st, 1, since_ts, -1, SQLITE_STATIC);
    if (scanner)
        sqlite3_bind_text(st, 2, scanner, -1, SQLITE_STATIC);
    cx_err e = CX_OK; /* a kind that could not be read is not a kind with no scans */
    while (store_next(st, &e)) {
        int64_t n = sqlite3_column_int64(st, 1), f = sqlite3_column_int64(st, 2);
        json_object_set_new(kinds, (const char *)sqlite3_column_text(st, 0), quality__entry(n, f));
        all += n;
        all_found += f;
    }
    sqlite3_reset(st);
    sqlite3_bind_text(sc, 1, since_ts, -1, SQLITE_STATIC);
    if (scanner)
        sqlite3_bind_text(sc, 2, scanner, -1, SQLITE_STATIC);
    int64_t scans = 0, flagged = 0;
    if (store_next(sc, &e)) {
        scans = sqlite3_column_int64(sc, 0);
        flagged = sqlite3_column_int64(sc, 1);
    }
    sqlite3_reset(sc);
    if (e != CX_OK) {
        json_decref(kinds);
        http_reply_failed(r, e);
        return;
    }
    http_reply_json(r, 200,
                    json_pack("{s:s?,s:s?,s:I,s:I,s:o,s:o}", "since", since ? since_ts : NULL,
                              "scanner", scanner, "scans", (json_int_t)scans, "scans_flagged",
                              (json_int_t)flagged, "kinds", kinds, "total",
                              quality__entry(all, all_found)));
}

/* Prometheus counters. */
static void outcomes__metrics(void *ctx, cx_buf *out)
{
    xray_service *x = ctx;
    cx_err e = cx_buf_printf(out,
                  "# HELP customs_xray_scans_total Scans analysed and stored.\n"
                  "# TYPE customs_xray_scans_total counter\n"
                  "customs_xray_scans_total %llu\n"
                  "# HELP customs_xray_rejected_total Scan uploads refused.\n"
                  "# TYPE customs_xray_rejected_total counter\n"
                  "customs_xray_rejected_total %llu\n"
                  "# HELP customs_xray_duplicates_total Scans posted again unchanged.\n"
                  "# TYPE customs_xray_duplicates_total counter\n"
                  "customs_xray_duplicates_total %llu\n"
                  "# HELP customs_xray_lane_raises_total Risk lanes raised by scan findings.\n"
                  "# TYPE customs_xray_lane_raises_total counter\n"
                  "customs_xray_lane_raises_total %llu\n"
                  "# HELP customs_xray_analysis_seconds Time spent analysing scans.\n"
                  "# TYPE customs_xray_analysis_seconds summary\n"
                  "customs_xray_analysis_seconds_sum %.6f\n"
                  "customs_xray_analysis_seconds_count %llu\n",
                  (unsigned long long)x->scans, (unsigned long long)x->rejected,
                  (unsigned long long)x->duplicates, (unsigned long long)x->raises,
                  (double)x->analysis_us / 1e6, (unsigned long long)x->analyses);
    (void)e; /* a failed buffer answers for itself (/metrics replies 500) */
}

static const http_route_def routes[] = {
    {"POST", "/v1/xray/scans/{id}/regions/{n}/outcome", HTTP_AUTH | HTTP_JSON, h_outcome_post,
     NULL},
    {"GET", "/v1/xray/quality", HTTP_AUTH, h_quality, "since scanner"},
};

cx_err xray__outcome_routes(xray_service *x, http_server *srv)
{
    cx_err e = http_routes(srv, routes, sizeof routes / sizeof routes[0], x);
    http_add_metrics(srv, outcomes__metrics, x);
    return e;
}
