/* The revenue module's tables: the tariff book and its import log, the
 * national currency, assessments with their history, valuation statistics.
 * Payments, guarantees and refunds are in pay.c. */
#include "revenue_int.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const store_migration rev_migrations[] = {
    {1, "CREATE TABLE revenue_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
        "INSERT INTO revenue_meta VALUES('generation', '0');"
        /* assessments up to this seq are folded into the statistics */
        "INSERT INTO revenue_meta VALUES('observed', '0');"
        "CREATE TABLE revenue_imports(id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
        " file TEXT NOT NULL, rows INTEGER NOT NULL, inserted INTEGER NOT NULL,"
        " replaced INTEGER NOT NULL, closed INTEGER NOT NULL, imported_at TEXT NOT NULL);"
        /* decimals are kept as their text: exact, and shown as imported */
        "CREATE TABLE revenue_tariff(id INTEGER PRIMARY KEY, hs_code TEXT NOT NULL,"
        " valid_from TEXT NOT NULL, valid_to TEXT, duty_type TEXT NOT NULL,"
        " ad_valorem_pct TEXT, specific_amount TEXT, specific_unit TEXT,"
        " excise_pct TEXT NOT NULL, vat_pct TEXT NOT NULL, description TEXT NOT NULL,"
        " import_id INTEGER NOT NULL, UNIQUE(hs_code, valid_from));"
        "CREATE TABLE revenue_preferences(id INTEGER PRIMARY KEY, hs_code TEXT NOT NULL,"
        " origin TEXT NOT NULL, ad_valorem_pct TEXT NOT NULL,"
        " requires_certificate INTEGER NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT,"
        " import_id INTEGER NOT NULL, UNIQUE(hs_code, origin, valid_from));"
        "CREATE TABLE revenue_groups(grp TEXT NOT NULL, country TEXT NOT NULL,"
        " import_id INTEGER NOT NULL, PRIMARY KEY(grp, country)) WITHOUT ROWID;"
        "CREATE TABLE revenue_rates(currency TEXT NOT NULL, date TEXT NOT NULL,"
        " rate TEXT NOT NULL, import_id INTEGER NOT NULL, PRIMARY KEY(currency, date))"
        " WITHOUT ROWID;"
        /* one row per assessed declaration (seq: the declaration's arrival
         * number); amounts in minor units of the national currency */
        "CREATE TABLE revenue_assessments(seq INTEGER PRIMARY KEY, decl_id TEXT NOT NULL,"
        " org TEXT NOT NULL, office TEXT NOT NULL, date TEXT NOT NULL, currency TEXT NOT NULL,"
        " version INTEGER NOT NULL, duty INTEGER NOT NULL, excise INTEGER NOT NULL,"
        " vat INTEGER NOT NULL, total INTEGER NOT NULL, at_risk INTEGER NOT NULL,"
        " problems INTEGER NOT NULL, paid INTEGER NOT NULL DEFAULT 0,"
        " refunded INTEGER NOT NULL DEFAULT 0, guaranteed INTEGER NOT NULL DEFAULT 0,"
        " reason TEXT NOT NULL, by_org TEXT, assessed_at TEXT NOT NULL,"
        /* the items' unit values for the valuation statistics, folded in
         * by the service's worker (lines "KEY VALUE"; "!" = held) */
        " obs TEXT NOT NULL DEFAULT '', doc TEXT NOT NULL);"
        "CREATE INDEX revenue_assessments_date ON revenue_assessments(date);"
        /* earlier versions, as they were before a re-assessment replaced them */
        "CREATE TABLE revenue_assessment_versions(seq INTEGER NOT NULL, version INTEGER NOT NULL,"
        " doc TEXT NOT NULL, reason TEXT NOT NULL, by_org TEXT, at TEXT NOT NULL,"
        " PRIMARY KEY(seq, version)) WITHOUT ROWID;"
        /* valuation statistics: one log-space histogram per key */
        "CREATE TABLE revenue_uv(key TEXT PRIMARY KEY, n INTEGER NOT NULL, hist BLOB NOT NULL)"
        " WITHOUT ROWID;"
        "CREATE TABLE revenue_payments(id INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
        " payer_org TEXT NOT NULL, reference TEXT NOT NULL, amount TEXT NOT NULL,"
        " currency TEXT NOT NULL, rate TEXT, rate_date TEXT, amount_national INTEGER NOT NULL,"
        " paid_at TEXT NOT NULL, role TEXT NOT NULL, key_id INTEGER NOT NULL,"
        " recorded_at TEXT NOT NULL, UNIQUE(payer_org, reference));"
        "CREATE INDEX revenue_payments_seq ON revenue_payments(seq);"
        "CREATE TABLE revenue_guarantees(id TEXT PRIMARY KEY, trader TEXT NOT NULL,"
        " reference TEXT NOT NULL UNIQUE, amount TEXT NOT NULL, currency TEXT NOT NULL,"
        " rate TEXT, amount_national INTEGER NOT NULL, valid_until TEXT NOT NULL,"
        " drawn INTEGER NOT NULL DEFAULT 0, created_by TEXT NOT NULL, created_at TEXT NOT NULL);"
        "CREATE INDEX revenue_guarantees_trader ON revenue_guarantees(trader, valid_until);"
        "CREATE TABLE revenue_draws(id INTEGER PRIMARY KEY, guarantee TEXT NOT NULL,"
        " seq INTEGER NOT NULL, amount INTEGER NOT NULL, at TEXT NOT NULL, cause TEXT NOT NULL);"
        "CREATE INDEX revenue_draws_seq ON revenue_draws(seq);"
        "CREATE INDEX revenue_draws_guarantee ON revenue_draws(guarantee);"
        "CREATE TABLE revenue_refunds(id INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
        " amount INTEGER NOT NULL, from_version INTEGER NOT NULL, to_version INTEGER NOT NULL,"
        " status TEXT NOT NULL, at TEXT NOT NULL);"
        "CREATE INDEX revenue_refunds_seq ON revenue_refunds(seq);"},
    /* guarantees paged per trader; the certificates of origin that proved a
     * preference, so a revocation finds the declarations it re-assesses */
    {2, "CREATE INDEX revenue_guarantees_by_trader ON revenue_guarantees(trader);"
        /* what traders may read of an assessment: no statistics of other
         * traders' prices (undervaluation findings, revenue at risk) */
        "ALTER TABLE revenue_assessments ADD COLUMN public TEXT;"
        /* ledger entries name declarations by id */
        "CREATE INDEX revenue_assessments_decl ON revenue_assessments(decl_id);"
        "CREATE TABLE revenue_certificates(issuer TEXT NOT NULL, number TEXT NOT NULL,"
        " seq INTEGER NOT NULL, PRIMARY KEY(issuer, number, seq)) WITHOUT ROWID;"},
    /* refunds paid out (idempotent by the payer's reference); guarantees
     * amended or cancelled, with what changed */
    {3, "ALTER TABLE revenue_refunds ADD COLUMN payout_reference TEXT;"
        "ALTER TABLE revenue_refunds ADD COLUMN paid_at TEXT;"
        "ALTER TABLE revenue_refunds ADD COLUMN paid_by TEXT;"
        "ALTER TABLE revenue_refunds ADD COLUMN paid_recorded_at TEXT;"
        "CREATE UNIQUE INDEX revenue_refunds_payout ON revenue_refunds(paid_by, "
        " payout_reference);"
        "CREATE INDEX revenue_refunds_status ON revenue_refunds(status, id);"
        "ALTER TABLE revenue_guarantees ADD COLUMN status TEXT NOT NULL DEFAULT 'active';"
        "ALTER TABLE revenue_guarantees ADD COLUMN cancelled_at TEXT;"
        "CREATE TABLE revenue_guarantee_changes(id INTEGER PRIMARY KEY,"
        " guarantee TEXT NOT NULL, kind TEXT NOT NULL, before TEXT NOT NULL,"
        " after TEXT NOT NULL, reason TEXT, by_org TEXT NOT NULL, at TEXT NOT NULL);"
        "CREATE INDEX revenue_guarantee_changes_g ON revenue_guarantee_changes(guarantee, id);"
        /* ledger entries find declarations through declare's id index
         * (decl_view): a submission writes one index page fewer */
        "DROP INDEX revenue_assessments_decl;"},
    /* hot keys (issue 17): a re-assessment forgets its declaration's
     * certificates by seq (it read the whole table), and a trader's guarantees
     * are drawn in (valid_until, created_at) order without sorting them all */
    {4, "CREATE INDEX revenue_certificates_seq ON revenue_certificates(seq);"
        "CREATE INDEX revenue_guarantees_due ON revenue_guarantees(trader, valid_until,"
        " created_at);"},
    /* a bank's page of a declaration's payments (and its refunds' check) seeks
     * its own rows, in id order, without walking other banks' */
    {5, "CREATE INDEX revenue_payments_payer ON revenue_payments(seq, payer_org);"},
    /* a bank's refunds, by (payer_org, refund id): its list seeks its own
     * rows in id order instead of walking every bank's refunds; filled for
     * the refunds already recorded */
    {6, "CREATE TABLE revenue_refund_payers(payer_org TEXT NOT NULL, refund INTEGER NOT NULL,"
        " PRIMARY KEY(payer_org, refund)) WITHOUT ROWID;"
        "INSERT OR IGNORE INTO revenue_refund_payers(payer_org, refund)"
        " SELECT DISTINCT p.payer_org, f.id FROM revenue_refunds f"
        " JOIN revenue_payments p ON p.seq = f.seq;"},
    /* the immutable texts of tariff line versions a stored assessment
     * refers to (linetext.c): content addressed, never updated or deleted;
     * text_id names the text of a row's current content (NULL: to be made,
     * by the import that changed it or once at start for older rows) */
    {7, "CREATE TABLE revenue_line_texts(id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);"
        "ALTER TABLE revenue_tariff ADD COLUMN text_id INTEGER;"},
};

cx_err rev_migrate(store *s, char *err, size_t errlen)
{
    return store_migrate(s, "revenue", rev_migrations,
                         sizeof rev_migrations / sizeof rev_migrations[0], err, errlen);
}

/* ---- meta: generation and national currency ----------------------------------------- */
static cx_err rstore__meta(store_conn *c, const char *key, char *out, size_t cap)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT value FROM revenue_meta WHERE key=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (e == CX_OK)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return e;
}

static cx_err rstore__exec1(store_conn *w, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st = store_stmt(w, sql);
    if (!st)
        return CX_EDB;
    if (a)
        sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static atomic_int_fast64_t rstore__bumps;

int64_t rev__generation_bumps(void)
{
    return atomic_load(&rstore__bumps);
}

cx_err rev__generation(store_conn *c, int64_t *out)
{
    char v[32];
    cx_err e = rstore__meta(c, "generation", v, sizeof v);
    if (e == CX_OK && !cx_parse_i64(v, out))
        e = CX_EDB;
    return e;
}

static cx_err rstore__bump(store_conn *w)
{
    return rstore__exec1(w, "UPDATE revenue_meta SET value = CAST(value AS INTEGER) + 1 "
                            "WHERE key='generation'",
                         NULL, NULL);
}

cx_err rev_currency_get(store *s, char out[4])
{
    out[0] = '\0';
    store_conn *c = store_reader(s);
    if (!c)
        return CX_EDB;
    cx_err e = rstore__meta(c, "currency", out, 4);
    return e == CX_ENOTFOUND ? CX_OK : e;
}

typedef struct {
    const char *currency;
    char *have;
} currency_job;

static cx_err rstore__currency_set(store_conn *w, void *arg)
{
    currency_job *j = arg;
    cx_err e = rstore__meta(w, "currency", j->have, 4);
    if (e == CX_OK)
        return strcmp(j->have, j->currency) == 0 ? CX_OK : CX_EEXIST;
    if (e != CX_ENOTFOUND)
        return e;
    e = rstore__exec1(w, "INSERT INTO revenue_meta VALUES('currency', ?1)", j->currency, NULL);
    return e == CX_OK ? rstore__bump(w) : e;
}

cx_err rev_currency_set(store *s, const char *currency, char have[4])
{
    have[0] = '\0';
    if (!currency || strlen(currency) != 3 || rev_minor_unit(currency) < 0)
        return CX_EINVAL;
    currency_job j = {currency, have};
    cx_err e = store_write(s, rstore__currency_set, &j);
    if (e == CX_OK) /* committed: lodgings in this process read the generation again */
        atomic_fetch_add(&rstore__bumps, 1);
    return e;
}

/* ---- imports ------------------------------------------------------------------------------ */
typedef struct {
    const rev_rows *rows;
    const char *file;
    rev_import_result *res;
    json_t *problems;
    size_t nproblems;
    cx_err listed; /* CX_ENOMEM: a problem would not go in the list */
    int64_t import_id;
} import_job;

static void rstore__problem(import_job *j, size_t i, const char *fmt, ...) CX_PRINTF(3, 4);

static void rstore__problem(import_job *j, size_t i, const char *fmt, ...)
{
    j->nproblems++;
    if (!j->problems || json_array_size(j->problems) >= 1000)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cx_json_push(j->problems,
                 json_pack("{s:I,s:s}", "line", (json_int_t)j->rows->lines[i], "message", msg),
                 &j->listed);
}

static void rstore__dec_text(const rev_dec *d, bool has, char out[32])
{
    if (has)
        rev_dec_format(*d, out);
    else
        out[0] = '\0';
}

/* The day before a date (YYYY-MM-DD). */
static void rstore__day_before(const char *date, char out[REV_DATE_LEN + 1])
{
    int y, m, d;
    cx_date_parse(date, &y, &m, &d);
    cx_civil_from_days(cx_days_from_civil(y, m, d) - 1, &y, &m, &d);
    snprintf(out, REV_DATE_LEN + 1, "%04d-%02d-%02d", y, m, d);
}

/* Versioning shared by tariff lines and preferences: key is hs_code (and
 * origin). Stored versions of the key are checked against [from, to]:
 * same start → replaced (*replace_id); an open-ended one starting earlier →
 * ended the day before; any other overlap → a problem. */
static cx_err rstore__versions(import_job *j, store_conn *w, size_t i, sqlite3_stmt *st,
                               const char *from, const char *to, int64_t *replace_id)
{
    *replace_id = 0;
    int rc;
    int64_t close_id = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *sf = (const char *)sqlite3_column_text(st, 1);
        const char *stt = (const char *)sqlite3_column_text(st, 2);
        const char *s_to = stt ? stt : "";
        if (strcmp(sf, from) == 0) {
            *replace_id = id;
            continue;
        }
        bool overlap = (!to[0] || strcmp(sf, to) <= 0) && (!s_to[0] || strcmp(from, s_to) <= 0);
        if (!overlap)
            continue;
        if (!s_to[0] && strcmp(sf, from) < 0 && !close_id) {
            close_id = id;
            continue;
        }
        rstore__problem(j, i, "validity %s to %s overlaps the stored version valid from %s to "
                              "%s",
                        from, to[0] ? to : "open", sf, s_to[0] ? s_to : "open");
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    if (close_id && j->nproblems == 0) {
        char end[REV_DATE_LEN + 1];
        rstore__day_before(from, end);
        sqlite3_stmt *u = store_stmt(w, j->rows->kind == REV_IMPORT_TARIFF
                                            ? "UPDATE revenue_tariff SET valid_to=?2, "
                                              "text_id=NULL WHERE id=?1"
                                            : "UPDATE revenue_preferences SET valid_to=?2 "
                                              "WHERE id=?1");
        if (!u)
            return CX_EDB;
        sqlite3_bind_int64(u, 1, close_id);
        sqlite3_bind_text(u, 2, end, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(u);
        sqlite3_reset(u);
        if (rc != SQLITE_DONE)
            return CX_EDB;
        j->res->closed++;
    }
    return CX_OK;
}

/* Runs a row's bound INSERT and counts it as new or replacing. */
static cx_err rstore__row_done(import_job *j, sqlite3_stmt *st, int64_t replace)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (replace)
        j->res->replaced++;
    else
        j->res->inserted++;
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static cx_err rstore__tariff_row(import_job *j, store_conn *w, size_t i)
{
    const rev_tariff_line *l = &j->rows->u.tariff[i];
    sqlite3_stmt *st = store_stmt(w, "SELECT id, valid_from, valid_to FROM revenue_tariff "
                                     "WHERE hs_code=?1 ORDER BY valid_from");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, l->hs_code, -1, SQLITE_STATIC);
    int64_t replace;
    cx_err e = rstore__versions(j, w, i, st, l->valid_from, l->valid_to, &replace);
    if (e != CX_OK || j->nproblems)
        return e;
    char adv[32], amt[32], ex[32], vat[32];
    rstore__dec_text(&l->ad_valorem_pct, l->has_ad_valorem, adv);
    rstore__dec_text(&l->specific_amount, l->has_specific, amt);
    rstore__dec_text(&l->excise_pct, true, ex);
    rstore__dec_text(&l->vat_pct, true, vat);
    st = store_stmt(w, "INSERT OR REPLACE INTO revenue_tariff(hs_code, valid_from, valid_to, "
                       "duty_type, ad_valorem_pct, specific_amount, specific_unit, excise_pct, "
                       "vat_pct, description, import_id) "
                       "VALUES(?1,?2,NULLIF(?3,''),?4,NULLIF(?5,''),NULLIF(?6,''),NULLIF(?7,''),"
                       "?8,?9,?10,?11)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, l->hs_code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, l->valid_from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, l->valid_to, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, rev_duty_type_name(l->duty_type), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, adv, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, amt, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, l->specific_unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, ex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, vat, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 10, l->description, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, j->import_id);
    return rstore__row_done(j, st, replace);
}

static cx_err rstore__pref_row(import_job *j, store_conn *w, size_t i)
{
    const rev_preference *p = &j->rows->u.prefs[i];
    if (!(strlen(p->origin) == 2 && decl_country_valid(p->origin))) {
        sqlite3_stmt *g = store_stmt(w, "SELECT 1 FROM revenue_groups WHERE grp=?1 LIMIT 1");
        if (!g)
            return CX_EDB;
        sqlite3_bind_text(g, 1, p->origin, -1, SQLITE_STATIC);
        int rc = sqlite3_step(g);
        sqlite3_reset(g);
        if (rc == SQLITE_DONE)
            rstore__problem(j, i, "origin %s is neither a country nor a known group (import "
                                  "groups first: customs tariff groups)",
                            p->origin);
        else if (rc != SQLITE_ROW)
            return CX_EDB;
    }
    sqlite3_stmt *st = store_stmt(w, "SELECT id, valid_from, valid_to FROM revenue_preferences "
                                     "WHERE hs_code=?1 AND origin=?2 ORDER BY valid_from");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, p->hs_code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->origin, -1, SQLITE_STATIC);
    int64_t replace;
    cx_err e = rstore__versions(j, w, i, st, p->valid_from, p->valid_to, &replace);
    if (e != CX_OK || j->nproblems)
        return e;
    char pct[32];
    rev_dec_format(p->ad_valorem_pct, pct);
    st = store_stmt(w, "INSERT OR REPLACE INTO revenue_preferences(hs_code, origin, "
                       "ad_valorem_pct, requires_certificate, valid_from, valid_to, import_id) "
                       "VALUES(?1,?2,?3,?4,?5,NULLIF(?6,''),?7)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, p->hs_code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, pct, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, p->requires_certificate);
    sqlite3_bind_text(st, 5, p->valid_from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, p->valid_to, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, j->import_id);
    return rstore__row_done(j, st, replace);
}

static cx_err rstore__group_rows(import_job *j, store_conn *w)
{
    const rev_rows *r = j->rows;
    /* each group named in the file is replaced by the file's members */
    for (size_t i = 0; i < r->n; i++) {
        bool first = true;
        for (size_t k = 0; k < i && first; k++)
            first = strcmp(r->u.groups[k].group, r->u.groups[i].group) != 0;
        if (!first)
            continue;
        sqlite3_stmt *st = store_stmt(w, "DELETE FROM revenue_groups WHERE grp=?1");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, r->u.groups[i].group, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return CX_EDB;
        j->res->replaced += (uint64_t)sqlite3_changes(store_conn_db(w));
    }
    for (size_t i = 0; i < r->n; i++) {
        sqlite3_stmt *st = store_stmt(w, "INSERT INTO revenue_groups(grp, country, import_id) "
                                         "VALUES(?1, ?2, ?3)");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, r->u.groups[i].group, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->u.groups[i].country, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, j->import_id);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return CX_EDB;
        j->res->inserted++;
    }
    return CX_OK;
}

static cx_err rstore__rate_row(import_job *j, store_conn *w, size_t i)
{
    const rev_rate *r = &j->rows->u.rates[i];
    char rate[32];
    rev_dec_format(r->rate, rate);
    sqlite3_stmt *st = store_stmt(w, "SELECT 1 FROM revenue_rates WHERE currency=?1 AND date=?2");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, r->currency, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->date, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        j->res->replaced++;
    else
        j->res->inserted++;
    st = store_stmt(w, "INSERT OR REPLACE INTO revenue_rates(currency, date, rate, import_id) "
                       "VALUES(?1, ?2, ?3, ?4)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, r->currency, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->date, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rate, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, j->import_id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

/* Rows in key and validity order, so that versions close in turn. */
static int rstore__order(const void *a, const void *b, void *ctx)
{
    const rev_rows *r = ctx;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = 0;
    if (r->kind == REV_IMPORT_TARIFF) {
        c = strcmp(r->u.tariff[x].hs_code, r->u.tariff[y].hs_code);
        if (!c)
            c = strcmp(r->u.tariff[x].valid_from, r->u.tariff[y].valid_from);
    } else if (r->kind == REV_IMPORT_PREFERENCES) {
        c = strcmp(r->u.prefs[x].hs_code, r->u.prefs[y].hs_code);
        if (!c)
            c = strcmp(r->u.prefs[x].origin, r->u.prefs[y].origin);
        if (!c)
            c = strcmp(r->u.prefs[x].valid_from, r->u.prefs[y].valid_from);
    }
    return c ? c : (x > y) - (x < y);
}

static cx_err rstore__import(store_conn *w, void *arg)
{
    import_job *j = arg;
    const rev_rows *r = j->rows;
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO revenue_imports(kind, file, rows, inserted, "
                                     "replaced, closed, imported_at) VALUES(?1,?2,?3,0,0,0,?4)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, rev_import_kind_name(r->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->file, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)r->n);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    j->import_id = sqlite3_last_insert_rowid(store_conn_db(w));
    size_t *idx = malloc((r->n ? r->n : 1) * sizeof *idx);
    if (!idx)
        return CX_ENOMEM;
    for (size_t i = 0; i < r->n; i++)
        idx[i] = i;
    qsort_r(idx, r->n, sizeof *idx, rstore__order, (void *)r);
    cx_err e = CX_OK;
    if (r->kind == REV_IMPORT_GROUPS)
        e = rstore__group_rows(j, w);
    for (size_t k = 0; e == CX_OK && r->kind != REV_IMPORT_GROUPS && k < r->n; k++) {
        size_t i = idx[k];
        if (r->kind == REV_IMPORT_TARIFF)
            e = rstore__tariff_row(j, w, i);
        else if (r->kind == REV_IMPORT_PREFERENCES)
            e = rstore__pref_row(j, w, i);
        else
            e = rstore__rate_row(j, w, i);
    }
    free(idx);
    if (e == CX_OK && j->nproblems) /* all or nothing: the savepoint rolls back */
        return j->listed != CX_OK ? j->listed : CX_EINVAL; /* not a short list */
    if (e == CX_OK) {
        st = store_stmt(w, "UPDATE revenue_imports SET inserted=?2, replaced=?3, closed=?4 "
                           "WHERE id=?1");
        if (!st)
            return CX_EDB;
        sqlite3_bind_int64(st, 1, j->import_id);
        sqlite3_bind_int64(st, 2, (int64_t)j->res->inserted);
        sqlite3_bind_int64(st, 3, (int64_t)j->res->replaced);
        sqlite3_bind_int64(st, 4, (int64_t)j->res->closed);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        e = rc == SQLITE_DONE ? rstore__bump(w) : CX_EDB;
    }
    /* the texts of the versions this import made or changed, in its job:
     * a book that loads the rows has their texts committed with them */
    if (e == CX_OK && r->kind == REV_IMPORT_TARIFF)
        e = rev__line_texts_fill(w);
    return e;
}

cx_err rev_rows_store(store *s, const rev_rows *r, const char *file, rev_import_result *res,
                      json_t *problems)
{
    memset(res, 0, sizeof *res);
    res->rows = r->n;
    import_job j = {.rows = r, .file = file, .res = res, .problems = problems};
    cx_err e = store_write(s, rstore__import, &j);
    if (e == CX_OK)
        atomic_fetch_add(&rstore__bumps, 1);
    if (e != CX_OK) {
        uint64_t rows = res->rows;
        memset(res, 0, sizeof *res);
        res->rows = rows;
    }
    return e;
}

/* ---- loading the book --------------------------------------------------------------------- */
static bool rstore__col_dec(sqlite3_stmt *st, int col, rev_dec *out)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    return t && rev_dec_parse(t, strlen(t), out);
}

static void rstore__col_str(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    snprintf(out, cap, "%s", t ? t : "");
}

cx_err rev__tariff_row_line(sqlite3_stmt *st, rev_tariff_line *l)
{
    memset(l, 0, sizeof *l);
    rstore__col_str(st, 0, l->hs_code, sizeof l->hs_code);
    rstore__col_str(st, 1, l->valid_from, sizeof l->valid_from);
    rstore__col_str(st, 2, l->valid_to, sizeof l->valid_to);
    const char *type = (const char *)sqlite3_column_text(st, 3);
    for (int t = 0; t <= REV_DUTY_MIN_OF; t++)
        if (type && strcmp(type, rev_duty_type_name((rev_duty_type)t)) == 0)
            l->duty_type = (rev_duty_type)t;
    l->has_ad_valorem = rstore__col_dec(st, 4, &l->ad_valorem_pct);
    l->has_specific = rstore__col_dec(st, 5, &l->specific_amount);
    rstore__col_str(st, 6, l->specific_unit, sizeof l->specific_unit);
    if (!rstore__col_dec(st, 7, &l->excise_pct) || !rstore__col_dec(st, 8, &l->vat_pct))
        return CX_EDB;
    l->description = (char *)sqlite3_column_text(st, 9);
    return CX_OK;
}

static cx_err rstore__load_lines(store_conn *c, rev_book *b)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT hs_code, valid_from, valid_to, duty_type, "
                                     "ad_valorem_pct, specific_amount, specific_unit, "
                                     "excise_pct, vat_pct, description, text_id "
                                     "FROM revenue_tariff");
    if (!st)
        return CX_EDB;
    cx_err e = CX_OK; /* a step error is not the end: never a book missing lines */
    while (store_next(st, &e)) {
        rev_tariff_line l;
        e = rev__tariff_row_line(st, &l);
        l.text_id = sqlite3_column_int64(st, 10); /* NULL: 0, the line copied */
        if (e == CX_OK)
            e = rev_book_add_line(b, &l);
    }
    sqlite3_reset(st);
    return e;
}

static cx_err rstore__load_rest(store_conn *c, rev_book *b)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT hs_code, origin, ad_valorem_pct, "
                                     "requires_certificate, valid_from, valid_to "
                                     "FROM revenue_preferences");
    if (!st)
        return CX_EDB;
    cx_err e = CX_OK;
    while (store_next(st, &e)) {
        rev_preference p;
        memset(&p, 0, sizeof p);
        rstore__col_str(st, 0, p.hs_code, sizeof p.hs_code);
        rstore__col_str(st, 1, p.origin, sizeof p.origin);
        if (!rstore__col_dec(st, 2, &p.ad_valorem_pct))
            e = CX_EDB;
        p.requires_certificate = sqlite3_column_int(st, 3) != 0;
        rstore__col_str(st, 4, p.valid_from, sizeof p.valid_from);
        rstore__col_str(st, 5, p.valid_to, sizeof p.valid_to);
        if (e == CX_OK)
            e = rev_book_add_preference(b, &p);
    }
    sqlite3_reset(st);
    st = e == CX_OK ? store_stmt(c, "SELECT grp, country FROM revenue_groups") : NULL;
    while (st && store_next(st, &e)) {
        rev_group_member g;
        rstore__col_str(st, 0, g.group, sizeof g.group);
        rstore__col_str(st, 1, g.country, sizeof g.country);
        e = rev_book_add_group(b, &g);
    }
    if (st)
        sqlite3_reset(st);
    st = e == CX_OK ? store_stmt(c, "SELECT currency, date, rate FROM revenue_rates") : NULL;
    while (st && store_next(st, &e)) {
        rev_rate r;
        rstore__col_str(st, 0, r.currency, sizeof r.currency);
        rstore__col_str(st, 1, r.date, sizeof r.date);
        if (!rstore__col_dec(st, 2, &r.rate))
            e = CX_EDB;
        if (e == CX_OK)
            e = rev_book_add_rate(b, &r);
    }
    if (st)
        sqlite3_reset(st);
    return st || e != CX_OK ? e : CX_EDB;
}

cx_err rev_book_load(store *s, rev_book **out, char *err, size_t errlen)
{
    store_conn *c = store_reader(s);
    char currency[4] = "";
    cx_err e = c ? rstore__meta(c, "currency", currency, sizeof currency) : CX_EDB;
    if (e == CX_ENOTFOUND)
        e = CX_OK;
    rev_book *b = e == CX_OK ? rev_book_new(currency) : NULL;
    if (e == CX_OK && !b)
        e = CX_ENOMEM;
    /* one read transaction: the four tables as one import left them (the
     * caller may hold one already) */
    bool txn = e == CX_OK && sqlite3_get_autocommit(store_conn_db(c));
    if (txn)
        e = store_exec(c, "BEGIN");
    if (e == CX_OK) {
        e = rstore__load_lines(c, b);
        if (e == CX_OK)
            e = rstore__load_rest(c, b);
    }
    if (txn)
        store_exec(c, "COMMIT");
    if (e != CX_OK) {
        snprintf(err, errlen, "cannot load the tariff: %s", cx_strerror(e));
        rev_book_free(b);
        return e;
    }
    rev_book_finish(b);
    *out = b;
    return CX_OK;
}

/* ---- valuation statistics ------------------------------------------------------------------- */
void rev__uv_stats_of(const rev_hist *h, rev_uv_stats *out)
{
    out->n = rev_hist_n(h);
    out->p05 = rev_hist_quantile(h, 0.05);
    out->median = rev_hist_quantile(h, 0.5);
}

cx_err rev__uv_read(store_conn *c, const char *key, rev_uv_stats *out)
{
    *out = (rev_uv_stats){0};
    sqlite3_stmt *st = store_stmt(c, "SELECT hist FROM revenue_uv WHERE key=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    cx_err e = CX_OK;
    if (store_next(st, &e)) {
        rev_hist *h = rev_hist_new();
        if (!h)
            e = CX_ENOMEM;
        else if (!rev_hist_decode(h, sqlite3_column_blob(st, 0),
                                  (size_t)sqlite3_column_bytes(st, 0)))
            e = CX_EPARSE;
        else
            rev__uv_stats_of(h, out);
        rev_hist_free(h);
    }
    sqlite3_reset(st);
    return e;
}
