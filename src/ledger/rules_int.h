/* Internal to the state machine (rules.c: authorisation, governance and
 * ledger__apply; rules_trade.c: the operational transitions). */
#ifndef CUSTOMS_LEDGER_RULES_INT_H
#define CUSTOMS_LEDGER_RULES_INT_H

#include "ledger_int.h"

/* Fills a->v and returns CX_ESTATE from the calling transition. */
#define DENY(a, status, code, path, ...)                                                       \
    do {                                                                                       \
        ledger__verdict(&(a)->v, status, code, path, __VA_ARGS__);                             \
        return CX_ESTATE;                                                                      \
    } while (0)

static inline const char *r__str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Runs a statement expecting no rows. */
static inline cx_err r__exec(sqlite3_stmt *st)
{
    if (!st)
        return CX_EDB;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static inline void r__bind_text(sqlite3_stmt *st, int i, const char *s)
{
    sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* The operational transitions (rules_trade.c), called by ledger__apply once
 * the entry's signatures satisfy its policy. */
cx_err ledger__rule_anchor(lapply *a);
cx_err ledger__rule_bl_issue(lapply *a);
cx_err ledger__rule_bl_move(lapply *a, bool surrender);
cx_err ledger__rule_coo_issue(lapply *a);
cx_err ledger__rule_coo_revoke(lapply *a);
cx_err ledger__rule_aeo(lapply *a);
cx_err ledger__rule_payment(lapply *a);
cx_err ledger__rule_parcels(lapply *a);
cx_err ledger__rule_ipr(lapply *a);
cx_err ledger__rule_finding(lapply *a);
cx_err ledger__rule_digest(lapply *a);

#endif
