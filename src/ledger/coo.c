/* The ledger for other modules: the certificate of origin that proves a
 * declaration's origin (ledger_coo_find), watchers that follow appends
 * (ledger_watch) and the assessed duty the payment finding compares with
 * (ledger_set_duty). */
#include "ledger_int.h"

#include <stdio.h>
#include <string.h>

/* Certificates named for one declaration, at most this many of each kind:
 * a declaration cites at most 16, and a hot declaration id named by many
 * coo.issue entries costs no more than this. */
#define COO_LINKS_MAX 32

cx_err ledger_watch(ledger *lg, ledger_watch_fn fn, void *ctx)
{
    if (!fn)
        return CX_EINVAL;
    if (lg->nwatch == sizeof lg->watch / sizeof lg->watch[0])
        return CX_ENOMEM;
    lg->watch[lg->nwatch].fn = fn;
    lg->watch[lg->nwatch].ctx = ctx;
    lg->nwatch++;
    return CX_OK;
}

void ledger_set_duty(ledger *lg, ledger_duty_fn fn, void *ctx)
{
    lg->duty = fn;
    lg->duty_ctx = ctx;
}

cx_err ledger__watch_run(ledger *lg, store_conn *w, const lentry *e, int64_t idx)
{
    const char *decl_id = json_string_value(json_object_get(e->body, "declaration_id"));
    if (e->type == LT_COO_ISSUE && decl_id) {
        sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO ledger_coo_links(declaration_id, "
                                         "issuer, number, idx) VALUES(?1, ?2, ?3, ?4)");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, decl_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, e->org, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, json_string_value(json_object_get(e->body, "number")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, idx);
        if (store_done(st) != CX_OK)
            return CX_EDB;
    }
    for (size_t i = 0; i < lg->nwatch; i++) {
        cx_err x = lg->watch[i].fn(lg->watch[i].ctx, w, ledger__type_names[e->type], e->org,
                                   e->body, idx);
        if (x != CX_OK)
            return x;
    }
    return CX_OK;
}

/* ---- ledger_coo_find ---------------------------------------------------------------------- */

typedef struct {
    const char *exporter, *origin, *hs, *date;
    ledger_coo *out;
    bool found;
} coo_want;

/* Whether the coo.issue entry at idx (its body) fits what is wanted. */
static cx_err coo__fits(store_conn *c, int64_t idx, coo_want *w, bool *fits)
{
    *fits = false;
    sqlite3_stmt *st = store_stmt(c, "SELECT entry FROM ledger_entries WHERE idx=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, idx);
    int rc = sqlite3_step(st);
    json_t *env = rc == SQLITE_ROW ? json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL)
                                   : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return CX_EDB;
    const json_t *b = json_object_get(env, "body");
    const char *exporter = json_string_value(json_object_get(b, "exporter"));
    const char *issued = json_string_value(json_object_get(b, "issued"));
    const char *until = json_string_value(json_object_get(b, "valid_until"));
    bool goods = false;
    size_t i;
    const json_t *g;
    json_array_foreach(json_object_get(b, "goods"), i, g)
    {
        const char *code = json_string_value(json_object_get(g, "hs_code"));
        goods = goods || (code && ledger__hs_match(code, w->hs));
    }
    *fits = goods && exporter && strcmp(exporter, w->exporter) == 0 && issued &&
            strcmp(issued, w->date) <= 0 && (!until || strcmp(w->date, until) <= 0);
    json_decref(env);
    return CX_OK;
}

/* Each (issuer, number) row of st: valid, of the origin, and fitting. */
static cx_err coo__scan(store_conn *c, sqlite3_stmt *st, coo_want *w)
{
    struct {
        char issuer[CX_ORG_MAX + 1], number[LEDGER_NUMBER_MAX + 1];
    } cand[COO_LINKS_MAX];
    size_t n = 0;
    int rc;
    cx_err se = CX_OK; /* a read that failed is not "no certificate": fewer candidates */
    while (n < COO_LINKS_MAX && store_next(st, &se)) {
        snprintf(cand[n].issuer, sizeof cand[n].issuer, "%s",
                 (const char *)sqlite3_column_text(st, 0));
        snprintf(cand[n].number, sizeof cand[n].number, "%s",
                 (const char *)sqlite3_column_text(st, 1));
        n++;
    }
    sqlite3_reset(st);
    if (se != CX_OK)
        return se;
    for (size_t k = 0; k < n && !w->found; k++) {
        sqlite3_stmt *q = store_stmt(c, "SELECT issue_idx FROM ledger_coos WHERE issuer=?1 AND "
                                        "number=?2 AND status='valid' AND country=?3");
        if (!q)
            return CX_EDB;
        sqlite3_bind_text(q, 1, cand[k].issuer, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, cand[k].number, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, w->origin, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        int64_t idx = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
        sqlite3_reset(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return CX_EDB;
        bool fits = false;
        if (idx >= 0 && coo__fits(c, idx, w, &fits) != CX_OK)
            return CX_EDB;
        if (fits) {
            snprintf(w->out->issuer, sizeof w->out->issuer, "%s", cand[k].issuer);
            snprintf(w->out->number, sizeof w->out->number, "%s", cand[k].number);
            w->out->index = idx;
            w->found = true;
        }
    }
    return CX_OK;
}

cx_err ledger_coo_find(store_conn *c, const char *declaration_id, const char *exporter,
                       const char *origin, const char *hs, const char *date, ledger_coo *out)
{
    if (!c || !declaration_id || !exporter || !origin || !hs || !date)
        return CX_ENOTFOUND;
    coo_want w = {exporter, origin, hs, date, out, false};
    /* the anchor's own citations first, then coo.issue entries naming it */
    for (size_t i = 0; i < 2 && !w.found; i++) {
        sqlite3_stmt *st = i == 0 ? store_stmt(c, "SELECT issuer, number FROM ledger_anchor_certs "
                                                  "WHERE declaration_id=?1 ORDER BY idx")
                                  : store_stmt(c, "SELECT issuer, number FROM ledger_coo_links "
                                                  "WHERE declaration_id=?1 ORDER BY idx");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, declaration_id, -1, SQLITE_STATIC);
        cx_err e = coo__scan(c, st, &w);
        if (e != CX_OK)
            return e;
    }
    return w.found ? CX_OK : CX_ENOTFOUND;
}
