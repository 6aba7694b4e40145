/* The consortium's registry: members and their roles, their keys with the
 * entry indexes between which each is valid, the governance keys and the
 * endorsement policy of every entry type. The state machine keeps it in
 * memory (it is consulted for every signature); the serving node mirrors it
 * into tables for the API and reloads it from them after a failed commit. */
#include "ledger_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lreg *ledger__reg_new(void)
{
    lreg *r = calloc(1, sizeof *r);
    if (r)
        ledger__policy_defaults(r->policy);
    return r;
}

void ledger__reg_free(lreg *r)
{
    if (!r)
        return;
    free(r->orgs);
    cx_map_free(&r->org_index);
    free(r->keys);
    cx_map_free(&r->key_index);
    free(r);
}

const lreg_org *ledger__reg_org(const lreg *r, const char *org)
{
    int64_t i = org ? cx_map_get(&r->org_index, org) : -1;
    return i < 0 ? NULL : &r->orgs[i];
}

const lreg_key *ledger__reg_key(const lreg *r, const uint8_t pk[32])
{
    int64_t i = cx_map_find(&r->key_index, pk, 32);
    return i < 0 ? NULL : &r->keys[r->key_index.vals[i]];
}

int ledger__reg_gov(const lreg *r, const uint8_t pk[32])
{
    for (int i = 0; i < r->ngov; i++)
        if (memcmp(r->gov[i].pk, pk, 32) == 0)
            return i;
    return -1;
}

cx_err ledger__reg_add_org(lreg *r, const char *org, lrole role, int64_t idx);
cx_err ledger__reg_add_org(lreg *r, const char *org, lrole role, int64_t idx)
{
    if (ledger__reg_org(r, org))
        return CX_EEXIST;
    cx_err e = cx_grow((void **)&r->orgs, &r->corgs, r->norgs + 1, sizeof *r->orgs)
                   ? cx_map_set(&r->org_index, org, (int64_t)r->norgs)
                   : CX_ENOMEM;
    if (e != CX_OK)
        return e;
    lreg_org *o = &r->orgs[r->norgs];
    memset(o, 0, sizeof *o);
    snprintf(o->org, sizeof o->org, "%s", org);
    o->role = role;
    o->idx = idx;
    r->norgs++;
    return CX_OK;
}

cx_err ledger__reg_add_key(lreg *r, const char *org, const uint8_t pk[32], int64_t added,
                           int64_t revoked);
cx_err ledger__reg_add_key(lreg *r, const char *org, const uint8_t pk[32], int64_t added,
                           int64_t revoked)
{
    const lreg_org *o = ledger__reg_org(r, org);
    if (!o)
        return CX_ENOTFOUND;
    if (ledger__reg_key(r, pk))
        return CX_EEXIST;
    int64_t at = cx_grow((void **)&r->keys, &r->ckeys, r->nkeys + 1, sizeof *r->keys)
                     ? cx_map_put(&r->key_index, pk, 32, NULL)
                     : -1;
    if (at < 0)
        return CX_ENOMEM;
    r->key_index.vals[at] = (int64_t)r->nkeys;
    lreg_key *k = &r->keys[r->nkeys];
    memcpy(k->pk, pk, 32);
    k->org = (int32_t)(o - r->orgs);
    k->added = added;
    k->revoked = revoked;
    r->nkeys++;
    return CX_OK;
}

void ledger__reg_revoke_key(lreg *r, const uint8_t pk[32], int64_t idx);
void ledger__reg_revoke_key(lreg *r, const uint8_t pk[32], int64_t idx)
{
    lreg_key *k = (lreg_key *)ledger__reg_key(r, pk);
    if (k && k->revoked == INT64_MAX)
        k->revoked = idx;
}

/* ---- policies ------------------------------------------------------------------------- */

static void pol__set(lpolicy *p, unsigned authors, int nreq, ...)
{
    memset(p, 0, sizeof *p);
    p->authors = authors;
    va_list ap;
    va_start(ap, nreq);
    for (int i = 0; i < nreq; i++) {
        p->req[i].role = (lrole)va_arg(ap, int);
        p->req[i].min = va_arg(ap, int);
    }
    va_end(ap);
    p->nreq = nreq;
}

#define R(x) (1u << (x))

void ledger__policy_defaults(lpolicy p[LT__COUNT])
{
    memset(p, 0, sizeof(lpolicy) * LT__COUNT);
    /* the customs administration holding the declaration endorses its anchor:
     * replaying the log then needs no one's private data */
    pol__set(&p[LT_DECL_ANCHOR], R(LR_TRADER) | R(LR_AGENCY), 1, LR_CUSTOMS, 1);
    pol__set(&p[LT_BL_ISSUE], R(LR_CARRIER), 0);
    pol__set(&p[LT_BL_TRANSFER], R(LR_TRADER) | R(LR_CARRIER) | R(LR_BANK), 0);
    pol__set(&p[LT_BL_SURRENDER], R(LR_TRADER) | R(LR_CARRIER) | R(LR_BANK), 1, LR_CARRIER, 1);
    pol__set(&p[LT_COO_ISSUE], R(LR_CHAMBER), 0);
    pol__set(&p[LT_COO_REVOKE], R(LR_CHAMBER), 0);
    pol__set(&p[LT_AEO_STATUS], R(LR_CUSTOMS), 0);
    pol__set(&p[LT_PAYMENT], R(LR_BANK), 2, LR_BANK, 1, LR_CUSTOMS, 1);
    pol__set(&p[LT_PARCELS], R(LR_CARRIER) | R(LR_TRADER), 0);
    pol__set(&p[LT_IPR], R(LR_TRADER) | R(LR_AGENCY), 0);
    pol__set(&p[LT_FINDING], R(LR_CUSTOMS), 0);
    pol__set(&p[LT_AUDIT_DIGEST], R(LR_CUSTOMS), 0);
}

bool ledger__policy_parse(const json_t *j, lpolicy *p)
{
    memset(p, 0, sizeof *p);
    const json_t *authors = json_object_get(j, "authors"), *req = json_object_get(j, "require");
    size_t i;
    const json_t *x;
    json_array_foreach(authors, i, x)
    {
        lrole r;
        if (!ledger__role_parse(json_string_value(x), &r))
            return false;
        p->authors |= R(r);
    }
    json_array_foreach(req, i, x)
    {
        lrole r;
        if (i >= LR__COUNT || !ledger__role_parse(json_string_value(json_object_get(x, "role")), &r))
            return false;
        p->req[p->nreq].role = r;
        p->req[p->nreq].min = (int)json_integer_value(json_object_get(x, "min"));
        p->nreq++;
    }
    return p->authors != 0;
}

json_t *ledger__policy_json(const lpolicy *p)
{
    json_t *a = json_array(), *q = json_array();
    for (int r = 0; r < LR__COUNT; r++)
        if (p->authors & R(r))
            json_array_append_new(a, json_string(ledger__role_names[r]));
    for (int i = 0; i < p->nreq; i++)
        json_array_append_new(q, json_pack("{s:s,s:i}", "role", ledger__role_names[p->req[i].role],
                                           "min", p->req[i].min));
    return json_pack("{s:o,s:o}", "authors", a, "require", q);
}

/* ---- verdicts ------------------------------------------------------------------------------ */

void ledger__verdict(lverdict *v, unsigned status, const char *code, const char *path,
                     const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!v->status) {
        v->status = status;
        v->code = code;
        snprintf(v->message, sizeof v->message, "%s", msg);
    }
    if (!v->details)
        v->details = json_array();
    cx_problem_add(v->details, path, "%s", msg);
}

void ledger__verdict_clear(lverdict *v)
{
    json_decref(v->details);
    memset(v, 0, sizeof *v);
}

/* ---- loading from the mirror tables ----------------------------------------------------------- */

cx_err ledger__reg_load(lconn *c, lreg *r)
{
    lreg fresh = {0};
    ledger__policy_defaults(fresh.policy);
    cx_err e = CX_OK;
    sqlite3_stmt *st = ledger__stmt(c, "SELECT k, v FROM ledger_meta");
    if (!st)
        return CX_EDB;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        if (strcmp(k, "origin") == 0) {
            snprintf(fresh.origin, sizeof fresh.origin, "%s", v);
            fresh.initialised = true;
        } else if (strcmp(k, "threshold") == 0) {
            int64_t t = 0;
            fresh.threshold = cx_parse_i64(v, &t) && t > 0 && t <= INT32_MAX ? (int)t : 0;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    st = ledger__stmt(c, "SELECT key, holder FROM ledger_governors ORDER BY rowid");
    if (!st)
        return CX_EDB;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && fresh.ngov < LEDGER_MAX_GOVERNORS) {
        if (sqlite3_column_bytes(st, 0) != 32)
            continue;
        memcpy(fresh.gov[fresh.ngov].pk, sqlite3_column_blob(st, 0), 32);
        snprintf(fresh.gov[fresh.ngov].holder, sizeof fresh.gov[0].holder, "%s",
                 (const char *)sqlite3_column_text(st, 1));
        fresh.ngov++;
    }
    sqlite3_reset(st);
    st = ledger__stmt(c, "SELECT org, role, idx FROM ledger_members ORDER BY idx, org");
    if (!st)
        return CX_EDB;
    while (e == CX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        lrole role;
        if (!ledger__role_parse((const char *)sqlite3_column_text(st, 1), &role))
            continue;
        e = ledger__reg_add_org(&fresh, (const char *)sqlite3_column_text(st, 0), role,
                                sqlite3_column_int64(st, 2));
    }
    sqlite3_reset(st);
    st = ledger__stmt(c, "SELECT key, org, added_idx, revoked_idx FROM ledger_keys "
                         "ORDER BY added_idx");
    if (!st)
        e = CX_EDB;
    while (e == CX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != 32)
            continue;
        int64_t revoked = sqlite3_column_type(st, 3) == SQLITE_NULL ? INT64_MAX
                                                                      : sqlite3_column_int64(st, 3);
        e = ledger__reg_add_key(&fresh, (const char *)sqlite3_column_text(st, 1),
                                sqlite3_column_blob(st, 0), sqlite3_column_int64(st, 2), revoked);
    }
    if (st)
        sqlite3_reset(st);
    st = e == CX_OK ? ledger__stmt(c, "SELECT type, policy FROM ledger_policies") : NULL;
    while (st && e == CX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ltype t;
        json_t *j = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
        if (ledger__type_parse((const char *)sqlite3_column_text(st, 0), &t))
            ledger__policy_parse(j, &fresh.policy[t]);
        json_decref(j);
    }
    if (st)
        sqlite3_reset(st);
    if (e != CX_OK) {
        free(fresh.orgs);
        cx_map_free(&fresh.org_index);
        free(fresh.keys);
        cx_map_free(&fresh.key_index);
        return e;
    }
    free(r->orgs);
    cx_map_free(&r->org_index);
    free(r->keys);
    cx_map_free(&r->key_index);
    *r = fresh;
    return CX_OK;
}
