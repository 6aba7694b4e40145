/* The officer's decision on a declaration: release, hold or refuse.
 *
 * submitted -> released | held | refused;  held -> released | refused.
 * released and refused are final. The check, the gates of other modules
 * (risk: a red lane needs an inspection before release), the status change
 * and the history row are one writer job, so two officers deciding at once
 * cannot both pass the check. */
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

static bool decision__final(const char *status)
{
    return strcmp(status, "released") == 0 || strcmp(status, "refused") == 0;
}

/* The stored text ends with the server members, written by
 * decl__stored_text: the last `,"status":"` is that member (a submitted
 * document cannot hold a member called status, and inside a string every
 * quote is escaped). Replaces its value; caller frees the result. */
static char *decision__retext(const char *doc, size_t len, const char *status, size_t *outlen)
{
    static const char key[] = ",\"status\":\"";
    const size_t klen = sizeof key - 1;
    const char *at = NULL;
    for (size_t i = len >= klen ? len - klen + 1 : 0; i-- > 0;)
        if (memcmp(doc + i, key, klen) == 0) {
            at = doc + i;
            break;
        }
    if (!at)
        return NULL;
    const char *v = at + klen, *end = memchr(v, '"', len - (size_t)(v - doc));
    if (!end)
        return NULL;
    size_t slen = strlen(status), head = (size_t)(v - doc), tail = len - (size_t)(end - doc);
    char *out = malloc(head + slen + tail + 1);
    if (!out)
        return NULL;
    memcpy(out, doc, head);
    memcpy(out + head, status, slen);
    memcpy(out + head + slen, end, tail);
    out[head + slen + tail] = '\0';
    *outlen = head + slen + tail;
    return out;
}

typedef struct {
    store_job job;
    decl_service *d;
    http_req *req;
    char id[CX_ID_LEN + 8];
    const char *decision, *status; /* static strings */
    char *reason;                  /* NULL if none */
    char org[CX_ORG_MAX + 1];
    const char *role;
    int64_t key_id;
    char at[32];
    /* results */
    char from[16];
    json_t *problems; /* why a gate refused */
    char *text;       /* the declaration as the API shows it afterwards */
    size_t len;
} decision_write;

static void decision__free(decision_write *dw)
{
    if (!dw)
        return;
    free(dw->reason);
    json_decref(dw->problems);
    free(dw->text);
    free(dw);
}

static json_t *decision__json(const decision_write *dw)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "decision", dw->decision, "status", dw->status,
                          "previous_status", dw->from);
    if (dw->reason)
        json_object_set_new(o, "reason", json_string(dw->reason));
    json_object_set_new(o, "decided_by", json_pack("{s:s,s:s,s:I}", "org", dw->org, "role",
                                                   dw->role, "key_id", (json_int_t)dw->key_id));
    json_object_set_new(o, "decided_at", json_string(dw->at));
    return o;
}

static cx_err decision__gates(decision_write *dw, store_conn *w, int64_t seq, const char *risk)
{
    json_t *rj = risk ? json_loads(risk, 0, NULL) : NULL;
    const char *lane = json_string_value(json_object_get(rj, "lane"));
    cx_err e = CX_OK;
    for (size_t i = 0; e == CX_OK && i < dw->d->nhooks; i++)
        if (dw->d->hooks[i].gate)
            e = dw->d->hooks[i].gate(dw->d->hooks[i].ctx, w, seq, dw->decision, lane,
                                     dw->problems);
    json_decref(rj);
    return e;
}

static cx_err decision__job(store_conn *w, void *arg)
{
    decision_write *dw = arg;
    sqlite3_stmt *st =
        store_stmt(w, "SELECT seq, status, doc, risk FROM declarations WHERE id=?1");
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
    char *risk = risk_col ? strdup(risk_col) : NULL;
    size_t len = 0;
    char *doc = NULL, *dtext = NULL;
    cx_err e = risk_col && !risk ? CX_ENOMEM : CX_OK;
    if (e == CX_OK && (decision__final(dw->from) || strcmp(dw->from, dw->status) == 0))
        e = CX_ESTATE;
    if (e == CX_OK)
        e = decision__gates(dw, w, seq, risk);
    if (e == CX_OK) {
        doc = decision__retext((const char *)sqlite3_column_text(st, 2),
                               (size_t)sqlite3_column_bytes(st, 2), dw->status, &len);
        if (!doc)
            e = CX_EINVAL;
    }
    sqlite3_reset(st);
    if (e == CX_OK) {
        json_t *dj = decision__json(dw);
        dtext = cx_json_dump(dj, NULL);
        json_decref(dj);
        if (!dtext)
            e = CX_ENOMEM;
    }
    if (e == CX_OK) {
        st = store_stmt(w, "UPDATE declarations SET status=?2, doc=?3, decision=?4 WHERE seq=?1");
        e = st ? CX_OK : CX_EDB;
    }
    if (e == CX_OK) {
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_text(st, 2, dw->status, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, doc, (int)len, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, dtext, -1, SQLITE_STATIC);
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
        cx_buf_init(&out, (size_t)16 << 20);
        e = decl__compose(dw->d, w, seq, doc, len, risk, dtext, &out);
        if (e == CX_OK)
            dw->text = cx_buf_steal(&out, &dw->len);
        cx_buf_free(&out);
    }
    free(risk);
    free(doc);
    free(dtext);
    return e;
}

static void decision__done(void *arg, cx_err result)
{
    decision_write *dw = arg;
    http_req *r = dw->req;
    char m[200];
    if (result == CX_OK) {
        http_reply(r, 200, "application/json", dw->text, dw->len);
        dw->text = NULL;
    } else if (result == CX_ENOTFOUND) {
        http_reply_error(r, 404, "not_found", "no such declaration", NULL);
    } else if (result == CX_ESTATE && json_array_size(dw->problems)) {
        snprintf(m, sizeof m, "the declaration cannot be %s yet", dw->status);
        http_reply_error(r, 409, "decision_refused", m, json_incref(dw->problems));
    } else if (result == CX_ESTATE) {
        snprintf(m, sizeof m, "the declaration is already %s", dw->from);
        http_reply_error1(r, 409, "invalid_transition", m, "/decision",
                          decision__final(dw->from)
                              ? "a release or refusal is final"
                              : "the declaration already has this status");
    } else {
        cx_log(CX_LOG_ERROR, "decision not stored: %s", cx_strerror(result));
        http_reply_error(r, 503, "unavailable", "the decision could not be stored; retry", NULL);
    }
    http_resume(r);
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

static void h_decision(http_req *r, void *ctx)
{
    decl_service *d = ctx;
    const cx_principal *who = http_principal(r);
    if (who->role != CX_ROLE_OFFICER && who->role != CX_ROLE_ADMIN) {
        http_reply_error(r, 403, "forbidden", "only officers and admins may decide on a "
                                              "declaration", NULL);
        return;
    }
    json_t *doc = decl_parse_body(r);
    if (!doc)
        return;
    char msg[96];
    json_t *problems = json_array();
    const decision_kind *kind;
    const char *reason = decision__check(doc, problems, &kind);
    if (json_array_size(problems)) {
        json_decref(doc);
        snprintf(msg, sizeof msg, "the decision has %zu problem%s", json_array_size(problems),
                 json_array_size(problems) == 1 ? "" : "s");
        http_reply_error(r, 400, "invalid_decision", msg, problems);
        return;
    }
    decision_write *dw = calloc(1, sizeof *dw);
    if (!dw || (reason && !(dw->reason = strdup(reason))) || !(dw->problems = json_array())) {
        json_decref(doc);
        json_decref(problems);
        decision__free(dw);
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        return;
    }
    json_decref(problems);
    dw->d = d;
    dw->req = r;
    snprintf(dw->id, sizeof dw->id, "%s", http_param(r, "id"));
    dw->decision = kind->decision;
    dw->status = kind->status;
    json_decref(doc);
    snprintf(dw->org, sizeof dw->org, "%s", who->org);
    dw->role = cx_role_name(who->role);
    dw->key_id = who->key_id;
    cx_rfc3339_format(cx_now_us(), dw->at);
    dw->job.fn = decision__job;
    dw->job.done = decision__done;
    dw->job.arg = dw;
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
    if (!decl__may_declare(who)) {
        http_reply_error(r, 403, "forbidden", "this role cannot read declarations", NULL);
        return;
    }
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
    cx_buf out;
    cx_buf_init(&out, (size_t)16 << 20);
    cx_err e = cx_buf_puts(&out, "{\"items\":[");
    int rc, n = 0;
    bool found = false;
    while (e == CX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!decl__visible(who, (const char *)sqlite3_column_text(st, 0)))
            break;
        found = true;
        if (sqlite3_column_type(st, 1) == SQLITE_NULL)
            continue;
        e = cx_buf_printf(&out, "%s%s", n++ ? "," : "",
                          (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_reset(st);
    if (e == CX_OK)
        e = cx_buf_puts(&out, "]}");
    if (e != CX_OK) {
        cx_buf_free(&out);
        http_reply_error(r, 503, "unavailable", cx_strerror(e), NULL);
    } else if (!found) {
        cx_buf_free(&out);
        http_reply_error(r, 404, "not_found", "no such declaration", NULL);
    } else {
        size_t len;
        char *s = cx_buf_steal(&out, &len);
        http_reply(r, 200, "application/json", s, len);
    }
}

cx_err decl__decision_routes(decl_service *d, http_server *srv)
{
    cx_err e = http_route(srv, "POST", "/v1/declarations/{id}/decision", HTTP_AUTH | HTTP_JSON,
                          h_decision, d);
    if (!e)
        e = http_route(srv, "GET", "/v1/declarations/{id}/decisions", HTTP_AUTH, h_decisions, d);
    return e;
}
