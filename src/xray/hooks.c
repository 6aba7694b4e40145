/* Joining the spine: a declaration is released only once every region of
 * its scans that raised a finding has an inspection outcome; a declaration
 * read through the API shows its scans ("xray" member). */
#include "xray_svc.h"

#include <stdlib.h>
#include <string.h>

/* The release gate (decl_gate "xray.outcomes"): each scan of the
 * declaration with regions that raised a finding must have an outcome for
 * every one of them. The first such scan is named; all are in details. */
cx_err xray__gate(void *ctx, const decl_gate_call *c, decl_gate_refusal *no)
{
    (void)ctx;
    if (strcmp(c->decision, "release") != 0)
        return CX_OK;
    sqlite3_stmt *st = store_stmt(
        c->w, "SELECT s.id, s.flagged, (SELECT count(*) FROM xray_outcomes o WHERE "
              "o.scan_seq = s.seq AND o.n <= s.flagged) FROM xray_scans s "
              "WHERE s.decl_seq = ?1 AND s.flagged > 0 ORDER BY s.seq");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, c->seq);
    int rc;
    cx_err e = CX_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int missing = sqlite3_column_int(st, 1) - sqlite3_column_int(st, 2);
        if (missing <= 0)
            continue;
        const char *id = (const char *)sqlite3_column_text(st, 0);
        char msg[256];
        snprintf(msg, sizeof msg,
                 "X-ray scan %s has %d region%s without an inspection outcome: record each "
                 "(POST /v1/xray/scans/%s/regions/{n}/outcome) before releasing",
                 id, missing, missing == 1 ? "" : "s", id);
        if (e == CX_OK)
            e = decl_gate_refuse(no, 409, "xray_outcomes_missing", NULL, "%s", msg);
        if (!no->details)
            no->details = json_array();
        cx_problem_add(no->details, "/decision", "%s", msg);
    }
    if (rc != SQLITE_DONE)
        e = CX_EDB;
    sqlite3_reset(st);
    return e;
}

/* ,"xray":[{"id","time","empty","empty_score","regions","flagged","findings"}] */
cx_err xray__decorate(void *ctx, store_conn *r, int64_t seq, cx_buf *members)
{
    (void)ctx;
    sqlite3_stmt *st = store_stmt(r, "SELECT id, time, analysis, flagged FROM xray_scans "
                                     "WHERE decl_seq = ?1 ORDER BY seq LIMIT 20");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    json_t *list = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *a = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
        json_t *rules = json_array();
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(a, "findings"), i, f)
            json_array_append(rules, json_object_get(f, "rule"));
        if (!list)
            list = json_array();
        json_array_append_new(
            list, json_pack("{s:s,s:s,s:O?,s:O?,s:I,s:i,s:o}", "id",
                            (const char *)sqlite3_column_text(st, 0), "time",
                            (const char *)sqlite3_column_text(st, 1), "empty",
                            json_object_get(a, "empty"), "empty_score",
                            json_object_get(a, "empty_score"), "regions",
                            (json_int_t)json_array_size(json_object_get(a, "regions")),
                            "flagged", sqlite3_column_int(st, 3), "findings", rules));
        json_decref(a);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(list);
        return CX_EDB;
    }
    if (!list)
        return CX_OK;
    char *text = cx_json_dump(list, NULL);
    json_decref(list);
    cx_err e = text ? cx_buf_printf(members, ",\"xray\":%s", text) : CX_ENOMEM;
    free(text);
    return e;
}

cx_err xray_declaration_scan(store_conn *c, int64_t decl_seq, char id[XRAY_ID_MAX + 1],
                             json_t **regions)
{
    *regions = NULL;
    sqlite3_stmt *st = store_stmt(c, "SELECT id, analysis FROM xray_scans WHERE decl_seq = ?1 "
                                     "ORDER BY seq DESC LIMIT 1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, decl_seq);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (e == CX_OK) {
        snprintf(id, XRAY_ID_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
        json_t *a = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
        json_t *list = json_array();
        size_t i;
        json_t *reg;
        json_array_foreach(json_object_get(a, "regions"), i, reg)
        {
            json_t *copy = json_deep_copy(reg);
            json_object_set_new(copy, "n", json_integer((json_int_t)i + 1));
            if (!json_object_get(copy, "side"))
                json_object_set_new(copy, "side", json_null());
            json_array_append_new(list, copy);
        }
        json_decref(a);
        *regions = list;
    }
    sqlite3_reset(st);
    return e;
}
