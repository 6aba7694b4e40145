/* /v1/ledger over HTTP. Any authenticated caller may submit: an entry's
 * authority comes from its signatures, never from the bearer token (the
 * service refuses a ledger.init from anyone: the genesis comes only from
 * customs ledger init). Reads are open to every authenticated role but
 * device. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX 1000

/* Every role but device reads the ledger. */
#define LEDGER_READERS (((1u << CX_ROLE__COUNT) - 1) & ~CX_ROLE_BIT(CX_ROLE_NONE) &            \
                        ~CX_ROLE_BIT(CX_ROLE_DEVICE))

static bool h__may_read(http_req *r)
{
    return http_allow(r, LEDGER_READERS, "read the ledger");
}

/* The JSON text this module stored in column col, parsed; NULL with *e =
 * CX_EPARSE (unless *e already holds an error) if it does not parse: the row
 * is damaged, and what it was part of must fail rather than show it as
 * null or empty. Column 0 is the row's id, for the log. */
static json_t *h__stored_json(sqlite3_stmt *st, int col, cx_err *e)
{
    json_t *v = json_loads((const char *)sqlite3_column_text(st, col), 0, NULL);
    if (!v) {
        cx_log(CX_LOG_ERROR, "ledger: stored %s of row %lld does not parse",
               sqlite3_column_name(st, col), (long long)sqlite3_column_int64(st, 0));
        if (*e == CX_OK)
            *e = CX_EPARSE;
    }
    return v;
}

/* A read that failed: 503 to retry, but a damaged record is not cured by
 * retrying (500, as every list page answers it). */
static void h__unavailable(http_req *r, cx_err e)
{
    if (e == CX_EPARSE || e == CX_EDB || e == CX_ENOMEM)
        http_reply_failed(r, e);
    else
        http_reply_error(r, 503, "unavailable", cx_strerror(e), NULL);
}

/* c's statement for sql, or NULL with *e = CX_EDB: a statement that would
 * not prepare is a read that failed, not a list with no rows. NULL too
 * when *e already holds an error. */
static sqlite3_stmt *h__stmt(store_conn *c, const char *sql, cx_err *e)
{
    sqlite3_stmt *st = *e == CX_OK ? store_stmt(c, sql) : NULL;
    if (!st && *e == CX_OK)
        *e = CX_EDB;
    return st;
}

/* 200 with out, or 503 for any error the handler has not answered itself. */
static void h__reply(http_req *r, cx_err e, json_t *out)
{
    if (e != CX_OK)
        h__unavailable(r, e);
    else
        http_reply_json(r, 200, out);
}

/* Strict non-negative integer parameter; replies 400 and returns false. */
static bool h__int(http_req *r, const char *value, const char *name, int64_t lo, int64_t hi,
                   int64_t *out, const char *rule)
{
    if (!value)
        return true;
    int64_t v;
    if (!cx_parse_i64(value, &v) || v < lo || v > hi) {
        char path[64];
        snprintf(path, sizeof path, "/%s", name);
        http_reply_error1(r, 400, "invalid_parameter", "bad parameter", path, rule);
        return false;
    }
    *out = v;
    return true;
}

/* ---- POST /v1/ledger/entries ---------------------------------------------------------------- */

static void h__post_done(void *arg, ledger_result *res)
{
    http_req *r = arg;
    json_t *body = ledger_result_json(res);
    http_reply_json(r, res->status, body);
    http_resume(r);
}

static void h_post(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    size_t len;
    const char *body = http_body(r, &len);
    http_defer(r);
    ledger_submit_async(lg, http_principal(r), body, len, h__post_done, r);
}

/* ---- entries ------------------------------------------------------------------------------------ */

static void h_entry(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    int64_t idx = -1;
    if (!h__int(r, http_param(r, "index"), "index", 0, INT64_MAX, &idx,
                "must be an entry index: an integer from 0"))
        return;
    json_t *out = NULL;
    cx_err e = ledger_entry_get(lg, idx, &out);
    if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such entry", NULL);
    else
        h__reply(r, e, out);
}

static void h_proof(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    int64_t idx = -1, size = 0;
    if (!h__int(r, http_param(r, "index"), "index", 0, INT64_MAX, &idx,
                "must be an entry index: an integer from 0") ||
        !http_query_int(r, "tree_size", 1, INT64_MAX, &size))
        return;
    int64_t have = ledger_size(lg);
    if (idx >= have) {
        http_reply_error(r, 404, "not_found", "no such entry", NULL);
        return;
    }
    if (size > have || (size && idx >= size)) {
        char m[160];
        snprintf(m, sizeof m, "must be above the index (%lld) and at most the tree size (%lld)",
                 (long long)idx, (long long)have);
        http_reply_error1(r, 400, "invalid_parameter", "bad parameter", "/tree_size", m);
        return;
    }
    json_t *out = NULL;
    cx_err e = ledger_proof(lg, idx, size, &out);
    h__reply(r, e, out);
}

static void h_consistency(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    int64_t from = -1, to = -1;
    if (!http_query_int(r, "from", 1, INT64_MAX, &from) ||
        !http_query_int(r, "to", 1, INT64_MAX, &to))
        return;
    if (from < 0 || to < 0) {
        http_bad_query(r, from < 0 ? "from" : "to", "is required: a tree size, from 1");
        return;
    }
    int64_t have = ledger_size(lg);
    if (to > have || from > to) {
        char m[160];
        snprintf(m, sizeof m, "from must be at most to, and to at most the tree size (%lld)",
                 (long long)have);
        http_bad_query(r, to > have ? "to" : "from", "%s", m);
        return;
    }
    json_t *out = NULL;
    cx_err e = ledger_consistency(lg, from, to, &out);
    h__reply(r, e, out);
}

/* GET /v1/ledger/entries?type=&org=&cursor=&limit=&order= */
#define ENTRY_COLS "SELECT idx, type, org, leaf_hash, entry, received_at FROM ledger_entries "

/* One statement per shape, each on its index in the page's order: by org
 * (org, idx) with the type only narrowing that org's entries, by type
 * (type, idx), or the whole log. ?1 type, ?2 after/before idx, ?3 org,
 * ?4 limit. */
static sqlite3_stmt *h__list_stmt(store_conn *c, bool type, bool org, bool desc)
{
    if (org && desc)
        return store_stmt(c, ENTRY_COLS "WHERE org=?3 AND idx < ?2 AND "
                                        "(?1 IS NULL OR +type=?1) ORDER BY org DESC, idx DESC "
                                        "LIMIT ?4");
    if (org)
        return store_stmt(c, ENTRY_COLS "WHERE org=?3 AND idx > ?2 AND "
                                        "(?1 IS NULL OR +type=?1) ORDER BY org, idx LIMIT ?4");
    if (type && desc)
        return store_stmt(c, ENTRY_COLS "WHERE type=?1 AND idx < ?2 "
                                        "ORDER BY type DESC, idx DESC LIMIT ?4");
    if (type)
        return store_stmt(c, ENTRY_COLS "WHERE type=?1 AND idx > ?2 ORDER BY type, idx LIMIT ?4");
    if (desc)
        return store_stmt(c, ENTRY_COLS "WHERE idx < ?2 ORDER BY idx DESC LIMIT ?4");
    return store_stmt(c, ENTRY_COLS "WHERE idx > ?2 ORDER BY idx LIMIT ?4");
}

static void h_list(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    const char *type = http_query(r, "type"), *org = http_query(r, "org");
    static const char *const orders[] = {"asc", "desc", NULL};
    int order = 0;
    http_page page;
    ltype t;
    if (type && !ledger__type_parse(type, &t)) {
        http_bad_query(r, "type", "must be an entry type such as bl.issue");
        return;
    }
    if (org && !cx_org_valid(org)) {
        http_bad_query(r, "org", "must be an organisation name");
        return;
    }
    if (!http_query_enum(r, "order", orders, &order) ||
        !http_page_parse(r, HTTP_CURSOR_INT, 100, LIST_MAX, &page))
        return;
    int64_t limit = page.limit, cursor = page.cursor ? page.after : -1;
    bool desc = order == 1;
    store_conn *c = store_reader(lg->s);
    if (!c) {
        h__unavailable(r, CX_EDB);
        return;
    }
    sqlite3_stmt *st = h__list_stmt(c, type != NULL, org != NULL, desc);
    if (!st) {
        h__unavailable(r, CX_EDB);
        return;
    }
    if (type)
        sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, cursor >= 0 ? cursor : desc ? INT64_MAX : -1);
    if (org)
        sqlite3_bind_text(st, 3, org, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, limit + 1);
    http_pager pg; /* a page ends at its byte budget too: entries are up to 1 MiB */
    http_pager_init(&pg, limit, HTTP_PAGE_BUDGET);
    int64_t last = -1;
    while (store_row(st, &pg.out) && http_pager_item(&pg)) {
        last = sqlite3_column_int64(st, 0);
        char leaf[65] = "";
        if (sqlite3_column_bytes(st, 3) == 32)
            ledger__hex(sqlite3_column_blob(st, 3), leaf);
        cx_err e = CX_OK;
        json_t *entry = h__stored_json(st, 4, &e);
        http_pager_fail(&pg, e); /* damaged: never "entry": null in a 200 */
        if (!entry)
            break;
        http_pager_json_new(&pg, json_pack("{s:I,s:s,s:s,s:s,s:s,s:o}", "index", (json_int_t)last,
                                           "type", (const char *)sqlite3_column_text(st, 1),
                                           "org", (const char *)sqlite3_column_text(st, 2),
                                           "leaf_hash", leaf, "received_at",
                                           (const char *)sqlite3_column_text(st, 5), "entry",
                                           entry));
    }
    sqlite3_reset(st);
    /* the tree's size once the rows are read: it covers every index listed */
    http_pager_reply_after_with(&pg, r, last,
                                json_pack("{s:I}", "tree_size", (json_int_t)ledger_size(lg)));
}

/* ---- checkpoint, summary, members, trust ------------------------------------------------------ */

static void h_checkpoint(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    json_t *out = NULL;
    cx_err e = ledger_checkpoint_latest(lg, &out);
    if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "no_checkpoint",
                         "no checkpoint has been cosigned yet (customs ledger checkpoint)", NULL);
    else
        h__reply(r, e, out);
}

static void h_summary(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    store_conn *c = store_reader(lg->s);
    if (!c) {
        h__unavailable(r, CX_EDB);
        return;
    }
    int64_t size = ledger__tree_size(c);
    uint8_t root[32];
    char hex[65] = "";
    /* a root that could not be computed is not an empty root_hash */
    cx_err e = size < 0 ? CX_EDB : ledger_root(lg, size, root);
    if (e == CX_OK)
        ledger__hex(root, hex);
    json_t *types = json_object(); /* a count that could not be read is not a smaller count */
    sqlite3_stmt *st = h__stmt(c, "SELECT type, count(*) FROM ledger_entries GROUP BY type", &e);
    while (st && store_next(st, &e))
        json_object_set_new(types, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    if (st)
        sqlite3_reset(st);
    json_t *findings = json_object();
    const char *scope = ledger__findings_scope(http_principal(r));
    /* an organisation counts its own findings by its index, not everyone's */
    st = scope ? h__stmt(c, "SELECT severity, count(*) FROM ledger_findings "
                            "WHERE org=?1 GROUP BY severity", &e)
               : h__stmt(c, "SELECT severity, count(*) FROM ledger_findings "
                            "GROUP BY severity", &e);
    if (st && scope)
        sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
    while (st && store_next(st, &e))
        json_object_set_new(findings, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    if (st)
        sqlite3_reset(st);
    int64_t members = 0;
    st = h__stmt(c, "SELECT count(*) FROM ledger_members", &e);
    if (st && store_next(st, &e))
        members = sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
    const char *origin = NULL;
    char obuf[LEDGER_ORIGIN_MAX + 1];
    st = h__stmt(c, "SELECT v FROM ledger_meta WHERE k='origin'", &e);
    if (st && store_next(st, &e)) {
        snprintf(obuf, sizeof obuf, "%s", (const char *)sqlite3_column_text(st, 0));
        origin = obuf;
    }
    if (st)
        sqlite3_reset(st);
    json_t *cp = NULL;
    cx_err ce = e == CX_OK ? ledger_checkpoint_latest(lg, &cp) : CX_OK;
    if (ce != CX_ENOTFOUND && e == CX_OK) /* none yet is null; unreadable is not */
        e = ce;
    if (e != CX_OK) {
        json_decref(types);
        json_decref(findings);
        json_decref(cp);
        h__unavailable(r, e);
        return;
    }
    if (cp) {
        json_object_del(cp, "note");
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(cp, "cosignatures"), i, x) json_object_del(x, "line");
    }
    /* a node of a network says how it stands (docs/ledger.md, "Network") */
    json_t *net = ledger_net_health(lg);
    http_reply_json(r, 200,
                    json_pack("{s:s?,s:I,s:s,s:o,s:I,s:o,s:o,s:o}", "origin", origin, "tree_size",
                              (json_int_t)size, "root_hash", hex, "entries_by_type", types,
                              "members", (json_int_t)members, "findings_by_severity", findings,
                              "checkpoint", cp ? cp : json_null(), "network",
                              net ? net : json_null()));
}

static void h_members(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    store_conn *c = store_reader(lg->s);
    if (!c) {
        h__unavailable(r, CX_EDB);
        return;
    }
    json_t *members = json_array();
    cx_err e = CX_OK; /* a member, key or policy that could not be read fails the reply */
    sqlite3_stmt *st = h__stmt(c, "SELECT org, role, name, country, idx FROM ledger_members "
                                  "ORDER BY org", &e);
    while (st && store_next(st, &e))
        cx_json_push(members,
                     json_pack("{s:s,s:s,s:s,s:s?,s:I,s:[]}", "org",
                               (const char *)sqlite3_column_text(st, 0), "role",
                               (const char *)sqlite3_column_text(st, 1), "name",
                               (const char *)sqlite3_column_text(st, 2), "country",
                               (const char *)sqlite3_column_text(st, 3), "registered_at_index",
                               (json_int_t)sqlite3_column_int64(st, 4), "keys"),
                     &e);
    if (st)
        sqlite3_reset(st);
    st = h__stmt(c, "SELECT org, key, added_idx, revoked_idx FROM ledger_keys "
                    "ORDER BY org, added_idx", &e);
    size_t i;
    json_t *m;
    while (st && store_next(st, &e)) {
        const char *org = (const char *)sqlite3_column_text(st, 0);
        if (sqlite3_column_bytes(st, 1) != 32)
            continue;
        char pk[LEDGER_B64_32 + 1], kid[9];
        ledger__b64_encode(sqlite3_column_blob(st, 1), 32, pk);
        snprintf(kid, sizeof kid, "%08x", ledger_note_key_id(org, sqlite3_column_blob(st, 1)));
        json_t *k = json_pack("{s:s,s:s,s:I}", "key", pk, "note_key_id", kid, "added_at_index",
                              (json_int_t)sqlite3_column_int64(st, 2));
        if (!k) {
            e = CX_ENOMEM;
            break;
        }
        json_object_set_new(k, "revoked_at_index",
                            sqlite3_column_type(st, 3) == SQLITE_NULL
                                ? json_null()
                                : json_integer(sqlite3_column_int64(st, 3)));
        json_array_foreach(members, i, m) if (strcmp(json_string_value(json_object_get(m, "org")),
                                                     org) == 0)
            if (json_array_append(json_object_get(m, "keys"), k) != 0)
                e = CX_ENOMEM;
        json_decref(k);
    }
    if (st)
        sqlite3_reset(st);
    json_t *gov = json_array();
    int threshold = 0;
    st = h__stmt(c, "SELECT holder, key FROM ledger_governors ORDER BY rowid", &e);
    while (st && store_next(st, &e)) {
        char pk[LEDGER_B64_32 + 1] = "";
        if (sqlite3_column_bytes(st, 1) == 32)
            ledger__b64_encode(sqlite3_column_blob(st, 1), 32, pk);
        cx_json_push(gov, json_pack("{s:s,s:s}", "holder", (const char *)sqlite3_column_text(st, 0),
                                    "key", pk),
                     &e);
    }
    if (st)
        sqlite3_reset(st);
    st = h__stmt(c, "SELECT v FROM ledger_meta WHERE k='threshold'", &e);
    int64_t v = 0;
    if (st && store_next(st, &e) &&
        cx_parse_i64((const char *)sqlite3_column_text(st, 0), &v) && v > 0 && v <= INT32_MAX)
        threshold = (int)v;
    if (st)
        sqlite3_reset(st);
    json_t *policies = json_object();
    st = h__stmt(c, "SELECT idx, policy, type FROM ledger_policies ORDER BY type", &e);
    while (st && store_next(st, &e)) {
        json_t *p = h__stored_json(st, 1, &e); /* a damaged policy is not left out */
        if (p) {
            json_object_set_new(p, "set_at_index", json_integer(sqlite3_column_int64(st, 0)));
            json_object_set_new(policies, (const char *)sqlite3_column_text(st, 2), p);
        }
    }
    if (st)
        sqlite3_reset(st);
    if (e != CX_OK) {
        json_decref(members);
        json_decref(gov);
        json_decref(policies);
        h__unavailable(r, e);
        return;
    }
    http_reply_json(r, 200,
                    json_pack("{s:{s:i,s:o},s:o,s:o}", "governance", "threshold", threshold,
                              "keys", gov, "members", members, "policies", policies));
}

static void h_trust(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    json_t *out = NULL;
    cx_err e = ledger_trust(lg, &out);
    if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "the ledger is not initialised", NULL);
    else
        h__reply(r, e, out);
}

/* ---- findings ------------------------------------------------------------------------------------ */

/* A finding row as JSON; NULL if it could not be built, with *e = CX_EPARSE
 * when its details are damaged. */
static json_t *h__finding_row(sqlite3_stmt *st, cx_err *e)
{
    const char *decl = (const char *)sqlite3_column_text(st, 3);
    json_t *details = h__stored_json(st, 7, e);
    if (!details)
        return NULL;
    json_t *f = json_pack("{s:I,s:s,s:s,s:s?,s:s,s:s,s:o,s:s,s:s}", "id",
                          (json_int_t)sqlite3_column_int64(st, 0), "rule",
                          (const char *)sqlite3_column_text(st, 1), "severity",
                          (const char *)sqlite3_column_text(st, 2), "declaration_id",
                          decl && decl[0] ? decl : NULL, "subject",
                          (const char *)sqlite3_column_text(st, 5), "message",
                          (const char *)sqlite3_column_text(st, 6), "details", details,
                          "source",
                          (const char *)sqlite3_column_text(st, 8), "created_at",
                          (const char *)sqlite3_column_text(st, 9));
    json_object_set_new(f, "entry_index", sqlite3_column_type(st, 4) == SQLITE_NULL
                                              ? json_null()
                                              : json_integer(sqlite3_column_int64(st, 4)));
    return f;
}

#define FINDING_COLS                                                                          \
    "SELECT id, rule, severity, declaration_id, entry_idx, subject, message, details, source, " \
    "created_at FROM ledger_findings "
#define FINDING_REST "ORDER BY id LIMIT ?5"

/* The statement for these filters, driven by the index of the most selective
 * one given; the others (unary + keeps SQLite off their indexes) only filter
 * what it reads, so a rare rule or a hot declaration never walks the table.
 * Parameters: ?1 after id, ?2 declaration, ?3 rule, ?4 severity, ?5 limit,
 * ?6 the reader's org (NULL: customs). */
static sqlite3_stmt *h__findings_stmt(store_conn *c, bool decl, bool rule, bool sev, bool scope)
{
    if (decl) /* one declaration's: its org's, if scoped */
        return store_stmt(c, FINDING_COLS "WHERE declaration_id=?2 AND id > ?1 AND "
                                          "(?6 IS NULL OR +org=?6) AND "
                                          "(?3 IS NULL OR +rule=?3) AND "
                                          "(?4 IS NULL OR +severity=?4) " FINDING_REST);
    if (scope) /* an organisation reads among its own findings only */
        return store_stmt(c, FINDING_COLS "WHERE org=?6 AND id > ?1 AND "
                                          "(?3 IS NULL OR +rule=?3) AND "
                                          "(?4 IS NULL OR +severity=?4) " FINDING_REST);
    if (rule)
        return store_stmt(c, FINDING_COLS "WHERE rule=?3 AND id > ?1 AND "
                                          "(?4 IS NULL OR +severity=?4) " FINDING_REST);
    if (sev)
        return store_stmt(c, FINDING_COLS "WHERE severity=?4 AND id > ?1 " FINDING_REST);
    return store_stmt(c, FINDING_COLS "WHERE id > ?1 " FINDING_REST);
}

static void h_findings(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    const char *decl = http_query(r, "declaration_id"), *rule = http_query(r, "rule");
    static const char *const sevs[] = {"low", "medium", "high", NULL};
    int sevi = -1;
    http_page page;
    if (!http_query_enum(r, "severity", sevs, &sevi) ||
        !http_page_parse(r, HTTP_CURSOR_INT, 100, LIST_MAX, &page))
        return;
    if (rule && !ledger__id_ok(rule, 64)) {
        /* rules are open-ended (any finding entry's), so only their form */
        http_bad_query(r, "rule", "must be 1 to 64 characters of A-Z a-z 0-9 . _ / : -");
        return;
    }
    const char *sev = sevi >= 0 ? sevs[sevi] : NULL;
    /* findings are for customs: anyone else reads those about its own
     * org's declarations only */
    const char *scope = ledger__findings_scope(http_principal(r));
    store_conn *c = store_reader(lg->s);
    sqlite3_stmt *st = c ? h__findings_stmt(c, decl, rule, sev, scope) : NULL;
    if (!st) {
        h__unavailable(r, CX_EDB);
        return;
    }
    sqlite3_bind_int64(st, 1, page.after);
    if (decl)
        sqlite3_bind_text(st, 2, decl, -1, SQLITE_STATIC);
    if (rule)
        sqlite3_bind_text(st, 3, rule, -1, SQLITE_STATIC);
    if (sev)
        sqlite3_bind_text(st, 4, sev, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, page.limit + 1);
    if (scope)
        sqlite3_bind_text(st, 6, scope, -1, SQLITE_STATIC);
    http_pager pg;
    http_pager_init(&pg, page.limit, HTTP_PAGE_BUDGET);
    int64_t last = 0;
    while (store_row(st, &pg.out) && http_pager_item(&pg)) {
        last = sqlite3_column_int64(st, 0);
        cx_err e = CX_OK;
        json_t *item = h__finding_row(st, &e);
        http_pager_fail(&pg, e); /* damaged: that, before json_new's CX_ENOMEM */
        http_pager_json_new(&pg, item);
    }
    sqlite3_reset(st);
    http_pager_reply_after(&pg, r, last); /* or the page's error */
}

/* ---- anchors, bills of lading, bundles -------------------------------------------------------- */

/* The anchor of a declaration with what a browser needs to check it: *out is
 * NULL (CX_OK) when the declaration is not anchored. */
static cx_err h__anchor(ledger *lg, store_conn *c, const char *id, const char *scope,
                        json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st =
        c ? store_stmt(c, "SELECT idx FROM ledger_anchors WHERE declaration_id=?1") : NULL;
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    cx_err e = CX_OK; /* a read that failed is not "not anchored", nor fewer findings */
    int64_t idx = store_next(st, &e) ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (idx < 0)
        return e;
    json_t *o = NULL, *cp = NULL, *proof = NULL;
    e = ledger_entry_get(lg, idx, &o);
    if (e != CX_OK)
        return e;
    json_object_set_new(o, "declaration_id", json_string(id));
    /* what an offline check needs: the cosigned head and the path to it */
    cx_err ce = ledger__checkpoint_covering(lg, idx, &cp);
    if (ce != CX_OK && ce != CX_ENOTFOUND) { /* none yet is null; unreadable is not */
        json_decref(o);
        return ce;
    }
    if (ce == CX_OK && json_integer_value(json_object_get(cp, "tree_size")) > idx) {
        /* a proof that could not be read is not "no proof yet" */
        ce = ledger_proof(lg, idx, json_integer_value(json_object_get(cp, "tree_size")), &proof);
        if (ce != CX_OK) {
            json_decref(cp);
            json_decref(o);
            return ce;
        }
        json_object_set_new(o, "checkpoint", cp);
        json_object_set_new(o, "proof", proof);
    } else {
        json_decref(cp);
        json_object_set_new(o, "checkpoint", json_null());
        json_object_set_new(o, "proof", json_null());
    }
    json_t *findings = json_array();
    st = h__stmt(c, "SELECT id, rule, severity, declaration_id, entry_idx, subject, message, "
                    "details, source, created_at FROM ledger_findings "
                    "WHERE declaration_id=?1 AND (?2 IS NULL OR org=?2) ORDER BY id LIMIT 1000",
                 &e);
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (scope)
            sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
        while (store_next(st, &e))
            cx_json_push(findings, h__finding_row(st, &e), &e);
        sqlite3_reset(st);
    }
    if (e != CX_OK) { /* a damaged finding is not shown with empty details */
        json_decref(findings);
        json_decref(o);
        return e;
    }
    json_object_set_new(o, "findings", findings);
    *out = o;
    return CX_OK;
}

static void h_anchor(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    json_t *out;
    cx_err e = h__anchor(lg, store_reader(lg->s), http_param(r, "declaration_id"),
                         ledger__findings_scope(http_principal(r)), &out);
    if (e != CX_OK)
        h__unavailable(r, e);
    else if (!out)
        http_reply_error(r, 404, "not_found", "this declaration is not anchored on the ledger",
                         NULL);
    else
        http_reply_json(r, 200, out);
}

/* GET /v1/ledger/anchors?declaration_id=ID: the same as a list of 0 or 1, so
 * that asking about a declaration that is not anchored is not an error (the
 * console asks for every declaration it shows). */
static void h_anchors(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    const char *id = http_query(r, "declaration_id");
    if (!id || !*id || strlen(id) > 64) {
        http_bad_query(r, "declaration_id", "is required: a declaration id");
        return;
    }
    json_t *out;
    cx_err e = h__anchor(lg, store_reader(lg->s), id, ledger__findings_scope(http_principal(r)),
                         &out);
    if (e != CX_OK) {
        h__unavailable(r, e);
        return;
    }
    json_t *items = json_array();
    if (out)
        json_array_append_new(items, out);
    http_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

/* GET /v1/ledger/bls/{number}?limit=&cursor=: the bill and one page of its
 * history (event indexes, ascending; a bill transferred 100,000 times is
 * read 1,000 at a time by the (number, idx) key, never whole). */
#define BL_HISTORY_MAX 1000
static void h_bl(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    const char *number = http_param(r, "number");
    http_page page;
    if (!http_page_parse(r, HTTP_CURSOR_INT, BL_HISTORY_MAX, BL_HISTORY_MAX, &page))
        return;
    store_conn *c = store_reader(lg->s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT carrier, holder, status, containers, issue_idx, "
                                         "last_idx, last_leaf FROM ledger_bls WHERE number=?1")
                         : NULL;
    if (!st) {
        h__unavailable(r, CX_EDB);
        return;
    }
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    cx_err e = CX_OK;
    if (!store_next(st, &e)) {
        sqlite3_reset(st);
        if (e != CX_OK) /* a read that failed is not "no such bill" */
            h__unavailable(r, e);
        else
            http_reply_error(r, 404, "not_found", "no such bill of lading on the ledger", NULL);
        return;
    }
    char leaf[65] = "";
    if (sqlite3_column_bytes(st, 6) == 32)
        ledger__hex(sqlite3_column_blob(st, 6), leaf);
    json_t *out = json_pack(
        "{s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:s}", "number", number, "carrier",
        (const char *)sqlite3_column_text(st, 0), "holder", (const char *)sqlite3_column_text(st, 1),
        "status", (const char *)sqlite3_column_text(st, 2), "containers",
        json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL), "issued_at_index",
        (json_int_t)sqlite3_column_int64(st, 4), "last_index",
        (json_int_t)sqlite3_column_int64(st, 5), "last_leaf_hash", leaf);
    sqlite3_reset(st);
    json_t *hist = json_array();
    st = store_stmt(c, "SELECT idx FROM ledger_bl_events WHERE number=?1 AND idx > ?2 "
                       "ORDER BY idx LIMIT ?3");
    int rc = SQLITE_ERROR;
    int64_t last = -1;
    bool more = false;
    if (st) {
        sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, page.cursor ? page.after : -1);
        sqlite3_bind_int64(st, 3, page.limit + 1);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if ((int64_t)json_array_size(hist) == page.limit) {
                more = true;
                break;
            }
            last = sqlite3_column_int64(st, 0);
            json_array_append_new(hist, json_integer(last));
        }
        sqlite3_reset(st);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(hist);
        json_decref(out);
        h__unavailable(r, CX_EDB);
        return;
    }
    json_object_set_new(out, "history", hist);
    char next[HTTP_CURSOR_MAX];
    if (more)
        http_cursor_seal(last, next);
    json_object_set_new(out, "history_next_cursor", more ? json_string(next) : json_null());
    http_reply_json(r, 200, out);
}

/* GET /v1/ledger/entries/{index}/bundle?fields=/a,/b — salts are private to
 * the entry's author: only a key of that org (or an admin) gets them. */
static void h_bundle(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    int64_t idx = -1;
    if (!h__int(r, http_param(r, "index"), "index", 0, INT64_MAX, &idx,
                "must be an entry index: an integer from 0"))
        return;
    json_t *entry = NULL;
    cx_err e = ledger_entry_get(lg, idx, &entry);
    if (e == CX_ENOTFOUND) {
        http_reply_error(r, 404, "not_found", "no such entry", NULL);
        return;
    }
    if (e != CX_OK) {
        h__unavailable(r, e);
        return;
    }
    const cx_principal *who = http_principal(r);
    const char *owner = json_string_value(json_object_get(entry, "org"));
    bool allowed = who->role == CX_ROLE_ADMIN || (owner && strcmp(owner, who->org) == 0);
    json_decref(entry);
    if (!allowed) {
        http_reply_error(r, 403, "forbidden",
                         "only the entry's author may disclose its fields", NULL);
        return;
    }
    const char *fields = http_query(r, "fields");
    char buf[4096];
    const char *names[64];
    size_t n = 0;
    if (fields) {
        int k = cx_split(fields, ',', buf, sizeof buf, names, 64);
        if (k < 0) {
            http_bad_query(r, "fields",
                           "must be up to 64 JSON Pointers separated by commas, none empty "
                           "(4,095 bytes at most)");
            return;
        }
        n = (size_t)k;
    }
    json_t *out = NULL;
    char err[256] = "";
    e = ledger_bundle(lg, idx, names, n, &out, err, sizeof err);
    if (e == CX_OK)
        http_reply_json(r, 200, out);
    else if (e == CX_ENOTFOUND)
        http_reply_error1(r, 404, "not_found", err, "/fields", "no salt for this field here");
    else if (e == CX_ESTATE)
        http_reply_error(r, 409, "no_checkpoint", err, NULL);
    else
        h__unavailable(r, e);
}

/* ---- metrics -------------------------------------------------------------------------------------- */

static void h__metrics(void *ctx, cx_buf *out)
{
    ledger *lg = ctx;
    if (cx_buf_printf(out,
                  "# HELP customs_ledger_entries Entries on the ledger (tree size).\n"
                  "# TYPE customs_ledger_entries gauge\n"
                  "customs_ledger_entries %lld\n"
                  "# HELP customs_ledger_submissions_total Submissions by outcome.\n"
                  "# TYPE customs_ledger_submissions_total counter\n"
                  "customs_ledger_submissions_total{outcome=\"accepted\"} %llu\n"
                  "customs_ledger_submissions_total{outcome=\"rejected\"} %llu\n"
                  "# HELP customs_ledger_findings_total Cross-document findings raised by "
                  "entries.\n"
                  "# TYPE customs_ledger_findings_total counter\n"
                  "customs_ledger_findings_total %llu\n",
                  (long long)ledger_size(lg),
                  (unsigned long long)atomic_load(&lg->n_accepted),
                  (unsigned long long)atomic_load(&lg->n_rejected),
                  (unsigned long long)atomic_load(&lg->n_findings)) != CX_OK)
        return; /* the failed buffer answers for itself */
    if (lg->net && ledger__net_metrics(lg->net, out) != CX_OK)
        return;
}

/* GET /v1/ledger/rejected?cursor=&limit=: the stream messages every node
 * rejected, by sequence (a network's; empty on one node). */
static void h_rejected(http_req *r, void *ctx)
{
    ledger *lg = ctx;
    if (!h__may_read(r))
        return;
    http_page page;
    if (!http_page_parse(r, HTTP_CURSOR_INT, 100, LIST_MAX, &page))
        return;
    store_conn *c = store_reader(lg->s);
    /* the cursor is the id: the order of applying, kept by VACUUM and
     * carried by snapshots (a row from before batches has its sequence) */
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT seq, entry_hash, type, org, status, code, "
                                         "message, details, received_at, pos, id FROM "
                                         "ledger_rejected WHERE id > ?1 ORDER BY id "
                                         "LIMIT ?2")
                         : NULL;
    if (!st) {
        h__unavailable(r, CX_EDB);
        return;
    }
    sqlite3_bind_int64(st, 1, page.cursor ? page.after : 0);
    sqlite3_bind_int64(st, 2, page.limit + 1);
    http_pager pg;
    http_pager_init(&pg, page.limit, HTTP_PAGE_BUDGET);
    int64_t last = 0;
    while (store_row(st, &pg.out) && http_pager_item(&pg)) {
        last = sqlite3_column_int64(st, 10);
        char eh[65] = "";
        if (sqlite3_column_bytes(st, 1) == 32)
            ledger__hex(sqlite3_column_blob(st, 1), eh);
        cx_err e = CX_OK;
        json_t *details = h__stored_json(st, 7, &e);
        http_pager_fail(&pg, e);
        if (!details)
            break;
        json_t *item = json_pack("{s:I,s:i,s:s,s:s?,s:s?,s:i,s:s,s:s,s:o,s:s}", "seq",
                                 (json_int_t)sqlite3_column_int64(st, 0), "pos",
                                 sqlite3_column_int(st, 9), "entry_hash", eh, "type",
                                 (const char *)sqlite3_column_text(st, 2), "org",
                                 (const char *)sqlite3_column_text(st, 3), "status",
                                 sqlite3_column_int(st, 4), "code",
                                 (const char *)sqlite3_column_text(st, 5), "message",
                                 (const char *)sqlite3_column_text(st, 6), "details",
                                 details, "received_at",
                                 (const char *)sqlite3_column_text(st, 8));
        http_pager_json_new(&pg, item);
    }
    sqlite3_reset(st);
    http_pager_reply_after(&pg, r, last); /* or the page's error */
}

cx_err ledger_routes(ledger *lg, http_server *srv)
{
    static const http_route_def routes[] = {
        {"POST", "/v1/ledger/entries", HTTP_AUTH | HTTP_JSON, h_post, NULL},
        {"GET", "/v1/ledger", HTTP_AUTH, h_summary, NULL},
        {"GET", "/v1/ledger/entries", HTTP_AUTH, h_list, "type org order limit cursor"},
        {"GET", "/v1/ledger/entries/{index}", HTTP_AUTH, h_entry, NULL},
        {"GET", "/v1/ledger/entries/{index}/proof", HTTP_AUTH, h_proof, "tree_size"},
        {"GET", "/v1/ledger/entries/{index}/bundle", HTTP_AUTH, h_bundle, "fields"},
        {"GET", "/v1/ledger/consistency", HTTP_AUTH, h_consistency, "from to"},
        {"GET", "/v1/ledger/checkpoint", HTTP_AUTH, h_checkpoint, NULL},
        {"GET", "/v1/ledger/findings", HTTP_AUTH, h_findings,
         "declaration_id rule severity limit cursor"},
        {"GET", "/v1/ledger/anchors", HTTP_AUTH, h_anchors, "declaration_id"},
        {"GET", "/v1/ledger/anchors/{declaration_id}", HTTP_AUTH, h_anchor, NULL},
        {"GET", "/v1/ledger/bls/{number}", HTTP_AUTH, h_bl, "limit cursor"},
        {"GET", "/v1/ledger/members", HTTP_AUTH, h_members, NULL},
        {"GET", "/v1/ledger/trust", HTTP_AUTH, h_trust, NULL},
        {"GET", "/v1/ledger/rejected", HTTP_AUTH, h_rejected, "limit cursor"},
    };
    cx_err e = http_routes(srv, routes, sizeof routes / sizeof routes[0], lg);
    if (e == CX_OK)
        http_add_metrics(srv, h__metrics, lg);
    return e;
}
