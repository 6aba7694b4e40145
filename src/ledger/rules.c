/* The deterministic state machine: who may sign what (the registry and the
 * endorsement policies), the governance transitions and the dispatch to each
 * entry type's transition (the operational ones are in rules_trade.c). It
 * reads only the log's own state, so `ledger verify` replays it from scratch
 * and must reach the same verdict for every entry; a rejected entry writes
 * nothing. */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- authorisation ------------------------------------------------------------------------- */

static cx_err r__governance(lapply *a)
{
    const lentry *e = a->e;
    const lreg *reg = a->reg;
    bool proposer = false;
    int count = 0;
    for (size_t i = 0; i < e->nsigs; i++) {
        char p[48];
        snprintf(p, sizeof p, "/signatures/%zu/key", i);
        int g = ledger__reg_gov(reg, e->sigs[i].pk);
        if (g < 0)
            DENY(a, 403, "not_governor", p, "is not one of the consortium's governance keys");
        if (strcmp(e->sigs[i].org, reg->gov[g].holder) != 0) {
            snprintf(p, sizeof p, "/signatures/%zu/org", i);
            DENY(a, 403, "not_governor", p, "this governance key is held by %s",
                 reg->gov[g].holder);
        }
        count++;
        if (strcmp(e->org, reg->gov[g].holder) == 0)
            proposer = true;
    }
    if (!proposer)
        DENY(a, 403, "not_authorised", "/org",
             "%s must be a governance key holder and sign its own proposal", e->org);
    if (count < reg->threshold)
        DENY(a, 403, "policy_unsatisfied", "/signatures",
             "governance entries need %d of the %d governance signatures; this one has %d",
             reg->threshold, reg->ngov, count);
    return CX_OK;
}

static cx_err r__operational(lapply *a)
{
    const lentry *e = a->e;
    const lreg *reg = a->reg;
    int per_role[LR__COUNT] = {0};
    int32_t seen[LEDGER_MAX_SIGNATURES];
    int nseen = 0;
    bool author_signed = false;
    for (size_t i = 0; i < e->nsigs; i++) {
        char p[48];
        snprintf(p, sizeof p, "/signatures/%zu/key", i);
        const lreg_key *k = ledger__reg_key(reg, e->sigs[i].pk);
        if (!k)
            DENY(a, 403, "unknown_key", p, "is not a registered key of any member");
        const lreg_org *o = &reg->orgs[k->org];
        if (strcmp(o->org, e->sigs[i].org) != 0) {
            snprintf(p, sizeof p, "/signatures/%zu/org", i);
            DENY(a, 403, "unknown_key", p, "the key is registered to %s, not %s", o->org,
                 e->sigs[i].org);
        }
        if (a->idx > k->revoked)
            DENY(a, 403, "key_revoked", p, "was revoked at entry %lld and can no longer sign",
                 (long long)k->revoked);
        bool dup = false;
        for (int s = 0; s < nseen; s++)
            dup = dup || seen[s] == k->org;
        if (!dup) {
            seen[nseen++] = k->org;
            per_role[o->role]++;
        }
        if (strcmp(o->org, e->org) == 0)
            author_signed = true;
    }
    const lreg_org *author = ledger__reg_org(reg, e->org);
    if (!author)
        DENY(a, 403, "not_authorised", "/org", "%s is not a member of the consortium", e->org);
    if (!author_signed)
        DENY(a, 403, "not_authorised", "/signatures", "the author %s must sign its own entry",
             e->org);
    const lpolicy *pol = &reg->policy[e->type];
    if (!(pol->authors & (1u << author->role))) {
        char roles[128] = "";
        for (int r = 0; r < LR__COUNT; r++)
            if (pol->authors & (1u << r)) {
                if (roles[0])
                    strncat(roles, ", ", sizeof roles - strlen(roles) - 1);
                strncat(roles, ledger__role_names[r], sizeof roles - strlen(roles) - 1);
            }
        DENY(a, 403, "policy_unsatisfied", "/org",
             "%s is a %s; %s entries may be authored by: %s", e->org,
             ledger__role_names[author->role], ledger__type_names[e->type], roles);
    }
    for (int i = 0; i < pol->nreq; i++)
        if (per_role[pol->req[i].role] < pol->req[i].min)
            DENY(a, 403, "policy_unsatisfied", "/signatures",
                 "%s entries need signatures of %d %s organisation%s; this one has %d",
                 ledger__type_names[e->type], pol->req[i].min,
                 ledger__role_names[pol->req[i].role], pol->req[i].min == 1 ? "" : "s",
                 per_role[pol->req[i].role]);
    return CX_OK;
}

/* ---- governance transitions ---------------------------------------------------------------- */

static void r__commit_init(lreg *r, const lentry *e, int64_t idx)
{
    const json_t *gov = json_object_get(e->body, "governance");
    snprintf(r->origin, sizeof r->origin, "%s", r__str(e->body, "origin"));
    r->threshold = (int)json_integer_value(json_object_get(gov, "threshold"));
    r->ngov = 0;
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(gov, "keys"), i, k)
    {
        ledger__b64_decode(r__str(k, "key"), r->gov[r->ngov].pk, 32);
        snprintf(r->gov[r->ngov].holder, sizeof r->gov[0].holder, "%s", r__str(k, "holder"));
        r->ngov++;
    }
    ledger__policy_defaults(r->policy);
    const char *t;
    const json_t *p;
    json_object_foreach((json_t *)json_object_get(e->body, "policies"), t, p)
    {
        ltype ty;
        if (ledger__type_parse(t, &ty))
            ledger__policy_parse(p, &r->policy[ty]);
    }
    r->initialised = true;
}

static cx_err r__init(lapply *a)
{
    const lentry *e = a->e;
    const json_t *gov = json_object_get(e->body, "governance");
    const json_t *keys = json_object_get(gov, "keys");
    int threshold = (int)json_integer_value(json_object_get(gov, "threshold"));
    if ((size_t)threshold > json_array_size(keys))
        DENY(a, 400, "invalid_entry", "/body/governance/threshold",
             "cannot exceed the number of governance keys (%zu)", json_array_size(keys));
    uint8_t pks[LEDGER_MAX_GOVERNORS][32];
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k)
    {
        ledger__b64_decode(r__str(k, "key"), pks[i], 32);
        for (size_t j = 0; j < i; j++)
            if (memcmp(pks[i], pks[j], 32) == 0) {
                char p[64];
                snprintf(p, sizeof p, "/body/governance/keys/%zu/key", i);
                DENY(a, 400, "invalid_entry", p, "is listed twice");
            }
    }
    const char *target = r__str(e->doc, "ledger");
    if (target && strcmp(target, r__str(e->body, "origin")) != 0)
        DENY(a, 400, "invalid_entry", "/ledger", "must equal /body/origin");
    /* the governors it names vouch for the genesis: every signature must be
     * by one of its governance keys, and threshold of them must sign (the
     * decoder already refuses two signatures by one key) */
    for (size_t s = 0; s < e->nsigs; s++) {
        bool ok = false;
        json_array_foreach(keys, i, k) ok = ok || (memcmp(pks[i], e->sigs[s].pk, 32) == 0 &&
                                                   strcmp(r__str(k, "holder"), e->sigs[s].org) == 0);
        if (!ok) {
            char p[48];
            snprintf(p, sizeof p, "/signatures/%zu", s);
            DENY(a, 403, "not_governor", p, "is not by one of the governance keys it lists");
        }
    }
    if (e->nsigs < (size_t)threshold)
        DENY(a, 403, "policy_unsatisfied", "/signatures",
             "the genesis needs signatures by %d of the %zu governance keys it lists; this one "
             "has %zu",
             threshold, json_array_size(keys), e->nsigs);
    if (a->serving) {
        sqlite3_stmt *st =
            ledger__stmt(a->c, "INSERT INTO ledger_meta(k, v) VALUES('origin', ?1), "
                               "('threshold', ?2)");
        if (!st)
            return CX_EDB;
        r__bind_text(st, 1, r__str(e->body, "origin"));
        char th[16];
        snprintf(th, sizeof th, "%d", threshold);
        r__bind_text(st, 2, th);
        if (r__exec(st) != CX_OK)
            return CX_EDB;
        json_array_foreach(keys, i, k)
        {
            st = ledger__stmt(a->c, "INSERT INTO ledger_governors(key, holder) VALUES(?1, ?2)");
            if (!st)
                return CX_EDB;
            sqlite3_bind_blob(st, 1, pks[i], 32, SQLITE_STATIC);
            r__bind_text(st, 2, r__str(k, "holder"));
            if (r__exec(st) != CX_OK)
                return CX_EDB;
        }
        lpolicy pol[LT__COUNT];
        ledger__policy_defaults(pol);
        const char *t;
        const json_t *p;
        json_object_foreach((json_t *)json_object_get(e->body, "policies"), t, p)
        {
            ltype ty;
            if (ledger__type_parse(t, &ty))
                ledger__policy_parse(p, &pol[ty]);
        }
        for (int ty = 0; ty < LT__COUNT; ty++) {
            if (ledger__type_governance((ltype)ty))
                continue;
            json_t *pj = ledger__policy_json(&pol[ty]);
            char *text = cx_json_dump(pj, NULL);
            json_decref(pj);
            st = ledger__stmt(a->c, "INSERT INTO ledger_policies(type, policy, idx) "
                                    "VALUES(?1, ?2, 0)");
            if (!st || !text) {
                free(text);
                return CX_EDB;
            }
            r__bind_text(st, 1, ledger__type_names[ty]);
            r__bind_text(st, 2, text);
            cx_err x = r__exec(st);
            free(text);
            if (x != CX_OK)
                return x;
        }
    }
    a->commit = r__commit_init;
    return CX_OK;
}

static cx_err r__mirror_key(lapply *a, const char *org, const uint8_t pk[32])
{
    sqlite3_stmt *st =
        ledger__stmt(a->c, "INSERT INTO ledger_keys(key, org, added_idx) VALUES(?1, ?2, ?3)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_blob(st, 1, pk, 32, SQLITE_STATIC);
    r__bind_text(st, 2, org);
    sqlite3_bind_int64(st, 3, a->idx);
    return r__exec(st);
}

static cx_err r__mirror_revoke(lapply *a, const uint8_t pk[32])
{
    sqlite3_stmt *st = ledger__stmt(a->c, "UPDATE ledger_keys SET revoked_idx=?2 WHERE key=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_blob(st, 1, pk, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, a->idx);
    return r__exec(st);
}

/* A key may belong to one member only, and never double as a governance key. */
static cx_err r__key_free(lapply *a, const uint8_t pk[32], const char *path)
{
    const lreg_key *k = ledger__reg_key(a->reg, pk);
    if (k)
        DENY(a, 409, "state_conflict", path, "is already registered to %s",
             a->reg->orgs[k->org].org);
    if (ledger__reg_gov(a->reg, pk) >= 0)
        DENY(a, 409, "state_conflict", path, "is a governance key; members need keys of their own");
    return CX_OK;
}

static void r__commit_member(lreg *r, const lentry *e, int64_t idx)
{
    lrole role;
    ledger__role_parse(r__str(e->body, "role"), &role);
    const char *org = r__str(e->body, "org");
    ledger__reg_add_org(r, org, role, idx);
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(e->body, "keys"), i, k)
    {
        uint8_t pk[32];
        ledger__b64_decode(json_string_value(k), pk, 32);
        ledger__reg_add_key(r, org, pk, idx, INT64_MAX);
    }
}

static cx_err r__member_register(lapply *a)
{
    const json_t *b = a->e->body;
    const char *org = r__str(b, "org");
    const lreg_org *o = ledger__reg_org(a->reg, org);
    if (o)
        DENY(a, 409, "state_conflict", "/body/org", "%s is already a member (entry %lld)", org,
             (long long)o->idx);
    uint8_t pks[8][32];
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(b, "keys"), i, k)
    {
        char p[48];
        snprintf(p, sizeof p, "/body/keys/%zu", i);
        ledger__b64_decode(json_string_value(k), pks[i], 32);
        cx_err x = r__key_free(a, pks[i], p);
        if (x != CX_OK)
            return x;
    }
    if (a->serving) {
        sqlite3_stmt *st = ledger__stmt(a->c, "INSERT INTO ledger_members(org, role, name, "
                                              "country, idx) VALUES(?1, ?2, ?3, ?4, ?5)");
        if (!st)
            return CX_EDB;
        r__bind_text(st, 1, org);
        r__bind_text(st, 2, r__str(b, "role"));
        r__bind_text(st, 3, r__str(b, "name"));
        r__bind_text(st, 4, r__str(b, "country"));
        sqlite3_bind_int64(st, 5, a->idx);
        if (r__exec(st) != CX_OK)
            return CX_EDB;
        json_array_foreach(json_object_get(b, "keys"), i, k) if (r__mirror_key(a, org, pks[i]) !=
                                                                 CX_OK) return CX_EDB;
    }
    a->commit = r__commit_member;
    return CX_OK;
}

static void r__commit_rotate(lreg *r, const lentry *e, int64_t idx)
{
    uint8_t pk[32];
    ledger__b64_decode(r__str(e->body, "add"), pk, 32);
    ledger__reg_add_key(r, r__str(e->body, "org"), pk, idx, INT64_MAX);
    if (ledger__b64_decode(r__str(e->body, "retire"), pk, 32))
        ledger__reg_revoke_key(r, pk, idx);
}

/* The key must be one of org's and still valid. */
static cx_err r__own_key(lapply *a, const char *org, const uint8_t pk[32], const char *path)
{
    const lreg_key *k = ledger__reg_key(a->reg, pk);
    if (!k || strcmp(a->reg->orgs[k->org].org, org) != 0)
        DENY(a, 409, "state_conflict", path, "is not a key of %s", org);
    if (k->revoked != INT64_MAX)
        DENY(a, 409, "state_conflict", path, "was already revoked at entry %lld",
             (long long)k->revoked);
    return CX_OK;
}

static cx_err r__key_rotate(lapply *a)
{
    const json_t *b = a->e->body;
    const char *org = r__str(b, "org");
    if (!ledger__reg_org(a->reg, org))
        DENY(a, 409, "state_conflict", "/body/org", "%s is not a member", org);
    uint8_t add[32], retire[32];
    ledger__b64_decode(r__str(b, "add"), add, 32);
    cx_err x = r__key_free(a, add, "/body/add");
    bool has_retire = ledger__b64_decode(r__str(b, "retire"), retire, 32);
    if (x == CX_OK && has_retire)
        x = r__own_key(a, org, retire, "/body/retire");
    if (x != CX_OK)
        return x;
    if (a->serving) {
        if (r__mirror_key(a, org, add) != CX_OK)
            return CX_EDB;
        if (has_retire && r__mirror_revoke(a, retire) != CX_OK)
            return CX_EDB;
    }
    a->commit = r__commit_rotate;
    return CX_OK;
}

static void r__commit_revoke(lreg *r, const lentry *e, int64_t idx)
{
    uint8_t pk[32];
    ledger__b64_decode(r__str(e->body, "key"), pk, 32);
    ledger__reg_revoke_key(r, pk, idx);
}

static cx_err r__key_revoke(lapply *a)
{
    const json_t *b = a->e->body;
    uint8_t pk[32];
    ledger__b64_decode(r__str(b, "key"), pk, 32);
    cx_err x = r__own_key(a, r__str(b, "org"), pk, "/body/key");
    if (x != CX_OK)
        return x;
    if (a->serving && r__mirror_revoke(a, pk) != CX_OK)
        return CX_EDB;
    a->commit = r__commit_revoke;
    return CX_OK;
}

static void r__commit_policy(lreg *r, const lentry *e, int64_t idx)
{
    ltype t;
    if (ledger__type_parse(r__str(e->body, "type"), &t))
        ledger__policy_parse(json_object_get(e->body, "policy"), &r->policy[t]);
}

/* {"type":"checkpoint","policy":{"threshold":N}}: the number of
 * organisations whose cosignatures make a checkpoint final (default: the
 * governance threshold). It changes nothing the rules decide. */
static cx_err r__checkpoint_policy(lapply *a, const json_t *pol)
{
    if (json_object_get(pol, "authors") || json_object_get(pol, "require"))
        DENY(a, 400, "invalid_entry", "/body/policy",
             "the checkpoint policy takes only a threshold");
    const json_t *t = json_object_get(pol, "threshold");
    if (!t)
        DENY(a, 400, "invalid_entry", "/body/policy/threshold",
             "is required: the number of organisations that make a checkpoint final");
    if (!a->serving)
        return CX_OK;
    char text[48];
    snprintf(text, sizeof text, "{\"threshold\":%lld}", (long long)json_integer_value(t));
    sqlite3_stmt *st = ledger__stmt(a->c, "INSERT INTO ledger_policies(type, policy, idx) "
                                          "VALUES('checkpoint', ?1, ?2) ON CONFLICT(type) DO "
                                          "UPDATE SET policy=excluded.policy, idx=excluded.idx");
    if (!st)
        return CX_EDB;
    r__bind_text(st, 1, text);
    sqlite3_bind_int64(st, 2, a->idx);
    return r__exec(st);
}

static cx_err r__policy_set(lapply *a)
{
    const json_t *b = a->e->body;
    if (strcmp(r__str(b, "type"), "checkpoint") == 0)
        return r__checkpoint_policy(a, json_object_get(b, "policy"));
    if (json_object_get(json_object_get(b, "policy"), "threshold"))
        DENY(a, 400, "invalid_entry", "/body/policy/threshold",
             "only the checkpoint policy takes a threshold");
    lpolicy p;
    if (!ledger__policy_parse(json_object_get(b, "policy"), &p))
        DENY(a, 400, "invalid_entry", "/body/policy", "must name at least one author role");
    if (a->serving) {
        json_t *pj = ledger__policy_json(&p);
        char *text = cx_json_dump(pj, NULL);
        json_decref(pj);
        sqlite3_stmt *st = ledger__stmt(a->c, "INSERT INTO ledger_policies(type, policy, idx) "
                                              "VALUES(?1, ?2, ?3) ON CONFLICT(type) DO UPDATE "
                                              "SET policy=excluded.policy, idx=excluded.idx");
        if (!st || !text) {
            free(text);
            return CX_EDB;
        }
        r__bind_text(st, 1, r__str(b, "type"));
        r__bind_text(st, 2, text);
        sqlite3_bind_int64(st, 3, a->idx);
        cx_err x = r__exec(st);
        free(text);
        if (x != CX_OK)
            return x;
    }
    a->commit = r__commit_policy;
    return CX_OK;
}

cx_err ledger__apply(lapply *a)
{
    const lentry *e = a->e;
    a->commit = NULL;
    if (e->type == LT_INIT) {
        if (a->idx != 0 || a->reg->initialised)
            DENY(a, 409, "state_conflict", "/type", "the ledger is already initialised");
        return r__init(a);
    }
    if (!a->reg->initialised || a->idx == 0)
        DENY(a, 409, "state_conflict", "/type",
             "the ledger is not initialised: its first entry must be ledger.init "
             "(customs ledger init)");
    const char *target = r__str(e->doc, "ledger");
    if (target && strcmp(target, a->reg->origin) != 0)
        DENY(a, 409, "state_conflict", "/ledger", "this entry is for ledger %s; this is %s",
             target, a->reg->origin);
    cx_err x = ledger__type_governance(e->type) ? r__governance(a) : r__operational(a);
    if (x != CX_OK)
        return x;
    switch (e->type) {
    case LT_MEMBER_REGISTER: return r__member_register(a);
    case LT_KEY_ROTATE: return r__key_rotate(a);
    case LT_KEY_REVOKE: return r__key_revoke(a);
    case LT_POLICY_SET: return r__policy_set(a);
    case LT_DECL_ANCHOR: return ledger__rule_anchor(a);
    case LT_BL_ISSUE: return ledger__rule_bl_issue(a);
    case LT_BL_TRANSFER: return ledger__rule_bl_move(a, false);
    case LT_BL_SURRENDER: return ledger__rule_bl_move(a, true);
    case LT_COO_ISSUE: return ledger__rule_coo_issue(a);
    case LT_COO_REVOKE: return ledger__rule_coo_revoke(a);
    case LT_AEO_STATUS: return ledger__rule_aeo(a);
    case LT_PAYMENT: return ledger__rule_payment(a);
    case LT_PARCELS: return ledger__rule_parcels(a);
    case LT_IPR: return ledger__rule_ipr(a);
    case LT_FINDING: return ledger__rule_finding(a);
    case LT_AUDIT_DIGEST: return ledger__rule_digest(a);
    default: break;
    }
    return CX_OK;
}
