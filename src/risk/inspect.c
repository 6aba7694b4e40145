/* Inspection outcomes: recorded by officers over HTTP or imported with KCS
 * data, append-only (the latest one counts), shown on the declaration as
 * "inspection" and used as labels for training. */
#include "risk_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cx_err risk__inspection_insert(store_conn *w, risk_inspection *in)
{
    sqlite3_stmt *st = store_stmt(
        w, "INSERT INTO risk_inspections(seq, result, critical, revenue_recovered, notes, "
           "source, by_org, by_role, by_key, inspected_at, photos) "
           "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, in->seq);
    sqlite3_bind_text(st, 2, in->fraud ? "fraud" : "compliant", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, in->critical ? 1 : 0);
    if (isfinite(in->revenue))
        sqlite3_bind_double(st, 4, in->revenue);
    if (in->notes)
        sqlite3_bind_text(st, 5, in->notes, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, in->source, -1, SQLITE_STATIC);
    if (in->by_org)
        sqlite3_bind_text(st, 7, in->by_org, -1, SQLITE_STATIC);
    if (in->by_role)
        sqlite3_bind_text(st, 8, in->by_role, -1, SQLITE_STATIC);
    if (in->by_key)
        sqlite3_bind_int64(st, 9, in->by_key);
    sqlite3_bind_text(st, 10, in->at, -1, SQLITE_STATIC);
    if (in->photos)
        sqlite3_bind_text(st, 11, in->photos, -1, SQLITE_STATIC);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    in->id_out = sqlite3_last_insert_rowid(store_conn_db(w));
    return CX_OK;
}

/* The inspection object of the API from a row of
 * SELECT result, critical, revenue_recovered, notes, source, by_org, by_role,
 * by_key, inspected_at, photos starting at column col. */
static json_t *inspect__object(sqlite3_stmt *st, int col)
{
    json_t *o = json_object();
    json_object_set_new(o, "result", json_string((const char *)sqlite3_column_text(st, col)));
    json_object_set_new(o, "critical", json_boolean(sqlite3_column_int(st, col + 1)));
    if (sqlite3_column_type(st, col + 2) != SQLITE_NULL)
        json_object_set_new(o, "revenue_recovered", json_real(sqlite3_column_double(st, col + 2)));
    if (sqlite3_column_type(st, col + 3) != SQLITE_NULL)
        json_object_set_new(o, "notes", json_string((const char *)sqlite3_column_text(st, col + 3)));
    json_object_set_new(o, "source", json_string((const char *)sqlite3_column_text(st, col + 4)));
    json_t *by = json_object();
    if (sqlite3_column_type(st, col + 5) != SQLITE_NULL)
        json_object_set_new(by, "org", json_string((const char *)sqlite3_column_text(st, col + 5)));
    if (sqlite3_column_type(st, col + 6) != SQLITE_NULL)
        json_object_set_new(by, "role",
                            json_string((const char *)sqlite3_column_text(st, col + 6)));
    if (sqlite3_column_type(st, col + 7) != SQLITE_NULL)
        json_object_set_new(by, "key_id", json_integer(sqlite3_column_int64(st, col + 7)));
    json_object_set_new(o, "inspected_by", by);
    json_object_set_new(o, "inspected_at",
                        json_string((const char *)sqlite3_column_text(st, col + 8)));
    const char *photos = (const char *)sqlite3_column_text(st, col + 9);
    json_t *pj = photos ? json_loads(photos, 0, NULL) : NULL;
    json_object_set_new(o, "photos", json_is_array(pj) ? pj : json_array());
    if (pj && !json_is_array(pj))
        json_decref(pj);
    return o;
}

json_t *risk__inspection_json(store_conn *r, int64_t seq, cx_err *err)
{
    *err = CX_OK;
    sqlite3_stmt *st = store_stmt(
        r, "SELECT result, critical, revenue_recovered, notes, source, by_org, by_role, by_key, "
           "inspected_at, photos, (SELECT count(*) FROM risk_inspections WHERE seq=?1) "
           "FROM risk_inspections WHERE seq=?1 ORDER BY id DESC LIMIT 1");
    if (!st) {
        *err = CX_EDB;
        return NULL;
    }
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    json_t *o = NULL;
    if (rc == SQLITE_ROW) {
        o = inspect__object(st, 0);
        json_object_set_new(o, "inspections", json_integer(sqlite3_column_int64(st, 10)));
    } else if (rc != SQLITE_DONE) {
        *err = CX_EDB;
    }
    sqlite3_reset(st);
    return o;
}

int risk_inspection_result(store_conn *c, int64_t seq)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT result FROM risk_inspections WHERE seq=?1 "
                                     "ORDER BY id DESC LIMIT 1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, seq);
    int out = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        out = strcmp((const char *)sqlite3_column_text(st, 0), "fraud") == 0;
    sqlite3_reset(st);
    return out;
}

cx_err risk__inspection_decorate(store_conn *r, int64_t seq, cx_buf *out)
{
    cx_err e;
    json_t *o = risk__inspection_json(r, seq, &e);
    if (!o)
        return e;
    char *text = cx_json_dump(o, NULL);
    json_decref(o);
    e = text ? cx_buf_puts(out, ",\"inspection\":") : CX_ENOMEM;
    if (e == CX_OK)
        e = cx_buf_puts(out, text);
    free(text);
    return e;
}

/* The declaration's lane from its risk member (which risk wrote; declare
 * raises its lane), or "" when it has none. */
static cx_err inspect__lane(store_conn *w, int64_t seq, char lane[8])
{
    char *risk = NULL;
    cx_err e = decl_risk_get(w, seq, &risk);
    lane[0] = '\0';
    if (e != CX_OK || !risk)
        return e;
    json_t *rj = json_loads(risk, 0, NULL);
    free(risk);
    const char *l = json_string_value(json_object_get(rj, "lane"));
    snprintf(lane, 8, "%s", l ? l : "");
    json_decref(rj);
    return CX_OK;
}

/* A red-lane declaration is released only after an inspection is recorded:
 * the lane is the selection for physical control. */
cx_err risk__release_gate(const decl_gate_call *call, decl_gate_refusal *no)
{
    if (strcmp(call->decision, "release") != 0)
        return CX_OK;
    char lane[8];
    cx_err e = inspect__lane(call->w, call->seq, lane);
    if (e != CX_OK)
        return e;
    if (strcmp(lane, "red") != 0)
        return CX_OK;
    sqlite3_stmt *st = store_stmt(call->w, "SELECT 1 FROM risk_inspections WHERE seq=?1 LIMIT 1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, call->seq);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return CX_OK;
    if (rc != SQLITE_DONE)
        return CX_EDB;
    decl_gate_refuse(no, 409, "decision_refused", NULL, "the declaration cannot be released yet");
    no->details = json_array();
    cx_problem_add(no->details, "/decision",
                   "the declaration is in the red lane: record its inspection "
                   "(POST /v1/declarations/{id}/inspection) before releasing it");
    return CX_ESTATE;
}
