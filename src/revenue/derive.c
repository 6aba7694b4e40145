/* The lean assessment rows, derived from the declarations. At submission
 * the only durable revenue state is the assessment member declare keeps in
 * the declaration's row with its compact record (both made once, on the
 * submitting thread; the record is never shown). The row in
 * revenue_assessments (amounts, who, when, the unit values for the
 * statistics) and revenue_certificates are derived from it:
 *
 * - in batches by the service's worker, off the submission path: it reads
 *   the records after the `derived` cursor (revenue_meta) on a reader,
 *   makes the rows there, and writes a batch in one writer job that moves
 *   the cursor — a job that finds the cursor moved on does nothing;
 * - at once, inside its own writer job, by whatever needs the row before
 *   the worker got to it (a payment, a guarantee draw, the release gate, a
 *   re-assessment, the ledger, a read of the account): rev__row_ensure_in;
 * - all that is pending, by a certificate revocation (inside its job) and
 *   by the summary (rev_service_catch_up), so that their sums are exact.
 *
 * Rows are inserted OR IGNORE: one already made is never replaced (it may
 * carry payments or a later version). kill -9 loses nothing acknowledged:
 * the member is in the declaration's row, and the next start resumes from
 * the cursor. */
#include "revenue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DERIVE_BATCH 1000 /* declarations looked at per writer job */

static const char *der__str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* revenue_at_risk is not in the stored form (traders never read it): the
 * valuation control's findings carry each item's share. */
static int64_t der__at_risk(const json_t *a, int exp)
{
    if (json_object_get(a, "revenue_at_risk"))
        return rev__amount_of(a, "revenue_at_risk", exp);
    int64_t sum = 0;
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(a, "findings"), i, f)
    {
        if (strcmp(der__str(f, "rule"), "undervaluation") == 0)
            sum += rev__amount_of(f, "revenue_at_risk", exp);
    }
    return sum;
}

cx_err rev__row_certs(const json_t *assessment, rev_row_cert **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t i, cap = 0;
    const json_t *item;
    json_array_foreach(json_object_get(assessment, "items"), i, item)
    {
        const json_t *cert = json_object_get(json_object_get(item, "preference"), "certificate");
        const char *issuer = json_string_value(json_object_get(cert, "issuer"));
        const char *number = json_string_value(json_object_get(cert, "number"));
        if (!issuer || !number)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            rev_row_cert *v = realloc(*out, cap * sizeof *v);
            if (!v)
                return CX_ENOMEM;
            *out = v;
        }
        snprintf((*out)[*n].issuer, sizeof(*out)[*n].issuer, "%s", issuer);
        snprintf((*out)[*n].number, sizeof(*out)[*n].number, "%s", number);
        (*n)++;
    }
    return CX_OK;
}

cx_err rev__row_of(int64_t seq, const json_t *doc, const json_t *assessment, rev_row *out)
{
    memset(out, 0, sizeof *out);
    out->seq = seq;
    snprintf(out->currency, sizeof out->currency, "%s", der__str(assessment, "currency"));
    int exp = rev_minor_unit(out->currency);
    if (exp < 0)
        exp = 0;
    json_int_t v = json_integer_value(json_object_get(assessment, "version"));
    out->version = v > 0 ? v : 1;
    out->duty = rev__amount_of(assessment, "total_duty", exp);
    out->excise = rev__amount_of(assessment, "total_excise", exp);
    out->vat = rev__amount_of(assessment, "total_vat", exp);
    out->total = rev__amount_of(assessment, "total", exp);
    out->at_risk = der__at_risk(assessment, exp);
    out->problems = (int64_t)json_array_size(json_object_get(assessment, "problems"));
    snprintf(out->assessed_at, sizeof out->assessed_at, "%s",
             der__str(assessment, "assessed_at"));
    snprintf(out->decl_id, sizeof out->decl_id, "%s", der__str(doc, "id"));
    snprintf(out->org, sizeof out->org, "%s", der__str(doc, "org"));
    snprintf(out->office, sizeof out->office, "%s", der__str(doc, "office"));
    snprintf(out->date, sizeof out->date, "%s", der__str(doc, "date"));
    cx_buf obs;
    cx_buf_init(&obs, (size_t)1 << 20);
    cx_err e = rev__obs_text(doc, assessment, &obs);
    out->obs = e == CX_OK ? cx_buf_steal(&obs, NULL) : NULL;
    cx_buf_free(&obs);
    if (e == CX_OK && !out->obs)
        out->obs = strdup("");
    if (e == CX_OK && !out->obs)
        e = CX_ENOMEM;
    if (e == CX_OK)
        e = rev__row_certs(assessment, &out->certs, &out->ncerts);
    if (e != CX_OK)
        rev__row_free(out);
    return e;
}

void rev__row_free(rev_row *r)
{
    free(r->obs);
    free(r->certs);
    r->obs = NULL;
    r->certs = NULL;
    r->ncerts = 0;
}

cx_err rev__certs_insert(store_conn *w, int64_t seq, const rev_row_cert *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO revenue_certificates(issuer, "
                                         "number, seq) VALUES(?1, ?2, ?3)");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, c[i].issuer, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c[i].number, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, seq);
        cx_err e = store_done(st);
        if (e != CX_OK)
            return e;
    }
    return CX_OK;
}

cx_err rev__row_insert(store_conn *w, const rev_row *r, const char *reason, const char *by)
{
    sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO revenue_assessments(seq, decl_id, "
                                     "org, office, date, currency, version, duty, excise, vat, "
                                     "total, at_risk, problems, reason, by_org, assessed_at, "
                                     "obs, doc) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
                                     "?13,?14,?15,?16,?17,'')");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, r->seq);
    sqlite3_bind_text(st, 2, r->decl_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->office, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r->date, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, r->currency, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, r->version);
    sqlite3_bind_int64(st, 8, r->duty);
    sqlite3_bind_int64(st, 9, r->excise);
    sqlite3_bind_int64(st, 10, r->vat);
    sqlite3_bind_int64(st, 11, r->total);
    sqlite3_bind_int64(st, 12, r->at_risk);
    sqlite3_bind_int64(st, 13, r->problems);
    sqlite3_bind_text(st, 14, reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 15, by ? by : r->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, r->assessed_at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 17, r->obs ? r->obs : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    /* a row already there keeps its certificates (a re-assessment's) */
    if (!sqlite3_changes(store_conn_db(w)))
        return CX_OK;
    return rev__certs_insert(w, r->seq, r->certs, r->ncerts);
}

/* ---- the compact record ---------------------------------------------------------------------
 * Everything the row needs, made on the submitting thread (which has every
 * number in hand) and kept by declare in the declaration's row (the
 * member_record hook: no page of a table of its own per commit), so that
 * deriving parses ~0.3 KB instead of the declaration's and the member's texts: [version, duty, excise, vat, total, at_risk, problems,
 * currency, assessed_at, decl_id, org, office, date, obs, [[issuer,number]…]]
 * (obs: level-6 lines only since the line texts; older records have both). */
#define DER_REC_FMT "[IIIIIIIssssssso!]" /* json_unpack: strings and certs borrowed */

/* Written piece by piece (no tree to build and free on the submitting
 * thread); read back with jansson. */
/* Whether obs has a level-4 line. */
static bool der__has_level4(const char *obs)
{
    return strncmp(obs, "4:", 2) == 0 || strncmp(obs, "!4:", 3) == 0 ||
           strstr(obs, "\n4:") || strstr(obs, "\n!4:");
}

char *rev__record_text(const rev_row *r)
{
    /* on the submitting thread: integers written as %lld writes them, one
     * allocation for the usual record */
    cx_buf b;
    cx_buf_init(&b, (size_t)1 << 20);
    const char *obs = r->obs ? r->obs : "";
    size_t olen = strlen(obs);
    cx_err e = cx_buf_reserve(&b, 384 + olen + olen / 8 + r->ncerts * 160);
    int64_t v[7] = {r->version, r->duty, r->excise, r->vat, r->total, r->at_risk, r->problems};
    for (int i = 0; i < 7; i++) {
        e = e ? e : cx_buf_puts(&b, i ? "," : "[");
        e = e ? e : rev__json_int(&b, v[i]);
    }
    const char *s[] = {r->currency, r->assessed_at, r->decl_id, r->org, r->office, r->date};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
        e = e ? e : cx_buf_puts(&b, ",");
        e = e ? e : cx_buf_json_str(&b, s[i]);
    }
    /* the obs' level-6 lines only: each level-4 line repeats its level-6
     * line's value under the heading's key (der__obs_levels puts it back);
     * a submission's obs has none (aswrite.c writes level 6 only) */
    bool four = der__has_level4(obs);
    cx_buf o;
    cx_buf_init(&o, (size_t)1 << 20);
    for (const char *p = four ? obs : ""; e == CX_OK && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (strncmp(p + (*p == '!'), "4:", 2) != 0)
            e = cx_buf_append(&o, p, n);
        p += n;
    }
    e = e ? e : cx_buf_puts(&b, ",");
    e = e ? e : cx_buf_json_str(&b, !four ? obs : o.len ? o.data : "");
    cx_buf_free(&o);
    e = e ? e : cx_buf_puts(&b, ",[");
    for (size_t i = 0; i < r->ncerts; i++) {
        e = e ? e : cx_buf_puts(&b, i ? ",[" : "[");
        e = e ? e : cx_buf_json_str(&b, r->certs[i].issuer);
        e = e ? e : cx_buf_puts(&b, ",");
        e = e ? e : cx_buf_json_str(&b, r->certs[i].number);
        e = e ? e : cx_buf_puts(&b, "]");
    }
    e = e ? e : cx_buf_puts(&b, "]]");
    char *t = e == CX_OK ? cx_buf_steal(&b, NULL) : NULL;
    cx_buf_free(&b);
    return t;
}

/* The obs of a record as the row keeps them: each level-6 line followed by
 * its level-4 line (the same value under the heading's key), as
 * rev__obs_text writes them. A record made before records kept level 6
 * only has its level-4 lines already and is copied. CX_EPARSE: a last
 * line without its newline (every line a record is made with has one). */
static cx_err der__obs_levels(const char *obs, char **out)
{
    size_t len = strlen(obs);
    *out = NULL;
    if (len && obs[len - 1] != '\n')
        return CX_EPARSE;
    if (der__has_level4(obs))
        return (*out = strdup(obs)) ? CX_OK : CX_ENOMEM;
    cx_buf b;
    cx_buf_init(&b, (size_t)1 << 20);
    cx_err e = CX_OK;
    for (const char *p = obs; e == CX_OK && *p;) {
        size_t n = (size_t)(strchr(p, '\n') - p) + 1;
        e = cx_buf_append(&b, p, n);
        /* "[!]6:HS6:ORIGIN:BASIS VALUE\n" -> "[!]4:HS4:ORIGIN:BASIS VALUE\n" */
        const char *k = p + (*p == '!');
        const char *hs = strncmp(k, "6:", 2) == 0 ? k + 2 : NULL;
        const char *rest = hs ? memchr(hs, ':', (size_t)(p + n - hs)) : NULL;
        if (e == CX_OK && rest) {
            size_t h = (size_t)(rest - hs) < 4 ? (size_t)(rest - hs) : 4;
            e = cx_buf_append(&b, p, (size_t)(k - p));
            e = e ? e : cx_buf_puts(&b, "4:");
            e = e ? e : cx_buf_append(&b, hs, h);
            e = e ? e : cx_buf_append(&b, rest, (size_t)(p + n - rest));
        }
        p += n;
    }
    *out = e == CX_OK ? cx_buf_steal(&b, NULL) : NULL;
    cx_buf_free(&b);
    if (e == CX_OK && !*out && !(*out = strdup("")))
        e = CX_ENOMEM;
    return e;
}

static cx_err der__row_of_record(int64_t seq, const char *rec, size_t len, rev_row *out)
{
    memset(out, 0, sizeof *out);
    out->seq = seq;
    json_t *a = json_loadb(rec, len, 0, NULL), *certs = NULL;
    json_int_t n[7];
    const char *s[7];
    cx_err e = a && json_unpack(a, DER_REC_FMT, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5],
                                &n[6], &s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6],
                                &certs) == 0 && json_is_array(certs)
                   ? CX_OK
                   : CX_EPARSE;
    if (e == CX_OK) {
        out->version = n[0];
        out->duty = n[1];
        out->excise = n[2];
        out->vat = n[3];
        out->total = n[4];
        out->at_risk = n[5];
        out->problems = n[6];
        snprintf(out->currency, sizeof out->currency, "%s", s[0]);
        snprintf(out->assessed_at, sizeof out->assessed_at, "%s", s[1]);
        snprintf(out->decl_id, sizeof out->decl_id, "%s", s[2]);
        snprintf(out->org, sizeof out->org, "%s", s[3]);
        snprintf(out->office, sizeof out->office, "%s", s[4]);
        snprintf(out->date, sizeof out->date, "%s", s[5]);
        e = der__obs_levels(s[6], &out->obs);
        out->ncerts = json_array_size(certs);
        out->certs = out->ncerts ? calloc(out->ncerts, sizeof *out->certs) : NULL;
        if (e == CX_OK && out->ncerts && !out->certs)
            e = CX_ENOMEM;
    }
    for (size_t i = 0; e == CX_OK && i < out->ncerts; i++) {
        const char *issuer, *number;
        if (json_unpack(json_array_get(certs, i), "[ss!]", &issuer, &number) != 0) {
            e = CX_EPARSE;
            break;
        }
        snprintf(out->certs[i].issuer, sizeof out->certs[i].issuer, "%s", issuer);
        snprintf(out->certs[i].number, sizeof out->certs[i].number, "%s", number);
    }
    json_decref(a);
    if (e != CX_OK)
        rev__row_free(out);
    return e;
}

cx_err rev_record_normal(const char *rec, size_t len, char **out)
{
    *out = NULL;
    rev_row r;
    cx_err e = der__row_of_record(0, rec, len, &r);
    if (e != CX_OK)
        return e;
    *out = rev__record_text(&r);
    rev__row_free(&r);
    return *out ? CX_OK : CX_ENOMEM;
}

/* ---- reading rows to derive -------------------------------------------------------------------- */
typedef struct {
    rev_row *v;
    size_t n, cap;
    cx_err e;
} row_list;

static void der__list_free(row_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        rev__row_free(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Adds the row of one declaration, made by of() from its record or texts;
 * one that does not parse is logged and passed over (nothing to derive). */
static bool der__add(row_list *l, int64_t seq, cx_err e)
{
    if (e == CX_OK)
        l->n++;
    else if (e == CX_EPARSE)
        cx_log(CX_LOG_WARN, "revenue: the assessment of declaration %lld cannot be read",
               (long long)seq);
    else
        l->e = e;
    return l->e == CX_OK;
}

static rev_row *der__slot(row_list *l)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        rev_row *v = realloc(l->v, nc * sizeof *v);
        if (!v) {
            l->e = CX_ENOMEM;
            return NULL;
        }
        l->v = v;
        l->cap = nc;
    }
    return &l->v[l->n];
}

/* One declaration's row: from its record, or — lodged by a version without
 * records (the upgrade path) — from its stored texts. */
static bool der__one(void *ctx, int64_t seq, const char *doc, size_t len, const char *member,
                     const char *record)
{
    row_list *l = ctx;
    rev_row *r = der__slot(l);
    if (!r)
        return false;
    if (record)
        return der__add(l, seq, der__row_of_record(seq, record, strlen(record), r));
    /* a compact member without its record (the record lost): its full
     * form, line references as ids as in the full forms stored with them */
    cx_buf wide;
    cx_buf_init(&wide, (size_t)64 << 20);
    cx_err e = rev__line_expand(NULL, NULL, member, strlen(member), &wide);
    json_t *d = json_loadb(doc, len, 0, NULL);
    json_t *a = e == CX_OK ? json_loadb(wide.data, wide.len, 0, NULL) : NULL;
    cx_buf_free(&wide);
    e = e ? e : d && a ? rev__row_of(seq, d, a, r) : CX_EPARSE;
    json_decref(d);
    json_decref(a);
    return der__add(l, seq, e);
}

static cx_err der__meta(store_conn *c, const char *key, int64_t *out)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT CAST(value AS INTEGER) FROM revenue_meta "
                                     "WHERE key=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
}

/* The rows of the declarations after `from`, at most `limit` looked at, read
 * on c into l; *to: the last seq looked at (from when none), *full: limit
 * reached. */
static cx_err der__read(store_conn *c, int64_t from, int limit, int64_t *to, bool *full,
                        row_list *l)
{
    /* no expansion (NULL): the member comes only with rows without a
     * record — lodged before records, or moved from revenue's old rows —
     * and those keep their tariff lines in full (der__one expands a
     * compact one, should a record have gone) */
    cx_err e = decl_kept_after(NULL, c, "assessment", from, limit, to, der__one, l);
    *full = *to - from >= limit;
    return e == CX_OK ? l->e : e;
}

/* ---- writing them ------------------------------------------------------------------------------ */
static cx_err der__cursor_set(store_conn *w, int64_t to)
{
    sqlite3_stmt *st = store_stmt(w, "UPDATE revenue_meta SET value=?1 WHERE key='derived'");
    if (!st)
        return CX_EDB;
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)to);
    sqlite3_bind_text(st, 1, v, -1, SQLITE_TRANSIENT);
    return store_done(st);
}

static cx_err der__insert_all(store_conn *w, const row_list *l)
{
    cx_err e = CX_OK;
    for (size_t i = 0; e == CX_OK && i < l->n; i++)
        e = rev__row_insert(w, &l->v[i], "lodged", NULL);
    return e;
}

/* ---- one declaration, now ------------------------------------------------------------------ */
cx_err rev__row_ensure_in(store_conn *w, int64_t seq)
{
    sqlite3_stmt *st = store_stmt(w, "SELECT 1 FROM revenue_assessments WHERE seq=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return CX_OK;
    if (rc != SQLITE_DONE)
        return CX_EDB;
    row_list l = {0};
    int64_t to;
    bool full;
    cx_err e = der__read(w, seq - 1, 1, &to, &full, &l);
    if (e == CX_OK && (l.n != 1 || l.v[0].seq != seq))
        e = CX_ENOTFOUND; /* not assessed (lodged while the module was off, or history) */
    if (e == CX_OK)
        e = rev__row_insert(w, &l.v[0], "lodged", NULL);
    der__list_free(&l);
    return e;
}

static cx_err der__ensure_job(store_conn *w, void *arg)
{
    return rev__row_ensure_in(w, *(const int64_t *)arg);
}

cx_err rev__row_ensure(store *s, int64_t seq)
{
    return store_write(s, der__ensure_job, &seq);
}

/* ---- batches ----------------------------------------------------------------------------------- */
typedef struct {
    int64_t from, to;
    row_list rows;
    bool stale; /* the cursor had moved on: nothing written */
} batch_job;

static cx_err der__batch_job(store_conn *w, void *arg)
{
    batch_job *j = arg;
    int64_t at;
    cx_err e = der__meta(w, "derived", &at);
    if (e != CX_OK)
        return e;
    if ((j->stale = at != j->from))
        return CX_OK;
    e = der__insert_all(w, &j->rows);
    return e == CX_OK ? der__cursor_set(w, j->to) : e;
}

/* One batch: read and made on this thread, written in one job. *more: the
 * batch was full (more may follow). */
static cx_err der__batch(store *s, bool *more)
{
    *more = false;
    store_conn *c = store_reader(s);
    if (!c)
        return CX_EDB;
    batch_job j = {0};
    bool full = false;
    cx_err e = store_exec(c, "BEGIN"); /* the cursor and the records in one snapshot */
    if (e == CX_OK) {
        e = der__meta(c, "derived", &j.from);
        if (e == CX_OK)
            e = der__read(c, j.from, DERIVE_BATCH, &j.to, &full, &j.rows);
        store_exec(c, "COMMIT");
    }
    if (e == CX_OK && j.to > j.from)
        e = store_write(s, der__batch_job, &j);
    *more = e == CX_OK && (j.stale || full);
    der__list_free(&j.rows);
    return e;
}

cx_err rev__derive_now(store *s, bool *more)
{
    bool again = true;
    cx_err e = CX_OK;
    /* bounded: a worker that falls far behind catches up over several calls */
    for (int k = 0; e == CX_OK && again && k < 64; k++)
        e = der__batch(s, &again);
    if (more)
        *more = again;
    return e;
}

cx_err rev__derive_in(store_conn *w)
{
    int64_t from, to;
    bool full;
    cx_err e = der__meta(w, "derived", &from);
    while (e == CX_OK) {
        row_list l = {0};
        e = der__read(w, from, DERIVE_BATCH, &to, &full, &l);
        if (e == CX_OK)
            e = der__insert_all(w, &l);
        der__list_free(&l);
        if (e != CX_OK || to == from)
            break;
        from = to;
    }
    return e == CX_OK ? der__cursor_set(w, from) : e;
}

/* The cursor starts after every declaration stored before the module
 * derived rows: those have their rows already, or no assessment. */
static cx_err der__init_job(store_conn *w, void *arg)
{
    (void)arg;
    sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO revenue_meta(key, value) "
                                     "SELECT 'derived', coalesce(max(seq), 0) FROM " DECL_VIEW);
    return st ? store_done(st) : CX_EDB;
}

cx_err rev__derive_init(store *s)
{
    return store_write(s, der__init_job, NULL);
}
