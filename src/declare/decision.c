/* The officer's decision on a declaration: release, hold or refuse.
 *
 * submitted -> released | held | refused;  held -> released | refused.
 * released, refused and historical are final. The check, the gates of other
 * modules (declare.h: risk's "a red lane needs an inspection", revenue's
 * "paid", bio's "verified operator"), the status change and the history row
 * are one writer job, so two officers deciding at once cannot both pass the
 * check. The status lives in its column only. */
#include "decl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASON_MAX 1000

typedef struct {
    const char *decision, *status;
} decision_kind;

static const decision_kind decision_kinds[] = {
    {"release", "released"},
    {"hold", "held"},
    {"refuse", "refused"},
};

static const decision_kind *decision__kind(const char *decision)
{
    for (size_t i = 0; decision && i < sizeof decision_kinds / sizeof decision_kinds[0]; i++)
        if (strcmp(decision, decision_kinds[i].decision) == 0)
            return &decision_kinds[i];
    return NULL;
}

typedef struct {
    store_job job;
    decl_service *d;
    http_req *req; /* over HTTP: answered from the done callback */
    char id[CX_ID_LEN + 8];
    const char *decision, *status; /* static strings */
    char *reason;                  /* NULL if none */
    cx_principal who;              /* the caller, copied */
    char at[32];
    /* results */
    char from[16];
    decl_gate_refusal refusal; /* why a gate refused (status 0: none did) */
    decl_decision res;
} decision_write;

static void decision__free(decision_write *dw)
{
    if (!dw)
        return;
    free(dw->reason);
    json_decref(dw->refusal.details);
    decl_decision_clear(&dw->res);
    free(dw);
}

void decl_decision_clear(decl_decision *res)
{
    json_decref(res->details);
    free(res->json);
    memset(res, 0, sizeof *res);
}

static void decision__error(decl_decision *res, unsigned status, const char *code,
                            const char *message, json_t *details)
{
    res->status = status;
    snprintf(res->code, sizeof res->code, "%s", code);
    snprintf(res->message, sizeof res->message, "%s", message);
    json_decref(res->details);
    res->details = details ? details : json_array();
}

static json_t *decision__json(const decision_write *dw)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "decision", dw->decision, "status", dw->status,
                          "previous_status", dw->from);
    if (dw->reason)
        json_object_set_new(o, "reason", json_string(dw->reason));
    json_t *by = json_pack("{s:s,s:s,s:I}", "org", dw->who.org, "role", cx_role_name(dw->who.role),
                           "key_id", (json_int_t)dw->who.key_id);
    if (dw->who.subject[0])
        json_object_set_new(by, "subject", json_string(dw->who.subject));
    json_object_set_new(o, "decided_by", by);
    json_object_set_new(o, "decided_at", json_string(dw->at));
    return o;
}

static cx_err decision__gates(decision_write *dw, store_conn *w, int64_t seq, const char *org)
{
    decl_gate_call call = {.w = w, .seq = seq, .id = dw->id, .org = org, .status = dw->from,
                           .decision = dw->decision, .who = &dw->who};
    for (size_t i = 0; i < dw->d->ngates; i++) {
        const decl_gate *g = &dw->d->gates[i];
        cx_err e = g->check(g->ctx, &call, &dw->refusal);
        if (e == CX_ESTATE && !dw->refusal.status) /* a gate that forgot to say why */
            decl_gate_refuse(&dw->refusal, 409, "decision_refused", "/decision",
                             "the %s check refused this decision", g->name);
        if (e != CX_OK)
            return e;
    }
    return CX_OK;
}

static cx_err decision__job(store_conn *w, void *arg)
{
    decision_write *dw = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT seq, status, doc, risk, org, kept "
                                     "FROM declarations WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, dw->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    }
    int64_t seq = sqlite3_column_int64(st, 0);
    snprintf(dw->from, sizeof dw->from, "%s", (const char *)sqlite3_column_text(st, 1));
    const char *risk_col = (const char *)sqlite3_column_text(st, 3);
    const char *doc_col = (const char *)sqlite3_column_text(st, 2);
    char org[CX_ORG_MAX + 1];
    snprintf(org, sizeof org, "%s", (const char *)sqlite3_column_text(st, 4));
    size_t len = (size_t)sqlite3_column_bytes(st, 2);
    const char *kept_col = (const char *)sqlite3_column_text(st, 5);
    char *risk = risk_col ? strdup(risk_col) : NULL, *doc = strndup(doc_col, len);
    char *kept = kept_col ? strdup(kept_col) : NULL;
    char *dtext = NULL;
    sqlite3_reset(st);
    cx_err e = (risk_col && !risk) || !doc || (kept_col && !kept) ? CX_ENOMEM : CX_OK;
    if (e == CX_OK && (decl_status_final(dw->from) || strcmp(dw->from, dw->status) == 0))
        e = CX_ESTATE;
    if (e == CX_OK)
        e = decision__gates(dw, w, seq, org);
    if (e == CX_OK) {
        json_t *dj = decision__json(dw);
        dtext = cx_json_dump(dj, NULL);
        json_decref(dj);
        if (!dtext)
            e = CX_ENOMEM;
    }
    if (e == CX_OK) {
        st = store_stmt(w, "UPDATE declarations SET status=?2, decision=?3 WHERE seq=?1");
        e = st ? CX_OK : CX_EDB;
    }
    if (e == CX_OK) {
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_text(st, 2, dw->status, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, dtext, -1, SQLITE_STATIC);
        e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
        sqlite3_reset(st);
    }
    if (e == CX_OK) {
        st = store_stmt(w, "INSERT INTO declaration_decisions(seq, decision) VALUES(?1, ?2)");
        e = st ? CX_OK : CX_EDB;
    }
    if (e == CX_OK) {
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_text(st, 2, dtext, -1, SQLITE_STATIC);
        e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
        sqlite3_reset(st);
    }
    if (e == CX_OK) {
        /* the reply shows what a GET will show once this commits */
        cx_buf out;
        cx_buf_init(&out, DECL_TEXT_MAX);
        e = decl__compose(dw->d, w, seq, doc, len, dw->status, risk, dtext, kept, true, &out);
        if (e == CX_OK && !(dw->res.json = cx_buf_steal(&out, &dw->res.len)))
            e = CX_ENOMEM;
        cx_buf_free(&out);
    }
    free(risk);
    free(kept);
    free(doc);
    free(dtext);
    return e;
}

/* The outcome as a result (writer thread, or the caller's after store_write). */
static void decision__result(decision_write *dw, cx_err result)
{
    decl_decision *res = &dw->res;
    char m[200];
    if (result == CX_OK) {
        res->status = 200;
    } else if (result == CX_ENOTFOUND) {
        decision__error(res, 404, "not_found", "no such declaration", NULL);
    } else if (result == CX_ESTATE && dw->refusal.status) {
        decision__error(res, dw->refusal.status, dw->refusal.code, dw->refusal.message,
                        dw->refusal.details);
        dw->refusal.details = NULL;
    } else if (result == CX_ESTATE) {
        snprintf(m, sizeof m, "the declaration is already %s", dw->from);
        json_t *d = json_array();
        cx_problem_add(d, "/decision", "%s",
                       strcmp(dw->from, "historical") == 0
                           ? "a historical declaration is a record of past trade"
                       : decl_status_final(dw->from) ? "a release or refusal is final"
                                                     : "the declaration already has this status");
        decision__error(res, 409, "invalid_transition", m, d);
    } else {
        cx_log(CX_LOG_ERROR, "decision not stored: %s", cx_strerror(result));
        decision__error(res, 503, "unavailable", "the decision could not be stored; retry", NULL);
    }
    if (result != CX_OK) {
        free(res->json);
        res->json = NULL;
    }
}

static void decision__reply(http_req *r, decl_decision *res)
{
    if (res->status == 200) {
        http_reply(r, 200, "application/json", res->json, res->len);
        res->json = NULL;
    } else {
        http_reply_error(r, res->status, res->code, res->message, res->details);
        res->details = NULL;
    }
}

static void decision__done(void *arg, cx_err result)
{
    decision_write *dw = arg;
    decision__result(dw, result);
    decision__reply(dw->req, &dw->res);
    http_resume(dw->req);
}

static void decision__free_cb(void *arg)
{
    decision__free(arg);
}

/* Checks the body; appends problems; returns the reason (borrowed) or NULL. */
static const char *decision__check(const json_t *doc, json_t *problems,
                                   const decision_kind **kind)
{
    *kind = NULL;
    if (!json_is_object(doc)) {
        cx_problem_add(problems, "", "must be an object");
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)doc, key, v)
    {
        if (strcmp(key, "decision") && strcmp(key, "reason")) {
            char p[128] = "";
            cx_jptr_push(p, sizeof p, key);
            cx_problem_add(problems, p, "unknown field");
        }
    }
    const json_t *dec = json_object_get(doc, "decision");
    if (!dec)
        cx_problem_add(problems, "/decision", "is required");
    else if (!(*kind = decision__kind(json_string_value(dec))))
        cx_problem_add(problems, "/decision", "must be \"release\", \"hold\" or \"refuse\"");
    const json_t *reason = json_object_get(doc, "reason");
    size_t chars = 0;
    const char *rs = json_string_value(reason);
    if (reason && (!rs || !cx_utf8_count(rs, json_string_length(reason), &chars) || chars < 1 ||
                   chars > REASON_MAX))
        cx_problem_add(problems, "/reason", "must be a string of 1 to 1000 characters");
    else if (!reason && *kind && strcmp((*kind)->decision, "release") != 0)
        cx_problem_add(problems, "/reason", "is required to hold or refuse a declaration");
    return rs;
}

/* The checks before the job: role and body. NULL with res filled when the
 * request is refused; else a write record for the job. */
static decision_write *decision__prepare(decl_service *d, const cx_principal *who,
                                         const char *id, const json_t *body, decl_decision *res)
{
    memset(res, 0, sizeof *res);
    if (!cx_is_officer(who)) {
        char m[160];
        snprintf(m, sizeof m, "this role (%s) cannot decide on a declaration",
                 cx_role_name(who ? who->role : CX_ROLE_NONE));
        decision__error(res, 403, "forbidden", m, NULL);
        return NULL;
    }
    json_t *problems = json_array();
    const decision_kind *kind;
    const char *reason = decision__check(body, problems, &kind);
    if (json_array_size(problems)) {
        char msg[96];
        snprintf(msg, sizeof msg, "the decision has %zu problem%s", json_array_size(problems),
                 json_array_size(problems) == 1 ? "" : "s");
        decision__error(res, 400, "invalid_decision", msg, problems);
        return NULL;
    }
    json_decref(problems);
    decision_write *dw = calloc(1, sizeof *dw);
    if (!dw || (reason && !(dw->reason = strdup(reason)))) {
        decision__free(dw);
        decision__error(res, 503, "unavailable", "out of memory; retry", NULL);
        return NULL;
    }
    dw->d = d;
    snprintf(dw->id, sizeof dw->id, "%s", id);
    dw->decision = kind->decision;
    dw->status = kind->status;
    dw->who = *who;
    cx_rfc3339_format(cx_now_us(), dw->at);
    dw->job.fn = decision__job;
    dw->job.arg = dw;
    return dw;
}

void decl_decide(decl_service *d, const cx_principal *who, const char *id, const json_t *body,
                 decl_decision *res)
{
    decision_write *dw = decision__prepare(d, who, id, body, res);
    if (!dw)
        return;
    decision__result(dw, store_write(d->store, decision__job, dw));
    *res = dw->res;
    memset(&dw->res, 0, sizeof dw->res);
    decision__free(dw);
}

static void h_decision(http_req *r, void *ctx)
{
    decl_service *d = ctx;
    if (!http_allow_officer(r, "decide on a declaration"))
        return;
    json_t *doc = decl_parse_body(r);
    if (!doc)
        return;
    decl_decision res;
    decision_write *dw = decision__prepare(d, http_principal(r), http_param(r, "id"), doc, &res);
    json_decref(doc);
    if (!dw) {
        decision__reply(r, &res);
        decl_decision_clear(&res);
        return;
    }
    dw->req = r;
    dw->job.done = decision__done;
    http_on_done(r, decision__free_cb, dw);
    http_defer(r);
    if (store_submit(d->store, &dw->job) != CX_OK) {
        http_reply_error(r, 503, "unavailable", "the server is shutting down", NULL);
        http_resume(r);
    }
}

/* GET /v1/declarations/{id}/decisions: the history, oldest first. */
static void h_decisions(http_req *r, void *ctx)
{
    decl_service *d = ctx;
    const cx_principal *who = http_principal(r);
    if (!http_allow(r, DECL_ROLES, "read declarations"))
        return;
    store_conn *c = store_reader(d->store);
    sqlite3_stmt *st =
        c ? store_stmt(c, "SELECT d.org, x.decision FROM declarations d "
                          "LEFT JOIN declaration_decisions x ON x.seq = d.seq "
                          "WHERE d.id=?1 ORDER BY x.id")
          : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the database is not available", NULL);
        return;
    }
    sqlite3_bind_text(st, 1, http_param(r, "id"), -1, SQLITE_STATIC);
    /* a declaration has a few decisions (a hold, then a release or refusal) */
    cx_buf out;
    cx_buf_init(&out, (size_t)1 << 20);
    cx_err e = cx_buf_puts(&out, "{\"items\":[");
    int rc, n = 0;
    bool found = false;
    while (e == CX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!decl__visible(who, (const char *)sqlite3_column_text(st, 0)))
            break;
        found = true;
        if (sqlite3_column_type(st, 1) == SQLITE_NULL)
            continue;
        if (n++)
            e = cx_buf_puts(&out, ",");
        if (e == CX_OK)
            e = cx_buf_puts(&out, (const char *)sqlite3_column_text(st, 1));
    }
    bool db_failed = rc != SQLITE_ROW && rc != SQLITE_DONE;
    sqlite3_reset(st);
    if (e == CX_OK)
        e = cx_buf_puts(&out, "]}");
    if (db_failed) {
        cx_buf_free(&out);
        http_reply_error(r, 503, "unavailable", "the database is not available", NULL);
    } else if (!found && e == CX_OK) {
        cx_buf_free(&out);
        http_reply_error(r, 404, "not_found", "no such declaration", NULL);
    } else {
        http_reply_buf(r, 200, "application/json", &out);
    }
}

cx_err decl__decision_routes(decl_service *d, http_server *srv)
{
    static const http_route_def routes[] = {
        {"POST", "/v1/declarations/{id}/decision", HTTP_AUTH | HTTP_JSON, h_decision, NULL},
        {"GET", "/v1/declarations/{id}/decisions", HTTP_AUTH, h_decisions, NULL},
    };
    return http_routes(srv, routes, sizeof routes / sizeof routes[0], d);
}
